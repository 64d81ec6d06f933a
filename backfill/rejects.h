/* rejects.h — where records that cannot be mapped go, byte for byte.
 *
 * For each legacy file with rejects, <dir>/<same key> receives the rejected
 * records' original bytes framed the same way as the source (a JSON array
 * under the same collection, or NDJSON lines), so the reject directory is
 * itself a state root: fix the records there and run the backfill on it.
 * <dir>/<domain>/reasons.ndjson gets one line per reject naming the file,
 * the record's position, byte offset and line, its key (secrets redacted),
 * the reason, and where its bytes sit in the reject file. Files are 0600.
 */
#ifndef CUTOVER_REJECTS_H
#define CUTOVER_REJECTS_H

#include "legacy_scan.h"

typedef struct co_rejects co_rejects;

/* dir NULL: nothing is written, rejects are only counted (and the first few
 * printed by the caller). */
int co_rejects_open(co_rejects **out, const char *dir, cutover_domain d, cutover_error *err);
/* file: the source key ("identity/users.json"); collection: "users", or NULL
 * for NDJSON sources. */
int co_rejects_add(co_rejects *r, const char *file, const char *collection, const co_scan_item *it, const char *key,
		   const char *reason, cutover_error *err);
size_t co_rejects_total(const co_rejects *r);
/* Rejects of one source file so far. */
size_t co_rejects_of(const co_rejects *r, const char *file);
const char *co_rejects_dir(const co_rejects *r);
/* Close the framing of every reject file. */
int co_rejects_close(co_rejects *r, cutover_error *err);

#endif
