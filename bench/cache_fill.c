/*
 * bench/cache_fill.c - RSS of the in-memory policy cache holding N policies (issue 8 target:
 * 100 000 cached policies under 64 MiB)
 *
 * Usage: cache_fill [-n N] [-m MX]
 *   Parses N realistic policies (sts_policy_parse: mode enforce, MX patterns per policy,
 *   default 2: "mail.d<i>.example.net" and "*.mx.d<i>.example.net", max_age 604800) and
 *   stores them in a cache_mem bounded at N, as the resolver does after a fetch, with a
 *   32-character TXT id. Prints VmRSS before and after, the heap in use (mallinfo2), and
 *   the bytes per entry, as "key=value" on one line.
 * This is the cache part of the daemon's memory; the daemon's idle RSS (libraries, TLS,
 * loop, listeners) comes on top: docs/performance.md adds the two.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_rss.h"
#include "cache_mem.h"
#include "sts_policy.h"

int
main(int argc, char **argv)
{
	struct sts_parse_error perr;
	struct cache_entry ce;
	struct cache_mem *c;
	struct sts_policy *p;
	size_t n = 100000, mx = 2, i, j, len;
	struct mallinfo2 m0, m1;
	char body[4096], dom[64];
	long rss0, rss1;
	time_t now = time(NULL);
	int opt;

	while ((opt = getopt(argc, argv, "n:m:")) != -1) {
		if (opt == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (opt == 'm')
			mx = strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: cache_fill [-n N] [-m MX]\n");
			return 2;
		}
	}
	if (n == 0 || n > 10000000 || mx == 0 || mx > 32) {
		fprintf(stderr, "cache_fill: -n 1..10000000, -m 1..32\n");
		return 2;
	}
	c = cache_mem_new(n);
	rss0 = rss_kb();
	m0 = mallinfo2();
	for (i = 0; i < n; i++) {
		len = (size_t)snprintf(body, sizeof(body), "version: STSv1\r\nmode: enforce\r\n");
		for (j = 0; j < mx; j++)
			len += (size_t)snprintf(body + len, sizeof(body) - len,
			                        j == 0   ? "mx: mail.d%zu.example.net\r\n"
			                        : j == 1 ? "mx: *.mx.d%zu.example.net\r\n"
			                                 : "mx: mx%zu.d%zu.example.net\r\n",
			                        j == 0 || j == 1 ? i : j, i);
		len += (size_t)snprintf(body + len, sizeof(body) - len, "max_age: 604800\r\n");
		if (sts_policy_parse(body, len, &p, &perr) < 0) {
			fprintf(stderr, "cache_fill: policy %zu does not parse: %s\n", i,
			        perr.reason);
			return 1;
		}
		memset(&ce, 0, sizeof(ce));
		ce.kind = CACHE_POLICY;
		(void)snprintf(ce.id, sizeof(ce.id), "20261130T0000z%018zu", i);
		ce.policy = p;
		ce.fetched_at = ce.last_check = now;
		ce.expires_at = now + 604800;
		(void)snprintf(dom, sizeof(dom), "d%zu.example.net", i);
		cache_mem_put(c, dom, &ce);
	}
	rss1 = rss_kb();
	m1 = mallinfo2();
	printf("entries=%zu mx_per_policy=%zu rss_before_kb=%ld rss_after_kb=%ld "
	       "rss_growth_kb=%ld heap_in_use_kb=%zu bytes_per_entry=%zu\n",
	       cache_mem_count(c), mx, rss0, rss1, rss1 - rss0, (m1.uordblks - m0.uordblks) / 1024,
	       (m1.uordblks - m0.uordblks) / n);
	c = cache_mem_free(c);
	return 0;
}
