/* export.c — `cutover export DOMAIN|all`: Postgres state back into the legacy
 * JSON layout, the rollback path after the `postgres` stage.
 *
 * Per domain: one REPEATABLE READ read-only transaction (every document of
 * the domain comes from one snapshot), the domain's transport lock held
 * while its documents are read and written (a local root), and then each
 * document built once — records read from Postgres in key order, matched
 * against the current document's records, encoded by the json backend's own
 * encoders (adapters/json/json_encode.h) — and written once. What the
 * document held and Postgres does not is reported by name and kept: the
 * replaced document goes to the backup directory first, byte for byte.
 * After a domain's --apply wrote everything, its row in
 * cutover.postgres_runs gets the snapshot time, which lets the json-
 * authoritative stages open it again (flags/flags.c).
 *
 * The parts that are the same for every document live here: the report
 * (text or --json), the backup directory, writing through the transport
 * (a large daily file is handed over as a read-only mapping of the file it
 * was built in), and cursors. export_docs.c does the collection documents,
 * export_events.c the daily event files and the id counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "pg_runs.h"

/* --- the report ------------------------------------------------------------------ */

void ex_doc_begin(ex_ctx *c, ex_doc *d, const char *key)
{
	memset(d, 0, sizeof *d);
	snprintf(d->key, sizeof d->key, "%s", key);
	if (c->jdocs) {
		d->j = cJSON_CreateObject();
		cJSON_AddStringToObject(d->j, "key", key);
		d->jdiffer = cJSON_CreateArray();
		d->jadded = cJSON_CreateArray();
		d->jdropped = cJSON_CreateArray();
		d->jdeleted = cJSON_CreateArray();
	}
}

/* Up to max_print lines per kind in the text output. */
static void line(ex_ctx *c, ex_doc *d, int kind, const char *fmt, ...) CO_PRINTF(4, 5);
static void line(ex_ctx *c, ex_doc *d, int kind, const char *fmt, ...)
{
	if (c->cli->json || d->shown[kind] >= (uint64_t)c->max_print)
		return;
	d->shown[kind]++;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	co_buf_printf(&d->lines, "    %s\n", buf);
}

void ex_note_differ(ex_ctx *c, ex_doc *d, const char *name, const char *fields)
{
	d->differ++;
	line(c, d, 0, "differs  %s: %s", name, fields);
	if (d->jdiffer && d->differ <= EX_JSON_NAMES) { /* the count, not the list: cJSON counts by walking it */
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "record", name);
		cJSON_AddStringToObject(o, "fields", fields);
		cJSON_AddItemToArray(d->jdiffer, o);
	}
}

void ex_note_added(ex_ctx *c, ex_doc *d, const char *name)
{
	d->added++;
	line(c, d, 1, "new      %s", name);
	if (d->jadded && d->added <= EX_JSON_NAMES)
		cJSON_AddItemToArray(d->jadded, cJSON_CreateString(name));
}

/* One line of dropped-<domain>.ndjson (o: its object, not consumed). */
static void list_line(ex_ctx *c, const cJSON *o)
{
	if (!c->dropped || c->dropped_errno)
		return;
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	if (!text)
		c->dropped_errno = ENOMEM; /* the record could not be listed */
	else if (fputs(text, c->dropped) == EOF || fputc('\n', c->dropped) == EOF)
		c->dropped_errno = errno ? errno : EIO;
	cJSON_free(text);
}

static cJSON *record_obj(const ex_doc *d, uint64_t position, uint64_t line_no, const char *name, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "document", d->key);
	cJSON_AddNumberToObject(o, "position", (double)position);
	cJSON_AddNumberToObject(o, "line", (double)line_no);
	if (name && *name)
		cJSON_AddStringToObject(o, "record", name);
	cJSON_AddStringToObject(o, "reason", reason);
	return o;
}

void ex_note_removed(ex_ctx *c, ex_doc *d, ex_removal why, uint64_t position, uint64_t line_no, const char *name)
{
	const char *reason = why == EX_EXPIRED ? "expired" : "deleted in postgres";
	if (why == EX_EXPIRED) {
		d->expired++;
		c->expired_total++;
	} else {
		d->deleted++;
		c->deleted_total++;
		line(c, d, 3, "deleted  record %llu (%s): deleted in postgres", (unsigned long long)position,
		     name ? name : "");
	}
	bool named = why == EX_DELETED && d->jdeleted && d->deleted <= EX_JSON_NAMES;
	cJSON *o = named || c->dropped ? record_obj(d, position, line_no, name, reason) : NULL;
	if (c->dropped)
		list_line(c, o);
	if (o && named)
		cJSON_AddItemToArray(d->jdeleted, o);
	else
		cJSON_Delete(o);
}

void ex_note_dropped(ex_ctx *c, ex_doc *d, uint64_t position, uint64_t line_no, const char *name, const char *reason)
{
	d->dropped++;
	c->dropped_total++;
	char where[64];
	if (position)
		snprintf(where, sizeof where, "%s %llu", strstr(d->key, ".ndjson") ? "line" : "record",
			 (unsigned long long)position);
	else
		snprintf(where, sizeof where, "bytes at line %llu", (unsigned long long)line_no);
	line(c, d, 2, "drop     %s%s%s%s: %s", where, name && *name ? " (" : "", name ? name : "",
	     name && *name ? ")" : "", reason);
	bool named = d->jdropped && d->dropped <= EX_JSON_NAMES;
	cJSON *o = named || c->dropped ? record_obj(d, position, line_no, name, reason) : NULL;
	if (c->dropped)
		list_line(c, o);
	if (o && named)
		cJSON_AddItemToArray(d->jdropped, o);
	else
		cJSON_Delete(o);
}

bool ex_doc_changed(const ex_doc *d)
{
	return d->differ || d->added || d->dropped || d->expired || d->deleted || d->other_change;
}

static void more(ex_ctx *c, ex_doc *d, int kind, uint64_t n, const char *what)
{
	if (!c->cli->json && n > d->shown[kind])
		co_buf_printf(&d->lines, "    ... %llu more %s (--json names up to %d)\n",
			      (unsigned long long)(n - d->shown[kind]), what, EX_JSON_NAMES);
}

void ex_doc_end(ex_ctx *c, ex_doc *d, const char *outcome)
{
	c->docs++;
	if (ex_doc_changed(d))
		c->rewritten++;
	if (!c->cli->json && !(d->terse && !ex_doc_changed(d))) {
		if (!ex_doc_changed(d))
			printf("  %-36s %s: %llu records\n", d->key, outcome, (unsigned long long)d->records);
		else {
			char gone[160] = "";
			if (d->expired || d->deleted)
				snprintf(gone, sizeof gone, "; %llu expired, %llu deleted in postgres", (unsigned long long)d->expired,
					 (unsigned long long)d->deleted);
			printf("  %-36s %s: %llu records (%llu unchanged, %llu differ, %llu new); %llu dropped%s%s\n", d->key,
			       outcome, (unsigned long long)d->records, (unsigned long long)d->unchanged,
			       (unsigned long long)d->differ, (unsigned long long)d->added, (unsigned long long)d->dropped, gone,
			       d->unreadable ? "; the document did not parse whole: rebuilt from its readable records" : "");
		}
		more(c, d, 0, d->differ, "differing");
		more(c, d, 1, d->added, "new");
		more(c, d, 2, d->dropped, "dropped");
		more(c, d, 3, d->deleted, "deleted");
		if (d->lines.len)
			fwrite(d->lines.data, 1, d->lines.len, stdout);
	}
	if (d->j) {
		cJSON_AddStringToObject(d->j, "outcome", outcome);
		cJSON_AddBoolToObject(d->j, "existed", d->existed);
		if (d->unreadable)
			cJSON_AddBoolToObject(d->j, "unreadable", true);
		cJSON_AddNumberToObject(d->j, "records", (double)d->records);
		cJSON_AddNumberToObject(d->j, "unchanged", (double)d->unchanged);
		cJSON_AddNumberToObject(d->j, "differ", (double)d->differ);
		cJSON_AddNumberToObject(d->j, "new", (double)d->added);
		cJSON_AddNumberToObject(d->j, "dropped", (double)d->dropped);
		cJSON_AddNumberToObject(d->j, "expired", (double)d->expired);
		cJSON_AddNumberToObject(d->j, "deleted_in_postgres", (double)d->deleted);
		cJSON_AddItemToObject(d->j, "differing", d->jdiffer);
		cJSON_AddItemToObject(d->j, "new_records", d->jadded);
		cJSON_AddItemToObject(d->j, "dropped_records", d->jdropped);
		cJSON_AddItemToObject(d->j, "deleted_records", d->jdeleted);
		cJSON_AddItemToArray(c->jdocs, d->j);
	}
	co_buf_free(&d->lines);
	memset(d, 0, sizeof *d);
}

void ex_doc_abandon(ex_doc *d)
{
	co_buf_free(&d->lines);
	cJSON_Delete(d->j);
	cJSON_Delete(d->jdiffer);
	cJSON_Delete(d->jadded);
	cJSON_Delete(d->jdropped);
	cJSON_Delete(d->jdeleted);
	memset(d, 0, sizeof *d);
}

const char *ex_outcome(const ex_ctx *c, bool existed)
{
	return c->apply ? (existed ? "rewritten" : "created") : (existed ? "would rewrite" : "would create");
}

/* --- the backup directory ----------------------------------------------------------- */

static int io_fail(cutover_error *err, const char *what, const char *path)
{
	int e = errno;
	co_err(err, CUTOVER_EUNAVAILABLE, "cannot %s %s: %s", what, path, strerror(e));
	co_err_hint(err, "check the backup directory (--backup DIR): it must be a writable local directory with room "
			 "for a copy of every document the export replaces");
	return CUTOVER_EUNAVAILABLE;
}

static int sync_dir_of(const char *path, cutover_error *err)
{
	char dir[1200];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return io_fail(err, "open", dir);
	int rc = fsync(fd) == 0 || errno == EINVAL ? CUTOVER_OK : io_fail(err, "sync", dir);
	close(fd);
	return rc;
}

int ex_backup_ready(ex_ctx *c, cutover_error *err)
{
	if (c->backup_ready)
		return CUTOVER_OK;
	int rc = co_mkdirs(c->backup, err);
	if (rc)
		return rc;
	chmod(c->backup, 0700);
	char path[1200];
	snprintf(path, sizeof path, "%s/dropped-%s.ndjson", c->backup, cutover_domain_name(c->domain));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			co_err(err, CUTOVER_ECONFIG, "the backup directory %s already holds an export of %s", c->backup,
			       cutover_domain_name(c->domain));
			co_err_hint(err, "an export never overwrites an earlier backup: choose another --backup DIR "
					 "(or leave it out for a fresh one)");
			return CUTOVER_ECONFIG;
		}
		return io_fail(err, "create", path);
	}
	c->dropped = fdopen(fd, "w");
	if (!c->dropped) {
		close(fd);
		return co_err_oom(err);
	}
	snprintf(c->dropped_path, sizeof c->dropped_path, "%s", path);
	c->backup_ready = true;
	return CUTOVER_OK;
}

int ex_dropped_sync(ex_ctx *c, cutover_error *err)
{
	if (!c->dropped)
		return CUTOVER_OK;
	if (c->dropped_errno) {
		errno = c->dropped_errno;
		return io_fail(err, "write", c->dropped_path);
	}
	errno = 0;
	if (fflush(c->dropped) != 0) {
		c->dropped_errno = errno ? errno : EIO;
		return io_fail(err, "write", c->dropped_path);
	}
	if (fsync(fileno(c->dropped)) != 0) {
		c->dropped_errno = errno;
		return io_fail(err, "sync", c->dropped_path);
	}
	if (!c->dropped_dir_synced) {
		int rc = sync_dir_of(c->dropped_path, err);
		if (rc)
			return rc;
		c->dropped_dir_synced = true;
	}
	return CUTOVER_OK;
}

int ex_dropped_close(ex_ctx *c, cutover_error *err)
{
	if (!c->dropped)
		return CUTOVER_OK;
	int rc = ex_dropped_sync(c, err);
	if (fclose(c->dropped) != 0 && rc == CUTOVER_OK)
		rc = io_fail(err, "close", c->dropped_path);
	c->dropped = NULL;
	return rc;
}

static int backup_path(ex_ctx *c, const char *key, char *path, size_t len, cutover_error *err)
{
	snprintf(path, len, "%s/%s", c->backup, key);
	char dir[1200];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return co_mkdirs(dir, err);
}

static int exists_already(ex_ctx *c, const char *path, cutover_error *err)
{
	co_err(err, CUTOVER_ECONFIG, "the backup directory %s already holds %s", c->backup, path);
	co_err_hint(err, "an export never overwrites an earlier backup: choose another --backup DIR");
	return CUTOVER_ECONFIG;
}

int ex_keep(ex_ctx *c, const char *key, const char *data, size_t len, cutover_error *err)
{
	char path[1200];
	int rc = ex_backup_ready(c, err);
	if (rc || (rc = backup_path(c, key, path, sizeof path, err)))
		return rc;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? exists_already(c, path, err) : io_fail(err, "create", path);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = io_fail(err, "write", path);
			break;
		}
		off += (size_t)w;
	}
	if (!rc && fsync(fd) != 0)
		rc = io_fail(err, "sync", path);
	close(fd);
	return rc ? rc : sync_dir_of(path, err);
}

int ex_spool_open(ex_ctx *c, char *path, size_t len, int *fd, cutover_error *err)
{
	int rc = ex_backup_ready(c, err);
	if (rc)
		return rc;
	snprintf(path, len, "%s/.spool-%u", c->backup, c->spool_n++);
	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return *fd < 0 ? io_fail(err, "create", path) : CUTOVER_OK;
}

int ex_keep_spool(ex_ctx *c, const char *spool, int fd, const char *key, cutover_error *err)
{
	char path[1200];
	int rc = backup_path(c, key, path, sizeof path, err);
	if (rc)
		return rc;
	if (fsync(fd) != 0)
		return io_fail(err, "sync", spool);
	/* link, not rename: it fails when the name exists, even one made a moment ago */
	if (link(spool, path) != 0)
		return errno == EEXIST ? exists_already(c, path, err) : io_fail(err, "keep", path);
	unlink(spool);
	return sync_dir_of(path, err);
}

/* --- writing through the transport -------------------------------------------------- */

int ex_put(ex_ctx *c, const char *key, const char *data, size_t len, const char *if_version, cutover_error *err)
{
	int rc = ex_dropped_sync(c, err);
	if (rc)
		return rc;
	rc = c->t->put(c->t, key, data ? data : "", len, if_version, NULL, err);
	if (rc == CUTOVER_EBUSY)
		co_err_hint(err, "another process changed %s while the export ran (nothing else was lost: the document it "
				 "read is in %s); stop the writers of %s and run the export again",
			    key, c->backup, cutover_domain_name(c->domain));
	return rc;
}

int ex_put_fd(ex_ctx *c, const char *key, int fd, size_t len, const char *if_version, cutover_error *err)
{
	if (len == 0)
		return ex_put(c, key, "", 0, if_version, err);
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return io_fail(err, "map", key);
	int rc = ex_put(c, key, map, len, if_version, err);
	munmap(map, len);
	return rc;
}

/* --- cursors and rows ------------------------------------------------------------- */

int ex_declare(ex_ctx *c, const char *what, const char *declare_sql, int n, const char *const *p, cutover_error *err)
{
	PGresult *r = co_pg_exec(c->pg, what, declare_sql, n, p, err);
	if (!r)
		return err->code;
	PQclear(r);
	return CUTOVER_OK;
}

PGresult *ex_fetch(ex_ctx *c, const char *what, const char *fetch_sql, cutover_error *err)
{
	return co_pg_exec(c->pg, what, fetch_sql, 0, NULL, err);
}

void ex_close(ex_ctx *c, const char *close_sql)
{
	cutover_error scratch;
	PQclear(co_pg_exec(c->pg, "close cursor", close_sql, 0, NULL, &scratch));
}

int64_t ex_col_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

cutover_ts ex_col_ts(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? CUTOVER_TS_NULL : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool ex_col_str(const PGresult *r, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, col))
		return true;
	return (*out = co_strdup(PQgetvalue(r, row, col))) != NULL;
}

/* --- one domain ------------------------------------------------------------------- */

static void rollback(co_pg *pg)
{
	cutover_error scratch;
	PQclear(co_pg_exec(pg, "rollback", "ROLLBACK", 0, NULL, &scratch));
}

static int run_domain(ex_ctx *c, cutover_error *err)
{
	cutover_domain d = c->domain;
	int rc = d == CUTOVER_DOMAIN_TELEMETRY ? ex_events_prepare(c, err) : CUTOVER_OK;
	if (rc)
		return rc;
	/* a local root's lock before the snapshot: a json write (a rampdown
	 * process's second write) that got in before it wrote Postgres before
	 * the snapshot, and one after it waits until every document is written */
	co_lock *lock = NULL;
	if (c->apply && c->t->lock && (rc = c->t->lock(c->t, cutover_domain_name(d), &lock, err)))
		return rc;
	PGresult *r = co_pg_exec(c->pg, "export: begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err);
	if (!r) {
		if (lock)
			c->t->unlock(c->t, lock);
		return err->code;
	}
	PQclear(r);
	r = co_pg_exec(c->pg, "export: snapshot", "SELECT (extract(epoch from now()) * 1000000)::int8", 0, NULL, err);
	if (!r) {
		if (lock)
			c->t->unlock(c->t, lock);
		rollback(c->pg);
		return err->code;
	}
	c->snapshot = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);

	switch (d) {
	case CUTOVER_DOMAIN_IDENTITY:
		if (!(rc = ex_collection(c, &ex_users, err)))
			rc = ex_collection(c, &ex_sessions, err);
		break;
	case CUTOVER_DOMAIN_TELEMETRY:
		if (!(rc = ex_events_list(c, err)) && !(rc = ex_collection(c, &ex_incidents, err)))
			rc = ex_events(c, err);
		ex_events_free(c);
		break;
	case CUTOVER_DOMAIN_PROFILE:
		rc = ex_collection(c, &ex_profiles, err);
		break;
	case CUTOVER_DOMAIN_REPORTS:
		rc = ex_collection(c, &ex_reports, err);
		break;
	default:
		rc = co_err(err, CUTOVER_EINTERNAL, "export: unknown domain");
	}
	if (lock)
		c->t->unlock(c->t, lock);
	if (rc) {
		rollback(c->pg);
		return rc;
	}
	r = co_pg_exec(c->pg, "export: end", "COMMIT", 0, NULL, err);
	if (!r)
		return err->code;
	PQclear(r);
	return CUTOVER_OK;
}

static const char usage_text[] =
    "usage: cutover export DOMAIN|all [--apply] [--backup DIR] [--json]\n\n"
    "Writes the Postgres state of a domain back into the legacy JSON layout under\n"
    "CUTOVER_JSON_ROOT (a directory or an http(s):// object store): the rollback path\n"
    "after the `postgres` stage, where nothing writes the JSON documents any more.\n"
    "`all` exports identity, telemetry, profile and reports.\n\n"
    "Each domain is read from one REPEATABLE READ read-only transaction. Each document\n"
    "(identity/users.json, identity/sessions.json, profile/profiles.json,\n"
    "reports/reports.json, telemetry/incidents.json, telemetry/events/YYYY-MM-DD.ndjson)\n"
    "is built once, with the json backend's own record encoders, and written once:\n"
    "records the current document holds keep their place (and fields the library does\n"
    "not know), records that differ are rewritten, new ones are appended, and records\n"
    "Postgres does not hold leave the live document. The json backends' id bookkeeping\n"
    "is moved past every id Postgres handed out (telemetry/.event-ids.json, profile's\n"
    "\"cutover_last_ids\"). Files under telemetry/events/ that are not daily files are\n"
    "left alone.\n\n"
    "Memory: the collection documents are held whole, as the json backend holds them.\n"
    "On a local root a daily event file is streamed and never held. Over an HTTP root\n"
    "it is: the transport has no streaming GET or PUT, so each daily file is read into\n"
    "memory whole (then spooled to disk) and sent from one buffer; plan for at least\n"
    "the size of the largest daily file, twice during a write.\n\n"
    "Without --apply: a dry run. Per document it says how many records it would write,\n"
    "which differ from the current document (and in which fields), which are new, and\n"
    "which records of the current document Postgres does not hold (they would be\n"
    "dropped from the live document), and writes nothing.\n\n"
    "  --apply       write. Every document that changes is first kept byte for byte\n"
    "                under the backup directory, at its key (files 0600), with\n"
    "                dropped-<domain>.ndjson naming every dropped record and\n"
    "                export-<domain>.json, the report; the directory is itself a\n"
    "                state root holding the old documents. Then the domain is recorded\n"
    "                as exported (cutover.postgres_runs) and the marker\n"
    "                <domain>/.cutover-postgres-stage is removed from the state root,\n"
    "                so the json, dualwrite and shadow stages may open it again.\n"
    "  --backup DIR  where to keep them (default ./cutover-export-backup/<domain>-<UTC time>);\n"
    "                an existing backup is never overwritten\n"
    "  --json        the report as one JSON document on stdout\n\n"
    "--apply refuses (exit 3) while any process has the domain open in the postgres\n"
    "stage (each holds a lock on its Postgres session; the export takes it exclusively\n"
    "before its snapshot and keeps it until it has recorded the export): stop them, or\n"
    "set the flag to rampdown and restart them, first. While it runs, the postgres\n"
    "stage cannot open the domain. Flip the flag back only after it succeeded.\n\n"
    "Sessions are the one kind of record the app deletes: a session of the current\n"
    "document that Postgres no longer holds (but whose user it holds) leaves it as\n"
    "expired (expires_at at or before the snapshot; counted) or deleted in postgres\n"
    "(named), and is not a drop.\n\n"
    "Exit 0 when nothing is dropped, 1 when records of the current documents are not in\n"
    "Postgres and were never deleted through the app, cannot be read or repeat a key\n"
    "(dropped; kept in the backup), 2 usage or configuration, 3 runtime failure\n"
    "(Postgres or the state root unreachable, or postgres-stage sessions still open;\n"
    "nothing more is written and the domain is not recorded as exported).\n";

static const cutover_domain order[] = {CUTOVER_DOMAIN_IDENTITY, CUTOVER_DOMAIN_TELEMETRY, CUTOVER_DOMAIN_PROFILE,
				       CUTOVER_DOMAIN_REPORTS};

static void write_report_file(ex_ctx *c, cJSON *jd)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/export-%s.json", c->backup, cutover_domain_name(c->domain));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	char *text = fd >= 0 ? cJSON_Print(jd) : NULL;
	if (text) {
		size_t n = strlen(text);
		if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
			fprintf(stderr, "cutover: warning: could not write %s completely\n", path);
		cJSON_free(text);
	}
	if (fd >= 0)
		close(fd);
}

/* --apply: the postgres stage's lock, exclusively, before the snapshot
 * (pg_runs.h). Busy: postgres-stage sessions hold it shared (counted from
 * pg_locks), or another export holds it. */
static int take_stage_lock(ex_ctx *c, cutover_error *err)
{
	const char *name = cutover_domain_name(c->domain);
	bool got = false;
	long holders = 0;
	int rc = co_pg_stage_lock(c->pg, c->domain, &got, err);
	if (rc || got)
		return rc;
	if ((rc = co_pg_stage_holders(c->pg, c->domain, &holders, err)))
		return rc;
	if (holders == 0) {
		co_err(err, CUTOVER_EBUSY, "another `cutover export %s --apply` is running (it holds the postgres stage's lock of "
					   "%s)",
		       name, name);
		co_err_hint(err, "wait for it to finish; nothing was written");
		return CUTOVER_EBUSY;
	}
	co_err(err, CUTOVER_EBUSY, "%ld session%s still ha%s %s open in the postgres stage; flip the flag to rampdown and "
				   "restart them, then run the export again",
	       holders, holders == 1 ? "" : "s", holders == 1 ? "s" : "ve", name);
	co_err_detail(err, "every handle of %s in the postgres stage holds a lock on its Postgres session (pg_locks counts "
			   "them); the export writes nothing while one does, since it could write to Postgres behind the "
			   "export's snapshot, and nothing was written",
		      name);
	if (c->t->lock)
		co_err_hint(err, "stop those processes, or restart them with %s=rampdown (on this local state root their "
				 "json writes wait for the export's lock); then run `cutover export %s --apply` again",
			    cutover_domain_flag(c->domain), name);
	else
		co_err_hint(err, "stop those processes (over an HTTP state root a rampdown process's json write during the "
				 "export could be overwritten by it; on a local root it waits), or set %s=rampdown and "
				 "restart them when you accept that; then run `cutover export %s --apply` again",
			    cutover_domain_flag(c->domain), name);
	return CUTOVER_EBUSY;
}

/* Still ours? A reconnect (co_pg_conn resets a lost connection) gives a
 * session that does not hold it. */
static int stage_lock_kept(ex_ctx *c, cutover_error *err)
{
	bool held = false;
	int rc = co_pg_stage_lock_held(c->pg, c->domain, &held, err);
	if (rc || held)
		return rc;
	co_err(err, CUTOVER_EUNAVAILABLE, "export %s: the connection to Postgres was lost while the export ran, and with "
					  "it the postgres stage's lock",
	       cutover_domain_name(c->domain));
	co_err_hint(err, "run the export again: a postgres-stage process may have written meanwhile");
	return CUTOVER_EUNAVAILABLE;
}

/* --apply, after the export is recorded: remove the marker in the JSON
 * root while the lock still keeps postgres-stage opens out; when the lock
 * turns out lost, put the marker back and fail. */
static int clear_marker(ex_ctx *c, bool *removed, cutover_error *err)
{
	int rc = co_stage_marker_remove(c->t, c->domain, removed, err);
	if (rc) {
		char key[64], what[128];
		snprintf(what, sizeof what, "export: remove the rollback guard's marker %s",
			 co_stage_marker_key(c->domain, key, sizeof key));
		co_pg_prefix_error(err, what);
		co_err_hint(err, "the documents are written and the export is recorded; run the export again to remove it "
				 "(json, dualwrite and shadow refuse %s while it exists)",
			    cutover_domain_name(c->domain));
		return rc;
	}
	if ((rc = stage_lock_kept(c, err)) && *removed) {
		bool written;
		cutover_error scratch;
		co_stage_marker_ensure(c->t, c->domain, c->snapshot, &written, &scratch);
		*removed = false;
	}
	return rc;
}

static int export_one(const cli_ctx *cli, cutover_domain d, bool apply, const char *backup_dir, const char *stamp,
		      co_transport *t, co_pg *pg, const char *root_shown, cJSON *jall)
{
	ex_ctx c = {.cli = cli, .domain = d, .apply = apply, .max_print = 20, .t = t, .pg = pg};
	const char *name = cutover_domain_name(d);
	if (backup_dir)
		snprintf(c.backup, sizeof c.backup, "%s", backup_dir);
	else
		snprintf(c.backup, sizeof c.backup, "./cutover-export-backup/%s-%s", name, stamp);
	/* the report of this domain, kept in the backup even without --json */
	cJSON *jd = cJSON_CreateObject();
	c.jdocs = cJSON_CreateArray();
	c.jleft = cJSON_CreateArray();
	c.jbook = cJSON_CreateArray();
	cutover_error err;
	cutover_error_clear(&err);

	co_pg_stage_run before;
	if (!cli->json)
		printf("export %s: %s; state root %s%s%s\n", name,
		       apply ? "--apply" : "dry run (nothing is written; --apply writes)", root_shown,
		       apply ? "; backup in " : "", apply ? c.backup : "");
	bool locked = false;
	long holders = 0;
	int rc = apply ? take_stage_lock(&c, &err) : co_pg_stage_holders(pg, d, &holders, &err);
	locked = apply && rc == CUTOVER_OK;
	if (rc == CUTOVER_OK)
		rc = co_pg_runs_get(pg, d, &before, &err);
	else
		memset(&before, 0, sizeof before);
	if (rc == CUTOVER_OK && apply)
		rc = ex_backup_ready(&c, &err); /* before any document: every dropped record is listed */
	if (rc == CUTOVER_OK)
		rc = run_domain(&c, &err);

	char snap[40];
	cutover_ts_format(c.snapshot, snap, sizeof snap);
	cJSON_AddStringToObject(jd, "domain", name);
	cJSON_AddBoolToObject(jd, "dry_run", !apply);
	cJSON_AddStringToObject(jd, "state_root", root_shown);
	if (c.snapshot)
		cJSON_AddStringToObject(jd, "snapshot", snap);
	if (apply)
		cJSON_AddStringToObject(jd, "backup", c.backup);
	cJSON_AddItemToObject(jd, "documents", c.jdocs);
	cJSON_AddItemToObject(jd, "left_alone", c.jleft);
	cJSON_AddItemToObject(jd, "bookkeeping", c.jbook);
	cJSON_AddNumberToObject(jd, "dropped", (double)c.dropped_total);
	cJSON_AddNumberToObject(jd, "expired", (double)c.expired_total);
	cJSON_AddNumberToObject(jd, "deleted_in_postgres", (double)c.deleted_total);

	bool recorded = false, marker_removed = false;
	if (rc == CUTOVER_OK && apply)
		rc = ex_dropped_close(&c, &err);
	if (rc == CUTOVER_OK && apply && !(rc = stage_lock_kept(&c, &err))) {
		rc = co_pg_runs_note_export(pg, d, c.snapshot, root_shown, &err);
		recorded = rc == CUTOVER_OK && before.exists;
		if (rc == CUTOVER_OK)
			rc = clear_marker(&c, &marker_removed, &err);
	}
	if (locked)
		co_pg_stage_unlock(pg, d);
	if (!apply)
		cJSON_AddNumberToObject(jd, "postgres_stage_sessions", (double)holders);
	if (apply)
		cJSON_AddBoolToObject(jd, "marker_removed", marker_removed);
	if (before.exists) {
		char say[300];
		cJSON_AddStringToObject(jd, "postgres_stage", co_pg_stage_run_describe(&before, d, say, sizeof say));
	}
	cJSON_AddBoolToObject(jd, "recorded_as_exported", recorded);
	if (rc)
		cJSON_AddStringToObject(jd, "error", err.message);
	if (c.dropped) { /* a failure came first: it is the one reported */
		fclose(c.dropped);
		c.dropped = NULL;
	}
	if (apply && c.backup_ready)
		write_report_file(&c, jd);

	if (!cli->json && rc == CUTOVER_OK) {
		printf("  snapshot %s: %zu document%s, %zu %s; %zu record%s %s from the live documents%s\n", snap, c.docs,
		       c.docs == 1 ? "" : "s", c.rewritten, apply ? "written" : "would be written", c.dropped_total,
		       c.dropped_total == 1 ? "" : "s", apply ? "dropped" : "would be dropped",
		       c.dropped_total ? (apply ? " (kept in the backup)" : " (kept in the backup with --apply)") : "");
		if (c.expired_total || c.deleted_total)
			printf("  and %zu expired session%s and %zu deleted in postgres (logged out or removed through the app "
			       "while postgres was authoritative) %s the live documents: expected, not counted as dropped\n",
			       c.expired_total, c.expired_total == 1 ? "" : "s", c.deleted_total,
			       apply ? "left" : "would leave");
		if (recorded)
			printf("  recorded in cutover.postgres_runs: %s exported as of %s; json, dualwrite and shadow may open it "
			       "again\n",
			       name, snap);
		else if (apply && !before.exists)
			printf("  (%s never ran in the postgres stage: there was no rollback guard to clear)\n", name);
		else if (!apply && before.pending)
			printf("  %s ran in the postgres stage without an export since: run `cutover export %s --apply`\n", name,
			       name);
		if (marker_removed) {
			char key[64];
			printf("  removed the rollback guard's marker %s from the state root\n",
			       co_stage_marker_key(d, key, sizeof key));
		}
		if (!apply && holders)
			printf("  %ld session%s ha%s %s open in the postgres stage now: --apply refuses until they are gone "
			       "(flip the flag to rampdown and restart them, or stop them)\n",
			       holders, holders == 1 ? "" : "s", holders == 1 ? "s" : "ve", name);
	}
	if (jall)
		cJSON_AddItemToObject(jall, name, jd);
	else
		cJSON_Delete(jd);
	if (rc) {
		if (apply && c.backup_ready)
			co_err_detail(&err, "documents written before the failure are kept in %s; re-run the export when "
					    "the cause is fixed",
				      c.backup);
		return cli_fail(&err);
	}
	return c.dropped_total ? EXIT_CHECKS : EXIT_OK;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	const char *domain = NULL, *backup = NULL;
	bool apply = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		} else if (strcmp(a, "--apply") == 0) {
			apply = true;
		} else if (strcmp(a, "--backup") == 0 && i + 1 < argc) {
			backup = argv[++i];
			if (!*backup)
				return cli_usage("export: --backup needs a directory");
		} else if (a[0] == '-') {
			return cli_usage("export: unknown option \"%s\" (see cutover export --help)", a);
		} else if (cli_domain_take("export", &domain, a)) {
			return EXIT_USAGE;
		}
	}
	bool all;
	if (cli_domain_check("export", domain, &all))
		return EXIT_USAGE;
	if (backup && !apply)
		return cli_usage("export: --backup needs --apply (a dry run writes nothing)");

	cutover_error err;
	cutover_settings st;
	if (cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err))
		return cli_fail(&err);
	char root_shown[512];
	co_redact_url(st.json_root, root_shown, sizeof root_shown);
	co_transport *t = NULL;
	if (co_transport_open(&t, st.json_root, st.json_token, &err))
		return cli_fail(&err);
	co_pg *pg = NULL;
	if (co_pg_connect(&pg, st.database_url, &err)) {
		t->free(t);
		return cli_fail(&err);
	}
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);

	cJSON *jall = ctx->json ? cJSON_CreateObject() : NULL;
	int worst = EXIT_OK;
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (!all && strcmp(domain, cutover_domain_name(order[i])) != 0)
			continue;
		int code = export_one(ctx, order[i], apply, backup, stamp, t, pg, root_shown, jall);
		if (code > worst)
			worst = code;
		if (code >= EXIT_USAGE)
			break;
	}
	if (jall)
		cli_json_print(jall);
	co_pg_close(pg);
	t->free(t);
	return worst;
}
