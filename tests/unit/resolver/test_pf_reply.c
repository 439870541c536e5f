/*
 * tests/unit/resolver/test_pf_reply.c - Postfix TLS policy replies
 *
 * 1. Every row of tests/vectors/postfix_policy_reply.tsv runs through the real pipeline:
 *    sm_request_parse() -> pol_engine (fake DNS/HTTPS world of the row, cache seeded when
 *    the row says so) -> pf_reply_decide(), and the reply payload is compared with the
 *    README rules (first word and level equal, match= as a set, other name=value as a
 *    multiset, { policy_string = ... } in order). The row count is asserted.
 * 2. pf_reply_build() directly: ordering, de-duplication, case, IP literals, TLSRPT
 *    attributes, strict_testing, none.
 * 3. Engine behaviour the replies depend on: coalescing, cached policy kept through a
 *    failed fetch after an id change, lookup timeout, negative caching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../common/tsv.h"
#include "cache_mem.h"
#include "cfg.h"
#include "err.h"
#include "fake_world.h"
#include "log.h"
#include "pf_reply.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sts_policy.h"

#define GUARD_MS 5000

/* ---- reply comparison (tests/vectors/README.md) ---- */

struct reply_parts {
	char *words[64]; /* "OK", level, then sorted name=value (match list sorted) */
	size_t n_words;
	char *groups[64]; /* "{ ... }" in order, inner whitespace normalised */
	size_t n_groups;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
sort_match(const char *v)
{
	char *list = xstrdup(v), *parts[64], *tok, *save = NULL, *out;
	size_t n = 0, i, len = 0;

	for (tok = strtok_r(list, ":", &save); tok != NULL && n < 64;
	     tok = strtok_r(NULL, ":", &save))
		parts[n++] = tok;
	qsort(parts, n, sizeof(parts[0]), cmp_str);
	out = xcalloc(1, strlen(v) + 8);
	for (i = 0; i < n; i++) {
		if (i > 0)
			out[len++] = ':';
		memcpy(out + len, parts[i], strlen(parts[i]));
		len += strlen(parts[i]);
	}
	free(list);
	return out;
}

static void
reply_split(const char *s, struct reply_parts *p)
{
	const char *c = s;

	memset(p, 0, sizeof(*p));
	while (*c != '\0') {
		const char *end;

		while (*c == ' ')
			c++;
		if (*c == '\0')
			break;
		if (*c == '{') {
			char buf[512];
			size_t n = 0;
			int sp = 0;

			end = strchr(c, '}');
			assert_non_null(end);
			for (; c <= end && n + 2 < sizeof(buf); c++) {
				if (*c == ' ') {
					sp = 1;
					continue;
				}
				if (sp && n > 0)
					buf[n++] = ' ';
				sp = 0;
				buf[n++] = *c;
			}
			buf[n] = '\0';
			p->groups[p->n_groups++] = xstrdup(buf);
			continue;
		}
		end = strchr(c, ' ');
		if (end == NULL)
			end = c + strlen(c);
		{
			char *w = xstrndup(c, (size_t)(end - c));

			if (strncmp(w, "match=", 6) == 0) {
				char *m = sort_match(w + 6), *x = xasprintf("match=%s", m);

				free(m);
				free(w);
				w = x;
			}
			p->words[p->n_words++] = w;
		}
		c = end;
	}
	if (p->n_words > 2)
		qsort(p->words + 2, p->n_words - 2, sizeof(p->words[0]), cmp_str);
}

static void
reply_parts_free(struct reply_parts *p)
{
	size_t i;

	for (i = 0; i < p->n_words; i++)
		free(p->words[i]);
	for (i = 0; i < p->n_groups; i++)
		free(p->groups[i]);
}

static void
assert_reply_equiv(const char *id, const char *got, const char *expected)
{
	struct reply_parts g, e;
	size_t i;

	if (strcmp(expected, "NOTFOUND") == 0) {
		if (strcmp(got, "NOTFOUND") != 0 && strcmp(got, "NOTFOUND ") != 0)
			fail_msg("%s: got '%s', expected NOTFOUND", id, got);
		return;
	}
	reply_split(got, &g);
	reply_split(expected, &e);
	if (g.n_words != e.n_words || g.n_groups != e.n_groups)
		fail_msg("%s: got '%s', expected '%s'", id, got, expected);
	for (i = 0; i < e.n_words; i++)
		if (strcmp(g.words[i], e.words[i]) != 0)
			fail_msg("%s: got '%s', expected '%s' ('%s' vs '%s')", id, got, expected,
			         g.words[i], e.words[i]);
	for (i = 0; i < e.n_groups; i++)
		if (strcmp(g.groups[i], e.groups[i]) != 0)
			fail_msg("%s: group %zu: got '%s', expected '%s'", id, i, g.groups[i],
			         e.groups[i]);
	reply_parts_free(&g);
	reply_parts_free(&e);
}

/* ---- situation -> pipeline ---- */

struct situation {
	char key[256], txt[256], fetch[256], mode[256], mx[256], cache[256];
	unsigned max_age;
	int strict_testing, require_sni, tlsrpt;
};

/* Split "a=1; b=f(x; y); c=3" at top-level ';'. */
static void
situation_parse(const char *s, struct situation *st)
{
	const char *c = s;

	memset(st, 0, sizeof(*st));
	st->max_age = 86400;
	st->require_sni = 1;
	while (*c != '\0') {
		const char *start, *eq;
		char name[32], val[256];
		int depth = 0;
		size_t n;

		while (*c == ' ' || *c == ';')
			c++;
		if (*c == '\0')
			break;
		start = c;
		while (*c != '\0' && !(*c == ';' && depth == 0)) {
			if (*c == '(')
				depth++;
			else if (*c == ')')
				depth--;
			c++;
		}
		eq = memchr(start, '=', (size_t)(c - start));
		assert_non_null(eq);
		n = (size_t)(eq - start);
		assert_true(n < sizeof(name));
		memcpy(name, start, n);
		name[n] = '\0';
		n = (size_t)(c - eq - 1);
		assert_true(n < sizeof(val));
		memcpy(val, eq + 1, n);
		val[n] = '\0';
		if (strcmp(name, "key") == 0)
			(void)snprintf(st->key, sizeof(st->key), "%s", val);
		else if (strcmp(name, "txt") == 0)
			(void)snprintf(st->txt, sizeof(st->txt), "%s", val);
		else if (strcmp(name, "fetch") == 0)
			(void)snprintf(st->fetch, sizeof(st->fetch), "%s", val);
		else if (strcmp(name, "mode") == 0)
			(void)snprintf(st->mode, sizeof(st->mode), "%s", val);
		else if (strcmp(name, "mx") == 0)
			(void)snprintf(st->mx, sizeof(st->mx), "%s", val);
		else if (strcmp(name, "max_age") == 0)
			st->max_age = (unsigned)strtoul(val, NULL, 10);
		else if (strcmp(name, "cache") == 0)
			(void)snprintf(st->cache, sizeof(st->cache), "%s", val);
		else if (strcmp(name, "strict_testing") == 0)
			st->strict_testing = strcmp(val, "yes") == 0;
		else if (strcmp(name, "require_sni") == 0)
			st->require_sni = strcmp(val, "yes") == 0;
		else if (strcmp(name, "tlsrpt") == 0)
			st->tlsrpt = strcmp(val, "yes") == 0;
		else
			fail_msg("unknown situation field '%s'", name);
	}
}

/* Value of "name=" inside "fresh(id=1; mode=enforce; mx=a,b)". */
static int
paren_field(const char *s, const char *name, char *out, size_t outsz)
{
	char pat[40];
	const char *p, *end;

	(void)snprintf(pat, sizeof(pat), "%s=", name);
	p = strstr(s, pat);
	if (p == NULL)
		return 0;
	p += strlen(pat);
	end = p + strcspn(p, ";)");
	(void)snprintf(out, outsz, "%.*s", (int)(end - p), p);
	return 1;
}

struct run {
	struct loop *loop;
	int running; /* loop_exit() only from inside loop_run(): sd-event stays finished */
	int done;
	struct pol_answer a;
	struct sts_policy *policy;
	char id[STS_ID_MAX + 1];
};

static void
run_done(const struct pol_answer *a, void *arg)
{
	struct run *r = arg;

	r->done++;
	r->a = *a;
	r->policy = a->policy != NULL ? sts_policy_dup(a->policy) : NULL;
	(void)snprintf(r->id, sizeof(r->id), "%s", a->id != NULL ? a->id : "");
	if (r->running)
		loop_exit(r->loop, 0);
}

static void
guard_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 1);
}

/* One lookup through sm_proto + engine + pf_reply; returns the owned reply payload. */
static char *
pipeline(struct loop *loop, struct pol_engine *e, const struct cfg_resolver *rc, const char *map,
         const char *key, struct run *run)
{
	struct sm_request req;
	struct pol_waiter *w = NULL;
	struct loop_timer guard = LOOP_TIMER_INIT;
	char *payload = xasprintf("%s %s", map, key), *data = NULL, *out;
	enum sm_status st;
	int r;

	memset(run, 0, sizeof(*run));
	run->loop = loop;
	r = sm_request_parse(rc, payload, strlen(payload), &req);
	free(payload);
	if (r < 0)
		return xstrdup(r == -EINVAL ? "PERM malformed" : "NOTFOUND ");
	pol_lookup(e, req.domain, req.zone->timeout_ms, run_done, run, &w);
	if (run->done == 0) {
		run->running = 1;
		loop_timer_start(loop, &guard, GUARD_MS, guard_fire, NULL);
		assert_int_equal(loop_run(loop), 0);
		loop_timer_stop(loop, &guard);
	}
	assert_int_equal(run->done, 1);
	(void)pf_reply_decide(run->a.status == POL_POLICY ? run->policy : NULL, req.domain,
	                      req.zone, &st, &data, NULL);
	out = xasprintf("%s %s", sm_status_name(st), data != NULL ? data : "");
	free(data);
	return out;
}

static void
run_free(struct run *r)
{
	r->policy = sts_policy_free(r->policy);
}

static struct cfg *
test_cfg(void)
{
	struct cfg *c = cfg_defaults();

	assert_non_null(c);
	assert_true(c->resolver.n_zones >= 1);
	return c;
}

static void
vectors_postfix_policy_reply(void **state)
{
	struct tsv *t = tsv_load("postfix_policy_reply.tsv");
	size_t i, checked = 0;

	assert_int_equal(t->nrows, tsv_readme_count("postfix_policy_reply.tsv"));
	assert_int_equal(t->nrows, 11);
	for (i = 0; i < t->nrows; i++) {
		const char *id = tsv_cell(t, i, "id");
		struct situation st;
		struct cfg *c = test_cfg();
		struct cfg_zone *z = &c->resolver.zones[0];
		struct loop *loop;
		struct cache_mem *cache = cache_mem_new(16);
		struct pol_engine *e;
		struct run run;
		char dom[DOMAIN_BUF], *reply, *body = NULL, txt[300], v[STS_ID_MAX + 1];

		situation_parse(tsv_cell(t, i, "situation"), &st);
		z->strict_testing = st.strict_testing;
		z->require_sni = st.require_sni;
		z->tlsrpt = st.tlsrpt;
		assert_int_equal(loop_new(&loop), 0);
		assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
		fw_reset();
		if (domain_from_nexthop(st.key, strlen(st.key), dom) == 0) {
			/* DNS: ok / ok(id=N) / nxdomain */
			if (strncmp(st.txt, "ok", 2) == 0) {
				const char *idp = strstr(st.txt, "id=");

				(void)snprintf(txt, sizeof(txt), "v=STSv1; id=%.*s;",
				               idp != NULL ? (int)strcspn(idp + 3, ")") : 3,
				               idp != NULL ? idp + 3 : "new");
			}
			if (strncmp(st.fetch, "ok", 2) == 0)
				body = fw_policy_text(st.mode, st.mx, st.max_age);
			fw_add(dom, strncmp(st.txt, "ok", 2) == 0 ? txt : NULL, ERR_DNS_NXDOMAIN,
			       body, ERR_FETCH_HTTP);
			free(body);
			if (strncmp(st.cache, "fresh", 5) == 0) {
				struct cache_entry ce = {.kind = CACHE_POLICY};
				char mode[32] = "enforce", mx[200] = "", *text;
				time_t now = loop_wall_s(loop);

				(void)paren_field(st.cache, "mode", mode, sizeof(mode));
				(void)paren_field(st.cache, "mx", mx, sizeof(mx));
				if (paren_field(st.cache, "id", v, sizeof(v)))
					(void)snprintf(ce.id, sizeof(ce.id), "%s", v);
				text = fw_policy_text(mode, mx, 86400);
				assert_int_equal(
				        sts_policy_parse(text, strlen(text), &ce.policy, NULL), 0);
				free(text);
				ce.fetched_at = ce.last_check = now;
				ce.expires_at = now + 86400;
				cache_mem_put(cache, dom, &ce);
			}
		}
		reply = pipeline(loop, e, &c->resolver, "postfix", st.key, &run);
		assert_reply_equiv(id, reply, tsv_cell(t, i, "expected_reply"));
		checked++;
		free(reply);
		run_free(&run);
		e = pol_engine_free(e);
		cache = cache_mem_free(cache);
		loop = loop_free(loop);
		c = cfg_free(c);
	}
	assert_int_equal(checked, 11);
	fw_reset();
	tsv_free(t);
}

/* ---- pf_reply_build() directly ---- */

static struct sts_policy *
policy(const char *mode, const char *mx_csv)
{
	char *text = fw_policy_text(mode, mx_csv, 604800);
	struct sts_policy *p = NULL;

	assert_int_equal(sts_policy_parse(text, strlen(text), &p, NULL), 0);
	free(text);
	return p;
}

static void
build(const char *mode, const char *mx, int strict, int sni, int tlsrpt, int want_r,
      const char *want)
{
	struct cfg_zone z = {.strict_testing = strict, .require_sni = sni, .tlsrpt = tlsrpt};
	struct sts_policy *p = policy(mode, mx);
	char *data = NULL;

	assert_int_equal(pf_reply_build(p, "example.com", &z, &data, NULL), want_r);
	if (want == NULL)
		assert_null(data);
	else
		assert_string_equal(data, want);
	free(data);
	sts_policy_free(p);
}

static void
build_enforce(void **state)
{
	build("enforce", "mail.example.com", 0, 1, 0, 0,
	      "secure match=mail.example.com servername=hostname");
	build("enforce", "mx1.example.com,*.example.net", 0, 1, 0, 0,
	      "secure match=mx1.example.com:.example.net servername=hostname");
	build("enforce", "mail.example.com", 0, 0, 0, 0, "secure match=mail.example.com");
	/* policy order kept (not sorted) */
	build("enforce", "b.example.com,a.example.com", 0, 0, 0, 0,
	      "secure match=b.example.com:a.example.com");
}

static void
build_dedup_and_case(void **state)
{
	struct cfg_zone z = {.require_sni = 1};
	struct sts_policy *p = policy("enforce", "mail.example.com");
	char *data = NULL;

	/* Patterns as the parser might keep them: mixed case, duplicates, IP literal. */
	free(p->mx[0]);
	p->mx = xrealloc(p->mx, 5 * sizeof(char *));
	p->mx[0] = xstrdup("MAIL.Example.com");
	p->mx[1] = xstrdup("mail.example.com");
	p->mx[2] = xstrdup("192.0.2.1");
	p->mx[3] = xstrdup("*.Example.NET");
	p->mx[4] = xstrdup("*.example.net");
	p->n_mx = 5;
	assert_int_equal(pf_reply_build(p, "example.com", &z, &data, NULL), 0);
	assert_string_equal(data, "secure match=mail.example.com:.example.net servername=hostname");
	free(data);
	sts_policy_free(p);
}

static void
build_no_usable_pattern(void **state)
{
	struct cfg_zone z = {.require_sni = 1};
	struct sts_policy *p = policy("enforce", "mail.example.com");
	char *data = (char *)1;

	free(p->mx[0]);
	p->mx[0] = xstrdup("[192.0.2.1]");
	assert_int_equal(pf_reply_build(p, "example.com", &z, &data, NULL), ERR_POLICY_NO_MX);
	assert_null(data);
	sts_policy_free(p);
}

static void
build_testing_none(void **state)
{
	build("testing", "mail.example.com", 0, 1, 0, 0, NULL);
	build("testing", "mail.example.com", 1, 1, 0, 0,
	      "secure match=mail.example.com servername=hostname");
	build("none", NULL, 0, 1, 0, 0, NULL);
	build("none", NULL, 1, 1, 0, 0, NULL);
}

static void
build_tlsrpt(void **state)
{
	/* RFC-NOTES section 9 table, TLSRPT row (max_age 604800). */
	build("enforce", "*.example.net", 0, 1, 1, 0,
	      "secure match=.example.net servername=hostname policy_type=sts "
	      "policy_domain=example.com mx_host_pattern=*.example.net { policy_string = version: "
	      "STSv1 } { policy_string = mode: enforce } { policy_string = mx: *.example.net } { "
	      "policy_string = max_age: 604800 }");
	build("enforce", "a.example.com,*.example.net", 0, 0, 1, 0,
	      "secure match=a.example.com:.example.net policy_type=sts policy_domain=example.com "
	      "mx_host_pattern=a.example.com mx_host_pattern=*.example.net { policy_string = "
	      "version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: "
	      "a.example.com } { policy_string = mx: *.example.net } { policy_string = max_age: "
	      "604800 }");
}

/* A policy body of n mx lines "mx: <prefix><i>.example.com" (fetched size: under 64 KiB). */
static struct sts_policy *
big_policy(size_t n, const char *prefix)
{
	size_t cap = 64 + n * 96, i;
	char *text = xmalloc(cap), *o = text;
	struct sts_policy *p = NULL;

	o += snprintf(o, cap, "version: STSv1\nmode: enforce\n");
	for (i = 0; i < n; i++)
		o += snprintf(o, cap - (size_t)(o - text), "mx: %s%zu.example.com\n", prefix, i);
	(void)snprintf(o, cap - (size_t)(o - text), "max_age: 604800\n");
	assert_true(strlen(text) <= STS_POLICY_BODY_MAX);
	assert_int_equal(sts_policy_parse(text, strlen(text), &p, NULL), 0);
	free(text);
	return p;
}

/* Issue 22: a large valid enforce policy in a tlsrpt zone. The reply with the TLSRPT
 * attributes would be about three times the policy, over Postfix's 100000 bytes: it is sent
 * without any of them (never some), as a plain secure match= with every pattern. */
static void
build_too_long_drops_tlsrpt(void **state)
{
	struct cfg_zone z = {.require_sni = 1, .tlsrpt = 1};
	struct sts_policy *p = big_policy(1200, "mx-host-with-a-longish-name-");
	enum sm_status st = SM_NOTFOUND;
	unsigned flags = 0;
	char *data = NULL;

	assert_int_equal(pf_reply_decide(p, "example.com", &z, &st, &data, &flags), 0);
	assert_int_equal(st, SM_OK);
	assert_int_equal(flags, PF_REPLY_TLSRPT_DROPPED);
	assert_true(strlen(data) <= PF_REPLY_DATA_MAX);
	assert_true(strlen(data) > 50000);
	assert_true(strncmp(data, "secure match=mx-host-with-a-longish-name-0.example.com:", 55) ==
	            0);
	assert_non_null(strstr(data, ":mx-host-with-a-longish-name-1199.example.com servername="
	                             "hostname"));
	assert_null(strstr(data, "policy_type"));
	assert_null(strstr(data, "mx_host_pattern"));
	assert_null(strstr(data, "policy_string"));
	free(data);
	/* a small policy in the same zone keeps its attributes */
	sts_policy_free(p);
	p = big_policy(3, "mx");
	assert_int_equal(pf_reply_decide(p, "example.com", &z, &st, &data, &flags), 0);
	assert_int_equal(flags, 0);
	assert_non_null(strstr(data, "policy_type=sts"));
	free(data);
	sts_policy_free(p);
}

/* When not even the plain reply fits (only a policy built in code can get there: a fetched
 * body is at most 64 KiB), the answer is TEMP, never NOTFOUND. */
static void
build_plain_too_long_is_temp(void **state)
{
	struct cfg_zone z = {.require_sni = 1, .tlsrpt = 1};
	struct sts_policy *p = big_policy(1, "mx");
	enum sm_status st = SM_NOTFOUND;
	unsigned flags = 0;
	char *data = NULL;
	size_t i, n = 2000;

	free(p->mx[0]);
	p->mx = xrealloc(p->mx, n * sizeof(*p->mx));
	for (i = 0; i < n; i++)
		p->mx[i] = xasprintf("a-rather-long-mx-host-name-number-%04zu.mail.example.com", i);
	p->n_mx = n;
	assert_int_equal(pf_reply_build(p, "example.com", &z, &data, &flags), ERR_POLICY_TOO_LARGE);
	assert_null(data);
	assert_int_equal(flags, PF_REPLY_TLSRPT_DROPPED | PF_REPLY_TOO_LONG);
	assert_int_equal(pf_reply_decide(p, "example.com", &z, &st, &data, &flags),
	                 ERR_POLICY_TOO_LARGE);
	assert_int_equal(st, SM_TEMP);
	assert_string_equal(data, PF_REPLY_TOO_LONG_TEXT);
	free(data);
	sts_policy_free(p);
}

static void
decide_null_is_notfound(void **state)
{
	struct cfg_zone z = {.require_sni = 1};
	enum sm_status st = SM_OK;
	char *data = (char *)1;

	assert_int_equal(pf_reply_decide(NULL, "example.com", &z, &st, &data, NULL), 0);
	assert_int_equal(st, SM_NOTFOUND);
	assert_null(data);
}

/* ---- engine behaviour behind the replies ---- */

struct multi {
	struct loop *loop;
	unsigned done, policies, want;
	enum pol_status last;
};

static void
multi_done(const struct pol_answer *a, void *arg)
{
	struct multi *m = arg;

	m->done++;
	m->last = a->status;
	if (a->status == POL_POLICY)
		m->policies++;
	if (m->want > 0 && m->done == m->want)
		loop_exit(m->loop, 0);
}

static void
engine_coalesces(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	struct loop_timer guard = LOOP_TIMER_INIT;
	char *body = fw_policy_text("enforce", "mail.example.com", 86400);
	unsigned i;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("example.com", "v=STSv1; id=abc;", 0, body, 0)->delay_ms = 20;
	m.loop = loop;
	m.want = 100;
	for (i = 0; i < 100; i++) {
		struct pol_waiter *w;

		pol_lookup(e, "example.com", 5000, multi_done, &m, &w);
		assert_non_null(w);
	}
	assert_int_equal(pol_engine_jobs(e), 1);
	assert_int_equal(pol_engine_waiters(e), 100);
	loop_timer_start(loop, &guard, GUARD_MS, guard_fire, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	assert_int_equal(m.done, 100);
	assert_int_equal(m.policies, 100);
	assert_int_equal(fw_queries, 1);
	assert_int_equal(fw_fetches, 1);
	assert_int_equal(pol_engine_counters(e)->coalesced, 99);
	assert_int_equal(pol_engine_counters(e)->fetch_ok, 1);
	/* A later lookup is a cache hit, answered before pol_lookup returns. */
	m.want = 0;
	{
		struct pol_waiter *w = (struct pol_waiter *)1;

		pol_lookup(e, "example.com", 5000, multi_done, &m, &w);
		assert_null(w);
	}
	assert_int_equal(m.done, 101);
	assert_int_equal(pol_engine_counters(e)->cache_hits, 1);
	free(body);
	e = pol_engine_free(e);
	cache = cache_mem_free(cache);
	loop = loop_free(loop);
	c = cfg_free(c);
	fw_reset();
}

static void
engine_changed_id_failed_fetch_keeps_policy(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct run run;
	char *reply;
	const struct cache_entry *ce;
	struct cache_entry seed = {.kind = CACHE_POLICY};
	time_t now;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	now = loop_wall_s(loop);
	seed.policy = policy("enforce", "mail.example.com");
	(void)snprintf(seed.id, sizeof(seed.id), "old1");
	seed.fetched_at = now - 7200;
	seed.expires_at = now + 86400;
	seed.last_check = now - 7200; /* older than recheck_interval (1 h default) */
	cache_mem_put(cache, "example.com", &seed);
	fw_add("example.com", "v=STSv1; id=new2;", 0, NULL, ERR_FETCH_HTTP);
	/* The re-check is due: the lookup waits for it, it sees id new2, the fetch fails, and
	 * the cached policy answers (issue 22: tests/unit/resolver/test_pol_recheck.c). */
	reply = pipeline(loop, e, &c->resolver, "postfix", "example.com", &run);
	assert_string_equal(reply, "OK secure match=mail.example.com servername=hostname");
	assert_int_equal(run.a.cached, 0);
	assert_int_equal(run.a.err, ERR_FETCH_HTTP);
	free(reply);
	run_free(&run);
	assert_int_equal(pol_engine_counters(e)->lookup_rechecks, 1);
	/* Let the re-check see id new2 and the fetch fail. */
	{
		struct loop_timer t = LOOP_TIMER_INIT;

		loop_timer_start(loop, &t, 100, guard_fire, NULL);
		(void)loop_run(loop);
	}
	assert_int_equal(pol_engine_jobs(e), 0);
	assert_int_equal(fw_fetches, 1);
	assert_int_equal(pol_engine_counters(e)->txt_changed, 1);
	assert_int_equal(pol_engine_counters(e)->stale_kept, 1);
	ce = cache_mem_peek(cache, "example.com");
	assert_non_null(ce);
	assert_int_equal(ce->kind, CACHE_POLICY);
	assert_string_equal(ce->id, "old1");
	assert_int_equal(ce->last_error, ERR_FETCH_HTTP);
	assert_true(ce->retry_after > now);
	/* Still served, and no new background work before retry_after. */
	reply = pipeline(loop, e, &c->resolver, "postfix", "example.com", &run);
	assert_string_equal(reply, "OK secure match=mail.example.com servername=hostname");
	assert_int_equal(pol_engine_jobs(e), 0);
	free(reply);
	run_free(&run);
	e = pol_engine_free(e);
	cache = cache_mem_free(cache);
	loop = loop_free(loop);
	c = cfg_free(c);
	fw_reset();
}

static void
engine_timeout_then_cache_fills(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	struct pol_waiter *w;
	struct loop_timer t = LOOP_TIMER_INIT;
	char *body = fw_policy_text("enforce", "mail.slow.example", 86400);

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("slow.example", "v=STSv1; id=s1;", 0, body, 0)->delay_ms = 150;
	m.loop = loop;
	m.want = 0; /* the loop runs once (sd-event cannot restart): until the guard */
	pol_lookup(e, "slow.example", 50, multi_done, &m, &w);
	assert_non_null(w);
	loop_timer_start(loop, &t, 400, guard_fire, NULL);
	(void)loop_run(loop);
	/* Answered once, by the 50 ms timeout; the 150 ms discovery still filled the cache. */
	assert_int_equal(m.done, 1);
	assert_int_equal(m.last, POL_TIMEOUT);
	assert_int_equal(pol_engine_counters(e)->answers[POL_TIMEOUT], 1);
	assert_int_equal(pol_engine_jobs(e), 0);
	assert_non_null(cache_mem_peek(cache, "slow.example"));
	assert_int_equal(cache_mem_peek(cache, "slow.example")->kind, CACHE_POLICY);
	pol_lookup(e, "slow.example", 50, multi_done, &m, &w);
	assert_null(w);
	assert_int_equal(m.done, 2);
	assert_int_equal(m.last, POL_POLICY);
	free(body);
	e = pol_engine_free(e);
	cache = cache_mem_free(cache);
	loop = loop_free(loop);
	c = cfg_free(c);
	fw_reset();
}

/* One lookup on a fresh loop and engine over a shared cache (an sd-event loop cannot run
 * again after loop_exit(), so every run that waits gets its own). Returns the reply. */
static char *
one_shot(struct cfg *c, struct cache_mem *cache, const char *key, struct run *run)
{
	struct loop *loop;
	struct pol_engine *e;
	char *reply;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	reply = pipeline(loop, e, &c->resolver, "postfix", key, run);
	e = pol_engine_free(e);
	loop = loop_free(loop);
	return reply;
}

static void
engine_negative_and_tempfail_cached(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct run run;
	char *reply;

	fw_reset();
	fw_add("fail.example", NULL, ERR_DNS_SERVFAIL, NULL, 0);
	reply = one_shot(c, cache, "nopolicy.example", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.a.status, POL_NO_POLICY);
	assert_int_equal(run.a.err, ERR_DNS_NXDOMAIN);
	free(reply);
	reply = one_shot(c, cache, "fail.example", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.a.status, POL_TEMPFAIL);
	assert_int_equal(run.a.err, ERR_DNS_SERVFAIL);
	free(reply);
	assert_int_equal(cache_mem_peek(cache, "nopolicy.example")->kind, CACHE_NO_POLICY);
	assert_int_equal(cache_mem_peek(cache, "fail.example")->kind, CACHE_TEMPFAIL);
	/* Both answered from the cache now, without DNS; key normalised first. */
	reply = one_shot(c, cache, "fail.example", &run);
	assert_int_equal(run.a.cached, 1);
	assert_int_equal(run.a.status, POL_TEMPFAIL);
	free(reply);
	reply = one_shot(c, cache, "NoPolicy.Example.", &run);
	assert_int_equal(run.a.cached, 1);
	assert_int_equal(run.a.status, POL_NO_POLICY);
	assert_string_equal(reply, "NOTFOUND ");
	free(reply);
	assert_int_equal(fw_queries, 2);
	/* Keys without a policy never reach the engine. */
	reply = one_shot(c, cache, ".example.com", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.done, 0);
	free(reply);
	assert_int_equal(fw_queries, 2);
	cache = cache_mem_free(cache);
	c = cfg_free(c);
	fw_reset();
}

static void
engine_cancel_on_free(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	struct pol_waiter *w;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("x.example", "v=STSv1; id=x;", 0, NULL, ERR_FETCH_TIMEOUT)->delay_ms = 1000;
	m.loop = loop;
	m.want = 99;
	pol_lookup(e, "x.example", 0, multi_done, &m, &w);
	pol_lookup(e, "x.example", 0, multi_done, &m, &w);
	pol_lookup_cancel(w);
	assert_int_equal(m.done, 1);
	assert_int_equal(m.last, POL_CANCELED);
	e = pol_engine_free(e);
	assert_int_equal(m.done, 2);
	assert_int_equal(m.last, POL_CANCELED);
	cache = cache_mem_free(cache);
	loop = loop_free(loop);
	c = cfg_free(c);
	fw_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(vectors_postfix_policy_reply),
	        cmocka_unit_test(build_enforce),
	        cmocka_unit_test(build_dedup_and_case),
	        cmocka_unit_test(build_no_usable_pattern),
	        cmocka_unit_test(build_testing_none),
	        cmocka_unit_test(build_tlsrpt),
	        cmocka_unit_test(decide_null_is_notfound),
	        cmocka_unit_test(build_too_long_drops_tlsrpt),
	        cmocka_unit_test(build_plain_too_long_is_temp),
	        cmocka_unit_test(engine_coalesces),
	        cmocka_unit_test(engine_changed_id_failed_fetch_keeps_policy),
	        cmocka_unit_test(engine_timeout_then_cache_fills),
	        cmocka_unit_test(engine_negative_and_tempfail_cached),
	        cmocka_unit_test(engine_cancel_on_free),
	};

	log_open("test_pf_reply", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
