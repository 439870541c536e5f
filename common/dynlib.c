/*
 * common/dynlib.c - a system library loaded when a verb first needs it (dlopen)
 *
 * Interface: see dynlib.h
 * Threads:   none of its own.    Ownership: loaded libraries stay loaded.
 * Errors:    -ENOENT, -ENOSYS with dlerror()'s text; never logs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"

int
dynlib_load(const char *soname, const struct dynlib_sym *syms, size_t n, char *why, size_t whylen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL), *p;
	const char *e;
	size_t i;

	if (h == NULL) {
		e = dlerror();
		(void)snprintf(why, whylen, "cannot load %s: %s", soname, e != NULL ? e : "?");
		return -ENOENT;
	}
	for (i = 0; i < n; i++) {
		(void)dlerror();
		p = dlsym(h, syms[i].name);
		if (p == NULL) {
			e = dlerror();
			(void)snprintf(why, whylen, "%s: no symbol %s: %s", soname, syms[i].name,
			               e != NULL ? e : "NULL");
			(void)dlclose(h);
			return -ENOSYS;
		}
	}
	/* Every symbol is there: now set the pointers (POSIX: a function pointer has the
	 * representation of a void *). */
	for (i = 0; i < n; i++) {
		p = dlsym(h, syms[i].name);
		memcpy(syms[i].fnp, &p, sizeof(p));
	}
	return 0;
}
