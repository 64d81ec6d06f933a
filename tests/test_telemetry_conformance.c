/* test_telemetry_conformance.c — one telemetry suite, run unchanged in every stage.
 *
 * The same calls with the same expected answers against json, dualwrite,
 * shadow, live, rampdown and postgres, each on a fresh state directory and a
 * fresh database. Every expected value is spelled out (ids, orders, pages,
 * canonical payload text), so every stage must give exactly the same
 * answers. In the dual stages the last tests prove that no comparison
 * differed and that both stores hold the same records.
 *
 * usage: test_telemetry_conformance [STAGE...]   (default: all six)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "telemetry_int.h"

static cutover_stage stage;
static test_env env;
static cutover_telemetry *S;
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

static cutover_incident *mkincident(const char *title, const char *severity)
{
	cutover_incident in = {.title = (char *)title, .severity = (char *)severity,
			       .opened_at = ts("2026-03-01T08:00:00Z"), .resolved_at = CUTOVER_TS_NULL};
	cutover_incident *i = NULL;
	expect_ok(cutover_telemetry_create_incident(S, &i, &in, &err));
	return i;
}

static cutover_event ev(const char *when, const char *region, const char *severity, const char *attack,
			const char *payload)
{
	return (cutover_event){.occurred_at = ts(when), .source_ip = "203.0.113.7", .region = (char *)region,
			       .node = "edge-1", .attack_type = (char *)attack, .severity = (char *)severity,
			       .payload = (char *)payload};
}

/* Every event of [from, to) through pages of `limit`; returns the count and
 * fills ids (cap entries). */
static size_t page_through(cutover_ts from, cutover_ts to, int64_t incident, size_t limit, int64_t *ids, size_t cap)
{
	char cursor[CUTOVER_CURSOR_LEN] = "";
	size_t n = 0;
	for (int pages = 0; pages < 1000; pages++) {
		cutover_event_page p = {0};
		cutover_event_query q = {.from = from, .to = to, .incident_id = incident, .cursor = cursor, .limit = limit};
		expect_ok(cutover_telemetry_query_events(S, &p, &q, &err));
		assert_true(p.n <= limit);
		for (size_t i = 0; i < p.n; i++) {
			if (n < cap)
				ids[n] = p.items[i].id;
			n++;
		}
		if (!p.next_cursor[0]) {
			cutover_event_page_free(&p);
			return n;
		}
		assert_int_equal(p.n, limit); /* only a full page has a next one */
		snprintf(cursor, sizeof cursor, "%s", p.next_cursor);
		cutover_event_page_free(&p);
	}
	fail_msg("paging did not end");
	return n;
}

/* --- incidents ------------------------------------------------------------- */

static void incidents_round_trip(void **state)
{
	(void)state;
	cutover_incident *a = mkincident("Brute force on ssh — edge-1", "high");
	cutover_incident *b = mkincident("Credential stuffing, \"login\" API", "critical");
	assert_true(a->id >= 1);
	assert_true(b->id == a->id + 1);
	assert_string_equal(a->title, "Brute force on ssh — edge-1");
	assert_string_equal(a->state, "open");
	assert_string_equal(a->severity, "high");
	assert_true(a->opened_at == ts("2026-03-01T08:00:00Z"));
	assert_true(a->resolved_at == CUTOVER_TS_NULL);
	cutover_incident *g = NULL;
	expect_ok(cutover_telemetry_get_incident(S, &g, b->id, &err));
	char diff[256];
	assert_int_equal(co_incident_diff(b, g, diff, sizeof diff), 0);
	cutover_incident_free(g);

	/* an explicit id is kept; the next assigned one follows it */
	cutover_incident in = {.id = 500, .title = "Imported", .severity = "low", .opened_at = ts("2025-12-31T23:59:59.5Z"),
			       .state = "resolved", .resolved_at = ts("2026-01-02T00:00:00Z")};
	cutover_incident *c = NULL, *d = NULL;
	expect_ok(cutover_telemetry_create_incident(S, &c, &in, &err));
	assert_true(c->id == 500);
	assert_string_equal(c->state, "resolved");
	assert_true(c->resolved_at == ts("2026-01-02T00:00:00Z"));
	assert_int_equal(cutover_telemetry_create_incident(S, &d, &in, &err), CUTOVER_ECONFLICT);
	assert_null(d);
	d = mkincident("After the import", "medium");
	assert_true(d->id == 501);
	cutover_incident_free(a);
	cutover_incident_free(b);
	cutover_incident_free(c);
	cutover_incident_free(d);
}

static void incident_bad_input_is_refused(void **state)
{
	(void)state;
	cutover_incident *i = NULL;
	cutover_incident in = {.title = "x", .severity = "severe", .opened_at = CUTOVER_TS_NULL,
			       .resolved_at = CUTOVER_TS_NULL};
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.hint, "low, medium, high, critical"));
	in.severity = "low";
	in.title = "";
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	in.title = "t";
	in.state = "closed";
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	in.state = "resolved"; /* without resolved_at */
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	in.state = "open";
	in.resolved_at = ts("2026-01-01T00:00:00Z"); /* resolved_at on an open incident */
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "resolved_at"));
	in.resolved_at = CUTOVER_TS_NULL;
	in.title = "caf\xc3";
	assert_int_equal(cutover_telemetry_create_incident(S, &i, &in, &err), CUTOVER_EINVALID);
	assert_null(i);
	assert_int_equal(cutover_telemetry_get_incident(S, &i, 999999, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_telemetry_get_incident(S, &i, 0, &err), CUTOVER_ENOTFOUND);
}

static void incident_state_machine(void **state)
{
	(void)state;
	cutover_incident *i = mkincident("Port scan", "medium"), *m = NULL;
	int64_t id = i->id;
	/* a skipped step is refused, naming the state and the allowed move */
	assert_int_equal(cutover_telemetry_transition_incident(S, &m, id, "resolved", &err), CUTOVER_EINVALID);
	assert_null(m);
	assert_non_null(strstr(err.message, "\"open\""));
	assert_non_null(strstr(err.message, "investigating"));
	assert_int_equal(cutover_telemetry_transition_incident(S, &m, id, "open", &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_telemetry_transition_incident(S, &m, id, "closed", &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_telemetry_transition_incident(S, &m, 999999, "investigating", &err), CUTOVER_ENOTFOUND);

	expect_ok(cutover_telemetry_transition_incident(S, &m, id, "investigating", &err));
	assert_string_equal(m->state, "investigating");
	assert_true(m->resolved_at == CUTOVER_TS_NULL);
	cutover_incident_free(m);
	expect_ok(cutover_telemetry_transition_incident(S, &m, id, "contained", &err));
	cutover_incident_free(m);
	cutover_ts before = cutover_now();
	expect_ok(cutover_telemetry_transition_incident(S, &m, id, "resolved", &err));
	assert_string_equal(m->state, "resolved");
	assert_true(m->resolved_at >= before && m->resolved_at <= cutover_now());
	cutover_incident *g = NULL;
	expect_ok(cutover_telemetry_get_incident(S, &g, id, &err));
	char diff[256];
	assert_int_equal(co_incident_diff(m, g, diff, sizeof diff), 0);
	cutover_incident_free(g);
	cutover_incident_free(m);

	assert_int_equal(cutover_telemetry_transition_incident(S, &m, id, "investigating", &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "\"resolved\""));
	assert_non_null(strstr(err.hint, "open"));
	/* reopen clears resolved_at */
	expect_ok(cutover_telemetry_transition_incident(S, &m, id, "open", &err));
	assert_string_equal(m->state, "open");
	assert_true(m->resolved_at == CUTOVER_TS_NULL);
	assert_true(m->opened_at == i->opened_at);
	assert_string_equal(m->title, "Port scan");
	cutover_incident_free(m);
	cutover_incident_free(i);
	assert_true(cutover_incident_move_allowed("resolved", "open"));
	assert_false(cutover_incident_move_allowed("contained", "open"));
}

/* --- events ---------------------------------------------------------------- */

static void append_assigns_ids_in_order(void **state)
{
	(void)state;
	cutover_event in[3] = {
		ev("2026-03-10T09:00:00Z", "eu-west", "high", "ssh-bruteforce", "{\"attempts\": 12}"),
		ev("2026-03-10T09:00:00.000250Z", "us-east", "low", "port-scan", NULL),
		ev("2026-03-11T00:00:00Z", "eu-west", "critical", "sqli", "{\"path\": \"/login?q=' OR 1=1\"}"),
	};
	in[1].source_ip = NULL;
	in[1].node = NULL;
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(S, &out, in, 3, &err));
	assert_int_equal(out.n, 3);
	assert_true(out.items[0].id >= 1);
	assert_true(out.items[1].id == out.items[0].id + 1);
	assert_true(out.items[2].id == out.items[0].id + 2);
	assert_true(out.items[1].occurred_at == ts("2026-03-10T09:00:00.000250Z"));
	assert_null(out.items[1].source_ip);
	assert_null(out.items[1].node);
	assert_string_equal(out.items[1].payload, "{}");
	assert_string_equal(out.items[0].payload, "{\"attempts\":12}");
	assert_string_equal(out.items[2].payload, "{\"path\":\"/login?q=' OR 1=1\"}");
	assert_int_equal(out.items[0].incident_id, 0);
	int64_t last = out.items[2].id;
	cutover_event_list_free(&out);

	cutover_event one = ev("2026-03-10T12:00:00Z", "ap-south", "medium", "xss", "{}");
	expect_ok(cutover_telemetry_append_events(S, &out, &one, 1, &err));
	assert_true(out.items[0].id == last + 1);
	cutover_event_list_free(&out);

	/* an explicit id is kept, and ids assigned later follow it */
	cutover_event two[2] = {ev("2026-03-12T01:00:00Z", "eu-west", "low", "dns", "{}"),
				ev("2026-03-12T01:00:01Z", "eu-west", "low", "dns", "{}")};
	two[0].id = 9000;
	expect_ok(cutover_telemetry_append_events(S, &out, two, 2, &err));
	assert_true(out.items[0].id == 9000);
	assert_true(out.items[1].id == last + 2);
	cutover_event_list_free(&out);
	expect_ok(cutover_telemetry_append_events(S, &out, &one, 1, &err));
	assert_true(out.items[0].id == 9001);
	cutover_event_list_free(&out);
}

static size_t count_all(void)
{
	int64_t ids[1];
	return page_through(CUTOVER_TS_NULL, CUTOVER_TS_NULL, 0, 1000, ids, 0);
}

static void append_refusals_write_nothing(void **state)
{
	(void)state;
	size_t before = count_all();
	cutover_event_list out = {0};
	cutover_event in[3] = {ev("2026-04-01T00:00:00Z", "eu-west", "low", "a", "{}"),
			       ev("2026-04-02T00:00:00Z", "eu-west", "low", "a", "{}"),
			       ev("2026-04-03T00:00:00Z", "eu-west", "low", "a", "{}")};
	in[1].incident_id = 777777; /* dangling */
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "incident_id 777777"));
	in[1].incident_id = 0;
	in[2].id = 9000; /* taken by the test before */
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "9000"));
	in[2].id = 9100;
	in[0].id = 9100; /* twice in one batch */
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	in[0].id = in[2].id = 0;
	in[0].severity = "severe";
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "event 1"));
	in[0].severity = "low";
	in[2].occurred_at = CUTOVER_TS_NULL;
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	in[2].occurred_at = ts("2026-04-03T00:00:00Z");
	in[0].id = CO_ID_MAX + 1;
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	in[0].id = 0;
	in[1].region = "caf\xc3";
	assert_int_equal(cutover_telemetry_append_events(S, &out, in, 3, &err), CUTOVER_EINVALID);
	in[1].region = "eu-west";

	static const char *const bad_payloads[] = {
		"[1, 2]", "\"text\"", "{\"a\": \"x\\u0000y\"}", "{\"a\": 1, \"a\": 2}", "{\"n\": 1e400}", "not json",
		"{\"a\": \"caf\xc3\"}", "{\"k\xc3\": 1}", "{\"a\": 1} trailing", "{\"a\": {\"b\": 1, \"b\": 2}}",
	};
	for (size_t k = 0; k < sizeof bad_payloads / sizeof *bad_payloads; k++) {
		in[1].payload = (char *)bad_payloads[k];
		if (cutover_telemetry_append_events(S, &out, in, 3, &err) != CUTOVER_EINVALID)
			fail_msg("payload %s was not refused", bad_payloads[k]);
		assert_non_null(strstr(err.message, "payload"));
	}
	assert_null(out.items);
	assert_int_equal(count_all(), before);
}

/* jsonb normalises key order, whitespace and number spelling: both stores
 * hand back the one canonical text. */
static void payload_canonical_form(void **state)
{
	(void)state;
	const char *in_text = "{ \"z\" : 1, \"a\": {\"bb\": [1, 2.50, \"x\", {\"y\": 1, \"x\": 2}], \"c\": null},"
			      "\n \"\xc3\xa9t\xc3\xa9\": true, \"num\": 1.0, \"big\": 12345678901234567890, "
			      "\"neg\": -0.125, \"exp\": 1e-7, \"zero\": -0.0, \"s\": \"quote\\\" backslash\\\\ tab\\t \\u00e9\" }";
	const char *want = "{\"a\":{\"c\":null,\"bb\":[1,2.5,\"x\",{\"x\":2,\"y\":1}]},\"s\":\"quote\\\" backslash\\\\ "
			   "tab\\t \xc3\xa9\",\"z\":1,\"big\":1.2345678901234567e+19,\"exp\":1e-07,\"neg\":-0.125,"
			   "\"num\":1,\"zero\":0,\"\xc3\xa9t\xc3\xa9\":true}";
	char *canon = NULL;
	expect_ok(co_payload_canonical(in_text, &canon, &err));
	assert_string_equal(canon, want);
	char *again = NULL;
	expect_ok(co_payload_canonical(canon, &again, &err)); /* a fixed point */
	assert_string_equal(again, want);
	free(canon);
	free(again);

	cutover_event e = ev("2027-01-01T00:00:00Z", "eu-west", "low", "canon", in_text);
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(S, &out, &e, 1, &err));
	assert_string_equal(out.items[0].payload, want);
	cutover_event_list_free(&out);
	cutover_event_page p = {0};
	cutover_event_query q = {.from = ts("2027-01-01T00:00:00Z"), .to = ts("2027-01-02T00:00:00Z")};
	expect_ok(cutover_telemetry_query_events(S, &p, &q, &err));
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].payload, want);
	assert_string_equal(p.next_cursor, "");
	cutover_event_page_free(&p);
}

static void query_range_filters_and_paging(void **state)
{
	(void)state;
	/* three days of 2030, ties on occurred_at, appended out of time order */
	cutover_event in[] = {
		ev("2030-05-02T10:00:00Z", "eu-west", "high", "ssh", "{\"i\": 0}"),
		ev("2030-05-01T23:59:59.999999Z", "eu-west", "low", "ssh", "{\"i\": 1}"),
		ev("2030-05-02T00:00:00Z", "us-east", "high", "sqli", "{\"i\": 2}"),
		ev("2030-05-02T10:00:00Z", "us-east", "critical", "ssh", "{\"i\": 3}"),
		ev("2030-05-03T00:00:00Z", "eu-west", "high", "ssh", "{\"i\": 4}"),
		ev("2030-05-02T10:00:00Z", "eu-west", "medium", "xss", "{\"i\": 5}"),
		ev("2030-05-01T08:00:00Z", "ap-south", "high", "ssh", "{\"i\": 6}"),
		ev("2030-05-02T23:00:00Z", "eu-west", "high", "ssh", "{\"i\": 7}"),
	};
	size_t n = sizeof in / sizeof *in;
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(S, &out, in, n, &err));
	int64_t id[8];
	for (size_t i = 0; i < n; i++)
		id[i] = out.items[i].id;
	cutover_event_list_free(&out);

	/* [May 2, May 3): May 3 00:00 excluded, May 2 00:00 included; ties by id */
	cutover_event_page p = {0};
	cutover_event_query q = {.from = ts("2030-05-02T00:00:00Z"), .to = ts("2030-05-03T00:00:00Z")};
	expect_ok(cutover_telemetry_query_events(S, &p, &q, &err));
	int64_t want[] = {id[2], id[0], id[3], id[5], id[7]};
	assert_int_equal(p.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(p.items[i].id == want[i]);
	assert_string_equal(p.next_cursor, "");
	assert_string_equal(p.items[0].region, "us-east");
	assert_string_equal(p.items[0].payload, "{\"i\":2}");
	cutover_event_page_free(&p);

	/* filters */
	q.region = "eu-west";
	q.severity = "high";
	q.attack_type = "ssh";
	expect_ok(cutover_telemetry_query_events(S, &p, &q, &err));
	assert_int_equal(p.n, 2);
	assert_true(p.items[0].id == id[0] && p.items[1].id == id[7]);
	cutover_event_page_free(&p);
	q.severity = "critical";
	expect_ok(cutover_telemetry_query_events(S, &p, &q, &err));
	assert_int_equal(p.n, 0);
	assert_string_equal(p.next_cursor, "");
	cutover_event_page_free(&p);

	/* paging across days: every event once, in (occurred_at, id) order */
	int64_t got[16];
	size_t total = page_through(ts("2030-05-01T00:00:00Z"), ts("2030-05-04T00:00:00Z"), 0, 3, got, 16);
	int64_t all[] = {id[6], id[1], id[2], id[0], id[3], id[5], id[7], id[4]};
	assert_int_equal(total, 8);
	for (size_t i = 0; i < 8; i++)
		assert_true(got[i] == all[i]);
	/* an exact multiple of the page size ends with an empty last page */
	total = page_through(ts("2030-05-01T00:00:00Z"), ts("2030-05-04T00:00:00Z"), 0, 4, got, 16);
	assert_int_equal(total, 8);

	/* the cursor names a position: a page from the middle */
	char cursor[CUTOVER_CURSOR_LEN];
	co_cursor_format(ts("2030-05-02T10:00:00Z"), id[0], cursor);
	cutover_event_query mid = {.from = ts("2030-05-01T00:00:00Z"), .to = ts("2030-05-04T00:00:00Z"),
				   .cursor = cursor, .limit = 2};
	expect_ok(cutover_telemetry_query_events(S, &p, &mid, &err));
	assert_int_equal(p.n, 2);
	assert_true(p.items[0].id == id[3] && p.items[1].id == id[5]);
	co_cursor_format(p.items[1].occurred_at, p.items[1].id, cursor);
	assert_string_equal(p.next_cursor, cursor);
	cutover_event_page_free(&p);

	/* refusals */
	cutover_event_query bad = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .cursor = "tomorrow"};
	assert_int_equal(cutover_telemetry_query_events(S, &p, &bad, &err), CUTOVER_EINVALID);
	bad.cursor = NULL;
	bad.limit = CUTOVER_EVENTS_MAX_LIMIT + 1;
	assert_int_equal(cutover_telemetry_query_events(S, &p, &bad, &err), CUTOVER_EINVALID);
	bad.limit = 0;
	bad.severity = "severe";
	assert_int_equal(cutover_telemetry_query_events(S, &p, &bad, &err), CUTOVER_EINVALID);
	/* an empty range is an empty last page */
	cutover_event_query empty = {.from = ts("2030-05-03T00:00:00Z"), .to = ts("2030-05-02T00:00:00Z")};
	expect_ok(cutover_telemetry_query_events(S, &p, &empty, &err));
	assert_int_equal(p.n, 0);
}

static void link_and_list_incident_events(void **state)
{
	(void)state;
	cutover_incident *inc = mkincident("Botnet", "high");
	cutover_event in[] = {
		ev("2031-01-01T00:00:03Z", "eu-west", "high", "ddos", "{}"),
		ev("2031-01-01T00:00:01Z", "eu-west", "high", "ddos", "{}"),
		ev("2031-01-02T00:00:00Z", "eu-west", "high", "ddos", "{}"),
		ev("2031-01-01T00:00:02Z", "eu-west", "high", "ddos", "{}"),
	};
	in[3].incident_id = inc->id; /* linked at append */
	cutover_event_list out = {0};
	expect_ok(cutover_telemetry_append_events(S, &out, in, 4, &err));
	int64_t id[4];
	for (int i = 0; i < 4; i++)
		id[i] = out.items[i].id;
	assert_true(out.items[3].incident_id == inc->id);
	cutover_event_list_free(&out);

	cutover_event *e = NULL;
	expect_ok(cutover_telemetry_link_event(S, &e, id[0], inc->id, &err));
	assert_true(e->incident_id == inc->id);
	assert_true(e->id == id[0]);
	assert_true(e->occurred_at == ts("2031-01-01T00:00:03Z"));
	cutover_event_free(e);
	expect_ok(cutover_telemetry_link_event(S, NULL, id[2], inc->id, &err));
	expect_ok(cutover_telemetry_link_event(S, NULL, id[1], inc->id, &err));
	assert_int_equal(cutover_telemetry_link_event(S, &e, id[1], 888888, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "incident_id 888888"));
	assert_int_equal(cutover_telemetry_link_event(S, &e, 99999999, inc->id, &err), CUTOVER_ENOTFOUND);
	assert_null(e);

	/* an incident's events, in (occurred_at, id) order, paged */
	int64_t got[8];
	size_t n = page_through(CUTOVER_TS_NULL, CUTOVER_TS_NULL, inc->id, 2, got, 8);
	assert_int_equal(n, 4);
	assert_true(got[0] == id[1] && got[1] == id[3] && got[2] == id[0] && got[3] == id[2]);
	cutover_event_page p = {0};
	expect_ok(cutover_telemetry_list_incident_events(S, &p, inc->id, NULL, 3, &err));
	assert_int_equal(p.n, 3);
	assert_true(p.items[0].id == id[1]);
	char next[CUTOVER_CURSOR_LEN];
	snprintf(next, sizeof next, "%s", p.next_cursor);
	cutover_event_page_free(&p);
	expect_ok(cutover_telemetry_list_incident_events(S, &p, inc->id, next, 3, &err));
	assert_int_equal(p.n, 1);
	assert_true(p.items[0].id == id[2]);
	assert_string_equal(p.next_cursor, "");
	cutover_event_page_free(&p);

	/* unlinking */
	expect_ok(cutover_telemetry_link_event(S, &e, id[2], 0, &err));
	assert_int_equal(e->incident_id, 0);
	cutover_event_free(e);
	n = page_through(CUTOVER_TS_NULL, CUTOVER_TS_NULL, inc->id, 10, got, 8);
	assert_int_equal(n, 3);
	assert_int_equal(cutover_telemetry_list_incident_events(S, &p, 999999, NULL, 0, &err), CUTOVER_ENOTFOUND);
	cutover_incident_free(inc);
}

/* --- what only a dual stage can show ---------------------------------------- */

static void no_comparison_differed(void **state)
{
	(void)state;
	cutover_stats st;
	cutover_telemetry_stats(S, &st);
	test_expect_no_drift(&st, stage);
}

/* In every stage that writes both stores, both now hold the same records. */
static void both_stores_hold_the_same_records(void **state)
{
	(void)state;
	if (!cutover_stage_describe(stage)->writes_both)
		skip();
	cutover_telemetry *js = NULL, *ps = NULL;
	expect_ok(cutover_telemetry_json(&js, env.json_root, NULL, &err));
	expect_ok(cutover_telemetry_postgres(&ps, env.conninfo, &err));
	int incidents = 0;
	for (int64_t id = 1; id <= 520; id++) {
		cutover_incident *a = NULL, *b = NULL;
		int ra = cutover_telemetry_get_incident(js, &a, id, &err);
		int rb = cutover_telemetry_get_incident(ps, &b, id, &err);
		assert_int_equal(ra, rb);
		if (ra == CUTOVER_OK) {
			char diff[256];
			if (co_incident_diff(a, b, diff, sizeof diff))
				fail_msg("incident %lld differs between stores: %s", (long long)id, diff);
			incidents++;
		}
		cutover_incident_free(a);
		cutover_incident_free(b);
	}
	assert_true(incidents >= 5);
	char ca[CUTOVER_CURSOR_LEN] = "", cb[CUTOVER_CURSOR_LEN] = "";
	size_t events = 0;
	for (int pages = 0; pages < 100; pages++) {
		cutover_event_page a = {0}, b = {0};
		cutover_event_query qa = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .cursor = ca, .limit = 7};
		cutover_event_query qb = qa;
		qb.cursor = cb;
		expect_ok(cutover_telemetry_query_events(js, &a, &qa, &err));
		expect_ok(cutover_telemetry_query_events(ps, &b, &qb, &err));
		assert_int_equal(a.n, b.n);
		for (size_t i = 0; i < a.n; i++) {
			char diff[256];
			if (co_event_diff(&a.items[i], &b.items[i], diff, sizeof diff))
				fail_msg("event %lld differs between stores: %s", (long long)a.items[i].id, diff);
			assert_string_equal(a.items[i].payload, b.items[i].payload); /* byte for byte */
		}
		events += a.n;
		assert_string_equal(a.next_cursor, b.next_cursor);
		snprintf(ca, sizeof ca, "%s", a.next_cursor);
		snprintf(cb, sizeof cb, "%s", b.next_cursor);
		cutover_event_page_free(&a);
		cutover_event_page_free(&b);
		if (!ca[0])
			break;
	}
	assert_true(events >= 20);
	cutover_telemetry_free(js);
	cutover_telemetry_free(ps);
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(incidents_round_trip),
		cmocka_unit_test(incident_bad_input_is_refused),
		cmocka_unit_test(incident_state_machine),
		cmocka_unit_test(append_assigns_ids_in_order),
		cmocka_unit_test(append_refusals_write_nothing),
		cmocka_unit_test(payload_canonical_form),
		cmocka_unit_test(query_range_filters_and_paging),
		cmocka_unit_test(link_and_list_incident_events),
		cmocka_unit_test(no_comparison_differed),
		cmocka_unit_test(both_stores_hold_the_same_records),
	};
	test_log_capture();
	int failed = 0;
	for (int i = 0; i < CUTOVER_STAGE_COUNT; i++) {
		const char *name = cutover_stage_describe((cutover_stage)i)->name;
		bool wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= strcmp(argv[a], name) == 0;
		if (!wanted)
			continue;
		stage = (cutover_stage)i;
		char group[64];
		snprintf(group, sizeof(group), "telemetry conformance, stage %s", name);
		failed += cmocka_run_group_tests_name(group, tests, setup, teardown);
	}
	test_log_reset();
	return failed ? 1 : 0;
}
