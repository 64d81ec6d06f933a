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

/* Reading a journal takes memory by distinct key, not by entry: the file is
 * streamed line by line (64 KiB at a time), each line parsed and dropped;
 * a snapshot keeps each (entity, key) once, with its counts, and one small
 * index per entry; status keeps only a 64-bit hash per key. A rewrite
 * streams the file again and copies the kept lines. */

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

/* Lines of a file from its current offset, at most limit bytes. */
typedef struct line_reader {
	int fd;
	uint64_t left;  /* bytes still to read */
	char buf[65536];
	size_t pos, len;
	co_buf line;    /* a line that spans two reads */
	bool eof;
} line_reader;

static void reader_init(line_reader *lr, int fd, uint64_t limit)
{
	lr->fd = fd;
	lr->left = limit;
	lr->pos = lr->len = 0;
	memset(&lr->line, 0, sizeof(lr->line));
	lr->eof = false;
}

static void reader_free(line_reader *lr)
{
	co_buf_free(&lr->line);
}

/* The next line (without its newline; *nl says whether one ended it): 1,
 * 0 at the end, -1 on a read error or out of memory (errno set). The
 * bytes stay valid until the next call. */
static int next_line(line_reader *lr, const char **p, size_t *n, bool *nl)
{
	lr->line.len = 0;
	for (;;) {
		if (lr->pos < lr->len) {
			const char *at = lr->buf + lr->pos;
			size_t avail = lr->len - lr->pos;
			const char *end = memchr(at, '\n', avail);
			if (end && lr->line.len == 0) {
				*p = at;
				*n = (size_t)(end - at);
				*nl = true;
				lr->pos += *n + 1;
				return 1;
			}
			size_t take = end ? (size_t)(end - at) : avail;
			co_buf_put(&lr->line, at, take);
			lr->pos += take + (end ? 1 : 0);
			if (lr->line.failed) {
				errno = ENOMEM;
				return -1;
			}
			if (end) {
				*p = lr->line.data;
				*n = lr->line.len;
				*nl = true;
				return 1;
			}
		}
		if (lr->eof || lr->left == 0) {
			lr->eof = true;
			if (lr->line.len == 0)
				return 0;
			*p = lr->line.data;
			*n = lr->line.len;
			*nl = false;
			lr->line.len = 0;
			lr->pos = lr->len;
			return lr->line.data ? 1 : 0;
		}
		size_t want = sizeof(lr->buf);
		if (lr->left < want)
			want = (size_t)lr->left;
		ssize_t r = read(lr->fd, lr->buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		lr->pos = 0;
		lr->len = (size_t)r;
		lr->left -= (uint64_t)r;
		if (r == 0)
			lr->eof = true;
	}
}

static bool blank(const char *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != ' ' && p[k] != '\t' && p[k] != '\r')
			return false;
	return true;
}

/* One entry, parsed: the fields point into o (freed by entry_done). */
typedef struct entry {
	cJSON *o;
	const char *entity, *key;
	bool to_json;
	const char *why; /* NULL when it can be read */
} entry;

static const char *str_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static void entry_parse(entry *e, const char *line, size_t len, cutover_domain d)
{
	memset(e, 0, sizeof(*e));
	e->o = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(e->o)) {
		e->why = "not a JSON object";
		return;
	}
	const char *domain = str_field(e->o, "domain"), *target = str_field(e->o, "target");
	e->entity = str_field(e->o, "entity");
	e->key = str_field(e->o, "key");
	if (!domain || strcmp(domain, cutover_domain_name(d)) != 0)
		e->why = "its domain is not this journal's";
	else if (!e->entity || !*e->entity)
		e->why = "no entity";
	else if (!e->key || !*e->key)
		e->why = "no key";
	else if (!target || (strcmp(target, "json") != 0 && strcmp(target, "postgres") != 0))
		e->why = "its target is neither json nor postgres";
	else
		e->to_json = strcmp(target, "json") == 0;
}

static void entry_done(entry *e)
{
	cJSON_Delete(e->o);
	e->o = NULL;
}

/* FNV-1a over entity, a NUL, key. */
static uint64_t key_hash(const char *entity, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *c = entity; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return h;
}

/* Open the journal and take the size it had under a shared lock: every
 * entry is written in one write(2) under the exclusive lock, so the bytes
 * up to that size are whole entries, and stay as they are (apps only
 * append; a rewrite replaces the file, not its bytes). fd < 0 and 0 when
 * there is no journal. */
static int open_for_reading(const char *path, cutover_domain d, int *fd_out, struct stat *sb, cutover_error *err)
{
	*fd_out = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CUTOVER_OK;
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", cutover_domain_name(d),
			      path, strerror(errno));
	}
	if (flock_retry(fd, LOCK_SH) != 0 || fstat(fd, sb) != 0) {
		int e = errno;
		close(fd);
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", cutover_domain_name(d),
			      path, strerror(e));
	}
	flock(fd, LOCK_UN);
	*fd_out = fd;
	return CUTOVER_OK;
}

/* --- the snapshot: each key once ---------------------------------------------- */

/* Its index in s->keys of (entity, key), or of a new key; SIZE_MAX when out of memory. */
static size_t snap_key(co_journal_snapshot *s, const char *entity, const char *key)
{
	if (s->n_keys == UINT32_MAX)
		return SIZE_MAX;
	uint64_t h = entity ? key_hash(entity, key) : 0;
	size_t mask = s->n_slots - 1, at = 0;
	if (entity && s->n_slots) {
		for (at = (size_t)h & mask; s->slots[at]; at = (at + 1) & mask) {
			const co_journal_key *k = &s->keys[s->slots[at] - 1];
			if (strcmp(k->entity, entity) == 0 && strcmp(k->key, key) == 0)
				return s->slots[at] - 1;
		}
	}
	if (s->n_keys == s->cap_keys) {
		size_t c = s->cap_keys ? s->cap_keys * 2 : 64;
		co_journal_key *grown = realloc(s->keys, c * sizeof(*grown));
		if (!grown)
			return SIZE_MAX;
		s->keys = grown;
		s->cap_keys = c;
	}
	co_journal_key *k = &s->keys[s->n_keys];
	memset(k, 0, sizeof(*k));
	if (entity) {
		size_t le = strlen(entity) + 1, lk = strlen(key) + 1;
		char *text = malloc(le + lk);
		if (!text)
			return SIZE_MAX;
		memcpy(text, entity, le);
		memcpy(text + le, key, lk);
		k->entity = text;
		k->key = text + le;
		if ((s->n_keys + 1) * 2 > s->n_slots) {
			/* grow the table (a power of two, at most half full) and put every key back */
			size_t ns = s->n_slots ? s->n_slots * 2 : 128;
			uint32_t *slots = calloc(ns, sizeof(*slots));
			if (!slots) {
				free(text);
				k->entity = k->key = NULL;
				return SIZE_MAX;
			}
			free(s->slots);
			s->slots = slots;
			s->n_slots = ns;
			mask = ns - 1;
			for (size_t i = 0; i < s->n_keys; i++) {
				if (!s->keys[i].entity)
					continue;
				size_t a = (size_t)key_hash(s->keys[i].entity, s->keys[i].key) & mask;
				while (s->slots[a])
					a = (a + 1) & mask;
				s->slots[a] = (uint32_t)(i + 1);
			}
			for (at = (size_t)h & mask; s->slots[at]; at = (at + 1) & mask)
				;
		}
		s->slots[at] = (uint32_t)(s->n_keys + 1);
	}
	return s->n_keys++;
}

/* Count one entry into the snapshot. */
static int snap_add(co_journal_snapshot *s, const entry *e)
{
	if (s->n == s->cap_entries) {
		size_t c = s->cap_entries ? s->cap_entries * 2 : 64;
		uint32_t *grown = realloc(s->entry_key, c * sizeof(*grown));
		if (!grown)
			return CUTOVER_EINTERNAL;
		s->entry_key = grown;
		s->cap_entries = c;
	}
	/* an entry that cannot be read is a key of its own */
	size_t ki = e->why ? snap_key(s, NULL, NULL) : snap_key(s, e->entity, e->key);
	if (ki == SIZE_MAX)
		return CUTOVER_EINTERNAL;
	co_journal_key *k = &s->keys[ki];
	if (k->entries++ == 0)
		k->first = s->n + 1;
	if (e->why)
		k->why = e->why;
	else if (e->to_json)
		k->to_json = true;
	else
		k->to_pg = true;
	s->entry_key[s->n++] = (uint32_t)ki;
	return CUTOVER_OK;
}

void co_journal_snapshot_free(co_journal_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_keys; i++)
		free((char *)s->keys[i].entity); /* entity and key share one allocation */
	free(s->keys);
	free(s->entry_key);
	free(s->slots);
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

/* Calls take on every entry of the journal at path (fd, read up to end), blank
 * lines skipped, until it returns other than CUTOVER_OK; a read error is
 * reported here. */
static int each_entry(int fd, uint64_t end, const char *path, cutover_domain d,
		      int (*take)(void *ctx, const entry *e, cutover_error *err), void *ctx, cutover_error *err)
{
	line_reader *lr = malloc(sizeof(*lr));
	if (!lr)
		return co_err_oom(err);
	reader_init(lr, fd, end);
	const char *p;
	size_t n;
	bool nl;
	int rc = CUTOVER_OK;
	while (rc == CUTOVER_OK && (rc = next_line(lr, &p, &n, &nl)) == 1) {
		rc = CUTOVER_OK;
		if (blank(p, n))
			continue;
		entry e;
		entry_parse(&e, p, n, d);
		rc = take(ctx, &e, err);
		entry_done(&e);
	}
	if (rc < 0)
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read the %s journal %s: %s", cutover_domain_name(d), path,
			    strerror(errno));
	reader_free(lr);
	free(lr);
	return rc;
}

static int snap_take(void *ctx, const entry *e, cutover_error *err)
{
	return snap_add(ctx, e) == CUTOVER_OK ? CUTOVER_OK : co_err_oom(err);
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
	int fd;
	if ((rc = open_for_reading(out->path, d, &fd, &sb, err)) || fd < 0)
		return rc;
	out->dev = (uint64_t)sb.st_dev;
	out->ino = (uint64_t)sb.st_ino;
	out->end = (uint64_t)sb.st_size;
	rc = each_entry(fd, out->end, out->path, d, snap_take, out, err);
	close(fd);
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

/* Buffered writes to the temp file. */
typedef struct out_file {
	int fd;
	co_buf b;
	bool failed; /* errno says why */
} out_file;

static void out_flush(out_file *o)
{
	for (size_t at = 0; !o->failed && at < o->b.len;) {
		ssize_t w = write(o->fd, o->b.data + at, o->b.len - at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			o->failed = true;
		} else {
			at += (size_t)w;
		}
	}
	o->b.len = 0;
}

static void out_put(out_file *o, const char *p, size_t n)
{
	if (o->failed)
		return;
	co_buf_put(&o->b, p, n);
	if (o->b.failed) {
		errno = ENOMEM;
		o->failed = true;
	} else if (o->b.len >= 65536) {
		out_flush(o);
	}
}

/* Copy the snapshot's kept entries (bytes 0..end of fd, read again) and
 * every byte appended since to o; *n_kept counts the entries written. */
static int copy_kept(co_journal_snapshot *s, const bool *keep, int fd, out_file *o, size_t *n_kept)
{
	line_reader *lr = malloc(sizeof(*lr));
	if (!lr) {
		errno = ENOMEM;
		return -1;
	}
	reader_init(lr, fd, s->end);
	const char *p;
	size_t n, i = 0;
	bool nl;
	int r;
	while ((r = next_line(lr, &p, &n, &nl)) == 1) {
		if (blank(p, n))
			continue;
		if (i >= s->n) {
			errno = ESTALE; /* more entries than were read: not the file the snapshot read */
			r = -1;
			break;
		}
		if (keep[s->entry_key[i++]]) {
			out_put(o, p, n);
			out_put(o, "\n", 1);
			(*n_kept)++;
		}
	}
	if (r == 0 && i != s->n) {
		errno = ESTALE;
		r = -1;
	}
	/* the entries appended since the snapshot (an app's second write that failed meanwhile), as they are */
	char last = '\n';
	for (; r == 0 && !o->failed;) {
		ssize_t got = read(fd, lr->buf, sizeof(lr->buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -1;
		if (got <= 0)
			break;
		out_put(o, lr->buf, (size_t)got);
		for (ssize_t k = 0; k < got; k++)
			*n_kept += lr->buf[k] == '\n';
		last = lr->buf[got - 1];
	}
	if (r == 0 && last != '\n') {
		out_put(o, "\n", 1);
		(*n_kept)++;
	}
	reader_free(lr);
	free(lr);
	if (r == 0)
		out_flush(o);
	return r == 0 && !o->failed ? 0 : -1;
}

int co_journal_rewrite(co_journal_snapshot *s, const bool *keep, size_t *kept, cutover_error *err)
{
	const char *dname = cutover_domain_name(s->domain);
	if (kept)
		*kept = 0;
	bool removes = false;
	for (size_t i = 0; i < s->n_keys && !removes; i++)
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
	char *tmp = NULL;
	int tfd = -1;
	out_file o = {.fd = -1};
	if (flock_retry(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot lock the %s journal %s: %s", dname, s->path,
			    strerror(errno));
		goto out;
	}
	if ((uint64_t)sb.st_dev != s->dev || (uint64_t)sb.st_ino != s->ino || (uint64_t)sb.st_size < s->end) {
		rc = co_err(err, CUTOVER_ESTATE, "the %s journal %s was replaced while reconcile ran", dname, s->path);
		co_err_hint(err, "nothing was removed from it; run `cutover reconcile %s` again", dname);
		goto out;
	}
	co_buf tp = {0};
	const char *slash = strrchr(s->path, '/');
	co_buf_printf(&tp, "%.*s.%s.journal.XXXXXX", slash ? (int)(slash - s->path + 1) : 0, s->path, dname);
	if (tp.failed) {
		co_buf_free(&tp);
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
	size_t n_kept = 0;
	o.fd = tfd;
	bool written = tfd >= 0 && fchmod(tfd, sb.st_mode & 0777) == 0;
	if (written && copy_kept(s, keep, fd, &o, &n_kept) != 0) {
		written = false;
		if (errno == ESTALE) {
			unlink(tmp);
			rc = co_err(err, CUTOVER_ESTATE, "the %s journal %s changed under reconcile (its entries are not "
							 "the ones read)",
				    dname, s->path);
			co_err_hint(err, "nothing was removed from it; run `cutover reconcile %s` again", dname);
			goto out;
		}
	}
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
	co_buf_free(&o.b);
	close(fd); /* releases the old file's lock: a waiting app finds the new file ... */
	if (tfd >= 0)
		close(tfd); /* ... and, once this releases the new file's lock, appends to it */
	free(tmp);
	return rc;
}

/* --- status: how many keys --------------------------------------------------------- */

/* A set of 64-bit key hashes (0 stands for itself as 1). */
typedef struct hash_set {
	uint64_t *slots;
	size_t n, cap;
} hash_set;

static bool set_add(hash_set *hs, uint64_t h)
{
	if (!h)
		h = 1;
	if ((hs->n + 1) * 2 > hs->cap) {
		size_t nc = hs->cap ? hs->cap * 2 : 1024;
		uint64_t *slots = calloc(nc, sizeof(*slots));
		if (!slots)
			return false;
		for (size_t i = 0; i < hs->cap; i++) {
			if (!hs->slots[i])
				continue;
			size_t a = (size_t)hs->slots[i] & (nc - 1);
			while (slots[a])
				a = (a + 1) & (nc - 1);
			slots[a] = hs->slots[i];
		}
		free(hs->slots);
		hs->slots = slots;
		hs->cap = nc;
	}
	size_t a = (size_t)h & (hs->cap - 1);
	for (; hs->slots[a]; a = (a + 1) & (hs->cap - 1))
		if (hs->slots[a] == h)
			return true;
	hs->slots[a] = h;
	hs->n++;
	return true;
}

typedef struct key_count {
	hash_set keys;
	size_t unreadable;
} key_count;

static int count_take(void *ctx, const entry *e, cutover_error *err)
{
	key_count *kc = ctx;
	if (e->why)
		kc->unreadable++; /* an entry that cannot be read counts as one key */
	else if (!set_add(&kc->keys, key_hash(e->entity, e->key)))
		return co_err_oom(err);
	return CUTOVER_OK;
}

int co_journal_count(const char *dir, cutover_domain d, size_t *out, cutover_error *err)
{
	*out = 0;
	char *path = journal_path(dir, d);
	if (!path)
		return co_err_oom(err);
	int fd;
	struct stat sb;
	int rc = open_for_reading(path, d, &fd, &sb, err);
	if (rc || fd < 0) {
		free(path);
		return rc;
	}
	key_count kc = {0};
	rc = each_entry(fd, (uint64_t)sb.st_size, path, d, count_take, &kc, err);
	if (rc == CUTOVER_OK)
		*out = kc.keys.n + kc.unreadable;
	free(kc.keys.slots);
	free(path);
	close(fd);
	return rc;
}
