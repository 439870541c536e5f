/*
 * common/cfg_libconfig.c - the config loader's libconfig 1.5 workarounds
 *
 * Interface: cfg_libconfig_read() (cfg_int.h)
 * Design:    libconfig 1.5 (Debian 12) reads a file with a few dangerous habits, and reports
 *            some errors by line only. Before it parses, the pre-read below reads the file
 *            and its @includes and refuses what it would get wrong (see the comment there);
 *            after a failed parse, cfg_parse_error() makes its message specific (the setting
 *            named twice, the @include file that cannot be opened). Everything that knows
 *            about libconfig's scanner lives here, so a newer libconfig changes this file only.
 * Threads:   any; no global state.
 * Errors:    0, or -1 with "file:line: reason" (or "file: reason") in errbuf.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg_int.h"
#include "mtasts_limits.h"
#include "xalloc.h"

/* The text of a line quoted in an error message (bytes). */
#define CFG_LINE_SHOWN 120
/* @include checks: nesting depth libconfig 1.5 allows (scanner.l MAX_INCLUDE_DEPTH). The
 * bytes read, main file and includes together, are bounded by CFG_FILE_MAX. */
#define CFG_INCLUDE_DEPTH_MAX 10
/* An out-of-range integer quoted in an error message (bytes). */
#define CFG_NUMBER_SHOWN 40

/* ---- libconfig's own errors ---- */

/* Line lineno (from 1) of file without its line end, or NULL. Owned. */
static char *
cfg_file_line(const char *file, int lineno)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int i = 0;

	f = fopen(file, "re");
	if (f == NULL)
		return NULL;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (++i < lineno)
			continue;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		(void)fclose(f);
		return line;
	}
	free(line);
	(void)fclose(f);
	return NULL;
}

static int
cfg_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '*';
}

static int
cfg_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*';
}

/* The setting a "duplicate setting name" error is about: the settings ("name =" or
 * "name :") written on that line, outside strings and comments. A name written twice on the
 * line wins, else the only one. Returns the count of names found (0 = none), and the pick in
 * out (or "'a', 'b'" when the line sets several). */
static size_t
cfg_dup_name(const char *line, char *out, size_t outlen)
{
	const char *names[8];
	size_t lens[8], n = 0, i, j, len = 0;
	const char *p = line, *q;

	while (*p != '\0' && n < sizeof(names) / sizeof(names[0])) {
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
			continue;
		}
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			break;
		if (p[0] == '/' && p[1] == '*') {
			q = strstr(p + 2, "*/");
			if (q == NULL)
				break;
			p = q + 2;
			continue;
		}
		if (!cfg_name_start(*p) || (p > line && cfg_name_char(p[-1]))) {
			p++;
			continue;
		}
		for (q = p; cfg_name_char(*q); q++)
			;
		names[n] = p;
		lens[n] = (size_t)(q - p);
		p = q;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '=' || *q == ':')
			n++;
	}
	out[0] = '\0';
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (lens[i] == lens[j] && memcmp(names[i], names[j], lens[i]) == 0) {
				(void)snprintf(out, outlen, "'%.*s'", (int)lens[i], names[i]);
				return 1;
			}
	for (i = 0; i < n && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s'%.*s'", i ? ", " : "",
		                        (int)lens[i], names[i]);
	return n;
}

/* errbuf for a libconfig parse error: "file:line: reason", made specific where libconfig
 * gives only the line (a duplicate setting, a missing @include file). */
static void
cfg_parse_error(const config_t *conf, const char *path, const char *dir, char *errbuf,
                size_t errlen)
{
	const char *file = config_error_file(conf) != NULL ? config_error_file(conf) : path;
	const char *text = config_error_text(conf) != NULL ? config_error_text(conf) : "";
	int line = config_error_line(conf);
	char *src = NULL, names[256], *inc, *end, *incpath;

	if (strcmp(text, "duplicate setting name") == 0)
		src = cfg_file_line(file, line);
	if (src != NULL) {
		size_t n = cfg_dup_name(src, names, sizeof(names));

		if (n == 1)
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting %s (a key may be set once in "
			               "its group)",
			               file, line, names);
		else if (n > 1)
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting: one of %s is set twice in its "
			               "group",
			               file, line, names);
		else
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting (syntax error): '%.*s'", file,
			               line, CFG_LINE_SHOWN, src);
		free(src);
		return;
	}
	if (strcmp(text, "cannot open include file") == 0)
		src = cfg_file_line(file, line);
	inc = src != NULL ? strstr(src, "@include") : NULL;
	if (inc != NULL && (inc = strchr(inc, '"')) != NULL &&
	    (end = strchr(inc + 1, '"')) != NULL) {
		*end = '\0';
		inc++;
		incpath =
		        inc[0] == '/' || dir == NULL ? xstrdup(inc) : xasprintf("%s/%s", dir, inc);
		errno = 0;
		if (access(incpath, R_OK) < 0)
			(void)snprintf(errbuf, errlen, "%s:%d: cannot open include file '%s': %s",
			               file, line, incpath, strerror(errno));
		else
			(void)snprintf(errbuf, errlen, "%s:%d: cannot open include file '%s'", file,
			               line, incpath);
		free(incpath);
		free(src);
		return;
	}
	free(src);
	(void)snprintf(errbuf, errlen, "%s:%d: %s", file, line, text);
}

/* ---- the pre-read: what libconfig 1.5 would get wrong, checked on the text first ---- */

/*
 * cfg_load() reads the file, and every file it @includes, before libconfig does, and
 * refuses what libconfig 1.5 handles badly:
 *  - anything but a regular file, and more than CFG_FILE_MAX bytes in all: libconfig reads
 *    /dev/zero or a FIFO forever;
 *  - an @include of something that is not a readable regular file: libconfig 1.5 calls
 *    exit(2) from its scanner (a directory, for one), which would end the daemon on SIGHUP;
 *  - an integer literal its type cannot hold: libconfig 1.5 converts one without an L suffix
 *    with atoi() or strtoul() into an int (scanner.l), so 4294967297 reads as 1 and
 *    99999999999 as 1215752191, and one with an L suffix with atoll() (saturating) or
 *    strtoull() (wrapping).
 *  - a string, block comment or @include path that is never closed: libconfig 1.5 ends
 *    the input there without an error, so the rest of the file would be silently dropped.
 *    An @include path must also end on its line (libconfig would read on to the next '"'
 *    and try to include "name\nmore text").
 * The scanner below follows libconfig 1.5's (lib/scanner.l) where it matters: comments
 * (# and // to the line end, non-nesting block comments), strings (backslash escapes, may
 * span lines), "@include" at the start of a line, names ([A-Za-z*][-A-Za-z0-9_*]*, so the
 * digits in "a-1" are not a number) and the longest match among its float, integer and
 * hex rules ("1e10" and "1.5" are floats). It checks tokens only: syntax is libconfig's.
 */

struct cfg_pre {
	const char *dir; /* libconfig's include directory */
	size_t total;    /* bytes read so far: the main file and every included file */
	char *errbuf;
	size_t errlen;
};

static int cfg_pre_file(struct cfg_pre *pre, const char *file, const char *from, unsigned from_line,
                        int depth);

static int
cfg_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
cfg_is_xdigit(char c)
{
	return cfg_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *
cfg_skip_digits(const char *p, const char *end)
{
	while (p < end && cfg_is_digit(*p))
		p++;
	return p;
}

/* An exponent ([eE][-+]?[0-9]+) at p: its end, or p when there is none. */
static const char *
cfg_skip_exponent(const char *p, const char *end)
{
	const char *q = p;

	if (q >= end || (*q != 'e' && *q != 'E'))
		return p;
	q++;
	if (q < end && (*q == '+' || *q == '-'))
		q++;
	if (q >= end || !cfg_is_digit(*q))
		return p;
	return cfg_skip_digits(q, end);
}

/* 1 when the digits [p, end) in base 10 or 16 exceed limit. */
static int
cfg_digits_exceed(const char *p, const char *end, unsigned base, unsigned long long limit)
{
	unsigned long long v = 0;

	for (; p < end; p++) {
		unsigned d = cfg_is_digit(*p) ? (unsigned)(*p - '0')
		                              : (unsigned)((*p | 0x20) - 'a') + 10;

		if (v > (limit - d) / base)
			return 1;
		v = v * base + d;
	}
	return 0;
}

/* The number token at p (p is a digit, '.', or a sign before a digit or '.'), as
 * libconfig 1.5 scans it. Returns its length; *ret_why is set when it is an integer that
 * libconfig cannot hold (NULL otherwise). */
static size_t
cfg_pre_number(const char *p, const char *end, const char **ret_why)
{
	const char *q = p, *digits, *dend, *f, *r;
	size_t len_int = 0, len_float = 0;
	unsigned long long limit;
	int neg = 0, l64 = 0, hex = 0;

	*ret_why = NULL;
	if (*q == '+' || *q == '-') {
		neg = *q == '-';
		q++;
	}
	if (q == p && end - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X') &&
	    cfg_is_xdigit(q[2])) {
		/* {hex} / {hex64}: no sign; nothing longer can match here */
		hex = 1;
		digits = q + 2;
		for (dend = digits; dend < end && cfg_is_xdigit(*dend);)
			dend++;
	} else {
		digits = q;
		dend = cfg_skip_digits(q, end);
		/* {float}: digits, '.', digits, exponent; or digits and an exponent */
		if (dend < end && *dend == '.')
			f = cfg_skip_exponent(cfg_skip_digits(dend + 1, end), end);
		else
			f = dend > digits ? cfg_skip_exponent(dend, end) : dend;
		if (f != dend)
			len_float = (size_t)(f - p);
		if (dend == digits)
			return len_float > 0 ? len_float : 1;
	}
	r = dend;
	if (r < end && *r == 'L') {
		/* {integer64} / {hex64} */
		l64 = 1;
		r++;
		if (r < end && *r == 'L')
			r++;
	}
	len_int = (size_t)(r - p);
	if (len_float > len_int)
		return len_float;
	if (hex)
		limit = l64 ? (unsigned long long)LLONG_MAX : (unsigned long long)INT_MAX;
	else if (l64)
		limit = (unsigned long long)LLONG_MAX + (neg ? 1 : 0);
	else
		limit = (unsigned long long)INT_MAX + (neg ? 1 : 0);
	if (cfg_digits_exceed(digits, dend, hex ? 16 : 10, limit)) {
		if (l64)
			*ret_why = neg ? "below minimum -9223372036854775808: libconfig reads an "
			                 "integer with an L suffix as 64 bits and cannot hold it"
			               : "above maximum 9223372036854775807: libconfig reads an "
			                 "integer with an L suffix as 64 bits and cannot hold it";
		else
			*ret_why = neg ? "below minimum -2147483648: libconfig reads an integer "
			                 "without an L suffix as 32 bits and would wrap it"
			               : "above maximum 2147483647: libconfig reads an integer "
			                 "without an L suffix as 32 bits and would wrap it";
	}
	return len_int;
}

static int
cfg_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || cfg_is_digit(c) || c == '-' ||
	       c == '_' || c == '*';
}

/* An @include line starting at p (libconfig: ^[ \t]*@include[ \t]+\"): the opening quote of
 * its path, or NULL. */
static const char *
cfg_pre_include_at(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((size_t)(end - q) < 9 || memcmp(q, "@include", 8) != 0)
		return NULL;
	q += 8;
	if (*q != ' ' && *q != '\t')
		return NULL;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	return q < end && *q == '"' ? q : NULL;
}

/* The @include whose path is [path, path + n), on line lineno of file. */
static int
cfg_pre_include(struct cfg_pre *pre, const char *file, unsigned lineno, const char *path, size_t n,
                int depth)
{
	char target[PATH_MAX];
	int r;

	/* Check the file libconfig 1.5 will open: it puts the include directory in front of
	 * every path, absolute ones too ("/etc/x.conf" opens "<dir>//etc/x.conf"), and
	 * unescapes backslashes its own way (a lone one is dropped). A path that would name
	 * one file here and another there could get past this check to the exit(2) on a
	 * directory, so both are refused. */
	if (n > 0 && path[0] == '/') {
		(void)snprintf(
		        pre->errbuf, pre->errlen,
		        "%s:%u: @include: absolute path: libconfig reads it inside %s; write "
		        "it relative to that directory",
		        file, lineno, pre->dir);
		return -1;
	}
	if (memchr(path, '\\', n) != NULL) {
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: backslash in the path (not supported)", file,
		               lineno);
		return -1;
	}
	r = snprintf(target, sizeof(target), "%s/%.*s", pre->dir, (int)n, path);
	if (r < 0 || (size_t)r >= sizeof(target)) {
		(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: @include: path too long", file,
		               lineno);
		return -1;
	}
	if (depth >= CFG_INCLUDE_DEPTH_MAX) {
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: nested more than %d deep", file, lineno,
		               CFG_INCLUDE_DEPTH_MAX);
		return -1;
	}
	return cfg_pre_file(pre, target, file, lineno, depth + 1);
}

/* Scan the text of file (len bytes at buf, NUL-terminated) for @include lines, integers
 * libconfig cannot hold, and strings and comments never closed (named at the line where
 * they start). Returns 0, or -1 with "file:line: reason" in errbuf. */
static int
cfg_pre_scan(struct cfg_pre *pre, const char *file, const char *buf, size_t len, int depth)
{
	const char *p = buf, *end = buf + len, *q, *why;
	unsigned lineno = 1, start = 0;
	size_t n;

	while (p < end) {
		if (p == buf || p[-1] == '\n') {
			q = cfg_pre_include_at(p, end);
			if (q != NULL) {
				/* the path (libconfig: \\ and \" escapes) must end on its line */
				for (p = q + 1; p < end && *p != '"' && *p != '\n'; p++)
					if (*p == '\\' && p + 1 < end && p[1] != '\n')
						p++;
				if (p == end || *p != '"') {
					(void)snprintf(pre->errbuf, pre->errlen,
					               "%s:%u: @include: unterminated string", file,
					               lineno);
					return -1;
				}
				if (cfg_pre_include(pre, file, lineno, q + 1, (size_t)(p - q - 1),
				                    depth) < 0)
					return -1;
				p++;
				continue;
			}
		}
		if (*p == '\n') {
			lineno++;
			p++;
		} else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			start = lineno;
			for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
				if (*p == '\n')
					lineno++;
			if (p == end) {
				(void)snprintf(pre->errbuf, pre->errlen,
				               "%s:%u: unterminated /* comment (it starts here)",
				               file, start);
				return -1;
			}
			p += 2;
		} else if (*p == '"') {
			start = lineno;
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (*p == '\n')
					lineno++;
			}
			if (p == end) {
				(void)snprintf(pre->errbuf, pre->errlen,
				               "%s:%u: unterminated string", file, start);
				return -1;
			}
			p++;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '*') {
			while (p < end && cfg_is_name_char(*p))
				p++;
		} else if (cfg_is_digit(*p) || *p == '.' ||
		           ((*p == '+' || *p == '-') && p + 1 < end &&
		            (cfg_is_digit(p[1]) || p[1] == '.'))) {
			n = cfg_pre_number(p, end, &why);
			if (why != NULL) {
				(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: integer %.*s%s %s",
				               file, lineno,
				               (int)(n > CFG_NUMBER_SHOWN ? CFG_NUMBER_SHOWN : n),
				               p, n > CFG_NUMBER_SHOWN ? "..." : "", why);
				return -1;
			}
			p += n;
		} else {
			p++;
		}
	}
	return 0;
}

static const char *
cfg_file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a file";
}

/* Read file, a regular file of at most CFG_FILE_MAX - pre->total bytes, whole, and scan it.
 * from and from_line name the @include line that names it (from NULL: the main file).
 * Returns 0, or -1 with errbuf set. The main file's absence or unreadability is left to
 * config_read_file() (0), which reports it. */
static int
cfg_pre_file(struct cfg_pre *pre, const char *file, const char *from, unsigned from_line, int depth)
{
	size_t room = CFG_FILE_MAX - pre->total, len = 0, cap = 0;
	struct stat st;
	char *buf = NULL;
	int fd, r, e = 0;

	if (stat(file, &st) < 0) {
		if (from == NULL)
			return 0;
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: cannot open include file '%s': %s", from,
		               from_line, file, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		goto notreg;
	if ((unsigned long long)st.st_size > room)
		goto toolarge;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (from == NULL)
			return 0;
		(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: @include: cannot read '%s': %s",
		               from, from_line, file, strerror(errno));
		return -1;
	}
	/* It may have changed since stat(); and a regular file in /proc says size 0. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		goto notreg;
	}
	for (;;) {
		ssize_t got;

		if (len == cap) {
			if (cap > room) {
				(void)close(fd);
				free(buf);
				goto toolarge;
			}
			cap = cap == 0 ? (size_t)st.st_size + 1 : 2 * cap;
			if (cap < 4096)
				cap = 4096;
			if (cap > room + 1)
				cap = room + 1;
			buf = xrealloc(buf, cap + 1);
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			e = got < 0 ? errno : 0;
			break;
		}
		len += (size_t)got;
	}
	(void)close(fd);
	if (e != 0) {
		free(buf);
		if (from == NULL)
			(void)snprintf(pre->errbuf, pre->errlen, "%s: cannot read: %s", file,
			               strerror(e));
		else
			(void)snprintf(pre->errbuf, pre->errlen,
			               "%s:%u: @include: cannot read '%s': %s", from, from_line,
			               file, strerror(e));
		return -1;
	}
	if (len > room) {
		free(buf);
		goto toolarge;
	}
	buf[len] = '\0';
	pre->total += len;
	r = cfg_pre_scan(pre, file, buf, len, depth);
	free(buf);
	return r;
notreg:
	if (from == NULL)
		(void)snprintf(pre->errbuf, pre->errlen, "%s: cannot read: not a regular file (%s)",
		               file, cfg_file_type(st.st_mode));
	else
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: '%s' is not a regular file", from, from_line,
		               file);
	return -1;
toolarge:
	if (from == NULL)
		(void)snprintf(pre->errbuf, pre->errlen, "%s: too large (more than %d bytes)", file,
		               CFG_FILE_MAX);
	else
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: '%s' makes the configuration too large (more than "
		               "%d bytes with its included files)",
		               from, from_line, file, CFG_FILE_MAX);
	return -1;
}

int
cfg_libconfig_read(config_t *conf, const char *path, const char *dir, char *errbuf, size_t errlen)
{
	struct cfg_pre pre = {.dir = dir, .errbuf = errbuf, .errlen = errlen};

	config_set_include_dir(conf, dir);
	if (cfg_pre_file(&pre, path, NULL, 0, 0) < 0)
		return -1;
	errno = 0;
	if (config_read_file(conf, path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(conf) == CONFIG_ERR_FILE_IO)
		(void)snprintf(errbuf, errlen, "%s: cannot read: %s", path,
		               strerror(errno != 0 ? errno : EIO));
	else
		cfg_parse_error(conf, path, dir, errbuf, errlen);
	return -1;
}
