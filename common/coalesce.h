/*
 * common/coalesce.h - one job per key, many waiters, each answered exactly once
 *
 * The pattern of Unbound's mesh (docs/style.md section 13): lookups of the same key while
 * a job for it runs wait on that job instead of starting another. The policy engine
 * (discoveries) and the DANE module (MX/TLSA jobs) use it.
 *
 * Design:    intrusive, like lru.h. The owner embeds a struct coalesce_job in its job and a
 *            struct coalesce_waiter in its waiter, allocates both, and does the work; this
 *            module keeps the table of jobs by key (an unbounded lru.h table, bounded here
 *            by max_jobs), each job's waiters in arrival order, and each waiter's timer (on
 *            the loop.h interface). Every waiter is handed to the owner's answer callback
 *            exactly once: COALESCE_DONE when its job completes (with the owner's result),
 *            COALESCE_TIMEOUT when its own timer fires first (the job goes on), or
 *            COALESCE_CANCELED (coalesce_cancel_waiter, coalesce_cancel, coalesce_free).
 *            A job leaves the table before its waiters are answered, so an answer callback
 *            may start a new job for the same key, attach to other jobs, or cancel any
 *            waiter or job (a waiter of the job being answered then gets COALESCE_CANCELED
 *            instead, still once).
 * Limits:    max_jobs jobs in the table and max_waiters waiters over all jobs (both >= 1);
 *            keys are strings of at most COALESCE_KEY_MAX bytes.
 * Interface: coalesce_new/free, coalesce_find, coalesce_add, coalesce_wait,
 *            coalesce_cancel_waiter, coalesce_complete, coalesce_cancel, coalesce_first,
 *            coalesce_next, coalesce_jobs, coalesce_waiters, COALESCE_ENTRY
 * Threads:   the loop's thread only.
 * Ownership: the owner owns its jobs, their keys and its waiters. The key is borrowed: it
 *            must stay valid and unchanged while the job is in the table (keep it in the
 *            job). A waiter belongs to this module from coalesce_wait() until it is passed
 *            to the answer callback, which takes it back (and usually frees it). A job is
 *            the owner's to free once coalesce_complete()/coalesce_cancel() returned 0.
 * Errors:    0, -EINVAL (bad key, or a job/waiter in the wrong state), -EEXIST (the key has
 *            a job), -ENOSPC (max_jobs or max_waiters reached), -EALREADY (the job is no
 *            longer in the table: someone else completes it). Times are milliseconds.
 */
#ifndef MTASTSD_COALESCE_H
#define MTASTSD_COALESCE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "lru.h"

/* Longest key (bytes, without the NUL): a domain name is at most 253. */
#define COALESCE_KEY_MAX 1024

enum coalesce_why {
	COALESCE_DONE = 0,     /* the job completed: result is coalesce_complete()'s */
	COALESCE_TIMEOUT = 1,  /* the waiter's timeout passed first; result is NULL */
	COALESCE_CANCELED = 2, /* canceled (waiter, job or module); result is NULL */
};

struct coalesce;
struct coalesce_waiter;

/* Embed in the owner's job; zero it before coalesce_add(). Fields are this module's. */
struct coalesce_job {
	struct lru_node node;                     /* in the table under its key */
	struct coalesce_waiter *w_first, *w_last; /* waiters, arrival order */
	size_t n_waiters;
	int dispatching; /* its waiters are being answered */
};

/* Embed in the owner's waiter; zero it before coalesce_wait(). */
struct coalesce_waiter {
	struct coalesce_waiter *prev, *next;
	struct coalesce_job *job; /* NULL when not waiting */
	struct coalesce *c;
	struct loop_timer timer;
	uint64_t timeout_ms; /* as given to coalesce_wait() (0: none) */
};

#define COALESCE_ENTRY(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Hands w back to its owner, answered: why, and for COALESCE_DONE the result given to
 * coalesce_complete() (borrowed for the call). job is w's job, valid during the call (for
 * COALESCE_DONE and COALESCE_CANCELED of a whole job it has left the table already). w is
 * no longer linked anywhere: the callback may free it, and may call any coalesce function
 * except coalesce_free() on this module. arg is coalesce_new()'s. */
typedef void coalesce_answer_fn(struct coalesce_job *job, struct coalesce_waiter *w,
                                enum coalesce_why why, const void *result, void *arg);

/* A module answering through answer(…, arg); max_jobs and max_waiters >= 1 (0 is taken
 * as 1). */
struct coalesce *coalesce_new(struct loop *loop, size_t max_jobs, size_t max_waiters,
                              coalesce_answer_fn *answer, void *arg);
/* Answers every remaining waiter COALESCE_CANCELED, forgets the jobs (still the owner's to
 * free) and frees the module. Not from inside an answer callback. Returns NULL. */
struct coalesce *coalesce_free(struct coalesce *c);

/* The job in the table for key, or NULL. */
struct coalesce_job *coalesce_find(const struct coalesce *c, const char *key);
/* Put job in the table under key (borrowed, see above). 0, -EINVAL (key NULL, empty or
 * longer than COALESCE_KEY_MAX; job in a table), -EEXIST, -ENOSPC (max_jobs). */
int coalesce_add(struct coalesce *c, struct coalesce_job *job, const char *key);
/* Attach w to job (in the table); with timeout_ms > 0 its timer answers it
 * COALESCE_TIMEOUT after that long. 0, -EINVAL (job not in the table, w already waiting),
 * -ENOSPC (max_waiters). On error w is untouched and will never be answered. */
int coalesce_wait(struct coalesce *c, struct coalesce_job *job, struct coalesce_waiter *w,
                  uint64_t timeout_ms);
/* Answer w COALESCE_CANCELED now (before this returns); its job goes on. No-op when w is
 * not waiting (answered already: only if its memory is still the caller's). */
void coalesce_cancel_waiter(struct coalesce *c, struct coalesce_waiter *w);

/* Take job out of the table and answer each of its waiters COALESCE_DONE with result, in
 * arrival order, before returning. 0 (the owner may free job now), or -EALREADY when job
 * is not in the table (being answered already, or never added): nothing is done. */
int coalesce_complete(struct coalesce *c, struct coalesce_job *job, const void *result);
/* The same, answering COALESCE_CANCELED. */
int coalesce_cancel(struct coalesce *c, struct coalesce_job *job);

/* Jobs in the table in the order they were added; a walk that completes or cancels jobs
 * fetches the next one first. */
struct coalesce_job *coalesce_first(const struct coalesce *c);
struct coalesce_job *coalesce_next(const struct coalesce_job *job);
/* Jobs in the table; waiters attached over all jobs. */
size_t coalesce_jobs(const struct coalesce *c);
size_t coalesce_waiters(const struct coalesce *c);

#endif
