/*
 * common/stats.c - the metrics registry and its walkers (JSON, Prometheus, lookups)
 *
 * Interface: stats_new(), stats_free(), stats_add(), stats_clear(), stats_emit(),
 *            stats_json(), stats_prometheus(), stats_get(), stats_foreach() (stats.h)
 * Threads:   the caller's; no state outside the registry.
 * Ownership: the registry owns its array of registrations; tables and objects are borrowed.
 * Errors:    none; allocation failure dies (xalloc).
 *
 * Every reader is a callback given to stats_samples() (through stats_walk()), which turns
 * each metric (one value, fields, vector or each()) into samples: the registry has one
 * notion of "a sample" and where it sits in JSON.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "xalloc.h"

struct stats_reg {
	const struct stats_metric *table;
	size_t n;
	const void *obj;
};

struct stats {
	struct stats_reg *regs;
	size_t n_regs, cap;
};

/* One sample, as every reader sees it. */
struct stats_sample {
	const struct stats_metric *m;
	const char *value, *value2; /* label values (NULL without) */
	const char *value3;         /* the third label's value (label3), NULL without */
	const char *path;           /* in JSON: the key key of the object at path[0..path_len) */
	size_t path_len;
	const char *key; /* NULL: not in JSON */
	uint64_t v;
};

typedef void stats_sample_fn(const struct stats_sample *s, void *arg);

struct stats_emit {
	struct stats_sample s;
	stats_sample_fn *fn;
	void *arg;
};

struct stats *
stats_new(void)
{
	return xcalloc(1, sizeof(struct stats));
}

struct stats *
stats_free(struct stats *st)
{
	if (st == NULL)
		return NULL;
	free(st->regs);
	free(st);
	return NULL;
}

void
stats_add(struct stats *st, const struct stats_metric *table, size_t n, const void *obj)
{
	if (st->n_regs == st->cap) {
		st->cap = st->cap == 0 ? 8 : st->cap * 2;
		st->regs = xrealloc(st->regs, st->cap * sizeof(*st->regs));
	}
	st->regs[st->n_regs++] = (struct stats_reg){.table = table, .n = n, .obj = obj};
}

void
stats_clear(struct stats *st)
{
	st->n_regs = 0;
}

void
stats_emit(struct stats_emit *e, const char *value, const char *value2, uint64_t v)
{
	stats_emit3(e, value, value2, NULL, v);
}

void
stats_emit3(struct stats_emit *e, const char *value, const char *value2, const char *value3,
            uint64_t v)
{
	e->s.value = value;
	e->s.value2 = value2;
	e->s.value3 = value3;
	e->s.key = e->s.m->json != NULL ? (value != NULL ? value : "") : NULL;
	e->s.v = v;
	e->fn(&e->s, e->arg);
}

/* The value of a sample: get(obj), or the uint64_t (or atomic_ulong) at obj + off; 0
 * without obj. */
static uint64_t
stats_value(const struct stats_metric *m, const void *obj, size_t off,
            uint64_t (*get)(const void *obj))
{
	const void *p;

	if (obj == NULL)
		return 0;
	if (get != NULL)
		return get(obj);
	p = (const char *)obj + off;
	if (m->flags & STATS_ATOMIC)
		return atomic_load((const atomic_ulong *)p);
	return *(const uint64_t *)p;
}

/* The samples of metric m, in order. */
static void
stats_samples(const struct stats_metric *m, const void *obj, stats_sample_fn *fn, void *arg)
{
	struct stats_emit e = {.s = {.m = m, .path = m->json}, .fn = fn, .arg = arg};
	const char *dot;
	size_t i;

	e.s.path_len = m->json != NULL ? strlen(m->json) : 0;
	if (m->each != NULL) {
		if (obj != NULL)
			m->each(obj, &e);
	} else if (m->fields != NULL) {
		for (i = 0; i < m->n; i++) {
			const struct stats_field *f = &m->fields[i];

			e.s.value = f->label;
			e.s.key = m->json != NULL ? f->json : NULL;
			e.s.v = stats_value(m, obj, f->off, f->get);
			fn(&e.s, arg);
		}
	} else if (m->label_of != NULL) {
		for (i = 0; i < m->n; i++)
			stats_emit(&e, m->label_of(i), NULL,
			           stats_value(m, obj, m->off + i * sizeof(uint64_t), NULL));
	} else {
		/* one value: json is its path, the key its last part */
		dot = m->json != NULL ? strrchr(m->json, '.') : NULL;
		e.s.path_len = dot != NULL ? (size_t)(dot - m->json) : 0;
		e.s.key = dot != NULL ? dot + 1 : m->json;
		e.s.v = stats_value(m, obj, m->off, m->get);
		fn(&e.s, arg);
	}
}

/* Every sample of every metric, in registration order: those with a name (prom set), or
 * those in JSON (prom not set). */
static void
stats_walk(const struct stats *st, int prom, stats_sample_fn *fn, void *arg)
{
	size_t r, i;

	for (r = 0; r < st->n_regs; r++) {
		for (i = 0; i < st->regs[r].n; i++) {
			const struct stats_metric *m = &st->regs[r].table[i];

			if ((prom ? m->name : m->json) != NULL)
				stats_samples(m, st->regs[r].obj, fn, arg);
		}
	}
}

/* ---- where a sample sits in the JSON document ---- */

/* 1 when the object of sample s is path itself (below 0) or lies below path (below 1). */
static int
stats_in(const struct stats_sample *s, const char *path, int below)
{
	size_t n = strlen(path);

	if (n == 0)
		return below || s->path_len == 0;
	if (s->path_len < n || memcmp(s->path, path, n) != 0)
		return 0;
	return s->path_len == n || (below && s->path[n] == '.');
}

/* 1 when sample s is the one at path. */
static int
stats_is(const struct stats_sample *s, const char *path)
{
	size_t n = s->path_len;

	if (n == 0)
		return strcmp(path, s->key) == 0;
	return strncmp(path, s->path, n) == 0 && path[n] == '.' &&
	       strcmp(path + n + 1, s->key) == 0;
}

/* ---- JSON ---- */

/* The object at path[0..len) below o, created where missing. */
static struct json_object *
stats_json_object(struct json_object *o, const char *path, size_t len)
{
	struct json_object *child;
	const char *dot;
	char *key;
	size_t klen;

	while (len > 0) {
		dot = memchr(path, '.', len);
		klen = dot != NULL ? (size_t)(dot - path) : len;
		key = xstrndup(path, klen);
		if (!json_object_object_get_ex(o, key, &child) ||
		    !json_object_is_type(child, json_type_object)) {
			child = json_object_new_object();
			if (child == NULL || json_object_object_add(o, key, child) != 0)
				die("stats: json-c: out of memory");
		}
		free(key);
		o = child;
		path += klen;
		len -= klen;
		if (len > 0) {
			path++;
			len--;
		}
	}
	return o;
}

static void
stats_json_sample(const struct stats_sample *s, void *arg)
{
	struct json_object *o, *j;

	if (s->key == NULL)
		return;
	o = stats_json_object(arg, s->path, s->path_len);
	if (s->m->flags & STATS_JSON_BOOL)
		j = json_object_new_boolean(s->v != 0);
	else
		j = json_object_new_int64(s->v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)s->v);
	if (j == NULL || json_object_object_add(o, s->key, j) != 0)
		die("stats: json-c: out of memory");
}

void
stats_json(const struct stats *st, struct json_object *obj)
{
	stats_walk(st, 0, stats_json_sample, obj);
}

/* ---- Prometheus text exposition 0.0.4 ---- */

/* s with backslash and newline escaped, and double quote too when quote is set (a label
 * value; HELP text leaves it alone). */
static void
stats_prom_escape(FILE *f, const char *s, int quote)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\' || (quote && *s == '"'))
			(void)fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			(void)fputs("\\n", f);
		else
			(void)fputc(*s, f);
	}
}

static void
stats_prom_label(FILE *f, const char *sep, const char *name, const char *value)
{
	(void)fprintf(f, "%s%s=\"", sep, name);
	stats_prom_escape(f, value, 1);
	(void)fputc('"', f);
}

static void
stats_prom_sample(const struct stats_sample *s, void *arg)
{
	const struct stats_metric *m = s->m;
	FILE *f = arg;

	(void)fputs(m->name, f);
	if (m->label != NULL) {
		stats_prom_label(f, "{", m->label, s->value);
		if (m->label2 != NULL)
			stats_prom_label(f, ",", m->label2, s->value2);
		if (m->label3 != NULL)
			stats_prom_label(f, ",", m->label3, s->value3 != NULL ? s->value3 : "");
		(void)fputc('}', f);
	}
	(void)fprintf(f, " %llu\n", (unsigned long long)s->v);
}

void
stats_prometheus(const struct stats *st, FILE *out)
{
	size_t r, i;

	for (r = 0; r < st->n_regs; r++) {
		for (i = 0; i < st->regs[r].n; i++) {
			const struct stats_metric *m = &st->regs[r].table[i];

			if (m->name == NULL)
				continue;
			(void)fprintf(out, "# HELP %s ", m->name);
			stats_prom_escape(out, m->help, 0);
			(void)fprintf(out, "\n# TYPE %s %s\n", m->name,
			              m->type == STATS_COUNTER ? "counter" : "gauge");
			stats_samples(m, st->regs[r].obj, stats_prom_sample, out);
		}
	}
}

/* ---- lookups ---- */

struct stats_find {
	const char *path;
	int found;
	uint64_t sum;
	void (*fn)(const char *key, uint64_t v, void *arg);
	void *arg;
};

static void
stats_get_sample(const struct stats_sample *s, void *arg)
{
	struct stats_find *q = arg;

	if (s->key != NULL && (stats_is(s, q->path) || stats_in(s, q->path, 1))) {
		q->found = 1;
		q->sum += s->v;
	}
}

int
stats_get(const struct stats *st, const char *path, uint64_t *ret)
{
	struct stats_find q = {.path = path};

	stats_walk(st, 0, stats_get_sample, &q);
	if (!q.found)
		return -ENOENT;
	*ret = q.sum;
	return 0;
}

static void
stats_foreach_sample(const struct stats_sample *s, void *arg)
{
	struct stats_find *q = arg;

	if (s->key != NULL && stats_in(s, q->path, 0))
		q->fn(s->key, s->v, q->arg);
}

void
stats_foreach(const struct stats *st, const char *path,
              void (*fn)(const char *key, uint64_t v, void *arg), void *arg)
{
	struct stats_find q = {.path = path, .fn = fn, .arg = arg};

	stats_walk(st, 0, stats_foreach_sample, &q);
}
