/*
 * daemon/daemon.c - the running daemon: ordered start, SIGHUP reload, SIGTERM shutdown
 *
 * Interface: daemon_run(), daemon_verbosity()
 * Order:     loop -> signals -> root check -> descriptor limit raised and shared out
 *            (common/fd_budget.h, logged "fd budget: ...") -> the sockets systemd passed
 *            (socket activation, listen.h) -> resolver (binds) -> publisher (binds) ->
 *            admin endpoint (binds, admin.h) -> a passed socket none took is an error ->
 *            state directory (created while still root) -> drop privileges -> state
 *            database opened, its policies loaded into the resolver's cache
 *            (common/statedb.h; never fatal) -> watchdog -> READY=1, then STATUS= with
 *            counts every DAEMON_STATUS_INTERVAL_MS. Shutdown: STOPPING=1 -> admin stops
 *            accepting -> publisher freed -> resolver drains (process.shutdown_timeout) ->
 *            admin freed -> resolver freed (writes what the state database still lacks) ->
 *            state database closed -> exit 0.
 * Threads:   main loop only (the publisher has its own thread behind pub.h).
 * Ownership: struct daemon owns the current cfg and the state database handle; the
 *            resolver borrows both (res.h), the publisher copies what it needs (pub.h).
 * Errors:    startup: logged once, exit status 1, except the state database: a missing,
 *            unwritable, locked or foreign one is logged and the daemon runs memory-only;
 *            a damaged one is moved aside and replaced. Reload: logged, old state kept.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "acme.h"
#include "admin.h"
#include "cfg.h"
#include "curlm.h"
#include "daemon.h"
#include "err.h"
#include "fd_budget.h"
#include "listen.h"
#include "log.h"
#include "mtasts_limits.h"
#include "loop.h"
#include "mxcheck.h"
#include "rollout.h"
#include "pol_engine.h"
#include "pub.h"
#include "res.h"
#include "statedb.h"
#include "tlsrpt_recv.h"
#include "sysd.h"
#include "xalloc.h"

/* How often STATUS= (domains, lookups, cache entries) goes to systemd (ms). */
#define DAEMON_STATUS_INTERVAL_MS 10000
/* Descriptors the process holds at rest besides those of its parts (res_fd_fixed(),
 * pub_fd_fixed(), admin_fd_fixed()): stdin/out/err, sd-event's epoll, signalfd and timerfds,
 * the log socket, the state database's files (database, WAL, shared memory) and the files
 * SQLite, GnuTLS and libcurl open and keep. Counted on a running daemon (/proc/PID/fd):
 * 14 to 16. */
#define DAEMON_FD_BASE 16

struct daemon {
	struct loop *loop;
	struct cfg *cfg;
	struct cfg *cfg_started; /* what the process started with, kept when a reload replaces
	                          * cfg: restart-only keys are compared with it (a key changed
	                          * and changed back is not "changed" again) */
	struct res *res;
	struct pub *pub;
	struct admin *admin;
	struct curlm *curlm;        /* the ACME client's libcurl multi, on the main loop */
	struct curlm *fetch_curlm;  /* the resolver's policy fetches: threaded (curlm.h) */
	struct acme *acme;          /* NULL: no domain has cert = "acme" */
	struct mxcheck *mxcheck;    /* the periodic MX check (mxcheck.h), NULL when off */
	struct rollout *rollout;    /* the rollout of the published domains (rollout.h) */
	struct tlsrpt_recv *tlsrpt; /* the HTTPS TLSRPT receiver's storage, NULL: off */
	struct statedb *state;      /* NULL: memory-only (no state directory, or unusable) */
	char *state_path;           /* <state directory>/state.db once the directory is there */
	struct loop_timer status_timer;
	struct fd_budget fdb; /* the descriptor budget computed at start */
	const struct daemon_opts *opts;
	int stopping;
	int drop; /* drop privileges to uid/gid after binding */
	uid_t uid;
	gid_t gid;
};

int
daemon_verbosity(const struct cfg *cfg, int extra)
{
	int v = cfg->process.verbosity + extra;

	return v > 3 ? 3 : v;
}

/* "resolver serving, publisher serving (2 domains); 120 lookups, cache 35 entries" */
static void
daemon_status(struct daemon *d, char *out, size_t outlen)
{
	const struct cfg *c = d->cfg;
	const struct pol_counters *pc = d->res != NULL ? res_engine_counters(d->res) : NULL;
	size_t ndom = d->pub != NULL ? c->publisher.n_domains : 0;
	int n;

	n = snprintf(out, outlen, "resolver %s, publisher %s (%zu domain%s)",
	             pc != NULL ? "serving" : "off", d->pub != NULL ? "serving" : "off", ndom,
	             ndom == 1 ? "" : "s");
	if (n < 0) {
		out[0] = '\0';
		return;
	}
	if (pc != NULL && (size_t)n < outlen)
		(void)snprintf(out + n, outlen - (size_t)n, "; %llu lookup%s, cache %zu entr%s",
		               (unsigned long long)pc->lookups, pc->lookups == 1 ? "" : "s",
		               res_cache_entries(d->res),
		               res_cache_entries(d->res) == 1 ? "y" : "ies");
}

static void
daemon_status_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct daemon *d = arg;
	char status[256];

	if (d->stopping)
		return;
	daemon_status(d, status, sizeof(status));
	sysd_status("%s", status);
	loop_timer_start(loop, t, DAEMON_STATUS_INTERVAL_MS, daemon_status_tick, d);
}

/* ---- privileges ---- */

/* Before binding: decide whether and to whom privileges are dropped, so a bad user name
 * fails before anything is bound. */
static int
daemon_priv_prepare(struct daemon *d)
{
	const struct cfg_process *p = &d->cfg->process;
	const char *key = "";

	if (geteuid() != 0) {
		if (p->user != NULL)
			log_notice("process.user '%s' ignored: not started as root", p->user);
		return 0;
	}
	if (p->user == NULL) {
		if (!p->allow_root) {
			log_err("refusing to run as root: set process.user (or process.allow_root "
			        "= true) in %s",
			        d->cfg->path != NULL ? d->cfg->path : "the configuration");
			return -EPERM;
		}
		log_warn("running as root (process.allow_root); setting process.user is safer");
		return 0;
	}
	if (cfg_process_ids(p, &d->uid, &d->gid, &key) < 0) {
		log_err("%s: unknown %s '%s'", key,
		        strcmp(key, "process.user") == 0 ? "user" : "group",
		        strcmp(key, "process.user") == 0 ? p->user : p->group);
		return -ENOENT;
	}
	d->drop = 1;
	return 0;
}

/* After binding: clear supplementary groups, then setgid, then setuid. */
static int
daemon_priv_drop(struct daemon *d)
{
	if (!d->drop)
		return 0;
	if (setgroups(0, NULL) < 0) {
		log_err("setgroups: %s", strerror(errno));
		return -errno;
	}
	if (setgid(d->gid) < 0) {
		log_err("setgid(%u): %s", (unsigned)d->gid, strerror(errno));
		return -errno;
	}
	if (setuid(d->uid) < 0) {
		log_err("setuid(%u): %s", (unsigned)d->uid, strerror(errno));
		return -errno;
	}
	if (d->uid != 0 && setuid(0) == 0) {
		log_err("could regain root after dropping privileges");
		return -EPERM;
	}
	log_info("running as user %s (uid %u, gid %u)", d->cfg->process.user, (unsigned)d->uid,
	         (unsigned)d->gid);
	return 0;
}

/* ---- state database (docs/cache.md "State database") ---- */

/* The state directory, owned; NULL when process.state_directory is "". The default stands
 * for systemd's $STATE_DIRECTORY (StateDirectory= in the unit; the first of a list) when
 * the environment has one. */
static char *
daemon_state_dir(const struct cfg *cfg)
{
	const char *dir = cfg->process.state_directory, *env = getenv("STATE_DIRECTORY");

	if (dir == NULL)
		return NULL;
	if (strcmp(dir, CFG_STATE_DIRECTORY_DEFAULT) == 0 && env != NULL && env[0] == '/')
		return xstrndup(env, strcspn(env, ":"));
	return xstrdup(dir);
}

/* The daemon goes on without a state database: a notice on the embedded defaults (the
 * quick start, e.g. as an ordinary user), a warning when a config file asked for one. */
static void
daemon_state_unusable(const struct daemon *d, const char *what, const char *why, const char *detail)
{
	log_msg(d->cfg->path == NULL ? LOG_NOTICE : LOG_WARNING,
	        "state database: %s (%s%s%s): cached policies are kept in memory only and lost at "
	        "restart",
	        what, why, detail[0] != '\0' ? ": " : "", detail);
}

/* Before dropping privileges: create the state directory (given to process.user). */
static void
daemon_state_prepare(struct daemon *d)
{
	char *dir, *what;
	int r;

	/* its users: the resolver's cache, the TLSRPT receiver */
	if (d->res == NULL && !(d->pub != NULL && d->cfg->tlsrpt.receive))
		return;
	dir = daemon_state_dir(d->cfg);
	if (dir == NULL) {
		log_info("state database: off (process.state_directory is empty), cached policies "
		         "are kept in memory only");
		return;
	}
	r = statedb_mkdir(dir, d->drop ? d->uid : (uid_t)-1, d->gid);
	if (r < 0) {
		what = xasprintf("cannot create the state directory %s", dir);
		daemon_state_unusable(d, what, err_str(r), "");
		free(what);
	} else {
		d->state_path = xasprintf("%s/%s", dir, STATEDB_FILE_NAME);
	}
	free(dir);
}

/* After dropping privileges, before the loop runs: open the file (a damaged one is moved
 * aside and replaced), load its policies into the resolver's cache. */
static void
daemon_state_open(struct daemon *d)
{
	char err[512], aside[4200];
	int r;

	if (d->state_path == NULL)
		return;
	r = statedb_open(d->state_path, &d->state, err, sizeof(err));
	if (r == ERR_STATEDB_CORRUPT) {
		r = statedb_set_aside(d->state_path, loop_wall_s(d->loop), aside, sizeof(aside));
		if (r < 0) {
			daemon_state_unusable(d, d->state_path, "damaged, cannot be moved aside",
			                      err_str(r));
			return;
		}
		log_warn("state database %s: damaged (%s), moved aside to %s; starting a new one "
		         "(the policies it held are fetched again when looked up)",
		         d->state_path, err, aside);
		r = statedb_open(d->state_path, &d->state, err, sizeof(err));
	}
	if (r < 0) {
		daemon_state_unusable(d, d->state_path, err_str(r), err);
		return;
	}
	if (d->res == NULL) /* the file is created and migrated; the receiver opens its own */
		d->state = statedb_close(d->state);
	else if (res_set_statedb(d->res, d->state) < 0) /* logged */
		d->state = statedb_close(d->state);
}

/* The HTTPS TLSRPT receiver's storage (daemon/tlsrpt_recv.h), when tlsrpt.receive is on
 * and the publisher runs: at start, and at a reload that turns it on. */
static void
daemon_tlsrpt_start(struct daemon *d, const struct cfg *cfg)
{
	if (d->tlsrpt != NULL) {
		tlsrpt_recv_reload(d->tlsrpt, cfg);
		return;
	}
	if (d->pub == NULL || !cfg->tlsrpt.receive)
		return;
	if (d->state_path == NULL) {
		log_warn("tlsrpt.receive: no state database (process.state_directory), reports "
		         "POSTed to %s are answered 503",
		         PUB_TLSRPT_PATH);
		return;
	}
	d->tlsrpt = tlsrpt_recv_new(cfg, d->state_path);
	pub_set_tlsrpt(d->pub, tlsrpt_recv_store, d->tlsrpt);
	log_info("tlsrpt: receiving reports at https://mta-sts.<domain>%s", PUB_TLSRPT_PATH);
}

/* ---- the built-in ACME client (acme/acme.h, docs/publisher.md "ACME") ---- */

static int
daemon_acme_token_set(void *arg, const char *token, const char *key_authz)
{
	return pub_acme_token_set(((struct daemon *)arg)->pub, token, key_authz);
}

static void
daemon_acme_token_del(void *arg, const char *token)
{
	pub_acme_token_del(((struct daemon *)arg)->pub, token);
}

static void
daemon_acme_certs_changed(void *arg, const char *domain)
{
	(void)domain;
	pub_certs_changed(((struct daemon *)arg)->pub);
}

static int
daemon_acme_wanted(const struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < cfg->publisher.n_domains; i++)
		if (cfg->publisher.domains[i].acme)
			return 1;
	return 0;
}

/* Before dropping privileges: <state_directory> and its acme/ exist and belong to
 * process.user (the ACME client writes there as that user). */
static int
daemon_acme_prepare(struct daemon *d)
{
	const char *dir = d->cfg->process.state_directory;
	char *sub;
	int r;

	if (!daemon_acme_wanted(d->cfg) || d->pub == NULL)
		return 0;
	r = statedb_mkdir(dir, d->drop ? d->uid : (uid_t)-1, d->gid);
	if (r == 0) {
		sub = xasprintf("%s/acme", dir);
		r = statedb_mkdir(sub, d->drop ? d->uid : (uid_t)-1, d->gid);
		free(sub);
	}
	if (r < 0)
		log_err("ACME: cannot create %s/acme: %s", dir, err_str(r));
	return r;
}

/* After dropping privileges: the client reads what is there and plans its orders. */
static int
daemon_acme_start(struct daemon *d)
{
	const struct acme_hooks hooks = {
	        .token_set = daemon_acme_token_set,
	        .token_del = daemon_acme_token_del,
	        .certs_changed = daemon_acme_certs_changed,
	        .arg = d,
	};
	int r;

	if (d->pub == NULL)
		return 0;
	r = acme_new(d->loop, d->curlm, d->cfg, &hooks, &d->acme);
	if (r < 0) {
		log_err("ACME client: cannot start: %s", err_str(r));
		return r;
	}
	admin_set_acme(d->admin, d->acme);
	return 0;
}

/* ---- descriptor budget (common/fd_budget.h, docs/operations.md "File descriptors") ---- */

/* *v = at most max (max 0: the part did not run at start, leave it); *lowered counts it.
 * quiet: no log line (a dry run). */
static void
daemon_fd_clamp(unsigned *v, unsigned max, const char *key, unsigned limit, int quiet,
                unsigned *lowered)
{
	if (max == 0 || *v <= max)
		return;
	if (!quiet)
		log_warn("%s = %u is more than the descriptor budget gives it (RLIMIT_NOFILE %u, "
		         "see the fd budget line): using %u",
		         key, *v, limit, max);
	*v = max;
	(*lowered)++;
}

/* Bring what c asks for within the budget: at start, and to every reloaded configuration
 * (the budget itself is fixed at start). */
static unsigned
daemon_fd_apply(const struct fd_budget *b, struct cfg *c, int quiet)
{
	unsigned lowered = 0;

	daemon_fd_clamp(&c->publisher.max_connections, b->publisher, "publisher.max_connections",
	                b->limit, quiet, &lowered);
	if (c->publisher.max_connections_per_address > 0)
		daemon_fd_clamp(&c->publisher.max_connections_per_address, b->per_address,
		                "publisher.max_connections_per_address", b->limit, quiet, &lowered);
	daemon_fd_clamp(&c->resolver.max_connections, b->socketmap, "resolver.max_connections",
	                b->limit, quiet, &lowered);
	/* The fetcher runs fetch_concurrency + refresh_concurrency transfers (refreshes have slots
	 * of their own): the budget's fetches cover both, refreshes keep at most a quarter. */
	if (b->fetch > 0 &&
	    c->resolver.fetch_concurrency + c->resolver.refresh_concurrency > b->fetch) {
		unsigned refresh = b->fetch / 4 > 0 ? b->fetch / 4 : 1;

		if (c->resolver.refresh_concurrency < refresh)
			refresh = c->resolver.refresh_concurrency;
		daemon_fd_clamp(&c->resolver.refresh_concurrency, refresh,
		                "resolver.refresh_concurrency", b->limit, quiet, &lowered);
		daemon_fd_clamp(&c->resolver.fetch_concurrency,
		                b->fetch > refresh ? b->fetch - refresh : 1,
		                "resolver.fetch_concurrency", b->limit, quiet, &lowered);
	}
	daemon_fd_clamp(&c->resolver.dns_concurrency, b->dns, "resolver.dns_concurrency", b->limit,
	                quiet, &lowered);
	c->admin.max_connections = b->admin;
	/* the receiver's and the MX check's share of the reserve, fixed at start */
	if (b->tlsrpt > 0)
		daemon_fd_clamp(&c->tlsrpt.max_uploads, b->tlsrpt / FD_PER_STATEDB,
		                "tlsrpt.max_uploads", b->limit, quiet, &lowered);
	if (b->mxcheck > 0)
		daemon_fd_clamp(&c->publisher.mx_check_concurrency,
		                b->mxcheck / (MX_PROBE_HOSTS_MAX * FD_PER_MX_HOST),
		                "publisher.mx_check_concurrency", b->limit, quiet, &lowered);
	return lowered;
}

/* Raise the soft RLIMIT_NOFILE to the hard limit (systemd starts services at 1024 whatever
 * LimitNOFILE= says), give each part of c its budget (*ret_b), bring c within it; the
 * findings logged (a raise that fails, a limit too small, each key lowered), and the
 * budget line: always at start (log_budget), else (-n) only before keys it lowers, which
 * name it. Returns 0 or -EMFILE. */
static int
daemon_fd_budget(struct cfg *c, struct fd_budget *ret_b, int log_budget)
{
	struct cfg dry;
	unsigned before, after;
	struct fd_want w;
	char line[256];
	int r;

	r = fd_limit_raise(&before, &after);
	if (r < 0)
		log_warn("cannot raise the descriptor limit (RLIMIT_NOFILE) above %u: %s; sharing "
		         "what there is",
		         after, strerror(-r));
	else if (after > before && log_budget) /* not a finding: at start only */
		log_info("descriptor limit (RLIMIT_NOFILE) raised from %u to %u (the hard limit)",
		         before, after);
	w = (struct fd_want){
	        .limit = after,
	        .fixed = DAEMON_FD_BASE + res_fd_fixed(c) + pub_fd_fixed(c) + admin_fd_fixed(c) +
	                 /* the ACME client's transfers, one per order at most */
	                 (daemon_acme_wanted(c) ? ACME_ORDERS_MAX * FD_PER_FETCH : 0) +
	                 /* the policy fetches' worker threads */
	                 (c->resolver.enabled ? FD_CURLM_THREAD * curlm_threads_default() : 0),
	        .admin = admin_max_connections(c),
	        .tlsrpt = tlsrpt_recv_fd_want(c),
	        .mxcheck = mxcheck_fd_want(c),
	};
	if (c->publisher.n_domains > 0) {
		w.publisher = c->publisher.max_connections;
		w.listeners = (unsigned)(c->publisher.n_listen + c->publisher.n_http_listen);
		w.per_address = c->publisher.max_connections_per_address;
	}
	if (c->resolver.enabled) {
		w.socketmap = c->resolver.max_connections;
		w.fetch = c->resolver.fetch_concurrency + c->resolver.refresh_concurrency;
		w.dns = c->resolver.dns_concurrency;
	}
	r = fd_budget_compute(&w, ret_b);
	if (r < 0) {
		log_err("the descriptor limit (RLIMIT_NOFILE) is %u: too small to run this "
		        "configuration (it holds about %u at rest); give it at least %u: "
		        "LimitNOFILE= in the unit, or ulimit -n",
		        after, w.fixed, fd_budget_limit_min(&w));
		return r;
	}
	dry = *c; /* only its numbers change: nothing to free */
	if (log_budget || daemon_fd_apply(ret_b, &dry, 1) > 0) {
		(void)fd_budget_format(ret_b, line, sizeof(line));
		log_notice("fd budget: %s", line);
	}
	(void)daemon_fd_apply(ret_b, c, 0);
	return 0;
}

int
daemon_fd_check(struct cfg *c)
{
	struct fd_budget b;

	return daemon_fd_budget(c, &b, 0);
}

/* ---- reload ---- */

static void
daemon_log_restart_key(const char *key, void *arg)
{
	(void)arg;
	log_warn("reload: %s changed: requires restart, ignoring", key);
}

/* Log every changed key that only a restart applies (the key tables say which,
 * docs/config.md). The resolver logs its own listeners (res.h). */
static void
daemon_log_restart_keys(const struct cfg *o, const struct cfg *n, int pub_running)
{
	(void)cfg_restart_changes(o, n, daemon_log_restart_key, NULL);
	if (!pub_running && n->publisher.n_domains > 0)
		daemon_log_restart_key("publisher.domains", NULL);
}

int
daemon_cfg_load(const char *path, unsigned flags, struct cfg **ret_cfg, char *errbuf, size_t errlen)
{
	struct cfg *c = NULL;
	int r;

	r = cfg_load(path, &c, errbuf, errlen);
	if (r < 0)
		return r;
	r = (flags & DAEMON_CFG_CERTS_STRICT) ? pub_check_certs(c, errbuf, errlen) : 0;
	if (r < 0) {
		(void)cfg_free(c);
		return r;
	}
	*ret_cfg = c;
	return 0;
}

/* Serve the steps reached (rollout_apply() done on d->cfg): the first time, once the
 * rollout has read them, the publisher's held domains (pub_release_held()); after that,
 * when changed, a new snapshot. */
static void
daemon_rollout_serve(struct daemon *d, int changed)
{
	int r;

	if (d->pub == NULL)
		return;
	if (pub_held(d->pub)) {
		if (!rollout_loaded(d->rollout)) {
			log_warn(
			        "rollout: the steps reached cannot be read from the state database "
			        "yet: the domains with an automatic rollout answer 503 until they "
			        "can");
			return;
		}
		r = pub_release_held(d->pub, d->cfg);
	} else if (changed) {
		r = pub_reload(d->pub, d->cfg);
	} else {
		return;
	}
	if (r < 0)
		log_err("rollout: the publisher did not take the steps' policies: %s", err_str(r));
	admin_update(d->admin, d->cfg, d->res, d->pub);
}

/* A rollout step was taken: serve it (rollout_apply() on the configuration, then the
 * publisher's snapshot; a new policy id, its DNS records after: RFC 8461 section 8.3). */
static void
daemon_rollout_apply(void *arg)
{
	struct daemon *d = arg;
	int changed = rollout_apply(d->rollout, d->cfg);

	daemon_rollout_serve(d, changed);
}

/* The rollout for d->cfg (rollout.h): the steps reached are served at once. */
static void
daemon_rollout_reload(struct daemon *d)
{
	int changed = 0, r;

	/* the MX check may be a new one (mxcheck_reload()): never read the old one's reports */
	rollout_set_mxcheck(d->rollout, d->mxcheck);
	r = rollout_reload(&d->rollout, d->loop, d->cfg, d->state_path, &changed);
	if (r < 0)
		log_warn("rollout: %s", err_str(r));
	rollout_set_apply(d->rollout, daemon_rollout_apply, d);
	rollout_set_mxcheck(d->rollout, d->mxcheck);
	admin_set_rollout(d->admin, d->rollout);
	daemon_rollout_serve(d, changed);
}

/* The MX check for d->cfg: started, rebuilt or stopped (mxcheck.h); never fatal. */
static void
daemon_mxcheck_reload(struct daemon *d)
{
	int r = mxcheck_reload(&d->mxcheck, d->loop, d->cfg);

	if (r < 0)
		log_warn("MX check: cannot start: %s; the MX hosts are not checked", err_str(r));
	admin_set_mxcheck(d->admin, d->mxcheck);
	/* the rollout reads the MX check's reports and serves its steps (docs/rollout.md) */
	daemon_rollout_reload(d);
}

/* Returns 1 when the new configuration was applied, 0 when the old one was kept. */
static int
daemon_reload(struct daemon *d)
{
	const char *path = d->opts->cfg_path;
	struct cfg *nc = NULL, *old;
	char errbuf[1024];
	int r;

	if (d->opts->cfg_optional && access(path, F_OK) < 0) {
		log_notice("reload: no configuration file %s, keeping the embedded defaults", path);
		return 1;
	}
	r = daemon_cfg_load(path, 0, &nc, errbuf, sizeof(errbuf)); /* a bad certificate: that
	                                                            * domain only (publisher) */
	if (r < 0) {
		log_err("reload failed: %s; keeping the old configuration", errbuf);
		return 0;
	}
	(void)daemon_fd_apply(&d->fdb, nc, 0);
	daemon_log_restart_keys(d->cfg_started, nc, d->pub != NULL);
	for (size_t i = 0; i < nc->publisher.n_domains; i++) {
		const struct cfg_domain *nd = &nc->publisher.domains[i];

		if (nd->acme && !acme_knows(d->acme, nd->domain))
			log_dom_warn(
			        nd->domain,
			        "reload: cert = \"acme\" is new: requires restart for the ACME "
			        "client to order it, ignoring");
	}
	(void)rollout_apply(d->rollout, nc); /* the steps reached, not a flicker to the config */
	if (d->pub != NULL) {
		r = pub_reload(d->pub, nc);
		if (r < 0) {
			log_err("reload failed: publisher: %s; keeping the old configuration",
			        err_str(r));
			goto fail;
		}
	}
	if (d->res != NULL) {
		r = res_reload(d->res, nc);
		if (r < 0) {
			log_err("reload: resolver: %s; the resolver keeps its old configuration",
			        err_str(r));
			goto fail;
		}
	}
	daemon_tlsrpt_start(d, nc);
	admin_set_tlsrpt(d->admin, d->state_path, d->tlsrpt);
	old = d->cfg;
	d->cfg = nc;
	daemon_mxcheck_reload(d);
	admin_update(d->admin, d->cfg, d->res, d->pub);
	if (old != d->cfg_started)
		(void)cfg_free(old);
	log_set_verbosity(daemon_verbosity(d->cfg, d->opts->extra_verbosity));
	log_notice("configuration reloaded from %s", path);
	return 1;
fail:
	(void)cfg_free(nc);
	return 0;
}

/* ---- signals ---- */

static void
daemon_on_hup(struct loop *loop, int sig, void *arg)
{
	struct daemon *d = arg;
	char status[256];

	if (d->stopping)
		return;
	sysd_reloading();
	admin_note_reload(d->admin, daemon_reload(d));
	daemon_status(d, status, sizeof(status));
	sysd_ready(status);
}

static void
daemon_shutdown_done(void *arg)
{
	struct daemon *d = arg;

	log_notice("shutdown complete");
	loop_exit(d->loop, 0);
}

static void
daemon_on_term(struct loop *loop, int sig, void *arg)
{
	struct daemon *d = arg;

	if (d->stopping) {
		log_notice("%s again, exiting now", strsignal(sig));
		loop_exit(loop, 0);
		return;
	}
	d->stopping = 1;
	log_notice("%s: shutting down (up to %llu ms for in-flight lookups)", strsignal(sig),
	           (unsigned long long)d->cfg->process.shutdown_timeout_ms);
	sysd_stopping();
	loop_timer_stop(loop, &d->status_timer);
	admin_stop_accepting(d->admin);
	admin_set_rollout(d->admin, NULL);
	d->rollout = rollout_free(d->rollout);
	admin_set_mxcheck(d->admin, NULL);
	d->mxcheck = mxcheck_free(d->mxcheck);
	d->pub = pub_free(d->pub);
	admin_update(d->admin, d->cfg, d->res, d->pub);
	if (d->res != NULL)
		res_shutdown(d->res, d->cfg->process.shutdown_timeout_ms, daemon_shutdown_done, d);
	else
		daemon_shutdown_done(d);
}

/* ---- socket activation (listen.h, docs/operations.md "Socket activation") ---- */

/* Before binding: take the listening sockets systemd passed, if any. */
static int
daemon_passed_scan(void)
{
	char errbuf[512];
	int r = listen_passed_scan(errbuf, sizeof(errbuf));

	if (r < 0)
		log_err("socket activation: %s", errbuf);
	else if (r > 0)
		log_info("socket activation: %d listening socket%s from the service manager", r,
		         r == 1 ? "" : "s");
	return r;
}

/* After every listener is open: a passed socket that none took is a startup error (its
 * clients would wait in its backlog for ever). */
static int
daemon_passed_finish(void)
{
	char errbuf[512];
	int r = listen_passed_finish(errbuf, sizeof(errbuf));

	if (r < 0)
		log_err("socket activation: %s", errbuf);
	return r;
}

/* ---- run ---- */

/* A part did not start (r < 0): say so, unless the listener's own message is the whole
 * story (ERR_LISTEN_PASSED names the passed socket, the config key and the fix; a second
 * "cannot start" line would only repeat it in vaguer words). */
static void
daemon_part_failed(const char *part, int r)
{
	if (r != ERR_LISTEN_PASSED)
		log_err("%s: cannot start: %s", part, err_str(r));
}

static int
daemon_start(struct daemon *d)
{
	char status[256];
	int r;

	r = loop_new(&d->loop);
	if (r < 0) {
		log_err("cannot create the event loop: %s", err_str(r));
		return r;
	}
	if ((r = loop_signal_add(d->loop, SIGHUP, daemon_on_hup, d)) < 0 ||
	    (r = loop_signal_add(d->loop, SIGTERM, daemon_on_term, d)) < 0 ||
	    (r = loop_signal_add(d->loop, SIGINT, daemon_on_term, d)) < 0) {
		log_err("cannot set up signal handling: %s", err_str(r));
		return r;
	}
	r = daemon_priv_prepare(d);
	if (r < 0)
		return r;
	r = daemon_fd_budget(d->cfg, &d->fdb, 1);
	if (r < 0)
		return r;
	r = daemon_passed_scan();
	if (r < 0)
		return r;
	/* The multis only for their users: libcurl's multi holds a wakeup socketpair. The
	 * policy fetches run on worker threads, one per core (their TLS handshakes use every
	 * core), the ACME client on the main loop (its callbacks touch its state). */
	if (daemon_acme_wanted(d->cfg)) {
		r = curlm_new(d->loop, &d->curlm);
		if (r < 0) {
			log_err("cannot start libcurl: %s", err_str(r));
			return r;
		}
	}
	if (d->cfg->resolver.enabled) {
		r = curlm_new_threaded(d->loop, 0, &d->fetch_curlm);
		if (r < 0) {
			log_err("cannot start libcurl's fetch thread: %s", err_str(r));
			return r;
		}
		r = res_new_on(d->loop, d->fetch_curlm, d->cfg, &d->res);
		if (r < 0) {
			d->res = NULL;
			daemon_part_failed("resolver", r);
			return r;
		}
	}
	r = pub_new(d->loop, d->cfg, &d->pub);
	if (r < 0) {
		d->pub = NULL;
		daemon_part_failed("publisher", r);
		return r;
	}
	r = admin_new(d->loop, d->cfg, &d->admin);
	if (r < 0) {
		daemon_part_failed("admin", r);
		return r;
	}
	r = daemon_passed_finish();
	if (r < 0)
		return r;
	admin_update(d->admin, d->cfg, d->res, d->pub);
	if (d->res == NULL && d->pub == NULL)
		log_warn("nothing to do: the resolver is disabled and no publisher domain is "
		         "configured; waiting for SIGTERM");
	daemon_state_prepare(d);
	r = daemon_acme_prepare(d);
	if (r < 0)
		return r;
	r = daemon_priv_drop(d);
	if (r < 0)
		return r;
	daemon_state_open(d);
	r = daemon_acme_start(d);
	if (r < 0)
		return r;
	daemon_tlsrpt_start(d, d->cfg);
	admin_set_tlsrpt(d->admin, d->state_path, d->tlsrpt);
	if (d->state != NULL) /* its metrics */
		admin_update(d->admin, d->cfg, d->res, d->pub);
	daemon_mxcheck_reload(d);
	r = loop_watchdog_enable(d->loop);
	if (r < 0)
		log_warn("cannot enable the systemd watchdog: %s, continuing without", err_str(r));
	daemon_status(d, status, sizeof(status));
	log_notice("mtastsd %s started: %s", MTASTSD_VERSION, status);
	sysd_ready(status);
	loop_timer_start(d->loop, &d->status_timer, DAEMON_STATUS_INTERVAL_MS, daemon_status_tick,
	                 d);
	return 0;
}

int
daemon_run(struct cfg *cfg, const struct daemon_opts *opts)
{
	struct daemon d = {.cfg = cfg, .cfg_started = cfg, .opts = opts};
	int r, code = 1;

	(void)signal(SIGPIPE, SIG_IGN);
	log_set_verbosity(daemon_verbosity(cfg, opts->extra_verbosity));
	r = daemon_start(&d);
	if (r < 0)
		goto fail;
	r = loop_run(d.loop);
	if (r < 0) {
		log_err("event loop failed: %s", err_str(r));
		goto fail;
	}
	code = r;
fail:
	if (d.loop != NULL)
		loop_timer_stop(d.loop, &d.status_timer);
	(void)listen_passed_finish(NULL, 0); /* a failed start: close what none took */
	d.admin = admin_free(d.admin);       /* before the receiver it reads the counters of */
	d.rollout = rollout_free(d.rollout); /* before the MX check it reads the reports of */
	d.mxcheck = mxcheck_free(d.mxcheck);
	d.acme = acme_free(d.acme); /* before the publisher: it removes its http-01 tokens */
	d.pub = pub_free(d.pub);
	d.tlsrpt = tlsrpt_recv_free(d.tlsrpt); /* after the publisher's threads stopped */
	d.res = res_free(d.res); /* before the state database: it writes what is pending */
	d.fetch_curlm = curlm_free(d.fetch_curlm); /* after the resolver: joins its thread */
	d.curlm = curlm_free(d.curlm);             /* after the ACME client */
	d.state = statedb_close(d.state);
	free(d.state_path);
	if (d.loop != NULL)
		d.loop = loop_free(d.loop);
	if (d.cfg_started != d.cfg)
		(void)cfg_free(d.cfg_started);
	(void)cfg_free(d.cfg);
	return code;
}
