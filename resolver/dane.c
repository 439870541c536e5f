/*
 * resolver/dane.c - DANE (RFC 7672) applicability of a next hop (domain or relay), cached
 *
 * Interface: dane_new(), dane_new_like(), dane_reload(), dane_reload_like(), dane_free(),
 *            dane_lookup(), dane_lookup_cancel(),
 *            dane_counters(), dane_stats_add(), dane_cache_entries(), dane_jobs_in_flight(),
 *            dane_ad_trusted(), dane_decide(),
 *            dane_tlsa_usable(), dane_ttl_ms(), dane_verdict_name(), dane_host_state_name(),
 *            dane_opts_default()
 * Threads:   main loop only.
 * Ownership: the module owns its DNS client, cache entries (common/lru.h), jobs and
 *            waiters (common/coalesce.h; a waiter is coalesce's while it waits).
 * Errors:    none reach the caller: DNS failures are findings, and dane_decide() turns them
 *            into a verdict. The job logs its verdict once (verbosity 1).
 *
 * A job: a zero-delay kick, the MX query (none for a relay: its one host is the relay);
 * then A, AAAA and TLSA (_<port>._tcp.<host>) for every host at once (RFC 7672 section 2.2
 * asks for TLSA only at hosts whose addresses are secure: the TLSA answer of an insecure
 * host is never looked at, so its failure cannot defer mail); when every answer is in,
 * dane_decide() and the cache entry gets the result. Waiters of the job are answered in
 * order. An entry is pinned in the cache (never evicted) while a job for it runs or
 * answers. The cache and job key is the next hop as Postfix names it ("example.com",
 * "example.com:2525", "[relay.example]", "[relay.example]:587"). docs/dane.md has the
 * decision table.
 *
 * While the resolvers are not all on loopback their AD bit is not trusted, and DANE can only
 * be "none": dane_lookup() says so at once, without a job, a query or a cache entry
 * (dane_reload() ends the jobs in flight when the trust goes). An untrusted path's answers
 * would otherwise still turn into TEMP (an MX SERVFAIL), which anyone on it can forge.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "coalesce.h"
#include "dane.h"
#include "dns_client.h"
#include "domain.h"
#include "err.h"
#include "log.h"
#include "lru.h"
#include "mtasts_limits.h"
#include "stats.h"
#include "xalloc.h"

#define DANE_NO_HOST ((size_t)-1)
/* "_<port>._tcp." + a host name */
#define DANE_TLSA_QNAME_MAX (sizeof("_65535._tcp.") + DOMAIN_NAME_MAX)
/* A cache key: "[" + a name + "]:65535" */
#define DANE_KEY_BUF (DOMAIN_BUF + sizeof("[]:65535"))
/* A DNS server as dns_servers names it: "addr%scope@port" */
#define DANE_SERVER_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + sizeof("@65535"))

enum { DANE_Q_A = 0, DANE_Q_AAAA = 1, DANE_Q_TLSA = 2, DANE_Q_PER_HOST = 3 };

struct dane_job;

struct dane_q {
	struct dane_job *job;
	struct dns_query *q; /* in flight, or NULL */
	size_t host;         /* index into the job's hosts, DANE_NO_HOST for the MX query */
	uint16_t type;
	int err, ad;
	unsigned n_tlsa, n_usable;
};

struct dane_entry {
	struct lru_node node;    /* in d->cache under key; pinned while its job runs */
	char key[DANE_KEY_BUF];  /* the next hop: "domain[:port]" or "[host][:port]" */
	char domain[DOMAIN_BUF]; /* the domain (MX destination) or the relay host */
	int relay;               /* "[host]": no MX lookup (RFC 7672 section 2.2.2) */
	uint16_t port;           /* TLSA names _<port>._tcp.<host> */
	int have;                /* a result is stored */
	enum dane_verdict verdict;
	char reason[DANE_REASON_MAX];
	struct dane_findings f;
	uint64_t expires_ms;     /* fresh until then */
	uint64_t stale_until_ms; /* served stale / kept through a failed refresh until then at
	                          * most: the records' own TTL, at most opts.stale_max_ms past
	                          * expires_ms */
};

struct dane_waiter {
	struct coalesce_waiter cw;
	struct dane *d;
	dane_done_fn *done;
	void *arg;
};

struct dane_job {
	struct coalesce_job cj; /* in d->jobs under e->key */
	struct dane *d;
	struct dane_entry *e;
	struct loop_timer kick;
	struct dane_findings f;
	struct dane_q mx;
	struct dane_q *hq; /* DANE_Q_PER_HOST per host */
	size_t pending;
	uint32_t ttl_s;
	int lookup; /* started by a lookup: counted in d->n_lookup_jobs (max_discoveries) */
	int busy;   /* a query was never sent (ERR_DNS_BUSY): the findings are incomplete */
	struct loop_timer idle; /* its last waiter left: abandon it if it waits for the DNS */
};

struct dane {
	struct loop *loop;
	const struct cfg_resolver *cfg;
	struct dns_client *dns;
	struct dane_opts opts;
	int temp_from_cfg;     /* opts.temp_ttl_ms follows resolver.tempfail_ttl */
	int trusted;           /* every resolver on loopback: AD bits count, DANE can apply */
	int warned;            /* !trusted was logged (dane_log_trust()): once per loss of trust */
	struct lru *cache;     /* struct dane_entry, opts.max_entries (0: no bound) */
	struct coalesce *jobs; /* struct dane_job by next hop (key), and their waiters */
	size_t n_lookup_jobs;  /* jobs started by lookups in flight (resolver.max_discoveries) */
	struct log_rate reject_log; /* over-cap rejections */
	struct dane_counters ctr;
};

/* coalesce_complete() result of a job whose queries could not all be sent (ERR_DNS_BUSY):
 * its waiters get DANE_TEMP as after their timeout, and nothing is cached. */
static const char dane_busy_result;
/* coalesce_complete() result of the jobs dane_reload() ends when the new resolvers are not
 * on loopback: their waiters get DANE_NONE (DANE_UNTRUSTED_REASON), nothing is cached. */
static const char dane_untrusted_result;

#define DANE_ENTRY(n) LRU_ENTRY(n, struct dane_entry, node)
#define DANE_JOB(cj)  COALESCE_ENTRY(cj, struct dane_job, cj)

static void dane_job_kick(struct loop *loop, struct loop_timer *t, void *arg);
struct dane_entry;
static void dane_entry_drop_empty(struct dane *d, struct dane_entry *e);

/* ---- pure parts ---- */

struct dane_opts
dane_opts_default(void)
{
	struct dane_opts o = {
	        .ttl_min_ms = DANE_TTL_MIN_MS,
	        .ttl_max_ms = DANE_TTL_MAX_MS,
	        .temp_ttl_ms = 0,
	        .stale_max_ms = DANE_STALE_MAX_MS,
	        .max_entries = DANE_CACHE_MAX,
	};
	return o;
}

int
dane_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype)
{
	return (usage == 2 || usage == 3) && selector <= 1 && mtype <= 2;
}

uint64_t
dane_ttl_ms(const struct dane_opts *opts, uint32_t ttl_s)
{
	uint64_t ms = (uint64_t)ttl_s * 1000;

	if (ms < opts->ttl_min_ms)
		ms = opts->ttl_min_ms;
	if (ms > opts->ttl_max_ms)
		ms = opts->ttl_max_ms;
	return ms;
}

const char *
dane_verdict_name(enum dane_verdict v)
{
	switch (v) {
	case DANE_NONE:
		return "none";
	case DANE_MAY:
		return "dane";
	case DANE_ONLY:
		return "dane-only";
	case DANE_TEMP:
		return "tempfail";
	case DANE_CANCELED:
		return "canceled";
	case DANE_MAY_UNLESS_STS:
		return "dane-unless-sts";
	case DANE_TEMP_UNLESS_STS:
		return "tempfail-unless-sts";
	}
	return "?";
}

const char *
dane_host_state_name(enum dane_host_state s)
{
	switch (s) {
	case DANE_HOST_USABLE:
		return "secure, usable TLSA";
	case DANE_HOST_UNUSABLE:
		return "secure, TLSA unusable";
	case DANE_HOST_NO_TLSA:
		return "secure, no TLSA";
	case DANE_HOST_INSECURE:
		return "insecure";
	case DANE_HOST_NO_ADDR:
		return "no address";
	case DANE_HOST_TLSA_FAIL:
		return "TLSA lookup failed";
	case DANE_HOST_ADDR_FAIL:
		return "address lookup failed";
	}
	return "?";
}

static int
dane_err_negative(int err)
{
	return err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA;
}

/* A failure verdict: short-lived, never served stale nor kept. */
static int
dane_verdict_temp(enum dane_verdict v)
{
	return v == DANE_TEMP || v == DANE_TEMP_UNLESS_STS;
}

enum dane_verdict
dane_decide(const struct dane_findings *f, char *reason, size_t reasonsz)
{
	size_t i, usable = 0, unusable = 0, no_addr = 0, considered;
	const struct dane_host *tlsa_fail = NULL, *addr_fail = NULL;
	/* The hosts are the destination's for sure: a secure MX RRset, or a relay the local
	 * configuration names (RFC 7672 section 2.2.2). An insecure MX RRset proves nothing
	 * about them (RFC 7672 section 2.2.1): its TLSA records decide only where no MTA-STS
	 * policy does. */
	int authentic = f->relay || f->mx_secure;
	const char *kind = f->relay ? "relay" : "MX";

	if (!f->relay) {
		if (f->mx_err != 0 && !dane_err_negative(f->mx_err)) {
			(void)snprintf(reason, reasonsz, "MX lookup failed: %s",
			               err_str(f->mx_err));
			return DANE_TEMP;
		}
		if (f->mx_err == ERR_DNS_NXDOMAIN) {
			(void)snprintf(reason, reasonsz, "the domain does not exist (NXDOMAIN)");
			return DANE_NONE;
		}
		if (f->null_mx) {
			(void)snprintf(reason, reasonsz,
			               "null MX (RFC 7505): the domain takes no mail");
			return DANE_NONE;
		}
	}
	for (i = 0; i < f->n_hosts; i++) {
		const struct dane_host *h = &f->hosts[i];

		switch (h->state) {
		case DANE_HOST_USABLE:
			usable++;
			break;
		case DANE_HOST_UNUSABLE:
			unusable++;
			break;
		case DANE_HOST_NO_ADDR:
			no_addr++;
			break;
		case DANE_HOST_TLSA_FAIL:
			if (tlsa_fail == NULL)
				tlsa_fail = h;
			break;
		case DANE_HOST_ADDR_FAIL:
			if (addr_fail == NULL)
				addr_fail = h;
			break;
		case DANE_HOST_NO_TLSA:
		case DANE_HOST_INSECURE:
			break;
		}
	}
	/* A failure on a secure chain: DANE may apply, we cannot tell. Never fall back, except
	 * to an MTA-STS policy when the MX RRset itself is insecure. */
	if (tlsa_fail != NULL) {
		(void)snprintf(reason, reasonsz, "TLSA lookup of _%u._tcp.%s failed: %s",
		               (unsigned)f->port, tlsa_fail->name, err_str(tlsa_fail->err));
		return authentic ? DANE_TEMP : DANE_TEMP_UNLESS_STS;
	}
	if (authentic && addr_fail != NULL) {
		(void)snprintf(reason, reasonsz, "address lookup of %s host %s failed: %s", kind,
		               addr_fail->name, err_str(addr_fail->err));
		return DANE_TEMP;
	}
	considered = f->n_hosts - no_addr;
	if (considered == 0) {
		(void)snprintf(reason, reasonsz, "no %s host has an address", kind);
		return DANE_NONE;
	}
	if (f->relay) {
		const struct dane_host *h = &f->hosts[0];

		if (usable == considered) {
			(void)snprintf(reason, reasonsz,
			               "relay (no MX lookup): %s has usable TLSA records at "
			               "_%u._tcp",
			               h->name, (unsigned)f->port);
			return DANE_ONLY;
		}
		if (unusable > 0) {
			(void)snprintf(
			        reason, reasonsz,
			        "relay (no MX lookup): %s has TLSA records at _%u._tcp, none "
			        "usable",
			        h->name, (unsigned)f->port);
			return DANE_MAY;
		}
		(void)snprintf(reason, reasonsz,
		               "relay (no MX lookup): %s not secure with TLSA records at _%u._tcp",
		               h->name, (unsigned)f->port);
		return DANE_NONE;
	}
	if (f->mx_secure && usable == considered && f->n_hosts_total <= DANE_MX_MAX) {
		(void)snprintf(reason, reasonsz,
		               "MX RRset secure, all %zu MX hosts have usable TLSA records",
		               considered);
		return DANE_ONLY;
	}
	if (usable + unusable > 0) {
		if (!f->mx_secure) {
			(void)snprintf(reason, reasonsz,
			               "MX RRset insecure, %zu of %zu MX hosts secure with TLSA "
			               "records: used only where no MTA-STS policy applies",
			               usable + unusable, considered);
			return DANE_MAY_UNLESS_STS;
		}
		if (unusable > 0 && usable == 0)
			(void)snprintf(reason, reasonsz,
			               "MX RRset secure, TLSA records present but none usable "
			               "(%zu of %zu MX hosts)",
			               unusable, considered);
		else
			(void)snprintf(reason, reasonsz,
			               "MX RRset secure, %zu of %zu MX hosts with usable TLSA "
			               "records, %zu with unusable ones",
			               usable, considered, unusable);
		return DANE_MAY;
	}
	(void)snprintf(reason, reasonsz, "%s and no MX host secure with TLSA records",
	               f->mx_secure ? "MX RRset secure" : "MX RRset insecure");
	return DANE_NONE;
}

void
dane_findings_free(struct dane_findings *f)
{
	size_t i;

	for (i = 0; i < f->n_hosts; i++)
		free(f->hosts[i].name);
	free(f->hosts);
	memset(f, 0, sizeof(*f));
}

/* ---- answers ---- */

/* The owner of the records of the queried type: the qname, or the end of its CNAME chain in
 * the answer section (at most DNS_CNAME_MAX links). Borrowed from pkt. */
static const ldns_rdf *
dane_chain_end(const ldns_pkt *pkt)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	const ldns_rdf *name;
	size_t i, hop;

	if (qr == NULL)
		return NULL;
	name = ldns_rr_owner(qr);
	for (hop = 0; hop < DNS_CNAME_MAX; hop++) {
		const ldns_rdf *next = NULL;

		for (i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(an, i);

			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
			    ldns_dname_compare(ldns_rr_owner(rr), name) == 0 &&
			    ldns_rr_rd_count(rr) > 0) {
				next = ldns_rr_rdf(rr, 0);
				break;
			}
		}
		if (next == NULL)
			break;
		name = next;
	}
	return name;
}

/* The smallest TTL that bounds how long this answer stays true: the answer records, or for
 * a negative answer the SOA in the authority section (RFC 2308 section 5). */
static uint32_t
dane_pkt_ttl(const ldns_pkt *pkt, int err)
{
	const ldns_rr_list *l = err == 0 ? ldns_pkt_answer(pkt) : ldns_pkt_authority(pkt);
	uint32_t ttl = UINT32_MAX;
	size_t i;

	for (i = 0; l != NULL && i < ldns_rr_list_rr_count(l); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		uint32_t t = ldns_rr_ttl(rr);

		if (err != 0) {
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA)
				continue;
			if (ldns_rr_rd_count(rr) >= 7) {
				uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));

				if (min < t)
					t = min;
			}
		}
		if (t < ttl)
			ttl = t;
	}
	return ttl == UINT32_MAX ? 0 : ttl;
}

/* Lower-case text of a domain name rdf without the trailing dot; owned, NULL on error. */
static char *
dane_dname_text(const ldns_rdf *rdf)
{
	char *s = ldns_rdf2str(rdf), *p;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
	for (p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

struct dane_mx {
	uint16_t pref;
	char *name;
	int taken; /* name moved into f->hosts */
};

static int
dane_mx_cmp(const void *a, const void *b)
{
	const struct dane_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
dane_parse_mx(const ldns_pkt *pkt, struct dane_findings *f)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	const ldns_rdf *owner = dane_chain_end(pkt);
	size_t i, n = 0, n_root = 0, cap = an != NULL ? ldns_rr_list_rr_count(an) : 0;
	struct dane_mx *mx = xcalloc(cap > 0 ? cap : 1, sizeof(*mx));

	for (i = 0; owner != NULL && i < cap; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		const ldns_rdf *exch;
		char *name;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_MX ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0 || ldns_rr_rd_count(rr) < 2)
			continue;
		exch = ldns_rr_mx_exchange(rr);
		if (ldns_dname_label_count(exch) == 0) {
			n_root++;
			continue;
		}
		name = dane_dname_text(exch);
		if (name == NULL)
			continue;
		mx[n].pref = ldns_rdf2native_int16(ldns_rr_mx_preference(rr));
		mx[n].name = name;
		n++;
	}
	if (n == 0 && n_root > 0)
		f->null_mx = 1;
	qsort(mx, n, sizeof(*mx), dane_mx_cmp);
	f->hosts = xcalloc(n > 0 ? (n < DANE_MX_MAX ? n : DANE_MX_MAX) : 1, sizeof(*f->hosts));
	for (i = 0; i < n; i++) {
		size_t j;
		int dup = 0;

		/* every name stays allocated until the end: the earlier ones are compared */
		for (j = 0; j < i && !dup; j++)
			dup = strcmp(mx[j].name, mx[i].name) == 0;
		if (dup)
			continue;
		f->n_hosts_total++;
		if (f->n_hosts >= DANE_MX_MAX)
			continue;
		f->hosts[f->n_hosts].name = mx[i].name;
		f->hosts[f->n_hosts].pref = mx[i].pref;
		f->n_hosts++;
		mx[i].taken = 1;
	}
	for (i = 0; i < n; i++)
		if (!mx[i].taken)
			free(mx[i].name);
	free(mx);
}

void
dane_parse_tlsa(const ldns_pkt *pkt, unsigned *ret_n, unsigned *ret_usable)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	const ldns_rdf *owner = dane_chain_end(pkt);
	size_t i;

	*ret_n = *ret_usable = 0;
	for (i = 0; owner != NULL && an != NULL && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TLSA ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0 || ldns_rr_rd_count(rr) < 4)
			continue;
		(*ret_n)++;
		if (dane_tlsa_usable(ldns_rdf2native_int8(ldns_rr_rdf(rr, 0)),
		                     ldns_rdf2native_int8(ldns_rr_rdf(rr, 1)),
		                     ldns_rdf2native_int8(ldns_rr_rdf(rr, 2))))
			(*ret_usable)++;
	}
}

/* A host's state from its three answers (dane.h enum dane_host_state). */
static void
dane_host_classify(struct dane_host *h, const struct dane_q *q)
{
	const struct dane_q *a = &q[DANE_Q_A], *aaaa = &q[DANE_Q_AAAA], *t = &q[DANE_Q_TLSA];
	int pos = (a->err == 0) + (aaaa->err == 0);

	h->err = 0;
	h->n_tlsa = t->n_tlsa;
	h->n_usable = t->n_usable;
	if (pos == 0) {
		if (dane_err_negative(a->err) && dane_err_negative(aaaa->err)) {
			h->state = DANE_HOST_NO_ADDR;
		} else {
			h->state = DANE_HOST_ADDR_FAIL;
			h->err = dane_err_negative(a->err) ? aaaa->err : a->err;
		}
		return;
	}
	h->addr_secure = (a->err != 0 || a->ad) && (aaaa->err != 0 || aaaa->ad);
	if (!h->addr_secure) {
		h->state = DANE_HOST_INSECURE;
		return;
	}
	if (t->err == 0)
		h->state = !t->ad            ? DANE_HOST_INSECURE
		           : t->n_usable > 0 ? DANE_HOST_USABLE
		                             : DANE_HOST_UNUSABLE;
	else if (dane_err_negative(t->err))
		h->state = DANE_HOST_NO_TLSA;
	else {
		h->state = DANE_HOST_TLSA_FAIL;
		h->err = t->err;
	}
}

/* ---- cache ---- */

static struct dane_entry *
dane_entry_find(struct dane *d, const char *key)
{
	struct lru_node *n = lru_find(d->cache, key, strlen(key));

	return n != NULL ? DANE_ENTRY(n) : NULL;
}

/* Free an entry already out of the cache. */
static void
dane_entry_free(struct dane_entry *e)
{
	dane_findings_free(&e->f);
	free(e);
}

/* lru.h made room: e had no job (it would be pinned). */
static void
dane_entry_evict(struct lru_node *n, void *arg)
{
	struct dane *d = arg;

	d->ctr.evictions++;
	dane_entry_free(DANE_ENTRY(n));
}

/* The cache key of a next hop: the form Postfix gives it, port 25 left out. */
static void
dane_key(char key[DANE_KEY_BUF], const char *domain, int relay, uint16_t port)
{
	char p[sizeof(":65535")] = "";

	if (!relay && port == DOMAIN_NEXTHOP_PORT_DEFAULT) {
		/* the common case, on every lookup: the domain as it is (snprintf was 8 % of a
		 * cached lookup), cut as snprintf would cut it */
		size_t n = strnlen(domain, DANE_KEY_BUF - 1);

		memcpy(key, domain, n);
		key[n] = '\0';
		return;
	}
	if (port != DOMAIN_NEXTHOP_PORT_DEFAULT)
		(void)snprintf(p, sizeof(p), ":%u", (unsigned)port);
	(void)snprintf(key, DANE_KEY_BUF, relay ? "[%s]%s" : "%s%s", domain, p);
}

/* A new entry for key, the next hop domain (shorter than DOMAIN_BUF) reached as relay and
 * port say; the most recently used; may evict. */
static struct dane_entry *
dane_entry_new(struct dane *d, const char *key, const char *domain, int relay, uint16_t port)
{
	struct dane_entry *e = xcalloc(1, sizeof(*e));

	(void)snprintf(e->key, sizeof(e->key), "%s", key);
	(void)snprintf(e->domain, sizeof(e->domain), "%s", domain);
	e->relay = relay;
	e->port = port;
	(void)lru_insert(d->cache, &e->node, e->key, strlen(e->key));
	return e;
}

/* ---- waiters ---- */

static void
dane_answer_x(struct dane *d, dane_done_fn *done, void *arg, enum dane_verdict v,
              const char *reason, const struct dane_findings *f, int cached, int stale,
              int unfinished)
{
	struct dane_result r = {
	        .verdict = v,
	        .reason = reason != NULL ? reason : "",
	        .f = f,
	        .cached = cached,
	        .stale = stale,
	        .ad_trusted = d->trusted,
	        .unfinished = unfinished,
	};

	d->ctr.answers[v]++;
	done(&r, arg);
}

static void
dane_answer(struct dane *d, dane_done_fn *done, void *arg, enum dane_verdict v, const char *reason,
            const struct dane_findings *f, int cached, int stale)
{
	dane_answer_x(d, done, arg, v, reason, f, cached, stale, 0);
}

/* Over-cap rejections are logged at most once per POL_REJECT_LOG_MS, with their count. */
static void
dane_reject_log(struct dane *d, const char *key, const char *why)
{
	uint64_t held;

	if (!log_rate_due(&d->reject_log, loop_now_ms(d->loop), POL_REJECT_LOG_MS, &held))
		return;
	log_dom_warn(key,
	             "DANE %s: %" PRIu64 " lookup(s) answered as timed out since the last "
	             "report (%zu DANE jobs of lookups in flight, max_discoveries %u)",
	             why, held + 1, d->n_lookup_jobs, d->cfg->max_discoveries);
}

static void dane_job_idle(struct loop *loop, struct loop_timer *t, void *arg);

/* coalesce answers a waiter: with its job's entry (result), its timeout, or its cancel. */
static void
dane_waiter_answer(struct coalesce_job *cj, struct coalesce_waiter *cw, enum coalesce_why why,
                   const void *result, void *arg)
{
	struct dane *d = arg;
	struct dane_waiter *w = COALESCE_ENTRY(cw, struct dane_waiter, cw);
	const struct dane_entry *e = result;
	char reason[DANE_REASON_MAX];

	switch (why) {
	case COALESCE_DONE:
		if (result == &dane_busy_result)
			dane_answer_x(
			        d, w->done, w->arg, DANE_TEMP,
			        "DANE lookup not finished: DNS queries not sent, too many waiting "
			        "(DNS_WAIT_MAX)",
			        NULL, 0, 0, 1);
		else if (result == &dane_untrusted_result)
			dane_answer(d, w->done, w->arg, DANE_NONE, DANE_UNTRUSTED_REASON, NULL, 0,
			            0);
		else
			dane_answer(d, w->done, w->arg, e->verdict, e->reason, &e->f, 0, 0);
		break;
	case COALESCE_TIMEOUT:
		d->ctr.timeouts++;
		(void)snprintf(reason, sizeof(reason), "DANE lookup not finished after %llu ms",
		               (unsigned long long)cw->timeout_ms);
		dane_answer_x(d, w->done, w->arg, DANE_TEMP, reason, NULL, 0, 0, 1);
		break;
	case COALESCE_CANCELED:
		dane_answer(d, w->done, w->arg, DANE_CANCELED, "lookup canceled", NULL, 0, 0);
		break;
	}
	free(w);
	/* The job's last waiter gave up: a job still waiting for the DNS is abandoned
	 * (dane_job_idle(), from the loop: the job may be answering its waiters now). */
	if (why != COALESCE_DONE && cj->n_waiters == 0 &&
	    coalesce_find(d->jobs, DANE_JOB(cj)->e->key) == cj)
		loop_timer_start(d->loop, &DANE_JOB(cj)->idle, 0, dane_job_idle, DANE_JOB(cj));
}

void
dane_lookup_cancel(struct dane_waiter *w)
{
	coalesce_cancel_waiter(w->d->jobs, &w->cw);
}

/* ---- jobs ---- */

static struct dane_job *
dane_job_find(const struct dane *d, const struct dane_entry *e)
{
	struct coalesce_job *cj = coalesce_find(d->jobs, e->key);

	return cj != NULL ? DANE_JOB(cj) : NULL;
}

/* Cancel the job's queries (their callbacks see -ECANCELED and do nothing). */
static void
dane_job_stop_queries(struct dane_job *job)
{
	size_t i;

	loop_timer_stop(job->d->loop, &job->kick);
	if (job->mx.q != NULL) {
		struct dns_query *q = job->mx.q;

		job->mx.q = NULL;
		dns_query_cancel(q);
	}
	for (i = 0; job->hq != NULL && i < job->f.n_hosts * DANE_Q_PER_HOST; i++) {
		if (job->hq[i].q != NULL) {
			struct dns_query *q = job->hq[i].q;

			job->hq[i].q = NULL;
			dns_query_cancel(q);
		}
	}
}

static void
dane_job_free(struct dane_job *job)
{
	loop_timer_stop(job->d->loop, &job->idle);
	if (job->lookup)
		job->d->n_lookup_jobs--;
	dane_job_stop_queries(job);
	dane_findings_free(&job->f);
	free(job->hq);
	free(job);
}

static void
dane_job_finish(struct dane_job *job)
{
	struct dane *d = job->d;
	struct dane_entry *e = job->e;
	char reason[DANE_REASON_MAX];
	enum dane_verdict v;
	uint64_t now = loop_now_ms(d->loop);
	size_t i;

	if (job->busy) {
		/* Local overload, not the domain's state: nothing is cached (the previous
		 * result, if any, stays), the waiters get DANE_TEMP as after a timeout. */
		lru_touch(d->cache, &e->node);
		(void)coalesce_complete(d->jobs, &job->cj, &dane_busy_result);
		lru_unpin(&e->node);
		dane_job_free(job);
		dane_entry_drop_empty(d, e);
		return;
	}
	for (i = 0; i < job->f.n_hosts; i++)
		dane_host_classify(&job->f.hosts[i], &job->hq[i * DANE_Q_PER_HOST]);
	job->f.ttl_s = job->ttl_s == UINT32_MAX ? 0 : job->ttl_s;
	v = dane_decide(&job->f, reason, sizeof(reason));
	if (v == DANE_TEMP && job->f.mx_err != 0 && !dane_err_negative(job->f.mx_err) && e->have &&
	    !dane_verdict_temp(e->verdict) && now < e->stale_until_ms) {
		/* Not knowing is no evidence: keep what we knew, and try again later; but never
		 * past the TTLs of the records it came from. */
		d->ctr.stale_kept++;
		log_dom_info(e->key,
		             "DANE refresh failed (%s), keeping the previous result '%s' for at "
		             "most %llu s more (bounded by its records' TTLs)",
		             reason, dane_verdict_name(e->verdict),
		             (unsigned long long)((e->stale_until_ms - now + 999) / 1000));
		e->expires_ms = now + d->opts.temp_ttl_ms;
		if (e->expires_ms > e->stale_until_ms)
			e->expires_ms = e->stale_until_ms;
	} else {
		uint64_t records_ms = (uint64_t)job->f.ttl_s * 1000;

		dane_findings_free(&e->f);
		e->f = job->f;
		memset(&job->f, 0, sizeof(job->f));
		e->verdict = v;
		(void)snprintf(e->reason, sizeof(e->reason), "%s", reason);
		e->have = 1;
		e->expires_ms = now + (dane_verdict_temp(v) ? d->opts.temp_ttl_ms
		                                            : dane_ttl_ms(&d->opts, e->f.ttl_s));
		e->stale_until_ms = e->expires_ms + d->opts.stale_max_ms;
		if (now + records_ms < e->stale_until_ms)
			e->stale_until_ms = now + records_ms;
		if (log_verbosity() >= 1)
			log_dom_debug(e->key, "DANE %s: %s (kept %llu s)", dane_verdict_name(v),
			              reason,
			              (unsigned long long)((e->expires_ms - now + 999) / 1000));
	}
	lru_touch(d->cache, &e->node);
	/* e stays pinned while its waiters are answered (they may look up other domains). */
	(void)coalesce_complete(d->jobs, &job->cj, e);
	lru_unpin(&e->node);
	dane_job_free(job);
}

static void
dane_job_ttl(struct dane_job *job, const ldns_pkt *pkt, int err)
{
	uint32_t t;

	if (pkt == NULL)
		return;
	t = dane_pkt_ttl(pkt, err);
	if (t < job->ttl_s)
		job->ttl_s = t;
}

static void dane_q_done(int err, const ldns_pkt *pkt, int ad, void *arg);

static void
dane_q_start(struct dane_job *job, struct dane_q *dq, const char *name, uint16_t type)
{
	dq->job = job;
	dq->type = type;
	dq->q = dns_query_start(job->d->dns, name, type, DNS_FLAG_DO, dane_q_done, dq);
	if (dq->q == NULL) {
		/* Not a valid DNS name (too long with the _<port>._tcp prefix, or bad
		 * characters from the MX RRset): no such records can exist. */
		dq->err = type == LDNS_RR_TYPE_TLSA ? ERR_DNS_NODATA : ERR_DNS_NXDOMAIN;
		return;
	}
	job->d->ctr.queries++;
	job->pending++;
}

/* The MX answer is in: start the per-host queries. */
static void
dane_job_hosts(struct dane_job *job)
{
	struct dane_findings *f = &job->f;
	size_t i;

	job->hq = xcalloc(f->n_hosts > 0 ? f->n_hosts * DANE_Q_PER_HOST : 1, sizeof(*job->hq));
	for (i = 0; i < f->n_hosts; i++) {
		struct dane_q *q = &job->hq[i * DANE_Q_PER_HOST];
		char tlsa[DANE_TLSA_QNAME_MAX];

		q[DANE_Q_A].host = q[DANE_Q_AAAA].host = q[DANE_Q_TLSA].host = i;
		(void)snprintf(tlsa, sizeof(tlsa), "_%u._tcp.%s", (unsigned)f->port,
		               f->hosts[i].name);
		dane_q_start(job, &q[DANE_Q_A], f->hosts[i].name, LDNS_RR_TYPE_A);
		dane_q_start(job, &q[DANE_Q_AAAA], f->hosts[i].name, LDNS_RR_TYPE_AAAA);
		dane_q_start(job, &q[DANE_Q_TLSA], tlsa, LDNS_RR_TYPE_TLSA);
	}
	if (job->pending == 0)
		dane_job_finish(job);
}

static void
dane_mx_done(struct dane_job *job, int err, const ldns_pkt *pkt, int ad)
{
	struct dane_findings *f = &job->f;

	f->mx_err = err;
	f->mx_secure = ad;
	dane_job_ttl(job, pkt, err);
	if (err == 0) {
		dane_parse_mx(pkt, f);
		if (f->n_hosts == 0 && !f->null_mx)
			f->mx_err = ERR_DNS_NODATA; /* only MX RRs of other owners: no MX */
	}
	if (f->mx_err == ERR_DNS_NODATA && f->n_hosts == 0) {
		/* RFC 5321 section 5.1: no MX RRset, the domain itself is the host. */
		f->implicit_mx = 1;
		f->hosts = xcalloc(1, sizeof(*f->hosts));
		f->hosts[0].name = xstrdup(job->e->domain);
		f->n_hosts = f->n_hosts_total = 1;
	}
	if (f->n_hosts == 0) { /* NXDOMAIN, null MX, or a failure */
		dane_job_finish(job);
		return;
	}
	dane_job_hosts(job);
}

static void
dane_q_done(int err, const ldns_pkt *pkt, int ad, void *arg)
{
	struct dane_q *dq = arg;
	struct dane_job *job = dq->job;

	if (err == -ECANCELED)
		return; /* the job stopped its queries: it is restarting or being freed */
	dq->q = NULL;
	dq->err = err;
	dq->ad = ad;
	job->pending--;
	if (err == ERR_DNS_BUSY)
		job->busy = 1;
	if (dq->host == DANE_NO_HOST) {
		dane_mx_done(job, err, pkt, ad);
		return;
	}
	dane_job_ttl(job, pkt, err);
	if (dq->type == LDNS_RR_TYPE_TLSA && err == 0)
		dane_parse_tlsa(pkt, &dq->n_tlsa, &dq->n_usable);
	if (job->pending == 0)
		dane_job_finish(job);
}

static void
dane_job_kick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dane_job *job = arg;
	struct dane_findings *f = &job->f;

	f->relay = job->e->relay;
	f->port = job->e->port;
	if (f->relay) {
		/* RFC 7672 section 2.2.2: a non-MX destination, no MX lookup (Postfix does
		 * none for "[host]"): the one host is the relay itself. */
		f->hosts = xcalloc(1, sizeof(*f->hosts));
		f->hosts[0].name = xstrdup(job->e->domain);
		f->n_hosts = f->n_hosts_total = 1;
		dane_job_hosts(job);
		return;
	}
	job->mx.host = DANE_NO_HOST;
	dane_q_start(job, &job->mx, job->e->domain, LDNS_RR_TYPE_MX);
	if (job->mx.q == NULL) {
		job->f.mx_err = ERR_DNS_MALFORMED;
		dane_job_finish(job);
	}
}

/* (Re)start: forget partial findings, kick on the next loop iteration. */
static void
dane_job_reset(struct dane_job *job)
{
	dane_job_stop_queries(job);
	dane_findings_free(&job->f);
	free(job->hq);
	job->hq = NULL;
	memset(&job->mx, 0, sizeof(job->mx));
	job->pending = 0;
	job->ttl_s = UINT32_MAX;
	loop_timer_start(job->d->loop, &job->kick, 0, dane_job_kick, job);
}

/* e's job ended without a result for it (abandoned, or its queries never sent): an entry
 * that never had one leaves the cache, so a flood of names leaves nothing behind. */
static void
dane_entry_drop_empty(struct dane *d, struct dane_entry *e)
{
	if (e->have || e->node.pins > 0)
		return;
	lru_remove(d->cache, &e->node);
	dane_entry_free(e);
}

/* Whether one of the job's queries still waits for a dns_concurrency slot. */
static int
dane_job_unsent(const struct dane_job *job)
{
	size_t i;

	if (loop_timer_armed(&job->kick))
		return 1;
	if (job->mx.q != NULL && !dns_query_sent(job->mx.q))
		return 1;
	for (i = 0; job->hq != NULL && i < job->f.n_hosts * DANE_Q_PER_HOST; i++)
		if (job->hq[i].q != NULL && !dns_query_sent(job->hq[i].q))
			return 1;
	return 0;
}

/* The job's last waiter gave up (timeout, cancel). A job whose queries are all sent goes
 * on and fills the cache (a slow domain is then answered when Postfix retries); one that
 * still waits for the DNS is stopped, its queries leave the DNS client's FIFO unsent (a
 * flood of names that never answer must not hold the slots the cached domains' refreshes
 * need, issue 16). Its entry keeps its previous result, if any. */
static void
dane_job_idle(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dane_job *job = arg;
	struct dane *d = job->d;
	struct dane_entry *e = job->e;

	(void)loop;
	(void)t;
	if (job->cj.n_waiters > 0 || !dane_job_unsent(job))
		return;
	d->ctr.abandoned++;
	dane_job_stop_queries(job);
	(void)coalesce_cancel(d->jobs, &job->cj); /* no waiters: answers nobody */
	lru_unpin(&e->node);
	dane_job_free(job);
	dane_entry_drop_empty(d, e);
}

/* A job for e, started (e is pinned until it ends); NULL when the job table is full.
 * lookup: started by a lookup, counted against resolver.max_discoveries. */
static struct dane_job *
dane_job_start(struct dane *d, struct dane_entry *e, int lookup)
{
	struct dane_job *job = xcalloc(1, sizeof(*job));

	job->d = d;
	job->e = e;
	if (coalesce_add(d->jobs, &job->cj, e->key) < 0) {
		free(job);
		return NULL;
	}
	job->lookup = lookup;
	if (lookup)
		d->n_lookup_jobs++;
	lru_pin(&e->node);
	d->ctr.jobs++;
	dane_job_reset(job);
	return job;
}

/* ---- lookups ---- */

void
dane_lookup(struct dane *d, const char *domain, const struct domain_nexthop *nh,
            uint64_t timeout_ms, dane_done_fn *done, void *arg, struct dane_waiter **ret_w)
{
	struct dane_entry *e;
	uint64_t now = loop_now_ms(d->loop);
	struct dane_job *job;
	struct dane_waiter *w;
	char key[DANE_KEY_BUF];
	int relay = nh != NULL && nh->relay;
	uint16_t port = nh != NULL ? nh->port : DOMAIN_NEXTHOP_PORT_DEFAULT;

	*ret_w = NULL;
	d->ctr.lookups++;
	if (!d->trusted) {
		/* The AD bits cannot be trusted: DANE cannot apply, whatever DNS would say. */
		dane_answer(d, done, arg, DANE_NONE, DANE_UNTRUSTED_REASON, NULL, 0, 0);
		return;
	}
	if (strnlen(domain, DOMAIN_BUF) >= DOMAIN_BUF) {
		dane_answer(d, done, arg, DANE_TEMP, "domain name too long", NULL, 0, 0);
		return;
	}
	if (port == 0) {
		/* A service name Postfix maps through /etc/services: no TLSA name to ask. */
		dane_answer(d, done, arg, DANE_NONE,
		            "next-hop port is a service name mtastsd does not map: TLSA not looked "
		            "up",
		            NULL, 0, 0);
		return;
	}
	dane_key(key, domain, relay, port);
	e = dane_entry_find(d, key);
	if (e != NULL && e->have && now < e->expires_ms) {
		d->ctr.cache_hits++;
		lru_touch(d->cache, &e->node);
		dane_answer(d, done, arg, e->verdict, e->reason, &e->f, 1, 0);
		return;
	}
	if (e != NULL && e->have && !dane_verdict_temp(e->verdict) && now < e->stale_until_ms) {
		d->ctr.stale_served++;
		lru_touch(d->cache, &e->node);
		if (dane_job_find(d, e) == NULL)
			(void)dane_job_start(d, e, 0); /* table full: the next lookup tries again */
		dane_answer(d, done, arg, e->verdict, e->reason, &e->f, 1, 1);
		return;
	}
	job = e != NULL ? dane_job_find(d, e) : NULL;
	if (job == NULL && d->n_lookup_jobs >= d->cfg->max_discoveries) {
		/* Issue 16: as many DANE jobs of lookups as MTA-STS discoveries, no more. */
		d->ctr.rejected++;
		dane_reject_log(d, key, "too many jobs in flight");
		dane_answer_x(d, done, arg, DANE_TEMP,
		              "DANE lookup not finished: too many DANE jobs in flight "
		              "(resolver.max_discoveries)",
		              NULL, 0, 0, 1);
		return;
	}
	if (e == NULL)
		e = dane_entry_new(d, key, domain, relay, port);
	else
		lru_touch(d->cache, &e->node);
	if (job != NULL) {
		d->ctr.coalesced++;
	} else {
		d->ctr.cache_misses++;
		job = dane_job_start(d, e, 1);
	}
	w = xcalloc(1, sizeof(*w));
	w->d = d;
	w->done = done;
	w->arg = arg;
	if (job == NULL || coalesce_wait(d->jobs, &job->cj, &w->cw, timeout_ms) < 0) {
		/* Limits (RES_JOBS_MAX, RES_WAITERS_MAX): no waiting, as after a timeout. */
		free(w);
		d->ctr.rejected++;
		dane_reject_log(d, key, "job or waiter table full (RES_JOBS_MAX, RES_WAITERS_MAX)");
		dane_answer_x(d, done, arg, DANE_TEMP,
		              "DANE lookup not finished: too many DANE lookups in flight", NULL, 0,
		              0, 1);
		return;
	}
	*ret_w = w;
}

/* ---- lifecycle ---- */

static void
dane_apply_opts(struct dane *d, const struct cfg_resolver *cfg, const struct dane_opts *opts)
{
	if (opts != &d->opts) {
		d->opts = opts != NULL ? *opts : dane_opts_default();
		d->temp_from_cfg = d->opts.temp_ttl_ms == 0;
	}
	if (d->temp_from_cfg) {
		d->opts.temp_ttl_ms = cfg->tempfail_ttl_ms;
		if (d->opts.temp_ttl_ms > DANE_TEMP_TTL_MAX_MS)
			d->opts.temp_ttl_ms = DANE_TEMP_TTL_MAX_MS;
		if (d->opts.temp_ttl_ms == 0)
			d->opts.temp_ttl_ms = 1000;
	}
	if (d->opts.ttl_max_ms < d->opts.ttl_min_ms)
		d->opts.ttl_max_ms = d->opts.ttl_min_ms;
}

/* The AD trust, said once: a warning when it is missing (at start, or lost on reload) and
 * a zone has dane on, a notice when a reload brings it back. */
static void
dane_log_trust(struct dane *d, int was_trusted)
{
	char srv[DANE_SERVER_TEXT_MAX];
	size_t i, n;
	int any = 0;

	for (i = 0; i < d->cfg->n_zones; i++)
		any |= d->cfg->zones[i].dane;
	if (d->trusted) {
		if (!was_trusted && d->warned)
			log_notice("dane: the DNS servers are all on loopback now: DANE applies");
		d->warned = 0;
		return;
	}
	if (!any || d->warned)
		return;
	d->warned = 1;
	n = dns_client_off_loopback(d->dns, srv, sizeof(srv));
	log_warn("dane: off: DNS server %s%s (from %s) is not on loopback, its AD bit cannot be "
	         "trusted; MTA-STS works alone. To use DANE: run a validating resolver (e.g. "
	         "unbound) on this host and set resolver.dns_servers = [\"127.0.0.1\"] "
	         "(docs/dane.md)",
	         srv, n > 1 ? " and others" : "",
	         d->cfg->n_dns_servers > 0 ? "resolver.dns_servers" : DNS_RESOLV_CONF);
}

int
dane_new(struct loop *loop, const struct cfg_resolver *cfg, const struct dane_opts *opts,
         struct dane **ret_d)
{
	return dane_new_like(loop, cfg, opts, NULL, ret_d);
}

int
dane_new_like(struct loop *loop, const struct cfg_resolver *cfg, const struct dane_opts *opts,
              const struct dns_client *like, struct dane **ret_d)
{
	struct dane *d = xcalloc(1, sizeof(*d));
	int r;

	d->loop = loop;
	d->cfg = cfg;
	dane_apply_opts(d, cfg, opts);
	r = dns_client_new_like(loop, cfg, like, &d->dns);
	if (r < 0) {
		free(d);
		return r;
	}
	d->trusted = dns_client_servers_loopback(d->dns);
	d->cache = lru_new(d->opts.max_entries, dane_entry_evict, d);
	d->jobs = coalesce_new(loop, RES_JOBS_MAX, RES_WAITERS_MAX, dane_waiter_answer, d);
	dane_log_trust(d, 1);
	*ret_d = d;
	return 0;
}

static int
dane_servers_same(const struct cfg_resolver *a, const struct cfg_resolver *b)
{
	size_t i;

	if (a->n_dns_servers != b->n_dns_servers)
		return 0;
	for (i = 0; i < a->n_dns_servers; i++)
		if (strcmp(a->dns_servers[i], b->dns_servers[i]) != 0)
			return 0;
	return 1;
}

/* The AD trust is gone (dane_reload()): every job ends now, its waiters answered DANE_NONE,
 * nothing cached; a waiter's callback finds d untrusted and starts no job. */
static void
dane_jobs_end_untrusted(struct dane *d)
{
	struct coalesce_job *cj;

	while ((cj = coalesce_first(d->jobs)) != NULL) {
		struct dane_job *job = DANE_JOB(cj);
		struct dane_entry *e = job->e;

		dane_job_stop_queries(job);
		(void)coalesce_complete(d->jobs, cj, &dane_untrusted_result);
		lru_unpin(&e->node);
		dane_job_free(job);
	}
}

int
dane_reload(struct dane *d, const struct cfg_resolver *cfg)
{
	return dane_reload_like(d, cfg, NULL);
}

int
dane_reload_like(struct dane *d, const struct cfg_resolver *cfg, const struct dns_client *like)
{
	struct dns_client *dns, *old = d->dns;
	struct coalesce_job *cj;
	struct lru_node *n, *newer;
	int r, same = dane_servers_same(d->cfg, cfg), was_trusted = d->trusted;

	r = dns_client_new_like(d->loop, cfg, like, &dns);
	if (r < 0) {
		/* Keep the old client (it copied what it needs) but never the old cfg. */
		d->cfg = cfg;
		dane_apply_opts(d, cfg, &d->opts);
		return r;
	}
	/* Stop every query on the old client; the jobs start again on the new one. */
	for (cj = coalesce_first(d->jobs); cj != NULL; cj = coalesce_next(cj))
		dane_job_stop_queries(DANE_JOB(cj));
	d->dns = dns;
	d->cfg = cfg;
	d->trusted = dns_client_servers_loopback(dns);
	dane_apply_opts(d, cfg, &d->opts);
	if (!d->trusted)
		dane_jobs_end_untrusted(d); /* no job is left: the loop below empties the cache */
	for (cj = coalesce_first(d->jobs); cj != NULL; cj = coalesce_next(cj))
		dane_job_reset(DANE_JOB(cj));
	dns_client_free(old);
	/* /etc/resolv.conf may have changed under an unchanged (empty) server list */
	same = same && was_trusted == d->trusted;
	for (n = lru_oldest(d->cache); !same && n != NULL; n = newer) {
		newer = lru_newer(n);
		if (n->pins == 0) { /* no job */
			lru_remove(d->cache, n);
			dane_entry_free(DANE_ENTRY(n));
		}
	}
	dane_log_trust(d, was_trusted);
	return 0;
}

struct dane *
dane_free(struct dane *d)
{
	struct coalesce_job *cj;
	struct lru_node *n;

	if (d == NULL)
		return NULL;
	while ((cj = coalesce_first(d->jobs)) != NULL) {
		struct dane_job *job = DANE_JOB(cj);

		dane_job_stop_queries(job);
		(void)coalesce_cancel(d->jobs, cj); /* waiters: DANE_CANCELED */
		lru_unpin(&job->e->node);
		dane_job_free(job);
	}
	while ((n = lru_pop_oldest(d->cache)) != NULL)
		dane_entry_free(DANE_ENTRY(n));
	d->dns = dns_client_free(d->dns);
	d->jobs = coalesce_free(d->jobs);
	d->cache = lru_free(d->cache);
	free(d);
	return NULL;
}

const struct dane_counters *
dane_counters(const struct dane *d)
{
	return &d->ctr;
}

static const char *
dane_verdict_label(size_t i)
{
	return dane_verdict_name((enum dane_verdict)i);
}

#define DANE_CTR(f) offsetof(struct dane_counters, f)

static uint64_t
dane_get_lookup_jobs(const void *obj)
{
	const struct dane *d =
	        (const struct dane *)(const void *)((const char *)obj - offsetof(struct dane, ctr));

	return d->n_lookup_jobs;
}

static const struct stats_field dane_cache_hits[] = {
        {"fresh", "cache_hits", .off = DANE_CTR(cache_hits)},
        {"stale", "stale_served", .off = DANE_CTR(stale_served)},
};

static const struct stats_metric dane_stats[] = {
        {.json = "dane.lookups", .off = DANE_CTR(lookups)},
        {"mtastsd_dane_lookups_total", STATS_COUNTER, "DANE lookups answered, by verdict.",
         .json = "dane.verdicts", .label = "outcome", .off = DANE_CTR(answers),
         .n = DANE_VERDICT_COUNT, .label_of = dane_verdict_label},
        {"mtastsd_dane_cache_hits_total", STATS_COUNTER,
         "DANE lookups answered from the DANE cache, by freshness.", .json = "dane",
         .label = "kind", .fields = dane_cache_hits, .n = STATS_COUNT(dane_cache_hits)},
        {"mtastsd_dane_cache_misses_total", STATS_COUNTER,
         "DANE lookups that had to wait for DNS answers.", .json = "dane.cache_misses",
         .off = DANE_CTR(cache_misses)},
        {"mtastsd_dane_lookups_coalesced_total", STATS_COUNTER,
         "DANE lookups that joined a job already in flight.", .json = "dane.coalesced",
         .off = DANE_CTR(coalesced)},
        {"mtastsd_dane_stale_kept_total", STATS_COUNTER,
         "DANE refreshes that failed and kept the old result.", .json = "dane.stale_kept",
         .off = DANE_CTR(stale_kept)},
        {"mtastsd_dane_jobs_total", STATS_COUNTER,
         "DANE jobs started (MX, address and TLSA lookups of one domain).", .json = "dane.jobs",
         .off = DANE_CTR(jobs)},
        {"mtastsd_dane_dns_queries_total", STATS_COUNTER, "DNS queries sent by DANE.",
         .json = "dane.queries", .off = DANE_CTR(queries)},
        {"mtastsd_dane_timeouts_total", STATS_COUNTER,
         "DANE lookups answered tempfail because their timeout passed.", .json = "dane.timeouts",
         .off = DANE_CTR(timeouts)},
        {"mtastsd_dane_cache_evictions_total", STATS_COUNTER,
         "DANE cache entries dropped for room.", .json = "dane.evictions",
         .off = DANE_CTR(evictions)},
        {"mtastsd_dane_lookups_rejected_total", STATS_COUNTER,
         "DANE lookups answered as timed out without a job: resolver.max_discoveries DANE "
         "jobs of lookups in flight, or the job/waiter tables full.",
         .json = "dane.rejected", .off = DANE_CTR(rejected)},
        {"mtastsd_dane_jobs_abandoned_total", STATS_COUNTER,
         "DANE jobs stopped when their last lookup gave up while their queries still "
         "waited for a dns_concurrency slot (the queries were never sent).",
         .json = "dane.abandoned", .off = DANE_CTR(abandoned)},
        {"mtastsd_dane_jobs_in_flight", STATS_GAUGE,
         "DANE jobs started by lookups in flight (at most resolver.max_discoveries).",
         .json = "dane.jobs_in_flight", .get = dane_get_lookup_jobs},
};

void
dane_stats_add(const struct dane *d, struct stats *st)
{
	stats_add(st, dane_stats, STATS_COUNT(dane_stats), &d->ctr);
}

size_t
dane_cache_entries(const struct dane *d)
{
	return lru_count(d->cache);
}

size_t
dane_jobs_in_flight(const struct dane *d)
{
	return coalesce_jobs(d->jobs);
}

int
dane_ad_trusted(const struct dane *d)
{
	return d->trusted;
}
