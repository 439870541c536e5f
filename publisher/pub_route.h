/*
 * publisher/pub_route.h - the publisher's request routing and SNI choice, no I/O
 *
 * What the publisher's listeners answer from, as pure functions of an immutable snapshot:
 * Host header parsing, the %-decoding given to libmicrohttpd, the route of a complete
 * request (RFC 8461 section 3.3) and the certificate SNI picks. Used by the publisher's
 * HTTP handlers (pub_http.c) and certificate callback (pub_tls.c), and by the tests that
 * drive them without a listener (tests/unit/publisher/test_pub_http.c and the fuzz target
 * tests/fuzz/fuzz_pub_request.c). The rest of the publisher (struct pub, certificate
 * loading, listeners, reload) is private to publisher/ (publisher/internal/pub_int.h);
 * everything else uses pub.h.
 *
 * Interface: struct pub_snap, struct pub_dom, struct pub_cert; pub_snap_find_host() (pub.c),
 *            pub_cert_covers(), pub_tls_pick() (pub_tls.c), pub_http_host_name(),
 *            pub_http_route(), pub_http_loc_start(),
 *            pub_http_loc_arg() (pub_http.c), pub_tlsrpt_rate_count() (pub_tlsrpt.c)
 * Threads:   any; the functions read only their arguments. The publisher builds a snapshot
 *            on the main loop and never changes it once published (pub.c); the MHD threads
 *            call these on a snapshot they hold a reference on.
 * Ownership: nothing is allocated or freed here. A pointer returned points into the
 *            snapshot or the string passed in (borrowed for as long as that lives).
 *            A snapshot built by hand (tests) is the caller's; refs are the publisher's
 *            and are not used here.
 * Errors:    none; each function says what it returns for input it does not accept.
 */
#ifndef MTASTSD_PUB_ROUTE_H
#define MTASTSD_PUB_ROUTE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

struct MHD_Connection;

/* Certificates in one chain file (leaf + intermediates). */
#define PUB_CERT_CHAIN_MAX 16

/* One loaded certificate chain with its key, shared between snapshots. */
struct pub_cert {
	atomic_uint refs;
	char *cert_file;
	char *key_file;
	char *cert_data; /* file contents, to tell whether a reload changed anything */
	size_t cert_len;
	char *key_data;
	size_t key_len;
	gnutls_pcert_st pcert[PUB_CERT_CHAIN_MAX];
	unsigned n_pcert;
	gnutls_privkey_t key;
	char **names; /* SAN dNSNames (or the CN without SAN), lower-case */
	size_t n_names;
	time_t not_after;
	/* Main loop only (the MHD threads never read it): a reload of these files failed
	 * and this certificate stayed in service; the next good load logs the recovery. */
	int reload_failed;
};

/* One published domain. */
struct pub_dom {
	char *domain; /* "example.com" */
	char *host;   /* "mta-sts.example.com" */
	char *body;   /* canonical policy text */
	size_t body_len;
	char *id; /* policy id (explicit or derived) */
	char *cert_file;
	char *key_file;
	struct pub_cert *cert; /* borrowed from the snapshot's certs[]; NULL: not published */
	char *cert_error;      /* why cert is NULL (files unreadable, key mismatch, names):
	                        * the domain is not published, the others are (issue 15) */
	int acme;              /* the ACME client makes cert_file and key_file */
	int held; /* an automatic rollout whose step is not read yet: the policy is answered 503
	           * (pub_release_held(); a lower step than the one reached is never served) */
};

/* What the MHD threads read: immutable after pub_snap_publish(). */
struct pub_snap {
	atomic_uint refs;
	struct pub_dom *doms;
	size_t n_doms;
	struct pub_cert **certs; /* unique (cert_file, key_file) pairs, one ref each */
	size_t n_certs;
	char cache_control[32]; /* "max-age=86400" */
	char *acme_webroot;     /* NULL = no ACME serving */
	/* the TLSRPT receiver (pub_tlsrpt.c; tlsrpt.* keys, docs/tlsrpt.md) */
	int tlsrpt_receive;
	size_t tlsrpt_max_body;
	unsigned tlsrpt_rate;        /* reports per address per hour, 0 = no limit */
	unsigned tlsrpt_max_uploads; /* uploads in progress at once */
	size_t tlsrpt_min_rate;      /* bytes/s after PUB_TLSRPT_UPLOAD_GRACE_MS, 0 = off */
};

/* The published domain whose host is the host_len bytes at host (case-insensitive, host
 * need not be NUL-terminated), or NULL. */
const struct pub_dom *pub_snap_find_host(const struct pub_snap *s, const char *host,
                                         size_t host_len);

/* 1 when the certificate names host (exact or "*." wildcard of the left-most label). */
int pub_cert_covers(const struct pub_cert *c, const char *host);
/* SNI choice: the certificate of the domain whose "mta-sts.<domain>" is name, else a
 * certificate whose SAN covers name, else the first domain's certificate. name may be
 * NULL (no SNI). Never NULL when the snapshot has a domain. */
const struct pub_cert *pub_tls_pick(const struct pub_snap *s, const char *name);

/* MHD_OPTION_UNESCAPE_CALLBACK: decodes %HH in place except %00, which stays literal (so
 * "token%00.x" can never become "token"). Returns the new length. */
/* Routing of a complete request on an HTTPS listener (RFC 8461 section 3.3): host is the
 * Host header value (NULL: none), url the unescaped path. Returns 200 with *ret_dom (in s)
 * for GET or HEAD of /.well-known/mta-sts.txt on "mta-sts.<domain>" of a published domain;
 * 404 for any other host or path; 405 for another method on a published host. */
unsigned pub_http_route(const struct pub_snap *s, const char *host, const char *method,
                        const char *url, const struct pub_dom **ret_dom);
/* Strip trailing SP/HTAB (OWS, RFC 9110 section 5.5), ":port" and one trailing dot from a
 * Host header value; returns the name length (*ret_name = host: the name is a prefix of the
 * value), or 0 when the value is not a plausible host name. */
size_t pub_http_host_name(const char *host, const char **ret_name);

/* Location of a port 80 redirect, without "https://" (bytes). */
#define PUB_REDIRECT_MAX 2048

/* The Location of a port 80 redirect being built (pub_http_loc_start(), pub_http_loc_arg()):
 * "https://<host name><path>?<key>=<value>&...", everything but the host name
 * percent-encoded except RFC 3986 unreserved characters (and '/' in the path), so no
 * CR, LF, space or other byte can reach the header. buf is NUL-terminated. */
struct pub_http_loc {
	char buf[PUB_REDIRECT_MAX];
	size_t len;
	int overflow; /* it did not fit: the request gets 414 */
	unsigned n_args;
};

/* Start the Location for a request on port 80 with Host value host (NULL: none) and the
 * unescaped path url. Returns 0, or -1 when the request gets 400: no host name
 * (pub_http_host_name() gives 0) or a path not starting with '/'. */
int pub_http_loc_start(struct pub_http_loc *l, const char *host, const char *url);
/* Append one query argument as libmicrohttpd hands it over (unescaped; value NULL for a
 * bare "?key"). Sets l->overflow when it does not fit. */
void pub_http_loc_arg(struct pub_http_loc *l, const char *key, const char *value);

/* One address of the TLSRPT receiver's per-address rate table (pub_tlsrpt.c): the table
 * has PUB_TLSRPT_RATE_SLOTS entries in sets of PUB_TLSRPT_RATE_WAYS; an address (its key,
 * a hash, never 0) may take any entry of the set its key names. */
struct pub_tlsrpt_rate {
	uint64_t key;    /* 0: free */
	uint64_t window; /* the window n counts in */
	uint64_t seen;   /* recency within the set (larger: used later) */
	unsigned n;      /* reports counted in window */
};
/* Count one report of key in window (table: PUB_TLSRPT_RATE_SLOTS entries, the caller
 * serialises). Returns 0 when within rate (counted), -1 when key already has rate reports
 * in window (rate 0: no limit, always 0). An address never resets another's count: it
 * takes a free entry of its set, or one of an older window, or else the least recently
 * used one and then keeps its count (a full set of busy addresses shares counts, which
 * errs towards 429, never towards more reports). */
int pub_tlsrpt_rate_count(struct pub_tlsrpt_rate *table, uint64_t key, uint64_t window,
                          unsigned rate);

#endif
