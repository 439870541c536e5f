/*
 * publisher/pub_tls.c - GnuTLS credentials of the publisher; SNI certificate choice
 *
 * Interface: pub_cert_load(), pub_cert_ref(), pub_cert_unref(), pub_cert_covers(),
 *            pub_tls_pick(), pub_tls_conn_opened/closed(), pub_tls_retrieve_cert()
 * Rules:     RFC 8461 section 3.3 and 7.1: the certificate must name mta-sts.<domain>;
 *            SNI picks the chain, a missing or unknown SNI gets the first domain's chain
 *            (a receiving MTA MUST NOT require SNI). TLS >= 1.2 comes from the priority
 *            string given to libmicrohttpd (pub.c).
 * Threads:   pub_cert_load() runs on the main loop; pub_tls_retrieve_cert() runs in the
 *            MHD thread during a handshake and reads only the snapshot that the connection
 *            holds a reference on (pub_tls_conn_opened()).
 * Ownership: a struct pub_cert is immutable once loaded (reload_failed aside, main loop
 *            only) and freed by its last unref.
 * Errors:    pub_cert_load() returns -errno (a file cannot be read) or ERR_CONFIG (a file
 *            is empty, not PEM, or the key does not match the certificate) with the
 *            reason, naming the files, in errbuf; it never logs.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "cert_names.h"
#include "domain.h"
#include "err.h"
#include "pub_int.h"
#include "xalloc.h"

static int
tls_read_file(const char *path, char **ret_data, size_t *ret_len)
{
	struct stat st;
	char *data;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if (st.st_size <= 0 || st.st_size > PUB_CERT_FILE_MAX) {
		r = st.st_size <= 0 ? -ENODATA : -EFBIG;
		goto fail;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	(void)close(fd);
	if (got == 0) {
		free(data);
		return -ENODATA;
	}
	data[got] = '\0';
	*ret_data = data;
	*ret_len = got;
	return 0;
fail:
	(void)close(fd);
	return r;
}

static void
tls_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* cert_names() callback: keep name, lower-case, up to PUB_CERT_NAMES_MAX. */
static int
tls_cert_name(const char *name, int from_cn, void *arg)
{
	struct pub_cert *c = arg;

	(void)from_cn;
	c->names = xrealloc(c->names, (c->n_names + 1) * sizeof(*c->names));
	c->names[c->n_names] = xstrdup(name);
	tls_lower(c->names[c->n_names]);
	c->n_names++;
	return c->n_names >= PUB_CERT_NAMES_MAX;
}

/* The SAN dNSNames of crt, or its CN when it has none. */
static void
tls_cert_names(struct pub_cert *c, gnutls_x509_crt_t crt)
{
	(void)cert_names(crt, CERT_NAMES_CN_FALLBACK, tls_cert_name, c);
}

static void
tls_cert_free(struct pub_cert *c)
{
	size_t i;

	for (i = 0; i < c->n_pcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	for (i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->cert_file);
	free(c->key_file);
	if (c->key_data != NULL)
		gnutls_memset(c->key_data, 0, c->key_len);
	free(c->key_data);
	free(c->cert_data);
	free(c);
}

int
pub_cert_load(const char *cert_file, const char *key_file, struct pub_cert **ret_cert, char *errbuf,
              size_t errlen)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t cd, kd;
	struct pub_cert *c;
	unsigned n;
	int r;

	c = xcalloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->cert_file = xstrdup(cert_file);
	c->key_file = xstrdup(key_file);
	r = tls_read_file(cert_file, &c->cert_data, &c->cert_len);
	if (r == -ENODATA) {
		(void)snprintf(errbuf, errlen, "certificate file %s is empty", cert_file);
		goto fail;
	}
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "cannot read certificate file %s: %s", cert_file,
		               strerror(-r));
		goto fail;
	}
	r = tls_read_file(key_file, &c->key_data, &c->key_len);
	if (r == -ENODATA) {
		(void)snprintf(errbuf, errlen, "key file %s is empty or not PEM", key_file);
		goto fail;
	}
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "cannot read key file %s: %s", key_file,
		               strerror(-r));
		goto fail;
	}
	cd.data = (unsigned char *)c->cert_data;
	cd.size = (unsigned)c->cert_len;
	kd.data = (unsigned char *)c->key_data;
	kd.size = (unsigned)c->key_len;

	/* Each file on its own first, so the message can say which one is wrong. */
	n = PUB_CERT_CHAIN_MAX;
	r = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n == 0) {
		(void)snprintf(errbuf, errlen,
		               "certificate file %s holds no PEM certificate chain: %s", cert_file,
		               r < 0 ? gnutls_strerror(r) : "none found");
		r = ERR_CONFIG;
		goto fail;
	}
	c->n_pcert = n;
	r = gnutls_privkey_init(&c->key);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "%s", gnutls_strerror(r));
		r = -ENOMEM;
		goto fail;
	}
	r = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "key file %s is empty or not PEM: %s", key_file,
		               gnutls_strerror(r));
		r = ERR_CONFIG;
		goto fail;
	}

	/* GnuTLS checks here that the key belongs to the leaf certificate. */
	r = gnutls_certificate_allocate_credentials(&cred);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "%s", gnutls_strerror(r));
		r = -ENOMEM;
		goto fail;
	}
	r = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		(void)snprintf(errbuf, errlen, "key %s does not match certificate %s, refused",
		               key_file, cert_file);
		r = ERR_CONFIG;
		goto fail;
	}
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "certificate %s with key %s refused: %s", cert_file,
		               key_file, gnutls_strerror(r));
		r = ERR_CONFIG;
		goto fail;
	}

	r = gnutls_x509_crt_init(&crt);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "%s", gnutls_strerror(r));
		r = -ENOMEM;
		goto fail;
	}
	r = gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER);
	if (r < 0) {
		(void)snprintf(errbuf, errlen, "certificate %s: %s", cert_file, gnutls_strerror(r));
		r = ERR_CONFIG;
		goto fail;
	}
	tls_cert_names(c, crt);
	c->not_after = gnutls_x509_crt_get_expiration_time(crt);
	gnutls_x509_crt_deinit(crt);
	gnutls_certificate_free_credentials(cred);
	*ret_cert = c;
	return 0;
fail:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	tls_cert_free(c);
	return r;
}

struct pub_cert *
pub_cert_ref(struct pub_cert *c)
{
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void
pub_cert_unref(struct pub_cert *c)
{
	if (c == NULL)
		return;
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		tls_cert_free(c);
}

int
pub_cert_covers(const struct pub_cert *c, const char *host)
{
	size_t i;

	for (i = 0; i < c->n_names; i++)
		if (domain_cert_name_match(c->names[i], host))
			return 1;
	return 0;
}

const struct pub_cert *
pub_tls_pick(const struct pub_snap *s, const char *name)
{
	size_t i;

	if (s->n_doms == 0)
		return NULL;
	if (name != NULL && name[0] != '\0') {
		int ours = 0;

		for (i = 0; i < s->n_doms; i++) {
			if (strcasecmp(s->doms[i].host, name) != 0)
				continue;
			if (s->doms[i].cert != NULL)
				return s->doms[i].cert;
			ours = 1; /* its certificate did not load */
		}
		for (i = 0; i < s->n_certs; i++)
			if (pub_cert_covers(s->certs[i], name))
				return s->certs[i];
		if (ours)
			return NULL; /* not published: no handshake rather than a wrong name */
	}
	/* no SNI, or a name we do not serve: the first domain's (a domain whose certificate
	 * did not load has none: the first one that has) */
	for (i = 0; i < s->n_doms; i++)
		if (s->doms[i].cert != NULL)
			return s->doms[i].cert;
	return NULL;
}

void
pub_tls_conn_opened(void *arg, struct MHD_Connection *conn, void **data)
{
	struct pub *pub = arg;
	const union MHD_ConnectionInfo *ci;

	*data = pub_snap_acquire(pub);
	/* The TLS session exists, its handshake has not started: session tickets
	 * (resumption) must be enabled now. Failure only costs full handshakes. */
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (pub->ticket_key.data != NULL && ci != NULL && ci->tls_session != NULL)
		(void)gnutls_session_ticket_enable_server((gnutls_session_t)ci->tls_session,
		                                          &pub->ticket_key);
}

void
pub_tls_conn_closed(void *arg, struct MHD_Connection *conn, void *data)
{
	(void)arg;
	(void)conn;
	pub_snap_unref(data);
}

int
pub_tls_retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_privkey_t *privkey)
{
	struct MHD_Connection *conn;
	const struct pub_snap *snap;
	const struct pub_cert *c;
	char name[DOMAIN_NAME_MAX + 2];
	size_t len = sizeof(name);
	unsigned type;
	const char *sni = NULL;

	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	conn = gnutls_session_get_ptr(session);
	if (conn == NULL)
		return -1;
	snap = httpd_conn_data(conn);
	if (snap == NULL)
		return -1;
	if (gnutls_server_name_get(session, name, &len, &type, 0) == GNUTLS_E_SUCCESS &&
	    type == GNUTLS_NAME_DNS && len > 0 && len < sizeof(name)) {
		name[len] = '\0';
		if (name[len - 1] == '.')
			name[len - 1] = '\0';
		sni = name;
	}
	c = pub_tls_pick(snap, sni);
	if (c == NULL)
		return -1;
	/* GnuTLS only reads these; they live as long as the connection's snapshot. */
	*pcert = (gnutls_pcert_st *)c->pcert;
	*pcert_length = c->n_pcert;
	*privkey = c->key;
	return 0;
}

/* ---- start-up self-test: can a sender complete a handshake with us? ---- */

/* The certificate callback of the self-test's server session: the certificate under test. */
static int
selftest_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                  const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                  gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	const struct pub_cert *c = gnutls_session_get_ptr(session);

	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (c == NULL)
		return -1;
	*pcert = (gnutls_pcert_st *)c->pcert;
	*pcert_length = c->n_pcert;
	*privkey = c->key;
	return 0;
}

int
pub_tls_selftest(const char *priority, const struct pub_cert *c, const char *host, char *errbuf,
                 size_t errlen)
{
	gnutls_certificate_credentials_t scred = NULL, ccred = NULL;
	gnutls_session_t srv = NULL, cli = NULL;
	int sv[2] = {-1, -1}, rs = GNUTLS_E_AGAIN, rc = GNUTLS_E_AGAIN, r = ERR_CONFIG, i;
	const char *fail = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		(void)snprintf(errbuf, errlen, "TLS self-test: socketpair: %s", strerror(errno));
		return -errno;
	}
	if (gnutls_certificate_allocate_credentials(&scred) < 0 ||
	    gnutls_certificate_allocate_credentials(&ccred) < 0 ||
	    gnutls_init(&srv, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0 ||
	    gnutls_init(&cli, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
		(void)snprintf(errbuf, errlen, "TLS self-test: cannot set up GnuTLS sessions");
		goto out;
	}
	gnutls_certificate_set_retrieve_function2(scred, selftest_retrieve);
	gnutls_session_set_ptr(srv, (void *)c);
	if (gnutls_priority_set_direct(srv, priority, NULL) < 0 ||
	    gnutls_priority_set_direct(cli, PUB_SELFTEST_CLIENT_PRIORITY, NULL) < 0 ||
	    gnutls_credentials_set(srv, GNUTLS_CRD_CERTIFICATE, scred) < 0 ||
	    gnutls_credentials_set(cli, GNUTLS_CRD_CERTIFICATE, ccred) < 0 ||
	    gnutls_server_name_set(cli, GNUTLS_NAME_DNS, host, strlen(host)) < 0) {
		(void)snprintf(errbuf, errlen, "TLS self-test: cannot configure the sessions");
		goto out;
	}
	gnutls_transport_set_int(srv, sv[0]);
	gnutls_transport_set_int(cli, sv[1]);
	/* Both ends in one thread: alternate until both are done or one fails. A TLS 1.2 or
	 * 1.3 handshake takes a few flights; the bound only stops a loop that makes no
	 * progress. */
	for (i = 0; i < 64 && (rs != 0 || rc != 0); i++) {
		if (rc != 0) {
			rc = gnutls_handshake(cli);
			if (rc < 0 && gnutls_error_is_fatal(rc)) {
				fail = gnutls_strerror(rc);
				break;
			}
		}
		if (rs != 0) {
			rs = gnutls_handshake(srv);
			if (rs < 0 && gnutls_error_is_fatal(rs)) {
				fail = gnutls_strerror(rs);
				break;
			}
		}
	}
	if (rs == 0 && rc == 0)
		r = 0;
	else
		(void)snprintf(errbuf, errlen,
		               "no TLS 1.2/1.3 client can complete a handshake with "
		               "publisher.tls_priority '%s' and the certificate %s: %s",
		               priority, c->cert_file, fail != NULL ? fail : "no progress");
out:
	if (cli != NULL)
		gnutls_deinit(cli);
	if (srv != NULL)
		gnutls_deinit(srv);
	if (ccred != NULL)
		gnutls_certificate_free_credentials(ccred);
	if (scred != NULL)
		gnutls_certificate_free_credentials(scred);
	(void)close(sv[0]);
	(void)close(sv[1]);
	return r;
}
