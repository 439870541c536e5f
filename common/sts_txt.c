/*
 * common/sts_txt.c - the "_mta-sts" TXT RRset (RFC 8461 section 3.1) and the
 *                    "_smtp._tls" TLSRPT record (RFC 8460 section 3) (no I/O)
 *
 * Interface: sts_txt_parse(), tlsrpt_txt_parse()
 * Rules:     an RR is an STSv1 record when it begins with "v=STSv1" followed by *WSP and
 *            then ";" or the end of the record (erratum 6285 recommends "v=STSv1" *WSP ";";
 *            a bare "v=STSv1" counts too, so that it is reported as malformed rather than
 *            absent). Exactly one such RR, else ERR_TXT_NONE / ERR_TXT_MULTIPLE - counted
 *            before any syntax check, so one valid and one broken record are "multiple".
 *            The survivor must match the ABNF exactly:
 *              sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 *              sts-field-delim = *WSP ";" *WSP
 *              sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *              sts-extension   = sts-ext-name "=" 1*(%x21-3A / %x3C / %x3E-7E)
 *            WSP is allowed only around ';'. A duplicated id: the first wins (RFC silent;
 *            mirrors section 3.2): the first "id=" must be a valid id, later ones are
 *            skipped like extensions. The TLSRPT record follows the same shape with "v=TLSRPTv1"
 *            and "rua=" uri *(*WSP "," *WSP uri); a duplicated rua: the first wins.
 * Limits:    an RR longer than STS_TXT_MAX bytes cannot be a valid record (ERR_TXT_SYNTAX).
 * Threads:   no state.
 * Errors:    ERR_TXT_NONE, ERR_TXT_MULTIPLE, ERR_TXT_SYNTAX - each means "no available policy"
 *            (section 3.1). DNS failures are the caller's (dns_client) business.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sts_txt.h"
#include "xalloc.h"

struct cursor {
	const char *s;
	size_t len, pos;
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

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* %x21-3A / %x3C / %x3E-7E: visible ASCII except '=' and ';' */
static int
is_ext_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

static void
skip_wsp(struct cursor *c)
{
	while (c->pos < c->len && is_wsp((unsigned char)c->s[c->pos]))
		c->pos++;
}

/* "<version>" *WSP (";" / end): is this RR a record of that version? */
static int
has_version(const struct txt_rr *rr, const char *version)
{
	size_t vl = strlen(version), i;

	if (rr->data == NULL || rr->len < vl || memcmp(rr->data, version, vl) != 0)
		return 0;
	for (i = vl; i < rr->len && is_wsp((unsigned char)rr->data[i]); i++)
		;
	return i == rr->len || rr->data[i] == ';';
}

/* Find the one RR of this version: 0 and *ret_rr, or ERR_TXT_NONE / ERR_TXT_MULTIPLE. */
static int
find_one(const struct txt_rr *rrs, size_t n, const char *version, const struct txt_rr **ret_rr)
{
	const struct txt_rr *found = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!has_version(&rrs[i], version))
			continue;
		if (found != NULL)
			return ERR_TXT_MULTIPLE;
		found = &rrs[i];
	}
	if (found == NULL)
		return ERR_TXT_NONE;
	*ret_rr = found;
	return 0;
}

/* field-delim = *WSP ";" *WSP; returns 1 when one was consumed. */
static int
delim(struct cursor *c)
{
	size_t save = c->pos;

	skip_wsp(c);
	if (c->pos < c->len && c->s[c->pos] == ';') {
		c->pos++;
		skip_wsp(c);
		return 1;
	}
	c->pos = save;
	return 0;
}

/* ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."); returns its length. */
static size_t
ext_name(const struct cursor *c)
{
	size_t i = c->pos;

	if (i >= c->len || !is_alnum((unsigned char)c->s[i]))
		return 0;
	for (i++; i < c->len && i - c->pos < 32; i++) {
		unsigned char ch = (unsigned char)c->s[i];

		if (!is_alnum(ch) && ch != '_' && ch != '-' && ch != '.')
			break;
	}
	return i - c->pos;
}

/* Walk "<version> 1*(delim field) [delim]", calling field() for each field with the cursor
 * at its start. field() consumes the field and returns 0, or ERR_TXT_SYNTAX. */
typedef int field_fn(struct cursor *c, void *arg);

static int
walk(const struct txt_rr *rr, const char *version, field_fn *field, void *arg)
{
	struct cursor c = {.s = rr->data, .len = rr->len, .pos = strlen(version)};
	size_t nfields = 0;
	int r;

	if (rr->len > STS_TXT_MAX)
		return ERR_TXT_SYNTAX;
	for (;;) {
		if (!delim(&c))
			break;
		if (c.pos == c.len)
			break; /* the optional trailing delimiter */
		r = field(&c, arg);
		if (r < 0)
			return r;
		nfields++;
	}
	if (c.pos != c.len || nfields == 0)
		return ERR_TXT_SYNTAX;
	return 0;
}

/* A generic extension "name=value"; consumes it or returns ERR_TXT_SYNTAX. */
static int
skip_extension(struct cursor *c)
{
	size_t nl = ext_name(c), start;

	if (nl == 0)
		return ERR_TXT_SYNTAX;
	c->pos += nl;
	if (c->pos >= c->len || c->s[c->pos] != '=')
		return ERR_TXT_SYNTAX;
	c->pos++;
	start = c->pos;
	while (c->pos < c->len && is_ext_char((unsigned char)c->s[c->pos]))
		c->pos++;
	return c->pos > start ? 0 : ERR_TXT_SYNTAX;
}

struct sts_fields {
	char *id;
	int have_id;
};

static int
sts_field(struct cursor *c, void *arg)
{
	struct sts_fields *f = arg;
	size_t start, n;

	/* a later "id=" is ignored like any extension (it still has to be well-formed) */
	if (f->have_id || c->len - c->pos < 3 || memcmp(c->s + c->pos, "id=", 3) != 0)
		return skip_extension(c);
	c->pos += 3;
	start = c->pos;
	while (c->pos < c->len && is_alnum((unsigned char)c->s[c->pos]))
		c->pos++;
	n = c->pos - start;
	if (n == 0 || n > STS_ID_MAX)
		return ERR_TXT_SYNTAX;
	/* the id ends at a delimiter or at the end ("id=2019-01-01" is not an id) */
	if (c->pos < c->len && c->s[c->pos] != ';' && !is_wsp((unsigned char)c->s[c->pos]))
		return ERR_TXT_SYNTAX;
	memcpy(f->id, c->s + start, n);
	f->id[n] = '\0';
	f->have_id = 1;
	return 0;
}

int
sts_txt_parse(const struct txt_rr *rrs, size_t n, char id[STS_ID_MAX + 1])
{
	char tmp[STS_ID_MAX + 1];
	struct sts_fields f = {.id = tmp};
	const struct txt_rr *rr = NULL;
	int r;

	r = find_one(rrs, n, "v=STSv1", &rr);
	if (r < 0)
		return r;
	r = walk(rr, "v=STSv1", sts_field, &f);
	if (r < 0)
		return r;
	if (!f.have_id)
		return ERR_TXT_SYNTAX;
	memcpy(id, tmp, strlen(tmp) + 1);
	return 0;
}

/* RFC 8460: tlsrpt-uri = URI with "," and "!" percent-encoded. We check the shape that
 * matters here: scheme ":" 1*(visible ASCII except ",", ";" and "!"). */
static size_t
uri(const struct cursor *c)
{
	size_t i = c->pos;

	if (i >= c->len || !is_alpha((unsigned char)c->s[i]))
		return 0;
	for (i++; i < c->len; i++) {
		unsigned char ch = (unsigned char)c->s[i];

		if (!is_alnum(ch) && ch != '+' && ch != '-' && ch != '.')
			break;
	}
	if (i >= c->len || c->s[i] != ':')
		return 0;
	i++;
	if (i >= c->len)
		return 0;
	for (; i < c->len; i++) {
		unsigned char ch = (unsigned char)c->s[i];

		if (ch < 0x21 || ch > 0x7e || ch == ',' || ch == ';' || ch == '!')
			break;
	}
	if (c->s[i - 1] == ':')
		return 0;
	return i - c->pos;
}

struct tlsrpt_fields {
	char *rua;
	int have_rua;
};

static int
tlsrpt_field(struct cursor *c, void *arg)
{
	struct tlsrpt_fields *f = arg;
	size_t start, ul, out = 0;
	char *list;

	if (f->have_rua || c->len - c->pos < 4 || memcmp(c->s + c->pos, "rua=", 4) != 0)
		return skip_extension(c);
	c->pos += 4;
	start = c->pos;
	list = xmalloc(c->len - start + 1);
	for (;;) {
		size_t save;

		ul = uri(c);
		if (ul == 0) {
			free(list);
			return ERR_TXT_SYNTAX;
		}
		if (out > 0)
			list[out++] = ',';
		memcpy(list + out, c->s + c->pos, ul);
		out += ul;
		c->pos += ul;
		save = c->pos;
		skip_wsp(c);
		if (c->pos < c->len && c->s[c->pos] == ',') {
			c->pos++;
			skip_wsp(c);
			continue;
		}
		c->pos = save;
		break;
	}
	list[out] = '\0';
	f->rua = list;
	f->have_rua = 1;
	return 0;
}

int
tlsrpt_txt_parse(const struct txt_rr *rrs, size_t n, char **ret_rua)
{
	struct tlsrpt_fields f = {0};
	const struct txt_rr *rr = NULL;
	int r;

	r = find_one(rrs, n, "v=TLSRPTv1", &rr);
	if (r < 0)
		return r;
	r = walk(rr, "v=TLSRPTv1", tlsrpt_field, &f);
	if (r < 0 || !f.have_rua) {
		free(f.rua);
		return r < 0 ? r : ERR_TXT_SYNTAX;
	}
	*ret_rua = f.rua;
	return 0;
}
