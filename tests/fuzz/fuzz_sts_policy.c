/*
 * tests/fuzz/fuzz_sts_policy.c - libFuzzer target for the RFC 8461 policy file parser
 *
 * Input:      the HTTP response body, as fetched (any bytes, any length).
 * Invariants: a rejection names a known ERR_POLICY_* code and a NUL-terminated reason;
 *             an accepted policy has mode none/testing/enforce, max_age <= 31557600,
 *             at most STS_MX_MAX mx, mx for testing/enforce; it passes
 *             sts_policy_validate(); its canonical text (sts_policy_serialize()) parses
 *             again to the same mode, max_age and mx list, and serialises to the same
 *             text; sts_policy_dup() gives an equal copy.
 */
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "sts_policy.h"

static void
check_same(const struct sts_policy *a, const struct sts_policy *b)
{
	size_t i;

	FUZZ_CHECK(a->mode == b->mode);
	FUZZ_CHECK(a->max_age_s == b->max_age_s);
	FUZZ_CHECK(a->n_mx == b->n_mx);
	for (i = 0; i < a->n_mx; i++)
		FUZZ_CHECK(strcmp(a->mx[i], b->mx[i]) == 0);
}

static int
is_policy_error(int r)
{
	switch (r) {
	case ERR_POLICY_SYNTAX:
	case ERR_POLICY_VERSION:
	case ERR_POLICY_MODE:
	case ERR_POLICY_MAX_AGE:
	case ERR_POLICY_MX:
	case ERR_POLICY_NO_MX:
	case ERR_POLICY_TOO_LARGE:
	case ERR_POLICY_ENCODING:
		return 1;
	default:
		return 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy *p = NULL, *q = NULL, *dup;
	struct sts_parse_error err;
	char *text, *text2;
	size_t i;
	int r;

	memset(&err, 0x55, sizeof(err)); /* the parser must write a terminated reason */
	r = sts_policy_parse((const char *)data, size, &p, &err);
	if (r != 0) {
		FUZZ_CHECK(is_policy_error(r));
		FUZZ_CHECK(memchr(err.reason, '\0', sizeof(err.reason)) != NULL);
		FUZZ_CHECK(p == NULL);
		return 0;
	}
	FUZZ_CHECK(p != NULL);
	FUZZ_CHECK(p->mode == STS_MODE_NONE || p->mode == STS_MODE_TESTING ||
	           p->mode == STS_MODE_ENFORCE);
	FUZZ_CHECK(p->max_age_s <= STS_MAX_AGE_MAX);
	FUZZ_CHECK(p->n_mx <= STS_MX_MAX);
	FUZZ_CHECK(p->n_ext <= STS_EXT_MAX);
	FUZZ_CHECK(p->mode == STS_MODE_NONE || p->n_mx > 0);
	for (i = 0; i < p->n_mx; i++)
		FUZZ_CHECK(p->mx[i] != NULL && p->mx[i][0] != '\0');
	FUZZ_CHECK(sts_policy_validate(p, &err) == 0);

	text = sts_policy_serialize(p);
	FUZZ_CHECK(text != NULL);
	r = sts_policy_parse_canonical(text, strlen(text), &q, &err);
	if (r != 0)
		fprintf(stderr, "re-parse of the canonical text failed (%d, line %u: %s):\n%s\n", r,
		        err.line, err.reason, text);
	FUZZ_CHECK(r == 0);
	check_same(p, q);
	text2 = sts_policy_serialize(q);
	FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0);

	dup = sts_policy_dup(p);
	FUZZ_CHECK(dup != NULL);
	check_same(p, dup);
	FUZZ_CHECK(dup->n_ext == p->n_ext);
	for (i = 0; i < p->n_ext; i++) {
		FUZZ_CHECK(strcmp(dup->ext[i].name, p->ext[i].name) == 0);
		FUZZ_CHECK(strcmp(dup->ext[i].value, p->ext[i].value) == 0);
	}

	free(text);
	free(text2);
	FUZZ_CHECK(sts_policy_free(dup) == NULL);
	FUZZ_CHECK(sts_policy_free(q) == NULL);
	FUZZ_CHECK(sts_policy_free(p) == NULL);
	return 0;
}
