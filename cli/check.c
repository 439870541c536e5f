/*
 * cli/check.c - the checks of `mtastsd check [DOMAIN]`: published domains seen from outside
 *
 * Interface: check_run(), check_report_free() (check.h)
 * Design:    a private event loop with one DNS client and one fetcher built from
 *            cfg->resolver (the resolver's own discovery code, so the check sees what a
 *            sending MTA running mtastsd would see). For every domain four operations run
 *            at once: TXT _mta-sts.<domain>, the HTTPS policy fetch, MX <domain>, TXT
 *            _smtp._tls.<domain>, and (publisher.mx_check) the MX hosts' probe
 *            (resolver/mx_probe.h: SMTP, STARTTLS, certificate, as Postfix would). Each callback
 * turns its answer into one result per check (the fetch gives two: policy and certificate); the
 * loop ends with the last answer. A guard timer derived from the DNS and fetch timeouts stops the
 * loop early; freeing the DNS client and the fetcher then cancels what is left, and those callbacks
 * record "no answer". The report keeps configuration order; cli_check.c prints it. Threads:   main
 * thread only. Ownership: each result's message is an owned string in the report
 * (check_report_free()). Errors:    see check.h. Peer-controlled text (TXT data) is made printable
 * and cut.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>

#include "check.h"
#include "dns_client.h"
#include "domain.h"
#include "err.h"
#include "https_fetch.h"
#include "log.h"
#include "loop.h"
#include "mx_match.h"
#include "pub.h"
#include "sts_policy.h"
#include "sts_txt.h"
#include "xalloc.h"

/* One result line: prefix, domain and message stay well under this. */
#define CHECK_LINE_MAX 1024
/* MX hosts kept per domain (more are counted, not listed). */
#define CHECK_MX_MAX 64
/* Guard slack on top of the DNS and fetch timeouts. */
#define CHECK_GUARD_SLACK_MS 1000

struct check;

struct check_dom {
	struct check *ck;
	const struct cfg_domain *d;
	char *id; /* the current policy id (pub_policy_id) */
	char *txt_name;
	char *tlsrpt_name;
	struct check_result *res; /* [CHECK_N], in the report; msg NULL until a verdict */
	struct check_domain *out; /* the report's entry (its mx report) */
};

struct check {
	struct loop *loop;
	struct dns_client *dns;
	struct fetcher *fetcher;
	struct mx_prober *prober; /* NULL: publisher.mx_check off, or no trust anchors */
	int prober_err;           /* why there is no prober (mx_prober_new()) */
	struct loop_timer guard;
	uint64_t guard_ms;
	unsigned pending; /* operations whose callback has not run */
	int stopped;      /* the loop has ended: no more loop_exit() */
	time_t now;
	const char *ca_file; /* resolver.ca_file (the MX hosts' trust anchors too) */
};

static void check_set(struct check_dom *cd, enum check_kind k, int ok, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
check_set(struct check_dom *cd, enum check_kind k, int ok, const char *fmt, ...)
{
	char buf[CHECK_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(cd->res[k].msg);
	cd->res[k].msg = xstrdup(buf);
	cd->res[k].ok = ok;
}

static void
check_op_done(struct check *ck)
{
	ck->pending--;
	if (ck->pending == 0 && !ck->stopped) {
		ck->stopped = 1;
		loop_exit(ck->loop, 0);
	}
}

/* "<version>" *WSP (";" / end), as sts_txt.c decides what counts as a record of a version. */
static int
check_txt_is(const struct txt_rr *rr, const char *version)
{
	size_t vl = strlen(version), i;

	if (rr->data == NULL || rr->len < vl || memcmp(rr->data, version, vl) != 0)
		return 0;
	for (i = vl; i < rr->len && (rr->data[i] == ' ' || rr->data[i] == '\t'); i++)
		;
	return i == rr->len || rr->data[i] == ';';
}

static size_t
check_txt_count(const struct txt_rr *rrs, size_t n, const char *version,
                const struct txt_rr **ret_first)
{
	size_t i, c = 0;

	*ret_first = NULL;
	for (i = 0; i < n; i++) {
		if (!check_txt_is(&rrs[i], version))
			continue;
		if (c++ == 0)
			*ret_first = &rrs[i];
	}
	return c;
}

/* The message for a DNS error of a query for name (NXDOMAIN/NODATA/others). */
static const char *
check_dns_why(int err, char *buf, size_t size, const struct check *ck)
{
	if (err == -ECANCELED)
		(void)snprintf(buf, size, "no answer within %llu ms",
		               (unsigned long long)ck->guard_ms);
	else
		(void)snprintf(buf, size, "%s", err_str(err));
	return buf;
}

/* ---- _mta-sts TXT ---- */

static void
check_eval_txt(struct check_dom *cd, int err, const struct txt_rr *rrs, size_t n)
{
	const struct txt_rr *first;
	char id[STS_ID_MAX + 1], text[256], why[128];
	size_t count;
	int r;

	if (err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA) {
		check_set(cd, CHECK_TXT, 0, "_mta-sts TXT record missing: %s: %s", cd->txt_name,
		          err_str(err));
		return;
	}
	if (err != 0) {
		check_set(cd, CHECK_TXT, 0, "_mta-sts TXT lookup failed: %s: %s", cd->txt_name,
		          check_dns_why(err, why, sizeof(why), cd->ck));
		return;
	}
	count = check_txt_count(rrs, n, "v=STSv1", &first);
	r = sts_txt_parse(rrs, n, id);
	switch (r) {
	case 0:
		break;
	case ERR_TXT_NONE:
		check_set(cd, CHECK_TXT, 0,
		          "_mta-sts TXT record missing: none of the %zu TXT records at %s begins "
		          "with v=STSv1",
		          n, cd->txt_name);
		return;
	case ERR_TXT_MULTIPLE:
		check_set(cd, CHECK_TXT, 0,
		          "%zu v=STSv1 TXT records at %s, exactly one is allowed (senders then "
		          "see no policy)",
		          count, cd->txt_name);
		return;
	default:
		(void)log_printable(text, sizeof(text), first != NULL ? first->data : "",
		                    first != NULL ? first->len : 0);
		check_set(cd, CHECK_TXT, 0,
		          "_mta-sts TXT record malformed: \"%s\" (needs \"v=STSv1; id=<1 to 32 "
		          "letters or digits>\")",
		          text);
		return;
	}
	if (strcmp(id, cd->id) != 0) {
		check_set(cd, CHECK_TXT, 0,
		          "_mta-sts TXT id is stale: DNS has id=%s, the current policy id is %s "
		          "(see mtastsd dns-records)",
		          id, cd->id);
		return;
	}
	check_set(cd, CHECK_TXT, 1, "_mta-sts TXT record has the current id %s", cd->id);
}

static void
check_txt_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct check_dom *cd = arg;
	struct txt_rr *rrs = NULL;
	size_t n = 0;

	(void)ad;
	if (err == 0)
		err = dns_answer_txt(answer, cd->txt_name, &rrs, &n);
	check_eval_txt(cd, err, rrs, n);
	dns_txt_free(rrs, n);
	check_op_done(cd->ck);
}

/* ---- policy and certificate (one fetch) ---- */

static int
check_has_mx(const struct sts_policy *p, const char *pattern)
{
	size_t i;

	for (i = 0; i < p->n_mx; i++)
		if (strcmp(p->mx[i], pattern) == 0)
			return 1;
	return 0;
}

/* Append " a b c" of the patterns in a that are not in b to buf. Returns how many. */
static size_t
check_mx_minus(char *buf, size_t size, const struct sts_policy *a, const struct sts_policy *b)
{
	size_t i, n = 0, used;

	for (i = 0; i < a->n_mx; i++) {
		if (check_has_mx(b, a->mx[i]))
			continue;
		used = strlen(buf);
		if (used < size)
			(void)snprintf(buf + used, size - used, " %s", a->mx[i]);
		n++;
	}
	return n;
}

static void
check_eval_policy(struct check_dom *cd, const char *body, size_t len)
{
	const struct sts_policy *want = &cd->d->policy;
	struct sts_policy *got = NULL;
	struct sts_parse_error perr = {0};
	char diff[CHECK_LINE_MAX] = "", missing[512] = "", extra[512] = "", *canon;
	size_t used;
	int r;

	r = sts_policy_parse(body, len, &got, &perr);
	if (r < 0) {
		check_set(cd, CHECK_POLICY, 0, "policy served is invalid: line %u: %s", perr.line,
		          perr.reason[0] != '\0' ? perr.reason : err_str(r));
		return;
	}
	if (got->mode != want->mode) {
		used = strlen(diff);
		(void)snprintf(diff + used, sizeof(diff) - used, "; mode %s, configured %s",
		               sts_mode_name(got->mode), sts_mode_name(want->mode));
	}
	if (got->max_age_s != want->max_age_s) {
		used = strlen(diff);
		(void)snprintf(diff + used, sizeof(diff) - used, "; max_age %u, configured %u",
		               (unsigned)got->max_age_s, (unsigned)want->max_age_s);
	}
	if (check_mx_minus(missing, sizeof(missing), want, got) > 0) {
		used = strlen(diff);
		(void)snprintf(diff + used, sizeof(diff) - used, "; mx not served:%s", missing);
	}
	if (check_mx_minus(extra, sizeof(extra), got, want) > 0) {
		used = strlen(diff);
		(void)snprintf(diff + used, sizeof(diff) - used, "; mx not configured:%s", extra);
	}
	if (diff[0] != '\0') {
		check_set(cd, CHECK_POLICY, 0, "policy served differs from the configuration: %s",
		          diff + 2);
		goto out;
	}
	canon = sts_policy_serialize(want);
	check_set(cd, CHECK_POLICY, 1,
	          "policy served equals the configuration (mode %s, max_age %u, %zu mx)%s",
	          sts_mode_name(want->mode), (unsigned)want->max_age_s, want->n_mx,
	          strlen(canon) == len && memcmp(canon, body, len) == 0
	                  ? ""
	                  : "; its text differs from the canonical form");
	free(canon);
out:
	got = sts_policy_free(got);
}

static void
check_eval_cert(struct check_dom *cd, int err, const struct fetch_info *info)
{
	const char *dom = cd->d->domain;
	char date[32] = "?";
	struct tm tm;
	long long secs, days;

	if (err == ERR_FETCH_TLS) {
		check_set(cd, CHECK_CERT, 0, "certificate invalid: %s",
		          info->detail[0] != '\0' ? info->detail : err_str(err));
		return;
	}
	if (info->cert_not_after == 0) {
		check_set(cd, CHECK_CERT, 0, "certificate of mta-sts.%s not checked: %s%s%s", dom,
		          err == -ECANCELED ? "no answer" : err_str(err),
		          info->detail[0] != '\0' ? ": " : "", info->detail);
		return;
	}
	if (gmtime_r(&info->cert_not_after, &tm) != NULL)
		(void)strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	secs = (long long)info->cert_not_after - (long long)cd->ck->now;
	days = secs / 86400;
	if (days < CHECK_CERT_DAYS_MIN) {
		check_set(cd, CHECK_CERT, 0,
		          "certificate of mta-sts.%s expires in %lld days (%s), under %d: renew it",
		          dom, days, date, CHECK_CERT_DAYS_MIN);
		return;
	}
	check_set(cd, CHECK_CERT, 1, "certificate of mta-sts.%s is valid, %lld days left (%s)", dom,
	          days, date);
}

static void
check_fetch_done(int err, const char *body, size_t len, const struct fetch_info *info, void *arg)
{
	struct check_dom *cd = arg;

	if (err == 0)
		check_eval_policy(cd, body, len);
	else if (err == ERR_FETCH_TLS)
		check_set(cd, CHECK_POLICY, 0, "policy not fetched: %s (see the certificate)",
		          err_str(err));
	else if (err == -ECANCELED)
		check_set(cd, CHECK_POLICY, 0, "policy not fetched: no answer within %llu ms",
		          (unsigned long long)cd->ck->guard_ms);
	else
		check_set(cd, CHECK_POLICY, 0, "policy not fetched: %s%s%s", err_str(err),
		          info->detail[0] != '\0' ? ": " : "", info->detail);
	check_eval_cert(cd, err, info);
	check_op_done(cd->ck);
}

/* ---- MX coverage ---- */

static void
check_eval_mx(struct check_dom *cd, int err, const struct dns_mx *hosts, size_t n, size_t n_invalid)
{
	const struct sts_policy *p = &cd->d->policy;
	char uncovered[CHECK_LINE_MAX / 2] = "", patterns[CHECK_LINE_MAX / 2] = "", why[128];
	size_t i, j, n_bad = 0, used;
	int covered;

	for (i = 0; i < p->n_mx; i++) {
		used = strlen(patterns);
		(void)snprintf(patterns + used, sizeof(patterns) - used, "%s%s", i > 0 ? ", " : "",
		               p->mx[i]);
	}
	if (err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA) {
		check_set(cd, CHECK_MX, 0, "no MX record: %s: %s", cd->d->domain, err_str(err));
		return;
	}
	if (err != 0) {
		check_set(cd, CHECK_MX, 0, "MX lookup failed: %s: %s", cd->d->domain,
		          check_dns_why(err, why, sizeof(why), cd->ck));
		return;
	}
	if (p->mode == STS_MODE_NONE) {
		check_set(cd, CHECK_MX, 1, "%zu MX host%s; mode none, coverage not required", n,
		          n == 1 ? "" : "s");
		return;
	}
	/* an exchange that is no valid host name (a null MX ".", RFC 7505) is covered by no
	 * pattern: a sender with this policy cannot deliver to it */
	if (n_invalid > 0) {
		check_set(cd, CHECK_MX, 0,
		          "%zu MX record%s with no valid host name (a null MX \".\"?): no mx "
		          "pattern covers %s (%s)",
		          n_invalid, n_invalid == 1 ? "" : "s", n_invalid == 1 ? "it" : "them",
		          patterns);
		return;
	}
	for (i = 0; i < n; i++) {
		covered = 0;
		for (j = 0; j < p->n_mx && !covered; j++)
			covered = mx_match(p->mx[j], hosts[i].name);
		if (covered)
			continue;
		used = strlen(uncovered);
		(void)snprintf(uncovered + used, sizeof(uncovered) - used, "%s%s",
		               n_bad > 0 ? ", " : "", hosts[i].name);
		n_bad++;
	}
	if (n_bad > 0) {
		check_set(cd, CHECK_MX, 0, "MX host%s %s not covered by any mx pattern (%s)",
		          n_bad == 1 ? "" : "s", uncovered, patterns);
		return;
	}
	check_set(cd, CHECK_MX, 1, "every MX host is covered by an mx pattern (%zu MX host%s)", n,
	          n == 1 ? "" : "s");
}

static void
check_mx_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct check_dom *cd = arg;
	struct dns_mx *hosts = xcalloc(CHECK_MX_MAX, sizeof(*hosts));
	size_t n = 0, n_invalid = 0;

	(void)ad;
	if (err == 0) {
		n = dns_answer_mx(answer, hosts, CHECK_MX_MAX, &n_invalid);
		if (n > CHECK_MX_MAX)
			n = CHECK_MX_MAX;
		if (n == 0 && n_invalid == 0)
			err = ERR_DNS_NODATA;
	}
	check_eval_mx(cd, err, hosts, n, n_invalid);
	free(hosts);
	check_op_done(cd->ck);
}

/* ---- _smtp._tls TXT (TLSRPT) ---- */

/* The configured rua as the parser joins it: comma-separated, no WSP around items. */
static char *
check_rua_norm(const char *rua)
{
	char *out = xmalloc(strlen(rua) + 1), *o = out;
	const char *p = rua, *start, *end;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (o != out)
			*o++ = ',';
		memcpy(o, start, (size_t)(end - start));
		o += end - start;
		if (*p == '\0')
			break;
		p++;
	}
	*o = '\0';
	return out;
}

static void
check_eval_tlsrpt(struct check_dom *cd, int err, const struct txt_rr *rrs, size_t n)
{
	const struct txt_rr *first;
	char *rua = NULL, *want, text[256], why[128];
	size_t count;
	int r;

	if (err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA) {
		check_set(cd, CHECK_TLSRPT, 0, "_smtp._tls TLSRPT record missing: %s: %s",
		          cd->tlsrpt_name, err_str(err));
		return;
	}
	if (err != 0) {
		check_set(cd, CHECK_TLSRPT, 0, "_smtp._tls TXT lookup failed: %s: %s",
		          cd->tlsrpt_name, check_dns_why(err, why, sizeof(why), cd->ck));
		return;
	}
	count = check_txt_count(rrs, n, "v=TLSRPTv1", &first);
	r = tlsrpt_txt_parse(rrs, n, &rua);
	switch (r) {
	case 0:
		break;
	case ERR_TXT_NONE:
		check_set(cd, CHECK_TLSRPT, 0,
		          "_smtp._tls TLSRPT record missing: none of the %zu TXT records at %s "
		          "begins with v=TLSRPTv1",
		          n, cd->tlsrpt_name);
		return;
	case ERR_TXT_MULTIPLE:
		check_set(cd, CHECK_TLSRPT, 0,
		          "%zu v=TLSRPTv1 TXT records at %s, exactly one is allowed", count,
		          cd->tlsrpt_name);
		return;
	default:
		(void)log_printable(text, sizeof(text), first != NULL ? first->data : "",
		                    first != NULL ? first->len : 0);
		check_set(cd, CHECK_TLSRPT, 0,
		          "_smtp._tls TLSRPT record malformed: \"%s\" (needs \"v=TLSRPTv1; "
		          "rua=<URI>\")",
		          text);
		return;
	}
	(void)log_printable(text, sizeof(text), rua, strlen(rua));
	if (cd->d->tlsrpt_rua != NULL && cd->d->tlsrpt_rua[0] != '\0') {
		want = check_rua_norm(cd->d->tlsrpt_rua);
		if (strcmp(want, rua) != 0)
			check_set(cd, CHECK_TLSRPT, 0,
			          "_smtp._tls TLSRPT rua is %s, configured %s (see mtastsd "
			          "dns-records)",
			          text, want);
		else
			check_set(cd, CHECK_TLSRPT, 1, "_smtp._tls TLSRPT record present, rua %s",
			          text);
		free(want);
	} else {
		check_set(cd, CHECK_TLSRPT, 1,
		          "_smtp._tls TLSRPT record present, rua %s (no tlsrpt_rua configured)",
		          text);
	}
	free(rua);
}

static void
check_tlsrpt_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct check_dom *cd = arg;
	struct txt_rr *rrs = NULL;
	size_t n = 0;

	(void)ad;
	if (err == 0)
		err = dns_answer_txt(answer, cd->tlsrpt_name, &rrs, &n);
	check_eval_tlsrpt(cd, err, rrs, n);
	dns_txt_free(rrs, n);
	check_op_done(cd->ck);
}

/* ---- MX hosts (resolver/mx_probe.h) ---- */

static const char *const check_kind_names[CHECK_N] = {
        [CHECK_TXT] = "txt", [CHECK_POLICY] = "policy", [CHECK_CERT] = "certificate",
        [CHECK_MX] = "mx",   [CHECK_TLSRPT] = "tlsrpt", [CHECK_MXHOSTS] = "mxhosts",
};

const char *
check_kind_name(enum check_kind k)
{
	return (unsigned)k < CHECK_N ? check_kind_names[k] : "?";
}

static void
check_eval_mxhosts(struct check_dom *cd, const struct mx_report *rep)
{
	char bad[CHECK_LINE_MAX / 2] = "", more[64] = "";
	size_t i, n_bad = 0, used;

	if (rep->err == -ECANCELED && rep->n_hosts == 0) {
		check_set(cd, CHECK_MXHOSTS, 0, "MX hosts not probed: no answer within %llu ms",
		          (unsigned long long)cd->ck->guard_ms);
		return;
	}
	if (rep->err != 0 && rep->err != -ECANCELED) {
		check_set(cd, CHECK_MXHOSTS, 0, "MX hosts not probed: MX lookup: %s",
		          err_str(rep->err));
		return;
	}
	if (rep->n_hosts_dns > rep->n_hosts)
		(void)snprintf(more, sizeof(more), ", the first %zu of %zu probed", rep->n_hosts,
		               rep->n_hosts_dns);
	for (i = 0; i < rep->n_hosts; i++) {
		const struct mx_host *h = &rep->hosts[i];

		if (mx_report_host_ok(h))
			continue;
		used = strlen(bad);
		(void)snprintf(bad + used, sizeof(bad) - used, "%s%s (%s)", n_bad > 0 ? ", " : "",
		               h->name, mx_result_name(h->result));
		n_bad++;
	}
	if (rep->mode_none) {
		check_set(cd, CHECK_MXHOSTS, 1,
		          "%zu of %zu MX hosts take STARTTLS with a certificate an mx pattern "
		          "matches; mode none, nothing required",
		          rep->n_hosts - n_bad, rep->n_hosts);
		return;
	}
	if (rep->err == -ECANCELED) {
		check_set(cd, CHECK_MXHOSTS, 0, "MX hosts: no answer within %llu ms; not ok: %s",
		          (unsigned long long)cd->ck->guard_ms, n_bad > 0 ? bad : "none");
		return;
	}
	if (n_bad > 0) {
		check_set(cd, CHECK_MXHOSTS, 0,
		          "enforce would lose mail at %zu of %zu MX host%s%s: %s", n_bad,
		          rep->n_hosts, rep->n_hosts == 1 ? "" : "s", more, bad);
		return;
	}
	check_set(cd, CHECK_MXHOSTS, 1,
	          "every MX host takes STARTTLS with a valid certificate an mx pattern matches "
	          "(%zu MX host%s%s)",
	          rep->n_hosts, rep->n_hosts == 1 ? "" : "s", more);
}

static void
check_mxhosts_done(struct mx_report *rep, void *arg)
{
	struct check_dom *cd = arg;

	check_eval_mxhosts(cd, rep);
	cd->out->mx = mx_report_free(cd->out->mx);
	cd->out->mx = rep;
	check_op_done(cd->ck);
}

/* ---- driver ---- */

static void
check_guard_fired(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct check *ck = arg;

	(void)t;
	if (!ck->stopped) {
		ck->stopped = 1;
		loop_exit(loop, 0);
	}
}

static void
check_start_dom(struct check *ck, struct check_dom *cd)
{
	const char *dom = cd->d->domain;

	if (dns_query_start(ck->dns, cd->txt_name, LDNS_RR_TYPE_TXT, 0, check_txt_done, cd) != NULL)
		ck->pending++;
	else
		check_set(cd, CHECK_TXT, 0, "cannot query %s", cd->txt_name);
	if (fetch_start(ck->fetcher, dom, check_fetch_done, cd) != NULL) {
		ck->pending++;
	} else {
		check_set(cd, CHECK_POLICY, 0, "cannot fetch https://mta-sts.%s/", dom);
		check_set(cd, CHECK_CERT, 0, "certificate of mta-sts.%s not checked", dom);
	}
	if (dns_query_start(ck->dns, dom, LDNS_RR_TYPE_MX, 0, check_mx_done, cd) != NULL)
		ck->pending++;
	else
		check_set(cd, CHECK_MX, 0, "cannot query MX %s", dom);
	if (dns_query_start(ck->dns, cd->tlsrpt_name, LDNS_RR_TYPE_TXT, 0, check_tlsrpt_done, cd) !=
	    NULL)
		ck->pending++;
	else
		check_set(cd, CHECK_TLSRPT, 0, "cannot query %s", cd->tlsrpt_name);
	if (ck->prober == NULL && ck->prober_err == 0) {
		check_set(cd, CHECK_MXHOSTS, 1, "not run (publisher.mx_check is off)");
		cd->res[CHECK_MXHOSTS].skipped = 1;
	} else if (ck->prober == NULL) {
		check_set(cd, CHECK_MXHOSTS, 0, "MX hosts not probed: no trust anchors in %s",
		          ck->ca_file != NULL ? ck->ca_file : "the system trust store");
	} else if (mx_probe_start(ck->prober, dom, &cd->d->policy, check_mxhosts_done, cd) !=
	           NULL) {
		ck->pending++;
	} else {
		check_set(cd, CHECK_MXHOSTS, 0, "cannot probe the MX hosts of %s", dom);
	}
}

/* The configured domains to check: all, or the one named. Returns how many, or 0 with the
 * reason in errbuf. */
static size_t
check_select(const struct cfg *cfg, const char *domain, const struct cfg_domain **ret_one,
             char *errbuf, size_t errsize)
{
	const struct cfg_publisher *p = &cfg->publisher;
	char norm[DOMAIN_BUF];
	size_t i;
	int r;

	*ret_one = NULL;
	if (p->n_domains == 0) {
		(void)snprintf(errbuf, errsize, "no publisher.domains configured");
		return 0;
	}
	if (domain == NULL)
		return p->n_domains;
	r = domain_normalize(domain, norm);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "'%s': %s", domain, err_str(r));
		return 0;
	}
	for (i = 0; i < p->n_domains; i++) {
		if (strcmp(p->domains[i].domain, norm) == 0) {
			*ret_one = &p->domains[i];
			return 1;
		}
	}
	(void)snprintf(errbuf, errsize, "%s is not in publisher.domains", norm);
	return 0;
}

int
check_run(const struct cfg *cfg, const char *domain, struct check_report **ret_report, char *errbuf,
          size_t errsize)
{
	const struct cfg_resolver *rc = &cfg->resolver;
	const struct cfg_domain *one;
	struct check ck = {.guard = LOOP_TIMER_INIT};
	struct check_report *rep = NULL;
	struct check_dom *doms = NULL;
	size_t n, i;
	int r, k;

	n = check_select(cfg, domain, &one, errbuf, errsize);
	if (n == 0)
		return -ENOENT;
	r = loop_new(&ck.loop);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "cannot create the event loop: %s", err_str(r));
		return r;
	}
	r = dns_client_new(ck.loop, rc, &ck.dns);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "DNS client: %s", err_str(r));
		goto out;
	}
	r = fetcher_new(ck.loop, rc, &ck.fetcher);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "HTTPS fetcher: %s", err_str(r));
		goto out;
	}
	fetcher_use_dns(ck.fetcher, ck.dns); /* the policy host as the resolver finds it */
	ck.now = time(NULL);
	ck.ca_file = rc->ca_file;
	if (cfg->publisher.mx_check) {
		struct mx_probe_opts o = {
		        .port = (uint16_t)cfg->publisher.mx_check_port,
		        .ca_file = rc->ca_file,
		        .step_timeout_ms = cfg->publisher.mx_check_step_timeout_ms,
		        .host_timeout_ms = cfg->publisher.mx_check_timeout_ms,
		};

		ck.prober_err = mx_prober_new(ck.loop, ck.dns, &o, &ck.prober);
	}
	/* Every DNS try of every server (the queries run in parallel), then the whole fetch
	 * (which runs alongside), plus slack: only a stuck run reaches this. */
	ck.guard_ms = (rc->dns_timeout_ms > 0 ? rc->dns_timeout_ms : DNS_TIMEOUT_DEFAULT_MS) *
	                      ((rc->dns_attempts > 0 ? rc->dns_attempts : DNS_ATTEMPTS_DEFAULT) *
	                               (rc->n_dns_servers > 0 ? rc->n_dns_servers : 3) +
	                       1) +
	              (rc->fetch_timeout_ms > 0 ? rc->fetch_timeout_ms : FETCH_TIMEOUT_DEFAULT_MS) +
	              CHECK_GUARD_SLACK_MS;
	if (ck.prober != NULL) {
		/* The MX hosts: every DNS try for the MX query, again for A/AAAA, then a host's
		 * deadline (the hosts run at once). */
		uint64_t dns_ms =
		        (rc->dns_timeout_ms > 0 ? rc->dns_timeout_ms : DNS_TIMEOUT_DEFAULT_MS) *
		        (rc->dns_attempts > 0 ? rc->dns_attempts : DNS_ATTEMPTS_DEFAULT) *
		        (rc->n_dns_servers > 0 ? rc->n_dns_servers : 3);
		uint64_t mx_ms =
		        2 * dns_ms + cfg->publisher.mx_check_timeout_ms + CHECK_GUARD_SLACK_MS;

		if (mx_ms > ck.guard_ms)
			ck.guard_ms = mx_ms;
	}
	rep = xcalloc(1, sizeof(*rep));
	rep->n_domains = n;
	rep->domains = xcalloc(n, sizeof(*rep->domains));
	doms = xcalloc(n, sizeof(*doms));
	for (i = 0; i < n; i++) {
		doms[i].ck = &ck;
		doms[i].d = one != NULL ? one : &cfg->publisher.domains[i];
		doms[i].id = pub_policy_id(doms[i].d);
		doms[i].txt_name = xasprintf("_mta-sts.%s", doms[i].d->domain);
		doms[i].tlsrpt_name = xasprintf("_smtp._tls.%s", doms[i].d->domain);
		doms[i].res = rep->domains[i].res;
		doms[i].out = &rep->domains[i];
		rep->domains[i].domain = doms[i].d->domain;
		check_start_dom(&ck, &doms[i]);
	}
	if (ck.pending > 0) {
		loop_timer_start(ck.loop, &ck.guard, ck.guard_ms, check_guard_fired, &ck);
		(void)loop_run(ck.loop);
	}
	ck.stopped = 1;
	loop_timer_stop(ck.loop, &ck.guard);
	/* Cancels whatever the guard left pending; those callbacks record "no answer". */
	ck.prober = mx_prober_free(ck.prober);
	ck.fetcher = fetcher_free(ck.fetcher);
	ck.dns = dns_client_free(ck.dns);
	for (i = 0; i < n; i++)
		for (k = 0; k < CHECK_N; k++)
			if (doms[i].res[k].msg == NULL)
				check_set(&doms[i], (enum check_kind)k, 0,
				          "no verdict (internal error)");
	*ret_report = rep;
	r = 0;
out:
	if (doms != NULL) {
		for (i = 0; i < n; i++) {
			free(doms[i].id);
			free(doms[i].txt_name);
			free(doms[i].tlsrpt_name);
		}
		free(doms);
	}
	ck.prober = mx_prober_free(ck.prober);
	ck.fetcher = fetcher_free(ck.fetcher);
	ck.dns = dns_client_free(ck.dns);
	ck.loop = loop_free(ck.loop);
	return r;
}

struct check_report *
check_report_free(struct check_report *rep)
{
	size_t i;
	int k;

	if (rep == NULL)
		return NULL;
	for (i = 0; i < rep->n_domains; i++) {
		for (k = 0; k < CHECK_N; k++)
			free(rep->domains[i].res[k].msg);
		(void)mx_report_free(rep->domains[i].mx);
	}
	free(rep->domains);
	free(rep);
	return NULL;
}
