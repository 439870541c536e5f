/*
 * resolver/pol_engine.h - per-domain MTA-STS policy state machine
 *
 * cache -> TXT "_mta-sts.<domain>" -> HTTPS fetch -> sts_policy_parse -> cache, with the
 * rules of RFC 8461 sections 3.1, 3.3, 5.1, 10.2 (docs/rfc-notes.md section 5):
 * a valid cached policy is answered at once while its TXT id was checked within
 * recheck_interval. The id of a policy looked up within the last recheck_interval is
 * re-checked in the background before that runs out (a pass every quarter of it); a
 * lookup that still finds the re-check due, or finds a new id's policy being fetched, waits
 * for it within its timeout and is answered with the new policy (section 8.3: a lowered
 * policy applies from that lookup on), or with the cached one when the id is unchanged,
 * the fetch fails or the time runs out (section 5.1: never "no policy"; docs/cache.md).
 * A policy is re-fetched before it expires (refresh_before, jitter, refresh_concurrency),
 * so a body is never older than max_age: every cached policy is in a schedule ordered by
 * its refresh time (cache_mem's heap), and refreshes have fetch slots of their own;
 * discoveries started by lookups are bounded (max_discoveries, fetch_queue_max: over them
 * a lookup is answered as one that timed out, issue 16);
 * DNS or HTTPS failures keep a cached policy until it expires; "no policy" is cached for
 * negative_ttl, temporary failures for tempfail_ttl; concurrent lookups of a domain share
 * one discovery; a first lookup waits at most its timeout (discovery continues and fills the
 * cache). docs/socketmap.md lists what each state answers.
 *
 * Interface: pol_engine_new/new_on/reload/free, pol_engine_set_shared,
 *            pol_engine_set_store, pol_lookup,
 *            pol_lookup_cancel, pol_engine_counters, pol_engine_stats_add,
 *            pol_engine_pending, pol_engine_dns, pol_status_name
 * Threads:   main loop only.
 * Ownership: the engine owns its DNS client and fetcher (built from the cfg), borrows the
 *            cache and the cfg (until pol_engine_reload() gives a new one).
 * Errors:    lookups never fail: every outcome is a pol_answer. Runtime DNS/HTTPS errors
 *            are logged by the engine (with the reason and what happens next) and counted.
 */
#ifndef MTASTSD_POL_ENGINE_H
#define MTASTSD_POL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "cache_mem.h"
#include "cfg.h"
#include "loop.h"
#include "sts_policy.h"

struct pol_engine;
struct pol_waiter;
struct cache_redis;
struct dns_client;

/* Shared cache tier: a host waiting for another host's fetch polls the shared cache every
 * MIN ms at first, doubling up to MAX ms (ms). */
#define POL_SHARED_POLL_MIN_MS 20
#define POL_SHARED_POLL_MAX_MS 250
/* The fleet fetch lock lives fetch_timeout + 2 command timeouts + this margin (ms). */
#define POL_LOCK_MARGIN_MS 1000

enum pol_status {
	POL_POLICY = 0,    /* a policy applies (any mode; pf_reply decides the reply) */
	POL_NO_POLICY = 1, /* the domain has no MTA-STS policy (NXDOMAIN, no/bad STSv1 TXT) */
	POL_TEMPFAIL = 2,  /* discovery failed temporarily (DNS, fetch, invalid body) */
	POL_TIMEOUT = 3,   /* the lookup's timeout passed first; discovery goes on */
	POL_CANCELED = 4,  /* pol_lookup_cancel() or engine shutdown */
};
#define POL_STATUS_COUNT 5

struct pol_answer {
	enum pol_status status;
	const struct sts_policy *policy; /* POL_POLICY only; borrowed, valid in the callback */
	const char *id;                  /* policy or TXT id, "" when unknown; borrowed */
	int err;                         /* reason (ERR_*), 0 for a plain policy */
	const char *detail;              /* extra reason text (fetch detail), "" if none */
	int cached;                      /* 1 when answered from the cache without waiting */
};

typedef void pol_done_fn(const struct pol_answer *a, void *arg);

/* Counters for the admin endpoint (monotonic since start). */
struct pol_counters {
	uint64_t lookups;
	uint64_t answers[POL_STATUS_COUNT]; /* by enum pol_status */
	uint64_t cache_hits;                /* valid policy answered from the cache */
	uint64_t cache_negative_hits;       /* cached no-policy / tempfail answered */
	uint64_t cache_misses;              /* had to wait for a discovery */
	uint64_t coalesced;                 /* lookups that joined a discovery in flight */
	uint64_t discoveries;               /* jobs started (foreground + background) */
	uint64_t background_rechecks;       /* TXT id re-checks of a cached policy, proactive */
	uint64_t lookup_rechecks;           /* TXT id re-checks started by a lookup (due) */
	uint64_t recheck_waits;             /* lookups that waited for a re-check or new id */
	uint64_t recheck_timeout_cached;    /* ... and got the cached policy at their timeout */
	uint64_t background_refreshes;      /* re-fetches before expiry */
	uint64_t background_deferred;       /* background work postponed (concurrency full) */
	uint64_t rejected_discoveries;      /* lookups over max_discoveries: as timed out */
	uint64_t rejected_fetch_queue;      /* discoveries refused, the fetch queue full */
	uint64_t dns_ok, dns_nxdomain, dns_nodata, dns_servfail, dns_timeout, dns_other;
	uint64_t txt_none, txt_multiple, txt_syntax; /* no usable STSv1 record */
	uint64_t txt_unchanged, txt_changed;         /* id compared with a valid cached policy */
	uint64_t fetch_started, fetch_ok, fetch_invalid_policy;
	uint64_t policy_ip_mx_dropped; /* fetched policies with IP-address mx patterns dropped */
	uint64_t fetch_http, fetch_redirect, fetch_tls, fetch_connect, fetch_timeout;
	uint64_t fetch_too_large, fetch_content_type, fetch_other;
	uint64_t fetch_host_unknown, fetch_host_dns; /* policy host lookup: gone / failed */
	uint64_t outcome_no_policy;                  /* discoveries that ended in "no policy" */
	uint64_t outcome_tempfail; /* discoveries that ended in a temporary failure */
	uint64_t stale_kept;       /* failures that kept a valid cached policy */
	uint64_t policies_stored;  /* successful fetches stored */
	/* the shared cache tier (Valkey/Redis; all 0 without one) */
	uint64_t shared_hits;          /* policies taken from the shared cache */
	uint64_t shared_negative_hits; /* no-policy / tempfail outcomes taken from it */
	uint64_t shared_misses;        /* read before DNS, nothing usable there */
	uint64_t shared_unavailable;   /* could not be asked (down, slow, error): went direct */
	uint64_t shared_lock_waits;    /* another host held the fetch lock: waited */
	uint64_t shared_wait_adopted;  /* waits that ended with the other host's result */
	uint64_t shared_wait_expired;  /* waits that gave up and fetched directly */
	uint64_t shared_writes;        /* outcomes written to it */
	uint64_t shared_resync;        /* policies written back after an outage */
	uint64_t overcap_shared_reads; /* lookups over a cap that read the shared cache */
	uint64_t shared_conflicts;     /* shared policies unlike the valid cached one: not taken */
};

/* Build the engine's DNS client and fetcher from cfg. Returns 0 or their error. */
int pol_engine_new(struct loop *loop, const struct cfg_resolver *cfg, struct cache_mem *cache,
                   struct pol_engine **ret_e);
struct curlm;
/* pol_engine_new() whose fetchers run on the libcurl multi curlm (common/curlm.h; borrowed,
 * it must outlive the engine); NULL: each fetcher makes its own. */
int pol_engine_new_on(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
                      struct cache_mem *cache, struct pol_engine **ret_e);
/* Put the shared cache tier (Valkey/Redis) behind the memory cache, or remove it (NULL). The
 * engine borrows rc until it is removed or the engine freed. With it: a memory miss reads
 * it before any DNS; a fetch takes the fleet fetch lock first (or waits for the holder's
 * result); every outcome is written to it. It is never required to answer. */
void pol_engine_set_shared(struct pol_engine *e, struct cache_redis *rc);
/* The tier behind memory and before the shared one (the state database, cache_state.h):
 * a lookup that finds no unexpired entry in memory, and no discovery in flight for the
 * domain, calls fn(domain, now, arg) first; fn returns 1 when it put a valid policy into
 * the memory cache (then answered as a cached policy), 0 or an error otherwise (a miss as
 * before). fn NULL: none. */
typedef int pol_store_fn(const char *domain, time_t now, void *arg);
void pol_engine_set_store(struct pol_engine *e, pol_store_fn *fn, void *arg);
/* Switch to a new cfg: new DNS client and fetcher; discoveries in flight restart on them.
 * Returns 0, or the error of building them (then nothing changed). */
int pol_engine_reload(struct pol_engine *e, const struct cfg_resolver *cfg);
/* Cancels everything (waiters get POL_CANCELED). Returns NULL. */
struct pol_engine *pol_engine_free(struct pol_engine *e);
/* The engine's DNS client (borrowed: valid until the next pol_engine_reload() or
 * pol_engine_free()), for dns_client_new_like(): its servers, read once. */
const struct dns_client *pol_engine_dns(const struct pol_engine *e);

/* Look up domain (a normalised Policy Domain). done(answer, arg) runs exactly once: possibly
 * before pol_lookup() returns (cache hit, or POL_TIMEOUT with -ENOSPC beyond
 * max_discoveries, fetch_queue_max, RES_JOBS_MAX or RES_WAITERS_MAX, or the cached policy
 * when one is valid: then *ret_w is NULL), otherwise later with *ret_w the handle until
 * then. timeout_ms 0 = wait for the discovery however long it takes (its own DNS and
 * fetch timeouts bound it). When timeout_ms passes first, the answer is the valid cached
 * policy if there is one (cached = 1, err -ETIMEDOUT), else POL_TIMEOUT. */
void pol_lookup(struct pol_engine *e, const char *domain, uint64_t timeout_ms, pol_done_fn *done,
                void *arg, struct pol_waiter **ret_w);
/* done() runs at once with POL_CANCELED; the discovery goes on for the cache. */
void pol_lookup_cancel(struct pol_waiter *w);

const struct pol_counters *pol_engine_counters(const struct pol_engine *e);
struct stats;
/* Register the engine's metrics (lookups, answers, cache hits, discoveries, fetch and TXT
 * outcomes) in st, JSON paths relative to the resolver's object; st borrows e until it is
 * cleared or freed. */
void pol_engine_stats_add(const struct pol_engine *e, struct stats *st);
/* Waiting lookups and discoveries in flight. */
size_t pol_engine_waiters(const struct pol_engine *e);
size_t pol_engine_jobs(const struct pol_engine *e);
/* Of the discoveries: started by lookups (max_discoveries), waiting for a fetch slot
 * (fetch_queue_max), and background (refresh_concurrency). */
size_t pol_engine_foreground(const struct pol_engine *e);
size_t pol_engine_fetch_queued(const struct pol_engine *e);
size_t pol_engine_background(const struct pol_engine *e);
const char *pol_status_name(enum pol_status s);

#endif
