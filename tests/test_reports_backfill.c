/* test_reports_backfill.c — the reports operator path, end to end, on generated state.
 *
 * Identity comes first, as in `cutover backfill all`: cutover-gen-legacy
 * makes users 1..N and `cutover backfill identity --apply` loads them; the
 * incidents 1..I are seeded in operations.incidents by SQL (the telemetry
 * domain's own backfill is not part of this branch).
 *
 *  - the dirty corpus: survey and dry run report it and write nothing;
 *    --apply rejects exactly the injected records (including the three only
 *    Postgres can see: dangling author, incident, actor), keeps their
 *    original bytes, lands every clean report with its trail, and verify
 *    then passes every check;
 *  - a second --apply writes nothing (no row rewritten);
 *  - kill -9 in the middle of --apply, then a re-run, ends exactly like an
 *    uninterrupted run;
 *  - verify fails on a row altered behind its back, naming the field.
 *
 * usage: test_reports_backfill cutover cutover-gen-legacy cutover-gen-reports  (under with-postgres.sh)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "support.h"

static const char *gen_legacy_bin, *gen_reports_bin;

/* Users 1..users in identity (legacy and postgres), incidents 1..incidents
 * in postgres, then the reports corpus. */
static void prepare(const test_env *e, int users, int incidents, const char *report_args)
{
	char opts[512], n[16];
	snprintf(opts, sizeof opts, "--users %d --seed 7", users);
	test_generate(e, gen_legacy_bin, opts);
	assert_int_equal(test_cutover(e, NULL, "backfill identity --apply --repair-sequences"), 0);
	snprintf(n, sizeof n, "%d", incidents);
	const char *params[] = {n};
	test_sql_params(e,
			"INSERT INTO operations.incidents (id, title, state, severity, opened_at) SELECT g, 'Incident ' || g, "
			"'open', 'high', '2026-01-01Z' FROM generate_series(1, $1::int) g",
			1, params);
	snprintf(opts, sizeof opts, "--users %d --incidents %d %s", users, incidents, report_args);
	test_generate(e, gen_reports_bin, opts);
}

/* A digest of every reports row, to compare two databases. */
static char *digest(const test_env *e)
{
	return test_sql_value(e, "SELECT md5(concat("
				 "(SELECT string_agg(r::text, '|' ORDER BY id) FROM operations.reports r),"
				 "(SELECT string_agg(a::text, '|' ORDER BY report_id, position) FROM operations.report_actions a)))");
}

static void dirty_corpus_end_to_end(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rbdirty");
	prepare(&e, 50, 8, "--reports 300 --dirty --seed 11");
	long long clean = test_manifest_int(&e, "manifest-reports.json", "reports", "clean"), bad = test_manifest_int(&e, "manifest-reports.json", "reports", "rejects");
	assert_int_equal(clean, 300);
	assert_int_equal(bad, 20);

	char *out = NULL;
	/* survey: 16 undecodable, 1 duplicate id, 2 orphans against users.json
	 * (incidents.json is absent here, so the dangling incident shows later) */
	assert_int_equal(test_cutover(&e, &out, "survey reports"), 1);
	if (!strstr(out, "records 320, mappable 301"))
		fail_msg("survey said:\n%s", out);
	assert_non_null(strstr(out, "author missing 1, action actor missing 1"));
	assert_non_null(strstr(out, "incidents not checked"));
	free(out);

	assert_int_equal(test_cutover(&e, &out, "backfill reports"), 1);
	assert_non_null(strstr(out, "dry run"));
	if (!strstr(out, "would insert 300; unchanged 0; differ 0; rejected 20"))
		fail_msg("dry run said:\n%s", out);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.report_actions"), 0);

	char args[400];
	snprintf(args, sizeof args, "backfill reports --apply --rejects '%s/rejects'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 1);
	if (!strstr(out, "320 legacy reports to migrate; inserted 300; unchanged 0; differ 0; rejected 20"))
		fail_msg("apply said:\n%s", out);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports"), clean);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.report_actions"), test_manifest_int(&e, "manifest-reports.json", NULL, "actions"));
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports WHERE status = 'archived'"),
			 test_manifest_int(&e, "manifest-reports.json", "reports", "archived"));
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports WHERE id > 300"), 0);
	/* the tag rule: no empty, padded or repeated tags survive */
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports r, unnest(r.tags) t "
				   "WHERE t = '' OR t <> btrim(t)"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.reports "
				   "WHERE cardinality(tags) <> (SELECT count(DISTINCT t) FROM unnest(tags) t)"), 0);

	/* exactly the injected records were rejected, each kept byte for byte */
	char path[512];
	snprintf(path, sizeof path, "%s/expected-rejects-reports.ndjson", e.root);
	char *expected = test_read_file(path, NULL);
	snprintf(path, sizeof path, "%s/rejects/reports/reasons.ndjson", e.root);
	char *reasons = test_read_file(path, NULL);
	assert_non_null(expected);
	assert_non_null(reasons);
	snprintf(path, sizeof path, "%s/reports/reports.json", e.root);
	size_t slen = 0, rlen = 0;
	char *src = test_read_file(path, &slen);
	snprintf(path, sizeof path, "%s/rejects/reports/reports.json", e.root);
	char *dst = test_read_file(path, &rlen);
	assert_non_null(dst);
	int lines = 0;
	bool saw[4] = {false};
	for (char *line = strtok(reasons, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		cJSON *r = cJSON_Parse(line);
		assert_non_null(r);
		int pos = cJSON_GetObjectItem(r, "position")->valueint;
		const char *reason = cJSON_GetObjectItem(r, "reason")->valuestring;
		char want[160];
		snprintf(want, sizeof want, "{\"file\":\"reports/reports.json\",\"position\":%d,", pos);
		if (!strstr(expected, want))
			fail_msg("rejected record %d was not injected: %s", pos, reason);
		saw[0] |= strstr(reason, "author_id 1050 does not exist in identity.users") != NULL;
		saw[1] |= strstr(reason, "incident_id 1008 does not exist in operations.incidents") != NULL;
		saw[2] |= strstr(reason, "actor_id 1050 of an action does not exist") != NULL;
		saw[3] |= strstr(reason, "archived_at is missing") != NULL;
		size_t off = (size_t)cJSON_GetObjectItem(r, "offset")->valuedouble;
		size_t at = (size_t)cJSON_GetObjectItem(r, "reject_offset")->valuedouble;
		size_t len = (size_t)cJSON_GetObjectItem(r, "length")->valuedouble;
		assert_true(off + len <= slen && at + len <= rlen);
		assert_memory_equal(src + off, dst + at, len);
		cJSON_Delete(r);
	}
	assert_int_equal(lines, bad);
	for (int i = 0; i < 4; i++)
		if (!saw[i])
			fail_msg("reject reason %d not seen", i);
	free(src);
	free(dst);
	free(expected);
	free(reasons);

	assert_int_equal(test_cutover(&e, &out, "backfill reports --apply --repair-sequences"), 1);
	assert_non_null(strstr(out, "inserted 0; unchanged 300"));
	assert_non_null(strstr(out, "sequence repair (done)"));
	free(out);
	int rc = test_cutover(&e, &out, "verify reports");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "\xe2\x9c\x97")); /* no ✗ */
	free(out);
	test_env_fini(&e);
}

static void second_apply_writes_nothing_and_verify_catches_drift(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rbtwice");
	prepare(&e, 40, 5, "--reports 400 --seed 3");
	assert_int_equal(test_cutover(&e, NULL, "backfill reports --apply --repair-sequences"), 0);
	char *before = digest(&e);
	char *xmin = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM operations.reports");
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "backfill reports --apply"), 0);
	assert_non_null(strstr(out, "inserted 0; unchanged 400"));
	free(out);
	char *after = digest(&e);
	char *xmin2 = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM operations.reports");
	assert_string_equal(before, after);
	assert_string_equal(xmin, xmin2);
	free(before);
	free(after);
	free(xmin);
	free(xmin2);
	assert_int_equal(test_cutover(&e, NULL, "verify reports"), 0);

	test_sql(&e, "UPDATE operations.reports SET tags = tags || 'SECRET-TAG'::text WHERE id = 5");
	test_sql(&e, "DELETE FROM operations.report_actions WHERE report_id = (SELECT min(report_id) FROM "
		     "operations.report_actions)");
	assert_int_equal(test_cutover(&e, &out, "verify reports"), 1);
	assert_non_null(strstr(out, "\xe2\x9c\x97 operations.reports fidelity: 2 of 400 rows differ"));
	assert_non_null(strstr(out, "tags"));
	assert_non_null(strstr(out, "actions"));
	assert_null(strstr(out, "SECRET-TAG"));
	free(out);
	test_env_fini(&e);
}

static void kill_9_then_rerun_equals_a_clean_run(void **state)
{
	(void)state;
	test_env a, b;
	test_env_init(&a, "rbkill");
	test_env_init(&b, "rbclean");
	prepare(&a, 30, 5, "--reports 6000 --seed 5");
	prepare(&b, 30, 5, "--reports 6000 --seed 5");
	assert_int_equal(test_cutover(&b, NULL, "backfill reports --apply --batch 100"), 0);
	long long total = test_count(&b, "SELECT count(*) FROM operations.reports");
	assert_int_equal(total, 6000);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CUTOVER_JSON_ROOT", a.root, 1);
		setenv("DATABASE_URL", a.conninfo, 1);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(test_cutover_bin, test_cutover_bin, "backfill", "reports", "--apply", "--batch", "100", (char *)NULL);
		_exit(127);
	}
	long long seen = 0;
	for (int i = 0; i < 6000 && seen == 0; i++) { /* bounded: 60 s */
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		seen = test_count(&a, "SELECT count(*) FROM operations.reports");
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
	long long partial = test_count(&a, "SELECT count(*) FROM operations.reports");
	assert_true(seen > 0);
	assert_true(partial < total); /* it really was interrupted */

	assert_int_equal(test_cutover(&a, NULL, "backfill reports --apply --batch 100"), 0);
	char *da = digest(&a), *db = digest(&b);
	assert_string_equal(da, db);
	free(da);
	free(db);
	test_env_fini(&a);
	test_env_fini(&b);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_reports_backfill cutover cutover-gen-legacy cutover-gen-reports\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	gen_legacy_bin = argv[2];
	gen_reports_bin = argv[3];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dirty_corpus_end_to_end),
		cmocka_unit_test(second_apply_writes_nothing_and_verify_catches_drift),
		cmocka_unit_test(kill_9_then_rerun_equals_a_clean_run),
	};
	return cmocka_run_group_tests_name("reports operator path", tests, NULL, NULL);
}
