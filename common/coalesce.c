/*
 * common/coalesce.c - one job per key, many waiters, each answered exactly once
 *
 * Interface: see coalesce.h
 * Threads:   the loop's thread only.
 * Ownership: the owner's jobs and waiters; the module owns its table (lru.h, no bound of
 *            its own: max_jobs is checked here, and jobs are never evicted).
 * Errors:    see coalesce.h.
 *
 * Exactly once: a waiter is unlinked (timer stopped, job NULL) before it is handed to the
 * answer callback, and only a linked waiter is ever handed over; every path that answers
 * (job completion, job cancel, waiter cancel, timer, module free) goes through
 * coalesce_answer().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coalesce.h"
#include "xalloc.h"

struct coalesce {
	struct loop *loop;
	struct lru *table; /* jobs by key, in the order they were added */
	size_t max_jobs, max_waiters;
	size_t n_waiters;
	coalesce_answer_fn *answer;
	void *arg;
};

struct coalesce *
coalesce_new(struct loop *loop, size_t max_jobs, size_t max_waiters, coalesce_answer_fn *answer,
             void *arg)
{
	struct coalesce *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->table = lru_new(0, NULL, NULL);
	c->max_jobs = max_jobs > 0 ? max_jobs : 1;
	c->max_waiters = max_waiters > 0 ? max_waiters : 1;
	c->answer = answer;
	c->arg = arg;
	return c;
}

static void
coalesce_unlink(struct coalesce *c, struct coalesce_waiter *w)
{
	struct coalesce_job *job = w->job;

	loop_timer_stop(c->loop, &w->timer);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		job->w_first = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		job->w_last = w->prev;
	w->prev = w->next = NULL;
	w->job = NULL;
	job->n_waiters--;
	c->n_waiters--;
}

/* Unlink w (waiting on job) and hand it to the owner. */
static void
coalesce_answer(struct coalesce *c, struct coalesce_job *job, struct coalesce_waiter *w,
                enum coalesce_why why, const void *result)
{
	coalesce_unlink(c, w);
	c->answer(job, w, why, result, c->arg);
}

/* Take job out of the table, then answer its waiters one by one: each callback may attach,
 * cancel or complete anything, so the list is re-read after every answer. */
static int
coalesce_finish(struct coalesce *c, struct coalesce_job *job, enum coalesce_why why,
                const void *result)
{
	if (!job->node.linked)
		return -EALREADY;
	lru_remove(c->table, &job->node);
	job->dispatching = 1;
	while (job->w_first != NULL)
		coalesce_answer(c, job, job->w_first, why, result);
	job->dispatching = 0;
	return 0;
}

struct coalesce *
coalesce_free(struct coalesce *c)
{
	struct lru_node *n;

	if (c == NULL)
		return NULL;
	while ((n = lru_oldest(c->table)) != NULL)
		(void)coalesce_finish(c, LRU_ENTRY(n, struct coalesce_job, node), COALESCE_CANCELED,
		                      NULL);
	c->table = lru_free(c->table);
	free(c);
	return NULL;
}

/* strlen(key) when it is a usable key, else (size_t)-1. */
static size_t
coalesce_key_len(const char *key)
{
	size_t len;

	if (key == NULL)
		return (size_t)-1;
	len = strnlen(key, COALESCE_KEY_MAX + 1);
	return len > 0 && len <= COALESCE_KEY_MAX ? len : (size_t)-1;
}

struct coalesce_job *
coalesce_find(const struct coalesce *c, const char *key)
{
	size_t len = coalesce_key_len(key);
	struct lru_node *n;

	if (len == (size_t)-1)
		return NULL;
	n = lru_find(c->table, key, len);
	return n != NULL ? LRU_ENTRY(n, struct coalesce_job, node) : NULL;
}

int
coalesce_add(struct coalesce *c, struct coalesce_job *job, const char *key)
{
	size_t len = coalesce_key_len(key);

	if (len == (size_t)-1 || job->node.linked || job->dispatching)
		return -EINVAL;
	if (lru_find(c->table, key, len) != NULL)
		return -EEXIST;
	if (lru_count(c->table) >= c->max_jobs)
		return -ENOSPC;
	job->w_first = job->w_last = NULL;
	job->n_waiters = 0;
	return lru_insert(c->table, &job->node, key, len);
}

static void
coalesce_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct coalesce_waiter *w = arg;

	if (w->job != NULL)
		coalesce_answer(w->c, w->job, w, COALESCE_TIMEOUT, NULL);
}

int
coalesce_wait(struct coalesce *c, struct coalesce_job *job, struct coalesce_waiter *w,
              uint64_t timeout_ms)
{
	if (!job->node.linked || w->job != NULL)
		return -EINVAL;
	if (c->n_waiters >= c->max_waiters)
		return -ENOSPC;
	w->c = c;
	w->job = job;
	w->timeout_ms = timeout_ms;
	w->next = NULL;
	w->prev = job->w_last;
	if (job->w_last != NULL)
		job->w_last->next = w;
	else
		job->w_first = w;
	job->w_last = w;
	job->n_waiters++;
	c->n_waiters++;
	if (timeout_ms > 0)
		loop_timer_start(c->loop, &w->timer, timeout_ms, coalesce_timeout, w);
	return 0;
}

void
coalesce_cancel_waiter(struct coalesce *c, struct coalesce_waiter *w)
{
	if (w->job != NULL)
		coalesce_answer(c, w->job, w, COALESCE_CANCELED, NULL);
}

int
coalesce_complete(struct coalesce *c, struct coalesce_job *job, const void *result)
{
	return coalesce_finish(c, job, COALESCE_DONE, result);
}

int
coalesce_cancel(struct coalesce *c, struct coalesce_job *job)
{
	return coalesce_finish(c, job, COALESCE_CANCELED, NULL);
}

struct coalesce_job *
coalesce_first(const struct coalesce *c)
{
	struct lru_node *n = lru_oldest(c->table);

	return n != NULL ? LRU_ENTRY(n, struct coalesce_job, node) : NULL;
}

struct coalesce_job *
coalesce_next(const struct coalesce_job *job)
{
	struct lru_node *n = lru_newer(&job->node);

	return n != NULL ? LRU_ENTRY(n, struct coalesce_job, node) : NULL;
}

size_t
coalesce_jobs(const struct coalesce *c)
{
	return lru_count(c->table);
}

size_t
coalesce_waiters(const struct coalesce *c)
{
	return c->n_waiters;
}
