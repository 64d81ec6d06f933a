/* export_events.c — telemetry's daily event files and id counter for
 * `cutover export`.
 *
 * A day can hold millions of events, so a daily file is never held in
 * memory: it is streamed twice through the same NDJSON framer and decoder
 * as the backfill, and Postgres does the matching.
 *   1. The ids of the day's readable lines (line number, id) go to a temp
 *      table by COPY, in chunks.
 *   2. One cursor walks those lines in file order, each joined with the
 *      event Postgres holds under its id on that day (and the first line of
 *      the file with that id); the file is walked again beside it and the
 *      new file written out: a line that equals its event keeps its bytes,
 *      one that differs is rewritten by the json backend's encoder (fields
 *      the library does not know stay), one that Postgres does not hold
 *      (not on this day), cannot be read or repeats an earlier line's id is
 *      dropped and named; the bytes between lines stay as they were.
 *   3. A second cursor gives the day's events no line holds, in id order:
 *      appended, as the json backend appends.
 * The new file is built in the backup directory and handed to the
 * transport as a read-only mapping; the old one is kept there first. Memory
 * is bounded by the fetch and COPY batches and the framer's window. Days
 * are every daily file of the root and every day Postgres has events on;
 * files under telemetry/events/ whose name is not a date are left alone
 * (the json backend never reads them).
 *
 * telemetry/.event-ids.json is set to one past every id Postgres handed out
 * (its sequence and its rows) and never moved back, and written before the
 * daily files, as the json backend writes it before the events it covers:
 * every line the new files hold is an event Postgres holds. Lines it drops
 * can carry higher ids (an event Postgres never had); they stay in the
 * backup, so their ids are not handed out again either: pass 1 of every day
 * notes the highest id of the file's lines, and after the days the counter
 * moves past it when it is not already.
 *
 * The daily files are listed before the domain's first document is written
 * (ex_events_list, from run_domain): a root that cannot be listed changes
 * nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "json_encode.h"
#include "legacy_telemetry.h"
#include "pg_copy.h"

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"
#define EV_COLS                                                                                                \
	"e.id, " US("e.occurred_at") ", e.source_ip, e.region, e.node, e.attack_type, e.severity, e.payload::text, " \
	"e.incident_id"
#define COPY_CHUNK 10000
#define DAY_US 86400000000LL

static const char SQL_LINES[] = "CREATE TEMP TABLE IF NOT EXISTS ex_lines (seq int8 NOT NULL, line int8 NOT NULL, "
				"id int8 NOT NULL)";
static const char SQL_COPY_LINES[] = "COPY ex_lines (seq, line, id) FROM STDIN";
static const char SQL_CLEAR_LINES[] = "DELETE FROM ex_lines";
static const char SQL_DAYS[] =
    "SELECT DISTINCT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM operations.telemetry_events ORDER BY 1";
/* $1, $2: the day's bounds */
static const char SQL_MATCH[] =
    "DECLARE ex_match NO SCROLL CURSOR FOR SELECT l.seq, l.first_line, " EV_COLS " FROM "
    "(SELECT seq, id, first_value(line) OVER (PARTITION BY id ORDER BY seq) AS first_line FROM ex_lines) l "
    "LEFT JOIN operations.telemetry_events e ON e.id = l.id AND e.occurred_at >= $1::timestamptz "
    "AND e.occurred_at < $2::timestamptz ORDER BY l.seq";
static const char SQL_NEW[] =
    "DECLARE ex_new NO SCROLL CURSOR FOR SELECT 0, 0, " EV_COLS " FROM operations.telemetry_events e "
    "WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz "
    "AND NOT EXISTS (SELECT 1 FROM ex_lines l WHERE l.id = e.id) ORDER BY e.id";
static const char SQL_NEXT_ID[] =
    "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END, "
    "(SELECT coalesce(max(id), 0) FROM operations.telemetry_events) FROM operations.telemetry_events_id_seq";

int ex_events_prepare(ex_ctx *c, cutover_error *err)
{
	PGresult *r = co_pg_exec(c->pg, "export: temp table", SQL_LINES, 0, NULL, err);
	if (!r)
		return err->code;
	PQclear(r);
	co_pg_hold_session(c->pg); /* ex_lines lives in this session only */
	return CUTOVER_OK;
}

/* --- the id counter ------------------------------------------------------------------ */

static int counter(ex_ctx *c, cutover_error *err);

/* After the days: past the highest id a line of the files held. */
static int counter_past_files(ex_ctx *c, cutover_error *err)
{
	if (c->ev_file_max < c->ev_next)
		return CUTOVER_OK;
	int64_t next = c->ev_file_max + 1, before = c->ev_next;
	char text[64], version[CO_VERSION_LEN] = "", *data = NULL;
	size_t len = 0;
	int n = co_json_event_counter_text(next, text, sizeof text);
	int rc = CUTOVER_OK;
	if (c->apply) {
		/* written moments ago by counter(): its version (the domain's lock is held on a local root) */
		rc = c->t->get(c->t, CO_EVENT_COUNTER_KEY, &data, &len, version, err);
		bool existed = rc == CUTOVER_OK;
		if (rc == CUTOVER_ENOTFOUND) {
			cutover_error_clear(err);
			rc = CUTOVER_OK;
		}
		free(data);
		if (!rc)
			rc = ex_put(c, CO_EVENT_COUNTER_KEY, text, (size_t)n, existed ? version : "", err);
		if (rc)
			return rc;
	}
	c->ev_next = next;
	if (!c->ev_counter_counted)
		c->rewritten++;
	cJSON *jb = cJSON_CreateObject();
	cJSON_AddStringToObject(jb, "key", CO_EVENT_COUNTER_KEY);
	cJSON_AddNumberToObject(jb, "next_id", (double)next);
	cJSON_AddNumberToObject(jb, "next_id_before", (double)before);
	cJSON_AddStringToObject(jb, "why", "past the highest id a line of the daily files held");
	cJSON_AddBoolToObject(jb, "written", c->apply);
	cJSON_AddItemToArray(c->jbook, jb);
	if (!c->cli->json)
		printf("  %-36s %s: next_id %" PRId64 " (past id %" PRId64 ", the highest a line of the daily files held; "
		       "lines Postgres does not hold leave the files and stay in the backup)\n",
		       CO_EVENT_COUNTER_KEY, c->apply ? "moved on" : "would move on", next, c->ev_file_max);
	return CUTOVER_OK;
}

static int counter(ex_ctx *c, cutover_error *err)
{
	PGresult *r = co_pg_exec(c->pg, "export: read the event id sequence", SQL_NEXT_ID, 0, NULL, err);
	if (!r)
		return err->code;
	int64_t pg_next = ex_col_i64(r, 0, 0), max_id = ex_col_i64(r, 0, 1);
	PQclear(r);

	char *data = NULL, version[CO_VERSION_LEN] = "";
	size_t len = 0;
	int rc = c->t->get(c->t, CO_EVENT_COUNTER_KEY, &data, &len, version, err);
	bool existed = rc == CUTOVER_OK, readable = false;
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		rc = CUTOVER_OK;
	}
	if (rc)
		return rc;
	int64_t had = 0;
	if (existed) {
		cJSON *j = cJSON_ParseWithLength(data, len);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "next_id");
		readable = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740992.0;
		had = readable ? (int64_t)v->valuedouble : 0;
		cJSON_Delete(j);
	}
	int64_t next = had > pg_next ? had : pg_next;
	if (max_id + 1 > next)
		next = max_id + 1;
	c->ev_next = next;
	bool write = !readable || next != had;
	char text[64];
	int n = co_json_event_counter_text(next, text, sizeof text);
	if (write && c->apply) {
		if (existed)
			rc = ex_keep(c, CO_EVENT_COUNTER_KEY, data, len, err);
		if (!rc)
			rc = ex_put(c, CO_EVENT_COUNTER_KEY, text, (size_t)n, existed ? version : "", err);
	}
	free(data);
	if (rc)
		return rc;
	c->docs++;
	c->rewritten += write;
	c->ev_counter_counted = write;
	cJSON *jb = cJSON_CreateObject();
	cJSON_AddStringToObject(jb, "key", CO_EVENT_COUNTER_KEY);
	cJSON_AddNumberToObject(jb, "next_id", (double)next);
	if (readable)
		cJSON_AddNumberToObject(jb, "next_id_before", (double)had);
	cJSON_AddBoolToObject(jb, "written", write && c->apply);
	cJSON_AddItemToArray(c->jbook, jb);
	if (!c->cli->json)
		printf("  %-36s %s: next_id %" PRId64 " (%s; postgres's sequence hands out %" PRId64 " next)\n",
		       CO_EVENT_COUNTER_KEY,
		       !write ? "unchanged" : ex_outcome(c, existed),
		       next, readable ? "it was" : existed ? "it could not be read" : "it was absent", pg_next);
	if (!c->cli->json && readable && write)
		printf("    (it was %" PRId64 ")\n", had);
	return CUTOVER_OK;
}

/* --- one day ----------------------------------------------------------------------------- */

typedef struct day_io {
	FILE *src;            /* the current file, rewindable */
	int srcfd;            /* for pread of the bytes between lines */
	char spool[1200];     /* --apply: the copy of the current file (becomes the backup) */
	int spoolfd;
	const char *if_version;
	char version[CO_VERSION_LEN];
	FILE *out;            /* --apply: the new file */
	char outpath[1200];
	int outfd;
	uint64_t copied;      /* bytes of src accounted for */
	uint64_t written;     /* bytes written to out */
	char last;            /* the last byte written */
} day_io;

static int io_fail(cutover_error *err, const char *what, const char *path)
{
	int e = errno;
	co_err(err, CUTOVER_EUNAVAILABLE, "cannot %s %s: %s", what, path, strerror(e));
	co_err_hint(err, "a daily file is copied and rebuilt in the backup directory (--backup DIR): it must be a "
			 "writable local directory with room for twice the largest daily file; documents written before "
			 "are kept there, and the export can be run again");
	return CUTOVER_EUNAVAILABLE;
}

static int out_put(day_io *io, const char *p, size_t n, cutover_error *err)
{
	if (!io->out || n == 0)
		return CUTOVER_OK;
	if (fwrite(p, 1, n, io->out) != n)
		return io_fail(err, "write", io->outpath);
	io->written += n;
	io->last = p[n - 1];
	return CUTOVER_OK;
}

/* Copy the current file's bytes [io->copied, to) to the new file. */
static int copy_to(day_io *io, uint64_t to, cutover_error *err)
{
	char buf[65536];
	while (io->copied < to) {
		size_t want = to - io->copied > sizeof buf ? sizeof buf : (size_t)(to - io->copied);
		ssize_t got = pread(io->srcfd, buf, want, (off_t)io->copied);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? io_fail(err, "read", io->spool) : CUTOVER_OK;
		int rc = io->out ? out_put(io, buf, (size_t)got, err) : CUTOVER_OK;
		if (rc)
			return rc;
		io->copied += (uint64_t)got;
	}
	return CUTOVER_OK;
}

/* Skip a dropped line's end of line ("\r\n" or "\n"). */
static void skip_eol(day_io *io)
{
	char b[2];
	ssize_t got = pread(io->srcfd, b, 2, (off_t)io->copied);
	if (got >= 1 && b[0] == '\r') {
		io->copied++;
		if (got == 2 && b[1] == '\n')
			io->copied++;
	} else if (got >= 1 && b[0] == '\n') {
		io->copied++;
	}
}

/* An event row (columns from 2: EV_COLS). */
static int event_row(const PGresult *r, int i, cutover_event *e, cutover_error *err)
{
	memset(e, 0, sizeof *e);
	e->id = ex_col_i64(r, i, 2);
	e->occurred_at = ex_col_ts(r, i, 3);
	e->incident_id = ex_col_i64(r, i, 10);
	if (!ex_col_str(r, i, 4, &e->source_ip) || !ex_col_str(r, i, 5, &e->region) || !ex_col_str(r, i, 6, &e->node) ||
	    !ex_col_str(r, i, 7, &e->attack_type) || !ex_col_str(r, i, 8, &e->severity)) {
		co_event_clear(e);
		return co_err_oom(err);
	}
	int rc = co_payload_canonical(PQgetvalue(r, i, 9), &e->payload, err);
	if (rc) {
		co_event_clear(e);
		co_err(err, CUTOVER_ECORRUPT, "event %lld: the stored payload cannot be read back", (long long)e->id);
	}
	return rc;
}

static int print_event(day_io *io, cJSON *obj, const cutover_event *e, cutover_error *err)
{
	int rc = co_json_write_event(obj, e, err);
	if (rc || !io->out)
		return rc;
	char *text = cJSON_PrintUnformatted(obj);
	if (!text)
		return co_err_oom(err);
	rc = out_put(io, text, strlen(text), err);
	cJSON_free(text);
	return rc;
}

/* Pass 1: the readable lines' ids into ex_lines. */
static int pass_lines(ex_ctx *c, day_io *io, const char *key, const char *date, cutover_error *err)
{
	co_scan *sc = NULL;
	co_buf rows = {0};
	size_t pending = 0;
	uint64_t seq = 0;
	int rc = co_scan_ndjson(&sc, io->src, key, err);
	co_scan_item it;
	while (rc == CUTOVER_OK && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		seq++;
		cutover_event ev;
		cutover_error why;
		if (co_legacy_event_item(&it, date, &ev, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL)
				rc = co_err_oom(err);
			continue;
		}
		co_copy_int(&rows, true, (int64_t)seq);
		co_copy_int(&rows, false, (int64_t)it.line);
		co_copy_int(&rows, false, ev.id);
		co_copy_end_row(&rows);
		if (ev.id > c->ev_file_max)
			c->ev_file_max = ev.id;
		co_event_clear(&ev);
		if (++pending == COPY_CHUNK) {
			rc = rows.failed ? co_err_oom(err)
					 : co_pg_copy(c->pg, "export: the lines of a daily file", SQL_COPY_LINES, rows.data,
						      rows.len, err);
			rows.len = 0;
			pending = 0;
		}
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	if (rc == CUTOVER_OK && pending)
		rc = rows.failed ? co_err_oom(err)
				 : co_pg_copy(c->pg, "export: the lines of a daily file", SQL_COPY_LINES, rows.data, rows.len,
					      err);
	co_buf_free(&rows);
	co_scan_free(sc);
	return rc;
}

/* A batch of a cursor's rows, walked one at a time. */
typedef struct rows {
	PGresult *r;
	int i, n;
	bool done;
} rows;

static int next_row(ex_ctx *c, rows *rs, const char *fetch, cutover_error *err)
{
	if (rs->i + 1 < rs->n) {
		rs->i++;
		return CUTOVER_OK;
	}
	PQclear(rs->r);
	rs->r = NULL;
	rs->i = rs->n = 0;
	if (rs->done)
		return CUTOVER_OK;
	if (!(rs->r = ex_fetch(c, "export: read a day's events", fetch, err)))
		return err->code;
	rs->n = PQntuples(rs->r);
	rs->done = rs->n == 0;
	return CUTOVER_OK;
}

static const char *name_of(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "id %" PRId64, id);
	return buf;
}

/* Pass 2: the file again, beside the matches; the new file. */
static int pass_match(ex_ctx *c, ex_doc *d, day_io *io, const char *key, const char *date, cutover_error *err)
{
	co_scan *sc = NULL;
	rows rs = {0};
	uint64_t seq = 0;
	int rc = next_row(c, &rs, "FETCH 2000 FROM ex_match", err);
	if (!rc)
		rc = co_scan_ndjson(&sc, io->src, key, err);
	co_scan_item it;
	while (rc == CUTOVER_OK && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		seq++;
		char name[64] = "", reason[600];
		bool matched = rs.r && rs.n && (uint64_t)ex_col_i64(rs.r, rs.i, 0) == seq;
		cJSON *obj = NULL;
		cutover_event cur, pg;
		cutover_error why;
		cutover_error_clear(&why);
		memset(&cur, 0, sizeof cur);
		memset(&pg, 0, sizeof pg);
		bool readable = co_legacy_event_parse(&it, &obj, &why) == CUTOVER_OK &&
				co_legacy_event_fill(obj, date, &cur, &why) == CUTOVER_OK;
		const char *drop = NULL;
		cJSON *replacement = NULL;
		if (readable)
			name_of(cur.id, name, sizeof name);
		if (!matched) {
			if (readable) /* cannot happen: every readable line has a row */
				snprintf(reason, sizeof reason, "not matched");
			else
				snprintf(reason, sizeof reason, "cannot be read: %s", why.message);
			drop = reason;
		} else if ((uint64_t)ex_col_i64(rs.r, rs.i, 1) != it.line) {
			snprintf(reason, sizeof reason, "its id repeats line %lld's (the backfill keeps the first)",
				 (long long)ex_col_i64(rs.r, rs.i, 1));
			drop = reason;
		} else if (PQgetisnull(rs.r, rs.i, 2)) {
			drop = "not in postgres (on this day)";
		} else if ((rc = event_row(rs.r, rs.i, &pg, err)) == CUTOVER_OK) {
			char fields[256];
			if (pg.occurred_at != cur.occurred_at) {
				drop = "postgres holds another event under this id (occurred_at differs); written fresh in its place";
				if (!(replacement = cJSON_CreateObject()))
					rc = co_err_oom(err);
			} else if (co_event_diff(&cur, &pg, fields, sizeof fields) == 0) {
				d->unchanged++;
			} else {
				ex_note_differ(c, d, name, fields);
				if (!(rc = copy_to(io, it.offset, err)))
					rc = print_event(io, obj, &pg, err);
				io->copied = it.offset + it.len;
			}
		}
		if (rc == CUTOVER_OK && drop) {
			ex_note_dropped(c, d, it.line, it.line, name, drop);
			if (!(rc = copy_to(io, it.offset, err))) {
				io->copied = it.offset + it.len;
				if (replacement) {
					ex_note_added(c, d, name);
					rc = print_event(io, replacement, &pg, err);
				} else {
					skip_eol(io);
				}
			}
		}
		cJSON_Delete(replacement);
		cJSON_Delete(obj);
		co_event_clear(&cur);
		co_event_clear(&pg);
		if (rc == CUTOVER_OK && matched)
			rc = next_row(c, &rs, "FETCH 2000 FROM ex_match", err);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	PQclear(rs.r);
	co_scan_free(sc);
	ex_close(c, "CLOSE ex_match");
	if (rc == CUTOVER_OK) {
		struct stat sb;
		rc = fstat(io->srcfd, &sb) == 0 ? copy_to(io, (uint64_t)sb.st_size, err) : io_fail(err, "stat", key);
	}
	return rc;
}

/* Pass 3: the day's events no line holds, appended. */
static int pass_new(ex_ctx *c, ex_doc *d, day_io *io, cutover_error *err)
{
	rows rs = {0};
	int rc = next_row(c, &rs, "FETCH 2000 FROM ex_new", err);
	while (rc == CUTOVER_OK && rs.n) {
		cutover_event pg;
		char name[64];
		if ((rc = event_row(rs.r, rs.i, &pg, err)))
			break;
		ex_note_added(c, d, name_of(pg.id, name, sizeof name));
		if (io->out && io->written && io->last != '\n')
			rc = out_put(io, "\n", 1, err);
		cJSON *obj = cJSON_CreateObject();
		if (!obj)
			rc = co_err_oom(err);
		if (!rc)
			rc = print_event(io, obj, &pg, err);
		if (!rc)
			rc = out_put(io, "\n", 1, err);
		cJSON_Delete(obj);
		co_event_clear(&pg);
		if (!rc)
			rc = next_row(c, &rs, "FETCH 2000 FROM ex_new", err);
	}
	PQclear(rs.r);
	ex_close(c, "CLOSE ex_new");
	return rc;
}

/* Open the current file: --apply copies it to a spool in the backup
 * directory first (the backup, if the day changes), a dry run streams it. */
static int day_open(ex_ctx *c, day_io *io, const char *key, bool *existed, cutover_error *err)
{
	*existed = false;
	int rc;
	if (!c->apply) {
		rc = co_transport_stream(c->t, key, &io->src, err);
		if (rc == CUTOVER_ENOTFOUND) {
			cutover_error_clear(err);
			return CUTOVER_OK;
		}
		if (rc)
			return rc;
		io->srcfd = fileno(io->src);
		*existed = true;
		return CUTOVER_OK;
	}
	if ((rc = ex_spool_open(c, io->spool, sizeof io->spool, &io->spoolfd, err)))
		return rc;
	if (c->t->stream) {
		/* a local root: the domain's lock is held, the put is unconditional */
		FILE *f = NULL;
		rc = c->t->stream(c->t, key, &f, err);
		if (rc == CUTOVER_OK) {
			char buf[65536];
			size_t n;
			*existed = true;
			while ((n = fread(buf, 1, sizeof buf, f)) > 0 && rc == CUTOVER_OK)
				if (write(io->spoolfd, buf, n) != (ssize_t)n)
					rc = io_fail(err, "write", io->spool);
			if (rc == CUTOVER_OK && ferror(f))
				rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read %s", key);
			fclose(f);
		}
	} else {
		char *data = NULL;
		size_t len = 0;
		rc = c->t->get(c->t, key, &data, &len, io->version, err);
		if (rc == CUTOVER_OK) {
			*existed = true;
			io->if_version = io->version;
			if (write(io->spoolfd, data, len) != (ssize_t)len)
				rc = io_fail(err, "write", io->spool);
		}
		free(data);
	}
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		io->if_version = "";
		rc = CUTOVER_OK;
	}
	if (rc)
		return rc;
	int fd = dup(io->spoolfd);
	if (fd < 0 || !(io->src = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return io_fail(err, "open", io->spool);
	}
	rewind(io->src);
	io->srcfd = io->spoolfd;
	char outname[1200];
	if ((rc = ex_spool_open(c, outname, sizeof outname, &io->outfd, err)))
		return rc;
	snprintf(io->outpath, sizeof io->outpath, "%s", outname);
	fd = dup(io->outfd);
	if (fd < 0 || !(io->out = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return io_fail(err, "open", io->outpath);
	}
	return CUTOVER_OK;
}

static void day_close(day_io *io)
{
	if (io->src)
		fclose(io->src);
	if (io->out)
		fclose(io->out);
	if (io->spool[0]) {
		unlink(io->spool); /* gone already when it became the backup */
		close(io->spoolfd);
	}
	if (io->outpath[0]) {
		unlink(io->outpath);
		close(io->outfd);
	}
}

static int one_day(ex_ctx *c, const char *date, bool *changed, cutover_error *err)
{
	char key[96], from[40], to[40], at[40];
	snprintf(key, sizeof key, "%s%s.ndjson", CO_EVENTS_PREFIX, date);
	snprintf(at, sizeof at, "%sT00:00:00Z", date);
	cutover_ts start;
	if (cutover_ts_parse(at, &start) != CUTOVER_OK)
		return co_err(err, CUTOVER_EINTERNAL, "export: %s is not a date", date);
	cutover_ts_format(start, from, sizeof from);
	cutover_ts_format(start + DAY_US, to, sizeof to);
	const char *bounds[2] = {from, to};

	ex_doc d;
	ex_doc_begin(c, &d, key);
	day_io io = {.srcfd = -1, .spoolfd = -1, .outfd = -1};
	int rc = day_open(c, &io, key, &d.existed, err);
	if (!rc && d.existed)
		rc = pass_lines(c, &io, key, date, err);
	if (!rc && d.existed && fseek(io.src, 0, SEEK_SET) != 0)
		rc = io_fail(err, "rewind", key);
	if (!rc && d.existed && !(rc = ex_declare(c, "export: match a day's lines", SQL_MATCH, 2, bounds, err)))
		rc = pass_match(c, &d, &io, key, date, err);
	if (!rc && !(rc = ex_declare(c, "export: a day's new events", SQL_NEW, 2, bounds, err)))
		rc = pass_new(c, &d, &io, err);
	if (!rc) {
		PGresult *r = co_pg_exec(c->pg, "export: clear the temp table", SQL_CLEAR_LINES, 0, NULL, err);
		if (!r)
			rc = err->code;
		PQclear(r);
	}
	d.records = d.unchanged + d.differ + d.added;
	*changed = ex_doc_changed(&d);
	const char *outcome = d.existed ? "unchanged" : "absent";
	if (!rc && *changed) {
		outcome = ex_outcome(c, d.existed);
		if (c->apply && fflush(io.out) != 0)
			rc = io_fail(err, "write", io.outpath);
		if (!rc && c->apply && d.existed)
			rc = ex_keep_spool(c, io.spool, io.spoolfd, key, err);
		if (!rc && c->apply)
			rc = ex_put_fd(c, key, io.outfd, (size_t)io.written, io.if_version, err);
	}
	day_close(&io);
	if (rc) {
		ex_doc_abandon(&d);
		return rc;
	}
	d.terse = true;
	ex_doc_end(c, &d, outcome);
	return CUTOVER_OK;
}

/* --- the days ------------------------------------------------------------------------------ */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ex_events_list(ex_ctx *c, cutover_error *err)
{
	if (!c->t->list) {
		co_err(err, CUTOVER_ECONFIG, "the state root's transport (%s) cannot list the daily event files", c->t->kind);
		co_err_hint(err, "use a local directory or a server that lists folders as the JSON state root for telemetry");
		return CUTOVER_ECONFIG;
	}
	int rc = c->t->list(c->t, CO_EVENTS_PREFIX, &c->ev_keys, &c->ev_nkeys, err);
	if (rc) /* they are listed before any telemetry document is written */
		co_pg_prefix_error(err, "export telemetry: the daily event files cannot be listed, nothing was written");
	c->ev_listed = rc == CUTOVER_OK;
	return rc;
}

void ex_events_free(ex_ctx *c)
{
	co_keys_free(c->ev_keys, c->ev_nkeys);
	c->ev_keys = NULL;
	c->ev_nkeys = 0;
	c->ev_listed = false;
}

int ex_events(ex_ctx *c, cutover_error *err)
{
	if (!c->ev_listed)
		return co_err(err, CUTOVER_EINTERNAL, "export: the daily event files were not listed first");
	int rc = counter(c, err);
	if (rc)
		return rc;
	char **keys = c->ev_keys;
	size_t nkeys = c->ev_nkeys;
	PGresult *r = co_pg_exec(c->pg, "export: the days with events", SQL_DAYS, 0, NULL, err);
	if (!r)
		return err->code;
	/* every date of the root and of postgres, once, in order */
	size_t npg = (size_t)PQntuples(r), n = 0;
	char **dates = calloc(nkeys + npg + 1, sizeof *dates);
	for (size_t i = 0; dates && i < nkeys; i++) {
		char date[11];
		if (co_events_file_date(keys[i], date)) {
			dates[n++] = co_strdup(date);
		} else {
			cJSON_AddItemToArray(c->jleft, cJSON_CreateString(keys[i]));
			if (!c->cli->json)
				printf("  %-36s left alone: not a daily file (YYYY-MM-DD.ndjson); the json backend never reads it\n",
				       keys[i]);
		}
	}
	for (size_t i = 0; dates && i < npg; i++)
		dates[n++] = co_strdup(PQgetvalue(r, (int)i, 0));
	PQclear(r);
	if (!dates)
		return co_err_oom(err);
	for (size_t i = 0; i < n; i++)
		if (!dates[i])
			rc = co_err_oom(err);
	if (!rc)
		qsort(dates, n, sizeof *dates, by_str);
	size_t days = 0, changed_days = 0;
	for (size_t i = 0; rc == CUTOVER_OK && i < n; i++) {
		if (i && strcmp(dates[i], dates[i - 1]) == 0)
			continue;
		days++;
		cli_progress(c->cli, "export telemetry: %s (%zu days done)", dates[i], days - 1);
		bool changed = false;
		rc = one_day(c, dates[i], &changed, err);
		changed_days += changed;
	}
	cli_progress_done(c->cli);
	for (size_t i = 0; i < n; i++)
		free(dates[i]);
	free(dates);
	if (!rc && !c->cli->json)
		printf("  %-36s %zu daily files, %zu unchanged\n", CO_EVENTS_PREFIX, days, days - changed_days);
	if (!rc)
		rc = counter_past_files(c, err);
	return rc;
}
