/*
 * common/curlm.h - one libcurl multi handle driven by the event loop
 *
 * Interface: curlm_new(), curlm_free(), curlm_add(), curlm_remove()
 * Design:    curl's multi socket API (ephiperfifo.c): CURLMOPT_SOCKETFUNCTION maps to
 *            loop_io_add/mod/del, CURLMOPT_TIMERFUNCTION arms one loop timer. The daemon
 *            makes one and hands it to the resolver's policy fetches (resolver/https_fetch.c)
 *            and the ACME client (acme/), so both share one connection cache and one set
 *            of loop watches (docs/architecture.md "Event loop").
 * Threads:   main loop only.
 * Ownership: the caller owns its easy handles; curlm only drives them while added.
 * Errors:    0, -ENOMEM or -EIO (curl refused the handle).
 */
#ifndef MTASTSD_CURLM_H
#define MTASTSD_CURLM_H

#include <curl/curl.h>

#include "loop.h"

struct curlm;

/* A transfer added with curlm_add() finished (result is curl's code: CURLE_OK or the
 * transport error). Called exactly once per curlm_add() that returned 0 and was not
 * curlm_remove()d, from a loop io or timer callback, never from inside a curl call; the
 * handle is already removed from the multi, so the callback may free it, add it again or
 * add others. */
typedef void curlm_done_fn(CURL *easy, CURLcode result, void *arg);

/* A multi handle on loop (curl_global_once() on the first call). Returns 0 and *ret_m, or
 * -ENOMEM. */
int curlm_new(struct loop *loop, struct curlm **ret_m);
/* Closes the cached connections and frees m; every handle must have completed or been
 * removed. NULL is a no-op. Returns NULL. */
struct curlm *curlm_free(struct curlm *m);
/* Start easy (CURLOPT_PRIVATE belongs to curlm: do not set it). done(easy, result, arg)
 * runs once when it ends. Returns 0, or -EIO when curl refuses the handle (done is not
 * called then). */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done, void *arg);
/* Stop easy without its callback (cancel). No-op when it is not added. */
void curlm_remove(struct curlm *m, CURL *easy);
/* Transfers added and not yet finished or removed. */
unsigned curlm_running(const struct curlm *m);

#endif
