/*
 * tests/fuzz/fuzz_redis_reply.c - libFuzzer target for the Valkey/Redis reply handling
 *
 * Input:      byte 0: the command the replies answer (low bits mod 5: GET, LOCK, POLL, PUT,
 *             UNLOCK); byte 1: where to split the stream into two feeds; the rest: RESP
 *             bytes as the server sent them. hiredis' own reader (redisReader, the one the
 *             async context uses, with cache_redis_reader_bound()'s limits) turns them into
 *             replies; each complete reply goes through
 *             cache_redis_reply_classify(), cache_redis_sentinel_parse() and
 *             cache_redis_role_is_master(), and a value through cache_entry_decode() and
 *             cache_entry_bound() as crd_decode() does (at now 1700000000, negative_ttl 300 s,
 *             tempfail_ttl 60 s).
 * Invariants: a known kind; an error reply is ERROR, READONLY or (GET only) WRONGTYPE; a
 *             VALUE is the string element's bytes; lock_acquired only for LOCK and only from
 *             the integer 1, lock_present only for POLL; a value is a hit (decoded and
 *             bounded: known kind, a policy exactly for kind policy, a terminated id,
 *             fetched_at and last_check not in the future beyond the allowed skew, expiry
 *             within max_age or the local negative/tempfail TTL of now) or a miss. A
 *             Sentinel answer accepted is a non-empty host of exactly the element's bytes and
 *             a port 1..65535 written in decimal digits only; ROLE is master only for an
 *             array whose first element is the string "master". No array has more than
 *             CACHE_REDIS_REPLY_ELEMENTS_MAX elements, no string more than CACHE_VALUE_MAX
 *             bytes (libFuzzer's -rss_limit_mb/-malloc_limit_mb catch an allocation the
 *             count alone asks for: finding 12).
 */
#include <string.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "cache_redis.h"
#include "err.h"
#include "fuzz.h"

#define NOW 1700000000

static void
check_value(const char *v, size_t len)
{
	const struct cache_trust t = {.negative_ttl_s = 300, .tempfail_ttl_s = 60};
	struct cache_entry e;
	char why[128];
	int clamped = 0, r;

	memset(&e, 0, sizeof(e));
	r = cache_entry_decode(v, len, &e);
	FUZZ_CHECK(r == 0 || r == ERR_CACHE_DECODE);
	if (r == 0) {
		r = cache_entry_bound(&e, NOW, &t, &clamped, why, sizeof(why));
		FUZZ_CHECK(r == 0 || r == ERR_CACHE_DECODE);
	}
	if (r == 0) { /* a hit */
		FUZZ_CHECK(e.kind == CACHE_POLICY || e.kind == CACHE_NO_POLICY ||
		           e.kind == CACHE_TEMPFAIL);
		FUZZ_CHECK((e.kind == CACHE_POLICY) == (e.policy != NULL));
		FUZZ_CHECK(memchr(e.id, '\0', sizeof(e.id)) != NULL);
		FUZZ_CHECK(e.fetched_at <= NOW + CACHE_CLOCK_SKEW_S);
		FUZZ_CHECK(e.last_check <= NOW);
		if (e.kind == CACHE_POLICY)
			FUZZ_CHECK(e.expires_at <= (time_t)NOW + (time_t)e.policy->max_age_s);
		else if (e.kind == CACHE_NO_POLICY)
			FUZZ_CHECK(e.expires_at <= NOW + t.negative_ttl_s);
		else
			FUZZ_CHECK(e.expires_at <= NOW + t.tempfail_ttl_s &&
			           e.retry_after <= NOW + t.tempfail_ttl_s);
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL || !clamped);
	}
	cache_entry_clear(&e);
}

static void
check_reply(enum cache_redis_cmd cmd, const redisReply *reply)
{
	struct cache_redis_reply_info ri;
	const redisReply *ve = reply;
	char host[256];
	const char *bad;
	int port = -1;
	size_t i;

	FUZZ_CHECK(reply->type != REDIS_REPLY_ARRAY ||
	           reply->elements <= CACHE_REDIS_REPLY_ELEMENTS_MAX);
	FUZZ_CHECK((reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_ERROR &&
	            reply->type != REDIS_REPLY_STATUS) ||
	           reply->len <= CACHE_VALUE_MAX);
	cache_redis_reply_classify(cmd, reply, &ri);
	FUZZ_CHECK(ri.kind >= CACHE_REDIS_REPLY_VALUE && ri.kind <= CACHE_REDIS_REPLY_DONE);
	if (reply->type == REDIS_REPLY_ERROR) {
		FUZZ_CHECK(ri.kind == CACHE_REDIS_REPLY_ERROR ||
		           ri.kind == CACHE_REDIS_REPLY_READONLY ||
		           (ri.kind == CACHE_REDIS_REPLY_WRONGTYPE && cmd == CACHE_REDIS_CMD_GET));
		FUZZ_CHECK(!ri.lock_acquired && !ri.lock_present);
	}
	if (cmd == CACHE_REDIS_CMD_LOCK || cmd == CACHE_REDIS_CMD_POLL) {
		if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
			ve = reply->element[0];
	}
	if (ri.kind == CACHE_REDIS_REPLY_VALUE) {
		FUZZ_CHECK(cmd == CACHE_REDIS_CMD_GET || cmd == CACHE_REDIS_CMD_LOCK ||
		           cmd == CACHE_REDIS_CMD_POLL);
		FUZZ_CHECK(ve->type == REDIS_REPLY_STRING && ri.value == ve->str &&
		           ri.len == ve->len);
		check_value(ri.value, ri.len);
	}
	if (ri.lock_acquired)
		FUZZ_CHECK(cmd == CACHE_REDIS_CMD_LOCK &&
		           reply->element[1]->type == REDIS_REPLY_INTEGER &&
		           reply->element[1]->integer == 1);
	if (ri.lock_present)
		FUZZ_CHECK(cmd == CACHE_REDIS_CMD_POLL);
	if (cmd == CACHE_REDIS_CMD_PUT || cmd == CACHE_REDIS_CMD_UNLOCK)
		FUZZ_CHECK(ri.kind != CACHE_REDIS_REPLY_VALUE && ri.kind != CACHE_REDIS_REPLY_NIL);

	memset(host, 'X', sizeof(host));
	bad = cache_redis_sentinel_parse(reply, host, sizeof(host), &port);
	if (bad == NULL) {
		const redisReply *p = reply->element[1];

		FUZZ_CHECK(reply->type == REDIS_REPLY_ARRAY && reply->elements == 2);
		FUZZ_CHECK(host[0] != '\0' && strlen(host) == reply->element[0]->len);
		FUZZ_CHECK(port >= 1 && port <= 65535);
		FUZZ_CHECK(p->len >= 1);
		for (i = 0; i < p->len; i++)
			FUZZ_CHECK(p->str[i] >= '0' && p->str[i] <= '9');
	} else {
		FUZZ_CHECK(bad[0] != '\0');
	}
	if (cache_redis_role_is_master(reply))
		FUZZ_CHECK(reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
		           reply->element[0]->type == REDIS_REPLY_STRING &&
		           reply->element[0]->len == 6 &&
		           memcmp(reply->element[0]->str, "master", 6) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum cache_redis_cmd cmd;
	redisReader *rd;
	size_t len, split;
	char *buf;
	int n = 0;

	if (size < 2)
		return 0;
	cmd = (enum cache_redis_cmd)(data[0] % 5);
	len = size - 2;
	split = len > 0 ? data[1] % (len + 1) : 0;
	buf = malloc(len > 0 ? len : 1); /* exact size */
	FUZZ_CHECK(buf != NULL);
	if (len > 0)
		memcpy(buf, data + 2, len);
	rd = redisReaderCreate();
	FUZZ_CHECK(rd != NULL);
	cache_redis_reader_bound(rd); /* as every connection's reader */
	if (redisReaderFeed(rd, buf, split) == REDIS_OK &&
	    redisReaderFeed(rd, buf + split, len - split) == REDIS_OK) {
		for (;;) {
			void *reply = NULL;

			if (redisReaderGetReply(rd, &reply) != REDIS_OK || reply == NULL)
				break;
			check_reply(cmd, reply);
			freeReplyObject(reply);
			if (++n > 1000)
				break;
		}
	}
	redisReaderFree(rd);
	free(buf);
	return 0;
}
