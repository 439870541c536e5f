/*
 * common/mx_match.h - does an MX host name match a policy mx pattern (RFC 8461 section 4.1)
 *
 * "*.example.com" covers exactly one left-most label ("mail.example.com", not
 * "example.com", not "a.b.example.com"); otherwise exact. ASCII case-insensitive; one
 * trailing dot on either side ignored.
 *
 * Interface: mx_match()
 * Errors:    none; returns 1 (match) or 0.
 */
#ifndef MTASTSD_MX_MATCH_H
#define MTASTSD_MX_MATCH_H

int mx_match(const char *pattern, const char *hostname);

#endif
