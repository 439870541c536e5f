/*
 * common/internal/cfg_int.h - the config loader's insides, shared by its parts (private)
 *
 * Parts:     cfg.c          the key tables, cfg_load(), the cross-key checks, restart keys
 *            cfg_engine.c   the table walkers: defaults, parsing, freeing, comparing; the
 *                           error text ("file:line: key: reason")
 *            cfg_value.c    one value: strings, integers, durations, paths, and the checks
 *                           of string values named in the tables
 *            cfg_listen.c   listen addresses, and the check that no two listeners clash
 *            cfg_libconfig.c  libconfig 1.5 workarounds: the pre-read of the file text and
 *                           the translation of libconfig's own errors
 * Threads:   any; no global state.
 * Errors:    functions taking a struct cfg_ctx return 0, or -1 with ctx->errbuf set by
 *            cfg_error(): "file:line: key: reason", the key being the full dotted path.
 * Not installed: private to common/ (its PRIVATE include directory: no other target can
 *            include it).
 */
#ifndef MTASTSD_CFG_INT_H
#define MTASTSD_CFG_INT_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* Bound of our own on listen lists in the file (no RFC behind it). */
#define CFG_LISTEN_MAX 16
/* Key paths in error messages are cut at this many bytes, NUL included. */
#define CFG_KEY_PATH_MAX 256

/* Durations in milliseconds. */
#define SEC(x)  ((uint64_t)(x)*1000)
#define MIN(x)  ((uint64_t)(x)*60 * 1000)
#define HOUR(x) ((uint64_t)(x)*3600 * 1000)
#define DAY(x)  ((uint64_t)(x)*86400 * 1000)

enum cfg_kind {
	CFG_K_BOOL,      /* int, true/false */
	CFG_K_UINT,      /* unsigned */
	CFG_K_SIZE,      /* size_t */
	CFG_K_MS,        /* duration -> uint64_t milliseconds */
	CFG_K_SEC32,     /* duration in whole seconds -> uint32_t seconds (min/max in ms) */
	CFG_K_STR,       /* char *, "" = unset (NULL) */
	CFG_K_PATH,      /* char *, made absolute against the config file's directory */
	CFG_K_ENUM,      /* int, index into names[] */
	CFG_K_STRLIST,   /* char ** + size_t count at off_n */
	CFG_K_LISTENS,   /* struct cfg_listen * + size_t count at off_n */
	CFG_K_LISTEN,    /* one struct cfg_listen */
	CFG_K_GROUP,     /* sub-table, same base */
	CFG_K_GROUPLIST, /* list of groups: array of elsize at off, count at off_n */
};

enum {
	CFG_F_REQUIRED = 1u << 0, /* must be present */
	CFG_F_READABLE = 1u << 1, /* CFG_K_PATH: a file we can read */
	CFG_F_DIR = 1u << 2,      /* CFG_K_PATH: a directory */
	CFG_F_ACME = 1u << 4,     /* CFG_K_PATH: the word "acme" is kept as it is (no file; the
	                           * ACME client makes it, cfg.c resolves it) */
	CFG_F_RESTART = 1u << 3,  /* a reload does not apply it (cfg_restart_changes()); not on
	                           * CFG_K_GROUP or CFG_K_GROUPLIST keys */
};

struct cfg_ctx;

/* Extra check of one string value (a whole string or one list item). 0 or -1 (error set). */
typedef int cfg_check_fn(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                         const char *value);

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t off_n;
	uint64_t def, min, max; /* max is also the list length bound for lists */
	const char *sdef;       /* string default; for listen lists, space-separated */
	unsigned flags;
	const struct cfg_key *sub;
	size_t elsize;
	const struct cfg_enum *names;
	cfg_check_fn *check;
};

struct cfg_ctx {
	const char *file;
	char *dir; /* directory of file, for relative paths */
	char *errbuf;
	size_t errlen;
	struct cfg *cfg; /* the config being built: where its path keys are written goes here */
};

/* Where a path key is written, kept for the checks made after loading (cfg_key_error()). */
struct cfg_where {
	char *key; /* "publisher.domains[0].cert" */
	char *at;  /* "file:line", or "file" when libconfig gives no line */
};

/* Field access by offset. */
#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

/* ---- cfg_engine.c ---- */

int cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* "expected <want>, got <the setting's type>" */
int cfg_type_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                   const char *want);
/* out (CFG_KEY_PATH_MAX bytes) = "parent.name", or "name" when parent is "". */
void cfg_join(char *out, const char *parent, const char *name);
/* out (CFG_KEY_PATH_MAX bytes) = "parent[i]". */
void cfg_index(char *out, const char *parent, size_t i);
/* The member name of parent, NULL when either is absent. */
const config_setting_t *cfg_lookup(const config_setting_t *parent, const char *name);

void cfg_table_defaults(const struct cfg_key *tab, void *base);
void cfg_table_free(const struct cfg_key *tab, void *base);
/* Parse group g (at key, "" for the root) into base by tab: unknown keys, wrong types,
 * out-of-range values and missing required keys are errors. */
int cfg_parse_group(struct cfg_ctx *ctx, const config_setting_t *g, const char *key,
                    const struct cfg_key *tab, void *base);
/* Calls fn with the dotted name of each CFG_F_RESTART key of tab (under parent, "" at the
 * root; K_GROUP sub-tables included) whose value differs between a and b. Returns the
 * count. */
size_t cfg_table_restart_changes(const struct cfg_key *tab, const char *parent, const void *a,
                                 const void *b, cfg_key_fn *fn, void *arg);
void cfg_where_free(struct cfg *c);
/* 1 when a and b are both NULL or the same string. */
int cfg_str_same(const char *a, const char *b);

/* ---- cfg_value.c ---- */

int cfg_parse_string(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                     const char **ret);
int cfg_parse_uint(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                   const struct cfg_key *k, uint64_t *ret);
/* An integer (seconds) or a string with a unit, within k->min..k->max ms. */
int cfg_parse_duration(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                       const struct cfg_key *k, uint64_t *ret_ms);
/* A path, made absolute against ctx->dir; "" is NULL. Owned in *ret. */
int cfg_parse_path(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                   const struct cfg_key *k, char **ret);
/* A decimal port 1..65535, the whole of s. 0 or -1. */
int cfg_parse_port(const char *s, uint16_t *ret_port);

cfg_check_fn cfg_check_name;          /* a user or group name */
cfg_check_fn cfg_check_zone_name;     /* letters, digits, '_' and '-' */
cfg_check_fn cfg_check_id;            /* RFC 8461 section 3.1 policy id */
cfg_check_fn cfg_check_rua;           /* RFC 8460 section 3 rua URIs */
cfg_check_fn cfg_check_dns_server;    /* "IP", "IP@port", "[IPv6]:port" */
cfg_check_fn cfg_check_hostport;      /* "host:port", "[IPv6]:port" */
cfg_check_fn cfg_check_redis_address; /* a host:port or "unix:/path" */
cfg_check_fn cfg_check_redis_prefix;  /* at most CACHE_REDIS_PREFIX_MAX bytes */
cfg_check_fn cfg_check_priority;      /* a GnuTLS priority string, TLS 1.2/1.3 only */
cfg_check_fn cfg_check_admin_host;    /* a host name or an IP address, no port */
cfg_check_fn cfg_check_max_age;       /* a policy max_age as a duration text ("7d") */
/* A policy max_age as duration text ("7d", "86400s"): whole seconds, 60..STS_MAX_AGE_MAX.
 * 0 with *ret_s, or -1 with why set. */
int cfg_max_age_from_text(const char *v, uint32_t *ret_s, const char **why);

/* ---- cfg_listen.c ---- */

void cfg_listen_clear(struct cfg_listen *l);
/* A built-in default ("127.0.0.1:8462"; for lists, space-separated); die()s when bad. */
void cfg_listen_default(const char *sdef, struct cfg_listen *l);
void cfg_listens_default(const char *sdef, struct cfg_listen **ret, size_t *ret_n);
/* One listener: a string "host:port" / "unix:/path" or a group { path; mode; owner; group }. */
int cfg_parse_listen_one(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                         struct cfg_listen *l);
/* A list of listeners (or one), duplicates refused; replaces the list of k in base. */
int cfg_parse_listens(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                      const struct cfg_key *k, void *base);
/* 1 when a and b listen on the same thing, as written (address or path, mode, owner, group). */
int cfg_listen_same(const struct cfg_listen *a, const struct cfg_listen *b);
/* A non-loopback admin listener without a token is refused. */
int cfg_finish_admin(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root);
/* No two listeners of the process may bind the same place. */
int cfg_finish_listeners(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root);

/* ---- cfg_libconfig.c ---- */

/* Read path into conf (config_init() done by the caller) with its @include files looked
 * up in dir, after the pre-read has refused what libconfig 1.5 would get wrong. Returns 0,
 * or -1 with "file:line: reason" (or "file: reason") in errbuf. */
int cfg_libconfig_read(config_t *conf, const char *path, const char *dir, char *errbuf,
                       size_t errlen);

#endif
