/*
 * tests/fuzz/fuzz_cfg.c - libFuzzer target for configuration loading (libconfig + our table)
 *
 * Input:      the text of a configuration file, written to a memfd that cfg_load() reads
 *             through /proc/self/fd/N (no files left behind, nothing shared between runs).
 * Invariants: cfg_load() returns 0 with a config, or ERR_CONFIG with a NUL-terminated
 *             message in errbuf and no config; cfg_free() releases everything (ASan/LSan
 *             and valgrind check that); a loaded config has at least one resolver zone.
 * Note:       the config file is trusted input (root-owned), so this target looks for
 *             crashes, leaks and hangs, not for hostile-input behaviour like @include.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = NULL;
	char path[64], errbuf[512];
	size_t off = 0;
	int fd, r;

	fd = memfd_create("fuzz_cfg", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(errbuf, 'X', sizeof(errbuf));
	r = cfg_load(path, &c, errbuf, sizeof(errbuf));
	if (r == 0) {
		FUZZ_CHECK(c != NULL);
		FUZZ_CHECK(c->resolver.n_zones >= 1);
		FUZZ_CHECK(cfg_zone_find(&c->resolver, "postfix", 7) != NULL);
		FUZZ_CHECK(cfg_free(c) == NULL);
	} else {
		FUZZ_CHECK(r == ERR_CONFIG);
		FUZZ_CHECK(memchr(errbuf, '\0', sizeof(errbuf)) != NULL);
		FUZZ_CHECK(c == NULL);
	}
	(void)close(fd);
	return 0;
}
