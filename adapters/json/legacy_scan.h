/* legacy_scan.h — stream the records of a legacy document, byte for byte.
 *
 * The backfill must keep a rejected record's original bytes and name its
 * position, and must not hold a large document in memory. This scanner walks
 * `{"<collection>": [ rec, rec, ... ]}` (or an NDJSON file, one record per
 * line) through a small read buffer and hands out each element's exact bytes,
 * its 1-based position, byte offset and line, without parsing it: decoding is
 * the caller's business (adapters/json/legacy_identity.c). Damage is never
 * fatal: a record cut off by the end of the file comes out as TRUNCATED, and
 * bytes that cannot be framed as records come out as GARBAGE, so nothing is
 * silently dropped. Memory held: the read buffer plus the current record.
 */
#ifndef CUTOVER_LEGACY_SCAN_H
#define CUTOVER_LEGACY_SCAN_H

#include <stdio.h>

#include "co.h"

typedef enum co_scan_kind {
	CO_SCAN_RECORD = 0, /* a complete element (its JSON may still be malformed) */
	CO_SCAN_TRUNCATED,  /* the file ended inside this element */
	CO_SCAN_GARBAGE     /* bytes that are not a record of the collection */
} co_scan_kind;

typedef struct co_scan_item {
	co_scan_kind kind;
	const char *bytes;     /* the element's original bytes; valid until the next call */
	size_t len;
	uint64_t position;     /* 1-based index among the collection's elements (0 for garbage) */
	uint64_t offset;       /* byte offset of the first byte in the file */
	uint64_t line;         /* 1-based line of the first byte */
	bool nul_escape;       /* a string in it contains the escape \u0000 */
	const char *problem;   /* for TRUNCATED / GARBAGE, or framing remarks (missing comma) */
} co_scan_item;

typedef struct co_scan co_scan;

/* Read `{"collection": [...]}` from f (not closed by the scanner). A document
 * without the collection key has no records. */
int co_scan_json(co_scan **out, FILE *f, const char *name, const char *collection, cutover_error *err);
/* Read one record per line from f; blank lines are skipped. */
int co_scan_ndjson(co_scan **out, FILE *f, const char *name, cutover_error *err);
/* Next item: CUTOVER_OK with *item set, CUTOVER_ENOTFOUND at the end,
 * CUTOVER_EUNAVAILABLE on a read error. */
int co_scan_next(co_scan *s, co_scan_item *item, cutover_error *err);
/* Does a string inside these JSON bytes contain the escape \u0000? */
bool co_json_has_nul_escape(const char *p, size_t n);
/* After the end of a JSON scan: true when the collection's array was found
 * and closed, its framing plain JSON (no ",,", no missing or trailing
 * comma), with *close_off the offset of its ']'. The bytes of the records
 * and of what lies outside the array are not checked here. */
bool co_scan_json_closed(const co_scan *s, uint64_t *close_off);
/* Bytes consumed so far (for progress). */
uint64_t co_scan_offset(const co_scan *s);
void co_scan_free(co_scan *s);

#endif
