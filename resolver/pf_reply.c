/*
 * resolver/pf_reply.c - MTA-STS policy -> Postfix TLS policy reply (no I/O)
 *
 * Interface: pf_reply_build(), pf_reply_decide()
 * Threads:   any (no state).    Ownership: see pf_reply.h.
 * Errors:    ERR_POLICY_NO_MX for an enforce policy without a usable pattern,
 *            ERR_POLICY_TOO_LARGE when even the plain reply is over Postfix's limit; never
 *            logs (the caller decides, logs once and counts: ret_flags says what happened).
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

/* Policies with at most this many mx patterns take pf_reply_fast() (no TLSRPT attributes):
 * its de-duplication compares each pattern with the kept ones, O(n^2), fine for the few a
 * real policy has; larger ones take the general path, O(n log n) (sts_mx_dedup()). */
#define PF_REPLY_FAST_MX 16

/* A growable string; its size is bounded by the policy (at most STS_MX_MAX patterns, one
 * canonical body) and checked against PF_REPLY_DATA_MAX. */
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
 * Returns the count; *ret_out is an owned array of owned copies (pf_patterns_free()). */
static size_t
pf_patterns(const struct sts_policy *p, char ***ret_out)
{
	char **out = p->n_mx > 0 ? xcalloc(p->n_mx, sizeof(*out)) : NULL;
	size_t i, j, n = 0;

	for (i = 0; i < p->n_mx; i++) {
		const char *m = p->mx[i], *host = m;
		char *low;

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
		out[n++] = low;
	}
	*ret_out = out;
	return sts_mx_dedup(out, n);
}

static void
pf_patterns_free(char **pat, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(pat[i]);
	free(pat);
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

/* "secure match=..." [servername=hostname] [the TLSRPT attributes, all of them or none]. */
static char *
pf_reply_text(const struct sts_policy *p, const char *domain, const struct cfg_zone *z, char **pat,
              size_t n, int tlsrpt)
{
	struct pf_str b = {0};
	size_t i;

	pf_str_add(&b, "secure match=");
	for (i = 0; i < n; i++) {
		if (i > 0)
			pf_str_add(&b, ":");
		pf_str_add(&b, pat[i][0] == '*' ? pat[i] + 1 : pat[i]);
	}
	if (z->require_sni)
		pf_str_add(&b, " servername=hostname");
	if (tlsrpt) {
		pf_str_add(&b, " policy_type=sts policy_domain=");
		pf_str_add(&b, domain);
		for (i = 0; i < n; i++) {
			pf_str_add(&b, " mx_host_pattern=");
			pf_str_add(&b, pat[i]);
		}
		pf_policy_strings(&b, p);
	}
	return b.s;
}

/* The reply of pf_reply_text(..., 0) for a policy of at most PF_REPLY_FAST_MX patterns,
 * built in one allocation: the same filters, lower-casing and de-duplication as
 * pf_patterns() (a pattern is dropped when an earlier kept one has the same lower-cased
 * text), written straight into the reply. On every cached lookup: the general path's
 * per-pattern copies, sort and growing string were 30 % of a hot query. Returns the text
 * (owned, *ret_len bytes), or NULL when no pattern is usable. */
static char *
pf_reply_fast(const struct sts_policy *p, const struct cfg_zone *z, size_t *ret_len)
{
	static const char head[] = "secure match=", sni[] = " servername=hostname";
	size_t seg_off[PF_REPLY_FAST_MX], seg_len[PF_REPLY_FAST_MX];
	int seg_star[PF_REPLY_FAST_MX];
	size_t i, j, n = 0, len, size = sizeof(head) + sizeof(sni);
	char *out;

	for (i = 0; i < p->n_mx; i++)
		if (p->mx[i] != NULL)
			size += strlen(p->mx[i]) + 1; /* ':' and the pattern: a bound */
	out = xmalloc(size);
	memcpy(out, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (i = 0; i < p->n_mx; i++) {
		const char *m = p->mx[i], *host = m;
		size_t mlen, at, k;
		int star, dup = 0;

		if (m == NULL || m[0] == '\0')
			continue;
		if (strncmp(m, "*.", 2) == 0)
			host = m + 2;
		if (domain_is_ip_literal(host) || (host != m && domain_is_ip_literal(m)))
			continue;
		if (strpbrk(m, " \t,:{}=") != NULL)
			continue;
		/* the lower-cased pattern, '*' written as in the reply: without it */
		mlen = strlen(m);
		star = m[0] == '*';
		at = len + (n > 0 ? 1 : 0);
		for (k = star ? 1 : 0; k < mlen; k++) {
			char c = m[k];

			/* tolower() of the "C" locale, the daemon's (it never calls setlocale()) */
			out[at++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		at -= len + (n > 0 ? 1 : 0);
		for (j = 0; j < n && !dup; j++)
			dup = seg_star[j] == star && seg_len[j] == at &&
			      memcmp(out + seg_off[j], out + len + (n > 0 ? 1 : 0), at) == 0;
		if (dup)
			continue;
		if (n > 0)
			out[len++] = ':';
		seg_off[n] = len;
		seg_len[n] = at;
		seg_star[n] = star;
		n++;
		len += at;
	}
	if (n == 0) {
		free(out);
		return NULL;
	}
	if (z->require_sni) {
		memcpy(out + len, sni, sizeof(sni) - 1);
		len += sizeof(sni) - 1;
	}
	out[len] = '\0';
	*ret_len = len;
	return out;
}

int
pf_reply_build(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
               char **ret_data, unsigned *ret_flags)
{
	char **pat = NULL, *text;
	size_t n;

	*ret_data = NULL;
	if (ret_flags != NULL)
		*ret_flags = 0;
	if (p->mode == STS_MODE_NONE)
		return 0;
	if (p->mode == STS_MODE_TESTING && !z->strict_testing)
		return 0;
	if (!z->tlsrpt && p->n_mx <= PF_REPLY_FAST_MX) {
		text = pf_reply_fast(p, z, &n);
		if (text == NULL)
			return ERR_POLICY_NO_MX;
		if (n > PF_REPLY_DATA_MAX) {
			free(text);
			if (ret_flags != NULL)
				*ret_flags |= PF_REPLY_TOO_LONG;
			return ERR_POLICY_TOO_LARGE;
		}
		*ret_data = text;
		return 0;
	}
	n = pf_patterns(p, &pat);
	if (n == 0) {
		pf_patterns_free(pat, n);
		return ERR_POLICY_NO_MX;
	}
	text = pf_reply_text(p, domain, z, pat, n, z->tlsrpt);
	if (z->tlsrpt && strlen(text) > PF_REPLY_DATA_MAX) {
		/* Postfix 3.10.0-3.10.5 crash on policy_type=sts without policy_string and
		 * mx_host_pattern: the TLSRPT attributes go all together, never some of them */
		free(text);
		text = pf_reply_text(p, domain, z, pat, n, 0);
		if (ret_flags != NULL)
			*ret_flags |= PF_REPLY_TLSRPT_DROPPED;
	}
	pf_patterns_free(pat, n);
	if (strlen(text) > PF_REPLY_DATA_MAX) {
		free(text);
		if (ret_flags != NULL)
			*ret_flags |= PF_REPLY_TOO_LONG;
		return ERR_POLICY_TOO_LARGE;
	}
	*ret_data = text;
	return 0;
}

int
pf_reply_decide(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                enum sm_status *ret_status, char **ret_data, unsigned *ret_flags)
{
	int r;

	*ret_status = SM_NOTFOUND;
	*ret_data = NULL;
	if (ret_flags != NULL)
		*ret_flags = 0;
	if (p == NULL)
		return 0;
	r = pf_reply_build(p, domain, z, ret_data, ret_flags);
	if (r == 0 && *ret_data != NULL)
		*ret_status = SM_OK;
	else if (r == ERR_POLICY_TOO_LARGE) {
		/* never NOTFOUND for an enforce policy: Postfix defers and retries */
		*ret_status = SM_TEMP;
		*ret_data = xstrdup(PF_REPLY_TOO_LONG_TEXT);
	}
	return r;
}
