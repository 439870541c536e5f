/*
 * cli/migrate.c - `mtastsd migrate`: postfix-mta-sts-resolver's YAML and a served policy
 *                 file -> mtastsd.conf
 *
 * Interface: migrate_resolver(), migrate_publisher(), migrate_out_free() (migrate.h)
 * Design:    the YAML is loaded with libyaml's document API (anchors and aliases resolved);
 *            plain scalars are typed as PyYAML (YAML 1.1) types them, which is what
 *            mta-sts-daemon saw: yes/no/on/off/true/false booleans, 0666 octal, 0x hex,
 *            floats; a quoted scalar is a string. Each mapping is walked key by key against
 *            the keys postfix-mta-sts-resolver reads (utils.py populate_cfg_defaults(),
 *            responder.py, the cache backends), so that an unknown key is always reported.
 *            The text is written in three parts (notes, process/resolver, cache) and joined.
 * Loading:   libyaml is not linked: migrate_resolver() loads it (common/dynlib.h; issue 21:
 *            no daemon maps it) and calls it through ym below; a libyaml function called
 *            directly fails to link, which keeps it so.
 * Threads:   any; no state but the loaded library (loaded by the first call, one thread).
 * Ownership: struct migrate_out is the caller's.
 * Errors:    ERR_CONFIG / ERR_POLICY_* with the message in errbuf (migrate.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h> /* isfinite() only: no libm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <yaml.h>

#include "cfg.h"
#include "domain.h"
#include "dynlib.h"
#include "err.h"
#include "migrate.h"
#include "log.h"
#include "mtasts_limits.h"
#include "pub.h"
#include "sts_policy.h"
#include "xalloc.h"

/* postfix-mta-sts-resolver's defaults (defaults.py, 1.1.2 .. 1.5). */
#define OLD_HOST           "127.0.0.1"
#define OLD_PORT           8461
#define OLD_TIMEOUT_MS     4000
#define OLD_SHUTDOWN_MS    20000
#define OLD_REDIS_PORT     6379
#define OLD_DEFAULT_ZONE   "postfix" /* the name main.cf uses in the README's example */
#define ADMIN_DEFAULT_PORT 8462u     /* mtastsd's admin.listen default, 127.0.0.1:8462 */
/* mtastsd's ranges for the keys written (docs/config.md). */
#define ZONE_TIMEOUT_MIN_MS  100
#define ZONE_TIMEOUT_MAX_MS  60000
#define SHUTDOWN_MAX_MS      300000
#define RECHECK_MIN_MS       1000
#define RECHECK_MAX_MS       (7ull * 86400 * 1000)
#define REFRESH_CONC_MAX     1024
#define MAX_ENTRIES_MAX      10000000
#define REDIS_TIMEOUT_MIN_MS 10
#define REDIS_TIMEOUT_MAX_MS 60000
#define REDIS_DB_MAX         1023
#define ZONE_NAME_MAX        64
#define PUB_MX_MAX           64 /* publisher.domains[].mx: 0..64 entries */
#define PUB_MAX_AGE_MIN      60 /* publisher.domains[].max_age: at least 60 s */
/* Where a web server's document root keeps the policy (RFC 8461 section 3.3). */
#define MIGRATE_POLICY_SUFFIX "/.well-known/mta-sts.txt"

/* The soname of libyaml 0.2 (libyaml-0-2 in Debian). */
#ifndef MIGRATE_YAML_SONAME
#define MIGRATE_YAML_SONAME "libyaml-0.so.2"
#endif

/* The libyaml functions used here. */
static struct {
	int (*yaml_parser_initialize)(yaml_parser_t *);
	void (*yaml_parser_set_input_string)(yaml_parser_t *, const unsigned char *, size_t);
	int (*yaml_parser_load)(yaml_parser_t *, yaml_document_t *);
	void (*yaml_parser_delete)(yaml_parser_t *);
	yaml_node_t *(*yaml_document_get_node)(yaml_document_t *, int);
	yaml_node_t *(*yaml_document_get_root_node)(yaml_document_t *);
	void (*yaml_document_delete)(yaml_document_t *);
} ym;

/* Load libyaml, once. 0 or -ENOENT/-ENOSYS with the reason in errbuf. */
static int
mg_yaml_load(char *errbuf, size_t errlen)
{
	static int state; /* 0: not tried, 1: loaded, < 0: the error */
	static char reason[256];
	const struct dynlib_sym syms[] = {
	        DYNLIB_SYM(ym, yaml_parser_initialize),
	        DYNLIB_SYM(ym, yaml_parser_set_input_string),
	        DYNLIB_SYM(ym, yaml_parser_load),
	        DYNLIB_SYM(ym, yaml_parser_delete),
	        DYNLIB_SYM(ym, yaml_document_get_node),
	        DYNLIB_SYM(ym, yaml_document_get_root_node),
	        DYNLIB_SYM(ym, yaml_document_delete),
	};

	if (state == 0) {
		state = dynlib_load(MIGRATE_YAML_SONAME, syms, sizeof(syms) / sizeof(syms[0]),
		                    reason, sizeof(reason));
		if (state == 0)
			state = 1;
	}
	if (state < 0) {
		(void)snprintf(errbuf, errlen, "reading YAML needs libyaml: %s", reason);
		return state;
	}
	return 0;
}

/* One text being written (open_memstream). */
struct mg_buf {
	char *s;
	size_t len;
	FILE *f;
};

struct mg {
	const char *path;
	yaml_document_t doc;
	struct mg_buf notes; /* "#   key (line N): reason" lines of the header */
	struct mg_buf unknown;
	struct mg_buf proc, res, zones, cache;
	size_t n_zones;
	const char *default_zone; /* the name given to default_zone */
	char **warnings;
	size_t n_warnings;
	char *err; /* the first fatal error, owned */
};

static void
mg_buf_open(struct mg_buf *b)
{
	b->s = NULL;
	b->len = 0;
	b->f = open_memstream(&b->s, &b->len);
	if (b->f == NULL)
		abort();
}

/* Close b and return its text (owned). */
static char *
mg_buf_take(struct mg_buf *b)
{
	char *s;

	if (b->f != NULL)
		(void)fclose(b->f);
	b->f = NULL;
	s = b->s != NULL ? b->s : xstrdup("");
	b->s = NULL;
	return s;
}

/* Control bytes of s (YAML keys and values may hold any) as '?', in place: a warning stays
 * one line, a comment stays a comment. Returns s. */
static char *
one_line(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static void mg_warn(struct mg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
mg_warn(struct mg *m, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	m->warnings = xrealloc(m->warnings, (m->n_warnings + 1) * sizeof(*m->warnings));
	m->warnings[m->n_warnings++] = one_line(s);
}

static void mg_fail(struct mg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
mg_fail(struct mg *m, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (m->err == NULL)
		m->err = s;
	else
		free(s);
}

/* ---- YAML nodes ---- */

static yaml_node_t *
y_node(struct mg *m, int id)
{
	return ym.yaml_document_get_node(&m->doc, id);
}

static unsigned long
y_line(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

/* The scalar text of n, or NULL when n is not a scalar. */
static const char *
y_str(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static int
y_plain(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* d without its fraction (d >= 0 here; no libm). */
static double
y_floor(double d)
{
	if (d > 1e15 || d < -1e15)
		return d; /* no fraction at that size; the cast would overflow */
	return (double)(long long)d;
}

/* PyYAML's null: an empty plain scalar, ~, null, Null, NULL. */
static int
y_is_null(const yaml_node_t *n)
{
	const char *s = y_str(n);

	if (n == NULL)
		return 1;
	if (!y_plain(n))
		return 0;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* A YAML 1.1 boolean (PyYAML's resolver). Returns 0 and *v, or -1. */
static int
y_bool(const yaml_node_t *n, int *v)
{
	static const char *const yes[] = {"yes",  "Yes", "YES", "true", "True",
	                                  "TRUE", "on",  "On",  "ON"};
	static const char *const no[] = {"no",    "No",  "NO",  "false", "False",
	                                 "FALSE", "off", "Off", "OFF"};
	const char *s = y_str(n);
	size_t i;

	if (!y_plain(n))
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/* A YAML 1.1 int or float as PyYAML reads a plain scalar: decimal, 0octal, 0x hex, 0b
 * binary (with '_' separators), or a decimal float. Returns 0 and *v, or -1. */
static int
y_number(const yaml_node_t *n, double *v)
{
	const char *s = y_str(n);
	char buf[64], *end;
	size_t i, k = 0;
	int base = 10, neg = 0;

	if (!y_plain(n) || strlen(s) >= sizeof(buf))
		return -1;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] != '_')
			buf[k++] = s[i];
	buf[k] = '\0';
	s = buf;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0' && strspn(s, "01234567") == strlen(s)) {
		base = 8;
	}
	if (base != 10 || strpbrk(s, ".eE") == NULL) {
		unsigned long long u;

		if (s[0] == '\0')
			return -1;
		errno = 0;
		u = strtoull(s, &end, base);
		if (errno != 0 || *end != '\0')
			return -1;
		*v = neg ? -(double)u : (double)u;
		return 0;
	}
	errno = 0;
	*v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(*v))
		return -1;
	if (neg)
		*v = -*v;
	return 0;
}

/* s for a comment: printable, cut (log_printable(), as peer text in logs). */
static void
put_shown_str(FILE *f, const char *s)
{
	char shown[LOG_PEER_TEXT_MAX + 4];

	(void)fputs(log_printable(shown, sizeof(shown), s, strlen(s)), f);
}

/* The text of a scalar for a comment, as put_shown_str() (a password never gets here: see
 * mg_redis()). */
static void
put_shown(FILE *f, const yaml_node_t *n)
{
	const char *s = y_str(n);

	if (s == NULL) {
		(void)fputs(n != NULL && n->type == YAML_MAPPING_NODE ? "(a mapping)" : "(a list)",
		            f);
		return;
	}
	put_shown_str(f, s);
}

/* A libconfig string literal: quoted, '"' and '\' escaped, control bytes as \xNN. */
static void
put_cfgstr(FILE *f, const char *s)
{
	(void)fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			(void)fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			(void)fprintf(f, "\\x%02x", c);
		else
			(void)fputc(c, f);
	}
	(void)fputc('"', f);
}

/* A duration in milliseconds as mtastsd writes it: "20s", or "4500ms". */
static void
put_ms(FILE *f, unsigned long long ms)
{
	if (ms % 1000 == 0)
		(void)fprintf(f, "\"%llus\"", ms / 1000);
	else
		(void)fprintf(f, "\"%llums\"", ms);
}

/* A note for the header: "#   KEY (line N): reason". */
static void mg_note(struct mg *m, const char *key, const yaml_node_t *at, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void
mg_note(struct mg *m, const char *key, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;
	char *k = one_line(xstrdup(key)), *text;

	(void)fprintf(m->notes.f, "#   %s", k);
	if (at != NULL)
		(void)fprintf(m->notes.f, " (line %lu)", y_line(at));
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	(void)fprintf(m->notes.f, ": %s\n", one_line(text));
	free(text);
	free(k);
}

/* An unknown key: a comment and a warning. */
static void
mg_unknown(struct mg *m, const char *key, const yaml_node_t *k)
{
	(void)fputs("#   ", m->unknown.f);
	put_shown_str(m->unknown.f, key);
	(void)fprintf(m->unknown.f, " (line %lu)\n", y_line(k));
	mg_warn(m,
	        "%s:%lu: unknown key '%s' (postfix-mta-sts-resolver does not read it): not "
	        "carried over",
	        m->path, y_line(k), key);
}

/* A value of the wrong type: a warning, the key not carried over. */
static void
mg_bad(struct mg *m, const char *key, const yaml_node_t *v, const char *want)
{
	(void)fputs("#   ", m->notes.f);
	put_shown_str(m->notes.f, key);
	(void)fprintf(m->notes.f, " (line %lu): not %s, not carried over: ", y_line(v), want);
	put_shown(m->notes.f, v);
	(void)fputc('\n', m->notes.f);
	mg_warn(m, "%s:%lu: %s is not %s: not carried over", m->path, y_line(v), key, want);
}

/* Seconds (int or float) as milliseconds, or -1 (warned) when v is not a number >= 0. */
static long long
mg_seconds(struct mg *m, const char *key, const yaml_node_t *v)
{
	double d;

	if (y_number(v, &d) < 0 || d < 0 || d > 1e9) {
		mg_bad(m, key, v, "a number of seconds");
		return -1;
	}
	return (long long)(d * 1000.0 + 0.5);
}

/* Clamp ms into [lo, hi] with a note when it moves. */
static unsigned long long
mg_clamp_ms(struct mg *m, const char *key, const yaml_node_t *v, long long ms,
            unsigned long long lo, unsigned long long hi)
{
	unsigned long long u = (unsigned long long)ms;

	if (u < lo || u > hi) {
		unsigned long long c = u < lo ? lo : hi;

		mg_note(m, key, v, "%lld ms is outside mtastsd's range %llu ms .. %llu ms: %llu ms",
		        ms, lo, hi, c);
		mg_warn(m, "%s:%lu: %s: %lld ms is outside mtastsd's range: using %llu ms", m->path,
		        y_line(v), key, ms, c);
		return c;
	}
	return u;
}

/* ---- listener ---- */

/* The socketmap listener: path (+ mode) or host/port. Returns 0 or -1 (m->err set). */
static int
mg_listen(struct mg *m, const yaml_node_t *host, const yaml_node_t *port, const yaml_node_t *path,
          const yaml_node_t *mode, unsigned *ret_port)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *h = OLD_HOST;
	double d = OLD_PORT;
	unsigned p;

	*ret_port = 0;
	if (!y_is_null(path)) {
		const char *ps = y_str(path);

		if (ps == NULL || ps[0] != '/') {
			mg_fail(m, "%s:%lu: path '%s': mtastsd needs an absolute unix socket path",
			        m->path, y_line(path), ps != NULL ? ps : "(not a string)");
			return -1;
		}
		if (strlen(ps) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			mg_fail(m,
			        "%s:%lu: path is longer than a unix socket path can be (%zu bytes)",
			        m->path, y_line(path),
			        sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			return -1;
		}
		(void)fputs("\tlisten = ( { path = ", m->res.f);
		put_cfgstr(m->res.f, ps);
		if (!y_is_null(mode)) {
			double md;

			if (y_number(mode, &md) < 0 || md < 0 || md > 07777 || md != y_floor(md)) {
				mg_bad(m, "mode", mode, "a file mode (0666)");
			} else {
				if ((unsigned)md > 0777)
					mg_note(m, "mode", mode,
					        "%04o: mtastsd sets the permission bits only "
					        "(0000..0777): "
					        "%04o",
					        (unsigned)md, (unsigned)md & 0777u);
				(void)fprintf(m->res.f, "; mode = \"%04o\"", (unsigned)md & 0777u);
			}
		} else {
			mg_note(m, "path", path,
			        "no mode: mta-sts-daemon left the socket at its umask's mode; "
			        "mtastsd "
			        "makes it 0660 (add mode = \"0666\" if other users' Postfix "
			        "connects)");
		}
		(void)fputs("; } );\t# path", m->res.f);
		if (!y_is_null(mode))
			(void)fputs(", mode", m->res.f);
		(void)fputc('\n', m->res.f);
		if (host != NULL || port != NULL)
			mg_note(m, "host, port", host != NULL ? host : port,
			        "ignored, as mta-sts-daemon ignores them when path is set");
		return 0;
	}
	if (mode != NULL)
		mg_note(m, "mode", mode, "applies to a unix socket only (no path): ignored");
	if (!y_is_null(host)) {
		h = y_str(host);
		if (h == NULL) {
			mg_fail(m, "%s:%lu: host is not a string", m->path, y_line(host));
			return -1;
		}
	}
	if (!y_is_null(port) && (y_number(port, &d) < 0 || d != y_floor(d))) {
		mg_fail(m, "%s:%lu: port '%s' is not a port number", m->path, y_line(port),
		        y_str(port) != NULL ? y_str(port) : "(not a scalar)");
		return -1;
	}
	if (d < 1 || d > 65535) {
		mg_fail(m, "%s:%lu: port %.0f is outside 1..65535", m->path, y_line(port), d);
		return -1;
	}
	p = (unsigned)d;
	*ret_port = p;
	if (strcmp(h, "localhost") == 0) {
		mg_note(m, "host", host,
		        "localhost: written as 127.0.0.1 (mtastsd listens on addresses, not "
		        "names)");
		h = "127.0.0.1";
	}
	(void)fputs("\tlisten = ( ", m->res.f);
	if (inet_pton(AF_INET, h, addr) == 1) {
		(void)fprintf(m->res.f, "\"%s:%u\"", h, p);
	} else if (inet_pton(AF_INET6, h, addr) == 1) {
		(void)fprintf(m->res.f, "\"[%s]:%u\"", h, p);
	} else {
		mg_fail(m,
		        "%s:%lu: host '%s' is not an IP address: mtastsd listens on literal "
		        "addresses; write the address Postfix connects to (smtp_tls_policy_maps)",
		        m->path, host != NULL ? y_line(host) : 1ul, h);
		return -1;
	}
	(void)fprintf(m->res.f, " );\t# host: %s, port: %u\n", h, p);
	return 0;
}

/* ---- zones ---- */

/* One zone (default_zone or zones.NAME) as a resolver.zones entry. */
static void
mg_zone(struct mg *m, const char *name, const char *what, const yaml_node_t *z)
{
	int strict = 0, sni = 1, tlsrpt = 0, b;
	unsigned long long timeout = OLD_TIMEOUT_MS;
	yaml_node_pair_t *pr;
	char key[160];

	if (z != NULL && !y_is_null(z) && z->type != YAML_MAPPING_NODE) {
		mg_bad(m, what, z, "a mapping");
		z = NULL;
	}
	if (z != NULL && z->type == YAML_MAPPING_NODE) {
		for (pr = z->data.mapping.pairs.start; pr < z->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
			const char *ks = y_str(k) != NULL ? y_str(k) : "?";

			(void)snprintf(key, sizeof(key), "%s.%s", what, ks);
			if (strcmp(ks, "strict_testing") == 0) {
				if (y_bool(v, &b) == 0)
					strict = b;
				else
					mg_bad(m, key, v, "a boolean");
			} else if (strcmp(ks, "require_sni") == 0) {
				if (y_bool(v, &b) == 0)
					sni = b;
				else
					mg_bad(m, key, v, "a boolean");
			} else if (strcmp(ks, "tlsrpt") == 0) {
				if (y_bool(v, &b) == 0)
					tlsrpt = b;
				else
					mg_bad(m, key, v, "a boolean");
			} else if (strcmp(ks, "timeout") == 0) {
				long long ms = mg_seconds(m, key, v);

				if (ms >= 0)
					timeout = mg_clamp_ms(m, key, v, ms, ZONE_TIMEOUT_MIN_MS,
					                      ZONE_TIMEOUT_MAX_MS);
			} else {
				mg_unknown(m, key, k);
			}
		}
	}
	(void)fprintf(m->zones.f, "%s\t\t# %s\n\t\t{ name = ", m->n_zones > 0 ? ",\n" : "", what);
	put_cfgstr(m->zones.f, name);
	(void)fprintf(m->zones.f, "; strict_testing = %s; timeout = ", strict ? "true" : "false");
	put_ms(m->zones.f, timeout);
	(void)fprintf(m->zones.f, "; require_sni = %s; tlsrpt = %s; dane = true; }",
	              sni ? "true" : "false", tlsrpt ? "true" : "false");
	m->n_zones++;
}

/* mtastsd's zone names: letters, digits, '_', '-'; 1..64 bytes. */
static int
zone_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= ZONE_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int
zone_named(struct mg *m, const yaml_node_t *zones, const char *name)
{
	yaml_node_pair_t *pr;

	if (zones == NULL || zones->type != YAML_MAPPING_NODE)
		return 0;
	for (pr = zones->data.mapping.pairs.start; pr < zones->data.mapping.pairs.top; pr++) {
		const char *ks = y_str(y_node(m, pr->key));

		if (ks != NULL && strcmp(ks, name) == 0)
			return 1;
	}
	return 0;
}

/* 1 when a pair after pr in zones has the key name. */
static int
zone_named_after(struct mg *m, const yaml_node_pair_t *pr, const yaml_node_t *zones,
                 const char *name)
{
	const yaml_node_pair_t *q;

	for (q = pr + 1; q < zones->data.mapping.pairs.top; q++) {
		const char *ks = y_str(y_node(m, q->key));

		if (ks != NULL && strcmp(ks, name) == 0)
			return 1;
	}
	return 0;
}

/* default_zone and zones: every socketmap name of zones keeps its name; default_zone becomes
 * a zone with a name no YAML zone has, made mtastsd's default_zone, so that every other
 * name reaches it as before. */
static void
mg_zones(struct mg *m, const yaml_node_t *dz, const yaml_node_t *zones)
{
	static const char *const names[] = {OLD_DEFAULT_ZONE, "default", "default_zone",
	                                    "default-zone"};
	const char *dname = NULL;
	yaml_node_pair_t *pr;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]) && dname == NULL; i++)
		if (!zone_named(m, zones, names[i]))
			dname = names[i];
	if (dname == NULL)
		dname = "mtastsd-default";
	(void)fprintf(m->res.f,
	              "\t# default_zone answers every socketmap name that is not in zones: here "
	              "the zone \"%s\".\n"
	              "\t# dane = true is new: DNSSEC-signed MX hosts with usable TLSA records get "
	              "Postfix's dane policy\n"
	              "\t# first (RFC 8461 section 2, docs/dane.md); set dane = false for the old "
	              "daemon's MTA-STS-only replies.\n",
	              dname);
	m->default_zone = dname;
	mg_zone(m, dname, "default_zone", dz);
	if (zones != NULL && !y_is_null(zones) && zones->type != YAML_MAPPING_NODE) {
		mg_bad(m, "zones", zones, "a mapping of zone names");
		return;
	}
	if (zones == NULL || zones->type != YAML_MAPPING_NODE)
		return;
	for (pr = zones->data.mapping.pairs.start; pr < zones->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
		const char *zn = y_str(k);
		char what[128];

		if (zn == NULL || !zone_name_ok(zn)) {
			(void)fprintf(m->notes.f, "#   zones.");
			put_shown(m->notes.f, k);
			(void)fprintf(
			        m->notes.f,
			        " (line %lu): not a valid mtastsd zone name (letters, digits, "
			        "'_', '-'; at most 64): this socketmap name now gets the "
			        "default zone; rename it here and in main.cf\n",
			        y_line(k));
			mg_warn(m,
			        "%s:%lu: zone name '%s' is not valid in mtastsd (letters, digits, "
			        "'_', "
			        "'-'): not carried over; rename it in main.cf and add the zone",
			        m->path, y_line(k), zn != NULL ? zn : "?");
			continue;
		}
		if (zone_named_after(m, pr, zones, zn)) {
			mg_note(m, "zones", k,
			        "'%s' is given again below: the last one counts (as PyYAML reads "
			        "it)",
			        zn);
			continue;
		}
		(void)snprintf(what, sizeof(what), "zones.%s", zn);
		mg_zone(m, zn, what, v);
	}
}

/* ---- cache ---- */

static void
pct_decode(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hex[3] = {s[1], s[2], '\0'};

			*w++ = (char)strtoul(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* A Redis connection: what the old options say, resolved the way redis-py's from_url() and
 * aioredis 1.x's create_redis_pool() do (a db or password in the URL wins over the option). */
struct mg_redis {
	char *address;  /* "host:port", "[v6]:port" or "unix:/path"; owned */
	char *username; /* owned or NULL */
	char *password; /* owned or NULL */
	long db;        /* -1: not given */
	int tls;        /* rediss:// */
};

static void
mg_redis_free(struct mg_redis *r)
{
	free(r->address);
	free(r->username);
	free(r->password);
}

/* The query part of a URL: db=, password=, username=; others are noted. */
static void
mg_url_query(struct mg *m, const yaml_node_t *at, char *q, struct mg_redis *r)
{
	char *save = NULL, *kv;

	for (kv = strtok_r(q, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		pct_decode(eq + 1);
		if (strcmp(kv, "db") == 0) {
			r->db = strtol(eq + 1, NULL, 10);
		} else if (strcmp(kv, "password") == 0) {
			free(r->password);
			r->password = xstrdup(eq + 1);
		} else if (strcmp(kv, "username") == 0) {
			free(r->username);
			r->username = xstrdup(eq + 1);
		} else {
			mg_note(m, "cache.options URL parameter", at,
			        "'%s': no counterpart in mtastsd's Valkey client, not carried over",
			        kv);
		}
	}
}

/* redis://[[user][:password]@]host[:port][/db][?query], rediss://..., unix://[..@]/path[?query],
 * unix:/path, or a bare /path. Returns 0 or -1 (noted). */
static int
mg_redis_url(struct mg *m, const yaml_node_t *at, const char *url, struct mg_redis *r)
{
	char *u = xstrdup(url), *p, *q, *at_sign, *slash;
	int unix_sock = 0;

	/* A second url/address key replaces the first (PyYAML keeps the last). */
	free(r->address);
	free(r->username);
	free(r->password);
	r->address = r->username = r->password = NULL;
	r->db = -1;
	r->tls = 0;
	q = strchr(u, '?');
	if (q != NULL)
		*q++ = '\0';
	if (strncmp(u, "redis://", 8) == 0) {
		p = u + 8;
	} else if (strncmp(u, "rediss://", 9) == 0) {
		p = u + 9;
		r->tls = 1;
	} else if (strncmp(u, "unix://", 7) == 0) {
		p = u + 7;
		unix_sock = 1;
	} else if (strncmp(u, "unix:", 5) == 0) {
		p = u + 5;
		unix_sock = 1;
	} else if (u[0] == '/') {
		p = u;
		unix_sock = 1;
	} else {
		mg_note(m, "cache.options address", at,
		        "'%s' is not a redis://, rediss:// or unix:// URL: not carried over", url);
		free(u);
		return -1;
	}
	at_sign = strrchr(p, '@');
	if (at_sign != NULL) {
		char *colon;

		*at_sign = '\0';
		colon = strchr(p, ':');
		if (colon != NULL) {
			*colon = '\0';
			pct_decode(colon + 1);
			if (colon[1] != '\0')
				r->password = xstrdup(colon + 1);
		}
		pct_decode(p);
		if (p[0] != '\0')
			r->username = xstrdup(p);
		p = at_sign + 1;
	}
	if (unix_sock) {
		if (p[0] != '/') {
			mg_note(m, "cache.options address", at,
			        "unix socket path is not absolute: not carried over");
			free(u);
			return -1;
		}
		r->address = xasprintf("unix:%s", p);
	} else {
		const char *host = p, *port = NULL;
		char *rb;

		slash = strchr(p, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (slash[1] != '\0')
				r->db = strtol(slash + 1, NULL, 10);
		}
		if (p[0] == '[' && (rb = strchr(p, ']')) != NULL) {
			rb[1] == ':' ? (void)(port = rb + 2) : (void)0;
			rb[1] = '\0';
		} else if ((rb = strrchr(p, ':')) != NULL) {
			*rb = '\0';
			port = rb + 1;
		}
		if (host[0] == '\0')
			host = "127.0.0.1";
		r->address =
		        xasprintf("%s:%s", host, port != NULL && port[0] != '\0' ? port : "6379");
	}
	if (q != NULL)
		mg_url_query(m, at, q, r);
	free(u);
	return 0;
}

/* An address mtastsd's cache.redis takes (cfg_check_redis_address()): "unix:/path", or
 * "host:port" / "[IPv6]:port" with a host of letters, digits, '.', '-', '_' (a name or an
 * IPv4 address) and a port 1..65535. */
static int
redis_addr_ok(const char *a)
{
	const char *colon, *host = a;
	size_t hl;
	char *end;
	unsigned long port;

	if (strncmp(a, "unix:", 5) == 0) /* a host named "unix" reads as a socket path */
		return a[5] == '/' && a[6] != '\0';
	if (a[0] == '[') {
		const char *rb = strchr(a, ']');

		if (rb == NULL || rb[1] != ':')
			return 0;
		hl = (size_t)(rb - a - 1);
		host = a + 1;
		colon = rb + 1;
		if (hl == 0 || strspn(host, "0123456789abcdefABCDEF:.") < hl)
			return 0;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL)
			return 0;
		hl = (size_t)(colon - a);
		if (hl == 0 || strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                         "0123456789.-_") < hl)
			return 0;
	}
	if (!isdigit((unsigned char)colon[1]))
		return 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

/* The redis and redis_sentinel options. */
static void
mg_redis(struct mg *m, const yaml_node_t *opts, int sentinel)
{
	/* Options of redis-py / aioredis that only tune the old client's pool or encoding. */
	static const char *const pool_keys[] = {"max_connections",
	                                        "minsize",
	                                        "maxsize",
	                                        "encoding",
	                                        "decode_responses",
	                                        "socket_keepalive",
	                                        "socket_keepalive_options",
	                                        "health_check_interval",
	                                        "retry_on_timeout",
	                                        "retry_on_error",
	                                        "client_name",
	                                        "single_connection_client",
	                                        "connection_pool",
	                                        "connection_class",
	                                        "errors",
	                                        "ssl_cert_reqs",
	                                        "ssl_ca_certs",
	                                        "ssl_certfile",
	                                        "ssl_keyfile",
	                                        "ssl_check_hostname",
	                                        "parser",
	                                        "loop"};
	struct mg_redis r = {.db = -1};
	const yaml_node_t *sentinels = NULL, *url_at = NULL;
	long opt_db = -1;
	char *opt_pw = NULL, *opt_user = NULL, *master = NULL;
	long long ct = -1, st = -1;
	yaml_node_pair_t *pr;
	size_t i;

	if (opts != NULL && opts->type == YAML_MAPPING_NODE) {
		for (pr = opts->data.mapping.pairs.start; pr < opts->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
			const char *ks = y_str(k) != NULL ? y_str(k) : "?", *vs = y_str(v);
			char key[128];
			double d;
			int pool = 0;

			(void)snprintf(key, sizeof(key), "cache.options.%s", ks);
			for (i = 0; i < sizeof(pool_keys) / sizeof(pool_keys[0]); i++)
				pool |= strcmp(ks, pool_keys[i]) == 0;
			if (!sentinel && (strcmp(ks, "url") == 0 || strcmp(ks, "address") == 0)) {
				url_at = v;
				if (v != NULL && v->type == YAML_SEQUENCE_NODE &&
				    v->data.sequence.items.top - v->data.sequence.items.start ==
				            2) {
					/* aioredis 1.x: address: [host, port] */
					const char *h =
					        y_str(y_node(m, v->data.sequence.items.start[0]));
					const char *p =
					        y_str(y_node(m, v->data.sequence.items.start[1]));

					if (h != NULL && p != NULL) {
						free(r.address);
						r.address = strchr(h, ':') != NULL
						                    ? xasprintf("[%s]:%s", h, p)
						                    : xasprintf("%s:%s", h, p);
					}
				} else if (vs != NULL) {
					(void)mg_redis_url(m, v, vs, &r);
				} else {
					mg_bad(m, key, v, "a URL");
				}
			} else if (strcmp(ks, "db") == 0) {
				if (y_number(v, &d) == 0 && d >= 0 && d == y_floor(d))
					opt_db = (long)d;
				else
					mg_bad(m, key, v, "a database number");
			} else if (strcmp(ks, "password") == 0 && vs != NULL) {
				free(opt_pw);
				opt_pw = xstrdup(vs);
			} else if (strcmp(ks, "username") == 0 && vs != NULL) {
				free(opt_user);
				opt_user = xstrdup(vs);
			} else if (strcmp(ks, "socket_connect_timeout") == 0 ||
			           strcmp(ks, "timeout") == 0) {
				ct = mg_seconds(m, key, v);
			} else if (strcmp(ks, "socket_timeout") == 0) {
				st = mg_seconds(m, key, v);
			} else if (sentinel && strcmp(ks, "sentinel_master_name") == 0 &&
			           vs != NULL) {
				free(master);
				master = xstrdup(vs);
			} else if (sentinel && strcmp(ks, "sentinels") == 0) {
				sentinels = v;
			} else if (strcmp(ks, "ssl") == 0) {
				int b = 0;

				if (y_bool(v, &b) == 0 && b)
					r.tls = 1;
			} else if (pool) {
				mg_note(m, key, k,
				        "tunes the old client's connection pool or encoding: "
				        "mtastsd "
				        "keeps one connection, not carried over");
			} else {
				mg_unknown(m, key, k);
			}
		}
	}
	if (!sentinel && r.address != NULL && !redis_addr_ok(r.address)) {
		(void)fprintf(m->notes.f, "#   cache.options.url (line %lu): address '",
		              url_at != NULL ? y_line(url_at) : 1ul);
		put_shown_str(m->notes.f, r.address);
		(void)fputs("' is not host:port, [IPv6]:port or a unix socket: the memory cache is "
		            "used\n",
		            m->notes.f);
		mg_warn(m,
		        "%s: cache: the Redis address is not host:port or a unix socket: using "
		        "the memory cache",
		        m->path);
		(void)fputs("\tbackend = \"memory\";\t# cache.type: redis, address not usable (see "
		            "the notes)\n",
		            m->cache.f);
		goto out;
	}
	if (r.tls) {
		mg_note(m, "cache (rediss:// or ssl)", url_at,
		        "TLS to Valkey/Redis is not supported by mtastsd's client (hiredis 0.14): "
		        "the memory cache is used; put Valkey on loopback or a unix socket and set "
		        "cache.redis");
		mg_warn(m, "%s: Redis over TLS cannot be carried over: using the memory cache",
		        m->path);
		(void)fputs(
		        "\tbackend = \"memory\";\t# cache.type: redis over TLS (see the notes)\n",
		        m->cache.f);
		goto out;
	}
	(void)fprintf(m->cache.f, "\tbackend = \"redis\";\t# cache.type: %s\n",
	              sentinel ? "redis_sentinel" : "redis");
	(void)fputs("\tredis = {\n", m->cache.f);
	if (!sentinel) {
		if (r.address == NULL) {
			mg_note(m, "cache.options.url", opts,
			        "not set: redis-py's default, 127.0.0.1:6379");
			r.address = xstrdup("127.0.0.1:"
			                    "6379");
		}
		(void)fputs("\t\taddress = ", m->cache.f);
		put_cfgstr(m->cache.f, r.address);
		(void)fputs(";\n", m->cache.f);
	} else {
		size_t n = 0;

		(void)fputs("\t\tsentinels = [ ", m->cache.f);
		if (sentinels != NULL && sentinels->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;

			for (it = sentinels->data.sequence.items.start;
			     it < sentinels->data.sequence.items.top; it++) {
				const yaml_node_t *s = y_node(m, *it);
				const char *h, *p;

				if (s == NULL || s->type != YAML_SEQUENCE_NODE ||
				    s->data.sequence.items.top - s->data.sequence.items.start != 2)
					continue;
				h = y_str(y_node(m, s->data.sequence.items.start[0]));
				p = y_str(y_node(m, s->data.sequence.items.start[1]));
				char *sa;

				if (h == NULL || p == NULL)
					continue;
				sa = strchr(h, ':') != NULL ? xasprintf("[%s]:%s", h, p)
				                            : xasprintf("%s:%s", h, p);
				if (!redis_addr_ok(sa)) {
					mg_warn(m,
					        "%s:%lu: sentinel is not host and port: not "
					        "carried over",
					        m->path, y_line(s));
					free(sa);
					continue;
				}
				(void)fprintf(m->cache.f, "%s\"%s\"", n > 0 ? ", " : "", sa);
				free(sa);
				n++;
			}
		}
		(void)fputs(" ];\n", m->cache.f);
		if (n == 0)
			mg_warn(m, "%s: cache.options.sentinels has no [host, port] entry",
			        m->path);
		(void)fputs("\t\tmaster_name = ", m->cache.f);
		put_cfgstr(m->cache.f, master != NULL ? master : "mymaster");
		(void)fputs(";\n", m->cache.f);
	}
	/* A db or password in the URL wins over the option (redis-py from_url()). */
	if (r.db >= 0 && opt_db >= 0 && r.db != opt_db)
		mg_warn(m,
		        "%s: cache.options: the URL says db %ld, the db option %ld: the URL wins "
		        "(as in redis-py)",
		        m->path, r.db, opt_db);
	if (r.db < 0)
		r.db = opt_db;
	if (r.db > REDIS_DB_MAX) {
		mg_warn(m, "%s: cache: db %ld is above mtastsd's maximum %d: using 0", m->path,
		        r.db, REDIS_DB_MAX);
		r.db = 0;
	}
	if (r.db > 0)
		(void)fprintf(m->cache.f, "\t\tdb = %ld;\n", r.db);
	if (r.password == NULL && opt_pw != NULL)
		r.password = xstrdup(opt_pw);
	if (r.username == NULL && opt_user != NULL)
		r.username = xstrdup(opt_user);
	if (r.username != NULL) {
		(void)fputs("\t\tusername = ", m->cache.f);
		put_cfgstr(m->cache.f, r.username);
		(void)fputs(";\n", m->cache.f);
	}
	if (r.password != NULL) {
		(void)fputs("\t\tpassword = ", m->cache.f);
		put_cfgstr(m->cache.f, r.password);
		(void)fputs(";\n", m->cache.f);
	}
	if (ct >= 0) {
		(void)fputs("\t\tconnect_timeout = ", m->cache.f);
		put_ms(m->cache.f, mg_clamp_ms(m, "cache.options.socket_connect_timeout", opts, ct,
		                               REDIS_TIMEOUT_MIN_MS, REDIS_TIMEOUT_MAX_MS));
		(void)fputs(";\n", m->cache.f);
	}
	if (st >= 0) {
		(void)fputs("\t\tcommand_timeout = ", m->cache.f);
		put_ms(m->cache.f, mg_clamp_ms(m, "cache.options.socket_timeout", opts, st,
		                               REDIS_TIMEOUT_MIN_MS, REDIS_TIMEOUT_MAX_MS));
		(void)fputs(";\t# socket_timeout; a slower reply counts as a miss\n", m->cache.f);
	}
	(void)fputs("\t\t# mtastsd's keys have their own prefix (mtastsd:v1:sts:<domain>); the "
	            "old daemon's\n"
	            "\t\t# keys (bare domain names, and _metadata) are not read: drop them after "
	            "the switch.\n"
	            "\t};\n",
	            m->cache.f);
out:
	mg_redis_free(&r);
	free(opt_pw);
	free(opt_user);
	free(master);
}

static void
mg_cache(struct mg *m, const yaml_node_t *c)
{
	const yaml_node_t *type = NULL, *opts = NULL;
	const char *ts = "internal";
	double entries = 0;
	yaml_node_pair_t *pr;

	if (c != NULL && !y_is_null(c) && c->type != YAML_MAPPING_NODE) {
		mg_bad(m, "cache", c, "a mapping");
		c = NULL;
	}
	if (c != NULL && c->type == YAML_MAPPING_NODE) {
		for (pr = c->data.mapping.pairs.start; pr < c->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
			const char *ks = y_str(k) != NULL ? y_str(k) : "?";
			char key[128];

			if (strcmp(ks, "type") == 0) {
				type = v;
			} else if (strcmp(ks, "options") == 0) {
				opts = v;
			} else {
				(void)snprintf(key, sizeof(key), "cache.%s", ks);
				mg_unknown(m, key, k);
			}
		}
	}
	if (type != NULL && y_str(type) != NULL)
		ts = y_str(type);
	if (opts != NULL && !y_is_null(opts) && opts->type != YAML_MAPPING_NODE) {
		mg_bad(m, "cache.options", opts, "a mapping");
		opts = NULL;
	}
	if (strcmp(ts, "redis") == 0 || strcmp(ts, "redis_sentinel") == 0) {
		mg_redis(m, opts, strcmp(ts, "redis_sentinel") == 0);
		return;
	}
	(void)fputs("\tbackend = \"memory\";\t# cache.type: ", m->cache.f);
	put_shown_str(m->cache.f, ts);
	(void)fputc('\n', m->cache.f);
	if (strcmp(ts, "sqlite") == 0) {
		mg_note(m, "cache.type: sqlite", type,
		        "mtastsd keeps its memory cache in its own SQLite state database, "
		        "<process.state_directory>/state.db (default /var/lib/mtastsd), so cached "
		        "policies survive a restart as before; the old file is not read (other "
		        "schema): delete it after the switch");
	} else if (strcmp(ts, "postgres") == 0) {
		mg_note(m, "cache.type: postgres", type,
		        "mtastsd has no PostgreSQL cache: the memory cache with its state database "
		        "is used; for a cache shared between hosts use Valkey/Redis (cache.redis)");
		mg_warn(m, "%s: cache type postgres has no counterpart: using the memory cache",
		        m->path);
	} else if (strcmp(ts, "internal") != 0) {
		mg_note(m, "cache.type", type,
		        "'%s' is not a postfix-mta-sts-resolver cache type: "
		        "the memory cache is used",
		        ts);
		mg_warn(m, "%s: unknown cache type '%s': using the memory cache", m->path, ts);
	}
	if (opts == NULL || opts->type != YAML_MAPPING_NODE)
		return;
	for (pr = opts->data.mapping.pairs.start; pr < opts->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
		const char *ks = y_str(k) != NULL ? y_str(k) : "?";
		char key[128];
		double d;

		(void)snprintf(key, sizeof(key), "cache.options.%s", ks);
		if (strcmp(ts, "internal") == 0 && strcmp(ks, "cache_size") == 0) {
			if (y_number(v, &d) < 0 || d < 1 || d != y_floor(d)) {
				mg_bad(m, key, v, "a positive integer");
				continue;
			}
			if (d > MAX_ENTRIES_MAX) {
				mg_note(m, key, v, "above mtastsd's maximum: %d", MAX_ENTRIES_MAX);
				d = MAX_ENTRIES_MAX;
			}
			entries = d; /* a key given twice: the last counts, as in PyYAML */
		} else if (strcmp(ts, "sqlite") == 0 &&
		           (strcmp(ks, "filename") == 0 || strcmp(ks, "threads") == 0 ||
		            strcmp(ks, "timeout") == 0)) {
			if (strcmp(ks, "filename") == 0) {
				(void)fprintf(m->notes.f, "#   %s (line %lu): ", key, y_line(k));
				put_shown(m->notes.f, v);
				(void)fputs(": not read by mtastsd (see cache.type)\n", m->notes.f);
			} else {
				mg_note(m, key, k, "the old SQLite pool's setting: no counterpart");
			}
		} else if (strcmp(ts, "postgres") == 0 && strcmp(ks, "dsn") == 0) {
			mg_note(m, key, k, "not used (see cache.type)");
		} else if (strcmp(ts, "internal") != 0 && strcmp(ts, "sqlite") != 0 &&
		           strcmp(ts, "postgres") != 0) {
			mg_note(m, key, k, "option of an unknown cache type: not carried over");
		} else {
			mg_unknown(m, key, k);
		}
	}
	if (entries > 0)
		(void)fprintf(m->cache.f, "\tmax_entries = %.0f;\t# cache.options.cache_size\n",
		              entries);
}

/* proactive_policy_fetching: mtastsd always refreshes; concurrency_limit is the bound of
 * its background jobs. */
static void
mg_proactive(struct mg *m, const yaml_node_t *p)
{
	yaml_node_pair_t *pr;
	int enabled = 0, b;
	const yaml_node_t *conc = NULL;
	double d;

	if (p == NULL || y_is_null(p))
		return;
	if (p->type != YAML_MAPPING_NODE) {
		mg_bad(m, "proactive_policy_fetching", p, "a mapping");
		return;
	}
	for (pr = p->data.mapping.pairs.start; pr < p->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = y_node(m, pr->key), *v = y_node(m, pr->value);
		const char *ks = y_str(k) != NULL ? y_str(k) : "?";
		char key[128];

		(void)snprintf(key, sizeof(key), "proactive_policy_fetching.%s", ks);
		if (strcmp(ks, "enabled") == 0) {
			if (y_bool(v, &b) == 0)
				enabled = b;
			else
				mg_bad(m, key, v, "a boolean");
		} else if (strcmp(ks, "concurrency_limit") == 0) {
			conc = v;
		} else if (strcmp(ks, "interval") == 0 || strcmp(ks, "grace_ratio") == 0) {
			mg_note(m, key, k,
			        "no counterpart: mtastsd refreshes each cached policy before its "
			        "max_age ends (resolver.refresh_before, default 1d) and re-checks "
			        "busy "
			        "domains' TXT ids in the background (resolver.recheck_interval)");
		} else {
			mg_unknown(m, key, k);
		}
	}
	if (!enabled) {
		mg_note(m, "proactive_policy_fetching.enabled", p,
		        "false: mtastsd refreshes cached policies in the background anyway "
		        "(resolver.refresh_before); there is no switch");
		return;
	}
	if (conc == NULL)
		return;
	if (y_number(conc, &d) < 0 || d < 1 || d != y_floor(d)) {
		mg_bad(m, "proactive_policy_fetching.concurrency_limit", conc,
		       "a positive integer");
		return;
	}
	if (d > REFRESH_CONC_MAX) {
		mg_note(m, "proactive_policy_fetching.concurrency_limit", conc,
		        "above mtastsd's maximum: %d", REFRESH_CONC_MAX);
		d = REFRESH_CONC_MAX;
	}
	(void)fprintf(
	        m->res.f,
	        "\trefresh_concurrency = %.0f;\t# proactive_policy_fetching.concurrency_limit\n",
	        d);
}

/* ---- the file ---- */

/* Read path (a regular file, at most max bytes) into an owned buffer. Returns 0 or -errno /
 * -EFBIG / -EINVAL (not a regular file). */
static int
read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		return -EINVAL;
	}
	buf = xmalloc(max + 1);
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(buf);
			(void)close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			free(buf);
			(void)close(fd);
			return -EFBIG;
		}
	}
	(void)close(fd);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static const char *
read_error(int r)
{
	return r == -EFBIG ? "too large" : r == -EINVAL ? "not a regular file" : strerror(-r);
}

static struct migrate_out *
out_new(char *text, struct mg *m)
{
	struct migrate_out *o = xcalloc(1, sizeof(*o));

	o->text = text;
	if (m != NULL) {
		o->warnings = m->warnings;
		o->n_warnings = m->n_warnings;
		m->warnings = NULL;
		m->n_warnings = 0;
	}
	return o;
}

static void
mg_free(struct mg *m)
{
	struct mg_buf *bufs[] = {&m->notes, &m->unknown, &m->proc, &m->res, &m->zones, &m->cache};
	size_t i;

	for (i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		free(mg_buf_take(bufs[i]));
	for (i = 0; i < m->n_warnings; i++)
		free(m->warnings[i]);
	free(m->warnings);
	free(m->err);
}

/* Whether the flow collections of the YAML text nest deeper than
 * MIGRATE_YAML_FLOW_DEPTH_MAX; *ret_line: the line where they do. A cheap look before
 * libyaml (see the limit's comment), not a YAML reader: quoted scalars and comments are
 * skipped roughly (a '[' inside them can only make a pathological file fail sooner). */
static int
mg_flow_too_deep(const char *s, size_t len, size_t *ret_line)
{
	size_t i, line = 1;
	int depth = 0;
	char quote = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\n')
			line++;
		if (quote != 0) {
			if (c == quote)
				quote = 0;
			else if (c == '\\' && quote == '"' && i + 1 < len)
				i++;
			continue;
		}
		if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '#' &&
		           (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n')) {
			while (i + 1 < len && s[i + 1] != '\n')
				i++;
		} else if (c == '[' || c == '{') {
			if (++depth > MIGRATE_YAML_FLOW_DEPTH_MAX) {
				*ret_line = line;
				return 1;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int
migrate_resolver(const char *path, struct migrate_out **ret_out, char *errbuf, size_t errlen)
{
	static const char *const top_keys[] = {"host",
	                                       "port",
	                                       "path",
	                                       "mode",
	                                       "reuse_port",
	                                       "cache_grace",
	                                       "shutdown_timeout",
	                                       "cache",
	                                       "proactive_policy_fetching",
	                                       "default_zone",
	                                       "zones"};
	const yaml_node_t *top[sizeof(top_keys) / sizeof(top_keys[0])] = {0};
	yaml_parser_t parser;
	yaml_node_t *root;
	yaml_node_pair_t *pr;
	struct mg m = {.path = path};
	char *buf = NULL, *notes, *unknown, *proc, *res, *zones, *cache, *shown_path;
	size_t len, i;
	unsigned port = 0;
	int r, b;
	long long ms;
	FILE *f;
	char *text = NULL;
	size_t text_len = 0;

	*ret_out = NULL;
	r = read_file(path, MIGRATE_YAML_MAX, &buf, &len);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "%s: cannot read: %s", path, read_error(r));
		return ERR_CONFIG;
	}
	if (mg_flow_too_deep(buf, len, &i)) {
		(void)snprintf(
		        errbuf, errlen,
		        "%s:%zu: flow collections ([ ] or { }) nested deeper than %d levels: "
		        "not a postfix-mta-sts-resolver configuration",
		        path, i, MIGRATE_YAML_FLOW_DEPTH_MAX);
		free(buf);
		return ERR_CONFIG;
	}
	if (mg_yaml_load(errbuf, errlen) < 0) {
		free(buf);
		return ERR_CONFIG;
	}
	if (!ym.yaml_parser_initialize(&parser))
		abort();
	ym.yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!ym.yaml_parser_load(&parser, &m.doc)) {
		const yaml_mark_t *mk = parser.context != NULL && parser.problem_mark.index == 0
		                                ? &parser.context_mark
		                                : &parser.problem_mark;

		char ctx[160] = "";

		if (parser.context != NULL && (parser.context_mark.line != mk->line ||
		                               parser.context_mark.column != mk->column))
			(void)snprintf(ctx, sizeof(ctx), " %s (which starts at %lu:%lu)",
			               parser.context, (unsigned long)parser.context_mark.line + 1,
			               (unsigned long)parser.context_mark.column + 1);
		else if (parser.context != NULL)
			(void)snprintf(ctx, sizeof(ctx), " %s", parser.context);
		(void)snprintf(errbuf, errlen, "%s:%lu:%lu: YAML syntax error: %s%s", path,
		               (unsigned long)mk->line + 1, (unsigned long)mk->column + 1,
		               parser.problem != NULL ? parser.problem : "cannot parse", ctx);
		ym.yaml_parser_delete(&parser);
		free(buf);
		return ERR_CONFIG;
	}
	ym.yaml_parser_delete(&parser);
	free(buf);
	mg_buf_open(&m.notes);
	mg_buf_open(&m.unknown);
	mg_buf_open(&m.proc);
	mg_buf_open(&m.res);
	mg_buf_open(&m.zones);
	mg_buf_open(&m.cache);

	root = ym.yaml_document_get_root_node(&m.doc);
	if (root != NULL && !y_is_null(root) && root->type != YAML_MAPPING_NODE) {
		mg_fail(&m,
		        "%s:%lu: the file is not a YAML mapping (postfix-mta-sts-resolver's "
		        "configuration is one)",
		        path, y_line(root));
		goto fail;
	}
	if (root != NULL && root->type == YAML_MAPPING_NODE) {
		for (pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = y_node(&m, pr->key);
			const char *ks = y_str(k) != NULL ? y_str(k) : "?";
			int known = 0;

			for (i = 0; i < sizeof(top_keys) / sizeof(top_keys[0]); i++)
				if (strcmp(ks, top_keys[i]) == 0) {
					top[i] = y_node(&m, pr->value);
					known = 1;
				}
			if (!known)
				mg_unknown(&m, ks, k);
		}
	}
	/* process */
	ms = OLD_SHUTDOWN_MS;
	if (top[6] != NULL && !y_is_null(top[6])) {
		ms = mg_seconds(&m, "shutdown_timeout", top[6]);
		if (ms >= 0)
			ms = (long long)mg_clamp_ms(&m, "shutdown_timeout", top[6], ms, 0,
			                            SHUTDOWN_MAX_MS);
		else
			ms = OLD_SHUTDOWN_MS;
	}
	(void)fputs("\tshutdown_timeout = ", m.proc.f);
	put_ms(m.proc.f, (unsigned long long)ms);
	(void)fprintf(m.proc.f, ";\t# shutdown_timeout%s\n",
	              top[6] == NULL ? " (the old default, 20 s)" : "");
	/* resolver */
	if (mg_listen(&m, top[0], top[1], top[2], top[3], &port) < 0)
		goto fail;
	if (top[4] != NULL) {
		if (y_bool(top[4], &b) == 0 && !b)
			mg_note(&m, "reuse_port", top[4], "false: nothing to carry over");
		else
			mg_note(&m, "reuse_port", top[4],
			        "mtastsd is one process and binds without SO_REUSEPORT: stop "
			        "mta-sts-daemon before mtastsd takes the same address and port");
	}
	if (top[5] != NULL) {
		ms = mg_seconds(&m, "cache_grace", top[5]);
		if (ms >= 0) {
			(void)fputs("\trecheck_interval = ", m.res.f);
			put_ms(m.res.f, mg_clamp_ms(&m, "cache_grace", top[5], ms, RECHECK_MIN_MS,
			                            RECHECK_MAX_MS));
			(void)fputs(
			        ";\t# cache_grace: a cached policy's TXT id is re-checked after "
			        "this long (mtastsd's default is 1h)\n",
			        m.res.f);
		}
	}
	mg_proactive(&m, top[8]);
	mg_zones(&m, top[9], top[10]);
	/* cache */
	mg_cache(&m, top[7]);
	if (m.err != NULL)
		goto fail;

	notes = mg_buf_take(&m.notes);
	unknown = mg_buf_take(&m.unknown);
	proc = mg_buf_take(&m.proc);
	res = mg_buf_take(&m.res);
	zones = mg_buf_take(&m.zones);
	cache = mg_buf_take(&m.cache);
	shown_path = one_line(xstrdup(path));
	f = open_memstream(&text, &text_len);
	if (f == NULL)
		abort();
	(void)fprintf(
	        f,
	        "# mtastsd.conf, made by `mtastsd migrate resolver` from %s\n"
	        "# (postfix-mta-sts-resolver). Postfix keeps its smtp_tls_policy_maps: the "
	        "same listener,\n"
	        "# the same socketmap names. Check it: mtastsd -n -c /etc/mtastsd/mtastsd.conf\n",
	        shown_path);
	if (notes[0] != '\0')
		(void)fprintf(f, "#\n# Not carried over as written, and why:\n%s", notes);
	if (unknown[0] != '\0')
		(void)fprintf(f,
		              "#\n# Unknown keys (postfix-mta-sts-resolver does not read them; not "
		              "carried over):\n%s",
		              unknown);
	(void)fprintf(f,
	              "\nprocess = {\n%s"
	              "\t# The unit (mtastsd.service) runs mtastsd as its own user; started as "
	              "root by another\n"
	              "\t# init system, set user = \"mtastsd\" here (docs/config.md).\n"
	              "};\n\nresolver = {\n%s\tzones = (\n%s\n\t);\n",
	              proc, res, zones);
	(void)fprintf(f, "\tdefault_zone = \"%s\";\n", m.default_zone);
	(void)fprintf(f, "};\n\ncache = {\n%s};\n", cache);
	if (port == ADMIN_DEFAULT_PORT)
		(void)fprintf(f,
		              "\n# The socketmap has the admin endpoint's default port: the admin "
		              "endpoint moves.\nadmin = { listen = \"127.0.0.1:%u\"; };\n",
		              ADMIN_DEFAULT_PORT + 1);
	(void)fclose(f);
	free(shown_path);
	free(notes);
	free(unknown);
	free(proc);
	free(res);
	free(zones);
	free(cache);
	*ret_out = out_new(text, &m);
	ym.yaml_document_delete(&m.doc);
	mg_free(&m);
	return 0;
fail:
	(void)snprintf(errbuf, errlen, "%s", m.err != NULL ? one_line(m.err) : "migration failed");
	ym.yaml_document_delete(&m.doc);
	mg_free(&m);
	return ERR_CONFIG;
}

/* ---- publisher ---- */

int
migrate_publisher(const char *domain, const char *policy_path, const char *cert, const char *key,
                  struct migrate_out **ret_out, char *errbuf, size_t errlen)
{
	struct sts_parse_error perr = {0};
	struct sts_policy *p = NULL;
	struct cfg_domain d = {0};
	struct cfg cfg = {0};
	struct pub_dns_records *rec;
	struct mg m = {.path = policy_path};
	char dom[DOMAIN_BUF], *buf = NULL, *certp, *keyp, *text = NULL, *shown;
	size_t len, i, text_len = 0;
	FILE *f;
	int r;

	*ret_out = NULL;
	r = domain_normalize(domain, dom);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "'%s' is not a domain name: %s", domain, err_str(r));
		return ERR_CONFIG;
	}
	if (strncmp(dom, "mta-sts.", 8) == 0) {
		(void)snprintf(errbuf, errlen,
		               "'%s' is the policy host: give the Policy Domain ('%s')", dom,
		               dom + 8);
		return ERR_CONFIG;
	}
	r = read_file(policy_path, STS_POLICY_BODY_MAX, &buf, &len);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "%s: cannot read: %s", policy_path,
		               r == -EFBIG ? "larger than a policy may be (64 KiB, RFC 8461 "
		                             "section 3.3)"
		                           : read_error(r));
		return ERR_CONFIG;
	}
	r = sts_policy_parse(buf, len, &p, &perr);
	free(buf);
	if (r < 0) {
		if (perr.line > 0)
			(void)snprintf(errbuf, errlen, "%s:%u: %s", policy_path, perr.line,
			               perr.reason);
		else
			(void)snprintf(errbuf, errlen, "%s: %s", policy_path,
			               perr.reason[0] != '\0' ? perr.reason : err_str(r));
		return r;
	}
	if (p->max_age_s < PUB_MAX_AGE_MIN || p->n_mx > PUB_MX_MAX) {
		(void)snprintf(errbuf, errlen,
		               p->n_mx > PUB_MX_MAX
		                       ? "%s: %zu mx patterns: mtastsd publishes at most 64"
		                       : "%s: max_age %zu is below 60 seconds, the least mtastsd "
		                         "publishes (publisher.domains[].max_age)",
		               policy_path, p->n_mx > PUB_MX_MAX ? p->n_mx : (size_t)p->max_age_s);
		(void)sts_policy_free(p);
		return ERR_CONFIG;
	}
	shown = one_line(xstrdup(policy_path));
	certp = cert != NULL ? xstrdup(cert) : xasprintf(MIGRATE_CERT_FMT, dom);
	keyp = key != NULL ? xstrdup(key) : xasprintf(MIGRATE_KEY_FMT, dom);
	m.warnings = NULL;

	f = open_memstream(&text, &text_len);
	if (f == NULL)
		abort();
	(void)fprintf(f,
	              "# The publisher group for %s, made by `mtastsd migrate publisher` from "
	              "%s.\n"
	              "# More domains: one { ... } entry each in the same domains list.\n",
	              dom, shown);
	if (p->n_ext > 0 || p->n_mx_dropped > 0 || p->tolerated != 0) {
		(void)fputs("# Not carried over from the file:\n", f);
		for (i = 0; i < p->n_ext; i++) {
			(void)fprintf(f,
			              "#   extension field '%s': mtastsd serves the standard "
			              "fields only\n",
			              p->ext[i].name);
			mg_warn(&m, "%s: extension field '%s' is not published by mtastsd",
			        policy_path, p->ext[i].name);
		}
		if (p->n_mx_dropped > 0) {
			(void)fprintf(f,
			              "#   %u mx line(s) with an IP address: no certificate can "
			              "match one (RFC 8461 section 4.1)\n",
			              (unsigned)p->n_mx_dropped);
			mg_warn(&m, "%s: %u mx line(s) with an IP address dropped", policy_path,
			        (unsigned)p->n_mx_dropped);
		}
		if (p->tolerated & (STS_TOLERATED_COMMENT | STS_TOLERATED_BLANK_LINE |
		                    STS_TOLERATED_CR | STS_TOLERATED_BOM))
			(void)fputs(
			        "#   comments, blank lines, CR or a BOM: mtastsd serves the policy "
			        "in canonical form\n",
			        f);
	}
	(void)fprintf(f,
	              "publisher = {\n\tdomains = (\n\t\t{\n\t\t\tdomain = \"%s\";\n"
	              "\t\t\tmode = \"%s\";\n\t\t\tmax_age = %u;\n\t\t\tmx = [ ",
	              dom, sts_mode_name(p->mode), (unsigned)p->max_age_s);
	for (i = 0; i < p->n_mx; i++) {
		(void)fputs(i > 0 ? ", " : "", f);
		put_cfgstr(f, p->mx[i]);
	}
	(void)fputs(" ];\n\t\t\tcert = ", f);
	put_cfgstr(f, certp);
	(void)fputs(";\n\t\t\tkey = ", f);
	put_cfgstr(f, keyp);
	(void)fputs(";\n\t\t}\n\t);\n", f);
	/* nginx served <webroot>/.well-known/mta-sts.txt: certbot's --webroot renewals used the
	 * same directory, which mtastsd can serve on port 80 (docs/publisher.md). */
	len = strlen(policy_path);
	if (policy_path[0] == '/' && len > strlen(MIGRATE_POLICY_SUFFIX) &&
	    strcmp(policy_path + len - strlen(MIGRATE_POLICY_SUFFIX), MIGRATE_POLICY_SUFFIX) == 0) {
		(void)fprintf(f,
		              "\t# For certbot --webroot renewals through mtastsd's port 80 "
		              "(docs/migrating.md):\n\t# acme_webroot = \"%.*s\";\n",
		              (int)(len - strlen(MIGRATE_POLICY_SUFFIX)), shown);
	}
	(void)fputs("};\n", f);

	/* The TXT record, from the publisher's own code. */
	d.domain = dom;
	d.policy = *p;
	d.cert_file = certp;
	d.key_file = keyp;
	cfg.publisher.n_domains = 1;
	cfg.publisher.domains = &d;
	rec = pub_dns_records(&cfg);
	(void)fprintf(
	        f,
	        "\n# The _mta-sts TXT record mtastsd publishes for this policy (`mtastsd "
	        "dns-records`):\n"
	        "#   %s %u IN TXT \"%s\"\n"
	        "# Its id replaces the one in DNS now (a timestamp, usually): mtastsd derives "
	        "it from the\n"
	        "# policy text, so it changes only when the policy does. A new id is "
	        "harmless: a sender\n"
	        "# that cached the policy sees the new id, fetches the policy once more and "
	        "gets the same\n"
	        "# mode, max_age and mx (RFC 8461 section 3.3 and 5.1). Publish the record "
	        "once mtastsd\n"
	        "# serves the policy; %s must point to this host.\n",
	        rec->domains[0].sts_owner, (unsigned)rec->ttl_s, rec->domains[0].sts_text,
	        rec->domains[0].policy_host);
	(void)pub_dns_records_free(rec);
	(void)fclose(f);
	free(certp);
	free(keyp);
	free(shown);
	(void)sts_policy_free(p);
	*ret_out = out_new(text, &m);
	return 0;
}

struct migrate_out *
migrate_out_free(struct migrate_out *o)
{
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < o->n_warnings; i++)
		free(o->warnings[i]);
	free(o->warnings);
	free(o->text);
	free(o);
	return NULL;
}
