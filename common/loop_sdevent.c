/*
 * common/loop_sdevent.c - loop.h on libsystemd's sd-event, and its fake clock for tests
 *
 * Interface: see loop.h
 * Threads:   one thread per loop (loop.h); nothing is shared between loops.
 * Ownership: io sources are kept in an fd-indexed table; a fired timer drops its source
 *            before calling back, so a request may free itself from its own timer. On a
 *            fake loop (loop->fake) timers are nodes of a list sorted by due time instead of
 *            sd-event sources; io, deferred calls and signals are the same sd-event sources.
 * Errors:    -errno from sd-event.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "loop.h"
#include "xalloc.h"

struct loop_io {
	loop_io_fn *fn; /* NULL when the fd is not registered */
	void *arg;
	uint32_t gen; /* bumped on every add and del: stale events are dropped */
	int in_set;   /* in the inner epoll set (not while its events are 0) */
};

struct loop_deferred {
	struct loop_deferred *next;
	loop_defer_fn *fn;
	void *arg;
};

struct loop_sig {
	struct loop *loop;
	loop_signal_fn *fn;
	void *arg;
	sd_event_source *src;
	struct loop_sig *next;
};

/* A timer of a fake loop: t->impl points here while it is armed. */
struct loop_fake_timer {
	struct loop_fake_timer *next;
	uint64_t due_ms;
	struct loop_timer *t;
};

/* The virtual clock of a fake loop (loop.h, "the fake clock"). */
struct loop_fake {
	uint64_t now_ms;
	time_t wall0_s;                 /* the wall clock at LOOP_FAKE_START_MS */
	struct loop_fake_timer *timers; /* sorted by due_ms, then by arming order */
	int exit_requested;
	int exit_code;
};

struct loop {
	sd_event *ev;
	struct loop_fake *fake; /* NULL: a real loop */
	struct loop_io *io;     /* indexed by fd */
	int epfd;               /* inner epoll set holding every io fd, one sd-event source */
	sd_event_source *ep_src;
	size_t nio;
	sd_event_source *defer_src;
	struct loop_deferred *dq_head, *dq_tail;
	struct loop_sig *sigs;
};

static uint32_t
loop_epoll_events(unsigned events)
{
	uint32_t e = 0;

	if (events & LOOP_READ)
		e |= EPOLLIN;
	if (events & LOOP_WRITE)
		e |= EPOLLOUT;
	return e;
}

/* The io fds live in one inner epoll set, watched by sd-event as a single source. One wake
 * drains up to LOOP_IO_BATCH ready fds: sd-event dispatches one source per iteration and
 * polls again in between, which made thousands of ready connections (a burst of closes)
 * cost O(n^2) polls. */
#define LOOP_IO_BATCH 256

static int
loop_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct loop *loop = userdata;
	struct epoll_event evs[LOOP_IO_BATCH];
	int n, i;

	n = epoll_wait(loop->epfd, evs, LOOP_IO_BATCH, 0);
	for (i = 0; i < n; i++) {
		int efd = (int)(evs[i].data.u64 & 0xffffffffu);
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32), re = evs[i].events;
		unsigned ev = 0;

		if (efd < 0 || (size_t)efd >= loop->nio || loop->io[efd].fn == NULL ||
		    loop->io[efd].gen != gen)
			continue; /* removed (or replaced) by an earlier callback of this batch */
		if (re & (EPOLLIN | EPOLLRDHUP))
			ev |= LOOP_READ;
		if (re & EPOLLOUT)
			ev |= LOOP_WRITE;
		if (re & (EPOLLERR | EPOLLHUP))
			ev |= LOOP_ERROR | LOOP_READ;
		loop->io[efd].fn(loop, efd, ev, loop->io[efd].arg);
	}
	return 0;
}

static int
loop_defer_cb(sd_event_source *s, void *userdata)
{
	struct loop *loop = userdata;
	struct loop_deferred *d, *head;

	/* Run what is queued now; what the callbacks queue runs on the next iteration. */
	head = loop->dq_head;
	loop->dq_head = loop->dq_tail = NULL;
	(void)sd_event_source_set_enabled(loop->defer_src, SD_EVENT_OFF);
	while (head != NULL) {
		d = head;
		head = d->next;
		d->fn(d->arg);
		free(d);
	}
	return 0;
}

int
loop_new(struct loop **ret_loop)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));
	int r;

	loop->epfd = -1;
	r = sd_event_new(&loop->ev);
	if (r < 0)
		goto fail;
	r = sd_event_add_defer(loop->ev, &loop->defer_src, loop_defer_cb, loop);
	if (r < 0)
		goto fail;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(loop->ev, &loop->ep_src, loop->epfd, EPOLLIN, loop_io_cb, loop);
	if (r < 0)
		goto fail;
	(void)sd_event_source_set_enabled(loop->defer_src, SD_EVENT_OFF);
	*ret_loop = loop;
	return 0;
fail:
	loop->ep_src = sd_event_source_unref(loop->ep_src);
	if (loop->epfd >= 0)
		(void)close(loop->epfd);
	loop->defer_src = sd_event_source_unref(loop->defer_src);
	loop->ev = sd_event_unref(loop->ev);
	free(loop);
	return r;
}

struct loop *
loop_free(struct loop *loop)
{
	struct loop_deferred *d;
	struct loop_sig *s;

	if (loop == NULL)
		return NULL;
	free(loop->io);
	(void)sd_event_source_disable_unref(loop->ep_src);
	(void)close(loop->epfd);
	while ((d = loop->dq_head) != NULL) {
		loop->dq_head = d->next;
		free(d);
	}
	while ((s = loop->sigs) != NULL) {
		loop->sigs = s->next;
		(void)sd_event_source_disable_unref(s->src);
		free(s);
	}
	(void)sd_event_source_disable_unref(loop->defer_src);
	(void)sd_event_unref(loop->ev);
	if (loop->fake != NULL) {
		struct loop_fake_timer *ft;

		/* Timers left armed (a bug of the caller): their owners may be gone already,
		 * so only the nodes are freed. */
		while ((ft = loop->fake->timers) != NULL) {
			loop->fake->timers = ft->next;
			free(ft);
		}
		free(loop->fake);
	}
	free(loop);
	return NULL;
}

int
loop_run(struct loop *loop)
{
	if (loop->fake != NULL)
		return -EOPNOTSUPP;
	return sd_event_loop(loop->ev);
}

void
loop_exit(struct loop *loop, int code)
{
	if (loop->fake != NULL) {
		loop->fake->exit_requested = 1;
		loop->fake->exit_code = code;
		return;
	}
	(void)sd_event_exit(loop->ev, code);
}

/* Put fd's interest into the inner epoll set. Events 0 takes the fd out of the set
 * entirely, since epoll reports EPOLLHUP/EPOLLERR even with no events requested, and a
 * paused connection whose peer hung up would otherwise wake the loop forever. */
static int
loop_io_apply(struct loop *loop, int fd, unsigned events)
{
	struct loop_io *io = &loop->io[fd];
	struct epoll_event ev = {0};
	int op;

	if (events == 0) {
		if (io->in_set)
			(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		io->in_set = 0;
		return 0;
	}
	ev.events = loop_epoll_events(events);
	ev.data.u64 = ((uint64_t)io->gen << 32) | (uint32_t)fd;
	op = io->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
		return -errno;
	io->in_set = 1;
	return 0;
}

int
loop_io_add(struct loop *loop, int fd, unsigned events, loop_io_fn *fn, void *arg)
{
	int r;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= loop->nio) {
		size_t n = (size_t)fd + 64;
		loop->io = xrealloc(loop->io, n * sizeof(*loop->io));
		memset(loop->io + loop->nio, 0, (n - loop->nio) * sizeof(*loop->io));
		loop->nio = n;
	}
	if (loop->io[fd].fn != NULL)
		return -EEXIST;
	loop->io[fd].gen++;
	loop->io[fd].in_set = 0;
	r = loop_io_apply(loop, fd, events);
	if (r < 0)
		return r;
	loop->io[fd].fn = fn;
	loop->io[fd].arg = arg;
	return 0;
}

int
loop_io_mod(struct loop *loop, int fd, unsigned events)
{
	if (fd < 0 || (size_t)fd >= loop->nio || loop->io[fd].fn == NULL)
		return -ENOENT;
	return loop_io_apply(loop, fd, events);
}

void
loop_io_del(struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nio || loop->io[fd].fn == NULL)
		return;
	/* ENOENT/EBADF when the caller closed the fd first: the kernel dropped it already */
	if (loop->io[fd].in_set)
		(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->io[fd].in_set = 0;
	loop->io[fd].fn = NULL;
	loop->io[fd].arg = NULL;
	loop->io[fd].gen++;
}

static int
loop_timer_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct loop_timer *t = userdata;

	/* Drop the source first: the callback may free the object t is embedded in. */
	t->impl = sd_event_source_disable_unref(s);
	t->fn(t->loop, t, t->arg);
	return 0;
}

static void loop_fake_timer_start(struct loop *loop, struct loop_timer *t, uint64_t ms);
static void loop_fake_timer_stop(struct loop_timer *t);

/* How late sd-event may fire a timer (sd_event_add_time(3): it picks a wake-up in [time,
 * time + accuracy], aligned to coalesce wake-ups). 1 ms for real delays; a zero-delay timer
 * ("on the next loop iteration": a DNS query's first send, the fetch dispatch, DANE's kick)
 * fires at once: with 1 ms each one waited up to 1 ms for the next aligned millisecond, and
 * a cold lookup passes through four in a row (TXT query, A/AAAA, curl's first timeout, the
 * fetch's result). 1 us, not 0: 0 selects sd-event's default of 250 ms. */
static uint64_t
loop_timer_accuracy_us(uint64_t ms)
{
	return ms == 0 ? 1 : 1000;
}

void
loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn, void *arg)
{
	uint64_t now = 0;
	int r;

	t->fn = fn;
	t->arg = arg;
	if (loop->fake != NULL) {
		loop_fake_timer_start(loop, t, ms);
		return;
	}
	t->loop = loop;
	(void)sd_event_now(loop->ev, CLOCK_MONOTONIC, &now);
	if (t->impl != NULL) {
		r = sd_event_source_set_time(t->impl, now + ms * 1000);
		if (r >= 0)
			r = sd_event_source_set_time_accuracy(t->impl, loop_timer_accuracy_us(ms));
		if (r >= 0)
			r = sd_event_source_set_enabled(t->impl, SD_EVENT_ONESHOT);
		if (r >= 0)
			return;
		t->impl = sd_event_source_disable_unref(t->impl);
	}
	r = sd_event_add_time(loop->ev, (sd_event_source **)&t->impl, CLOCK_MONOTONIC,
	                      now + ms * 1000, loop_timer_accuracy_us(ms), loop_timer_cb, t);
	if (r == -ESTALE) {
		/* The loop has finished (shutdown): nothing runs any more, so the timer
		 * cannot fire; leave it disarmed instead of failing the process. */
		t->impl = NULL;
		return;
	}
	if (r < 0)
		die("cannot arm a timer: %s", strerror(-r));
}

void
loop_timer_stop(struct loop *loop, struct loop_timer *t)
{
	/* An armed timer names its loop (t->loop): that says what t->impl is. */
	if (t->impl != NULL && t->loop != NULL && t->loop->fake != NULL) {
		loop_fake_timer_stop(t);
		return;
	}
	t->impl = sd_event_source_disable_unref(t->impl);
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return t->impl != NULL;
}

void
loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg)
{
	struct loop_deferred *d = xmalloc(sizeof(*d));

	d->fn = fn;
	d->arg = arg;
	d->next = NULL;
	if (loop->dq_tail != NULL)
		loop->dq_tail->next = d;
	else
		loop->dq_head = d;
	loop->dq_tail = d;
	(void)sd_event_source_set_enabled(loop->defer_src, SD_EVENT_ON);
}

static int
loop_signal_cb(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct loop_sig *ls = userdata;

	ls->fn(ls->loop, (int)si->ssi_signo, ls->arg);
	return 0;
}

int
loop_signal_add(struct loop *loop, int sig, loop_signal_fn *fn, void *arg)
{
	struct loop_sig *ls;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, sig);
	r = sigprocmask(SIG_BLOCK, &set, NULL);
	if (r < 0)
		return -errno;
	ls = xcalloc(1, sizeof(*ls));
	ls->loop = loop;
	ls->fn = fn;
	ls->arg = arg;
	r = sd_event_add_signal(loop->ev, &ls->src, sig, loop_signal_cb, ls);
	if (r < 0) {
		free(ls);
		return r;
	}
	ls->next = loop->sigs;
	loop->sigs = ls;
	return 0;
}

uint64_t
loop_now_ms(const struct loop *loop)
{
	uint64_t now = 0;

	if (loop->fake != NULL)
		return loop->fake->now_ms;
	(void)sd_event_now(loop->ev, CLOCK_MONOTONIC, &now);
	return now / 1000;
}

time_t
loop_wall_s(const struct loop *loop)
{
	uint64_t now = 0;

	if (loop->fake != NULL)
		return loop->fake->wall0_s +
		       (time_t)((loop->fake->now_ms - LOOP_FAKE_START_MS) / 1000);
	if (sd_event_now(loop->ev, CLOCK_REALTIME, &now) < 0)
		return time(NULL);
	return (time_t)(now / 1000000);
}

int
loop_watchdog_enable(struct loop *loop)
{
	return sd_event_set_watchdog(loop->ev, 1);
}

/* ---- the fake clock (loop.h) ---- */

/* Dispatches in a row without the clock moving before a fake loop gives up: io that stays
 * ready whatever its callback does, or a timer re-armed at 0 ms for ever, would otherwise
 * hang the test instead of failing it. */
#define LOOP_FAKE_SPIN_MAX 1000000ul

int
loop_new_fake(time_t wall_s, struct loop **ret_loop)
{
	struct loop *loop;
	int r;

	r = loop_new(&loop);
	if (r < 0)
		return r;
	loop->fake = xcalloc(1, sizeof(*loop->fake));
	loop->fake->now_ms = LOOP_FAKE_START_MS;
	loop->fake->wall0_s = wall_s != 0 ? wall_s : time(NULL);
	*ret_loop = loop;
	return 0;
}

/* The virtual time ms from now (saturating). */
static uint64_t
loop_fake_at(const struct loop_fake *f, uint64_t ms)
{
	return ms > UINT64_MAX - f->now_ms ? UINT64_MAX : f->now_ms + ms;
}

static void
loop_fake_unlink(struct loop_fake *f, struct loop_fake_timer *ft)
{
	struct loop_fake_timer **pp = &f->timers;

	while (*pp != NULL && *pp != ft)
		pp = &(*pp)->next;
	if (*pp == ft)
		*pp = ft->next;
}

static void
loop_fake_timer_start(struct loop *loop, struct loop_timer *t, uint64_t ms)
{
	struct loop_fake *f = loop->fake;
	struct loop_fake_timer *ft = t->impl, **pp;

	if (ft != NULL)
		loop_fake_unlink(t->loop->fake, ft); /* re-armed: moved */
	else
		ft = xcalloc(1, sizeof(*ft));
	ft->t = t;
	ft->due_ms = loop_fake_at(f, ms);
	/* After every timer due at the same time or earlier: arming order breaks ties. */
	for (pp = &f->timers; *pp != NULL && (*pp)->due_ms <= ft->due_ms; pp = &(*pp)->next)
		;
	ft->next = *pp;
	*pp = ft;
	t->impl = ft;
	t->loop = loop;
}

static void
loop_fake_timer_stop(struct loop_timer *t)
{
	struct loop_fake_timer *ft = t->impl;

	loop_fake_unlink(t->loop->fake, ft);
	free(ft);
	t->impl = NULL;
}

/* Dispatch every io, deferred call and signal that is ready, without waiting. With
 * stop_on_exit, stop as soon as loop_exit() was called. */
static void
loop_fake_settle(struct loop *loop, int stop_on_exit)
{
	unsigned long n;
	int r;

	for (n = 0; !(stop_on_exit && loop->fake->exit_requested); n++) {
		if (n == LOOP_FAKE_SPIN_MAX)
			die("fake loop: io stays ready after %lu dispatches", n);
		r = sd_event_run(loop->ev, 0);
		if (r < 0)
			die("fake loop: sd_event_run: %s", strerror(-r));
		if (r == 0)
			return;
	}
}

/* Fire the timers due up to target in order, settling io after each; the clock ends at
 * target. With stop_on_exit, returns 1 as soon as loop_exit() was called (the clock stays
 * at the time of that callback). *fired counts the timer callbacks. */
static int
loop_fake_until(struct loop *loop, uint64_t target, int stop_on_exit, unsigned long *fired)
{
	struct loop_fake *f = loop->fake;
	struct loop_fake_timer *ft;
	struct loop_timer *t;
	unsigned long same = 0;

	loop_fake_settle(loop, stop_on_exit);
	for (;;) {
		if (stop_on_exit && f->exit_requested)
			return 1;
		ft = f->timers;
		if (ft == NULL || ft->due_ms > target)
			break;
		same = ft->due_ms > f->now_ms ? 0 : same + 1;
		if (same == LOOP_FAKE_SPIN_MAX)
			die("fake loop: timers keep firing at %llu ms",
			    (unsigned long long)f->now_ms);
		if (ft->due_ms > f->now_ms)
			f->now_ms = ft->due_ms;
		/* As a real timer: disarmed before its callback, which may free t. */
		t = ft->t;
		f->timers = ft->next;
		free(ft);
		t->impl = NULL;
		(*fired)++;
		t->fn(t->loop, t, t->arg);
		if (!(stop_on_exit && f->exit_requested))
			loop_fake_settle(loop, stop_on_exit);
	}
	if (target > f->now_ms)
		f->now_ms = target;
	return 0;
}

unsigned long
loop_fake_advance(struct loop *loop, uint64_t ms)
{
	unsigned long fired = 0;

	if (loop->fake == NULL)
		die("loop_fake_advance() on a real loop");
	(void)loop_fake_until(loop, loop_fake_at(loop->fake, ms), 0, &fired);
	return fired;
}

int
loop_fake_run(struct loop *loop, uint64_t max_ms)
{
	struct loop_fake *f = loop->fake;
	unsigned long fired = 0;

	if (f == NULL)
		die("loop_fake_run() on a real loop");
	f->exit_requested = 0;
	if (!loop_fake_until(loop, loop_fake_at(f, max_ms), 1, &fired))
		return -ETIMEDOUT;
	f->exit_requested = 0;
	return f->exit_code;
}
