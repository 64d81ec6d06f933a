/* legacy_reports.h — one definition of a legacy report record.
 *
 * The json backend, survey, backfill and verify decode reports/reports.json
 * records through these functions, so "what a legacy report means" is
 * written once (docs/legacy-layout.md, reports/reports.json). Decoding is
 * strict: a record is mapped completely or refused with a reason that names
 * the field and what is wrong with it. References (author, incident,
 * actors) are not checked here: they point into other documents.
 */
#ifndef CUTOVER_LEGACY_REPORTS_H
#define CUTOVER_LEGACY_REPORTS_H

#include <cjson/cJSON.h>

#include "legacy_scan.h"
#include "reports_int.h"

/* A parsed record object -> a normalised report (tags by the tag rule,
 * status consistent with archived_at, updated_at defaulting to created_at). */
int co_legacy_report_from_json(const cJSON *rec, cutover_report **out, cutover_error *err);
/* A scanned element -> a report (co_legacy_parse, then the above). */
int co_legacy_report(const co_scan_item *it, cutover_report **out, cutover_error *err);

#endif
