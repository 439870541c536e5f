/*
 * publisher/pub_dnsupdate.c - RFC 2136 dynamic updates with TSIG of the records mtastsd owns
 *
 * Interface: pub_dnsupd_*() (pub_dnsupdate.h)
 * Steps:     per domain: QUERY each owned RRset (TCP, no TSIG) -> compare -> UPDATE (TSIG,
 *            delete RRset + add per differing RRset, one message) -> VERIFY (QUERY again
 *            until the records show, DNSUPD_VERIFY_TRIES times) -> done; any failure ->
 *            logged, counted, retried with backoff (daemon mode).
 * Transport: one TCP connection per message (non-blocking connect, 2-byte length, bounded
 *            read, one timer over the exchange). Every exchange ends in dnsupd_xfer_end()
 *            exactly once: reply, error, timeout or cancel (cancel calls nothing).
 * Threads:   main loop only.
 * Ownership: the updater owns its domains, their sockets, buffers and packets.
 * Errors:    logged here (the decision is here), never returned to the publisher.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ldns/ldns.h>

#include "err.h"
#include "log.h"
#include "mtasts_limits.h"
#include "pub.h"
#include "pub_dnsupdate.h"
#include "pub_int.h"
#include "stats.h"
#include "xalloc.h"

/* TSIG errors (RFC 8945 section 5.3, RFC 2845). */
#define TSIG_BADSIG   16
#define TSIG_BADKEY   17
#define TSIG_BADTIME  18
#define TSIG_BADTRUNC 22

enum dnsupd_step {
	STEP_IDLE = 0,
	STEP_QUERY,  /* asking the primary for set d->set */
	STEP_UPDATE, /* the UPDATE is out */
	STEP_VERIFY, /* asking again after an accepted update */
	STEP_WAIT,   /* a timer: retry or the next verify */
};

struct dnsupd_set {
	char *owner; /* absolute */
	char *want;
	char *have; /* NULL: unknown; "" none */
	unsigned n_have;
	uint32_t have_ttl;
	char *before; /* have at the attempt's first query (what an update replaced) */
	uint32_t before_ttl;
};

struct dnsupd_dom {
	struct pub_dnsupd *u;
	char *domain;
	char *server;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char *zone;
	char *tsig_name;
	const char *tsig_alg; /* ldns algorithm name */
	char *secret;
	uint32_t ttl_s;
	uint64_t timeout_ms, retry_max_ms;
	struct dnsupd_set sets[2];
	size_t n_sets;
	/* the attempt */
	enum dnsupd_step step;
	size_t set;        /* STEP_QUERY/VERIFY: which set is asked */
	unsigned verifies; /* VERIFY rounds done */
	unsigned failures; /* consecutive failed attempts (backoff) */
	int sent_update;   /* this attempt sent an UPDATE */
	struct loop_timer wait_timer;
	/* the exchange */
	int fd;
	int connecting;
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t lenbuf[2];
	size_t len_off;
	uint8_t *in;
	size_t in_len, in_off;
	uint16_t qid;
	ldns_pkt *req; /* signed UPDATE (its MAC verifies the reply), or the query */
	struct loop_timer xfer_timer;
	/* status */
	enum pub_dnsupd_result result;
	int rcode, tsig_error;
	char error[256];
	time_t last_attempt, next_retry;
	uint64_t counts[PUB_DNSUPD_RESULTS];
};

struct pub_dnsupd {
	struct loop *loop;
	enum pub_dnsupd_mode mode;
	struct dnsupd_dom **doms;
	size_t n_doms;
	int own_loop; /* pub_dnsupd_run_once(): the loop is ours to free */
};

static const char *const dnsupd_result_names[PUB_DNSUPD_RESULTS] = {
        "none", "unchanged", "updated", "differs",     "refused",
        "tsig", "timeout",   "network", "not_visible",
};

const char *
pub_dnsupd_result_name(enum pub_dnsupd_result r)
{
	if ((unsigned)r >= PUB_DNSUPD_RESULTS)
		return "none";
	return dnsupd_result_names[r];
}

/* "2026-12-07T03:40:00.123Z": the wall clock in logs, to compare with the publisher's and
 * the primary's own logs. */
static const char *
dnsupd_ts(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;

	(void)gettimeofday(&tv, NULL);
	(void)gmtime_r(&tv.tv_sec, &tm);
	(void)snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	               (long)(tv.tv_usec / 1000));
	return buf;
}

static const char *
dnsupd_rcode_name(int rcode)
{
	const ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);

	return lt != NULL ? lt->name : "RCODE?";
}

static const char *
dnsupd_tsig_error_name(int e)
{
	switch (e) {
	case 0:
		return "NOERROR";
	case TSIG_BADSIG:
		return "BADSIG";
	case TSIG_BADKEY:
		return "BADKEY";
	case TSIG_BADTIME:
		return "BADTIME";
	case TSIG_BADTRUNC:
		return "BADTRUNC";
	default:
		return "TSIG error?";
	}
}

/* "IP", "IP@port", "IP:port" (IPv4), "[IPv6]:port", "IPv6" (cfg_check_dns_server()). */
static int
dnsupd_parse_server(const char *v, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *sep = NULL, *p;
	unsigned long port = 53;
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;
	size_t hl;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (v[0] == '[') {
		p = strchr(v, ']');
		if (p == NULL)
			return -EINVAL;
		hl = (size_t)(p - v - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, v + 1, hl);
		host[hl] = '\0';
		if (p[1] == ':' || p[1] == '@')
			sep = p + 1;
	} else if (inet_pton(AF_INET6, v, &s6->sin6_addr) == 1) {
		(void)snprintf(host, sizeof(host), "%s", v);
	} else {
		sep = strchr(v, '@');
		if (sep == NULL)
			sep = strrchr(v, ':');
		hl = sep != NULL ? (size_t)(sep - v) : strlen(v);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, v, hl);
		host[hl] = '\0';
	}
	if (sep != NULL) {
		errno = 0;
		port = strtoul(sep + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

/* ---- one exchange ---- */

static void dnsupd_got_reply(struct dnsupd_dom *d, int r);

static void
dnsupd_xfer_clear(struct dnsupd_dom *d)
{
	struct loop *loop = d->u->loop;

	loop_timer_stop(loop, &d->xfer_timer);
	if (d->fd >= 0) {
		loop_io_del(loop, d->fd);
		(void)close(d->fd);
		d->fd = -1;
	}
	free(d->out);
	d->out = NULL;
	d->out_len = d->out_off = 0;
	d->len_off = 0;
	free(d->in);
	d->in = NULL;
	d->in_len = d->in_off = 0;
	d->connecting = 0;
}

/* The one end of every exchange that was not cancelled: r 0 with d->in holding the
 * reply, or an error. */
static void
dnsupd_xfer_end(struct dnsupd_dom *d, int r)
{
	struct loop *loop = d->u->loop;

	loop_timer_stop(loop, &d->xfer_timer);
	if (d->fd >= 0) {
		loop_io_del(loop, d->fd);
		(void)close(d->fd);
		d->fd = -1;
	}
	dnsupd_got_reply(d, r);
}

static void
dnsupd_xfer_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	dnsupd_xfer_end(arg, ERR_DNS_TIMEOUT);
}

static void
dnsupd_xfer_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct dnsupd_dom *d = arg;
	ssize_t n;

	(void)events;
	if (d->connecting) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err != 0) {
			dnsupd_xfer_end(d, -err);
			return;
		}
		d->connecting = 0;
	}
	while (d->out_off < d->out_len) {
		n = send(fd, d->out + d->out_off, d->out_len - d->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			dnsupd_xfer_end(d, -errno);
			return;
		}
		d->out_off += (size_t)n;
		if (d->out_off == d->out_len)
			(void)loop_io_mod(loop, fd, LOOP_READ);
	}
	while (d->len_off < 2) {
		n = recv(fd, d->lenbuf + d->len_off, 2 - d->len_off, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dnsupd_xfer_end(d, n == 0 ? -ECONNRESET : -errno);
			return;
		}
		d->len_off += (size_t)n;
		if (d->len_off == 2) {
			d->in_len = (size_t)d->lenbuf[0] << 8 | d->lenbuf[1];
			if (d->in_len < DNS_HEADER_LEN) { /* never trust a length */
				dnsupd_xfer_end(d, ERR_DNS_MALFORMED);
				return;
			}
			d->in = xmalloc(d->in_len);
		}
	}
	while (d->in_off < d->in_len) {
		n = recv(fd, d->in + d->in_off, d->in_len - d->in_off, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dnsupd_xfer_end(d, n == 0 ? -ECONNRESET : -errno);
			return;
		}
		d->in_off += (size_t)n;
	}
	dnsupd_xfer_end(d, 0);
}

/* Send d->req (wire form) to the primary; dnsupd_got_reply() runs exactly once, unless
 * the exchange is cancelled (dnsupd_xfer_clear()). */
static void
dnsupd_xfer_start(struct dnsupd_dom *d)
{
	struct loop *loop = d->u->loop;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	int r;

	dnsupd_xfer_clear(d);
	if (ldns_pkt2wire(&wire, d->req, &wlen) != LDNS_STATUS_OK || wlen > DNS_TCP_MSG_MAX) {
		free(wire);
		dnsupd_got_reply(d, ERR_DNS_MALFORMED);
		return;
	}
	d->qid = ldns_pkt_id(d->req);
	d->out = xmalloc(wlen + 2);
	d->out[0] = (uint8_t)(wlen >> 8);
	d->out[1] = (uint8_t)wlen;
	memcpy(d->out + 2, wire, wlen);
	free(wire);
	d->out_len = wlen + 2;
	d->fd = socket(d->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		dnsupd_got_reply(d, -errno);
		return;
	}
	if (connect(d->fd, (struct sockaddr *)&d->ss, d->sslen) < 0) {
		if (errno != EINPROGRESS) {
			dnsupd_xfer_end(d, -errno);
			return;
		}
		d->connecting = 1;
	}
	r = loop_io_add(loop, d->fd, LOOP_WRITE, dnsupd_xfer_io, d);
	if (r < 0) {
		(void)close(d->fd);
		d->fd = -1;
		dnsupd_got_reply(d, r);
		return;
	}
	loop_timer_start(loop, &d->xfer_timer, d->timeout_ms, dnsupd_xfer_timeout, d);
}

/* ---- messages ---- */

static ldns_rr *
dnsupd_txt_rr(const char *owner, uint32_t ttl, const char *text)
{
	ldns_rr *rr = ldns_rr_new();
	size_t off = 0, n = strlen(text);

	ldns_rr_set_owner(rr, ldns_dname_new_frm_str(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	do {
		uint8_t buf[DNS_TXT_STRING_MAX + 1];
		size_t k = n - off > DNS_TXT_STRING_MAX ? DNS_TXT_STRING_MAX : n - off;

		buf[0] = (uint8_t)k;
		memcpy(buf + 1, text + off, k);
		(void)ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, k + 1, buf));
		off += k;
	} while (off < n);
	return rr;
}

/* RFC 2136 section 2.5.2: delete an RRset: class ANY, TTL 0, RDLENGTH 0. */
static ldns_rr *
dnsupd_delete_rr(const char *owner)
{
	ldns_rr *rr = ldns_rr_new();

	ldns_rr_set_owner(rr, ldns_dname_new_frm_str(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(rr, 0);
	return rr;
}

static int
dnsupd_set_in_step(const struct dnsupd_dom *d, const struct dnsupd_set *s)
{
	return s->have != NULL && s->n_have == 1 && strcmp(s->have, s->want) == 0 &&
	       s->have_ttl == d->ttl_s;
}

/* mtastsd's own _mta-sts record: "v=STSv1; id=" and a derived id (32 base32hex
 * characters, pub_policy_id()). Anything else at the name was written by someone else. */
static int
dnsupd_is_ours(const char *text)
{
	static const char pre[] = "v=STSv1; id=";
	size_t i;

	if (strncmp(text, pre, sizeof(pre) - 1) != 0)
		return 0;
	text += sizeof(pre) - 1;
	for (i = 0; text[i] != '\0'; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'v')))
			return 0;
	return i == STS_ID_MAX;
}

static void
dnsupd_send_query(struct dnsupd_dom *d)
{
	ldns_pkt_free(d->req);
	d->req = ldns_pkt_query_new(ldns_dname_new_frm_str(d->sets[d->set].owner), LDNS_RR_TYPE_TXT,
	                            LDNS_RR_CLASS_IN, 0);
	ldns_pkt_set_random_id(d->req);
	dnsupd_xfer_start(d);
}

static void
dnsupd_send_update(struct dnsupd_dom *d)
{
	ldns_rr_list *up = ldns_rr_list_new();
	char ts[64];
	size_t i;

	for (i = 0; i < d->n_sets; i++) {
		struct dnsupd_set *s = &d->sets[i];
		char have[LOG_PEER_TEXT_MAX + 1];

		if (dnsupd_set_in_step(d, s))
			continue;
		(void)log_printable(have, sizeof(have), s->have, strlen(s->have));
		if (i == 0 && s->have[0] != '\0' && (s->n_have != 1 || !dnsupd_is_ours(s->have)))
			log_dom_notice(d->domain,
			               "dns update: %s TXT \"%s\" was not written by mtastsd (a "
			               "hand-written record?); replacing it with \"%s\"",
			               s->owner, have, s->want);
		else
			log_dom_info(d->domain, "dns update: %s TXT \"%s\" -> \"%s\" (ttl %u)",
			             s->owner, s->have[0] != '\0' ? have : "(none)", s->want,
			             (unsigned)d->ttl_s);
		(void)ldns_rr_list_push_rr(up, dnsupd_delete_rr(s->owner));
		(void)ldns_rr_list_push_rr(up, dnsupd_txt_rr(s->owner, d->ttl_s, s->want));
	}
	ldns_pkt_free(d->req);
	d->req = ldns_update_pkt_new(ldns_dname_new_frm_str(d->zone), LDNS_RR_CLASS_IN, NULL, up,
	                             NULL);
	ldns_rr_list_deep_free(up);
	if (d->req == NULL) {
		dnsupd_got_reply(d, -ENOMEM);
		return;
	}
	ldns_pkt_set_rd(d->req, false);
	ldns_pkt_set_random_id(d->req);
	if (ldns_pkt_tsig_sign(d->req, d->tsig_name, d->secret, DNSUPD_TSIG_FUDGE_S, d->tsig_alg,
	                       NULL) != LDNS_STATUS_OK) {
		(void)snprintf(d->error, sizeof(d->error),
		               "cannot sign the update with TSIG key '%s' (%s)", d->tsig_name,
		               d->tsig_alg);
		dnsupd_got_reply(d, ERR_CONFIG);
		return;
	}
	d->sent_update = 1;
	log_dom_notice(d->domain, "dns update: sending the update of zone %s to %s at %s", d->zone,
	               d->server, dnsupd_ts(ts, sizeof(ts)));
	d->step = STEP_UPDATE;
	dnsupd_xfer_start(d);
}

/* ---- the attempt ---- */

static void dnsupd_start(struct dnsupd_dom *d);

static void
dnsupd_wait_fired(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dnsupd_dom *d = arg;

	(void)loop;
	(void)t;
	if (d->verifies > 0 && d->sent_update) {
		d->step = STEP_VERIFY;
		d->set = 0;
		dnsupd_send_query(d);
		return;
	}
	dnsupd_start(d);
}

static void
dnsupd_finish(struct dnsupd_dom *d, enum pub_dnsupd_result res)
{
	struct loop *loop = d->u->loop;
	int failed = res >= PUB_DNSUPD_REFUSED;

	d->result = res;
	d->counts[res]++;
	d->step = STEP_IDLE;
	d->next_retry = 0;
	ldns_pkt_free(d->req);
	d->req = NULL;
	if (!failed) {
		d->failures = 0;
		d->error[0] = '\0';
		return;
	}
	d->failures++;
	if (d->u->mode == PUB_DNSUPD_DAEMON) {
		uint64_t ms = DNSUPD_RETRY_MIN_MS;
		unsigned i;

		for (i = 1; i < d->failures && ms < d->retry_max_ms; i++)
			ms *= 2;
		if (ms > d->retry_max_ms)
			ms = d->retry_max_ms;
		d->next_retry = loop_wall_s(loop) + (time_t)((ms + 999) / 1000);
		d->step = STEP_WAIT;
		d->verifies = 0;
		d->sent_update = 0;
		loop_timer_start(loop, &d->wait_timer, ms, dnsupd_wait_fired, d);
		log_dom_warn(d->domain,
		             "dns update: %s (server %s, zone %s); the policy is still "
		             "served; retry %u in %llu ms",
		             d->error, d->server, d->zone, d->failures, (unsigned long long)ms);
	} else {
		log_dom_warn(d->domain, "dns update: %s (server %s, zone %s)", d->error, d->server,
		             d->zone);
	}
}

static void
dnsupd_fail_errno(struct dnsupd_dom *d, int r, const char *what)
{
	enum pub_dnsupd_result res = PUB_DNSUPD_NETWORK;

	if (r == ERR_DNS_TIMEOUT) {
		res = PUB_DNSUPD_TIMEOUT;
		(void)snprintf(d->error, sizeof(d->error), "%s: no complete reply within %llu ms",
		               what, (unsigned long long)d->timeout_ms);
	} else if (r == ERR_CONFIG) {
		res = PUB_DNSUPD_TSIG;
	} else if (r <= ERR_BASE) {
		(void)snprintf(d->error, sizeof(d->error), "%s: %s", what, err_str(r));
	} else {
		(void)snprintf(d->error, sizeof(d->error), "%s: %s", what, strerror(-r));
	}
	dnsupd_finish(d, res);
}

/* The primary's TXT texts at the owner of s from a query reply. */
static void
dnsupd_take_answer(struct dnsupd_dom *d, struct dnsupd_set *s, ldns_pkt *p)
{
	ldns_rr_list *an = ldns_pkt_answer(p);
	ldns_rdf *owner = ldns_dname_new_frm_str(s->owner);
	char *joined = xstrdup("");
	size_t i, j;

	s->n_have = 0;
	s->have_ttl = 0;
	for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		char text[STS_TXT_MAX + 1];
		size_t tl = 0;
		char *nj;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		for (j = 0; j < ldns_rr_rd_count(rr); j++) {
			ldns_rdf *f = ldns_rr_rdf(rr, j);
			const uint8_t *b = ldns_rdf_data(f);
			size_t k = ldns_rdf_size(f);

			if (k < 1 || (size_t)b[0] + 1 > k)
				continue; /* never trust a length */
			k = b[0];
			if (tl + k > STS_TXT_MAX)
				k = STS_TXT_MAX - tl;
			memcpy(text + tl, b + 1, k);
			tl += k;
		}
		text[tl] = '\0';
		/* the primary's bytes reach logs and the terminal: control bytes become '?'
		 * (ours never hold any, so such a record is simply out of step) */
		for (j = 0; j < tl; j++)
			if ((unsigned char)text[j] < 0x20 || (unsigned char)text[j] == 0x7f)
				text[j] = '?';
		nj = xasprintf("%s%s%s", joined, s->n_have > 0 ? " | " : "", text);
		free(joined);
		joined = nj;
		s->n_have++;
		s->have_ttl = ldns_rr_ttl(rr);
	}
	ldns_rdf_deep_free(owner);
	free(s->have);
	s->have = joined;
	(void)d;
}

static void
dnsupd_after_queries(struct dnsupd_dom *d)
{
	size_t i;
	int all = 1;
	char ts[64];

	for (i = 0; i < d->n_sets; i++)
		if (!dnsupd_set_in_step(d, &d->sets[i]))
			all = 0;
	if (d->step == STEP_VERIFY) {
		if (all) {
			log_dom_notice(d->domain,
			               "dns update: the primary %s shows the new records at %s "
			               "(%s)",
			               d->server, dnsupd_ts(ts, sizeof(ts)), d->sets[0].want);
			dnsupd_finish(d, PUB_DNSUPD_UPDATED);
			return;
		}
		if (++d->verifies >= DNSUPD_VERIFY_TRIES) {
			(void)snprintf(d->error, sizeof(d->error),
			               "the update was accepted but the primary still does not "
			               "show the records after %u queries",
			               d->verifies);
			dnsupd_finish(d, PUB_DNSUPD_NOT_VISIBLE);
			return;
		}
		d->step = STEP_WAIT;
		loop_timer_start(d->u->loop, &d->wait_timer, DNSUPD_VERIFY_INTERVAL_MS,
		                 dnsupd_wait_fired, d);
		return;
	}
	for (i = 0; i < d->n_sets; i++) {
		free(d->sets[i].before);
		d->sets[i].before = xstrdup(d->sets[i].have);
		d->sets[i].before_ttl = d->sets[i].have_ttl;
	}
	if (all) {
		log_dom_info(d->domain,
		             "dns update: the primary %s has the records already; "
		             "nothing sent",
		             d->server);
		dnsupd_finish(d, PUB_DNSUPD_UNCHANGED);
		return;
	}
	if (d->u->mode == PUB_DNSUPD_DIFF) {
		dnsupd_finish(d, PUB_DNSUPD_DIFFERS);
		return;
	}
	dnsupd_send_update(d);
}

static void
dnsupd_got_reply(struct dnsupd_dom *d, int r)
{
	const char *what = d->step == STEP_UPDATE ? "update" : "query";
	ldns_pkt *p = NULL;
	ldns_rr *tsig;
	int rcode;

	if (r < 0) {
		free(d->in);
		d->in = NULL;
		dnsupd_fail_errno(d, r, what);
		return;
	}
	if (ldns_wire2pkt(&p, d->in, d->in_len) != LDNS_STATUS_OK || ldns_pkt_id(p) != d->qid ||
	    !ldns_pkt_qr(p) || ldns_pkt_get_opcode(p) != ldns_pkt_get_opcode(d->req)) {
		ldns_pkt_free(p);
		free(d->in);
		d->in = NULL;
		dnsupd_fail_errno(d, ERR_DNS_MALFORMED, what);
		return;
	}
	rcode = (int)ldns_pkt_get_rcode(p);
	d->rcode = rcode;
	d->tsig_error = 0;
	tsig = ldns_pkt_tsig(p);
	if (tsig != NULL && ldns_rr_rd_count(tsig) > 5 && ldns_rdf_size(ldns_rr_rdf(tsig, 5)) == 2)
		d->tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
	if (d->step == STEP_UPDATE) {
		int ok = 0;

		if (tsig != NULL && ldns_pkt_tsig(d->req) != NULL &&
		    ldns_pkt_tsig_verify(p, d->in, d->in_len, d->tsig_name, d->secret,
		                         ldns_rr_rdf(ldns_pkt_tsig(d->req), 3)))
			ok = 1;
		free(d->in);
		d->in = NULL;
		ldns_pkt_free(p);
		if (rcode != LDNS_RCODE_NOERROR || d->tsig_error != 0) {
			const char *hint = "";

			if (d->tsig_error == TSIG_BADKEY)
				hint = ": the server does not know this key name and algorithm";
			else if (d->tsig_error == TSIG_BADSIG)
				hint = ": wrong TSIG secret";
			else if (d->tsig_error == TSIG_BADTIME)
				hint = ": the clocks differ by more than the fudge";
			else if (rcode == LDNS_RCODE_REFUSED)
				hint = ": the server refused the key, its secret or the names "
				       "(ACL, TSIG-ALLOW-DNSUPDATE, update-policy; PowerDNS "
				       "answers a wrong secret this way: see its log)";
			else if (rcode == LDNS_RCODE_NOTAUTH)
				hint = ": the server is not authoritative for the zone, or the "
				       "key is refused";
			(void)snprintf(d->error, sizeof(d->error),
			               "update refused: RCODE %s (%d), TSIG error %s (%d)%s",
			               dnsupd_rcode_name(rcode), rcode,
			               dnsupd_tsig_error_name(d->tsig_error), d->tsig_error, hint);
			dnsupd_finish(d, d->tsig_error != 0 ? PUB_DNSUPD_TSIG : PUB_DNSUPD_REFUSED);
			return;
		}
		if (!ok) {
			(void)snprintf(d->error, sizeof(d->error),
			               "update answered NOERROR but the response's TSIG %s; "
			               "not trusting it",
			               tsig == NULL ? "is missing" : "does not verify");
			dnsupd_finish(d, PUB_DNSUPD_TSIG);
			return;
		}
		log_dom_notice(d->domain,
		               "dns update: accepted by %s (RCODE NOERROR, TSIG verified)",
		               d->server);
		d->step = STEP_VERIFY;
		d->verifies = 0;
		d->set = 0;
		dnsupd_send_query(d);
		return;
	}
	/* a query */
	free(d->in);
	d->in = NULL;
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		(void)snprintf(d->error, sizeof(d->error),
		               "query for %s TXT: RCODE %s (%d) (is %s the primary of zone %s?)",
		               d->sets[d->set].owner, dnsupd_rcode_name(rcode), rcode, d->server,
		               d->zone);
		ldns_pkt_free(p);
		dnsupd_finish(d, PUB_DNSUPD_REFUSED);
		return;
	}
	dnsupd_take_answer(d, &d->sets[d->set], p);
	ldns_pkt_free(p);
	if (++d->set < d->n_sets) {
		dnsupd_send_query(d);
		return;
	}
	dnsupd_after_queries(d);
}

static void
dnsupd_cancel(struct dnsupd_dom *d)
{
	dnsupd_xfer_clear(d);
	loop_timer_stop(d->u->loop, &d->wait_timer);
	ldns_pkt_free(d->req);
	d->req = NULL;
	d->step = STEP_IDLE;
	d->next_retry = 0;
}

static void
dnsupd_start(struct dnsupd_dom *d)
{
	size_t i;

	dnsupd_cancel(d);
	d->last_attempt = loop_wall_s(d->u->loop);
	d->step = STEP_QUERY;
	d->set = 0;
	d->verifies = 0;
	d->sent_update = 0;
	d->rcode = -1;
	d->tsig_error = 0;
	for (i = 0; i < d->n_sets; i++) {
		free(d->sets[i].have);
		d->sets[i].have = NULL;
		free(d->sets[i].before);
		d->sets[i].before = NULL;
	}
	dnsupd_send_query(d);
}

/* ---- public ---- */

struct pub_dnsupd *
pub_dnsupd_new(struct loop *loop, enum pub_dnsupd_mode mode)
{
	struct pub_dnsupd *u = xcalloc(1, sizeof(*u));

	u->loop = loop;
	u->mode = mode;
	return u;
}

static void
dnsupd_dom_free(struct dnsupd_dom *d)
{
	size_t i;

	dnsupd_cancel(d);
	for (i = 0; i < 2; i++) {
		free(d->sets[i].owner);
		free(d->sets[i].want);
		free(d->sets[i].have);
		free(d->sets[i].before);
	}
	free(d->domain);
	free(d->server);
	free(d->zone);
	free(d->tsig_name);
	if (d->secret != NULL)
		explicit_bzero(d->secret, strlen(d->secret));
	free(d->secret);
	free(d);
}

static struct dnsupd_dom *
dnsupd_find(const struct pub_dnsupd *u, const char *domain)
{
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		if (strcmp(u->doms[i]->domain, domain) == 0)
			return u->doms[i];
	return NULL;
}

/* Fill d's target and wanted records from cd; 1 when any of them changed. */
static int
dnsupd_dom_set(struct dnsupd_dom *d, const struct cfg *cfg, const struct cfg_domain *cd)
{
	const struct cfg_dns_update *e = cd->upd;
	char *id = pub_policy_id(cd);
	char *want[2], *owner[2];
	size_t n = 1, i;
	int changed = 0;

	owner[0] = xasprintf("_mta-sts.%s.", cd->domain);
	want[0] = xasprintf("v=STSv1; id=%s", id);
	free(id);
	want[1] = pub_dns_tlsrpt_text(cfg, cd);
	if (want[1] != NULL) {
		owner[1] = xasprintf("_smtp._tls.%s.", cd->domain);
		n = 2;
	}
	if (d->server == NULL || strcmp(d->server, e->server) != 0 ||
	    strcmp(d->zone, e->zone) != 0 || strcmp(d->tsig_name, e->tsig_name) != 0 ||
	    strcmp(d->secret, e->tsig_secret) != 0 || d->ttl_s != e->ttl_s || d->n_sets != n)
		changed = 1;
	for (i = 0; i < n && !changed; i++)
		if (strcmp(d->sets[i].want, want[i]) != 0)
			changed = 1;
	free(d->server);
	free(d->zone);
	free(d->tsig_name);
	if (d->secret != NULL)
		explicit_bzero(d->secret, strlen(d->secret));
	free(d->secret);
	d->server = xstrdup(e->server);
	if (dnsupd_parse_server(e->server, &d->ss, &d->sslen) < 0)
		die("publisher: dns_update server '%s' passed the config check", e->server);
	d->zone = xstrdup(e->zone);
	d->tsig_name = xstrdup(e->tsig_name);
	d->tsig_alg = e->tsig_algorithm == CFG_TSIG_HMAC_SHA512 ? "hmac-sha512." : "hmac-sha256.";
	d->secret = xstrdup(e->tsig_secret);
	d->ttl_s = e->ttl_s;
	d->timeout_ms = e->timeout_ms;
	d->retry_max_ms = e->retry_max_ms;
	for (i = 0; i < 2; i++) {
		free(d->sets[i].owner);
		free(d->sets[i].want);
		free(d->sets[i].have);
		free(d->sets[i].before);
		d->sets[i].before = NULL;
		d->sets[i].owner = i < n ? owner[i] : NULL;
		d->sets[i].want = i < n ? want[i] : NULL;
		d->sets[i].have = NULL;
	}
	d->n_sets = n;
	return changed;
}

void
pub_dnsupd_configure(struct pub_dnsupd *u, const struct cfg *cfg)
{
	const struct cfg_publisher *p = &cfg->publisher;
	struct dnsupd_dom **doms = xcalloc(p->n_domains + 1, sizeof(*doms));
	size_t i, j, n = 0;

	for (i = 0; i < p->n_domains; i++) {
		const struct cfg_domain *cd = &p->domains[i];
		struct dnsupd_dom *d;

		if (cd->upd == NULL)
			continue;
		d = dnsupd_find(u, cd->domain);
		if (d == NULL) {
			d = xcalloc(1, sizeof(*d));
			d->u = u;
			d->fd = -1;
			d->rcode = -1;
			d->domain = xstrdup(cd->domain);
		} else {
			for (j = 0; j < u->n_doms; j++)
				if (u->doms[j] == d)
					u->doms[j] = NULL;
		}
		if (dnsupd_dom_set(d, cfg, cd))
			dnsupd_cancel(d);
		doms[n++] = d;
	}
	for (j = 0; j < u->n_doms; j++)
		if (u->doms[j] != NULL)
			dnsupd_dom_free(u->doms[j]);
	free(u->doms);
	u->doms = doms;
	u->n_doms = n;
}

void
pub_dnsupd_domain_ready(struct pub_dnsupd *u, const char *domain)
{
	struct dnsupd_dom *d;

	if (u == NULL)
		return;
	d = dnsupd_find(u, domain);
	if (d != NULL)
		dnsupd_start(d);
}

int
pub_dnsupd_has(const struct pub_dnsupd *u, const char *domain)
{
	return u != NULL && dnsupd_find(u, domain) != NULL;
}

void
pub_dnsupd_run_all(struct pub_dnsupd *u)
{
	size_t i;

	for (i = 0; u != NULL && i < u->n_doms; i++)
		dnsupd_start(u->doms[i]);
}

int
pub_dnsupd_busy(const struct pub_dnsupd *u)
{
	size_t i;

	for (i = 0; u != NULL && i < u->n_doms; i++) {
		const struct dnsupd_dom *d = u->doms[i];

		if (d->step == STEP_QUERY || d->step == STEP_UPDATE || d->step == STEP_VERIFY ||
		    (d->step == STEP_WAIT && d->sent_update && d->verifies > 0))
			return 1;
	}
	return 0;
}

size_t
pub_dnsupd_report(struct pub_dnsupd *u, size_t i, struct pub_dnsupd_report *ret)
{
	struct dnsupd_dom *d;
	size_t k;

	if (u == NULL)
		return 0;
	if (i >= u->n_doms)
		return u->n_doms;
	d = u->doms[i];
	memset(ret, 0, sizeof(*ret));
	ret->domain = d->domain;
	ret->server = d->server;
	ret->zone = d->zone;
	ret->result = d->result;
	ret->rcode = d->rcode;
	ret->tsig_error = d->tsig_error;
	ret->error = d->error;
	ret->last_attempt = d->last_attempt;
	ret->next_retry = d->next_retry;
	ret->n_sets = d->n_sets;
	for (k = 0; k < d->n_sets; k++) {
		ret->sets[k].owner = d->sets[k].owner;
		ret->sets[k].want = d->sets[k].want;
		ret->sets[k].have = d->sets[k].have;
		ret->sets[k].before = d->sets[k].before;
		ret->sets[k].before_ttl = d->sets[k].before_ttl;
		ret->sets[k].ttl = d->ttl_s;
		ret->sets[k].in_step = dnsupd_set_in_step(d, &d->sets[k]);
	}
	return u->n_doms;
}

struct pub_dnsupd *
pub_dnsupd_free(struct pub_dnsupd *u)
{
	size_t i;

	if (u == NULL)
		return NULL;
	for (i = 0; i < u->n_doms; i++)
		dnsupd_dom_free(u->doms[i]);
	free(u->doms);
	if (u->own_loop)
		(void)loop_free(u->loop);
	free(u);
	return NULL;
}

/* How often run_once looks whether every attempt has ended (ms). */
#define DNSUPD_ONCE_POLL_MS 20

static void
dnsupd_once_poll(struct loop *loop, struct loop_timer *t, void *arg)
{
	if (!pub_dnsupd_busy(arg)) {
		loop_exit(loop, 0);
		return;
	}
	loop_timer_start(loop, t, DNSUPD_ONCE_POLL_MS, dnsupd_once_poll, arg);
}

int
pub_dnsupd_run_once(const struct cfg *cfg, const char *domain, enum pub_dnsupd_mode mode,
                    struct pub_dnsupd **ret_u)
{
	struct loop_timer poll = LOOP_TIMER_INIT;
	struct pub_dnsupd *u;
	struct loop *loop;
	size_t i;
	int r;

	if (mode == PUB_DNSUPD_DAEMON)
		return -EINVAL;
	r = loop_new(&loop);
	if (r < 0)
		return r;
	u = pub_dnsupd_new(loop, mode);
	u->own_loop = 1;
	pub_dnsupd_configure(u, cfg);
	for (i = 0; i < u->n_doms; i++)
		if (domain == NULL || strcmp(u->doms[i]->domain, domain) == 0)
			dnsupd_start(u->doms[i]);
	loop_timer_start(loop, &poll, 0, dnsupd_once_poll, u);
	(void)loop_run(loop);
	loop_timer_stop(loop, &poll);
	*ret_u = u;
	return 0;
}

/* ---- metrics ---- */

static void
dnsupd_each_total(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i, r;

	for (i = 0; i < u->n_doms; i++)
		for (r = 1; r < PUB_DNSUPD_RESULTS; r++)
			stats_emit(e, u->doms[i]->domain, dnsupd_result_names[r],
			           u->doms[i]->counts[r]);
}

static void
dnsupd_each_last(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, NULL, (uint64_t)u->doms[i]->last_attempt);
}

static void
dnsupd_each_next(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, NULL, (uint64_t)u->doms[i]->next_retry);
}

static void
dnsupd_each_rcode(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, NULL,
		           u->doms[i]->rcode < 0 ? 0 : (uint64_t)u->doms[i]->rcode);
}

static void
dnsupd_each_result(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, dnsupd_result_names[u->doms[i]->result], 1);
}

static void
dnsupd_each_in_step(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i, k;

	for (i = 0; i < u->n_doms; i++) {
		const struct dnsupd_dom *d = u->doms[i];
		uint64_t ok = d->n_sets > 0 && d->sets[0].have != NULL;

		for (k = 0; k < d->n_sets; k++)
			if (!dnsupd_set_in_step(d, &d->sets[k]))
				ok = 0;
		stats_emit(e, d->domain, NULL, ok);
	}
}

static void
dnsupd_each_code(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, NULL, (uint64_t)u->doms[i]->result);
}

static void
dnsupd_each_attempts(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i, r;

	for (i = 0; i < u->n_doms; i++) {
		uint64_t n = 0;

		for (r = 1; r < PUB_DNSUPD_RESULTS; r++)
			n += u->doms[i]->counts[r];
		stats_emit(e, u->doms[i]->domain, NULL, n);
	}
}

static void
dnsupd_each_failures(const void *obj, struct stats_emit *e)
{
	const struct pub_dnsupd *u = obj;
	size_t i;

	for (i = 0; i < u->n_doms; i++)
		stats_emit(e, u->doms[i]->domain, NULL, u->doms[i]->failures);
}

/* Samples with two labels are in Prometheus only (a JSON key is the first label's value);
 * /status has the last result as its number (enum pub_dnsupd_result, docs/publisher.md). */
static const struct stats_metric dnsupd_stats[] = {
        {"mtastsd_dns_update_total", STATS_COUNTER,
         "Attempts to keep a domain's records in step, by outcome.", NULL, "domain", "result",
         .each = dnsupd_each_total},
        {"mtastsd_dns_update_result", STATS_GAUGE,
         "1 for the outcome of each domain's last attempt.", NULL, "domain", "result",
         .each = dnsupd_each_result},
        {NULL, STATS_GAUGE, NULL, "dns_update.attempts", "domain", .each = dnsupd_each_attempts},
        {NULL, STATS_GAUGE, NULL, "dns_update.last_result", "domain", .each = dnsupd_each_code},
        {"mtastsd_dns_update_failures", STATS_GAUGE,
         "Consecutive failed attempts per domain (0 after a success).", "dns_update.failures",
         "domain", .each = dnsupd_each_failures},
        {"mtastsd_dns_update_last_attempt_timestamp_seconds", STATS_GAUGE,
         "Wall clock of the last attempt per domain.", "dns_update.last_attempt", "domain",
         .each = dnsupd_each_last},
        {"mtastsd_dns_update_next_retry_timestamp_seconds", STATS_GAUGE,
         "Wall clock of the pending retry per domain, 0 none.", "dns_update.next_retry", "domain",
         .each = dnsupd_each_next},
        {"mtastsd_dns_update_last_rcode", STATS_GAUGE,
         "RCODE of the primary's last reply per domain.", "dns_update.rcode", "domain",
         .each = dnsupd_each_rcode},
        {"mtastsd_dns_update_in_step", STATS_GAUGE,
         "1 when the primary's owned records are what mtastsd serves.", "dns_update.in_step",
         "domain", .each = dnsupd_each_in_step},
};

void
pub_dnsupd_stats_add(const struct pub_dnsupd *u, struct stats *st)
{
	stats_add(st, dnsupd_stats, STATS_COUNT(dnsupd_stats), u);
}
