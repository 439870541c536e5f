/*
 * resolver/cache.h - the policy cache: per Policy Domain entries, two tiers
 *
 * The in-memory LRU (cache_mem.c) is always the first tier; a shared Valkey/Redis tier
 * (cache_redis.c, docs/cache.md) may sit behind it.
 *
 * Interface: struct cache_entry, cache_kind_name(), cache_entry_encode/decode (the
 *            versioned value encoding shared with Valkey), cache_entry_bound() (what a
 *            value read from the shared tier may claim), the memory tier API in
 *            cache_mem.h
 * Ownership: entries returned by the memory tier are borrowed until the next call that
 *            modifies the cache.
 */
#ifndef MTASTSD_CACHE_H
#define MTASTSD_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mtasts_limits.h"
#include "sts_policy.h"

enum cache_kind {
	CACHE_POLICY = 0,    /* a fetched, valid policy */
	CACHE_NO_POLICY = 1, /* discovery said "no policy" (short TTL) */
	CACHE_TEMPFAIL = 2,  /* discovery failed temporarily (short TTL) */
};

struct cache_entry {
	enum cache_kind kind;
	char id[STS_ID_MAX + 1];   /* policy id from the TXT record */
	struct sts_policy *policy; /* owned; NULL unless kind == CACHE_POLICY */
	time_t fetched_at;         /* wall clock of the last successful fetch */
	time_t expires_at;         /* fetched_at + max_age (policy) or the negative TTL */
	time_t last_check;         /* wall clock of the last TXT id check */
	int last_error;            /* ERR_* of the last failure, 0 if none */
	time_t retry_after;        /* no background re-check/re-fetch before this (wall), 0 = any */
	time_t last_used; /* wall clock of the last lookup answered from this policy, 0 = none
	                     since it was cached (memory only: never encoded) */
};

/* The name of kind k, the same in the encoding, in /status and on the admin page:
 * "policy", "no-policy", "tempfail"; "unknown" for a value outside the enum (encoded, it
 * is a value no reader accepts, i.e. a miss). Static string. */
const char *cache_kind_name(enum cache_kind k);
/* Versioned text encoding (docs/cache.md), e.g. for Valkey. Returns an owned string. */
char *cache_entry_encode(const struct cache_entry *e);
/* Decode; returns 0 or ERR_CACHE_DECODE. On success *e holds an owned policy. */
int cache_entry_decode(const char *data, size_t len, struct cache_entry *e);
void cache_entry_clear(struct cache_entry *e);

/* Format version written by cache_entry_encode() (the first line, docs/cache.md). */
#define CACHE_FORMAT_VERSION 1

/* Clock skew allowed between the hosts of a fleet (s): a shared value whose fetched_at or
 * last_check lies further in the future is refused. The write script in cache_redis.c
 * uses the same number. */
#define CACHE_CLOCK_SKEW_S 300

/* The local rules a value read from the shared tier is held to (seconds): this host's
 * resolver.negative_ttl and resolver.tempfail_ttl. */
struct cache_trust {
	time_t negative_ttl_s;
	time_t tempfail_ttl_s;
};

/* Hold e, decoded from the shared tier (another host wrote it, or anyone who can write to
 * Valkey), to what it can prove at now (wall s), issue 15 part 4 (docs/cache.md):
 *  - fetched_at or last_check more than CACHE_CLOCK_SKEW_S in the future: refused;
 *  - expires_at before fetched_at (no writer stores that): refused;
 *  - a policy expires no later than min(fetched_at, now) + its max_age (max_age itself at
 *    most STS_MAX_AGE_MAX, RFC 8461 section 3.2);
 *  - a no-policy / tempfail entry expires no later than min(last_check, now) + the local
 *    negative_ttl / tempfail_ttl (so no later than now + that TTL, and a value that is
 *    never rewritten runs out);
 *  - fetched_at and last_check no later than now; retry_after no later than
 *    min(last_check, now) + tempfail_ttl.
 * So a kept e has fetched_at <= expires_at.
 * Returns 0 with e kept (fields lowered in place; *ret_clamped 1 when any was), or
 * ERR_CACHE_DECODE when refused (e untouched; the caller clears it and treats it as a
 * miss). why (may be NULL) gets the first rule broken or lowered, for the log. */
int cache_entry_bound(struct cache_entry *e, time_t now, const struct cache_trust *t,
                      int *ret_clamped, char *why, size_t whysize);

#endif
