/*
 * tlsrpt/tlsrpt_gz.c - bounded gunzip and gzip with zlib
 *
 * Interface: see tlsrpt_gz.h
 * Threads:   any.
 * Ownership: the caller frees the output.
 * Errors:    ERR_TLSRPT_GZIP, ERR_TLSRPT_TOO_LARGE, -ENOMEM; never logs.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "err.h"
#include "mtasts_limits.h"
#include "tlsrpt_gz.h"

int
tlsrpt_is_gzip(const void *p, size_t len)
{
	const unsigned char *b = p;

	return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

int
tlsrpt_gunzip(const void *in, size_t len, size_t max_out, unsigned max_ratio, char **ret,
              size_t *ret_len)
{
	z_stream zs;
	char *out = NULL, *n;
	size_t cap = 0, used = 0, limit = max_out;
	int zr, r;

	if (!tlsrpt_is_gzip(in, len) || len > UINT_MAX)
		return ERR_TLSRPT_GZIP;
	/* The ratio bound, never below the free allowance. */
	if (max_ratio > 0 && len <= SIZE_MAX / max_ratio) {
		size_t rl = (size_t)max_ratio * len;

		if (rl < TLSRPT_GZ_RATIO_FREE)
			rl = TLSRPT_GZ_RATIO_FREE;
		if (rl < limit)
			limit = rl;
	}
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (cap - used < TLSRPT_GZ_CHUNK + 1) {
			if (used > limit) {
				r = ERR_TLSRPT_TOO_LARGE;
				goto fail;
			}
			n = realloc(out, cap + TLSRPT_GZ_CHUNK + 1);
			if (n == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			out = n;
			cap += TLSRPT_GZ_CHUNK + 1;
		}
		zs.next_out = (Bytef *)out + used;
		zs.avail_out = TLSRPT_GZ_CHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		used += TLSRPT_GZ_CHUNK - zs.avail_out;
		if (used > limit) {
			r = ERR_TLSRPT_TOO_LARGE;
			goto fail;
		}
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_MEM_ERROR) {
			r = -ENOMEM;
			goto fail;
		}
		/* Z_BUF_ERROR with input left means no progress: truncated or damaged. */
		if (zr != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) {
			r = ERR_TLSRPT_GZIP;
			goto fail;
		}
	}
	(void)inflateEnd(&zs);
	out[used] = '\0';
	*ret = out;
	*ret_len = used;
	return 0;
fail:
	(void)inflateEnd(&zs);
	free(out);
	return r;
}

int
tlsrpt_gzip(const void *in, size_t len, char **ret, size_t *ret_len)
{
	z_stream zs;
	uLong bound;
	char *out;

	if (len > UINT_MAX)
		return -ENOMEM;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, (uLong)len) + 32;
	out = malloc(bound);
	if (out == NULL) {
		(void)deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		(void)deflateEnd(&zs);
		free(out);
		return -ENOMEM;
	}
	*ret_len = bound - zs.avail_out;
	(void)deflateEnd(&zs);
	*ret = out;
	return 0;
}
