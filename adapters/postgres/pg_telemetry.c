/* pg_telemetry.c — the telemetry domain stored in Postgres.
 *
 * Fills the cutover_telemetry table over operations.telemetry_events and
 * operations.incidents (migrations/0002_telemetry.sql). Every value is a
 * parameter: a batch of events travels as one jsonb parameter expanded by
 * jsonb_to_recordset (payloads inside it as JSON, not text), id lists as
 * int8[] text, timestamps as ISO-8601; timestamps come back as exact
 * microseconds, payloads as jsonb text put back into the canonical form
 * (core's co_payload_canonical), so both stores hand back the same bytes.
 *
 * The answers must match the JSON backend call for call, so the order of
 * the checks is spelled out: an append checks its incident references, then
 * its explicit ids, before it takes any sequence value (a refused append
 * burns no id), takes the ids it assigns in input order, and moves the
 * sequence past an explicit id (the JSON store's counter does the same).
 * The state machine is core's co_incident_move_check, and the UPDATE that
 * moves an incident guards it again (WHERE state = the state read AND the
 * pair is an allowed move), so a concurrent move or a direct caller cannot
 * slip an illegal one past it; the table's CHECK keeps resolved_at set
 * exactly when resolved. put_events / put_incident are replication: rows
 * exactly as given, moving the id sequences past the ids put (the JSON
 * store's counter does the same), so a process that reaches live never
 * draws an id the JSON store handed out; an event row is never replaced by
 * one with another occurred_at (another event), and an incident row never
 * by an older copy (co_incident_newer).
 *
 * The event query is one constant statement: the unset filters are NULL
 * parameters, which the planner folds away for the custom plan libpq's
 * unnamed statements get, leaving a range scan of
 * telemetry_events_occurred_idx (occurred_at, id), or of
 * telemetry_events_incident_idx for an incident's events, in index order
 * (tests/test_telemetry_stores.c EXPLAINs it).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "telemetry_int.h"

typedef struct pg_telemetry {
	cutover_telemetry base; /* first: the table the app holds */
	co_pg *pg;
} pg_telemetry;

static co_pg *PG(cutover_telemetry *s)
{
	return ((pg_telemetry *)s)->pg;
}

/* --- SQL ------------------------------------------------------------------ */

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"
#define EV_COLS                                                                                                       \
	"e.id, " US("e.occurred_at") ", e.source_ip, e.region, e.node, e.attack_type, e.severity, e.payload::text, " \
	"e.incident_id"
#define INC_COLS "i.id, i.title, i.state, i.severity, " US("i.opened_at") ", " US("i.resolved_at") ", " US("i.updated_at")

const char co_pg_events_query_sql[] =
    "SELECT " EV_COLS " FROM operations.telemetry_events e"
    " WHERE ($1::timestamptz IS NULL OR e.occurred_at >= $1::timestamptz)"
    " AND ($2::timestamptz IS NULL OR e.occurred_at < $2::timestamptz)"
    " AND ($3::text IS NULL OR e.region = $3::text)"
    " AND ($4::text IS NULL OR e.severity = $4::text)"
    " AND ($5::text IS NULL OR e.attack_type = $5::text)"
    " AND ($6::int8 IS NULL OR e.incident_id = $6::int8)"
    " AND ($7::timestamptz IS NULL OR (e.occurred_at, e.id) > ($7::timestamptz, $8::int8))"
    " ORDER BY e.occurred_at, e.id LIMIT $9::int";

#define EVENT_RECORDSET                                                                                         \
	" SELECT r.id, r.occurred_at, r.source_ip, r.region, r.node, r.attack_type, r.severity, r.payload,"     \
	" r.incident_id FROM jsonb_to_recordset($1::jsonb) AS r(id int8, occurred_at timestamptz, source_ip text," \
	" region text, node text, attack_type text, severity text, payload jsonb, incident_id int8)"
#define EVENT_INSERT                                                                                          \
	"INSERT INTO operations.telemetry_events AS e (id, occurred_at, source_ip, region, node, attack_type,"  \
	" severity, payload, incident_id)" EVENT_RECORDSET

static const char SQL_INSERT_EVENTS[] = EVENT_INSERT " RETURNING " EV_COLS;
static const char SQL_UPSERT_EVENTS[] =
    EVENT_INSERT " ON CONFLICT (id) DO UPDATE SET source_ip = EXCLUDED.source_ip, region = EXCLUDED.region,"
		 " node = EXCLUDED.node, attack_type = EXCLUDED.attack_type, severity = EXCLUDED.severity,"
		 " payload = EXCLUDED.payload, incident_id = EXCLUDED.incident_id"
		 " WHERE e.occurred_at = EXCLUDED.occurred_at" /* never another event: no row then */
		 " RETURNING e.id";
static const char SQL_DANGLING[] =
    "SELECT u.x FROM unnest($1::int8[]) WITH ORDINALITY AS u(x, n)"
    " WHERE NOT EXISTS (SELECT 1 FROM operations.incidents i WHERE i.id = u.x) ORDER BY u.n LIMIT 1";
static const char SQL_TAKEN[] =
    "SELECT u.x FROM unnest($1::int8[]) WITH ORDINALITY AS u(x, n)"
    " WHERE EXISTS (SELECT 1 FROM operations.telemetry_events e WHERE e.id = u.x) ORDER BY u.n LIMIT 1";
static const char SQL_NEXTVALS[] =
    "SELECT nextval('operations.telemetry_events_id_seq') FROM generate_series(1, $1::int)";
/* Keep a sequence past an explicitly chosen id, as the JSON store's counter is. */
static const char SQL_ADVANCE_EVENTS_SEQ[] =
    "SELECT setval('operations.telemetry_events_id_seq', $1::int8) FROM operations.telemetry_events_id_seq"
    " WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";
static const char SQL_ADVANCE_INCIDENTS_SEQ[] =
    "SELECT setval('operations.incidents_id_seq', $1::int8) FROM operations.incidents_id_seq"
    " WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";
static const char SQL_EVENTS_BY_ID[] =
    "SELECT " EV_COLS " FROM operations.telemetry_events e WHERE e.id = ANY($1::int8[]) ORDER BY e.id";
static const char SQL_LINK[] =
    "UPDATE operations.telemetry_events AS e SET incident_id = $2::int8 WHERE e.id = $1::int8 RETURNING " EV_COLS;

#define INCIDENT_INSERT \
	"INSERT INTO operations.incidents AS i (id, title, state, severity, opened_at, resolved_at, updated_at) VALUES ("
#define INCIDENT_VALUES "$2, $3, $4, $5::timestamptz, $6::timestamptz, $7::timestamptz)"
/* id 0 takes the next sequence value (nextval is only evaluated then). */
static const char SQL_INSERT_INCIDENT[] =
    INCIDENT_INSERT "CASE WHEN $1::int8 > 0 THEN $1::int8 ELSE nextval('operations.incidents_id_seq') END, "
		    INCIDENT_VALUES " RETURNING " INC_COLS;
static const char SQL_INSERT_INCIDENT_IF_NEW[] =
    INCIDENT_INSERT "$1::int8, " INCIDENT_VALUES " ON CONFLICT (id) DO NOTHING RETURNING i.id";
static const char SQL_LOCK_INCIDENT[] = "SELECT " INC_COLS " FROM operations.incidents i WHERE i.id = $1::int8 FOR UPDATE";
static const char SQL_REPLACE_INCIDENT[] =
    "UPDATE operations.incidents AS i SET title = $2, state = $3, severity = $4, opened_at = $5::timestamptz,"
    " resolved_at = $6::timestamptz, updated_at = $7::timestamptz WHERE i.id = $1::int8";
static const char SQL_INCIDENT_EXISTS[] = "SELECT 1 FROM operations.incidents WHERE id = $1::int8";
static const char SQL_GET_INCIDENT[] = "SELECT " INC_COLS " FROM operations.incidents i WHERE i.id = $1::int8";
/* The move again, guarded: only from the state (and stamp) that was read,
 * only an allowed pair. $5 is co_ts_advance(the stamp read, now). */
static const char SQL_TRANSITION[] =
    "UPDATE operations.incidents AS i SET state = $3::text,"
    " resolved_at = CASE WHEN $3::text = 'resolved' THEN $4::timestamptz END, updated_at = $5::timestamptz"
    " WHERE i.id = $1::int8 AND i.state = $2::text AND i.updated_at IS NOT DISTINCT FROM $6::timestamptz"
    " AND ($2::text, $3::text) IN"
    " (('open', 'investigating'), ('investigating', 'contained'), ('contained', 'resolved'), ('resolved', 'open'))"
    " RETURNING " INC_COLS;

/* --- parameters and statements ---------------------------------------------- */

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

static void tx_abort(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
}

/* What telemetry's constraints mean, for error messages. */
static const co_pg_constraint constraint_list[] = {
	{"telemetry_events_pkey", "an event id is already taken"},
	{"telemetry_events_incident_id_fkey", "an incident_id does not exist"},
	{"telemetry_events_severity_check", "severity must be low, medium, high or critical"},
	{"telemetry_events_payload_check", "the payload must be a JSON object"},
	{"telemetry_events_id_check", "event ids must be greater than 0"},
	{"incidents_pkey", "the incident id is already taken"},
	{"incidents_state_check", "state must be open, investigating, contained or resolved"},
	{"incidents_severity_check", "severity must be low, medium, high or critical"},
	{"incidents_resolved_at_check", "an incident has resolved_at exactly when it is resolved"},
	{"incidents_title_check", "the title must not be empty"},
	{"incidents_id_check", "incident ids must be greater than 0"},
};
static const co_pg_constraints constraints = {constraint_list, sizeof constraint_list / sizeof constraint_list[0]};

static PGconn *tx_begin(co_pg *pg, const char *what, cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);
	if (!c) {
		co_pg_prefix_error(err, what);
		return NULL;
	}
	tx_abort(c); /* never join a transaction someone left open */
	return co_pg_run_cmd(pg, &constraints, what, "BEGIN", 0, NULL, 0, err) == CUTOVER_OK ? c : NULL;
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

static bool col_str(const PGresult *r, int row, int col, char **out)
{
	*out = PQgetisnull(r, row, col) ? NULL : co_strdup(PQgetvalue(r, row, col));
	return PQgetisnull(r, row, col) || *out;
}

/* Row -> event (EV_COLS); the payload put back in canonical form. */
static int decode_event(const PGresult *r, int row, cutover_event *e, cutover_error *err)
{
	memset(e, 0, sizeof(*e));
	e->id = col_i64(r, row, 0);
	e->occurred_at = col_ts(r, row, 1);
	e->incident_id = col_i64(r, row, 8);
	if (!col_str(r, row, 2, &e->source_ip) || !col_str(r, row, 3, &e->region) || !col_str(r, row, 4, &e->node) ||
	    !col_str(r, row, 5, &e->attack_type) || !col_str(r, row, 6, &e->severity)) {
		co_event_clear(e);
		return co_err_oom(err);
	}
	int rc = co_payload_canonical(PQgetvalue(r, row, 7), &e->payload, err);
	if (rc) {
		co_event_clear(e);
		if (rc != CUTOVER_EINTERNAL) {
			char why[sizeof err->message];
			snprintf(why, sizeof why, "%s", err->message);
			co_err(err, CUTOVER_ECORRUPT, "event %lld: the stored payload cannot be read back (%s)",
			       (long long)col_i64(r, row, 0), why);
		}
		return rc == CUTOVER_EINTERNAL ? rc : CUTOVER_ECORRUPT;
	}
	return CUTOVER_OK;
}

static cutover_incident *decode_incident(const PGresult *r, int row)
{
	cutover_incident *i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->id = col_i64(r, row, 0);
	i->opened_at = col_ts(r, row, 4);
	i->resolved_at = col_ts(r, row, 5);
	i->updated_at = col_ts(r, row, 6);
	if (!col_str(r, row, 1, &i->title) || !col_str(r, row, 2, &i->state) || !col_str(r, row, 3, &i->severity)) {
		cutover_incident_free(i);
		return NULL;
	}
	return i;
}

/* --- events ------------------------------------------------------------------------ */

/* "{1,2,3}" of the non-zero values of ids (an int8[] literal of our own numbers). */
static void id_array(co_buf *b, const int64_t *ids, size_t n)
{
	co_buf_put(b, "{", 1);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] <= 0)
			continue;
		co_buf_printf(b, "%s%" PRId64, first ? "" : ",", ids[i]);
		first = false;
	}
	co_buf_put(b, "}", 1);
}

/* The batch as one JSON array for jsonb_to_recordset; ids[i] replaces ev[i].id. */
static char *events_json(const cutover_event *ev, const int64_t *ids, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	bool ok = arr != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		const cutover_event *e = &ev[i];
		tstext ts;
		cJSON *o = cJSON_CreateObject();
		ok = o && cJSON_AddItemToArray(arr, o) && co_pg_json_add_int(o, "id", ids[i]) &&
		     cJSON_AddStringToObject(o, "occurred_at", cutover_ts_format(e->occurred_at, ts, sizeof ts)) &&
		     (e->source_ip ? cJSON_AddStringToObject(o, "source_ip", e->source_ip) != NULL : true) &&
		     (e->region ? cJSON_AddStringToObject(o, "region", e->region) != NULL : true) &&
		     (e->node ? cJSON_AddStringToObject(o, "node", e->node) != NULL : true) &&
		     (e->attack_type ? cJSON_AddStringToObject(o, "attack_type", e->attack_type) != NULL : true) &&
		     cJSON_AddStringToObject(o, "severity", e->severity) &&
		     cJSON_AddRawToObject(o, "payload", e->payload ? e->payload : "{}") &&
		     (e->incident_id > 0 ? co_pg_json_add_int(o, "incident_id", e->incident_id)
					 : true);
	}
	char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	return text;
}

/* The first value of a one-column answer as an id; 0 when no row; -1 on failure. */
static int64_t first_id(co_pg *pg, const char *what, const char *sql, const char *param, cutover_error *err)
{
	const char *p[1] = {param};
	PGresult *r = co_pg_run(pg, &constraints, what, sql, 1, p, 0, err);
	if (!r)
		return -1;
	int64_t v = PQntuples(r) ? col_i64(r, 0, 0) : 0;
	PQclear(r);
	return v;
}

/* Dangling incident references, then taken explicit ids: CUTOVER_EINVALID /
 * CUTOVER_ECONFLICT naming the first in input order. */
static int check_refs(co_pg *pg, const char *what, const cutover_event *ev, size_t n, bool check_taken,
		      cutover_error *err)
{
	int64_t *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return co_err_oom(err);
	bool any_ref = false, any_id = false;
	for (size_t i = 0; i < n; i++)
		any_ref |= ev[i].incident_id > 0;
	int rc = CUTOVER_OK;
	if (any_ref) {
		co_buf b = {0};
		for (size_t i = 0; i < n; i++)
			v[i] = ev[i].incident_id;
		id_array(&b, v, n);
		int64_t bad = b.failed ? -1 : first_id(pg, what, SQL_DANGLING, b.data, err);
		co_buf_free(&b);
		if (bad < 0) {
			rc = b.failed ? co_err_oom(err) : err->code;
		} else if (bad > 0) {
			co_err(err, CUTOVER_EINVALID, "%s: incident_id %lld does not exist", what, (long long)bad);
			co_err_detail(err, "an event's incident must be a row of operations.incidents");
			co_err_hint(err, "create the incident first, or leave incident_id 0");
			rc = CUTOVER_EINVALID;
		}
	}
	for (size_t i = 0; check_taken && i < n; i++)
		any_id |= ev[i].id > 0;
	if (rc == CUTOVER_OK && any_id) {
		co_buf b = {0};
		for (size_t i = 0; i < n; i++)
			v[i] = ev[i].id;
		id_array(&b, v, n);
		int64_t bad = b.failed ? -1 : first_id(pg, what, SQL_TAKEN, b.data, err);
		co_buf_free(&b);
		if (bad < 0) {
			rc = b.failed ? co_err_oom(err) : err->code;
		} else if (bad > 0) {
			co_err(err, CUTOVER_ECONFLICT, "%s: event id %lld already exists", what, (long long)bad);
			co_err_hint(err, "leave id 0 to have one assigned");
			rc = CUTOVER_ECONFLICT;
		}
	}
	free(v);
	return rc;
}

static int cmp_row_id(const void *a, const void *b)
{
	int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
	return x < y ? -1 : x > y;
}

static int pg_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in, size_t n,
			    cutover_error *err)
{
	static const char W[] = "append events";
	co_pg *pg = PG(s);
	out->items = NULL;
	out->n = 0;
	int64_t *ids = calloc(n, sizeof(*ids)), (*rows)[2] = calloc(n, sizeof(*rows));
	char *json = NULL;
	PGresult *r = NULL;
	int rc = (!ids || !rows) ? co_err_oom(err) : CUTOVER_OK;
	PGconn *c = rc ? NULL : tx_begin(pg, W, err);
	if (rc == CUTOVER_OK && !c)
		rc = err->code;
	if (rc == CUTOVER_OK)
		rc = check_refs(pg, W, in, n, true, err);
	/* ids to assign, taken in input order */
	size_t need = 0;
	int64_t max_explicit = 0;
	for (size_t i = 0; i < n; i++) {
		need += in[i].id == 0;
		if (in[i].id > max_explicit)
			max_explicit = in[i].id;
	}
	if (rc == CUTOVER_OK && need) {
		char cnt[24];
		snprintf(cnt, sizeof cnt, "%zu", need);
		const char *p[1] = {cnt};
		PGresult *q = co_pg_run(pg, &constraints, W, SQL_NEXTVALS, 1, p, 0, err);
		if (!q) {
			rc = err->code;
		} else {
			int64_t *seq = malloc(need * sizeof(*seq));
			if (!seq) {
				rc = co_err_oom(err);
			} else {
				for (size_t k = 0; k < need; k++)
					seq[k] = col_i64(q, (int)k, 0);
				qsort(seq, need, sizeof(*seq), cmp_row_id);
				for (size_t i = 0, k = 0; i < n; i++)
					ids[i] = in[i].id > 0 ? in[i].id : seq[k++];
				free(seq);
			}
			PQclear(q);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			ids[i] = in[i].id;
	}
	if (rc == CUTOVER_OK && !(json = events_json(in, ids, n)))
		rc = co_err_oom(err);
	if (rc == CUTOVER_OK) {
		const char *p[1] = {json};
		if (!(r = co_pg_run(pg, &constraints, W, SQL_INSERT_EVENTS, 1, p, 0, err)))
			rc = err->code;
	}
	if (rc == CUTOVER_OK && max_explicit > 0) {
		idtext b;
		const char *p[1] = {id_param(max_explicit, b)};
		rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_EVENTS_SEQ, 1, p, 0, err);
	}
	/* hand back the rows as stored, in input order */
	if (rc == CUTOVER_OK && PQntuples(r) != (int)n)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: %d rows stored for %zu events", W, PQntuples(r), n);
	if (rc == CUTOVER_OK && !(out->items = calloc(n, sizeof(*out->items))))
		rc = co_err_oom(err);
	if (rc == CUTOVER_OK) {
		for (size_t k = 0; k < n; k++) {
			rows[k][0] = col_i64(r, (int)k, 0);
			rows[k][1] = (int64_t)k;
		}
		qsort(rows, n, sizeof(*rows), cmp_row_id);
		for (size_t i = 0; rc == CUTOVER_OK && i < n; i++) {
			int64_t key[2] = {ids[i], 0};
			int64_t(*hit)[2] = bsearch(key, rows, n, sizeof(*rows), cmp_row_id);
			if (!hit)
				rc = co_err(err, CUTOVER_EINTERNAL, "%s: event %lld was not stored", W, (long long)ids[i]);
			else if ((rc = decode_event(r, (int)(*hit)[1], &out->items[i], err)) == CUTOVER_OK)
				out->n++;
		}
	}
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, W, "COMMIT", 0, NULL, 0, err);
	if (rc) {
		tx_abort(c);
		cutover_event_list_free(out);
	}
	PQclear(r);
	cJSON_free(json);
	free(ids);
	free(rows);
	return rc;
}

static int pg_put_events(cutover_telemetry *s, const cutover_event *ev, size_t n, cutover_error *err)
{
	static const char W[] = "put events";
	co_pg *pg = PG(s);
	if (n == 0)
		return CUTOVER_OK;
	int64_t *ids = malloc(n * sizeof(*ids));
	if (!ids)
		return co_err_oom(err);
	for (size_t i = 0; i < n; i++) {
		if (ev[i].id <= 0 || !ev[i].severity) {
			free(ids);
			return co_err(err, CUTOVER_EINVALID, "%s: event %zu needs an id and a severity", W, i + 1);
		}
		ids[i] = ev[i].id;
	}
	char *json = events_json(ev, ids, n);
	PGconn *c = json ? tx_begin(pg, W, err) : NULL;
	int rc = !json ? co_err_oom(err) : !c ? err->code : check_refs(pg, W, ev, n, false, err);
	PGresult *r = NULL;
	if (rc == CUTOVER_OK) {
		const char *p[1] = {json};
		if (!(r = co_pg_run(pg, &constraints, W, SQL_UPSERT_EVENTS, 1, p, 0, err)))
			rc = err->code;
	}
	if (rc == CUTOVER_OK && PQntuples(r) != (int)n) {
		/* the first event whose row belongs to another event */
		int64_t(*rows)[2] = calloc(n, sizeof(*rows));
		int64_t other = 0;
		if (rows) {
			for (int k = 0; k < PQntuples(r); k++)
				rows[k][0] = col_i64(r, k, 0);
			qsort(rows, (size_t)PQntuples(r), sizeof(*rows), cmp_row_id);
			for (size_t i = 0; i < n && !other; i++) {
				int64_t key[2] = {ids[i], 0};
				if (!bsearch(key, rows, (size_t)PQntuples(r), sizeof(*rows), cmp_row_id))
					other = ids[i];
			}
			free(rows);
		}
		rc = co_err(err, CUTOVER_ECONFLICT, "%s: event %lld exists with another occurred_at; not replaced", W,
			    (long long)other);
	}
	if (rc == CUTOVER_OK) { /* past every id put, so a process in live never draws one */
		int64_t max = 0;
		for (size_t i = 0; i < n; i++)
			max = ids[i] > max ? ids[i] : max;
		idtext b;
		const char *p[1] = {id_param(max, b)};
		rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_EVENTS_SEQ, 1, p, 0, err);
	}
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, W, "COMMIT", 0, NULL, 0, err);
	if (rc)
		tx_abort(c);
	PQclear(r);
	cJSON_free(json);
	free(ids);
	return rc;
}

static int pg_query_events(cutover_telemetry *s, cutover_event_page *out, const cutover_event_query *q,
			   cutover_error *err)
{
	static const char W[] = "query events";
	cutover_ts cts;
	int64_t cid;
	bool first;
	int rc = co_cursor_parse(q->cursor, &cts, &cid, &first, err);
	if (rc)
		return rc;
	tstext from, to, cur;
	idtext inc, curid;
	char lim[24];
	snprintf(lim, sizeof lim, "%zu", q->limit + 1);
	const char *p[9] = {ts_param(q->from, from), ts_param(q->to, to), q->region, q->severity, q->attack_type,
			    ref_param(q->incident_id, inc), first ? NULL : ts_param(cts, cur),
			    first ? NULL : id_param(cid, curid), lim};
	PGresult *r = co_pg_run(PG(s), &constraints, W, co_pg_events_query_sql, 9, p, 0, err);
	if (!r)
		return err->code;
	size_t rows = (size_t)PQntuples(r), take = rows > q->limit ? q->limit : rows;
	if (take && !(out->items = calloc(take, sizeof(*out->items)))) {
		PQclear(r);
		return co_err_oom(err);
	}
	for (size_t i = 0; rc == CUTOVER_OK && i < take; i++)
		if ((rc = decode_event(r, (int)i, &out->items[i], err)) == CUTOVER_OK)
			out->n++;
	PQclear(r);
	if (rc) {
		cutover_event_page_free(out);
		return rc;
	}
	if (rows > q->limit)
		co_cursor_format(out->items[take - 1].occurred_at, out->items[take - 1].id, out->next_cursor);
	return CUTOVER_OK;
}

static int pg_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id, int64_t incident_id,
			 cutover_error *err)
{
	static const char W[] = "link event";
	co_pg *pg = PG(s);
	idtext eb, ib;
	if (out)
		*out = NULL;
	if (incident_id > 0) {
		const char *p[1] = {id_param(incident_id, ib)};
		PGresult *r = co_pg_run(pg, &constraints, W, SQL_INCIDENT_EXISTS, 1, p, 0, err);
		if (!r)
			return err->code;
		bool found = PQntuples(r) > 0;
		PQclear(r);
		if (!found) {
			co_err(err, CUTOVER_EINVALID, "%s: incident_id %lld does not exist", W, (long long)incident_id);
			co_err_detail(err, "an event's incident must be a row of operations.incidents");
			co_err_hint(err, "create the incident first, or pass 0 to unlink the event");
			return CUTOVER_EINVALID;
		}
	}
	const char *p[2] = {id_param(event_id, eb), ref_param(incident_id, ib)};
	PGresult *r = co_pg_run(pg, &constraints, W, SQL_LINK, 2, p, 0, err);
	if (!r)
		return err->code;
	int rc = CUTOVER_OK;
	if (PQntuples(r) == 0) {
		rc = co_err(err, CUTOVER_ENOTFOUND, "%s: event %lld not found", W, (long long)event_id);
	} else if (out) {
		cutover_event *e = malloc(sizeof(*e));
		if (!e)
			rc = co_err_oom(err);
		else if ((rc = decode_event(r, 0, e, err)))
			free(e);
		else
			*out = e;
	}
	PQclear(r);
	return rc;
}

/* --- incidents -------------------------------------------------------------------- */

typedef struct incident_params {
	const char *v[7];
	idtext id;
	tstext opened, resolved, updated;
} incident_params;

static void incident_params_fill(incident_params *p, const cutover_incident *i)
{
	p->v[0] = id_param(i->id, p->id);
	p->v[1] = i->title;
	p->v[2] = i->state;
	p->v[3] = i->severity;
	p->v[4] = ts_param(i->opened_at, p->opened);
	p->v[5] = ts_param(i->resolved_at, p->resolved);
	p->v[6] = ts_param(i->updated_at, p->updated);
}

/* One incident from a query; ENOTFOUND (err untouched) when none. */
static int one_incident(PGresult *r, cutover_incident **out, cutover_error *err)
{
	if (PQntuples(r) == 0)
		return CUTOVER_ENOTFOUND;
	*out = decode_incident(r, 0);
	return *out ? CUTOVER_OK : co_err_oom(err);
}

static int pg_create_incident(cutover_telemetry *s, cutover_incident **out, const cutover_incident *in,
			      cutover_error *err)
{
	static const char W[] = "create incident";
	co_pg *pg = PG(s);
	*out = NULL;
	if (!in || !in->title || !in->state || !in->severity)
		return co_err(err, CUTOVER_EINVALID, "%s: title, state and severity are required", W);
	incident_params ip;
	incident_params_fill(&ip, in);
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	int rc = CUTOVER_OK;
	if (in->id > 0) {
		/* refuse before the insert, naming the id, as the JSON store does */
		PGresult *r = co_pg_run(pg, &constraints, W, SQL_INCIDENT_EXISTS, 1, ip.v, 0, err);
		if (!r)
			rc = err->code;
		else if (PQntuples(r) > 0)
			rc = co_err(err, CUTOVER_ECONFLICT, "%s: incident id %lld already taken", W, (long long)in->id);
		PQclear(r);
	}
	PGresult *r = rc ? NULL : co_pg_run(pg, &constraints, W, SQL_INSERT_INCIDENT, 7, ip.v, 0, err);
	if (rc == CUTOVER_OK && !r) {
		rc = err->code;
		if (in->id == 0 && rc == CUTOVER_ECONFLICT && strstr(err->detail, "incidents_pkey")) {
			rc = co_err(err, CUTOVER_ESTATE, "%s: the id sequence operations.incidents_id_seq is behind the table", W);
			co_err_hint(err, "repair it with: %s", co_pg_repair_sql("operations.incidents"));
		}
	}
	if (rc == CUTOVER_OK && (rc = one_incident(r, out, err)) == CUTOVER_ENOTFOUND)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: the insert returned no row", W);
	PQclear(r);
	if (rc == CUTOVER_OK && in->id > 0)
		rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_INCIDENTS_SEQ, 1, ip.v, 0, err);
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, W, "COMMIT", 0, NULL, 0, err);
	if (rc) {
		tx_abort(c);
		cutover_incident_free(*out);
		*out = NULL;
	}
	return rc;
}

static int pg_get_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, cutover_error *err)
{
	idtext b;
	const char *p[1] = {id_param(id, b)};
	*out = NULL;
	PGresult *r = co_pg_run(PG(s), &constraints, "get incident", SQL_GET_INCIDENT, 1, p, 0, err);
	if (!r)
		return err->code;
	int rc = one_incident(r, out, err);
	PQclear(r);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, rc, "get incident: incident %lld not found", (long long)id);
	return rc;
}

static int pg_transition_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, const char *to,
				  cutover_ts now, cutover_error *err)
{
	static const char W[] = "transition incident";
	co_pg *pg = PG(s);
	*out = NULL;
	/* read, decide (core's state machine), move only from what was read;
	 * a concurrent move in between makes the guarded UPDATE miss: read again */
	for (int attempt = 0; attempt < 5; attempt++) {
		cutover_incident *cur = NULL;
		int rc = pg_get_incident(s, &cur, id, err);
		if (rc == CUTOVER_ENOTFOUND)
			return co_err(err, rc, "%s: incident %lld not found", W, (long long)id);
		if (rc)
			return rc;
		rc = co_incident_move_check(id, cur->state, to, err);
		if (rc) {
			cutover_incident_free(cur);
			return rc;
		}
		idtext ib;
		tstext nb, ub, rb;
		const char *p[6] = {id_param(id, ib), cur->state, to, ts_param(now, nb),
				    ts_param(co_ts_advance(cur->updated_at, now), ub), ts_param(cur->updated_at, rb)};
		PGresult *r = co_pg_run(pg, &constraints, W, SQL_TRANSITION, 6, p, 0, err);
		cutover_incident_free(cur);
		if (!r)
			return err->code;
		rc = one_incident(r, out, err);
		PQclear(r);
		if (rc != CUTOVER_ENOTFOUND)
			return rc;
	}
	return co_err(err, CUTOVER_EBUSY, "%s: incident %lld kept changing while it was being moved", W, (long long)id);
}

/* Replication, in one transaction: a new id is inserted; an existing row is
 * locked and the stored copy decides: another incident (another opened_at)
 * is CUTOVER_ECONFLICT, a newer one (co_incident_newer) is kept and the put
 * succeeds without writing. The sequence moves past the id, so a process in
 * live never draws an id the JSON store handed out. */
static int pg_put_incident(cutover_telemetry *s, const cutover_incident *inc, cutover_error *err)
{
	static const char W[] = "put incident";
	co_pg *pg = PG(s);
	if (!inc || inc->id <= 0 || !inc->title || !inc->state || !inc->severity)
		return co_err(err, CUTOVER_EINVALID, "put incident needs an id > 0, a title, a state and a severity");
	incident_params ip;
	incident_params_fill(&ip, inc);
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	int rc = CUTOVER_OK;
	PGresult *r = co_pg_run(pg, &constraints, W, SQL_INSERT_INCIDENT_IF_NEW, 7, ip.v, 0, err);
	if (!r)
		rc = err->code;
	bool inserted = r && PQntuples(r) > 0;
	PQclear(r);
	if (rc == CUTOVER_OK && !inserted) {
		cutover_incident *cur = NULL;
		if (!(r = co_pg_run(pg, &constraints, W, SQL_LOCK_INCIDENT, 1, ip.v, 0, err)))
			rc = err->code;
		else if ((rc = one_incident(r, &cur, err)) == CUTOVER_ENOTFOUND)
			rc = co_err(err, CUTOVER_EINTERNAL, "%s: incident %lld vanished while being written", W,
				    (long long)inc->id);
		PQclear(r);
		if (rc == CUTOVER_OK && cur->opened_at != inc->opened_at) {
			co_err(err, CUTOVER_ECONFLICT, "%s: incident %lld exists with another opened_at; not replaced", W,
			       (long long)inc->id);
			co_err_hint(err, "compare the two copies of incident %lld and repair by hand", (long long)inc->id);
			rc = CUTOVER_ECONFLICT;
		}
		bool newer = rc == CUTOVER_OK && co_incident_newer(cur, inc);
		cutover_incident_free(cur);
		if (newer) { /* a newer state is stored: nothing to write */
			tx_abort(c);
			return CUTOVER_OK;
		}
		if (rc == CUTOVER_OK)
			rc = co_pg_run_cmd(pg, &constraints, W, SQL_REPLACE_INCIDENT, 7, ip.v, 0, err);
	}
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_INCIDENTS_SEQ, 1, ip.v, 0, err);
	if (rc == CUTOVER_OK)
		rc = co_pg_run_cmd(pg, &constraints, W, "COMMIT", 0, NULL, 0, err);
	if (rc)
		tx_abort(c);
	return rc;
}

/* --- internal: events by id (reconcile) -------------------------------------------------- */

int co_pg_telemetry_get_events(cutover_telemetry *s, const int64_t *ids, size_t n, cutover_event_list *out,
			       cutover_error *err)
{
	static const char W[] = "get events";
	memset(out, 0, sizeof(*out));
	if (!s || !s->kind || strcmp(s->kind, "postgres") != 0)
		return co_err(err, CUTOVER_EINTERNAL, "%s: not a postgres telemetry handle", W);
	if (n == 0)
		return CUTOVER_OK;
	co_buf arr = {0};
	id_array(&arr, ids, n);
	if (arr.failed) {
		co_buf_free(&arr);
		return co_err_oom(err);
	}
	const char *p[1] = {arr.data};
	PGresult *r = co_pg_run(PG(s), &constraints, W, SQL_EVENTS_BY_ID, 1, p, 0, err);
	co_buf_free(&arr);
	if (!r)
		return err->code;
	size_t rows = (size_t)PQntuples(r);
	int rc = CUTOVER_OK;
	if (rows && !(out->items = calloc(rows, sizeof(*out->items))))
		rc = co_err_oom(err);
	for (size_t i = 0; rc == CUTOVER_OK && i < rows; i++)
		if ((rc = decode_event(r, (int)i, &out->items[i], err)) == CUTOVER_OK)
			out->n++;
	PQclear(r);
	if (rc)
		cutover_event_list_free(out);
	return rc;
}

/* --- the handle ------------------------------------------------------------------------ */

static void pg_free(cutover_telemetry *s)
{
	pg_telemetry *pt = (pg_telemetry *)s;
	if (!pt)
		return;
	co_pg_close(pt->pg);
	free(pt);
}

int co_pg_telemetry_new(cutover_telemetry **out, co_pg *pg, cutover_error *err)
{
	*out = NULL;
	if (!pg)
		return co_err(err, CUTOVER_EINTERNAL, "postgres telemetry: no connection");
	pg_telemetry *pt = calloc(1, sizeof(*pt));
	if (!pt) {
		co_pg_close(pg);
		return co_err_oom(err);
	}
	pt->pg = pg;
	pt->base = (cutover_telemetry){
		.version = CUTOVER_TELEMETRY_VERSION,
		.kind = "postgres",
		.append_events = pg_append_events,
		.query_events = pg_query_events,
		.create_incident = pg_create_incident,
		.get_incident = pg_get_incident,
		.transition_incident = pg_transition_incident,
		.link_event = pg_link_event,
		.put_events = pg_put_events,
		.put_incident = pg_put_incident,
		.free = pg_free,
	};
	*out = &pt->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_telemetry_postgres(cutover_telemetry **out, const char *conninfo, cutover_error *err)
{
	co_pg *pg = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "open postgres telemetry: no out parameter");
	*out = NULL;
	int rc = co_pg_connect(&pg, conninfo, err);
	if (rc)
		return rc;
	return co_pg_telemetry_new(out, pg, err);
}
