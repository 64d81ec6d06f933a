/* export.h — what the files of `cutover export` share (export.c,
 * export_docs.c, export_events.c).
 *
 * The export writes a domain's Postgres state back into the legacy JSON
 * layout, read from one REPEATABLE READ read-only transaction. Every
 * document is built once and written once through the transport; a
 * document that would change is first kept byte for byte under the backup
 * directory (--apply). Per document the export counts and names what it
 * writes: records unchanged, records that differ from the current document
 * (and which fields), new records, and records of the current document that
 * Postgres does not hold, which leave the live document (dropped; they stay
 * in the backup). A dry run does all of it and writes nothing.
 */
#ifndef CUTOVER_EXPORT_H
#define CUTOVER_EXPORT_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "json_store.h"
#include "pg.h"

/* How many names of each kind a document's JSON report carries (the counts
 * are always exact; --apply writes every dropped record to the backup's
 * dropped-<domain>.ndjson). */
#define EX_JSON_NAMES 1000

typedef struct ex_ctx {
	const cli_ctx *cli;
	cutover_domain domain;
	bool apply;
	int max_print;               /* named lines per kind and document in the text output */
	co_transport *t;
	co_pg *pg;
	cutover_ts snapshot;         /* start of the export's transaction */
	char backup[1024];           /* --apply: where replaced documents are kept (a state root of its own) */
	bool backup_ready;
	FILE *dropped;               /* --apply: <backup>/dropped-<domain>.ndjson */
	char dropped_path[1200];
	int dropped_errno;           /* a write to it failed (errno); ex_put refuses from then on */
	bool dropped_dir_synced;
	unsigned spool_n;
	cJSON *jdocs, *jleft, *jbook;/* --json: this domain's documents, files left alone, bookkeeping */
	size_t docs, rewritten, dropped_total, expired_total, deleted_total;
	/* telemetry: the daily files listed before anything is written, the
	 * event id counter, and the highest id a line of the files held */
	char **ev_keys;
	size_t ev_nkeys;
	bool ev_listed, ev_counter_counted;
	int64_t ev_next, ev_file_max;
} ex_ctx;

/* One document's report. */
typedef struct ex_doc {
	char key[256];
	bool existed;                /* the document was there */
	bool unreadable;             /* it did not parse whole: rebuilt from its readable records */
	uint64_t records, unchanged, differ, added, dropped;
	/* records that leave the document without being dropped: sessions that
	 * expired by the snapshot, and sessions deleted through the app while
	 * Postgres was authoritative (the only records the library deletes) */
	uint64_t expired, deleted;
	bool other_change;           /* something besides records changes (high-water marks) */
	bool terse;                  /* no text line when unchanged (daily files: one summary line) */
	cJSON *j, *jdiffer, *jadded, *jdropped, *jdeleted;
	co_buf lines;                /* named lines for the text output */
	uint64_t shown[4];           /* differ, added, dropped, deleted lines in `lines` */
} ex_doc;

void ex_doc_begin(ex_ctx *c, ex_doc *d, const char *key);
/* name: a printable name of the record ("id 5", "token [redacted:...]"). */
void ex_note_differ(ex_ctx *c, ex_doc *d, const char *name, const char *fields);
void ex_note_added(ex_ctx *c, ex_doc *d, const char *name);
/* position: the record's 1-based position (line, for NDJSON) in the current
 * document; 0 for bytes that are no record. */
void ex_note_dropped(ex_ctx *c, ex_doc *d, uint64_t position, uint64_t line, const char *name, const char *reason);
/* A record that leaves the document and is not a drop (exit 0): expired
 * (a count) or deleted in Postgres (named). Both are still listed in the
 * backup's dropped-<domain>.ndjson, with that reason. */
typedef enum ex_removal { EX_EXPIRED, EX_DELETED } ex_removal;
void ex_note_removed(ex_ctx *c, ex_doc *d, ex_removal why, uint64_t position, uint64_t line, const char *name);
bool ex_doc_changed(const ex_doc *d);
/* Print the document's line (text) or add it to the report (--json), then
 * release it. outcome: what happened to it, e.g. "rewritten". */
void ex_doc_end(ex_ctx *c, ex_doc *d, const char *outcome);
/* Release a document left on an error, without reporting it. */
void ex_doc_abandon(ex_doc *d);
/* What writing a document does or would do: created or rewritten, "would"
 * without --apply. */
const char *ex_outcome(const ex_ctx *c, bool existed);

/* --apply: the backup directory exists (created 0700 on first use). */
int ex_backup_ready(ex_ctx *c, cutover_error *err);
/* Keep a document's current bytes under the backup directory, at its key
 * (0600, never overwriting an earlier backup), synced before returning. */
int ex_keep(ex_ctx *c, const char *key, const char *data, size_t len, cutover_error *err);
/* A spool file in the backup directory (0600) for a document read as a
 * stream; ex_keep_spool moves it to the document's key there. */
int ex_spool_open(ex_ctx *c, char *path, size_t len, int *fd, cutover_error *err);
int ex_keep_spool(ex_ctx *c, const char *spool, int fd, const char *key, cutover_error *err);
/* The dropped list on disk (fflush + fsync; the backup directory synced
 * once): every document put is preceded by it, so a record leaves a live
 * document only once the list that names it is durable. A failed write to
 * the list is reported here (CUTOVER_EUNAVAILABLE, exit 3). */
int ex_dropped_sync(ex_ctx *c, cutover_error *err);
/* The same, then fclose, checked: the last thing before the export is recorded. */
int ex_dropped_close(ex_ctx *c, cutover_error *err);
/* Write a document through the transport, after ex_dropped_sync. if_version: NULL unconditional
 * (the domain's transport lock is held), "" only if absent, else only if
 * unchanged since read. */
int ex_put(ex_ctx *c, const char *key, const char *data, size_t len, const char *if_version, cutover_error *err);
/* The same from a file of len bytes (mapped read-only, so a large daily
 * file is handed over without being copied into memory). */
int ex_put_fd(ex_ctx *c, const char *key, int fd, size_t len, const char *if_version, cutover_error *err);

/* A cursor over one constant query (values as parameters), fetched in
 * batches, inside the export's transaction. */
int ex_declare(ex_ctx *c, const char *what, const char *declare_sql, int n, const char *const *p, cutover_error *err);
PGresult *ex_fetch(ex_ctx *c, const char *what, const char *fetch_sql, cutover_error *err);
void ex_close(ex_ctx *c, const char *close_sql);

/* The per-domain parts. */
typedef struct ex_kind ex_kind;
extern const ex_kind ex_users, ex_sessions, ex_profiles, ex_reports, ex_incidents;
/* One collection document ({"users": [...]}, ...). */
int ex_collection(ex_ctx *c, const ex_kind *k, cutover_error *err);
/* telemetry/events/YYYY-MM-DD.ndjson and telemetry/.event-ids.json. The temp table
 * is made before the transaction (ex_events_prepare). */
int ex_events_prepare(ex_ctx *c, cutover_error *err);
/* List telemetry/events/ (before any telemetry document is written: a root
 * that cannot be listed stops the export before it changed anything). */
int ex_events_list(ex_ctx *c, cutover_error *err);
int ex_events(ex_ctx *c, cutover_error *err);
void ex_events_free(ex_ctx *c);

/* Row helpers: a column as int64 / timestamp (microseconds) / malloc'd
 * string (NULL stays NULL; false when out of memory). */
int64_t ex_col_i64(const PGresult *r, int row, int col);
cutover_ts ex_col_ts(const PGresult *r, int row, int col);
bool ex_col_str(const PGresult *r, int row, int col, char **out);

#endif
