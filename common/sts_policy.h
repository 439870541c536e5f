/*
 * common/sts_policy.h - the MTA-STS policy file: parse, validate, serialise (no I/O)
 *
 * RFC 8461 section 3.2, with the tolerance of docs/rfc-notes.md section 4 and
 * docs/policy-parsing.md: strict on meaning (version, mode, max_age, every mx), tolerant of
 * noise that cannot change meaning (BOM, blank lines, lone CR, '#' comments, malformed
 * extension lines, IP-address mx patterns (dropped: they can match no certificate), max_age
 * leading zeros beyond 10 digits).
 *
 * Interface: sts_policy_parse(), sts_policy_parse_canonical(), sts_policy_free(),
 *            sts_policy_serialize(), sts_mx_dedup(), sts_mode_name()
 * Ownership: a parsed policy is owned by the caller; free with sts_policy_free(). A parsed or
 *            duplicated policy is one allocation (packed): read it, never change its arrays.
 * Errors:    ERR_POLICY_* with the 1-based line number and a reason in struct sts_parse_error.
 */
#ifndef MTASTSD_STS_POLICY_H
#define MTASTSD_STS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "mtasts_limits.h"

enum sts_mode {
	STS_MODE_NONE = 0,
	STS_MODE_TESTING = 1,
	STS_MODE_ENFORCE = 2,
};

struct sts_ext {
	char *name;
	char *value;
};

/* 40 bytes on LP64, the small fields last (issue 21: one per cached policy). */
struct sts_policy {
	char **mx;           /* patterns in policy order, lower-cased, as written ("*.x.net"),
	                      * a repeated pattern once, at its first position */
	struct sts_ext *ext; /* extension fields kept in order (first of each name) */
	size_t n_mx;
	enum sts_mode mode;
	uint32_t max_age_s;    /* seconds, 0..31557600 */
	uint16_t n_ext;        /* at most STS_EXT_MAX */
	uint16_t n_mx_dropped; /* IP-address mx patterns dropped (STS_TOLERATED_IP_MX); counts
	                        * up to UINT16_MAX, then stays there (a body has fewer) */
	uint16_t tolerated;    /* STS_TOLERATED_* bits: noise that was accepted */
	uint8_t packed;        /* 1: one allocation holds the struct, both arrays and every string
	                        * (sts_policy_parse/dup); 0: each separately (a policy built in code) */
};

enum {
	STS_TOLERATED_BOM = 1u << 0,
	STS_TOLERATED_BLANK_LINE = 1u << 1,
	STS_TOLERATED_CR = 1u << 2,
	STS_TOLERATED_COMMENT = 1u << 3,
	STS_TOLERATED_BAD_EXTENSION = 1u << 4,
	STS_TOLERATED_LONG_MAX_AGE = 1u << 5,
	STS_TOLERATED_IP_MX = 1u << 6, /* "mx: 192.0.2.1" and the like, dropped */
};

struct sts_parse_error {
	unsigned line;    /* 1-based line of the rejection, 0 when not line-specific */
	char reason[160]; /* e.g. "mx pattern 'mail.example.com:25' is not a domain" */
};

/* Parse body[0..len) (bytes, not NUL-terminated). On success sets *ret_policy and returns 0.
 * On failure returns an ERR_POLICY_* code and fills *err (when err != NULL). */
int sts_policy_parse(const char *body, size_t len, struct sts_policy **ret_policy,
                     struct sts_parse_error *err);

/* The same for text written by sts_policy_serialize() (a cache's copy), which may be longer
 * than the body it came from: up to STS_POLICY_CANON_MAX bytes. */
int sts_policy_parse_canonical(const char *text, size_t len, struct sts_policy **ret_policy,
                               struct sts_parse_error *err);

/* Remove repeated patterns from mx[0..n) in place, keeping the first of each in its position
 * (exact byte comparison: lower-case first). Frees the repeats; returns the new count.
 * O(n log n). */
size_t sts_mx_dedup(char **mx, size_t n);

/* Validate a policy built in code (publisher config) with the parser's rules.
 * Returns 0 or ERR_POLICY_* with *err filled. */
int sts_policy_validate(const struct sts_policy *p, struct sts_parse_error *err);

/* Canonical text: "version: STSv1", "mode: ", one "mx: " per pattern, "max_age: ",
 * each line ended by CRLF; extensions are not emitted. Returns an owned string. */
char *sts_policy_serialize(const struct sts_policy *p);

/* A copy of p in one allocation (packed: struct, mx and ext arrays, strings), owned by the
 * caller (sts_policy_free()); NULL when p is NULL. The cache keeps policies this way: ~32
 * bytes and 3 allocations less per cached policy with 2 mx patterns. */
struct sts_policy *sts_policy_dup(const struct sts_policy *p);
/* Frees p (packed or not); returns NULL. sts_policy_free(NULL) is a no-op. */
struct sts_policy *sts_policy_free(struct sts_policy *p);

const char *sts_mode_name(enum sts_mode m);
/* "enforce"/"testing"/"none" -> mode; returns 0 or -EINVAL. */
int sts_mode_parse(const char *s, enum sts_mode *ret_mode);

#endif
