/*
 * tests/fuzz/fuzz.h - shared declarations for the libFuzzer targets and the replay driver
 *
 * Interface: LLVMFuzzerTestOneInput() (each fuzz_<x>.c defines it), FUZZ_CHECK()
 * Errors:    FUZZ_CHECK() prints the failed invariant and aborts, in every build type
 *            (assert() is compiled out by -DNDEBUG in RelWithDebInfo, this is not).
 */
#ifndef MTASTSD_FUZZ_H
#define MTASTSD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
