/*
 * common/err.h - project error codes and their text
 *
 * Interface: enum err_code, err_str()
 * Errors:    functions return 0, -errno, or one of these codes (all <= -1000).
 */
#ifndef MTASTSD_ERR_H
#define MTASTSD_ERR_H

enum err_code {
	ERR_BASE = -1000,
	/* domain names */
	ERR_DOMAIN_EMPTY = -1001,        /* empty name */
	ERR_DOMAIN_EMPTY_LABEL = -1002,  /* "a..b" or leading dot */
	ERR_DOMAIN_LABEL_LONG = -1003,   /* label over 63 octets */
	ERR_DOMAIN_NAME_LONG = -1004,    /* name over 253 octets */
	ERR_DOMAIN_CHAR = -1005,         /* character outside LDH (or bad hyphen placement) */
	ERR_DOMAIN_IDN = -1006,          /* U-label cannot be converted to an A-label */
	ERR_DOMAIN_IP_LITERAL = -1007,   /* an IPv4/IPv6 address or [literal], not a name */
	ERR_DOMAIN_PARENT_PROBE = -1008, /* ".example.com" key from Postfix's parent search */
	/* policy file, RFC 8461 section 3.2 */
	ERR_POLICY_SYNTAX = -1020,    /* a line that is not "name: value" */
	ERR_POLICY_VERSION = -1021,   /* version missing or not STSv1 */
	ERR_POLICY_MODE = -1022,      /* mode missing or not enforce/testing/none */
	ERR_POLICY_MAX_AGE = -1023,   /* max_age missing, not 1*10DIGIT, or > 31557600 */
	ERR_POLICY_MX = -1024,        /* an mx pattern that is not ["*."] Domain */
	ERR_POLICY_NO_MX = -1025,     /* enforce/testing without any mx */
	ERR_POLICY_TOO_LARGE = -1026, /* body over 64 KiB, too many mx or extensions */
	ERR_POLICY_ENCODING = -1027,  /* NUL, bare control characters, bad UTF-8 */
	/* _mta-sts TXT, RFC 8461 section 3.1 */
	ERR_TXT_NONE = -1040,     /* no v=STSv1 record */
	ERR_TXT_MULTIPLE = -1041, /* more than one v=STSv1 record */
	ERR_TXT_SYNTAX = -1042,   /* the one STSv1 record is malformed (id missing or bad) */
	/* DNS */
	ERR_DNS_NXDOMAIN = -1060,
	ERR_DNS_NODATA = -1061,
	ERR_DNS_SERVFAIL = -1062,
	ERR_DNS_TIMEOUT = -1063,
	ERR_DNS_MALFORMED = -1064,
	ERR_DNS_REFUSED = -1065,
	ERR_DNS_UNREACHABLE = -1066, /* no server reachable: connection refused, no route */
	ERR_DNS_BUSY = -1067, /* never sent: the client's wait queue is full (DNS_WAIT_MAX) */
	/* HTTPS fetch, RFC 8461 section 3.3 */
	ERR_FETCH_CONNECT = -1080,
	ERR_FETCH_TLS = -1081,
	ERR_FETCH_HTTP = -1082,      /* status other than 200 */
	ERR_FETCH_REDIRECT = -1083,  /* 3xx, never followed */
	ERR_FETCH_TOO_LARGE = -1084, /* body over 64 KiB */
	ERR_FETCH_TIMEOUT = -1085,
	ERR_FETCH_CONTENT_TYPE = -1086, /* not text/plain */
	ERR_FETCH_HOST_UNKNOWN = -1087, /* mta-sts.<domain>: NXDOMAIN or no address */
	ERR_FETCH_HOST_DNS = -1088,     /* mta-sts.<domain>: lookup failed (SERVFAIL, timeout) */
	ERR_FETCH_PROTOCOL = -1089,     /* a response begun, then malformed, too large or cut off */
	/* netstring / socketmap */
	ERR_NETSTRING_FORMAT = -1100, /* bad length digits, missing ':' or ',' */
	ERR_NETSTRING_TOO_LONG = -1101,
	/* config */
	ERR_CONFIG = -1120,
	/* cache */
	ERR_CACHE_DECODE = -1140,
	ERR_CACHE_UNAVAILABLE = -1141,
	/* state database (common/statedb.h) */
	ERR_STATEDB_CORRUPT = -1160, /* not an SQLite file, or damaged (quick_check) */
	ERR_STATEDB_LOCKED = -1161,  /* another process holds the write lock */
	ERR_STATEDB_IO = -1162,      /* cannot create or write it: permissions, disk full, I/O */
	ERR_STATEDB_VERSION = -1163, /* schema version newer than this build knows */
	ERR_STATEDB_FOREIGN = -1164, /* an SQLite file that mtastsd did not write */
	ERR_STATEDB_QUERY = -1165,   /* a read query failed (SQLITE_ERROR: not the file's fault) */
	/* TLSRPT reports (tlsrpt/, RFC 8460) */
	ERR_TLSRPT_GZIP = -1200,      /* not a valid gzip stream */
	ERR_TLSRPT_TOO_LARGE = -1201, /* over the size or decompression ratio limit */
	ERR_TLSRPT_JSON = -1202,      /* not JSON, or not a JSON object */
	ERR_TLSRPT_FIELD = -1203,     /* a required field missing or of the wrong type/value */
	ERR_TLSRPT_NO_REPORT = -1204, /* a mail message without a report part */
	/* listening sockets (common/listen.h) */
	ERR_LISTEN_PASSED = -1180, /* a socket passed by the service manager does not fit the
	                            * configured listener: another role's name on its address,
	                            * or another address on its port (the message says which) */
};

/* Text for a code from err.h or a -errno value. Returns a static string, never NULL. */
const char *err_str(int code);

#endif
