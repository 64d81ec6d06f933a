/* cutover/error.h — errors that say what failed, why, and what to do next.
 *
 * Modelled on PostgreSQL's ereport: every failure carries a code (what kind
 * of failure, so callers can branch), a one-line message, an optional detail,
 * the SQLSTATE when Postgres gave one, and a hint naming the next step (the
 * valid flag values, the SQL that repairs a sequence, the command to run).
 * The struct is caller-owned with fixed buffers: nothing to free.
 */
#ifndef CUTOVER_ERROR_H
#define CUTOVER_ERROR_H

#include <stdio.h>

#if defined(CUTOVER_BUILDING) && defined(__GNUC__)
#define CUTOVER_API __attribute__((visibility("default")))
#else
#define CUTOVER_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cutover_code {
	CUTOVER_OK = 0,
	CUTOVER_ENOTFOUND = 1,    /* no such record */
	CUTOVER_ECONFLICT = 2,    /* a unique key is already taken */
	CUTOVER_EINVALID = 3,     /* input refused: bad value, failed check, dangling reference */
	CUTOVER_ECONFIG = 4,      /* configuration: bad flag value, unusable root or URL */
	CUTOVER_EUNAVAILABLE = 5, /* a store cannot be reached: connection lost, I/O failure */
	CUTOVER_ESTATE = 6,       /* a store is not ready for this stage (sequence behind, schema missing) */
	CUTOVER_ECORRUPT = 7,     /* a stored document cannot be read */
	CUTOVER_EBUSY = 8,        /* concurrent writers kept winning; try again */
	CUTOVER_EINTERNAL = 9     /* out of memory or a bug */
} cutover_code;

typedef struct cutover_error {
	int code;          /* a cutover_code; CUTOVER_OK when nothing failed */
	char sqlstate[6];  /* Postgres SQLSTATE, "" when not from Postgres */
	char message[512]; /* one line: what failed */
	char detail[512];  /* optional: where / which record */
	char hint[1024];   /* optional: what to do next */
} cutover_error;

/* Stable lower-case name of a code ("not found", "conflict", ...). */
CUTOVER_API const char *cutover_code_name(int code);

/* Reset an error to CUTOVER_OK with empty texts. NULL is allowed. */
CUTOVER_API void cutover_error_clear(cutover_error *err);

/* Print "error: message" and the detail, sqlstate and hint lines that are set. */
CUTOVER_API void cutover_error_fprint(FILE *f, const cutover_error *err);

#ifdef __cplusplus
}
#endif
#endif
