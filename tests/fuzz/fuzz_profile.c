/* fuzz_profile.c — profile/profiles.json records (adapters/json/legacy_profile.c).
 *
 * Every framed item of {"profiles": [...]} goes through the strict decoder.
 * A portfolio it accepts must pass the rules the app's own writes pass
 * (co_portfolio_check), have dates that are real "YYYY-MM-DD" dates, and
 * copy and compare equal to itself; a refused one leaves nothing behind.
 */
#include "co.h"
#include "fuzz.h"
#include "legacy_profile.h"

static void check_date(const char *d)
{
	if (d)
		FUZZ_CHECK(strlen(d) == 10 && co_date_valid(d));
}

static void profile_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_portfolio *p = NULL;
	cutover_error err = {0};
	int rc = co_legacy_portfolio(it, &p, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(p == NULL);
		fuzz_check_error(rc, &err);
		return;
	}
	FUZZ_CHECK(p != NULL);
	fuzz_check_whole_json(it);
	FUZZ_CHECK(p->user_id > 0 && p->user_id <= CO_ID_MAX);
	cutover_error again = {0};
	FUZZ_CHECK(co_portfolio_check(p, true, CUTOVER_ECORRUPT, NULL, &again) == CUTOVER_OK);
	for (size_t i = 0; i < p->n_specialties; i++)
		FUZZ_CHECK(p->specialties[i] != NULL);
	for (size_t i = 0; i < p->n_tools; i++)
		FUZZ_CHECK(p->tools[i] != NULL);
	for (size_t i = 0; i < p->n_certifications; i++) {
		FUZZ_CHECK(p->certifications[i].id > 0);
		check_date(p->certifications[i].issued_on);
		check_date(p->certifications[i].expires_on);
	}
	for (size_t i = 0; i < p->n_education; i++)
		FUZZ_CHECK(p->education[i].id > 0);
	cutover_portfolio *d = co_portfolio_dup(p);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_portfolio_diff(p, d, diff, sizeof diff) == 0);
	cutover_portfolio_free(d);
	cutover_portfolio_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, "profiles", profile_item, NULL);
	return 0;
}
