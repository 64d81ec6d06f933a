/* pg_reports.c — the reports domain stored in Postgres.
 *
 * Fills the cutover_reports table over operations.reports and
 * operations.report_actions (migrations/0004_reports.sql). Values travel as
 * text parameters: ids as decimal, timestamps as ISO-8601 (exact
 * microseconds), tags and a batch of actions as one JSON parameter each
 * (unpacked by jsonb functions in constant SQL); timestamps come back as
 * microseconds, tags as JSON. A report is read with its trail in one LEFT
 * JOIN ordered by position.
 *
 * The answers must match the JSON backend call for call (the conformance
 * suite compares them), so the rules are spelled out here rather than left
 * to the database: references are checked before writing, in the json
 * store's order (author, incident, then actors; the foreign keys still guard
 * against races), so a refused create names the same field and id and burns
 * no sequence value; an explicit id moves the sequence past it (the json
 * store's next id is max + 1); changes lock the row FOR UPDATE, apply the
 * shared rules of core/reports.c to it and write back the row and the new
 * actions. put_report is replication: the report exactly as given, trail
 * included, unless the stored copy is newer or another report; an explicit
 * id moves the sequence past it there too.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pg.h"
#include "reports_int.h"

typedef struct pg_reports {
	cutover_reports base; /* first: the table the app holds */
	co_pg *pg;
} pg_reports;

static co_pg *PG(cutover_reports *s)
{
	return ((pg_reports *)s)->pg;
}

#define LOCAL_ERR(err)                                   \
	cutover_error err##_local_;                          \
	if (!(err)) {                                        \
		memset(&err##_local_, 0, sizeof err##_local_);   \
		(err) = &err##_local_;                           \
	}

/* --- SQL ------------------------------------------------------------------ */

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

#define REPORT_COLS                                                                                       \
	"r.id, r.title, r.summary, r.content, r.severity, r.status, array_to_json(r.tags)::text, r.author_id, " \
	"r.incident_id, " US("r.created_at") ", " US("r.updated_at") ", " US("r.archived_at")
#define REPORT_NCOLS 12
#define ACTION_COLS "a.position, a.action, a.actor_id, " US("a.at") ", a.note"
#define SELECT_REPORT                                                                                    \
	"SELECT " REPORT_COLS ", " ACTION_COLS " FROM operations.reports r"                                  \
	" LEFT JOIN operations.report_actions a ON a.report_id = r.id WHERE r.id = $1::int8 ORDER BY a.position"

static const char SQL_GET_REPORT[] = SELECT_REPORT;
/* Lock the row first, then read it with its trail in a statement of its
 * own: under READ COMMITTED a FOR UPDATE that waited re-reads the locked
 * row but not the joined actions, whose snapshot would miss the trail the
 * previous holder of the lock appended. */
static const char SQL_LOCK_REPORT[] = "SELECT 1 FROM operations.reports WHERE id = $1::int8 FOR UPDATE";

/* $1 id, $2 title, $3 summary, $4 content, $5 severity, $6 status, $7 tags (a JSON list),
 * $8 author_id, $9 incident_id, $10 created_at, $11 updated_at, $12 archived_at */
#define REPORT_PARAMS 12
#define TAGS_OF(p) "ARRAY(SELECT t FROM jsonb_array_elements_text(" p "::jsonb) WITH ORDINALITY AS x(t, n) ORDER BY n)"
#define REPORT_INSERT_COLS \
	"title, summary, content, severity, status, tags, author_id, incident_id, created_at, updated_at, archived_at"
#define REPORT_VALUES                                                                                     \
	"$2, $3, $4, $5, $6, " TAGS_OF("$7") ", $8::int8, $9::int8, $10::timestamptz, $11::timestamptz, " \
	"$12::timestamptz"

static const char SQL_INSERT_REPORT[] =
    "INSERT INTO operations.reports (id, " REPORT_INSERT_COLS ") VALUES ("
    "CASE WHEN $1::int8 > 0 THEN $1::int8 ELSE nextval('operations.reports_id_seq') END, " REPORT_VALUES ") "
    "RETURNING id";
/* put: a row that is not there yet; 0 rows when one is (or has just been
 * committed by a concurrent put: the insert waits for it). */
static const char SQL_INSERT_REPORT_IF_NEW[] =
    "INSERT INTO operations.reports (id, " REPORT_INSERT_COLS ") VALUES ($1::int8, " REPORT_VALUES ") "
    "ON CONFLICT (id) DO NOTHING RETURNING id";
static const char SQL_UPDATE_REPORT[] =
    "UPDATE operations.reports SET title = $2, summary = $3, content = $4, severity = $5, status = $6, "
    "tags = " TAGS_OF("$7") ", author_id = $8::int8, incident_id = $9::int8, created_at = $10::timestamptz, "
    "updated_at = $11::timestamptz, archived_at = $12::timestamptz WHERE id = $1::int8";
/* $1 report id, $2 a JSON list of {position, action, actor_id, at, note} */
static const char SQL_INSERT_ACTIONS[] =
    "INSERT INTO operations.report_actions (report_id, position, action, actor_id, at, note) "
    "SELECT $1::int8, x.position, x.action, x.actor_id, x.at, x.note FROM jsonb_to_recordset($2::jsonb) "
    "AS x(position int, action text, actor_id bigint, at timestamptz, note text)";
static const char SQL_DELETE_ACTIONS[] = "DELETE FROM operations.report_actions WHERE report_id = $1::int8";
static const char SQL_REPORT_ID_TAKEN[] = "SELECT 1 FROM operations.reports WHERE id = $1::int8";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM identity.users WHERE id = $1::int8";
static const char SQL_INCIDENT_EXISTS[] = "SELECT 1 FROM operations.incidents WHERE id = $1::int8";
static const char SQL_ADVANCE_SEQ[] =
    "SELECT setval('operations.reports_id_seq', $1::int8) FROM operations.reports_id_seq "
    "WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";

/* $1 status, $2 severity, $3 tag, $4 author_id, $5 incident_id (NULL: any),
 * $6 after created_at, $7 after id (NULL: first page), $8 limit. Every
 * statement is planned with its values, so the filters left NULL fold away
 * and the matching index serves the page. */
static const char SQL_LIST[] =
    "SELECT " REPORT_COLS " FROM operations.reports r WHERE ($1::text IS NULL OR r.status = $1::text)"
    " AND ($2::text IS NULL OR r.severity = $2::text) AND ($3::text IS NULL OR r.tags @> ARRAY[$3::text])"
    " AND ($4::int8 IS NULL OR r.author_id = $4::int8) AND ($5::int8 IS NULL OR r.incident_id = $5::int8)"
    " AND ($6::timestamptz IS NULL OR (r.created_at, r.id) < ($6::timestamptz, $7::int8))"
    " ORDER BY r.created_at DESC, r.id DESC LIMIT $8::int8";

/* --- parameters ------------------------------------------------------------ */

typedef char idtext[24];
typedef char tstext[40];

static const char *id_param(int64_t id, idtext buf)
{
	snprintf(buf, sizeof(idtext), "%" PRId64, id);
	return buf;
}

/* NULL (SQL NULL) for 0. */
static const char *ref_param(int64_t id, idtext buf)
{
	return id > 0 ? id_param(id, buf) : NULL;
}

static const char *ts_param(cutover_ts t, tstext buf)
{
	if (t == CUTOVER_TS_NULL)
		return NULL;
	cutover_ts_format(t, buf, sizeof(tstext));
	return buf;
}

typedef struct report_params {
	const char *v[REPORT_PARAMS];
	idtext id, author, incident;
	tstext created, updated, archived;
	char *tags; /* malloc'd JSON */
} report_params;

/* false when out of memory. */
static bool report_params_fill(report_params *p, const cutover_report *r)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < r->n_tags; i++) {
		cJSON *s = cJSON_CreateString(r->tags[i]);
		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	p->tags = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	p->v[0] = id_param(r->id, p->id);
	p->v[1] = r->title;
	p->v[2] = r->summary;
	p->v[3] = r->content;
	p->v[4] = r->severity;
	p->v[5] = r->status;
	p->v[6] = p->tags;
	p->v[7] = id_param(r->author_id, p->author);
	p->v[8] = ref_param(r->incident_id, p->incident);
	p->v[9] = ts_param(r->created_at, p->created);
	p->v[10] = ts_param(r->updated_at, p->updated);
	p->v[11] = ts_param(r->archived_at, p->archived);
	return p->tags != NULL;
}

/* Actions [from, r->n_actions) as a JSON list with their positions; NULL when out of memory. */
static char *actions_json(const cutover_report *r, size_t from)
{
	cJSON *arr = cJSON_CreateArray();
	bool ok = arr != NULL;
	for (size_t i = from; ok && i < r->n_actions; i++) {
		const cutover_report_action *a = &r->actions[i];
		tstext at;
		cJSON *o = cJSON_CreateObject();
		ok = o && cJSON_AddItemToArray(arr, o);
		if (!ok) {
			cJSON_Delete(o);
			break;
		}
		ok = cJSON_AddNumberToObject(o, "position", (double)i) &&
		     cJSON_AddStringToObject(o, "action", a->action) &&
		     (a->actor_id > 0 ? co_pg_json_add_int(o, "actor_id", a->actor_id)
				      : cJSON_AddNullToObject(o, "actor_id") != NULL) &&
		     cJSON_AddStringToObject(o, "at", cutover_ts_format(a->at, at, sizeof at)) &&
		     (a->note ? cJSON_AddStringToObject(o, "note", a->note) != NULL
			      : cJSON_AddNullToObject(o, "note") != NULL);
	}
	char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	return text;
}

/* What reports' constraints mean, for error messages. */
static const co_pg_constraint constraint_list[] = {
	{"reports_pkey", "report id {id} already taken"},
	{"reports_author_id_fkey", "its author_id does not exist in identity.users"},
	{"reports_incident_id_fkey", "its incident_id does not exist in operations.incidents"},
	{"report_actions_actor_id_fkey", "an action's actor_id does not exist in identity.users"},
	{"reports_archived_check", "a report is archived exactly when archived_at is set"},
	{"reports_severity_check", "severity must be low, medium, high or critical"},
	{"reports_status_check", "status must be active or archived"},
	{"reports_title_check", "title is required"},
};
static const co_pg_constraints constraints = {constraint_list, sizeof constraint_list / sizeof constraint_list[0]};

/* --- running statements ------------------------------------------------------ */

/* 1 when the query returns a row, 0 when not, -1 with err set on failure. */
static int exists(co_pg *pg, const char *what, const char *sql, int64_t id, cutover_error *err)
{
	idtext b;
	const char *p[1] = {id_param(id, b)};
	PGresult *r = co_pg_run(pg, &constraints, what, sql, 1, p, 0, err);
	if (!r)
		return -1;
	int found = PQntuples(r) > 0;
	PQclear(r);
	return found;
}

static void tx_abort(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
}

static PGconn *tx_begin(co_pg *pg, const char *what, cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);
	if (!c) {
		co_pg_prefix_error(err, what);
		return NULL;
	}
	tx_abort(c);
	if (co_pg_run_cmd(pg, &constraints, what, "BEGIN", 0, NULL, 0, err) != CUTOVER_OK)
		return NULL;
	return c;
}

/* --- references ------------------------------------------------------------------ */

static int dangling(cutover_error *err, const char *what, const char *field, int64_t id, const char *table)
{
	co_err(err, CUTOVER_EINVALID, "%s: %s %lld does not exist", what, field, (long long)id);
	co_err_detail(err, "no row with id %lld in %s", (long long)id, table);
	co_err_hint(err, "create it first, or refer to one that exists");
	return CUTOVER_EINVALID;
}

static int check_one(co_pg *pg, const char *what, const char *sql, const char *field, int64_t id,
		     const char *table, cutover_error *err)
{
	int found = exists(pg, what, sql, id, err);
	if (found < 0)
		return err->code;
	return found ? CUTOVER_OK : dangling(err, what, field, id, table);
}

/* The json store's order: author, incident, then the actors of actions [from, n). */
static int check_refs(co_pg *pg, const char *what, int64_t author_id, int64_t incident_id,
		      const cutover_report_action *actions, size_t from, size_t n, cutover_error *err)
{
	int rc;
	if (author_id > 0 &&
	    (rc = check_one(pg, what, SQL_USER_EXISTS, "author_id", author_id, "identity.users", err)))
		return rc;
	if (incident_id > 0 &&
	    (rc = check_one(pg, what, SQL_INCIDENT_EXISTS, "incident_id", incident_id, "operations.incidents", err)))
		return rc;
	for (size_t i = from; i < n; i++)
		if (actions[i].actor_id > 0 &&
		    (rc = check_one(pg, what, SQL_USER_EXISTS, "actor_id", actions[i].actor_id, "identity.users", err)))
			return rc;
	return CUTOVER_OK;
}

/* --- decoding rows ------------------------------------------------------------ */

static int64_t col_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static cutover_ts col_ts(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? CUTOVER_TS_NULL : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int col_str(const PGresult *r, int row, int col, char **out)
{
	if (PQgetisnull(r, row, col)) {
		*out = NULL;
		return 0;
	}
	*out = co_strdup(PQgetvalue(r, row, col));
	return *out ? 0 : -1;
}

static int col_tags(const PGresult *r, int row, int col, cutover_report *rep)
{
	cJSON *arr = cJSON_Parse(PQgetvalue(r, row, col));
	int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
	if (!arr)
		return -1;
	if (n && !(rep->tags = calloc((size_t)n, sizeof *rep->tags))) {
		cJSON_Delete(arr);
		return -1;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e) || !(rep->tags[rep->n_tags] = co_strdup(e->valuestring))) {
			cJSON_Delete(arr);
			return -1;
		}
		rep->n_tags++;
	}
	cJSON_Delete(arr);
	return 0;
}

/* Fill rep from rows [first, end): the report's columns from the first
 * row; with_actions: one action per row that has one. -1 when out of
 * memory (rep holds what was filled; co_report_clear it). */
static int fill_report(cutover_report *rep, const PGresult *r, int first, int end, bool with_actions)
{
	memset(rep, 0, sizeof *rep);
	rep->id = col_i64(r, first, 0);
	if (col_str(r, first, 1, &rep->title) || col_str(r, first, 2, &rep->summary) ||
	    col_str(r, first, 3, &rep->content) || col_str(r, first, 4, &rep->severity) ||
	    col_str(r, first, 5, &rep->status) || col_tags(r, first, 6, rep))
		return -1;
	rep->author_id = col_i64(r, first, 7);
	rep->incident_id = col_i64(r, first, 8);
	rep->created_at = col_ts(r, first, 9);
	rep->updated_at = col_ts(r, first, 10);
	rep->archived_at = col_ts(r, first, 11);
	if (!with_actions)
		return 0;
	int a0 = REPORT_NCOLS, rows = 0;
	for (int row = first; row < end; row++)
		rows += !PQgetisnull(r, row, a0);
	if (!rows)
		return 0;
	if (!(rep->actions = calloc((size_t)rows, sizeof *rep->actions)))
		return -1;
	for (int row = first; row < end; row++) {
		if (PQgetisnull(r, row, a0))
			continue;
		cutover_report_action *a = &rep->actions[rep->n_actions++];
		a->actor_id = col_i64(r, row, a0 + 2);
		a->at = col_ts(r, row, a0 + 3);
		if (col_str(r, row, a0 + 1, &a->action) || col_str(r, row, a0 + 4, &a->note))
			return -1;
	}
	return 0;
}

/* One report with its trail. CUTOVER_ENOTFOUND (err untouched) when no row. */
static int fetch_report(co_pg *pg, const char *what, const char *sql, int64_t id, cutover_report **out,
			cutover_error *err)
{
	idtext b;
	const char *p[1] = {id_param(id, b)};
	PGresult *r = co_pg_run(pg, &constraints, what, sql, 1, p, id, err);
	*out = NULL;
	if (!r)
		return err->code;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return CUTOVER_ENOTFOUND;
	}
	cutover_report *rep = calloc(1, sizeof *rep);
	if (!rep || fill_report(rep, r, 0, PQntuples(r), true) != 0) {
		PQclear(r);
		cutover_report_free(rep);
		return co_err_oom(err);
	}
	PQclear(r);
	*out = rep;
	return CUTOVER_OK;
}

static int not_found(cutover_error *err, const char *what, int64_t id)
{
	return co_err(err, CUTOVER_ENOTFOUND, "%s: report %" PRId64 " not found", what, id);
}

/* Lock report id (inside the caller's transaction) and read it as it is
 * now, trail included. CUTOVER_ENOTFOUND (err untouched) when no row. */
static int fetch_locked(co_pg *pg, const char *what, int64_t id, cutover_report **out, cutover_error *err)
{
	*out = NULL;
	int found = exists(pg, what, SQL_LOCK_REPORT, id, err);
	if (found < 0)
		return err->code;
	if (!found)
		return CUTOVER_ENOTFOUND;
	return fetch_report(pg, what, SQL_GET_REPORT, id, out, err);
}

/* --- writing ------------------------------------------------------------------ */

/* The row (sql: insert, upsert or update) and actions [from, n). For an
 * insert, *id_out gets the id the row received (0 when none was inserted). */
static int write_row(co_pg *pg, const char *what, const char *sql, const cutover_report *rep, int64_t *id_out,
		     cutover_error *err)
{
	report_params rp;
	bool ok = report_params_fill(&rp, rep);
	if (!ok) {
		free(rp.tags);
		return co_err_oom(err);
	}
	PGresult *r = co_pg_run(pg, &constraints, what, sql, REPORT_PARAMS, rp.v, rep->id, err);
	free(rp.tags);
	if (!r)
		return err->code;
	if (id_out)
		*id_out = PQntuples(r) > 0 ? col_i64(r, 0, 0) : 0; /* 0: no row (ON CONFLICT DO NOTHING) */
	PQclear(r);
	return CUTOVER_OK;
}

static int write_actions(co_pg *pg, const char *what, const cutover_report *rep, int64_t id, size_t from,
			 cutover_error *err)
{
	if (from >= rep->n_actions)
		return CUTOVER_OK;
	char *json = actions_json(rep, from);
	if (!json)
		return co_err_oom(err);
	idtext b;
	const char *p[2] = {id_param(id, b), json};
	int rc = co_pg_run_cmd(pg, &constraints, what, SQL_INSERT_ACTIONS, 2, p, id, err);
	free(json);
	return rc;
}

static int commit_and_fetch(co_pg *pg, const char *what, int64_t id, cutover_report **out, cutover_error *err)
{
	cutover_report *stored = NULL;
	int rc = fetch_report(pg, what, SQL_GET_REPORT, id, &stored, err);
	if (rc == CUTOVER_ENOTFOUND)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: report %" PRId64 " vanished while being written", what, id);
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, what, "COMMIT", 0, NULL, id, err);
	if (rc == CUTOVER_OK && out)
		*out = stored;
	else
		cutover_report_free(stored);
	return rc;
}

static int pg_create(cutover_reports *s, cutover_report **out, const cutover_report *in, cutover_error *err)
{
	static const char W[] = "create report";
	co_pg *pg = PG(s);
	int64_t id = 0;
	int rc;
	LOCAL_ERR(err);
	if (out)
		*out = NULL;
	if (!in || in->id < 0 || !in->title || !in->severity || !in->status)
		return co_err(err, CUTOVER_EINVALID, "%s: a title, severity and status are required", W);
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	/* refuse before the insert, so a refused create takes no sequence value */
	if ((rc = check_refs(pg, W, in->author_id, in->incident_id, in->actions, 0, in->n_actions, err)))
		goto fail;
	if (in->id > 0) {
		int found = exists(pg, W, SQL_REPORT_ID_TAKEN, in->id, err);
		if (found) {
			rc = found < 0 ? err->code
				       : co_err(err, CUTOVER_ECONFLICT, "%s: report id %" PRId64 " already taken", W, in->id);
			goto fail;
		}
	}
	if ((rc = write_row(pg, W, SQL_INSERT_REPORT, in, &id, err))) {
		if (in->id == 0 && rc == CUTOVER_ECONFLICT && strstr(err->detail, "reports_pkey")) {
			rc = co_err(err, CUTOVER_ESTATE, "%s: the id sequence operations.reports_id_seq is behind the table", W);
			co_err_hint(err, "repair it with: %s", co_pg_repair_sql("operations.reports"));
		}
		goto fail;
	}
	if ((rc = write_actions(pg, W, in, id, 0, err)))
		goto fail;
	if (in->id > 0) {
		idtext b;
		const char *p[1] = {id_param(id, b)};
		if ((rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_SEQ, 1, p, id, err)))
			goto fail;
	}
	if ((rc = commit_and_fetch(pg, W, id, out, err)))
		goto fail;
	return CUTOVER_OK;
fail:
	tx_abort(c);
	return rc;
}

/* update, archive, restore, record_action: lock, apply the shared rule,
 * write back the row and the actions it appended. */
typedef struct change {
	const char *what;
	const cutover_report_patch *patch; /* or a step: */
	co_report_step step;
	const char *action, *note;
	int64_t actor_id;
	cutover_ts now;
} change;

static int pg_change(cutover_reports *s, cutover_report **out, int64_t id, const change *ch, cutover_error *err)
{
	co_pg *pg = PG(s);
	cutover_report *before = NULL, *after = NULL;
	int rc;
	if (out)
		*out = NULL;
	PGconn *c = tx_begin(pg, ch->what, err);
	if (!c)
		return err->code;
	rc = fetch_locked(pg, ch->what, id, &before, err);
	if (rc == CUTOVER_ENOTFOUND)
		rc = not_found(err, ch->what, id);
	if (rc)
		goto done;
	if (!(after = co_report_dup(before))) {
		rc = co_err_oom(err);
		goto done;
	}
	if (ch->patch) {
		rc = co_report_apply_patch(after, ch->patch, ch->now, err);
		if (rc == CUTOVER_OK && (ch->patch->set & CUTOVER_REPORT_SET_INCIDENT))
			rc = check_refs(pg, ch->what, 0, after->incident_id, NULL, 0, 0, err);
	} else {
		rc = co_report_apply_step(after, ch->step, ch->action, ch->actor_id, ch->note, ch->now, err);
		if (rc == CUTOVER_OK)
			rc = check_refs(pg, ch->what, 0, 0, after->actions, before->n_actions, after->n_actions, err);
	}
	if (rc || (rc = write_row(pg, ch->what, SQL_UPDATE_REPORT, after, NULL, err)) ||
	    (rc = write_actions(pg, ch->what, after, id, before->n_actions, err)))
		goto done;
	rc = commit_and_fetch(pg, ch->what, id, out, err);
done:
	if (rc)
		tx_abort(c);
	cutover_report_free(before);
	cutover_report_free(after);
	return rc;
}

static int pg_update(cutover_reports *s, cutover_report **out, int64_t id, const cutover_report_patch *patch,
		     cutover_ts now, cutover_error *err)
{
	LOCAL_ERR(err);
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "update report: no patch given");
	change ch = {.what = "update report", .patch = patch, .now = now};
	return pg_change(s, out, id, &ch, err);
}

static int pg_archive(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		      cutover_ts now, cutover_error *err)
{
	LOCAL_ERR(err);
	change ch = {.what = "archive report", .step = CO_REPORT_ARCHIVE, .actor_id = actor, .note = note, .now = now};
	return pg_change(s, out, id, &ch, err);
}

static int pg_restore(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor, const char *note,
		      cutover_ts now, cutover_error *err)
{
	LOCAL_ERR(err);
	change ch = {.what = "restore report", .step = CO_REPORT_RESTORE, .actor_id = actor, .note = note, .now = now};
	return pg_change(s, out, id, &ch, err);
}

static int pg_record_action(cutover_reports *s, cutover_report **out, int64_t id, const char *action, int64_t actor,
			    const char *note, cutover_ts now, cutover_error *err)
{
	LOCAL_ERR(err);
	if (!action || !*action)
		return co_err(err, CUTOVER_EINVALID, "record report action: the action is required");
	change ch = {.what = "record report action", .step = CO_REPORT_ACTION, .action = action, .actor_id = actor,
		     .note = note, .now = now};
	return pg_change(s, out, id, &ch, err);
}

/* Replication: the report as given, trail included, in one transaction.
 * A new id is inserted; an existing row is locked and the stored copy
 * decides: another report (created_at or author_id differ) is
 * CUTOVER_ECONFLICT and not replaced; a newer copy (co_report_newer) is kept
 * and the put succeeds without writing, so second writes landing out of
 * order never move a report back. The sequence moves past the id, as a
 * create with an explicit id does, so a live process never draws it. */
static int pg_put(cutover_reports *s, const cutover_report *rep, cutover_error *err)
{
	static const char W[] = "put report";
	co_pg *pg = PG(s);
	cutover_report *stored = NULL;
	int64_t id = 0;
	int rc;
	LOCAL_ERR(err);
	if (!rep || rep->id <= 0 || !rep->title || !rep->severity || !rep->status)
		return co_err(err, CUTOVER_EINVALID, "%s: a report with an id > 0, a title, severity and status is required", W);
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	idtext b;
	const char *p[1] = {id_param(rep->id, b)};
	if ((rc = check_refs(pg, W, rep->author_id, rep->incident_id, rep->actions, 0, rep->n_actions, err)) ||
	    (rc = write_row(pg, W, SQL_INSERT_REPORT_IF_NEW, rep, &id, err)))
		goto fail;
	if (id != rep->id) { /* the row was there: the id is not handed back */
		rc = fetch_locked(pg, W, rep->id, &stored, err);
		if (rc == CUTOVER_ENOTFOUND)
			rc = co_err(err, CUTOVER_EINTERNAL, "%s: report %" PRId64 " vanished while being written", W, rep->id);
		if (rc)
			goto fail;
		if (!co_report_same(stored, rep)) {
			rc = co_err(err, CUTOVER_ECONFLICT, "%s: report %" PRId64 " in postgres is another report; not replaced",
				    W, rep->id);
			co_err_detail(err, "the stored row has another created_at or author_id");
			co_err_hint(err, "compare the two copies of report %" PRId64 " and repair by hand", rep->id);
			goto fail;
		}
		if (co_report_newer(stored, rep)) { /* a newer state is stored: nothing to write */
			cutover_report_free(stored);
			tx_abort(c);
			return CUTOVER_OK;
		}
		if ((rc = write_row(pg, W, SQL_UPDATE_REPORT, rep, NULL, err)) ||
		    (rc = co_pg_run_cmd(pg, &constraints, W, SQL_DELETE_ACTIONS, 1, p, rep->id, err)))
			goto fail;
	}
	if ((rc = write_actions(pg, W, rep, rep->id, 0, err)) || (rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_SEQ, 1, p, rep->id, err)) ||
	    (rc = co_pg_run_cmd(pg, &constraints, W, "COMMIT", 0, NULL, rep->id, err)))
		goto fail;
	cutover_report_free(stored);
	return CUTOVER_OK;
fail:
	cutover_report_free(stored);
	tx_abort(c);
	return rc;
}

/* --- reads --------------------------------------------------------------------- */

static int pg_get(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err)
{
	LOCAL_ERR(err);
	int rc = fetch_report(PG(s), "get report", SQL_GET_REPORT, id, out, err);
	return rc == CUTOVER_ENOTFOUND ? not_found(err, "get report", id) : rc;
}

static int pg_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *f,
		   const cutover_ts *after_ts, int64_t after_id, size_t limit, cutover_error *err)
{
	static const char W[] = "list reports";
	static const cutover_report_filter any;
	idtext author, incident, aid, lim;
	tstext ats;
	LOCAL_ERR(err);
	memset(out, 0, sizeof *out);
	if (!f)
		f = &any;
	if (limit == 0)
		return co_err(err, CUTOVER_EINVALID, "%s: the limit must be at least 1", W);
	const char *p[8] = {f->status, f->severity, f->tag, ref_param(f->author_id, author),
			    ref_param(f->incident_id, incident), after_ts ? ts_param(*after_ts, ats) : NULL,
			    after_ts ? id_param(after_id, aid) : NULL, id_param((int64_t)limit + 1, lim)};
	PGresult *r = co_pg_run(PG(s), &constraints, W, SQL_LIST, 8, p, 0, err);
	if (!r)
		return err->code;
	size_t rows = (size_t)PQntuples(r), keep = rows < limit ? rows : limit;
	if (keep && !(out->items = calloc(keep, sizeof *out->items))) {
		PQclear(r);
		return co_err_oom(err);
	}
	for (size_t i = 0; i < keep; i++) {
		out->n++;
		if (fill_report(&out->items[i], r, (int)i, (int)i + 1, false) != 0) {
			PQclear(r);
			cutover_report_page_free(out);
			return co_err_oom(err);
		}
	}
	PQclear(r);
	if (rows > limit)
		co_cursor_format(out->items[keep - 1].created_at, out->items[keep - 1].id, out->next_cursor);
	return CUTOVER_OK;
}

static int pg_list_actions(cutover_reports *s, cutover_report_action_list *out, int64_t id, cutover_error *err)
{
	cutover_report *rep = NULL;
	LOCAL_ERR(err);
	out->items = NULL;
	out->n = 0;
	int rc = fetch_report(PG(s), "list report actions", SQL_GET_REPORT, id, &rep, err);
	if (rc == CUTOVER_ENOTFOUND)
		return not_found(err, "list report actions", id);
	if (rc)
		return rc;
	out->items = rep->actions;
	out->n = rep->n_actions;
	rep->actions = NULL;
	rep->n_actions = 0;
	cutover_report_free(rep);
	return CUTOVER_OK;
}

/* --- the handle ------------------------------------------------------------------- */

static void pg_stats(cutover_reports *s, cutover_stats *out)
{
	(void)s;
	memset(out, 0, sizeof *out);
}

static void pg_free(cutover_reports *s)
{
	pg_reports *p = (pg_reports *)s;
	if (!p)
		return;
	co_pg_close(p->pg);
	free(p);
}

int co_pg_reports_new(cutover_reports **out, co_pg *pg, cutover_error *err)
{
	*out = NULL;
	if (!pg)
		return co_err(err, CUTOVER_EINTERNAL, "postgres reports: no connection");
	pg_reports *p = calloc(1, sizeof *p);
	if (!p) {
		co_pg_close(pg);
		return co_err_oom(err);
	}
	p->base = (cutover_reports){
		.version = CUTOVER_REPORTS_VERSION,
		.kind = "postgres",
		.create_report = pg_create,
		.get_report = pg_get,
		.list_reports = pg_list,
		.update_report = pg_update,
		.archive_report = pg_archive,
		.restore_report = pg_restore,
		.record_action = pg_record_action,
		.list_actions = pg_list_actions,
		.put_report = pg_put,
		.stats = pg_stats,
		.free = pg_free,
	};
	p->pg = pg;
	*out = &p->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_reports_postgres(cutover_reports **out, const char *conninfo, cutover_error *err)
{
	co_pg *pg = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "open postgres reports: no out parameter");
	*out = NULL;
	int rc = co_pg_connect(&pg, conninfo, err);
	if (rc)
		return rc;
	return co_pg_reports_new(out, pg, err);
}
