/*
 * daemon/daemon.h - the running daemon: ordered start, SIGHUP reload, SIGTERM shutdown
 *
 * Interface: daemon_run(), daemon_cfg_load(), daemon_fd_check(), daemon_verbosity()
 * Threads:   main thread; runs the event loop until shutdown.
 * Ownership: daemon_run() takes the config and frees it (and any reloaded one) on return.
 * Errors:    startup errors are logged once and turn into exit status 1; reload errors are
 *            logged and the old configuration keeps serving; runtime errors never exit.
 */
#ifndef MTASTSD_DAEMON_H
#define MTASTSD_DAEMON_H

#include "cfg.h"

struct daemon_opts {
	const char *cfg_path; /* the file SIGHUP re-reads */
	int cfg_optional;     /* 1: the default path, which may not exist (embedded defaults) */
	int extra_verbosity;  /* -v count, added to process.verbosity */
};

/* Start the resolver and publisher on cfg, drop privileges, notify systemd and serve until
 * SIGTERM/SIGINT. Takes ownership of cfg. Returns the process exit status: 0 after a clean
 * shutdown, 1 when startup failed. */
int daemon_run(struct cfg *cfg, const struct daemon_opts *opts);

/* daemon_cfg_load() flags. */
enum {
	/* Also refuse a publisher certificate or key that does not load or does not name its
	 * mta-sts.<domain> (pub_check_certs()): for -n (ExecReload runs it first) and the
	 * commands. Without it (the start and SIGHUP) such a domain is left unpublished by the
	 * publisher, logged, and the rest runs: a web certificate never takes the resolver,
	 * and with it Postfix's TLS policy service, down (issue 15). */
	DAEMON_CFG_CERTS_STRICT = 1u << 0,
};
/* Load path as the daemon runs it: cfg_load(), then with DAEMON_CFG_CERTS_STRICT the
 * publisher's certificate check. Returns 0 with *ret_cfg set (owned), or ERR_CONFIG with
 * "file:line: key: reason" in errbuf. */
int daemon_cfg_load(const char *path, unsigned flags, struct cfg **ret_cfg, char *errbuf,
                    size_t errlen);

/* For -n: the descriptor check the start makes on cfg (common/fd_budget.h): the soft
 * RLIMIT_NOFILE raised to the hard limit as at start, then the same error (the limit cannot
 * hold this configuration) or warnings (a key lowered to its share, in cfg, which the
 * caller then discards) logged with the same text. Returns 0, or -EMFILE (the start would
 * fail). */
int daemon_fd_check(struct cfg *cfg);

/* The verbosity to use: process.verbosity + extra, at most 3. */
int daemon_verbosity(const struct cfg *cfg, int extra);

#endif
