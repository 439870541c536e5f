/*
 * common/err.c - project error codes and their text
 *
 * Interface: err_str()
 */
#include <string.h>

#include "err.h"

const char *
err_str(int code)
{
	switch (code) {
	case 0:
		return "success";
	case ERR_DOMAIN_EMPTY:
		return "empty domain name";
	case ERR_DOMAIN_EMPTY_LABEL:
		return "empty label in domain name";
	case ERR_DOMAIN_LABEL_LONG:
		return "label longer than 63 octets";
	case ERR_DOMAIN_NAME_LONG:
		return "domain name longer than 253 octets";
	case ERR_DOMAIN_CHAR:
		return "invalid character in domain name";
	case ERR_DOMAIN_IDN:
		return "invalid internationalized domain name";
	case ERR_DOMAIN_IP_LITERAL:
		return "IP address literal, not a domain name";
	case ERR_DOMAIN_PARENT_PROBE:
		return "parent domain probe (leading dot)";
	case ERR_POLICY_SYNTAX:
		return "policy line is not 'name: value'";
	case ERR_POLICY_VERSION:
		return "policy version missing or not STSv1";
	case ERR_POLICY_MODE:
		return "policy mode missing or not enforce, testing or none";
	case ERR_POLICY_MAX_AGE:
		return "policy max_age missing, malformed or above 31557600";
	case ERR_POLICY_MX:
		return "invalid policy mx pattern";
	case ERR_POLICY_NO_MX:
		return "policy in enforce or testing mode without mx";
	case ERR_POLICY_TOO_LARGE:
		return "policy too large";
	case ERR_POLICY_ENCODING:
		return "policy contains invalid bytes";
	case ERR_TXT_NONE:
		return "no v=STSv1 TXT record";
	case ERR_TXT_MULTIPLE:
		return "more than one v=STSv1 TXT record";
	case ERR_TXT_SYNTAX:
		return "malformed v=STSv1 TXT record";
	case ERR_DNS_NXDOMAIN:
		return "DNS name does not exist (NXDOMAIN)";
	case ERR_DNS_NODATA:
		return "DNS name has no record of this type (NODATA)";
	case ERR_DNS_SERVFAIL:
		return "DNS server failure (SERVFAIL)";
	case ERR_DNS_TIMEOUT:
		return "DNS timeout";
	case ERR_DNS_MALFORMED:
		return "malformed DNS answer";
	case ERR_DNS_REFUSED:
		return "DNS query refused";
	case ERR_DNS_UNREACHABLE:
		return "DNS server unreachable";
	case ERR_DNS_BUSY:
		return "DNS query not sent: too many queries waiting (local overload)";
	case ERR_FETCH_CONNECT:
		return "cannot connect to policy host";
	case ERR_FETCH_TLS:
		return "TLS or certificate failure at policy host";
	case ERR_FETCH_HTTP:
		return "policy host answered with an HTTP status other than 200";
	case ERR_FETCH_REDIRECT:
		return "policy host answered with a redirect (not followed)";
	case ERR_FETCH_TOO_LARGE:
		return "policy body larger than 64 KiB";
	case ERR_FETCH_TIMEOUT:
		return "policy fetch timed out";
	case ERR_FETCH_CONTENT_TYPE:
		return "policy served with a Content-Type other than text/plain";
	case ERR_FETCH_HOST_UNKNOWN:
		return "policy host has no address (NXDOMAIN or no A/AAAA)";
	case ERR_FETCH_PROTOCOL:
		return "policy host's HTTP response malformed, too large or cut off";
	case ERR_FETCH_HOST_DNS:
		return "policy host lookup failed";
	case ERR_NETSTRING_FORMAT:
		return "malformed netstring";
	case ERR_NETSTRING_TOO_LONG:
		return "netstring longer than the limit";
	case ERR_CONFIG:
		return "configuration error";
	case ERR_CACHE_DECODE:
		return "undecodable cache value";
	case ERR_CACHE_UNAVAILABLE:
		return "cache unavailable";
	case ERR_STATEDB_CORRUPT:
		return "state database damaged";
	case ERR_STATEDB_LOCKED:
		return "state database locked by another process";
	case ERR_STATEDB_IO:
		return "state database not writable";
	case ERR_STATEDB_VERSION:
		return "state database written by a newer mtastsd";
	case ERR_STATEDB_FOREIGN:
		return "not an mtastsd state database";
	case ERR_STATEDB_QUERY:
		return "state database query failed";
	case ERR_TLSRPT_GZIP:
		return "not a valid gzip stream";
	case ERR_TLSRPT_TOO_LARGE:
		return "report over the size or decompression ratio limit";
	case ERR_TLSRPT_JSON:
		return "report is not a JSON object";
	case ERR_TLSRPT_FIELD:
		return "report field missing or invalid (RFC 8460 section 4)";
	case ERR_TLSRPT_NO_REPORT:
		return "no TLS report in the message";
	case ERR_LISTEN_PASSED:
		return "the socket passed by the service manager does not fit the listener";
	default:
		break;
	}
	if (code < 0 && code > ERR_BASE)
		return strerror(-code);
	return "unknown error";
}
