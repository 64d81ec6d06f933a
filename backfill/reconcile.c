/* reconcile.c — the per-key repair loop every domain's reconcile shares.
 *
 * For one key: read its record in the source store and in the target store;
 * when they agree there is nothing to do. Otherwise (with --apply) put the
 * source's record into the target, or delete the target's when the source
 * has none, and read both again: an app may have written the key in
 * between (its own second write can land before ours), so the loop goes on
 * until the two reads agree, RC_ROUNDS times at most. Ending on "the stores
 * agree", not on "the write succeeded", is what makes the repair exact and
 * a second run a no-op. When the source's record is the one the last round
 * wrote and the target still differs, nobody else is writing the key: the
 * target does not keep what it was given, and the key is reported as such
 * at once rather than after RC_ROUNDS as "an app is writing it".
 *
 * The puts run under co_replicate_exact (core/router.c): the backends' "never
 * move a record back" rule (co_*_newer) is off for them, so the target takes
 * the authoritative record even when its own copy looks newer. Checks that a
 * put does not replace another record (another email, another created_at)
 * stay on and come back as CUTOVER_ECONFLICT.
 */
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"

const char *rc_store_name(rc_store s)
{
	return s == RC_JSON ? "json" : "postgres";
}

bool rc_key_id(const char *key)
{
	if (!key || !*key || *key == '0' || strlen(key) > 16)
		return false;
	for (const char *c = key; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return rc_id(key) <= CO_ID_MAX;
}

int64_t rc_id(const char *key)
{
	return strtoll(key, NULL, 10);
}

/* The error of a key whose own could not be allocated. */
static const cutover_error rc_oom = {.code = CUTOVER_EINTERNAL, .message = "out of memory"};

const char *rc_shown(const rc_key *k, char buf[RC_SHOWN])
{
	if (!k->entity)
		snprintf(buf, RC_SHOWN, "entry %zu", k->first_line);
	else if (k->ent && k->ent->secret)
		co_redact_value(k->key, buf, RC_SHOWN);
	else if (k->ent && k->ent->key_ok(k->key))
		snprintf(buf, RC_SHOWN, "%s", k->key);
	else /* a key that is not what its entity's keys look like may be anything: its length only */
		snprintf(buf, RC_SHOWN, "(a key of %zu bytes)", strlen(k->key));
	return buf;
}

void rc_set_err(rc_key *k, const cutover_error *err)
{
	if (!k->err || k->err == &rc_oom)
		k->err = malloc(sizeof(*k->err));
	if (k->err)
		*k->err = *err;
	else
		k->err = (cutover_error *)&rc_oom; /* never written through: rc_set_err allocates first */
}

void rc_key_clear(rc_key *k)
{
	if (k->err != &rc_oom)
		free(k->err);
	free(k->fields);
	free(k->note);
	k->err = NULL;
	k->fields = k->note = NULL;
}

void rc_fail(rc_run *r, rc_key *k, const cutover_error *err)
{
	k->outcome = RC_FAILED;
	rc_set_err(k, err);
	if (err->code == CUTOVER_EUNAVAILABLE && !r->fatal) {
		r->fatal = err->code;
		r->fatal_err = *err;
	}
}

void rc_differs(rc_key *k, const char *fields, const char *action)
{
	if (k->action)
		return; /* the first difference is the one reported */
	k->action = action;
	k->fields = co_strdup(fields); /* NULL (out of memory): the report names no fields */
}

void rc_flipped(rc_run *r, rc_key *k)
{
	const cutover_settings *st = r->st;
	const char *stage = cutover_stage_describe(st->stage)->name;
	const char *src = rc_store_name(k->src), *dst = rc_store_name(k->dst);
	cutover_error err;
	cutover_error_clear(&err);
	co_err(&err, CUTOVER_ESTATE,
	       "%s=%s makes %s authoritative, but this key's journal entries are writes %s missed while %s was",
	       st->flag_name, stage, dst, dst, src);
	co_err_detail(&err, "copying %s's record now could undo writes made to %s since the flag moved; "
			    "reconcile left both stores as they are",
		      src, dst);
	co_err_hint(&err,
		    "compare the two copies; if %s's is right (nothing wrote this key since the flag moved), run "
		    "`cutover reconcile %s --apply --from %s`, else `--from %s` (either applies to every key "
		    "of the run). Next time, reconcile before the flag crosses between shadow and live.",
		    src, cutover_domain_name(st->domain), src, dst);
	k->outcome = RC_FLIPPED;
	rc_set_err(k, &err);
}

void rc_did_not_take(rc_run *r, rc_key *k, const char *what, const char *fields)
{
	char shown[RC_SHOWN];
	const char *dst = rc_store_name(k->dst);
	cutover_error err;
	cutover_error_clear(&err);
	co_err(&err, CUTOVER_ESTATE, "%s %s: the write to %s did not take (fields %s)", what, rc_shown(k, shown), dst,
	       fields);
	co_err_detail(&err, "%s's record did not change, and %s still differs from it after reconcile wrote it",
		      rc_store_name(k->src), dst);
	co_err_hint(&err, "%s does not keep what was written (a trigger or a rule may change it): compare the two "
			  "copies of those fields, fix the record by hand, then run reconcile again",
		    dst);
	rc_fail(r, k, &err);
}

void rc_repair_one(rc_run *r, const rc_entity *e, rc_key *k)
{
	const char *src = rc_store_name(k->src), *dst = rc_store_name(k->dst);
	char shown[RC_SHOWN];
	rc_shown(k, shown);
	void *prev = NULL; /* the source's record the last round wrote */
	int prev_rc = CUTOVER_OK;
	for (int round = 0;; round++) {
		void *a = NULL, *b = NULL;
		cutover_error err;
		cutover_error_clear(&err);
		int ra = e->get(r, k->src, k->key, &a, &err);
		if (ra != CUTOVER_OK && ra != CUTOVER_ENOTFOUND) {
			e->free_rec(prev);
			rc_fail(r, k, &err);
			return;
		}
		int rb = e->get(r, k->dst, k->key, &b, &err);
		if (rb != CUTOVER_OK && rb != CUTOVER_ENOTFOUND) {
			e->free_rec(prev);
			e->free_rec(a);
			rc_fail(r, k, &err);
			return;
		}
		char fields[256] = "";
		bool equal = false;
		if (ra == CUTOVER_ENOTFOUND && rb == CUTOVER_ENOTFOUND)
			equal = true;
		else if (ra == CUTOVER_ENOTFOUND)
			snprintf(fields, sizeof(fields), "extra"); /* the target has one the source has not */
		else if (rb == CUTOVER_ENOTFOUND)
			snprintf(fields, sizeof(fields), "missing");
		else
			equal = e->diff(a, b, fields, sizeof(fields)) == 0;
		if (equal) {
			e->free_rec(prev);
			e->free_rec(a);
			e->free_rec(b);
			k->outcome = round == 0 ? RC_EQUAL : RC_REPAIRED;
			return;
		}
		rc_differs(k, fields, ra == CUTOVER_ENOTFOUND ? "delete" : "copy");
		/* the last round wrote this very record and the target still
		 * differs: nobody else changed it, the write did not take */
		char scratch[256];
		bool same_source = round > 0 && ra == prev_rc &&
				   (ra == CUTOVER_ENOTFOUND || e->diff(a, prev, scratch, sizeof(scratch)) == 0);
		e->free_rec(prev);
		prev = NULL;
		int rw = CUTOVER_OK;
		if (same_source) {
			rc_did_not_take(r, k, e->name, fields);
		} else if (k->compare_only) {
			rc_flipped(r, k);
		} else if (ra == CUTOVER_ENOTFOUND && !e->del) {
			co_err(&err, CUTOVER_ENOTFOUND, "%s holds no %s %s, %s does; cutover never deletes a %s", src,
			       e->name, shown, dst, e->name);
			co_err_detail(&err, "the product has no delete for this kind of record, so no failed write can "
					    "have left it in %s alone; it was put there by other means",
				      dst);
			co_err_hint(&err, "find out where %s's copy came from; remove it by hand if it should not exist, "
					  "or restore the %s copy, then run reconcile again",
				    dst, src);
			rc_fail(r, k, &err);
		} else if (!r->apply) {
			k->outcome = RC_WOULD;
		} else if (round == RC_ROUNDS) {
			co_err(&err, CUTOVER_EBUSY, "%s %s kept changing while reconcile copied it from %s to %s", e->name,
			       shown, src, dst);
			co_err_hint(&err, "an app is writing it right now; run reconcile again in a moment");
			rc_fail(r, k, &err);
		} else {
			co_replicate_exact(true);
			rw = ra == CUTOVER_ENOTFOUND ? e->del(r, k->dst, k->key, &err) : e->put(r, k->dst, a, &err);
			co_replicate_exact(false);
			if (rw == CUTOVER_ENOTFOUND && ra == CUTOVER_ENOTFOUND)
				rw = CUTOVER_OK; /* already gone: the wanted end */
			if (rw != CUTOVER_OK)
				rc_fail(r, k, &err);
		}
		prev = a; /* kept for the next round's comparison */
		prev_rc = ra;
		e->free_rec(b);
		if (k->outcome != RC_PENDING) {
			e->free_rec(prev);
			return;
		}
	}
}
