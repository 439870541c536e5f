/*
 * tests/unit/publisher/test_pub_check.c - pub_check_certs(): the certificate check of a
 * loaded configuration (mtastsd -n, start, commands, reload)
 *
 * Data: tests/unit/data/cfg/bad-{key-mismatch,cert-same-file,key-empty,cert-names}.conf
 *       (cfg_load() accepts them; the check refuses each naming exactly file:line: key),
 *       good-full.conf and a combined PEM file (accepted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "pub.h"

#define CFG_DIR TEST_DATA_DIR "/cfg"

struct bad_case {
	const char *file;
	unsigned line;
	const char *key;
	const char *reason; /* a substring of the reason */
};

/* What the daemon would refuse at startup, -n refuses too. */
static const struct bad_case bad_cases[] = {
        {"bad-key-mismatch.conf", 9, "publisher.domains[0].key",
         "private key does not match certificate " CFG_DIR "/dummy-cert.pem"},
        {"bad-cert-same-file.conf", 9, "publisher.domains[0].key",
         "'" CFG_DIR "/dummy-cert.pem' is the certificate file (cert) and holds no private key"},
        {"bad-key-empty.conf", 9, "publisher.domains[0].key",
         "key file '" CFG_DIR "/empty-key.pem' is empty or not PEM"},
        {"bad-cert-names.conf", 8, "publisher.domains[0].cert",
         "certificate " CFG_DIR "/dummy-cert.pem does not name mta-sts.example.net (it names "
         "mta-sts.example.com, mta-sts.xn--bcher-kva.example)"},
};

static struct cfg *
load_ok(const char *path)
{
	struct cfg *c = NULL;
	char err[1024] = "";

	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("cfg_load(%s) failed: %s", path, err);
	assert_non_null(c);
	return c;
}

static void
test_bad_certs(void **state)
{
	char path[512], want[1024], err[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct cfg *c;

		(void)snprintf(path, sizeof(path), "%s/%s", CFG_DIR, b->file);
		c = load_ok(path);
		err[0] = '\0';
		if (pub_check_certs(c, err, sizeof(err)) != ERR_CONFIG)
			fail_msg("%s: pub_check_certs() did not return ERR_CONFIG", b->file);
		(void)snprintf(want, sizeof(want), "%s:%u: %s: ", path, b->line, b->key);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("%s: message '%s' does not start with '%s'", b->file, err, want);
		if (strstr(err + strlen(want), b->reason) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", b->file, err, b->reason);
		cfg_free(c);
	}
}

/* good-full.conf's certificate names its domain; a combined PEM file (certificate chain
 * and key) may be both cert and key; no domains, nothing to check. */
static void
test_good_certs(void **state)
{
	static const char text[] =
	        "publisher = { domains = ( { domain = \"example.com\"; mode = \"none\"; cert = "
	        "\"" CFG_DIR "/dummy-combined.pem\"; key = \"" CFG_DIR
	        "/dummy-combined.pem\"; } ); };\n";
	char path[] = "/tmp/test_pub_check.XXXXXX", err[1024] = "";
	struct cfg *c;
	FILE *f;
	int fd;

	(void)state;
	c = load_ok(CFG_DIR "/good-full.conf");
	assert_true(c->publisher.n_domains > 0);
	assert_int_equal(pub_check_certs(c, err, sizeof(err)), 0);
	cfg_free(c);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	c = load_ok(path);
	(void)unlink(path);
	assert_int_equal(pub_check_certs(c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	cfg_free(c);

	c = cfg_defaults();
	assert_int_equal(pub_check_certs(c, err, sizeof(err)), 0);
	cfg_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bad_certs),
	        cmocka_unit_test(test_good_certs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
