/*
 * resolver/dns_client.h - asynchronous DNS stub client on the event loop
 *
 * ldns is used only as a codec (ldns_pkt_query_new/ldns_pkt2wire/ldns_wire2pkt); the
 * sockets are ours: non-blocking UDP with a random ID and source port, the answer's ID and
 * question checked, TCP on truncation (TC), a timeout per try, rotation across servers.
 * Servers come from the config (resolver.dns_servers) or /etc/resolv.conf.
 *
 * Interface: dns_client_new(), dns_client_new_like(), dns_client_free(),
 *            dns_query_start(), dns_query_cancel(), dns_query_sent(), dns_client_queries(),
 *            dns_answer_txt(), dns_answer_addrs(), dns_answer_mx(), dns_txt_free(),
 *            dns_client_servers_loopback(), dns_client_off_loopback(), dns_server_parse(),
 *            dns_resolv_conf_read(),
 *            dns_message_check()
 * Threads:   main loop only.
 * Ownership: the answer packet passed to dns_done_fn is valid only during the callback.
 * Errors:    callback err: 0 (answer has records of the type, CNAMEs followed in the
 *            packet), ERR_DNS_NXDOMAIN, ERR_DNS_NODATA, ERR_DNS_SERVFAIL, ERR_DNS_REFUSED,
 *            ERR_DNS_TIMEOUT, ERR_DNS_UNREACHABLE (every try refused or unroutable, with
 *            dns_query_detail()), ERR_DNS_MALFORMED, ERR_DNS_BUSY (never sent: DNS_WAIT_MAX
 *            queries wait already; callers treat it as a timeout), -ECANCELED. Exactly once
 *            per query.
 */
#ifndef MTASTSD_DNS_CLIENT_H
#define MTASTSD_DNS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "cfg.h"
#include "domain.h"
#include "loop.h"
#include "mtasts_limits.h"
#include "sts_txt.h"

struct dns_client;
struct dns_query;

/* Limits of the DNS client (docs/style.md section 6; candidates for common/limits.h). */
/* glibc reads 3 nameservers (MAXNS); we keep a few more from the config. */
#define DNS_SERVERS_MAX 8
/* RFC 1035 section 4.2.2: a TCP message is at most 65535 bytes; UDP receive buffer too. */
#define DNS_MSG_MAX 65535
/* DNS flag day 2020: EDNS0 UDP payload size 1232 avoids IP fragmentation. */
#define DNS_EDNS_UDP_SIZE 1232
/* CNAME hops followed inside one answer (unbound's MAX_RESTART_COUNT is 11; chains of
 * more than a few links are pathological). */
#define DNS_CNAME_MAX 8
/* Datagrams read per readiness event before going back to the loop. */
#define DNS_UDP_BURST 16
/* DNS clients of the resolver, each with its own sockets: the MTA-STS discovery's
 * (pol_engine.c) and DANE's (dane.c). resolver.dns_concurrency is shared equally: each
 * client runs at most dns_concurrency / DNS_CLIENTS queries at once (at least 1). */
#define DNS_CLIENTS FD_DNS_CLIENTS
/* Defaults when the config leaves them 0 (cfg defaults: 2 s per try, 2 rounds). */
#define DNS_TIMEOUT_DEFAULT_MS 2000
#define DNS_ATTEMPTS_DEFAULT   2
#define DNS_ATTEMPTS_MAX       5
#define DNS_RESOLV_CONF        "/etc/resolv.conf"
/* dns_query_detail(): an IPv6 address with scope and port, and an errno text. */
#define DNS_DETAIL_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 96)

enum {
	DNS_FLAG_DO = 1u << 0, /* request DNSSEC records (EDNS0 DO bit) */
};

/* answer: the parsed reply (NULL unless err is 0, NXDOMAIN or NODATA).
 * ad: 1 when the reply had the AD bit and the server is on loopback (trusted, see DANE). */
typedef void dns_done_fn(int err, const ldns_pkt *answer, int ad, void *arg);

/* Servers from cfg->dns_servers (see dns_server_parse), or the nameserver lines of
 * /etc/resolv.conf when there are none (127.0.0.1 when that gives none either).
 * Uses cfg->dns_timeout_ms per try and cfg->dns_attempts rounds over the servers. At most
 * cfg->dns_concurrency / DNS_CLIENTS queries (at least 1; 0: no limit) are in flight, each
 * with one socket; later ones wait for one to finish, in order (the descriptor budget,
 * common/fd_budget.h), at most DNS_WAIT_MAX of them (common/mtasts_limits.h): a query that
 * finds the FIFO full fails with ERR_DNS_BUSY without being sent. A canceled query leaves
 * the FIFO at once, never sent.
 * Returns 0, or -EINVAL when dns_servers is not empty but no entry parses. */
int dns_client_new(struct loop *loop, const struct cfg_resolver *cfg,
                   struct dns_client **ret_client);
/* As dns_client_new(), but with the servers of like (borrowed, only read here) instead of
 * reading resolver.dns_servers or /etc/resolv.conf again: the resolver's policy engine and
 * DANE module share one reading (and its warnings). like NULL: dns_client_new(). The other
 * settings come from cfg. Returns 0, or dns_client_new()'s errors. */
int dns_client_new_like(struct loop *loop, const struct cfg_resolver *cfg,
                        const struct dns_client *like, struct dns_client **ret_client);
/* Cancels every pending query (callbacks run with -ECANCELED). Returns NULL. */
struct dns_client *dns_client_free(struct dns_client *c);

/* Start a query for name (normalised, no trailing dot) and rr type (LDNS_RR_TYPE_TXT...).
 * Returns the query handle (owned by the client, valid until its callback runs), or NULL
 * when name is not a valid DNS name or the client is being freed; done() is then never
 * called. done() never runs from inside this call. */
struct dns_query *dns_query_start(struct dns_client *c, const char *name, uint16_t rrtype,
                                  unsigned flags, dns_done_fn *done, void *arg);
/* Queries in flight (each with at most one socket) and queries waiting for their turn
 * (resolver.dns_concurrency), into *ret_running and *ret_waiting. */
void dns_client_queries(const struct dns_client *c, unsigned *ret_running, unsigned *ret_waiting);
/* The callback runs at once with -ECANCELED. */
void dns_query_cancel(struct dns_query *q);
/* Whether q holds one of the dns_concurrency slots (sent, or about to be): 0 while it
 * waits for its turn (its cancel then costs the server nothing). */
int dns_query_sent(const struct dns_query *q);
/* Why the query failed, beyond its error code, "" when there is nothing to add. With
 * ERR_DNS_UNREACHABLE: the server and the network error of the last try, e.g.
 * "127.0.0.1@5353 (connection refused)". q is the handle of the query whose callback is
 * running; valid only during that callback. */
const char *dns_query_detail(const struct dns_query *q);

/* TXT records of the answer section owned by qname (or by the CNAME target chain),
 * character-strings joined: *ret_rrs (owned array, free with dns_txt_free) and *ret_n.
 * An RR longer than STS_TXT_MAX bytes is passed as its first STS_TXT_MAX + 1 bytes (len
 * STS_TXT_MAX + 1): a record that does not start with the version is ignored by the
 * caller as usual, one that does fails its syntax check.
 * Returns 0 or ERR_DNS_MALFORMED. */
int dns_answer_txt(const ldns_pkt *answer, const char *qname, struct txt_rr **ret_rrs,
                   size_t *ret_n);
/* Textual form of an address from dns_answer_addrs(): an IPv6 address, NUL-terminated. */
typedef char dns_addr_text[INET6_ADDRSTRLEN];
/* The A or AAAA (rrtype) addresses of the question's name in answer, after the CNAME chain
 * inside the packet (at most DNS_CNAME_MAX links), as text into out[0..max). Returns how
 * many were written (0 when none; never more than max). */
size_t dns_answer_addrs(const ldns_pkt *answer, uint16_t rrtype, dns_addr_text *out, size_t max);
void dns_txt_free(struct txt_rr *rrs, size_t n);
/* One MX record of an answer (RFC 1035 section 3.3.9). */
struct dns_mx {
	uint16_t pref;
	char name[DOMAIN_BUF]; /* the exchange, domain_normalize()d: lower case, no final dot */
};
/* The MX records of answer's answer section, as the MX check (mx_probe.h) and `mtastsd
 * check` read them: each exchange name normalised with domain_normalize(); one that is not
 * a valid host name there (the null MX "." of RFC 7505, an escaped byte, a label over 63
 * bytes) is left out and counted in *ret_invalid (may be NULL). Sorted by preference then
 * name, duplicates removed; the first max go to out. Returns how many distinct valid names
 * the answer has (more than max when some were not written). No I/O. */
size_t dns_answer_mx(const ldns_pkt *answer, struct dns_mx *out, size_t max, size_t *ret_invalid);

/* What a message from the server is to the query (id, qname, rrtype), dns_message_check(). */
enum {
	DNS_MSG_MISMATCH = 0, /* not an answer to this question (ID, QR, opcode, question): a
	                       * UDP datagram is ignored, a TCP answer fails the try */
	DNS_MSG_TRUNCATED,    /* TC set on UDP: ask again over TCP */
	DNS_MSG_ANSWER,       /* *ret_err 0, ERR_DNS_NXDOMAIN or ERR_DNS_NODATA; *ret_pkt set */
	DNS_MSG_FAILED,       /* *ret_err ERR_DNS_MALFORMED (our ID, not a DNS message, or an
	                       * unknown rcode), ERR_DNS_SERVFAIL or ERR_DNS_REFUSED */
};
/* The checks dns_client applies to each message it receives, with no I/O: buf is len bytes
 * of a DNS message (no TCP length prefix); tcp says it came over TCP. qname is the
 * question's name (absolute, as dns_query_start() sends it). Returns DNS_MSG_*; for
 * DNS_MSG_ANSWER *ret_pkt is the parsed message (the caller frees it with ldns_pkt_free),
 * otherwise NULL. *ret_err as listed above (0 for MISMATCH and TRUNCATED). RFC 1035
 * section 7.3 (matching a response to its query), RFC 5452 (ID and question). */
int dns_message_check(uint16_t id, const ldns_rdf *qname, uint16_t rrtype, const uint8_t *buf,
                      size_t len, int tcp, ldns_pkt **ret_pkt, int *ret_err);

/* Whether the server list is all on loopback (AD is trusted only then). */
int dns_client_servers_loopback(const struct dns_client *c);
/* How many of the servers are not on loopback; the first of them is written into buf (len
 * bytes, "192.0.2.53@53" as dns_servers names it), "" when there is none. */
size_t dns_client_off_loopback(const struct dns_client *c, char *buf, size_t len);

/* Parse one server: "127.0.0.1", "127.0.0.1@5353", "127.0.0.1:5353", "::1", "::1@5353",
 * "[::1]", "[::1]:53", "fe80::1%eth0". Addresses only, never host names. Default port 53.
 * Returns 0 or -EINVAL. */
int dns_server_parse(const char *text, struct sockaddr_storage *ss, socklen_t *ret_len);
/* The "nameserver" entries of a resolv.conf file (at most DNS_SERVERS_MAX), as owned
 * strings in an owned array (free each, then the array). Returns 0 or -errno. */
int dns_resolv_conf_read(const char *path, char ***ret_list, size_t *ret_n);

#endif
