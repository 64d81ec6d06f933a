/* opkit.h — what every domain's survey, backfill and verify share.
 *
 * The per-domain files (identity.c, profile.c, ...) own their walk over the
 * legacy documents and their COPY rows; the parts that are the same in every
 * domain live here once: the backfill lock, the sequence repair step and its
 * output, the JSON shapes of a table's counts, and verify's ✓/✗ lines.
 */
#ifndef CUTOVER_OPKIT_H
#define CUTOVER_OPKIT_H

#include "cli.h"
#include "loader.h"
#include "pg.h"

/* Add a count to a JSON object. */
void op_count(cJSON *o, const char *name, uint64_t v);

/* Take the domain's backfill lock (a session advisory lock, so a concurrent
 * backfill or verify of the same domain waits, or with no_wait is refused
 * with CUTOVER_EBUSY). Released when the connection closes. */
int op_take_lock(co_pg *pg, cutover_domain d, bool no_wait, cutover_error *err);

/* One table's line of a backfill report as JSON. file may be NULL (a table
 * fed by another table's records). */
cJSON *op_table_json(const char *table, const char *file, uint64_t records, const co_load_counts *c, uint64_t rejected);

/* The sequence step of a backfill: read the domain's sequence health and,
 * with --apply --repair-sequences, run the repair statements. */
typedef struct op_sequences {
	co_seq_health h[8];
	size_t n;
	bool repaired;
	int rc;              /* CUTOVER_OK, or the failure (err) */
	cutover_error err;
} op_sequences;
void op_sequences_repair(co_pg *pg, cutover_domain d, const op_opts *o, op_sequences *s);
void op_sequences_print(const op_sequences *s, const op_opts *o);
void op_sequences_json(const op_sequences *s, cJSON *out);

/* verify: one ✓/✗ line per check (or a JSON array with --json). */
typedef struct op_checks {
	cJSON *arr;   /* --json: the "checks" array */
	int failed;
	int total;
} op_checks;
void op_check(op_checks *c, bool ok, const char *name, const char *fmt, ...) CO_PRINTF(4, 5);
/* One "sequence ahead" check per sequence, with the repair SQL when behind. */
void op_check_sequences(op_checks *c, const co_seq_health *h, size_t n);
/* The summary ("identity: 7 of 7 checks passed" or ok/failed in JSON);
 * returns EXIT_OK or EXIT_CHECKS. */
int op_checks_end(const op_checks *c, cJSON *out, const char *domain);

/* First value of a one-row answer to constant SQL as a number; -1 with err
 * set on failure. */
long long op_count_of(co_pg *pg, const char *sql, cutover_error *err);

#endif
