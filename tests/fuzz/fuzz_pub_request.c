/*
 * tests/fuzz/fuzz_pub_request.c - libFuzzer target for the publisher's request inputs
 *
 * Input:      "<Host header>\n<request target>" (no LF: both are the whole input); NUL
 *             bytes end the C strings early, as they do in libmicrohttpd.
 * Covered:    pub_http_host_name() (Host -> name, ":port" and one trailing dot removed),
 *             pub_snap_find_host() on a two-domain snapshot, pub_http_unescape() (the
 *             MHD_OPTION_UNESCAPE_CALLBACK for the path and arguments).
 * Not covered: the method/path routing inside pub_http_policy_access(), which needs a live
 *             struct MHD_Connection (no pure function for it yet; see docs/fuzzing.md).
 * Invariants: a host name is a prefix of the header, 1..253 bytes, no leading dot, of
 *             LDH/underscore characters (or a bracketed IPv6 literal); a found domain's
 *             host equals that name case-insensitively; unescaping never grows the string,
 *             never yields an embedded NUL (%00 stays literal), and leaves a string
 *             without '%' unchanged.
 */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "pub_int.h"

static void
check_host(const char *host)
{
	static struct pub_dom doms[2] = {
	        {.domain = "example.com", .host = "mta-sts.example.com"},
	        {.domain = "xn--bcher-kva.example", .host = "mta-sts.xn--bcher-kva.example"},
	};
	static struct pub_snap snap = {.doms = doms, .n_doms = 2};
	const struct pub_dom *d;
	const char *name = NULL;
	size_t len, i;

	len = pub_http_host_name(host, &name);
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
	out_len = pub_http_unescape(NULL, NULL, s);
	FUZZ_CHECK(out_len <= in_len);
	FUZZ_CHECK(strlen(s) == out_len);
	if (strchr(target, '%') == NULL)
		FUZZ_CHECK(out_len == in_len && strcmp(s, target) == 0);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t hlen = lf != NULL ? (size_t)(lf - data) : size;
	const uint8_t *t = lf != NULL ? lf + 1 : data;
	size_t tlen = lf != NULL ? size - hlen - 1 : size;
	char *host = malloc(hlen + 1), *target = malloc(tlen + 1);

	FUZZ_CHECK(host != NULL && target != NULL);
	if (hlen > 0)
		memcpy(host, data, hlen);
	host[hlen] = '\0';
	if (tlen > 0)
		memcpy(target, t, tlen);
	target[tlen] = '\0';
	check_host(host);
	check_unescape(target);
	free(host);
	free(target);
	return 0;
}
