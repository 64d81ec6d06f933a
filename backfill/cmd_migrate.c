/* cmd_migrate.c — `cutover migrate [status]`.
 *
 * Applies the numbered SQL migrations embedded in the library, each once, in
 * order (the runner in adapters/postgres/pg_migrate.c does the work and the
 * locking); `status` lists every migration as applied, pending or changed
 * since it was applied. Exit 1 from status when anything is pending or
 * changed, so scripts can gate on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "pg.h"

static void help(void)
{
	printf("usage: cutover migrate [status] [--json]\n\n"
	       "  migrate          apply pending migrations in order, each once (safe to re-run;\n"
	       "                   concurrent runs wait for each other)\n"
	       "  migrate status   list applied / pending / changed-since-applied migrations;\n"
	       "                   exit 1 when any is pending or changed\n\n"
	       "Postgres comes from DATABASE_URL or libpq's PG* variables.\n");
}

static const char *state_name(co_mig_state s)
{
	return s == CO_MIG_APPLIED ? "applied" : s == CO_MIG_PENDING ? "pending" : "changed";
}

static int run_status(cli_ctx *ctx, co_pg *pg)
{
	cutover_error err;
	co_mig_status *st = calloc(co_migrations_count ? co_migrations_count : 1, sizeof(*st));
	if (!st)
		return EXIT_RUNTIME;
	int rc = co_pg_migrate_status(pg, st, &err);
	if (rc) {
		free(st);
		return cli_fail(&err);
	}
	int not_applied = 0;
	cJSON *arr = ctx->json ? cJSON_CreateArray() : NULL;
	for (size_t i = 0; i < co_migrations_count; i++) {
		if (st[i].state != CO_MIG_APPLIED)
			not_applied++;
		if (arr) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "version", st[i].version);
			cJSON_AddStringToObject(o, "name", st[i].name);
			cJSON_AddStringToObject(o, "state", state_name(st[i].state));
			if (st[i].applied_at[0])
				cJSON_AddStringToObject(o, "applied_at", st[i].applied_at);
			cJSON_AddItemToArray(arr, o);
		} else {
			printf("%-8s %-32s %s\n", state_name(st[i].state), st[i].name, st[i].applied_at);
		}
	}
	if (arr) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "migrations", arr);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	}
	free(st);
	return not_applied ? EXIT_CHECKS : EXIT_OK;
}

int cmd_migrate(cli_ctx *ctx, int argc, char **argv)
{
	bool status = false;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			help();
			return EXIT_OK;
		} else if (strcmp(argv[i], "status") == 0) {
			status = true;
		} else {
			return cli_usage("migrate: unexpected argument \"%s\" (see cutover migrate --help)", argv[i]);
		}
	}
	cutover_error err;
	cutover_settings st;
	if (cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err))
		return cli_fail(&err);
	co_pg *pg = NULL;
	if (co_pg_connect(&pg, st.database_url, &err))
		return cli_fail(&err);
	int code;
	if (status) {
		code = run_status(ctx, pg);
	} else {
		int applied = 0;
		if (co_pg_migrate(pg, &applied, ctx->json ? NULL : stdout, &err)) {
			code = cli_fail(&err);
		} else {
			if (ctx->json)
				printf("{\"applied\": %d}\n", applied);
			else
				printf("%d migration%s applied; schema is up to date\n", applied, applied == 1 ? "" : "s");
			code = EXIT_OK;
		}
	}
	co_pg_close(pg);
	return code;
}
