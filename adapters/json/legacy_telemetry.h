/* legacy_telemetry.h — one definition of a legacy telemetry record.
 *
 * The json backend, survey, backfill and verify all decode the lines of
 * telemetry/events/YYYY-MM-DD.ndjson and the records of
 * telemetry/incidents.json through these functions. Decoding is strict: a
 * record is mapped completely (every value Postgres can hold, normalised as
 * the wrappers normalise it, the payload in its canonical text) or refused
 * with a reason in err->message (CUTOVER_ECORRUPT) naming the field.
 */
#ifndef CUTOVER_LEGACY_TELEMETRY_H
#define CUTOVER_LEGACY_TELEMETRY_H

#include <cjson/cJSON.h>

#include "legacy_identity.h" /* co_legacy_parse: the one strict record parser */
#include "legacy_scan.h"
#include "telemetry_int.h"

#define CO_EVENTS_PREFIX "telemetry/events/"
#define CO_INCIDENTS_KEY "telemetry/incidents.json"
#define CO_INCIDENTS_COLL "incidents"

/* Is key CO_EVENTS_PREFIX "YYYY-MM-DD.ndjson" with a real calendar date?
 * date (11 bytes) gets "YYYY-MM-DD". */
bool co_events_file_date(const char *key, char date[11]);
/* The key of the daily file holding an event that occurred at t. */
void co_events_key_of(cutover_ts t, char *buf, size_t len);

/* An event read in place: the strings point into the record's tree and the
 * payload is the tree's object (NULL: {}), checked but not canonicalised.
 * The same rules as co_legacy_event_fill (which is built on it); valid
 * while rec is. For the backfill, which copies it out at once. */
typedef struct co_event_view {
	int64_t id;
	cutover_ts occurred_at;
	const char *source_ip, *region, *node, *attack_type, *severity;
	cJSON *payload;
	int64_t incident_id;
} co_event_view;
int co_legacy_event_view(cJSON *rec, const char *file_date, co_event_view *v, cutover_error *err);
/* Where the top-level "payload" object's text is in a record's bytes. */
bool co_legacy_payload_span(const char *p, size_t n, size_t *off, size_t *len);

/* A parsed record -> a normalised event. file_date ("YYYY-MM-DD", or NULL
 * to skip the check): an event must sit in the file of its occurred_at's
 * UTC date, since that is where every reader looks for it. The payload's
 * keys are sorted in place (its canonical order). */
int co_legacy_event_from_json(cJSON *rec, const char *file_date, cutover_event **out, cutover_error *err);
/* Into a caller-owned record (no allocation of the struct itself). */
int co_legacy_event_fill(cJSON *rec, const char *file_date, cutover_event *e, cutover_error *err);
int co_legacy_incident_from_json(const cJSON *rec, cutover_incident **out, cutover_error *err);

/* Scanned element -> record, both steps (co_legacy_parse, then decode). A
 * line the file ends inside of is reported as truncated. */
int co_legacy_event(const co_scan_item *it, const char *file_date, cutover_event **out, cutover_error *err);
int co_legacy_incident(const co_scan_item *it, cutover_incident **out, cutover_error *err);
/* co_legacy_parse, naming a line the file ends inside of as truncated. */
int co_legacy_event_parse(const co_scan_item *it, cJSON **out, cutover_error *err);
/* Into a caller-owned record (co_event_clear it). */
int co_legacy_event_item(const co_scan_item *it, const char *file_date, cutover_event *e, cutover_error *err);

#endif
