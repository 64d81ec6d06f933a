/* reports_router.c — reports in a dual stage: two stores, one interface.
 *
 * Every write goes to the primary (authoritative) store first; if it fails
 * the call fails and the secondary is not touched. Then the secondary gets
 * the whole report, trail included, exactly as the primary now holds it
 * (put_report), so the second write is idempotent and repairs any earlier
 * drift of that report. A failed second write is journaled (entity
 * "report", key the id) and never fails the call. Reads go to the primary,
 * or in stages that compare to both, with differences reported by field;
 * the primary's answer is returned either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports_int.h"
#include "router.h"

typedef struct reports_router {
	cutover_reports base;
	co_router r;
	cutover_reports *primary, *secondary;
} reports_router;

#define R(s) ((reports_router *)(s))

static const char *id_key(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)id);
	return buf;
}

static void second_put(reports_router *rr, const char *op, const cutover_report *rep)
{
	if (!rr->r.stage->writes_both || !rep)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (rr->secondary->put_report(rr->secondary, rep, &e2) != CUTOVER_OK) {
		char key[32];
		id_key(rep->id, key, sizeof key);
		co_router_second_write_failed(&rr->r, op, "report", key, key, &e2);
	}
}

/* A write that hands back the report: primary, then replicate. */
static int after_write(reports_router *rr, const char *op, int rc, cutover_report **out)
{
	if (rc == CUTOVER_OK)
		second_put(rr, op, *out);
	return rc;
}

/* --- writes --------------------------------------------------------------------- */

static int r_create(cutover_reports *s, cutover_report **out, const cutover_report *in, cutover_error *err)
{
	reports_router *rr = R(s);
	return after_write(rr, "create_report", rr->primary->create_report(rr->primary, out, in, err), out);
}

static int r_update(cutover_reports *s, cutover_report **out, int64_t id, const cutover_report_patch *p,
		    cutover_ts now, cutover_error *err)
{
	reports_router *rr = R(s);
	return after_write(rr, "update_report", rr->primary->update_report(rr->primary, out, id, p, now, err), out);
}

static int r_archive(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		     cutover_ts now, cutover_error *err)
{
	reports_router *rr = R(s);
	return after_write(rr, "archive_report",
			   rr->primary->archive_report(rr->primary, out, id, actor, note, now, err), out);
}

static int r_restore(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		     cutover_ts now, cutover_error *err)
{
	reports_router *rr = R(s);
	return after_write(rr, "restore_report",
			   rr->primary->restore_report(rr->primary, out, id, actor, note, now, err), out);
}

static int r_record_action(cutover_reports *s, cutover_report **out, int64_t id, const char *action, int64_t actor,
			   const char *note, cutover_ts now, cutover_error *err)
{
	reports_router *rr = R(s);
	return after_write(rr, "record_action",
			   rr->primary->record_action(rr->primary, out, id, action, actor, note, now, err), out);
}

static int r_put(cutover_reports *s, const cutover_report *rep, cutover_error *err)
{
	reports_router *rr = R(s);
	int rc = rr->primary->put_report(rr->primary, rep, err);
	if (rc == CUTOVER_OK)
		second_put(rr, "put_report", rep);
	return rc;
}

/* --- reads ---------------------------------------------------------------------- */

static int r_get(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err)
{
	reports_router *rr = R(s);
	int rc = rr->primary->get_report(rr->primary, out, id, err);
	if (!rr->r.stage->compares_reads)
		return rc;
	cutover_report *other = NULL;
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = rr->secondary->get_report(rr->secondary, &other, id, &e2);
	char fields[256] = "", key[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK)
		co_report_diff(*out, other, fields, sizeof fields);
	co_router_compared(&rr->r, "get_report", id_key(id, key, sizeof key), rc, rc2, fields, &e2);
	cutover_report_free(other);
	return rc;
}

static int r_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
		  const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err)
{
	reports_router *rr = R(s);
	int rc = rr->primary->list_reports(rr->primary, out, f, after_ts, after_id, limit, err);
	if (!rr->r.stage->compares_reads)
		return rc;
	cutover_report_page other;
	memset(&other, 0, sizeof other);
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = rr->secondary->list_reports(rr->secondary, &other, f, after_ts, after_id, limit, &e2);
	char fields[300] = "";
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK) {
		if (out->n != other.n) {
			snprintf(fields, sizeof fields, "count(%zu vs %zu)", out->n, other.n);
		} else {
			for (size_t i = 0; i < out->n; i++) {
				char d[200];
				if (co_report_diff(&out->items[i], &other.items[i], d, sizeof d)) {
					snprintf(fields, sizeof fields, "item %zu (id %lld): %s", i,
						 (long long)out->items[i].id, d);
					break;
				}
			}
			if (!fields[0] && strcmp(out->next_cursor, other.next_cursor) != 0)
				snprintf(fields, sizeof fields, "next_cursor");
		}
	}
	char key[CUTOVER_CURSOR_LEN + 16];
	if (after_ts)
		co_cursor_format(*after_ts, after_id, key);
	else
		snprintf(key, sizeof key, "(first page)");
	co_router_compared(&rr->r, "list_reports", key, rc, rc2, fields, &e2);
	cutover_report_page_free(&other);
	return rc;
}

static int r_list_actions(cutover_reports *s, cutover_report_action_list *out, int64_t id, cutover_error *err)
{
	reports_router *rr = R(s);
	int rc = rr->primary->list_actions(rr->primary, out, id, err);
	if (!rr->r.stage->compares_reads)
		return rc;
	cutover_report_action_list other = {0};
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = rr->secondary->list_actions(rr->secondary, &other, id, &e2);
	char fields[200] = "", key[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK) {
		if (out->n != other.n) {
			snprintf(fields, sizeof fields, "count(%zu vs %zu)", out->n, other.n);
		} else {
			for (size_t i = 0; i < out->n; i++) {
				char d[100];
				if (co_report_action_diff(&out->items[i], &other.items[i], d, sizeof d)) {
					snprintf(fields, sizeof fields, "action %zu: %s", i + 1, d);
					break;
				}
			}
		}
	}
	co_router_compared(&rr->r, "list_actions", id_key(id, key, sizeof key), rc, rc2, fields, &e2);
	cutover_report_action_list_free(&other);
	return rc;
}

/* --- life cycle ------------------------------------------------------------------ */

static void r_stats(cutover_reports *s, cutover_stats *out)
{
	*out = R(s)->r.stats;
}

static void r_free(cutover_reports *s)
{
	reports_router *rr = R(s);
	cutover_reports_free(rr->primary);
	cutover_reports_free(rr->secondary);
	co_router_fini(&rr->r);
	free(rr);
}

int co_reports_router(cutover_reports **out, cutover_stage stage, cutover_reports *json, cutover_reports *pg,
		      co_journal *journal, cutover_error *err)
{
	*out = NULL;
	reports_router *rr = calloc(1, sizeof *rr);
	const cutover_stage_info *info = cutover_stage_describe(stage);
	if (!rr || !info || !json || !pg) {
		bool oom = !rr;
		free(rr);
		cutover_reports_free(json);
		cutover_reports_free(pg);
		co_journal_close(journal);
		return oom ? co_err_oom(err) : co_err(err, CUTOVER_EINTERNAL, "reports router needs a stage and both stores");
	}
	rr->base = (cutover_reports){
		.version = CUTOVER_REPORTS_VERSION,
		.kind = "router",
		.create_report = r_create,
		.get_report = r_get,
		.list_reports = r_list,
		.update_report = r_update,
		.archive_report = r_archive,
		.restore_report = r_restore,
		.record_action = r_record_action,
		.list_actions = r_list_actions,
		.put_report = r_put,
		.stats = r_stats,
		.free = r_free,
	};
	co_router_init(&rr->r, CUTOVER_DOMAIN_REPORTS, stage, journal);
	rr->primary = info->pg_authoritative ? pg : json;
	rr->secondary = info->pg_authoritative ? json : pg;
	*out = &rr->base;
	return CUTOVER_OK;
}
