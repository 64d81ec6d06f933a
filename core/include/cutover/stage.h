/* cutover/stage.h — the four domains and the six migration stages.
 *
 * A stage says which store is authoritative, whether writes go to both
 * stores, and whether reads are served by both and compared. The table lives
 * in core/stage.c; nothing else in the library hard-codes what a stage means.
 */
#ifndef CUTOVER_STAGE_H
#define CUTOVER_STAGE_H

#include <stdbool.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cutover_domain {
	CUTOVER_DOMAIN_IDENTITY = 0,
	CUTOVER_DOMAIN_PROFILE,
	CUTOVER_DOMAIN_REPORTS,
	CUTOVER_DOMAIN_TELEMETRY,
	CUTOVER_DOMAIN_COUNT
} cutover_domain;

typedef enum cutover_stage {
	CUTOVER_STAGE_JSON = 0,
	CUTOVER_STAGE_DUALWRITE,
	CUTOVER_STAGE_SHADOW,
	CUTOVER_STAGE_LIVE,
	CUTOVER_STAGE_RAMPDOWN,
	CUTOVER_STAGE_POSTGRES,
	CUTOVER_STAGE_COUNT
} cutover_stage;

typedef struct cutover_stage_info {
	const char *name;        /* the flag value, e.g. "shadow" */
	bool pg_authoritative;   /* postgres answers and is written first */
	bool writes_both;        /* the non-authoritative store is written second */
	bool compares_reads;     /* reads go to both stores and are compared */
} cutover_stage_info;

/* "identity", "profile", "reports", "telemetry"; NULL when out of range. */
CUTOVER_API const char *cutover_domain_name(cutover_domain d);
/* The env flag of a domain without prefix: "IDENTITY_STORE" ... */
CUTOVER_API const char *cutover_domain_flag(cutover_domain d);
/* What a stage means; NULL when out of range. */
CUTOVER_API const cutover_stage_info *cutover_stage_describe(cutover_stage s);
/* Parse a flag value; returns CUTOVER_EINVALID for anything not a stage name. */
CUTOVER_API int cutover_stage_parse(const char *value, cutover_stage *out);
/* "json, dualwrite, shadow, live, rampdown, postgres" */
CUTOVER_API const char *cutover_stage_list(void);

#ifdef __cplusplus
}
#endif
#endif
