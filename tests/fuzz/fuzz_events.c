/* fuzz_events.c — the NDJSON reader of telemetry/events/YYYY-MM-DD.ndjson
 * (adapters/json/legacy_scan.c in line mode, legacy_telemetry.c's event
 * decoder, as both the json backend and the backfill read a daily file).
 *
 * Every line goes through the strict decoder without the file-date check,
 * then the way the backfill reads it (co_legacy_event_parse, then the
 * in-place view against a file date). For an event that is accepted:
 * - it reads in place in the file of its own UTC date, and in no other
 *   (the day before and after are refused);
 * - the daily file named for it (co_events_key_of) is a valid daily file
 *   name for that date;
 * - the view and the copied record agree field by field;
 * - its payload is canonical (canonicalising it again changes nothing);
 * - where the backfill takes the payload's own text from the line
 *   (co_legacy_payload_span), that text is the same JSON value as the
 *   payload the decoder checked;
 * - it copies and compares equal to itself.
 */
#include <cjson/cJSON.h>

#include "co.h"
#include "fuzz.h"
#include "legacy_telemetry.h"

#define DAY_US (86400LL * 1000000LL)

/* "YYYY-MM-DD" of t, or "" when t is outside years 0001-9999. */
static void date_of(cutover_ts t, char date[11])
{
	char ts[40];
	date[0] = '\0';
	if (!co_ts_in_range(t))
		return;
	cutover_ts_format(t, ts, sizeof ts);
	memcpy(date, ts, 10);
	date[10] = '\0';
}

static void check_view_matches(const co_event_view *v, const cutover_event *e)
{
	FUZZ_CHECK(v->id == e->id && v->occurred_at == e->occurred_at && v->incident_id == e->incident_id);
	FUZZ_CHECK(co_streq(v->source_ip, e->source_ip) && co_streq(v->region, e->region));
	FUZZ_CHECK(co_streq(v->node, e->node) && co_streq(v->attack_type, e->attack_type));
	FUZZ_CHECK(co_streq(v->severity, e->severity));
}

/* The backfill's payload text: the line's own bytes when it can find them. */
static void check_payload_span(const co_scan_item *it, const co_event_view *v)
{
	size_t off = 0, len = 0;
	if (!co_legacy_payload_span(it->bytes, it->len, &off, &len))
		return;
	FUZZ_CHECK(off < it->len && len <= it->len - off);
	FUZZ_CHECK(v->payload != NULL); /* a span is only found for an object */
	cJSON *span = cJSON_ParseWithLength(it->bytes + off, len);
	FUZZ_CHECK(span != NULL);
	FUZZ_CHECK(fuzz_tree_equal(span, v->payload));
	cJSON_Delete(span);
}

static void event_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_event e;
	cutover_error err = {0};
	int rc = co_legacy_event_item(it, NULL, &e, &err);
	if (rc != CUTOVER_OK) {
		fuzz_check_error(rc, &err);
		/* read in place against a file date, it is refused with a reason too */
		cJSON *j = NULL;
		co_event_view v;
		cutover_error why = {0};
		rc = co_legacy_event_parse(it, &j, &why);
		if (rc == CUTOVER_OK)
			rc = co_legacy_event_view(j, "2026-01-01", &v, &why);
		if (rc != CUTOVER_OK)
			fuzz_check_error(rc, &why);
		cJSON_Delete(j);
		return;
	}
	fuzz_check_whole_json(it);
	FUZZ_CHECK(e.id > 0 && e.id <= CO_ID_MAX);
	FUZZ_CHECK(co_ts_in_range(e.occurred_at));
	FUZZ_CHECK(co_severity_valid(e.severity));
	FUZZ_CHECK(e.incident_id >= 0 && e.incident_id <= CO_ID_MAX);
	FUZZ_CHECK(e.payload != NULL);
	char *again = NULL;
	FUZZ_CHECK(co_payload_canonical(e.payload, &again, &err) == CUTOVER_OK);
	FUZZ_CHECK(strcmp(again, e.payload) == 0);
	free(again);

	/* its own daily file */
	char date[11], key[64], back[11];
	date_of(e.occurred_at, date);
	FUZZ_CHECK(date[0] != '\0');
	co_events_key_of(e.occurred_at, key, sizeof key);
	FUZZ_CHECK(co_events_file_date(key, back));
	FUZZ_CHECK(strcmp(back, date) == 0);

	/* read in place, as the backfill reads it from that file */
	cJSON *j = NULL;
	cutover_error why = {0};
	FUZZ_CHECK(co_legacy_event_parse(it, &j, &why) == CUTOVER_OK);
	co_event_view v;
	FUZZ_CHECK(co_legacy_event_view(j, date, &v, &why) == CUTOVER_OK);
	check_view_matches(&v, &e);
	check_payload_span(it, &v);
	/* and refused in the files of the days around it */
	char other[11];
	date_of(e.occurred_at - DAY_US, other);
	if (other[0]) {
		co_event_view w;
		FUZZ_CHECK(co_legacy_event_view(j, other, &w, &why) == CUTOVER_ECORRUPT);
	}
	date_of(e.occurred_at + DAY_US, other);
	if (other[0]) {
		co_event_view w;
		FUZZ_CHECK(co_legacy_event_view(j, other, &w, &why) == CUTOVER_ECORRUPT);
	}
	cJSON_Delete(j);

	cutover_event *d = co_event_dup(&e);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_event_diff(&e, d, diff, sizeof diff) == 0);
	cutover_event_free(d);
	co_event_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, NULL, event_item, NULL);
	return 0;
}
