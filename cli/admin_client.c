/*
 * cli/admin_client.c - one request to the running daemon's admin endpoint
 *
 * Interface: see admin_client.h
 * Design:    a loop and a curlm of its own, one easy handle; loop_run() until its callback.
 * Threads:   main thread of a verb.
 * Ownership: the body is handed to the caller.
 * Errors:    see admin_client.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "curlm.h"
#include "loop.h"
#include "xalloc.h"

struct admin_client {
	struct loop *loop;
	char *body;
	size_t len;
	int too_large;
	CURLcode cc;
	int done;
};

static size_t
admin_client_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct admin_client *c = userdata;
	size_t n = size * nmemb;

	if (c->len + n > ADMIN_CLIENT_BODY_MAX) {
		c->too_large = 1;
		return 0;
	}
	c->body = xrealloc(c->body, c->len + n + 1);
	memcpy(c->body + c->len, ptr, n);
	c->len += n;
	c->body[c->len] = '\0';
	return n;
}

static void
admin_client_done(CURL *easy, CURLcode cc, void *arg)
{
	struct admin_client *c = arg;

	(void)easy;
	c->cc = cc;
	c->done = 1;
	loop_exit(c->loop, 0);
}

int
admin_client_request(const struct cfg *cfg, const char *method, const char *path_query,
                     long *ret_status, char **ret_body, char *errbuf, size_t errlen)
{
	const struct cfg_listen *l = &cfg->admin.listen;
	struct admin_client c = {0};
	struct curl_slist *hdrs = NULL;
	struct curlm *m = NULL;
	char *url = NULL, *auth = NULL, cerr[CURL_ERROR_SIZE] = "";
	CURL *e = NULL;
	int r, ok = 1;

	if (!cfg->admin.enabled) {
		(void)snprintf(errbuf, errlen, "the admin endpoint is disabled (admin.enabled)");
		return -EINVAL;
	}
	r = loop_new(&c.loop);
	if (r < 0)
		return r;
	r = curlm_new(c.loop, &m);
	if (r < 0)
		goto out;
	e = curl_easy_init();
	if (e == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (l->path != NULL) {
		url = xasprintf("http://localhost%s", path_query);
		ok &= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, l->path) == CURLE_OK;
	} else {
		const char *h = l->host != NULL && l->host[0] != '\0' ? l->host : "127.0.0.1";
		int v6 = strchr(h, ':') != NULL;

		/* a wildcard listener is reached on loopback */
		if (strcmp(h, "0.0.0.0") == 0)
			h = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			h = "::1";
		url = xasprintf("http://%s%s%s:%u%s", v6 ? "[" : "", h, v6 ? "]" : "",
		                (unsigned)l->port, path_query);
	}
	hdrs = curl_slist_append(hdrs, "Host: localhost");
	if (cfg->admin.token != NULL && cfg->admin.token[0] != '\0') {
		auth = xasprintf("Authorization: Bearer %s", cfg->admin.token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	if (strcmp(method, "POST") == 0)
		ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ADMIN_CLIENT_TIMEOUT_MS) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, admin_client_write) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, &c) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr) == CURLE_OK;
	if (!ok || curlm_add(m, e, admin_client_done, &c) < 0) {
		(void)snprintf(errbuf, errlen, "libcurl refused the request");
		r = -ENOMEM;
		goto out;
	}
	(void)loop_run(c.loop);
	if (!c.done || c.cc != CURLE_OK) {
		(void)snprintf(errbuf, errlen, "admin endpoint %s: %s", url,
		               c.too_large       ? "answer too large"
		               : cerr[0] != '\0' ? cerr
		                                 : curl_easy_strerror(c.cc));
		if (!c.done)
			curlm_remove(m, e);
		r = -ENOTCONN;
		goto out;
	}
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, ret_status);
	*ret_body = c.body != NULL ? c.body : xstrdup("");
	c.body = NULL;
	r = 0;
out:
	if (e != NULL)
		curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	free(url);
	free(auth);
	free(c.body);
	(void)curlm_free(m);
	if (c.loop != NULL)
		(void)loop_free(c.loop);
	return r;
}
