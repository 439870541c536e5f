/*
 * common/loop.h - the event loop interface (docs/style.md section 9); backend loop_sdevent.c
 *
 * Interface: loop_new/free/run/exit, loop_io_*, loop_timer_*, loop_defer, loop_signal_add,
 *            loop_now_ms, loop_wall_s, loop_watchdog_enable
 * Threads:   main loop thread only.
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

#endif
