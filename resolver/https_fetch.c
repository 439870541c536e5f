/*
 * resolver/https_fetch.c - RFC 8461 section 3.3 policy fetch with libcurl multi on our loop
 *
 * Interface: see https_fetch.h
 * Design:    the transfers run on a libcurl multi (common/curlm.h: the daemon's threaded
 *            one, whose worker thread does the TLS work on another core, or the fetcher's
 *            own one on the loop).
 *            curlm reports each finished transfer from a loop callback (fetch_curl_done),
 *            and user callbacks run later from a zero-delay "dispatch" timer, so no user code
 *            (which may call fetch_start/fetch_cancel/fetcher_free) ever runs inside a curl
 *            call (CURLM_RECURSIVE_API_CALL). A timer is used instead of loop_defer() because it
 *            can be cancelled when the fetcher is freed first.
 *            Response checks happen when the header block ends (status, Content-Type,
 *            Content-Length), so a failing response is aborted before its body is read; the
 *            write callback aborts as soon as the body exceeds fetch_max_body.
 *            At most fetch_concurrency transfers run; more wait in a FIFO queue.
 *            Certificates: libcurl is told to verify nothing and to load no CA; the trust
 *            anchors (resolver.ca_file, else the system store) are read once per fetcher
 *            into a gnutls_x509_trust_list, and the PREREQFUNCTION callback (TLS up, request
 *            not sent yet) verifies chain, host name and DNS-ID there. Per-handshake CA
 *            loading in libcurl-gnutls cost ~40 ms CPU and ~3 MiB per fetch in flight.
 * Threads:   main loop, except the libcurl transfer callbacks (fetch_header_cb,
 *            fetch_write_cb, fetch_prereq_cb -> fetch_verify_peer), which run on a
 *            threaded multi's workers between curlm_add() and the completion, several at
 *            once. They touch their own request, the fetcher's immutable settings
 *            (max_body, ca_file), and under f->verify_mu its trust list (loaded on the main
 *            loop before the first curlm_add(), read only after) and its verified-chain
 *            LRU (f->verified; the main loop frees both only once every transfer has
 *            completed or been curlm_remove()d, which waits for the worker). No logging, no
 *            counters there; the main loop reads a request's results only once curlm has
 *            handed it back (curlm's mutex orders the two).
 * Ownership: the fetcher owns its requests; a request is freed right after its callback.
 * Errors:    see https_fetch.h; docs/resolver-fetch.md explains the mapping.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cert_names.h"
#include "curlm.h"
#include "dns_client.h"
#include "err.h"
#include "https_fetch.h"
#include "log.h"
#include "lru.h"
#include "xalloc.h"

/* Chains verified against the trust list, remembered per fetcher (bench lab: 50 policy
 * hosts per certificate; hosting providers share multi-SAN certificates the same way).
 * Parsing a 50-name leaf and one ECDSA verification are ~4 M instructions per fetch. */
#define FETCH_VERIFIED_MAX   32
#define FETCH_VERIFIED_TTL_S 3600

struct fetch_verified {
	struct lru_node node;   /* in the fetcher's LRU, keyed by digest */
	uint8_t digest[32];     /* SHA-256 of the chain as sent */
	gnutls_x509_crt_t leaf; /* parsed leaf (host name checks) */
	time_t until;           /* wall clock: earliest notAfter in the chain, or TTL */
	int has_dns_san;
};

/* Addresses of the policy host handed to libcurl (CURLOPT_RESOLVE), per family. */
#define FETCH_ADDRS_MAX 8

enum fetch_state {
	FETCH_RESOLVING, /* A and AAAA of mta-sts.<domain> asked through the dns_client */
	FETCH_QUEUED,
	FETCH_ACTIVE,
	FETCH_DONE, /* finished, callback pending in the dispatch list */
};

struct fetch_list {
	struct fetch_req *head, *tail;
};

struct fetch_req {
	struct fetcher *f;
	struct fetch_req *prev, *next;
	enum fetch_state state;
	char *domain;
	char *url;
	CURL *easy;
	struct curl_slist *connect_to;
	struct curl_slist *resolve; /* "mta-sts.<domain>:443:<addresses>" */
	struct dns_query *dq[2];    /* A, AAAA while FETCH_RESOLVING */
	int dns_err[2];
	int canceling; /* fetch_cancel() is canceling dq[] */
	dns_addr_text addrs[2 * FETCH_ADDRS_MAX];
	size_t n_addrs;
	fetch_done_fn *done;
	void *arg;
	uint64_t start_ms;
	char *body;
	size_t len, cap;
	int err;                  /* our verdict, set by header/write callbacks or at completion */
	int headers_done;         /* final header block seen and checked */
	int got_response;         /* a header line arrived: the HTTP response began */
	struct fetch_headers hdr; /* what the header lines said (fetch_header_line) */
	struct fetch_info info;
	char errbuf[CURL_ERROR_SIZE];
};

struct fetcher {
	struct loop *loop;
	struct curlm *curlm; /* borrowed (fetcher_new_on) or owned (own_curlm) */
	int own_curlm;
	struct loop_timer dispatch_timer;
	uint64_t timeout_ms;
	size_t max_body;
	unsigned concurrency;
	char *ca_file;
	char *connect_to;
	struct dns_client *dns;         /* borrowed: resolves policy hosts; NULL = libcurl does */
	gnutls_x509_trust_list_t trust; /* NULL until the first fetch (fetch_trust_load) */
	int trust_loaded;
	struct lru *verified;      /* struct fetch_verified: chains verified with trust */
	pthread_mutex_t verify_mu; /* trust and verified, for the workers' fetch_verify_peer */
	unsigned n_active;
	struct fetch_list resolving, queued, active, done;
	int dispatching;
	int freeing;
	int free_pending;
};

/* Certificates of the peer's chain looked at (leaf first). */
#define FETCH_CHAIN_MAX 16

static void
fetch_list_add(struct fetch_list *l, struct fetch_req *rq)
{
	rq->next = NULL;
	rq->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = rq;
	else
		l->head = rq;
	l->tail = rq;
}

static void
fetch_list_del(struct fetch_list *l, struct fetch_req *rq)
{
	if (rq->prev != NULL)
		rq->prev->next = rq->next;
	else
		l->head = rq->next;
	if (rq->next != NULL)
		rq->next->prev = rq->prev;
	else
		l->tail = rq->prev;
	rq->prev = rq->next = NULL;
}

static struct fetch_list *
fetch_list_of(struct fetcher *f, struct fetch_req *rq)
{
	switch (rq->state) {
	case FETCH_RESOLVING:
		return &f->resolving;
	case FETCH_QUEUED:
		return &f->queued;
	case FETCH_ACTIVE:
		return &f->active;
	default:
		return &f->done;
	}
}

static void
fetch_req_free(struct fetch_req *rq)
{
	if (rq->easy != NULL)
		curl_easy_cleanup(rq->easy);
	curl_slist_free_all(rq->connect_to);
	curl_slist_free_all(rq->resolve);
	free(rq->domain);
	free(rq->url);
	free(rq->body);
	free(rq);
}

/* Case-insensitive prefix match of a header line; returns the value (leading WSP skipped). */
static const char *
fetch_header_value(const char *line, size_t len, const char *name, size_t *ret_vlen)
{
	size_t nl = strlen(name), i;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	i = nl + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' ' ||
	                   line[len - 1] == '\t'))
		len--;
	*ret_vlen = len - i;
	return line + i;
}

/* fetch_content_type_ok() on the n bytes at ct (not NUL-terminated; a NUL is a byte like
 * any other, so "text/plain\0html" is not text/plain). */
static int
fetch_content_type_ok_n(const char *ct, size_t n)
{
	static const char want[] = "text/plain";
	size_t wl = sizeof(want) - 1, i = 0;

	while (i < n && (ct[i] == ' ' || ct[i] == '\t'))
		i++;
	if (n - i < wl || strncasecmp(ct + i, want, wl) != 0)
		return 0;
	i += wl;
	while (i < n && (ct[i] == ' ' || ct[i] == '\t'))
		i++;
	return i == n || ct[i] == ';';
}

int
fetch_content_type_ok(const char *ct)
{
	return ct != NULL && fetch_content_type_ok_n(ct, strlen(ct));
}

/* A Content-Length value (RFC 9110 section 8.6: 1*DIGIT), n bytes at v: the number, or
 * max_body + 1 when it is larger or is not a number (empty, a sign, trailing text). */
static long
fetch_content_length(const char *v, size_t n, size_t max_body)
{
	size_t i, cl = 0;

	if (n == 0)
		return (long)max_body + 1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return (long)max_body + 1;
		cl = cl * 10 + (size_t)(v[i] - '0');
		if (cl > max_body)
			return (long)max_body + 1; /* leading zeros are no way past this */
	}
	return (long)cl;
}

int
fetch_header_line(struct fetch_headers *h, const char *line, size_t len, size_t max_body)
{
	size_t vlen;
	const char *v;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new header block (interim 1xx responses come first). */
		h->content_type[0] = '\0';
		h->content_type_ok = 0;
		h->content_length = -1;
		return FETCH_HEADER_STATUS;
	}
	if (len >= 1 && len <= 2 && (line[0] == '\r' || line[0] == '\n'))
		return FETCH_HEADER_END;
	v = fetch_header_value(line, len, "content-type", &vlen);
	if (v != NULL) {
		h->content_type_ok = fetch_content_type_ok_n(v, vlen);
		/* a copy to show: bounded, every byte outside 0x20..0x7e replaced */
		(void)log_printable(h->content_type, sizeof(h->content_type), v, vlen);
		return FETCH_HEADER_FIELD;
	}
	v = fetch_header_value(line, len, "content-length", &vlen);
	if (v != NULL)
		h->content_length = fetch_content_length(v, vlen, max_body);
	return FETCH_HEADER_FIELD;
}

int
fetch_headers_check(const struct fetch_headers *h, long http_status, size_t max_body, char *detail,
                    size_t detail_len)
{
	if (http_status >= 300 && http_status < 400) {
		(void)snprintf(detail, detail_len, "HTTP status %ld, redirects are never followed",
		               http_status);
		return ERR_FETCH_REDIRECT;
	}
	if (http_status != 200) {
		(void)snprintf(detail, detail_len, "HTTP status %ld", http_status);
		return ERR_FETCH_HTTP;
	}
	if (!h->content_type_ok) {
		if (h->content_type[0] != '\0')
			(void)snprintf(detail, detail_len, "Content-Type '%s' is not text/plain",
			               h->content_type); /* printable (fetch_header_line()) */
		else
			(void)snprintf(detail, detail_len, "no Content-Type, text/plain required");
		return ERR_FETCH_CONTENT_TYPE;
	}
	if (h->content_length >= 0 && (size_t)h->content_length > max_body) {
		/* (fetch_header_line() keeps max_body + 1 for any larger or non-numeric value) */
		(void)snprintf(detail, detail_len, "Content-Length over %zu bytes", max_body);
		return ERR_FETCH_TOO_LARGE;
	}
	return 0;
}

static size_t
fetch_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct fetch_req *rq = arg;
	struct fetcher *f = rq->f;
	size_t len = size * nitems;
	long code = 0;

	rq->got_response = 1;
	if (fetch_header_line(&rq->hdr, buf, len, f->max_body) != FETCH_HEADER_END) {
		(void)snprintf(rq->info.content_type, sizeof(rq->info.content_type), "%s",
		               rq->hdr.content_type);
		return len;
	}
	(void)curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &code);
	rq->info.http_status = code;
	if (code < 200)
		return len;
	rq->headers_done = 1;
	rq->err = fetch_headers_check(&rq->hdr, code, f->max_body, rq->info.detail,
	                              sizeof(rq->info.detail));
	return rq->err != 0 ? 0 : len; /* 0 aborts with CURLE_WRITE_ERROR */
}

static size_t
fetch_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fetch_req *rq = arg;
	struct fetcher *f = rq->f;
	size_t len = size * nmemb, ncap;

	if (rq->err != 0)
		return 0;
	if (!rq->headers_done) {
		/* Defensive: curl always ends the header block first. */
		rq->err = ERR_FETCH_HTTP;
		return 0;
	}
	if (len > f->max_body - rq->len) {
		rq->err = ERR_FETCH_TOO_LARGE;
		(void)snprintf(rq->info.detail, sizeof(rq->info.detail), "body exceeds %zu bytes",
		               f->max_body);
		return 0;
	}
	if (rq->len + len + 1 > rq->cap) {
		ncap = rq->cap > 0 ? rq->cap : 4096;
		while (ncap < rq->len + len + 1)
			ncap *= 2;
		if (ncap > f->max_body + 1)
			ncap = f->max_body + 1;
		rq->body = xrealloc(rq->body, ncap);
		rq->cap = ncap;
	}
	memcpy(rq->body + rq->len, data, len);
	rq->len += len;
	rq->body[rq->len] = '\0';
	return len;
}

/* Why GnuTLS refused the chain (its verification status bits), or NULL. */
static const char *
fetch_verify_cause(unsigned status)
{
	if (status & GNUTLS_CERT_EXPIRED)
		return "certificate has expired";
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return "certificate is not yet valid";
	if (status & GNUTLS_CERT_REVOKED)
		return "certificate is revoked";
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		return "certificate issuer is not trusted";
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return "certificate does not name the host";
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return "certificate uses an insecure algorithm";
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return "certificate is not for TLS server authentication";
	return NULL;
}

/* The trust anchors, read once per fetcher (at its first fetch) instead of once per
 * connection: with CURLOPT_SSL_VERIFYPEER libcurl-gnutls 7.88 builds new credentials for
 * every handshake and reads Debian's default CApath /etc/ssl/certs (290 files, ~440
 * certificates parsed) each time, ~40 ms of CPU on the loop thread per fetch (bench:
 * ~25 cold domains/s whatever the concurrency, 220 MiB peak RSS at 64 in flight). */
static void
fetch_trust_load(struct fetcher *f)
{
	int n;

	if (f->trust_loaded)
		return;
	f->trust_loaded = 1;
	if (gnutls_x509_trust_list_init(&f->trust, 0) < 0) {
		f->trust = NULL;
		log_err("fetch: cannot create the certificate trust list; every fetch fails");
		return;
	}
	if (f->ca_file != NULL)
		n = gnutls_x509_trust_list_add_trust_file(f->trust, f->ca_file, NULL,
		                                          GNUTLS_X509_FMT_PEM, 0, 0);
	else
		n = gnutls_x509_trust_list_add_system_trust(f->trust, 0, 0);
	if (n <= 0)
		log_err("fetch: no trusted CA certificate in %s (%s); every fetch fails",
		        f->ca_file != NULL ? f->ca_file : "the system trust store",
		        n < 0 ? gnutls_strerror(n) : "none found");
	else
		log_debug("fetch: %d trusted CA certificates from %s", n,
		          f->ca_file != NULL ? f->ca_file : "the system trust store");
}

/* 1 when the leaf carries at least one subjectAltName dNSName. GnuTLS's host name check
 * falls back to the subject CN when there is none; RFC 8461 section 3.3 (RFC 6125 DNS-ID)
 * allows no CN match. */
static int
fetch_crt_has_dns_san(gnutls_x509_crt_t crt)
{
	return cert_names(crt, 0, NULL, NULL) > 0;
}

/* Digest of the peer's chain as sent (each certificate's length, then its DER). */
static int
fetch_chain_digest(const gnutls_datum_t *peers, unsigned n, uint8_t *ret_digest)
{
	gnutls_hash_hd_t h;
	unsigned i;
	uint8_t len[4];

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		len[0] = (uint8_t)(peers[i].size >> 24);
		len[1] = (uint8_t)(peers[i].size >> 16);
		len[2] = (uint8_t)(peers[i].size >> 8);
		len[3] = (uint8_t)peers[i].size;
		(void)gnutls_hash(h, len, sizeof(len));
		(void)gnutls_hash(h, peers[i].data, peers[i].size);
	}
	gnutls_hash_deinit(h, ret_digest);
	return 0;
}

static void
fetch_verified_free(struct lru_node *n, void *arg)
{
	struct fetch_verified *v = LRU_ENTRY(n, struct fetch_verified, node);

	gnutls_x509_crt_deinit(v->leaf);
	free(v);
}

/* A chain verified before, byte for byte, still within its validity and the TTL. */
static struct fetch_verified *
fetch_verified_find(struct fetcher *f, const uint8_t *digest, time_t now)
{
	struct lru_node *n = lru_find(f->verified, digest, 32);
	struct fetch_verified *v = n != NULL ? LRU_ENTRY(n, struct fetch_verified, node) : NULL;

	if (v == NULL || now >= v->until)
		return NULL;
	lru_touch(f->verified, n);
	return v;
}

/* Remember a verified chain; takes the leaf. The least recently used one goes (lru.h),
 * and an expired one with the same digest is replaced. */
static struct fetch_verified *
fetch_verified_add(struct fetcher *f, const uint8_t *digest, gnutls_x509_crt_t leaf, time_t until)
{
	struct lru_node *old = lru_find(f->verified, digest, 32);
	struct fetch_verified *v = xcalloc(1, sizeof(*v));

	if (old != NULL) {
		lru_remove(f->verified, old);
		fetch_verified_free(old, NULL);
	}
	memcpy(v->digest, digest, sizeof(v->digest));
	v->leaf = leaf;
	v->until = until;
	v->has_dns_san = fetch_crt_has_dns_san(leaf);
	(void)lru_insert(f->verified, &v->node, v->digest, sizeof(v->digest));
	return v;
}

/* Verify the peer's chain against the fetcher's trust list, then the host name
 * mta-sts.<domain>, then the DNS-ID rule. The same steps and messages as libcurl's own
 * verification (gtls.c: verify_peers2 status, then check_hostname), so what admins read
 * (and `mtastsd check` prints) does not change. A chain that verified before (same bytes,
 * same fetcher, i.e. the same trust anchors) is not parsed and verified again until the
 * earliest notAfter in it or FETCH_VERIFIED_TTL_S; the host name is checked every time.
 * 0, or ERR_FETCH_TLS with info.detail. */
/* The chain must be fit for TLS server authentication (extended key usage, RFC 5280
 * section 4.2.1.12); a certificate limited to other purposes is refused. */
static gnutls_typed_vdata_st fetch_vdata_server[] = {
        {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER},
};

static int
fetch_verify_peer(struct fetch_req *rq)
{
	struct fetcher *f = rq->f;
	struct curl_tlssessioninfo *ti = NULL;
	const gnutls_datum_t *peers;
	gnutls_x509_crt_t crts[FETCH_CHAIN_MAX];
	struct fetch_verified *v = NULL;
	uint8_t digest[32];
	unsigned n = 0, ncrt = 0, status = 0, i;
	char cn[256];
	size_t cnlen = sizeof(cn);
	const char *cause;
	time_t now = time(NULL), until, t;
	int r = ERR_FETCH_TLS, have_digest;

	if (curl_easy_getinfo(rq->easy, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || ti == NULL ||
	    ti->backend != CURLSSLBACKEND_GNUTLS || ti->internals == NULL) {
		(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
		               "libcurl is not using GnuTLS: cannot verify the certificate");
		return ERR_FETCH_TLS;
	}
	peers = gnutls_certificate_get_peers((gnutls_session_t)ti->internals, &n);
	if (peers == NULL || n == 0) {
		(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
		               "mta-sts.%s sent no certificate", rq->domain);
		return ERR_FETCH_TLS;
	}
	if (n > FETCH_CHAIN_MAX)
		n = FETCH_CHAIN_MAX;
	have_digest = fetch_chain_digest(peers, n, digest) == 0;
	if (have_digest)
		v = fetch_verified_find(f, digest, now);
	if (v == NULL) {
		for (ncrt = 0; ncrt < n; ncrt++) {
			if (gnutls_x509_crt_init(&crts[ncrt]) < 0)
				goto out;
			if (gnutls_x509_crt_import(crts[ncrt], &peers[ncrt], GNUTLS_X509_FMT_DER) <
			    0) {
				gnutls_x509_crt_deinit(crts[ncrt]);
				(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
				               "cannot parse the certificate of mta-sts.%s",
				               rq->domain);
				goto out;
			}
		}
		if (f->trust == NULL ||
		    gnutls_x509_trust_list_verify_crt2(f->trust, crts, ncrt, fetch_vdata_server, 1,
		                                       0, &status, NULL) < 0 ||
		    status != 0) {
			cause = fetch_verify_cause(status);
			(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
			               "%s%sserver certificate verification failed. CAfile: %s "
			               "CRLfile: none",
			               cause != NULL ? cause : "", cause != NULL ? ": " : "",
			               f->ca_file != NULL ? f->ca_file : "none");
			goto out;
		}
		if (have_digest) {
			until = now + FETCH_VERIFIED_TTL_S;
			for (i = 0; i < ncrt; i++) {
				t = gnutls_x509_crt_get_expiration_time(crts[i]);
				if (t != (time_t)-1 && t < until)
					until = t;
			}
			v = fetch_verified_add(f, digest, crts[0], until);
			crts[0] = NULL; /* the cache owns it now */
		}
	} else {
		rq->info.verify_cached = 1;
	}
	{
		gnutls_x509_crt_t leaf = v != NULL ? v->leaf : crts[0];
		int has_dns_san = v != NULL ? v->has_dns_san : fetch_crt_has_dns_san(leaf);
		char host[DOMAIN_NAME_MAX + 16];

		(void)snprintf(host, sizeof(host), "mta-sts.%s", rq->domain);
		if (!gnutls_x509_crt_check_hostname2(leaf, host, 0)) {
			if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
			                                  cn, &cnlen) < 0)
				cn[0] = '\0';
			(void)snprintf(
			        rq->info.detail, sizeof(rq->info.detail),
			        "SSL: certificate subject name (%.64s) does not match target "
			        "host name 'mta-sts.%s'",
			        cn, rq->domain);
			goto out;
		}
		if (!has_dns_san) {
			(void)snprintf(
			        rq->info.detail, sizeof(rq->info.detail),
			        "certificate of mta-sts.%s has no DNS subjectAltName (a name "
			        "only in the subject CN is not accepted)",
			        rq->domain);
			goto out;
		}
		t = gnutls_x509_crt_get_expiration_time(leaf);
		rq->info.cert_not_after = t == (time_t)-1 ? 0 : t;
	}
	r = 0;
out:
	for (i = 0; i < ncrt; i++)
		if (crts[i] != NULL)
			gnutls_x509_crt_deinit(crts[i]);
	return r;
}

/* Runs once TLS is up and before the request is sent: nothing is sent to a host whose
 * certificate we do not accept. */
static int
fetch_prereq_cb(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                int conn_local_port)
{
	struct fetch_req *rq = arg;

	/* A threaded multi runs this on several workers at once: they share the trust list
	 * and the verified chains (a cache hit holds the lock for a digest and a host name
	 * check; a miss for one chain verification, once per certificate). */
	(void)pthread_mutex_lock(&rq->f->verify_mu);
	rq->err = fetch_verify_peer(rq);
	(void)pthread_mutex_unlock(&rq->f->verify_mu);
	return rq->err == 0 ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

static int
fetch_map_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return ERR_FETCH_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return ERR_FETCH_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return ERR_FETCH_TLS;
	case CURLE_TOO_MANY_REDIRECTS:
		return ERR_FETCH_REDIRECT;
	default:
		/* Cannot resolve/connect, reset, nothing received, partial body, HTTP/2
		 * framing...: the server could not be talked to. */
		return ERR_FETCH_CONNECT;
	}
}

/* Decide the outcome of a transfer that curl reported done (outside curl callbacks). */
static void
fetch_complete(struct fetch_req *rq, CURLcode cc)
{
	struct fetcher *f = rq->f;
	long code = 0;

	(void)curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rq->info.http_status == 0)
		rq->info.http_status = code;
	if (rq->err == 0) {
		if (cc != CURLE_OK) {
			rq->err = fetch_map_curl(cc);
			/* Not "cannot connect" once the server talked HTTP (a trial: header floods,
			 * a line without a colon, an endless header line, which libcurl 7.88
			 * reports as "Out of memory"). */
			if (rq->err == ERR_FETCH_CONNECT &&
			    (rq->got_response || cc == CURLE_WEIRD_SERVER_REPLY ||
			     cc == CURLE_OUT_OF_MEMORY))
				rq->err = ERR_FETCH_PROTOCOL;
			if (cc == CURLE_OUT_OF_MEMORY)
				(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
				               "a response header line over libcurl's limit "
				               "(libcurl: %s)",
				               curl_easy_strerror(cc));
			else
				(void)snprintf(rq->info.detail, sizeof(rq->info.detail), "%s",
				               rq->errbuf[0] != '\0' ? rq->errbuf
				                                     : curl_easy_strerror(cc));
		} else if (!rq->headers_done) {
			rq->err = ERR_FETCH_HTTP;
			(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
			               "no final response header");
		}
	}
	rq->info.elapsed_ms = loop_now_ms(f->loop) - rq->start_ms;
	fetch_list_del(&f->active, rq);
	f->n_active--;
	rq->state = FETCH_DONE;
	fetch_list_add(&f->done, rq);
}

static void fetch_dispatch(struct loop *loop, struct loop_timer *t, void *arg);
static void fetch_curl_done(CURL *easy, CURLcode cc, void *arg);

/* Start queued requests while there is room. Never inside a curl callback. */
static void
fetch_promote(struct fetcher *f)
{
	struct fetch_req *rq;

	while (f->n_active < f->concurrency && (rq = f->queued.head) != NULL) {
		fetch_list_del(&f->queued, rq);
		if (curlm_add(f->curlm, rq->easy, fetch_curl_done, rq) < 0) {
			rq->err = ERR_FETCH_CONNECT;
			(void)snprintf(rq->info.detail, sizeof(rq->info.detail), "%s",
			               "libcurl refused the transfer");
			rq->state = FETCH_DONE;
			fetch_list_add(&f->done, rq);
			continue;
		}
		rq->state = FETCH_ACTIVE;
		fetch_list_add(&f->active, rq);
		f->n_active++;
	}
	if (f->done.head != NULL && !loop_timer_armed(&f->dispatch_timer))
		loop_timer_start(f->loop, &f->dispatch_timer, 0, fetch_dispatch, f);
}

/* curlm: a transfer ended (from a loop callback, outside curl; the handle is removed). */
static void
fetch_curl_done(CURL *easy, CURLcode cc, void *arg)
{
	struct fetch_req *rq = arg;

	(void)easy;
	fetch_complete(rq, cc);
	fetch_promote(rq->f);
}

static void
fetcher_destroy(struct fetcher *f)
{
	struct lru_node *n;

	loop_timer_stop(f->loop, &f->dispatch_timer);
	if (f->own_curlm)
		f->curlm = curlm_free(f->curlm); /* closes cached connections */
	while ((n = lru_pop_oldest(f->verified)) != NULL)
		fetch_verified_free(n, NULL);
	lru_free(f->verified);
	if (f->trust != NULL)
		gnutls_x509_trust_list_deinit(f->trust, 1);
	(void)pthread_mutex_destroy(&f->verify_mu);
	free(f->ca_file);
	free(f->connect_to);
	free(f);
}

/* Run the callbacks of finished requests, one at a time (each may start, cancel or free). */
/* info->detail may quote the policy host (curl's error text, the certificate's CN): made
 * printable and bounded (log_printable()) before any caller shows it, in a log line, in
 * `mtastsd query` or `check` output. */
static void
fetch_detail_printable(struct fetch_info *info)
{
	char buf[sizeof(info->detail)];

	(void)log_printable(buf, sizeof(buf), info->detail, strlen(info->detail));
	memcpy(info->detail, buf, sizeof(buf));
}

static void
fetch_dispatch(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct fetcher *f = arg;
	struct fetch_req *rq;

	f->dispatching = 1;
	while (!f->free_pending && (rq = f->done.head) != NULL) {
		fetch_list_del(&f->done, rq);
		fetch_detail_printable(&rq->info);
		rq->done(rq->err, rq->err == 0 ? (rq->body != NULL ? rq->body : "") : NULL,
		         rq->err == 0 ? rq->len : 0, &rq->info, rq->arg);
		fetch_req_free(rq);
	}
	f->dispatching = 0;
	if (f->free_pending)
		fetcher_destroy(f);
}

int
fetcher_new(struct loop *loop, const struct cfg_resolver *cfg, struct fetcher **ret_f)
{
	return fetcher_new_on(loop, NULL, cfg, ret_f);
}

int
fetcher_new_on(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
               struct fetcher **ret_f)
{
	struct fetcher *f;
	int r;

	f = xcalloc(1, sizeof(*f));
	f->loop = loop;
	f->verified = lru_new(FETCH_VERIFIED_MAX, fetch_verified_free, NULL);
	(void)pthread_mutex_init(&f->verify_mu, NULL);
	f->timeout_ms =
	        cfg->fetch_timeout_ms > 0 ? cfg->fetch_timeout_ms : FETCH_TIMEOUT_DEFAULT_MS;
	f->max_body = cfg->fetch_max_body > 0 && cfg->fetch_max_body <= STS_POLICY_BODY_MAX
	                      ? cfg->fetch_max_body
	                      : STS_POLICY_BODY_MAX;
	/* The policy engine keeps discoveries within fetch_concurrency itself; refreshes have
	 * their own refresh_concurrency slots on top, so they never queue behind them. */
	f->concurrency =
	        (cfg->fetch_concurrency > 0 ? cfg->fetch_concurrency : FETCH_CONCURRENCY_DEFAULT) +
	        cfg->refresh_concurrency;
	f->ca_file = cfg->ca_file != NULL ? xstrdup(cfg->ca_file) : NULL;
	f->connect_to = cfg->connect_to != NULL ? xstrdup(cfg->connect_to) : NULL;
	if (curlm == NULL) {
		r = curlm_new(loop, &curlm);
		if (r < 0) {
			fetcher_destroy(f);
			return r;
		}
		f->own_curlm = 1;
	}
	f->curlm = curlm;
	*ret_f = f;
	return 0;
}

static int
fetch_req_setup(struct fetcher *f, struct fetch_req *rq)
{
	CURL *e;
	char *ct;
	int ok = 1;

	e = curl_easy_init();
	if (e == NULL)
		return -ENOMEM;
	rq->easy = e;
	rq->url = xasprintf("https://mta-sts.%s/.well-known/mta-sts.txt", rq->domain);
	ok &= curl_easy_setopt(e, CURLOPT_URL, rq->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	/* The certificate is verified by fetch_prereq_cb() against the fetcher's trust list,
	 * before the request is sent; libcurl loads no CA at all (no CAINFO, no CApath). */
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) == CURLE_OK;
	if (f->connect_to != NULL) {
		ct = xasprintf("::%s", f->connect_to);
		rq->connect_to = curl_slist_append(NULL, ct);
		free(ct);
		if (rq->connect_to == NULL)
			return -ENOMEM;
		ok &= curl_easy_setopt(e, CURLOPT_CONNECT_TO, rq->connect_to) == CURLE_OK;
	}
	/* No proxies from the environment: the fetch goes to the policy host itself. */
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "mtastsd/" MTASTSD_VERSION) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rq->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fetch_header_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, rq) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_write_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, rq) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, fetch_prereq_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PREREQDATA, rq) == CURLE_OK;
	return ok ? 0 : -EINVAL;
}

void
fetcher_use_dns(struct fetcher *f, struct dns_client *dns)
{
	f->dns = dns;
}

/* ---- the policy host's addresses, from our own DNS client (RFC 8461 section 3.3: the
 * host is mta-sts.<domain>; resolved like the TXT record, with resolver.dns_servers) ---- */

/* Both lookups have answered: hand the addresses to libcurl and queue the transfer, or
 * finish with the lookup's failure. Never inside a curl callback (a DNS callback). */
static void
fetch_resolved(struct fetch_req *rq)
{
	struct fetcher *f = rq->f;
	uint64_t elapsed = loop_now_ms(f->loop) - rq->start_ms;
	char *entry, *o;
	size_t i, cap;

	fetch_list_del(&f->resolving, rq);
	if (rq->n_addrs == 0) {
		int gone = 1; /* NXDOMAIN/NODATA for both: the host does not exist */

		for (i = 0; i < 2; i++)
			if (rq->dns_err[i] != ERR_DNS_NXDOMAIN && rq->dns_err[i] != ERR_DNS_NODATA)
				gone = 0;
		rq->err = gone ? ERR_FETCH_HOST_UNKNOWN : ERR_FETCH_HOST_DNS;
		(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
		               "mta-sts.%s: A: %s, AAAA: %s", rq->domain, err_str(rq->dns_err[0]),
		               err_str(rq->dns_err[1]));
	} else if (elapsed >= f->timeout_ms) {
		rq->err = ERR_FETCH_TIMEOUT;
		(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
		               "resolving mta-sts.%s took the whole fetch timeout", rq->domain);
	} else {
		/* HOST:PORT:ADDR[,ADDR]...; IPv6 in brackets (CURLOPT_RESOLVE(3)) */
		cap = strlen(rq->domain) + 32 + rq->n_addrs * (INET6_ADDRSTRLEN + 3);
		entry = xmalloc(cap);
		o = entry + snprintf(entry, cap, "mta-sts.%s:443:", rq->domain);
		for (i = 0; i < rq->n_addrs; i++)
			o += snprintf(o, cap - (size_t)(o - entry),
			              strchr(rq->addrs[i], ':') != NULL ? "%s[%s]" : "%s%s",
			              i > 0 ? "," : "", rq->addrs[i]);
		rq->resolve = curl_slist_append(NULL, entry);
		free(entry);
		if (rq->resolve == NULL ||
		    curl_easy_setopt(rq->easy, CURLOPT_RESOLVE, rq->resolve) != CURLE_OK ||
		    curl_easy_setopt(rq->easy, CURLOPT_TIMEOUT_MS,
		                     (long)(f->timeout_ms - elapsed)) != CURLE_OK) {
			rq->err = ERR_FETCH_CONNECT;
			(void)snprintf(rq->info.detail, sizeof(rq->info.detail),
			               "cannot hand the addresses of mta-sts.%s to libcurl",
			               rq->domain);
		} else {
			rq->state = FETCH_QUEUED;
			fetch_list_add(&f->queued, rq);
			fetch_promote(f);
			return;
		}
	}
	rq->info.elapsed_ms = elapsed;
	rq->state = FETCH_DONE;
	fetch_list_add(&f->done, rq);
	fetch_promote(f); /* arms the dispatch timer */
}

static void
fetch_dns_result(struct fetch_req *rq, int idx, int err, const ldns_pkt *answer)
{
	rq->dq[idx] = NULL;
	if (rq->canceling)
		return; /* fetch_cancel() reports the request itself */
	rq->dns_err[idx] = err == -ECANCELED ? ERR_DNS_TIMEOUT : err; /* client freed first */
	if (err == 0)
		rq->n_addrs +=
		        dns_answer_addrs(answer, idx == 0 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA,
		                         rq->addrs + rq->n_addrs, FETCH_ADDRS_MAX);
	if (rq->dq[0] == NULL && rq->dq[1] == NULL)
		fetch_resolved(rq);
}

static void
fetch_dns_a_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	(void)ad;
	fetch_dns_result(arg, 0, err, answer);
}

static void
fetch_dns_aaaa_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	(void)ad;
	fetch_dns_result(arg, 1, err, answer);
}

/* Ask for A and AAAA of mta-sts.<domain>; 0, or -EINVAL when the name is refused. */
static int
fetch_resolve_start(struct fetcher *f, struct fetch_req *rq)
{
	char host[DOMAIN_NAME_MAX + 16];

	(void)snprintf(host, sizeof(host), "mta-sts.%s", rq->domain);
	rq->state = FETCH_RESOLVING;
	fetch_list_add(&f->resolving, rq);
	rq->dq[0] = dns_query_start(f->dns, host, LDNS_RR_TYPE_A, 0, fetch_dns_a_done, rq);
	rq->dq[1] = dns_query_start(f->dns, host, LDNS_RR_TYPE_AAAA, 0, fetch_dns_aaaa_done, rq);
	if (rq->dq[0] != NULL && rq->dq[1] != NULL)
		return 0;
	rq->canceling = 1;
	dns_query_cancel(rq->dq[0]);
	dns_query_cancel(rq->dq[1]);
	fetch_list_del(&f->resolving, rq);
	return -EINVAL;
}

struct fetch_req *
fetch_start(struct fetcher *f, const char *domain, fetch_done_fn *done, void *arg)
{
	struct fetch_req *rq;
	size_t len;

	if (f->freeing || domain == NULL)
		return NULL;
	len = strlen(domain);
	if (len == 0 || len > DOMAIN_NAME_MAX - 8 || strpbrk(domain, "/?#@:[] \t\r\n") != NULL)
		return NULL;
	rq = xcalloc(1, sizeof(*rq));
	rq->f = f;
	rq->domain = xstrdup(domain);
	rq->done = done;
	rq->arg = arg;
	rq->hdr.content_length = -1;
	rq->start_ms = loop_now_ms(f->loop);
	fetch_trust_load(f);
	if (fetch_req_setup(f, rq) < 0) {
		fetch_req_free(rq);
		return NULL;
	}
	if (f->dns != NULL && f->connect_to == NULL) {
		if (fetch_resolve_start(f, rq) < 0) {
			fetch_req_free(rq);
			return NULL;
		}
		return rq;
	}
	rq->state = FETCH_QUEUED;
	fetch_list_add(&f->queued, rq);
	/* Starting it here is safe: we are not inside a curl callback. done() runs later
	 * from the dispatch timer even if curl refuses the handle. */
	fetch_promote(f);
	return rq;
}

void
fetch_cancel(struct fetch_req *rq)
{
	struct fetcher *f;

	if (rq == NULL)
		return;
	f = rq->f;
	fetch_list_del(fetch_list_of(f, rq), rq);
	if (rq->state == FETCH_RESOLVING) {
		rq->canceling = 1;
		dns_query_cancel(rq->dq[0]);
		dns_query_cancel(rq->dq[1]);
	}
	if (rq->state == FETCH_ACTIVE) {
		curlm_remove(f->curlm, rq->easy);
		f->n_active--;
	}
	rq->info.elapsed_ms = loop_now_ms(f->loop) - rq->start_ms;
	(void)snprintf(rq->info.detail, sizeof(rq->info.detail), "cancelled");
	rq->done(-ECANCELED, NULL, 0, &rq->info, rq->arg);
	fetch_req_free(rq);
	if (!f->freeing)
		fetch_promote(f);
}

struct fetcher *
fetcher_free(struct fetcher *f)
{
	struct fetch_req *rq;

	if (f == NULL || f->freeing)
		return NULL;
	f->freeing = 1;
	for (;;) {
		rq = f->done.head != NULL     ? f->done.head
		     : f->active.head != NULL ? f->active.head
		     : f->queued.head != NULL ? f->queued.head
		                              : f->resolving.head;
		if (rq == NULL)
			break;
		fetch_cancel(rq);
	}
	if (f->dispatching)
		f->free_pending = 1; /* fetch_dispatch() destroys it when the callback returns */
	else
		fetcher_destroy(f);
	return NULL;
}
