/*
 * daemon/admin.h - the admin endpoint: status JSON, Prometheus metrics, cache inspection and
 *                  purge, a small HTML status page (docs/operations.md)
 *
 * A second libmicrohttpd daemon, separate from the publisher's public listeners, in external
 * epoll mode on the main loop (docs/style.md section 9, option A): MHD's epoll fd is watched with
 * loop_io_add(), a loop timer follows MHD_get_timeout(), MHD_run() runs after each event.
 * It listens on cfg admin.listen: a loopback TCP address (default 127.0.0.1:8462) or a unix
 * socket. A non-loopback TCP address is refused unless admin.token is set.
 *
 *   GET  /                  HTML status page (inline CSS, no external assets)
 *   GET  /status            JSON: version, uptime, config digest, publisher, resolver
 *   GET  /metrics           Prometheus text exposition 0.0.4, names mtastsd_*
 *   GET  /policies/<domain> JSON: what the cache holds for domain (404 when not cached)
 *   POST /cache/purge       ?domain=<d> purges one domain, no argument purges all (JSON)
 *   GET  /tlsrpt[/<domain>] JSON: what the TLS reports of the last 30 days say (docs/tlsrpt.md)
 *
 * With admin.token set, every request needs "Authorization: Bearer <token>" (else 401);
 * the comparison takes the same time whatever the token given. Every request must name the
 * endpoint in Host (localhost, 127.0.0.0/8, [::1], the listen address, admin.allowed_hosts;
 * else 421), so that a DNS-rebinding web page cannot read it; POST /cache/purge needs the
 * token over TCP (else 403), a unix-socket listener purges without one. The decisions are
 * admin_route() (admin_route.h, no I/O).
 *
 * Interface: admin_new(), admin_update(), admin_set_acme(), admin_note_reload(),
 *            admin_stop_accepting(), admin_free(), admin_port()
 * Threads:   main loop only (request handlers run inside MHD_run() on the loop).
 * Ownership: struct admin borrows the cfg, resolver and publisher given to admin_update()
 *            until the next admin_update() or admin_free(); it copies the token at start.
 * Errors:    admin_new() returns listen/start errors (logged); request errors become HTTP
 *            status codes and never reach the caller.
 */
#ifndef MTASTSD_ADMIN_H
#define MTASTSD_ADMIN_H

#include <stdint.h>

#include "cfg.h"
#include "loop.h"
#include "pub.h"
#include "res.h"

struct admin;

/* The admin endpoint's connections for the descriptor budget (common/fd_budget.h):
 * ADMIN_MAX_CONNECTIONS, or cfg->admin.max_connections when the budget set it lower; 0 when
 * admin.enabled is false. */
unsigned admin_max_connections(const struct cfg *cfg);
/* The descriptors the endpoint holds whatever its load (listening socket, libmicrohttpd's
 * epoll and eventfd); 0 when disabled. */
unsigned admin_fd_fixed(const struct cfg *cfg);

/* Bind cfg->admin.listen and start serving on loop. With admin.enabled = false returns 0
 * and *ret_admin = NULL. Returns 0, -errno or -EPERM (public address without a token). */
int admin_new(struct loop *loop, const struct cfg *cfg, struct admin **ret_admin);
/* What the endpoint reports on: call at start, after a reload and when res or pub go away
 * (NULL). A new cfg (pointer) makes it recompute the SHA-256 digest of cfg->path. */
void admin_update(struct admin *a, const struct cfg *cfg, struct res *res, struct pub *pub);
struct acme;
/* Report on the ACME client acme (borrowed until admin_free(); NULL: none): its metrics,
 * "acme" in /status, and POST /acme/renew?domain=D (token-protected like /cache/purge). */
void admin_set_acme(struct admin *a, struct acme *acme);
/* The periodic MX check to report on (/status, /metrics, the page, POST /mx-check), or
 * NULL when it is off; borrowed until the next call or admin_free(). */
struct mxcheck;
void admin_set_mxcheck(struct admin *a, struct mxcheck *m);
/* The rollout whose state GET /rollout, /status and the page show (NULL: none). */
struct rollout;
void admin_set_rollout(struct admin *a, struct rollout *r);
/* Count a configuration reload (ok 1: applied, 0: failed and the old one kept). */
void admin_note_reload(struct admin *a, int ok);
/* Shutdown: close the listener; requests in progress are still answered. */
void admin_stop_accepting(struct admin *a);
/* Stops the server (open connections are closed). Returns NULL. */
struct admin *admin_free(struct admin *a);
struct tlsrpt_recv;
/* TLS reports (docs/tlsrpt.md): GET /tlsrpt and /tlsrpt/<domain>, the status page's TLSRPT
 * section and the mtastsd_tlsrpt_* metrics read the state database at state_path (copied;
 * NULL: none) and the HTTPS receiver's counters (recv, borrowed, may be NULL). */
void admin_set_tlsrpt(struct admin *a, const char *state_path, const struct tlsrpt_recv *recv);
/* The bound TCP port (for logs and tests), 0 for a unix socket. */
uint16_t admin_port(const struct admin *a);

#endif
