/*
 * tests/fuzz/fuzz_tlsrpt_report.c - libFuzzer target for the RFC 8460 report parser and
 * the bounded gunzip in front of it
 *
 * Input:      any bytes: a report as JSON, or as gzip (magic 1f 8b) when it starts so.
 * Invariants: tlsrpt_report_parse() returns 0 with a report whose required fields are set
 *             (org, report-id non-empty, at least one policy with a known policy type and
 *             a domain, end >= start), or ERR_TLSRPT_JSON/FIELD with a reason; gunzip
 *             never returns more than its bound.
 */
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "tlsrpt_gz.h"
#include "tlsrpt_report.h"

#define FUZZ_GZ_MAX (256 * 1024)

static void
check_parse(const char *data, size_t size)
{
	struct tlsrpt_report *r = NULL;
	char why[256];
	size_t i;
	int rc;

	rc = tlsrpt_report_parse(data, size, &r, why, sizeof(why));
	if (rc < 0) {
		FUZZ_CHECK(rc == ERR_TLSRPT_JSON || rc == ERR_TLSRPT_FIELD);
		FUZZ_CHECK(r == NULL && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(r != NULL && r->org[0] != '\0' && r->report_id[0] != '\0');
	FUZZ_CHECK(r->n_policies >= 1 && r->end >= r->start);
	for (i = 0; i < r->n_policies; i++) {
		FUZZ_CHECK(tlsrpt_policy_type_valid(r->policies[i].type));
		FUZZ_CHECK(r->policies[i].domain[0] != '\0');
	}
	(void)tlsrpt_report_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t outlen = 0;

	if (tlsrpt_is_gzip(data, size)) {
		if (tlsrpt_gunzip(data, size, FUZZ_GZ_MAX, 100, &out, &outlen) == 0) {
			FUZZ_CHECK(outlen <= FUZZ_GZ_MAX);
			check_parse(out, outlen);
			free(out);
		}
		return 0;
	}
	check_parse((const char *)data, size);
	return 0;
}
