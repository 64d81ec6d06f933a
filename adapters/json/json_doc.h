/* json_doc.h — the document logic every JSON domain backend shares.
 *
 * A legacy document is `{"<collection>": [ record, ... ]}` stored under one
 * key of a transport. This layer loads it (an absent document is an empty
 * collection), runs read-modify-write cycles under the domain's lock with
 * put-if-version-matches as the safety net, and reads and writes record
 * fields with the legacy conventions (timestamps as ISO-8601 strings or
 * epoch milliseconds, null and absent alike). Records are edited in place in
 * the cJSON tree so fields the library does not know survive a rewrite.
 */
#ifndef CUTOVER_JSON_DOC_H
#define CUTOVER_JSON_DOC_H

#include <cjson/cJSON.h>

#include "json_store.h"

/* A loaded document. Zero-initialise before use; co_doc_release is safe on
 * a zeroed or already released doc. */
typedef struct co_doc {
	const char *key;             /* "identity/users.json" (borrowed) */
	const char *collection;      /* "users" (borrowed) */
	cJSON *root;                 /* the whole document (owned) */
	cJSON *items;                /* root[collection], an array owned by root */
	bool exists;                 /* false: absent, items is a fresh empty array */
	char version[CO_VERSION_LEN];/* transport token; "" when absent */
} co_doc;

/* Load key. Absent -> empty collection (exists false). A document that does
 * not parse, is not an object, or whose collection is not an array is
 * CUTOVER_ECORRUPT naming the key and where parsing stopped. */
int co_doc_load(co_transport *t, const char *key, const char *collection, co_doc *doc, cutover_error *err);
void co_doc_release(co_doc *doc);
/* The parsing half of co_doc_load: doc->key, ->collection and ->version
 * set by the caller; takes data (malloc'd, len bytes plus a NUL). The same
 * errors as co_doc_load for a document that is not {"<collection>": [...]}. */
int co_doc_parse(co_transport *t, char *data, size_t len, co_doc *doc, cutover_error *err);

/* Edit callback for co_doc_update: change doc->items in place and set
 * *changed when the document must be written. Returning an error abandons
 * the update (nothing is written). It may be called more than once (a
 * concurrent writer won and the document was reloaded), so it must reset
 * anything it handed out through ctx on a previous call. */
typedef int (*co_doc_edit_fn)(co_doc *doc, void *ctx, bool *changed, cutover_error *err);

/* How many times a read-modify-write tries before giving up (CUTOVER_EBUSY),
 * and the pause before try attempt+1: a few milliseconds, growing, with
 * jitter so racing writers spread out. */
#define CO_DOC_MAX_ATTEMPTS 10
void co_doc_backoff(int attempt);

/* Read-modify-write: take the transport lock `lock_name` (when the transport
 * has locks), load, edit, serialise and put with if_version = the loaded
 * version; retry a bounded number of times when the put loses a race. The
 * lock is released before returning. A document holding a number beyond a
 * double's range (1e999) is not written (co_json_print). */
int co_doc_update(co_transport *t, const char *lock_name, const char *key, const char *collection,
                  co_doc_edit_fn fn, void *ctx, cutover_error *err);

/* The compact JSON text of v (malloc'd, NUL-terminated; *len bytes), as
 * cJSON_PrintUnformatted prints it except that every number reads back as
 * exactly the double it holds (cJSON 1.7 rounds some to 15 digits:
 * 9007199254740991 became 9007199254740990). A number beyond a double's
 * range (1e999 reads as infinity; cJSON would print null) is
 * CUTOVER_ECORRUPT naming what (the document's key) and the field. */
int co_json_print(const cJSON *v, const char *what, char **out, size_t *len, cutover_error *err);

/* Turn a field error (set by a co_json_get_* reader) into the record error:
 * message "<key>: record <pos> (<what>) cannot be read", the reader's text as
 * detail, and a hint. pos is 0-based here and printed 1-based; what may be
 * NULL ("id 17", "user_id 4"). Returns CUTOVER_ECORRUPT. */
int co_doc_record_error(cutover_error *err, const co_doc *doc, size_t pos, const char *what);

/* --- field readers --------------------------------------------------------
 * Absent and JSON null mean "no value". Each returns CUTOVER_OK, or
 * CUTOVER_ECORRUPT with err->message saying which field is wrong and how
 * (wrap it with co_doc_record_error), or CUTOVER_EINTERNAL when out of
 * memory. `required` makes "no value" an error. */

/* Borrowed string (NULL when no value). */
int co_json_get_str_ref(const cJSON *obj, const char *name, bool required, const char **out, cutover_error *err);
/* malloc'd copy (NULL when no value). */
int co_json_get_str(const cJSON *obj, const char *name, bool required, char **out, cutover_error *err);
/* An integer-valued number exactly representable (|v| <= 2^53); *present
 * (may be NULL) says whether there was a value; *out is 0 when not. */
int co_json_get_int(const cJSON *obj, const char *name, bool required, int64_t *out, bool *present, cutover_error *err);
/* true/false; no value gives dflt. */
int co_json_get_bool(const cJSON *obj, const char *name, bool dflt, bool *out, cutover_error *err);
/* ISO-8601 string (cutover_ts_parse) or a number of epoch milliseconds,
 * within years 0001-9999 (anything else is CUTOVER_ECORRUPT); no value
 * (absent, null or "") gives CUTOVER_TS_NULL. */
int co_json_get_ts(const cJSON *obj, const char *name, bool required, cutover_ts *out, cutover_error *err);
/* Parse a timestamp value itself (not a field); name is for the message. */
int co_json_ts_value(const cJSON *v, const char *name, cutover_ts *out, cutover_error *err);

/* --- field writers --------------------------------------------------------
 * Replace the field in place (keeping its position among the record's keys)
 * or append it. Return CUTOVER_OK, CUTOVER_EINTERNAL (out of memory) or
 * CUTOVER_EINVALID (a value the document cannot carry: an integer beyond
 * 2^53, a timestamp outside years 0001-9999). */

/* Takes ownership of item (also on failure). */
int co_json_set(cJSON *obj, const char *name, cJSON *item, cutover_error *err);
/* NULL writes JSON null. */
int co_json_set_str(cJSON *obj, const char *name, const char *v, cutover_error *err);
/* NULL removes the field. */
int co_json_set_str_or_omit(cJSON *obj, const char *name, const char *v, cutover_error *err);
int co_json_set_int(cJSON *obj, const char *name, int64_t v, cutover_error *err);
int co_json_set_bool(cJSON *obj, const char *name, bool v, cutover_error *err);
/* ISO-8601 via cutover_ts_format; CUTOVER_TS_NULL writes JSON null; a time
 * outside years 0001-9999 is refused, since its text would not read back. */
int co_json_set_ts(cJSON *obj, const char *name, cutover_ts v, cutover_error *err);
void co_json_remove(cJSON *obj, const char *name);

#endif
