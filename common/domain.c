/*
 * common/domain.c - domain name normalisation and validation (no I/O)
 *
 * Interface: domain_normalize(), domain_validate(), domain_is_ip_literal(),
 *            domain_from_nexthop(), domain_nexthop_parse(), domain_cert_name_match()
 * Rules:     RFC 1035 section 2.3.4 (label <= 63, name <= 253 octets in text form),
 *            RFC 5321 section 4.1.2 Domain (labels of letters, digits and hyphens, a letter
 *            or digit at both ends), RFC 5891 IDNA2008 via libidn2 (UTS #46 non-transitional
 *            mapping, NFC input). Underscores are rejected: MTA-STS names are host and mail
 *            domain names, never service labels (docs/policy-parsing.md). A name whose last
 *            label is all digits is treated as an IP literal (RFC 3696 section 2: a TLD is
 *            never all-numeric), so "192.0.2" is not mistaken for a host name.
 * Threads:   no state.
 * Errors:    ERR_DOMAIN_* (err.h); one code per kind of bad name.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "domain.h"
#include "err.h"

/* Longest input we hand to libidn2: a 253-octet A-label name needs far fewer UTF-8 bytes. */
#define DOMAIN_INPUT_MAX 1024

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
ip_literal_n(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char addr[sizeof(struct in6_addr)];
	size_t i;

	/* Fast path for the common case, a host name: an IPv4 literal has only digits and
	 * dots, an IPv6 one has a ':' and only hex digits, dots and colons, and a bracketed
	 * one starts with '['. Anything else cannot be an address, without inet_pton(). */
	if (len > 0 && s[0] != '[') {
		int colon = 0, v4 = 1, v6 = 1;

		for (i = 0; i < len && (v4 || v6); i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == ':')
				colon = 1;
			else if (!is_digit(c) && c != '.')
				v4 = 0;
			if (c != ':' && c != '.' && !is_digit(c) &&
			    !((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
				v6 = 0;
		}
		if (!v4 && !(v6 && colon))
			return 0;
	}

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (len >= 5 && strncasecmp(s, "ipv6:", 5) == 0) {
			s += 5;
			len -= 5;
			if (len == 0 || len >= sizeof(buf))
				return 0;
			memcpy(buf, s, len);
			buf[len] = '\0';
			return inet_pton(AF_INET6, buf, addr) == 1;
		}
	}
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

int
domain_is_ip_literal(const char *s)
{
	return ip_literal_n(s, strlen(s));
}

/* domain_validate() without the IP literal test when skip_ip (the caller made it on the same
 * bytes). One pass: the label lengths end it at once, as they come first; a bad character or
 * hyphen is noted and reported after the name length, in that order of precedence. */
static int
domain_validate_n(const char *s, size_t len, int skip_ip)
{
	size_t i, start = 0;
	int all_digits = 1, bad = 0;

	if (len == 0)
		return ERR_DOMAIN_EMPTY;
	if (!skip_ip && ip_literal_n(s, len))
		return ERR_DOMAIN_IP_LITERAL;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';
		size_t ll;

		if (c != '.') {
			if (!is_digit(c)) {
				all_digits = 0;
				if (!is_alpha(c) && c != '-')
					bad = 1;
			}
			continue;
		}
		ll = i - start;
		if (ll == 0)
			return ERR_DOMAIN_EMPTY_LABEL;
		if (ll > DOMAIN_LABEL_MAX)
			return ERR_DOMAIN_LABEL_LONG;
		/* start..i is one non-empty label */
		if (s[start] == '-' || s[i - 1] == '-')
			bad = 1;
		start = i + 1;
		if (i < len)
			all_digits = 1;
	}
	if (len > DOMAIN_NAME_MAX)
		return ERR_DOMAIN_NAME_LONG;
	if (bad)
		return ERR_DOMAIN_CHAR;
	if (all_digits)
		return ERR_DOMAIN_IP_LITERAL;
	return 0;
}

int
domain_validate(const char *s, size_t len)
{
	return domain_validate_n(s, len, 0);
}

int
domain_normalize(const char *in, char out[DOMAIN_BUF])
{
	size_t len = strlen(in), i;
	int ascii = 1, r;
	char *alabel = NULL;
	const char *name = in;

	if (len > DOMAIN_INPUT_MAX)
		return ERR_DOMAIN_NAME_LONG;
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return ERR_DOMAIN_EMPTY;
	if (ip_literal_n(in, len))
		return ERR_DOMAIN_IP_LITERAL;
	for (i = 0; i < len; i++) {
		if ((unsigned char)in[i] >= 0x80)
			ascii = 0;
		/* report an empty label as such before libidn2 gives a generic error */
		if (in[i] == '.' && (i == 0 || in[i - 1] == '.'))
			return ERR_DOMAIN_EMPTY_LABEL;
	}
	if (!ascii) {
		char tmp[DOMAIN_INPUT_MAX + 1];

		memcpy(tmp, in, len);
		tmp[len] = '\0';
		r = idn2_to_ascii_8z(tmp, &alabel, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		switch (r) {
		case IDN2_OK:
			break;
		case IDN2_TOO_BIG_DOMAIN:
			return ERR_DOMAIN_NAME_LONG;
		case IDN2_TOO_BIG_LABEL:
			return ERR_DOMAIN_LABEL_LONG;
		default:
			return ERR_DOMAIN_IDN;
		}
		name = alabel;
		len = strlen(alabel);
		/* UTS #46 maps U+3002 and friends to '.'; the result may end in one */
		if (len > 0 && alabel[len - 1] == '.')
			len--;
	}
	/* an ASCII name was tested for an IP literal above, on these very bytes */
	r = domain_validate_n(name, len, name == in);
	if (r == 0) {
		for (i = 0; i < len; i++) {
			char c = name[i];

			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		out[len] = '\0';
	}
	idn2_free(alabel);
	return r;
}

/* A Postfix service after ':' - digits ("587") or a service name ("submission"). */
static int
is_port(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return 0;
	}
	return 1;
}

/* The port of a Postfix service s[0..len) (is_port() true): digits 1..65535, or a service
 * name Postfix mail delivery uses; 0 for anything else (docs/socketmap.md). */
static uint16_t
nexthop_port(const char *s, size_t len)
{
	static const struct {
		const char *name;
		uint16_t port;
	} names[] = {
	        {"smtp", 25},   {"submission", 587}, {"submissions", 465},
	        {"smtps", 465}, {"lmtp", 24},
	};
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < len && is_digit((unsigned char)s[i]); i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return 0;
	}
	if (i == len)
		return (uint16_t)v; /* 0 stays 0: no such port */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, s, len) == 0)
			return names[i].port;
	return 0;
}

int
domain_nexthop_parse(const char *key, size_t keylen, char out[DOMAIN_BUF],
                     struct domain_nexthop *ret_nh)
{
	char tmp[DOMAIN_INPUT_MAX + 1];
	const char *name = key, *port = NULL;
	size_t len = keylen, portlen = 0;
	int relay = 0, r;

	if (keylen == 0)
		return ERR_DOMAIN_EMPTY;
	if (memchr(key, '\0', keylen) != NULL)
		return ERR_DOMAIN_CHAR;
	if (keylen > DOMAIN_INPUT_MAX)
		return ERR_DOMAIN_NAME_LONG;
	if (key[0] == '[') {
		const char *close = memchr(key, ']', keylen);
		size_t rest;

		if (close == NULL)
			return ERR_DOMAIN_CHAR;
		rest = keylen - (size_t)(close - key) - 1;
		if (rest > 0 && (close[1] != ':' || !is_port(close + 2, rest - 1)))
			return ERR_DOMAIN_CHAR;
		if (ip_literal_n(key, (size_t)(close - key) + 1))
			return ERR_DOMAIN_IP_LITERAL;
		name = key + 1;
		len = (size_t)(close - key) - 1;
		relay = 1;
		if (rest > 0) {
			port = close + 2;
			portlen = rest - 1;
		}
	} else {
		const char *colon;

		if (ip_literal_n(key, keylen))
			return ERR_DOMAIN_IP_LITERAL;
		if (key[0] == '.')
			return ERR_DOMAIN_PARENT_PROBE;
		colon = memchr(key, ':', keylen);
		if (colon != NULL) {
			len = (size_t)(colon - key);
			if (!is_port(colon + 1, keylen - len - 1))
				return ERR_DOMAIN_CHAR;
			port = colon + 1;
			portlen = keylen - len - 1;
		}
	}
	if (len == 0)
		return ERR_DOMAIN_EMPTY;
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	r = domain_normalize(tmp, out);
	if (r == 0 && ret_nh != NULL) {
		ret_nh->relay = relay;
		ret_nh->port =
		        port != NULL ? nexthop_port(port, portlen) : DOMAIN_NEXTHOP_PORT_DEFAULT;
	}
	return r;
}

int
domain_from_nexthop(const char *key, size_t keylen, char out[DOMAIN_BUF])
{
	return domain_nexthop_parse(key, keylen, out, NULL);
}

int
domain_cert_name_match(const char *pattern, const char *host)
{
	const char *dot;

	if (strcasecmp(pattern, host) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	dot = strchr(host, '.');
	if (dot == NULL || dot == host)
		return 0;
	return strcasecmp(pattern + 1, dot) == 0;
}
