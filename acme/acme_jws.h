/*
 * acme/acme_jws.h - the ACME client's cryptography: keys, JWK, JWS, CSR (no I/O but files)
 *
 * Interface: acme_b64url(), acme_b64url_decode(), acme_key_new(), acme_key_load(),
 *            acme_key_save(), acme_jwk(), acme_jwk_thumbprint(), acme_es256_sign(),
 *            acme_jws(), acme_eab_jws(), acme_csr(), acme_file_write()
 * Standards: RFC 7515 (JWS, flattened JSON serialization, appendix A.3 ES256), RFC 7518
 *            section 3.4 (ES256 signature as R || S, 32 bytes each), RFC 7638 (JWK
 *            thumbprint), RFC 4648 section 5 (base64url, no padding), RFC 8555 sections
 *            6.2 (request authentication), 7.3.4 (External Account Binding), 7.4 (CSR).
 * Design:    GnuTLS does the keys, signatures, hashes, HMAC and the CSR
 *            (gnutls_x509_crq_*); nettle the base64url; json-c the JSON.
 * Threads:   any; no shared state.
 * Ownership: returned char * are owned by the caller (free()); keys are gnutls_privkey_t
 *            owned by the caller (gnutls_privkey_deinit()).
 * Errors:    0 or -errno (-EINVAL bad input, -EIO a GnuTLS failure, -ENOENT no file).
 */
#ifndef MTASTSD_ACME_JWS_H
#define MTASTSD_ACME_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

/* base64url of len bytes at data, without padding (RFC 4648 section 5). Owned. */
char *acme_b64url(const void *data, size_t len);
/* Decode base64url text (padding optional) into *ret (owned, free(); a NUL follows the
 * *ret_len bytes) and *ret_len. Returns 0 or -EINVAL. */
int acme_b64url_decode(const char *text, uint8_t **ret, size_t *ret_len);

/* A new ECDSA P-256 key (the account key, a certificate key). Returns 0 or -EIO. */
int acme_key_new(gnutls_privkey_t *ret_key);
/* Read a PEM private key from path. Returns 0, -ENOENT (no file) or -EIO (not a key). */
int acme_key_load(const char *path, gnutls_privkey_t *ret_key);
/* Write key as PEM (PKCS#8) to path with mode 0600, atomically (acme_file_write()). */
int acme_key_save(gnutls_privkey_t key, const char *path);
/* Write len bytes to path atomically: a temporary file in the same directory with mode,
 * fsync, rename over path, fsync of the directory. Returns 0 or -errno. */
int acme_file_write(const char *path, const void *data, size_t len, unsigned mode);

/* The public JWK of an EC P-256 key in the canonical form of RFC 7638 section 3.3 (members
 * crv, kty, x, y in that order, no white space), which is also what the JWS "jwk" header
 * carries. Owned; NULL when key is not an EC P-256 key. */
char *acme_jwk(gnutls_privkey_t key);
/* RFC 7638: base64url(SHA-256(canonical_jwk)), canonical_jwk being the JSON text with the
 * required members in lexicographic order and no white space. Owned. */
char *acme_jwk_thumbprint(const char *canonical_jwk);

/* ES256 (RFC 7518 section 3.4): sign len bytes at data with key (SHA-256, ECDSA P-256) and
 * write R || S, each left-padded to 32 bytes, into sig. Returns 0 or -EIO. */
int acme_es256_sign(gnutls_privkey_t key, const void *data, size_t len, uint8_t sig[64]);

/* The flattened JWS of RFC 8555 section 6.2 as a JSON text: protected header
 * {"alg":"ES256", "kid": kid or "jwk": the key's JWK when kid is NULL, "nonce", "url"},
 * payload (the JSON text given; NULL: empty, a POST-as-GET, section 6.3), signature.
 * Owned; NULL on a signing failure. */
char *acme_jws(gnutls_privkey_t key, const char *kid, const char *nonce, const char *url,
               const char *payload);
/* The externalAccountBinding value of a newAccount request (RFC 8555 section 7.3.4): a JWS
 * with alg HS256, kid eab_kid, url, payload the account key's JWK, MACed with the HMAC key
 * (hmac_key_b64url, base64url as the CA hands it out). Returns the JSON text (owned), or
 * NULL when the HMAC key is not base64url. */
char *acme_eab_jws(const char *eab_kid, const char *hmac_key_b64url, const char *jwk,
                   const char *url);

/* A PKCS#10 CSR (DER) for the DNS name host, signed with key (SHA-256), as
 * base64url text for the finalize request (RFC 8555 section 7.4). Owned; NULL on error. */
char *acme_csr(gnutls_privkey_t key, const char *host);

#endif
