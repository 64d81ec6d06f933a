/* json_identity.c — the identity domain over the legacy JSON documents.
 *
 * identity/users.json is {"users": [...]} and identity/sessions.json is
 * {"sessions": [...]}, each served from a cached index (json_index.h): users
 * by id, email key and oauth link (and the largest id), sessions by token
 * hash and user id (and each one's expiry). A call checks the document's
 * version once (a stat, or a conditional GET), reads only the records it
 * matched, and decodes them with the backfill's strict decoder. Reads take
 * no lock: documents are replaced whole, atomically. Every write is one
 * read-modify-write under the transport lock "identity", so concurrent
 * processes neither lose updates nor hand out the same user id; it streams
 * the new version, writing anew only the records it changes. A changed
 * record is edited in its parsed form, never rebuilt, so fields this
 * library does not know survive; the other records keep their bytes.
 *
 * The answers must equal the Postgres backend's (the conformance suite runs
 * both): emails are matched by their normalised form (legacy rows may not be
 * normalised) and returned normalised, update_user goes through the shared
 * co_user_apply_patch, ids are assigned max+1, put_user never replaces a user
 * holding another email, and every record handed back is decoded from what
 * was stored.
 *
 * Legacy data is dirty, and one bad record must not take the others down:
 * scans step over records whose keys they cannot read (and log, once per
 * call, how many and where: positions only, never contents). A call fails
 * with CUTOVER_ECORRUPT, naming the document, the position and the key, only
 * when the record it matched and must return or rewrite cannot be decoded.
 * Uniqueness checks use every key they can read; new ids are max + 1 over
 * every id that reads as an integer. Emails, oauth subjects, token and
 * password hashes never appear in messages.
 */
#include "json_doc.h"
#include "json_index.h"
#include "legacy_identity.h"
#include "json_encode.h"

#include <stdlib.h>
#include <string.h>

#define USERS_KEY "identity/users.json"
#define USERS_COLL "users"
#define SESSIONS_KEY "identity/sessions.json"
#define SESSIONS_COLL "sessions"
#define LOCK_NAME "identity"

typedef struct json_identity {
	cutover_identity base; /* first: the handle is a cutover_identity */
	co_transport *t;
	co_ix *users, *sessions; /* the documents' indexes, over t */
} json_identity;

static co_ix *USERS(cutover_identity *s)
{
	return ((json_identity *)s)->users;
}

static co_ix *SESSIONS(cutover_identity *s)
{
	return ((json_identity *)s)->sessions;
}

/* --- the documents' indexes ------------------------------------------------- */

enum { U_ID, U_EMAIL, U_OAUTH, U_TABLES };       /* users.json: aux is the id */
enum { S_TOKEN, S_USER, S_EXPIRY, S_TABLES };    /* sessions.json: aux is expires_at */

/* The record's id, when it is an object with an integer id > 0. */
static bool user_id_of(const cJSON *rec, int64_t *id)
{
	cutover_error scratch;
	*id = 0;
	return cJSON_IsObject(rec) && co_json_get_int(rec, "id", true, id, NULL, &scratch) == CUTOVER_OK && *id > 0;
}

/* The record's stored email (borrowed, maybe not normalised); NULL when it
 * cannot be read. */
static const char *user_email_of(const cJSON *rec)
{
	const cJSON *e = cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, "email") : NULL;
	return cJSON_IsString(e) && e->valuestring ? e->valuestring : NULL;
}

/* The record's oauth links: an array of {provider, subject} strings, or NULL
 * when it has none. false when they cannot be read. */
static bool user_oauth_of(const cJSON *rec, const cJSON **out)
{
	const cJSON *arr = cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, "oauth") : NULL;
	const cJSON *link;
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return false;
	if (!arr || cJSON_IsNull(arr))
		return true;
	if (!cJSON_IsArray(arr))
		return false;
	cJSON_ArrayForEach(link, arr) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(link, "provider");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(link, "subject");
		if (!cJSON_IsObject(link) || !cJSON_IsString(p) || !cJSON_IsString(s))
			return false;
	}
	*out = arr;
	return true;
}

/* An oauth link as one index key: provider, a NUL, subject (malloc'd). */
static char *oauth_key(const char *provider, const char *subject, size_t *len)
{
	size_t a = strlen(provider), b = strlen(subject);
	char *k = malloc(a + b + 2);
	if (k) {
		memcpy(k, provider, a + 1);
		memcpy(k + a + 1, subject, b + 1);
	}
	*len = a + 1 + b;
	return k;
}

static void user_keys(const cJSON *rec, co_ix_emit *e)
{
	int64_t id;
	const cJSON *oauth, *link;
	const char *email = user_email_of(rec);
	if (user_id_of(rec, &id)) {
		co_ix_key(e, U_ID, &id, sizeof id);
		co_ix_set_aux(e, id);
	} else {
		co_ix_key_unreadable(e, U_ID);
	}
	if (email) {
		char *norm = co_email_normalize(email);
		if (!norm) {
			co_ix_emit_failed(e);
			return;
		}
		co_ix_key(e, U_EMAIL, norm, strlen(norm));
		free(norm);
	} else {
		co_ix_key_unreadable(e, U_EMAIL);
	}
	if (!user_oauth_of(rec, &oauth)) {
		co_ix_key_unreadable(e, U_OAUTH);
		return;
	}
	cJSON_ArrayForEach(link, oauth) {
		size_t len;
		char *k = oauth_key(cJSON_GetObjectItemCaseSensitive(link, "provider")->valuestring,
		                    cJSON_GetObjectItemCaseSensitive(link, "subject")->valuestring, &len);
		if (!k) {
			co_ix_emit_failed(e);
			return;
		}
		co_ix_key(e, U_OAUTH, k, len);
		free(k);
	}
}

/* The key of a session record (borrowed); NULL when it cannot be read. */
static const char *session_token(const cJSON *rec)
{
	const cJSON *t = cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, "token_hash") : NULL;
	return cJSON_IsString(t) && t->valuestring ? t->valuestring : NULL;
}

/* A session whose token cannot be read is stepped over by every call. */
static void session_keys(const cJSON *rec, co_ix_emit *e)
{
	const char *token = session_token(rec);
	int64_t uid;
	cutover_ts exp;
	cutover_error scratch;
	if (!token) {
		co_ix_key_unreadable(e, S_TOKEN);
		co_ix_key_unreadable(e, S_USER);
		co_ix_key_unreadable(e, S_EXPIRY);
		return;
	}
	co_ix_key(e, S_TOKEN, token, strlen(token));
	if (co_json_get_int(rec, "user_id", true, &uid, NULL, &scratch) == CUTOVER_OK)
		co_ix_key(e, S_USER, &uid, sizeof uid);
	else
		co_ix_key_unreadable(e, S_USER);
	if (co_json_get_ts(rec, "expires_at", true, &exp, &scratch) == CUTOVER_OK)
		co_ix_set_aux(e, exp);
	else
		co_ix_key_unreadable(e, S_EXPIRY);
}

static const co_ix_spec users_spec = {USERS_KEY, USERS_COLL, U_TABLES, user_keys};
static const co_ix_spec sessions_spec = {SESSIONS_KEY, SESSIONS_COLL, S_TABLES, session_keys};

/* --- records a call stepped over ------------------------------------------- */

enum { DOC_USERS, DOC_SESSIONS, DOC_COUNT };

/* Unreadable records a call stepped over, per document; reported once per call. */
typedef struct skipped {
	size_t n[DOC_COUNT], first[DOC_COUNT]; /* count; 0-based position of the first */
} skipped;

static void skip_add(skipped *sk, int doc, size_t n, size_t first)
{
	if (!n)
		return;
	if (sk->n[doc] == 0 || first < sk->first[doc])
		sk->first[doc] = first;
	sk->n[doc] += n;
}

/* The records of table unreadable before ord (SIZE_MAX: all): the ones a
 * scan for that key would have stepped over. */
static void skip_table(skipped *sk, int doc, const co_ix *x, unsigned table, size_t before)
{
	size_t first, n = co_ix_unreadable(x, table, before, &first);
	skip_add(sk, doc, n, first);
}

/* One line per call. Positions only: an unreadable record may hold anything
 * (emails, hashes), so nothing of it is quoted. */
static void skip_report(const skipped *sk, const char *op)
{
	static const char *const keys[DOC_COUNT] = {USERS_KEY, SESSIONS_KEY};
	char part[DOC_COUNT][160];
	bool any = false;
	for (int doc = 0; doc < DOC_COUNT; doc++) {
		part[doc][0] = '\0';
		if (!sk->n[doc])
			continue;
		snprintf(part[doc], sizeof part[doc], "%s%s: %zu record%s, the first at position %zu", any ? "; " : "",
		         keys[doc], sk->n[doc], sk->n[doc] == 1 ? "" : "s", sk->first[doc] + 1);
		any = true;
	}
	if (any)
		co_log("json identity %s: skipped unreadable records (%s%s); fix them (cutover survey identity "
		       "lists them)",
		       op, part[DOC_USERS], part[DOC_SESSIONS]);
}

/* The first record matching key in table (see co_ix_first), with the
 * unreadable records before it (or all, when none matches) counted as
 * stepped over. CUTOVER_ENOTFOUND leaves err untouched. */
static int first_of(co_ix *x, int doc, unsigned table, const void *key, size_t len, co_ix_match_fn match,
                    const void *ctx, size_t self, cJSON **rec, size_t *ord, skipped *sk, cutover_error *err)
{
	int rc = co_ix_first(x, table, key, len, match, ctx, self, rec, ord, err);
	if (rc == CUTOVER_OK || rc == CUTOVER_ENOTFOUND)
		skip_table(sk, doc, x, table, rc == CUTOVER_OK ? *ord : SIZE_MAX);
	return rc;
}

/* --- users: reading -------------------------------------------------------- */

static bool id_is(const cJSON *rec, const void *ctx)
{
	int64_t id;
	return user_id_of(rec, &id) && id == *(const int64_t *)ctx;
}

/* Does the stored email, normalised, equal norm (already normalised)? */
static bool email_is(const cJSON *rec, const void *norm)
{
	const char *stored = user_email_of(rec);
	char *n = stored ? co_email_normalize(stored) : NULL;
	bool same = n && strcmp(n, norm) == 0;
	free(n);
	return same;
}

typedef struct oauth_want {
	const char *provider, *subject;
} oauth_want;

static bool oauth_contains(const cJSON *oauth, const char *provider, const char *subject)
{
	const cJSON *link;
	if (!oauth)
		return false;
	cJSON_ArrayForEach(link, oauth) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(link, "provider");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(link, "subject");
		if (cJSON_IsString(p) && cJSON_IsString(s) && strcmp(p->valuestring, provider) == 0 &&
		    strcmp(s->valuestring, subject) == 0)
			return true;
	}
	return false;
}

static bool oauth_is(const cJSON *rec, const void *ctx)
{
	const oauth_want *w = ctx;
	const cJSON *oauth;
	return user_oauth_of(rec, &oauth) && oauth_contains(oauth, w->provider, w->subject);
}

/* Decode the record a call matched: CUTOVER_ECORRUPT naming the document,
 * the position and the id when it cannot be read. */
static int decode_user(const co_ix *x, size_t pos, const cJSON *rec, cutover_user **out, cutover_error *err)
{
	int64_t id;
	char what[64] = "";
	if (user_id_of(rec, &id))
		snprintf(what, sizeof what, "id %lld", (long long)id);
	int rc = co_legacy_user_from_json(rec, out, err); /* the one definition of a legacy user */
	return rc == CUTOVER_ECORRUPT ? co_ix_record_error(x, err, pos, what[0] ? what : NULL) : rc;
}

/* The first record with this id (not at self); CUTOVER_ENOTFOUND when none. */
static int find_user_id(co_ix *x, int64_t id, size_t self, cJSON **rec, size_t *pos, skipped *sk, cutover_error *err)
{
	return first_of(x, DOC_USERS, U_ID, &id, sizeof id, id_is, &id, self, rec, pos, sk, err);
}

/* --- users: writing -------------------------------------------------------- */

/* Replace rec's oauth list with u's links, in u's order, reusing an existing
 * link object when provider and subject match so its extra fields survive. */
static int write_oauth(cJSON *rec, const cutover_user *u, cutover_error *err)
{
	cJSON *old = cJSON_GetObjectItemCaseSensitive(rec, "oauth");
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return co_err_oom(err);
	for (size_t i = 0; i < u->n_oauth; i++) {
		const cutover_oauth_link *l = &u->oauth[i];
		cJSON *link = NULL, *it;
		if (cJSON_IsArray(old)) {
			cJSON_ArrayForEach(it, old) {
				const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "provider");
				const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "subject");
				if (cJSON_IsObject(it) && cJSON_IsString(p) && cJSON_IsString(s) &&
				    co_streq(p->valuestring, l->provider) && co_streq(s->valuestring, l->subject)) {
					link = cJSON_DetachItemViaPointer(old, it);
					break;
				}
			}
		}
		if (!link) {
			link = cJSON_CreateObject();
			if (!link || co_json_set_str(link, "provider", l->provider, err) != CUTOVER_OK ||
			    co_json_set_str(link, "subject", l->subject, err) != CUTOVER_OK) {
				cJSON_Delete(link);
				cJSON_Delete(arr);
				return co_err_oom(err);
			}
		}
		if (!cJSON_AddItemToArray(arr, link)) {
			cJSON_Delete(link);
			cJSON_Delete(arr);
			return co_err_oom(err);
		}
	}
	return co_json_set(rec, "oauth", arr, err);
}

/* Write every known field of u into rec (in place; unknown fields stay). */
static int write_user(cJSON *rec, const cutover_user *u, cutover_error *err)
{
	int rc;
	if ((rc = co_json_set_int(rec, "id", u->id, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "email", u->email, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "username", u->username, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "display_name", u->display_name, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str_or_omit(rec, "password_hash", u->password_hash, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "role", u->role, err)) != CUTOVER_OK ||
	    (rc = write_oauth(rec, u, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "email_verified_at", u->email_verified_at, err)) != CUTOVER_OK ||
	    (rc = co_json_set_bool(rec, "disabled", u->disabled, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "created_at", u->created_at, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "updated_at", u->updated_at, err)) != CUTOVER_OK)
		return rc;
	return CUTOVER_OK;
}

/* Refuse u when another record (not at self) holds its email or one of its
 * oauth links (or, want_id > 0, that id), or u repeats a link; the clash
 * reported is the one earliest in the document. *max_id gets the largest
 * id that reads as an integer. A record whose keys cannot be read cannot be
 * proven not to clash: the keys that can be read are still checked, and
 * the record is reported as skipped. */
static int check_user_unique(co_ix *x, const cutover_user *u, size_t self, const char *norm_email, int64_t want_id,
                             int64_t *max_id, skipped *sk, const char *what, cutover_error *err)
{
	size_t best = SIZE_MAX, pos, first;
	int kind = 0; /* 1 id, 2 email, 3 oauth (earliest record first) */
	const char *provider = NULL;
	int rc;

	*max_id = co_ix_aux_max(x) > 0 ? co_ix_aux_max(x) : 0;
	for (size_t a = 0; a < u->n_oauth; a++)
		if (!u->oauth[a].provider || !u->oauth[a].subject)
			return co_err(err, CUTOVER_EINVALID, "%s: oauth link %zu needs a provider and a subject", what, a);
	for (size_t a = 0; a < u->n_oauth; a++)
		for (size_t b = a + 1; b < u->n_oauth; b++)
			if (co_streq(u->oauth[a].provider, u->oauth[b].provider) &&
			    co_streq(u->oauth[a].subject, u->oauth[b].subject))
				return co_err(err, CUTOVER_ECONFLICT, "%s: oauth link %s appears twice in the user", what,
				              u->oauth[a].provider);
	size_t n = co_ix_unreadable_any(x, &first), one;
	bool self_bad = false;
	for (unsigned t = 0; self != SIZE_MAX && t < U_TABLES; t++)
		self_bad |= co_ix_unreadable(x, t, self + 1, &one) > co_ix_unreadable(x, t, self, &one);
	if (self_bad)
		n--; /* not itself */
	skip_add(sk, DOC_USERS, n, first);

	if (want_id > 0) {
		rc = co_ix_taken(x, U_ID, &want_id, sizeof want_id, id_is, &want_id, self, &pos, err);
		if (rc == CUTOVER_OK) {
			best = pos;
			kind = 1;
		} else if (rc != CUTOVER_ENOTFOUND) {
			return rc;
		}
	}
	rc = co_ix_taken(x, U_EMAIL, norm_email, strlen(norm_email), email_is, norm_email, self, &pos, err);
	if (rc == CUTOVER_OK) {
		if (pos < best) {
			best = pos;
			kind = 2;
		}
	} else if (rc != CUTOVER_ENOTFOUND) {
		return rc;
	}
	for (size_t j = 0; j < u->n_oauth; j++) {
		oauth_want w = {u->oauth[j].provider, u->oauth[j].subject};
		size_t len;
		char *k = oauth_key(w.provider, w.subject, &len);
		if (!k)
			return co_err_oom(err);
		rc = co_ix_taken(x, U_OAUTH, k, len, oauth_is, &w, self, &pos, err);
		free(k);
		if (rc == CUTOVER_OK) {
			if (pos < best) {
				best = pos;
				kind = 3;
				provider = w.provider;
			}
		} else if (rc != CUTOVER_ENOTFOUND) {
			return rc;
		}
	}
	if (kind == 1)
		return co_err(err, CUTOVER_ECONFLICT, "%s: user id %lld already taken", what, (long long)want_id);
	if (kind == 2)
		return co_err(err, CUTOVER_ECONFLICT, "%s: email already taken", what);
	if (kind == 3)
		return co_err(err, CUTOVER_ECONFLICT, "%s: oauth link %s already linked", what, provider);
	return CUTOVER_OK;
}

/* --- users: operations ----------------------------------------------------- */

typedef struct create_user_ctx {
	const cutover_user *in;
	cutover_user *out;
	skipped sk;
} create_user_ctx;

static int create_user_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	create_user_ctx *c = vctx;
	cutover_user u = *c->in;
	int64_t max_id;
	int rc;

	cutover_user_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);

	char *email = co_email_normalize(c->in->email);
	if (!email)
		return co_err_oom(err);
	u.email = email;

	if ((rc = check_user_unique(x, &u, SIZE_MAX, email, c->in->id, &max_id, &c->sk, "create user", err)) != CUTOVER_OK)
		goto out;
	u.id = c->in->id > 0 ? c->in->id : max_id + 1;

	cJSON *rec = cJSON_CreateObject();
	if (!rec) {
		rc = co_err_oom(err);
		goto out;
	}
	if ((rc = write_user(rec, &u, err)) != CUTOVER_OK ||
	    (rc = decode_user(x, co_ix_count(x), rec, &c->out, err)) != CUTOVER_OK) {
		cJSON_Delete(rec);
		goto out;
	}
	rc = co_ix_append(e, rec, err);
out:
	free(email);
	return rc;
}

static int j_create_user(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err)
{
	create_user_ctx c = {in, NULL, {{0}, {0}}};
	if (out)
		*out = NULL;
	if (!in || !in->email || !in->role)
		return co_err(err, CUTOVER_EINVALID, "create_user needs an email and a role");
	if (in->id < 0)
		return co_err(err, CUTOVER_EINVALID, "user id %lld is not valid", (long long)in->id);
	int rc = co_ix_update(USERS(s), LOCK_NAME, create_user_edit, &c, err);
	skip_report(&c.sk, "create_user");
	if (rc != CUTOVER_OK) {
		cutover_user_free(c.out);
		return rc;
	}
	if (out)
		*out = c.out;
	else
		cutover_user_free(c.out);
	return CUTOVER_OK;
}

/* The user found by first_of, decoded; the not-found message is the caller's. */
static int decode_found(co_ix *x, int rc, cJSON *rec, size_t pos, cutover_user **out, cutover_error *err)
{
	if (rc == CUTOVER_OK)
		rc = decode_user(x, pos, rec, out, err);
	cJSON_Delete(rec);
	return rc;
}

static int get_user(cutover_identity *s, cutover_user **out, int64_t id, skipped *sk, cutover_error *err)
{
	co_ix *x = USERS(s);
	cJSON *rec = NULL;
	size_t pos = 0;
	*out = NULL;
	int rc = co_ix_sync(x, err);
	if (rc != CUTOVER_OK)
		return rc;
	rc = find_user_id(x, id, SIZE_MAX, &rec, &pos, sk, err);
	rc = decode_found(x, rc, rec, pos, out, err);
	if (rc == CUTOVER_ENOTFOUND)
		co_err(err, CUTOVER_ENOTFOUND, "no user with id %lld", (long long)id);
	return rc;
}

static int j_get_user(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err)
{
	skipped sk = {{0}, {0}};
	int rc = get_user(s, out, id, &sk, err);
	skip_report(&sk, "get_user");
	return rc;
}

static int j_get_user_by_email(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err)
{
	co_ix *x = USERS(s);
	cJSON *rec = NULL;
	size_t pos = 0;
	skipped sk = {{0}, {0}};
	*out = NULL;
	if (!email)
		return co_err(err, CUTOVER_EINVALID, "no email given");
	char *norm = co_email_normalize(email);
	if (!norm)
		return co_err_oom(err);
	int rc = co_ix_sync(x, err);
	if (rc == CUTOVER_OK) {
		rc = first_of(x, DOC_USERS, U_EMAIL, norm, strlen(norm), email_is, norm, SIZE_MAX, &rec, &pos, &sk, err);
		rc = decode_found(x, rc, rec, pos, out, err);
		if (rc == CUTOVER_ENOTFOUND)
			co_err(err, CUTOVER_ENOTFOUND, "no user with that email");
	}
	free(norm);
	skip_report(&sk, "get_user_by_email");
	return rc;
}

static int j_get_user_by_oauth(cutover_identity *s, cutover_user **out, const char *provider, const char *subject,
                               cutover_error *err)
{
	co_ix *x = USERS(s);
	cJSON *rec = NULL;
	size_t pos = 0, len;
	skipped sk = {{0}, {0}};
	*out = NULL;
	if (!provider || !subject)
		return co_err(err, CUTOVER_EINVALID, "an oauth lookup needs a provider and a subject");
	oauth_want w = {provider, subject};
	char *k = oauth_key(provider, subject, &len);
	if (!k)
		return co_err_oom(err);
	int rc = co_ix_sync(x, err);
	if (rc == CUTOVER_OK) {
		rc = first_of(x, DOC_USERS, U_OAUTH, k, len, oauth_is, &w, SIZE_MAX, &rec, &pos, &sk, err);
		rc = decode_found(x, rc, rec, pos, out, err);
		if (rc == CUTOVER_ENOTFOUND)
			co_err(err, CUTOVER_ENOTFOUND, "no user linked to that %s account", provider);
	}
	free(k);
	skip_report(&sk, "get_user_by_oauth");
	return rc;
}

typedef struct update_user_ctx {
	int64_t id;
	const cutover_user_patch *patch;
	cutover_ts now;
	cutover_user *out;
	skipped sk;
} update_user_ctx;

static int update_user_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	update_user_ctx *c = vctx;
	cutover_user *before = NULL, *after = NULL;
	cJSON *rec = NULL;
	size_t pos = 0;
	int rc;

	cutover_user_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);

	rc = find_user_id(x, c->id, SIZE_MAX, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, CUTOVER_ENOTFOUND, "no user with id %lld", (long long)c->id);
	if (rc != CUTOVER_OK)
		return rc;
	if ((rc = decode_user(x, pos, rec, &before, err)) != CUTOVER_OK)
		goto out;
	if (!(after = co_user_dup(before))) {
		rc = co_err_oom(err);
		goto out;
	}
	if ((rc = co_user_apply_patch(after, c->patch, c->now, err)) != CUTOVER_OK)
		goto out;

	/* write back only what the patch changed, so other fields keep their bytes */
	if (!co_streq(before->display_name, after->display_name) &&
	    (rc = co_json_set_str(rec, "display_name", after->display_name, err)) != CUTOVER_OK)
		goto out;
	if (!co_streq(before->role, after->role) && (rc = co_json_set_str(rec, "role", after->role, err)) != CUTOVER_OK)
		goto out;
	if (!co_streq(before->password_hash, after->password_hash) &&
	    (rc = co_json_set_str_or_omit(rec, "password_hash", after->password_hash, err)) != CUTOVER_OK)
		goto out;
	if (before->email_verified_at != after->email_verified_at &&
	    (rc = co_json_set_ts(rec, "email_verified_at", after->email_verified_at, err)) != CUTOVER_OK)
		goto out;
	if (before->disabled != after->disabled &&
	    (rc = co_json_set_bool(rec, "disabled", after->disabled, err)) != CUTOVER_OK)
		goto out;
	if ((rc = co_json_set_ts(rec, "updated_at", after->updated_at, err)) != CUTOVER_OK)
		goto out;
	if ((rc = decode_user(x, pos, rec, &c->out, err)) != CUTOVER_OK)
		goto out;
	rc = co_ix_replace(e, pos, rec, err);
	rec = NULL;
out:
	cJSON_Delete(rec);
	cutover_user_free(before);
	cutover_user_free(after);
	return rc;
}

static int j_update_user(cutover_identity *s, cutover_user **out, int64_t id, const cutover_user_patch *patch,
                         cutover_ts now, cutover_error *err)
{
	update_user_ctx c = {id, patch, now, NULL, {{0}, {0}}};
	if (out)
		*out = NULL;
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "update_user needs a patch");
	int rc = co_ix_update(USERS(s), LOCK_NAME, update_user_edit, &c, err);
	skip_report(&c.sk, "update_user");
	if (rc != CUTOVER_OK) {
		cutover_user_free(c.out);
		return rc;
	}
	if (out)
		*out = c.out;
	else
		cutover_user_free(c.out);
	return CUTOVER_OK;
}

typedef struct ranked {
	int64_t id;
	size_t pos;
	cutover_user *u;
} ranked;

static int by_id_then_pos(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_email_then_pos(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	int c = strcmp(x->u->email, y->u->email);
	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Keep the first (lowest position) of each run of sel, sorted by cmp, that
 * cmp calls equal; the rest are freed and counted in dup. */
static size_t keep_first(ranked *sel, size_t n, int (*cmp)(const void *, const void *), skipped *dup)
{
	size_t kept = 0;
	qsort(sel, n, sizeof *sel, cmp);
	for (size_t i = 0; i < n; i++) {
		ranked probe = sel[i];
		if (kept) { /* same key as the kept one: compare with pos made equal */
			probe.pos = sel[kept - 1].pos;
			if (cmp(&sel[kept - 1], &probe) == 0) {
				if (dup->n[DOC_USERS]++ == 0 || sel[i].pos < dup->first[DOC_USERS])
					dup->first[DOC_USERS] = sel[i].pos;
				cutover_user_free(sel[i].u);
				continue;
			}
		}
		sel[kept++] = sel[i];
	}
	return kept;
}

/* Every record is decoded; one that cannot be is skipped (it is not a user
 * either store can serve: the backfill rejects it too), and so is a record
 * whose id or email key an earlier record has: the lookups find the first,
 * the backfill keeps the first and rejects the rest. */
static int j_list_assignable_users(cutover_identity *s, cutover_user_list *out, const char *role, cutover_error *err)
{
	co_ix *x = USERS(s);
	size_t n = 0;
	ranked *sel = NULL;
	skipped sk = {{0}, {0}}, dup = {{0}, {0}};
	int rc;

	out->items = NULL;
	out->n = 0;
	if ((rc = co_ix_sync(x, err)) != CUTOVER_OK)
		return rc;
	size_t total = co_ix_count(x);
	if (total > 0 && !(sel = calloc(total, sizeof *sel)))
		return co_err_oom(err);
	for (size_t pos = 0; pos < total; pos++) {
		cutover_user *u = NULL;
		cutover_error scratch;
		cJSON *rec = NULL;
		if (!co_ix_readable(x, pos)) {
			skip_add(&sk, DOC_USERS, 1, pos);
			continue;
		}
		if ((rc = co_ix_read(x, pos, &rec, err)) != CUTOVER_OK)
			goto fail;
		rc = co_legacy_user_from_json(rec, &u, &scratch);
		cJSON_Delete(rec);
		if (rc == CUTOVER_ECORRUPT) {
			skip_add(&sk, DOC_USERS, 1, pos);
			continue;
		}
		if (rc != CUTOVER_OK) {
			rc = co_err_oom(err);
			goto fail;
		}
		sel[n++] = (ranked){u->id, pos, u};
	}
	/* the first record of each id, then of each email key; then the filter */
	n = keep_first(sel, n, by_id_then_pos, &dup);
	n = keep_first(sel, n, by_email_then_pos, &dup);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (!sel[i].u->disabled && (!role || strcmp(sel[i].u->role, role) == 0))
			sel[kept++] = sel[i];
		else
			cutover_user_free(sel[i].u);
	}
	n = kept;
	if (n > 0) {
		qsort(sel, n, sizeof *sel, by_id_then_pos);
		if (!(out->items = calloc(n, sizeof *out->items))) {
			rc = co_err_oom(err);
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			out->items[out->n++] = *sel[i].u; /* the fields move into the list */
			free(sel[i].u);
			sel[i].u = NULL;
		}
	}
	free(sel);
	skip_report(&sk, "list_assignable_users");
	if (dup.n[DOC_USERS])
		co_log("json identity list_assignable_users: skipped records whose id or email key an earlier record has "
		       "(%s: %zu record%s, the first at position %zu); the first record is the user (cutover survey "
		       "identity lists them)",
		       USERS_KEY, dup.n[DOC_USERS], dup.n[DOC_USERS] == 1 ? "" : "s", dup.first[DOC_USERS] + 1);
	return CUTOVER_OK;
fail:
	for (size_t i = 0; i < n; i++)
		cutover_user_free(sel[i].u);
	free(sel);
	return rc;
}

typedef struct put_user_ctx {
	const cutover_user *u;
	skipped sk;
} put_user_ctx;

/* Replication: insert, or replace the record with this id, but only when it
 * is the same user. Email changes are not an operation of the API, so a
 * record with this id and another email is a different user, never
 * overwritten; one that cannot be read cannot be compared, so it is not
 * overwritten either. A stored copy newer than u (co_user_newer) is kept
 * and the put succeeds without writing, so second writes landing out of
 * order never move a user back. */
static int put_user_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	put_user_ctx *c = vctx;
	cutover_user u = *c->u;
	cJSON *rec = NULL;
	size_t pos = SIZE_MAX;
	int64_t max_id;
	int rc;

	memset(&c->sk, 0, sizeof c->sk);
	char *norm = co_email_normalize(c->u->email);
	if (!norm)
		return co_err_oom(err);
	u.email = norm;
	rc = find_user_id(x, u.id, SIZE_MAX, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND &&
	    (rc = co_ix_taken(x, U_ID, &u.id, sizeof u.id, id_is, &u.id, SIZE_MAX, &pos, err)) == CUTOVER_OK) {
		/* a record with this id that breaks the strict rules: it cannot be
		 * compared, so it is not overwritten (its reason, named) */
		char what[64];
		snprintf(what, sizeof what, "id %lld", (long long)u.id);
		cJSON *bad = NULL;
		if ((rc = co_ix_read(x, pos, &bad, err)) == CUTOVER_ECORRUPT)
			rc = co_ix_record_error(x, err, pos, what);
		cJSON_Delete(bad);
		if (rc == CUTOVER_OK)
			rc = co_err(err, CUTOVER_EINTERNAL, "%s: record %zu was unreadable and now reads", USERS_KEY, pos + 1);
		goto out;
	}
	if (rc == CUTOVER_ENOTFOUND) {
		rc = CUTOVER_OK;
		pos = SIZE_MAX;
	}
	if (rc != CUTOVER_OK)
		goto out;
	if (rec) {
		cutover_user *cur = NULL;
		if ((rc = decode_user(x, pos, rec, &cur, err)) != CUTOVER_OK)
			goto out;
		bool same = strcmp(cur->email, norm) == 0, newer = co_user_newer(cur, &u);
		cutover_user_free(cur);
		if (same && newer) /* a newer state is stored (a later write's put landed first): keep it */
			goto out;
		if (!same) {
			rc = co_err(err, CUTOVER_ECONFLICT, "put user: user %lld in json belongs to another email; not replaced",
			            (long long)u.id);
			co_err_detail(err, "%s: record %zu", USERS_KEY, pos + 1);
			goto out;
		}
	}
	if ((rc = check_user_unique(x, &u, pos, norm, 0, &max_id, &c->sk, "put user", err)) != CUTOVER_OK)
		goto out;
	if (!rec && !(rec = cJSON_CreateObject())) {
		rc = co_err_oom(err);
		goto out;
	}
	if ((rc = write_user(rec, &u, err)) != CUTOVER_OK)
		goto out;
	rc = pos != SIZE_MAX ? co_ix_replace(e, pos, rec, err) : co_ix_append(e, rec, err);
	rec = NULL;
out:
	cJSON_Delete(rec);
	free(norm);
	return rc;
}

static int j_put_user(cutover_identity *s, const cutover_user *u, cutover_error *err)
{
	put_user_ctx c = {u, {{0}, {0}}};
	if (!u || u->id <= 0 || !u->email || !u->role)
		return co_err(err, CUTOVER_EINVALID, "put_user needs a user with an id > 0, an email and a role");
	int rc = co_ix_update(USERS(s), LOCK_NAME, put_user_edit, &c, err);
	skip_report(&c.sk, "put_user");
	return rc;
}

/* --- sessions -------------------------------------------------------------- */

static void session_what(const char *token, const cJSON *rec, char *buf, size_t len)
{
	char red[64];
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(rec, "user_id");
	co_redact_value(token, red, sizeof red);
	if (cJSON_IsNumber(uid))
		snprintf(buf, len, "token %s, user_id %.0f", red, uid->valuedouble);
	else
		snprintf(buf, len, "token %s", red);
}

/* Decode the session a call matched (its token was readable); ECORRUPT
 * naming the document, the position and the redacted key when the rest is
 * not. */
static int decode_session(const co_ix *x, size_t pos, const cJSON *rec, cutover_session **out, cutover_error *err)
{
	char what[128];
	*out = NULL;
	session_what(session_token(rec), rec, what, sizeof what);
	int rc = co_legacy_session_from_json(rec, out, err); /* the one definition of a legacy session */
	return rc == CUTOVER_ECORRUPT ? co_ix_record_error(x, err, pos, what) : rc;
}

static bool token_is(const cJSON *rec, const void *token)
{
	const char *tk = session_token(rec);
	return tk && strcmp(tk, token) == 0;
}

/* The session with this token; CUTOVER_ENOTFOUND when none. */
static int find_session(co_ix *x, const char *token, cJSON **rec, size_t *pos, skipped *sk, cutover_error *err)
{
	return first_of(x, DOC_SESSIONS, S_TOKEN, token, strlen(token), token_is, token, SIZE_MAX, rec, pos, sk, err);
}

static int no_session(cutover_error *err)
{
	return co_err(err, CUTOVER_ENOTFOUND, "no session with that token hash");
}

static int no_token(cutover_error *err)
{
	return co_err(err, CUTOVER_EINVALID, "a token hash is required");
}

static int write_session(cJSON *rec, const cutover_session *ss, cutover_error *err)
{
	int rc;
	if ((rc = co_json_set_str(rec, "token_hash", ss->token_hash, err)) != CUTOVER_OK ||
	    (rc = co_json_set_int(rec, "user_id", ss->user_id, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "created_at", ss->created_at, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "expires_at", ss->expires_at, err)) != CUTOVER_OK ||
	    (rc = co_json_set_ts(rec, "last_seen_at", ss->last_seen_at, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "user_agent", ss->user_agent, err)) != CUTOVER_OK ||
	    (rc = co_json_set_str(rec, "ip", ss->ip, err)) != CUTOVER_OK)
		return rc;
	return CUTOVER_OK;
}

/* Sessions reference users: refuse a session whose user is not in users.json. */
static int require_user(co_ix *users, int64_t user_id, skipped *sk, cutover_error *err)
{
	cJSON *rec = NULL;
	size_t pos;
	int rc = co_ix_sync(users, err);
	if (rc == CUTOVER_OK)
		rc = find_user_id(users, user_id, SIZE_MAX, &rec, &pos, sk, err);
	cJSON_Delete(rec);
	if (rc == CUTOVER_ENOTFOUND) {
		co_err(err, CUTOVER_EINVALID, "user %lld does not exist", (long long)user_id);
		co_err_detail(err, "a session must belong to a user in %s", USERS_KEY);
		return CUTOVER_EINVALID;
	}
	return rc;
}

typedef struct session_ctx {
	co_ix *users;
	const cutover_session *in;  /* create, put */
	const char *token;          /* touch, delete */
	int64_t user_id;            /* delete_user_sessions */
	cutover_ts now;
	bool upsert;                /* put_session */
	cutover_session *out;
	size_t count;
	skipped sk;
} session_ctx;

static int store_session_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	session_ctx *c = vctx;
	cJSON *rec = NULL;
	size_t pos = 0;
	int rc;

	memset(&c->sk, 0, sizeof c->sk);
	if ((rc = require_user(c->users, c->in->user_id, &c->sk, err)) != CUTOVER_OK)
		return rc;
	rc = find_session(x, c->in->token_hash, &rec, &pos, &c->sk, err);
	bool held = false; /* by a record that breaks the strict rules */
	if (rc == CUTOVER_ENOTFOUND) {
		rc = co_ix_taken(x, S_TOKEN, c->in->token_hash, strlen(c->in->token_hash), token_is, c->in->token_hash,
		                 SIZE_MAX, &pos, err);
		held = rc == CUTOVER_OK;
		if (rc == CUTOVER_ENOTFOUND)
			rc = CUTOVER_OK;
	}
	if (rc != CUTOVER_OK)
		return rc;
	if (held && !c->upsert)
		return co_err(err, CUTOVER_ECONFLICT, "a session with that token hash already exists");
	if (rec && !c->upsert) {
		cJSON_Delete(rec);
		return co_err(err, CUTOVER_ECONFLICT, "a session with that token hash already exists");
	}
	if (rec) { /* put: a newer stored copy (co_session_newer) is kept; an unreadable one is replaced */
		cutover_session *cur = NULL;
		cutover_error scratch;
		bool newer = decode_session(x, pos, rec, &cur, &scratch) == CUTOVER_OK && co_session_newer(cur, c->in);
		cutover_session_free(cur);
		if (newer) {
			cJSON_Delete(rec);
			return CUTOVER_OK;
		}
	}
	bool replace = rec != NULL || held; /* put: an unreadable one is replaced */
	if (!rec && !(rec = cJSON_CreateObject()))
		return co_err_oom(err);
	if ((rc = write_session(rec, c->in, err)) != CUTOVER_OK) {
		cJSON_Delete(rec);
		return rc;
	}
	return replace ? co_ix_replace(e, pos, rec, err) : co_ix_append(e, rec, err);
}

static int check_session_in(const cutover_session *in, cutover_error *err)
{
	if (!in || !in->token_hash || !*in->token_hash)
		return co_err(err, CUTOVER_EINVALID, "a session needs a token hash");
	if (in->expires_at == CUTOVER_TS_NULL)
		return co_err(err, CUTOVER_EINVALID, "a session needs an expiry time");
	return CUTOVER_OK;
}

static int store_session(cutover_identity *s, const cutover_session *in, bool upsert, const char *op,
                         cutover_error *err)
{
	session_ctx c = {.users = USERS(s), .in = in, .upsert = upsert};
	int rc = check_session_in(in, err);
	if (rc != CUTOVER_OK)
		return rc;
	rc = co_ix_update(SESSIONS(s), LOCK_NAME, store_session_edit, &c, err);
	skip_report(&c.sk, op);
	return rc;
}

static int j_create_session(cutover_identity *s, const cutover_session *in, cutover_error *err)
{
	return store_session(s, in, false, "create_session", err);
}

static int j_put_session(cutover_identity *s, const cutover_session *ss, cutover_error *err)
{
	return store_session(s, ss, true, "put_session", err);
}

static int get_session(cutover_identity *s, cutover_session **out, const char *token_hash, skipped *sk,
                       cutover_error *err)
{
	co_ix *x = SESSIONS(s);
	cJSON *rec = NULL;
	size_t pos = 0;
	*out = NULL;
	if (!token_hash)
		return no_token(err);
	int rc = co_ix_sync(x, err);
	if (rc != CUTOVER_OK)
		return rc;
	rc = find_session(x, token_hash, &rec, &pos, sk, err);
	if (rc == CUTOVER_OK)
		rc = decode_session(x, pos, rec, out, err);
	else if (rc == CUTOVER_ENOTFOUND)
		no_session(err);
	cJSON_Delete(rec);
	return rc;
}

static int j_get_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err)
{
	skipped sk = {{0}, {0}};
	int rc = get_session(s, out, token_hash, &sk, err);
	skip_report(&sk, "get_session");
	return rc;
}

static int j_lookup_session(cutover_identity *s, cutover_session **out_session, cutover_user **out_user,
                            const char *token_hash, cutover_ts now, cutover_error *err)
{
	cutover_session *ss = NULL;
	cutover_user *u = NULL;
	skipped sk = {{0}, {0}};
	if (out_session)
		*out_session = NULL;
	if (out_user)
		*out_user = NULL;

	int rc = get_session(s, &ss, token_hash, &sk, err);
	if (rc != CUTOVER_OK)
		goto out;
	if (ss->expires_at <= now) {
		rc = co_err(err, CUTOVER_ENOTFOUND, "no live session for that token: it has expired");
		goto out;
	}
	rc = get_user(s, &u, ss->user_id, &sk, err);
	if (rc == CUTOVER_ENOTFOUND) {
		rc = co_err(err, CUTOVER_ENOTFOUND, "no live session for that token: its user %lld does not exist",
		            (long long)ss->user_id);
	} else if (rc == CUTOVER_OK && u->disabled) {
		rc = co_err(err, CUTOVER_ENOTFOUND, "no live session for that token: its user %lld is disabled",
		            (long long)u->id);
	}
	if (rc == CUTOVER_OK) {
		if (out_session) {
			*out_session = ss;
			ss = NULL;
		}
		if (out_user) {
			*out_user = u;
			u = NULL;
		}
	}
out:
	cutover_session_free(ss);
	cutover_user_free(u);
	skip_report(&sk, "lookup_session");
	return rc;
}

static int touch_session_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	session_ctx *c = vctx;
	cJSON *rec = NULL;
	size_t pos = 0;
	int rc;

	cutover_session_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);
	rc = find_session(x, c->token, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		return no_session(err);
	if (rc != CUTOVER_OK)
		return rc;
	/* last_seen_at never moves back (an earlier `now` from a slower caller) */
	if ((rc = decode_session(x, pos, rec, &c->out, err)) != CUTOVER_OK)
		goto out;
	cutover_ts seen = c->out->last_seen_at > c->now ? c->out->last_seen_at : c->now;
	cutover_session_free(c->out);
	c->out = NULL;
	if ((rc = co_json_set_ts(rec, "last_seen_at", seen, err)) != CUTOVER_OK)
		goto out;
	/* decode even when not wanted: refuse to write back a record we cannot read */
	if ((rc = decode_session(x, pos, rec, &c->out, err)) != CUTOVER_OK)
		goto out;
	rc = co_ix_replace(e, pos, rec, err);
	rec = NULL;
out:
	cJSON_Delete(rec);
	return rc;
}

static int j_touch_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_ts now,
                           cutover_error *err)
{
	session_ctx c = {.token = token_hash, .now = now};
	if (out)
		*out = NULL;
	if (!token_hash)
		return no_token(err);
	int rc = co_ix_update(SESSIONS(s), LOCK_NAME, touch_session_edit, &c, err);
	skip_report(&c.sk, "touch_session");
	if (rc == CUTOVER_OK && out)
		*out = c.out;
	else
		cutover_session_free(c.out);
	return rc;
}

static bool user_id_is(const cJSON *rec, const void *ctx)
{
	int64_t uid;
	cutover_error scratch;
	return session_token(rec) && co_json_get_int(rec, "user_id", true, &uid, NULL, &scratch) == CUTOVER_OK &&
	       uid == *(const int64_t *)ctx;
}

/* Removes the sessions matching c: by token (c->token), by user (c->user_id
 * > 0) or expired (neither), every one of them. A record whose token, or the
 * field the match needs, cannot be read is left alone and reported as
 * skipped. */
static int delete_sessions_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	session_ctx *c = vctx;
	size_t *cand = NULL, n = 0;
	unsigned table = c->token ? S_TOKEN : c->user_id > 0 ? S_USER : S_EXPIRY;
	int rc = CUTOVER_OK;

	c->count = 0;
	memset(&c->sk, 0, sizeof c->sk);
	skip_table(&c->sk, DOC_SESSIONS, x, table, SIZE_MAX);
	if (table == S_EXPIRY) { /* the index holds every readable expiry */
		for (size_t i = 0; i < co_ix_count(x) && rc == CUTOVER_OK; i++) {
			int64_t exp = co_ix_aux(x, i);
			if (co_ix_readable(x, i) && exp != INT64_MIN && exp <= c->now) {
				rc = co_ix_delete(e, i, err);
				c->count++;
			}
		}
		return rc;
	}
	if (c->token)
		rc = co_ix_candidates(x, S_TOKEN, c->token, strlen(c->token), &cand, &n, err);
	else
		rc = co_ix_candidates(x, S_USER, &c->user_id, sizeof c->user_id, &cand, &n, err);
	for (size_t i = 0; i < n && rc == CUTOVER_OK; i++) {
		cJSON *rec = NULL;
		if (!co_ix_readable(x, cand[i]))
			continue;
		if ((rc = co_ix_read(x, cand[i], &rec, err)) != CUTOVER_OK)
			break;
		if (c->token ? token_is(rec, c->token) : user_id_is(rec, &c->user_id)) {
			rc = co_ix_delete(e, cand[i], err);
			c->count++;
		}
		cJSON_Delete(rec);
	}
	free(cand);
	if (rc == CUTOVER_OK && c->token && c->count == 0)
		return no_session(err);
	return rc;
}

static int delete_sessions(cutover_identity *s, session_ctx *c, const char *op, size_t *out_count, cutover_error *err)
{
	if (out_count)
		*out_count = 0;
	int rc = co_ix_update(SESSIONS(s), LOCK_NAME, delete_sessions_edit, c, err);
	skip_report(&c->sk, op);
	if (rc == CUTOVER_OK && out_count)
		*out_count = c->count;
	return rc;
}

static int j_delete_session(cutover_identity *s, const char *token_hash, cutover_error *err)
{
	session_ctx c = {.token = token_hash};
	if (!token_hash)
		return no_token(err);
	return delete_sessions(s, &c, "delete_session", NULL, err);
}

static int j_delete_user_sessions(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err)
{
	session_ctx c = {.user_id = user_id};
	if (out_count)
		*out_count = 0;
	if (user_id <= 0)
		return CUTOVER_OK; /* no user has such an id, so no session does */
	return delete_sessions(s, &c, "delete_user_sessions", out_count, err);
}

static int j_delete_expired_sessions(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err)
{
	session_ctx c = {.now = now};
	return delete_sessions(s, &c, "delete_expired_sessions", out_count, err);
}

/* --- internal: a user's sessions (reconcile) -------------------------------- */

int co_json_identity_user_sessions(cutover_identity *s, int64_t user_id, co_session_list *out, cutover_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->kind || strcmp(s->kind, "json") != 0)
		return co_err(err, CUTOVER_EINTERNAL, "user sessions: not a json identity handle");
	co_ix *x = SESSIONS(s);
	size_t *cand = NULL, n = 0;
	skipped sk = {{0}, {0}};
	int rc = co_ix_sync(x, err);
	if (rc == CUTOVER_OK)
		rc = co_ix_candidates(x, S_USER, &user_id, sizeof user_id, &cand, &n, err);
	if (rc == CUTOVER_OK && n && !(out->items = calloc(n, sizeof(*out->items))))
		rc = co_err_oom(err);
	if (rc == CUTOVER_OK)
		skip_table(&sk, DOC_SESSIONS, x, S_USER, SIZE_MAX);
	for (size_t i = 0; i < n && rc == CUTOVER_OK; i++) { /* candidates are in document order */
		cJSON *rec = NULL;
		if (!co_ix_readable(x, cand[i]))
			continue;
		if ((rc = co_ix_read(x, cand[i], &rec, err)) != CUTOVER_OK)
			break;
		if (user_id_is(rec, &user_id)) {
			cutover_session *ss = NULL;
			if ((rc = decode_session(x, cand[i], rec, &ss, err)) == CUTOVER_OK) {
				out->items[out->n++] = *ss;
				free(ss);
			}
		}
		cJSON_Delete(rec);
	}
	free(cand);
	skip_report(&sk, "user_sessions");
	if (rc != CUTOVER_OK)
		co_session_list_free(out);
	return rc;
}

/* --- the handle ------------------------------------------------------------ */

static void j_free(cutover_identity *s)
{
	json_identity *j = (json_identity *)s;
	if (!j)
		return;
	co_ix_free(j->users);
	co_ix_free(j->sessions);
	if (j->t)
		j->t->free(j->t);
	free(j);
}

int co_json_identity_new(cutover_identity **out, co_transport *t, cutover_error *err)
{
	*out = NULL;
	if (!t)
		return co_err(err, CUTOVER_EINVALID, "no transport for the JSON identity store");
	json_identity *j = calloc(1, sizeof *j);
	if (!j) {
		t->free(t);
		return co_err_oom(err);
	}
	j->t = t;
	if (co_ix_new(&j->users, t, &users_spec, err) != CUTOVER_OK ||
	    co_ix_new(&j->sessions, t, &sessions_spec, err) != CUTOVER_OK) {
		j_free(&j->base);
		return CUTOVER_EINTERNAL;
	}
	j->base.version = CUTOVER_IDENTITY_VERSION;
	j->base.kind = "json";
	j->base.create_user = j_create_user;
	j->base.get_user = j_get_user;
	j->base.get_user_by_email = j_get_user_by_email;
	j->base.get_user_by_oauth = j_get_user_by_oauth;
	j->base.update_user = j_update_user;
	j->base.list_assignable_users = j_list_assignable_users;
	j->base.create_session = j_create_session;
	j->base.get_session = j_get_session;
	j->base.lookup_session = j_lookup_session;
	j->base.touch_session = j_touch_session;
	j->base.delete_session = j_delete_session;
	j->base.delete_user_sessions = j_delete_user_sessions;
	j->base.delete_expired_sessions = j_delete_expired_sessions;
	j->base.put_user = j_put_user;
	j->base.put_session = j_put_session;
	j->base.stats = NULL;
	j->base.free = j_free;
	*out = &j->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_identity_json(cutover_identity **out, const char *root, const char *token, cutover_error *err)
{
	co_transport *t = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "cutover_identity_json: out is NULL");
	*out = NULL;
	int rc = co_transport_open(&t, root, token, err);
	if (rc != CUTOVER_OK)
		return rc;
	return co_json_identity_new(out, t, err);
}

/* --- the encoders, for `cutover export` (json_encode.h) ------------------------ */

int co_json_write_user(cJSON *rec, const cutover_user *u, cutover_error *err)
{
	return write_user(rec, u, err);
}

int co_json_write_session(cJSON *rec, const cutover_session *s, cutover_error *err)
{
	return write_session(rec, s, err);
}
