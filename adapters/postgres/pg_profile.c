/* pg_profile.c — the profile domain stored in Postgres.
 *
 * Fills the cutover_profile table over content.portfolio_profiles and its
 * four child tables (migrations/0003_profile.sql). A portfolio is read with
 * one statement (a UNION ALL of the five tables, ordered by table and
 * position), so it is one snapshot. Every write is one transaction:
 *
 *  - put: lock the user's row (which also proves it exists; writes of one
 *    profile run one after the other), check no given id is another user's,
 *    move the sequences past the given ids, upsert the profile row, rewrite
 *    the two name lists, delete the entries that are gone and upsert the
 *    others at their new positions (the (user_id, position) keys are
 *    deferred for the transaction, so entries can swap places); an entry
 *    with id 0 takes the next sequence value, in list order, which is the
 *    json store's rule too (next = past every id ever stored);
 *  - edit: lock the user's row, read the portfolio, apply the one shared
 *    edit (co_portfolio_apply_edit) and store it as put does.
 *
 * Checks run before anything is inserted, so a refused write takes no
 * sequence value. Every value is a text parameter; dates travel as
 * "YYYY-MM-DD" and come back through to_char, timestamps as exact
 * microseconds. Failures name the operation and, from the constraint, what
 * clashed; Postgres's DETAIL (which quotes values) is never copied.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "profile_int.h"

typedef struct pg_profile {
	cutover_profile base; /* first: the table the app holds */
	co_pg *pg;
} pg_profile;

static co_pg *PG(cutover_profile *s)
{
	return ((pg_profile *)s)->pg;
}

#define LOCAL_ERR(err)                                 \
	cutover_error err##_local_;                    \
	if (!(err)) {                                  \
		memset(&err##_local_, 0, sizeof err##_local_); \
		(err) = &err##_local_;                 \
	}

/* --- SQL ------------------------------------------------------------------- */

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

/* kind, position, id, t1..t7, n1, n2 — one row per profile / list entry. */
static const char SQL_GET[] =
    "SELECT 0 AS kind, 0 AS position, 0::int8 AS id, p.headline, p.bio, p.location, p.website, p.avatar_path,"
    " NULL::text, NULL::text, " US("p.updated_at") " AS n1, NULL::int8 AS n2"
    " FROM content.portfolio_profiles p WHERE p.user_id = $1::int8"
    " UNION ALL SELECT 1, s.position, 0, s.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM content.profile_specialties s WHERE s.user_id = $1::int8"
    " UNION ALL SELECT 2, t.position, 0, t.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM content.profile_tools t WHERE t.user_id = $1::int8"
    " UNION ALL SELECT 3, c.position, c.id, c.name, c.issuer, to_char(c.issued_on, 'YYYY-MM-DD'),"
    " to_char(c.expires_on, 'YYYY-MM-DD'), c.credential_id, c.credential_url, c.asset_path, NULL, NULL"
    " FROM content.portfolio_certifications c WHERE c.user_id = $1::int8"
    " UNION ALL SELECT 4, e.position, e.id, e.institution, e.degree, e.field, NULL, NULL, NULL, NULL,"
    " e.start_year, e.end_year FROM content.portfolio_education e WHERE e.user_id = $1::int8"
    " ORDER BY 1, 2";
/* Every write of a user's profile first locks the user's row (NO KEY UPDATE:
 * foreign key checks, which take KEY SHARE, are not blocked), so writes of
 * one profile run one after the other, and always take their locks in the
 * same order. */
static const char SQL_LOCK_USER[] = "SELECT 1 FROM identity.users WHERE id = $1::int8 FOR NO KEY UPDATE";
/* $1 ids, $2 user: an entry with one of these ids that another user holds */
static const char SQL_CERT_OWNER[] =
    "SELECT id, user_id FROM content.portfolio_certifications WHERE id = ANY($1::int8[]) AND user_id <> $2::int8 "
    "ORDER BY id LIMIT 1";
static const char SQL_EDU_OWNER[] =
    "SELECT id, user_id FROM content.portfolio_education WHERE id = ANY($1::int8[]) AND user_id <> $2::int8 "
    "ORDER BY id LIMIT 1";
/* Keep a sequence past an explicitly given id, as the json store's next id is. */
static const char SQL_ADVANCE_CERT_SEQ[] =
    "SELECT setval('content.portfolio_certifications_id_seq', $1::int8) "
    "FROM content.portfolio_certifications_id_seq "
    "WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";
static const char SQL_ADVANCE_EDU_SEQ[] =
    "SELECT setval('content.portfolio_education_id_seq', $1::int8) FROM content.portfolio_education_id_seq "
    "WHERE CASE WHEN is_called THEN last_value + 1 ELSE last_value END <= $1::int8";
/* $1 user_id, $2 headline, $3 bio, $4 location, $5 website, $6 avatar_path, $7 updated_at */
static const char SQL_UPSERT_PROFILE[] =
    "INSERT INTO content.portfolio_profiles (user_id, headline, bio, location, website, avatar_path, updated_at) "
    "VALUES ($1::int8, $2, $3, $4, $5, $6, $7::timestamptz) "
    "ON CONFLICT (user_id) DO UPDATE SET headline = EXCLUDED.headline, bio = EXCLUDED.bio, "
    "location = EXCLUDED.location, website = EXCLUDED.website, avatar_path = EXCLUDED.avatar_path, "
    "updated_at = EXCLUDED.updated_at";
static const char SQL_DELETE_SPECIALTIES[] = "DELETE FROM content.profile_specialties WHERE user_id = $1::int8";
static const char SQL_DELETE_TOOLS[] = "DELETE FROM content.profile_tools WHERE user_id = $1::int8";
static const char SQL_INSERT_SPECIALTY[] =
    "INSERT INTO content.profile_specialties (user_id, position, name) VALUES ($1::int8, $2::int, $3)";
static const char SQL_INSERT_TOOL[] =
    "INSERT INTO content.profile_tools (user_id, position, name) VALUES ($1::int8, $2::int, $3)";
static const char SQL_DEFER[] =
    "SET CONSTRAINTS content.portfolio_certifications_user_id_position_key, "
    "content.portfolio_education_user_id_position_key DEFERRED";
/* $1 user, $2 the ids that stay */
static const char SQL_DELETE_GONE_CERTS[] =
    "DELETE FROM content.portfolio_certifications WHERE user_id = $1::int8 AND id <> ALL($2::int8[])";
static const char SQL_DELETE_GONE_EDU[] =
    "DELETE FROM content.portfolio_education WHERE user_id = $1::int8 AND id <> ALL($2::int8[])";
/* $1 id (0: next value), $2 user_id, $3 position, $4 name, $5 issuer, $6 issued_on, $7 expires_on,
 * $8 credential_id, $9 credential_url, $10 asset_path. Never takes over another user's entry. */
static const char SQL_UPSERT_CERT[] =
    "INSERT INTO content.portfolio_certifications (id, user_id, position, name, issuer, issued_on, expires_on, "
    "credential_id, credential_url, asset_path) VALUES ("
    "CASE WHEN $1::int8 > 0 THEN $1::int8 ELSE nextval('content.portfolio_certifications_id_seq') END, "
    "$2::int8, $3::int, $4, $5, $6::date, $7::date, $8, $9, $10) "
    "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, name = EXCLUDED.name, issuer = EXCLUDED.issuer, "
    "issued_on = EXCLUDED.issued_on, expires_on = EXCLUDED.expires_on, credential_id = EXCLUDED.credential_id, "
    "credential_url = EXCLUDED.credential_url, asset_path = EXCLUDED.asset_path "
    "WHERE content.portfolio_certifications.user_id = EXCLUDED.user_id RETURNING id";
/* $1 id, $2 user_id, $3 position, $4 institution, $5 degree, $6 field, $7 start_year, $8 end_year */
static const char SQL_UPSERT_EDU[] =
    "INSERT INTO content.portfolio_education (id, user_id, position, institution, degree, field, start_year, "
    "end_year) VALUES ("
    "CASE WHEN $1::int8 > 0 THEN $1::int8 ELSE nextval('content.portfolio_education_id_seq') END, "
    "$2::int8, $3::int, $4, $5, $6, $7::int, $8::int) "
    "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, institution = EXCLUDED.institution, "
    "degree = EXCLUDED.degree, field = EXCLUDED.field, start_year = EXCLUDED.start_year, "
    "end_year = EXCLUDED.end_year "
    "WHERE content.portfolio_education.user_id = EXCLUDED.user_id RETURNING id";

/* --- parameters and statements ----------------------------------------------- */

typedef char idtext[24];
typedef char tstext[40];

static const char *id_param(int64_t id, idtext buf)
{
	snprintf(buf, sizeof(idtext), "%" PRId64, id);
	return buf;
}

static const char *year_param(int y, idtext buf)
{
	if (!y)
		return NULL;
	snprintf(buf, sizeof(idtext), "%d", y);
	return buf;
}

static void tx_abort(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
}

/* What profile's constraints mean, for error messages. */
static const co_pg_constraint constraint_list[] = {
	{"portfolio_profiles_user_id_fkey", "user_id {id} does not exist"},
	{"portfolio_certifications_pkey", "a certification id of user {id}'s profile is already taken"},
	{"portfolio_education_pkey", "an education id of user {id}'s profile is already taken"},
	{"portfolio_certifications_dates_check", "a certification of user {id} expires before it was issued"},
	{"portfolio_education_years_check", "an education entry of user {id} has years out of order or range"},
	{"portfolio_certifications_name_check", "a certification of user {id} has no name"},
	{"portfolio_education_institution_check", "an education entry of user {id} has no institution"},
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
	if (co_pg_run_cmd(pg, &constraints, what, "BEGIN", 0, NULL, 0, err) != CUTOVER_OK)
		return NULL;
	return c;
}

/* --- reading -------------------------------------------------------------------- */

static int col_str(const PGresult *r, int row, int col, char **out)
{
	if (PQgetisnull(r, row, col)) {
		*out = NULL;
		return 0;
	}
	*out = co_strdup(PQgetvalue(r, row, col));
	return *out ? 0 : -1;
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The portfolio of SQL_GET's rows; -1 when out of memory. */
static int decode(const PGresult *r, int64_t user_id, cutover_portfolio *p)
{
	int rows = PQntuples(r);
	size_t counts[5] = {0};
	memset(p, 0, sizeof(*p));
	p->user_id = user_id;
	for (int i = 0; i < rows; i++) {
		int k = atoi(PQgetvalue(r, i, 0));
		if (k >= 0 && k < 5)
			counts[k]++;
	}
	if ((counts[1] && !(p->specialties = calloc(counts[1], sizeof(char *)))) ||
	    (counts[2] && !(p->tools = calloc(counts[2], sizeof(char *)))) ||
	    (counts[3] && !(p->certifications = calloc(counts[3], sizeof(*p->certifications)))) ||
	    (counts[4] && !(p->education = calloc(counts[4], sizeof(*p->education)))))
		return -1;
	for (int i = 0; i < rows; i++) {
		int k = atoi(PQgetvalue(r, i, 0));
		if (k == 0) {
			p->updated_at = PQgetisnull(r, i, 10) ? CUTOVER_TS_NULL : col_i64(r, i, 10);
			if (col_str(r, i, 3, &p->headline) || col_str(r, i, 4, &p->bio) || col_str(r, i, 5, &p->location) ||
			    col_str(r, i, 6, &p->website) || col_str(r, i, 7, &p->avatar_path))
				return -1;
		} else if (k == 1) {
			if (col_str(r, i, 3, &p->specialties[p->n_specialties++]))
				return -1;
		} else if (k == 2) {
			if (col_str(r, i, 3, &p->tools[p->n_tools++]))
				return -1;
		} else if (k == 3) {
			cutover_certification *c = &p->certifications[p->n_certifications++];
			c->id = col_i64(r, i, 2);
			if (col_str(r, i, 3, &c->name) || col_str(r, i, 4, &c->issuer) || col_str(r, i, 5, &c->issued_on) ||
			    col_str(r, i, 6, &c->expires_on) || col_str(r, i, 7, &c->credential_id) ||
			    col_str(r, i, 8, &c->credential_url) || col_str(r, i, 9, &c->asset_path))
				return -1;
		} else if (k == 4) {
			cutover_education *e = &p->education[p->n_education++];
			e->id = col_i64(r, i, 2);
			e->start_year = (int)col_i64(r, i, 10);
			e->end_year = (int)col_i64(r, i, 11);
			if (col_str(r, i, 3, &e->institution) || col_str(r, i, 4, &e->degree) || col_str(r, i, 5, &e->field))
				return -1;
		}
	}
	return 0;
}

/* The stored portfolio; CUTOVER_ENOTFOUND (message set) when there is none. */
static int fetch(co_pg *pg, const char *what, int64_t user_id, cutover_portfolio **out, cutover_error *err)
{
	idtext idb;
	const char *p[1] = {id_param(user_id, idb)};
	*out = NULL;
	PGresult *r = co_pg_run(pg, &constraints, what, SQL_GET, 1, p, user_id, err);
	if (!r)
		return err->code;
	if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
		PQclear(r);
		co_err(err, CUTOVER_ENOTFOUND, "%s: user %" PRId64 " has no profile", what, user_id);
		co_err_hint(err, "put a profile for the user first");
		return CUTOVER_ENOTFOUND;
	}
	cutover_portfolio *pf = calloc(1, sizeof(*pf));
	if (!pf || decode(r, user_id, pf) != 0) {
		PQclear(r);
		cutover_portfolio_free(pf);
		return co_err_oom(err);
	}
	PQclear(r);
	*out = pf;
	return CUTOVER_OK;
}

/* --- writing ---------------------------------------------------------------------- */

/* "{1,2,3}" of the nonzero ids of a list, and the largest. */
static int id_array(const int64_t *ids, size_t n, co_buf *b, int64_t *max, cutover_error *err)
{
	co_buf_puts(b, "{");
	*max = 0;
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] <= 0)
			continue;
		co_buf_printf(b, "%s%" PRId64, first ? "" : ",", ids[i]);
		first = false;
		if (ids[i] > *max)
			*max = ids[i];
	}
	co_buf_puts(b, "}");
	return b->failed ? co_err_oom(err) : CUTOVER_OK;
}

/* One list's ids as an array parameter, and the largest. */
typedef struct id_set {
	co_buf arr;
	int64_t max;
} id_set;

static int id_set_of(id_set *s, const cutover_portfolio *p, bool cert, cutover_error *err)
{
	size_t n = cert ? p->n_certifications : p->n_education;
	memset(s, 0, sizeof(*s));
	int64_t *ids = n ? malloc(n * sizeof(int64_t)) : NULL;
	if (n && !ids)
		return co_err_oom(err);
	for (size_t i = 0; i < n; i++)
		ids[i] = cert ? p->certifications[i].id : p->education[i].id;
	int rc = id_array(ids, n, &s->arr, &s->max, err);
	free(ids);
	return rc;
}

/* Refuse an id that another user's entry holds. */
static int owner_check(co_pg *pg, const char *what, int64_t user_id, const id_set *ids, const char *sql,
		       const char *noun, cutover_error *err)
{
	idtext ub;
	const char *p[2] = {ids->arr.data, id_param(user_id, ub)};
	PGresult *r = co_pg_run(pg, &constraints, what, sql, 2, p, user_id, err);
	if (!r)
		return err->code;
	int rc = CUTOVER_OK;
	if (PQntuples(r) > 0) {
		rc = co_err(err, CUTOVER_ECONFLICT, "%s: %s id %s belongs to user %s's profile", what, noun,
			    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		co_err_hint(err, "pass id 0 for a new entry; ids are never shared between users");
	}
	PQclear(r);
	return rc;
}

/* Move the sequence past the given ids, then drop the entries that are gone. */
static int list_prepare(co_pg *pg, const char *what, int64_t user_id, const id_set *ids, const char *advance_sql,
			const char *delete_sql, cutover_error *err)
{
	idtext ub, mb;
	int rc = CUTOVER_OK;
	if (ids->max > 0) {
		const char *ap[1] = {id_param(ids->max, mb)};
		rc = co_pg_run_cmd(pg, &constraints, what, advance_sql, 1, ap, user_id, err);
	}
	if (!rc) {
		const char *dp[2] = {id_param(user_id, ub), ids->arr.data};
		rc = co_pg_run_cmd(pg, &constraints, what, delete_sql, 2, dp, user_id, err);
	}
	return rc;
}

static int names_write(co_pg *pg, const char *what, int64_t user_id, char *const *v, size_t n, const char *del_sql,
		       const char *ins_sql, cutover_error *err)
{
	idtext ub, pb;
	const char *p[3] = {id_param(user_id, ub), pb, NULL};
	int rc = co_pg_run_cmd(pg, &constraints, what, del_sql, 1, p, user_id, err);
	for (size_t i = 0; !rc && i < n; i++) {
		snprintf(pb, sizeof pb, "%zu", i);
		p[2] = v[i];
		rc = co_pg_run_cmd(pg, &constraints, what, ins_sql, 3, p, user_id, err);
	}
	return rc;
}

/* An upsert of one entry that touched no row: the id is another user's. */
static int upsert_one(co_pg *pg, const char *what, const char *sql, int n, const char *const *p, int64_t user_id,
		      const char *noun, int64_t id, cutover_error *err)
{
	PGresult *r = co_pg_run(pg, &constraints, what, sql, n, p, user_id, err);
	if (!r)
		return err->code;
	int rows = PQntuples(r);
	PQclear(r);
	if (rows == 0)
		return co_err(err, CUTOVER_ECONFLICT, "%s: %s id %" PRId64 " belongs to another user's profile", what, noun, id);
	return CUTOVER_OK;
}

/* Lock the user's row: 1 when the user exists, 0 when not, -1 with err set. */
static int lock_user(co_pg *pg, const char *what, int64_t user_id, cutover_error *err)
{
	idtext ub;
	const char *p[1] = {id_param(user_id, ub)};
	PGresult *r = co_pg_run(pg, &constraints, what, SQL_LOCK_USER, 1, p, user_id, err);
	if (!r)
		return -1;
	int found = PQntuples(r) > 0;
	PQclear(r);
	return found;
}

/* Store p as user p->user_id's whole portfolio, inside the caller's
 * transaction, which holds the user's lock. */
static int store(co_pg *pg, const char *what, const cutover_portfolio *p, cutover_error *err)
{
	idtext ub;
	tstext tb;
	const char *uid = id_param(p->user_id, ub);
	size_t nc = p->n_certifications, ne = p->n_education;
	id_set cs, es;
	int rc = id_set_of(&cs, p, true, err);
	if (!rc)
		rc = id_set_of(&es, p, false, err);
	else
		memset(&es, 0, sizeof(es));
	/* every check before the first change that cannot be rolled back (a sequence step) */
	if (!rc)
		rc = owner_check(pg, what, p->user_id, &cs, SQL_CERT_OWNER, "certification", err);
	if (!rc)
		rc = owner_check(pg, what, p->user_id, &es, SQL_EDU_OWNER, "education", err);
	if (!rc)
		rc = co_pg_run_cmd(pg, &constraints, what, SQL_DEFER, 0, NULL, p->user_id, err);
	if (!rc)
		rc = list_prepare(pg, what, p->user_id, &cs, SQL_ADVANCE_CERT_SEQ, SQL_DELETE_GONE_CERTS, err);
	if (!rc)
		rc = list_prepare(pg, what, p->user_id, &es, SQL_ADVANCE_EDU_SEQ, SQL_DELETE_GONE_EDU, err);
	co_buf_free(&cs.arr);
	co_buf_free(&es.arr);
	if (!rc) {
		cutover_ts t = p->updated_at;
		const char *pp[7] = {uid, p->headline, p->bio, p->location, p->website, p->avatar_path, NULL};
		if (t != CUTOVER_TS_NULL)
			pp[6] = cutover_ts_format(t, tb, sizeof tb);
		rc = co_pg_run_cmd(pg, &constraints, what, SQL_UPSERT_PROFILE, 7, pp, p->user_id, err);
	}
	if (!rc)
		rc = names_write(pg, what, p->user_id, p->specialties, p->n_specialties, SQL_DELETE_SPECIALTIES,
				 SQL_INSERT_SPECIALTY, err);
	if (!rc)
		rc = names_write(pg, what, p->user_id, p->tools, p->n_tools, SQL_DELETE_TOOLS, SQL_INSERT_TOOL, err);
	for (size_t i = 0; !rc && i < nc; i++) {
		const cutover_certification *c = &p->certifications[i];
		idtext ib, pb;
		snprintf(pb, sizeof pb, "%zu", i);
		const char *cp[10] = {id_param(c->id, ib), uid, pb, c->name, c->issuer, c->issued_on, c->expires_on,
				      c->credential_id, c->credential_url, c->asset_path};
		rc = upsert_one(pg, what, SQL_UPSERT_CERT, 10, cp, p->user_id, "certification", c->id, err);
	}
	for (size_t i = 0; !rc && i < ne; i++) {
		const cutover_education *e = &p->education[i];
		idtext ib, pb, sb, eb;
		snprintf(pb, sizeof pb, "%zu", i);
		const char *ep[8] = {id_param(e->id, ib), uid, pb, e->institution, e->degree, e->field,
				     year_param(e->start_year, sb), year_param(e->end_year, eb)};
		rc = upsert_one(pg, what, SQL_UPSERT_EDU, 8, ep, p->user_id, "education", e->id, err);
	}
	return rc;
}

/* --- operations -------------------------------------------------------------------- */

static int pg_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err)
{
	LOCAL_ERR(err);
	return fetch(PG(s), "get profile", user_id, out, err);
}

/* Commit and hand back what is stored now (read inside the transaction). */
static int finish(co_pg *pg, PGconn *c, const char *what, int64_t user_id, cutover_portfolio **out, cutover_error *err)
{
	cutover_portfolio *stored = NULL;
	int rc = out ? fetch(pg, what, user_id, &stored, err) : CUTOVER_OK;
	if (rc == CUTOVER_ENOTFOUND)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: the profile of user %" PRId64 " vanished while writing it", what,
			    user_id);
	if (!rc)
		rc = co_pg_run_cmd(pg, &constraints, what, "COMMIT", 0, NULL, user_id, err);
	if (rc) {
		tx_abort(c);
		cutover_portfolio_free(stored);
		return rc;
	}
	if (out)
		*out = stored;
	return CUTOVER_OK;
}

/* put and replicate, under the user's lock: the stored copy decides.
 * replicate skips a copy older than the stored one (co_portfolio_newer); put
 * stamps an updated_at after the stored one's (co_portfolio_put_stamp). */
static int put_or_replicate(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, bool replicate,
			    cutover_error *err)
{
	const char *W = replicate ? "replicate profile" : "put profile";
	co_pg *pg = PG(s);
	if (out)
		*out = NULL;
	if (!in || in->user_id <= 0)
		return co_err(err, CUTOVER_EINVALID, "%s: a profile with a user_id is required", W);
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	int found = lock_user(pg, W, in->user_id, err), rc = CUTOVER_OK;
	if (found < 0) {
		rc = err->code;
	} else if (!found) {
		co_err(err, CUTOVER_EINVALID, "%s: user_id %" PRId64 " does not exist", W, in->user_id);
		co_err_detail(err, "a profile belongs to a user of identity.users");
		co_err_hint(err, "create the user first (or fix the user_id)");
		rc = CUTOVER_EINVALID;
	}
	cutover_portfolio p = *in, *cur = NULL;
	bool skip = false;
	if (!rc) {
		rc = fetch(pg, W, in->user_id, &cur, err);
		if (rc == CUTOVER_ENOTFOUND) {
			rc = CUTOVER_OK;
			cutover_error_clear(err);
		} else if (!rc) {
			skip = replicate && co_portfolio_newer(cur, in);
			if (!replicate)
				p.updated_at = co_portfolio_put_stamp(cur, in);
		}
		cutover_portfolio_free(cur);
	}
	if (!rc && skip) { /* a newer state is stored: nothing to write */
		tx_abort(c);
		return CUTOVER_OK;
	}
	if (!rc)
		rc = store(pg, W, &p, err);
	if (rc) {
		tx_abort(c);
		return rc;
	}
	return finish(pg, c, W, in->user_id, out, err);
}

static int pg_put(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, cutover_error *err)
{
	LOCAL_ERR(err);
	return put_or_replicate(s, out, in, false, err);
}

static int pg_replicate(cutover_profile *s, const cutover_portfolio *in, cutover_error *err)
{
	LOCAL_ERR(err);
	return put_or_replicate(s, NULL, in, true, err);
}

static int pg_edit(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		   cutover_ts now, cutover_error *err)
{
	const char *W = co_profile_edit_name(e ? (int)e->kind : 0);
	co_pg *pg = PG(s);
	cutover_portfolio *cur = NULL;
	LOCAL_ERR(err);
	if (out)
		*out = NULL;
	PGconn *c = tx_begin(pg, W, err);
	if (!c)
		return err->code;
	int rc = lock_user(pg, W, user_id, err) < 0 ? err->code : CUTOVER_OK;
	if (!rc) /* a user that does not exist has no profile: not found */
		rc = fetch(pg, W, user_id, &cur, err);
	if (!rc)
		rc = co_portfolio_apply_edit(cur, e, now, err);
	if (!rc)
		rc = store(pg, W, cur, err);
	cutover_portfolio_free(cur);
	if (rc) {
		tx_abort(c);
		return rc;
	}
	return finish(pg, c, W, user_id, out, err);
}

static void pg_stats(cutover_profile *s, cutover_stats *out)
{
	(void)s;
	memset(out, 0, sizeof *out);
}

static void pg_free(cutover_profile *s)
{
	pg_profile *pp = (pg_profile *)s;
	if (!pp)
		return;
	co_pg_close(pp->pg);
	free(pp);
}

int co_pg_profile_new(cutover_profile **out, co_pg *pg, cutover_error *err)
{
	*out = NULL;
	if (!pg)
		return co_err(err, CUTOVER_EINTERNAL, "postgres profile: no connection");
	pg_profile *pp = calloc(1, sizeof *pp);
	if (!pp) {
		co_pg_close(pg);
		return co_err_oom(err);
	}
	pp->base = (cutover_profile){
		.version = CUTOVER_PROFILE_VERSION,
		.kind = "postgres",
		.get = pg_get,
		.put = pg_put,
		.edit = pg_edit,
		.replicate = pg_replicate,
		.stats = pg_stats,
		.free = pg_free,
	};
	pp->pg = pg;
	*out = &pp->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_profile_postgres(cutover_profile **out, const char *conninfo, cutover_error *err)
{
	co_pg *pg = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "open postgres profile: no out parameter");
	*out = NULL;
	int rc = co_pg_connect(&pg, conninfo, err);
	if (rc)
		return rc;
	return co_pg_profile_new(out, pg, err);
}
