/*
 * tests/tools/fake_https.c - an HTTPS policy server that misbehaves on cue (tests only)
 *
 * Usage: fake_https [--listen ADDR] [--port N] --cert PEM --key PEM [--cert PEM --key PEM]...
 *                   --docroot DIR [--count-file FILE] [--pid-file FILE] [--port-file FILE]
 *                   [--tls-priority STRING]
 *
 * Serves GET /.well-known/mta-sts.txt for Host <host> from DIR/<host>/mta-sts.txt. The
 * optional file DIR/<host>/behaviour (read on every request) holds one of:
 *   ok                     200, text/plain, the body (the default)
 *   redirect               301 to https://<host>/.well-known/elsewhere.txt
 *   404 | 500              that status
 *   content-type=<type>    200 with that Content-Type
 *   no-content-type        200 without Content-Type
 *   oversize               200, 70000 bytes with Content-Length
 *   oversize-chunked       200, chunked, no Content-Length, endless until the client
 *                          goes away (bounded at 10 MB)
 *   stall-after-headers    200 headers, then no byte until the client gives up (max 120 s)
 *   drip                   the body at one byte per second
 *   slow=<ms>              wait <ms> milliseconds, then answer as ok
 * With several --cert/--key pairs, SNI picks the first certificate valid for the name
 * (MHD_OPTION_HTTPS_CERT_CALLBACK); no match or no SNI gets the first pair.
 * --port 0 (the default) binds an ephemeral port. The port is printed on stdout as
 * "listening on port N" and written to --port-file. Each policy request appends
 * "<host>\n" to --count-file. SIGTERM or SIGINT stops the server cleanly (exit 0).
 *
 * Threads:   MHD thread per connection (slow behaviours block their own thread only).
 * Errors:    bad usage or startup failures exit 2.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FAKE_CERTS_MAX    8
#define FAKE_OVERSIZE     70000
#define FAKE_CHUNKED_MAX  (10u * 1024 * 1024)
#define FAKE_STALL_MAX_MS 120000
#define FAKE_FILE_MAX     (1024 * 1024)
#define FAKE_WELL_KNOWN   "/.well-known/mta-sts.txt"

struct fake_cert {
	gnutls_pcert_st pcert[8];
	unsigned n_pcert;
	gnutls_privkey_t key;
	gnutls_x509_crt_t crt;
};

static struct fake_cert certs[FAKE_CERTS_MAX];
static unsigned n_certs;
static const char *docroot;
static const char *count_file;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stopping;

/* Sleep ms in slices, returning early (-1) when the server is stopping. */
static int
fake_nap(unsigned ms)
{
	struct timespec ts;
	unsigned slice;

	while (ms > 0) {
		if (atomic_load(&stopping))
			return -1;
		slice = ms > 50 ? 50 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= slice;
	}
	return atomic_load(&stopping) ? -1 : 0;
}

static int
fake_read_file(const char *path, gnutls_datum_t *d)
{
	FILE *fp = fopen(path, "rb");
	size_t n;
	char *buf;

	if (fp == NULL)
		return -1;
	buf = malloc(FAKE_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, FAKE_FILE_MAX, fp);
	fclose(fp);
	buf[n] = '\0';
	d->data = (unsigned char *)buf;
	d->size = (unsigned)n;
	return 0;
}

static int
fake_load_cert(const char *cert_path, const char *key_path)
{
	struct fake_cert *c;
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	int r;

	if (n_certs >= FAKE_CERTS_MAX) {
		fprintf(stderr, "fake_https: too many certificates\n");
		return -1;
	}
	c = &certs[n_certs];
	if (fake_read_file(cert_path, &cd) < 0 || fake_read_file(key_path, &kd) < 0) {
		fprintf(stderr, "fake_https: cannot read %s or %s\n", cert_path, key_path);
		return -1;
	}
	c->n_pcert = 8;
	r = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n_pcert, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r >= 0)
		r = gnutls_privkey_init(&c->key);
	if (r >= 0)
		r = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r >= 0)
		r = gnutls_x509_crt_init(&c->crt);
	if (r >= 0)
		r = gnutls_x509_crt_import(c->crt, &cd, GNUTLS_X509_FMT_PEM);
	free(cd.data);
	free(kd.data);
	if (r < 0) {
		fprintf(stderr, "fake_https: %s: %s\n", cert_path, gnutls_strerror(r));
		return -1;
	}
	n_certs++;
	return 0;
}

static int
fake_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
             const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
             unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	char name[256];
	size_t len = sizeof(name);
	unsigned type = 0, i, pick = 0;

	if (gnutls_server_name_get(session, name, &len, &type, 0) == GNUTLS_E_SUCCESS &&
	    type == GNUTLS_NAME_DNS) {
		for (i = 0; i < n_certs; i++) {
			if (gnutls_x509_crt_check_hostname(certs[i].crt, name)) {
				pick = i;
				break;
			}
		}
	}
	*pcert = certs[pick].pcert;
	*pcert_length = certs[pick].n_pcert;
	*pkey = certs[pick].key;
	return 0;
}

static void
fake_count(const char *host)
{
	FILE *fp;

	if (count_file == NULL)
		return;
	pthread_mutex_lock(&count_lock);
	fp = fopen(count_file, "a");
	if (fp != NULL) {
		fprintf(fp, "%s\n", host);
		fclose(fp);
	}
	pthread_mutex_unlock(&count_lock);
}

/* Host header -> lower-case name without port; rejects anything that is not a host name. */
static int
fake_host(const char *hdr, char *out, size_t outsz)
{
	size_t i;

	if (hdr == NULL)
		return -1;
	for (i = 0; hdr[i] != '\0' && hdr[i] != ':'; i++) {
		unsigned char ch = (unsigned char)hdr[i];
		if (i + 1 >= outsz || !(isalnum(ch) || ch == '-' || ch == '.'))
			return -1;
		out[i] = (char)tolower(ch);
	}
	out[i] = '\0';
	if (i == 0 || out[0] == '.' || strstr(out, "..") != NULL)
		return -1;
	return 0;
}

struct fake_stream {
	char *body;
	size_t len;
	int mode; /* 0 chunked-endless, 1 stall, 2 drip */
};

static ssize_t
fake_stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct fake_stream *s = cls;
	size_t i, n;

	switch (s->mode) {
	case 0:
		if (pos >= FAKE_CHUNKED_MAX || atomic_load(&stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		n = max > 1024 ? 1024 : max;
		for (i = 0; i < n; i++)
			buf[i] = (i % 64 == 63) ? '\n' : 'x';
		return (ssize_t)n;
	case 1:
		(void)fake_nap(FAKE_STALL_MAX_MS);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	default:
		if (pos >= s->len)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (pos > 0 && fake_nap(1000) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		buf[0] = s->body[pos];
		return 1;
	}
}

static void
fake_stream_free(void *cls)
{
	struct fake_stream *s = cls;

	free(s->body);
	free(s);
}

static enum MHD_Result
fake_queue(struct MHD_Connection *conn, unsigned status, const char *ctype, const char *body,
           size_t len, const char *location)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (ctype != NULL)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (location != NULL)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
fake_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	static int marker;
	char host[256], path[4096], behaviour[256], loc[512];
	gnutls_datum_t body = {NULL, 0}, beh = {NULL, 0};
	struct MHD_Response *resp;
	struct fake_stream *s;
	enum MHD_Result ret;
	size_t n;
	char *big;

	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return fake_queue(conn, 405, "text/plain", "method\n", 7, NULL);
	if (fake_host(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"), host,
	              sizeof(host)) < 0)
		return fake_queue(conn, 400, "text/plain", "host\n", 5, NULL);
	if (strcmp(url, FAKE_WELL_KNOWN) != 0)
		return fake_queue(conn, 404, "text/plain", "not found\n", 10, NULL);
	fake_count(host);

	(void)snprintf(path, sizeof(path), "%s/%s/behaviour", docroot, host);
	behaviour[0] = '\0';
	if (fake_read_file(path, &beh) == 0) {
		n = beh.size;
		while (n > 0 && isspace(beh.data[n - 1]))
			n--;
		if (n >= sizeof(behaviour))
			n = sizeof(behaviour) - 1;
		memcpy(behaviour, beh.data, n);
		behaviour[n] = '\0';
		free(beh.data);
	}
	if (behaviour[0] == '\0')
		memcpy(behaviour, "ok", 3);

	if (strcmp(behaviour, "404") == 0)
		return fake_queue(conn, 404, "text/plain", "not found\n", 10, NULL);
	if (strcmp(behaviour, "500") == 0)
		return fake_queue(conn, 500, "text/plain", "oops\n", 5, NULL);
	if (strcmp(behaviour, "redirect") == 0) {
		(void)snprintf(loc, sizeof(loc), "https://%s/.well-known/elsewhere.txt", host);
		return fake_queue(conn, 301, "text/plain", "moved\n", 6, loc);
	}
	if (strcmp(behaviour, "oversize") == 0) {
		big = malloc(FAKE_OVERSIZE);
		if (big == NULL)
			return MHD_NO;
		for (n = 0; n < FAKE_OVERSIZE; n++)
			big[n] = (n % 64 == 63) ? '\n' : 'x';
		ret = fake_queue(conn, 200, "text/plain", big, FAKE_OVERSIZE, NULL);
		free(big);
		return ret;
	}

	(void)snprintf(path, sizeof(path), "%s/%s/mta-sts.txt", docroot, host);
	if (fake_read_file(path, &body) < 0)
		return fake_queue(conn, 404, "text/plain", "no policy\n", 10, NULL);

	if (strncmp(behaviour, "slow=", 5) == 0) {
		if (fake_nap((unsigned)strtoul(behaviour + 5, NULL, 10)) < 0) {
			free(body.data);
			return MHD_NO;
		}
	}
	if (strcmp(behaviour, "oversize-chunked") == 0 ||
	    strcmp(behaviour, "stall-after-headers") == 0 || strcmp(behaviour, "drip") == 0) {
		s = calloc(1, sizeof(*s));
		if (s == NULL) {
			free(body.data);
			return MHD_NO;
		}
		s->body = (char *)body.data;
		s->len = body.size;
		s->mode = behaviour[0] == 'o' ? 0 : behaviour[0] == 's' ? 1 : 2;
		resp = MHD_create_response_from_callback(s->mode == 0 ? MHD_SIZE_UNKNOWN : s->len,
		                                         s->mode == 0 ? 1024 : 1, fake_stream_cb, s,
		                                         fake_stream_free);
		if (resp == NULL) {
			fake_stream_free(s);
			return MHD_NO;
		}
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
		ret = MHD_queue_response(conn, 200, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (strncmp(behaviour, "content-type=", 13) == 0)
		ret = fake_queue(conn, 200, behaviour + 13, (char *)body.data, body.size, NULL);
	else if (strcmp(behaviour, "no-content-type") == 0)
		ret = fake_queue(conn, 200, NULL, (char *)body.data, body.size, NULL);
	else
		ret = fake_queue(conn, 200, "text/plain", (char *)body.data, body.size, NULL);
	free(body.data);
	return ret;
}

static void
fake_usage(void)
{
	fprintf(stderr, "usage: fake_https [--listen ADDR] [--port N] --cert PEM --key PEM ... "
	                "--docroot DIR [--count-file F] [--pid-file F] [--port-file F] "
	                "[--tls-priority S]\n");
	exit(2);
}

static void
fake_write_file(const char *path, long v)
{
	FILE *fp;

	if (path == NULL)
		return;
	fp = fopen(path, "w");
	if (fp == NULL) {
		fprintf(stderr, "fake_https: cannot write %s\n", path);
		exit(2);
	}
	fprintf(fp, "%ld\n", v);
	fclose(fp);
}

int
main(int argc, char **argv)
{
	const char *cert_paths[FAKE_CERTS_MAX], *key_paths[FAKE_CERTS_MAX];
	const char *listen_addr = "127.0.0.1", *pid_file = NULL, *port_file = NULL;
	const char *priority = "NORMAL";
	unsigned n_cert_paths = 0, n_key_paths = 0, i;
	unsigned long port = 0;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr *sa;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	unsigned flags;
	sigset_t set;
	int sig = 0;

	/* options come in pairs: "--name value" */
	for (i = 1; i < (unsigned)argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < (unsigned)argc ? argv[i + 1] : NULL;
		if (v == NULL)
			fake_usage();
		if (strcmp(o, "--port") == 0)
			port = strtoul(v, NULL, 10);
		else if (strcmp(o, "--listen") == 0)
			listen_addr = v;
		else if (strcmp(o, "--cert") == 0 && n_cert_paths < FAKE_CERTS_MAX)
			cert_paths[n_cert_paths++] = v;
		else if (strcmp(o, "--key") == 0 && n_key_paths < FAKE_CERTS_MAX)
			key_paths[n_key_paths++] = v;
		else if (strcmp(o, "--docroot") == 0)
			docroot = v;
		else if (strcmp(o, "--count-file") == 0)
			count_file = v;
		else if (strcmp(o, "--pid-file") == 0)
			pid_file = v;
		else if (strcmp(o, "--port-file") == 0)
			port_file = v;
		else if (strcmp(o, "--tls-priority") == 0)
			priority = v;
		else
			fake_usage();
	}
	if (docroot == NULL || n_cert_paths == 0 || n_cert_paths != n_key_paths || port > 65535)
		fake_usage();
	if (gnutls_global_init() < 0)
		return 2;
	for (i = 0; i < n_cert_paths; i++)
		if (fake_load_cert(cert_paths[i], key_paths[i]) < 0)
			return 2;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	flags = MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, listen_addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, listen_addr, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		fake_usage();
		return 2;
	}

	/* Block the stop signals before MHD starts its threads; main waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, fake_handler, NULL,
	                     MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_HTTPS_CERT_CALLBACK, fake_cert_cb,
	                     MHD_OPTION_HTTPS_PRIORITIES, priority, MHD_OPTION_CONNECTION_TIMEOUT,
	                     (unsigned)150, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "fake_https: cannot start the daemon on %s port %lu\n", listen_addr,
		        port);
		return 2;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info != NULL ? info->port : port;
	fake_write_file(pid_file, (long)getpid());
	fake_write_file(port_file, (long)port);
	printf("listening on port %lu\n", port);
	fflush(stdout);

	while (sig != SIGTERM && sig != SIGINT) {
		if (sigwait(&set, &sig) != 0)
			break;
	}
	atomic_store(&stopping, 1);
	MHD_stop_daemon(d);
	for (i = 0; i < n_certs; i++) {
		unsigned j;
		for (j = 0; j < certs[i].n_pcert; j++)
			gnutls_pcert_deinit(&certs[i].pcert[j]);
		gnutls_privkey_deinit(certs[i].key);
		gnutls_x509_crt_deinit(certs[i].crt);
	}
	gnutls_global_deinit();
	if (pid_file != NULL)
		(void)unlink(pid_file);
	return 0;
}
