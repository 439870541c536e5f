/*
 * tests/unit/common/test_curlm.c - common/curlm.[ch]: the multi on the loop and the threaded
 * multi (curlm_new_threaded)
 *
 * Covers, for both kinds: every transfer added is reported exactly once, on the caller's
 * thread, with its result; a transfer removed right after curlm_add() is never reported;
 * removal racing the completion (transfers that have ended on the worker and wait in the
 * queue to the main loop) never reports the removed one and reports each other exactly
 * once; a done callback that removes another finished transfer; curlm_free() with
 * transfers running (answered, silent, never accepted) joins cleanly, reports nothing and
 * leaks nothing (ASan). The threaded multi runs the transfers' libcurl callbacks on
 * another thread. Each case runs many rounds. The peer is an HTTP/1.1 server thread of this
 * test on 127.0.0.1 (an ephemeral port): /fast answers at once, /slow never answers.
 * Waits are bounded by TU_LIVE_MS; nothing asserts speed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../testutil.h"
#include "curlm.h"
#include "loop.h"
#include "xalloc.h"

/* ---- the HTTP peer: one thread, /fast answered and closed, /slow kept silent ---- */

#define PEER_SLOW_MAX 512

static struct {
	pthread_t thread;
	int lfd;
	int port;
	atomic_int stop;
	int slow[PEER_SLOW_MAX];
	size_t n_slow;
} peer;

/* Read the request head (bounded in bytes and time); 1 for /slow, 0 otherwise. */
static int
peer_read_request(int fd)
{
	char buf[2048];
	size_t len = 0;
	ssize_t n;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (len < sizeof(buf) - 1) {
		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	buf[len] = '\0';
	return strncmp(buf, "GET /slow", 9) == 0;
}

static void *
peer_main(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                            "Content-Length: 2\r\nConnection: close\r\n\r\nok";
	struct pollfd p = {.fd = peer.lfd, .events = POLLIN};
	int fd;

	(void)arg;
	while (!atomic_load(&peer.stop)) {
		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(peer.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (peer_read_request(fd) && peer.n_slow < PEER_SLOW_MAX) {
			peer.slow[peer.n_slow++] = fd; /* never answered */
			continue;
		}
		(void)!write(fd, reply, sizeof(reply) - 1);
		(void)close(fd);
	}
	while (peer.n_slow > 0)
		(void)close(peer.slow[--peer.n_slow]);
	return NULL;
}

static int
peer_start(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);

	(void)state;
	peer.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(peer.lfd >= 0);
	assert_int_equal(bind(peer.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(peer.lfd, 1024), 0);
	assert_int_equal(getsockname(peer.lfd, (struct sockaddr *)&sa, &sl), 0);
	peer.port = ntohs(sa.sin_port);
	atomic_store(&peer.stop, 0);
	assert_int_equal(pthread_create(&peer.thread, NULL, peer_main, NULL), 0);
	return 0;
}

static int
peer_stop(void **state)
{
	(void)state;
	atomic_store(&peer.stop, 1);
	(void)pthread_join(peer.thread, NULL);
	(void)close(peer.lfd);
	return 0;
}

/* ---- transfers ---- */

struct xfer {
	CURL *easy;
	char url[96];
	int removed;    /* curlm_remove()d: done must never run */
	int done_calls; /* on the main thread */
	CURLcode result;
	pthread_t done_thread;
	atomic_size_t bytes;         /* write callback (the multi's thread) */
	atomic_int cb_on_main;       /* a libcurl callback ran on the main thread */
	atomic_int cb_off_main;      /* ... on another thread */
	struct xfer *remove_in_done; /* done removes this one */
	struct curlm *m;
};

static pthread_t main_thread;
static struct loop *L;
static unsigned n_done; /* done callbacks run */

static size_t
xfer_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;

	(void)data;
	if (pthread_equal(pthread_self(), main_thread))
		atomic_store(&x->cb_on_main, 1);
	else
		atomic_store(&x->cb_off_main, 1);
	atomic_fetch_add(&x->bytes, size * nmemb);
	return size * nmemb;
}

static void
xfer_done(CURL *easy, CURLcode result, void *arg)
{
	struct xfer *x = arg;

	assert_ptr_equal(easy, x->easy);
	x->done_calls++;
	x->result = result;
	x->done_thread = pthread_self();
	n_done++;
	if (x->remove_in_done != NULL) {
		curlm_remove(x->m, x->remove_in_done->easy);
		x->remove_in_done->removed = 1;
	}
}

static void
xfer_init(struct xfer *x, struct curlm *m, const char *path)
{
	memset(x, 0, sizeof(*x));
	x->m = m;
	(void)snprintf(x->url, sizeof(x->url), "http://127.0.0.1:%d%s", peer.port, path);
	x->easy = curl_easy_init();
	assert_non_null(x->easy);
	(void)curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	(void)curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(x->easy, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
	(void)curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)TU_LIVE_MS);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
}

static void
xfer_add(struct xfer *x)
{
	assert_int_equal(curlm_add(x->m, x->easy, xfer_done, x), 0);
}

static void
xfer_free(struct xfer *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		curl_easy_cleanup(x[i].easy);
}

/* Run the main loop until n_done reaches want, at most TU_LIVE_MS of real time. The main
 * loop is a fake loop (loop.h): a real sd-event loop cannot run again after loop_exit().
 * Its io (the sockets, the threaded multi's eventfd) is real and dispatched as it comes;
 * the check timer moves the virtual clock 1 ms at a time, so the loop spins meanwhile. */
static struct loop_timer poll_timer;
static unsigned want_done;
static long long deadline_ms;

static void
poll_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)arg;
	if (n_done >= want_done || tu_now_ms() > deadline_ms) {
		loop_exit(loop, 0);
		return;
	}
	loop_timer_start(loop, t, 1, poll_tick, NULL);
}

static void
run_until_done(unsigned want)
{
	want_done = want;
	deadline_ms = tu_now_ms() + TU_LIVE_MS;
	loop_timer_start(L, &poll_timer, 0, poll_tick, NULL);
	assert_int_equal(loop_fake_run(L, UINT64_MAX / 4), 0);
	loop_timer_stop(L, &poll_timer);
	assert_true(n_done >= want);
}

/* One more transfer to the fast path, run to its end: what was removed before had every
 * chance to be (wrongly) reported meanwhile. */
static void
sentinel(struct curlm *m)
{
	struct xfer s;
	unsigned before = n_done;

	xfer_init(&s, m, "/fast");
	xfer_add(&s);
	run_until_done(before + 1);
	assert_int_equal(s.done_calls, 1);
	assert_int_equal(s.result, CURLE_OK);
	xfer_free(&s, 1);
}

static struct curlm *
multi_new(int threaded)
{
	struct curlm *m = NULL;

	assert_int_equal(threaded ? curlm_new_threaded(L, 2, &m) : curlm_new(L, &m), 0);
	assert_non_null(m);
	return m;
}

static int
setup(void **state)
{
	(void)state;
	main_thread = pthread_self();
	n_done = 0;
	memset(&poll_timer, 0, sizeof(poll_timer));
	assert_int_equal(loop_new_fake(0, &L), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	L = loop_free(L);
	return 0;
}

/* Every transfer reported once, on the main thread, with its body. */
#define N_COMPLETE 40

static void
check_complete(int threaded)
{
	struct curlm *m = multi_new(threaded);
	struct xfer x[N_COMPLETE];
	size_t i;

	for (i = 0; i < N_COMPLETE; i++) {
		xfer_init(&x[i], m, "/fast");
		xfer_add(&x[i]);
	}
	assert_int_equal(curlm_running(m), N_COMPLETE);
	run_until_done(N_COMPLETE);
	for (i = 0; i < N_COMPLETE; i++) {
		assert_int_equal(x[i].done_calls, 1);
		assert_int_equal(x[i].result, CURLE_OK);
		assert_int_equal(atomic_load(&x[i].bytes), 2);
		assert_true(pthread_equal(x[i].done_thread, main_thread));
		/* threaded: libcurl's callbacks ran on the worker, never on the main thread */
		assert_int_equal(atomic_load(&x[i].cb_on_main), !threaded);
		assert_int_equal(atomic_load(&x[i].cb_off_main), threaded);
	}
	assert_int_equal(curlm_running(m), 0);
	/* a handle may be added again once reported */
	x[0].done_calls = 0;
	atomic_store(&x[0].bytes, 0);
	xfer_add(&x[0]);
	run_until_done(N_COMPLETE + 1);
	assert_int_equal(x[0].done_calls, 1);
	assert_int_equal(atomic_load(&x[0].bytes), 2);
	m = curlm_free(m);
	xfer_free(x, N_COMPLETE);
}

static void
test_complete(void **state)
{
	(void)state;
	check_complete(0);
}

static void
test_complete_threaded(void **state)
{
	(void)state;
	check_complete(1);
}

/* Removed right after curlm_add(): never reported, whatever the worker had done. */
#define N_CANCEL_ROUNDS 200

static void
check_cancel_at_once(int threaded)
{
	struct curlm *m = multi_new(threaded);
	struct xfer x;
	size_t i;

	for (i = 0; i < N_CANCEL_ROUNDS; i++) {
		xfer_init(&x, m, i % 2 ? "/fast" : "/slow");
		xfer_add(&x);
		curlm_remove(m, x.easy);
		curlm_remove(m, x.easy); /* a no-op now */
		assert_int_equal(curlm_running(m), 0);
		xfer_free(&x, 1); /* the handle is ours again at once */
	}
	sentinel(m);
	assert_int_equal(n_done, 1); /* the sentinel's only */
	m = curlm_free(m);
}

static void
test_cancel_at_once(void **state)
{
	(void)state;
	check_cancel_at_once(0);
}

static void
test_cancel_at_once_threaded(void **state)
{
	(void)state;
	check_cancel_at_once(1);
}

/* Removal racing completion: a batch is added, the main loop does not run for a random
 * 0-3 ms (the worker finishes some and queues them to the main loop), then every other one
 * is removed. The removed ones are never reported, the others exactly once. */
#define N_RACE_ROUNDS 40
#define N_RACE        16

static void
check_cancel_race(int threaded)
{
	struct curlm *m = multi_new(threaded);
	struct xfer x[N_RACE];
	size_t r, i, finished_removed = 0;
	unsigned base, kept;

	srand(21);
	for (r = 0; r < N_RACE_ROUNDS; r++) {
		base = n_done;
		for (i = 0; i < N_RACE; i++) {
			xfer_init(&x[i], m, "/fast");
			xfer_add(&x[i]);
		}
		(void)usleep((useconds_t)(rand() % 3000));
		kept = 0;
		for (i = 0; i < N_RACE; i++) {
			if (i % 2 == 0) {
				if (atomic_load(&x[i].bytes) > 0)
					finished_removed++; /* likely ended before its removal */
				curlm_remove(m, x[i].easy);
				x[i].removed = 1;
			} else {
				kept++;
			}
		}
		run_until_done(base + kept);
		sentinel(m);
		for (i = 0; i < N_RACE; i++) {
			assert_int_equal(x[i].done_calls, x[i].removed ? 0 : 1);
			if (!x[i].removed)
				assert_int_equal(x[i].result, CURLE_OK);
		}
		assert_int_equal(n_done, base + kept + 1);
		xfer_free(x, N_RACE);
	}
	print_message("%s: %zu removed transfers had their body already\n",
	              threaded ? "threaded" : "loop", finished_removed);
	m = curlm_free(m);
}

static void
test_cancel_race(void **state)
{
	(void)state;
	check_cancel_race(0);
}

static void
test_cancel_race_threaded(void **state)
{
	(void)state;
	check_cancel_race(1);
}

/* A done callback removes another transfer that has finished too (queued behind it on a
 * threaded multi): that one is never reported. */
#define N_DONE_REMOVE_ROUNDS 30

static void
check_remove_in_done(int threaded)
{
	struct curlm *m = multi_new(threaded);
	struct xfer a, b;
	long long until;
	size_t r;

	for (r = 0; r < N_DONE_REMOVE_ROUNDS; r++) {
		unsigned base = n_done;

		xfer_init(&a, m, "/fast");
		xfer_init(&b, m, "/fast");
		a.remove_in_done = &b;
		b.remove_in_done = &a;
		xfer_add(&a);
		xfer_add(&b);
		/* threaded: let both finish on the worker before the main loop looks */
		until = tu_now_ms() + TU_LIVE_MS;
		while (threaded && (atomic_load(&a.bytes) == 0 || atomic_load(&b.bytes) == 0) &&
		       tu_now_ms() < until)
			(void)usleep(200);
		run_until_done(base + 1);
		sentinel(m);
		/* exactly one of the two was reported, and it removed the other */
		assert_int_equal(a.done_calls + b.done_calls, 1);
		assert_int_equal(a.removed + b.removed, 1);
		assert_int_equal(a.done_calls, b.removed);
		assert_int_equal(n_done, base + 2);
		assert_int_equal(curlm_running(m), 0);
		curl_easy_cleanup(a.easy);
		curl_easy_cleanup(b.easy);
	}
	m = curlm_free(m);
}

static void
test_remove_in_done(void **state)
{
	(void)state;
	check_remove_in_done(0);
}

static void
test_remove_in_done_threaded(void **state)
{
	(void)state;
	check_remove_in_done(1);
}

/* curlm_free() with transfers added (queued, connecting, silent, finished and queued):
 * nothing is reported, the worker is joined, nothing leaks. */
#define N_FREE_ROUNDS 20
#define N_FREE        24

static void
check_free_running(int threaded)
{
	struct xfer x[N_FREE];
	struct curlm *m;
	size_t r, i;

	for (r = 0; r < N_FREE_ROUNDS; r++) {
		m = multi_new(threaded);
		for (i = 0; i < N_FREE; i++) {
			xfer_init(&x[i], m, i % 3 == 0 ? "/slow" : "/fast");
			xfer_add(&x[i]);
		}
		(void)usleep((useconds_t)(r * 150));
		m = curlm_free(m);
		for (i = 0; i < N_FREE; i++)
			assert_int_equal(x[i].done_calls, 0);
		xfer_free(x, N_FREE);
	}
	/* the main loop has nothing left of them */
	{
		struct curlm *m2 = multi_new(threaded);

		sentinel(m2);
		m2 = curlm_free(m2);
	}
	assert_int_equal(n_done, 1);
}

static void
test_free_running(void **state)
{
	(void)state;
	check_free_running(0);
}

static void
test_free_running_threaded(void **state)
{
	(void)state;
	check_free_running(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_complete_threaded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_at_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_at_once_threaded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_race, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_race_threaded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_in_done, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_in_done_threaded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_running, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_running_threaded, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, peer_start, peer_stop);
}
