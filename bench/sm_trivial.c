/*
 * bench/sm_trivial.c - a socketmap server that answers one fixed reply to every request
 *
 * Interface: sm_trivial [-l HOST:PORT] [-r REPLY] [-t LIFETIME_S]
 *            The ceiling for this machine in bench/run.sh: the same protocol work as a
 *            real socketmap server (netstring framing, one reply per request, replies in
 *            request order, pipelined requests answered in one write), no lookups.
 *            Single-threaded on epoll, like mtastsd's resolver loop.
 * Protocol:  request netstring "<map> <key>", reply netstring REPLY (default
 *            "OK secure match=mail.example.test servername=hostname").
 * Threads:   one. Ownership: main() owns every connection.
 * Errors:    a malformed or oversized request closes that connection. It exits on
 *            SIGTERM/SIGINT or after LIFETIME_S seconds (default 1800): never unbounded.
 * Depends on libc only.
 */
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

/* Bounds: connections, request size (postfix-tlspol and mtastsd: 10000 bytes), pending
 * output per connection, lifetime. */
#define CONNS_MAX    4096
#define QUERY_MAX    10000
#define RBUF_SIZE    (QUERY_MAX + 16)
#define OUT_MAX      (256 * 1024)
#define REPLY_MAX    4096
#define LIFETIME_MAX 86400L

struct conn {
	int fd;
	char rbuf[RBUF_SIZE];
	size_t rlen;
	char *out;
	size_t olen;
	size_t ooff;
	int want_out;
};

static char reply[REPLY_MAX + 16];
static size_t reply_len;
static volatile sig_atomic_t stop_flag;
static unsigned nconns;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: sm_trivial [-l HOST:PORT] [-r REPLY] [-t LIFETIME_S]\n"
	                "  -l  listen address (default 127.0.0.1:8463; [::1]:8463 for IPv6)\n"
	                "  -r  reply payload (default \"OK secure match=mail.example.test "
	                "servername=hostname\")\n"
	                "  -t  exit after this many seconds, 1..86400 (default 1800)\n");
	exit(2);
}

static int
listen_on(const char *s)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon, *port;
	size_t hl;
	int fd, one = 1;

	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s - 1);
		port = colon + 2;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		(void)close(fd);
		fd = -1;
	}
fail:
	freeaddrinfo(res);
	return fd;
}

static void
conn_free(int ep, struct conn *c)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	(void)close(c->fd);
	free(c->out);
	free(c);
	nconns--;
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

/* Returns 0, or -1 when the connection must close. */
static int
flush_out(int ep, struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out(ep, c, 1);
				return 0;
			}
			return -1;
		}
		c->ooff += (size_t)n;
	}
	c->ooff = 0;
	c->olen = 0;
	set_out(ep, c, 0);
	return 0;
}

/* Answer every complete request in rbuf. Returns 0, or -1 on a protocol error. */
static int
answer(struct conn *c)
{
	size_t off = 0, len, i;

	for (;;) {
		len = 0;
		for (i = off; i < c->rlen && c->rbuf[i] >= '0' && c->rbuf[i] <= '9'; i++) {
			len = len * 10 + (size_t)(c->rbuf[i] - '0');
			if (len > QUERY_MAX)
				return -1;
		}
		if (i == c->rlen)
			break;
		if (i == off || c->rbuf[i] != ':')
			return -1;
		if (c->rlen - i - 1 < len + 1)
			break;
		if (c->rbuf[i + 1 + len] != ',')
			return -1;
		if (c->olen + reply_len > OUT_MAX)
			return -1; /* the client does not read its replies */
		if (c->out == NULL) {
			c->out = malloc(OUT_MAX);
			if (c->out == NULL)
				return -1;
		}
		memcpy(c->out + c->olen, reply, reply_len);
		c->olen += reply_len;
		off = i + 1 + len + 1;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return 0;
}

static void
on_conn(int ep, struct conn *c, uint32_t events)
{
	ssize_t n;
	size_t space;

	if ((events & EPOLLOUT) && flush_out(ep, c) < 0)
		goto fail;
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	for (;;) {
		space = RBUF_SIZE - c->rlen;
		if (space == 0)
			goto fail;
		n = recv(c->fd, c->rbuf + c->rlen, space, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			goto fail;
		c->rlen += (size_t)n;
		if (answer(c) < 0)
			goto fail;
		if ((size_t)n < space)
			break;
	}
	if (c->olen > 0 && flush_out(ep, c) < 0)
		goto fail;
	return;
fail:
	conn_free(ep, c);
}

static void
on_accept(int ep, int lfd)
{
	struct epoll_event ev;
	struct conn *c;
	int fd, one = 1;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (nconns >= CONNS_MAX) {
			(void)close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			(void)close(fd);
			continue;
		}
		c->fd = fd;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			(void)close(fd);
			free(c);
			continue;
		}
		nconns++;
	}
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:8463";
	const char *text = "OK secure match=mail.example.test servername=hostname";
	struct epoll_event ev, evs[256];
	static int lfd_tag;
	long lifetime_s = 1800;
	time_t end;
	char *e;
	int opt, ep, lfd, n, i, len;

	while ((opt = getopt(argc, argv, "l:r:t:h")) != -1) {
		switch (opt) {
		case 'l':
			addr = optarg;
			break;
		case 'r':
			text = optarg;
			break;
		case 't':
			lifetime_s = strtol(optarg, &e, 10);
			if (e == optarg || *e != '\0' || lifetime_s < 1 ||
			    lifetime_s > LIFETIME_MAX)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || strlen(text) > REPLY_MAX)
		usage();
	len = snprintf(reply, sizeof(reply), "%zu:%s,", strlen(text), text);
	if (len < 0 || (size_t)len >= sizeof(reply))
		usage();
	reply_len = (size_t)len;
	lfd = listen_on(addr);
	if (lfd < 0) {
		fprintf(stderr, "sm_trivial: cannot listen on %s: %s\n", addr, strerror(errno));
		return 1;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGINT, on_signal);
	(void)signal(SIGTERM, on_signal);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return 1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &lfd_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return 1;
	end = time(NULL) + lifetime_s;
	while (!stop_flag && time(NULL) < end) {
		n = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd_tag)
				on_accept(ep, lfd);
			else
				on_conn(ep, evs[i].data.ptr, evs[i].events);
		}
	}
	return 0;
}
