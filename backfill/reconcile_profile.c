/* reconcile_profile.c — what reconcile repairs in profile.
 *
 * The profile router journals one kind of key: "profile", the user id of a
 * portfolio whose second write (replicate) failed. The repair replicates
 * the source's whole portfolio (texts, ordered lists, entry ids,
 * updated_at) into the target under co_replicate_exact, so a target copy
 * with a later updated_at is replaced too. Profiles are never deleted by the
 * product, so a source without one is reported, not repaired.
 */
#include "profile_int.h"
#include "reconcile.h"

#define S(r, s) ((cutover_profile *)(r)->store[s])

static int open_stores(rc_run *r, cutover_error *err)
{
	cutover_profile *j = NULL, *p = NULL;
	int rc = cutover_profile_json(&j, r->st->json_root, r->st->json_token, err);
	if (rc == CUTOVER_OK)
		rc = cutover_profile_postgres(&p, r->st->database_url, err);
	if (rc) {
		cutover_profile_free(j);
		return rc;
	}
	r->store[RC_JSON] = j;
	r->store[RC_PG] = p;
	return CUTOVER_OK;
}

static void close_stores(rc_run *r)
{
	cutover_profile_free(S(r, RC_JSON));
	cutover_profile_free(S(r, RC_PG));
	r->store[RC_JSON] = r->store[RC_PG] = NULL;
}

static int get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	cutover_portfolio *p = NULL;
	int rc = S(r, s)->get(S(r, s), &p, rc_id(key), err);
	*rec = p;
	return rc;
}

static int diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_portfolio_diff(a, b, buf, len);
}

static int put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	return S(r, s)->replicate(S(r, s), rec, err);
}

static void free_rec(void *rec)
{
	cutover_portfolio_free(rec);
}

static const rc_entity entities[] = {
	{.name = "profile", .key_ok = rc_key_id, .get = get, .diff = diff, .put = put, .free_rec = free_rec},
};

const rc_domain rc_profile = {CUTOVER_DOMAIN_PROFILE, entities, 1, open_stores, close_stores};
