/*
 * tlsrpt/tlsrpt_store.h - one received TLS report -> the state database (RFC 8460)
 *
 * The one entry point of both receivers (`mtastsd tlsrpt import`, the HTTPS receiver):
 * gunzip (bounded), parse (tlsrpt_report.h), check that it is about a domain we publish,
 * and store it in ONE transaction: the report row (its raw bytes gzip-compressed) and the
 * session rows of its policies for published domains (the others are in the raw report
 * only); then, in a second short transaction, the retention and size bounds
 * (statedb_tlsrpt_prune()). A report
 * that fails parsing is stored raw with the reason (status "malformed"), no session row,
 * within its own budget (max_stored_bytes / TLSRPT_MALFORMED_SHARE, evicted first: it
 * never pushes a parsed report out);
 * a report over a size limit, a duplicate (same organization-name and report-id; with
 * other content than the stored one it is a conflict, nothing written either) or one
 * about no published domain is not stored at all. docs/tlsrpt.md.
 *
 * Interface: tlsrpt_ingest(), tlsrpt_outcome_name(), tlsrpt_day()
 * Threads:   any thread with its own statedb connection (statedb.h).
 * Ownership: borrows everything; nothing kept after the call.
 * Errors:    the outcome says what happened; the return value is 0 or the error behind a
 *            DB_BUSY/DB_ERROR/NO_MEMORY outcome (ERR_STATEDB_*, -ENOMEM). Never logs.
 */
#ifndef MTASTSD_TLSRPT_STORE_H
#define MTASTSD_TLSRPT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct statedb;

enum tlsrpt_outcome {
	TLSRPT_STORED = 0,  /* new report stored */
	TLSRPT_DUPLICATE,   /* (organization-name, report-id) already stored: nothing written */
	TLSRPT_MALFORMED,   /* stored raw with the reason, no sessions counted */
	TLSRPT_TOO_LARGE,   /* over max_report or max_ratio: nothing stored */
	TLSRPT_UNPUBLISHED, /* no policy of the report is for a published domain: not stored */
	TLSRPT_DB_BUSY,     /* the database is locked: try again later, nothing stored */
	TLSRPT_DB_ERROR,    /* the database failed (damaged, full, read-only): nothing stored */
	TLSRPT_CONFLICT,    /* (organization-name, report-id) already stored with other content:
	                     * nothing written, the first one stays (docs/tlsrpt.md "Trust") */
	TLSRPT_OUTCOMES
};

struct tlsrpt_limits {
	size_t max_report;       /* decompressed report, bytes */
	unsigned max_ratio;      /* decompressed / compressed */
	time_t retention_s;      /* reports received longer ago are deleted */
	size_t max_stored_bytes; /* raw reports kept in all (compressed), bytes */
};

/* 1 when domain (normalised) is one we publish, else 0. */
typedef int tlsrpt_published_fn(const char *domain, void *arg);

struct tlsrpt_input {
	const void *data; /* the report as received: gzip (magic 1f 8b) or JSON */
	size_t len;
	const char *source; /* "https", "mail", "file" */
	const char *peer;   /* client address, or NULL */
	time_t now;         /* wall clock, s */
};

/* Store one report (see the header comment). published may be NULL: every domain counts
 * as published. The outcome goes to *ret_outcome, a one-line reason for MALFORMED,
 * TOO_LARGE, UNPUBLISHED and the DB outcomes to why (whylen bytes), and for STORED and
 * DUPLICATE the organisation and report id ("org 'x' report 'y'"). Returns 0, or the
 * error code behind DB_BUSY/DB_ERROR. */
int tlsrpt_ingest(struct statedb *db, const struct tlsrpt_input *in,
                  const struct tlsrpt_limits *lim, tlsrpt_published_fn *published, void *arg,
                  enum tlsrpt_outcome *ret_outcome, char *why, size_t whylen);

/* "stored", "duplicate", "malformed", "too_large", "unpublished", "db_busy", "db_error",
 * "conflict":
 * the outcome label of mtastsd_tlsrpt_reports_total. Static string. */
const char *tlsrpt_outcome_name(enum tlsrpt_outcome o);

/* Days since 1970-01-01 UTC of t (the "day" of statedb_tlsrpt_row). */
int64_t tlsrpt_day(time_t t);

#endif
