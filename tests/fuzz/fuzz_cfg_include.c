/*
 * tests/fuzz/fuzz_cfg_include.c - libFuzzer target for configuration files with @include
 *
 * Input:      up to three files separated by lines "%%%": the main file (main.conf), then
 *             a.conf and b.conf, written into a private directory made once per process
 *             (mkdtemp, removed at exit). "%D" anywhere is replaced by that directory's
 *             absolute path, so absolute includes reach it too. The directory also holds,
 *             fixed: good.conf (a valid fragment), empty.conf, self.conf (includes itself),
 *             loop1.conf and loop2.conf (include each other), deep.conf (a chain of 12
 *             includes), sub/ (a directory, with sub/inner.conf), fifo (a FIFO, which
 *             libconfig would block on), zero -> /dev/zero, dangling -> a missing file,
 *             subdir -> sub, and <dir><dir>/good.conf, a directory (libconfig 1.5 reads
 *             an absolute include "<dir>/good.conf" there). Anything else an include names is
 *             missing, or outside.
 * Invariants: as fuzz_cfg: cfg_load() returns 0 with a config that has the default zone,
 *             or ERR_CONFIG with a NUL-terminated message and no config; the process never
 *             exits (libconfig 1.5 exit()s on an include of a directory: cfg_load() checks
 *             every target first, docs/fuzzing.md finding 4) nor blocks (the FIFO and
 *             /dev/zero); no file descriptor is left open (the next open() gets the same
 *             number as before); cfg_free() releases everything (ASan/LSan, valgrind).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_cfg_check.h"

#define PARTS 3

static char dir[64]; /* "/tmp/fuzz_cfg_include.XXXXXX": /tmp is what setup() nests */
static const char *const part_names[PARTS] = {"main.conf", "a.conf", "b.conf"};

static void
put_file(const char *name, const char *data, size_t len)
{
	char path[256];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		FUZZ_CHECK(n > 0);
		data += n;
		len -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

static void
rm_dir(void)
{
	static const char *const names[] = {
	        "main.conf", "a.conf",     "b.conf",        "good.conf", "empty.conf",
	        "self.conf", "loop1.conf", "loop2.conf",    "fifo",      "zero",
	        "dangling",  "subdir",     "sub/inner.conf"};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	for (i = 0; i < 12; i++) {
		(void)snprintf(path, sizeof(path), "%s/deep%zu.conf", dir, i);
		(void)unlink(path);
	}
	(void)snprintf(path, sizeof(path), "%s/sub", dir);
	(void)rmdir(path);
	(void)snprintf(path, sizeof(path), "%s%s/good.conf", dir, dir);
	(void)rmdir(path);
	(void)snprintf(path, sizeof(path), "%s%s", dir, dir);
	(void)rmdir(path);
	(void)snprintf(path, sizeof(path), "%s/tmp", dir);
	(void)rmdir(path);
	(void)rmdir(dir);
}

static void
setup(void)
{
	char path[256], text[64];
	size_t i;

	(void)snprintf(dir, sizeof(dir), "%s", "/tmp/fuzz_cfg_include.XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	FUZZ_CHECK(atexit(rm_dir) == 0);
	put_file("good.conf", "process: { verbosity = 1; };\n", 29);
	put_file("empty.conf", "", 0);
	put_file("self.conf", "@include \"self.conf\"\n", 21);
	put_file("loop1.conf", "@include \"loop2.conf\"\n", 22);
	put_file("loop2.conf", "@include \"loop1.conf\"\n", 22);
	for (i = 0; i < 12; i++) {
		int n = i < 11 ? snprintf(text, sizeof(text), "@include \"deep%zu.conf\"\n", i + 1)
		               : snprintf(text, sizeof(text), "# the end\n");

		(void)snprintf(path, sizeof(path), "deep%zu.conf", i);
		put_file(path, text, (size_t)n);
	}
	(void)snprintf(path, sizeof(path), "%s/sub", dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	put_file("sub/inner.conf", "@include \"good.conf\"\n", 21);
	(void)snprintf(path, sizeof(path), "%s/fifo", dir);
	FUZZ_CHECK(mkfifo(path, 0600) == 0);
	/* libconfig 1.5 opens "<dir>/<path>" for an absolute path too: "%D/good.conf" is this
	 * directory for it (finding 11) */
	(void)snprintf(path, sizeof(path), "%s/tmp", dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	(void)snprintf(path, sizeof(path), "%s%s", dir, dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	(void)snprintf(path, sizeof(path), "%s%s/good.conf", dir, dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	(void)snprintf(path, sizeof(path), "%s/zero", dir);
	FUZZ_CHECK(symlink("/dev/zero", path) == 0);
	(void)snprintf(path, sizeof(path), "%s/dangling", dir);
	FUZZ_CHECK(symlink("nonexistent.conf", path) == 0);
	(void)snprintf(path, sizeof(path), "%s/subdir", dir);
	FUZZ_CHECK(symlink("sub", path) == 0);
}

/* data[0..len) with every "%D" replaced by dir; owned. */
static char *
expand(const uint8_t *data, size_t len, size_t *ret_len)
{
	size_t dl = strlen(dir), i, n = 0;
	char *out = malloc(len * dl + 1); /* "%D" (2 bytes) grows to dl bytes: at most dl/2x */

	FUZZ_CHECK(out != NULL);
	for (i = 0; i < len; i++) {
		if (data[i] == '%' && i + 1 < len && data[i + 1] == 'D') {
			memcpy(out + n, dir, dl);
			n += dl;
			i++;
		} else {
			out[n++] = (char)data[i];
		}
	}
	*ret_len = n;
	return out;
}

/* The lowest free descriptor number. */
static int
next_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0);
	(void)close(fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%%\n";
	const size_t sl = sizeof(sep) - 1;
	char path[256];
	size_t off = 0, i;
	int fd0;

	if (dir[0] == '\0')
		setup();
	for (i = 0; i < PARTS; i++) {
		const uint8_t *end = NULL;
		size_t plen, elen;
		char *text;

		if (off <= size) {
			const uint8_t *p = data + off;

			for (plen = 0; off + plen + sl <= size; plen++)
				if (memcmp(p + plen, sep, sl) == 0) {
					end = p + plen;
					break;
				}
			if (end == NULL)
				plen = size - off;
			text = expand(p, plen, &elen);
			off += plen + sl;
		} else {
			text = expand(NULL, 0, &elen);
		}
		put_file(part_names[i], text, elen);
		free(text);
	}

	fd0 = next_fd();
	(void)snprintf(path, sizeof(path), "%s/main.conf", dir);
	fuzz_cfg_load_check(path);
	FUZZ_CHECK(next_fd() == fd0);
	return 0;
}
