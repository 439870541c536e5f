/*
 * acme/acme.c - the built-in ACME client (RFC 8555) on the main loop
 *
 * Interface: see acme.h
 * Design:    three layers, each calling the next from loop callbacks only:
 *            requests (acme_req: one libcurl easy handle on the main-loop multi, the JWS
 *            signed just before it is sent so that it carries a fresh nonce; a badNonce
 *            answer is sent again, up to ACME_BADNONCE_RETRIES times, RFC 8555 section
 *            6.5), the account (directory, account key, newAccount: once, shared by every
 *            name; names that want it wait in a queue), and one order per name (struct
 *            acme_name, enum acme_step).
 *            Every request ends in exactly one callback; a name's step decides the next
 *            request or the end of the order (acme_order_end()), which plans the next
 *            attempt. At most ACME_ORDERS_MAX orders run at once.
 * Threads:   main loop only.
 * Ownership: the client owns its names and requests; acme_free() cancels the requests.
 * Errors:    logged per domain (log_dom_*), with the problem document's type and detail.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "acme.h"
#include "acme_jws.h"
#include "acme_plan.h"
#include "curlm.h"
#include "log.h"
#include "mtasts_limits.h"
#include "stats.h"
#include "xalloc.h"

#define ACME_NONCES_MAX 16 /* nonces kept from responses for the next requests */
#define ACME_ERR_MAX    512

enum acme_boot {
	BOOT_NONE,      /* nothing fetched */
	BOOT_DIRECTORY, /* GET directory in flight */
	BOOT_ACCOUNT,   /* newAccount in flight */
	BOOT_READY,     /* kid known */
};

enum acme_step {
	STEP_IDLE,      /* timer armed for the next attempt */
	STEP_QUEUED,    /* waiting for the account or an order slot */
	STEP_ORDER,     /* newOrder */
	STEP_AUTHZ,     /* POST-as-GET the authorization */
	STEP_CHALLENGE, /* POST {} to the http-01 challenge */
	STEP_AUTHZ_POLL,
	STEP_FINALIZE,
	STEP_ORDER_POLL,
	STEP_CERT,
};

struct acme;
struct acme_name;
struct acme_resp {
	int err; /* 0: an HTTP response; else the transport's -errno */
	long status;
	const char *body; /* NUL-terminated */
	size_t len;
	const char *location;    /* Location header, NULL none */
	uint64_t retry_after_ms; /* Retry-After, 0 none */
	json_object *json;       /* the body parsed, NULL when not JSON */
	const char *problem_type;
	const char *problem_detail;
	const char *detail; /* curl's error text when err != 0 */
};
typedef void acme_resp_fn(struct acme *a, struct acme_name *n, const struct acme_resp *r);

struct acme_req {
	struct acme *a;
	struct acme_name *n; /* NULL: the account's request */
	struct acme_req *prev, *next;
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	char *payload;  /* JSON text to sign; NULL: POST-as-GET */
	int post;       /* 0: GET (directory), 2: HEAD (newNonce) */
	int use_jwk;    /* sign with the jwk (newAccount), else kid */
	int retried;    /* badNonce retries done (ACME_BADNONCE_RETRIES) */
	int want_nonce; /* a POST waiting for a HEAD newNonce of its own */
	char *body;
	size_t len, cap;
	char *location;
	char *nonce;
	uint64_t retry_after_ms;
	char errbuf[CURL_ERROR_SIZE];
	acme_resp_fn *done;
};

struct acme_name {
	struct acme *a;
	char *domain, *host, *dir, *cert_path, *key_path;
	enum acme_step step;
	struct loop_timer timer;
	struct acme_name *queue_next;
	int queued;
	/* certificate in service (read from cert_path) */
	time_t not_before, not_after;
	char *issuer;
	time_t next_attempt; /* wall */
	/* the order in flight */
	char *order_url, *finalize_url, *cert_url;
	char **authz;
	size_t n_authz, i_authz;
	char *token, *chall_url;
	unsigned polls;
	unsigned failures;
	uint64_t retry_after_ms;
	char last_error[ACME_ERR_MAX];
	int has_error;
	uint64_t orders_ok, orders_failed;
};

struct acme {
	struct loop *loop;
	struct curlm *curlm;
	struct acme_hooks hooks;
	char *directory, *contact, *eab_kid, *eab_hmac_key, *ca_file;
	char *state_dir, *account_key_path;
	uint64_t retry_min_ms, retry_max_ms;
	/* directory */
	char *new_nonce, *new_account, *new_order, *renewal_info;
	int eab_required;
	/* account */
	enum acme_boot boot;
	gnutls_privkey_t account_key;
	char *jwk, *thumbprint, *kid;
	char *nonces[ACME_NONCES_MAX];
	size_t n_nonces;
	/* names */
	struct acme_name *names;
	size_t n_names;
	struct acme_name *queue_head, *queue_tail;
	unsigned n_running;
	struct acme_req *reqs; /* every request in flight */
	struct loop_timer boot_timer;
	int freeing;
};

static void acme_boot_start(struct acme *a);
static void acme_req_send(struct acme_req *rq);
static void acme_queue_run(struct acme *a);

/* ---- helpers ---- */

static uint64_t
acme_rand(uint64_t below)
{
	uint64_t v = 0;

	if (below == 0)
		return 0;
	(void)gnutls_rnd(GNUTLS_RND_NONCE, &v, sizeof(v));
	return v % below;
}

/* Printable, cut at 200 bytes (docs/style.md section 7): text a CA sent. */
static void
acme_printable(char *dst, size_t dstsz, const char *src)
{
	size_t i, n = 0;

	for (i = 0; src != NULL && src[i] != '\0' && n + 1 < dstsz && i < 200; i++)
		dst[n++] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[n] = '\0';
}

static const char *
json_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
nonce_put(struct acme *a, const char *nonce)
{
	if (nonce == NULL || nonce[0] == '\0')
		return;
	if (a->n_nonces == ACME_NONCES_MAX) {
		free(a->nonces[0]);
		memmove(&a->nonces[0], &a->nonces[1], (ACME_NONCES_MAX - 1) * sizeof(char *));
		a->n_nonces--;
	}
	a->nonces[a->n_nonces++] = xstrdup(nonce);
}

static char *
nonce_take(struct acme *a)
{
	if (a->n_nonces == 0)
		return NULL;
	return a->nonces[--a->n_nonces];
}

/* ---- requests ---- */

static size_t
acme_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct acme_req *rq = userdata;
	size_t n = size * nmemb;

	if (rq->len + n > ACME_BODY_MAX)
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	if (rq->len + n + 1 > rq->cap) {
		rq->cap = (rq->len + n + 1) * 2;
		if (rq->cap > ACME_BODY_MAX + 1)
			rq->cap = ACME_BODY_MAX + 1;
		rq->body = xrealloc(rq->body, rq->cap);
	}
	memcpy(rq->body + rq->len, ptr, n);
	rq->len += n;
	rq->body[rq->len] = '\0';
	return n;
}

static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name), i;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	i = nl + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	return xstrndup(line + i, len - i);
}

static size_t
acme_header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct acme_req *rq = userdata;
	size_t len = size * nitems;
	char *v;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue): forget the headers of the one before */
		free(rq->location);
		rq->location = NULL;
		rq->retry_after_ms = 0;
		return len;
	}
	if ((v = header_value(buf, len, "Replay-Nonce")) != NULL) {
		free(rq->nonce);
		rq->nonce = v;
	} else if ((v = header_value(buf, len, "Location")) != NULL) {
		free(rq->location);
		rq->location = v;
	} else if ((v = header_value(buf, len, "Retry-After")) != NULL) {
		char *end = NULL;
		unsigned long long s = strtoull(v, &end, 10);
		time_t t;

		if (end != v && *end == '\0') {
			rq->retry_after_ms = (uint64_t)(s > 86400 ? 86400 : s) * 1000;
		} else {
			t = curl_getdate(v, NULL); /* an HTTP-date (RFC 9110 section 10.2.3) */
			if (t > 0 && t > time(NULL))
				rq->retry_after_ms = (uint64_t)(t - time(NULL)) * 1000;
		}
		free(v);
	}
	return len;
}

static void
acme_req_unlink(struct acme_req *rq)
{
	struct acme *a = rq->a;

	if (rq->prev != NULL)
		rq->prev->next = rq->next;
	else if (a->reqs == rq)
		a->reqs = rq->next;
	if (rq->next != NULL)
		rq->next->prev = rq->prev;
	rq->prev = rq->next = NULL;
}

static void
acme_req_free(struct acme_req *rq)
{
	if (rq->easy != NULL)
		curl_easy_cleanup(rq->easy);
	curl_slist_free_all(rq->hdrs);
	free(rq->url);
	free(rq->payload);
	free(rq->body);
	free(rq->location);
	free(rq->nonce);
	free(rq);
}

/* A new request of n (NULL: the account's) to url; payload NULL is a POST-as-GET. */
static void
acme_post(struct acme *a, struct acme_name *n, const char *url, const char *payload, int use_jwk,
          acme_resp_fn *done)
{
	struct acme_req *rq = xcalloc(1, sizeof(*rq));

	rq->a = a;
	rq->n = n;
	rq->url = xstrdup(url);
	rq->payload = payload != NULL ? xstrdup(payload) : NULL;
	rq->post = 1;
	rq->use_jwk = use_jwk;
	rq->done = done;
	rq->next = a->reqs;
	if (a->reqs != NULL)
		a->reqs->prev = rq;
	a->reqs = rq;
	acme_req_send(rq);
}

static void
acme_get(struct acme *a, const char *url, acme_resp_fn *done)
{
	struct acme_req *rq = xcalloc(1, sizeof(*rq));

	rq->a = a;
	rq->url = xstrdup(url);
	rq->post = 0;
	rq->done = done;
	rq->next = a->reqs;
	if (a->reqs != NULL)
		a->reqs->prev = rq;
	a->reqs = rq;
	acme_req_send(rq);
}

static void acme_curl_done(CURL *easy, CURLcode cc, void *arg);

/* Report rq's end to its owner and free it. */
static void
acme_req_finish(struct acme_req *rq, const struct acme_resp *r)
{
	struct acme *a = rq->a;

	acme_req_unlink(rq);
	rq->done(a, rq->n, r);
	acme_req_free(rq);
}

static void
acme_req_fail(struct acme_req *rq, int err, const char *detail)
{
	struct acme_resp r = {.err = err, .detail = detail, .body = ""};

	acme_req_finish(rq, &r);
}

/* (Re)build the easy handle and start it: a POST takes a nonce first (a HEAD newNonce
 * when the pool is empty) and is signed now. */
static void
acme_req_send(struct acme_req *rq)
{
	struct acme *a = rq->a;
	char *nonce = NULL, *jws = NULL;
	CURL *e;
	int ok = 1;

	if (rq->easy != NULL)
		curl_easy_cleanup(rq->easy);
	curl_slist_free_all(rq->hdrs);
	rq->hdrs = NULL;
	free(rq->body);
	rq->body = NULL;
	rq->len = rq->cap = 0;
	free(rq->location);
	rq->location = NULL;
	rq->retry_after_ms = 0;
	rq->easy = e = curl_easy_init();
	if (e == NULL) {
		acme_req_fail(rq, -ENOMEM, "curl_easy_init failed");
		return;
	}
	rq->want_nonce = 0;
	if (rq->post == 1) {
		nonce = nonce_take(a);
		if (nonce == NULL) {
			/* HEAD newNonce (RFC 8555 section 7.2) on this handle, then the POST */
			rq->want_nonce = 1;
			ok &= curl_easy_setopt(e, CURLOPT_URL, a->new_nonce) == CURLE_OK;
			ok &= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
		} else {
			jws = acme_jws(a->account_key, rq->use_jwk ? NULL : a->kid, nonce, rq->url,
			               rq->payload);
			free(nonce);
			if (jws == NULL) {
				acme_req_fail(rq, -EIO, "cannot sign the request (JWS ES256)");
				return;
			}
			rq->hdrs =
			        curl_slist_append(rq->hdrs, "Content-Type: application/jose+json");
			ok &= curl_easy_setopt(e, CURLOPT_URL, rq->url) == CURLE_OK;
			ok &= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, jws) == CURLE_OK;
			free(jws);
		}
	} else {
		ok &= curl_easy_setopt(e, CURLOPT_URL, rq->url) == CURLE_OK;
	}
	rq->hdrs = curl_slist_append(rq->hdrs, "User-Agent: mtastsd-acme");
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->hdrs) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ACME_HTTP_TIMEOUT_MS) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, acme_write_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, rq) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, acme_header_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, rq) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rq->errbuf) == CURLE_OK;
	if (a->ca_file != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file) == CURLE_OK;
	rq->errbuf[0] = '\0';
	if (!ok || curlm_add(a->curlm, e, acme_curl_done, rq) < 0)
		acme_req_fail(rq, -EIO, "libcurl refused the request");
}

static int
acme_is_problem(const struct acme_resp *r, const char *type_suffix)
{
	const char *t = r->problem_type;
	size_t tl, sl = strlen(type_suffix);

	if (t == NULL)
		return 0;
	tl = strlen(t);
	return tl >= sl && strcmp(t + tl - sl, type_suffix) == 0;
}

static void
acme_curl_done(CURL *easy, CURLcode cc, void *arg)
{
	struct acme_req *rq = arg;
	struct acme *a = rq->a;
	struct acme_resp r = {0};
	long status = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	nonce_put(a, rq->nonce);
	free(rq->nonce);
	rq->nonce = NULL;
	if (cc != CURLE_OK) {
		acme_req_fail(rq, -EIO,
		              rq->errbuf[0] != '\0' ? rq->errbuf : curl_easy_strerror(cc));
		return;
	}
	if (rq->want_nonce) {
		if (a->n_nonces == 0) {
			acme_req_fail(rq, -EPROTO, "newNonce gave no Replay-Nonce header");
			return;
		}
		acme_req_send(rq);
		return;
	}
	r.status = status;
	r.body = rq->body != NULL ? rq->body : "";
	r.len = rq->len;
	r.location = rq->location;
	r.retry_after_ms = rq->retry_after_ms;
	if (r.len > 0 && (r.body[0] == '{' || r.body[0] == '['))
		r.json = json_tokener_parse(r.body);
	if (status >= 400) {
		r.problem_type = json_str(r.json, "type");
		r.problem_detail = json_str(r.json, "detail");
		if (status == 400 && acme_is_problem(&r, ":badNonce") &&
		    rq->retried < ACME_BADNONCE_RETRIES && rq->post == 1) {
			/* RFC 8555 section 6.5: retry with the nonce of this error (bounded) */
			rq->retried++;
			log_info("ACME: badNonce from %s, sending the request again with a fresh "
			         "nonce",
			         rq->url);
			if (r.json != NULL)
				json_object_put(r.json);
			acme_req_send(rq);
			return;
		}
	}
	acme_req_finish(rq, &r);
	if (r.json != NULL)
		json_object_put(r.json);
}

/* ---- certificates in service ---- */

/* Read n's fullchain.pem: its validity and issuer. Returns 0, or -ENOENT / -EIO. */
static int
acme_name_read_cert(struct acme_name *n)
{
	gnutls_datum_t d = {NULL, 0}, dn = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	unsigned n_crts = 0, i;
	int r;

	if (access(n->cert_path, F_OK) < 0)
		return -ENOENT;
	if (gnutls_load_file(n->cert_path, &d) < 0)
		return -EIO;
	r = gnutls_x509_crt_list_import2(&crts, &n_crts, &d, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(d.data);
	if (r < 0 || n_crts == 0)
		return -EIO;
	n->not_before = gnutls_x509_crt_get_activation_time(crts[0]);
	n->not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
	free(n->issuer);
	n->issuer = NULL;
	if (gnutls_x509_crt_get_issuer_dn3(crts[0], &dn, 0) >= 0) {
		n->issuer = xstrndup((const char *)dn.data, dn.size);
		gnutls_free(dn.data);
	}
	for (i = 0; i < n_crts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return 0;
}

/* ---- one name's order ---- */

static void
acme_timer_fired(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct acme_name *n = arg;
	time_t now = loop_wall_s(loop);

	(void)t;
	if (n->step != STEP_IDLE)
		return;
	if (n->next_attempt > now) {
		/* long sleeps are cut into ACME_TIMER_MAX_MS pieces: plan again */
		uint64_t ms = (uint64_t)(n->next_attempt - now) * 1000;

		loop_timer_start(loop, &n->timer, ms > ACME_TIMER_MAX_MS ? ACME_TIMER_MAX_MS : ms,
		                 acme_timer_fired, n);
		return;
	}
	n->step = STEP_QUEUED;
	n->queued = 1;
	n->queue_next = NULL;
	if (n->a->queue_tail != NULL)
		n->a->queue_tail->queue_next = n;
	else
		n->a->queue_head = n;
	n->a->queue_tail = n;
	acme_queue_run(n->a);
}

/* Arm n's timer for the wall time when. */
static void
acme_name_plan(struct acme_name *n, time_t when)
{
	time_t now = loop_wall_s(n->a->loop);
	uint64_t ms = when > now ? (uint64_t)(when - now) * 1000 : 0;

	n->step = STEP_IDLE;
	n->next_attempt = when > now ? when : now;
	loop_timer_start(n->a->loop, &n->timer, ms > ACME_TIMER_MAX_MS ? ACME_TIMER_MAX_MS : ms,
	                 acme_timer_fired, n);
}

/* The renewal time of the certificate in service (no ARI: RFC 9773 is not asked). */
static time_t
acme_renew_at(const struct acme_name *n)
{
	return acme_plan_renewal(n->not_before, n->not_after, acme_rand(UINT64_MAX));
}

static void
acme_order_clear(struct acme_name *n)
{
	size_t i;

	if (n->token != NULL && n->a->hooks.token_del != NULL)
		n->a->hooks.token_del(n->a->hooks.arg, n->token);
	free(n->token);
	n->token = NULL;
	free(n->chall_url);
	n->chall_url = NULL;
	for (i = 0; i < n->n_authz; i++)
		free(n->authz[i]);
	free(n->authz);
	n->authz = NULL;
	n->n_authz = n->i_authz = 0;
	free(n->order_url);
	free(n->finalize_url);
	free(n->cert_url);
	n->order_url = n->finalize_url = n->cert_url = NULL;
	n->polls = 0;
}

/* The order of n ended: ok, or failed with why (logged here). Plans the next attempt. */
static void acme_order_end(struct acme_name *n, int ok, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* "YYYY-MM-DD HH:MM:SS UTC" of t in buf (size bytes), for the log. */
static const char *
acme_when(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

static void
acme_order_end(struct acme_name *n, int ok, const char *fmt, ...)
{
	struct acme *a = n->a;
	time_t now = loop_wall_s(a->loop);
	uint64_t delay_ms;
	char when[32];
	va_list ap;

	acme_order_clear(n);
	if (a->n_running > 0)
		a->n_running--;
	if (ok) {
		n->failures = 0;
		n->has_error = 0;
		n->last_error[0] = '\0';
		n->orders_ok++;
		/* a certificate that is due at once (a CA's very short lifetime) waits the
		 * retry delay, never a loop of orders */
		acme_name_plan(n, acme_renew_at(n) > now ? acme_renew_at(n)
		                                         : now + (time_t)(a->retry_min_ms / 1000));
		log_dom_info(n->domain, "ACME: next renewal of mta-sts.%s at %s (in %lld s)",
		             n->domain, acme_when(n->next_attempt, when, sizeof(when)),
		             (long long)(n->next_attempt - now));
	} else {
		va_start(ap, fmt);
		(void)vsnprintf(n->last_error, sizeof(n->last_error), fmt, ap);
		va_end(ap);
		n->has_error = 1;
		n->orders_failed++;
		n->failures++;
		delay_ms = acme_plan_backoff_ms(n->failures, a->retry_min_ms, a->retry_max_ms,
		                                n->retry_after_ms);
		n->retry_after_ms = 0;
		acme_name_plan(n, now + (time_t)((delay_ms + 999) / 1000));
		log_dom_err(n->domain,
		            "ACME: order for mta-sts.%s failed: %s; retrying in %llu s%s",
		            n->domain, n->last_error, (unsigned long long)((delay_ms + 999) / 1000),
		            n->not_after > now ? ", the certificate in service stays" : "");
		if (acme_plan_expiring(n->not_before, n->not_after, now))
			log_dom_warn(n->domain,
			             "certificate of mta-sts.%s expires in %lld s and could not be "
			             "renewed",
			             n->domain, (long long)(n->not_after - now));
	}
	acme_queue_run(a);
}

/* Describe a failed response into buf. */
static void
acme_resp_why(const struct acme_resp *r, const char *what, char *buf, size_t bufsz)
{
	char t[256], d[256];

	if (r->err != 0) {
		acme_printable(d, sizeof(d), r->detail);
		(void)snprintf(buf, bufsz, "%s: %s", what, d);
		return;
	}
	if (r->problem_type != NULL) {
		acme_printable(t, sizeof(t), r->problem_type);
		acme_printable(d, sizeof(d), r->problem_detail != NULL ? r->problem_detail : "");
		if (snprintf(buf, bufsz, "%s: HTTP %ld, problem %s: %s", what, r->status, t, d) >=
		    (int)bufsz)
			buf[bufsz - 1] = '\0'; /* cut: the text is printable already */
		return;
	}
	(void)snprintf(buf, bufsz, "%s: HTTP %ld", what, r->status);
}

static int
acme_resp_ok(struct acme_name *n, const struct acme_resp *r, const char *what)
{
	char why[ACME_ERR_MAX];

	if (r->err == 0 && r->status >= 200 && r->status < 300)
		return 1;
	if (r->retry_after_ms > 0)
		n->retry_after_ms = r->retry_after_ms;
	/* The CA forgot the account (a reset test CA) or could not be reached: fetch the
	 * directory and look the account up again before the next order. */
	if ((r->err != 0 || acme_is_problem(r, ":accountDoesNotExist")) && n->a->boot == BOOT_READY)
		n->a->boot = BOOT_NONE;
	acme_resp_why(r, what, why, sizeof(why));
	acme_order_end(n, 0, "%s", why);
	return 0;
}

static uint64_t
acme_poll_delay(const struct acme_resp *r)
{
	uint64_t ms = r->retry_after_ms > 0 ? r->retry_after_ms : ACME_POLL_DEFAULT_MS;

	return ms > ACME_POLL_MAX_MS ? ACME_POLL_MAX_MS : ms;
}

static void acme_step_timer(struct loop *loop, struct loop_timer *t, void *arg);

static void
acme_poll_later(struct acme_name *n, const struct acme_resp *r, enum acme_step step)
{
	if (++n->polls > ACME_POLLS_MAX) {
		acme_order_end(n, 0, "the CA did not finish after %d polls", ACME_POLLS_MAX);
		return;
	}
	n->step = step;
	loop_timer_start(n->a->loop, &n->timer, acme_poll_delay(r), acme_step_timer, n);
}

static void acme_on_order(struct acme *a, struct acme_name *n, const struct acme_resp *r);
static void acme_on_authz(struct acme *a, struct acme_name *n, const struct acme_resp *r);
static void acme_on_challenge(struct acme *a, struct acme_name *n, const struct acme_resp *r);
static void acme_on_cert(struct acme *a, struct acme_name *n, const struct acme_resp *r);

static void
acme_step_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct acme_name *n = arg;

	(void)loop;
	(void)t;
	if (n->step == STEP_AUTHZ_POLL)
		acme_post(n->a, n, n->authz[n->i_authz], NULL, 0, acme_on_authz);
	else if (n->step == STEP_ORDER_POLL)
		acme_post(n->a, n, n->order_url, NULL, 0, acme_on_order);
}

/* Finalize (RFC 8555 section 7.4): the name's key (made once, kept) and a CSR. */
static void
acme_finalize(struct acme_name *n)
{
	gnutls_privkey_t key = NULL;
	char *csr, *payload;
	int r;

	r = acme_key_load(n->key_path, &key);
	if (r == -ENOENT) {
		r = acme_key_new(&key);
		if (r == 0)
			r = acme_key_save(key, n->key_path);
	}
	if (r < 0) {
		if (key != NULL)
			gnutls_privkey_deinit(key);
		acme_order_end(n, 0, "certificate key %s: %s", n->key_path, strerror(-r));
		return;
	}
	csr = acme_csr(key, n->host);
	gnutls_privkey_deinit(key);
	if (csr == NULL) {
		acme_order_end(n, 0, "cannot make the CSR");
		return;
	}
	payload = xasprintf("{\"csr\":\"%s\"}", csr);
	free(csr);
	n->step = STEP_FINALIZE;
	n->polls = 0; /* the order's polls count apart from the authorizations' */
	acme_post(n->a, n, n->finalize_url, payload, 0, acme_on_order);
	free(payload);
}

/* Next authorization, or finalize when all are done. */
static void
acme_authz_next(struct acme_name *n)
{
	if (n->i_authz < n->n_authz) {
		n->step = STEP_AUTHZ;
		n->polls = 0;
		acme_post(n->a, n, n->authz[n->i_authz], NULL, 0, acme_on_authz);
		return;
	}
	acme_finalize(n);
}

/* An order object (newOrder, finalize, or a poll of it). */
static void
acme_on_order(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	json_object *auths, *v;
	const char *status, *s;
	size_t i, k;

	(void)a;
	if (!acme_resp_ok(n, r,
	                  n->step == STEP_ORDER      ? "newOrder"
	                  : n->step == STEP_FINALIZE ? "finalize"
	                                             : "order"))
		return;
	status = json_str(r->json, "status");
	if (status == NULL) {
		acme_order_end(n, 0, "order: no status in the CA's answer");
		return;
	}
	if (n->step == STEP_ORDER) {
		if (r->location == NULL || (s = json_str(r->json, "finalize")) == NULL ||
		    !json_object_object_get_ex(r->json, "authorizations", &auths) ||
		    !json_object_is_type(auths, json_type_array)) {
			acme_order_end(n, 0, "newOrder: no Location, finalize or authorizations");
			return;
		}
		n->order_url = xstrdup(r->location);
		n->finalize_url = xstrdup(s);
		k = json_object_array_length(auths);
		if (k > 8)
			k = 8; /* one identifier: one authorization; bound whatever a CA sends */
		n->authz = xcalloc(k + 1, sizeof(char *));
		for (i = 0; i < k; i++) {
			v = json_object_array_get_idx(auths, i);
			if (json_object_is_type(v, json_type_string))
				n->authz[n->n_authz++] = xstrdup(json_object_get_string(v));
		}
		log_dom_info(n->domain, "ACME: order for mta-sts.%s created, %zu authorization(s)",
		             n->domain, n->n_authz);
	}
	if (strcmp(status, "pending") == 0 && n->step == STEP_ORDER) {
		acme_authz_next(n);
	} else if (strcmp(status, "ready") == 0) {
		if (n->step == STEP_FINALIZE) {
			acme_poll_later(n, r, STEP_ORDER_POLL);
			return;
		}
		n->i_authz = n->n_authz;
		acme_finalize(n);
	} else if (strcmp(status, "processing") == 0 ||
	           (strcmp(status, "pending") == 0 && n->step != STEP_ORDER)) {
		acme_poll_later(n, r, STEP_ORDER_POLL);
	} else if (strcmp(status, "valid") == 0) {
		s = json_str(r->json, "certificate");
		if (s == NULL) {
			acme_order_end(n, 0, "order valid without a certificate URL");
			return;
		}
		n->cert_url = xstrdup(s);
		n->step = STEP_CERT;
		acme_post(n->a, n, n->cert_url, NULL, 0, acme_on_cert);
	} else {
		char why[256], d[200];
		json_object *err;

		d[0] = '\0';
		if (json_object_object_get_ex(r->json, "error", &err))
			acme_printable(d, sizeof(d), json_str(err, "detail"));
		(void)snprintf(why, sizeof(why), "order is %s%s%s", status, d[0] ? ": " : "", d);
		acme_order_end(n, 0, "%s", why);
	}
}

/* The http-01 challenge of an authorization object, or NULL. */
static json_object *
acme_http01(json_object *authz)
{
	json_object *cs, *c;
	size_t i;
	const char *t;

	if (!json_object_object_get_ex(authz, "challenges", &cs) ||
	    !json_object_is_type(cs, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(cs); i++) {
		c = json_object_array_get_idx(cs, i);
		t = json_str(c, "type");
		if (t != NULL && strcmp(t, "http-01") == 0)
			return c;
	}
	return NULL;
}

static void
acme_on_authz(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	json_object *c, *err;
	const char *status, *token, *url;
	char *ka;
	int rr;

	if (!acme_resp_ok(n, r, "authorization"))
		return;
	status = json_str(r->json, "status");
	if (status == NULL) {
		acme_order_end(n, 0, "authorization: no status");
		return;
	}
	if (strcmp(status, "valid") == 0) {
		if (n->token != NULL && a->hooks.token_del != NULL)
			a->hooks.token_del(a->hooks.arg, n->token);
		free(n->token);
		n->token = NULL;
		n->i_authz++;
		acme_authz_next(n);
		return;
	}
	if (strcmp(status, "pending") != 0) {
		char d[256] = "", t[128] = "";

		c = acme_http01(r->json);
		if (c != NULL && json_object_object_get_ex(c, "error", &err)) {
			acme_printable(t, sizeof(t), json_str(err, "type"));
			acme_printable(d, sizeof(d), json_str(err, "detail"));
		}
		acme_order_end(n, 0, "authorization is %s%s%s%s%s", status,
		               t[0] ? ", problem " : "", t, d[0] ? ": " : "", d);
		return;
	}
	if (n->step == STEP_AUTHZ_POLL) {
		acme_poll_later(n, r, STEP_AUTHZ_POLL);
		return;
	}
	c = acme_http01(r->json);
	token = json_str(c, "token");
	url = json_str(c, "url");
	if (c == NULL || token == NULL || url == NULL) {
		acme_order_end(n, 0, "authorization offers no http-01 challenge");
		return;
	}
	ka = xasprintf("%s.%s", token, a->thumbprint);
	rr = a->hooks.token_set != NULL ? a->hooks.token_set(a->hooks.arg, token, ka) : -ENOSYS;
	free(ka);
	if (rr < 0) {
		acme_order_end(n, 0, "cannot answer the http-01 token: %s", strerror(-rr));
		return;
	}
	free(n->token);
	n->token = xstrdup(token);
	free(n->chall_url);
	n->chall_url = xstrdup(url);
	n->step = STEP_CHALLENGE;
	acme_post(a, n, url, "{}", 0, acme_on_challenge);
}

static void
acme_on_challenge(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	(void)a;
	if (!acme_resp_ok(n, r, "challenge"))
		return;
	n->polls = 0;
	acme_poll_later(n, r, STEP_AUTHZ_POLL);
}

/* The chain loads with the name's key and names the host: else it is not installed. */
static int
acme_chain_check(struct acme_name *n, const char *pem, size_t len, char *why, size_t whysz)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cd = {(unsigned char *)(uintptr_t)pem, (unsigned)len}, kd = {NULL, 0};
	int r;

	if (gnutls_load_file(n->key_path, &kd) < 0) {
		(void)snprintf(why, whysz, "cannot read %s", n->key_path);
		return -1;
	}
	r = gnutls_certificate_allocate_credentials(&cred);
	if (r >= 0)
		r = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL,
		                                         0);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	gnutls_memset(kd.data, 0, kd.size);
	gnutls_free(kd.data);
	if (r < 0) {
		(void)snprintf(why, whysz, "the certificate does not load with %s: %s", n->key_path,
		               gnutls_strerror(r));
		return -1;
	}
	return 0;
}

static void
acme_on_cert(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	char why[ACME_ERR_MAX], when[32];
	int rr;

	if (!acme_resp_ok(n, r, "certificate download"))
		return;
	if (r->len == 0 || strstr(r->body, "-----BEGIN CERTIFICATE-----") == NULL) {
		acme_order_end(n, 0, "certificate download: not a PEM chain");
		return;
	}
	if (acme_chain_check(n, r->body, r->len, why, sizeof(why)) < 0) {
		acme_order_end(n, 0, "%s", why);
		return;
	}
	rr = acme_file_write(n->cert_path, r->body, r->len, 0644);
	if (rr < 0) {
		acme_order_end(n, 0, "cannot write %s: %s", n->cert_path, strerror(-rr));
		return;
	}
	(void)acme_name_read_cert(n);
	/* The publisher swaps the certificate in first (synchronously), so that the log line
	 * says what is served: a client that reads "installed" then connects gets the new one
	 * (t_acme.sh's ASan run fetched the old one in that window). */
	if (a->hooks.certs_changed != NULL)
		a->hooks.certs_changed(a->hooks.arg, n->domain);
	log_dom_notice(n->domain, "ACME: certificate for mta-sts.%s installed (%s), valid until %s",
	               n->domain, n->cert_path, acme_when(n->not_after, when, sizeof(when)));
	acme_order_end(n, 1, NULL);
}

static void
acme_order_start(struct acme_name *n)
{
	char *payload;

	if (mkdir(n->dir, 0700) < 0 && errno != EEXIST) {
		acme_order_end(n, 0, "cannot make %s: %s", n->dir, strerror(errno));
		return;
	}
	log_dom_notice(n->domain, "ACME: ordering a certificate for mta-sts.%s from %s", n->domain,
	               n->a->directory);
	payload = xasprintf("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", n->host);
	n->step = STEP_ORDER;
	acme_post(n->a, n, n->a->new_order, payload, 0, acme_on_order);
	free(payload);
}

static void
acme_queue_run(struct acme *a)
{
	struct acme_name *n;

	if (a->freeing || a->queue_head == NULL)
		return;
	if (a->boot != BOOT_READY) {
		if (a->boot == BOOT_NONE)
			acme_boot_start(a);
		return;
	}
	while (a->n_running < ACME_ORDERS_MAX && (n = a->queue_head) != NULL) {
		a->queue_head = n->queue_next;
		if (a->queue_head == NULL)
			a->queue_tail = NULL;
		n->queued = 0;
		a->n_running++;
		acme_order_start(n);
	}
}

/* ---- directory and account ---- */

/* The account could not be made: every waiting name fails (and plans its retry). */
static void
acme_boot_fail(struct acme *a, const char *why, uint64_t retry_after_ms)
{
	struct acme_name *n;

	struct acme_name *failed = a->queue_head;

	/* take the whole queue first: ending an order runs the queue, which must not start
	 * the account again for the names failed here */
	a->boot = BOOT_NONE;
	a->queue_head = a->queue_tail = NULL;
	while ((n = failed) != NULL) {
		failed = n->queue_next;
		n->queued = 0;
		a->n_running++; /* acme_order_end() counts it down */
		n->retry_after_ms = retry_after_ms;
		acme_order_end(n, 0, "%s", why);
	}
}

static void
acme_on_account(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	char why[ACME_ERR_MAX];

	(void)n;
	if (r->err != 0 || (r->status != 200 && r->status != 201) || r->location == NULL) {
		acme_resp_why(r, "newAccount", why, sizeof(why));
		acme_boot_fail(a, why, r->retry_after_ms);
		return;
	}
	free(a->kid);
	a->kid = xstrdup(r->location);
	a->boot = BOOT_READY;
	log_info("ACME: account %s at %s (%s)", a->kid, a->directory,
	         r->status == 201 ? "created" : "existing");
	acme_queue_run(a);
}

static void
acme_account_start(struct acme *a)
{
	json_object *o = json_object_new_object(), *c, *eab;
	char *eab_text;
	int r;

	if (a->account_key == NULL) {
		r = acme_key_load(a->account_key_path, &a->account_key);
		if (r == -ENOENT) {
			r = acme_key_new(&a->account_key);
			if (r == 0)
				r = acme_key_save(a->account_key, a->account_key_path);
			if (r == 0)
				log_notice("ACME: new account key %s", a->account_key_path);
		}
		if (r < 0) {
			char why[ACME_ERR_MAX];

			if (a->account_key != NULL)
				gnutls_privkey_deinit(a->account_key);
			a->account_key = NULL;
			json_object_put(o);
			(void)snprintf(why, sizeof(why), "account key %s: %s", a->account_key_path,
			               strerror(-r));
			acme_boot_fail(a, why, 0);
			return;
		}
		free(a->jwk);
		free(a->thumbprint);
		a->jwk = acme_jwk(a->account_key);
		a->thumbprint = a->jwk != NULL ? acme_jwk_thumbprint(a->jwk) : NULL;
		if (a->thumbprint == NULL) {
			json_object_put(o);
			acme_boot_fail(a, "the account key is not an ECDSA P-256 key", 0);
			gnutls_privkey_deinit(a->account_key);
			a->account_key = NULL;
			return;
		}
	}
	json_object_object_add(o, "termsOfServiceAgreed", json_object_new_boolean(1));
	if (a->contact != NULL) {
		c = json_object_new_array();
		json_object_array_add(c, json_object_new_string(a->contact));
		json_object_object_add(o, "contact", c);
	}
	if (a->eab_kid != NULL) {
		eab_text = acme_eab_jws(a->eab_kid, a->eab_hmac_key, a->jwk, a->new_account);
		eab = eab_text != NULL ? json_tokener_parse(eab_text) : NULL;
		free(eab_text);
		if (eab == NULL) {
			json_object_put(o);
			acme_boot_fail(a, "acme.eab_hmac_key is not base64url", 0);
			return;
		}
		json_object_object_add(o, "externalAccountBinding", eab);
	} else if (a->eab_required) {
		json_object_put(o);
		acme_boot_fail(a,
		               "the CA requires External Account Binding (meta."
		               "externalAccountRequired): set acme.eab_kid and acme.eab_hmac_key",
		               0);
		return;
	}
	a->boot = BOOT_ACCOUNT;
	acme_post(a, NULL, a->new_account,
	          json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                    JSON_C_TO_STRING_NOSLASHESCAPE),
	          1, acme_on_account);
	json_object_put(o);
}

static void
acme_on_directory(struct acme *a, struct acme_name *n, const struct acme_resp *r)
{
	char why[ACME_ERR_MAX];
	json_object *meta, *v;
	const char *nn, *na, *no;

	(void)n;
	if (r->err != 0 || r->status != 200 || r->json == NULL) {
		acme_resp_why(r, "directory", why, sizeof(why));
		if (r->err == 0 && r->status == 200)
			(void)snprintf(why, sizeof(why), "directory %s: not JSON", a->directory);
		acme_boot_fail(a, why, r->retry_after_ms);
		return;
	}
	nn = json_str(r->json, "newNonce");
	na = json_str(r->json, "newAccount");
	no = json_str(r->json, "newOrder");
	if (nn == NULL || na == NULL || no == NULL) {
		acme_boot_fail(a, "directory: newNonce, newAccount or newOrder missing", 0);
		return;
	}
	free(a->new_nonce);
	free(a->new_account);
	free(a->new_order);
	free(a->renewal_info);
	a->new_nonce = xstrdup(nn);
	a->new_account = xstrdup(na);
	a->new_order = xstrdup(no);
	a->renewal_info = json_str(r->json, "renewalInfo") != NULL
	                          ? xstrdup(json_str(r->json, "renewalInfo"))
	                          : NULL;
	a->eab_required = json_object_object_get_ex(r->json, "meta", &meta) &&
	                  json_object_object_get_ex(meta, "externalAccountRequired", &v) &&
	                  json_object_get_boolean(v);
	acme_account_start(a);
}

static void
acme_boot_start(struct acme *a)
{
	a->boot = BOOT_DIRECTORY;
	acme_get(a, a->directory, acme_on_directory);
}

/* ---- lifecycle ---- */

static int
acme_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
acme_new(struct loop *loop, struct curlm *curlm, const struct cfg *cfg,
         const struct acme_hooks *hooks, struct acme **ret)
{
	const struct cfg_publisher *p = &cfg->publisher;
	struct acme_name *n;
	struct acme *a;
	time_t now;
	size_t i, k = 0;
	char *slash, when[32], when2[32];
	int r;

	*ret = NULL;
	for (i = 0; i < p->n_domains; i++)
		k += p->domains[i].acme ? 1 : 0;
	if (k == 0 || !cfg->acme.enabled)
		return 0;
	a = xcalloc(1, sizeof(*a));
	a->loop = loop;
	a->curlm = curlm;
	a->hooks = *hooks;
	a->directory = xstrdup(cfg->acme.directory);
	a->contact = cfg->acme.contact != NULL ? xstrdup(cfg->acme.contact) : NULL;
	a->eab_kid = cfg->acme.eab_kid != NULL ? xstrdup(cfg->acme.eab_kid) : NULL;
	a->eab_hmac_key = cfg->acme.eab_hmac_key != NULL ? xstrdup(cfg->acme.eab_hmac_key) : NULL;
	a->ca_file = cfg->acme.ca_file != NULL ? xstrdup(cfg->acme.ca_file) : NULL;
	a->retry_min_ms = cfg->acme.retry_min_ms;
	a->retry_max_ms = cfg->acme.retry_max_ms;
	a->state_dir = xasprintf("%s/acme", cfg->process.state_directory);
	a->account_key_path = xasprintf("%s/account.key", a->state_dir);
	r = acme_mkdir(a->state_dir);
	if (r < 0) {
		log_err("ACME: cannot make %s: %s", a->state_dir, strerror(-r));
		(void)acme_free(a);
		return r;
	}
	a->names = xcalloc(k, sizeof(*a->names));
	now = loop_wall_s(loop);
	for (i = 0; i < p->n_domains; i++) {
		if (!p->domains[i].acme)
			continue;
		n = &a->names[a->n_names++];
		n->a = a;
		n->domain = xstrdup(p->domains[i].domain);
		n->host = xasprintf("mta-sts.%s", n->domain);
		n->cert_path = xstrdup(p->domains[i].cert_file);
		n->key_path = xstrdup(p->domains[i].key_file);
		n->dir = xstrdup(n->cert_path);
		slash = strrchr(n->dir, '/');
		if (slash != NULL)
			*slash = '\0';
		r = acme_name_read_cert(n);
		if (r == 0 && n->not_after > now) {
			acme_name_plan(n, acme_renew_at(n));
			log_dom_info(n->domain,
			             "ACME: certificate %s valid until %s; renewal at %s",
			             n->cert_path, acme_when(n->not_after, when, sizeof(when)),
			             acme_when(n->next_attempt, when2, sizeof(when2)));
		} else {
			if (r == -EIO)
				log_dom_warn(n->domain,
				             "ACME: %s does not load; ordering a new one",
				             n->cert_path);
			acme_name_plan(n, now); /* the loop starts the order */
		}
	}
	*ret = a;
	return 0;
}

struct acme *
acme_free(struct acme *a)
{
	struct acme_req *rq;
	size_t i;

	if (a == NULL)
		return NULL;
	a->freeing = 1;
	while ((rq = a->reqs) != NULL) {
		acme_req_unlink(rq);
		curlm_remove(a->curlm, rq->easy);
		acme_req_free(rq);
	}
	for (i = 0; i < a->n_names; i++) {
		struct acme_name *n = &a->names[i];

		loop_timer_stop(a->loop, &n->timer);
		acme_order_clear(n);
		free(n->domain);
		free(n->host);
		free(n->dir);
		free(n->cert_path);
		free(n->key_path);
		free(n->issuer);
	}
	free(a->names);
	for (i = 0; i < a->n_nonces; i++)
		free(a->nonces[i]);
	if (a->account_key != NULL)
		gnutls_privkey_deinit(a->account_key);
	free(a->directory);
	free(a->contact);
	free(a->eab_kid);
	free(a->eab_hmac_key);
	free(a->ca_file);
	free(a->state_dir);
	free(a->account_key_path);
	free(a->new_nonce);
	free(a->new_account);
	free(a->new_order);
	free(a->renewal_info);
	free(a->jwk);
	free(a->thumbprint);
	free(a->kid);
	free(a);
	return NULL;
}

int
acme_renew(struct acme *a, const char *domain)
{
	size_t i;

	if (a == NULL)
		return -ENOENT;
	for (i = 0; i < a->n_names; i++) {
		struct acme_name *n = &a->names[i];

		if (strcmp(n->domain, domain) != 0)
			continue;
		/* an order running or queued, or one asked and about to start: no second */
		if (n->step != STEP_IDLE ||
		    (loop_timer_armed(&n->timer) && n->next_attempt <= loop_wall_s(a->loop)))
			return -EBUSY;
		log_dom_notice(n->domain, "ACME: renewal of mta-sts.%s asked", n->domain);
		n->failures = 0;
		acme_name_plan(n, loop_wall_s(a->loop));
		return 0;
	}
	return -ENOENT;
}

int
acme_knows(const struct acme *a, const char *domain)
{
	size_t i;

	for (i = 0; a != NULL && i < a->n_names; i++)
		if (strcmp(a->names[i].domain, domain) == 0)
			return 1;
	return 0;
}

/* ---- information and metrics ---- */

static const char *
acme_step_name(const struct acme_name *n)
{
	switch (n->step) {
	case STEP_IDLE:
		return n->has_error ? "waiting to retry" : "idle";
	case STEP_QUEUED:
		return "queued";
	default:
		return "ordering";
	}
}

struct acme_info *
acme_info_get(const struct acme *a)
{
	struct acme_info *info = xcalloc(1, sizeof(*info));
	size_t i;

	if (a == NULL)
		return info;
	info->directory = xstrdup(a->directory);
	info->names = xcalloc(a->n_names + 1, sizeof(*info->names));
	for (i = 0; i < a->n_names; i++) {
		const struct acme_name *n = &a->names[i];
		struct acme_info_name *o = &info->names[info->n_names++];

		o->domain = xstrdup(n->domain);
		o->state = xstrdup(acme_step_name(n));
		o->issuer = n->issuer != NULL ? xstrdup(n->issuer) : NULL;
		o->not_after = n->not_after;
		o->next_attempt = n->step == STEP_IDLE ? n->next_attempt : 0;
		o->last_error = n->has_error ? xstrdup(n->last_error) : NULL;
		o->orders_ok = n->orders_ok;
		o->orders_failed = n->orders_failed;
	}
	return info;
}

struct acme_info *
acme_info_free(struct acme_info *info)
{
	size_t i;

	if (info == NULL)
		return NULL;
	for (i = 0; i < info->n_names; i++) {
		free(info->names[i].domain);
		free(info->names[i].state);
		free(info->names[i].issuer);
		free(info->names[i].last_error);
	}
	free(info->names);
	free(info->directory);
	free(info);
	return NULL;
}

static void
acme_stats_expiry(const void *obj, struct stats_emit *e)
{
	const struct acme *a = obj;
	time_t now = loop_wall_s(a->loop);
	size_t i;

	for (i = 0; i < a->n_names; i++) {
		const struct acme_name *n = &a->names[i];

		if (n->not_after > 0)
			stats_emit(e, n->host, NULL,
			           n->not_after > now ? (uint64_t)(n->not_after - now) : 0);
	}
}

static void
acme_stats_orders(const void *obj, struct stats_emit *e)
{
	const struct acme *a = obj;
	size_t i;

	for (i = 0; i < a->n_names; i++) {
		stats_emit(e, a->names[i].host, "ok", a->names[i].orders_ok);
		stats_emit(e, a->names[i].host, "failed", a->names[i].orders_failed);
	}
}

static void
acme_stats_next(const void *obj, struct stats_emit *e)
{
	const struct acme *a = obj;
	size_t i;

	for (i = 0; i < a->n_names; i++) {
		const struct acme_name *n = &a->names[i];

		stats_emit(e, n->host, NULL, n->step == STEP_IDLE ? (uint64_t)n->next_attempt : 0);
	}
}

static const struct stats_metric acme_stats[] = {
        {"mtastsd_certificate_expiry_seconds", STATS_GAUGE,
         "Seconds until the ACME certificate of a policy host expires.", NULL, "name",
         .each = acme_stats_expiry},
        {"mtastsd_acme_orders_total", STATS_COUNTER,
         "ACME orders (issuances and renewals) by policy host and result.", NULL, "name", "result",
         .each = acme_stats_orders},
        {"mtastsd_acme_next_attempt_timestamp_seconds", STATS_GAUGE,
         "Wall clock (Unix seconds) of the next ACME order of a policy host; 0 while one runs.",
         NULL, "name", .each = acme_stats_next},
};

void
acme_stats_add(const struct acme *a, struct stats *st)
{
	stats_add(st, acme_stats, STATS_COUNT(acme_stats), a);
}
