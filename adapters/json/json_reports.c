/* json_reports.c — the reports domain over reports/reports.json.
 *
 * {"reports": [...]} read and written through a transport (json_doc.c does
 * loading, locking and the conditional put). Reads take no lock; every write
 * is one read-modify-write under the transport lock "reports", so concurrent
 * processes neither lose updates nor hand out the same id. A changed record
 * is edited in place and only the fields that changed are rewritten, so
 * fields this library does not know survive (and so do the untouched
 * actions of a trail).
 *
 * The answers must equal the Postgres backend's (the conformance suite runs
 * both): every record handed back is decoded from what was stored by the
 * one legacy decoder; patches, archive, restore and actions go through the
 * shared rules in core/reports.c; pages are sorted and cut by the shared
 * order; ids are assigned max + 1. References are checked the way the
 * foreign keys check them: author_id and every actor_id must be a user id in
 * identity/users.json, incident_id an incident id in
 * telemetry/incidents.json under the same root, else CUTOVER_EINVALID naming
 * the field and the id.
 *
 * One unreadable record does not block calls about the others: scans step
 * over it (and log, once per call, how many and the first position); a call
 * fails with CUTOVER_ECORRUPT naming the document, position and id only when
 * the record it must return or rewrite cannot be decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "legacy_reports.h"
#include "json_encode.h"

#define REPORTS_KEY "reports/reports.json"
#define REPORTS_COLL "reports"
#define USERS_KEY "identity/users.json"
#define INCIDENTS_KEY "telemetry/incidents.json"
#define LOCK_NAME "reports"

typedef struct json_reports {
	cutover_reports base; /* first: the handle is a cutover_reports */
	co_transport *t;
} json_reports;

static co_transport *T(cutover_reports *s)
{
	return ((json_reports *)s)->t;
}

/* --- records a scan stepped over ---------------------------------------------- */

typedef struct skipped {
	size_t n, first;
} skipped;

static void skip(skipped *sk, size_t pos)
{
	if (sk->n++ == 0)
		sk->first = pos;
}

static void skip_report(const skipped *sk, const char *op)
{
	if (sk->n)
		co_log("json reports %s: skipped unreadable records (%s: %zu record%s, the first at position %zu); fix "
		       "them (cutover survey reports lists them)",
		       op, REPORTS_KEY, sk->n, sk->n == 1 ? "" : "s", sk->first + 1);
}

/* --- reading -------------------------------------------------------------------- */

/* The integer id > 0 of a record object. */
static bool id_of(const cJSON *rec, int64_t *id)
{
	cutover_error scratch;
	*id = 0;
	return cJSON_IsObject(rec) && co_json_get_int(rec, "id", true, id, NULL, &scratch) == CUTOVER_OK && *id > 0;
}

static int decode_report(const co_doc *d, size_t pos, const cJSON *rec, cutover_report **out, cutover_error *err)
{
	int64_t id;
	char what[64] = "";
	if (id_of(rec, &id))
		snprintf(what, sizeof what, "id %lld", (long long)id);
	int rc = co_legacy_report_from_json(rec, out, err);
	return rc == CUTOVER_ECORRUPT ? co_doc_record_error(err, d, pos, what[0] ? what : NULL) : rc;
}

static void find_report(const co_doc *d, int64_t id, cJSON **rec, size_t *pos, skipped *sk)
{
	cJSON *it;
	size_t i = 0;
	*rec = NULL;
	cJSON_ArrayForEach(it, d->items) {
		int64_t k;
		if (!id_of(it, &k)) {
			skip(sk, i);
		} else if (k == id) {
			*rec = it;
			*pos = i;
			return;
		}
		i++;
	}
}

static int load_reports(co_transport *t, co_doc *d, cutover_error *err)
{
	return co_doc_load(t, REPORTS_KEY, REPORTS_COLL, d, err);
}

static int not_found(cutover_error *err, const char *what, int64_t id)
{
	return co_err(err, CUTOVER_ENOTFOUND, "%s: report %lld not found", what, (long long)id);
}

/* --- references ------------------------------------------------------------------ */

static bool doc_has_id(const co_doc *d, int64_t id)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, d->items) {
		int64_t k;
		if (id_of(it, &k) && k == id)
			return true;
	}
	return false;
}

static int dangling(cutover_error *err, const char *what, const char *field, int64_t id, const char *key)
{
	co_err(err, CUTOVER_EINVALID, "%s: %s %lld does not exist", what, field, (long long)id);
	co_err_detail(err, "no record with id %lld in %s", (long long)id, key);
	co_err_hint(err, "create it first, or refer to one that exists");
	return CUTOVER_EINVALID;
}

/* author, incident, then the actors of actions [from, n), in that order
 * (the postgres backend checks in the same order). */
static int check_refs(co_transport *t, const char *what, int64_t author_id, int64_t incident_id,
		      const cutover_report_action *actions, size_t from, size_t n, cutover_error *err)
{
	co_doc users, incidents;
	memset(&users, 0, sizeof users);
	memset(&incidents, 0, sizeof incidents);
	int rc = CUTOVER_OK;
	bool need_users = author_id > 0;
	for (size_t i = from; i < n; i++)
		need_users |= actions[i].actor_id > 0;
	if (need_users && (rc = co_doc_load(t, USERS_KEY, "users", &users, err)))
		goto out;
	if (author_id > 0 && !doc_has_id(&users, author_id)) {
		rc = dangling(err, what, "author_id", author_id, USERS_KEY);
		goto out;
	}
	if (incident_id > 0) {
		if ((rc = co_doc_load(t, INCIDENTS_KEY, "incidents", &incidents, err)))
			goto out;
		if (!doc_has_id(&incidents, incident_id)) {
			rc = dangling(err, what, "incident_id", incident_id, INCIDENTS_KEY);
			goto out;
		}
	}
	for (size_t i = from; i < n; i++) {
		if (actions[i].actor_id > 0 && !doc_has_id(&users, actions[i].actor_id)) {
			rc = dangling(err, what, "actor_id", actions[i].actor_id, USERS_KEY);
			goto out;
		}
	}
out:
	co_doc_release(&users);
	co_doc_release(&incidents);
	return rc;
}

/* --- writing ---------------------------------------------------------------------- */

static int set_id_or_null(cJSON *rec, const char *name, int64_t v, cutover_error *err)
{
	return v > 0 ? co_json_set_int(rec, name, v, err) : co_json_set(rec, name, cJSON_CreateNull(), err);
}

static int set_tags(cJSON *rec, const cutover_report *r, cutover_error *err)
{
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return co_err_oom(err);
	for (size_t i = 0; i < r->n_tags; i++) {
		cJSON *s = cJSON_CreateString(r->tags[i]);
		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			cJSON_Delete(arr);
			return co_err_oom(err);
		}
	}
	return co_json_set(rec, "tags", arr, err);
}

static int write_action(cJSON *o, const cutover_report_action *a, cutover_error *err)
{
	int rc;
	if ((rc = co_json_set_str(o, "action", a->action, err)) || (rc = set_id_or_null(o, "actor_id", a->actor_id, err)) ||
	    (rc = co_json_set_ts(o, "at", a->at, err)) || (rc = co_json_set_str(o, "note", a->note, err)))
		return rc;
	return CUTOVER_OK;
}

/* Make rec's trail equal r's: the actions both share from the start stay
 * as they are; later ones are rewritten in place (or created), extra ones
 * removed. */
static int write_actions(cJSON *rec, const cutover_report *before, const cutover_report *r, cutover_error *err)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, "actions");
	if (!cJSON_IsArray(arr)) {
		if (co_json_set(rec, "actions", cJSON_CreateArray(), err))
			return co_err_oom(err);
		arr = cJSON_GetObjectItemCaseSensitive(rec, "actions");
		before = NULL;
	}
	size_t same = 0;
	if (before) {
		char f[64];
		while (same < before->n_actions && same < r->n_actions &&
		       co_report_action_diff(&before->actions[same], &r->actions[same], f, sizeof f) == 0)
			same++;
	}
	for (size_t i = same; i < r->n_actions; i++) {
		cJSON *o = cJSON_GetArrayItem(arr, (int)i);
		if (!cJSON_IsObject(o)) {
			cJSON *n = cJSON_CreateObject();
			if (!n)
				return co_err_oom(err);
			if (o)
				cJSON_ReplaceItemInArray(arr, (int)i, n);
			else if (!cJSON_AddItemToArray(arr, n)) {
				cJSON_Delete(n);
				return co_err_oom(err);
			}
			o = n;
		}
		int rc = write_action(o, &r->actions[i], err);
		if (rc)
			return rc;
	}
	while (cJSON_GetArraySize(arr) > (int)r->n_actions)
		cJSON_DeleteItemFromArray(arr, cJSON_GetArraySize(arr) - 1);
	return CUTOVER_OK;
}

/* Is name one of the comma-separated field names in list? */
static bool listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += len)
		if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

/* Write r into rec; with before (what rec decoded to), only the fields that
 * differ, so the others keep their bytes (an epoch-ms timestamp stays one). */
static int write_report(cJSON *rec, const cutover_report *before, const cutover_report *r, cutover_error *err)
{
	static const char *const names[] = {"id", "title", "summary", "content", "severity", "status", "tags",
					    "author_id", "incident_id", "created_at", "updated_at", "archived_at",
					    "actions"};
	char diff[256] = "";
	if (before)
		co_report_diff(before, r, diff, sizeof diff);
	int rc = CUTOVER_OK;
	for (size_t i = 0; rc == CUTOVER_OK && i < sizeof names / sizeof *names; i++) {
		const char *name = names[i];
		if (before && !listed(diff, name))
			continue;
		switch (i) {
		case 0: rc = co_json_set_int(rec, name, r->id, err); break;
		case 1: rc = co_json_set_str(rec, name, r->title, err); break;
		case 2: rc = co_json_set_str(rec, name, r->summary, err); break;
		case 3: rc = co_json_set_str(rec, name, r->content, err); break;
		case 4: rc = co_json_set_str(rec, name, r->severity, err); break;
		case 5: rc = co_json_set_str(rec, name, r->status, err); break;
		case 6: rc = set_tags(rec, r, err); break;
		case 7: rc = co_json_set_int(rec, name, r->author_id, err); break;
		case 8: rc = set_id_or_null(rec, name, r->incident_id, err); break;
		case 9: rc = co_json_set_ts(rec, name, r->created_at, err); break;
		case 10: rc = co_json_set_ts(rec, name, r->updated_at, err); break;
		case 11: rc = co_json_set_ts(rec, name, r->archived_at, err); break;
		default: rc = write_actions(rec, before, r, err); break;
		}
	}
	return rc;
}

/* --- create ------------------------------------------------------------------------ */

typedef struct edit_ctx {
	co_transport *t;
	const char *what;
	const cutover_report *in;          /* create, put */
	int64_t id;                        /* update, step */
	const cutover_report_patch *patch; /* update */
	co_report_step step;               /* step */
	const char *action, *note;
	int64_t actor_id;
	cutover_ts now;
	cutover_report *out;
	skipped sk;
} edit_ctx;

static void ctx_reset(edit_ctx *c)
{
	cutover_report_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);
}

static int create_edit(co_doc *d, void *vctx, bool *changed, cutover_error *err)
{
	edit_ctx *c = vctx;
	const cutover_report *in = c->in;
	ctx_reset(c);
	int rc = check_refs(c->t, c->what, in->author_id, in->incident_id, in->actions, 0, in->n_actions, err);
	if (rc)
		return rc;
	int64_t max_id = 0;
	size_t i = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, d->items) {
		int64_t k;
		if (!id_of(it, &k))
			skip(&c->sk, i);
		else if (k > max_id)
			max_id = k;
		if (in->id > 0 && id_of(it, &k) && k == in->id)
			return co_err(err, CUTOVER_ECONFLICT, "%s: report id %lld already taken", c->what, (long long)k);
		i++;
	}
	cutover_report r = *in;
	r.id = in->id > 0 ? in->id : max_id + 1;
	if (r.id > CO_ID_MAX)
		return co_err(err, CUTOVER_EINVALID, "%s: no id left below 2^53", c->what);
	cJSON *rec = cJSON_CreateObject();
	if (!rec)
		return co_err_oom(err);
	if ((rc = write_report(rec, NULL, &r, err))) {
		cJSON_Delete(rec);
		return rc;
	}
	if (!cJSON_AddItemToArray(d->items, rec)) {
		cJSON_Delete(rec);
		return co_err_oom(err);
	}
	rc = decode_report(d, (size_t)cJSON_GetArraySize(d->items) - 1, rec, &c->out, err);
	*changed = rc == CUTOVER_OK;
	return rc;
}

static int run_edit(cutover_reports *s, edit_ctx *c, co_doc_edit_fn fn, const char *op, cutover_report **out,
		    cutover_error *err)
{
	c->t = T(s);
	int rc = co_doc_update(T(s), LOCK_NAME, REPORTS_KEY, REPORTS_COLL, fn, c, err);
	skip_report(&c->sk, op);
	if (rc == CUTOVER_OK && out)
		*out = c->out;
	else
		cutover_report_free(c->out);
	return rc;
}

static int j_create(cutover_reports *s, cutover_report **out, const cutover_report *in, cutover_error *err)
{
	edit_ctx c = {.what = "create report", .in = in};
	if (out)
		*out = NULL;
	if (!in || in->id < 0 || !in->title || !in->severity || !in->status)
		return co_err(err, CUTOVER_EINVALID, "create report: a title, severity and status are required");
	return run_edit(s, &c, create_edit, "create_report", out, err);
}

/* --- changes to one report ---------------------------------------------------------- */

static int change_edit(co_doc *d, void *vctx, bool *changed, cutover_error *err)
{
	edit_ctx *c = vctx;
	cutover_report *before = NULL, *after = NULL;
	cJSON *rec;
	size_t pos = 0;
	int rc;
	ctx_reset(c);
	find_report(d, c->id, &rec, &pos, &c->sk);
	if (!rec)
		return not_found(err, c->what, c->id);
	if ((rc = decode_report(d, pos, rec, &before, err)))
		return rc;
	if (!(after = co_report_dup(before))) {
		rc = co_err_oom(err);
		goto out;
	}
	if (c->patch) {
		rc = co_report_apply_patch(after, c->patch, c->now, err);
		if (rc == CUTOVER_OK && (c->patch->set & CUTOVER_REPORT_SET_INCIDENT))
			rc = check_refs(c->t, c->what, 0, after->incident_id, NULL, 0, 0, err);
	} else {
		rc = co_report_apply_step(after, c->step, c->action, c->actor_id, c->note, c->now, err);
		if (rc == CUTOVER_OK)
			rc = check_refs(c->t, c->what, 0, 0, after->actions, before->n_actions, after->n_actions, err);
	}
	if (rc || (rc = write_report(rec, before, after, err)))
		goto out;
	rc = decode_report(d, pos, rec, &c->out, err);
	*changed = rc == CUTOVER_OK;
out:
	cutover_report_free(before);
	cutover_report_free(after);
	return rc;
}

static int j_update(cutover_reports *s, cutover_report **out, int64_t id, const cutover_report_patch *patch,
		    cutover_ts now, cutover_error *err)
{
	edit_ctx c = {.what = "update report", .id = id, .patch = patch, .now = now};
	if (out)
		*out = NULL;
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "update report: no patch given");
	return run_edit(s, &c, change_edit, "update_report", out, err);
}

static int j_archive(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		     cutover_ts now, cutover_error *err)
{
	edit_ctx c = {.what = "archive report", .id = id, .step = CO_REPORT_ARCHIVE, .actor_id = actor, .note = note,
		      .now = now};
	if (out)
		*out = NULL;
	return run_edit(s, &c, change_edit, "archive_report", out, err);
}

static int j_restore(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		     cutover_ts now, cutover_error *err)
{
	edit_ctx c = {.what = "restore report", .id = id, .step = CO_REPORT_RESTORE, .actor_id = actor, .note = note,
		      .now = now};
	if (out)
		*out = NULL;
	return run_edit(s, &c, change_edit, "restore_report", out, err);
}

static int j_record_action(cutover_reports *s, cutover_report **out, int64_t id, const char *action, int64_t actor,
			   const char *note, cutover_ts now, cutover_error *err)
{
	edit_ctx c = {.what = "record report action", .id = id, .step = CO_REPORT_ACTION, .action = action,
		      .actor_id = actor, .note = note, .now = now};
	if (out)
		*out = NULL;
	if (!action || !*action)
		return co_err(err, CUTOVER_EINVALID, "record report action: the action is required");
	return run_edit(s, &c, change_edit, "record_action", out, err);
}

/* Replication: the report as given, in place of the record with its id (or
 * appended). The record is rewritten field by field, so unknown fields stay.
 * Under the lock the stored copy decides: another report with this id
 * (created_at or author_id differ) is CUTOVER_ECONFLICT and not replaced; a
 * newer copy (co_report_newer) is kept and the put succeeds without
 * writing, so second writes landing out of order never move it back. */
static int put_edit(co_doc *d, void *vctx, bool *changed, cutover_error *err)
{
	edit_ctx *c = vctx;
	cJSON *rec;
	size_t pos = 0;
	ctx_reset(c);
	const cutover_report *r = c->in;
	find_report(d, r->id, &rec, &pos, &c->sk);
	cutover_report *before = NULL;
	cutover_error scratch;
	/* an unreadable record is replaced whole by the authoritative copy */
	if (rec && co_legacy_report_from_json(rec, &before, &scratch) != CUTOVER_OK) {
		cutover_report_free(before);
		before = NULL;
	}
	if (before) {
		if (!co_report_same(before, r)) {
			cutover_report_free(before);
			co_err(err, CUTOVER_ECONFLICT, "put report: report %lld in json is another report; not replaced",
			       (long long)r->id);
			co_err_detail(err, "%s: record %zu has another created_at or author_id", REPORTS_KEY, pos + 1);
			co_err_hint(err, "compare the two copies of report %lld and repair by hand", (long long)r->id);
			return CUTOVER_ECONFLICT;
		}
		if (co_report_newer(before, r)) {
			cutover_report_free(before);
			*changed = false;
			return CUTOVER_OK;
		}
	}
	int rc = check_refs(c->t, c->what, r->author_id, r->incident_id, r->actions, 0, r->n_actions, err);
	if (rc) {
		cutover_report_free(before);
		return rc;
	}
	if (!rec) {
		if (!(rec = cJSON_CreateObject()))
			return co_err_oom(err);
		if ((rc = write_report(rec, NULL, r, err)) || !cJSON_AddItemToArray(d->items, rec)) {
			cJSON_Delete(rec);
			return rc ? rc : co_err_oom(err);
		}
	} else {
		rc = write_report(rec, before, r, err);
		cutover_report_free(before);
		if (rc)
			return rc;
	}
	*changed = true;
	return CUTOVER_OK;
}

static int j_put(cutover_reports *s, const cutover_report *r, cutover_error *err)
{
	edit_ctx c = {.what = "put report", .in = r};
	if (!r || r->id <= 0 || !r->title || !r->severity || !r->status)
		return co_err(err, CUTOVER_EINVALID, "put report: a report with an id > 0, a title, severity and status is required");
	return run_edit(s, &c, put_edit, "put_report", NULL, err);
}

/* --- reads ---------------------------------------------------------------------------- */

static int j_get(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err)
{
	co_doc d;
	cJSON *rec;
	size_t pos = 0;
	skipped sk = {0, 0};
	*out = NULL;
	int rc = load_reports(T(s), &d, err);
	if (rc)
		return rc;
	find_report(&d, id, &rec, &pos, &sk);
	rc = rec ? decode_report(&d, pos, rec, out, err) : not_found(err, "get report", id);
	co_doc_release(&d);
	skip_report(&sk, "get_report");
	return rc;
}

static bool matches(const cutover_report *r, const cutover_report_filter *f)
{
	if ((f->status && strcmp(r->status, f->status) != 0) || (f->severity && strcmp(r->severity, f->severity) != 0) ||
	    (f->author_id > 0 && r->author_id != f->author_id) || (f->incident_id > 0 && r->incident_id != f->incident_id))
		return false;
	if (!f->tag)
		return true;
	for (size_t i = 0; i < r->n_tags; i++)
		if (strcmp(r->tags[i], f->tag) == 0)
			return true;
	return false;
}

static int by_newer(const void *a, const void *b)
{
	return co_report_newer_first(a, b);
}

typedef struct decoded {
	cutover_report *r;
	size_t pos;
} decoded;

static int by_id_then_pos(const void *a, const void *b)
{
	const decoded *x = a, *y = b;
	if (x->r->id != y->r->id)
		return x->r->id < y->r->id ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_pos(const void *a, const void *b)
{
	const decoded *x = a, *y = b;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Every record is decoded; one that cannot be is skipped (it is not a report
 * either store can serve: the backfill rejects it too), and so is a record
 * whose id an earlier record has: get_report finds the first, the backfill
 * keeps the first and rejects the rest, so Postgres holds that id once. */
static int j_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
		  const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err)
{
	static const cutover_report_filter any;
	co_doc d;
	cJSON *it;
	size_t pos = 0, n = 0, n_all = 0;
	skipped sk = {0, 0}, dup = {0, 0};
	memset(out, 0, sizeof *out);
	if (!f)
		f = &any;
	if (limit == 0)
		return co_err(err, CUTOVER_EINVALID, "list reports: the limit must be at least 1");
	int rc = load_reports(T(s), &d, err);
	if (rc)
		return rc;
	size_t total = (size_t)cJSON_GetArraySize(d.items);
	cutover_report *sel = total ? calloc(total, sizeof *sel) : NULL;
	decoded *all = total ? calloc(total, sizeof *all) : NULL;
	if (total && (!sel || !all)) {
		free(sel);
		free(all);
		co_doc_release(&d);
		return co_err_oom(err);
	}
	cJSON_ArrayForEach(it, d.items) {
		cutover_report *r = NULL;
		cutover_error scratch;
		rc = co_legacy_report_from_json(it, &r, &scratch);
		if (rc == CUTOVER_ECORRUPT) {
			skip(&sk, pos++);
			continue;
		}
		if (rc) {
			rc = co_err_oom(err);
			goto out;
		}
		all[n_all++] = (decoded){r, pos++};
	}
	/* the first record of each id, in document order */
	if (n_all > 1) {
		qsort(all, n_all, sizeof *all, by_id_then_pos);
		size_t kept = 0;
		for (size_t i = 0; i < n_all; i++) {
			if (kept && all[kept - 1].r->id == all[i].r->id) {
				if (dup.n++ == 0 || all[i].pos < dup.first)
					dup.first = all[i].pos;
				cutover_report_free(all[i].r);
				continue;
			}
			all[kept++] = all[i];
		}
		n_all = kept;
		qsort(all, n_all, sizeof *all, by_pos);
	}
	for (size_t i = 0; i < n_all; i++) {
		cutover_report *r = all[i].r;
		all[i].r = NULL;
		if (matches(r, f) && co_report_after(r, after_ts, after_id)) {
			sel[n++] = *r; /* the fields move */
			free(r);
		} else {
			cutover_report_free(r);
		}
	}
	rc = CUTOVER_OK;
	if (n > 1)
		qsort(sel, n, sizeof *sel, by_newer);
	size_t keep = n < limit ? n : limit;
	if (n > limit)
		co_cursor_format(sel[keep - 1].created_at, sel[keep - 1].id, out->next_cursor);
	if (keep) {
		if (!(out->items = calloc(keep, sizeof *out->items))) {
			rc = co_err_oom(err);
			goto out;
		}
		for (size_t i = 0; i < keep; i++) {
			out->items[i] = sel[i];
			for (size_t k = 0; k < sel[i].n_actions; k++)
				co_report_action_clear(&sel[i].actions[k]);
			free(sel[i].actions);
			out->items[i].actions = NULL;
			out->items[i].n_actions = 0;
			memset(&sel[i], 0, sizeof sel[i]);
		}
		out->n = keep;
	}
out:
	for (size_t i = 0; i < n_all; i++)
		cutover_report_free(all[i].r);
	free(all);
	for (size_t i = 0; i < n; i++)
		co_report_clear(&sel[i]);
	free(sel);
	co_doc_release(&d);
	skip_report(&sk, "list_reports");
	if (dup.n)
		co_log("json reports list_reports: skipped records whose id an earlier record has (%s: %zu record%s, the "
		       "first at position %zu); the first record of an id is the report (cutover survey reports lists "
		       "them)",
		       REPORTS_KEY, dup.n, dup.n == 1 ? "" : "s", dup.first + 1);
	if (rc)
		cutover_report_page_free(out);
	return rc;
}

static int j_list_actions(cutover_reports *s, cutover_report_action_list *out, int64_t id, cutover_error *err)
{
	cutover_report *r = NULL;
	out->items = NULL;
	out->n = 0;
	int rc = j_get(s, &r, id, err);
	if (rc == CUTOVER_ENOTFOUND)
		return not_found(err, "list report actions", id);
	if (rc)
		return rc;
	out->items = r->actions;
	out->n = r->n_actions;
	r->actions = NULL;
	r->n_actions = 0;
	cutover_report_free(r);
	return CUTOVER_OK;
}

/* --- the handle ------------------------------------------------------------------------ */

static void j_free(cutover_reports *s)
{
	json_reports *j = (json_reports *)s;
	if (!j)
		return;
	if (j->t)
		j->t->free(j->t);
	free(j);
}

int co_json_reports_new(cutover_reports **out, co_transport *t, cutover_error *err)
{
	*out = NULL;
	if (!t)
		return co_err(err, CUTOVER_EINVALID, "no transport for the JSON reports store");
	json_reports *j = calloc(1, sizeof *j);
	if (!j) {
		t->free(t);
		return co_err_oom(err);
	}
	j->t = t;
	j->base = (cutover_reports){
		.version = CUTOVER_REPORTS_VERSION,
		.kind = "json",
		.create_report = j_create,
		.get_report = j_get,
		.list_reports = j_list,
		.update_report = j_update,
		.archive_report = j_archive,
		.restore_report = j_restore,
		.record_action = j_record_action,
		.list_actions = j_list_actions,
		.put_report = j_put,
		.stats = NULL,
		.free = j_free,
	};
	*out = &j->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_reports_json(cutover_reports **out, const char *root, const char *token, cutover_error *err)
{
	co_transport *t = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "cutover_reports_json: out is NULL");
	*out = NULL;
	int rc = co_transport_open(&t, root, token, err);
	if (rc)
		return rc;
	return co_json_reports_new(out, t, err);
}

/* --- the encoder, for `cutover export` (json_encode.h) ------------------------- */

int co_json_write_report(cJSON *rec, const cutover_report *before, const cutover_report *r, cutover_error *err)
{
	return write_report(rec, before, r, err);
}
