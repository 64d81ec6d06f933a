/* test_faults.c — what happens when one store misbehaves.
 *
 *  - Postgres stopped in the middle of a dualwrite workload: every app call
 *    still succeeds (json is authoritative) and every affected key is in the
 *    journal.
 *  - A row changed in Postgres behind the library's back, read in shadow:
 *    json's answer is returned, the mismatch is reported field by field and
 *    counted, and the password hash never appears. The same for a report
 *    and a portfolio: domain, operation, key and fields, never a value.
 *  - Entering live while identity.users' sequence is behind its max id is
 *    refused with the setval SQL as the hint; after running it, live opens.
 *    Another process creating users meanwhile never gets live refused.
 *  - put_user (replication) never replaces a different user: a row with the
 *    same id and another email is refused in both stores and left as it was.
 *  - Only integrity violations (SQLSTATE class 23) are reworded from the
 *    constraint they name.
 *  - A session only Postgres holds is deleted through a dualwrite handle too.
 *  - An unreachable Postgres is not retried for 2s after a failed attempt,
 *    so dual-stage calls do not each wait out connect_timeout.
 *  - Dirty legacy records: scans step over what they cannot read; only the
 *    record a call must return or rewrite makes it fail. Messages carry no
 *    emails or oauth subjects.
 *  - A legacy document that repeats a key is listed with its first record once.
 *  - A directory fsync that fails after the rename still reports the put
 *    as done (fsync is interposed below to fail on directories on demand).
 *
 * Runs under tests/with-postgres.sh, which provides CUTOVER_TEST_PG_STOP/START.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_store.h"
#include "support.h"

static cutover_error err;

/* fsync, interposed: with fail_dir_fsync set, syncing a directory fails with
 * EIO (files still sync); otherwise the real system call. */
static int fail_dir_fsync;

int fsync(int fd)
{
	struct stat st;
	if (fail_dir_fsync && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

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
	sleep(2); /* after a failed attempt the connection is not retried for 2s */

	char path[400];
	snprintf(path, sizeof(path), "%s/identity.journal", e.journal);
	char *journal = test_read_file(path, NULL);
	assert_non_null(journal);
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
	sleep(2); /* after a failed attempt the connection is not retried for 2s */
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

/* The same for reports and profile: a row changed in Postgres, read in
 * shadow, is reported by domain, operation, key and field, never a value. */
static void shadow_reports_a_report_and_a_portfolio_changed_behind_its_back(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultshrp");
	cutover_identity *ids = open_stage(&e, "shadow");
	int64_t uid = add_user(ids, "author@example.com");
	cutover_identity_free(ids);
	char key[64], id_text[24];
	cutover_stats st;

	cutover_reports *reps = NULL;
	expect_ok(cutover_reports_open(&reps, &e.opts, &err));
	cutover_report in = {.title = "Original title", .content = "Original content", .severity = "high",
			     .author_id = uid, .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL,
			     .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	expect_ok(cutover_reports_create(reps, &r, &in, &err));
	int64_t rid = r->id;
	cutover_report_free(r);
	snprintf(id_text, sizeof id_text, "%lld", (long long)rid);
	const char *rid_param[] = {id_text};
	test_sql_params(&e, "UPDATE operations.reports SET title = 'Tampered title', content = 'Tampered content' "
			    "WHERE id = $1::int8", 1, rid_param);
	test_log_reset();
	expect_ok(cutover_reports_get(reps, &r, rid, &err));
	assert_string_equal(r->title, "Original title"); /* json is authoritative in shadow */
	cutover_report_free(r);
	cutover_reports_stats(reps, &st);
	assert_int_equal(st.mismatches, 1);
	const char *log = test_log_text();
	snprintf(key, sizeof key, "key=%lld ", (long long)rid);
	assert_non_null(strstr(log, "domain=reports"));
	assert_non_null(strstr(log, "op=get_report"));
	assert_non_null(strstr(log, key));
	assert_non_null(strstr(log, "title"));
	assert_non_null(strstr(log, "content"));
	assert_null(strstr(log, "Tampered"));
	assert_null(strstr(log, "Original"));
	cutover_reports_free(reps);

	cutover_profile *prof = NULL;
	expect_ok(cutover_profile_open(&prof, &e.opts, &err));
	cutover_portfolio pin = {.user_id = uid, .headline = "Original headline", .bio = "Original bio",
				 .updated_at = CUTOVER_TS_NULL};
	cutover_portfolio *p = NULL;
	expect_ok(cutover_profile_put(prof, &p, &pin, &err));
	cutover_portfolio_free(p);
	snprintf(id_text, sizeof id_text, "%lld", (long long)uid);
	const char *uid_param[] = {id_text};
	test_sql_params(&e, "UPDATE content.portfolio_profiles SET headline = 'Tampered headline' WHERE user_id = $1::int8",
			1, uid_param);
	test_log_reset();
	expect_ok(cutover_profile_get(prof, &p, uid, &err));
	assert_string_equal(p->headline, "Original headline");
	cutover_portfolio_free(p);
	cutover_profile_stats(prof, &st);
	assert_int_equal(st.mismatches, 1);
	log = test_log_text();
	snprintf(key, sizeof key, "key=%lld ", (long long)uid);
	assert_non_null(strstr(log, "domain=profile"));
	assert_non_null(strstr(log, "op=get_profile"));
	assert_non_null(strstr(log, key));
	assert_non_null(strstr(log, "headline"));
	assert_null(strstr(log, "bio"));
	assert_null(strstr(log, "Tampered"));
	assert_null(strstr(log, "Original"));
	cutover_profile_free(prof);
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
	/* second writes move the sequence past the ids they carry: live opens */
	cutover_identity_free(open_stage(&e, "live"));
	/* rows loaded with explicit ids (a backfill's COPY) leave it behind */
	test_sql(&e, "SELECT setval('identity.users_id_seq', 1, false)");

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

/* Another process creating users (nextval, committed one at a time) while
 * live is opened over and over: the sequence check must never see a row
 * committed after it read the sequence, or a healthy sequence looks behind
 * and live is refused. The child creates users for a few seconds and says
 * when it has made its first; the parent opens live until the child is done
 * (at most 400 times) and counts refusals. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void creating_users(const char *conninfo, int ready_fd)
{
	cutover_error cerr;
	cutover_identity *ids = NULL;
	if (cutover_identity_postgres(&ids, conninfo, &cerr) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &cerr);
		_exit(1);
	}
	double until = now_s() + 3.0;
	for (int i = 0; i < 100000 && now_s() < until; i++) {
		char email[64];
		snprintf(email, sizeof(email), "writer-%d@example.com", i);
		cutover_user in = {.email = email, .role = "viewer", .display_name = "Writer",
				   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL,
				   .updated_at = CUTOVER_TS_NULL};
		cutover_user *u = NULL;
		if (cutover_identity_create_user(ids, &u, &in, &cerr) != CUTOVER_OK) {
			cutover_error_fprint(stderr, &cerr);
			_exit(1);
		}
		cutover_user_free(u);
		if (i == 0 && (write(ready_fd, "r", 1) != 1 || close(ready_fd) != 0))
			_exit(1);
	}
	cutover_identity_free(ids);
	_exit(0);
}

static void live_opens_while_another_process_creates_users(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultseqrace");
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(ready[0]);
		creating_users(e.conninfo, ready[1]);
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1); /* the writer has started */
	close(ready[0]);

	int opens = 0, refused = 0, status = 0;
	char first[sizeof(err.message)] = "";
	pid_t done = 0;
	while (opens < 400 && (done = waitpid(child, &status, WNOHANG)) == 0) {
		e.opts.stage = "live";
		cutover_identity *s = NULL;
		int rc = cutover_identity_open(&s, &e.opts, &err);
		opens++;
		if (rc != CUTOVER_OK) {
			if (!refused++)
				snprintf(first, sizeof(first), "%s", err.message);
			continue;
		}
		cutover_identity_free(s);
	}
	if (done == 0)
		done = waitpid(child, &status, 0);
	assert_int_equal(done, child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	long long made = test_count(&e, "SELECT count(*) FROM identity.users");
	print_message("%d live opens while another process created %lld users: %d refused%s%s\n", opens, made,
		      refused, refused ? ", first: " : "", first);
	assert_true(made > 1);
	assert_true(opens > 10);
	assert_int_equal(refused, 0);
	test_env_fini(&e);
}

/* --- put_user never replaces another user ------------------------------------ */

static void put_user_refuses_a_different_user_with_the_same_id(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultput");
	cutover_identity *stores[2] = {NULL, NULL};
	expect_ok(cutover_identity_json(&stores[0], e.root, NULL, &err));
	expect_ok(cutover_identity_postgres(&stores[1], e.conninfo, &err));
	for (int i = 0; i < 2; i++) {
		cutover_identity *s = stores[i];
		cutover_user in = {.email = "owner@example.com", .role = "viewer", .display_name = "Owner",
				   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL,
				   .updated_at = CUTOVER_TS_NULL};
		cutover_user *u = NULL, *g = NULL;
		expect_ok(cutover_identity_create_user(s, &u, &in, &err));
		assert_true(u->id == 1);

		/* the same id, another email: another user, never overwritten */
		cutover_user other = *u;
		other.email = "intruder@example.com";
		other.display_name = "Intruder";
		assert_int_equal(s->put_user(s, &other, &err), CUTOVER_ECONFLICT);
		assert_non_null(strstr(err.message, "belongs to another email; not replaced"));
		assert_null(strstr(err.message, "@example.com"));
		expect_ok(cutover_identity_get_user(s, &g, 1, &err));
		assert_string_equal(g->email, "owner@example.com");
		assert_string_equal(g->display_name, "Owner");
		cutover_user_free(g);
		assert_int_equal(cutover_identity_get_user_by_email(s, &g, "intruder@example.com", &err),
				 CUTOVER_ENOTFOUND);

		/* the same user is still replicated (email compared normalised) */
		cutover_user same = *u;
		same.email = " OWNER@example.com";
		same.display_name = "Owner, renamed";
		expect_ok(s->put_user(s, &same, &err));
		expect_ok(cutover_identity_get_user(s, &g, 1, &err));
		assert_string_equal(g->email, "owner@example.com");
		assert_string_equal(g->display_name, "Owner, renamed");
		cutover_user_free(g);
		cutover_user_free(u);
		cutover_identity_free(s);
	}
	test_env_fini(&e);
}

/* A put with an explicit id (replication while json is authoritative) moves
 * the id sequence past it, so a process already in live never draws it. */
static void puts_move_the_sequence_past_their_id(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultputseq");
	cutover_identity *ids = NULL;
	expect_ok(cutover_identity_postgres(&ids, e.conninfo, &err));
	cutover_user u = {.id = 40, .email = "forty@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			  .created_at = cutover_now(), .updated_at = cutover_now()};
	expect_ok(ids->put_user(ids, &u, &err));
	int64_t next = add_user(ids, "next@example.com");
	assert_true(next == 41);

	cutover_reports *reps = NULL;
	expect_ok(cutover_reports_postgres(&reps, e.conninfo, &err));
	cutover_report r = {.id = 50, .title = "Replicated", .severity = "low", .status = "active", .author_id = 40,
			    .created_at = cutover_now(), .updated_at = cutover_now(), .archived_at = CUTOVER_TS_NULL};
	expect_ok(reps->put_report(reps, &r, &err));
	cutover_report in = {.title = "Made in live", .severity = "low", .author_id = 40, .created_at = CUTOVER_TS_NULL,
			     .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *made = NULL;
	expect_ok(cutover_reports_create(reps, &made, &in, &err));
	assert_true(made->id == 51);
	cutover_report_free(made);
	cutover_reports_free(reps);
	cutover_identity_free(ids);
	test_env_fini(&e);
}

/* Only integrity violations (SQLSTATE class 23) are reworded from the
 * constraint they name: another error that happens to carry a constraint
 * name (here a trigger's RAISE ... CONSTRAINT) keeps Postgres's message. */
static void only_integrity_errors_are_explained_by_their_constraint(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultcons");
	test_sql(&e, "CREATE FUNCTION cutover_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		     "RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = '40001', CONSTRAINT = 'users_email_key'; "
		     "END $$");
	test_sql(&e, "CREATE TRIGGER refuse BEFORE INSERT ON identity.users FOR EACH ROW EXECUTE FUNCTION cutover_test_refuse()");
	cutover_identity *pg = NULL;
	expect_ok(cutover_identity_postgres(&pg, e.conninfo, &err));
	cutover_user in = {.email = "trigger@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	int rc = cutover_identity_create_user(pg, &u, &in, &err);
	assert_int_not_equal(rc, CUTOVER_OK);
	assert_int_not_equal(rc, CUTOVER_ECONFLICT);
	assert_string_equal(err.sqlstate, "40001");
	assert_null(strstr(err.message, "email already taken"));
	assert_non_null(strstr(err.message, "refused by a trigger"));
	cutover_identity_free(pg);
	test_env_fini(&e);
}

/* --- deleting a session reaches the secondary ---------------------------------- */

static void delete_session_reaches_a_copy_only_the_secondary_holds(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultdel");
	cutover_identity *s = open_stage(&e, "dualwrite");
	int64_t uid = add_user(s, "logout@example.com");
	/* a session only Postgres holds (say live wrote it and the json copy failed) */
	cutover_identity *pg = NULL;
	expect_ok(cutover_identity_postgres(&pg, e.conninfo, &err));
	add_session(pg, 300, uid);
	char tok[65];
	test_token(300, tok);
	assert_int_equal(cutover_identity_delete_session(s, tok, &err), CUTOVER_ENOTFOUND); /* json had none */
	cutover_session *ss = NULL;
	assert_int_equal(cutover_identity_get_session(pg, &ss, tok, &err), CUTOVER_ENOTFOUND);
	cutover_stats st;
	cutover_identity_stats(s, &st);
	assert_int_equal(st.secondary_failures, 0);
	cutover_identity_free(pg);
	cutover_identity_free(s);
	test_env_fini(&e);
}

/* --- an unreachable postgres fails fast ------------------------------------------ */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A listener that never accepts: the TCP handshake completes in the kernel
 * and libpq then waits out connect_timeout (2s, libpq's minimum) for a
 * server that never speaks. Without the quiet period every dualwrite call
 * would wait that long again. */
static void unreachable_postgres_is_not_retried_on_every_call(void **state)
{
	(void)state;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ls >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(ls, 64), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	char conninfo[128];
	snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=nowhere connect_timeout=2",
		 (int)ntohs(a.sin_port));

	test_env e;
	test_env_init(&e, "faultfast");
	e.opts.database_url = conninfo;
	test_log_reset();
	cutover_identity *s = open_stage(&e, "dualwrite"); /* one attempt: ~2s */
	assert_non_null(strstr(test_log_text(), "postgres is unreachable"));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 3; i++) {
		char email[64];
		snprintf(email, sizeof email, "fast-%d@example.com", i);
		add_user(s, email);
	}
	assert_true(seconds_since(&t0) < 1.5); /* without the quiet period: 3 more attempts, >= 6s */
	cutover_stats st;
	cutover_identity_stats(s, &st);
	assert_int_equal(st.journaled, 3); /* every second write is still journaled */
	assert_non_null(strstr(test_log_text(), "not retried"));
	cutover_identity_free(s);
	close(ls);
	test_env_fini(&e);
}

/* --- dirty legacy records ------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void one_unreadable_record_does_not_block_the_others(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultdirty");
	char path[400];
	snprintf(path, sizeof path, "%s/identity", e.root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/identity/users.json", e.root);
	write_text(path,
		   "{\"users\": [\n"
		   "{\"id\": 1, \"email\": \"one@example.com\", \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   /* position 2: no email */
		   "{\"id\": 2, \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   "{\"id\": 3, \"email\": \"three@example.com\", \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\",\n"
		   " \"oauth\": [{\"provider\": \"github\", \"subject\": \"gh-3\"}]},\n"
		   /* position 4: a string id; its email still counts for uniqueness */
		   "{\"id\": \"4\", \"email\": \"clash@example.com\", \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   /* position 5: a bad role; its id still counts for max + 1 */
		   "{\"id\": 9, \"email\": \"nine@example.com\", \"role\": \"superuser\", \"created_at\": \"2023-01-01T00:00:00Z\",\n"
		   " \"oauth\": [{\"provider\": \"google\", \"subject\": \"g-9-secret-subject\"}]}\n"
		   "]}\n");
	snprintf(path, sizeof path, "%s/identity/sessions.json", e.root);
	char t1[65], t2[65];
	test_token(401, t1);
	test_token(402, t2);
	char sessions[1024];
	snprintf(sessions, sizeof sessions,
		 "{\"sessions\": [\n"
		 "{\"user_id\": 1, \"created_at\": \"2023-01-01T00:00:00Z\", \"expires_at\": \"2999-01-01T00:00:00Z\"},\n"
		 "{\"token_hash\": \"%s\", \"user_id\": 1, \"created_at\": \"2023-01-01T00:00:00Z\", \"expires_at\": \"2999-01-01T00:00:00Z\"},\n"
		 "{\"token_hash\": \"%s\", \"user_id\": 1, \"created_at\": \"2023-01-01T00:00:00Z\", \"expires_at\": \"someday\"}\n"
		 "]}\n",
		 t1, t2);
	write_text(path, sessions);

	cutover_identity *s = open_stage(&e, "json");
	cutover_user *u = NULL;
	test_log_reset();
	expect_ok(cutover_identity_get_user(s, &u, 3, &err));
	assert_string_equal(u->email, "three@example.com");
	cutover_user_free(u);
	expect_ok(cutover_identity_get_user_by_email(s, &u, "THREE@example.com", &err));
	assert_true(u->id == 3);
	cutover_user_free(u);
	const char *log = test_log_text(); /* the email scan stepped over record 2 */
	assert_non_null(strstr(log, "identity/users.json: 1 record, the first at position 2"));
	expect_ok(cutover_identity_get_user_by_oauth(s, &u, "github", "gh-3", &err));
	assert_true(u->id == 3);
	cutover_user_free(u);
	cutover_user_list l = {0};
	expect_ok(cutover_identity_list_assignable_users(s, &l, NULL, &err));
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].id == 1 && l.items[1].id == 3);
	cutover_user_list_free(&l);

	/* new ids are max + 1 over every id that reads as an integer (9 here) */
	cutover_user in = {.email = "new@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	expect_ok(cutover_identity_create_user(s, &u, &in, &err));
	assert_true(u->id == 10);
	cutover_user_free(u);
	/* keys of unreadable records that can be read still clash; messages name no email or subject */
	in.email = "clash@example.com";
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "email already taken"));
	assert_null(strstr(err.message, "clash@"));
	in.email = "someone@example.com";
	in.id = 9; /* held by the record with a bad role */
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_ECONFLICT);
	in.id = 0;
	cutover_oauth_link link = {"google", "g-9-secret-subject"};
	in.oauth = &link;
	in.n_oauth = 1;
	assert_int_equal(cutover_identity_create_user(s, &u, &in, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "oauth link google already linked"));
	assert_null(strstr(err.message, "g-9-secret-subject"));
	assert_int_equal(cutover_identity_get_user_by_email(s, &u, "nobody@example.com", &err), CUTOVER_ENOTFOUND);
	assert_null(strstr(err.message, "nobody@"));
	assert_int_equal(cutover_identity_get_user_by_oauth(s, &u, "github", "gh-nobody", &err), CUTOVER_ENOTFOUND);
	assert_null(strstr(err.message, "gh-nobody"));

	/* the record a call must return or rewrite is the only one that fails it */
	assert_int_equal(cutover_identity_get_user(s, &u, 2, &err), CUTOVER_ECORRUPT);
	assert_non_null(strstr(err.message, "record 2"));
	assert_int_equal(cutover_identity_get_user(s, &u, 9, &err), CUTOVER_ECORRUPT);
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "x"};
	assert_int_equal(cutover_identity_update_user(s, &u, 2, &p, &err), CUTOVER_ECORRUPT);
	expect_ok(cutover_identity_update_user(s, &u, 3, &p, &err));
	cutover_user_free(u);
	cutover_user put = {.id = 2, .email = "two@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			    .created_at = 1, .updated_at = 1};
	assert_int_equal(s->put_user(s, &put, &err), CUTOVER_ECORRUPT);

	/* sessions: the same */
	cutover_session *ss = NULL;
	expect_ok(cutover_identity_get_session(s, &ss, t1, &err));
	cutover_session_free(ss);
	assert_int_equal(cutover_identity_get_session(s, &ss, t2, &err), CUTOVER_ECORRUPT);
	size_t n = 99;
	expect_ok(cutover_identity_delete_expired_sessions(s, CUTOVER_TS_NOW, &n, &err));
	assert_int_equal(n, 0);
	expect_ok(cutover_identity_delete_session(s, t1, &err));

	/* reports name documents and positions, never what the records hold */
	log = test_log_text();
	assert_null(strstr(log, "@example.com"));
	assert_null(strstr(log, "g-9-secret-subject"));
	cutover_identity_free(s);
	test_env_fini(&e);
}

/* --- a directory fsync failing after the rename ----------------------------------- */

/* A legacy document that repeats a key: lists show the first record of it
 * once (as get finds it and the backfill keeps it), and say they skipped
 * the rest. */
static void a_repeated_key_is_listed_once_the_first_record(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "faultrepeat");
	char path[400];
	snprintf(path, sizeof path, "%s/identity", e.root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/reports", e.root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/identity/users.json", e.root);
	write_text(path,
		   "{\"users\": [\n"
		   "{\"id\": 1, \"email\": \"one@example.com\", \"role\": \"viewer\", \"display_name\": \"First\","
		   " \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   /* position 2: id 1 again */
		   "{\"id\": 1, \"email\": \"other@example.com\", \"role\": \"viewer\", \"display_name\": \"Second\","
		   " \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   /* position 3: user 1's email key again */
		   "{\"id\": 2, \"email\": \" ONE@example.com\", \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   "{\"id\": 3, \"email\": \"three@example.com\", \"role\": \"viewer\", \"created_at\": \"2023-01-01T00:00:00Z\"}\n"
		   "]}\n");
	snprintf(path, sizeof path, "%s/reports/reports.json", e.root);
	write_text(path,
		   "{\"reports\": [\n"
		   "{\"id\": 7, \"title\": \"First\", \"severity\": \"low\", \"status\": \"active\", \"author_id\": 1,"
		   " \"created_at\": \"2023-01-01T00:00:00Z\"},\n"
		   /* position 2: id 7 again, newer, so it would sort first */
		   "{\"id\": 7, \"title\": \"Second\", \"severity\": \"high\", \"status\": \"active\", \"author_id\": 1,"
		   " \"created_at\": \"2023-06-01T00:00:00Z\"},\n"
		   "{\"id\": 8, \"title\": \"Other\", \"severity\": \"low\", \"status\": \"active\", \"author_id\": 1,"
		   " \"created_at\": \"2023-02-01T00:00:00Z\"}\n"
		   "]}\n");

	cutover_identity *ids = NULL;
	expect_ok(cutover_identity_json(&ids, e.root, NULL, &err));
	test_log_reset();
	cutover_user_list l;
	expect_ok(cutover_identity_list_assignable_users(ids, &l, NULL, &err));
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].id == 1);
	assert_string_equal(l.items[0].display_name, "First");
	assert_true(l.items[1].id == 3);
	cutover_user_list_free(&l);
	assert_non_null(strstr(test_log_text(), "2 records, the first at position 2"));
	assert_null(strstr(test_log_text(), "@example.com"));
	cutover_identity_free(ids);

	cutover_reports *reps = NULL;
	expect_ok(cutover_reports_json(&reps, e.root, NULL, &err));
	test_log_reset();
	cutover_report_page pg;
	expect_ok(cutover_reports_list(reps, &pg, NULL, NULL, 10, &err));
	assert_int_equal(pg.n, 2);
	assert_true(pg.items[0].id == 8 && pg.items[1].id == 7);
	assert_string_equal(pg.items[1].title, "First");
	cutover_report_page_free(&pg);
	assert_non_null(strstr(test_log_text(), "1 record, the first at position 2"));
	cutover_report *r = NULL;
	expect_ok(cutover_reports_get(reps, &r, 7, &err));
	assert_string_equal(r->title, "First");
	cutover_report_free(r);
	cutover_reports_free(reps);
	test_env_fini(&e);
}

static void a_failed_directory_sync_after_the_rename_is_not_a_failed_put(void **state)
{
	(void)state;
	char root[] = "/tmp/cutover-test-dirsync-XXXXXX";
	assert_non_null(mkdtemp(root));
	co_transport *t = NULL;
	expect_ok(co_transport_local(&t, root, &err));
	char version[CO_VERSION_LEN];
	test_log_reset();
	fail_dir_fsync = 1;
	int rc = t->put(t, "identity/users.json", "{\"users\":[]}", 12, NULL, version, &err);
	fail_dir_fsync = 0;
	expect_ok(rc);
	assert_true(version[0] != '\0');
	assert_non_null(strstr(test_log_text(), "syncing its directory failed"));
	char *data = NULL;
	size_t len = 0;
	expect_ok(t->get(t, "identity/users.json", &data, &len, version, &err));
	assert_int_equal(len, 12);
	free(data);
	t->free(t);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	test_shell(cmd);
}

int main(void)
{
	test_log_capture();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(postgres_stopped_during_dualwrite),
		cmocka_unit_test(dualwrite_opens_while_postgres_is_down),
		cmocka_unit_test(shadow_reports_a_row_changed_behind_its_back),
		cmocka_unit_test(shadow_reports_a_report_and_a_portfolio_changed_behind_its_back),
		cmocka_unit_test(live_is_refused_while_the_sequence_is_behind),
		cmocka_unit_test(live_opens_while_another_process_creates_users),
		cmocka_unit_test(put_user_refuses_a_different_user_with_the_same_id),
		cmocka_unit_test(puts_move_the_sequence_past_their_id),
		cmocka_unit_test(only_integrity_errors_are_explained_by_their_constraint),
		cmocka_unit_test(delete_session_reaches_a_copy_only_the_secondary_holds),
		cmocka_unit_test(unreachable_postgres_is_not_retried_on_every_call),
		cmocka_unit_test(one_unreadable_record_does_not_block_the_others),
		cmocka_unit_test(a_repeated_key_is_listed_once_the_first_record),
		cmocka_unit_test(a_failed_directory_sync_after_the_rename_is_not_a_failed_put),
	};
	int rc = cmocka_run_group_tests_name("stage faults", tests, NULL, NULL);
	test_log_reset();
	return rc;
}
