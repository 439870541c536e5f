/*
 * tests/unit/common/test_cfg.c - cfg_load(), cfg_defaults(), cfg_zone_find()
 *
 * Data: tests/unit/data/cfg/good-*.conf (parsed values asserted one by one),
 *       tests/unit/data/cfg/bad-*.conf (each must fail naming exactly file:line: key),
 *       etc/mtastsd.conf (must load and equal the embedded defaults it documents).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "err.h"
#include "mtasts_limits.h"

#define CFG_DIR      TEST_DATA_DIR "/cfg"
#define EXAMPLE_CONF TEST_DATA_DIR "/../../../etc/mtastsd.conf"

static struct cfg *
load_ok(const char *path)
{
	struct cfg *c = NULL;
	char err[1024] = "";
	int r;

	r = cfg_load(path, &c, err, sizeof(err));
	if (r != 0)
		fail_msg("cfg_load(%s) failed: %s", path, err);
	assert_non_null(c);
	return c;
}

/* Write text to a temporary file and load it; returns the cfg_load() result. */
static int
load_text(const char *text, struct cfg **ret_cfg, char *err, size_t errlen, char *path_out)
{
	char path[] = "/tmp/test_cfg.XXXXXX";
	int fd, r;
	FILE *f;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	r = cfg_load(path, ret_cfg, err, errlen);
	if (path_out != NULL)
		memcpy(path_out, path, sizeof(path));
	(void)unlink(path);
	return r;
}

/* ---- defaults ---- */

static void
assert_defaults(const struct cfg *c)
{
	/* process */
	assert_null(c->process.user);
	assert_null(c->process.group);
	assert_int_equal(c->process.verbosity, 0);
	assert_int_equal(c->process.shutdown_timeout_ms, 10000);
	assert_string_equal(c->process.state_directory, CFG_STATE_DIRECTORY_DEFAULT);
	/* resolver */
	assert_int_equal(c->resolver.enabled, 1);
	assert_int_equal(c->resolver.n_listen, 1);
	assert_string_equal(c->resolver.listen[0].address, "127.0.0.1:8461");
	assert_string_equal(c->resolver.listen[0].host, "127.0.0.1");
	assert_int_equal(c->resolver.listen[0].port, 8461);
	assert_null(c->resolver.listen[0].path);
	assert_int_equal(c->resolver.max_connections, 1024);
	assert_int_equal(c->resolver.idle_timeout_ms, 60000);
	assert_int_equal(c->resolver.request_timeout_ms, 10000);
	assert_int_equal(c->resolver.n_dns_servers, 0);
	assert_null(c->resolver.dns_servers);
	assert_int_equal(c->resolver.dns_timeout_ms, 2000);
	assert_int_equal(c->resolver.dns_attempts, 2);
	assert_int_equal(c->resolver.dns_concurrency, 256);
	assert_int_equal(c->resolver.fetch_timeout_ms, 15000);
	assert_int_equal(c->resolver.fetch_max_body, 65536);
	assert_int_equal(c->resolver.fetch_concurrency, 64);
	assert_null(c->resolver.ca_file);
	assert_null(c->resolver.connect_to);
	assert_int_equal(c->resolver.recheck_interval_ms, 3600000);
	assert_int_equal(c->resolver.negative_ttl_ms, 300000);
	assert_int_equal(c->resolver.tempfail_ttl_ms, 60000);
	assert_int_equal(c->resolver.refresh_before_ms, 86400000);
	assert_int_equal(c->resolver.refresh_concurrency, 16);
	assert_int_equal(c->resolver.n_zones, 1);
	assert_string_equal(c->resolver.zones[0].name, "postfix");
	assert_string_equal(c->resolver.default_zone, "postfix");
	assert_int_equal(c->resolver.zones[0].strict_testing, 0);
	assert_int_equal(c->resolver.zones[0].timeout_ms, 5000);
	assert_int_equal(c->resolver.zones[0].require_sni, 1);
	assert_int_equal(c->resolver.zones[0].tlsrpt, 0);
	assert_int_equal(c->resolver.zones[0].dane, 1);
	/* publisher */
	assert_int_equal(c->publisher.n_listen, 2);
	assert_string_equal(c->publisher.listen[0].address, "0.0.0.0:443");
	assert_string_equal(c->publisher.listen[1].address, "[::]:443");
	assert_string_equal(c->publisher.listen[1].host, "::");
	assert_int_equal(c->publisher.listen[1].port, 443);
	assert_int_equal(c->publisher.n_http_listen, 2);
	assert_string_equal(c->publisher.http_listen[0].address, "0.0.0.0:80");
	assert_string_equal(c->publisher.http_listen[1].address, "[::]:80");
	assert_string_equal(c->publisher.tls_priority,
	                    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
	assert_int_equal(c->publisher.cache_control_max_age_s, 86400);
	assert_null(c->publisher.acme_webroot);
	assert_int_equal(c->publisher.max_connections, 4096);
	assert_int_equal(c->publisher.max_connections_per_address, 64);
	assert_int_equal(c->publisher.connection_timeout_ms, 30000);
	assert_int_equal(c->publisher.n_domains, 0);
	/* cache */
	assert_int_equal(c->cache.backend, CFG_CACHE_MEMORY);
	assert_int_equal(c->cache.max_entries, 100000);
	assert_string_equal(c->cache.redis_address, "127.0.0.1:6379");
	assert_int_equal(c->cache.redis_db, 0);
	assert_null(c->cache.redis_username);
	assert_null(c->cache.redis_password);
	assert_string_equal(c->cache.redis_prefix, "mtastsd");
	assert_int_equal(c->cache.redis_connect_timeout_ms, 2000);
	assert_int_equal(c->cache.redis_command_timeout_ms, 500);
	assert_int_equal(c->cache.n_sentinels, 0);
	assert_null(c->cache.sentinel_master);
	/* admin */
	assert_int_equal(c->admin.enabled, 1);
	assert_string_equal(c->admin.listen.address, "127.0.0.1:8462");
	assert_int_equal(c->admin.listen.port, 8462);
	assert_null(c->admin.token);
	assert_int_equal(c->admin.n_allowed_hosts, 0);
	assert_null(c->admin.allowed_hosts);
}

static void
test_defaults(void **state)
{
	struct cfg *c = cfg_defaults();

	(void)state;
	assert_defaults(c);
	assert_null(c->path);
	/* the embedded defaults are the quick start, run as root */
	assert_int_equal(c->process.allow_root, 1);
	assert_null(cfg_free(c));
	assert_null(cfg_free(NULL));
}

static void
test_empty_file(void **state)
{
	struct cfg *c = load_ok(CFG_DIR "/good-empty.conf");

	(void)state;
	assert_defaults(c);
	assert_string_equal(c->path, CFG_DIR "/good-empty.conf");
	/* a config file does not allow root unless it says so */
	assert_int_equal(c->process.allow_root, 0);
	cfg_free(c);
}

/* etc/mtastsd.conf says "the values written below ARE the defaults": hold it to that. */
static void
test_example_config(void **state)
{
	struct cfg *c = load_ok(EXAMPLE_CONF);

	(void)state;
	assert_defaults(c);
	assert_int_equal(c->process.allow_root, 0);
	cfg_free(c);
}

/* ---- every key set ---- */

static void
test_full(void **state)
{
	struct cfg *c = load_ok(CFG_DIR "/good-full.conf");
	const struct cfg_resolver *r = &c->resolver;
	const struct cfg_publisher *p = &c->publisher;
	const struct cfg_domain *d;

	(void)state;
	assert_string_equal(c->process.user, "nobody");
	assert_string_equal(c->process.group, "nogroup");
	assert_int_equal(c->process.allow_root, 0);
	assert_int_equal(c->process.verbosity, 2);
	assert_int_equal(c->process.shutdown_timeout_ms, 1500);
	assert_string_equal(c->process.state_directory, CFG_DIR "/state"); /* relative */

	assert_int_equal(r->enabled, 1);
	assert_int_equal(r->n_listen, 3);
	assert_string_equal(r->listen[0].host, "127.0.0.1");
	assert_int_equal(r->listen[0].port, 18461);
	assert_string_equal(r->listen[1].address, "[::1]:18461");
	assert_string_equal(r->listen[1].host, "::1");
	assert_int_equal(r->listen[1].port, 18461);
	assert_null(r->listen[2].address);
	assert_string_equal(r->listen[2].path, "/run/mtastsd/sm.sock");
	assert_int_equal(r->listen[2].mode, 0600);
	assert_string_equal(r->listen[2].owner, "mtastsd");
	assert_string_equal(r->listen[2].group, "postfix");
	assert_int_equal(r->max_connections, 10);
	assert_int_equal(r->idle_timeout_ms, 90000); /* integer = seconds */
	assert_int_equal(r->n_dns_servers, 3);
	assert_string_equal(r->dns_servers[0], "127.0.0.1@5353");
	assert_string_equal(r->dns_servers[1], "[::1]:53");
	assert_string_equal(r->dns_servers[2], "192.0.2.53");
	assert_int_equal(r->dns_timeout_ms, 250);
	assert_int_equal(r->dns_attempts, 3);
	assert_int_equal(r->fetch_timeout_ms, 120000);
	assert_int_equal(r->fetch_max_body, 4096);
	assert_int_equal(r->fetch_concurrency, 8);
	/* relative paths are taken from the config file's directory */
	assert_string_equal(r->ca_file, CFG_DIR "/dummy-cert.pem");
	assert_string_equal(r->connect_to, "127.0.0.1:8443");
	assert_int_equal(r->recheck_interval_ms, 7200000);
	assert_int_equal(r->negative_ttl_ms, 30000);
	assert_int_equal(r->tempfail_ttl_ms, 10000);
	assert_int_equal(r->refresh_before_ms, 3ULL * 86400000);
	assert_int_equal(r->refresh_concurrency, 4);
	/* the default zone is moved to zones[0] */
	assert_int_equal(r->n_zones, 2);
	assert_string_equal(r->default_zone, "strict");
	assert_string_equal(r->zones[0].name, "strict");
	assert_int_equal(r->zones[0].strict_testing, 1);
	assert_int_equal(r->zones[0].timeout_ms, 2000);
	assert_int_equal(r->zones[0].require_sni, 0);
	assert_int_equal(r->zones[0].tlsrpt, 1);
	assert_int_equal(r->zones[0].dane, 0);
	assert_string_equal(r->zones[1].name, "postfix");
	assert_int_equal(r->zones[1].strict_testing, 0);
	assert_int_equal(r->zones[1].timeout_ms, 5000);
	assert_int_equal(r->zones[1].require_sni, 1);
	assert_int_equal(r->zones[1].dane, 1);

	assert_int_equal(p->n_listen, 1);
	assert_string_equal(p->listen[0].address, "0.0.0.0:8443");
	assert_int_equal(p->n_http_listen, 0);
	assert_string_equal(p->tls_priority, "NORMAL:-VERS-TLS1.1:-VERS-TLS1.0");
	assert_int_equal(p->cache_control_max_age_s, 3600);
	assert_string_equal(p->acme_webroot, CFG_DIR "/.");
	assert_int_equal(p->max_connections, 5);
	assert_int_equal(p->connection_timeout_ms, 5000);
	assert_int_equal(p->n_domains, 2);
	d = &p->domains[0];
	assert_string_equal(d->domain, "example.com");
	assert_int_equal(d->policy.mode, STS_MODE_ENFORCE);
	assert_int_equal(d->policy.max_age_s, 604800);
	assert_int_equal(d->policy.n_mx, 2);
	assert_string_equal(d->policy.mx[0], "mx1.example.com");
	assert_string_equal(d->policy.mx[1], "*.mx.example.net");
	assert_string_equal(d->id, "20240101T000000");
	assert_string_equal(d->cert_file, CFG_DIR "/dummy-cert.pem");
	assert_string_equal(d->key_file, CFG_DIR "/dummy-key.pem");
	assert_string_equal(d->tlsrpt_rua, "mailto:tlsrpt@example.com,https://rua.example.com/v1");
	d = &p->domains[1];
	assert_string_equal(d->domain, "xn--bcher-kva.example");
	assert_int_equal(d->policy.mode, STS_MODE_NONE);
	assert_int_equal(d->policy.max_age_s, 86400);
	assert_int_equal(d->policy.n_mx, 0);
	assert_null(d->id);
	assert_null(d->tlsrpt_rua);

	assert_int_equal(c->cache.backend, CFG_CACHE_REDIS); /* "valkey" */
	assert_int_equal(c->cache.max_entries, 50);
	assert_string_equal(c->cache.redis_address, "unix:/run/valkey/valkey.sock");
	assert_int_equal(c->cache.redis_db, 3);
	assert_string_equal(c->cache.redis_username, "mtastsd");
	assert_string_equal(c->cache.redis_password, "secret");
	assert_string_equal(c->cache.redis_prefix, "mt");
	assert_int_equal(c->cache.redis_connect_timeout_ms, 1000);
	assert_int_equal(c->cache.redis_command_timeout_ms, 100);
	assert_int_equal(c->cache.n_sentinels, 2);
	assert_string_equal(c->cache.sentinels[1], "sentinel.example:26379");
	assert_string_equal(c->cache.sentinel_master, "mymaster");

	assert_int_equal(c->admin.enabled, 0);
	assert_null(c->admin.listen.address);
	assert_string_equal(c->admin.listen.path, "/run/mtastsd/admin.sock");
	assert_int_equal(c->admin.listen.mode, 0660);
	assert_string_equal(c->admin.token, "s3cret");
	assert_int_equal(c->admin.n_allowed_hosts, 4);
	assert_string_equal(c->admin.allowed_hosts[0], "admin.example.net");
	assert_string_equal(c->admin.allowed_hosts[3], "[2001:db8::7]");
	cfg_free(c);
}

/* A relative config path still yields absolute file paths (a later chdir cannot break them). */
static void
test_relative_config_path(void **state)
{
	char *cwd = getcwd(NULL, 0), *dir = realpath(CFG_DIR, NULL), want[1024];
	struct cfg *c;

	(void)state;
	assert_non_null(cwd);
	assert_non_null(dir);
	assert_int_equal(chdir(CFG_DIR), 0);
	c = load_ok("good-full.conf");
	assert_int_equal(chdir(cwd), 0);
	(void)snprintf(want, sizeof(want), "%s/dummy-cert.pem", dir);
	assert_string_equal(c->resolver.ca_file, want);
	assert_string_equal(c->publisher.domains[0].cert_file, want);
	assert_string_equal(c->path, "good-full.conf");
	cfg_free(c);
	free(cwd);
	free(dir);
}

static void
test_zone_find(void **state)
{
	struct cfg *c = load_ok(CFG_DIR "/good-full.conf");
	const struct cfg_resolver *r = &c->resolver;

	(void)state;
	assert_ptr_equal(cfg_zone_find(r, "postfix", 7), &r->zones[1]);
	assert_ptr_equal(cfg_zone_find(r, "strict", 6), &r->zones[0]);
	/* namelen bounds the name: "postfix" inside a longer buffer */
	assert_ptr_equal(cfg_zone_find(r, "postfix example.com", 7), &r->zones[1]);
	/* unknown names and prefixes get the default zone */
	assert_ptr_equal(cfg_zone_find(r, "post", 4), &r->zones[0]);
	assert_ptr_equal(cfg_zone_find(r, "postfixx", 8), &r->zones[0]);
	assert_ptr_equal(cfg_zone_find(r, "", 0), &r->zones[0]);
	cfg_free(c);

	c = cfg_defaults();
	assert_string_equal(cfg_zone_find(&c->resolver, "anything", 8)->name, "postfix");
	cfg_free(c);
}

/* ---- durations ---- */

static void
test_durations(void **state)
{
	static const struct {
		const char *value;
		uint64_t ms;
	} ok[] = {
	        {"0", 0},
	        {"45", 45000},
	        {"\"0\"", 0},
	        {"\"45\"", 45000},
	        {"\"500ms\"", 500},
	        {"\"30s\"", 30000},
	        {"\"5m\"", 300000},
	        {"\"2h\"", 7200000},
	        {"\"7d\"", 604800000},
	        {"\"30d\"", 2592000000ULL},
	        {"86400L", 86400000},
	};
	static const struct {
		const char *value;
		const char *reason;
	} bad[] = {
	        {"\"31d\"", "value 31d above maximum 30d"},
	        {"2592001", "value 2592001 above maximum 30d"},
	        {"-1", "value -1 below minimum 0ms"},
	        {"\"-5s\"", "bad duration '-5s': expected a number followed by ms, s, m, h or d"},
	        {"\"\"", "bad duration '': expected a number"},
	        {"\"5 s\"", "bad duration '5 s': no space between the number and the unit"},
	        {"\"5S\"", "bad duration '5S': unknown unit"},
	        {"\"1w\"", "bad duration '1w': unknown unit"},
	        {"\"1h30m\"", "bad duration '1h30m': one unit only"},
	        {"\"1.5s\"", "bad duration '1.5s': no fractions"},
	        {"\"99999999999999999999d\"", "too large"},
	        {"1.5",
	         "expected a duration (integer seconds or a string such as \"30s\"), got a float"},
	        {"true", "got a boolean"},
	};
	char text[256], err[1024], path[32];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		(void)snprintf(text, sizeof(text), "resolver = {\n refresh_before = %s;\n};\n",
		               ok[i].value);
		c = NULL;
		if (load_text(text, &c, err, sizeof(err), path) != 0)
			fail_msg("%s: %s", ok[i].value, err);
		assert_int_equal(c->resolver.refresh_before_ms, ok[i].ms);
		cfg_free(c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		(void)snprintf(text, sizeof(text), "resolver = {\n refresh_before = %s;\n};\n",
		               bad[i].value);
		c = NULL;
		assert_int_equal(load_text(text, &c, err, sizeof(err), path), ERR_CONFIG);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:2: resolver.refresh_before: ", path);
		if (strncmp(err, want, strlen(want)) != 0 || strstr(err, bad[i].reason) == NULL)
			fail_msg("%s: got '%s', want '%s' + '...%s'", bad[i].value, err, want,
			         bad[i].reason);
	}
}

/* A duration stored in whole seconds refuses a fraction of a second. */
static void
test_seconds_only(void **state)
{
	char err[1024], path[32], want[160];
	struct cfg *c = NULL;

	(void)state;
	assert_int_equal(load_text("publisher = {\n\tcache_control_max_age = \"1500ms\";\n};\n", &c,
	                           err, sizeof(err), path),
	                 ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:2: publisher.cache_control_max_age: value 1500ms is not a whole number "
	               "of seconds",
	               path);
	assert_string_equal(err, want);
}

/* ---- errors that need no fixture file ---- */

static void
test_missing_file(void **state)
{
	struct cfg *c = NULL;
	char err[1024];

	(void)state;
	assert_int_equal(cfg_load(CFG_DIR "/no-such-file.conf", &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err,
	                    CFG_DIR "/no-such-file.conf: cannot read: No such file or directory");
}

static void
test_listen_group_unknown_key(void **state)
{
	char err[1024], path[32], want[160];
	struct cfg *c = NULL;

	(void)state;
	assert_int_equal(load_text("resolver = {\n listen = ( \"127.0.0.1:1\",\n"
	                           "  { path = \"/run/x.sock\";\n    perms = \"0600\"; } );\n};\n",
	                           &c, err, sizeof(err), path),
	                 ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s:4: resolver.listen[1].perms: unknown key", path);
	assert_string_equal(err, want);
	assert_int_equal(load_text("resolver = {\n listen = ( { mode = \"0600\"; } );\n};\n", &c,
	                           err, sizeof(err), path),
	                 ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s:2: resolver.listen[0].path: missing required key",
	               path);
	assert_string_equal(err, want);
	assert_int_equal(load_text("admin = {\n listen = \"127.0.0.1:8462\";\n};\n"
	                           "resolver = {\n listen = ( \"[::1]:1\", \"[::1]:1\" );\n};\n",
	                           &c, err, sizeof(err), path),
	                 ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s:5: resolver.listen[1]: duplicate listen address",
	               path);
	assert_string_equal(err, want);
	assert_null(c);
}

/* libconfig reports a duplicate setting by line only: the message names the setting. */
static void
test_duplicate_setting_named(void **state)
{
	char err[1024], path[64], want[1024];
	struct cfg *c = NULL;

	(void)state;
	/* both on one line */
	assert_int_equal(load_text("resolver = {\n zones = ( { name = \"a\"; tlsrpt = true; name = "
	                           "\"b\"; } );\n};\n",
	                           &c, err, sizeof(err), path),
	                 ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:2: duplicate setting 'name' (a key may be set once in its group)", path);
	assert_string_equal(err, want);
	/* a line that sets two keys, one of them a second time */
	assert_int_equal(
	        load_text("resolver = {\n dns_timeout = 1;\n dns_attempts = 2; dns_timeout "
	                  "= 3; # dns_attempts = 4;\n};\n",
	                  &c, err, sizeof(err), path),
	        ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:3: duplicate setting: one of 'dns_attempts', 'dns_timeout' is set twice "
	               "in its group",
	               path);
	assert_string_equal(err, want);
	/* names inside strings and comments do not count; ':' works like '=' */
	assert_int_equal(
	        load_text("admin = {\n token = \"x = 1\";\n token : \"a\"; /* token = 2 */\n};\n",
	                  &c, err, sizeof(err), path),
	        ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:3: duplicate setting 'token' (a key may be set once in its group)",
	               path);
	assert_string_equal(err, want);
	assert_null(c);
}

/* A combined PEM file (certificate chain and key) may be both cert and key. */
static void
test_combined_pem(void **state)
{
	char err[1024] = "";
	struct cfg *c = NULL;

	(void)state;
	assert_int_equal(load_text("publisher = { domains = ( { domain = \"example.com\"; mode = "
	                           "\"none\"; cert = \"" CFG_DIR
	                           "/dummy-combined.pem\"; key = \"" CFG_DIR
	                           "/dummy-combined.pem\"; } ); };\n",
	                           &c, err, sizeof(err), NULL),
	                 0);
	assert_string_equal(err, "");
	assert_non_null(c);
	assert_string_equal(c->publisher.domains[0].key_file, CFG_DIR "/dummy-combined.pem");
	cfg_free(c);
}

/* cert = "acme": the acme group is required, with terms_agreed; the files are under the
 * state directory; no key; a domain without files uses ACME when the group exists. */
static void
test_acme(void **state)
{
	static const char dom[] = "publisher = { domains = ( { domain = \"Example.COM\"; mode = "
	                          "\"none\"; cert = \"acme\"; } ); };\n";
	char err[1024] = "", text[2048];
	struct cfg *c = NULL;

	(void)state;
	/* no acme group */
	assert_int_equal(load_text(dom, &c, err, sizeof(err), NULL), ERR_CONFIG);
	assert_non_null(strstr(err, "publisher.domains[0].cert: cert = \"acme\" needs an acme"));
	/* terms not agreed */
	(void)snprintf(text, sizeof(text), "%sacme = { contact = \"mailto:a@example.com\"; };\n",
	               dom);
	assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), ERR_CONFIG);
	assert_non_null(strstr(err, "acme.terms_agreed: must be true"));
	/* contact that is not mailto:, half an EAB */
	(void)snprintf(text, sizeof(text),
	               "%sacme = { terms_agreed = true; contact = \"a@b\"; };\n", dom);
	assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), ERR_CONFIG);
	assert_non_null(strstr(err, "acme.contact"));
	(void)snprintf(text, sizeof(text), "%sacme = { terms_agreed = true; eab_kid = \"k\"; };\n",
	               dom);
	assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), ERR_CONFIG);
	assert_non_null(strstr(err, "eab_kid and eab_hmac_key go together"));
	/* a key with cert = "acme" */
	assert_int_equal(load_text("publisher = { domains = ( { domain = \"example.com\"; mode = "
	                           "\"none\"; cert = \"acme\"; key = \"" CFG_DIR
	                           "/dummy-combined.pem\"; } ); };\nacme = { terms_agreed = "
	                           "true; };\n",
	                           &c, err, sizeof(err), NULL),
	                 ERR_CONFIG);
	assert_non_null(strstr(err, "takes no key"));
	/* accepted: defaults, paths under the state directory */
	(void)snprintf(text, sizeof(text),
	               "process = { state_directory = \"/var/lib/x\"; };\n%sacme = { "
	               "terms_agreed = true; };\n",
	               dom);
	assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), 0);
	assert_true(c->acme.enabled);
	assert_true(c->publisher.domains[0].acme);
	assert_string_equal(c->acme.directory, CFG_ACME_DIRECTORY_DEFAULT);
	assert_int_equal(c->acme.key_type, CFG_ACME_KEY_ECDSA_P256);
	assert_int_equal(c->acme.challenge, CFG_ACME_HTTP_01);
	assert_int_equal(c->acme.retry_min_ms, 60000);
	assert_string_equal(c->publisher.domains[0].cert_file,
	                    "/var/lib/x/acme/mta-sts.example.com/fullchain.pem");
	assert_string_equal(c->publisher.domains[0].key_file,
	                    "/var/lib/x/acme/mta-sts.example.com/key.pem");
	cfg_free(c);
	c = NULL;
	/* no cert and no key: ACME when the group exists, else an error */
	assert_int_equal(load_text("publisher = { domains = ( { domain = \"example.com\"; mode = "
	                           "\"none\"; } ); };\nacme = { terms_agreed = true; };\n",
	                           &c, err, sizeof(err), NULL),
	                 0);
	assert_true(c->publisher.domains[0].acme);
	cfg_free(c);
	c = NULL;
	assert_int_equal(load_text("publisher = { domains = ( { domain = \"example.com\"; mode = "
	                           "\"none\"; } ); };\n",
	                           &c, err, sizeof(err), NULL),
	                 ERR_CONFIG);
	assert_non_null(strstr(err, "publisher.domains[0].cert: required"));
	/* http-01 needs a port 80 listener */
	assert_int_equal(load_text("publisher = { http_listen = []; domains = ( { domain = "
	                           "\"example.com\"; mode = \"none\"; cert = \"acme\"; } ); };\n"
	                           "acme = { terms_agreed = true; };\n",
	                           &c, err, sizeof(err), NULL),
	                 ERR_CONFIG);
	assert_non_null(strstr(err, "publisher.http_listen: is empty"));
}

/* The admin endpoint without a token is fine on loopback (127/8, ::1), a unix socket, or
 * when disabled; a token allows any address. */
static void
test_admin_token_rule(void **state)
{
	static const char *const ok[] = {
	        "admin = { listen = \"127.0.0.2:8462\"; };\n",
	        "admin = { listen = \"[::1]:8462\"; };\n",
	        "admin = { listen = { path = \"/run/mtastsd/admin.sock\"; }; };\n",
	        "admin = { enabled = false; listen = \"0.0.0.0:8462\"; };\n",
	        "admin = { listen = \"0.0.0.0:8462\"; token = \"t\"; };\n",
	};
	char err[1024], path[64], want[1024];
	struct cfg *c = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err[0] = '\0';
		if (load_text(ok[i], &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
		c = cfg_free(c);
	}
	assert_int_equal(
	        load_text("admin = {\n listen = \"[::]:8462\";\n};\n", &c, err, sizeof(err), path),
	        ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:2: admin.listen: [::]:8462 is not a loopback address and admin.token is "
	               "unset: refusing to expose the admin endpoint",
	               path);
	assert_string_equal(err, want);
	assert_null(c);
}

/* ---- integers libconfig 1.5 cannot hold (it wraps them silently) ---- */

#define WRAP32 "libconfig reads an integer without an L suffix as 32 bits and would wrap it"
#define HOLD64 "libconfig reads an integer with an L suffix as 64 bits and cannot hold it"

static void
test_integer_range(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "PATH:" */
	} bad[] = {
	        /* the trial: read as 1, 1215752191, -1, 2 s and 0 */
	        {"resolver = {\n max_connections = 4294967297;\n};\n",
	         "2: integer 4294967297 above maximum 2147483647: " WRAP32},
	        {"resolver = {\n max_connections = 99999999999;\n};\n",
	         "2: integer 99999999999 above maximum 2147483647: " WRAP32},
	        {"resolver = {\n max_connections = 9223372036854775807;\n};\n",
	         "2: integer 9223372036854775807 above maximum 2147483647: " WRAP32},
	        {"resolver = {\n dns_timeout = 4294967298;\n};\n",
	         "2: integer 4294967298 above maximum 2147483647: " WRAP32},
	        {"process = { verbosity = 4294967296; };\n",
	         "1: integer 4294967296 above maximum 2147483647: " WRAP32},
	        /* the edges, signs and hex */
	        {"resolver = { max_connections = 2147483648; };\n",
	         "1: integer 2147483648 above maximum 2147483647: " WRAP32},
	        {"resolver = { max_connections = +2147483648; };\n",
	         "1: integer +2147483648 above maximum 2147483647: " WRAP32},
	        {"resolver = { max_connections = -2147483649; };\n",
	         "1: integer -2147483649 below minimum -2147483648: " WRAP32},
	        {"resolver = { max_connections = 0x80000000; };\n",
	         "1: integer 0x80000000 above maximum 2147483647: " WRAP32},
	        {"resolver = { max_connections = 0XFFFFFFFF; };\n",
	         "1: integer 0XFFFFFFFF above maximum 2147483647: " WRAP32},
	        {"resolver = { max_connections = 0x0000100000001; };\n",
	         "1: integer 0x0000100000001 above maximum 2147483647: " WRAP32},
	        /* with the L suffix: 64 bits, no more */
	        {"resolver = { max_connections = 9223372036854775808L; };\n",
	         "1: integer 9223372036854775808L above maximum 9223372036854775807: " HOLD64},
	        {"resolver = { max_connections = -9223372036854775809LL; };\n",
	         "1: integer -9223372036854775809LL below minimum -9223372036854775808: " HOLD64},
	        {"resolver = { max_connections = 0x8000000000000000L; };\n",
	         "1: integer 0x8000000000000000L above maximum 9223372036854775807: " HOLD64},
	        /* a long literal is cut in the message */
	        {"resolver = { max_connections = 123456789012345678901234567890123456789012345; "
	         "};\n",
	         "1: integer 1234567890123456789012345678901234567890... above maximum "
	         "2147483647: " WRAP32},
	        /* in a list, a group in a list, and after strings and comments over lines */
	        {"resolver = { dns_servers = [ \"1.2.3.4\" ]; zones = ( { name = \"a\"; },\n"
	         " { name = \"b\"; timeout = 4294967297; } ); };\n",
	         "2: integer 4294967297 above maximum 2147483647: " WRAP32},
	        {"/* 99999999999\n 99999999999 */ # 99999999999\n// 99999999999\n"
	         "admin = { token = \"a\\\"99999999999\n99999999999\\\\\"; };\n"
	         "resolver = { max_connections = 2147483648; };\n",
	         "6: integer 2147483648 above maximum 2147483647: " WRAP32},
	        /* not integers: floats go to the key's own type check */
	        {"resolver = {\n refresh_before = 1e10;\n};\n",
	         "2: resolver.refresh_before: expected a duration (integer seconds or a string "
	         "such as \"30s\"), got a float"},
	        {"resolver = {\n refresh_before = 99999999999.5;\n};\n",
	         "2: resolver.refresh_before: expected a duration (integer seconds or a string "
	         "such as \"30s\"), got a float"},
	        /* digits in a name are part of the name */
	        {"a-99999999999 = 1;\n", "1: a-99999999999: unknown key"},
	        /* values that fit go to the key's range check, as written */
	        {"resolver = {\n max_connections = 2147483647;\n};\n",
	         "2: resolver.max_connections: value 2147483647 above maximum 65536"},
	        {"resolver = {\n max_connections = 4294967297L;\n};\n",
	         "2: resolver.max_connections: value 4294967297 above maximum 65536"},
	        {"resolver = {\n max_connections = -2147483648;\n};\n",
	         "2: resolver.max_connections: value -2147483648 below minimum 1"},
	        {"resolver = {\n dns_timeout = 4294967298L;\n};\n",
	         "2: resolver.dns_timeout: value 4294967298 above maximum 30s"},
	};
	static const struct {
		const char *text;
		unsigned max_connections;
		const char *token;
	} ok[] = {
	        {"resolver = { max_connections = 5L; };\n", 5, NULL},
	        {"resolver = { max_connections = 65536LL; };\n", 65536, NULL},
	        {"resolver = { max_connections = 0x10; };\n", 16, NULL},
	        {"resolver = { max_connections = 0x10L; };\n", 16, NULL},
	        {"resolver = { max_connections = +00000000000000000000000042; };\n", 42, NULL},
	        /* numbers in strings, adjacent strings and comments are not integers */
	        {"admin = { token = \"99999999999\"; }; # 99999999999\n", 1024, "99999999999"},
	        {"admin = { token = \"1\" \"99999999999\"; }; // 4294967297\n", 1024,
	         "199999999999"},
	        {"/* 4294967297 */ admin = { token = \"x\\\\\"; /* \" 4294967297 */ };\n", 1024,
	         "x\\"},
	};
	char err[1024], path[32], want[1024];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(bad[i].text, &c, err, sizeof(err), path) != ERR_CONFIG)
			fail_msg("'%s' accepted", bad[i].text);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		if (strcmp(err, want) != 0)
			fail_msg("'%s':\n got '%s'\nwant '%s'", bad[i].text, err, want);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(ok[i].text, &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i].text, err);
		assert_int_equal(c->resolver.max_connections, ok[i].max_connections);
		if (ok[i].token != NULL)
			assert_string_equal(c->admin.token, ok[i].token);
		cfg_free(c);
	}
}

/* libconfig reads included files too: their integers are checked where they are written. */
static void
test_integer_range_include(void **state)
{
	struct cfg *c = NULL;
	char err[1024];

	(void)state;
	assert_int_equal(cfg_load(CFG_DIR "/inc-int-range.conf", &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, CFG_DIR "/inc-int-range-part.conf:3: integer 4294967298 above "
	                                 "maximum 2147483647: " WRAP32);
}

/* ---- the file itself: a regular file of bounded size ---- */

/* Write text to dir/name; returns the path in out. */
static void
write_file(const char *dir, const char *name, const char *text, char *out, size_t outlen)
{
	FILE *f;

	(void)snprintf(out, outlen, "%s/%s", dir, name);
	f = fopen(out, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
test_file_kind(void **state)
{
	char dir[] = "/tmp/test_cfg_dir.XXXXXX", fifo[256], big[256], mid[256], conf[256],
	     link[256], text[600], err[1024], want[1024];
	struct cfg *c = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* /dev/zero and a FIFO were read forever; a directory, /dev/null too are refused */
	assert_int_equal(cfg_load("/dev/zero", &c, err, sizeof(err)), ERR_CONFIG);
	assert_string_equal(err, "/dev/zero: cannot read: not a regular file (a character device)");
	assert_int_equal(cfg_load("/dev/null", &c, err, sizeof(err)), ERR_CONFIG);
	assert_string_equal(err, "/dev/null: cannot read: not a regular file (a character device)");
	(void)snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(cfg_load(fifo, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s: cannot read: not a regular file (a FIFO)", fifo);
	assert_string_equal(err, want);
	assert_int_equal(cfg_load(dir, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s: cannot read: not a regular file (a directory)",
	               dir);
	assert_string_equal(err, want);
	/* ... and so is an @include of a FIFO (libconfig would block on it) */
	write_file(dir, "inc-fifo.conf", "process = { verbosity = 1; };\n@include \"fifo\"\n", conf,
	           sizeof(conf));
	assert_int_equal(cfg_load(conf, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s:2: @include: '%s' is not a regular file", conf,
	               fifo);
	assert_string_equal(err, want);
	/* a symbolic link to a regular file is followed */
	(void)snprintf(link, sizeof(link), "%s/link.conf", dir);
	assert_int_equal(symlink(CFG_DIR "/good-empty.conf", link), 0);
	assert_int_equal(cfg_load(link, &c, err, sizeof(err)), 0);
	c = cfg_free(c);
	/* at most CFG_FILE_MAX bytes, the main file and its included files together */
	write_file(dir, "big.conf", "", big, sizeof(big));
	assert_int_equal(truncate(big, CFG_FILE_MAX + 1), 0);
	assert_int_equal(cfg_load(big, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s: too large (more than %d bytes)", big, CFG_FILE_MAX);
	assert_string_equal(err, want);
	write_file(dir, "mid.conf", "", mid, sizeof(mid));
	assert_int_equal(truncate(mid, CFG_FILE_MAX / 2), 0);
	(void)snprintf(text, sizeof(text), "@include \"mid.conf\"\n@include \"mid.conf\"\n");
	write_file(dir, "twice.conf", text, conf, sizeof(conf));
	assert_int_equal(cfg_load(conf, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:2: @include: '%s' makes the configuration too large (more than %d bytes "
	               "with its included files)",
	               conf, mid, CFG_FILE_MAX);
	assert_string_equal(err, want);
	assert_null(c);
	/* fuzz_cfg_include finding 11: libconfig 1.5 opens <dir>/<path> for an absolute path
	 * too, and unescapes a backslash its own way; the check looked at another file, so an
	 * include that is a directory for libconfig got through to its exit(2) */
	(void)snprintf(text, sizeof(text), "@include \"%s\"\n", mid);
	write_file(dir, "abs.conf", text, conf, sizeof(conf));
	assert_int_equal(cfg_load(conf, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want),
	               "%s:1: @include: absolute path: libconfig reads it inside %s; write it "
	               "relative to that directory",
	               conf, dir);
	assert_string_equal(err, want);
	(void)unlink(conf);
	write_file(dir, "bs.conf", "@include \"mi\\\\d.conf\"\n", conf, sizeof(conf));
	assert_int_equal(cfg_load(conf, &c, err, sizeof(err)), ERR_CONFIG);
	(void)snprintf(want, sizeof(want), "%s:1: @include: backslash in the path (not supported)",
	               conf);
	assert_string_equal(err, want);
	assert_null(c);
	(void)unlink(conf);
	(void)snprintf(conf, sizeof(conf), "%s/twice.conf", dir);
	(void)unlink(conf);
	(void)unlink(mid);
	(void)unlink(big);
	(void)unlink(link);
	(void)snprintf(conf, sizeof(conf), "%s/inc-fifo.conf", dir);
	(void)unlink(conf);
	(void)unlink(fifo);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- listeners: two of this process never bind the same address and port ---- */

#define DOMAIN_NONE                                                                                \
	"domains = ( { domain = \"example.com\"; mode = \"none\"; cert = \"" CFG_DIR               \
	"/dummy-combined.pem\"; key = \"" CFG_DIR "/dummy-combined.pem\"; } );"
#define SAME "two listeners cannot bind the same address and port"
#define WILD                                                                                       \
	"a wildcard address takes the port on every local address of its family, so both "         \
	"cannot bind"

static void
test_listen_clash(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "PATH:" */
	} bad[] = {
	        /* the trial: the publisher on the resolver's (default) address */
	        {"publisher = {\n listen = \"127.0.0.1:8461\";\n http_listen = ( );\n " DOMAIN_NONE
	         "\n};\n",
	         "2: publisher.listen: 127.0.0.1:8461 is also resolver.listen (127.0.0.1:8461, the "
	         "default): " SAME},
	        {"publisher = {\n http_listen = ( \"127.0.0.1:80\", \"127.0.0.1:8462\" );\n"
	         " " DOMAIN_NONE "\n};\n",
	         "2: publisher.http_listen[1]: 127.0.0.1:8462 is also admin.listen "
	         "(127.0.0.1:8462, "
	         "the default): " SAME},
	        /* both written: reported at the later key (resolver, publisher, admin) */
	        {"admin = { listen = \"127.0.0.1:8462\"; };\nresolver = {\n listen = ( "
	         "\"127.0.0.1:1\",\n \"127.0.0.1:8462\" );\n};\n",
	         "1: admin.listen: 127.0.0.1:8462 is also resolver.listen[1] "
	         "(127.0.0.1:8462): " SAME},
	        /* the same address written two ways, in one list */
	        {"resolver = {\n listen = ( \"[::1]:1\",\n \"[0:0::1]:1\" );\n};\n",
	         "3: resolver.listen[1]: [0:0::1]:1 is also resolver.listen[0] ([::1]:1): " SAME},
	        /* a wildcard address holds the port on every address */
	        {"resolver = {\n listen = \"0.0.0.0:8462\";\n};\n",
	         "2: resolver.listen: 0.0.0.0:8462 overlaps admin.listen (127.0.0.1:8462, the "
	         "default): " WILD},
	        {"publisher = {\n listen = ( \"[::]:443\", \"[2001:db8::1]:443\" );\n " DOMAIN_NONE
	         "\n};\n",
	         "2: publisher.listen[1]: [2001:db8::1]:443 overlaps publisher.listen[0] "
	         "([::]:443): " WILD},
	        {"publisher = {\n listen = \"127.0.0.1:80\";\n " DOMAIN_NONE "\n};\n",
	         "2: publisher.listen: 127.0.0.1:80 overlaps publisher.http_listen[0] (0.0.0.0:80, "
	         "the default): " WILD},
	        /* one unix socket path, written both ways */
	        {"resolver = {\n listen = ( { path = \"/run/m/s\"; } );\n};\n"
	         "admin = {\n listen = \"unix:/run/m/s\";\n};\n",
	         "5: admin.listen: unix socket /run/m/s is also resolver.listen[0]: two listeners "
	         "cannot share a socket path"},
	        /* the trial: one path written differently is one socket (compared normalised) */
	        {"resolver = { listen = [ \"unix:/tmp/tw/s1\" ]; };\nadmin = { listen = "
	         "\"unix:/tmp/tw//s1\"; };\n",
	         "2: admin.listen: unix socket /tmp/tw//s1 is also resolver.listen[0] "
	         "(/tmp/tw/s1): "
	         "two listeners cannot share a socket path"},
	        {"resolver = { listen = [ \"unix:/tmp/tw/s1\" ]; };\nadmin = { listen = "
	         "\"unix:/tmp/tw/./s1\"; };\n",
	         "2: admin.listen: unix socket /tmp/tw/./s1 is also resolver.listen[0] "
	         "(/tmp/tw/s1): "
	         "two listeners cannot share a socket path"},
	        {"resolver = { listen = [ \"unix:/tmp/tw/s1\" ]; };\nadmin = { listen = "
	         "\"unix:/tmp/../tmp/tw/s1\"; };\n",
	         "2: admin.listen: unix socket /tmp/../tmp/tw/s1 is also resolver.listen[0] "
	         "(/tmp/tw/s1): two listeners cannot share a socket path"},
	        {"resolver = { listen = [ \"unix:/tmp/tw/s1\" ]; };\nadmin = { listen = "
	         "\"unix:/tmp/tw/s1/\"; };\n",
	         "2: admin.listen: unix socket /tmp/tw/s1/ is also resolver.listen[0] "
	         "(/tmp/tw/s1): "
	         "two listeners cannot share a socket path"},
	        {"resolver = {\n listen = ( \"unix:/run/m/s\",\n { path = "
	         "\"//run/x/../../../run/m/s/"
	         "\"; } );\n};\n",
	         "3: resolver.listen[1]: unix socket //run/x/../../../run/m/s/ is also "
	         "resolver.listen[0] (/run/m/s): two listeners cannot share a socket path"},
	        /* relative paths are refused, so every path compared is absolute */
	        {"admin = { listen = \"unix:tw/s1\"; };\n",
	         "1: admin.listen: bad listen address 'unix:tw/s1': unix socket path must be "
	         "absolute"},
	};
	static const char *const ok[] = {
	        /* the publisher runs only with domains; disabled parts bind nothing */
	        "publisher = { listen = \"127.0.0.1:8461\"; };\n",
	        "admin = { enabled = false; };\nresolver = { listen = \"127.0.0.1:8462\"; };\n",
	        "resolver = { enabled = false; listen = \"0.0.0.0:8462\"; };\n",
	        /* IPv6 sockets are IPV6_V6ONLY: the default 0.0.0.0:443 and [::]:443 coexist */
	        "publisher = { " DOMAIN_NONE " };\n",
	        /* other address, other port, other path */
	        "admin = { listen = \"127.0.0.2:8461\"; };\n",
	        "resolver = { listen = ( \"127.0.0.1:8461\", \"[::1]:8461\", \"127.0.0.1:8463\" ); "
	        "};\n",
	        "resolver = { listen = \"unix:/run/m/a\"; };\nadmin = { listen = "
	        "\"unix:/run/m/b\"; "
	        "};\n",
	        /* ".." removes one component; names are compared whole */
	        "resolver = { listen = \"unix:/tmp/tw/s1\"; };\nadmin = { listen = "
	        "\"unix:/tmp/tw/x/../../s1\"; };\n",
	        "resolver = { listen = \"unix:/tmp/tw/s1\"; };\nadmin = { listen = "
	        "\"unix:/tmp/tw/s1./\"; };\n",
	        "resolver = { listen = \"unix:/s1\"; };\nadmin = { listen = \"unix:/../s1/..\"; "
	        "};\n",
	};
	char err[1024], path[32], want[1024];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(bad[i].text, &c, err, sizeof(err), path) != ERR_CONFIG)
			fail_msg("'%s' accepted", bad[i].text);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		if (strcmp(err, want) != 0)
			fail_msg("'%s':\n got '%s'\nwant '%s'", bad[i].text, err, want);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(ok[i], &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
		cfg_free(c);
	}
}

/* ---- listeners: an IPv4-mapped IPv6 address cannot be bound (IPV6_V6ONLY) ---- */

#define MAPPED "is an IPv4-mapped IPv6 address, which an IPv6-only socket cannot bind: write "

static void
test_listen_v4mapped(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "PATH:" */
	} bad[] = {
	        /* the trial; every listen key is checked, used or not */
	        {"resolver = {\n listen = [ \"[::ffff:127.0.0.1]:9011\" ];\n};\n",
	         "2: resolver.listen[0]: [::ffff:127.0.0.1]:9011 " MAPPED "127.0.0.1:9011"},
	        {"publisher = {\n listen = \"[::ffff:192.0.2.1]:443\";\n};\n",
	         "2: publisher.listen: [::ffff:192.0.2.1]:443 " MAPPED "192.0.2.1:443"},
	        {"publisher = {\n http_listen = ( \"0.0.0.0:80\",\n \"[::ffff:c000:201]:80\" "
	         ");\n};\n",
	         "3: publisher.http_listen[1]: [::ffff:c000:201]:80 " MAPPED "192.0.2.1:80"},
	        {"admin = {\n listen = \"[0:0:0:0:0:FFFF:7f00:1]:8462\";\n};\n",
	         "2: admin.listen: [0:0:0:0:0:FFFF:7f00:1]:8462 " MAPPED "127.0.0.1:8462"},
	};
	static const char *const ok[] = {
	        "resolver = { listen = ( \"[::1]:9011\", \"127.0.0.1:9011\" ); };\n",
	        "admin = { listen = \"[::1]:8462\"; };\n",
	        /* a NAT64 prefix is not a mapped address */
	        "publisher = { listen = \"[64:ff9b::c000:201]:443\"; };\n",
	};
	char err[1024], path[32], want[1024];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(bad[i].text, &c, err, sizeof(err), path) != ERR_CONFIG)
			fail_msg("'%s' accepted", bad[i].text);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		if (strcmp(err, want) != 0)
			fail_msg("'%s':\n got '%s'\nwant '%s'", bad[i].text, err, want);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(ok[i], &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
		cfg_free(c);
	}
}

/* ---- the pre-read: a string, comment or @include path never closed ---- */

/* libconfig 1.5 ends the input at an unterminated string or block comment without an
 * error, so the rest of the file was silently dropped: refused where it starts. */
static void
test_unterminated(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* after "PATH:" */
	} bad[] = {
	        {"resolver = {\n /* open\n max_connections = 10;\n};\n",
	         "2: unterminated /* comment (it starts here)"},
	        {"process = { verbosity = 1; }; /* a */ /* b\n",
	         "1: unterminated /* comment (it starts here)"},
	        /* a slash right after the opening mark does not close the comment */
	        {"process = { verbosity = 1; };\n/*/\n",
	         "2: unterminated /* comment (it starts here)"},
	        {"cache = { redis = { password = \"a\nb\"; prefix = \"x; }; };\n",
	         "2: unterminated string"},
	        /* an escaped quote does not end a string, a backslash at the end does not either */
	        {"admin = {\n token = \"abc\\\"; };\n", "2: unterminated string"},
	        {"admin = {\n token = \"abc\\", "2: unterminated string"},
	        /* the trial: the @include path is not closed on its line */
	        {"process = { verbosity = 1; };\n@include \"bad.inc\nresolver = { max_connections "
	         "= "
	         "10; };\n",
	         "2: @include: unterminated string"},
	        {"  @include \"bad.inc\nadmin = { token = \"x\"; };\n",
	         "1: @include: unterminated string"},
	};
	static const char *const ok[] = {
	        "/* a comment\n   over \"lines\" # // */ admin = { enabled = true; };\n",
	        ("# an unclosed \" or /* in a line comment\n// and \" /* here\nadmin = { enabled = "
	         "true; };\n"),
	        "/**/ /***/ /* ** / */\nadmin = { enabled = true; };\n",
	};
	char err[1024], path[32], want[1024];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(bad[i].text, &c, err, sizeof(err), path) != ERR_CONFIG)
			fail_msg("'%s' accepted", bad[i].text);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		if (strcmp(err, want) != 0)
			fail_msg("'%s':\n got '%s'\nwant '%s'", bad[i].text, err, want);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = NULL;
		err[0] = '\0';
		if (load_text(ok[i], &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
		cfg_free(c);
	}
	/* a string may span lines and hold quotes, comment marks and '#' */
	c = NULL;
	assert_int_equal(load_text("cache = {\n redis = {\n  password = \"two\nlines \\\"q\\\" /* "
	                           "// # \";\n  prefix = \"p\";\n };\n};\n",
	                           &c, err, sizeof(err), NULL),
	                 0);
	assert_string_equal(c->cache.redis_password, "two\nlines \"q\" /* // # ");
	assert_string_equal(c->cache.redis_prefix, "p");
	c = cfg_free(c);
	/* the fixtures: exact messages, and one in an included file names that file */
	assert_int_equal(cfg_load(CFG_DIR "/bad-unterminated-comment.conf", &c, err, sizeof(err)),
	                 ERR_CONFIG);
	assert_string_equal(err, CFG_DIR
	                    "/bad-unterminated-comment.conf:5: unterminated /* comment (it starts "
	                    "here)");
	assert_int_equal(cfg_load(CFG_DIR "/bad-unterminated-string.conf", &c, err, sizeof(err)),
	                 ERR_CONFIG);
	assert_string_equal(err, CFG_DIR "/bad-unterminated-string.conf:6: unterminated string");
	assert_int_equal(cfg_load(CFG_DIR "/bad-include-unterminated.conf", &c, err, sizeof(err)),
	                 ERR_CONFIG);
	assert_string_equal(err, CFG_DIR
	                    "/bad-include-unterminated.conf:3: @include: unterminated string");
	assert_int_equal(cfg_load(CFG_DIR "/inc-unterminated.conf", &c, err, sizeof(err)),
	                 ERR_CONFIG);
	assert_string_equal(err, CFG_DIR "/inc-unterminated-part.conf:2: unterminated /* comment "
	                                 "(it starts here)");
	assert_null(c);
}

/* ---- publisher.tls_priority: TLS 1.2 and 1.3 only (RFC 8461 section 7.2) ---- */

static void
test_tls_priority(void **state)
{
	static const struct {
		const char *prio;
		const char *reason;
	} bad[] = {
	        {"NORMAL:-VERS-ALL:+VERS-TLS1.0",
	         "'NORMAL:-VERS-ALL:+VERS-TLS1.0' enables neither TLS 1.2 nor TLS 1.3: senders "
	         "require TLS 1.2 or later (RFC 8461 section 7.2)"},
	        {"NORMAL:-VERS-TLS-ALL",
	         "'NORMAL:-VERS-TLS-ALL' enables neither TLS 1.2 nor TLS 1.3: senders require TLS "
	         "1.2 or later (RFC 8461 section 7.2)"},
	        {"NORMAL",
	         "'NORMAL' also enables TLS1.1, TLS1.0: the publisher allows TLS 1.2 and 1.3 only "
	         "(RFC 8461 section 7.2); append \":-VERS-TLS1.1:-VERS-TLS1.0\""},
	        {"NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1",
	         "'NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1' also enables TLS1.1: the publisher "
	         "allows TLS 1.2 and 1.3 only (RFC 8461 section 7.2); append \":-VERS-TLS1.1\""},
	        {"NORMAL:-VERS-ALL",
	         "bad GnuTLS priority string at 'NORMAL:-VERS-ALL': No or insufficient priorities "
	         "were set."},
	};
	static const char *const ok[] = {
	        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	        "NORMAL:-VERS-ALL:+VERS-TLS1.3",
	        "NORMAL:-VERS-TLS1.1:-VERS-TLS1.0",
	        "SECURE256:SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE",
	};
	char text[256], err[1024], path[32], want[1024];
	struct cfg *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(text, sizeof(text), "publisher = {\n tls_priority = \"%s\";\n};\n",
		               bad[i].prio);
		c = NULL;
		assert_int_equal(load_text(text, &c, err, sizeof(err), path), ERR_CONFIG);
		assert_null(c);
		(void)snprintf(want, sizeof(want), "%s:2: publisher.tls_priority: %s", path,
		               bad[i].reason);
		assert_string_equal(err, want);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		(void)snprintf(text, sizeof(text), "publisher = { tls_priority = \"%s\"; };\n",
		               ok[i]);
		c = NULL;
		if (load_text(text, &c, err, sizeof(err), NULL) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
		assert_string_equal(c->publisher.tls_priority, ok[i]);
		cfg_free(c);
	}
}

/* ---- the broken fixtures ---- */

struct bad_case {
	const char *file;
	unsigned line;
	const char *key;
	const char *reason; /* a substring of the reason */
};

static const struct bad_case bad_cases[] = {
        {"bad-unknown-key.conf", 4, "resolver.dns_timout", "unknown key"},
        {"bad-unknown-section.conf", 3, "logging", "unknown key"},
        {"bad-zone-unknown-key.conf", 7, "resolver.zones[1].colour", "unknown key"},
        {"bad-redis-unknown-key.conf", 6, "cache.redis.adress", "unknown key"},
        {"bad-redis-prefix-long.conf", 6, "cache.redis.prefix", "longer than 128 bytes"},
        {"bad-type-bool.conf", 3, "process.allow_root",
         "expected a boolean (true or false), got a string"},
        {"bad-type-int.conf", 4, "resolver.max_connections", "expected an integer, got a string"},
        {"bad-section-type.conf", 2, "resolver", "expected a group { ... }, got a list"},
        {"bad-duration-min.conf", 3, "resolver.dns_timeout", "value 0 below minimum 100ms"},
        {"bad-duration-max.conf", 3, "resolver.fetch_timeout", "value 10m above maximum 5m"},
        {"bad-duration-unit.conf", 4, "resolver.zones[0].timeout",
         "bad duration '5 sec': no space between the number and the unit (\"10m\", not "
         "\"10 m\")"},
        {"bad-verbosity.conf", 3, "process.verbosity", "value 4 above maximum 3"},
        {"bad-fetch-max-body.conf", 3, "resolver.fetch_max_body",
         "value 65537 above maximum 65536"},
        {"bad-listen-port.conf", 4, "resolver.listen[1]",
         "bad listen address '127.0.0.1:99999': bad port"},
        {"bad-listen-host.conf", 3, "admin.listen", "bad listen address 'localhost:8462'"},
        {"bad-empty-listen.conf", 3, "resolver.listen", "at least 1 address needed"},
        {"bad-unix-mode.conf", 5, "resolver.listen[0].mode", "bad mode '0999'"},
        {"bad-dns-server.conf", 3, "resolver.dns_servers[1]", "bad DNS server 'ns1.example.net'"},
        {"bad-default-zone.conf", 4, "resolver.default_zone", "no zone named 'smtp'"},
        {"bad-duplicate-zone.conf", 5, "resolver.zones[1].name", "duplicate zone 'postfix'"},
        {"bad-policy-mode.conf", 6, "publisher.domains[0].mode",
         "bad value 'strict': expected one of \"none\", \"testing\", \"enforce\""},
        {"bad-missing-mode.conf", 4, "publisher.domains[0].mode", "missing required key"},
        {"bad-mx.conf", 8, "publisher.domains[0].mx[1]", "bad mx pattern 'mail.example.com:25'"},
        {"bad-mx-wildcard.conf", 7, "publisher.domains[0].mx[0]",
         "bad mx pattern '*.*.example.com'"},
        {"bad-enforce-no-mx.conf", 4, "publisher.domains[0].mx", "mx"},
        {"bad-id.conf", 8, "publisher.domains[0].id", "bad policy id '2024-01-01'"},
        {"bad-id-long.conf", 8, "publisher.domains[0].id",
         "policy id must be 1 to 32 letters or digits"},
        {"bad-duplicate-domain.conf", 12, "publisher.domains[1].domain",
         "duplicate domain 'example.com' (also publisher.domains[0])"},
        {"bad-domain-ip.conf", 5, "publisher.domains[0].domain", "bad domain '192.0.2.1'"},
        {"bad-max-age.conf", 7, "publisher.domains[0].max_age",
         "value 400d above maximum 31557600s"},
        {"bad-cert-missing.conf", 8, "publisher.domains[0].cert",
         "no-such-cert.pem': No such file or directory"},
        {"bad-rua.conf", 9, "publisher.domains[0].tlsrpt_rua",
         "bad TLSRPT rua 'tlsrpt@example.com'"},
        {"bad-cache-backend.conf", 3, "cache.backend",
         "bad value 'memcached': expected one of \"memory\", \"redis\", \"valkey\""},
        {"bad-sentinels-no-master.conf", 5, "cache.redis.master_name",
         "required when cache.redis.sentinels is set"},
        {"bad-domain-policy-host.conf", 5, "publisher.domains[0].domain",
         "domain is the Policy Domain (example.org), not the policy host name"},
        {"bad-admin-allowed-host.conf", 3, "admin.allowed_hosts[1]",
         "bad host 'admin.example.net:8462': expected a host name or an IP address, without a "
         "port"},
        {"bad-admin-token.conf", 3, "admin.listen",
         "0.0.0.0:8462 is not a loopback address and admin.token is unset: refusing to expose "
         "the admin endpoint"},
        /* libconfig's own syntax errors name file:line but no key */
        {"bad-syntax.conf", 4, NULL, "syntax error"},
        {"bad-duplicate-key.conf", 4, NULL, "duplicate setting 'dns_timeout'"},
        {"bad-include-missing.conf", 3, NULL,
         "cannot open include file '" CFG_DIR "/no-such-include.conf': No such file or directory"},
        /* libconfig 1.5 exit(2)s on an @include of a directory: refused before it reads */
        {"bad-include-dir.conf", 3, NULL, "'" CFG_DIR "/.' is not a regular file"},
        /* libconfig 1.5 reads an integer without an L suffix as 32 bits: refused before */
        {"bad-int-range.conf", 7, NULL,
         "integer 4294967297 above maximum 2147483647: libconfig reads an integer without an "
         "L suffix as 32 bits and would wrap it"},
        {"bad-listen-clash.conf", 4, "publisher.listen",
         "127.0.0.1:8461 is also resolver.listen (127.0.0.1:8461, the default): two listeners "
         "cannot bind the same address and port"},
        /* "unix:PATH" gets the same length check as { path = ...; } */
        {"bad-unix-path-long.conf", 2, "resolver.listen[0]",
         "bad listen address 'unix:/ssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
         "ssssssssssssssssssssssssssssssssssssssssssssssssssss': unix socket path longer than "
         "107 bytes"},
        /* the publisher cannot bind a unix socket: refused by -n, not at start */
        {"bad-publisher-unix.conf", 5, "publisher.http_listen[1]",
         "unix:/run/mtastsd/http.sock: the publisher listens on TCP only (senders fetch the "
         "policy over HTTPS)"},
        /* strings, comments and @include paths never closed: refused where they start */
        {"bad-unterminated-comment.conf", 5, NULL, "unterminated /* comment (it starts here)"},
        {"bad-unterminated-string.conf", 6, NULL, "unterminated string"},
        {"bad-include-unterminated.conf", 3, NULL, "@include: unterminated string"},
        {"bad-dnsupd-unknown.conf", 6, "publisher.domains[0].dns_update",
         "no publisher.dns_update entry named 'secondary'"},
        {"bad-dnsupd-zone.conf", 6, "publisher.domains[0].dns_update",
         "domain 'example.com' is not in zone 'example.org' of dns_update 'primary'"},
        {"bad-dnsupd-secret.conf", 4, "publisher.dns_update[0].tsig_secret",
         "the TSIG secret is not base64"},
        {"bad-dnsupd-nosecret.conf", 3, "publisher.dns_update[0].tsig_secret",
         "set exactly one of tsig_secret and tsig_secret_file"},
        {"bad-dnsupd-server.conf", 3, "publisher.dns_update[0].server",
         "bad DNS server 'ns1.example.com:53'"},
        {"bad-dnsupd-dup.conf", 4, "publisher.dns_update[1].name",
         "duplicate name 'p' (also publisher.dns_update[0])"},
        {"bad-dnsupd-alg.conf", 3, "publisher.dns_update[0].tsig_algorithm",
         "bad value 'hmac-md5': expected one of \"hmac-sha256\", \"hmac-sha512\""},
        {"bad-tls-priority.conf", 3, "publisher.tls_priority",
         "'NORMAL:-VERS-ALL:+VERS-TLS1.0' enables neither TLS 1.2 nor TLS 1.3: senders require "
         "TLS 1.2 or later (RFC 8461 section 7.2)"},
};

static void
test_bad_configs(void **state)
{
	char path[512], want[1024], err[1024];
	size_t i, n = sizeof(bad_cases) / sizeof(bad_cases[0]);

	(void)state;
	assert_true(n >= 12);
	for (i = 0; i < n; i++) {
		const struct bad_case *b = &bad_cases[i];
		struct cfg *c = NULL;
		int r;

		(void)snprintf(path, sizeof(path), "%s/%s", CFG_DIR, b->file);
		err[0] = '\0';
		r = cfg_load(path, &c, err, sizeof(err));
		if (r != ERR_CONFIG)
			fail_msg("%s: cfg_load returned %d, want ERR_CONFIG", b->file, r);
		assert_null(c);
		if (b->key != NULL)
			(void)snprintf(want, sizeof(want), "%s:%u: %s: ", path, b->line, b->key);
		else
			(void)snprintf(want, sizeof(want), "%s:%u: ", path, b->line);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("%s: message '%s' does not start with '%s'", b->file, err, want);
		if (strstr(err + strlen(want), b->reason) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", b->file, err, b->reason);
	}
}

/* ---- publisher.dns_update ---- */

/* Values, defaults and the link from a domain; the secret file: read when 0600 (whitespace
 * dropped), refused when group or others may read it. */
static void
test_dns_update(void **state)
{
	char secret[] = "/tmp/test_cfg_tsig.XXXXXX";
	char text[2048], err[1024] = "";
	const struct cfg_dns_update *u;
	struct cfg *c = NULL;
	int fd;

	(void)state;
	fd = mkstemp(secret);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "  c2VjcmV0c2VjcmV0\n", 19), 19);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(secret, 0600), 0);
	(void)snprintf(text, sizeof(text),
	               "publisher = {\n"
	               "  dns_update = ( { name = \"a\"; server = \"[::1]:5353\"; zone = "
	               "\"Example.COM.\";\n"
	               "    tsig_name = \"MtaStsd.\"; tsig_algorithm = \"hmac-sha512\";\n"
	               "    tsig_secret_file = \"%s\"; ttl = 60; timeout = \"3s\"; },\n"
	               "    { name = \"b\"; server = \"127.0.0.1\"; zone = \"example.org\";\n"
	               "      tsig_name = \"k\"; tsig_secret = \"c2VjcmV0\"; } );\n"
	               "  domains = ( { domain = \"sub.example.com\"; mode = \"none\";\n"
	               "    cert = \"%s/dummy-cert.pem\"; key = \"%s/dummy-key.pem\";\n"
	               "    dns_update = \"a\"; },\n"
	               "    { domain = \"example.org\"; mode = \"none\";\n"
	               "    cert = \"%s/dummy-cert.pem\"; key = \"%s/dummy-key.pem\"; } );\n"
	               "};\n",
	               secret, CFG_DIR, CFG_DIR, CFG_DIR, CFG_DIR);
	if (load_text(text, &c, err, sizeof(err), NULL) != 0)
		fail_msg("cfg_load: %s", err);
	assert_int_equal(c->publisher.n_dns_updates, 2);
	u = &c->publisher.dns_updates[0];
	assert_string_equal(u->name, "a");
	assert_string_equal(u->server, "[::1]:5353");
	assert_string_equal(u->zone, "example.com");
	assert_string_equal(u->tsig_name, "mtastsd");
	assert_int_equal(u->tsig_algorithm, CFG_TSIG_HMAC_SHA512);
	assert_string_equal(u->tsig_secret, "c2VjcmV0c2VjcmV0");
	assert_int_equal(u->ttl_s, 60);
	assert_int_equal(u->timeout_ms, 3000);
	u = &c->publisher.dns_updates[1];
	assert_int_equal(u->tsig_algorithm, CFG_TSIG_HMAC_SHA256);
	assert_int_equal(u->ttl_s, 300);
	assert_int_equal(u->timeout_ms, 10000);
	assert_int_equal(u->retry_max_ms, 300000);
	assert_ptr_equal(c->publisher.domains[0].upd, &c->publisher.dns_updates[0]);
	assert_null(c->publisher.domains[1].upd);
	c = cfg_free(c);

	assert_int_equal(chmod(secret, 0640), 0);
	assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), ERR_CONFIG);
	assert_null(c);
	assert_non_null(strstr(err, "publisher.dns_update[0].tsig_secret_file: "));
	assert_non_null(strstr(err, "mode 0640: a TSIG secret must not be accessible to group or "
	                            "others"));
	(void)unlink(secret);
}

/* publisher.domains[].rollout: defaults without the group, the keys, the steps in seconds,
 * and the errors (a bad or descending step, an unknown target). */
static void
test_rollout(void **state)
{
	static const struct {
		const char *group;
		const char *err;
	} bad[] = {
	        {"max_age_steps = [ \"1d\", \"1.5d\" ];",
	         "publisher.domains[0].rollout.max_age_steps[1]: bad max_age '1.5d': no fractions"},
	        {"max_age_steps = [ \"7d\", \"1d\" ];",
	         "publisher.domains[0].rollout.max_age_steps: '1d' is not longer than '7d': steps "
	         "only go up"},
	        {"max_age_steps = [ \"30s\" ];", "a max_age is 60s..31557600s"},
	        {"target = \"testing\";", "bad value 'testing': expected one of \"advise\", "
	                                  "\"enforce\""},
	        {"min_days = 0;", "publisher.domains[0].rollout.min_days"},
	        {"speed = 2;", "publisher.domains[0].rollout.speed"},
	};
	char text[2048], err[1024] = "";
	const struct cfg_rollout *ro;
	struct cfg *c = NULL;

	(void)state;
	(void)snprintf(text, sizeof(text),
	               "publisher = { rollout_interval = \"2s\";\n"
	               "  domains = ( { domain = \"a.example\"; mode = \"testing\"; mx = "
	               "\"mx.a.example\";\n"
	               "    cert = \"%s/dummy-cert.pem\"; key = \"%s/dummy-key.pem\";\n"
	               "    rollout = { target = \"enforce\"; min_days = 3; min_sessions = 10;\n"
	               "      min_organisations = 1; max_age_steps = [ \"1h\", \"1d\", "
	               "\"604800\" ]; day = \"5s\"; }; },\n"
	               "    { domain = \"b.example\"; mode = \"none\";\n"
	               "    cert = \"%s/dummy-cert.pem\"; key = \"%s/dummy-key.pem\"; } );\n"
	               "};\n",
	               CFG_DIR, CFG_DIR, CFG_DIR, CFG_DIR);
	if (load_text(text, &c, err, sizeof(err), NULL) != 0)
		fail_msg("cfg_load: %s", err);
	assert_int_equal(c->publisher.rollout_interval_ms, 2000);
	ro = &c->publisher.domains[0].rollout;
	assert_int_equal(ro->target, CFG_ROLLOUT_ENFORCE);
	assert_int_equal(ro->min_days, 3);
	assert_int_equal(ro->min_sessions, 10);
	assert_int_equal(ro->min_organisations, 1);
	assert_int_equal(ro->day_ms, 5000);
	assert_int_equal(ro->n_steps, 3);
	assert_int_equal(ro->steps_s[0], 3600);
	assert_int_equal(ro->steps_s[1], 86400);
	assert_int_equal(ro->steps_s[2], 604800);
	ro = &c->publisher.domains[1].rollout; /* no group: the defaults */
	assert_int_equal(ro->target, CFG_ROLLOUT_ADVISE);
	assert_int_equal(ro->min_days, 14);
	assert_int_equal(ro->min_sessions, 1000);
	assert_int_equal(ro->min_organisations, 2);
	assert_int_equal(ro->day_ms, 86400000);
	assert_int_equal(ro->n_steps, 2);
	assert_int_equal(ro->steps_s[0], 86400);
	assert_int_equal(ro->steps_s[1], 604800);
	c = cfg_free(c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(
		        text, sizeof(text),
		        "publisher = { domains = ( { domain = \"a.example\"; mode = "
		        "\"testing\";\n  mx = \"mx.a.example\"; cert = \"%s/dummy-cert.pem\"; "
		        "key = \"%s/dummy-key.pem\";\n  rollout = { %s }; } ); };\n",
		        CFG_DIR, CFG_DIR, bad[i].group);
		err[0] = '\0';
		assert_int_equal(load_text(text, &c, err, sizeof(err), NULL), ERR_CONFIG);
		assert_null(c);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("%s: got '%s', want '%s'", bad[i].group, err, bad[i].err);
	}
}

/* ---- restart-only keys ---- */

static void
append_key(const char *key, void *arg)
{
	char *out = arg;
	size_t len = strlen(out);

	(void)snprintf(out + len, 512 - len, "%s%s", len > 0 ? " " : "", key);
}

/* The CFG_F_RESTART keys that differ, in table order; keys a reload applies (and
 * resolver.listen, which the socketmap server reports itself) are not named. */
static void
test_restart_changes(void **state)
{
	static const char changed[] =
	        "process = { user = \"mtastsd\"; verbosity = 2; };\n"
	        "resolver = { listen = \"127.0.0.1:9461\"; dns_timeout = \"3s\"; };\n"
	        "publisher = { listen = \"127.0.0.1:8443\"; tls_priority = "
	        "\"NORMAL:-VERS-ALL:+VERS-TLS1.3\"; connection_timeout = \"31s\"; };\n"
	        "cache = { redis = { address = \"127.0.0.1:6380\"; command_timeout = \"1s\"; "
	        "sentinels = [ \"127.0.0.1:26379\" ]; master_name = \"m\"; }; };\n"
	        "admin = { listen = \"127.0.0.1:9462\"; token = \"t\"; };\n";
	struct cfg *a = NULL, *b = NULL;
	char err[1024], keys[512] = "";

	(void)state;
	assert_int_equal(load_text("", &a, err, sizeof(err), NULL), 0);
	assert_int_equal(load_text(changed, &b, err, sizeof(err), NULL), 0);
	assert_int_equal(cfg_restart_changes(a, a, append_key, keys), 0);
	assert_string_equal(keys, "");
	assert_int_equal(cfg_restart_changes(a, b, append_key, keys), 8);
	assert_string_equal(keys, "process.user publisher.listen publisher.tls_priority "
	                          "publisher.connection_timeout cache.redis.address "
	                          "cache.redis.sentinels cache.redis.master_name admin.listen");
	cfg_free(b);
	/* the same value written another way is no change */
	b = NULL;
	assert_int_equal(load_text("publisher = { connection_timeout = \"30000ms\"; };\n", &b, err,
	                           sizeof(err), NULL),
	                 0);
	keys[0] = '\0';
	assert_int_equal(cfg_restart_changes(a, b, append_key, keys), 0);
	cfg_free(b);
	cfg_free(a);
}

/* Fixtures whose certificate files the publisher refuses (pub_check_certs(), tested with
 * their messages in tests/unit/publisher/test_pub_check.c): the loader reads no
 * certificate, so it accepts them, and keeps where cert and key are written. */
static const char *const cert_fixtures[] = {
        "bad-key-mismatch.conf",
        "bad-cert-same-file.conf",
        "bad-key-empty.conf",
        "bad-cert-names.conf",
};

static void
test_cert_fixtures_load(void **state)
{
	char path[512], want[1024], err[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cert_fixtures) / sizeof(cert_fixtures[0]); i++) {
		struct cfg *c;

		(void)snprintf(path, sizeof(path), "%s/%s", CFG_DIR, cert_fixtures[i]);
		c = load_ok(path);
		assert_int_equal(c->publisher.n_domains, 1);
		assert_int_equal(
		        cfg_key_error(c, "publisher.domains[0].key", err, sizeof(err), "why %d", 1),
		        ERR_CONFIG);
		(void)snprintf(want, sizeof(want), "%s:9: publisher.domains[0].key: why 1", path);
		assert_string_equal(err, want);
		cfg_key_error(c, "publisher.domains[0].cert", err, sizeof(err), "why");
		(void)snprintf(want, sizeof(want), "%s:8: publisher.domains[0].cert: why", path);
		assert_string_equal(err, want);
		/* a key not written in the file: the file alone */
		cfg_key_error(c, "resolver.ca_file", err, sizeof(err), "why");
		(void)snprintf(want, sizeof(want), "%s: resolver.ca_file: why", path);
		assert_string_equal(err, want);
		cfg_free(c);
	}
}

/* Every bad-*.conf fixture is in one of the tables above (so none is silently untested). */
static int
fixture_listed(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		if (strcmp(bad_cases[i].file, file) == 0)
			return 1;
	for (i = 0; i < sizeof(cert_fixtures) / sizeof(cert_fixtures[0]); i++)
		if (strcmp(cert_fixtures[i], file) == 0)
			return 1;
	return 0;
}

static void
test_bad_fixtures_listed(void **state)
{
	char cmd[512], line[512];
	size_t found = 0;
	FILE *p;

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "ls %s", CFG_DIR);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "bad-", 4) != 0)
			continue;
		if (!fixture_listed(line))
			fail_msg("fixture %s has no entry in bad_cases or cert_fixtures", line);
		found++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(found, sizeof(bad_cases) / sizeof(bad_cases[0]) +
	                                sizeof(cert_fixtures) / sizeof(cert_fixtures[0]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_dns_update),
	        cmocka_unit_test(test_rollout),
	        cmocka_unit_test(test_empty_file),
	        cmocka_unit_test(test_example_config),
	        cmocka_unit_test(test_full),
	        cmocka_unit_test(test_relative_config_path),
	        cmocka_unit_test(test_zone_find),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_seconds_only),
	        cmocka_unit_test(test_missing_file),
	        cmocka_unit_test(test_listen_group_unknown_key),
	        cmocka_unit_test(test_duplicate_setting_named),
	        cmocka_unit_test(test_combined_pem),
	        cmocka_unit_test(test_acme),
	        cmocka_unit_test(test_admin_token_rule),
	        cmocka_unit_test(test_integer_range),
	        cmocka_unit_test(test_integer_range_include),
	        cmocka_unit_test(test_file_kind),
	        cmocka_unit_test(test_listen_clash),
	        cmocka_unit_test(test_listen_v4mapped),
	        cmocka_unit_test(test_unterminated),
	        cmocka_unit_test(test_tls_priority),
	        cmocka_unit_test(test_bad_configs),
	        cmocka_unit_test(test_cert_fixtures_load),
	        cmocka_unit_test(test_restart_changes),
	        cmocka_unit_test(test_bad_fixtures_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
