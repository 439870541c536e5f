/*
 * tests/unit/resolver/test_dns_client.c - dns_client against real servers on loopback
 *
 * ldns-testns serves tests/unit/data/dns/client.testns on a random port (UDP and TCP);
 * a socket the test binds and never reads plays the server that does not answer; an
 * in-process responder on the loop sends a wrong-ID and a wrong-question datagram before
 * the real answer. Every case asserts the exact error code and the decoded data.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns_client.h"
#include "err.h"
#include "loop.h"
#include "xalloc.h"

#define TESTNS_DATA TEST_DATA_DIR "/dns/client.testns"
#include "../testutil.h"
#include "testns.h"
/* Liveness bound of a run, and the dns_timeout of the tests that check a failure comes
 * before any timeout: far above what a loopback query takes, so no check depends on speed. */
#define GUARD_MS   60000
#define NO_TIMEOUT 30000
#define TXT_KEEP   4

static int silent_fd = -1;
static unsigned silent_port;

struct result {
	int calls;
	int err;
	int ad;
	size_t n_txt;
	char txt[TXT_KEEP][256];  /* the first 255 bytes */
	size_t txt_len[TXT_KEEP]; /* the whole length */
	int txt_err;
	const char *qname;
	struct loop *loop;
	int exit_when_done;
	struct dns_query *q; /* the handle, for dns_query_detail() in the callback */
	char detail[DNS_DETAIL_MAX];
};

/* ---- helpers ---------------------------------------------------------------------- */

static int
bind_udp(unsigned *ret_port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		(void)close(fd);
		return -1;
	}
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

static int
group_setup(void **state)
{
	if (testns_start() < 0)
		return -1;
	silent_fd = bind_udp(&silent_port);
	return silent_fd < 0 ? -1 : 0;
}

static int
group_teardown(void **state)
{
	testns_stop();
	if (silent_fd >= 0)
		(void)close(silent_fd);
	return 0;
}

static void
on_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct result *res = arg;
	struct txt_rr *rrs = NULL;
	size_t i, n = 0;

	res->calls++;
	res->err = err;
	res->ad = ad;
	(void)snprintf(res->detail, sizeof(res->detail), "%s", dns_query_detail(res->q));
	if (answer != NULL && err == 0 && res->qname != NULL) {
		res->txt_err = dns_answer_txt(answer, res->qname, &rrs, &n);
		if (res->txt_err == 0) {
			res->n_txt = n;
			for (i = 0; i < n && i < TXT_KEEP; i++) {
				(void)snprintf(res->txt[i], sizeof(res->txt[i]), "%.*s",
				               (int)rrs[i].len, rrs[i].data);
				res->txt_len[i] = rrs[i].len;
			}
			dns_txt_free(rrs, n);
		}
	}
	if (res->exit_when_done)
		loop_exit(res->loop, 0);
}

static void
on_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 99);
}

static void
server_text(char *buf, size_t len, unsigned port)
{
	(void)snprintf(buf, len, "127.0.0.1@%u", port);
}

/* Run one query against the given servers; fills res. Returns the loop's exit code. */
static int
run_query(char **servers, size_t n_servers, uint64_t timeout_ms, unsigned attempts,
          const char *name, unsigned flags, struct result *res, uint64_t *ret_elapsed_ms)
{
	struct cfg_resolver cfg;
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	struct dns_query *q;
	uint64_t t0;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = n_servers;
	cfg.dns_timeout_ms = timeout_ms;
	cfg.dns_attempts = attempts;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	res->loop = loop;
	res->qname = name;
	res->exit_when_done = 1;
	q = dns_query_start(c, name, LDNS_RR_TYPE_TXT, flags, on_done, res);
	assert_non_null(q);
	res->q = q;
	assert_int_equal(res->calls, 0); /* never from inside dns_query_start */
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	t0 = loop_now_ms(loop);
	r = loop_run(loop);
	if (ret_elapsed_ms != NULL)
		*ret_elapsed_ms = loop_now_ms(loop) - t0;
	loop_timer_stop(loop, &guard);
	c = dns_client_free(c);
	loop = loop_free(loop);
	return r;
}

static void
query_testns(const char *name, unsigned flags, struct result *res)
{
	char srv[64], *servers[1] = {srv};

	server_text(srv, sizeof(srv), testns_port);
	assert_int_equal(run_query(servers, 1, 1000, 1, name, flags, res, NULL), 0);
	assert_int_equal(res->calls, 1);
}

/* ---- cases ------------------------------------------------------------------------ */

static void
test_txt_two_strings(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.two.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.txt_err, 0);
	assert_int_equal(res.n_txt, 2);
	assert_string_equal(res.txt[0], "v=STSv1; id=20240101T000000Z;");
	assert_string_equal(res.txt[1], "other");
	assert_int_equal(res.ad, 0); /* no AD bit in this reply */
}

static void
test_cname_to_txt(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.cname.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.txt_err, 0);
	assert_int_equal(res.n_txt, 1); /* the unrelated owner is not picked up */
	assert_string_equal(res.txt[0], "v=STSv1; id=prov1;");
}

static void
test_cname_dangling_nodata(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.dangling.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_NODATA);
}

static void
test_nxdomain(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.nx.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_NXDOMAIN);
}

static void
test_nodata(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.nodata.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_NODATA);
}

static void
test_servfail(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.servfail.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_SERVFAIL);
}

static void
test_refused(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.refused.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_REFUSED);
}

static void
test_notimp_malformed(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.notimp.test", 0, &res);
	assert_int_equal(res.err, ERR_DNS_MALFORMED);
}

static void
test_tc_retries_tcp(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.tc.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_txt, 1);
	assert_string_equal(res.txt[0], "v=STSv1; id=viatcp;");
}

/* About 54 KB over TCP after TC: all 200 RRs, in order, none cut. */
static void
test_huge_answer_over_tcp(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.huge.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.txt_err, 0);
	assert_int_equal(res.n_txt, 200);
	assert_string_equal(res.txt[0], "v=STSv1; id=huge1;");
	assert_int_equal(strlen(res.txt[1]), 250);
	assert_memory_equal(res.txt[1], "001xxx", 6);
	assert_memory_equal(res.txt[3], "003xxx", 6);
}

/* One RR whose joined strings exceed STS_TXT_MAX: passed cut to STS_TXT_MAX + 1 bytes,
 * still starting as it did (its syntax check then refuses it: unit.sts_txt). */
static void
test_rr_over_txt_max(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.longrr.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.txt_err, 0);
	assert_int_equal(res.n_txt, 1);
	assert_int_equal(res.txt_len[0], STS_TXT_MAX + 1);
	assert_memory_equal(res.txt[0], "v=STSv1; id=long1;yyy", 21);
}

/* A long RR that is not a policy record beside one that is: both come back, the policy
 * record whole (it used to make the whole answer malformed: a temporary failure for a
 * domain whose zone also holds a long verification record). */
static void
test_long_other_rr_hides_nothing(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.longother.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.txt_err, 0);
	assert_int_equal(res.n_txt, 2);
	assert_int_equal(res.txt_len[0], STS_TXT_MAX + 1);
	assert_memory_equal(res.txt[0], "zzz", 3);
	assert_string_equal(res.txt[1], "v=STSv1; id=besidelong1;");
}

static void
test_wrong_id_ignored(void **state)
{
	char srv[64], *servers[1] = {srv};
	struct result res = {0};
	uint64_t elapsed = 0;

	server_text(srv, sizeof(srv), testns_port);
	assert_int_equal(run_query(servers, 1, 300, 1, "_mta-sts.wrongid.test", 0, &res, &elapsed),
	                 0);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, ERR_DNS_TIMEOUT);
	assert_true(elapsed >= 290);
}

static void
test_wrong_question_ignored(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.wrongq.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_txt, 1);
	assert_string_equal(res.txt[0], "v=STSv1; id=second;");
}

static void
test_ad_on_loopback(void **state)
{
	struct result res = {0};

	query_testns("_mta-sts.ad.test", 0, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.ad, 1);
	assert_string_equal(res.txt[0], "v=STSv1; id=secure;");
}

static void
test_do_flag_sends_edns(void **state)
{
	struct result res = {0};
	char srv[64], *servers[1] = {srv};

	query_testns("_mta-sts.do.test", DNS_FLAG_DO, &res);
	assert_int_equal(res.err, 0);
	assert_string_equal(res.txt[0], "v=STSv1; id=withdo;");

	/* Without DO the entry does not match and ldns-testns stays silent. */
	memset(&res, 0, sizeof(res));
	server_text(srv, sizeof(srv), testns_port);
	assert_int_equal(run_query(servers, 1, 200, 1, "_mta-sts.do.test", 0, &res, NULL), 0);
	assert_int_equal(res.err, ERR_DNS_TIMEOUT);
}

static void
test_timeout_all_attempts(void **state)
{
	char srv[64], *servers[1] = {srv};
	struct result res = {0};
	uint64_t elapsed = 0;

	server_text(srv, sizeof(srv), silent_port);
	assert_int_equal(run_query(servers, 1, 150, 3, "_mta-sts.two.test", 0, &res, &elapsed), 0);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, ERR_DNS_TIMEOUT);
	assert_true(elapsed >= 3 * 150 - 10);
	assert_true(elapsed < GUARD_MS);
}

/* A UDP port on 127.0.0.1 that nothing listens on (bound, then closed): the kernel answers
 * a datagram with ICMP port unreachable, which the connected socket reports as
 * ECONNREFUSED. */
static unsigned
closed_udp_port(void)
{
	unsigned port = 0;
	int fd = bind_udp(&port);

	assert_true(fd >= 0);
	(void)close(fd);
	return port;
}

static void
test_port_closed_unreachable(void **state)
{
	char srv[64], want[128], *servers[1] = {srv};
	struct result res = {0};
	uint64_t elapsed = 0;
	unsigned port = closed_udp_port();

	/* Every try refused: "server unreachable", a temporary failure that names the server,
	 * reported at once rather than as a timeout after dns_timeout (before the first try's
	 * timer could fire). */
	server_text(srv, sizeof(srv), port);
	assert_int_equal(
	        run_query(servers, 1, NO_TIMEOUT, 2, "_mta-sts.two.test", 0, &res, &elapsed), 0);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, ERR_DNS_UNREACHABLE);
	assert_string_equal(err_str(res.err), "DNS server unreachable");
	(void)snprintf(want, sizeof(want), "127.0.0.1@%u (connection refused)", port);
	assert_string_equal(res.detail, want);
	assert_true(elapsed < NO_TIMEOUT);
}

static void
test_port_closed_then_timeout(void **state)
{
	char s1[64], s2[64], *servers[2] = {s1, s2};
	struct result res = {0};

	/* One server refuses, the other never answers: no server answered, one timed out. */
	server_text(s1, sizeof(s1), closed_udp_port());
	server_text(s2, sizeof(s2), silent_port);
	assert_int_equal(run_query(servers, 2, 150, 1, "_mta-sts.two.test", 0, &res, NULL), 0);
	assert_int_equal(res.err, ERR_DNS_TIMEOUT);
	assert_string_equal(res.detail, "");
}

static void
test_port_closed_then_answer(void **state)
{
	char s1[64], s2[64], *servers[2] = {s1, s2};
	struct result res = {0};
	uint64_t elapsed = 0;

	/* The refusing server is skipped at once (before its try's timer could fire); the next
	 * one answers. */
	server_text(s1, sizeof(s1), closed_udp_port());
	server_text(s2, sizeof(s2), testns_port);
	assert_int_equal(
	        run_query(servers, 2, NO_TIMEOUT, 1, "_mta-sts.two.test", 0, &res, &elapsed), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_txt, 2);
	assert_string_equal(res.detail, "");
	assert_true(elapsed < NO_TIMEOUT);
}

static void
test_rotation_to_second_server(void **state)
{
	char s1[64], s2[64], *servers[2] = {s1, s2};
	struct result res = {0};
	uint64_t elapsed = 0;

	server_text(s1, sizeof(s1), silent_port);
	server_text(s2, sizeof(s2), testns_port);
	assert_int_equal(run_query(servers, 2, 200, 1, "_mta-sts.two.test", 0, &res, &elapsed), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_txt, 2);
	assert_true(elapsed >= 190); /* the first server's try timed out first */
}

static void
test_servfail_then_next_server(void **state)
{
	char s1[64], s2[64], *servers[2] = {s1, s2};
	struct result res = {0};

	/* Both servers SERVFAIL: the error survives rotation, no timeout is reported. */
	server_text(s1, sizeof(s1), testns_port);
	server_text(s2, sizeof(s2), testns_port);
	assert_int_equal(run_query(servers, 2, 1000, 2, "_mta-sts.servfail.test", 0, &res, NULL),
	                 0);
	assert_int_equal(res.err, ERR_DNS_SERVFAIL);
}

/* In-process responder: wrong ID, then wrong question, then a short datagram, then the
 * answer; the client must skip the first three. */
struct responder {
	int fd;
	int sent;
};

static void
responder_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct responder *rsp = arg;
	uint8_t buf[512], *wire = NULL;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ldns_pkt *q = NULL, *a;
	ldns_rr *rr = NULL;
	size_t wlen;
	ssize_t n;
	int i;

	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
		return;
	for (i = 0; i < 3; i++) {
		a = ldns_pkt_clone(q);
		ldns_pkt_set_qr(a, 1);
		if (i == 0) {
			ldns_pkt_set_id(a, (uint16_t)(ldns_pkt_id(q) + 1));
		} else if (i == 1) {
			ldns_rr_set_type(ldns_rr_list_rr(ldns_pkt_question(a), 0), LDNS_RR_TYPE_A);
		}
		assert_int_equal(ldns_rr_new_frm_str(&rr,
		                                     i == 2 ? "_mta-sts.inproc.test. 60 IN TXT "
		                                              "\"v=STSv1; id=good;\""
		                                            : "_mta-sts.inproc.test. 60 IN TXT "
		                                              "\"v=STSv1; id=evil;\"",
		                                     0, NULL, NULL),
		                 LDNS_STATUS_OK);
		ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
		assert_int_equal(ldns_pkt2wire(&wire, a, &wlen), LDNS_STATUS_OK);
		if (i == 2)
			(void)sendto(fd, wire, 5, 0, (struct sockaddr *)&from, flen);
		(void)sendto(fd, wire, wlen, 0, (struct sockaddr *)&from, flen);
		free(wire);
		ldns_pkt_free(a);
		rsp->sent++;
	}
	ldns_pkt_free(q);
}

static void
test_inproc_wrong_id_then_answer(void **state)
{
	struct cfg_resolver cfg;
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct responder rsp = {-1, 0};
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	struct result res = {0};
	char srv[64], *servers[1] = {srv};
	unsigned port = 0;

	rsp.fd = bind_udp(&port);
	assert_true(rsp.fd >= 0);
	server_text(srv, sizeof(srv), port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = 1;
	cfg.dns_timeout_ms = 2000;
	cfg.dns_attempts = 1;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(loop_io_add(loop, rsp.fd, LOOP_READ, responder_io, &rsp), 0);
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	res.loop = loop;
	res.qname = "_mta-sts.inproc.test";
	res.exit_when_done = 1;
	assert_non_null(dns_query_start(c, res.qname, LDNS_RR_TYPE_TXT, 0, on_done, &res));
	loop_timer_start(loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_stop(loop, &guard);
	assert_int_equal(rsp.sent, 3);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.n_txt, 1);
	assert_string_equal(res.txt[0], "v=STSv1; id=good;");
	loop_io_del(loop, rsp.fd);
	(void)close(rsp.fd);
	c = dns_client_free(c);
	loop = loop_free(loop);
}

static void
test_cancel_and_free(void **state)
{
	struct cfg_resolver cfg;
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	char srv[64], *servers[1] = {srv};
	struct dns_query *q1;

	server_text(srv, sizeof(srv), silent_port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = 1;
	cfg.dns_timeout_ms = 5000;
	cfg.dns_attempts = 1;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	assert_int_equal(dns_client_servers_loopback(c), 1);
	q1 = dns_query_start(c, "_mta-sts.two.test", LDNS_RR_TYPE_TXT, 0, on_done, &r1);
	assert_non_null(q1);
	assert_non_null(dns_query_start(c, "_mta-sts.nx.test", LDNS_RR_TYPE_TXT, 0, on_done, &r2));
	assert_non_null(
	        dns_query_start(c, "_mta-sts.nodata.test", LDNS_RR_TYPE_TXT, 0, on_done, &r3));
	dns_query_cancel(q1);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.err, -ECANCELED);
	assert_int_equal(r2.calls, 0);
	c = dns_client_free(c);
	assert_null(c);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.err, -ECANCELED);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, -ECANCELED);
	loop = loop_free(loop);
}

/* Many queries, resolver.dns_concurrency 4: at most 2 in flight on this client (the
 * other half is DANE's), the rest wait their turn; each is answered once, rightly. */
struct conc {
	struct dns_client *c;
	struct loop *loop;
	int calls, ok;
	unsigned peak_running, peak_waiting;
};

static void
conc_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct conc *k = arg;
	unsigned running, waiting;

	(void)answer;
	(void)ad;
	dns_client_queries(k->c, &running, &waiting);
	if (running > k->peak_running)
		k->peak_running = running;
	if (waiting > k->peak_waiting)
		k->peak_waiting = waiting;
	k->calls++;
	k->ok += err == ERR_DNS_NXDOMAIN;
	if (k->calls == 20)
		loop_exit(k->loop, 0);
}

static void
test_concurrency_queue(void **state)
{
	struct cfg_resolver cfg;
	struct loop_timer guard = LOOP_TIMER_INIT;
	struct conc k = {0};
	char srv[64], *servers[1] = {srv};
	unsigned running, waiting;
	int i;

	server_text(srv, sizeof(srv), testns_port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = 1;
	cfg.dns_timeout_ms = NO_TIMEOUT;
	cfg.dns_attempts = 1;
	cfg.dns_concurrency = 4;
	assert_int_equal(loop_new(&k.loop), 0);
	assert_int_equal(dns_client_new(k.loop, &cfg, &k.c), 0);
	for (i = 0; i < 20; i++)
		assert_non_null(dns_query_start(k.c, "_mta-sts.nx.test", LDNS_RR_TYPE_TXT, 0,
		                                conc_done, &k));
	loop_timer_start(k.loop, &guard, GUARD_MS, on_guard, NULL);
	assert_int_equal(loop_run(k.loop), 0);
	loop_timer_stop(k.loop, &guard);
	assert_int_equal(k.calls, 20);
	assert_int_equal(k.ok, 20);
	assert_true(k.peak_running <= 2);
	assert_true(k.peak_waiting >= 1); /* the queue was used */
	dns_client_queries(k.c, &running, &waiting);
	assert_int_equal(running + waiting, 0);
	k.c = dns_client_free(k.c);
	k.loop = loop_free(k.loop);
}

/* A waiting query canceled leaves the queue; a running one canceled hands its turn to the
 * first waiting one; freeing the client cancels the rest. Against a silent server. */
static void
on_exit_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_exit(loop, 0);
}

static void
test_concurrency_cancel(void **state)
{
	struct cfg_resolver cfg;
	struct loop_timer t = LOOP_TIMER_INIT;
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	char srv[64], *servers[1] = {srv};
	struct dns_query *q1, *q2;
	unsigned running, waiting;

	server_text(srv, sizeof(srv), silent_port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = 1;
	cfg.dns_timeout_ms = NO_TIMEOUT;
	cfg.dns_attempts = 1;
	cfg.dns_concurrency = 2; /* one query at a time on this client */
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	q1 = dns_query_start(c, "_mta-sts.two.test", LDNS_RR_TYPE_TXT, 0, on_done, &r1);
	q2 = dns_query_start(c, "_mta-sts.nx.test", LDNS_RR_TYPE_TXT, 0, on_done, &r2);
	assert_non_null(q1);
	assert_non_null(q2);
	assert_non_null(
	        dns_query_start(c, "_mta-sts.nodata.test", LDNS_RR_TYPE_TXT, 0, on_done, &r3));
	/* the first tries start from the loop (zero-delay timers, before this one) */
	loop_timer_start(loop, &t, 200, on_exit_timer, NULL);
	assert_int_equal(loop_run(loop), 0);
	dns_client_queries(c, &running, &waiting);
	assert_int_equal(running, 1);
	assert_int_equal(waiting, 2);
	dns_query_cancel(q2); /* waiting */
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.err, -ECANCELED);
	dns_client_queries(c, &running, &waiting);
	assert_int_equal(running, 1);
	assert_int_equal(waiting, 1);
	dns_query_cancel(q1); /* running: q3 takes its turn */
	assert_int_equal(r1.calls, 1);
	dns_client_queries(c, &running, &waiting);
	assert_int_equal(running, 1);
	assert_int_equal(waiting, 0);
	assert_int_equal(r3.calls, 0);
	c = dns_client_free(c);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, -ECANCELED);
	loop = loop_free(loop);
}

static void
test_invalid_name(void **state)
{
	struct cfg_resolver cfg;
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	struct result res = {0};
	char srv[] = "127.0.0.1", *servers[1] = {srv};
	char longname[300];

	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_servers = servers;
	cfg.n_dns_servers = 1;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	assert_null(dns_query_start(c, "", LDNS_RR_TYPE_TXT, 0, on_done, &res));
	assert_null(dns_query_start(c, "example.test.", LDNS_RR_TYPE_TXT, 0, on_done, &res));
	assert_null(dns_query_start(c, longname, LDNS_RR_TYPE_TXT, 0, on_done, &res));
	assert_int_equal(res.calls, 0);
	c = dns_client_free(c);
	loop = loop_free(loop);
}

static void
test_server_parse(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	assert_int_equal(dns_server_parse("127.0.0.1", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 53);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(dns_server_parse("127.0.0.1@5353", &ss, &len), 0);
	assert_int_equal(ntohs(in->sin_port), 5353);
	assert_int_equal(dns_server_parse("127.0.0.2:5300", &ss, &len), 0);
	assert_int_equal(ntohs(in->sin_port), 5300);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000002);
	assert_int_equal(dns_server_parse("[::1]:53", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 53);
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	assert_int_equal(dns_server_parse("::1", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 53);
	assert_int_equal(dns_server_parse("[::1]:8053", &ss, &len), 0);
	assert_int_equal(ntohs(in6->sin6_port), 8053);
	assert_int_equal(dns_server_parse("::1@5353", &ss, &len), 0);
	assert_int_equal(ntohs(in6->sin6_port), 5353);
	assert_int_equal(dns_server_parse("[::1]", &ss, &len), 0);
	assert_int_equal(dns_server_parse("", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("ns.example.test", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("127.0.0.1@0", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("127.0.0.1@70000", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("[::1", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("[::1]x", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("127.0.0.1@53x", &ss, &len), -EINVAL);
	/* IPv6 scope as glibc takes it from resolv.conf: an interface name or a number
	 * (issue 22: "nameserver fe80::53%1" was ignored) */
	assert_int_equal(dns_server_parse("fe80::53%1", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(in6->sin6_scope_id, 1);
	assert_int_equal(ntohs(in6->sin6_port), 53);
	assert_int_equal(dns_server_parse("[fe80::53%2]:5353", &ss, &len), 0);
	assert_int_equal(in6->sin6_scope_id, 2);
	assert_int_equal(ntohs(in6->sin6_port), 5353);
	assert_int_equal(dns_server_parse("fe80::53%lo", &ss, &len), 0);
	assert_int_equal(in6->sin6_scope_id, if_nametoindex("lo"));
	assert_int_equal(dns_server_parse("fe80::53%0", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("fe80::53%", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("fe80::53%4294967296", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("fe80::53%1x", &ss, &len), -EINVAL);
	assert_int_equal(dns_server_parse("fe80::53%no-such-if0", &ss, &len), -EINVAL);
}

/* An answer packet for qname/qtype with the given RRs (zone-file form). */
static ldns_pkt *
answer_pkt(const char *qname, ldns_rr_type qtype, const char *const *rrs, size_t n)
{
	ldns_pkt *p = NULL;
	ldns_rr *rr;
	size_t i;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, qname, qtype, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, 1);
	for (i = 0; i < n; i++) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	return p;
}

/* dns_answer_addrs(): the policy host's addresses (issue 22 part 5), after the CNAME chain,
 * other owners and types ignored, bounded by max. */
static void
test_answer_addrs(void **state)
{
	static const char *const a[] = {
	        "mta-sts.x.test. 60 IN CNAME policy.hoster.test.",
	        "policy.hoster.test. 60 IN A 192.0.2.10",
	        "elsewhere.test. 60 IN A 192.0.2.99", /* not on the chain */
	        "policy.hoster.test. 60 IN A 192.0.2.11",
	        "policy.hoster.test. 60 IN TXT \"not an address\"",
	};
	static const char *const aaaa[] = {"mta-sts.x.test. 60 IN AAAA 2001:db8::25"};
	dns_addr_text out[4];
	ldns_pkt *p;

	(void)state;
	p = answer_pkt("mta-sts.x.test.", LDNS_RR_TYPE_A, a, 5);
	assert_int_equal(dns_answer_addrs(p, LDNS_RR_TYPE_A, out, 4), 2);
	assert_string_equal(out[0], "192.0.2.10");
	assert_string_equal(out[1], "192.0.2.11");
	assert_int_equal(dns_answer_addrs(p, LDNS_RR_TYPE_A, out, 1), 1); /* bounded */
	assert_int_equal(dns_answer_addrs(p, LDNS_RR_TYPE_AAAA, out, 4), 0);
	ldns_pkt_free(p);
	p = answer_pkt("mta-sts.x.test.", LDNS_RR_TYPE_AAAA, aaaa, 1);
	assert_int_equal(dns_answer_addrs(p, LDNS_RR_TYPE_AAAA, out, 4), 1);
	assert_string_equal(out[0], "2001:db8::25");
	assert_int_equal(dns_answer_addrs(p, LDNS_RR_TYPE_TXT, out, 4), 0);
	ldns_pkt_free(p);
	assert_int_equal(dns_answer_addrs(NULL, LDNS_RR_TYPE_A, out, 4), 0);
}

/* dns_answer_mx(), the one MX reader of the MX check and `mtastsd check`: names normalised,
 * invalid ones (a null MX, an escaped byte) left out and counted, sorted by preference,
 * a name listed twice once at its lowest preference, other types ignored, bounded by max
 * with the total returned. */
static void
test_answer_mx(void **state)
{
	static const char *const rrs[] = {
	        "x.test. 60 IN MX 20 MX2.X.test.",
	        "x.test. 60 IN MX 10 mx1.x.test.",
	        "x.test. 60 IN MX 30 mx1.x.test.", /* again, worse preference */
	        "x.test. 60 IN MX 0 .",            /* null MX (RFC 7505) */
	        "x.test. 60 IN MX 5 bad\\032name.x.test.",
	        "x.test. 60 IN TXT \"not an MX\"",
	        "x.test. 60 IN MX 10 a.x.test.",
	};
	struct dns_mx out[4];
	size_t bad = 99;
	ldns_pkt *p;

	(void)state;
	p = answer_pkt("x.test.", LDNS_RR_TYPE_MX, rrs, 7);
	assert_int_equal(dns_answer_mx(p, out, 4, &bad), 3);
	assert_int_equal(bad, 2);
	assert_string_equal(out[0].name, "a.x.test");
	assert_int_equal(out[0].pref, 10);
	assert_string_equal(out[1].name, "mx1.x.test");
	assert_int_equal(out[1].pref, 10);
	assert_string_equal(out[2].name, "mx2.x.test");
	assert_int_equal(out[2].pref, 20);
	/* bounded: the best one written, the total returned */
	assert_int_equal(dns_answer_mx(p, out, 1, NULL), 3);
	assert_string_equal(out[0].name, "a.x.test");
	ldns_pkt_free(p);
	assert_int_equal(dns_answer_mx(NULL, out, 4, &bad), 0);
	assert_int_equal(bad, 0);
}

static void
test_resolv_conf(void **state)
{
	char path[] = "/tmp/mtastsd-resolv-XXXXXX";
	char **list = NULL;
	size_t n = 0, i;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("# comment\nsearch example.test\nnameserver 127.0.0.53\n"
	      "nameserver\t::1  # trailing\noptions edns0\n  nameserver 10.0.0.1\n"
	      "nameserverx 1.2.3.4\nnameserver\n",
	      fp);
	fclose(fp);
	assert_int_equal(dns_resolv_conf_read(path, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0], "127.0.0.53");
	assert_string_equal(list[1], "::1");
	assert_string_equal(list[2], "10.0.0.1");
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	(void)unlink(path);
	assert_int_equal(dns_resolv_conf_read("/nonexistent/resolv.conf", &list, &n), -ENOENT);
}

static void
test_loopback_flag(void **state)
{
	struct cfg_resolver cfg;
	struct dns_client *c = NULL;
	struct loop *loop = NULL;
	char s1[] = "127.0.0.1", s2[] = "192.0.2.1", s3[] = "not-an-address";
	char *mixed[2] = {s1, s2}, *bad[1] = {s3};

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(loop_new(&loop), 0);
	cfg.dns_servers = mixed;
	cfg.n_dns_servers = 2;
	assert_int_equal(dns_client_new(loop, &cfg, &c), 0);
	assert_int_equal(dns_client_servers_loopback(c), 0);
	c = dns_client_free(c);
	cfg.dns_servers = bad;
	cfg.n_dns_servers = 1;
	assert_int_equal(dns_client_new(loop, &cfg, &c), -EINVAL);
	loop = loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_txt_two_strings),
	        cmocka_unit_test(test_cname_to_txt),
	        cmocka_unit_test(test_cname_dangling_nodata),
	        cmocka_unit_test(test_nxdomain),
	        cmocka_unit_test(test_nodata),
	        cmocka_unit_test(test_servfail),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_notimp_malformed),
	        cmocka_unit_test(test_tc_retries_tcp),
	        cmocka_unit_test(test_huge_answer_over_tcp),
	        cmocka_unit_test(test_rr_over_txt_max),
	        cmocka_unit_test(test_long_other_rr_hides_nothing),
	        cmocka_unit_test(test_wrong_id_ignored),
	        cmocka_unit_test(test_wrong_question_ignored),
	        cmocka_unit_test(test_ad_on_loopback),
	        cmocka_unit_test(test_do_flag_sends_edns),
	        cmocka_unit_test(test_timeout_all_attempts),
	        cmocka_unit_test(test_rotation_to_second_server),
	        cmocka_unit_test(test_port_closed_unreachable),
	        cmocka_unit_test(test_port_closed_then_timeout),
	        cmocka_unit_test(test_port_closed_then_answer),
	        cmocka_unit_test(test_servfail_then_next_server),
	        cmocka_unit_test(test_inproc_wrong_id_then_answer),
	        cmocka_unit_test(test_cancel_and_free),
	        cmocka_unit_test(test_concurrency_queue),
	        cmocka_unit_test(test_concurrency_cancel),
	        cmocka_unit_test(test_invalid_name),
	        cmocka_unit_test(test_server_parse),
	        cmocka_unit_test(test_resolv_conf),
	        cmocka_unit_test(test_answer_addrs),
	        cmocka_unit_test(test_answer_mx),
	        cmocka_unit_test(test_loopback_flag),
	};
	int r = tu_need_cmd("test_dns_client", "ldns-testns", "ldnsutils");

	if (r != 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
