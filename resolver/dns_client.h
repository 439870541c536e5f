/*
 * resolver/dns_client.h - asynchronous DNS stub client on the event loop
 *
 * ldns is used only as a codec (ldns_pkt_query_new/ldns_pkt2wire/ldns_wire2pkt); the
 * sockets are ours: non-blocking UDP with a random ID and source port, the answer's ID and
 * question checked, TCP on truncation (TC), a timeout per try, rotation across servers.
 * Servers come from the config (resolver.dns_servers) or /etc/resolv.conf.
 *
 * Interface: dns_client_new(), dns_client_free(), dns_query_start(), dns_query_cancel(),
 *            dns_answer_txt(), dns_answer_names()
 * Threads:   main loop only.
 * Ownership: the answer packet passed to dns_done_fn is valid only during the callback.
 * Errors:    callback err: 0 (answer has records of the type, CNAMEs followed in the
 *            packet), ERR_DNS_NXDOMAIN, ERR_DNS_NODATA, ERR_DNS_SERVFAIL, ERR_DNS_REFUSED,
 *            ERR_DNS_TIMEOUT, ERR_DNS_MALFORMED, -ECANCELED. Exactly once per query.
 */
#ifndef MTASTSD_DNS_CLIENT_H
#define MTASTSD_DNS_CLIENT_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "loop.h"
#include "sts_txt.h"

struct dns_client;
struct dns_query;

enum {
	DNS_FLAG_DO = 1u << 0, /* request DNSSEC records (EDNS0 DO bit) */
};

/* answer: the parsed reply (NULL unless err is 0, NXDOMAIN or NODATA).
 * ad: 1 when the reply had the AD bit and the server is on loopback (trusted, see DANE). */
typedef void dns_done_fn(int err, const ldns_pkt *answer, int ad, void *arg);

int dns_client_new(struct loop *loop, const struct cfg_resolver *cfg,
		   struct dns_client **ret_client);
/* Cancels every pending query (callbacks run with -ECANCELED). Returns NULL. */
struct dns_client *dns_client_free(struct dns_client *c);

/* Start a query for name (normalised, no trailing dot) and rr type (LDNS_RR_TYPE_TXT...).
 * Returns the query handle (owned by the client, valid until its callback runs). */
struct dns_query *dns_query_start(struct dns_client *c, const char *name, uint16_t rrtype,
				  unsigned flags, dns_done_fn *done, void *arg);
/* The callback runs at once with -ECANCELED. */
void dns_query_cancel(struct dns_query *q);

/* TXT records of the answer section owned by qname (or by the CNAME target chain),
 * character-strings joined: *ret_rrs (owned array, free with dns_txt_free) and *ret_n.
 * Returns 0 or -ENOMEM / ERR_DNS_MALFORMED. */
int dns_answer_txt(const ldns_pkt *answer, const char *qname, struct txt_rr **ret_rrs,
		   size_t *ret_n);
void dns_txt_free(struct txt_rr *rrs, size_t n);

/* Whether the server list is all on loopback (AD is trusted only then). */
int dns_client_servers_loopback(const struct dns_client *c);

#endif
