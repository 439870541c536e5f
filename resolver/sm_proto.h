/*
 * resolver/sm_proto.h - Postfix socketmap request parsing and reply encoding (no I/O)
 *
 * socketmap_table(5): request payload "<name> <key>", reply payload "OK <data>",
 * "NOTFOUND ", "TEMP <reason>", "TIMEOUT <reason>" or "PERM <reason>", each framed as a
 * netstring. docs/socketmap.md describes the mapping.
 *
 * Interface: sm_request_parse(), sm_reply_prepare(), sm_reply_write(), sm_reply_encode(),
 *            sm_status_name()
 * Ownership: sm_request_parse() fills a caller-owned struct (zone borrowed from the cfg);
 *            sm_reply_write() writes into the caller's buffer; sm_reply_encode() returns an
 *            owned netstring.
 * Errors:    see each function.
 */
#ifndef MTASTSD_SM_PROTO_H
#define MTASTSD_SM_PROTO_H

#include <stddef.h>

#include "cfg.h"
#include "domain.h"

enum sm_status {
	SM_OK = 0,
	SM_NOTFOUND = 1,
	SM_TEMP = 2,
	SM_TIMEOUT = 3,
	SM_PERM = 4,
};
#define SM_STATUS_COUNT 5

struct sm_request {
	const struct cfg_zone *zone; /* borrowed from the cfg given to sm_request_parse() */
	char domain[DOMAIN_BUF];     /* Policy Domain; valid only when parse returned 0 */
	int key_err;                 /* why the key has no policy (ERR_DOMAIN_*), 0 if valid */
	/* How Postfix connects: "[host]:port" (relay) or "domain" (MX), and the port; the
	 * DANE half needs it. Valid only when parse returned 0. */
	struct domain_nexthop nexthop;
};

/* Parse one request payload[0..len) (bytes, need not be NUL-terminated).
 * Returns 0 when req->domain is a Policy Domain to look up; ERR_DOMAIN_* (also stored in
 * req->key_err) when the key can have no policy: answer NOTFOUND without any lookup (parent
 * probe ".example.com", IP literal, empty or invalid name); -EINVAL when the payload has no
 * space (no "<name> <key>" form): answer PERM. req->zone is set in the first two cases. */
int sm_request_parse(const struct cfg_resolver *cfg, const char *payload, size_t len,
                     struct sm_request *req);

/* Encode "<STATUS> <data>" as a netstring. data may be NULL (empty). Bytes of data outside
 * 0x20..0x7e are replaced by '?' (replies must be ASCII/UTF-8; docs/socketmap.md). When the
 * payload would exceed SOCKETMAP_REPLY_MAX bytes, a "TEMP reply too long" reply is encoded
 * instead and *ret_status (when not NULL) says so. Returns an owned string of *ret_len
 * bytes (NUL-terminated too). Never fails. */
char *sm_reply_encode(enum sm_status st, const char *data, size_t *ret_len,
                      enum sm_status *ret_status);

/* A reply sized for the wire by sm_reply_prepare(), written by sm_reply_write(). */
struct sm_reply {
	enum sm_status st; /* the status sent: SM_TEMP when the data did not fit */
	const char *data;  /* borrowed from the caller of sm_reply_prepare(); NULL: none */
	size_t dlen;       /* bytes of data */
	size_t plen;       /* payload bytes, "<STATUS> <data>" (<= SOCKETMAP_REPLY_MAX) */
	size_t len;        /* netstring bytes: what sm_reply_write() writes */
};

/* Size the reply "<STATUS> <data>" (data may be NULL: empty) with the rule of
 * sm_reply_encode(): a payload over SOCKETMAP_REPLY_MAX bytes becomes "TEMP reply too long"
 * (r->st says so). r borrows data until sm_reply_write(). Never fails. */
void sm_reply_prepare(enum sm_status st, const char *data, struct sm_reply *r);

/* Write r's netstring (r->len bytes, no NUL) at out, whose size is outsz bytes, with the byte
 * hygiene of sm_reply_encode(). Returns r->len, or 0 with nothing written when outsz <
 * r->len. For a caller that appends replies to its own output buffer (no allocation). */
size_t sm_reply_write(const struct sm_reply *r, char *out, size_t outsz);

/* "OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM". */
const char *sm_status_name(enum sm_status st);

#endif
