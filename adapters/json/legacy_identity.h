/* legacy_identity.h — one definition of a legacy identity record.
 *
 * The json backend (reading records at run time), the backfill, the survey
 * and verify all decode users.json and sessions.json records through these
 * functions, so "what a legacy record means" is written once. Decoding is
 * strict: a record is either mapped completely (every field Postgres can
 * hold, normalised as the contract says) or refused with a reason in
 * err->message that names the field and what is wrong with it.
 */
#ifndef CUTOVER_LEGACY_IDENTITY_H
#define CUTOVER_LEGACY_IDENTITY_H

#include <cjson/cJSON.h>

#include "legacy_scan.h"

/* A parsed record object -> a normalised user / session. */
int co_legacy_user_from_json(const cJSON *rec, cutover_user **out, cutover_error *err);
int co_legacy_session_from_json(const cJSON *rec, cutover_session **out, cutover_error *err);

/* A scanned element -> its JSON object: refuses truncated or garbage items,
 * malformed JSON, non-objects, a key that appears twice, and the escape
 * \u0000 (Postgres text cannot hold NUL). The caller deletes *out. */
int co_legacy_parse(const co_scan_item *it, cJSON **out, cutover_error *err);

/* The rules a parsed element must hold beyond being JSON, the same for the
 * app and the backfill: an object, no key twice, no \u0000 in a string
 * (nul_escape: co_scan_item's flag, or co_json_has_nul_escape). */
int co_legacy_strict(const cJSON *j, bool nul_escape, cutover_error *err);

/* Scanned element -> record, both steps. */
int co_legacy_user(const co_scan_item *it, cutover_user **out, cutover_error *err);
int co_legacy_session(const co_scan_item *it, cutover_session **out, cutover_error *err);

#endif
