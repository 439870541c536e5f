/*
 * tests/fuzz/fuzz_domain.c - libFuzzer target for domain normalisation (Postfix keys)
 *
 * Input:      any bytes: given whole to domain_from_nexthop() (key, keylen: NULs included),
 *             and up to the first NUL to domain_normalize() and domain_is_ip_literal().
 * Invariants: a success writes a name of 1..253 octets made of lower-case LDH labels
 *             of 1..63 octets, no leading, trailing or double dot, no label starting or
 *             ending with '-'; normalising that output again succeeds and changes nothing
 *             (idempotence), and so does domain_from_nexthop() on it; a failure returns
 *             an ERR_DOMAIN_* code; domain_is_ip_literal() returns 0 or 1.
 */
#include <string.h>

#include "domain.h"
#include "err.h"
#include "fuzz.h"

static void
check_name(const char *s)
{
	size_t n = strnlen(s, DOMAIN_BUF), label = 0, i;

	FUZZ_CHECK(n >= 1 && n <= DOMAIN_NAME_MAX);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			FUZZ_CHECK(label > 0);       /* no empty label */
			FUZZ_CHECK(s[i - 1] != '-'); /* no label ending with '-' */
			label = 0;
			continue;
		}
		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
		FUZZ_CHECK(!(c == '-' && label == 0)); /* no label starting with '-' */
		label++;
		FUZZ_CHECK(label <= DOMAIN_LABEL_MAX);
	}
	FUZZ_CHECK(label > 0); /* no trailing dot, no empty name */
	FUZZ_CHECK(s[n - 1] != '-');
}

static int
is_domain_error(int r)
{
	return r <= ERR_DOMAIN_EMPTY && r >= ERR_DOMAIN_PARENT_PROBE;
}

static void
check_result(int r, const char *out)
{
	char again[DOMAIN_BUF];

	if (r != 0) {
		FUZZ_CHECK(is_domain_error(r));
		return;
	}
	check_name(out);
	FUZZ_CHECK(domain_normalize(out, again) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
	FUZZ_CHECK(domain_from_nexthop(out, strlen(out), again) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
	FUZZ_CHECK(domain_is_ip_literal(out) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DOMAIN_BUF];
	char *key = malloc(size > 0 ? size : 1); /* exact size: ASan sees over-reads */
	char *str = malloc(size + 1);
	int r;

	FUZZ_CHECK(key != NULL && str != NULL);
	if (size > 0) {
		memcpy(key, data, size);
		memcpy(str, data, size);
	}
	str[size] = '\0';

	memset(out, 0, sizeof(out));
	r = domain_from_nexthop(key, size, out);
	check_result(r, out);

	memset(out, 0, sizeof(out));
	r = domain_normalize(str, out);
	check_result(r, out);

	r = domain_is_ip_literal(str);
	FUZZ_CHECK(r == 0 || r == 1);

	free(key);
	free(str);
	return 0;
}
