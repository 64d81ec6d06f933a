/* json_profile.c — the profile domain over the legacy JSON documents.
 *
 * profile/profiles.json is {"profiles": [...]}, read and written through a
 * transport (json_doc.c loads, locks and puts conditionally). Reads take no
 * lock. Every write is one read-modify-write of the whole document under the
 * transport lock "profile": one document write, so a portfolio and its four
 * lists change together or not at all. Records are edited in place, and a
 * certification or education object is reused when its id stays, so fields
 * this library does not know survive.
 *
 * The answers must equal the Postgres backend's (the conformance suite runs
 * both):
 *  - a portfolio's user must be in identity/users.json (the same root), as a
 *    foreign key makes it in Postgres;
 *  - an id another profile holds is a conflict;
 *  - new ids are one past the highest id ever stored, like a sequence, not
 *    max + 1 of what is left: the document keeps the high-water marks under
 *    a top-level "cutover_last_ids" key (legacy readers look at "profiles"
 *    only), so an id freed by a delete is never handed out again;
 *  - edits go through co_portfolio_apply_edit, as in Postgres.
 *
 * Dirty records: a record whose user_id cannot be read is stepped over (and
 * counted in one log line per call, positions only); the ids it still holds
 * keep counting for conflicts and the high-water marks. A call fails with
 * CUTOVER_ECORRUPT only when the record it matched must be returned or
 * edited and cannot be decoded; put replaces such a record (it carries every
 * field).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
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
} json_profile;

static co_transport *T(cutover_profile *s)
{
	return ((json_profile *)s)->t;
}

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

static bool int_field(const cJSON *obj, const char *name, int64_t *v)
{
	cutover_error scratch;
	return cJSON_IsObject(obj) && co_json_get_int(obj, name, true, v, NULL, &scratch) == CUTOVER_OK && *v > 0;
}

/* The first record of this user; NULL when none. */
static cJSON *find_profile(const co_doc *d, int64_t user_id, size_t *pos, skipped *sk)
{
	cJSON *it;
	size_t i = 0;
	cJSON_ArrayForEach(it, d->items) {
		int64_t uid;
		if (!int_field(it, "user_id", &uid)) {
			if (sk && sk->n++ == 0)
				sk->first = i;
		} else if (uid == user_id) {
			*pos = i;
			return it;
		}
		i++;
	}
	return NULL;
}

static int decode(const co_doc *d, size_t pos, const cJSON *rec, int64_t user_id, cutover_portfolio **out,
		  cutover_error *err)
{
	char what[48];
	snprintf(what, sizeof what, "user_id %" PRId64, user_id);
	int rc = co_legacy_portfolio_from_json(rec, out, err); /* the one definition of a legacy profile */
	return rc == CUTOVER_ECORRUPT ? co_doc_record_error(err, d, pos, what) : rc;
}

static int no_profile(cutover_error *err, const char *what, int64_t user_id)
{
	co_err(err, CUTOVER_ENOTFOUND, "%s: user %" PRId64 " has no profile", what, user_id);
	co_err_hint(err, "put a profile for the user first");
	return CUTOVER_ENOTFOUND;
}

static int j_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err)
{
	co_doc d;
	size_t pos = 0;
	skipped sk = {0, 0};
	*out = NULL;
	int rc = co_doc_load(T(s), PROFILES_KEY, PROFILES_COLL, &d, err);
	if (rc)
		return rc;
	cJSON *rec = find_profile(&d, user_id, &pos, &sk);
	rc = rec ? decode(&d, pos, rec, user_id, out, err) : no_profile(err, "get profile", user_id);
	co_doc_release(&d);
	skip_report(&sk, "get_profile");
	return rc;
}

/* --- the user must exist --------------------------------------------------------- */

static int require_user(co_transport *t, const char *what, int64_t user_id, cutover_error *err)
{
	co_doc d;
	int rc = co_doc_load(t, USERS_KEY, USERS_COLL, &d, err);
	if (rc)
		return rc;
	const cJSON *it;
	bool found = false;
	cJSON_ArrayForEach(it, d.items) {
		int64_t id;
		if (int_field(it, "id", &id) && id == user_id) {
			found = true;
			break;
		}
	}
	co_doc_release(&d);
	if (found)
		return CUTOVER_OK;
	co_err(err, CUTOVER_EINVALID, "%s: user_id %" PRId64 " does not exist", what, user_id);
	co_err_detail(err, "a profile belongs to a user of %s", USERS_KEY);
	co_err_hint(err, "create the user first (or fix the user_id)");
	return CUTOVER_EINVALID;
}

/* --- writing ------------------------------------------------------------------------ */

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

static int64_t mark_of(const co_doc *d, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(d->root, MARKS);
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

static int write_marks(co_doc *d, int64_t cert, int64_t edu, cutover_error *err)
{
	cJSON *m = cJSON_CreateObject();
	if (!m || co_json_set_int(m, "certifications", cert, err) || co_json_set_int(m, "education", edu, err)) {
		cJSON_Delete(m);
		return co_err_oom(err);
	}
	return co_json_set(d->root, MARKS, m, err);
}

/* Store p (ids 0 get assigned) as the record `self` (NULL: a new one), under
 * the lock; *out is the stored record decoded. */
static int store(co_doc *d, co_transport *t, const char *what, cJSON *self, const cutover_portfolio *in,
		 cutover_portfolio **out, cutover_error *err)
{
	int rc = require_user(t, what, in->user_id, err);
	if (rc)
		return rc;
	/* conflicts and high-water marks over every readable id of the document */
	int64_t hw_cert = mark_of(d, "certifications"), hw_edu = mark_of(d, "education");
	cJSON *it;
	cJSON_ArrayForEach(it, d->items) {
		each_id(it, "certifications", take_max, &hw_cert);
		each_id(it, "education", take_max, &hw_edu);
		if (it == self)
			continue;
		owner_scan oc = {in, true, 0}, oe = {in, false, 0};
		each_id(it, "certifications", find_taken, &oc);
		each_id(it, "education", find_taken, &oe);
		if (oc.hit || oe.hit) {
			int64_t owner = 0;
			int_field(it, "user_id", &owner);
			co_err(err, CUTOVER_ECONFLICT, "%s: %s id %" PRId64 " belongs to user %" PRId64 "'s profile", what,
			       oc.hit ? "certification" : "education", oc.hit ? oc.hit : oe.hit, owner);
			co_err_hint(err, "pass id 0 for a new entry; ids are never shared between users");
			return CUTOVER_ECONFLICT;
		}
	}
	cutover_portfolio *p = co_portfolio_dup(in);
	if (!p)
		return co_err_oom(err);
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

	bool fresh = !self;
	if (fresh && !(self = cJSON_CreateObject())) {
		cutover_portfolio_free(p);
		return co_err_oom(err);
	}
	rc = write_record(self, p, err);
	cutover_portfolio_free(p);
	if (!rc && fresh && !cJSON_AddItemToArray(d->items, self))
		rc = co_err_oom(err);
	if (rc) {
		if (fresh)
			cJSON_Delete(self);
		return rc;
	}
	if ((rc = write_marks(d, hw_cert, hw_edu, err)))
		return rc;
	size_t pos = 0;
	cJSON_ArrayForEach(it, d->items) {
		if (it == self)
			break;
		pos++;
	}
	return decode(d, pos, self, in->user_id, out, err);
}

typedef struct write_ctx {
	co_transport *t;
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
static int put_edit(co_doc *d, void *vctx, bool *changed, cutover_error *err)
{
	write_ctx *c = vctx;
	size_t pos = 0;
	cutover_portfolio_free(c->out);
	c->out = NULL;
	c->sk = (skipped){0, 0};
	cJSON *self = find_profile(d, c->in->user_id, &pos, &c->sk);
	cutover_portfolio in = *c->in, *cur = NULL;
	cutover_error scratch;
	if (self && decode(d, pos, self, in.user_id, &cur, &scratch) == CUTOVER_OK) {
		bool newer = co_portfolio_newer(cur, &in);
		if (!c->replicate)
			in.updated_at = co_portfolio_put_stamp(cur, &in);
		cutover_portfolio_free(cur);
		if (c->replicate && newer) {
			*changed = false;
			return CUTOVER_OK;
		}
	}
	int rc = store(d, c->t, c->replicate ? "replicate profile" : "put profile", self, &in, &c->out, err);
	*changed = rc == CUTOVER_OK;
	return rc;
}

static int edit_edit(co_doc *d, void *vctx, bool *changed, cutover_error *err)
{
	write_ctx *c = vctx;
	const char *what = co_profile_edit_name((int)c->e->kind);
	size_t pos = 0;
	cutover_portfolio *cur = NULL;
	cutover_portfolio_free(c->out);
	c->out = NULL;
	c->sk = (skipped){0, 0};
	cJSON *self = find_profile(d, c->user_id, &pos, &c->sk);
	if (!self)
		return no_profile(err, what, c->user_id);
	int rc = decode(d, pos, self, c->user_id, &cur, err);
	if (!rc)
		rc = co_portfolio_apply_edit(cur, c->e, c->now, err);
	if (!rc)
		rc = store(d, c->t, what, self, cur, &c->out, err);
	cutover_portfolio_free(cur);
	*changed = rc == CUTOVER_OK;
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
	write_ctx c = {.t = T(s), .in = in};
	if (out)
		*out = NULL;
	if (!in || in->user_id <= 0)
		return co_err(err, CUTOVER_EINVALID, "put profile: a profile with a user_id is required");
	int rc = co_doc_update(T(s), LOCK_NAME, PROFILES_KEY, PROFILES_COLL, put_edit, &c, err);
	return finish(&c, rc, "put_profile", out);
}

static int j_replicate(cutover_profile *s, const cutover_portfolio *in, cutover_error *err)
{
	write_ctx c = {.t = T(s), .in = in, .replicate = true};
	if (!in || in->user_id <= 0)
		return co_err(err, CUTOVER_EINVALID, "replicate profile: a profile with a user_id is required");
	int rc = co_doc_update(T(s), LOCK_NAME, PROFILES_KEY, PROFILES_COLL, put_edit, &c, err);
	return finish(&c, rc, "replicate_profile", NULL);
}

static int j_edit(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		  cutover_ts now, cutover_error *err)
{
	write_ctx c = {.t = T(s), .user_id = user_id, .e = e, .now = now};
	if (out)
		*out = NULL;
	if (!e)
		return co_err(err, CUTOVER_EINVALID, "edit profile: no edit given");
	int rc = co_doc_update(T(s), LOCK_NAME, PROFILES_KEY, PROFILES_COLL, edit_edit, &c, err);
	return finish(&c, rc, "edit_profile", out);
}

/* --- the handle ------------------------------------------------------------------------ */

static void j_free(cutover_profile *s)
{
	json_profile *j = (json_profile *)s;
	if (!j)
		return;
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
