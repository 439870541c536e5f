/*
 * daemon/internal/admin_int.h - admin endpoint internals shared by admin.c and admin_render.c
 *
 * Interface: struct admin, admin_days_left(); the facts and the renderers
 *            (struct admin_facts, admin_facts_collect/free, admin_render_*) are in the
 *            public admin_render.h.
 * Threads:   main loop only.
 * Not installed: private to daemon/ (its PRIVATE include directory: no other target can
 *            include it).
 *
 * The admin endpoint sees the resolver and the publisher only through their public headers
 * (res.h, pub.h) and the metrics they register in its registries (stats.h).
 */
#ifndef MTASTSD_ADMIN_INT_H
#define MTASTSD_ADMIN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "admin_render.h"
#include "admin_route.h"
#include "cfg.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "mxcheck.h"
#include "pub.h"
#include "res.h"
#include "stats.h"

/* Limits of the admin endpoint (docs/style.md section 6). */
/* Concurrent admin connections; monitoring scrapes and a browser need a handful. */
#define ADMIN_MAX_CONNECTIONS 32
/* Idle admin connections are closed after this long (seconds); it is also the deadline of
 * each request, from accept or from the end of the previous one (common/httpd.c). */
#define ADMIN_CONN_TIMEOUT_S 10
/* Request line + headers of one admin request (bytes). */
#define ADMIN_CONN_MEMORY_MAX (16 * 1024)
/* A refused request (Host, purge over TCP without a token) is logged as a warning at most
 * once per this many ms, the others at debug level; the counters count every one. A web
 * page retrying a rebinding in a loop must not flood the journal. */
#define ADMIN_REFUSED_LOG_INTERVAL_MS 10000
/* Cache entries scanned for recent failures per request (the cache may hold 100000). */
#define ADMIN_SCAN_MAX 200000
/* listen(2) backlog. */
#define ADMIN_LISTEN_BACKLOG 64

struct admin {
	struct loop *loop;
	struct httpd *httpd;     /* the MHD daemon, its request deadline and accounting */
	struct MHD_Daemon *mhd;  /* borrowed from httpd */
	int epoll_fd;            /* MHD's, watched on the loop */
	struct loop_timer timer; /* MHD_get_timeout() */
	int quiesced;            /* 1 after admin_stop_accepting() closed the listener */
	struct listen_sock ls;   /* the fd goes to MHD; a unix socket file is removed at the end */
	char *listen_name;       /* "127.0.0.1:8462" or "unix:/run/mtastsd/admin.sock" */
	uint16_t port;
	int has_token;
	unsigned char token_sha256[32];
	int exposed; /* TCP listener on a non-loopback address: a token is mandatory */
	/* the routing's view of the listener and the config (admin_route.h); its
	 * allowed_hosts are the copies in allowed_hosts below, has_token follows has_token */
	struct admin_route_cfg route;
	char **allowed_hosts; /* admin.allowed_hosts, owned copies */
	size_t n_allowed_hosts;
	/* what we report on (admin_update) */
	const struct cfg *cfg;
	struct res *res;
	struct pub *pub;
	struct acme *acme;       /* the ACME client, NULL: none (admin_set_acme()) */
	struct mxcheck *mxcheck; /* the periodic MX check (mxcheck.h), NULL: off */
	struct rollout *rollout; /* the rollout (rollout.h), NULL: no published domain */
	/* metrics: our own (admin.c), the publisher's and the resolver's (re-registered by
	 * admin_update()); each is the JSON of its object in /status */
	struct stats *stats, *stats_pub, *stats_res;
	struct stats *stats_acme; /* the ACME client's (JSON: "acme" in /status) */
	char cfg_sha256[65];      /* hex, "" when there is no file or it cannot be read */
	uint64_t start_ms;
	time_t start_wall;
	uint64_t reloads_ok, reloads_failed;
	time_t last_reload; /* wall clock of the last reload attempt, 0 = none */
	int last_reload_ok;
	uint64_t http_requests;
	uint64_t refused[ADMIN_REFUSED__N];            /* by enum admin_refusal */
	struct log_rate refused_log[ADMIN_REFUSED__N]; /* warnings per reason (loop ms) */
	/* TLSRPT (docs/tlsrpt.md, admin_set_tlsrpt()): the state database, read through a
	 * connection of our own opened on first use (main loop); the HTTPS receiver's counters */
	char *tlsrpt_path;
	struct statedb *tlsrpt_db;
	const struct tlsrpt_recv *tlsrpt_recv;
};

/* admin.c: the state database connection for the TLSRPT figures, opened on first use;
 * NULL when there is none (no state database, or it cannot be opened: logged once). */
struct statedb *admin_tlsrpt_db(struct admin *a);
/* admin.c: the TLSRPT summary (tlsrpt_summary.h) of dom, or (dom NULL) of the published
 * domains (every domain when none is published), on the connection of admin_tlsrpt_db().
 * 0 with *ret set; -ENOENT without a state database; ERR_STATEDB_* (logged, and the
 * connection closed unless it was only busy). */
struct tlsrpt_summary;
int admin_tlsrpt_summary(struct admin *a, const char *dom, time_t now, struct tlsrpt_summary **ret);

/* Whole days from now until t (negative when t has passed). */
long admin_days_left(time_t t, time_t now);

#endif
