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
 * Events. Appending puts new lines at the end of the day's file and keeps
 * every other byte as it was (the transport has no append: the file is read
 * and written whole, atomically). Queries list the daily files
 * (transport list(), in date order), skip the days outside the range, and
 * stream the others through the same framer and decoder as the backfill,
 * stopping at the first day that completes the page: a day holds only that
 * day's events, so later days cannot sort before it. Linking an event
 * rewrites its one line; the search for it runs from the newest day back.
 *
 * Event ids. telemetry/.event-ids.json ({"next_id": N}) is the next id to
 * hand out, read and written under the lock; when absent (or unreadable) it
 * is rebuilt from one scan of every daily file (max id + 1). It is written
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
#define STOP 1000 /* a line callback's "found it, stop" (not a cutover code) */

typedef struct json_telemetry {
	cutover_telemetry base; /* first: the handle is a cutover_telemetry */
	co_transport *t;
	co_ix *incidents; /* incidents.json's index, over t */
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

/* Every line of key: from data when given (len bytes), else streamed. */
static int each_line(co_transport *t, const char *key, const char *data, size_t len, line_fn fn, void *ud,
		     cutover_error *err)
{
	FILE *f = NULL;
	int rc;
	if (data) {
		if (len == 0)
			return CUTOVER_OK;
		if (!(f = fmemopen((void *)data, len, "r")))
			return co_err_oom(err);
	} else {
		rc = co_transport_stream(t, key, &f, err);
		if (rc == CUTOVER_ENOTFOUND) {
			cutover_error_clear(err);
			return CUTOVER_OK;
		}
		if (rc)
			return rc;
	}
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
		rc = each_line(t, dl.keys[i], NULL, 0, max_line, &m, err);
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

/* A line replaced in place: bytes [off, off + len) become text. */
typedef struct edit {
	uint64_t off;
	size_t len;
	char *text;
} edit;

/* One daily file a batch touches. */
typedef struct day {
	char key[64], date[11];
	char *data;
	size_t len;
	char version[CO_VERSION_LEN];
	co_buf add;     /* new lines */
	edit *edits;    /* replaced lines, in file order */
	size_t nedits;
} day;

typedef enum { STORE_APPEND, STORE_PUT } store_mode;

typedef struct id_idx {
	int64_t id;
	size_t idx;
} id_idx;

/* What a batch is doing, shared with the line callbacks. */
typedef struct batch {
	store_mode mode;
	cutover_event *ev;   /* the batch, ids final once assigned */
	bool *explicit_id;   /* append: the caller chose this id */
	size_t n;
	id_idx *order;       /* the batch's ids, sorted */
	int *where;          /* per event: its own day (index into days) */
	bool *elsewhere;     /* its id is in a file other than its own day */
	uint64_t *line_off;  /* its id's first line in its own day; UINT64_MAX: none */
	size_t *line_len;
	uint64_t *line_no;
	cJSON **old;         /* put: that line, parsed (kept for its unknown fields) */
	int cur_day;         /* the batch day being scanned; -1: another file */
	bool stale;          /* an assigned id is already in its day */
	day *days;
	size_t ndays;
} batch;

static int by_id(const void *a, const void *b)
{
	int64_t x = ((const id_idx *)a)->id, y = ((const id_idx *)b)->id;
	return x < y ? -1 : x > y;
}

static long find_in_batch(const batch *b, int64_t id)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->order[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->order[lo].id == id ? (long)b->order[lo].idx : -1;
}

static int batch_line(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err)
{
	(void)err;
	batch *b = ud;
	int64_t id;
	if (!event_id_of(*rec, &id))
		return CUTOVER_OK;
	long i = find_in_batch(b, id);
	if (i < 0)
		return CUTOVER_OK;
	if (b->cur_day < 0 || b->where[i] != b->cur_day) {
		b->elsewhere[i] = true;
		return CUTOVER_OK;
	}
	if (b->line_off[i] != UINT64_MAX)
		return CUTOVER_OK; /* a later copy of the same id: the first one counts */
	b->line_off[i] = it->offset;
	b->line_len[i] = it->len;
	b->line_no[i] = it->line;
	if (b->mode == STORE_APPEND) {
		if (!b->explicit_id[i])
			b->stale = true;
		return CUTOVER_OK;
	}
	b->old[i] = *rec;
	*rec = NULL;
	return CUTOVER_OK;
}

static void batch_free(batch *b)
{
	for (size_t i = 0; b->old && i < b->n; i++)
		cJSON_Delete(b->old[i]);
	for (size_t d = 0; d < b->ndays; d++) {
		free(b->days[d].data);
		co_buf_free(&b->days[d].add);
		for (size_t k = 0; k < b->days[d].nedits; k++)
			free(b->days[d].edits[k].text);
		free(b->days[d].edits);
	}
	free(b->days);
	free(b->order);
	free(b->where);
	free(b->elsewhere);
	free(b->line_off);
	free(b->line_len);
	free(b->line_no);
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
	b->line_off = malloc(n * sizeof(*b->line_off));
	b->line_len = calloc(n, sizeof(*b->line_len));
	b->line_no = calloc(n, sizeof(*b->line_no));
	b->old = calloc(n, sizeof(*b->old));
	if (!b->order || !b->where || !b->elsewhere || !b->line_off || !b->line_len || !b->line_no || !b->old)
		return co_err_oom(err);
	for (size_t i = 0; i < n; i++) {
		b->order[i] = (id_idx){b->ev[i].id, i};
		b->where[i] = -1;
		b->line_off[i] = UINT64_MAX;
	}
	qsort(b->order, n, sizeof(*b->order), by_id);
	return CUTOVER_OK;
}

/* Load the days the batch touches (absent files are empty) and find each
 * event's id in its own day. */
static int batch_days(co_transport *t, batch *b, cutover_error *err)
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
			int rc = t->get(t, key, &dd->data, &dd->len, dd->version, err);
			if (rc == CUTOVER_ENOTFOUND) {
				cutover_error_clear(err);
				dd->version[0] = '\0'; /* put only if still absent */
			} else if (rc) {
				return rc;
			}
		}
		b->where[i] = (int)d;
	}
	for (size_t d = 0; d < b->ndays; d++) {
		b->cur_day = (int)d;
		int rc = each_line(t, b->days[d].key, b->days[d].data ? b->days[d].data : "", b->days[d].len, batch_line,
				   b, err);
		if (rc)
			return rc;
	}
	return CUTOVER_OK;
}

/* Look for the batch's ids in every daily file it does not touch. */
static int batch_elsewhere(co_transport *t, batch *b, cutover_error *err)
{
	day_list dl;
	int rc = days_list(t, &dl, err);
	b->cur_day = -1;
	for (size_t k = 0; rc == CUTOVER_OK && k < dl.n; k++) {
		bool touched = false;
		for (size_t d = 0; d < b->ndays && !touched; d++)
			touched = strcmp(b->days[d].key, dl.keys[k]) == 0;
		if (!touched)
			rc = each_line(t, dl.keys[k], NULL, 0, batch_line, b, err);
	}
	days_free(&dl);
	return rc;
}

static int edit_cmp(const void *a, const void *b)
{
	uint64_t x = ((const edit *)a)->off, y = ((const edit *)b)->off;
	return x < y ? -1 : x > y;
}

/* The day's new text: edits applied, new lines appended (after a newline
 * if the file did not end with one). */
static int day_text(day *d, co_buf *out, cutover_error *err)
{
	if (d->nedits)
		qsort(d->edits, d->nedits, sizeof(*d->edits), edit_cmp);
	uint64_t at = 0;
	for (size_t k = 0; k < d->nedits; k++) {
		co_buf_put(out, d->data + at, (size_t)(d->edits[k].off - at));
		co_buf_puts(out, d->edits[k].text);
		at = d->edits[k].off + d->edits[k].len;
	}
	if (d->len > at)
		co_buf_put(out, d->data + at, d->len - (size_t)at);
	if (d->add.len) {
		if (out->len && out->data[out->len - 1] != '\n')
			co_buf_put(out, "\n", 1);
		co_buf_put(out, d->add.data, d->add.len);
	}
	return out->failed ? co_err_oom(err) : CUTOVER_OK;
}

/* Store the batch into its days; decode what was written into out (in
 * input order). */
static int batch_write(co_transport *t, batch *b, cutover_event_list *out, cutover_error *err)
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
		if (rc == CUTOVER_OK && (rc = co_legacy_event_fill(rec, d->date, &out->items[out->n], err)) == CUTOVER_OK)
			out->n++;
		cJSON_Delete(rec);
		if (rc == CUTOVER_OK && replace) {
			edit *grown = realloc(d->edits, (d->nedits + 1) * sizeof(*grown));
			if (grown)
				d->edits = grown;
			char *copy = grown ? co_strdup(text) : NULL;
			if (!copy)
				rc = co_err_oom(err);
			else
				d->edits[d->nedits++] = (edit){b->line_off[i], b->line_len[i], copy};
		} else if (rc == CUTOVER_OK) {
			co_buf_puts(&d->add, text);
			co_buf_put(&d->add, "\n", 1);
		}
		free(text);
	}
	for (size_t k = 0; rc == CUTOVER_OK && k < b->ndays; k++) {
		day *d = &b->days[k];
		co_buf text = {0};
		rc = day_text(d, &text, err);
		if (rc == CUTOVER_OK)
			rc = t->put(t, d->key, text.data ? text.data : "", text.len, d->version, NULL, err);
		if (rc == CUTOVER_EBUSY)
			co_err_hint(err, "another process rewrote %s without the library's lock; retry", d->key);
		co_buf_free(&text);
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
static int batch_check(co_transport *t, batch *b, int64_t next, const char *what, cutover_error *err)
{
	bool look = false;
	for (size_t i = 0; i < b->n; i++)
		look |= b->mode == STORE_APPEND ? b->explicit_id[i] && b->ev[i].id < next
						: b->line_off[i] == UINT64_MAX && b->ev[i].id < next;
	int rc = look ? batch_elsewhere(t, b, err) : CUTOVER_OK;
	for (size_t i = 0; rc == CUTOVER_OK && i < b->n; i++) {
		const day *d = &b->days[b->where[i]];
		if (b->mode == STORE_APPEND) {
			if (b->explicit_id[i] && (b->line_off[i] != UINT64_MAX || b->elsewhere[i]))
				rc = taken(what, b->ev[i].id, err);
			continue;
		}
		if (b->line_off[i] == UINT64_MAX) {
			if (b->elsewhere[i])
				rc = other_day(what, b->ev[i].id, d->key, err);
			continue;
		}
		/* replacing a line: it must be this event (same occurred_at), so readable */
		cutover_event cur;
		cutover_error why;
		if (co_legacy_event_fill(b->old[i], d->date, &cur, &why) != CUTOVER_OK) {
			rc = co_err(err, CUTOVER_ECORRUPT, "%s: %s line %llu (id %lld) cannot be read; not replaced", what,
				    d->key, (unsigned long long)b->line_no[i], (long long)b->ev[i].id);
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
static int store_events(co_transport *t, co_ix *incidents, store_mode mode, const cutover_event *in, size_t n, cutover_event_list *out,
			skipped *sk, cutover_error *err)
{
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
	co_lock *lock = NULL;
	int rc = t->lock ? t->lock(t, LOCK_NAME, &lock, err) : CUTOVER_OK;
	if (rc == CUTOVER_OK)
		rc = check_incident_refs(incidents, what, b.ev, n, sk, err);
	int64_t next = 0;
	if (rc == CUTOVER_OK)
		rc = counter_read(t, &next, err);
	int64_t stored_next = next;
	for (int attempt = 0; rc == CUTOVER_OK; attempt++) {
		int64_t nx = next;
		for (size_t i = 0; i < n; i++)
			b.ev[i].id = in[i].id > 0 ? in[i].id : nx++;
		batch_free(&b);
		if ((rc = batch_init(&b, err)) || (rc = batch_days(t, &b, err)))
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
		if ((rc = batch_check(t, &b, next, what, err)))
			break;
		int64_t new_next = nx;
		for (size_t i = 0; i < n; i++)
			if (b.ev[i].id >= new_next)
				new_next = b.ev[i].id + 1;
		/* the counter first: a crash before the events leaves a gap, never a reused id */
		if (new_next != stored_next)
			rc = counter_write(t, new_next, err);
		if (rc == CUTOVER_OK)
			rc = batch_write(t, &b, out, err);
		break;
	}
	batch_free(&b);
	if (lock)
		t->unlock(t, lock);
	free(b.ev);
	free(b.explicit_id);
	return rc;
}

static int j_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in, size_t n,
			   cutover_error *err)
{
	skipped sk = {0};
	int rc = store_events(T(s), INCIDENTS(s), STORE_APPEND, in, n, out, &sk, err);
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
	int rc = n ? store_events(T(s), INCIDENTS(s), STORE_PUT, ev, n, &stored, &sk, err) : CUTOVER_OK;
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
		rc = each_line(t, dl.keys[k], NULL, 0, query_line, &c, err);
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

typedef struct find_ctx {
	int64_t id;
	bool found;
	uint64_t off, line;
	size_t len;
	cJSON *rec;
} find_ctx;

static int find_line(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err)
{
	(void)err;
	find_ctx *f = ud;
	int64_t id;
	if (!event_id_of(*rec, &id) || id != f->id)
		return CUTOVER_OK;
	f->found = true;
	f->off = it->offset;
	f->len = it->len;
	f->line = it->line;
	f->rec = *rec;
	*rec = NULL;
	return STOP;
}

static int j_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id, int64_t incident_id,
			cutover_error *err)
{
	co_transport *t = T(s);
	skipped sk = {0};
	co_lock *lock = NULL;
	day_list dl = {0};
	char *data = NULL;
	find_ctx f = {.id = event_id};
	if (out)
		*out = NULL;
	int rc = t->lock ? t->lock(t, LOCK_NAME, &lock, err) : CUTOVER_OK;
	cutover_event probe = {.incident_id = incident_id};
	if (rc == CUTOVER_OK)
		rc = check_incident_refs(INCIDENTS(s), "link event", &probe, 1, &sk, err);
	if (rc == CUTOVER_OK)
		rc = days_list(t, &dl, err);
	size_t len = 0;
	char version[CO_VERSION_LEN], date[11] = "";
	const char *key = NULL;
	/* newest day first: events are usually linked soon after they happen */
	for (size_t k = dl.n; rc == CUTOVER_OK && k-- > 0 && !f.found;) {
		free(data);
		data = NULL;
		rc = t->get(t, dl.keys[k], &data, &len, version, err);
		if (rc == CUTOVER_ENOTFOUND) {
			cutover_error_clear(err);
			rc = CUTOVER_OK;
			continue;
		}
		if (rc == CUTOVER_OK)
			rc = each_line(t, dl.keys[k], data, len, find_line, &f, err);
		if (rc == STOP)
			rc = CUTOVER_OK;
		if (f.found) {
			key = dl.keys[k];
			co_events_file_date(key, date);
		}
	}
	if (rc == CUTOVER_OK && !f.found)
		rc = co_err(err, CUTOVER_ENOTFOUND, "link event: event %lld not found", (long long)event_id);
	cutover_event cur = {0};
	if (rc == CUTOVER_OK) {
		cutover_error why;
		if (co_legacy_event_fill(f.rec, date, &cur, &why) != CUTOVER_OK) {
			rc = co_err(err, CUTOVER_ECORRUPT, "link event: %s line %llu (id %lld) cannot be read", key,
				    (unsigned long long)f.line, (long long)event_id);
			co_err_detail(err, "%s", why.message);
			co_err_hint(err, "fix or remove that line (cutover survey telemetry lists it)");
		}
	}
	char *text = NULL;
	if (rc == CUTOVER_OK) {
		rc = incident_id > 0 ? co_json_set_int(f.rec, "incident_id", incident_id, err)
				     : co_json_set(f.rec, "incident_id", cJSON_CreateNull(), err);
		co_event_clear(&cur);
		if (rc == CUTOVER_OK)
			rc = co_legacy_event_fill(f.rec, date, &cur, err);
		size_t text_len = 0;
		if (rc == CUTOVER_OK)
			rc = co_json_print(f.rec, key, &text, &text_len, err);
	}
	if (rc == CUTOVER_OK) {
		co_buf nb = {0};
		co_buf_put(&nb, data, (size_t)f.off);
		co_buf_puts(&nb, text);
		co_buf_put(&nb, data + f.off + f.len, len - (size_t)(f.off + f.len));
		rc = nb.failed ? co_err_oom(err) : t->put(t, key, nb.data, nb.len, version, NULL, err);
		co_buf_free(&nb);
	}
	free(text);
	cJSON_Delete(f.rec);
	free(data);
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

typedef struct ids_ctx {
	int64_t *ids;          /* sorted, unique */
	size_t n;
	cutover_event *found;  /* per id; found[i].id == 0: not seen yet */
	const char *key, *date;
	skipped *sk;
} ids_ctx;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int ids_line(void *ud, const co_scan_item *it, cJSON **rec, cutover_error *err)
{
	ids_ctx *c = ud;
	int64_t id;
	if (!event_id_of(*rec, &id))
		return CUTOVER_OK;
	int64_t *hit = bsearch(&id, c->ids, c->n, sizeof(*c->ids), cmp_i64);
	if (!hit || c->found[hit - c->ids].id != 0)
		return CUTOVER_OK; /* not asked for, or an earlier line of that id counts */
	cutover_error why;
	cutover_event e;
	if (co_legacy_event_fill(*rec, c->date, &e, &why) != CUTOVER_OK) {
		if (why.code == CUTOVER_EINTERNAL)
			return co_err_oom(err);
		skip_line(c->sk, c->key, it->line);
		return CUTOVER_OK;
	}
	c->found[hit - c->ids] = e;
	return CUTOVER_OK;
}

int co_json_telemetry_get_events(cutover_telemetry *s, const int64_t *ids, size_t n, cutover_event_list *out,
				 cutover_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->kind || strcmp(s->kind, "json") != 0)
		return co_err(err, CUTOVER_EINTERNAL, "get events: not a json telemetry handle");
	if (n == 0)
		return CUTOVER_OK;
	skipped sk = {0};
	ids_ctx c = {.sk = &sk};
	c.ids = malloc(n * sizeof(*c.ids));
	if (!c.ids)
		return co_err_oom(err);
	memcpy(c.ids, ids, n * sizeof(*c.ids));
	qsort(c.ids, n, sizeof(*c.ids), cmp_i64);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || c.ids[i] != c.ids[c.n - 1])
			c.ids[c.n++] = c.ids[i];
	c.found = calloc(c.n, sizeof(*c.found));
	day_list dl = {0};
	int rc = c.found ? days_list(T(s), &dl, err) : co_err_oom(err);
	for (size_t k = 0; rc == CUTOVER_OK && k < dl.n; k++) {
		char date[11];
		co_events_file_date(dl.keys[k], date);
		c.key = dl.keys[k];
		c.date = date;
		rc = each_line(T(s), dl.keys[k], NULL, 0, ids_line, &c, err);
	}
	days_free(&dl);
	size_t found = 0;
	for (size_t i = 0; c.found && i < c.n; i++)
		found += c.found[i].id != 0;
	if (rc == CUTOVER_OK && found && !(out->items = calloc(found, sizeof(*out->items))))
		rc = co_err_oom(err);
	for (size_t i = 0; c.found && i < c.n; i++) {
		if (c.found[i].id == 0)
			continue;
		if (rc == CUTOVER_OK)
			out->items[out->n++] = c.found[i];
		else
			co_event_clear(&c.found[i]);
	}
	free(c.found);
	free(c.ids);
	skip_report(&sk, "get_events");
	return rc;
}

/* --- the handle --------------------------------------------------------------------------- */

static void j_free(cutover_telemetry *s)
{
	json_telemetry *j = (json_telemetry *)s;
	if (!j)
		return;
	co_ix_free(j->incidents); /* before the transport it borrows */
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
