/* fuzz_reports.c — reports/reports.json records (adapters/json/legacy_reports.c).
 *
 * Every framed item of {"reports": [...]} goes through the strict decoder.
 * A report it accepts must hold what the contract says: ids in 1..2^53, a
 * non-empty title, a valid severity and status consistent with
 * archived_at, tags trimmed, non-empty and without repeats, actions with a
 * name and a time, valid UTF-8 everywhere; and it must copy and compare
 * equal to itself. A refused one leaves nothing behind.
 */
#include "co.h"
#include "fuzz.h"
#include "legacy_reports.h"

static bool ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void report_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_report *r = NULL;
	cutover_error err = {0};
	int rc = co_legacy_report(it, &r, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(r == NULL);
		fuzz_check_error(rc, &err);
		return;
	}
	FUZZ_CHECK(r != NULL);
	fuzz_check_whole_json(it);
	FUZZ_CHECK(r->id > 0 && r->id <= CO_ID_MAX);
	FUZZ_CHECK(r->author_id > 0 && r->author_id <= CO_ID_MAX);
	FUZZ_CHECK(r->incident_id >= 0 && r->incident_id <= CO_ID_MAX);
	FUZZ_CHECK(r->title && *r->title && co_utf8_valid(r->title));
	FUZZ_CHECK(co_utf8_valid(r->summary) && co_utf8_valid(r->content));
	FUZZ_CHECK(co_report_severity_valid(r->severity));
	FUZZ_CHECK(co_report_status_valid(r->status));
	FUZZ_CHECK((strcmp(r->status, "archived") == 0) == (r->archived_at != CUTOVER_TS_NULL));
	FUZZ_CHECK(r->created_at != CUTOVER_TS_NULL && r->updated_at != CUTOVER_TS_NULL);
	for (size_t i = 0; i < r->n_tags; i++) {
		const char *t = r->tags[i];
		FUZZ_CHECK(t && *t && co_utf8_valid(t));
		FUZZ_CHECK(!ascii_space(t[0]) && !ascii_space(t[strlen(t) - 1]));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(r->tags[j], t) != 0);
	}
	for (size_t i = 0; i < r->n_actions; i++) {
		FUZZ_CHECK(r->actions[i].action && *r->actions[i].action);
		FUZZ_CHECK(r->actions[i].at != CUTOVER_TS_NULL);
		FUZZ_CHECK(r->actions[i].actor_id >= 0);
		FUZZ_CHECK(co_utf8_valid(r->actions[i].action) && co_utf8_valid(r->actions[i].note));
	}
	cutover_report *d = co_report_dup(r);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_report_diff(r, d, diff, sizeof diff) == 0);
	cutover_report_free(d);
	cutover_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, "reports", report_item, NULL);
	return 0;
}
