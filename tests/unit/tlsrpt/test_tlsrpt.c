/*
 * tests/unit/tlsrpt/test_tlsrpt.c - the tlsrpt library: parser (RFC 8460 section 4 fixtures
 * in tests/unit/data/tlsrpt/), bounded gunzip (gzip bombs), storage in the state database
 * (one transaction, duplicates, malformed kept raw, retention and size bounds), the report
 * part of a mail (GMime).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zlib.h>

#include "err.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "tlsrpt_gz.h"
#include "tlsrpt_mail.h"
#include "tlsrpt_report.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"
#include "../sqlutil.h"

static char *
read_fixture(const char *name, size_t *ret_len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	(void)snprintf(path, sizeof(path), "%s/tlsrpt/%s", TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	(void)fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

static struct tlsrpt_report *
parse_fixture(const char *name, int want, char *why, size_t whylen)
{
	struct tlsrpt_report *r = NULL;
	size_t len;
	char *json = read_fixture(name, &len);
	int rc = tlsrpt_report_parse(json, len, &r, why, whylen);

	free(json);
	if (rc != want)
		fail_msg("%s: got %d (%s), want %d", name, rc, why, want);
	return r;
}

static void
test_parse_rfc_example(void **state)
{
	char why[256];
	struct tlsrpt_report *r = parse_fixture("rfc8460.json", 0, why, sizeof(why));

	(void)state;
	assert_string_equal(r->org, "Company-X");
	assert_string_equal(r->report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
	assert_string_equal(r->contact, "sts-reporting@company-x.example");
	assert_int_equal(r->start, 1459468800);
	assert_int_equal(r->end, 1459555199);
	assert_int_equal(r->n_policies, 1);
	assert_string_equal(r->policies[0].type, "sts");
	assert_string_equal(r->policies[0].domain, "company-y.example");
	assert_int_equal(r->policies[0].n_mx_hosts, 1);
	assert_string_equal(r->policies[0].mx_hosts[0], "*.mail.company-y.example");
	assert_int_equal(r->policies[0].success, 5326);
	assert_int_equal(r->policies[0].failure, 303);
	assert_int_equal(r->policies[0].n_failures, 3);
	assert_string_equal(r->policies[0].failures[1].result_type, "starttls-not-supported");
	assert_string_equal(r->policies[0].failures[1].mx_host, "mx2.mail.company-y.example");
	assert_int_equal(r->policies[0].failures[1].count, 200);
	assert_string_equal(r->policies[0].failures[2].reason_code,
	                    "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
	(void)tlsrpt_report_free(r);
}

static void
test_parse_providers(void **state)
{
	char why[256];
	struct tlsrpt_report *r;

	(void)state;
	/* no mx-host, no failure-details */
	r = parse_fixture("provider-a.json", 0, why, sizeof(why));
	assert_int_equal(r->policies[0].n_mx_hosts, 0);
	assert_int_equal(r->policies[0].n_failures, 0);
	assert_int_equal(r->policies[0].success, 1422);
	(void)tlsrpt_report_free(r);
	/* two policies, one no-policy-found; an MX name in upper case with a trailing dot */
	r = parse_fixture("provider-b.json", 0, why, sizeof(why));
	assert_int_equal(r->n_policies, 2);
	assert_string_equal(r->policies[0].failures[0].mx_host, "mx1.example.com");
	assert_string_equal(r->policies[1].type, "no-policy-found");
	assert_string_equal(r->policies[1].domain, "example.net");
	(void)tlsrpt_report_free(r);
	/* no contact-info, mx-host a string, offsets, an extension field */
	r = parse_fixture("provider-c-no-contact.json", 0, why, sizeof(why));
	assert_null(r->contact);
	assert_string_equal(r->policies[0].domain, "example.org");
	assert_string_equal(r->policies[0].mx_hosts[0], "mail.example.org");
	assert_int_equal(r->start, 1793833200); /* 2026-11-04T23:00:00Z */
	(void)tlsrpt_report_free(r);
}

static void
test_parse_bad(void **state)
{
	char why[256];

	(void)state;
	assert_null(parse_fixture("bad-missing-summary.json", ERR_TLSRPT_FIELD, why, sizeof(why)));
	assert_string_equal(why, "policies[0].summary missing");
	assert_null(parse_fixture("bad-policy-type.json", ERR_TLSRPT_FIELD, why, sizeof(why)));
	assert_non_null(strstr(why, "policy-type"));
	assert_null(parse_fixture("bad-date.json", ERR_TLSRPT_FIELD, why, sizeof(why)));
	assert_non_null(strstr(why, "start-datetime"));
	assert_null(parse_fixture("bad-count.json", ERR_TLSRPT_FIELD, why, sizeof(why)));
	assert_non_null(strstr(why, "total-successful-session-count out of range"));
	assert_null(parse_fixture("bad-truncated.json", ERR_TLSRPT_JSON, why, sizeof(why)));
}

static void
test_parse_edges(void **state)
{
	static const char *const bad[] = {
	        "",
	        "[]",
	        "{}",
	        "null",
	        "{\"organization-name\":1}",
	        /* two values */
	        "{} {}",
	        /* NUL inside a string */
	        "{\"organization-name\":\"a\\u0000b\"}",
	};
	struct tlsrpt_report *r = NULL;
	char why[256], deep[200];
	time_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(tlsrpt_report_parse(bad[i], strlen(bad[i]), &r, why, sizeof(why)) < 0);
		assert_null(r);
	}
	memset(deep, '[', sizeof(deep));
	assert_int_equal(tlsrpt_report_parse(deep, sizeof(deep), &r, why, sizeof(why)),
	                 ERR_TLSRPT_JSON);
	assert_int_equal(tlsrpt_datetime_parse("2016-04-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 1459468800);
	assert_int_equal(tlsrpt_datetime_parse("2016-04-01T02:00:00+02:00", &t), 0);
	assert_int_equal(t, 1459468800);
	assert_int_equal(tlsrpt_datetime_parse("2016-04-01", &t), -EINVAL);
	assert_int_equal(tlsrpt_datetime_parse("2016-13-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(tlsrpt_datetime_parse("2016-04-01T00:00:00Zjunk", &t), -EINVAL);
}

/* A valid report with an unknown member "x" of n copies of item (joined by ','). */
static char *
report_with_x(const char *item, size_t n, size_t *ret_len)
{
	static const char head[] =
	        "{\"organization-name\":\"Big\",\"date-range\":{\"start-datetime\":"
	        "\"2026-11-05T00:00:00Z\",\"end-datetime\":\"2026-11-05T23:59:59Z\"},"
	        "\"report-id\":\"big-1\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	        "\"policy-domain\":\"example.com\"},\"summary\":{\"total-successful-session-"
	        "count\":1,\"total-failure-session-count\":0}}],\"x\":[";
	size_t il = strlen(item), cap = sizeof(head) + n * (il + 1) + 4, len = 0, i;
	char *json = malloc(cap);

	assert_non_null(json);
	memcpy(json, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (i = 0; i < n; i++) {
		if (i > 0)
			json[len++] = ',';
		memcpy(json + len, item, il);
		len += il;
	}
	memcpy(json + len, "]}", 3);
	*ret_len = len + 2;
	return json;
}

/* 2.8 million empty objects in an unknown member (8 MiB, 131 KB gzip'd): json-c would
 * build 2 GB of them. Refused by the pre-scan, as too large, nothing built or stored;
 * commas and braces inside strings do not count. */
static void
test_parse_token_bound(void **state)
{
	struct tlsrpt_report *r = NULL;
	char why[256], *json;
	size_t len;

	(void)state;
	json = report_with_x("{}", 2800000, &len);
	assert_true(len > 8000000);
	assert_int_equal(tlsrpt_report_parse(json, len, &r, why, sizeof(why)),
	                 ERR_TLSRPT_TOO_LARGE);
	assert_null(r);
	assert_non_null(strstr(why, "JSON objects"));
	free(json);
	/* values: 200000 integers */
	json = report_with_x("1", 200000, &len);
	assert_int_equal(tlsrpt_report_parse(json, len, &r, why, sizeof(why)),
	                 ERR_TLSRPT_TOO_LARGE);
	assert_non_null(strstr(why, "JSON values"));
	free(json);
	/* within the bounds: parsed */
	json = report_with_x("{\"a\":[1,2]}", 1000, &len);
	assert_int_equal(tlsrpt_report_parse(json, len, &r, why, sizeof(why)), 0);
	r = tlsrpt_report_free(r);
	free(json);
	/* 30000 strings of "{,{,{," (with an escaped backslash and quote before): 30000 values, no
	 * object */
	json = report_with_x("\"\\\\\\\"{,{,{,\"", 30000, &len);
	assert_int_equal(tlsrpt_report_parse(json, len, &r, why, sizeof(why)), 0);
	r = tlsrpt_report_free(r);
	free(json);
}

/* ---- gzip ---- */

static void
test_gunzip_roundtrip(void **state)
{
	const char *text = "{\"a\":1}";
	char *gz, *out;
	size_t gzlen, outlen;

	(void)state;
	assert_int_equal(tlsrpt_gzip(text, strlen(text), &gz, &gzlen), 0);
	assert_true(tlsrpt_is_gzip(gz, gzlen));
	assert_int_equal(tlsrpt_gunzip(gz, gzlen, 1024, 100, &out, &outlen), 0);
	assert_int_equal(outlen, strlen(text));
	assert_string_equal(out, text);
	free(out);
	/* truncated */
	assert_int_equal(tlsrpt_gunzip(gz, gzlen - 6, 1024, 100, &out, &outlen), ERR_TLSRPT_GZIP);
	free(gz);
	assert_int_equal(tlsrpt_gunzip("{}", 2, 1024, 100, &out, &outlen), ERR_TLSRPT_GZIP);
}

/* A gzip bomb: 16 MiB of zeros (about 16 KiB compressed) against an 8 MiB bound and a
 * 100:1 ratio: refused by the ratio after about 1.6 MiB; with no ratio, by the size. */
static void
test_gunzip_bomb(void **state)
{
	size_t big = 16u * 1024 * 1024, gzlen, outlen;
	char *zeros = calloc(1, big), *gz, *out = NULL;

	(void)state;
	assert_non_null(zeros);
	assert_int_equal(tlsrpt_gzip(zeros, big, &gz, &gzlen), 0);
	free(zeros);
	assert_true(gzlen < big / 500);
	assert_int_equal(tlsrpt_gunzip(gz, gzlen, 8u * 1024 * 1024, 100, &out, &outlen),
	                 ERR_TLSRPT_TOO_LARGE);
	assert_int_equal(tlsrpt_gunzip(gz, gzlen, 8u * 1024 * 1024, 0, &out, &outlen),
	                 ERR_TLSRPT_TOO_LARGE);
	assert_null(out);
	free(gz);
}

/* ---- storage ---- */

struct db_fixture {
	char dir[64];
	char path[128];
	struct statedb *db;
};

static int
db_setup(void **state)
{
	struct db_fixture *f = calloc(1, sizeof(*f));
	char err[256];

	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_tlsrpt.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	assert_int_equal(statedb_open(f->path, &f->db, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
db_teardown(void **state)
{
	struct db_fixture *f = *state;
	char p[160];

	(void)statedb_close(f->db);
	(void)unlink(f->path);
	(void)snprintf(p, sizeof(p), "%s-wal", f->path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", f->path);
	(void)unlink(p);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* Report i of org for example.com on 2026-11-05: report-id "<id>-<i>", i + 1 successful
 * sessions, nothing else, into buf (size bytes). Returns its length. */
static size_t
one_day_report(char *buf, size_t size, const char *org, const char *id, size_t i)
{
	int len = snprintf(buf, size,
	                   "{\"organization-name\":\"%s\",\"date-range\":{\"start-datetime\":"
	                   "\"2026-11-05T00:00:00Z\",\"end-datetime\":\"2026-11-05T23:59:59Z\"},"
	                   "\"report-id\":\"%s-%zu\",\"policies\":[{\"policy\":{\"policy-type\":"
	                   "\"sts\",\"policy-domain\":\"example.com\"},\"summary\":{"
	                   "\"total-successful-session-count\":%zu,\"total-failure-session-count\":"
	                   "0}}]}",
	                   org, id, i, i + 1);

	assert_true(len > 0 && (size_t)len < size);
	return (size_t)len;
}

static const struct tlsrpt_limits test_limits = {
        .max_report = 1024 * 1024,
        .max_ratio = 100,
        .retention_s = 400 * 86400,
        .max_stored_bytes = 64u * 1024 * 1024,
};

static enum tlsrpt_outcome
ingest(struct statedb *db, const char *data, size_t len, time_t now, char *why, size_t whylen)
{
	struct tlsrpt_input in = {
	        .data = data, .len = len, .source = "file", .peer = NULL, .now = now};
	enum tlsrpt_outcome o = TLSRPT_OUTCOMES;

	(void)tlsrpt_ingest(db, &in, &test_limits, NULL, NULL, &o, why, whylen);
	return o;
}

struct sums {
	uint64_t success, failure, rows;
	char results[512];
};

static int
sum_cb(const struct statedb_tlsrpt_sum *s, void *arg)
{
	struct sums *x = arg;
	size_t n = strlen(x->results);

	if (strcmp(s->result, "success") == 0)
		x->success += s->sessions;
	else
		x->failure += s->sessions;
	x->rows++;
	(void)snprintf(x->results + n, sizeof(x->results) - n, "%s/%s:%llu ", s->policy_type,
	               s->result, (unsigned long long)s->sessions);
	return 0;
}

static int
count_reports(const struct statedb_tlsrpt_report *r, void *arg)
{
	(void)r;
	(*(size_t *)arg)++;
	return 0;
}

static void
test_store(void **state)
{
	struct db_fixture *f = *state;
	struct sums s = {0};
	char why[256], *json, *gz;
	size_t len, gzlen, n = 0;

	json = read_fixture("rfc8460.json", &len);
	assert_int_equal(ingest(f->db, json, len, 1459555200, why, sizeof(why)), TLSRPT_STORED);
	/* the same report again, even gzip'd: stored once */
	assert_int_equal(tlsrpt_gzip(json, len, &gz, &gzlen), 0);
	assert_int_equal(ingest(f->db, gz, gzlen, 1459555300, why, sizeof(why)), TLSRPT_DUPLICATE);
	free(gz);
	/* the same organisation and report id with other content: a conflict, the first
	 * one stays */
	{
		char *p = strstr(json, "5326");

		assert_non_null(p);
		memcpy(p, "9999", 4);
		assert_int_equal(ingest(f->db, json, len, 1459555400, why, sizeof(why)),
		                 TLSRPT_CONFLICT);
		assert_non_null(strstr(why, "Company-X"));
		assert_string_equal(tlsrpt_outcome_name(TLSRPT_CONFLICT), "conflict");
	}
	free(json);
	assert_int_equal(statedb_tlsrpt_sums(f->db, "company-y.example", 0, sum_cb, &s), 0);
	assert_int_equal(s.success, 5326);
	assert_int_equal(s.failure, 303);
	assert_string_equal(s.results, "sts/certificate-expired:100 sts/starttls-not-supported:200 "
	                               "sts/success:5326 sts/validation-failure:3 ");
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 10, count_reports, &n), 0);
	assert_int_equal(n, 1);

	/* a report for days that have not come (one forger's evidence for the weeks ahead):
	 * kept raw as malformed, counted nowhere; a day after its end it is accepted */
	json = read_fixture("provider-a.json", &len); /* 2026-11-05T00:00:00Z .. 23:59:59Z */
	assert_int_equal(ingest(f->db, json, len, 1793923200 - 2 * 86400, why, sizeof(why)),
	                 TLSRPT_MALFORMED);
	assert_non_null(strstr(why, "date-range ends in the future"));
	memset(&s, 0, sizeof(s));
	assert_int_equal(statedb_tlsrpt_sums(f->db, "example.com", 0, sum_cb, &s), 0);
	assert_int_equal(s.success, 0);
	free(json);

	/* a failure count without failure-details: "unspecified" */
	json = read_fixture("provider-b.json", &len);
	assert_int_equal(ingest(f->db, json, len, 1793923200, why, sizeof(why)), TLSRPT_STORED);
	free(json);
	memset(&s, 0, sizeof(s));
	assert_int_equal(statedb_tlsrpt_sums(f->db, "example.com", 0, sum_cb, &s), 0);
	assert_string_equal(s.results,
	                    "sts/certificate-host-mismatch:3 sts/success:86 sts/unspecified:1 ");
}

/* A report listing 1000 failures at 1000 distinct MX names: TLSRPT_FAILURE_ROWS_MAX rows
 * of details, the rest counted as unspecified; the totals are kept. */
static void
test_store_row_bound(void **state)
{
	struct db_fixture *f = *state;
	struct sums s = {0};
	size_t cap = 64 * 1024 + 1000 * 160, len;
	char why[256], *json = malloc(cap);
	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;
	int i;

	assert_non_null(json);
	len = (size_t)snprintf(json, cap,
	                       "{\"organization-name\":\"Many MX\",\"date-range\":{\"start-"
	                       "datetime\":\"2026-11-05T00:00:00Z\",\"end-datetime\":\"2026-11-05T"
	                       "23:59:59Z\"},\"contact-info\":\"x@many.example\",\"report-id\":"
	                       "\"many-1\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	                       "\"policy-domain\":\"example.com\"},\"summary\":{\"total-"
	                       "successful-session-count\":5,\"total-failure-session-count\":"
	                       "1000},\"failure-details\":[");
	for (i = 0; i < 1000; i++)
		len += (size_t)snprintf(json + len, cap - len,
		                        "%s{\"result-type\":\"certificate-host-mismatch\","
		                        "\"receiving-mx-hostname\":\"mx%d.example.net\","
		                        "\"failed-session-count\":1}",
		                        i > 0 ? "," : "", i);
	len += (size_t)snprintf(json + len, cap - len, "]}]}");
	assert_int_equal(ingest(f->db, json, len, 1793923200, why, sizeof(why)), TLSRPT_STORED);
	free(json);
	assert_int_equal(statedb_tlsrpt_sums(f->db, "example.com", 0, sum_cb, &s), 0);
	assert_int_equal(s.success, 5);
	assert_int_equal(s.failure, 1000);
	assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw,
	                                    "SELECT count(*), sum(result = 'unspecified') FROM "
	                                    "tlsrpt_session",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* the success row, the bounded details, one unspecified row */
	assert_int_equal(sqlite3_column_int(st, 0), TLSRPT_FAILURE_ROWS_MAX + 2);
	assert_int_equal(sqlite3_column_int(st, 1), 1);
	(void)sqlite3_finalize(st);
	(void)sqlite3_close(raw);
}

static int
last_reason(const struct statedb_tlsrpt_report *r, void *arg)
{
	(void)snprintf(arg, 256, "%s|%s", r->status, r->reason);
	return 1;
}

static void
test_store_malformed_and_limits(void **state)
{
	struct db_fixture *f = *state;
	struct sums s = {0};
	char why[256], got[256], *json;
	size_t len, n = 0;
	size_t big = 4u * 1024 * 1024, gzlen;
	char *zeros, *gz;

	/* malformed: kept raw with the reason, no sessions */
	json = read_fixture("bad-missing-summary.json", &len);
	assert_int_equal(ingest(f->db, json, len, 1793923200, why, sizeof(why)), TLSRPT_MALFORMED);
	free(json);
	assert_string_equal(why, "policies[0].summary missing");
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 1, last_reason, got), 0);
	assert_string_equal(got, "malformed|policies[0].summary missing");
	assert_int_equal(statedb_tlsrpt_sums(f->db, NULL, 0, sum_cb, &s), 0);
	assert_int_equal(s.rows, 0);
	/* more JSON objects than TLSRPT_JSON_OBJECTS_MAX: refused, nothing stored */
	json = report_with_x("{}", TLSRPT_JSON_OBJECTS_MAX + 1, &len);
	assert_int_equal(ingest(f->db, json, len, 1793923200, why, sizeof(why)), TLSRPT_TOO_LARGE);
	free(json);
	/* a bomb: nothing stored */
	zeros = calloc(1, big);
	assert_non_null(zeros);
	assert_int_equal(tlsrpt_gzip(zeros, big, &gz, &gzlen), 0);
	free(zeros);
	assert_int_equal(ingest(f->db, gz, gzlen, 1793923200, why, sizeof(why)), TLSRPT_TOO_LARGE);
	free(gz);
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 10, count_reports, &n), 0);
	assert_int_equal(n, 1);
	/* retention: a report received 401 days later drops the first */
	json = read_fixture("provider-a.json", &len);
	assert_int_equal(ingest(f->db, json, len, 1793923200 + 401 * 86400, why, sizeof(why)),
	                 TLSRPT_STORED);
	free(json);
	n = 0;
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 10, count_reports, &n), 0);
	assert_int_equal(n, 1);
}

static int
published_example_com(const char *domain, void *arg)
{
	(void)arg;
	return strcmp(domain, "example.com") == 0;
}

static int
published_0000(const char *domain, void *arg)
{
	(void)arg;
	return strcmp(domain, "0000.example") == 0;
}

static void
test_store_unpublished(void **state)
{
	struct db_fixture *f = *state;
	struct tlsrpt_input in = {.source = "https", .peer = "192.0.2.1", .now = 1793923200};
	enum tlsrpt_outcome o;
	char why[256], *json;
	size_t len, n = 0;

	json = read_fixture("rfc8460.json", &len);
	in.data = json;
	in.len = len;
	assert_int_equal(tlsrpt_ingest(f->db, &in, &test_limits, published_example_com, NULL, &o,
	                               why, sizeof(why)),
	                 0);
	free(json);
	assert_int_equal(o, TLSRPT_UNPUBLISHED);
	assert_non_null(strstr(why, "company-y.example"));
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 10, count_reports, &n), 0);
	assert_int_equal(n, 0);
	/* one published policy among two: stored, the sessions of the published one only */
	json = read_fixture("provider-b.json", &len);
	in.data = json;
	in.len = len;
	assert_int_equal(tlsrpt_ingest(f->db, &in, &test_limits, published_example_com, NULL, &o,
	                               why, sizeof(why)),
	                 0);
	free(json);
	assert_int_equal(o, TLSRPT_STORED);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(DISTINCT domain) FROM tlsrpt_session"),
	                 1);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(*) FROM tlsrpt_session WHERE domain = "
	                                     "'example.com'"),
	                 3);
}

/* A report naming 1 published and 1023 made-up domains: one domain's rows, no more. */
static void
test_store_junk_domains(void **state)
{
	struct db_fixture *f = *state;
	struct tlsrpt_input in = {.source = "https", .peer = "192.0.2.1", .now = 1793923200};
	size_t cap = 1024 * 300, len = 0;
	char *json = malloc(cap), why[256];
	enum tlsrpt_outcome o;
	int i;

	assert_non_null(json);
	len += (size_t)snprintf(
	        json + len, cap - len,
	        "{\"organization-name\":\"junk\",\"date-range\":{\"start-datetime\":"
	        "\"2026-11-05T00:00:00Z\",\"end-datetime\":\"2026-11-05T23:59:59Z\"},"
	        "\"report-id\":\"z1\",\"policies\":[");
	for (i = 0; i < 1024; i++)
		len += (size_t)snprintf(json + len, cap - len,
		                        "%s{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":"
		                        "\"%s%04d.example\"},\"summary\":{\"total-successful-"
		                        "session-count\":1,\"total-failure-session-count\":1}}",
		                        i > 0 ? "," : "", i == 0 ? "" : "z", i);
	len += (size_t)snprintf(json + len, cap - len, "]}");
	/* the first one is "0000.example" */
	in.data = json;
	in.len = len;
	assert_int_equal(
	        tlsrpt_ingest(f->db, &in, &test_limits, published_0000, NULL, &o, why, sizeof(why)),
	        0);
	free(json);
	assert_int_equal(o, TLSRPT_STORED);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(*) FROM tlsrpt_session"), 2);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(DISTINCT domain) FROM tlsrpt_session "
	                                     "WHERE domain = '0000.example'"),
	                 1);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(*) FROM tlsrpt_report"), 1);
}

/* A report of n policies for example.com, each with success sessions. */
static enum tlsrpt_outcome
ingest_counts(struct statedb *db, const char *rid, size_t n, const char *success, char *why,
              size_t whylen)
{
	size_t cap = 256 + n * 200, len = 0, i;
	char *json = malloc(cap);
	enum tlsrpt_outcome o;

	assert_non_null(json);
	len += (size_t)snprintf(json + len, cap - len,
	                        "{\"organization-name\":\"Counts\",\"date-range\":{\"start-"
	                        "datetime\":\"2026-11-05T00:00:00Z\",\"end-datetime\":\"2026-"
	                        "11-05T23:59:59Z\"},\"report-id\":\"%s\",\"policies\":[",
	                        rid);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(json + len, cap - len,
		                        "%s{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":"
		                        "\"example.com\"},\"summary\":{\"total-successful-session-"
		                        "count\":%s,\"total-failure-session-count\":0}}",
		                        i > 0 ? "," : "", success);
	len += (size_t)snprintf(json + len, cap - len, "]}");
	o = ingest(db, json, len, 1793923200, why, whylen);
	free(json);
	return o;
}

/* Counts are bounded (TLSRPT_SESSIONS_MAX, each and per report): 1024 policies of 2^53
 * overflowed the summaries' sum(). And a database that holds counts whose sum overflows
 * (an older mtastsd's) still gives its summary, clamped. */
static void
test_store_count_bound(void **state)
{
	struct db_fixture *f = *state;
	struct tlsrpt_summary *s = NULL;
	char why[256];

	assert_int_equal(ingest_counts(f->db, "c1", 1024, "9007199254740992", why, sizeof(why)),
	                 TLSRPT_MALFORMED);
	assert_non_null(strstr(why, "out of range"));
	/* 2^30 x 1024 = 2^40: the most a report may count */
	assert_int_equal(ingest_counts(f->db, "c2", 1024, "1073741824", why, sizeof(why)),
	                 TLSRPT_STORED);
	assert_int_equal(ingest_counts(f->db, "c3", 1024, "1073741825", why, sizeof(why)),
	                 TLSRPT_MALFORMED);
	assert_non_null(strstr(why, "sessions in all"));
	/* rows an older mtastsd stored: 2 x 2^62 + 2^40 overflows a 64-bit sum() */
	tu_sql_exec(f->path, "INSERT INTO tlsrpt_session (report, domain, day, policy_type, "
	                     "result, mx_host, sessions) SELECT id, 'example.com', 20762, 'sts', "
	                     "'success', '', 4611686018427387904 FROM tlsrpt_report WHERE "
	                     "report_id = 'c2';"
	                     "INSERT INTO tlsrpt_session (report, domain, day, policy_type, "
	                     "result, mx_host, sessions) SELECT id, 'example.com', 20762, 'sts', "
	                     "'success', '', 4611686018427387904 FROM tlsrpt_report WHERE "
	                     "report_id = 'c2';");
	assert_int_equal(tlsrpt_summary_load(f->db, NULL, 20762 * 86400 + 3600, &s), 0);
	assert_int_equal(s->n_domains, 1);
	assert_true(s->domains[0].success == (uint64_t)INT64_MAX);
	assert_int_equal(s->domains[0].n_last, 1);
	assert_true(s->domains[0].last[0].success == (uint64_t)INT64_MAX);
	s = tlsrpt_summary_free(s);
	assert_int_equal(tlsrpt_summary_load(f->db, "example.com", 20762 * 86400 + 3600, &s), 0);
	assert_true(s->domains[0].success == (uint64_t)INT64_MAX);
	s = tlsrpt_summary_free(s);
	assert_string_equal(err_str(ERR_STATEDB_QUERY), "state database query failed");
}

/* The size bound: the oldest raw reports go first. */
static void
test_store_size_bound(void **state)
{
	struct db_fixture *f = *state;
	struct tlsrpt_limits lim = test_limits;
	struct tlsrpt_input in = {.source = "file", .now = 1793923200};
	enum tlsrpt_outcome o;
	char why[256], json[1024];
	size_t i, n = 0;

	lim.max_stored_bytes = 2000;
	for (i = 0; i < 50; i++) {
		in.data = json;
		in.len = one_day_report(json, sizeof(json), "Provider E", "e", i);
		in.now++;
		assert_int_equal(tlsrpt_ingest(f->db, &in, &lim, NULL, NULL, &o, why, sizeof(why)),
		                 0);
		assert_int_equal(o, TLSRPT_STORED);
	}
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 100, count_reports, &n), 0);
	assert_true(n > 3 && n < 50);
}

static int
count_by_status(const struct statedb_tlsrpt_report *r, void *arg)
{
	size_t *n = arg;

	n[strcmp(r->status, "malformed") == 0]++;
	return 0;
}

/* Malformed reports have their own budget (max_stored_bytes / TLSRPT_MALFORMED_SHARE) and
 * go first: a flood of garbage never pushes a parsed report out. */
static void
test_store_malformed_budget(void **state)
{
	struct db_fixture *f = *state;
	struct tlsrpt_limits lim = test_limits;
	struct tlsrpt_input in = {.source = "https", .peer = "192.0.2.1", .now = 1793923200};
	enum tlsrpt_outcome o;
	char why[256], json[1024];
	size_t i, n[2] = {0, 0}, n_bad_first;
	int len;

	lim.max_stored_bytes = 4000;
	for (i = 0; i < 3; i++) {
		in.data = json;
		in.len = one_day_report(json, sizeof(json), "Provider F", "f", i);
		in.now++;
		assert_int_equal(tlsrpt_ingest(f->db, &in, &lim, NULL, NULL, &o, why, sizeof(why)),
		                 0);
		assert_int_equal(o, TLSRPT_STORED);
	}
	/* 300 newer malformed ones, each different (about 60 bytes gzip'd: 18 KB in all) */
	for (i = 0; i < 300; i++) {
		len = snprintf(json, sizeof(json), "{\"organization-name\": \"garbage %zu %zx\"", i,
		               i * 2654435761u);
		in.data = json;
		in.len = (size_t)len;
		in.now++;
		assert_int_equal(tlsrpt_ingest(f->db, &in, &lim, NULL, NULL, &o, why, sizeof(why)),
		                 0);
		assert_int_equal(o, TLSRPT_MALFORMED);
		if (i == 0) {
			assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 1000, count_by_status, n),
			                 0);
			n_bad_first = n[1];
			assert_int_equal(n_bad_first, 1);
			n[0] = n[1] = 0;
		}
	}
	assert_int_equal(statedb_tlsrpt_last(f->db, NULL, 1000, count_by_status, n), 0);
	assert_int_equal(n[0], 3); /* every parsed report stays */
	assert_true(n[1] >= 1);    /* the newest malformed ones stay, within 4000 / 8 bytes */
	assert_true(n[1] < 20);
	assert_int_equal(tu_sql_int(f->path, "SELECT sum(length(raw)) <= 500 FROM tlsrpt_report "
	                                     "WHERE status = 'malformed'"),
	                 1);
	assert_int_equal(tu_sql_int(f->path, "SELECT count(*) FROM tlsrpt_report WHERE status = "
	                                     "'malformed' AND reason LIKE 'invalid JSON%' AND "
	                                     "id = (SELECT max(id) FROM tlsrpt_report)"),
	                 1);
}

/* A version 1 file (the policy cache only) is migrated forward: its policies stay, the
 * TLSRPT tables appear. */
static void
test_migrate_from_v1(void **state)
{
	char dir[] = "/tmp/test_tlsrpt_v1.XXXXXX", path[128], err[256], why[256], p[160];
	struct statedb *db = NULL;
	sqlite3 *raw = NULL;
	size_t n = 0, len;
	char *json;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(
	        sqlite3_exec(raw,
	                     "CREATE TABLE sts_policy (domain TEXT PRIMARY KEY NOT NULL, id TEXT "
	                     "NOT NULL, policy TEXT NOT NULL, fetched_at INTEGER NOT NULL, "
	                     "expires_at INTEGER NOT NULL);"
	                     "CREATE INDEX sts_policy_expires ON sts_policy (expires_at);"
	                     "INSERT INTO sts_policy VALUES ('a.example', 'id1', 'x', 1, 2);"
	                     "PRAGMA application_id = 1297371988; PRAGMA user_version = 1;",
	                     NULL, NULL, NULL),
	        SQLITE_OK);
	(void)sqlite3_close(raw);
	assert_int_equal(statedb_open(path, &db, err, sizeof(err)), 0);
	assert_int_equal(statedb_schema_version(db), STATEDB_SCHEMA_VERSION);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 1);
	json = read_fixture("provider-a.json", &len);
	assert_int_equal(ingest(db, json, len, 1793923200, why, sizeof(why)), TLSRPT_STORED);
	free(json);
	(void)statedb_close(db);
	(void)unlink(path);
	(void)snprintf(p, sizeof(p), "%s-wal", path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", path);
	(void)unlink(p);
	(void)rmdir(dir);
}

/* ---- mail ---- */

/* A mail of thousands of empty MIME parts is refused before GMime builds them. */
static void
test_mail_many_parts(void **state)
{
	static const char head[] = "From: a@example.net\r\nTo: b@example.com\r\nSubject: x\r\n"
	                           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	                           "boundary=\"B\"\r\n\r\n";
	size_t cap = sizeof(head) + 20000 * 5 + 16, len = 0;
	char *msg = malloc(cap), *out = NULL, why[256];
	size_t outlen = 0;
	int i;

	(void)state;
	assert_non_null(msg);
	len += (size_t)snprintf(msg, cap, "%s", head);
	for (i = 0; i < 20000; i++)
		len += (size_t)snprintf(msg + len, cap - len, "--B\n\n");
	len += (size_t)snprintf(msg + len, cap - len, "--B--\n");
	assert_int_equal(
	        tlsrpt_mail_extract(msg, len, 1024 * 1024, &out, &outlen, why, sizeof(why)),
	        ERR_TLSRPT_TOO_LARGE);
	assert_null(out);
	assert_non_null(strstr(why, "MIME boundary lines"));
	free(msg);
}

static void
test_mail_extract(void **state)
{
	const char *json = "{\"x\":1}";
	char *gz, *b64, *msg, *out = NULL, why[256];
	size_t gzlen, outlen, blen;
	int n;

	(void)state;
	assert_int_equal(tlsrpt_gzip(json, strlen(json), &gz, &gzlen), 0);
	blen = 4 * ((gzlen + 2) / 3) + 1;
	b64 = malloc(blen);
	assert_non_null(b64);
	{
		static const char tab[] =
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const unsigned char *p = (const unsigned char *)gz;
		size_t i, o = 0;

		for (i = 0; i < gzlen; i += 3) {
			unsigned v = (unsigned)p[i] << 16;

			if (i + 1 < gzlen)
				v |= (unsigned)p[i + 1] << 8;
			if (i + 2 < gzlen)
				v |= p[i + 2];
			b64[o++] = tab[(v >> 18) & 63];
			b64[o++] = tab[(v >> 12) & 63];
			b64[o++] = i + 1 < gzlen ? tab[(v >> 6) & 63] : '=';
			b64[o++] = i + 2 < gzlen ? tab[v & 63] : '=';
		}
		b64[o] = '\0';
	}
	n = asprintf(&msg,
	             "From: tlsrpt@provider-a.example\r\nTo: tlsrpt@example.com\r\n"
	             "Subject: Report Domain: example.com Submitter: provider-a.example "
	             "Report-ID: <r1>\r\nTLS-Report-Domain: example.com\r\n"
	             "TLS-Report-Submitter: provider-a.example\r\nMIME-Version: 1.0\r\n"
	             "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
	             "boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
	             "This is a TLS report.\r\n--b1\r\n"
	             "Content-Type: application/tlsrpt+gzip\r\n"
	             "Content-Transfer-Encoding: base64\r\n"
	             "Content-Disposition: attachment; filename=\"r.json.gz\"\r\n\r\n%s\r\n"
	             "--b1--\r\n",
	             b64);
	assert_true(n > 0);
	assert_int_equal(tlsrpt_input_kind(msg, strlen(msg)), TLSRPT_INPUT_MAIL);
	assert_int_equal(tlsrpt_input_kind(gz, gzlen), TLSRPT_INPUT_GZIP);
	assert_int_equal(tlsrpt_input_kind(" \n{}", 4), TLSRPT_INPUT_JSON);
	assert_int_equal(
	        tlsrpt_mail_extract(msg, strlen(msg), 1 << 20, &out, &outlen, why, sizeof(why)), 0);
	assert_int_equal(outlen, gzlen);
	assert_memory_equal(out, gz, gzlen);
	free(out);
	assert_int_equal(tlsrpt_mail_extract(msg, strlen(msg), 4, &out, &outlen, why, sizeof(why)),
	                 ERR_TLSRPT_TOO_LARGE);
	free(msg);
	msg = strdup("From: a@example.com\r\nSubject: hi\r\n\r\nno report here\r\n");
	assert_int_equal(
	        tlsrpt_mail_extract(msg, strlen(msg), 1 << 20, &out, &outlen, why, sizeof(why)),
	        ERR_TLSRPT_NO_REPORT);
	free(msg);
	free(b64);
	free(gz);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_rfc_example),
	        cmocka_unit_test(test_parse_providers),
	        cmocka_unit_test(test_parse_bad),
	        cmocka_unit_test(test_parse_edges),
	        cmocka_unit_test(test_parse_token_bound),
	        cmocka_unit_test(test_gunzip_roundtrip),
	        cmocka_unit_test(test_gunzip_bomb),
	        cmocka_unit_test_setup_teardown(test_store, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_row_bound, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_malformed_and_limits, db_setup,
	                                        db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_unpublished, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_junk_domains, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_count_bound, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_size_bound, db_setup, db_teardown),
	        cmocka_unit_test_setup_teardown(test_store_malformed_budget, db_setup, db_teardown),
	        cmocka_unit_test(test_migrate_from_v1),
	        cmocka_unit_test(test_mail_extract),
	        cmocka_unit_test(test_mail_many_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
