/*
 * tests/unit/resolver/test_pf_reply.c - Postfix TLS policy replies (resolver/pf_reply.c)
 *
 * 1. Every row of tests/vectors/postfix_policy_reply.tsv runs through the real pipeline
 *    (pipeline.h): sm_request_parse() -> pol_engine (fake DNS/HTTPS world of the row, cache
 *    seeded when the row says so, fake clock) -> pf_reply_decide(), and the reply payload
 *    is compared with the README rules (first word and level equal, match= as a set, other
 *    name=value as a multiset, { policy_string = ... } in order). The row count is asserted.
 * 2. pf_reply_build() directly: ordering, de-duplication, case, IP literals, TLSRPT
 *    attributes, strict_testing, none.
 * The engine's own behaviour (coalescing, stale policies, timeouts, negative caching) is
 * tested in test_pol_engine.c.
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
#include "pipeline.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sts_policy.h"

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
		assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
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
		engine_teardown(e, cache, loop, c);
	}
	assert_int_equal(checked, 11);
	fw_reset();
	tsv_free(t);
}

/* ---- pf_reply_build() directly ---- */

/* p as a policy built in code (struct, arrays and strings allocated one by one), so a test
 * can change its mx array; a parsed policy is one allocation (sts_policy.h). Takes p. */
static struct sts_policy *
unpacked(struct sts_policy *p)
{
	struct sts_policy *u = xcalloc(1, sizeof(*u));
	size_t i;

	*u = *p;
	u->packed = 0;
	u->mx = xcalloc(p->n_mx > 0 ? p->n_mx : 1, sizeof(*u->mx));
	for (i = 0; i < p->n_mx; i++)
		u->mx[i] = xstrdup(p->mx[i]);
	u->ext = p->n_ext > 0 ? xcalloc(p->n_ext, sizeof(*u->ext)) : NULL;
	for (i = 0; i < p->n_ext; i++) {
		u->ext[i].name = xstrdup(p->ext[i].name);
		u->ext[i].value = xstrdup(p->ext[i].value);
	}
	sts_policy_free(p);
	return u;
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
	struct sts_policy *p = unpacked(policy("enforce", "mail.example.com"));
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

/* The one-allocation path (at most 16 patterns, no TLSRPT attributes) against the general
 * one: with tlsrpt on, the general path's reply starts with the same "secure match=...
 * [servername=hostname]" text, then " policy_type=sts". Patterns drawn from a set with
 * case variants, duplicates, "*." and "." forms, IP literals and refused characters. */
static void
build_fast_same_as_general(void **state)
{
	static const char *const alphabet[] = {
	        "mail.example.com",
	        "MAIL.example.COM",
	        "*.example.net",
	        "*.EXAMPLE.net",
	        ".example.net",
	        "example.net",
	        "*foo",
	        "*FOO",
	        "foo",
	        "192.0.2.1",
	        "*.192.0.2.1",
	        "[192.0.2.1]",
	        "2001:db8::1",
	        "a b.example",
	        "a{b}.example",
	        "x=y.example",
	        "",
	        "mx-1.Example.org",
	        "mx-1.example.org",
	};
	const size_t n_alpha = sizeof(alphabet) / sizeof(alphabet[0]);
	uint32_t seed = 12345;
	int iter;

	for (iter = 0; iter < 3000; iter++) {
		struct sts_policy *p = unpacked(policy("enforce", "mail.example.com"));
		size_t n, i, flen;
		char *fast = NULL, *gen = NULL;
		int sni, rf, rg;
		struct cfg_zone zf, zg;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 16;
		sni = (int)((seed >> 8) & 1);
		for (i = 0; i < p->n_mx; i++)
			free(p->mx[i]);
		p->mx = xrealloc(p->mx, n * sizeof(*p->mx));
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			p->mx[i] = xstrdup(alphabet[(seed >> 16) % n_alpha]);
		}
		p->n_mx = n;
		zf = (struct cfg_zone){.require_sni = sni};
		zg = (struct cfg_zone){.require_sni = sni, .tlsrpt = 1};
		rf = pf_reply_build(p, "example.com", &zf, &fast, NULL);
		rg = pf_reply_build(p, "example.com", &zg, &gen, NULL);
		assert_int_equal(rf, rg);
		if (rg == 0) {
			assert_non_null(fast);
			flen = strlen(fast);
			assert_true(strncmp(gen, fast, flen) == 0);
			assert_true(strncmp(gen + flen, " policy_type=sts ", 17) == 0);
		} else {
			assert_null(fast);
		}
		free(fast);
		free(gen);
		sts_policy_free(p);
	}
}

static void
build_no_usable_pattern(void **state)
{
	struct cfg_zone z = {.require_sni = 1};
	struct sts_policy *p = unpacked(policy("enforce", "mail.example.com"));
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
	struct sts_policy *p = unpacked(big_policy(1, "mx"));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(vectors_postfix_policy_reply),
	        cmocka_unit_test(build_enforce),
	        cmocka_unit_test(build_dedup_and_case),
	        cmocka_unit_test(build_fast_same_as_general),
	        cmocka_unit_test(build_no_usable_pattern),
	        cmocka_unit_test(build_testing_none),
	        cmocka_unit_test(build_tlsrpt),
	        cmocka_unit_test(decide_null_is_notfound),
	        cmocka_unit_test(build_too_long_drops_tlsrpt),
	        cmocka_unit_test(build_plain_too_long_is_temp),
	};

	log_open("test_pf_reply", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
