/*
 * resolver/cache_redis.h - the shared policy cache tier on Valkey/Redis (docs/cache.md)
 *
 * hiredis 0.14 asynchronous API driven by our event loop. Every command has its own
 * deadline (cfg cache.redis.command_timeout): when one passes, the connection is dropped
 * with redisAsyncFree(), every pending command completes as "unavailable" (a miss), and the
 * connection is re-established with backoff. Optional Sentinel discovery of the primary,
 * re-checked every CACHE_REDIS_SENTINEL_CHECK_MS while up so that a failover is followed.
 *
 * Keys:  <prefix>:v1:sts:<domain>   value = cache_entry_encode(), TTL until expiry (+ slack)
 *        <prefix>:v1:lock:<domain>  fetch lock, SET NX PX, value = this process's token
 *
 * Interface: cache_redis_new/free, cache_redis_get, cache_redis_lock, cache_redis_poll,
 *            cache_redis_put, cache_redis_unlock, cache_redis_cancel, cache_redis_state,
 *            cache_redis_counters, cache_redis_stats_add, cache_redis_on_up,
 *            cache_redis_set_trust, cache_redis_key,
 *            cache_redis_ttl_ms, cache_redis_address_parse, cache_redis_state_name,
 *            cache_redis_reply_classify, cache_redis_sentinel_parse,
 *            cache_redis_role_is_master (what a reply says, no I/O),
 *            cache_redis_reader_bound
 * Threads:   main loop only.
 * Ownership: the tier copies everything it needs from the cfg (which may be freed after a
 *            reload); results handed to callbacks are valid only during the callback.
 * Errors:    a runtime Redis problem never reaches a caller as an error: reads complete with
 *            ERR_CACHE_UNAVAILABLE (down, error reply, timeout) and the caller proceeds as
 *            on a miss; writes are fire-and-forget. Outages and recoveries are logged once
 *            each and counted. A value read is trusted no further than it can prove
 *            (cache_entry_bound(), issue 15 part 4): lowered, or refused as a miss.
 */
#ifndef MTASTSD_CACHE_REDIS_H
#define MTASTSD_CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "cfg.h"
#include "loop.h"
#include "mtasts_limits.h"

/* Reconnect backoff after a failure (ms): starts at MIN, doubles up to MAX, reset on success. */
#define CACHE_REDIS_BACKOFF_MIN_MS 100
#define CACHE_REDIS_BACKOFF_MAX_MS 2000
/* A policy key lives this long past the policy's expiry (s), so the newer-wins comparison
 * still sees a just-expired policy; negative entries get exactly their own TTL. */
#define CACHE_REDIS_TTL_SLACK_S 60
/* Negative entries are written with at least this TTL (ms). */
#define CACHE_REDIS_TTL_MIN_MS 1000
/* Until cache_redis_set_trust() is called, values read are held to the longest
 * resolver.negative_ttl and resolver.tempfail_ttl the configuration allows (s). */
#define CACHE_REDIS_TRUST_NEGATIVE_TTL_S 86400
#define CACHE_REDIS_TRUST_TEMPFAIL_TTL_S 3600
/* Key buffer: prefix (CACHE_REDIS_PREFIX_MAX, mtasts_limits.h) + ":v1:lock:" + a domain. */
#define CACHE_REDIS_KEY_MAX (CACHE_REDIS_PREFIX_MAX + 16 + 254)
/* Commands in flight at once; beyond it reads report "unavailable" (no unbounded queue). */
#define CACHE_REDIS_PENDING_MAX 10000
/* Entries re-written per recovery when Redis comes back after an outage. */
#define CACHE_REDIS_RESYNC_MAX 10000
/* Sentinel mode, while up: the Sentinels are asked for the primary this often (ms), on a
 * connection kept open for it. Another answer (a failover the old primary does not show
 * yet: it still says "master" for ~10 s) drops the connection and follows the new one. */
#define CACHE_REDIS_SENTINEL_CHECK_MS 1000

struct cache_redis;
struct cache_redis_req;

enum cache_redis_state {
	CACHE_REDIS_DOWN = 0,       /* no connection; reconnect timer armed */
	CACHE_REDIS_CONNECTING = 1, /* connect or handshake (AUTH, SELECT, ROLE, PING) */
	CACHE_REDIS_UP = 2,         /* commands are sent */
};

enum cache_redis_kind {
	CACHE_REDIS_KEY_STS = 0,
	CACHE_REDIS_KEY_LOCK = 1,
};

struct cache_redis_counters {
	uint64_t hits;         /* reads that found a valid value */
	uint64_t misses;       /* reads that found no value */
	uint64_t corrupt;      /* values that did not decode (ignored, later overwritten) */
	uint64_t untrusted;    /* values refused by cache_entry_bound() (also in corrupt) */
	uint64_t clamped;      /* values used with an expiry (or check time) lowered */
	uint64_t errors;       /* error replies, failed sends, connection losses */
	uint64_t timeouts;     /* commands past their deadline (each drops the connection) */
	uint64_t unavailable;  /* operations not sent because the tier was down */
	uint64_t writes;       /* values written */
	uint64_t writes_older; /* writes refused because the stored policy was newer */
	uint64_t locks_taken, locks_busy;
	uint64_t outages;  /* up -> down transitions (and a failed first connect) */
	uint64_t connects; /* successful handshakes */
	uint64_t connect_failures;
	uint64_t sentinel_queries, sentinel_failures;
};

/* The outcome of a read (get, lock, poll). */
struct cache_redis_result {
	/* 0: entry holds a decoded, valid value, held to cache_entry_bound() (it may be
	 * expired: the caller checks); -ENOENT: no value; ERR_CACHE_DECODE: a value that did
	 * not decode or claims what it cannot prove (logged, treat as a miss);
	 * ERR_CACHE_UNAVAILABLE: down, error or timeout (treat as a miss); -ECANCELED:
	 * cache_redis_cancel() or shutdown. */
	int status;
	struct cache_entry *entry; /* status 0 only; the callback may take entry->policy */
	int lock_acquired;         /* cache_redis_lock(): this process holds the lock now */
	int lock_present;          /* cache_redis_poll(): the lock key exists */
};
typedef void cache_redis_fn(const struct cache_redis_result *res, void *arg);
/* Called when the tier becomes usable again after an outage (not on the first connect). */
typedef void cache_redis_up_fn(struct cache_redis *rc, void *arg);

/* Copy cfg and start connecting. Returns 0, or -EINVAL for an address that cannot be used
 * (logged): a startup error. A server that does not answer is not an error. */
int cache_redis_new(struct loop *loop, const struct cfg_cache *cfg, struct cache_redis **ret_rc);
/* Drops the connection: pending reads complete with ERR_CACHE_UNAVAILABLE. Returns NULL. */
struct cache_redis *cache_redis_free(struct cache_redis *rc);

/* Reads. Each returns a handle, and fn runs exactly once later (never inside the call); or
 * NULL when the tier is not usable now (fn never runs: proceed as on a miss). */
struct cache_redis_req *cache_redis_get(struct cache_redis *rc, const char *dom, cache_redis_fn *fn,
                                        void *arg);
/* Atomically (one Lua script): read the value and try SET lock NX PX ttl_ms. A lock this
 * process already holds counts as acquired (its TTL is renewed). */
struct cache_redis_req *cache_redis_lock(struct cache_redis *rc, const char *dom, uint64_t ttl_ms,
                                         cache_redis_fn *fn, void *arg);
/* MGET value and lock: what a host waiting for the lock holder polls. */
struct cache_redis_req *cache_redis_poll(struct cache_redis *rc, const char *dom,
                                         cache_redis_fn *fn, void *arg);
/* fn runs at once with -ECANCELED; the command itself still completes (or times out). */
void cache_redis_cancel(struct cache_redis_req *rq);

/* Writes, fire-and-forget (still with a deadline). put: newer data wins (a Lua script
 * compares with the stored value: a policy is never replaced by an older policy nor by a
 * negative entry while it is unexpired; a corrupt value is always replaced); the key's TTL
 * is cache_redis_ttl_ms(). unlock: delete the lock only if it still holds our token.
 * Return 0, or ERR_CACHE_UNAVAILABLE when not sent (down; expired entry). */
int cache_redis_put(struct cache_redis *rc, const char *dom, const struct cache_entry *e,
                    time_t now);
int cache_redis_unlock(struct cache_redis *rc, const char *dom);

enum cache_redis_state cache_redis_state(const struct cache_redis *rc);
const char *cache_redis_state_name(enum cache_redis_state s);
const struct cache_redis_counters *cache_redis_counters(const struct cache_redis *rc);
struct stats;
/* Register the Valkey/Redis metrics (up, state, commands, writes, locks, connections,
 * Sentinel) in st, JSON paths relative to the resolver's object ("valkey.*"); st borrows rc
 * until it is cleared or freed. */
void cache_redis_stats_add(const struct cache_redis *rc, struct stats *st);
uint64_t cache_redis_command_timeout_ms(const struct cache_redis *rc);
void cache_redis_on_up(struct cache_redis *rc, cache_redis_up_fn *fn, void *arg);
/* The local TTLs values read are held to (cache_entry_bound()); copied. The policy engine
 * sets them from its cfg, and again on reload. */
void cache_redis_set_trust(struct cache_redis *rc, const struct cache_trust *t);

/* ---- pure helpers (no I/O), exposed for tests ---- */

/* "<prefix>:v1:sts:<dom>" or "<prefix>:v1:lock:<dom>" into buf. Returns the length, or
 * -ENAMETOOLONG when it does not fit. */
int cache_redis_key(const char *prefix, enum cache_redis_kind kind, const char *dom, char *buf,
                    size_t size);
/* The key TTL for e written at now (ms): a policy lives until expires_at plus
 * CACHE_REDIS_TTL_SLACK_S, a negative entry until expires_at (at least
 * CACHE_REDIS_TTL_MIN_MS). 0 when e is already expired (not written). */
uint64_t cache_redis_ttl_ms(const struct cache_entry *e, time_t now);
/* "host:port", "[v6]:port" or "unix:/path" -> host (or path) and port (0 for unix).
 * Returns 0 or -EINVAL. */
int cache_redis_address_parse(const char *addr, char *host, size_t hostsize, int *ret_port,
                              int *ret_unix);

/* ---- replies, no I/O (tests/fuzz/fuzz_redis_reply.c feeds them from hiredis' reader) ---- */

struct redisReply;

/* The commands the tier sends for a domain: GET of the value key; LOCK and POLL scripts
 * ({value or nil, 1/0} or {nil, got, 1} when the value key holds another type); PUT script
 * (1 written, 0 a newer value kept); UNLOCK script. */
enum cache_redis_cmd {
	CACHE_REDIS_CMD_GET = 0,
	CACHE_REDIS_CMD_LOCK = 1,
	CACHE_REDIS_CMD_POLL = 2,
	CACHE_REDIS_CMD_PUT = 3,
	CACHE_REDIS_CMD_UNLOCK = 4,
};

enum cache_redis_reply_kind {
	CACHE_REDIS_REPLY_VALUE,      /* a string value: value, len (GET, LOCK, POLL) */
	CACHE_REDIS_REPLY_NIL,        /* no value */
	CACHE_REDIS_REPLY_NOT_STRING, /* the value element has another type: value_type */
	CACHE_REDIS_REPLY_WRONGTYPE,  /* the value key holds another type than a string */
	CACHE_REDIS_REPLY_ERROR,      /* an error reply, or LOCK/POLL not the script's array */
	CACHE_REDIS_REPLY_READONLY,   /* error reply READONLY: the server is a replica now */
	CACHE_REDIS_REPLY_WRITTEN,    /* PUT: 1 */
	CACHE_REDIS_REPLY_OLDER,      /* PUT: another integer (a newer value was kept) */
	CACHE_REDIS_REPLY_DONE,       /* PUT's other replies, UNLOCK: nothing to read */
};

struct cache_redis_reply_info {
	enum cache_redis_reply_kind kind;
	const char *value; /* VALUE: borrowed from the reply, len bytes (not trusted yet:
	                    * cache_entry_decode() and cache_entry_bound() decide) */
	size_t len;
	int value_type;    /* NOT_STRING: the hiredis REDIS_REPLY_* type */
	int lock_acquired; /* LOCK: element 1 is the integer 1 */
	int lock_present;  /* POLL: element 1 is not nil */
};

/* What reply (a complete hiredis reply to cmd) says, into *ri. Reads nothing beyond the
 * reply's own lengths and element counts. */
void cache_redis_reply_classify(enum cache_redis_cmd cmd, const struct redisReply *reply,
                                struct cache_redis_reply_info *ri);
/* A SENTINEL get-master-addr-by-name reply -> host (NUL-terminated, hostsize bytes at
 * most), *ret_port 1..65535. Returns NULL, or what is wrong (host and port unset). */
const char *cache_redis_sentinel_parse(const struct redisReply *reply, char *host, size_t hostsize,
                                       int *ret_port);
/* Whether a ROLE reply says "master" (the handshake refuses a replica). */
int cache_redis_role_is_master(const struct redisReply *reply);

/* Bounds on what hiredis' reader builds from a server's bytes: an array of more than
 * CACHE_REDIS_REPLY_ELEMENTS_MAX elements (mtasts_limits.h; hiredis 0.14 callocs the count
 * it is sent: "*2000000000" would ask for 16 GB) or a string longer than CACHE_VALUE_MAX bytes
 * fails the reader instead, which drops the connection. Every connection's reader gets them; r must
 * use hiredis' default reply functions (redisReaderCreate()). Main thread only. */
struct redisReader;
void cache_redis_reader_bound(struct redisReader *r);

#endif
