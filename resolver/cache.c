/*
 * resolver/cache.c - the versioned text encoding of a cache entry (docs/cache.md)
 *
 * Interface: cache_kind_name(), cache_entry_encode(), cache_entry_decode(),
 *            cache_entry_bound(), cache_entry_clear()
 * Threads:   any (no state).
 * Ownership: encode returns an owned string; decode fills a caller-owned entry whose policy
 *            the caller releases with cache_entry_clear().
 * Errors:    decode returns ERR_CACHE_DECODE for anything but an exact, complete,
 *            valid value of a version it knows; the value is then treated as a miss.
 *
 * Format (docs/cache.md), LF-terminated header lines in this fixed order, then the body:
 *   mtastsd-cache 1
 *   kind policy|no-policy|tempfail
 *   id <1-32 ALPHA/DIGIT, or "-" when unknown>
 *   fetched_at <decimal wall seconds>
 *   expires_at <decimal>
 *   last_check <decimal>
 *   retry_after <decimal>
 *   last_error <decimal, 0 or negative>
 *   body <decimal length>
 *   <length bytes: canonical policy text (sts_policy_serialize), only for kind policy>
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "xalloc.h"

/* Largest accepted wall-clock value: year ~2^40 s is far beyond any real timestamp, and
 * keeps time_t arithmetic (expires_at + TTLs) clear of overflow. */
#define CACHE_TIME_MAX ((long long)1 << 40)

const char *
cache_kind_name(enum cache_kind k)
{
	switch (k) {
	case CACHE_POLICY:
		return "policy";
	case CACHE_NO_POLICY:
		return "no-policy";
	case CACHE_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

char *
cache_entry_encode(const struct cache_entry *e)
{
	char *body = NULL, *out;
	size_t blen = 0;

	if (e->kind == CACHE_POLICY && e->policy != NULL) {
		body = sts_policy_serialize(e->policy);
		blen = strlen(body);
	}
	out = xasprintf("mtastsd-cache %d\nkind %s\nid %s\nfetched_at %lld\nexpires_at %lld\n"
	                "last_check %lld\nretry_after %lld\nlast_error %d\nbody %zu\n%s",
	                CACHE_FORMAT_VERSION, cache_kind_name(e->kind),
	                e->id[0] != '\0' ? e->id : "-", (long long)e->fetched_at,
	                (long long)e->expires_at, (long long)e->last_check,
	                (long long)e->retry_after, e->last_error, blen, body != NULL ? body : "");
	free(body);
	return out;
}

/* A cursor over the value being decoded. */
struct cache_rd {
	const char *p, *end;
};

/* Read one header line "<key> <value>\n"; the value (without LF) goes to val/vlen. */
static int
cache_rd_line(struct cache_rd *rd, const char *key, const char **val, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *lf;

	if ((size_t)(rd->end - rd->p) < klen + 1 || memcmp(rd->p, key, klen) != 0 ||
	    rd->p[klen] != ' ')
		return ERR_CACHE_DECODE;
	rd->p += klen + 1;
	lf = memchr(rd->p, '\n', (size_t)(rd->end - rd->p));
	if (lf == NULL || lf == rd->p)
		return ERR_CACHE_DECODE;
	*val = rd->p;
	*vlen = (size_t)(lf - rd->p);
	rd->p = lf + 1;
	return 0;
}

/* A decimal in [min, max]: optional '-' (only when min < 0), 1-19 digits, nothing else. */
static int
cache_rd_num(struct cache_rd *rd, const char *key, long long min, long long max, long long *ret)
{
	const char *v;
	size_t n, i = 0;
	long long x = 0;
	int neg = 0, r;

	r = cache_rd_line(rd, key, &v, &n);
	if (r < 0)
		return r;
	if (v[0] == '-' && min < 0) {
		neg = 1;
		i = 1;
	}
	if (i >= n || n - i > 18)
		return ERR_CACHE_DECODE;
	for (; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return ERR_CACHE_DECODE;
		x = x * 10 + (v[i] - '0');
	}
	if (neg)
		x = -x;
	if (x < min || x > max)
		return ERR_CACHE_DECODE;
	*ret = x;
	return 0;
}

int
cache_entry_decode(const char *data, size_t len, struct cache_entry *e)
{
	struct cache_rd rd;
	struct cache_entry t;
	const char *v;
	long long ver, fa, ea, lc, ra, le, blen;
	size_t n, i;
	int r;

	memset(e, 0, sizeof(*e));
	memset(&t, 0, sizeof(t));
	if (data == NULL || len > CACHE_VALUE_MAX)
		return ERR_CACHE_DECODE;
	rd.p = data; /* not before the NULL check: NULL + len is undefined behaviour */
	rd.end = data + len;
	if (cache_rd_num(&rd, "mtastsd-cache", 1, 1000, &ver) < 0 || ver != CACHE_FORMAT_VERSION)
		return ERR_CACHE_DECODE;
	if (cache_rd_line(&rd, "kind", &v, &n) < 0)
		return ERR_CACHE_DECODE;
	if (n == 6 && memcmp(v, "policy", 6) == 0)
		t.kind = CACHE_POLICY;
	else if (n == 9 && memcmp(v, "no-policy", 9) == 0)
		t.kind = CACHE_NO_POLICY;
	else if (n == 8 && memcmp(v, "tempfail", 8) == 0)
		t.kind = CACHE_TEMPFAIL;
	else
		return ERR_CACHE_DECODE;
	if (cache_rd_line(&rd, "id", &v, &n) < 0 || n > STS_ID_MAX)
		return ERR_CACHE_DECODE;
	if (!(n == 1 && v[0] == '-')) {
		for (i = 0; i < n; i++)
			if (!isalnum((unsigned char)v[i]))
				return ERR_CACHE_DECODE;
		memcpy(t.id, v, n);
		t.id[n] = '\0';
	}
	if (cache_rd_num(&rd, "fetched_at", 0, CACHE_TIME_MAX, &fa) < 0 ||
	    cache_rd_num(&rd, "expires_at", 0, CACHE_TIME_MAX, &ea) < 0 ||
	    cache_rd_num(&rd, "last_check", 0, CACHE_TIME_MAX, &lc) < 0 ||
	    cache_rd_num(&rd, "retry_after", 0, CACHE_TIME_MAX, &ra) < 0 ||
	    cache_rd_num(&rd, "last_error", -1000000, 0, &le) < 0 ||
	    cache_rd_num(&rd, "body", 0, STS_POLICY_CANON_MAX, &blen) < 0)
		return ERR_CACHE_DECODE;
	if ((long long)(rd.end - rd.p) != blen)
		return ERR_CACHE_DECODE;
	if ((t.kind == CACHE_POLICY) != (blen > 0))
		return ERR_CACHE_DECODE;
	if (t.kind == CACHE_POLICY) {
		r = sts_policy_parse_canonical(rd.p, (size_t)blen, &t.policy, NULL);
		if (r < 0)
			return ERR_CACHE_DECODE;
	}
	t.fetched_at = (time_t)fa;
	t.expires_at = (time_t)ea;
	t.last_check = (time_t)lc;
	t.retry_after = (time_t)ra;
	t.last_error = (int)le;
	*e = t;
	return 0;
}

/* Lower *field to limit when it is above; note the first lowering in why. */
static void
cache_bound_lower(time_t *field, time_t limit, const char *name, int *clamped, char *why,
                  size_t whysize)
{
	if (*field <= limit)
		return;
	if (!*clamped && why != NULL)
		(void)snprintf(why, whysize, "%s %lld s past what it proves", name,
		               (long long)(*field - limit));
	*field = limit;
	*clamped = 1;
}

int
cache_entry_bound(struct cache_entry *e, time_t now, const struct cache_trust *t, int *ret_clamped,
                  char *why, size_t whysize)
{
	time_t ttl, base, max_age, when = 0;
	const char *what = NULL;
	int clamped = 0;

	if (why != NULL && whysize > 0)
		why[0] = '\0';
	if (e->fetched_at > now + CACHE_CLOCK_SKEW_S) {
		what = "fetched_at";
		when = e->fetched_at;
	} else if (e->last_check > now + CACHE_CLOCK_SKEW_S) {
		what = "last_check";
		when = e->last_check;
	}
	if (what != NULL) {
		if (why != NULL)
			(void)snprintf(why, whysize, "%s %lld s in the future", what,
			               (long long)(when - now));
		return ERR_CACHE_DECODE;
	}
	if (e->expires_at < e->fetched_at) {
		if (why != NULL)
			(void)snprintf(why, whysize, "expires_at %lld s before fetched_at",
			               (long long)(e->fetched_at - e->expires_at));
		return ERR_CACHE_DECODE;
	}
	if (e->kind == CACHE_POLICY && e->policy != NULL) {
		max_age = (time_t)e->policy->max_age_s;
		if (max_age > (time_t)STS_MAX_AGE_MAX)
			max_age = (time_t)STS_MAX_AGE_MAX;
		base = e->fetched_at < now ? e->fetched_at : now;
		cache_bound_lower(&e->expires_at, base + max_age, "expires_at", &clamped, why,
		                  whysize);
	} else {
		ttl = e->kind == CACHE_NO_POLICY ? t->negative_ttl_s : t->tempfail_ttl_s;
		base = e->last_check < now ? e->last_check : now;
		cache_bound_lower(&e->expires_at, base + ttl, "expires_at", &clamped, why, whysize);
	}
	/* fetched_at within the skew: no later than now either, so that expires_at (bounded
	 * from min(fetched_at, now) above, and not below fetched_at as read) stays >= it. */
	cache_bound_lower(&e->fetched_at, now, "fetched_at", &clamped, why, whysize);
	cache_bound_lower(&e->last_check, now, "last_check", &clamped, why, whysize);
	cache_bound_lower(&e->retry_after, e->last_check + t->tempfail_ttl_s, "retry_after",
	                  &clamped, why, whysize);
	if (ret_clamped != NULL)
		*ret_clamped = clamped;
	return 0;
}

void
cache_entry_clear(struct cache_entry *e)
{
	if (e == NULL)
		return;
	e->policy = sts_policy_free(e->policy);
	memset(e, 0, sizeof(*e));
}
