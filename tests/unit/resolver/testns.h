/*
 * tests/unit/resolver/testns.h - start and stop ldns-testns for the resolver unit tests
 *
 * Interface: testns_start(), testns_stop(); the server's pid and port in testns_pid and
 *            testns_port; testns_cfg(), a config that asks it. Define TESTNS_DATA (the
 *            answer file) before including.
 * Ownership: one server per test program; the child never outlives the test
 *            (PR_SET_PDEATHSIG), and its stdout pipe stays open so it never gets SIGPIPE.
 *            testns_cfg() returns an owned cfg (cfg_free()).
 * Errors:    testns_start() returns 0 or -1 (ldns-testns missing or never listening).
 */
#ifndef MTASTSD_TEST_TESTNS_H
#define MTASTSD_TEST_TESTNS_H

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "xalloc.h"

#ifndef TESTNS_DATA
#error "define TESTNS_DATA before including testns.h"
#endif

static pid_t testns_pid = -1;
static unsigned testns_port;

static void
testns_stop(void)
{
	int status;

	if (testns_pid > 0) {
		(void)kill(testns_pid, SIGTERM);
		(void)waitpid(testns_pid, &status, 0);
	}
	testns_pid = -1;
}

/* One try: fork ldns-testns -r and wait (bounded, 5 s) for "Listening on port N". */
static int
testns_start_once(void)
{
	char buf[512];
	size_t have = 0;
	int pfd[2], i;
	struct pollfd p;
	ssize_t n;
	char *s;

	testns_port = 0;
	if (pipe(pfd) < 0)
		return -1;
	testns_pid = fork();
	if (testns_pid < 0)
		return -1;
	if (testns_pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		(void)dup2(pfd[1], 1);
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		execlp("ldns-testns", "ldns-testns", "-r", TESTNS_DATA, (char *)NULL);
		_exit(127);
	}
	(void)close(pfd[1]);
	for (i = 0; i < 50 && have < sizeof(buf) - 1; i++) {
		p.fd = pfd[0];
		p.events = POLLIN;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		s = strstr(buf, "Listening on port ");
		if (s != NULL && strchr(s, '\n') != NULL) {
			testns_port = (unsigned)strtoul(s + 18, NULL, 10);
			break;
		}
	}
	if (testns_port == 0) {
		(void)close(pfd[0]);
		return -1;
	}
	return 0;
}

/* ldns-testns -r picks a random port and now and then fails with "bind(): Invalid
 * argument" and exits: start it again (bounded). Says so on stderr when it gives up. */
static int
testns_start(void)
{
	int i;

	for (i = 0; i < 5; i++) {
		if (testns_start_once() == 0)
			return 0;
		testns_stop();
	}
	fprintf(stderr, "cannot start ldns-testns (package ldnsutils)\n");
	return -1;
}

/* The built-in config, its resolver asking only 127.0.0.1@port (ldns-testns, or a server
 * that never answers): 300 ms per try, one try, failures cached for 1 s. (inline: not
 * every includer uses it.) */
static inline struct cfg *
testns_cfg(unsigned port)
{
	struct cfg *c = cfg_defaults();
	struct cfg_resolver *r = &c->resolver;
	size_t i;

	for (i = 0; i < r->n_dns_servers; i++)
		free(r->dns_servers[i]);
	free(r->dns_servers);
	r->dns_servers = xcalloc(1, sizeof(*r->dns_servers));
	r->dns_servers[0] = xasprintf("127.0.0.1@%u", port);
	r->n_dns_servers = 1;
	r->dns_timeout_ms = 300;
	r->dns_attempts = 1;
	r->tempfail_ttl_ms = 1000;
	return c;
}

#endif
