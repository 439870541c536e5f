/*
 * acme/acme_plan.c - when the ACME client orders: renewal time, retry backoff
 *
 * Interface: see acme_plan.h
 * Design:    arithmetic only; the limits are in common/mtasts_limits.h.
 * Threads:   any.   Ownership: none.   Errors: none.
 */
#include "acme_plan.h"
#include "mtasts_limits.h"

time_t
acme_plan_renewal(time_t not_before, time_t not_after, uint64_t rnd)
{
	time_t life = not_after - not_before;

	if (life <= 0)
		return not_after;
	return not_after - life / ACME_RENEW_LEFT_DIV -
	       (time_t)(rnd % ((uint64_t)(life / ACME_RENEW_JITTER_DIV) + 1));
}

uint64_t
acme_plan_backoff_ms(unsigned failures, uint64_t min_ms, uint64_t max_ms, uint64_t retry_after_ms)
{
	uint64_t ms = min_ms;
	unsigned k;

	for (k = 1; k < failures && ms < max_ms; k++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	return retry_after_ms > ms ? retry_after_ms : ms;
}

int
acme_plan_expiring(time_t not_before, time_t not_after, time_t now)
{
	time_t life = not_after - not_before;

	return life > 0 && not_after > now && not_after - now < life / ACME_WARN_LEFT_DIV;
}
