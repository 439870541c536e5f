/*
 * publisher/pub_check.c - the publisher's check of its configuration: certificate files
 *
 * Interface: pub_check_certs() (pub.h)
 * Design:    for each publisher.domains[] entry, cert and key must load as a pair, as
 *            pub_cert_load() loads them (gnutls_certificate_set_x509_key_mem2), and the
 *            certificate must name mta-sts.<domain> (RFC 8461 section 3.3; the names are
 *            read by cert_names(), with the subject CN when there is no subjectAltName, as
 *            the SNI choice reads them). The config loader reads no certificate: mtastsd -n,
 *            the start, the commands and every reload run this after cfg_load()
 *            (daemon_cfg_load()), so a certificate problem is named at file:line like any
 *            other configuration error (cfg_key_error()).
 * Threads:   any; no state.
 * Errors:    0, or ERR_CONFIG with "file:line: publisher.domains[N].cert: reason" (or .key)
 *            in errbuf; never logs.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cert_names.h"
#include "domain.h"
#include "err.h"
#include "pub.h"

/* Certificate names listed in an error message (the publisher keeps up to 100). */
#define PUB_CHECK_NAMES_SHOWN 8
/* Key paths in error messages ("publisher.domains[1023].cert"). */
#define PUB_CHECK_KEY_MAX 64

/* The names of a certificate, as an error message lists them ("a, b, c and 2 more"). */
struct check_names {
	const char *host; /* "mta-sts.example.com" */
	char *out;
	size_t outlen, len;
	unsigned n;
	int covers;
};

static int
check_name(const char *name, int from_cn, void *arg)
{
	struct check_names *cn = arg;

	cn->covers |= domain_cert_name_match(name, cn->host);
	if (from_cn) {
		(void)snprintf(cn->out, cn->outlen, "%s (subject CN, no subjectAltName)", name);
		return 0;
	}
	if (cn->n++ < PUB_CHECK_NAMES_SHOWN && cn->len < cn->outlen)
		cn->len += (size_t)snprintf(cn->out + cn->len, cn->outlen - cn->len, "%s%s",
		                            cn->len > 0 ? ", " : "", name);
	return 0;
}

/* 1 when crt names host: its SAN dNSNames, or its CN when it has none (as the publisher
 * does). The names go to names_out ("a, b, c"). */
static int
check_cert_names(gnutls_x509_crt_t crt, const char *host, char *names_out, size_t names_len)
{
	struct check_names cn = {.host = host, .out = names_out, .outlen = names_len};

	names_out[0] = '\0';
	(void)cert_names(crt, CERT_NAMES_CN_FALLBACK, check_name, &cn);
	if (cn.n > PUB_CHECK_NAMES_SHOWN && cn.len < names_len)
		(void)snprintf(names_out + cn.len, names_len - cn.len, " and %u more",
		               cn.n - PUB_CHECK_NAMES_SHOWN);
	return cn.covers;
}

/* 1 when data holds a PEM private key (any of the types GnuTLS imports). */
static int
check_pem_has_key(const gnutls_datum_t *data)
{
	gnutls_x509_privkey_t key;
	int r;

	if (gnutls_x509_privkey_init(&key) < 0)
		return 0;
	r = gnutls_x509_privkey_import2(key, data, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(key);
	return r >= 0;
}

/* cert and key of publisher.domains[i] load as a pair, as the publisher loads them
 * (gnutls_certificate_set_x509_key_mem2), and the certificate names mta-sts.<domain>. */
static int
check_domain_cert(const struct cfg *c, size_t i, char *errbuf, size_t errlen)
{
	const struct cfg_domain *d = &c->publisher.domains[i];
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	char ckey[PUB_CHECK_KEY_MAX], kkey[PUB_CHECK_KEY_MAX], names[512], host[DOMAIN_BUF + 8];
	struct stat cst, kst;
	unsigned n_crts = 0, j;
	int r, ret = ERR_CONFIG;

	(void)snprintf(ckey, sizeof(ckey), "publisher.domains[%zu].cert", i);
	(void)snprintf(kkey, sizeof(kkey), "publisher.domains[%zu].key", i);
	(void)snprintf(host, sizeof(host), "mta-sts.%s", d->domain);
	if (d->acme && access(d->cert_file, F_OK) < 0)
		return 0; /* not ordered yet: the daemon's ACME client orders it */
	r = gnutls_load_file(d->cert_file, &cd);
	if (r < 0) {
		cfg_key_error(c, ckey, errbuf, errlen, "cannot read certificate file '%s': %s",
		              d->cert_file, gnutls_strerror(r));
		goto out;
	}
	r = gnutls_load_file(d->key_file, &kd);
	if (r < 0) {
		cfg_key_error(c, kkey, errbuf, errlen, "cannot read key file '%s': %s", d->key_file,
		              gnutls_strerror(r));
		goto out;
	}
	r = gnutls_x509_crt_list_import2(&crts, &n_crts, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n_crts == 0) {
		cfg_key_error(c, ckey, errbuf, errlen,
		              "certificate file '%s' holds no PEM certificate (%s)", d->cert_file,
		              r < 0 ? gnutls_strerror(r) : "none found");
		goto out;
	}
	if (strcmp(d->cert_file, d->key_file) == 0 ||
	    (stat(d->cert_file, &cst) == 0 && stat(d->key_file, &kst) == 0 &&
	     cst.st_dev == kst.st_dev && cst.st_ino == kst.st_ino)) {
		/* a combined PEM file (certificate chain and key) is fine; the certificate
		 * file named twice is not */
		if (!check_pem_has_key(&kd)) {
			cfg_key_error(
			        c, kkey, errbuf, errlen,
			        "'%s' is the certificate file (cert) and holds no private key; "
			        "key must name the private key file",
			        d->key_file);
			goto out;
		}
	} else if (kd.size == 0 || !check_pem_has_key(&kd)) {
		cfg_key_error(c, kkey, errbuf, errlen, "key file '%s' is empty or not PEM",
		              d->key_file);
		goto out;
	}
	r = gnutls_certificate_allocate_credentials(&cred);
	if (r < 0) {
		cfg_key_error(c, kkey, errbuf, errlen, "%s", gnutls_strerror(r));
		goto out;
	}
	r = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		cfg_key_error(c, kkey, errbuf, errlen, "private key does not match certificate %s",
		              d->cert_file);
		goto out;
	}
	if (r < 0) {
		cfg_key_error(c, kkey, errbuf, errlen, "certificate %s with key %s refused: %s",
		              d->cert_file, d->key_file, gnutls_strerror(r));
		goto out;
	}
	if (!check_cert_names(crts[0], host, names, sizeof(names))) {
		cfg_key_error(c, ckey, errbuf, errlen,
		              "certificate %s does not name %s (it names %s); senders would refuse "
		              "it",
		              d->cert_file, host, names[0] != '\0' ? names : "nothing");
		goto out;
	}
	ret = 0;
out:
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	for (j = 0; j < n_crts; j++)
		gnutls_x509_crt_deinit(crts[j]);
	gnutls_free(crts);
	if (kd.data != NULL)
		gnutls_memset(kd.data, 0, kd.size);
	gnutls_free(kd.data);
	gnutls_free(cd.data);
	return ret;
}

int
pub_check_certs(const struct cfg *cfg, char *errbuf, size_t errlen)
{
	size_t i;
	int r;

	for (i = 0; i < cfg->publisher.n_domains; i++) {
		r = check_domain_cert(cfg, i, errbuf, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}
