/*
 * resolver/dns_client.c - asynchronous DNS stub client on the event loop (ldns as codec only)
 *
 * Interface: see dns_client.h
 * Design:    every query owns one socket at a time. A try is one UDP exchange with one server
 *            (non-blocking socket bound to port 0, so the kernel picks a random source port,
 *            then connect()ed so only that server's datagrams arrive), 16-bit ID from
 *            getrandom(). Datagrams whose ID, QR/opcode or question (name, type, class IN)
 *            do not match are ignored and the try keeps waiting. A reply with TC set is
 *            repeated over TCP to the same server (2-byte length framing) within a fresh
 *            per-try timeout. Tries rotate over the servers: try i goes to server
 *            i % n_servers, dns_attempts rounds in total.
 *            SERVFAIL, REFUSED and undecodable replies move on to the next server when
 *            there is more than one; the last such error is reported when every try failed.
 *            When no server answered at all: ERR_DNS_UNREACHABLE when every try failed at
 *            the network level (ICMP port unreachable = ECONNREFUSED on the connected UDP
 *            socket, no route, ...; dns_query_detail() names the server and the error),
 *            otherwise (at least one try timed out) ERR_DNS_TIMEOUT.
 * Threads:   main loop only.
 * Ownership: the client owns its queries; a query is freed right after its callback.
 *            User callbacks run only from loop callbacks (io, timer), or at once from
 *            dns_query_cancel()/dns_client_free() with -ECANCELED; never from inside
 *            dns_query_start().
 * Errors:    see dns_client.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_client.h"
#include "err.h"
#include "log.h"
#include "xalloc.h"

/* "addr%scope@port" (dns_server_text()). */
#define DNS_SERVER_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 8)

struct dns_server {
	struct sockaddr_storage sa;
	socklen_t salen;
};

struct dns_client {
	struct loop *loop;
	struct dns_server *servers;
	size_t n_servers;
	uint64_t timeout_ms;
	unsigned attempts;
	int all_loopback;
	int freeing;
	struct dns_query *head;
	/* Queries in flight (each holds at most one socket), at most max_running (0: no
	 * limit, resolver.dns_concurrency); the others wait in a FIFO for one to finish. */
	unsigned max_running;
	unsigned n_running;
	struct dns_query *wait_head, *wait_tail;
	unsigned n_waiting; /* in the FIFO, at most DNS_WAIT_MAX */
};

enum dns_phase {
	DNS_PHASE_START = 0, /* waiting for the zero-delay kick timer */
	DNS_PHASE_UDP,       /* datagram sent, waiting for the reply */
	DNS_PHASE_TCP_CONNECT,
	DNS_PHASE_TCP_WRITE,
	DNS_PHASE_TCP_READ,
};

struct dns_query {
	struct dns_client *c;
	struct dns_query *prev, *next;
	ldns_rdf *qname;
	uint16_t rrtype;
	unsigned flags;
	dns_done_fn *done;
	void *arg;
	uint16_t id;
	uint8_t *wire; /* the query, DNS message without TCP length */
	size_t wirelen;
	unsigned try;
	unsigned max_tries;
	int last_err;                /* rcode error of a failed try; 0 = only timeouts so far */
	unsigned n_timeouts;         /* tries that timed out */
	unsigned n_lost;             /* tries lost to a network error (refused, unreachable) */
	int net_errno;               /* the last such error (errno value) ... */
	size_t net_server;           /* ... and the index of the server it came from */
	char detail[DNS_DETAIL_MAX]; /* dns_query_detail(), filled when finishing */
	enum dns_phase phase;
	int running; /* counted in c->n_running */
	int waiting; /* in c's wait FIFO */
	struct dns_query *wprev, *wnext;
	int fd;
	struct loop_timer timer;
	/* TCP exchange */
	uint8_t *tbuf;
	size_t tlen; /* bytes sent or received so far */
	size_t texp; /* bytes expected (message length + 2) */
};

static void dns_try_next(struct dns_query *q);

static int
dns_sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

static int
dns_parse_port(const char *s, uint16_t *ret_port)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*ret_port = (uint16_t)v;
	return 0;
}

static int
dns_parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *pct;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return 0;
	}
	if (strlen(host) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, strlen(host) + 1);
	pct = strchr(buf, '%');
	if (pct != NULL)
		*pct++ = '\0';
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
		return -EINVAL;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	if (pct != NULL) {
		/* as glibc's resolv.conf parser: an interface name, else a decimal index
		 * ("fe80::53%eth0", "fe80::53%2") */
		in6->sin6_scope_id = if_nametoindex(pct);
		if (in6->sin6_scope_id == 0) {
			char *end;
			unsigned long v;

			if (*pct < '0' || *pct > '9')
				return -EINVAL;
			errno = 0;
			v = strtoul(pct, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX)
				return -EINVAL;
			in6->sin6_scope_id = (uint32_t)v;
		}
	}
	*len = sizeof(*in6);
	return 0;
}

int
dns_server_parse(const char *text, struct sockaddr_storage *ss, socklen_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *p, *portstr = NULL;
	uint16_t port = 53;
	size_t hl;
	int r;

	if (text == NULL || *text == '\0')
		return -EINVAL;
	if (text[0] == '[') {
		p = strchr(text, ']');
		if (p == NULL)
			return -EINVAL;
		hl = (size_t)(p - text - 1);
		if (p[1] == ':' || p[1] == '@')
			portstr = p + 2;
		else if (p[1] != '\0')
			return -EINVAL;
		text++;
	} else {
		p = strchr(text, '@');
		if (p == NULL && strchr(text, ':') == strrchr(text, ':'))
			p = strchr(text, ':'); /* a.b.c.d:port; several colons = IPv6 */
		hl = p != NULL ? (size_t)(p - text) : strlen(text);
		if (p != NULL)
			portstr = p + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (portstr != NULL) {
		r = dns_parse_port(portstr, &port);
		if (r < 0)
			return r;
	}
	return dns_parse_addr(host, port, ss, ret_len);
}

int
dns_resolv_conf_read(const char *path, char ***ret_list, size_t *ret_n)
{
	char line[512], *p, *e, **list = NULL;
	size_t n = 0;
	FILE *fp;

	fp = fopen(path, "re");
	if (fp == NULL)
		return -errno;
	while (fgets(line, sizeof(line), fp) != NULL && n < DNS_SERVERS_MAX) {
		p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p;
		while (*e != '\0' && !isspace((unsigned char)*e))
			e++;
		if (e == p)
			continue;
		*e = '\0';
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n++] = xstrdup(p);
	}
	(void)fclose(fp);
	*ret_list = list;
	*ret_n = n;
	return 0;
}

static void
dns_client_add_server(struct dns_client *c, const char *text)
{
	struct dns_server s;

	if (c->n_servers >= DNS_SERVERS_MAX)
		return;
	if (dns_server_parse(text, &s.sa, &s.salen) < 0) {
		log_warn("dns: cannot parse nameserver '%s', ignoring", text);
		return;
	}
	c->servers = xrealloc(c->servers, (c->n_servers + 1) * sizeof(*c->servers));
	c->servers[c->n_servers++] = s;
}

int
dns_client_new(struct loop *loop, const struct cfg_resolver *cfg, struct dns_client **ret_client)
{
	return dns_client_new_like(loop, cfg, NULL, ret_client);
}

int
dns_client_new_like(struct loop *loop, const struct cfg_resolver *cfg,
                    const struct dns_client *like, struct dns_client **ret_client)
{
	struct dns_client *c;
	char **list = NULL;
	size_t i, n = 0;

	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->timeout_ms = cfg->dns_timeout_ms > 0 ? cfg->dns_timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	c->attempts = cfg->dns_attempts > 0 ? cfg->dns_attempts : DNS_ATTEMPTS_DEFAULT;
	if (c->attempts > DNS_ATTEMPTS_MAX)
		c->attempts = DNS_ATTEMPTS_MAX;
	if (cfg->dns_concurrency > 0)
		c->max_running = cfg->dns_concurrency >= 2 * DNS_CLIENTS
		                         ? cfg->dns_concurrency / DNS_CLIENTS
		                         : 1;
	if (like != NULL) {
		c->servers =
		        xcalloc(like->n_servers > 0 ? like->n_servers : 1, sizeof(*c->servers));
		if (like->n_servers > 0)
			memcpy(c->servers, like->servers, like->n_servers * sizeof(*c->servers));
		c->n_servers = like->n_servers;
	} else if (cfg->n_dns_servers > 0) {
		for (i = 0; i < cfg->n_dns_servers; i++)
			dns_client_add_server(c, cfg->dns_servers[i]);
		if (c->n_servers == 0) {
			free(c);
			return -EINVAL;
		}
	} else {
		int r = dns_resolv_conf_read(DNS_RESOLV_CONF, &list, &n);

		for (i = 0; i < n; i++) {
			dns_client_add_server(c, list[i]);
			free(list[i]);
		}
		free(list);
		if (c->n_servers == 0) {
			/* glibc's fallback too; said loudly, since nothing may answer there */
			if (r < 0)
				log_err("dns: cannot read %s (%s) and resolver.dns_servers is not "
				        "set: "
				        "using 127.0.0.1, every lookup fails unless a resolver "
				        "runs there",
				        DNS_RESOLV_CONF, strerror(-r));
			else if (n > 0)
				log_err("dns: none of the %zu nameserver lines of %s is usable "
				        "(see the "
				        "warnings above): using 127.0.0.1, every lookup fails "
				        "unless a "
				        "resolver runs there; set resolver.dns_servers",
				        n, DNS_RESOLV_CONF);
			else
				log_warn("dns: %s has no nameserver line and resolver.dns_servers "
				         "is "
				         "not set: using 127.0.0.1",
				         DNS_RESOLV_CONF);
			dns_client_add_server(c, "127.0.0.1");
		}
	}
	c->all_loopback = 1;
	for (i = 0; i < c->n_servers; i++)
		if (!dns_sockaddr_is_loopback(&c->servers[i].sa))
			c->all_loopback = 0;
	*ret_client = c;
	return 0;
}

int
dns_client_servers_loopback(const struct dns_client *c)
{
	return c->all_loopback;
}

static void dns_server_text(const struct dns_server *s, char *buf, size_t len);

size_t
dns_client_off_loopback(const struct dns_client *c, char *buf, size_t len)
{
	size_t i, n = 0;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < c->n_servers; i++) {
		if (dns_sockaddr_is_loopback(&c->servers[i].sa))
			continue;
		if (n++ == 0 && len > 0)
			dns_server_text(&c->servers[i], buf, len);
	}
	return n;
}

static void
dns_close_socket(struct dns_query *q)
{
	if (q->fd >= 0) {
		loop_io_del(q->c->loop, q->fd);
		(void)close(q->fd);
		q->fd = -1;
	}
	free(q->tbuf);
	q->tbuf = NULL;
	q->tlen = q->texp = 0;
}

/* "127.0.0.1@5353", "::1@53", "fe80::1%eth0@53": the dns_servers syntax. */
static void
dns_server_text(const struct dns_server *s, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE];
	unsigned port = 0;

	host[0] = '\0';
	if (s->sa.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&s->sa;

		(void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		(void)snprintf(buf, len, "%s@%u", host, port);
		return;
	}
	if (s->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&s->sa;

		(void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		if (in6->sin6_scope_id != 0 && if_indextoname(in6->sin6_scope_id, ifname) != NULL)
			(void)snprintf(buf, len, "%s%%%s@%u", host, ifname, port);
		else if (in6->sin6_scope_id != 0)
			(void)snprintf(buf, len, "%s%%%u@%u", host, (unsigned)in6->sin6_scope_id,
			               port);
		else
			(void)snprintf(buf, len, "%s@%u", host, port);
		return;
	}
	(void)snprintf(buf, len, "?");
}

/* Record a try lost to a network error (errno value e) on the current try's server. */
static void
dns_note_lost(struct dns_query *q, int e)
{
	q->n_lost++;
	q->net_errno = e;
	q->net_server = (q->try - 1) % q->c->n_servers;
}

/* The error of a query that used every try without a usable answer. */
static int
dns_final_err(struct dns_query *q)
{
	char srv[DNS_SERVER_TEXT_MAX], why[64];

	if (q->last_err != 0)
		return q->last_err;
	if (q->n_lost == 0 || q->n_timeouts > 0)
		return ERR_DNS_TIMEOUT;
	dns_server_text(&q->c->servers[q->net_server], srv, sizeof(srv));
	(void)snprintf(why, sizeof(why), "%s", strerror(q->net_errno));
	if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
		why[0] = (char)(why[0] - 'A' + 'a'); /* "Connection refused" -> "connection..." */
	(void)snprintf(q->detail, sizeof(q->detail), "%s (%s)", srv, why);
	return ERR_DNS_UNREACHABLE;
}

const char *
dns_query_detail(const struct dns_query *q)
{
	return q != NULL ? q->detail : "";
}

static void dns_kick(struct loop *loop, struct loop_timer *t, void *arg);

static void
dns_wait_del(struct dns_query *q)
{
	struct dns_client *c = q->c;

	if (q->wprev != NULL)
		q->wprev->wnext = q->wnext;
	else
		c->wait_head = q->wnext;
	if (q->wnext != NULL)
		q->wnext->wprev = q->wprev;
	else
		c->wait_tail = q->wprev;
	q->wprev = q->wnext = NULL;
	q->waiting = 0;
	c->n_waiting--;
}

/* q leaves the queries in flight: its place goes to the first waiting query, if any. */
static void
dns_release(struct dns_query *q)
{
	struct dns_client *c = q->c;
	struct dns_query *w = c->wait_head;

	if (q->waiting)
		dns_wait_del(q);
	if (!q->running)
		return;
	q->running = 0;
	if (w == NULL || c->freeing) {
		c->n_running--;
		return;
	}
	dns_wait_del(w);
	w->running = 1;
	loop_timer_start(c->loop, &w->timer, 0, dns_kick, w);
}

/* Unlink, release and call back. Nothing touches the client after done() returns. */
static void
dns_finish(struct dns_query *q, int err, const ldns_pkt *pkt, int ad)
{
	struct dns_client *c = q->c;

	loop_timer_stop(c->loop, &q->timer);
	dns_close_socket(q);
	dns_release(q);
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		c->head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->done(err, pkt, ad, q->arg);
	ldns_rdf_deep_free(q->qname);
	free(q->wire);
	free(q);
}

/* Follow the CNAME chain of qname inside the answer section (bounded); returns a borrowed
 * owner name of the records of interest. */
static const ldns_rdf *
dns_cname_target(const ldns_pkt *pkt, const ldns_rdf *qname, uint16_t rrtype)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	const ldns_rdf *name = qname;
	size_t i, hops;
	int moved;

	if (rrtype == LDNS_RR_TYPE_CNAME)
		return name;
	for (hops = 0; hops < DNS_CNAME_MAX; hops++) {
		moved = 0;
		for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
			    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(rr) < 1)
				continue;
			if (ldns_dname_compare(ldns_rr_owner(rr), name) != 0)
				continue;
			name = ldns_rr_rdf(rr, 0);
			moved = 1;
			break;
		}
		if (!moved)
			break;
	}
	return name;
}

static size_t
dns_count_type(const ldns_pkt *pkt, const ldns_rdf *owner, uint16_t rrtype)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	size_t i, n = 0;

	for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) == rrtype && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
		    ldns_dname_compare(ldns_rr_owner(rr), owner) == 0)
			n++;
	}
	return n;
}

size_t
dns_answer_addrs(const ldns_pkt *answer, uint16_t rrtype, dns_addr_text *out, size_t max)
{
	const ldns_rr *qr;
	const ldns_rr_list *an;
	const ldns_rdf *owner;
	size_t i, n = 0;
	int af = rrtype == LDNS_RR_TYPE_AAAA ? AF_INET6 : AF_INET;
	size_t alen = rrtype == LDNS_RR_TYPE_AAAA ? 16 : 4;

	if (answer == NULL || (rrtype != LDNS_RR_TYPE_A && rrtype != LDNS_RR_TYPE_AAAA))
		return 0;
	qr = ldns_rr_list_rr(ldns_pkt_question(answer), 0);
	an = ldns_pkt_answer(answer);
	if (qr == NULL || an == NULL)
		return 0;
	owner = dns_cname_target(answer, ldns_rr_owner(qr), rrtype);
	for (i = 0; i < ldns_rr_list_rr_count(an) && n < max; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		const ldns_rdf *rd;

		if (ldns_rr_get_type(rr) != rrtype || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
		    ldns_rr_rd_count(rr) < 1 || ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		rd = ldns_rr_rdf(rr, 0);
		if (ldns_rdf_size(rd) != alen)
			continue; /* never trust a length */
		if (inet_ntop(af, ldns_rdf_data(rd), out[n], sizeof(out[n])) != NULL)
			n++;
	}
	return n;
}

/* By name, then preference: a name's lowest preference first. */
static int
dns_mx_name_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->name, y->name);
}

size_t
dns_answer_mx(const ldns_pkt *answer, struct dns_mx *out, size_t max, size_t *ret_invalid)
{
	const ldns_rr_list *an = answer != NULL ? ldns_pkt_answer(answer) : NULL;
	size_t count = an != NULL ? ldns_rr_list_rr_count(an) : 0, i, n = 0, uniq = 0, bad = 0;
	struct dns_mx *all = xcalloc(count > 0 ? count : 1, sizeof(*all));

	for (i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		char *s;
		size_t len;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_MX || ldns_rr_rd_count(rr) < 2)
			continue;
		s = ldns_rdf2str(ldns_rr_rdf(rr, 1));
		if (s == NULL) {
			bad++;
			continue;
		}
		len = strlen(s);
		if (len > 1 && s[len - 1] == '.')
			s[len - 1] = '\0';
		if (domain_normalize(s, all[n].name) == 0)
			all[n++].pref = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
		else
			bad++;
		free(s);
	}
	/* a name listed twice counts once, at its lowest preference (O(n log n): an answer
	 * may hold thousands of records) */
	qsort(all, n, sizeof(*all), dns_mx_name_cmp);
	for (i = 0; i < n; i++) {
		if (uniq > 0 && strcmp(all[i].name, all[uniq - 1].name) == 0)
			continue;
		if (uniq != i)
			all[uniq] = all[i];
		uniq++;
	}
	qsort(all, uniq, sizeof(*all), dns_mx_cmp);
	for (i = 0; i < uniq && i < max; i++)
		out[i] = all[i];
	free(all);
	if (ret_invalid != NULL)
		*ret_invalid = bad;
	return uniq;
}

/* 1 when the message answers our question, 0 when it is to be ignored. */
static int
dns_reply_matches(uint16_t id, const ldns_rdf *qname, uint16_t rrtype, const ldns_pkt *pkt)
{
	const ldns_rr *qr;

	if (ldns_pkt_id(pkt) != id || !ldns_pkt_qr(pkt) ||
	    ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY || ldns_pkt_qdcount(pkt) != 1)
		return 0;
	qr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	if (qr == NULL || ldns_rr_get_type(qr) != rrtype ||
	    ldns_rr_get_class(qr) != LDNS_RR_CLASS_IN ||
	    ldns_dname_compare(ldns_rr_owner(qr), qname) != 0)
		return 0;
	return 1;
}

static int
dns_rcode_err(const ldns_rdf *qname, uint16_t rrtype, const ldns_pkt *pkt)
{
	switch (ldns_pkt_get_rcode(pkt)) {
	case LDNS_RCODE_NOERROR:
		if (dns_count_type(pkt, dns_cname_target(pkt, qname, rrtype), rrtype) > 0)
			return 0;
		return ERR_DNS_NODATA;
	case LDNS_RCODE_NXDOMAIN:
		return ERR_DNS_NXDOMAIN;
	case LDNS_RCODE_SERVFAIL:
		return ERR_DNS_SERVFAIL;
	case LDNS_RCODE_REFUSED:
		return ERR_DNS_REFUSED;
	default:
		return ERR_DNS_MALFORMED;
	}
}

int
dns_message_check(uint16_t id, const ldns_rdf *qname, uint16_t rrtype, const uint8_t *buf,
                  size_t len, int tcp, ldns_pkt **ret_pkt, int *ret_err)
{
	ldns_pkt *pkt = NULL;
	int err;

	*ret_pkt = NULL;
	*ret_err = 0;
	if (len < LDNS_HEADER_SIZE || LDNS_ID_WIRE(buf) != id)
		return DNS_MSG_MISMATCH;
	if (ldns_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK) {
		/* Our ID from our server but not a DNS message. */
		*ret_err = ERR_DNS_MALFORMED;
		return DNS_MSG_FAILED;
	}
	if (!dns_reply_matches(id, qname, rrtype, pkt)) {
		ldns_pkt_free(pkt);
		return DNS_MSG_MISMATCH;
	}
	if (ldns_pkt_tc(pkt) && !tcp) {
		ldns_pkt_free(pkt);
		return DNS_MSG_TRUNCATED;
	}
	err = dns_rcode_err(qname, rrtype, pkt);
	*ret_err = err;
	if (err == 0 || err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA) {
		*ret_pkt = pkt;
		return DNS_MSG_ANSWER;
	}
	ldns_pkt_free(pkt);
	return DNS_MSG_FAILED;
}

/* A try failed with err (not a timeout): next server, or finish when it is the only one. */
static void
dns_try_failed(struct dns_query *q, int err)
{
	q->last_err = err;
	dns_close_socket(q);
	if (q->c->n_servers < 2 || q->try >= q->max_tries) {
		dns_finish(q, err, NULL, 0);
		return;
	}
	dns_try_next(q);
}

/* The try got no usable answer (network error): go on like after a timeout. */
static void
dns_try_lost(struct dns_query *q, int r)
{
	char srv[DNS_SERVER_TEXT_MAX];

	dns_note_lost(q, -r);
	dns_server_text(&q->c->servers[q->net_server], srv, sizeof(srv));
	log_debug("dns: try %u to %s: %s, trying again", q->try, srv, strerror(-r));
	dns_close_socket(q);
	dns_try_next(q);
}

static void dns_tcp_start(struct dns_query *q);

/* A complete message from the server (UDP datagram or TCP frame). Returns 1 when a UDP
 * datagram was ignored and the query keeps waiting on the same socket, 0 when the query
 * moved on (TCP, next try) or finished; q may be freed then. */
static int
dns_handle_message(struct dns_query *q, const uint8_t *buf, size_t len, int tcp)
{
	ldns_pkt *pkt;
	int err, ad;

	switch (dns_message_check(q->id, q->qname, q->rrtype, buf, len, tcp, &pkt, &err)) {
	case DNS_MSG_MISMATCH:
		if (tcp) { /* a stream carries one answer to one question: no second chance */
			dns_try_failed(q, ERR_DNS_MALFORMED);
			return 0;
		}
		/* UDP: ignore it, keep waiting (possible spoofing or a late answer). */
		return 1;
	case DNS_MSG_TRUNCATED:
		dns_tcp_start(q);
		return 0;
	case DNS_MSG_ANSWER:
		ad = ldns_pkt_ad(pkt) && q->c->all_loopback;
		dns_finish(q, err, pkt, ad);
		ldns_pkt_free(pkt);
		return 0;
	default: /* DNS_MSG_FAILED */
		dns_try_failed(q, err);
		return 0;
	}
}

static void
dns_udp_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct dns_query *q = arg;
	uint8_t buf[DNS_MSG_MAX];
	ssize_t n;
	int i;

	/* Bounded: drain what is queued now, at most DNS_UDP_BURST datagrams per wakeup. */
	for (i = 0; i < DNS_UDP_BURST; i++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			/* ICMP port unreachable and the like: this server is not answering. */
			dns_try_lost(q, -errno);
			return;
		}
		if (!dns_handle_message(q, buf, (size_t)n, 0))
			return; /* q moved on or is freed */
	}
}

static int
dns_socket_for(const struct dns_server *s, int type)
{
	struct sockaddr_storage local;
	socklen_t llen;
	int fd;

	fd = socket(s->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&local, 0, sizeof(local));
	local.ss_family = s->sa.ss_family;
	llen = s->sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                  : sizeof(struct sockaddr_in6);
	/* Port 0: the kernel picks a random ephemeral source port. */
	if (bind(fd, (struct sockaddr *)&local, llen) < 0) {
		int r = -errno;
		(void)close(fd);
		return r;
	}
	return fd;
}

static void
dns_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dns_query *q = arg;

	q->n_timeouts++;
	dns_close_socket(q);
	dns_try_next(q);
}

static void
dns_tcp_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct dns_query *q = arg;
	socklen_t elen = sizeof(int);
	size_t mlen;
	ssize_t n;
	int soerr = 0;

	if (q->phase == DNS_PHASE_TCP_CONNECT) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0)
			soerr = errno;
		if (soerr != 0) {
			dns_try_lost(q, -soerr);
			return;
		}
		q->phase = DNS_PHASE_TCP_WRITE;
	}
	if (q->phase == DNS_PHASE_TCP_WRITE) {
		n = send(fd, q->tbuf + q->tlen, q->texp - q->tlen, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			dns_try_lost(q, -errno);
			return;
		}
		q->tlen += (size_t)n;
		if (q->tlen < q->texp)
			return;
		q->phase = DNS_PHASE_TCP_READ;
		q->tlen = 0;
		q->texp = 2;
		(void)loop_io_mod(loop, fd, LOOP_READ);
		return;
	}
	if (q->phase != DNS_PHASE_TCP_READ)
		return;
	n = recv(fd, q->tbuf + q->tlen, q->texp - q->tlen, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		dns_try_lost(q, -errno);
		return;
	}
	if (n == 0) {
		dns_try_lost(q, -ECONNRESET);
		return;
	}
	q->tlen += (size_t)n;
	if (q->tlen < q->texp)
		return;
	if (q->texp == 2) {
		mlen = ((size_t)q->tbuf[0] << 8) | q->tbuf[1];
		if (mlen < LDNS_HEADER_SIZE) {
			dns_try_failed(q, ERR_DNS_MALFORMED);
			return;
		}
		q->texp = 2 + mlen; /* <= 65537, the buffer holds DNS_MSG_MAX + 2 */
		return;
	}
	(void)dns_handle_message(q, q->tbuf + 2, q->texp - 2, 1);
}

static void
dns_tcp_start(struct dns_query *q)
{
	const struct dns_server *s;
	int fd, r;

	dns_close_socket(q);
	s = &q->c->servers[(q->try - 1) % q->c->n_servers];
	fd = dns_socket_for(s, SOCK_STREAM);
	if (fd < 0) {
		dns_try_lost(q, fd);
		return;
	}
	q->fd = fd;
	q->tbuf = xmalloc(DNS_MSG_MAX + 2);
	q->tbuf[0] = (uint8_t)(q->wirelen >> 8);
	q->tbuf[1] = (uint8_t)(q->wirelen & 0xff);
	memcpy(q->tbuf + 2, q->wire, q->wirelen);
	q->tlen = 0;
	q->texp = q->wirelen + 2;
	q->phase = DNS_PHASE_TCP_CONNECT;
	if (connect(fd, (const struct sockaddr *)&s->sa, s->salen) < 0 && errno != EINPROGRESS) {
		dns_try_lost(q, -errno);
		return;
	}
	r = loop_io_add(q->c->loop, fd, LOOP_WRITE, dns_tcp_io, q);
	if (r < 0) {
		dns_try_lost(q, r);
		return;
	}
	/* The TCP exchange gets its own full per-try timeout. */
	loop_timer_start(q->c->loop, &q->timer, q->c->timeout_ms, dns_timeout, q);
}

/* Start the next try, or finish when all are used. Called from loop callbacks only. */
static void
dns_try_next(struct dns_query *q)
{
	const struct dns_server *s;
	int fd, r;

	for (;;) {
		if (q->try >= q->max_tries) {
			dns_finish(q, dns_final_err(q), NULL, 0);
			return;
		}
		s = &q->c->servers[q->try % q->c->n_servers];
		q->try++;
		fd = dns_socket_for(s, SOCK_DGRAM);
		if (fd < 0) {
			log_warn("dns: cannot open a socket: %s, trying again", strerror(-fd));
			dns_note_lost(q, -fd);
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&s->sa, s->salen) < 0 ||
		    send(fd, q->wire, q->wirelen, 0) < 0) {
			int e = errno;
			char srv[DNS_SERVER_TEXT_MAX];

			dns_server_text(s, srv, sizeof(srv));
			log_debug("dns: try %u to %s: send: %s, trying again", q->try, srv,
			          strerror(e));
			dns_note_lost(q, e);
			(void)close(fd);
			continue;
		}
		r = loop_io_add(q->c->loop, fd, LOOP_READ, dns_udp_io, q);
		if (r < 0) {
			dns_note_lost(q, -r);
			(void)close(fd);
			continue;
		}
		q->fd = fd;
		q->phase = DNS_PHASE_UDP;
		loop_timer_start(q->c->loop, &q->timer, q->c->timeout_ms, dns_timeout, q);
		return;
	}
}

/* The first try, once the query is among those in flight; until then it waits, in order
 * of arrival (its caller's own deadline still runs: lookups time out on their timers). */
static void
dns_kick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dns_query *q = arg;
	struct dns_client *c = q->c;

	if (!q->running) {
		if (c->max_running > 0 &&
		    (c->n_running >= c->max_running || c->wait_head != NULL)) {
			if (c->n_waiting >= DNS_WAIT_MAX) {
				/* Issue 16: the FIFO is bounded; never sent, fails at once. */
				(void)snprintf(q->detail, sizeof(q->detail),
				               "%u queries waiting for a slot (DNS_WAIT_MAX)",
				               c->n_waiting);
				dns_finish(q, ERR_DNS_BUSY, NULL, 0);
				return;
			}
			q->waiting = 1;
			c->n_waiting++;
			q->wprev = c->wait_tail;
			if (c->wait_tail != NULL)
				c->wait_tail->wnext = q;
			else
				c->wait_head = q;
			c->wait_tail = q;
			return;
		}
		q->running = 1;
		c->n_running++;
	}
	dns_try_next(q);
}

static int
dns_build_query(struct dns_query *q, const char *name)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *owner = NULL;
	char *abs;
	int r = -EINVAL;

	abs = xasprintf("%s.", name);
	if (ldns_str2rdf_dname(&owner, abs) != LDNS_STATUS_OK)
		goto out;
	q->qname = ldns_rdf_clone(owner);
	pkt = ldns_pkt_query_new(owner, (ldns_rr_type)q->rrtype, LDNS_RR_CLASS_IN, LDNS_RD);
	if (pkt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (getrandom(&q->id, sizeof(q->id), 0) != sizeof(q->id)) {
		r = -EIO;
		goto out;
	}
	ldns_pkt_set_id(pkt, q->id);
	if (q->flags & DNS_FLAG_DO) {
		ldns_pkt_set_edns_udp_size(pkt, DNS_EDNS_UDP_SIZE);
		ldns_pkt_set_edns_do(pkt, 1);
	}
	if (ldns_pkt2wire(&q->wire, pkt, &q->wirelen) != LDNS_STATUS_OK) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	else if (owner != NULL)
		ldns_rdf_deep_free(owner);
	free(abs);
	return r;
}

struct dns_query *
dns_query_start(struct dns_client *c, const char *name, uint16_t rrtype, unsigned flags,
                dns_done_fn *done, void *arg)
{
	struct dns_query *q;
	size_t len;

	if (c->freeing || name == NULL)
		return NULL;
	len = strlen(name);
	if (len == 0 || len > DOMAIN_NAME_MAX || name[len - 1] == '.')
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->c = c;
	q->rrtype = rrtype;
	q->flags = flags;
	q->done = done;
	q->arg = arg;
	q->fd = -1;
	q->max_tries = c->attempts * (unsigned)c->n_servers;
	if (dns_build_query(q, name) < 0) {
		ldns_rdf_deep_free(q->qname);
		free(q->wire);
		free(q);
		return NULL;
	}
	q->next = c->head;
	if (c->head != NULL)
		c->head->prev = q;
	c->head = q;
	/* The first try starts from the loop, so done() never runs inside this call. */
	loop_timer_start(c->loop, &q->timer, 0, dns_kick, q);
	return q;
}

void
dns_client_queries(const struct dns_client *c, unsigned *ret_running, unsigned *ret_waiting)
{
	*ret_running = c->n_running;
	*ret_waiting = c->n_waiting;
}

int
dns_query_sent(const struct dns_query *q)
{
	return q->running;
}

void
dns_query_cancel(struct dns_query *q)
{
	if (q != NULL)
		dns_finish(q, -ECANCELED, NULL, 0);
}

struct dns_client *
dns_client_free(struct dns_client *c)
{
	if (c == NULL)
		return NULL;
	c->freeing = 1;
	while (c->head != NULL)
		dns_finish(c->head, -ECANCELED, NULL, 0);
	free(c->servers);
	free(c);
	return NULL;
}

int
dns_answer_txt(const ldns_pkt *answer, const char *qname, struct txt_rr **ret_rrs, size_t *ret_n)
{
	const ldns_rr_list *an;
	const ldns_rdf *owner;
	ldns_rdf *qn = NULL;
	struct txt_rr *rrs = NULL;
	size_t i, j, n = 0, len, sl, keep;
	char *abs, *data;
	int r = 0;

	if (answer == NULL)
		return ERR_DNS_MALFORMED;
	abs = xasprintf("%s.", qname);
	if (ldns_str2rdf_dname(&qn, abs) != LDNS_STATUS_OK) {
		free(abs);
		return ERR_DNS_MALFORMED;
	}
	free(abs);
	owner = dns_cname_target(answer, qn, LDNS_RR_TYPE_TXT);
	an = ldns_pkt_answer(answer);
	for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		len = 0;
		for (j = 0; j < ldns_rr_rd_count(rr); j++) {
			const ldns_rdf *rd = ldns_rr_rdf(rr, j);
			if (ldns_rdf_size(rd) < 1) {
				r = ERR_DNS_MALFORMED;
				goto fail;
			}
			len += ldns_rdf_size(rd) - 1;
		}
		/* An over-long RR is kept as its first STS_TXT_MAX + 1 bytes: the record
		 * selection still sees what it starts with (RFC 8461 section 3.1: records that
		 * do not start with "v=STSv1;" are ignored, so a long SPF or verification
		 * record beside the policy record hides nothing), and a "v=STSv1" one that long
		 * still fails its syntax check (sts_txt.c). */
		if (len > STS_TXT_MAX + 1)
			len = STS_TXT_MAX + 1;
		data = xmalloc(len + 1);
		keep = len;
		len = 0;
		for (j = 0; j < ldns_rr_rd_count(rr) && len < keep; j++) {
			const ldns_rdf *rd = ldns_rr_rdf(rr, j);
			const uint8_t *d = ldns_rdf_data(rd);
			sl = d[0];
			if (sl > ldns_rdf_size(rd) - 1)
				sl = ldns_rdf_size(rd) - 1;
			if (sl > keep - len)
				sl = keep - len;
			memcpy(data + len, d + 1, sl);
			len += sl;
		}
		data[len] = '\0';
		rrs = xrealloc(rrs, (n + 1) * sizeof(*rrs));
		rrs[n].data = data;
		rrs[n].len = len;
		n++;
	}
	ldns_rdf_deep_free(qn);
	*ret_rrs = rrs;
	*ret_n = n;
	return 0;
fail:
	ldns_rdf_deep_free(qn);
	dns_txt_free(rrs, n);
	return r;
}

void
dns_txt_free(struct txt_rr *rrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)rrs[i].data);
	free(rrs);
}
