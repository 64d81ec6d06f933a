/* main.c — `cutover`, the operator program: global options and dispatch.
 *
 * usage: cutover [--json] COMMAND [ARGS]   (cutover COMMAND --help for each)
 * Global options may also follow the command. Commands live one per file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct command {
	const char *name;
	int (*run)(cli_ctx *, int, char **);
	const char *summary;
} commands[] = {
	{"migrate", cmd_migrate, "apply the numbered SQL migrations; `migrate status` lists them"},
	{"survey", cmd_survey, "read-only: counts, duplicates, orphans, unmappable records per legacy file"},
	{"backfill", cmd_backfill, "copy legacy JSON state into the tables (dry run; --apply writes)"},
	{"verify", cmd_verify, "counts, field-level fidelity, orphans, sequences, RLS: one line per check"},
	{"status", cmd_status, "each domain's stage, row counts, unreconciled keys, sequence health"},
	{"reconcile", cmd_reconcile, "repair the keys failed second writes journaled (dry run; --apply writes)"},
	{"export", cmd_export, "write Postgres state back as legacy JSON, the rollback path (dry run; --apply writes)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cutover [--json] COMMAND [ARGS]\n\n"
		   "Moves a product's state off JSON documents and onto Postgres, one domain at a time.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\noptions:\n"
		   "  --json     machine-readable output on stdout\n"
		   "  --help     this text; `cutover COMMAND --help` for a command\n\n"
		   "configuration (environment):\n"
		   "  IDENTITY_STORE, PROFILE_STORE, REPORTS_STORE, TELEMETRY_STORE  stage of each domain (json)\n"
		   "  CUTOVER_FLAG_PREFIX   prefix before those four flags\n"
		   "  CUTOVER_JSON_ROOT     legacy state root: directory or http(s):// URL (./cutover-state)\n"
		   "  CUTOVER_JSON_TOKEN    bearer token for an HTTP state root\n"
		   "  DATABASE_URL or PG*   the Postgres to use (libpq defaults)\n\n"
		   "exit codes: 0 ok, 1 checks failed or records rejected, 2 usage or configuration, 3 runtime failure\n");
}

bool cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("cutover: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

int cli_fail(const cutover_error *err)
{
	fputs("cutover: ", stderr);
	cutover_error_fprint(stderr, err);
	switch (err->code) {
	case CUTOVER_OK:
		return EXIT_OK;
	case CUTOVER_ECONFIG:
	case CUTOVER_EINVALID:
		return EXIT_USAGE;
	case CUTOVER_ESTATE:
	case CUTOVER_ECONFLICT:
	case CUTOVER_ENOTFOUND:
		return EXIT_CHECKS;
	default:
		return EXIT_RUNTIME;
	}
}

int cli_domain_take(const char *cmd, const char **domain, const char *a)
{
	if (*domain)
		return cli_usage("%s: one domain at a time (or all); got \"%s\" and \"%s\"", cmd, *domain, a);
	*domain = a;
	return EXIT_OK;
}

int cli_domain_check(const char *cmd, const char *domain, bool *all)
{
	if (!domain)
		return cli_usage("%s: which domain? identity, profile, reports, telemetry or all (see cutover %s --help)",
				 cmd, cmd);
	bool known = *all = strcmp(domain, "all") == 0;
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		known |= strcmp(domain, cutover_domain_name((cutover_domain)d)) == 0;
	if (!known)
		return cli_usage("%s: unknown domain \"%s\"; domains: identity, profile, reports, telemetry, all", cmd,
				 domain);
	return EXIT_OK;
}

void cli_json_print(cJSON *doc)
{
	char *text = cJSON_Print(doc);
	puts(text);
	cJSON_free(text);
	cJSON_Delete(doc);
}

int main(int argc, char **argv)
{
	cli_ctx ctx = {.progress = isatty(STDERR_FILENO) == 1};
	/* Pull the global options out wherever they stand; keep the rest in order. */
	int n = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx.json = true;
		else
			argv[++n] = argv[i];
	}
	argc = n + 1;
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(&ctx, argc - 1, argv + 1);
	cli_usage("unknown command \"%s\"", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
