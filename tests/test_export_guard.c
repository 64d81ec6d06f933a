/* test_export_guard.c — after the postgres stage: the rollback guard and the
 * id bookkeeping of `cutover export`.
 *
 *  - a domain opened in `postgres` is refused in shadow, dualwrite and json
 *    (json: when Postgres is configured) with the domain, since when and
 *    `cutover export DOMAIN --apply` in the error; live and rampdown still
 *    open; other domains are not affected; `cutover status` says "ran in
 *    postgres since ..., not exported"; a dry run of the export clears
 *    nothing; `export --apply` does, and the json backend then serves what
 *    Postgres holds; opening `postgres` again arms the guard again;
 *  - the marker in the JSON state root: the json stage without
 *    DATABASE_URL, and json, dualwrite and shadow whose Postgres cannot be
 *    reached, are refused by it (naming it); export --apply removes it; a
 *    postgres-stage open whose JSON root cannot be written logs that and
 *    opens;
 *  - the postgres stage's lock: export --apply refuses (exit 3, the count
 *    of sessions) while a postgres-stage handle is open and proceeds once it
 *    is closed; a postgres-stage open is refused while an export holds it; a
 *    handle whose connection was reset while an export held it fails its
 *    call and writes nothing, and after the export it re-arms the guard
 *    (row and marker) by itself;
 *  - a database without migration 0005: the postgres stage is refused
 *    (it could not record itself), with `cutover migrate` as the hint;
 *  - ids Postgres handed out are never handed out again by the json
 *    backend after the export: a certification added and deleted in
 *    postgres, events whose ids the sequence moved past.
 *
 * usage: test_export_guard PATH-TO-cutover   (under with-postgres.sh)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "profile_int.h"
#include "support.h"
#include "telemetry_int.h"

static cutover_identity *open_identity(test_env *e, const char *stage, int expect, cutover_error *err)
{
	cutover_identity *s = NULL;
	e->opts.stage = stage;
	int rc = cutover_identity_open(&s, &e->opts, err);
	if (rc != expect)
		fail_msg("IDENTITY_STORE=%s: open gave %d (%s; %s), expected %d", stage, rc, err->message, err->hint, expect);
	return s;
}

static void make_user(cutover_identity *s, const char *email, int64_t *id)
{
	cutover_user in = {.email = (char *)email, .role = "analyst", .display_name = "Made in postgres",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	cutover_error err;
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_OK);
	*id = u->id;
	cutover_user_free(u);
}

static void guard_refuses_until_exported(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exguard");
	cutover_error err;
	int64_t id;

	/* postgres stage: a user json has never seen */
	cutover_identity *s = open_identity(&e, "postgres", CUTOVER_OK, &err);
	make_user(s, "only.in.postgres@example.com", &id);
	cutover_identity_free(s);

	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "status"), 0);
	if (!strstr(out, "identity ran in postgres since") || !strstr(out, "not exported"))
		fail_msg("status does not show the guard:\n%s", out);
	free(out);

	const char *refused[] = {"shadow", "dualwrite", "json"};
	for (size_t i = 0; i < 3; i++) {
		assert_null(open_identity(&e, refused[i], CUTOVER_ESTATE, &err));
		char want[80];
		snprintf(want, sizeof want, "IDENTITY_STORE=%s refused", refused[i]);
		assert_non_null(strstr(err.message, want));
		assert_non_null(strstr(err.message, "identity ran in the postgres stage since "));
		assert_non_null(strstr(err.hint, "cutover export identity --apply"));
	}
	/* postgres-authoritative stages still open; other domains are not affected */
	cutover_identity_free(open_identity(&e, "live", CUTOVER_OK, &err));
	cutover_identity_free(open_identity(&e, "rampdown", CUTOVER_OK, &err));
	cutover_profile *p = NULL;
	e.opts.stage = "shadow";
	assert_int_equal(cutover_profile_open(&p, &e.opts, &err), CUTOVER_OK);
	cutover_profile_free(p);

	/* a dry run of the export clears nothing */
	assert_int_equal(test_cutover(&e, &out, "export identity"), 0);
	assert_non_null(strstr(out, "would create"));
	assert_non_null(strstr(out, "run `cutover export identity --apply`"));
	free(out);
	assert_null(open_identity(&e, "shadow", CUTOVER_ESTATE, &err));

	/* --apply does */
	char args[512];
	snprintf(args, sizeof args, "export identity --apply --backup '%s/bk'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 0);
	if (!strstr(out, "recorded in cutover.postgres_runs: identity exported"))
		fail_msg("export --apply did not record itself:\n%s", out);
	free(out);
	assert_int_equal(test_cutover(&e, &out, "status"), 0);
	assert_null(strstr(out, "not exported"));
	assert_non_null(strstr(out, "identity ran in postgres; exported at"));
	free(out);

	s = open_identity(&e, "json", CUTOVER_OK, &err);
	cutover_user *u = NULL;
	assert_int_equal(cutover_identity_get_user(s, &u, id, &err), CUTOVER_OK);
	assert_string_equal(u->email, "only.in.postgres@example.com");
	cutover_user_free(u);
	cutover_identity_free(s);
	cutover_identity_free(open_identity(&e, "shadow", CUTOVER_OK, &err));
	cutover_identity_free(open_identity(&e, "dualwrite", CUTOVER_OK, &err));

	/* back in postgres: armed again, since the new open */
	cutover_identity_free(open_identity(&e, "postgres", CUTOVER_OK, &err));
	assert_null(open_identity(&e, "dualwrite", CUTOVER_ESTATE, &err));
	assert_int_equal(test_cutover(&e, &out, "--json status"), 0);
	cJSON *doc = cJSON_Parse(out);
	free(out);
	const cJSON *d;
	bool seen = false;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "domains")) {
		const cJSON *ps = cJSON_GetObjectItem(d, "postgres_stage");
		if (strcmp(cJSON_GetObjectItem(d, "domain")->valuestring, "identity") == 0) {
			assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ps, "not_exported")));
			assert_non_null(cJSON_GetObjectItem(ps, "exported_at"));
			seen = true;
		} else {
			assert_null(ps);
		}
	}
	assert_true(seen);
	cJSON_Delete(doc);
	test_env_fini(&e);
}

static bool marker_exists(const test_env *e, const char *domain)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s/.cutover-postgres-stage", e->root, domain);
	return access(path, F_OK) == 0;
}

static void refused_by_marker(test_env *e, const char *stage)
{
	cutover_error err;
	assert_null(open_identity(e, stage, CUTOVER_ESTATE, &err));
	if (!strstr(err.detail, "identity/.cutover-postgres-stage") || !strstr(err.hint, "cutover export identity --apply"))
		fail_msg("IDENTITY_STORE=%s: refused without naming the marker: %s; %s; %s", stage, err.message, err.detail,
			 err.hint);
}

/* Where Postgres cannot be asked, the marker in the JSON root refuses. */
static void marker_when_postgres_cannot_be_asked(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exjson");
	cutover_error err;
	cutover_identity_free(open_identity(&e, "postgres", CUTOVER_OK, &err));
	assert_true(marker_exists(&e, "identity"));
	char path[600], *text;
	snprintf(path, sizeof path, "%s/identity/.cutover-postgres-stage", e.root);
	assert_non_null(text = test_read_file(path, NULL));
	assert_non_null(strstr(text, "\"since\":\""));
	free(text);
	assert_false(marker_exists(&e, "profile"));

	/* no Postgres configured: the json stage does not connect; the marker refuses */
	const char *url = e.opts.database_url;
	char *saved = getenv("DATABASE_URL") ? strdup(getenv("DATABASE_URL")) : NULL;
	unsetenv("DATABASE_URL");
	e.opts.database_url = NULL;
	refused_by_marker(&e, "json");
	/* an explicit DATABASE_URL: the row refuses (it says since when) */
	setenv("DATABASE_URL", url, 1);
	e.opts.database_url = url;
	assert_null(open_identity(&e, "json", CUTOVER_ESTATE, &err));
	assert_non_null(strstr(err.detail, "last opened there at"));
	if (saved) {
		setenv("DATABASE_URL", saved, 1);
		free(saved);
	} else {
		unsetenv("DATABASE_URL");
	}

	/* a Postgres that cannot be reached: json, dualwrite and shadow say so, and the marker refuses */
	test_log_capture();
	e.opts.database_url = "host=/nonexistent-cutover-socket-dir port=1";
	refused_by_marker(&e, "json");
	assert_non_null(strstr(test_log_text(), "could not check whether identity ran in the postgres stage"));
	refused_by_marker(&e, "dualwrite");
	refused_by_marker(&e, "shadow");
	assert_non_null(strstr(test_log_text(), "postgres is unreachable"));
	test_log_reset();
	e.opts.database_url = url;

	/* export --apply removes it; then they open, Postgres reachable or not */
	char args[512], *out = NULL;
	snprintf(args, sizeof args, "export identity --apply --backup '%s/bk'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 0);
	if (!strstr(out, "removed the rollback guard's marker identity/.cutover-postgres-stage"))
		fail_msg("export --apply did not say it removed the marker:\n%s", out);
	free(out);
	assert_false(marker_exists(&e, "identity"));
	test_log_capture();
	e.opts.database_url = "host=/nonexistent-cutover-socket-dir port=1";
	cutover_identity_free(open_identity(&e, "json", CUTOVER_OK, &err));
	cutover_identity_free(open_identity(&e, "shadow", CUTOVER_OK, &err));
	test_log_reset();
	e.opts.database_url = url;

	/* nothing that reads the legacy layout takes the marker for state */
	cutover_identity_free(open_identity(&e, "postgres", CUTOVER_OK, &err));
	assert_true(marker_exists(&e, "identity"));
	assert_int_equal(test_cutover(&e, &out, "survey identity"), 0);
	assert_null(strstr(out, "cutover-postgres-stage"));
	free(out);

	/* a postgres-stage open whose JSON root cannot be written: logged, and it opens */
	test_log_capture();
	char file_root[600];
	snprintf(file_root, sizeof file_root, "%s/a-file", e.root);
	FILE *f = fopen(file_root, "w");
	assert_non_null(f);
	fclose(f);
	e.opts.json_root = file_root;
	cutover_identity_free(open_identity(&e, "postgres", CUTOVER_OK, &err));
	assert_non_null(strstr(test_log_text(), "could not mark identity's JSON state root as behind"));
	assert_non_null(strstr(test_log_text(), "relies on cutover.postgres_runs alone"));
	test_log_reset();
	e.opts.json_root = e.json_root;
	test_env_fini(&e);
}

/* --- the postgres stage's lock -------------------------------------------------- */

static PGconn *side_conn(const test_env *e)
{
	PGconn *c = PQconnectdb(e->conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("side connection: %s", PQerrorMessage(c));
	return c;
}

static char *side_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	char *v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

#define HOLDER_PID "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1668247920 AND objid = 1 " \
		   "AND objsubid = 2 AND mode = 'ShareLock'"

/* End the backend of the one identity postgres-stage session and wait until it is gone. */
static void terminate_holder(PGconn *c)
{
	char *pid = side_value(c, HOLDER_PID);
	assert_true(*pid);
	free(pid);
	free(side_value(c, "SELECT pg_terminate_backend(pid) FROM (" HOLDER_PID ") h"));
	bool gone = false;
	for (int i = 0; i < 500 && !gone; i++) { /* 5 s at most */
		char *n = side_value(c, "SELECT count(*) FROM (" HOLDER_PID ") h");
		gone = strcmp(n, "0") == 0;
		free(n);
		if (!gone)
			usleep(10000);
	}
	assert_true(gone);
	usleep(50000); /* the FATAL and the close reach the client's socket */
}

static void export_waits_for_postgres_stage_sessions(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exlock");
	cutover_error err;
	int64_t id;
	char args[512], *out = NULL;

	/* an open postgres-stage handle: the export refuses, names the count, writes nothing */
	cutover_identity *s = open_identity(&e, "postgres", CUTOVER_OK, &err);
	make_user(s, "a@example.com", &id);
	assert_int_equal(test_cutover(&e, &out, "export identity"), 0);
	if (!strstr(out, "1 session has identity open in the postgres stage now"))
		fail_msg("the dry run does not count the session:\n%s", out);
	free(out);
	snprintf(args, sizeof args, "export identity --apply --backup '%s/bk1'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 3);
	if (!strstr(out, "1 session still has identity open in the postgres stage; flip the flag to rampdown and "
			 "restart them, then run the export again"))
		fail_msg("export --apply with a session open:\n%s", out);
	free(out);
	char path[600];
	snprintf(path, sizeof path, "%s/identity/users.json", e.root);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_true(marker_exists(&e, "identity"));
	assert_int_equal(test_cutover(&e, &out, "status"), 0);
	assert_non_null(strstr(out, "not exported"));
	free(out);

	/* closed: it proceeds */
	cutover_identity_free(s);
	snprintf(args, sizeof args, "export identity --apply --backup '%s/bk2'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 0);
	free(out);
	assert_false(marker_exists(&e, "identity"));

	/* an export holding the lock: a postgres-stage open is refused */
	PGconn *c = side_conn(&e);
	char *got = side_value(c, "SELECT pg_try_advisory_lock(1668247920, 1)");
	assert_string_equal(got, "t");
	free(got);
	assert_null(open_identity(&e, "postgres", CUTOVER_ESTATE, &err));
	assert_non_null(strstr(err.message, "`cutover export identity --apply` is running"));
	free(side_value(c, "SELECT pg_advisory_unlock(1668247920, 1)::text"));

	/* a new postgres open re-arms the guard */
	s = open_identity(&e, "postgres", CUTOVER_OK, &err);
	assert_true(marker_exists(&e, "identity"));
	assert_null(open_identity(&e, "shadow", CUTOVER_ESTATE, &err));

	/* its session ends and an export takes the lock: its next call fails and writes nothing */
	terminate_holder(c);
	got = side_value(c, "SELECT pg_try_advisory_lock(1668247920, 1)");
	assert_string_equal(got, "t");
	free(got);
	cutover_user in = {.email = "b@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_ESTATE);
	if (!strstr(err.message, "`cutover export identity --apply` is running; nothing was written"))
		fail_msg("a reconnect while the export runs: %s", err.message);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users WHERE email = 'b@example.com'"), 0);
	free(side_value(c, "SELECT pg_advisory_unlock(1668247920, 1)::text"));

	/* the export runs while the handle has no session: it proceeds, and clears the guard */
	snprintf(args, sizeof args, "export identity --apply --backup '%s/bk3'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 0);
	free(out);
	assert_false(marker_exists(&e, "identity"));
	cutover_identity_free(open_identity(&e, "shadow", CUTOVER_OK, &err));

	/* the handle's next call takes the lock again and re-arms the guard: row and marker */
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_OK);
	cutover_user_free(u);
	assert_true(marker_exists(&e, "identity"));
	assert_null(open_identity(&e, "shadow", CUTOVER_ESTATE, &err));
	assert_null(strstr(err.detail, "the marker")); /* the row refused first: it was re-armed too */
	got = side_value(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1668247920 "
			    "AND objid = 1 AND mode = 'ShareLock'");
	assert_string_equal(got, "1");
	free(got);
	cutover_identity_free(s);
	PQfinish(c);
	test_env_fini(&e);
}

static void postgres_stage_needs_the_migration(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exmig");
	test_sql(&e, "DROP TABLE cutover.postgres_runs");
	cutover_error err;
	assert_null(open_identity(&e, "postgres", CUTOVER_ESTATE, &err));
	assert_non_null(strstr(err.hint, "cutover migrate"));
	/* without the table there is nothing to guard: the other stages open */
	cutover_identity_free(open_identity(&e, "shadow", CUTOVER_OK, &err));
	cutover_identity_free(open_identity(&e, "json", CUTOVER_OK, &err));
	test_env_fini(&e);
}

/* Ids Postgres handed out are never handed out again by json after the export. */
static void export_moves_the_json_id_bookkeeping(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exids");
	cutover_error err;
	int64_t uid;
	cutover_identity *s = open_identity(&e, "postgres", CUTOVER_OK, &err);
	make_user(s, "ids@example.com", &uid);
	cutover_identity_free(s);

	/* profile: certification ids 1 and 2 handed out, 2 deleted again */
	cutover_profile *p = NULL;
	e.opts.stage = "postgres";
	assert_int_equal(cutover_profile_open(&p, &e.opts, &err), CUTOVER_OK);
	cutover_portfolio in = {.user_id = uid, .headline = "ids", .updated_at = CUTOVER_TS_NULL};
	assert_int_equal(cutover_profile_put(p, NULL, &in, &err), CUTOVER_OK);
	cutover_certification c1 = {.name = "first"}, c2 = {.name = "second"};
	assert_int_equal(cutover_profile_add_certification(p, NULL, uid, &c1, &err), CUTOVER_OK);
	assert_int_equal(cutover_profile_add_certification(p, NULL, uid, &c2, &err), CUTOVER_OK);
	assert_int_equal(cutover_profile_delete_certification(p, NULL, uid, 2, &err), CUTOVER_OK);
	cutover_profile_free(p);

	/* telemetry: three events, then the sequence moves past ids that never
	 * reached a row (a rolled-back insert hands them out all the same) */
	cutover_telemetry *t = NULL;
	e.opts.stage = "postgres";
	assert_int_equal(cutover_telemetry_open(&t, &e.opts, &err), CUTOVER_OK);
	cutover_event ev[3] = {{.occurred_at = 1767225600000000LL + 1000, .severity = "low"},
			       {.occurred_at = 1767225600000000LL + 2000, .severity = "high"},
			       {.occurred_at = 1767312000000000LL + 3000, .severity = "medium"}};
	assert_int_equal(cutover_telemetry_append_events(t, NULL, ev, 3, &err), CUTOVER_OK);
	cutover_telemetry_free(t);
	test_sql(&e, "SELECT setval('operations.telemetry_events_id_seq', 40)");

	char args[512], *out = NULL;
	snprintf(args, sizeof args, "export all --apply --backup '%s/bk'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 0);
	free(out);

	/* json now: the next certification is 3, not 2; the next event 41, not 4 */
	e.opts.stage = "json";
	assert_int_equal(cutover_profile_open(&p, &e.opts, &err), CUTOVER_OK);
	cutover_portfolio *got = NULL;
	cutover_certification c3 = {.name = "third"};
	assert_int_equal(cutover_profile_add_certification(p, &got, uid, &c3, &err), CUTOVER_OK);
	assert_int_equal(got->n_certifications, 2);
	assert_int_equal(got->certifications[1].id, 3);
	cutover_portfolio_free(got);
	cutover_profile_free(p);

	assert_int_equal(cutover_telemetry_open(&t, &e.opts, &err), CUTOVER_OK);
	cutover_event_list added = {0};
	cutover_event one = {.occurred_at = 1767225600000000LL + 5000, .severity = "low"};
	assert_int_equal(cutover_telemetry_append_events(t, &added, &one, 1, &err), CUTOVER_OK);
	assert_int_equal(added.items[0].id, 41);
	cutover_event_list_free(&added);
	cutover_telemetry_free(t);
	test_env_fini(&e);
}

/* The report names at most 1000 records of each kind per document; the
 * counts stay exact (the cap is checked against the counts, not by
 * counting the lists: cJSON counts an array by walking it). */
static void name_lists_are_capped(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "excap");
	cutover_error err;
	cutover_telemetry *t = NULL;
	e.opts.stage = "postgres";
	assert_int_equal(cutover_telemetry_open(&t, &e.opts, &err), CUTOVER_OK);
	enum { N = 1003 };
	static cutover_event ev[N];
	for (int i = 0; i < N; i++)
		ev[i] = (cutover_event){.occurred_at = 1767225600000000LL + i * 1000LL, .severity = "low"};
	assert_int_equal(cutover_telemetry_append_events(t, NULL, ev, N, &err), CUTOVER_OK);
	cutover_telemetry_free(t);
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "--json export telemetry"), 0);
	cJSON *doc = cJSON_Parse(out);
	free(out);
	assert_non_null(doc);
	const cJSON *d, *day = NULL;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "telemetry"), "documents"))
		if (strcmp(cJSON_GetObjectItem(d, "key")->valuestring, "telemetry/events/2026-01-01.ndjson") == 0)
			day = d;
	assert_non_null(day);
	assert_int_equal(cJSON_GetObjectItem(day, "new")->valuedouble, N);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(day, "new_records")), 1000);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(day, "new_records"), 999)->valuestring, "id 1000");
	cJSON_Delete(doc);
	test_env_fini(&e);
}

/* telemetry: the daily files are listed before anything is written; the
 * id counter moves past the ids the files held, dropped lines included;
 * a backup that exists is never replaced. */
static void events_listed_first_counter_past_the_files(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exevents");
	cutover_error err;
	cutover_telemetry *t = NULL;
	e.opts.stage = "postgres";
	assert_int_equal(cutover_telemetry_open(&t, &e.opts, &err), CUTOVER_OK);
	cutover_incident in = {.title = "made in postgres", .state = "open", .severity = "high",
			       .opened_at = CUTOVER_TS_NULL, .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_incident *inc = NULL;
	assert_int_equal(cutover_telemetry_create_incident(t, &inc, &in, &err), CUTOVER_OK);
	cutover_incident_free(inc);
	cutover_event ev[3] = {{.occurred_at = 1767225600000000LL + 1000, .severity = "low"},
			       {.occurred_at = 1767225600000000LL + 2000, .severity = "low"},
			       {.occurred_at = 1767225600000000LL + 3000, .severity = "low"}};
	assert_int_equal(cutover_telemetry_append_events(t, NULL, ev, 3, &err), CUTOVER_OK);
	cutover_telemetry_free(t);

	/* telemetry/events/ cannot be listed (a symlink to itself): nothing is written */
	char path[600], args[512], *out = NULL;
	snprintf(path, sizeof path, "%s/telemetry/events", e.root);
	assert_int_equal(symlink("events", path), 0);
	snprintf(args, sizeof args, "export telemetry --apply --backup '%s/bk1'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 3);
	snprintf(path, sizeof path, "%s/telemetry/incidents.json", e.root);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/telemetry/.event-ids.json", e.root);
	assert_int_not_equal(access(path, F_OK), 0);
	if (!strstr(out, "the daily event files cannot be listed, nothing was written"))
		fail_msg("a root that cannot be listed:\n%s", out);
	free(out);
	snprintf(path, sizeof path, "%s/telemetry/events", e.root);
	assert_int_equal(unlink(path), 0);

	/* a line Postgres does not hold, with a high id: dropped, and its id never handed out */
	test_put_doc(&e, "telemetry/events/2026-01-01.ndjson",
		     "{\"id\":500,\"occurred_at\":\"2026-01-01T00:00:00.5Z\",\"severity\":\"low\",\"payload\":{}}\n");
	snprintf(args, sizeof args, "export telemetry --apply --backup '%s/bk2'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 1);
	if (!strstr(out, "next_id 501 (past id 500"))
		fail_msg("the counter did not move past the files' ids:\n%s", out);
	free(out);
	snprintf(path, sizeof path, "%s/telemetry/.event-ids.json", e.root);
	char *text = test_read_file(path, NULL);
	assert_non_null(strstr(text, "501"));
	free(text);
	e.opts.stage = "json";
	assert_int_equal(cutover_telemetry_open(&t, &e.opts, &err), CUTOVER_OK);
	cutover_event_list added = {0};
	cutover_event one = {.occurred_at = 1767225600000000LL + 5000, .severity = "low"};
	assert_int_equal(cutover_telemetry_append_events(t, &added, &one, 1, &err), CUTOVER_OK);
	assert_int_equal(added.items[0].id, 501);
	cutover_event_list_free(&added);
	cutover_telemetry_free(t);

	/* a backup directory that already holds the day: refused, and what it holds stays */
	test_sql(&e, "DELETE FROM operations.telemetry_events WHERE id = 1");
	char bk[300];
	snprintf(bk, sizeof bk, "%s/bk3/telemetry/events", e.root);
	char cmd[900];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf 'keep me' > '%s/2026-01-01.ndjson'", bk, bk);
	assert_int_equal(test_shell(cmd), 0);
	snprintf(args, sizeof args, "export telemetry --apply --backup '%s/bk3'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 2);
	assert_non_null(strstr(out, "already holds"));
	free(out);
	snprintf(path, sizeof path, "%s/2026-01-01.ndjson", bk);
	text = test_read_file(path, NULL);
	assert_string_equal(text, "keep me");
	free(text);
	test_env_fini(&e);
}

/* What the current documents hold and Postgres does not: sessions the app
 * deleted (expired by the snapshot: counted; others: named as deleted in
 * postgres) leave with exit 0; a session whose user Postgres lacks, and a
 * user (never deleted), never got there: dropped, exit 1. */
static void export_classifies_what_postgres_lacks(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "exclass");
	cutover_error err;
	int64_t id;
	cutover_identity *s = open_identity(&e, "postgres", CUTOVER_OK, &err);
	make_user(s, "kept@example.com", &id);
	assert_int_equal(id, 1);
	cutover_identity_free(s);
	char ta[65], tb[65], tc[65], doc[2048];
	test_token(1, ta);
	test_token(2, tb);
	test_token(3, tc);
#define SESSION(tok, user, expires)                                                                              \
	"{\"token_hash\":\"%s\",\"user_id\":" #user ",\"created_at\":\"2019-12-01T00:00:00Z\",\"expires_at\":\"" expires \
	"\",\"last_seen_at\":\"2019-12-01T00:00:00Z\"}"
	snprintf(doc, sizeof doc,
		 "{\"sessions\":[" SESSION(a, 1, "2020-01-01T00:00:00Z") "," SESSION(b, 1, "2099-01-01T00:00:00Z") "," SESSION(
			 c, 99, "2099-01-01T00:00:00Z") "]}",
		 ta, tb, tc);
	test_put_doc(&e, "identity/sessions.json", doc);

	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "--json export identity"), 1);
	cJSON *j = cJSON_Parse(out);
	free(out);
	const cJSON *d, *sess = NULL;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "identity"), "documents"))
		if (strcmp(cJSON_GetObjectItem(d, "key")->valuestring, "identity/sessions.json") == 0)
			sess = d;
	assert_non_null(sess);
	assert_int_equal(cJSON_GetObjectItem(sess, "expired")->valuedouble, 1);
	assert_int_equal(cJSON_GetObjectItem(sess, "deleted_in_postgres")->valuedouble, 1);
	assert_int_equal(cJSON_GetObjectItem(sess, "dropped")->valuedouble, 1);
	const cJSON *del = cJSON_GetArrayItem(cJSON_GetObjectItem(sess, "deleted_records"), 0);
	assert_int_equal(cJSON_GetObjectItem(del, "position")->valuedouble, 2);
	assert_non_null(strstr(cJSON_GetObjectItem(del, "record")->valuestring, "token "));
	assert_null(strstr(cJSON_GetObjectItem(del, "record")->valuestring, tb)); /* a fingerprint, not the hash */
	const cJSON *drop = cJSON_GetArrayItem(cJSON_GetObjectItem(sess, "dropped_records"), 0);
	assert_int_equal(cJSON_GetObjectItem(drop, "position")->valuedouble, 3);
	assert_non_null(strstr(cJSON_GetObjectItem(drop, "reason")->valuestring, "nor is its user 99"));
	cJSON_Delete(j);

	/* without the session of a user Postgres lacks: exit 0, and the text says why the others leave */
	snprintf(doc, sizeof doc,
		 "{\"sessions\":[" SESSION(a, 1, "2020-01-01T00:00:00Z") "," SESSION(b, 1, "2099-01-01T00:00:00Z") "]}", ta,
		 tb);
	test_put_doc(&e, "identity/sessions.json", doc);
	assert_int_equal(test_cutover(&e, &out, "export identity"), 0);
	if (!strstr(out, "1 expired, 1 deleted in postgres") || !strstr(out, "deleted  record 2 (token ") ||
	    !strstr(out, "1 expired session and 1 deleted in postgres"))
		fail_msg("the dry run does not say what leaves and why:\n%s", out);
	free(out);

	/* a user Postgres lacks: users are never deleted, so it never got there */
	test_put_doc(&e, "identity/users.json", "{\"users\":[{\"id\":7,\"email\":\"gone@example.com\",\"role\":\"viewer\","
						 "\"created_at\":\"2020-01-01T00:00:00Z\",\"updated_at\":\"2020-01-01T00:00:00Z\"}]}");
	assert_int_equal(test_cutover(&e, &out, "export identity"), 1);
	if (!strstr(out, "not in postgres, where no user is ever deleted"))
		fail_msg("a user postgres lacks:\n%s", out);
	free(out);
#undef SESSION
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_export_guard PATH-TO-cutover\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guard_refuses_until_exported),
		cmocka_unit_test(marker_when_postgres_cannot_be_asked),
		cmocka_unit_test(export_waits_for_postgres_stage_sessions),
		cmocka_unit_test(postgres_stage_needs_the_migration),
		cmocka_unit_test(export_moves_the_json_id_bookkeeping),
		cmocka_unit_test(name_lists_are_capped),
		cmocka_unit_test(events_listed_first_counter_past_the_files),
		cmocka_unit_test(export_classifies_what_postgres_lacks),
	};
	return cmocka_run_group_tests_name("export: rollback guard and id bookkeeping", tests, NULL, NULL);
}
