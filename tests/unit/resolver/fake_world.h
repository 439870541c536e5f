/*
 * tests/unit/resolver/fake_world.h - link-time fakes of dns_client.h and https_fetch.h
 *
 * Included by one test file each (Unbound testbound idea: fakes linked in place of the real
 * I/O modules). Because the test object defines every function pol_engine.o needs from
 * dns_client.o and https_fetch.o, the linker never pulls those members from the archive.
 * Answers come from a table of domains (fw_add) after a per-domain delay on the real loop,
 * never from inside the start call; cancel calls back at once with -ECANCELED.
 *
 * Interface: fw_reset(), fw_add(), fw_find(), counters fw_queries / fw_fetches
 */
#ifndef MTASTSD_TEST_FAKE_WORLD_H
#define MTASTSD_TEST_FAKE_WORLD_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns_client.h"
#include "err.h"
#include "https_fetch.h"
#include "loop.h"
#include "xalloc.h"

#define FW_DOMAINS_MAX 32
#define FW_TXT_MAX     4

struct fw_domain {
	char domain[DOMAIN_NAME_MAX + 1];
	int txt_err;                 /* 0 or ERR_DNS_* */
	const char *txt[FW_TXT_MAX]; /* TXT RRs when txt_err == 0 */
	size_t n_txt;
	int fetch_err; /* 0 or ERR_FETCH_* */
	char *body;    /* owned */
	uint64_t delay_ms;
	uint64_t fetch_delay_ms; /* added to delay_ms for the fetch only (a stalled host) */
};

static struct fw_domain fw_world[FW_DOMAINS_MAX];
static size_t fw_n;
static unsigned fw_queries, fw_fetches;

struct fw_op {
	struct fw_op *next;
	struct loop *loop;
	struct loop_timer t;
	int is_fetch;
	char name[DOMAIN_NAME_MAX + 16];
	dns_done_fn *dns_done;
	fetch_done_fn *fetch_done;
	void *arg;
};

static struct fw_op *fw_ops;

struct dns_client {
	struct loop *loop;
};
struct fetcher {
	struct loop *loop;
};

static void
fw_reset(void)
{
	size_t i;

	for (i = 0; i < fw_n; i++)
		free(fw_world[i].body);
	memset(fw_world, 0, sizeof(fw_world));
	fw_n = 0;
	fw_queries = fw_fetches = 0;
}

static struct fw_domain *
fw_find_exact(const char *domain)
{
	size_t i;

	for (i = 0; i < fw_n; i++)
		if (strcmp(fw_world[i].domain, domain) == 0)
			return &fw_world[i];
	return NULL;
}

/* domain's entry, else the wildcard entry "*" (every other domain), else NULL. */
static struct fw_domain *
fw_find(const char *domain)
{
	struct fw_domain *d = fw_find_exact(domain);

	return d != NULL ? d : fw_find_exact("*");
}

/* A domain whose TXT is txt (NULL: txt_err) and whose fetch gives body (NULL: fetch_err);
 * domain "*" answers for every domain not added (a wildcard zone). */
static struct fw_domain *
fw_add(const char *domain, const char *txt, int txt_err, const char *body, int fetch_err)
{
	struct fw_domain *d = fw_find_exact(domain);

	if (d == NULL) {
		if (fw_n == FW_DOMAINS_MAX)
			abort();
		d = &fw_world[fw_n++];
	}
	free(d->body);
	memset(d, 0, sizeof(*d));
	(void)snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->txt_err = txt != NULL ? 0 : txt_err;
	if (txt != NULL) {
		d->txt[0] = txt;
		d->n_txt = 1;
	}
	d->fetch_err = body != NULL ? 0 : fetch_err;
	d->body = body != NULL ? xstrdup(body) : NULL;
	return d;
}

static void
fw_op_unlink(struct fw_op *op)
{
	struct fw_op **pp = &fw_ops;

	while (*pp != NULL && *pp != op)
		pp = &(*pp)->next;
	if (*pp == op)
		*pp = op->next;
}

static void
fw_op_fire(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct fw_op *op = arg;
	struct fw_domain *d;
	struct fetch_info info;

	fw_op_unlink(op);
	if (op->is_fetch) {
		d = fw_find(op->name);
		memset(&info, 0, sizeof(info));
		if (d == NULL || d->body == NULL) {
			info.http_status = 404;
			(void)snprintf(info.detail, sizeof(info.detail), "fake: HTTP 404");
			op->fetch_done(d != NULL && d->fetch_err != 0 ? d->fetch_err
			                                              : ERR_FETCH_HTTP,
			               NULL, 0, &info, op->arg);
		} else {
			info.http_status = 200;
			op->fetch_done(0, d->body, strlen(d->body), &info, op->arg);
		}
	} else {
		d = fw_find(op->name + strlen("_mta-sts."));
		if (d == NULL)
			op->dns_done(ERR_DNS_NXDOMAIN, NULL, 0, op->arg);
		else if (d->txt_err != 0)
			op->dns_done(d->txt_err, NULL, 0, op->arg);
		else
			op->dns_done(0, (const ldns_pkt *)(void *)d, 0, op->arg);
	}
	free(op);
}

static struct fw_op *
fw_op_new(struct loop *loop, const char *name, int is_fetch, void *arg)
{
	struct fw_op *op = xcalloc(1, sizeof(*op));
	struct fw_domain *d;

	op->loop = loop;
	op->is_fetch = is_fetch;
	op->arg = arg;
	(void)snprintf(op->name, sizeof(op->name), "%s", name);
	d = fw_find(is_fetch ? name : name + strlen("_mta-sts."));
	op->next = fw_ops;
	fw_ops = op;
	loop_timer_start(loop, &op->t,
	                 d != NULL ? d->delay_ms + (is_fetch ? d->fetch_delay_ms : 0) : 0,
	                 fw_op_fire, op);
	return op;
}

static void
fw_op_cancel(struct fw_op *op)
{
	loop_timer_stop(op->loop, &op->t);
	fw_op_unlink(op);
	if (op->is_fetch)
		op->fetch_done(-ECANCELED, NULL, 0, NULL, op->arg);
	else
		op->dns_done(-ECANCELED, NULL, 0, op->arg);
	free(op);
}

static void
fw_cancel_all(struct loop *loop, int is_fetch)
{
	struct fw_op *op;
	int again = 1;

	while (again) {
		again = 0;
		for (op = fw_ops; op != NULL; op = op->next) {
			if (op->loop == loop && op->is_fetch == is_fetch) {
				fw_op_cancel(op);
				again = 1;
				break;
			}
		}
	}
}

int
dns_client_new(struct loop *loop, const struct cfg_resolver *cfg, struct dns_client **ret)
{
	*ret = xcalloc(1, sizeof(**ret));
	(*ret)->loop = loop;
	return 0;
}

struct dns_client *
dns_client_free(struct dns_client *c)
{
	if (c != NULL) {
		fw_cancel_all(c->loop, 0);
		free(c);
	}
	return NULL;
}

struct dns_query *
dns_query_start(struct dns_client *c, const char *name, uint16_t rrtype, unsigned flags,
                dns_done_fn *done, void *arg)
{
	struct fw_op *op;

	if (strncmp(name, "_mta-sts.", 9) != 0 || rrtype != LDNS_RR_TYPE_TXT)
		return NULL;
	fw_queries++;
	op = fw_op_new(c->loop, name, 0, arg);
	op->dns_done = done;
	return (struct dns_query *)(void *)op;
}

void
dns_query_cancel(struct dns_query *q)
{
	fw_op_cancel((struct fw_op *)(void *)q);
}

const char *
dns_query_detail(const struct dns_query *q)
{
	(void)q;
	return "";
}

int
dns_answer_txt(const ldns_pkt *answer, const char *qname, struct txt_rr **ret_rrs, size_t *ret_n)
{
	const struct fw_domain *d = (const struct fw_domain *)(const void *)answer;
	struct txt_rr *rrs = xcalloc(FW_TXT_MAX, sizeof(*rrs));
	size_t i;

	for (i = 0; i < d->n_txt; i++) {
		rrs[i].data = xstrdup(d->txt[i]);
		rrs[i].len = strlen(d->txt[i]);
	}
	*ret_rrs = rrs;
	*ret_n = d->n_txt;
	return 0;
}

void
dns_txt_free(struct txt_rr *rrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)(uintptr_t)rrs[i].data);
	free(rrs);
}

int
fetcher_new(struct loop *loop, const struct cfg_resolver *cfg, struct fetcher **ret)
{
	*ret = xcalloc(1, sizeof(**ret));
	(*ret)->loop = loop;
	return 0;
}

int
fetcher_new_on(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
               struct fetcher **ret)
{
	(void)curlm;
	return fetcher_new(loop, cfg, ret);
}

void
fetcher_use_dns(struct fetcher *f, struct dns_client *dns)
{
	(void)f; /* the fake fetch resolves nothing */
	(void)dns;
}

struct fetcher *
fetcher_free(struct fetcher *f)
{
	if (f != NULL) {
		fw_cancel_all(f->loop, 1);
		free(f);
	}
	return NULL;
}

struct fetch_req *
fetch_start(struct fetcher *f, const char *domain, fetch_done_fn *done, void *arg)
{
	struct fw_op *op;

	fw_fetches++;
	op = fw_op_new(f->loop, domain, 1, arg);
	op->fetch_done = done;
	return (struct fetch_req *)(void *)op;
}

void
fetch_cancel(struct fetch_req *rq)
{
	fw_op_cancel((struct fw_op *)(void *)rq);
}

/* "version: STSv1" policy text with mode, comma-separated mx list and max_age. Owned. */
static char *
fw_policy_text(const char *mode, const char *mx_csv, unsigned max_age)
{
	char *out = xasprintf("version: STSv1\r\nmode: %s\r\n", mode), *list, *tok, *save = NULL;

	if (mx_csv != NULL && mx_csv[0] != '\0') {
		list = xstrdup(mx_csv);
		for (tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			char *n = xasprintf("%smx: %s\r\n", out, tok);

			free(out);
			out = n;
		}
		free(list);
	}
	{
		char *n = xasprintf("%smax_age: %u\r\n", out, max_age);

		free(out);
		out = n;
	}
	return out;
}

#endif
