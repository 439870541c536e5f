/*
 * resolver/pf_reply.c - MTA-STS policy -> Postfix TLS policy reply (no I/O)
 *
 * Interface: pf_reply_build(), pf_reply_decide()
 * Threads:   any (no state).    Ownership: see pf_reply.h.
 * Errors:    ERR_POLICY_NO_MX for an enforce policy without a usable pattern; never logs
 *            (the caller decides and logs once).
 *
 * Reply hygiene (docs/rfc-notes.md section 9): patterns lower-cased, in policy order, duplicates
 * removed, "*.x" written ".x" in match=, IP literals dropped, never an empty match=;
 * mx_host_pattern keeps the "*." form; policy_string lines containing '{' or '}' are dropped
 * because they would break Postfix's { name = value } grouping.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "err.h"
#include "pf_reply.h"
#include "xalloc.h"

/* A growable string; its size is bounded by the policy (STS_MX_MAX patterns of
 * DOMAIN_NAME_MAX bytes, one canonical body) and checked by sm_reply_encode(). */
struct pf_str {
	char *s;
	size_t len, size;
};

static void
pf_str_addn(struct pf_str *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->size) {
		b->size = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->size);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
pf_str_add(struct pf_str *b, const char *s)
{
	pf_str_addn(b, s, strlen(s));
}

/* The usable patterns of p, lower-cased, de-duplicated, in policy order, RFC form ("*.x").
 * Returns the count; out[] points into the owned copies. */
static size_t
pf_patterns(const struct sts_policy *p, char **out)
{
	size_t i, j, n = 0;

	for (i = 0; i < p->n_mx && n < STS_MX_MAX; i++) {
		const char *m = p->mx[i], *host = m;
		char *low;
		int dup = 0;

		if (m == NULL || m[0] == '\0')
			continue;
		if (strncmp(m, "*.", 2) == 0)
			host = m + 2;
		if (domain_is_ip_literal(host) || domain_is_ip_literal(m))
			continue;
		if (strpbrk(m, " \t,:{}=") != NULL)
			continue;
		low = xstrdup(m);
		for (j = 0; low[j] != '\0'; j++)
			low[j] = (char)tolower((unsigned char)low[j]);
		for (j = 0; j < n; j++) {
			if (strcmp(out[j], low) == 0) {
				dup = 1;
				break;
			}
		}
		if (dup) {
			free(low);
			continue;
		}
		out[n++] = low;
	}
	return n;
}

static void
pf_policy_strings(struct pf_str *b, const struct sts_policy *p)
{
	char *text = sts_policy_serialize(p), *line, *end;

	for (line = text; line != NULL && *line != '\0'; line = end) {
		size_t n;

		end = strchr(line, '\n');
		n = end != NULL ? (size_t)(end - line) : strlen(line);
		if (end != NULL)
			end++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0 || memchr(line, '{', n) != NULL || memchr(line, '}', n) != NULL)
			continue;
		pf_str_add(b, " { policy_string = ");
		pf_str_addn(b, line, n);
		pf_str_add(b, " }");
	}
	free(text);
}

int
pf_reply_build(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
               char **ret_data)
{
	char *pat[STS_MX_MAX];
	struct pf_str b = {0};
	size_t i, n;

	*ret_data = NULL;
	if (p->mode == STS_MODE_NONE)
		return 0;
	if (p->mode == STS_MODE_TESTING && !z->strict_testing)
		return 0;
	n = pf_patterns(p, pat);
	if (n == 0)
		return ERR_POLICY_NO_MX;
	pf_str_add(&b, "secure match=");
	for (i = 0; i < n; i++) {
		if (i > 0)
			pf_str_add(&b, ":");
		pf_str_add(&b, pat[i][0] == '*' ? pat[i] + 1 : pat[i]);
	}
	if (z->require_sni)
		pf_str_add(&b, " servername=hostname");
	if (z->tlsrpt) {
		pf_str_add(&b, " policy_type=sts policy_domain=");
		pf_str_add(&b, domain);
		for (i = 0; i < n; i++) {
			pf_str_add(&b, " mx_host_pattern=");
			pf_str_add(&b, pat[i]);
		}
		pf_policy_strings(&b, p);
	}
	for (i = 0; i < n; i++)
		free(pat[i]);
	*ret_data = b.s;
	return 0;
}

int
pf_reply_decide(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                enum sm_status *ret_status, char **ret_data)
{
	int r;

	*ret_status = SM_NOTFOUND;
	*ret_data = NULL;
	if (p == NULL)
		return 0;
	r = pf_reply_build(p, domain, z, ret_data);
	if (r == 0 && *ret_data != NULL)
		*ret_status = SM_OK;
	return r;
}
