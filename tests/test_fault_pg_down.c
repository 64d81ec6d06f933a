/* test_fault_pg_down.c — Postgres down while it is authoritative.
 *
 * Generated legacy state for the four domains (tests/gen-state.sh) is
 * backfilled (`cutover backfill all --apply --repair-sequences`); then, in
 * each of live, rampdown and postgres:
 *
 *  - the four domains are opened in the stage and a fixture is made through
 *    them (users, sessions, a portfolio, a report, an incident, an event);
 *  - Postgres is stopped (CUTOVER_TEST_PG_STOP from tests/with-postgres.sh)
 *    and every operation kind of every domain is called once: each fails
 *    with CUTOVER_EUNAVAILABLE, a message naming Postgres, a hint saying
 *    what to do, within a bound measured here;
 *  - the JSON state root, journal included, is byte for byte what it was
 *    (same files, same inodes, same mtimes), no second write was attempted
 *    and nothing was journaled;
 *  - Postgres is started again: the same handles reconnect on their own
 *    (after the 2 s quiet period that follows a failed attempt) and every
 *    operation kind succeeds.
 *
 * And with Postgres down from the start: opening any domain in those stages
 * is refused (CUTOVER_EUNAVAILABLE, bounded) and `cutover status` exits 3.
 *
 * usage: tests/with-postgres.sh test_fault_pg_down CUTOVER_EXE GEN_STATE_SH BUILD_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_ops.h"
#include "pg.h"
#include "support.h"

/* What one failing call may take. The server's socket is gone, so libpq
 * fails at once; connect_timeout (5 s) would only matter on a network
 * that drops packets. */
#define DOWN_CALL_MAX_S 1.0
/* How long the handles may take to work again once the server is up:
 * the 2 s quiet period after a failed attempt, plus slack. */
#define RECOVER_MAX_S 4.0

static const char *gen_state, *build_dir;
static test_env env;
static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static int setup(void **state)
{
	(void)state;
	test_env_init(&env, "pgdown");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "bash '%s' '%s' --out '%s' --users 40 --seed 5 --quiet", gen_state, build_dir, env.root);
	assert_int_equal(test_shell(cmd), 0);
	char *out = NULL;
	int rc = test_cutover(&env, &out, "backfill all --apply --repair-sequences");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	free(out);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_env_fini(&env);
	return 0;
}

/* A test that failed half-way may have left the server stopped. */
static int server_up(void **state)
{
	(void)state;
	if (test_shell("psql -X -q -c 'SELECT 1' >/dev/null 2>&1") != 0)
		test_shell(getenv("CUTOVER_TEST_PG_START"));
	return 0;
}

static void open_all(fault_handles *h, const char *stage)
{
	env.opts.stage = stage;
	expect_ok(cutover_identity_open(&h->id, &env.opts, &err));
	expect_ok(cutover_profile_open(&h->pr, &env.opts, &err));
	expect_ok(cutover_reports_open(&h->rep, &env.opts, &err));
	expect_ok(cutover_telemetry_open(&h->tel, &env.opts, &err));
}

/* A call that failed because Postgres is down: the code, words that name
 * Postgres, a hint, and no more time than the bound. */
static void expect_down(const fault_op *op, int rc, double took)
{
	const char *dom = cutover_domain_name(op->domain);
	if (rc != CUTOVER_EUNAVAILABLE || !strstr(err.message, "postgres") || !*err.hint || took > DOWN_CALL_MAX_S) {
		fprintf(stderr, "%s %s with postgres down: code %s after %.3f s\n", dom, op->name, cutover_code_name(rc),
			took);
		cutover_error_fprint(stderr, &err);
	}
	assert_int_equal(rc, CUTOVER_EUNAVAILABLE);
	assert_non_null(strstr(err.message, "postgres"));
	assert_true(err.hint[0] != '\0');
	assert_true(took <= DOWN_CALL_MAX_S);
}

static void postgres_down_in(const char *stage)
{
	const char *stop = getenv("CUTOVER_TEST_PG_STOP"), *start = getenv("CUTOVER_TEST_PG_START");
	if (!stop || !start)
		fail_msg("run under tests/with-postgres.sh");
	fault_handles h = {0};
	fault_fixture f = {.tag = (unsigned)getpid() * 8u + (unsigned)stage[0]};
	open_all(&h, stage);
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		expect_ok(fault_prepare((cutover_domain)d, &h, &f, &err));

	fault_tree before, after;
	assert_int_equal(fault_tree_take(&before, env.root), 0);
	assert_true(before.n > 10); /* the generated documents, the journal dir */
	test_log_reset();

	assert_int_equal(test_shell(stop), 0);
	double worst = 0, total = fault_now();
	const char *worst_op = "";
	for (size_t i = 0; i < fault_ops_count; i++) {
		const fault_op *op = &fault_ops[i];
		cutover_error_clear(&err);
		double t0 = fault_now();
		int rc = op->run(&h, &f, &err);
		double took = fault_now() - t0;
		expect_down(op, rc, took);
		if (took > worst) {
			worst = took;
			worst_op = op->name;
		}
		if (i == 0)
			print_message("%s, first call with postgres stopped: %s\n  hint: %s\n", stage, err.message, err.hint);
	}
	total = fault_now() - total;
	print_message("%s: %zu calls failed with postgres down in %.3f s (slowest %.3f s: %s)\n", stage, fault_ops_count,
		      total, worst, worst_op);

	/* nothing reached the JSON store: same files, same bytes, same inodes
	 * and mtimes, no journal entry, no second write attempted */
	assert_int_equal(fault_tree_take(&after, env.root), 0);
	char *diff = fault_tree_diff(&before, &after);
	if (diff)
		fail_msg("the JSON state root changed while postgres was down:\n%s", diff);
	fault_tree_free(&after);
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		cutover_stats st;
		fault_stats(&h, (cutover_domain)d, &st);
		assert_int_equal(st.journaled, 0);
		assert_int_equal(st.mismatches, 0);
	}
	assert_null(strstr(test_log_text(), "journaled"));

	/* back up: the same handles reconnect */
	assert_int_equal(test_shell(start), 0);
	double up = fault_now(), back = 0;
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		const fault_op *probe = NULL;
		for (size_t i = 0; i < fault_ops_count && !probe; i++)
			if (fault_ops[i].domain == (cutover_domain)d && !fault_ops[i].write)
				probe = &fault_ops[i];
		int rc;
		while ((rc = probe->run(&h, &f, &err)) == CUTOVER_EUNAVAILABLE && fault_now() - up < RECOVER_MAX_S)
			usleep(50000);
		if (rc != CUTOVER_OK)
			cutover_error_fprint(stderr, &err);
		assert_int_equal(rc, CUTOVER_OK);
	}
	back = fault_now() - up;
	print_message("%s: every handle answered again %.3f s after postgres started\n", stage, back);
	assert_true(back <= RECOVER_MAX_S);
	for (size_t i = 0; i < fault_ops_count; i++) {
		const fault_op *op = &fault_ops[i];
		int rc = op->run(&h, &f, &err);
		if (rc != CUTOVER_OK) {
			fprintf(stderr, "%s %s after postgres came back:\n", cutover_domain_name(op->domain), op->name);
			cutover_error_fprint(stderr, &err);
		}
		assert_int_equal(rc, CUTOVER_OK);
	}
	/* and in the dual stages the second writes reached JSON again */
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		cutover_stats st;
		fault_stats(&h, (cutover_domain)d, &st);
		assert_int_equal(st.secondary_failures, 0);
		assert_int_equal(st.journaled, 0);
		assert_int_equal(st.mismatches, 0);
	}
	assert_int_equal(fault_tree_take(&after, env.root), 0);
	diff = fault_tree_diff(&before, &after);
	if (strcmp(stage, "postgres") == 0)
		assert_null(diff); /* json is not written in postgres */
	else
		assert_non_null(diff);
	free(diff);
	fault_tree_free(&after);
	fault_tree_free(&before);
	fault_fixture_free(&f);
	fault_handles_free(&h);
}

static void postgres_down_in_live(void **state)
{
	(void)state;
	postgres_down_in("live");
}

static void postgres_down_in_rampdown(void **state)
{
	(void)state;
	postgres_down_in("rampdown");
}

static void postgres_down_in_postgres(void **state)
{
	(void)state;
	postgres_down_in("postgres");
}

/* An app starting while Postgres is down, in a stage where Postgres is
 * authoritative, is refused at open: a clear error, quickly. The operator's
 * `cutover status` says so and exits 3. */
static void opening_with_postgres_down_is_refused(void **state)
{
	(void)state;
	static const char *const stages[] = {"live", "rampdown", "postgres"};
	fault_tree before, after;
	assert_int_equal(fault_tree_take(&before, env.root), 0);
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_STOP")), 0);
	double worst = 0;
	for (size_t s = 0; s < 3; s++) {
		env.opts.stage = stages[s];
		for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
			void *handle = NULL;
			int rc;
			double t0 = fault_now();
			switch ((cutover_domain)d) {
			case CUTOVER_DOMAIN_IDENTITY:
				rc = cutover_identity_open((cutover_identity **)&handle, &env.opts, &err);
				break;
			case CUTOVER_DOMAIN_PROFILE:
				rc = cutover_profile_open((cutover_profile **)&handle, &env.opts, &err);
				break;
			case CUTOVER_DOMAIN_REPORTS:
				rc = cutover_reports_open((cutover_reports **)&handle, &env.opts, &err);
				break;
			default:
				rc = cutover_telemetry_open((cutover_telemetry **)&handle, &env.opts, &err);
				break;
			}
			double took = fault_now() - t0;
			if (took > worst)
				worst = took;
			if (rc != CUTOVER_EUNAVAILABLE)
				cutover_error_fprint(stderr, &err);
			assert_int_equal(rc, CUTOVER_EUNAVAILABLE);
			assert_null(handle);
			assert_non_null(strstr(err.message, "postgres"));
			assert_non_null(strstr(err.hint, "server is running"));
			assert_true(took <= DOWN_CALL_MAX_S);
			if (s == 0 && d == 0)
				print_message("open in live with postgres down: %s\n  hint: %s\n", err.message, err.hint);
		}
	}
	print_message("opening refused in at most %.3f s\n", worst);

	/* cutover status: exit 3, naming the server */
	setenv("IDENTITY_STORE", "live", 1);
	setenv("REPORTS_STORE", "postgres", 1);
	char *out = NULL;
	double t0 = fault_now();
	int rc = test_cutover(&env, &out, "status");
	double took = fault_now() - t0;
	unsetenv("IDENTITY_STORE");
	unsetenv("REPORTS_STORE");
	if (rc != 3)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 3);
	assert_non_null(strstr(out, "postgres"));
	print_message("cutover status with postgres down: exit %d after %.3f s\n", rc, took);
	assert_true(took < 10.0);
	free(out);

	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_START")), 0);
	assert_int_equal(fault_tree_take(&after, env.root), 0);
	char *diff = fault_tree_diff(&before, &after);
	if (diff)
		fail_msg("the JSON state root changed:\n%s", diff);
	fault_tree_free(&before);
	fault_tree_free(&after);
}

/* The server ends the sessions (pg_terminate_backend: what a failover, an
 * idle-session reaper or an operator does) while it stays up and the
 * handles sit idle: each handle finds its connection closed before its next
 * call (adapters/postgres/pg_conn.c polls an idle connection's socket)
 * and resets it first, so no call fails and nothing is journaled. */
static void sessions_ended_by_the_server(void **state)
{
	(void)state;
	fault_handles h = {0};
	fault_fixture f = {.tag = (unsigned)getpid() * 8u + 7u};
	open_all(&h, "live");
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		expect_ok(fault_prepare((cutover_domain)d, &h, &f, &err));
	char *n = test_sql_value(&env, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				       "WHERE datname = current_database() AND pid <> pg_backend_pid()");
	assert_non_null(n);
	assert_true(atoi(n) >= 4); /* one session per handle */
	free(n);
	/* wait (at most 5 s) until the server has let them go: their FATAL and
	 * the end of the connection are then on the handles' sockets */
	long long left = -1;
	for (int i = 0; i < 100; i++) {
		left = test_count(&env, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
					"AND pid <> pg_backend_pid()");
		if (left == 0)
			break;
		usleep(50000);
	}
	assert_int_equal(left, 0);
	usleep(100000);
	test_log_reset();
	for (size_t i = 0; i < fault_ops_count; i++) {
		const fault_op *op = &fault_ops[i];
		int rc = op->run(&h, &f, &err);
		if (rc != CUTOVER_OK) {
			fprintf(stderr, "%s %s after the sessions were ended:\n", cutover_domain_name(op->domain), op->name);
			cutover_error_fprint(stderr, &err);
		}
		assert_int_equal(rc, CUTOVER_OK);
	}
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		cutover_stats st;
		fault_stats(&h, (cutover_domain)d, &st);
		assert_int_equal(st.journaled, 0);
	}
	assert_null(strstr(test_log_text(), "journaled"));
	fault_fixture_free(&f);
	fault_handles_free(&h);

	/* A session that is ended while it runs a statement gets the server's
	 * own FATAL (57P01) rather than a closed socket: that says Postgres too. */
	co_pg *pg = NULL;
	expect_ok(co_pg_connect(&pg, env.conninfo, &err));
	PGresult *r = co_pg_exec(pg, "end my own session", "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, &err);
	assert_null(r);
	print_message("a session ended mid-statement: %s (sqlstate %s)\n", err.message, err.sqlstate);
	assert_int_equal(err.code, CUTOVER_EUNAVAILABLE);
	assert_non_null(strstr(err.message, "postgres"));
	assert_true(err.hint[0] != '\0');
	r = co_pg_exec(pg, "after", "SELECT 1", 0, NULL, &err); /* reconnects */
	if (!r)
		cutover_error_fprint(stderr, &err);
	assert_non_null(r);
	PQclear(r);
	co_pg_close(pg);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tests/with-postgres.sh test_fault_pg_down CUTOVER_EXE GEN_STATE_SH BUILD_DIR\n");
		return 3;
	}
	test_cutover_bin = argv[1];
	gen_state = argv[2];
	build_dir = argv[3];
	test_unset_stage_flags();
	test_log_capture();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(postgres_down_in_live, server_up),
		cmocka_unit_test_setup(postgres_down_in_rampdown, server_up),
		cmocka_unit_test_setup(postgres_down_in_postgres, server_up),
		cmocka_unit_test_setup(sessions_ended_by_the_server, server_up),
		cmocka_unit_test_setup(opening_with_postgres_down_is_refused, server_up),
	};
	int rc = cmocka_run_group_tests_name("postgres down while authoritative", tests, setup, teardown);
	test_log_reset();
	return rc;
}
