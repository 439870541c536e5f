/*
 * common/log.h - logging: stderr with <N> journald prefixes, plain stderr (-f), or syslog
 *
 * Interface: log_open(), log_set_verbosity(), log_err/warn/notice/info/debug(),
 *            log_dom_*() (subject-tagged), log_printable(), die()
 * Threads:   safe from any thread (one write(2) per line).
 * Errors:    none; logging never fails the caller.
 */
#ifndef MTASTSD_LOG_H
#define MTASTSD_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,   /* plain "mtastsd: level: text" lines (-f, tests, CLI) */
	LOG_TARGET_JOURNALD, /* "<N>text" lines on stderr, parsed by journald */
	LOG_TARGET_SYSLOG,   /* syslog(3), facility LOG_MAIL */
};

/* Choose where logs go. With LOG_TARGET_JOURNALD auto-detected when JOURNAL_STREAM is set. */
void log_open(const char *ident, enum log_target target);
/* Pick the target a daemon should use: journald under systemd, else syslog; stderr if fg. */
enum log_target log_target_auto(int foreground);
/* Verbosity as in Unbound: 0 ops, 1 per-domain decisions, 2 protocol detail, 3 wire dumps.
 * log_debug() lines are written only when verbosity >= 1. */
void log_set_verbosity(int v);
int log_verbosity(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)

/* "domain 'example.com': <text>" */
void log_dom(int prio, const char *dom, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_dom_err(d, ...)    log_dom(LOG_ERR, d, __VA_ARGS__)
#define log_dom_warn(d, ...)   log_dom(LOG_WARNING, d, __VA_ARGS__)
#define log_dom_notice(d, ...) log_dom(LOG_NOTICE, d, __VA_ARGS__)
#define log_dom_info(d, ...)   log_dom(LOG_INFO, d, __VA_ARGS__)
#define log_dom_debug(d, ...)  log_dom(LOG_DEBUG, d, __VA_ARGS__)

/* Make peer-controlled text safe to log (Postfix printable()): copies at most
 * LOG_PEER_TEXT_MAX bytes of src[0..len) into out (size outsz >= 4), replacing every byte
 * outside 0x20..0x7e with '?', appending "..." when cut. Returns out. */
char *log_printable(char *out, size_t outsz, const char *src, size_t len);

/* A kind of log line written at most once per period (a flood of names must not write a
 * line per name): the owner keeps one zeroed struct log_rate per kind. */
struct log_rate {
	uint64_t last_ms;    /* when the last line was written (0: never) */
	uint64_t suppressed; /* lines held back since then */
};
/* Whether a line of this kind is written now: now_ms on the caller's monotonic clock
 * (milliseconds, never 0 in practice), period_ms the least interval. Returns 1 (write it;
 * *ret_suppressed = the lines held back since the last one, and the count restarts) or 0
 * (hold it back, counted; the caller may log it at debug level). Not thread-safe: one owner
 * thread per struct. */
int log_rate_due(struct log_rate *r, uint64_t now_ms, uint64_t period_ms, uint64_t *ret_suppressed);

/* Log at LOG_CRIT and exit(1). For startup errors and OOM only. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
