/* cli.h — what the operator program's commands share.
 *
 * Each command is one file (cmd_*.c) with one entry point taking its own
 * argv (argv[0] is the command name). Exit codes follow the contract:
 * 0 success, 1 checks failed or records rejected, 2 usage or configuration,
 * 3 runtime failure (connection lost, storage unreachable).
 */
#ifndef CUTOVER_CLI_H
#define CUTOVER_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "co.h"

enum { EXIT_OK = 0, EXIT_CHECKS = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

typedef struct cli_ctx {
	bool json;      /* --json: machine-readable output on stdout */
	bool progress;  /* stderr is a terminal */
} cli_ctx;

/* Options shared by survey, backfill and verify. */
typedef struct op_opts {
	bool apply;                 /* backfill: write (default: dry run) */
	const char *rejects_dir;    /* where rejected records go (NULL: not written) */
	size_t batch;               /* rows per transaction */
	const char *only_users;     /* rehearsal: comma-separated user ids */
	bool repair_sequences;      /* backfill: run the setval statements */
	bool no_wait;               /* refuse instead of waiting for a concurrent run */
	int max_print;              /* how many reject / mismatch lines to print */
	const cutover_settings *st; /* resolved configuration */
	/* `backfill all` dry run: one connection for every domain, so a later
	 * domain's classification sees what earlier ones would insert */
	struct co_pg *shared_pg;
} op_opts;

/* Progress on stderr (only when it is a terminal). */
void cli_progress(const cli_ctx *ctx, const char *fmt, ...) CO_PRINTF(2, 3);
void cli_progress_done(const cli_ctx *ctx);

/* Map a library error to an exit code and print it on stderr. */
int cli_fail(const cutover_error *err);
/* Print "usage: ..." style text for a usage error and return EXIT_USAGE. */
int cli_usage(const char *fmt, ...) CO_PRINTF(1, 2);
/* True when arg is --help or -h. */
bool cli_is_help(const char *arg);
/* A command's DOMAIN|all argument. cli_domain_take keeps the positional a
 * in *domain (EXIT_OK), or is a usage error when a domain was given already;
 * cli_domain_check, after the options, is a usage error unless domain names
 * a domain or all (*all says which). cmd: the command's name. */
int cli_domain_take(const char *cmd, const char **domain, const char *a);
int cli_domain_check(const char *cmd, const char *domain, bool *all);
/* Print a --json document on stdout and free it. */
void cli_json_print(cJSON *doc);

int cmd_migrate(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_survey(cli_ctx *ctx, int argc, char **argv);
int cmd_backfill(cli_ctx *ctx, int argc, char **argv);
int cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_reconcile(cli_ctx *ctx, int argc, char **argv);

#endif
