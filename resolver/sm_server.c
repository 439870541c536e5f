/*
 * resolver/sm_server.c - socketmap server for Postfix smtp_tls_policy_maps
 *
 * Interface: sm_server_new(), sm_server_reload(), sm_server_stop_accepting(),
 *            sm_server_busy(), sm_server_free(), sm_server_counters(), sm_server_port(),
 *            sm_server_set_dane(), sm_server_lookup_counters(), sm_server_stats_add()
 * Protocol:  netstring "<map> <domain>" -> "OK <policy>" | "NOTFOUND " | "TEMP <why>" |
 *            "PERM <why>" (sm_proto.c, lookup.c: DANE first then pf_reply.c,
 *            docs/socketmap.md, docs/dane.md)
 * Threads:   main loop only.    Ownership: the server owns its connections.
 * Errors:    listen errors go to the caller; connection errors close that connection,
 *            logged once.
 *
 * A connection reads into a bounded staging buffer (SM_CONN_INBUF_MAX), decodes one
 * netstring at a time, and starts one lookup (lookup.c); the next request is decoded only when
 * the reply is queued, so replies keep request order. Reading pauses while the staging
 * buffer is full or replies pile up (SM_CONN_OUTBUF_MAX). After EOF from the peer the
 * requests already received are still answered, then the connection closes. A malformed
 * netstring is logged; the replies before it are flushed, then the connection closes.
 *
 * Slow and idle clients: a request must be whole within resolver.request_timeout of its
 * first byte (later bytes do not extend it), and a connection with nothing to do closes
 * after resolver.idle_timeout; one timer per connection serves both. At max_connections a
 * new connection is still accepted: an idle one is closed first (sm_conn_victim(): answered
 * ones before those that never sent a byte, which get SM_CONN_GRACE_MS; else the oldest
 * incomplete request), so the descriptors stay within the budget and a Postfix that
 * reconnects is served; accepting pauses only while none can be closed. Those lines a peer
 * can cause per connection are rate limited (SM_LOG_RATE_MS).
 *
 * Shutdown (sm_server_cancel(), at the end of process.shutdown_timeout): every lookup still
 * in flight is canceled and answered TEMP "lookup canceled, server shutting down"; so is
 * every request already received behind it and any request decoded later, in order.
 * Reading stops; each connection closes once its replies are written.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "listen.h"
#include "lookup.h"
#include "netstring.h"
#include "sm_server.h"
#include "stats.h"
#include "xalloc.h"

/* Text naming a listener or peer in logs: "unix:" + a sun_path, or "[v6]:port". */
#define SM_NAME_MAX LISTEN_NAME_MAX

struct sm_listener {
	struct sm_server *srv;
	struct listen_sock sock;
};

struct sm_conn {
	struct sm_conn *prev, *next;
	struct sm_server *srv;
	int fd;
	unsigned events; /* interest registered with the loop */
	char peer[SM_NAME_MAX];
	char *in; /* staging buffer, SM_CONN_INBUF_MAX bytes */
	size_t in_len, in_off;
	struct netstring_dec dec;
	char *out;
	size_t out_len, out_off, out_size;
	struct lookup_req *w; /* lookup in flight */
	int pending;          /* a lookup was started and has not answered yet */
	struct cfg_zone zone; /* copy of the request's zone (name not kept) */
	char domain[DOMAIN_BUF];
	/* "[host]:port" or "domain": how Postfix connects, for the DANE half */
	struct domain_nexthop nexthop;
	int eof;                 /* peer finished sending */
	int closing;             /* close once the queued replies are written */
	int dispatching;         /* inside sm_conn_process() */
	int dead;                /* being freed: ignore callbacks */
	int dec_partial;         /* the decoder holds the start of a netstring */
	int served;              /* at least one reply was queued */
	int in_request;          /* a request has begun and is not complete (request_timeout) */
	struct loop_timer idle;  /* idle timeout and request deadline, whichever is first */
	uint64_t timer_due_ms;   /* loop time the timer was last armed for */
	uint64_t last_active_ms; /* loop time of the last activity (idle timeout) */
	uint64_t req_start_ms;   /* loop time the incomplete request began (in_request) */
	uint64_t out_blocked_ms; /* loop time a write first found the peer not reading (EAGAIN)
	                          * since the replies were last all written; 0: not blocked */
};

struct sm_server {
	struct loop *loop;
	const struct cfg_resolver *cfg;
	struct lookup *lk; /* DANE + MTA-STS, owned */
	struct sm_listener *ls;
	size_t n_ls;
	int accepting; /* listeners registered for READ */
	int stopped;   /* sm_server_stop_accepting() was called */
	int canceling; /* sm_server_cancel() was called: no new lookups, no more reading */
	struct loop_timer pause_timer;
	/* every connection, the most recently active first (the one idle the longest is
	 * closed for a new one at max_connections) */
	struct sm_conn *conns, *conns_tail;
	size_t n_conns;
	size_t n_conns_peak; /* high-water mark since the last malloc_trim() */
	struct sm_counters ctr;
	struct sm_conn *touched; /* inside sm_conn_io(): its connection, once touched */
	/* warnings a peer causes per connection, each at most once per SM_LOG_RATE_MS */
	struct log_rate malformed_log, deadline_log, noread_log, evict_log, full_log;
};

/* After a burst of at least this many connections has gone (down to a quarter), give the
 * freed staging buffers back to the system: each connection holds SM_CONN_INBUF_MAX bytes
 * from the brk heap, which glibc otherwise keeps (5000 connections left ~30 MiB). */
#define SM_TRIM_PEAK_MIN 256

static void sm_conn_process(struct sm_conn *c);
static void sm_conn_update(struct sm_conn *c);
static void sm_accept_cb(struct loop *loop, int fd, unsigned events, void *arg);
static void sm_conn_idle(struct loop *loop, struct loop_timer *t, void *arg);

/* Log a line a peer can cause once per connection at most once per SM_LOG_RATE_MS per kind
 * (r), with the count of those held back since (those go to the debug level). */
static void __attribute__((format(printf, 4, 5)))
sm_log_rate(struct sm_server *srv, struct log_rate *r, int prio, const char *fmt, ...)
{
	char msg[512];
	uint64_t held;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!log_rate_due(r, loop_now_ms(srv->loop), SM_LOG_RATE_MS, &held)) {
		if (log_verbosity() >= 1)
			log_debug("%s", msg);
		return;
	}
	if (held > 0)
		log_msg(prio, "%s (%" PRIu64 " more such since the last such line)", msg, held);
	else
		log_msg(prio, "%s", msg);
}

/* ---- the connection list, the most recently active first ---- */

static void
sm_conn_link_front(struct sm_conn *c)
{
	struct sm_server *srv = c->srv;

	c->prev = NULL;
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	else
		srv->conns_tail = c;
	srv->conns = c;
}

static void
sm_conn_unlink(struct sm_conn *c)
{
	struct sm_server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		srv->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

/* Arm the connection's timer for the first of its idle timeout and its request deadline,
 * unless it is armed for that time or earlier already. */
static void
sm_conn_arm(struct sm_conn *c, uint64_t now)
{
	const struct cfg_resolver *cfg = c->srv->cfg;
	uint64_t due = UINT64_MAX;

	if (cfg->idle_timeout_ms > 0)
		due = c->last_active_ms + cfg->idle_timeout_ms;
	if (c->in_request && cfg->request_timeout_ms > 0 &&
	    c->req_start_ms + cfg->request_timeout_ms < due)
		due = c->req_start_ms + cfg->request_timeout_ms;
	if (c->out_blocked_ms != 0 && cfg->request_timeout_ms > 0 &&
	    c->out_blocked_ms + cfg->request_timeout_ms < due)
		due = c->out_blocked_ms + cfg->request_timeout_ms;
	if (due == UINT64_MAX)
		return;
	if (loop_timer_armed(&c->idle) && c->timer_due_ms <= due)
		return;
	c->timer_due_ms = due;
	loop_timer_start(c->srv->loop, &c->idle, due > now ? due - now : 1, sm_conn_idle, c);
}

/* After decoding: note when an incomplete request began (input staged or a netstring
 * begun), for its deadline (resolver.request_timeout), measured from its first byte and
 * not moved by later ones. */
static void
sm_conn_request_mark(struct sm_conn *c)
{
	uint64_t now;

	if (c->in_off == c->in_len && !c->dec_partial) {
		c->in_request = 0;
		return;
	}
	if (c->in_request)
		return;
	now = loop_now_ms(c->srv->loop);
	c->in_request = 1;
	c->req_start_ms = now;
	sm_conn_arm(c, now);
}

/* Listeners on an address without a host bind loopback; unix sockets default to 0660. */
static const struct listen_opts sm_listen_opts = {
        .default_host = "127.0.0.1",
        .backlog = SM_LISTEN_BACKLOG,
        .default_mode = 0660,
        .fdname = LISTEN_FDNAME_SOCKETMAP,
};

/* Note activity for the idle timeout (idle_timeout_ms 0 disables it). The timer is armed
 * lazily: activity only records the time, and the timer, when it fires early, re-arms for
 * the rest. Re-arming a timer on every request cost 15 % of a cached lookup. */
static void
sm_conn_touch(struct sm_conn *c)
{
	/* Read and reply in one sm_conn_io(): one loop time (sd_event_now() is the time of the
	 * loop iteration), read once. */
	if (c->srv->touched == c)
		return;
	c->last_active_ms = loop_now_ms(c->srv->loop);
	if (c->srv->conns != c) {
		sm_conn_unlink(c);
		sm_conn_link_front(c);
	}
	if (!loop_timer_armed(&c->idle))
		sm_conn_arm(c, c->last_active_ms);
}

/* ---- listeners ---- */

static void
sm_listeners_enable(struct sm_server *srv, int on)
{
	size_t i;

	if (srv->stopped || srv->accepting == on)
		return;
	for (i = 0; i < srv->n_ls; i++)
		if (srv->ls[i].sock.fd >= 0)
			(void)loop_io_mod(srv->loop, srv->ls[i].sock.fd, on ? LOOP_READ : 0);
	srv->accepting = on;
	if (!on)
		srv->ctr.accept_paused++;
}

static void
sm_pause_done(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct sm_server *srv = arg;

	/* at max_connections too: the accept callback closes an idle connection, or pauses */
	sm_listeners_enable(srv, 1);
}

static void
sm_listeners_close(struct sm_server *srv)
{
	size_t i;

	for (i = 0; i < srv->n_ls; i++) {
		struct sm_listener *l = &srv->ls[i];

		if (l->sock.fd >= 0)
			loop_io_del(srv->loop, l->sock.fd);
		listen_close(&l->sock);
	}
	srv->accepting = 0;
}

/* ---- connections: output ---- */

static void
sm_conn_free(struct sm_conn *c)
{
	struct sm_server *srv = c->srv;

	c->dead = 1;
	if (c->w != NULL) {
		struct lookup_req *w = c->w;

		c->w = NULL;
		lookup_cancel(w);
	}
	loop_timer_stop(srv->loop, &c->idle);
	loop_io_del(srv->loop, c->fd);
	(void)close(c->fd);
	sm_conn_unlink(c);
	srv->n_conns--;
	srv->ctr.open = srv->n_conns;
	srv->ctr.closed++;
	netstring_dec_free(&c->dec);
	free(c->in);
	free(c->out);
	free(c);
	if (srv->n_conns_peak >= SM_TRIM_PEAK_MIN && srv->n_conns <= srv->n_conns_peak / 4) {
		(void)malloc_trim(0);
		srv->n_conns_peak = srv->n_conns;
	}
	if (!srv->stopped && !srv->accepting && !loop_timer_armed(&srv->pause_timer) &&
	    srv->n_conns < srv->cfg->max_connections)
		sm_listeners_enable(srv, 1);
}

/* Append the reply to the output buffer, encoded in place (no allocation once the buffer
 * has grown to its working size). */
static void
sm_conn_queue(struct sm_conn *c, enum sm_status st, const char *data)
{
	struct sm_reply r;

	sm_reply_prepare(st, data, &r);
	c->served = 1;
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + r.len > c->out_size) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_len + r.len > c->out_size) {
			c->out_size = c->out_len + r.len;
			c->out = xrealloc(c->out, c->out_size);
		}
	}
	if (sm_reply_write(&r, c->out + c->out_len, c->out_size - c->out_len) != r.len)
		die("socketmap %s: cannot encode a reply of %zu bytes", c->peer, r.plen);
	c->out_len += r.len;
	c->srv->ctr.replies[r.st]++;
	if (log_verbosity() >= 2)
		log_debug("socketmap %s: reply %s %s", c->peer, sm_status_name(r.st),
		          data != NULL ? data : "");
}

/* Write what is queued. Returns 0, or -1 when the connection must close at once. */
static int
sm_conn_flush(struct sm_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* The peer does not read its replies: request_timeout from now
				 * (not moved by partial writes) until they are all written. */
				if (c->out_blocked_ms == 0) {
					c->out_blocked_ms = loop_now_ms(c->srv->loop);
					sm_conn_arm(c, c->out_blocked_ms);
				}
				return 0;
			}
			log_debug("socketmap %s: write failed: %s, closing", c->peer,
			          strerror(errno));
			return -1;
		}
		c->out_off += (size_t)n;
		sm_conn_touch(c);
	}
	c->out_off = c->out_len = 0;
	c->out_blocked_ms = 0;
	return 0;
}

/* ---- connections: requests ---- */

static void
sm_conn_lookup_done(const struct lookup_reply *rep, void *arg)
{
	struct sm_conn *c = arg;

	c->w = NULL;
	c->pending = 0;
	if (c->dead)
		return;
	if (rep->invalid_policy)
		c->srv->ctr.invalid_policies++;
	sm_conn_queue(c, rep->status, rep->data);
	if (!c->dispatching) {
		sm_conn_process(c);
		sm_conn_update(c);
	}
}

static void
sm_conn_request(struct sm_conn *c, const char *payload, size_t len)
{
	struct sm_server *srv = c->srv;
	struct sm_request req;
	struct lookup_req *w = NULL;
	char safe[LOG_PEER_TEXT_MAX + 8];
	int r;

	srv->ctr.requests++;
	r = sm_request_parse(srv->cfg, payload, len, &req);
	if (log_verbosity() >= 2)
		log_debug("socketmap %s: request '%s'", c->peer,
		          log_printable(safe, sizeof(safe), payload, len));
	if (r == -EINVAL) {
		log_info("socketmap %s: request '%s' is not '<name> <key>', answering PERM",
		         c->peer, log_printable(safe, sizeof(safe), payload, len));
		sm_conn_queue(c, SM_PERM, "malformed request: expected '<name> <key>'");
		return;
	}
	if (r < 0) {
		if (log_verbosity() >= 1)
			log_debug("socketmap %s: key '%s' has no policy (%s), answering NOTFOUND",
			          c->peer, log_printable(safe, sizeof(safe), payload, len),
			          err_str(r));
		sm_conn_queue(c, SM_NOTFOUND, NULL);
		return;
	}
	if (srv->canceling) {
		/* Shutting down: what would start a lookup is answered like a canceled one. */
		if (log_verbosity() >= 1)
			log_debug("socketmap %s: shutting down, answering TEMP", c->peer);
		sm_conn_queue(c, SM_TEMP, LOOKUP_CANCELED);
		return;
	}
	c->zone = *req.zone;
	c->zone.name = NULL;
	memcpy(c->domain, req.domain, sizeof(c->domain));
	c->nexthop = req.nexthop;
	c->pending = 1;
	lookup_start(srv->lk, c->domain, &c->nexthop, &c->zone, sm_conn_lookup_done, c, &w);
	if (c->pending)
		c->w = w;
}

/* Decode and start requests while nothing is in flight and output has room. */
static void
sm_conn_process(struct sm_conn *c)
{
	char safe[LOG_PEER_TEXT_MAX + 8];

	if (c->dispatching)
		return;
	c->dispatching = 1;
	while (!c->closing && !c->pending && c->out_len - c->out_off < SM_CONN_OUTBUF_MAX &&
	       c->in_off < c->in_len) {
		size_t used = 0, start = c->in_off;
		int r = netstring_dec_feed(&c->dec, c->in + c->in_off, c->in_len - c->in_off,
		                           &used);

		c->in_off += used;
		if (r < 0) {
			/* Quote the input from where this netstring (or this read of it) began:
			 * the decoder has consumed the bad digits already. */
			c->srv->ctr.protocol_errors++;
			sm_log_rate(c->srv, &c->srv->malformed_log, LOG_WARNING,
			            "socketmap %s: %s in '%s', closing the connection", c->peer,
			            err_str(r),
			            log_printable(safe, sizeof(safe), c->in + start,
			                          c->in_len - start > 32 ? 32 : c->in_len - start));
			c->closing = 1;
			break;
		}
		if (r == 0) {
			if (used > 0)
				c->dec_partial = 1;
			break;
		}
		/* complete: the next request's deadline starts with its own first byte */
		c->dec_partial = 0;
		c->in_request = 0;
		sm_conn_request(c, c->dec.buf, c->dec.len);
		netstring_dec_reset(&c->dec);
	}
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0 && c->in_len == SM_CONN_INBUF_MAX) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (!c->closing)
		sm_conn_request_mark(c);
	c->dispatching = 0;
}

/* Flush, then close or set the loop interest that fits the state. */
static void
sm_conn_update(struct sm_conn *c)
{
	int no_more_input = c->eof || c->srv->canceling;
	unsigned ev = 0;

	for (;;) {
		if (sm_conn_flush(c) < 0) {
			sm_conn_free(c);
			return;
		}
		/* All written while requests wait in the staging buffer (processing stopped at
		 * SM_CONN_OUTBUF_MAX): decode more now. Bounded by the staging buffer. */
		if (c->out_len == 0 && !c->closing && !c->pending && c->in_off < c->in_len) {
			size_t before = c->in_len - c->in_off;

			sm_conn_process(c);
			if (c->out_len > 0 || c->in_len - c->in_off < before)
				continue;
		}
		break;
	}
	if (c->out_len == 0) {
		/* Done: framing error, or EOF (or shutdown) with every complete request
		 * answered. */
		if (c->closing || (no_more_input && !c->pending && c->in_off == c->in_len)) {
			sm_conn_free(c);
			return;
		}
	}
	if (!no_more_input && !c->closing && c->in_len < SM_CONN_INBUF_MAX)
		ev |= LOOP_READ;
	if (c->out_len > c->out_off)
		ev |= LOOP_WRITE;
	if (ev != c->events) {
		(void)loop_io_mod(c->srv->loop, c->fd, ev);
		c->events = ev;
	}
	/* Accepting paused at max_connections with every connection busy: this one is not
	 * any more, so a new connection may take its place. */
	if (!c->srv->accepting && !c->pending && c->out_len == c->out_off &&
	    !loop_timer_armed(&c->srv->pause_timer))
		sm_listeners_enable(c->srv, 1);
}

static void
sm_conn_read(struct sm_conn *c)
{
	ssize_t n;

	if (c->in_len >= SM_CONN_INBUF_MAX)
		return;
	n = read(c->fd, c->in + c->in_len, SM_CONN_INBUF_MAX - c->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("socketmap %s: read failed: %s, closing", c->peer, strerror(errno));
		c->closing = 1;
		c->out_off = c->out_len = 0;
		return;
	}
	if (n == 0) {
		c->eof = 1;
		return;
	}
	c->in_len += (size_t)n;
	sm_conn_touch(c);
}

static void
sm_conn_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct sm_conn *c = arg;
	struct sm_server *srv = c->srv;

	if (events & LOOP_ERROR) {
		log_debug("socketmap %s: connection reset by peer, closing", c->peer);
		sm_conn_free(c);
		return;
	}
	if (events & LOOP_READ) {
		size_t had = c->in_len;

		sm_conn_read(c);
		if (c->in_len > had)
			srv->touched = c; /* sm_conn_read() touched it */
	}
	sm_conn_process(c);
	sm_conn_update(c); /* may free c */
	srv->touched = NULL;
}

/* The connection's timer: the idle timeout or the request deadline, whichever came first.
 * While a lookup is in flight or a reply is unwritten, neither closes it (the wait is ours,
 * bounded by the zone's timeout), except a peer that has not read its replies for
 * request_timeout since a write first found its window full. */
static void
sm_conn_idle(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct sm_conn *c = arg;
	struct sm_server *srv = c->srv;
	const struct cfg_resolver *cfg = srv->cfg;
	uint64_t now = loop_now_ms(loop);

	if (c->out_len > c->out_off && c->out_blocked_ms != 0 && cfg->request_timeout_ms > 0 &&
	    now - c->out_blocked_ms >= cfg->request_timeout_ms) {
		/* A peer that pipelines requests and never reads the replies would otherwise
		 * hold its slot for ever: neither idle nor with an incomplete request. */
		srv->ctr.request_timeouts++;
		sm_log_rate(srv, &srv->noread_log, LOG_WARNING,
		            "socketmap %s: replies not read within %llu ms (request_timeout), "
		            "closing the connection",
		            c->peer, (unsigned long long)cfg->request_timeout_ms);
		sm_conn_free(c);
		return;
	}
	if (c->pending || c->out_len > c->out_off) {
		uint64_t ms = cfg->idle_timeout_ms;

		c->last_active_ms = now;
		if (c->in_request && cfg->request_timeout_ms > 0 &&
		    (ms == 0 || cfg->request_timeout_ms < ms))
			ms = cfg->request_timeout_ms;
		if (c->out_blocked_ms != 0 && cfg->request_timeout_ms > 0) {
			uint64_t left = c->out_blocked_ms + cfg->request_timeout_ms - now;

			if (ms == 0 || left < ms)
				ms = left;
		}
		if (ms > 0) {
			c->timer_due_ms = now + ms;
			loop_timer_start(loop, &c->idle, ms, sm_conn_idle, c);
		}
		return;
	}
	if (c->in_request && cfg->request_timeout_ms > 0 &&
	    now - c->req_start_ms >= cfg->request_timeout_ms) {
		srv->ctr.request_timeouts++;
		sm_log_rate(srv, &srv->deadline_log, LOG_WARNING,
		            "socketmap %s: no complete request within %llu ms of its first byte "
		            "(request_timeout), closing the connection",
		            c->peer, (unsigned long long)cfg->request_timeout_ms);
		sm_conn_free(c);
		return;
	}
	if (cfg->idle_timeout_ms > 0 && now - c->last_active_ms >= cfg->idle_timeout_ms) {
		srv->ctr.idle_closed++;
		log_debug("socketmap %s: idle for %llu ms, closing", c->peer,
		          (unsigned long long)cfg->idle_timeout_ms);
		sm_conn_free(c);
		return;
	}
	sm_conn_arm(c, now);
}

/* Whether an idle-looking connection has bytes waiting that the loop has not read yet (a
 * request that came in the same loop iteration as the new connection; or EOF): one
 * non-blocking peek. Such a connection is not idle, unless the peer has gone. */
static int
sm_conn_has_input(const struct sm_conn *c)
{
	char b;

	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* At max_connections, the connection to close for a new one. Among those idle (no lookup in
 * flight, no reply unwritten, no request begun or waiting unread): first the one idle the
 * longest of those already answered at least once (it had its turn; Postfix reconnects
 * for its next lookup), then the one idle the longest that never sent a byte, once it has
 * had SM_CONN_GRACE_MS to send its first request (while it has not, NULL and
 * *ret_wait_ms says when that grace ends: a slot frees within it, and an incomplete
 * request has its own deadline); else the one whose incomplete request began first. NULL
 * (and *ret_wait_ms 0) when every connection waits for a lookup or a write. The list is kept with
 * the most recently active first, so from its tail the first fitting one is the one idle
 * the longest. Pointer walks only; a peek (one recv(2)) for each idle candidate before it
 * is chosen. */
static struct sm_conn *
sm_conn_victim(struct sm_server *srv, uint64_t now, uint64_t *ret_wait_ms)
{
	struct sm_conn *c, *oldest = NULL;
	int unused = 0;

	*ret_wait_ms = 0;
	for (c = srv->conns_tail; c != NULL; c = c->prev) {
		if (c->pending || c->out_len > c->out_off || c->closing)
			continue;
		if (c->in_request) {
			if (oldest == NULL || c->req_start_ms < oldest->req_start_ms)
				oldest = c;
		} else if (!c->served) {
			unused = 1;
		} else if (!sm_conn_has_input(c)) {
			return c;
		}
	}
	/* an unused connection's last activity is its accept: the tail is the oldest */
	for (c = srv->conns_tail; unused && c != NULL; c = c->prev) {
		if (c->pending || c->out_len > c->out_off || c->closing || c->in_request ||
		    c->served)
			continue;
		if (now - c->last_active_ms < SM_CONN_GRACE_MS) {
			*ret_wait_ms = SM_CONN_GRACE_MS - (now - c->last_active_ms);
			return NULL;
		}
		if (!sm_conn_has_input(c))
			return c;
	}
	return oldest;
}

static void
sm_peer_name(char *out, size_t outsz, const struct sockaddr_storage *ss, const char *lname)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		(void)inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		(void)snprintf(out, outsz, "%s:%u", host, (unsigned)ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		(void)inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		(void)snprintf(out, outsz, "[%s]:%u", host, (unsigned)ntohs(s6->sin6_port));
	} else {
		(void)snprintf(out, outsz, "%s", lname);
	}
}

static void
sm_accept_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct sm_listener *l = arg;
	struct sm_server *srv = l->srv;
	int i;

	for (i = 0; i < SM_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		struct sm_conn *c;
		int cfd, r;

		if (srv->n_conns >= srv->cfg->max_connections) {
			struct sm_conn *v;
			uint64_t now = loop_now_ms(loop), wait_ms;

			/* Make room before accept(2), so the descriptors stay within the
			 * budget (fd_budget.h). Once per readiness event: the listener is
			 * level-triggered, a waiting connection calls again. */
			if (i > 0)
				return;
			v = sm_conn_victim(srv, now, &wait_ms);
			if (v == NULL && wait_ms > 0) {
				/* only new connections, within their grace: look again then */
				sm_log_rate(
				        srv, &srv->full_log, LOG_NOTICE,
				        "socketmap: %zu connections open (max_connections), none "
				        "idle long enough to close for a new one: not accepting "
				        "for %llu ms",
				        srv->n_conns, (unsigned long long)wait_ms);
				sm_listeners_enable(srv, 0);
				loop_timer_start(loop, &srv->pause_timer, wait_ms, sm_pause_done,
				                 srv);
				return;
			}
			if (v == NULL) {
				sm_log_rate(
				        srv, &srv->full_log, LOG_NOTICE,
				        "socketmap: %zu connections open (max_connections), "
				        "each with a lookup in flight or a reply unwritten: not "
				        "accepting until one closes",
				        srv->n_conns);
				sm_listeners_enable(srv, 0);
				return;
			}
			srv->ctr.evicted++;
			if (v->in_request)
				sm_log_rate(
				        srv, &srv->evict_log, LOG_NOTICE,
				        "socketmap: %zu connections open (max_connections): "
				        "closing %s, its request incomplete for %llu ms, for a new "
				        "connection",
				        srv->n_conns, v->peer,
				        (unsigned long long)(now - v->req_start_ms));
			else
				sm_log_rate(srv, &srv->evict_log, LOG_NOTICE,
				            "socketmap: %zu connections open (max_connections): "
				            "closing %s, idle for %llu ms, for a new connection",
				            srv->n_conns, v->peer,
				            (unsigned long long)(now - v->last_active_ms));
			sm_conn_free(v);
		}
		cfd = accept4(fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("socketmap %s: accept: %s, pausing for %d ms",
				         l->sock.name, strerror(errno), SM_ACCEPT_PAUSE_MS);
				sm_listeners_enable(srv, 0);
				loop_timer_start(loop, &srv->pause_timer, SM_ACCEPT_PAUSE_MS,
				                 sm_pause_done, srv);
			}
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->srv = srv;
		c->fd = cfd;
		c->in = xmalloc(SM_CONN_INBUF_MAX);
		netstring_dec_init(&c->dec, SOCKETMAP_QUERY_MAX);
		sm_peer_name(c->peer, sizeof(c->peer), &ss, l->sock.name);
		r = loop_io_add(loop, cfd, LOOP_READ, sm_conn_io, c);
		if (r < 0) {
			log_warn("socketmap %s: cannot watch a connection: %s, closing",
			         l->sock.name, err_str(r));
			netstring_dec_free(&c->dec);
			free(c->in);
			free(c);
			(void)close(cfd);
			continue;
		}
		c->events = LOOP_READ;
		sm_conn_link_front(c);
		srv->n_conns++;
		if (srv->n_conns > srv->n_conns_peak)
			srv->n_conns_peak = srv->n_conns;
		srv->ctr.accepted++;
		srv->ctr.open = srv->n_conns;
		sm_conn_touch(c);
	}
}

/* ---- server ---- */

int
sm_server_new(struct loop *loop, const struct cfg_resolver *cfg, struct pol_engine *engine,
              struct sm_server **ret_srv)
{
	struct sm_server *srv = xcalloc(1, sizeof(*srv));
	size_t i;
	int r = 0;

	srv->loop = loop;
	srv->cfg = cfg;
	srv->lk = lookup_new(engine, NULL);
	srv->n_ls = cfg->n_listen;
	srv->ls = xcalloc(srv->n_ls > 0 ? srv->n_ls : 1, sizeof(*srv->ls));
	for (i = 0; i < srv->n_ls; i++)
		srv->ls[i].sock = (struct listen_sock)LISTEN_SOCK_INIT;
	for (i = 0; i < srv->n_ls && r == 0; i++) {
		struct sm_listener *l = &srv->ls[i];
		char errbuf[512];

		l->srv = srv;
		r = listen_open(&cfg->listen[i], &sm_listen_opts, &l->sock, errbuf, sizeof(errbuf));
		if (r < 0) {
			log_err("socketmap: %s", errbuf);
			break;
		}
		r = loop_io_add(loop, l->sock.fd, LOOP_READ, sm_accept_cb, l);
		if (r < 0)
			log_err("socketmap: cannot watch %s: %s", l->sock.name, err_str(r));
		else
			log_info("socketmap: listening on %s%s", l->sock.name,
			         l->sock.passed ? " (socket from the service manager)" : "");
	}
	if (r < 0) {
		sm_listeners_close(srv);
		srv->lk = lookup_free(srv->lk);
		free(srv->ls);
		free(srv);
		return r;
	}
	srv->accepting = 1;
	*ret_srv = srv;
	return 0;
}

static int
sm_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

void
sm_server_reload(struct sm_server *srv, const struct cfg_resolver *cfg)
{
	size_t i;
	int same = cfg->n_listen == srv->cfg->n_listen;

	for (i = 0; same && i < cfg->n_listen; i++) {
		const struct cfg_listen *a = &cfg->listen[i], *b = &srv->cfg->listen[i];

		same = sm_str_eq(a->host, b->host) && a->port == b->port &&
		       sm_str_eq(a->path, b->path) && a->mode == b->mode &&
		       sm_str_eq(a->owner, b->owner) && sm_str_eq(a->group, b->group);
	}
	if (!same)
		log_notice("socketmap: resolver.listen changed: requires restart, ignoring");
	srv->cfg = cfg;
	if (!srv->stopped && !srv->accepting && !loop_timer_armed(&srv->pause_timer) &&
	    srv->n_conns < cfg->max_connections)
		sm_listeners_enable(srv, 1);
}

void
sm_server_stop_accepting(struct sm_server *srv)
{
	loop_timer_stop(srv->loop, &srv->pause_timer);
	sm_listeners_close(srv);
	srv->stopped = 1;
}

/* One connection at shutdown: take what the peer already sent, cancel the lookup in flight
 * (its TEMP reply is queued by sm_conn_lookup_done()), answer the queued requests, write. */
static void
sm_conn_cancel(struct sm_conn *c)
{
	if (!c->eof && !c->closing)
		sm_conn_read(c); /* one non-blocking read, bounded by the staging buffer */
	c->dispatching = 1;      /* queue the reply only; processing follows below */
	if (c->w != NULL) {
		struct lookup_req *w = c->w;

		c->w = NULL;
		lookup_cancel(w);
	}
	c->dispatching = 0;
	sm_conn_process(c);
	sm_conn_update(c); /* may free c */
}

void
sm_server_cancel(struct sm_server *srv)
{
	struct sm_conn *c, *next;

	srv->canceling = 1;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		sm_conn_cancel(c);
	}
}

size_t
sm_server_busy(const struct sm_server *srv)
{
	const struct sm_conn *c;
	size_t n = 0;

	for (c = srv->conns; c != NULL; c = c->next)
		if (c->pending || c->out_len > c->out_off)
			n++;
	return n;
}

struct sm_server *
sm_server_free(struct sm_server *srv)
{
	if (srv == NULL)
		return NULL;
	sm_server_stop_accepting(srv);
	/* Lookups still in flight get their TEMP reply (best effort, non-blocking write). */
	sm_server_cancel(srv);
	while (srv->conns != NULL)
		sm_conn_free(srv->conns);
	srv->lk = lookup_free(srv->lk);
	free(srv->ls);
	free(srv);
	return NULL;
}

const struct sm_counters *
sm_server_counters(const struct sm_server *srv)
{
	return &srv->ctr;
}

/* Label values of the reply types (enum sm_status) in the metrics. */
static const char *const sm_reply_labels[SM_STATUS_COUNT] = {
        [SM_OK] = "ok",           [SM_NOTFOUND] = "notfound", [SM_TEMP] = "temp",
        [SM_TIMEOUT] = "timeout", [SM_PERM] = "perm",
};

static const char *
sm_reply_label(size_t i)
{
	return sm_reply_labels[i];
}

#define SM_CTR(f) offsetof(struct sm_counters, f)

static const struct stats_metric sm_stats[] = {
        {"mtastsd_socketmap_requests_total", STATS_COUNTER, "Socketmap requests decoded.",
         .json = "requests", .off = SM_CTR(requests)},
        {"mtastsd_socketmap_replies_total", STATS_COUNTER, "Socketmap replies sent, by reply type.",
         .json = "replies", .label = "type", .off = SM_CTR(replies), .n = SM_STATUS_COUNT,
         .label_of = sm_reply_label},
        {"mtastsd_socketmap_connections", STATS_GAUGE, "Socketmap connections open.",
         .json = "connections.open", .off = SM_CTR(open)},
        {"mtastsd_socketmap_connections_accepted_total", STATS_COUNTER,
         "Socketmap connections accepted.", .json = "connections.accepted",
         .off = SM_CTR(accepted)},
        {"mtastsd_socketmap_protocol_errors_total", STATS_COUNTER,
         "Malformed or over-long socketmap requests (connection closed).",
         .json = "connections.protocol_errors", .off = SM_CTR(protocol_errors)},
        {"mtastsd_socketmap_request_timeouts_total", STATS_COUNTER,
         "Socketmap connections closed because a request was not complete within "
         "request_timeout of its first byte.",
         .json = "connections.request_timeouts", .off = SM_CTR(request_timeouts)},
        {"mtastsd_socketmap_connections_evicted_total", STATS_COUNTER,
         "Socketmap connections closed at max_connections to accept a new one.",
         .json = "connections.evicted", .off = SM_CTR(evicted)},
};

void
sm_server_stats_add(const struct sm_server *srv, struct stats *st)
{
	stats_add(st, sm_stats, STATS_COUNT(sm_stats), &srv->ctr);
}

void
sm_server_set_dane(struct sm_server *srv, const struct lookup_dane *dane)
{
	lookup_set_dane(srv->lk, dane);
}

const struct lookup_counters *
sm_server_lookup_counters(const struct sm_server *srv)
{
	return lookup_counters(srv->lk);
}

uint16_t
sm_server_port(const struct sm_server *srv, size_t idx)
{
	if (idx >= srv->n_ls || srv->ls[idx].sock.fd < 0)
		return 0;
	return srv->ls[idx].sock.port;
}
