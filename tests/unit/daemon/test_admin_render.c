/*
 * tests/unit/daemon/test_admin_render.c - the admin endpoint's bodies (daemon/admin_render.c)
 *                                         and the metrics registry behind them (common/stats.c)
 *                                         against golden files
 *
 * The real modules with their real metric tables, on a fake loop (loop_new_fake(): virtual
 * clock, wall clock 2090-01-01 00:00:00 UTC at the start): the resolver (socketmap on a
 * unix socket, memory cache, DANE off, no DNS query is ever sent), the publisher with two
 * domains (certificates made by certtool with fixed expiry dates: 3 and 150 days left),
 * and the admin endpoint (on a unix socket) reporting on both. Known values are fed in:
 * four cache entries (a policy, a stale policy whose re-fetch failed, a no-policy, a
 * temporary failure), four socketmap requests on one connection, two reloads (the second
 * failed) and 3725 s of virtual uptime. Then /status (JSON), /metrics (Prometheus text),
 * the status page (HTML) and /policies/enforce.example are rendered and compared with
 * tests/unit/data/admin/status.json, metrics.txt, status.html and policy.json.
 *
 * What differs from run to run is replaced first: the temporary directory by @TMPDIR@,
 * the config file's SHA-256 (checked to be 64 hex digits) by @CFG_SHA256@ and
 * MTASTSD_VERSION by @VERSION@. A mismatch leaves the output in <name>.got in the working
 * directory (build/tests) and names both files.
 *
 * Regenerate the golden files after an intended change of the output (a new metric, a
 * changed page), then review and commit them with the change:
 *     UPDATE_GOLDEN=1 ctest --test-dir build -R unit.admin_render
 *     git diff tests/unit/data/admin/
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../testutil.h"
#include "admin.h"
#include "admin_render.h"
#include "cache.h"
#include "cache_mem.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "pub.h"
#include "res.h"
#include "sts_policy.h"
#include "xalloc.h"

/* 2090-01-01 00:00:00 UTC: far from the real clock, so nothing depends on it. */
#define WALL0 ((time_t)3786912000)
#define DAY   86400

static char tmpdir[] = "/tmp/mtastsd-admin-XXXXXX";
static struct {
	struct cfg *cfg;
	struct loop *loop;
	struct res *res;
	struct pub *pub;
	struct admin *admin;
} W;

/* ---- building the world ---- */

/* A certificate for mta-sts.<domain>, valid until not_after ("YYYY-MM-DD HH:MM:SS" UTC). */
static int
make_cert(const char *domain, const char *not_after)
{
	char key[300], pem[300], tmpl[300], *text;
	int r;

	(void)snprintf(key, sizeof(key), "%s/%s.key", tmpdir, domain);
	(void)snprintf(pem, sizeof(pem), "%s/%s.pem", tmpdir, domain);
	(void)snprintf(tmpl, sizeof(tmpl), "%s/%s.tmpl", tmpdir, domain);
	text = xasprintf("cn = \"mta-sts.%s\"\ndns_name = \"mta-sts.%s\"\ntls_www_server\n"
	                 "signing_key\nactivation_date = \"2020-01-01 00:00:00\"\n"
	                 "expiration_date = \"%s\"\n",
	                 domain, domain, not_after);
	r = tu_certtool(key, pem, tmpl, text, NULL, NULL);
	free(text);
	return r;
}

static int
load_cfg(void)
{
	char path[300], errbuf[512], *text;
	int r;

	(void)snprintf(path, sizeof(path), "%s/mtastsd.conf", tmpdir);
	text = xasprintf(
	        "resolver = {\n listen = ( { path = \"%1$s/sm.sock\"; } );\n"
	        " dns_servers = [ \"127.0.0.1\" ];\n"
	        /* no TXT re-check falls due in the 3725 s of virtual uptime: the engine never
	         * asks the (real) DNS server, so the figures do not depend on this machine */
	        " recheck_interval = \"1d\";\n"
	        " zones = ( { name = \"postfix\"; dane = false; } );\n};\n"
	        "publisher = {\n listen = [ \"127.0.0.1:%2$u\" ];\n http_listen = [ ];\n"
	        " domains = (\n"
	        "  { domain = \"alpha.test\"; mode = \"enforce\"; max_age = 604800;\n"
	        "    mx = [ \"mail.alpha.test\", \"*.mx.alpha.test\" ];\n"
	        "    cert = \"%1$s/alpha.test.pem\"; key = \"%1$s/alpha.test.key\"; },\n"
	        "  { domain = \"beta.test\"; mode = \"testing\"; max_age = 86400;\n"
	        "    mx = [ \"mx.beta.test\" ];\n"
	        "    cert = \"%1$s/beta.test.pem\"; key = \"%1$s/beta.test.key\"; }\n );\n};\n"
	        "admin = {\n listen = { path = \"%1$s/admin.sock\"; };\n};\n",
	        tmpdir, tu_free_tcp_port());
	r = tu_write_file(path, text);
	free(text);
	if (r < 0 || cfg_load(path, &W.cfg, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "config: %s\n", errbuf);
		return -1;
	}
	return 0;
}

/* Put one entry in the resolver's cache (times relative to WALL0). */
static void
seed(const char *dom, enum cache_kind kind, const char *policy_text, const char *id, long fetched,
     long checked, long expires, int err, long retry)
{
	struct cache_entry e = {.kind = kind, .last_error = err};

	if (policy_text != NULL &&
	    sts_policy_parse(policy_text, strlen(policy_text), &e.policy, NULL) < 0)
		die("test policy for %s does not parse", dom);
	(void)snprintf(e.id, sizeof(e.id), "%s", id);
	e.fetched_at = fetched != 0 ? WALL0 + fetched : 0;
	e.last_check = WALL0 + checked;
	e.expires_at = WALL0 + expires;
	e.retry_after = retry != 0 ? WALL0 + retry : 0;
	cache_mem_put(res_cache_mem(W.res), dom, &e);
}

/* Send the socketmap requests on one connection to the resolver's unix socket; returns
 * the reply bytes (owned) once want bytes are in, or NULL. */
static char *
socketmap(const char *requests, size_t want)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *got = xcalloc(1, want + 1);
	size_t have = 0;
	ssize_t n;
	int fd, i;

	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sm.sock", tmpdir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, requests, strlen(requests)) != (ssize_t)strlen(requests))
		goto fail;
	/* The server answers from its cache: no virtual time passes, only io. */
	for (i = 0; i < 1000 && have < want; i++) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};

		(void)loop_fake_advance(W.loop, 0);
		(void)poll(&pf, 1, 1);
		n = recv(fd, got + have, want - have, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0)
			have += (size_t)n;
	}
	if (have != want)
		goto fail;
	(void)close(fd);
	(void)loop_fake_advance(W.loop, 0); /* the server sees the close */
	return got;
fail:
	if (fd >= 0)
		(void)close(fd);
	free(got);
	return NULL;
}

static int
feed(void)
{
	static const char req[] = "23:postfix enforce.example,24:postfix nopolicy.example,"
	                          "22:postfix broken.example,19:postfix [192.0.2.1],";
	static const char want[] = "56:OK secure match=mail.enforce.example servername=hostname,"
	                           "9:NOTFOUND ,9:NOTFOUND ,9:NOTFOUND ,";
	char *got;

	seed("enforce.example", CACHE_POLICY,
	     "version: STSv1\nmode: enforce\nmx: mail.enforce.example\nmax_age: 604800\n", "enf1",
	     -3600, -60, 7 * DAY - 3600, 0, 0);
	seed("stale.example", CACHE_POLICY,
	     "version: STSv1\nmode: testing\nmx: *.stale.example\nmax_age: 864000\n", "old7",
	     -2 * DAY, -600, 8 * DAY, ERR_FETCH_HTTP, 300);
	seed("nopolicy.example", CACHE_NO_POLICY, NULL, "", 0, -30, 2 * DAY, ERR_DNS_NXDOMAIN, 0);
	seed("broken.example", CACHE_TEMPFAIL, NULL, "", 0, -20, 2 * DAY, ERR_DNS_SERVFAIL, 0);
	got = socketmap(req, strlen(want));
	if (got == NULL || strcmp(got, want) != 0) {
		fprintf(stderr, "socketmap replies: got '%s', want '%s'\n", got != NULL ? got : "",
		        want);
		free(got);
		return -1;
	}
	free(got);
	(void)loop_fake_advance(W.loop, 3600 * 1000);
	admin_note_reload(W.admin, 1);
	(void)loop_fake_advance(W.loop, 60 * 1000);
	admin_note_reload(W.admin, 0);
	(void)loop_fake_advance(W.loop, 65 * 1000);
	return 0;
}

static int
group_setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	log_set_verbosity(getenv("ADMIN_VERBOSE") != NULL ? 2 : 0);
	if (make_cert("alpha.test", "2090-01-04 12:00:00") < 0 ||
	    make_cert("beta.test", "2090-06-01 00:00:00") < 0) {
		fprintf(stderr,
		        "cannot make the test certificates (certtool, package gnutls-bin)\n");
		return -1;
	}
	if (load_cfg() < 0 || loop_new_fake(WALL0, &W.loop) < 0 ||
	    res_new(W.loop, W.cfg, &W.res) < 0 || pub_new(W.loop, W.cfg, &W.pub) < 0 ||
	    W.pub == NULL || admin_new(W.loop, W.cfg, &W.admin) < 0 || W.admin == NULL)
		return -1;
	admin_update(W.admin, W.cfg, W.res, W.pub);
	return feed();
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
group_teardown(void **state)
{
	W.admin = admin_free(W.admin);
	W.pub = pub_free(W.pub);
	W.res = res_free(W.res);
	W.loop = loop_free(W.loop);
	W.cfg = cfg_free(W.cfg);
	(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- golden files ---- */

/* s with every occurrence of from replaced by to; frees s, returns an owned string. */
static char *
replace_all(char *s, const char *from, const char *to)
{
	size_t nf = strlen(from), n = 0;
	char *p, *out, *o;

	for (p = strstr(s, from); p != NULL; p = strstr(p + nf, from))
		n++;
	if (nf == 0 || n == 0)
		return s;
	out = xmalloc(strlen(s) + n * strlen(to) + 1);
	o = out;
	for (p = s;;) {
		char *hit = strstr(p, from);

		if (hit == NULL)
			break;
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, strlen(to));
		o += strlen(to);
		p = hit + nf;
	}
	memcpy(o, p, strlen(p) + 1);
	free(s);
	return out;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int c;

	if (f == NULL)
		return NULL;
	m = open_memstream(&buf, &len);
	assert_non_null(m);
	while ((c = fgetc(f)) != EOF)
		(void)fputc(c, m);
	(void)fclose(f);
	assert_int_equal(fclose(m), 0);
	return buf;
}

/* Compare got (owned, freed here) with tests/unit/data/admin/name, or write it there with
 * UPDATE_GOLDEN=1. */
static void
golden(const char *name, char *got)
{
	const char *update = getenv("UPDATE_GOLDEN");
	const char *sha = admin_cfg_sha256(W.admin);
	char *path = xasprintf("%s/admin/%s", TEST_DATA_DIR, name), *want, *out;
	size_t i;

	assert_int_equal(strlen(sha), 64);
	for (i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)sha[i]) && !isupper((unsigned char)sha[i]));
	got = replace_all(got, tmpdir, "@TMPDIR@");
	got = replace_all(got, sha, "@CFG_SHA256@");
	got = replace_all(got, MTASTSD_VERSION, "@VERSION@");
	if (update != NULL && strcmp(update, "1") == 0) {
		assert_int_equal(tu_write_file(path, got), 0);
		fprintf(stderr, "UPDATE_GOLDEN: wrote %s\n", path);
	} else {
		want = read_file(path);
		if (want == NULL || strcmp(got, want) != 0) {
			out = xasprintf("%s.got", name);
			(void)tu_write_file(out, got);
			fail_msg("%s differs from %s (output in %s; UPDATE_GOLDEN=1 rewrites the "
			         "golden file)",
			         name, path, out);
		}
		free(want);
	}
	free(got);
	free(path);
}

/* A body that needs the facts (publisher domains, failures) gathered per request. */
static void
golden_with_facts(const char *name, char *(*render)(struct admin *, const struct admin_facts *))
{
	struct admin_facts f;

	admin_facts_collect(W.admin, &f);
	golden(name, render(W.admin, &f));
	admin_facts_free(&f);
}

static void
test_status_json(void **state)
{
	golden_with_facts("status.json", admin_render_status);
}

static void
test_metrics_prometheus(void **state)
{
	golden("metrics.txt", admin_render_metrics(W.admin));
}

static void
test_status_page_html(void **state)
{
	golden_with_facts("status.html", admin_render_html);
}

static void
test_policy_json(void **state)
{
	golden("policy.json", admin_render_policy(W.admin, "enforce.example"));
	assert_null(admin_render_policy(W.admin, "never.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_json),
	        cmocka_unit_test(test_metrics_prometheus),
	        cmocka_unit_test(test_status_page_html),
	        cmocka_unit_test(test_policy_json),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("test_admin_render", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
