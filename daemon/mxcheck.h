/*
 * daemon/mxcheck.h - the daemon's periodic MX check of the published domains
 *
 * Every publisher.mx_check_interval (jittered by +-MXCHECK_JITTER_PCT percent; the first
 * run at a random time between half and all of min(interval, MXCHECK_FIRST_MAX_MS) after
 * the start or a reload, so that a restart does not probe at once) every domain of
 * publisher.domains is probed as a sending MTA would (resolver/mx_probe.h: SMTP, STARTTLS,
 * certificate, mx patterns, as Postfix "secure match=" sees them), at most
 * publisher.mx_check_concurrency domains at once, and the last report of each domain is
 * kept for the admin endpoint (/status, /metrics, the status page) and logged when it
 * says that enforce would lose mail. Off when publisher.mx_check is false,
 * mx_check_interval is 0, or no domain is published. docs/check.md "In the daemon".
 *
 * Interface: mxcheck_new(), mxcheck_reload(), mxcheck_run_now(), mxcheck_free(),
 *            mxcheck_stats_add(), mxcheck_domains(), mxcheck_report()
 * Threads:   main loop only.
 * Ownership: struct mxcheck borrows the cfg until the next mxcheck_reload() or its free;
 *            it owns its DNS client, prober and reports.
 * Errors:    mxcheck_new() returns -EINVAL when the trust anchors cannot be loaded, or the
 *            DNS client's errors; the probes' failures are results, never errors.
 */
#ifndef MTASTSD_MXCHECK_H
#define MTASTSD_MXCHECK_H

#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "loop.h"
#include "mx_probe.h"
#include "stats.h"

/* The runs' spacing varies by this much either way (percent), so that daemons started
 * together do not probe the same MX hosts together. */
#define MXCHECK_JITTER_PCT 10
/* The first run starts between half and all of min(interval, this) after the start (ms). */
#define MXCHECK_FIRST_MAX_MS (5 * 60 * 1000)

struct mxcheck;

/* The checker for cfg (borrowed), on loop. *ret_m is NULL (and 0 returned) when the check
 * is off (see above). Uses cfg->resolver's DNS settings and ca_file (NULL: the system
 * trust store). Returns 0, -EINVAL (trust anchors), or a DNS client error. */
/* The descriptors the MX check may hold at once for cfg (its SMTP connections and DNS
 * queries: mx_check_concurrency x MX_PROBE_HOSTS_MAX x FD_PER_MX_HOST), for the daemon's
 * descriptor budget (common/fd_budget.h); counted whenever domains are published, so that
 * a reload turning the check on stays within it. 0 without published domains. */
unsigned mxcheck_fd_want(const struct cfg *cfg);
int mxcheck_new(struct loop *loop, const struct cfg *cfg, struct mxcheck **ret_m);
/* A new configuration: the probes in flight are cancelled (their reports dropped), the
 * reports of domains still published are kept, and the next run is scheduled as at the
 * start. May free *m and create one (the check turned off or on). Returns 0 or the error of
 * mxcheck_new() (the check is then off). */
int mxcheck_reload(struct mxcheck **m, struct loop *loop, const struct cfg *cfg);
/* Start a run now, unless one is running. Returns 0, or -EBUSY (a run is in progress), or
 * -ENOENT when m is NULL (the check is off). */
int mxcheck_run_now(struct mxcheck *m);
/* Cancels the probes. Returns NULL. */
struct mxcheck *mxcheck_free(struct mxcheck *m);

/* Register the check's metrics (mtastsd_mx_check_*) in st for m (NULL: no samples). */
void mxcheck_stats_add(const struct mxcheck *m, struct stats *st);
/* Published domains the check knows (0 when m is NULL). */
size_t mxcheck_domains(const struct mxcheck *m);
/* The i-th domain (configuration order) into *ret_domain, and its last report (NULL
 * before the first probe ends), borrowed until the next loop iteration. *ret_at is the
 * wall clock of that report's start (0: none). */
const struct mx_report *mxcheck_report(const struct mxcheck *m, size_t i, const char **ret_domain,
                                       time_t *ret_at);

#endif
