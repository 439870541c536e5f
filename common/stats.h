/*
 * common/stats.h - the metrics registry: counters and gauges declared once by the module
 *                  that owns them, rendered as JSON (/status), Prometheus text (/metrics)
 *                  and read by the status page (docs/architecture.md, "Metrics")
 *
 * A module describes its numbers in one static table of struct stats_metric (name, type,
 * help, labels, JSON path, where the values are), one entry per Prometheus family, and
 * registers the table with the object that holds the values: stats_add(st, table, n,
 * obj). The readers walk every registered metric in registration order: stats_json(),
 * stats_prometheus(), stats_get(), stats_foreach(). Nothing else names a metric (the
 * Knot DNS pattern, docs/style.md section 13).
 *
 * A metric's samples: one value (at obj + off, or get(obj)); n fields, each a label value
 * with its own value; a vector of n values uint64_t[n] at obj + off labelled label_of(i);
 * or any number, from each(), which calls stats_emit() once per sample.
 *
 * JSON. json is where the values go below the object given to stats_json(), keys
 * separated by '.' ("cache.hits"); objects on the way are created where missing, and
 * values are added in registration order. With one value, json is its path. Otherwise it
 * names an object ("" the top one): fields go under their own json key (none: not shown),
 * vector and each() samples under their first label's value ("replies" -> {"ok": 2,
 * "notfound": 3, ...}). A metric without name is in JSON only; without json in
 * Prometheus only.
 *
 * Interface: stats_new(), stats_free(), stats_add(), stats_clear(), stats_emit(),
 *            stats_json(), stats_prometheus(), stats_get(), stats_foreach()
 * Threads:   one registry is used by one thread; the values are read when a walker runs
 *            (STATS_ATOMIC values, get() and each() may be written by other threads).
 * Ownership: the registry borrows the tables (static) and the registered objects until
 *            stats_clear() or stats_free(); their owner keeps them alive that long.
 * Errors:    none; allocation failure dies (xalloc, json-c failures are treated the same).
 *            Write errors on the Prometheus stream are left in the stream (ferror()).
 */
#ifndef MTASTSD_STATS_H
#define MTASTSD_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;
struct stats;
struct stats_emit;

enum stats_type {
	STATS_COUNTER, /* only goes up; Prometheus name ends in _total */
	STATS_GAUGE,   /* goes up and down */
};

/* Flags of a metric. */
#define STATS_JSON_BOOL 0x1u /* /status shows true (non-zero) or false, not a number */
#define STATS_ATOMIC    0x2u /* values at offsets are atomic_ulong (written by other threads) */

/* One labelled sample of a metric with fields. */
struct stats_field {
	const char *label;                /* value of the metric's label ("hit") */
	const char *json;                 /* key in the metric's JSON object, NULL: none */
	size_t off;                       /* the value at obj + off ... */
	uint64_t (*get)(const void *obj); /* ... or computed */
};

/* One metric (a Prometheus family) and where its samples are. */
struct stats_metric {
	const char *name;     /* "mtastsd_cache_hits_total"; NULL: in JSON only */
	enum stats_type type; /* STATS_COUNTER or STATS_GAUGE */
	const char *help;     /* HELP text, one line */
	const char *json;     /* JSON path ("cache.hits", "" the top); NULL: not in JSON */
	const char *label;    /* name of the (first) label, NULL: one unlabelled sample */
	const char *label2;   /* name of the second label (each() only), NULL: none */
	const char *label3;   /* name of the third label (each() with stats_emit3()), NULL */
	unsigned flags;       /* STATS_JSON_BOOL, STATS_ATOMIC */
	/* The samples, one of: */
	size_t off;                        /* one: the uint64_t at obj + off, or get(obj) */
	uint64_t (*get)(const void *obj);  /* (vector: the first of uint64_t[n] at obj + off) */
	const struct stats_field *fields;  /* n labelled samples, each with its own value */
	const char *(*label_of)(size_t i); /* a vector of n samples labelled label_of(i) */
	size_t n;
	void (*each)(const void *obj, struct stats_emit *e); /* any: stats_emit() each */
};

/* The number of elements of a table or field array. */
#define STATS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An empty registry. Owned: free with stats_free(). */
struct stats *stats_new(void);
/* Returns NULL; stats_free(NULL) does nothing. */
struct stats *stats_free(struct stats *st);
/* Register the n metrics of table for obj, after those registered before. obj may be
 * NULL (a module that is not there): every value reads 0 (get() is not called) and each()
 * gives no sample; HELP and TYPE are still written. */
void stats_add(struct stats *st, const struct stats_metric *table, size_t n, const void *obj);
/* Forget every registration (the tables and objects are not touched). */
void stats_clear(struct stats *st);

/* Inside each(): one sample, labelled value (label) and value2 (label2, NULL without).
 * The strings are copied or escaped at once; they need to live only during the call. */
void stats_emit(struct stats_emit *e, const char *value, const char *value2, uint64_t v);
/* stats_emit() with a third label value (label3). */
void stats_emit3(struct stats_emit *e, const char *value, const char *value2, const char *value3,
                 uint64_t v);

/* Add every sample that has a JSON path to the object obj (json_type_object). */
void stats_json(const struct stats *st, struct json_object *obj);
/* Write the text exposition format 0.0.4 of every metric that has a name (HELP, TYPE,
 * samples; label values and HELP escaped) to out. */
void stats_prometheus(const struct stats *st, FILE *out);
/* The value at JSON path, or when path names an object the sum of every sample below
 * it. Returns 0 and *ret, or -ENOENT when nothing is there (*ret untouched). */
int stats_get(const struct stats *st, const char *path, uint64_t *ret);
/* Call fn for every sample directly inside the object at JSON path, in order, with its
 * key (borrowed for the call) and value. */
void stats_foreach(const struct stats *st, const char *path,
                   void (*fn)(const char *key, uint64_t v, void *arg), void *arg);

#endif
