/*
 * tests/unit/resolver/test_dane.c - DANE first (issue 7, resolver/dane.c): decision table,
 * TLSA usability, lifetimes, the DANE module against its real DNS client
 *
 * Pure parts: dane_tlsa_usable(), dane_ttl_ms(), dane_decide().
 * Module: ldns-testns serves tests/system/data/dane/unit.testns on a random loopback port
 * (the AD bits are set there as a validating resolver on loopback would); a UDP socket the
 * test binds and never reads plays the resolver that does not answer. Each case runs one
 * loop; its steps are chained by a polling timer (bounded: 5 s past the step's delay).
 * AD trust: dane_new() with server lists off loopback (nothing is ever sent to them).
 * How lookup.c combines DANE with MTA-STS is tested in test_lookup.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "cache_mem.h"
#include "cache.h"
#include "cfg.h"
#include "dane.h"
#include "domain.h"
#include "err.h"
#include "log.h"
#include "lookup.h"
#include "loop.h"
#include "pol_engine.h"
#include "sts_policy.h"
#include "xalloc.h"

#define TESTNS_DATA TEST_DATA_DIR "/../../system/data/dane/unit.testns"
#include "../testutil.h"
#include "testns.h"
/* Liveness bound of each step (it runs as soon as its condition holds) and the lookup
 * timeout of lookup.c's test: far above what a loopback query takes. */
#define WAIT_MS 30000
#define ANS_MAX 16

static int silent_fd = -1;
static unsigned silent_port;

/* ---- ldns-testns and the silent server (as in test_dns_client.c) ---------------------- */

static int
bind_udp(unsigned *ret_port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		(void)close(fd);
		return -1;
	}
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

static int
group_setup(void **state)
{
	log_set_verbosity(getenv("DANE_VERBOSE") != NULL ? 2 : 0);
	if (testns_start() < 0) {
		fprintf(stderr, "cannot start ldns-testns (package ldnsutils)\n");
		return -1;
	}
	silent_fd = bind_udp(&silent_port);
	return silent_fd < 0 ? -1 : 0;
}

static int
group_teardown(void **state)
{
	testns_stop();
	if (silent_fd >= 0)
		(void)close(silent_fd);
	return 0;
}

/* ---- the harness: a cfg on the lab server, answers, chained steps ----------------------- */

struct ans {
	int called;
	enum dane_verdict v;
	char reason[DANE_REASON_MAX];
	int cached, stale, ad_trusted, have_f, unfinished;
	int mx_secure, implicit_mx, null_mx, relay;
	unsigned port;
	size_t n_hosts;
	enum dane_host_state st[4];
	char host[4][64];
	uint32_t ttl_s;
};

struct t;
typedef int t_cond_fn(struct t *t);
typedef void t_step_fn(struct t *t);

struct t {
	struct cfg *cfg;
	struct loop *loop;
	struct dane *d;
	struct dane_opts opts;
	struct ans a[ANS_MAX];
	size_t n; /* answers asked for so far */
	size_t want;
	struct loop_timer timer;
	uint64_t deadline_ms;
	t_cond_fn *cond;
	t_step_fn *then;
	struct dane_waiter *w;
};

static void
t_new(struct t *t, unsigned port, const struct dane_opts *opts)
{
	memset(t, 0, sizeof(*t));
	t->cfg = testns_cfg(port);
	t->opts = opts != NULL ? *opts : dane_opts_default();
	assert_int_equal(loop_new(&t->loop), 0);
	assert_int_equal(dane_new(t->loop, &t->cfg->resolver, &t->opts, &t->d), 0);
}

/* t_new() with lifetimes for timing cases: no minimum, at most ttl_max_ms, served stale at
 * most stale_max_ms past expiry, temp_ttl_ms for TEMP (0: resolver.tempfail_ttl, 1 s). */
static void
t_new_short(struct t *t, uint64_t ttl_max_ms, uint64_t stale_max_ms, uint64_t temp_ttl_ms)
{
	struct dane_opts o = dane_opts_default();

	o.ttl_min_ms = 0;
	o.ttl_max_ms = ttl_max_ms;
	o.stale_max_ms = stale_max_ms;
	o.temp_ttl_ms = temp_ttl_ms;
	t_new(t, testns_port, &o);
}

static void
t_free(struct t *t)
{
	loop_timer_stop(t->loop, &t->timer);
	t->d = dane_free(t->d);
	t->loop = loop_free(t->loop);
	t->cfg = cfg_free(t->cfg);
}

static void
on_answer(const struct dane_result *r, void *arg)
{
	struct ans *a = arg;
	size_t i;

	a->called++;
	a->v = r->verdict;
	(void)snprintf(a->reason, sizeof(a->reason), "%s", r->reason);
	a->cached = r->cached;
	a->stale = r->stale;
	a->ad_trusted = r->ad_trusted;
	a->have_f = r->f != NULL;
	a->unfinished = r->unfinished;
	if (r->f != NULL) {
		a->mx_secure = r->f->mx_secure;
		a->implicit_mx = r->f->implicit_mx;
		a->null_mx = r->f->null_mx;
		a->relay = r->f->relay;
		a->port = r->f->port;
		a->n_hosts = r->f->n_hosts;
		a->ttl_s = r->f->ttl_s;
		for (i = 0; i < r->f->n_hosts && i < 4; i++) {
			a->st[i] = r->f->hosts[i].state;
			(void)snprintf(a->host[i], sizeof(a->host[i]), "%s", r->f->hosts[i].name);
		}
	}
}

/* Ask for the next hop key (as Postfix sends it: "domain", "[host]:587"); returns the
 * answer slot. The waiter handle is kept in t->w. */
static struct ans *
t_ask(struct t *t, const char *key, uint64_t timeout_ms)
{
	char domain[DOMAIN_BUF];
	struct domain_nexthop nh;
	struct ans *a;

	assert_true(t->n < ANS_MAX);
	assert_int_equal(domain_nexthop_parse(key, strlen(key), domain, &nh), 0);
	a = &t->a[t->n++];
	t->w = NULL;
	dane_lookup(t->d, domain, &nh, timeout_ms, on_answer, a, &t->w);
	return a;
}

static int
t_all_answered(struct t *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->a[i].called == 0)
			return 0;
	return 1;
}

static void
t_poll(struct loop *loop, struct loop_timer *tm, void *arg)
{
	struct t *t = arg;

	if (t->cond(t)) {
		t_step_fn *s = t->then;

		t->then = NULL;
		s(t);
		return;
	}
	if (loop_now_ms(loop) > t->deadline_ms) {
		fprintf(stderr, "step condition not met in time\n");
		loop_exit(loop, 1);
		return;
	}
	loop_timer_start(loop, &t->timer, 5, t_poll, t);
}

/* After after_ms, then as soon as cond holds (at most WAIT_MS later), run then. */
static void
t_when(struct t *t, uint64_t after_ms, t_cond_fn *cond, t_step_fn *then)
{
	t->cond = cond != NULL ? cond : t_all_answered;
	t->then = then;
	t->deadline_ms = loop_now_ms(t->loop) + after_ms + WAIT_MS;
	loop_timer_start(t->loop, &t->timer, after_ms, t_poll, t);
}

static void
t_done(struct t *t)
{
	loop_exit(t->loop, 0);
}

static void
t_run(struct t *t, t_step_fn *first)
{
	t_when(t, 0, NULL, first);
	assert_int_equal(loop_run(t->loop), 0);
}

/* ---- pure parts ------------------------------------------------------------------------ */

static void
test_tlsa_usable(void **state)
{
	unsigned u, s, m, usable = 0;

	for (u = 0; u < 5; u++)
		for (s = 0; s < 3; s++)
			for (m = 0; m < 4; m++)
				usable += (unsigned)dane_tlsa_usable(u, s, m);
	/* usage 2 or 3 x selector 0/1 x matching 0/1/2 */
	assert_int_equal(usable, 2 * 2 * 3);
	assert_true(dane_tlsa_usable(3, 1, 1));
	assert_true(dane_tlsa_usable(2, 0, 2));
	assert_true(dane_tlsa_usable(3, 0, 0));
	assert_false(dane_tlsa_usable(0, 0, 1)); /* PKIX-TA: unusable for SMTP (RFC 7672 3.1.3) */
	assert_false(dane_tlsa_usable(1, 1, 1)); /* PKIX-EE */
	assert_false(dane_tlsa_usable(3, 2, 1)); /* unknown selector */
	assert_false(dane_tlsa_usable(3, 1, 3)); /* unknown matching type */
	assert_false(dane_tlsa_usable(4, 1, 1));
}

static void
test_ttl_bounds(void **state)
{
	struct dane_opts o = dane_opts_default();

	assert_int_equal(o.ttl_min_ms, 60000);
	assert_int_equal(o.ttl_max_ms, 3600000);
	assert_int_equal(o.stale_max_ms, 86400000ull);
	assert_int_equal(dane_ttl_ms(&o, 0), 60000);
	assert_int_equal(dane_ttl_ms(&o, 59), 60000);
	assert_int_equal(dane_ttl_ms(&o, 300), 300000);
	assert_int_equal(dane_ttl_ms(&o, 3600), 3600000);
	assert_int_equal(dane_ttl_ms(&o, 86400), 3600000);
	assert_int_equal(dane_ttl_ms(&o, UINT32_MAX), 3600000);
	o.ttl_min_ms = 0;
	o.ttl_max_ms = 500;
	assert_int_equal(dane_ttl_ms(&o, 0), 0);
	assert_int_equal(dane_ttl_ms(&o, 1), 500);
}

static struct dane_host hosts_buf[DANE_MX_MAX];
static char host_names[DANE_MX_MAX][32];

/* Findings with the given host states ("U" usable, "u" unusable, "n" no TLSA, "i" insecure,
 * "a" no address, "T" TLSA failed, "A" address failed). */
static struct dane_findings
findings(int mx_err, int mx_secure, const char *states)
{
	struct dane_findings f;
	size_t i;

	memset(&f, 0, sizeof(f));
	memset(hosts_buf, 0, sizeof(hosts_buf));
	f.port = 25;
	f.mx_err = mx_err;
	f.mx_secure = mx_secure;
	f.hosts = hosts_buf;
	for (i = 0; states[i] != '\0' && i < DANE_MX_MAX; i++) {
		struct dane_host *h = &hosts_buf[i];

		(void)snprintf(host_names[i], sizeof(host_names[i]), "mx%zu.example", i + 1);
		h->name = host_names[i];
		h->pref = (uint16_t)(10 * (i + 1));
		switch (states[i]) {
		case 'U':
			h->state = DANE_HOST_USABLE;
			break;
		case 'u':
			h->state = DANE_HOST_UNUSABLE;
			break;
		case 'n':
			h->state = DANE_HOST_NO_TLSA;
			break;
		case 'i':
			h->state = DANE_HOST_INSECURE;
			break;
		case 'a':
			h->state = DANE_HOST_NO_ADDR;
			break;
		case 'T':
			h->state = DANE_HOST_TLSA_FAIL;
			h->err = ERR_DNS_SERVFAIL;
			break;
		case 'A':
			h->state = DANE_HOST_ADDR_FAIL;
			h->err = ERR_DNS_TIMEOUT;
			break;
		}
	}
	f.n_hosts = f.n_hosts_total = i;
	return f;
}

static enum dane_verdict
decide(int mx_err, int mx_secure, const char *states, char *reason)
{
	struct dane_findings f = findings(mx_err, mx_secure, states);

	return dane_decide(&f, reason, DANE_REASON_MAX);
}

static void
test_decide_table(void **state)
{
	char r[DANE_REASON_MAX];
	struct dane_findings f;

	/* The MX RRset itself */
	assert_int_equal(decide(ERR_DNS_SERVFAIL, 0, "", r), DANE_TEMP);
	assert_string_equal(r, "MX lookup failed: DNS server failure (SERVFAIL)");
	assert_int_equal(decide(ERR_DNS_TIMEOUT, 1, "", r), DANE_TEMP);
	assert_int_equal(decide(ERR_DNS_NXDOMAIN, 1, "", r), DANE_NONE);
	assert_string_equal(r, "the domain does not exist (NXDOMAIN)");
	f = findings(0, 1, "");
	f.null_mx = 1;
	assert_int_equal(dane_decide(&f, r, sizeof(r)), DANE_NONE);
	assert_string_equal(r, "null MX (RFC 7505): the domain takes no mail");
	/* Secure MX RRset */
	assert_int_equal(decide(0, 1, "UU", r), DANE_ONLY);
	assert_string_equal(r, "MX RRset secure, all 2 MX hosts have usable TLSA records");
	assert_int_equal(decide(ERR_DNS_NODATA, 1, "U", r), DANE_ONLY); /* implicit MX */
	assert_int_equal(decide(0, 1, "Ua", r), DANE_ONLY); /* a host without address is no host */
	assert_int_equal(decide(0, 1, "Un", r), DANE_MAY);
	assert_string_equal(r, "MX RRset secure, 1 of 2 MX hosts with usable TLSA records, 0 with "
	                       "unusable ones");
	assert_int_equal(decide(0, 1, "Ui", r), DANE_MAY);
	assert_int_equal(decide(0, 1, "uu", r), DANE_MAY);
	assert_string_equal(r, "MX RRset secure, TLSA records present but none usable (2 of 2 MX "
	                       "hosts)");
	assert_int_equal(decide(0, 1, "Uu", r), DANE_MAY);
	assert_int_equal(decide(0, 1, "nn", r), DANE_NONE);
	assert_string_equal(r, "MX RRset secure and no MX host secure with TLSA records");
	assert_int_equal(decide(0, 1, "ii", r), DANE_NONE);
	assert_int_equal(decide(0, 1, "aa", r), DANE_NONE);
	assert_string_equal(r, "no MX host has an address");
	/* Failures on a secure chain: TEMP, never a fallback */
	assert_int_equal(decide(0, 1, "UT", r), DANE_TEMP);
	assert_string_equal(r, "TLSA lookup of _25._tcp.mx2.example failed: DNS server failure "
	                       "(SERVFAIL)");
	assert_int_equal(decide(0, 1, "nA", r), DANE_TEMP);
	assert_string_equal(r, "address lookup of MX host mx2.example failed: DNS timeout");
	/* Insecure MX RRset (issue 15): its hosts are whatever the answer named, so their TLSA
	 * records and failures count only where no MTA-STS policy applies. */
	assert_int_equal(decide(0, 0, "iT", r), DANE_TEMP_UNLESS_STS);
	assert_string_equal(r, "TLSA lookup of _25._tcp.mx2.example failed: DNS server failure "
	                       "(SERVFAIL)");
	assert_int_equal(decide(0, 0, "UU", r), DANE_MAY_UNLESS_STS);
	assert_string_equal(r, "MX RRset insecure, 2 of 2 MX hosts secure with TLSA records: used "
	                       "only where no MTA-STS policy applies");
	assert_int_equal(decide(0, 0, "u", r), DANE_MAY_UNLESS_STS);
	assert_int_equal(decide(ERR_DNS_NODATA, 0, "U", r), DANE_MAY_UNLESS_STS); /* implicit */
	assert_int_equal(decide(0, 0, "ii", r), DANE_NONE);
	assert_string_equal(r, "MX RRset insecure and no MX host secure with TLSA records");
	assert_int_equal(decide(0, 0, "iA", r), DANE_NONE); /* unknown host of an insecure RRset */
	assert_int_equal(decide(0, 0, "UA", r), DANE_MAY_UNLESS_STS);
	/* More hosts than examined: never dane-only */
	f = findings(0, 1, "UU");
	f.n_hosts_total = DANE_MX_MAX + 1;
	assert_int_equal(dane_decide(&f, r, sizeof(r)), DANE_MAY);
	/* The port of the next hop names the TLSA RRset */
	f = findings(0, 1, "T");
	f.port = 2525;
	assert_int_equal(dane_decide(&f, r, sizeof(r)), DANE_TEMP);
	assert_string_equal(r, "TLSA lookup of _2525._tcp.mx1.example failed: DNS server failure "
	                       "(SERVFAIL)");
}

/* A relay "[host]:port" (issue 22 part 6, RFC 7672 section 2.2.2): no MX RRset, the host is
 * the one the local configuration names, so it is as trusted as a secure MX RRset. */
static enum dane_verdict
decide_relay(const char *state, char *reason)
{
	struct dane_findings f = findings(ERR_DNS_SERVFAIL, 0, state); /* no MX lookup: unused */

	f.relay = 1;
	f.port = 587;
	hosts_buf[0].name = "relay.example";
	return dane_decide(&f, reason, DANE_REASON_MAX);
}

static void
test_decide_relay(void **state)
{
	char r[DANE_REASON_MAX];

	assert_int_equal(decide_relay("U", r), DANE_ONLY);
	assert_string_equal(r, "relay (no MX lookup): relay.example has usable TLSA records at "
	                       "_587._tcp");
	assert_int_equal(decide_relay("u", r), DANE_MAY);
	assert_string_equal(r, "relay (no MX lookup): relay.example has TLSA records at _587._tcp, "
	                       "none usable");
	assert_int_equal(decide_relay("n", r), DANE_NONE);
	assert_string_equal(r,
	                    "relay (no MX lookup): relay.example not secure with TLSA records at "
	                    "_587._tcp");
	assert_int_equal(decide_relay("i", r), DANE_NONE);
	assert_int_equal(decide_relay("a", r), DANE_NONE);
	assert_string_equal(r, "no relay host has an address");
	assert_int_equal(decide_relay("T", r), DANE_TEMP);
	assert_string_equal(r, "TLSA lookup of _587._tcp.relay.example failed: DNS server failure "
	                       "(SERVFAIL)");
	assert_int_equal(decide_relay("A", r), DANE_TEMP);
	assert_string_equal(r, "address lookup of relay host relay.example failed: DNS timeout");
}

/* ---- the module on ldns-testns ---------------------------------------------------------- */

static struct t T;

/* The start many cases share: ask for one key, and wait_ms after its answer run a step
 * (t_run_after()). first_ms is the loop time just after that answer. */
static const char *first_key;
static uint64_t first_wait_ms, first_ms;
static t_step_fn *first_then;

static void
s_first_answered(struct t *t)
{
	first_ms = loop_now_ms(t->loop);
	t_when(t, first_wait_ms, NULL, first_then);
}

static void
s_first(struct t *t)
{
	t_ask(t, first_key, 0);
	t_when(t, 0, NULL, s_first_answered);
}

/* Ask for every key at once and run the loop until all are answered. */
static const char *const *batch_keys;
static size_t batch_n;

static void
s_batch(struct t *t)
{
	size_t i;

	for (i = 0; i < batch_n; i++)
		t_ask(t, batch_keys[i], 0);
	t_when(t, 0, NULL, t_done);
}

static void
t_run_keys(struct t *t, const char *const *keys, size_t n)
{
	batch_keys = keys;
	batch_n = n;
	t_run(t, s_batch);
}

static void
t_run_after(struct t *t, const char *key, uint64_t wait_ms, t_step_fn *then)
{
	first_key = key;
	first_wait_ms = wait_ms;
	first_then = then;
	t_run(t, s_first);
}

static void
s_dane_only_1(struct t *t)
{
	t_ask(t, "ad.test", 0);
	assert_non_null(t->w); /* first lookup waits */
	t_when(t, 0, NULL, t_done);
}

static void
test_dane_only_and_cache(void **state)
{
	const struct dane_counters *c;
	struct ans *a;

	t_new(&T, testns_port, NULL);
	assert_true(dane_ad_trusted(T.d));
	t_run(&T, s_dane_only_1);
	a = &T.a[0];
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_ONLY);
	assert_string_equal(a->reason, "MX RRset secure, all 2 MX hosts have usable TLSA records");
	assert_false(a->cached);
	assert_true(a->ad_trusted);
	assert_true(a->mx_secure);
	assert_int_equal(a->n_hosts, 2);
	assert_string_equal(a->host[0], "mx1.ad.test");
	assert_string_equal(a->host[1], "mx2.ad.test");
	assert_int_equal(a->st[0], DANE_HOST_USABLE);
	assert_int_equal(a->st[1], DANE_HOST_USABLE);
	assert_int_equal(a->ttl_s, 120); /* mx2's TLSA RRset has the smallest TTL */
	c = dane_counters(T.d);
	assert_int_equal(c->jobs, 1);
	assert_int_equal(c->queries, 7); /* MX + 2 x (A, AAAA, TLSA) */
	/* Cached: answered before dane_lookup() returns. */
	a = t_ask(&T, "ad.test", 0);
	assert_null(T.w);
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_ONLY);
	assert_true(a->cached);
	assert_false(a->stale);
	c = dane_counters(T.d);
	assert_int_equal(c->cache_hits, 1);
	assert_int_equal(c->answers[DANE_ONLY], 2);
	assert_int_equal(dane_cache_entries(T.d), 1);
	t_free(&T);
}

static void
s_coalesce_1(struct t *t)
{
	int i;

	for (i = 0; i < 5; i++)
		t_ask(t, "ad.test", 0);
	t_when(t, 0, NULL, t_done);
}

static void
test_coalesce(void **state)
{
	const struct dane_counters *c;
	size_t i;

	t_new(&T, testns_port, NULL);
	t_run(&T, s_coalesce_1);
	for (i = 0; i < 5; i++) {
		assert_int_equal(T.a[i].called, 1);
		assert_int_equal(T.a[i].v, DANE_ONLY);
		assert_false(T.a[i].cached);
	}
	c = dane_counters(T.d);
	assert_int_equal(c->lookups, 5);
	assert_int_equal(c->jobs, 1);
	assert_int_equal(c->cache_misses, 1);
	assert_int_equal(c->coalesced, 4);
	assert_int_equal(c->queries, 7);
	t_free(&T);
}

static void
test_verdicts(void **state)
{
	static const char *const keys[] = {
	        "insec.test", "fail.test",   "addrfail.test", "cname.test",
	        "nomx.test",  "nullmx.test", "plain.test",    "nothing.test",
	};

	t_new(&T, testns_port, NULL);
	t_run_keys(&T, keys, sizeof(keys) / sizeof(keys[0]));
	/* insec.test: MX RRset without AD, its host secure with TLSA: only without MTA-STS */
	assert_int_equal(T.a[0].v, DANE_MAY_UNLESS_STS);
	assert_false(T.a[0].mx_secure);
	assert_string_equal(T.a[0].reason, "MX RRset insecure, 1 of 1 MX hosts secure with TLSA "
	                                   "records: used only where no MTA-STS policy applies");
	/* fail.test: TLSA SERVFAIL at a secure host */
	assert_int_equal(T.a[1].v, DANE_TEMP);
	assert_int_equal(T.a[1].st[0], DANE_HOST_TLSA_FAIL);
	assert_string_equal(T.a[1].reason, "TLSA lookup of _25._tcp.mx.fail.test failed: DNS "
	                                   "server failure (SERVFAIL)");
	/* addrfail.test: secure MX RRset, the host's addresses fail */
	assert_int_equal(T.a[2].v, DANE_TEMP);
	assert_int_equal(T.a[2].st[0], DANE_HOST_ADDR_FAIL);
	/* cname.test: MX RRset behind a CNAME */
	assert_int_equal(T.a[3].v, DANE_ONLY);
	assert_string_equal(T.a[3].host[0], "mx1.ad.test");
	/* nomx.test: implicit MX */
	assert_int_equal(T.a[4].v, DANE_ONLY);
	assert_true(T.a[4].implicit_mx);
	assert_string_equal(T.a[4].host[0], "nomx.test");
	/* nullmx.test */
	assert_int_equal(T.a[5].v, DANE_NONE);
	assert_true(T.a[5].null_mx);
	assert_int_equal(T.a[5].n_hosts, 0);
	/* plain.test: TLSA records in an unsigned zone */
	assert_int_equal(T.a[6].v, DANE_NONE);
	assert_int_equal(T.a[6].st[0], DANE_HOST_INSECURE);
	/* nothing.test: NXDOMAIN */
	assert_int_equal(T.a[7].v, DANE_NONE);
	assert_string_equal(T.a[7].reason, "the domain does not exist (NXDOMAIN)");
	assert_int_equal(dane_counters(T.d)->answers[DANE_TEMP], 2);
	t_free(&T);
}

/* Relays (issue 22 part 6): "[host]:port" looks at the host itself, never at its MX RRset;
 * the TLSA RRset is the one of the port. relay.test answers A (secure) but fails MX and
 * AAAA; plainrelay.test the same, unsigned. */
static void
test_relay(void **state)
{
	static const char *const keys[] = {
	        "[relay.test]:587",
	        "[plainrelay.test]:587",
	        "relay.test",               /* the MX destination: needs its MX RRset */
	        "[relay.test]",             /* port 25: _25._tcp.relay.test, none */
	        "ad.test:2525",             /* MX destination on port 2525 */
	        "[RELAY.test.]:submission", /* same next hop as the first */
	};
	struct ans *a;

	t_new(&T, testns_port, NULL);
	t_run_keys(&T, keys, sizeof(keys) / sizeof(keys[0]));
	/* [relay.test]:587: dane-only from the A record and _587._tcp; the failing MX and AAAA
	 * lookups do not matter (Postfix does neither for a relay it reaches over IPv4). */
	assert_int_equal(T.a[0].v, DANE_ONLY);
	assert_string_equal(T.a[0].reason, "relay (no MX lookup): relay.test has usable TLSA "
	                                   "records at _587._tcp");
	assert_true(T.a[0].relay);
	assert_int_equal(T.a[0].port, 587);
	assert_int_equal(T.a[0].n_hosts, 1);
	assert_string_equal(T.a[0].host[0], "relay.test");
	assert_int_equal(T.a[0].st[0], DANE_HOST_USABLE);
	/* [plainrelay.test]:587: unsigned: DANE does not apply, and the failures are no TEMP. */
	assert_int_equal(T.a[1].v, DANE_NONE);
	assert_int_equal(T.a[1].st[0], DANE_HOST_INSECURE);
	/* relay.test as an MX destination: its MX lookup fails: TEMP. */
	assert_int_equal(T.a[2].v, DANE_TEMP);
	assert_string_equal(T.a[2].reason, "MX lookup failed: DNS server failure (SERVFAIL)");
	assert_false(T.a[2].relay);
	/* [relay.test] on port 25: no TLSA RRset there. */
	assert_int_equal(T.a[3].v, DANE_NONE);
	assert_int_equal(T.a[3].port, 25);
	assert_int_equal(T.a[3].st[0], DANE_HOST_NO_TLSA);
	/* ad.test:2525: its MX hosts have TLSA records for port 25 only. */
	assert_int_equal(T.a[4].v, DANE_NONE);
	assert_int_equal(T.a[4].port, 2525);
	assert_string_equal(T.a[4].reason,
	                    "MX RRset secure and no MX host secure with TLSA records");
	/* "[RELAY.test.]:submission" is "[relay.test]:587": the same job. */
	assert_int_equal(T.a[5].v, DANE_ONLY);
	assert_int_equal(dane_counters(T.d)->coalesced, 1);
	/* 5 next hops, 5 jobs. Queries: A, AAAA and TLSA of each relay (no MX query), the MX
	 * query alone of relay.test, MX + 2 x 3 of ad.test:2525. */
	assert_int_equal(dane_counters(T.d)->jobs, 5);
	assert_int_equal(dane_counters(T.d)->queries, 3 + 3 + 1 + 3 + 7);
	assert_int_equal(dane_cache_entries(T.d), 5);
	/* A service name Postfix maps through /etc/services: answered at once, no lookup. */
	a = t_ask(&T, "[relay.test]:x-mail", 0);
	assert_null(T.w);
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_NONE);
	assert_false(a->have_f);
	assert_int_equal(dane_cache_entries(T.d), 5);
	t_free(&T);
}

/* The cache bound: the least recently used entry goes first. */
static void
s_evict_3(struct t *t)
{
	struct ans *a;

	assert_int_equal(dane_cache_entries(t->d), 2);
	assert_int_equal(dane_counters(t->d)->evictions, 1);
	a = t_ask(t, "ad.test", 0); /* kept: it was used after insec.test */
	assert_true(a->cached);
	a = t_ask(t, "insec.test", 0); /* evicted: a new job */
	assert_false(a->called);
	t_when(t, 0, NULL, t_done);
}

static void
s_evict_2(struct t *t)
{
	assert_true(t_ask(t, "ad.test", 0)->cached);
	t_ask(t, "plain.test", 0);
	t_when(t, 0, NULL, s_evict_3);
}

static void
s_evict_1(struct t *t)
{
	t_ask(t, "ad.test", 0);
	t_ask(t, "insec.test", 0);
	t_when(t, 0, NULL, s_evict_2);
}

static void
test_eviction(void **state)
{
	struct dane_opts o = dane_opts_default();

	o.max_entries = 2;
	t_new(&T, testns_port, &o);
	t_run(&T, s_evict_1);
	assert_int_equal(T.a[5].v, DANE_MAY_UNLESS_STS);
	assert_int_equal(dane_cache_entries(T.d), 2);
	t_free(&T);
}

/* Lifetimes: short.test has TTL 1 everywhere. */
static void s_expiry_3(struct t *t);

static void
s_expiry_2(struct t *t)
{
	/* 1.1 s later: expired, and no serve-stale here: a new job, waited for. */
	t_ask(t, "short.test", 0);
	assert_non_null(t->w);
	t_when(t, 0, NULL, s_expiry_3);
}

static void
s_expiry_3(struct t *t)
{
	assert_int_equal(dane_counters(t->d)->jobs, 3); /* short.test twice, ad.test once */
	/* ad.test (TTL 120 s, at most 60 s here) is still fresh */
	t_ask(t, "ad.test", 0);
	assert_true(t->a[t->n - 1].cached);
	t_done(t);
}

static void
s_expiry_wait(struct t *t)
{
	/* Answered now: 1.1 s from here the 1 s TTL has passed. */
	t_when(t, 1100, NULL, s_expiry_2);
}

static void
s_expiry_1(struct t *t)
{
	t_ask(t, "short.test", 0);
	t_ask(t, "ad.test", 0);
	t_when(t, 0, NULL, s_expiry_wait);
}

static void
test_expiry(void **state)
{
	t_new_short(&T, 60000, 0, 0);
	t_run(&T, s_expiry_1);
	assert_int_equal(T.a[0].v, DANE_ONLY);
	assert_int_equal(T.a[0].ttl_s, 1);
	assert_int_equal(T.a[2].v, DANE_ONLY);
	assert_false(T.a[2].cached);
	t_free(&T);
}

/* Serve-stale: an expired result answers at once while a refresh runs, as long as the
 * records it came from are within their TTL: ad.test's records live 120 s, its result 1 s
 * here (ttl_max). */
static int
c_jobs_idle(struct t *t)
{
	return dane_counters(t->d)->jobs == 2 && dane_jobs_in_flight(t->d) == 0;
}

static void
s_stale_3(struct t *t)
{
	struct ans *a = t_ask(t, "ad.test", 0);

	assert_null(t->w);
	assert_true(a->cached);
	assert_int_equal(a->v, DANE_ONLY);
	/* Refreshed (fresh for its 1 s lifetime); on a slow machine that second may have passed
	 * already, and then the answer is stale again with the next refresh started. */
	if (a->stale)
		assert_int_equal(dane_counters(t->d)->jobs, 3);
	else
		assert_int_equal(dane_counters(t->d)->jobs, 2);
	t_done(t);
}

static void
s_stale_2(struct t *t)
{
	t_ask(t, "ad.test", 0);
	assert_null(t->w); /* answered at once */
	assert_int_equal(t->a[1].v, DANE_ONLY);
	assert_true(t->a[1].stale);
	assert_int_equal(dane_counters(t->d)->stale_served, 1);
	assert_int_equal(dane_counters(t->d)->jobs, 2); /* the refresh */
	assert_int_equal(dane_jobs_in_flight(t->d), 1);
	t_when(t, 0, c_jobs_idle, s_stale_3);
}

static void
test_serve_stale(void **state)
{
	t_new_short(&T, 1000, 60000, 0);
	t_run_after(&T, "ad.test", 1100, s_stale_2);
	t_free(&T);
}

/* ... but never once the records' TTL has run out: short.test's records live 1 s, and 1.1 s
 * later its result is not served stale (a fixed window, here 60 s, would have). */
static void
s_stale_ttl_2(struct t *t)
{
	struct ans *a = t_ask(t, "short.test", 0);

	assert_non_null(t->w); /* waits for a new job */
	assert_int_equal(a->called, 0);
	assert_int_equal(dane_counters(t->d)->stale_served, 0);
	t_when(t, 0, NULL, t_done);
}

static void
test_stale_bounded_by_ttl(void **state)
{
	t_new_short(&T, DANE_TTL_MAX_MS, 60000, 0);
	t_run_after(&T, "short.test", 1100, s_stale_ttl_2);
	assert_int_equal(T.a[1].v, DANE_ONLY);
	assert_false(T.a[1].cached);
	assert_false(T.a[1].stale);
	assert_int_equal(dane_counters(T.d)->jobs, 2);
	t_free(&T);
}

/* A resolver that never answers: the waiter's timeout, cancel, shutdown. */
static void
s_silent_2(struct t *t)
{
	struct ans *a;

	assert_int_equal(t->a[0].called, 1);
	assert_int_equal(t->a[0].v, DANE_TEMP);
	assert_false(t->a[0].have_f);
	assert_string_equal(t->a[0].reason, "DANE lookup not finished after 100 ms");
	assert_int_equal(dane_counters(t->d)->timeouts, 1);
	/* A second lookup joins the job still in flight; cancel answers at once. */
	a = t_ask(t, "slow.test", 0);
	assert_non_null(t->w);
	assert_int_equal(dane_counters(t->d)->coalesced, 1);
	dane_lookup_cancel(t->w);
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_CANCELED);
	/* One left waiting: dane_free() answers it. */
	t_ask(t, "other.test", 0);
	t_done(t);
}

static void
s_silent_1(struct t *t)
{
	t_ask(t, "slow.test", 100);
	t_when(t, 100, NULL, s_silent_2);
}

static void
test_silent_resolver(void **state)
{
	t_new(&T, silent_port, NULL);
	t_run(&T, s_silent_1);
	assert_int_equal(T.a[2].called, 0);
	T.d = dane_free(T.d);
	assert_int_equal(T.a[2].called, 1);
	assert_int_equal(T.a[2].v, DANE_CANCELED);
	t_free(&T);
}

/* Issue 16, a flood of new names whose DNS never answers: DANE jobs of lookups are capped
 * by resolver.max_discoveries (over it: DANE_TEMP at once, unfinished, counted); the DNS
 * wait queue by DNS_WAIT_MAX (over it: the query is never sent, its job answers unfinished
 * DANE_TEMP and caches nothing); jobs whose lookups all gave up while their queries still
 * wait leave the queue unsent, so the cap frees up. One DNS slot (dns_concurrency 2 for two
 * clients), the silent server. */
#define FLOOD_N   (DNS_WAIT_MAX + 76) /* 1 running + DNS_WAIT_MAX waiting + 75 never sent */
#define FLOOD_CAP FLOOD_N
/* The lookups' timeout: the jobs over DNS_WAIT_MAX must fail ("not sent") before it, when
 * the loop first runs after all FLOOD_N lookups were asked; asking them takes well over
 * 100 ms under valgrind on a loaded machine, so it is long (the test waits it out once). */
#define FLOOD_LOOKUP_MS 10000

static struct ans flood_ans[FLOOD_N + 2];
static size_t flood_busy_i; /* a name whose query was never sent */

static int
c_flood_answered(struct t *t)
{
	size_t i;

	(void)t;
	for (i = 0; i < FLOOD_N; i++)
		if (flood_ans[i].called == 0)
			return 0;
	return 1;
}

static int
c_flood_abandoned(struct t *t)
{
	return dane_counters(t->d)->abandoned == DNS_WAIT_MAX;
}

static void
flood_ask(struct t *t, size_t i, const char *name)
{
	t->w = NULL;
	dane_lookup(t->d, name, NULL, FLOOD_LOOKUP_MS, on_answer, &flood_ans[i], &t->w);
}

static void
s_flood_3(struct t *t)
{
	char name[64];

	/* The one job whose query was sent goes on (it fills the cache); the others left. */
	assert_int_equal(dane_jobs_in_flight(t->d), 1);
	/* ... and left no cache entry behind (nor did the rejected lookup) */
	assert_int_equal(dane_cache_entries(t->d), 1);
	/* Nothing cached from the overload: a name whose query was never sent has no result,
	 * its next lookup waits for a new job. */
	(void)snprintf(name, sizeof(name), "f%zu.flood.test", flood_busy_i);
	flood_ask(t, FLOOD_N, name);
	assert_non_null(t->w);
	/* Room again under the cap: a new name gets a job. */
	flood_ask(t, FLOOD_N + 1, "again.flood.test");
	assert_non_null(t->w);
	assert_int_equal(flood_ans[FLOOD_N + 1].called, 0);
	assert_int_equal(dane_counters(t->d)->rejected, 1);
	t_done(t);
}

static void
s_flood_2(struct t *t)
{
	const struct dane_counters *c = dane_counters(t->d);
	size_t i, timed_out = 0, busy = 0;

	for (i = 0; i < FLOOD_N; i++) {
		const struct ans *a = &flood_ans[i];

		assert_int_equal(a->called, 1);
		assert_int_equal(a->v, DANE_TEMP);
		assert_true(a->unfinished);
		if (strcmp(a->reason, "DANE lookup not finished after 10000 ms") == 0)
			timed_out++;
		else if (strstr(a->reason, "not sent") != NULL && busy++ == 0)
			flood_busy_i = i;
	}
	assert_int_equal(timed_out, DNS_WAIT_MAX + 1);
	assert_int_equal(busy, FLOOD_N - DNS_WAIT_MAX - 1);
	assert_int_equal(c->timeouts, DNS_WAIT_MAX + 1);
	t_when(t, 0, c_flood_abandoned, s_flood_3);
}

static void
s_flood_1(struct t *t)
{
	char name[64];
	size_t i;

	for (i = 0; i < FLOOD_N; i++) {
		(void)snprintf(name, sizeof(name), "f%zu.flood.test", i);
		flood_ask(t, i, name);
		assert_non_null(t->w);
	}
	assert_int_equal(dane_jobs_in_flight(t->d), FLOOD_N);
	/* Over the cap: answered at once, as a lookup that timed out. */
	flood_ask(t, FLOOD_N, "over.flood.test");
	assert_null(t->w);
	assert_int_equal(flood_ans[FLOOD_N].called, 1);
	assert_int_equal(flood_ans[FLOOD_N].v, DANE_TEMP);
	assert_true(flood_ans[FLOOD_N].unfinished);
	assert_int_equal(dane_counters(t->d)->rejected, 1);
	memset(&flood_ans[FLOOD_N], 0, sizeof(flood_ans[FLOOD_N]));
	t_when(t, 0, c_flood_answered, s_flood_2);
}

static void
test_flood_caps(void **state)
{
	memset(&T, 0, sizeof(T));
	memset(flood_ans, 0, sizeof(flood_ans));
	T.cfg = testns_cfg(silent_port);
	T.cfg->resolver.max_discoveries = FLOOD_CAP;
	T.cfg->resolver.dns_concurrency = 2;    /* one slot per DNS client */
	T.cfg->resolver.dns_timeout_ms = 30000; /* the sent query outlives the waiters */
	T.opts = dane_opts_default();
	assert_int_equal(loop_new(&T.loop), 0);
	assert_int_equal(dane_new(T.loop, &T.cfg->resolver, &T.opts, &T.d), 0);
	t_run(&T, s_flood_1);
	t_free(&T);
}

/* A refresh whose MX lookup fails keeps the previous result (not knowing is no evidence);
 * a domain never seen is TEMP. Stops and restarts ldns-testns. */
static int
c_stale_kept(struct t *t)
{
	return dane_counters(t->d)->stale_kept == 1 && t_all_answered(t);
}

static void
s_kept_3(struct t *t)
{
	struct ans *a;

	assert_int_equal(t->a[2].v, DANE_TEMP);
	/* ldns-testns is stopped: its port refuses (ERR_DNS_UNREACHABLE, not a timeout). */
	assert_string_equal(t->a[2].reason, "MX lookup failed: DNS server unreachable");
	/* The kept result is answered as fresh for the tempfail lifetime. */
	a = t_ask(t, "ad.test", 0);
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_ONLY);
	assert_false(a->stale);
	t_done(t);
}

static void
s_kept_2(struct t *t)
{
	testns_stop();
	t_ask(t, "ad.test", 0); /* stale answer, refresh fails */
	assert_true(t->a[1].stale);
	t_ask(t, "never.test", 0); /* waits, then TEMP */
	t_when(t, 0, c_stale_kept, s_kept_3);
}

static void
test_refresh_failure_keeps(void **state)
{
	/* ad.test's records live 120 s, its result 1 s; a kept result stays fresh 5 s after
	 * the failure. */
	t_new_short(&T, 1000, 60000, 5000);
	t_run_after(&T, "ad.test", 1100, s_kept_2);
	t_free(&T);
	assert_int_equal(testns_start(), 0);
}

/* A result kept through failed refreshes lives no longer than the records it came from
 * (issue 15): mid.test's records have TTL 3 s, its result 1 s (ttl_max). At 1.1 s the
 * refresh fails and the result is kept, but only until those 3 s are over; then the MX
 * failure is TEMP, as for a domain never seen. */
static int
c_kept_once(struct t *t)
{
	return dane_counters(t->d)->stale_kept == 1 && t_all_answered(t);
}

static void
s_bound_4(struct t *t)
{
	struct ans *a = &t->a[t->n - 1];

	assert_int_equal(a->v, DANE_TEMP);
	assert_string_equal(a->reason, "MX lookup failed: DNS server unreachable");
	assert_false(a->cached);
	assert_int_equal(dane_counters(t->d)->stale_kept, 1);
	t_done(t);
}

static void
s_bound_3(struct t *t)
{
	struct ans *a = t_ask(t, "mid.test", 0);

	assert_non_null(t->w); /* neither fresh nor stale: waits for the job */
	assert_int_equal(a->called, 0);
	t_when(t, 0, NULL, s_bound_4);
}

static void
s_bound_kept(struct t *t)
{
	struct ans *a = t_ask(t, "mid.test", 0);
	uint64_t now = loop_now_ms(t->loop), end = first_ms + 3100;

	/* Kept: answered at once (for the tempfail lifetime, cut at the records' TTL). */
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_ONLY);
	assert_false(a->stale);
	/* Past the records' 3 s (temp_ttl alone, 5 s, would still keep it). */
	t_when(t, now < end ? end - now : 0, NULL, s_bound_3);
}

static void
s_bound_2(struct t *t)
{
	testns_stop();
	t_ask(t, "mid.test", 0); /* stale answer, refresh fails: kept */
	assert_true(t->a[1].stale);
	t_when(t, 0, c_kept_once, s_bound_kept);
}

static void
test_keep_bounded_by_ttl(void **state)
{
	t_new_short(&T, 1000, 60000, 5000);
	t_run_after(&T, "mid.test", 1100, s_bound_2);
	assert_int_equal(T.a[0].v, DANE_ONLY);
	assert_int_equal(T.a[0].ttl_s, 3);
	t_free(&T);
	assert_int_equal(testns_start(), 0);
}

/* AD trust: only when every resolver is on loopback (nothing is sent in this test). */
static int
trusted_with(const char *const *servers, size_t n)
{
	struct cfg *cfg = cfg_defaults();
	char **saved = cfg->resolver.dns_servers;
	size_t saved_n = cfg->resolver.n_dns_servers;
	struct loop *loop;
	struct dane *d = NULL;
	int r;

	assert_int_equal(loop_new(&loop), 0);
	cfg->resolver.dns_servers = (char **)servers;
	cfg->resolver.n_dns_servers = n;
	assert_int_equal(dane_new(loop, &cfg->resolver, NULL, &d), 0);
	r = dane_ad_trusted(d);
	d = dane_free(d);
	loop = loop_free(loop);
	cfg->resolver.dns_servers = saved;
	cfg->resolver.n_dns_servers = saved_n;
	cfg_free(cfg);
	return r;
}

static void
test_ad_trust(void **state)
{
	static const char *const v4[] = {"127.0.0.1@5353"};
	static const char *const v4b[] = {"127.0.0.53", "127.1.2.3:53"};
	static const char *const v6[] = {"::1"};
	static const char *const v6b[] = {"[::1]:5353"};
	static const char *const lan[] = {"192.0.2.53@53"};
	static const char *const mixed[] = {"127.0.0.1", "192.0.2.53"};
	static const char *const lan6[] = {"2001:db8::53"};
	static const char *const mapped[] = {"::ffff:192.0.2.1"};

	assert_true(trusted_with(v4, 1));
	assert_true(trusted_with(v4b, 2));
	assert_true(trusted_with(v6, 1));
	assert_true(trusted_with(v6b, 1));
	assert_false(trusted_with(lan, 1));
	assert_false(trusted_with(mixed, 2));
	assert_false(trusted_with(lan6, 1));
	assert_false(trusted_with(mapped, 1));
}

/* A testns_cfg() whose one server is off loopback (nothing is ever sent to it). */
static struct cfg *
off_loopback_cfg(void)
{
	struct cfg *c = testns_cfg(53);

	free(c->resolver.dns_servers[0]);
	c->resolver.dns_servers[0] = xstrdup("192.0.2.53@53");
	return c;
}

/* Each next hop of keys answered DANE_NONE before dane_lookup() returns, with the untrusted
 * reason and no findings; no job, no query, no cache entry. */
static void
assert_untrusted_answers(struct t *t, const char *const *keys, size_t n)
{
	const struct dane_counters *c = dane_counters(t->d);
	uint64_t queries = c->queries, jobs = c->jobs;
	size_t i;

	for (i = 0; i < n; i++) {
		struct ans *a = t_ask(t, keys[i], 0);

		assert_null(t->w);
		assert_int_equal(a->called, 1);
		assert_int_equal(a->v, DANE_NONE);
		assert_string_equal(a->reason, DANE_UNTRUSTED_REASON);
		assert_false(a->ad_trusted);
		assert_false(a->have_f);
		assert_false(a->cached);
	}
	assert_int_equal(c->queries, queries);
	assert_int_equal(c->jobs, jobs);
	assert_int_equal(dane_jobs_in_flight(t->d), 0);
	assert_int_equal(dane_cache_entries(t->d), 0);
}

static const char *const untrusted_keys[] = {"ad.test", "servfail.test", "[relay.test]:587",
                                             "ad.test:2525", "never-seen.test"};
static struct cfg *untrusted_off, *untrusted_back;

/* ad.test's dane-only is cached: the servers move off loopback, then back. */
static void
s_untrusted_2(struct t *t)
{
	const struct dane_counters *c = dane_counters(t->d);

	assert_int_equal(t->a[0].v, DANE_ONLY);
	assert_int_equal(dane_cache_entries(t->d), 1);
	assert_int_equal(dane_reload(t->d, &untrusted_off->resolver), 0);
	assert_false(dane_ad_trusted(t->d));
	assert_int_equal(dane_cache_entries(t->d), 0); /* the cached dane-only is gone */
	assert_untrusted_answers(t, untrusted_keys, 5);
	assert_int_equal(c->queries, 7); /* the first job's, none since */
	/* back on loopback: DANE applies again, looked up anew */
	assert_int_equal(dane_reload(t->d, &untrusted_back->resolver), 0);
	assert_true(dane_ad_trusted(t->d));
	t_ask(t, "ad.test", 0);
	assert_non_null(t->w);
	t_when(t, 0, NULL, t_done);
}

static void
s_untrusted_1(struct t *t)
{
	t_ask(t, "ad.test", 0);
	t_when(t, 0, NULL, s_untrusted_2);
}

/* Resolvers off loopback: DANE cannot apply, so no DNS query is made (docs/dane.md
 * "Trusting the AD bit"): every lookup is DANE_NONE at once, even for names whose MX
 * lookup would SERVFAIL (TEMP on a trusted path). Reloads follow the servers: a verdict
 * cached while trusted is dropped when the trust goes, and DANE applies again when it
 * comes back. */
static void
test_untrusted_no_queries(void **state)
{
	struct ans *a;

	untrusted_off = off_loopback_cfg();
	untrusted_back = testns_cfg(testns_port);
	/* started off loopback */
	memset(&T, 0, sizeof(T));
	T.cfg = off_loopback_cfg();
	assert_int_equal(loop_new(&T.loop), 0);
	assert_int_equal(dane_new(T.loop, &T.cfg->resolver, NULL, &T.d), 0);
	assert_false(dane_ad_trusted(T.d));
	assert_untrusted_answers(&T, untrusted_keys, 5);
	assert_int_equal(dane_counters(T.d)->queries, 0);
	assert_int_equal(dane_counters(T.d)->answers[DANE_NONE], 5);
	t_free(&T);

	/* trusted, a verdict cached; off loopback; back */
	t_new(&T, testns_port, NULL);
	t_run(&T, s_untrusted_1);
	a = &T.a[T.n - 1];
	assert_int_equal(a->called, 1);
	assert_int_equal(a->v, DANE_ONLY);
	assert_false(a->cached);
	assert_true(a->ad_trusted);
	assert_int_equal(dane_counters(T.d)->queries, 14);
	t_free(&T);
	untrusted_off = cfg_free(untrusted_off);
	untrusted_back = cfg_free(untrusted_back);
}

static void
s_untrusted_inflight_2(struct t *t)
{
	struct cfg *off = off_loopback_cfg();

	/* the job waits for the silent server; the reload answers its waiters at once */
	assert_int_equal(t->a[0].called, 0);
	assert_int_equal(dane_jobs_in_flight(t->d), 1);
	assert_int_equal(dane_reload(t->d, &off->resolver), 0);
	assert_int_equal(t->a[0].called, 1);
	assert_int_equal(t->a[1].called, 1);
	assert_int_equal(t->a[0].v, DANE_NONE);
	assert_int_equal(t->a[1].v, DANE_NONE);
	assert_string_equal(t->a[0].reason, DANE_UNTRUSTED_REASON);
	assert_false(t->a[1].ad_trusted);
	assert_false(t->a[0].unfinished);
	assert_int_equal(dane_jobs_in_flight(t->d), 0);
	assert_int_equal(dane_cache_entries(t->d), 0);
	/* the cfg the module now borrows replaces the test's */
	t->cfg = cfg_free(t->cfg);
	t->cfg = off;
	t_done(t);
}

static int
c_query_started(struct t *t)
{
	return dane_counters(t->d)->queries >= 1;
}

static void
s_untrusted_inflight_1(struct t *t)
{
	t_ask(t, "slow.test", 0);
	t_ask(t, "slow.test", WAIT_MS);
	/* once the MX query is on its way to the silent server */
	t_when(t, 0, c_query_started, s_untrusted_inflight_2);
}

/* A job in flight when the servers move off loopback: its waiters get DANE_NONE at once
 * (not the DNS timeout, not TEMP), the job and its entry are gone. */
static void
test_untrusted_reload_inflight(void **state)
{
	memset(&T, 0, sizeof(T));
	T.cfg = testns_cfg(silent_port);
	T.cfg->resolver.dns_timeout_ms = 10 * WAIT_MS; /* only the reload ends the job */
	assert_int_equal(loop_new(&T.loop), 0);
	assert_int_equal(dane_new(T.loop, &T.cfg->resolver, NULL, &T.d), 0);
	t_run(&T, s_untrusted_inflight_1);
	assert_int_equal(T.a[0].called, 1);
	assert_int_equal(T.a[1].called, 1);
	t_free(&T);
}

/* An MX answer for example.com. with the given MX RRs (presentation form). */
static ldns_pkt *
mx_answer(const char *const *mx, size_t n)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rr *rr = NULL;
	size_t i;
	char line[128];

	assert_non_null(pkt);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "example.com. IN MX", NULL, NULL),
	                 LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, rr));
	for (i = 0; i < n; i++) {
		(void)snprintf(line, sizeof(line), "example.com. 300 IN MX %s", mx[i]);
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr));
	}
	return pkt;
}

/* fuzz_dns_answer finding 6 (docs/fuzzing.md): a host repeated, or more hosts than
 * DANE_MX_MAX, made dane_parse_mx() compare names it had already freed (ASan:
 * heap-use-after-free). */
static void
test_parse_mx(void **state)
{
	static const char *const dup[] = {"10 a.example.com.", "20 A.example.com.",
	                                  "30 b.example.com.", "5 b.example.com."};
	const char *many[DANE_MX_MAX + 4];
	char names[DANE_MX_MAX + 4][32];
	struct dane_findings f;
	ldns_pkt *pkt;
	size_t i;

	(void)state;
	memset(&f, 0, sizeof(f));
	pkt = mx_answer(dup, 4);
	dane_parse_mx(pkt, &f);
	assert_int_equal(f.n_hosts, 2);
	assert_int_equal(f.n_hosts_total, 2);
	assert_string_equal(f.hosts[0].name, "b.example.com");
	assert_int_equal(f.hosts[0].pref, 5);
	assert_string_equal(f.hosts[1].name, "a.example.com");
	assert_int_equal(f.hosts[1].pref, 10);
	dane_findings_free(&f);
	ldns_pkt_free(pkt);

	for (i = 0; i < DANE_MX_MAX + 4; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "%zu mx%zu.example.com.", i % 3, i);
		many[i] = names[i];
	}
	pkt = mx_answer(many, DANE_MX_MAX + 4);
	dane_parse_mx(pkt, &f);
	assert_int_equal(f.n_hosts, DANE_MX_MAX);
	assert_int_equal(f.n_hosts_total, DANE_MX_MAX + 4);
	for (i = 1; i < f.n_hosts; i++)
		assert_true(f.hosts[i - 1].pref <= f.hosts[i].pref);
	dane_findings_free(&f);
	ldns_pkt_free(pkt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tlsa_usable),
	        cmocka_unit_test(test_parse_mx),
	        cmocka_unit_test(test_ttl_bounds),
	        cmocka_unit_test(test_decide_table),
	        cmocka_unit_test(test_decide_relay),
	        cmocka_unit_test(test_ad_trust),
	        cmocka_unit_test(test_untrusted_no_queries),
	        cmocka_unit_test(test_untrusted_reload_inflight),
	        cmocka_unit_test(test_dane_only_and_cache),
	        cmocka_unit_test(test_coalesce),
	        cmocka_unit_test(test_verdicts),
	        cmocka_unit_test(test_relay),
	        cmocka_unit_test(test_eviction),
	        cmocka_unit_test(test_expiry),
	        cmocka_unit_test(test_serve_stale),
	        cmocka_unit_test(test_stale_bounded_by_ttl),
	        cmocka_unit_test(test_silent_resolver),
	        cmocka_unit_test(test_flood_caps),
	        cmocka_unit_test(test_refresh_failure_keeps),
	        cmocka_unit_test(test_keep_bounded_by_ttl),
	};
	int r = tu_need_cmd("test_dane", "ldns-testns", "ldnsutils");

	if (r != 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
