/*
 * tlsrpt/tlsrpt_gz.h - gzip in and out for TLS reports (zlib; RFC 1952), bounded
 *
 * RFC 8460 section 5.3 sends reports as application/tlsrpt+gzip. A gzip bomb (a few KiB
 * that inflate to gigabytes) is stopped as soon as the output passes its size bound or
 * its ratio bound, whichever comes first: memory used is at most the bound plus one chunk.
 *
 * Interface: tlsrpt_is_gzip(), tlsrpt_gunzip(), tlsrpt_gzip()
 * Threads:   any; no global state.
 * Ownership: output buffers are malloc'd and owned by the caller (free()).
 * Errors:    ERR_TLSRPT_GZIP (not gzip, damaged, truncated), ERR_TLSRPT_TOO_LARGE (over
 *            max_out bytes, or over max_ratio times the input once past
 *            TLSRPT_GZ_RATIO_FREE bytes), -ENOMEM.
 */
#ifndef MTASTSD_TLSRPT_GZ_H
#define MTASTSD_TLSRPT_GZ_H

#include <stddef.h>

/* Output below this many bytes is never refused for its ratio: a small report's ratio says
 * nothing (a 1 KiB JSON of repeated field names compresses well). */
#define TLSRPT_GZ_RATIO_FREE (64 * 1024)

/* 1 when the len bytes at p start with the gzip magic (1f 8b), else 0. */
int tlsrpt_is_gzip(const void *p, size_t len);

/* Inflate one gzip stream (in, len bytes) into a new buffer of *ret_len bytes (NUL-
 * terminated, the NUL not counted), at most max_out bytes and at most max_ratio * len once
 * past TLSRPT_GZ_RATIO_FREE. Bytes after the end of the stream are ignored. Returns 0,
 * ERR_TLSRPT_GZIP, ERR_TLSRPT_TOO_LARGE or -ENOMEM; *ret is set only on success. */
int tlsrpt_gunzip(const void *in, size_t len, size_t max_out, unsigned max_ratio, char **ret,
                  size_t *ret_len);

/* Compress len bytes into a new gzip buffer (*ret, *ret_len bytes). 0 or -ENOMEM. */
int tlsrpt_gzip(const void *in, size_t len, char **ret, size_t *ret_len);

#endif
