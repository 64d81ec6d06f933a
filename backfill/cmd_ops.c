/* cmd_ops.c — `cutover survey|backfill|verify DOMAIN|all`.
 *
 * The three commands share their options, their configuration and their
 * dispatch: a table maps each domain to its survey, backfill and verify.
 * `all` runs the domains in dependency order. Output is text, or one JSON
 * document on stdout with --json.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "pg.h"
#include "profile.h"
#include "reports.h"
#include "telemetry.h"

typedef int (*op_fn)(cli_ctx *, const op_opts *, cJSON *);

static const struct domain_ops {
	cutover_domain domain;
	op_fn survey, backfill, verify;
	bool rehearsal; /* takes --users (a subset of users and what hangs off them) */
} domains[] = {
	/* dependency order: later domains may reference earlier ones */
	{CUTOVER_DOMAIN_IDENTITY, identity_survey, identity_backfill, identity_verify, true},
	{CUTOVER_DOMAIN_TELEMETRY, telemetry_survey, telemetry_backfill, telemetry_verify, false},
	{CUTOVER_DOMAIN_PROFILE, profile_survey, profile_backfill, profile_verify, true},
	{CUTOVER_DOMAIN_REPORTS, reports_survey, reports_backfill, reports_verify, false},
};

enum { OPT_APPLY = 1, OPT_REJECTS = 2, OPT_BATCH = 4, OPT_USERS = 8, OPT_REPAIR = 16, OPT_NOWAIT = 32 };

static const struct command_def {
	const char *name;
	unsigned opts;
	const char *usage;
} defs[] = {
	{"survey", 0,
	 "usage: cutover survey DOMAIN|all [--json]\n\n"
	 "Read-only. Per legacy file: record counts, records that cannot be mapped (and why),\n"
	 "duplicate keys (ids, email keys, oauth links, token hashes, profiles of one user),\n"
	 "references to missing records (sessions and profiles without their user, reports\n"
	 "without their author or incident, events without their incident), expired sessions,\n"
	 "event files whose name is not a date. `all` covers identity, telemetry, profile and\n"
	 "reports. Exit 1 when anything is unmappable.\n"},
	{"backfill", OPT_APPLY | OPT_REJECTS | OPT_BATCH | OPT_USERS | OPT_REPAIR | OPT_NOWAIT,
	 "usage: cutover backfill DOMAIN|all [--apply] [--rejects DIR] [--batch N] [--users ID,ID...]\n"
	 "                        [--repair-sequences] [--no-wait] [--json]\n\n"
	 "Copies the legacy JSON state into the tables (`all`: identity, telemetry, profile,\n"
	 "reports, in that order, since later domains reference earlier ones). Without\n"
	 "--apply: a dry run that says per table how many rows it would insert, how many\n"
	 "are already present and equal, how many differ, how many it would reject, and\n"
	 "writes nothing.\n\n"
	 "  --apply             write, in transactional batches; additive (never deletes or\n"
	 "                      changes a row, never touches the legacy documents),\n"
	 "                      idempotent (a re-run writes nothing) and resumable\n"
	 "  --rejects DIR       keep rejected records byte for byte under DIR, framed like the\n"
	 "                      source (fix them there and re-run with CUTOVER_JSON_ROOT=DIR),\n"
	 "                      with DIR/<domain>/reasons.ndjson (default with --apply:\n"
	 "                      ./cutover-rejects)\n"
	 "  --batch N           rows per transaction (default 5000)\n"
	 "  --users ID,ID...    rehearsal (identity, profile): only these users and what\n"
	 "                      hangs off them (sessions, profiles)\n"
	 "  --repair-sequences  after --apply, run the printed setval statements\n"
	 "  --no-wait           refuse instead of waiting when another backfill is running\n\n"
	 "Exit 1 when anything was rejected.\n"},
	{"verify", 0,
	 "usage: cutover verify DOMAIN|all [--json]\n\n"
	 "One check per line: counts per table (legacy records minus unmappable ones equal the\n"
	 "rows postgres holds for them), field-level fidelity (every legacy record equals its\n"
	 "rows after normalisation, list order included; differing fields are named, secrets\n"
	 "never printed), no orphans, every id sequence ahead of its table's max id, row level\n"
	 "security enabled. `all` verifies identity, telemetry, profile and reports.\n"
	 "Exit 0 only when every check passes.\n"},
};

void cli_progress(const cli_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->progress)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("\r\033[K", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void cli_progress_done(const cli_ctx *ctx)
{
	if (ctx->progress)
		fputs("\r\033[K", stderr);
}

static int run(cli_ctx *ctx, const struct command_def *def, int argc, char **argv)
{
	op_opts o = {.batch = 5000, .max_print = 20};
	const char *domain = NULL;
	bool rejects_given = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;
		if (cli_is_help(a)) {
			fputs(def->usage, stdout);
			return EXIT_OK;
		} else if ((def->opts & OPT_APPLY) && strcmp(a, "--apply") == 0) {
			o.apply = true;
		} else if ((def->opts & OPT_REJECTS) && strcmp(a, "--rejects") == 0 && has_next) {
			o.rejects_dir = argv[++i];
			rejects_given = true;
		} else if ((def->opts & OPT_BATCH) && strcmp(a, "--batch") == 0 && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 1000000)
				return cli_usage("%s: --batch takes a number from 1 to 1000000", def->name);
			o.batch = (size_t)n;
		} else if ((def->opts & OPT_USERS) && strcmp(a, "--users") == 0 && has_next) {
			o.only_users = argv[++i];
		} else if ((def->opts & OPT_REPAIR) && strcmp(a, "--repair-sequences") == 0) {
			o.repair_sequences = true;
		} else if ((def->opts & OPT_NOWAIT) && strcmp(a, "--no-wait") == 0) {
			o.no_wait = true;
		} else if (a[0] == '-') {
			return cli_usage("%s: unknown option \"%s\" (see cutover %s --help)", def->name, a, def->name);
		} else if (!domain) {
			domain = a;
		} else {
			return cli_usage("%s: one domain at a time (or all); got \"%s\" and \"%s\"", def->name, domain, a);
		}
	}
	if (!domain)
		return cli_usage("%s: which domain? identity, profile, reports, telemetry or all (see cutover %s --help)",
				 def->name, def->name);
	if (o.repair_sequences && !o.apply)
		return cli_usage("%s: --repair-sequences needs --apply", def->name);
	if (o.apply && !rejects_given)
		o.rejects_dir = "./cutover-rejects";

	cutover_error err;
	cutover_settings st;
	if (cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err))
		return cli_fail(&err);
	o.st = &st;

	bool all = strcmp(domain, "all") == 0;
	bool known = all;
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		known |= strcmp(domain, cutover_domain_name((cutover_domain)d)) == 0;
	if (!known)
		return cli_usage("%s: unknown domain \"%s\"; domains: identity, profile, reports, telemetry, all", def->name,
				 domain);
	for (size_t i = 0; o.only_users && i < sizeof(domains) / sizeof(domains[0]); i++)
		if ((all || strcmp(domain, cutover_domain_name(domains[i].domain)) == 0) && !domains[i].rehearsal)
			return cli_usage("%s: --users rehearses identity and profile only; %s has no subset by user",
					 def->name, cutover_domain_name(domains[i].domain));
	co_pg *shared = NULL;
	if (all && def == &defs[1] && !o.apply) {
		/* a dry run of every domain on one connection: what identity and
		 * telemetry would insert counts as present for profile and reports */
		if (co_pg_connect(&shared, st.database_url, &err))
			return cli_fail(&err);
		o.shared_pg = shared;
	}
	cJSON *doc = ctx->json ? cJSON_CreateObject() : NULL;
	int worst = EXIT_OK, ran = 0;
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		const char *name = cutover_domain_name(domains[i].domain);
		if (!all && strcmp(domain, name) != 0)
			continue;
		op_fn fn = def == &defs[0] ? domains[i].survey : def == &defs[1] ? domains[i].backfill : domains[i].verify;
		cJSON *part = doc ? cJSON_AddObjectToObject(doc, name) : NULL;
		int code = fn(ctx, &o, part);
		ran++;
		if (code > worst)
			worst = code;
		if (code >= EXIT_USAGE)
			break;
	}
	co_pg_close(shared);
	if (!ran) {
		cJSON_Delete(doc);
		fprintf(stderr, "cutover: %s %s: this domain's legacy data is not supported yet\n", def->name, domain);
		return EXIT_USAGE;
	}
	if (doc) {
		char *text = cJSON_Print(doc);
		puts(text);
		free(text);
		cJSON_Delete(doc);
	}
	return worst;
}

int cmd_survey(cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, &defs[0], argc, argv);
}

int cmd_backfill(cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, &defs[1], argc, argv);
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, &defs[2], argc, argv);
}
