/* json_telemetry.c — the telemetry domain over the legacy JSON layout.
 *
 * Events live one per line in telemetry/events/YYYY-MM-DD.ndjson, the file
 * of their occurred_at's UTC date; incidents in telemetry/incidents.json
 * ({"incidents": [...]}). Every write is one read-modify-write under the
 * transport lock "telemetry", so concurrent processes neither lose lines
 * nor hand out the same id.
 *
 * Incidents. incidents.json is served from a cached index (json_index.h),
 * one per handle, keyed by incident id (co_ix_id_keys; its aux is the id,
 * so co_ix_aux_max is the largest). A call checks the document's version
 * once (a stat, or a conditional GET), reads only the records it matched,
 * and decodes them with the backfill's strict decoder: a record that breaks
 * co_legacy_strict, or whose id cannot be read, is unreadable and stepped
 * over. Reads take no lock. Create, transition and put are co_ix_update
 * calls under the lock "telemetry" that stream the new version, writing
 * anew only the record they append or replace (edited in its parsed form,
 * so unknown fields survive; every other record keeps its bytes). New ids
 * are max + 1 over every readable id. The events' check that the incidents
 * they name exist looks each one up in the same index.
 *
 * Events. Each daily file is served from an index too (json_index.h's
 * NDJSON mode: one record per line, keyed by event id, no number a
 * record); a handle keeps the indexes of the DAY_CACHE most recently used
 * days (a day not among them is indexed when needed, in place of the least
 * recently used one that the current call does not hold; a batch holds its
 * days for the call). Every use checks the file's version first (a stat,
 * or a conditional GET), so another process's write is seen by the next
 * call. Appending, putting and linking stream the day's new version: the
 * untouched bytes copied, only the new or replaced lines written (new ones
 * at the end, after a newline if the file did not end with one), then an
 * atomic put; memory holds the index, never the file. Look-ups by id (the
 * id checks of a batch, link's search from the newest day back, the
 * events reconcile asks for) probe the indexes and read only the lines
 * whose id matches. Queries list the daily files (transport list(), in
 * date order), skip the days outside the range, and stream the others
 * through the same framer and decoder as the backfill, stopping at the
 * first day that completes the page: a day holds only that day's events,
 * so later days cannot sort before it. They do not use the indexes: every
 * line of a day read must be decoded anyway (filters, sorting, and the
 * report of unreadable lines), a stream holds no index memory, and a long
 * range would only evict the days appends and links use.
 *
 * Event ids. telemetry/.event-ids.json ({"next_id": N}) is the next id to
 * hand out, read and written under the lock; when absent (or unreadable) it
 * is rebuilt from one scan of every daily file (max id + 1; streamed, not
 * indexed: it reads every file once). It is written
 * before the events (a crash in between leaves a gap, never a reused id). An
 * explicit id at or past it is new; one below it is looked up in every
 * file. Should an assigned id turn up in its day's file anyway (someone wrote
 * the files behind the library's back), the counter is rebuilt and the ids
 * assigned again.
 *
 * Answers equal the postgres backend's: checks run in the same order
 * (dangling incident, then taken id), nothing is written when one fails,
 * records handed back are decoded from what was stored, and the incident
 * state machine is core's co_incident_move_check. One unreadable line or
 * record does not block the others: reads skip it and log once per call
 * where (file and line, or position in incidents.json; never contents); a
 * call fails with CUTOVER_ECORRUPT only when the record it must return or
 * rewrite is the unreadable one (an incident that breaks the strict rules
 * is never matched, so that is one that holds them but cannot be decoded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "json_index.h"
#include "legacy_telemetry.h"
#include "json_encode.h"

#define LOCK_NAME "telemetry"
#define COUNTER_KEY CO_EVENT_COUNTER_KEY
#define DAY_CACHE 8 /* daily files whose index a handle keeps */

/* A daily file's index (json_index.h's NDJSON mode), keyed by event id. */
typedef struct day_ix {
	char key[64];
	co_ix_spec spec; /* its key is key */
	co_ix *x;
	uint64_t used;   /* the handle's clock at its last use */
	uint64_t pin;    /* the handle's call that holds it: not evicted until that call ends */
} day_ix;

typedef struct json_telemetry {
	cutover_telemetry base; /* first: the handle is a cutover_telemetry */
	co_transport *t;
	co_ix *incidents; /* incidents.json's index, over t */
	day_ix *days[DAY_CACHE]; /* the most recently used daily files' indexes (NULL: a free slot) */
	uint64_t clock, call;
} json_telemetry;

static co_transport *T(cutover_telemetry *s)
{
	return ((json_telemetry *)s)->t;
}

static co_ix *INCIDENTS(cutover_telemetry *s)
{
	return ((json_telemetry *)s)->incidents;
}

/* --- records a call stepped over -------------------------------------------- */

typedef struct skipped {
	size_t lines, incidents;
	char first_file[80];
	uint64_t first_line;
	size_t first_incident; /* 1-based */
} skipped;

static void skip_line(skipped *sk, const char *key, uint64_t line)
{
	if (sk->lines++ == 0) {
		snprintf(sk->first_file, sizeof sk->first_file, "%s", key);
		sk->first_line = line;
	}
}

static void skip_report(const skipped *sk, const char *op)
{
	if (sk->lines)
		co_log("json telemetry %s: skipped %zu unreadable event line%s, the first at %s line %llu; fix them "
		       "(cutover survey telemetry lists them)",
		       op, sk->lines, sk->lines == 1 ? "" : "s", sk->first_file, (unsigned long long)sk->first_line);
	if (sk->incidents)
		co_log("json telemetry %s: skipped %zu unreadable record%s of %s, the first at position %zu; fix them "
		       "(cutover survey telemetry lists them)",
		       op, sk->incidents, sk->incidents == 1 ? "" : "s", CO_INCIDENTS_KEY, sk->first_incident);
}

/* --- incidents ---------------------------------------------------------------- */

/* incidents.json's index: table 0 is the id (co_ix_id_keys), aux the id too,
 * so co_ix_aux_max is the largest id. A record that breaks the strict rules,
 * or whose id cannot be read, is unreadable in that table. */
static const co_ix_spec incidents_spec = {CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, 1, co_ix_id_keys};

static bool incident_id_of(const cJSON *rec, int64_t *id)
{
	cutover_error scratch;
	*id = 0;
	return cJSON_IsObject(rec) && co_json_get_int(rec, "id", true, id, NULL, &scratch) == CUTOVER_OK && *id > 0;
}

static bool incident_id_is(const cJSON *rec, const void *ctx)
{
	int64_t k;
	return incident_id_of(rec, &k) && k == *(const int64_t *)ctx;
}

/* The records unreadable before ord (SIZE_MAX: all): the ones a scan up to
 * ord would have stepped over. */
static void skip_incidents(skipped *sk, const co_ix *x, size_t before)
{
	size_t first, n = co_ix_unreadable(x, 0, before, &first);
	if (!n)
		return;
	if (sk->incidents == 0)
		sk->first_incident = first + 1;
	sk->incidents += n;
}

/* The first readable record with this id (x synced; *pos 0-based; the caller
 * deletes *rec), with the unreadable records before it (or all, when none
 * has the id) counted in sk. CUTOVER_ENOTFOUND leaves err untouched. */
static int find_incident(co_ix *x, int64_t id, cJSON **rec, size_t *pos, skipped *sk, cutover_error *err)
{
	int rc = co_ix_first(x, 0, &id, sizeof id, incident_id_is, &id, SIZE_MAX, rec, pos, err);
	if (rc == CUTOVER_OK || rc == CUTOVER_ENOTFOUND)
		skip_incidents(sk, x, rc == CUTOVER_OK ? *pos : SIZE_MAX);
	return rc;
}

static int decode_incident(const co_ix *x, size_t pos, const cJSON *rec, cutover_incident **out, cutover_error *err)
{
	int64_t id = 0;
	char what[40] = "";
	if (incident_id_of(rec, &id))
		snprintf(what, sizeof what, "id %lld", (long long)id);
	int rc = co_legacy_incident_from_json(rec, out, err);
	return rc == CUTOVER_ECORRUPT ? co_ix_record_error(x, err, pos, what[0] ? what : NULL) : rc;
}

static int write_incident(cJSON *rec, const cutover_incident *i, cutover_error *err)
{
	int rc;
	if ((rc = co_json_set_int(rec, "id", i->id, err)) || (rc = co_json_set_str(rec, "title", i->title, err)) ||
	    (rc = co_json_set_str(rec, "state", i->state, err)) ||
	    (rc = co_json_set_str(rec, "severity", i->severity, err)) ||
	    (rc = co_json_set_ts(rec, "opened_at", i->opened_at, err)) ||
	    (rc = co_json_set_ts(rec, "resolved_at", i->resolved_at, err)) ||
	    (rc = co_json_set_ts(rec, "updated_at", i->updated_at, err)))
		return rc;
	return CUTOVER_OK;
}

/* An event may only name an incident that exists and can be read (the
 * tables hold no unreadable incident either). The first dangling one in
 * input order is CUTOVER_EINVALID. */
static int check_incident_refs(co_ix *x, const char *what, const cutover_event *ev, size_t n, skipped *sk,
			       cutover_error *err)
{
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = ev[i].incident_id > 0;
	if (!any)
		return CUTOVER_OK;
	int rc = co_ix_sync(x, err);
	for (size_t i = 0; rc == CUTOVER_OK && i < n; i++) {
		if (ev[i].incident_id <= 0)
			continue;
		size_t pos;
		cJSON *rec = NULL;
		cutover_incident *inc = NULL;
		cutover_error scratch;
		rc = find_incident(x, ev[i].incident_id, &rec, &pos, sk, err);
		if (rc == CUTOVER_ENOTFOUND)
			rc = CUTOVER_OK;
		if (rc == CUTOVER_OK && (!rec || co_legacy_incident_from_json(rec, &inc, &scratch) != CUTOVER_OK)) {
			co_err(err, CUTOVER_EINVALID, "%s: incident_id %lld does not exist", what,
			       (long long)ev[i].incident_id);
			co_err_detail(err, "event %zu names it; an event's incident must be in %s", i + 1,
				      CO_INCIDENTS_KEY);
			co_err_hint(err, "create the incident first, or leave incident_id 0");
			rc = CUTOVER_EINVALID;
		}
		cutover_incident_free(inc);
		cJSON_Delete(rec);
	}
	return rc;
}

typedef struct incident_ctx {
	const cutover_incident *in;
	int64_t id;
	const char *to;
	cutover_ts now;
	cutover_incident *out;
	skipped sk;
} incident_ctx;

static int create_incident_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	incident_ctx *c = vctx;
	cutover_incident_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);
	int64_t max_id = co_ix_aux_max(x) > 0 ? co_ix_aux_max(x) : 0;
	int rc;
	if (c->in->id > 0) {
		cJSON *old = NULL;
		size_t pos;
		rc = find_incident(x, c->in->id, &old, &pos, &c->sk, err);
		cJSON_Delete(old);
		if (rc == CUTOVER_OK)
			return co_err(err, CUTOVER_ECONFLICT, "create incident: incident id %lld already taken",
				      (long long)c->in->id);
		if (rc != CUTOVER_ENOTFOUND)
			return rc;
	} else {
		skip_incidents(&c->sk, x, SIZE_MAX);
	}
	cutover_incident inc = *c->in;
	inc.id = inc.id > 0 ? inc.id : max_id + 1;
	cJSON *rec = cJSON_CreateObject();
	rc = rec ? write_incident(rec, &inc, err) : co_err_oom(err);
	if (rc == CUTOVER_OK)
		rc = decode_incident(x, co_ix_count(x), rec, &c->out, err);
	if (rc) {
		cJSON_Delete(rec);
		return rc;
	}
	return co_ix_append(e, rec, err);
}

static int j_create_incident(cutover_telemetry *s, cutover_incident **out, const cutover_incident *in,
			     cutover_error *err)
{
	incident_ctx c = {.in = in};
	*out = NULL;
	if (!in || !in->title || !in->state || !in->severity)
		return co_err(err, CUTOVER_EINVALID, "create incident: title, state and severity are required");
	int rc = co_ix_update(INCIDENTS(s), LOCK_NAME, create_incident_edit, &c, err);
	skip_report(&c.sk, "create_incident");
	if (rc)
		cutover_incident_free(c.out);
	else
		*out = c.out;
	return rc;
}

static int j_get_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, cutover_error *err)
{
	co_ix *x = INCIDENTS(s);
	skipped sk = {0};
	cJSON *rec = NULL;
	size_t pos = 0;
	*out = NULL;
	int rc = co_ix_sync(x, err);
	if (rc)
		return rc;
	rc = find_incident(x, id, &rec, &pos, &sk, err);
	if (rc == CUTOVER_OK)
		rc = decode_incident(x, pos, rec, out, err);
	else if (rc == CUTOVER_ENOTFOUND)
		co_err(err, CUTOVER_ENOTFOUND, "get incident: incident %lld not found", (long long)id);
	cJSON_Delete(rec);
	skip_report(&sk, "get_incident");
	return rc;
}

static int transition_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	incident_ctx *c = vctx;
	cutover_incident_free(c->out);
	c->out = NULL;
	memset(&c->sk, 0, sizeof c->sk);
	size_t pos = 0;
	cJSON *rec = NULL;
	int rc = find_incident(x, c->id, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		return co_err(err, CUTOVER_ENOTFOUND, "transition incident: incident %lld not found", (long long)c->id);
	if (rc)
		return rc;
	cutover_incident *cur = NULL;
	rc = decode_incident(x, pos, rec, &cur, err);
	if (rc == CUTOVER_OK)
		rc = co_incident_move_check(c->id, cur->state, c->to, err);
	cutover_ts updated_at = cur ? co_ts_advance(cur->updated_at, c->now) : CUTOVER_TS_NULL;
	cutover_incident_free(cur);
	cutover_ts resolved_at = strcmp(c->to, "resolved") == 0 ? c->now : CUTOVER_TS_NULL;
	if (rc == CUTOVER_OK)
		rc = co_json_set_str(rec, "state", c->to, err);
	if (rc == CUTOVER_OK)
		rc = co_json_set_ts(rec, "resolved_at", resolved_at, err);
	if (rc == CUTOVER_OK)
		rc = co_json_set_ts(rec, "updated_at", updated_at, err);
	if (rc == CUTOVER_OK)
		rc = decode_incident(x, pos, rec, &c->out, err);
	if (rc) {
		cJSON_Delete(rec);
		return rc;
	}
	return co_ix_replace(e, pos, rec, err);
}

static int j_transition_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, const char *to,
				 cutover_ts now, cutover_error *err)
{
	incident_ctx c = {.id = id, .to = to, .now = now};
	*out = NULL;
	int rc = co_ix_update(INCIDENTS(s), LOCK_NAME, transition_edit, &c, err);
	skip_report(&c.sk, "transition_incident");
	if (rc)
		cutover_incident_free(c.out);
	else
		*out = c.out;
	return rc;
}

static int put_incident_edit(co_ix *x, void *vctx, co_ix_edits *e, cutover_error *err)
{
	incident_ctx *c = vctx;
	memset(&c->sk, 0, sizeof c->sk);
	size_t pos = 0;
	cJSON *rec = NULL;
	int rc = find_incident(x, c->in->id, &rec, &pos, &c->sk, err);
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	if (rc)
		return rc;
	cutover_incident *cur = NULL;
	cutover_error why;
	if (rec && co_legacy_incident_from_json(rec, &cur, &why) == CUTOVER_OK) {
		/* the stored copy decides: another incident is refused, a newer state kept */
		bool other = cur->opened_at != c->in->opened_at, newer = co_incident_newer(cur, c->in);
		cutover_incident_free(cur);
		if (other || newer)
			cJSON_Delete(rec);
		if (other) {
			co_err(err, CUTOVER_ECONFLICT, "put incident: incident %lld exists with another opened_at; not replaced",
			       (long long)c->in->id);
			co_err_hint(err, "compare the two copies of incident %lld and repair by hand", (long long)c->in->id);
			return CUTOVER_ECONFLICT;
		}
		if (newer)
			return CUTOVER_OK; /* a later state's own second write is the one that counts */
	}
	bool replace = rec != NULL;
	if (!rec && !(rec = cJSON_CreateObject()))
		return co_err_oom(err);
	if ((rc = write_incident(rec, c->in, err))) {
		cJSON_Delete(rec);
		return rc;
	}
	return replace ? co_ix_replace(e, pos, rec, err) : co_ix_append(e, rec, err);
}

static int j_put_incident(cutover_telemetry *s, const cutover_incident *inc, cutover_error *err)
{
	incident_ctx c = {.in = inc};
	if (!inc || inc->id <= 0 || !inc->title || !inc->state || !inc->severity)
		return co_err(err, CUTOVER_EINVALID, "put incident needs an id > 0, a title, a state and a severity");
	int rc = co_ix_update(INCIDENTS(s), LOCK_NAME, put_incident_edit, &c, err);
	skip_report(&c.sk, "put_incident");
	return rc;
}

/* --- daily files: walking lines ------------------------------------------------ */

/* One line of a daily file, as the framer hands it out. rec is its parsed
 * JSON (NULL when it does not parse); the callback may keep it by setting
 * it to NULL. */
typedef int (*line_fn)(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err);

/* Every line of key, streamed (an absent file has none). */
static int each_line(co_transport *t, const char *key, line_fn fn, void *ud, cutover_error *err)
{
	FILE *f = NULL;
	int rc = co_transport_stream(t, key, &f, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	if (rc)
		return rc;
	co_scan *sc = NULL;
	rc = co_scan_ndjson(&sc, f, key, err);
	co_scan_item it;
	while (rc == CUTOVER_OK && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		cJSON *rec = NULL;
		cutover_error why;
		if (co_legacy_parse(&it, &rec, &why) != CUTOVER_OK)
			rec = NULL;
		rc = fn(ud, &it, &rec, err);
		cJSON_Delete(rec);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	co_scan_free(sc);
	fclose(f);
	return rc;
}

static bool event_id_of(const cJSON *rec, int64_t *id)
{
	cutover_error scratch;
	*id = 0;
	return rec && co_json_get_int(rec, "id", true, id, NULL, &scratch) == CUTOVER_OK && *id > 0;
}

/* The daily files, in date order (misnamed files are not events: the
 * survey lists them, the backfill rejects their lines). */
typedef struct day_list {
	char **keys;
	size_t n, all;
} day_list;

static void days_free(day_list *dl)
{
	co_keys_free(dl->keys, dl->all);
	memset(dl, 0, sizeof(*dl));
}

static int days_list(co_transport *t, day_list *dl, cutover_error *err)
{
	memset(dl, 0, sizeof(*dl));
	if (!t->list) {
		co_err(err, CUTOVER_ECONFIG, "the state root's transport (%s) cannot list the daily event files", t->kind);
		co_err_hint(err, "use a local directory as the JSON state root for telemetry");
		return CUTOVER_ECONFIG;
	}
	int rc = t->list(t, CO_EVENTS_PREFIX, &dl->keys, &dl->all, err);
	if (rc)
		return rc;
	size_t k = 0;
	for (size_t i = 0; i < dl->all; i++) {
		char date[11];
		if (co_events_file_date(dl->keys[i], date)) {
			char *tmp = dl->keys[k];
			dl->keys[k++] = dl->keys[i];
			dl->keys[i] = tmp;
		}
	}
	dl->n = k;
	return CUTOVER_OK;
}

/* --- daily files: their indexes ----------------------------------------------------- */

/* A line's key: its "id" when that reads as an integer > 0 (the lines the
 * id checks and look-ups count); a line without one, or that does not
 * parse, has none. No number a record: the index costs 16 bytes a line
 * plus its slot in the id table. */
static void event_keys(const cJSON *rec, co_ix_emit *e)
{
	int64_t id;
	if (event_id_of(rec, &id))
		co_ix_key(e, 0, &id, sizeof id);
	else
		co_ix_key_unreadable(e, 0);
}

static bool event_id_is(const cJSON *rec, const void *ctx)
{
	int64_t id;
	return event_id_of(rec, &id) && id == *(const int64_t *)ctx;
}

static void day_ix_free(day_ix *d)
{
	if (!d)
		return;
	co_ix_free(d->x);
	free(d);
}

static int day_ix_new(json_telemetry *j, const char *key, day_ix **out, cutover_error *err)
{
	*out = NULL;
	if (strlen(key) >= sizeof((day_ix *)0)->key)
		return co_err(err, CUTOVER_EINTERNAL, "json telemetry: daily file key too long: %.80s", key);
	day_ix *d = calloc(1, sizeof *d);
	if (!d)
		return co_err_oom(err);
	snprintf(d->key, sizeof d->key, "%s", key);
	d->spec = (co_ix_spec){d->key, NULL, 1, event_keys}; /* NULL: a file of lines */
	int rc = co_ix_new_aux(&d->x, j->t, &d->spec, 0, err);
	if (rc) {
		free(d);
		return rc;
	}
	*out = d;
	return CUTOVER_OK;
}

/* The index of daily file key, brought up to the stored file (one version
 * check; indexed anew only when it changed). From the cache; else built in
 * a free slot or in place of the least recently used index that no part of
 * the current call holds; else, when this call holds every slot, one of
 * its own (*own: the caller frees it with day_ix_free). pin: hold it until
 * the call ends (a batch keeps its days' ordinals and edits). */
static int day_get(json_telemetry *j, const char *key, bool pin, day_ix **out, bool *own, cutover_error *err)
{
	day_ix *d = NULL;
	int slot = -1;
	*out = NULL;
	*own = false;
	for (int i = 0; i < DAY_CACHE && !d; i++)
		if (j->days[i] && strcmp(j->days[i]->key, key) == 0)
			d = j->days[i];
	if (!d) {
		for (int i = 0; i < DAY_CACHE; i++) {
			if (!j->days[i]) {
				slot = i;
				break;
			}
			if (j->days[i]->pin != j->call && (slot < 0 || j->days[i]->used < j->days[slot]->used))
				slot = i;
		}
		int rc = day_ix_new(j, key, &d, err);
		if (rc)
			return rc;
		if (slot >= 0) {
			day_ix_free(j->days[slot]);
			j->days[slot] = d;
		} else {
			*own = true;
		}
	}
	d->used = ++j->clock;
	if (pin)
		d->pin = j->call;
	int rc = co_ix_sync(d->x, err);
	if (rc) {
		if (*own)
			day_ix_free(d);
		*own = false;
		return rc;
	}
	*out = d;
	return CUTOVER_OK;
}

/* The first line of d with this id that reads (co_ix_first: lowest
 * ordinal first): CUTOVER_OK with *rec (the caller deletes it) and *ord,
 * or CUTOVER_ENOTFOUND with err untouched. */
static int day_find(day_ix *d, int64_t id, cJSON **rec, size_t *ord, cutover_error *err)
{
	return co_ix_first(d->x, 0, &id, sizeof id, event_id_is, &id, SIZE_MAX, rec, ord, err);
}

/* --- the id counter ---------------------------------------------------------------- */

typedef struct scan_max {
	int64_t max;
} scan_max;

static int max_line(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err)
{
	(void)it;
	(void)err;
	scan_max *m = ud;
	int64_t id;
	if (event_id_of(*rec, &id) && id > m->max)
		m->max = id;
	return CUTOVER_OK;
}

/* max(id) + 1 over every id that reads as an integer in every daily file. */
static int counter_rebuild(co_transport *t, int64_t *next, cutover_error *err)
{
	day_list dl;
	int rc = days_list(t, &dl, err);
	scan_max m = {0};
	for (size_t i = 0; rc == CUTOVER_OK && i < dl.n; i++)
		rc = each_line(t, dl.keys[i], max_line, &m, err);
	days_free(&dl);
	*next = m.max + 1;
	return rc;
}

static int counter_read(co_transport *t, int64_t *next, cutover_error *err)
{
	char *data = NULL, version[CO_VERSION_LEN];
	size_t len = 0;
	int rc = t->get(t, COUNTER_KEY, &data, &len, version, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		return counter_rebuild(t, next, err);
	}
	if (rc)
		return rc;
	cJSON *j = cJSON_ParseWithLength(data, len);
	free(data);
	cutover_error scratch;
	bool present = false;
	int64_t v = 0;
	bool ok = j && co_json_get_int(j, "next_id", true, &v, &present, &scratch) == CUTOVER_OK && v >= 1;
	cJSON_Delete(j);
	if (ok) {
		*next = v;
		return CUTOVER_OK;
	}
	co_log("json telemetry: %s cannot be read; rebuilding it from the daily files", COUNTER_KEY);
	return counter_rebuild(t, next, err);
}

static int counter_write(co_transport *t, int64_t next, cutover_error *err)
{
	char text[64];
	int n = co_json_event_counter_text(next, text, sizeof text);
	return t->put(t, COUNTER_KEY, text, (size_t)n, NULL, NULL, err);
}

/* --- daily files: storing events ------------------------------------------------------ */

static int write_event(cJSON *rec, const cutover_event *e, cutover_error *err)
{
	int rc;
	cJSON *payload = cJSON_Parse(e->payload ? e->payload : "{}");
	if (!payload)
		return co_err(err, CUTOVER_EINVALID, "event %lld: the payload is not JSON", (long long)e->id);
	if ((rc = co_json_set_int(rec, "id", e->id, err)) || (rc = co_json_set_ts(rec, "occurred_at", e->occurred_at, err)) ||
	    (rc = co_json_set_str(rec, "source_ip", e->source_ip, err)) ||
	    (rc = co_json_set_str(rec, "region", e->region, err)) || (rc = co_json_set_str(rec, "node", e->node, err)) ||
	    (rc = co_json_set_str(rec, "attack_type", e->attack_type, err)) ||
	    (rc = co_json_set_str(rec, "severity", e->severity, err))) {
		cJSON_Delete(payload);
		return rc;
	}
	if ((rc = co_json_set(rec, "payload", payload, err)))
		return rc;
	if (e->incident_id > 0)
		return co_json_set_int(rec, "incident_id", e->incident_id, err);
	return co_json_set(rec, "incident_id", cJSON_CreateNull(), err);
}

/* One daily file a batch touches: its index (held for the call) and what
 * the batch changes in it. */
typedef struct day {
	char key[64], date[11];
	day_ix *dx;
	bool own;            /* dx is the batch's, not the cache's */
	co_ix_edits *edits;  /* replaced lines, new lines */
} day;

typedef enum { STORE_APPEND, STORE_PUT } store_mode;

typedef struct id_idx {
	int64_t id;
	size_t idx;
} id_idx;

/* What a batch is doing. */
typedef struct batch {
	store_mode mode;
	cutover_event *ev;   /* the batch, ids final once assigned */
	bool *explicit_id;   /* append: the caller chose this id */
	size_t n;
	id_idx *order;       /* the batch's ids, sorted */
	int *where;          /* per event: its own day (index into days) */
	bool *elsewhere;     /* its id is in a file other than its own day */
	size_t *ord;         /* its id's first line in its own day (ordinal); SIZE_MAX: none */
	cJSON **old;         /* put: that line, parsed (kept for its unknown fields) */
	bool stale;          /* an assigned id is already in its day */
	day *days;
	size_t ndays;
} batch;

static int by_id(const void *a, const void *b)
{
	int64_t x = ((const id_idx *)a)->id, y = ((const id_idx *)b)->id;
	return x < y ? -1 : x > y;
}

static void batch_free(batch *b)
{
	for (size_t i = 0; b->old && i < b->n; i++)
		cJSON_Delete(b->old[i]);
	for (size_t d = 0; d < b->ndays; d++) {
		co_ix_edits_free(b->days[d].edits);
		if (b->days[d].own)
			day_ix_free(b->days[d].dx);
	}
	free(b->days);
	free(b->order);
	free(b->where);
	free(b->elsewhere);
	free(b->ord);
	free(b->old);
	bool *ex = b->explicit_id;
	cutover_event *ev = b->ev;
	size_t n = b->n;
	store_mode mode = b->mode;
	memset(b, 0, sizeof(*b));
	b->explicit_id = ex; /* the caller's, kept across attempts */
	b->ev = ev;
	b->n = n;
	b->mode = mode;
}

static int batch_init(batch *b, cutover_error *err)
{
	size_t n = b->n;
	b->order = malloc(n * sizeof(*b->order));
	b->where = malloc(n * sizeof(*b->where));
	b->elsewhere = calloc(n, sizeof(*b->elsewhere));
	b->ord = malloc(n * sizeof(*b->ord));
	b->old = calloc(n, sizeof(*b->old));
	if (!b->order || !b->where || !b->elsewhere || !b->ord || !b->old)
		return co_err_oom(err);
	for (size_t i = 0; i < n; i++) {
		b->order[i] = (id_idx){b->ev[i].id, i};
		b->where[i] = -1;
		b->ord[i] = SIZE_MAX;
	}
	qsort(b->order, n, sizeof(*b->order), by_id);
	return CUTOVER_OK;
}

/* Look the batch's ids up in one daily file (d: the batch day it is, -1:
 * another file). Each distinct id counts once, for the batch's first
 * event with it in id order: found in that event's own day, its first
 * line there is the one an append collides with and a put replaces;
 * found in any other file, the id is taken elsewhere. */
static int batch_lookup(batch *b, day_ix *dx, int d, cutover_error *err)
{
	for (size_t k = 0; k < b->n; k++) {
		if (k && b->order[k].id == b->order[k - 1].id)
			continue;
		size_t i = b->order[k].idx, ord = 0;
		cJSON *rec = NULL;
		int rc = day_find(dx, b->order[k].id, &rec, &ord, err);
		if (rc == CUTOVER_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		if (d < 0 || b->where[i] != d) {
			b->elsewhere[i] = true;
			cJSON_Delete(rec);
			continue;
		}
		b->ord[i] = ord;
		if (b->mode == STORE_APPEND) {
			if (!b->explicit_id[i])
				b->stale = true;
			cJSON_Delete(rec);
		} else {
			b->old[i] = rec;
		}
	}
	return CUTOVER_OK;
}

/* Index the days the batch touches (absent files are empty), held for the
 * call, and find each event's id in its own day. */
static int batch_days(json_telemetry *j, batch *b, cutover_error *err)
{
	for (size_t i = 0; i < b->n; i++) {
		char key[64];
		co_events_key_of(b->ev[i].occurred_at, key, sizeof key);
		size_t d = 0;
		while (d < b->ndays && strcmp(b->days[d].key, key) != 0)
			d++;
		if (d == b->ndays) {
			day *grown = realloc(b->days, (b->ndays + 1) * sizeof(*grown));
			if (!grown)
				return co_err_oom(err);
			b->days = grown;
			day *dd = &b->days[b->ndays++];
			memset(dd, 0, sizeof(*dd));
			snprintf(dd->key, sizeof dd->key, "%s", key);
			memcpy(dd->date, key + strlen(CO_EVENTS_PREFIX), 10);
			if (!(dd->edits = co_ix_edits_new()))
				return co_err_oom(err);
			int rc = day_get(j, key, true, &dd->dx, &dd->own, err);
			if (rc)
				return rc;
		}
		b->where[i] = (int)d;
	}
	for (size_t d = 0; d < b->ndays; d++) {
		int rc = batch_lookup(b, b->days[d].dx, (int)d, err);
		if (rc)
			return rc;
	}
	return CUTOVER_OK;
}

/* Look for the batch's ids in every daily file it does not touch. */
static int batch_elsewhere(json_telemetry *j, batch *b, cutover_error *err)
{
	day_list dl;
	int rc = days_list(j->t, &dl, err);
	for (size_t k = 0; rc == CUTOVER_OK && k < dl.n; k++) {
		bool touched = false;
		for (size_t d = 0; d < b->ndays && !touched; d++)
			touched = strcmp(b->days[d].key, dl.keys[k]) == 0;
		if (touched)
			continue;
		day_ix *dx = NULL;
		bool own = false;
		if ((rc = day_get(j, dl.keys[k], false, &dx, &own, err)) == CUTOVER_OK)
			rc = batch_lookup(b, dx, -1, err);
		if (own)
			day_ix_free(dx);
	}
	days_free(&dl);
	return rc;
}

/* Store the batch into its days (each day's file streamed: its untouched
 * bytes copied, the lines replaced written in their place, the new ones
 * appended after a newline if the file did not end with one); decode
 * what was written into out (in input order). Every line is printed
 * before any file is written, so a record that cannot be printed stops
 * the batch with nothing stored. */
static int batch_write(batch *b, cutover_event_list *out, cutover_error *err)
{
	int rc = CUTOVER_OK;
	out->items = calloc(b->n, sizeof(*out->items));
	if (!out->items)
		return co_err_oom(err);
	for (size_t i = 0; rc == CUTOVER_OK && i < b->n; i++) {
		day *d = &b->days[b->where[i]];
		bool replace = b->old[i] != NULL;
		cJSON *rec = replace ? b->old[i] : cJSON_CreateObject();
		if (!rec) {
			rc = co_err_oom(err);
			break;
		}
		b->old[i] = NULL;
		rc = write_event(rec, &b->ev[i], err);
		char *text = NULL;
		size_t text_len = 0;
		if (rc == CUTOVER_OK)
			rc = co_json_print(rec, d->key, &text, &text_len, err);
		free(text);
		/* decoded from a copy: decoding sorts the payload's keys in place,
		 * and the line keeps the order it was given in */
		cJSON *copy = rc == CUTOVER_OK ? cJSON_Duplicate(rec, true) : NULL;
		if (rc == CUTOVER_OK && !copy)
			rc = co_err_oom(err);
		if (rc == CUTOVER_OK && (rc = co_legacy_event_fill(copy, d->date, &out->items[out->n], err)) == CUTOVER_OK)
			out->n++;
		cJSON_Delete(copy);
		if (rc) {
			cJSON_Delete(rec);
			break;
		}
		rc = replace ? co_ix_replace(d->edits, b->ord[i], rec, err) : co_ix_append(d->edits, rec, err);
	}
	for (size_t k = 0; rc == CUTOVER_OK && k < b->ndays; k++) {
		day *d = &b->days[k];
		rc = co_ix_write(d->dx->x, d->edits, err);
		if (rc == CUTOVER_EBUSY)
			co_err_hint(err, "another process rewrote %s without the library's lock; retry", d->key);
	}
	if (rc)
		cutover_event_list_free(out);
	return rc;
}

static int taken(const char *what, int64_t id, cutover_error *err)
{
	co_err(err, CUTOVER_ECONFLICT, "%s: event id %lld already exists", what, (long long)id);
	co_err_hint(err, "leave id 0 to have one assigned");
	return CUTOVER_ECONFLICT;
}

static int other_day(const char *what, int64_t id, const char *key, cutover_error *err)
{
	co_err(err, CUTOVER_ECONFLICT, "%s: event %lld exists with another occurred_at; not replaced", what,
	       (long long)id);
	co_err_detail(err, "an event with that id is in a file other than %s, the file of this one's date", key);
	return CUTOVER_ECONFLICT;
}

/* After batch_days: refuse what must not be written. Checks run in input
 * order, like the postgres backend's. */
static int batch_check(json_telemetry *j, batch *b, int64_t next, const char *what, cutover_error *err)
{
	bool look = false;
	for (size_t i = 0; i < b->n; i++)
		look |= b->mode == STORE_APPEND ? b->explicit_id[i] && b->ev[i].id < next
						: b->ord[i] == SIZE_MAX && b->ev[i].id < next;
	int rc = look ? batch_elsewhere(j, b, err) : CUTOVER_OK;
	for (size_t i = 0; rc == CUTOVER_OK && i < b->n; i++) {
		const day *d = &b->days[b->where[i]];
		if (b->mode == STORE_APPEND) {
			if (b->explicit_id[i] && (b->ord[i] != SIZE_MAX || b->elsewhere[i]))
				rc = taken(what, b->ev[i].id, err);
			continue;
		}
		if (b->ord[i] == SIZE_MAX) {
			if (b->elsewhere[i])
				rc = other_day(what, b->ev[i].id, d->key, err);
			continue;
		}
		/* replacing a line: it must be this event (same occurred_at), so readable */
		cutover_event cur;
		cutover_error why;
		if (co_legacy_event_fill(b->old[i], d->date, &cur, &why) != CUTOVER_OK) {
			rc = co_err(err, CUTOVER_ECORRUPT, "%s: %s line %llu (id %lld) cannot be read; not replaced", what,
				    d->key, (unsigned long long)co_ix_line(d->dx->x, b->ord[i]), (long long)b->ev[i].id);
			co_err_detail(err, "%s", why.message);
			co_err_hint(err, "fix or remove that line (cutover survey telemetry lists it)");
			break;
		}
		bool same = cur.occurred_at == b->ev[i].occurred_at;
		co_event_clear(&cur);
		if (!same)
			rc = other_day(what, b->ev[i].id, d->key, err);
	}
	return rc;
}

/* append (ids 0 assigned) or put (insert or replace by id), under the lock. */
static int store_events(json_telemetry *j, store_mode mode, const cutover_event *in, size_t n, cutover_event_list *out,
			skipped *sk, cutover_error *err)
{
	co_transport *t = j->t;
	const char *what = mode == STORE_APPEND ? "append events" : "put events";
	out->items = NULL;
	out->n = 0;
	batch b = {.mode = mode, .n = n};
	b.ev = calloc(n, sizeof(*b.ev));
	b.explicit_id = calloc(n, sizeof(*b.explicit_id));
	if (!b.ev || !b.explicit_id) {
		free(b.ev);
		free(b.explicit_id);
		return co_err_oom(err);
	}
	memcpy(b.ev, in, n * sizeof(*b.ev)); /* shallow: the strings stay the caller's */
	for (size_t i = 0; i < n; i++)
		b.explicit_id[i] = in[i].id > 0;
	j->call++; /* the days this call holds (pinned) are not evicted until it ends */
	co_lock *lock = NULL;
	int rc = t->lock ? t->lock(t, LOCK_NAME, &lock, err) : CUTOVER_OK;
	if (rc == CUTOVER_OK)
		rc = check_incident_refs(j->incidents, what, b.ev, n, sk, err);
	int64_t next = 0;
	if (rc == CUTOVER_OK)
		rc = counter_read(t, &next, err);
	int64_t stored_next = next;
	for (int attempt = 0; rc == CUTOVER_OK; attempt++) {
		int64_t nx = next;
		for (size_t i = 0; i < n; i++)
			b.ev[i].id = in[i].id > 0 ? in[i].id : nx++;
		batch_free(&b);
		if ((rc = batch_init(&b, err)) || (rc = batch_days(j, &b, err)))
			break;
		if (b.stale) {
			if (attempt >= 2) {
				rc = co_err(err, CUTOVER_ECORRUPT, "%s: ids handed out by %s are already in the daily files",
					    what, COUNTER_KEY);
				co_err_hint(err, "delete %s; the next append rebuilds it from the files", COUNTER_KEY);
				break;
			}
			co_log("json telemetry %s: %s is behind the daily files; rebuilding it", what, COUNTER_KEY);
			if ((rc = counter_rebuild(t, &next, err)))
				break;
			stored_next = 0; /* write the rebuilt value */
			continue;
		}
		if ((rc = batch_check(j, &b, next, what, err)))
			break;
		int64_t new_next = nx;
		for (size_t i = 0; i < n; i++)
			if (b.ev[i].id >= new_next)
				new_next = b.ev[i].id + 1;
		/* the counter first: a crash before the events leaves a gap, never a reused id */
		if (new_next != stored_next)
			rc = counter_write(t, new_next, err);
		if (rc == CUTOVER_OK)
			rc = batch_write(&b, out, err);
		break;
	}
	batch_free(&b);
	if (lock)
		t->unlock(t, lock);
	j->call++; /* unpinned */
	free(b.ev);
	free(b.explicit_id);
	return rc;
}

static int j_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in, size_t n,
			   cutover_error *err)
{
	skipped sk = {0};
	int rc = store_events((json_telemetry *)s, STORE_APPEND, in, n, out, &sk, err);
	skip_report(&sk, "append_events");
	return rc;
}

static int j_put_events(cutover_telemetry *s, const cutover_event *ev, size_t n, cutover_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].id <= 0 || !ev[i].severity || ev[i].occurred_at == CUTOVER_TS_NULL)
			return co_err(err, CUTOVER_EINVALID, "put events: event %zu needs an id, a severity and occurred_at",
				      i + 1);
	skipped sk = {0};
	cutover_event_list stored = {0};
	int rc = n ? store_events((json_telemetry *)s, STORE_PUT, ev, n, &stored, &sk, err) : CUTOVER_OK;
	cutover_event_list_free(&stored);
	skip_report(&sk, "put_events");
	return rc;
}

/* --- queries --------------------------------------------------------------------------- */

typedef struct query_ctx {
	const cutover_event_query *q;
	const char *key, *date;
	bool after_cursor;
	cutover_ts cts;
	int64_t cid;
	cutover_event *items; /* this day's matches */
	size_t n, cap;
	skipped *sk;
} query_ctx;

static bool matches(const query_ctx *c, const cutover_event *e)
{
	const cutover_event_query *q = c->q;
	if (q->from != CUTOVER_TS_NULL && e->occurred_at < q->from)
		return false;
	if (q->to != CUTOVER_TS_NULL && e->occurred_at >= q->to)
		return false;
	if (q->region && !co_streq(q->region, e->region))
		return false;
	if (q->severity && !co_streq(q->severity, e->severity))
		return false;
	if (q->attack_type && !co_streq(q->attack_type, e->attack_type))
		return false;
	if (q->incident_id > 0 && e->incident_id != q->incident_id)
		return false;
	if (c->after_cursor && (e->occurred_at < c->cts || (e->occurred_at == c->cts && e->id <= c->cid)))
		return false;
	return true;
}

static int query_line(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err)
{
	query_ctx *c = ud;
	cutover_event e;
	cutover_error why;
	if (!*rec || co_legacy_event_fill(*rec, c->date, &e, &why) != CUTOVER_OK) {
		if (why.code == CUTOVER_EINTERNAL && *rec)
			return co_err_oom(err);
		skip_line(c->sk, c->key, it->line);
		return CUTOVER_OK;
	}
	if (!matches(c, &e)) {
		co_event_clear(&e);
		return CUTOVER_OK;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		cutover_event *grown = realloc(c->items, cap * sizeof(*grown));
		if (!grown) {
			co_event_clear(&e);
			return co_err_oom(err);
		}
		c->items = grown;
		c->cap = cap;
	}
	c->items[c->n++] = e;
	return CUTOVER_OK;
}

static int ev_cmp(const void *a, const void *b)
{
	return co_event_cmp(a, b);
}

static int j_query_events(cutover_telemetry *s, cutover_event_page *out, const cutover_event_query *q,
			  cutover_error *err)
{
	co_transport *t = T(s);
	skipped sk = {0};
	query_ctx c = {.q = q, .sk = &sk};
	bool first = true;
	int rc = co_cursor_parse(q->cursor, &c.cts, &c.cid, &first, err);
	if (rc)
		return rc;
	c.after_cursor = !first;
	/* the earliest time any result can have */
	cutover_ts lower = q->from;
	if (c.after_cursor && (lower == CUTOVER_TS_NULL || c.cts > lower))
		lower = c.cts;
	day_list dl;
	if ((rc = days_list(t, &dl, err)))
		return rc;
	cutover_event *res = NULL;
	size_t nres = 0, want = q->limit + 1;
	for (size_t k = 0; rc == CUTOVER_OK && k < dl.n && nres < want; k++) {
		char date[11];
		co_events_file_date(dl.keys[k], date);
		cutover_ts day0;
		cutover_ts_parse(date, &day0);
		cutover_ts day1 = day0 + 86400LL * 1000000;
		if (lower != CUTOVER_TS_NULL && day1 <= lower)
			continue;
		if (q->to != CUTOVER_TS_NULL && day0 >= q->to)
			break;
		c.key = dl.keys[k];
		c.date = date;
		c.n = 0;
		rc = each_line(t, dl.keys[k], query_line, &c, err);
		if (rc)
			break;
		if (c.n > 1)
			qsort(c.items, c.n, sizeof(*c.items), ev_cmp);
		size_t take = c.n < want - nres ? c.n : want - nres;
		if (take) {
			cutover_event *grown = realloc(res, (nres + take) * sizeof(*grown));
			if (!grown) {
				rc = co_err_oom(err);
				break;
			}
			res = grown;
			memcpy(res + nres, c.items, take * sizeof(*res));
			nres += take;
		}
		for (size_t i = take; i < c.n; i++)
			co_event_clear(&c.items[i]);
		c.n = 0;
	}
	for (size_t i = 0; i < c.n; i++)
		co_event_clear(&c.items[i]);
	free(c.items);
	days_free(&dl);
	if (rc) {
		for (size_t i = 0; i < nres; i++)
			co_event_clear(&res[i]);
		free(res);
		return rc;
	}
	if (nres > q->limit) {
		for (size_t i = q->limit; i < nres; i++)
			co_event_clear(&res[i]);
		nres = q->limit;
		co_cursor_format(res[nres - 1].occurred_at, res[nres - 1].id, out->next_cursor);
	}
	out->items = res;
	out->n = nres;
	skip_report(&sk, "query_events");
	return CUTOVER_OK;
}

/* --- linking ------------------------------------------------------------------------------ */

static int j_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id, int64_t incident_id,
			cutover_error *err)
{
	json_telemetry *j = (json_telemetry *)s;
	co_transport *t = j->t;
	skipped sk = {0};
	co_lock *lock = NULL;
	day_list dl = {0};
	day_ix *dx = NULL;
	bool own = false, found = false;
	cJSON *rec = NULL;
	size_t ord = 0;
	if (out)
		*out = NULL;
	int rc = t->lock ? t->lock(t, LOCK_NAME, &lock, err) : CUTOVER_OK;
	cutover_event probe = {.incident_id = incident_id};
	if (rc == CUTOVER_OK)
		rc = check_incident_refs(j->incidents, "link event", &probe, 1, &sk, err);
	if (rc == CUTOVER_OK)
		rc = days_list(t, &dl, err);
	char date[11] = "";
	const char *key = NULL;
	/* newest day first: events are usually linked soon after they happen */
	for (size_t k = dl.n; rc == CUTOVER_OK && k-- > 0 && !found;) {
		if (own)
			day_ix_free(dx);
		dx = NULL;
		own = false;
		if ((rc = day_get(j, dl.keys[k], false, &dx, &own, err)))
			break;
		rc = day_find(dx, event_id, &rec, &ord, err);
		if (rc == CUTOVER_ENOTFOUND) {
			rc = CUTOVER_OK;
			continue;
		}
		if (rc == CUTOVER_OK) {
			found = true;
			key = dl.keys[k];
			co_events_file_date(key, date);
		}
	}
	if (rc == CUTOVER_OK && !found)
		rc = co_err(err, CUTOVER_ENOTFOUND, "link event: event %lld not found", (long long)event_id);
	cutover_event cur = {0};
	if (rc == CUTOVER_OK) {
		cutover_error why;
		if (co_legacy_event_fill(rec, date, &cur, &why) != CUTOVER_OK) {
			rc = co_err(err, CUTOVER_ECORRUPT, "link event: %s line %llu (id %lld) cannot be read", key,
				    (unsigned long long)co_ix_line(dx->x, ord), (long long)event_id);
			co_err_detail(err, "%s", why.message);
			co_err_hint(err, "fix or remove that line (cutover survey telemetry lists it)");
		}
	}
	if (rc == CUTOVER_OK) {
		rc = incident_id > 0 ? co_json_set_int(rec, "incident_id", incident_id, err)
				     : co_json_set(rec, "incident_id", cJSON_CreateNull(), err);
		co_event_clear(&cur);
		if (rc == CUTOVER_OK)
			rc = co_legacy_event_fill(rec, date, &cur, err);
	}
	if (rc == CUTOVER_OK) {
		/* only its line is written anew (printed as it now is: compact,
		 * the payload in canonical order); every other byte is copied */
		co_ix_edits *e = co_ix_edits_new();
		rc = e ? co_ix_replace(e, ord, rec, err) : co_err_oom(err);
		rec = NULL; /* taken */
		if (rc == CUTOVER_OK)
			rc = co_ix_write(dx->x, e, err);
		co_ix_edits_free(e);
	}
	cJSON_Delete(rec);
	if (own)
		day_ix_free(dx);
	days_free(&dl);
	if (lock)
		t->unlock(t, lock);
	skip_report(&sk, "link_event");
	if (rc == CUTOVER_OK && out) {
		if (!(*out = malloc(sizeof(**out)))) {
			co_event_clear(&cur);
			return co_err_oom(err);
		}
		**out = cur;
	} else {
		co_event_clear(&cur);
	}
	return rc;
}

/* --- internal: events by id (reconcile) ----------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* A line of one day holding one of the ids asked for. */
typedef struct id_hit {
	size_t ord;  /* its line's ordinal */
	size_t want; /* which id (index into the sorted ids) */
	cJSON *rec;
} id_hit;

static int by_ord(const void *a, const void *b)
{
	size_t x = ((const id_hit *)a)->ord, y = ((const id_hit *)b)->ord;
	return x < y ? -1 : x > y;
}

/* The lines of one day that hold an id not found yet, in file order: the
 * first that decodes is that id's event; one that does not is skipped
 * (reported) unless its id was found on an earlier line. */
static int ids_in_day(day_ix *dx, const char *date, const int64_t *ids, size_t n, cutover_event *found, skipped *sk,
		      cutover_error *err)
{
	id_hit *hits = NULL;
	size_t nh = 0, cap = 0;
	int rc = CUTOVER_OK;
	for (size_t i = 0; rc == CUTOVER_OK && i < n; i++) {
		if (found[i].id != 0)
			continue;
		size_t *ords = NULL, nc = 0;
		rc = co_ix_candidates(dx->x, 0, &ids[i], sizeof ids[i], &ords, &nc, err);
		for (size_t c = 0; rc == CUTOVER_OK && c < nc; c++) {
			cJSON *rec = NULL;
			if (!co_ix_readable(dx->x, ords[c]))
				continue;
			if ((rc = co_ix_read(dx->x, ords[c], &rec, err)))
				break;
			if (!event_id_is(rec, &ids[i])) {
				cJSON_Delete(rec);
				continue;
			}
			if (nh == cap) {
				cap = cap ? cap * 2 : 16;
				id_hit *grown = realloc(hits, cap * sizeof(*grown));
				if (!grown) {
					cJSON_Delete(rec);
					rc = co_err_oom(err);
					break;
				}
				hits = grown;
			}
			hits[nh++] = (id_hit){ords[c], i, rec};
		}
		free(ords);
	}
	if (rc == CUTOVER_OK && nh > 1)
		qsort(hits, nh, sizeof(*hits), by_ord);
	for (size_t h = 0; rc == CUTOVER_OK && h < nh; h++) {
		cutover_error why;
		cutover_event e;
		if (found[hits[h].want].id != 0)
			continue; /* an earlier line of that id counts */
		if (co_legacy_event_fill(hits[h].rec, date, &e, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL)
				rc = co_err_oom(err);
			else
				skip_line(sk, dx->key, co_ix_line(dx->x, hits[h].ord));
			continue;
		}
		found[hits[h].want] = e;
	}
	for (size_t h = 0; h < nh; h++)
		cJSON_Delete(hits[h].rec);
	free(hits);
	return rc;
}

int co_json_telemetry_get_events(cutover_telemetry *s, const int64_t *ids, size_t n, cutover_event_list *out,
				 cutover_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->kind || strcmp(s->kind, "json") != 0)
		return co_err(err, CUTOVER_EINTERNAL, "get events: not a json telemetry handle");
	if (n == 0)
		return CUTOVER_OK;
	json_telemetry *j = (json_telemetry *)s;
	skipped sk = {0};
	int64_t *want = malloc(n * sizeof(*want));
	size_t nw = 0;
	if (!want)
		return co_err_oom(err);
	memcpy(want, ids, n * sizeof(*want));
	qsort(want, n, sizeof(*want), cmp_i64);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || want[i] != want[nw - 1])
			want[nw++] = want[i];
	cutover_event *found = calloc(nw, sizeof(*found)); /* per id; found[i].id == 0: not seen yet */
	day_list dl = {0};
	int rc = found ? days_list(j->t, &dl, err) : co_err_oom(err);
	for (size_t k = 0; rc == CUTOVER_OK && k < dl.n; k++) {
		char date[11];
		co_events_file_date(dl.keys[k], date);
		day_ix *dx = NULL;
		bool own = false;
		if ((rc = day_get(j, dl.keys[k], false, &dx, &own, err)) == CUTOVER_OK)
			rc = ids_in_day(dx, date, want, nw, found, &sk, err);
		if (own)
			day_ix_free(dx);
	}
	days_free(&dl);
	size_t nfound = 0;
	for (size_t i = 0; found && i < nw; i++)
		nfound += found[i].id != 0;
	if (rc == CUTOVER_OK && nfound && !(out->items = calloc(nfound, sizeof(*out->items))))
		rc = co_err_oom(err);
	for (size_t i = 0; found && i < nw; i++) {
		if (found[i].id == 0)
			continue;
		if (rc == CUTOVER_OK)
			out->items[out->n++] = found[i];
		else
			co_event_clear(&found[i]);
	}
	free(found);
	free(want);
	skip_report(&sk, "get_events");
	return rc;
}

/* --- the handle --------------------------------------------------------------------------- */

static void j_free(cutover_telemetry *s)
{
	json_telemetry *j = (json_telemetry *)s;
	if (!j)
		return;
	co_ix_free(j->incidents); /* before the transport they borrow */
	for (int i = 0; i < DAY_CACHE; i++)
		day_ix_free(j->days[i]);
	if (j->t)
		j->t->free(j->t);
	free(j);
}

int co_json_telemetry_new(cutover_telemetry **out, co_transport *t, cutover_error *err)
{
	*out = NULL;
	if (!t)
		return co_err(err, CUTOVER_EINVALID, "no transport for the JSON telemetry store");
	json_telemetry *j = calloc(1, sizeof *j);
	if (!j) {
		t->free(t);
		return co_err_oom(err);
	}
	j->t = t;
	j->call = 1; /* a day is pinned while its pin equals call: none is yet (pin 0) */
	int rc = co_ix_new(&j->incidents, t, &incidents_spec, err);
	if (rc != CUTOVER_OK) {
		j_free(&j->base);
		return rc;
	}
	j->base = (cutover_telemetry){
		.version = CUTOVER_TELEMETRY_VERSION,
		.kind = "json",
		.append_events = j_append_events,
		.query_events = j_query_events,
		.create_incident = j_create_incident,
		.get_incident = j_get_incident,
		.transition_incident = j_transition_incident,
		.link_event = j_link_event,
		.put_events = j_put_events,
		.put_incident = j_put_incident,
		.free = j_free,
	};
	*out = &j->base;
	return CUTOVER_OK;
}

CUTOVER_API int cutover_telemetry_json(cutover_telemetry **out, const char *root, const char *token, cutover_error *err)
{
	co_transport *t = NULL;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "cutover_telemetry_json: out is NULL");
	*out = NULL;
	int rc = co_transport_open(&t, root, token, err);
	if (rc != CUTOVER_OK)
		return rc;
	return co_json_telemetry_new(out, t, err);
}

/* --- the encoders, for `cutover export` (json_encode.h) ------------------------ */

int co_json_write_incident(cJSON *rec, const cutover_incident *i, cutover_error *err)
{
	return write_incident(rec, i, err);
}

int co_json_write_event(cJSON *rec, const cutover_event *e, cutover_error *err)
{
	return write_event(rec, e, err);
}

int co_json_event_counter_text(int64_t next, char *buf, size_t len)
{
	return snprintf(buf, len, "{\"next_id\":%lld}\n", (long long)next);
}
