/*
 * tests/fuzz/replay_main.c - run a fuzz target over committed corpora, without libFuzzer
 *
 * Usage:     fuzz_<x>_replay PATH...   (each PATH is a corpus directory or a single file)
 * Interface: main() calls LLVMFuzzerTestOneInput() once per regular file, in name order,
 *            so every build (gcc, plain, ASan+UBSan, valgrind) replays the corpora as a
 *            ctest test (the Knot DNS pattern). A crash or FUZZ_CHECK() failure aborts the
 *            process, which fails the test; the file being replayed is printed first.
 * Errors:    exit 0 when every input ran, 1 when a path cannot be read or held no input.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Inputs larger than this are a corpus mistake, not a test (libFuzzer's default -max_len
 * is 4096; our biggest seeds are policy bodies near the 64 KiB limit). */
#define REPLAY_INPUT_MAX (1024 * 1024)

static int
replay_file(const char *path, unsigned *ret_n)
{
	FILE *f;
	uint8_t *buf;
	size_t n;
	int r = 0;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_INPUT_MAX);
	if (buf == NULL) {
		(void)fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_INPUT_MAX, f);
	if (ferror(f) || !feof(f)) {
		fprintf(stderr, "replay: %s: read error or larger than %d bytes\n", path,
		        REPLAY_INPUT_MAX);
		r = -1;
	} else {
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
		/* An exact-size copy, so ASan sees reads past the end of the input. */
		uint8_t *in = malloc(n > 0 ? n : 1);

		if (in == NULL) {
			r = -1;
		} else {
			if (n > 0)
				memcpy(in, buf, n);
			(void)LLVMFuzzerTestOneInput(in, n);
			free(in);
			(*ret_n)++;
		}
	}
	free(buf);
	(void)fclose(f);
	return r;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_path(const char *path, unsigned *ret_n)
{
	struct dirent **names;
	struct stat st;
	int i, count, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, ret_n);
	count = scandir(path, &names, NULL, name_cmp);
	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < count; i++) {
		char *child;
		struct stat cst;

		if (names[i]->d_name[0] == '.' || r < 0) {
			free(names[i]);
			continue;
		}
		if (asprintf(&child, "%s/%s", path, names[i]->d_name) < 0) {
			r = -1;
		} else {
			if (stat(child, &cst) == 0 && S_ISREG(cst.st_mode))
				r = replay_file(child, ret_n);
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	unsigned n = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (replay_path(argv[i], &n) < 0)
			return 1;
	}
	fprintf(stderr, "replay: %u inputs ran\n", n);
	return n > 0 ? 0 : 1; /* an empty corpus is a packaging mistake */
}
