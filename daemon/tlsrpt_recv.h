/*
 * daemon/tlsrpt_recv.h - storage of the TLS reports POSTed to the publisher (docs/tlsrpt.md)
 *
 * The publisher's HTTPS receiver (publisher/pub_tlsrpt.c) hands each complete body to
 * tlsrpt_recv_store() (its pub_tlsrpt_fn hook) in a libmicrohttpd thread. Storage happens
 * there, never on the main loop: each call takes a state database connection of its own
 * from a small pool (statedb.h: one connection per thread at a time; WAL lets them write
 * one after the other, a busy file is 503 and the sender retries), runs tlsrpt_ingest()
 * (one transaction) and answers 201 stored, 200 duplicate, 409 the same organisation and
 * report id stored with other content (a warning at most once a minute), 400 malformed
 * (kept raw),
 * 413 too large, 422 no published domain in it (not stored), 503 database busy or
 * unusable. The main loop only creates, reloads and frees the receiver.
 *
 * Interface: tlsrpt_recv_new(), tlsrpt_recv_reload(), tlsrpt_recv_store(),
 *            tlsrpt_recv_outcomes(), tlsrpt_recv_free()
 * Threads:   store() in any thread; the others on the main thread. A mutex guards the
 *            pool and the configuration copy; counters are atomic.
 * Ownership: the receiver owns its connections and its copy of the configuration.
 * Errors:    each outcome is logged once per report (peer, organisation, report id).
 */
#ifndef MTASTSD_TLSRPT_RECV_H
#define MTASTSD_TLSRPT_RECV_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

struct tlsrpt_recv;

/* A receiver storing into the state database at state_path with cfg's tlsrpt limits and
 * published domains. Never fails (xalloc); opens no connection yet. */
/* The descriptors the receiver's state database connections may hold for cfg
 * (tlsrpt.max_uploads x FD_PER_STATEDB), for the daemon's descriptor budget
 * (common/fd_budget.h); counted whenever domains are published (tlsrpt.receive may be
 * turned on by a reload). 0 without published domains. */
unsigned tlsrpt_recv_fd_want(const struct cfg *cfg);
struct tlsrpt_recv *tlsrpt_recv_new(const struct cfg *cfg, const char *state_path);
/* Take the limits and published domains of a reloaded configuration. */
void tlsrpt_recv_reload(struct tlsrpt_recv *r, const struct cfg *cfg);
/* The publisher's hook (pub_tlsrpt_fn, pub.h): arg is the receiver. */
unsigned tlsrpt_recv_store(void *arg, const void *body, size_t len, const char *peer, char *msg,
                           size_t msglen);
/* The reports handled so far per outcome (enum tlsrpt_outcome, TLSRPT_OUTCOMES entries). */
void tlsrpt_recv_outcomes(const struct tlsrpt_recv *r, uint64_t *ret, size_t n);
/* Close every connection and free; call after the publisher stopped. Returns NULL. */
struct tlsrpt_recv *tlsrpt_recv_free(struct tlsrpt_recv *r);

#endif
