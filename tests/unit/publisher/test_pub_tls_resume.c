/*
 * tests/unit/publisher/test_pub_tls_resume.c - publisher TLS session resumption, worker pool
 *
 * Covers: pub_new() on 127.0.0.1 with a test certificate (certtool): a GnuTLS client gets a
 *         session ticket and resumes with it, over TLS 1.3 and TLS 1.2 (regression: the
 *         publisher issued no tickets, every "resumed" handshake was a full one, bench
 *         issue 8); the HTTPS listener runs one MHD thread per CPU (1..PUB_THREADS_MAX) and
 *         several connections at once all get the policy.
 * The MHD threads serve on their own; the test never runs the main loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "cfg.h"
#include "loop.h"
#include "pub.h"
#include "../testutil.h"
#include "xalloc.h"

#define HOST "mta-sts.resume.test"

static char tmpdir[] = "/tmp/mtastsd-pubtls-XXXXXX";
static unsigned port;
static struct loop *loop;
static struct cfg *cfg;
static struct pub *pub;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
group_setup(void **state)
{
	char key[300], pem[300], tmpl[300], conf[300], errbuf[512], *text;
	int r;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	(void)snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	(void)snprintf(pem, sizeof(pem), "%s/cert.pem", tmpdir);
	(void)snprintf(tmpl, sizeof(tmpl), "%s/cert.tmpl", tmpdir);
	(void)snprintf(conf, sizeof(conf), "%s/mtastsd.conf", tmpdir);
	if (tu_certtool(key, pem, tmpl,
	                "cn = \"" HOST "\"\ndns_name = \"" HOST "\"\ntls_www_server\n"
	                "signing_key\nexpiration_days = 2\n",
	                NULL, NULL) < 0) {
		fprintf(stderr,
		        "cannot make the test certificate (certtool, package gnutls-bin)\n");
		return -1;
	}
	port = tu_free_tcp_port();
	text = xasprintf("publisher = {\n listen = [ \"127.0.0.1:%u\" ];\n http_listen = [ ];\n"
	                 " domains = ( { domain = \"resume.test\"; mode = \"enforce\";\n"
	                 "  max_age = 86400; mx = [ \"mail.resume.test\" ];\n"
	                 "  cert = \"%s\"; key = \"%s\"; } );\n};\n",
	                 port, pem, key);
	r = tu_write_file(conf, text);
	free(text);
	if (r < 0 || cfg_load(conf, &cfg, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "config: %s\n", errbuf);
		return -1;
	}
	if (loop_new(&loop) < 0 || pub_new(loop, cfg, &pub) < 0 || pub == NULL)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	pub = pub_free(pub);
	cfg = cfg_free(cfg);
	loop = loop_free(loop);
	(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int
tcp_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

struct client {
	int fd;
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
};

/* Handshake (resuming *data when it is not empty), GET the policy, return whether the
 * session was resumed; *data receives the session to resume next time. */
static int
fetch_once(const char *prio, gnutls_datum_t *data)
{
	static const char req[] = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: " HOST
	                          "\r\nConnection: close\r\n\r\n";
	struct client c;
	char buf[2048];
	size_t have = 0;
	ssize_t n;
	int r, resumed;

	assert_int_equal(gnutls_certificate_allocate_credentials(&c.cred), 0);
	assert_int_equal(gnutls_init(&c.s, GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_priority_set_direct(c.s, prio, NULL), 0);
	assert_int_equal(gnutls_credentials_set(c.s, GNUTLS_CRD_CERTIFICATE, c.cred), 0);
	assert_int_equal(gnutls_server_name_set(c.s, GNUTLS_NAME_DNS, HOST, strlen(HOST)), 0);
	if (data->size > 0)
		assert_int_equal(gnutls_session_set_data(c.s, data->data, data->size), 0);
	c.fd = tcp_connect();
	gnutls_transport_set_int(c.s, c.fd);
	gnutls_handshake_set_timeout(c.s, 10000);
	do
		r = gnutls_handshake(c.s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	assert_int_equal(r, 0);
	resumed = gnutls_session_is_resumed(c.s);
	assert_int_equal(gnutls_record_send(c.s, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	/* Read to the end: TLS 1.3 tickets come after the handshake. */
	while (have < sizeof(buf) - 1) {
		n = gnutls_record_recv(c.s, buf + have, sizeof(buf) - 1 - have);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "mode: enforce\r\n"));
	if (data->size > 0)
		gnutls_free(data->data);
	data->data = NULL;
	data->size = 0;
	assert_int_equal(gnutls_session_get_data2(c.s, data), 0);
	(void)gnutls_bye(c.s, GNUTLS_SHUT_WR);
	gnutls_deinit(c.s);
	gnutls_certificate_free_credentials(c.cred);
	(void)close(c.fd);
	return resumed;
}

static void
resume_with(const char *prio)
{
	gnutls_datum_t data = {NULL, 0};

	assert_int_equal(fetch_once(prio, &data), 0);
	assert_true(data.size > 0);
	assert_int_equal(fetch_once(prio, &data), 1);
	assert_int_equal(fetch_once(prio, &data), 1);
	gnutls_free(data.data);
}

static void
test_resume_tls13(void **state)
{
	resume_with("NORMAL:-VERS-ALL:+VERS-TLS1.3");
}

static void
test_resume_tls12(void **state)
{
	resume_with("NORMAL:-VERS-ALL:+VERS-TLS1.2");
}

static void
test_worker_pool(void **state)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus < 1 ? 1 : cpus > PUB_THREADS_MAX ? PUB_THREADS_MAX : (unsigned)cpus;
	gnutls_datum_t data[6];
	int i;

	assert_int_equal(pub_threads(pub), want);
	/* Connections in a row and interleaved, all served. */
	memset(data, 0, sizeof(data));
	for (i = 0; i < 6; i++)
		assert_int_equal(fetch_once("NORMAL", &data[i]), 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(fetch_once("NORMAL", &data[i]), 1);
		gnutls_free(data[i].data);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_resume_tls13),
	        cmocka_unit_test(test_resume_tls12),
	        cmocka_unit_test(test_worker_pool),
	};
	int r = tu_need_cmd("test_pub_tls_resume", "certtool", "gnutls-bin");

	if (r != 0)
		return r;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
