/*
 * resolver/mx_probe.h - a domain's MX hosts as a sending MTA sees them: SMTP, STARTTLS, TLS
 *
 * For each MX host of a domain (MX from DNS, in preference order; A then AAAA addresses):
 * TCP connect to port 25, the 220 banner, EHLO, STARTTLS offered?, STARTTLS, the TLS
 * handshake (GnuTLS on the non-blocking socket, driven by loop io events, SNI the MX host
 * name), the chain verified against the system trust store (or a CA file), the certificate's
 * names against the policy's mx patterns as Postfix's "secure match=<patterns>" does
 * (mx_probe_cert_match()), then QUIT. No mail is sent. Every step has its own timeout and the
 * host a deadline; every reply line and reply is bounded (mtasts_limits.h MX_PROBE_*,
 * SMTP_REPLY_*). A hostile server gives that host an error, never a hang.
 *
 * Interface: mx_prober_new(), mx_prober_free(), mx_prober_idle(), mx_probe_start(),
 *            mx_probe_cancel(), mx_report_free(), mx_result_name(), mx_report_host_ok(),
 *            mx_report_ok(), smtp_reply_parse() and mx_probe_cert_match() (no I/O: unit
 *            tests, fuzz)
 * Threads:   main loop only.
 * Ownership: the report handed to mx_probe_done_fn belongs to the callee (mx_report_free()).
 * Errors:    see each function. RFC 5321 (SMTP, section 4.2 replies, 4.5.3.1 limits),
 *            RFC 3207 (STARTTLS), RFC 8461 section 4 (MX host validation), Postfix
 *            TLS_README "secure" level and match= (tls_verify.c match_servername()).
 */
#ifndef MTASTSD_MX_PROBE_H
#define MTASTSD_MX_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "domain.h"
#include "loop.h"
#include "mtasts_limits.h"
#include "sts_policy.h"

struct dns_client;
struct mx_prober;
struct mx_probe;

/* ---- the SMTP reply parser (no I/O) ---- */

struct smtp_reply {
	unsigned code;    /* 200..599, the same on every line */
	unsigned n_lines; /* 1..SMTP_REPLY_LINES_MAX */
	int starttls;     /* 1: a line after the first is the EHLO keyword STARTTLS (RFC 3207) */
	char text[SMTP_REPLY_TEXT_MAX]; /* the first line's text after the code, printable, cut */
};

/* Parse one complete SMTP reply (RFC 5321 section 4.2) at the start of buf (len bytes, not
 * NUL-terminated, may hold NULs): lines "NNN-text" ... "NNN text" (or "NNN" alone on the
 * last), each ended by LF with an optional CR before it (as Postfix's smtp client reads
 * them). Strict: the code is three digits, the first 2 to 5 and the second 0 to 5, the same
 * on every line; the separator is '-', ' ' or the end of the line; no NUL and no CR
 * inside a line. Returns the bytes the reply took (> 0) and fills *ret; 0 when buf holds no
 * complete reply yet; -EPROTO for a malformed line; -EMSGSIZE for a line over
 * SMTP_REPLY_LINE_MAX bytes (seen before its end arrives); -E2BIG for more than
 * SMTP_REPLY_LINES_MAX lines, or len >= SMTP_REPLY_BYTES_MAX without a complete reply.
 * *ret is written only when the return is > 0. */
int smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *ret);

/* Whether Postfix's "secure match=" accepts the certificate name certid for the policy mx
 * pattern (RFC 8461 form: "mail.example.net" or "*.example.net"; pf_reply.c writes the
 * latter as ".example.net"). Postfix (tls_verify.c match_servername()): ".x" accepts any
 * proper subdomain of x, at any depth; an exact pattern accepts the same name, or a
 * certificate wildcard "*.parent" whose parent is the pattern's parent (one label).
 * Every comparison is mx_match() (common/mx_match.c). Returns 1 or 0. */
int mx_probe_cert_match(const char *pattern, const char *certid);

/* ---- results ---- */

/* One host's verdict, in the order the probe finds them (the first failure wins). */
enum mx_result {
	MX_RESULT_OK = 0,      /* STARTTLS, chain verified, a certificate name matches a
	                        * pattern, and the MX name is covered by a pattern */
	MX_RESULT_NO_ADDRESS,  /* no A/AAAA record, or the lookup failed */
	MX_RESULT_UNREACHABLE, /* no TCP connection to any address */
	MX_RESULT_SMTP,        /* banner or EHLO: error reply, malformed, closed, timeout */
	MX_RESULT_NO_STARTTLS, /* EHLO does not offer STARTTLS */
	MX_RESULT_TLS,         /* STARTTLS refused, or the handshake failed */
	MX_RESULT_CERT,        /* chain not verified (untrusted issuer, expired, ...) */
	MX_RESULT_NAME,        /* no certificate name matches any mx pattern */
	MX_RESULT_NOT_COVERED, /* the MX host name matches no mx pattern */
	MX_RESULT_N,
};

/* "ok", "no_address", "unreachable", "smtp_error", "no_starttls", "tls_error",
 * "cert_invalid", "name_mismatch", "not_covered" (metrics label, JSON). */
const char *mx_result_name(enum mx_result r);

struct mx_host {
	char name[DOMAIN_BUF];       /* the MX host name, lower case, no trailing dot */
	unsigned pref;               /* MX preference */
	char addr[INET6_ADDRSTRLEN]; /* the address probed last ("" none) */
	enum mx_result result;
	int reachable;               /* TCP connected and a 220 banner read */
	int starttls;                /* EHLO offered STARTTLS */
	int tls;                     /* the handshake completed */
	int verified;                /* the chain verified (names aside) */
	char tls_version[16];        /* "TLS1.3" */
	char cipher[48];             /* "AES-256-GCM" */
	char subject[256];           /* leaf certificate subject DN (RFC 4514), printable */
	char issuer[256];            /* its issuer DN */
	time_t not_after;            /* its notAfter, 0 when no certificate */
	char verify[160];            /* "ok", or GnuTLS's verification status text */
	char cert_name[DOMAIN_BUF];  /* the certificate name that matched cert_pattern, "" */
	char cert_first[DOMAIN_BUF]; /* the certificate's first name (subjectAltName dNSName,
	                              * else CN), "" none: "presents a certificate for" */
	int cert_pattern; /* index of the pattern that accepts the certificate, -1 none */
	int mx_pattern;   /* index of the pattern covering the MX name, -1 none */
	char error[512];  /* the failing step and why ("" when ok), printable */
};

struct mx_report {
	char domain[DOMAIN_BUF];
	int err;        /* 0, ERR_DNS_* of the MX query, or -ECANCELED */
	time_t started; /* wall clock of the start */
	uint64_t elapsed_ms;
	size_t n_hosts;     /* at most MX_PROBE_HOSTS_MAX, preference order */
	size_t n_hosts_dns; /* MX records in the answer (more than n_hosts: not probed) */
	struct mx_host *hosts;
	size_t n_patterns;
	char **patterns;   /* copies of the policy's mx patterns, policy order */
	int *pattern_used; /* [n_patterns]: 1 when the pattern covers at least one MX host */
	int mode_none;     /* the policy is mode none: nothing is required */
};

/* Whether enforce would lose no mail through h (result MX_RESULT_OK). */
int mx_report_host_ok(const struct mx_host *h);
/* Whether the MX lookup gave hosts and every one is ok, or (mode none: nothing is
 * required) the lookup gave hosts at all. */
int mx_report_ok(const struct mx_report *rep);
/* Returns NULL; NULL is a no-op. */
struct mx_report *mx_report_free(struct mx_report *rep);

/* ---- the prober (I/O on the loop) ---- */

struct mx_probe_opts {
	uint16_t port;            /* 0: 25 (another port only for tests) */
	const char *ca_file;      /* PEM trust anchors; NULL: the system trust store */
	const char *ehlo_name;    /* the EHLO argument; NULL: this host's name (gethostname) */
	uint64_t step_timeout_ms; /* connect, each reply, the handshake; 0: MX_PROBE_STEP_MS */
	uint64_t host_timeout_ms; /* one host, every step; 0: MX_PROBE_HOST_MS */
};

/* rep: the result (owned by the callee: mx_report_free()); rep->err -ECANCELED when the
 * probe was cancelled (hosts then as far as they got). Runs exactly once per probe, never
 * from inside mx_probe_start(). */
typedef void mx_probe_done_fn(struct mx_report *rep, void *arg);

/* A prober on loop, resolving with dns (borrowed; it must outlive the prober). Loads the
 * trust anchors once (ca_file or the system store; none found is an error). o is copied.
 * Returns 0, or -EINVAL (unreadable CA file, no trust anchors), -ENOMEM. */
int mx_prober_new(struct loop *loop, struct dns_client *dns, const struct mx_probe_opts *o,
                  struct mx_prober **ret_prober);
/* Cancels every probe (callbacks run with -ECANCELED). Returns NULL. */
struct mx_prober *mx_prober_free(struct mx_prober *p);
/* No probe runs: release the trust anchors (and give the heap pages back, malloc_trim(3));
 * the next mx_probe_start() reads them again (the system store: ~15 ms of CPU). A no-op while
 * a probe runs. For a long-lived prober used now and then (the MX check, every
 * publisher.mx_check_interval). */
void mx_prober_idle(struct mx_prober *p);

/* Probe every MX host of domain (normalised) against policy's mx patterns (policy is read
 * during this call only). At most MX_PROBE_HOSTS_MAX hosts, probed at once. Returns the
 * handle (valid until done runs), or NULL when the MX query cannot start (invalid name) or the
 * trust anchors cannot be read again after mx_prober_idle(); done is then never called. */
struct mx_probe *mx_probe_start(struct mx_prober *p, const char *domain,
                                const struct sts_policy *policy, mx_probe_done_fn *done, void *arg);
/* Stop a probe: done runs at once with rep->err -ECANCELED. */
void mx_probe_cancel(struct mx_probe *pr);

#endif
