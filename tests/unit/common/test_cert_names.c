/*
 * tests/unit/common/test_cert_names.c - cert_names(): the DNS names of a certificate
 *
 * Data: tests/unit/data/cfg/dummy-cert.pem (subjectAltName dNSNames mta-sts.example.com,
 *       mta-sts.xn--bcher-kva.example; CN mta-sts.example.com),
 *       tests/unit/data/cfg/dummy-cn-only.pem (no subjectAltName; CN MTA-STS.example.org).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cert_names.h"

#define CFG_DIR TEST_DATA_DIR "/cfg"

struct seen {
	char names[4][256];
	int from_cn[4];
	unsigned n;
	unsigned stop_after; /* 0: never stop */
};

static int
record(const char *name, int from_cn, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 4);
	(void)snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", name);
	s->from_cn[s->n] = from_cn;
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static gnutls_x509_crt_t
load_crt(const char *file)
{
	gnutls_datum_t d = {NULL, 0};
	gnutls_x509_crt_t crt;

	assert_int_equal(gnutls_load_file(file, &d), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(d.data);
	return crt;
}

/* The dNSNames in certificate order, as written; the CN is not one of them. */
static void
test_san_names(void **state)
{
	gnutls_x509_crt_t crt = load_crt(CFG_DIR "/dummy-cert.pem");
	struct seen s = {.n = 0};

	(void)state;
	assert_int_equal(cert_names(crt, CERT_NAMES_CN_FALLBACK, record, &s), 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "mta-sts.example.com");
	assert_string_equal(s.names[1], "mta-sts.xn--bcher-kva.example");
	assert_int_equal(s.from_cn[0], 0);
	assert_int_equal(s.from_cn[1], 0);
	/* the same without the fallback flag, and counted without a callback */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cert_names(crt, 0, record, &s), 2);
	assert_int_equal(cert_names(crt, 0, NULL, NULL), 2);
	gnutls_x509_crt_deinit(crt);
}

/* A callback that returns non-zero stops the walk; that name counts. */
static void
test_stop(void **state)
{
	gnutls_x509_crt_t crt = load_crt(CFG_DIR "/dummy-cert.pem");
	struct seen s = {.stop_after = 1};

	(void)state;
	assert_int_equal(cert_names(crt, 0, record, &s), 1);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "mta-sts.example.com");
	gnutls_x509_crt_deinit(crt);
}

/* No subjectAltName: nothing, unless the caller asks for the CN (kept as written). */
static void
test_cn_fallback(void **state)
{
	gnutls_x509_crt_t crt = load_crt(CFG_DIR "/dummy-cn-only.pem");
	struct seen s = {.n = 0};

	(void)state;
	assert_int_equal(cert_names(crt, 0, record, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(cert_names(crt, CERT_NAMES_CN_FALLBACK, record, &s), 1);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "MTA-STS.example.org");
	assert_int_equal(s.from_cn[0], 1);
	assert_int_equal(cert_names(crt, CERT_NAMES_CN_FALLBACK, NULL, NULL), 1);
	gnutls_x509_crt_deinit(crt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_san_names),
	        cmocka_unit_test(test_stop),
	        cmocka_unit_test(test_cn_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
