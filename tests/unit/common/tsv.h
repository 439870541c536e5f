/*
 * tests/unit/common/tsv.h - read the conformance vectors (tests/vectors, TSV) in unit tests
 *
 * Interface: tsv_load(), tsv_free(), tsv_col(), tsv_cell(), tsv_unescape(),
 *            tsv_zone_rrset(), tsv_zone_free(), tsv_readme_count()
 * Format:    tests/vectors/README.md: ASCII, TAB-separated, LF line ends, header line first.
 * Ownership: everything returned is owned by the caller and freed with the matching _free().
 * Errors:    a malformed vector file fails the test (cmocka fail_msg()), never skips rows.
 */
#ifndef MTASTSD_TEST_TSV_H
#define MTASTSD_TEST_TSV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xalloc.h"

#define TSV_MAX_COLS 16

struct tsv {
	size_t ncols;
	char *header[TSV_MAX_COLS];
	size_t nrows;
	char *(*rows)[TSV_MAX_COLS]; /* rows[i][col] */
	char *text;                  /* the file, cut in place */
};

static inline char *
tsv_slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n = 0;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		fail_msg("cannot size %s", path);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	buf[n] = '\0';
	(void)fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

static inline size_t
tsv_split(char *line, char **cells)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *tab = strchr(p, '\t');

		if (n == TSV_MAX_COLS)
			fail_msg("too many columns in '%.40s'", line);
		cells[n++] = p;
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return n;
}

/* Load a vector file; every row must have as many cells as the header. */
static inline struct tsv *
tsv_load(const char *name)
{
	char path[512];
	struct tsv *t = xcalloc(1, sizeof(*t));
	char *line, *next;
	size_t len;

	(void)snprintf(path, sizeof(path), "%s/%s", TEST_VECTORS_DIR, name);
	t->text = tsv_slurp(path, &len);
	if (memchr(t->text, '\r', len) != NULL)
		fail_msg("%s: CR in a vector file", name);
	line = t->text;
	next = strchr(line, '\n');
	if (next == NULL)
		fail_msg("%s: no header line", name);
	*next = '\0';
	t->ncols = tsv_split(line, t->header);
	for (line = next + 1; *line != '\0'; line = next) {
		char *cells[TSV_MAX_COLS];
		size_t n;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (*line == '\0')
			fail_msg("%s: empty line after row %zu", name, t->nrows);
		n = tsv_split(line, cells);
		if (n != t->ncols)
			fail_msg("%s: row %zu has %zu cells, header has %zu", name, t->nrows + 1, n,
			         t->ncols);
		t->rows = xrealloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
		memcpy(t->rows[t->nrows], cells, sizeof(cells));
		t->nrows++;
	}
	return t;
}

static inline void
tsv_free(struct tsv *t)
{
	if (t == NULL)
		return;
	free(t->rows);
	free(t->text);
	free(t);
}

static inline size_t
tsv_col(const struct tsv *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (strcmp(t->header[i], name) == 0)
			return i;
	fail_msg("no column '%s'", name);
	return 0;
}

static inline const char *
tsv_cell(const struct tsv *t, size_t row, const char *col)
{
	return t->rows[row][tsv_col(t, col)];
}

/* The case count the README table gives for a file ("| policy_parse.tsv | 37 |"). */
static inline size_t
tsv_readme_count(const char *name)
{
	char path[512], pat[128];
	size_t len;
	char *text, *p;
	unsigned long n;

	(void)snprintf(path, sizeof(path), "%s/README.md", TEST_VECTORS_DIR);
	text = tsv_slurp(path, &len);
	(void)snprintf(pat, sizeof(pat), "| %s | ", name);
	p = strstr(text, pat);
	if (p == NULL)
		fail_msg("README.md has no count for %s", name);
	n = strtoul(p + strlen(pat), NULL, 10);
	free(text);
	return (size_t)n;
}

static inline int
tsv_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Backslash escapes of raw-byte cells: \\ \t \r \n \0 \xHH. Returns an owned buffer
 * (NUL-terminated for convenience) and its length in *ret_len. */
static inline char *
tsv_unescape(const char *s, size_t *ret_len)
{
	size_t n = strlen(s), o = 0, i;
	char *out = xmalloc(n + 1);

	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (++i >= n)
			fail_msg("dangling backslash in '%s'", s);
		switch (s[i]) {
		case '\\':
			out[o++] = '\\';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case '0':
			out[o++] = '\0';
			break;
		case 'x':
			if (i + 2 >= n)
				fail_msg("short \\x escape in '%s'", s);
			if (tsv_hex(s[i + 1]) < 0 || tsv_hex(s[i + 2]) < 0)
				fail_msg("bad \\x escape in '%s'", s);
			out[o++] = (char)(tsv_hex(s[i + 1]) * 16 + tsv_hex(s[i + 2]));
			i += 2;
			break;
		default:
			fail_msg("unknown escape \\%c in '%s'", s[i], s);
		}
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

/* A TXT RRset in zone presentation form, see tests/vectors/README.md. */
struct tsv_rrset {
	const char *pseudo; /* "NXDOMAIN", "NODATA", "SERVFAIL", "TIMEOUT", or NULL */
	char cname[256];    /* "(CNAME target)" prefix, or "" */
	size_t n;
	char *data[16];
	size_t len[16];
};

static inline void
tsv_zone_free(struct tsv_rrset *z)
{
	size_t i;

	for (i = 0; i < z->n; i++)
		free(z->data[i]);
	z->n = 0;
}

/* Decode "\"a\" \"b\" | \"c\"" (character-strings joined per RR, RRs split at " | ") or a
 * pseudo-value "(SERVFAIL)". Escapes inside strings: \" \\ \DDD (RFC 1035 section 5.1). */
static inline void
tsv_zone_rrset(const char *s, struct tsv_rrset *z)
{
	static const char *const pseudos[] = {"NXDOMAIN", "NODATA", "SERVFAIL", "TIMEOUT"};
	size_t i;

	memset(z, 0, sizeof(*z));
	if (strncmp(s, "(CNAME ", 7) == 0) {
		const char *close = strchr(s, ')');

		if (close == NULL || (size_t)(close - s - 7) >= sizeof(z->cname))
			fail_msg("bad CNAME prefix in '%s'", s);
		memcpy(z->cname, s + 7, (size_t)(close - s - 7));
		s = close + 1;
		while (*s == ' ')
			s++;
	}
	if (*s == '(') {
		for (i = 0; i < sizeof(pseudos) / sizeof(pseudos[0]); i++) {
			size_t pl = strlen(pseudos[i]);

			if (strncmp(s + 1, pseudos[i], pl) == 0 && s[1 + pl] == ')' &&
			    s[2 + pl] == '\0') {
				z->pseudo = pseudos[i];
				return;
			}
		}
		fail_msg("unknown pseudo-value '%s'", s);
	}
	for (;;) {
		size_t cap = strlen(s) + 1, o = 0;
		char *rr = xmalloc(cap);

		if (z->n == 16)
			fail_msg("too many RRs in '%s'", s);
		for (;;) {
			if (*s != '"')
				fail_msg("expected '\"' at '%s'", s);
			for (s++; *s != '"'; s++) {
				if (*s == '\0')
					fail_msg("unterminated string");
				if (*s != '\\') {
					rr[o++] = *s;
					continue;
				}
				s++;
				if (*s >= '0' && *s <= '9') {
					int v;

					if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
						fail_msg("bad \\DDD escape");
					v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
					if (v > 255)
						fail_msg("\\DDD escape above 255");
					rr[o++] = (char)v;
					s += 2;
				} else if (*s == '"' || *s == '\\') {
					rr[o++] = *s;
				} else {
					fail_msg("unknown escape in zone string");
				}
			}
			s++; /* closing quote */
			if (s[0] == ' ' && s[1] == '"') {
				s++;
				continue; /* next character-string of the same RR */
			}
			break;
		}
		rr[o] = '\0';
		z->data[z->n] = rr;
		z->len[z->n] = o;
		z->n++;
		if (*s == '\0')
			return;
		if (strncmp(s, " | ", 3) != 0)
			fail_msg("expected ' | ' at '%s'", s);
		s += 3;
	}
}

#endif
