/* json_encode.h — the json backends' record encoders, for `cutover export`.
 *
 * Each writes every field the library knows of a record into a JSON object
 * in place (fields it does not know stay, as on any rewrite by the json
 * backend), exactly as the backend's own writes do: they are the same
 * functions (json_identity.c, json_profile.c, json_reports.c,
 * json_telemetry.c). The export builds the legacy documents from Postgres
 * with them, so an exported document is what the json backend would have
 * written. Return CUTOVER_OK, CUTOVER_EINTERNAL or CUTOVER_EINVALID (a value
 * the document cannot carry).
 */
#ifndef CUTOVER_JSON_ENCODE_H
#define CUTOVER_JSON_ENCODE_H

#include <cjson/cJSON.h>

#include "json_store.h"
#include "profile_int.h"
#include "reports_int.h"
#include "telemetry_int.h"

int co_json_write_user(cJSON *rec, const cutover_user *u, cutover_error *err);
int co_json_write_session(cJSON *rec, const cutover_session *s, cutover_error *err);
/* The record fields only; the document's "cutover_last_ids" is the caller's. */
int co_json_write_portfolio(cJSON *rec, const cutover_portfolio *p, cutover_error *err);
/* before: what rec decodes to (only the fields that differ are written, so
 * the others keep their bytes), or NULL for every field. */
int co_json_write_report(cJSON *rec, const cutover_report *before, const cutover_report *r, cutover_error *err);
int co_json_write_incident(cJSON *rec, const cutover_incident *i, cutover_error *err);
/* e->payload is canonical JSON text (the stores hand back no other). */
int co_json_write_event(cJSON *rec, const cutover_event *e, cutover_error *err);

/* telemetry/.event-ids.json: its key and its text for a next id, as the
 * json backend writes it ({"next_id":N} and a newline). */
#define CO_EVENT_COUNTER_KEY "telemetry/.event-ids.json"
int co_json_event_counter_text(int64_t next, char *buf, size_t len);
/* profile/profiles.json's top-level high-water marks of the ids ever stored. */
#define CO_PROFILE_MARKS_KEY "cutover_last_ids"

#endif
