/*
 * daemon/tlsrpt_recv.c - the HTTPS receiver's storage: a pool of state database
 *                        connections used from libmicrohttpd's threads
 *
 * Interface: see tlsrpt_recv.h
 * Threads:   tlsrpt_recv_store() in MHD threads; the rest on the main thread.
 * Ownership: the pool's connections, the configuration copy.
 * Errors:    logged once per report; the sender gets the HTTP status.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "err.h"
#include "log.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "tlsrpt_recv.h"
#include "tlsrpt_store.h"
#include "xalloc.h"

/* Connections kept open for reuse (tlsrpt.max_uploads bounds how many are in use). */
#define TLSRPT_RECV_POOL_MAX 16
/* At most one warning per this many ms about reports that conflict with a stored one (an
 * attacker may send thousands); the others at debug level, all counted. */
#define TLSRPT_RECV_CONFLICT_LOG_MS 60000

struct tlsrpt_recv {
	pthread_mutex_t lock;
	char *state_path;
	struct statedb *pool[TLSRPT_RECV_POOL_MAX]; /* idle connections */
	size_t n_pool;
	struct tlsrpt_limits lim;
	char **domains; /* published domains */
	size_t n_domains;
	atomic_ulong outcomes[TLSRPT_OUTCOMES];
	struct log_rate conflict_log; /* under lock */
};

static void
tlsrpt_recv_set(struct tlsrpt_recv *r, const struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < r->n_domains; i++)
		free(r->domains[i]);
	free(r->domains);
	r->n_domains = cfg->publisher.n_domains;
	r->domains = xcalloc(r->n_domains > 0 ? r->n_domains : 1, sizeof(*r->domains));
	for (i = 0; i < r->n_domains; i++)
		r->domains[i] = xstrdup(cfg->publisher.domains[i].domain);
	r->lim.max_report = cfg->tlsrpt.max_report;
	r->lim.max_ratio = cfg->tlsrpt.max_ratio;
	r->lim.retention_s = (time_t)(cfg->tlsrpt.retention_ms / 1000);
	r->lim.max_stored_bytes = cfg->tlsrpt.max_stored_bytes;
}

unsigned
tlsrpt_recv_fd_want(const struct cfg *cfg)
{
	/* a connection is opened only when none is idle, by an upload holding one of the
	 * max_uploads slots: never more open than max_uploads */
	if (cfg->publisher.n_domains == 0)
		return 0;
	return cfg->tlsrpt.max_uploads * FD_PER_STATEDB;
}

struct tlsrpt_recv *
tlsrpt_recv_new(const struct cfg *cfg, const char *state_path)
{
	struct tlsrpt_recv *r = xcalloc(1, sizeof(*r));
	size_t i;

	(void)pthread_mutex_init(&r->lock, NULL);
	r->state_path = xstrdup(state_path);
	for (i = 0; i < TLSRPT_OUTCOMES; i++)
		atomic_init(&r->outcomes[i], 0);
	tlsrpt_recv_set(r, cfg);
	return r;
}

void
tlsrpt_recv_reload(struct tlsrpt_recv *r, const struct cfg *cfg)
{
	(void)pthread_mutex_lock(&r->lock);
	tlsrpt_recv_set(r, cfg);
	(void)pthread_mutex_unlock(&r->lock);
}

/* Under r->lock (the domains may be replaced by a reload). */
static int
tlsrpt_recv_published(const char *domain, void *arg)
{
	struct tlsrpt_recv *r = arg;
	size_t i;

	for (i = 0; i < r->n_domains; i++)
		if (strcmp(r->domains[i], domain) == 0)
			return 1;
	return 0;
}

static int
tlsrpt_recv_published_locked(const char *domain, void *arg)
{
	struct tlsrpt_recv *r = arg;
	int found;

	(void)pthread_mutex_lock(&r->lock);
	found = tlsrpt_recv_published(domain, r);
	(void)pthread_mutex_unlock(&r->lock);
	return found;
}

/* A report whose (organization-name, report-id) is stored with other content: one of the
 * two is forged or a reporter reuses ids. The first one stays; a warning at most once per
 * TLSRPT_RECV_CONFLICT_LOG_MS, counted (outcome "conflict"). */
static void
tlsrpt_recv_conflict(struct tlsrpt_recv *r, const char *peer, const char *why)
{
	struct timespec ts;
	uint64_t now_ms, held = 0;
	int due;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	(void)pthread_mutex_lock(&r->lock);
	due = log_rate_due(&r->conflict_log, now_ms, TLSRPT_RECV_CONFLICT_LOG_MS, &held);
	(void)pthread_mutex_unlock(&r->lock);
	if (due)
		log_warn("tlsrpt: report from %s not stored: %s is already stored with other "
		         "content (one of them forged, or the reporter reuses report ids); the "
		         "first one stays, answered 409%s",
		         peer, why, held > 0 ? " (and others since the last warning)" : "");
	else
		log_debug("tlsrpt: report from %s not stored: %s is already stored with other "
		          "content",
		          peer, why);
}

unsigned
tlsrpt_recv_store(void *arg, const void *body, size_t len, const char *peer, char *msg,
                  size_t msglen)
{
	struct tlsrpt_recv *r = arg;
	struct tlsrpt_input in = {
	        .data = body, .len = len, .source = "https", .peer = peer, .now = time(NULL)};
	enum tlsrpt_outcome o = TLSRPT_DB_ERROR;
	struct tlsrpt_limits lim;
	struct statedb *db = NULL;
	char why[512], err[512];
	int rc;

	(void)pthread_mutex_lock(&r->lock);
	if (r->n_pool > 0)
		db = r->pool[--r->n_pool];
	lim = r->lim;
	(void)pthread_mutex_unlock(&r->lock);
	if (db == NULL) {
		rc = statedb_open(r->state_path, &db, err, sizeof(err));
		if (rc < 0) {
			log_warn("tlsrpt: report from %s not stored: state database %s: %s (%s); "
			         "answered 503",
			         peer, r->state_path, err_str(rc), err);
			atomic_fetch_add(&r->outcomes[TLSRPT_DB_ERROR], 1);
			(void)snprintf(msg, msglen, "storage unavailable, try again later");
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		}
		/* a libmicrohttpd thread: it may wait a moment for the other writers */
		statedb_busy_wait(db, TLSRPT_STORE_BUSY_MS);
	}
	(void)tlsrpt_ingest(db, &in, &lim, tlsrpt_recv_published_locked, r, &o, why, sizeof(why));
	(void)pthread_mutex_lock(&r->lock);
	if (r->n_pool < TLSRPT_RECV_POOL_MAX && o != TLSRPT_DB_ERROR) {
		r->pool[r->n_pool++] = db;
		db = NULL;
	}
	(void)pthread_mutex_unlock(&r->lock);
	(void)statedb_close(db); /* a failed connection is not reused */
	atomic_fetch_add(&r->outcomes[o], 1);
	switch (o) {
	case TLSRPT_STORED:
		log_info("tlsrpt: report from %s stored: %s", peer, why);
		(void)snprintf(msg, msglen, "stored");
		return MHD_HTTP_CREATED;
	case TLSRPT_DUPLICATE:
		log_info("tlsrpt: report from %s already stored: %s", peer, why);
		(void)snprintf(msg, msglen, "already stored");
		return MHD_HTTP_OK;
	case TLSRPT_MALFORMED:
		log_notice("tlsrpt: malformed report from %s, kept raw: %s", peer, why);
		(void)snprintf(msg, msglen, "malformed report: %s", why);
		return MHD_HTTP_BAD_REQUEST;
	case TLSRPT_TOO_LARGE:
		log_notice("tlsrpt: report from %s refused: %s", peer, why);
		(void)snprintf(msg, msglen, "report too large: %s", why);
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case TLSRPT_CONFLICT:
		tlsrpt_recv_conflict(r, peer, why);
		(void)snprintf(msg, msglen,
		               "not stored: a report with this organization-name and report-id "
		               "and other content is stored");
		return MHD_HTTP_CONFLICT;
	case TLSRPT_UNPUBLISHED:
		log_notice("tlsrpt: report from %s not stored: %s", peer, why);
		(void)snprintf(msg, msglen,
		               "not stored: no policy domain of the report is "
		               "published here");
		return MHD_HTTP_UNPROCESSABLE_CONTENT;
	default:
		log_warn("tlsrpt: report from %s not stored: %s; answered 503", peer, why);
		(void)snprintf(msg, msglen, "storage busy, try again later");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
}

void
tlsrpt_recv_outcomes(const struct tlsrpt_recv *r, uint64_t *ret, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < TLSRPT_OUTCOMES; i++)
		ret[i] = r != NULL ? atomic_load(&r->outcomes[i]) : 0;
}

struct tlsrpt_recv *
tlsrpt_recv_free(struct tlsrpt_recv *r)
{
	size_t i;

	if (r == NULL)
		return NULL;
	for (i = 0; i < r->n_pool; i++)
		(void)statedb_close(r->pool[i]);
	for (i = 0; i < r->n_domains; i++)
		free(r->domains[i]);
	free(r->domains);
	free(r->state_path);
	(void)pthread_mutex_destroy(&r->lock);
	free(r);
	return NULL;
}
