/*
 * common/curl_global.h - libcurl's process-wide initialisation, without libssh2's OpenSSL
 *
 * Issue 21 (idle memory): curl_global_init() calls libssh2_init(0) (libcurl-gnutls 7.88 on
 * Debian 12 links libssh2 for scp:// and sftp://, which mtastsd never uses: every transfer is
 * CURLOPT_PROTOCOLS_STR "https"), and libssh2 then initialises OpenSSL's libcrypto, which
 * faults in ~1.4 MiB of its pages in every process (bench/rss_idle.sh). libssh2_init() does
 * its crypto set-up only on its first call and only without LIBSSH2_INIT_NO_CRYPTO, so a
 * first call with that flag, made here before curl's, leaves OpenSSL alone. libssh2 is not
 * linked by us: the symbol is looked up among the libraries already loaded (libcurl's
 * dependency); a libcurl built without libssh2 has none, and nothing is done.
 *
 * Interface: curl_global_once()
 * Threads:   call from the main thread before any other thread uses libcurl (as
 *            curl_global_init(3) requires); later calls do nothing.
 * Errors:    -ENOMEM when curl_global_init() fails.
 */
#ifndef MTASTSD_CURL_GLOBAL_H
#define MTASTSD_CURL_GLOBAL_H

/* curl_global_init(CURL_GLOBAL_DEFAULT) once per process, after libssh2_init(
 * LIBSSH2_INIT_NO_CRYPTO) when libssh2 is loaded. Returns 0 or -ENOMEM. */
int curl_global_once(void);

#endif
