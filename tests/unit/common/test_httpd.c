/*
 * tests/unit/common/test_httpd.c - the libmicrohttpd glue (common/httpd.c) on a real loop
 *
 * Covers: a daemon with its own thread on a listen.c socket answers a request; the opened,
 * completed and closed hooks run once each, and httpd_conn_data() returns what opened set;
 * a client that drips its request a byte at a time (the idle timeout never fires) is cut by
 * the request deadline (timeout_s after accept) and counted once as cut and timed out; the
 * open-connection count goes back to 0; with per_address 3, five connections from one
 * address leave three open and two closed at once, and another address still gets in.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd.h"
#include "listen.h"
#include "loop.h"
#include "../testutil.h"

/* What the hooks saw (they run on the MHD thread). */
static atomic_int n_opened, n_closed, n_completed, n_data_seen;
static int hook_data; /* the address the opened hook hands out */

static void
hook_opened(void *arg, struct MHD_Connection *conn, void **data)
{
	(void)arg;
	(void)conn;
	assert_null(*data);
	*data = &hook_data;
	atomic_fetch_add(&n_opened, 1);
}

static void
hook_closed(void *arg, struct MHD_Connection *conn, void *data)
{
	(void)arg;
	(void)conn;
	if (data == &hook_data)
		atomic_fetch_add(&n_closed, 1);
}

static void
hook_completed(void *arg, struct MHD_Connection *conn, void **req_ctx,
               enum MHD_RequestTerminationCode toe)
{
	(void)arg;
	(void)conn;
	(void)req_ctx;
	(void)toe;
	atomic_fetch_add(&n_completed, 1);
}

static enum MHD_Result
access_ok(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **req_ctx)
{
	static const char body[] = "ok\n";
	struct MHD_Response *rsp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_ctx;
	if (httpd_conn_data(conn) == &hook_data)
		atomic_fetch_add(&n_data_seen, 1);
	rsp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
	                                      MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

struct world {
	struct loop *loop;
	struct httpd *h;
	uint16_t port;
};

static int
setup(void **state)
{
	static struct world w;
	struct cfg_listen cl = {.host = "127.0.0.1", .port = 0};
	struct listen_opts o = {.default_host = "127.0.0.1", .backlog = 16};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256];

	if (loop_new(&w.loop) < 0 || listen_open(&cl, &o, &ls, errbuf, sizeof(errbuf)) < 0)
		return -1;
	w.port = ls.port;
	w.h = httpd_new(w.loop, &(struct httpd_cfg){.name = "test",
	                                            .deadline_name = "1 s",
	                                            .timeout_s = 1,
	                                            .max_connections = 8,
	                                            .conn_memory_max = 16 * 1024});
	if (httpd_start(w.h, listen_take_fd(&ls),
	                &(struct httpd_server){
	                        .flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	                        .access = access_ok,
	                        .opened = hook_opened,
	                        .closed = hook_closed,
	                        .completed = hook_completed,
	                },
	                "127.0.0.1") == NULL)
		return -1;
	*state = &w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	w->h = httpd_free(w->h);
	w->loop = loop_free(w->loop);
	return 0;
}

static int
client_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Wait (at most TU_LIVE_MS) until *v == want. */
static void
wait_for(atomic_int *v, int want)
{
	long long end = tu_now_ms() + TU_LIVE_MS;

	while (atomic_load(v) != want && tu_now_ms() < end)
		(void)poll(NULL, 0, 10);
	assert_int_equal(atomic_load(v), want);
}

static void
test_request_and_hooks(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct world *w = *state;
	struct httpd_counters hc;
	char buf[512];
	size_t len = 0;
	ssize_t n;
	int fd;

	atomic_store(&n_opened, 0);
	atomic_store(&n_closed, 0);
	atomic_store(&n_completed, 0);
	atomic_store(&n_data_seen, 0);
	fd = client_connect(w->port);
	assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	while (len < sizeof(buf) - 1) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	(void)close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(buf, "\r\n\r\nok\n"));
	wait_for(&n_closed, 1);
	assert_int_equal(atomic_load(&n_opened), 1);
	assert_int_equal(atomic_load(&n_completed), 1);
	assert_int_equal(atomic_load(&n_data_seen), 1);
	httpd_counters(w->h, &hc);
	assert_int_equal(hc.open, 0);
	assert_int_equal(hc.timed_out, 0);
	assert_int_equal(hc.cut, 0);
}

/* ---- slowloris: one byte every 300 ms, from a loop timer ---- */

struct drip {
	int fd;
	size_t sent;
	int64_t start_ms, cut_ms;
	struct loop_timer tick, guard;
};

static void
drip_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	static const char req[] =
	        "GET / HTTP/1.1\r\nHost: x\r\nX-Drip: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct drip *d = arg;
	char c;
	ssize_t n = recv(d->fd, &c, 1, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
	    send(d->fd, req + d->sent % (sizeof(req) - 1), 1, MSG_NOSIGNAL) < 0) {
		d->cut_ms = tu_now_ms();
		loop_exit(loop, 0);
		return;
	}
	d->sent++;
	loop_timer_start(loop, t, 100, drip_tick, d);
}

static void
drip_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_exit(loop, 1);
}

/* Wait (at most TU_LIVE_MS) until the group has want connections open; returns the count. */
static size_t
wait_open(struct httpd *h, size_t want)
{
	struct httpd_counters hc;
	long long end = tu_now_ms() + TU_LIVE_MS;

	for (;;) {
		httpd_counters(h, &hc);
		if (hc.open == want || tu_now_ms() >= end)
			return hc.open;
		(void)poll(NULL, 0, 10);
	}
}

static void
test_deadline_cuts_slow_client(void **state)
{
	struct world *w = *state;
	struct drip d = {.fd = -1};
	struct httpd_counters hc;

	d.fd = client_connect(w->port);
	d.start_ms = tu_now_ms();
	/* a byte every 100 ms: ten per idle timeout (1 s), so that a loaded machine (valgrind)
	 * that runs the ticks late still never lets the idle timer cut first */
	loop_timer_start(w->loop, &d.tick, 100, drip_tick, &d);
	loop_timer_start(w->loop, &d.guard, 60000, drip_guard, &d); /* liveness bound only */
	assert_int_equal(loop_run(w->loop), 0);
	loop_timer_stop(w->loop, &d.tick);
	loop_timer_stop(w->loop, &d.guard);
	(void)close(d.fd);
	/* deadline 1 s after accept: never cut before it (the client kept sending, so the idle
	 * timer never fired); that the deadline sweep made the cut is counted below (no upper
	 * bound on the time: a loaded machine may sweep late, and that is no failure) */
	assert_true(d.sent >= 3);
	assert_true(d.cut_ms - d.start_ms >= 900);
	assert_int_equal(wait_open(w->h, 0), 0);
	httpd_counters(w->h, &hc);
	assert_int_equal(hc.cut, 1);
	assert_int_equal(hc.timed_out, 1);
}

/* ---- per client address (MHD_OPTION_PER_IP_CONNECTION_LIMIT) ---- */

static int
client_connect_from(uint16_t port, const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in b = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(inet_pton(AF_INET, src, &b.sin_addr), 1);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The server closed fd (end of stream or reset); 0 while it is open and silent. */
static int
peer_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void
test_per_address_limit(void **state)
{
	struct cfg_listen cl = {.host = "127.0.0.1", .port = 0};
	struct listen_opts o = {.default_host = "127.0.0.1", .backlog = 16};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	struct pollfd pfd[5];
	struct loop *loop = NULL;
	struct httpd *h;
	char errbuf[256];
	int i, closed = 0, held, other;
	long long end;

	(void)state;
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(listen_open(&cl, &o, &ls, errbuf, sizeof(errbuf)), 0);
	h = httpd_new(loop, &(struct httpd_cfg){.name = "peraddr",
	                                        .deadline_name = "60 s",
	                                        .timeout_s = 60,
	                                        .max_connections = 8,
	                                        .per_address = 3,
	                                        .conn_memory_max = 16 * 1024});
	assert_non_null(
	        httpd_start(h, listen_take_fd(&ls),
	                    &(struct httpd_server){
	                            .flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	                            .access = access_ok,
	                    },
	                    "127.0.0.1"));
	/* five from one address: three held, two closed at once */
	for (i = 0; i < 5; i++) {
		pfd[i].fd = client_connect_from(ls.port, "127.0.0.2");
		pfd[i].events = POLLIN;
	}
	end = tu_now_ms() + TU_LIVE_MS;
	while (closed < 2 && tu_now_ms() < end) {
		(void)poll(NULL, 0, 10);
		for (i = 0, closed = 0; i < 5; i++)
			if (peer_closed(pfd[i].fd))
				closed++;
	}
	assert_int_equal(closed, 2);
	/* the three held stay open (no data, no end of stream) */
	assert_int_equal(wait_open(h, 3), 3);
	for (i = 0, held = 0; i < 5; i++)
		if (!peer_closed(pfd[i].fd))
			held++;
	assert_int_equal(held, 3);
	/* another address is still taken */
	other = client_connect_from(ls.port, "127.0.0.3");
	assert_int_equal(wait_open(h, 4), 4);
	(void)close(other);
	for (i = 0; i < 5; i++)
		(void)close(pfd[i].fd);
	assert_int_equal(wait_open(h, 0), 0);
	h = httpd_free(h);
	loop = loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_request_and_hooks),
	        cmocka_unit_test(test_deadline_cuts_slow_client),
	        cmocka_unit_test(test_per_address_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
