/*
 * publisher/pub.c - publisher lifecycle: snapshots, listeners, certificate reload, policy id
 *
 * Interface: pub_new(), pub_reload(), pub_release_held(), pub_held(), pub_free(),
 *            pub_threads(), pub_policy_id(),
 *            pub_certs_changed(), pub_acme_token_set/del/get()
 *            (pub.h); pub_snap_find_host() (pub_route.h); pub_snap_acquire(),
 *            pub_snap_unref() (pub_int.h)
 * Design:    docs/style.md section 9 option B. Every HTTPS and HTTP listener is a libmicrohttpd
 *            daemon with its own polling thread on a socket bound by common/listen.c, run
 *            by common/httpd.c (logger, request deadline, connection counters). What they
 *            serve (policies, certificates, ACME webroot, Cache-Control) is one immutable,
 *            reference-counted struct pub_snap. The main loop builds a new snapshot on
 *            SIGHUP (pub_reload()) or when a certificate file changes (inotify on their
 *            directories, events on the other files there ignored; debounced), and
 *            swaps the pointer under snap_lock; connections that hold the old snapshot
 *            keep it until they close, so established connections are never dropped.
 *            HTTPS listeners run a pool of pub->threads MHD threads (one per CPU, at most
 *            PUB_THREADS_MAX): the snapshot is the only shared state. Session resumption:
 *            one random ticket key per process (gnutls_session_ticket_key_generate; GnuTLS
 *            rotates the keys it derives from it), enabled on each TLS session in
 *            pub_tls_conn_opened() before its handshake, as libmicrohttpd 0.9.75
 *            has no option for it. Restarting the daemon invalidates the tickets.
 * Threads:   everything here runs on the main loop except pub_snap_acquire()/unref(),
 *            which the MHD threads call too.
 * Ownership: struct pub copies what it needs from struct cfg.
 * Errors:    startup errors are returned (and logged once here); a reload error or a
 *            certificate that fails to load keeps the old snapshot serving.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "err.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "pub.h"
#include "pub_dnsupdate.h"
#include "pub_int.h"
#include "xalloc.h"

/* inotify reads per wake-up before yielding to the loop. */
#define PUB_INOTIFY_READS_MAX 64

/* ---- policy id ---- */

char *
pub_policy_id(const struct cfg_domain *d)
{
	/* RFC 4648 base32hex alphabet, lower case: ALPHA/DIGIT only (RFC 8461 section 3.1). */
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
	unsigned char digest[32];
	char *text, *id;
	unsigned bits = 0, acc = 0;
	size_t i, n = 0;

	if (d->id != NULL)
		return xstrdup(d->id);
	text = sts_policy_serialize(&d->policy);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), digest) < 0)
		die("publisher: SHA-256 is not available from GnuTLS");
	free(text);
	/* 160 bits of the digest as 32 base32 characters (STS_ID_MAX). */
	id = xmalloc(STS_ID_MAX + 1);
	for (i = 0; i < sizeof(digest) && n < STS_ID_MAX; i++) {
		acc = (acc << 8) | digest[i];
		bits += 8;
		while (bits >= 5 && n < STS_ID_MAX) {
			bits -= 5;
			id[n++] = alphabet[(acc >> bits) & 31];
		}
	}
	id[n] = '\0';
	return id;
}

/* ---- snapshots ---- */

static void
snap_free(struct pub_snap *s)
{
	size_t i;

	for (i = 0; i < s->n_doms; i++) {
		free(s->doms[i].domain);
		free(s->doms[i].host);
		free(s->doms[i].body);
		free(s->doms[i].id);
		free(s->doms[i].cert_file);
		free(s->doms[i].key_file);
		free(s->doms[i].cert_error);
	}
	free(s->doms);
	for (i = 0; i < s->n_certs; i++)
		pub_cert_unref(s->certs[i]);
	free(s->certs);
	free(s->acme_webroot);
	free(s);
}

void
pub_snap_unref(struct pub_snap *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub(&s->refs, 1) == 1)
		snap_free(s);
}

struct pub_snap *
pub_snap_acquire(struct pub *pub)
{
	struct pub_snap *s;

	(void)pthread_mutex_lock(&pub->snap_lock);
	s = pub->snap;
	atomic_fetch_add(&s->refs, 1);
	(void)pthread_mutex_unlock(&pub->snap_lock);
	return s;
}

/* Main loop: make s current; the previous snapshot goes when its last user lets go. */
static void
snap_publish(struct pub *pub, struct pub_snap *s)
{
	struct pub_snap *old;

	(void)pthread_mutex_lock(&pub->snap_lock);
	old = pub->snap;
	pub->snap = s;
	(void)pthread_mutex_unlock(&pub->snap_lock);
	pub_snap_unref(old);
}

const struct pub_dom *
pub_snap_find_host(const struct pub_snap *s, const char *host, size_t host_len)
{
	size_t i;

	for (i = 0; i < s->n_doms; i++)
		if (strlen(s->doms[i].host) == host_len &&
		    strncasecmp(s->doms[i].host, host, host_len) == 0)
			return &s->doms[i];
	return NULL;
}

static struct pub_snap *
snap_alloc(size_t n_doms)
{
	struct pub_snap *s;

	s = xcalloc(1, sizeof(*s));
	atomic_init(&s->refs, 1);
	s->doms = xcalloc(n_doms ? n_doms : 1, sizeof(*s->doms));
	s->certs = xcalloc(n_doms ? n_doms : 1, sizeof(*s->certs));
	return s;
}

/* Policies of cfg, without certificates yet; with hold, the domains with an automatic
 * rollout are held (struct pub_dom). */
static int
snap_from_cfg(const struct cfg *cfg, int hold, struct pub_snap **ret_snap)
{
	const struct cfg_publisher *p = &cfg->publisher;
	const struct cfg_domain *cd;
	struct sts_parse_error perr;
	struct pub_snap *s;
	struct pub_dom *d;
	size_t i;
	int r;

	s = snap_alloc(p->n_domains);
	for (i = 0; i < p->n_domains; i++) {
		cd = &p->domains[i];
		memset(&perr, 0, sizeof(perr));
		r = sts_policy_validate(&cd->policy, &perr);
		if (r < 0) {
			log_dom_err(cd->domain, "invalid policy: %s", perr.reason);
			goto fail;
		}
		if (cd->cert_file == NULL || cd->key_file == NULL) {
			log_dom_err(cd->domain, "publisher needs cert and key files");
			r = -EINVAL;
			goto fail;
		}
		d = &s->doms[s->n_doms++];
		d->domain = xstrdup(cd->domain);
		d->host = xasprintf("mta-sts.%s", cd->domain);
		d->body = sts_policy_serialize(&cd->policy);
		d->body_len = strlen(d->body);
		d->id = pub_policy_id(cd);
		d->cert_file = xstrdup(cd->cert_file);
		d->key_file = xstrdup(cd->key_file);
		d->acme = cd->acme;
		d->held = hold && cd->rollout.target == CFG_ROLLOUT_ENFORCE;
		if (d->body_len > STS_POLICY_BODY_MAX) {
			log_dom_err(cd->domain, "policy is larger than %d bytes",
			            STS_POLICY_BODY_MAX);
			r = ERR_POLICY_TOO_LARGE;
			goto fail;
		}
	}
	(void)snprintf(s->cache_control, sizeof(s->cache_control), "max-age=%u",
	               (unsigned)p->cache_control_max_age_s);
	if (p->acme_webroot != NULL)
		s->acme_webroot = xstrdup(p->acme_webroot);
	s->tlsrpt_receive = cfg->tlsrpt.receive;
	s->tlsrpt_max_body = cfg->tlsrpt.max_body;
	s->tlsrpt_rate = cfg->tlsrpt.rate_per_address;
	s->tlsrpt_max_uploads = cfg->tlsrpt.max_uploads;
	s->tlsrpt_min_rate = cfg->tlsrpt.min_upload_rate;
	*ret_snap = s;
	return 0;
fail:
	snap_free(s);
	return r;
}

/* A copy of s's policies for a certificate-only reload. */
static struct pub_snap *
snap_clone_policies(const struct pub_snap *old)
{
	struct pub_snap *s;
	struct pub_dom *d;
	size_t i;

	s = snap_alloc(old->n_doms);
	for (i = 0; i < old->n_doms; i++) {
		d = &s->doms[s->n_doms++];
		d->domain = xstrdup(old->doms[i].domain);
		d->host = xstrdup(old->doms[i].host);
		d->body = xstrdup(old->doms[i].body);
		d->body_len = old->doms[i].body_len;
		d->id = xstrdup(old->doms[i].id);
		d->cert_file = xstrdup(old->doms[i].cert_file);
		d->key_file = xstrdup(old->doms[i].key_file);
		d->acme = old->doms[i].acme;
		d->held = old->doms[i].held;
	}
	memcpy(s->cache_control, old->cache_control, sizeof(s->cache_control));
	if (old->acme_webroot != NULL)
		s->acme_webroot = xstrdup(old->acme_webroot);
	s->tlsrpt_receive = old->tlsrpt_receive;
	s->tlsrpt_max_body = old->tlsrpt_max_body;
	s->tlsrpt_rate = old->tlsrpt_rate;
	s->tlsrpt_max_uploads = old->tlsrpt_max_uploads;
	s->tlsrpt_min_rate = old->tlsrpt_min_rate;
	return s;
}

static struct pub_cert *
snap_cert_find(const struct pub_snap *s, const char *cert_file, const char *key_file)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->n_certs; i++)
		if (strcmp(s->certs[i]->cert_file, cert_file) == 0 &&
		    strcmp(s->certs[i]->key_file, key_file) == 0)
			return s->certs[i];
	return NULL;
}

static int
cert_same_files(const struct pub_cert *a, const struct pub_cert *b)
{
	return a->cert_len == b->cert_len && a->key_len == b->key_len &&
	       memcmp(a->cert_data, b->cert_data, a->cert_len) == 0 &&
	       memcmp(a->key_data, b->key_data, a->key_len) == 0;
}

/* Every domain of s served from c's files must be named by c (RFC 8461 section 3.3): the
 * SNI choice (pub_tls_pick()) gives mta-sts.<domain> exactly that domain's certificate.
 * common/cfg.c makes the same check when the configuration is loaded. */
static int
cert_check_names(const struct pub_snap *s, const struct pub_cert *c, char *errbuf, size_t errlen)
{
	char names[256];
	size_t i, j, len;

	for (i = 0; i < s->n_doms; i++) {
		const struct pub_dom *d = &s->doms[i];

		if (strcmp(d->cert_file, c->cert_file) != 0 ||
		    strcmp(d->key_file, c->key_file) != 0 || pub_cert_covers(c, d->host))
			continue;
		names[0] = '\0';
		for (j = 0, len = 0; j < c->n_names && j < 8 && len < sizeof(names); j++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
			                        j > 0 ? ", " : "", c->names[j]);
		(void)snprintf(errbuf, errlen,
		               "certificate %s does not name %s (it names %s%s); senders would "
		               "refuse it",
		               c->cert_file, d->host, c->n_names > 0 ? names : "nothing",
		               c->n_names > 8 ? ", ..." : "");
		return ERR_CONFIG;
	}
	return 0;
}

static void
cert_check_expiry(const struct pub_dom *d, const struct pub_cert *c, time_t now)
{
	if (c->not_after != (time_t)-1 && c->not_after < now)
		log_dom_warn(d->domain, "certificate %s has expired, serving it anyway",
		             c->cert_file);
}

/* Fill s->certs and every dom's cert. A certificate that fails to load (or does not name
 * a domain it serves) is replaced by the one old had for the same files, or else by the one
 * old served the same domain with (a reload that named other files; logged); without
 * one that domain is not published (cert NULL, cert_error says why, logged as an error):
 * one bad certificate never takes the other domains or the resolver down (issue 15).
 * *ret_changed is set when anything differs from old. Returns 0. */
static int
snap_load_certs(struct pub_snap *s, const struct pub_snap *old, int *ret_changed)
{
	struct pub_cert *c, *prev;
	const struct pub_dom *od;
	char errbuf[768];
	struct pub_dom *d;
	time_t now = time(NULL);
	int changed = 0, r;
	size_t i;

	for (i = 0; i < s->n_doms; i++) {
		d = &s->doms[i];
		c = snap_cert_find(s, d->cert_file, d->key_file);
		if (c != NULL) {
			d->cert = c;
			continue;
		}
		prev = snap_cert_find(old, d->cert_file, d->key_file);
		errbuf[0] = '\0';
		r = pub_cert_load(d->cert_file, d->key_file, &c, errbuf, sizeof(errbuf));
		if (r == 0) {
			r = cert_check_names(s, c, errbuf, sizeof(errbuf));
			if (r < 0)
				pub_cert_unref(c);
		}
		if (r < 0 && prev == NULL && d->acme && access(d->cert_file, F_OK) < 0) {
			/* not ordered yet: the ACME client's first order brings it */
			if (old == NULL)
				log_dom_notice(
				        d->domain,
				        "no certificate yet (%s): the ACME client orders one; "
				        "mta-sts.%s is published once it arrives",
				        d->cert_file, d->domain);
			d->cert_error = xstrdup("waiting for the first ACME order");
			changed = 1;
			continue;
		}
		if (r < 0 && prev == NULL && old != NULL &&
		    (od = pub_snap_find_host(old, d->host, strlen(d->host))) != NULL &&
		    od->cert != NULL) {
			/* A reload gave this published domain other files that do not load:
			 * keep serving the certificate it had, as a failed file change does. */
			log_dom_err(d->domain,
			            "%s; keeping the certificate loaded before (%s, key %s)",
			            errbuf, od->cert->cert_file, od->cert->key_file);
			od->cert->reload_failed = 1;
			d->cert = snap_cert_find(s, od->cert->cert_file, od->cert->key_file);
			if (d->cert == NULL) {
				d->cert = pub_cert_ref(od->cert);
				s->certs[s->n_certs++] = d->cert;
			}
			changed = 1;
			continue;
		}
		if (r < 0 && prev == NULL) {
			log_dom_err(d->domain,
			            "%s; mta-sts.%s is not published until this is fixed (the "
			            "other domains and the resolver run; fix the files and reload)",
			            errbuf, d->domain);
			d->cert_error = xstrdup(errbuf[0] != '\0' ? errbuf : err_str(r));
			changed = 1;
			continue;
		}
		if (r < 0) {
			log_dom_err(d->domain, "%s; keeping the certificate loaded before", errbuf);
			prev->reload_failed = 1;
			c = pub_cert_ref(prev);
		} else if (prev != NULL && cert_same_files(prev, c)) {
			pub_cert_unref(c);
			c = pub_cert_ref(prev);
			if (prev->reload_failed) {
				prev->reload_failed = 0;
				log_dom_notice(d->domain,
				               "certificate %s and key %s load again (recovered); "
				               "the certificate loaded before stays in service",
				               d->cert_file, d->key_file);
			}
		} else {
			changed = 1;
			/* new files for a domain served before: say what replaced what */
			if (prev == NULL && old != NULL &&
			    (od = pub_snap_find_host(old, d->host, strlen(d->host))) != NULL)
				prev = od->cert;
			if (prev != NULL && prev->reload_failed)
				log_dom_notice(
				        d->domain,
				        "certificate %s loaded (replaced; recovered from the "
				        "failed reload)",
				        d->cert_file);
			else if (prev != NULL)
				log_dom_notice(d->domain, "certificate %s loaded (replaced)",
				               d->cert_file);
			cert_check_expiry(d, c, now);
		}
		s->certs[s->n_certs++] = c;
		d->cert = c;
	}
	if (old == NULL || old->n_certs != s->n_certs)
		changed = 1;
	*ret_changed = changed;
	return 0;
}

/* ---- certificate file watching ---- */

/* Note that the file name of path (after its last '/') in the directory watched as wd is
 * one of ours. */
static void
watch_name_add(struct pub *pub, int wd, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct pub_watch_name *w;

	pub->watch_names =
	        xrealloc(pub->watch_names, (pub->n_watch_names + 1) * sizeof(*pub->watch_names));
	w = &pub->watch_names[pub->n_watch_names++];
	w->wd = wd;
	w->name = xstrdup(slash != NULL ? slash + 1 : path);
}

static void
watch_names_clear(struct pub *pub)
{
	size_t i;

	for (i = 0; i < pub->n_watch_names; i++)
		free(pub->watch_names[i].name);
	free(pub->watch_names);
	pub->watch_names = NULL;
	pub->n_watch_names = 0;
}

/* Whether inotify event ev may concern a certificate or key file: its name (in the
 * directory of its watch) is one of ours, or the event is about the watch itself (the
 * directory deleted or moved, the watch gone, events lost). Writes to other files of the
 * directory (logs, other services' files) are not. */
static int
watch_event_ours(const struct pub *pub, const struct inotify_event *ev)
{
	size_t i;

	if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
		return 1;
	if (ev->len == 0 || memchr(ev->name, '\0', ev->len) == NULL)
		return 0;
	for (i = 0; i < pub->n_watch_names; i++)
		if (pub->watch_names[i].wd == ev->wd &&
		    strcmp(pub->watch_names[i].name, ev->name) == 0)
			return 1;
	return 0;
}

/* Watch the directory of path (and, for a symlink, the directory it points into); note the
 * file names watched. Returns 0, or -errno when the directory cannot be watched (ENOSPC:
 * the inotify watch limit of the user, fs.inotify.max_user_watches). */
static int
watch_dir_of(struct pub *pub, const char *path)
{
	char *dir, *slash, *real;
	int wd, r = 0;

	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir) {
		dir[1] = '\0';
	} else {
		*slash = '\0';
	}
	wd = inotify_add_watch(pub->inotify_fd, dir,
	                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
	                               IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
	if (wd < 0)
		r = -errno;
	else
		watch_name_add(pub, wd, path);
	free(dir);
	/* Let's Encrypt: live/<name>/fullchain.pem is a symlink into archive/<name>/. */
	real = realpath(path, NULL);
	if (real != NULL && strcmp(real, path) != 0) {
		slash = strrchr(real, '/');
		if (slash != NULL && slash != real) {
			*slash = '\0';
			wd = inotify_add_watch(pub->inotify_fd, real,
			                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
			                               IN_ONLYDIR);
			if (wd < 0 && r == 0 && errno != ENOENT)
				r = -errno;
			else if (wd >= 0)
				watch_name_add(pub, wd, slash + 1);
		}
	}
	free(real);
	return r;
}

/* The stat(2) data (following symlinks) of every certificate and key file, hashed: a
 * replaced, rewritten or removed file changes it. Fills out (32 bytes). */
static void
certs_stat_digest(const struct pub_snap *s, unsigned char out[32])
{
	gnutls_hash_hd_t h;
	struct {
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtim, ctim;
		int err;
	} rec;
	struct stat st;
	const char *files[2];
	size_t i, j;

	memset(out, 0, 32);
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return;
	for (i = 0; i < s->n_doms; i++) {
		files[0] = s->doms[i].cert_file;
		files[1] = s->doms[i].key_file;
		for (j = 0; j < 2; j++) {
			memset(&rec, 0, sizeof(rec));
			if (stat(files[j], &st) < 0) {
				rec.err = errno;
			} else {
				rec.dev = st.st_dev;
				rec.ino = st.st_ino;
				rec.size = st.st_size;
				rec.mtim = st.st_mtim;
				rec.ctim = st.st_ctim;
			}
			(void)gnutls_hash(h, &rec, sizeof(rec));
		}
	}
	gnutls_hash_deinit(h, out);
}

static void pub_poll_timer(struct loop *loop, struct loop_timer *t, void *arg);

/* Watch the directory of every certificate and key file. Where inotify cannot (no inotify
 * descriptor, or the watch limit reached), poll: every publisher.cert_poll_interval the
 * files' stat data are compared and a change reloads the certificates as an inotify event
 * would. Logged once per change of state. */
static void
watch_setup(struct pub *pub)
{
	const struct pub_snap *s = pub->snap;
	unsigned failed = 0;
	const char *first = NULL;
	int first_err = 0, r;
	size_t i;

	/* inotify_add_watch() on a watched directory returns the same watch: no duplicates. */
	watch_names_clear(pub);
	for (i = 0; pub->inotify_fd >= 0 && i < s->n_doms; i++) {
		r = watch_dir_of(pub, s->doms[i].cert_file);
		if (r == 0)
			r = watch_dir_of(pub, s->doms[i].key_file);
		if (r < 0 && failed++ == 0) {
			first = s->doms[i].cert_file;
			first_err = -r;
		}
	}
	if (pub->inotify_fd >= 0 && failed == 0) {
		if (pub->polling)
			log_notice("publisher: every certificate directory is watched again; "
			           "polling stops");
		pub->polling = 0;
		loop_timer_stop(pub->loop, &pub->poll_timer);
		return;
	}
	if (!pub->polling) {
		if (pub->inotify_fd < 0)
			log_notice("publisher: polling the certificate files every %llu s "
			           "(publisher.cert_poll_interval; no inotify, or "
			           "publisher.cert_watch = \"poll\")",
			           (unsigned long long)(pub->poll_ms / 1000));
		else
			log_warn("publisher: %u of %zu certificates cannot be watched (first %s: "
			         "%s; raise fs.inotify.max_user_watches); polling the certificate "
			         "files every %llu s (publisher.cert_poll_interval)",
			         failed, s->n_doms, first, strerror(first_err),
			         (unsigned long long)(pub->poll_ms / 1000));
		pub->polling = 1;
		certs_stat_digest(s, pub->poll_digest);
		loop_timer_start(pub->loop, &pub->poll_timer, pub->poll_ms, pub_poll_timer, pub);
	}
}

static void pub_dns_ready_served_again(struct pub *pub, const struct pub_snap *old);

static void
pub_certs_reload(struct pub *pub)
{
	struct pub_snap *s, *old;
	int changed = 0, r;

	s = snap_clone_policies(pub->snap);
	r = snap_load_certs(s, pub->snap, &changed);
	if (r < 0 || !changed) {
		snap_free(s);
		return;
	}
	old = pub_snap_acquire(pub);
	snap_publish(pub, s);
	log_notice("publisher: certificates reloaded");
	pub_dns_ready_served_again(pub, old);
	pub_snap_unref(old);
}

void
pub_certs_changed(struct pub *pub)
{
	if (pub == NULL)
		return;
	loop_timer_stop(pub->loop, &pub->reload_timer); /* this reload covers a pending one */
	pub_certs_reload(pub);
	watch_setup(pub);
}

/* ---- http-01 tokens of the built-in ACME client ---- */

static int
acme_token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n] != '\0'; n++) {
		if (!isalnum((unsigned char)t[n]) && t[n] != '-' && t[n] != '_')
			return 0;
	}
	return n > 0 && n <= PUB_ACME_TOKEN_MAX;
}

int
pub_acme_token_set(struct pub *pub, const char *token, const char *key_authz)
{
	struct pub_acme_token *free_slot = NULL, *t;
	size_t i;
	int r = 0;

	if (pub == NULL || !acme_token_ok(token) || strlen(key_authz) > PUB_ACME_KEYAUTHZ_MAX)
		return -EINVAL;
	(void)pthread_mutex_lock(&pub->acme_lock);
	for (i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		t = &pub->acme_tokens[i];
		if (t->token != NULL && strcmp(t->token, token) == 0) {
			free(t->key_authz);
			t->key_authz = xstrdup(key_authz);
			goto out;
		}
		if (t->token == NULL && free_slot == NULL)
			free_slot = t;
	}
	if (free_slot == NULL) {
		r = -ENOSPC;
		goto out;
	}
	free_slot->token = xstrdup(token);
	free_slot->key_authz = xstrdup(key_authz);
out:
	(void)pthread_mutex_unlock(&pub->acme_lock);
	return r;
}

void
pub_acme_token_del(struct pub *pub, const char *token)
{
	struct pub_acme_token *t;
	size_t i;

	if (pub == NULL)
		return;
	(void)pthread_mutex_lock(&pub->acme_lock);
	for (i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		t = &pub->acme_tokens[i];
		if (t->token != NULL && strcmp(t->token, token) == 0) {
			free(t->token);
			free(t->key_authz);
			t->token = t->key_authz = NULL;
		}
	}
	(void)pthread_mutex_unlock(&pub->acme_lock);
}

int
pub_acme_token_get(struct pub *pub, const char *token, char *buf, size_t bufsz)
{
	struct pub_acme_token *t;
	int r = -1;
	size_t i, n;

	(void)pthread_mutex_lock(&pub->acme_lock);
	for (i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		t = &pub->acme_tokens[i];
		if (t->token == NULL || strcmp(t->token, token) != 0)
			continue;
		n = strlen(t->key_authz);
		if (n < bufsz) {
			memcpy(buf, t->key_authz, n + 1);
			r = (int)n;
		}
		break;
	}
	(void)pthread_mutex_unlock(&pub->acme_lock);
	return r;
}

static void
pub_reload_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pub *pub = arg;

	(void)loop;
	(void)t;
	pub_certs_reload(pub);
	watch_setup(pub);
}

static void
pub_poll_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pub *pub = arg;
	unsigned char digest[32];

	(void)t;
	certs_stat_digest(pub->snap, digest);
	if (memcmp(digest, pub->poll_digest, sizeof(digest)) != 0) {
		memcpy(pub->poll_digest, digest, sizeof(digest));
		pub_certs_reload(pub);
	}
	if (pub->polling)
		loop_timer_start(loop, &pub->poll_timer, pub->poll_ms, pub_poll_timer, pub);
}

static void
pub_inotify_ready(struct loop *loop, int fd, unsigned events, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct pub *pub = arg;
	ssize_t n, off;
	int i, seen = 0;

	(void)events;
	for (i = 0; i < PUB_INOTIFY_READS_MAX; i++) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		/* whole events only (inotify(7)); a write to another file of the directory
		 * reloads nothing */
		for (off = 0; !seen && off + (ssize_t)sizeof(*ev) <= n;
		     off += (ssize_t)sizeof(*ev) + (ssize_t)ev->len) {
			ev = (const struct inotify_event *)(void *)(buf + off);
			if (off + (ssize_t)sizeof(*ev) + (ssize_t)ev->len > n)
				break;
			seen = watch_event_ours(pub, ev);
			if (seen)
				log_debug("publisher: certificate file %s changed, reloading the "
				          "certificates",
				          ev->len > 0 ? ev->name : "directory");
		}
	}
	if (seen)
		loop_timer_start(loop, &pub->reload_timer, PUB_CERT_RELOAD_DEBOUNCE_MS,
		                 pub_reload_timer, pub);
}

/* ---- listeners ---- */

/* Listeners on an address without a host take every IPv4 address (no unix sockets). */
static const struct listen_opts pub_listen_opts = {
        .default_host = "0.0.0.0",
        .backlog = PUB_LISTEN_BACKLOG,
};

static int
pub_listen_one(struct pub *pub, const struct cfg_listen *l, int tls)
{
	const char *what = tls ? "listen" : "http_listen";
	const char *addr = l->address != NULL ? l->address : "?";
	struct httpd_server srv = {
	        .flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	        .access = pub_http_plain_access,
	        .access_cls = pub,
	};
	struct listen_opts o = pub_listen_opts;
	struct listen_sock ls;
	char errbuf[512];
	int r;

	if (l->path != NULL) {
		/* not reached: the config loader refuses unix sockets here */
		log_err("publisher.%s unix:%s: the publisher listens on TCP only", what, l->path);
		return -EAFNOSUPPORT;
	}
	o.fdname = tls ? LISTEN_FDNAME_PUB_HTTPS : LISTEN_FDNAME_PUB_HTTP;
	r = listen_open(l, &o, &ls, errbuf, sizeof(errbuf));
	if (r == -EAFNOSUPPORT) {
		log_warn("publisher.%s %s: IPv6 is not available, skipping", what, addr);
		return 0;
	}
	if (r < 0) {
		log_err("publisher.%s: %s", what, errbuf);
		return r;
	}
	if (tls) {
		/* poll(), not epoll: libmicrohttpd 0.9.75's epoll loop spins through a TLS
		 * handshake (epoll_wait with timeout 0 and an EAGAIN recv, over and over, until
		 * the client's next flight: a whole round trip of a core per handshaking
		 * connection, and as long as a stalled client stalls). With poll() a worker
		 * sleeps until the socket is readable: strace -f -c, 51 full handshakes:
		 * epoll_wait 2084 + recvfrom 2305 (1886 EAGAIN) -> poll 180 + recvfrom 477. */
		srv.flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_TLS;
		srv.threads = pub->threads;
		srv.access = pub_http_policy_access;
		srv.tls_priority = pub->tls_priority;
		srv.tls_cert = pub_tls_retrieve_cert;
		srv.opened = pub_tls_conn_opened;
		srv.closed = pub_tls_conn_closed;
		srv.completed = pub_tlsrpt_completed;
		srv.arg = pub;
	}
	if (httpd_start(pub->httpd, listen_take_fd(&ls), &srv, addr) == NULL)
		return -EIO;
	log_info("publisher: listening on %s (%s%s)", addr, tls ? "https" : "http",
	         ls.passed ? ", socket from the service manager" : "");
	return 0;
}

static const char *
pub_priority_of(const struct cfg_publisher *p)
{
	return p->tls_priority != NULL && p->tls_priority[0] != '\0' ? p->tls_priority
	                                                             : PUB_TLS_PRIORITY_DEFAULT;
}

static unsigned
pub_max_connections_of(const struct cfg_publisher *p)
{
	return p->max_connections ? p->max_connections : PUB_MAX_CONNECTIONS_DEFAULT;
}

/* HTTPS listeners (the defaults when none is configured) and HTTP listeners. */
static size_t
pub_n_https(const struct cfg_publisher *p)
{
	return p->n_listen > 0 ? p->n_listen : 2;
}

/* Each listener's share of publisher.max_connections (all listeners together): an equal
 * part, and at least one per thread of the listener (libmicrohttpd divides a daemon's
 * limit among its threads). */
static unsigned
pub_share_of(const struct cfg_publisher *p, unsigned threads)
{
	size_t n = pub_n_https(p) + p->n_http_listen;
	unsigned share = (unsigned)(pub_max_connections_of(p) / (n > 0 ? n : 1));

	return share > threads ? share : threads;
}

/* connection_timeout in whole seconds (rounded up), as libmicrohttpd takes it. */
static unsigned
pub_timeout_s_of(const struct cfg_publisher *p)
{
	uint64_t ms =
	        p->connection_timeout_ms ? p->connection_timeout_ms : PUB_CONN_TIMEOUT_DEFAULT_MS;

	return (unsigned)((ms + 999) / 1000);
}

/* ---- lifecycle ---- */

static const struct pub_dom *
snap_find_domain(const struct pub_snap *s, const char *domain)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n_doms; i++)
		if (strcmp(s->doms[i].domain, domain) == 0)
			return &s->doms[i];
	return NULL;
}

/* One line per domain whose policy id is new (every domain at startup, old == NULL) or
 * changed, with the TXT record to publish (RFC 8461 section 3.1: the id must change
 * whenever the policy does, or senders keep their cached copy); one per domain removed. */
static void
pub_log_ids(const struct pub_snap *old, const struct pub_snap *s)
{
	const struct pub_dom *d, *o;
	size_t i;

	for (i = 0; i < s->n_doms; i++) {
		d = &s->doms[i];
		o = snap_find_domain(old, d->domain);
		if (d->held)
			log_dom_notice(
			        d->domain,
			        "held (503) until the state database says which rollout step "
			        "it reached; its policy id follows then (certificate %s)",
			        d->cert_file);
		else if (old == NULL || (o != NULL && o->held))
			log_dom_notice(d->domain,
			               "publishing policy id %s (certificate %s); publish _mta-sts "
			               "TXT \"v=STSv1; id=%s\"",
			               d->id, d->cert_file, d->id);
		else if (o == NULL)
			log_dom_notice(
			        d->domain,
			        "added, policy id %s; publish _mta-sts TXT \"v=STSv1; id=%s\"",
			        d->id, d->id);
		else if (strcmp(o->id, d->id) != 0)
			log_dom_notice(d->domain,
			               "policy id changed from %s to %s; publish _mta-sts TXT "
			               "\"v=STSv1; id=%s\"",
			               o->id, d->id, d->id);
	}
	for (i = 0; old != NULL && i < old->n_doms; i++)
		if (snap_find_domain(s, old->doms[i].domain) == NULL)
			log_dom_notice(old->doms[i].domain,
			               "removed, its policy is no longer served");
}

/* RFC 8461 section 8.1 ("Policy Updates"): the new policy is served first, the TXT id changes
 * after. Called once the current snapshot is published: each served domain that the updater
 * has (dns_update) is ready now, unless the gate (pub_set_ready_gate(), the hook a later
 * "certificate serves" condition uses) holds it; a domain whose certificate did not load is
 * not served, so its records stay. */
static void
pub_dns_ready_one(struct pub *pub, const struct pub_dom *d, const char *when)
{
	if (!pub_dnsupd_has(pub->dnsupd, d->domain))
		return;
	if (d->cert == NULL) {
		log_dom_warn(d->domain, "not served (no certificate): its DNS records are "
		                        "left as they are");
		return;
	}
	if (pub->ready_gate != NULL && !pub->ready_gate(d->domain, pub->ready_gate_arg)) {
		log_dom_notice(d->domain,
		               "policy id %s served since %s; DNS records wait (not ready yet)",
		               d->id, when);
		return;
	}
	log_dom_notice(d->domain, "policy id %s served since %s; DNS records follow", d->id, when);
	pub_dnsupd_domain_ready(pub->dnsupd, d->domain);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of now into buf (64 bytes). */
static void
pub_dns_when(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	               ts.tv_nsec / 1000000);
}

static void
pub_dns_ready(struct pub *pub)
{
	const struct pub_snap *s = pub->snap;
	char when[64];
	size_t i;

	pub_dns_when(when, sizeof(when));
	for (i = 0; i < s->n_doms; i++)
		pub_dns_ready_one(pub, &s->doms[i], when);
}

/* After a certificate reload: a domain served again (its certificate loads now, an ACME
 * certificate arrived) gets its DNS records as at start; the others are in step already. */
static void
pub_dns_ready_served_again(struct pub *pub, const struct pub_snap *old)
{
	const struct pub_snap *s = pub->snap;
	char when[64];
	size_t i;

	pub_dns_when(when, sizeof(when));
	for (i = 0; i < s->n_doms && i < old->n_doms; i++) {
		if (s->doms[i].cert != NULL && old->doms[i].cert == NULL &&
		    strcmp(s->doms[i].domain, old->doms[i].domain) == 0)
			pub_dns_ready_one(pub, &s->doms[i], when);
	}
}

/* At start the daemon installs its gate after pub_new() returns: the records follow from
 * the loop's first turn. */
static void
pub_dns_ready_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	pub_dns_ready(arg);
}

void
pub_set_ready_gate(struct pub *pub, pub_ready_gate_fn *gate, void *arg)
{
	pub->ready_gate = gate;
	pub->ready_gate_arg = arg;
}

void
pub_domain_ready(struct pub *pub, const char *domain)
{
	if (pub == NULL)
		return;
	log_dom_info(domain, "ready: DNS records follow");
	pub_dnsupd_domain_ready(pub->dnsupd, domain);
}

/* MHD threads per HTTPS listener: the online CPUs, 1 to PUB_THREADS_MAX. */
static unsigned
pub_threads_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > PUB_THREADS_MAX ? PUB_THREADS_MAX : (unsigned)n;
}

int
pub_new(struct loop *loop, const struct cfg *cfg, struct pub **ret_pub)
{
	static const struct cfg_listen default_listen[] = {
	        {.address = "0.0.0.0:443", .host = "0.0.0.0", .port = 443},
	        {.address = "[::]:443", .host = "::", .port = 443},
	};
	const struct cfg_publisher *p = &cfg->publisher;
	gnutls_priority_t prio;
	const char *errpos = NULL;
	struct pub_snap *s = NULL;
	struct pub *pub;
	char deadline[64];
	int changed, r, hold = 0;
	size_t i;

	*ret_pub = NULL;
	if (p->n_domains == 0)
		return 0;
	for (i = 0; i < p->n_domains; i++)
		if (p->domains[i].rollout.target == CFG_ROLLOUT_ENFORCE)
			hold = 1;
	r = snap_from_cfg(cfg, hold, &s);
	if (r < 0)
		return r;
	r = snap_load_certs(s, NULL, &changed);
	if (r < 0) {
		snap_free(s);
		return r;
	}
	for (i = 0; i < s->n_doms && s->doms[i].acme && s->doms[i].cert == NULL; i++)
		;
	if (s->n_certs == 0 && i == s->n_doms)
		log_notice("publisher: no certificate yet (every domain waits for its ACME "
		           "order); port 80 answers the http-01 challenges");
	else if (s->n_certs == 0)
		log_err("publisher: no certificate of the %zu domains loads: nothing is published "
		        "(the resolver runs); see the errors above",
		        s->n_doms);
	r = gnutls_priority_init(&prio, pub_priority_of(p), &errpos);
	if (r < 0) {
		log_err("publisher.tls_priority '%s': %s at '%s'", pub_priority_of(p),
		        gnutls_strerror(r), errpos != NULL ? errpos : "");
		snap_free(s);
		return ERR_CONFIG;
	}
	gnutls_priority_deinit(prio);
	/* one handshake per certificate (domains may share one), named by its first domain */
	for (i = 0; i < s->n_certs; i++) {
		const struct pub_dom *d = NULL;
		char errbuf[512];
		size_t k;

		for (k = 0; k < s->n_doms && d == NULL; k++)
			if (s->doms[k].cert == s->certs[i])
				d = &s->doms[k];
		if (d == NULL)
			continue;
		if (pub_tls_selftest(pub_priority_of(p), d->cert, d->host, errbuf, sizeof(errbuf)) <
		    0) {
			log_dom_err(d->domain, "%s", errbuf);
			snap_free(s);
			return ERR_CONFIG;
		}
	}

	pub = xcalloc(1, sizeof(*pub));
	pub->loop = loop;
	pub->hold = hold;
	if (hold)
		log_notice("publisher: the domains with an automatic rollout answer 503 until "
		           "the state database says which step they reached");
	pub->inotify_fd = -1;
	(void)pthread_mutex_init(&pub->snap_lock, NULL);
	(void)pthread_mutex_init(&pub->acme_lock, NULL);
	(void)pthread_mutex_init(&pub->tlsrpt_lock, NULL);
	pub->snap = s;
	pub->tls_priority = xstrdup(pub_priority_of(p));
	pub->threads = pub_threads_default();
	r = gnutls_session_ticket_key_generate(&pub->ticket_key);
	if (r < 0) {
		log_warn("publisher: no TLS session tickets: %s", gnutls_strerror(r));
		pub->ticket_key.data = NULL;
		pub->ticket_key.size = 0;
	}
	pub->max_connections = pub_share_of(p, pub->threads);
	pub->timeout_s = pub_timeout_s_of(p);
	(void)snprintf(deadline, sizeof(deadline), "connection_timeout (%us)", pub->timeout_s);
	pub->httpd = httpd_new(loop, &(struct httpd_cfg){
	                                     .name = "publisher",
	                                     .deadline_name = deadline,
	                                     .timeout_s = pub->timeout_s,
	                                     .max_connections = pub->max_connections,
	                                     .per_address = p->max_connections_per_address,
	                                     .conn_memory_max = PUB_CONN_MEMORY_MAX,
	                             });
	log_info("publisher: at most %u connections per listener (%u for all %zu), %u per "
	         "client address on each",
	         pub->max_connections, pub_max_connections_of(p), pub_n_https(p) + p->n_http_listen,
	         p->max_connections_per_address);

	if (p->n_listen == 0) {
		for (i = 0; i < sizeof(default_listen) / sizeof(default_listen[0]); i++) {
			r = pub_listen_one(pub, &default_listen[i], 1);
			if (r < 0)
				goto fail;
		}
	}
	for (i = 0; i < p->n_listen; i++) {
		r = pub_listen_one(pub, &p->listen[i], 1);
		if (r < 0)
			goto fail;
	}
	for (i = 0; i < p->n_http_listen; i++) {
		r = pub_listen_one(pub, &p->http_listen[i], 0);
		if (r < 0)
			goto fail;
	}

	pub->poll_ms = p->cert_poll_interval_ms;
	pub->inotify_fd =
	        p->cert_watch == CFG_CERT_WATCH_POLL ? -1 : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->cert_watch == CFG_CERT_WATCH_POLL) {
		/* watch_setup() starts the polling and says so */
	} else if (pub->inotify_fd < 0) {
		log_warn("publisher: inotify: %m");
	} else {
		r = loop_io_add(loop, pub->inotify_fd, LOOP_READ, pub_inotify_ready, pub);
		if (r < 0) {
			log_warn("publisher: inotify: %s", strerror(-r));
			(void)close(pub->inotify_fd);
			pub->inotify_fd = -1;
		}
	}
	watch_setup(pub);
	pub_log_ids(NULL, s);
	pub->dnsupd = pub_dnsupd_new(loop, PUB_DNSUPD_DAEMON);
	pub_dnsupd_configure(pub->dnsupd, cfg);
	loop_timer_start(loop, &pub->dns_ready_timer, 0, pub_dns_ready_timer, pub);
	*ret_pub = pub;
	return 0;
fail:
	(void)pub_free(pub);
	return r;
}

int
pub_reload(struct pub *pub, const struct cfg *cfg)
{
	const struct cfg_publisher *p = &cfg->publisher;
	struct pub_snap *s;
	int changed, r;

	if (pub == NULL)
		return 0;
	if (p->n_domains == 0) {
		log_err("publisher: a reload cannot remove every domain; restart to stop "
		        "publishing (keeping the old policies)");
		return ERR_CONFIG;
	}
	r = snap_from_cfg(cfg, pub->hold, &s);
	if (r < 0) {
		log_err("publisher: reload refused, keeping the old policies");
		return r;
	}
	r = snap_load_certs(s, pub->snap, &changed);
	if (r < 0) {
		log_err("publisher: reload refused, keeping the old policies and certificates");
		snap_free(s);
		return r;
	}
	pub_log_ids(pub->snap, s);
	snap_publish(pub, s);
	watch_setup(pub);
	log_notice("publisher: reloaded, %zu domains", s->n_doms);
	pub_dnsupd_configure(pub->dnsupd, cfg);
	loop_timer_stop(pub->loop, &pub->dns_ready_timer);
	pub_dns_ready(pub);
	return 0;
}

int
pub_held(const struct pub *pub)
{
	return pub != NULL && pub->hold;
}

int
pub_release_held(struct pub *pub, const struct cfg *cfg)
{
	int r;

	if (pub == NULL || !pub->hold)
		return 0;
	pub->hold = 0;
	r = pub_reload(pub, cfg);
	if (r < 0) /* never the configured policy instead of the step: a sender would cache it */
		log_err("publisher: the domains with an automatic rollout keep answering 503 "
		        "until a reload (SIGHUP) succeeds");
	return r;
}

struct pub *
pub_free(struct pub *pub)
{
	if (pub == NULL)
		return NULL;
	loop_timer_stop(pub->loop, &pub->dns_ready_timer);
	pub->dnsupd = pub_dnsupd_free(pub->dnsupd);
	/* Stop the servers first: their threads hold snapshot references. */
	pub->httpd = httpd_free(pub->httpd);
	loop_timer_stop(pub->loop, &pub->reload_timer);
	loop_timer_stop(pub->loop, &pub->poll_timer);
	if (pub->inotify_fd >= 0) {
		loop_io_del(pub->loop, pub->inotify_fd);
		(void)close(pub->inotify_fd);
	}
	watch_names_clear(pub);
	pub_snap_unref(pub->snap);
	(void)pthread_mutex_destroy(&pub->snap_lock);
	for (size_t i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		free(pub->acme_tokens[i].token);
		free(pub->acme_tokens[i].key_authz);
	}
	(void)pthread_mutex_destroy(&pub->acme_lock);
	pub_tlsrpt_free(pub);
	free(pub->tls_priority);
	if (pub->ticket_key.data != NULL) {
		gnutls_memset(pub->ticket_key.data, 0, pub->ticket_key.size);
		gnutls_free(pub->ticket_key.data);
	}
	free(pub);
	return NULL;
}

unsigned
pub_fd_fixed(const struct cfg *cfg)
{
	const struct cfg_publisher *p = &cfg->publisher;
	unsigned threads = pub_threads_default();

	if (p->n_domains == 0)
		return 0;
	/* each listener: its socket, and libmicrohttpd's epoll and eventfd per thread and for
	 * the daemon itself; the inotify descriptor */
	return (unsigned)(pub_n_https(p) * (1 + 2 * (threads + 1)) +
	                  p->n_http_listen * (1 + 2 * 2) + 1);
}

unsigned
pub_threads(const struct pub *pub)
{
	return pub->threads;
}
