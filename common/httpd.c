/*
 * common/httpd.c - libmicrohttpd glue: daemons, logger, request deadline, accounting
 *
 * Interface: httpd_new(), httpd_start(), httpd_conn_data(), httpd_counters(), httpd_free()
 *            (httpd.h, which describes the design)
 * Threads:   see httpd.h: notifications on libmicrohttpd's threads (or the main loop), the
 *            sweep on the main loop; h->lock guards the connection list.
 * Ownership: the group owns its daemons and each connection's struct httpd_conn (the
 *            libmicrohttpd socket context), freed in MHD_CONNECTION_NOTIFY_CLOSED.
 * Errors:    httpd_start() logs and returns NULL; nothing else fails.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "xalloc.h"

/* One live connection (the MHD socket context). */
struct httpd_conn {
	LIST_ENTRY(httpd_conn) link; /* in h->conns, guarded by h->lock */
	int fd;                      /* -1: unknown, never cut */
	ino_t ino;                   /* the socket's inode, checked before shutdown(2) */
	int cut;                     /* shut down by the sweep (h->lock) */
	atomic_llong deadline_ms;    /* CLOCK_MONOTONIC_COARSE ms: a request must end by then */
	void *data;                  /* the opened hook's */
};

/* One daemon of the group: the cls of its notifications. */
struct httpd_srv {
	struct httpd *h;
	struct MHD_Daemon *mhd;
	int threaded; /* MHD_USE_INTERNAL_POLLING_THREAD: notified on its own threads */
	httpd_opened_fn *opened;
	httpd_closed_fn *closed;
	httpd_completed_fn *completed;
	void *arg;
};

struct httpd {
	struct loop *loop;
	char *name;
	char *deadline_name;
	unsigned timeout_s;
	unsigned max_connections;
	unsigned per_address;
	size_t conn_memory_max;
	struct httpd_srv **srvs;
	size_t n_srvs;
	int threaded; /* a daemon has its own threads: the sweep runs until httpd_free() */
	struct loop_timer sweep;
	pthread_mutex_t lock;
	/* guarded by lock: the live connections, how many, and their high-water mark since
	 * the last malloc_trim() */
	LIST_HEAD(httpd_conns, httpd_conn) conns;
	size_t n_conns;
	size_t n_conns_peak;
	atomic_ulong n_timed_out;
	atomic_ulong n_cut;
};

static int64_t
httpd_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
httpd_deadline(const struct httpd *h)
{
	return httpd_now_ms() + (int64_t)h->timeout_s * 1000;
}

static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void
httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct httpd *h = cls;
	char buf[512];
	size_t n;

	if (log_verbosity() < 2)
		return;
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("%s: libmicrohttpd: %s", h->name, buf);
}

/* ---- the deadline sweep (main loop) ---- */

static void
httpd_sweep(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct httpd *h = arg;
	struct httpd_conn *c;
	struct stat st;
	int64_t now = httpd_now_ms();
	unsigned long cut = 0;
	int trim = 0, again;

	(void)t;
	(void)pthread_mutex_lock(&h->lock);
	for (c = LIST_FIRST(&h->conns); c != NULL; c = LIST_NEXT(c, link)) {
		if (c->cut || c->fd < 0 || atomic_load(&c->deadline_ms) > now)
			continue;
		/* The descriptor is open (CLOSED removes c before the close); the inode
		 * check guards against a libmicrohttpd that ever closed it earlier. */
		if (fstat(c->fd, &st) == 0 && st.st_ino == c->ino &&
		    shutdown(c->fd, SHUT_RDWR) == 0) {
			c->cut = 1;
			cut++;
		}
	}
	if (h->n_conns_peak >= HTTPD_TRIM_PEAK_MIN && h->n_conns <= h->n_conns_peak / 4) {
		trim = 1;
		h->n_conns_peak = h->n_conns;
	}
	again = h->threaded || !LIST_EMPTY(&h->conns);
	(void)pthread_mutex_unlock(&h->lock);
	/* n_timed_out counts these when they close (httpd_conn_closed()). */
	if (cut > 0) {
		atomic_fetch_add(&h->n_cut, cut);
		log_info("%s: closed %lu connection%s that sent no complete request within %s",
		         h->name, cut, cut == 1 ? "" : "s", h->deadline_name);
	}
	if (trim)
		(void)malloc_trim(0);
	if (again)
		loop_timer_start(loop, &h->sweep, HTTPD_SWEEP_MS, httpd_sweep, h);
}

/* ---- libmicrohttpd notifications (its threads, or the main loop in external mode) ---- */

static void
httpd_conn_opened(struct httpd_srv *s, struct MHD_Connection *conn, void **socket_ctx)
{
	struct httpd *h = s->h;
	const union MHD_ConnectionInfo *ci;
	struct httpd_conn *c = xcalloc(1, sizeof(*c));
	struct stat st;
	int arm;

	c->fd = -1;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL && fstat(ci->connect_fd, &st) == 0) {
		c->fd = ci->connect_fd;
		c->ino = st.st_ino;
	}
	atomic_store(&c->deadline_ms, httpd_deadline(h));
	*socket_ctx = c;
	if (s->opened != NULL)
		s->opened(s->arg, conn, &c->data);
	(void)pthread_mutex_lock(&h->lock);
	LIST_INSERT_HEAD(&h->conns, c, link);
	h->n_conns++;
	if (h->n_conns > h->n_conns_peak)
		h->n_conns_peak = h->n_conns;
	(void)pthread_mutex_unlock(&h->lock);
	/* On the main loop (external mode) the sweep runs while connections are open. */
	arm = !s->threaded && !loop_timer_armed(&h->sweep);
	if (arm)
		loop_timer_start(h->loop, &h->sweep, HTTPD_SWEEP_MS, httpd_sweep, h);
}

static void
httpd_conn_closed(struct httpd_srv *s, struct MHD_Connection *conn, void **socket_ctx)
{
	struct httpd *h = s->h;
	struct httpd_conn *c = *socket_ctx;
	int64_t now;
	int timed_out;

	*socket_ctx = NULL;
	if (c == NULL)
		return;
	now = httpd_now_ms();
	(void)pthread_mutex_lock(&h->lock);
	timed_out = c->cut || now >= atomic_load(&c->deadline_ms);
	LIST_REMOVE(c, link);
	h->n_conns--;
	(void)pthread_mutex_unlock(&h->lock);
	if (timed_out)
		atomic_fetch_add(&h->n_timed_out, 1);
	if (s->closed != NULL)
		s->closed(s->arg, conn, c->data);
	free(c);
}

static void
httpd_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
             enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		httpd_conn_opened(cls, conn, socket_ctx);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		httpd_conn_closed(cls, conn, socket_ctx);
}

/* A request finished: the connection gets a whole timeout_s for the next one. */
static void
httpd_completed(void *cls, struct MHD_Connection *conn, void **req_ctx,
                enum MHD_RequestTerminationCode toe)
{
	struct httpd_srv *s = cls;
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL && ci->socket_context != NULL)
		atomic_store(&((struct httpd_conn *)ci->socket_context)->deadline_ms,
		             httpd_deadline(s->h));
	if (s->completed != NULL)
		s->completed(s->arg, conn, req_ctx, toe);
}

/* ---- the group ---- */

/* Options of one MHD_start_daemon() call: the 13 httpd_start() may give, with room. */
#define HTTPD_OPTS_MAX 16

struct httpd *
httpd_new(struct loop *loop, const struct httpd_cfg *cfg)
{
	struct httpd *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->name = xstrdup(cfg->name);
	h->deadline_name = xstrdup(cfg->deadline_name);
	h->timeout_s = cfg->timeout_s;
	h->max_connections = cfg->max_connections;
	h->per_address = cfg->per_address;
	h->conn_memory_max = cfg->conn_memory_max;
	LIST_INIT(&h->conns);
	(void)pthread_mutex_init(&h->lock, NULL);
	return h;
}

/* Append one option; function pointers travel in value (options taking a function and its
 * cls) or in ptr_value (options taking one pointer), as MHD_OPTION_ARRAY documents. */
static void
httpd_opt(struct MHD_OptionItem *opts, size_t *n, enum MHD_OPTION option, intptr_t value,
          void *ptr_value)
{
	opts[*n].option = option;
	opts[*n].value = value;
	opts[*n].ptr_value = ptr_value;
	(*n)++;
}

struct MHD_Daemon *
httpd_start(struct httpd *h, int fd, const struct httpd_server *srv, const char *what)
{
	struct httpd_srv *s = xcalloc(1, sizeof(*s));
	struct MHD_OptionItem opts[HTTPD_OPTS_MAX];
	unsigned int flags;
	size_t n = 0;

	s->h = h;
	s->threaded = (srv->flags & MHD_USE_INTERNAL_POLLING_THREAD) != 0;
	s->opened = srv->opened;
	s->closed = srv->closed;
	s->completed = srv->completed;
	s->arg = srv->arg;
	httpd_opt(opts, &n, MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)httpd_mhd_log, h);
	httpd_opt(opts, &n, MHD_OPTION_LISTEN_SOCKET, fd, NULL);
	httpd_opt(opts, &n, MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL);
	if (h->per_address > 0)
		httpd_opt(opts, &n, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->per_address, NULL);
	httpd_opt(opts, &n, MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_s, NULL);
	httpd_opt(opts, &n, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)h->conn_memory_max, NULL);
	httpd_opt(opts, &n, MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)httpd_notify, s);
	httpd_opt(opts, &n, MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)httpd_completed, s);
	if (srv->threads > 1)
		httpd_opt(opts, &n, MHD_OPTION_THREAD_POOL_SIZE, srv->threads, NULL);
	httpd_opt(opts, &n, MHD_OPTION_UNESCAPE_CALLBACK,
	          (intptr_t)(srv->unescape != NULL ? srv->unescape : httpd_unescape), NULL);
	if (srv->tls_priority != NULL)
		httpd_opt(opts, &n, MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)srv->tls_priority);
	if (srv->tls_cert != NULL)
		httpd_opt(opts, &n, MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)srv->tls_cert);
	httpd_opt(opts, &n, MHD_OPTION_END, 0, NULL);
	flags = srv->flags | MHD_USE_ERROR_LOG;
	/* MHD_stop_daemon() wakes a thread of its own through its inter-thread channel (an
	 * eventfd) when there is one; without one (libmicrohttpd 0.9.75 does not force it on
	 * Linux) it only shuts the listening socket down (shutdown(2)). A daemon at its connection
	 * limit has taken that socket out of its epoll set, so the shutdown wakes nothing and the
	 * stop waited for the next connection timeout (timeout_s), listener by listener: a
	 * full publisher took about a minute to stop. With MHD_USE_ITC it stops at once. */
	if (s->threaded)
		flags |= MHD_USE_ITC;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, srv->access, srv->access_cls,
	                          MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (s->mhd == NULL) {
		log_err("%s: cannot start the HTTP%s server on %s", h->name,
		        (srv->flags & MHD_USE_TLS) != 0 ? "S" : "", what);
		(void)close(fd);
		free(s);
		return NULL;
	}
	h->srvs = xrealloc(h->srvs, (h->n_srvs + 1) * sizeof(*h->srvs));
	h->srvs[h->n_srvs++] = s;
	if (s->threaded && !h->threaded) {
		h->threaded = 1;
		if (!loop_timer_armed(&h->sweep))
			loop_timer_start(h->loop, &h->sweep, HTTPD_SWEEP_MS, httpd_sweep, h);
	}
	return s->mhd;
}

void *
httpd_conn_data(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (ci == NULL || ci->socket_context == NULL)
		return NULL;
	return ((const struct httpd_conn *)ci->socket_context)->data;
}

void
httpd_counters(struct httpd *h, struct httpd_counters *ret_c)
{
	(void)pthread_mutex_lock(&h->lock);
	ret_c->open = h->n_conns;
	(void)pthread_mutex_unlock(&h->lock);
	ret_c->timed_out = atomic_load(&h->n_timed_out);
	ret_c->cut = atomic_load(&h->n_cut);
}

struct httpd *
httpd_free(struct httpd *h)
{
	size_t i;

	if (h == NULL)
		return NULL;
	/* Daemons first: their threads and connections use the list and the hooks. */
	for (i = 0; i < h->n_srvs; i++) {
		MHD_stop_daemon(h->srvs[i]->mhd);
		free(h->srvs[i]);
	}
	free(h->srvs);
	loop_timer_stop(h->loop, &h->sweep);
	(void)pthread_mutex_destroy(&h->lock);
	free(h->name);
	free(h->deadline_name);
	free(h);
	return NULL;
}

size_t
httpd_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *in = s, *out = s;
	char hex[3] = {0, 0, 0};
	unsigned long v;

	(void)cls;
	(void)conn;
	while (*in != '\0') {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2])) {
			hex[0] = in[1];
			hex[1] = in[2];
			v = strtoul(hex, NULL, 16);
			if (v != 0) {
				*out++ = (char)v;
				in += 3;
				continue;
			}
		}
		*out++ = *in++;
	}
	*out = '\0';
	return (size_t)(out - s);
}
