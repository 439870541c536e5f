/*
 * tests/fuzz/fuzz_cache_decode.c - libFuzzer target for the cache value decoder
 *
 * Input:      a cache value as read back from Valkey/Redis (any bytes: the shared cache is
 *             input too, it may hold another version's data or garbage).
 * Invariants: cache_entry_decode() returns 0 or ERR_CACHE_DECODE; a decoded entry has a
 *             known kind, a NUL-terminated id, and a policy exactly when kind is
 *             CACHE_POLICY; cache_entry_encode() of it decodes to an equal entry, whose
 *             encoding is the same text (encode o decode is the identity on encoder output);
 *             cache_entry_clear() releases everything.
 */
#include <string.h>

#include "cache.h"
#include "err.h"
#include "fuzz.h"

static void
check_same(const struct cache_entry *a, const struct cache_entry *b)
{
	size_t i;

	FUZZ_CHECK(a->kind == b->kind);
	FUZZ_CHECK(strcmp(a->id, b->id) == 0);
	FUZZ_CHECK(a->fetched_at == b->fetched_at);
	FUZZ_CHECK(a->expires_at == b->expires_at);
	FUZZ_CHECK(a->last_check == b->last_check);
	FUZZ_CHECK(a->last_error == b->last_error);
	FUZZ_CHECK(a->retry_after == b->retry_after);
	FUZZ_CHECK((a->policy == NULL) == (b->policy == NULL));
	if (a->policy == NULL)
		return;
	FUZZ_CHECK(a->policy->mode == b->policy->mode);
	FUZZ_CHECK(a->policy->max_age_s == b->policy->max_age_s);
	FUZZ_CHECK(a->policy->n_mx == b->policy->n_mx);
	for (i = 0; i < a->policy->n_mx; i++)
		FUZZ_CHECK(strcmp(a->policy->mx[i], b->policy->mx[i]) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_entry e, e2;
	char *copy = malloc(size > 0 ? size : 1); /* exact size, not NUL-terminated */
	char *enc, *enc2;
	int r;

	FUZZ_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	memset(&e, 0, sizeof(e));
	r = cache_entry_decode(copy, size, &e);
	free(copy);
	if (r != 0) {
		FUZZ_CHECK(r == ERR_CACHE_DECODE);
		cache_entry_clear(&e); /* must be safe on a failed decode */
		return 0;
	}
	FUZZ_CHECK(e.kind == CACHE_POLICY || e.kind == CACHE_NO_POLICY || e.kind == CACHE_TEMPFAIL);
	FUZZ_CHECK(memchr(e.id, '\0', sizeof(e.id)) != NULL);
	FUZZ_CHECK((e.kind == CACHE_POLICY) == (e.policy != NULL));

	enc = cache_entry_encode(&e);
	FUZZ_CHECK(enc != NULL);
	memset(&e2, 0, sizeof(e2));
	r = cache_entry_decode(enc, strlen(enc), &e2);
	if (r != 0)
		fprintf(stderr, "re-decode of the encoder's output failed:\n%s\n", enc);
	FUZZ_CHECK(r == 0);
	check_same(&e, &e2);
	enc2 = cache_entry_encode(&e2);
	FUZZ_CHECK(enc2 != NULL && strcmp(enc, enc2) == 0);

	free(enc);
	free(enc2);
	cache_entry_clear(&e);
	cache_entry_clear(&e2);
	return 0;
}
