/* reports_int.h — the reports domain's internal declarations.
 *
 * Shared by core (wrappers, records, router), the two adapters and flags:
 * one definition of a report's rules (tags, status, patch, archive, trail),
 * record copy / compare, and the constructors of the backends and the
 * router. Not installed.
 */
#ifndef CUTOVER_REPORTS_INT_H
#define CUTOVER_REPORTS_INT_H

#include "co.h"
#include "cutover/reports.h"

typedef struct co_pg co_pg;
typedef struct co_transport co_transport;

/* --- rules ------------------------------------------------------------------ */

bool co_report_severity_valid(const char *s);
bool co_report_status_valid(const char *s);

/* The one tag rule: each tag trimmed of ASCII whitespace, empty ones
 * dropped, a repeated tag dropped (the first kept), order kept. *out is a
 * malloc'd array of malloc'd strings (NULL when n is 0). Returns
 * CUTOVER_OK or CUTOVER_EINTERNAL (out of memory). */
int co_tags_normalize(const char *const *in, size_t n, char ***out, size_t *n_out);
/* The legacy comma-separated form: split on ',' then the rule above. */
int co_tags_from_csv(const char *csv, char ***out, size_t *n_out);
void co_tags_free(char **tags, size_t n);

/* --- records ------------------------------------------------------------------ */

void co_report_clear(cutover_report *r);
void co_report_action_clear(cutover_report_action *a);
cutover_report *co_report_dup(const cutover_report *r);
/* Names of the fields that differ, comma-separated, into buf; returns the count.
 * The trail compares as one field, "actions". */
int co_report_diff(const cutover_report *a, const cutover_report *b, char *buf, size_t len);
int co_report_action_diff(const cutover_report_action *a, const cutover_report_action *b, char *buf, size_t len);

/* Replication order: is a a strictly newer state of the same report than b?
 * updated_at later, or the same updated_at and a longer trail: update,
 * archive and restore stamp updated_at (co_ts_advance: it only grows),
 * record_action leaves it and appends to the trail, which only grows. A put
 * (replication) skips its write when the stored copy is newer. */
bool co_report_newer(const cutover_report *a, const cutover_report *b);
/* Is the stored report the same report as r? created_at and author_id
 * never change through the API, so a put that differs in either is another
 * report and must not replace the stored one (CUTOVER_ECONFLICT). */
bool co_report_same(const cutover_report *stored, const cutover_report *r);

/* --- changes both backends make the same way ------------------------------------ */

int co_report_apply_patch(cutover_report *r, const cutover_report_patch *p, cutover_ts now, cutover_error *err);
/* Append one action (copies the strings). */
int co_report_append_action(cutover_report *r, const char *action, int64_t actor_id, cutover_ts at, const char *note,
			    cutover_error *err);

/* What an archive / restore / record_action call does to a report, in one
 * place: checks the report's state (archiving an archived report and
 * restoring an active one are CUTOVER_EINVALID), sets status, archived_at
 * and updated_at, appends the action. */
typedef enum co_report_step { CO_REPORT_ARCHIVE, CO_REPORT_RESTORE, CO_REPORT_ACTION } co_report_step;
int co_report_apply_step(cutover_report *r, co_report_step step, const char *action, int64_t actor_id,
			 const char *note, cutover_ts now, cutover_error *err);

/* Paging, the same for every backend: items sorted newest first; keep
 * those after the cursor that match, at most limit; next_cursor names the
 * last kept item when more follow. */
int co_report_newer_first(const cutover_report *a, const cutover_report *b); /* qsort order */
bool co_report_after(const cutover_report *r, const cutover_ts *after_ts, int64_t after_id);

/* --- constructors --------------------------------------------------------------- */

/* json: takes ownership of t (also on failure). */
int co_json_reports_new(cutover_reports **out, co_transport *t, cutover_error *err);
/* postgres: takes ownership of pg (also on failure). */
int co_pg_reports_new(cutover_reports **out, co_pg *pg, cutover_error *err);
/* The stage router: takes ownership of json, pg and journal (also on failure). */
int co_reports_router(cutover_reports **out, cutover_stage stage, cutover_reports *json, cutover_reports *pg,
		      co_journal *journal, cutover_error *err);

#endif
