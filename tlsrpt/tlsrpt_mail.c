/*
 * tlsrpt/tlsrpt_mail.c - find and decode the report part of a report mail (GMime 3)
 *
 * Interface: see tlsrpt_mail.h
 * Threads:   one at a time (GMime is loaded and g_mime_init() called once, neither
 *            thread-safe itself).
 * Ownership: GMime objects are released before returning.
 * Errors:    ERR_TLSRPT_NO_REPORT, ERR_TLSRPT_TOO_LARGE, -ENOENT/-ENOSYS (GMime cannot be
 *            loaded); never logs.
 * Loading:   GMime is not linked: it is loaded at the first mail (common/dynlib.h, issue
 *            21: with glib, gobject and gio it cost every daemon 2.5 MiB of resident
 *            pages) and called through gm below. Only the headers are used at build
 *            time; a GMime function called directly fails to link, which keeps it so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "dynlib.h"
#include "err.h"
#include "mtasts_limits.h"
#include "tlsrpt_gz.h"
#include "tlsrpt_mail.h"

/* The soname of GMime 3 (libgmime-3.0-0 in Debian). */
#ifndef TLSRPT_GMIME_SONAME
#define TLSRPT_GMIME_SONAME "libgmime-3.0.so.0"
#endif

/* The GMime and GObject functions used here; the GObject type macros (GMIME_IS_PART,
 * GMIME_PART...) would call gobject directly, so their checks are written out. */
static struct {
	void (*g_mime_init)(void);
	GMimeContentType *(*g_mime_object_get_content_type)(GMimeObject *);
	gboolean (*g_mime_content_type_is_type)(GMimeContentType *, const char *, const char *);
	GType (*g_mime_part_get_type)(void);
	const char *(*g_mime_part_get_filename)(GMimePart *);
	GMimeDataWrapper *(*g_mime_part_get_content)(GMimePart *);
	GMimeStream *(*g_mime_stream_mem_new)(void);
	GMimeStream *(*g_mime_stream_mem_new_with_buffer)(const char *, size_t);
	GByteArray *(*g_mime_stream_mem_get_byte_array)(GMimeStreamMem *);
	GMimeParser *(*g_mime_parser_new_with_stream)(GMimeStream *);
	GMimeMessage *(*g_mime_parser_construct_message)(GMimeParser *, GMimeParserOptions *);
	void (*g_mime_message_foreach)(GMimeMessage *, GMimeObjectForeachFunc, gpointer);
	ssize_t (*g_mime_data_wrapper_write_to_stream)(GMimeDataWrapper *, GMimeStream *);
	gboolean (*g_type_check_instance_is_a)(GTypeInstance *, GType);
	void (*g_object_unref)(gpointer);
} gm;

/* Load GMime and initialise it, once. 0, or -ENOENT/-ENOSYS with why (and again the same
 * error at the next call: nothing is retried within a process). */
static int
tlsrpt_mail_gmime(char *why, size_t whylen)
{
	static int state; /* 0: not tried, 1: loaded, < 0: the error */
	static char reason[256];
	const struct dynlib_sym syms[] = {
	        DYNLIB_SYM(gm, g_mime_init),
	        DYNLIB_SYM(gm, g_mime_object_get_content_type),
	        DYNLIB_SYM(gm, g_mime_content_type_is_type),
	        DYNLIB_SYM(gm, g_mime_part_get_type),
	        DYNLIB_SYM(gm, g_mime_part_get_filename),
	        DYNLIB_SYM(gm, g_mime_part_get_content),
	        DYNLIB_SYM(gm, g_mime_stream_mem_new),
	        DYNLIB_SYM(gm, g_mime_stream_mem_new_with_buffer),
	        DYNLIB_SYM(gm, g_mime_stream_mem_get_byte_array),
	        DYNLIB_SYM(gm, g_mime_parser_new_with_stream),
	        DYNLIB_SYM(gm, g_mime_parser_construct_message),
	        DYNLIB_SYM(gm, g_mime_message_foreach),
	        DYNLIB_SYM(gm, g_mime_data_wrapper_write_to_stream),
	        DYNLIB_SYM(gm, g_type_check_instance_is_a),
	        DYNLIB_SYM(gm, g_object_unref),
	};

	if (state == 0) {
		state = dynlib_load(TLSRPT_GMIME_SONAME, syms, sizeof(syms) / sizeof(syms[0]),
		                    reason, sizeof(reason));
		if (state == 0) {
			gm.g_mime_init();
			state = 1;
		}
	}
	if (state < 0) {
		(void)snprintf(why, whylen, "reading a mail needs GMime: %s", reason);
		return state;
	}
	return 0;
}

enum tlsrpt_input_kind
tlsrpt_input_kind(const void *p, size_t len)
{
	const char *s = p;
	size_t i;

	if (tlsrpt_is_gzip(p, len))
		return TLSRPT_INPUT_GZIP;
	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			break;
	return i < len && s[i] == '{' ? TLSRPT_INPUT_JSON : TLSRPT_INPUT_MAIL;
}

/* Does this part hold the report? 2: by its RFC 8460 media type, 1: by a generic type and
 * a .json(.gz) file name, 0: no. */
static int
tlsrpt_mail_is_report(GMimeObject *part)
{
	GMimeContentType *ct = gm.g_mime_object_get_content_type(part);
	const char *fn = NULL;
	size_t n;

	if (ct == NULL ||
	    !gm.g_type_check_instance_is_a((GTypeInstance *)part, gm.g_mime_part_get_type()))
		return 0;
	if (gm.g_mime_content_type_is_type(ct, "application", "tlsrpt+gzip") ||
	    gm.g_mime_content_type_is_type(ct, "application", "tlsrpt+json"))
		return 2;
	fn = gm.g_mime_part_get_filename((GMimePart *)part);
	if (fn == NULL)
		return 0;
	n = strlen(fn);
	if ((gm.g_mime_content_type_is_type(ct, "application", "gzip") ||
	     gm.g_mime_content_type_is_type(ct, "application", "x-gzip") ||
	     gm.g_mime_content_type_is_type(ct, "application", "octet-stream")) &&
	    n > 8 && strcasecmp(fn + n - 8, ".json.gz") == 0)
		return 1;
	if (gm.g_mime_content_type_is_type(ct, "application", "json") && n > 5 &&
	    strcasecmp(fn + n - 5, ".json") == 0)
		return 1;
	return 0;
}

struct tlsrpt_mail_walk {
	GMimeObject *best;
	int score;
	unsigned parts;
};

static void
tlsrpt_mail_visit(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct tlsrpt_mail_walk *w = data;
	int s;

	(void)parent;
	w->parts++;
	s = tlsrpt_mail_is_report(part);
	if (s > w->score) {
		w->best = part;
		w->score = s;
	}
}

/* Lines that start with "--" (MIME boundary candidates) in msg, counting stops past
 * limit: GMime builds an object per part, so a message of a million empty parts would take
 * gigabytes before anything could refuse it. */
static size_t
tlsrpt_mail_dashes(const char *msg, size_t len, size_t limit)
{
	size_t n = 0, i;

	for (i = 0; i + 1 < len && n <= limit; i++) {
		if ((i == 0 || msg[i - 1] == '\n') && msg[i] == '-' && msg[i + 1] == '-')
			n++;
	}
	return n;
}

int
tlsrpt_mail_extract(const char *msg, size_t len, size_t max, char **ret, size_t *ret_len, char *why,
                    size_t whylen)
{
	struct tlsrpt_mail_walk w = {0};
	GMimeStream *in, *out;
	GMimeParser *parser;
	GMimeMessage *m;
	GMimeDataWrapper *dw;
	GByteArray *ba;
	char *buf;
	int r;

	if (tlsrpt_mail_dashes(msg, len, TLSRPT_MAIL_BOUNDARIES_MAX) > TLSRPT_MAIL_BOUNDARIES_MAX) {
		(void)snprintf(why, whylen,
		               "more than %d MIME boundary lines (a report mail has a few)",
		               TLSRPT_MAIL_BOUNDARIES_MAX);
		return ERR_TLSRPT_TOO_LARGE;
	}
	r = tlsrpt_mail_gmime(why, whylen);
	if (r < 0)
		return r;
	in = gm.g_mime_stream_mem_new_with_buffer(msg, len);
	parser = gm.g_mime_parser_new_with_stream(in);
	gm.g_object_unref(in);
	m = gm.g_mime_parser_construct_message(parser, NULL);
	gm.g_object_unref(parser);
	if (m == NULL) {
		(void)snprintf(why, whylen, "not a mail message");
		return ERR_TLSRPT_NO_REPORT;
	}
	gm.g_mime_message_foreach(m, tlsrpt_mail_visit, &w);
	if (w.best == NULL) {
		(void)snprintf(why, whylen,
		               "no application/tlsrpt+gzip or application/tlsrpt+json part "
		               "(%u parts)",
		               w.parts);
		gm.g_object_unref(m);
		return ERR_TLSRPT_NO_REPORT;
	}
	dw = gm.g_mime_part_get_content((GMimePart *)w.best) /* a part: scored */;
	if (dw == NULL) {
		(void)snprintf(why, whylen, "the report part is empty");
		gm.g_object_unref(m);
		return ERR_TLSRPT_NO_REPORT;
	}
	out = gm.g_mime_stream_mem_new();
	(void)gm.g_mime_data_wrapper_write_to_stream(dw, out);
	ba = gm.g_mime_stream_mem_get_byte_array((GMimeStreamMem *)out);
	if (ba == NULL || ba->len == 0) {
		(void)snprintf(why, whylen, "the report part is empty");
		r = ERR_TLSRPT_NO_REPORT;
	} else if (ba->len > max) {
		(void)snprintf(why, whylen, "the report part is over %zu bytes", max);
		r = ERR_TLSRPT_TOO_LARGE;
	} else {
		buf = malloc(ba->len + 1);
		if (buf == NULL) {
			r = -ENOMEM;
		} else {
			memcpy(buf, ba->data, ba->len);
			buf[ba->len] = '\0';
			*ret = buf;
			*ret_len = ba->len;
			(void)snprintf(why, whylen, "%s part",
			               w.score == 2 ? "application/tlsrpt" : "a .json(.gz)");
			r = 0;
		}
	}
	gm.g_object_unref(out);
	gm.g_object_unref(m);
	return r;
}
