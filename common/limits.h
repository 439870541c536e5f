/*
 * common/limits.h - every size, count and time limit of mtastsd, with its source
 *
 * Interface: constants only.
 */
#ifndef MTASTSD_LIMITS_H
#define MTASTSD_LIMITS_H

/* RFC 1035 section 2.3.4 / RFC 5321: a label is at most 63 octets, a name 253 (text form). */
#define DOMAIN_LABEL_MAX 63
#define DOMAIN_NAME_MAX	 253

/* RFC 8461 section 3.3: policy bodies SHOULD stay under 64 KiB; we refuse larger (bytes). */
#define STS_POLICY_BODY_MAX (64 * 1024)
/* RFC 8461 section 3.2: max_age is at most 31557600 seconds (one Julian year). */
#define STS_MAX_AGE_MAX 31557600u
/* RFC 8461 section 3.1: the policy id is 1 to 32 ALPHA/DIGIT. */
#define STS_ID_MAX 32
/* Our bound on mx lines in one policy (no RFC limit; real policies have a handful). */
#define STS_MX_MAX 64
/* Our bound on extension fields kept from one policy. */
#define STS_EXT_MAX 32
/* Bound on the TXT RRset text we look at (bytes, all character-strings of one RR joined). */
#define STS_TXT_MAX 4096

/* socketmap_table(5): Postfix reads replies up to 100000 bytes; requests are ours to bound
 * (postfix-tlspol uses 10000). Bytes, payload only (without the netstring framing). */
#define SOCKETMAP_QUERY_MAX 10000
#define SOCKETMAP_REPLY_MAX 100000

/* RFC 8461 section 3.3 suggests a 1 minute fetch timeout; we default lower (ms). */
#define FETCH_TIMEOUT_DEFAULT_MS 15000
/* RFC 8461 section 3.3: after a failed fetch, wait >= 5 minutes before retrying (seconds). */
#define FETCH_RETRY_MIN_S 300

/* Text a peer controls is cut to this many bytes in logs (STYLE.md section 7). */
#define LOG_PEER_TEXT_MAX 200

#endif
