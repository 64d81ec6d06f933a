/* cutover/telemetry.h — the telemetry domain: security events and incidents.
 *
 * One interface, several implementations (libgit2's refdb backends are the
 * model): `cutover_telemetry` is a versioned table of operations filled by
 * the json backend (telemetry/events/YYYY-MM-DD.ndjson and
 * telemetry/incidents.json), the postgres backend (operations.telemetry_events,
 * operations.incidents) and the stage router.
 *
 * Apps call the cutover_telemetry_* functions below, not the table: they
 * validate and normalise input once (severity and state names, UTF-8, ids at
 * most 2^53, timestamps in years 0001-9999, text lengths, the payload put in
 * its canonical form), so every backend sees the same values and gives the
 * same answers.
 *
 * Payloads. An event's payload is a JSON object. Postgres keeps it as jsonb,
 * which normalises text (key order, whitespace, number spelling), so the
 * library gives every payload one canonical text: the object with its keys
 * sorted as jsonb sorts them (shorter keys first, then bytewise) at every
 * depth, printed compactly, numbers as IEEE doubles printed the shortest way
 * that reads back (as the JavaScript app that wrote the legacy files held
 * them). Input is canonicalised once by the wrappers; both backends hand
 * back canonical text, so the same event reads back byte for byte the same
 * from either store. Refused: anything that is not an object, a key that
 * appears twice in one object, the escape \u0000, invalid UTF-8, a number
 * too large for a double (1e400), more than CUTOVER_PAYLOAD_MAX bytes.
 *
 * Incidents move open -> investigating -> contained -> resolved, and
 * resolved -> open (reopen). Any other move is CUTOVER_EINVALID, and the
 * message names the current state and the moves allowed from it. resolved_at
 * is set when an incident is resolved and cleared when it is reopened: an
 * incident has a resolved_at exactly when it is resolved.
 *
 * Ownership: every record handed out belongs to the caller and is released
 * with the matching *_free. Input records are borrowed for the call. A
 * handle is not thread-safe: use one per thread.
 */
#ifndef CUTOVER_TELEMETRY_H
#define CUTOVER_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "types.h"
#include "open.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severities of events and incidents: "low", "medium", "high", "critical".
 * Incident states: "open", "investigating", "contained", "resolved". */

typedef struct cutover_event {
	int64_t id;             /* > 0; 0 on append means "assign" */
	cutover_ts occurred_at; /* required */
	char *source_ip;        /* NULL allowed (any text: legacy rows hold what sensors sent) */
	char *region;           /* NULL allowed */
	char *node;             /* NULL allowed */
	char *attack_type;      /* NULL allowed */
	char *severity;         /* required */
	char *payload;          /* a JSON object; NULL on input means {}; canonical text on output */
	int64_t incident_id;    /* 0: not linked */
} cutover_event;

typedef struct cutover_event_list {
	cutover_event *items;
	size_t n;
} cutover_event_list;

/* A page of events in (occurred_at, id) order. */
typedef struct cutover_event_page {
	cutover_event *items;
	size_t n;
	char next_cursor[CUTOVER_CURSOR_LEN]; /* "" after the last page */
} cutover_event_page;

#define CUTOVER_EVENTS_DEFAULT_LIMIT 100
#define CUTOVER_EVENTS_MAX_LIMIT 1000
/* Events one append may carry. */
#define CUTOVER_APPEND_MAX 10000
/* Longest canonical payload, in bytes. */
#define CUTOVER_PAYLOAD_MAX (1024 * 1024)
/* Longest title, source_ip, region, node, attack_type, in bytes. */
#define CUTOVER_TELEMETRY_TEXT_MAX 1024

/* Which events a query returns: occurred_at in [from, to), every filter
 * that is set matching exactly, in (occurred_at, id) order. */
typedef struct cutover_event_query {
	cutover_ts from;          /* inclusive; CUTOVER_TS_NULL: no lower bound */
	cutover_ts to;            /* exclusive; CUTOVER_TS_NULL: no upper bound */
	const char *region;       /* NULL: any */
	const char *severity;     /* NULL: any */
	const char *attack_type;  /* NULL: any */
	int64_t incident_id;      /* 0: any */
	const char *cursor;       /* NULL or "": the first page; else a next_cursor */
	size_t limit;             /* 0: CUTOVER_EVENTS_DEFAULT_LIMIT; at most CUTOVER_EVENTS_MAX_LIMIT */
} cutover_event_query;

typedef struct cutover_incident {
	int64_t id;             /* > 0; 0 on create means "assign" */
	char *title;            /* required, not empty */
	char *state;            /* NULL on create means "open" */
	char *severity;         /* required */
	cutover_ts opened_at;   /* CUTOVER_TS_NULL on create means now */
	cutover_ts resolved_at; /* set exactly when state is "resolved" */
	/* When the incident last changed: every create and transition stamps it
	 * (it only grows, even across hosts whose clocks differ); ignored on
	 * create. CUTOVER_TS_NULL for a legacy record written without it. */
	cutover_ts updated_at;
} cutover_incident;

#define CUTOVER_TELEMETRY_VERSION 1

typedef struct cutover_telemetry cutover_telemetry;

/* The table every telemetry backend fills; all "must provide" unless marked
 * optional. Input arrives validated and normalised by the wrappers:
 * payloads canonical, limits and cursors checked, "now" resolved. */
struct cutover_telemetry {
	unsigned version;  /* CUTOVER_TELEMETRY_VERSION */
	const char *kind;  /* "json", "postgres", "router" */

	/* Appends n events (all or none when a reference or id is refused;
	 * see the backend docs for storage failures part-way). id 0: the store
	 * assigns the next id, in input order. out gets the events as stored,
	 * in input order. */
	int (*append_events)(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in, size_t n,
			     cutover_error *err);
	int (*query_events)(cutover_telemetry *s, cutover_event_page *out, const cutover_event_query *q,
			    cutover_error *err);
	int (*create_incident)(cutover_telemetry *s, cutover_incident **out, const cutover_incident *in,
			       cutover_error *err);
	int (*get_incident)(cutover_telemetry *s, cutover_incident **out, int64_t id, cutover_error *err);
	/* Moves the incident to `to` when the state machine allows it. */
	int (*transition_incident)(cutover_telemetry *s, cutover_incident **out, int64_t id, const char *to,
				   cutover_ts now, cutover_error *err);
	/* incident_id 0 unlinks. out (may be NULL) gets the event as stored. */
	int (*link_event)(cutover_telemetry *s, cutover_event **out, int64_t event_id, int64_t incident_id,
			  cutover_error *err);

	/* Replication (the router, reconcile): store records exactly as given,
	 * insert or replace by id. An event is never replaced by one with
	 * another occurred_at, nor an incident by one with another opened_at
	 * (that is another record: CUTOVER_ECONFLICT). Replication never moves
	 * an incident back: when the stored copy is newer (a later updated_at)
	 * put_incident writes nothing and succeeds. An explicit id moves the
	 * store's id sequence past it. */
	int (*put_events)(cutover_telemetry *s, const cutover_event *ev, size_t n, cutover_error *err);
	int (*put_incident)(cutover_telemetry *s, const cutover_incident *inc, cutover_error *err);

	/* optional */
	void (*stats)(cutover_telemetry *s, cutover_stats *out);

	void (*free)(cutover_telemetry *s);
};

/* --- what an app calls ------------------------------------------------ */

/* Appends n (1..CUTOVER_APPEND_MAX) events; out (may be NULL) gets them as
 * stored. A dangling incident_id is CUTOVER_EINVALID naming it; an explicit
 * id already taken is CUTOVER_ECONFLICT; nothing is appended then. */
CUTOVER_API int cutover_telemetry_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in,
						size_t n, cutover_error *err);
CUTOVER_API int cutover_telemetry_query_events(cutover_telemetry *s, cutover_event_page *out,
					       const cutover_event_query *q, cutover_error *err);
CUTOVER_API int cutover_telemetry_create_incident(cutover_telemetry *s, cutover_incident **out,
						  const cutover_incident *in, cutover_error *err);
CUTOVER_API int cutover_telemetry_get_incident(cutover_telemetry *s, cutover_incident **out, int64_t id,
					       cutover_error *err);
CUTOVER_API int cutover_telemetry_transition_incident(cutover_telemetry *s, cutover_incident **out, int64_t id,
						      const char *to_state, cutover_error *err);
/* incident_id 0 unlinks the event. */
CUTOVER_API int cutover_telemetry_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id,
					     int64_t incident_id, cutover_error *err);
/* An incident's events in (occurred_at, id) order, paged like a query;
 * CUTOVER_ENOTFOUND when there is no such incident. */
CUTOVER_API int cutover_telemetry_list_incident_events(cutover_telemetry *s, cutover_event_page *out,
						       int64_t incident_id, const char *cursor, size_t limit,
						       cutover_error *err);
CUTOVER_API void cutover_telemetry_stats(cutover_telemetry *s, cutover_stats *out);
/* Closes a handle of any kind. NULL is allowed. */
CUTOVER_API void cutover_telemetry_free(cutover_telemetry *s);

/* Is this move of the state machine allowed? */
CUTOVER_API bool cutover_incident_move_allowed(const char *from, const char *to);

/* --- records ------------------------------------------------------------ */

CUTOVER_API void cutover_event_free(cutover_event *e);
CUTOVER_API void cutover_event_list_free(cutover_event_list *l); /* the items, not l */
CUTOVER_API void cutover_event_page_free(cutover_event_page *p); /* the items, not p */
CUTOVER_API void cutover_incident_free(cutover_incident *i);

/* --- backends ----------------------------------------------------------- */

CUTOVER_API int cutover_telemetry_json(cutover_telemetry **out, const char *root, const char *token, cutover_error *err);
CUTOVER_API int cutover_telemetry_postgres(cutover_telemetry **out, const char *conninfo, cutover_error *err);
/* Telemetry in the stage TELEMETRY_STORE (or opts->stage) names. */
CUTOVER_API int cutover_telemetry_open(cutover_telemetry **out, const cutover_options *opts, cutover_error *err);

#ifdef __cplusplus
}
#endif
#endif
