/*
 * common/domain.h - domain name normalisation and validation (no I/O)
 *
 * Rules: RFC 1035 section 2.3.4 (labels <= 63, name <= 253 octets), RFC 5321 Domain (LDH
 * labels, letter or digit at both ends), RFC 5891 IDNA2008 U-label -> A-label via libidn2.
 *
 * Interface: domain_normalize(), domain_validate(), domain_is_ip_literal(),
 *            domain_from_nexthop(), domain_nexthop_parse(), domain_cert_name_match()
 * Errors:    a distinct ERR_DOMAIN_* for each kind of bad name (see err.h).
 */
#ifndef MTASTSD_DOMAIN_H
#define MTASTSD_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mtasts_limits.h"

/* Room for any normalised name plus NUL. */
#define DOMAIN_BUF (DOMAIN_NAME_MAX + 1)

/* Normalise a domain name: strip one trailing dot, convert U-labels to A-labels, lower-case
 * ASCII, then validate (LDH, lengths, no empty label). in is NUL-terminated UTF-8.
 * Writes the result into out (DOMAIN_BUF bytes) on success and returns 0; returns an
 * ERR_DOMAIN_* code otherwise (ERR_DOMAIN_IP_LITERAL for "192.0.2.1" or "::1"). */
int domain_normalize(const char *in, char out[DOMAIN_BUF]);

/* Validate s[0..len) exactly as written: ASCII LDH labels with a letter or digit at both
 * ends, 1..63 octets each, at most 253 in all, no empty label (so no trailing dot), not an
 * IP literal and not an all-digit last label (RFC 3696 section 2). No case folding, no IDN
 * conversion (non-ASCII bytes are ERR_DOMAIN_CHAR). Returns 0 or an ERR_DOMAIN_* code. */
int domain_validate(const char *s, size_t len);

/* 1 when s is an IPv4 or IPv6 address (optionally in [brackets], "[ipv6:...]"), else 0. */
int domain_is_ip_literal(const char *s);

/* 1 when a certificate name (a SAN dNSName, or the CN) covers host, as RFC 6125 section
 * 6.4.3 allows: the same name, case-insensitively, or "*." as the complete left-most label
 * ("*.example.com" covers "mta-sts.example.com", not "example.com" nor "a.b.example.com").
 * Both NUL-terminated; no IDN conversion. The publisher's SNI choice and its certificate
 * check (pub_check_certs()) use this one rule. */
int domain_cert_name_match(const char *pattern, const char *host);

/* Turn a Postfix next-hop key ("example.com", "[mx.example.com]:587", "example.com:25",
 * "EXAMPLE.com.", UTF-8 names) into the Policy Domain (RFC 8461 section 3.4):
 * strips brackets and ":port", then domain_normalize(). Extra errors:
 * ERR_DOMAIN_PARENT_PROBE for ".example.com", ERR_DOMAIN_IP_LITERAL for "[192.0.2.1]". */
int domain_from_nexthop(const char *key, size_t keylen, char out[DOMAIN_BUF]);

/* The port of a next hop without ":port": SMTP's well-known port, the one of every MX. */
#define DOMAIN_NEXTHOP_PORT_DEFAULT 25

/* How Postfix reaches a next hop, beyond its Policy Domain (RFC 7672 section 2.2). */
struct domain_nexthop {
	/* 1 for "[host]" and "[host]:port": Postfix does no MX lookup and connects to the
	 * host's own addresses (RFC 7672 section 2.2.2, non-MX destination); 0 for "domain"
	 * and "domain:port" (the MX RRset of domain, RFC 7672 section 2.2.1). */
	int relay;
	/* TCP port of the SMTP connections (the "_port._tcp" of the TLSA names, RFC 7672
	 * section 3): ":port" in digits (1..65535) or one of the service names smtp (25),
	 * submission (587), submissions and smtps (465), lmtp (24); 25 without ":port"; 0 for
	 * any other service name or number (Postfix maps it through /etc/services, which this
	 * pure function does not read). */
	uint16_t port;
};

/* domain_from_nexthop(), and on success (return 0) also what the key says about the
 * connection into *ret_nh (not written on error). */
int domain_nexthop_parse(const char *key, size_t keylen, char out[DOMAIN_BUF],
                         struct domain_nexthop *ret_nh);

#endif
