/*
 * tlsrpt/tlsrpt_mail.h - the report in a mail message (RFC 8460 section 5.3; GMime 3)
 *
 * A report mail is multipart/report; report-type="tlsrpt" with the report as an
 * application/tlsrpt+gzip (or application/tlsrpt+json) part, usually base64. Real
 * reporters also label the part application/gzip or application/json with a file name
 * ending in .json.gz or .json; those are taken too. The first such part wins.
 *
 * Interface: tlsrpt_input_kind(), tlsrpt_mail_extract()
 * Threads:   the caller's, one at a time (GMime is loaded and initialised once per process
 *            by the first tlsrpt_mail_extract(): it is not linked, common/dynlib.h).
 * Ownership: *ret is malloc'd, the caller frees it.
 * Errors:    ERR_TLSRPT_NO_REPORT (not a message, or no report part), ERR_TLSRPT_TOO_LARGE
 *            (the decoded part over max bytes), -ENOENT / -ENOSYS (GMime cannot be loaded).
 */
#ifndef MTASTSD_TLSRPT_MAIL_H
#define MTASTSD_TLSRPT_MAIL_H

#include <stddef.h>

enum tlsrpt_input_kind {
	TLSRPT_INPUT_GZIP, /* a bare .json.gz */
	TLSRPT_INPUT_JSON, /* a bare .json (first non-blank byte '{') */
	TLSRPT_INPUT_MAIL, /* anything else: a whole message */
};

/* What len bytes at p are (no I/O). */
enum tlsrpt_input_kind tlsrpt_input_kind(const void *p, size_t len);

/* The decoded report part of a message (msg, len bytes) into *ret (*ret_len bytes), at
 * most max bytes. 0, ERR_TLSRPT_NO_REPORT, ERR_TLSRPT_TOO_LARGE, or -ENOENT / -ENOSYS
 * when GMime cannot be loaded (libgmime-3.0.so.0); why (whylen bytes) says which part
 * was taken or why none. */
int tlsrpt_mail_extract(const char *msg, size_t len, size_t max, char **ret, size_t *ret_len,
                        char *why, size_t whylen);

#endif
