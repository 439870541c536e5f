/*
 * common/cert_names.c - the DNS names an X.509 certificate is issued for (GnuTLS)
 *
 * Interface: cert_names() (cert_names.h)
 * Design:    the one reader of subjectAltName dNSNames: the publisher's SNI choice
 *            (pub_tls.c), its certificate check (pub_check.c) and the resolver's fetch
 *            (https_fetch.c: a DNS-ID is required) all call it.
 * Threads:   any; no state.
 */
#include <gnutls/gnutls.h>

#include "cert_names.h"
#include "mtasts_limits.h"

unsigned
cert_names(gnutls_x509_crt_t crt, unsigned flags, cert_name_fn *fn, void *arg)
{
	char buf[DOMAIN_NAME_MAX + 3]; /* 255 bytes and the NUL */
	size_t size;
	unsigned i, n = 0;
	int type;

	for (i = 0; i < CERT_SAN_MAX; i++) {
		size = sizeof(buf) - 1;
		type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type != GNUTLS_SAN_DNSNAME) /* another type, or an entry too long */
			continue;
		buf[size] = '\0';
		n++;
		if (fn != NULL && fn(buf, 0, arg) != 0)
			return n;
	}
	if (n > 0 || !(flags & CERT_NAMES_CN_FALLBACK))
		return n;
	size = sizeof(buf) - 1;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) != 0)
		return 0;
	buf[size] = '\0';
	if (fn != NULL)
		(void)fn(buf, 1, arg);
	return 1;
}
