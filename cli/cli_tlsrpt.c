/*
 * cli/cli_tlsrpt.c - `mtastsd tlsrpt`: import a TLS report, or show what reports say
 *
 * Interface: cli_tlsrpt() (cli.h)
 * Usage:     mtastsd tlsrpt import [FILE|-]   a mail message (the report as an
 *                                             application/tlsrpt+gzip or +json part), a
 *                                             .json or a .json.gz; "-" or none: stdin
 *            mtastsd tlsrpt [DOMAIN] [--json] per domain, the last TLSRPT_CHART_DAYS days:
 *              example.com: N sessions from M organisations, K failures (type n, ...)
 * Exit:      import, for Postfix pipe(8) and aliases(5) (docs/tlsrpt.md): 0 stored, a
 *            duplicate, or about a domain not published here (dropped, said on stderr);
 *            EX_DATAERR (65) malformed (kept raw with the reason), over a size limit, or
 *            no report in the message: Postfix bounces; EX_TEMPFAIL (75) the state
 *            database is busy or unusable: Postfix retries later. Show: 0, or 1.
 * Threads:   main thread only; opens its own state database connection.
 * Errors:    one "mtastsd: tlsrpt: ..." line on stderr per failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "domain.h"
#include "err.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "tlsrpt_mail.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"
#include "xalloc.h"

/* Read at most max + 1 bytes of f into a new buffer (*ret_len bytes). 0, or -errno. */
static int
cli_tlsrpt_read(FILE *f, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 65536, used = 0, n;
	char *buf = xmalloc(cap + 1);

	for (;;) {
		if (used == cap) {
			if (cap > max)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + used, 1, cap - used, f);
		used += n;
		if (n == 0) {
			if (ferror(f)) {
				free(buf);
				return -EIO;
			}
			break;
		}
	}
	buf[used] = '\0';
	*ret = buf;
	*ret_len = used;
	return 0;
}

/* Run as root with process.user set: the state directory and an empty state database are
 * created as the daemon would have them (owned by process.user and its group), so that a
 * command run before the daemon's first start leaves nothing the daemon cannot write; as
 * root without process.user (the daemon runs as root), the directory. An error message
 * printed on failure. */
static int
cli_tlsrpt_own(const struct cli_args *a, const char *path)
{
	const struct cfg_process *p = &a->cfg->process;
	const char *key = "";
	uid_t uid;
	gid_t gid;
	int r;

	if (geteuid() != 0)
		return 0;
	if (p->user == NULL) {
		/* the daemon runs as root (process.allow_root): the directory as it makes it; a
		 * failure shows when the database is opened */
		(void)statedb_mkdir(p->state_directory, 0, 0);
		return 0;
	}
	r = cfg_process_ids(p, &uid, &gid, &key);
	if (r < 0) {
		cli_error(a,
		          "%s '%s' is unknown: refusing to create the state database as root "
		          "(the daemon could not write it)",
		          key, strcmp(key, "process.user") == 0 ? p->user : p->group);
		return r;
	}
	r = statedb_mkdir(p->state_directory, uid, gid);
	if (r == 0)
		r = statedb_create_owned(path, uid, gid);
	if (r < 0)
		cli_error(a, "%s: cannot create it for process.user '%s': %s", path, p->user,
		          strerror(-r));
	return r;
}

/* The state database of the configuration; an error message printed on failure. */
static int
cli_tlsrpt_open(const struct cli_args *a, struct statedb **ret)
{
	char path[4096], err[512];
	int r;

	if (a->cfg->process.state_directory == NULL || a->cfg->process.state_directory[0] == 0) {
		cli_error(a, "process.state_directory is not set: reports have nowhere to go");
		return ERR_STATEDB_IO;
	}
	(void)snprintf(path, sizeof(path), "%s/%s", a->cfg->process.state_directory,
	               STATEDB_FILE_NAME);
	r = cli_tlsrpt_own(a, path);
	if (r < 0)
		return ERR_STATEDB_IO;
	if (access(a->cfg->process.state_directory, F_OK) != 0 && errno == ENOENT) {
		cli_error(a,
		          "state directory %s does not exist: start the daemon once (it creates "
		          "it) or create it owned by process.user; Postfix retries meanwhile",
		          a->cfg->process.state_directory);
		return ERR_STATEDB_IO;
	}
	r = statedb_open(path, ret, err, sizeof(err));
	if (r < 0) {
		cli_error(a, "%s: %s: %s", path, err_str(r), err);
		return r;
	}
	/* a command of its own: wait a moment for the daemon's or another import's lock */
	statedb_busy_wait(*ret, TLSRPT_STORE_BUSY_MS);
	return 0;
}

static int
cli_tlsrpt_published(const char *domain, void *arg)
{
	const struct cfg *cfg = arg;

	for (size_t i = 0; i < cfg->publisher.n_domains; i++)
		if (strcmp(cfg->publisher.domains[i].domain, domain) == 0)
			return 1;
	return 0;
}

static int
cli_tlsrpt_import(const struct cli_args *a)
{
	const char *file = a->n_operands > 1 ? a->operands[1] : "-";
	const struct cfg_tlsrpt *c = &a->cfg->tlsrpt;
	struct tlsrpt_limits lim = {
	        .max_report = c->max_report,
	        .max_ratio = c->max_ratio,
	        .retention_s = (time_t)(c->retention_ms / 1000),
	        .max_stored_bytes = c->max_stored_bytes,
	};
	struct tlsrpt_input in = {.source = "mail", .now = time(NULL)};
	enum tlsrpt_outcome o = TLSRPT_DB_ERROR;
	char *msg = NULL, *part = NULL, why[512];
	struct statedb *db = NULL;
	size_t len, plen;
	FILE *f = stdin;
	int r;

	if (strcmp(file, "-") != 0) {
		f = fopen(file, "rb");
		if (f == NULL) {
			cli_error(a, "%s: %s", file, strerror(errno));
			return EX_NOINPUT;
		}
	}
	r = cli_tlsrpt_read(f, TLSRPT_MAIL_MAX, &msg, &len);
	if (f != stdin)
		(void)fclose(f);
	if (r < 0) {
		cli_error(a, "%s: %s", file, strerror(-r));
		return EX_IOERR;
	}
	if (len > TLSRPT_MAIL_MAX) {
		cli_error(a, "%s: over %d bytes, refused", file, TLSRPT_MAIL_MAX);
		free(msg);
		return EX_DATAERR;
	}
	switch (tlsrpt_input_kind(msg, len)) {
	case TLSRPT_INPUT_MAIL:
		r = tlsrpt_mail_extract(msg, len,
		                        c->max_body > c->max_report ? c->max_body : c->max_report,
		                        &part, &plen, why, sizeof(why));
		/* -ENOENT/-ENOSYS: GMime could not be loaded, not the file's fault: why says
		 * so (err_str would say "No such file or directory" of a file that is there),
		 * and 75, so that Postfix defers the report until the library is installed
		 * (69, EX_UNAVAILABLE, is a hard error to pipe(8): the report bounced) */
		if (r == -ENOENT || r == -ENOSYS) {
			cli_error(a, "%s: %s", file, why);
			free(msg);
			return EX_TEMPFAIL;
		}
		if (r < 0) {
			cli_error(a, "%s: %s: %s", file, err_str(r), why);
			free(msg);
			return EX_DATAERR;
		}
		in.data = part;
		in.len = plen;
		break;
	default:
		in.source = "file";
		in.data = msg;
		in.len = len;
		break;
	}
	r = cli_tlsrpt_open(a, &db);
	if (r == 0)
		r = tlsrpt_ingest(db, &in, &lim,
		                  a->cfg->publisher.n_domains > 0 ? cli_tlsrpt_published : NULL,
		                  (void *)a->cfg, &o, why, sizeof(why));
	else
		(void)snprintf(why, sizeof(why), "state database unusable");
	(void)statedb_close(db);
	free(msg);
	free(part);
	switch (o) {
	case TLSRPT_STORED:
	case TLSRPT_DUPLICATE:
		(void)fprintf(a->out, "%s: %s\n", tlsrpt_outcome_name(o), why);
		return CLI_EXIT_OK;
	case TLSRPT_UNPUBLISHED:
		cli_error(a, "not stored: %s", why);
		return CLI_EXIT_OK;
	case TLSRPT_CONFLICT:
		cli_error(a,
		          "not stored: %s is already stored with other content (the first one "
		          "stays)",
		          why);
		return CLI_EXIT_OK;
	case TLSRPT_MALFORMED:
		cli_error(a, "malformed report (kept raw in the state database): %s", why);
		return EX_DATAERR;
	case TLSRPT_TOO_LARGE:
		cli_error(a, "refused: %s", why);
		return EX_DATAERR;
	default:
		cli_error(a, "not stored, try again later: %s", why);
		return EX_TEMPFAIL;
	}
}

static int
cli_tlsrpt_show(const struct cli_args *a)
{
	char dom[DOMAIN_BUF], line[1024];
	struct tlsrpt_summary *s = NULL;
	struct statedb *db = NULL;
	const char *domain = NULL;
	size_t i;
	int r;

	if (a->n_operands > 0) {
		r = domain_normalize(a->operands[0], dom);
		if (r < 0) {
			cli_error(a, "'%s': %s", a->operands[0], err_str(r));
			return CLI_EXIT_FAIL;
		}
		domain = dom;
	}
	if (cli_tlsrpt_open(a, &db) < 0)
		return CLI_EXIT_FAIL;
	if (domain == NULL && a->cfg->publisher.n_domains > 0) {
		/* the published domains, each by its index, as the admin endpoint does */
		const char **doms = xcalloc(a->cfg->publisher.n_domains, sizeof(*doms));

		for (i = 0; i < a->cfg->publisher.n_domains; i++)
			doms[i] = a->cfg->publisher.domains[i].domain;
		r = tlsrpt_summary_load_domains(db, doms, a->cfg->publisher.n_domains, time(NULL),
		                                &s);
		free(doms);
	} else {
		r = tlsrpt_summary_load(db, domain, time(NULL), &s);
	}
	(void)statedb_close(db);
	if (r < 0) {
		cli_error(a, "reading the reports: %s", err_str(r));
		return CLI_EXIT_FAIL;
	}
	if (a->json) {
		cli_json_print(a, tlsrpt_summary_json(s));
	} else {
		if (s->n_domains == 0)
			(void)fprintf(a->out, "no TLS reports in the last %zu days\n", s->days);
		for (i = 0; i < s->n_domains; i++) {
			tlsrpt_summary_line(&s->domains[i], line, sizeof(line));
			(void)fprintf(a->out, "%s: %s (last %zu days)\n", s->domains[i].domain,
			              line, s->days);
		}
	}
	(void)tlsrpt_summary_free(s);
	return CLI_EXIT_OK;
}

int
cli_tlsrpt(const struct cli_args *a)
{
	if (a->n_operands > 0 && strcmp(a->operands[0], "import") == 0) {
		if (a->json) {
			cli_error(a, "import takes no --json");
			return CLI_EXIT_USAGE;
		}
		return cli_tlsrpt_import(a);
	}
	if (a->n_operands > 1) {
		cli_error(a, "one DOMAIN at most (or: import [FILE|-])");
		return CLI_EXIT_USAGE;
	}
	return cli_tlsrpt_show(a);
}
