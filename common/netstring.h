/*
 * common/netstring.h - netstring encoder and incremental decoder (no I/O)
 *
 * Format (D. J. Bernstein, used by Postfix socketmap_table(5)): "<len>:<bytes>,"
 * where <len> is decimal without leading zeros ("0" alone is allowed).
 *
 * Interface: netstring_dec_init(), netstring_dec_feed(), netstring_encode(),
 *            netstring_encode_header()
 * Ownership: the decoder borrows nothing: it copies the payload into its own buffer.
 * Errors:    ERR_NETSTRING_FORMAT, ERR_NETSTRING_TOO_LONG (from the length digits alone,
 *            before any payload is buffered).
 */
#ifndef MTASTSD_NETSTRING_H
#define MTASTSD_NETSTRING_H

#include <stddef.h>

struct netstring_dec {
	size_t max;     /* largest payload accepted, bytes */
	int state;      /* private */
	size_t len;     /* announced payload length */
	size_t have;    /* payload bytes buffered */
	size_t ndigits; /* private */
	char *buf;      /* payload, NUL-terminated once complete; owned by the decoder */
	size_t bufsz;
};

void netstring_dec_init(struct netstring_dec *d, size_t max);
void netstring_dec_free(struct netstring_dec *d);

/* Feed up to len bytes. Consumes bytes until one netstring is complete or input ends;
 * *ret_used says how many were consumed. Returns 1 when a netstring is complete
 * (payload in d->buf, d->len bytes; call netstring_dec_reset() before feeding more),
 * 0 when more input is needed, or a negative ERR_NETSTRING_* (the stream is dead). */
int netstring_dec_feed(struct netstring_dec *d, const char *data, size_t len, size_t *ret_used);
void netstring_dec_reset(struct netstring_dec *d);

/* Encode payload[0..len) as a netstring into out (size outsz). Returns the encoded length,
 * or -ENOSPC when outsz is too small. A NUL is appended only when outsz has room for it. */
long netstring_encode(char *out, size_t outsz, const char *payload, size_t len);
/* Write the header "<len>:" of a netstring of len payload bytes into out (size outsz), for
 * a caller that writes the payload and the final ',' in place. Returns the header's length,
 * or 0 when outsz is too small for the whole netstring (netstring_encoded_len()). */
size_t netstring_encode_header(char *out, size_t outsz, size_t len);
/* Bytes needed to encode a payload of len bytes. */
size_t netstring_encoded_len(size_t len);

#endif
