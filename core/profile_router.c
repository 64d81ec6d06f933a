/* profile_router.c — profile in a dual stage: two stores, one interface.
 *
 * Same shape as the identity router. Every write (put, or an edit) goes to
 * the primary first; if that fails the call fails and the secondary is not
 * touched. Then the secondary receives the whole portfolio exactly as the
 * primary now holds it, through replicate: the primary's ids, order and
 * updated_at, so the second write is idempotent and heals whatever the
 * secondary had; replicate skips the write when the secondary already
 * holds a newer copy (a later write's second write landed first). A failed second write is journaled (entity "profile", key
 * the user id) and never fails the call. Reads go to the primary, or in the
 * comparing stages to both, with differences reported by field name.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "profile_int.h"
#include "router.h"

typedef struct profile_router {
	cutover_profile base;
	co_router r;
	cutover_profile *primary, *secondary;
} profile_router;

#define R(s) ((profile_router *)(s))

static void second_put(profile_router *pr, const char *op, const cutover_portfolio *p)
{
	if (!pr->r.stage->writes_both)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (pr->secondary->replicate(pr->secondary, p, &e2) != CUTOVER_OK) {
		char key[32];
		snprintf(key, sizeof(key), "%" PRId64, p->user_id);
		co_router_second_write_failed(&pr->r, op, "profile", key, key, &e2);
	}
}

static int r_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err)
{
	profile_router *pr = R(s);
	int rc = pr->primary->get(pr->primary, out, user_id, err);
	if (!pr->r.stage->compares_reads)
		return rc;
	cutover_portfolio *other = NULL;
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = pr->secondary->get(pr->secondary, &other, user_id, &e2);
	char fields[256] = "", key[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK)
		co_portfolio_diff(*out, other, fields, sizeof(fields));
	snprintf(key, sizeof(key), "%" PRId64, user_id);
	co_router_compared(&pr->r, "get_profile", key, rc, rc2, fields, &e2);
	cutover_portfolio_free(other);
	return rc;
}

static int r_put(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, cutover_error *err)
{
	profile_router *pr = R(s);
	cutover_portfolio *stored = NULL;
	int rc = pr->primary->put(pr->primary, &stored, in, err);
	if (rc != CUTOVER_OK)
		return rc;
	second_put(pr, "put_profile", stored);
	if (out)
		*out = stored;
	else
		cutover_portfolio_free(stored);
	return CUTOVER_OK;
}

static int r_edit(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		  cutover_ts now, cutover_error *err)
{
	profile_router *pr = R(s);
	cutover_portfolio *stored = NULL;
	int rc = pr->primary->edit(pr->primary, &stored, user_id, e, now, err);
	if (rc != CUTOVER_OK)
		return rc;
	second_put(pr, "edit_profile", stored);
	if (out)
		*out = stored;
	else
		cutover_portfolio_free(stored);
	return CUTOVER_OK;
}

/* Replication through a router (reconcile): both stores, the primary first. */
static int r_replicate(cutover_profile *s, const cutover_portfolio *in, cutover_error *err)
{
	profile_router *pr = R(s);
	int rc = pr->primary->replicate(pr->primary, in, err);
	if (rc == CUTOVER_OK)
		second_put(pr, "replicate_profile", in);
	return rc;
}

static void r_stats(cutover_profile *s, cutover_stats *out)
{
	*out = R(s)->r.stats;
}

static void r_free(cutover_profile *s)
{
	profile_router *pr = R(s);
	cutover_profile_free(pr->primary);
	cutover_profile_free(pr->secondary);
	co_router_fini(&pr->r);
	free(pr);
}

int co_profile_router(cutover_profile **out, cutover_stage stage, cutover_profile *json, cutover_profile *pg,
		      co_journal *journal, cutover_error *err)
{
	*out = NULL;
	profile_router *pr = calloc(1, sizeof(*pr));
	const cutover_stage_info *info = cutover_stage_describe(stage);
	if (!pr || !info || !json || !pg) {
		free(pr);
		cutover_profile_free(json);
		cutover_profile_free(pg);
		co_journal_close(journal);
		return pr ? co_err(err, CUTOVER_EINTERNAL, "profile router needs a stage and both stores") : co_err_oom(err);
	}
	pr->base = (cutover_profile){
		.version = CUTOVER_PROFILE_VERSION,
		.kind = "router",
		.get = r_get,
		.put = r_put,
		.edit = r_edit,
		.replicate = r_replicate,
		.stats = r_stats,
		.free = r_free,
	};
	co_router_init(&pr->r, CUTOVER_DOMAIN_PROFILE, stage, journal);
	pr->primary = info->pg_authoritative ? pg : json;
	pr->secondary = info->pg_authoritative ? json : pg;
	*out = &pr->base;
	return CUTOVER_OK;
}
