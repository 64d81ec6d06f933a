/* legacy_profile.h — one definition of a legacy profile record.
 *
 * The json backend (reading profiles at run time), the backfill, the survey
 * and verify all decode profile/profiles.json records through these
 * functions. Decoding is strict: a record is either mapped completely (every
 * rule of co_portfolio_check holds) or refused with a reason that names the
 * entry and the field.
 */
#ifndef CUTOVER_LEGACY_PROFILE_H
#define CUTOVER_LEGACY_PROFILE_H

#include <cjson/cJSON.h>

#include "legacy_scan.h"
#include "profile_int.h"

/* A parsed record object -> a portfolio (ids as stored, never 0). */
int co_legacy_portfolio_from_json(const cJSON *rec, cutover_portfolio **out, cutover_error *err);
/* Scanned element -> portfolio (co_legacy_parse, then the above). */
int co_legacy_portfolio(const co_scan_item *it, cutover_portfolio **out, cutover_error *err);
/* A date field: "YYYY-MM-DD", or an ISO-8601 timestamp or epoch
 * milliseconds that falls exactly on midnight UTC; no value (absent, null,
 * "") gives NULL. *out is malloc'd "YYYY-MM-DD". */
int co_legacy_date(const cJSON *obj, const char *name, char **out, cutover_error *err);

#endif
