/*
 * publisher/internal/pub_int.h - publisher internals shared by pub.c, pub_http.c and pub_tls.c
 *
 * Interface: struct pub; pub_snap_acquire/unref, pub_cert_load/ref/unref,
 *            pub_tls_conn_opened/closed (HTTPS connection hooks), pub_tls_retrieve_cert,
 *            pub_http_*_access handlers. The snapshot structs and the I/O-free routing
 *            (pub_snap_find_host, pub_cert_covers, pub_tls_pick, pub_http_route,
 *            pub_http_host_name) are in the public pub_route.h.
 * Threads:   struct pub_snap and struct pub_cert are immutable once published (but for
 *            pub_cert.reload_failed, which only the main loop touches); the MHD
 *            threads reach them only through pub_snap_acquire() and drop them with
 *            pub_snap_unref(). Reference counts are C11 atomics; the pointer to the
 *            current snapshot is guarded by pub->snap_lock (held for a pointer copy and an
 *            increment only).
 * Ownership: a snapshot holds one reference on every certificate it lists; the last
 *            pub_snap_unref() (main loop or MHD thread) frees it.
 * Not installed: private to publisher/ (its PRIVATE include directory: no other target
 *            can include it).
 */
#ifndef MTASTSD_PUB_INT_H
#define MTASTSD_PUB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "cfg.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "pub.h"
#include "mtasts_limits.h"
#include "pub_route.h"

/* Limits of the publisher (docs/style.md section 6). */
/* Per-connection memory of libmicrohttpd: request line + headers must fit (bytes). A
 * policy request is ~200 bytes; larger requests get 414/431 from libmicrohttpd. */
#define PUB_CONN_MEMORY_MAX (16 * 1024)
/* Defaults when the config leaves a value at 0. */
#define PUB_MAX_CONNECTIONS_DEFAULT 4096 /* all listeners together */
#define PUB_CONN_TIMEOUT_DEFAULT_MS 30000
/* listen(2) backlog of our own listening sockets. */
#define PUB_LISTEN_BACKLOG 511
/* A certificate or key file larger than this is refused (bytes); real chains are < 16 KiB. */
#define PUB_CERT_FILE_MAX (256 * 1024)
/* SAN dNSNames kept per certificate (Let's Encrypt allows 100 per certificate). */
#define PUB_CERT_NAMES_MAX 100
/* Debounce of inotify events before certificates are reloaded (ms): certbot replaces
 * fullchain.pem and privkey.pem one after the other. */
#define PUB_CERT_RELOAD_DEBOUNCE_MS 500
/* ACME http-01 key authorisation files are ~90 bytes (RFC 8555 section 8.3). */
#define PUB_ACME_FILE_MAX 4096
/* Default GnuTLS priority: TLS 1.2 and 1.3 only (RFC 8461 section 7.2), server order. */
#define PUB_TLS_PRIORITY_DEFAULT                                                                   \
	"SECURE256:SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"
/* What the start-up self-test's client offers: a sender's TLS 1.2/1.3 defaults. */
#define PUB_SELFTEST_CLIENT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Suggested TTL of the records pub_dns_records() lists (seconds). */
#define PUB_DNS_TTL 3600

struct pub {
	struct loop *loop;
	pthread_mutex_t snap_lock;
	struct pub_snap *snap; /* current snapshot, guarded by snap_lock */
	/* every HTTPS and HTTP listener's MHD daemon, their live connections with the request
	 * deadline (connection_timeout) and the connection counters */
	struct httpd *httpd;
	char *tls_priority;
	unsigned threads;          /* MHD_OPTION_THREAD_POOL_SIZE of HTTPS listeners */
	gnutls_datum_t ticket_key; /* session ticket key (TLS 1.2 tickets, TLS 1.3 PSK) */
	unsigned max_connections;  /* per listener: its share of publisher.max_connections */
	unsigned timeout_s;
	/* certificate file watching */
	int inotify_fd;
	struct loop_timer reload_timer;
	/* the files watched: (watch descriptor of the directory, file name in it), each
	 * certificate and key file and, for a symlink, its target; an event on another name
	 * is not ours (watch_setup() rebuilds it, pub_inotify_ready() reads it) */
	struct pub_watch_name {
		int wd;
		char *name;
	} * watch_names;
	size_t n_watch_names;
	/* polling where inotify cannot watch (publisher.cert_poll_interval) */
	int polling;
	uint64_t poll_ms;
	struct loop_timer poll_timer;
	unsigned char poll_digest[32]; /* certs_stat_digest() at the last poll */
	/* counters, read by the admin endpoint (pub_info.c); the connection counters are
	 * httpd's */
	atomic_ulong n_requests;
	atomic_ulong n_policy_served;
	atomic_ulong n_not_found;
	atomic_ulong n_redirects;
	atomic_ulong n_acme_served;
	/* RFC 2136 updates of the domains' records (pub_dnsupdate.h); main loop only */
	struct pub_dnsupd *dnsupd;
	pub_ready_gate_fn *ready_gate;     /* pub_set_ready_gate(); NULL none */
	struct loop_timer dns_ready_timer; /* the first pub_dns_ready() after pub_new() */
	void *ready_gate_arg;
	int hold; /* pub_new() held the domains with an automatic rollout until
	           * pub_release_held() (struct pub_dom held) */
	/* http-01 key authorizations of the built-in ACME client (pub_acme_token_set()): set
	 * and removed by the main loop, read by the port 80 threads, all under acme_lock */
	pthread_mutex_t acme_lock;
	struct pub_acme_token {
		char *token;
		char *key_authz;
	} acme_tokens[PUB_ACME_TOKENS_MAX];
	/* the TLSRPT receiver (pub_tlsrpt.c): the daemon's storage hook and the per-address
	 * rate table, under tlsrpt_lock; uploads in progress; refusals before storage */
	pthread_mutex_t tlsrpt_lock;
	pub_tlsrpt_fn *tlsrpt_fn;
	void *tlsrpt_arg;
	struct pub_tlsrpt_rate *tlsrpt_rates; /* PUB_TLSRPT_RATE_SLOTS, allocated on first use */
	atomic_uint tlsrpt_uploads;
	LIST_HEAD(pub_uploads, pub_upload) tlsrpt_up_list; /* uploads in progress holding a slot */
	struct log_rate tlsrpt_slow_log;                   /* under tlsrpt_lock */
	atomic_ulong n_tlsrpt_posts;
	atomic_ulong n_tlsrpt_too_large;
	atomic_ulong n_tlsrpt_rate_limited;
	atomic_ulong n_tlsrpt_busy;
	atomic_ulong n_tlsrpt_slow; /* uploads closed or evicted under tlsrpt.min_upload_rate */
};
/* pub.c: copy the key authorization of token into buf (bufsz bytes). Returns its length, or
 * -1 when token is not set or does not fit. Any thread. */
int pub_acme_token_get(struct pub *pub, const char *token, char *buf, size_t bufsz);

/* pub.c */
struct pub_snap *pub_snap_acquire(struct pub *pub);
void pub_snap_unref(struct pub_snap *s);

/* pub_dns.c */
/* The _smtp._tls TXT text of d, "v=TLSRPTv1; rua=..." with every rua (the domain's
 * tlsrpt_rua, tlsrpt.mailto_rua, the https rua with tlsrpt.receive; RFC 8460 section 3,
 * comma-separated, none twice), or NULL when there is none. The one writer of that text:
 * `dns-records` prints it, the DNS update (pub_dnsupdate.c) writes it. Caller frees. */
char *pub_dns_tlsrpt_text(const struct cfg *cfg, const struct cfg_domain *d);

/* pub_tls.c */
/* Load cert_file (PEM chain) and key_file (PEM key); refuse a key that does not match.
 * Returns 0 and *ret_cert (one reference), or -errno (unreadable file) / ERR_CONFIG (empty
 * or not PEM, key mismatch) with a reason naming the files in errbuf. */
int pub_cert_load(const char *cert_file, const char *key_file, struct pub_cert **ret_cert,
                  char *errbuf, size_t errlen);
struct pub_cert *pub_cert_ref(struct pub_cert *c);
void pub_cert_unref(struct pub_cert *c);
/* Start-up self-test: a client offering what senders offer (TLS 1.2 and 1.3, GnuTLS
 * defaults) completes an in-memory handshake (socketpair) with a server using priority and
 * certificate c, SNI host. A priority string that parses but leaves no common key exchange,
 * group or signature would otherwise fail every sender's handshake, logged nowhere.
 * Returns 0, or ERR_CONFIG with the GnuTLS reason in errbuf (or -errno). */
int pub_tls_selftest(const char *priority, const struct pub_cert *c, const char *host, char *errbuf,
                     size_t errlen);
/* The opened and closed hooks of HTTPS listeners (httpd.h), arg = struct pub: a new
 * connection holds one snapshot reference (its httpd_conn_data()), used by the certificate
 * callback during the handshake and kept until the connection closes; its TLS session gets
 * session tickets (resumption) before the handshake starts. */
void pub_tls_conn_opened(void *arg, struct MHD_Connection *conn, void **data);
void pub_tls_conn_closed(void *arg, struct MHD_Connection *conn, void *data);
/* gnutls_certificate_retrieve_function2 given to MHD_OPTION_HTTPS_CERT_CALLBACK: the
 * certificate for the SNI name, from the connection's snapshot. */
int pub_tls_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                          const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                          gnutls_pcert_st **pcert, unsigned int *pcert_length,
                          gnutls_privkey_t *privkey);

/* pub_tlsrpt.c */
/* POST of a TLS report on an HTTPS listener (docs/tlsrpt.md): called by
 * pub_http_policy_access() for every call of a request whose URL is the receiver's path
 * and whose method is POST, while receiving is on. Returns what the access handler
 * returns. */
enum MHD_Result pub_tlsrpt_access(struct pub *pub, struct MHD_Connection *conn, const char *host,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_ctx);
/* 1 when req_ctx is an upload of pub_tlsrpt_access(). */
int pub_tlsrpt_is_upload(void *req_ctx);
/* The completed hook of HTTPS listeners (httpd.h): frees an upload, arg = struct pub. */
void pub_tlsrpt_completed(void *arg, struct MHD_Connection *conn, void **req_ctx,
                          enum MHD_RequestTerminationCode toe);
/* 1 when url is a path of the receiver (PUB_TLSRPT_PATH or "/tlsrpt"). */
int pub_tlsrpt_path(const char *url);
void pub_tlsrpt_free(struct pub *pub);

/* pub_http.c */
enum MHD_Result pub_http_policy_access(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_ctx);
enum MHD_Result pub_http_plain_access(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_ctx);

#endif
