/*
 * common/cfg_listen.c - the config loader's listen addresses, and the clash check
 *
 * Interface: cfg_listen_sockaddr() (cfg.h); cfg_parse_listen_one(), cfg_parse_listens(),
 *            cfg_listen_default(), cfg_listens_default(), cfg_listen_clear(),
 *            cfg_listen_same(), cfg_finish_admin(), cfg_finish_listeners() (cfg_int.h)
 * Design:    a listener is written "IPv4:port", "[IPv6]:port", "unix:/path" or as a group
 *            { path; mode; owner; group; }. Numeric addresses only (no DNS at load time); an
 *            IPv4-mapped IPv6 address is refused (every IPv6 socket is IPV6_V6ONLY). After
 *            the tables have run, cfg_finish_listeners() refuses two listeners of the process
 *            on one address and port or one socket path, and cfg_finish_admin() an admin
 *            endpoint that the network could reach without a token.
 * Threads:   any; no global state.
 * Errors:    0, or -1 with "file:line: key: reason" in ctx->errbuf (cfg_error()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_int.h"
#include "log.h"
#include "xalloc.h"

/* ---- one listener ---- */

void
cfg_listen_clear(struct cfg_listen *l)
{
	free(l->address);
	free(l->host);
	free(l->path);
	free(l->owner);
	free(l->group);
	memset(l, 0, sizeof(*l));
}

/* "127.0.0.1:8461", "[::1]:8461", "unix:/run/x.sock" -> l. Returns 0 or -1 with why set. */
static int
cfg_listen_from_text(const char *text, struct cfg_listen *l, const char **why)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *colon, *portstr;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	uint16_t port;

	memset(l, 0, sizeof(*l));
	if (strncmp(text, "unix:", 5) == 0) {
		if (text[5] != '/') {
			*why = "unix socket path must be absolute";
			return -1;
		}
		if (strlen(text + 5) > 107) { /* sizeof(sun_path) - 1 on Linux */
			*why = "unix socket path longer than 107 bytes";
			return -1;
		}
		l->path = xstrdup(text + 5);
		l->mode = 0660;
		return 0;
	}
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (rb == NULL || rb[1] != ':') {
			*why = "expected \"[IPv6]:port\"";
			return -1;
		}
		hlen = (size_t)(rb - text - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "bad IPv6 address";
			return -1;
		}
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1) {
			*why = "bad IPv6 address";
			return -1;
		}
		portstr = rb + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "expected \"IPv4:port\", \"[IPv6]:port\" or \"unix:/path\"";
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "bad IPv4 address";
			return -1;
		}
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, addr) != 1) {
			*why = strchr(host, ':') != NULL ? "IPv6 addresses must be in [brackets]"
			                                 : "bad IPv4 address (host names are not "
			                                   "accepted)";
			return -1;
		}
		portstr = colon + 1;
	}
	if (cfg_parse_port(portstr, &port) < 0) {
		*why = "bad port (1..65535)";
		return -1;
	}
	l->address = xstrdup(text);
	l->host = xstrdup(host);
	l->port = port;
	return 0;
}

/* 1 when l is an IPv4-mapped IPv6 address ([::ffff:a.b.c.d]:port), with "a.b.c.d:port" in
 * out; 0 otherwise. Every IPv6 listener sets IPV6_V6ONLY, and Linux refuses to bind such a
 * socket to a mapped address (EINVAL), so the loader refuses it and names the IPv4 form. */
static int
cfg_listen_v4mapped(const struct cfg_listen *l, char *out, size_t outlen)
{
	struct in6_addr a;
	char v4[INET_ADDRSTRLEN];

	if (l->host == NULL || inet_pton(AF_INET6, l->host, &a) != 1 || !IN6_IS_ADDR_V4MAPPED(&a))
		return 0;
	if (inet_ntop(AF_INET, &a.s6_addr[12], v4, sizeof(v4)) == NULL)
		return 0;
	(void)snprintf(out, outlen, "%s:%u", v4, (unsigned)l->port);
	return 1;
}

int
cfg_parse_listen_one(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                     struct cfg_listen *l)
{
	const char *why = NULL, *v = "";
	config_setting_t *m;
	char sub[CFG_KEY_PATH_MAX];
	unsigned i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(s);
		if (cfg_listen_from_text(v, l, &why) < 0)
			return cfg_error(ctx, s, key, "bad listen address '%s': %s", v, why);
		if (cfg_listen_v4mapped(l, sub, sizeof(sub))) {
			cfg_listen_clear(l);
			return cfg_error(ctx, s, key,
			                 "%s is an IPv4-mapped IPv6 address, which an IPv6-only "
			                 "socket cannot bind: write %s",
			                 v, sub);
		}
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return cfg_type_error(ctx, s, key,
		                      "a string \"host:port\" or a group { path = \"/...\"; }");
	memset(l, 0, sizeof(*l));
	l->mode = 0660;
	n = (unsigned)config_setting_length(s);
	for (i = 0; i < n; i++) {
		const char *name;

		m = config_setting_get_elem(s, i);
		name = config_setting_name(m);
		cfg_join(sub, key, name);
		if (strcmp(name, "path") == 0) {
			if (cfg_parse_string(ctx, m, sub, &v) < 0)
				goto fail;
			if (v[0] != '/') {
				cfg_error(ctx, m, sub, "unix socket path '%s' must be absolute", v);
				goto fail;
			}
			if (strlen(v) >= 108) {
				cfg_error(ctx, m, sub, "unix socket path longer than 107 bytes");
				goto fail;
			}
			free(l->path);
			l->path = xstrdup(v);
		} else if (strcmp(name, "mode") == 0) {
			unsigned long mode;
			char *end;

			if (config_setting_type(m) != CONFIG_TYPE_STRING) {
				cfg_type_error(ctx, m, sub, "an octal string such as \"0660\"");
				goto fail;
			}
			v = config_setting_get_string(m);
			errno = 0;
			mode = strtoul(v, &end, 8);
			if (v[0] < '0' || v[0] > '7' || *end != '\0' || errno != 0 || mode > 0777) {
				cfg_error(ctx, m, sub, "bad mode '%s': expected octal 0000..0777",
				          v);
				goto fail;
			}
			l->mode = (mode_t)mode;
		} else if (strcmp(name, "owner") == 0 || strcmp(name, "group") == 0) {
			char **dst = name[0] == 'o' ? &l->owner : &l->group;

			if (cfg_parse_string(ctx, m, sub, &v) < 0)
				goto fail;
			if (cfg_check_name(ctx, m, sub, v) < 0)
				goto fail;
			free(*dst);
			*dst = v[0] != '\0' ? xstrdup(v) : NULL;
		} else {
			cfg_error(ctx, m, sub, "unknown key");
			goto fail;
		}
	}
	if (l->path == NULL) {
		cfg_join(sub, key, "path");
		cfg_error(ctx, s, sub, "missing required key");
		goto fail;
	}
	return 0;
fail:
	cfg_listen_clear(l);
	return -1;
}

/* Default listen list: space-separated addresses. */
void
cfg_listens_default(const char *sdef, struct cfg_listen **ret, size_t *ret_n)
{
	struct cfg_listen *v = NULL;
	const char *p = sdef, *why;
	size_t n = 0;

	while (p != NULL && *p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
		char *one = xstrndup(p, len);

		v = xrealloc(v, (n + 1) * sizeof(*v));
		if (cfg_listen_from_text(one, &v[n], &why) < 0)
			die("cfg: bad built-in listen default '%s': %s", one, why);
		n++;
		free(one);
		p = sp != NULL ? sp + 1 : NULL;
	}
	*ret = v;
	*ret_n = n;
}

void
cfg_listen_default(const char *sdef, struct cfg_listen *l)
{
	const char *why;

	if (cfg_listen_from_text(sdef, l, &why) < 0)
		die("cfg: bad built-in listen default '%s': %s", sdef, why);
}

int
cfg_listen_same(const struct cfg_listen *a, const struct cfg_listen *b)
{
	return cfg_str_same(a->address, b->address) && cfg_str_same(a->path, b->path) &&
	       a->mode == b->mode && cfg_str_same(a->owner, b->owner) &&
	       cfg_str_same(a->group, b->group);
}

/* ---- lists of listeners ---- */

int
cfg_parse_listens(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                  const struct cfg_key *k, void *base)
{
	struct cfg_listen **p = FIELD(base, k->off, struct cfg_listen *);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	struct cfg_listen *v;
	size_t i, j, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING ||
	    config_setting_type(s) == CONFIG_TYPE_GROUP)
		n = 1;
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		n = (size_t)config_setting_length(s);
	else
		return cfg_type_error(ctx, s, key, "a list of listen addresses");
	if (n < k->min)
		return cfg_error(ctx, s, key, "at least %llu address needed",
		                 (unsigned long long)k->min);
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const config_setting_t *e =
		        (config_setting_is_array(s) || config_setting_is_list(s))
		                ? config_setting_get_elem(s, (unsigned)i)
		                : s;

		if (e == s)
			(void)snprintf(sub, sizeof(sub), "%s", key);
		else
			cfg_index(sub, key, i);
		if (cfg_parse_listen_one(ctx, e, sub, &v[i]) < 0)
			goto fail;
		for (j = 0; j < i; j++) {
			int same = v[i].path != NULL ? (v[j].path != NULL &&
			                                strcmp(v[i].path, v[j].path) == 0)
			                             : (v[j].address != NULL &&
			                                strcmp(v[i].address, v[j].address) == 0);

			if (same) {
				cfg_error(ctx, e, sub, "duplicate listen address");
				i++;
				goto fail;
			}
		}
	}
	for (j = 0; j < *np; j++)
		cfg_listen_clear(&(*p)[j]);
	free(*p);
	*p = v;
	*np = n;
	return 0;
fail:
	for (j = 0; j < i; j++)
		cfg_listen_clear(&v[j]);
	free(v);
	return -1;
}

int
cfg_listen_sockaddr(const struct cfg_listen *l, const char *default_host,
                    struct sockaddr_storage *ret_ss, socklen_t *ret_len, char *host, size_t hostsz)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ret_ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret_ss;
	const char *h = l->host != NULL && l->host[0] != '\0' ? l->host : default_host;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(h);

	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, h, len);
	buf[len] = '\0';
	memset(ret_ss, 0, sizeof(*ret_ss));
	if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(l->port);
		*ret_len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(l->port);
		*ret_len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	if (host != NULL && hostsz > 0)
		(void)snprintf(host, hostsz, "%s", buf);
	return 0;
}

/* ---- the admin endpoint ---- */

/* 1 when host is 127.0.0.0/8 or ::1 (what the admin endpoint calls loopback). */
static int
cfg_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* The daemon refuses to start an admin endpoint that anyone on the network could reach
 * without a token (daemon/admin.c): so does the check. */
int
cfg_finish_admin(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root)
{
	const struct cfg_admin *a = &c->admin;

	if (!a->enabled || a->listen.path != NULL || a->listen.host == NULL || a->token != NULL)
		return 0;
	if (cfg_host_is_loopback(a->listen.host))
		return 0;
	return cfg_error(ctx, cfg_lookup(cfg_lookup(root, "admin"), "listen"), "admin.listen",
	                 "%s is not a loopback address and admin.token is unset: refusing to "
	                 "expose the admin endpoint",
	                 a->listen.address != NULL ? a->listen.address : a->listen.host);
}

/* ---- listeners of this process: no two may bind the same place ---- */

/* One active listener, for the clash check. */
struct cfg_bind {
	char key[CFG_KEY_PATH_MAX];
	const struct cfg_listen *l;
	const config_setting_t *s; /* where it is written; NULL = the built-in default */
	int family;                /* AF_INET, AF_INET6, or AF_UNIX for a path */
	unsigned char addr[16];
	int wildcard; /* 0.0.0.0 or :: */
};

/* Add the n listeners of key (list setting ls, NULL when absent) to v. */
static void
cfg_binds_add(struct cfg_bind *v, size_t *np, const char *key, const struct cfg_listen *l, size_t n,
              const config_setting_t *ls)
{
	static const unsigned char zero[16];
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i;

	for (i = 0; i < n; i++) {
		struct cfg_bind *b = &v[*np];
		int listed =
		        ls != NULL && (config_setting_is_array(ls) || config_setting_is_list(ls));

		memset(b, 0, sizeof(*b));
		if (listed || (ls == NULL && n > 1))
			cfg_index(b->key, key, i);
		else
			(void)snprintf(b->key, sizeof(b->key), "%s", key);
		b->l = &l[i];
		b->s = listed ? config_setting_get_elem(ls, (unsigned)i) : ls;
		if (l[i].path != NULL) {
			b->family = AF_UNIX;
		} else if (cfg_listen_sockaddr(&l[i], "0.0.0.0", &ss, &sl, NULL, 0) == 0) {
			b->family = ss.ss_family;
			if (ss.ss_family == AF_INET)
				memcpy(b->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			else
				memcpy(b->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			b->wildcard = memcmp(b->addr, zero, sizeof(b->addr)) == 0;
		} else {
			continue; /* not reached: the parser accepts numeric addresses only */
		}
		(*np)++;
	}
}

/* The absolute path, normalised without looking at the file system (the socket does not
 * exist yet, and a symbolic link is not followed): repeated '/' collapsed, "." components
 * dropped, ".." removing the component before it ("/.." is "/"), no trailing '/'. Owned. */
static char *
cfg_path_normalise(const char *path)
{
	char *out = xmalloc(strlen(path) + 2);
	const char *p = path, *q;
	size_t o = 1, n;

	out[0] = '/';
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		for (q = p; *q != '\0' && *q != '/';)
			q++;
		n = (size_t)(q - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
		} else if (n != 1 || p[0] != '.') {
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = q;
	}
	out[o] = '\0';
	return out;
}

/* 1 when unix socket paths a and b (absolute: the parser requires it) name one file. */
static int
cfg_same_socket_path(const char *a, const char *b)
{
	char *na, *nb;
	int same;

	if (strcmp(a, b) == 0)
		return 1;
	na = cfg_path_normalise(a);
	nb = cfg_path_normalise(b);
	same = strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return same;
}

/* An error at a when a and b would bind the same place; 0 when they would not. */
static int
cfg_bind_check(struct cfg_ctx *ctx, const struct cfg_bind *a, const struct cfg_bind *b)
{
	const char *dflt = b->s == NULL ? ", the default" : "";

	if (a->family != b->family)
		return 0;
	if (a->family == AF_UNIX) {
		if (!cfg_same_socket_path(a->l->path, b->l->path))
			return 0;
		if (strcmp(a->l->path, b->l->path) != 0)
			return cfg_error(ctx, a->s, a->key,
			                 "unix socket %s is also %s (%s%s): two listeners cannot "
			                 "share a socket path",
			                 a->l->path, b->key, b->l->path, dflt);
		return cfg_error(ctx, a->s, a->key,
		                 "unix socket %s is also %s%s: two listeners cannot share a socket "
		                 "path",
		                 a->l->path, b->key, b->s == NULL ? " (the default)" : "");
	}
	if (a->l->port != b->l->port)
		return 0;
	if (memcmp(a->addr, b->addr, sizeof(a->addr)) == 0)
		return cfg_error(ctx, a->s, a->key,
		                 "%s is also %s (%s%s): two listeners cannot bind the same address "
		                 "and port",
		                 a->l->address, b->key, b->l->address, dflt);
	if (a->wildcard || b->wildcard)
		return cfg_error(
		        ctx, a->s, a->key,
		        "%s overlaps %s (%s%s): a wildcard address takes the port on every "
		        "local address of its family, so both cannot bind",
		        a->l->address, b->key, b->l->address, dflt);
	return 0;
}

/* Two listeners of the running process on one address and port, or one unix socket path,
 * fail at start ("Address already in use"; a second unix socket would replace the first).
 * Every socket sets IPV6_V6ONLY, so IPv4 and IPv6 never overlap; a wildcard address
 * (0.0.0.0, [::]) takes its port on every address of its family (Linux refuses the second
 * bind even with SO_REUSEADDR). The publisher's listeners count when it runs (domains not
 * empty), the resolver's and admin's when enabled. */
int
cfg_finish_listeners(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root)
{
	struct cfg_bind v[3 * CFG_LISTEN_MAX + 1];
	const config_setting_t *rs = cfg_lookup(root, "resolver");
	const config_setting_t *ps = cfg_lookup(root, "publisher");
	size_t n = 0, i, j;

	/* senders fetch policies over HTTPS on TCP: the publisher binds no unix socket */
	for (i = 0; i < c->publisher.n_listen + c->publisher.n_http_listen; i++) {
		int http = i >= c->publisher.n_listen;
		size_t k = http ? i - c->publisher.n_listen : i;
		const struct cfg_listen *l =
		        http ? &c->publisher.http_listen[k] : &c->publisher.listen[k];
		const config_setting_t *ls = cfg_lookup(ps, http ? "http_listen" : "listen");
		char key[48];

		if (l->path == NULL)
			continue;
		(void)snprintf(key, sizeof(key), "publisher.%s[%zu]",
		               http ? "http_listen" : "listen", k);
		return cfg_error(ctx,
		                 ls != NULL && config_setting_get_elem(ls, (unsigned)k) != NULL
		                         ? config_setting_get_elem(ls, (unsigned)k)
		                         : ls,
		                 key,
		                 "unix:%s: the publisher listens on TCP only (senders fetch the "
		                 "policy over HTTPS)",
		                 l->path);
	}
	if (c->resolver.enabled)
		cfg_binds_add(v, &n, "resolver.listen", c->resolver.listen, c->resolver.n_listen,
		              cfg_lookup(rs, "listen"));
	if (c->publisher.n_domains > 0) {
		cfg_binds_add(v, &n, "publisher.listen", c->publisher.listen, c->publisher.n_listen,
		              cfg_lookup(ps, "listen"));
		cfg_binds_add(v, &n, "publisher.http_listen", c->publisher.http_listen,
		              c->publisher.n_http_listen, cfg_lookup(ps, "http_listen"));
	}
	if (c->admin.enabled)
		cfg_binds_add(v, &n, "admin.listen", &c->admin.listen, 1,
		              cfg_lookup(cfg_lookup(root, "admin"), "listen"));
	for (j = 1; j < n; j++) {
		for (i = 0; i < j; i++) {
			/* reported where it is written: the later one of the two, unless only
			 * the earlier one is in the file */
			int later = v[j].s != NULL || v[i].s == NULL;

			if (cfg_bind_check(ctx, later ? &v[j] : &v[i], later ? &v[i] : &v[j]) < 0)
				return -1;
		}
	}
	return 0;
}
