/* json_profile.c — the profile domain over the legacy JSON documents.
 *
 * profile/profiles.json is {"profiles": [...]}, served from a cached index
 * (json_index.h) by user_id and by every certification and education id,
 * with each record's highest id of both kinds; identity/users.json, where a
 * profile's user must be, from an index by id (co_ix_id_keys). A call
 * checks each document's version once (a stat, or a conditional GET), reads
 * only the records it matched, and decodes them with the backfill's strict
 * decoder. Reads take no lock. Every write is one read-modify-write under
 * the transport lock "profile" that writes one record anew, so a portfolio
 * and its four lists change together or not at all, and streams the rest
 * of the document. The record is edited in its parsed form, and a
 * certification or education object is reused when its id stays, so
 * fields this library does not know survive; the other records keep their
 * bytes.
 *
 * The answers must equal the Postgres backend's (the conformance suite runs
 * both):
 *  - a portfolio's user must be in identity/users.json (the same root), as a
 *    foreign key makes it in Postgres;
 *  - an id another profile holds is a conflict;
 *  - new ids are one past the highest id ever stored, like a sequence, not
 *    max + 1 of what is left: the document keeps the high-water marks under
 *    a top-level "cutover_last_ids" key, outside the list (legacy readers
 *    look at "profiles" only), so an id freed by a delete is never handed
 *    out again. A write sets it with co_ix_set_top: the bytes outside the
 *    list are printed anew when the marks move and copied when they stay.
 *    The marks are the document's, or the highest id any record holds (the
 *    index keeps each record's), whichever is higher;
 *  - edits go through co_portfolio_apply_edit, as in Postgres.
 *
 * Dirty records: a record that breaks the strict rules the backfill applies
 * (co_legacy_strict: not an object, a repeated key, a \u0000) is unreadable
 * and stepped over by every call, the ids it holds included, as in the
 * identity documents. A record whose user_id cannot be read is stepped over
 * too (both are counted in one log line per call, positions only); the ids
 * it still holds keep counting for conflicts and the high-water marks. A
 * call fails with CUTOVER_ECORRUPT only when the record it matched must be
 * returned or edited and cannot be decoded; put replaces such a record (it
 * carries every field).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "json_index.h"
#include "legacy_profile.h"
#include "json_encode.h"

#define PROFILES_KEY "profile/profiles.json"
#define PROFILES_COLL "profiles"
#define USERS_KEY "identity/users.json"
#define USERS_COLL "users"
#define LOCK_NAME "profile"
#define MARKS "cutover_last_ids"

typedef struct json_profile {
	cutover_profile base; /* first: the handle is a cutover_profile */
	co_transport *t;
	co_ix *profiles, *users; /* the documents' indexes, over t */
} json_profile;

static co_ix *PROFILES(cutover_profile *s)
{
	return ((json_profile *)s)->profiles;
}

static co_ix *USERS(cutover_profile *s)
{
	return ((json_profile *)s)->users;
}

static bool int_field(const cJSON *obj, const char *name, int64_t *v)
{
	cutover_error scratch;
	return cJSON_IsObject(obj) && co_json_get_int(obj, name, true, v, NULL, &scratch) == CUTOVER_OK && *v > 0;
}

/* The readable ids of a record's list (an object with an array of objects). */
typedef void (*id_fn)(void *ctx, int64_t id);
static void each_id(const cJSON *rec, const char *list, id_fn fn, void *ctx)
{
	const cJSON *arr = cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, list) : NULL, *o;
	if (!cJSON_IsArray(arr))
		return;
	cJSON_ArrayForEach(o, arr) {
		int64_t id;
		if (int_field(o, "id", &id))
			fn(ctx, id);
	}
}

static void take_max(void *ctx, int64_t id)
{
	int64_t *max = ctx;
	if (id > *max)
		*max = id;
}

/* --- the documents' indexes ---------------------------------------------------- */

/* profiles.json: by user_id, and by each certification and education id;
 * per record the highest id of each list (for the high-water marks). */
enum { P_USER, P_CERT, P_EDU, P_TABLES };
enum { A_CERT, A_EDU, A_COUNT };

/* The two id lists: the list's name (also its high-water mark's), its key
 * table and its number. */
static const struct {
	const char *name;
	unsigned table, aux;
} LISTS[] = {{"certifications", P_CERT, A_CERT}, {"education", P_EDU, A_EDU}};

typedef struct id_emit {
	co_ix_emit *e;
	unsigned table;
	int64_t max;
} id_emit;

static void emit_id(void *ctx, int64_t id)
{
	id_emit *k = ctx;
	co_ix_key(k->e, k->table, &id, sizeof id);
	take_max(&k->max, id);
}

static void profile_keys(const cJSON *rec, co_ix_emit *e)
{
	int64_t uid;
	if (int_field(rec, "user_id", &uid))
		co_ix_key(e, P_USER, &uid, sizeof uid);
	else
		co_ix_key_unreadable(e, P_USER);
	for (unsigned l = 0; l < 2; l++) {
		id_emit k = {e, LISTS[l].table, INT64_MIN};
		each_id(rec, LISTS[l].name, emit_id, &k);
		if (k.max != INT64_MIN)
			co_ix_set_aux_at(e, LISTS[l].aux, k.max);
	}
}

static const co_ix_spec profiles_spec = {PROFILES_KEY, PROFILES_COLL, P_TABLES, profile_keys};
static const co_ix_spec users_spec = {USERS_KEY, USERS_COLL, 1, co_ix_id_keys};

/* --- reading ------------------------------------------------------------------ */

typedef struct skipped {
	size_t n, first; /* unreadable records stepped over; 0-based position of the first */
} skipped;

static void skip_report(const skipped *sk, const char *op)
{
	if (sk->n)
		co_log("json profile %s: skipped %zu unreadable record%s of %s, the first at position %zu; fix them "
		       "(cutover survey profile lists them)",
		       op, sk->n, sk->n == 1 ? "" : "s", PROFILES_KEY, sk->first + 1);
}

static bool user_is(const cJSON *rec, const void *ctx)
{
	int64_t uid;
	return int_field(rec, "user_id", &uid) && uid == *(const int64_t *)ctx;
}

/* The first readable record of this user, parsed, with the records before
 * it (or all, when none is the user's) whose user_id cannot be read
 * counted in *sk; CUTOVER_ENOTFOUND (err untouched) when none. */
static int find_profile(co_ix *x, int64_t user_id, cJSON **rec, size_t *pos, skipped *sk, cutover_error *err)
{
	int rc = co_ix_first(x, P_USER, &user_id, sizeof user_id, user_is, &user_id, SIZE_MAX, rec, pos, err);
	if (rc == CUTOVER_OK || rc == CUTOVER_ENOTFOUND)
		sk->n = co_ix_unreadable(x, P_USER, rc == CUTOVER_OK ? *pos : SIZE_MAX, &sk->first);
	return rc;
}

static int decode(const co_ix *x, size_t pos, const cJSON *rec, int64_t user_id, cutover_portfolio **out,
		  cutover_error *err)
{
	char what[48];
	snprintf(what, sizeof what, "user_id %" PRId64, user_id);
	int rc = co_legacy_portfolio_from_json(rec, out, err); /* the one definition of a legacy profile */
	return rc == CUTOVER_ECORRUPT ? co_ix_record_error(x, err, pos, what) : rc;
}

static int no_profile(cutover_error *err, const char *what, int64_t user_id)
{
	co_err(err, CUTOVER_ENOTFOUND, "%s: user %" PRId64 " has no profile", what, user_id);
	co_err_hint(err, "put a profile for the user first");
	return CUTOVER_ENOTFOUND;
}

static int j_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err)
{
	co_ix *x = PROFILES(s);
	cJSON *rec = NULL;
	size_t pos = 0;
	skipped sk = {0, 0};
	*out = NULL;
	int rc = co_ix_sync(x, err);
	if (rc)
		return rc;
	rc = find_profile(x, user_id, &rec, &pos, &sk, err);
	if (rc == CUTOVER_OK)
		rc = decode(x, pos, rec, user_id, out, err);
	else if (rc == CUTOVER_ENOTFOUND)
		no_profile(err, "get profile", user_id);
	cJSON_Delete(rec);
	skip_report(&sk, "get_profile");
	return rc;
}

/* --- the user must exist --------------------------------------------------------- */

static int require_user(co_ix *users, const char *what, int64_t user_id, cutover_error *err)
{
	bool found;
	int rc = co_ix_has_id(users, user_id, &found, err);
	if (rc || found)
		return rc;
	co_err(err, CUTOVER_EINVALID, "%s: user_id %" PRId64 " does not exist", what, user_id);
	co_err_detail(err, "a profile belongs to a user of %s", USERS_KEY);
	co_err_hint(err, "create the user first (or fix the user_id)");
	return CUTOVER_EINVALID;
}

/* --- writing ------------------------------------------------------------------------ */

typedef struct owner_scan {
	const cutover_portfolio *p;
	bool cert;
	int64_t hit;
} owner_scan;

static void find_taken(void *ctx, int64_t id)
{
	owner_scan *o = ctx;
	size_t n = o->cert ? o->p->n_certifications : o->p->n_education;
	for (size_t i = 0; !o->hit && i < n; i++)
		if ((o->cert ? o->p->certifications[i].id : o->p->education[i].id) == id)
			o->hit = id;
}

/* Refuse p when a record other than self holds one of its certification or
 * education ids: the first such record in the document names the id (a
 * certification before an education entry, each the first of its list in
 * that record that p has) and its owner. The id index gives the records
 * that may hold each id; the lowest that does is the first. */
static int check_ids_free(co_ix *x, const char *what, size_t self, const cutover_portfolio *p, cutover_error *err)
{
	size_t best = SIZE_MAX;
	int64_t hit_cert = 0, hit_edu = 0, owner = 0;
	int rc = CUTOVER_OK;
	for (unsigned l = 0; l < 2 && rc == CUTOVER_OK; l++) {
		size_t count = l == 0 ? p->n_certifications : p->n_education;
		for (size_t i = 0; i < count && rc == CUTOVER_OK; i++) {
			int64_t id = l == 0 ? p->certifications[i].id : p->education[i].id;
			size_t *cand = NULL, n = 0;
			if (id <= 0) /* a new entry: no record holds it */
				continue;
			rc = co_ix_candidates(x, LISTS[l].table, &id, sizeof id, &cand, &n, err);
			for (size_t j = 0; j < n && cand[j] < best && rc == CUTOVER_OK; j++) {
				cJSON *rec = NULL;
				if (cand[j] == self || !co_ix_readable(x, cand[j]))
					continue;
				if ((rc = co_ix_read(x, cand[j], &rec, err)) != CUTOVER_OK)
					break;
				owner_scan oc = {p, true, 0}, oe = {p, false, 0};
				each_id(rec, "certifications", find_taken, &oc);
				each_id(rec, "education", find_taken, &oe);
				if (oc.hit || oe.hit) {
					best = cand[j];
					hit_cert = oc.hit;
					hit_edu = oe.hit;
					owner = 0;
					int_field(rec, "user_id", &owner);
				}
				cJSON_Delete(rec);
			}
			free(cand);
		}
	}
	if (rc != CUTOVER_OK || best == SIZE_MAX)
		return rc;
	co_err(err, CUTOVER_ECONFLICT, "%s: %s id %" PRId64 " belongs to user %" PRId64 "'s profile", what,
	       hit_cert ? "certification" : "education", hit_cert ? hit_cert : hit_edu, owner);
	co_err_hint(err, "pass id 0 for a new entry; ids are never shared between users");
	return CUTOVER_ECONFLICT;
}

/* The document's high-water mark for list name; 0 when it has none. */
static int64_t mark_of(const cJSON *top, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(top, MARKS);
	int64_t v = 0;
	return int_field(m, name, &v) ? v : 0;
}

static cJSON *write_cert(cJSON *old, const cutover_certification *c, cutover_error *err)
{
	cJSON *o = old ? old : cJSON_CreateObject();
	if (!o) {
		co_err_oom(err);
		return NULL;
	}
	if (co_json_set_int(o, "id", c->id, err) || co_json_set_str(o, "name", c->name, err) ||
	    co_json_set_str(o, "issuer", c->issuer, err) || co_json_set_str(o, "issued_on", c->issued_on, err) ||
	    co_json_set_str(o, "expires_on", c->expires_on, err) || co_json_set_str(o, "credential_id", c->credential_id, err) ||
	    co_json_set_str(o, "credential_url", c->credential_url, err) ||
	    co_json_set_str(o, "asset_path", c->asset_path, err)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int set_year(cJSON *o, const char *name, int y, cutover_error *err)
{
	return y ? co_json_set_int(o, name, y, err) : co_json_set(o, name, cJSON_CreateNull(), err);
}

static cJSON *write_edu(cJSON *old, const cutover_education *e, cutover_error *err)
{
	cJSON *o = old ? old : cJSON_CreateObject();
	if (!o) {
		co_err_oom(err);
		return NULL;
	}
	if (co_json_set_int(o, "id", e->id, err) || co_json_set_str(o, "institution", e->institution, err) ||
	    co_json_set_str(o, "degree", e->degree, err) || co_json_set_str(o, "field", e->field, err) ||
	    set_year(o, "start_year", e->start_year, err) || set_year(o, "end_year", e->end_year, err)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Detach the object with this id from old's list (so its unknown fields stay). */
static cJSON *take_old(cJSON *old, int64_t id)
{
	cJSON *it;
	if (!cJSON_IsArray(old))
		return NULL;
	cJSON_ArrayForEach(it, old) {
		int64_t k;
		if (int_field(it, "id", &k) && k == id)
			return cJSON_DetachItemViaPointer(old, it);
	}
	return NULL;
}

static int write_list(cJSON *rec, const cutover_portfolio *p, bool cert, cutover_error *err)
{
	const char *name = cert ? "certifications" : "education";
	cJSON *old = cJSON_GetObjectItemCaseSensitive(rec, name);
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return co_err_oom(err);
	size_t n = cert ? p->n_certifications : p->n_education;
	for (size_t i = 0; i < n; i++) {
		int64_t id = cert ? p->certifications[i].id : p->education[i].id;
		cJSON *o = take_old(old, id);
		o = cert ? write_cert(o, &p->certifications[i], err) : write_edu(o, &p->education[i], err);
		if (!o) {
			cJSON_Delete(arr);
			return err->code;
		}
		if (!cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return co_err_oom(err);
		}
	}
	return co_json_set(rec, name, arr, err);
}

static int write_names(cJSON *rec, const char *name, char *const *v, size_t n, cutover_error *err)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	return arr ? co_json_set(rec, name, arr, err) : co_err_oom(err);
}

static int write_record(cJSON *rec, const cutover_portfolio *p, cutover_error *err)
{
	int rc;
	if ((rc = co_json_set_int(rec, "user_id", p->user_id, err)) || (rc = co_json_set_str(rec, "headline", p->headline, err)) ||
	    (rc = co_json_set_str(rec, "bio", p->bio, err)) || (rc = co_json_set_str(rec, "location", p->location, err)) ||
	    (rc = co_json_set_str(rec, "website", p->website, err)) ||
	    (rc = co_json_set_str(rec, "avatar_path", p->avatar_path, err)) ||
	    (rc = write_names(rec, "specialties", p->specialties, p->n_specialties, err)) ||
	    (rc = write_names(rec, "tools", p->tools, p->n_tools, err)) || (rc = write_list(rec, p, true, err)) ||
	    (rc = write_list(rec, p, false, err)) || (rc = co_json_set_ts(rec, "updated_at", p->updated_at, err)))
		return rc;
	return CUTOVER_OK;
}

static int write_marks(co_ix_edits *e, int64_t cert, int64_t edu, cutover_error *err)
{
	cJSON *m = cJSON_CreateObject();
	if (!m || co_json_set_int(m, "certifications", cert, err) || co_json_set_int(m, "education", edu, err)) {
		cJSON_Delete(m);
		return co_err_oom(err);
	}
	return co_ix_set_top(e, MARKS, m, err);
}

/* Store in (ids 0 get assigned) as record self, rec parsed (taken), or as
 * a new record (self SIZE_MAX, rec NULL), under the lock; *out is the
 * stored record decoded. */
static int store(co_ix *x, co_ix *users, const char *what, cJSON *rec, size_t self, const cutover_portfolio *in,
		 co_ix_edits *e, cutover_portfolio **out, cutover_error *err)
{
	int rc = require_user(users, what, in->user_id, err);
	if (!rc)
		rc = check_ids_free(x, what, self, in, err);
	if (rc) {
		cJSON_Delete(rec);
		return rc;
	}
	/* the high-water marks: the document's, or the highest id a record holds */
	int64_t hw_cert = mark_of(co_ix_top(x), "certifications"), hw_edu = mark_of(co_ix_top(x), "education");
	take_max(&hw_cert, co_ix_aux_max_at(x, A_CERT));
	take_max(&hw_edu, co_ix_aux_max_at(x, A_EDU));
	cutover_portfolio *p = co_portfolio_dup(in);
	if (!p) {
		cJSON_Delete(rec);
		return co_err_oom(err);
	}
	for (size_t i = 0; i < p->n_certifications; i++)
		take_max(&hw_cert, p->certifications[i].id);
	for (size_t i = 0; i < p->n_education; i++)
		take_max(&hw_edu, p->education[i].id);
	for (size_t i = 0; i < p->n_certifications; i++)
		if (!p->certifications[i].id)
			p->certifications[i].id = ++hw_cert;
	for (size_t i = 0; i < p->n_education; i++)
		if (!p->education[i].id)
			p->education[i].id = ++hw_edu;

	bool fresh = !rec;
	if (fresh && !(rec = cJSON_CreateObject())) {
		cutover_portfolio_free(p);
		return co_err_oom(err);
	}
	rc = write_record(rec, p, err);
	cutover_portfolio_free(p);
	if (!rc)
		rc = write_marks(e, hw_cert, hw_edu, err);
	if (!rc)
		rc = decode(x, fresh ? co_ix_count(x) : self, rec, in->user_id, out, err);
	if (rc) {
		cJSON_Delete(rec);
		return rc;
	}
	return fresh ? co_ix_append(e, rec, err) : co_ix_replace(e, self, rec, err);
}

typedef struct write_ctx {
	co_ix *users;
	const cutover_portfolio *in;    /* put */
	int64_t user_id;                /* edit */
	const cutover_profile_edit *e;  /* edit */
	cutover_ts now;
	bool replicate;                 /* put: replication, not the app's put */
	cutover_portfolio *out;
	skipped sk;
} write_ctx;

/* put and replicate: the stored copy (when readable) decides. replicate
 * skips a copy older than the stored one (co_portfolio_newer); put stamps
 * an updated_at after the stored one's (co_portfolio_put_stamp). A record that
 * cannot be read is replaced whole. */
static int put_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	write_ctx *c = vctx;
	cJSON *rec = NULL;
	size_t pos = SIZE_MAX;
	cutover_portfolio_free(c->out);
	c->out = NULL;
	c->sk = (skipped){0, 0};
	int rc = find_profile(x, c->in->user_id, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND) {
		rc = CUTOVER_OK;
		pos = SIZE_MAX;
	}
	if (rc)
		return rc;
	cutover_portfolio in = *c->in, *cur = NULL;
	cutover_error scratch;
	if (rec && decode(x, pos, rec, in.user_id, &cur, &scratch) == CUTOVER_OK) {
		bool newer = co_portfolio_newer(cur, &in);
		if (!c->replicate)
			in.updated_at = co_portfolio_put_stamp(cur, &in);
		cutover_portfolio_free(cur);
		if (c->replicate && newer) {
			cJSON_Delete(rec);
			return CUTOVER_OK;
		}
	}
	return store(x, c->users, c->replicate ? "replicate profile" : "put profile", rec, pos, &in, e, &c->out, err);
}

static int edit_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	write_ctx *c = vctx;
	const char *what = co_profile_edit_name((int)c->e->kind);
	cJSON *rec = NULL;
	size_t pos = 0;
	cutover_portfolio *cur = NULL;
	cutover_portfolio_free(c->out);
	c->out = NULL;
	c->sk = (skipped){0, 0};
	int rc = find_profile(x, c->user_id, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		return no_profile(err, what, c->user_id);
	if (!rc)
		rc = decode(x, pos, rec, c->user_id, &cur, err);
	if (!rc)
		rc = co_portfolio_apply_edit(cur, c->e, c->now, err);
	if (!rc) {
		rc = store(x, c->users, what, rec, pos, cur, e, &c->out, err);
		rec = NULL;
	}
	cJSON_Delete(rec);
	cutover_portfolio_free(cur);
	return rc;
}

static int finish(write_ctx *c, int rc, const char *op, cutover_portfolio **out)
{
	skip_report(&c->sk, op);
	if (rc == CUTOVER_OK && out)
		*out = c->out;
	else
		cutover_portfolio_free(c->out);
	return rc;
}

static int j_put(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, cutover_error *err)
{
	write_ctx c = {.users = USERS(s), .in = in};
	if (out)
		*out = NULL;
	if (!in || in->user_id <= 0)
		return co_err(err, CUTOVER_EINVALID, "put profile: a profile with a user_id is required");
	int rc = co_ix_update(PROFILES(s), LOCK_NAME, put_edit, &c, err);
	return finish(&c, rc, "put_profile", out);
}

static int j_replicate(cutover_profile *s, const cutover_portfolio *in, cutover_error *err)
{
	write_ctx c = {.users = USERS(s), .in = in, .replicate = true};
	if (!in || in->user_id <= 0)
		return co_err(err, CUTOVER_EINVALID, "replicate profile: a profile with a user_id is required");
	int rc = co_ix_update(PROFILES(s), LOCK_NAME, put_edit, &c, err);
	return finish(&c, rc, "replicate_profile", NULL);
}

static int j_edit(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		  cutover_ts now, cutover_error *err)
{
	write_ctx c = {.users = USERS(s), .user_id = user_id, .e = e, .now = now};
	if (out)
		*out = NULL;
	if (!e)
		return co_err(err, CUTOVER_EINVALID, "edit profile: no edit given");
	int rc = co_ix_update(PROFILES(s), LOCK_NAME, edit_edit, &c, err);
	return finish(&c, rc, "edit_profile", out);
}

/* --- the handle ------------------------------------------------------------------------ */

static void j_free(cutover_profile *s)
{
	json_profile *j = (json_profile *)s;
	if (!j)
		return;
	co_ix_free(j->profiles);
	co_ix_free(j->users);
	if (j->t)
		j->t->free(j->t);
	free(j);
}

int co_json_profile_new(cutover_profile **out, co_transport *t, cutover_error *err)
{
	*out = NULL;
	if (!t)
		return co_err(err, CUTOVER_EINVALID, "no transport for the JSON profile store");
	json_profile *j = calloc(1, sizeof *j);
	if (!j) {
		t->free(t);
		return co_err_oom(err);
	}
	j->t = t;
	if (co_ix_new_aux(&j->profiles, t, &profiles_spec, A_COUNT, err) != CUTOVER_OK ||
	    co_ix_new(&j->users, t, &users_spec, err) != CUTOVER_OK) {
		j_free(&j->base);
		return CUTOVER_EINTERNAL;
	}
	j->base = (cutover_profile){
		.version = CUTOVER_PROFILE_VERSION,
		.kind = "json",
		.get = j_get,
		.put = j_put,
		.edit = j_edit,
		.replicate = j_replicate,
		.stats = NULL,
		.free = j_free,
	};
	*out = &j->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_profile_json(cutover_profile **out, const char *root, const char *token, cutover_error *err)
{
	co_transport *t = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "cutover_profile_json: out is NULL");
	*out = NULL;
	int rc = co_transport_open(&t, root, token, err);
	if (rc != CUTOVER_OK)
		return rc;
	return co_json_profile_new(out, t, err);
}

/* --- the encoder, for `cutover export` (json_encode.h) ------------------------- */

int co_json_write_portfolio(cJSON *rec, const cutover_portfolio *p, cutover_error *err)
{
	return write_record(rec, p, err);
}
