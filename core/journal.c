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
 * Reconcile removes what it repaired by writing the entries it keeps, and
 * every entry appended since it read the journal, to a temp file and
 * renaming it over the journal, all under the old file's exclusive lock;
 * the new file is locked too from before the rename until the directory is
 * synced, so nothing is appended to it while a crash could undo the rename.
 * An app process keeps its journal open for its lifetime, so before every
 * append it checks, under the lock, that its descriptor is still the file
 * the path names, and reopens the path when it is not: an entry is never
 * appended to a replaced (unlinked) journal.
 *
 * The file is state, not a log: it holds real keys (a session's key is its
 * token hash), which is why it is private to the owner and why nothing prints
 * it; reports name keys through the redaction helper.
 */
#include <dirent.h>
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

static int flock_retry(int fd, int op)
{
	while (flock(fd, op) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Take the exclusive lock of the file the path names now. A reconcile
 * replaces the journal (temp file + rename) while holding the old file's
 * lock; a process still holding the old file finds, once it gets that lock,
 * that the path names another file, and reopens it. */
static int lock_current(co_journal *j)
{
	for (int tries = 0; tries < 16; tries++) {
		if (flock_retry(j->fd, LOCK_EX) != 0)
			return -1;
		struct stat held, named;
		if (fstat(j->fd, &held) == 0 && stat(j->path, &named) == 0 && held.st_dev == named.st_dev &&
		    held.st_ino == named.st_ino)
			return 0;
		flock(j->fd, LOCK_UN);
		int fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		close(j->fd);
		j->fd = fd;
	}
	errno = EAGAIN;
	return -1;
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
	int rc = lock_current(j) == 0 ? CUTOVER_OK : CUTOVER_EUNAVAILABLE;
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

/* --- reading back and rewriting (reconcile, status) ---------------------- */

static char *journal_path(const char *dir, cutover_domain d)
{
	co_buf path = {0};
	co_buf_printf(&path, "%s/%s.journal", dir, cutover_domain_name(d));
	if (path.failed) {
		co_buf_free(&path);
		return NULL;
	}
	return path.data;
}

static void entry_clear(co_journal_entry *e)
{
	free(e->line);
	free(e->at);
	free(e->entity);
	free(e->key);
	free(e->op);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

/* A string field of an entry: a malloc'd copy, NULL when absent or not a
 * string (*oom set when the copy failed). */
static char *field(const cJSON *o, const char *name, bool *oom)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsString(v) || !v->valuestring)
		return NULL;
	char *c = co_strdup(v->valuestring);
	if (!c)
		*oom = true;
	return c;
}

/* Parse one line into e (which owns line). An entry that cannot be read is
 * kept with ok false and why set; only running out of memory fails. */
static int entry_parse(co_journal_entry *e, cutover_domain d)
{
	cJSON *o = cJSON_ParseWithLength(e->line, e->len);
	bool oom = false;
	if (!cJSON_IsObject(o)) {
		snprintf(e->why, sizeof(e->why), "not a JSON object");
		cJSON_Delete(o);
		return CUTOVER_OK;
	}
	char *domain = field(o, "domain", &oom);
	e->at = field(o, "at", &oom);
	e->entity = field(o, "entity", &oom);
	e->key = field(o, "key", &oom);
	e->op = field(o, "op", &oom);
	e->target = field(o, "target", &oom);
	cJSON_Delete(o);
	if (oom) {
		free(domain);
		return CUTOVER_EINTERNAL;
	}
	if (!domain || strcmp(domain, cutover_domain_name(d)) != 0)
		snprintf(e->why, sizeof(e->why), "its domain is not %s", cutover_domain_name(d));
	else if (!e->entity || !*e->entity)
		snprintf(e->why, sizeof(e->why), "no entity");
	else if (!e->key || !*e->key)
		snprintf(e->why, sizeof(e->why), "no key");
	else if (!e->target || (strcmp(e->target, "json") != 0 && strcmp(e->target, "postgres") != 0))
		snprintf(e->why, sizeof(e->why), "its target is neither json nor postgres");
	else
		e->ok = true;
	free(domain);
	return CUTOVER_OK;
}

static int add_entry(co_journal_snapshot *s, const char *line, size_t len, size_t *cap)
{
	if (s->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		co_journal_entry *grown = realloc(s->items, c * sizeof(*grown));
		if (!grown)
			return CUTOVER_EINTERNAL;
		s->items = grown;
		*cap = c;
	}
	co_journal_entry *e = &s->items[s->n];
	memset(e, 0, sizeof(*e));
	if (!(e->line = co_strndup(line, len)))
		return CUTOVER_EINTERNAL;
	e->len = len;
	s->n++;
	return entry_parse(e, s->domain);
}

/* Every byte of fd from its current offset; *data malloc'd (NULL when none). */
static int read_rest(int fd, char **data, size_t *len)
{
	co_buf b = {0};
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			co_buf_free(&b);
			return -1;
		}
		if (r == 0)
			break;
		co_buf_put(&b, buf, (size_t)r);
	}
	if (b.failed) {
		co_buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	*data = b.data;
	*len = b.len;
	return 0;
}

void co_journal_snapshot_free(co_journal_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		entry_clear(&s->items[i]);
	free(s->items);
	free(s->path);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the reconcile lock */
	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
}

static int take_reconcile_lock(const char *dir, cutover_domain d, int *out, cutover_error *err)
{
	int rc = co_mkdirs(dir, err);
	if (rc)
		return rc;
	co_buf p = {0};
	co_buf_printf(&p, "%s/.%s.reconcile.lock", dir, cutover_domain_name(d));
	if (p.failed) {
		co_buf_free(&p);
		return co_err_oom(err);
	}
	int fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		co_err(err, CUTOVER_EUNAVAILABLE, "cannot open the reconcile lock %s: %s", p.data, strerror(errno));
		co_err_hint(err, "set CUTOVER_JOURNAL_DIR to a writable directory");
		co_buf_free(&p);
		return CUTOVER_EUNAVAILABLE;
	}
	co_buf_free(&p);
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			co_err(err, CUTOVER_EBUSY, "another `cutover reconcile %s` is running", cutover_domain_name(d));
			co_err_hint(err, "wait for it to finish, then run this one again");
			return CUTOVER_EBUSY;
		}
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot lock the %s reconcile lock: %s", cutover_domain_name(d),
			      strerror(e));
	}
	*out = fd;
	return CUTOVER_OK;
}

/* Remove the temp files (.<domain>.journal.XXXXXX) a reconcile killed
 * mid-rewrite left behind: they hold copies of journal entries (token
 * hashes among them) that nothing would ever read or remove. Only a
 * reconcile makes them, so under the reconcile lock none is in use. */
static void remove_stale_temps(const char *dir, cutover_domain d)
{
	char prefix[64];
	int np = snprintf(prefix, sizeof(prefix), ".%s.journal.", cutover_domain_name(d));
	DIR *dh = opendir(dir);
	if (!dh)
		return;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL) {
		const char *name = de->d_name;
		if (strncmp(name, prefix, (size_t)np) != 0 || strlen(name + np) != 6)
			continue;
		bool temp = true;
		for (const char *c = name + np; *c && temp; c++)
			temp = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
		if (!temp)
			continue;
		if (unlinkat(dirfd(dh), name, 0) == 0)
			co_log("journal: removed %s/%s, a temp file an interrupted reconcile left", dir, name);
		else
			co_log("journal: cannot remove %s/%s, a temp file an interrupted reconcile left: %s", dir, name,
			       strerror(errno));
	}
	closedir(dh);
}

int co_journal_read(const char *dir, cutover_domain d, bool reconcile_lock, co_journal_snapshot *out,
		    cutover_error *err)
{
	memset(out, 0, sizeof(*out));
	out->lock_fd = -1;
	out->domain = d;
	if (!(out->path = journal_path(dir, d)))
		return co_err_oom(err);
	int rc;
	struct stat sb;
	if (reconcile_lock && stat(dir, &sb) != 0 && errno == ENOENT)
		return CUTOVER_OK; /* no journal directory: nothing to reconcile, nothing created */
	if (reconcile_lock && (rc = take_reconcile_lock(dir, d, &out->lock_fd, err)))
		return rc;
	if (reconcile_lock)
		remove_stale_temps(dir, d);
	int fd = open(out->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CUTOVER_OK;
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", cutover_domain_name(d),
			      out->path, strerror(errno));
	}
	char *data = NULL;
	size_t len = 0;
	if (flock_retry(fd, LOCK_SH) != 0 || fstat(fd, &sb) != 0 || read_rest(fd, &data, &len) != 0) {
		int e = errno;
		close(fd);
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", cutover_domain_name(d),
			      out->path, strerror(e));
	}
	close(fd); /* releases the shared lock */
	out->dev = (uint64_t)sb.st_dev;
	out->ino = (uint64_t)sb.st_ino;
	out->end = len;
	size_t cap = 0;
	rc = CUTOVER_OK;
	for (size_t at = 0; rc == CUTOVER_OK && at < len;) {
		const char *nl = memchr(data + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (data + at)) : len - at;
		bool blank = true;
		for (size_t k = 0; k < n && blank; k++)
			blank = data[at + k] == ' ' || data[at + k] == '\t' || data[at + k] == '\r';
		if (!blank && add_entry(out, data + at, n, &cap) != CUTOVER_OK)
			rc = co_err_oom(err);
		at += n + (nl ? 1 : 0);
	}
	free(data);
	return rc;
}

/* fsync the directory holding path (so a rename is durable); -1 with errno
 * set when it cannot be opened or synced. */
static int sync_dir_of(const char *path)
{
	char *dir = co_strdup(path);
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int fd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	int e = errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	errno = e;
	return rc;
}

int co_journal_rewrite(co_journal_snapshot *s, const bool *keep, size_t *kept, cutover_error *err)
{
	const char *dname = cutover_domain_name(s->domain);
	if (kept)
		*kept = 0;
	bool removes = false;
	for (size_t i = 0; i < s->n && !removes; i++)
		removes = !keep[i];
	if (!removes) {
		/* nothing to remove: the journal stays the very file it is */
		if (kept)
			*kept = s->n;
		return CUTOVER_OK;
	}
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && s->ino == 0)
		return CUTOVER_OK; /* there was no journal and there is none */
	if (fd < 0)
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot open the %s journal %s: %s", dname, s->path,
			      strerror(errno));
	struct stat sb;
	int rc = CUTOVER_OK;
	char *tail = NULL, *tmp = NULL;
	size_t tail_len = 0;
	int tfd = -1;
	if (flock_retry(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot lock the %s journal %s: %s", dname, s->path,
			    strerror(errno));
		goto out;
	}
	if (s->ino != 0 && ((uint64_t)sb.st_dev != s->dev || (uint64_t)sb.st_ino != s->ino ||
			    (uint64_t)sb.st_size < s->end)) {
		rc = co_err(err, CUTOVER_ESTATE, "the %s journal %s was replaced while reconcile ran", dname, s->path);
		co_err_hint(err, "nothing was removed from it; run `cutover reconcile %s` again", dname);
		goto out;
	}
	/* entries appended since the snapshot (an app's second write that failed meanwhile) */
	if (s->ino != 0 && lseek(fd, (off_t)s->end, SEEK_SET) < 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", dname, s->path,
			    strerror(errno));
		goto out;
	}
	if (read_rest(fd, &tail, &tail_len) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", dname, s->path,
			    strerror(errno));
		goto out;
	}
	co_buf text = {0};
	size_t n_kept = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!keep[i])
			continue;
		co_buf_put(&text, s->items[i].line, s->items[i].len);
		co_buf_put(&text, "\n", 1);
		n_kept++;
	}
	if (tail_len) {
		co_buf_put(&text, tail, tail_len);
		if (tail[tail_len - 1] != '\n')
			co_buf_put(&text, "\n", 1);
		for (size_t k = 0; k < tail_len; k++)
			n_kept += tail[k] == '\n';
		n_kept += tail[tail_len - 1] != '\n';
	}
	if (text.failed) {
		co_buf_free(&text);
		rc = co_err_oom(err);
		goto out;
	}
	co_buf tp = {0};
	const char *slash = strrchr(s->path, '/');
	co_buf_printf(&tp, "%.*s.%s.journal.XXXXXX", slash ? (int)(slash - s->path + 1) : 0, s->path, dname);
	if (tp.failed) {
		co_buf_free(&tp);
		co_buf_free(&text);
		rc = co_err_oom(err);
		goto out;
	}
	tmp = tp.data;
	tfd = mkstemp(tmp);
	/* The new file is the journal apps append to: it keeps the old file's
	 * owner and mode. Run as root over an app-owned journal, a rewrite
	 * must not hand the file to root (the apps could no longer append,
	 * and their failed second writes would go unrecorded). */
	if (tfd >= 0 && (sb.st_uid != geteuid() || sb.st_gid != getegid()) &&
	    fchown(tfd, sb.st_uid, sb.st_gid) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE,
			    "cannot give the rewritten %s journal to its owner (uid %u, gid %u): %s", dname,
			    (unsigned)sb.st_uid, (unsigned)sb.st_gid, strerror(errno));
		co_err_detail(err, "%s", s->path);
		co_err_hint(err, "nothing was removed from it; run `cutover reconcile %s --apply` as the user that "
				 "owns the journal (or as root)",
			    dname);
		unlink(tmp);
		goto out;
	}
	bool written = tfd >= 0 && fchmod(tfd, sb.st_mode & 0777) == 0;
	for (size_t at = 0; written && at < text.len;) {
		ssize_t w = write(tfd, text.data + at, text.len - at);
		if (w < 0 && errno == EINTR)
			continue;
		written = w > 0;
		if (written)
			at += (size_t)w;
	}
	co_buf_free(&text);
	/* The new file is locked before it takes the journal's name and until
	 * the directory is synced: an app that opens the path meanwhile waits,
	 * so no entry is appended to a rename a crash could still undo. */
	if (!written || fsync(tfd) != 0 || flock_retry(tfd, LOCK_EX) != 0 || rename(tmp, s->path) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot rewrite the %s journal %s: %s", dname, s->path,
			    strerror(errno));
		co_err_hint(err, "nothing was removed from it; check the disk and run `cutover reconcile %s` again", dname);
		if (tfd >= 0)
			unlink(tmp);
		goto out;
	}
	if (kept)
		*kept = n_kept;
	if (sync_dir_of(s->path) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot sync the directory of the %s journal %s: %s", dname,
			    s->path, strerror(errno));
		co_err_detail(err, "the journal was rewritten (the kept entries are in it), but a crash could still "
				   "bring back the entries it removed");
		co_err_hint(err, "check the disk; running `cutover reconcile %s --apply` again removes them again", dname);
	}
out:
	close(fd); /* releases the old file's lock: a waiting app finds the new file ... */
	if (tfd >= 0)
		close(tfd); /* ... and, once this releases the new file's lock, appends to it */
	free(tmp);
	free(tail);
	return rc;
}

static int by_entity_key(const void *a, const void *b)
{
	const co_journal_entry *x = *(const co_journal_entry *const *)a, *y = *(const co_journal_entry *const *)b;
	int c = strcmp(x->entity, y->entity);
	return c ? c : strcmp(x->key, y->key);
}

int co_journal_count(const char *dir, cutover_domain d, size_t *out, cutover_error *err)
{
	*out = 0;
	co_journal_snapshot s;
	int rc = co_journal_read(dir, d, false, &s, err);
	const co_journal_entry **ok = rc || !s.n ? NULL : malloc(s.n * sizeof(*ok));
	if (!rc && s.n && !ok)
		rc = co_err_oom(err);
	if (rc) {
		co_journal_snapshot_free(&s);
		return rc;
	}
	size_t n_ok = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (s.items[i].ok)
			ok[n_ok++] = &s.items[i];
		else
			(*out)++; /* an entry that cannot be read counts as one key */
	}
	if (n_ok)
		qsort(ok, n_ok, sizeof(*ok), by_entity_key);
	for (size_t i = 0; i < n_ok; i++)
		*out += i == 0 || by_entity_key(&ok[i - 1], &ok[i]) != 0;
	free(ok);
	co_journal_snapshot_free(&s);
	return CUTOVER_OK;
}
