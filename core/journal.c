/* journal.c — the durable list of keys whose second write failed.
 *
 * In a dual stage the authoritative write decides the call; when the second
 * write fails the call still succeeds and the key lands here, so
 * `cutover reconcile` can copy the authoritative record across later and
 * nothing drifts silently. One NDJSON file per domain
 * (<dir>/<domain>.journal), created 0600, appended with O_APPEND in a single
 * write(2) per entry under an exclusive flock, then fdatasync'd: an entry is
 * on disk before the app call returns, and concurrent processes never
 * interleave lines.
 *
 * The file is state, not a log: it holds real keys (a session's key is its
 * token hash), which is why it is private to the owner and why nothing prints
 * it; reports name keys through the redaction helper.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "co.h"

struct co_journal {
	int fd;
	cutover_domain domain;
	char *path;
};

int co_journal_open(co_journal **out, const char *dir, cutover_domain d, cutover_error *err)
{
	*out = NULL;
	int rc = co_mkdirs(dir, err);
	if (rc)
		return rc;
	co_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return co_err_oom(err);
	co_buf path = {0};
	co_buf_printf(&path, "%s/%s.journal", dir, cutover_domain_name(d));
	if (path.failed) {
		free(j);
		co_buf_free(&path);
		return co_err_oom(err);
	}
	j->path = path.data;
	j->domain = d;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		co_err(err, CUTOVER_EUNAVAILABLE, "cannot open the %s journal %s: %s", cutover_domain_name(d), j->path,
		       strerror(errno));
		co_err_hint(err, "set CUTOVER_JOURNAL_DIR to a writable directory");
		free(j->path);
		free(j);
		return CUTOVER_EUNAVAILABLE;
	}
	*out = j;
	return CUTOVER_OK;
}

const char *co_journal_path(const co_journal *j)
{
	return j->path;
}

int co_journal_record(co_journal *j, const char *entity, const char *key, const char *op, const char *target,
		      const cutover_error *cause)
{
	char at[40];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return CUTOVER_EINTERNAL;
	cJSON_AddStringToObject(o, "at", cutover_ts_format(cutover_now(), at, sizeof(at)));
	cJSON_AddStringToObject(o, "domain", cutover_domain_name(j->domain));
	cJSON_AddStringToObject(o, "entity", entity);
	cJSON_AddStringToObject(o, "key", key);
	cJSON_AddStringToObject(o, "op", op);
	cJSON_AddStringToObject(o, "target", target);
	if (cause) {
		cJSON_AddStringToObject(o, "code", cutover_code_name(cause->code));
		cJSON_AddStringToObject(o, "error", cause->message);
	}
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return CUTOVER_EINTERNAL;
	size_t n = strlen(text);
	text[n] = '\n'; /* replaces the NUL; we write n + 1 bytes */
	int rc = CUTOVER_OK;
	while (flock(j->fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = CUTOVER_EUNAVAILABLE;
			break;
		}
	if (rc == CUTOVER_OK) {
		ssize_t w = write(j->fd, text, n + 1);
		if (w != (ssize_t)(n + 1) || fdatasync(j->fd) != 0)
			rc = CUTOVER_EUNAVAILABLE;
		flock(j->fd, LOCK_UN);
	}
	free(text);
	if (rc)
		co_log("cannot write the %s journal %s: %s; key of a failed %s write is NOT recorded",
		       cutover_domain_name(j->domain), j->path, strerror(errno), target);
	return rc;
}

void co_journal_close(co_journal *j)
{
	if (!j)
		return;
	close(j->fd);
	free(j->path);
	free(j);
}

int co_journal_count(const char *dir, cutover_domain d, size_t *out, cutover_error *err)
{
	*out = 0;
	co_buf path = {0};
	co_buf_printf(&path, "%s/%s.journal", dir, cutover_domain_name(d));
	if (path.failed)
		return co_err_oom(err);
	FILE *f = fopen(path.data, "r");
	if (!f) {
		int e = errno;
		co_buf_free(&path);
		if (e == ENOENT)
			return CUTOVER_OK;
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal: %s", cutover_domain_name(d), strerror(e));
	}
	int c, prev = '\n';
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n' && prev != '\n')
			(*out)++;
		prev = c;
	}
	fclose(f);
	co_buf_free(&path);
	return CUTOVER_OK;
}
