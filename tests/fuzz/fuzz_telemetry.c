/* fuzz_telemetry.c — telemetry/incidents.json records
 * (adapters/json/legacy_telemetry.c, co_legacy_incident).
 *
 * Every framed item of {"incidents": [...]} goes through the strict decoder.
 * An incident it accepts must hold what the contract says: an id in
 * 1..2^53, a non-empty title of valid UTF-8 within the text limit, a valid
 * state and severity, resolved_at set exactly when resolved; and it must
 * copy and compare equal to itself. A refused one leaves nothing behind.
 * The daily event files have their own harness (fuzz_events).
 */
#include "co.h"
#include "fuzz.h"
#include "legacy_telemetry.h"

static void incident_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_incident *i = NULL;
	cutover_error err = {0};
	int rc = co_legacy_incident(it, &i, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(i == NULL);
		fuzz_check_error(rc, &err);
		return;
	}
	FUZZ_CHECK(i != NULL);
	fuzz_check_whole_json(it);
	FUZZ_CHECK(i->id > 0 && i->id <= CO_ID_MAX);
	FUZZ_CHECK(i->title && *i->title && co_utf8_valid(i->title) && strlen(i->title) <= CUTOVER_TELEMETRY_TEXT_MAX);
	FUZZ_CHECK(co_incident_state_valid(i->state));
	FUZZ_CHECK(co_severity_valid(i->severity));
	FUZZ_CHECK(co_ts_in_range(i->opened_at));
	FUZZ_CHECK((strcmp(i->state, "resolved") == 0) == (i->resolved_at != CUTOVER_TS_NULL));
	cutover_incident *d = co_incident_dup(i);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_incident_diff(i, d, diff, sizeof diff) == 0);
	cutover_incident_free(d);
	cutover_incident_free(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, CO_INCIDENTS_COLL, incident_item, NULL);
	return 0;
}
