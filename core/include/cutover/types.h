/* cutover/types.h — what every domain interface shares: time and counters.
 *
 * Timestamps are microseconds since the epoch in UTC; the legacy text form
 * and Postgres timestamptz both hold them exactly. Every domain header
 * includes this one.
 */
#ifndef CUTOVER_TYPES_H
#define CUTOVER_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Microseconds since 1970-01-01T00:00:00Z. The wrappers below accept years
 * 0001-9999 only (CUTOVER_EINVALID otherwise): every store can hold them and
 * the legacy text form can carry them. */
typedef int64_t cutover_ts;
#define CUTOVER_TS_NULL INT64_MIN
/* Pass as `now` to mean the current time. */
#define CUTOVER_TS_NOW 0

/* Counters kept by a stage router; zero for a plain backend. */
typedef struct cutover_stats {
	uint64_t reads_compared;
	uint64_t mismatches;          /* comparisons that differed */
	uint64_t secondary_failures;  /* second writes or shadow reads that failed */
	uint64_t journaled;           /* keys recorded for `cutover reconcile` */
} cutover_stats;

/* Paging: a cursor is opaque text naming where the previous page ended (the
 * sort key of its last item). The same position gives the same text in
 * every stage and backend, so a cursor handed out by one store pages on the
 * other. NULL or "" asks for the first page; "" comes back after the last. */
#define CUTOVER_CURSOR_LEN 48

/* Current time in microseconds. */
CUTOVER_API cutover_ts cutover_now(void);
/* ISO-8601 UTC ("2024-05-01T12:00:00.250Z"); "" for CUTOVER_TS_NULL. buf >= 32.
 * Times in years 0001-9999 (the only ones the library accepts) round-trip
 * through cutover_ts_parse exactly. */
CUTOVER_API const char *cutover_ts_format(cutover_ts t, char *buf, size_t len);
/* Accepts ISO-8601 with Z or an offset, with or without fraction; refuses
 * (CUTOVER_EINVALID) a time outside years 0001-9999 UTC. */
CUTOVER_API int cutover_ts_parse(const char *text, cutover_ts *out);

#ifdef __cplusplus
}
#endif
#endif
