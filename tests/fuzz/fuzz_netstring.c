/*
 * tests/fuzz/fuzz_netstring.c - libFuzzer target for the incremental netstring decoder
 *
 * Input:      byte 0 picks the decoder limit (odd: SOCKETMAP_QUERY_MAX, even: byte/2, so
 *             small limits and ERR_NETSTRING_TOO_LONG are reached); bytes 1-2 seed the
 *             chunk splitter; the rest is the stream a socketmap client would send.
 * Invariants: the stream decoded in one feed and in random chunks gives the same
 *             payloads and the same final error (chunking must not matter); every payload
 *             is <= the limit and NUL-terminated; ret_used never exceeds the chunk; each
 *             payload re-encodes with netstring_encode() and decodes back to itself.
 */
#include <errno.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "mtasts_limits.h"
#include "netstring.h"

/* Records of one decoding run: a running hash of the payloads, their count, the end. */
struct ns_run {
	uint64_t hash;
	unsigned n;
	int end;        /* 0: input exhausted mid-netstring or cleanly, < 0: error code */
	size_t pending; /* bytes of the input not consumed when the run ended */
};

static uint64_t
hash_bytes(uint64_t h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull; /* FNV-1a */
	return (h ^ n) * 1099511628211ull;
}

static void
check_roundtrip(const struct netstring_dec *d)
{
	struct netstring_dec d2;
	size_t need = netstring_encoded_len(d->len), used = 0;
	char *enc = malloc(need + 1);
	long n;
	int r;

	FUZZ_CHECK(enc != NULL);
	FUZZ_CHECK(netstring_encode(enc, need - 1, d->buf, d->len) == -ENOSPC);
	n = netstring_encode(enc, need + 1, d->buf, d->len);
	FUZZ_CHECK(n == (long)need);
	FUZZ_CHECK(enc[need] == '\0');
	netstring_dec_init(&d2, d->len);
	r = netstring_dec_feed(&d2, enc, need, &used);
	FUZZ_CHECK(r == 1);
	FUZZ_CHECK(used == need);
	FUZZ_CHECK(d2.len == d->len);
	FUZZ_CHECK(memcmp(d2.buf, d->buf, d->len) == 0);
	netstring_dec_free(&d2);
	free(enc);
}

/* Decode in[0..len) with chunk sizes from a xorshift generator (seed 0: one feed). */
static void
decode(const char *in, size_t len, size_t max, uint32_t seed, struct ns_run *run)
{
	struct netstring_dec d;
	size_t off = 0;
	uint32_t x = seed;

	memset(run, 0, sizeof(*run));
	run->hash = 14695981039346656037ull;
	netstring_dec_init(&d, max);
	while (off < len) {
		size_t chunk = len - off, used = 0;
		int r;

		if (seed != 0) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			chunk = 1 + x % 8;
			if (x % 5 == 0)
				chunk = 0; /* empty feeds are legal and must change nothing */
			if (chunk > len - off)
				chunk = len - off;
		}
		r = netstring_dec_feed(&d, in + off, chunk, &used);
		FUZZ_CHECK(used <= chunk);
		off += used;
		if (r < 0) {
			FUZZ_CHECK(r == ERR_NETSTRING_FORMAT || r == ERR_NETSTRING_TOO_LONG);
			/* a dead stream stays dead */
			FUZZ_CHECK(netstring_dec_feed(&d, in + off, len - off, &used) == r);
			FUZZ_CHECK(used == 0);
			run->end = r;
			break;
		}
		if (r == 1) {
			FUZZ_CHECK(d.len <= max);
			FUZZ_CHECK(d.buf != NULL);
			FUZZ_CHECK(d.buf[d.len] == '\0');
			run->hash = hash_bytes(run->hash, d.buf, d.len);
			run->n++;
			check_roundtrip(&d);
			netstring_dec_reset(&d);
			continue;
		}
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(used == chunk); /* "need more" must have eaten the whole chunk */
	}
	run->pending = len - off;
	netstring_dec_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_run whole, split;
	size_t max;
	uint32_t seed;

	if (size < 3)
		return 0;
	max = (data[0] & 1) ? SOCKETMAP_QUERY_MAX : (size_t)(data[0] >> 1);
	seed = ((uint32_t)data[1] << 8 | data[2]) + 1;
	decode((const char *)data + 3, size - 3, max, 0, &whole);
	decode((const char *)data + 3, size - 3, max, seed, &split);
	FUZZ_CHECK(whole.n == split.n);
	FUZZ_CHECK(whole.hash == split.hash);
	FUZZ_CHECK(whole.end == split.end);
	FUZZ_CHECK(whole.pending == split.pending);
	return 0;
}
