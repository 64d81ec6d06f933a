/* test_telemetry_backfill.c — the telemetry operator path, end to end.
 *
 *  - the dirty corpus (cutover-gen-telemetry --dirty): survey and dry run
 *    report it and write nothing; --apply rejects exactly the injected
 *    records, keeps each one's original bytes, lands every clean record;
 *    verify then passes every check; a second --apply writes nothing;
 *  - an exact copy of a line is loaded once and counted unchanged;
 *  - payloads go as written when strict JSON, canonical otherwise, and read
 *    back the same from both stores;
 *  - kill -9 in the middle of --apply, then a re-run, ends exactly like an
 *    uninterrupted run;
 *  - verify fails on a row altered behind its back, naming the field.
 *
 * Telemetry references no users, so no identity state is needed.
 *
 * usage: test_telemetry_backfill PATH-TO-cutover PATH-TO-cutover-gen-telemetry  (under with-postgres.sh)
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

static char *digest(const test_env *e)
{
	return test_sql_value(e, "SELECT md5(concat("
				 "(SELECT string_agg(i::text, '|' ORDER BY id) FROM operations.incidents i),"
				 "(SELECT string_agg(t::text, '|' ORDER BY id) FROM operations.telemetry_events t)))");
}

static void expect_in(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("expected \"%s\" in:\n%s", want, text);
}

static void dirty_corpus_end_to_end(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "tbdirty");
	test_generate(&e, gen_bin, "--events 3000 --incidents 40 --days 12 --dirty --seed 7");
	int clean_events = test_manifest_int(&e, "manifest-telemetry.json", "events", "clean"), clean_incidents = test_manifest_int(&e, "manifest-telemetry.json", "incidents", "clean");
	int records = test_manifest_int(&e, "manifest-telemetry.json", "events", "records"), inc_records = test_manifest_int(&e, "manifest-telemetry.json", "incidents", "records");
	int bad = test_manifest_int(&e, "manifest-telemetry.json", "events", "rejects") + test_manifest_int(&e, "manifest-telemetry.json", "incidents", "rejects");
	char want[256];

	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "survey telemetry"), 1);
	snprintf(want, sizeof want, "records %d, mappable %d", records, clean_events);
	expect_in(out, want);
	snprintf(want, sizeof want, "telemetry: %d unmappable records", bad);
	expect_in(out, want);
	expect_in(out, "backup-old.ndjson: NOT A DATE");
	free(out);

	/* the dry run says exactly what it would do and writes nothing */
	assert_int_equal(test_cutover(&e, &out, "backfill telemetry --batch 500"), 1);
	expect_in(out, "dry run");
	snprintf(want, sizeof want, "%d legacy events to migrate (13 daily files); would insert %d; unchanged 0; differ 0; "
		 "rejected %d", records, clean_events, records - clean_events);
	expect_in(out, want);
	snprintf(want, sizeof want, "would insert %d; unchanged 0; differ 0; rejected %d", clean_incidents,
		 inc_records - clean_incidents);
	expect_in(out, want);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.incidents"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.telemetry_events"), 0);

	char args[600];
	snprintf(args, sizeof args, "backfill telemetry --apply --batch 500 --rejects '%s/rejects'", e.root);
	assert_int_equal(test_cutover(&e, &out, args), 1);
	snprintf(want, sizeof want, "inserted %d; unchanged 0; differ 0; rejected %d", clean_events, records - clean_events);
	expect_in(out, want);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.incidents"), clean_incidents);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.telemetry_events"), clean_events);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM operations.telemetry_events WHERE incident_id IS NOT NULL"),
			 test_manifest_int(&e, "manifest-telemetry.json", NULL, "linked_events"));
	assert_int_equal(test_count(&e, "SELECT max(id) FROM operations.telemetry_events"), clean_events);

	/* exactly the injected records were rejected, each kept byte for byte */
	char path[512];
	snprintf(path, sizeof path, "%s/expected-rejects-telemetry.ndjson", e.root);
	char *expected = test_read_file(path, NULL);
	snprintf(path, sizeof path, "%s/rejects/telemetry/reasons.ndjson", e.root);
	char *reasons = test_read_file(path, NULL);
	assert_non_null(reasons);
	int lines = 0;
	char *save = NULL;
	for (char *line = strtok_r(reasons, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		cJSON *r = cJSON_Parse(line);
		assert_non_null(r);
		const char *file = cJSON_GetObjectItem(r, "file")->valuestring;
		int pos = cJSON_GetObjectItem(r, "position")->valueint;
		snprintf(want, sizeof want, "{\"file\":\"%s\",\"position\":%d,", file, pos);
		if (!strstr(expected, want))
			fail_msg("rejected %s record %d was not injected: %s", file, pos,
				 cJSON_GetObjectItem(r, "reason")->valuestring);
		size_t slen = 0, rlen = 0;
		char src[700], dst[700];
		snprintf(src, sizeof src, "%s/%s", e.root, file);
		snprintf(dst, sizeof dst, "%s/rejects/%s", e.root, file);
		char *a = test_read_file(src, &slen), *b = test_read_file(dst, &rlen);
		assert_non_null(a);
		assert_non_null(b);
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

	/* a re-run changes nothing; with the sequences repaired, verify passes */
	char *before = digest(&e);
	char *xmin = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM operations.telemetry_events");
	snprintf(args, sizeof args, "backfill telemetry --apply --batch 500 --repair-sequences --rejects '%s/rejects2'",
		 e.root);
	assert_int_equal(test_cutover(&e, &out, args), 1);
	snprintf(want, sizeof want, "inserted 0; unchanged %d; differ 0; rejected %d", clean_events, records - clean_events);
	expect_in(out, want);
	snprintf(want, sizeof want, "inserted 0; unchanged %d", clean_incidents);
	expect_in(out, want);
	expect_in(out, "sequence repair (done)");
	free(out);
	char *after = digest(&e);
	char *xmin2 = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM operations.telemetry_events");
	assert_string_equal(before, after);
	assert_string_equal(xmin, xmin2);
	free(before);
	free(after);
	free(xmin);
	free(xmin2);
	int rc = test_cutover(&e, &out, "verify telemetry");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "\xe2\x9c\x97")); /* no ✗ */
	free(out);

	/* status counts both sides */
	assert_int_equal(test_cutover(&e, &out, "status"), 0);
	snprintf(want, sizeof want, "postgres %d", clean_events);
	expect_in(out, want);
	free(out);
	test_env_fini(&e);
}

/* A line that appears twice, byte for byte, is one event: loaded once. */
static void exact_copy_is_unchanged(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "tbcopy");
	test_generate(&e, gen_bin, "--events 100 --days 2 --seed 5");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "head -n 1 '%s/telemetry/events/2026-01-02.ndjson' >> '%s/telemetry/events/2026-01-02.ndjson'",
		 e.root, e.root);
	assert_int_equal(test_shell(cmd), 0);
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "survey telemetry"), 0);
	expect_in(out, "exact copies 1");
	free(out);
	assert_int_equal(test_cutover(&e, &out, "backfill telemetry"), 0);
	expect_in(out, "101 legacy events to migrate (2 daily files); would insert 100; unchanged 1; differ 0; rejected 0");
	free(out);
	assert_int_equal(test_cutover(&e, &out, "backfill telemetry --apply --repair-sequences"), 0);
	expect_in(out, "inserted 100; unchanged 1; differ 0; rejected 0");
	free(out);
	assert_int_equal(test_cutover(&e, NULL, "verify telemetry"), 0);
	test_env_fini(&e);
}

static void kill_9_then_rerun_equals_a_clean_run(void **state)
{
	(void)state;
	test_env a, b;
	test_env_init(&a, "tbkill");
	test_env_init(&b, "tbclean");
	test_generate(&a, gen_bin, "--events 40000 --days 20 --seed 3");
	test_generate(&b, gen_bin, "--events 40000 --days 20 --seed 3");
	assert_int_equal(test_cutover(&b, NULL, "backfill telemetry --apply --batch 200"), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CUTOVER_JSON_ROOT", a.root, 1);
		setenv("DATABASE_URL", a.conninfo, 1);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(test_cutover_bin, test_cutover_bin, "backfill", "telemetry", "--apply", "--batch", "200", (char *)NULL);
		_exit(127);
	}
	/* wait until some events are committed, then kill it (bounded: 60 s) */
	long long seen = 0;
	for (int i = 0; i < 6000 && seen == 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		seen = test_count(&a, "SELECT count(*) FROM operations.telemetry_events");
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
	long long partial = test_count(&a, "SELECT count(*) FROM operations.telemetry_events");
	assert_true(seen > 0);
	assert_true(partial < 40000); /* it really was interrupted */

	char *out = NULL;
	assert_int_equal(test_cutover(&a, &out, "backfill telemetry --apply --batch 200"), 0);
	char want[200];
	snprintf(want, sizeof want, "unchanged %lld", partial);
	expect_in(out, want);
	free(out);
	char *da = digest(&a), *db = digest(&b);
	assert_string_equal(da, db);
	free(da);
	free(db);
	test_env_fini(&a);
	test_env_fini(&b);
}

/* The backfill sends a payload's own text when it is strict JSON and its
 * canonical text otherwise (cJSON reads 01, 1.50 with a raw tab, an escaped
 * key; jsonb would refuse some of that text). Either way both stores hand
 * back the same canonical payload. */
static void payload_text_as_written_or_canonical(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "tbpayload");
	char dir[400], path[500];
	snprintf(dir, sizeof dir, "%s/telemetry/events", e.root);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
	assert_int_equal(test_shell(cmd), 0);
	snprintf(path, sizeof path, "%s/2026-03-01.ndjson", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("{\"id\":1,\"occurred_at\":\"2026-03-01T00:00:00Z\",\"severity\":\"low\",\"payload\":{\"n\": 01, \"b\": 1.50}}\n"
	      "{\"id\":2,\"occurred_at\":\"2026-03-01T00:00:01Z\",\"severity\":\"low\",\"payload\":{\"big\": 12345678901234567890,"
	      " \"s\": \"caf\\u00e9 \\\"q\\\"\", \"d\": {\"z\": [1, 2.5e3, -0.0]}}}\n"
	      "{\"id\":3,\"occurred_at\":\"2026-03-01T00:00:02Z\",\"severity\":\"low\",\"pay\\u006coad\":{\"k\": \"v\"}}\n"
	      "{\"id\":4,\"occurred_at\":\"2026-03-01T00:00:03Z\",\"severity\":\"low\",\"payload\":{\"t\": \"a\tb\"}}\n"
	      "{\"id\":5,\"occurred_at\":\"2026-03-01T00:00:04Z\",\"severity\":\"low\",\"note\":\"\\\"payload\\\": {}\","
	      "\"payload\":{\"x\": {\"payload\": 1}}}\n",
	      f);
	fclose(f);
	char *out = NULL;
	int rc = test_cutover(&e, &out, "backfill telemetry --apply --repair-sequences");
	if (rc)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	expect_in(out, "inserted 5; unchanged 0; differ 0; rejected 0");
	free(out);
	assert_int_equal(test_cutover(&e, NULL, "verify telemetry"), 0);
	/* jsonb kept the big integer as written (raw text), and the lenient ones as canonical */
	char *v = test_sql_value(&e, "SELECT payload->>'big' FROM operations.telemetry_events WHERE id = 2");
	assert_string_equal(v, "12345678901234567890");
	free(v);
	v = test_sql_value(&e, "SELECT payload::text FROM operations.telemetry_events WHERE id = 1");
	assert_string_equal(v, "{\"b\": 1.5, \"n\": 1}");
	free(v);

	cutover_telemetry *js = NULL, *ps = NULL;
	cutover_error err;
	assert_int_equal(cutover_telemetry_json(&js, e.root, NULL, &err), CUTOVER_OK);
	assert_int_equal(cutover_telemetry_postgres(&ps, e.conninfo, &err), CUTOVER_OK);
	cutover_event_page a = {0}, b = {0};
	cutover_event_query q = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL};
	assert_int_equal(cutover_telemetry_query_events(js, &a, &q, &err), CUTOVER_OK);
	assert_int_equal(cutover_telemetry_query_events(ps, &b, &q, &err), CUTOVER_OK);
	assert_int_equal(a.n, 5);
	assert_int_equal(b.n, 5);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.items[i].payload, b.items[i].payload);
	assert_string_equal(a.items[0].payload, "{\"b\":1.5,\"n\":1}");
	assert_string_equal(a.items[2].payload, "{\"k\":\"v\"}");
	assert_string_equal(a.items[3].payload, "{\"t\":\"a\\tb\"}");
	assert_string_equal(a.items[4].payload, "{\"x\":{\"payload\":1}}");
	cutover_event_page_free(&a);
	cutover_event_page_free(&b);
	cutover_telemetry_free(js);
	cutover_telemetry_free(ps);
	test_env_fini(&e);
}

static void verify_fails_on_an_altered_row(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "tbverify");
	test_generate(&e, gen_bin, "--events 300 --days 3 --seed 21");
	assert_int_equal(test_cutover(&e, NULL, "backfill telemetry --apply --repair-sequences"), 0);
	assert_int_equal(test_cutover(&e, NULL, "verify telemetry"), 0);

	test_sql(&e, "UPDATE operations.telemetry_events SET payload = '{\"secret\": \"MUST-NOT-PRINT\"}' WHERE id = 5");
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "verify telemetry"), 1);
	expect_in(out, "\xe2\x9c\x97 operations.telemetry_events fidelity: 1 of 300 rows differ");
	expect_in(out, "line 5 (id 5) differs in postgres: payload");
	assert_null(strstr(out, "MUST-NOT-PRINT"));
	free(out);
	/* a link made in postgres only: the same event, linked differently */
	test_sql(&e, "UPDATE operations.telemetry_events SET incident_id = 1 WHERE id = (SELECT min(id) FROM "
		     "operations.telemetry_events WHERE incident_id IS NULL AND id <> 5)");
	assert_int_equal(test_cutover(&e, &out, "verify telemetry"), 1);
	expect_in(out, "differs in postgres: incident_id");
	free(out);
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_telemetry_backfill PATH-TO-cutover PATH-TO-cutover-gen-telemetry\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	gen_bin = argv[2];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dirty_corpus_end_to_end),
		cmocka_unit_test(exact_copy_is_unchanged),
		cmocka_unit_test(kill_9_then_rerun_equals_a_clean_run),
		cmocka_unit_test(payload_text_as_written_or_canonical),
		cmocka_unit_test(verify_fails_on_an_altered_row),
	};
	return cmocka_run_group_tests_name("telemetry operator path", tests, NULL, NULL);
}
