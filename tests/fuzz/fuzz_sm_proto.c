/*
 * tests/fuzz/fuzz_sm_proto.c - libFuzzer target for socketmap requests and replies
 *
 * Input:      one request payload "<name> <key>" as it comes out of the netstring decoder
 *             (any bytes, NUL included); the same bytes are then the data of a reply.
 * Invariants: sm_request_parse() returns -EINVAL exactly when the payload has no space; an
 *             ERR_DOMAIN_* code equal to req->key_err, with a zone; or 0 with a zone, no
 *             key_err, and a Policy Domain that is a normalised name, equal to what
 *             domain_from_nexthop() makes of the key (key normalisation in one place). The
 *             zone is the one named by <name> when it exists, else the default zone.
 *             sm_reply_encode() returns one netstring of <= SOCKETMAP_REPLY_MAX payload
 *             bytes, "<STATUS> <data>", printable ASCII only.
 */
#include <errno.h>
#include <string.h>

#include "cfg.h"
#include "domain.h"
#include "err.h"
#include "fuzz.h"
#include "mtasts_limits.h"
#include "netstring.h"
#include "sm_proto.h"

static const char *const zone_names[] = {"postfix", "strict", "Postfix", ""};

/* The embedded defaults, with four zones ("" is a legal libconfig string). Built once and
 * kept (reachable from a static, so LeakSanitizer stays quiet). */
static const struct cfg_resolver *
fuzz_resolver(void)
{
	static struct cfg *c;
	static struct cfg_zone zones[4];
	static struct cfg_resolver r;
	size_t i;

	if (c != NULL)
		return &r;
	c = cfg_defaults();
	FUZZ_CHECK(c != NULL && c->resolver.n_zones >= 1);
	r = c->resolver;
	for (i = 0; i < 4; i++) {
		zones[i] = c->resolver.zones[0];
		zones[i].name = (char *)zone_names[i];
	}
	zones[1].strict_testing = 1;
	r.zones = zones;
	r.n_zones = 4;
	r.default_zone = zones[0].name;
	return &r;
}

static void
check_name(const char *s)
{
	char again[DOMAIN_BUF];
	size_t n = strnlen(s, DOMAIN_BUF), i;

	FUZZ_CHECK(n >= 1 && n <= DOMAIN_NAME_MAX);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		           s[i] == '-' || s[i] == '.');
	FUZZ_CHECK(domain_normalize(s, again) == 0 && strcmp(s, again) == 0);
}

static void
check_request(const uint8_t *data, size_t size)
{
	const struct cfg_resolver *res = fuzz_resolver();
	const char *sp = memchr(data, ' ', size);
	char *payload = malloc(size > 0 ? size : 1); /* exact size, not NUL-terminated */
	struct sm_request req;
	size_t namelen, i;
	int r;

	FUZZ_CHECK(payload != NULL);
	if (size > 0)
		memcpy(payload, data, size);
	memset(&req, 0x55, sizeof(req));
	r = sm_request_parse(res, payload, size, &req);
	if (sp == NULL) {
		FUZZ_CHECK(r == -EINVAL);
		free(payload);
		return;
	}
	FUZZ_CHECK(r == 0 || (r <= ERR_DOMAIN_EMPTY && r >= ERR_DOMAIN_PARENT_PROBE));
	FUZZ_CHECK(req.key_err == r);
	FUZZ_CHECK(req.zone != NULL);
	namelen = (size_t)(sp - (const char *)data);
	for (i = 0; i < res->n_zones; i++) {
		if (strlen(res->zones[i].name) == namelen &&
		    memcmp(res->zones[i].name, data, namelen) == 0)
			break;
	}
	FUZZ_CHECK(req.zone == (i < res->n_zones ? &res->zones[i] : &res->zones[0]));
	if (r == 0) {
		char out[DOMAIN_BUF];
		const char *key = (const char *)sp + 1;

		check_name(req.domain);
		FUZZ_CHECK(domain_from_nexthop(key, size - namelen - 1, out) == 0);
		FUZZ_CHECK(strcmp(out, req.domain) == 0);
	}
	free(payload);
}

static void
check_reply(const uint8_t *data, size_t size)
{
	enum sm_status st = (enum sm_status)(size % SM_STATUS_COUNT), st_out = SM_PERM;
	struct netstring_dec d;
	char *text = malloc(size + 1), *enc;
	size_t enc_len = 0, used = 0, wlen, i;
	const char *word;

	FUZZ_CHECK(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	enc = sm_reply_encode(st, text, &enc_len, &st_out);
	FUZZ_CHECK(enc != NULL && enc[enc_len] == '\0');
	FUZZ_CHECK(st_out == st || st_out == SM_TEMP);
	netstring_dec_init(&d, SOCKETMAP_REPLY_MAX);
	FUZZ_CHECK(netstring_dec_feed(&d, enc, enc_len, &used) == 1);
	FUZZ_CHECK(used == enc_len);
	word = sm_status_name(st_out);
	wlen = strlen(word);
	FUZZ_CHECK(d.len > wlen && memcmp(d.buf, word, wlen) == 0 && d.buf[wlen] == ' ');
	for (i = 0; i < d.len; i++)
		FUZZ_CHECK(d.buf[i] >= 0x20 && d.buf[i] < 0x7f);
	netstring_dec_free(&d);
	free(enc);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
