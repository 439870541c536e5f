/*
 * common/cfg_engine.c - the config loader's table walkers: defaults, parsing, freeing
 *
 * Interface: cfg_table_defaults(), cfg_parse_group(), cfg_table_free(),
 *            cfg_table_restart_changes(), cfg_error() and the key path helpers (cfg_int.h);
 *            cfg_key_error() (cfg.h)
 * Design:    one struct cfg_key per key (name, kind, offset, default, minimum, maximum,
 *            flags; Postfix CONFIG_*_TABLE) drives everything here; cfg_value.c parses the
 *            single values, cfg_listen.c the listeners. A path key records where it is
 *            written (struct cfg_where) so that checks made after loading can name file:line.
 * Threads:   any; no global state.
 * Ownership: the walkers fill and free what base points to; tables are static.
 * Errors:    0, or -1 with "file:line: key: reason" in ctx->errbuf (cfg_error()).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_int.h"
#include "err.h"
#include "xalloc.h"

/* ---- errors ---- */

int
cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *fmt, ...)
{
	const char *file = ctx->file;
	char reason[512];
	va_list ap;
	unsigned line = 0;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		line = config_setting_source_line(s);
		if (config_setting_source_file(s) != NULL)
			file = config_setting_source_file(s);
	}
	if (line > 0)
		(void)snprintf(ctx->errbuf, ctx->errlen, "%s:%u: %s: %s", file, line, key, reason);
	else
		(void)snprintf(ctx->errbuf, ctx->errlen, "%s: %s: %s", file, key, reason);
	return -1;
}

static const char *
cfg_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "an unknown type";
	}
}

int
cfg_type_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *want)
{
	return cfg_error(ctx, s, key, "expected %s, got %s", want, cfg_type_name(s));
}

/* Key paths are cut at CFG_KEY_PATH_MAX - 1 bytes (only in error messages). */
void
cfg_join(char *out, const char *parent, const char *name)
{
	int n;

	if (parent[0] == '\0')
		n = snprintf(out, CFG_KEY_PATH_MAX, "%s", name);
	else
		n = snprintf(out, CFG_KEY_PATH_MAX, "%s.%s", parent, name);
	if (n < 0)
		out[0] = '\0';
}

void
cfg_index(char *out, const char *parent, size_t i)
{
	int n = snprintf(out, CFG_KEY_PATH_MAX, "%s[%zu]", parent, i);

	if (n < 0)
		out[0] = '\0';
}

/* ---- where path keys are written ---- */

/* "file:line" of s, as cfg_error() names it; "file" when libconfig gives no line. Owned. */
static char *
cfg_where_text(const struct cfg_ctx *ctx, const config_setting_t *s)
{
	const char *file = ctx->file;
	unsigned line = config_setting_source_line(s);

	if (config_setting_source_file(s) != NULL)
		file = config_setting_source_file(s);
	return line > 0 ? xasprintf("%s:%u", file, line) : xstrdup(file);
}

static void
cfg_where_add(struct cfg_ctx *ctx, const config_setting_t *s, const char *key)
{
	struct cfg *c = ctx->cfg;
	struct cfg_where *w;

	if (c == NULL)
		return;
	c->where = xrealloc(c->where, (c->n_where + 1) * sizeof(*c->where));
	w = &c->where[c->n_where++];
	w->key = xstrdup(key);
	w->at = cfg_where_text(ctx, s);
}

void
cfg_where_free(struct cfg *c)
{
	size_t i;

	for (i = 0; i < c->n_where; i++) {
		free(c->where[i].key);
		free(c->where[i].at);
	}
	free(c->where);
	c->where = NULL;
	c->n_where = 0;
}

int
cfg_key_error(const struct cfg *c, const char *key, char *errbuf, size_t errlen, const char *fmt,
              ...)
{
	const char *at = c->path != NULL ? c->path : "(embedded defaults)";
	char reason[512];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	for (i = 0; i < c->n_where; i++) {
		if (strcmp(c->where[i].key, key) == 0) {
			at = c->where[i].at;
			break;
		}
	}
	(void)snprintf(errbuf, errlen, "%s: %s: %s", at, key, reason);
	return ERR_CONFIG;
}

/* ---- freeing, by table ---- */

static void
cfg_strlist_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
cfg_key_free(const struct cfg_key *k, void *base)
{
	size_t i, n;

	switch (k->kind) {
	case CFG_K_STR:
	case CFG_K_PATH: {
		char **p = FIELD(base, k->off, char *);

		free(*p);
		*p = NULL;
		break;
	}
	case CFG_K_STRLIST: {
		char ***p = FIELD(base, k->off, char **);
		size_t *np = FIELD(base, k->off_n, size_t);

		cfg_strlist_free(*p, *np);
		*p = NULL;
		*np = 0;
		break;
	}
	case CFG_K_LISTENS: {
		struct cfg_listen **p = FIELD(base, k->off, struct cfg_listen *);
		size_t *np = FIELD(base, k->off_n, size_t);

		for (i = 0; i < *np; i++)
			cfg_listen_clear(&(*p)[i]);
		free(*p);
		*p = NULL;
		*np = 0;
		break;
	}
	case CFG_K_LISTEN:
		cfg_listen_clear(FIELD(base, k->off, struct cfg_listen));
		break;
	case CFG_K_GROUP:
		cfg_table_free(k->sub, base);
		break;
	case CFG_K_GROUPLIST: {
		char **p = FIELD(base, k->off, char *);
		size_t *np = FIELD(base, k->off_n, size_t);

		n = *np;
		for (i = 0; i < n; i++)
			cfg_table_free(k->sub, *p + i * k->elsize);
		free(*p);
		*p = NULL;
		*np = 0;
		break;
	}
	default:
		break;
	}
}

void
cfg_table_free(const struct cfg_key *tab, void *base)
{
	const struct cfg_key *k;

	for (k = tab; k->name != NULL; k++)
		cfg_key_free(k, base);
}

/* ---- defaults, by table ---- */

static void
cfg_key_default(const struct cfg_key *k, void *base)
{
	switch (k->kind) {
	case CFG_K_BOOL:
	case CFG_K_ENUM:
		*FIELD(base, k->off, int) = (int)k->def;
		break;
	case CFG_K_UINT:
		*FIELD(base, k->off, unsigned) = (unsigned)k->def;
		break;
	case CFG_K_SIZE:
		*FIELD(base, k->off, size_t) = (size_t)k->def;
		break;
	case CFG_K_MS:
		*FIELD(base, k->off, uint64_t) = k->def;
		break;
	case CFG_K_SEC32:
		*FIELD(base, k->off, uint32_t) = (uint32_t)(k->def / 1000);
		break;
	case CFG_K_STR:
	case CFG_K_PATH:
		*FIELD(base, k->off, char *) = k->sdef != NULL ? xstrdup(k->sdef) : NULL;
		break;
	case CFG_K_LISTENS:
		cfg_listens_default(k->sdef, FIELD(base, k->off, struct cfg_listen *),
		                    FIELD(base, k->off_n, size_t));
		break;
	case CFG_K_LISTEN:
		cfg_listen_default(k->sdef, FIELD(base, k->off, struct cfg_listen));
		break;
	case CFG_K_GROUP:
		cfg_table_defaults(k->sub, base);
		break;
	case CFG_K_STRLIST:
	case CFG_K_GROUPLIST:
		break;
	}
}

void
cfg_table_defaults(const struct cfg_key *tab, void *base)
{
	const struct cfg_key *k;

	for (k = tab; k->name != NULL; k++)
		cfg_key_default(k, base);
}

/* ---- parsing, by table ---- */

static int
cfg_parse_strlist(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                  const struct cfg_key *k, void *base)
{
	char ***p = FIELD(base, k->off, char **);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	char **v = NULL;
	size_t i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		n = 1;
	} else if (config_setting_is_array(s) || config_setting_is_list(s)) {
		n = (size_t)config_setting_length(s);
	} else {
		return cfg_type_error(ctx, s, key, "a list of strings [\"...\", ...]");
	}
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const config_setting_t *e = n == 1 && config_setting_type(s) == CONFIG_TYPE_STRING
		                                    ? s
		                                    : config_setting_get_elem(s, (unsigned)i);
		const char *str = "";

		if (e == s)
			(void)snprintf(sub, sizeof(sub), "%s", key);
		else
			cfg_index(sub, key, i);
		if (cfg_parse_string(ctx, e, sub, &str) < 0)
			goto fail;
		if (str[0] == '\0') {
			cfg_error(ctx, e, sub, "empty string");
			goto fail;
		}
		if (k->check != NULL && k->check(ctx, e, sub, str) < 0)
			goto fail;
		v[i] = xstrdup(str);
	}
	cfg_strlist_free(*p, *np);
	*p = v;
	*np = n;
	return 0;
fail:
	cfg_strlist_free(v, n);
	return -1;
}

static int
cfg_parse_grouplist(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                    const struct cfg_key *k, void *base)
{
	char **p = FIELD(base, k->off, char *);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	size_t i, j, n;
	char *v;

	if (!config_setting_is_list(s))
		return cfg_type_error(ctx, s, key, "a list of groups ( { ... }, { ... } )");
	n = (size_t)config_setting_length(s);
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, k->elsize);
	for (i = 0; i < n; i++) {
		cfg_index(sub, key, i);
		cfg_table_defaults(k->sub, v + i * k->elsize);
		if (cfg_parse_group(ctx, config_setting_get_elem(s, (unsigned)i), sub, k->sub,
		                    v + i * k->elsize) < 0) {
			i++;
			goto fail;
		}
	}
	for (j = 0; j < *np; j++)
		cfg_table_free(k->sub, *p + j * k->elsize);
	free(*p);
	*p = v;
	*np = n;
	return 0;
fail:
	for (j = 0; j < i; j++)
		cfg_table_free(k->sub, v + j * k->elsize);
	free(v);
	return -1;
}

static int
cfg_parse_key(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
              const struct cfg_key *k, void *base)
{
	const char *str = "";
	uint64_t u;
	size_t i;

	switch (k->kind) {
	case CFG_K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return cfg_type_error(ctx, s, key, "a boolean (true or false)");
		*FIELD(base, k->off, int) = config_setting_get_bool(s) ? 1 : 0;
		return 0;
	case CFG_K_UINT:
		if (cfg_parse_uint(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, unsigned) = (unsigned)u;
		return 0;
	case CFG_K_SIZE:
		if (cfg_parse_uint(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, size_t) = (size_t)u;
		return 0;
	case CFG_K_MS:
		return cfg_parse_duration(ctx, s, key, k, FIELD(base, k->off, uint64_t));
	case CFG_K_SEC32:
		if (cfg_parse_duration(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, uint32_t) = (uint32_t)(u / 1000);
		return 0;
	case CFG_K_STR: {
		char **dst = FIELD(base, k->off, char *);

		if (cfg_parse_string(ctx, s, key, &str) < 0)
			return -1;
		if (str[0] == '\0' && (k->sdef != NULL || (k->flags & CFG_F_REQUIRED)))
			return cfg_error(ctx, s, key, "must not be empty");
		if (k->check != NULL && k->check(ctx, s, key, str) < 0)
			return -1;
		free(*dst);
		*dst = str[0] != '\0' ? xstrdup(str) : NULL;
		return 0;
	}
	case CFG_K_PATH: {
		char **dst = FIELD(base, k->off, char *);
		char *p = NULL;

		if (cfg_parse_path(ctx, s, key, k, &p) < 0)
			return -1;
		free(*dst);
		*dst = p;
		cfg_where_add(ctx, s, key);
		return 0;
	}
	case CFG_K_ENUM: {
		size_t len = 0;
		char list[128];

		if (cfg_parse_string(ctx, s, key, &str) < 0)
			return -1;
		for (i = 0; k->names[i].name != NULL; i++) {
			if (strcmp(str, k->names[i].name) == 0) {
				*FIELD(base, k->off, int) = k->names[i].value;
				return 0;
			}
		}
		list[0] = '\0';
		for (i = 0; k->names[i].name != NULL && len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
			                        i ? ", " : "", k->names[i].name);
		return cfg_error(ctx, s, key, "bad value '%s': expected one of %s", str, list);
	}
	case CFG_K_STRLIST:
		return cfg_parse_strlist(ctx, s, key, k, base);
	case CFG_K_LISTENS:
		return cfg_parse_listens(ctx, s, key, k, base);
	case CFG_K_LISTEN: {
		struct cfg_listen l, *dst = FIELD(base, k->off, struct cfg_listen);

		if (cfg_parse_listen_one(ctx, s, key, &l) < 0)
			return -1;
		cfg_listen_clear(dst);
		*dst = l;
		return 0;
	}
	case CFG_K_GROUP:
		return cfg_parse_group(ctx, s, key, k->sub, base);
	case CFG_K_GROUPLIST:
		return cfg_parse_grouplist(ctx, s, key, k, base);
	}
	return -1;
}

int
cfg_parse_group(struct cfg_ctx *ctx, const config_setting_t *g, const char *key,
                const struct cfg_key *tab, void *base)
{
	char sub[CFG_KEY_PATH_MAX];
	const struct cfg_key *k;
	unsigned i, n;

	if (!config_setting_is_group(g))
		return cfg_type_error(ctx, g, key[0] ? key : "(root)", "a group { ... }");
	n = (unsigned)config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);

		cfg_join(sub, key, name);
		for (k = tab; k->name != NULL; k++) {
			if (strcmp(k->name, name) == 0)
				break;
		}
		if (k->name == NULL)
			return cfg_error(ctx, m, sub, "unknown key");
		if (cfg_parse_key(ctx, m, sub, k, base) < 0)
			return -1;
	}
	for (k = tab; k->name != NULL; k++) {
		if ((k->flags & CFG_F_REQUIRED) && config_setting_get_member(g, k->name) == NULL) {
			cfg_join(sub, key, k->name);
			return cfg_error(ctx, g, sub, "missing required key");
		}
	}
	return 0;
}

/* ---- comparing, by table: the restart-only keys ---- */

int
cfg_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* 1 when key k holds the same value in a and b (K_GROUP and K_GROUPLIST: not compared). */
static int
cfg_key_same(const struct cfg_key *k, const void *a, const void *b)
{
	size_t i, na, nb;

	switch (k->kind) {
	case CFG_K_BOOL:
	case CFG_K_ENUM:
		return *FIELD(a, k->off, const int) == *FIELD(b, k->off, const int);
	case CFG_K_UINT:
		return *FIELD(a, k->off, const unsigned) == *FIELD(b, k->off, const unsigned);
	case CFG_K_SIZE:
		return *FIELD(a, k->off, const size_t) == *FIELD(b, k->off, const size_t);
	case CFG_K_MS:
		return *FIELD(a, k->off, const uint64_t) == *FIELD(b, k->off, const uint64_t);
	case CFG_K_SEC32:
		return *FIELD(a, k->off, const uint32_t) == *FIELD(b, k->off, const uint32_t);
	case CFG_K_STR:
	case CFG_K_PATH:
		return cfg_str_same(*FIELD(a, k->off, char *const), *FIELD(b, k->off, char *const));
	case CFG_K_STRLIST: {
		char **va = *FIELD(a, k->off, char **const), **vb = *FIELD(b, k->off, char **const);

		na = *FIELD(a, k->off_n, const size_t);
		nb = *FIELD(b, k->off_n, const size_t);
		for (i = 0; na == nb && i < na; i++)
			if (strcmp(va[i], vb[i]) != 0)
				return 0;
		return na == nb;
	}
	case CFG_K_LISTENS: {
		const struct cfg_listen *la = *FIELD(a, k->off, struct cfg_listen *const);
		const struct cfg_listen *lb = *FIELD(b, k->off, struct cfg_listen *const);

		na = *FIELD(a, k->off_n, const size_t);
		nb = *FIELD(b, k->off_n, const size_t);
		for (i = 0; na == nb && i < na; i++)
			if (!cfg_listen_same(&la[i], &lb[i]))
				return 0;
		return na == nb;
	}
	case CFG_K_LISTEN:
		return cfg_listen_same(FIELD(a, k->off, const struct cfg_listen),
		                       FIELD(b, k->off, const struct cfg_listen));
	case CFG_K_GROUP:
	case CFG_K_GROUPLIST:
		break;
	}
	return 1;
}

size_t
cfg_table_restart_changes(const struct cfg_key *tab, const char *parent, const void *a,
                          const void *b, cfg_key_fn *fn, void *arg)
{
	char key[CFG_KEY_PATH_MAX];
	const struct cfg_key *k;
	size_t n = 0;

	for (k = tab; k->name != NULL; k++) {
		cfg_join(key, parent, k->name);
		if (k->kind == CFG_K_GROUP) {
			n += cfg_table_restart_changes(k->sub, key, a, b, fn, arg);
		} else if ((k->flags & CFG_F_RESTART) && !cfg_key_same(k, a, b)) {
			fn(key, arg);
			n++;
		}
	}
	return n;
}

/* ---- libconfig settings ---- */

const config_setting_t *
cfg_lookup(const config_setting_t *parent, const char *name)
{
	return parent != NULL ? config_setting_get_member(parent, name) : NULL;
}
