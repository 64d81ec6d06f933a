/* test_faults.c — what happens when one store misbehaves.
 *
 *  - Postgres stopped in the middle of a dualwrite workload: every app call
 *    still succeeds (json is authoritative) and every affected key is in the
 *    journal.
 *  - A row changed in Postgres behind the library's back, read in shadow:
 *    json's answer is returned, the mismatch is reported field by field and
 *    counted, and the password hash never appears.
 *  - Entering live while identity.users' sequence is behind its max id is
 *    refused with the setval SQL as the hint; after running it, live opens.
 *
 * Runs under tests/with-postgres.sh, which provides CUTOVER_TEST_PG_STOP/START.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static cutover_identity *open_stage(test_env *e, const char *stage)
{
	e->opts.stage = stage;
	cutover_identity *s = NULL;
	expect_ok(cutover_identity_open(&s, &e->opts, &err));
	return s;
}

static int64_t add_user(cutover_identity *s, const char *email)
{
	cutover_user in = {.email = (char *)email, .role = "viewer", .display_name = "Worker",
			   .password_hash = "$2b$12$SECRETSECRETSECRETSECRET",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL,
			   .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(s, &u, &in, &err));
	int64_t id = u->id;
	cutover_user_free(u);
	return id;
}

static void add_session(cutover_identity *s, unsigned n, int64_t user_id)
{
	char tok[65];
	cutover_session in = {.token_hash = (char *)test_token(n, tok), .user_id = user_id,
			      .created_at = CUTOVER_TS_NULL, .expires_at = cutover_now() + 3600000000LL,
			      .last_seen_at = CUTOVER_TS_NULL};
	expect_ok(cutover_identity_create_session(s, &in, &err));
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	co_buf b = {0};
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		co_buf_put(&b, buf, n);
	fclose(f);
	return b.data ? b.data : strdup("");
}

static void postgres_stopped_during_dualwrite(void **state)
{
	(void)state;
	const char *stop = getenv("CUTOVER_TEST_PG_STOP"), *start = getenv("CUTOVER_TEST_PG_START");
	if (!stop || !start)
		fail_msg("run under tests/with-postgres.sh");
	test_env e;
	test_env_init(&e, "faultdw");
	cutover_identity *s = open_stage(&e, "dualwrite");
	int64_t before[3];
	for (int i = 0; i < 3; i++) {
		char email[64];
		snprintf(email, sizeof(email), "before-%d@example.com", i);
		before[i] = add_user(s, email);
		add_session(s, 100 + (unsigned)i, before[i]);
	}
	cutover_stats st;
	cutover_identity_stats(s, &st);
	assert_int_equal(st.journaled, 0);

	assert_int_equal(test_shell(stop), 0);
	/* every call succeeds while postgres is gone */
	int64_t during[4];
	for (int i = 0; i < 4; i++) {
		char email[64];
		snprintf(email, sizeof(email), "during-%d@example.com", i);
		during[i] = add_user(s, email);
		add_session(s, 200 + (unsigned)i, during[i]);
	}
	cutover_user *u = NULL;
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Renamed while down"};
	expect_ok(cutover_identity_update_user(s, &u, before[0], &p, &err));
	cutover_user_free(u);
	char tok[65];
	expect_ok(cutover_identity_touch_session(s, NULL, test_token(101, tok), CUTOVER_TS_NOW, &err));
	expect_ok(cutover_identity_delete_session(s, test_token(102, tok), &err));
	cutover_session *ss = NULL;
	cutover_user *su = NULL;
	expect_ok(cutover_identity_lookup_session(s, &ss, &su, test_token(200, tok), CUTOVER_TS_NOW, &err));
	cutover_session_free(ss);
	cutover_user_free(su);

	cutover_identity_stats(s, &st);
	/* 4 users + 4 sessions + 1 update + 1 touch + 1 delete */
	assert_int_equal(st.secondary_failures, 11);
	assert_int_equal(st.journaled, 11);
	assert_int_equal(test_shell(start), 0);

	char path[400];
	snprintf(path, sizeof(path), "%s/identity.journal", e.journal);
	char *journal = read_file(path);
	for (int i = 0; i < 4; i++) {
		char key[64];
		snprintf(key, sizeof(key), "\"entity\":\"user\",\"key\":\"%lld\"", (long long)during[i]);
		assert_non_null(strstr(journal, key));
		snprintf(key, sizeof(key), "\"key\":\"%s\"", test_token(200 + (unsigned)i, tok));
		assert_non_null(strstr(journal, key));
	}
	char key[64];
	snprintf(key, sizeof(key), "\"op\":\"update_user\"");
	assert_non_null(strstr(journal, key));
	assert_non_null(strstr(journal, test_token(101, tok)));
	assert_non_null(strstr(journal, "\"op\":\"delete_session\""));
	assert_non_null(strstr(journal, "\"target\":\"postgres\""));
	/* one line per entry */
	size_t lines = 0;
	for (const char *c = journal; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 11);
	free(journal);

	/* after the restart the second writes reach postgres again */
	int64_t after = add_user(s, "after@example.com");
	cutover_identity_stats(s, &st);
	assert_int_equal(st.journaled, 11);
	char *n = test_sql_value(&e, "SELECT count(*) FROM identity.users");
	assert_string_equal(n, "4"); /* 3 before + 1 after */
	free(n);
	(void)after;
	cutover_identity_free(s);
	test_env_fini(&e);
}

/* json is authoritative in dualwrite: an app starting while postgres is down
 * still starts, serves every call and journals; live refuses to start. */
static void dualwrite_opens_while_postgres_is_down(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultopen");
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_STOP")), 0);
	test_log_reset();
	cutover_identity *s = open_stage(&e, "dualwrite");
	assert_non_null(strstr(test_log_text(), "postgres is unreachable"));
	int64_t id = add_user(s, "while-down@example.com");
	cutover_stats st;
	cutover_identity_stats(s, &st);
	assert_int_equal(st.journaled, 1);
	e.opts.stage = "live";
	cutover_identity *live = NULL;
	assert_int_equal(cutover_identity_open(&live, &e.opts, &err), CUTOVER_EUNAVAILABLE);
	assert_null(live);
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_START")), 0);
	/* the same handle reaches postgres once it is back */
	add_user(s, "after-start@example.com");
	cutover_identity_stats(s, &st);
	assert_int_equal(st.journaled, 1);
	char *n = test_sql_value(&e, "SELECT count(*) FROM identity.users");
	assert_string_equal(n, "1");
	free(n);
	(void)id;
	cutover_identity_free(s);
	test_env_fini(&e);
}

static void shadow_reports_a_row_changed_behind_its_back(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultsh");
	cutover_identity *s = open_stage(&e, "shadow");
	int64_t id = add_user(s, "tampered@example.com");
	test_sql(&e, "UPDATE identity.users SET display_name = 'Tampered', "
		     "password_hash = 'PLAINTEXT-SHOULD-NEVER-PRINT' WHERE email = 'tampered@example.com'");
	test_log_reset();
	cutover_user *u = NULL;
	expect_ok(cutover_identity_get_user(s, &u, id, &err));
	assert_string_equal(u->display_name, "Worker"); /* json is authoritative in shadow */
	cutover_user_free(u);
	cutover_stats st;
	cutover_identity_stats(s, &st);
	assert_int_equal(st.mismatches, 1);
	const char *log = test_log_text();
	assert_non_null(strstr(log, "domain=identity"));
	assert_non_null(strstr(log, "op=get_user"));
	assert_non_null(strstr(log, "display_name"));
	assert_non_null(strstr(log, "password_hash"));
	assert_null(strstr(log, "PLAINTEXT-SHOULD-NEVER-PRINT"));
	assert_null(strstr(log, "SECRETSECRET"));
	assert_null(strstr(log, "Tampered"));

	/* a row missing on one side is reported too */
	test_sql(&e, "DELETE FROM identity.users WHERE email = 'tampered@example.com'");
	test_log_reset();
	expect_ok(cutover_identity_get_user_by_email(s, &u, "tampered@example.com", &err));
	cutover_user_free(u);
	assert_non_null(strstr(test_log_text(), "missing in postgres"));
	assert_null(strstr(test_log_text(), "tampered@example.com")); /* emails print as fingerprints */
	cutover_identity_stats(s, &st);
	assert_int_equal(st.mismatches, 2);
	cutover_identity_free(s);
	test_env_fini(&e);
}

static void live_is_refused_while_the_sequence_is_behind(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultseq");
	cutover_identity *s = open_stage(&e, "dualwrite");
	for (int i = 0; i < 3; i++) {
		char email[64];
		snprintf(email, sizeof(email), "seq-%d@example.com", i);
		add_user(s, email);
	}
	cutover_identity_free(s);

	static const char *const pg_first[] = {"live", "rampdown", "postgres"};
	char hint[sizeof(err.hint)];
	for (size_t i = 0; i < 3; i++) {
		e.opts.stage = pg_first[i];
		s = NULL;
		assert_int_equal(cutover_identity_open(&s, &e.opts, &err), CUTOVER_ESTATE);
		assert_null(s);
		assert_non_null(strstr(err.message, "identity.users"));
		assert_non_null(strstr(err.hint, "setval"));
		memcpy(hint, err.hint, sizeof(hint));
	}
	/* json-authoritative stages do not care */
	cutover_identity_free(open_stage(&e, "shadow"));

	/* the hint is the repair: run it and live opens */
	const char *sql = strstr(hint, "SELECT setval");
	assert_non_null(sql);
	test_sql(&e, sql);
	s = open_stage(&e, "live");
	int64_t id = add_user(s, "after-repair@example.com");
	assert_true(id == 4);
	cutover_identity_free(s);
	s = open_stage(&e, "json");
	cutover_user *u = NULL;
	expect_ok(cutover_identity_get_user(s, &u, 4, &err)); /* the second write reached json */
	cutover_user_free(u);
	cutover_identity_free(s);
	test_env_fini(&e);
}

int main(void)
{
	test_log_capture();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(postgres_stopped_during_dualwrite),
		cmocka_unit_test(dualwrite_opens_while_postgres_is_down),
		cmocka_unit_test(shadow_reports_a_row_changed_behind_its_back),
		cmocka_unit_test(live_is_refused_while_the_sequence_is_behind),
	};
	int rc = cmocka_run_group_tests_name("stage faults", tests, NULL, NULL);
	test_log_reset();
	return rc;
}
