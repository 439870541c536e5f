/*
 * common/keyhash.h - the hash of a table whose keys someone else chooses (SipHash-2-4)
 *
 * A hash table keyed by domain names or client addresses is filled by whoever sends mail,
 * names a next hop or connects. With an unkeyed hash (FNV-1a: its low bits depend only on
 * the low bits of the input bytes) anyone can make thousands of keys share one bucket and
 * turn every look-up into a walk of that chain. keyhash() is SipHash-2-4 (libsodium's
 * crypto_shorthash) under a random key drawn once per process, so which keys collide is
 * unknown outside it.
 *
 * Interface: keyhash()
 * Threads:   any; the key is drawn once (pthread_once), then only read.
 * Ownership: none (no allocation).
 * Errors:    none: if libsodium cannot initialise (no entropy source), die() with a
 *            message, as the process could not run safely (sodium_init(3)).
 */
#ifndef MTASTSD_KEYHASH_H
#define MTASTSD_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of len bytes at p under this process's random key. Stable within the
 * process, different in the next one: never store it or use it for anything that must
 * repeat across restarts. */
uint64_t keyhash(const void *p, size_t len);

#endif
