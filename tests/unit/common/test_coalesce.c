/*
 * tests/unit/common/test_coalesce.c - one job per key, many waiters (common/coalesce.c)
 *
 * Covers: exactly-once delivery in arrival order (complete, cancel, waiter cancel, timer,
 * module free), a waiter's own timeout (the job goes on; a timed-out waiter never hears
 * of the job again), cancel during dispatch (of a waiter of the same job, of another job's
 * waiter, of the job itself: -EALREADY), re-entry from an answer (a new job and a waiter
 * for the same key, another job started, waiting on the job being answered refused),
 * limits (max_jobs, max_waiters, key length), walks, and no answer after the fact (the
 * loop runs on after every case: stopped timers stay silent).
 * Each case runs a fake loop (loop_new_fake()): the waiters' timeouts are virtual, fire in
 * the order of their due times, and cost no real time; every ordering the assertions depend
 * on is caused, not raced (the next step starts from the answer).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coalesce.h"
#include "loop.h"

#define W_MAX 16
/* Virtual time a run() may take before the case fails (ms). */
#define RUN_MAX_MS 10000

struct tjob {
	struct coalesce_job cj;
	char key[COALESCE_KEY_MAX + 2];
};

struct tw;
typedef void tw_hook_fn(struct tw *w);

struct tw {
	struct coalesce_waiter cw;
	int calls; /* how many times answered: must end at 0 or 1 */
	enum coalesce_why why;
	const void *result;
	struct tjob *job; /* the job the answer named */
	unsigned seq;     /* answer order */
	tw_hook_fn *hook; /* runs inside the answer */
};

static struct {
	struct loop *loop;
	struct coalesce *c;
	struct loop_timer stop;
	unsigned seq;
	struct tw w[W_MAX];
	struct tjob j[4];
	int result_a, result_b;
} T;

static void
answer_cb(struct coalesce_job *job, struct coalesce_waiter *cw, enum coalesce_why why,
          const void *result, void *arg)
{
	struct tw *w = COALESCE_ENTRY(cw, struct tw, cw);

	assert_ptr_equal(arg, &T);
	assert_null(cw->job); /* unlinked before the answer */
	w->calls++;
	w->why = why;
	w->result = result;
	w->job = COALESCE_ENTRY(job, struct tjob, cj);
	w->seq = ++T.seq;
	if (w->hook != NULL)
		w->hook(w);
}

static int
setup(void **state)
{
	memset(&T, 0, sizeof(T));
	assert_int_equal(loop_new_fake(0, &T.loop), 0);
	T.c = coalesce_new(T.loop, 3, 8, answer_cb, &T);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	T.c = coalesce_free(T.c);
	for (i = 0; i < W_MAX; i++)
		assert_true(T.w[i].calls <= 1);
	loop_timer_stop(T.loop, &T.stop);
	T.loop = loop_free(T.loop);
	return 0;
}

static struct tjob *
job_add(int i, const char *key)
{
	struct tjob *j = &T.j[i];

	memset(j, 0, sizeof(*j));
	(void)snprintf(j->key, sizeof(j->key), "%s", key);
	assert_int_equal(coalesce_add(T.c, &j->cj, j->key), 0);
	return j;
}

static void
wait_on(struct tjob *j, int i, uint64_t timeout_ms)
{
	assert_int_equal(coalesce_wait(T.c, &j->cj, &T.w[i].cw, timeout_ms), 0);
}

static void
stop_cb(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 0);
}

/* Run the loop until loop_exit(), or for ms when ms > 0, in virtual time (at most
 * RUN_MAX_MS). */
static void
run(uint64_t ms)
{
	if (ms > 0)
		loop_timer_start(T.loop, &T.stop, ms, stop_cb, NULL);
	assert_int_equal(loop_fake_run(T.loop, RUN_MAX_MS), 0);
}

/* ---- exactly once ---- */

static void
test_complete_all_once(void **state)
{
	struct tjob *a = job_add(0, "a.example"), *b = job_add(1, "b.example");

	assert_ptr_equal(coalesce_find(T.c, "a.example"), &a->cj);
	assert_ptr_equal(coalesce_find(T.c, "b.example"), &b->cj);
	assert_null(coalesce_find(T.c, "c.example"));
	wait_on(a, 0, 0);
	wait_on(a, 1, 60000); /* its timer is stopped when answered */
	wait_on(a, 2, 0);
	wait_on(b, 3, 30);
	assert_int_equal(coalesce_waiters(T.c), 4);
	assert_int_equal(coalesce_jobs(T.c), 2);
	assert_int_equal(a->cj.n_waiters, 3);
	assert_int_equal(coalesce_complete(T.c, &a->cj, &T.result_a), 0);
	assert_null(coalesce_find(T.c, "a.example"));
	assert_int_equal(coalesce_jobs(T.c), 1);
	assert_int_equal(coalesce_waiters(T.c), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.w[i].calls, 1);
		assert_int_equal(T.w[i].why, COALESCE_DONE);
		assert_ptr_equal(T.w[i].result, &T.result_a);
		assert_ptr_equal(T.w[i].job, a);
		assert_int_equal(T.w[i].seq, (unsigned)i + 1); /* arrival order */
	}
	/* completing again: not in the table */
	assert_int_equal(coalesce_complete(T.c, &a->cj, &T.result_b), -EALREADY);
	assert_int_equal(coalesce_cancel(T.c, &a->cj), -EALREADY);
	/* cancel of an answered waiter: nothing */
	coalesce_cancel_waiter(T.c, &T.w[0].cw);
	assert_int_equal(T.w[0].calls, 1);
	run(100); /* b's waiter times out; a's stopped timer stays silent */
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(T.w[3].calls, 1);
	assert_int_equal(T.w[3].why, COALESCE_TIMEOUT);
	assert_null(T.w[3].result);
	/* b goes on without waiters; a new waiter, then cancel the job */
	assert_ptr_equal(coalesce_find(T.c, "b.example"), &b->cj);
	wait_on(b, 4, 0);
	assert_int_equal(coalesce_cancel(T.c, &b->cj), 0);
	assert_int_equal(T.w[4].calls, 1);
	assert_int_equal(T.w[4].why, COALESCE_CANCELED);
	assert_int_equal(coalesce_jobs(T.c), 0);
	assert_int_equal(coalesce_waiters(T.c), 0);
	/* a waiter answered may wait again (a new job) */
	a = job_add(0, "a.example");
	wait_on(a, 0, 0);
	assert_int_equal(coalesce_complete(T.c, &a->cj, NULL), 0);
	assert_int_equal(T.w[0].calls, 2);
	T.w[0].calls = 1;
}

/* ---- the waiter's own timer ---- */

static void
hook_complete_a(struct tw *w)
{
	assert_int_equal(w->why, COALESCE_TIMEOUT);
	/* the job is still in the table with the others waiting */
	assert_ptr_equal(coalesce_find(T.c, "a.example"), &T.j[0].cj);
	assert_int_equal(T.j[0].cj.n_waiters, 2);
	assert_int_equal(coalesce_complete(T.c, &T.j[0].cj, &T.result_a), 0);
}

static void
test_waiter_timeout(void **state)
{
	struct tjob *a = job_add(0, "a.example");

	wait_on(a, 0, 0);
	wait_on(a, 1, 20); /* times out first and completes the job from its answer */
	wait_on(a, 2, 60000);
	T.w[1].hook = hook_complete_a;
	run(100); /* and nothing fires late */
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(T.w[1].why, COALESCE_TIMEOUT);
	assert_int_equal(T.w[1].seq, 1);
	assert_int_equal(T.w[0].why, COALESCE_DONE);
	assert_int_equal(T.w[2].why, COALESCE_DONE);
	assert_int_equal(T.w[0].seq, 2);
	assert_int_equal(T.w[2].seq, 3);
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(T.w[2].calls, 1);
}

/* Several timeouts: each waiter is answered when its own timer fires. */
static void
hook_exit_when_last(struct tw *w)
{
	if (coalesce_waiters(T.c) == 1)
		loop_exit(T.loop, 0);
}

static void
test_timeouts_own_timers(void **state)
{
	struct tjob *a = job_add(0, "a.example");

	wait_on(a, 0, 40);
	wait_on(a, 1, 10);
	wait_on(a, 2, 0);
	wait_on(a, 3, 25);
	T.w[0].hook = T.w[1].hook = T.w[3].hook = hook_exit_when_last;
	run(0);
	assert_int_equal(T.w[1].seq, 1);
	assert_int_equal(T.w[3].seq, 2);
	assert_int_equal(T.w[0].seq, 3);
	assert_int_equal(T.w[2].calls, 0);
	assert_int_equal(coalesce_waiters(T.c), 1);
	assert_int_equal(coalesce_cancel(T.c, &a->cj), 0);
	assert_int_equal(T.w[2].why, COALESCE_CANCELED);
}

/* ---- cancel ---- */

static void
test_cancel_waiter(void **state)
{
	struct tjob *a = job_add(0, "a.example");

	wait_on(a, 0, 0);
	wait_on(a, 1, 20);
	wait_on(a, 2, 0);
	coalesce_cancel_waiter(T.c, &T.w[1].cw);
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(T.w[1].why, COALESCE_CANCELED);
	coalesce_cancel_waiter(T.c, &T.w[1].cw); /* again: nothing */
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(coalesce_jobs(T.c), 1); /* the job goes on */
	run(60);                                 /* its timer was stopped */
	assert_int_equal(T.w[1].calls, 1);
	assert_int_equal(coalesce_complete(T.c, &a->cj, &T.result_a), 0);
	assert_int_equal(T.w[0].why, COALESCE_DONE);
	assert_int_equal(T.w[2].why, COALESCE_DONE);
	assert_int_equal(T.w[1].why, COALESCE_CANCELED);
}

/* From the first answer of job a: cancel a's third waiter, a waiter of job b, and try to
 * cancel or complete a itself (it is being answered: -EALREADY, nothing changes). */
static void
hook_cancel_during_dispatch(struct tw *w)
{
	assert_int_equal(coalesce_cancel(T.c, &T.j[0].cj), -EALREADY);
	assert_int_equal(coalesce_complete(T.c, &T.j[0].cj, &T.result_b), -EALREADY);
	coalesce_cancel_waiter(T.c, &T.w[2].cw);
	coalesce_cancel_waiter(T.c, &T.w[3].cw);
	coalesce_cancel_waiter(T.c, &T.w[0].cw); /* the one being answered: nothing */
}

static void
test_cancel_during_dispatch(void **state)
{
	struct tjob *a = job_add(0, "a.example"), *b = job_add(1, "b.example");

	wait_on(a, 0, 0);
	wait_on(a, 1, 50);
	wait_on(a, 2, 50);
	wait_on(b, 3, 0);
	wait_on(b, 4, 0);
	T.w[0].hook = hook_cancel_during_dispatch;
	assert_int_equal(coalesce_complete(T.c, &a->cj, &T.result_a), 0);
	assert_int_equal(T.w[0].why, COALESCE_DONE);
	assert_int_equal(T.w[2].why, COALESCE_CANCELED); /* answered from inside, once */
	assert_int_equal(T.w[2].seq, 2);
	assert_int_equal(T.w[3].why, COALESCE_CANCELED);
	assert_int_equal(T.w[1].why, COALESCE_DONE);
	assert_ptr_equal(T.w[1].result, &T.result_a); /* not result_b */
	assert_int_equal(T.w[1].seq, 4);
	assert_int_equal(coalesce_jobs(T.c), 1);
	assert_int_equal(coalesce_waiters(T.c), 1);
	run(80);
	assert_int_equal(T.w[4].calls, 0);
	assert_int_equal(coalesce_complete(T.c, &b->cj, &T.result_b), 0);
	assert_int_equal(T.w[4].why, COALESCE_DONE);
}

/* The whole job canceled while one of its waiters' timeout answer runs. */
static void
hook_cancel_job(struct tw *w)
{
	assert_int_equal(coalesce_cancel(T.c, &T.j[0].cj), 0);
}

static void
test_cancel_job_from_timeout(void **state)
{
	struct tjob *a = job_add(0, "a.example");

	wait_on(a, 0, 10);
	wait_on(a, 1, 60000);
	wait_on(a, 2, 0);
	T.w[0].hook = hook_cancel_job;
	run(60);
	assert_int_equal(T.w[0].why, COALESCE_TIMEOUT);
	assert_int_equal(T.w[1].why, COALESCE_CANCELED);
	assert_int_equal(T.w[2].why, COALESCE_CANCELED);
	assert_int_equal(coalesce_jobs(T.c), 0);
}

/* ---- re-entry ---- */

/* From a's first answer: a's key is free already: a new job for it, a waiter on that one
 * (the same key), another job; waiting on the job being answered is refused. */
static void
hook_reenter(struct tw *w)
{
	struct tjob *a2;

	assert_null(coalesce_find(T.c, "a.example"));
	assert_int_equal(coalesce_wait(T.c, &T.j[0].cj, &T.w[5].cw, 0), -EINVAL);
	assert_int_equal(coalesce_add(T.c, &T.j[0].cj, "a.example"), -EINVAL); /* answering */
	a2 = job_add(2, "a.example");
	wait_on(a2, 6, 0);
	(void)job_add(3, "c.example");
}

static void
test_reentry(void **state)
{
	struct tjob *a = job_add(0, "a.example");

	wait_on(a, 0, 0);
	wait_on(a, 1, 0);
	T.w[0].hook = hook_reenter;
	assert_int_equal(coalesce_complete(T.c, &a->cj, &T.result_a), 0);
	assert_int_equal(T.w[0].calls, 1);
	assert_int_equal(T.w[1].calls, 1);
	assert_ptr_equal(T.w[1].result, &T.result_a);
	assert_int_equal(T.w[5].calls, 0);
	assert_int_equal(T.w[6].calls, 0); /* waits on the new job, not answered by a */
	assert_ptr_equal(coalesce_find(T.c, "a.example"), &T.j[2].cj);
	assert_int_equal(coalesce_jobs(T.c), 2);
	/* walk in the order added, completing as we go */
	{
		struct coalesce_job *j = coalesce_first(T.c), *next;
		int n = 0;

		assert_ptr_equal(j, &T.j[2].cj);
		for (; j != NULL; j = next, n++) {
			next = coalesce_next(j);
			assert_int_equal(coalesce_complete(T.c, j, &T.result_b), 0);
		}
		assert_int_equal(n, 2);
	}
	assert_int_equal(T.w[6].calls, 1);
	assert_ptr_equal(T.w[6].result, &T.result_b);
	assert_ptr_equal(T.w[6].job, &T.j[2]);
	assert_null(coalesce_first(T.c));
}

/* ---- limits and bad input ---- */

static void
test_limits(void **state)
{
	struct tjob *a = job_add(0, "a"), *b = job_add(1, "b");
	struct tjob extra = {0}, *c;
	int i;

	(void)job_add(2, "c");
	/* max_jobs 3 */
	assert_int_equal(coalesce_add(T.c, &extra.cj, "d"), -ENOSPC);
	assert_int_equal(coalesce_add(T.c, &extra.cj, "a"), -EEXIST);
	assert_int_equal(coalesce_add(T.c, &a->cj, "z"), -EINVAL); /* already in */
	/* max_waiters 8 over all jobs */
	for (i = 0; i < 8; i++)
		wait_on(i % 2 ? a : b, i, 0);
	assert_int_equal(coalesce_wait(T.c, &a->cj, &T.w[8].cw, 0), -ENOSPC);
	assert_null(T.w[8].cw.job);
	assert_int_equal(coalesce_wait(T.c, &a->cj, &T.w[0].cw, 0), -EINVAL);    /* waiting */
	assert_int_equal(coalesce_wait(T.c, &extra.cj, &T.w[9].cw, 0), -EINVAL); /* not in */
	coalesce_cancel_waiter(T.c, &T.w[0].cw);
	wait_on(a, 8, 0); /* room again */
	assert_int_equal(coalesce_complete(T.c, &a->cj, NULL), 0);
	assert_int_equal(coalesce_add(T.c, &extra.cj, "d"), 0);
	assert_ptr_equal(coalesce_find(T.c, "d"), &extra.cj);
	assert_int_equal(coalesce_cancel(T.c, &extra.cj), 0);
	/* keys */
	c = &T.j[3];
	memset(c, 0, sizeof(*c));
	assert_int_equal(coalesce_add(T.c, &c->cj, NULL), -EINVAL);
	assert_int_equal(coalesce_add(T.c, &c->cj, ""), -EINVAL);
	memset(c->key, 'x', COALESCE_KEY_MAX + 1);
	c->key[COALESCE_KEY_MAX + 1] = '\0';
	assert_int_equal(coalesce_add(T.c, &c->cj, c->key), -EINVAL);
	assert_null(coalesce_find(T.c, c->key));
	assert_null(coalesce_find(T.c, NULL));
	c->key[COALESCE_KEY_MAX] = '\0';
	assert_int_equal(coalesce_add(T.c, &c->cj, c->key), 0);
	assert_ptr_equal(coalesce_find(T.c, c->key), &c->cj);
	for (i = 1; i < 9; i += 2)
		assert_int_equal(T.w[i].calls, 1);
	for (i = 2; i < 8; i += 2)
		assert_int_equal(T.w[i].calls, 0);
}

/* coalesce_free answers what still waits, once, and stops the timers. */
static void
test_free_cancels(void **state)
{
	struct tjob *a = job_add(0, "a"), *b = job_add(1, "b");
	struct coalesce *other = coalesce_new(T.loop, 0, 0, answer_cb, &T);
	struct tjob solo = {0};

	wait_on(a, 0, 20);
	wait_on(b, 1, 0);
	wait_on(b, 2, 20);
	T.c = coalesce_free(T.c);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.w[i].calls, 1);
		assert_int_equal(T.w[i].why, COALESCE_CANCELED);
	}
	/* limits 0 are taken as 1 */
	assert_int_equal(coalesce_add(other, &solo.cj, "solo"), 0);
	assert_int_equal(coalesce_add(other, &T.j[2].cj, "two"), -ENOSPC);
	assert_int_equal(coalesce_wait(other, &solo.cj, &T.w[3].cw, 0), 0);
	assert_int_equal(coalesce_wait(other, &solo.cj, &T.w[4].cw, 0), -ENOSPC);
	other = coalesce_free(other);
	assert_int_equal(T.w[3].why, COALESCE_CANCELED);
	run(50); /* the stopped timers stay silent */
	assert_int_equal(T.w[0].calls, 1);
	assert_int_equal(T.w[2].calls, 1);
	assert_null(coalesce_free(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_complete_all_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_waiter_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeouts_own_timers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_waiter, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_during_dispatch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_job_from_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reentry, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
