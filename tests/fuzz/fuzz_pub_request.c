/*
 * tests/fuzz/fuzz_pub_request.c - libFuzzer target for the publisher's request inputs
 *
 * Input:      "<Host header>\n<request target>[\n<method>]" (no LF: both are the whole
 *             input; no second LF: method GET); NUL bytes end the C strings early, as they
 *             do in libmicrohttpd.
 * Covered:    pub_http_host_name() (Host -> name; trailing SP/HTAB, ":port" and one
 *             trailing dot removed),
 *             pub_snap_find_host() on a two-domain snapshot, httpd_unescape() (the
 *             MHD_OPTION_UNESCAPE_CALLBACK for the path and arguments), and
 *             pub_http_route() on the unescaped path (what pub_http_policy_access() answers
 *             once the request is in).
 * Invariants: a host name is a prefix of the header, 1..253 bytes, no leading dot, of
 *             LDH/underscore characters (or a bracketed IPv6 literal); a found domain's
 *             host equals that name case-insensitively; trailing SP/HTAB (OWS, RFC 9110
 *             section 5.5) changes neither the name nor the route, and a value that starts
 *             with SP/HTAB has no name (libmicrohttpd strips the leading OWS before we see
 *             it); unescaping never grows the string,
 *             never yields an embedded NUL (%00 stays literal), and leaves a string
 *             without '%' unchanged; the route is 200, 404 or 405; 200 only for GET or HEAD
 *             of exactly /.well-known/mta-sts.txt on a published host, with that domain;
 *             405 only for another method on a published host; a published host with GET
 *             and the policy path is always 200.
 */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "mtasts_limits.h"
#include "httpd.h"
#include "pub_route.h"

static struct pub_dom doms[2] = {
        {.domain = "example.com", .host = "mta-sts.example.com"},
        {.domain = "xn--bcher-kva.example", .host = "mta-sts.xn--bcher-kva.example"},
};
static struct pub_snap snap = {.doms = doms, .n_doms = 2};

/* host with trailing OWS appended (owned) */
static char *
with_ows(const char *host)
{
	static const char ows[] = " \t ";
	size_t n = strlen(host);
	char *s = malloc(n + sizeof(ows));

	FUZZ_CHECK(s != NULL);
	memcpy(s, host, n);
	memcpy(s + n, ows, sizeof(ows));
	return s;
}

static void
check_host(const char *host)
{
	const struct pub_dom *d;
	const char *name = NULL, *name2 = NULL;
	char *host2 = with_ows(host);
	size_t len, len2, i;

	len = pub_http_host_name(host, &name);
	len2 = pub_http_host_name(host2, &name2);
	FUZZ_CHECK(len2 == len);
	FUZZ_CHECK(len == 0 || name2 == host2);
	free(host2);
	if (host[0] == ' ' || host[0] == '\t')
		FUZZ_CHECK(len == 0);
	if (len == 0)
		return;
	FUZZ_CHECK(name == host);
	FUZZ_CHECK(len <= DOMAIN_NAME_MAX && len <= strlen(host));
	FUZZ_CHECK(name[0] != '.');
	if (name[0] != '[') {
		for (i = 0; i < len; i++) {
			char c = name[i];

			FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_');
		}
	}
	d = pub_snap_find_host(&snap, name, len);
	if (d != NULL)
		FUZZ_CHECK(strlen(d->host) == len && strncasecmp(d->host, name, len) == 0);
}

static void
check_unescape(const char *target)
{
	size_t in_len = strlen(target), out_len;
	char *s = strdup(target);

	FUZZ_CHECK(s != NULL);
	out_len = httpd_unescape(NULL, NULL, s);
	FUZZ_CHECK(out_len <= in_len);
	FUZZ_CHECK(strlen(s) == out_len);
	if (strchr(target, '%') == NULL)
		FUZZ_CHECK(out_len == in_len && strcmp(s, target) == 0);
	free(s);
}

static void
check_route(const char *host, const char *path, const char *method)
{
	const struct pub_dom *d = NULL, *found = NULL;
	const char *name = NULL;
	size_t len = pub_http_host_name(host, &name);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int policy_path = strcmp(path, "/.well-known/mta-sts.txt") == 0;
	char *host2;
	unsigned st;

	if (len > 0)
		found = pub_snap_find_host(&snap, name, len);
	st = pub_http_route(&snap, host, method, path, &d);
	FUZZ_CHECK(st == 200 || st == 404 || st == 405);
	FUZZ_CHECK((st == 200) == (found != NULL && get && policy_path));
	FUZZ_CHECK((st == 405) == (found != NULL && !get));
	FUZZ_CHECK(st == 200 ? d == found : d == NULL);
	host2 = with_ows(host);
	FUZZ_CHECK(pub_http_route(&snap, host2, method, path, &d) == st);
	FUZZ_CHECK(st == 200 ? d == found : d == NULL);
	free(host2);
	FUZZ_CHECK(pub_http_route(&snap, NULL, method, path, &d) == 404 && d == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t hlen = lf != NULL ? (size_t)(lf - data) : size;
	const uint8_t *t = lf != NULL ? lf + 1 : data;
	size_t rest = lf != NULL ? size - hlen - 1 : size;
	const uint8_t *lf2 = memchr(t, '\n', rest);
	size_t tlen = lf2 != NULL ? (size_t)(lf2 - t) : rest;
	size_t mlen = lf2 != NULL ? rest - tlen - 1 : 3;
	char *host = malloc(hlen + 1), *target = malloc(tlen + 1), *method = malloc(mlen + 1);

	FUZZ_CHECK(host != NULL && target != NULL && method != NULL);
	if (hlen > 0)
		memcpy(host, data, hlen);
	host[hlen] = '\0';
	if (tlen > 0)
		memcpy(target, t, tlen);
	target[tlen] = '\0';
	if (lf2 != NULL && mlen > 0)
		memcpy(method, lf2 + 1, mlen);
	else if (lf2 == NULL)
		memcpy(method, "GET", 3);
	method[mlen] = '\0';
	check_host(host);
	check_unescape(target);
	/* libmicrohttpd hands the handler the unescaped path */
	(void)httpd_unescape(NULL, NULL, target);
	check_route(host, target, method);
	free(host);
	free(target);
	free(method);
	return 0;
}
