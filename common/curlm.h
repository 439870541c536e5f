/*
 * common/curlm.h - one libcurl multi handle driven by an event loop
 *
 * Interface: curlm_new(), curlm_new_threaded(), curlm_free(), curlm_add(), curlm_remove(),
 *            curlm_running()
 * Design:    curl's multi socket API (ephiperfifo.c): CURLMOPT_SOCKETFUNCTION maps to
 *            loop_io_add/mod/del, CURLMOPT_TIMERFUNCTION arms one loop timer. curlm_new()
 *            drives the multi on the caller's loop (the ACME client, the commands);
 *            curlm_new_threaded() on worker threads, each with a loop and a multi of its
 *            own, so that the TLS work of the transfers (handshakes, certificate checks)
 *            uses every core: the daemon's resolver fetches (resolver/https_fetch.c,
 *            docs/architecture.md "Event loop"). Both report finished transfers on the
 *            caller's loop.
 * Threads:   every function, and every done callback, on the caller's (main) loop thread.
 *            With curlm_new_threaded() the easy handle's own libcurl callbacks (header,
 *            write, CURLOPT_PREREQFUNCTION...) run on a worker thread between curlm_add()
 *            and the done callback or curlm_remove(): they may touch only per-transfer state,
 *            and shared state under a lock (transfers run on several workers at once).
 * Ownership: the caller owns its easy handles; curlm only drives them while added, and the
 *            caller must not touch an added handle (setopt, getinfo) until it is done or
 *            removed.
 * Errors:    0, -ENOMEM or -EIO (curl refused the handle), -errno (thread, eventfd).
 */
#ifndef MTASTSD_CURLM_H
#define MTASTSD_CURLM_H

#include <curl/curl.h>

#include "loop.h"

struct curlm;

/* A transfer added with curlm_add() finished (result is curl's code: CURLE_OK or the
 * transport error; CURLE_FAILED_INIT when a threaded multi's worker could not add it).
 * Called exactly once per curlm_add() that returned 0 and was not curlm_remove()d, on the
 * caller's loop from a loop io or timer callback, never from inside a curl call; the handle
 * is already removed from the multi, so the callback may free it, add it again, add others
 * or remove others (it must not free the multi). */
typedef void curlm_done_fn(CURL *easy, CURLcode result, void *arg);

/* A multi handle on loop (curl_global_once() on the first call). Returns 0 and *ret_m, or
 * -ENOMEM. */
int curlm_new(struct loop *loop, struct curlm **ret_m);
/* A multi handle whose transfers run on n_threads worker threads (0: curlm_threads_default();
 * at most CURLM_THREADS_MAX), each with a loop and a libcurl multi of its own; a transfer
 * goes to the worker with the fewest. Done callbacks still run on loop, the caller's.
 * curl_global_init() runs here, on the calling thread, before any worker starts. The
 * workers block every signal. Returns 0 and *ret_m, -ENOMEM, or -errno (eventfd,
 * pthread_create). */
int curlm_new_threaded(struct loop *loop, unsigned n_threads, struct curlm **ret_m);
/* Worker threads curlm_new_threaded() starts for 0: the online CPUs, 1..CURLM_THREADS_MAX. */
unsigned curlm_threads_default(void);
/* Removes what is still added (no done callback), closes the cached connections, stops and
 * joins the worker thread of a threaded multi, and frees m. Not from inside a done
 * callback of m. NULL is a no-op. Returns NULL. */
struct curlm *curlm_free(struct curlm *m);
/* Start easy (CURLOPT_PRIVATE belongs to curlm: do not set it). done(easy, result, arg)
 * runs once when it ends. Returns 0, or -EIO when curl refuses the handle (done is not
 * called then; a threaded multi reports a refusal through done, CURLE_FAILED_INIT). */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done, void *arg);
/* Stop easy without its callback (cancel). When it returns, no libcurl callback of easy
 * runs any more and done is never called for it, even when the transfer had already ended
 * on the worker (a threaded multi waits for its worker to drop the handle: at most one
 * socket action, never a network wait). No-op when it is not added. */
void curlm_remove(struct curlm *m, CURL *easy);
/* Transfers added and not yet reported or removed. */
unsigned curlm_running(const struct curlm *m);

#endif
