/*
 * common/sts_policy.c - the MTA-STS policy file: parse, validate, serialise (no I/O)
 *
 * Interface: sts_policy_parse(), sts_policy_parse_canonical(), sts_policy_validate(),
 *            sts_policy_serialize(), sts_policy_dup(), sts_policy_free(), sts_mx_dedup(),
 *            sts_mode_name(), sts_mode_parse()
 * Rules:     RFC 8461 section 3.2 ABNF; "strict on meaning, tolerant of noise"
 *            (docs/rfc-notes.md section 4). Every decision, with its source, is listed in
 *            docs/policy-parsing.md. In short: version, mode, max_age and every mx line are
 *            parsed exactly as the ABNF says; a BOM, blank lines, lone CRs before a line end,
 *            '#' comment lines, malformed extension lines (control bytes, NUL included),
 *            IP-address mx patterns (dropped) and max_age with more than 10 digits
 *            (leading zeros) are accepted and recorded in policy->tolerated.
 * Limits:    STS_POLICY_BODY_MAX bytes, STS_MX_MAX distinct mx patterns, STS_EXT_MAX
 *            distinct extension names (limits.h) -> ERR_POLICY_TOO_LARGE.
 * Ownership: a parsed or duplicated policy belongs to the caller (sts_policy_free()).
 * Threads:   no state.
 * Errors:    ERR_POLICY_*, with the 1-based line and a reason in struct sts_parse_error.
 *            The parser does not log (common/ never logs above debug; the caller decides).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "err.h"
#include "log.h"
#include "sts_policy.h"
#include "xalloc.h"

/* Longest piece of peer text quoted in a reason. */
#define REASON_QUOTE_MAX 48

struct parse_state {
	struct sts_policy *p;
	struct sts_parse_error *err;
	unsigned line;
	int have_version, have_mode, have_max_age;
	size_t mx_cap; /* allocated slots of p->mx (grown geometrically) */
};

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int __attribute__((format(printf, 4, 5)))
fail(struct sts_parse_error *err, int code, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->line = line;
		va_start(ap, fmt);
		(void)vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Printable, cut copy of peer text for a reason string. */
static const char *
quote(char *buf, size_t bufsz, const char *s, size_t len)
{
	return log_printable(buf, bufsz, s, len);
}

/* sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static int
ext_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32 || !is_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
			return 0;
	}
	return 1;
}

/* Length of the well-formed UTF-8 sequence (RFC 3629) at s[0..len) of 2-4 bytes, or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* sts-policy-ext-value: vchar [*(SP / vchar) vchar], vchar = %x21-7E / UTF-8 (no CTLs). */
static int
ext_value_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (len == 0 || u[0] == ' ' || u[len - 1] == ' ')
		return 0;
	while (i < len) {
		size_t n;

		if (u[i] >= 0x20 && u[i] <= 0x7e) {
			i++;
			continue;
		}
		n = utf8_seq(u + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* sts-policy-mx-value = ["*."] Domain, plus: no IP literal, no trailing dot, ASCII only. */
static int
mx_pattern_check(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '*' && s[1] == '.')
		return domain_validate(s + 2, len - 2);
	return domain_validate(s, len);
}

/* sts-policy-max-age-value = 1*10DIGIT, value <= STS_MAX_AGE_MAX. More than 10 digits is
 * tolerated when the extra ones are leading zeros (the value still has to be in range). */
static int
parse_max_age(struct parse_state *st, const char *v, size_t len)
{
	char q[REASON_QUOTE_MAX + 4];
	uint64_t val = 0;
	size_t i;

	if (len == 0)
		return fail(st->err, ERR_POLICY_MAX_AGE, st->line, "max_age is empty");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < '0' || c > '9')
			return fail(st->err, ERR_POLICY_MAX_AGE, st->line,
			            "max_age '%s' is not a decimal number",
			            quote(q, sizeof(q), v, len));
		val = val * 10 + (uint64_t)(c - '0');
		if (val > STS_MAX_AGE_MAX)
			return fail(st->err, ERR_POLICY_MAX_AGE, st->line,
			            "max_age '%s' is above %u", quote(q, sizeof(q), v, len),
			            STS_MAX_AGE_MAX);
	}
	if (len > 10)
		st->p->tolerated |= STS_TOLERATED_LONG_MAX_AGE;
	st->p->max_age_s = (uint32_t)val;
	return 0;
}

/* An mx pattern is kept as written (lower-cased); repeats are removed once the whole body is
 * read (sts_mx_dedup()), so a body of many mx lines costs O(n log n), not O(n^2). */
static int
add_mx(struct parse_state *st, const char *v, size_t len)
{
	char q[REASON_QUOTE_MAX + 4];
	struct sts_policy *p = st->p;
	char *pat;
	size_t i;
	int r;

	if (len == 0)
		return fail(st->err, ERR_POLICY_MX, st->line, "mx is empty");
	r = mx_pattern_check(v, len);
	if (r == ERR_DOMAIN_IP_LITERAL) {
		/* "mx: 192.0.2.1" is a Domain by the ABNF (all-numeric labels), yet no MX host
		 * certificate can ever match it: drop the pattern, keep the policy (issue 22;
		 * docs/policy-parsing.md). A policy left without patterns fails below. */
		p->tolerated |= STS_TOLERATED_IP_MX;
		if (p->n_mx_dropped < UINT16_MAX)
			p->n_mx_dropped++;
		return 0;
	}
	if (r < 0)
		return fail(st->err, ERR_POLICY_MX, st->line, "mx pattern '%s': %s",
		            quote(q, sizeof(q), v, len), err_str(r));
	pat = xstrndup(v, len);
	for (i = 0; i < len; i++)
		if (pat[i] >= 'A' && pat[i] <= 'Z')
			pat[i] = (char)(pat[i] - 'A' + 'a');
	if (p->n_mx == st->mx_cap) {
		st->mx_cap = st->mx_cap == 0 ? 8 : st->mx_cap * 2;
		p->mx = xrealloc(p->mx, st->mx_cap * sizeof(*p->mx));
	}
	p->mx[p->n_mx++] = pat;
	return 0;
}

struct mx_ix {
	const char *s;
	size_t pos;
};

static int
mx_ix_cmp(const void *a, const void *b)
{
	const struct mx_ix *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c != 0)
		return c;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

size_t
sts_mx_dedup(char **mx, size_t n)
{
	struct mx_ix *ix;
	size_t i, j;

	if (n < 2)
		return n;
	ix = xmalloc(n * sizeof(*ix));
	for (i = 0; i < n; i++) {
		ix[i].s = mx[i];
		ix[i].pos = i;
	}
	/* sorted by text, then position: the first of each run is the earliest copy */
	qsort(ix, n, sizeof(*ix), mx_ix_cmp);
	for (i = 1, j = 0; i < n; i++) {
		if (strcmp(ix[i].s, ix[j].s) == 0) { /* ix[j]: the kept first of this run */
			free(mx[ix[i].pos]);
			mx[ix[i].pos] = NULL;
		} else {
			j = i;
		}
	}
	free(ix);
	for (i = 0, j = 0; i < n; i++)
		if (mx[i] != NULL)
			mx[j++] = mx[i];
	return j;
}

static int
add_ext(struct parse_state *st, const char *name, size_t nlen, const char *v, size_t vlen)
{
	struct sts_policy *p = st->p;
	size_t i;

	if (!ext_name_ok(name, nlen) || !ext_value_ok(v, vlen)) {
		p->tolerated |= STS_TOLERATED_BAD_EXTENSION;
		return 0;
	}
	for (i = 0; i < p->n_ext; i++)
		if (strlen(p->ext[i].name) == nlen && memcmp(p->ext[i].name, name, nlen) == 0)
			return 0; /* duplicate: the first wins (section 3.2) */
	if (p->n_ext >= STS_EXT_MAX)
		return fail(st->err, ERR_POLICY_TOO_LARGE, st->line,
		            "more than %d distinct extension fields", STS_EXT_MAX);
	p->ext = xrealloc(p->ext, (p->n_ext + 1) * sizeof(*p->ext));
	p->ext[p->n_ext].name = xstrndup(name, nlen);
	p->ext[p->n_ext].value = xstrndup(v, vlen);
	p->n_ext++;
	return 0;
}

static int
name_is(const char *name, size_t nlen, const char *lit)
{
	return strlen(lit) == nlen && memcmp(name, lit, nlen) == 0;
}

/* One line without its terminator and without trailing CRs. */
static int
parse_line(struct parse_state *st, const char *s, size_t len)
{
	char q[REASON_QUOTE_MAX + 4];
	const char *colon, *v;
	size_t nlen, vlen, i;

	for (i = 0; i < len && is_wsp((unsigned char)s[i]); i++)
		;
	if (i == len) {
		st->p->tolerated |= STS_TOLERATED_BLANK_LINE;
		return 0;
	}
	if (s[0] == '#') {
		st->p->tolerated |= STS_TOLERATED_COMMENT;
		return 0;
	}
	if (is_wsp((unsigned char)s[0]))
		return fail(st->err, ERR_POLICY_SYNTAX, st->line,
		            "whitespace before the field name in '%s'",
		            quote(q, sizeof(q), s, len));
	colon = memchr(s, ':', len);
	if (colon == NULL)
		return fail(st->err, ERR_POLICY_SYNTAX, st->line, "no ':' in '%s'",
		            quote(q, sizeof(q), s, len));
	nlen = (size_t)(colon - s);
	if (nlen > 0 && is_wsp((unsigned char)s[nlen - 1]))
		return fail(st->err, ERR_POLICY_SYNTAX, st->line, "whitespace before ':' in '%s'",
		            quote(q, sizeof(q), s, len));
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && is_wsp((unsigned char)v[0])) {
		v++;
		vlen--;
	}
	while (vlen > 0 && is_wsp((unsigned char)v[vlen - 1]))
		vlen--;

	if (name_is(s, nlen, "version")) {
		if (st->have_version)
			return 0;
		if (!name_is(v, vlen, "STSv1"))
			return fail(st->err, ERR_POLICY_VERSION, st->line,
			            "version '%s' is not STSv1", quote(q, sizeof(q), v, vlen));
		st->have_version = 1;
		return 0;
	}
	if (name_is(s, nlen, "mode")) {
		if (st->have_mode)
			return 0;
		if (name_is(v, vlen, "enforce"))
			st->p->mode = STS_MODE_ENFORCE;
		else if (name_is(v, vlen, "testing"))
			st->p->mode = STS_MODE_TESTING;
		else if (name_is(v, vlen, "none"))
			st->p->mode = STS_MODE_NONE;
		else
			return fail(st->err, ERR_POLICY_MODE, st->line,
			            "mode '%s' is not enforce, testing or none",
			            quote(q, sizeof(q), v, vlen));
		st->have_mode = 1;
		return 0;
	}
	if (name_is(s, nlen, "max_age")) {
		if (st->have_max_age)
			return 0;
		st->have_max_age = 1;
		return parse_max_age(st, v, vlen);
	}
	if (name_is(s, nlen, "mx"))
		return add_mx(st, v, vlen);
	return add_ext(st, s, nlen, v, vlen);
}

static int
policy_parse(const char *body, size_t len, size_t max, struct sts_policy **ret_policy,
             struct sts_parse_error *err)
{
	struct parse_state st = {.err = err, .line = 0};
	const char *end, *s;
	int r;

	if (err != NULL) {
		err->line = 0;
		err->reason[0] = '\0';
	}
	if (len > max)
		return fail(err, ERR_POLICY_TOO_LARGE, 0, "body of %zu bytes is over %zu", len,
		            max);
	if (len == 0 || body == NULL)
		return fail(err, ERR_POLICY_SYNTAX, 0, "empty policy body");
	st.p = xcalloc(1, sizeof(*st.p));
	/* No C-string handling of the body: a NUL is a byte like any other control character.
	 * In a known field it makes the value invalid (strict); in an extension field it is
	 * noise (tolerated, the field dropped), never a place to cut the body. */
	s = body;
	end = body + len;
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		st.p->tolerated |= STS_TOLERATED_BOM;
		s += 3;
	}
	if (s == end) {
		r = fail(err, ERR_POLICY_SYNTAX, 0, "empty policy body");
		goto fail;
	}
	while (s < end) {
		const char *lf = memchr(s, '\n', (size_t)(end - s));
		const char *eol = lf != NULL ? lf : end;
		size_t llen = (size_t)(eol - s);

		st.line++;
		/* CRLF: one CR belongs to the terminator; any other CR before the line end
		 * (or at the very end of the body) is tolerated noise */
		if (lf != NULL && llen > 0 && s[llen - 1] == '\r')
			llen--;
		while (llen > 0 && s[llen - 1] == '\r') {
			llen--;
			st.p->tolerated |= STS_TOLERATED_CR;
		}
		r = parse_line(&st, s, llen);
		if (r < 0)
			goto fail;
		s = lf != NULL ? lf + 1 : end;
	}
	if (!st.have_version) {
		r = fail(err, ERR_POLICY_VERSION, 0, "no version field");
		goto fail;
	}
	if (!st.have_mode) {
		r = fail(err, ERR_POLICY_MODE, 0, "no mode field");
		goto fail;
	}
	if (!st.have_max_age) {
		r = fail(err, ERR_POLICY_MAX_AGE, 0, "no max_age field");
		goto fail;
	}
	st.p->n_mx = sts_mx_dedup(st.p->mx, st.p->n_mx);
	if (st.p->n_mx > STS_MX_MAX) {
		r = fail(err, ERR_POLICY_TOO_LARGE, 0, "%zu distinct mx patterns, at most %d",
		         st.p->n_mx, STS_MX_MAX);
		goto fail;
	}
	if (st.p->mode != STS_MODE_NONE && st.p->n_mx == 0) {
		if (st.p->n_mx_dropped > 0)
			r = fail(err, ERR_POLICY_NO_MX, 0,
			         "mode %s with only IP-address mx patterns (%u dropped)",
			         sts_mode_name(st.p->mode), (unsigned)st.p->n_mx_dropped);
		else
			r = fail(err, ERR_POLICY_NO_MX, 0, "mode %s without any mx",
			         sts_mode_name(st.p->mode));
		goto fail;
	}
	/* Kept packed (one allocation): cached policies are most of the cache's memory. */
	*ret_policy = sts_policy_dup(st.p);
	(void)sts_policy_free(st.p);
	return 0;
fail:
	(void)sts_policy_free(st.p);
	return r;
}

int
sts_policy_parse(const char *body, size_t len, struct sts_policy **ret_policy,
                 struct sts_parse_error *err)
{
	return policy_parse(body, len, STS_POLICY_BODY_MAX, ret_policy, err);
}

int
sts_policy_parse_canonical(const char *text, size_t len, struct sts_policy **ret_policy,
                           struct sts_parse_error *err)
{
	return policy_parse(text, len, STS_POLICY_CANON_MAX, ret_policy, err);
}

int
sts_policy_validate(const struct sts_policy *p, struct sts_parse_error *err)
{
	char q[REASON_QUOTE_MAX + 4];
	size_t i, j;
	int r;

	if (err != NULL) {
		err->line = 0;
		err->reason[0] = '\0';
	}
	if (p == NULL)
		return fail(err, ERR_POLICY_SYNTAX, 0, "no policy");
	if (p->mode != STS_MODE_NONE && p->mode != STS_MODE_TESTING && p->mode != STS_MODE_ENFORCE)
		return fail(err, ERR_POLICY_MODE, 0, "mode %d is not enforce, testing or none",
		            (int)p->mode);
	if (p->max_age_s > STS_MAX_AGE_MAX)
		return fail(err, ERR_POLICY_MAX_AGE, 0, "max_age %u is above %u",
		            (unsigned)p->max_age_s, STS_MAX_AGE_MAX);
	if (p->n_mx > STS_MX_MAX)
		return fail(err, ERR_POLICY_TOO_LARGE, 0, "%zu mx patterns, at most %d", p->n_mx,
		            STS_MX_MAX);
	if (p->n_mx > 0 && p->mx == NULL)
		return fail(err, ERR_POLICY_MX, 0, "mx list missing");
	for (i = 0; i < p->n_mx; i++) {
		if (p->mx[i] == NULL)
			return fail(err, ERR_POLICY_MX, 0, "mx pattern %zu missing", i + 1);
		r = mx_pattern_check(p->mx[i], strlen(p->mx[i]));
		if (r < 0)
			return fail(err, ERR_POLICY_MX, 0, "mx pattern '%s': %s",
			            quote(q, sizeof(q), p->mx[i], strlen(p->mx[i])), err_str(r));
	}
	if (p->mode != STS_MODE_NONE && p->n_mx == 0)
		return fail(err, ERR_POLICY_NO_MX, 0, "mode %s without any mx",
		            sts_mode_name(p->mode));
	if (p->n_ext > STS_EXT_MAX)
		return fail(err, ERR_POLICY_TOO_LARGE, 0, "%u extension fields, at most %d",
		            (unsigned)p->n_ext, STS_EXT_MAX);
	if (p->n_ext > 0 && p->ext == NULL)
		return fail(err, ERR_POLICY_SYNTAX, 0, "extension list missing");
	for (i = 0; i < p->n_ext; i++) {
		const struct sts_ext *e = &p->ext[i];
		size_t nlen;

		if (e->name == NULL || e->value == NULL)
			return fail(err, ERR_POLICY_SYNTAX, 0, "extension %zu incomplete", i + 1);
		nlen = strlen(e->name);
		if (!ext_name_ok(e->name, nlen) || name_is(e->name, nlen, "version") ||
		    name_is(e->name, nlen, "mode") || name_is(e->name, nlen, "max_age") ||
		    name_is(e->name, nlen, "mx"))
			return fail(err, ERR_POLICY_SYNTAX, 0, "extension name '%s' is invalid",
			            quote(q, sizeof(q), e->name, nlen));
		if (!ext_value_ok(e->value, strlen(e->value)))
			return fail(err, ERR_POLICY_SYNTAX, 0,
			            "extension '%s' has an invalid value",
			            quote(q, sizeof(q), e->name, nlen));
		for (j = 0; j < i; j++)
			if (strcmp(p->ext[j].name, e->name) == 0)
				return fail(err, ERR_POLICY_SYNTAX, 0,
				            "extension '%s' appears twice",
				            quote(q, sizeof(q), e->name, nlen));
	}
	return 0;
}

static char *
put(char *o, const char *s)
{
	size_t n = strlen(s);

	memcpy(o, s, n);
	return o + n;
}

char *
sts_policy_serialize(const struct sts_policy *p)
{
	char age[16];
	size_t need, i;
	char *out, *o;

	(void)snprintf(age, sizeof(age), "%u", (unsigned)p->max_age_s);
	need = sizeof("version: STSv1\r\n") + sizeof("mode: enforce\r\n") +
	       sizeof("max_age: \r\n") + strlen(age);
	for (i = 0; i < p->n_mx; i++)
		need += sizeof("mx: \r\n") + strlen(p->mx[i]);
	out = xmalloc(need);
	o = put(out, "version: STSv1\r\nmode: ");
	o = put(o, sts_mode_name(p->mode));
	o = put(o, "\r\n");
	for (i = 0; i < p->n_mx; i++) {
		o = put(o, "mx: ");
		o = put(o, p->mx[i]);
		o = put(o, "\r\n");
	}
	o = put(o, "max_age: ");
	o = put(o, age);
	o = put(o, "\r\n");
	*o = '\0';
	return out;
}

/* Copy the string at s to *o, advance *o past its NUL; returns the copy. */
static char *
pack_str(char **o, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = *o;

	memcpy(d, s, n);
	*o += n;
	return d;
}

struct sts_policy *
sts_policy_dup(const struct sts_policy *p)
{
	struct sts_policy *d;
	size_t i, size;
	char *o;

	if (p == NULL)
		return NULL;
	/* One block: the struct, the mx pointers, the ext pairs (pointer-aligned, right after
	 * the struct), then the strings. n_mx <= STS_MX_MAX, n_ext <= STS_EXT_MAX and the
	 * strings come from a bounded body: no overflow. */
	size = sizeof(*d) + p->n_mx * sizeof(*d->mx) + p->n_ext * sizeof(*d->ext);
	for (i = 0; i < p->n_mx; i++)
		size += strlen(p->mx[i]) + 1;
	for (i = 0; i < p->n_ext; i++)
		size += strlen(p->ext[i].name) + strlen(p->ext[i].value) + 2;
	d = xmalloc(size);
	memset(d, 0, sizeof(*d));
	d->mode = p->mode;
	d->max_age_s = p->max_age_s;
	d->tolerated = p->tolerated;
	d->n_mx_dropped = p->n_mx_dropped;
	d->packed = 1;
	d->mx = p->n_mx > 0 ? (char **)(void *)(d + 1) : NULL;
	d->ext = p->n_ext > 0 ? (struct sts_ext *)(void *)((char **)(void *)(d + 1) + p->n_mx)
	                      : NULL;
	o = (char *)(void *)(d + 1) + p->n_mx * sizeof(*d->mx) + p->n_ext * sizeof(*d->ext);
	for (i = 0; i < p->n_mx; i++)
		d->mx[i] = pack_str(&o, p->mx[i]);
	d->n_mx = p->n_mx;
	for (i = 0; i < p->n_ext; i++) {
		d->ext[i].name = pack_str(&o, p->ext[i].name);
		d->ext[i].value = pack_str(&o, p->ext[i].value);
	}
	d->n_ext = p->n_ext;
	return d;
}

struct sts_policy *
sts_policy_free(struct sts_policy *p)
{
	size_t i;

	if (p == NULL)
		return NULL;
	if (p->packed) {
		free(p);
		return NULL;
	}
	for (i = 0; i < p->n_mx; i++)
		free(p->mx[i]);
	free(p->mx);
	for (i = 0; i < p->n_ext; i++) {
		free(p->ext[i].name);
		free(p->ext[i].value);
	}
	free(p->ext);
	free(p);
	return NULL;
}

const char *
sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_NONE:
		return "none";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_ENFORCE:
		return "enforce";
	}
	return "invalid";
}

int
sts_mode_parse(const char *s, enum sts_mode *ret_mode)
{
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "enforce") == 0)
		*ret_mode = STS_MODE_ENFORCE;
	else if (strcmp(s, "testing") == 0)
		*ret_mode = STS_MODE_TESTING;
	else if (strcmp(s, "none") == 0)
		*ret_mode = STS_MODE_NONE;
	else
		return -EINVAL;
	return 0;
}
