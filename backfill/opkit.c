/* opkit.c — shared pieces of survey, backfill and verify (see opkit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opkit.h"

/* The advisory lock key: a constant class ("cutover" in spirit) and the domain. */
#define OP_LOCK_STR "1668247919"

void op_count(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

void op_survey_unmappable(op_survey_ctx *sc, const char *file, const co_scan_item *it, const char *key,
			  const char *reason)
{
	if (sc->printed++ < sc->o->max_print)
		fprintf(stderr, "  unmappable: %s record %llu (line %llu, %s): %s\n", file,
			(unsigned long long)it->position, (unsigned long long)it->line, key, reason);
}

int op_take_lock(co_pg *pg, cutover_domain d, bool no_wait, cutover_error *err)
{
	char key[16];
	snprintf(key, sizeof(key), "%d", (int)d + 1);
	const char *params[] = {key};
	PGresult *r = co_pg_exec(pg, "backfill lock", "SELECT pg_try_advisory_lock(" OP_LOCK_STR ", $1::int)", 1, params, err);
	if (!r)
		return err->code;
	bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (got) {
		co_pg_hold_session(pg); /* a reset would drop the lock: never reset silently */
		return CUTOVER_OK;
	}
	const char *name = cutover_domain_name(d);
	if (no_wait) {
		co_err(err, CUTOVER_EBUSY, "another `cutover backfill %s` (or verify) is running against this database", name);
		co_err_hint(err, "wait for it to finish, or run again without --no-wait to wait for it");
		return CUTOVER_EBUSY;
	}
	fprintf(stderr, "cutover: another backfill of %s is running; waiting for it to finish\n", name);
	r = co_pg_exec(pg, "backfill lock", "SELECT pg_advisory_lock(" OP_LOCK_STR ", $1::int)", 1, params, err);
	if (!r)
		return err->code;
	PQclear(r);
	co_pg_hold_session(pg);
	return CUTOVER_OK;
}

cJSON *op_table_json(const char *table, const char *file, uint64_t records, const co_load_counts *c, uint64_t rejected)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "table", table);
	if (file)
		cJSON_AddStringToObject(t, "source", file);
	op_count(t, "records", records);
	op_count(t, "insert", c->inserted);
	op_count(t, "unchanged", c->equal);
	op_count(t, "differ", c->differ);
	op_count(t, "rejected", rejected);
	return t;
}

void op_sequences_repair(co_pg *pg, cutover_domain d, const op_opts *o, op_sequences *s)
{
	memset(s, 0, sizeof(*s));
	s->rc = co_pg_sequence_health(pg, d, s->h, sizeof(s->h) / sizeof(s->h[0]), &s->n, &s->err);
	if (s->rc != CUTOVER_OK || !o->repair_sequences || !o->apply)
		return;
	for (size_t i = 0; i < s->n && s->rc == CUTOVER_OK; i++) {
		PGresult *r = co_pg_exec(pg, "repair sequence", s->h[i].repair_sql, 0, NULL, &s->err);
		if (!r)
			s->rc = s->err.code;
		PQclear(r);
	}
	s->repaired = s->rc == CUTOVER_OK;
}

void op_sequences_print(const op_sequences *s, const op_opts *o)
{
	if (s->rc != CUTOVER_OK || s->n == 0)
		return;
	printf("sequence repair%s:\n", s->repaired ? " (done)" : o->apply ? " (run it, or pass --repair-sequences)" : "");
	for (size_t i = 0; i < s->n; i++)
		printf("  %s\n", s->h[i].repair_sql);
}

void op_sequences_json(const op_sequences *s, cJSON *out)
{
	cJSON *seq = cJSON_AddArrayToObject(out, "sequence_repair");
	for (size_t i = 0; s->rc == CUTOVER_OK && i < s->n; i++)
		cJSON_AddItemToArray(seq, cJSON_CreateString(s->h[i].repair_sql));
	cJSON_AddBoolToObject(out, "sequences_repaired", s->repaired);
}

void op_check(op_checks *c, bool ok, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	c->total++;
	c->failed += !ok;
	if (c->arr) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "check", name);
		cJSON_AddBoolToObject(o, "ok", ok);
		cJSON_AddStringToObject(o, "detail", detail);
		cJSON_AddItemToArray(c->arr, o);
	} else {
		printf("%s %s: %s\n", ok ? "\u2713" : "\u2717", name, detail);
	}
}

void op_check_sequences(op_checks *c, const co_seq_health *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		op_check(c, !h[i].behind, "sequence ahead", "%s: next value %lld, max id %lld%s%s", h[i].sequence,
			 (long long)h[i].next_value, (long long)h[i].max_id, h[i].behind ? "; repair: " : "",
			 h[i].behind ? h[i].repair_sql : "");
}

int op_checks_end(const op_checks *c, cJSON *out, const char *domain)
{
	if (out) {
		cJSON_AddBoolToObject(out, "ok", c->failed == 0);
		op_count(out, "failed", (uint64_t)c->failed);
	} else {
		printf("%s: %d of %d checks passed\n", domain, c->total - c->failed, c->total);
	}
	return c->failed ? EXIT_CHECKS : EXIT_OK;
}

long long op_count_of(co_pg *pg, const char *sql, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, "verify", sql, 0, NULL, err);
	if (!r)
		return -1;
	long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

int op_backfill_failed(const cutover_error *err, bool committed)
{
	int code = cli_fail(err);
	if (committed)
		fprintf(stderr, "cutover: batches committed before the failure stay; run the same command again to resume\n");
	return code;
}

int op_backfill_report(cutover_domain d, const op_opts *o, cJSON *out, co_pg *pg, const co_rejects *rejects,
		       const op_line *lines, size_t n)
{
	const char *name = cutover_domain_name(d);
	const char *dir = co_rejects_dir(rejects);
	uint64_t rejected = 0, differ = 0;
	for (size_t i = 0; i < n; i++) {
		rejected += lines[i].rejected;
		differ += lines[i].source ? lines[i].counts.differ : 0;
	}
	op_sequences seqs;
	op_sequences_repair(pg, d, o, &seqs);
	if (out) {
		cJSON_AddStringToObject(out, "mode", o->apply ? "apply" : "dry-run");
		cJSON *tables = cJSON_AddArrayToObject(out, "tables");
		for (size_t i = 0; i < n; i++) {
			cJSON *t = op_table_json(lines[i].table, lines[i].source, lines[i].records, &lines[i].counts,
						 lines[i].rejected);
			if (lines[i].json_key)
				op_count(t, lines[i].json_key, lines[i].json_value);
			cJSON_AddItemToArray(tables, t);
		}
		op_count(out, "rejected", rejected);
		if (dir && rejected)
			cJSON_AddStringToObject(out, "rejects_dir", dir);
		op_sequences_json(&seqs, out);
	} else {
		const char *verb = o->apply ? "inserted" : "would insert";
		printf("backfill %s (%s)%s\n", name, o->apply ? "apply" : "dry run: nothing is written",
		       o->only_users ? " [rehearsal: selected users only]" : "");
		for (size_t i = 0; i < n; i++) {
			const op_line *l = &lines[i];
			if (!l->source) {
				printf("  %llu %s; %s %llu\n", (unsigned long long)l->records, l->what, verb,
				       (unsigned long long)l->counts.inserted);
				continue;
			}
			printf("  %llu legacy %s to migrate%s; %s %llu; unchanged %llu; differ %llu; rejected %llu\n",
			       (unsigned long long)l->records, l->what, l->extra ? l->extra : "", verb,
			       (unsigned long long)l->counts.inserted, (unsigned long long)l->counts.equal,
			       (unsigned long long)l->counts.differ, (unsigned long long)l->rejected);
		}
		if (rejected && dir)
			printf("  rejected records (original bytes) and reasons: %s/%s/\n", dir, name);
		else if (rejected)
			printf("  pass --rejects DIR to keep the rejected records and their reasons\n");
		if (differ)
			printf("  rows that differ were left as they are (backfill only adds); see `cutover verify %s`\n", name);
		op_sequences_print(&seqs, o);
	}
	if (seqs.rc != CUTOVER_OK)
		return cli_fail(&seqs.err);
	return rejected ? EXIT_CHECKS : EXIT_OK;
}
