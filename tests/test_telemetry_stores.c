/* test_telemetry_stores.c — what each telemetry store promises beyond the
 * shared suite.
 *
 *  - postgres: the event query is served by an index (EXPLAIN of the very
 *    statement the backend runs, on an analysed table of a few thousand
 *    rows, planner settings untouched): a time range with filters, an
 *    incident's events, and a page after a cursor;
 *  - json: appending keeps every other byte of the day's file; linking
 *    rewrites only its line and keeps fields the library does not know;
 *    the id counter is rebuilt from the files when absent and when behind;
 *    unreadable and misfiled lines are skipped (reported by file and line),
 *    misnamed files are not read; put never replaces another day's event;
 *  - a dual stage: a second write postgres refuses is journaled and the call
 *    succeeds; a row changed behind the library's back shows in a shadow
 *    read as a mismatch naming the field.
 *
 * usage: test_telemetry_stores   (under with-postgres.sh)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "support.h"
#include "telemetry_int.h"

static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static cutover_ts ts(const char *text)
{
	cutover_ts t = 0;
	assert_int_equal(cutover_ts_parse(text, &t), CUTOVER_OK);
	return t;
}

/* --- postgres: the query uses an index ---------------------------------------- */

static char *explain(PGconn *c, const char *const *params)
{
	co_buf sql = {0};
	co_buf_printf(&sql, "EXPLAIN %s", co_pg_events_query_sql);
	PGresult *r = PQexecParams(c, sql.data, 9, NULL, params, NULL, NULL, 0);
	co_buf_free(&sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("EXPLAIN failed: %s", PQerrorMessage(c));
	co_buf plan = {0};
	for (int i = 0; i < PQntuples(r); i++)
		co_buf_printf(&plan, "%s\n", PQgetvalue(r, i, 0));
	PQclear(r);
	return plan.data;
}

static void expect_index(const char *plan, const char *index)
{
	if (getenv("SHOW_PLANS"))
		fprintf(stderr, "%s\n", plan);
	if (!strstr(plan, index) || strstr(plan, "Seq Scan on telemetry_events"))
		fail_msg("the query is not served by %s:\n%s", index, plan);
}

static void postgres_query_uses_an_index(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "telexplain");
	cutover_telemetry *s = NULL;
	expect_ok(cutover_telemetry_postgres(&s, e.conninfo, &err));
	cutover_incident in = {.title = "Scanner", .severity = "high", .opened_at = ts("2026-01-01T00:00:00Z"),
			       .resolved_at = CUTOVER_TS_NULL};
	cutover_incident *inc = NULL;
	expect_ok(cutover_telemetry_create_incident(s, &inc, &in, &err));
	static const char *const regions[] = {"eu-west", "us-east", "ap-south", "sa-east"};
	static const char *const sev[] = {"low", "medium", "high", "critical"};
	enum { BATCH = 1000, BATCHES = 6 };
	cutover_event *ev = calloc(BATCH, sizeof(*ev));
	for (int b = 0; b < BATCHES; b++) {
		for (int i = 0; i < BATCH; i++) {
			int k = b * BATCH + i;
			ev[i] = (cutover_event){.occurred_at = ts("2026-01-01T00:00:00Z") + (cutover_ts)k * 600 * 1000000LL,
					       .region = (char *)regions[k % 4], .severity = (char *)sev[(k / 4) % 4],
					       .attack_type = k % 3 ? "ssh" : "sqli", .source_ip = "198.51.100.9",
					       .payload = "{\"k\": 1}", .incident_id = k % 97 == 0 ? inc->id : 0};
		}
		expect_ok(cutover_telemetry_append_events(s, NULL, ev, BATCH, &err));
	}
	free(ev);
	test_sql(&e, "ANALYZE operations.telemetry_events");

	PGconn *c = PQconnectdb(e.conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	char incid[24];
	snprintf(incid, sizeof incid, "%lld", (long long)inc->id);
	/* one day, filtered, first page */
	const char *range[9] = {"2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z", "eu-west", "high", "ssh", NULL, NULL,
				NULL, "101"};
	char *plan = explain(c, range);
	expect_index(plan, "telemetry_events_occurred_idx");
	free(plan);
	/* an incident's events */
	const char *by_incident[9] = {NULL, NULL, NULL, NULL, NULL, incid, NULL, NULL, "101"};
	plan = explain(c, by_incident);
	expect_index(plan, "telemetry_events_incident_idx");
	free(plan);
	/* the next page of an unbounded query: a range scan from the cursor */
	const char *after[9] = {NULL, NULL, NULL, NULL, NULL, NULL, "2026-01-20T00:00:00Z", "2000", "101"};
	plan = explain(c, after);
	expect_index(plan, "telemetry_events_occurred_idx");
	free(plan);
	PQfinish(c);

	/* and the backend's answers from that table are right */
	cutover_event_page p = {0};
	cutover_event_query q = {.from = ts("2026-01-10T00:00:00Z"), .to = ts("2026-01-11T00:00:00Z"),
				 .region = "eu-west"};
	expect_ok(cutover_telemetry_query_events(s, &p, &q, &err));
	assert_int_equal(p.n, 36); /* 144 events a day, every fourth in eu-west */
	for (size_t i = 1; i < p.n; i++)
		assert_true(co_event_cmp(&p.items[i - 1], &p.items[i]) < 0);
	cutover_event_page_free(&p);
	cutover_incident_free(inc);
	cutover_telemetry_free(s);
	test_env_fini(&e);
}

/* --- json: the layout ----------------------------------------------------------- */

static void write_file(const char *root, const char *key, const char *text)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s/%s')\"", root, key);
	assert_int_equal(test_shell(cmd), 0);
	char path[600];
	snprintf(path, sizeof path, "%s/%s", root, key);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_key(const char *root, const char *key)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", root, key);
	return test_read_file(path, NULL);
}

/* A day file written by the old app: odd spacing, unknown fields, a CRLF
 * line, a bad line, an event on the wrong day, no newline at the end. */
static const char DAY[] =
    "{\"id\": 1, \"occurred_at\": \"2026-02-01T10:00:00.000Z\", \"source_ip\": \"10.0.0.1\", \"region\": \"eu-west\","
    " \"node\": \"n1\", \"attack_type\": \"ssh\", \"severity\": \"high\", \"payload\": {\"b\": 1,  \"a\": [1, 2]},"
    " \"incident_id\": null, \"sensor_version\": \"3.1\"}\n"
    "{\"id\":2,\"occurred_at\":1769940000000,\"severity\":\"low\",\"payload\":{}}\r\n"
    "this is not json\n"
    "{\"id\": 3, \"occurred_at\": \"2026-02-02T00:00:00Z\", \"severity\": \"low\"}\n"
    "{\"id\": 500, \"occurred_at\": \"2026-02-01T23:00:00Z\", \"severity\": \"medium\", \"region\": \"us-east\"}";

static void json_append_keeps_every_other_byte(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "teljson");
	write_file(e.root, "telemetry/events/2026-02-01.ndjson", DAY);
	write_file(e.root, "telemetry/events/notes.ndjson", "{\"id\": 9999, \"occurred_at\": \"2026-02-01T00:00:00Z\", "
							   "\"severity\": \"low\"}\n");
	write_file(e.root, "telemetry/incidents.json",
		   "{\"incidents\": [{\"id\": 4, \"title\": \"Old\", \"state\": \"open\", \"severity\": \"low\","
		   " \"opened_at\": \"2026-01-01T00:00:00Z\", \"resolved_at\": null, \"owner\": \"sam\"}]}\n");
	cutover_telemetry *s = NULL;
	expect_ok(cutover_telemetry_json(&s, e.root, NULL, &err));
	test_log_reset();

	/* queries skip the bad line and the misfiled event, and say where */
	cutover_event_page p = {0};
	cutover_event_query q = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL};
	expect_ok(cutover_telemetry_query_events(s, &p, &q, &err));
	assert_int_equal(p.n, 3);
	assert_true(p.items[0].id == 1 && p.items[1].id == 2 && p.items[2].id == 500);
	assert_string_equal(p.items[0].payload, "{\"a\":[1,2],\"b\":1}");
	assert_true(p.items[1].occurred_at == 1769940000000LL * 1000);
	assert_non_null(strstr(test_log_text(), "skipped 2 unreadable event lines, the first at "
						"telemetry/events/2026-02-01.ndjson line 3"));
	cutover_event_page_free(&p);

	/* no counter yet: rebuilt from the files (max id 500; notes.ndjson is not a day) */
	cutover_event add = {.occurred_at = ts("2026-02-01T12:00:00Z"), .severity = "critical", .region = "eu-west",
			     .payload = "{\"z\": true}"};
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(s, &out, &add, 1, &err));
	assert_true(out.items[0].id == 501);
	cutover_event_list_free(&out);
	char *after = read_key(e.root, "telemetry/events/2026-02-01.ndjson");
	assert_memory_equal(after, DAY, strlen(DAY)); /* every old byte kept */
	assert_string_equal(after + strlen(DAY),
			    "\n{\"id\":501,\"occurred_at\":\"2026-02-01T12:00:00Z\",\"source_ip\":null,\"region\":\"eu-west\","
			    "\"node\":null,\"attack_type\":null,\"severity\":\"critical\",\"payload\":{\"z\":true},"
			    "\"incident_id\":null}\n");
	free(after);
	char *counter = read_key(e.root, "telemetry/.event-ids.json");
	assert_string_equal(counter, "{\"next_id\":502}\n");
	free(counter);

	/* linking rewrites only that line; its unknown field stays */
	char *before = read_key(e.root, "telemetry/events/2026-02-01.ndjson");
	cutover_event *linked = NULL;
	expect_ok(cutover_telemetry_link_event(s, &linked, 1, 4, &err));
	assert_true(linked->incident_id == 4);
	cutover_event_free(linked);
	after = read_key(e.root, "telemetry/events/2026-02-01.ndjson");
	const char *rest = strchr(before, '\n');
	assert_non_null(strstr(after, "\"sensor_version\":\"3.1\""));
	assert_non_null(strstr(after, "\"incident_id\":4"));
	assert_string_equal(strchr(after, '\n'), rest);
	free(before);
	free(after);
	/* a line that cannot be read is never rewritten */
	assert_int_equal(cutover_telemetry_link_event(s, NULL, 3, 4, &err), CUTOVER_ECORRUPT);
	assert_non_null(strstr(err.message, "line 4"));

	/* a counter behind the files: the collision in the day is noticed, the counter rebuilt */
	write_file(e.root, "telemetry/.event-ids.json", "{\"next_id\": 500}\n");
	expect_ok(cutover_telemetry_append_events(s, &out, &add, 1, &err));
	assert_true(out.items[0].id == 502);
	cutover_event_list_free(&out);
	/* an explicit id below the counter held by another day */
	cutover_event other = {.id = 3, .occurred_at = ts("2026-02-05T00:00:00Z"), .severity = "low"};
	assert_int_equal(cutover_telemetry_append_events(s, &out, &other, 1, &err), CUTOVER_ECONFLICT);
	other.id = 2;
	assert_int_equal(cutover_telemetry_append_events(s, &out, &other, 1, &err), CUTOVER_ECONFLICT);
	/* put never replaces another day's event */
	other.id = 501;
	assert_int_equal(s->put_events(s, &other, 1, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "another occurred_at"));
	/* ... but replaces its own, keeping unknown fields */
	cutover_event same = {.id = 1, .occurred_at = ts("2026-02-01T10:00:00Z"), .severity = "low", .payload = "{}",
			      .incident_id = 0};
	expect_ok(s->put_events(s, &same, 1, &err));
	after = read_key(e.root, "telemetry/events/2026-02-01.ndjson");
	assert_non_null(strstr(after, "\"sensor_version\":\"3.1\""));
	assert_null(strstr(after, "\"payload\":{\"a\""));
	free(after);

	/* the incident's unknown field survives a transition */
	cutover_incident *m = NULL;
	expect_ok(cutover_telemetry_transition_incident(s, &m, 4, "investigating", &err));
	cutover_incident_free(m);
	char *incs = read_key(e.root, "telemetry/incidents.json");
	assert_non_null(strstr(incs, "\"owner\":\"sam\""));
	free(incs);
	cutover_telemetry_free(s);
	test_env_fini(&e);
}

/* --- dual stages: drift is journaled and reported ------------------------------ */

static void dual_stage_drift_is_journaled_and_reported(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "teldrift");
	/* an incident only json holds (written before dualwrite began) */
	cutover_telemetry *js = NULL;
	expect_ok(cutover_telemetry_json(&js, e.root, NULL, &err));
	cutover_incident in = {.title = "Pre-existing", .severity = "low", .opened_at = ts("2026-01-01T00:00:00Z"),
			       .resolved_at = CUTOVER_TS_NULL};
	cutover_incident *inc = NULL;
	expect_ok(cutover_telemetry_create_incident(js, &inc, &in, &err));
	cutover_telemetry_free(js);

	test_log_reset();
	e.opts.stage = "shadow";
	cutover_telemetry *s = NULL;
	expect_ok(cutover_telemetry_open(&s, &e.opts, &err));
	/* the event lands in json; postgres refuses it (no such incident there): journaled, the call succeeds */
	cutover_event ev[2] = {
		{.occurred_at = ts("2026-01-05T10:00:00Z"), .severity = "high", .incident_id = inc->id},
		{.occurred_at = ts("2026-01-05T11:00:00Z"), .severity = "low", .region = "eu-west"},
	};
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(s, &out, &ev[0], 1, &err));
	cutover_event_list_free(&out);
	cutover_stats st;
	cutover_telemetry_stats(s, &st);
	assert_int_equal(st.secondary_failures, 1);
	assert_int_equal(st.journaled, 1);
	assert_non_null(strstr(test_log_text(), "telemetry append_events: second write to postgres failed for event 1"));
	char path[400];
	snprintf(path, sizeof path, "%s/telemetry.journal", e.journal);
	char *journal = test_read_file(path, NULL);
	assert_non_null(journal);
	assert_non_null(strstr(journal, "\"key\":\"1\""));
	free(journal);

	/* a row changed behind the library's back: the shadow read names the field */
	expect_ok(cutover_telemetry_append_events(s, &out, &ev[1], 1, &err));
	cutover_event_list_free(&out);
	test_sql(&e, "UPDATE operations.telemetry_events SET region = 'us-east' WHERE id = 2");
	cutover_event_page p = {0};
	cutover_event_query q = {.from = ts("2026-01-05T00:00:00Z"), .to = ts("2026-01-06T00:00:00Z")};
	expect_ok(cutover_telemetry_query_events(s, &p, &q, &err));
	assert_int_equal(p.n, 2); /* json answers */
	cutover_event_page_free(&p);
	cutover_telemetry_stats(s, &st);
	assert_int_equal(st.mismatches, 1);
	assert_non_null(strstr(test_log_text(), "mismatch: domain=telemetry op=query_events"));
	assert_non_null(strstr(test_log_text(), "count(2 vs 1)"));
	q.region = "eu-west";
	expect_ok(cutover_telemetry_query_events(s, &p, &q, &err));
	cutover_event_page_free(&p);
	q.region = NULL;
	q.from = ts("2026-01-05T10:30:00Z");
	expect_ok(cutover_telemetry_query_events(s, &p, &q, &err));
	cutover_event_page_free(&p);
	assert_non_null(strstr(test_log_text(), "item 0 (id 2): region"));
	cutover_incident_free(inc);
	cutover_telemetry_free(s);
	test_env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(postgres_query_uses_an_index),
		cmocka_unit_test(json_append_keeps_every_other_byte),
		cmocka_unit_test(dual_stage_drift_is_journaled_and_reported),
	};
	test_log_capture();
	int rc = cmocka_run_group_tests_name("telemetry stores", tests, NULL, NULL);
	test_log_reset();
	return rc;
}
