/*
 * tests/fuzz/fuzz_cfg.c - libFuzzer target for configuration loading (libconfig + our table)
 *
 * Input:      the text of a configuration file, written to a memfd that cfg_load() reads
 *             through /proc/self/fd/N (no files left behind, nothing shared between runs).
 * Invariants: cfg_load() returns 0 with a config, or ERR_CONFIG with a NUL-terminated
 *             message in errbuf and no config; cfg_free() releases everything (ASan/LSan
 *             and valgrind check that); a loaded config has at least one resolver zone.
 * Skipped:    inputs containing "@include" (any case). The config file is trusted
 *             (root-owned); an include makes libconfig read arbitrary files (/dev/zero
 *             hangs), and libconfig 1.5 exit()s the whole process on `@include "."`
 *             ("input in flex scanner failed", exit status 2; docs/fuzzing.md).
 * Leaks:      libconfig 1.5 leaks one string token per syntax error (upstream issue
 *             hyperrealm/libconfig#142, fixed in 1.7); tests/fuzz/lsan.supp and
 *             tests/lint/valgrind.supp suppress exactly that stack.
 */
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_cfg_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	size_t off = 0;
	int fd;

	for (off = 0; off < size; off++) {
		if (data[off] == '@' && size - off > 7 &&
		    strncasecmp((const char *)data + off + 1, "include", 7) == 0)
			return 0;
	}
	off = 0;
	fd = memfd_create("fuzz_cfg", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fuzz_cfg_load_check(path);
	(void)close(fd);
	return 0;
}
