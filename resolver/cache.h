/*
 * resolver/cache.h - the policy cache: per Policy Domain entries, two tiers
 *
 * The in-memory LRU (cache_mem.c) is always the first tier; a shared Valkey/Redis tier
 * (cache_redis.c, docs/cache.md) may sit behind it.
 *
 * Interface: struct cache_entry, cache_kind_name(), cache_entry_encode/decode (the
 *            versioned value encoding shared with Valkey), the memory tier API in
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

#endif
