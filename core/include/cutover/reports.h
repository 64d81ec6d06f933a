/* cutover/reports.h — the reports domain: incident reports and their trails.
 *
 * Same shape as identity (see cutover/identity.h): `cutover_reports` is a
 * versioned table of operations filled by the json backend, the postgres
 * backend and the stage router; apps call the cutover_reports_* wrappers,
 * which validate and normalise input once (UTF-8, enums, lengths, tags,
 * timestamps in years 0001-9999, ids at most 2^53) and resolve "now".
 *
 * A report has an ordered action trail ("read", "archive", "restore", ...).
 * Archiving sets archived_at and status "archived" and appends an "archive"
 * action; restoring clears them and appends "restore". status is "archived"
 * exactly when archived_at is set.
 *
 * References: author_id and every action's actor_id name identity users,
 * incident_id (0 = none) names a telemetry incident. A reference to a
 * record that does not exist is CUTOVER_EINVALID naming the field and the id,
 * on every backend.
 *
 * Ownership: records handed out belong to the caller (cutover_report_free,
 * cutover_report_page_free, cutover_report_action_list_free). Input records
 * are borrowed for the call. A handle is not thread-safe.
 */
#ifndef CUTOVER_REPORTS_H
#define CUTOVER_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "types.h"
#include "open.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cutover_report_action {
	char *action;        /* "read", "archive", "restore", ...; required */
	int64_t actor_id;    /* a user; 0 when no one (a system action) */
	cutover_ts at;       /* required */
	char *note;          /* NULL allowed */
} cutover_report_action;

typedef struct cutover_report {
	int64_t id;          /* > 0; 0 on input to create means "assign" */
	char *title;         /* required, not empty */
	char *summary;       /* NULL allowed */
	char *content;       /* NULL allowed */
	char *severity;      /* "low", "medium", "high" or "critical" */
	char *status;        /* "active" or "archived"; NULL on create means "active" */
	char **tags;         /* n_tags tags: trimmed, not empty, no duplicates, in order */
	size_t n_tags;
	int64_t author_id;   /* a user; required */
	int64_t incident_id; /* an incident; 0 when none */
	cutover_ts created_at;  /* CUTOVER_TS_NULL on create means now */
	cutover_ts updated_at;  /* CUTOVER_TS_NULL on create means created_at */
	cutover_ts archived_at; /* CUTOVER_TS_NULL unless archived */
	cutover_report_action *actions; /* the trail, oldest first; empty in list pages */
	size_t n_actions;
} cutover_report;

/* A page of list_reports: items newest first (created_at DESC, id DESC).
 * next_cursor is "" after the last page. Items carry no trail (n_actions 0):
 * ask list_actions for it. */
typedef struct cutover_report_page {
	cutover_report *items;
	size_t n;
	char next_cursor[CUTOVER_CURSOR_LEN];
} cutover_report_page;

typedef struct cutover_report_action_list {
	cutover_report_action *items;
	size_t n;
} cutover_report_action_list;

/* Filters of list_reports; NULL / 0 means "any". */
typedef struct cutover_report_filter {
	const char *status;    /* "active" or "archived" */
	const char *severity;
	const char *tag;       /* reports carrying this tag (trimmed before matching) */
	int64_t author_id;
	int64_t incident_id;
} cutover_report_filter;

/* Which fields an update changes. */
enum {
	CUTOVER_REPORT_SET_TITLE = 1u << 0,
	CUTOVER_REPORT_SET_SUMMARY = 1u << 1,     /* NULL clears it */
	CUTOVER_REPORT_SET_CONTENT = 1u << 2,     /* NULL clears it */
	CUTOVER_REPORT_SET_SEVERITY = 1u << 3,
	CUTOVER_REPORT_SET_TAGS = 1u << 4,        /* replaces the list */
	CUTOVER_REPORT_SET_INCIDENT = 1u << 5     /* 0 unlinks */
};

typedef struct cutover_report_patch {
	unsigned set;                 /* CUTOVER_REPORT_SET_* bits */
	const char *title;
	const char *summary;
	const char *content;
	const char *severity;
	const char *const *tags;
	size_t n_tags;
	int64_t incident_id;
} cutover_report_patch;

/* Limits the wrappers enforce (bytes). */
#define CUTOVER_REPORT_TITLE_MAX 500
#define CUTOVER_REPORT_TAG_MAX 64
#define CUTOVER_REPORT_TAGS_MAX 64
#define CUTOVER_REPORT_ACTION_MAX 64
#define CUTOVER_REPORT_PAGE_MAX 1000

#define CUTOVER_REPORTS_VERSION 1

typedef struct cutover_reports cutover_reports;

/* The table every reports backend fills; all "must provide" unless marked
 * optional. Input arrives validated and normalised by the wrappers (tags
 * normalised, timestamps resolved, status consistent with archived_at). */
struct cutover_reports {
	unsigned version;   /* CUTOVER_REPORTS_VERSION */
	const char *kind;   /* "json", "postgres", "router" */

	/* in->id 0: the store assigns the next id; > 0: that id is used. */
	int (*create_report)(cutover_reports *s, cutover_report **out, const cutover_report *in, cutover_error *err);
	int (*get_report)(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err);
	/* after: NULL for the first page, else the position after which to go on
	 * (the (created_at, id) of the previous page's last item). limit 1..1000. */
	int (*list_reports)(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
			    const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err);
	/* Sets updated_at to now (one microsecond after the stored one when the
	 * clock says no later: updated_at only grows; archive and restore too). */
	int (*update_report)(cutover_reports *s, cutover_report **out, int64_t id, const cutover_report_patch *patch,
			     cutover_ts now, cutover_error *err);
	/* Status archived, archived_at = updated_at = now, "archive" appended. */
	int (*archive_report)(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id, const char *note,
			      cutover_ts now, cutover_error *err);
	/* Status active, archived_at cleared, updated_at = now, "restore" appended. */
	int (*restore_report)(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id, const char *note,
			      cutover_ts now, cutover_error *err);
	/* Appends an action at the end of the trail; updated_at unchanged. */
	int (*record_action)(cutover_reports *s, cutover_report **out, int64_t id, const char *action,
			     int64_t actor_id, const char *note, cutover_ts now, cutover_error *err);
	int (*list_actions)(cutover_reports *s, cutover_report_action_list *out, int64_t id, cutover_error *err);

	/* Replication: store the report exactly as given, trail included
	 * (insert, or replace the report with this id). Never backwards: when
	 * the stored copy is newer (updated_at later, or the same and a longer
	 * trail) nothing is written and the call succeeds. Never another
	 * report: a stored one with this id and another created_at or
	 * author_id is CUTOVER_ECONFLICT. */
	int (*put_report)(cutover_reports *s, const cutover_report *r, cutover_error *err);

	/* optional */
	void (*stats)(cutover_reports *s, cutover_stats *out);

	void (*free)(cutover_reports *s);
};

/* --- what an app calls ------------------------------------------------ */

CUTOVER_API int cutover_reports_create(cutover_reports *s, cutover_report **out, const cutover_report *in, cutover_error *err);
CUTOVER_API int cutover_reports_get(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err);
/* filter may be NULL; cursor NULL or "" for the first page, else the
 * next_cursor of the previous page; limit 1..CUTOVER_REPORT_PAGE_MAX. */
CUTOVER_API int cutover_reports_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *filter,
				     const char *cursor, size_t limit, cutover_error *err);
CUTOVER_API int cutover_reports_update(cutover_reports *s, cutover_report **out, int64_t id,
				       const cutover_report_patch *patch, cutover_error *err);
/* actor_id 0: no actor. note may be NULL. out may be NULL. */
CUTOVER_API int cutover_reports_archive(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id,
					const char *note, cutover_error *err);
CUTOVER_API int cutover_reports_restore(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id,
					const char *note, cutover_error *err);
/* action: e.g. "read"; not "archive" or "restore" (use the calls above). */
CUTOVER_API int cutover_reports_record_action(cutover_reports *s, cutover_report **out, int64_t id, const char *action,
					      int64_t actor_id, const char *note, cutover_error *err);
CUTOVER_API int cutover_reports_list_actions(cutover_reports *s, cutover_report_action_list *out, int64_t id,
					     cutover_error *err);
CUTOVER_API void cutover_reports_stats(cutover_reports *s, cutover_stats *out);
/* Closes a handle of any kind. NULL is allowed. */
CUTOVER_API void cutover_reports_free(cutover_reports *s);

/* --- records ------------------------------------------------------------ */

CUTOVER_API void cutover_report_free(cutover_report *r);
CUTOVER_API void cutover_report_page_free(cutover_report_page *p);            /* the items, not p */
CUTOVER_API void cutover_report_action_list_free(cutover_report_action_list *l); /* the items, not l */

/* --- backends and the front door ------------------------------------------ */

/* reports/reports.json under a state root (references are checked against
 * identity/users.json and telemetry/incidents.json under the same root). */
CUTOVER_API int cutover_reports_json(cutover_reports **out, const char *root, const char *token, cutover_error *err);
CUTOVER_API int cutover_reports_postgres(cutover_reports **out, const char *conninfo, cutover_error *err);
/* Reports in the stage REPORTS_STORE names (see cutover/open.h). */
CUTOVER_API int cutover_reports_open(cutover_reports **out, const cutover_options *opts, cutover_error *err);

#ifdef __cplusplus
}
#endif
#endif
