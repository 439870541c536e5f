/*
 * tests/unit/common/test_loop.c - the fake clock of common/loop_sdevent.c (loop.h)
 *
 * Covers: timers fire in order of due time (ties in arming order) at the right virtual
 * times, and only when the clock is moved; re-arming moves a timer (also from its own
 * callback: a periodic timer); stop (idempotent, from another timer's callback, on a zeroed
 * timer); timers armed from callbacks fire in the same advance when they fall due in it; a
 * callback may free its own timer; loop_fake_run() ends at loop_exit() and can run again;
 * the virtual wall clock; real io and deferred calls are dispatched before the clock moves.
 * Nothing here waits for real time.
 */
#include <errno.h>
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

#include "log.h"
#include "loop.h"
#include "xalloc.h"

#define WALL0  ((time_t)1767225600) /* 2026-01-01 00:00:00 UTC */
#define EV_MAX 32

/* What happened, in order: a name and the virtual time (ms since the loop's start). */
static struct {
	const char *what[EV_MAX];
	uint64_t at[EV_MAX];
	size_t n;
} ev;

static struct loop *L;

static void
note(const char *what)
{
	assert_true(ev.n < EV_MAX);
	ev.what[ev.n] = what;
	ev.at[ev.n] = loop_now_ms(L) - LOOP_FAKE_START_MS;
	ev.n++;
}

static void
assert_event(size_t i, const char *what, uint64_t at)
{
	assert_true(i < ev.n);
	assert_string_equal(ev.what[i], what);
	assert_int_equal(ev.at[i], at);
}

/* A timer whose callback notes its name. */
struct named {
	struct loop_timer t;
	const char *name;
};

static void
named_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct named *n = arg;

	assert_ptr_equal(loop, L);
	assert_ptr_equal(t, &n->t);
	assert_false(loop_timer_armed(t)); /* disarmed before its callback */
	note(n->name);
}

static void
arm(struct named *n, const char *name, uint64_t ms)
{
	n->name = name;
	loop_timer_start(L, &n->t, ms, named_fire, n);
}

static int
setup(void **state)
{
	memset(&ev, 0, sizeof(ev));
	return loop_new_fake(WALL0, &L);
}

static int
teardown(void **state)
{
	L = loop_free(L);
	return 0;
}

/* A case with its own fake loop L (wall clock WALL0) and a clean event record. */
#define ON_FAKE_LOOP(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static void
test_order_and_times(void **state)
{
	struct named a = {LOOP_TIMER_INIT, NULL}, b = {LOOP_TIMER_INIT, NULL},
	             c = {LOOP_TIMER_INIT, NULL}, d = {LOOP_TIMER_INIT, NULL};

	assert_int_equal(loop_now_ms(L), LOOP_FAKE_START_MS);
	assert_int_equal(loop_wall_s(L), WALL0);
	arm(&a, "a30", 30);
	arm(&b, "b10", 10);
	arm(&c, "c20", 20);
	arm(&d, "d10", 10); /* due with b: fires after it, in arming order */
	assert_true(loop_timer_armed(&a.t));
	/* Nothing fires before its time, and the clock moves only when told. */
	assert_int_equal(loop_fake_advance(L, 9), 0);
	assert_int_equal(ev.n, 0);
	assert_int_equal(loop_now_ms(L), LOOP_FAKE_START_MS + 9);
	assert_int_equal(loop_fake_advance(L, 21), 4);
	assert_int_equal(ev.n, 4);
	assert_event(0, "b10", 10);
	assert_event(1, "d10", 10);
	assert_event(2, "c20", 20);
	assert_event(3, "a30", 30);
	assert_int_equal(loop_now_ms(L), LOOP_FAKE_START_MS + 30);
	assert_false(loop_timer_armed(&a.t));
	/* The wall clock follows, in whole seconds. */
	assert_int_equal(loop_fake_advance(L, 1969), 0);
	assert_int_equal(loop_wall_s(L), WALL0 + 1);
	assert_int_equal(loop_fake_advance(L, 1), 0);
	assert_int_equal(loop_wall_s(L), WALL0 + 2);
}

/* A periodic timer: re-armed from its own callback three times. */
static void
periodic_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	int *left = arg;

	note("tick");
	if (--*left > 0)
		loop_timer_start(loop, t, 10, periodic_fire, arg);
}

static void
test_rearm(void **state)
{
	struct named a = {LOOP_TIMER_INIT, NULL};
	struct loop_timer p = LOOP_TIMER_INIT;
	int left = 3;

	arm(&a, "a", 10);
	arm(&a, "a", 50); /* moved, not doubled */
	assert_int_equal(loop_fake_advance(L, 20), 0);
	assert_true(loop_timer_armed(&a.t));
	loop_timer_start(L, &p, 10, periodic_fire, &left); /* at 30, 40, 50 */
	assert_int_equal(loop_fake_advance(L, 100), 4);
	assert_event(0, "tick", 30);
	assert_event(1, "tick", 40);
	assert_event(2, "a", 50); /* armed before the tick due at 50 was */
	assert_event(3, "tick", 50);
	assert_int_equal(ev.n, 4);
	assert_false(loop_timer_armed(&p));
}

static struct named stop_victim = {LOOP_TIMER_INIT, NULL};

static void
stopper_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	note("stopper");
	loop_timer_stop(loop, &stop_victim.t);
}

static void
test_stop(void **state)
{
	struct named a = {LOOP_TIMER_INIT, NULL}, b = {LOOP_TIMER_INIT, NULL};
	struct loop_timer zero = LOOP_TIMER_INIT, stopper = LOOP_TIMER_INIT;

	arm(&a, "a", 10);
	arm(&b, "b", 10);
	loop_timer_stop(L, &a.t);
	loop_timer_stop(L, &a.t); /* idempotent */
	loop_timer_stop(L, &zero);
	assert_false(loop_timer_armed(&a.t));
	/* A callback stops a timer due at the same time, armed after it. */
	loop_timer_start(L, &stopper, 20, stopper_fire, NULL);
	arm(&stop_victim, "victim", 20);
	assert_int_equal(loop_fake_advance(L, 1000), 2);
	assert_event(0, "b", 10);
	assert_event(1, "stopper", 20);
	assert_int_equal(ev.n, 2);
	assert_false(loop_timer_armed(&stop_victim.t));
}

/* Timers armed from a callback: at 0 ms (now), later in the window, past it. */
static struct named later[3];

static void
spawner_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	note("spawner");
	arm(&later[0], "now", 0);
	arm(&later[1], "plus5", 5);
	arm(&later[2], "plus100", 100);
}

static void
test_armed_from_callback(void **state)
{
	struct loop_timer s = LOOP_TIMER_INIT;

	memset(later, 0, sizeof(later));
	loop_timer_start(L, &s, 10, spawner_fire, NULL);
	assert_int_equal(loop_fake_advance(L, 50), 3);
	assert_event(0, "spawner", 10);
	assert_event(1, "now", 10);
	assert_event(2, "plus5", 15);
	assert_int_equal(ev.n, 3);
	assert_true(loop_timer_armed(&later[2].t));
	assert_int_equal(loop_fake_advance(L, 59), 0);
	assert_int_equal(loop_fake_advance(L, 1), 1);
	assert_event(3, "plus100", 110);
}

/* A request that frees itself (and its embedded timer) from the timer's callback. */
struct req {
	struct loop_timer t;
	int *freed;
};

static void
req_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct req *r = arg;

	*r->freed += 1;
	free(r);
}

static void
test_free_from_callback(void **state)
{
	struct req *r = xcalloc(1, sizeof(*r));
	int freed = 0;

	r->freed = &freed;
	loop_timer_start(L, &r->t, 5, req_fire, r);
	assert_int_equal(loop_fake_advance(L, 5), 1);
	assert_int_equal(freed, 1);
}

static void
exit_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	note("exit");
	loop_exit(loop, 7);
}

static void
test_run_until_exit(void **state)
{
	struct named a = {LOOP_TIMER_INIT, NULL}, b = {LOOP_TIMER_INIT, NULL};
	struct loop_timer x = LOOP_TIMER_INIT;

	assert_int_equal(loop_run(L), -EOPNOTSUPP);
	arm(&a, "a", 10);
	loop_timer_start(L, &x, 40, exit_fire, NULL);
	arm(&b, "b", 60);
	/* The clock jumps from timer to timer and stops at the one that exits. */
	assert_int_equal(loop_fake_run(L, 1000), 7);
	assert_int_equal(loop_now_ms(L), LOOP_FAKE_START_MS + 40);
	assert_int_equal(ev.n, 2);
	assert_event(0, "a", 10);
	assert_event(1, "exit", 40);
	/* It runs again: b, then no loop_exit() within 100 ms. */
	assert_int_equal(loop_fake_run(L, 100), -ETIMEDOUT);
	assert_event(2, "b", 60);
	assert_int_equal(loop_now_ms(L), LOOP_FAKE_START_MS + 140);
	/* loop_exit() outside loop_fake_run() is forgotten by the next run. */
	loop_exit(L, 3);
	assert_int_equal(loop_fake_run(L, 10), -ETIMEDOUT);
}

/* io and deferred calls are real, and handled before the clock moves on. */
static int pair[2] = {-1, -1};

static void
io_read(struct loop *loop, int fd, unsigned events, void *arg)
{
	char c;

	assert_true(events & LOOP_READ);
	assert_int_equal(read(fd, &c, 1), 1);
	note("io");
}

static void
deferred(void *arg)
{
	note("defer");
}

static void
writer_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	note("write");
	assert_int_equal(write(pair[1], "x", 1), 1);
	loop_defer(loop, deferred, NULL);
}

static void
test_io_and_defer(void **state)
{
	struct loop_timer w = LOOP_TIMER_INIT;
	struct named after = {LOOP_TIMER_INIT, NULL};
	size_t i;
	int io = 0, defer = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	assert_int_equal(loop_io_add(L, pair[0], LOOP_READ, io_read, NULL), 0);
	/* Ready before the clock moves: handled by an advance of 0 ms. */
	assert_int_equal(write(pair[1], "y", 1), 1);
	assert_int_equal(loop_fake_advance(L, 0), 0);
	assert_event(0, "io", 0);
	loop_timer_start(L, &w, 10, writer_fire, NULL);
	arm(&after, "after", 10); /* due at the same time, armed later */
	assert_int_equal(loop_fake_advance(L, 10), 2);
	assert_int_equal(ev.n, 5);
	assert_event(1, "write", 10);
	/* The write's io and its deferred call (in either order), before the next timer. */
	for (i = 2; i < 4; i++) {
		assert_int_equal(ev.at[i], 10);
		io += strcmp(ev.what[i], "io") == 0;
		defer += strcmp(ev.what[i], "defer") == 0;
	}
	assert_int_equal(io, 1);
	assert_int_equal(defer, 1);
	assert_event(4, "after", 10);
	loop_io_del(L, pair[0]);
	(void)close(pair[0]);
	(void)close(pair[1]);
}

static void
test_wall_now(void **state)
{
	struct loop *l;
	time_t before = time(NULL), at;

	assert_int_equal(loop_new_fake(0, &l), 0);
	at = loop_wall_s(l);
	assert_true(at >= before && at <= time(NULL));
	(void)loop_fake_advance(l, 86400 * 1000ull);
	assert_int_equal(loop_wall_s(l), at + 86400);
	l = loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        ON_FAKE_LOOP(test_order_and_times),
	        ON_FAKE_LOOP(test_rearm),
	        ON_FAKE_LOOP(test_stop),
	        ON_FAKE_LOOP(test_armed_from_callback),
	        ON_FAKE_LOOP(test_free_from_callback),
	        ON_FAKE_LOOP(test_run_until_exit),
	        ON_FAKE_LOOP(test_io_and_defer),
	        cmocka_unit_test(test_wall_now),
	};

	log_open("test_loop", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
