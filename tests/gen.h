/* gen.h — what the legacy-state generators share (tests/gen_common.c).
 *
 * A deterministic PRNG (splitmix64: every record is a pure function of the
 * seed and its index, so nothing needs to be held in memory), time through
 * the library's own formatter and parser, 0600 output files with a large
 * stdio buffer, and JSON / PostgreSQL CSV field writers.
 */
#ifndef CUTOVER_TEST_GEN_H
#define CUTOVER_TEST_GEN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cutover.h"

#if defined(__GNUC__)
#define GEN_NORETURN __attribute__((noreturn))
#define GEN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GEN_NORETURN
#define GEN_PRINTF(a, b)
#endif

/* The program name used in messages ("cutover-gen-legacy"). */
extern const char *gen_program;

/* --- PRNG --- */
uint64_t mix64(uint64_t z); /* splitmix64's finalizer: a bijection */
typedef struct {
	uint64_t s;
} rng;
uint64_t rnext(rng *r);
uint64_t below(rng *r, uint64_t n);          /* [0, n) */
double unit(rng *r);                         /* [0, 1) */
bool chance(rng *r, double p);
int64_t between(rng *r, int64_t lo, int64_t hi); /* inclusive; lo <= hi */

/* --- time --- */
typedef int64_t ms_t; /* milliseconds since the epoch, UTC */
#define DAY_MS 86400000LL
#define TS_LEN 80
ms_t ms_of(int y, unsigned m, unsigned d);   /* midnight UTC of a date */
/* ISO-8601 UTC as the library normalises it (legacy: always a 3-digit
 * fraction, as JavaScript's toISOString() wrote it). buf has TS_LEN bytes. */
const char *fmt_ts(char *buf, ms_t t, bool legacy);

/* --- output --- */
GEN_NORETURN void die(int code, const char *fmt, ...) GEN_PRINTF(2, 3);
typedef struct {
	FILE *f;
	char *buf;
	char path[PATH_MAX];
} outf;
void mkdir_p(const char *dir);               /* 0700 */
void out_open(outf *o, const char *dir, const char *name); /* 0600, truncated */
void out_close(outf *o);                     /* no-op when never opened */
void json_str(FILE *f, const char *s);       /* escaped; bytes >= 0x80 pass through */
void json_str_or_null(FILE *f, const char *s);
void csv_field(FILE *f, const char *s);      /* PostgreSQL CSV; NULL is an empty unquoted field */
/* A non-negative integer option value, or exit 2 naming the option. */
uint64_t gen_parse_u64(const char *s, const char *opt);

#endif
