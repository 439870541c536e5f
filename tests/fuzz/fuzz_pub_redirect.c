/*
 * tests/fuzz/fuzz_pub_redirect.c - libFuzzer target for the publisher's port 80 redirect
 *
 * Input:      NUL-separated fields: the Host header value, the unescaped request path, then
 *             each query argument as libmicrohttpd hands it over, "key=value" (split at the
 *             first '=') or "key" (no value). Any byte but NUL, CR and LF included (a
 *             client sends them as %0D%0A, which libmicrohttpd decodes).
 * Code:       pub_http_loc_start() and pub_http_loc_arg(), what http_redirect() answers
 *             with on the port 80 listeners (the Location of the 301).
 * Invariants: 400 (-1) exactly when pub_http_host_name() finds no name or the path does not
 *             start with '/'; otherwise the Location is NUL-terminated within its buffer and
 *             is "https://" + that host name + a path: the authority is exactly the name
 *             (no '/', '?', '#', '@' in it), and every later byte is an RFC 3986 unreserved
 *             character, '/', '%' + two upper-case hex digits, '?', '&' or '='; so no CR,
 *             LF, NUL, space or control byte (no header injection, no open redirect to
 *             another host). Unless it overflowed (414), decoding the path gives the request
 *             path back and decoding each argument gives its key and value back.
 */
#include <string.h>

#include "fuzz.h"
#include "pub_route.h"

static int
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s + n) and compare with want. */
static int
decodes_to(const char *s, size_t n, const char *want)
{
	size_t i = 0, w = 0, wl = strlen(want);

	while (i < n) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			FUZZ_CHECK(i + 3 <= n);
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 3;
		} else {
			i++;
		}
		if (w >= wl || (unsigned char)want[w] != c)
			return 0;
		w++;
	}
	return w == wl;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *fields[64], *p, *name_end;
	struct pub_http_loc l;
	const char *name = NULL, *q, *e;
	size_t nf = 0, i, nlen, off;
	int r;

	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	in[size] = '\0';
	for (p = in; nf < 64;) {
		fields[nf++] = p;
		p += strlen(p);
		if (p >= in + size)
			break;
		p++;
	}
	if (nf < 2) {
		free(in);
		return 0;
	}
	nlen = pub_http_host_name(fields[0], &name);
	r = pub_http_loc_start(&l, fields[0], fields[1]);
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK((r == -1) == (nlen == 0 || fields[1][0] != '/'));
	if (r < 0) {
		free(in);
		return 0;
	}
	for (i = 2; i < nf; i++) {
		char *eq = strchr(fields[i], '=');

		if (eq != NULL)
			*eq = '\0';
		pub_http_loc_arg(&l, fields[i], eq != NULL ? eq + 1 : NULL);
		if (eq != NULL)
			*eq = '=';
	}
	FUZZ_CHECK(l.len < sizeof(l.buf) && l.buf[l.len] == '\0' && strlen(l.buf) == l.len);
	if (l.len == 0) { /* even "https://" did not fit: impossible with a 2 KiB buffer */
		FUZZ_CHECK(l.overflow);
		free(in);
		return 0;
	}
	FUZZ_CHECK(strncmp(l.buf, "https://", 8) == 0);
	/* the authority: exactly the host name */
	name_end = l.buf + 8 + nlen;
	if (!l.overflow) {
		FUZZ_CHECK(l.len >= 8 + nlen + 1);
		FUZZ_CHECK(memcmp(l.buf + 8, name, nlen) == 0 && *name_end == '/');
		for (i = 0; i < nlen; i++)
			FUZZ_CHECK(strchr("/?#@\\", name[i]) == NULL &&
			           (unsigned char)name[i] > 0x20 && (unsigned char)name[i] < 0x7f);
	}
	/* everything after it */
	for (off = l.overflow ? 8 : 8 + nlen; off < l.len; off++) {
		unsigned char c = (unsigned char)l.buf[off];

		if (off < 8 + nlen) /* overflow inside the name: its own bytes */
			continue;
		if (c == '%') {
			FUZZ_CHECK(off + 2 < l.len && hexval(l.buf[off + 1]) >= 0 &&
			           hexval(l.buf[off + 2]) >= 0);
			off += 2;
			continue;
		}
		FUZZ_CHECK(unreserved(c) || c == '/' || c == '?' || c == '&' || c == '=');
	}
	if (l.overflow) {
		free(in);
		return 0;
	}
	/* round trip: the path, then each argument */
	q = strchr(name_end, '?');
	e = q != NULL ? q : l.buf + l.len;
	FUZZ_CHECK(decodes_to(name_end, (size_t)(e - name_end), fields[1]));
	FUZZ_CHECK(l.n_args == nf - 2);
	for (i = 2; i < nf; i++) {
		char *eq = strchr(fields[i], '=');
		const char *a, *sep, *end;

		FUZZ_CHECK(q != NULL && *q == (i == 2 ? '?' : '&'));
		a = q + 1;
		end = strchr(a, '&');
		if (end == NULL)
			end = l.buf + l.len;
		sep = memchr(a, '=', (size_t)(end - a));
		if (eq != NULL)
			*eq = '\0';
		FUZZ_CHECK((sep != NULL) == (eq != NULL));
		FUZZ_CHECK(decodes_to(a, (size_t)((sep != NULL ? sep : end) - a), fields[i]));
		if (eq != NULL)
			FUZZ_CHECK(decodes_to(sep + 1, (size_t)(end - sep - 1), eq + 1));
		q = end;
	}
	FUZZ_CHECK(q == NULL || q == l.buf + l.len);
	free(in);
	return 0;
}
