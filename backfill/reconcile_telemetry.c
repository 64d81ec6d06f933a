/* reconcile_telemetry.c — what reconcile repairs in telemetry.
 *
 * The telemetry router journals two kinds of keys, repaired in this order
 * (an event may name an incident):
 *   incident  (id)  put_incident of the source's incident, under
 *                   co_replicate_exact (a target copy with a later
 *                   updated_at is replaced too; one with another opened_at
 *                   is another incident: CUTOVER_ECONFLICT)
 *   event     (id)  put_events of the source's events
 * Events are many and the json store keeps them in daily files with no
 * index by id, so they are repaired in batches: every journaled event is
 * read from each store at once (co_json_telemetry_get_events reads every
 * daily file once; co_pg_telemetry_get_events asks once), the differing
 * ones are put in one put_events, and the lot is read again until both
 * stores agree (RC_ROUNDS at most). A batch the target refuses is retried
 * one event at a time, so one refused event does not hold up the others.
 * Neither kind is ever deleted by the product, so a source without the
 * record is reported, not repaired.
 */
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "telemetry_int.h"

#define S(r, s) ((cutover_telemetry *)(r)->store[s])

static int open_stores(rc_run *r, cutover_error *err)
{
	cutover_telemetry *j = NULL, *p = NULL;
	int rc = cutover_telemetry_json(&j, r->st->json_root, r->st->json_token, err);
	if (rc == CUTOVER_OK)
		rc = cutover_telemetry_postgres(&p, r->st->database_url, err);
	if (rc) {
		cutover_telemetry_free(j);
		return rc;
	}
	r->store[RC_JSON] = j;
	r->store[RC_PG] = p;
	return CUTOVER_OK;
}

static void close_stores(rc_run *r)
{
	cutover_telemetry_free(S(r, RC_JSON));
	cutover_telemetry_free(S(r, RC_PG));
	r->store[RC_JSON] = r->store[RC_PG] = NULL;
}

/* --- incident ------------------------------------------------------------------ */

static int incident_get(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err)
{
	cutover_incident *i = NULL;
	int rc = S(r, s)->get_incident(S(r, s), &i, rc_id(key), err);
	*rec = i;
	return rc;
}

static int incident_diff(const void *a, const void *b, char *buf, size_t len)
{
	return co_incident_diff(a, b, buf, len);
}

static int incident_put(rc_run *r, rc_store s, const void *rec, cutover_error *err)
{
	return S(r, s)->put_incident(S(r, s), rec, err);
}

static void incident_free(void *rec)
{
	cutover_incident_free(rec);
}

/* --- events, in batches ------------------------------------------------------------ */

static int get_events(rc_run *r, rc_store s, const int64_t *ids, size_t n, cutover_event_list *out,
		      cutover_error *err)
{
	return s == RC_JSON ? co_json_telemetry_get_events(S(r, s), ids, n, out, err)
			    : co_pg_telemetry_get_events(S(r, s), ids, n, out, err);
}

/* The event with this id in a list sorted by id; NULL when absent. */
static const cutover_event *find(const cutover_event_list *l, int64_t id)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->items[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->items[lo].id == id ? &l->items[lo] : NULL;
}

/* Write evs (the source's copies of keys ks) to store dst: one put_events,
 * or when the target refuses the batch, one event at a time; a key whose
 * event is refused fails and is taken out of the pending set. */
static void put_batch(rc_run *r, rc_store dst, cutover_event *evs, rc_key **ks, size_t n, bool *failed)
{
	cutover_error err;
	cutover_error_clear(&err);
	co_replicate_exact(true);
	int rc = S(r, dst)->put_events(S(r, dst), evs, n, &err);
	for (size_t i = 0; rc != CUTOVER_OK && i < n && !r->fatal; i++) {
		if (n > 1 && err.code != CUTOVER_EUNAVAILABLE) {
			cutover_error one;
			cutover_error_clear(&one);
			if (S(r, dst)->put_events(S(r, dst), &evs[i], 1, &one) == CUTOVER_OK)
				continue;
			rc_fail(r, ks[i], &one);
		} else {
			rc_fail(r, ks[i], &err);
		}
		failed[i] = true;
	}
	co_replicate_exact(false);
}

/* Keys of one direction (src -> dst): read both, compare, write, again. */
static void events_direction(rc_run *r, rc_key **keys, size_t n)
{
	rc_store src = keys[0]->src, dst = keys[0]->dst;
	rc_key **pending = malloc(n * sizeof(*pending));
	int64_t *ids = malloc(n * sizeof(*ids));
	cutover_event *evs = malloc(n * sizeof(*evs));
	rc_key **ks = malloc(n * sizeof(*ks));
	bool *failed = malloc(n * sizeof(*failed));
	if (!pending || !ids || !evs || !ks || !failed) {
		cutover_error err;
		co_err_oom(&err);
		for (size_t i = 0; i < n; i++)
			rc_fail(r, keys[i], &err);
		goto out;
	}
	memcpy(pending, keys, n * sizeof(*pending));
	size_t np = n;
	cutover_event_list prev = {0}; /* the source's events the last round wrote */
	for (int round = 0; np && !r->fatal; round++) {
		for (size_t i = 0; i < np; i++)
			ids[i] = rc_id(pending[i]->key);
		cutover_event_list a = {0}, b = {0};
		cutover_error err;
		cutover_error_clear(&err);
		if (get_events(r, src, ids, np, &a, &err) != CUTOVER_OK ||
		    get_events(r, dst, ids, np, &b, &err) != CUTOVER_OK) {
			for (size_t i = 0; i < np; i++)
				rc_fail(r, pending[i], &err);
			cutover_event_list_free(&a);
			cutover_event_list_free(&b);
			break;
		}
		size_t nw = 0, keep = 0;
		for (size_t i = 0; i < np; i++) {
			rc_key *k = pending[i];
			const cutover_event *x = find(&a, ids[i]), *y = find(&b, ids[i]);
			char fields[256] = "";
			if (!x && !y) {
				k->outcome = round == 0 ? RC_EQUAL : RC_REPAIRED;
				continue;
			}
			if (!x)
				snprintf(fields, sizeof fields, "extra");
			else if (!y)
				snprintf(fields, sizeof fields, "missing");
			else if (co_event_diff(x, y, fields, sizeof fields) == 0) {
				k->outcome = round == 0 ? RC_EQUAL : RC_REPAIRED;
				continue;
			}
			rc_differs(k, fields, x ? "copy" : "delete");
			char shown[RC_SHOWN], scratch[256];
			rc_shown(k, shown);
			/* the last round wrote this very event and the target still differs */
			const cutover_event *px = round > 0 ? find(&prev, ids[i]) : NULL;
			if (round > 0 && (x ? px && co_event_diff(x, px, scratch, sizeof scratch) == 0 : !px)) {
				rc_did_not_take(r, k, "event", fields);
			} else if (k->compare_only) {
				rc_flipped(r, k);
			} else if (!x) {
				co_err(&err, CUTOVER_ENOTFOUND, "%s holds no event %s, %s does; cutover never deletes an event",
				       rc_store_name(src), shown, rc_store_name(dst));
				co_err_hint(&err, "find out where %s's copy came from; remove it by hand if it should not "
						  "exist, then run reconcile again",
					    rc_store_name(dst));
				rc_fail(r, k, &err);
			} else if (!r->apply) {
				k->outcome = RC_WOULD;
			} else if (round == RC_ROUNDS) {
				co_err(&err, CUTOVER_EBUSY, "event %s kept changing while reconcile copied it", shown);
				co_err_hint(&err, "an app is writing it right now; run reconcile again in a moment");
				rc_fail(r, k, &err);
			} else {
				evs[nw] = *x; /* shallow: a owns the strings until it is freed below */
				ks[nw] = k;
				failed[nw] = false;
				nw++;
			}
		}
		if (nw)
			put_batch(r, dst, evs, ks, nw, failed);
		for (size_t i = 0; i < nw; i++)
			if (!failed[i])
				pending[keep++] = ks[i]; /* written: read again */
		np = keep;
		cutover_event_list_free(&prev);
		prev = a; /* kept for the next round's comparison */
		cutover_event_list_free(&b);
	}
	cutover_event_list_free(&prev);
out:
	free(pending);
	free(ids);
	free(evs);
	free(ks);
	free(failed);
}

static void events_run(rc_run *r, rc_key **keys, size_t n)
{
	/* at most two directions (json -> postgres, postgres -> json) */
	rc_key **dir = malloc((n ? n : 1) * sizeof(*dir));
	if (!dir) {
		cutover_error err;
		co_err_oom(&err);
		for (size_t i = 0; i < n; i++)
			rc_fail(r, keys[i], &err);
		return;
	}
	for (int src = RC_JSON; src <= RC_PG && !r->fatal; src++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (keys[i]->src == (rc_store)src)
				dir[m++] = keys[i];
		if (m)
			events_direction(r, dir, m);
	}
	free(dir);
}

static const rc_entity entities[] = {
	{.name = "incident", .key_ok = rc_key_id, .get = incident_get, .diff = incident_diff, .put = incident_put,
	 .free_rec = incident_free},
	{.name = "event", .key_ok = rc_key_id, .run = events_run},
};

const rc_domain rc_telemetry = {CUTOVER_DOMAIN_TELEMETRY, entities, sizeof(entities) / sizeof(entities[0]),
				open_stores, close_stores};
