/* reconcile_reports.c — what reconcile repairs in reports.
 *
 * The reports router journals one kind of key: "report", the id of a report
 * whose second write (put_report) failed. The repair puts the source's
 * whole report, trail included, into the target under co_replicate_exact,
 * so a target copy that looks newer (a later updated_at, a longer trail) is
 * replaced too; a target row that is another report (another created_at or
 * author) stays refused (CUTOVER_ECONFLICT). Reports are never deleted by
 * the product, so a source without one is reported, not repaired.
 */
#include "reconcile.h"
#include "reports_int.h"

#define S(r, s) ((cutover_reports *)(r)->store[s])

static int open_stores(rc_run *r, cutover_error *err)
{
	cutover_reports *j = NULL, *p = NULL;
	int rc = cutover_reports_json(&j, r->st->json_root, r->st->json_token, err);
	if (rc == CUTOVER_OK)
		rc = cutover_reports_postgres(&p, r->st->database_url, err);
	if (rc) {
		cutover_reports_free(j);
		return rc;
	}
	r->store[RC_JSON] = j;
	r->store[RC_PG] = p;
	return CUTOVER_OK;
}

static void close_stores(rc_run *r)
{
	cutover_reports_free(S(r, RC_JSON));
	cutover_reports_free(S(r, RC_PG));
	r->store[RC_JSON] = r->store[RC_PG] = NULL;
}

static int get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	cutover_report *rep = NULL;
	int rc = S(r, s)->get_report(S(r, s), &rep, rc_id(key), err);
	*rec = rep;
	return rc;
}

static int diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_report_diff(a, b, buf, len);
}

static int put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	return S(r, s)->put_report(S(r, s), rec, err);
}

static void free_rec(void *rec)
{
	cutover_report_free(rec);
}

static const rc_entity entities[] = {
	{.name = "report", .key_ok = rc_key_id, .get = get, .diff = diff, .put = put, .free_rec = free_rec},
};

const rc_domain rc_reports = {CUTOVER_DOMAIN_REPORTS, entities, 1, open_stores, close_stores};
