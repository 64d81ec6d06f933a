/* json_index.h — a legacy document served from a cached index.
 *
 * Per process and document: where each record lies in the document's bytes
 * and, per key the domain looks up by, a hash table from the key to the
 * record's ordinal, kept with the version token they were built from. Every
 * call first asks the transport whether the document is still that version
 * (one stat on a local root, one conditional GET over HTTP); a changed
 * document is indexed again once. A record is read from the bytes of the
 * indexed version at its offset (pread; over HTTP a private spool file) and
 * parsed with the strict rules the backfill applies (co_legacy_strict), so
 * the app and the backfill read a record the same way.
 *
 * Writes stream: the new version is the old one's bytes copied range by
 * range, with only the records a call replaces, deletes or appends written
 * anew, then committed by the transport as a put with if_version (a local
 * root: fsync and rename). Unknown fields, number spellings, whitespace and
 * every untouched record keep their bytes; memory does not grow with the
 * document. After its own write the index is carried over to the new
 * version (offsets shifted, the changed records' keys replaced) instead of
 * being built again.
 *
 * What lies outside the list (other top-level fields) is kept parsed as
 * the skeleton: the document with an empty list (co_ix_top). A write that
 * sets a top-level field (co_ix_set_top) prints the edited skeleton for
 * the bytes before and after the list; one that does not copies them.
 *
 * Memory per record: 16 bytes of place, 8 bytes (a 32-bit hash and an
 * ordinal) per key at a load of at most one half, 8 bytes more per number
 * the domain keeps per record (aux; one unless made with co_ix_new_aux).
 *
 * NDJSON mode (a spec whose collection is NULL): the document is a file of
 * lines, one record per line, framed by the backfill's scanner in line
 * mode (co_scan_ndjson: blank lines skipped, a trailing '\r' left out, a
 * byte order mark at the start skipped) and parsed as the backfill parses
 * a line (co_legacy_parse). A line that is not JSON, or breaks the strict
 * rules, is an unreadable record of the file (there is no document error:
 * every file of lines can be indexed). co_ix_line gives a record's line;
 * it costs nothing per record (only runs of blank lines are kept). A
 * write copies every byte it does not change: a replaced record's bytes
 * are written anew in place (its line's end, a '\r' too, kept), a deleted
 * record's line goes with its newline, blank lines stay; appends go at the
 * end, after a newline when the file does not end with one, each line
 * followed by "\n" (a new file is just the lines). There is no skeleton
 * (co_ix_top is NULL; co_ix_set_top is refused).
 */
#ifndef CUTOVER_JSON_INDEX_H
#define CUTOVER_JSON_INDEX_H

#include <cjson/cJSON.h>

#include "json_store.h"

#define CO_IX_MAX_KEYS 4
#define CO_IX_MAX_AUX 2

typedef struct co_ix co_ix;
typedef struct co_ix_emit co_ix_emit;

/* What a domain says about one document. */
typedef struct co_ix_spec {
	const char *key;        /* "identity/users.json" */
	const char *collection; /* "users"; NULL: a file of lines (NDJSON mode) */
	unsigned n_keys;        /* key tables, at most CO_IX_MAX_KEYS */
	/* Called with every record that holds the strict rules, when it is
	 * indexed and when a write stores it: co_ix_key() once per key it has
	 * in each table, co_ix_key_unreadable() for a table whose key it cannot
	 * give, co_ix_set_aux() for the per-record number. A record that breaks
	 * the strict rules is unreadable in every table. */
	void (*keys)(const cJSON *rec, co_ix_emit *e);
} co_ix_spec;

void co_ix_key(co_ix_emit *e, unsigned table, const void *key, size_t len);
void co_ix_key_unreadable(co_ix_emit *e, unsigned table);
void co_ix_set_aux(co_ix_emit *e, int64_t v); /* number 0 */
void co_ix_set_aux_at(co_ix_emit *e, unsigned which, int64_t v);
/* The key function ran out of memory: the index is not built. */
void co_ix_emit_failed(co_ix_emit *e);

/* t is borrowed (it must outlive the index); spec too. The index keeps one
 * number per record; co_ix_new_aux keeps n_aux (0 to CO_IX_MAX_AUX), set
 * with co_ix_set_aux_at(e, which < n_aux, v). */
int co_ix_new(co_ix **out, co_transport *t, const co_ix_spec *spec, cutover_error *err);
int co_ix_new_aux(co_ix **out, co_transport *t, const co_ix_spec *spec, unsigned n_aux, cutover_error *err);
void co_ix_free(co_ix *x);

/* Bring the index up to the stored document: one version check, and a new
 * index only when it changed. A document that is not valid JSON, or not
 * {"<collection>": [...]}, is CUTOVER_ECORRUPT with the message co_doc_load
 * gives (never in NDJSON mode); transport failures are the transport's. */
int co_ix_sync(co_ix *x, cutover_error *err);

size_t co_ix_count(const co_ix *x); /* records, readable or not */
/* Did the record hold the strict rules when it was indexed? */
bool co_ix_readable(const co_ix *x, size_t ord);
/* The record's number (co_ix_set_aux), INT64_MIN when it set none. */
int64_t co_ix_aux(const co_ix *x, size_t ord);
/* The largest aux of any record, INT64_MIN when none. */
int64_t co_ix_aux_max(const co_ix *x);
/* The same for number which (co_ix_set_aux_at). */
int64_t co_ix_aux_at(const co_ix *x, size_t ord, unsigned which);
int64_t co_ix_aux_max_at(const co_ix *x, unsigned which);

/* The skeleton of the indexed version: the document's top-level object
 * with its list empty ({"<collection>": []}), the other fields as they
 * parse. NULL when the document is absent. Borrowed: valid until the next
 * co_ix_sync or write. */
const cJSON *co_ix_top(const co_ix *x);

/* The ordinals whose key in table may equal key (same hash), lowest first
 * (the caller reads each and compares). *n is how many; *ords is malloc'd
 * (NULL when none). */
int co_ix_candidates(const co_ix *x, unsigned table, const void *key, size_t len, size_t **ords, size_t *n,
                     cutover_error *err);
/* Records unreadable for table (their key could not be given) before ord
 * (SIZE_MAX: all of them): how many, and the first one's ordinal. */
size_t co_ix_unreadable(const co_ix *x, unsigned table, size_t before, size_t *first);

/* Records unreadable for any table, and the first one's ordinal. */
size_t co_ix_unreadable_any(const co_ix *x, size_t *first);

/* The first record (lowest ordinal) whose key in table is key and that
 * match accepts (NULL: any), parsed: CUTOVER_OK with *rec (the caller
 * deletes it) and *ord, or CUTOVER_ENOTFOUND with err untouched. Records
 * at ordinal skip are passed over (SIZE_MAX: none). */
typedef bool (*co_ix_match_fn)(const cJSON *rec, const void *ctx);
int co_ix_first(co_ix *x, unsigned table, const void *key, size_t len, co_ix_match_fn match, const void *ctx,
                size_t skip, cJSON **rec, size_t *ord, cutover_error *err);

/* For conflict checks: the first record (lowest ordinal, not at skip) that
 * holds key in table and that match accepts, counting records that break
 * the strict rules too (read as cJSON reads them: their keys are indexed,
 * though no look-up serves them). CUTOVER_OK with *ord, or
 * CUTOVER_ENOTFOUND with err untouched. */
int co_ix_taken(co_ix *x, unsigned table, const void *key, size_t len, co_ix_match_fn match, const void *ctx,
                size_t skip, size_t *ord, cutover_error *err);

/* Record ord of the indexed version, parsed (the caller deletes *out). A
 * record that breaks the strict rules is CUTOVER_ECORRUPT with the reason;
 * turn it into the record error with co_ix_record_error. */
int co_ix_read(co_ix *x, size_t ord, cJSON **out, cutover_error *err);
/* As co_doc_record_error, for this document (NDJSON: "<key> line N (what)
 * cannot be read"). */
int co_ix_record_error(const co_ix *x, cutover_error *err, size_t ord, const char *what);
/* NDJSON mode: the 1-based line of record ord as the scanner numbers it
 * (ord == co_ix_count: the line a record appended now would get); 0 in
 * {"<collection>": [...]} mode. */
uint64_t co_ix_line(const co_ix *x, size_t ord);

/* For a document referenced by id (users, incidents): a key function that
 * indexes table 0 by the record's integer "id" (> 0) and keeps it as aux
 * (so co_ix_aux_max is the largest id), and the look-up: syncs x and says
 * whether a readable record has that id. */
void co_ix_id_keys(const cJSON *rec, co_ix_emit *e);
int co_ix_has_id(co_ix *x, int64_t id, bool *found, cutover_error *err);

/* --- writing ---------------------------------------------------------------- */

typedef struct co_ix_edits co_ix_edits;
/* What a write changes, each at most once per record; records are taken
 * (also on failure) and written as co_json_print prints them. */
int co_ix_replace(co_ix_edits *e, size_t ord, cJSON *rec, cutover_error *err);
int co_ix_delete(co_ix_edits *e, size_t ord, cutover_error *err);
int co_ix_append(co_ix_edits *e, cJSON *rec, cutover_error *err);
/* Set the top-level field name (not the collection) to value (taken, also
 * on failure), as co_json_set does: in its place, or last when new. The
 * bytes before and after the list are then printed from the edited
 * skeleton (compact, as co_json_print prints; the records and the
 * separators between them keep their bytes), unless every value set
 * prints as the one stored. A new document is {"<collection>": [...]}
 * followed by the fields set. Edits that only set top-level fields write
 * too. */
int co_ix_set_top(co_ix_edits *e, const char *name, cJSON *value, cutover_error *err);
/* How many records the edits delete. */
size_t co_ix_deleted(const co_ix_edits *e);

/* Called with an index synced under the lock; adds what to change to e
 * (nothing: no write). It may be called again after another writer won
 * the race, so it must reset what it handed out through ctx before. */
typedef int (*co_ix_edit_fn)(co_ix *x, void *ctx, co_ix_edits *e, cutover_error *err);

/* Read-modify-write: take the transport lock lock_name (where there are
 * locks), sync, let fn say what changes, stream the new version and put it
 * if the document is still the version indexed; retry a bounded number of
 * times when another writer got there first. */
int co_ix_update(co_ix *x, const char *lock_name, co_ix_edit_fn fn, void *ctx, cutover_error *err);

/* One attempt of what co_ix_update does, for a caller that holds the lock
 * itself and writes several documents under it: e is written against the
 * version x was last synced to (the caller built e from it) and put only if
 * the document is still that version (else the transport's CUTOVER_EBUSY;
 * no retry). No edits: nothing is written. e is emptied either way and can
 * be used again. */
co_ix_edits *co_ix_edits_new(void); /* NULL: out of memory */
void co_ix_edits_free(co_ix_edits *e);
int co_ix_write(co_ix *x, co_ix_edits *e, cutover_error *err);

#endif
