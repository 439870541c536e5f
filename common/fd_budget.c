/*
 * common/fd_budget.c - how the daemon shares RLIMIT_NOFILE among its parts
 *
 * Interface: fd_budget_compute(), fd_budget_format(), fd_budget_limit_min(),
 *            fd_limit_raise() (fd_budget.h, which describes the design)
 * Threads:   any; no state.
 * Errors:    fd_budget_compute() -EMFILE (limit too small); fd_limit_raise() -errno.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include "fd_budget.h"
#include "mtasts_limits.h"

static uint64_t
fd_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t
fd_max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Descriptors of n fetches (0 when none run). */
static uint64_t
fd_fetch_fds(uint64_t n)
{
	return n > 0 ? FD_FETCH_BASE + n * FD_PER_FETCH : 0;
}

int
fd_budget_compute(const struct fd_want *w, struct fd_budget *ret_b)
{
	struct fd_budget b = {.limit = w->limit};
	uint64_t spare, avail, res_want, room, pub, floor, min_res, share;
	/* the DNS clients (FD_DNS_CLIENTS) share the queries: at least one each */
	uint64_t dns = w->dns > 0 ? fd_max64(w->dns, FD_DNS_CLIENTS) : 0;

	if (w->limit < FD_LIMIT_MIN)
		return -EMFILE;
	spare = fd_min64(fd_max64(w->limit / FD_SPARE_DIV, FD_SPARE_MIN), FD_SPARE_MAX);
	if ((uint64_t)w->fixed + w->tlsrpt + w->mxcheck + spare >= w->limit)
		return -EMFILE;
	b.reserve = (unsigned)(w->fixed + w->tlsrpt + w->mxcheck + spare);
	b.tlsrpt = w->tlsrpt;
	b.mxcheck = w->mxcheck;
	avail = w->limit - b.reserve;

	/* The admin endpoint: a few connections, at most an eighth of what is left. */
	if (w->admin > 0)
		b.admin = (unsigned)fd_min64(w->admin, fd_max64(1, avail / 8));
	avail -= b.admin;

	/* The least each resolver part runs with: one connection, one query, one fetch. */
	min_res = (w->socketmap > 0) + (dns > 0 ? FD_DNS_CLIENTS : 0) + fd_fetch_fds(w->fetch > 0);
	res_want = (uint64_t)w->socketmap + dns + fd_fetch_fds(w->fetch);
	pub = w->publisher;
	if (res_want + pub <= avail) {
		b.socketmap = w->socketmap;
		b.dns = (unsigned)dns;
		b.fetch = w->fetch;
	} else {
		/* Short: the publisher first, down to its floor (each listener one at least). */
		floor = fd_min64(pub, fd_max64(avail / FD_PUBLISHER_FLOOR_DIV, w->listeners));
		if (res_want + floor <= avail) {
			pub = avail - res_want;
			b.socketmap = w->socketmap;
			b.dns = (unsigned)dns;
			b.fetch = w->fetch;
		} else {
			/* Then the resolver's parts, in proportion to what each asked, each
			 * with its least first: their sum stays within room. */
			pub = floor;
			if (avail < floor + min_res)
				return -EMFILE;
			room = avail - floor - min_res;
			if (w->socketmap > 0)
				b.socketmap = (unsigned)fd_min64(
				        w->socketmap, 1 + w->socketmap * room / res_want);
			if (dns > 0)
				b.dns = (unsigned)fd_min64(dns,
				                           FD_DNS_CLIENTS + dns * room / res_want);
			if (w->fetch > 0)
				b.fetch = (unsigned)fd_min64(
				        w->fetch, 1 + (uint64_t)w->fetch * FD_PER_FETCH * room /
				                                  res_want / FD_PER_FETCH);
		}
	}
	/* cut below one connection per listener (a configured value below that stands) */
	if (pub < fd_min64(w->publisher, fd_max64(w->listeners, 1)))
		return -EMFILE;
	b.publisher = (unsigned)pub;
	/* One address: at most what was asked and half of one listener's share. */
	if (w->per_address > 0 && w->publisher > 0) {
		share = pub / fd_max64(w->listeners, 1);
		b.per_address = (unsigned)fd_min64(w->per_address,
		                                   fd_max64(1, share / FD_PER_ADDRESS_SHARE_DIV));
	}
	b.outbound_fds = (unsigned)(fd_fetch_fds(b.fetch) + b.dns);
	*ret_b = b;
	return 0;
}

/* n, or "off" for a part that does not run */
static const char *
fd_part(char *buf, size_t len, unsigned n)
{
	if (n == 0)
		return "off";
	(void)snprintf(buf, len, "%u", n);
	return buf;
}

int
fd_budget_format(const struct fd_budget *b, char *buf, size_t len)
{
	char per[48], pub[16], adm[16], sm[16], out[64], res[64];

	if (b->publisher == 0)
		per[0] = '\0';
	else if (b->per_address > 0)
		(void)snprintf(per, sizeof(per), " (per address %u)", b->per_address);
	else
		(void)snprintf(per, sizeof(per), " (no per-address limit)");
	if (b->outbound_fds == 0)
		(void)snprintf(out, sizeof(out), "off");
	else
		(void)snprintf(out, sizeof(out), "%u (%u fetches, %u DNS queries)", b->outbound_fds,
		               b->fetch, b->dns);
	res[0] = '\0';
	if (b->mxcheck > 0 || b->tlsrpt > 0)
		(void)snprintf(res, sizeof(res), " (MX check %u, TLSRPT store %u)", b->mxcheck,
		               b->tlsrpt);
	return snprintf(buf, len,
	                "limit %u: publisher %s%s, admin %s, socketmap %s, fetch+DNS %s, "
	                "reserve %u%s",
	                b->limit, fd_part(pub, sizeof(pub), b->publisher), per,
	                fd_part(adm, sizeof(adm), b->admin), fd_part(sm, sizeof(sm), b->socketmap),
	                out, b->reserve, res);
}

unsigned
fd_budget_limit_min(const struct fd_want *w)
{
	struct fd_want t = *w;
	struct fd_budget b;

	/* the first limit that works: a few steps past the descriptors held at rest */
	for (t.limit = FD_LIMIT_MIN; t.limit < FD_LIMIT_CAP; t.limit++)
		if (fd_budget_compute(&t, &b) == 0)
			return t.limit;
	return FD_LIMIT_CAP;
}

static unsigned
fd_rlim_unsigned(rlim_t v)
{
	return v == RLIM_INFINITY || v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

int
fd_limit_raise(unsigned *ret_before, unsigned *ret_after)
{
	struct rlimit rl;
	rlim_t target;

	*ret_before = *ret_after = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	*ret_before = *ret_after = fd_rlim_unsigned(rl.rlim_cur);
	target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FD_LIMIT_CAP ? FD_LIMIT_CAP
	                                                                    : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= target)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	rl.rlim_cur = target;
	/* prlimit(2), the prlimit64 system call: the unit's SystemCallFilter= denies
	 * @resources, which holds setrlimit but not prlimit64 (systemd-analyze syscall-filter) */
	if (prlimit(0, RLIMIT_NOFILE, &rl, NULL) < 0)
		return -errno;
	*ret_after = fd_rlim_unsigned(target);
	return 0;
}
