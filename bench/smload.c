/*
 * bench/smload.c - socketmap load generator (Postfix smtp_tls_policy_maps traffic)
 *
 * Interface: command line, see usage(). Opens K connections to a socketmap server and
 *            keeps D requests in flight on each (D = 1 is what Postfix does: it sends one
 *            request, waits for the reply and reuses the connection, dict_sockmap.c).
 *            Stops after -n requests have been answered or -d seconds, whichever comes
 *            first. Prints queries/s, latency percentiles (microseconds) and replies by
 *            type, as text or as one key=value line (-o kv) for bench/run.sh.
 * Protocol:  request netstring "<map> <key>", reply netstring "OK <value>" | "NOTFOUND "
 *            | "TEMP <why>" | "PERM <why>" (socketmap_table(5)).
 * Threads:   one, epoll. Ownership: main() owns every connection.
 * Errors:    a connection the server closes, or a reply that is not a netstring, counts
 *            its unanswered requests as "closed" and is reopened (at most
 *            RECONNECT_MAX times in a run). Exit 0 when the run finished, 1 when no
 *            connection could be made, 2 on usage errors.
 * Depends on libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Bounds of the command line. */
#define CONNS_MAX     1024
#define DEPTH_MAX     64
#define COUNT_MAX     100000000ULL
#define DURATION_MAX  3600.0
#define TIMEOUT_MAX   600000ULL
#define KEYS_MAX      1000000u
#define RECONNECT_MAX 10000u
/* A domain is at most 253 bytes (RFC 1035); the map name is ours to bound. */
#define KEY_MAX 253
#define MAP_MAX 64
/* socketmap_table(5): Postfix accepts replies up to 100000 bytes; plus the framing. */
#define REPLY_MAX 100000
#define RBUF_SIZE (REPLY_MAX + 16)
#define REQ_MAX   (MAP_MAX + 1 + KEY_MAX + 16)
#define WBUF_SIZE (DEPTH_MAX * REQ_MAX)
/* Latency histogram: exact below 1024 us, then 64 sub-buckets per power of two. */
#define HIST_LINEAR 1024
#define HIST_SUB    64
#define HIST_EXP    40
#define HIST_SIZE   (HIST_LINEAR + (HIST_EXP - 10) * HIST_SUB)
/* First reply of each type shown with -v, cut to this many bytes. */
#define SHOW_MAX 200

enum reply_type {
	REPLY_OK,
	REPLY_NOTFOUND,
	REPLY_TEMP,
	REPLY_PERM,
	REPLY_OTHER,
	REPLY_CLOSED,
	REPLY_TIMEOUT,
	REPLY_NTYPES,
};

static const char *const reply_name[REPLY_NTYPES] = {
        "ok", "notfound", "temp", "perm", "other", "closed", "timeout",
};

enum conn_state {
	C_IDLE,
	C_CONNECTING,
	C_OPEN,
};

struct conn {
	int fd;
	enum conn_state state;
	char rbuf[RBUF_SIZE];
	size_t rlen;
	char wbuf[WBUF_SIZE];
	size_t wlen;
	size_t woff;
	uint64_t sent_ns[DEPTH_MAX]; /* ring of send times of requests in flight */
	unsigned head;
	unsigned inflight;
	int want_out;
};

struct opts {
	const char *server;
	const char *map;
	unsigned conns;
	unsigned depth;
	uint64_t count;
	double duration_s;
	uint64_t timeout_ms;
	const char *keyfile;
	const char *pattern;
	unsigned nkeys;
	int random;
	int kv;
	int verbose;
};

static struct opts o = {
        .map = "postfix",
        .conns = 8,
        .depth = 1,
        .count = 100000,
        .duration_s = 10.0,
        .timeout_ms = 10000,
        .pattern = "d%d.bench.test",
        .nkeys = 1000,
};

static struct sockaddr_storage srv_addr;
static socklen_t srv_addrlen;
static char **keys;
static int pat_pre_len;      /* pattern text before "%d" */
static const char *pat_post; /* pattern text after "%d" */
static uint64_t hist[HIST_SIZE];
static uint64_t lat_max_us;
static uint64_t lat_count;
static uint64_t counts[REPLY_NTYPES];
static int shown[REPLY_NTYPES];
static uint64_t sent;
static uint64_t next_key;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned reconnects;
static volatile sig_atomic_t stop_flag;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: smload -s HOST:PORT|unix:PATH [-m MAP] [-c CONNS] [-p DEPTH]\n"
	        "              [-n COUNT] [-d SECONDS] [-t TIMEOUT_MS]\n"
	        "              [-k KEYFILE | -g PATTERN [-N NKEYS]] [-r] [-o kv] [-v]\n"
	        "  -s  socketmap server: 127.0.0.1:8461, [::1]:8461 or unix:/path\n"
	        "  -m  map name sent before the key (default postfix)\n"
	        "  -c  connections, 1..%d (default 8)\n"
	        "  -p  requests in flight per connection, 1..%d (default 1, as Postfix)\n"
	        "  -n  stop after COUNT replies, 1..%llu (default 100000)\n"
	        "  -d  stop after SECONDS, 0.1..%.0f (default 10)\n"
	        "  -t  a request unanswered after TIMEOUT_MS counts as timeout (default 10000)\n"
	        "  -k  keys from a file, one per line (at most %u)\n"
	        "  -g  key pattern with one %%d, filled with 0..NKEYS-1 (default d%%d.bench.test)\n"
	        "  -N  number of generated keys (default 1000)\n"
	        "  -r  pick keys at random (default: in order, so -n NKEYS asks each key once)\n"
	        "  -o  kv: one line of key=value pairs\n"
	        "  -v  show the first reply of each type on stderr\n",
	        CONNS_MAX, DEPTH_MAX, (unsigned long long)COUNT_MAX, DURATION_MAX, KEYS_MAX);
	exit(2);
}

static uint64_t
parse_u64(const char *s, uint64_t min, uint64_t max, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "smload: %s must be a number in %" PRIu64 "..%" PRIu64 "\n", what,
		        min, max);
		exit(2);
	}
	return (uint64_t)v;
}

static int
parse_server(const char *s)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *port, *colon;
	size_t hl;
	int r;

	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&srv_addr;

		if (strlen(s + 5) >= sizeof(sun->sun_path))
			return -1;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s + 5, strlen(s + 5) + 1);
		srv_addrlen = sizeof(*sun);
		return 0;
	}
	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl);
		port = colon + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return -1;
	memcpy(&srv_addr, res->ai_addr, res->ai_addrlen);
	srv_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
pattern_ok(const char *p)
{
	int n = 0;

	for (; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'd')
			n++;
		else
			return 0;
		p++;
	}
	return n == 1;
}

static void
load_keys(void)
{
	FILE *f;
	char line[KEY_MAX + 3];
	size_t len, cap = 1024;

	keys = calloc(cap, sizeof(*keys));
	if (keys == NULL)
		goto oom;
	f = fopen(o.keyfile, "r");
	if (f == NULL) {
		fprintf(stderr, "smload: %s: %s\n", o.keyfile, strerror(errno));
		exit(2);
	}
	o.nkeys = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\r\n");
		if (len > KEY_MAX) {
			fprintf(stderr, "smload: %s: key %u longer than %d bytes\n", o.keyfile,
			        o.nkeys + 1, KEY_MAX);
			exit(2);
		}
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (o.nkeys == KEYS_MAX) {
			fprintf(stderr, "smload: %s: more than %u keys\n", o.keyfile, KEYS_MAX);
			exit(2);
		}
		if (o.nkeys == cap) {
			char **nk = realloc(keys, 2 * cap * sizeof(*keys));

			if (nk == NULL)
				goto oom;
			keys = nk;
			cap *= 2;
		}
		keys[o.nkeys] = strdup(line);
		if (keys[o.nkeys] == NULL)
			goto oom;
		o.nkeys++;
	}
	(void)fclose(f);
	if (o.nkeys == 0) {
		fprintf(stderr, "smload: %s: no keys\n", o.keyfile);
		exit(2);
	}
	return;
oom:
	fprintf(stderr, "smload: out of memory\n");
	exit(1);
}

static uint64_t
rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* Append the next request to c's write buffer. */
static void
make_request(struct conn *c)
{
	char key[KEY_MAX + 32];
	char payload[MAP_MAX + 1 + KEY_MAX + 32];
	uint64_t i;
	int kl, pl, n;

	i = o.random ? rng_next() % o.nkeys : next_key++ % o.nkeys;
	if (keys != NULL)
		kl = snprintf(key, sizeof(key), "%s", keys[i]);
	else
		kl = snprintf(key, sizeof(key), "%.*s%u%s", pat_pre_len, o.pattern, (unsigned)i,
		              pat_post);
	if (kl < 0 || kl > KEY_MAX)
		kl = KEY_MAX;
	key[kl] = '\0';
	pl = snprintf(payload, sizeof(payload), "%s %s", o.map, key);
	n = snprintf(c->wbuf + c->wlen, WBUF_SIZE - c->wlen, "%d:%s,", pl, payload);
	if (n < 0 || (size_t)n >= WBUF_SIZE - c->wlen)
		return; /* cannot happen: WBUF_SIZE holds DEPTH_MAX requests */
	c->wlen += (size_t)n;
	c->sent_ns[(c->head + c->inflight) % DEPTH_MAX] = now_ns();
	c->inflight++;
	sent++;
}

static void
hist_add(uint64_t us)
{
	unsigned e, b;

	if (us < HIST_LINEAR) {
		b = (unsigned)us;
	} else {
		e = 63u - (unsigned)__builtin_clzll(us);
		if (e >= HIST_EXP)
			e = HIST_EXP - 1;
		b = HIST_LINEAR + (e - 10) * HIST_SUB +
		    (unsigned)((us >> (e - 6)) & (HIST_SUB - 1));
		if (b >= HIST_SIZE)
			b = HIST_SIZE - 1;
	}
	hist[b]++;
	lat_count++;
	if (us > lat_max_us)
		lat_max_us = us;
}

/* Lower bound of a bucket plus half its width: the value reported for a percentile. */
static uint64_t
hist_value(unsigned b)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (b < HIST_LINEAR)
		return b;
	e = (b - HIST_LINEAR) / HIST_SUB + 10;
	sub = (b - HIST_LINEAR) % HIST_SUB;
	width = 1ULL << (e - 6);
	lo = (1ULL << e) + sub * width;
	return lo + width / 2;
}

static uint64_t
percentile(double p)
{
	uint64_t want, cum = 0;
	unsigned b;

	if (lat_count == 0)
		return 0;
	want = (uint64_t)(p * (double)lat_count + 0.999999);
	if (want == 0)
		want = 1;
	for (b = 0; b < HIST_SIZE; b++) {
		cum += hist[b];
		if (cum >= want) {
			uint64_t v = hist_value(b);

			return v > lat_max_us ? lat_max_us : v;
		}
	}
	return lat_max_us;
}

static enum reply_type
classify(const char *p, size_t len)
{
	if (len >= 2 && memcmp(p, "OK", 2) == 0 && (len == 2 || p[2] == ' '))
		return REPLY_OK;
	if (len >= 8 && memcmp(p, "NOTFOUND", 8) == 0 && (len == 8 || p[8] == ' '))
		return REPLY_NOTFOUND;
	if (len >= 4 && memcmp(p, "TEMP", 4) == 0 && (len == 4 || p[4] == ' '))
		return REPLY_TEMP;
	if (len >= 4 && memcmp(p, "PERM", 4) == 0 && (len == 4 || p[4] == ' '))
		return REPLY_PERM;
	return REPLY_OTHER;
}

static void
count_reply(enum reply_type t, const char *p, size_t len)
{
	counts[t]++;
	if (o.verbose && !shown[t]) {
		shown[t] = 1;
		if (len > SHOW_MAX)
			len = SHOW_MAX;
		fprintf(stderr, "smload: first %s reply: \"%.*s\"\n", reply_name[t], (int)len,
		        p != NULL ? p : "");
	}
}

static void
conn_close(int ep, struct conn *c, enum reply_type why)
{
	if (c->fd >= 0) {
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd);
	}
	c->fd = -1;
	c->state = C_IDLE;
	while (c->inflight > 0) {
		count_reply(why, NULL, 0);
		c->inflight--;
	}
	c->head = 0;
	c->rlen = 0;
	c->wlen = 0;
	c->woff = 0;
	c->want_out = 0;
}

static int
conn_open(int ep, struct conn *c)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (srv_addr.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&srv_addr, srv_addrlen) < 0 && errno != EINPROGRESS) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	c->fd = fd;
	c->state = C_CONNECTING;
	c->want_out = 1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		(void)close(fd);
		c->fd = -1;
		c->state = C_IDLE;
		return r;
	}
	return 0;
}

static void
set_out(int ep, struct conn *c, int want)
{
	struct epoll_event ev;

	if (c->want_out == want)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want;
}

/* Write what is buffered. Returns 0, or -1 when the connection died. */
static int
conn_flush(int ep, struct conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out(ep, c, 1);
				return 0;
			}
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->woff = 0;
	c->wlen = 0;
	set_out(ep, c, 0);
	return 0;
}

static int
may_send(uint64_t deadline_ns)
{
	return !stop_flag && sent < o.count && now_ns() < deadline_ns;
}

static void
fill(int ep, struct conn *c, uint64_t deadline_ns)
{
	while (c->state == C_OPEN && c->inflight < o.depth && may_send(deadline_ns))
		make_request(c);
	if (c->wlen > 0 && conn_flush(ep, c) < 0)
		conn_close(ep, c, REPLY_CLOSED);
}

/* Parse complete replies in c->rbuf. Returns 0, or -1 on a framing error. */
static int
parse_replies(struct conn *c)
{
	size_t off = 0, len, i;
	uint64_t t = now_ns();

	for (;;) {
		len = 0;
		for (i = off; i < c->rlen && c->rbuf[i] >= '0' && c->rbuf[i] <= '9'; i++) {
			len = len * 10 + (size_t)(c->rbuf[i] - '0');
			if (i - off > 6 || len > REPLY_MAX)
				return -1;
		}
		if (i == c->rlen)
			break; /* need more digits or the ':' */
		if (i == off || c->rbuf[i] != ':')
			return -1;
		if (c->rlen - i - 1 < len + 1)
			break; /* payload or ',' not here yet */
		if (c->rbuf[i + 1 + len] != ',')
			return -1;
		if (c->inflight == 0)
			return -1; /* a reply nobody asked for */
		hist_add((t - c->sent_ns[c->head]) / 1000);
		count_reply(classify(c->rbuf + i + 1, len), c->rbuf + i + 1, len);
		c->head = (c->head + 1) % DEPTH_MAX;
		c->inflight--;
		off = i + 1 + len + 1;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return 0;
}

static void
on_event(int ep, struct conn *c, uint32_t events, uint64_t deadline_ns)
{
	ssize_t n;
	size_t space;
	int err = 0;
	socklen_t el = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
			conn_close(ep, c, REPLY_CLOSED);
			return;
		}
		c->state = C_OPEN;
		set_out(ep, c, 0);
		fill(ep, c, deadline_ns);
		return;
	}
	if (c->state != C_OPEN)
		return;
	if (events & EPOLLOUT) {
		if (conn_flush(ep, c) < 0) {
			conn_close(ep, c, REPLY_CLOSED);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		for (;;) {
			space = RBUF_SIZE - c->rlen;
			n = recv(c->fd, c->rbuf + c->rlen, space, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				conn_close(ep, c, REPLY_CLOSED);
				return;
			}
			c->rlen += (size_t)n;
			if (parse_replies(c) < 0) {
				conn_close(ep, c, REPLY_OTHER);
				return;
			}
			if (c->rlen == RBUF_SIZE) {
				conn_close(ep, c, REPLY_OTHER);
				return;
			}
			if ((size_t)n < space)
				break; /* short read: the socket is drained */
		}
		fill(ep, c, deadline_ns);
	}
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int
main(int argc, char **argv)
{
	static struct conn conns[CONNS_MAX];
	struct epoll_event evs[256];
	uint64_t start, deadline, t, timeout_ns, inflight;
	double elapsed, qps;
	unsigned i;
	int ep, opt, n, r, opened = 0;

	while ((opt = getopt(argc, argv, "s:m:c:p:n:d:t:k:g:N:ro:vh")) != -1) {
		switch (opt) {
		case 's':
			o.server = optarg;
			break;
		case 'm':
			if (strlen(optarg) == 0 || strlen(optarg) > MAP_MAX ||
			    strchr(optarg, ' ') != NULL)
				usage();
			o.map = optarg;
			break;
		case 'c':
			o.conns = (unsigned)parse_u64(optarg, 1, CONNS_MAX, "-c");
			break;
		case 'p':
			o.depth = (unsigned)parse_u64(optarg, 1, DEPTH_MAX, "-p");
			break;
		case 'n':
			o.count = parse_u64(optarg, 1, COUNT_MAX, "-n");
			break;
		case 'd': {
			char *end;

			o.duration_s = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(o.duration_s >= 0.1) ||
			    o.duration_s > DURATION_MAX)
				usage();
			break;
		}
		case 't':
			o.timeout_ms = parse_u64(optarg, 1, TIMEOUT_MAX, "-t");
			break;
		case 'k':
			o.keyfile = optarg;
			break;
		case 'g':
			if (!pattern_ok(optarg) || strlen(optarg) > KEY_MAX - 10)
				usage();
			o.pattern = optarg;
			break;
		case 'N':
			o.nkeys = (unsigned)parse_u64(optarg, 1, KEYS_MAX, "-N");
			break;
		case 'r':
			o.random = 1;
			break;
		case 'o':
			if (strcmp(optarg, "kv") != 0)
				usage();
			o.kv = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.server == NULL)
		usage();
	if (parse_server(o.server) < 0) {
		fprintf(stderr, "smload: bad server address '%s'\n", o.server);
		return 2;
	}
	if (o.keyfile != NULL) {
		load_keys();
	} else {
		pat_pre_len = (int)(strstr(o.pattern, "%d") - o.pattern);
		pat_post = o.pattern + pat_pre_len + 2;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGINT, on_signal);
	(void)signal(SIGTERM, on_signal);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("smload: epoll_create1");
		return 1;
	}
	start = now_ns();
	deadline = start + (uint64_t)(o.duration_s * 1e9);
	timeout_ns = o.timeout_ms * 1000000ULL;
	for (i = 0; i < o.conns; i++) {
		conns[i].fd = -1;
		r = conn_open(ep, &conns[i]);
		if (r < 0) {
			fprintf(stderr, "smload: connect %s: %s\n", o.server, strerror(-r));
			return 1;
		}
	}
	for (;;) {
		t = now_ns();
		inflight = 0;
		for (i = 0; i < o.conns; i++) {
			struct conn *c = &conns[i];

			if (c->state == C_OPEN)
				opened = 1;
			if (c->inflight > 0 && t - c->sent_ns[c->head] > timeout_ns)
				conn_close(ep, c, REPLY_TIMEOUT);
			if (c->state == C_IDLE && may_send(deadline)) {
				if (reconnects >= RECONNECT_MAX || conn_open(ep, c) < 0) {
					stop_flag = 1;
					break;
				}
				reconnects++;
			}
			inflight += c->inflight;
		}
		if (inflight == 0 && !may_send(deadline))
			break;
		if (t >= deadline || stop_flag)
			break;
		n = epoll_wait(ep, evs, 256, 5);
		if (n < 0 && errno != EINTR)
			break;
		for (r = 0; r < n; r++)
			on_event(ep, evs[r].data.ptr, evs[r].events, deadline);
	}
	t = now_ns();
	inflight = 0;
	for (i = 0; i < o.conns; i++)
		inflight += conns[i].inflight;
	elapsed = (double)(t - start) / 1e9;
	qps = elapsed > 0 ? (double)lat_count / elapsed : 0;
	if (!opened && lat_count == 0) {
		fprintf(stderr, "smload: no connection to %s succeeded\n", o.server);
		if (!o.kv)
			return 1;
	}
	if (o.kv) {
		printf("server=%s map=%s conns=%u depth=%u sent=%" PRIu64 " replies=%" PRIu64
		       " elapsed_s=%.3f qps=%.0f p50_us=%" PRIu64 " p90_us=%" PRIu64
		       " p99_us=%" PRIu64 " max_us=%" PRIu64,
		       o.server, o.map, o.conns, o.depth, sent, lat_count, elapsed, qps,
		       percentile(0.50), percentile(0.90), percentile(0.99), lat_max_us);
		for (i = 0; i < REPLY_NTYPES; i++)
			printf(" %s=%" PRIu64, reply_name[i], counts[i]);
		printf(" unanswered=%" PRIu64 " reconnects=%u\n", inflight, reconnects);
	} else {
		printf("smload: %s map=%s conns=%u depth=%u\n", o.server, o.map, o.conns, o.depth);
		printf("  %" PRIu64 " requests, %" PRIu64 " replies in %.3f s: %.0f queries/s\n",
		       sent, lat_count, elapsed, qps);
		printf("  latency us: p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
		       "  max %" PRIu64 "\n",
		       percentile(0.50), percentile(0.90), percentile(0.99), lat_max_us);
		printf("  replies:");
		for (i = 0; i < REPLY_NTYPES; i++)
			printf(" %s %" PRIu64, reply_name[i], counts[i]);
		printf(" unanswered %" PRIu64 " reconnects %u\n", inflight, reconnects);
	}
	return opened || lat_count > 0 ? 0 : 1;
}
