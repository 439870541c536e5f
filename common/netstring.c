/*
 * common/netstring.c - netstring encoder and incremental decoder (no I/O)
 *
 * Interface: netstring_dec_init(), netstring_dec_feed(), netstring_dec_reset(),
 *            netstring_dec_free(), netstring_encode(), netstring_encode_header(),
 *            netstring_encoded_len()
 * Format:    "<len>:<bytes>," (D. J. Bernstein); <len> is 1*DIGIT without leading zeros,
 *            "0" alone allowed. Postfix never sends leading zeros, so we reject them.
 * Limits:    the announced length is checked digit by digit against d->max, so an
 *            over-limit length fails before any payload is buffered, and the buffer is
 *            never larger than max + 1 bytes (max is capped at SIZE_MAX / 2).
 * Threads:   a decoder belongs to one connection; no shared state.
 * Errors:    ERR_NETSTRING_FORMAT, ERR_NETSTRING_TOO_LONG; once returned, every later
 *            feed returns the same code until netstring_dec_reset().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "netstring.h"
#include "xalloc.h"

enum {
	NS_LEN = 0, /* reading length digits */
	NS_DATA,    /* reading payload bytes */
	NS_COMMA,   /* expecting the final ',' */
	NS_DONE,    /* one netstring complete */
	            /* a negative state is a dead stream: the ERR_NETSTRING_* code to repeat */
};

static int
ns_fail(struct netstring_dec *d, int err)
{
	d->state = err;
	d->len = 0;
	d->have = 0;
	return err;
}

void
netstring_dec_init(struct netstring_dec *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	/* the buffer holds max + 1 bytes; keep that sum far from overflow */
	d->max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max;
	d->state = NS_LEN;
}

void
netstring_dec_free(struct netstring_dec *d)
{
	free(d->buf);
	d->buf = NULL;
	d->bufsz = 0;
	d->len = 0;
	d->have = 0;
	d->ndigits = 0;
	d->state = NS_LEN;
}

void
netstring_dec_reset(struct netstring_dec *d)
{
	d->state = NS_LEN;
	d->len = 0;
	d->have = 0;
	d->ndigits = 0;
	if (d->buf != NULL)
		d->buf[0] = '\0';
}

static void
ns_reserve(struct netstring_dec *d)
{
	/* d->len <= d->max was checked while the digits arrived. */
	if (d->bufsz < d->len + 1) {
		free(d->buf);
		d->buf = xmalloc(d->len + 1);
		d->bufsz = d->len + 1;
	}
}

int
netstring_dec_feed(struct netstring_dec *d, const char *data, size_t len, size_t *ret_used)
{
	size_t i = 0, n;
	int r = 0;

	if (d->state < 0) {
		*ret_used = 0;
		return d->state;
	}
	while (i < len && r == 0) {
		unsigned char c = (unsigned char)data[i];

		switch (d->state) {
		case NS_LEN:
			if (c >= '0' && c <= '9') {
				size_t v = (size_t)(c - '0');

				if (d->ndigits == 1 && d->len == 0) {
					r = ns_fail(d, ERR_NETSTRING_FORMAT); /* leading zero */
					break;
				}
				if (v > d->max || d->len > (d->max - v) / 10) {
					r = ns_fail(d, ERR_NETSTRING_TOO_LONG);
					break;
				}
				d->len = d->len * 10 + v;
				d->ndigits++;
				i++;
			} else if (c == ':' && d->ndigits > 0) {
				i++;
				ns_reserve(d);
				d->have = 0;
				d->state = d->len > 0 ? NS_DATA : NS_COMMA;
			} else {
				r = ns_fail(d, ERR_NETSTRING_FORMAT);
			}
			break;
		case NS_DATA:
			n = d->len - d->have;
			if (n > len - i)
				n = len - i;
			memcpy(d->buf + d->have, data + i, n);
			d->have += n;
			i += n;
			if (d->have == d->len)
				d->state = NS_COMMA;
			break;
		case NS_COMMA:
			if (c != ',') {
				r = ns_fail(d, ERR_NETSTRING_FORMAT);
				break;
			}
			i++;
			d->buf[d->len] = '\0';
			d->state = NS_DONE;
			r = 1;
			break;
		case NS_DONE:
			r = 1;
			break;
		default:
			r = ns_fail(d, ERR_NETSTRING_FORMAT);
			break;
		}
	}
	if (r == 0 && d->state == NS_DONE)
		r = 1;
	*ret_used = i;
	return r;
}

size_t
netstring_encoded_len(size_t len)
{
	size_t digits = 1, v = len;

	while (v >= 10) {
		v /= 10;
		digits++;
	}
	return digits + 1 + len + 1;
}

size_t
netstring_encode_header(char *out, size_t outsz, size_t len)
{
	char digits[24];
	size_t nd = 0, need = netstring_encoded_len(len), i;
	size_t v = len;

	if (outsz < need || need > (size_t)0x7fffffff)
		return 0;
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (i = 0; i < nd; i++)
		out[i] = digits[nd - 1 - i];
	out[nd] = ':';
	return nd + 1;
}

long
netstring_encode(char *out, size_t outsz, const char *payload, size_t len)
{
	size_t need = netstring_encoded_len(len), nd;

	nd = netstring_encode_header(out, outsz, len);
	if (nd == 0)
		return -ENOSPC;
	if (len > 0)
		memcpy(out + nd, payload, len);
	out[nd + len] = ',';
	if (outsz > need)
		out[need] = '\0';
	return (long)need;
}
