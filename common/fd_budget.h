/*
 * common/fd_budget.h - how the daemon shares RLIMIT_NOFILE among its parts (no I/O)
 *
 * Interface: fd_budget_compute(), fd_budget_format(), fd_budget_limit_min(), fd_limit_raise()
 * What:      the process has one descriptor table. The publisher's connections come from
 *            the Internet; if they may take every descriptor, the socketmap's accept(2),
 *            the DNS sockets and the fetches fail with EMFILE and every outbound mail is
 *            deferred (issue 16). So at start each part gets a budget out of the limit:
 *            the publisher's connections (all its listeners together), the admin
 *            endpoint's, the socketmap's, the fetches and the DNS queries in flight; and a
 *            reserve stays free: the descriptors the process holds whatever the load
 *            (listeners, the loop, libmicrohttpd's threads, the state database) and a
 *            spare. Each part then never holds more than its budget (libmicrohttpd's
 *            connection limits, the socketmap's max_connections, the fetch queue, the DNS
 *            client's query queue), so the sum stays under the limit whatever a peer does.
 *            When the limit holds every configured part they get what they ask for. When
 *            it does not, the publisher is cut first down to a quarter of what is left
 *            (FD_PUBLISHER_FLOOR_DIV), then the resolver's parts shrink in proportion.
 *            docs/operations.md "File descriptors".
 * Threads:   any; no state.
 * Errors:    fd_budget_compute() returns -EMFILE when the limit is too small to run.
 */
#ifndef MTASTSD_FD_BUDGET_H
#define MTASTSD_FD_BUDGET_H

#include <stddef.h>

/* What each part asks for (from the configuration); 0 for a part that does not run. */
struct fd_want {
	unsigned limit;       /* RLIMIT_NOFILE soft limit, after fd_limit_raise() */
	unsigned fixed;       /* descriptors held whatever the load (listeners, loop, threads) */
	unsigned publisher;   /* publisher.max_connections, all its listeners together */
	unsigned listeners;   /* the publisher's listeners (each takes an equal share) */
	unsigned per_address; /* publisher.max_connections_per_address (0: no limit) */
	unsigned admin;       /* admin endpoint connections */
	unsigned socketmap;   /* resolver.max_connections */
	unsigned fetch; /* resolver.fetch_concurrency + refresh_concurrency (FD_PER_FETCH each) */
	unsigned dns;   /* resolver.dns_concurrency (one socket each) */
	/* descriptors of parts bounded by their own limits, kept whatever the load (in the
	 * reserve, like fixed, but named in the log line) */
	unsigned tlsrpt;  /* the TLSRPT receiver's state database connections */
	unsigned mxcheck; /* the MX check's SMTP and DNS sockets */
};

/* What each part gets. Counts of connections, fetches and queries, as in struct fd_want;
 * never more than asked, and at least 1 for a part that asked for any. */
struct fd_budget {
	unsigned limit;
	unsigned reserve; /* fixed + the spare: what no part may take */
	unsigned publisher;
	unsigned per_address; /* 0: no limit; else at most half of a listener's share */
	unsigned admin;
	unsigned socketmap;
	unsigned fetch;
	unsigned dns;
	unsigned outbound_fds; /* descriptors of the fetches and DNS queries together */
	unsigned tlsrpt;       /* as asked, within the reserve */
	unsigned mxcheck;      /* as asked, within the reserve */
};

/* The budget for w into *ret_b (written on success only). Returns 0, or -EMFILE when
 * w->limit is below FD_LIMIT_MIN or cannot hold the reserve and one descriptor for each
 * part that runs. Pure function (unit test: tests/unit/common/test_fd_budget.c). */
int fd_budget_compute(const struct fd_want *w, struct fd_budget *ret_b);

/* The budget as one line, for the start log: "limit 65536: publisher 4096 (per address
 * 64), admin 32, socketmap 1024, fetch+DNS 418 (80 fetches, 256 DNS queries), reserve 112";
 * a part that does not run is "off"; the reserve names the TLSRPT receiver's and the MX
 * check's share when they run: "reserve 328 (MX check 192, TLSRPT store 24)". Returns what
 * snprintf(3) returns. */
int fd_budget_format(const struct fd_budget *b, char *buf, size_t len);

/* The smallest limit with which fd_budget_compute() succeeds for what w asks (w->limit
 * ignored), for the startup error; FD_LIMIT_CAP when none does. */
unsigned fd_budget_limit_min(const struct fd_want *w);

/* Raise the soft RLIMIT_NOFILE to the hard limit (at most FD_LIMIT_CAP), as systemd starts
 * a service with a soft limit of 1024 whatever LimitNOFILE= allows (systemd.exec(5)).
 * *ret_before and *ret_after get the soft limit before and after (capped at UINT_MAX; always
 * written). Returns 0, or -errno when getrlimit/prlimit(2) fail (then *ret_after is the
 * limit in force). Uses prlimit(2), which the unit's system call filter allows. */
int fd_limit_raise(unsigned *ret_before, unsigned *ret_after);

#endif
