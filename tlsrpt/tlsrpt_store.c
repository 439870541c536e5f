/*
 * tlsrpt/tlsrpt_store.c - gunzip, parse, and store one TLS report in one transaction
 *
 * Interface: see tlsrpt_store.h
 * Threads:   the caller's, with the caller's statedb connection.
 * Ownership: temporary buffers only.
 * Errors:    outcome + reason; never logs (the receivers log once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "tlsrpt_gz.h"
#include "tlsrpt_report.h"
#include "tlsrpt_store.h"

static const char *const tlsrpt_outcome_names[TLSRPT_OUTCOMES] = {
        [TLSRPT_STORED] = "stored",           [TLSRPT_DUPLICATE] = "duplicate",
        [TLSRPT_MALFORMED] = "malformed",     [TLSRPT_TOO_LARGE] = "too_large",
        [TLSRPT_UNPUBLISHED] = "unpublished", [TLSRPT_DB_BUSY] = "db_busy",
        [TLSRPT_DB_ERROR] = "db_error",       [TLSRPT_CONFLICT] = "conflict",
};

const char *
tlsrpt_outcome_name(enum tlsrpt_outcome o)
{
	return (unsigned)o < TLSRPT_OUTCOMES ? tlsrpt_outcome_names[o] : "unknown";
}

int64_t
tlsrpt_day(time_t t)
{
	int64_t s = (int64_t)t;

	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

/* The space-separated mx-host patterns of a policy into buf. */
static void
tlsrpt_mx_join(const struct tlsrpt_policy *p, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < p->n_mx_hosts && used < len; i++) {
		n = snprintf(buf + used, len - used, "%s%s", i > 0 ? " " : "", p->mx_hosts[i]);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

/* What the receivers pass on to the storage of one report. */
struct tlsrpt_pub {
	tlsrpt_published_fn *fn; /* NULL: every domain is published */
	void *arg;
};

static int
tlsrpt_pub_has(const struct tlsrpt_pub *pub, const char *domain)
{
	return pub->fn == NULL || pub->fn(domain, pub->arg);
}

/* The session rows of one parsed report: those of the policies for a published domain
 * only. A report may name any domain, and anyone can send one: a row per domain of other
 * people would give the summaries, the metrics and the status page a series per name an
 * attacker makes up (docs/tlsrpt.md "A report about a domain we do not publish"). */
static int
tlsrpt_store_rows(struct statedb *db, int64_t id, const struct tlsrpt_report *rp,
                  const struct tlsrpt_pub *pub)
{
	char mx[TLSRPT_STRING_MAX + 1];
	struct statedb_tlsrpt_row row;
	uint64_t listed;
	size_t i, j, n_fail_rows = 0;
	int r;

	for (i = 0; i < rp->n_policies; i++) {
		const struct tlsrpt_policy *p = &rp->policies[i];

		if (!tlsrpt_pub_has(pub, p->domain))
			continue;
		memset(&row, 0, sizeof(row));
		row.domain = p->domain;
		row.day = tlsrpt_day(rp->start);
		row.policy_type = p->type;
		if (p->success > 0) {
			tlsrpt_mx_join(p, mx, sizeof(mx));
			row.result = "success";
			row.mx_host = mx;
			row.sessions = p->success;
			if ((r = statedb_tlsrpt_row_add(db, id, &row)) < 0)
				return r;
		}
		listed = 0;
		for (j = 0; j < p->n_failures; j++) {
			const struct tlsrpt_failure *f = &p->failures[j];

			if (f->count == 0)
				continue;
			/* bounded rows per report: the rest of the details is counted below,
			 * with the failures the details do not describe */
			if (n_fail_rows >= TLSRPT_FAILURE_ROWS_MAX)
				break;
			n_fail_rows++;
			row.result = f->result_type;
			row.mx_host = f->mx_host;
			row.sessions = f->count;
			listed += f->count;
			if ((r = statedb_tlsrpt_row_add(db, id, &row)) < 0)
				return r;
		}
		/* Failures the summary counts but failure-details does not describe (it is
		 * optional, and reporters may cap it; so do we, TLSRPT_FAILURE_ROWS_MAX). */
		if (p->failure > listed) {
			row.result = "unspecified";
			row.mx_host = NULL;
			row.sessions = p->failure - listed;
			if ((r = statedb_tlsrpt_row_add(db, id, &row)) < 0)
				return r;
		}
	}
	return 0;
}

/* One transaction: the report (and its rows when rp != NULL), then the bounds. Returns
 * the outcome; *ret_err the database error. */
static enum tlsrpt_outcome
tlsrpt_store_tx(struct statedb *db, const struct statedb_tlsrpt_report *row,
                const struct tlsrpt_report *rp, const struct tlsrpt_input *in,
                const struct tlsrpt_limits *lim, const struct tlsrpt_pub *pub, int *ret_err)
{
	int64_t id = 0;
	int r;

	*ret_err = 0;
	r = statedb_begin(db);
	if (r == 0)
		r = statedb_tlsrpt_add(db, row, &id);
	if (r == 1) {
		statedb_rollback(db);
		return TLSRPT_DUPLICATE;
	}
	if (r == 0 && rp != NULL)
		r = tlsrpt_store_rows(db, id, rp, pub);
	if (r == 0)
		r = statedb_commit(db);
	if (r < 0) {
		statedb_rollback(db);
		*ret_err = r;
		return r == ERR_STATEDB_LOCKED ? TLSRPT_DB_BUSY : TLSRPT_DB_ERROR;
	}
	/* The bounds in a transaction of their own: the write lock is released between the
	 * two, so that the policy cache's batch on the event loop (STATEDB_LOOP_BUSY_MS) gets
	 * it in the gap. A pruning that fails is done by the next report. */
	if (statedb_begin(db) == 0) {
		if (statedb_tlsrpt_prune(db, in->now - lim->retention_s, lim->max_stored_bytes,
		                         lim->max_stored_bytes / TLSRPT_MALFORMED_SHARE,
		                         NULL) < 0 ||
		    statedb_commit(db) < 0)
			statedb_rollback(db);
	}
	return rp != NULL ? TLSRPT_STORED : TLSRPT_MALFORMED;
}

/* Whether the report stored under rp's (organization-name, report-id) has the text of
 * this one (jlen bytes of JSON), byte for byte once decompressed. 1 also when it cannot
 * be read (a duplicate then, as before). */
static int
tlsrpt_same(struct statedb *db, const struct tlsrpt_report *rp, const char *text, size_t jlen,
            const struct tlsrpt_limits *lim)
{
	void *raw = NULL;
	char *old = NULL;
	size_t rawlen = 0, oldlen = 0;
	int same = 1;

	if (statedb_tlsrpt_raw(db, rp->org, rp->report_id, &raw, &rawlen) != 0)
		return 1;
	if (tlsrpt_gunzip(raw, rawlen, lim->max_report, 0, &old, &oldlen) == 0)
		same = oldlen == jlen && memcmp(old, text, jlen) == 0;
	free(old);
	free(raw);
	return same;
}

int
tlsrpt_ingest(struct statedb *db, const struct tlsrpt_input *in, const struct tlsrpt_limits *lim,
              tlsrpt_published_fn *published, void *arg, enum tlsrpt_outcome *ret_outcome,
              char *why, size_t whylen)
{
	const struct tlsrpt_pub pub = {.fn = published, .arg = arg};
	struct statedb_tlsrpt_report row;
	struct tlsrpt_report *rp = NULL;
	char *json = NULL, *gz = NULL, reason[256];
	const char *text;
	size_t jlen = 0, gzlen = 0, i;
	int r, err = 0, is_gz;

	if (whylen > 0)
		why[0] = '\0';
	reason[0] = '\0';
	memset(&row, 0, sizeof(row));
	row.source = in->source;
	row.peer = in->peer;
	row.received_at = in->now;
	is_gz = tlsrpt_is_gzip(in->data, in->len);
	if (is_gz) {
		r = tlsrpt_gunzip(in->data, in->len, lim->max_report, lim->max_ratio, &json, &jlen);
		if (r == ERR_TLSRPT_TOO_LARGE) {
			(void)snprintf(why, whylen,
			               "decompressed report over %zu bytes or %u times "
			               "its %zu compressed bytes",
			               lim->max_report, lim->max_ratio, in->len);
			*ret_outcome = TLSRPT_TOO_LARGE;
			return 0;
		}
		if (r == -ENOMEM) {
			(void)snprintf(why, whylen, "out of memory");
			*ret_outcome = TLSRPT_DB_ERROR;
			return r;
		}
		if (r < 0)
			(void)snprintf(reason, sizeof(reason), "%s", err_str(r));
		text = json;
	} else {
		if (in->len > lim->max_report) {
			(void)snprintf(why, whylen, "report over %zu bytes", lim->max_report);
			*ret_outcome = TLSRPT_TOO_LARGE;
			return 0;
		}
		text = in->data;
		jlen = in->len;
	}
	if (reason[0] == '\0') {
		r = tlsrpt_report_parse(text, jlen, &rp, reason, sizeof(reason));
		if (r == ERR_TLSRPT_TOO_LARGE) {
			/* more than json-c may build: refused, like a bomb, nothing stored */
			(void)snprintf(why, whylen, "%s", reason);
			*ret_outcome = TLSRPT_TOO_LARGE;
			goto done;
		}
	}
	if (rp != NULL && rp->end > in->now + TLSRPT_FUTURE_SKEW_S) {
		/* evidence for days that have not come: kept raw, counted nowhere */
		(void)snprintf(reason, sizeof(reason),
		               "date-range ends in the future (more than %d s after its arrival)",
		               TLSRPT_FUTURE_SKEW_S);
		(void)tlsrpt_report_free(rp);
		rp = NULL;
	}
	/* The raw report, kept gzip-compressed: as received when it came as gzip. */
	if (is_gz) {
		row.raw = in->data;
		row.raw_len = in->len;
	} else {
		if (tlsrpt_gzip(in->data, in->len, &gz, &gzlen) < 0) {
			free(json);
			(void)tlsrpt_report_free(rp);
			(void)snprintf(why, whylen, "out of memory");
			*ret_outcome = TLSRPT_DB_ERROR;
			return -ENOMEM;
		}
		row.raw = gz;
		row.raw_len = gzlen;
	}
	row.raw_size = json != NULL || !is_gz ? jlen : 0;
	if (rp == NULL) {
		row.status = "malformed";
		row.reason = reason;
		*ret_outcome = tlsrpt_store_tx(db, &row, NULL, in, lim, &pub, &err);
		if (*ret_outcome == TLSRPT_MALFORMED)
			(void)snprintf(why, whylen, "%s", reason);
		else
			(void)snprintf(why, whylen, "malformed (%s), not stored: %s", reason,
			               err_str(err));
		goto done;
	}
	if (published != NULL) {
		for (i = 0; i < rp->n_policies; i++)
			if (tlsrpt_pub_has(&pub, rp->policies[i].domain))
				break;
		if (i == rp->n_policies) {
			(void)snprintf(why, whylen,
			               "org '%.64s' report '%.64s': policy-domain '%.64s' "
			               "is not published here",
			               rp->org, rp->report_id, rp->policies[0].domain);
			*ret_outcome = TLSRPT_UNPUBLISHED;
			goto done;
		}
	}
	row.org = rp->org;
	row.report_id = rp->report_id;
	row.contact = rp->contact;
	row.start_at = rp->start;
	row.end_at = rp->end;
	row.status = "ok";
	*ret_outcome = tlsrpt_store_tx(db, &row, rp, in, lim, &pub, &err);
	if (*ret_outcome == TLSRPT_DUPLICATE && !tlsrpt_same(db, rp, text, jlen, lim))
		*ret_outcome = TLSRPT_CONFLICT;
	if (err < 0)
		(void)snprintf(why, whylen, "org '%.64s' report '%.64s': %s", rp->org,
		               rp->report_id, err_str(err));
	else
		(void)snprintf(why, whylen, "org '%.64s' report '%.64s'", rp->org, rp->report_id);
done:
	/* why holds text the reporter wrote: printable ASCII only (docs/style.md section 7) */
	for (i = 0; i < whylen && why[i] != '\0'; i++)
		if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] >= 0x7f)
			why[i] = '?';
	free(json);
	free(gz);
	(void)tlsrpt_report_free(rp);
	return err;
}
