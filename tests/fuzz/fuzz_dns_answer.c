/*
 * tests/fuzz/fuzz_dns_answer.c - libFuzzer target for DNS answer handling (dns_client, DANE)
 *
 * Input:      byte 0: bits 0-2 the question type (TXT, MX, TLSA, A, AAAA, TXT, MX, A), bit 3
 *             the message came over TCP, bit 4 write the query's ID (0x1234) into the
 *             message; the rest: the DNS message as the server sent it (no TCP length).
 *             The question is _mta-sts.example.com (TXT), example.com (MX),
 *             _25._tcp.mx.example.com (TLSA) or mta-sts.example.com (A, AAAA).
 * Code:       dns_message_check() (what dns_handle_message() does with each message), then on
 *             an answer everything the resolver reads from it: dns_answer_txt(),
 *             dns_answer_addrs() (both families), dane_parse_mx(), dane_parse_tlsa().
 * Invariants: a message shorter than a header or with another ID is DNS_MSG_MISMATCH;
 *             TRUNCATED only over UDP with TC set; an answer has our ID, QR, one question of
 *             our name and type, and err 0/NXDOMAIN/NODATA; a failure err MALFORMED/SERVFAIL/
 *             REFUSED and no packet. TXT: 0 or ERR_DNS_MALFORMED, each RR at most STS_TXT_MAX
 *             bytes and NUL-terminated after its length; with err 0 at least one RR, with
 *             NODATA none. Addresses: at most max, each one parses back in the family asked.
 *             MX hosts: at most DANE_MX_MAX, non-empty, lower-case, printable ASCII, in
 *             presentation form (ldns reads each back; no trailing dot but an escaped
 *             one), sorted by preference, no duplicates; a null MX has no hosts; a
 *             host name that domain_normalize() accepts is already normalised. TLSA: usable
 *             <= found <= TLSA records in the answer.
 */
#include <arpa/inet.h>
#include <string.h>

#include "dane.h"
#include "dns_client.h"
#include "domain.h"
#include "err.h"
#include "fuzz.h"
#include "mtasts_limits.h"

#define QID 0x1234

static const struct {
	uint16_t type;
	const char *name;
} questions[8] = {
        {LDNS_RR_TYPE_TXT, "_mta-sts.example.com"},
        {LDNS_RR_TYPE_MX, "example.com"},
        {LDNS_RR_TYPE_TLSA, "_25._tcp.mx.example.com"},
        {LDNS_RR_TYPE_A, "mta-sts.example.com"},
        {LDNS_RR_TYPE_AAAA, "mta-sts.example.com"},
        {LDNS_RR_TYPE_TXT, "_mta-sts.example.com"},
        {LDNS_RR_TYPE_MX, "example.com"},
        {LDNS_RR_TYPE_A, "mta-sts.example.com"},
};

static void
check_txt(const ldns_pkt *pkt, const char *qname, int err)
{
	struct txt_rr *rrs = NULL;
	size_t n = 0, i;
	int r = dns_answer_txt(pkt, qname, &rrs, &n);

	FUZZ_CHECK(r == 0 || r == ERR_DNS_MALFORMED);
	if (r != 0)
		return;
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(rrs[i].data != NULL && rrs[i].len <= STS_TXT_MAX + 1);
		FUZZ_CHECK(rrs[i].data[rrs[i].len] == '\0');
	}
	if (err == 0)
		FUZZ_CHECK(n >= 1);
	if (err == ERR_DNS_NODATA)
		FUZZ_CHECK(n == 0);
	dns_txt_free(rrs, n);
}

static void
check_addrs(const ldns_pkt *pkt, uint16_t type)
{
	dns_addr_text out[4];
	unsigned char bin[16];
	size_t n = dns_answer_addrs(pkt, type, out, 4), i;
	int af = type == LDNS_RR_TYPE_AAAA ? AF_INET6 : AF_INET;

	FUZZ_CHECK(n <= 4);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(memchr(out[i], '\0', sizeof(out[i])) != NULL);
		FUZZ_CHECK(inet_pton(af, out[i], bin) == 1);
	}
}

static void
check_mx(const ldns_pkt *pkt)
{
	struct dane_findings f;
	char norm[DOMAIN_BUF];
	size_t i, j;

	memset(&f, 0, sizeof(f));
	dane_parse_mx(pkt, &f);
	FUZZ_CHECK(f.n_hosts <= DANE_MX_MAX && f.n_hosts <= f.n_hosts_total);
	FUZZ_CHECK(f.hosts != NULL);
	if (f.null_mx)
		FUZZ_CHECK(f.n_hosts == 0);
	for (i = 0; i < f.n_hosts; i++) {
		const char *h = f.hosts[i].name;
		size_t len = strlen(h);

		ldns_rdf *back = NULL;

		/* presentation form: a name ldns reads back (bytes outside LDH escaped, "\\."
		 * a dot inside a label), not the root */
		FUZZ_CHECK(len > 0 && (h[len - 1] != '.' || (len >= 2 && h[len - 2] == '\\')));
		FUZZ_CHECK(ldns_str2rdf_dname(&back, h) == LDNS_STATUS_OK);
		FUZZ_CHECK(ldns_dname_label_count(back) >= 1);
		ldns_rdf_deep_free(back);
		for (j = 0; j < len; j++)
			FUZZ_CHECK(h[j] > 0x20 && h[j] < 0x7f && !(h[j] >= 'A' && h[j] <= 'Z'));
		if (i > 0)
			FUZZ_CHECK(f.hosts[i - 1].pref <= f.hosts[i].pref);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(f.hosts[j].name, h) != 0);
		if (domain_normalize(h, norm) == 0)
			FUZZ_CHECK(strcmp(norm, h) == 0);
	}
	dane_findings_free(&f);
	FUZZ_CHECK(f.hosts == NULL && f.n_hosts == 0);
}

/* dns_answer_mx() (the MX check, `mtastsd check`): valid normalised names, sorted, unique,
 * bounded by max. */
static void
check_answer_mx(const ldns_pkt *pkt)
{
	struct dns_mx out[4];
	char norm[DOMAIN_BUF];
	size_t n, w, i, j, bad = 99;

	n = dns_answer_mx(pkt, out, 4, &bad);
	w = n < 4 ? n : 4;
	FUZZ_CHECK(bad != 99);
	for (i = 0; i < w; i++) {
		FUZZ_CHECK(domain_normalize(out[i].name, norm) == 0);
		FUZZ_CHECK(strcmp(norm, out[i].name) == 0);
		if (i > 0)
			FUZZ_CHECK(out[i - 1].pref <= out[i].pref);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(out[j].name, out[i].name) != 0);
	}
}

static void
check_tlsa(const ldns_pkt *pkt)
{
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	unsigned n = 99, usable = 99;
	size_t i, total = 0;

	dane_parse_tlsa(pkt, &n, &usable);
	for (i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++)
		total += ldns_rr_get_type(ldns_rr_list_rr(an, i)) == LDNS_RR_TYPE_TLSA;
	FUZZ_CHECK(usable <= n && n <= total);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *qname;
	char abs[64];
	uint16_t type;
	ldns_rdf *qn = NULL;
	ldns_pkt *pkt = NULL;
	uint8_t *msg;
	size_t len;
	int tcp, v, err = 12345;

	if (size < 1)
		return 0;
	type = questions[data[0] & 7].type;
	qname = questions[data[0] & 7].name;
	tcp = (data[0] & 8) != 0;
	len = size - 1;
	msg = malloc(len > 0 ? len : 1); /* exact size: ASan sees any read past the message */
	FUZZ_CHECK(msg != NULL);
	if (len > 0)
		memcpy(msg, data + 1, len);
	if ((data[0] & 16) && len >= 2) {
		msg[0] = QID >> 8;
		msg[1] = QID & 0xff;
	}
	(void)snprintf(abs, sizeof(abs), "%s.", qname);
	FUZZ_CHECK(ldns_str2rdf_dname(&qn, abs) == LDNS_STATUS_OK);

	v = dns_message_check(QID, qn, type, msg, len, tcp, &pkt, &err);
	switch (v) {
	case DNS_MSG_MISMATCH:
	case DNS_MSG_TRUNCATED:
		FUZZ_CHECK(pkt == NULL && err == 0);
		if (v == DNS_MSG_TRUNCATED)
			FUZZ_CHECK(!tcp && len >= 3 && (msg[2] & 0x02) != 0);
		break;
	case DNS_MSG_FAILED:
		FUZZ_CHECK(pkt == NULL);
		FUZZ_CHECK(err == ERR_DNS_MALFORMED || err == ERR_DNS_SERVFAIL ||
		           err == ERR_DNS_REFUSED);
		break;
	case DNS_MSG_ANSWER:
		FUZZ_CHECK(pkt != NULL);
		FUZZ_CHECK(err == 0 || err == ERR_DNS_NXDOMAIN || err == ERR_DNS_NODATA);
		FUZZ_CHECK(ldns_pkt_id(pkt) == QID && ldns_pkt_qr(pkt) &&
		           ldns_pkt_qdcount(pkt) == 1);
		FUZZ_CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)) == type);
		FUZZ_CHECK(ldns_dname_compare(
		                   ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)), qn) ==
		           0);
		if (!tcp)
			FUZZ_CHECK(!ldns_pkt_tc(pkt));
		if (type == LDNS_RR_TYPE_TXT)
			check_txt(pkt, qname, err);
		else
			check_txt(pkt, qname, -1);
		check_addrs(pkt, LDNS_RR_TYPE_A);
		check_addrs(pkt, LDNS_RR_TYPE_AAAA);
		check_mx(pkt);
		check_answer_mx(pkt);
		check_tlsa(pkt);
		ldns_pkt_free(pkt);
		break;
	default:
		FUZZ_CHECK(!"unknown verdict");
	}
	if (len < LDNS_HEADER_SIZE || msg[0] != (QID >> 8) || msg[1] != (QID & 0xff))
		FUZZ_CHECK(v == DNS_MSG_MISMATCH);
	ldns_rdf_deep_free(qn);
	free(msg);
	return 0;
}
