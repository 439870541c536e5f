/*
 * resolver/sm_server.h - socketmap server for Postfix smtp_tls_policy_maps
 *
 * TCP and unix-socket listeners (cfg resolver.listen), non-blocking accept on the loop,
 * at most max_connections connections (at the limit, the one idle the longest is closed for
 * a new one; accepting pauses only while every one waits for a lookup or a write), an idle
 * timeout, a deadline per request from its first byte (request_timeout),
 * an incremental netstring decoder bounded by SOCKETMAP_QUERY_MAX, pipelined requests
 * answered strictly in order (one engine lookup at a time per connection, the rest kept
 * in a bounded input buffer), buffered writes. docs/socketmap.md has the protocol.
 *
 * Interface: sm_server_new(), sm_server_reload(), sm_server_stop_accepting(),
 *            sm_server_cancel(), sm_server_busy(), sm_server_free(), sm_server_counters(),
 *            sm_server_stats_add(), sm_server_port(), sm_server_set_dane(),
 *            sm_server_lookup_counters()
 * Threads:   main loop only.
 * Ownership: the server owns its listeners, connections and its lookup module (lookup.h);
 *            it borrows the engine, the DANE module and the cfg (until sm_server_reload()).
 * Errors:    sm_server_new() returns listen errors (-errno) to the caller, having logged
 *            them; connection errors close that connection, logged once.
 */
#ifndef MTASTSD_SM_SERVER_H
#define MTASTSD_SM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "loop.h"
#include "pol_engine.h"
#include "sm_proto.h"

struct sm_server;

struct sm_counters {
	uint64_t accepted;         /* connections accepted */
	uint64_t closed;           /* connections closed (any reason) */
	uint64_t idle_closed;      /* ... because of the idle timeout */
	uint64_t protocol_errors;  /* malformed or over-long netstrings (connection closed) */
	uint64_t request_timeouts; /* ... because a request was not whole within request_timeout */
	uint64_t evicted;          /* ... at max_connections, to accept a new one */
	uint64_t accept_paused; /* times accepting paused at max_connections (all busy) or EMFILE */
	uint64_t requests;      /* requests decoded */
	uint64_t replies[SM_STATUS_COUNT]; /* by enum sm_status */
	uint64_t invalid_policies; /* policies with no usable mx pattern (answered NOTFOUND) */
	uint64_t open;             /* gauge: connections open now */
};

/* Bind every listener of cfg->listen and start accepting. Returns 0 or -errno (logged,
 * naming the listener); nothing is left open on failure. */
int sm_server_new(struct loop *loop, const struct cfg_resolver *cfg, struct pol_engine *engine,
                  struct sm_server **ret_srv);
/* Use a new cfg (zones, limits, idle timeout). Changed listeners are logged as "requires
 * restart" and kept as they are. */
void sm_server_reload(struct sm_server *srv, const struct cfg_resolver *cfg);
/* Close the listeners (unix socket paths are removed); open connections go on. */
void sm_server_stop_accepting(struct sm_server *srv);
/* Shutdown timeout: every lookup in flight is canceled and answered TEMP "lookup canceled,
 * server shutting down" (LOOKUP_CANCELED), and so is every request received behind it or
 * later, in order; reading stops; each connection closes once its replies are written
 * (sm_server_busy() counts those still writing). Idempotent. */
void sm_server_cancel(struct sm_server *srv);
/* Connections with a lookup in flight or replies not yet written. */
size_t sm_server_busy(const struct sm_server *srv);
/* Cancels like sm_server_cancel() (replies written as far as the sockets take them without
 * waiting), then closes every connection and listener. Returns NULL. */
struct sm_server *sm_server_free(struct sm_server *srv);

const struct sm_counters *sm_server_counters(const struct sm_server *srv);
struct stats;
/* Register the socketmap metrics (requests, replies by type, connections) in st, JSON
 * paths relative to the resolver's object; st borrows srv until it is cleared or freed. */
void sm_server_stats_add(const struct sm_server *srv, struct stats *st);
/* The local port of TCP listener number idx (in cfg order, unix sockets count too),
 * 0 when it is not a bound TCP listener. For tests that listen on port 0. */
uint16_t sm_server_port(const struct sm_server *srv, size_t idx);

struct lookup_dane;
struct lookup_counters;
/* Run DANE first (docs/dane.md) for zones with dane on; NULL (the default) = MTA-STS only.
 * *dane is copied; the DANE module it names is borrowed and must outlive the server. */
void sm_server_set_dane(struct sm_server *srv, const struct lookup_dane *dane);
/* Which source decided each reply (lookup.h), borrowed until sm_server_free(). */
const struct lookup_counters *sm_server_lookup_counters(const struct sm_server *srv);

#endif
