/* reconcile_identity.c — what reconcile repairs in identity.
 *
 * The identity router journals four kinds of keys:
 *   user              (id)         put_user of the source's user
 *   session           (token hash) put_session, or delete when the source
 *                                  has none (a failed logout); the key is a
 *                                  secret and only ever printed redacted
 *   user_sessions     (user id)    a failed "delete every session of a
 *                                  user": the target ends with exactly the
 *                                  source's sessions of that user (puts,
 *                                  then deletes of the others)
 *   expired_sessions  (timestamp)  a failed delete_expired_sessions(now):
 *                                  replayed on the target with that now
 * in that order, so a session's user is there before the session. A user's
 * sessions are read with the backends' internal list calls
 * (co_json_identity_user_sessions, co_pg_identity_user_sessions), which are
 * not part of the app's interface.
 */
#include <stdlib.h>
#include <string.h>

#include "json_store.h"
#include "pg.h"
#include "reconcile.h"

#define S(r, s) ((cutover_identity *)(r)->store[s])

static int open_stores(rc_run *r, cutover_error *err)
{
	cutover_identity *j = NULL, *p = NULL;
	int rc = cutover_identity_json(&j, r->st->json_root, r->st->json_token, err);
	if (rc == CUTOVER_OK)
		rc = cutover_identity_postgres(&p, r->st->database_url, err);
	if (rc) {
		cutover_identity_free(j);
		return rc;
	}
	r->store[RC_JSON] = j;
	r->store[RC_PG] = p;
	return CUTOVER_OK;
}

static void close_stores(rc_run *r)
{
	cutover_identity_free(S(r, RC_JSON));
	cutover_identity_free(S(r, RC_PG));
	r->store[RC_JSON] = r->store[RC_PG] = NULL;
}

/* --- user ------------------------------------------------------------------ */

static int user_get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	cutover_user *u = NULL;
	int rc = S(r, s)->get_user(S(r, s), &u, rc_id(key), err);
	*rec = u;
	return rc;
}

static int user_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_user_diff(a, b, buf, len);
}

static int user_put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	return S(r, s)->put_user(S(r, s), rec, err);
}

static void user_free(void *rec)
{
	cutover_user_free(rec);
}

/* --- session ----------------------------------------------------------------- */

static bool token_ok(const char *key)
{
	return co_is_hex64(key);
}

static int session_get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	cutover_session *ss = NULL;
	int rc = S(r, s)->get_session(S(r, s), &ss, key, err);
	*rec = ss;
	return rc;
}

static int session_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_session_diff(a, b, buf, len);
}

static int session_put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	return S(r, s)->put_session(S(r, s), rec, err);
}

static int session_del(rc_run *r, rc_store s, const char *key, cutover_error *err)
{
	return S(r, s)->delete_session(S(r, s), key, err);
}

static void session_free(void *rec)
{
	cutover_session_free(rec);
}

/* --- user_sessions: the set of one user's sessions ------------------------------ */

typedef struct session_set {
	int64_t user_id;
	co_session_list l; /* sorted by token hash */
} session_set;

static int by_token(const void *a, const void *b)
{
	return strcmp(((const cutover_session *)a)->token_hash, ((const cutover_session *)b)->token_hash);
}

static int list_sessions(rc_run *r, rc_store s, int64_t user_id, co_session_list *l, cutover_error *err)
{
	int rc = s == RC_JSON ? co_json_identity_user_sessions(S(r, s), user_id, l, err)
			      : co_pg_identity_user_sessions(S(r, s), user_id, l, err);
	if (rc == CUTOVER_OK && l->n > 1)
		qsort(l->items, l->n, sizeof(*l->items), by_token);
	return rc;
}

static void set_free(void *rec)
{
	session_set *set = rec;
	if (!set)
		return;
	co_session_list_free(&set->l);
	free(set);
}

/* A user without sessions in a store is "none there" (CUTOVER_ENOTFOUND). */
static int set_get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	*rec = NULL;
	session_set *set = calloc(1, sizeof(*set));
	if (!set)
		return co_err_oom(err);
	set->user_id = rc_id(key);
	int rc = list_sessions(r, s, set->user_id, &set->l, err);
	if (rc == CUTOVER_OK && set->l.n == 0)
		rc = CUTOVER_ENOTFOUND;
	if (rc) {
		set_free(set);
		return rc;
	}
	*rec = set;
	return CUTOVER_OK;
}

static int set_diff(const void *va, const void *vb, char *buf, size_t len)
{
	const session_set *a = va, *b = vb;
	if (a->l.n != b->l.n) {
		snprintf(buf, len, "sessions (%zu vs %zu)", a->l.n, b->l.n);
		return 1;
	}
	for (size_t i = 0; i < a->l.n; i++) {
		if (strcmp(a->l.items[i].token_hash, b->l.items[i].token_hash) != 0) {
			snprintf(buf, len, "sessions (other tokens)");
			return 1;
		}
		char f[200];
		if (co_session_diff(&a->l.items[i], &b->l.items[i], f, sizeof(f))) {
			snprintf(buf, len, "session %zu: %s", i + 1, f);
			return 1;
		}
	}
	return 0;
}

/* The target ends with exactly the source's sessions of the user: each of
 * them put, then every other session of the user there deleted. */
static int set_put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	const session_set *want = rec;
	for (size_t i = 0; i < want->l.n; i++) {
		int rc = S(r, s)->put_session(S(r, s), &want->l.items[i], err);
		if (rc)
			return rc;
	}
	co_session_list have = {0};
	int rc = list_sessions(r, s, want->user_id, &have, err);
	for (size_t i = 0; rc == CUTOVER_OK && i < have.n; i++) {
		if (bsearch(&have.items[i], want->l.items, want->l.n, sizeof(*want->l.items), by_token))
			continue;
		rc = S(r, s)->delete_session(S(r, s), have.items[i].token_hash, err);
		if (rc == CUTOVER_ENOTFOUND)
			rc = CUTOVER_OK; /* gone meanwhile */
	}
	co_session_list_free(&have);
	return rc;
}

static int set_del(rc_run *r, rc_store s, const char *key, cutover_error *err)
{
	size_t n = 0;
	return S(r, s)->delete_user_sessions(S(r, s), rc_id(key), &n, err);
}

/* --- expired_sessions: a replayed delete ------------------------------------------ */

static bool ts_ok(const char *key)
{
	cutover_ts t;
	return cutover_ts_parse(key, &t) == CUTOVER_OK;
}

/* delete_expired_sessions(now) failed on the target: run it there again
 * with the same now. Deleting what had expired by then is right whatever
 * the stage (no store serves an expired session), so it is replayed on
 * every target the entries name, flipped or not. */
static void expired_run(rc_run *r, rc_key **keys, size_t n)
{
	for (size_t i = 0; i < n && !r->fatal; i++) {
		rc_key *k = keys[i];
		cutover_ts now;
		cutover_ts_parse(k->key, &now);
		k->action = "replay";
		k->outcome = r->apply ? RC_REPAIRED : RC_WOULD;
		size_t total = 0;
		char stores[32] = "";
		for (int s = RC_JSON; s <= RC_PG && k->outcome != RC_FAILED; s++) {
			if (!k->to[s])
				continue;
			size_t used = strlen(stores);
			snprintf(stores + used, sizeof(stores) - used, "%s%s", used ? "," : "", rc_store_name((rc_store)s));
			free(k->fields);
			k->fields = co_strdup(stores);
			if (!r->apply)
				continue;
			cutover_error err;
			size_t count = 0;
			cutover_error_clear(&err);
			if (S(r, s)->delete_expired_sessions(S(r, s), now, &count, &err) != CUTOVER_OK)
				rc_fail(r, k, &err);
			total += count;
		}
		if (r->apply && k->outcome == RC_REPAIRED) {
			char note[64];
			snprintf(note, sizeof(note), "%zu expired session%s deleted", total, total == 1 ? "" : "s");
			k->note = co_strdup(note);
		}
	}
}

static const rc_entity entities[] = {
	{.name = "user", .key_ok = rc_key_id, .get = user_get, .diff = user_diff, .put = user_put,
	 .free_rec = user_free},
	{.name = "session", .secret = true, .key_ok = token_ok, .get = session_get, .diff = session_diff,
	 .put = session_put, .del = session_del, .free_rec = session_free},
	{.name = "user_sessions", .key_ok = rc_key_id, .get = set_get, .diff = set_diff, .put = set_put,
	 .del = set_del, .free_rec = set_free},
	{.name = "expired_sessions", .key_ok = ts_ok, .run = expired_run},
};

const rc_domain rc_identity = {CUTOVER_DOMAIN_IDENTITY, entities, sizeof(entities) / sizeof(entities[0]),
			       open_stores, close_stores};
