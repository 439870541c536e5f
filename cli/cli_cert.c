/*
 * cli/cli_cert.c - `mtastsd cert [DOMAIN]` and `mtastsd cert renew DOMAIN`
 *
 * Interface: cli_cert() (cli.h)
 * Output:    per published domain: where its certificate comes from (file or ACME), the
 *            file, issuer and expiry read from the file, and for ACME names what the running
 *            daemon says (/status "acme": state, next renewal, last error); with --json the
 *            same as an array. `cert renew DOMAIN` asks the daemon (POST /acme/renew,
 *            admin.token) to renew now.
 * Threads:   main thread only.
 * Errors:    exit 1 when DOMAIN is not configured, the renewal is refused or the daemon
 *            does not answer a renewal; a daemon that does not answer `cert` is a note.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "admin_client.h"
#include "cli.h"
#include "domain.h"
#include "xalloc.h"

struct cert_file {
	char *issuer;     /* NULL: no file, or no certificate in it */
	time_t not_after; /* 0 when unknown */
};

static void
cert_file_read(const char *path, struct cert_file *f)
{
	gnutls_datum_t d = {NULL, 0}, dn = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0, i;

	memset(f, 0, sizeof(*f));
	if (path == NULL || access(path, R_OK) < 0 || gnutls_load_file(path, &d) < 0)
		return;
	if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) >= 0 && n > 0) {
		f->not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
		if (gnutls_x509_crt_get_issuer_dn3(crts[0], &dn, 0) >= 0) {
			f->issuer = xstrndup((const char *)dn.data, dn.size);
			gnutls_free(dn.data);
		}
	}
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	gnutls_free(d.data);
}

static const char *
cert_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "-";
	return buf;
}

/* The daemon's /status "acme" names, or NULL when it does not answer. */
static json_object *
cert_daemon_names(const struct cli_args *a, json_object **ret_status, char *note, size_t notelen)
{
	json_object *st, *acme, *names;
	char *body = NULL, err[512] = "";
	long status = 0;

	*ret_status = NULL;
	if (admin_client_request(a->cfg, "GET", "/status", &status, &body, err, sizeof(err)) < 0) {
		(void)snprintf(note, notelen, "the daemon does not answer (%s)", err);
		return NULL;
	}
	st = status == 200 ? json_tokener_parse(body) : NULL;
	free(body);
	if (st == NULL) {
		(void)snprintf(note, notelen, "the admin endpoint answered HTTP %ld", status);
		return NULL;
	}
	*ret_status = st;
	if (!json_object_object_get_ex(st, "acme", &acme) ||
	    !json_object_object_get_ex(acme, "names", &names))
		return NULL;
	return names;
}

static json_object *
cert_daemon_name(json_object *names, const char *domain)
{
	json_object *n, *d;
	size_t i;

	for (i = 0; names != NULL && i < json_object_array_length(names); i++) {
		n = json_object_array_get_idx(names, i);
		if (json_object_object_get_ex(n, "domain", &d) &&
		    strcmp(json_object_get_string(d), domain) == 0)
			return n;
	}
	return NULL;
}

static const char *
jget(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

/* An integer field (seconds), 0 when absent or null. */
static int64_t
jget_i64(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static int
cert_renew(const struct cli_args *a, const char *dom)
{
	char norm[DOMAIN_BUF], *path, *body = NULL, err[512] = "";
	long status = 0;
	size_t i;

	if (domain_normalize(dom, norm) < 0) {
		cli_error(a, "invalid domain '%s'", dom);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < a->cfg->publisher.n_domains; i++)
		if (strcmp(a->cfg->publisher.domains[i].domain, norm) == 0)
			break;
	if (i == a->cfg->publisher.n_domains || !a->cfg->publisher.domains[i].acme) {
		cli_error(a, "'%s' is not a publisher domain with cert = \"acme\"", norm);
		return CLI_EXIT_FAIL;
	}
	path = xasprintf("/acme/renew?domain=%s", norm);
	if (admin_client_request(a->cfg, "POST", path, &status, &body, err, sizeof(err)) < 0) {
		cli_error(a, "%s", err);
		free(path);
		return CLI_EXIT_FAIL;
	}
	free(path);
	if (status == 409) {
		free(body);
		(void)fprintf(a->out,
		              "renewal of mta-sts.%s already in progress (see the log, or `mtastsd "
		              "cert %s`)\n",
		              norm, norm);
		return CLI_EXIT_OK;
	}
	if (status != 202) {
		cli_error(a, "the daemon refused: HTTP %ld %s", status, body);
		free(body);
		return CLI_EXIT_FAIL;
	}
	free(body);
	(void)fprintf(a->out, "renewal of mta-sts.%s started (see the log, or `mtastsd cert %s`)\n",
	              norm, norm);
	return CLI_EXIT_OK;
}

int
cli_cert(const struct cli_args *a)
{
	const struct cfg_publisher *p = &a->cfg->publisher;
	json_object *status = NULL, *names = NULL, *arr = NULL, *j, *dn;
	char norm[DOMAIN_BUF] = "", note[600] = "", tb[32], nb[32];
	struct cert_file f;
	size_t i, shown = 0;
	int any_acme = 0;

	if (a->n_operands >= 1 && strcmp(a->operands[0], "renew") == 0) {
		if (a->n_operands != 2) {
			cli_error(a, "usage: cert renew DOMAIN");
			return CLI_EXIT_USAGE;
		}
		return cert_renew(a, a->operands[1]);
	}
	if (a->n_operands == 2) {
		cli_error(a, "usage: cert [DOMAIN] | cert renew DOMAIN");
		return CLI_EXIT_USAGE;
	}
	if (a->n_operands == 1 && domain_normalize(a->operands[0], norm) < 0) {
		cli_error(a, "invalid domain '%s'", a->operands[0]);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < p->n_domains; i++)
		any_acme |= p->domains[i].acme;
	if (any_acme)
		names = cert_daemon_names(a, &status, note, sizeof(note));
	if (a->json)
		arr = json_object_new_array();
	for (i = 0; i < p->n_domains; i++) {
		const struct cfg_domain *d = &p->domains[i];

		if (norm[0] != '\0' && strcmp(d->domain, norm) != 0)
			continue;
		shown++;
		cert_file_read(d->cert_file, &f);
		dn = d->acme ? cert_daemon_name(names, d->domain) : NULL;
		if (a->json) {
			j = json_object_new_object();
			json_object_object_add(j, "domain", json_object_new_string(d->domain));
			json_object_object_add(j, "source",
			                       json_object_new_string(d->acme ? "acme" : "file"));
			json_object_object_add(j, "file", json_object_new_string(d->cert_file));
			json_object_object_add(j, "issuer",
			                       f.issuer != NULL ? json_object_new_string(f.issuer)
			                                        : NULL);
			json_object_object_add(j, "expiry",
			                       f.not_after > 0 ? json_object_new_int64(f.not_after)
			                                       : NULL);
			json_object_object_add(j, "state",
			                       jget(dn, "state") != NULL
			                               ? json_object_new_string(jget(dn, "state"))
			                               : NULL);
			json_object_object_add(
			        j, "next_renewal",
			        jget_i64(dn, "next_attempt") > 0
			                ? json_object_new_int64(jget_i64(dn, "next_attempt"))
			                : NULL);
			json_object_object_add(
			        j, "last_error",
			        jget(dn, "last_error") != NULL
			                ? json_object_new_string(jget(dn, "last_error"))
			                : NULL);
			(void)json_object_array_add(arr, j);
		} else {
			(void)fprintf(a->out,
			              "%s: mta-sts.%s\n  source:       %s\n  file:         %s%s\n",
			              d->domain, d->domain, d->acme ? "ACME" : "file", d->cert_file,
			              f.not_after > 0 ? "" : " (no certificate yet)");
			(void)fprintf(a->out, "  issuer:       %s\n  expiry:       %s\n",
			              f.issuer != NULL ? f.issuer : "-",
			              cert_time(f.not_after, tb, sizeof(tb)));
			if (d->acme) {
				time_t na = (time_t)jget_i64(dn, "next_attempt");

				(void)fprintf(
				        a->out,
				        "  state:        %s\n  next renewal: %s\n  last error:   "
				        "%s\n",
				        jget(dn, "state") != NULL ? jget(dn, "state") : "-",
				        na > 0 ? cert_time(na, nb, sizeof(nb)) : "-",
				        jget(dn, "last_error") != NULL ? jget(dn, "last_error")
				                                       : "none");
			}
		}
		free(f.issuer);
	}
	if (a->json)
		cli_json_print(a, arr);
	else if (note[0] != '\0')
		(void)fprintf(a->out, "note: %s; ACME state not shown\n", note);
	if (status != NULL)
		json_object_put(status);
	if (shown == 0 && norm[0] != '\0') {
		cli_error(a, "'%s' is not a publisher domain", norm);
		return CLI_EXIT_FAIL;
	}
	if (shown == 0) {
		cli_error(a, "no publisher.domains configured");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
