/*
 * common/loop.h - the event loop interface (docs/style.md section 9); backend loop_sdevent.c
 *
 * Interface: loop_new/free/run/exit, loop_io_*, loop_timer_*, loop_defer, loop_signal_add,
 *            loop_now_ms, loop_wall_s, loop_watchdog_enable; for tests loop_new_fake,
 *            loop_fake_advance, loop_fake_run (the fake clock, below)
 * Threads:   a loop, its watches and its timers belong to the one thread that runs it: the
 *            main loop, or a worker of a threaded libcurl multi (common/curlm.h), each with
 *            a loop of its own. No call crosses threads.
 * Ownership: the caller owns every struct loop_timer (embed it in the request); the loop
 *            owns its internal sources. Callbacks may add/remove any io or timer, including
 *            their own.
 * Errors:    fallible calls return 0 or -errno.
 */
#ifndef MTASTSD_LOOP_H
#define MTASTSD_LOOP_H

#include <stdint.h>
#include <time.h>

struct loop;
struct loop_timer;

enum {
	LOOP_READ = 1u << 0,
	LOOP_WRITE = 1u << 1,
	LOOP_ERROR = 1u << 2, /* EPOLLERR/EPOLLHUP, reported in events only */
};

typedef void loop_io_fn(struct loop *loop, int fd, unsigned events, void *arg);
typedef void loop_timer_fn(struct loop *loop, struct loop_timer *t, void *arg);
typedef void loop_defer_fn(void *arg);
typedef void loop_signal_fn(struct loop *loop, int sig, void *arg);

/* A one-shot timer; embed it and zero it (or LOOP_TIMER_INIT) before first use. */
struct loop_timer {
	void *impl; /* backend source while armed, else NULL */
	loop_timer_fn *fn;
	void *arg;
	struct loop *loop;
};
#define LOOP_TIMER_INIT                                                                            \
	{                                                                                          \
		NULL, NULL, NULL, NULL                                                             \
	}

int loop_new(struct loop **ret_loop);
/* Frees the loop; every io and timer must already be removed. Returns NULL. */
struct loop *loop_free(struct loop *loop);
/* Runs until loop_exit(); returns the exit code given to loop_exit(), or -errno. */
int loop_run(struct loop *loop);
void loop_exit(struct loop *loop, int code);

/* Watch fd for LOOP_READ and/or LOOP_WRITE. One registration per fd. */
int loop_io_add(struct loop *loop, int fd, unsigned events, loop_io_fn *fn, void *arg);
int loop_io_mod(struct loop *loop, int fd, unsigned events);
/* Stop watching fd (does not close it). No-op when fd is not registered. */
void loop_io_del(struct loop *loop, int fd);

/* Arm t to run fn once after ms milliseconds; re-arming an armed timer moves it. */
void loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn,
                      void *arg);
/* Disarm; idempotent, safe on a zeroed or fired timer. */
void loop_timer_stop(struct loop *loop, struct loop_timer *t);
int loop_timer_armed(const struct loop_timer *t);

/* Run fn(arg) once, after the current dispatch (never from inside this call). */
void loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg);

/* Deliver sig through the loop (blocks it for the process, signalfd behind). */
int loop_signal_add(struct loop *loop, int sig, loop_signal_fn *fn, void *arg);

/* Monotonic time of the current iteration, milliseconds. */
uint64_t loop_now_ms(const struct loop *loop);
/* Wall clock, seconds since the epoch. */
time_t loop_wall_s(const struct loop *loop);

/* Send WATCHDOG=1 to systemd at half of WatchdogSec when the unit sets it. */
int loop_watchdog_enable(struct loop *loop);

/* ---- the fake clock, for tests (docs/architecture.md, "Tests") ----
 *
 * A fake loop is the same sd-event loop with a virtual clock. loop_now_ms() and
 * loop_wall_s() read the virtual clock, which moves only when the test calls
 * loop_fake_advance() or loop_fake_run(); timers fire then, in order of due time (timers
 * due at the same time in the order they were armed), each with the clock set to its due
 * time, and a timer armed by a callback fires in the same call when it falls due within
 * it. io, deferred calls and signals stay real: whatever is ready is dispatched (sd-event
 * polled with timeout 0) before the first timer, after each timer callback and before the
 * call returns, so a reply that a callback wrote to a socket, or a loop_defer() it queued,
 * is handled before the clock moves on. Nothing waits for real time: io that has not
 * arrived yet when the clock moves is not waited for. loop_run() is not available on a fake
 * loop (-EOPNOTSUPP), and loop_exit() ends loop_fake_run() only; a fake loop may be run
 * again after loop_exit(). Everything else in this header works as on a real loop. */

/* The virtual monotonic clock of a new fake loop (ms): not 0, so that "now - x" is safe. */
#define LOOP_FAKE_START_MS 1000000u

/* A fake loop whose virtual wall clock reads wall_s (seconds since the epoch; 0: the real
 * time now) at LOOP_FAKE_START_MS and advances with the virtual monotonic clock. Owned:
 * free with loop_free(). Returns 0 or -errno. */
int loop_new_fake(time_t wall_s, struct loop **ret_loop);
/* Move the virtual clock ms milliseconds ahead, firing every timer that falls due on the
 * way (loop_exit() is ignored here). Returns how many timer callbacks ran. Aborts (die())
 * on a real loop. */
unsigned long loop_fake_advance(struct loop *loop, uint64_t ms);
/* loop_run() on the virtual clock: dispatch what is ready, then jump to the next timer and
 * fire it, and so on until loop_exit(); at most max_ms of virtual time. Returns the code
 * given to loop_exit(), or -ETIMEDOUT when max_ms passed first (the clock then stands
 * max_ms ahead). Aborts (die()) on a real loop. */
int loop_fake_run(struct loop *loop, uint64_t max_ms);

#endif
