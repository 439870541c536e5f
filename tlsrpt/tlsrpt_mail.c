/*
 * tlsrpt/tlsrpt_mail.c - find and decode the report part of a report mail (GMime 3)
 *
 * Interface: see tlsrpt_mail.h
 * Threads:   one at a time (g_mime_init() is called once, not thread-safe itself).
 * Ownership: GMime objects are released before returning.
 * Errors:    ERR_TLSRPT_NO_REPORT, ERR_TLSRPT_TOO_LARGE; never logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "err.h"
#include "mtasts_limits.h"
#include "tlsrpt_gz.h"
#include "tlsrpt_mail.h"

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
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	const char *fn = NULL;
	size_t n;

	if (ct == NULL || !GMIME_IS_PART(part))
		return 0;
	if (g_mime_content_type_is_type(ct, "application", "tlsrpt+gzip") ||
	    g_mime_content_type_is_type(ct, "application", "tlsrpt+json"))
		return 2;
	fn = g_mime_part_get_filename(GMIME_PART(part));
	if (fn == NULL)
		return 0;
	n = strlen(fn);
	if ((g_mime_content_type_is_type(ct, "application", "gzip") ||
	     g_mime_content_type_is_type(ct, "application", "x-gzip") ||
	     g_mime_content_type_is_type(ct, "application", "octet-stream")) &&
	    n > 8 && strcasecmp(fn + n - 8, ".json.gz") == 0)
		return 1;
	if (g_mime_content_type_is_type(ct, "application", "json") && n > 5 &&
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
	static int inited;
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
	if (!inited) {
		g_mime_init();
		inited = 1;
	}
	in = g_mime_stream_mem_new_with_buffer(msg, len);
	parser = g_mime_parser_new_with_stream(in);
	g_object_unref(in);
	m = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (m == NULL) {
		(void)snprintf(why, whylen, "not a mail message");
		return ERR_TLSRPT_NO_REPORT;
	}
	g_mime_message_foreach(m, tlsrpt_mail_visit, &w);
	if (w.best == NULL) {
		(void)snprintf(why, whylen,
		               "no application/tlsrpt+gzip or application/tlsrpt+json part "
		               "(%u parts)",
		               w.parts);
		g_object_unref(m);
		return ERR_TLSRPT_NO_REPORT;
	}
	dw = g_mime_part_get_content(GMIME_PART(w.best));
	if (dw == NULL) {
		(void)snprintf(why, whylen, "the report part is empty");
		g_object_unref(m);
		return ERR_TLSRPT_NO_REPORT;
	}
	out = g_mime_stream_mem_new();
	(void)g_mime_data_wrapper_write_to_stream(dw, out);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
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
	g_object_unref(out);
	g_object_unref(m);
	return r;
}
