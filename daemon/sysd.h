/*
 * daemon/sysd.h - systemd service notifications (sd_notify)
 *
 * Interface: sysd_ready(), sysd_reloading(), sysd_stopping(), sysd_status()
 * Threads:   main loop only.
 * Errors:    none reported: outside systemd (no NOTIFY_SOCKET) every call does nothing,
 *            and a failed notification is logged at debug level only.
 */
#ifndef MTASTSD_SYSD_H
#define MTASTSD_SYSD_H

/* "READY=1" plus "STATUS=<status>". */
void sysd_ready(const char *status);
/* "RELOADING=1" with MONOTONIC_USEC= (systemd Type=notify-reload wants both). */
void sysd_reloading(void);
/* "STOPPING=1". */
void sysd_stopping(void);
/* "STATUS=<text>" only. */
void sysd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
