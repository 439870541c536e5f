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
 *            Threaded (curlm_new_threaded): the multi, its watches and its timer live on a
 *            worker thread running a loop of its own (m->loop). curlm_add() queues the
 *            record (m->add_q) and wakes the worker (eventfd wake_fd); a finished transfer
 *            is queued back (m->done_q) and the caller's loop is woken (eventfd done_fd),
 *            where the done callback runs. curlm_remove() takes a record still queued for
 *            the worker or already finished out of its queue itself; one on the multi it
 *            hands to the worker (m->remove_req) and waits on m->cond until the worker has
 *            removed it: the worker looks at remove_req before every socket action
 *            (m->remove_pending), so the wait is one socket action at most. The records
 *            the caller's thread knows are on its own list (m->xfers), so it never reads
 *            an easy handle the worker drives. Record states move under m->mu only.
 * Threads:   see curlm.h. m->mu guards add_q, done_q, remove_req, stop and every record's
 *            state and result; the worker alone touches multi, timer, its loop and
 *            w_running; the caller's thread alone touches xfers and n_running.
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

#include "curlm.h"
#include "log.h"
#include "xalloc.h"

enum curlm_xfer_state {
	CURLM_XFER_TO_ADD,   /* in add_q, not yet seen by the worker */
	CURLM_XFER_ON_MULTI, /* added to the multi (the worker drives it) */
	CURLM_XFER_REMOVED,  /* taken off the multi by the worker for curlm_remove() */
	CURLM_XFER_DONE,     /* finished, in done_q for the caller's loop */
};

struct curlm_xfer {
	struct curlm_xfer *prev, *next; /* m->xfers (the caller's thread only) */
	struct curlm_xfer *qnext;       /* add_q or done_q (under m->mu) */
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

struct curlm {
	struct loop *loop; /* the multi's loop: the caller's, or the worker's own */
	CURLM *multi;
	struct loop_timer timer;
	unsigned n_running; /* the caller's count (curlm_running) */
	/* threaded only */
	int threaded;
	struct loop *main_loop; /* the caller's: done callbacks */
	pthread_t thread;
	int thread_started;
	int wake_fd; /* eventfd: caller -> worker */
	int done_fd; /* eventfd: worker -> caller */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct curlm_queue add_q, done_q;
	struct curlm_xfer *remove_req;
	atomic_int remove_pending;
	int stop;
	int worker_gone;          /* its loop ended (curlm_free(), or a loop failure) */
	unsigned w_running;       /* the worker's count of handles on the multi */
	struct curlm_xfer *xfers; /* every record not yet reported or removed */
};

static int curlm_global_done;

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
curlm_worker_remove_locked(struct curlm *m)
{
	struct curlm_xfer *x = m->remove_req;

	if (x == NULL)
		return;
	if (x->state == CURLM_XFER_ON_MULTI) {
		(void)curl_multi_remove_handle(m->multi, x->easy);
		x->state = CURLM_XFER_REMOVED;
		if (m->w_running > 0)
			m->w_running--;
	}
	m->remove_req = NULL;
	atomic_store(&m->remove_pending, 0);
	(void)pthread_cond_broadcast(&m->cond);
}

/* Worker: serve a pending curlm_remove() before the next socket action. */
static void
curlm_worker_service(struct curlm *m)
{
	if (!m->threaded || !atomic_load(&m->remove_pending))
		return;
	(void)pthread_mutex_lock(&m->mu);
	curlm_worker_remove_locked(m);
	(void)pthread_mutex_unlock(&m->mu);
}

/* A transfer ended: report it on the caller's loop (threaded), or now. */
static void
curlm_finish(struct curlm *m, struct curlm_xfer *x, CURLcode cc)
{
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
	if (m->n_running > 0)
		m->n_running--;
	x->done(x->easy, cc, x->arg);
	free(x);
}

static void
curlm_collect(struct curlm *m)
{
	struct curlm_xfer *x;
	CURLMsg *msg;
	CURLcode cc;
	CURL *easy;
	char *priv;
	unsigned n = 0, bound;
	int left;

	/* Bounded: at most one message per transfer, plus slack. */
	bound = (m->threaded ? m->w_running : m->n_running) + 16;
	while (n++ <= bound && (msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		cc = msg->data.result;
		priv = NULL;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		(void)curl_multi_remove_handle(m->multi, easy);
		if (m->threaded) {
			if (m->w_running > 0)
				m->w_running--;
		} else {
			(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		}
		x = (struct curlm_xfer *)(void *)priv;
		if (x != NULL)
			curlm_finish(m, x, cc);
	}
}

static void
curlm_io_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm *m = arg;
	int flags = 0, running = 0;

	(void)loop;
	curlm_worker_service(m);
	if (events & LOOP_READ)
		flags |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(m->multi, fd, flags, &running);
	curlm_collect(m);
}

static void
curlm_timer_cb(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct curlm *m = arg;
	int running = 0;

	(void)loop;
	(void)t;
	curlm_worker_service(m);
	(void)curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlm_collect(m);
}

/* CURLMOPT_SOCKETFUNCTION: only (de)register with the loop. */
static int
curlm_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct curlm *m = userp;
	unsigned ev = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		loop_io_del(m->loop, s);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= LOOP_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= LOOP_WRITE;
	if (loop_io_mod(m->loop, s, ev) == -ENOENT &&
	    loop_io_add(m->loop, s, ev, curlm_io_cb, m) < 0)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: only arm or disarm our timer. */
static int
curlm_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlm *m = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_stop(m->loop, &m->timer);
	else
		loop_timer_start(m->loop, &m->timer, (uint64_t)timeout_ms, curlm_timer_cb, m);
	return 0;
}

static int
curlm_alloc(struct loop *loop, struct curlm **ret_m)
{
	struct curlm *m;

	if (!curlm_global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curlm_global_done = 1;
	}
	m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	m->wake_fd = m->done_fd = -1;
	m->multi = curl_multi_init();
	if (m->multi == NULL) {
		free(m);
		return -ENOMEM;
	}
	(void)curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, curlm_socket_cb);
	(void)curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	(void)curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, curlm_timer_set_cb);
	(void)curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	*ret_m = m;
	return 0;
}

int
curlm_new(struct loop *loop, struct curlm **ret_m)
{
	return curlm_alloc(loop, ret_m);
}

/* ---- the worker thread (threaded multi) ---- */

/* Worker: curlm_add()s queued, a curlm_remove() waiting, or the end. */
static void
curlm_wake_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm *m = arg;
	struct curlm_xfer *x, *refused = NULL;

	(void)events;
	curlm_eventfd_drain(fd);
	(void)pthread_mutex_lock(&m->mu);
	curlm_worker_remove_locked(m);
	while ((x = curlm_queue_pop(&m->add_q)) != NULL) {
		if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) {
			x->state = CURLM_XFER_DONE;
			x->result = CURLE_FAILED_INIT;
			x->qnext = refused;
			refused = x;
			continue;
		}
		x->state = CURLM_XFER_ON_MULTI;
		m->w_running++;
	}
	while ((x = refused) != NULL) {
		refused = x->qnext;
		curlm_queue_add(&m->done_q, x);
	}
	if (m->done_q.head != NULL)
		curlm_eventfd_signal(m->done_fd);
	if (m->stop)
		loop_exit(loop, 0);
	(void)pthread_mutex_unlock(&m->mu);
}

static void *
curlm_thread_main(void *arg)
{
	struct curlm *m = arg;
	int r;

	r = loop_run(m->loop);
	if (r < 0)
		log_err("libcurl worker thread: its event loop failed (errno %d); its transfers "
		        "stop",
		        -r);
	/* Every handle was removed by curlm_free() first: this closes cached connections
	 * (socket callbacks on this thread's loop). */
	(void)curl_multi_cleanup(m->multi);
	m->multi = NULL;
	loop_timer_stop(m->loop, &m->timer);
	loop_io_del(m->loop, m->wake_fd);
	(void)pthread_mutex_lock(&m->mu);
	m->worker_gone = 1; /* curlm_remove() waits for nothing any more */
	(void)pthread_cond_broadcast(&m->cond);
	(void)pthread_mutex_unlock(&m->mu);
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
		if (m->n_running > 0)
			m->n_running--;
		x->done(x->easy, x->result, x->arg);
		free(x);
	}
}

int
curlm_new_threaded(struct loop *loop, struct curlm **ret_m)
{
	struct loop *wloop = NULL;
	struct curlm *m;
	sigset_t all, old;
	int r;

	r = loop_new(&wloop);
	if (r < 0)
		return r;
	r = curlm_alloc(wloop, &m); /* curl_global_init() here, before the thread */
	if (r < 0) {
		(void)loop_free(wloop);
		return r;
	}
	m->threaded = 1;
	m->main_loop = loop;
	(void)pthread_mutex_init(&m->mu, NULL);
	(void)pthread_cond_init(&m->cond, NULL);
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->wake_fd < 0 || m->done_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_io_add(wloop, m->wake_fd, LOOP_READ, curlm_wake_cb, m);
	if (r < 0)
		goto fail;
	r = loop_io_add(loop, m->done_fd, LOOP_READ, curlm_done_cb, m);
	if (r < 0)
		goto fail;
	/* The worker takes no signal: they are the main loop's (signalfd). */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&m->thread, NULL, curlm_thread_main, m);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		loop_io_del(loop, m->done_fd);
		goto fail;
	}
	m->thread_started = 1;
	*ret_m = m;
	return 0;
fail:
	m->main_loop = NULL;
	(void)curlm_free(m);
	return r;
}

struct curlm *
curlm_free(struct curlm *m)
{
	struct curlm_xfer *x;

	if (m == NULL)
		return NULL;
	while (m->xfers != NULL)
		curlm_remove(m, m->xfers->easy);
	if (!m->threaded) {
		loop_timer_stop(m->loop, &m->timer);
		(void)curl_multi_cleanup(m->multi); /* closes cached connections (socket cb) */
		loop_timer_stop(m->loop, &m->timer);
		free(m);
		return NULL;
	}
	if (m->thread_started) {
		(void)pthread_mutex_lock(&m->mu);
		m->stop = 1;
		(void)pthread_mutex_unlock(&m->mu);
		curlm_eventfd_signal(m->wake_fd);
		(void)pthread_join(m->thread, NULL);
	} else {
		if (m->wake_fd >= 0)
			loop_io_del(m->loop, m->wake_fd);
		(void)curl_multi_cleanup(m->multi);
	}
	while ((x = curlm_queue_pop(&m->done_q)) != NULL) /* none: all were removed */
		free(x);
	if (m->main_loop != NULL)
		loop_io_del(m->main_loop, m->done_fd);
	if (m->wake_fd >= 0)
		(void)close(m->wake_fd);
	if (m->done_fd >= 0)
		(void)close(m->done_fd);
	(void)pthread_cond_destroy(&m->cond);
	(void)pthread_mutex_destroy(&m->mu);
	(void)loop_free(m->loop);
	free(m);
	return NULL;
}

int
curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done, void *arg)
{
	struct curlm_xfer *x = xcalloc(1, sizeof(*x));

	x->easy = easy;
	x->done = done;
	x->arg = arg;
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
	if (m->threaded) {
		curlm_xfers_add(m, x);
		m->n_running++;
		(void)pthread_mutex_lock(&m->mu);
		x->state = CURLM_XFER_TO_ADD;
		curlm_queue_add(&m->add_q, x);
		(void)pthread_mutex_unlock(&m->mu);
		curlm_eventfd_signal(m->wake_fd);
		return 0;
	}
	if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		free(x);
		return -EIO;
	}
	curlm_xfers_add(m, x);
	m->n_running++;
	return 0;
}

/* Threaded: see the file header. */
static void
curlm_remove_threaded(struct curlm *m, CURL *easy)
{
	struct curlm_xfer *x;

	for (x = m->xfers; x != NULL && x->easy != easy; x = x->next)
		;
	if (x == NULL)
		return;
	curlm_xfers_del(m, x);
	if (m->n_running > 0)
		m->n_running--;
	(void)pthread_mutex_lock(&m->mu);
	if (x->state == CURLM_XFER_TO_ADD) {
		curlm_queue_del(&m->add_q, x);
	} else if (x->state == CURLM_XFER_ON_MULTI) {
		m->remove_req = x;
		atomic_store(&m->remove_pending, 1);
		curlm_eventfd_signal(m->wake_fd);
		while (x->state == CURLM_XFER_ON_MULTI && !m->worker_gone)
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
	(void)curl_multi_remove_handle(m->multi, easy);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
	curlm_xfers_del(m, (struct curlm_xfer *)(void *)priv);
	free(priv);
	if (m->n_running > 0)
		m->n_running--;
}

unsigned
curlm_running(const struct curlm *m)
{
	return m->n_running;
}
