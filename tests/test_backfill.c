/* test_backfill.c — the identity operator path, end to end, on generated state.
 *
 *  - the dirty corpus: survey and dry run report it and write nothing; --apply
 *    rejects exactly the injected records, keeps their original bytes, lands
 *    every clean record, and verify then passes every check;
 *  - a second --apply writes nothing;
 *  - kill -9 in the middle of --apply, then a re-run, ends exactly like an
 *    uninterrupted run;
 *  - two --apply runs at once end like one;
 *  - verify fails on a row altered behind its back (never printing the hash)
 *    and on a sequence set behind;
 *  - a rehearsal on chosen users loads only them and their sessions.
 *
 * usage: test_backfill PATH-TO-cutover PATH-TO-cutover-gen-legacy  (under with-postgres.sh)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "support.h"

static const char *gen_bin;

/* A digest of every identity row, to compare two databases. */
static char *digest(const test_env *e)
{
	return test_sql_value(e, "SELECT md5(concat("
				 "(SELECT string_agg(u::text, '|' ORDER BY id) FROM identity.users u),"
				 "(SELECT string_agg(o::text, '|' ORDER BY user_id, position) FROM identity.user_oauth o),"
				 "(SELECT string_agg(s::text, '|' ORDER BY token_hash) FROM identity.sessions s)))");
}

static void dirty_corpus_end_to_end(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bfdirty");
	test_generate(&e, gen_bin, "--users 300 --dirty --seed 11");
	int clean_users = test_manifest_int(&e, "manifest.json", "users", "clean"), clean_sessions = test_manifest_int(&e, "manifest.json", "sessions", "clean");
	int bad = test_manifest_int(&e, "manifest.json", "users", "rejects") + test_manifest_int(&e, "manifest.json", "sessions", "rejects");

	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "survey identity"), 1);
	assert_non_null(strstr(out, "records 315, mappable 300"));
	free(out);

	/* the dry run says what it would do and writes nothing */
	assert_int_equal(test_cutover(&e, &out, "backfill identity"), 1);
	assert_non_null(strstr(out, "dry run"));
	assert_non_null(strstr(out, "would insert 300"));
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.sessions"), 0);

	char rej[400];
	snprintf(rej, sizeof(rej), "backfill identity --apply --rejects '%s/rejects'", e.root);
	assert_int_equal(test_cutover(&e, &out, rej), 1);
	assert_non_null(strstr(out, "inserted 300"));
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users"), clean_users);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.sessions"), clean_sessions);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.user_oauth"), test_manifest_int(&e, "manifest.json", NULL, "oauth_links"));

	/* exactly the injected records were rejected, each kept byte for byte */
	char path[512];
	snprintf(path, sizeof(path), "%s/expected-rejects.ndjson", e.root);
	char *expected = test_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/rejects/identity/reasons.ndjson", e.root);
	char *reasons = test_read_file(path, NULL);
	assert_non_null(reasons);
	int lines = 0;
	for (char *line = strtok(reasons, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		cJSON *r = cJSON_Parse(line);
		assert_non_null(r);
		const char *file = cJSON_GetObjectItem(r, "file")->valuestring;
		int pos = cJSON_GetObjectItem(r, "position")->valueint;
		char want[160];
		snprintf(want, sizeof(want), "{\"file\":\"%s\",\"position\":%d,", file, pos);
		if (!strstr(expected, want))
			fail_msg("rejected %s record %d was not injected: %s", file, pos,
				 cJSON_GetObjectItem(r, "reason")->valuestring);
		size_t slen = 0, rlen = 0;
		char src[512], dst[512];
		snprintf(src, sizeof(src), "%s/%s", e.root, file);
		snprintf(dst, sizeof(dst), "%s/rejects/%s", e.root, file);
		char *a = test_read_file(src, &slen), *b = test_read_file(dst, &rlen);
		size_t off = (size_t)cJSON_GetObjectItem(r, "offset")->valuedouble;
		size_t at = (size_t)cJSON_GetObjectItem(r, "reject_offset")->valuedouble;
		size_t len = (size_t)cJSON_GetObjectItem(r, "length")->valuedouble;
		assert_true(off + len <= slen && at + len <= rlen);
		assert_memory_equal(a + off, b + at, len);
		free(a);
		free(b);
		cJSON_Delete(r);
	}
	assert_int_equal(lines, bad);
	free(expected);
	free(reasons);

	assert_int_equal(test_cutover(&e, &out, "backfill identity --apply --repair-sequences"), 1);
	assert_non_null(strstr(out, "inserted 0; unchanged 300"));
	assert_non_null(strstr(out, "sequence repair (done)"));
	free(out);
	int rc = test_cutover(&e, &out, "verify identity");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "\xe2\x9c\x97")); /* no ✗ */
	free(out);
	test_env_fini(&e);
}

static void second_apply_writes_nothing(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bftwice");
	test_generate(&e, gen_bin, "--users 500 --seed 3");
	assert_int_equal(test_cutover(&e, NULL, "backfill identity --apply"), 0);
	char *before = digest(&e);
	char *xmin = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM identity.users");
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "backfill identity --apply"), 0);
	assert_non_null(strstr(out, "inserted 0; unchanged 500"));
	assert_non_null(strstr(out, "inserted 0; unchanged 1500"));
	free(out);
	char *after = digest(&e);
	char *xmin2 = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM identity.users");
	assert_string_equal(before, after);
	assert_string_equal(xmin, xmin2); /* no row was rewritten */
	free(before);
	free(after);
	free(xmin);
	free(xmin2);
	test_env_fini(&e);
}

static void kill_9_then_rerun_equals_a_clean_run(void **state)
{
	(void)state;
	test_env a, b;
	test_env_init(&a, "bfkill");
	test_env_init(&b, "bfclean");
	test_generate(&a, gen_bin, "--users 6000 --seed 5");
	test_generate(&b, gen_bin, "--users 6000 --seed 5");
	assert_int_equal(test_cutover(&b, NULL, "backfill identity --apply --batch 100"), 0);
	long long total_sessions = test_count(&b, "SELECT count(*) FROM identity.sessions");

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CUTOVER_JSON_ROOT", a.root, 1);
		setenv("DATABASE_URL", a.conninfo, 1);
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(test_cutover_bin, test_cutover_bin, "backfill", "identity", "--apply", "--batch", "100", (char *)NULL);
		_exit(127);
	}
	/* wait until some batches are committed, then kill it (bounded: 60 s) */
	long long seen = 0;
	for (int i = 0; i < 6000 && seen == 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		seen = test_count(&a, "SELECT count(*) FROM identity.users");
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
	long long partial = test_count(&a, "SELECT count(*) FROM identity.sessions");
	assert_true(seen > 0);
	assert_true(partial < total_sessions); /* it really was interrupted */

	assert_int_equal(test_cutover(&a, NULL, "backfill identity --apply --batch 100"), 0);
	char *da = digest(&a), *db = digest(&b);
	assert_string_equal(da, db);
	free(da);
	free(db);
	test_env_fini(&a);
	test_env_fini(&b);
}

static void two_concurrent_applies_end_like_one(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bfconc");
	test_generate(&e, gen_bin, "--users 3000 --seed 9");
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "export CUTOVER_JSON_ROOT='%s' DATABASE_URL='%s'; "
		 "'%s' backfill identity --apply --batch 200 >%s/one.log 2>&1 & one=$!; "
		 "'%s' backfill identity --apply --batch 200 >%s/two.log 2>&1 & two=$!; "
		 "wait $one; a=$?; wait $two; b=$?; test $a = 0 && test $b = 0",
		 e.root, e.conninfo, test_cutover_bin, e.root, test_cutover_bin, e.root);
	assert_int_equal(test_shell(cmd), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users"), 3000);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.sessions"), 9000);
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "backfill identity --apply --repair-sequences"), 0);
	assert_non_null(strstr(out, "inserted 0; unchanged 3000"));
	free(out);
	assert_int_equal(test_cutover(&e, NULL, "verify identity"), 0);
	test_env_fini(&e);
}

static void verify_fails_on_an_altered_row_and_a_sequence_behind(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bfverify");
	test_generate(&e, gen_bin, "--users 200 --seed 21");
	assert_int_equal(test_cutover(&e, NULL, "backfill identity --apply --repair-sequences"), 0);
	assert_int_equal(test_cutover(&e, NULL, "verify identity"), 0);

	test_sql(&e, "UPDATE identity.users SET display_name = 'Someone Else', password_hash = 'HASH-MUST-NOT-PRINT' "
		     "WHERE id = 5");
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "verify identity"), 1);
	assert_non_null(strstr(out, "\xe2\x9c\x97 identity.users fidelity: 1 of 200 rows differ"));
	assert_non_null(strstr(out, "display_name,password_hash"));
	assert_null(strstr(out, "HASH-MUST-NOT-PRINT"));
	assert_null(strstr(out, "Someone Else"));
	free(out);

	test_sql(&e, "SELECT setval('identity.users_id_seq', 10)");
	assert_int_equal(test_cutover(&e, &out, "--json verify identity"), 1);
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	const cJSON *checks = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "identity"), "checks"), *c;
	bool seq_failed = false;
	cJSON_ArrayForEach(c, checks)
		if (strcmp(cJSON_GetObjectItem(c, "check")->valuestring, "sequence ahead") == 0)
			seq_failed = cJSON_IsFalse(cJSON_GetObjectItem(c, "ok"));
	assert_true(seq_failed);
	cJSON_Delete(j);
	free(out);
	test_env_fini(&e);
}

static void rehearsal_loads_only_the_chosen_users(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bfsubset");
	test_generate(&e, gen_bin, "--users 100 --seed 4");
	assert_int_equal(test_cutover(&e, NULL, "backfill identity --apply --users 2,3,5"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users"), 3);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users WHERE id IN (2, 3, 5)"), 3);
	/* exactly their sessions */
	char path[512];
	snprintf(path, sizeof(path), "%s/identity/sessions.json", e.root);
	char *text = test_read_file(path, NULL);
	cJSON *doc = cJSON_Parse(text);
	free(text);
	long long want = 0;
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "sessions")) {
		int uid = cJSON_GetObjectItem(s, "user_id")->valueint;
		want += uid == 2 || uid == 3 || uid == 5;
	}
	cJSON_Delete(doc);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.sessions"), want);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.sessions WHERE user_id NOT IN (2, 3, 5)"), 0);
	test_env_fini(&e);
}

/* A constraint the classification does not know (say a DBA's CHECK): the
 * batch is isolated row by row, the refused row is rejected with the
 * server's reason and its bytes, and every other row of the batch lands. */
static void one_bad_row_does_not_sink_its_batch(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "bfisolate");
	test_generate(&e, gen_bin, "--users 50 --seed 8");
	test_sql(&e, "ALTER TABLE identity.users ADD CONSTRAINT not_user_7 CHECK (id <> 7)");
	char *out = NULL, args[400];
	snprintf(args, sizeof(args), "backfill identity --apply --rejects '%s/rejects'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 1);
	assert_non_null(strstr(out, "inserted 49; unchanged 0; differ 0; rejected 1"));
	assert_non_null(strstr(out, "not_user_7"));
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users"), 49);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM identity.users WHERE id = 7"), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/rejects/identity/users.json", e.root);
	char *rejected = test_read_file(path, NULL);
	assert_non_null(rejected);
	assert_non_null(strstr(rejected, "{\"id\": 7,"));
	free(rejected);
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_backfill PATH-TO-cutover PATH-TO-cutover-gen-legacy\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	gen_bin = argv[2];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dirty_corpus_end_to_end),
		cmocka_unit_test(second_apply_writes_nothing),
		cmocka_unit_test(kill_9_then_rerun_equals_a_clean_run),
		cmocka_unit_test(two_concurrent_applies_end_like_one),
		cmocka_unit_test(verify_fails_on_an_altered_row_and_a_sequence_behind),
		cmocka_unit_test(rehearsal_loads_only_the_chosen_users),
		cmocka_unit_test(one_bad_row_does_not_sink_its_batch),
	};
	return cmocka_run_group_tests_name("identity operator path", tests, NULL, NULL);
}
