/*
 * resolver/cache_redis.c - the shared policy cache tier on Valkey/Redis (docs/cache.md)
 *
 * Interface: see cache_redis.h
 * Design:    one hiredis 0.14 async context for the primary, driven by our loop through the
 *            five ev hooks (docs/style.md section 9). Each context gets a small struct crd_io
 *            (fd, events registered); the io callback calls redisAsyncHandleRead/Write and
 *            survives the context being freed inside them (hiredis calls our cleanup hook
 *            from there). Connection: [Sentinel query] -> connect -> AUTH [user] pass ->
 *            SELECT db -> ROLE (Sentinel mode only: must be "master") -> PING; the tier is
 *            UP when PING answers, the whole handshake bounded by connect_timeout. Every
 *            command (reads, writes, lock, unlock) has its own loop_timer; when one fires,
 *            redisAsyncFree() drops the connection (not redisAsyncDisconnect(), which waits
 *            for the replies), hiredis completes every pending command with a NULL reply,
 *            which we report as ERR_CACHE_UNAVAILABLE, and we reconnect with backoff.
 *            Commands are only sent while UP; otherwise reads return NULL at once.
 *            Sentinel mode: while UP, a third context asks a Sentinel for the primary every
 *            CACHE_REDIS_SENTINEL_CHECK_MS; another answer drops the connection (a failover
 *            that left the old primary reachable, still a master for a while).
 * Threads:   main loop only.
 * Ownership: requests are freed after hiredis calls back (reply or NULL); a canceled
 *            request stays allocated until then, with no user callback.
 * Errors:    outages and recoveries logged once each (with what happens next), corrupt
 *            values logged (at most once a second), everything counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache_redis.h"
#include "domain.h"
#include "err.h"
#include "log.h"
#include "stats.h"
#include "xalloc.h"

/* Newer-wins write. KEYS[1] value key; ARGV: value, ttl ms, 1 = policy / 0 = negative,
 * fetched_at, now. A stored policy that parses (header, body length) is kept when it is
 * newer than the policy written, or when a negative entry is written while it is still
 * unexpired. A fetched_at more than 300 s (CACHE_CLOCK_SKEW_S) in the future is taken as
 * garbage, and the stored expiry counts only up to fetched_at + the body's max_age (at most
 * STS_MAX_AGE_MAX), as readers hold it (cache_entry_bound()): a value claiming more is
 * replaced by a fresh discovery. Anything that does not parse is overwritten, and so is a
 * key of another type (GET fails WRONGTYPE; SET replaces any type). Returns 1 written, 0
 * refused. */
static const char crd_put_lua[] =
        "local old = redis.pcall('GET', KEYS[1])\n"
        "if type(old) == 'string' and string.sub(old, 1, 16) == 'mtastsd-cache 1\\n' then\n"
        "  local k = string.match(old, '\\nkind ([%a-]+)\\n')\n"
        "  local fa = tonumber(string.match(old, '\\nfetched_at (%d+)\\n'))\n"
        "  local ea = tonumber(string.match(old, '\\nexpires_at (%d+)\\n'))\n"
        "  local _, hend, blen = string.find(old, '\\nbody (%d+)\\n')\n"
        "  local now = tonumber(ARGV[5])\n"
        "  local ma = tonumber(string.match(old, '\\nmax_age: (%d+)\\r?\\n'))\n"
        "  if fa and ea and ma and ea > fa + math.min(ma, 31557600) then\n"
        "    ea = fa + math.min(ma, 31557600)\n"
        "  end\n"
        "  if k == 'policy' and fa and ea and ma and hend and #old - hend == tonumber(blen)\n"
        "     and fa <= now + 300 then\n"
        "    if ARGV[3] == '1' then\n"
        "      if fa > tonumber(ARGV[4]) then return 0 end\n"
        "    elseif ea > now then\n"
        "      return 0\n"
        "    end\n"
        "  end\n"
        "end\n"
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
        "return 1\n";

/* The start of every script that reads the value key KEYS[1]: v is its value, nil (false),
 * an error table (another type), or, for a value longer than ARGV[#ARGV] (CACHE_VALUE_MAX),
 * the short string "mtastsd-oversized", which no decoder accepts (a corrupt value). So no
 * reply carries more than CACHE_VALUE_MAX bytes of value: hiredis 0.14 buffers a bulk string
 * whole before its reply builder can refuse it, so a GET of a 500 MB value (anyone who can
 * write to Valkey can store one) made this process read and hold 500 MB, and then dropped
 * the connection as an outage. */
#define CRD_READ_LUA                                                                               \
	"local n = redis.pcall('STRLEN', KEYS[1])\n"                                               \
	"local v\n"                                                                                \
	"if type(n) == 'number' and n > tonumber(ARGV[#ARGV]) then\n"                              \
	"  v = 'mtastsd-oversized'\n"                                                              \
	"else\n"                                                                                   \
	"  v = redis.pcall('GET', KEYS[1])\n"                                                      \
	"end\n"

/* Read the value. KEYS: value key; ARGV: CACHE_VALUE_MAX. Returns the value, nil, or the
 * WRONGTYPE error of GET. */
static const char crd_get_lua[] = CRD_READ_LUA "return v\n";

/* Read the value and whether the lock is held. KEYS: value key, lock key; ARGV:
 * CACHE_VALUE_MAX. Returns {value or nil, 1 or nil} (as MGET would, without the lock's
 * value: a key of another type reads as nil). */
static const char crd_poll_lua[] =
        CRD_READ_LUA "if type(v) == 'table' then v = false end\n"
                     "local l = redis.pcall('GET', KEYS[2])\n"
                     "if type(l) ~= 'string' then l = false else l = 1 end\n"
                     "return {v, l}\n";

/* Read the value and take the lock. KEYS: value key, lock key; ARGV: token, ttl ms,
 * CACHE_VALUE_MAX.
 * Returns {value or nil, 1 acquired / 0 busy}, or {nil, got, 1} when the value key holds
 * another type than a string. A lock key that is not ours and is of another type, or has no
 * TTL (we always set one), was not written by mtastsd: it is taken over, or no node would
 * ever fetch that domain again. */
static const char crd_lock_lua[] =
        CRD_READ_LUA "local wrong = type(v) == 'table'\n"
                     "local got = 0\n"
                     "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
                     "  got = 1\n"
                     "else\n"
                     "  local l = redis.pcall('GET', KEYS[2])\n"
                     "  if l == ARGV[1] then\n"
                     "    redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
                     "    got = 1\n"
                     "  elseif type(l) == 'table' or redis.call('PTTL', KEYS[2]) == -1 then\n"
                     "    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
                     "    got = 1\n"
                     "  end\n"
                     "end\n"
                     "if wrong then return {false, got, 1} end\n"
                     "return {v, got}\n";

/* Delete the lock only while it holds our token. KEYS[1] lock key; ARGV[1] token. */
static const char crd_unlock_lua[] = "if redis.pcall('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  return redis.call('DEL', KEYS[1])\n"
                                     "end\n"
                                     "return 0\n";

/* Corrupt-value log lines: at most one per this many ms (others at debug level). */
#define CRD_CORRUPT_LOG_INTERVAL_MS 1000
#define CRD_TOKEN_MAX               128
#define CRD_HOST_MAX                256

struct cache_redis_req {
	struct cache_redis *rc;
	struct cache_redis_req *prev, *next; /* rc->pending */
	enum cache_redis_cmd op;
	cache_redis_fn *fn; /* NULL for writes and after cancel */
	void *arg;
	struct loop_timer timer;
	char dom[DOMAIN_BUF];
};

/* One per hiredis context: what our loop watches for it. */
struct crd_io {
	struct cache_redis *rc;
	redisAsyncContext *ac;
	int fd;
	unsigned events;
	int added;
	int in_cb; /* inside crd_io_cb: cleanup must not free us */
	int dead;  /* cleanup ran while in_cb */
};

struct cache_redis {
	struct loop *loop;
	/* configuration (copied) */
	char host[CRD_HOST_MAX]; /* IP literal or unix path */
	int port, is_unix;
	char *address; /* as configured, for logs */
	unsigned db;
	char *username, *password;
	char prefix[CACHE_REDIS_PREFIX_MAX + 1];
	uint64_t connect_timeout_ms, command_timeout_ms;
	size_t n_sentinels;
	char **sentinels;
	char *master;
	size_t sentinel_idx;
	char token[CRD_TOKEN_MAX];
	/* connection */
	enum cache_redis_state state;
	redisAsyncContext *ac;       /* the primary */
	redisAsyncContext *sac;      /* a Sentinel being asked */
	redisAsyncContext *wac;      /* the Sentinel watched while up (kept open) */
	char cur[CRD_HOST_MAX + 16]; /* "ip:port" of the primary in use, for logs */
	char cur_host[CRD_HOST_MAX];
	int cur_port;
	struct loop_timer conn_timer;      /* connect + handshake deadline */
	struct loop_timer reconnect_timer; /* backoff */
	struct loop_timer watch_timer;     /* next Sentinel check, or its deadline */
	uint64_t backoff_ms;
	int in_outage, ever_up, freeing;
	uint64_t outage_start_ms;
	char errbuf[256];
	struct cache_redis_req *pending;
	size_t n_pending;
	struct log_rate corrupt_log; /* warnings about values (CRD_CORRUPT_LOG_INTERVAL_MS) */
	struct cache_trust trust;    /* what values read are held to */
	cache_redis_up_fn *up_fn;
	void *up_arg;
	struct cache_redis_counters ctr;
};

static void crd_connect(struct cache_redis *rc);
static void crd_watch_close(struct cache_redis *rc);
static void crd_watch_arm(struct cache_redis *rc);

/* ---- pure helpers ---- */

int
cache_redis_key(const char *prefix, enum cache_redis_kind kind, const char *dom, char *buf,
                size_t size)
{
	int n = snprintf(buf, size, "%s:v1:%s:%s", prefix,
	                 kind == CACHE_REDIS_KEY_LOCK ? "lock" : "sts", dom);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

uint64_t
cache_redis_ttl_ms(const struct cache_entry *e, time_t now)
{
	time_t until = e->expires_at;
	uint64_t ms;

	if (e->expires_at <= now)
		return 0;
	if (e->kind == CACHE_POLICY)
		until += CACHE_REDIS_TTL_SLACK_S;
	ms = (uint64_t)(until - now) * 1000;
	if (ms < CACHE_REDIS_TTL_MIN_MS)
		ms = CACHE_REDIS_TTL_MIN_MS;
	return ms;
}

int
cache_redis_address_parse(const char *addr, char *host, size_t hostsize, int *ret_port,
                          int *ret_unix)
{
	const char *colon, *h = addr, *hend;
	char *end;
	long port;

	if (addr == NULL || addr[0] == '\0')
		return -EINVAL;
	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '/' || strlen(addr + 5) >= hostsize)
			return -EINVAL;
		(void)snprintf(host, hostsize, "%s", addr + 5);
		*ret_port = 0;
		*ret_unix = 1;
		return 0;
	}
	if (addr[0] == '[') {
		h = addr + 1;
		hend = strchr(h, ']');
		if (hend == NULL || hend[1] != ':')
			return -EINVAL;
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return -EINVAL;
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= hostsize)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*ret_port = (int)port;
	*ret_unix = 0;
	return 0;
}

const char *
cache_redis_state_name(enum cache_redis_state s)
{
	switch (s) {
	case CACHE_REDIS_DOWN:
		return "down";
	case CACHE_REDIS_CONNECTING:
		return "connecting";
	case CACHE_REDIS_UP:
		return "connected";
	}
	return "down";
}

/* ---- loop adapter (the hiredis ev hooks) ---- */

static void crd_io_cb(struct loop *loop, int fd, unsigned events, void *arg);

static void
crd_io_set(struct crd_io *io, unsigned add, unsigned del)
{
	unsigned ev = (io->events | add) & ~del;

	if (io->added && ev == io->events)
		return;
	io->events = ev;
	if (!io->added) {
		if (loop_io_add(io->rc->loop, io->fd, ev, crd_io_cb, io) == 0)
			io->added = 1;
		return;
	}
	(void)loop_io_mod(io->rc->loop, io->fd, ev);
}

static void
crd_ev_add_read(void *privdata)
{
	crd_io_set(privdata, LOOP_READ, 0);
}

static void
crd_ev_del_read(void *privdata)
{
	crd_io_set(privdata, 0, LOOP_READ);
}

static void
crd_ev_add_write(void *privdata)
{
	crd_io_set(privdata, LOOP_WRITE, 0);
}

static void
crd_ev_del_write(void *privdata)
{
	crd_io_set(privdata, 0, LOOP_WRITE);
}

static void crd_lost(struct cache_redis *rc, const char *why, int was_up);

/* hiredis frees a context (error, EOF, or redisAsyncFree): stop watching its fd. When it was
 * the connection in use, the loss was not ours: record it. */
static void
crd_ev_cleanup(void *privdata)
{
	struct crd_io *io = privdata;
	struct cache_redis *rc = io->rc;
	redisAsyncContext *ac = io->ac;

	if (io->added)
		loop_io_del(rc->loop, io->fd);
	io->added = 0;
	io->events = 0;
	io->ac = NULL;
	if (io->in_cb)
		io->dead = 1;
	else
		free(io);
	if (ac == rc->wac)
		rc->wac = NULL; /* closed between two checks: the next one reconnects */
	if (ac == rc->ac || ac == rc->sac) {
		const char *why = rc->errbuf[0] != '\0'
		                          ? rc->errbuf
		                          : (ac->errstr != NULL && ac->errstr[0] != '\0'
		                                     ? ac->errstr
		                                     : "connection closed");
		char reason[sizeof(rc->errbuf) + 16]; /* "sentinel: " + errbuf */

		(void)snprintf(reason, sizeof(reason), "%s%s", ac == rc->sac ? "sentinel: " : "",
		               why);
		if (ac == rc->ac) {
			rc->ac = NULL;
		} else {
			rc->sac = NULL;
			rc->sentinel_idx++; /* ask the next one next time */
		}
		if (!rc->freeing)
			crd_lost(rc, reason, rc->state == CACHE_REDIS_UP);
	}
}

static void
crd_io_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct crd_io *io = arg;

	io->in_cb = 1;
	if ((events & (LOOP_READ | LOOP_ERROR)) && (io->events & LOOP_READ) && io->ac != NULL)
		redisAsyncHandleRead(io->ac);
	if (!io->dead && io->ac != NULL && (events & (LOOP_WRITE | LOOP_ERROR)) &&
	    (io->events & LOOP_WRITE))
		redisAsyncHandleWrite(io->ac);
	io->in_cb = 0;
	if (io->dead)
		free(io);
}

/* hiredis 0.14's own reply builders (static in hiredis.c: taken from the first reader),
 * and the same with our bounds in front (cache_redis_reader_bound()). */
static const redisReplyObjectFunctions *crd_default_fns;
static redisReplyObjectFunctions crd_bounded_fns;

static void *
crd_create_array(const redisReadTask *task, int elements)
{
	if (elements > CACHE_REDIS_REPLY_ELEMENTS_MAX)
		return NULL; /* the reader fails ("Out of memory"): the connection is dropped */
	return crd_default_fns->createArray(task, elements);
}

static void *
crd_create_string(const redisReadTask *task, char *str, size_t len)
{
	if (len > CACHE_VALUE_MAX)
		return NULL;
	return crd_default_fns->createString(task, str, len);
}

void
cache_redis_reader_bound(redisReader *r)
{
	if (r == NULL || r->fn == NULL)
		return;
	if (crd_default_fns == NULL) {
		crd_default_fns = r->fn;
		crd_bounded_fns = *r->fn;
		crd_bounded_fns.createArray = crd_create_array;
		crd_bounded_fns.createString = crd_create_string;
	}
	if (r->fn == crd_default_fns)
		r->fn = &crd_bounded_fns;
}

static void
crd_attach(struct cache_redis *rc, redisAsyncContext *ac)
{
	struct crd_io *io = xcalloc(1, sizeof(*io));

	io->rc = rc;
	io->ac = ac;
	io->fd = ac->c.fd;
	ac->ev.data = io;
	ac->ev.addRead = crd_ev_add_read;
	ac->ev.delRead = crd_ev_del_read;
	ac->ev.addWrite = crd_ev_add_write;
	ac->ev.delWrite = crd_ev_del_write;
	ac->ev.cleanup = crd_ev_cleanup;
	ac->data = rc;
	cache_redis_reader_bound(ac->c.reader);
}

/* ---- connection state ---- */

static void
crd_reconnect_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	crd_connect(arg);
}

/* The connection (or an attempt) is gone: log the outage once, back off, reconnect. */
static void
crd_lost(struct cache_redis *rc, const char *why, int was_up)
{
	uint64_t now = loop_now_ms(rc->loop);

	loop_timer_stop(rc->loop, &rc->conn_timer);
	crd_watch_close(rc);
	if (!was_up)
		rc->ctr.connect_failures++;
	rc->state = CACHE_REDIS_DOWN;
	rc->ctr.errors++;
	if (!rc->in_outage) {
		rc->in_outage = 1;
		rc->outage_start_ms = now;
		rc->ctr.outages++;
		log_warn("cache.redis: %s unavailable (%s): lookups use the memory cache and "
		         "fetch directly until it is back; reconnecting",
		         rc->cur[0] != '\0' ? rc->cur : rc->address, why);
	} else {
		log_debug("cache.redis: %s still unavailable (%s), next attempt in %" PRIu64 " ms",
		          rc->cur[0] != '\0' ? rc->cur : rc->address, why, rc->backoff_ms);
	}
	rc->errbuf[0] = '\0';
	loop_timer_start(rc->loop, &rc->reconnect_timer, rc->backoff_ms, crd_reconnect_timer, rc);
	rc->backoff_ms *= 2;
	if (rc->backoff_ms > CACHE_REDIS_BACKOFF_MAX_MS)
		rc->backoff_ms = CACHE_REDIS_BACKOFF_MAX_MS;
}

/* Drop the primary connection ourselves: every pending command completes with NULL. */
static void
crd_drop(struct cache_redis *rc, const char *why)
{
	redisAsyncContext *ac = rc->ac, *sac = rc->sac;
	int was_up = rc->state == CACHE_REDIS_UP;

	rc->ac = NULL;
	rc->sac = NULL;
	rc->state = CACHE_REDIS_DOWN;
	crd_watch_close(rc);
	if (sac != NULL)
		redisAsyncFree(sac);
	if (ac != NULL)
		redisAsyncFree(ac);
	if (!rc->freeing)
		crd_lost(rc, why, was_up);
}

static void
crd_conn_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct cache_redis *rc = arg;
	char why[96];

	(void)snprintf(why, sizeof(why), "no %s within connect_timeout %" PRIu64 " ms",
	               rc->sac != NULL ? "Sentinel answer" : "connection", rc->connect_timeout_ms);
	if (rc->sac != NULL)
		rc->sentinel_idx++;
	crd_drop(rc, why);
}

static void
crd_up(struct cache_redis *rc)
{
	uint64_t now = loop_now_ms(rc->loop);

	loop_timer_stop(rc->loop, &rc->conn_timer);
	rc->state = CACHE_REDIS_UP;
	rc->backoff_ms = CACHE_REDIS_BACKOFF_MIN_MS;
	rc->ctr.connects++;
	if (rc->in_outage) {
		rc->in_outage = 0;
		log_notice("cache.redis: %s reachable again after %" PRIu64
		           " ms, shared cache in use",
		           rc->cur, now - rc->outage_start_ms);
		if (rc->up_fn != NULL)
			rc->up_fn(rc, rc->up_arg);
	} else if (!rc->ever_up) {
		log_info("cache.redis: connected to %s (db %u, prefix \"%s\")", rc->cur, rc->db,
		         rc->prefix);
	}
	rc->ever_up = 1;
	crd_watch_arm(rc);
}

/* Handshake replies: privdata names the step. */
static const char crd_step_auth[] = "AUTH";
static const char crd_step_select[] = "SELECT";
static const char crd_step_role[] = "ROLE";
static const char crd_step_ping[] = "PING";

int
cache_redis_role_is_master(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
	       reply->element[0]->type == REDIS_REPLY_STRING && reply->element[0]->len == 6 &&
	       memcmp(reply->element[0]->str, "master", 6) == 0;
}

static void
crd_handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_redis *rc = ac->data;
	redisReply *reply = r;
	const char *step = privdata;
	char why[256];

	if (reply == NULL || ac != rc->ac)
		return; /* the connection is going away; already accounted for */
	if (reply->type == REDIS_REPLY_ERROR) {
		(void)snprintf(why, sizeof(why), "%s refused: %.*s", step, 200, reply->str);
		crd_drop(rc, why);
		return;
	}
	if (step == crd_step_role) {
		if (!cache_redis_role_is_master(reply)) {
			crd_drop(rc, "the server Sentinel named is not a master (failover in "
			             "progress?)");
			return;
		}
	}
	if (step == crd_step_ping)
		crd_up(rc);
}

static void
crd_on_connect(const redisAsyncContext *ac, int status)
{
	struct cache_redis *rc = ac->data;

	if (status != REDIS_OK && (ac == rc->ac || ac == rc->sac))
		(void)snprintf(rc->errbuf, sizeof(rc->errbuf), "%s",
		               ac->errstr != NULL ? ac->errstr : "connect failed");
}

static void
crd_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cache_redis *rc = ac->data;

	if (status != REDIS_OK && (ac == rc->ac || ac == rc->sac))
		(void)snprintf(rc->errbuf, sizeof(rc->errbuf), "%s",
		               ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr
		                                                           : "connection lost");
}

/* A new context to host:port (or a unix path); NULL when it failed at once, with the reason
 * in why. */
static redisAsyncContext *
crd_open_ctx(struct cache_redis *rc, const char *host, int port, int is_unix, char *why,
             size_t whysize)
{
	redisAsyncContext *ac;

	ac = is_unix ? redisAsyncConnectUnix(host) : redisAsyncConnect(host, port);
	if (ac == NULL) {
		(void)snprintf(why, whysize, "cannot allocate a connection");
		return NULL;
	}
	if (ac->err != 0) {
		(void)snprintf(why, whysize, "%s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	crd_attach(rc, ac);
	(void)redisAsyncSetConnectCallback(ac, crd_on_connect); /* arms the write event */
	(void)redisAsyncSetDisconnectCallback(ac, crd_on_disconnect);
	return ac;
}

/* crd_open_ctx(), a failure logged and handled via crd_lost. */
static redisAsyncContext *
crd_open(struct cache_redis *rc, const char *host, int port, int is_unix)
{
	redisAsyncContext *ac;
	char why[300];

	ac = crd_open_ctx(rc, host, port, is_unix, why, sizeof(why));
	if (ac == NULL)
		crd_lost(rc, why, 0);
	return ac;
}

static void
crd_connect_primary(struct cache_redis *rc, const char *host, int port, int is_unix)
{
	redisAsyncContext *ac;
	const char *argv[3];
	size_t argvlen[3];
	char db[16];
	int argc = 0;

	if (is_unix)
		(void)snprintf(rc->cur, sizeof(rc->cur), "unix:%s", host);
	else if (strchr(host, ':') != NULL)
		(void)snprintf(rc->cur, sizeof(rc->cur), "[%s]:%d", host, port);
	else
		(void)snprintf(rc->cur, sizeof(rc->cur), "%s:%d", host, port);
	loop_timer_start(rc->loop, &rc->conn_timer, rc->connect_timeout_ms, crd_conn_timeout, rc);
	ac = crd_open(rc, host, port, is_unix);
	if (ac == NULL)
		return;
	rc->ac = ac;
	rc->state = CACHE_REDIS_CONNECTING;
	if (rc->password != NULL) {
		argv[argc] = "AUTH";
		argvlen[argc++] = 4;
		if (rc->username != NULL) {
			argv[argc] = rc->username;
			argvlen[argc] = strlen(rc->username);
			argc++;
		}
		argv[argc] = rc->password;
		argvlen[argc] = strlen(rc->password);
		argc++;
		(void)redisAsyncCommandArgv(ac, crd_handshake_cb, (void *)crd_step_auth, argc, argv,
		                            argvlen);
	}
	if (rc->db != 0) {
		(void)snprintf(db, sizeof(db), "%u", rc->db);
		argv[0] = "SELECT";
		argvlen[0] = 6;
		argv[1] = db;
		argvlen[1] = strlen(db);
		(void)redisAsyncCommandArgv(ac, crd_handshake_cb, (void *)crd_step_select, 2, argv,
		                            argvlen);
	}
	if (rc->n_sentinels > 0) {
		argv[0] = "ROLE";
		argvlen[0] = 4;
		(void)redisAsyncCommandArgv(ac, crd_handshake_cb, (void *)crd_step_role, 1, argv,
		                            argvlen);
	}
	argv[0] = "PING";
	argvlen[0] = 4;
	if (redisAsyncCommandArgv(ac, crd_handshake_cb, (void *)crd_step_ping, 1, argv, argvlen) !=
	    REDIS_OK)
		crd_drop(rc, "cannot queue the handshake");
}

const char *
cache_redis_sentinel_parse(const redisReply *reply, char *host, size_t hostsize, int *ret_port)
{
	long port;
	char *end;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len >= hostsize ||
	    reply->element[0]->len == 0 ||
	    memchr(reply->element[0]->str, '\0', reply->element[0]->len) != NULL)
		return "Sentinel does not know the master name";
	if (reply->element[1]->len == 0 || reply->element[1]->str[0] < '0' ||
	    reply->element[1]->str[0] > '9' ||
	    memchr(reply->element[1]->str, '\0', reply->element[1]->len) != NULL)
		return "Sentinel answered a bad port"; /* decimal digits only: no sign, no space */
	memcpy(host, reply->element[0]->str, reply->element[0]->len);
	host[reply->element[0]->len] = '\0';
	port = strtol(reply->element[1]->str, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return "Sentinel answered a bad port";
	*ret_port = (int)port;
	return NULL;
}

/* The master a Sentinel named is host:port: log a change (a failover) and remember it. */
static void
crd_sentinel_names(struct cache_redis *rc, const char *host, int port)
{
	if (strcmp(rc->cur_host, host) == 0 && rc->cur_port == port)
		return;
	if (rc->cur_host[0] != '\0')
		log_notice("cache.redis: Sentinel %s names %s:%d as master \"%s\" (was %s), "
		           "following it",
		           rc->sentinels[rc->sentinel_idx % rc->n_sentinels], host, port,
		           rc->master, rc->cur);
	(void)snprintf(rc->cur_host, sizeof(rc->cur_host), "%s", host);
	rc->cur_port = port;
}

static void
crd_sentinel_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_redis *rc = ac->data;
	redisReply *reply = r;
	char host[CRD_HOST_MAX];
	const char *bad;
	int port;

	(void)privdata;
	if (reply == NULL || ac != rc->sac)
		return;
	rc->ctr.sentinel_queries++;
	bad = cache_redis_sentinel_parse(reply, host, sizeof(host), &port);
	if (bad != NULL) {
		rc->ctr.sentinel_failures++;
		rc->sentinel_idx++;
		crd_drop(rc, bad);
		return;
	}
	/* Done with this Sentinel (freed after this callback returns). */
	rc->sac = NULL;
	redisAsyncFree(ac);
	crd_sentinel_names(rc, host, port);
	crd_connect_primary(rc, host, port, 0);
}

/* ---- Sentinel watch ----
 * A failover does not always close our connection to the old primary: the Sentinel
 * reconfigures (and disconnects the clients of) a demoted primary only when it sees it
 * again, about ten seconds later after SENTINEL FAILOVER, or when a stopped or partitioned
 * one comes back. Meanwhile it still says "master" and accepts our writes, which its
 * resynchronisation then discards. So while up, the Sentinels are asked every
 * CACHE_REDIS_SENTINEL_CHECK_MS on a connection kept open for it; when they name another
 * primary, the connection is dropped and the usual path connects to the new one. A Sentinel
 * that fails a check costs nothing but a debug line: the next check asks the next one. */

static void
crd_watch_close(struct cache_redis *rc)
{
	redisAsyncContext *wac = rc->wac;

	loop_timer_stop(rc->loop, &rc->watch_timer);
	rc->wac = NULL;
	if (wac != NULL)
		redisAsyncFree(wac); /* its pending check completes with NULL: ignored */
}

static void crd_watch_tick(struct loop *loop, struct loop_timer *t, void *arg);

/* Schedule the next check (Sentinel mode, while up). */
static void
crd_watch_arm(struct cache_redis *rc)
{
	if (rc->n_sentinels > 0 && rc->state == CACHE_REDIS_UP && !rc->freeing)
		loop_timer_start(rc->loop, &rc->watch_timer, CACHE_REDIS_SENTINEL_CHECK_MS,
		                 crd_watch_tick, rc);
}

/* A check failed: close the watch connection (when not already going away), ask the next
 * Sentinel next time. */
static void
crd_watch_failed(struct cache_redis *rc, const char *why)
{
	rc->ctr.sentinel_failures++;
	log_debug("cache.redis: Sentinel %s: %s; still using %s, next check in %d ms",
	          rc->sentinels[rc->sentinel_idx % rc->n_sentinels], why, rc->cur,
	          CACHE_REDIS_SENTINEL_CHECK_MS);
	rc->sentinel_idx++;
	crd_watch_close(rc);
	crd_watch_arm(rc);
}

static void
crd_watch_deadline(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct cache_redis *rc = arg;
	char why[96];

	(void)snprintf(why, sizeof(why), "no answer within command_timeout %" PRIu64 " ms",
	               rc->command_timeout_ms);
	crd_watch_failed(rc, why);
}

static void
crd_watch_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_redis *rc = ac->data;
	redisReply *reply = r;
	char host[CRD_HOST_MAX], why[CRD_HOST_MAX + 64];
	const char *bad;
	int port;

	(void)privdata;
	if (ac != rc->wac)
		return; /* closed by us: deadline, drop, shutdown */
	loop_timer_stop(rc->loop, &rc->watch_timer);
	if (reply == NULL) {
		rc->wac = NULL; /* hiredis is freeing it */
		crd_watch_failed(rc, ac->errstr != NULL && ac->errstr[0] != '\0'
		                             ? ac->errstr
		                             : "connection lost");
		return;
	}
	rc->ctr.sentinel_queries++;
	bad = cache_redis_sentinel_parse(reply, host, sizeof(host), &port);
	if (bad != NULL) {
		crd_watch_failed(rc, bad);
		return;
	}
	if (strcmp(rc->cur_host, host) == 0 && rc->cur_port == port) {
		crd_watch_arm(rc);
		return;
	}
	crd_sentinel_names(rc, host, port);
	(void)snprintf(why, sizeof(why), "Sentinel names %s:%d as the master now", host, port);
	crd_drop(rc, why); /* reconnects through the Sentinels, to the new primary */
}

static void
crd_watch_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct cache_redis *rc = arg;
	const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", rc->master};
	size_t argvlen[3] = {8, 23, strlen(rc->master)};
	char why[300];

	if (rc->state != CACHE_REDIS_UP)
		return;
	if (rc->wac == NULL) {
		const char *s = rc->sentinels[rc->sentinel_idx % rc->n_sentinels];
		char host[CRD_HOST_MAX];
		int port, is_unix;

		if (cache_redis_address_parse(s, host, sizeof(host), &port, &is_unix) < 0) {
			crd_watch_failed(rc, "bad Sentinel address");
			return;
		}
		rc->wac = crd_open_ctx(rc, host, port, is_unix, why, sizeof(why));
		if (rc->wac == NULL) {
			crd_watch_failed(rc, why);
			return;
		}
	}
	if (redisAsyncCommandArgv(rc->wac, crd_watch_cb, NULL, 3, argv, argvlen) != REDIS_OK) {
		crd_watch_failed(rc, "cannot queue the query");
		return;
	}
	loop_timer_start(rc->loop, &rc->watch_timer, rc->command_timeout_ms, crd_watch_deadline,
	                 rc);
}

static void
crd_connect(struct cache_redis *rc)
{
	loop_timer_start(rc->loop, &rc->conn_timer, rc->connect_timeout_ms, crd_conn_timeout, rc);
	rc->state = CACHE_REDIS_CONNECTING;
	rc->errbuf[0] = '\0';
	if (rc->n_sentinels > 0) {
		const char *s = rc->sentinels[rc->sentinel_idx % rc->n_sentinels];
		char host[CRD_HOST_MAX];
		const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", rc->master};
		size_t argvlen[3] = {8, 23, strlen(rc->master)};
		int port, is_unix;
		redisAsyncContext *ac;

		if (cache_redis_address_parse(s, host, sizeof(host), &port, &is_unix) < 0) {
			rc->sentinel_idx++;
			crd_lost(rc, "bad Sentinel address", 0);
			return;
		}
		ac = crd_open(rc, host, port, is_unix);
		if (ac == NULL) {
			rc->sentinel_idx++;
			return;
		}
		rc->sac = ac;
		if (redisAsyncCommandArgv(ac, crd_sentinel_cb, NULL, 3, argv, argvlen) !=
		    REDIS_OK) {
			rc->sentinel_idx++;
			crd_drop(rc, "cannot queue the Sentinel query");
		}
		return;
	}
	crd_connect_primary(rc, rc->host, rc->port, rc->is_unix);
}

/* ---- requests ---- */

static void
crd_req_free(struct cache_redis_req *rq)
{
	struct cache_redis *rc = rq->rc;

	loop_timer_stop(rc->loop, &rq->timer);
	if (rq->prev != NULL)
		rq->prev->next = rq->next;
	else
		rc->pending = rq->next;
	if (rq->next != NULL)
		rq->next->prev = rq->prev;
	rc->n_pending--;
	free(rq);
}

static void
crd_req_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct cache_redis_req *rq = arg;
	struct cache_redis *rc = rq->rc;
	char why[128];

	rc->ctr.timeouts++;
	(void)snprintf(why, sizeof(why),
	               "a command took longer than command_timeout %" PRIu64 " ms",
	               rc->command_timeout_ms);
	crd_drop(rc, why); /* rq completes (NULL reply) and is freed in there */
}

/* Whether a warning about a value may be logged now (at most one a second, the rest at
 * debug level). */
static int
crd_log_ok(struct cache_redis *rc)
{
	uint64_t held;

	return log_rate_due(&rc->corrupt_log, loop_now_ms(rc->loop), CRD_CORRUPT_LOG_INTERVAL_MS,
	                    &held);
}

/* Hold a decoded value to what it can prove (cache_entry_bound()). Returns 0 (used,
 * perhaps lowered), or ERR_CACHE_DECODE (refused: e cleared; logged, counted). */
static int
crd_bound(struct cache_redis *rc, const char *dom, struct cache_entry *e)
{
	time_t now = loop_wall_s(rc->loop);
	char why[128];
	int clamped = 0;

	if (cache_entry_bound(e, now, &rc->trust, &clamped, why, sizeof(why)) < 0) {
		rc->ctr.untrusted++;
		rc->ctr.corrupt++;
		cache_entry_clear(e);
		if (crd_log_ok(rc))
			log_dom_warn(dom,
			             "untrusted value in the shared cache (%s): ignoring it, a "
			             "fresh discovery replaces it",
			             why);
		else
			log_dom_debug(dom, "untrusted value in the shared cache (%s), ignoring it",
			              why);
		return ERR_CACHE_DECODE;
	}
	if (clamped) {
		rc->ctr.clamped++;
		if (!crd_log_ok(rc))
			log_dom_debug(dom, "shared cache entry held to the local rules (%s)", why);
		else if (e->expires_at > now)
			log_dom_notice(dom,
			               "%s entry in the shared cache held to the local rules (%s): "
			               "it applies for %lld s more",
			               cache_kind_name(e->kind), why,
			               (long long)(e->expires_at - now));
		else
			log_dom_notice(dom,
			               "%s entry in the shared cache held to the local rules (%s): "
			               "expired, a fresh discovery replaces it",
			               cache_kind_name(e->kind), why);
	}
	return 0;
}

/* Decode a stored value and hold it to the local rules. Returns 0, or ERR_CACHE_DECODE
 * (logged, rate-limited). */
static int
crd_decode(struct cache_redis *rc, const char *dom, const char *data, size_t len,
           struct cache_entry *e)
{
	char shown[64];

	if (cache_entry_decode(data, len, e) == 0)
		return crd_bound(rc, dom, e);
	rc->ctr.corrupt++;
	(void)log_printable(shown, sizeof(shown), data, len < 40 ? len : 40);
	if (crd_log_ok(rc)) {
		log_dom_warn(dom,
		             "corrupt value in the shared cache (%zu bytes, starting \"%s\"): "
		             "ignoring it, the next write replaces it",
		             len, shown);
	} else {
		log_dom_debug(dom, "corrupt value in the shared cache (%zu bytes), ignoring it",
		              len);
	}
	return ERR_CACHE_DECODE;
}

/* The value key holds another type than a string (a hash, a list...): counted and logged as
 * a corrupt value; the next write replaces it. */
static void
crd_wrong_type(struct cache_redis *rc, const char *dom, struct cache_redis_result *res)
{
	res->status = ERR_CACHE_DECODE;
	rc->ctr.corrupt++;
	rc->ctr.misses++;
	if (crd_log_ok(rc)) {
		log_dom_warn(dom, "shared cache key holds another type than a string "
		                  "(WRONGTYPE): ignoring it, the next write replaces it");
	} else {
		log_dom_debug(dom, "shared cache key of the wrong type, ignoring it");
	}
}

/* A value element (string or nil) into ri. */
static void
crd_classify_value(const redisReply *v, struct cache_redis_reply_info *ri)
{
	if (v->type == REDIS_REPLY_NIL) {
		ri->kind = CACHE_REDIS_REPLY_NIL;
	} else if (v->type != REDIS_REPLY_STRING) {
		ri->kind = CACHE_REDIS_REPLY_NOT_STRING;
		ri->value_type = v->type;
	} else {
		ri->kind = CACHE_REDIS_REPLY_VALUE;
		ri->value = v->str;
		ri->len = v->len;
	}
}

void
cache_redis_reply_classify(enum cache_redis_cmd cmd, const redisReply *reply,
                           struct cache_redis_reply_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->kind = CACHE_REDIS_REPLY_ERROR;
	if (reply->type == REDIS_REPLY_ERROR) {
		if (cmd == CACHE_REDIS_CMD_GET && reply->len >= 9 &&
		    strncmp(reply->str, "WRONGTYPE", 9) == 0)
			ri->kind = CACHE_REDIS_REPLY_WRONGTYPE;
		else if (reply->len >= 8 && strncmp(reply->str, "READONLY", 8) == 0)
			ri->kind = CACHE_REDIS_REPLY_READONLY;
		return;
	}
	switch (cmd) {
	case CACHE_REDIS_CMD_GET:
		crd_classify_value(reply, ri);
		break;
	case CACHE_REDIS_CMD_LOCK:
	case CACHE_REDIS_CMD_POLL:
		if (reply->type != REDIS_REPLY_ARRAY ||
		    (reply->elements != 2 && reply->elements != 3))
			break; /* not what the script returns: an error */
		if (reply->elements == 3)
			ri->kind = CACHE_REDIS_REPLY_WRONGTYPE;
		else
			crd_classify_value(reply->element[0], ri);
		if (cmd == CACHE_REDIS_CMD_LOCK)
			ri->lock_acquired = reply->element[1]->type == REDIS_REPLY_INTEGER &&
			                    reply->element[1]->integer == 1;
		else
			ri->lock_present = reply->element[1]->type != REDIS_REPLY_NIL;
		break;
	case CACHE_REDIS_CMD_PUT:
		if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
			ri->kind = CACHE_REDIS_REPLY_WRITTEN;
		else if (reply->type == REDIS_REPLY_INTEGER)
			ri->kind = CACHE_REDIS_REPLY_OLDER;
		else
			ri->kind = CACHE_REDIS_REPLY_DONE;
		break;
	case CACHE_REDIS_CMD_UNLOCK:
		ri->kind = CACHE_REDIS_REPLY_DONE;
		break;
	}
}

/* Fill res from a classified value (VALUE, NIL or NOT_STRING). */
static void
crd_value(struct cache_redis *rc, const char *dom, const struct cache_redis_reply_info *ri,
          struct cache_redis_result *res, struct cache_entry *e)
{
	if (ri->kind == CACHE_REDIS_REPLY_NIL) {
		res->status = -ENOENT;
		rc->ctr.misses++;
		return;
	}
	if (ri->kind != CACHE_REDIS_REPLY_VALUE) {
		res->status = ERR_CACHE_DECODE;
		rc->ctr.corrupt++;
		log_dom_warn(dom, "shared cache value is not a string (type %d), ignoring it",
		             ri->value_type);
		return;
	}
	res->status = crd_decode(rc, dom, ri->value, ri->len, e);
	if (res->status == 0) {
		res->entry = e;
		rc->ctr.hits++;
	} else {
		rc->ctr.misses++;
	}
}

static void
crd_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_redis_req *rq = privdata;
	struct cache_redis *rc = rq->rc;
	redisReply *reply = r;
	struct cache_redis_result res = {.status = ERR_CACHE_UNAVAILABLE};
	struct cache_redis_reply_info ri;
	struct cache_entry e;
	cache_redis_fn *fn = rq->fn;
	void *arg = rq->arg;
	char dom[DOMAIN_BUF];

	memset(&e, 0, sizeof(e));
	loop_timer_stop(rc->loop, &rq->timer);
	memcpy(dom, rq->dom, sizeof(dom));
	if (reply != NULL) {
		cache_redis_reply_classify(rq->op, reply, &ri);
		if (reply->type == REDIS_REPLY_ERROR && ri.kind != CACHE_REDIS_REPLY_WRONGTYPE) {
			rc->ctr.errors++;
			log_dom_debug(dom, "shared cache: error reply: %.*s", 200, reply->str);
			if (ri.kind == CACHE_REDIS_REPLY_READONLY && ac == rc->ac) {
				/* A replica now (failover): find the primary again. */
				crd_req_free(rq);
				crd_drop(rc, "the server became a read-only replica");
				if (fn != NULL)
					fn(&res, arg);
				return;
			}
		} else {
			switch (ri.kind) {
			case CACHE_REDIS_REPLY_VALUE:
			case CACHE_REDIS_REPLY_NIL:
			case CACHE_REDIS_REPLY_NOT_STRING:
				crd_value(rc, dom, &ri, &res, &e);
				break;
			case CACHE_REDIS_REPLY_WRONGTYPE:
				crd_wrong_type(rc, dom, &res);
				break;
			case CACHE_REDIS_REPLY_ERROR: /* LOCK/POLL: not the script's array */
			case CACHE_REDIS_REPLY_READONLY:
				rc->ctr.errors++;
				break;
			case CACHE_REDIS_REPLY_WRITTEN:
				rc->ctr.writes++;
				break;
			case CACHE_REDIS_REPLY_OLDER:
				rc->ctr.writes_older++;
				break;
			case CACHE_REDIS_REPLY_DONE:
				break;
			}
			if (ri.kind != CACHE_REDIS_REPLY_ERROR) {
				res.lock_acquired = ri.lock_acquired;
				res.lock_present = ri.lock_present;
				if (rq->op == CACHE_REDIS_CMD_LOCK && ri.lock_acquired)
					rc->ctr.locks_taken++;
				else if (rq->op == CACHE_REDIS_CMD_LOCK)
					rc->ctr.locks_busy++;
			}
		}
	}
	crd_req_free(rq);
	if (fn != NULL)
		fn(&res, arg);
	cache_entry_clear(&e);
}

/* Queue a command for dom; NULL when not sent (tier not up, too many in flight). */
static struct cache_redis_req *
crd_send(struct cache_redis *rc, enum cache_redis_cmd op, const char *dom, cache_redis_fn *fn,
         void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct cache_redis_req *rq;

	if (rc->state != CACHE_REDIS_UP || rc->ac == NULL ||
	    rc->n_pending >= CACHE_REDIS_PENDING_MAX) {
		rc->ctr.unavailable++;
		return NULL;
	}
	rq = xcalloc(1, sizeof(*rq));
	rq->rc = rc;
	rq->op = op;
	rq->fn = fn;
	rq->arg = arg;
	(void)snprintf(rq->dom, sizeof(rq->dom), "%s", dom);
	if (redisAsyncCommandArgv(rc->ac, crd_reply_cb, rq, argc, argv, argvlen) != REDIS_OK) {
		free(rq);
		rc->ctr.errors++;
		return NULL;
	}
	rq->next = rc->pending;
	if (rq->next != NULL)
		rq->next->prev = rq;
	rc->pending = rq;
	rc->n_pending++;
	loop_timer_start(rc->loop, &rq->timer, rc->command_timeout_ms, crd_req_timeout, rq);
	return rq;
}

struct cache_redis_req *
cache_redis_get(struct cache_redis *rc, const char *dom, cache_redis_fn *fn, void *arg)
{
	char key[CACHE_REDIS_KEY_MAX], max[24];
	const char *argv[5] = {"EVAL", crd_get_lua, "1", key, max};
	size_t argvlen[5] = {4, sizeof(crd_get_lua) - 1, 1, 0, 0};
	int n = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_STS, dom, key, sizeof(key));

	if (n < 0)
		return NULL;
	argvlen[3] = (size_t)n;
	argvlen[4] = (size_t)snprintf(max, sizeof(max), "%d", CACHE_VALUE_MAX);
	return crd_send(rc, CACHE_REDIS_CMD_GET, dom, fn, arg, 5, argv, argvlen);
}

struct cache_redis_req *
cache_redis_lock(struct cache_redis *rc, const char *dom, uint64_t ttl_ms, cache_redis_fn *fn,
                 void *arg)
{
	char key[CACHE_REDIS_KEY_MAX], lock[CACHE_REDIS_KEY_MAX], ttl[24], max[24];
	const char *argv[8] = {"EVAL", crd_lock_lua, "2", key, lock, rc->token, ttl, max};
	size_t argvlen[8] = {4, sizeof(crd_lock_lua) - 1, 1, 0, 0, strlen(rc->token), 0, 0};
	int n = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_STS, dom, key, sizeof(key)),
	    m = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_LOCK, dom, lock, sizeof(lock));

	if (n < 0 || m < 0)
		return NULL;
	argvlen[3] = (size_t)n;
	argvlen[4] = (size_t)m;
	argvlen[6] = (size_t)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms > 0 ? ttl_ms : 1);
	argvlen[7] = (size_t)snprintf(max, sizeof(max), "%d", CACHE_VALUE_MAX);
	return crd_send(rc, CACHE_REDIS_CMD_LOCK, dom, fn, arg, 8, argv, argvlen);
}

struct cache_redis_req *
cache_redis_poll(struct cache_redis *rc, const char *dom, cache_redis_fn *fn, void *arg)
{
	char key[CACHE_REDIS_KEY_MAX], lock[CACHE_REDIS_KEY_MAX], max[24];
	const char *argv[6] = {"EVAL", crd_poll_lua, "2", key, lock, max};
	size_t argvlen[6] = {4, sizeof(crd_poll_lua) - 1, 1, 0, 0, 0};
	int n = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_STS, dom, key, sizeof(key)),
	    m = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_LOCK, dom, lock, sizeof(lock));

	if (n < 0 || m < 0)
		return NULL;
	argvlen[3] = (size_t)n;
	argvlen[4] = (size_t)m;
	argvlen[5] = (size_t)snprintf(max, sizeof(max), "%d", CACHE_VALUE_MAX);
	return crd_send(rc, CACHE_REDIS_CMD_POLL, dom, fn, arg, 6, argv, argvlen);
}

void
cache_redis_cancel(struct cache_redis_req *rq)
{
	struct cache_redis_result res = {.status = -ECANCELED};
	cache_redis_fn *fn = rq->fn;
	void *arg = rq->arg;

	rq->fn = NULL;
	rq->arg = NULL;
	if (fn != NULL)
		fn(&res, arg);
}

int
cache_redis_put(struct cache_redis *rc, const char *dom, const struct cache_entry *e, time_t now)
{
	char key[CACHE_REDIS_KEY_MAX], ttl[24], fa[24], nows[24];
	uint64_t ttl_ms = cache_redis_ttl_ms(e, now);
	char *val;
	const char *argv[9] = {"EVAL", crd_put_lua, "1", key, NULL, ttl, NULL, fa, nows};
	size_t argvlen[9];
	int n = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_STS, dom, key, sizeof(key));
	struct cache_redis_req *rq;

	if (n < 0 || ttl_ms == 0)
		return ERR_CACHE_UNAVAILABLE;
	if (rc->state != CACHE_REDIS_UP) {
		rc->ctr.unavailable++;
		return ERR_CACHE_UNAVAILABLE;
	}
	val = cache_entry_encode(e);
	argv[4] = val;
	argv[6] = e->kind == CACHE_POLICY ? "1" : "0";
	argvlen[0] = 4;
	argvlen[1] = sizeof(crd_put_lua) - 1;
	argvlen[2] = 1;
	argvlen[3] = (size_t)n;
	argvlen[4] = strlen(val);
	argvlen[5] = (size_t)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
	argvlen[6] = 1;
	argvlen[7] = (size_t)snprintf(fa, sizeof(fa), "%lld", (long long)e->fetched_at);
	argvlen[8] = (size_t)snprintf(nows, sizeof(nows), "%lld", (long long)now);
	rq = crd_send(rc, CACHE_REDIS_CMD_PUT, dom, NULL, NULL, 9, argv, argvlen);
	free(val);
	return rq != NULL ? 0 : ERR_CACHE_UNAVAILABLE;
}

int
cache_redis_unlock(struct cache_redis *rc, const char *dom)
{
	char lock[CACHE_REDIS_KEY_MAX];
	const char *argv[5] = {"EVAL", crd_unlock_lua, "1", lock, rc->token};
	size_t argvlen[5] = {4, sizeof(crd_unlock_lua) - 1, 1, 0, strlen(rc->token)};
	int m = cache_redis_key(rc->prefix, CACHE_REDIS_KEY_LOCK, dom, lock, sizeof(lock));

	if (m < 0)
		return ERR_CACHE_UNAVAILABLE;
	argvlen[3] = (size_t)m;
	return crd_send(rc, CACHE_REDIS_CMD_UNLOCK, dom, NULL, NULL, 5, argv, argvlen) != NULL
	               ? 0
	               : ERR_CACHE_UNAVAILABLE;
}

/* ---- lifecycle ---- */

/* Resolve a host name once, at startup (hiredis would call getaddrinfo at every connect,
 * blocking the loop): keep the first address as a literal. */
static int
crd_resolve(const char *host, char *out, size_t outsize)
{
	struct in6_addr a6;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int r;

	if (inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		(void)snprintf(out, outsize, "%s", host);
		return 0;
	}
	r = getaddrinfo(host, NULL, &hints, &ai); /* banned-ok: startup only, never in the loop */
	if (r != 0 || ai == NULL) {
		log_err("cache.redis: cannot resolve \"%s\": %s", host, gai_strerror(r));
		return -EINVAL;
	}
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)outsize, NULL, 0,
	                NI_NUMERICHOST) != 0) {
		freeaddrinfo(ai);
		return -EINVAL;
	}
	freeaddrinfo(ai);
	return 0;
}

static void
crd_make_token(struct cache_redis *rc)
{
	char hn[64] = "host";
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)loop_now_ms(rc->loop) ^ ((uint64_t)getpid() << 32);
	(void)gethostname(hn, sizeof(hn) - 1);
	hn[sizeof(hn) - 1] = '\0';
	(void)snprintf(rc->token, sizeof(rc->token), "%s:%ld:%016" PRIx64, hn, (long)getpid(), rnd);
}

int
cache_redis_new(struct loop *loop, const struct cfg_cache *cfg, struct cache_redis **ret_rc)
{
	struct cache_redis *rc = xcalloc(1, sizeof(*rc));
	char host[CRD_HOST_MAX];
	const char *prefix = cfg->redis_prefix != NULL ? cfg->redis_prefix : "mtastsd";
	size_t i;

	rc->loop = loop;
	rc->trust.negative_ttl_s = CACHE_REDIS_TRUST_NEGATIVE_TTL_S;
	rc->trust.tempfail_ttl_s = CACHE_REDIS_TRUST_TEMPFAIL_TTL_S;
	rc->address = xstrdup(cfg->redis_address != NULL ? cfg->redis_address : "127.0.0.1:6379");
	if (strlen(prefix) > CACHE_REDIS_PREFIX_MAX) {
		log_err("cache.redis.prefix: longer than %d bytes", CACHE_REDIS_PREFIX_MAX);
		goto fail;
	}
	(void)snprintf(rc->prefix, sizeof(rc->prefix), "%s", prefix);
	if (cache_redis_address_parse(rc->address, host, sizeof(host), &rc->port, &rc->is_unix) <
	    0) {
		log_err("cache.redis.address: bad address \"%s\"", rc->address);
		goto fail;
	}
	if (rc->is_unix)
		(void)snprintf(rc->host, sizeof(rc->host), "%s", host);
	else if (cfg->n_sentinels == 0 && crd_resolve(host, rc->host, sizeof(rc->host)) < 0)
		goto fail;
	rc->db = cfg->redis_db;
	rc->username = cfg->redis_username != NULL ? xstrdup(cfg->redis_username) : NULL;
	rc->password = cfg->redis_password != NULL ? xstrdup(cfg->redis_password) : NULL;
	rc->connect_timeout_ms =
	        cfg->redis_connect_timeout_ms > 0 ? cfg->redis_connect_timeout_ms : 2000;
	rc->command_timeout_ms =
	        cfg->redis_command_timeout_ms > 0 ? cfg->redis_command_timeout_ms : 500;
	if (cfg->n_sentinels > 0) {
		if (cfg->sentinel_master == NULL) {
			log_err("cache.redis.master_name: required with sentinels");
			goto fail;
		}
		rc->master = xstrdup(cfg->sentinel_master);
		rc->sentinels = xcalloc(cfg->n_sentinels, sizeof(*rc->sentinels));
		for (i = 0; i < cfg->n_sentinels; i++) {
			int port, is_unix;

			if (cache_redis_address_parse(cfg->sentinels[i], host, sizeof(host), &port,
			                              &is_unix) < 0 ||
			    is_unix) {
				log_err("cache.redis.sentinels: bad address \"%s\"",
				        cfg->sentinels[i]);
				rc->n_sentinels = i;
				goto fail;
			}
			rc->sentinels[i] = xstrdup(cfg->sentinels[i]);
			rc->n_sentinels = i + 1;
		}
	}
	crd_make_token(rc);
	rc->backoff_ms = CACHE_REDIS_BACKOFF_MIN_MS;
	rc->state = CACHE_REDIS_DOWN;
	crd_connect(rc);
	*ret_rc = rc;
	return 0;
fail:
	(void)cache_redis_free(rc);
	return -EINVAL;
}

struct cache_redis *
cache_redis_free(struct cache_redis *rc)
{
	size_t i;

	if (rc == NULL)
		return NULL;
	rc->freeing = 1;
	loop_timer_stop(rc->loop, &rc->conn_timer);
	loop_timer_stop(rc->loop, &rc->reconnect_timer);
	crd_drop(rc, "shutdown");
	/* Every command completed with NULL inside redisAsyncFree(); nothing is pending. */
	while (rc->pending != NULL)
		crd_req_free(rc->pending);
	for (i = 0; i < rc->n_sentinels; i++)
		free(rc->sentinels[i]);
	free(rc->sentinels);
	free(rc->master);
	free(rc->username);
	free(rc->password);
	free(rc->address);
	free(rc);
	return NULL;
}

enum cache_redis_state
cache_redis_state(const struct cache_redis *rc)
{
	return rc->state;
}

const struct cache_redis_counters *
cache_redis_counters(const struct cache_redis *rc)
{
	return &rc->ctr;
}

static uint64_t
crd_stats_up(const void *obj)
{
	return ((const struct cache_redis *)obj)->state == CACHE_REDIS_UP;
}

/* 1 for the current state, 0 for the two others. */
static void
crd_stats_state(const void *obj, struct stats_emit *e)
{
	static const enum cache_redis_state order[] = {CACHE_REDIS_UP, CACHE_REDIS_CONNECTING,
	                                               CACHE_REDIS_DOWN};
	const struct cache_redis *rc = obj;
	size_t i;

	for (i = 0; i < STATS_COUNT(order); i++)
		stats_emit(e, cache_redis_state_name(order[i]), NULL, rc->state == order[i]);
}

static uint64_t
crd_stats_sentinel_ok(const void *obj)
{
	const struct cache_redis *rc = obj;

	return rc->ctr.sentinel_queries - rc->ctr.sentinel_failures;
}

#define CRD_CTR(f) offsetof(struct cache_redis, ctr.f)

static const struct stats_field crd_commands[] = {
        {"hit", "hits", .off = CRD_CTR(hits)},
        {"miss", "misses", .off = CRD_CTR(misses)},
        {"error", "errors", .off = CRD_CTR(errors)},
        {"timeout", "timeouts", .off = CRD_CTR(timeouts)},
};
static const struct stats_field crd_writes[] = {
        {"stored", "writes", .off = CRD_CTR(writes)},
        {"older", "writes_older", .off = CRD_CTR(writes_older)},
};
static const struct stats_field crd_locks[] = {
        {"taken", "locks_taken", .off = CRD_CTR(locks_taken)},
        {"busy", "locks_busy", .off = CRD_CTR(locks_busy)},
};
static const struct stats_field crd_connects[] = {
        {"success", "connects", .off = CRD_CTR(connects)},
        {"failure", "connect_failures", .off = CRD_CTR(connect_failures)},
};
/* /status has the queries (all) and the failures */
static const struct stats_field crd_sentinel[] = {
        {"success", NULL, .get = crd_stats_sentinel_ok},
        {"failure", "sentinel_failures", .off = CRD_CTR(sentinel_failures)},
};

static const struct stats_metric crd_stats[] = {
        {"mtastsd_valkey_up", STATS_GAUGE,
         "1 when the connection to Valkey/Redis is established and commands are sent.",
         .json = "valkey.up", .flags = STATS_JSON_BOOL, .get = crd_stats_up},
        {"mtastsd_valkey_state", STATS_GAUGE,
         "1 for the current state of the Valkey/Redis connection.", .label = "state",
         .each = crd_stats_state},
        {"mtastsd_valkey_commands_total", STATS_COUNTER,
         "Valkey/Redis commands and connection failures, by result (error includes "
         "connection losses; timeout: past cache.redis.command_timeout).",
         .json = "valkey", .label = "result", .fields = crd_commands,
         .n = STATS_COUNT(crd_commands)},
        {"mtastsd_valkey_corrupt_values_total", STATS_COUNTER,
         "Values read that did not decode or claimed what they cannot prove (counted as "
         "misses too; overwritten later).",
         .json = "valkey.corrupt", .off = CRD_CTR(corrupt)},
        {"mtastsd_valkey_untrusted_values_total", STATS_COUNTER,
         "Values read and refused: fetched_at or last_check in the future (also in "
         "mtastsd_valkey_corrupt_values_total).",
         .json = "valkey.untrusted", .off = CRD_CTR(untrusted)},
        {"mtastsd_valkey_clamped_values_total", STATS_COUNTER,
         "Values read and used with their expiry lowered to what they prove (a policy: "
         "fetched_at + max_age; no-policy, tempfail: last_check + the local TTL).",
         .json = "valkey.clamped", .off = CRD_CTR(clamped)},
        {"mtastsd_valkey_unavailable_total", STATS_COUNTER,
         "Cache operations not sent because the tier was down (served as misses).",
         .json = "valkey.unavailable", .off = CRD_CTR(unavailable)},
        {"mtastsd_valkey_writes_total", STATS_COUNTER,
         "Policy writes, by result (older: refused, the stored policy was newer).",
         .json = "valkey", .label = "result", .fields = crd_writes, .n = STATS_COUNT(crd_writes)},
        {"mtastsd_valkey_fetch_locks_total", STATS_COUNTER,
         "Fetch lock attempts, by result (busy: another host holds it).", .json = "valkey",
         .label = "result", .fields = crd_locks, .n = STATS_COUNT(crd_locks)},
        {"mtastsd_valkey_outages_total", STATS_COUNTER,
         "Transitions from up to down (and a failed first connection).", .json = "valkey.outages",
         .off = CRD_CTR(outages)},
        {"mtastsd_valkey_connects_total", STATS_COUNTER,
         "Connection attempts to Valkey/Redis, by result.", .json = "valkey", .label = "result",
         .fields = crd_connects, .n = STATS_COUNT(crd_connects)},
        {.json = "valkey.sentinel_queries", .off = CRD_CTR(sentinel_queries)},
        {"mtastsd_valkey_sentinel_queries_total", STATS_COUNTER,
         "Sentinel queries for the primary's address answered, by result.", .json = "valkey",
         .label = "result", .fields = crd_sentinel, .n = STATS_COUNT(crd_sentinel)},
};

void
cache_redis_stats_add(const struct cache_redis *rc, struct stats *st)
{
	stats_add(st, crd_stats, STATS_COUNT(crd_stats), rc);
}

uint64_t
cache_redis_command_timeout_ms(const struct cache_redis *rc)
{
	return rc->command_timeout_ms;
}

void
cache_redis_on_up(struct cache_redis *rc, cache_redis_up_fn *fn, void *arg)
{
	rc->up_fn = fn;
	rc->up_arg = arg;
}

void
cache_redis_set_trust(struct cache_redis *rc, const struct cache_trust *t)
{
	rc->trust = *t;
}
