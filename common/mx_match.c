/*
 * common/mx_match.c - does an MX host name match a policy mx pattern (RFC 8461 section 4.1)
 *
 * Interface: mx_match()
 * Rules:     "*.example.com" matches a host whose first label is non-empty and whose
 *            remainder equals "example.com" (exactly one left-most label); any other pattern
 *            matches only the same name. ASCII case-insensitive (RFC 4343); one trailing
 *            root dot on either side is ignored. A '*' anywhere else, in pattern or host, never
 *            matches. Callers convert U-labels to A-labels first (domain_normalize()).
 * Threads:   no state.
 * Errors:    none; 1 (match) or 0.
 */
#include <string.h>
#include <strings.h>

#include "mx_match.h"

static size_t
strip_dot(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	return n;
}

static int
same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && alen > 0 && strncasecmp(a, b, alen) == 0;
}

int
mx_match(const char *pattern, const char *hostname)
{
	size_t plen, hlen;
	const char *dot;

	if (pattern == NULL || hostname == NULL)
		return 0;
	plen = strip_dot(pattern);
	hlen = strip_dot(hostname);
	if (memchr(hostname, '*', hlen) != NULL)
		return 0;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		if (memchr(pattern + 2, '*', plen - 2) != NULL)
			return 0;
		dot = memchr(hostname, '.', hlen);
		if (dot == NULL || dot == hostname)
			return 0;
		return same(pattern + 2, plen - 2, dot + 1, hlen - (size_t)(dot + 1 - hostname));
	}
	if (memchr(pattern, '*', plen) != NULL)
		return 0;
	return same(pattern, plen, hostname, hlen);
}
