/* reports.c — survey, backfill and verify for the reports domain.
 *
 * One walk over reports/reports.json serves all three commands: records are
 * streamed one by one (legacy_scan), decoded by the one legacy decoder
 * (legacy_reports), and checked across records for what no single record
 * shows (a repeated id; the first record with an id is kept). Memory: a key
 * set of the ids seen, one record and one batch (its trail included).
 *
 *  - survey counts what the walk finds; with the legacy users and incidents
 *    documents present it also counts references to ids they do not hold
 *    (orphans); nothing else is read or written;
 *  - backfill turns every mappable record into COPY rows (the report and its
 *    trail) and hands batches to the loader; the classification rejects a
 *    report whose author, incident or an action's actor does not exist in
 *    Postgres (identity and telemetry are backfilled first), and every
 *    unmappable record goes to the reject files with its reason;
 *  - verify stages the mappable records and classifies them against the
 *    tables: every one must be present and equal, trail included.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_store.h"
#include "keyset.h"
#include "legacy_identity.h"
#include "legacy_reports.h"
#include "loader.h"
#include "opkit.h"
#include "pipeline.h"
#include "rejects.h"
#include "reports.h"
#include "reports_sql.h"

#define REPORTS_KEY "reports/reports.json"
#define USERS_KEY "identity/users.json"
#define INCIDENTS_KEY "telemetry/incidents.json"

/* --- the walk ---------------------------------------------------------------- */

typedef struct walk_stats {
	bool present;
	uint64_t records, ok, unreadable, dup_ids, actions, archived;
	bool users_checked, incidents_checked;
	uint64_t orphan_authors, orphan_incidents, orphan_actors;
} walk_stats;

typedef struct walk_cb {
	int (*report)(void *ud, const cutover_report *r, const co_scan_item *it, const char *key, cutover_error *err);
	int (*reject)(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err);
	void *ud;
	const co_keyset *users, *incidents; /* survey: legacy ids, NULL when the document is absent */
} walk_cb;

static void key_of(const co_scan_item *it, char *buf, size_t len)
{
	cJSON *j = NULL;
	cutover_error ignore;
	snprintf(buf, len, "record %llu", (unsigned long long)it->position);
	if (co_legacy_parse(it, &j, &ignore) == CUTOVER_OK) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble < 9007199254740992.0)
			snprintf(buf, len, "id %lld", (long long)id->valuedouble);
		cJSON_Delete(j);
	}
}

/* Why a mappable record is still an orphan in the legacy documents ("" if not). */
static void orphan_reason(const walk_cb *cb, const cutover_report *r, walk_stats *ws, char *reason, size_t len)
{
	reason[0] = '\0';
	if (cb->users && !co_keyset_has_id(cb->users, r->author_id)) {
		snprintf(reason, len, "author_id %lld is not in %s", (long long)r->author_id, USERS_KEY);
		ws->orphan_authors++;
		return;
	}
	if (cb->incidents && r->incident_id > 0 && !co_keyset_has_id(cb->incidents, r->incident_id)) {
		snprintf(reason, len, "incident_id %lld is not in %s", (long long)r->incident_id, INCIDENTS_KEY);
		ws->orphan_incidents++;
		return;
	}
	for (size_t i = 0; cb->users && i < r->n_actions; i++) {
		if (r->actions[i].actor_id > 0 && !co_keyset_has_id(cb->users, r->actions[i].actor_id)) {
			snprintf(reason, len, "actor_id %lld of action %zu is not in %s", (long long)r->actions[i].actor_id,
				 i + 1, USERS_KEY);
			ws->orphan_actors++;
			return;
		}
	}
}

static int walk(cli_ctx *ctx, const op_opts *o, const walk_cb *cb, walk_stats *ws, cutover_error *err)
{
	memset(ws, 0, sizeof *ws);
	co_transport *t = NULL;
	int rc = co_transport_open(&t, o->st->json_root, o->st->json_token, err);
	if (rc)
		return rc;
	FILE *f = NULL;
	co_scan *sc = NULL;
	co_keyset *ids = co_keyset_new();
	rc = co_transport_stream(t, REPORTS_KEY, &f, err);
	ws->present = rc == CUTOVER_OK;
	if (rc == CUTOVER_ENOTFOUND) {
		rc = CUTOVER_OK;
		goto out;
	}
	if (rc == CUTOVER_OK && !ids)
		rc = co_err_oom(err);
	if (rc || (rc = co_scan_json(&sc, f, REPORTS_KEY, "reports", err)))
		goto out;
	co_scan_item it;
	while ((rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->records++;
		if (ws->records % 20000 == 0)
			cli_progress(ctx, "%s: %llu records", REPORTS_KEY, (unsigned long long)ws->records);
		char key[64], reason[200] = "";
		cutover_report *r = NULL;
		cutover_error why;
		if (co_legacy_report(&it, &r, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			key_of(&it, key, sizeof key);
			ws->unreadable++;
			if (cb->reject && (rc = cb->reject(cb->ud, &it, key, why.message, err)))
				break;
			continue;
		}
		snprintf(key, sizeof key, "id %lld", (long long)r->id);
		int64_t first = 0;
		int added = co_keyset_add_id(ids, r->id, (int64_t)it.position, &first);
		if (added < 0) {
			cutover_report_free(r);
			rc = co_err_oom(err);
			break;
		}
		if (added == 0) {
			snprintf(reason, sizeof reason, "duplicate id %lld: record %lld has it", (long long)r->id,
				 (long long)first);
			ws->dup_ids++;
		} else {
			orphan_reason(cb, r, ws, reason, sizeof reason);
		}
		if (*reason) {
			cutover_report_free(r);
			if (cb->reject && (rc = cb->reject(cb->ud, &it, key, reason, err)))
				break;
			continue;
		}
		ws->ok++;
		ws->actions += r->n_actions;
		ws->archived += strcmp(r->status, "archived") == 0;
		if (cb->report)
			rc = cb->report(cb->ud, r, &it, key, err);
		cutover_report_free(r);
		if (rc)
			break;
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
out:
	cli_progress_done(ctx);
	co_scan_free(sc);
	co_keyset_free(ids);
	if (f)
		fclose(f);
	t->free(t);
	return rc;
}

/* --- survey ---------------------------------------------------------------------- */

/* The ids of a legacy document's records (any record object with an integer
 * id); *out NULL when the document is absent. */
static int legacy_ids(const op_opts *o, const char *key, const char *coll, co_keyset **out, cutover_error *err)
{
	*out = NULL;
	co_transport *t = NULL;
	int rc = co_transport_open(&t, o->st->json_root, o->st->json_token, err);
	if (rc)
		return rc;
	FILE *f = NULL;
	co_scan *sc = NULL;
	rc = co_transport_stream(t, key, &f, err);
	if (rc == CUTOVER_ENOTFOUND) {
		t->free(t);
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	co_keyset *ks = rc ? NULL : co_keyset_new();
	if (!rc && !ks)
		rc = co_err_oom(err);
	if (!rc)
		rc = co_scan_json(&sc, f, key, coll, err);
	co_scan_item it;
	while (rc == CUTOVER_OK && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		cJSON *j = NULL;
		cutover_error ignore;
		if (co_legacy_parse(&it, &j, &ignore) != CUTOVER_OK)
			continue;
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble <= 9007199254740992.0 &&
		    co_keyset_add_id(ks, (int64_t)id->valuedouble, 0, NULL) < 0)
			rc = co_err_oom(err);
		cJSON_Delete(j);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	co_scan_free(sc);
	if (f)
		fclose(f);
	t->free(t);
	if (rc)
		co_keyset_free(ks);
	else
		*out = ks;
	return rc;
}

static int survey_reject(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err)
{
	(void)err;
	op_survey_unmappable(ud, REPORTS_KEY, it, key, reason);
	return CUTOVER_OK;
}

int reports_survey(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	op_survey_ctx sc = {o, 0};
	co_keyset *users = NULL, *incidents = NULL;
	walk_stats ws;
	cutover_error err;
	int rc = legacy_ids(o, USERS_KEY, "users", &users, &err);
	if (rc == CUTOVER_OK)
		rc = legacy_ids(o, INCIDENTS_KEY, "incidents", &incidents, &err);
	walk_cb cb = {.reject = survey_reject, .ud = &sc, .users = users, .incidents = incidents};
	if (rc == CUTOVER_OK)
		rc = walk(ctx, o, &cb, &ws, &err);
	co_keyset_free(users);
	co_keyset_free(incidents);
	if (rc)
		return cli_fail(&err);
	ws.users_checked = cb.users != NULL;
	ws.incidents_checked = cb.incidents != NULL;
	uint64_t orphans = ws.orphan_authors + ws.orphan_incidents + ws.orphan_actors;
	uint64_t bad = ws.unreadable + ws.dup_ids + orphans;
	if (out) {
		cJSON *r = cJSON_AddObjectToObject(out, REPORTS_KEY);
		cJSON_AddBoolToObject(r, "present", ws.present);
		op_count(r, "records", ws.records);
		op_count(r, "mappable", ws.ok);
		op_count(r, "actions", ws.actions);
		op_count(r, "archived", ws.archived);
		op_count(r, "unreadable", ws.unreadable);
		op_count(r, "duplicate_ids", ws.dup_ids);
		if (ws.users_checked) {
			op_count(r, "missing_author", ws.orphan_authors);
			op_count(r, "missing_actor", ws.orphan_actors);
		}
		if (ws.incidents_checked)
			op_count(r, "missing_incident", ws.orphan_incidents);
	} else {
		printf("%s%s\n", REPORTS_KEY, ws.present ? "" : " (absent)");
		printf("  records %llu, mappable %llu (archived %llu), actions %llu\n", (unsigned long long)ws.records,
		       (unsigned long long)ws.ok, (unsigned long long)ws.archived, (unsigned long long)ws.actions);
		printf("  unreadable or out of range %llu, duplicate ids %llu\n", (unsigned long long)ws.unreadable,
		       (unsigned long long)ws.dup_ids);
		if (ws.users_checked)
			printf("  author missing %llu, action actor missing %llu (against %s)\n",
			       (unsigned long long)ws.orphan_authors, (unsigned long long)ws.orphan_actors, USERS_KEY);
		else
			printf("  authors and actors not checked: %s is absent\n", USERS_KEY);
		if (ws.incidents_checked)
			printf("  incident missing %llu (against %s)\n", (unsigned long long)ws.orphan_incidents,
			       INCIDENTS_KEY);
		else
			printf("  incidents not checked: %s is absent\n", INCIDENTS_KEY);
		printf("reports: %llu unmappable record%s\n", (unsigned long long)bad, bad == 1 ? "" : "s");
	}
	return bad ? EXIT_CHECKS : EXIT_OK;
}

/* --- loading (backfill and verify) ------------------------------------------------- */

static const co_load_spec reports_spec = {
	.what = "reports",
	.stage_ddl = reports_stage_ddl,
	.truncate = "TRUNCATE stage_reports, stage_report_actions",
	.classify = reports_classify,
	.report = "SELECT pos, state, detail FROM stage_reports WHERE state <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_reports WHERE state = 'new' ORDER BY pos",
	.nparts = 2,
	.parts = {
		{"COPY operations.reports (" REPORT_COLS ") FROM STDIN",
		 "COPY stage_reports (pos, " REPORT_COLS ") FROM STDIN",
		 "INSERT INTO operations.reports (" REPORT_COLS ") SELECT " REPORT_COLS
		 " FROM stage_reports WHERE state = 'new'",
		 "INSERT INTO operations.reports (" REPORT_COLS ") SELECT " REPORT_COLS
		 " FROM stage_reports WHERE state = 'new' AND pos = $1::bigint"},
		{"COPY operations.report_actions (" ACTION_COLS ") FROM STDIN",
		 "COPY stage_report_actions (pos, " ACTION_COLS ") FROM STDIN",
		 "INSERT INTO operations.report_actions (" ACTION_COLS ") SELECT a.report_id, a.position, a.action,"
		 " a.actor_id, a.at, a.note FROM stage_report_actions a JOIN stage_reports s ON s.pos = a.pos"
		 " WHERE s.state = 'new'",
		 "INSERT INTO operations.report_actions (" ACTION_COLS ") SELECT a.report_id, a.position, a.action,"
		 " a.actor_id, a.at, a.note FROM stage_report_actions a JOIN stage_reports s ON s.pos = a.pos"
		 " WHERE s.state = 'new' AND s.pos = $1::bigint"},
	},
};

/* A text[] literal: every element double-quoted, \ and " escaped; the
 * COPY escaping is applied on top by co_copy_text. */
static void tags_literal(co_buf *lit, const cutover_report *r)
{
	co_buf_puts(lit, "{");
	for (size_t i = 0; i < r->n_tags; i++) {
		co_buf_puts(lit, i ? ",\"" : "\"");
		for (const char *p = r->tags[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				co_buf_put(lit, "\\", 1);
			co_buf_put(lit, p, 1);
		}
		co_buf_puts(lit, "\"");
	}
	co_buf_puts(lit, "}");
}

static void report_row(co_buf *b, const cutover_report *r, co_buf *lit)
{
	lit->len = 0;
	tags_literal(lit, r);
	co_copy_int(b, true, r->id);
	co_copy_text(b, false, r->title);
	co_copy_text(b, false, r->summary);
	co_copy_text(b, false, r->content);
	co_copy_text(b, false, r->severity);
	co_copy_text(b, false, r->status);
	co_copy_text(b, false, lit->failed ? "{}" : lit->data);
	co_copy_int(b, false, r->author_id);
	if (r->incident_id > 0)
		co_copy_int(b, false, r->incident_id);
	else
		co_copy_text(b, false, NULL);
	co_copy_ts(b, false, r->created_at);
	co_copy_ts(b, false, r->updated_at);
	co_copy_ts(b, false, r->archived_at);
	co_copy_end_row(b);
	if (lit->failed)
		b->failed = true;
}

static void action_row(co_buf *b, const cutover_report *r, size_t i)
{
	const cutover_report_action *a = &r->actions[i];
	co_copy_int(b, true, r->id);
	co_copy_int(b, false, (int64_t)i);
	co_copy_text(b, false, a->action);
	if (a->actor_id > 0)
		co_copy_int(b, false, a->actor_id);
	else
		co_copy_text(b, false, NULL);
	co_copy_ts(b, false, a->at);
	co_copy_text(b, false, a->note);
	co_copy_end_row(b);
}

static void stage_prefix(co_buf *b, uint64_t pos)
{
	co_copy_int(b, true, (int64_t)pos);
	co_buf_put(b, "\t", 1);
}

typedef struct load_ctx {
	co_run_env env;
	co_run run;
	bool verify;
	uint64_t pg_actions; /* verify: trail rows postgres holds for the staged reports */
	co_buf lit;
} load_ctx;

static int load_reject(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err)
{
	load_ctx *lc = ud;
	return co_run_reject(&lc->run, NULL, it, key, reason, err);
}

/* verify: the stage still holds this batch; count postgres's trail rows of these reports */
static int count_actions(void *ud, cutover_error *err)
{
	load_ctx *lc = ud;
	if (!lc->verify)
		return CUTOVER_OK;
	PGresult *r = co_pg_exec(lc->env.pg, "verify report actions",
				 "SELECT count(*) FROM operations.report_actions a JOIN stage_reports s ON s.id = a.report_id",
				 0, NULL, err);
	if (!r)
		return err->code;
	lc->pg_actions += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return CUTOVER_OK;
}

static int load_report(void *ud, const cutover_report *r, const co_scan_item *it, const char *key, cutover_error *err)
{
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->run);
	report_row(&b->target[0], r, &lc->lit);
	stage_prefix(&b->stage[0], it->position);
	report_row(&b->stage[0], r, &lc->lit);
	for (size_t i = 0; i < r->n_actions; i++) {
		action_row(&b->target[1], r, i);
		stage_prefix(&b->stage[1], it->position);
		action_row(&b->stage[1], r, i);
	}
	uint64_t children[CO_RUN_CHILDREN] = {r->n_actions};
	return co_run_added(&lc->run, it->position, it, NULL, key, children, err);
}

static int open_load(const op_opts *o, load_ctx *lc, co_load_mode mode, bool verify, cutover_error *err)
{
	memset(lc, 0, sizeof *lc);
	lc->verify = verify;
	co_run_init(&lc->run, &lc->env, &reports_spec, REPORTS_KEY, "reports", o->batch);
	lc->run.classified = count_actions;
	lc->run.ud = lc;
	return co_run_env_open(&lc->env, o, CUTOVER_DOMAIN_REPORTS, &reports_spec, mode, verify, err);
}

static void close_load(load_ctx *lc)
{
	co_run_free(&lc->run);
	co_buf_free(&lc->lit);
	co_run_env_close(&lc->env);
}

/* --- backfill ------------------------------------------------------------------------ */

int reports_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	walk_stats ws;
	memset(&ws, 0, sizeof ws);
	if (o->only_users) {
		co_err(&err, CUTOVER_EINVALID, "--users selects identity records; reports has no rehearsal subset");
		co_err_hint(&err, "run `cutover backfill reports` without --users (a dry run writes nothing)");
		return cli_fail(&err);
	}
	int rc = open_load(o, &lc, o->apply ? CO_LOAD_APPLY : CO_LOAD_CLASSIFY, false, &err);
	walk_cb cb = {.report = load_report, .reject = load_reject, .ud = &lc};
	if (rc == CUTOVER_OK)
		rc = walk(ctx, o, &cb, &ws, &err);
	if (rc == CUTOVER_OK)
		rc = co_run_drain(&lc.run, &err);
	if (rc) {
		int code = op_backfill_failed(&err, lc.run.counts.inserted > 0);
		close_load(&lc);
		return code;
	}
	const op_line lines[] = {
		{.table = "operations.reports", .source = REPORTS_KEY, .what = "reports", .records = ws.records,
		 .counts = lc.run.counts, .rejected = lc.run.walk_rejects + lc.run.counts.rejected},
		{.table = "operations.report_actions", .what = "actions in the trails of mappable reports",
		 .records = lc.run.children_total[0],
		 .counts = {.inserted = lc.run.children_total[0] - lc.run.children_not_new[0]}},
	};
	int code = op_backfill_report(CUTOVER_DOMAIN_REPORTS, o, out, lc.env.pg, lc.env.rejects, lines,
				      sizeof(lines) / sizeof(lines[0]));
	close_load(&lc);
	return code;
}

/* --- verify -------------------------------------------------------------------------- */

int reports_verify(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	walk_stats ws;
	memset(&ws, 0, sizeof ws);
	int rc = open_load(o, &lc, CO_LOAD_CLASSIFY, true, &err);
	walk_cb cb = {.report = load_report, .ud = &lc};
	if (rc == CUTOVER_OK)
		rc = walk(ctx, o, &cb, &ws, &err);
	if (rc == CUTOVER_OK)
		rc = co_run_flush(&lc.run, &err);
	long long orphan_reports = -1, orphan_actions = -1, rls = -1;
	if (rc == CUTOVER_OK &&
	    ((orphan_reports = op_count_of(lc.env.pg, "SELECT count(*) FROM operations.reports r WHERE NOT EXISTS "
						  "(SELECT 1 FROM identity.users u WHERE u.id = r.author_id) OR "
						  "(r.incident_id IS NOT NULL AND NOT EXISTS "
						  "(SELECT 1 FROM operations.incidents i WHERE i.id = r.incident_id))", &err)) < 0 ||
	     (orphan_actions = op_count_of(lc.env.pg, "SELECT count(*) FROM operations.report_actions a WHERE NOT EXISTS "
						  "(SELECT 1 FROM operations.reports r WHERE r.id = a.report_id) OR "
						  "(a.actor_id IS NOT NULL AND NOT EXISTS "
						  "(SELECT 1 FROM identity.users u WHERE u.id = a.actor_id))", &err)) < 0 ||
	     (rls = op_count_of(lc.env.pg, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				   "WHERE n.nspname = 'operations' AND c.relname IN ('reports', 'report_actions') "
				   "AND c.relrowsecurity", &err)) < 0))
		rc = err.code;
	co_seq_health h[4];
	size_t nh = 0;
	if (rc == CUTOVER_OK)
		rc = co_pg_sequence_health(lc.env.pg, CUTOVER_DOMAIN_REPORTS, h, 4, &nh, &err);
	if (rc) {
		int code = cli_fail(&err);
		close_load(&lc);
		return code;
	}
	op_checks c = {.arr = out ? cJSON_AddArrayToObject(out, "checks") : NULL};
	const co_load_counts *k = &lc.run.counts;
	/* unmappable: refused by the walk, or by the tables (a reference postgres does not hold) */
	uint64_t mappable = ws.ok - k->rejected, unmappable = ws.records - mappable, present = k->equal + k->differ;
	op_check(&c, present == mappable, "operations.reports count",
		 "%llu legacy records - %llu unmappable = %llu; postgres holds %llu of them%s",
		 (unsigned long long)ws.records, (unsigned long long)unmappable, (unsigned long long)mappable,
		 (unsigned long long)present, present == mappable ? "" : " (run cutover backfill reports --apply)");
	op_check(&c, k->differ == 0, "operations.reports fidelity",
		 "%llu of %llu rows differ from their legacy record (tags and trail included)",
		 (unsigned long long)k->differ, (unsigned long long)present);
	uint64_t want_actions = ws.actions - lc.run.children_rejected[0];
	op_check(&c, lc.pg_actions == want_actions, "operations.report_actions count",
		 "%llu legacy actions of mappable reports; postgres holds %llu for those reports",
		 (unsigned long long)want_actions, (unsigned long long)lc.pg_actions);
	op_check(&c, orphan_reports == 0 && orphan_actions == 0, "no orphans",
		 "%lld reports without their author or incident, %lld actions without their report or actor",
		 orphan_reports, orphan_actions);
	op_check_sequences(&c, h, nh);
	op_check(&c, rls == 2, "row level security", "enabled on %lld of 2 reports tables", rls);
	close_load(&lc);
	return op_checks_end(&c, out, "reports");
}
