/*
 * common/xalloc.h - allocation that never returns NULL (die() on OOM, Postfix mymalloc)
 *
 * Interface: xmalloc(), xcalloc(), xrealloc(), xstrdup(), xstrndup(), xasprintf()
 * Ownership: every result is owned by the caller and released with free().
 */
#ifndef MTASTSD_XALLOC_H
#define MTASTSD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
