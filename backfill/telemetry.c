/* telemetry.c — survey, backfill and verify for the telemetry domain.
 *
 * One walk over the legacy files serves all three commands: it streams
 * telemetry/incidents.json record by record, then every daily file
 * telemetry/events/YYYY-MM-DD.ndjson in date order, line by line
 * (legacy_scan), decoding each through the one legacy decoder
 * (legacy_telemetry; an event must sit in the file of its date). Incidents
 * come first: events reference them.
 *
 * Memory. Backfill and verify hold no per-event state: the daily files are
 * streamed, and whether an event id was seen before is Postgres's to say
 * (the loader classifies a batch that trips a constraint against the table;
 * telemetry_sql.h). They hold the set of incident ids (incidents are few),
 * the list of daily file names, and two batches. The survey, which must not
 * need a database, keeps one entry per event (its id and a hash of its
 * content, about 50 bytes) to count duplicate ids and exact copies, and the
 * mappable incident ids to count orphans.
 *
 * A file under telemetry/events/ whose name is not a date is never read by
 * the app; the survey lists it as unmappable and the backfill rejects its
 * lines (rename the file to load them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_store.h"
#include "keyset.h"
#include "legacy_telemetry.h"
#include "loader.h"
#include "opkit.h"
#include "pipeline.h"
#include "rejects.h"
#include "telemetry.h"
#include "telemetry_sql.h"

/* --- the walk ---------------------------------------------------------------------------- */

typedef struct file_stats {
	const char *key;
	bool misnamed;
	uint64_t records, ok, unreadable, dup_ids, copies, orphans;
} file_stats;

typedef struct walk_stats {
	bool incidents_present;
	uint64_t incident_records, incidents_ok, incident_unreadable, dup_incident_ids;
	uint64_t files, misnamed_files;
	uint64_t event_records, events_ok, event_unreadable, misnamed_lines;
	uint64_t dup_event_ids, exact_copies, orphan_events, linked_events; /* survey */
} walk_stats;

typedef struct walk_cb {
	int (*incident)(void *ud, const cutover_incident *i, const co_scan_item *it, const char *key, cutover_error *err);
	int (*incidents_done)(void *ud, cutover_error *err);
	/* the event read in place (valid during the call); date: its file's "YYYY-MM-DD" */
	int (*event)(void *ud, const co_event_view *e, const co_scan_item *it, const char *file, const char *date,
		     const char *key, cutover_error *err);
	int (*file_done)(void *ud, const file_stats *fs, cutover_error *err);
	int (*reject)(void *ud, const char *file, const char *collection, const co_scan_item *it, const char *key,
		      const char *reason, cutover_error *err);
	void *ud;
	bool survey; /* find duplicate event ids and orphans in memory (no database) */
} walk_cb;

static int reject(const walk_cb *cb, const char *file, const char *coll, const co_scan_item *it, const char *key,
		  const char *reason, cutover_error *err)
{
	return cb->reject ? cb->reject(cb->ud, file, coll, it, key, reason, err) : CUTOVER_OK;
}

/* "id 17" when the record has a readable id, else "record 12" / "line 12". */
static void key_of(const co_scan_item *it, bool line, char *buf, size_t len)
{
	cJSON *j = NULL;
	cutover_error ignore;
	snprintf(buf, len, "%s %llu", line ? "line" : "record", (unsigned long long)(line ? it->line : it->position));
	if (co_legacy_parse(it, &j, &ignore) == CUTOVER_OK) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble <= 9007199254740992.0 &&
		    id->valuedouble == (double)(int64_t)id->valuedouble)
			snprintf(buf, len, "id %lld", (long long)id->valuedouble);
		cJSON_Delete(j);
	}
}

static int walk_incidents(cli_ctx *ctx, co_transport *t, const walk_cb *cb, walk_stats *ws, co_keyset *ids,
			  cutover_error *err)
{
	FILE *f = NULL;
	int rc = co_transport_stream(t, CO_INCIDENTS_KEY, &f, err);
	ws->incidents_present = rc == CUTOVER_OK;
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	if (rc)
		return rc;
	co_keyset *seen = co_keyset_new();
	co_scan *sc = NULL;
	if (!seen || (rc = co_scan_json(&sc, f, CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, err))) {
		rc = rc ? rc : co_err_oom(err);
		goto out;
	}
	co_scan_item it;
	while ((rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->incident_records++;
		if (ws->incident_records % 20000 == 0)
			cli_progress(ctx, "%s: %llu records", CO_INCIDENTS_KEY, (unsigned long long)ws->incident_records);
		char key[64];
		cutover_incident *inc = NULL;
		cutover_error why;
		if (co_legacy_incident(&it, &inc, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			ws->incident_unreadable++;
			key_of(&it, false, key, sizeof key);
			if ((rc = reject(cb, CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, &it, key, why.message, err)))
				break;
			continue;
		}
		snprintf(key, sizeof key, "id %lld", (long long)inc->id);
		int64_t first = 0;
		int added = co_keyset_add_id(seen, inc->id, (int64_t)it.position, &first);
		if (added < 0) {
			cutover_incident_free(inc);
			rc = co_err_oom(err);
			break;
		}
		if (added == 0) {
			char reason[120];
			snprintf(reason, sizeof reason, "duplicate id %lld: record %lld has it", (long long)inc->id,
				 (long long)first);
			ws->dup_incident_ids++;
			cutover_incident_free(inc);
			if ((rc = reject(cb, CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, &it, key, reason, err)))
				break;
			continue;
		}
		ws->incidents_ok++;
		if (ids && co_keyset_add_id(ids, inc->id, 0, NULL) < 0)
			rc = co_err_oom(err);
		if (rc == CUTOVER_OK && cb->incident)
			rc = cb->incident(cb->ud, inc, &it, key, err);
		cutover_incident_free(inc);
		if (rc)
			break;
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
out:
	cli_progress_done(ctx);
	co_scan_free(sc);
	co_keyset_free(seen);
	fclose(f);
	return rc;
}

/* A 63-bit digest of an event's content, for the survey's exact copies. */
static int64_t event_digest(const cutover_event *e)
{
	uint64_t h = 1469598103934665603ULL;
#define MIX(p, n)                                        \
	for (size_t k_ = 0; k_ < (n); k_++)                  \
		h = (h ^ ((const unsigned char *)(p))[k_]) * 1099511628211ULL
	MIX(&e->occurred_at, sizeof e->occurred_at);
	MIX(&e->incident_id, sizeof e->incident_id);
	const char *f[] = {e->source_ip, e->region, e->node, e->attack_type, e->severity, e->payload};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		if (f[i])
			MIX(f[i], strlen(f[i]) + 1);
		else
			MIX("\xff", 1);
	}
#undef MIX
	return (int64_t)(h >> 1);
}

static int walk_file(cli_ctx *ctx, co_transport *t, const char *key, const walk_cb *cb, walk_stats *ws,
		     co_keyset *events, const co_keyset *incidents, cutover_error *err)
{
	char date[11];
	file_stats fs = {.key = key, .misnamed = !co_events_file_date(key, date)};
	FILE *f = NULL;
	int rc = co_transport_stream(t, key, &f, err);
	if (rc == CUTOVER_ENOTFOUND) { /* gone since it was listed */
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	if (rc)
		return rc;
	ws->files++;
	ws->misnamed_files += fs.misnamed;
	co_scan *sc = NULL;
	if ((rc = co_scan_ndjson(&sc, f, key, err))) {
		fclose(f);
		return rc;
	}
	co_scan_item it;
	while ((rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->event_records++;
		fs.records++;
		if (ws->event_records % 50000 == 0)
			cli_progress(ctx, "%s: %llu events", key, (unsigned long long)ws->event_records);
		char k[64], reason[300] = "";
		if (fs.misnamed) {
			ws->misnamed_lines++;
			fs.unreadable++;
			key_of(&it, true, k, sizeof k);
			if ((rc = reject(cb, key, NULL, &it, k,
					 "the file name is not YYYY-MM-DD.ndjson, so the app never reads it; rename it to the "
					 "date of its events to load it",
					 err)))
				break;
			continue;
		}
		cJSON *j = NULL;
		co_event_view v;
		cutover_error why;
		if (co_legacy_event_parse(&it, &j, &why) != CUTOVER_OK ||
		    co_legacy_event_view(j, date, &v, &why) != CUTOVER_OK) {
			cJSON_Delete(j);
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			ws->event_unreadable++;
			fs.unreadable++;
			key_of(&it, true, k, sizeof k);
			if ((rc = reject(cb, key, NULL, &it, k, why.message, err)))
				break;
			continue;
		}
		snprintf(k, sizeof k, "id %lld", (long long)v.id);
		if (events) {
			/* the survey: an id seen before holds an event with the same content, or another */
			cutover_event e;
			if ((rc = co_legacy_event_fill(j, date, &e, err))) {
				cJSON_Delete(j);
				break;
			}
			int64_t digest = event_digest(&e), first = 0;
			co_event_clear(&e);
			int added = co_keyset_add_id(events, v.id, digest, &first);
			if (added < 0) {
				cJSON_Delete(j);
				rc = co_err_oom(err);
				break;
			}
			if (added == 0 && first == digest) {
				ws->exact_copies++; /* the backfill counts it unchanged */
				fs.copies++;
			} else if (added == 0) {
				snprintf(reason, sizeof reason, "duplicate id %lld: an earlier line holds another event with it",
					 (long long)v.id);
				ws->dup_event_ids++;
				fs.dup_ids++;
			} else if (v.incident_id > 0 && !co_keyset_has_id(incidents, v.incident_id)) {
				snprintf(reason, sizeof reason, "incident_id %lld is not a mappable record of %s",
					 (long long)v.incident_id, CO_INCIDENTS_KEY);
				ws->orphan_events++;
				fs.orphans++;
			}
		}
		if (*reason) {
			cJSON_Delete(j);
			if ((rc = reject(cb, key, NULL, &it, k, reason, err)))
				break;
			continue;
		}
		ws->events_ok++;
		fs.ok++;
		ws->linked_events += v.incident_id > 0;
		if (cb->event)
			rc = cb->event(cb->ud, &v, &it, key, date, k, err);
		cJSON_Delete(j);
		if (rc)
			break;
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	cli_progress_done(ctx);
	co_scan_free(sc);
	fclose(f);
	if (rc == CUTOVER_OK && cb->file_done)
		rc = cb->file_done(cb->ud, &fs, err);
	return rc;
}

/* The whole walk: incidents, the callback's flush, then the daily files in order. */
static int walk(cli_ctx *ctx, const op_opts *o, const walk_cb *cb, walk_stats *ws, cutover_error *err)
{
	memset(ws, 0, sizeof(*ws));
	co_transport *t = NULL;
	int rc = co_transport_open(&t, o->st->json_root, o->st->json_token, err);
	if (rc)
		return rc;
	co_keyset *incidents = cb->survey ? co_keyset_new() : NULL;
	co_keyset *events = cb->survey ? co_keyset_new() : NULL;
	char **keys = NULL;
	size_t nkeys = 0;
	if (cb->survey && (!incidents || !events))
		rc = co_err_oom(err);
	if (rc == CUTOVER_OK)
		rc = walk_incidents(ctx, t, cb, ws, incidents, err);
	if (rc == CUTOVER_OK && cb->incidents_done)
		rc = cb->incidents_done(cb->ud, err);
	if (rc == CUTOVER_OK && !t->list) {
		co_err(err, CUTOVER_ECONFIG, "the state root's transport (%s) cannot list %s", t->kind, CO_EVENTS_PREFIX);
		rc = CUTOVER_ECONFIG;
	}
	if (rc == CUTOVER_OK)
		rc = t->list(t, CO_EVENTS_PREFIX, &keys, &nkeys, err);
	for (size_t i = 0; rc == CUTOVER_OK && i < nkeys; i++)
		rc = walk_file(ctx, t, keys[i], cb, ws, events, incidents, err);
	co_keys_free(keys, nkeys);
	co_keyset_free(incidents);
	co_keyset_free(events);
	t->free(t);
	return rc;
}

/* " (id 17)" after a position; nothing when the key is the position itself. */
#define KEY_SHOWN(key) strncmp(key, "id ", 3) == 0 ? " (" : "", strncmp(key, "id ", 3) == 0 ? key : "", \
		       strncmp(key, "id ", 3) == 0 ? ")" : ""

/* --- survey ------------------------------------------------------------------------------ */

typedef struct survey_ctx {
	const op_opts *o;
	int printed;
	cJSON *files; /* --json: per-file counts */
	int listed;   /* text: files listed */
} survey_ctx;

static int survey_reject(void *ud, const char *file, const char *coll, const co_scan_item *it, const char *key,
			 const char *reason, cutover_error *err)
{
	(void)coll;
	(void)err;
	survey_ctx *sc = ud;
	if (sc->printed++ < sc->o->max_print)
		fprintf(stderr, "  unmappable: %s %s %llu%s%s%s: %s\n", file, coll ? "record" : "line",
			(unsigned long long)(coll ? it->position : it->line), KEY_SHOWN(key), reason);
	return CUTOVER_OK;
}

static int survey_file(void *ud, const file_stats *fs, cutover_error *err)
{
	(void)err;
	survey_ctx *sc = ud;
	uint64_t bad = fs->unreadable + fs->dup_ids + fs->orphans;
	if (sc->files) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "file", fs->key);
		if (fs->misnamed)
			cJSON_AddBoolToObject(f, "misnamed", true);
		op_count(f, "records", fs->records);
		op_count(f, "mappable", fs->ok);
		op_count(f, "unreadable", fs->unreadable);
		op_count(f, "duplicate_ids", fs->dup_ids);
		op_count(f, "exact_copies", fs->copies);
		op_count(f, "missing_incident", fs->orphans);
		cJSON_AddItemToArray(sc->files, f);
	} else if (fs->misnamed) {
		printf("  %s: NOT A DATE (the app never reads it): %llu lines, all unmappable\n", fs->key,
		       (unsigned long long)fs->records);
	} else if (bad || fs->copies) {
		/* clean days are summed up; only the days with something to say are listed */
		printf("  %s: records %llu, mappable %llu, unreadable %llu, duplicate ids %llu, exact copies %llu, "
		       "incident missing %llu\n",
		       fs->key, (unsigned long long)fs->records, (unsigned long long)fs->ok,
		       (unsigned long long)fs->unreadable, (unsigned long long)fs->dup_ids, (unsigned long long)fs->copies,
		       (unsigned long long)fs->orphans);
	}
	return CUTOVER_OK;
}

int telemetry_survey(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	survey_ctx sc = {.o = o};
	walk_cb cb = {.reject = survey_reject, .file_done = survey_file, .ud = &sc, .survey = true};
	walk_stats ws;
	cutover_error err;
	if (out) {
		cJSON *ev = cJSON_AddObjectToObject(out, CO_EVENTS_PREFIX);
		sc.files = cJSON_AddArrayToObject(ev, "files");
	} else {
		printf("%s (daily files with anything unmappable, or exact copies)\n", CO_EVENTS_PREFIX);
	}
	if (walk(ctx, o, &cb, &ws, &err))
		return cli_fail(&err);
	uint64_t bad_incidents = ws.incident_unreadable + ws.dup_incident_ids;
	uint64_t bad_events = ws.event_unreadable + ws.misnamed_lines + ws.dup_event_ids + ws.orphan_events;
	if (out) {
		cJSON *i = cJSON_AddObjectToObject(out, CO_INCIDENTS_KEY);
		cJSON_AddBoolToObject(i, "present", ws.incidents_present);
		op_count(i, "records", ws.incident_records);
		op_count(i, "mappable", ws.incidents_ok);
		op_count(i, "unreadable", ws.incident_unreadable);
		op_count(i, "duplicate_ids", ws.dup_incident_ids);
		cJSON *ev = cJSON_GetObjectItem(out, CO_EVENTS_PREFIX);
		op_count(ev, "files", ws.files);
		op_count(ev, "misnamed_files", ws.misnamed_files);
		op_count(ev, "records", ws.event_records);
		op_count(ev, "mappable", ws.events_ok);
		op_count(ev, "unreadable", ws.event_unreadable + ws.misnamed_lines);
		op_count(ev, "duplicate_ids", ws.dup_event_ids);
		op_count(ev, "exact_copies", ws.exact_copies);
		op_count(ev, "missing_incident", ws.orphan_events);
		op_count(ev, "linked", ws.linked_events);
	} else {
		printf("  %llu daily files (%llu misnamed), records %llu, mappable %llu (linked to an incident %llu)\n",
		       (unsigned long long)ws.files, (unsigned long long)ws.misnamed_files,
		       (unsigned long long)ws.event_records, (unsigned long long)ws.events_ok,
		       (unsigned long long)ws.linked_events);
		printf("  unreadable or out of range %llu, in misnamed files %llu, duplicate ids %llu, exact copies %llu "
		       "(loaded once), incident missing %llu\n",
		       (unsigned long long)ws.event_unreadable, (unsigned long long)ws.misnamed_lines,
		       (unsigned long long)ws.dup_event_ids, (unsigned long long)ws.exact_copies,
		       (unsigned long long)ws.orphan_events);
		printf("%s%s\n", CO_INCIDENTS_KEY, ws.incidents_present ? "" : " (absent)");
		printf("  records %llu, mappable %llu, unreadable or out of range %llu, duplicate ids %llu\n",
		       (unsigned long long)ws.incident_records, (unsigned long long)ws.incidents_ok,
		       (unsigned long long)ws.incident_unreadable, (unsigned long long)ws.dup_incident_ids);
		printf("telemetry: %llu unmappable record%s\n", (unsigned long long)(bad_incidents + bad_events),
		       bad_incidents + bad_events == 1 ? "" : "s");
	}
	return bad_incidents + bad_events ? EXIT_CHECKS : EXIT_OK;
}

/* --- loading (backfill and verify) -------------------------------------------------------- */

static void put_u64(co_buf *b, uint64_t v);

static const co_load_spec incidents_spec = {
	.what = "incidents",
	.stage_ddl = telemetry_stage_ddl,
	.truncate = "TRUNCATE stage_incidents",
	.classify = incidents_classify,
	.report = "SELECT pos, verdict, detail FROM stage_incidents WHERE verdict <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_incidents WHERE verdict = 'new' ORDER BY pos",
	.remember_new =
		"INSERT INTO dry_new_incidents SELECT id FROM stage_incidents WHERE verdict = 'new' ON CONFLICT DO NOTHING",
	.nparts = 1,
	.parts = {
		{"COPY operations.incidents (" INCIDENT_COLS ") FROM STDIN",
		 "COPY stage_incidents (pos, " INCIDENT_COLS ") FROM STDIN",
		 "INSERT INTO operations.incidents (" INCIDENT_COLS ") SELECT " INCIDENT_COLS
		 " FROM stage_incidents WHERE verdict = 'new'",
		 "INSERT INTO operations.incidents (" INCIDENT_COLS ") SELECT " INCIDENT_COLS
		 " FROM stage_incidents WHERE verdict = 'new' AND pos = $1::bigint"},
	},
};

static const co_load_spec events_spec = {
	.what = "events",
	.stage_ddl = telemetry_stage_ddl,
	.truncate = "TRUNCATE stage_events",
	.classify = events_classify,
	.report = "SELECT pos, verdict, detail FROM stage_events WHERE verdict <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_events WHERE verdict = 'new' ORDER BY pos",
	.remember_new = "INSERT INTO dry_new_events (" EVENT_COLS ") SELECT " EVENT_COLS
			" FROM stage_events WHERE verdict = 'new' ON CONFLICT DO NOTHING",
	.nparts = 1,
	.parts = {
		{"COPY operations.telemetry_events (" EVENT_COLS ") FROM STDIN",
		 "COPY stage_events (pos, src, " EVENT_COLS ") FROM STDIN",
		 "INSERT INTO operations.telemetry_events (" EVENT_COLS ") SELECT " EVENT_COLS
		 " FROM stage_events WHERE verdict = 'new'",
		 "INSERT INTO operations.telemetry_events (" EVENT_COLS ") SELECT " EVENT_COLS
		 " FROM stage_events WHERE verdict = 'new' AND pos = $1::bigint"},
	},
};

/* verify: classified as a check; every staged row is remembered, so a
 * later copy of its id is known for a legacy duplicate. */
static const co_load_spec events_verify_spec = {
	.what = "events",
	.stage_ddl = telemetry_stage_ddl,
	.truncate = "TRUNCATE stage_events",
	.classify = events_verify_classify,
	.report = "SELECT pos, verdict, detail FROM stage_events WHERE verdict <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_events WHERE verdict = 'new' ORDER BY pos",
	.remember_new = "INSERT INTO seen_events (src, " EVENT_COLS ") SELECT s.src, s.id, "
			EVENT_COLS_NO_ID("s") " FROM stage_events s ORDER BY s.pos ON CONFLICT DO NOTHING",
	.nparts = 1,
	.parts = {{"COPY operations.telemetry_events (" EVENT_COLS ") FROM STDIN",
		   "COPY stage_events (pos, src, " EVENT_COLS ") FROM STDIN", "SELECT 1", "SELECT 1"}},
};

static void incident_row(co_buf *b, bool first, const cutover_incident *i)
{
	co_copy_int(b, first, i->id);
	co_copy_text(b, false, i->title);
	co_copy_text(b, false, i->state);
	co_copy_text(b, false, i->severity);
	co_copy_ts(b, false, i->opened_at);
	co_copy_ts(b, false, i->resolved_at);
	co_copy_ts(b, false, i->updated_at);
	co_copy_end_row(b);
}

/* Decimal digits of v (>= 0) into b. */
static void put_u64(co_buf *b, uint64_t v)
{
	char d[24];
	int n = 0;
	do
		d[sizeof d - 1 - n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 20);
	co_buf_put(b, d + sizeof d - n, (size_t)n);
}

/* "2026-01-05T13:04:05.123456Z" from the file's date and the time of day
 * (the event is on that date: the decoder checked). */
static void put_ts_on(co_buf *b, const char *date, cutover_ts t)
{
	const int64_t day = 86400LL * 1000000;
	int64_t tod = ((t % day) + day) % day;
	char s[28];
	memcpy(s, date, 10);
	s[10] = 'T';
	int64_t secs = tod / 1000000, us = tod % 1000000;
	int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
	s[11] = (char)('0' + hh / 10);
	s[12] = (char)('0' + hh % 10);
	s[13] = ':';
	s[14] = (char)('0' + mm / 10);
	s[15] = (char)('0' + mm % 10);
	s[16] = ':';
	s[17] = (char)('0' + ss / 10);
	s[18] = (char)('0' + ss % 10);
	s[19] = '.';
	for (int i = 25; i >= 20; i--, us /= 10)
		s[i] = (char)('0' + us % 10);
	s[26] = 'Z';
	co_buf_put(b, s, 27);
}

/* The COPY row of an event read in place. The payload goes as the record's
 * own (checked) text: jsonb normalises it, and every reader hands it back
 * canonical; if its text cannot be found, the canonical text goes. */
static int event_row(co_buf *b, const co_event_view *v, const co_scan_item *it, const char *date,
		     cutover_error *err)
{
	put_u64(b, (uint64_t)v->id);
	co_buf_put(b, "\t", 1);
	put_ts_on(b, date, v->occurred_at);
	co_copy_text(b, false, v->source_ip);
	co_copy_text(b, false, v->region);
	co_copy_text(b, false, v->node);
	co_copy_text(b, false, v->attack_type);
	co_copy_text(b, false, v->severity);
	size_t off, len;
	if (!v->payload) {
		co_copy_text(b, false, "{}");
	} else if (co_legacy_payload_span(it->bytes, it->len, &off, &len) && len <= CUTOVER_PAYLOAD_MAX) {
		char *text = co_strndup(it->bytes + off, len);
		if (!text)
			return co_err_oom(err);
		co_copy_text(b, false, text);
		free(text);
	} else {
		char *text = NULL;
		int rc = co_payload_canonical_json(v->payload, &text, err);
		if (rc)
			return rc;
		co_copy_text(b, false, text);
		free(text);
	}
	co_buf_put(b, "\t", 1);
	if (v->incident_id > 0)
		put_u64(b, (uint64_t)v->incident_id);
	else
		co_buf_put(b, "\\N", 2);
	co_copy_end_row(b);
	return CUTOVER_OK;
}

/* What a batch needs to report a row by its pos. */
typedef struct load_ctx {
	co_run_env env;
	co_run incidents, events;
	uint64_t pos;        /* a running number for every staged row */
} load_ctx;

static int load_reject(void *ud, const char *file, const char *coll, const co_scan_item *it, const char *key,
		       const char *reason, cutover_error *err)
{
	load_ctx *lc = ud;
	return co_run_reject(coll ? &lc->incidents : &lc->events, file, it, key, reason, err);
}

/* A staged row: pos (and for events, where it came from), then the target row. */
static void stage_prefix(co_buf *b, uint64_t pos, const char *src_file, uint64_t line)
{
	put_u64(b, pos);
	if (src_file) {
		co_copy_text(b, false, src_file);
		co_buf_put(b, " line ", 6);
		put_u64(b, line);
	}
}

/* The stage row is the target row with pos (and src) in front: the same
 * bytes, copied, not encoded twice. */
static void stage_copy(co_batch *b, size_t from, uint64_t pos, const char *src_file, uint64_t line)
{
	co_buf *t = &b->target[0];
	stage_prefix(&b->stage[0], pos, src_file, line);
	co_buf_put(&b->stage[0], "\t", 1);
	if (!t->failed)
		co_buf_put(&b->stage[0], t->data + from, t->len - from);
}

static int load_incident(void *ud, const cutover_incident *i, const co_scan_item *it, const char *key,
			 cutover_error *err)
{
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->incidents);
	uint64_t pos = ++lc->pos;
	size_t from = b->target[0].len;
	incident_row(&b->target[0], true, i);
	stage_copy(b, from, pos, NULL, 0);
	return co_run_added(&lc->incidents, pos, it, NULL, key, NULL, err);
}

static int incidents_done(void *ud, cutover_error *err)
{
	load_ctx *lc = ud;
	return co_run_drain(&lc->incidents, err); /* events need their incidents committed */
}

static int load_event(void *ud, const co_event_view *e, const co_scan_item *it, const char *file, const char *date,
		      const char *key, cutover_error *err)
{
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->events);
	uint64_t pos = ++lc->pos;
	size_t from = b->target[0].len;
	int rc = event_row(&b->target[0], e, it, date, err);
	if (rc)
		return rc;
	stage_copy(b, from, pos, file, it->line);
	return co_run_added(&lc->events, pos, it, file, key, NULL, err);
}

static int open_load(const op_opts *o, load_ctx *lc, co_load_mode mode, bool verify, cutover_error *err)
{
	memset(lc, 0, sizeof(*lc));
	co_run_init(&lc->incidents, &lc->env, &incidents_spec, CO_INCIDENTS_KEY, CO_INCIDENTS_COLL, o->batch);
	co_run_init(&lc->events, &lc->env, verify ? &events_verify_spec : &events_spec, NULL, NULL, o->batch);
	return co_run_env_open(&lc->env, o, CUTOVER_DOMAIN_TELEMETRY, &events_spec, mode, verify, err);
}

static void close_load(load_ctx *lc)
{
	co_run_free(&lc->incidents);
	co_run_free(&lc->events);
	co_run_env_close(&lc->env);
}

static int run_load(cli_ctx *ctx, const op_opts *o, load_ctx *lc, walk_stats *ws, bool with_rejects,
		    cutover_error *err)
{
	walk_cb cb = {.incident = load_incident, .incidents_done = incidents_done, .event = load_event,
		      .reject = with_rejects ? load_reject : NULL, .ud = lc};
	int rc = walk(ctx, o, &cb, ws, err);
	return rc ? rc : co_run_drain(&lc->events, err);
}

/* --- backfill ---------------------------------------------------------------------------- */

int telemetry_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	if (o->only_users)
		fprintf(stderr, "cutover: --users selects identity users; telemetry has no per-user subset and loads "
				"everything\n");
	int rc = open_load(o, &lc, o->apply ? CO_LOAD_APPLY : CO_LOAD_CLASSIFY, false, &err);
	walk_stats ws;
	if (rc == CUTOVER_OK)
		rc = run_load(ctx, o, &lc, &ws, true, &err);
	if (rc) {
		int code = op_backfill_failed(&err, lc.incidents.counts.inserted || lc.events.counts.inserted);
		close_load(&lc);
		return code;
	}
	char files[64];
	snprintf(files, sizeof files, " (%llu daily files)", (unsigned long long)ws.files);
	const op_line lines[] = {
		{.table = "operations.incidents", .source = CO_INCIDENTS_KEY, .what = "incidents",
		 .records = ws.incident_records, .counts = lc.incidents.counts,
		 .rejected = lc.incidents.walk_rejects + lc.incidents.counts.rejected},
		{.table = "operations.telemetry_events", .source = CO_EVENTS_PREFIX, .what = "events", .extra = files,
		 .records = ws.event_records, .counts = lc.events.counts,
		 .rejected = lc.events.walk_rejects + lc.events.counts.rejected, .json_key = "files",
		 .json_value = ws.files},
	};
	int code = op_backfill_report(CUTOVER_DOMAIN_TELEMETRY, o, out, lc.env.pg, lc.env.rejects, lines,
				      sizeof(lines) / sizeof(lines[0]));
	close_load(&lc);
	return code;
}

/* --- verify ------------------------------------------------------------------------------- */

int telemetry_verify(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	int rc = open_load(o, &lc, CO_LOAD_CLASSIFY, true, &err);
	walk_stats ws;
	if (rc == CUTOVER_OK)
		rc = run_load(ctx, o, &lc, &ws, false, &err);
	long long orphans = -1, rls = -1;
	if (rc == CUTOVER_OK &&
	    ((orphans = op_count_of(lc.env.pg, "SELECT count(*) FROM operations.telemetry_events e WHERE e.incident_id IS NOT "
					   "NULL AND NOT EXISTS (SELECT 1 FROM operations.incidents i WHERE i.id = e.incident_id)",
				    &err)) < 0 ||
	     (rls = op_count_of(lc.env.pg, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				       "WHERE n.nspname = 'operations' AND c.relname IN ('incidents', 'telemetry_events') "
				       "AND c.relrowsecurity",
				&err)) < 0))
		rc = err.code;
	co_seq_health h[4];
	size_t nh = 0;
	if (rc == CUTOVER_OK)
		rc = co_pg_sequence_health(lc.env.pg, CUTOVER_DOMAIN_TELEMETRY, h, 4, &nh, &err);
	if (rc) {
		int code = cli_fail(&err);
		close_load(&lc);
		return code;
	}
	op_checks c = {.arr = out ? cJSON_AddArrayToObject(out, "checks") : NULL};
	const co_load_counts *i = &lc.incidents.counts, *e = &lc.events.counts;
	/* unmappable: refused by the walk, or by the tables (an id postgres gives another record) */
	uint64_t i_mappable = ws.incidents_ok - i->rejected, e_mappable = ws.events_ok - e->rejected;
	uint64_t i_present = i->equal + i->differ, e_present = e->equal + e->differ;
	op_check(&c, i_present == i_mappable, "operations.incidents count",
		 "%llu legacy records - %llu unmappable = %llu; postgres holds %llu of them%s",
		 (unsigned long long)ws.incident_records, (unsigned long long)(ws.incident_records - i_mappable),
		 (unsigned long long)i_mappable, (unsigned long long)i_present,
		 i_present == i_mappable ? "" : " (run cutover backfill telemetry --apply)");
	op_check(&c, i->differ == 0, "operations.incidents fidelity", "%llu of %llu rows differ from their legacy record",
		 (unsigned long long)i->differ, (unsigned long long)i_present);
	op_check(&c, e_present == e_mappable, "operations.telemetry_events count",
		 "%llu legacy events in %llu daily files - %llu unmappable = %llu; postgres holds %llu of them%s",
		 (unsigned long long)ws.event_records, (unsigned long long)ws.files,
		 (unsigned long long)(ws.event_records - e_mappable), (unsigned long long)e_mappable,
		 (unsigned long long)e_present, e_present == e_mappable ? "" : " (run cutover backfill telemetry --apply)");
	op_check(&c, e->differ == 0, "operations.telemetry_events fidelity",
		 "%llu of %llu rows differ from their legacy record", (unsigned long long)e->differ,
		 (unsigned long long)e_present);
	op_check(&c, orphans == 0, "no orphans", "%lld events link to an incident that does not exist", orphans);
	op_check_sequences(&c, h, nh);
	op_check(&c, rls == 2, "row level security", "enabled on %lld of 2 telemetry tables", rls);
	close_load(&lc);
	return op_checks_end(&c, out, "telemetry");
}
