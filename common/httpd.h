/*
 * common/httpd.h - libmicrohttpd glue shared by the daemon's HTTP servers
 *
 * Interface: httpd_new(), httpd_start(), httpd_conn_data(), httpd_counters(), httpd_free(),
 *            httpd_unescape()
 * Used by:   the admin endpoint (one daemon in external mode on the main loop) and the
 *            publisher (a daemon per listener, each with its own MHD threads); meant for
 *            any later HTTP server (a TLSRPT receiver).
 * What:      a struct httpd is a group of libmicrohttpd daemons, one per listening socket
 *            (listen.h), that share their limits, their logger and one list of live
 *            connections:
 *            - httpd_start() starts a daemon on a bound socket with the group's connection
 *              limits (all, and per client address), idle timeout and per-connection
 *              memory, libmicrohttpd's messages logged as debug lines
 *              "<name>: libmicrohttpd: ..." at verbosity 2 or more;
 *            - request deadline: libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle
 *              timer that every byte restarts, so a client sending its request one byte a
 *              second (slowloris) would hold a slot for ever. Every connection therefore has
 *              a deadline, timeout_s after it was accepted and again after each completed
 *              request (keep-alive): a whole request (TLS handshake, request line, headers,
 *              body and the reply) must fit before it. A sweep on the main loop, once per
 *              HTTPD_SWEEP_MS, shuts down the socket of every overdue connection with
 *              shutdown(2); libmicrohttpd then reads EOF and closes it the usual way. The
 *              deadline is set in the STARTED and COMPLETED notifications, after
 *              libmicrohttpd has noted the connection's activity, on CLOCK_MONOTONIC_COARSE
 *              (which libmicrohttpd prefers too), so its own idle close never comes before
 *              the deadline;
 *            - accounting: open connections, and connections closed by the deadline (cut by
 *              the sweep, or closed at or after their deadline, mostly by libmicrohttpd's
 *              idle timeout, which is the same timeout_s), counted once each when they
 *              close; after a burst of connections has drained the sweep gives freed memory
 *              back (malloc_trim(0)), which the MHD threads' malloc arenas otherwise keep.
 *            The sweep runs from httpd_start() of a daemon with its own threads until
 *            httpd_free(); for daemons run on the main loop only while connections are open.
 * Threads:   httpd_new/start/free and the sweep run on the main loop. The notifications and
 *            the hooks run where libmicrohttpd calls them (its threads, or the main loop in
 *            external mode); the connection list is guarded by a mutex, the deadlines and
 *            counters are atomics. A connection leaves the list in
 *            MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd calls before it closes the
 *            socket, so the sweep never shuts down a descriptor that was closed and reused;
 *            it also compares the socket's inode with the one recorded at the start.
 * Ownership: the group owns its daemons (httpd_free() stops them) and their listening
 *            sockets once started; the caller keeps the unix socket file (listen_close()).
 * Errors:    httpd_start() returns NULL (logged once here) when libmicrohttpd refuses.
 */
#ifndef MTASTSD_HTTPD_H
#define MTASTSD_HTTPD_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "loop.h"

/* Sweep period (ms): an overdue connection is closed at most this late. */
#define HTTPD_SWEEP_MS 1000
/* malloc_trim(0) once the open connections fall to a quarter of a peak of at least this. */
#define HTTPD_TRIM_PEAK_MIN 64

struct httpd;

/* MHD_CONNECTION_NOTIFY_STARTED, once the connection is registered with its deadline: the
 * hook may set *data (NULL before) to state of its own, which httpd_conn_data() returns
 * while the connection lives. */
typedef void httpd_opened_fn(void *arg, struct MHD_Connection *conn, void **data);
/* MHD_CONNECTION_NOTIFY_CLOSED, after the connection left the list: release data. */
typedef void httpd_closed_fn(void *arg, struct MHD_Connection *conn, void *data);
/* MHD_OPTION_NOTIFY_COMPLETED, after the connection got its next deadline: the request's
 * *req_ctx is the hook's to free. */
typedef void httpd_completed_fn(void *arg, struct MHD_Connection *conn, void **req_ctx,
                                enum MHD_RequestTerminationCode toe);
/* MHD_OPTION_UNESCAPE_CALLBACK: decode s in place, return the new length. */
typedef size_t httpd_unescape_fn(void *cls, struct MHD_Connection *conn, char *s);
/* The default httpd_unescape_fn: %XX decoded in place except %00, which stays literal, so a
 * decoded path or argument never holds an embedded NUL that would cut it short ("/x%00y" is
 * "/x%00y", not "/x"; RFC 3986 section 2.1). Never grows s. Returns the new length. */
size_t httpd_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* What every daemon of a group shares. Strings are copied. */
struct httpd_cfg {
	const char *name;          /* log prefix: "admin", "publisher" */
	const char *deadline_name; /* the deadline as the sweep's log line names it: "10 s" */
	unsigned timeout_s;        /* request deadline and libmicrohttpd's idle timeout (s) */
	unsigned max_connections;  /* per daemon (MHD_OPTION_CONNECTION_LIMIT) */
	unsigned per_address;      /* per daemon and client address (0: no limit;
	                            * MHD_OPTION_PER_IP_CONNECTION_LIMIT): over it a connection
	                            * is accepted and closed at once */
	size_t conn_memory_max;    /* request line + headers per connection (bytes) */
};

/* One daemon of the group. Only access is required. */
struct httpd_server {
	/* MHD_USE_* (MHD_USE_ERROR_LOG is added): MHD_USE_EPOLL, with
	 * MHD_USE_INTERNAL_POLLING_THREAD for a daemon with its own threads, without it for
	 * one the caller runs on the main loop (MHD_run()); MHD_USE_TLS for HTTPS, with
	 * MHD_USE_POLL instead of MHD_USE_EPOLL (MHD 0.9.75's epoll loop spins through TLS
	 * handshakes: publisher/pub.c). */
	unsigned flags;
	unsigned threads; /* MHD_OPTION_THREAD_POOL_SIZE; 0 or 1: the polling thread alone */
	MHD_AccessHandlerCallback access;
	void *access_cls;
	httpd_unescape_fn *unescape; /* NULL: httpd_unescape() */
	const char *tls_priority;    /* MHD_USE_TLS: the GnuTLS priority string (copied by MHD) */
	gnutls_certificate_retrieve_function2 *tls_cert; /* MHD_USE_TLS: certificate callback */
	httpd_opened_fn *opened;                         /* hooks, each may be NULL */
	httpd_closed_fn *closed;
	httpd_completed_fn *completed;
	void *arg; /* of the hooks */
};

/* Counters of a group, read at once. */
struct httpd_counters {
	size_t open;             /* connections open now, every daemon of the group */
	unsigned long timed_out; /* closed by the deadline (cut, or closed after it) */
	unsigned long cut;       /* of those, shut down by the sweep */
};

/* A group with no daemon yet. Never fails (xmalloc). Free with httpd_free(). */
struct httpd *httpd_new(struct loop *loop, const struct httpd_cfg *cfg);

/* Start a daemon of the group on fd, a bound, listening socket (listen_take_fd()), which
 * the daemon owns from then on, also when this fails (it is closed). Returns the daemon,
 * borrowed (the group stops it): the caller may MHD_run() it, read its info and
 * MHD_quiesce_daemon() it, but never stops it. NULL when libmicrohttpd refuses (logged as
 * "<name>: cannot start the HTTP server on <what>"). */
struct MHD_Daemon *httpd_start(struct httpd *h, int fd, const struct httpd_server *srv,
                               const char *what);

/* The data the opened hook set for conn (NULL when none, or when conn is unknown). For the
 * hooks and handlers of a live connection, on its thread. */
void *httpd_conn_data(struct MHD_Connection *conn);

/* The group's counters (ret_c written always). Any thread. */
void httpd_counters(struct httpd *h, struct httpd_counters *ret_c);

/* Stop every daemon (their threads end; each open connection is closed and its closed
 * hook runs), then the sweep; free the group. NULL is a no-op. Returns NULL. */
struct httpd *httpd_free(struct httpd *h);

#endif
