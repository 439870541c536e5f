/*
 * common/cert_names.h - the DNS names an X.509 certificate is issued for (GnuTLS)
 *
 * Rules:     RFC 6125 section 6.4.4 and RFC 8461 section 3.3: the names are the
 *            subjectAltName dNSNames; the subject CN counts only for a caller that asks
 *            for it as a fallback (the publisher's SNI choice and its certificate check do,
 *            for certificates without subjectAltName; a sender's policy fetch does not).
 *            Matching a name against a host is domain_cert_name_match() (domain.h).
 * Interface: cert_names()
 * Threads:   any; no state.
 * Ownership: the certificate stays the caller's; a name handed to fn is valid only
 *            during that call.
 * Errors:    none: a certificate without names gives 0 calls.
 */
#ifndef MTASTSD_CERT_NAMES_H
#define MTASTSD_CERT_NAMES_H

#include <gnutls/x509.h>

/* cert_names() flag: with no subjectAltName dNSName, report the subject CN instead. */
#define CERT_NAMES_CN_FALLBACK 1u

/* One name, NUL-terminated, as written in the certificate (no case folding, no IDN
 * conversion); from_cn is 1 for the subject CN fallback. Return 0 for the next name,
 * non-zero to stop. */
typedef int cert_name_fn(const char *name, int from_cn, void *arg);

/* Calls fn (NULL: count only) with each subjectAltName dNSName of crt, in certificate
 * order. At most CERT_SAN_MAX subjectAltName entries are looked at (mtasts_limits.h); an
 * entry GnuTLS cannot return (a name of 256 bytes or more: no DNS name is that long) is
 * skipped. With CERT_NAMES_CN_FALLBACK and no dNSName, calls fn once with the subject CN
 * when there is one. Returns the number of names found until fn stopped (the stopping one
 * included). */
unsigned cert_names(gnutls_x509_crt_t crt, unsigned flags, cert_name_fn *fn, void *arg);

#endif
