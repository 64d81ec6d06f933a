/* loader.h — load a batch of legacy rows into Postgres, one transaction each.
 *
 * pgloader is the model. A batch is COPY text for one or more tables that
 * belong together (a user and its oauth links). With --apply the loader
 * first tries the fast path: COPY straight into the target tables inside a
 * savepoint. If that trips a constraint (rows already there from an earlier
 * or interrupted run, a key taken by the app), it rolls back to the
 * savepoint and takes the careful path: COPY into temp staging tables,
 * classify every row against the target (new / equal / differ / reject with
 * a reason), insert only the new ones. If even that insert fails, the batch
 * is isolated row by row under savepoints so one bad row never sinks the
 * others. Each batch commits on its own: an interrupted run resumes where it
 * stopped, and a re-run finds everything equal and writes nothing.
 *
 * Without --apply (dry run, and verify) only the careful path's
 * classification runs, against temp tables: nothing durable is written.
 */
#ifndef CUTOVER_LOADER_H
#define CUTOVER_LOADER_H

#include "pg_copy.h"

enum { CO_LOAD_MAX_PARTS = 5 };

/* One table of a batch. All SQL is constant text written by the domain. */
typedef struct co_load_part {
	const char *copy_target;    /* COPY <target> (cols) FROM STDIN */
	const char *copy_stage;     /* COPY <stage> (pos, cols) FROM STDIN */
	const char *insert_new;     /* INSERT INTO <target> ... FROM <stage> of the rows classified new */
	const char *insert_one;     /* the same for one group: ... AND pos = $1 */
} co_load_part;

typedef struct co_load_spec {
	const char *what;           /* "users" */
	const char *stage_ddl;      /* CREATE TEMP TABLE IF NOT EXISTS ... (run once per connection) */
	const char *truncate;       /* TRUNCATE the stage tables */
	/* Sets state ('new', 'equal', 'differ', 'reject') and detail (the
	 * differing fields, or the reject reason) on the first part's stage. */
	const char *classify;
	/* SELECT pos, state, detail FROM <first stage> WHERE state <> 'new' ORDER BY pos */
	const char *report;
	/* SELECT pos FROM <first stage> WHERE state = 'new' ORDER BY pos */
	const char *select_new;
	/* optional: remember what a dry run would insert (temp tables only) */
	const char *remember_new;
	size_t nparts;
	co_load_part parts[CO_LOAD_MAX_PARTS];
} co_load_spec;

typedef struct co_batch {
	co_buf target[CO_LOAD_MAX_PARTS]; /* rows as COPY text for the target */
	co_buf stage[CO_LOAD_MAX_PARTS];  /* the same rows with pos first */
	size_t groups;                    /* rows of the first part */
	bool started;                     /* co_load_start sent it; co_load_finish collects */
} co_batch;

void co_batch_reset(co_batch *b);
void co_batch_free(co_batch *b);

typedef struct co_load_counts {
	uint64_t inserted;  /* (would be) inserted */
	uint64_t equal;     /* already present and equal */
	uint64_t differ;    /* present with other values: reported, left alone */
	uint64_t rejected;  /* refused by the target (key taken, constraint) */
} co_load_counts;

/* Called for every group that is not inserted: state "equal", "differ" or
 * "reject"; detail lists differing fields or gives the reason. */
typedef int (*co_load_report_fn)(void *ud, int64_t pos, const char *state, const char *detail, cutover_error *err);

typedef enum co_load_mode {
	CO_LOAD_CLASSIFY,  /* dry run / verify: classify only */
	CO_LOAD_APPLY      /* write */
} co_load_mode;

/* Create the stage tables on this connection. */
int co_load_prepare(co_pg *pg, const co_load_spec *spec, cutover_error *err);
int co_load_batch(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_mode mode, co_load_report_fn fn,
		  void *ud, co_load_counts *counts, cutover_error *err);

/* --apply, overlapped: co_load_start opens the batch's transaction and sends
 * the fast path's first COPY without waiting, so Postgres loads it while the
 * caller builds the next batch (calling co_pg_copy_pump now and then).
 * co_load_finish collects the answer and completes the batch exactly as
 * co_load_batch would (the careful path if the fast one tripped). The
 * caller keeps the batch intact between the two. */
int co_load_start(co_pg *pg, const co_load_spec *spec, co_batch *b, cutover_error *err);
int co_load_finish(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_report_fn fn, void *ud,
		   co_load_counts *counts, cutover_error *err);

#endif
