/*
 * common/loop_sdevent.c - loop.h on libsystemd's sd-event
 *
 * Interface: see loop.h
 * Threads:   main loop only.
 * Ownership: io sources are kept in an fd-indexed table; a fired timer drops its source
 *            before calling back, so a request may free itself from its own timer.
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

struct loop {
	sd_event *ev;
	struct loop_io *io; /* indexed by fd */
	int epfd;           /* inner epoll set holding every io fd, one sd-event source */
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
	free(loop);
	return NULL;
}

int
loop_run(struct loop *loop)
{
	return sd_event_loop(loop->ev);
}

void
loop_exit(struct loop *loop, int code)
{
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

void
loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn, void *arg)
{
	uint64_t now = 0;
	int r;

	t->fn = fn;
	t->arg = arg;
	t->loop = loop;
	(void)sd_event_now(loop->ev, CLOCK_MONOTONIC, &now);
	if (t->impl != NULL) {
		r = sd_event_source_set_time(t->impl, now + ms * 1000);
		if (r >= 0)
			r = sd_event_source_set_enabled(t->impl, SD_EVENT_ONESHOT);
		if (r >= 0)
			return;
		t->impl = sd_event_source_disable_unref(t->impl);
	}
	r = sd_event_add_time(loop->ev, (sd_event_source **)&t->impl, CLOCK_MONOTONIC,
	                      now + ms * 1000, 1000, loop_timer_cb, t);
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

	(void)sd_event_now(loop->ev, CLOCK_MONOTONIC, &now);
	return now / 1000;
}

time_t
loop_wall_s(const struct loop *loop)
{
	uint64_t now = 0;

	if (sd_event_now(loop->ev, CLOCK_REALTIME, &now) < 0)
		return time(NULL);
	return (time_t)(now / 1000000);
}

int
loop_watchdog_enable(struct loop *loop)
{
	return sd_event_set_watchdog(loop->ev, 1);
}
