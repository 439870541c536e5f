/*
 * resolver/mx_probe.c - a domain's MX hosts as a sending MTA sees them: SMTP, STARTTLS, TLS
 *
 * Interface: mx_prober_new(), mx_prober_free(), mx_prober_idle(), mx_probe_start(),
 *            mx_probe_cancel(), mx_report_*(), mx_result_name(), smtp_reply_parse(),
 *            mx_probe_cert_match()
 * Design:    one probe per domain: the MX query (dns_client), then every host at once, each
 *            a small state machine on the loop: A and AAAA queries -> connect (addresses in
 *            order, A first, until one connects) -> banner -> EHLO -> STARTTLS -> handshake
 *            (gnutls_transport_set_int() on the non-blocking socket; GNUTLS_E_AGAIN waits
 *            for the direction gnutls_record_get_direction() names) -> verify -> QUIT. Each
 *            host has a step timer (re-armed per step) and a deadline timer. Replies are
 *            read into a bounded buffer and parsed by smtp_reply_parse() (no I/O). Data
 *            after the STARTTLS reply is refused (RFC 3207 section 5, the CVE-2011-0411
 *            class of command injection). The probe's callback runs once the last host is
 *            done, from the loop, then the probe is freed.
 * Threads:   main loop only.
 * Ownership: the probe owns its hosts' sockets and sessions; the report goes to the callee.
 * Errors:    per host in the report (result + error text); never logs above debug.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ldns/ldns.h>

#include "cert_names.h"
#include "dns_client.h"
#include "err.h"
#include "log.h"
#include "mx_match.h"
#include "mx_probe.h"
#include "xalloc.h"

/* ---- the SMTP reply parser ---- */

static int
smtp_is_code(const char *p)
{
	return p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '5' && p[2] >= '0' &&
	       p[2] <= '9';
}

int
smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *ret)
{
	struct smtp_reply r = {0};
	size_t pos = 0, end, text_len, kw;
	const char *line, *lf, *text;
	unsigned code;

	for (;;) {
		line = buf + pos;
		lf = memchr(line, '\n', len - pos);
		if (lf == NULL) {
			if (len - pos > SMTP_REPLY_LINE_MAX)
				return -EMSGSIZE;
			if (memchr(line, '\0', len - pos) != NULL)
				return -EPROTO;
			if (len >= SMTP_REPLY_BYTES_MAX)
				return -E2BIG;
			return 0;
		}
		end = (size_t)(lf - line); /* the line without LF */
		if (end + 1 > SMTP_REPLY_LINE_MAX)
			return -EMSGSIZE;
		if (end > 0 && line[end - 1] == '\r')
			end--;
		if (end < 3 || !smtp_is_code(line))
			return -EPROTO;
		if (memchr(line, '\0', end) != NULL || memchr(line, '\r', end) != NULL)
			return -EPROTO;
		if (end > 3 && line[3] != '-' && line[3] != ' ')
			return -EPROTO;
		code = (unsigned)(line[0] - '0') * 100 + (unsigned)(line[1] - '0') * 10 +
		       (unsigned)(line[2] - '0');
		if (r.n_lines == 0)
			r.code = code;
		else if (code != r.code)
			return -EPROTO;
		if (++r.n_lines > SMTP_REPLY_LINES_MAX)
			return -E2BIG;
		text = end > 4 ? line + 4 : "";
		text_len = end > 4 ? end - 4 : 0;
		if (r.n_lines == 1) {
			(void)log_printable(r.text, sizeof(r.text), text, text_len);
		} else {
			for (kw = 0; kw < text_len && text[kw] != ' '; kw++)
				;
			if (kw == 8 && strncasecmp(text, "STARTTLS", 8) == 0)
				r.starttls = 1;
		}
		pos += (size_t)(lf - line) + 1;
		if (end == 3 || line[3] == ' ') {
			*ret = r;
			return (int)pos;
		}
		if (pos >= SMTP_REPLY_BYTES_MAX)
			return -E2BIG;
	}
}

/* ---- Postfix "secure match=" ---- */

int
mx_probe_cert_match(const char *pattern, const char *certid)
{
	const char *p;

	if (pattern == NULL || certid == NULL || certid[0] == '\0')
		return 0;
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* Postfix ".x": certid is a proper subdomain of x, at any depth (a certificate
		 * "*.x" included, as its text is one). */
		for (p = strchr(certid, '.'); p != NULL; p = strchr(p + 1, '.'))
			if (p > certid && mx_match(pattern + 2, p + 1))
				return 1;
		return 0;
	}
	if (certid[0] == '*' && certid[1] == '.')
		return mx_match(certid, pattern); /* the certificate's wildcard, one label */
	return mx_match(pattern, certid);
}

/* ---- results ---- */

static const char *const mx_result_names[MX_RESULT_N] = {
        [MX_RESULT_OK] = "ok",
        [MX_RESULT_NO_ADDRESS] = "no_address",
        [MX_RESULT_UNREACHABLE] = "unreachable",
        [MX_RESULT_SMTP] = "smtp_error",
        [MX_RESULT_NO_STARTTLS] = "no_starttls",
        [MX_RESULT_TLS] = "tls_error",
        [MX_RESULT_CERT] = "cert_invalid",
        [MX_RESULT_NAME] = "name_mismatch",
        [MX_RESULT_NOT_COVERED] = "not_covered",
};

const char *
mx_result_name(enum mx_result r)
{
	return (unsigned)r < MX_RESULT_N ? mx_result_names[r] : "?";
}

int
mx_report_host_ok(const struct mx_host *h)
{
	return h->result == MX_RESULT_OK;
}

int
mx_report_ok(const struct mx_report *rep)
{
	size_t i;

	if (rep->err != 0 || rep->n_hosts == 0)
		return 0;
	if (rep->mode_none)
		return 1;
	for (i = 0; i < rep->n_hosts; i++)
		if (!mx_report_host_ok(&rep->hosts[i]))
			return 0;
	return 1;
}

struct mx_report *
mx_report_free(struct mx_report *rep)
{
	size_t i;

	if (rep == NULL)
		return NULL;
	for (i = 0; i < rep->n_patterns; i++)
		free(rep->patterns[i]);
	free(rep->patterns);
	free(rep->pattern_used);
	free(rep->hosts);
	free(rep);
	return NULL;
}

/* ---- the prober ---- */

enum mx_step {
	STEP_RESOLVE,
	STEP_CONNECT,
	STEP_BANNER,
	STEP_EHLO,
	STEP_STARTTLS,
	STEP_HANDSHAKE,
	STEP_QUIT,
	STEP_DONE,
};

static const char *const mx_step_names[] = {
        [STEP_RESOLVE] = "address lookup",
        [STEP_CONNECT] = "connect",
        [STEP_BANNER] = "banner",
        [STEP_EHLO] = "EHLO",
        [STEP_STARTTLS] = "STARTTLS",
        [STEP_HANDSHAKE] = "TLS handshake",
        [STEP_QUIT] = "QUIT",
        [STEP_DONE] = "done",
};

struct mx_probe_host {
	struct mx_probe *pr;
	struct mx_host *res; /* in pr->rep */
	enum mx_step step;
	struct dns_query *q4, *q6;
	dns_addr_text addrs[MX_PROBE_ADDRS_MAX];
	size_t n_addrs, next_addr;
	int fd;
	gnutls_session_t tls;
	char buf[SMTP_REPLY_BYTES_MAX];
	size_t len;
	int err4, err6; /* the A and AAAA lookups' errors */
	struct loop_timer step_timer, deadline;
	int done;
};

struct mx_prober {
	struct loop *loop;
	struct dns_client *dns;
	gnutls_certificate_credentials_t cred; /* NULL while idle (mx_prober_idle()) */
	char *ca_file;                         /* owned copy of o->ca_file, or NULL */
	struct mx_probe_opts o;
	char ehlo[DOMAIN_BUF];
	struct mx_probe *probes; /* list, for mx_prober_free() */
};

struct mx_probe {
	struct mx_prober *p;
	struct mx_probe *next, *prev;
	struct mx_report *rep;
	struct dns_query *mxq;
	struct mx_probe_host *hosts; /* [rep->n_hosts] */
	size_t pending;              /* hosts not done */
	mx_probe_done_fn *done;
	void *arg;
	uint64_t start_ms;
	int starting;  /* hosts being started or cancelled: no probe_finish() yet */
	int finishing; /* probe_finish() runs: the callback is being called */
};

static void host_finish(struct mx_probe_host *h);
static void host_io(struct loop *loop, int fd, unsigned events, void *arg);
static void host_connect_next(struct mx_probe_host *h);
static int cert_name_cb(const char *name, int from_cn, void *arg);

struct cert_match_arg {
	const struct mx_report *rep;
	struct mx_host *res;
};

static void host_fail(struct mx_probe_host *h, enum mx_result r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Record the failure r with a message "<step>: ..." and end the host. */
static void
host_fail(struct mx_probe_host *h, enum mx_result r, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->res->result = r;
	(void)snprintf(h->res->error, sizeof(h->res->error), "%s: %s", mx_step_names[h->step], msg);
	host_finish(h);
}

static void
host_close(struct mx_probe_host *h)
{
	struct loop *loop = h->pr->p->loop;

	if (h->tls != NULL) {
		gnutls_deinit(h->tls);
		h->tls = NULL;
	}
	if (h->fd >= 0) {
		loop_io_del(loop, h->fd);
		(void)close(h->fd);
		h->fd = -1;
	}
	h->len = 0;
}

static void
probe_finish(struct mx_probe *pr)
{
	struct mx_prober *p = pr->p;
	struct mx_report *rep = pr->rep;
	size_t i;

	if (pr->finishing)
		return;
	pr->finishing = 1;
	if (pr->prev != NULL)
		pr->prev->next = pr->next;
	else
		p->probes = pr->next;
	if (pr->next != NULL)
		pr->next->prev = pr->prev;
	rep->elapsed_ms = loop_now_ms(p->loop) - pr->start_ms;
	pr->rep = NULL;
	for (i = 0; i < rep->n_hosts; i++) {
		loop_timer_stop(p->loop, &pr->hosts[i].step_timer);
		loop_timer_stop(p->loop, &pr->hosts[i].deadline);
	}
	free(pr->hosts);
	pr->done(rep, pr->arg);
	free(pr);
}

static void
host_finish(struct mx_probe_host *h)
{
	struct mx_probe *pr = h->pr;
	struct loop *loop = pr->p->loop;

	if (h->done)
		return;
	h->done = 1;
	h->step = STEP_DONE;
	host_close(h);
	loop_timer_stop(loop, &h->step_timer);
	loop_timer_stop(loop, &h->deadline);
	if (h->q4 != NULL) {
		struct dns_query *q = h->q4;

		h->q4 = NULL;
		dns_query_cancel(q);
	}
	if (h->q6 != NULL) {
		struct dns_query *q = h->q6;

		h->q6 = NULL;
		dns_query_cancel(q);
	}
	if (--pr->pending == 0 && pr->mxq == NULL && !pr->starting && !pr->finishing)
		probe_finish(pr);
}

static void
host_step_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct mx_probe_host *h = arg;
	enum mx_result r = MX_RESULT_SMTP;

	(void)loop;
	(void)t;
	if (h->step == STEP_CONNECT) {
		/* try the next address, if any */
		host_close(h);
		h->res->result = MX_RESULT_UNREACHABLE;
		(void)snprintf(h->res->error, sizeof(h->res->error), "connect: %s: timeout",
		               h->res->addr);
		if (h->next_addr < h->n_addrs) {
			host_connect_next(h);
			return;
		}
		host_finish(h);
		return;
	}
	if (h->step == STEP_HANDSHAKE || h->step == STEP_STARTTLS)
		r = MX_RESULT_TLS;
	if (h->step == STEP_QUIT) {
		host_finish(h); /* the verdict is in; a silent QUIT changes nothing */
		return;
	}
	host_fail(h, r, "no reply within %llu ms", (unsigned long long)h->pr->p->o.step_timeout_ms);
}

static void
host_deadline(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct mx_probe_host *h = arg;

	(void)loop;
	(void)t;
	if (h->step == STEP_QUIT) {
		host_finish(h);
		return;
	}
	host_fail(h,
	          h->step <= STEP_CONNECT    ? MX_RESULT_UNREACHABLE
	          : h->step >= STEP_STARTTLS ? MX_RESULT_TLS
	                                     : MX_RESULT_SMTP,
	          "host deadline of %llu ms passed",
	          (unsigned long long)h->pr->p->o.host_timeout_ms);
}

static void
host_step(struct mx_probe_host *h, enum mx_step s)
{
	struct mx_prober *p = h->pr->p;

	h->step = s;
	loop_timer_start(p->loop, &h->step_timer, p->o.step_timeout_ms, host_step_timeout, h);
}

/* Send a short command in plain text (a few bytes into an empty socket buffer). */
static int
host_send(struct mx_probe_host *h, const char *cmd)
{
	size_t n = strlen(cmd);
	ssize_t w;

	w = send(h->fd, cmd, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return -errno;
	if ((size_t)w != n)
		return -EAGAIN;
	return 0;
}

static void
host_connect_next(struct mx_probe_host *h)
{
	struct mx_prober *p = h->pr->p;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *a;
	int fd, r;

	while (h->next_addr < h->n_addrs) {
		a = h->addrs[h->next_addr++];
		(void)snprintf(h->res->addr, sizeof(h->res->addr), "%s", a);
		memset(&ss, 0, sizeof(ss));
		if (strchr(a, ':') != NULL) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(p->o.port);
			if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1)
				continue;
			sl = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			s4->sin_port = htons(p->o.port);
			if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
				continue;
			sl = sizeof(*s4);
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			h->res->result = MX_RESULT_UNREACHABLE;
			(void)snprintf(h->res->error, sizeof(h->res->error), "connect: socket: %s",
			               strerror(errno));
			continue;
		}
		r = connect(fd, (struct sockaddr *)&ss, sl);
		if (r < 0 && errno != EINPROGRESS) {
			h->res->result = MX_RESULT_UNREACHABLE;
			(void)snprintf(h->res->error, sizeof(h->res->error),
			               "connect: %s port %u: %s", a, (unsigned)p->o.port,
			               strerror(errno));
			(void)close(fd);
			continue;
		}
		r = loop_io_add(p->loop, fd, LOOP_WRITE, host_io, h);
		if (r < 0) {
			h->res->result = MX_RESULT_UNREACHABLE;
			(void)snprintf(h->res->error, sizeof(h->res->error), "connect: %s",
			               strerror(-r));
			(void)close(fd);
			continue;
		}
		h->fd = fd;
		host_step(h, STEP_CONNECT);
		return;
	}
	if (h->res->error[0] == '\0') {
		h->res->result = MX_RESULT_UNREACHABLE;
		(void)snprintf(h->res->error, sizeof(h->res->error), "connect: no usable address");
	}
	host_finish(h);
}

/* The certificate part, once the handshake is done. */
static void
host_cert(struct mx_probe_host *h)
{
	struct mx_probe *pr = h->pr;
	struct mx_report *rep = pr->rep;
	struct mx_host *res = h->res;
	const gnutls_datum_t *peers;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t out = {0};
	unsigned n = 0, status = 0;
	char dn[512];
	size_t dn_len;
	int r;

	(void)snprintf(res->tls_version, sizeof(res->tls_version), "%s",
	               gnutls_protocol_get_name(gnutls_protocol_get_version(h->tls)) != NULL
	                       ? gnutls_protocol_get_name(gnutls_protocol_get_version(h->tls))
	                       : "?");
	(void)snprintf(res->cipher, sizeof(res->cipher), "%s",
	               gnutls_cipher_get_name(gnutls_cipher_get(h->tls)) != NULL
	                       ? gnutls_cipher_get_name(gnutls_cipher_get(h->tls))
	                       : "?");
	peers = gnutls_certificate_get_peers(h->tls, &n);
	if (peers == NULL || n == 0) {
		res->result = MX_RESULT_CERT;
		(void)snprintf(res->error, sizeof(res->error), "TLS handshake: no certificate");
		(void)snprintf(res->verify, sizeof(res->verify), "no certificate");
		return;
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0) {
		res->result = MX_RESULT_CERT;
		(void)snprintf(res->error, sizeof(res->error), "certificate: cannot parse");
		(void)snprintf(res->verify, sizeof(res->verify), "cannot parse the certificate");
		goto out;
	}
	dn_len = sizeof(dn);
	if (gnutls_x509_crt_get_dn(crt, dn, &dn_len) == 0)
		(void)log_printable(res->subject, sizeof(res->subject), dn, strnlen(dn, dn_len));
	dn_len = sizeof(dn);
	if (gnutls_x509_crt_get_issuer_dn(crt, dn, &dn_len) == 0)
		(void)log_printable(res->issuer, sizeof(res->issuer), dn, strnlen(dn, dn_len));
	res->not_after = gnutls_x509_crt_get_expiration_time(crt);
	if (res->not_after == (time_t)-1)
		res->not_after = 0;

	/* The chain, names aside: Postfix "secure" checks the names against match= itself. */
	r = gnutls_certificate_verify_peers2(h->tls, &status);
	if (r < 0) {
		(void)snprintf(res->verify, sizeof(res->verify), "%s", gnutls_strerror(r));
		status = GNUTLS_CERT_INVALID;
	} else if (status == 0) {
		(void)snprintf(res->verify, sizeof(res->verify), "ok");
		res->verified = 1;
	} else if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) ==
	           0) {
		(void)log_printable(res->verify, sizeof(res->verify), (const char *)out.data,
		                    out.size);
		gnutls_free(out.data);
	} else {
		(void)snprintf(res->verify, sizeof(res->verify), "not trusted (status 0x%x)",
		               status);
	}

	/* The certificate names against the patterns, Postfix's way. */
	(void)cert_names(crt, CERT_NAMES_CN_FALLBACK, cert_name_cb,
	                 &(struct cert_match_arg){.rep = rep, .res = res});
	if (!res->verified) {
		res->result = MX_RESULT_CERT;
		(void)snprintf(res->error, sizeof(res->error), "certificate: %s", res->verify);
	} else if (res->cert_pattern < 0 && !rep->mode_none) {
		res->result = MX_RESULT_NAME;
		(void)snprintf(res->error, sizeof(res->error),
		               "certificate: no name matches an mx pattern");
	} else if (res->mx_pattern < 0 && !rep->mode_none) {
		res->result = MX_RESULT_NOT_COVERED;
		(void)snprintf(res->error, sizeof(res->error),
		               "MX host name matches no mx pattern");
	}
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
}

static int
cert_name_cb(const char *name, int from_cn, void *arg)
{
	struct cert_match_arg *m = arg;
	size_t i;

	(void)from_cn;
	if (m->res->cert_first[0] == '\0')
		(void)log_printable(m->res->cert_first, sizeof(m->res->cert_first), name,
		                    strlen(name));
	for (i = 0; i < m->rep->n_patterns; i++) {
		if (mx_probe_cert_match(m->rep->patterns[i], name)) {
			m->res->cert_pattern = (int)i;
			(void)log_printable(m->res->cert_name, sizeof(m->res->cert_name), name,
			                    strlen(name));
			return 1;
		}
	}
	return 0;
}

/* Read what is there and parse it: 1 with *ret a complete reply (removed from the buffer),
 * 0 for more, or -1 when the host failed (already recorded). */
static int
host_read_reply(struct mx_probe_host *h, struct smtp_reply *ret)
{
	enum mx_result fail = h->step >= STEP_STARTTLS ? MX_RESULT_TLS : MX_RESULT_SMTP;
	ssize_t n;
	int r;

	if (h->len < sizeof(h->buf)) {
		if (h->tls != NULL) {
			n = gnutls_record_recv(h->tls, h->buf + h->len, sizeof(h->buf) - h->len);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				(void)loop_io_mod(h->pr->p->loop, h->fd,
				                  gnutls_record_get_direction(h->tls) ? LOOP_WRITE
				                                                      : LOOP_READ);
				return 0;
			}
			if (n < 0) {
				if (h->step == STEP_QUIT)
					host_finish(h);
				else
					host_fail(h, fail, "%s", gnutls_strerror((int)n));
				return -1;
			}
		} else {
			n = recv(h->fd, h->buf + h->len, sizeof(h->buf) - h->len, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return 0;
			if (n < 0) {
				if (h->step == STEP_QUIT)
					host_finish(h);
				else
					host_fail(h, fail, "%s", strerror(errno));
				return -1;
			}
		}
		if (n == 0) {
			if (h->step == STEP_QUIT)
				host_finish(h);
			else
				host_fail(h, fail, "connection closed by the server");
			return -1;
		}
		h->len += (size_t)n;
	}
	r = smtp_reply_parse(h->buf, h->len, ret);
	if (r == 0)
		return 0;
	if (r < 0) {
		if (h->step == STEP_QUIT)
			host_finish(h);
		else if (r == -EMSGSIZE)
			host_fail(h, fail, "reply line longer than %d bytes", SMTP_REPLY_LINE_MAX);
		else if (r == -E2BIG)
			host_fail(h, fail, "reply longer than %d lines or %d bytes",
			          SMTP_REPLY_LINES_MAX, SMTP_REPLY_BYTES_MAX);
		else
			host_fail(h, fail, "malformed reply");
		return -1;
	}
	memmove(h->buf, h->buf + r, h->len - (size_t)r);
	h->len -= (size_t)r;
	return 1;
}

static void
host_quit(struct mx_probe_host *h)
{
	h->len = 0;
	if (h->tls != NULL) {
		if (gnutls_record_send(h->tls, "QUIT\r\n", 6) != 6) {
			host_finish(h);
			return;
		}
	} else if (host_send(h, "QUIT\r\n") < 0) {
		host_finish(h);
		return;
	}
	(void)loop_io_mod(h->pr->p->loop, h->fd, LOOP_READ);
	host_step(h, STEP_QUIT);
}

static void
host_handshake(struct mx_probe_host *h)
{
	unsigned tries;
	int r = 0;

	for (tries = 0; tries < 8; tries++) {
		r = gnutls_handshake(h->tls);
		if (r == 0 || r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
		    gnutls_error_is_fatal(r))
			break;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		(void)loop_io_mod(h->pr->p->loop, h->fd,
		                  gnutls_record_get_direction(h->tls) ? LOOP_WRITE : LOOP_READ);
		return;
	}
	if (r < 0) {
		host_fail(h, MX_RESULT_TLS, "%s", gnutls_strerror(r));
		return;
	}
	h->res->tls = 1;
	host_cert(h);
	host_quit(h);
}

static void
host_starttls(struct mx_probe_host *h)
{
	struct mx_prober *p = h->pr->p;
	int r;

	if (h->len > 0) {
		host_fail(
		        h, MX_RESULT_TLS,
		        "%zu bytes after the 220 reply, before the handshake (RFC 3207 section 5)",
		        h->len);
		return;
	}
	r = gnutls_init(&h->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (r < 0) {
		h->tls = NULL;
		host_fail(h, MX_RESULT_TLS, "%s", gnutls_strerror(r));
		return;
	}
	r = gnutls_set_default_priority(h->tls);
	if (r == 0)
		r = gnutls_credentials_set(h->tls, GNUTLS_CRD_CERTIFICATE, p->cred);
	if (r == 0)
		r = gnutls_server_name_set(h->tls, GNUTLS_NAME_DNS, h->res->name,
		                           strlen(h->res->name));
	if (r < 0) {
		host_fail(h, MX_RESULT_TLS, "%s", gnutls_strerror(r));
		return;
	}
	gnutls_transport_set_int(h->tls, h->fd);
	gnutls_handshake_set_timeout(h->tls, 0); /* our step timer bounds it */
	host_step(h, STEP_HANDSHAKE);
	host_handshake(h);
}

static void
host_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct mx_probe_host *h = arg;
	struct mx_prober *p = h->pr->p;
	struct smtp_reply rep;
	socklen_t sl = sizeof(int);
	int err = 0, r;
	char cmd[DOMAIN_BUF + 8];

	(void)events;
	switch (h->step) {
	case STEP_CONNECT:
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err != 0) {
			host_close(h);
			h->res->result = MX_RESULT_UNREACHABLE;
			(void)snprintf(h->res->error, sizeof(h->res->error),
			               "connect: %s port %u: %s", h->res->addr, (unsigned)p->o.port,
			               strerror(err));
			host_connect_next(h);
			return;
		}
		h->res->result = MX_RESULT_OK;
		h->res->error[0] = '\0';
		(void)loop_io_mod(loop, fd, LOOP_READ);
		host_step(h, STEP_BANNER);
		return;
	case STEP_BANNER:
		if (host_read_reply(h, &rep) <= 0)
			return;
		if (rep.code != 220) {
			host_fail(h, MX_RESULT_SMTP, "%u %s", rep.code, rep.text);
			return;
		}
		h->res->reachable = 1;
		(void)snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", p->ehlo);
		r = host_send(h, cmd);
		if (r < 0) {
			host_fail(h, MX_RESULT_SMTP, "cannot send EHLO: %s", strerror(-r));
			return;
		}
		host_step(h, STEP_EHLO);
		return;
	case STEP_EHLO:
		if (host_read_reply(h, &rep) <= 0)
			return;
		if (rep.code != 250) {
			host_fail(h, MX_RESULT_SMTP, "%u %s", rep.code, rep.text);
			return;
		}
		if (!rep.starttls) {
			h->res->result = MX_RESULT_NO_STARTTLS;
			(void)snprintf(h->res->error, sizeof(h->res->error),
			               "EHLO: STARTTLS not offered");
			host_quit(h);
			return;
		}
		h->res->starttls = 1;
		r = host_send(h, "STARTTLS\r\n");
		if (r < 0) {
			host_fail(h, MX_RESULT_TLS, "cannot send STARTTLS: %s", strerror(-r));
			return;
		}
		host_step(h, STEP_STARTTLS);
		return;
	case STEP_STARTTLS:
		if (host_read_reply(h, &rep) <= 0)
			return;
		if (rep.code != 220) {
			host_fail(h, MX_RESULT_TLS, "refused: %u %s", rep.code, rep.text);
			return;
		}
		host_starttls(h);
		return;
	case STEP_HANDSHAKE:
		host_handshake(h);
		return;
	case STEP_QUIT:
		if (host_read_reply(h, &rep) > 0)
			host_finish(h);
		return;
	case STEP_RESOLVE:
	case STEP_DONE:
		break;
	}
	loop_io_del(loop, fd); /* not expected: stop watching */
}

/* ---- addresses ---- */

static void
host_addrs_ready(struct mx_probe_host *h, int err4, int err6)
{
	if (h->q4 != NULL || h->q6 != NULL || h->done)
		return;
	if (h->n_addrs == 0) {
		h->res->result = MX_RESULT_NO_ADDRESS;
		(void)snprintf(
		        h->res->error, sizeof(h->res->error), "address lookup: A: %s; AAAA: %s",
		        err4 == 0 ? "none" : err_str(err4), err6 == 0 ? "none" : err_str(err6));
		host_finish(h);
		return;
	}
	host_connect_next(h);
}

/* err of the A and AAAA queries, for the message when neither gives an address. */
static void
host_addr_done(struct mx_probe_host *h, int err, const ldns_pkt *answer, uint16_t rrtype)
{
	dns_addr_text got[MX_PROBE_ADDRS_MAX];
	size_t n, i;

	if (rrtype == LDNS_RR_TYPE_A)
		h->q4 = NULL;
	else
		h->q6 = NULL;
	if (err == -ECANCELED || h->done)
		return;
	if (err == 0) {
		n = dns_answer_addrs(answer, rrtype, got, MX_PROBE_ADDRS_MAX);
		for (i = 0; i < n && h->n_addrs < MX_PROBE_ADDRS_MAX; i++) {
			if (rrtype == LDNS_RR_TYPE_A && h->n_addrs > 0) {
				/* A first: move the AAAA ones already there down */
				size_t j, first6 = 0;

				while (first6 < h->n_addrs && strchr(h->addrs[first6], ':') == NULL)
					first6++;
				for (j = h->n_addrs; j > first6; j--)
					memcpy(h->addrs[j], h->addrs[j - 1], sizeof(h->addrs[j]));
				memcpy(h->addrs[first6], got[i], sizeof(got[i]));
			} else {
				memcpy(h->addrs[h->n_addrs], got[i], sizeof(got[i]));
			}
			h->n_addrs++;
		}
		if (n == 0)
			err = ERR_DNS_NODATA;
	}
	if (rrtype == LDNS_RR_TYPE_A)
		h->err4 = err;
	else
		h->err6 = err;
	host_addrs_ready(h, h->err4, h->err6);
}

static void
host_a_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	(void)ad;
	host_addr_done(arg, err, answer, LDNS_RR_TYPE_A);
}

static void
host_aaaa_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	(void)ad;
	host_addr_done(arg, err, answer, LDNS_RR_TYPE_AAAA);
}

static void
host_start(struct mx_probe_host *h)
{
	struct mx_prober *p = h->pr->p;

	h->fd = -1;
	h->step = STEP_RESOLVE;
	loop_timer_start(p->loop, &h->deadline, p->o.host_timeout_ms, host_deadline, h);
	h->q4 = dns_query_start(p->dns, h->res->name, LDNS_RR_TYPE_A, 0, host_a_done, h);
	h->q6 = dns_query_start(p->dns, h->res->name, LDNS_RR_TYPE_AAAA, 0, host_aaaa_done, h);
	if (h->q4 == NULL && h->q6 == NULL) {
		h->res->result = MX_RESULT_NO_ADDRESS;
		(void)snprintf(h->res->error, sizeof(h->res->error),
		               "address lookup: cannot start the queries");
		host_finish(h);
	}
}

/* ---- the MX query ---- */

static void
probe_mx_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct mx_probe *pr = arg;
	struct mx_report *rep = pr->rep;
	struct dns_mx *recs = NULL;
	size_t i, j, n = 0;

	(void)ad;
	pr->mxq = NULL;
	if (err == -ECANCELED || pr->finishing)
		return;
	if (err == 0) {
		/* invalid exchange names (a null MX among them) are not probed */
		recs = xcalloc(MX_PROBE_HOSTS_MAX, sizeof(*recs));
		n = dns_answer_mx(answer, recs, MX_PROBE_HOSTS_MAX, NULL);
		if (n == 0)
			err = ERR_DNS_NODATA;
	}
	rep->err = err;
	if (n > 0) {
		rep->n_hosts_dns = n;
		rep->hosts = xcalloc(n < MX_PROBE_HOSTS_MAX ? n : MX_PROBE_HOSTS_MAX,
		                     sizeof(*rep->hosts));
		for (i = 0; i < n && rep->n_hosts < MX_PROBE_HOSTS_MAX; i++) {
			struct mx_host *h;

			h = &rep->hosts[rep->n_hosts++];
			memcpy(h->name, recs[i].name, sizeof(h->name));
			h->pref = recs[i].pref;
			h->cert_pattern = -1;
			h->mx_pattern = -1;
			h->result = MX_RESULT_UNREACHABLE;
			for (j = 0; j < rep->n_patterns; j++) {
				if (mx_match(rep->patterns[j], h->name)) {
					if (h->mx_pattern < 0)
						h->mx_pattern = (int)j;
					rep->pattern_used[j] = 1;
				}
			}
		}
	}
	free(recs);
	if (rep->n_hosts == 0) {
		probe_finish(pr);
		return;
	}
	pr->hosts = xcalloc(rep->n_hosts, sizeof(*pr->hosts));
	pr->pending = rep->n_hosts;
	for (i = 0; i < rep->n_hosts; i++) {
		pr->hosts[i].pr = pr;
		pr->hosts[i].res = &rep->hosts[i];
		pr->hosts[i].fd = -1;
	}
	pr->starting = 1;
	for (i = 0; i < rep->n_hosts; i++)
		host_start(&pr->hosts[i]);
	pr->starting = 0;
	if (pr->pending == 0)
		probe_finish(pr);
}

/* ---- lifecycle ---- */

/* The trust anchors into p->cred (a no-op when loaded): p->ca_file, else the system store.
 * 0, -ENOMEM, or -EINVAL when there is none. */
static int
mx_prober_load_trust(struct mx_prober *p)
{
	int r;

	if (p->cred != NULL)
		return 0;
	r = gnutls_certificate_allocate_credentials(&p->cred);
	if (r < 0) {
		p->cred = NULL;
		return -ENOMEM;
	}
	if (p->ca_file != NULL)
		r = gnutls_certificate_set_x509_trust_file(p->cred, p->ca_file,
		                                           GNUTLS_X509_FMT_PEM);
	else
		r = gnutls_certificate_set_x509_system_trust(p->cred);
	if (r <= 0) {
		log_debug("MX check: no trust anchors in %s: %s",
		          p->ca_file != NULL ? p->ca_file : "the system trust store",
		          r < 0 ? gnutls_strerror(r) : "none found");
		gnutls_certificate_free_credentials(p->cred);
		p->cred = NULL;
		return -EINVAL;
	}
	return 0;
}

int
mx_prober_new(struct loop *loop, struct dns_client *dns, const struct mx_probe_opts *o,
              struct mx_prober **ret_prober)
{
	struct mx_prober *p;
	int r;

	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->dns = dns;
	p->o = *o;
	p->o.ca_file = NULL;
	p->o.ehlo_name = NULL;
	if (p->o.port == 0)
		p->o.port = 25;
	if (p->o.step_timeout_ms == 0)
		p->o.step_timeout_ms = MX_PROBE_STEP_MS;
	if (p->o.host_timeout_ms == 0)
		p->o.host_timeout_ms = MX_PROBE_HOST_MS;
	if (o->ehlo_name != NULL && o->ehlo_name[0] != '\0')
		(void)snprintf(p->ehlo, sizeof(p->ehlo), "%s", o->ehlo_name);
	else if (gethostname(p->ehlo, sizeof(p->ehlo) - 1) < 0 || p->ehlo[0] == '\0')
		(void)snprintf(p->ehlo, sizeof(p->ehlo), "localhost");
	p->ehlo[sizeof(p->ehlo) - 1] = '\0';
	p->ca_file = o->ca_file != NULL ? xstrdup(o->ca_file) : NULL;
	r = mx_prober_load_trust(p);
	if (r < 0) {
		free(p->ca_file);
		free(p);
		return r;
	}
	*ret_prober = p;
	return 0;
}

void
mx_prober_idle(struct mx_prober *p)
{
	if (p == NULL || p->probes != NULL || p->cred == NULL)
		return;
	gnutls_certificate_free_credentials(p->cred);
	p->cred = NULL;
	/* The system store is ~140 certificates in many small blocks: give the pages back
	 * (3.6 MiB of the idle daemon's 6 MiB of heap with mx_check on, no ca_file). */
	(void)malloc_trim(0);
}

struct mx_prober *
mx_prober_free(struct mx_prober *p)
{
	if (p == NULL)
		return NULL;
	while (p->probes != NULL)
		mx_probe_cancel(p->probes);
	if (p->cred != NULL)
		gnutls_certificate_free_credentials(p->cred);
	free(p->ca_file);
	free(p);
	return NULL;
}

struct mx_probe *
mx_probe_start(struct mx_prober *p, const char *domain, const struct sts_policy *policy,
               mx_probe_done_fn *done, void *arg)
{
	struct mx_probe *pr;
	struct mx_report *rep;
	size_t i;

	if (domain == NULL || strlen(domain) >= DOMAIN_BUF)
		return NULL;
	if (mx_prober_load_trust(p) < 0)
		return NULL;
	pr = xcalloc(1, sizeof(*pr));
	rep = xcalloc(1, sizeof(*rep));
	(void)snprintf(rep->domain, sizeof(rep->domain), "%s", domain);
	rep->started = loop_wall_s(p->loop);
	rep->mode_none = policy->mode == STS_MODE_NONE;
	rep->n_patterns = policy->n_mx;
	rep->patterns = xcalloc(policy->n_mx > 0 ? policy->n_mx : 1, sizeof(*rep->patterns));
	rep->pattern_used = xcalloc(policy->n_mx > 0 ? policy->n_mx : 1, sizeof(int));
	for (i = 0; i < policy->n_mx; i++)
		rep->patterns[i] = xstrdup(policy->mx[i]);
	pr->p = p;
	pr->rep = rep;
	pr->done = done;
	pr->arg = arg;
	pr->start_ms = loop_now_ms(p->loop);
	pr->mxq = dns_query_start(p->dns, domain, LDNS_RR_TYPE_MX, 0, probe_mx_done, pr);
	if (pr->mxq == NULL) {
		(void)mx_report_free(rep);
		free(pr);
		return NULL;
	}
	pr->next = p->probes;
	if (p->probes != NULL)
		p->probes->prev = pr;
	p->probes = pr;
	return pr;
}

void
mx_probe_cancel(struct mx_probe *pr)
{
	struct dns_query *q;
	size_t i;

	if (pr == NULL || pr->finishing)
		return;
	pr->rep->err = -ECANCELED;
	pr->starting = 1; /* no probe_finish() from host_finish() while we walk the hosts */
	q = pr->mxq;
	pr->mxq = NULL;
	if (q != NULL)
		dns_query_cancel(q);
	for (i = 0; pr->hosts != NULL && i < pr->rep->n_hosts; i++) {
		struct mx_probe_host *h = &pr->hosts[i];

		if (h->done)
			continue;
		if (h->res->error[0] == '\0')
			(void)snprintf(h->res->error, sizeof(h->res->error), "%s: cancelled",
			               mx_step_names[h->step]);
		if (h->res->result == MX_RESULT_OK)
			h->res->result = MX_RESULT_UNREACHABLE;
		host_finish(h);
	}
	probe_finish(pr);
}
