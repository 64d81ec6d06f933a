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
 * The index keeps two numbers a record (co_ix_new_aux): the id, and the
 * created_at of a record that decodes (the key function runs the decoder
 * once per record and version). list_reports is chosen from them: one pass
 * over the index in memory (which records decode, which repeat an earlier
 * id, which lie past the cursor), then the records are read newest first
 * and decoded only until one more than the page has matched the filter:
 * limit + 1 reads without a filter, never the whole document.
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

/* Table 0 of every index here is the record's integer id, and number 0 the
 * id again (co_ix_id_keys). reports.json keeps a second number, created_at,
 * set only when the record decodes: list_reports picks its page from them. */
enum { R_ID };
enum { A_ID, A_CREATED, A_COUNT };

static void report_keys(const cJSON *rec, co_ix_emit *e)
{
	cutover_report *r = NULL;
	cutover_error scratch;
	co_ix_id_keys(rec, e);
	int rc = co_legacy_report_from_json(rec, &r, &scratch);
	if (rc == CUTOVER_OK)
		co_ix_set_aux_at(e, A_CREATED, r->created_at); /* required: never CUTOVER_TS_NULL */
	else if (rc != CUTOVER_ECORRUPT)
		co_ix_emit_failed(e);
	cutover_report_free(r);
}

static const co_ix_spec reports_spec = {REPORTS_KEY, REPORTS_COLL, 1, report_keys};
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

/* A record list_reports may show, as the index knows it (no read). */
typedef struct listed_rec {
	cutover_ts created_at;
	int64_t id;
	size_t pos;
} listed_rec;

/* Is a newer than b in the order every store pages by (co_report_newer_first:
 * created_at descending, then id descending)? */
static bool newer(const listed_rec *a, const listed_rec *b)
{
	return a->created_at != b->created_at ? a->created_at > b->created_at : a->id > b->id;
}

/* A heap of v[0..n) whose root is the newest. */
static void newest_down(listed_rec *v, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && newer(&v[l], &v[m]))
			m = l;
		if (r < n && newer(&v[r], &v[m]))
			m = r;
		if (m == i)
			return;
		listed_rec t = v[i];
		v[i] = v[m];
		v[m] = t;
		i = m;
	}
}

/* The ids of the decodable records seen so far: id_seen() says whether an
 * earlier one had id, and adds it. A bitmap when the ids are dense (ids
 * are handed out as max + 1, so they usually are: 1 bit an id up to the
 * largest), else a hash set (open addressing; ids are > 0, 0 is free). */
typedef struct id_set {
	uint64_t *bits; /* bit id, ids 1..max */
	int64_t *v;     /* or the set */
	size_t mask;
} id_set;

static int id_set_init(id_set *s, int64_t max, size_t n, cutover_error *err)
{
	memset(s, 0, sizeof *s);
	if (max > 0 && (uint64_t)max / 64 <= n) {
		if (!(s->bits = calloc((size_t)max / 64 + 1, sizeof *s->bits)))
			return co_err_oom(err);
		return CUTOVER_OK;
	}
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	if (!(s->v = calloc(cap, sizeof *s->v)))
		return co_err_oom(err);
	s->mask = cap - 1;
	return CUTOVER_OK;
}

static void id_set_free(id_set *s)
{
	free(s->bits);
	free(s->v);
}

static bool id_seen(id_set *s, int64_t id)
{
	if (s->bits) {
		uint64_t b = (uint64_t)1 << (id % 64);
		bool seen = s->bits[id / 64] & b;
		s->bits[id / 64] |= b;
		return seen;
	}
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 32;
	for (size_t i = (size_t)h & s->mask;; i = (i + 1) & s->mask) {
		if (s->v[i] == id)
			return true;
		if (s->v[i] == 0) {
			s->v[i] = id;
			return false;
		}
	}
}

/* Every record is decoded when it is indexed (report_keys: aux A_CREATED is
 * its created_at, INT64_MIN when it cannot be decoded), so the page is
 * chosen from the index: a record that cannot be decoded is skipped (it is
 * not a report either store can serve: the backfill rejects it too), and so
 * is a record whose id an earlier decodable record has (get_report finds
 * the first, the backfill keeps the first and rejects the rest, so Postgres
 * holds that id once); the rest past the cursor are taken newest first,
 * read and decoded one by one, and kept when they match the filter, until
 * one more than the page holds has matched. */
static int j_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
		  const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err)
{
	static const cutover_report_filter any;
	co_ix *x = J(s)->reports;
	listed_rec *v = NULL;
	id_set ids;
	size_t m = 0, matched = 0;
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
	if (!total)
		return CUTOVER_OK;
	if (!(v = malloc(total * sizeof *v)))
		return co_err_oom(err);
	if ((rc = id_set_init(&ids, co_ix_aux_max_at(x, A_ID), total, err))) {
		free(v);
		return rc;
	}
	for (size_t pos = 0; pos < total; pos++) {
		listed_rec e = {co_ix_aux_at(x, pos, A_CREATED), co_ix_aux_at(x, pos, A_ID), pos};
		if (e.created_at == INT64_MIN) { /* unreadable, or it does not decode */
			skip(&sk, pos);
			continue;
		}
		if (id_seen(&ids, e.id)) {
			skip(&dup, pos);
			continue;
		}
		if (after_ts) {
			cutover_report probe = {.id = e.id, .created_at = e.created_at};
			if (!co_report_after(&probe, after_ts, after_id))
				continue;
		}
		v[m++] = e;
	}
	id_set_free(&ids);
	for (size_t i = m / 2; i-- > 0;)
		newest_down(v, m, i);
	while (m > 0 && matched <= limit) {
		listed_rec e = v[0];
		cutover_report *r = NULL;
		cutover_error scratch;
		cJSON *rec = NULL;
		v[0] = v[--m];
		newest_down(v, m, 0);
		if ((rc = co_ix_read(x, e.pos, &rec, err)))
			break;
		rc = co_legacy_report_from_json(rec, &r, &scratch);
		cJSON_Delete(rec);
		if (rc == CUTOVER_ECORRUPT) { /* not when the index decoded the same bytes */
			skip_add(&sk, 1, e.pos);
			rc = CUTOVER_OK;
			continue;
		}
		if (rc) {
			rc = co_err_oom(err);
			break;
		}
		if (!matches(r, f)) {
			cutover_report_free(r);
			continue;
		}
		if (++matched > limit) { /* there is a next page: it starts after the last item */
			cutover_report_free(r);
			co_cursor_format(out->items[limit - 1].created_at, out->items[limit - 1].id, out->next_cursor);
			break;
		}
		if (!out->items && !(out->items = calloc(limit < m + 1 ? limit : m + 1, sizeof *out->items))) {
			cutover_report_free(r);
			rc = co_err_oom(err);
			break;
		}
		for (size_t k = 0; k < r->n_actions; k++) /* a page holds no trails */
			co_report_action_clear(&r->actions[k]);
		free(r->actions);
		r->actions = NULL;
		r->n_actions = 0;
		out->items[out->n++] = *r; /* the fields move */
		free(r);
	}
	free(v);
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
	if ((rc = co_ix_new_aux(&j->reports, t, &reports_spec, A_COUNT, err)) != CUTOVER_OK ||
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
