/* stage.c — what each of the six stages means, in one table.
 *
 * The router reads this table instead of testing stage names, so "what does
 * shadow do" has one answer, here. Names follow LaunchDarkly's migration
 * stages.
 */
#include <string.h>

#include "co.h"

static const cutover_stage_info stages[CUTOVER_STAGE_COUNT] = {
	/*                          pg_auth writes_both compares_reads */
	[CUTOVER_STAGE_JSON] = {"json", false, false, false},
	[CUTOVER_STAGE_DUALWRITE] = {"dualwrite", false, true, false},
	[CUTOVER_STAGE_SHADOW] = {"shadow", false, true, true},
	[CUTOVER_STAGE_LIVE] = {"live", true, true, true},
	[CUTOVER_STAGE_RAMPDOWN] = {"rampdown", true, true, false},
	[CUTOVER_STAGE_POSTGRES] = {"postgres", true, false, false},
};

static const char *const domains[CUTOVER_DOMAIN_COUNT][2] = {
	[CUTOVER_DOMAIN_IDENTITY] = {"identity", "IDENTITY_STORE"},
	[CUTOVER_DOMAIN_PROFILE] = {"profile", "PROFILE_STORE"},
	[CUTOVER_DOMAIN_REPORTS] = {"reports", "REPORTS_STORE"},
	[CUTOVER_DOMAIN_TELEMETRY] = {"telemetry", "TELEMETRY_STORE"},
};

CUTOVER_API const char *cutover_domain_name(cutover_domain d)
{
	return (unsigned)d < CUTOVER_DOMAIN_COUNT ? domains[d][0] : NULL;
}

CUTOVER_API const char *cutover_domain_flag(cutover_domain d)
{
	return (unsigned)d < CUTOVER_DOMAIN_COUNT ? domains[d][1] : NULL;
}

CUTOVER_API const cutover_stage_info *cutover_stage_describe(cutover_stage s)
{
	return (unsigned)s < CUTOVER_STAGE_COUNT ? &stages[s] : NULL;
}

CUTOVER_API int cutover_stage_parse(const char *value, cutover_stage *out)
{
	for (int i = 0; value && i < CUTOVER_STAGE_COUNT; i++) {
		if (strcmp(value, stages[i].name) == 0) {
			*out = (cutover_stage)i;
			return CUTOVER_OK;
		}
	}
	return CUTOVER_EINVALID;
}

CUTOVER_API const char *cutover_stage_list(void)
{
	return "json, dualwrite, shadow, live, rampdown, postgres";
}
