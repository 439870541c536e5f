/*
 * acme/acme_plan.h - when the ACME client orders: renewal time, retry backoff (no I/O)
 *
 * Interface: acme_plan_renewal(), acme_plan_backoff_ms(), acme_plan_expiring()
 * Design:    pure functions of the certificate's validity and the failure count, so that
 *            unit tests pin them (tests/unit/acme/test_acme_plan.c); acme.c applies them.
 * Threads:   any.   Ownership: none.   Errors: none.
 */
#ifndef MTASTSD_ACME_PLAN_H
#define MTASTSD_ACME_PLAN_H

#include <stdint.h>
#include <time.h>

/* The wall time to renew a certificate valid from not_before to not_after: when a third of
 * its lifetime is left (ACME_RENEW_LEFT_DIV), earlier by rnd modulo (lifetime /
 * ACME_RENEW_JITTER_DIV + 1) seconds of jitter. A certificate without a lifetime renews at
 * not_after. ARI (RFC 9773) is not consulted. */
time_t acme_plan_renewal(time_t not_before, time_t not_after, uint64_t rnd);
/* The wait (ms) before attempt failures + 1 after `failures` failures in a row (>= 1):
 * min_ms doubled failures - 1 times, at most max_ms; retry_after_ms (the CA's Retry-After,
 * 0 none) when longer. */
uint64_t acme_plan_backoff_ms(unsigned failures, uint64_t min_ms, uint64_t max_ms,
                              uint64_t retry_after_ms);
/* 1 when less than a sixth (ACME_WARN_LEFT_DIV) of the lifetime is left at now (and the
 * certificate has not expired), the time to warn that renewal keeps failing. */
int acme_plan_expiring(time_t not_before, time_t not_after, time_t now);

#endif
