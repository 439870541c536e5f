/*
 * common/log.c - logging: stderr with <N> journald prefixes, plain stderr, or syslog
 *
 * Interface: see log.h
 * Threads:   one write(2) per line, so lines from the publisher thread do not interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_limits.h"
#include "log.h"

static enum log_target log_target_cur = LOG_TARGET_STDERR;
static const char *log_ident = "mtastsd";
static int log_verbose;

void
log_open(const char *ident, enum log_target target)
{
	log_ident = ident;
	log_target_cur = target;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

enum log_target
log_target_auto(int foreground)
{
	if (getenv("JOURNAL_STREAM") != NULL)
		return LOG_TARGET_JOURNALD;
	if (foreground)
		return LOG_TARGET_STDERR;
	return LOG_TARGET_SYSLOG;
}

void
log_set_verbosity(int v)
{
	log_verbose = v;
}

int
log_verbosity(void)
{
	return log_verbose;
}

static const char *
log_prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "fatal";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void log_vmsg(int prio, const char *prefix, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

static void
log_vmsg(int prio, const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int r;

	if (prio == LOG_DEBUG && log_verbose < 1)
		return;
	if (log_target_cur == LOG_TARGET_SYSLOG) {
		r = vsnprintf(line, sizeof(line), fmt, ap);
		if (r < 0)
			return;
		syslog(prio, "%s%s", prefix, line);
		return;
	}
	if (log_target_cur == LOG_TARGET_JOURNALD)
		r = snprintf(line, sizeof(line), "<%d>%s", prio, prefix);
	else
		r = snprintf(line, sizeof(line), "%s: %s: %s", log_ident, log_prio_name(prio),
		             prefix);
	if (r < 0)
		return;
	n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r < 0)
		return;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, "", fmt, ap);
	va_end(ap);
}

void
log_dom(int prio, const char *dom, const char *fmt, ...)
{
	char prefix[LOG_PEER_TEXT_MAX + 32], safe[LOG_PEER_TEXT_MAX + 8];
	va_list ap;

	(void)log_printable(safe, sizeof(safe), dom, strlen(dom));
	(void)snprintf(prefix, sizeof(prefix), "domain '%s': ", safe);
	va_start(ap, fmt);
	log_vmsg(prio, prefix, fmt, ap);
	va_end(ap);
}

char *
log_printable(char *out, size_t outsz, const char *src, size_t len)
{
	size_t i, n = 0, max = outsz - 4;

	if (max > LOG_PEER_TEXT_MAX)
		max = LOG_PEER_TEXT_MAX;
	for (i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)src[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, "", fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_rate_due(struct log_rate *r, uint64_t now_ms, uint64_t period_ms, uint64_t *ret_suppressed)
{
	if (r->last_ms != 0 && now_ms - r->last_ms < period_ms) {
		r->suppressed++;
		return 0;
	}
	*ret_suppressed = r->suppressed;
	r->suppressed = 0;
	r->last_ms = now_ms != 0 ? now_ms : 1;
	return 1;
}
