/* router.c — journal, reports and counters shared by the domain routers.
 *
 * Reports go through co_log (the app's sink or stderr) and name the domain,
 * the operation, the key as it may be shown, and the fields that differ;
 * never values, so a differing password hash prints as "password_hash".
 */
#include <string.h>

#include "router.h"

/* Exact replication (see co.h): set by `cutover reconcile` around its own
 * puts, never by an app. Thread-local, so it cannot leak into another
 * thread's replication. */
static _Thread_local bool replicate_exact;

void co_replicate_exact(bool on)
{
	replicate_exact = on;
}

bool co_replicate_exact_on(void)
{
	return replicate_exact;
}

void co_router_init(co_router *r, cutover_domain d, cutover_stage stage, co_journal *journal)
{
	memset(r, 0, sizeof(*r));
	r->domain = d;
	r->stage = cutover_stage_describe(stage);
	r->primary_name = r->stage->pg_authoritative ? "postgres" : "json";
	r->secondary_name = r->stage->pg_authoritative ? "json" : "postgres";
	r->journal = journal;
}

void co_router_fini(co_router *r)
{
	co_journal_close(r->journal);
	r->journal = NULL;
}

void co_router_second_write_failed(co_router *r, const char *op, const char *entity, const char *key,
				   const char *key_shown, const cutover_error *cause)
{
	r->stats.secondary_failures++;
	int jrc = r->journal ? co_journal_record(r->journal, entity, key, op, r->secondary_name, cause) : CUTOVER_EINTERNAL;
	if (jrc == CUTOVER_OK)
		r->stats.journaled++;
	co_log("%s %s: second write to %s failed for %s %s (%s: %s); %s",
	       cutover_domain_name(r->domain), op, r->secondary_name, entity, key_shown,
	       cutover_code_name(cause->code), cause->message,
	       jrc == CUTOVER_OK ? "journaled for `cutover reconcile`" : "and the journal write failed too");
}

void co_router_compared(co_router *r, const char *op, const char *key_shown, int rc_p, int rc_s, const char *fields,
			const cutover_error *err_s)
{
	r->stats.reads_compared++;
	bool p_found = rc_p == CUTOVER_OK, s_found = rc_s == CUTOVER_OK;
	if (rc_s != CUTOVER_OK && rc_s != CUTOVER_ENOTFOUND) {
		r->stats.secondary_failures++;
		co_log("%s %s %s: comparison read on %s failed (%s: %s)", cutover_domain_name(r->domain), op, key_shown,
		       r->secondary_name, cutover_code_name(rc_s), err_s ? err_s->message : "");
		return;
	}
	if (rc_p != CUTOVER_OK && rc_p != CUTOVER_ENOTFOUND)
		return; /* the primary failed; the caller gets that error */
	if (p_found && s_found && (!fields || !*fields))
		return;
	if (!p_found && !s_found)
		return;
	r->stats.mismatches++;
	if (p_found && s_found)
		co_log("mismatch: domain=%s op=%s key=%s fields=%s (%s answered)", cutover_domain_name(r->domain), op,
		       key_shown, fields, r->primary_name);
	else
		co_log("mismatch: domain=%s op=%s key=%s missing in %s (%s answered)", cutover_domain_name(r->domain), op,
		       key_shown, p_found ? r->secondary_name : r->primary_name, r->primary_name);
}
