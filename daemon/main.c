/*
 * daemon/main.c - mtastsd entry point (placeholder until the CLI lands)
 */
#include <stdio.h>

#include "log.h"

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("mtastsd %s\n", MTASTSD_VERSION);
	return 0;
}
