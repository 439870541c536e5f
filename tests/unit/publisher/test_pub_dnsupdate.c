/*
 * tests/unit/publisher/test_pub_dnsupdate.c - the RFC 2136 updater against an in-process
 *                                              primary on loopback
 *
 * Covers: pub_dnsupd_configure(), pub_dnsupd_domain_ready(), pub_dnsupd_report(),
 *         pub_dnsupd_free() on a real loop with a fake primary on 127.0.0.1 (TCP, same
 *         loop): ldns parses the updater's messages, checks the request's TSIG
 *         (ldns_pkt_tsig_verify(), no MAC) and signs its replies with the request's MAC.
 *         An empty zone gets both owned RRsets in one UPDATE (delete RRset + add each), a
 *         second attempt sends nothing; a reply signed with another secret is not trusted
 *         (result tsig, zone applied by the fake but the updater says so, retry pending);
 *         a primary that never answers ends in a timeout; free and configure with an
 *         exchange in flight cancel it (no callback afterwards; valgrind-clean).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "cfg.h"
#include "loop.h"
#include "pub_dnsupdate.h"

#define SECRET     "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
#define BAD_SECRET "c2VjcmV0c2VjcmV0c2VjcmV0d3Jvbmd3cm9uZ3dyb25n"
#define KEY        "mtastsd"
/* A bound on the real time one scenario may take (ms): far above the expected few ms. */
#define RUN_MAX_MS 20000

enum fake_mode {
	FAKE_GOOD,    /* answer and sign correctly */
	FAKE_BAD_MAC, /* sign replies to UPDATE with another secret */
	FAKE_SILENT,  /* never answer */
};

struct fake_conn {
	int fd;
	uint8_t buf[65537];
	size_t len;
};

struct fake {
	struct loop *loop;
	int lfd;
	uint16_t port;
	enum fake_mode mode;
	char *sts;    /* text at _mta-sts.example.com, NULL none */
	char *tlsrpt; /* text at _smtp._tls.example.com, NULL none */
	unsigned n_queries, n_updates, n_bad_request_tsig;
	struct fake_conn conns[8];
};

static struct fake F;

static char **
fake_slot(const ldns_rdf *owner)
{
	char *o = ldns_rdf2str(owner);
	char **slot = NULL;

	if (strcasecmp(o, "_mta-sts.example.com.") == 0)
		slot = &F.sts;
	else if (strcasecmp(o, "_smtp._tls.example.com.") == 0)
		slot = &F.tlsrpt;
	free(o);
	return slot;
}

static char *
txt_text(const ldns_rr *rr)
{
	char out[4096];
	size_t n = 0, i;

	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *b = ldns_rdf_data(f);

		memcpy(out + n, b + 1, b[0]);
		n += b[0];
	}
	out[n] = '\0';
	return strdup(out);
}

static void
fake_send(int fd, ldns_pkt *p)
{
	uint8_t *wire = NULL, hdr[2];
	size_t len = 0;

	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	assert_int_equal(send(fd, hdr, 2, MSG_NOSIGNAL), 2);
	assert_int_equal(send(fd, wire, len, MSG_NOSIGNAL), (ssize_t)len);
	free(wire);
}

static void
fake_handle(struct fake_conn *c, const uint8_t *msg, size_t len)
{
	ldns_pkt *q = NULL, *r;
	size_t i;

	assert_int_equal(ldns_wire2pkt(&q, msg, len), LDNS_STATUS_OK);
	if (F.mode == FAKE_SILENT) {
		ldns_pkt_free(q);
		return;
	}
	r = ldns_pkt_new();
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
	ldns_rr_list_deep_free(ldns_pkt_question(r));
	ldns_pkt_set_question(r, ldns_rr_list_clone(ldns_pkt_question(q)));
	ldns_pkt_set_qdcount(r, ldns_pkt_qdcount(q));
	if (ldns_pkt_get_opcode(q) == LDNS_PACKET_QUERY) {
		const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
		char **slot = fake_slot(ldns_rr_owner(qr));

		F.n_queries++;
		assert_null(ldns_pkt_tsig(q)); /* queries go unsigned */
		if (slot != NULL && *slot != NULL) {
			char buf[4200];
			ldns_rr *a = NULL;

			char *owner = ldns_rdf2str(ldns_rr_owner(qr));

			(void)snprintf(buf, sizeof(buf), "%s 300 IN TXT \"%s\"", owner, *slot);
			free(owner);
			assert_int_equal(ldns_rr_new_frm_str(&a, buf, 0, NULL, NULL),
			                 LDNS_STATUS_OK);
			(void)ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
		}
		fake_send(c->fd, r);
	} else {
		ldns_rr_list *up = ldns_pkt_authority(q);
		const ldns_rdf *mac;

		F.n_updates++;
		assert_non_null(ldns_pkt_tsig(q));
		if (!ldns_pkt_tsig_verify(q, msg, len, KEY, SECRET, NULL))
			F.n_bad_request_tsig++;
		for (i = 0; i < ldns_rr_list_rr_count(up); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(up, i);
			char **slot = fake_slot(ldns_rr_owner(rr));

			assert_non_null(slot); /* only the owned names */
			assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_TXT);
			free(*slot);
			*slot = NULL;
			if (ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN)
				*slot = txt_text(rr);
			else
				assert_int_equal(ldns_rr_get_class(rr), LDNS_RR_CLASS_ANY);
		}
		mac = ldns_rr_rdf(ldns_pkt_tsig(q), 3);
		assert_int_equal(ldns_pkt_tsig_sign(r, KEY,
		                                    F.mode == FAKE_BAD_MAC ? BAD_SECRET : SECRET,
		                                    300, "hmac-sha256.", mac),
		                 LDNS_STATUS_OK);
		fake_send(c->fd, r);
	}
	ldns_pkt_free(q);
	ldns_pkt_free(r);
}

static void
fake_conn_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct fake_conn *c = arg;
	ssize_t n;

	(void)events;
	n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n <= 0) {
		loop_io_del(loop, fd);
		(void)close(fd);
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	while (c->len >= 2) {
		size_t m = (size_t)c->buf[0] << 8 | c->buf[1];

		if (c->len < m + 2)
			break;
		fake_handle(c, c->buf + 2, m);
		memmove(c->buf, c->buf + 2 + m, c->len - 2 - m);
		c->len -= 2 + m;
	}
}

static void
fake_accept(struct loop *loop, int fd, unsigned events, void *arg)
{
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	size_t i;

	(void)events;
	(void)arg;
	if (cfd < 0)
		return;
	for (i = 0; i < 8; i++) {
		if (F.conns[i].fd < 0) {
			F.conns[i].fd = cfd;
			F.conns[i].len = 0;
			assert_int_equal(
			        loop_io_add(loop, cfd, LOOP_READ, fake_conn_io, &F.conns[i]), 0);
			return;
		}
	}
	(void)close(cfd);
}

static int
setup(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	size_t i;

	(void)state;
	memset(&F, 0, sizeof(F));
	for (i = 0; i < 8; i++)
		F.conns[i].fd = -1;
	assert_int_equal(loop_new(&F.loop), 0);
	F.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(F.lfd >= 0);
	assert_int_equal(bind(F.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(F.lfd, 8), 0);
	assert_int_equal(getsockname(F.lfd, (struct sockaddr *)&sin, &sl), 0);
	F.port = ntohs(sin.sin_port);
	assert_int_equal(loop_io_add(F.loop, F.lfd, LOOP_READ, fake_accept, NULL), 0);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 8; i++) {
		if (F.conns[i].fd >= 0) {
			loop_io_del(F.loop, F.conns[i].fd);
			(void)close(F.conns[i].fd);
		}
	}
	loop_io_del(F.loop, F.lfd);
	(void)close(F.lfd);
	F.loop = loop_free(F.loop);
	free(F.sts);
	free(F.tlsrpt);
	return 0;
}

/* ---- the configuration under test ---- */

static char *test_mx[] = {"mail.example.com"};
static char server[64];
static struct cfg_dns_update upd;
static struct cfg_domain dom;
static struct cfg cfg;

static void
cfg_make(enum sts_mode mode, uint64_t timeout_ms)
{
	(void)snprintf(server, sizeof(server), "127.0.0.1:%u", (unsigned)F.port);
	memset(&upd, 0, sizeof(upd));
	upd.name = "primary";
	upd.server = server;
	upd.zone = "example.com";
	upd.tsig_name = KEY;
	upd.tsig_algorithm = CFG_TSIG_HMAC_SHA256;
	upd.tsig_secret = SECRET;
	upd.ttl_s = 300;
	upd.timeout_ms = timeout_ms;
	upd.retry_max_ms = 60000;
	memset(&dom, 0, sizeof(dom));
	dom.domain = "example.com";
	dom.policy.mode = mode;
	dom.policy.max_age_s = 86400;
	dom.policy.n_mx = 1;
	dom.policy.mx = test_mx;
	dom.tlsrpt_rua = "mailto:tlsrpt@example.com";
	dom.dns_update = "primary";
	dom.upd = &upd;
	memset(&cfg, 0, sizeof(cfg));
	cfg.publisher.n_domains = 1;
	cfg.publisher.domains = &dom;
	cfg.publisher.n_dns_updates = 1;
	cfg.publisher.dns_updates = &upd;
}

/* A scenario: after each attempt (nothing in flight, an outcome), step(u, n) checks it and
 * starts the next one (returns 1), or returns 0 to end the loop. One loop_run() per test:
 * an sd-event loop runs once. */
typedef int scenario_fn(struct pub_dnsupd *u, unsigned n);
static scenario_fn *scenario;
static unsigned scenario_step;
static struct pub_dnsupd *scenario_u;

static void
until_idle(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pub_dnsupd_report rep;

	(void)arg;
	if (scenario_u != NULL) {
		(void)pub_dnsupd_report(scenario_u, 0, &rep);
		if (pub_dnsupd_busy(scenario_u) || rep.result == PUB_DNSUPD_NONE) {
			loop_timer_start(loop, t, 5, until_idle, NULL);
			return;
		}
	}
	if (!scenario(scenario_u, scenario_step++)) {
		loop_exit(loop, 0);
		return;
	}
	loop_timer_start(loop, t, 5, until_idle, NULL);
}

static void
give_up(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_exit(loop, -ETIMEDOUT);
}

static void
run(struct pub_dnsupd *u, scenario_fn *fn)
{
	struct loop_timer poll = LOOP_TIMER_INIT, guard = LOOP_TIMER_INIT;

	scenario = fn;
	scenario_step = 0;
	scenario_u = u;
	loop_timer_start(F.loop, &poll, 5, until_idle, NULL);
	loop_timer_start(F.loop, &guard, RUN_MAX_MS, give_up, NULL);
	assert_int_equal(loop_run(F.loop), 0);
	loop_timer_stop(F.loop, &poll);
	loop_timer_stop(F.loop, &guard);
}

static int
update_then_unchanged(struct pub_dnsupd *u, unsigned n)
{
	struct pub_dnsupd_report rep;

	(void)pub_dnsupd_report(u, 0, &rep);
	switch (n) {
	case 0:
		assert_int_equal(rep.result, PUB_DNSUPD_UPDATED);
		assert_int_equal(rep.rcode, 0);
		assert_int_equal(F.n_updates, 1);
		assert_int_equal(F.n_bad_request_tsig, 0);
		assert_string_equal(F.sts, rep.sets[0].want);
		assert_non_null(F.tlsrpt);
		assert_string_equal(F.tlsrpt, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
		assert_string_equal(rep.sets[0].before, "v=STSv1; id=handwritten");
		assert_string_equal(rep.sets[1].before, "");
		assert_int_equal(rep.sets[0].in_step, 1);
		assert_int_equal(rep.next_retry, 0);
		/* the same policy again: asked, nothing sent */
		pub_dnsupd_domain_ready(u, "example.com");
		return 1;
	case 1:
		assert_int_equal(rep.result, PUB_DNSUPD_UNCHANGED);
		assert_int_equal(F.n_updates, 1);
		/* a policy change: one more update, the new id */
		cfg_make(STS_MODE_TESTING, 5000);
		pub_dnsupd_configure(u, &cfg);
		pub_dnsupd_domain_ready(u, "example.com");
		return 1;
	default:
		assert_int_equal(rep.result, PUB_DNSUPD_UPDATED);
		assert_int_equal(F.n_updates, 2);
		assert_string_equal(F.sts, rep.sets[0].want);
		return 0;
	}
}

static void
test_update_then_unchanged(void **state)
{
	struct pub_dnsupd *u = pub_dnsupd_new(F.loop, PUB_DNSUPD_DAEMON);
	struct pub_dnsupd_report rep;

	(void)state;
	F.mode = FAKE_GOOD;
	F.sts = strdup("v=STSv1; id=handwritten");
	cfg_make(STS_MODE_ENFORCE, 5000);
	pub_dnsupd_configure(u, &cfg);
	assert_int_equal(pub_dnsupd_report(u, 0, &rep), 1);
	assert_int_equal(rep.result, PUB_DNSUPD_NONE);
	pub_dnsupd_domain_ready(u, "example.com");
	run(u, update_then_unchanged);
	(void)pub_dnsupd_free(u);
}

static int
bad_response_tsig(struct pub_dnsupd *u, unsigned n)
{
	struct pub_dnsupd_report rep;

	(void)n;
	(void)pub_dnsupd_report(u, 0, &rep);
	assert_int_equal(rep.result, PUB_DNSUPD_TSIG);
	assert_non_null(strstr(rep.error, "does not verify"));
	assert_true(rep.next_retry > 0); /* a retry is pending: free cancels it */
	assert_int_equal(F.n_updates, 1);
	return 0;
}

static void
test_bad_response_tsig(void **state)
{
	struct pub_dnsupd *u = pub_dnsupd_new(F.loop, PUB_DNSUPD_DAEMON);

	(void)state;
	F.mode = FAKE_BAD_MAC;
	cfg_make(STS_MODE_ENFORCE, 5000);
	pub_dnsupd_configure(u, &cfg);
	pub_dnsupd_domain_ready(u, "example.com");
	run(u, bad_response_tsig);
	(void)pub_dnsupd_free(u);
}

static struct loop_timer wait_timer;
static int waited;

static void
wait_done(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	waited = 1;
}

static int
timeout_and_cancel(struct pub_dnsupd *u, unsigned n)
{
	struct pub_dnsupd_report rep;

	switch (n) {
	case 0:
		(void)pub_dnsupd_report(u, 0, &rep);
		assert_int_equal(rep.result, PUB_DNSUPD_TIMEOUT);
		assert_non_null(strstr(rep.error, "no complete reply within 200 ms"));
		assert_int_equal(rep.next_retry, 0); /* ONCE: no retry */
		/* in flight, then a changed configuration: the exchange is cancelled */
		pub_dnsupd_domain_ready(u, "example.com");
		assert_int_equal(pub_dnsupd_busy(u), 1);
		cfg_make(STS_MODE_TESTING, 200);
		pub_dnsupd_configure(u, &cfg);
		assert_int_equal(pub_dnsupd_busy(u), 0);
		/* in flight, then freed: nothing of u may run afterwards (its timeout would
		 * fire within the 300 ms the loop still turns) */
		pub_dnsupd_domain_ready(u, "example.com");
		assert_int_equal(pub_dnsupd_busy(u), 1);
		(void)pub_dnsupd_free(u);
		scenario_u = NULL;
		return 1;
	case 1:
		loop_timer_start(F.loop, &wait_timer, 300, wait_done, NULL);
		return 1;
	default:
		return !waited; /* go on turning until the 300 ms are over */
	}
}

static void
test_timeout_and_cancel(void **state)
{
	struct pub_dnsupd *u = pub_dnsupd_new(F.loop, PUB_DNSUPD_ONCE);

	(void)state;
	F.mode = FAKE_SILENT;
	cfg_make(STS_MODE_ENFORCE, 200);
	pub_dnsupd_configure(u, &cfg);
	pub_dnsupd_domain_ready(u, "example.com");
	run(u, timeout_and_cancel);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_update_then_unchanged, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_response_tsig, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_and_cancel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
