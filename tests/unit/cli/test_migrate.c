/*
 * tests/unit/cli/test_migrate.c - cli/migrate.c: postfix-mta-sts-resolver YAML and policy
 *                                 files -> mtastsd.conf
 *
 * Covers: YAML 1.1 scalars as PyYAML reads them (on/off, 0x and octal numbers, '_'
 *         separators, quoted strings are not booleans), the Redis URL forms (redis:// with
 *         user, password, [IPv6] and a db in path and query, aioredis 1.x [host, port],
 *         rediss:// falls back to memory), redis_sentinel, the default zone's name when
 *         zones already use "postfix" and "default", an empty file, a file that is not a
 *         mapping, a file over MIGRATE_YAML_MAX; migrate_publisher(): canonical entry,
 *         extension fields and IP mx reported, max_age under 60 s, the policy host given as
 *         DOMAIN, a policy the parser refuses (its line and reason).
 *         The system test t_migrate.sh runs the outputs against the real daemons.
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
#include "migrate.h"
#include "mtasts_limits.h"

static char tmp_path[64];

/* Write text (len bytes) to a new temporary file; returns its path (static). */
static const char *
tmp_file(const char *text, size_t len)
{
	int fd;

	(void)snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_migrate.XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	(void)close(fd);
	return tmp_path;
}

/* migrate_resolver() on yaml; returns the output (0) or NULL with err filled. */
static struct migrate_out *
resolver(const char *yaml, char *err, size_t errlen)
{
	struct migrate_out *o = NULL;
	const char *p = tmp_file(yaml, strlen(yaml));
	int r = migrate_resolver(p, &o, err, errlen);

	(void)unlink(p);
	if (r != 0) {
		assert_int_equal(r, ERR_CONFIG);
		return NULL;
	}
	return o;
}

static int
has_warning(const struct migrate_out *o, const char *needle)
{
	size_t i;

	for (i = 0; i < o->n_warnings; i++)
		if (strstr(o->warnings[i], needle) != NULL)
			return 1;
	return 0;
}

static void
test_scalars(void **state)
{
	char err[512];
	struct migrate_out *o;

	(void)state;
	o = resolver("path: /run/x.sock\nmode: 438\nshutdown_timeout: 1_0\n"
	             "default_zone:\n  strict_testing: On\n  require_sni: \"false\"\n"
	             "  timeout: 0x5\nzones:\n  z1:\n    tlsrpt: yes\n    timeout: 010\n",
	             err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "path = \"/run/x.sock\"; mode = \"0666\";"));
	assert_non_null(strstr(o->text, "shutdown_timeout = \"10s\";"));
	assert_non_null(strstr(o->text, "{ name = \"postfix\"; strict_testing = true; timeout = "
	                                "\"5s\"; require_sni = true;"));
	/* 010 is octal 8 in YAML 1.1 */
	assert_non_null(strstr(o->text, "{ name = \"z1\"; strict_testing = false; timeout = "
	                                "\"8s\"; require_sni = true; tlsrpt = true;"));
	assert_true(has_warning(o, "default_zone.require_sni is not a boolean"));
	(void)migrate_out_free(o);
}

static void
test_redis_forms(void **state)
{
	char err[512];
	struct migrate_out *o;

	(void)state;
	o = resolver("cache:\n  type: redis\n  options:\n"
	             "    url: \"redis://us%3Aer:p%40ss@[::1]:6380/4?db=5\"\n    db: 9\n"
	             "    socket_connect_timeout: 0.25\n",
	             err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "address = \"[::1]:6380\";\n\t\tdb = 5;\n"
	                                "\t\tusername = \"us:er\";\n\t\tpassword = \"p@ss\";\n"
	                                "\t\tconnect_timeout = \"250ms\";"));
	assert_true(has_warning(o, "the URL says db 5, the db option 9: the URL wins"));
	(void)migrate_out_free(o);

	o = resolver("cache:\n  type: redis\n  options:\n    address: [\"10.0.0.1\", 6380]\n"
	             "    db: 2\n    password: \"a\\\"b\"\n",
	             err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "address = \"10.0.0.1:6380\";\n\t\tdb = 2;\n"
	                                "\t\tpassword = \"a\\\"b\";"));
	(void)migrate_out_free(o);

	o = resolver("cache:\n  type: redis\n  options:\n    url: \"rediss://h:6379/1\"\n", err,
	             sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "backend = \"memory\";"));
	assert_null(strstr(o->text, "redis = {"));
	assert_true(has_warning(o, "Redis over TLS cannot be carried over"));
	(void)migrate_out_free(o);

	o = resolver("cache:\n  type: redis_sentinel\n  options:\n"
	             "    sentinel_master_name: m1\n    sentinels:\n      - [\"s1\", 26379]\n"
	             "      - [\"::1\", 26380]\n",
	             err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "sentinels = [ \"s1:26379\", \"[::1]:26380\" ];\n"
	                                "\t\tmaster_name = \"m1\";"));
	(void)migrate_out_free(o);
}

static void
test_default_zone_name(void **state)
{
	char err[512];
	struct migrate_out *o;

	(void)state;
	o = resolver("zones:\n  postfix: {}\n  default: {}\n", err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "default_zone = \"default_zone\";"));
	(void)migrate_out_free(o);
}

static void
test_file_shapes(void **state)
{
	char err[512];
	struct migrate_out *o = NULL;
	char *big;
	const char *p;

	(void)state;
	o = resolver("", err, sizeof(err));
	assert_non_null(o);
	assert_non_null(strstr(o->text, "listen = ( \"127.0.0.1:8461\" );"));
	(void)migrate_out_free(o);

	assert_null(resolver("- a\n- b\n", err, sizeof(err)));
	assert_non_null(strstr(err, ":1: the file is not a YAML mapping"));

	assert_null(resolver("port: 70000\n", err, sizeof(err)));
	assert_non_null(strstr(err, ":1: port 70000 is outside 1..65535"));

	assert_null(resolver("path: run/x.sock\n", err, sizeof(err)));
	assert_non_null(strstr(err, "mtastsd needs an absolute unix socket path"));

	big = malloc(MIGRATE_YAML_MAX + 2);
	assert_non_null(big);
	memset(big, '#', MIGRATE_YAML_MAX + 1);
	p = tmp_file(big, MIGRATE_YAML_MAX + 1);
	assert_int_equal(migrate_resolver(p, &o, err, sizeof(err)), ERR_CONFIG);
	assert_non_null(strstr(err, ": cannot read: too large"));
	(void)unlink(p);
	free(big);
}

static void
test_publisher(void **state)
{
	static const char pol[] = "version: STSv1\nmode: enforce\nmx: b.example\nmx: A.Example\n"
	                          "mx: 192.0.2.1\nmx: b.example\nfoo: bar\nmax_age: 86400\n";
	struct migrate_out *o = NULL;
	char err[512], path[64];
	const char *p;

	(void)state;
	p = tmp_file(pol, sizeof(pol) - 1);
	(void)snprintf(path, sizeof(path), "%s", p);
	assert_int_equal(migrate_publisher("Example.COM.", path, NULL, NULL, &o, err, sizeof(err)),
	                 0);
	assert_non_null(strstr(o->text, "domain = \"example.com\";\n\t\t\tmode = \"enforce\";\n"
	                                "\t\t\tmax_age = 86400;\n"
	                                "\t\t\tmx = [ \"b.example\", \"a.example\" ];\n"
	                                "\t\t\tcert = \"/etc/letsencrypt/live/mta-sts.example.com/"
	                                "fullchain.pem\";"));
	assert_non_null(strstr(o->text, "#   _mta-sts.example.com. 3600 IN TXT \"v=STSv1; id="));
	assert_true(has_warning(o, "extension field 'foo' is not published"));
	assert_true(has_warning(o, "1 mx line(s) with an IP address dropped"));
	o = migrate_out_free(o);

	assert_true(migrate_publisher("mta-sts.example.com", path, NULL, NULL, &o, err,
	                              sizeof(err)) < 0);
	assert_non_null(strstr(err, "is the policy host: give the Policy Domain ('example.com')"));
	(void)unlink(path);

	p = tmp_file("version: STSv1\nmode: none\nmax_age: 30\n", 38);
	(void)snprintf(path, sizeof(path), "%s", p);
	assert_int_equal(migrate_publisher("example.com", path, NULL, NULL, &o, err, sizeof(err)),
	                 ERR_CONFIG);
	assert_non_null(strstr(err, "max_age 30 is below 60 seconds"));
	(void)unlink(path);

	p = tmp_file("version: STSv1\nmode: strict\nmax_age: 300\n", 41);
	(void)snprintf(path, sizeof(path), "%s", p);
	assert_true(migrate_publisher("example.com", path, NULL, NULL, &o, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, ":2: "));
	(void)unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scalars),           cmocka_unit_test(test_redis_forms),
	        cmocka_unit_test(test_default_zone_name), cmocka_unit_test(test_file_shapes),
	        cmocka_unit_test(test_publisher),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
