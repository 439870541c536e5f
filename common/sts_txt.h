/*
 * common/sts_txt.h - the "_mta-sts" TXT RRset (RFC 8461 section 3.1) and the
 *                    "_smtp._tls" TLSRPT record (RFC 8460 section 3) (no I/O)
 *
 * Each RR is given as the concatenation of its character-strings (joined without spaces).
 *
 * Interface: sts_txt_parse(), tlsrpt_txt_parse()
 * Errors:    ERR_TXT_NONE (no record begins with "v=STSv1" [WSP] ";" or is exactly
 *            "v=STSv1"), ERR_TXT_MULTIPLE (more than one), ERR_TXT_SYNTAX (the one record
 *            is malformed, e.g. id missing, empty, longer than 32 or not ALPHA/DIGIT).
 *            Every error means "no available policy" (section 3.1).
 */
#ifndef MTASTSD_STS_TXT_H
#define MTASTSD_STS_TXT_H

#include <stddef.h>

#include "mtasts_limits.h"

struct txt_rr {
	const char *data; /* bytes of one RR, character-strings joined */
	size_t len;
};

/* On success writes the policy id (NUL-terminated) into id and returns 0. */
int sts_txt_parse(const struct txt_rr *rrs, size_t n, char id[STS_ID_MAX + 1]);

/* TLSRPT (RFC 8460 section 3): exactly one record beginning "v=TLSRPTv1" WSP* ";", with a
 * rua field. On success returns 0 and an owned comma-joined list of rua URIs (in record
 * order, surrounding WSP removed) in *ret_rua; ERR_TXT_NONE / ERR_TXT_MULTIPLE /
 * ERR_TXT_SYNTAX (no rua) otherwise. */
int tlsrpt_txt_parse(const struct txt_rr *rrs, size_t n, char **ret_rua);

#endif
