/*
 * resolver/sm_proto.c - Postfix socketmap request parsing and reply encoding (no I/O)
 *
 * Interface: sm_request_parse(), sm_reply_prepare(), sm_reply_write(), sm_reply_encode(),
 *            sm_status_name()
 * Threads:   any (no state).    Ownership: see sm_proto.h.
 * Errors:    a bad key is not an error of the protocol: it gets NOTFOUND (RFC 8461
 *            section 3.4, docs/rfc-notes.md section 8); only a payload without "<name> <key>" form
 *            is refused (PERM).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mtasts_limits.h"
#include "log.h"
#include "netstring.h"
#include "sm_proto.h"
#include "xalloc.h"

const char *
sm_status_name(enum sm_status st)
{
	switch (st) {
	case SM_OK:
		return "OK";
	case SM_NOTFOUND:
		return "NOTFOUND";
	case SM_TEMP:
		return "TEMP";
	case SM_TIMEOUT:
		return "TIMEOUT";
	case SM_PERM:
		return "PERM";
	}
	return "PERM";
}

int
sm_request_parse(const struct cfg_resolver *cfg, const char *payload, size_t len,
                 struct sm_request *req)
{
	const char *sp;
	size_t namelen, keylen;
	int r;

	memset(req, 0, sizeof(*req));
	sp = memchr(payload, ' ', len);
	if (sp == NULL)
		return -EINVAL;
	namelen = (size_t)(sp - payload);
	keylen = len - namelen - 1;
	req->zone = cfg_zone_find(cfg, payload, namelen);
	if (keylen == 0) {
		req->key_err = ERR_DOMAIN_EMPTY;
		return req->key_err;
	}
	if (memchr(sp + 1, '\0', keylen) != NULL) {
		req->key_err = ERR_DOMAIN_CHAR;
		return req->key_err;
	}
	r = domain_nexthop_parse(sp + 1, keylen, req->domain, &req->nexthop);
	if (r < 0) {
		req->domain[0] = '\0';
		req->key_err = r < ERR_BASE ? r : ERR_DOMAIN_CHAR;
		return req->key_err;
	}
	return 0;
}

/* Replace the bytes of s[0..len) outside 0x20..0x7e by '?', eight at a time: a word of
 * printable bytes (the rule for every byte of a reply that comes from a policy) is left as it
 * is after two tests (bit tricks of "Bit Twiddling Hacks", hasless/hasmore: exact for
 * whether any byte of the word is < 0x20, or > 0x7e). */
static void
sm_reply_ascii(char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0, j;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, sizeof(w));
		if ((((w - ones * 0x20) & ~w) | ((w + ones) | w)) & highs) {
			for (j = i; j < i + 8; j++) {
				unsigned char c = (unsigned char)s[j];

				if (c < 0x20 || c > 0x7e)
					s[j] = '?';
			}
		}
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			s[i] = '?';
	}
}

void
sm_reply_prepare(enum sm_status st, const char *data, struct sm_reply *r)
{
	size_t dlen = data != NULL ? strlen(data) : 0;

	if (strlen(sm_status_name(st)) + 1 + dlen > SOCKETMAP_REPLY_MAX) {
		st = SM_TEMP;
		data = "reply too long";
		dlen = strlen(data);
	}
	r->st = st;
	r->data = data;
	r->dlen = dlen;
	r->plen = strlen(sm_status_name(st)) + 1 + dlen;
	r->len = netstring_encoded_len(r->plen);
}

size_t
sm_reply_write(const struct sm_reply *r, char *out, size_t outsz)
{
	const char *word = sm_status_name(r->st);
	size_t wlen = strlen(word), n;

	if (outsz < r->len || r->plen != wlen + 1 + r->dlen)
		return 0;
	n = netstring_encode_header(out, outsz, r->plen);
	if (n == 0 || n + r->plen + 1 != r->len)
		return 0;
	memcpy(out + n, word, wlen);
	n += wlen;
	out[n++] = ' ';
	if (r->dlen > 0) { /* data may be NULL (no data) */
		memcpy(out + n, r->data, r->dlen);
		sm_reply_ascii(out + n, r->dlen);
	}
	n += r->dlen;
	out[n++] = ',';
	return n;
}

char *
sm_reply_encode(enum sm_status st, const char *data, size_t *ret_len, enum sm_status *ret_status)
{
	struct sm_reply r;
	char *out;

	sm_reply_prepare(st, data, &r);
	out = xmalloc(r.len + 1);
	if (sm_reply_write(&r, out, r.len) != r.len)
		die("sm_reply_encode: cannot encode a reply of %zu bytes", r.plen);
	out[r.len] = '\0';
	*ret_len = r.len;
	if (ret_status != NULL)
		*ret_status = r.st;
	return out;
}
