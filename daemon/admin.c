/*
 * daemon/admin.c - the admin endpoint server: listener, MHD on the main loop, handlers
 *
 * Interface: admin_new(), admin_update(), admin_note_reload(), admin_stop_accepting(),
 *            admin_free(), admin_port() (admin.h)
 * Loop:      MHD in external epoll mode: MHD_DAEMON_INFO_EPOLL_FD is watched for LOOP_READ;
 *            after every wake-up MHD_run() runs and the timer is re-armed from
 *            MHD_get_timeout(). Handlers answer at once (no suspend), so no request outlives
 *            the MHD_run() that completes its upload.
 * Threads:   main loop only.
 * Ownership: see admin.h; bodies come from admin_render.c and are handed to MHD
 *            (MHD_RESPMEM_MUST_FREE).
 * Requests:  the facts of a complete request (method, path, Host headers, token, Origin,
 *            body size) go to admin_route() (admin_route.c, no I/O), which picks the handler
 *            or the refusal; refusals are counted, and those of Host and of a purge over TCP
 *            without a token logged (a warning per ADMIN_REFUSED_LOG_INTERVAL_MS per reason).
 * Errors:    startup errors are returned (logged); request errors are HTTP statuses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <json-c/json.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme.h"
#include "admin.h"
#include "admin_int.h"
#include "domain.h"
#include "err.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "rollout.h"
#include "tlsrpt_recv.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"
#include "xalloc.h"

/* A config file larger than this is not hashed (bytes); cfg_load() reads far smaller ones. */
#define ADMIN_CFG_HASH_MAX (16 * 1024 * 1024)

/* ---- config digest ---- */

static void
admin_hash_file(const char *path, char out[65])
{
	unsigned char md[32];
	char *data = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;
	size_t i;

	out[0] = '\0';
	if (path == NULL)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("admin: cannot read %s for its digest: %s, reporting none", path,
		         strerror(errno));
		return;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= ADMIN_CFG_HASH_MAX)
				goto out;
			cap = cap == 0 ? 8192 : cap * 2;
			data = xrealloc(data, cap);
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md) < 0)
		goto out;
	for (i = 0; i < sizeof(md); i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
out:
	free(data);
	(void)close(fd);
}

/* ---- listener ---- */

/* A TCP listener without a host binds loopback; a unix socket defaults to owner-only. */
#define ADMIN_DEFAULT_HOST "127.0.0.1"
static const struct listen_opts admin_listen_opts = {
        .default_host = ADMIN_DEFAULT_HOST,
        .backlog = ADMIN_LISTEN_BACKLOG,
        .default_mode = 0600,
        .fdname = LISTEN_FDNAME_ADMIN,
};

static int
admin_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	return 0;
}

/* Before binding a TCP listener: an address off loopback needs the token. A host that is
 * not a numeric address is listen_open()'s to report. */
static int
admin_check_exposed(struct admin *a, const struct cfg_listen *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (l->path != NULL || cfg_listen_sockaddr(l, ADMIN_DEFAULT_HOST, &ss, &sl, NULL, 0) < 0 ||
	    admin_is_loopback(&ss))
		return 0;
	if (!a->has_token) {
		log_err("admin.listen %s is not a loopback address and admin.token is unset: "
		        "refusing to expose the admin endpoint",
		        a->listen_name);
		return -EPERM;
	}
	log_warn("admin.listen %s is not a loopback address; requests need the token",
	         a->listen_name);
	a->exposed = 1;
	return 0;
}

/* ---- MHD on the loop ---- */

static void admin_kick(struct admin *a);

static void
admin_timer_cb(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	admin_kick(arg);
}

static void
admin_io_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	admin_kick(arg);
}

static unsigned
admin_conns(struct admin *a)
{
	const union MHD_DaemonInfo *info =
	        MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info != NULL ? info->num_connections : 0;
}

/* Let MHD do its work, then sleep until its next deadline.
 * At ADMIN_MAX_CONNECTIONS libmicrohttpd 0.9.75 takes the listening socket out of its epoll
 * set, and puts it back only at the start of its next MHD_run() after a connection went.
 * When the connections that went were the last ones, nothing would ever wake us for that
 * run (no timeout, nothing in the epoll set) and the endpoint stayed deaf for good: so a
 * run that closed connections is followed by one more. */
static void
admin_kick(struct admin *a)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	unsigned before;

	if (a->mhd == NULL)
		return;
	before = admin_conns(a);
	(void)MHD_run(a->mhd);
	if (admin_conns(a) < before)
		(void)MHD_run(a->mhd);
	if (MHD_get_timeout(a->mhd, &ms) == MHD_YES)
		loop_timer_start(a->loop, &a->timer, (uint64_t)ms, admin_timer_cb, a);
	else
		loop_timer_stop(a->loop, &a->timer);
}

/* ---- requests ---- */

struct admin_req {
	size_t body_len; /* POST body bytes seen (discarded) */
	int too_large;
};

static enum MHD_Result
admin_send(struct MHD_Connection *conn, unsigned status, const char *ctype, char *body)
{
	struct MHD_Response *rsp;
	enum MHD_Result ret;

	rsp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (rsp == NULL) {
		free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
	(void)MHD_add_response_header(rsp, "Content-Security-Policy",
	                              "default-src 'none'; style-src 'unsafe-inline'; "
	                              "frame-ancestors 'none'");
	if (status == MHD_HTTP_UNAUTHORIZED)
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                              "Bearer realm=\"mtastsd\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
	ret = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

/* {"error": "<msg>"} with msg a fixed ASCII text (never peer input). */
static enum MHD_Result
admin_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return admin_send(conn, status, "application/json",
	                  xasprintf("{\"error\": \"%s\"}\n", msg));
}

/* Bearer token check, constant time: both sides are hashed, then the digests compared
 * without an early exit, so neither the content nor the length of the token leaks.
 * 1 the token, 0 no bearer token, -1 another one. */
static int
admin_authorized(struct admin *a, struct MHD_Connection *conn)
{
	static const char prefix[] = "Bearer ";
	const char *h;
	unsigned char md[32];
	unsigned diff = 0;
	size_t i;

	if (!a->has_token)
		return 1;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	h += sizeof(prefix) - 1;
	while (*h == ' ')
		h++;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, h, strlen(h), md) < 0)
		return -1;
	for (i = 0; i < sizeof(md); i++)
		diff |= (unsigned)(md[i] ^ a->token_sha256[i]);
	return diff == 0 ? 1 : -1;
}

static enum MHD_Result
admin_purge(struct admin *a, struct MHD_Connection *conn)
{
	const char *dom = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "domain");
	char norm[DOMAIN_BUF];
	long n;
	char *body;

	if (!res_enabled(a->res))
		return admin_error(conn, MHD_HTTP_CONFLICT, "the resolver is disabled");
	if (dom != NULL && domain_normalize(dom, norm) < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	n = res_cache_purge(a->res, dom != NULL ? norm : NULL);
	if (n < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	if (dom != NULL) {
		log_notice("admin: cache purge of '%s': %ld entr%s removed", norm, n,
		           n == 1 ? "y" : "ies");
		body = xasprintf("{\"purged\": %ld, \"domain\": \"%s\", \"entries\": %zu}\n", n,
		                 norm, res_cache_entries(a->res));
	} else {
		log_notice("admin: cache purge of every domain: %ld entr%s removed", n,
		           n == 1 ? "y" : "ies");
		body = xasprintf("{\"purged\": %ld, \"domain\": null, \"entries\": %zu}\n", n,
		                 res_cache_entries(a->res));
	}
	return admin_send(conn, MHD_HTTP_OK, "application/json", body);
}

/* POST /mx-check: start a run of the periodic MX check now. */
static enum MHD_Result
admin_mxcheck(struct admin *a, struct MHD_Connection *conn)
{
	int r = mxcheck_run_now(a->mxcheck);

	if (r == -ENOENT)
		return admin_error(conn, MHD_HTTP_CONFLICT,
		                   "the MX check is off (publisher.mx_check, mx_check_interval, "
		                   "publisher.domains)");
	if (r == -EBUSY)
		return admin_error(conn, MHD_HTTP_CONFLICT, "an MX check run is in progress");
	log_notice("admin: MX check run started (%zu domains)", mxcheck_domains(a->mxcheck));
	return admin_send(
	        conn, MHD_HTTP_ACCEPTED, "application/json",
	        xasprintf("{\"started\": true, \"domains\": %zu}\n", mxcheck_domains(a->mxcheck)));
}

static enum MHD_Result
admin_acme_renew(struct admin *a, struct MHD_Connection *conn)
{
	const char *dom = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "domain");
	char norm[DOMAIN_BUF];
	int r;

	if (a->acme == NULL)
		return admin_error(conn, MHD_HTTP_NOT_FOUND, "no domain uses ACME");
	if (dom == NULL || domain_normalize(dom, norm) < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	r = acme_renew(a->acme, norm);
	if (r == -EBUSY)
		return admin_error(conn, MHD_HTTP_CONFLICT,
		                   "an ACME order for this domain is in progress");
	if (r < 0)
		return admin_error(conn, MHD_HTTP_NOT_FOUND, "not an ACME domain");
	log_notice("admin: ACME renewal of '%s' asked", norm);
	return admin_send(conn, MHD_HTTP_ACCEPTED, "application/json",
	                  xasprintf("{\"renewing\": \"%s\"}\n", norm));
}

static enum MHD_Result
admin_policy(struct admin *a, struct MHD_Connection *conn, const char *dom)
{
	char norm[DOMAIN_BUF];
	char *body;

	if (!res_enabled(a->res))
		return admin_error(conn, MHD_HTTP_NOT_FOUND, "the resolver is disabled");
	if (domain_normalize(dom, norm) < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	body = admin_render_policy(a, norm);
	if (body == NULL)
		return admin_error(conn, MHD_HTTP_NOT_FOUND, "not cached");
	return admin_send(conn, MHD_HTTP_OK, "application/json", body);
}

struct statedb *
admin_tlsrpt_db(struct admin *a)
{
	char err[512];
	int r;

	if (a->tlsrpt_db != NULL || a->tlsrpt_path == NULL)
		return a->tlsrpt_db;
	r = statedb_open(a->tlsrpt_path, &a->tlsrpt_db, err, sizeof(err));
	if (r < 0) {
		log_warn("admin: TLS reports: state database %s: %s (%s); not shown, tried again "
		         "at the next request",
		         a->tlsrpt_path, err_str(r), err);
		a->tlsrpt_db = NULL;
	}
	return a->tlsrpt_db;
}

/* The published domains (NULL, 0 when none: every domain of the database counts). */
static const char **
admin_tlsrpt_domains(const struct admin *a, size_t *ret_n)
{
	const struct cfg_publisher *p = &a->cfg->publisher;
	const char **v;
	size_t i;

	*ret_n = 0;
	if (p->n_domains == 0)
		return NULL;
	v = xcalloc(p->n_domains, sizeof(*v));
	for (i = 0; i < p->n_domains; i++)
		v[i] = p->domains[i].domain;
	*ret_n = p->n_domains;
	return v;
}

int
admin_tlsrpt_summary(struct admin *a, const char *dom, time_t now, struct tlsrpt_summary **ret)
{
	struct statedb *db = admin_tlsrpt_db(a);
	const char **doms;
	size_t n;
	int r;

	if (db == NULL)
		return -ENOENT;
	doms = dom == NULL ? admin_tlsrpt_domains(a, &n) : NULL;
	if (doms != NULL)
		r = tlsrpt_summary_load_domains(db, doms, n, now, ret);
	else
		r = tlsrpt_summary_load(db, dom, now, ret);
	free(doms);
	if (r < 0) {
		log_warn("admin: TLS reports: %s", err_str(r));
		if (r != ERR_STATEDB_LOCKED)
			a->tlsrpt_db = statedb_close(a->tlsrpt_db);
	}
	return r;
}

/* GET /tlsrpt and /tlsrpt/<domain>: the summary of the last TLSRPT_CHART_DAYS days. */
static enum MHD_Result
admin_tlsrpt(struct admin *a, struct MHD_Connection *conn, const char *dom)
{
	char norm[DOMAIN_BUF];
	struct tlsrpt_summary *s = NULL;
	json_object *o;
	char *body;
	int r;

	if (dom != NULL && domain_normalize(dom, norm) < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	r = admin_tlsrpt_summary(a, dom != NULL ? norm : NULL, loop_wall_s(a->loop), &s);
	if (r == -ENOENT)
		return admin_error(conn, MHD_HTTP_NOT_FOUND,
		                   "no state database: TLS reports are not kept");
	if (r < 0)
		return admin_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                   "the state database cannot be read now");
	o = tlsrpt_summary_json(s);
	(void)tlsrpt_summary_free(s);
	body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return admin_send(conn, MHD_HTTP_OK, "application/json", body);
}

/* GET /rollout and /rollout/<domain>: each published domain's rollout, evaluated now
 * (rollout.h, docs/rollout.md). */
static enum MHD_Result
admin_rollout(struct admin *a, struct MHD_Connection *conn, const char *dom)
{
	char norm[DOMAIN_BUF];
	json_object *o;
	char *body;

	if (dom != NULL && domain_normalize(dom, norm) < 0)
		return admin_error(conn, MHD_HTTP_BAD_REQUEST, "invalid domain");
	rollout_refresh(a->rollout);
	o = rollout_json(a->rollout, dom != NULL ? norm : NULL);
	if (o == NULL)
		return admin_error(conn, MHD_HTTP_NOT_FOUND, "not a published domain");
	body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return admin_send(conn, MHD_HTTP_OK, "application/json", body);
}

/* GET / and /status: the facts gathered once for the body. */
static enum MHD_Result
admin_page_or_status(struct admin *a, struct MHD_Connection *conn, int page)
{
	struct admin_facts f;
	char *body;

	admin_facts_collect(a, &f);
	if (page)
		admin_facts_tlsrpt(a, &f);
	body = page ? admin_render_html(a, &f) : admin_render_status(a, &f);
	admin_facts_free(&f);
	if (page)
		return admin_send(conn, MHD_HTTP_OK, "text/html; charset=utf-8", body);
	return admin_send(conn, MHD_HTTP_OK, "application/json", body);
}

/* MHD_get_connection_values() callback: count the Host headers. */
static enum MHD_Result
admin_count_host(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* A refusal worth the administrator's attention: for each reason a warning at most once
 * per ADMIN_REFUSED_LOG_INTERVAL_MS (saying how many were quieter since), debug otherwise. */
static void
admin_log_refused(struct admin *a, const struct admin_route *rt, const char *host)
{
	char shown[LOG_PEER_TEXT_MAX + 4], more[80] = "";
	uint64_t quiet = 0;
	int prio;

	if (rt->refused != ADMIN_REFUSED_HOST && rt->refused != ADMIN_REFUSED_PURGE_TCP)
		return;
	prio = log_rate_due(&a->refused_log[rt->refused], loop_now_ms(a->loop),
	                    ADMIN_REFUSED_LOG_INTERVAL_MS, &quiet)
	               ? LOG_WARNING
	               : LOG_DEBUG;
	if (quiet > 0)
		(void)snprintf(more, sizeof(more), " (%llu more since the last warning)",
		               (unsigned long long)quiet);
	if (rt->refused == ADMIN_REFUSED_PURGE_TCP) {
		log_msg(prio,
		        "admin: refused POST /cache/purge over TCP with 403: admin.token is unset "
		        "(set it, or use a unix-socket admin.listen)%s",
		        more);
	} else if (rt->status == MHD_HTTP_MISDIRECTED_REQUEST) {
		(void)log_printable(shown, sizeof(shown), host, strlen(host));
		log_msg(prio,
		        "admin: refused a request for Host '%s' with 421: not loopback, not "
		        "admin.listen, not in admin.allowed_hosts (a DNS rebinding attempt, or a "
		        "name to add to admin.allowed_hosts)%s",
		        shown, more);
	} else {
		log_msg(prio, "admin: refused a request with 400: %s%s", rt->error, more);
	}
}

static enum MHD_Result
admin_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_data_size, void **req_ctx)
{
	struct admin *a = cls;
	struct admin_req *rq = *req_ctx;
	struct admin_request req = {0};
	struct admin_route rt;

	(void)upload_data;
	if (rq == NULL) {
		rq = xcalloc(1, sizeof(*rq));
		*req_ctx = rq;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		rq->body_len += *upload_data_size;
		if (rq->body_len > ADMIN_POST_BODY_MAX)
			rq->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	a->http_requests++;
	req.method = method;
	req.url = url;
	req.version = version;
	req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	(void)MHD_get_connection_values(conn, MHD_HEADER_KIND, admin_count_host, &req.n_host);
	req.authorized = admin_authorized(a, conn);
	req.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") != NULL;
	req.body_too_large = rq->too_large;
	a->route.has_token = a->has_token;
	admin_route(&a->route, &req, &rt);
	if (rt.refused != ADMIN_REFUSED_NONE) {
		a->refused[rt.refused]++;
		admin_log_refused(a, &rt, req.host);
	}
	switch (rt.handler) {
	case ADMIN_H_PAGE:
		return admin_page_or_status(a, conn, 1);
	case ADMIN_H_STATUS:
		return admin_page_or_status(a, conn, 0);
	case ADMIN_H_METRICS:
		return admin_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		                  admin_render_metrics(a));
	case ADMIN_H_POLICY:
		return admin_policy(a, conn, rt.domain);
	case ADMIN_H_PURGE:
		return admin_purge(a, conn);
	case ADMIN_H_ACME_RENEW:
		return admin_acme_renew(a, conn);
	case ADMIN_H_MXCHECK:
		return admin_mxcheck(a, conn);
	case ADMIN_H_TLSRPT:
		return admin_tlsrpt(a, conn, rt.domain);
	case ADMIN_H_ROLLOUT:
		return admin_rollout(a, conn, rt.domain);
	case ADMIN_H_ERROR:
		break;
	}
	return admin_error(conn, rt.status, rt.error);
}

/* The request's state (the glue has renewed the connection's deadline). */
static void
admin_completed(void *arg, struct MHD_Connection *conn, void **req_ctx,
                enum MHD_RequestTerminationCode toe)
{
	(void)arg;
	(void)conn;
	(void)toe;
	free(*req_ctx);
	*req_ctx = NULL;
}

/* ---- metrics of the admin endpoint and the daemon ---- */

static uint64_t
admin_stats_one(const void *obj)
{
	return 1;
}

static uint64_t
admin_stats_start(const void *obj)
{
	return (uint64_t)((const struct admin *)obj)->start_wall;
}

static uint64_t
admin_stats_uptime(const void *obj)
{
	const struct admin *a = obj;

	return (loop_now_ms(a->loop) - a->start_ms) / 1000;
}

static uint64_t
admin_stats_reload_ok(const void *obj)
{
	const struct admin *a = obj;

	return a->last_reload == 0 || a->last_reload_ok;
}

static uint64_t
admin_stats_resolver(const void *obj)
{
	return res_enabled(((const struct admin *)obj)->res);
}

static const struct stats_field admin_refusals[] = {
        {"host", "host", .off = offsetof(struct admin, refused[ADMIN_REFUSED_HOST])},
        {"token", "token", .off = offsetof(struct admin, refused[ADMIN_REFUSED_TOKEN])},
        {"origin", "origin", .off = offsetof(struct admin, refused[ADMIN_REFUSED_ORIGIN])},
        {"purge_without_token", "purge_without_token",
         .off = offsetof(struct admin, refused[ADMIN_REFUSED_PURGE_TCP])},
};

static const struct stats_field admin_version[] = {
        {MTASTSD_VERSION, .get = admin_stats_one},
};

static const struct stats_field admin_reloads[] = {
        {"success", "reloads", .off = offsetof(struct admin, reloads_ok)},
        {"failure", "reload_failures", .off = offsetof(struct admin, reloads_failed)},
};

/* JSON paths relative to the top object of /status. */
static const struct stats_metric admin_stats[] = {
        {"mtastsd_build_info", STATS_GAUGE, "Version of the running mtastsd.", .label = "version",
         .fields = admin_version, .n = STATS_COUNT(admin_version)},
        {"mtastsd_start_time_seconds", STATS_GAUGE,
         "Start time of the process since the Unix epoch.", .json = "started_at",
         .get = admin_stats_start},
        {"mtastsd_uptime_seconds", STATS_GAUGE, "Seconds since the daemon started.",
         .json = "uptime_seconds", .get = admin_stats_uptime},
        {"mtastsd_config_reloads_total", STATS_COUNTER, "Configuration reloads (SIGHUP) by result.",
         .json = "config", .label = "result", .fields = admin_reloads,
         .n = STATS_COUNT(admin_reloads)},
        {"mtastsd_config_last_reload_successful", STATS_GAUGE,
         "1 when the last reload was applied (or none was tried), 0 when it failed.",
         .get = admin_stats_reload_ok},
        {"mtastsd_admin_requests_total", STATS_COUNTER, "Requests to the admin endpoint.",
         .json = "admin.requests", .off = offsetof(struct admin, http_requests)},
        {"mtastsd_admin_requests_refused_total", STATS_COUNTER,
         "Admin requests refused, by reason: a Host that is not the endpoint's (400, 421), "
         "no or a wrong token (401), a POST with Origin (403), a purge over TCP without a "
         "configured token (403).",
         .json = "admin.refused", .label = "reason", .fields = admin_refusals,
         .n = STATS_COUNT(admin_refusals)},
};

/* ---- TLSRPT metrics (docs/tlsrpt.md) ---- */

/* mtastsd_tlsrpt_reports_total{source="https",outcome}: the HTTPS receiver's reports of
 * this process. Mail imports are other processes: they show in the database (/tlsrpt). */
static void
admin_stats_tlsrpt_reports(const void *obj, struct stats_emit *e)
{
	const struct admin *a = obj;
	uint64_t n[TLSRPT_OUTCOMES];
	size_t i;

	tlsrpt_recv_outcomes(a->tlsrpt_recv, n, TLSRPT_OUTCOMES);
	for (i = 0; i < TLSRPT_OUTCOMES; i++)
		if (a->tlsrpt_recv != NULL)
			stats_emit(e, "https", tlsrpt_outcome_name((enum tlsrpt_outcome)i), n[i]);
}

/* mtastsd_tlsrpt_sessions_total{domain,policy_type,result}: every session of the stored
 * reports (within tlsrpt.retention), read from the state database at each scrape. The
 * statement orders by domain, day, type, result: per domain the rows are summed by
 * (type, result) through a small table. */
struct admin_tlsrpt_dom {
	struct stats_emit *e;
	char domain[DOMAIN_BUF];
	struct {
		char type[32], result[72];
		uint64_t v;
	} k[64];
	size_t n;
	size_t n_domains; /* domains emitted */
};

static void
admin_tlsrpt_dom_flush(struct admin_tlsrpt_dom *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		stats_emit3(d->e, d->domain, d->k[i].type, d->k[i].result, d->k[i].v);
	d->n = 0;
}

static int
admin_tlsrpt_day_row(const struct statedb_tlsrpt_sum *s, void *arg)
{
	struct admin_tlsrpt_dom *d = arg;
	size_t i;

	if (strcmp(d->domain, s->domain) != 0) {
		admin_tlsrpt_dom_flush(d);
		if (d->n_domains >= TLSRPT_SUMMARY_DOMAINS_MAX)
			return 1; /* bounded series */
		d->n_domains++;
		(void)snprintf(d->domain, sizeof(d->domain), "%s", s->domain);
	}
	for (i = 0; i < d->n; i++)
		if (strcmp(d->k[i].type, s->policy_type) == 0 &&
		    strcmp(d->k[i].result, s->result) == 0)
			break;
	if (i == d->n) {
		if (d->n == sizeof(d->k) / sizeof(d->k[0]))
			return 0; /* more result types than a real domain has: not shown */
		(void)snprintf(d->k[i].type, sizeof(d->k[i].type), "%s", s->policy_type);
		(void)snprintf(d->k[i].result, sizeof(d->k[i].result), "%s", s->result);
		d->k[i].v = 0;
		d->n++;
	}
	d->k[i].v = d->k[i].v > UINT64_MAX - s->sessions ? UINT64_MAX : d->k[i].v + s->sessions;
	return 0;
}

static void
admin_stats_tlsrpt_sessions(const void *obj, struct stats_emit *e)
{
	struct admin *a = (struct admin *)(uintptr_t)obj;
	struct admin_tlsrpt_dom *d;
	struct statedb *db = admin_tlsrpt_db(a);
	const char **doms;
	size_t i, n;

	if (db == NULL)
		return;
	d = xcalloc(1, sizeof(*d));
	d->e = e;
	doms = admin_tlsrpt_domains(a, &n);
	/* the published domains, each by its index; none published: the first
	 * TLSRPT_SUMMARY_DOMAINS_MAX of the database */
	for (i = 0; doms != NULL && i < n && i < TLSRPT_SUMMARY_DOMAINS_MAX; i++) {
		if (statedb_tlsrpt_sums(db, doms[i], 0, admin_tlsrpt_day_row, d) < 0)
			break;
		admin_tlsrpt_dom_flush(d);
	}
	if (doms == NULL) {
		(void)statedb_tlsrpt_sums(db, NULL, 0, admin_tlsrpt_day_row, d);
		admin_tlsrpt_dom_flush(d);
	}
	free(doms);
	free(d);
}

static const struct stats_metric admin_tlsrpt_stats[] = {
        {"mtastsd_tlsrpt_reports_total", STATS_COUNTER,
         "TLS reports received by this process, by source and outcome (docs/tlsrpt.md).",
         .label = "source", .label2 = "outcome", .each = admin_stats_tlsrpt_reports},
        {"mtastsd_tlsrpt_sessions_total", STATS_COUNTER,
         "Sessions in the stored TLS reports (within tlsrpt.retention), by Policy Domain, "
         "policy type and result (success or the failure's result type).",
         .label = "domain", .label2 = "policy_type", .label3 = "result",
         .each = admin_stats_tlsrpt_sessions},
};

/* Registered first in the resolver's registry, so that it is there when the resolver is
 * off (/status shows "enabled" itself). */
static const struct stats_metric admin_res_stats[] = {
        {"mtastsd_resolver_enabled", STATS_GAUGE, "1 when the socketmap resolver runs.",
         .get = admin_stats_resolver},
};

/* ---- lifecycle ---- */

/* Keep a copy of admin.allowed_hosts for the Host check (the cfg is only borrowed). */
static void
admin_set_hosts(struct admin *a, const struct cfg_admin *c)
{
	size_t i;

	for (i = 0; i < a->n_allowed_hosts; i++)
		free(a->allowed_hosts[i]);
	free(a->allowed_hosts);
	a->allowed_hosts = NULL;
	a->n_allowed_hosts = 0;
	if (c->n_allowed_hosts > 0) {
		a->allowed_hosts = xcalloc(c->n_allowed_hosts, sizeof(*a->allowed_hosts));
		for (i = 0; i < c->n_allowed_hosts; i++)
			a->allowed_hosts[i] = xstrdup(c->allowed_hosts[i]);
		a->n_allowed_hosts = c->n_allowed_hosts;
	}
	a->route.allowed_hosts = a->allowed_hosts;
	a->route.n_allowed_hosts = a->n_allowed_hosts;
}

/* A reloaded admin.allowed_hosts: applied at once, logged when it changed. */
static void
admin_hosts_reload(struct admin *a, const struct cfg_admin *c)
{
	size_t i;
	int same = c->n_allowed_hosts == a->n_allowed_hosts;

	for (i = 0; same && i < c->n_allowed_hosts; i++)
		same = strcmp(c->allowed_hosts[i], a->allowed_hosts[i]) == 0;
	if (same)
		return;
	admin_set_hosts(a, c);
	log_notice("admin: admin.allowed_hosts changed: %zu name%s besides localhost and the "
	           "listen address",
	           a->n_allowed_hosts, a->n_allowed_hosts == 1 ? "" : "s");
}

unsigned
admin_max_connections(const struct cfg *cfg)
{
	if (!cfg->admin.enabled)
		return 0;
	return cfg->admin.max_connections > 0 && cfg->admin.max_connections < ADMIN_MAX_CONNECTIONS
	               ? cfg->admin.max_connections
	               : ADMIN_MAX_CONNECTIONS;
}

unsigned
admin_fd_fixed(const struct cfg *cfg)
{
	/* the listening socket, libmicrohttpd's epoll and eventfd */
	return cfg->admin.enabled ? 3 : 0;
}

int
admin_new(struct loop *loop, const struct cfg *cfg, struct admin **ret_admin)
{
	const struct cfg_admin *c = &cfg->admin;
	const union MHD_DaemonInfo *info;
	struct admin *a;
	char errbuf[512], deadline[32];
	int r;

	*ret_admin = NULL;
	if (!c->enabled) {
		log_info("admin: disabled (admin.enabled = false)");
		return 0;
	}
	a = xcalloc(1, sizeof(*a));
	a->loop = loop;
	a->epoll_fd = -1;
	a->ls = (struct listen_sock)LISTEN_SOCK_INIT;
	a->start_ms = loop_now_ms(loop);
	a->start_wall = loop_wall_s(loop);
	a->stats = stats_new();
	stats_add(a->stats, admin_stats, STATS_COUNT(admin_stats), a);
	stats_add(a->stats, admin_tlsrpt_stats, STATS_COUNT(admin_tlsrpt_stats), a);
	a->stats_pub = stats_new();
	a->stats_res = stats_new();
	a->stats_acme = stats_new();
	if (c->token != NULL && c->token[0] != '\0') {
		a->has_token = 1;
		if (gnutls_hash_fast(GNUTLS_DIG_SHA256, c->token, strlen(c->token),
		                     a->token_sha256) < 0) {
			log_err("admin: cannot hash admin.token");
			r = -EIO;
			goto fail;
		}
	}
	if (c->listen.path != NULL)
		a->listen_name = xasprintf("unix:%s", c->listen.path);
	else
		a->listen_name = xstrdup(c->listen.address != NULL ? c->listen.address : "?");
	r = admin_check_exposed(a, &c->listen);
	if (r < 0)
		goto fail;
	admin_route_cfg_listen(&a->route, &c->listen, ADMIN_DEFAULT_HOST);
	admin_set_hosts(a, c);
	a->route.has_token = a->has_token;
	r = listen_open(&c->listen, &admin_listen_opts, &a->ls, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("admin: %s", errbuf);
		goto fail;
	}
	a->port = a->ls.port;
	(void)snprintf(deadline, sizeof(deadline), "%u s", (unsigned)ADMIN_CONN_TIMEOUT_S);
	a->httpd = httpd_new(loop, &(struct httpd_cfg){
	                                   .name = "admin",
	                                   .deadline_name = deadline,
	                                   .timeout_s = ADMIN_CONN_TIMEOUT_S,
	                                   .max_connections = admin_max_connections(cfg),
	                                   .conn_memory_max = ADMIN_CONN_MEMORY_MAX,
	                           });
	a->mhd = httpd_start(a->httpd, listen_take_fd(&a->ls),
	                     &(struct httpd_server){
	                             .flags = MHD_USE_EPOLL,
	                             .access = admin_access,
	                             .access_cls = a,
	                             .completed = admin_completed,
	                             .arg = a,
	                     },
	                     a->listen_name);
	if (a->mhd == NULL) {
		r = -EIO;
		goto fail;
	}
	info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		log_err("admin: libmicrohttpd has no epoll fd");
		r = -EIO;
		goto fail;
	}
	a->epoll_fd = info->epoll_fd;
	r = loop_io_add(loop, a->epoll_fd, LOOP_READ, admin_io_cb, a);
	if (r < 0) {
		log_err("admin: cannot watch the HTTP server: %s", err_str(r));
		a->epoll_fd = -1;
		goto fail;
	}
	admin_kick(a);
	log_info("admin: listening on %s%s%s", a->listen_name,
	         a->ls.passed ? " (socket from the service manager)" : "",
	         a->has_token ? " (bearer token required)" : "");
	*ret_admin = a;
	return 0;
fail:
	(void)admin_free(a);
	return r;
}

/* A reloaded admin.token: applied at once (no restart), but never removed from a listener
 * that is not on loopback. */
static void
admin_token_reload(struct admin *a, const char *token)
{
	unsigned char md[sizeof(a->token_sha256)];
	int has = token != NULL && token[0] != '\0';

	if (has && gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), md) < 0) {
		log_err("admin: cannot hash the new admin.token, keeping the old one");
		return;
	}
	if (has == a->has_token && (!has || memcmp(md, a->token_sha256, sizeof(md)) == 0))
		return;
	if (!has && a->exposed) {
		log_err("admin: admin.token cannot be removed while admin.listen %s is not a "
		        "loopback address; keeping the old token",
		        a->listen_name);
		return;
	}
	a->has_token = has;
	if (has)
		memcpy(a->token_sha256, md, sizeof(md));
	else
		memset(a->token_sha256, 0, sizeof(a->token_sha256));
	log_notice("admin: admin.token %s", !has ? "removed: requests need no token"
	                                         : "changed: requests need the new bearer token");
}

void
admin_update(struct admin *a, const struct cfg *cfg, struct res *res, struct pub *pub)
{
	if (a == NULL)
		return;
	if (cfg != a->cfg)
		admin_hash_file(cfg != NULL ? cfg->path : NULL, a->cfg_sha256);
	if (cfg != a->cfg && cfg != NULL && a->cfg != NULL) {
		admin_token_reload(a, cfg->admin.token);
		admin_hosts_reload(a, &cfg->admin);
	}
	a->cfg = cfg;
	a->res = res;
	a->pub = pub;
	stats_clear(a->stats_pub);
	pub_stats_add(pub, a->stats_pub);
	mxcheck_stats_add(a->mxcheck, a->stats_pub);
	rollout_stats_add(a->rollout, a->stats_pub);
	stats_clear(a->stats_res);
	stats_add(a->stats_res, admin_res_stats, 1, a);
	res_stats_add(res, a->stats_res);
}

void
admin_set_acme(struct admin *a, struct acme *acme)
{
	if (a == NULL)
		return;
	a->acme = acme;
	stats_clear(a->stats_acme);
	if (acme != NULL)
		acme_stats_add(acme, a->stats_acme);
}

void
admin_set_mxcheck(struct admin *a, struct mxcheck *m)
{
	if (a == NULL)
		return;
	a->mxcheck = m;
	admin_update(a, a->cfg, a->res, a->pub);
}

void
admin_set_rollout(struct admin *a, struct rollout *r)
{
	if (a == NULL)
		return;
	a->rollout = r;
	admin_update(a, a->cfg, a->res, a->pub);
}

void
admin_note_reload(struct admin *a, int ok)
{
	if (a == NULL)
		return;
	if (ok)
		a->reloads_ok++;
	else
		a->reloads_failed++;
	a->last_reload = loop_wall_s(a->loop);
	a->last_reload_ok = ok;
}

void
admin_stop_accepting(struct admin *a)
{
	MHD_socket fd;

	if (a == NULL || a->mhd == NULL || a->quiesced)
		return;
	/* In external polling mode the listener is ours again at once: close it. */
	fd = MHD_quiesce_daemon(a->mhd);
	if (fd != MHD_INVALID_SOCKET)
		(void)close(fd);
	a->quiesced = 1;
	admin_kick(a);
}

struct admin *
admin_free(struct admin *a)
{
	if (a == NULL)
		return NULL;
	loop_timer_stop(a->loop, &a->timer);
	if (a->epoll_fd >= 0)
		loop_io_del(a->loop, a->epoll_fd);
	a->mhd = NULL;
	a->httpd = httpd_free(a->httpd); /* stops the MHD daemon */
	listen_close(&a->ls);            /* and removes the unix socket */
	free(a->listen_name);
	admin_set_hosts(a, &(struct cfg_admin){0});
	a->stats = stats_free(a->stats);
	a->tlsrpt_db = statedb_close(a->tlsrpt_db);
	free(a->tlsrpt_path);
	a->stats_pub = stats_free(a->stats_pub);
	a->stats_res = stats_free(a->stats_res);
	a->stats_acme = stats_free(a->stats_acme);
	free(a);
	return NULL;
}

void
admin_set_tlsrpt(struct admin *a, const char *state_path, const struct tlsrpt_recv *recv)
{
	if (a == NULL)
		return;
	a->tlsrpt_db = statedb_close(a->tlsrpt_db);
	free(a->tlsrpt_path);
	a->tlsrpt_path = state_path != NULL ? xstrdup(state_path) : NULL;
	a->tlsrpt_recv = recv;
}

uint16_t
admin_port(const struct admin *a)
{
	return a != NULL ? a->port : 0;
}
