/* pipeline.h — one table's batches on their way to the loader.
 *
 * Every domain's backfill and verify feed the loader the same way: the rows
 * of one legacy record are appended to the batch being filled, where the
 * record came from (file, position, line, key, original bytes) is
 * remembered beside them, and a full batch is handed on — with --apply sent
 * without waiting (two slots: one fills while the other's COPY is in
 * flight), otherwise classified at once. When the loader reports a record
 * it did not insert, the run finds the record by its staging key, counts
 * it, prints the first few, and keeps a reject's original bytes in the
 * reject files. The domain writes the COPY rows; this is the rest, once.
 */
#ifndef CUTOVER_PIPELINE_H
#define CUTOVER_PIPELINE_H

#include "cli.h"
#include "loader.h"
#include "rejects.h"

/* Rows a record brings to the parts after the first (oauth links; a
 * profile's four lists; a report's actions). */
#define CO_RUN_CHILDREN (CO_LOAD_MAX_PARTS - 1)

/* What the runs of one command share: the connection, the mode, the reject
 * files and how many lines were printed. */
typedef struct co_run_env {
	co_pg *pg;
	co_load_mode mode;
	bool verify;          /* classification is a check: rejects are counted, already kept by the backfill */
	co_rejects *rejects;
	int max_print;
	int printed;
	uint64_t since_pump;
	bool pg_shared;       /* pg belongs to the caller (op_opts.shared_pg) */
} co_run_env;

/* Connect (or take op_opts.shared_pg; which also proves the schema: the domain's sequences are read),
 * take the domain's backfill lock, create the stage tables of `prepare`
 * and open the reject files (not for verify). */
int co_run_env_open(co_run_env *env, const op_opts *o, cutover_domain d, const co_load_spec *prepare,
		    co_load_mode mode, bool verify, cutover_error *err);
void co_run_env_close(co_run_env *env);

typedef struct co_run_meta {
	uint64_t pos;                    /* the key its staged rows carry */
	uint64_t position, offset, line; /* in its source file */
	size_t bytes_at, len;            /* its original bytes in the slot's raw buffer */
	uint64_t children[CO_RUN_CHILDREN];
	char file[80];
	char key[96];
} co_run_meta;

typedef struct co_run_slot {
	co_batch batch;
	co_run_meta *meta;
	size_t nmeta, cap;
	co_buf raw;
} co_run_slot;

typedef struct co_run {
	co_run_env *env;
	const co_load_spec *spec;
	const char *file;       /* the source key, unless a record names its own */
	const char *collection; /* NULL: an NDJSON source (records are lines) */
	size_t batch_size;
	/* optional: called after a batch was classified (dry run, verify) while
	 * the stage tables still hold it */
	int (*classified)(void *ud, cutover_error *err);
	void *ud;

	co_run_slot slots[2];
	int fill, flight;       /* the slot being filled; the one in flight or -1 */
	co_run_slot *cur;       /* the batch being reported */
	co_load_counts counts;
	uint64_t walk_rejects, differ_printed;
	uint64_t children_total[CO_RUN_CHILDREN];
	uint64_t children_not_new[CO_RUN_CHILDREN];  /* of records not inserted */
	uint64_t children_rejected[CO_RUN_CHILDREN]; /* of records the loader rejected */
} co_run;

void co_run_init(co_run *r, co_run_env *env, const co_load_spec *spec, const char *file, const char *collection,
		 size_t batch_size);
void co_run_free(co_run *r);

/* The batch being filled: append one record's rows to it. */
co_batch *co_run_batch(co_run *r);
/* The record's rows are in co_run_batch(r): count it, remember where it came
 * from (file NULL: r->file; children NULL: none), and hand the batch on
 * when it is full. */
int co_run_added(co_run *r, uint64_t pos, const co_scan_item *it, const char *file, const char *key,
		 const uint64_t *children, cutover_error *err);
/* A record the walk refused: count it, print it (the first few), keep it. */
int co_run_reject(co_run *r, const char *file, const co_scan_item *it, const char *key, const char *reason,
		  cutover_error *err);
/* Hand on the batch being filled, if it has records. */
int co_run_flush(co_run *r, cutover_error *err);
/* Everything of this table handed on and landed (committed with --apply). */
int co_run_drain(co_run *r, cutover_error *err);

#endif
