/* test_exact_numbers.c — ids up to 2^53 survive every store, in every stage.
 *
 * The contract reads ids as JSON numbers up to 2^53. cJSON 1.7's printer
 * rounds some 16-digit numbers to 15 digits (2^53 - 1 came out as
 * 9007199254740990), and every place that prints JSON the library writes
 * (the json documents, the daily event files, the batches the postgres
 * backend hands to jsonb_to_recordset) must not: an incident and two events
 * with such ids, one linked at append and one by link_event, read back with
 * exactly their ids in all six stages, and the dual stages see no drift.
 * (Found through the json_doc fuzz harness, tests/fuzz.)
 */
#include <string.h>

#include "support.h"

#define BIG_INCIDENT 9007119925474099LL /* cJSON printed 9.0071199254741e+15 */
#define BIG_EVENT_1 9007199254740991LL  /* 2^53 - 1: printed 9.00719925474099e+15 */
#define BIG_EVENT_2 9007119925474097LL

static test_env env;
static cutover_telemetry *S;
static cutover_stage stage;
static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static void big_ids_round_trip(void **state)
{
	(void)state;
	cutover_incident in = {.id = BIG_INCIDENT, .title = "big ids", .severity = "high", .opened_at = CUTOVER_TS_NULL,
			       .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL},
			 *inc = NULL;
	expect_ok(cutover_telemetry_create_incident(S, &inc, &in, &err));
	assert_int_equal(inc->id, BIG_INCIDENT);
	cutover_incident_free(inc);
	expect_ok(cutover_telemetry_get_incident(S, &inc, BIG_INCIDENT, &err));
	assert_int_equal(inc->id, BIG_INCIDENT);
	cutover_incident_free(inc);

	cutover_ts at;
	assert_int_equal(cutover_ts_parse("2026-01-02T03:04:05Z", &at), CUTOVER_OK);
	cutover_event ev[2] = {
		{.id = BIG_EVENT_1, .occurred_at = at, .severity = "low", .incident_id = BIG_INCIDENT},
		{.id = BIG_EVENT_2, .occurred_at = at + 1000000, .severity = "medium"},
	};
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(S, &out, ev, 2, &err));
	assert_int_equal(out.n, 2);
	assert_int_equal(out.items[0].id, BIG_EVENT_1);
	assert_int_equal(out.items[1].id, BIG_EVENT_2);
	cutover_event_list_free(&out);

	cutover_event *linked = NULL;
	expect_ok(cutover_telemetry_link_event(S, &linked, BIG_EVENT_2, BIG_INCIDENT, &err));
	assert_int_equal(linked->id, BIG_EVENT_2);
	assert_int_equal(linked->incident_id, BIG_INCIDENT);
	cutover_event_free(linked);

	cutover_event_page page = {0};
	expect_ok(cutover_telemetry_list_incident_events(S, &page, BIG_INCIDENT, NULL, 10, &err));
	assert_int_equal(page.n, 2);
	assert_int_equal(page.items[0].id, BIG_EVENT_1);
	assert_int_equal(page.items[0].incident_id, BIG_INCIDENT);
	assert_int_equal(page.items[1].id, BIG_EVENT_2);
	assert_int_equal(page.items[1].incident_id, BIG_INCIDENT);
	cutover_event_page_free(&page);

	cutover_stats st;
	cutover_telemetry_stats(S, &st);
	test_expect_no_drift(&st, stage);
}

static int setup(void **state)
{
	(void)state;
	test_log_reset();
	test_env_init(&env, cutover_stage_describe(stage)->name);
	env.opts.stage = cutover_stage_describe(stage)->name;
	if (cutover_telemetry_open(&S, &env.opts, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cutover_telemetry_free(S);
	S = NULL;
	test_env_fini(&env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(big_ids_round_trip),
	};
	test_log_capture();
	int failed = 0;
	for (int i = 0; i < CUTOVER_STAGE_COUNT; i++) {
		stage = (cutover_stage)i;
		char group[64];
		snprintf(group, sizeof(group), "exact ids, stage %s", cutover_stage_describe(stage)->name);
		failed += cmocka_run_group_tests_name(group, tests, setup, teardown);
	}
	test_log_reset();
	return failed ? 1 : 0;
}
