/*
 * resolver/sm_proto.c - Postfix socketmap request parsing and reply encoding (no I/O)
 *
 * Interface: sm_request_parse(), sm_reply_encode(), sm_status_name()
 * Threads:   any (no state).    Ownership: see sm_proto.h.
 * Errors:    a bad key is not an error of the protocol: it gets NOTFOUND (RFC 8461
 *            section 3.4, docs/rfc-notes.md section 8); only a payload without "<name> <key>" form
 *            is refused (PERM).
 */
#include <errno.h>
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

static size_t
sm_payload_build(char *out, size_t outsz, enum sm_status st, const char *data, size_t dlen)
{
	const char *word = sm_status_name(st);
	size_t wlen = strlen(word), i, n = 0;

	memcpy(out, word, wlen);
	n = wlen;
	out[n++] = ' ';
	for (i = 0; i < dlen && n < outsz; i++) {
		unsigned char c = (unsigned char)data[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	return n;
}

char *
sm_reply_encode(enum sm_status st, const char *data, size_t *ret_len, enum sm_status *ret_status)
{
	size_t dlen = data != NULL ? strlen(data) : 0, plen, outsz;
	char *payload, *out;
	long n;

	if (strlen(sm_status_name(st)) + 1 + dlen > SOCKETMAP_REPLY_MAX) {
		st = SM_TEMP;
		data = "reply too long";
		dlen = strlen(data);
	}
	plen = strlen(sm_status_name(st)) + 1 + dlen;
	payload = xmalloc(plen + 1);
	plen = sm_payload_build(payload, plen, st, data, dlen);
	outsz = netstring_encoded_len(plen) + 1;
	out = xmalloc(outsz);
	n = netstring_encode(out, outsz, payload, plen);
	free(payload);
	if (n < 0)
		die("sm_reply_encode: netstring_encode: %s", err_str((int)n));
	out[n] = '\0';
	*ret_len = (size_t)n;
	if (ret_status != NULL)
		*ret_status = st;
	return out;
}
