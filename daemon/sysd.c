/*
 * daemon/sysd.c - systemd service notifications (sd_notify)
 *
 * Interface: see sysd.h
 * Threads:   main loop only.
 * Errors:    none reported; see sysd.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "sysd.h"

static void
sysd_send(const char *msg)
{
	int r = sd_notify(0, msg);

	if (r < 0)
		log_debug("sd_notify failed: %d", r);
}

void
sysd_ready(const char *status)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);

	if (n < 0)
		return;
	sysd_send(msg);
}

void
sysd_reloading(void)
{
	struct timespec ts;
	char msg[128];
	int n;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	             (unsigned long long)ts.tv_sec * 1000000ULL +
	                     (unsigned long long)ts.tv_nsec / 1000ULL);
	if (n < 0)
		return;
	sysd_send(msg);
}

void
sysd_stopping(void)
{
	sysd_send("STOPPING=1\nSTATUS=stopping");
}

void
sysd_status(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "STATUS=");
	if (n < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sysd_send(msg);
}
