/*
 * common/curlm.c - one libcurl multi handle driven by an event loop
 *
 * Interface: see curlm.h
 * Design:    curl callbacks only (de)register loop watches and arm the timer;
 *            curl_multi_socket_action() runs from loop io/timer callbacks, and finished
 *            transfers are collected with curl_multi_info_read() there, removed from the
 *            multi and handed to their owner's callback, so no owner code runs inside a
 *            curl call (CURLM_RECURSIVE_API_CALL). Each added handle carries a small record
 *            (struct curlm_xfer) in CURLOPT_PRIVATE.
 *            A multi on the caller's loop is one struct curlm_worker without a thread.
 *            Threaded (curlm_new_threaded): n workers, each a thread running a loop of its
 *            own with a libcurl multi, its watches and its timer. curlm_add() gives the
 *            record to the worker with the fewest transfers, queues it there (w->add_q) and
 *            wakes it (eventfd w->wake_fd); a finished transfer is queued back (m->done_q)
 *            and the caller's loop is woken (eventfd m->done_fd), where the done callback
 *            runs. curlm_remove() takes a record still queued for its worker or already
 *            finished out of its queue itself; one on a multi it hands to that worker
 *            (w->remove_req) and waits on m->cond until the worker has removed it: the
 *            worker looks at remove_req before every socket action (w->remove_pending), so
 *            the wait is one socket action at most. The caller's thread keeps its records
 *            on its own list (m->xfers), so it never reads an easy handle a worker drives.
 * Threads:   see curlm.h. m->mu guards every worker's add_q, remove_req, stop and gone,
 *            m->done_q, and every record's state and result; a worker alone touches its
 *            multi, timer, loop and running count; the caller's thread alone touches
 *            m->xfers, m->n_running and the workers' n_assigned.
 * Ownership: the caller owns the easy handles; curlm owns the per-transfer records.
 * Errors:    see curlm.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "curl_global.h"
#include "curlm.h"
#include "log.h"
#include "mtasts_limits.h"
#include "xalloc.h"

enum curlm_xfer_state {
	CURLM_XFER_TO_ADD,   /* in its worker's add_q, not yet seen by it */
	CURLM_XFER_ON_MULTI, /* added to the worker's multi (the worker drives it) */
	CURLM_XFER_REMOVED,  /* taken off the multi by the worker for curlm_remove() */
	CURLM_XFER_DONE,     /* finished, in done_q for the caller's loop */
};

struct curlm_worker;

struct curlm_xfer {
	struct curlm_xfer *prev, *next; /* m->xfers (the caller's thread only) */
	struct curlm_xfer *qnext;       /* add_q or done_q (under m->mu) */
	struct curlm_worker *w;
	CURL *easy;
	curlm_done_fn *done;
	void *arg;
	enum curlm_xfer_state state; /* threaded: under m->mu */
	CURLcode result;
};

struct curlm_queue {
	struct curlm_xfer *head, *tail;
	unsigned n;
};

struct curlm_worker {
	struct curlm *m;
	struct loop *loop; /* the caller's (not threaded), or the worker's own */
	CURLM *multi;
	struct loop_timer timer;
	unsigned running; /* handles on the multi (the worker's count) */
	/* threaded only */
	pthread_t thread;
	int thread_started;
	int wake_fd;                   /* eventfd: caller -> worker */
	struct curlm_queue add_q;      /* under m->mu */
	struct curlm_xfer *remove_req; /* under m->mu */
	atomic_int remove_pending;     /* remove_req is set */
	int stop;                      /* under m->mu */
	int gone;                      /* under m->mu: its loop ended */
	unsigned n_assigned;           /* the caller's count of records given to it */
};

struct curlm {
	int threaded;
	unsigned n_workers;
	struct curlm_worker *w;
	struct loop *main_loop;   /* the caller's: done callbacks */
	unsigned n_running;       /* the caller's count (curlm_running) */
	struct curlm_xfer *xfers; /* every record not yet reported or removed */
	/* threaded only */
	int done_fd; /* eventfd: workers -> caller */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct curlm_queue done_q;
};

static void
curlm_queue_add(struct curlm_queue *q, struct curlm_xfer *x)
{
	x->qnext = NULL;
	if (q->tail != NULL)
		q->tail->qnext = x;
	else
		q->head = x;
	q->tail = x;
	q->n++;
}

static struct curlm_xfer *
curlm_queue_pop(struct curlm_queue *q)
{
	struct curlm_xfer *x = q->head;

	if (x == NULL)
		return NULL;
	q->head = x->qnext;
	if (q->head == NULL)
		q->tail = NULL;
	x->qnext = NULL;
	q->n--;
	return x;
}

/* Unlink x from q (a short queue: what one wake-up has not taken yet). */
static void
curlm_queue_del(struct curlm_queue *q, struct curlm_xfer *x)
{
	struct curlm_xfer **pp, *prev = NULL;

	for (pp = &q->head; *pp != NULL; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp != x)
			continue;
		*pp = x->qnext;
		if (q->tail == x)
			q->tail = prev;
		x->qnext = NULL;
		q->n--;
		return;
	}
}

static void
curlm_xfers_add(struct curlm *m, struct curlm_xfer *x)
{
	x->prev = NULL;
	x->next = m->xfers;
	if (m->xfers != NULL)
		m->xfers->prev = x;
	m->xfers = x;
	m->n_running++;
	x->w->n_assigned++;
}

static void
curlm_xfers_del(struct curlm *m, struct curlm_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		m->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	if (m->n_running > 0)
		m->n_running--;
	if (x->w->n_assigned > 0)
		x->w->n_assigned--;
}

static void
curlm_eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* Fails only when the counter would overflow: the reader is woken anyway. */
	(void)!write(fd, &one, sizeof(one));
}

static void
curlm_eventfd_drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* Worker, under m->mu: take the record curlm_remove() waits for off the multi. */
static void
curlm_worker_remove_locked(struct curlm_worker *w)
{
	struct curlm_xfer *x = w->remove_req;

	if (x == NULL)
		return;
	if (x->state == CURLM_XFER_ON_MULTI) {
		(void)curl_multi_remove_handle(w->multi, x->easy);
		x->state = CURLM_XFER_REMOVED;
		if (w->running > 0)
			w->running--;
	}
	w->remove_req = NULL;
	atomic_store(&w->remove_pending, 0);
	(void)pthread_cond_broadcast(&w->m->cond);
}

/* Worker: serve a pending curlm_remove() before the next socket action. */
static void
curlm_worker_service(struct curlm_worker *w)
{
	if (!w->m->threaded || !atomic_load(&w->remove_pending))
		return;
	(void)pthread_mutex_lock(&w->m->mu);
	curlm_worker_remove_locked(w);
	(void)pthread_mutex_unlock(&w->m->mu);
}

/* A transfer ended: report it on the caller's loop (threaded), or now. */
static void
curlm_finish(struct curlm_worker *w, struct curlm_xfer *x, CURLcode cc)
{
	struct curlm *m = w->m;

	if (m->threaded) {
		(void)pthread_mutex_lock(&m->mu);
		if (x->state == CURLM_XFER_ON_MULTI) {
			x->state = CURLM_XFER_DONE;
			x->result = cc;
			curlm_queue_add(&m->done_q, x);
		}
		(void)pthread_mutex_unlock(&m->mu);
		curlm_eventfd_signal(m->done_fd);
		return;
	}
	curlm_xfers_del(m, x);
	x->done(x->easy, cc, x->arg);
	free(x);
}

static void
curlm_collect(struct curlm_worker *w)
{
	struct curlm_xfer *x;
	CURLMsg *msg;
	CURLcode cc;
	CURL *easy;
	char *priv;
	unsigned n = 0, bound = w->running + 16;
	int left;

	/* Bounded: at most one message per transfer, plus slack. */
	while (n++ <= bound && (msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		cc = msg->data.result;
		priv = NULL;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		(void)curl_multi_remove_handle(w->multi, easy);
		if (w->running > 0)
			w->running--;
		if (!w->m->threaded)
			(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		x = (struct curlm_xfer *)(void *)priv;
		if (x != NULL)
			curlm_finish(w, x, cc);
	}
}

static void
curlm_io_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm_worker *w = arg;
	int flags = 0, running = 0;

	(void)loop;
	curlm_worker_service(w);
	if (events & LOOP_READ)
		flags |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(w->multi, fd, flags, &running);
	curlm_collect(w);
}

static void
curlm_timer_cb(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct curlm_worker *w = arg;
	int running = 0;

	(void)loop;
	(void)t;
	curlm_worker_service(w);
	(void)curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlm_collect(w);
}

/* CURLMOPT_SOCKETFUNCTION: only (de)register with the loop. */
static int
curlm_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct curlm_worker *w = userp;
	unsigned ev = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		loop_io_del(w->loop, s);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= LOOP_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= LOOP_WRITE;
	if (loop_io_mod(w->loop, s, ev) == -ENOENT &&
	    loop_io_add(w->loop, s, ev, curlm_io_cb, w) < 0)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: only arm or disarm our timer. */
static int
curlm_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlm_worker *w = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_stop(w->loop, &w->timer);
	else
		loop_timer_start(w->loop, &w->timer, (uint64_t)timeout_ms, curlm_timer_cb, w);
	return 0;
}

/* w's multi on loop. 0 or -ENOMEM. */
static int
curlm_worker_init(struct curlm *m, struct curlm_worker *w, struct loop *loop)
{
	w->m = m;
	w->loop = loop;
	w->wake_fd = -1;
	w->multi = curl_multi_init();
	if (w->multi == NULL)
		return -ENOMEM;
	(void)curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, curlm_socket_cb);
	(void)curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	(void)curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, curlm_timer_set_cb);
	(void)curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	return 0;
}

int
curlm_new(struct loop *loop, struct curlm **ret_m)
{
	struct curlm *m;
	int r;

	r = curl_global_once();
	if (r < 0)
		return r;
	m = xcalloc(1, sizeof(*m));
	m->main_loop = loop;
	m->done_fd = -1;
	m->n_workers = 1;
	m->w = xcalloc(1, sizeof(*m->w));
	r = curlm_worker_init(m, &m->w[0], loop);
	if (r < 0) {
		free(m->w);
		free(m);
		return r;
	}
	*ret_m = m;
	return 0;
}

/* ---- the worker threads (threaded multi) ---- */

/* Worker: curlm_add()s queued, a curlm_remove() waiting, or the end. */
static void
curlm_wake_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm_worker *w = arg;
	struct curlm *m = w->m;
	struct curlm_xfer *x;
	int refused = 0;

	(void)events;
	curlm_eventfd_drain(fd);
	(void)pthread_mutex_lock(&m->mu);
	curlm_worker_remove_locked(w);
	while ((x = curlm_queue_pop(&w->add_q)) != NULL) {
		if (curl_multi_add_handle(w->multi, x->easy) != CURLM_OK) {
			x->state = CURLM_XFER_DONE;
			x->result = CURLE_FAILED_INIT;
			curlm_queue_add(&m->done_q, x);
			refused = 1;
			continue;
		}
		x->state = CURLM_XFER_ON_MULTI;
		w->running++;
	}
	if (refused)
		curlm_eventfd_signal(m->done_fd);
	if (w->stop)
		loop_exit(loop, 0);
	(void)pthread_mutex_unlock(&m->mu);
}

static void *
curlm_thread_main(void *arg)
{
	struct curlm_worker *w = arg;
	int r;

	r = loop_run(w->loop);
	if (r < 0)
		log_err("libcurl worker thread: its event loop failed (errno %d); its transfers "
		        "stop",
		        -r);
	/* Every handle was removed by curlm_free() first: this closes cached connections
	 * (socket callbacks on this thread's loop). */
	(void)curl_multi_cleanup(w->multi);
	w->multi = NULL;
	loop_timer_stop(w->loop, &w->timer);
	loop_io_del(w->loop, w->wake_fd);
	(void)pthread_mutex_lock(&w->m->mu);
	w->gone = 1; /* curlm_remove() waits for nothing any more */
	(void)pthread_cond_broadcast(&w->m->cond);
	(void)pthread_mutex_unlock(&w->m->mu);
	return NULL;
}

/* Caller's loop: report finished transfers, one at a time (each callback may add or
 * remove others). Those queued later woke done_fd again and are reported next time. */
static void
curlm_done_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm *m = arg;
	struct curlm_xfer *x;
	unsigned n;

	(void)loop;
	(void)events;
	curlm_eventfd_drain(fd);
	(void)pthread_mutex_lock(&m->mu);
	n = m->done_q.n;
	(void)pthread_mutex_unlock(&m->mu);
	while (n-- > 0) {
		(void)pthread_mutex_lock(&m->mu);
		x = curlm_queue_pop(&m->done_q);
		(void)pthread_mutex_unlock(&m->mu);
		if (x == NULL)
			break;
		curlm_xfers_del(m, x);
		x->done(x->easy, x->result, x->arg);
		free(x);
	}
}

unsigned
curlm_threads_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > CURLM_THREADS_MAX ? CURLM_THREADS_MAX : (unsigned)n;
}

/* Start worker w: its loop, its wake-up eventfd, its thread (no signals). */
static int
curlm_worker_start(struct curlm *m, struct curlm_worker *w)
{
	struct loop *wloop = NULL;
	sigset_t all, old;
	int r;

	r = loop_new(&wloop);
	if (r < 0)
		return r;
	r = curlm_worker_init(m, w, wloop);
	if (r < 0)
		return r;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0)
		return -errno;
	r = loop_io_add(wloop, w->wake_fd, LOOP_READ, curlm_wake_cb, w);
	if (r < 0)
		return r;
	/* The worker takes no signal: they are the main loop's (signalfd). */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&w->thread, NULL, curlm_thread_main, w);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	w->thread_started = 1;
	return 0;
}

int
curlm_new_threaded(struct loop *loop, unsigned n_threads, struct curlm **ret_m)
{
	struct curlm *m;
	unsigned i;
	int r;

	r = curl_global_once(); /* here, before any worker starts */
	if (r < 0)
		return r;
	if (n_threads == 0)
		n_threads = curlm_threads_default();
	if (n_threads > CURLM_THREADS_MAX)
		n_threads = CURLM_THREADS_MAX;
	m = xcalloc(1, sizeof(*m));
	m->threaded = 1;
	m->main_loop = loop;
	m->n_workers = n_threads;
	m->w = xcalloc(n_threads, sizeof(*m->w));
	for (i = 0; i < n_threads; i++)
		m->w[i].wake_fd = -1;
	(void)pthread_mutex_init(&m->mu, NULL);
	(void)pthread_cond_init(&m->cond, NULL);
	m->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->done_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_io_add(loop, m->done_fd, LOOP_READ, curlm_done_cb, m);
	if (r < 0) {
		(void)close(m->done_fd);
		m->done_fd = -1;
		goto fail;
	}
	for (i = 0; i < n_threads; i++) {
		r = curlm_worker_start(m, &m->w[i]);
		if (r < 0)
			goto fail;
	}
	*ret_m = m;
	return 0;
fail:
	(void)curlm_free(m);
	return r;
}

struct curlm *
curlm_free(struct curlm *m)
{
	struct curlm_worker *w;
	struct curlm_xfer *x;
	unsigned i;

	if (m == NULL)
		return NULL;
	while (m->xfers != NULL)
		curlm_remove(m, m->xfers->easy);
	if (!m->threaded) {
		w = &m->w[0];
		loop_timer_stop(w->loop, &w->timer);
		(void)curl_multi_cleanup(w->multi); /* closes cached connections (socket cb) */
		loop_timer_stop(w->loop, &w->timer);
		free(m->w);
		free(m);
		return NULL;
	}
	for (i = 0; i < m->n_workers; i++) {
		w = &m->w[i];
		if (!w->thread_started)
			continue;
		(void)pthread_mutex_lock(&m->mu);
		w->stop = 1;
		(void)pthread_mutex_unlock(&m->mu);
		curlm_eventfd_signal(w->wake_fd);
	}
	for (i = 0; i < m->n_workers; i++) {
		w = &m->w[i];
		if (w->thread_started) {
			(void)pthread_join(w->thread, NULL);
		} else if (w->loop != NULL) { /* a failed start */
			if (w->wake_fd >= 0)
				loop_io_del(w->loop, w->wake_fd);
			if (w->multi != NULL)
				(void)curl_multi_cleanup(w->multi);
		}
		if (w->wake_fd >= 0)
			(void)close(w->wake_fd);
		(void)loop_free(w->loop);
	}
	while ((x = curlm_queue_pop(&m->done_q)) != NULL) /* none: all were removed */
		free(x);
	if (m->done_fd >= 0) {
		loop_io_del(m->main_loop, m->done_fd);
		(void)close(m->done_fd);
	}
	(void)pthread_cond_destroy(&m->cond);
	(void)pthread_mutex_destroy(&m->mu);
	free(m->w);
	free(m);
	return NULL;
}

int
curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done, void *arg)
{
	struct curlm_xfer *x = xcalloc(1, sizeof(*x));
	struct curlm_worker *w = &m->w[0];
	unsigned i;

	x->easy = easy;
	x->done = done;
	x->arg = arg;
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
	if (m->threaded) {
		for (i = 1; i < m->n_workers; i++) /* the least busy worker */
			if (m->w[i].n_assigned < w->n_assigned)
				w = &m->w[i];
		x->w = w;
		curlm_xfers_add(m, x);
		(void)pthread_mutex_lock(&m->mu);
		x->state = CURLM_XFER_TO_ADD;
		curlm_queue_add(&w->add_q, x);
		(void)pthread_mutex_unlock(&m->mu);
		curlm_eventfd_signal(w->wake_fd);
		return 0;
	}
	if (curl_multi_add_handle(w->multi, easy) != CURLM_OK) {
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		free(x);
		return -EIO;
	}
	x->w = w;
	w->running++;
	curlm_xfers_add(m, x);
	return 0;
}

/* Threaded: see the file header. */
static void
curlm_remove_threaded(struct curlm *m, CURL *easy)
{
	struct curlm_worker *w;
	struct curlm_xfer *x;

	for (x = m->xfers; x != NULL && x->easy != easy; x = x->next)
		;
	if (x == NULL)
		return;
	curlm_xfers_del(m, x);
	w = x->w;
	(void)pthread_mutex_lock(&m->mu);
	if (x->state == CURLM_XFER_TO_ADD) {
		curlm_queue_del(&w->add_q, x);
	} else if (x->state == CURLM_XFER_ON_MULTI) {
		w->remove_req = x;
		atomic_store(&w->remove_pending, 1);
		curlm_eventfd_signal(w->wake_fd);
		while (x->state == CURLM_XFER_ON_MULTI && !w->gone)
			(void)pthread_cond_wait(&m->cond, &m->mu);
	}
	if (x->state == CURLM_XFER_DONE) /* finished, not yet reported: never will be */
		curlm_queue_del(&m->done_q, x);
	(void)pthread_mutex_unlock(&m->mu);
	free(x);
}

void
curlm_remove(struct curlm *m, CURL *easy)
{
	struct curlm_xfer *x;
	char *priv = NULL;

	if (m == NULL || easy == NULL)
		return;
	if (m->threaded) {
		curlm_remove_threaded(m, easy);
		return;
	}
	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv == NULL)
		return;
	x = (struct curlm_xfer *)(void *)priv;
	(void)curl_multi_remove_handle(x->w->multi, easy);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
	if (x->w->running > 0)
		x->w->running--;
	curlm_xfers_del(m, x);
	free(x);
}

unsigned
curlm_running(const struct curlm *m)
{
	return m->n_running;
}
