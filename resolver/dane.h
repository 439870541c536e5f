/*
 * resolver/dane.h - does DANE (RFC 7672) protect mail to a next hop? "DANE first" (RFC 8461 s2)
 *
 * For a destination domain (a next hop "domain" or "domain:port", RFC 7672 section 2.2.1):
 * the MX RRset, then for every MX host (the domain itself when it has no MX, RFC 5321
 * section 5.1) its A and AAAA RRsets and the TLSA RRset at _<port>._tcp.<host> (port 25
 * unless the next hop names one). For a relay ("[host]" or "[host]:port", RFC 7672 section
 * 2.2.2, a non-MX destination) no MX lookup: the host itself, its addresses and the TLSA
 * RRset at _<port>._tcp.<host>; the name comes from the local configuration, so it counts as
 * a secure MX RRset would. Every query goes through the configured resolver with the DO
 * bit. The AD bit counts only when every configured resolver is on loopback (dns_client.h):
 * the validating resolver must run on this host, as Postfix's DANE support requires
 * (docs/dane.md). Otherwise DANE cannot apply: every lookup is DANE_NONE at once, with the
 * reason DANE_UNTRUSTED_REASON, and no DNS query is made (nor cached: an answer forged on
 * the path, a SERVFAIL say, must not defer mail). The findings give a verdict
 * (dane_decide(), no I/O):
 *
 *   DANE_ONLY  MX RRset secure (or a relay), every host with an address has a secure, usable
 *              TLSA RRset (usage 2 or 3, selector 0/1, matching type 0/1/2: RFC 7672 s3.1)
 *   DANE_MAY   MX RRset secure (or a relay), some host has a secure TLSA RRset (usable or
 *              not) but not all have usable ones
 *   DANE_MAY_UNLESS_STS   MX RRset insecure, some MX host secure with TLSA records: "dane"
 *              only where no MTA-STS policy applies. An insecure MX RRset authenticates
 *              nothing about which hosts are the domain's (RFC 7672 section 2.2.1): anyone on
 *              the path can forge one naming a host of theirs with TLSA records of theirs.
 *   DANE_TEMP  a lookup failed (SERVFAIL, timeout) where DANE could apply: the TLSA RRset of
 *              a host with secure addresses of a secure MX RRset or relay, the addresses of
 *              any host of a secure MX RRset or of the relay, or the MX RRset itself (whether
 *              DANE applies is then unknown). Never a fallback to MTA-STS.
 *   DANE_TEMP_UNLESS_STS  MX RRset insecure, the TLSA lookup of a host with secure addresses
 *              failed: TEMP only where no MTA-STS policy applies (as DANE_MAY_UNLESS_STS)
 *   DANE_NONE  DANE does not apply (insecure, no TLSA, NXDOMAIN, null MX): MTA-STS decides
 *
 * Results are cached per next hop ("domain", "domain:port", "[host]", "[host]:port") with
 * their own lifetime: the smallest TTL of the answers used (negative answers: the SOA rule
 * of RFC 2308), bounded by opts ttl_min/ttl_max; DANE_TEMP for opts temp_ttl. Concurrent
 * lookups of a next hop share one job. An expired result is still answered at once while a
 * refresh runs, and a refresh whose MX lookup fails keeps the previous result, but only
 * while the records it came from are within their TTL (RFC 8767 serve-stale, bounded by the
 * records' own TTLs and by opts stale_max past the expiry).
 *
 * Interface: dane_new(), dane_new_like(), dane_reload(), dane_reload_like(), dane_free(),
 *            dane_lookup(), dane_lookup_cancel(),
 *            dane_counters(), dane_stats_add(), dane_cache_entries(), dane_jobs_in_flight(),
 *            dane_ad_trusted(), dane_decide(),
 *            dane_tlsa_usable(), dane_ttl_ms(), dane_verdict_name(), dane_host_state_name(),
 *            dane_opts_default(), dane_parse_mx(), dane_parse_tlsa(), dane_findings_free()
 * Threads:   main loop only.
 * Ownership: struct dane owns its DNS client (built from the cfg), its cache and its jobs;
 *            it borrows the cfg until dane_reload() gives a new one. Results passed to
 *            dane_done_fn are valid only during the callback.
 * Errors:    lookups never fail: every outcome is a dane_result. DNS errors are findings.
 */
#ifndef MTASTSD_DANE_H
#define MTASTSD_DANE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "domain.h"
#include "loop.h"

/* Limits (docs/style.md section 6; candidates for common/limits.h). */
/* MX hosts examined per domain. Postfix tries at most smtp_mx_address_limit (5) addresses;
 * domains with more hosts than this get at most DANE_MAY (Postfix then decides per host). */
#define DANE_MX_MAX 16
/* Lifetime bounds of a cached result. The minimum bounds the query rate for TTL-0 records;
 * the maximum matches the default MTA-STS TXT recheck interval (1 h). */
#define DANE_TTL_MIN_MS (60 * 1000)
#define DANE_TTL_MAX_MS (3600 * 1000)
/* A DANE_TEMP result: resolver.tempfail_ttl, at most this long (Postfix retries anyway). */
#define DANE_TEMP_TTL_MAX_MS (60 * 1000)
/* RFC 8767 section 5: serve stale data at most 1 to 3 days past its expiry; we take 1 day as
 * an upper bound. The records' own TTLs bound it first: a result is never served, nor kept
 * through a failed refresh, once the smallest TTL of the records it came from has run out. */
#define DANE_STALE_MAX_MS (86400ull * 1000)
/* Default bound of the cache (cache.max_entries overrides it). */
#define DANE_CACHE_MAX 100000
/* Text of a verdict's reason. */
#define DANE_REASON_MAX 200
/* The reason of every verdict while the resolvers are not all on loopback. */
#define DANE_UNTRUSTED_REASON "AD bit ignored: resolver not on loopback"

struct dane;
struct dane_waiter;
struct dns_client;

enum dane_verdict {
	DANE_NONE = 0,     /* DANE does not apply: MTA-STS decides */
	DANE_MAY = 1,      /* reply "dane" */
	DANE_ONLY = 2,     /* reply "dane-only" */
	DANE_TEMP = 3,     /* reply TEMP: could not tell, where DANE could apply */
	DANE_CANCELED = 4, /* dane_lookup_cancel() or shutdown */
	/* MX RRset insecure (RFC 7672 section 2.2.1): an MTA-STS policy that applies (an
	 * enforce policy, fresh or cached) decides; only without one these reply "dane" / TEMP */
	DANE_MAY_UNLESS_STS = 5,
	DANE_TEMP_UNLESS_STS = 6,
};
#define DANE_VERDICT_COUNT 7

enum dane_host_state {
	DANE_HOST_USABLE = 0,    /* secure addresses, secure TLSA RRset with a usable record */
	DANE_HOST_UNUSABLE = 1,  /* secure addresses, secure TLSA RRset, no usable record */
	DANE_HOST_NO_TLSA = 2,   /* secure addresses, no TLSA RRset (NXDOMAIN/NODATA) */
	DANE_HOST_INSECURE = 3,  /* addresses or TLSA RRset not validated (no AD) */
	DANE_HOST_NO_ADDR = 4,   /* neither A nor AAAA records: not a usable MX host */
	DANE_HOST_TLSA_FAIL = 5, /* secure addresses, TLSA lookup failed (SERVFAIL, timeout) */
	DANE_HOST_ADDR_FAIL = 6, /* no address answer: the lookups failed */
};

struct dane_host {
	char *name;    /* owned, normalised, no trailing dot */
	uint16_t pref; /* MX preference (0 for the implicit MX) */
	enum dane_host_state state;
	int addr_secure; /* the address records found were all validated */
	int err;         /* the failed lookup's ERR_DNS_* for the *_FAIL states, else 0 */
	unsigned n_tlsa, n_usable;
};

struct dane_findings {
	int relay;       /* a "[host]" next hop: no MX lookup, the one host is the relay itself */
	uint16_t port;   /* TCP port of the connections: the TLSA names are _<port>._tcp.<host> */
	int mx_err;      /* 0, ERR_DNS_NODATA (implicit MX), ERR_DNS_NXDOMAIN, or the failure */
	int mx_secure;   /* the MX answer (or its denial) had a trusted AD bit; 0 for a relay */
	int implicit_mx; /* no MX RRset: the domain itself is the host (RFC 5321 5.1) */
	int null_mx;     /* "MX 0 ." (RFC 7505): the domain accepts no mail */
	size_t n_hosts;  /* hosts examined (at most DANE_MX_MAX) */
	size_t n_hosts_total;    /* distinct MX hosts in the RRset */
	struct dane_host *hosts; /* owned array of n_hosts, by preference */
	uint32_t ttl_s;          /* smallest TTL of the answers used */
};

struct dane_result {
	enum dane_verdict verdict;
	const char *reason;            /* borrowed, never NULL */
	const struct dane_findings *f; /* borrowed; NULL for DANE_CANCELED and waiter timeouts */
	int cached;                    /* answered from the cache without waiting */
	int stale;                     /* ... from an expired entry while a refresh runs */
	int ad_trusted;                /* the resolvers are on loopback (AD bit used) */
	int unfinished; /* DANE_TEMP because the lookup did not finish, not because of the
	                 * domain: its timeout passed, resolver.max_discoveries DANE jobs (or
	                 * RES_JOBS_MAX/RES_WAITERS_MAX) in flight, or the DNS wait queue full
	                 * (ERR_DNS_BUSY). lookup.c lets an MTA-STS policy answer then. */
};

typedef void dane_done_fn(const struct dane_result *r, void *arg);

struct dane_opts {
	uint64_t ttl_min_ms, ttl_max_ms; /* bounds of a result's lifetime */
	uint64_t temp_ttl_ms;            /* lifetime of a DANE_TEMP result */
	uint64_t stale_max_ms;           /* serve-stale window past the expiry */
	size_t max_entries;              /* cache bound (least recently used evicted) */
};

struct dane_counters {
	uint64_t lookups;
	uint64_t answers[DANE_VERDICT_COUNT]; /* by enum dane_verdict, as answered */
	uint64_t cache_hits;                  /* fresh result answered at once */
	uint64_t stale_served;                /* expired result answered while refreshing */
	uint64_t stale_kept;                  /* refresh failed (MX unknown), old result kept */
	uint64_t cache_misses;                /* had to wait for a job */
	uint64_t coalesced;                   /* lookups that joined a job in flight */
	uint64_t jobs;                        /* jobs started (including refreshes) */
	uint64_t queries;                     /* DNS queries sent */
	uint64_t timeouts;                    /* lookups answered DANE_TEMP by their timeout */
	uint64_t evictions;                   /* cache entries dropped for room */
	uint64_t rejected;  /* answered as timed out without a job (max_discoveries, tables) */
	uint64_t abandoned; /* jobs stopped, their last waiter gone, queries still unsent */
};

/* The defaults: DANE_TTL_MIN_MS, DANE_TTL_MAX_MS, DANE_TEMP_TTL_MAX_MS, DANE_STALE_MAX_MS,
 * DANE_CACHE_MAX. */
struct dane_opts dane_opts_default(void);

/* Build the DNS client from cfg (resolver.dns_servers). opts NULL: the defaults; temp_ttl_ms
 * 0: cfg->tempfail_ttl_ms bounded by DANE_TEMP_TTL_MAX_MS. Logs one warning when the
 * resolvers are not all on loopback and a zone has dane on (AD is then never trusted: DANE
 * never applies, no DANE query is made). Returns 0 or the DNS client's error. */
int dane_new(struct loop *loop, const struct cfg_resolver *cfg, const struct dane_opts *opts,
             struct dane **ret_d);
/* New cfg: a new DNS client; jobs in flight restart on it. When the server list or the AD
 * trust changed, the cache is emptied. When the new servers are not all on loopback, the
 * jobs in flight stop and their waiters get DANE_NONE (DANE_UNTRUSTED_REASON) at once, the
 * whole cache is emptied; the warning is logged when the trust is lost, a notice when it
 * comes back. Returns 0, or the error of building the client: the old client (and its
 * trust) stays, but cfg is used from now on (the old one may be freed). */
int dane_reload(struct dane *d, const struct cfg_resolver *cfg);
/* dane_new() and dane_reload() whose DNS client takes the servers of like
 * (dns_client_new_like(); borrowed during the call only) instead of reading
 * resolver.dns_servers or /etc/resolv.conf once more: the resolver passes its policy
 * engine's client (pol_engine_dns()), built from the same cfg. like NULL: as without. */
int dane_new_like(struct loop *loop, const struct cfg_resolver *cfg, const struct dane_opts *opts,
                  const struct dns_client *like, struct dane **ret_d);
int dane_reload_like(struct dane *d, const struct cfg_resolver *cfg, const struct dns_client *like);
/* Waiters get DANE_CANCELED, jobs stop. Returns NULL. */
struct dane *dane_free(struct dane *d);

/* Look up the next hop domain (normalised) reached as nh says (domain_nexthop_parse(); NULL:
 * through the MX RRset on port 25). done(result, arg) runs exactly once: before
 * dane_lookup() returns for a cached result, DANE_NONE (f NULL, no query, nothing cached)
 * while the AD bit is not trusted, DANE_NONE for a port nh could not name (0),
 * or DANE_TEMP for a name of DOMAIN_BUF bytes or more, or (unfinished, counted in
 * ctr.rejected, logged at most once per POL_REJECT_LOG_MS) when a new job would exceed
 * cfg max_discoveries jobs started by lookups, or RES_JOBS_MAX/RES_WAITERS_MAX (*ret_w NULL
 * then), otherwise later (*ret_w is the handle until then).
 * timeout_ms > 0: answer DANE_TEMP (unfinished) after that long; the job goes on and fills
 * the cache, unless its last waiter has left while some of its queries still wait for a
 * DNS slot: it is then stopped (ctr.abandoned). 0: wait for the job (bounded by the DNS
 * timeouts). A job whose queries found the DNS wait queue full (ERR_DNS_BUSY) caches
 * nothing and answers DANE_TEMP (unfinished). */
void dane_lookup(struct dane *d, const char *domain, const struct domain_nexthop *nh,
                 uint64_t timeout_ms, dane_done_fn *done, void *arg, struct dane_waiter **ret_w);
/* done() runs at once with DANE_CANCELED; the job goes on for the cache. */
void dane_lookup_cancel(struct dane_waiter *w);

const struct dane_counters *dane_counters(const struct dane *d);
struct stats;
/* Register the DANE metrics (verdicts, cache, jobs, queries, timeouts) in st, JSON paths
 * relative to the resolver's object ("dane.*"); st borrows d until it is cleared or freed. */
void dane_stats_add(const struct dane *d, struct stats *st);
size_t dane_cache_entries(const struct dane *d);
/* Jobs in flight (lookups being resolved, including background refreshes). */
size_t dane_jobs_in_flight(const struct dane *d);
/* Whether answers' AD bits are trusted (every resolver on loopback). */
int dane_ad_trusted(const struct dane *d);

/* The verdict for findings f (no I/O). Writes a one-line reason into reason. */
enum dane_verdict dane_decide(const struct dane_findings *f, char *reason, size_t reasonsz);
/* The MX hosts of an MX answer pkt (the owner is the question's name or the end of its
 * CNAME chain in the answer) into f->hosts/n_hosts/n_hosts_total/null_mx (f zeroed by the
 * caller): names lower-case, no trailing dot (ldns presentation form: bytes outside
 * LDH escaped as \DDD), by preference then name, duplicates removed, at most DANE_MX_MAX;
 * "MX 0 ." alone is a null MX (RFC 7505). No I/O; f->hosts is owned (dane_findings_free). */
struct ldns_struct_pkt;
void dane_parse_mx(const struct ldns_struct_pkt *pkt, struct dane_findings *f);
/* The TLSA records of a TLSA answer pkt (same owner rule): how many (*ret_n) and how many
 * are usable for SMTP (*ret_usable, dane_tlsa_usable()). No I/O. */
void dane_parse_tlsa(const struct ldns_struct_pkt *pkt, unsigned *ret_n, unsigned *ret_usable);
/* Free what f owns and zero it. */
void dane_findings_free(struct dane_findings *f);
/* RFC 7672 section 3.1 / RFC 6698: usage 2 (DANE-TA) or 3 (DANE-EE), selector 0 or 1,
 * matching type 0, 1 or 2. Usages 0 and 1 (PKIX-TA/EE) are unusable for SMTP. */
int dane_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype);
/* A lifetime for a result whose answers had the smallest TTL ttl_s, bounded by opts. */
uint64_t dane_ttl_ms(const struct dane_opts *opts, uint32_t ttl_s);

const char *dane_verdict_name(enum dane_verdict v);
const char *dane_host_state_name(enum dane_host_state s);

#endif
