/* loader.c — the batch loader (see loader.h for the design). */
#include <stdlib.h>
#include <string.h>

#include "loader.h"

void co_batch_reset(co_batch *b)
{
	for (int i = 0; i < CO_LOAD_MAX_PARTS; i++) {
		b->target[i].len = 0;
		b->stage[i].len = 0;
	}
	b->groups = 0;
}

void co_batch_free(co_batch *b)
{
	for (int i = 0; i < CO_LOAD_MAX_PARTS; i++) {
		co_buf_free(&b->target[i]);
		co_buf_free(&b->stage[i]);
	}
	b->groups = 0;
}

static int run(co_pg *pg, const char *what, const char *sql, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, what, sql, 0, NULL, err);
	if (!r)
		return err->code;
	PQclear(r);
	return CUTOVER_OK;
}

/* A constraint said no: the careful path can sort it out. Anything else
 * (connection lost, schema missing) is the caller's problem. */
static bool constraint_failure(const cutover_error *err)
{
	return err->code == CUTOVER_ECONFLICT || err->code == CUTOVER_EINVALID;
}

static void rollback(co_pg *pg)
{
	cutover_error ignore;
	run(pg, "rollback", "ROLLBACK", &ignore);
}

int co_load_prepare(co_pg *pg, const co_load_spec *spec, cutover_error *err)
{
	int rc = run(pg, spec->what, spec->stage_ddl, err);
	if (rc == CUTOVER_OK)
		co_pg_hold_session(pg); /* the stage tables live in this session only */
	return rc;
}

static int buffers_ok(const co_batch *b, const co_load_spec *spec, cutover_error *err)
{
	for (size_t i = 0; i < spec->nparts; i++)
		if (b->target[i].failed || b->stage[i].failed)
			return co_err_oom(err);
	return CUTOVER_OK;
}

/* COPY the batch into the stage tables and classify it. */
static int stage_and_classify(co_pg *pg, const co_load_spec *spec, co_batch *b, cutover_error *err)
{
	int rc = run(pg, spec->what, spec->truncate, err);
	for (size_t i = 0; rc == CUTOVER_OK && i < spec->nparts; i++)
		if (b->stage[i].len)
			rc = co_pg_copy(pg, spec->what, spec->parts[i].copy_stage, b->stage[i].data, b->stage[i].len, err);
	if (rc == CUTOVER_OK)
		rc = run(pg, spec->what, spec->classify, err);
	return rc;
}

/* Report every group that is not new; count them. */
static int report(co_pg *pg, const co_load_spec *spec, co_load_report_fn fn, void *ud, co_load_counts *c,
		  uint64_t *not_new, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, spec->what, spec->report, 0, NULL, err);
	if (!r)
		return err->code;
	int rc = CUTOVER_OK;
	*not_new = 0;
	for (int i = 0; rc == CUTOVER_OK && i < PQntuples(r); i++) {
		const char *state = PQgetvalue(r, i, 1);
		const char *detail = PQgetisnull(r, i, 2) ? "" : PQgetvalue(r, i, 2);
		if (strcmp(state, "equal") == 0)
			c->equal++;
		else if (strcmp(state, "differ") == 0)
			c->differ++;
		else
			c->rejected++;
		(*not_new)++;
		if (fn)
			rc = fn(ud, strtoll(PQgetvalue(r, i, 0), NULL, 10), state, detail, err);
	}
	PQclear(r);
	return rc;
}

static int insert_new(co_pg *pg, const co_load_spec *spec, cutover_error *err)
{
	int rc = CUTOVER_OK;
	for (size_t i = 0; rc == CUTOVER_OK && i < spec->nparts; i++)
		rc = run(pg, spec->what, spec->parts[i].insert_new, err);
	return rc;
}

/* One row at a time under savepoints: a row the target refuses is reported
 * as a reject with the server's reason, the others go in. */
static int isolate(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_report_fn fn, void *ud,
		   co_load_counts *c, cutover_error *err)
{
	int rc = run(pg, spec->what, "BEGIN", err);
	if (rc == CUTOVER_OK)
		rc = stage_and_classify(pg, spec, b, err);
	uint64_t not_new = 0;
	if (rc == CUTOVER_OK)
		rc = report(pg, spec, fn, ud, c, &not_new, err);
	(void)not_new;
	PGresult *r = rc ? NULL : co_pg_exec(pg, spec->what, spec->select_new, 0, NULL, err);
	if (rc == CUTOVER_OK && !r)
		rc = err->code;
	for (int i = 0; rc == CUTOVER_OK && i < PQntuples(r); i++) {
		const char *pos = PQgetvalue(r, i, 0);
		const char *params[1] = {pos};
		if ((rc = run(pg, spec->what, "SAVEPOINT one_row", err)))
			break;
		cutover_error rowerr;
		int rrc = CUTOVER_OK;
		for (size_t p = 0; rrc == CUTOVER_OK && p < spec->nparts; p++) {
			PGresult *ir = co_pg_exec(pg, spec->what, spec->parts[p].insert_one, 1, params, &rowerr);
			if (ir)
				PQclear(ir);
			else
				rrc = rowerr.code;
		}
		if (rrc == CUTOVER_OK) {
			c->inserted++;
			rc = run(pg, spec->what, "RELEASE SAVEPOINT one_row", err);
		} else if (constraint_failure(&rowerr)) {
			rc = run(pg, spec->what, "ROLLBACK TO SAVEPOINT one_row", err);
			c->rejected++;
			char reason[1200];
			snprintf(reason, sizeof(reason), "postgres refused the row: %s%s%s", rowerr.message,
				 rowerr.detail[0] ? " (" : "", rowerr.detail[0] ? rowerr.detail : "");
			if (rc == CUTOVER_OK && fn)
				rc = fn(ud, strtoll(pos, NULL, 10), "reject", reason, err);
		} else {
			*err = rowerr;
			rc = rowerr.code;
		}
	}
	PQclear(r);
	if (rc == CUTOVER_OK)
		rc = run(pg, spec->what, "COMMIT", err);
	else
		rollback(pg);
	return rc;
}

/* The careful path, inside an open transaction (rolled back to "fast" or fresh). */
static int careful(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_mode mode, co_load_report_fn fn,
		   void *ud, co_load_counts *c, cutover_error *err)
{
	uint64_t not_new = 0;
	int rc = stage_and_classify(pg, spec, b, err);
	if (rc == CUTOVER_OK && mode == CO_LOAD_CLASSIFY && spec->remember_new)
		rc = run(pg, spec->what, spec->remember_new, err);
	if (rc == CUTOVER_OK && mode == CO_LOAD_APPLY) {
		rc = insert_new(pg, spec, err);
		if (rc && constraint_failure(err)) {
			rollback(pg);
			return isolate(pg, spec, b, fn, ud, c, err);
		}
	}
	if (rc == CUTOVER_OK)
		rc = report(pg, spec, fn, ud, c, &not_new, err);
	if (rc == CUTOVER_OK)
		rc = run(pg, spec->what, "COMMIT", err);
	if (rc) {
		rollback(pg);
		return rc;
	}
	c->inserted += b->groups - not_new;
	return CUTOVER_OK;
}

/* The fast path tripped on a constraint: back to the savepoint, then careful. */
static int fast_failed(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_report_fn fn, void *ud,
		       co_load_counts *c, int rc, cutover_error *err)
{
	if (!constraint_failure(err)) {
		rollback(pg);
		return rc;
	}
	if ((rc = run(pg, spec->what, "ROLLBACK TO SAVEPOINT fast", err))) {
		rollback(pg);
		return rc;
	}
	return careful(pg, spec, b, CO_LOAD_APPLY, fn, ud, c, err);
}

/* The rest of the fast path after the first part went in. */
static int fast_rest(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_report_fn fn, void *ud,
		     co_load_counts *c, cutover_error *err)
{
	int rc = CUTOVER_OK;
	for (size_t i = 1; rc == CUTOVER_OK && i < spec->nparts; i++)
		if (b->target[i].len)
			rc = co_pg_copy(pg, spec->what, spec->parts[i].copy_target, b->target[i].data, b->target[i].len,
					err);
	if (rc)
		return fast_failed(pg, spec, b, fn, ud, c, rc, err);
	rc = run(pg, spec->what, "COMMIT", err);
	if (rc == CUTOVER_OK)
		c->inserted += b->groups;
	return rc;
}

int co_load_start(co_pg *pg, const co_load_spec *spec, co_batch *b, cutover_error *err)
{
	b->started = false;
	int rc = buffers_ok(b, spec, err);
	if (rc || b->groups == 0)
		return rc;
	if ((rc = run(pg, spec->what, "BEGIN", err)) || (rc = run(pg, spec->what, "SAVEPOINT fast", err))) {
		rollback(pg);
		return rc;
	}
	rc = co_pg_copy_send(pg, spec->what, spec->parts[0].copy_target, b->target[0].data, b->target[0].len, err);
	if (rc) {
		rollback(pg);
		return rc;
	}
	b->started = true;
	return CUTOVER_OK;
}

int co_load_finish(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_report_fn fn, void *ud,
		   co_load_counts *c, cutover_error *err)
{
	if (!b->started)
		return CUTOVER_OK;
	b->started = false;
	int rc = co_pg_copy_collect(pg, spec->what, err);
	if (rc)
		return fast_failed(pg, spec, b, fn, ud, c, rc, err);
	return fast_rest(pg, spec, b, fn, ud, c, err);
}

int co_load_batch(co_pg *pg, const co_load_spec *spec, co_batch *b, co_load_mode mode, co_load_report_fn fn,
		  void *ud, co_load_counts *c, cutover_error *err)
{
	if (mode == CO_LOAD_APPLY) {
		int rc = co_load_start(pg, spec, b, err);
		return rc ? rc : co_load_finish(pg, spec, b, fn, ud, c, err);
	}
	int rc = buffers_ok(b, spec, err);
	if (rc || b->groups == 0)
		return rc;
	if ((rc = run(pg, spec->what, "BEGIN", err)))
		return rc;
	return careful(pg, spec, b, mode, fn, ud, c, err);
}
