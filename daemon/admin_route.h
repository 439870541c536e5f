/*
 * daemon/admin_route.h - the admin endpoint's routing and Host check, no I/O
 *
 * What admin.c's request handler decides before it renders anything, as pure functions of
 * the listener's facts and the request's: which names the endpoint answers to (the Host
 * check that stops a DNS-rebinding web page from reading /status or /policies), the bearer
 * token, who may purge the cache, and which handler serves the method and path. Used by
 * admin.c and by the tests that drive the decisions without a listener
 * (tests/unit/daemon/test_admin_route.c and the fuzz target tests/fuzz/fuzz_admin_request.c).
 *
 * Rules (docs/operations.md, "Admin endpoint"), in this order:
 *   1. Host (RFC 9112 section 3.2): more than one Host header, or an HTTP/1.1 request
 *      without one, is 400. A Host is accepted when its name, compared without case, port
 *      and one trailing dot, is "localhost", an IPv4 address in 127.0.0.0/8, the IPv6
 *      address ::1 (or ::ffff:127.x.y.z) in brackets, the address of the TCP listener
 *      (admin.listen, unless it is a wildcard), or one of admin.allowed_hosts; any other
 *      is 421. An HTTP/1.0 request without Host is accepted: every browser sends Host, and a
 *      rebinding page's request always names the attacker's host. The check applies to a
 *      unix-socket listener too (a reverse proxy in front of it forwards browsers' Hosts).
 *   2. admin.token set: a request without it is 401.
 *   3. A POST body over ADMIN_POST_BODY_MAX: 413.
 *   4. Method and path: GET/HEAD of /, /status, /metrics, /policies/<domain>, /tlsrpt,
 *      /tlsrpt/<domain>, /rollout, /rollout/<domain>; POST
 *      /cache/purge, refused (403) when it carries Origin (a cross-site form) and, when no
 *      token is configured, on a TCP listener (any local user or any local web application
 *      with an SSRF could empty the cache): only a unix socket, whose file mode says who may
 *      connect, purges without a token. POST /mx-check (start an MX check run of the
 *      published domains now) is refused (403) when it carries Origin; it changes no state
 *      and probes only the configured domains, so it needs no token. Other paths 404,
 *      other methods 405.
 *
 * Interface: struct admin_route_cfg, struct admin_request, struct admin_route;
 *            admin_route_cfg_listen(), admin_host_allowed(), admin_route()
 * Threads:   any; the functions read only their arguments.
 * Ownership: nothing is allocated or freed. admin_route() returns pointers to static text or
 *            into the request's url (borrowed for as long as that lives).
 * Errors:    none; each function says what it returns for input it does not accept.
 */
#ifndef MTASTSD_ADMIN_ROUTE_H
#define MTASTSD_ADMIN_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* A POST body is read and ignored up to this size; larger requests get 413 (bytes). */
#define ADMIN_POST_BODY_MAX 4096

/* What the listener and the config say, fixed between reloads. */
struct admin_route_cfg {
	int unix_socket;               /* the listener is a unix socket (no listen address) */
	int listen_family;             /* AF_INET, AF_INET6; 0: unix, or a wildcard address */
	unsigned char listen_addr[16]; /* the TCP listener's address, network order */
	char *const *allowed_hosts;    /* admin.allowed_hosts: names or addresses, borrowed */
	size_t n_allowed_hosts;
	int has_token; /* admin.token is set */
};

/* One complete request, as libmicrohttpd hands it over. */
struct admin_request {
	const char *method;  /* "GET", "POST"... */
	const char *url;     /* the path (libmicrohttpd has unescaped it; no query) */
	const char *version; /* "HTTP/1.1", "HTTP/1.0"; NULL counts as HTTP/1.1 */
	const char *host;    /* the Host value, leading OWS removed; NULL: none */
	unsigned n_host;     /* Host headers in the request */
	int authorized;      /* 1: it carries the configured token, 0: no bearer token, -1: a
	                      * wrong one (read only with has_token) */
	int origin;          /* it has an Origin header */
	int body_too_large;  /* its body went over ADMIN_POST_BODY_MAX */
};

/* Who serves a request. */
enum admin_handler {
	ADMIN_H_ERROR,      /* the status and error text of struct admin_route */
	ADMIN_H_PAGE,       /* GET / : the HTML status page */
	ADMIN_H_STATUS,     /* GET /status */
	ADMIN_H_METRICS,    /* GET /metrics */
	ADMIN_H_POLICY,     /* GET /policies/<domain> (domain not checked yet) */
	ADMIN_H_PURGE,      /* POST /cache/purge */
	ADMIN_H_ACME_RENEW, /* POST /acme/renew?domain=D: renew D's ACME certificate now */
	ADMIN_H_MXCHECK,    /* POST /mx-check: start an MX check run now (daemon/mxcheck.h) */
	ADMIN_H_TLSRPT,     /* GET /tlsrpt (domain NULL) and /tlsrpt/<domain> (not checked yet) */
	ADMIN_H_ROLLOUT,    /* GET /rollout (domain NULL) and /rollout/<domain> (not checked yet) */
};

/* Why a request was refused, for the counters (mtastsd_admin_requests_refused_total). */
enum admin_refusal {
	ADMIN_REFUSED_NONE,
	ADMIN_REFUSED_HOST,      /* 400 or 421: Host missing, repeated or not ours */
	ADMIN_REFUSED_TOKEN,     /* 401 */
	ADMIN_REFUSED_ORIGIN,    /* 403: a POST with Origin */
	ADMIN_REFUSED_PURGE_TCP, /* 403: purge over TCP without a configured token */
	ADMIN_REFUSED__N,
};

/* The decision. */
struct admin_route {
	unsigned status; /* 200 (a handler; it may still answer 400/404/409), or
	                  * 400, 401, 403, 404, 405, 413, 421 with ADMIN_H_ERROR */
	enum admin_handler handler;
	const char *error;          /* ADMIN_H_ERROR: fixed ASCII text (never peer input) */
	const char *domain;         /* ADMIN_H_POLICY, ADMIN_H_TLSRPT: the name in the path
	                             * (points into url; NULL for /tlsrpt) */
	enum admin_refusal refused; /* ADMIN_REFUSED_NONE unless refused for one of those */
};

/* Fill the listener facts of rc from an admin.listen entry: unix_socket, listen_family and
 * listen_addr (a wildcard 0.0.0.0 or :: names nothing: family 0). default_host is the
 * address of a TCP entry without one. The other fields are left as they are. */
void admin_route_cfg_listen(struct admin_route_cfg *rc, const struct cfg_listen *l,
                            const char *default_host);

/* 1 when the Host value host (NUL-terminated, trailing SP/HTAB ignored) names this endpoint
 * (rule 1 above), 0 otherwise: not a plausible "name[:port]" or "[IPv6][:port]" (port:
 * up to 5 digits, at most 65535), longer than a domain name, or not one of ours. */
int admin_host_allowed(const struct admin_route_cfg *rc, const char *host);

/* Route one complete request (rules 1-4 above) into *ret (always written). */
void admin_route(const struct admin_route_cfg *rc, const struct admin_request *r,
                 struct admin_route *ret);

#endif
