/*
 * publisher/pub_info.c - what the publisher serves, copied out for the admin endpoint
 *
 * Interface: pub_info_get(), pub_info_free() (pub.h)
 * Threads:   main loop; reads the current snapshot through pub_snap_acquire() and the
 *            atomic counters, so the MHD threads are never blocked for longer than that.
 * Ownership: struct pub_info and its strings are owned by the caller.
 * Errors:    none; allocation failure dies (xalloc).
 */
#include <stdlib.h>
#include <string.h>

#include "pub.h"
#include "pub_int.h"
#include "xalloc.h"

/* The mode of a canonical policy text ("mode: enforce" line), STS_MODE_NONE if absent. */
static enum sts_mode
pub_info_mode(const char *body, size_t len)
{
	static const char key[] = "\nmode: ";
	const char *p = body, *end = body + len, *v, *eol;
	enum sts_mode m = STS_MODE_NONE;
	char word[16];
	size_t n;

	for (;;) {
		p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
		if (p == NULL)
			return m;
		v = p + sizeof(key) - 1;
		eol = memchr(v, '\n', (size_t)(end - v));
		n = (size_t)((eol != NULL ? eol : end) - v);
		if (n > 0 && v[n - 1] == '\r')
			n--;
		if (n < sizeof(word)) {
			memcpy(word, v, n);
			word[n] = '\0';
			if (sts_mode_parse(word, &m) == 0)
				return m;
		}
		p = v;
	}
}

struct pub_info *
pub_info_get(struct pub *pub)
{
	struct pub_info *info = xcalloc(1, sizeof(*info));
	struct httpd_counters hc;
	struct pub_snap *s;
	size_t i;

	if (pub == NULL)
		return info;
	s = pub_snap_acquire(pub);
	if (s != NULL) {
		info->domains = xcalloc(s->n_doms > 0 ? s->n_doms : 1, sizeof(*info->domains));
		info->n_domains = s->n_doms;
		for (i = 0; i < s->n_doms; i++) {
			const struct pub_dom *d = &s->doms[i];
			struct pub_info_domain *o = &info->domains[i];

			o->domain = xstrdup(d->domain);
			o->id = xstrdup(d->id != NULL ? d->id : "");
			o->mode = d->body != NULL ? pub_info_mode(d->body, d->body_len)
			                          : STS_MODE_NONE;
			o->cert_not_after =
			        d->cert != NULL && d->cert->not_after > 0 ? d->cert->not_after : 0;
		}
		pub_snap_unref(s);
	}
	info->requests = atomic_load(&pub->n_requests);
	info->policies_served = atomic_load(&pub->n_policy_served);
	info->not_found = atomic_load(&pub->n_not_found);
	info->redirects = atomic_load(&pub->n_redirects);
	info->acme_served = atomic_load(&pub->n_acme_served);
	httpd_counters(pub->httpd, &hc);
	info->connections_timed_out = hc.timed_out;
	info->connections = hc.open;
	return info;
}

struct pub_info *
pub_info_free(struct pub_info *info)
{
	size_t i;

	if (info == NULL)
		return NULL;
	for (i = 0; i < info->n_domains; i++) {
		free(info->domains[i].domain);
		free(info->domains[i].id);
	}
	free(info->domains);
	free(info);
	return NULL;
}
