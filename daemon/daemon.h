/*
 * daemon/daemon.h - the running daemon: ordered start, SIGHUP reload, SIGTERM shutdown
 *
 * Interface: daemon_run()
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

/* The verbosity to use: process.verbosity + extra, at most 3. */
int daemon_verbosity(const struct cfg *cfg, int extra);

#endif
