/* pg_identity.c — the identity domain stored in Postgres.
 *
 * Fills the cutover_identity table over identity.users, identity.user_oauth
 * and identity.sessions (migrations/0001_identity.sql). Every value travels
 * as a text parameter: ids as decimal, timestamps as ISO-8601 from
 * cutover_ts_format, and timestamps come back as exact microseconds
 * (extract(epoch ...) is numeric since PG14). A user is read with its oauth
 * links in one LEFT JOIN ordered by (id, position), so a list is one query.
 *
 * The answers must match the JSON backend call for call (a conformance suite
 * compares them), so the rules are spelled out here rather than left to the
 * database: create_user checks id, email and oauth links before inserting,
 * so a refused create does not burn a sequence value; an explicit id moves
 * the sequence past it (the JSON store's next id is max(id) + 1); update_user
 * applies the shared co_user_apply_patch to a row locked FOR UPDATE.
 * put_user / put_session are replication: the record exactly as given, no
 * sequence side effect (sequence health and `cutover status` cover that);
 * put_user never replaces a row that holds another email (another user).
 *
 * Failures name the operation and the kind of key that clashed ("create
 * user: email already taken") from the constraint name; they never quote a
 * password hash or a token hash, and Postgres's DETAIL (which quotes row
 * values) is never copied.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

typedef struct pg_identity {
	cutover_identity base; /* first: the table the app holds */
	co_pg *pg;
} pg_identity;

static co_pg *PG(cutover_identity *s)
{
	return ((pg_identity *)s)->pg;
}

/* Callers may pass err == NULL; give every entry point somewhere to write. */
#define LOCAL_ERR(err)                                   \
	cutover_error err##_local_;                          \
	if (!(err)) {                                        \
		memset(&err##_local_, 0, sizeof err##_local_);   \
		(err) = &err##_local_;                           \
	}

/* --- SQL ------------------------------------------------------------------ */

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

#define USER_COLS                                                                          \
	"u.id, u.email, u.username, u.display_name, u.password_hash, u.role, " US(             \
	    "u.email_verified_at") ", u.disabled, " US("u.created_at") ", " US("u.updated_at") \
	    ", o.provider, o.subject"
#define USER_NCOLS 12 /* including provider, subject */
#define USER_FROM " FROM identity.users u LEFT JOIN identity.user_oauth o ON o.user_id = u.id"
#define SELECT_USER "SELECT " USER_COLS USER_FROM

#define SESSION_COLS                                                                                  \
	"s.token_hash, s.user_id, " US("s.created_at") ", " US("s.expires_at") ", " US("s.last_seen_at") \
	    ", s.user_agent, s.ip"
#define SESSION_NCOLS 7

/* $1 id, $2 email, $3 username, $4 display_name, $5 password_hash, $6 role,
 * $7 email_verified_at, $8 disabled, $9 created_at, $10 updated_at */
#define USER_PARAMS 10
#define USER_VALUES "$2, $3, $4, $5, $6, $7::timestamptz, $8::boolean, $9::timestamptz, $10::timestamptz"
#define USER_INSERT_COLS \
	"email, username, display_name, password_hash, role, email_verified_at, disabled, created_at, updated_at"

/* id 0 takes the next sequence value (nextval is only evaluated then). */
static const char SQL_INSERT_USER[] =
    "INSERT INTO identity.users (id, " USER_INSERT_COLS ") VALUES ("
    "CASE WHEN $1::int8 > 0 THEN $1::int8 ELSE nextval('identity.users_id_seq') END, " USER_VALUES ") "
    "RETURNING id";
/* put: a row that is not there yet; 0 rows when one is (or has just been
 * committed by a concurrent put: the insert waits for it). */
static const char SQL_INSERT_USER_IF_NEW[] =
    "INSERT INTO identity.users (id, " USER_INSERT_COLS ") VALUES ($1::int8, " USER_VALUES ") "
    "ON CONFLICT (id) DO NOTHING RETURNING id";
static const char SQL_UPDATE_USER[] =
    "UPDATE identity.users SET email = $2, username = $3, display_name = $4, password_hash = $5, role = $6, "
    "email_verified_at = $7::timestamptz, disabled = $8::boolean, created_at = $9::timestamptz, "
    "updated_at = $10::timestamptz WHERE id = $1::int8";
static const char SQL_USER_ID_TAKEN[] = "SELECT 1 FROM identity.users WHERE id = $1::int8";
static const char SQL_EMAIL_TAKEN[] = "SELECT 1 FROM identity.users WHERE email = $1";
static const char SQL_OAUTH_TAKEN[] = "SELECT 1 FROM identity.user_oauth WHERE provider = $1 AND subject = $2";
static const char SQL_INSERT_OAUTH[] =
    "INSERT INTO identity.user_oauth (user_id, position, provider, subject) VALUES ($1::int8, $2::int, $3, $4)";
static const char SQL_DELETE_OAUTH[] = "DELETE FROM identity.user_oauth WHERE user_id = $1::int8";
/* Keep the sequence past an explicitly chosen id, as the JSON store's max + 1 is. */
static const char SQL_ADVANCE_SEQ[] =
    "SELECT setval('identity.users_id_seq', $1::int8) FROM identity.users_id_seq "
    "WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";

static const char SQL_GET_USER[] = SELECT_USER " WHERE u.id = $1::int8 ORDER BY o.position";
static const char SQL_GET_USER_FOR_UPDATE[] =
    SELECT_USER " WHERE u.id = $1::int8 ORDER BY o.position FOR UPDATE OF u";
static const char SQL_GET_USER_BY_EMAIL[] = SELECT_USER " WHERE u.email = $1 ORDER BY o.position";
static const char SQL_GET_USER_BY_OAUTH[] =
    SELECT_USER " WHERE u.id = (SELECT user_id FROM identity.user_oauth WHERE provider = $1 AND subject = $2) "
                "ORDER BY o.position";
static const char SQL_LIST_ASSIGNABLE[] =
    SELECT_USER " WHERE NOT u.disabled AND ($1::text IS NULL OR u.role = $1::text) ORDER BY u.id, o.position";

/* $1 token_hash, $2 user_id, $3 created_at, $4 expires_at, $5 last_seen_at, $6 user_agent, $7 ip */
#define SESSION_PARAMS 7
/* A missing user inserts no row (so it is reported before a duplicate token,
 * as the JSON store does); the foreign key still guards against races. */
#define SESSION_INSERT                                                                          \
	"INSERT INTO identity.sessions (token_hash, user_id, created_at, expires_at, last_seen_at, " \
	"user_agent, ip) SELECT $1, $2::int8, $3::timestamptz, $4::timestamptz, $5::timestamptz, $6, $7 " \
	"WHERE EXISTS (SELECT 1 FROM identity.users WHERE id = $2::int8)"
static const char SQL_INSERT_SESSION[] = SESSION_INSERT;
static const char SQL_INSERT_SESSION_IF_NEW[] = SESSION_INSERT " ON CONFLICT (token_hash) DO NOTHING RETURNING 1";
static const char SQL_UPDATE_SESSION[] =
    "UPDATE identity.sessions SET user_id = $2::int8, created_at = $3::timestamptz, expires_at = $4::timestamptz, "
    "last_seen_at = $5::timestamptz, user_agent = $6, ip = $7 WHERE token_hash = $1";
static const char SQL_GET_SESSION[] = "SELECT " SESSION_COLS " FROM identity.sessions s WHERE s.token_hash = $1";
static const char SQL_GET_SESSION_FOR_UPDATE[] =
    "SELECT " SESSION_COLS " FROM identity.sessions s WHERE s.token_hash = $1 FOR UPDATE";
static const char SQL_LOOKUP_SESSION[] =
    "SELECT " SESSION_COLS ", " USER_COLS
    " FROM identity.sessions s JOIN identity.users u ON u.id = s.user_id"
    " LEFT JOIN identity.user_oauth o ON o.user_id = u.id"
    " WHERE s.token_hash = $1 AND s.expires_at > $2::timestamptz AND NOT u.disabled ORDER BY o.position";
static const char SQL_TOUCH_SESSION[] =
    "UPDATE identity.sessions AS s SET last_seen_at = GREATEST(s.last_seen_at, $2::timestamptz) WHERE s.token_hash = $1 RETURNING " SESSION_COLS;
static const char SQL_USER_SESSIONS[] =
    "SELECT " SESSION_COLS " FROM identity.sessions s WHERE s.user_id = $1::int8 ORDER BY s.token_hash";
static const char SQL_DELETE_SESSION[] = "DELETE FROM identity.sessions WHERE token_hash = $1";
static const char SQL_DELETE_USER_SESSIONS[] = "DELETE FROM identity.sessions WHERE user_id = $1::int8";
static const char SQL_DELETE_EXPIRED[] = "DELETE FROM identity.sessions WHERE expires_at <= $1::timestamptz";

/* --- parameters ------------------------------------------------------------ */

typedef char idtext[24];
typedef char tstext[40];

static const char *id_param(int64_t id, idtext buf)
{
	snprintf(buf, sizeof(idtext), "%" PRId64, id);
	return buf;
}

/* NULL (SQL NULL) for CUTOVER_TS_NULL. */
static const char *ts_param(cutover_ts t, tstext buf)
{
	if (t == CUTOVER_TS_NULL)
		return NULL;
	cutover_ts_format(t, buf, sizeof(tstext));
	return buf;
}

typedef struct user_params {
	const char *v[USER_PARAMS];
	idtext id;
	tstext verified, created, updated;
} user_params;

static void user_params_fill(user_params *p, const cutover_user *u)
{
	p->v[0] = id_param(u->id, p->id);
	p->v[1] = u->email;
	p->v[2] = u->username;
	p->v[3] = u->display_name;
	p->v[4] = u->password_hash;
	p->v[5] = u->role;
	p->v[6] = ts_param(u->email_verified_at, p->verified);
	p->v[7] = u->disabled ? "true" : "false";
	p->v[8] = ts_param(u->created_at, p->created);
	p->v[9] = ts_param(u->updated_at, p->updated);
}

typedef struct session_params {
	const char *v[SESSION_PARAMS];
	idtext uid;
	tstext created, expires, seen;
} session_params;

static void session_params_fill(session_params *p, const cutover_session *s)
{
	p->v[0] = s->token_hash;
	p->v[1] = id_param(s->user_id, p->uid);
	p->v[2] = ts_param(s->created_at, p->created);
	p->v[3] = ts_param(s->expires_at, p->expires);
	p->v[4] = ts_param(s->last_seen_at, p->seen);
	p->v[5] = s->user_agent;
	p->v[6] = s->ip;
}

/* What identity's constraints mean, for error messages. */
static const co_pg_constraint constraint_list[] = {
	{"users_pkey", "user id {id} already taken"},
	{"users_email_key", "email already taken"},
	{"user_oauth_pkey", "oauth provider and subject already linked to a user"},
	{"sessions_pkey", "a session with that token already exists"},
	{"sessions_user_id_fkey", "user {id} does not exist"},
	{"user_oauth_user_id_fkey", "user {id} does not exist"},
	{"users_role_check", "role must be admin, analyst or viewer"},
	{"users_id_check", "user id must be greater than 0"},
	{"sessions_token_hash_check", "token hash must be 64 hex characters"},
};
static const co_pg_constraints constraints = {constraint_list, sizeof constraint_list / sizeof constraint_list[0]};

/* --- running statements ------------------------------------------------------ */

/* 1 when the query returns a row, 0 when not, -1 with err set on failure. */
static int exists(co_pg *pg, const char *what, const char *sql, int n, const char *const *p, cutover_error *err)
{
	PGresult *r = co_pg_run(pg, &constraints, what, sql, n, p, 0, err);
	int found;

	if (!r)
		return -1;
	found = PQntuples(r) > 0;
	PQclear(r);
	return found;
}

/* Affected-row count of a DELETE / UPDATE. */
static size_t affected(const PGresult *r)
{
	const char *t = PQcmdTuples((PGresult *)r);

	return t && *t ? (size_t)strtoull(t, NULL, 10) : 0;
}

static void tx_abort(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
}

/* BEGIN; the connection, for tx_abort, or NULL with err set. */
static PGconn *tx_begin(co_pg *pg, const char *what, cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);

	if (!c) {
		co_pg_prefix_error(err, what);
		return NULL;
	}
	tx_abort(c); /* never join a transaction someone left open */
	if (co_pg_run_cmd(pg, &constraints, what, "BEGIN", 0, NULL, 0, err) != CUTOVER_OK)
		return NULL;
	return c;
}

static int tx_commit(co_pg *pg, const char *what, cutover_error *err)
{
	return co_pg_run_cmd(pg, &constraints, what, "COMMIT", 0, NULL, 0, err);
}

/* --- decoding rows ------------------------------------------------------------ */

static int64_t col_i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static cutover_ts col_ts(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? CUTOVER_TS_NULL : col_i64(r, row, col);
}

/* NULL stays NULL; -1 when out of memory. */
static int col_str(const PGresult *r, int row, int col, char **out)
{
	if (PQgetisnull(r, row, col)) {
		*out = NULL;
		return 0;
	}
	*out = co_strdup(PQgetvalue(r, row, col));
	return *out ? 0 : -1;
}

/* Fill u from rows [first, end) of one user (columns from off): the user's
 * fields from the first row, one oauth link per row with a provider. On
 * failure (-1, out of memory) u holds what was filled; co_user_clear it. */
static int fill_user(cutover_user *u, const PGresult *r, int first, int end, int off)
{
	int row;

	memset(u, 0, sizeof *u);
	u->id = col_i64(r, first, off);
	if (col_str(r, first, off + 1, &u->email) || col_str(r, first, off + 2, &u->username) ||
	    col_str(r, first, off + 3, &u->display_name) || col_str(r, first, off + 4, &u->password_hash) ||
	    col_str(r, first, off + 5, &u->role))
		return -1;
	u->email_verified_at = col_ts(r, first, off + 6);
	u->disabled = strcmp(PQgetvalue(r, first, off + 7), "t") == 0;
	u->created_at = col_ts(r, first, off + 8);
	u->updated_at = col_ts(r, first, off + 9);

	for (row = first; row < end; row++)
		if (!PQgetisnull(r, row, off + 10))
			break;
	if (row == end)
		return 0;
	u->oauth = calloc((size_t)(end - first), sizeof *u->oauth);
	if (!u->oauth)
		return -1;
	for (row = first; row < end; row++) {
		cutover_oauth_link *l;
		if (PQgetisnull(r, row, off + 10))
			continue;
		l = &u->oauth[u->n_oauth++];
		if (col_str(r, row, off + 10, &l->provider) || col_str(r, row, off + 11, &l->subject))
			return -1;
	}
	return 0;
}

/* The one user of a result (all rows), malloc'd; NULL on OOM. */
static cutover_user *decode_user(const PGresult *r, int off)
{
	cutover_user *u = calloc(1, sizeof *u);

	if (!u)
		return NULL;
	if (fill_user(u, r, 0, PQntuples(r), off) != 0) {
		cutover_user_free(u);
		return NULL;
	}
	return u;
}

static cutover_session *decode_session(const PGresult *r, int row)
{
	cutover_session *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->user_id = col_i64(r, row, 1);
	s->created_at = col_ts(r, row, 2);
	s->expires_at = col_ts(r, row, 3);
	s->last_seen_at = col_ts(r, row, 4);
	if (col_str(r, row, 0, &s->token_hash) || col_str(r, row, 5, &s->user_agent) ||
	    col_str(r, row, 6, &s->ip)) {
		cutover_session_free(s);
		return NULL;
	}
	return s;
}

/* Run a query for one user. CUTOVER_ENOTFOUND (err untouched) when no row. */
static int fetch_user(co_pg *pg, const char *what, const char *sql, int n, const char *const *p,
                      cutover_user **out, cutover_error *err)
{
	PGresult *r = co_pg_run(pg, &constraints, what, sql, n, p, 0, err);

	*out = NULL;
	if (!r)
		return err->code;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return CUTOVER_ENOTFOUND;
	}
	*out = decode_user(r, 0);
	PQclear(r);
	return *out ? CUTOVER_OK : co_err_oom(err);
}

/* --- users ---------------------------------------------------------------------- */

static int insert_oauth(co_pg *pg, const char *what, const cutover_user *u, int64_t id, cutover_error *err)
{
	idtext idb;
	char pos[24];
	const char *p[4];
	size_t i;
	int rc;

	p[0] = id_param(id, idb);
	p[1] = pos;
	for (i = 0; i < u->n_oauth; i++) {
		snprintf(pos, sizeof pos, "%zu", i);
		p[2] = u->oauth[i].provider;
		p[3] = u->oauth[i].subject;
		rc = co_pg_run_cmd(pg, &constraints, what, SQL_INSERT_OAUTH, 4, p, id, err);
		if (rc)
			return rc;
	}
	return CUTOVER_OK;
}

static int check_oauth(const cutover_user *u, const char *what, cutover_error *err)
{
	size_t i;

	size_t j;

	for (i = 0; i < u->n_oauth; i++) {
		if (!u->oauth[i].provider || !u->oauth[i].subject)
			return co_err(err, CUTOVER_EINVALID, "%s: oauth link %zu needs a provider and a subject", what, i);
		for (j = 0; j < i; j++)
			if (strcmp(u->oauth[i].provider, u->oauth[j].provider) == 0 &&
			    strcmp(u->oauth[i].subject, u->oauth[j].subject) == 0)
				return co_err(err, CUTOVER_ECONFLICT, "%s: the user lists the same %s account twice", what,
				              u->oauth[i].provider);
	}
	return CUTOVER_OK;
}

static int pg_create_user(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err)
{
	static const char W[] = "create user";
	co_pg *pg = PG(s);
	user_params up;
	cutover_user *u = NULL;
	PGresult *r;
	PGconn *c;
	int64_t id;
	size_t i;
	int rc, found;
	LOCAL_ERR(err);

	if (out)
		*out = NULL;
	if (!in || !in->email || !in->role)
		return co_err(err, CUTOVER_EINVALID, "%s: email and role are required", W);
	if (in->id < 0)
		return co_err(err, CUTOVER_EINVALID, "%s: user id must be greater than 0", W);
	rc = check_oauth(in, W, err);
	if (rc)
		return rc;
	user_params_fill(&up, in);

	c = tx_begin(pg, W, err);
	if (!c)
		return err->code;

	/* Refuse before the insert, so a refused create takes no sequence value. */
	if (in->id > 0) {
		found = exists(pg, W, SQL_USER_ID_TAKEN, 1, up.v, err);
		if (found) {
			rc = found < 0 ? err->code
			               : co_err(err, CUTOVER_ECONFLICT, "%s: user id %" PRId64 " already taken", W, in->id);
			goto fail;
		}
	}
	found = exists(pg, W, SQL_EMAIL_TAKEN, 1, &up.v[1], err);
	if (found) {
		rc = found < 0 ? err->code : co_err(err, CUTOVER_ECONFLICT, "%s: email already taken", W);
		goto fail;
	}
	for (i = 0; i < in->n_oauth; i++) {
		const char *p[2] = { in->oauth[i].provider, in->oauth[i].subject };
		found = exists(pg, W, SQL_OAUTH_TAKEN, 2, p, err);
		if (found) {
			rc = found < 0 ? err->code
			               : co_err(err, CUTOVER_ECONFLICT,
			                        "%s: oauth provider and subject already linked to a user", W);
			goto fail;
		}
	}

	r = co_pg_run(pg, &constraints, W, SQL_INSERT_USER, USER_PARAMS, up.v, in->id, err);
	if (!r) {
		rc = err->code;
		if (in->id == 0 && err->code == CUTOVER_ECONFLICT && strstr(err->detail, "users_pkey")) {
			/* The sequence handed out an id someone stored explicitly. */
			rc = co_err(err, CUTOVER_ESTATE, "%s: the id sequence identity.users_id_seq is behind the table", W);
			co_err_hint(err, "repair it with: %s", co_pg_repair_sql("identity.users"));
		}
		goto fail;
	}
	id = col_i64(r, 0, 0);
	PQclear(r);

	rc = insert_oauth(pg, W, in, id, err);
	if (rc)
		goto fail;
	if (in->id > 0) {
		rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_SEQ, 1, up.v, id, err);
		if (rc)
			goto fail;
	}
	{
		idtext idb;
		const char *p[1] = { id_param(id, idb) };
		rc = fetch_user(pg, W, SQL_GET_USER, 1, p, &u, err);
		if (rc == CUTOVER_ENOTFOUND)
			rc = co_err(err, CUTOVER_EINTERNAL, "%s: user %" PRId64 " vanished after insert", W, id);
		if (rc)
			goto fail;
	}
	rc = tx_commit(pg, W, err);
	if (rc)
		goto fail;
	if (out)
		*out = u;
	else
		cutover_user_free(u);
	return CUTOVER_OK;

fail:
	cutover_user_free(u);
	tx_abort(c);
	return rc;
}

static int pg_get_user(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err)
{
	idtext idb;
	const char *p[1] = { id_param(id, idb) };
	int rc;
	LOCAL_ERR(err);

	rc = fetch_user(PG(s), "get user", SQL_GET_USER, 1, p, out, err);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, rc, "get user: user %" PRId64 " not found", id);
	return rc;
}

static int pg_get_user_by_email(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err)
{
	char *norm;
	int rc;
	LOCAL_ERR(err);

	*out = NULL;
	if (!email)
		return co_err(err, CUTOVER_EINVALID, "get user by email: no email given");
	/* normally done by the caller already; cheap, and keeps direct callers right */
	norm = co_email_normalize(email);
	if (!norm)
		return co_err_oom(err);
	{
		const char *p[1] = { norm };
		rc = fetch_user(PG(s), "get user by email", SQL_GET_USER_BY_EMAIL, 1, p, out, err);
	}
	free(norm);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, rc, "get user by email: no user with that email");
	return rc;
}

static int pg_get_user_by_oauth(cutover_identity *s, cutover_user **out, const char *provider, const char *subject,
                                cutover_error *err)
{
	const char *p[2] = { provider, subject };
	int rc;
	LOCAL_ERR(err);

	if (!provider || !subject) {
		*out = NULL;
		return co_err(err, CUTOVER_EINVALID, "get user by oauth: provider and subject are required");
	}
	rc = fetch_user(PG(s), "get user by oauth", SQL_GET_USER_BY_OAUTH, 2, p, out, err);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, rc, "get user by oauth: no user linked to that %s account", provider);
	return rc;
}

static int pg_update_user(cutover_identity *s, cutover_user **out, int64_t id, const cutover_user_patch *patch,
                          cutover_ts now, cutover_error *err)
{
	static const char W[] = "update user";
	co_pg *pg = PG(s);
	idtext idb;
	const char *p[1] = { id_param(id, idb) };
	cutover_user *u = NULL, *stored = NULL;
	user_params up;
	PGconn *c;
	int rc;
	LOCAL_ERR(err);

	if (out)
		*out = NULL;
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "%s: no patch given", W);
	c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	rc = fetch_user(pg, W, SQL_GET_USER_FOR_UPDATE, 1, p, &u, err);
	if (rc == CUTOVER_ENOTFOUND)
		rc = co_err(err, rc, "%s: user %" PRId64 " not found", W, id);
	if (rc)
		goto done;
	rc = co_user_apply_patch(u, patch, now, err);
	if (rc)
		goto done;
	user_params_fill(&up, u);
	up.v[0] = p[0]; /* the key stays the one we locked */
	rc = co_pg_run_cmd(pg, &constraints, W, SQL_UPDATE_USER, USER_PARAMS, up.v, id, err);
	if (rc)
		goto done;
	rc = fetch_user(pg, W, SQL_GET_USER, 1, p, &stored, err);
	if (rc == CUTOVER_ENOTFOUND)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: user %" PRId64 " vanished during the update", W, id);
	if (rc)
		goto done;
	rc = tx_commit(pg, W, err);
	if (rc)
		goto done;
	if (out) {
		*out = stored;
		stored = NULL;
	}
done:
	if (rc)
		tx_abort(c);
	cutover_user_free(u);
	cutover_user_free(stored);
	return rc;
}

static int pg_list_assignable_users(cutover_identity *s, cutover_user_list *out, const char *role,
                                    cutover_error *err)
{
	static const char W[] = "list assignable users";
	const char *p[1] = { role };
	PGresult *r;
	int rows, first, end;
	size_t n = 0;
	LOCAL_ERR(err);

	if (!out)
		return co_err(err, CUTOVER_EINVALID, "%s: no list to fill", W);
	out->items = NULL;
	out->n = 0;
	r = co_pg_run(PG(s), &constraints, W, SQL_LIST_ASSIGNABLE, 1, p, 0, err);
	if (!r)
		return err->code;
	rows = PQntuples(r);
	for (first = 0; first < rows; first = end) {
		for (end = first + 1; end < rows && strcmp(PQgetvalue(r, end, 0), PQgetvalue(r, first, 0)) == 0; end++)
			;
		n++;
	}
	if (n == 0) {
		PQclear(r);
		return CUTOVER_OK;
	}
	out->items = calloc(n, sizeof *out->items);
	if (!out->items) {
		PQclear(r);
		return co_err_oom(err);
	}
	for (first = 0; first < rows; first = end) {
		for (end = first + 1; end < rows && strcmp(PQgetvalue(r, end, 0), PQgetvalue(r, first, 0)) == 0; end++)
			;
		/* count n before filling, so a failure frees exactly what was filled */
		out->n++;
		if (fill_user(&out->items[out->n - 1], r, first, end, 0) != 0) {
			PQclear(r);
			cutover_user_list_free(out);
			out->items = NULL;
			out->n = 0;
			return co_err_oom(err);
		}
	}
	PQclear(r);
	return CUTOVER_OK;
}

/* Replication: insert, or replace the row with this id, but only when it is
 * the same user and not newer. Email changes are not an operation of the
 * API, so a row with this id and another email is a different user and is
 * not replaced (CUTOVER_ECONFLICT). A stored row newer than u
 * (co_user_newer: a later write's second write landed first) is kept and
 * the put succeeds without writing. The row is locked while it is compared.
 * The sequence moves past the id, as create_user with an id does. */
static int pg_put_user(cutover_identity *s, const cutover_user *u, cutover_error *err)
{
	static const char W[] = "put user";
	co_pg *pg = PG(s);
	cutover_user *cur = NULL;
	user_params up;
	PGresult *r;
	PGconn *c;
	char *norm;
	bool inserted;
	int rc;
	LOCAL_ERR(err);

	if (!u || !u->email || !u->role)
		return co_err(err, CUTOVER_EINVALID, "%s: email and role are required", W);
	if (u->id <= 0)
		return co_err(err, CUTOVER_EINVALID, "%s: user id must be greater than 0", W);
	rc = check_oauth(u, W, err);
	if (rc)
		return rc;
	norm = co_email_normalize(u->email); /* normally done already; keeps direct callers right */
	if (!norm)
		return co_err_oom(err);
	user_params_fill(&up, u);
	up.v[1] = norm;
	c = tx_begin(pg, W, err);
	if (!c) {
		free(norm);
		return err->code;
	}
	r = co_pg_run(pg, &constraints, W, SQL_INSERT_USER_IF_NEW, USER_PARAMS, up.v, u->id, err);
	if (!r)
		goto fail;
	inserted = PQntuples(r) > 0;
	PQclear(r);
	if (!inserted) {
		rc = fetch_user(pg, W, SQL_GET_USER_FOR_UPDATE, 1, up.v, &cur, err);
		if (rc == CUTOVER_ENOTFOUND)
			rc = co_err(err, CUTOVER_EINTERNAL, "%s: user %" PRId64 " vanished while being written", W, u->id);
		if (rc)
			goto fail;
		if (strcmp(cur->email, norm) != 0) {
			rc = co_err(err, CUTOVER_ECONFLICT,
			            "%s: user %" PRId64 " in postgres belongs to another email; not replaced", W, u->id);
			goto fail;
		}
		if (co_user_newer(cur, u)) { /* a newer state is stored: nothing to write */
			tx_abort(c);
			goto out;
		}
		if ((rc = co_pg_run_cmd(pg, &constraints, W, SQL_UPDATE_USER, USER_PARAMS, up.v, u->id, err)) ||
		    (rc = co_pg_run_cmd(pg, &constraints, W, SQL_DELETE_OAUTH, 1, up.v, u->id, err)))
			goto fail;
	}
	if ((rc = insert_oauth(pg, W, u, u->id, err)) || (rc = co_pg_run_cmd(pg, &constraints, W, SQL_ADVANCE_SEQ, 1, up.v, u->id, err)) ||
	    (rc = tx_commit(pg, W, err)))
		goto fail;
out:
	free(norm);
	cutover_user_free(cur);
	return rc;
fail:
	if (!rc)
		rc = err->code;
	tx_abort(c);
	goto out;
}

/* --- sessions ----------------------------------------------------------------- */

static int check_session(const cutover_session *in, const char *what, cutover_error *err)
{
	if (!in || !in->token_hash)
		return co_err(err, CUTOVER_EINVALID, "%s: a token hash is required", what);
	if (in->expires_at == CUTOVER_TS_NULL)
		return co_err(err, CUTOVER_EINVALID, "%s: expires_at is required", what);
	return CUTOVER_OK;
}

static int write_session(cutover_identity *s, const char *what, const char *sql, const cutover_session *in,
                         cutover_error *err)
{
	session_params sp;
	PGresult *r;
	size_t n;
	int rc = check_session(in, what, err);

	if (rc)
		return rc;
	session_params_fill(&sp, in);
	r = co_pg_run(PG(s), &constraints, what, sql, SESSION_PARAMS, sp.v, in->user_id, err);
	if (!r)
		return err->code;
	n = affected(r);
	PQclear(r);
	if (n == 0)
		return co_err(err, CUTOVER_EINVALID, "%s: user %" PRId64 " does not exist", what, in->user_id);
	return CUTOVER_OK;
}

static int pg_create_session(cutover_identity *s, const cutover_session *in, cutover_error *err)
{
	LOCAL_ERR(err);
	return write_session(s, "create session", SQL_INSERT_SESSION, in, err);
}

static int one_session(co_pg *pg, const char *what, const char *sql, int n, const char *const *p,
                       cutover_session **out, cutover_error *err);

/* Replication: insert, or replace the session with this token hash unless
 * the stored one is newer (co_session_newer: a later touch's second write
 * landed first); then nothing is written and the put succeeds. The row is
 * locked while it is compared. */
static int pg_put_session(cutover_identity *s, const cutover_session *ss, cutover_error *err)
{
	static const char W[] = "put session";
	co_pg *pg = PG(s);
	cutover_session *cur = NULL;
	session_params sp;
	PGresult *r;
	PGconn *c;
	bool inserted;
	int rc;
	LOCAL_ERR(err);

	if ((rc = check_session(ss, W, err)))
		return rc;
	session_params_fill(&sp, ss);
	if (!(c = tx_begin(pg, W, err)))
		return err->code;
	if (!(r = co_pg_run(pg, &constraints, W, SQL_INSERT_SESSION_IF_NEW, SESSION_PARAMS, sp.v, ss->user_id, err))) {
		rc = err->code;
		goto fail;
	}
	inserted = PQntuples(r) > 0;
	PQclear(r);
	if (!inserted) {
		rc = one_session(pg, W, SQL_GET_SESSION_FOR_UPDATE, 1, sp.v, &cur, err);
		if (rc == CUTOVER_ENOTFOUND) /* nothing inserted and nothing there: no such user */
			rc = co_err(err, CUTOVER_EINVALID, "%s: user %" PRId64 " does not exist", W, ss->user_id);
		if (rc)
			goto fail;
		if (co_session_newer(cur, ss)) { /* a newer state is stored: nothing to write */
			tx_abort(c);
			cutover_session_free(cur);
			return CUTOVER_OK;
		}
		if ((rc = co_pg_run_cmd(pg, &constraints, W, SQL_UPDATE_SESSION, SESSION_PARAMS, sp.v, ss->user_id, err)))
			goto fail;
	}
	if ((rc = tx_commit(pg, W, err)))
		goto fail;
	cutover_session_free(cur);
	return CUTOVER_OK;
fail:
	tx_abort(c);
	cutover_session_free(cur);
	return rc;
}

/* One session from a query's first row; ENOTFOUND (message set) when none. */
static int one_session(co_pg *pg, const char *what, const char *sql, int n, const char *const *p,
                       cutover_session **out, cutover_error *err)
{
	PGresult *r = co_pg_run(pg, &constraints, what, sql, n, p, 0, err);
	cutover_session *ss;

	if (out)
		*out = NULL;
	if (!r)
		return err->code;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err(err, CUTOVER_ENOTFOUND, "%s: session not found", what);
	}
	if (!out) {
		PQclear(r);
		return CUTOVER_OK;
	}
	ss = decode_session(r, 0);
	PQclear(r);
	if (!ss)
		return co_err_oom(err);
	*out = ss;
	return CUTOVER_OK;
}

static int pg_get_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err)
{
	const char *p[1] = { token_hash };
	LOCAL_ERR(err);

	if (!token_hash) {
		if (out)
			*out = NULL;
		return co_err(err, CUTOVER_ENOTFOUND, "get session: session not found");
	}
	return one_session(PG(s), "get session", SQL_GET_SESSION, 1, p, out, err);
}

static int pg_lookup_session(cutover_identity *s, cutover_session **out_session, cutover_user **out_user,
                             const char *token_hash, cutover_ts now, cutover_error *err)
{
	static const char W[] = "look up session";
	tstext nowb;
	const char *p[2] = { token_hash, ts_param(now, nowb) };
	cutover_session *ss = NULL;
	cutover_user *u = NULL;
	PGresult *r;
	LOCAL_ERR(err);

	if (out_session)
		*out_session = NULL;
	if (out_user)
		*out_user = NULL;
	if (!token_hash)
		return co_err(err, CUTOVER_ENOTFOUND, "%s: session not found", W);
	r = co_pg_run(PG(s), &constraints, W, SQL_LOOKUP_SESSION, 2, p, 0, err);
	if (!r)
		return err->code;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err(err, CUTOVER_ENOTFOUND, "%s: no live session for that token", W);
	}
	if (out_session && !(ss = decode_session(r, 0)))
		goto oom;
	if (out_user && !(u = decode_user(r, SESSION_NCOLS)))
		goto oom;
	PQclear(r);
	if (out_session)
		*out_session = ss;
	if (out_user)
		*out_user = u;
	return CUTOVER_OK;
oom:
	PQclear(r);
	cutover_session_free(ss);
	cutover_user_free(u);
	return co_err_oom(err);
}

static int pg_touch_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_ts now,
                            cutover_error *err)
{
	tstext nowb;
	const char *p[2] = { token_hash, ts_param(now, nowb) };
	LOCAL_ERR(err);

	if (!token_hash) {
		if (out)
			*out = NULL;
		return co_err(err, CUTOVER_ENOTFOUND, "touch session: session not found");
	}
	return one_session(PG(s), "touch session", SQL_TOUCH_SESSION, 2, p, out, err);
}

static int pg_delete_session(cutover_identity *s, const char *token_hash, cutover_error *err)
{
	const char *p[1] = { token_hash };
	PGresult *r;
	size_t n;
	LOCAL_ERR(err);

	if (!token_hash)
		return co_err(err, CUTOVER_ENOTFOUND, "delete session: session not found");
	r = co_pg_run(PG(s), &constraints, "delete session", SQL_DELETE_SESSION, 1, p, 0, err);
	if (!r)
		return err->code;
	n = affected(r);
	PQclear(r);
	return n ? CUTOVER_OK : co_err(err, CUTOVER_ENOTFOUND, "delete session: session not found");
}

static int delete_count(cutover_identity *s, const char *what, const char *sql, const char *param, size_t *out_count,
                        cutover_error *err)
{
	const char *p[1] = { param };
	PGresult *r;

	if (out_count)
		*out_count = 0;
	r = co_pg_run(PG(s), &constraints, what, sql, 1, p, 0, err);
	if (!r)
		return err->code;
	if (out_count)
		*out_count = affected(r);
	PQclear(r);
	return CUTOVER_OK;
}

static int pg_delete_user_sessions(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err)
{
	idtext idb;
	LOCAL_ERR(err);

	return delete_count(s, "delete user sessions", SQL_DELETE_USER_SESSIONS, id_param(user_id, idb), out_count,
	                    err);
}

static int pg_delete_expired_sessions(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err)
{
	tstext nowb;
	LOCAL_ERR(err);

	if (now == CUTOVER_TS_NULL) {
		if (out_count)
			*out_count = 0;
		return co_err(err, CUTOVER_EINVALID, "delete expired sessions: no time given");
	}
	return delete_count(s, "delete expired sessions", SQL_DELETE_EXPIRED, ts_param(now, nowb), out_count, err);
}

/* --- internal: a user's sessions (reconcile) --------------------------------- */

int co_pg_identity_user_sessions(cutover_identity *s, int64_t user_id, co_session_list *out, cutover_error *err)
{
	idtext idb;
	const char *p[1] = { id_param(user_id, idb) };
	PGresult *r;
	int n;

	memset(out, 0, sizeof *out);
	if (!s || !s->kind || strcmp(s->kind, "postgres") != 0)
		return co_err(err, CUTOVER_EINTERNAL, "user sessions: not a postgres identity handle");
	r = co_pg_run(PG(s), &constraints, "list user sessions", SQL_USER_SESSIONS, 1, p, 0, err);
	if (!r)
		return err->code;
	n = PQntuples(r);
	if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
		PQclear(r);
		return co_err_oom(err);
	}
	for (int i = 0; i < n; i++) {
		cutover_session *ss = decode_session(r, i);
		if (!ss) {
			PQclear(r);
			co_session_list_free(out);
			return co_err_oom(err);
		}
		out->items[out->n++] = *ss;
		free(ss);
	}
	PQclear(r);
	return CUTOVER_OK;
}

/* --- the handle --------------------------------------------------------------- */

static void pg_stats(cutover_identity *s, cutover_stats *out)
{
	(void)s;
	if (out)
		memset(out, 0, sizeof *out);
}

static void pg_free(cutover_identity *s)
{
	pg_identity *pi = (pg_identity *)s;

	if (!pi)
		return;
	co_pg_close(pi->pg);
	free(pi);
}

int co_pg_identity_new(cutover_identity **out, co_pg *pg, cutover_error *err)
{
	pg_identity *pi;

	if (!out) {
		co_pg_close(pg);
		return co_err(err, CUTOVER_EINTERNAL, "postgres identity: no out parameter");
	}
	*out = NULL;
	if (!pg)
		return co_err(err, CUTOVER_EINTERNAL, "postgres identity: no connection");
	pi = calloc(1, sizeof *pi);
	if (!pi) {
		co_pg_close(pg);
		return co_err_oom(err);
	}
	pi->base.version = CUTOVER_IDENTITY_VERSION;
	pi->base.kind = "postgres";
	pi->base.create_user = pg_create_user;
	pi->base.get_user = pg_get_user;
	pi->base.get_user_by_email = pg_get_user_by_email;
	pi->base.get_user_by_oauth = pg_get_user_by_oauth;
	pi->base.update_user = pg_update_user;
	pi->base.list_assignable_users = pg_list_assignable_users;
	pi->base.create_session = pg_create_session;
	pi->base.get_session = pg_get_session;
	pi->base.lookup_session = pg_lookup_session;
	pi->base.touch_session = pg_touch_session;
	pi->base.delete_session = pg_delete_session;
	pi->base.delete_user_sessions = pg_delete_user_sessions;
	pi->base.delete_expired_sessions = pg_delete_expired_sessions;
	pi->base.put_user = pg_put_user;
	pi->base.put_session = pg_put_session;
	pi->base.stats = pg_stats;
	pi->base.free = pg_free;
	pi->pg = pg;
	*out = &pi->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_identity_postgres(cutover_identity **out, const char *conninfo, cutover_error *err)
{
	co_pg *pg = NULL;
	int rc;

	if (!out)
		return co_err(err, CUTOVER_EINVALID, "open postgres identity: no out parameter");
	*out = NULL;
	rc = co_pg_connect(&pg, conninfo, err);
	if (rc)
		return rc;
	return co_pg_identity_new(out, pg, err);
}
