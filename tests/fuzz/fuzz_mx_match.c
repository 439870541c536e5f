/*
 * tests/fuzz/fuzz_mx_match.c - libFuzzer target for policy mx pattern matching
 *
 * Input:      "<pattern>\n<hostname>" (no LF: the whole input is both); NUL bytes end the
 *             C strings early, as they would in a caller.
 * Invariants: mx_match() returns 0 or 1; it is ASCII case-insensitive on both sides; one
 *             trailing dot added to a name that has none changes nothing; "*.x" never
 *             matches the bare "x" (RFC 8461 section 4.1).
 */
#include <string.h>

#include "fuzz.h"
#include "mx_match.h"

static char *
dup_range(const uint8_t *p, size_t n, size_t extra)
{
	char *s = malloc(n + extra + 1);

	FUZZ_CHECK(s != NULL);
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
ascii_case(char *s, int upper)
{
	for (; *s != '\0'; s++) {
		if (upper && *s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
		else if (!upper && *s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

static void
add_dot(char *s)
{
	size_t n = strlen(s);

	s[n] = '.';
	s[n + 1] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t plen = lf != NULL ? (size_t)(lf - data) : size;
	const uint8_t *h = lf != NULL ? lf + 1 : data;
	size_t hlen = lf != NULL ? size - plen - 1 : size;
	char *pat = dup_range(data, plen, 1), *host = dup_range(h, hlen, 1);
	char *pat2, *host2;
	size_t pn, hn;
	int m;

	m = mx_match(pat, host);
	FUZZ_CHECK(m == 0 || m == 1);

	pat2 = strdup(pat);
	host2 = strdup(host);
	FUZZ_CHECK(pat2 != NULL && host2 != NULL);
	ascii_case(pat2, 1);
	ascii_case(host2, 0);
	FUZZ_CHECK(mx_match(pat2, host2) == m);
	ascii_case(pat2, 0);
	ascii_case(host2, 1);
	FUZZ_CHECK(mx_match(pat2, host2) == m);
	free(pat2);
	free(host2);

	pn = strlen(pat);
	hn = strlen(host);
	if (hn > 0 && host[hn - 1] != '.') {
		add_dot(host);
		FUZZ_CHECK(mx_match(pat, host) == m);
		host[hn] = '\0';
	}
	if (pn > 0 && pat[pn - 1] != '.') {
		add_dot(pat);
		FUZZ_CHECK(mx_match(pat, host) == m);
		pat[pn] = '\0';
	}
	/* "*.x" needs a host of the form "<label>.x": never the bare "x" itself. */
	if (pn > 2 && pat[0] == '*' && pat[1] == '.')
		FUZZ_CHECK(mx_match(pat, pat + 2) == 0);

	free(pat);
	free(host);
	return 0;
}
