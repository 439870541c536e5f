/*
 * tests/unit/common/test_stats.c - the metrics registry and its walkers
 *
 * Covers: registration order across tables; the Prometheus text of counters and gauges,
 * with and without labels, vectors, each() with two labels; escaping of label values and HELP; JSON
 * paths (nesting, objects keyed by label values, booleans, the int64 clamp, keys json-c escapes,
 * filling an object that already has keys); rows that are JSON or Prometheus only; a NULL object
 * (zeros, no each() sample); stats_get() (exact, sums, missing) and stats_foreach();
 * stats_clear(); fields (label values other than their JSON keys, computed, not in JSON);
 * atomic counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "stats.h"

/* The counters of a made-up module. */
struct ctr {
	uint64_t requests;
	uint64_t replies[3];
	uint64_t hits, misses;
	uint64_t hidden; /* JSON only */
	uint64_t open;   /* gauge */
};

static const char *
reply_label(size_t i)
{
	static const char *const names[] = {"ok", "notfound", "temp"};

	return names[i];
}

static uint64_t
ctr_up(const void *obj)
{
	return ((const struct ctr *)obj)->open > 0;
}

/* Two samples with two labels; the domain needs escaping. */
static void
ctr_each(const void *obj, struct stats_emit *e)
{
	stats_emit(e, "a.example", "enforce", 1);
	stats_emit(e, "we\\ird\"\n.example", "testing", 2);
}

#define CTR(f) offsetof(struct ctr, f)

static uint64_t
ctr_total(const void *obj)
{
	const struct ctr *c = obj;

	return c->hits + c->misses;
}

/* Label values differ from JSON keys; a computed sample not in JSON. */
static const struct stats_field ctr_cache[] = {
        {"hit", "hits", .off = CTR(hits)},
        {"miss", "misses", .off = CTR(misses)},
        {"all", NULL, .get = ctr_total},
};

static const struct stats_metric ctr_stats[] = {
        {"t_requests_total", STATS_COUNTER, "Requests.", .json = "requests", .off = CTR(requests)},
        {"t_replies_total", STATS_COUNTER, "Replies, by type.", .json = "replies", .label = "type",
         .off = CTR(replies), .n = 3, .label_of = reply_label},
        {"t_cache_total", STATS_COUNTER, "Cache \\ lookups\nby result.", .json = "cache",
         .label = "result", .fields = ctr_cache, .n = STATS_COUNT(ctr_cache)},
        {.json = "cache.hidden", .off = CTR(hidden)},
        {"t_open", STATS_GAUGE, "Open now.", .json = "open", .off = CTR(open)},
        {"t_up", STATS_GAUGE, "1 when up.", .json = "up", .flags = STATS_JSON_BOOL, .get = ctr_up},
        {"t_mode", STATS_GAUGE, "Mode per domain.", .label = "domain", .label2 = "mode",
         .each = ctr_each},
};

static const struct stats_metric big_stats[] = {
        {"t_big_total", STATS_COUNTER, "Big.", .json = "deep.er.big", .off = 0},
};

static const struct ctr ctr_values = {
        .requests = 7,
        .replies = {2, 3, 0},
        .hits = 5,
        .misses = 1,
        .hidden = 9,
        .open = 4,
};

static char *
prom(const struct stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	stats_prometheus(st, f);
	assert_int_equal(ferror(f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The JSON of st added to o (NULL: an empty object), compact, compared with want. */
static void
expect_json(const struct stats *st, struct json_object *o, const char *want)
{
	if (o == NULL)
		o = json_object_new_object();
	stats_json(st, o);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), want);
	(void)json_object_put(o);
}

static void
expect_prom(const struct stats *st, const char *want)
{
	char *s = prom(st);

	assert_string_equal(s, want);
	free(s);
}

/* A registry holding the made-up module's table for obj. */
static struct stats *
ctr_registry(const void *obj)
{
	struct stats *st = stats_new();

	stats_add(st, ctr_stats, STATS_COUNT(ctr_stats), obj);
	return st;
}

static void
test_prometheus(void **state)
{
	struct stats *st = ctr_registry(&ctr_values);

	expect_prom(st, "# HELP t_requests_total Requests.\n"
	                "# TYPE t_requests_total counter\n"
	                "t_requests_total 7\n"
	                "# HELP t_replies_total Replies, by type.\n"
	                "# TYPE t_replies_total counter\n"
	                "t_replies_total{type=\"ok\"} 2\n"
	                "t_replies_total{type=\"notfound\"} 3\n"
	                "t_replies_total{type=\"temp\"} 0\n"
	                "# HELP t_cache_total Cache \\\\ lookups\\nby result.\n"
	                "# TYPE t_cache_total counter\n"
	                "t_cache_total{result=\"hit\"} 5\n"
	                "t_cache_total{result=\"miss\"} 1\n"
	                "t_cache_total{result=\"all\"} 6\n"
	                "# HELP t_open Open now.\n"
	                "# TYPE t_open gauge\n"
	                "t_open 4\n"
	                "# HELP t_up 1 when up.\n"
	                "# TYPE t_up gauge\n"
	                "t_up 1\n"
	                "# HELP t_mode Mode per domain.\n"
	                "# TYPE t_mode gauge\n"
	                "t_mode{domain=\"a.example\",mode=\"enforce\"} 1\n"
	                "t_mode{domain=\"we\\\\ird\\\"\\n.example\",mode=\"testing\"} 2\n");
	st = stats_free(st);
	assert_null(st);
	assert_null(stats_free(NULL));
}

static void
test_json(void **state)
{
	struct stats *st = ctr_registry(&ctr_values);

	expect_json(st, NULL,
	            "{\"requests\":7,\"replies\":{\"ok\":2,\"notfound\":3,\"temp\":0},"
	            "\"cache\":{\"hits\":5,\"misses\":1,\"hidden\":9},\"open\":4,"
	            "\"up\":true}");
	stats_free(st);
}

/* The walker adds to what the caller put in the object, and keeps its keys first. */
static void
test_json_into_existing(void **state)
{
	struct stats *st = ctr_registry(&ctr_values);
	struct json_object *o = json_object_new_object(), *c = json_object_new_object();

	json_object_object_add(o, "enabled", json_object_new_boolean(1));
	json_object_object_add(c, "backend", json_object_new_string("memory"));
	json_object_object_add(o, "cache", c);
	expect_json(st, o,
	            "{\"enabled\":true,\"cache\":{\"backend\":\"memory\",\"hits\":5,"
	            "\"misses\":1,\"hidden\":9},\"requests\":7,\"replies\":{\"ok\":2,"
	            "\"notfound\":3,\"temp\":0},\"open\":4,\"up\":true}");
	stats_free(st);
}

static void
each_keys(const void *obj, struct stats_emit *e)
{
	stats_emit(e, "quo\"te", NULL, 1);
	stats_emit(e, "dot.ted", NULL, 2);
}

static const struct stats_metric keyed_stats[] = {
        {"t_keyed", STATS_GAUGE, "Keyed.", .json = "by", .label = "k", .each = each_keys},
};

/* Clamped to INT64_MAX in JSON, exact in Prometheus; label values as JSON keys are
 * escaped by json-c and never split at dots. */
static void
test_json_big_and_keys(void **state)
{
	uint64_t big = UINT64_MAX;
	struct stats *st = stats_new();
	char *s;

	stats_add(st, big_stats, 1, &big);
	stats_add(st, keyed_stats, 1, &big);
	expect_json(st, NULL,
	            "{\"deep\":{\"er\":{\"big\":9223372036854775807}},"
	            "\"by\":{\"quo\\\"te\":1,\"dot.ted\":2}}");
	s = prom(st);
	assert_non_null(strstr(s, "\nt_big_total 18446744073709551615\n"));
	assert_non_null(strstr(s, "\nt_keyed{k=\"quo\\\"te\"} 1\nt_keyed{k=\"dot.ted\"} 2\n"));
	free(s);
	stats_free(st);
}

/* A module that is not there: zeros, every vector label, no each() sample, headers kept. */
static void
test_null_object(void **state)
{
	struct stats *st = ctr_registry(NULL);
	char *s = prom(st);

	assert_non_null(strstr(s, "\nt_requests_total 0\n"));
	assert_non_null(strstr(s, "\nt_replies_total{type=\"temp\"} 0\n"));
	assert_non_null(strstr(s, "\nt_up 0\n"));
	assert_non_null(strstr(s, "# TYPE t_mode gauge\n"));
	assert_null(strstr(s, "t_mode{"));
	free(s);
	expect_json(st, NULL,
	            "{\"requests\":0,\"replies\":{\"ok\":0,\"notfound\":0,\"temp\":0},"
	            "\"cache\":{\"hits\":0,\"misses\":0,\"hidden\":0},\"open\":0,"
	            "\"up\":false}");
	stats_free(st);
}

static void
collect(const char *key, uint64_t v, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	(void)snprintf(out + n, 128 - n, "%s=%llu ", key, (unsigned long long)v);
}

static void
test_get_foreach(void **state)
{
	struct stats *st = ctr_registry(&ctr_values);
	char out[128] = "";
	uint64_t v = 42;

	assert_int_equal(stats_get(st, "requests", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(stats_get(st, "replies.notfound", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(stats_get(st, "replies", &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(stats_get(st, "cache", &v), 0);
	assert_int_equal(v, 15);
	assert_int_equal(stats_get(st, "up", &v), 0);
	assert_int_equal(v, 1);
	v = 42;
	assert_int_equal(stats_get(st, "nope", &v), -ENOENT);
	assert_int_equal(stats_get(st, "replies.nope", &v), -ENOENT);
	assert_int_equal(stats_get(st, "repl", &v), -ENOENT);
	assert_int_equal(v, 42);
	stats_foreach(st, "replies", collect, out);
	assert_string_equal(out, "ok=2 notfound=3 temp=0 ");
	out[0] = '\0';
	stats_foreach(st, "cache", collect, out);
	assert_string_equal(out, "hits=5 misses=1 hidden=9 ");
	out[0] = '\0';
	stats_foreach(st, "", collect, out);
	assert_string_equal(out, "requests=7 open=4 up=1 ");
	stats_free(st);
}

/* Tables come out in registration order; stats_clear() forgets them all. */
static void
test_order_and_clear(void **state)
{
	static const uint64_t one = 1;
	struct stats *st = stats_new();

	stats_add(st, big_stats, 1, &one);
	stats_add(st, ctr_stats, 1, &ctr_values);
	expect_prom(st, "# HELP t_big_total Big.\n# TYPE t_big_total counter\n"
	                "t_big_total 1\n"
	                "# HELP t_requests_total Requests.\n"
	                "# TYPE t_requests_total counter\nt_requests_total 7\n");
	stats_clear(st);
	expect_prom(st, "");
	expect_json(st, NULL, "{}");
	stats_free(st);
}

/* Counters written by another thread (atomic_ulong, STATS_ATOMIC); fields at the top of
 * the JSON object (json ""). */
struct shared {
	atomic_ulong served, refused;
};

static const struct stats_field shared_fields[] = {
        {"served", "served", .off = offsetof(struct shared, served)},
        {"refused", "refused", .off = offsetof(struct shared, refused)},
};

static const struct stats_metric shared_stats[] = {
        {"t_responses_total", STATS_COUNTER, "Responses.", .json = "", .label = "type",
         .flags = STATS_ATOMIC, .fields = shared_fields, .n = STATS_COUNT(shared_fields)},
        {"t_served_total", STATS_COUNTER, "Served.", .json = "again", .flags = STATS_ATOMIC,
         .off = offsetof(struct shared, served)},
};

static void
test_atomic_top_level(void **state)
{
	struct shared sh;
	struct stats *st = stats_new();
	uint64_t v = 0;

	atomic_init(&sh.served, 12);
	atomic_init(&sh.refused, 3);
	stats_add(st, shared_stats, STATS_COUNT(shared_stats), &sh);
	expect_json(st, NULL, "{\"served\":12,\"refused\":3,\"again\":12}");
	expect_prom(st, "# HELP t_responses_total Responses.\n"
	                "# TYPE t_responses_total counter\n"
	                "t_responses_total{type=\"served\"} 12\n"
	                "t_responses_total{type=\"refused\"} 3\n"
	                "# HELP t_served_total Served.\n"
	                "# TYPE t_served_total counter\n"
	                "t_served_total 12\n");
	assert_int_equal(stats_get(st, "refused", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(stats_get(st, "", &v), 0);
	assert_int_equal(v, 27);
	stats_free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_prometheus),         cmocka_unit_test(test_json),
	        cmocka_unit_test(test_json_into_existing), cmocka_unit_test(test_json_big_and_keys),
	        cmocka_unit_test(test_null_object),        cmocka_unit_test(test_get_foreach),
	        cmocka_unit_test(test_order_and_clear),    cmocka_unit_test(test_atomic_top_level),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
