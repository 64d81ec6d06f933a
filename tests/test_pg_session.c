/* test_pg_session.c — a handle holding session state is never reset silently.
 *
 * The backfill lock (op_take_lock), the staging temp tables
 * (co_load_prepare) and the migrate lock (co_pg_migrate) live in one
 * Postgres session. If the connection is lost while such a handle sits idle
 * (a server restart, a terminated backend), resetting it would hand the run
 * a new session without its lock or tables and the run would go on. So,
 * for each: take it on a handle, terminate the handle's backend from
 * another connection (pg_terminate_backend), and check that the next
 * statement fails with CUTOVER_EUNAVAILABLE ("the run stopped: run it
 * again"), and so does the one after (no reset in between). A handle with
 * no session state (an app store's) is reset as before: its next statement
 * succeeds.
 *
 * Runs under tests/with-postgres.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"
#include "opkit.h"
#include "pg.h"
#include "support.h"

/* opkit.c's report helpers print through the program's cli_fail; this test
 * never reaches them. */
int cli_fail(const cutover_error *e)
{
	cutover_error_fprint(stderr, e);
	return EXIT_RUNTIME;
}

static test_env env;
static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static char *backend_pid(co_pg *pg)
{
	PGresult *r = co_pg_exec(pg, "pid", "SELECT pg_backend_pid()::text", 0, NULL, &err);
	assert_non_null(r);
	char *pid = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return pid;
}

/* Terminate the handle's backend from another connection and wait (at most
 * 5 s) until the server has let it go. */
static void terminate(co_pg *pg)
{
	char *pid = backend_pid(pg);
	const char *params[] = {pid};
	PGconn *admin = PQconnectdb(env.conninfo);
	assert_int_equal(PQstatus(admin), CONNECTION_OK);
	PGresult *r = PQexecParams(admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		r = PQexecParams(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, NULL, params,
				 NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		gone = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
		PQclear(r);
		if (!gone)
			usleep(50000);
	}
	assert_true(gone);
	PQfinish(admin);
	free(pid);
	usleep(100000); /* the FATAL message and the close reach the client's socket */
}

/* The handle's next two statements fail as a lost session, not reset. */
static void expect_stopped(co_pg *pg)
{
	for (int i = 0; i < 2; i++) {
		cutover_error e;
		cutover_error_clear(&e);
		PGresult *r = co_pg_exec(pg, "after", "SELECT 1", 0, NULL, &e);
		if (r) {
			PQclear(r);
			fail_msg("statement %d after the backend was terminated succeeded: the handle was reset", i + 1);
		}
		assert_int_equal(e.code, CUTOVER_EUNAVAILABLE);
		if (!strstr(e.message, "the run stopped: run it again"))
			fail_msg("unexpected message: %s", e.message);
	}
}

static void backfill_lock_is_not_reset(void **state)
{
	(void)state;
	co_pg *pg = NULL;
	expect_ok(co_pg_connect(&pg, env.conninfo, &err));
	expect_ok(op_take_lock(pg, CUTOVER_DOMAIN_REPORTS, true, &err));
	terminate(pg);
	expect_stopped(pg);
	/* the reason: the lock went with the session; another run can take it now */
	co_pg *other = NULL;
	expect_ok(co_pg_connect(&other, env.conninfo, &err));
	expect_ok(op_take_lock(other, CUTOVER_DOMAIN_REPORTS, true, &err));
	co_pg_close(other);
	co_pg_close(pg);
}

static void staging_tables_are_not_reset(void **state)
{
	(void)state;
	co_pg *pg = NULL;
	expect_ok(co_pg_connect(&pg, env.conninfo, &err));
	co_load_spec spec = {.what = "test staging", .stage_ddl = "CREATE TEMP TABLE IF NOT EXISTS stage_probe (pos bigint)"};
	expect_ok(co_load_prepare(pg, &spec, &err));
	terminate(pg);
	expect_stopped(pg);
	co_pg_close(pg);
}

static void migrate_lock_is_not_reset(void **state)
{
	(void)state;
	co_pg *pg = NULL;
	expect_ok(co_pg_connect(&pg, env.conninfo, &err));
	expect_ok(co_pg_migrate(pg, NULL, NULL, &err));
	terminate(pg);
	expect_stopped(pg);
	co_pg_close(pg);
}

/* The contrast: a handle without session state is reset before its next
 * statement, which succeeds. */
static void plain_handle_is_reset(void **state)
{
	(void)state;
	co_pg *pg = NULL;
	expect_ok(co_pg_connect(&pg, env.conninfo, &err));
	char *before = backend_pid(pg);
	terminate(pg);
	char *after = backend_pid(pg);
	assert_string_not_equal(before, after);
	free(before);
	free(after);
	co_pg_close(pg);
}

int main(void)
{
	test_log_capture();
	test_env_init(&env, "pgsess");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backfill_lock_is_not_reset),
		cmocka_unit_test(staging_tables_are_not_reset),
		cmocka_unit_test(migrate_lock_is_not_reset),
		cmocka_unit_test(plain_handle_is_reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_env_fini(&env);
	return rc;
}
