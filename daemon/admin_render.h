/*
 * daemon/admin_render.h - the admin endpoint's bodies, rendered without I/O
 *
 * What admin.c's request handlers send: /status (JSON), /metrics (Prometheus text), the
 * status page (HTML) and /policies/<domain> (JSON), each built from a running admin
 * endpoint's registries and the facts gathered for the request. Used by admin.c and by
 * the tests that compare the bodies with golden files without an HTTP client. The rest of
 * the endpoint (struct admin, its listener and handlers) is private to daemon/
 * (daemon/internal/admin_int.h); everything else uses admin.h.
 *
 * Interface: struct admin_facts, admin_facts_collect(), admin_facts_tlsrpt(), admin_facts_free(),
 *            admin_render_status(), admin_render_metrics(), admin_render_html(),
 *            admin_render_policy(), admin_cfg_sha256() (admin_render.c)
 * Threads:   main loop only.
 * Ownership: a from admin_new() (admin.h), borrowed. admin_facts_collect() fills f with
 *            owned data that admin_facts_free() releases (f itself is the caller's). Every
 *            admin_render_*() returns an owned NUL-terminated buffer (free()).
 * Errors:    none; allocation failure dies (xalloc).
 */
#ifndef MTASTSD_ADMIN_RENDER_H
#define MTASTSD_ADMIN_RENDER_H

#include <stddef.h>
#include <time.h>

#include "pub.h"
#include "res.h"

struct admin;

/* Recent failures listed in /status and on the page (newest first). */
#define ADMIN_FAILURES_MAX 20

/* What the renderers show besides the metrics, gathered once per request. */
struct tlsrpt_summary;
struct admin_facts {
	time_t now;
	/* the TLS reports of the last TLSRPT_CHART_DAYS days (docs/tlsrpt.md), NULL when
	 * there is no state database or it cannot be read: no TLSRPT section */
	struct tlsrpt_summary *tlsrpt;
	struct pub_info *pub; /* never NULL; no domains when the publisher is off */
	size_t n_failures;
	struct res_failure failures[ADMIN_FAILURES_MAX];
};

/* The facts every body needs (not the TLS reports). */
void admin_facts_collect(struct admin *a, struct admin_facts *f);
/* Add the TLS reports' summary (f->tlsrpt), for the status page only: /status does not
 * show it, and it reads the state database. Left NULL when it cannot be read. */
void admin_facts_tlsrpt(struct admin *a, struct admin_facts *f);
void admin_facts_free(struct admin_facts *f);

char *admin_render_status(struct admin *a, const struct admin_facts *f);
char *admin_render_metrics(struct admin *a);
char *admin_render_html(struct admin *a, const struct admin_facts *f);
/* JSON for the cache entry of dom (normalised); NULL when nothing is cached. */
char *admin_render_policy(struct admin *a, const char *dom);
/* The config digest the bodies show: hex SHA-256 of the config file, "" when there is no
 * file or it cannot be read (borrowed from a, until its next admin_update()). */
const char *admin_cfg_sha256(const struct admin *a);

#endif
