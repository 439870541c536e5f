/*
 * tlsrpt/tlsrpt_report.c - RFC 8460 section 4 report JSON parser (json-c, no I/O)
 *
 * Interface: see tlsrpt_report.h
 * Threads:   any.
 * Ownership: the report owns its strings; json-c's tree is freed before returning.
 * Errors:    ERR_TLSRPT_JSON / ERR_TLSRPT_FIELD with the reason in the caller's buffer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "domain.h"
#include "err.h"
#include "mtasts_limits.h"
#include "tlsrpt_report.h"
#include "xalloc.h"

/* mx-host patterns kept per policy (a real policy names a handful). */
#define TLSRPT_MX_HOSTS_MAX 64

struct tlsrpt_ctx {
	char *why;
	size_t whylen;
};

static int tlsrpt_fail(struct tlsrpt_ctx *c, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
tlsrpt_fail(struct tlsrpt_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->whylen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(c->why, c->whylen, fmt, ap);
		va_end(ap);
	}
	return code;
}

int
tlsrpt_policy_type_valid(const char *s)
{
	return strcmp(s, "sts") == 0 || strcmp(s, "tlsa") == 0 || strcmp(s, "no-policy-found") == 0;
}

/* n digits at s into *ret; 0 or -1. */
static int
tlsrpt_digits(const char *s, int n, int *ret)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int
tlsrpt_datetime_parse(const char *s, time_t *ret)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p;
	time_t t;

	/* full-date "T" partial-time time-offset (RFC 3339 section 5.6) */
	if (strlen(s) < 20 || tlsrpt_digits(s, 4, &y) < 0 || s[4] != '-' ||
	    tlsrpt_digits(s + 5, 2, &mo) < 0 || s[7] != '-' || tlsrpt_digits(s + 8, 2, &d) < 0 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || tlsrpt_digits(s + 11, 2, &h) < 0 ||
	    s[13] != ':' || tlsrpt_digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
	    tlsrpt_digits(s + 17, 2, &sec) < 0)
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (tlsrpt_digits(p + 1, 2, &oh) < 0 || p[3] != ':' ||
		    tlsrpt_digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec > 59 ? 59 : sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	t -= (time_t)sign * (oh * 3600 + om * 60);
	*ret = t;
	return 0;
}

/* A string member: 0 with *ret (a copy, or NULL when absent and optional), or an error. */
static int
tlsrpt_str(struct tlsrpt_ctx *c, json_object *obj, const char *where, const char *key, int required,
           char **ret)
{
	json_object *v;
	const char *s;
	int len;

	*ret = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL) {
		if (!required)
			return 0;
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s missing", where, key);
	}
	if (!json_object_is_type(v, json_type_string))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s is not a string", where, key);
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (s == NULL || len < 0 || strlen(s) != (size_t)len)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s holds a NUL byte", where, key);
	if ((size_t)len > TLSRPT_STRING_MAX)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s longer than %d bytes", where, key,
		                   TLSRPT_STRING_MAX);
	if (len == 0 && required)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s is empty", where, key);
	*ret = xstrdup(s);
	return 0;
}

/* A required non-negative integer member. */
static int
tlsrpt_count(struct tlsrpt_ctx *c, json_object *obj, const char *where, const char *key,
             uint64_t *ret)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s missing", where, key);
	if (!json_object_is_type(v, json_type_int))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s is not an integer", where, key);
	errno = 0;
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > TLSRPT_SESSIONS_MAX || errno != 0)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s out of range", where, key);
	*ret = (uint64_t)n;
	return 0;
}

/* A required object member. */
static int
tlsrpt_obj(struct tlsrpt_ctx *c, json_object *obj, const char *where, const char *key,
           json_object **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s missing", where, key);
	if (!json_object_is_type(v, json_type_object))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s%s is not an object", where, key);
	*ret = v;
	return 0;
}

/* A host name reported by a sender: lower case, no trailing dot, printable ASCII. */
static void
tlsrpt_host_fold(char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] >= 'A' && s[n] <= 'Z')
			s[n] = (char)(s[n] - 'A' + 'a');
		else if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f)
			s[n] = '?';
	}
	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
}

/* A result type: a lower-case token (RFC 8460 section 4.3 names them with letters, digits
 * and '-'); anything else is refused rather than shown. */
static int
tlsrpt_token_valid(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int
tlsrpt_parse_failure(struct tlsrpt_ctx *c, json_object *o, const char *where,
                     struct tlsrpt_failure *f)
{
	int r;

	if (!json_object_is_type(o, json_type_object))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%sis not an object", where);
	if ((r = tlsrpt_str(c, o, where, "result-type", 1, &f->result_type)) < 0 ||
	    (r = tlsrpt_count(c, o, where, "failed-session-count", &f->count)) < 0 ||
	    (r = tlsrpt_str(c, o, where, "receiving-mx-hostname", 0, &f->mx_host)) < 0 ||
	    (r = tlsrpt_str(c, o, where, "sending-mta-ip", 0, &f->sending_ip)) < 0 ||
	    (r = tlsrpt_str(c, o, where, "receiving-ip", 0, &f->receiving_ip)) < 0 ||
	    (r = tlsrpt_str(c, o, where, "failure-reason-code", 0, &f->reason_code)) < 0)
		return r;
	tlsrpt_host_fold(f->result_type);
	if (!tlsrpt_token_valid(f->result_type))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%sresult-type is not a result type token",
		                   where);
	if (f->mx_host != NULL)
		tlsrpt_host_fold(f->mx_host);
	return 0;
}

/* mx-host: a string, or an array of strings (the RFC's example), or absent. */
static int
tlsrpt_parse_mx(struct tlsrpt_ctx *c, json_object *pol, const char *where, struct tlsrpt_policy *p)
{
	json_object *v, *e;
	size_t i, n;
	const char *s;

	if (!json_object_object_get_ex(pol, "mx-host", &v) || v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		n = 1;
	} else if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		if (n > TLSRPT_MX_HOSTS_MAX)
			return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%smx-host: more than %d entries",
			                   where, TLSRPT_MX_HOSTS_MAX);
	} else {
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%smx-host is not a string or an array",
		                   where);
	}
	p->mx_hosts = xcalloc(n > 0 ? n : 1, sizeof(*p->mx_hosts));
	for (i = 0; i < n; i++) {
		e = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
		if (e == NULL || !json_object_is_type(e, json_type_string))
			return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%smx-host[%zu] is not a string",
			                   where, i);
		s = json_object_get_string(e);
		if (strlen(s) != (size_t)json_object_get_string_len(e) ||
		    strlen(s) > TLSRPT_STRING_MAX)
			return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%smx-host[%zu] is not a host name",
			                   where, i);
		p->mx_hosts[p->n_mx_hosts] = xstrdup(s);
		tlsrpt_host_fold(p->mx_hosts[p->n_mx_hosts]);
		p->n_mx_hosts++;
	}
	return 0;
}

static int
tlsrpt_parse_policy(struct tlsrpt_ctx *c, json_object *o, size_t idx, struct tlsrpt_policy *p)
{
	char where[96], sub[128], dom[DOMAIN_BUF];
	json_object *pol, *sum, *fd;
	char *domain = NULL;
	size_t i, n;
	int r;

	(void)snprintf(where, sizeof(where), "policies[%zu].", idx);
	if (!json_object_is_type(o, json_type_object))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%s: not an object", where);
	if ((r = tlsrpt_obj(c, o, where, "policy", &pol)) < 0)
		return r;
	(void)snprintf(sub, sizeof(sub), "%spolicy.", where);
	if ((r = tlsrpt_str(c, pol, sub, "policy-type", 1, &p->type)) < 0)
		return r;
	if (!tlsrpt_policy_type_valid(p->type))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD,
		                   "%spolicy-type is not sts, tlsa or no-policy-found", sub);
	if ((r = tlsrpt_str(c, pol, sub, "policy-domain", 1, &domain)) < 0)
		return r;
	r = domain_normalize(domain, dom);
	free(domain);
	if (r < 0)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%spolicy-domain: %s", sub, err_str(r));
	p->domain = xstrdup(dom);
	if ((r = tlsrpt_parse_mx(c, pol, sub, p)) < 0)
		return r;
	if ((r = tlsrpt_obj(c, o, where, "summary", &sum)) < 0)
		return r;
	(void)snprintf(sub, sizeof(sub), "%ssummary.", where);
	if ((r = tlsrpt_count(c, sum, sub, "total-successful-session-count", &p->success)) < 0 ||
	    (r = tlsrpt_count(c, sum, sub, "total-failure-session-count", &p->failure)) < 0)
		return r;
	if (!json_object_object_get_ex(o, "failure-details", &fd) || fd == NULL)
		return 0;
	if (!json_object_is_type(fd, json_type_array))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%sfailure-details is not an array", where);
	n = json_object_array_length(fd);
	if (n > TLSRPT_FAILURES_MAX)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "%sfailure-details: more than %d entries",
		                   where, TLSRPT_FAILURES_MAX);
	p->failures = xcalloc(n > 0 ? n : 1, sizeof(*p->failures));
	for (i = 0; i < n; i++) {
		(void)snprintf(sub, sizeof(sub), "%sfailure-details[%zu].", where, i);
		p->n_failures = i + 1;
		r = tlsrpt_parse_failure(c, json_object_array_get_idx(fd, i), sub, &p->failures[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Every count of the report together within TLSRPT_SESSIONS_MAX (each is: no overflow,
 * 2^40 x (2 + 4096) x 1024 < 2^64). */
static int
tlsrpt_sessions_bound(struct tlsrpt_ctx *c, const struct tlsrpt_report *rp)
{
	uint64_t total = 0;
	size_t i, j;

	for (i = 0; i < rp->n_policies; i++) {
		const struct tlsrpt_policy *p = &rp->policies[i];

		total += p->success + p->failure;
		for (j = 0; j < p->n_failures; j++)
			total += p->failures[j].count;
	}
	if (total > TLSRPT_SESSIONS_MAX)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD,
		                   "%llu sessions in all, more than %llu (a report covers one "
		                   "reporter's day)",
		                   (unsigned long long)total,
		                   (unsigned long long)TLSRPT_SESSIONS_MAX);
	return 0;
}

static int
tlsrpt_parse_tree(struct tlsrpt_ctx *c, json_object *root, struct tlsrpt_report *rp)
{
	json_object *dr, *pols;
	char *t = NULL;
	size_t i, n;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return tlsrpt_fail(c, ERR_TLSRPT_JSON, "the report is not a JSON object");
	if ((r = tlsrpt_str(c, root, "", "organization-name", 1, &rp->org)) < 0 ||
	    (r = tlsrpt_str(c, root, "", "report-id", 1, &rp->report_id)) < 0 ||
	    (r = tlsrpt_str(c, root, "", "contact-info", 0, &rp->contact)) < 0 ||
	    (r = tlsrpt_obj(c, root, "", "date-range", &dr)) < 0)
		return r;
	if ((r = tlsrpt_str(c, dr, "date-range.", "start-datetime", 1, &t)) < 0)
		return r;
	r = tlsrpt_datetime_parse(t, &rp->start);
	free(t);
	if (r < 0)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD,
		                   "date-range.start-datetime is not an RFC 3339 date-time");
	if ((r = tlsrpt_str(c, dr, "date-range.", "end-datetime", 1, &t)) < 0)
		return r;
	r = tlsrpt_datetime_parse(t, &rp->end);
	free(t);
	if (r < 0)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD,
		                   "date-range.end-datetime is not an RFC 3339 date-time");
	if (rp->end < rp->start)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "date-range ends before it starts");
	if (!json_object_object_get_ex(root, "policies", &pols) || pols == NULL)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "policies missing");
	if (!json_object_is_type(pols, json_type_array))
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "policies is not an array");
	n = json_object_array_length(pols);
	if (n == 0)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "policies is empty");
	if (n > TLSRPT_POLICIES_MAX)
		return tlsrpt_fail(c, ERR_TLSRPT_FIELD, "more than %d policies",
		                   TLSRPT_POLICIES_MAX);
	rp->policies = xcalloc(n, sizeof(*rp->policies));
	for (i = 0; i < n; i++) {
		rp->n_policies = i + 1;
		r = tlsrpt_parse_policy(c, json_object_array_get_idx(pols, i), i, &rp->policies[i]);
		if (r < 0)
			return r;
	}
	return tlsrpt_sessions_bound(c, rp);
}

/* Count what json-c would build of len bytes of JSON text, without building it: objects
 * and values (TLSRPT_JSON_OBJECTS_MAX, TLSRPT_JSON_VALUES_MAX). ERR_TLSRPT_TOO_LARGE at
 * the first bound passed, else 0 (the text may still be invalid: json-c says so). */
static int
tlsrpt_json_prescan(struct tlsrpt_ctx *c, const char *json, size_t len)
{
	size_t i, objects = 0, values = 0;
	int in_str = 0;

	for (i = 0; i < len; i++) {
		char ch = json[i];

		if (in_str) {
			if (ch == '\\')
				i++; /* the escaped byte (\" or \\) is never structural */
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		switch (ch) {
		case '"':
			in_str = 1;
			break;
		case '{':
			if (++objects > TLSRPT_JSON_OBJECTS_MAX)
				return tlsrpt_fail(c, ERR_TLSRPT_TOO_LARGE,
				                   "more than %d JSON objects (at byte %zu)",
				                   TLSRPT_JSON_OBJECTS_MAX, i);
			/* fall through */
		case '[':
		case ',':
			if (++values > TLSRPT_JSON_VALUES_MAX)
				return tlsrpt_fail(c, ERR_TLSRPT_TOO_LARGE,
				                   "more than %d JSON values (at byte %zu)",
				                   TLSRPT_JSON_VALUES_MAX, i);
			break;
		default:
			break;
		}
	}
	return 0;
}

int
tlsrpt_report_parse(const char *json, size_t len, struct tlsrpt_report **ret, char *why,
                    size_t whylen)
{
	struct tlsrpt_ctx c = {.why = why, .whylen = whylen};
	struct tlsrpt_report *rp;
	struct json_tokener *tok;
	json_object *root;
	enum json_tokener_error jerr;
	size_t off;
	int r;

	if (whylen > 0)
		why[0] = '\0';
	if (len > INT32_MAX)
		return tlsrpt_fail(&c, ERR_TLSRPT_JSON, "report too long for the JSON parser");
	r = tlsrpt_json_prescan(&c, json, len);
	if (r < 0)
		return r;
	tok = json_tokener_new_ex(TLSRPT_JSON_DEPTH);
	if (tok == NULL)
		return tlsrpt_fail(&c, ERR_TLSRPT_JSON, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (root == NULL || jerr != json_tokener_success) {
		json_object_put(root);
		return tlsrpt_fail(&c, ERR_TLSRPT_JSON, "invalid JSON at byte %zu: %s", off,
		                   jerr == json_tokener_continue ? "unexpected end"
		                                                 : json_tokener_error_desc(jerr));
	}
	for (; off < len; off++)
		if (json[off] != ' ' && json[off] != '\t' && json[off] != '\r' && json[off] != '\n')
			break;
	if (off < len) {
		json_object_put(root);
		return tlsrpt_fail(&c, ERR_TLSRPT_JSON, "data after the JSON value at byte %zu",
		                   off);
	}
	rp = xcalloc(1, sizeof(*rp));
	r = tlsrpt_parse_tree(&c, root, rp);
	json_object_put(root);
	if (r < 0) {
		(void)tlsrpt_report_free(rp);
		return r;
	}
	*ret = rp;
	return 0;
}

struct tlsrpt_report *
tlsrpt_report_free(struct tlsrpt_report *r)
{
	size_t i, j;

	if (r == NULL)
		return NULL;
	for (i = 0; i < r->n_policies; i++) {
		struct tlsrpt_policy *p = &r->policies[i];

		free(p->type);
		free(p->domain);
		for (j = 0; j < p->n_mx_hosts; j++)
			free(p->mx_hosts[j]);
		free(p->mx_hosts);
		for (j = 0; j < p->n_failures; j++) {
			free(p->failures[j].result_type);
			free(p->failures[j].mx_host);
			free(p->failures[j].sending_ip);
			free(p->failures[j].receiving_ip);
			free(p->failures[j].reason_code);
		}
		free(p->failures);
	}
	free(r->policies);
	free(r->org);
	free(r->report_id);
	free(r->contact);
	free(r);
	return NULL;
}
