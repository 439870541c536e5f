/*
 * common/curlm.c - one libcurl multi handle driven by the event loop
 *
 * Interface: see curlm.h
 * Design:    curl callbacks only (de)register loop watches and arm the timer;
 *            curl_multi_socket_action() runs from loop io/timer callbacks, and finished
 *            transfers are collected with curl_multi_info_read() there, removed from the
 *            multi and handed to their owner's callback, so no owner code runs inside a
 *            curl call (CURLM_RECURSIVE_API_CALL). Each added handle carries a small record
 *            (done, arg) in CURLOPT_PRIVATE.
 * Threads:   main loop only.
 * Ownership: the caller owns the easy handles; curlm owns the per-transfer records.
 * Errors:    see curlm.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "curl_global.h"
#include "curlm.h"
#include "xalloc.h"

struct curlm_xfer {
	curlm_done_fn *done;
	void *arg;
};

struct curlm {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
	unsigned n_running;
};

static void
curlm_collect(struct curlm *m)
{
	struct curlm_xfer *x;
	CURLMsg *msg;
	CURLcode cc;
	CURL *easy;
	char *priv;
	unsigned n = 0;
	int left;

	/* Bounded: at most one message per transfer, plus slack. */
	while (n++ <= m->n_running + 16 && (msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		cc = msg->data.result;
		priv = NULL;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		(void)curl_multi_remove_handle(m->multi, easy);
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		if (m->n_running > 0)
			m->n_running--;
		x = (struct curlm_xfer *)(void *)priv;
		if (x == NULL)
			continue;
		x->done(easy, cc, x->arg);
		free(x);
	}
}

static void
curlm_io_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct curlm *m = arg;
	int flags = 0, running = 0;

	(void)loop;
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

int
curlm_new(struct loop *loop, struct curlm **ret_m)
{
	struct curlm *m;

	if (curl_global_once() < 0)
		return -ENOMEM;
	m = xcalloc(1, sizeof(*m));
	m->loop = loop;
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

struct curlm *
curlm_free(struct curlm *m)
{
	if (m == NULL)
		return NULL;
	loop_timer_stop(m->loop, &m->timer);
	(void)curl_multi_cleanup(m->multi); /* closes cached connections (socket cb) */
	loop_timer_stop(m->loop, &m->timer);
	free(m);
	return NULL;
}

int
curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done, void *arg)
{
	struct curlm_xfer *x = xcalloc(1, sizeof(*x));

	x->done = done;
	x->arg = arg;
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
	if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		free(x);
		return -EIO;
	}
	m->n_running++;
	return 0;
}

void
curlm_remove(struct curlm *m, CURL *easy)
{
	char *priv = NULL;

	if (m == NULL || easy == NULL)
		return;
	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv == NULL)
		return;
	(void)curl_multi_remove_handle(m->multi, easy);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
	free(priv);
	if (m->n_running > 0)
		m->n_running--;
}

unsigned
curlm_running(const struct curlm *m)
{
	return m->n_running;
}
