/*
 * tests/fuzz/fuzz_fetch_headers.c - libFuzzer target for the policy fetch's header checks
 *
 * Input:      byte 0: the body limit (fetch_max_body: 512, 1000, 4096 or 65536 by its low
 *             2 bits); the rest: response header lines, each up to and including its LF,
 *             handed one at a time, each in an exact-size heap block with no NUL after it
 *             (libcurl's CURLOPT_HEADERFUNCTION buffer is not NUL-terminated). A line
 *             "HTTP/<x> <code>" starts a block; the status of a block is the number after
 *             its first space (0 when none), as libcurl would report it.
 * Invariants: fetch_header_line() returns a FETCH_HEADER_* kind and never reads past the
 *             line (ASan); the shown Content-Type is NUL-terminated, under 128 bytes, with
 *             no control byte. At the end of each block (an empty line) with a final status,
 *             fetch_headers_check() says, against a model of the block's last Content-Type
 *             and Content-Length written here from RFC 8461 section 3.3 and RFC 9110:
 *             3xx -> ERR_FETCH_REDIRECT, other non-200 -> ERR_FETCH_HTTP; a Content-Type
 *             other than text/plain (optional parameters) or none -> ERR_FETCH_CONTENT_TYPE;
 *             a Content-Length that is not 1*DIGIT or is over the limit ->
 *             ERR_FETCH_TOO_LARGE; otherwise 0. The detail is a NUL-terminated line.
 */
#include <string.h>
#include <strings.h>

#include "err.h"
#include "fuzz.h"
#include "https_fetch.h"

/* The last value of the header field name in the block: [*ret_v, *ret_v + *ret_n), or 0. */
struct model {
	const uint8_t *ct, *cl;
	size_t ct_n, cl_n;
	long status;
};

/* line is a header field "name:" in any case: store its value, WSP and CR/LF trimmed. */
static int
model_field(const uint8_t *line, size_t len, const char *name, const uint8_t **ret_v, size_t *ret_n)
{
	size_t nl = strlen(name), i, e = len;

	if (len <= nl || line[nl] != ':' || strncasecmp((const char *)line, name, nl) != 0)
		return 0;
	for (i = nl + 1; i < e && (line[i] == ' ' || line[i] == '\t');)
		i++;
	while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r' ||
	                 line[e - 1] == '\n'))
		e--;
	*ret_v = line + i;
	*ret_n = e - i;
	return 1;
}

/* RFC 8461 section 3.3: media type text/plain, any case, parameters allowed. */
static int
model_ct_ok(const uint8_t *v, size_t n)
{
	static const char tp[] = "text/plain";
	size_t i;

	if (v == NULL || n < 10)
		return 0;
	for (i = 0; i < 10; i++)
		if ((v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]) != (uint8_t)tp[i])
			return 0;
	for (i = 10; i < n && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	return i == n || v[i] == ';';
}

/* RFC 9110 section 8.6: 1*DIGIT, at most max. */
static int
model_cl_ok(const uint8_t *v, size_t n, size_t max)
{
	unsigned long long x = 0;
	size_t i;

	if (v == NULL)
		return 1; /* absent */
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (v[i] - '0');
		if (x > max)
			return 0;
	}
	return 1;
}

static long
status_of(const uint8_t *line, size_t len)
{
	size_t i = 0;
	long code = 0;

	while (i < len && line[i] != ' ')
		i++;
	for (i++; i < len && line[i] >= '0' && line[i] <= '9' && code < 1000; i++)
		code = code * 10 + (line[i] - '0');
	return code;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[4] = {512, 1000, 4096, 65536};
	struct fetch_headers h = {.content_length = -1};
	struct model m = {0};
	size_t max_body, off = 1;

	if (size < 1)
		return 0;
	max_body = limits[data[0] & 3];
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) + 1 : size - off;
		char *line = malloc(len);
		char detail[256];
		int kind, r;

		FUZZ_CHECK(line != NULL);
		memcpy(line, data + off, len);
		kind = fetch_header_line(&h, line, len, max_body);
		FUZZ_CHECK(kind == FETCH_HEADER_FIELD || kind == FETCH_HEADER_STATUS ||
		           kind == FETCH_HEADER_END);
		free(line);
		line = NULL;
		FUZZ_CHECK(memchr(h.content_type, '\0', sizeof(h.content_type)) != NULL);
		for (size_t i = 0; h.content_type[i] != '\0'; i++)
			FUZZ_CHECK((unsigned char)h.content_type[i] >= 0x20 &&
			           h.content_type[i] != 0x7f);

		if (len >= 5 && memcmp(data + off, "HTTP/", 5) == 0) {
			FUZZ_CHECK(kind == FETCH_HEADER_STATUS);
			FUZZ_CHECK(h.content_type[0] == '\0' && h.content_length == -1);
			memset(&m, 0, sizeof(m));
			m.status = status_of(data + off, len);
		} else if (kind == FETCH_HEADER_END) {
			FUZZ_CHECK(len <= 2);
			memset(detail, 'X', sizeof(detail));
			r = fetch_headers_check(&h, m.status, max_body, detail, sizeof(detail));
			if (m.status >= 300 && m.status < 400)
				FUZZ_CHECK(r == ERR_FETCH_REDIRECT);
			else if (m.status != 200)
				FUZZ_CHECK(r == ERR_FETCH_HTTP);
			else if (!model_ct_ok(m.ct, m.ct_n))
				FUZZ_CHECK(r == ERR_FETCH_CONTENT_TYPE);
			else if (!model_cl_ok(m.cl, m.cl_n, max_body))
				FUZZ_CHECK(r == ERR_FETCH_TOO_LARGE);
			else
				FUZZ_CHECK(r == 0);
			if (r != 0) {
				FUZZ_CHECK(memchr(detail, '\0', sizeof(detail)) != NULL);
				FUZZ_CHECK(detail[0] != '\0' && strchr(detail, '\n') == NULL);
			}
		} else {
			FUZZ_CHECK(kind == FETCH_HEADER_FIELD);
			if (!model_field(data + off, len, "content-type", &m.ct, &m.ct_n))
				(void)model_field(data + off, len, "content-length", &m.cl,
				                  &m.cl_n);
		}
		off += len;
	}
	return 0;
}
