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
#include "co.h"

enum { EXIT_OK = 0, EXIT_CHECKS = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

typedef struct cli_ctx {
	bool json;      /* --json: machine-readable output on stdout */
	bool progress;  /* stderr is a terminal */
} cli_ctx;

/* Map a library error to an exit code and print it on stderr. */
int cli_fail(const cutover_error *err);
/* Print "usage: ..." style text for a usage error and return EXIT_USAGE. */
int cli_usage(const char *fmt, ...) CO_PRINTF(1, 2);
/* True when arg is --help or -h. */
bool cli_is_help(const char *arg);

int cmd_migrate(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);

#endif
