/*
 * tests/unit/resolver/test_https_fetch.c - https_fetch against tests/tools/fake_https
 *
 * At group setup: a temporary directory (mkdtemp) with a test CA, a certificate for every
 * mta-sts.<case>.test host, a wrong-name certificate (served by default, so a host the
 * good certificate does not name gets it), a second unknown CA, and a docroot with one
 * behaviour per host; then fake_https on an ephemeral loopback port. Every fetch goes
 * there through resolver.connect_to, keeping the real host name for SNI and checks.
 * Every case asserts the exact error code, the status and the body where there is one.
 * The whole group runs twice: with each fetcher's own multi on its loop (fetcher_new), then
 * on a threaded multi (curlm_new_threaded, as the daemon runs them): the transfers, their
 * callbacks and the certificate checks on the worker thread, the results the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
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
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "https_fetch.h"
#include "loop.h"
#include "../testutil.h"
#include "xalloc.h"
#include "curlm.h"

/* The threaded run: fetcher_new() on a threaded multi made on the fetcher's loop, freed
 * with that loop (the multi outlives its fetchers, as in the daemon). */
#define TF_MULTIS_MAX 8
static int tf_threaded;
static struct {
	struct loop *loop;
	struct curlm *m;
} tf_multi[TF_MULTIS_MAX];

static int
tf_fetcher_new(struct loop *loop, const struct cfg_resolver *cfg, struct fetcher **ret_f)
{
	size_t i;

	if (!tf_threaded)
		return fetcher_new(loop, cfg, ret_f);
	for (i = 0; i < TF_MULTIS_MAX && tf_multi[i].m != NULL; i++)
		;
	assert_true(i < TF_MULTIS_MAX);
	assert_int_equal(curlm_new_threaded(loop, 2, &tf_multi[i].m), 0);
	tf_multi[i].loop = loop;
	return fetcher_new_on(loop, tf_multi[i].m, cfg, ret_f);
}

static struct loop *
tf_loop_free(struct loop *loop)
{
	size_t i;

	for (i = 0; i < TF_MULTIS_MAX; i++) {
		if (tf_multi[i].m == NULL || tf_multi[i].loop != loop)
			continue;
		assert_int_equal(curlm_running(tf_multi[i].m), 0);
		tf_multi[i].m = curlm_free(tf_multi[i].m);
		tf_multi[i].loop = NULL;
	}
	return loop_free(loop);
}
#define fetcher_new tf_fetcher_new
#define loop_free   tf_loop_free

#define FAKE_HTTPS TOOLS_DIR "/fake_https"
/* Liveness bound of a run, and the fetch_timeout of the tests that check a failure comes
 * before any timeout: far above what a loopback fetch takes, so no check depends on speed. */
#define GUARD_MS   60000
#define NO_TIMEOUT 30000
#define POLICY     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"

static char tmpdir[] = "/tmp/mtastsd-fetch-XXXXXX";
static char ca_pem[256], other_ca_pem[256], count_path[256], connect_to[64];
static pid_t fake_pid = -1;
static unsigned fake_port;

/* host (without "mta-sts.") -> behaviour file content; NULL = no behaviour file */
static const struct {
	const char *domain;
	const char *behaviour;
} hosts[] = {
        {"ok.test", NULL},
        {"ctparam.test", "content-type=TEXT/Plain ; charset=utf-8"},
        {"redirect.test", "redirect"},
        {"notfound.test", "404"},
        {"err500.test", "500"},
        {"html.test", "content-type=text/html"},
        {"octet.test", "content-type=application/octet-stream"},
        {"noct.test", "no-content-type"},
        {"oversize.test", "oversize"},
        {"chunked.test", "oversize-chunked"},
        {"stall.test", "stall-after-headers"},
        {"drip.test", "drip"},
        {"slow.test", "slow=300"},
        {"wrongname.test", NULL},
        {"tls11.test", NULL},
        {"expired.test", NULL},
        {"cnonly.test", NULL},
        {"clientonly.test", NULL},
        {"chained.test", NULL},
};

/* ---- process and file helpers ----------------------------------------------------- */

static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* "<tmpdir>/<stem>.<ext>", owned */
static char *
tpath2(const char *stem, const char *ext)
{
	return xasprintf("%s/%s.%s", tmpdir, stem, ext);
}

/* A CA certificate: self-signed when issuer is NULL, else an intermediate signed by it. */
static int
make_ca2(const char *stem, const char *issuer)
{
	char *key = tpath2(stem, "key"), *pem = tpath2(stem, "pem"), *tmpl = tpath2(stem, "tmpl");
	char *ikey = issuer != NULL ? tpath2(issuer, "key") : NULL,
	     *ipem = issuer != NULL ? tpath2(issuer, "pem") : NULL;
	int r;

	r = tu_certtool(key, pem, tmpl,
	                issuer != NULL ? "cn = \"mtastsd test intermediate CA\"\nca\n"
	                                 "cert_signing_key\nexpiration_days = 2\n"
	                               : "cn = \"mtastsd test CA\"\nca\ncert_signing_key\n"
	                                 "expiration_days = 2\n",
	                ipem, ikey);
	free(key);
	free(pem);
	free(tmpl);
	free(ikey);
	free(ipem);
	return r;
}

static int
make_ca(const char *stem)
{
	return make_ca2(stem, NULL);
}

/* A server certificate with CN stem, the given template lines (dns_name...) and validity
 * (NULL: valid from now for 2 days). */
static int
make_cert_purpose(const char *stem, const char *ca, const char *names, const char *validity,
                  const char *purpose)
{
	char *key = tpath2(stem, "key"), *pem = tpath2(stem, "pem"), *tmpl = tpath2(stem, "tmpl");
	char *cakey = tpath2(ca, "key"), *capem = tpath2(ca, "pem");
	char *text = xasprintf("cn = \"%s\"\n%s%s\nsigning_key\nencryption_key\n%s", stem, names,
	                       purpose, validity != NULL ? validity : "expiration_days = 2\n");
	int r;

	r = tu_certtool(key, pem, tmpl, text, capem, cakey);
	free(text);
	free(key);
	free(pem);
	free(tmpl);
	free(cakey);
	free(capem);
	return r;
}

static int
make_cert2(const char *stem, const char *ca, const char *names, const char *validity)
{
	return make_cert_purpose(stem, ca, names, validity, "tls_www_server");
}

static int
make_cert(const char *stem, const char *ca, const char *names)
{
	return make_cert2(stem, ca, names, NULL);
}

/* dst = the concatenation of the files srcs (NULL-terminated); missing files are skipped. */
static int
cat_files(const char *dst, const char *const *srcs)
{
	FILE *out = fopen(dst, "w"), *in;
	char buf[4096];
	size_t n;
	int r = 0;

	if (out == NULL)
		return -1;
	for (; *srcs != NULL; srcs++) {
		in = fopen(*srcs, "r");
		if (in == NULL)
			continue;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			if (fwrite(buf, 1, n, out) != n)
				r = -1;
		fclose(in);
	}
	return fclose(out) == 0 ? r : -1;
}

static int
make_docroot(void)
{
	char *dir, *p;
	size_t i;
	int r = 0;

	p = tpath("doc");
	if (mkdir(p, 0755) < 0)
		r = -1;
	free(p);
	for (i = 0; r == 0 && i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		dir = xasprintf("%s/doc/mta-sts.%s", tmpdir, hosts[i].domain);
		if (mkdir(dir, 0755) < 0)
			r = -1;
		p = xasprintf("%s/mta-sts.txt", dir);
		if (r == 0)
			r = tu_write_file(p, POLICY);
		free(p);
		if (r == 0 && hosts[i].behaviour != NULL) {
			char *b = xasprintf("%s\n", hosts[i].behaviour);
			p = xasprintf("%s/behaviour", dir);
			r = tu_write_file(p, b);
			free(p);
			free(b);
		}
		free(dir);
	}
	return r;
}

/* Start fake_https with extra args; returns its pid and writes the port. */
static pid_t
start_fake(const char *priority, unsigned *ret_port)
{
	char *wrong_pem = tpath("wrong.pem"), *wrong_key = tpath("wrong.key");
	char *good_pem = tpath("good.pem"), *good_key = tpath("good.key"), *doc = tpath("doc");
	char *exp_pem = tpath("expired.pem"), *exp_key = tpath("expired.key");
	char *cn_pem = tpath("mta-sts.cnonly.test.pem"), *cn_key = tpath("mta-sts.cnonly.test.key");
	char *cl_pem = tpath("clientonly.pem"), *cl_key = tpath("clientonly.key");
	char *ch_pem = tpath("chained.full.pem"), *ch_key = tpath("chained.key");
	char *argv[40], buf[256];
	size_t have = 0, k = 0;
	struct pollfd p;
	unsigned port = 0;
	int pfd[2], i;
	ssize_t n;
	pid_t pid;
	char *s;

	argv[k++] = FAKE_HTTPS;
	argv[k++] = "--cert";
	argv[k++] = wrong_pem;
	argv[k++] = "--key";
	argv[k++] = wrong_key;
	argv[k++] = "--cert";
	argv[k++] = good_pem;
	argv[k++] = "--key";
	argv[k++] = good_key;
	argv[k++] = "--cert";
	argv[k++] = exp_pem;
	argv[k++] = "--key";
	argv[k++] = exp_key;
	argv[k++] = "--cert";
	argv[k++] = cn_pem;
	argv[k++] = "--key";
	argv[k++] = cn_key;
	argv[k++] = "--cert";
	argv[k++] = cl_pem;
	argv[k++] = "--key";
	argv[k++] = cl_key;
	argv[k++] = "--cert";
	argv[k++] = ch_pem;
	argv[k++] = "--key";
	argv[k++] = ch_key;
	argv[k++] = "--docroot";
	argv[k++] = doc;
	argv[k++] = "--count-file";
	argv[k++] = count_path;
	if (priority != NULL) {
		argv[k++] = "--tls-priority";
		argv[k++] = (char *)priority;
	}
	argv[k] = NULL;
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* Never outlive the test, even when it dies on a failed assertion. */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		(void)dup2(pfd[1], 1);
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	(void)close(pfd[1]);
	for (i = 0; pid > 0 && i < 50 && have < sizeof(buf) - 1; i++) {
		p.fd = pfd[0];
		p.events = POLLIN;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		s = strstr(buf, "listening on port ");
		if (s != NULL && strchr(s, '\n') != NULL) {
			port = (unsigned)strtoul(s + 18, NULL, 10);
			break;
		}
	}
	(void)close(pfd[0]);
	free(wrong_pem);
	free(wrong_key);
	free(good_pem);
	free(good_key);
	free(exp_pem);
	free(exp_key);
	free(cn_pem);
	free(cn_key);
	free(cl_pem);
	free(cl_key);
	free(ch_pem);
	free(ch_key);
	free(doc);
	if (port == 0 && pid > 0) {
		(void)kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
		return -1;
	}
	*ret_port = port;
	return pid;
}

static int
stop_fake(pid_t pid)
{
	int status = 0;

	if (pid <= 0)
		return -1;
	(void)kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* chained.full.pem: the leaf signed by the intermediate, then the intermediate. */
static int
make_chain(void)
{
	char *leaf = tpath("chained.pem"), *inter = tpath("inter.pem"),
	     *full = tpath("chained.full.pem");
	const char *srcs[] = {leaf, inter, NULL};
	int r = cat_files(full, srcs);

	free(leaf);
	free(inter);
	free(full);
	return r;
}

static int
group_setup(void **state)
{
	static const char good_names[] =
	        "dns_name = \"mta-sts.ok.test\"\ndns_name = \"mta-sts.ctparam.test\"\n"
	        "dns_name = \"mta-sts.redirect.test\"\ndns_name = \"mta-sts.notfound.test\"\n"
	        "dns_name = \"mta-sts.err500.test\"\ndns_name = \"mta-sts.html.test\"\n"
	        "dns_name = \"mta-sts.octet.test\"\ndns_name = \"mta-sts.noct.test\"\n"
	        "dns_name = \"mta-sts.oversize.test\"\ndns_name = \"mta-sts.chunked.test\"\n"
	        "dns_name = \"mta-sts.stall.test\"\ndns_name = \"mta-sts.drip.test\"\n"
	        "dns_name = \"mta-sts.slow.test\"\ndns_name = \"mta-sts.tls11.test\"\n";
	signal(SIGPIPE, SIG_IGN);
	memcpy(tmpdir + sizeof(tmpdir) - 7, "XXXXXX", 6); /* the group runs twice */
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	(void)snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", tmpdir);
	(void)snprintf(other_ca_pem, sizeof(other_ca_pem), "%s/otherca.pem", tmpdir);
	(void)snprintf(count_path, sizeof(count_path), "%s/count", tmpdir);
	if (make_ca("ca") < 0 || make_ca("otherca") < 0 ||
	    make_cert("good", "ca", good_names) < 0 ||
	    make_cert("wrong", "ca", "dns_name = \"mta-sts.elsewhere.test\"\n") < 0 ||
	    make_cert2("expired", "ca", "dns_name = \"mta-sts.expired.test\"\n",
	               "activation_date = \"2020-01-01 00:00:00 UTC\"\n"
	               "expiration_date = \"2020-06-01 00:00:00 UTC\"\n") < 0 ||
	    make_cert("mta-sts.cnonly.test", "ca", "") < 0 ||
	    make_cert_purpose("clientonly", "ca", "dns_name = \"mta-sts.clientonly.test\"\n", NULL,
	                      "tls_www_client") < 0 ||
	    make_ca2("inter", "ca") < 0 ||
	    make_cert("chained", "inter", "dns_name = \"mta-sts.chained.test\"\n") < 0 ||
	    make_chain() < 0 || make_docroot() < 0) {
		fprintf(stderr, "cannot make the test CA (certtool, package gnutls-bin)\n");
		return -1;
	}
	fake_pid = start_fake(NULL, &fake_port);
	if (fake_pid < 0) {
		fprintf(stderr, "cannot start %s\n", FAKE_HTTPS);
		return -1;
	}
	(void)snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%u", fake_port);
	return 0;
}

static int
group_teardown(void **state)
{
	int rc = stop_fake(fake_pid);

	(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0)
		fprintf(stderr, "fake_https did not exit cleanly on SIGTERM (%d)\n", rc);
	return rc == 0 ? 0 : -1;
}

/* ---- fetch harness ---------------------------------------------------------------- */

struct result {
	int calls;
	int err;
	long status;
	char ctype[128];
	char detail[256];
	char body[512];
	size_t len;
	int body_null;
	uint64_t elapsed_ms;
	time_t cert_not_after;
	int verify_cached;
	int *pending;
	struct loop *loop;
	/* actions from inside the callback */
	struct fetcher **free_fetcher;
	struct fetcher *start_from;
	const char *start_domain; /* NULL: "ok.test" */
	struct result *start_res;
};

static void
on_done(int err, const char *body, size_t len, const struct fetch_info *info, void *arg)
{
	struct result *res = arg;

	res->calls++;
	res->err = err;
	res->status = info->http_status;
	res->elapsed_ms = info->elapsed_ms;
	res->cert_not_after = info->cert_not_after;
	res->verify_cached = info->verify_cached;
	(void)snprintf(res->ctype, sizeof(res->ctype), "%s", info->content_type);
	(void)snprintf(res->detail, sizeof(res->detail), "%s", info->detail);
	res->body_null = body == NULL;
	res->len = len;
	if (body != NULL)
		(void)snprintf(res->body, sizeof(res->body), "%.*s", (int)len, body);
	if (res->start_from != NULL) {
		res->start_res->pending = res->pending;
		res->start_res->loop = res->loop;
		(*res->pending)++;
		assert_non_null(fetch_start(
		        res->start_from, res->start_domain != NULL ? res->start_domain : "ok.test",
		        on_done, res->start_res));
	}
	if (res->free_fetcher != NULL)
		*res->free_fetcher = fetcher_free(*res->free_fetcher);
	if (res->pending != NULL && --(*res->pending) == 0)
		loop_exit(res->loop, 0);
}

/* The detail equals the printf-formatted text. */
static void __attribute__((format(printf, 2, 3)))
expect_detail(const struct result *res, const char *fmt, ...)
{
	char want[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	assert_string_equal(res->detail, want);
}

static void
on_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 99);
}

static void
base_cfg(struct cfg_resolver *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fetch_timeout_ms = NO_TIMEOUT; /* the tests of timeouts set their own */
	cfg->fetch_max_body = 65536;
	cfg->fetch_concurrency = 4;
	cfg->ca_file = ca_pem;
	cfg->connect_to = connect_to;
}

/* Fetch each domain[i] into res[i] with one fetcher; returns elapsed ms of the run. */
static uint64_t
fetch_many(const struct cfg_resolver *cfg, const char *const *domains, size_t n, struct result *res)
{
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct fetcher *f = NULL;
	struct loop *loop = NULL;
	int pending = (int)n;
	uint64_t t0, elapsed;
	size_t i;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, cfg, &f), 0);
	t0 = loop_now_ms(loop);
	for (i = 0; i < n; i++) {
		res[i].pending = &pending;
		res[i].loop = loop;
		assert_non_null(fetch_start(f, domains[i], on_done, &res[i]));
		assert_int_equal(res[i].calls, 0); /* never from inside fetch_start */
	}
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	elapsed = loop_now_ms(loop) - t0;
	loop_timer_stop(loop, &guard);
	f = fetcher_free(f);
	loop = loop_free(loop);
	for (i = 0; i < n; i++)
		assert_int_equal(res[i].calls, 1);
	return elapsed;
}

static void
fetch_one(const struct cfg_resolver *cfg, const char *domain, struct result *res)
{
	(void)fetch_many(cfg, &domain, 1, res);
}

static size_t
count_lines(const char *host)
{
	char line[256];
	size_t n = 0;
	FILE *fp = fopen(count_path, "r");

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, host) == 0)
			n++;
	}
	fclose(fp);
	return n;
}

/* ---- cases ------------------------------------------------------------------------ */

static void
test_ok(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.ctype, "text/plain");
	assert_int_equal(res.len, strlen(POLICY));
	assert_string_equal(res.body, POLICY);
	/* the verified leaf's notAfter: about two days from now */
	assert_true(res.cert_not_after > time(NULL) + 86400);
	assert_true(res.cert_not_after < time(NULL) + 3 * 86400);
}

static void
test_content_type_with_params(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "ctparam.test", &res);
	assert_int_equal(res.err, 0);
	assert_string_equal(res.ctype, "TEXT/Plain ; charset=utf-8");
	assert_string_equal(res.body, POLICY);
}

static void
test_redirect(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "redirect.test", &res);
	assert_int_equal(res.err, ERR_FETCH_REDIRECT);
	assert_int_equal(res.status, 301);
	assert_true(res.body_null);
	assert_int_equal(res.len, 0);
	assert_int_equal(count_lines("mta-sts.redirect.test"), 1); /* never followed */
}

static void
test_404_and_500(void **state)
{
	struct cfg_resolver cfg;
	struct result res[2];
	const char *d[] = {"notfound.test", "err500.test"};

	memset(res, 0, sizeof(res));
	base_cfg(&cfg);
	(void)fetch_many(&cfg, d, 2, res);
	assert_int_equal(res[0].err, ERR_FETCH_HTTP);
	assert_int_equal(res[0].status, 404);
	assert_int_equal(res[1].err, ERR_FETCH_HTTP);
	assert_int_equal(res[1].status, 500);
	assert_string_equal(res[1].detail, "HTTP status 500");
}

static void
test_content_type_rejected(void **state)
{
	struct cfg_resolver cfg;
	struct result res[3];
	const char *d[] = {"html.test", "octet.test", "noct.test"};

	memset(res, 0, sizeof(res));
	base_cfg(&cfg);
	(void)fetch_many(&cfg, d, 3, res);
	assert_int_equal(res[0].err, ERR_FETCH_CONTENT_TYPE);
	assert_int_equal(res[0].status, 200);
	assert_string_equal(res[0].ctype, "text/html");
	assert_int_equal(res[1].err, ERR_FETCH_CONTENT_TYPE);
	assert_string_equal(res[1].ctype, "application/octet-stream");
	assert_int_equal(res[2].err, ERR_FETCH_CONTENT_TYPE);
	assert_string_equal(res[2].ctype, "");
}

static void
test_oversize_content_length(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "oversize.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TOO_LARGE);
	assert_int_equal(res.status, 200);
	assert_true(res.body_null);
}

static void
test_oversize_chunked(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "chunked.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TOO_LARGE);
	assert_int_equal(res.status, 200);
	assert_true(res.elapsed_ms < cfg.fetch_timeout_ms); /* aborted, not timed out */
}

static void
test_small_limit_content_length(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	/* Content-Length (70 bytes) over a 16-byte limit. */
	base_cfg(&cfg);
	cfg.fetch_max_body = 16;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TOO_LARGE);
}

static void
test_timeouts(void **state)
{
	struct cfg_resolver cfg;
	struct result res[2];
	const char *d[] = {"stall.test", "drip.test"};

	memset(res, 0, sizeof(res));
	base_cfg(&cfg);
	cfg.fetch_timeout_ms = 1500;
	(void)fetch_many(&cfg, d, 2, res);
	assert_int_equal(res[0].err, ERR_FETCH_TIMEOUT);
	assert_int_equal(res[0].status, 200);
	assert_true(res[0].elapsed_ms >= 1400);
	assert_int_equal(res[1].err, ERR_FETCH_TIMEOUT);
	assert_true(res[1].elapsed_ms >= 1400);
}

static void
test_wrong_name_certificate(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "wrongname.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_int_equal(res.status, 0);
	/* libcurl's wording, kept since the verification moved into https_fetch.c */
	assert_string_equal(res.detail, "SSL: certificate subject name (wrong) does not match "
	                                "target host name 'mta-sts.wrongname.test'");
	assert_int_equal(count_lines("mta-sts.wrongname.test"), 0);
}

static void
test_unknown_ca(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	cfg.ca_file = other_ca_pem;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.cert_not_after, 0);
	expect_detail(&res,
	              "certificate issuer is not trusted: server certificate verification "
	              "failed. CAfile: %s CRLfile: none",
	              other_ca_pem);
}

static void
test_expired_certificate(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "expired.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_int_equal(res.status, 0);
	expect_detail(&res,
	              "certificate has expired: server certificate verification failed. "
	              "CAfile: %s CRLfile: none",
	              ca_pem);
	assert_int_equal(count_lines("mta-sts.expired.test"), 0);
}

/* A certificate whose extended key usage does not include TLS server authentication
 * (RFC 5280 section 4.2.1.12) is refused, even with the right name and CA. */
static void
test_client_only_certificate(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "clientonly.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_non_null(strstr(res.detail, "certificate is not for TLS server authentication"));
	assert_int_equal(count_lines("mta-sts.clientonly.test"), 0);
}

static void
test_cn_only_certificate(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "cnonly.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_string_equal(res.detail, "certificate of mta-sts.cnonly.test has no DNS "
	                                "subjectAltName (a name only in the subject CN is not "
	                                "accepted)");
	assert_int_equal(count_lines("mta-sts.cnonly.test"), 0);
}

static void
test_intermediate_chain(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	fetch_one(&cfg, "chained.test", &res);
	assert_int_equal(res.err, 0);
	assert_string_equal(res.body, POLICY);
	assert_true(res.cert_not_after > time(NULL));
}

/* The system trust store (no ca_file) is used, and does not know the test CA. */
static void
test_system_trust(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};

	base_cfg(&cfg);
	cfg.ca_file = NULL;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_string_equal(res.detail, "certificate issuer is not trusted: server certificate "
	                                "verification failed. CAfile: none CRLfile: none");
}

/* A bundle of ~150 CAs (the system one plus the test CA) works like the test CA alone. */
static void
test_large_ca_bundle(void **state)
{
	struct cfg_resolver cfg;
	struct result res[8];
	const char *d[8] = {"ok.test", "ok.test", "ok.test",      "ok.test",
	                    "ok.test", "ok.test", "chained.test", "ok.test"};
	char *bundle = tpath("bundle.pem");
	const char *srcs[] = {"/etc/ssl/certs/ca-certificates.crt", ca_pem, NULL};
	size_t i;

	memset(res, 0, sizeof(res));
	assert_int_equal(cat_files(bundle, srcs), 0);
	base_cfg(&cfg);
	cfg.ca_file = bundle;
	(void)fetch_many(&cfg, d, 8, res);
	for (i = 0; i < 8; i++) {
		assert_int_equal(res[i].err, 0);
		assert_string_equal(res[i].body, POLICY);
	}
	free(bundle);
}

/* One fetcher, fetches of domains[0..n) one after the other (each started from the
 * previous one's callback). */
static void
fetch_chain(const struct cfg_resolver *cfg, const char *const *domains, size_t n,
            struct result *res)
{
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct fetcher *f = NULL;
	struct loop *loop = NULL;
	int pending = 1;
	size_t i;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, cfg, &f), 0);
	for (i = 0; i < n; i++) {
		res[i].pending = &pending;
		res[i].loop = loop;
		if (i + 1 < n) {
			res[i].start_from = f;
			res[i].start_domain = domains[i + 1];
			res[i].start_res = &res[i + 1];
		}
	}
	assert_non_null(fetch_start(f, domains[0], on_done, &res[0]));
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	f = fetcher_free(f);
	loop = loop_free(loop);
	for (i = 0; i < n; i++)
		assert_int_equal(res[i].calls, 1);
}

/* A chain verified once is not parsed and verified again by the same fetcher; the host
 * name is still checked on every fetch; a refused chain is never remembered. */
static void
test_verified_chain_cache(void **state)
{
	struct cfg_resolver cfg;
	struct result res[6];
	/* ok and ctparam share the "good" chain; wrongname gets the valid "wrong" chain
	 * (it names another host); expired is refused */
	const char *d[6] = {"ok.test",        "ctparam.test", "wrongname.test",
	                    "wrongname.test", "expired.test", "expired.test"};
	size_t i;

	memset(res, 0, sizeof(res));
	base_cfg(&cfg);
	fetch_chain(&cfg, d, 6, res);
	for (i = 0; i < 2; i++) {
		assert_int_equal(res[i].err, 0);
		assert_string_equal(res[i].body, POLICY);
		assert_true(res[i].cert_not_after > time(NULL));
		assert_int_equal(res[i].verify_cached, i == 1);
	}
	for (i = 2; i < 4; i++) {
		assert_int_equal(res[i].err, ERR_FETCH_TLS);
		assert_string_equal(res[i].detail, "SSL: certificate subject name (wrong) does "
		                                   "not match target host name "
		                                   "'mta-sts.wrongname.test'");
		assert_int_equal(res[i].verify_cached, i == 3);
		assert_int_equal(res[i].cert_not_after, 0);
	}
	for (i = 4; i < 6; i++) {
		assert_int_equal(res[i].err, ERR_FETCH_TLS);
		assert_int_equal(res[i].verify_cached, 0);
		expect_detail(&res[i],
		              "certificate has expired: server certificate verification "
		              "failed. CAfile: %s CRLfile: none",
		              ca_pem);
	}
}

/* Regression (bench, issue 8): libcurl-gnutls re-read the CA store for every connection
 * (~40 ms CPU each, ~25 fetches/s). The fetcher now reads ca_file once, at its first
 * fetch_start(): replacing the file afterwards changes nothing for that fetcher's
 * handshakes; a new fetcher (a reload) reads it again. */
static void
test_ca_read_once_per_fetcher(void **state)
{
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct cfg_resolver cfg;
	struct result res[3];
	struct fetcher *f = NULL;
	struct loop *loop = NULL;
	char *copy = tpath("ca-copy.pem");
	const char *good[] = {ca_pem, NULL}, *other[] = {other_ca_pem, NULL};
	int pending, i;

	memset(res, 0, sizeof(res));
	assert_int_equal(cat_files(copy, good), 0);
	base_cfg(&cfg);
	cfg.ca_file = copy;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, &cfg, &f), 0);
	pending = 2;
	for (i = 0; i < 2; i++) {
		res[i].pending = &pending;
		res[i].loop = loop;
		assert_non_null(fetch_start(f, "ok.test", on_done, &res[i]));
		/* after the first fetch_start, the file names another CA: no handshake has
		 * happened yet, both run with what the fetcher read */
		assert_int_equal(cat_files(copy, other), 0);
	}
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	for (i = 0; i < 2; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].err, 0);
	}
	f = fetcher_free(f);
	loop = loop_free(loop);
	fetch_one(&cfg, "ok.test", &res[2]);
	assert_int_equal(res[2].err, ERR_FETCH_TLS);
	free(copy);
}

static void
test_tls11_only_server(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};
	char ct[64];
	unsigned port = 0;
	pid_t pid;

	pid = start_fake("NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0", &port);
	assert_true(pid > 0);
	(void)snprintf(ct, sizeof(ct), "127.0.0.1:%u", port);
	base_cfg(&cfg);
	cfg.connect_to = ct;
	fetch_one(&cfg, "tls11.test", &res);
	assert_int_equal(stop_fake(pid), 0);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_int_equal(count_lines("mta-sts.tls11.test"), 0);
}

static void
test_connect_refused(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};
	char ct[64];
	unsigned port = 0;
	pid_t pid;

	/* A port that was just in use and is closed now. */
	pid = start_fake(NULL, &port);
	assert_true(pid > 0);
	assert_int_equal(stop_fake(pid), 0);
	(void)snprintf(ct, sizeof(ct), "127.0.0.1:%u", port);
	base_cfg(&cfg);
	cfg.connect_to = ct;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_CONNECT);
	assert_int_equal(res.status, 0);
}

/* A listening socket on 127.0.0.1 that nobody accepts from: the kernel completes the TCP
 * handshake and queues the ClientHello, no TLS byte ever comes back. Returns the fd. */
static int
tarpit_listen(unsigned *ret_port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

/* TLS handshake stall: the fetch ends with ERR_FETCH_TIMEOUT at fetch_timeout. */
static void
test_tls_handshake_stall(void **state)
{
	struct cfg_resolver cfg;
	struct result res = {0};
	char ct[64];
	unsigned port = 0;
	int fd = tarpit_listen(&port);

	(void)snprintf(ct, sizeof(ct), "127.0.0.1:%u", port);
	base_cfg(&cfg);
	cfg.connect_to = ct;
	cfg.fetch_timeout_ms = 1500;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TIMEOUT);
	assert_int_equal(res.status, 0);
	assert_true(res.elapsed_ms >= 1400);
	(void)close(fd);
}

/* A server that answers the ClientHello with plain HTTP and keeps the connection open until
 * the client closes it: ERR_FETCH_TLS, before fetch_timeout (not a timeout, nor the close). */
static void
test_not_tls_server(void **state)
{
	static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	struct cfg_resolver cfg;
	struct result res = {0};
	char ct[64], buf[512];
	unsigned port = 0;
	int fd = tarpit_listen(&port), status = 0;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int c = accept(fd, NULL, NULL);

		(void)alarm(GUARD_MS / 1000); /* bounded, whatever the client does */
		if (c >= 0) {
			(void)read(c, buf, sizeof(buf));
			(void)write(c, reply, sizeof(reply) - 1);
			while (read(c, buf, sizeof(buf)) > 0)
				; /* until the client closes */
		}
		_exit(0);
	}
	(void)snprintf(ct, sizeof(ct), "127.0.0.1:%u", port);
	base_cfg(&cfg);
	cfg.connect_to = ct;
	cfg.fetch_timeout_ms = NO_TIMEOUT;
	fetch_one(&cfg, "ok.test", &res);
	assert_int_equal(res.err, ERR_FETCH_TLS);
	assert_int_equal(res.status, 0);
	assert_true(res.elapsed_ms < cfg.fetch_timeout_ms);
	(void)close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void
test_concurrency_bound(void **state)
{
	struct cfg_resolver cfg;
	struct result res[5];
	const char *d[] = {"slow.test", "slow.test", "slow.test", "slow.test", "slow.test"};
	size_t before = count_lines("mta-sts.slow.test"), i;
	uint64_t elapsed;

	memset(res, 0, sizeof(res));
	base_cfg(&cfg);
	cfg.fetch_concurrency = 2;
	elapsed = fetch_many(&cfg, d, 5, res);
	for (i = 0; i < 5; i++) {
		assert_int_equal(res[i].err, 0);
		assert_string_equal(res[i].body, POLICY);
	}
	assert_int_equal(count_lines("mta-sts.slow.test") - before, 5);
	/* 300 ms each, at most two at a time: three waves. */
	assert_true(elapsed >= 3 * 300 - 20);
}

static void
test_cancel(void **state)
{
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct cfg_resolver cfg;
	struct result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
	struct fetch_req *q1, *q2;
	struct fetcher *f = NULL, *f2 = NULL;
	struct loop *loop = NULL;
	int pending = 1;

	base_cfg(&cfg);
	cfg.fetch_concurrency = 1;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, &cfg, &f), 0);
	r3.pending = &pending;
	r3.loop = loop;
	q1 = fetch_start(f, "slow.test", on_done, &r1); /* active */
	q2 = fetch_start(f, "slow.test", on_done, &r2); /* queued */
	assert_non_null(q1);
	assert_non_null(q2);
	assert_non_null(fetch_start(f, "ok.test", on_done, &r3)); /* queued */
	fetch_cancel(q2);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.err, -ECANCELED);
	assert_true(r2.body_null);
	fetch_cancel(q1);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.err, -ECANCELED);

	/* fetcher_free cancels what is running and what is queued. */
	assert_int_equal(fetcher_new(loop, &cfg, &f2), 0);
	assert_non_null(fetch_start(f2, "slow.test", on_done, &r4));
	assert_non_null(fetch_start(f2, "slow.test", on_done, &r5));
	f2 = fetcher_free(f2);
	assert_null(f2);
	assert_int_equal(r4.calls, 1);
	assert_int_equal(r4.err, -ECANCELED);
	assert_int_equal(r5.calls, 1);
	assert_int_equal(r5.err, -ECANCELED);

	/* The queued one behind the cancelled ones still completes. */
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, 0);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	f = fetcher_free(f);
	loop = loop_free(loop);
}

static void
test_callbacks_may_start_and_free(void **state)
{
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct cfg_resolver cfg;
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	struct fetcher *f = NULL;
	struct loop *loop = NULL;
	int pending = 1;

	base_cfg(&cfg);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, &cfg, &f), 0);
	/* r1's callback starts r2; r2's callback frees the fetcher while r3 is running. */
	r1.pending = &pending;
	r1.loop = loop;
	r1.start_from = f;
	r1.start_res = &r2;
	r2.free_fetcher = &f;
	assert_non_null(fetch_start(f, "ok.test", on_done, &r1));
	assert_non_null(fetch_start(f, "stall.test", on_done, &r3));
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	assert_int_equal(r1.err, 0);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.err, 0);
	assert_null(f);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, -ECANCELED);
	loop = loop_free(loop);
}

static void
test_invalid_domain(void **state)
{
	struct cfg_resolver cfg;
	struct fetcher *f = NULL;
	struct loop *loop = NULL;
	struct result res = {0};

	base_cfg(&cfg);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(fetcher_new(loop, &cfg, &f), 0);
	assert_null(fetch_start(f, "", on_done, &res));
	assert_null(fetch_start(f, "evil.test/x", on_done, &res));
	assert_null(fetch_start(f, "evil.test:8443", on_done, &res));
	assert_null(fetch_start(f, "user@evil.test", on_done, &res));
	assert_int_equal(res.calls, 0);
	f = fetcher_free(f);
	loop = loop_free(loop);
}

static void
test_content_type_rule(void **state)
{
	assert_int_equal(fetch_content_type_ok("text/plain"), 1);
	assert_int_equal(fetch_content_type_ok("TEXT/PLAIN"), 1);
	assert_int_equal(fetch_content_type_ok("text/plain; charset=utf-8"), 1);
	assert_int_equal(fetch_content_type_ok("text/plain;charset=iso-8859-1"), 1);
	assert_int_equal(fetch_content_type_ok("text/plain ; x=y"), 1);
	assert_int_equal(fetch_content_type_ok("text/plainx"), 0);
	assert_int_equal(fetch_content_type_ok("text/html"), 0);
	assert_int_equal(fetch_content_type_ok("text/plain-ish"), 0);
	assert_int_equal(fetch_content_type_ok("application/octet-stream"), 0);
	assert_int_equal(fetch_content_type_ok(""), 0);
	assert_int_equal(fetch_content_type_ok(NULL), 0);
}

/* One header line in an exact-size heap block, as libcurl hands it over (no NUL after). */
static int
header_line(struct fetch_headers *h, const char *line, size_t len, size_t max_body)
{
	char *copy = malloc(len);
	int r;

	assert_non_null(copy);
	memcpy(copy, line, len);
	r = fetch_header_line(h, copy, len, max_body);
	free(copy);
	return r;
}

#define HL(h, lit, max) header_line(h, lit, sizeof(lit) - 1, max)

/* Findings of fuzz_fetch_headers (docs/fuzzing.md, findings 7-9). */
static void
test_header_lines(void **state)
{
	struct fetch_headers h = {.content_length = -1};
	char detail[256];
	static const char nul_ct[] = "Content-Type: text/plain\0html\r\n";
	char pad[300];
	int n;

	(void)state;
	assert_int_equal(HL(&h, "HTTP/1.1 200 OK\r\n", 512), FETCH_HEADER_STATUS);
	assert_int_equal(HL(&h, "Content-Type: text/plain; charset=utf-8\r\n", 512),
	                 FETCH_HEADER_FIELD);
	assert_int_equal(HL(&h, "Content-Length: 512\r\n", 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_length, 512);
	assert_int_equal(HL(&h, "\r\n", 512), FETCH_HEADER_END);
	assert_int_equal(fetch_headers_check(&h, 200, 512, detail, sizeof(detail)), 0);

	/* an empty Content-Length was read past the line (23 bytes); it is now too large */
	assert_int_equal(HL(&h, "Content-Length:\r\n", 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_length, 513);
	/* leading zeros pushed the digits past the 23 bytes looked at: 0 */
	assert_int_equal(HL(&h, "Content-Length: 000000000000000000000000070000\r\n", 512),
	                 FETCH_HEADER_FIELD);
	assert_int_equal(fetch_headers_check(&h, 200, 512, detail, sizeof(detail)),
	                 ERR_FETCH_TOO_LARGE);
	assert_int_equal(HL(&h, "Content-Length: 100abc\r\n", 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_length, 513);
	assert_int_equal(HL(&h, "Content-Length: 0000512\r\n", 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_length, 512);

	/* text/plain only before a NUL, or only in the first 127 bytes kept */
	assert_int_equal(header_line(&h, nul_ct, sizeof(nul_ct) - 1, 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_type_ok, 0);
	assert_string_equal(h.content_type, "text/plain?html");
	n = snprintf(pad, sizeof(pad), "Content-Type: text/plain%200shtml\r\n", "");
	assert_int_equal(header_line(&h, pad, (size_t)n, 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_type_ok, 0);
	assert_int_equal(fetch_headers_check(&h, 200, 512, detail, sizeof(detail)),
	                 ERR_FETCH_CONTENT_TYPE);
	n = snprintf(pad, sizeof(pad), "Content-Type: text/plain%200s; charset=utf-8\r\n", "");
	assert_int_equal(header_line(&h, pad, (size_t)n, 512), FETCH_HEADER_FIELD);
	assert_int_equal(h.content_type_ok, 1);

	/* a hostile Content-Type (ESC, a lone CR, DEL, bytes >= 0x80, HTML) is kept only as
	 * printable text, and the refusal quotes that text */
	assert_int_equal(
	        HL(&h, "Content-Type: \x1b[31m<script>\rx\x7f\xc3\xa9\xff</script>\r\n", 512),
	        FETCH_HEADER_FIELD);
	assert_int_equal(h.content_type_ok, 0);
	assert_string_equal(h.content_type, "?[31m<script>?x???"
	                                    "?</script>");
	assert_int_equal(fetch_headers_check(&h, 200, 512, detail, sizeof(detail)),
	                 ERR_FETCH_CONTENT_TYPE);
	assert_string_equal(detail, "Content-Type '?[31m<script>?x???"
	                            "?</script>' is not text/plain");

	/* a status line starts over */
	assert_int_equal(HL(&h, "HTTP/1.1 301 Moved\r\n", 512), FETCH_HEADER_STATUS);
	assert_int_equal(h.content_type_ok, 0);
	assert_int_equal(h.content_length, -1);
	assert_string_equal(h.content_type, "");
	assert_int_equal(fetch_headers_check(&h, 301, 512, detail, sizeof(detail)),
	                 ERR_FETCH_REDIRECT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_content_type_rule),
	        cmocka_unit_test(test_header_lines),
	        cmocka_unit_test(test_ok),
	        cmocka_unit_test(test_content_type_with_params),
	        cmocka_unit_test(test_redirect),
	        cmocka_unit_test(test_404_and_500),
	        cmocka_unit_test(test_content_type_rejected),
	        cmocka_unit_test(test_oversize_content_length),
	        cmocka_unit_test(test_oversize_chunked),
	        cmocka_unit_test(test_small_limit_content_length),
	        cmocka_unit_test(test_timeouts),
	        cmocka_unit_test(test_wrong_name_certificate),
	        cmocka_unit_test(test_unknown_ca),
	        cmocka_unit_test(test_expired_certificate),
	        cmocka_unit_test(test_cn_only_certificate),
	        cmocka_unit_test(test_client_only_certificate),
	        cmocka_unit_test(test_intermediate_chain),
	        cmocka_unit_test(test_system_trust),
	        cmocka_unit_test(test_large_ca_bundle),
	        cmocka_unit_test(test_ca_read_once_per_fetcher),
	        cmocka_unit_test(test_verified_chain_cache),
	        cmocka_unit_test(test_tls11_only_server),
	        cmocka_unit_test(test_connect_refused),
	        cmocka_unit_test(test_tls_handshake_stall),
	        cmocka_unit_test(test_not_tls_server),
	        cmocka_unit_test(test_concurrency_bound),
	        cmocka_unit_test(test_cancel),
	        cmocka_unit_test(test_callbacks_may_start_and_free),
	        cmocka_unit_test(test_invalid_domain),
	};
	int r = tu_need_cmd("test_https_fetch", "certtool", "gnutls-bin");

	if (r != 0)
		return r;
	r = cmocka_run_group_tests_name("fetches on the loop", tests, group_setup, group_teardown);
	tf_threaded = 1;
	return r | cmocka_run_group_tests_name("fetches on a threaded multi", tests, group_setup,
	                                       group_teardown);
}
