/* cmd_status.c — `cutover status`: where every domain stands.
 *
 * Read-only: it creates nothing, not even a state root that does not exist
 * yet (that root shows as "absent"). For each domain: its flag and stage,
 * rows on the json side and
 * the postgres side, keys waiting in the reconcile journal, and the health of
 * its id sequences. Also the state root and the Postgres target, with
 * credentials redacted. A flag that is not a stage is a configuration error
 * (exit 2); a Postgres that a configured stage needs but cannot be reached is
 * a runtime failure (exit 3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "json_store.h"
#include "pg.h"
#include "pg_runs.h"

/* The documents and tables each domain counts. */
static const struct counted {
	cutover_domain domain;
	const char *what;
	const char *json_key, *json_collection;
	const char *count_sql; /* constant SQL: our own table names */
} counted[] = {
	{CUTOVER_DOMAIN_IDENTITY, "users", "identity/users.json", "users", "SELECT count(*) FROM identity.users"},
	{CUTOVER_DOMAIN_IDENTITY, "sessions", "identity/sessions.json", "sessions", "SELECT count(*) FROM identity.sessions"},
	{CUTOVER_DOMAIN_TELEMETRY, "incidents", "telemetry/incidents.json", "incidents", "SELECT count(*) FROM operations.incidents"},
	/* a key ending in '/': the lines of the NDJSON files in that folder */
	{CUTOVER_DOMAIN_TELEMETRY, "events", "telemetry/events/", NULL, "SELECT count(*) FROM operations.telemetry_events"},
	{CUTOVER_DOMAIN_PROFILE, "profiles", "profile/profiles.json", "profiles", "SELECT count(*) FROM content.portfolio_profiles"},
	{CUTOVER_DOMAIN_REPORTS, "reports", "reports/reports.json", "reports", "SELECT count(*) FROM operations.reports"},
};

static void help(void)
{
	printf("usage: cutover status [--json]\n\n"
	       "Shows each domain's stage (its *_STORE flag), row counts in the JSON state and in\n"
	       "Postgres, keys waiting for `cutover reconcile`, and id sequence health; also the\n"
	       "state root and the Postgres target with credentials redacted. Read-only: it\n"
	       "creates nothing (a state root that does not exist yet shows as absent).\n");
}

/* A local state root that does not exist: opening its transport would
 * create it, and status creates nothing. */
static bool local_root_absent(const char *root)
{
	struct stat sb;
	if (!root || strncasecmp(root, "http://", 7) == 0 || strncasecmp(root, "https://", 8) == 0)
		return false;
	if (strncasecmp(root, "file://", 7) == 0)
		root += 7;
	return *root && stat(root, &sb) != 0 && errno == ENOENT;
}

/* The first failure to reach the JSON state root (not a damaged document):
 * kept in *store so status stops asking and exits 3. */
static void note_unreachable(int rc, const cutover_error *err, cutover_error *store)
{
	if ((rc == CUTOVER_EUNAVAILABLE || rc == CUTOVER_ECONFIG) && store->code == CUTOVER_OK)
		*store = *err;
}

/* Non-blank lines of the documents under a folder key ("telemetry/events/"),
 * streamed; -1 when there are none, -2 when they cannot be read. */
static long long ndjson_count(co_transport *t, const char *prefix, cutover_error *unreachable)
{
	char **keys = NULL;
	size_t n = 0;
	cutover_error err;
	if (!t->list)
		return -2;
	int rc = t->list(t, prefix, &keys, &n, &err);
	if (rc != CUTOVER_OK) {
		note_unreachable(rc, &err, unreachable);
		return -2;
	}
	long long lines = n ? 0 : -1;
	for (size_t i = 0; i < n && lines >= 0; i++) {
		FILE *f = NULL;
		if ((rc = co_transport_stream(t, keys[i], &f, &err)) != CUTOVER_OK) {
			note_unreachable(rc, &err, unreachable);
			lines = -2;
			break;
		}
		char buf[65536];
		size_t got;
		bool blank = true;
		while ((got = fread(buf, 1, sizeof buf, f)) > 0)
			for (size_t k = 0; k < got; k++) {
				if (buf[k] == '\n') {
					lines += !blank;
					blank = true;
				} else if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r') {
					blank = false;
				}
			}
		lines += !blank;
		fclose(f);
	}
	co_keys_free(keys, n);
	return lines;
}

/* Records in one legacy document; -1 when absent, -2 when unreadable. */
static long long json_count(co_transport *t, bool root_absent, const char *key, const char *collection,
                            cutover_error *unreachable)
{
	if (root_absent)
		return -1;
	if (!t || unreachable->code != CUTOVER_OK)
		return -2;
	if (!collection)
		return ndjson_count(t, key, unreachable);
	char *data = NULL, version[CO_VERSION_LEN];
	size_t len = 0;
	cutover_error err;
	int rc = t->get(t, key, &data, &len, version, &err);
	if (rc == CUTOVER_ENOTFOUND)
		return -1;
	if (rc) {
		note_unreachable(rc, &err, unreachable);
		return -2;
	}
	cJSON *doc = cJSON_ParseWithLength(data, len);
	free(data);
	cJSON *arr = doc ? cJSON_GetObjectItemCaseSensitive(doc, collection) : NULL;
	long long n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -2;
	cJSON_Delete(doc);
	return n;
}

static long long pg_count(co_pg *pg, const char *sql)
{
	if (!pg)
		return -2;
	cutover_error err;
	PGresult *r = co_pg_exec(pg, "count", sql, 0, NULL, &err);
	if (!r)
		return -2;
	long long n = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static void count_text(long long n, char *buf, size_t len)
{
	if (n == -1)
		snprintf(buf, len, "absent");
	else if (n < 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%lld", n);
}

/* The rollback guard: a domain that ran in the postgres stage without an
 * export since (cutover.postgres_runs; json, dualwrite and shadow refuse
 * to open it). jd: the domain's JSON object, NULL for text. */
static void status_postgres_run(co_pg *pg, cutover_domain d, cJSON *jd)
{
	co_pg_stage_run run;
	cutover_error err;
	if (!pg || co_pg_runs_get(pg, d, &run, &err) != CUTOVER_OK || !run.exists)
		return;
	char since[40], last[40], exported[40], say[300];
	cutover_ts_format(run.since, since, sizeof since);
	cutover_ts_format(run.last_open_at, last, sizeof last);
	cutover_ts_format(run.exported_at, exported, sizeof exported);
	if (jd) {
		cJSON *o = cJSON_AddObjectToObject(jd, "postgres_stage");
		cJSON_AddStringToObject(o, "ran_since", since);
		cJSON_AddStringToObject(o, "last_open_at", last);
		if (run.exported_at != CUTOVER_TS_NULL)
			cJSON_AddStringToObject(o, "exported_at", exported);
		cJSON_AddBoolToObject(o, "not_exported", run.pending);
	} else if (run.pending) {
		printf("  %s; json, dualwrite and shadow refuse it until `cutover export %s --apply`\n",
		       co_pg_stage_run_describe(&run, d, say, sizeof say), cutover_domain_name(d));
	} else {
		printf("  %s\n", co_pg_stage_run_describe(&run, d, say, sizeof say));
	}
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			help();
			return EXIT_OK;
		}
		return cli_usage("status: unexpected argument \"%s\" (see cutover status --help)", argv[i]);
	}
	cutover_error err;
	cutover_settings st[CUTOVER_DOMAIN_COUNT];
	bool needs_pg = false;
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		if (cutover_settings_resolve(&st[d], (cutover_domain)d, NULL, &err))
			return cli_fail(&err);
		needs_pg |= st[d].stage != CUTOVER_STAGE_JSON;
	}
	char root_shown[1024], pg_shown[1024];
	co_redact_url(st[0].json_root, root_shown, sizeof(root_shown));
	co_redact_conninfo(st[0].database_url, pg_shown, sizeof(pg_shown));

	co_transport *t = NULL;
	cutover_error terr;
	cutover_error_clear(&terr);
	bool root_absent = local_root_absent(st[0].json_root);
	if (!root_absent)
		co_transport_open(&t, st[0].json_root, st[0].json_token, &terr);
	cutover_error unreachable; /* the JSON root could not be read */
	cutover_error_clear(&unreachable);
	if (!root_absent && !t)
		unreachable = terr;
	co_pg *pg = NULL;
	cutover_error perr;
	cutover_error_clear(&perr);
	co_pg_connect(&pg, st[0].database_url, &perr);

	cJSON *jo = ctx->json ? cJSON_CreateObject() : NULL;
	if (jo) {
		cJSON_AddStringToObject(jo, "json_root", root_shown);
		if (root_absent)
			cJSON_AddBoolToObject(jo, "json_root_absent", true);
		cJSON_AddStringToObject(jo, "postgres", pg_shown);
		cJSON_AddBoolToObject(jo, "postgres_reachable", pg != NULL);
	} else {
		if (root_absent)
			printf("state root   %s  (absent)\n", root_shown);
		else if (t)
			printf("state root   %s\n", root_shown);
		else
			printf("state root   %s  (unusable: %s)\n", root_shown, terr.message);
		printf("postgres     %s  (%s)\n", pg_shown, pg ? "reachable" : perr.message);
	}
	cJSON *jdomains = jo ? cJSON_AddArrayToObject(jo, "domains") : NULL;
	int code = EXIT_OK;
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		const char *name = cutover_domain_name((cutover_domain)d);
		size_t pending = 0;
		cutover_error jerr;
		bool journal_ok = co_journal_count(st[d].journal_dir, (cutover_domain)d, &pending, &jerr) == CUTOVER_OK;
		co_seq_health h[8];
		size_t nh = 0;
		cutover_error serr;
		bool seq_ok = pg && co_pg_sequence_health(pg, (cutover_domain)d, h, 8, &nh, &serr) == CUTOVER_OK;
		cJSON *jd = NULL;
		if (jdomains) {
			jd = cJSON_CreateObject();
			cJSON_AddStringToObject(jd, "domain", name);
			cJSON_AddStringToObject(jd, "flag", st[d].flag_name);
			cJSON_AddStringToObject(jd, "stage", cutover_stage_describe(st[d].stage)->name);
			if (journal_ok)
				cJSON_AddNumberToObject(jd, "unreconciled", (double)pending);
			cJSON_AddItemToArray(jdomains, jd);
		} else {
			printf("\n%-10s %s=%s", name, st[d].flag_name, cutover_stage_describe(st[d].stage)->name);
			if (journal_ok)
				printf("   unreconciled keys: %zu\n", pending);
			else
				printf("   unreconciled keys: ? (%s)\n", jerr.message);
		}
		status_postgres_run(pg, (cutover_domain)d, jd);
		cJSON *jc = jd ? cJSON_AddArrayToObject(jd, "counts") : NULL;
		for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
			if (counted[i].domain != (cutover_domain)d)
				continue;
			long long nj = json_count(t, root_absent, counted[i].json_key, counted[i].json_collection,
			                          &unreachable);
			long long np = pg_count(pg, counted[i].count_sql);
			if (jc) {
				cJSON *c = cJSON_CreateObject();
				cJSON_AddStringToObject(c, "what", counted[i].what);
				if (nj >= 0)
					cJSON_AddNumberToObject(c, "json", (double)nj);
				if (np >= 0)
					cJSON_AddNumberToObject(c, "postgres", (double)np);
				cJSON_AddItemToArray(jc, c);
			} else {
				char a[32], b[32];
				count_text(nj, a, sizeof(a));
				count_text(np, b, sizeof(b));
				printf("  %-10s json %-10s postgres %s\n", counted[i].what, a, b);
			}
		}
		cJSON *js = jd ? cJSON_AddArrayToObject(jd, "sequences") : NULL;
		for (size_t i = 0; seq_ok && i < nh; i++) {
			char fix[512];
			if (js) {
				cJSON *s = cJSON_CreateObject();
				cJSON_AddStringToObject(s, "sequence", h[i].sequence);
				cJSON_AddNumberToObject(s, "max_id", (double)h[i].max_id);
				cJSON_AddNumberToObject(s, "next_value", (double)h[i].next_value);
				cJSON_AddBoolToObject(s, "behind", h[i].behind);
				if (h[i].behind)
					cJSON_AddStringToObject(s, "repair", co_pg_setval_sql(&h[i], fix, sizeof(fix)));
				cJSON_AddItemToArray(js, s);
			} else if (h[i].behind) {
				printf("  sequence %s is BEHIND (next %lld <= max id %lld); repair with:\n    %s\n",
				       h[i].sequence, (long long)h[i].next_value, (long long)h[i].max_id,
				       co_pg_setval_sql(&h[i], fix, sizeof(fix)));
			} else {
				printf("  sequence %s ok (next %lld, max id %lld)\n", h[i].sequence,
				       (long long)h[i].next_value, (long long)h[i].max_id);
			}
		}
		if (pg && !seq_ok && nh == 0 && !jo)
			printf("  sequences: ? (%s)\n", serr.message);
	}
	if (jo) {
		char *s = cJSON_Print(jo);
		puts(s);
		free(s);
		cJSON_Delete(jo);
	}
	if (needs_pg && !pg) {
		fprintf(stderr, "cutover: a domain's stage needs Postgres, which cannot be reached\n");
		cutover_error_fprint(stderr, &perr);
		code = EXIT_RUNTIME;
	}
	if (unreachable.code != CUTOVER_OK) {
		fprintf(stderr, "cutover: the JSON state root cannot be read\n");
		cutover_error_fprint(stderr, &unreachable);
		code = EXIT_RUNTIME;
	}
	if (t)
		t->free(t);
	co_pg_close(pg);
	return code;
}
