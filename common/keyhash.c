/*
 * common/keyhash.c - SipHash-2-4 under a per-process random key (libsodium)
 *
 * Interface: keyhash() (keyhash.h)
 */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "keyhash.h"
#include "log.h"

static unsigned char keyhash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t keyhash_once = PTHREAD_ONCE_INIT;

static void
keyhash_init(void)
{
	if (sodium_init() < 0)
		die("libsodium cannot initialise (no entropy source for the hash tables' key)");
	randombytes_buf(keyhash_key, sizeof(keyhash_key));
}

uint64_t
keyhash(const void *p, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	(void)pthread_once(&keyhash_once, keyhash_init);
	(void)crypto_shorthash(out, p, (unsigned long long)len, keyhash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}
