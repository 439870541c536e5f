/*
 * tests/fuzz/fuzz_sts_txt.c - libFuzzer target for the _mta-sts and _smtp._tls TXT parsers
 *
 * Input:      an RRset: RRs separated by LF (0x0a); every other byte, NUL included, is RR
 *             data (each RR = its character-strings joined, as dns_client delivers it).
 *             Each RR is copied into its own exact-size heap block, so ASan catches a read
 *             past any RR's end.
 * Invariants: sts_txt_parse() returns 0 with an id of 1..32 ALPHA/DIGIT, or one of
 *             ERR_TXT_NONE/MULTIPLE/SYNTAX; the outcome (code and id) is the same for the
 *             RRs in reverse order (an RRset has no order); an empty RRset is ERR_TXT_NONE;
 *             tlsrpt_txt_parse() returns 0 with an owned rua list, or an ERR_TXT_* code.
 */
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "sts_txt.h"

#define FUZZ_RR_MAX 64

static int
is_txt_error(int r)
{
	return r == ERR_TXT_NONE || r == ERR_TXT_MULTIPLE || r == ERR_TXT_SYNTAX;
}

static int
check_sts(const struct txt_rr *rrs, size_t n, char id[STS_ID_MAX + 1])
{
	size_t i, idlen;
	int r;

	memset(id, 'Z', STS_ID_MAX + 1);
	r = sts_txt_parse(rrs, n, id);
	if (r != 0) {
		FUZZ_CHECK(is_txt_error(r));
		return r;
	}
	idlen = strnlen(id, STS_ID_MAX + 1);
	FUZZ_CHECK(idlen >= 1 && idlen <= STS_ID_MAX);
	for (i = 0; i < idlen; i++) {
		char c = id[i];

		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9'));
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txt_rr rrs[FUZZ_RR_MAX], rev[FUZZ_RR_MAX];
	char *copies[FUZZ_RR_MAX];
	char id[STS_ID_MAX + 1], id_rev[STS_ID_MAX + 1];
	char *rua = NULL;
	size_t n = 0, start = 0, i;
	int r, r_rev;

	for (i = 0; i <= size && n < FUZZ_RR_MAX; i++) {
		if (i == size || data[i] == '\n') {
			size_t len = i - start;

			copies[n] = malloc(len > 0 ? len : 1);
			FUZZ_CHECK(copies[n] != NULL);
			if (len > 0)
				memcpy(copies[n], data + start, len);
			rrs[n].data = copies[n];
			rrs[n].len = len;
			n++;
			start = i + 1;
		}
	}
	for (i = 0; i < n; i++)
		rev[i] = rrs[n - 1 - i];

	r = check_sts(rrs, n, id);
	r_rev = check_sts(rev, n, id_rev);
	/* An RRset has no order (RFC 1035/2181): the outcome must not depend on it. */
	FUZZ_CHECK(r == r_rev);
	if (r == 0)
		FUZZ_CHECK(strcmp(id, id_rev) == 0);
	FUZZ_CHECK(check_sts(rrs, 0, id) == ERR_TXT_NONE);

	r = tlsrpt_txt_parse(rrs, n, &rua);
	if (r == 0) {
		FUZZ_CHECK(rua != NULL);
		free(rua);
	} else {
		FUZZ_CHECK(is_txt_error(r));
	}

	for (i = 0; i < n; i++)
		free(copies[i]);
	return 0;
}
