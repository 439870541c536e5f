/*
 * tests/unit/acme/test_acme_jws.c - acme/acme_jws.c against published vectors
 *
 * base64url: RFC 4648 section 10 (the base64url alphabet, no padding); JWK thumbprint:
 * RFC 7638 section 3.1; ES256: RFC 7515 appendix A.3 (its key, signing input and
 * signature: our R || S must be what a verifier of the RFC's signature reads, and our
 * signatures must verify with the RFC's public key); the JWS of RFC 8555 section 6.2;
 * the CSR; the atomic file write.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "acme_jws.h"

/* RFC 7515 appendix A.3 */
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define A3_INPUT                                                                                   \
	"eyJhbGciOiJFUzI1NiJ9."                                                                    \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"                     \
	"LmNvbS9pc19yb290Ijp0cnVlfQ"
#define A3_SIG                                                                                     \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

static gnutls_datum_t
b64(const char *t)
{
	uint8_t *p = NULL;
	size_t n = 0;

	assert_int_equal(acme_b64url_decode(t, &p, &n), 0);
	return (gnutls_datum_t){p, (unsigned)n};
}

static gnutls_privkey_t
a3_privkey(void)
{
	gnutls_datum_t x = b64(A3_X), y = b64(A3_Y), d = b64(A3_D);
	gnutls_privkey_t k;

	assert_int_equal(gnutls_privkey_init(&k), 0);
	assert_int_equal(gnutls_privkey_import_ecc_raw(k, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &d),
	                 0);
	free(x.data);
	free(y.data);
	free(d.data);
	return k;
}

static gnutls_pubkey_t
a3_pubkey(void)
{
	gnutls_datum_t x = b64(A3_X), y = b64(A3_Y);
	gnutls_pubkey_t k;

	assert_int_equal(gnutls_pubkey_init(&k), 0);
	assert_int_equal(gnutls_pubkey_import_ecc_raw(k, GNUTLS_ECC_CURVE_SECP256R1, &x, &y), 0);
	free(x.data);
	free(y.data);
	return k;
}

/* Verify a raw R || S ES256 signature over input with the A.3 public key. */
static int
a3_verify(const char *input, const uint8_t *sig, size_t sig_len)
{
	gnutls_datum_t r = {(unsigned char *)(uintptr_t)sig, 32};
	gnutls_datum_t s = {(unsigned char *)(uintptr_t)sig + 32, 32};
	gnutls_datum_t der = {NULL, 0},
	               in = {(unsigned char *)(uintptr_t)input, (unsigned)strlen(input)};
	gnutls_pubkey_t pub = a3_pubkey();
	int ret;

	assert_int_equal(sig_len, 64);
	assert_int_equal(gnutls_encode_rs_value(&der, &r, &s), 0);
	ret = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &in, &der);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return ret;
}

static void
test_b64url(void **state)
{
	static const uint8_t bin[] = {0xfb, 0xff, 0xbf};
	uint8_t *p = NULL;
	size_t n = 0;
	char *t;

	(void)state;
	/* RFC 4648 section 10, padding dropped */
	t = acme_b64url("", 0), assert_string_equal(t, ""), free(t);
	t = acme_b64url("f", 1), assert_string_equal(t, "Zg"), free(t);
	t = acme_b64url("fo", 2), assert_string_equal(t, "Zm8"), free(t);
	t = acme_b64url("foo", 3), assert_string_equal(t, "Zm9v"), free(t);
	t = acme_b64url("foobar", 6), assert_string_equal(t, "Zm9vYmFy"), free(t);
	/* '+' and '/' of base64 are '-' and '_' */
	t = acme_b64url(bin, 2), assert_string_equal(t, "-_8"), free(t);
	t = acme_b64url(bin, 3), assert_string_equal(t, "-_-_"), free(t);
	assert_int_equal(acme_b64url_decode("Zm9vYg", &p, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "foob", 4);
	free(p);
	assert_int_equal(acme_b64url_decode("-_-_", &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, bin, 3);
	free(p);
	assert_int_equal(acme_b64url_decode("Zm9v+", &p, &n), -EINVAL); /* not base64url */
	assert_int_equal(acme_b64url_decode("Zm9vY", &p, &n), -EINVAL); /* 6 bits left */
}

static void
test_thumbprint_rfc7638(void **state)
{
	/* RFC 7638 section 3.1: the RSA key's required members, in order, no white space */
	static const char jwk[] =
	        "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":"
	        "\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM"
	        "78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5J"
	        "sGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c"
	        "7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPk"
	        "sINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}";
	char *t = acme_jwk_thumbprint(jwk);

	(void)state;
	assert_string_equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(t);
}

static void
test_jwk_ec(void **state)
{
	gnutls_privkey_t k = a3_privkey();
	char *jwk = acme_jwk(k), *t;

	(void)state;
	/* RFC 7638 section 3.2: crv, kty, x, y */
	assert_string_equal(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" A3_X
	                         "\",\"y\":\"" A3_Y "\"}");
	t = acme_jwk_thumbprint(jwk);
	assert_non_null(t);
	assert_int_equal(strlen(t), 43); /* 256 bits */
	free(t);
	free(jwk);
	gnutls_privkey_deinit(k);
}

static void
test_es256_rfc7515(void **state)
{
	gnutls_datum_t sig = b64(A3_SIG);
	gnutls_privkey_t k = a3_privkey();
	uint8_t ours[64];
	char bad[] = A3_INPUT;

	(void)state;
	/* the RFC's signature, read as R || S, verifies: the layout is the RFC's */
	assert_int_equal(a3_verify(A3_INPUT, sig.data, sig.size), 0);
	bad[0] = 'f';
	assert_int_not_equal(a3_verify(bad, sig.data, sig.size), 0);
	/* ours (ECDSA is randomised, so not the same bytes) verifies the same way */
	assert_int_equal(acme_es256_sign(k, A3_INPUT, strlen(A3_INPUT), ours), 0);
	assert_int_equal(a3_verify(A3_INPUT, ours, sizeof(ours)), 0);
	free(sig.data);
	gnutls_privkey_deinit(k);
}

static void
test_jws_rfc8555(void **state)
{
	gnutls_privkey_t k = a3_privkey();
	json_object *o, *h, *v;
	gnutls_datum_t prot, sig;
	char *jws, *input;
	const char *p64, *y64, *s64;

	(void)state;
	jws = acme_jws(k, NULL, "n0nce", "https://ca.test/acme/new-acct", "{\"a\":1}");
	assert_non_null(jws);
	o = json_tokener_parse(jws);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "protected", &v));
	p64 = json_object_get_string(v);
	assert_true(json_object_object_get_ex(o, "payload", &v));
	y64 = json_object_get_string(v);
	assert_string_equal(y64, "eyJhIjoxfQ");
	assert_true(json_object_object_get_ex(o, "signature", &v));
	s64 = json_object_get_string(v);
	prot = b64(p64);
	h = json_tokener_parse((const char *)prot.data);
	assert_non_null(h);
	assert_true(json_object_object_get_ex(h, "alg", &v));
	assert_string_equal(json_object_get_string(v), "ES256");
	assert_true(json_object_object_get_ex(h, "nonce", &v));
	assert_string_equal(json_object_get_string(v), "n0nce");
	assert_true(json_object_object_get_ex(h, "url", &v));
	assert_string_equal(json_object_get_string(v), "https://ca.test/acme/new-acct");
	assert_true(json_object_object_get_ex(h, "jwk", &v));
	assert_false(json_object_object_get_ex(h, "kid", NULL));
	sig = b64(s64);
	input = NULL;
	assert_true(asprintf(&input, "%s.%s", p64, y64) > 0);
	assert_int_equal(a3_verify(input, sig.data, sig.size), 0);
	free(input);
	free(sig.data);
	free(prot.data);
	json_object_put(h);
	json_object_put(o);
	free(jws);
	/* kid form, POST-as-GET: empty payload (RFC 8555 section 6.3) */
	jws = acme_jws(k, "https://ca.test/acct/1", "n1", "https://ca.test/order/1", NULL);
	o = json_tokener_parse(jws);
	assert_true(json_object_object_get_ex(o, "payload", &v));
	assert_string_equal(json_object_get_string(v), "");
	assert_true(json_object_object_get_ex(o, "protected", &v));
	prot = b64(json_object_get_string(v));
	h = json_tokener_parse((const char *)prot.data);
	assert_true(json_object_object_get_ex(h, "kid", &v));
	assert_string_equal(json_object_get_string(v), "https://ca.test/acct/1");
	assert_false(json_object_object_get_ex(h, "jwk", NULL));
	free(prot.data);
	json_object_put(h);
	json_object_put(o);
	free(jws);
	gnutls_privkey_deinit(k);
}

static void
test_eab(void **state)
{
	static const char key[] =
	        "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
	json_object *o, *v;
	gnutls_datum_t prot, mac;
	uint8_t want[32], *k = NULL;
	size_t kn = 0;
	char *eab, *input;
	const char *p64, *y64;

	(void)state;
	assert_null(acme_eab_jws("kid-1", "not base64url!", "{}", "https://ca.test/new-acct"));
	eab = acme_eab_jws("kid-1", key, "{\"crv\":\"P-256\"}", "https://ca.test/new-acct");
	o = json_tokener_parse(eab);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "protected", &v));
	p64 = json_object_get_string(v);
	prot = b64(p64);
	assert_non_null(strstr((const char *)prot.data, "\"alg\":\"HS256\""));
	assert_non_null(strstr((const char *)prot.data, "\"kid\":\"kid-1\""));
	assert_true(json_object_object_get_ex(o, "payload", &v));
	y64 = json_object_get_string(v);
	assert_true(json_object_object_get_ex(o, "signature", &v));
	mac = b64(json_object_get_string(v));
	assert_int_equal(mac.size, 32);
	assert_true(asprintf(&input, "%s.%s", p64, y64) > 0);
	assert_int_equal(acme_b64url_decode(key, &k, &kn), 0);
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, k, kn, input, strlen(input), want), 0);
	assert_memory_equal(mac.data, want, 32);
	free(k);
	free(input);
	free(mac.data);
	free(prot.data);
	json_object_put(o);
	free(eab);
}

static void
test_csr(void **state)
{
	gnutls_privkey_t k = NULL;
	gnutls_x509_crq_t crq;
	gnutls_datum_t der;
	char san[256];
	size_t san_len = sizeof(san);
	unsigned type = 0;
	char *csr;

	(void)state;
	assert_int_equal(acme_key_new(&k), 0);
	csr = acme_csr(k, "mta-sts.example.com");
	assert_non_null(csr);
	der = b64(csr);
	assert_int_equal(gnutls_x509_crq_init(&crq), 0);
	assert_int_equal(gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);
	assert_int_equal(gnutls_x509_crq_get_subject_alt_name(crq, 0, san, &san_len, &type, NULL),
	                 GNUTLS_SAN_DNSNAME);
	assert_string_equal(san, "mta-sts.example.com");
	gnutls_x509_crq_deinit(crq);
	free(der.data);
	free(csr);
	gnutls_privkey_deinit(k);
}

static void
test_files(void **state)
{
	char dir[] = "/tmp/test_acme_jws.XXXXXX", path[128], buf[64];
	gnutls_privkey_t k = NULL, k2 = NULL;
	char *j1, *j2;
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/key.pem", dir);
	assert_int_equal(acme_key_load(path, &k), -ENOENT);
	assert_int_equal(acme_key_new(&k), 0);
	assert_int_equal(acme_key_save(k, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(acme_key_load(path, &k2), 0);
	j1 = acme_jwk(k);
	j2 = acme_jwk(k2);
	assert_string_equal(j1, j2); /* the same key back */
	free(j1);
	free(j2);
	(void)snprintf(path, sizeof(path), "%s/fullchain.pem", dir);
	assert_int_equal(acme_file_write(path, "one", 3, 0644), 0);
	assert_int_equal(acme_file_write(path, "two!", 4, 0644), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	(void)fclose(f);
	assert_string_equal(buf, "two!");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	(void)snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
	gnutls_privkey_deinit(k);
	gnutls_privkey_deinit(k2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_b64url),      cmocka_unit_test(test_thumbprint_rfc7638),
	        cmocka_unit_test(test_jwk_ec),      cmocka_unit_test(test_es256_rfc7515),
	        cmocka_unit_test(test_jws_rfc8555), cmocka_unit_test(test_eab),
	        cmocka_unit_test(test_csr),         cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
