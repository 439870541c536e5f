/*
 * common/mtasts_limits.h - every size, count and time limit of mtastsd, with its source
 *
 * Interface: constants only. (Not "limits.h": that name shadowed the system header for
 * every file built with -I common.)
 */

#ifndef MTASTSD_LIMITS_H
#define MTASTSD_LIMITS_H

/* RFC 1035 section 2.3.4 / RFC 5321: a label is at most 63 octets, a name 253 (text form). */
#define DOMAIN_LABEL_MAX 63
#define DOMAIN_NAME_MAX  253
/* subjectAltName entries looked at in one certificate (common/cert_names.c). Our bound, no
 * RFC: Let's Encrypt issues at most 100 names per certificate. */
#define CERT_SAN_MAX 1024

/* RFC 8461 section 3.3: policy bodies SHOULD stay under 64 KiB; we refuse larger (bytes). */
#define STS_POLICY_BODY_MAX (64 * 1024)
/* RFC 8461 section 3.2: max_age is at most 31557600 seconds (one Julian year). */
#define STS_MAX_AGE_MAX 31557600u
/* RFC 8461 section 3.1: the policy id is 1 to 32 ALPHA/DIGIT. */
#define STS_ID_MAX 32
/* Our bound on distinct mx patterns in one policy (no RFC limit; real policies have a
 * handful). The shortest mx line is 7 bytes ("mx:a.b" and a LF), so no body within
 * STS_POLICY_BODY_MAX can reach it: a large but valid policy is never refused for its
 * count (issue 22: a refused enforce policy is no protection at all). */
#define STS_MX_MAX (STS_POLICY_BODY_MAX / 7 + 1)
/* The canonical text of a policy (sts_policy_serialize(): "mx: " and CRLF per pattern) can be
 * longer than the body it was parsed from (at most 9/7 of it plus the fixed fields); this
 * bounds the text that sts_policy_parse_canonical() takes back from a cache (bytes). */
#define STS_POLICY_CANON_MAX (2 * STS_POLICY_BODY_MAX)
/* Our bound on extension fields kept from one policy. */
#define STS_EXT_MAX 32
/* Bound on the TXT RRset text we look at (bytes, all character-strings of one RR joined). */
#define STS_TXT_MAX 4096

/* `mtastsd migrate resolver`: the postfix-mta-sts-resolver YAML file read (bytes). Ours: the
 * real files are a few hundred bytes; this keeps a wrong path (a log, a device) from being
 * loaded whole. */
#define MIGRATE_YAML_MAX (1024 * 1024)
/* ... and its flow collections ([ ] and { }) nested at most this deep, checked before
 * libyaml reads it: libyaml's scanner takes time quadratic in that depth (80 000 '[' took
 * 31 s, a 1 MiB file of them minutes). The real files nest 3 or 4 levels. */
#define MIGRATE_YAML_FLOW_DEPTH_MAX 64

/* socketmap_table(5): Postfix reads replies up to 100000 bytes; requests are ours to bound
 * (postfix-tlspol uses 10000). Bytes, payload only (without the netstring framing). */
#define SOCKETMAP_QUERY_MAX 10000
#define SOCKETMAP_REPLY_MAX 100000

/* RFC 8461 section 3.3 suggests a 1 minute fetch timeout; we default lower (ms). */
#define FETCH_TIMEOUT_DEFAULT_MS 15000
/* RFC 8461 section 3.3: after a failed fetch, wait >= 5 minutes before retrying (seconds). */
#define FETCH_RETRY_MIN_S 300

/* Configuration text (common/cfg.c): the main file and every file it @includes, together,
 * are read whole before libconfig parses them (bytes). Our bound, no RFC: the annotated
 * etc/mtastsd.conf is about 6 KiB, and 1024 published domains (the most a file may list)
 * take about 300 KiB. A larger file, a device or a FIFO is refused, never read. */
#define CFG_FILE_MAX (4 * 1024 * 1024)

/* Text a peer controls is cut to this many bytes in logs (docs/style.md section 7). */
#define LOG_PEER_TEXT_MAX 200

/* Resolver socketmap server (resolver/sm_server.c). Input read but not yet decoded, per
 * connection: room for a few pipelined maximal requests (bytes). Postfix sends one request
 * at a time (dict_sockmap.c), so this only bounds misbehaving clients: when full, reading
 * pauses until the queue drains. */
#define SM_CONN_INBUF_MAX (4 * (SOCKETMAP_QUERY_MAX + 16))
/* Replies queued but not yet written, per connection (bytes); above it, no new request is
 * started until the peer reads. */
#define SM_CONN_OUTBUF_MAX (2 * (SOCKETMAP_REPLY_MAX + 16))
/* Bytes read per read(2) call and connections accepted per readiness event. */
#define SM_READ_CHUNK   4096
#define SM_ACCEPT_BATCH 64

/* Socket activation (common/listen.c): the listening sockets a service manager may pass
 * (sd_listen_fds(3), LISTEN_FDS). A configuration has at most 49 listeners
 * (resolver.listen, publisher.listen and publisher.http_listen with CFG_LISTEN_MAX = 16
 * each, and admin.listen), and every passed socket must be one of them, so a larger count
 * is refused at start instead of being looked at descriptor by descriptor. */
#define LISTEN_PASSED_MAX 64
/* listen(2) backlog (Linux somaxconn default is 4096; 128 is the traditional value). */
#define SM_LISTEN_BACKLOG 128

/* Policy engine (resolver/pol_engine.c): the purge of expired cache entries runs this
 * often (ms); the proactive re-check pass below looks at most SCAN_MAX entries per run. */
#define POL_SWEEP_INTERVAL_MS 30000
#define POL_SWEEP_SCAN_MAX    20000
/* The refresh schedule (issue 16: a heap over every cached policy, cache_mem.h) is looked at
 * this often (ms; refresh times are whole seconds), and at most BATCH due entries are taken
 * per look, so that a backlog (e.g. after a long outage) cannot hold the loop. */
#define POL_REFRESH_TICK_MS   1000
#define POL_REFRESH_BATCH_MAX 4096
/* Lookups answered as timed out because of max_discoveries or fetch_queue_max are logged at
 * most once per this many ms, with their count (a flood would otherwise flood the log). */
#define POL_REJECT_LOG_MS 10000
/* DNS queries waiting for one of the resolver.dns_concurrency slots, per DNS client
 * (resolver/dns_client.c; issue 16: every queue has a limit). A query beyond it is never
 * sent and fails at once with ERR_DNS_BUSY, which its caller treats as a timeout. At the
 * default dns_concurrency (128 slots per client) and a server that never answers (each
 * query holding its slot for dns_timeout x dns_attempts, 4 s), 1024 waiting queries are
 * already 32 s of wait, far beyond any lookup's timeout (zone timeout, 5 s by default). */
#define DNS_WAIT_MAX 1024
/* Proactive TXT re-checks of recently used policies (issue 22): the pass runs every quarter
 * of resolver.recheck_interval, at least this often apart (ms) and at most
 * POL_SWEEP_INTERVAL_MS; it looks at the POL_SWEEP_SCAN_MAX most recently used policies. */
#define POL_RECHECK_TICK_MIN_MS 1000
/* Lookups waiting and jobs in flight, per engine (pol_engine, dane; common/coalesce.h). A
 * waiting lookup holds a socketmap connection (resolver.max_connections <= 65536, one
 * request in flight each) or a CLI query; jobs are those lookups' plus background work
 * (refresh_concurrency <= 1024, DANE serve-stale refreshes). Beyond these a lookup is
 * answered at once as if its timeout had passed. */
#define RES_WAITERS_MAX (2 * 65536)
#define RES_JOBS_MAX    (2 * 65536)
/* Lookups over max_discoveries or fetch_queue_max that still read the shared cache
 * (Valkey/Redis) for a policy another fleet member discovered, at once: one read each, no
 * DNS, no fetch. Over this, they are answered at once as before. */
#define RES_OVERCAP_SHARED_READS_MAX 1024
/* "_mta-sts." + a domain name + NUL. */
#define POL_QNAME_MAX (sizeof("_mta-sts.") + DOMAIN_NAME_MAX)

/* Cache value (resolver/cache.c, docs/cache.md): header lines + one canonical policy (bytes). */
#define CACHE_VALUE_MAX (STS_POLICY_CANON_MAX + 1024)
/* The memory tier (resolver/cache_mem.c) keeps its times as unsigned 32-bit seconds since
 * the Unix epoch (issue 21: 100 000 cached policies in < 25 MiB): 0 (1970) to this,
 * 2106-02-07T06:28:15Z. A time outside is stored clamped into the range (a negative one as
 * 0, a later one as this), never wrapped: an expiry only ever becomes earlier. */
#define CACHE_MEM_TIME_MAX 4294967295u
/* Elements in one Valkey/Redis reply array (resolver/cache_redis.c): ours have at most 3
 * (ROLE on a primary: 3, its replica list one per replica). hiredis 0.14 callocs whatever
 * count the server sends ("*2000000000" asks for 16 GB): more fails the reader. */
#define CACHE_REDIS_REPLY_ELEMENTS_MAX 1024
/* cache.redis.prefix (bytes): it starts every key, whose buffer is sized by it; checked by
 * the configuration (mtastsd -n), so a longer one never reaches the daemon's start. */
#define CACHE_REDIS_PREFIX_MAX 128

/* res_shutdown(): how often in-flight lookups are checked while draining (ms). */
#define RES_SHUTDOWN_POLL_MS 50

/* sm_server: when accept(2) fails for lack of descriptors (EMFILE/ENFILE), listeners pause
 * this long (ms) instead of spinning on a level-triggered readiness. */
#define SM_ACCEPT_PAUSE_MS 1000
/* sm_server: warnings a peer can cause once per connection (a malformed netstring, a
 * request past resolver.request_timeout, a connection closed at max_connections for a new
 * one) are logged at most once per this many ms each, with the count of those held back
 * (2000 garbage connections wrote 2000 lines before; found by a trial). */
#define SM_LOG_RATE_MS 1000
/* sm_server at max_connections: a connection that has not sent a byte yet is not closed
 * for a new one within this many ms of its accept (its request may be on its way: a burst
 * of clients each connects, then writes). Closing one that has been answered comes first. */
#define SM_CONN_GRACE_MS 1000

/* State database (common/statedb.c): at startup, how long opening waits for another
 * process's lock before the daemon goes on memory-only (ms); after that nothing waits. */
#define STATEDB_OPEN_BUSY_MS 1000
/* SQLite's page cache per state database connection (KiB; PRAGMA cache_size = -N). The
 * default, 2000 KiB, stays full once the policies are read at start (~2 MiB of a daemon
 * holding 100 000 policies, issue 21); the daemon's reads are one row at a time and the
 * file is in the kernel's page cache anyway. */
#define STATEDB_CACHE_KIB 256
/* A TLS report stored from a libmicrohttpd thread or by `mtastsd tlsrpt import` waits this
 * long (ms) for another writer's lock (the daemon's policy batch, another report) before it
 * answers 503 / exits 75: writers hold it for milliseconds, so two reports at once both
 * store; the event loop's own connection never waits. */
#define TLSRPT_STORE_BUSY_MS 2000
/* The policy cache's writes (resolver/cache_state.c) on the event loop: the first try of a
 * batch after a success waits up to this long (ms) for another writer's lock. The TLSRPT
 * receiver's threads write in this process and hold the lock for milliseconds (a report,
 * then the pruning, each its own transaction): a batch must not fail on them and back off
 * while reports keep coming. Retries after a failure do not wait (a foreign process holding
 * the lock stalls the loop once per outage, not per retry). */
#define STATEDB_LOOP_BUSY_MS 200
/* Policy cache persistence (resolver/cache_state.c, docs/cache.md "State database"):
 * changes are written this long after the first one (ms), at most BATCH domains per
 * transaction, a failed write retried after RETRY_MIN doubling to RETRY_MAX (ms). The
 * set of domains waiting to be written holds at most DIRTY_MIN or 2 x cache.max_entries
 * names, whichever is larger; beyond that the file is rewritten from memory. */
#define CACHE_STATE_FLUSH_MS     1000
#define CACHE_STATE_BATCH_MAX    512
#define CACHE_STATE_RETRY_MIN_MS 1000
#define CACHE_STATE_RETRY_MAX_MS 60000
/* ... but at most this long (ms) while the failure is a lock held by another writer: a
 * lock is released in moments, a read-only or full file is not. */
#define CACHE_STATE_RETRY_LOCKED_MAX_MS 5000
#define CACHE_STATE_DIRTY_MIN           1024
/* The state database keeps a policy evicted from memory for space until it expires (a
 * lookup that misses in memory reads it back: RFC 8461 section 5.1, filling the memory
 * bound with other domains must not end a policy), but at most this many times
 * cache.max_entries rows: beyond it the rows that expire first are deleted (logged,
 * mtastsd_state_db_trimmed_total). 10 x the default 100000 is about 300 MB of file. */
#define CACHE_STATE_ROWS_FACTOR 10

/* Descriptor budget (common/fd_budget.c, docs/operations.md "File descriptors"). The daemon
 * raises RLIMIT_NOFILE's soft limit to the hard one at start, at most to FD_LIMIT_CAP (the
 * kernel's default fs.nr_open), and refuses to start below FD_LIMIT_MIN: the process holds
 * about 20 descriptors of its own at rest (loop, log, state database, listeners), and a
 * socketmap with a handful of connections needs the rest. The spare kept beyond the
 * descriptors the process holds anyway is the limit / FD_SPARE_DIV, between FD_SPARE_MIN
 * and FD_SPARE_MAX: files opened now and then (certificates, the CA file, the state
 * database's journal), a descriptor accepted and closed at once by each libmicrohttpd
 * thread over its limits, sockets of Valkey reconnects. Our bounds, no RFC. */
#define FD_LIMIT_CAP 1048576u
#define FD_LIMIT_MIN 64u
#define FD_SPARE_DIV 16u
#define FD_SPARE_MIN 8u
#define FD_SPARE_MAX 64u
/* Descriptors of one HTTPS fetch: libcurl may try an IPv4 and an IPv6 address at once
 * (happy eyeballs, RFC 8305), and one multi handle keeps a socketpair to wake itself. */
#define FD_PER_FETCH  2u
#define FD_FETCH_BASE 2u
/* Descriptors a threaded libcurl multi (common/curlm.h, the policy fetches' worker thread)
 * holds besides its transfers' sockets: two eventfds, the worker loop's sd-event epoll,
 * inner epoll and timerfd, and slack. Our count, no RFC. */
#define FD_CURLM_THREAD 8u
/* Worker threads of a threaded libcurl multi (common/curlm.h, the policy fetches): one per
 * online CPU, at most this many. Cold fetches are TLS handshakes, CPU bound; past the
 * cores there is nothing to gain. Our bound, no RFC. */
#define CURLM_THREADS_MAX 8u
/* The resolver's DNS clients (MTA-STS discovery and DANE) share resolver.dns_concurrency,
 * each at least one query: one socket each (resolver/dns_client.h DNS_CLIENTS). */
#define FD_DNS_CLIENTS 2u
/* A state database connection (SQLite in WAL mode): the file, its -wal and its -shm. The
 * HTTPS TLSRPT receiver opens one per upload being stored, tlsrpt.max_uploads at most
 * (daemon/tlsrpt_recv.c), counted in the reserve. */
#define FD_PER_STATEDB 3u
/* The MX check (daemon/mxcheck.c, resolver/mx_probe.c) probes the MX_PROBE_HOSTS_MAX hosts
 * of mx_check_concurrency domains at once, each host with its A and AAAA queries and one
 * SMTP connection open together at most: counted in the reserve, its DNS client's sockets
 * are not the resolver's. */
#define FD_PER_MX_HOST 3u
/* When the limit cannot hold every part, the publisher is cut first (the Internet's
 * connections are the ones an attacker controls), but keeps at least this share of what
 * is left after the reserve and the admin endpoint: a quarter. */
#define FD_PUBLISHER_FLOOR_DIV 4u
/* One address never holds more than half of a publisher listener's connections, so one
 * sender cannot take a listener whatever publisher.max_connections_per_address says. */
#define FD_PER_ADDRESS_SHARE_DIV 2u

/* RFC 2136 dynamic updates of the records mtastsd owns (publisher/pub_dnsupdate.c). */
/* RFC 1035 section 4.2.2: a DNS message over TCP has a 2-byte length: at most 65535
 * bytes; one shorter than a header (12 bytes, section 4.1.1) is refused. */
#define DNS_TCP_MSG_MAX 65535
#define DNS_HEADER_LEN  12
/* RFC 8945 section 10: fudge of 300 seconds recommended for TSIG time checks. */
#define DNSUPD_TSIG_FUDGE_S 300
/* The first retry after a failed attempt (ms); it doubles per failure up to
 * publisher.dns_update[].retry_max (our choice: quick when a primary restarts). */
#define DNSUPD_RETRY_MIN_MS 1000
/* After an accepted update, the primary is asked again until the new records show:
 * this often, this many times, before the attempt counts as failed (a primary may apply
 * an update a moment after it answered it). */
#define DNSUPD_VERIFY_INTERVAL_MS 500
#define DNSUPD_VERIFY_TRIES       20
/* A TXT character-string holds at most 255 bytes (RFC 1035 section 3.3.14); a record
 * text we write is split into pieces this long. */
#define DNS_TXT_STRING_MAX 255
/* The built-in ACME client (RFC 8555; acme/, docs/publisher.md "ACME").
 * http-01 tokens answered at once by the port 80 listeners: one per authorization in
 * flight; the client runs at most ACME_ORDERS_MAX orders of one name each. Tokens have at
 * least 128 bits of entropy in base64url (RFC 8555 section 8.3), 43 characters at
 * Let's Encrypt; we take up to 255 as the webroot does. A key authorization is the token,
 * ".", and the 43-character account key thumbprint (RFC 7638). */
#define PUB_ACME_TOKENS_MAX   64
#define PUB_ACME_TOKEN_MAX    255
#define PUB_ACME_KEYAUTHZ_MAX 512
/* Orders in flight at once (each name is one order); more wait their turn. Our bound. */
#define ACME_ORDERS_MAX 16
/* One ACME response body: directory, account, order, authorization objects are a few KiB,
 * a certificate chain under 16 KiB; our bound. */
#define ACME_BODY_MAX (256u * 1024u)
/* One ACME HTTP request (connect to last byte), ms; our bound. */
#define ACME_HTTP_TIMEOUT_MS 30000u
/* badNonce answers one request may get in a row, each retried at once with the nonce of the
 * error (RFC 8555 section 6.5 says retry; a CA may refuse any nonce, pebble refuses 5 %):
 * with one retry, two refusals in a row failed the whole order (0.25 % of requests). */
#define ACME_BADNONCE_RETRIES 3
/* Polls of an authorization or order before the order is given up (each waits the CA's
 * Retry-After, else ACME_POLL_DEFAULT_MS, at most ACME_POLL_MAX_MS); our bounds. */
#define ACME_POLLS_MAX       60
#define ACME_POLL_DEFAULT_MS 1000u
#define ACME_POLL_MAX_MS     60000u
/* Renewal without ARI (RFC 9773): when a third of the lifetime is left (so a 6-day and a
 * 90-day certificate both renew in time), minus a random jitter of up to a fiftieth of the
 * lifetime so that many names do not renew in the same second. */
#define ACME_RENEW_LEFT_DIV   3
#define ACME_RENEW_JITTER_DIV 50
/* A renewal timer never sleeps longer than this (ms), and re-plans when it fires. */
#define ACME_TIMER_MAX_MS (6u * 3600u * 1000u)
/* An expiring certificate is warned about when less than this share of its lifetime is
 * left and no renewal has worked: a sixth. */
#define ACME_WARN_LEFT_DIV 6
/* The MX check (resolver/mx_probe.c), a sender's SMTP session up to the TLS handshake.
 * RFC 5321 section 4.5.3.1.5 limits a reply line to 512 octets; Postfix's smtp client reads
 * up to line_length_limit (2048) and so do we, to report what Postfix would accept. An EHLO
 * reply has a line per extension (a dozen in practice); 128 lines or 16 KiB in one reply
 * is a hostile server (an endless banner). */
#define SMTP_REPLY_LINE_MAX  2048
#define SMTP_REPLY_LINES_MAX 128
#define SMTP_REPLY_BYTES_MAX (16 * 1024)
/* The reply text kept for a message (bytes, printable, cut). */
#define SMTP_REPLY_TEXT_MAX 128
/* MX hosts probed per domain (more are counted, not probed; real domains have a few), and
 * addresses tried per host until one connects (Postfix smtp_mx_address_limit is 5). */
#define MX_PROBE_HOSTS_MAX 16
#define MX_PROBE_ADDRS_MAX 5
/* Default timeouts (ms): each step (connect, a reply, the handshake), like Postfix's
 * smtp_connect_timeout 30 s but shorter for a check, and the whole host. */
#define MX_PROBE_STEP_MS 10000
#define MX_PROBE_HOST_MS 60000
/* TLSRPT reports (tlsrpt/, docs/tlsrpt.md; RFC 8460 section 4). Our bounds, no RFC limit:
 * a large provider's daily report is a few KiB with a few policies. JSON nesting depth
 * given to json-c (the report format nests 4 deep); policies per report; failure-details
 * per policy; bytes of any one string field kept (organization-name, report-id, result
 * types, host names...). A report over a count is refused as malformed, a longer string
 * likewise: nothing is cut silently. */
#define TLSRPT_JSON_DEPTH   16
#define TLSRPT_POLICIES_MAX 1024
#define TLSRPT_FAILURES_MAX 4096
#define TLSRPT_STRING_MAX   1024
/* What json-c may build of one report, counted by a pre-scan of the text before json-c
 * sees it (tlsrpt_report_parse()): objects ('{' outside strings) and values ('{', '[' and
 * ',' outside strings: each starts at most one value or member). json-c spends about
 * 800 bytes on an object (its hash table) and about 100 on any other value, so 8 MiB of
 * "[{},{},...]" in an unknown member would take some 2 GB; these bounds keep one report's
 * tree under about 30 MiB. A real report needs far fewer: 3 objects and about 10 values
 * per policy, one object and about 7 values per failure-details entry, so even 1024
 * policies with a dozen failure entries each, or one policy with 4096 (the bounds
 * above), fit. A report over either is refused as too large, nothing stored. */
#define TLSRPT_JSON_OBJECTS_MAX 16384
/* Sessions one report may count, each count and all of them together (successful, failed
 * and failure-details): 2^40, about 10^12. One report covers one reporter's day; the
 * largest mail providers handle some 10^10 messages a day in all. JSON allows 2^53 per
 * count, and 1024 policies of 2^53 overflowed the sums of the summaries; with this bound
 * the 64-bit sums hold 2^23 such reports (their raw text alone is over any
 * tlsrpt.max_stored_bytes), and the summaries add with total() anyway. A report over it
 * is malformed (kept raw, no session row). */
#define TLSRPT_SESSIONS_MAX ((uint64_t)1 << 40)
/* A report whose date-range ends later than this after its arrival is malformed: reporters
 * send a day's report after the day, and a future-dated one would count as evidence for
 * days to come (the rollout's days, sessions and organisations; docs/rollout.md). Ours
 * (seconds): a day of clock skew and time zones. */
#define TLSRPT_FUTURE_SKEW_S   86400
#define TLSRPT_JSON_VALUES_MAX 131072
/* A whole mail message read by `mtastsd tlsrpt import` (bytes): Postfix's default
 * message_size_limit is 10240000; a report mail is a few KiB. Longer input is refused
 * (EX_DATAERR) after reading at most this much. */
#define TLSRPT_MAIL_MAX (16 * 1024 * 1024)
/* gunzip works in chunks of this size (bytes), checking the output bound after each. */
#define TLSRPT_GZ_CHUNK 16384
/* Reports listed per domain by the admin endpoint, the status page and `mtastsd tlsrpt`
 * ("last reports"), and days shown in the chart. */
#define TLSRPT_LAST_REPORTS 10
/* The HTTPS receiver's per-address rate (publisher/pub_tlsrpt.c): addresses tracked at
 * once, in a table of this many slots in sets of PUB_TLSRPT_RATE_WAYS (an address takes an
 * entry of the set of its hash: a free one, one of a past window, else the least recently
 * used one, whose count it then keeps: memory stays bounded whatever the number of
 * clients, and a colliding address never resets another's count; a direct-mapped table
 * let two colliding addresses alternate with no limit at all), over fixed windows of this
 * many seconds. An IPv6 client counts by its /64. */
#define PUB_TLSRPT_RATE_SLOTS    4096
#define PUB_TLSRPT_RATE_WAYS     8
#define PUB_TLSRPT_RATE_WINDOW_S 3600
#define TLSRPT_CHART_DAYS        30
/* Domains in one TLSRPT summary (the page, /tlsrpt, `mtastsd tlsrpt`) and in the
 * mtastsd_tlsrpt_sessions_total series: the published domains when there are any (a
 * database may hold rows of other names, written before only published domains were
 * stored, or by imports without publisher.domains), else the first this many by name.
 * Bounds the queries, the page and the label cardinality. */
#define TLSRPT_SUMMARY_DOMAINS_MAX 1024
/* Failure rows stored per report (one per failure-details entry): a report may list
 * thousands of distinct receiving MX names, and every row is read again by the summaries
 * on the admin endpoint; past this the failures are counted as "unspecified" (their total
 * kept, their types not). Real reports have a few. */
#define TLSRPT_FAILURE_ROWS_MAX 256
/* Lines starting with "--" (MIME boundaries) in a report mail before GMime parses it: a
 * report mail has a handful (multipart/report: text, the report, maybe headers); GMime
 * makes an object per part, and 1.6 million empty parts in 9.6 MB took 2.2 GB. */
#define TLSRPT_MAIL_BOUNDARIES_MAX 512
/* Malformed TLS reports (kept raw with their reason, for the operator to look at) take
 * at most this share of tlsrpt.max_stored_bytes (1/8: 32 MiB of the default 256 MiB), and
 * only what the parsed reports leave: anyone may POST garbage, and it must never evict the
 * valid reports (tlsrpt/tlsrpt_store.c, statedb_tlsrpt_prune()). */
#define TLSRPT_MALFORMED_SHARE 8
/* An HTTPS TLSRPT upload's grace (ms) before its rate is judged against
 * tlsrpt.min_upload_rate (publisher/pub_tlsrpt.c): a report is a few kB, sent at once, and
 * this covers a slow start; past it an upload that has sent less than min_upload_rate
 * bytes for each second after the grace is slow (slowloris: a byte now and then, or
 * silence): it is closed at its next byte, or its slot is given to a new upload when
 * all tlsrpt.max_uploads are taken. */
#define PUB_TLSRPT_UPLOAD_GRACE_MS 5000

/* Rollout (daemon/rollout_eval.h, docs/rollout.md): failure types named in a reason and
 * kept per domain's evidence (the rest are counted, not named); max_age steps of a
 * publisher.domains[].rollout group. */
#define ROLLOUT_TYPES_MAX 8
#define ROLLOUT_STEPS_MAX 8
/* The recommendation's defaults without a rollout group: days of reports (and of the mode
 * served), sessions and organisations before enforce or the next max_age step. RFC 8461
 * section 8.3 leaves the numbers to the operator; two weeks sees weekly patterns twice. */
#define ROLLOUT_MIN_DAYS_DEFAULT          14
#define ROLLOUT_MIN_SESSIONS_DEFAULT      1000
#define ROLLOUT_MIN_ORGANISATIONS_DEFAULT 2
/* A domain's rollout alert (failures in enforce), and a state database failure of the
 * rollout, are logged at most once per this period (ms); the status page, /rollout and
 * the metric show the alert all the time. */
#define ROLLOUT_ALERT_LOG_MS (60 * 60 * 1000)

#endif
