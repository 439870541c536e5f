/*
 * acme/acme_jws.c - the ACME client's cryptography: keys, JWK, JWS, CSR
 *
 * Interface: see acme_jws.h
 * Design:    GnuTLS for keys (gnutls_privkey_generate2, PEM import and export), ECDSA
 *            signatures (gnutls_privkey_sign_data, then gnutls_decode_rs_value for the raw
 *            R || S of RFC 7518 section 3.4), SHA-256 and HMAC, and the CSR
 *            (gnutls_x509_crq_*); nettle's base64url; json-c builds every JSON text.
 * Threads:   any.
 * Ownership: see acme_jws.h.
 * Errors:    0 or -errno; nothing here logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>
#include <nettle/base64.h>

#include "acme_jws.h"
#include "xalloc.h"

#define ES256_PART 32 /* bytes of R and of S (P-256) */

char *
acme_b64url(const void *data, size_t len)
{
	struct base64_encode_ctx ctx;
	char *out = xmalloc(BASE64_ENCODE_LENGTH(len) + BASE64_ENCODE_FINAL_LENGTH + 1);
	size_t n;

	base64url_encode_init(&ctx);
	n = base64_encode_update(&ctx, out, len, data);
	n += base64_encode_final(&ctx, out + n);
	while (n > 0 && out[n - 1] == '=')
		n--; /* RFC 7515 section 2: no padding */
	out[n] = '\0';
	return out;
}

int
acme_b64url_decode(const char *text, uint8_t **ret, size_t *ret_len)
{
	struct base64_decode_ctx ctx;
	size_t len = strlen(text), n;
	uint8_t *out;

	while (len > 0 && text[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL; /* no whole byte in the last group */
	n = BASE64_DECODE_LENGTH(len) + 1;
	out = xmalloc(n);
	base64url_decode_init(&ctx);
	/* Unpadded (RFC 7515 section 2): the last group's spare bits stay in ctx, so
	 * base64_decode_final(), which wants them consumed by padding, is not asked. */
	if (!base64_decode_update(&ctx, &n, out, len, text)) {
		free(out);
		return -EINVAL;
	}
	out[n] = '\0'; /* a NUL after the bytes, not counted: decoded JSON is a C string */
	*ret = out;
	*ret_len = n;
	return 0;
}

int
acme_key_new(gnutls_privkey_t *ret_key)
{
	gnutls_privkey_t key;

	if (gnutls_privkey_init(&key) < 0)
		return -EIO;
	if (gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA,
	                             GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL,
	                             0) < 0) {
		gnutls_privkey_deinit(key);
		return -EIO;
	}
	*ret_key = key;
	return 0;
}

int
acme_key_load(const char *path, gnutls_privkey_t *ret_key)
{
	gnutls_datum_t d = {NULL, 0};
	gnutls_privkey_t key;
	int r;

	if (access(path, F_OK) < 0)
		return -ENOENT;
	if (gnutls_load_file(path, &d) < 0)
		return -EIO;
	r = gnutls_privkey_init(&key);
	if (r >= 0)
		r = gnutls_privkey_import_x509_raw(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	if (r < 0) {
		gnutls_privkey_deinit(key);
		return -EIO;
	}
	*ret_key = key;
	return 0;
}

int
acme_file_write(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *dir = xstrdup(path), *slash;
	const char *p = data;
	ssize_t n;
	int fd, dfd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	(void)fchmod(fd, (mode_t)mode); /* umask may have cut it */
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			(void)close(dfd);
		}
	}
out:
	free(dir);
	free(tmp);
	return r;
}

int
acme_key_save(gnutls_privkey_t key, const char *path)
{
	gnutls_x509_privkey_t xk = NULL;
	gnutls_datum_t pem = {NULL, 0};
	int r;

	if (gnutls_privkey_export_x509(key, &xk) < 0)
		return -EIO;
	r = gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
	                                      &pem);
	gnutls_x509_privkey_deinit(xk);
	if (r < 0)
		return -EIO;
	r = acme_file_write(path, pem.data, pem.size, 0600);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	return r;
}

/* Copy the big-endian integer d into out[width], left-padded with zeros or stripped of
 * leading zeros. Returns 0, or -1 when it does not fit. */
static int
fixed_width(const gnutls_datum_t *d, uint8_t *out, size_t width)
{
	const uint8_t *p = d->data;
	size_t n = d->size;

	while (n > width && *p == 0) {
		p++;
		n--;
	}
	if (n > width)
		return -1;
	memset(out, 0, width - n);
	memcpy(out + width - n, p, n);
	return 0;
}

char *
acme_jwk(gnutls_privkey_t key)
{
	gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
	gnutls_ecc_curve_t curve;
	uint8_t xb[ES256_PART], yb[ES256_PART];
	char *xs, *ys, *jwk = NULL;

	if (gnutls_privkey_export_ecc_raw2(key, &curve, &x, &y, NULL, GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
		return NULL;
	if (curve == GNUTLS_ECC_CURVE_SECP256R1 && fixed_width(&x, xb, sizeof(xb)) == 0 &&
	    fixed_width(&y, yb, sizeof(yb)) == 0) {
		xs = acme_b64url(xb, sizeof(xb));
		ys = acme_b64url(yb, sizeof(yb));
		/* RFC 7638 section 3.3: required members only, lexicographic order; the values
		 * are base64url, so they need no JSON escaping */
		jwk = xasprintf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs,
		                ys);
		free(xs);
		free(ys);
	}
	gnutls_free(x.data);
	gnutls_free(y.data);
	return jwk;
}

char *
acme_jwk_thumbprint(const char *canonical_jwk)
{
	uint8_t digest[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, canonical_jwk, strlen(canonical_jwk), digest) < 0)
		return NULL;
	return acme_b64url(digest, sizeof(digest));
}

int
acme_es256_sign(gnutls_privkey_t key, const void *data, size_t len, uint8_t sig[64])
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)data, (unsigned)len};
	gnutls_datum_t der = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
	int ret = -EIO;

	if (gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &in, &der) < 0)
		return -EIO;
	if (gnutls_decode_rs_value(&der, &r, &s) < 0)
		goto out;
	if (fixed_width(&r, sig, ES256_PART) < 0 ||
	    fixed_width(&s, sig + ES256_PART, ES256_PART) < 0)
		goto out;
	ret = 0;
out:
	gnutls_free(der.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	return ret;
}

/* {"protected":p,"payload":q,"signature":s} as JSON text. */
static char *
jws_flat(const char *prot, const char *payload, const char *sig)
{
	json_object *o = json_object_new_object();
	char *out;

	json_object_object_add(o, "protected", json_object_new_string(prot));
	json_object_object_add(o, "payload", json_object_new_string(payload));
	json_object_object_add(o, "signature", json_object_new_string(sig));
	out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

static char *
json_text_b64(json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                          JSON_C_TO_STRING_NOSLASHESCAPE);

	return acme_b64url(t, strlen(t));
}

char *
acme_jws(gnutls_privkey_t key, const char *kid, const char *nonce, const char *url,
         const char *payload)
{
	json_object *h = json_object_new_object(), *jwk_o;
	char *prot, *pay, *input, *sig_b64, *jwk, *out = NULL;
	uint8_t sig[64];

	json_object_object_add(h, "alg", json_object_new_string("ES256"));
	if (kid != NULL) {
		json_object_object_add(h, "kid", json_object_new_string(kid));
	} else {
		jwk = acme_jwk(key);
		jwk_o = jwk != NULL ? json_tokener_parse(jwk) : NULL;
		free(jwk);
		if (jwk_o == NULL) {
			json_object_put(h);
			return NULL;
		}
		json_object_object_add(h, "jwk", jwk_o);
	}
	json_object_object_add(h, "nonce", json_object_new_string(nonce));
	json_object_object_add(h, "url", json_object_new_string(url));
	prot = json_text_b64(h);
	json_object_put(h);
	pay = payload != NULL ? acme_b64url(payload, strlen(payload)) : xstrdup("");
	input = xasprintf("%s.%s", prot, pay);
	if (acme_es256_sign(key, input, strlen(input), sig) == 0) {
		sig_b64 = acme_b64url(sig, sizeof(sig));
		out = jws_flat(prot, pay, sig_b64);
		free(sig_b64);
	}
	free(input);
	free(prot);
	free(pay);
	return out;
}

char *
acme_eab_jws(const char *eab_kid, const char *hmac_key_b64url, const char *jwk, const char *url)
{
	json_object *h = json_object_new_object();
	char *prot, *pay, *input, *sig_b64, *out;
	uint8_t mac[32], *hk = NULL;
	size_t hk_len = 0;

	if (acme_b64url_decode(hmac_key_b64url, &hk, &hk_len) < 0 || hk_len == 0) {
		free(hk);
		json_object_put(h);
		return NULL;
	}
	json_object_object_add(h, "alg", json_object_new_string("HS256"));
	json_object_object_add(h, "kid", json_object_new_string(eab_kid));
	json_object_object_add(h, "url", json_object_new_string(url));
	prot = json_text_b64(h);
	json_object_put(h);
	pay = acme_b64url(jwk, strlen(jwk));
	input = xasprintf("%s.%s", prot, pay);
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, hk, hk_len, input, strlen(input), mac) < 0) {
		out = NULL;
	} else {
		sig_b64 = acme_b64url(mac, sizeof(mac));
		out = jws_flat(prot, pay, sig_b64);
		free(sig_b64);
	}
	gnutls_memset(hk, 0, hk_len);
	free(hk);
	free(input);
	free(prot);
	free(pay);
	return out;
}

char *
acme_csr(gnutls_privkey_t key, const char *host)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = {NULL, 0};
	char *out = NULL;

	if (gnutls_x509_crq_init(&crq) < 0)
		return NULL;
	if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0 ||
	    gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, host,
	                                  (unsigned)strlen(host)) < 0 ||
	    gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, host,
	                                         (unsigned)strlen(host), GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crq_set_pubkey(crq, pub) < 0 ||
	    gnutls_x509_crq_privkey_sign(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	out = acme_b64url(der.data, der.size);
out:
	gnutls_free(der.data);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return out;
}
