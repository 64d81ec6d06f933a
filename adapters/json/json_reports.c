/* json_reports.c — the reports domain over reports/reports.json.
 *
 * {"reports": [...]} is served from a cached index (json_index.h), one per
 * handle, keyed by report id (co_ix_id_keys: its aux is the id, so
 * co_ix_aux_max is the largest). A call checks the document's version once
 * (a stat, or a conditional GET), reads only the records it matched, and
 * decodes them with the backfill's strict decoder: a record that breaks
 * co_legacy_strict, or whose id cannot be read, is unreadable and stepped
 * over. Reads take no lock. Every write is one co_ix_update under the
 * transport lock "reports", so concurrent processes neither lose updates
 * nor hand out the same id; it streams the new version, writing anew only
 * the record it appends or replaces. A changed record is edited in its
 * parsed form and only the fields that changed are rewritten, so fields
 * this library does not know survive (and so do the untouched actions of a
 * trail); every other record keeps its bytes.
 *
 * The answers must equal the Postgres backend's (the conformance suite runs
 * both): every record handed back is decoded from what was stored by the
 * one legacy decoder; patches, archive, restore and actions go through the
 * shared rules in core/reports.c; pages are sorted and cut by the shared
 * order; ids are assigned max + 1 over every readable id. References are
 * checked the way the foreign keys check them: author_id and every actor_id
 * must be a user id in identity/users.json, incident_id an incident id in
 * telemetry/incidents.json under the same root, else CUTOVER_EINVALID
 * naming the field and the id. Those two documents are looked up through an
 * index of their own (co_ix_id_keys, co_ix_has_id), never loaded whole.
 *
 * list_reports is the one call that looks at every record: the index holds
 * no created_at, so each readable record is read at its offset and decoded
 * (never the whole document at once; what a page keeps is at most `limit`
 * reports, without their trails); a repeated id is found in the index, with
 * no read.
 *
 * One unreadable record does not block calls about the others: scans step
 * over it (and log, once per call, how many and the first position); a call
 * fails with CUTOVER_ECORRUPT naming the document, position and id only when
 * the record it must return or rewrite cannot be decoded (one that breaks
 * the strict rules is never matched, so that is one that holds them).
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "json_index.h"
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
	co_ix *reports;          /* reports.json by id */
	co_ix *users, *incidents; /* the documents references point into, by id */
} json_reports;

static json_reports *J(cutover_reports *s)
{
	return (json_reports *)s;
}

/* Table 0 of every index here is the record's integer id (co_ix_id_keys). */
enum { R_ID };
static const co_ix_spec reports_spec = {REPORTS_KEY, REPORTS_COLL, 1, co_ix_id_keys};
static const co_ix_spec users_spec = {USERS_KEY, "users", 1, co_ix_id_keys};
static const co_ix_spec incidents_spec = {INCIDENTS_KEY, "incidents", 1, co_ix_id_keys};

/* --- records a scan stepped over ---------------------------------------------- */

typedef struct skipped {
	size_t n, first;
} skipped;

static void skip(skipped *sk, size_t pos)
{
	if (sk->n++ == 0)
		sk->first = pos;
}

static void skip_add(skipped *sk, size_t n, size_t first)
{
	if (!n)
		return;
	if (sk->n == 0 || first < sk->first)
		sk->first = first;
	sk->n += n;
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

static bool id_is(const cJSON *rec, const void *want)
{
	int64_t id;
	return id_of(rec, &id) && id == *(const int64_t *)want;
}

static int decode_report(const co_ix *x, size_t pos, const cJSON *rec, cutover_report **out, cutover_error *err)
{
	int64_t id;
	char what[64] = "";
	if (id_of(rec, &id))
		snprintf(what, sizeof what, "id %lld", (long long)id);
	int rc = co_legacy_report_from_json(rec, out, err);
	return rc == CUTOVER_ECORRUPT ? co_ix_record_error(x, err, pos, what[0] ? what : NULL) : rc;
}

/* The first readable record with this id (x synced), parsed; the unreadable
 * records before it (or all of them, when none has the id) are counted as
 * stepped over. CUTOVER_ENOTFOUND leaves err untouched. */
static int find_report(co_ix *x, int64_t id, cJSON **rec, size_t *pos, skipped *sk, cutover_error *err)
{
	size_t first, n;
	int rc = co_ix_first(x, R_ID, &id, sizeof id, id_is, &id, SIZE_MAX, rec, pos, err);
	if (rc == CUTOVER_OK || rc == CUTOVER_ENOTFOUND) {
		n = co_ix_unreadable(x, R_ID, rc == CUTOVER_OK ? *pos : SIZE_MAX, &first);
		skip_add(sk, n, first);
	}
	return rc;
}

static int not_found(cutover_error *err, const char *what, int64_t id)
{
	return co_err(err, CUTOVER_ENOTFOUND, "%s: report %lld not found", what, (long long)id);
}

/* --- references ------------------------------------------------------------------ */

static int dangling(cutover_error *err, const char *what, const char *field, int64_t id, const char *key)
{
	co_err(err, CUTOVER_EINVALID, "%s: %s %lld does not exist", what, field, (long long)id);
	co_err_detail(err, "no record with id %lld in %s", (long long)id, key);
	co_err_hint(err, "create it first, or refer to one that exists");
	return CUTOVER_EINVALID;
}

/* author, incident, then the actors of actions [from, n), in that order
 * (the postgres backend checks in the same order). users.json is read (its
 * version checked) before anything when any user is referenced, so a
 * broken users.json fails the call before incidents.json is looked at. */
static int check_refs(json_reports *j, const char *what, int64_t author_id, int64_t incident_id,
		      const cutover_report_action *actions, size_t from, size_t n, cutover_error *err)
{
	bool need_users = author_id > 0, found;
	int rc;
	for (size_t i = from; i < n; i++)
		need_users |= actions[i].actor_id > 0;
	if (need_users && author_id <= 0 && (rc = co_ix_sync(j->users, err)))
		return rc;
	if (author_id > 0) {
		if ((rc = co_ix_has_id(j->users, author_id, &found, err)))
			return rc;
		if (!found)
			return dangling(err, what, "author_id", author_id, USERS_KEY);
	}
	if (incident_id > 0) {
		if ((rc = co_ix_has_id(j->incidents, incident_id, &found, err)))
			return rc;
		if (!found)
			return dangling(err, what, "incident_id", incident_id, INCIDENTS_KEY);
	}
	for (size_t i = from; i < n; i++) {
		if (actions[i].actor_id <= 0)
			continue;
		if ((rc = co_ix_has_id(j->users, actions[i].actor_id, &found, err)))
			return rc;
		if (!found)
			return dangling(err, what, "actor_id", actions[i].actor_id, USERS_KEY);
	}
	return CUTOVER_OK;
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
	json_reports *j;
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

static int create_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	edit_ctx *c = vctx;
	const cutover_report *in = c->in;
	ctx_reset(c);
	int rc = check_refs(c->j, c->what, in->author_id, in->incident_id, in->actions, 0, in->n_actions, err);
	if (rc)
		return rc;
	if (in->id > 0) {
		cJSON *taken = NULL;
		size_t pos;
		rc = find_report(x, in->id, &taken, &pos, &c->sk, err);
		cJSON_Delete(taken);
		if (rc == CUTOVER_OK)
			return co_err(err, CUTOVER_ECONFLICT, "%s: report id %lld already taken", c->what,
				      (long long)in->id);
		if (rc != CUTOVER_ENOTFOUND)
			return rc;
	} else {
		size_t first, n = co_ix_unreadable(x, R_ID, SIZE_MAX, &first);
		skip_add(&c->sk, n, first);
	}
	int64_t max_id = co_ix_aux_max(x) > 0 ? co_ix_aux_max(x) : 0;
	cutover_report r = *in;
	r.id = in->id > 0 ? in->id : max_id + 1;
	if (r.id > CO_ID_MAX)
		return co_err(err, CUTOVER_EINVALID, "%s: no id left below 2^53", c->what);
	cJSON *rec = cJSON_CreateObject();
	if (!rec)
		return co_err_oom(err);
	if ((rc = write_report(rec, NULL, &r, err)) ||
	    (rc = decode_report(x, co_ix_count(x), rec, &c->out, err))) {
		cJSON_Delete(rec);
		return rc;
	}
	return co_ix_append(e, rec, err);
}

static int run_edit(cutover_reports *s, edit_ctx *c, co_ix_edit_fn fn, const char *op, cutover_report **out,
		    cutover_error *err)
{
	c->j = J(s);
	int rc = co_ix_update(J(s)->reports, LOCK_NAME, fn, c, err);
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

static int change_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	edit_ctx *c = vctx;
	cutover_report *before = NULL, *after = NULL;
	cJSON *rec = NULL;
	size_t pos = 0;
	int rc;
	ctx_reset(c);
	rc = find_report(x, c->id, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		return not_found(err, c->what, c->id);
	if (rc)
		return rc;
	if ((rc = decode_report(x, pos, rec, &before, err)))
		goto out;
	if (!(after = co_report_dup(before))) {
		rc = co_err_oom(err);
		goto out;
	}
	if (c->patch) {
		rc = co_report_apply_patch(after, c->patch, c->now, err);
		if (rc == CUTOVER_OK && (c->patch->set & CUTOVER_REPORT_SET_INCIDENT))
			rc = check_refs(c->j, c->what, 0, after->incident_id, NULL, 0, 0, err);
	} else {
		rc = co_report_apply_step(after, c->step, c->action, c->actor_id, c->note, c->now, err);
		if (rc == CUTOVER_OK)
			rc = check_refs(c->j, c->what, 0, 0, after->actions, before->n_actions, after->n_actions, err);
	}
	if (rc || (rc = write_report(rec, before, after, err)) || (rc = decode_report(x, pos, rec, &c->out, err)))
		goto out;
	rc = co_ix_replace(e, pos, rec, err);
	rec = NULL;
out:
	cJSON_Delete(rec);
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
static int put_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	edit_ctx *c = vctx;
	cJSON *rec = NULL;
	size_t pos = 0;
	ctx_reset(c);
	const cutover_report *r = c->in;
	int rc = find_report(x, r->id, &rec, &pos, &c->sk, err);
	if (rc != CUTOVER_OK && rc != CUTOVER_ENOTFOUND)
		return rc;
	cutover_report *before = NULL;
	cutover_error scratch;
	/* a record that holds the strict rules but cannot be decoded is
	 * rewritten whole by the authoritative copy (its unknown fields stay) */
	if (rec && co_legacy_report_from_json(rec, &before, &scratch) != CUTOVER_OK) {
		cutover_report_free(before);
		before = NULL;
	}
	if (before) {
		if (!co_report_same(before, r)) {
			cutover_report_free(before);
			cJSON_Delete(rec);
			co_err(err, CUTOVER_ECONFLICT, "put report: report %lld in json is another report; not replaced",
			       (long long)r->id);
			co_err_detail(err, "%s: record %zu has another created_at or author_id", REPORTS_KEY, pos + 1);
			co_err_hint(err, "compare the two copies of report %lld and repair by hand", (long long)r->id);
			return CUTOVER_ECONFLICT;
		}
		if (co_report_newer(before, r)) {
			cutover_report_free(before);
			cJSON_Delete(rec);
			return CUTOVER_OK; /* no edit: nothing is written */
		}
	}
	rc = check_refs(c->j, c->what, r->author_id, r->incident_id, r->actions, 0, r->n_actions, err);
	if (rc) {
		cutover_report_free(before);
		cJSON_Delete(rec);
		return rc;
	}
	if (!rec) {
		if (!(rec = cJSON_CreateObject()))
			return co_err_oom(err);
		if ((rc = write_report(rec, NULL, r, err))) {
			cJSON_Delete(rec);
			return rc;
		}
		return co_ix_append(e, rec, err);
	}
	rc = write_report(rec, before, r, err);
	cutover_report_free(before);
	if (rc) {
		cJSON_Delete(rec);
		return rc;
	}
	return co_ix_replace(e, pos, rec, err);
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
	co_ix *x = J(s)->reports;
	cJSON *rec = NULL;
	size_t pos = 0;
	skipped sk = {0, 0};
	*out = NULL;
	int rc = co_ix_sync(x, err);
	if (rc)
		return rc;
	rc = find_report(x, id, &rec, &pos, &sk, err);
	if (rc == CUTOVER_OK)
		rc = decode_report(x, pos, rec, out, err);
	else if (rc == CUTOVER_ENOTFOUND)
		not_found(err, "get report", id);
	cJSON_Delete(rec);
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

/* The page being gathered: the `limit` newest matches seen so far, as a
 * heap whose root is the oldest of them (the first to go when a newer one
 * comes). Ids are unique among them, so the order is total and the page
 * equals sorting every match and cutting it. */
typedef struct page_heap {
	cutover_report *v;
	size_t n, cap, limit;
} page_heap;

static void heap_swap(cutover_report *a, cutover_report *b)
{
	cutover_report t = *a;
	*a = *b;
	*b = t;
}

static void heap_down(page_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && co_report_newer_first(&h->v[l], &h->v[m]) > 0)
			m = l;
		if (r < h->n && co_report_newer_first(&h->v[r], &h->v[m]) > 0)
			m = r;
		if (m == i)
			return;
		heap_swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

/* Takes r's fields (r itself is freed), whatever happens. */
static int heap_offer(page_heap *h, cutover_report *r, cutover_error *err)
{
	for (size_t k = 0; k < r->n_actions; k++) /* a page holds no trails */
		co_report_action_clear(&r->actions[k]);
	free(r->actions);
	r->actions = NULL;
	r->n_actions = 0;
	if (h->n == h->limit) {
		if (co_report_newer_first(r, &h->v[0]) < 0) {
			co_report_clear(&h->v[0]);
			h->v[0] = *r;
			heap_down(h, 0);
		} else {
			co_report_clear(r);
		}
		free(r);
		return CUTOVER_OK;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		if (cap > h->limit)
			cap = h->limit;
		cutover_report *v = realloc(h->v, cap * sizeof *v);
		if (!v) {
			cutover_report_free(r);
			return co_err_oom(err);
		}
		h->v = v;
		h->cap = cap;
	}
	size_t i = h->n++;
	h->v[i] = *r;
	free(r);
	while (i > 0 && co_report_newer_first(&h->v[i], &h->v[(i - 1) / 2]) > 0) {
		heap_swap(&h->v[i], &h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return CUTOVER_OK;
}

/* Does a record before ord that decoded (done[]) have this id? The index
 * answers with no read: its aux is each record's id. */
static int earlier_has_id(const co_ix *x, const unsigned char *done, size_t ord, int64_t id, bool *dup,
			  cutover_error *err)
{
	size_t *c = NULL, n = 0;
	*dup = false;
	int rc = co_ix_candidates(x, R_ID, &id, sizeof id, &c, &n, err);
	for (size_t i = 0; rc == CUTOVER_OK && i < n && c[i] < ord && !*dup; i++) /* ascending */
		*dup = (done[c[i] / 8] >> (c[i] % 8) & 1) && co_ix_aux(x, c[i]) == id;
	free(c);
	return rc;
}

/* Every readable record is read and decoded, in document order; one that
 * cannot be is skipped (it is not a report either store can serve: the
 * backfill rejects it too), and so is a record whose id an earlier decoded
 * record has: get_report finds the first, the backfill keeps the first and
 * rejects the rest, so Postgres holds that id once. */
static int j_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
		  const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err)
{
	static const cutover_report_filter any;
	co_ix *x = J(s)->reports;
	page_heap h = {NULL, 0, 0, limit};
	unsigned char *done = NULL;
	size_t n = 0;
	skipped sk = {0, 0}, dup = {0, 0};
	memset(out, 0, sizeof *out);
	if (!f)
		f = &any;
	if (limit == 0)
		return co_err(err, CUTOVER_EINVALID, "list reports: the limit must be at least 1");
	int rc = co_ix_sync(x, err);
	if (rc)
		return rc;
	size_t total = co_ix_count(x);
	if (total && !(done = calloc((total + 7) / 8, 1)))
		return co_err_oom(err);
	for (size_t pos = 0; pos < total && rc == CUTOVER_OK; pos++) {
		cutover_report *r = NULL;
		cutover_error scratch;
		cJSON *rec = NULL;
		bool again;
		if (!co_ix_readable(x, pos)) {
			skip(&sk, pos);
			continue;
		}
		if ((rc = co_ix_read(x, pos, &rec, err)))
			break;
		rc = co_legacy_report_from_json(rec, &r, &scratch);
		cJSON_Delete(rec);
		if (rc == CUTOVER_ECORRUPT) {
			skip(&sk, pos);
			rc = CUTOVER_OK;
			continue;
		}
		if (rc) {
			rc = co_err_oom(err);
			break;
		}
		if ((rc = earlier_has_id(x, done, pos, r->id, &again, err))) {
			cutover_report_free(r);
			break;
		}
		done[pos / 8] |= (unsigned char)(1u << (pos % 8));
		if (again) {
			skip(&dup, pos);
			cutover_report_free(r);
		} else if (matches(r, f) && co_report_after(r, after_ts, after_id)) {
			n++;
			rc = heap_offer(&h, r, err);
		} else {
			cutover_report_free(r);
		}
	}
	free(done);
	if (rc == CUTOVER_OK && h.n) {
		qsort(h.v, h.n, sizeof *h.v, by_newer);
		if (n > limit)
			co_cursor_format(h.v[h.n - 1].created_at, h.v[h.n - 1].id, out->next_cursor);
		out->items = h.v;
		out->n = h.n;
	} else {
		for (size_t i = 0; i < h.n; i++)
			co_report_clear(&h.v[i]);
		free(h.v);
	}
	skip_report(&sk, "list_reports");
	if (dup.n)
		co_log("json reports list_reports: skipped records whose id an earlier record has (%s: %zu record%s, the "
		       "first at position %zu); the first record of an id is the report (cutover survey reports lists "
		       "them)",
		       REPORTS_KEY, dup.n, dup.n == 1 ? "" : "s", dup.first + 1);
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
	co_ix_free(j->reports);
	co_ix_free(j->users);
	co_ix_free(j->incidents);
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
	int rc;
	if ((rc = co_ix_new(&j->reports, t, &reports_spec, err)) != CUTOVER_OK ||
	    (rc = co_ix_new(&j->users, t, &users_spec, err)) != CUTOVER_OK ||
	    (rc = co_ix_new(&j->incidents, t, &incidents_spec, err)) != CUTOVER_OK) {
		j_free(&j->base);
		return rc;
	}
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
