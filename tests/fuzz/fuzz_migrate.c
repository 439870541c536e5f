/*
 * tests/fuzz/fuzz_migrate.c - libFuzzer target for `mtastsd migrate resolver` (cli/migrate.c)
 *
 * Input:      the bytes of a postfix-mta-sts-resolver YAML file, handed to
 *             migrate_resolver() through a memfd (/proc/self/fd/N).
 * Invariants: migrate_resolver() returns 0 or ERR_CONFIG; on ERR_CONFIG the message is not
 *             empty and one line; on 0 the text ends with a newline and is a configuration that
 *             cfg_load() accepts as it is (the promise of the verb: its output is valid on
 *             its own), and every warning is one line.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "fuzz.h"
#include "migrate.h"

static int
memfd_with(const void *data, size_t size, char path[64])
{
	int fd = memfd_create("fuzz_migrate", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		(void)close(fd);
		return -1;
	}
	(void)snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migrate_out *o = NULL;
	struct cfg *c = NULL;
	char err[1024] = "", cerr[1024] = "", path[64], cpath[64];
	size_t i, len;
	int fd, cfd, r;

	fd = memfd_with(data, size, path);
	if (fd < 0)
		return 0;
	r = migrate_resolver(path, &o, err, sizeof(err));
	(void)close(fd);
	if (r != 0) {
		FUZZ_CHECK(r == ERR_CONFIG);
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		return 0;
	}
	len = strlen(o->text);
	FUZZ_CHECK(len > 0 && o->text[len - 1] == '\n');
	for (i = 0; i < o->n_warnings; i++)
		FUZZ_CHECK(strchr(o->warnings[i], '\n') == NULL);
	cfd = memfd_with(o->text, len, cpath);
	if (cfd >= 0) {
		r = cfg_load(cpath, &c, cerr, sizeof(cerr));
		if (r != 0)
			fprintf(stderr, "cfg_load: %s\n--- text:\n%s", cerr, o->text);
		FUZZ_CHECK(r == 0);
		(void)cfg_free(c);
		(void)close(cfd);
	}
	(void)migrate_out_free(o);
	return 0;
}
