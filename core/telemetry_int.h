/* telemetry_int.h — the telemetry domain's internals shared across layers.
 *
 * Record helpers (copy, diff), the one definition of a canonical payload and
 * of the incident state machine (core/telemetry.c), and the constructors of
 * the json and postgres backends and the stage router. Not installed.
 */
#ifndef CUTOVER_TELEMETRY_INT_H
#define CUTOVER_TELEMETRY_INT_H

#include <cjson/cJSON.h>

#include "co.h"
#include "cutover/telemetry.h"

typedef struct co_pg co_pg;
typedef struct co_transport co_transport;
typedef struct co_journal co_journal;

/* --- records (core/telemetry.c) --- */
void co_event_clear(cutover_event *e);
/* Deep copy into *dst (which is overwritten); false when out of memory. */
bool co_event_copy(cutover_event *dst, const cutover_event *src);
cutover_event *co_event_dup(const cutover_event *e);
cutover_incident *co_incident_dup(const cutover_incident *i);
/* Names of fields that differ, comma-separated, into buf; returns count.
 * Payloads are compared as JSON values (cJSON_Compare), not as text. */
int co_event_diff(const cutover_event *a, const cutover_event *b, char *buf, size_t len);
int co_incident_diff(const cutover_incident *a, const cutover_incident *b, char *buf, size_t len);

/* Replication's "newer" for incidents: a's updated_at is later than b's
 * (CUTOVER_TS_NULL, a legacy record without one, is older than any). Every
 * create and transition stamps updated_at with co_ts_advance, so it only
 * grows. */
bool co_incident_newer(const cutover_incident *a, const cutover_incident *b);

bool co_severity_valid(const char *s);
bool co_incident_state_valid(const char *s);
/* The state machine, decided once for every backend: CUTOVER_OK when
 * `from` may move to `to`; else CUTOVER_EINVALID whose message names the
 * incident, its current state and the moves allowed from it. */
int co_incident_move_check(int64_t id, const char *from, const char *to, cutover_error *err);

/* The canonical text of a payload (see cutover/telemetry.h): malloc'd into
 * *out. CUTOVER_EINVALID with a message saying what is wrong ("payload: ...")
 * for anything that is not a JSON object the stores can hold. */
int co_payload_canonical(const char *text, char **out, cutover_error *err);
/* The same for a parsed value; obj is sorted in place. Refuses non-objects,
 * duplicate keys, invalid UTF-8, non-finite numbers (the caller has already
 * refused \u0000, which cJSON cannot show). */
int co_payload_canonical_json(cJSON *obj, char **out, cutover_error *err);

/* The checks of co_payload_canonical_json without the sorting and printing:
 * for a payload whose text is sent as it is (the backfill; jsonb normalises
 * it, every reader canonicalises). Duplicate keys are the caller's to have
 * refused (co_legacy_parse does). */
int co_payload_check_json(const cJSON *obj, cutover_error *err);

/* The (occurred_at, id) order of events. */
int co_event_cmp(const cutover_event *a, const cutover_event *b);

/* --- backends and the router --- */
/* Takes ownership of t (also on failure). */
int co_json_telemetry_new(cutover_telemetry **out, co_transport *t, cutover_error *err);
/* Takes ownership of pg (also on failure). */
int co_pg_telemetry_new(cutover_telemetry **out, co_pg *pg, cutover_error *err);
/* Internal, for `cutover reconcile` (not in the op table): the stored events
 * among ids (n of them, any order, repeats allowed), sorted by id; an id
 * that is not stored is simply not in out. The json store reads every daily
 * file once, whatever n is (the first readable line of an id counts, as for
 * put_events); the postgres store asks once. s must be a handle of that
 * kind. */
int co_json_telemetry_get_events(cutover_telemetry *s, const int64_t *ids, size_t n, cutover_event_list *out,
				 cutover_error *err);
int co_pg_telemetry_get_events(cutover_telemetry *s, const int64_t *ids, size_t n, cutover_event_list *out,
			       cutover_error *err);

/* Takes ownership of json, pg and journal (also on failure). */
int co_telemetry_router(cutover_telemetry **out, cutover_stage stage, cutover_telemetry *json,
			cutover_telemetry *pg, co_journal *journal, cutover_error *err);

/* The postgres backend's event query (adapters/postgres/pg_telemetry.c), for
 * the test that EXPLAINs it: $1 from, $2 to, $3 region, $4 severity,
 * $5 attack_type, $6 incident_id, $7/$8 cursor (occurred_at, id), $9 limit. */
extern const char co_pg_events_query_sql[];

#endif
