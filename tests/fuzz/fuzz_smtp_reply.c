/*
 * tests/fuzz/fuzz_smtp_reply.c - libFuzzer target for the MX check's SMTP reply parser
 *
 * Input:      the bytes a server sends (resolver/mx_probe.c smtp_reply_parse()).
 * Invariants: the result is 0, -EPROTO, -EMSGSIZE, -E2BIG or a length within the input that
 *             ends in LF; a complete reply has a code 200..599, 1..SMTP_REPLY_LINES_MAX
 *             lines and a NUL-terminated printable text; parsing the same bytes again, or
 *             any longer input that begins with the complete reply, gives the same length;
 *             a prefix of the input never completes past its own end.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "mx_probe.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct smtp_reply r, r2;
	size_t i;
	int n, n2;

	n = smtp_reply_parse(buf, size, &r);
	FUZZ_CHECK(n == 0 || n == -EPROTO || n == -EMSGSIZE || n == -E2BIG || n > 0);
	if (n <= 0)
		return 0;
	FUZZ_CHECK((size_t)n <= size && buf[n - 1] == '\n');
	FUZZ_CHECK(r.code >= 200 && r.code <= 599);
	FUZZ_CHECK(r.n_lines >= 1 && r.n_lines <= SMTP_REPLY_LINES_MAX);
	FUZZ_CHECK(memchr(r.text, '\0', sizeof(r.text)) != NULL);
	for (i = 0; r.text[i] != '\0'; i++)
		FUZZ_CHECK(r.text[i] >= 0x20 && r.text[i] < 0x7f);
	n2 = smtp_reply_parse(buf, (size_t)n, &r2);
	FUZZ_CHECK(n2 == n && r2.code == r.code && r2.n_lines == r.n_lines &&
	           r2.starttls == r.starttls);
	/* one byte less is never complete */
	n2 = smtp_reply_parse(buf, (size_t)n - 1, &r2);
	FUZZ_CHECK(n2 <= 0);
	return 0;
}
