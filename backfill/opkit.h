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
#include "rejects.h"

/* Add a count to a JSON object. */
void op_count(cJSON *o, const char *name, uint64_t v);

/* A survey's list of unmappable records on stderr, at most o->max_print lines. */
typedef struct op_survey_ctx {
	const op_opts *o;
	int printed;
} op_survey_ctx;

/* One unmappable record of a collection document: "file record N (line L, key): reason". */
void op_survey_unmappable(op_survey_ctx *sc, const char *file, const co_scan_item *it, const char *key,
			  const char *reason);

/* Take the domain's backfill lock (a session advisory lock, so a concurrent
 * backfill or verify of the same domain waits, or with no_wait is refused
 * with CUTOVER_EBUSY). Released when the connection closes; from then on
 * the handle is never reset silently (co_pg_hold_session): a lost
 * connection stops the run instead of letting it go on without its lock. */
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

/* One table of a backfill report. A main table's records come from a legacy
 * file ("N legacy <what> to migrate; inserted N; unchanged N; differ N;
 * rejected N"); a child table's rows come with another table's records
 * ("N <what>; inserted N"). */
typedef struct op_line {
	const char *table;      /* "identity.users" */
	const char *source;     /* the legacy file or folder; NULL for a child table */
	const char *what;       /* "users"; for a child: "oauth links of mappable users" */
	const char *extra;      /* printed after "to migrate", e.g. " (13 daily files)"; may be NULL */
	uint64_t records, rejected;
	co_load_counts counts;  /* a child uses only inserted */
	const char *json_key;   /* optional number in the table's JSON ("files") */
	uint64_t json_value;
} op_line;

/* The end of every backfill: the sequence step, then the report (text or
 * --json) with the reject files and rows left alone, then the exit code:
 * EXIT_CHECKS when anything was rejected, a runtime failure of the
 * sequence step, else EXIT_OK. */
int op_backfill_report(cutover_domain d, const op_opts *o, cJSON *out, co_pg *pg, const co_rejects *rejects,
		       const op_line *lines, size_t n);
/* A backfill that failed part-way: print the error and, when batches were
 * committed, that they stay and a re-run resumes. Returns the exit code. */
int op_backfill_failed(const cutover_error *err, bool committed);

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
