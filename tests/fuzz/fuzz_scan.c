/* fuzz_scan.c — the legacy record framer (adapters/json/legacy_scan.c).
 *
 * The bytes are framed three ways: as {"users": [...]}, as {"sessions":
 * [...]} (so a document with the other collection first is walked past) and
 * as NDJSON lines. fuzz_scan_each checks every item against the input; here
 * each record item also goes through the one strict parser every decoder
 * starts with (co_legacy_parse), which must either give an object or say
 * why not.
 */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "legacy_identity.h"

static void parse_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cJSON *j = NULL;
	cutover_error err = {0};
	int rc = co_legacy_parse(it, &j, &err);
	if (rc == CUTOVER_OK) {
		FUZZ_CHECK(cJSON_IsObject(j));
		FUZZ_CHECK(it->kind == CO_SCAN_RECORD && !it->nul_escape);
		fuzz_check_whole_json(it);
		cJSON_Delete(j);
	} else {
		FUZZ_CHECK(j == NULL);
		fuzz_check_error(rc, &err);
		if (it->kind != CO_SCAN_RECORD)
			FUZZ_CHECK(rc == CUTOVER_ECORRUPT);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, "users", parse_item, NULL);
	fuzz_scan_each(data, size, "sessions", NULL, NULL);
	fuzz_scan_each(data, size, NULL, parse_item, NULL);
	return 0;
}
