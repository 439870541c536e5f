/*
 * common/cfg_value.c - the config loader's single values: strings, integers, durations,
 *                      paths, and the checks of string values the key tables name
 *
 * Interface: cfg_parse_string(), cfg_parse_uint(), cfg_parse_duration(), cfg_parse_path(),
 *            cfg_parse_port(), cfg_check_*() (cfg_int.h)
 * Design:    one function per value type, each with its range check (Postfix
 *            mail_conf_int.c, mail_conf_time.c, ...). Durations are integers (seconds) or
 *            strings with a unit ("500ms", "30s", "5m", "2h", "7d"), kept in milliseconds.
 * Threads:   any; no global state.
 * Errors:    0, or -1 with "file:line: key: reason" in ctx->errbuf (cfg_error()).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg_int.h"
#include "mtasts_limits.h"
#include "xalloc.h"

/* Bounds of our own (no RFC behind them). */
#define CFG_ZONE_NAME_MAX   64
#define CFG_DURATION_MAX_MS (3660ULL * 86400 * 1000) /* overflow guard: 10 years */

/* ---- scalars ---- */

int
cfg_parse_string(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char **ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_type_error(ctx, s, key, "a string");
	*ret = config_setting_get_string(s);
	return 0;
}

/* "90s" style text for a duration in ms, exact: the largest unit that divides it. */
static void
cfg_fmt_duration(char *out, size_t outlen, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{DAY(1), "d"}, {HOUR(1), "h"}, {MIN(1), "m"}, {SEC(1), "s"}};
	size_t i;

	for (i = 0; ms > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			(void)snprintf(out, outlen, "%llu%s",
			               (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	(void)snprintf(out, outlen, "%llums", (unsigned long long)ms);
}

/* A limit as the key's unit shows it: whole seconds for CFG_K_SEC32 (max_age 31557600s). */
static void
cfg_fmt_limit(char *out, size_t outlen, const struct cfg_key *k, uint64_t ms)
{
	if (k->kind == CFG_K_SEC32)
		(void)snprintf(out, outlen, "%llus", (unsigned long long)(ms / 1000));
	else
		cfg_fmt_duration(out, outlen, ms);
}

/* p (what follows the number) is a unit followed by more digits: "h30m" of "1h30m". */
static int
cfg_duration_combined(const char *p)
{
	size_t n = 0;

	while (p[n] >= 'a' && p[n] <= 'z')
		n++;
	return n > 0 && n <= 2 && p[n] >= '0' && p[n] <= '9';
}

/* Duration text -> ms. Returns 0, or -1 with why set. */
static int
cfg_duration_from_text(const char *v, uint64_t *ret_ms, const char **why)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1},      {"s", SEC(1)}, {"m", MIN(1)},
	             {"h", HOUR(1)}, {"d", DAY(1)}, {"", SEC(1)}};
	unsigned long long n;
	const char *p = v;
	size_t i;

	if (*p < '0' || *p > '9') {
		*why = "expected a number followed by ms, s, m, h or d";
		return -1;
	}
	n = 0;
	while (*p >= '0' && *p <= '9') {
		if (n > CFG_DURATION_MAX_MS) {
			*why = "too large";
			return -1;
		}
		n = n * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) == 0) {
			if (n > CFG_DURATION_MAX_MS / units[i].ms) {
				*why = "too large";
				return -1;
			}
			*ret_ms = n * units[i].ms;
			return 0;
		}
	}
	if (*p == '.' || *p == ',')
		*why = "no fractions: write a whole number of a smaller unit (\"1500ms\", not "
		       "\"1.5s\")";
	else if (*p == ' ' || *p == '\t')
		*why = "no space between the number and the unit (\"10m\", not \"10 m\")";
	else if (cfg_duration_combined(p))
		*why = "one unit only: write the whole in the smaller unit (\"90m\", not "
		       "\"1h30m\")";
	else
		*why = "unknown unit (use ms, s, m, h or d)";
	return -1;
}

int
cfg_parse_duration(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                   const struct cfg_key *k, uint64_t *ret_ms)
{
	char a[64], b[32];
	const char *why = NULL;
	long long iv;
	uint64_t ms;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		iv = config_setting_get_int64(s);
		if (iv < 0) {
			cfg_fmt_limit(b, sizeof(b), k, k->min);
			return cfg_error(ctx, s, key, "value %lld below minimum %s", iv, b);
		}
		if ((unsigned long long)iv > CFG_DURATION_MAX_MS / 1000) {
			cfg_fmt_limit(b, sizeof(b), k, k->max);
			return cfg_error(ctx, s, key, "value %lld above maximum %s", iv, b);
		}
		ms = (uint64_t)iv * 1000;
		break;
	case CONFIG_TYPE_STRING:
		if (cfg_duration_from_text(config_setting_get_string(s), &ms, &why) < 0)
			return cfg_error(ctx, s, key, "bad duration '%s': %s",
			                 config_setting_get_string(s), why);
		break;
	default:
		return cfg_type_error(ctx, s, key,
		                      "a duration (integer seconds or a string such as \"30s\")");
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		(void)snprintf(a, sizeof(a), "%s", config_setting_get_string(s));
	else
		(void)snprintf(a, sizeof(a), "%lld", (long long)config_setting_get_int64(s));
	if (ms < k->min) {
		cfg_fmt_limit(b, sizeof(b), k, k->min);
		return cfg_error(ctx, s, key, "value %s below minimum %s", a, b);
	}
	if (ms > k->max) {
		cfg_fmt_limit(b, sizeof(b), k, k->max);
		return cfg_error(ctx, s, key, "value %s above maximum %s", a, b);
	}
	if (k->kind == CFG_K_SEC32 && ms % 1000 != 0) {
		return cfg_error(ctx, s, key, "value %s is not a whole number of seconds", a);
	}
	*ret_ms = ms;
	return 0;
}

int
cfg_parse_uint(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
               const struct cfg_key *k, uint64_t *ret)
{
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return cfg_type_error(ctx, s, key, "an integer");
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < k->min)
		return cfg_error(ctx, s, key, "value %lld below minimum %llu", v,
		                 (unsigned long long)k->min);
	if ((uint64_t)v > k->max)
		return cfg_error(ctx, s, key, "value %lld above maximum %llu", v,
		                 (unsigned long long)k->max);
	*ret = (uint64_t)v;
	return 0;
}

/* A path; relative paths are taken from the config file's directory. */
int
cfg_parse_path(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
               const struct cfg_key *k, char **ret)
{
	struct stat st;
	const char *v = "";
	char *p;

	if (cfg_parse_string(ctx, s, key, &v) < 0)
		return -1;
	if (v[0] == '\0') {
		*ret = NULL;
		return 0;
	}
	if ((k->flags & CFG_F_ACME) && strcmp(v, CFG_CERT_ACME) == 0) {
		*ret = xstrdup(CFG_CERT_ACME);
		return 0;
	}
	if (v[0] != '/' && ctx->dir != NULL)
		p = xasprintf("%s/%s", ctx->dir, v);
	else
		p = xstrdup(v);
	if ((k->flags & CFG_F_READABLE) && access(p, R_OK) < 0) {
		cfg_error(ctx, s, key, "cannot read '%s': %s", p, strerror(errno));
		free(p);
		return -1;
	}
	if ((k->flags & CFG_F_READABLE) && (stat(p, &st) < 0 || !S_ISREG(st.st_mode))) {
		cfg_error(ctx, s, key, "'%s' is not a regular file", p);
		free(p);
		return -1;
	}
	if ((k->flags & CFG_F_DIR) && (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
		cfg_error(ctx, s, key, "'%s' is not a directory", p);
		free(p);
		return -1;
	}
	*ret = p;
	return 0;
}

/* Parse a decimal port 1..65535 from s (whole string). */
int
cfg_parse_port(const char *s, uint16_t *ret_port)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*ret_port = (uint16_t)v;
	return 0;
}

/* ---- string checks ---- */

int
cfg_check_name(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return cfg_error(ctx, s, key, "bad user or group name '%s'", v);
	}
	if (p - v > 64)
		return cfg_error(ctx, s, key, "name longer than 64 characters");
	return 0;
}

int
cfg_check_zone_name(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p;

	if (v[0] == '\0')
		return cfg_error(ctx, s, key, "zone name must not be empty");
	for (p = v; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return cfg_error(ctx, s, key,
			                 "bad zone name '%s': use letters, digits, '_' and '-'", v);
	}
	if (p - v > CFG_ZONE_NAME_MAX)
		return cfg_error(ctx, s, key, "zone name longer than %d characters",
		                 CFG_ZONE_NAME_MAX);
	return 0;
}

int
cfg_check_id(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	size_t i, n = strlen(v);

	if (n < 1 || n > STS_ID_MAX)
		return cfg_error(ctx, s, key, "policy id must be 1 to %d letters or digits",
		                 STS_ID_MAX);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)v[i]))
			return cfg_error(ctx, s, key,
			                 "bad policy id '%s': only letters and digits (RFC 8461 "
			                 "section 3.1)",
			                 v);
	}
	return 0;
}

int
cfg_max_age_from_text(const char *v, uint32_t *ret_s, const char **why)
{
	uint64_t ms;

	if (cfg_duration_from_text(v, &ms, why) < 0)
		return -1;
	if (ms % 1000 != 0) {
		*why = "a max_age is whole seconds";
		return -1;
	}
	if (ms < SEC(60) || ms > SEC(STS_MAX_AGE_MAX)) {
		*why = "a max_age is 60s..31557600s (RFC 8461 section 3.2)";
		return -1;
	}
	*ret_s = (uint32_t)(ms / 1000);
	return 0;
}

int
cfg_check_max_age(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *why = NULL;
	uint32_t sec;

	if (cfg_max_age_from_text(v, &sec, &why) < 0)
		return cfg_error(ctx, s, key, "bad max_age '%s': %s", v, why);
	return 0;
}

/* RFC 8460 section 3: rua = "mailto:..." or "https:...", comma separated. */
int
cfg_check_rua(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p = v;

	if (v[0] == '\0')
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		size_t i;

		if (!((len > 7 && strncmp(p, "mailto:", 7) == 0) ||
		      (len > 8 && strncmp(p, "https://", 8) == 0)))
			return cfg_error(ctx, s, key,
			                 "bad TLSRPT rua '%s': each URI must start with "
			                 "\"mailto:\" or \"https://\"",
			                 v);
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c <= 0x20 || c >= 0x7f || c == ';' || c == '"')
				return cfg_error(
				        ctx, s, key,
				        "bad TLSRPT rua '%s': space, ';' or '\"' not allowed", v);
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* "127.0.0.1", "127.0.0.1@5353", "::1", "[::1]:53", "192.0.2.1:53" */
int
cfg_check_dns_server(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char host[INET6_ADDRSTRLEN + 1];
	const char *sep, *portstr = NULL;
	size_t hlen;
	uint16_t port;

	if (inet_pton(AF_INET6, v, addr) == 1 || inet_pton(AF_INET, v, addr) == 1)
		return 0;
	if (v[0] == '[') {
		sep = strchr(v, ']');
		if (sep == NULL || (sep[1] != ':' && sep[1] != '@'))
			goto bad;
		hlen = (size_t)(sep - v - 1);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
		portstr = sep + 2;
	} else {
		sep = strchr(v, '@');
		if (sep == NULL)
			sep = strrchr(v, ':');
		if (sep == NULL)
			goto bad;
		hlen = (size_t)(sep - v);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, addr) != 1 &&
		    !(sep[0] == '@' && inet_pton(AF_INET6, host, addr) == 1))
			goto bad;
		portstr = sep + 1;
	}
	if (cfg_parse_port(portstr, &port) < 0)
		goto bad;
	return 0;
bad:
	return cfg_error(ctx, s, key,
	                 "bad DNS server '%s': expected an IP address, \"IP@port\" or "
	                 "\"[IPv6]:port\"",
	                 v);
}

/* "host:port" or "[v6]:port" with a host name or address. */
int
cfg_check_hostport(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *colon;
	uint16_t port;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb == v + 1 || rb[1] != ':')
			goto bad;
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL || colon == v || memchr(v, ':', (size_t)(colon - v)) != NULL)
			goto bad;
	}
	if (cfg_parse_port(colon + 1, &port) < 0)
		goto bad;
	return 0;
bad:
	return cfg_error(ctx, s, key, "bad address '%s': expected \"host:port\" or \"[IPv6]:port\"",
	                 v);
}

/* An admin.allowed_hosts entry, a name the admin endpoint answers to besides localhost:
 * "admin.example.net", "192.0.2.7", "2001:db8::7" or "[2001:db8::7]". Compared with the Host
 * header without case, port and trailing dot (daemon/admin_route.c). */
int
cfg_check_admin_host(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char buf[INET6_ADDRSTRLEN + 1];
	size_t i, n = strlen(v);

	if (n >= 2 && v[0] == '[' && v[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, v + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, addr) == 1)
			return 0;
		goto bad;
	}
	if (inet_pton(AF_INET6, v, addr) == 1 || inet_pton(AF_INET, v, addr) == 1)
		return 0;
	if (n > 1 && v[n - 1] == '.')
		n--;
	if (n == 0 || n > DOMAIN_NAME_MAX || v[0] == '.')
		goto bad;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '.' && v[i] != '_')
			goto bad;
	return 0;
bad:
	return cfg_error(ctx, s, key,
	                 "bad host '%s': expected a host name or an IP address, without a port", v);
}

int
cfg_check_redis_prefix(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                       const char *v)
{
	if (strlen(v) > CACHE_REDIS_PREFIX_MAX)
		return cfg_error(ctx, s, key,
		                 "longer than %d bytes (it starts every Valkey/Redis key)",
		                 CACHE_REDIS_PREFIX_MAX);
	return 0;
}

int
cfg_check_redis_address(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                        const char *v)
{
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/')
			return cfg_error(ctx, s, key, "unix socket path must be absolute");
		return 0;
	}
	return cfg_check_hostport(ctx, s, key, v);
}

/* publisher.tls_priority: a string GnuTLS accepts (as the publisher loads it) whose TLS
 * versions are 1.2 and 1.3 only. RFC 8461 section 7.2: senders require TLS 1.2 or later, so
 * a priority without them serves no sender, and SSL 3.0, TLS 1.0 and 1.1 are refused
 * rather than warned about (common/ does not log; docs/config.md). DTLS versions in the
 * list are ignored: the publisher speaks TLS over TCP only. */
int
cfg_check_priority(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	char old[64] = "", fix[96] = "";
	size_t old_len = 0, fix_len = 0;
	gnutls_priority_t prio;
	const char *errpos = NULL;
	const unsigned *list = NULL;
	int r, n, i, modern = 0;

	r = gnutls_priority_init(&prio, v, &errpos);
	if (r < 0)
		return cfg_error(ctx, s, key, "bad GnuTLS priority string at '%s': %s",
		                 errpos != NULL ? errpos : v, gnutls_strerror(r));
	n = gnutls_priority_protocol_list(prio, &list);
	if (n < 0) {
		gnutls_priority_deinit(prio);
		return cfg_error(ctx, s, key, "GnuTLS priority string '%s': no TLS versions: %s", v,
		                 gnutls_strerror(n));
	}
	for (i = 0; i < n; i++) {
		const char *name = gnutls_protocol_get_name((gnutls_protocol_t)list[i]);

		switch (list[i]) {
		case GNUTLS_TLS1_2:
		case GNUTLS_TLS1_3:
			modern++;
			break;
		case GNUTLS_SSL3:
		case GNUTLS_TLS1_0:
		case GNUTLS_TLS1_1:
			old_len += (size_t)snprintf(old + old_len, sizeof(old) - old_len, "%s%s",
			                            old_len > 0 ? ", " : "",
			                            name != NULL ? name : "?");
			fix_len += (size_t)snprintf(fix + fix_len, sizeof(fix) - fix_len,
			                            ":-VERS-%s", name != NULL ? name : "?");
			break;
		default:
			break; /* DTLS: not used over TCP */
		}
		if (old_len >= sizeof(old) || fix_len >= sizeof(fix))
			break;
	}
	gnutls_priority_deinit(prio);
	if (modern == 0)
		return cfg_error(
		        ctx, s, key,
		        "'%s' enables neither TLS 1.2 nor TLS 1.3: senders require TLS 1.2 "
		        "or later (RFC 8461 section 7.2)",
		        v);
	if (old_len > 0)
		return cfg_error(ctx, s, key,
		                 "'%s' also enables %s: the publisher allows TLS 1.2 and 1.3 only "
		                 "(RFC 8461 section 7.2); append \"%s\"",
		                 v, old, fix);
	return 0;
}
