/*
 * tests/fuzz/fuzz_pf_reply.c - libFuzzer target for the policy -> Postfix reply text
 *
 * Input:      byte 0: bit 0 require_sni, bit 1 strict_testing, bits 2-3 the mode of a
 *             policy built in code, bit 7 how the policy is made: set, the rest is an HTTP
 *             body for sts_policy_parse(); clear, the rest split at '\n' is its mx list as
 *             stored (any bytes but NUL; a policy from a cache or built in code is not
 *             filtered by the parser), at most 40 patterns, so both sides of
 *             pf_reply_build()'s 16-pattern one-allocation path are reached.
 * Invariants: pf_reply_build() without TLSRPT (the one-allocation path up to 16 patterns)
 *             returns the same code as with TLSRPT (the general path), and its text is the
 *             general one's up to " policy_type=sts " (or all of it when the TLSRPT
 *             attributes were dropped for size); both equal an independent model of the
 *             rule (docs/rfc-notes.md section 9: patterns lower-cased, in policy order,
 *             repeats removed, IP literals and patterns with " \t,:{}=" dropped, "*.x"
 *             written ".x"); a parsed policy never gives an empty match= element; the
 *             socketmap reply is printable ASCII.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "domain.h"
#include "err.h"
#include "fuzz.h"
#include "mtasts_limits.h"
#include "pf_reply.h"
#include "sm_proto.h"
#include "sts_policy.h"

#define FUZZ_PF_MX_MAX 40

/* The reply text by the rule, written independently of pf_reply.c; NULL: no usable
 * pattern. Owned. */
static char *
model_reply(const struct sts_policy *p, int sni)
{
	size_t i, j, k, n = 0, size = 64, len;
	char **kept = calloc(p->n_mx + 1, sizeof(*kept)), *out;

	FUZZ_CHECK(kept != NULL);
	for (i = 0; i < p->n_mx; i++) {
		const char *m = p->mx[i];
		char *low;
		int dup = 0;

		if (m == NULL || m[0] == '\0')
			continue;
		if (domain_is_ip_literal(m) ||
		    (m[0] == '*' && m[1] == '.' && domain_is_ip_literal(m + 2)))
			continue;
		if (strpbrk(m, " \t,:{}=") != NULL)
			continue;
		low = strdup(m);
		FUZZ_CHECK(low != NULL);
		for (k = 0; low[k] != '\0'; k++)
			if (low[k] >= 'A' && low[k] <= 'Z')
				low[k] = (char)(low[k] - 'A' + 'a');
		for (j = 0; j < n && !dup; j++)
			dup = strcmp(kept[j], low) == 0;
		if (dup) {
			free(low);
			continue;
		}
		kept[n++] = low;
		size += strlen(low) + 1;
	}
	if (n == 0) {
		free(kept);
		return NULL;
	}
	out = malloc(size);
	FUZZ_CHECK(out != NULL);
	len = (size_t)sprintf(out, "secure match=");
	for (j = 0; j < n; j++) {
		len += (size_t)sprintf(out + len, "%s%s", j > 0 ? ":" : "",
		                       kept[j][0] == '*' ? kept[j] + 1 : kept[j]);
		free(kept[j]);
	}
	if (sni)
		(void)sprintf(out + len, " servername=hostname");
	free(kept);
	return out;
}

/* A policy of mode m whose mx list is text[0..len) split at '\n' (NUL bytes end a pattern
 * early, as a C string would). Freed with sts_policy_free() (packed 0). */
static struct sts_policy *
code_policy(enum sts_mode m, const char *text, size_t len)
{
	struct sts_policy *p = calloc(1, sizeof(*p));
	size_t i = 0;

	FUZZ_CHECK(p != NULL);
	p->mode = m;
	p->max_age_s = 86400;
	p->mx = calloc(FUZZ_PF_MX_MAX, sizeof(*p->mx));
	FUZZ_CHECK(p->mx != NULL);
	while (i <= len && p->n_mx < FUZZ_PF_MX_MAX) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl != NULL ? (size_t)(nl - text) : len;

		p->mx[p->n_mx] = strndup(text + i, e - i);
		FUZZ_CHECK(p->mx[p->n_mx] != NULL);
		p->n_mx++;
		i = e + 1;
	}
	return p;
}

static void
check(const struct sts_policy *p, unsigned flags, int parsed)
{
	struct cfg_zone zf = {.require_sni = (int)(flags & 1),
	                      .strict_testing = (int)(flags >> 1 & 1)};
	struct cfg_zone zg = zf;
	char *fast = NULL, *gen = NULL, *model, *enc;
	unsigned ff = 0, fg = 0;
	int rf, rg, answers;
	enum sm_status st;
	size_t flen, enc_len, i;

	zg.tlsrpt = 1;
	rf = pf_reply_build(p, "example.com", &zf, &fast, &ff);
	rg = pf_reply_build(p, "example.com", &zg, &gen, &fg);
	FUZZ_CHECK(rf == rg);
	answers = p->mode == STS_MODE_ENFORCE || (p->mode == STS_MODE_TESTING && zf.strict_testing);
	model = answers ? model_reply(p, zf.require_sni) : NULL;
	if (rf == 0 && fast != NULL) {
		FUZZ_CHECK(gen != NULL);
		flen = strlen(fast);
		FUZZ_CHECK(strncmp(gen, fast, flen) == 0);
		if (fg & PF_REPLY_TLSRPT_DROPPED)
			FUZZ_CHECK(gen[flen] == '\0');
		else
			FUZZ_CHECK(strncmp(gen + flen, " policy_type=sts ", 17) == 0);
		FUZZ_CHECK(model != NULL && strcmp(model, fast) == 0);
		if (parsed) {
			const char *m = fast + strlen("secure match=");
			size_t mlen = strcspn(m, " ");

			FUZZ_CHECK(mlen > 0 && m[0] != ':' && m[mlen - 1] != ':');
			FUZZ_CHECK(memmem(m, mlen, "::", 2) == NULL);
		}
	} else if (rf == 0) {
		FUZZ_CHECK(gen == NULL && model == NULL && !answers);
	} else if (rf == ERR_POLICY_NO_MX) {
		FUZZ_CHECK(fast == NULL && gen == NULL && model == NULL && answers);
	} else {
		FUZZ_CHECK(rf == ERR_POLICY_TOO_LARGE && fast == NULL && gen == NULL);
		FUZZ_CHECK((ff & PF_REPLY_TOO_LONG) && (fg & PF_REPLY_TOO_LONG));
		FUZZ_CHECK(model != NULL && strlen(model) > PF_REPLY_DATA_MAX);
	}
	free(model);
	free(gen);
	/* what Postfix receives */
	st = fast != NULL ? SM_OK : SM_NOTFOUND;
	enc = sm_reply_encode(st, fast, &enc_len, NULL);
	for (i = 0; i < enc_len; i++)
		FUZZ_CHECK(enc[i] >= 0x20 && enc[i] < 0x7f);
	free(enc);
	free(fast);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy *p = NULL;
	unsigned flags;

	if (size == 0)
		return 0;
	flags = data[0];
	if (flags & 0x80) {
		if (sts_policy_parse((const char *)data + 1, size - 1, &p, NULL) == 0) {
			check(p, flags, 1);
			sts_policy_free(p);
		}
		return 0;
	}
	p = code_policy((enum sts_mode)((flags >> 2) % 3), (const char *)data + 1, size - 1);
	check(p, flags, 0);
	sts_policy_free(p);
	return 0;
}
