/* export_docs.c — the collection documents of `cutover export`:
 * identity/users.json, identity/sessions.json, profile/profiles.json,
 * reports/reports.json, telemetry/incidents.json.
 *
 * One walk for all of them, driven by a table per kind (its document, its
 * key, the constant SQL that reads its rows in key order through a cursor,
 * the row decoder, the legacy decoder, the diff and the json backend's
 * encoder). The current document is framed record by record by the same
 * scanner and decoded by the same strict decoders as the backfill, so a
 * record the backfill rejected is the record the export drops, at the same
 * position. Then, for every row Postgres holds:
 *   - a current record with that key, decoding to the same values: kept as
 *     it is (unchanged);
 *   - one decoding to other values: rewritten in place by the json backend's
 *     encoder, so fields the library does not know stay (differ, named with
 *     the fields);
 *   - one that is another record under the same key (a user with another
 *     email, a report with another created_at or author, an incident with
 *     another opened_at): dropped, and the row written as a fresh record in
 *     its place;
 *   - none: a fresh record, appended (new).
 * Current records no row matched, that cannot be read, or that repeat a key
 * are dropped and named. The document keeps its other top-level keys and is
 * printed the way the json backend prints it (cJSON_PrintUnformatted); one
 * that did not parse whole (truncated, say) is rebuilt from its readable
 * records. The document is held in memory once, as the json backend holds
 * it for every write.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "json_doc.h"
#include "json_encode.h"
#include "legacy_profile.h"
#include "legacy_reports.h"
#include "legacy_telemetry.h"

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"
#define FETCH_SQL "FETCH 1000 FROM ex_rows"
#define CLOSE_SQL "CLOSE ex_rows"

struct ex_kind {
	const char *key, *collection, *entity;
	const char *key_field; /* the record's key in the document */
	bool secret_key;       /* the key is a secret: printed as a fingerprint */
	const char *declare_sql;
	int (*row)(const PGresult *r, int i, void **out, cutover_error *err);
	int (*decode)(const cJSON *rec, void **out, cutover_error *err);
	void (*key_of)(const void *rec, char *buf, size_t len);
	/* NULL when cur and pg are the same record; else the field that says they are not */
	const char *(*other)(const void *cur, const void *pg);
	int (*diff)(const void *a, const void *b, char *buf, size_t len);
	int (*encode)(cJSON *obj, const void *before, const void *rec, cutover_error *err);
	void (*release)(void *rec);
	/* optional: the document's own bookkeeping once the records are in place */
	int (*finish)(ex_ctx *c, ex_doc *d, cJSON *root, cJSON *items, cutover_error *err);
	/* optional: the kind's records can be deleted through the library (sessions
	 * only), so one Postgres lacks left legitimately: expired by `at`, or deleted
	 * in postgres. Every other kind is never deleted: a record Postgres lacks
	 * never got there (the backfill rejected it) and is dropped (exit 1). */
	bool (*expired)(const void *rec, cutover_ts at);
	/* with expired: the record's owner (a session's user), and the constant
	 * SQL that gives which of the owners $1 (an int8 array) Postgres holds. A
	 * record whose owner is not there could never have been inserted (the
	 * backfill rejected it): dropped, not deleted. */
	int64_t (*owner)(const void *rec);
	const char *owners_sql;
};

/* --- rows ----------------------------------------------------------------------- */

/* A JSON column (json_agg): parsed, or NULL for SQL NULL; *ok false when it
 * does not parse (never expected: Postgres printed it). */
static cJSON *col_json(const PGresult *r, int row, int col, bool *ok)
{
	*ok = true;
	if (PQgetisnull(r, row, col))
		return NULL;
	cJSON *j = cJSON_Parse(PQgetvalue(r, row, col));
	*ok = j != NULL;
	return j;
}

static bool item_str(const cJSON *arr, int i, char **out)
{
	const cJSON *v = cJSON_GetArrayItem(arr, i);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	return cJSON_IsString(v) && (*out = co_strdup(v->valuestring)) != NULL;
}

static int64_t item_i64(const cJSON *arr, int i)
{
	const cJSON *v = cJSON_GetArrayItem(arr, i);
	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int row_oom(cutover_error *err, const char *what)
{
	co_err(err, CUTOVER_EINTERNAL, "export: a row of %s cannot be decoded (out of memory or an unexpected form)", what);
	co_err_hint(err, "nothing more was written; run the export again with more memory for the process (it holds one "
			 "document and one batch of rows); if it fails the same way, the row has a form this version does "
			 "not read: report it with the table's name");
	return CUTOVER_EINTERNAL;
}

/* --- identity: users ------------------------------------------------------------------ */

static int user_row(const PGresult *r, int i, void **out, cutover_error *err)
{
	cutover_user *u = calloc(1, sizeof *u);
	bool ok = u != NULL;
	cJSON *links = NULL;
	if (ok) {
		u->id = ex_col_i64(r, i, 0);
		ok = ex_col_str(r, i, 1, &u->email) && ex_col_str(r, i, 2, &u->username) &&
		     ex_col_str(r, i, 3, &u->display_name) && ex_col_str(r, i, 4, &u->password_hash) &&
		     ex_col_str(r, i, 5, &u->role);
		u->email_verified_at = ex_col_ts(r, i, 6);
		u->disabled = strcmp(PQgetvalue(r, i, 7), "t") == 0;
		u->created_at = ex_col_ts(r, i, 8);
		u->updated_at = ex_col_ts(r, i, 9);
	}
	if (ok && (links = col_json(r, i, 10, &ok)) != NULL) {
		int n = cJSON_GetArraySize(links);
		ok = (u->oauth = calloc((size_t)n, sizeof *u->oauth)) != NULL;
		for (int k = 0; ok && k < n; k++) {
			const cJSON *l = cJSON_GetArrayItem(links, k);
			ok = item_str(l, 0, &u->oauth[k].provider) && item_str(l, 1, &u->oauth[k].subject);
			u->n_oauth = (size_t)k + 1;
		}
	}
	cJSON_Delete(links);
	if (!ok) {
		cutover_user_free(u);
		return row_oom(err, "identity.users");
	}
	*out = u;
	return CUTOVER_OK;
}

static int user_decode(const cJSON *rec, void **out, cutover_error *err)
{
	return co_legacy_user_from_json(rec, (cutover_user **)out, err);
}

static void user_key(const void *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, ((const cutover_user *)rec)->id);
}

static const char *user_other(const void *cur, const void *pg)
{
	return strcmp(((const cutover_user *)cur)->email, ((const cutover_user *)pg)->email) ? "email" : NULL;
}

static int user_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_user_diff(a, b, buf, len);
}

static int user_encode(cJSON *obj, const void *before, const void *rec, cutover_error *err)
{
	(void)before;
	return co_json_write_user(obj, rec, err);
}

static void user_release(void *rec)
{
	cutover_user_free(rec);
}

const ex_kind ex_users = {
	"identity/users.json", "users", "user", "id", false,
	"DECLARE ex_rows NO SCROLL CURSOR FOR SELECT u.id, u.email, u.username, u.display_name, u.password_hash, u.role, "
	US("u.email_verified_at") ", u.disabled, " US("u.created_at") ", " US("u.updated_at") ", "
	"(SELECT json_agg(json_build_array(o.provider, o.subject) ORDER BY o.position) FROM identity.user_oauth o "
	"WHERE o.user_id = u.id) FROM identity.users u ORDER BY u.id",
	user_row, user_decode, user_key, user_other, user_diff, user_encode, user_release, NULL, NULL, NULL, NULL,
};

/* --- identity: sessions --------------------------------------------------------------- */

static int session_row(const PGresult *r, int i, void **out, cutover_error *err)
{
	cutover_session *s = calloc(1, sizeof *s);
	bool ok = s && ex_col_str(r, i, 0, &s->token_hash) && ex_col_str(r, i, 5, &s->user_agent) &&
		  ex_col_str(r, i, 6, &s->ip);
	if (!ok) {
		cutover_session_free(s);
		return row_oom(err, "identity.sessions");
	}
	s->user_id = ex_col_i64(r, i, 1);
	s->created_at = ex_col_ts(r, i, 2);
	s->expires_at = ex_col_ts(r, i, 3);
	s->last_seen_at = ex_col_ts(r, i, 4);
	*out = s;
	return CUTOVER_OK;
}

static int session_decode(const cJSON *rec, void **out, cutover_error *err)
{
	return co_legacy_session_from_json(rec, (cutover_session **)out, err);
}

static void session_key(const void *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const cutover_session *)rec)->token_hash);
}

static int session_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_session_diff(a, b, buf, len);
}

static int session_encode(cJSON *obj, const void *before, const void *rec, cutover_error *err)
{
	(void)before;
	return co_json_write_session(obj, rec, err);
}

static void session_release(void *rec)
{
	cutover_session_free(rec);
}

static bool session_expired(const void *rec, cutover_ts at)
{
	const cutover_session *s = rec;
	return s->expires_at != CUTOVER_TS_NULL && s->expires_at <= at;
}

static int64_t session_owner(const void *rec)
{
	return ((const cutover_session *)rec)->user_id;
}

const ex_kind ex_sessions = {
	"identity/sessions.json", "sessions", "session", "token_hash", true,
	"DECLARE ex_rows NO SCROLL CURSOR FOR SELECT s.token_hash, s.user_id, " US("s.created_at") ", "
	US("s.expires_at") ", " US("s.last_seen_at") ", s.user_agent, s.ip FROM identity.sessions s "
	"ORDER BY s.created_at, s.token_hash COLLATE \"C\"",
	session_row, session_decode, session_key, NULL, session_diff, session_encode, session_release, NULL,
	session_expired, session_owner, "SELECT DISTINCT u.id FROM identity.users u WHERE u.id = ANY($1::int8[]) ORDER BY 1",
};

/* --- profile ---------------------------------------------------------------------------- */

static bool names_of(cJSON *arr, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int k = cJSON_GetArraySize(arr);
	if (k == 0)
		return true;
	if (!(*out = calloc((size_t)k, sizeof **out)))
		return false;
	for (int i = 0; i < k; i++) {
		if (!item_str(arr, i, &(*out)[i]) || !(*out)[i])
			return false;
		*n = (size_t)i + 1;
	}
	return true;
}

static int portfolio_row(const PGresult *r, int i, void **out, cutover_error *err)
{
	cutover_portfolio *p = calloc(1, sizeof *p);
	bool ok = p != NULL;
	cJSON *spec = NULL, *tools = NULL, *certs = NULL, *edu = NULL;
	if (ok) {
		p->user_id = ex_col_i64(r, i, 0);
		ok = ex_col_str(r, i, 1, &p->headline) && ex_col_str(r, i, 2, &p->bio) && ex_col_str(r, i, 3, &p->location) &&
		     ex_col_str(r, i, 4, &p->website) && ex_col_str(r, i, 5, &p->avatar_path);
		p->updated_at = ex_col_ts(r, i, 6);
	}
	bool a = true, b = true, cc = true, d = true;
	if (ok) {
		spec = col_json(r, i, 7, &a);
		tools = col_json(r, i, 8, &b);
		certs = col_json(r, i, 9, &cc);
		edu = col_json(r, i, 10, &d);
		ok = a && b && cc && d && names_of(spec, &p->specialties, &p->n_specialties) &&
		     names_of(tools, &p->tools, &p->n_tools);
	}
	int nc = cJSON_GetArraySize(certs), ne = cJSON_GetArraySize(edu);
	if (ok && nc)
		ok = (p->certifications = calloc((size_t)nc, sizeof *p->certifications)) != NULL;
	for (int k = 0; ok && k < nc; k++) {
		const cJSON *o = cJSON_GetArrayItem(certs, k);
		cutover_certification *c = &p->certifications[k];
		p->n_certifications = (size_t)k + 1;
		c->id = item_i64(o, 0);
		ok = item_str(o, 1, &c->name) && item_str(o, 2, &c->issuer) && item_str(o, 3, &c->issued_on) &&
		     item_str(o, 4, &c->expires_on) && item_str(o, 5, &c->credential_id) &&
		     item_str(o, 6, &c->credential_url) && item_str(o, 7, &c->asset_path);
	}
	if (ok && ne)
		ok = (p->education = calloc((size_t)ne, sizeof *p->education)) != NULL;
	for (int k = 0; ok && k < ne; k++) {
		const cJSON *o = cJSON_GetArrayItem(edu, k);
		cutover_education *e = &p->education[k];
		p->n_education = (size_t)k + 1;
		e->id = item_i64(o, 0);
		ok = item_str(o, 1, &e->institution) && item_str(o, 2, &e->degree) && item_str(o, 3, &e->field);
		e->start_year = (int)item_i64(o, 4);
		e->end_year = (int)item_i64(o, 5);
	}
	cJSON_Delete(spec);
	cJSON_Delete(tools);
	cJSON_Delete(certs);
	cJSON_Delete(edu);
	if (!ok) {
		cutover_portfolio_free(p);
		return row_oom(err, "content.portfolio_profiles");
	}
	*out = p;
	return CUTOVER_OK;
}

static int portfolio_decode(const cJSON *rec, void **out, cutover_error *err)
{
	return co_legacy_portfolio_from_json(rec, (cutover_portfolio **)out, err);
}

static void portfolio_key(const void *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, ((const cutover_portfolio *)rec)->user_id);
}

static int portfolio_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_portfolio_diff(a, b, buf, len);
}

static int portfolio_encode(cJSON *obj, const void *before, const void *rec, cutover_error *err)
{
	(void)before;
	return co_json_write_portfolio(obj, rec, err);
}

static void portfolio_release(void *rec)
{
	cutover_portfolio_free(rec);
}

/* The highest id ever handed out by a sequence (0: none). */
static int seq_last(ex_ctx *c, const char *sql, int64_t *out, cutover_error *err)
{
	PGresult *r = co_pg_exec(c->pg, "export: read a sequence", sql, 0, NULL, err);
	if (!r)
		return err->code;
	*out = ex_col_i64(r, 0, 0);
	PQclear(r);
	return CUTOVER_OK;
}

static void take_max_ids(const cJSON *items, const char *list, int64_t *max)
{
	const cJSON *rec, *o;
	cJSON_ArrayForEach(rec, items) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, list);
		cJSON_ArrayForEach(o, arr) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
			if (cJSON_IsNumber(id) && id->valuedouble > (double)*max)
				*max = (int64_t)id->valuedouble;
		}
	}
}

static int64_t mark_of(const cJSON *root, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, CO_PROFILE_MARKS_KEY), name);
	return cJSON_IsNumber(m) && m->valuedouble > 0 ? (int64_t)m->valuedouble : 0;
}

/* "cutover_last_ids": the json backend hands out one past the highest
 * certification / education id it ever stored (the marks and every id of
 * the document). Ids Postgres handed out and then deleted are in neither,
 * so the marks are moved past the sequences' last values: a json-
 * authoritative app after the export never reuses an id Postgres gave out.
 * Written whenever the document is (as the json backend writes them on
 * every write), and on their own when the sequences are past them. */
static int portfolio_finish(ex_ctx *c, ex_doc *d, cJSON *root, cJSON *items, cutover_error *err)
{
	int64_t seq_cert = 0, seq_edu = 0, max_cert = 0, max_edu = 0;
	int rc = seq_last(c, "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
			     "FROM content.portfolio_certifications_id_seq", &seq_cert, err);
	if (!rc)
		rc = seq_last(c, "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
				 "FROM content.portfolio_education_id_seq", &seq_edu, err);
	if (rc)
		return rc;
	take_max_ids(items, "certifications", &max_cert);
	take_max_ids(items, "education", &max_edu);
	int64_t had_cert = mark_of(root, "certifications"), had_edu = mark_of(root, "education");
	int64_t cert = had_cert, edu = had_edu;
	if (max_cert > cert)
		cert = max_cert;
	if (seq_cert > cert)
		cert = seq_cert;
	if (max_edu > edu)
		edu = max_edu;
	if (seq_edu > edu)
		edu = seq_edu;
	bool behind = cert > (had_cert > max_cert ? had_cert : max_cert) || edu > (had_edu > max_edu ? had_edu : max_edu);
	bool rewrite = d->differ || d->added || d->dropped || !d->existed;
	if (!(behind || (rewrite && d->records)) || (cert == had_cert && edu == had_edu &&
						      cJSON_GetObjectItemCaseSensitive(root, CO_PROFILE_MARKS_KEY)))
		return CUTOVER_OK;
	cJSON *m = cJSON_CreateObject();
	if (!m || co_json_set_int(m, "certifications", cert, err) || co_json_set_int(m, "education", edu, err)) {
		cJSON_Delete(m);
		return co_err_oom(err);
	}
	if ((rc = co_json_set(root, CO_PROFILE_MARKS_KEY, m, err)))
		return rc;
	d->other_change = true;
	cJSON *jb = cJSON_CreateObject();
	cJSON_AddStringToObject(jb, "key", "profile/profiles.json: cutover_last_ids");
	cJSON_AddNumberToObject(jb, "certifications", (double)cert);
	cJSON_AddNumberToObject(jb, "education", (double)edu);
	cJSON_AddNumberToObject(jb, "certifications_before", (double)had_cert);
	cJSON_AddNumberToObject(jb, "education_before", (double)had_edu);
	cJSON_AddItemToArray(c->jbook, jb);
	if (!c->cli->json && behind)
		co_buf_printf(&d->lines, "    ids      cutover_last_ids moves to certifications %" PRId64 ", education %" PRId64
				     " (past every id Postgres handed out)\n",
			      cert, edu);
	return CUTOVER_OK;
}

const ex_kind ex_profiles = {
	"profile/profiles.json", "profiles", "profile", "user_id", false,
	"DECLARE ex_rows NO SCROLL CURSOR FOR SELECT p.user_id, p.headline, p.bio, p.location, p.website, p.avatar_path, "
	US("p.updated_at") ", "
	"(SELECT json_agg(s.name ORDER BY s.position) FROM content.profile_specialties s WHERE s.user_id = p.user_id), "
	"(SELECT json_agg(t.name ORDER BY t.position) FROM content.profile_tools t WHERE t.user_id = p.user_id), "
	"(SELECT json_agg(json_build_array(c.id::text, c.name, c.issuer, to_char(c.issued_on, 'YYYY-MM-DD'), "
	"to_char(c.expires_on, 'YYYY-MM-DD'), c.credential_id, c.credential_url, c.asset_path) ORDER BY c.position) "
	"FROM content.portfolio_certifications c WHERE c.user_id = p.user_id), "
	"(SELECT json_agg(json_build_array(e.id::text, e.institution, e.degree, e.field, e.start_year, e.end_year) "
	"ORDER BY e.position) FROM content.portfolio_education e WHERE e.user_id = p.user_id) "
	"FROM content.portfolio_profiles p ORDER BY p.user_id",
	portfolio_row, portfolio_decode, portfolio_key, NULL, portfolio_diff, portfolio_encode, portfolio_release,
	portfolio_finish, NULL, NULL, NULL,
};

/* --- reports ---------------------------------------------------------------------------- */

static int report_row(const PGresult *r, int i, void **out, cutover_error *err)
{
	cutover_report *rep = calloc(1, sizeof *rep);
	bool ok = rep != NULL, a = true, b = true;
	cJSON *tags = NULL, *acts = NULL;
	if (ok) {
		rep->id = ex_col_i64(r, i, 0);
		ok = ex_col_str(r, i, 1, &rep->title) && ex_col_str(r, i, 2, &rep->summary) &&
		     ex_col_str(r, i, 3, &rep->content) && ex_col_str(r, i, 4, &rep->severity) &&
		     ex_col_str(r, i, 5, &rep->status);
		rep->author_id = ex_col_i64(r, i, 7);
		rep->incident_id = ex_col_i64(r, i, 8);
		rep->created_at = ex_col_ts(r, i, 9);
		rep->updated_at = ex_col_ts(r, i, 10);
		rep->archived_at = ex_col_ts(r, i, 11);
		tags = col_json(r, i, 6, &a);
		acts = col_json(r, i, 12, &b);
		ok = ok && a && b && names_of(tags, &rep->tags, &rep->n_tags);
	}
	int n = cJSON_GetArraySize(acts);
	if (ok && n)
		ok = (rep->actions = calloc((size_t)n, sizeof *rep->actions)) != NULL;
	for (int k = 0; ok && k < n; k++) {
		const cJSON *o = cJSON_GetArrayItem(acts, k);
		cutover_report_action *act = &rep->actions[k];
		rep->n_actions = (size_t)k + 1;
		ok = item_str(o, 0, &act->action) && item_str(o, 3, &act->note);
		act->actor_id = item_i64(o, 1);
		act->at = item_i64(o, 2);
	}
	cJSON_Delete(tags);
	cJSON_Delete(acts);
	if (!ok) {
		cutover_report_free(rep);
		return row_oom(err, "operations.reports");
	}
	*out = rep;
	return CUTOVER_OK;
}

static int report_decode(const cJSON *rec, void **out, cutover_error *err)
{
	return co_legacy_report_from_json(rec, (cutover_report **)out, err);
}

static void report_key(const void *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, ((const cutover_report *)rec)->id);
}

static const char *report_other(const void *cur, const void *pg)
{
	return co_report_same(cur, pg) ? NULL : "created_at or author_id";
}

static int report_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_report_diff(a, b, buf, len);
}

static int report_encode(cJSON *obj, const void *before, const void *rec, cutover_error *err)
{
	return co_json_write_report(obj, before, rec, err);
}

static void report_release(void *rec)
{
	cutover_report_free(rec);
}

const ex_kind ex_reports = {
	"reports/reports.json", "reports", "report", "id", false,
	"DECLARE ex_rows NO SCROLL CURSOR FOR SELECT r.id, r.title, r.summary, r.content, r.severity, r.status, "
	"array_to_json(r.tags), r.author_id, r.incident_id, " US("r.created_at") ", " US("r.updated_at") ", "
	US("r.archived_at") ", "
	"(SELECT json_agg(json_build_array(a.action, a.actor_id::text, (" US("a.at") ")::text, a.note) ORDER BY a.position) "
	"FROM operations.report_actions a WHERE a.report_id = r.id) FROM operations.reports r ORDER BY r.id",
	report_row, report_decode, report_key, report_other, report_diff, report_encode, report_release, NULL, NULL, NULL, NULL,
};

/* --- telemetry: incidents --------------------------------------------------------------- */

static int incident_row(const PGresult *r, int i, void **out, cutover_error *err)
{
	cutover_incident *inc = calloc(1, sizeof *inc);
	bool ok = inc && ex_col_str(r, i, 1, &inc->title) && ex_col_str(r, i, 2, &inc->state) &&
		  ex_col_str(r, i, 3, &inc->severity);
	if (!ok) {
		cutover_incident_free(inc);
		return row_oom(err, "operations.incidents");
	}
	inc->id = ex_col_i64(r, i, 0);
	inc->opened_at = ex_col_ts(r, i, 4);
	inc->resolved_at = ex_col_ts(r, i, 5);
	inc->updated_at = ex_col_ts(r, i, 6);
	*out = inc;
	return CUTOVER_OK;
}

static int incident_decode(const cJSON *rec, void **out, cutover_error *err)
{
	return co_legacy_incident_from_json(rec, (cutover_incident **)out, err);
}

static void incident_key(const void *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, ((const cutover_incident *)rec)->id);
}

static const char *incident_other(const void *cur, const void *pg)
{
	return ((const cutover_incident *)cur)->opened_at != ((const cutover_incident *)pg)->opened_at ? "opened_at" : NULL;
}

static int incident_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_incident_diff(a, b, buf, len);
}

static int incident_encode(cJSON *obj, const void *before, const void *rec, cutover_error *err)
{
	(void)before;
	return co_json_write_incident(obj, rec, err);
}

static void incident_release(void *rec)
{
	cutover_incident_free(rec);
}

const ex_kind ex_incidents = {
	CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, "incident", "id", false,
	"DECLARE ex_rows NO SCROLL CURSOR FOR SELECT i.id, i.title, i.state, i.severity, " US("i.opened_at") ", "
	US("i.resolved_at") ", " US("i.updated_at") " FROM operations.incidents i ORDER BY i.id",
	incident_row, incident_decode, incident_key, incident_other, incident_diff, incident_encode, incident_release,
	NULL, NULL, NULL, NULL,
};

/* --- the walk ------------------------------------------------------------------------------ */

/* A record of the current document. */
typedef struct cur_rec {
	cJSON *obj;          /* parsed (NULL: it does not parse) */
	void *rec;           /* decoded (NULL: it cannot be read) */
	char *key;           /* the match key (decoded records only) */
	char name[112];      /* printable: "id 5", "token [redacted:...]" */
	char *why;           /* why it cannot be read */
	uint64_t position, line;
	bool matched;        /* a row of Postgres is this record (kept, maybe rewritten) */
	const char *drop;    /* set when it leaves the document; why */
	char drop_buf[160];
	cJSON *replacement;  /* another record under its key: the row, written fresh in its place */
} cur_rec;

typedef struct walk {
	cur_rec *cur;
	size_t n, cap;
	cur_rec **index;     /* decoded records sorted by (key, position) */
	size_t nindex;
	cJSON *tail;         /* new records, in key order */
} walk;

static void name_of(const ex_kind *k, const char *key_text, char *buf, size_t len)
{
	if (k->secret_key) {
		char fp[64];
		snprintf(buf, len, "token %s", co_redact_value(key_text, fp, sizeof fp));
	} else {
		snprintf(buf, len, "%s %.80s", k->key_field, key_text);
	}
}

/* A name for a record that cannot be decoded: its key when it reads. */
static void raw_name(const ex_kind *k, const cJSON *obj, char *buf, size_t len)
{
	buf[0] = '\0';
	const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, k->key_field) : NULL;
	char text[80];
	if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740992.0)
		snprintf(text, sizeof text, "%.0f", v->valuedouble);
	else if (k->secret_key && cJSON_IsString(v))
		snprintf(text, sizeof text, "%s", v->valuestring);
	else
		return;
	name_of(k, text, buf, len);
}

static int by_key(const void *a, const void *b)
{
	const cur_rec *x = *(cur_rec *const *)a, *y = *(cur_rec *const *)b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->position > y->position) - (x->position < y->position);
}

static cur_rec *find(const walk *w, const char *key)
{
	size_t lo = 0, hi = w->nindex;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(w->index[mid]->key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nindex && strcmp(w->index[lo]->key, key) == 0 ? w->index[lo] : NULL;
}

static void walk_free(const ex_kind *k, walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		cJSON_Delete(w->cur[i].obj);
		cJSON_Delete(w->cur[i].replacement);
		if (w->cur[i].rec)
			k->release(w->cur[i].rec);
		free(w->cur[i].key);
		free(w->cur[i].why);
	}
	free(w->cur);
	free(w->index);
	cJSON_Delete(w->tail);
}

/* Frame and decode the current document's records. */
static int read_current(const ex_kind *k, const char *data, size_t len, walk *w, cutover_error *err)
{
	FILE *f = fmemopen((void *)data, len, "r");
	if (!f)
		return co_err_oom(err);
	co_scan *sc = NULL;
	int rc = co_scan_json(&sc, f, k->key, k->collection, err);
	co_scan_item it;
	while (rc == CUTOVER_OK && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 256;
			cur_rec *grown = realloc(w->cur, cap * sizeof *grown);
			if (!grown) {
				rc = co_err_oom(err);
				break;
			}
			w->cur = grown;
			w->cap = cap;
		}
		cur_rec *cr = &w->cur[w->n++];
		memset(cr, 0, sizeof *cr);
		cr->position = it.position;
		cr->line = it.line;
		cutover_error why;
		cutover_error_clear(&why);
		if (co_legacy_parse(&it, &cr->obj, &why) == CUTOVER_OK) {
			raw_name(k, cr->obj, cr->name, sizeof cr->name);
			if (k->decode(cr->obj, &cr->rec, &why) != CUTOVER_OK)
				cr->rec = NULL;
		}
		if (!cr->rec) {
			if (why.code == CUTOVER_EINTERNAL) {
				rc = co_err_oom(err);
				break;
			}
			cr->why = co_strdup(why.message);
			continue;
		}
		char key[160];
		k->key_of(cr->rec, key, sizeof key);
		if (!(cr->key = co_strdup(key))) {
			rc = co_err_oom(err);
			break;
		}
		name_of(k, key, cr->name, sizeof cr->name);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	co_scan_free(sc);
	fclose(f);
	if (rc)
		return rc;
	if (w->n && !(w->index = calloc(w->n, sizeof *w->index)))
		return co_err_oom(err);
	for (size_t i = 0; i < w->n; i++)
		if (w->cur[i].key)
			w->index[w->nindex++] = &w->cur[i];
	qsort(w->index, w->nindex, sizeof *w->index, by_key);
	for (size_t i = 1, first = 0; i < w->nindex; i++) {
		if (strcmp(w->index[i]->key, w->index[first]->key) != 0) {
			first = i;
			continue;
		}
		cur_rec *dup = w->index[i];
		snprintf(dup->drop_buf, sizeof dup->drop_buf, "its %s repeats record %llu's (the backfill keeps the first)",
			 k->key_field, (unsigned long long)w->index[first]->position);
		dup->drop = dup->drop_buf;
	}
	return CUTOVER_OK;
}

/* A fresh object holding a row. */
static int fresh(const ex_kind *k, const void *rec, cJSON **out, cutover_error *err)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return co_err_oom(err);
	int rc = k->encode(o, NULL, rec, err);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return CUTOVER_OK;
}

/* One row of Postgres against the current document. */
static int take_row(ex_ctx *c, ex_doc *d, const ex_kind *k, walk *w, void *pg, cutover_error *err)
{
	char key[96], name[112], fields[256];
	k->key_of(pg, key, sizeof key);
	name_of(k, key, name, sizeof name);
	cur_rec *cr = find(w, key);
	if (cr && !cr->matched && !cr->drop) {
		cr->matched = true;
		const char *other = k->other ? k->other(cr->rec, pg) : NULL;
		if (other) {
			snprintf(cr->drop_buf, sizeof cr->drop_buf, "postgres holds another %s under this %s (%s differs); "
								      "written fresh in its place",
				 k->entity, k->key_field, other);
			cr->drop = cr->drop_buf;
			ex_note_added(c, d, name);
			return fresh(k, pg, &cr->replacement, err);
		}
		if (k->diff(cr->rec, pg, fields, sizeof fields) == 0) {
			d->unchanged++;
			return CUTOVER_OK;
		}
		ex_note_differ(c, d, name, fields);
		return k->encode(cr->obj, cr->rec, pg, err);
	}
	cJSON *o = NULL;
	int rc = fresh(k, pg, &o, err);
	if (rc)
		return rc;
	if (!cJSON_AddItemToArray(w->tail, o)) {
		cJSON_Delete(o);
		return co_err_oom(err);
	}
	ex_note_added(c, d, name);
	return CUTOVER_OK;
}

static int read_rows(ex_ctx *c, ex_doc *d, const ex_kind *k, walk *w, cutover_error *err)
{
	char what[96];
	snprintf(what, sizeof what, "export: read the rows of %s", k->key);
	int rc = ex_declare(c, what, k->declare_sql, 0, NULL, err);
	while (rc == CUTOVER_OK) {
		PGresult *r = ex_fetch(c, what, FETCH_SQL, err);
		if (!r)
			return err->code;
		int n = PQntuples(r);
		for (int i = 0; rc == CUTOVER_OK && i < n; i++) {
			void *pg = NULL;
			if ((rc = k->row(r, i, &pg, err)) == CUTOVER_OK) {
				rc = take_row(c, d, k, w, pg, err);
				k->release(pg);
			}
		}
		PQclear(r);
		if (n == 0)
			break;
	}
	ex_close(c, CLOSE_SQL);
	return rc;
}

/* The document's root as it was (other top-level keys kept), or a fresh
 * one; *items is its collection, emptied. */
static int doc_root(const char *data, size_t len, const ex_kind *k, ex_doc *d, cJSON **root, cJSON **items,
		    cutover_error *err)
{
	*root = NULL;
	if (data) {
		const char *start = data;
		size_t n = len;
		if (n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
			start += 3;
			n -= 3;
		}
		cJSON *j = memchr(start, '\0', n) ? NULL : cJSON_ParseWithLength(start, n);
		const cJSON *coll = j ? cJSON_GetObjectItemCaseSensitive(j, k->collection) : NULL;
		if (cJSON_IsObject(j) && (!coll || cJSON_IsNull(coll) || cJSON_IsArray(coll)))
			*root = j;
		else {
			cJSON_Delete(j);
			d->unreadable = true;
		}
	}
	if (!*root && !(*root = cJSON_CreateObject()))
		return co_err_oom(err);
	cJSON *fresh_items = cJSON_CreateArray();
	if (!fresh_items)
		return co_err_oom(err);
	if (cJSON_GetObjectItemCaseSensitive(*root, k->collection))
		cJSON_ReplaceItemInObjectCaseSensitive(*root, k->collection, fresh_items);
	else if (!cJSON_AddItemToObject(*root, k->collection, fresh_items)) {
		cJSON_Delete(fresh_items);
		return co_err_oom(err);
	}
	*items = fresh_items;
	return CUTOVER_OK;
}

static int by_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Which owners of the records no row matched Postgres holds: *out sorted
 * (bsearch), malloc'd; kinds without owners get none. */
static int owners_held(ex_ctx *c, const ex_kind *k, const walk *w, int64_t **out, size_t *n, cutover_error *err)
{
	*out = NULL;
	*n = 0;
	if (!k->owner)
		return CUTOVER_OK;
	co_buf arr = {0};
	co_buf_printf(&arr, "{");
	size_t count = 0;
	for (size_t i = 0; i < w->n; i++) {
		const cur_rec *cr = &w->cur[i];
		if (cr->rec && !cr->matched && !cr->drop)
			co_buf_printf(&arr, "%s%" PRId64, count++ ? "," : "", k->owner(cr->rec));
	}
	co_buf_printf(&arr, "}");
	if (arr.failed) {
		co_buf_free(&arr);
		return co_err_oom(err);
	}
	if (!count) {
		co_buf_free(&arr);
		return CUTOVER_OK;
	}
	const char *p[1] = {arr.data};
	PGresult *r = co_pg_exec(c->pg, "export: the owners of the records postgres lacks", k->owners_sql, 1, p, err);
	co_buf_free(&arr);
	if (!r)
		return err->code;
	size_t rows = (size_t)PQntuples(r);
	if (rows && !(*out = calloc(rows, sizeof **out))) {
		PQclear(r);
		return co_err_oom(err);
	}
	for (size_t i = 0; i < rows; i++)
		(*out)[i] = ex_col_i64(r, (int)i, 0);
	*n = rows;
	PQclear(r);
	return CUTOVER_OK;
}

/* Put the records in their places: the current ones that stay, in their
 * order (or what replaces them), then the new ones. */
static int assemble(ex_ctx *c, ex_doc *d, const ex_kind *k, walk *w, cJSON *items, cutover_error *err)
{
	int64_t *owners = NULL;
	size_t nowners = 0;
	int rc = owners_held(c, k, w, &owners, &nowners, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < w->n; i++) {
		cur_rec *cr = &w->cur[i];
		bool removed = false;
		int64_t owner = !cr->drop && !cr->matched && cr->rec && k->owner ? k->owner(cr->rec) : 0;
		if (owner && !(nowners && bsearch(&owner, owners, nowners, sizeof *owners, by_i64))) {
			snprintf(cr->drop_buf, sizeof cr->drop_buf, "not in postgres, nor is its user %" PRId64 ": it never got "
								      "there (see the backfill's rejects)",
				 owner);
			cr->drop = cr->drop_buf;
		}
		if (!cr->drop && !cr->matched) {
			if (cr->rec && k->expired) {
				/* deleted through the app while postgres was authoritative: leaves, not a drop */
				removed = true;
				cr->drop = "removed";
				ex_note_removed(c, d, k->expired(cr->rec, c->snapshot) ? EX_EXPIRED : EX_DELETED, cr->position,
						cr->line, cr->name);
			} else if (cr->rec) {
				snprintf(cr->drop_buf, sizeof cr->drop_buf, "not in postgres, where no %s is ever deleted: it never "
									      "got there (see the backfill's rejects)",
					 k->entity);
				cr->drop = cr->drop_buf;
			} else {
				snprintf(cr->drop_buf, sizeof cr->drop_buf, "cannot be read: %s", cr->why ? cr->why : "?");
				cr->drop = cr->drop_buf;
			}
		}
		if (cr->drop && !removed)
			ex_note_dropped(c, d, cr->position, cr->line, cr->name, cr->drop);
		cJSON *keep = cr->drop ? cr->replacement : cr->obj;
		if (!keep)
			continue;
		if (cr->drop)
			cr->replacement = NULL;
		else
			cr->obj = NULL;
		if (!cJSON_AddItemToArray(items, keep)) {
			cJSON_Delete(keep);
			free(owners);
			return co_err_oom(err);
		}
	}
	free(owners);
	cJSON *o;
	while ((o = w->tail->child) != NULL) {
		cJSON_DetachItemViaPointer(w->tail, o);
		cJSON_AddItemToArray(items, o);
	}
	d->records = (uint64_t)cJSON_GetArraySize(items);
	return CUTOVER_OK;
}

int ex_collection(ex_ctx *c, const ex_kind *k, cutover_error *err)
{
	ex_doc d;
	ex_doc_begin(c, &d, k->key);
	char *data = NULL, version[CO_VERSION_LEN] = "";
	size_t len = 0;
	walk w = {0};
	cJSON *root = NULL, *items = NULL;
	int rc = c->t->get(c->t, k->key, &data, &len, version, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		rc = CUTOVER_OK;
		data = NULL;
	} else if (rc == CUTOVER_OK) {
		d.existed = true;
	}
	if (!rc)
		rc = doc_root(data, len, k, &d, &root, &items, err);
	if (!rc && data)
		rc = read_current(k, data, len, &w, err);
	if (!rc && !(w.tail = cJSON_CreateArray()))
		rc = co_err_oom(err);
	if (!rc)
		rc = read_rows(c, &d, k, &w, err);
	if (!rc)
		rc = assemble(c, &d, k, &w, items, err);
	walk_free(k, &w);
	if (!rc && k->finish)
		rc = k->finish(c, &d, root, items, err);

	const char *outcome = d.existed ? "unchanged" : "absent, nothing to write";
	if (!rc && ex_doc_changed(&d) && (d.existed || d.records || d.other_change)) {
		outcome = ex_outcome(c, d.existed);
		if (c->apply) {
			char *text = cJSON_PrintUnformatted(root);
			if (!text)
				rc = co_err_oom(err);
			if (!rc && d.existed)
				rc = ex_keep(c, k->key, data, len, err);
			if (!rc)
				rc = ex_put(c, k->key, text, strlen(text), d.existed ? version : "", err);
			cJSON_free(text);
		}
	} else if (!rc && !d.existed && !d.records && !d.other_change) {
		d.added = d.differ = d.dropped = d.expired = d.deleted = 0;
		d.other_change = false;
	}
	cJSON_Delete(root);
	free(data);
	if (rc) {
		ex_doc_abandon(&d);
		return rc;
	}
	ex_doc_end(c, &d, outcome);
	return CUTOVER_OK;
}
