/*
 * publisher/pub_conn.c - live publisher connections: request deadline and memory trim
 *
 * Interface: pub_conn_start/stop, pub_http_notify_tls/plain(), pub_http_request_completed()
 *            (pub_int.h).
 * Design:    libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle timer: every byte
 *            restarts it, so a client that sends its headers one byte a second (slowloris)
 *            would hold a connection slot forever. Every connection of every listener
 *            therefore has a deadline: publisher.connection_timeout after it was accepted,
 *            and again after each completed request (keep-alive). A complete request (TLS
 *            handshake, request line, headers and the reply) must fit before it. The main
 *            loop sweeps the connections once per PUB_SWEEP_MS and shuts down the socket of
 *            every overdue one with shutdown(2); the connection's MHD thread then reads EOF
 *            and closes it the usual way (no request callback runs for it).
 *            pub->n_conn_deadline (connections_timed_out) is counted when a connection
 *            closes (MHD_CONNECTION_NOTIFY_CLOSED), once per connection: one the sweep cut,
 *            or one closed at or after its deadline. The latter are mostly closed by
 *            libmicrohttpd's own idle timeout, which is the same connection_timeout and
 *            often fires before the sweep comes round (an idle TCP connection, a TLS
 *            handshake then silence, an idle keep-alive connection). Our clock is
 *            CLOCK_MONOTONIC_COARSE, which libmicrohttpd prefers too, and the deadline is
 *            set in the STARTED and COMPLETED notifications, after libmicrohttpd has noted
 *            the connection's activity, so its idle close does not come before the deadline
 *            (t_hostile_publisher.sh counts 20 idle connections as 20).
 *            The same sweep calls malloc_trim(0) after a burst of connections has drained:
 *            the MHD threads' malloc arenas keep freed TLS sessions and connection pools
 *            otherwise.
 * Threads:   pub_http_notify_tls/plain() and pub_http_request_completed() run on MHD
 *            threads; the sweep runs on the main loop. The list is guarded by
 *            pub->conn_lock. A connection leaves the list in MHD_CONNECTION_NOTIFY_CLOSED,
 *            which libmicrohttpd calls before it closes the socket, so the sweep never
 *            shuts down a descriptor that was closed and reused; it also compares the
 *            socket's inode with the one recorded at the start.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "pub_int.h"
#include "xalloc.h"

/* Sweep period (ms): an overdue connection is closed at most this late. */
#define PUB_SWEEP_MS 1000
/* malloc_trim(0) once the live connections fall to a quarter of a peak of at least this. */
#define PUB_TRIM_PEAK_MIN 64

static int64_t
conn_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
conn_notify(struct pub *pub, int tls, struct MHD_Connection *conn, void **socket_ctx,
            enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct pub_conn *c;
	struct stat st;
	int64_t now;
	int timed_out;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = xcalloc(1, sizeof(*c));
		c->fd = -1;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL && fstat(ci->connect_fd, &st) == 0) {
			c->fd = ci->connect_fd;
			c->ino = st.st_ino;
		}
		atomic_store(&c->deadline_ms, conn_now_ms() + (int64_t)pub->timeout_s * 1000);
		if (tls) {
			c->snap = pub_snap_acquire(pub);
			/* The TLS session exists, its handshake has not started: session
			 * tickets (resumption) must be enabled now. Failure only costs full
			 * handshakes. */
			ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
			if (pub->ticket_key.data != NULL && ci != NULL && ci->tls_session != NULL)
				(void)gnutls_session_ticket_enable_server(
				        (gnutls_session_t)ci->tls_session, &pub->ticket_key);
		}
		(void)pthread_mutex_lock(&pub->conn_lock);
		c->next = pub->conns;
		if (c->next != NULL)
			c->next->prev = c;
		pub->conns = c;
		pub->n_conns++;
		if (pub->n_conns > pub->n_conns_peak)
			pub->n_conns_peak = pub->n_conns;
		(void)pthread_mutex_unlock(&pub->conn_lock);
		*socket_ctx = c;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_ctx;
		*socket_ctx = NULL;
		if (c == NULL)
			return;
		now = conn_now_ms();
		(void)pthread_mutex_lock(&pub->conn_lock);
		timed_out = c->cut || now >= atomic_load(&c->deadline_ms);
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			pub->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		pub->n_conns--;
		(void)pthread_mutex_unlock(&pub->conn_lock);
		if (timed_out)
			atomic_fetch_add(&pub->n_conn_deadline, 1);
		pub_snap_unref(c->snap);
		free(c);
	}
}

void
pub_http_notify_tls(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode code)
{
	conn_notify(cls, 1, conn, socket_ctx, code);
}

void
pub_http_notify_plain(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                      enum MHD_ConnectionNotificationCode code)
{
	conn_notify(cls, 0, conn, socket_ctx, code);
}

void
pub_http_request_completed(void *cls, struct MHD_Connection *conn, void **req_ctx,
                           enum MHD_RequestTerminationCode toe)
{
	struct pub *pub = cls;
	const union MHD_ConnectionInfo *ci;
	struct pub_conn *c;

	(void)req_ctx;
	(void)toe;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || ci->socket_context == NULL)
		return;
	c = ci->socket_context;
	atomic_store(&c->deadline_ms, conn_now_ms() + (int64_t)pub->timeout_s * 1000);
}

static void
pub_conn_sweep(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pub *pub = arg;
	struct pub_conn *c;
	struct stat st;
	int64_t now = conn_now_ms();
	unsigned long cut = 0;
	int trim = 0;

	(void)t;
	(void)pthread_mutex_lock(&pub->conn_lock);
	for (c = pub->conns; c != NULL; c = c->next) {
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
	if (pub->n_conns_peak >= PUB_TRIM_PEAK_MIN && pub->n_conns <= pub->n_conns_peak / 4) {
		trim = 1;
		pub->n_conns_peak = pub->n_conns;
	}
	(void)pthread_mutex_unlock(&pub->conn_lock);
	/* n_conn_deadline counts these when they close (conn_notify()). */
	if (cut > 0)
		log_info("publisher: closed %lu connection%s that sent no complete request "
		         "within connection_timeout (%us)",
		         cut, cut == 1 ? "" : "s", pub->timeout_s);
	if (trim)
		(void)malloc_trim(0);
	loop_timer_start(loop, &pub->sweep_timer, PUB_SWEEP_MS, pub_conn_sweep, pub);
}

void
pub_conn_start(struct pub *pub)
{
	loop_timer_start(pub->loop, &pub->sweep_timer, PUB_SWEEP_MS, pub_conn_sweep, pub);
}

void
pub_conn_stop(struct pub *pub)
{
	loop_timer_stop(pub->loop, &pub->sweep_timer);
}
