/* pg_runs.h — which domains ran in the `postgres` stage without an export
 * since (cutover.postgres_runs, migration 0005).
 *
 * In the postgres stage nothing writes the JSON documents, so a json-
 * authoritative stage opened after it would serve stale data until
 * `cutover export DOMAIN --apply` has brought them up to date. Opening a
 * domain in `postgres` notes it here (one upsert); the export stamps its
 * snapshot time when it has written every document; flags/flags.c refuses
 * json, dualwrite and shadow while a domain's latest postgres-stage open is
 * later than its last export, and `cutover status` shows it. A database
 * without the table (not migrated to 0005) has no rows.
 */
#ifndef CUTOVER_PG_RUNS_H
#define CUTOVER_PG_RUNS_H

#include "pg.h"

typedef struct co_pg_stage_run {
	bool exists;             /* the domain has a row: it ran in postgres at some point */
	bool pending;            /* it ran in postgres after its last export (or never exported) */
	cutover_ts since;        /* the first postgres-stage open not covered by an export */
	cutover_ts last_open_at; /* the latest postgres-stage open */
	cutover_ts exported_at;  /* the last export's snapshot time; CUTOVER_TS_NULL: none */
	char export_root[512];   /* where that export wrote (redacted), "" when none */
} co_pg_stage_run;

/* The domain is being opened in the postgres stage: note it (upsert).
 * *armed (may be NULL): `since` starts now (the first open, or the first
 * after an export). */
int co_pg_runs_note_open(co_pg *pg, cutover_domain d, bool *armed, cutover_error *err);
/* The domain's row; *out zeroed (exists false) when there is none or the
 * table does not exist. */
int co_pg_runs_get(co_pg *pg, cutover_domain d, co_pg_stage_run *out, cutover_error *err);
/* The same over a connection of its own, made with connect_timeout
 * timeout_s (whatever the conninfo says) and closed again: for the json
 * stage, which otherwise does not connect. CUTOVER_EUNAVAILABLE when the
 * server cannot be reached in time, CUTOVER_ECONFIG when conninfo does not
 * parse (libpq's message is not kept: it can quote the string). */
int co_pg_runs_get_quick(const char *conninfo, int timeout_s, cutover_domain d, co_pg_stage_run *out, cutover_error *err);
/* `cutover export --apply` wrote every document of the domain from a
 * snapshot taken at `snapshot`: exported_at moves forward to it. A domain
 * without a row (never ran in postgres) gets none. */
int co_pg_runs_note_export(co_pg *pg, cutover_domain d, cutover_ts snapshot, const char *root_shown,
			   cutover_error *err);
/* The stage lock: a session-level advisory lock per domain, key
 * (CO_PG_STAGE_LOCK_CLASS, domain index + 1). Every postgres-stage handle
 * holds it shared on its connection for as long as it is open (taken again
 * after a reconnect: flags/flags.c); `cutover export --apply` takes it
 * exclusively before its snapshot and keeps it until it has recorded the
 * export, so no postgres-stage session can write while it runs, nor open
 * unnoticed. All four: try, never wait; *got and *held are false when another
 * session has it. */
#define CO_PG_STAGE_LOCK_CLASS 1668247920
int co_pg_stage_lock_shared(co_pg *pg, cutover_domain d, bool *got, cutover_error *err);
int co_pg_stage_lock(co_pg *pg, cutover_domain d, bool *got, cutover_error *err);
void co_pg_stage_unlock(co_pg *pg, cutover_domain d);
/* How many other sessions hold it shared (from pg_locks). */
int co_pg_stage_holders(co_pg *pg, cutover_domain d, long *n, cutover_error *err);
/* Whether this session (as it is now: a reconnect loses it) holds it exclusively. */
int co_pg_stage_lock_held(co_pg *pg, cutover_domain d, bool *held, cutover_error *err);

/* "identity ran in postgres since 2026-05-01T12:00:00Z and has not been
 * exported since" into buf. */
const char *co_pg_stage_run_describe(const co_pg_stage_run *r, cutover_domain d, char *buf, size_t len);

#endif
