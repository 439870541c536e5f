/*
 * common/curl_global.c - libcurl's process-wide initialisation (curl_global.h)
 */
#include <dlfcn.h>
#include <errno.h>

#include <curl/curl.h>

#include "curl_global.h"

/* libssh2.h: LIBSSH2_INIT_NO_CRYPTO (the header is not installed: libssh2-1-dev is not a
 * build dependency; the value is libssh2's ABI). */
#define CURL_GLOBAL_SSH2_NO_CRYPTO 0x0001

static int curl_global_done;

int
curl_global_once(void)
{
	int (*ssh2_init)(int);

	if (curl_global_done)
		return 0;
	/* POSIX: a function pointer from dlsym() through a union-free cast is allowed. */
	*(void **)&ssh2_init = dlsym(RTLD_DEFAULT, "libssh2_init");
	if (ssh2_init != NULL)
		(void)ssh2_init(CURL_GLOBAL_SSH2_NO_CRYPTO);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	curl_global_done = 1;
	return 0;
}
