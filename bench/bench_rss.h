/*
 * bench/bench_rss.h - this process's VmRSS, for the bench programs (cache_fill, rss_floor)
 *
 * rss_kb(): VmRSS from /proc/self/status in KiB, or -1 when it cannot be read.
 */
#ifndef MTASTSD_BENCH_RSS_H
#define MTASTSD_BENCH_RSS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

#endif
