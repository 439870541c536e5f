/*
 * tests/unit/testutil.h - helpers shared by the unit tests that run programs, write files,
 *                         need a loopback port or a test certificate
 *
 * Interface: tu_run_quiet(), tu_write_file(), tu_free_tcp_port(), tu_certtool(),
 *            tu_unavailable(), tu_need_cmd(), tu_now_ms(), TU_LIVE_MS.
 * Ownership: the caller owns every path; nothing is kept here.
 * Errors:    0 or -1 (tu_free_tcp_port(): 0 when no port could be had); tu_unavailable()
 *            and tu_need_cmd() return an exit status for main() (TU_SKIP or 1).
 * Header-only (static inline): each test program includes what it uses.
 */
#ifndef MTASTSD_TEST_TESTUTIL_H
#define MTASTSD_TEST_TESTUTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The liveness bound of a unit test waiting for something that happens at once on a quiet
 * machine (a thread accepting, a counter moving): 60 s, like LIVE_S in tests/system/lib.sh,
 * so that a loaded 2-core CI machine or valgrind never fails a correct build. Never a
 * threshold: a wait that ends early is no success by itself, the value is checked after. */
#define TU_LIVE_MS 60000

/* CLOCK_MONOTONIC in milliseconds, for deadlines of TU_LIVE_MS. */
static inline long long
tu_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run argv (PATH lookup) with stdout and stderr on /dev/null; 0 when it exits 0. */
static inline int
tu_run_quiet(char *const argv[])
{
	int status = 0, devnull;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			(void)dup2(devnull, 1);
			(void)dup2(devnull, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The exit status that ctest reports as "Skipped" (SKIP_RETURN_CODE, tests/CMakeLists.txt). */
#define TU_SKIP 77

/* The test program prog cannot run here, for reason why: prints "SKIP: prog: why" and returns
 * TU_SKIP for main() to return. Under CI (CI=true) the test command has installed every peer
 * of tests/deps-debian.txt, so a missing one is a broken setup: prints "FAIL: ..." and
 * returns 1 instead. */
static inline int
tu_unavailable(const char *prog, const char *why)
{
	const char *ci = getenv("CI");

	if (ci != NULL && strcmp(ci, "true") == 0) {
		fprintf(stderr, "FAIL: %s: %s (CI=true: fails instead of skipping)\n", prog, why);
		return 1;
	}
	fprintf(stderr, "SKIP: %s: %s\n", prog, why);
	return TU_SKIP;
}

/* 0 when the program cmd (Debian package pkg) is on PATH, else tu_unavailable(). */
static inline int
tu_need_cmd(const char *prog, const char *cmd, const char *pkg)
{
	char *argv[] = {"sh", "-c", "command -v \"$0\"", (char *)cmd, NULL};
	char why[256];

	if (tu_run_quiet(argv) == 0)
		return 0;
	(void)snprintf(why, sizeof(why), "%s not installed (package %s, tests/deps-debian.txt)",
	               cmd, pkg);
	return tu_unavailable(prog, why);
}

/* Create or truncate path with text. */
static inline int
tu_write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	int r;

	if (fp == NULL)
		return -1;
	r = fputs(text, fp) < 0 ? -1 : 0;
	return fclose(fp) == 0 ? r : -1;
}

/* A free TCP port on 127.0.0.1 (bound, then released), 0 when none could be had. */
static inline unsigned
tu_free_tcp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned p = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		p = ntohs(sa.sin_port);
	if (fd >= 0)
		(void)close(fd);
	return p;
}

/* certtool (gnutls-bin): a new ECDSA key in key, then a certificate in pem from the
 * template text tmpl_text (written to tmpl), signed by ca_pem/ca_key, or self-signed when
 * ca_pem is NULL. */
static inline int
tu_certtool(const char *key, const char *pem, const char *tmpl, const char *tmpl_text,
            const char *ca_pem, const char *ca_key)
{
	char *gen[] = {"certtool",  "--generate-privkey", "--key-type=ecdsa",
	               "--outfile", (char *)key,          NULL};
	char *self[] = {"certtool",
	                "--generate-self-signed",
	                "--load-privkey",
	                (char *)key,
	                "--template",
	                (char *)tmpl,
	                "--outfile",
	                (char *)pem,
	                NULL};
	char *sign[] = {"certtool",
	                "--generate-certificate",
	                "--load-privkey",
	                (char *)key,
	                "--load-ca-certificate",
	                (char *)ca_pem,
	                "--load-ca-privkey",
	                (char *)ca_key,
	                "--template",
	                (char *)tmpl,
	                "--outfile",
	                (char *)pem,
	                NULL};

	if (tu_write_file(tmpl, tmpl_text) < 0 || tu_run_quiet(gen) < 0)
		return -1;
	return tu_run_quiet(ca_pem != NULL ? sign : self);
}

#endif
