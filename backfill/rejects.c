/* rejects.c — the reject files and the reason log (see rejects.h).
 *
 * A source framed as a JSON collection keeps its reject file open until
 * the end (the closing "]}" is written then). NDJSON sources can be many
 * (telemetry has one per day) and are walked one after another, so at most
 * one NDJSON reject file is open at a time: it is closed when another
 * NDJSON file gets a reject, and reopened for appending if its source
 * comes round again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rejects.h"

typedef struct reject_file {
	char *key;
	const char *collection;
	FILE *f;          /* NULL: not open (an NDJSON file closed for another) */
	bool created;     /* written by this run: reopening appends */
	uint64_t written; /* bytes so far */
	size_t count;
} reject_file;

struct co_rejects {
	char *dir;
	cutover_domain domain;
	FILE *reasons;
	reject_file *files;
	size_t nfiles, cap;
	size_t total;
};

static FILE *open_private_mode(const char *path, bool append, cutover_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		co_err(err, CUTOVER_EUNAVAILABLE, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, append ? "a" : "w");
	if (!f)
		close(fd);
	return f;
}

static FILE *open_private(const char *path, cutover_error *err)
{
	return open_private_mode(path, false, err);
}

static int finish_file(reject_file *rf)
{
	int bad = fflush(rf->f) != 0 || fsync(fileno(rf->f)) != 0;
	bad |= fclose(rf->f) != 0;
	rf->f = NULL;
	return bad;
}

/* Open (create, or reopen for appending) a reject file; at most one NDJSON
 * reject file stays open. */
static int open_file(co_rejects *r, reject_file *rf, cutover_error *err)
{
	if (rf->f || !r->dir)
		return CUTOVER_OK;
	for (size_t i = 0; !rf->collection && i < r->nfiles; i++)
		if (&r->files[i] != rf && !r->files[i].collection && r->files[i].f && finish_file(&r->files[i]))
			return co_err(err, CUTOVER_EUNAVAILABLE, "cannot finish the reject file for %s", r->files[i].key);
	co_buf p = {0};
	co_buf_printf(&p, "%s/%s", r->dir, rf->key);
	if (p.failed || !p.data) {
		co_buf_free(&p);
		return co_err_oom(err);
	}
	char *slash = strrchr(p.data, '/');
	*slash = '\0';
	int rc = co_mkdirs(p.data, err);
	*slash = '/';
	rf->f = rc ? NULL : open_private_mode(p.data, rf->created, err);
	co_buf_free(&p);
	if (!rf->f)
		return rc ? rc : err ? err->code : CUTOVER_EUNAVAILABLE;
	if (!rf->created && rf->collection) {
		int n = fprintf(rf->f, "{\"%s\": [\n", rf->collection);
		rf->written = n > 0 ? (uint64_t)n : 0;
	}
	rf->created = true;
	return CUTOVER_OK;
}

int co_rejects_open(co_rejects **out, const char *dir, cutover_domain d, cutover_error *err)
{
	*out = NULL;
	co_rejects *r = calloc(1, sizeof(*r));
	if (!r)
		return co_err_oom(err);
	r->domain = d;
	if (dir && !(r->dir = co_strdup(dir))) {
		free(r);
		return co_err_oom(err);
	}
	*out = r;
	return CUTOVER_OK;
}

/* The reasons log is created with the first reject: a clean run leaves no
 * reject directory behind. */
static int open_reasons(co_rejects *r, cutover_error *err)
{
	if (r->reasons || !r->dir)
		return CUTOVER_OK;
	co_buf p = {0};
	co_buf_printf(&p, "%s/%s", r->dir, cutover_domain_name(r->domain));
	int rc = p.failed ? co_err_oom(err) : co_mkdirs(p.data, err);
	co_buf_puts(&p, "/reasons.ndjson");
	if (rc == CUTOVER_OK && !(r->reasons = open_private(p.data, err)))
		rc = err ? err->code : CUTOVER_EUNAVAILABLE;
	co_buf_free(&p);
	return rc;
}

static reject_file *file_for(co_rejects *r, const char *key, const char *collection, cutover_error *err)
{
	reject_file *rf = NULL;
	for (size_t i = 0; i < r->nfiles && !rf; i++)
		if (strcmp(r->files[i].key, key) == 0)
			rf = &r->files[i];
	if (!rf) {
		if (r->nfiles == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			reject_file *grown = realloc(r->files, cap * sizeof(*grown));
			if (!grown) {
				co_err_oom(err);
				return NULL;
			}
			r->files = grown;
			r->cap = cap;
		}
		rf = &r->files[r->nfiles];
		memset(rf, 0, sizeof(*rf));
		if (!(rf->key = co_strdup(key))) {
			co_err_oom(err);
			return NULL;
		}
		rf->collection = collection;
		r->nfiles++;
	}
	if (open_file(r, rf, err) != CUTOVER_OK)
		return NULL;
	return rf;
}

int co_rejects_add(co_rejects *r, const char *file, const char *collection, const co_scan_item *it, const char *key,
		   const char *reason, cutover_error *err)
{
	int orc = open_reasons(r, err);
	if (orc)
		return orc;
	reject_file *rf = file_for(r, file, collection, err);
	if (!rf)
		return err ? err->code : CUTOVER_EINTERNAL;
	rf->count++;
	r->total++;
	if (!r->dir)
		return CUTOVER_OK;
	if (collection && rf->count > 1) {
		fputs(",\n", rf->f);
		rf->written += 2;
	}
	uint64_t at = rf->written;
	if (fwrite(it->bytes, 1, it->len, rf->f) != it->len)
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot write the reject file for %s: %s", file, strerror(errno));
	rf->written += it->len;
	if (!collection) {
		fputc('\n', rf->f);
		rf->written++;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return co_err_oom(err);
	cJSON_AddStringToObject(o, "file", file);
	cJSON_AddNumberToObject(o, "position", (double)it->position);
	cJSON_AddNumberToObject(o, "offset", (double)it->offset);
	cJSON_AddNumberToObject(o, "line", (double)it->line);
	cJSON_AddStringToObject(o, "key", key ? key : "");
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddNumberToObject(o, "reject_offset", (double)at);
	cJSON_AddNumberToObject(o, "length", (double)it->len);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		return co_err_oom(err);
	fprintf(r->reasons, "%s\n", line);
	free(line);
	return CUTOVER_OK;
}

size_t co_rejects_total(const co_rejects *r)
{
	return r->total;
}

size_t co_rejects_of(const co_rejects *r, const char *file)
{
	for (size_t i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i].key, file) == 0)
			return r->files[i].count;
	return 0;
}

const char *co_rejects_dir(const co_rejects *r)
{
	return r ? r->dir : NULL;
}

int co_rejects_close(co_rejects *r, cutover_error *err)
{
	if (!r)
		return CUTOVER_OK;
	int rc = CUTOVER_OK;
	for (size_t i = 0; i < r->nfiles; i++) {
		reject_file *rf = &r->files[i];
		if (rf->f) {
			if (rf->collection)
				fputs("\n]}\n", rf->f);
			if (finish_file(rf) && rc == CUTOVER_OK)
				rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot finish the reject file for %s", rf->key);
		}
		free(rf->key);
	}
	free(r->files);
	if (r->reasons && (fflush(r->reasons) != 0 || fsync(fileno(r->reasons)) != 0 || fclose(r->reasons) != 0) &&
	    rc == CUTOVER_OK)
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot finish the reasons log");
	free(r->dir);
	free(r);
	return rc;
}
