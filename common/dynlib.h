/*
 * common/dynlib.h - a system library loaded when a verb first needs it (dlopen)
 *
 * Issue 21: GMime (with glib, gobject, gio...) for `tlsrpt import` of a mail, and libyaml
 * for `migrate`, cost every daemon 2.5 MiB of resident pages when linked (their
 * constructors and relocations run at load, used or not). The modules that need them
 * (tlsrpt/tlsrpt_mail.c, cli/migrate.c) load them through this on first use instead, by
 * soname, and call them through a table of function pointers; the daemon never does.
 *
 * Interface: dynlib_load(), struct dynlib_sym, DYNLIB_SYM
 * Threads:   none of its own; a caller loads a library from one thread at a time.
 * Ownership: a loaded library stays loaded for the life of the process (glib's type
 *            system cannot be unloaded): there is no dynlib_close().
 * Errors:    -ENOENT (the library cannot be loaded), -ENOSYS (a symbol is missing), with
 *            dlerror()'s text in why.
 */
#ifndef MTASTSD_DYNLIB_H
#define MTASTSD_DYNLIB_H

#include <stddef.h>

/* One symbol: its name and the function pointer variable to set (DYNLIB_SYM). */
struct dynlib_sym {
	const char *name;
	void *fnp; /* address of a function pointer */
};

/* {"g_mime_init", &api.g_mime_init}: the name of the symbol is the member's. */
#define DYNLIB_SYM(api, member)                                                                    \
	{                                                                                          \
#member, &(api).member                                                             \
	}

/* dlopen(soname) (RTLD_NOW | RTLD_LOCAL) and resolve the n symbols of syms in it and in
 * the libraries it depends on, setting each pointer. Returns 0, or -ENOENT / -ENOSYS
 * with a reason in why (pointers then unchanged, the library closed again). Loading a
 * library already loaded is cheap (dlopen's reference count). */
int dynlib_load(const char *soname, const struct dynlib_sym *syms, size_t n, char *why,
                size_t whylen);

#endif
