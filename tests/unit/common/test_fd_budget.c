/*
 * tests/unit/common/test_fd_budget.c - the descriptor budget (common/fd_budget.c)
 *
 * Covers: a limit that holds everything (every part as configured, the log line); a limit
 * where the publisher alone is cut; the worst case (1024: the publisher at its floor, the
 * resolver's parts in proportion); limits too small (-EMFILE); parts that do not run; the
 * per-address limit (at most half a listener's share, 0 kept as "no limit"); for every
 * limit from 64 to 70000 the parts and the reserve fit the limit, no part gets more than it
 * asked or less than one, and no part shrinks as the limit grows; fd_limit_raise() on the
 * test process's own RLIMIT_NOFILE.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "fd_budget.h"
#include "mtasts_limits.h"

/* The default configuration: four publisher listeners, admin, resolver. */
static struct fd_want
want_default(unsigned limit)
{
	return (struct fd_want){
	        .limit = limit,
	        .fixed = 45,
	        .publisher = 4096,
	        .listeners = 4,
	        .per_address = 64,
	        .admin = 32,
	        .socketmap = 1024,
	        .fetch = 64,
	        .dns = 256,
	};
}

/* Every descriptor the budget hands out, the reserve included. */
static uint64_t
total(const struct fd_budget *b)
{
	return (uint64_t)b->publisher + b->admin + b->socketmap + b->outbound_fds + b->reserve;
}

static void
test_ample(void **state)
{
	struct fd_want w = want_default(65536);
	struct fd_budget b;
	char line[256];

	(void)state;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.limit, 65536);
	assert_int_equal(b.reserve, 45 + FD_SPARE_MAX);
	assert_int_equal(b.publisher, 4096);
	assert_int_equal(b.per_address, 64);
	assert_int_equal(b.admin, 32);
	assert_int_equal(b.socketmap, 1024);
	assert_int_equal(b.fetch, 64);
	assert_int_equal(b.dns, 256);
	assert_int_equal(b.outbound_fds, FD_FETCH_BASE + 64 * FD_PER_FETCH + 256);
	(void)fd_budget_format(&b, line, sizeof(line));
	assert_string_equal(line, "limit 65536: publisher 4096 (per address 64), admin 32, "
	                          "socketmap 1024, fetch+DNS 386 (64 fetches, 256 DNS queries), "
	                          "reserve 109");
	/* the smallest limit that holds the whole default configuration */
	w.limit = (unsigned)total(&b);
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.publisher, 4096);
	assert_int_equal(b.socketmap, 1024);
}

static void
test_publisher_cut_first(void **state)
{
	struct fd_want w = want_default(3000);
	struct fd_budget b;

	(void)state;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	/* the resolver's parts as asked, the publisher gets the rest */
	assert_int_equal(b.socketmap, 1024);
	assert_int_equal(b.fetch, 64);
	assert_int_equal(b.dns, 256);
	assert_int_equal(b.reserve, 45 + FD_SPARE_MAX);
	assert_int_equal(b.publisher, 3000 - b.reserve - 32 - 1024 - 386);
	assert_int_equal(total(&b), 3000);
}

static void
test_worst_case_1024(void **state)
{
	struct fd_want w = want_default(1024);
	struct fd_budget b;
	unsigned avail = 1024 - (45 + 64) - 32;
	char line[256];

	(void)state;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.reserve, 45 + 64);
	assert_int_equal(b.admin, 32);
	assert_int_equal(b.publisher, avail / FD_PUBLISHER_FLOOR_DIV);
	/* 57 per listener, one address at most half of that */
	assert_int_equal(b.per_address, b.publisher / 4 / 2);
	assert_true(b.socketmap > 400 && b.socketmap < 1024);
	assert_true(b.fetch >= 1 && b.fetch < 64);
	assert_true(b.dns >= 2 && b.dns < 256);
	assert_true(total(&b) <= 1024);
	(void)fd_budget_format(&b, line, sizeof(line));
	print_message("%s\n", line);
}

static void
test_too_small(void **state)
{
	struct fd_want w = want_default(FD_LIMIT_MIN - 1);
	struct fd_budget b = {.limit = 7};

	(void)state;
	assert_int_equal(fd_budget_compute(&w, &b), -EMFILE);
	assert_int_equal(b.limit, 7); /* not written */
	/* the descriptors held at rest alone exceed it */
	w = want_default(100);
	w.fixed = 95;
	assert_int_equal(fd_budget_compute(&w, &b), -EMFILE);
	/* 64 is enough for a resolver alone (t_fd_exhaustion.sh runs it) */
	w = (struct fd_want){
	        .limit = 64, .fixed = 20, .admin = 32, .socketmap = 1000, .fetch = 64, .dns = 256};
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_true(b.socketmap >= 1 && b.fetch >= 1 && b.dns >= FD_DNS_CLIENTS && b.admin >= 1);
	assert_true(total(&b) <= 64);
	/* but not for the publisher's four listeners as well when little is left */
	w.publisher = 4096;
	w.listeners = 4;
	w.fixed = 50;
	assert_int_equal(fd_budget_compute(&w, &b), -EMFILE);
	/* the least that works, for the startup error */
	w.limit = fd_budget_limit_min(&w);
	assert_true(w.limit > 64);
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	w.limit--;
	assert_int_equal(fd_budget_compute(&w, &b), -EMFILE);
	w = (struct fd_want){.fixed = 20, .socketmap = 1000};
	assert_int_equal(fd_budget_limit_min(&w), FD_LIMIT_MIN);
}

static void
test_parts_not_running(void **state)
{
	struct fd_want w = want_default(1024);
	struct fd_budget b;
	char line[256];

	(void)state;
	/* resolver off: the publisher may take everything but the reserve and the admin */
	w.socketmap = w.fetch = w.dns = 0;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.socketmap + b.fetch + b.dns + b.outbound_fds, 0);
	assert_int_equal(b.publisher, 1024 - b.reserve - 32);
	/* publisher off: no publisher, no per-address limit */
	w = want_default(1024);
	w.publisher = w.listeners = 0;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.publisher, 0);
	assert_int_equal(b.per_address, 0);
	(void)fd_budget_format(&b, line, sizeof(line));
	assert_non_null(strstr(line, ": publisher off, admin 32, socketmap "));
	/* short for the resolver: its parts in proportion (1410 asked), each its least first */
	assert_int_equal(b.socketmap, 1 + 1024 * (1024 - 109 - 32 - 7) / 1410);
	assert_true(b.socketmap + b.outbound_fds <= 1024 - 109 - 32);
	/* admin disabled */
	w = want_default(65536);
	w.admin = 0;
	w.socketmap = w.fetch = w.dns = 0;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.admin, 0);
	(void)fd_budget_format(&b, line, sizeof(line));
	assert_string_equal(line, "limit 65536: publisher 4096 (per address 64), admin off, "
	                          "socketmap off, fetch+DNS off, reserve 109");
}

static void
test_per_address(void **state)
{
	struct fd_want w = want_default(65536);
	struct fd_budget b;
	char line[256];

	(void)state;
	/* 0: no per-address limit, whatever the share */
	w.per_address = 0;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.per_address, 0);
	(void)fd_budget_format(&b, line, sizeof(line));
	assert_non_null(strstr(line, "publisher 4096 (no per-address limit)"));
	/* more than half a listener's share: cut to half */
	w.per_address = 5000;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.per_address, 4096 / 4 / 2);
	/* fewer connections than listeners, as configured: not the limit's doing */
	w.publisher = 2;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.publisher, 2);
	/* a listener of one connection: one per address */
	w.publisher = 1;
	w.listeners = 1;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.publisher, 1);
	assert_int_equal(b.per_address, 1);
}

static void
test_every_limit(void **state)
{
	struct fd_budget b, prev = {0};
	struct fd_want w;
	unsigned limit;

	(void)state;
	for (limit = FD_LIMIT_MIN; limit <= 70000; limit++) {
		w = want_default(limit);
		w.fixed = 20;
		assert_int_equal(fd_budget_compute(&w, &b), 0);
		if (total(&b) > limit)
			fail_msg("limit %u: %llu handed out", limit, (unsigned long long)total(&b));
		assert_true(b.publisher >= 1 && b.publisher <= w.publisher);
		assert_true(b.per_address >= 1 && b.per_address <= w.per_address);
		assert_true(b.admin >= 1 && b.admin <= w.admin);
		assert_true(b.socketmap >= 1 && b.socketmap <= w.socketmap);
		assert_true(b.fetch >= 1 && b.fetch <= w.fetch);
		assert_true(b.dns >= FD_DNS_CLIENTS && b.dns <= w.dns);
		if (b.publisher < prev.publisher || b.socketmap < prev.socketmap ||
		    b.fetch < prev.fetch || b.dns < prev.dns || b.admin < prev.admin)
			fail_msg("limit %u: a part shrank as the limit grew", limit);
		prev = b;
	}
	/* from some limit on, everything as asked */
	assert_int_equal(b.publisher, 4096);
	assert_int_equal(b.socketmap, 1024);
}

/* Other configurations, every 7th limit: what is handed out fits, no part more than asked. */
static void
test_other_wants(void **state)
{
	static const struct fd_want wants[] = {
	        {.fixed = 60,
	         .publisher = 262144,
	         .listeners = 16,
	         .per_address = 65536,
	         .admin = 32,
	         .socketmap = 1,
	         .fetch = 4096,
	         .dns = 1},
	        {.fixed = 20,
	         .publisher = 1,
	         .listeners = 1,
	         .per_address = 0,
	         .admin = 0,
	         .socketmap = 65536,
	         .fetch = 1,
	         .dns = 65536},
	        {.fixed = 30, .socketmap = 10, .fetch = 10, .dns = 3},
	        {.fixed = 30, .publisher = 50, .listeners = 2, .per_address = 64, .admin = 32},
	};
	struct fd_budget b;
	struct fd_want w;
	unsigned limit;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		for (limit = FD_LIMIT_MIN; limit <= 300000; limit += 7) {
			w = wants[i];
			w.limit = limit;
			r = fd_budget_compute(&w, &b);
			if (r < 0)
				continue; /* too small for this one */
			if (total(&b) > limit)
				fail_msg("want %zu, limit %u: %llu handed out", i, limit,
				         (unsigned long long)total(&b));
			assert_true(b.publisher <= w.publisher && b.admin <= w.admin);
			assert_true(b.socketmap <= w.socketmap && b.fetch <= w.fetch);
			assert_true(b.dns <=
			            (w.dns > 0 && w.dns < FD_DNS_CLIENTS ? FD_DNS_CLIENTS : w.dns));
			assert_true(w.per_address == 0 || b.per_address >= 1);
			assert_true(b.per_address <= w.per_address);
		}
		/* the largest limit holds every one of them */
		assert_int_equal(r, 0);
	}
}

static void
test_limit_raise(void **state)
{
	struct rlimit orig, rl;
	unsigned before, after;
	rlim_t want;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &orig), 0);
	if (orig.rlim_max != RLIM_INFINITY && orig.rlim_max < 128)
		skip();
	/* a soft limit below the hard one, as systemd starts a service */
	rl = orig;
	rl.rlim_cur = 100;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(fd_limit_raise(&before, &after), 0);
	assert_int_equal(before, 100);
	want = orig.rlim_max == RLIM_INFINITY || orig.rlim_max > FD_LIMIT_CAP ? FD_LIMIT_CAP
	                                                                      : orig.rlim_max;
	assert_int_equal(after, (unsigned)want);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(rl.rlim_cur, want);
	assert_int_equal(rl.rlim_max, orig.rlim_max); /* the hard limit is left alone */
	/* raised already: nothing to do */
	assert_int_equal(fd_limit_raise(&before, &after), 0);
	assert_int_equal(before, after);
	(void)setrlimit(RLIMIT_NOFILE, &orig);
}

/* The TLSRPT receiver's state database connections and the MX check's sockets are in the
 * reserve: what the other parts get leaves room for them, and the line names them. */
static void
test_tlsrpt_mxcheck_reserved(void **state)
{
	struct fd_want w = want_default(1024);
	struct fd_budget b0, b;
	char line[256];
	unsigned min0;

	(void)state;
	assert_int_equal(fd_budget_compute(&w, &b0), 0);
	min0 = fd_budget_limit_min(&w);
	w.tlsrpt = 8 * FD_PER_STATEDB;
	w.mxcheck = 4 * MX_PROBE_HOSTS_MAX * FD_PER_MX_HOST;
	assert_int_equal(fd_budget_compute(&w, &b), 0);
	assert_int_equal(b.reserve, b0.reserve + 24 + 192);
	assert_int_equal(b.tlsrpt, 24);
	assert_int_equal(b.mxcheck, 192);
	/* at 1024 the other parts get what they take less */
	assert_true(total(&b) - b.reserve <= total(&b0) - b0.reserve - 24 - 192);
	assert_true(total(&b) <= 1024);
	assert_true(fd_budget_limit_min(&w) >= min0 + 24 + 192);
	(void)fd_budget_format(&b, line, sizeof(line));
	assert_non_null(strstr(line, "reserve 325 (MX check 192, TLSRPT store 24)"));
	/* a limit that cannot hold them: refused */
	w.limit = 64;
	assert_int_equal(fd_budget_compute(&w, &b), -EMFILE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ample),
	        cmocka_unit_test(test_publisher_cut_first),
	        cmocka_unit_test(test_worst_case_1024),
	        cmocka_unit_test(test_too_small),
	        cmocka_unit_test(test_parts_not_running),
	        cmocka_unit_test(test_per_address),
	        cmocka_unit_test(test_every_limit),
	        cmocka_unit_test(test_other_wants),
	        cmocka_unit_test(test_tlsrpt_mxcheck_reserved),
	        cmocka_unit_test(test_limit_raise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
