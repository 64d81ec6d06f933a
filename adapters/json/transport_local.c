/* transport_local.c — the JSON transport over a local directory.
 *
 * A key is a relative path under the root. get reads the file and hands back
 * a version token built from fstat of the descriptor it read (inode, mtime
 * with nanoseconds, size): a replaced file gets a new inode, so the token
 * changes whenever the document does. put never rewrites a file in place: it
 * writes a 0600 temp file beside the target, fsyncs it, checks if_version,
 * renames it over the target and fsyncs the directory, so readers see the
 * old or the new document, never half of one. Once the rename is done the
 * put has happened: a failing directory fsync after it is logged as a
 * warning, not returned as an error. The if_version check and the
 * rename are not atomic against other processes; cooperating writers hold
 * lock(), an flock(2) on <root>/.cutover/locks/<name>.lock, across their
 * read-modify-write, and the version check catches writers that do not.
 * list() names the regular files of one folder (telemetry's daily event
 * files), leaving out dot-files: put's temp files and anything hidden.
 *
 * A writer killed in the middle of a put leaves its temp file behind (the
 * document itself is untouched). Readers never take it for state (dot-named,
 * never listed); a later put of the same document removes such leftovers
 * once they are STALE_TMP_SECONDS old and the process named in them is gone
 * from this host, so crashes do not pile up copies of the document. The age
 * keeps a writer on another host sharing the directory (whose pid means
 * nothing here) safe: its temp file is written moments before its rename.
 */
#include "json_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct local_transport {
	co_transport base;
	char *dir; /* no trailing slash (except for "/") */
} local_transport;

struct co_lock {
	int fd;
};

static atomic_uint tmp_counter;

/* How old a dead writer's temp file must be before a put removes it. */
#define STALE_TMP_SECONDS 60

/* --- paths ----------------------------------------------------------------- */

static int check_key(const char *key, cutover_error *err)
{
	if (!key || !*key)
		return co_err(err, CUTOVER_EINVALID, "empty document key");
	if (key[0] == '/')
		return co_err(err, CUTOVER_EINVALID, "document key \"%s\" must be relative to the state root", key);
	for (const char *p = key; *p;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return co_err(err, CUTOVER_EINVALID, "document key \"%s\" has an empty, \".\" or \"..\" component", key);
		p += n;
		if (*p == '/')
			p++;
	}
	if (key[strlen(key) - 1] == '/')
		return co_err(err, CUTOVER_EINVALID, "document key \"%s\" names a directory", key);
	return CUTOVER_OK;
}

static char *join(const char *dir, const char *key)
{
	size_t a = strlen(dir), b = strlen(key);
	bool slash = a > 0 && dir[a - 1] != '/';
	char *p = malloc(a + slash + b + 1);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	if (slash)
		p[a] = '/';
	memcpy(p + a + slash, key, b + 1);
	return p;
}

/* The directory part of a path (malloc'd); "." when there is none. */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return co_strdup(".");
	if (slash == path)
		return co_strdup("/");
	return co_strndup(path, (size_t)(slash - path));
}

static int io_error(cutover_error *err, int e, const char *what, const char *path)
{
	co_err(err, CUTOVER_EUNAVAILABLE, "cannot %s %s: %s", what, path, strerror(e));
	co_err_detail(err, "%s: %s (errno %d)", path, strerror(e), e);
	if (e == EACCES || e == EPERM)
		co_err_hint(err, "check the ownership and permissions of %s", path);
	else if (e == ENOSPC || e == EDQUOT)
		co_err_hint(err, "free some space on the file system holding %s", path);
	return CUTOVER_EUNAVAILABLE;
}

/* device, inode, size, modification and change times: a put replaces the
 * file (new inode), and a tool that rewrites it in place changes the ctime
 * even when it keeps the size and puts an old mtime back */
static void version_of(const struct stat *st, char out[CO_VERSION_LEN])
{
	snprintf(out, CO_VERSION_LEN, "%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino,
	         (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
	         (intmax_t)st->st_ctim.tv_sec, (long)st->st_ctim.tv_nsec);
}

static int fsync_dir(const char *dir, cutover_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return io_error(err, errno, "open directory", dir);
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
		int e = errno;
		close(fd);
		return io_error(err, e, "sync directory", dir);
	}
	close(fd);
	return CUTOVER_OK;
}

/* --- operations ------------------------------------------------------------ */

static int local_stream(co_transport *t, const char *key, FILE **out, cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	*out = NULL;
	int rc = check_key(key, err);
	if (rc != CUTOVER_OK)
		return rc;
	char *path = join(lt->dir, key);
	if (!path)
		return co_err_oom(err);
	FILE *f = fopen(path, "rbe");
	if (!f) {
		int e = errno;
		rc = e == ENOENT ? co_err(err, CUTOVER_ENOTFOUND, "no document %s", path) : io_error(err, e, "open", path);
	}
	free(path);
	*out = f;
	return rc;
}

static int local_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                           cutover_error *err);

/* open_read, then the whole file */
static int local_get(co_transport *t, const char *key, char **data, size_t *len, char version[CO_VERSION_LEN], cutover_error *err)
{
	char v[CO_VERSION_LEN];
	int fd, rc = local_open_read(t, key, NULL, &fd, version ? version : v, err);
	*data = NULL;
	*len = 0;
	if (rc != CUTOVER_OK)
		return rc;
	struct stat st;
	size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return co_err_oom(err);
	}
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = co_err_oom(err);
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			char *path = join(((local_transport *)t)->dir, key);
			rc = io_error(err, e, "read", path ? path : key);
			free(path);
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc != CUTOVER_OK) {
		free(buf);
		if (version)
			version[0] = '\0';
		return rc;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return CUTOVER_OK;
}

/* The writer's pid when name is one of put's temp files of the document
 * base (".<base>.<pid>.<counter>.<nsec>.tmp"), else 0. */
static long temp_file_pid(const char *name, const char *base)
{
	size_t bl = strlen(base), nl = strlen(name);
	if (nl < bl + 2 + 4 || name[0] != '.' || strncmp(name + 1, base, bl) != 0 || name[bl + 1] != '.' ||
	    strcmp(name + nl - 4, ".tmp") != 0)
		return 0;
	const char *p = name + bl + 2, *end = name + nl - 4;
	long pid = 0;
	int fields = 0;
	for (const char *q = p; q < end; fields++) {
		const char *dot = memchr(q, '.', (size_t)(end - q));
		const char *stop = dot ? dot : end;
		if (stop == q)
			return 0;
		for (const char *c = q; c < stop; c++)
			if (*c < '0' || *c > '9')
				return 0;
		if (fields == 0)
			pid = strtol(q, NULL, 10);
		q = dot ? dot + 1 : end;
	}
	return fields == 3 ? pid : 0;
}

/* Remove the temp files of dir/base that writers killed mid-put left:
 * older than STALE_TMP_SECONDS, of a process that no longer exists here.
 * Best effort: nothing here fails the put. */
static void sweep_stale_temps(const char *dir, const char *base)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		long pid = temp_file_pid(de->d_name, base);
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    now - st.st_mtime < STALE_TMP_SECONDS)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			co_log("removed %s/%s, left by writer %ld that ended in the middle of a put", dir, de->d_name, pid);
	}
	closedir(d);
}

/* A put in progress: the temp file beside the document. */
typedef struct local_put_state {
	char *path, *dir, *tmp;
} local_put_state;

static void put_state_free(local_put_state *ps)
{
	if (!ps)
		return;
	free(ps->path);
	free(ps->dir);
	free(ps->tmp);
	free(ps);
}

static int local_put_begin(co_transport *t, co_put *p, cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	local_put_state *ps = NULL;
	int rc = check_key(p->key, err);
	p->fd = -1;
	p->impl = NULL;
	if (rc != CUTOVER_OK)
		return rc;
	if (!(ps = calloc(1, sizeof *ps)) || !(ps->path = join(lt->dir, p->key)) || !(ps->dir = parent_of(ps->path))) {
		put_state_free(ps);
		return co_err_oom(err);
	}
	if ((rc = co_mkdirs(ps->dir, err)) != CUTOVER_OK) {
		put_state_free(ps);
		return rc;
	}
	/* a temp file in the same directory, so rename(2) is atomic */
	const char *base = strrchr(ps->path, '/') + 1;
	size_t tlen = strlen(ps->dir) + strlen(base) + 80;
	if (!(ps->tmp = malloc(tlen))) {
		put_state_free(ps);
		return co_err_oom(err);
	}
	int fd = -1;
	for (int i = 0; i < 100 && fd < 0; i++) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(ps->tmp, tlen, "%s/.%s.%ld.%u.%ld.tmp", ps->dir, base, (long)getpid(),
		         atomic_fetch_add(&tmp_counter, 1u), (long)now.tv_nsec);
		fd = open(ps->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST && errno != EINTR) {
			rc = io_error(err, errno, "create", ps->tmp);
			put_state_free(ps);
			return rc;
		}
	}
	if (fd < 0) {
		rc = io_error(err, EEXIST, "create a temporary file for", ps->path);
		put_state_free(ps);
		return rc;
	}
	if (fchmod(fd, 0600) != 0) { /* whatever the umask did */
		rc = io_error(err, errno, "set the mode of", ps->tmp);
		close(fd);
		unlink(ps->tmp);
		put_state_free(ps);
		return rc;
	}
	p->fd = fd;
	p->impl = ps;
	return CUTOVER_OK;
}

static void local_put_abort(co_transport *t, co_put *p)
{
	local_put_state *ps = p->impl;
	(void)t;
	if (p->fd >= 0)
		close(p->fd);
	if (ps)
		unlink(ps->tmp);
	put_state_free(ps);
	p->fd = -1;
	p->impl = NULL;
}

static int local_put_commit(co_transport *t, co_put *p, const char *if_version, char new_version[CO_VERSION_LEN],
                            cutover_error *err)
{
	local_put_state *ps = p->impl;
	int rc;
	struct stat st;
	if (new_version)
		new_version[0] = '\0';
	if (fsync(p->fd) != 0) {
		rc = io_error(err, errno, "sync", ps->tmp);
		goto fail;
	}
	if (if_version) {
		struct stat cur;
		char curv[CO_VERSION_LEN] = "";
		if (stat(ps->path, &cur) == 0) {
			version_of(&cur, curv);
		} else if (errno != ENOENT) {
			rc = io_error(err, errno, "stat", ps->path);
			goto fail;
		}
		if (strcmp(curv, if_version) != 0) {
			rc = co_err(err, CUTOVER_EBUSY, "%s was changed by another writer", ps->path);
			co_err_detail(err, "%s", if_version[0] ? "the document is not the version that was read"
			                                       : "the document did not exist when it was read");
			goto fail;
		}
	}
	if (rename(ps->tmp, ps->path) != 0) {
		rc = io_error(err, errno, "replace", ps->path);
		goto fail;
	}
	/* after the rename, which changes the inode's ctime: the token a stat of
	 * the document gives from now on */
	p->exact = new_version && fstat(p->fd, &st) == 0;
	if (p->exact)
		version_of(&st, new_version);
	if (!p->keep) {
		close(p->fd);
		p->fd = -1;
	}
	/* The rename happened: readers see the new document, so the put is
	 * done. A failed directory sync only leaves its durability across a
	 * crash in doubt; reporting the put as failed would be wrong (a caller
	 * would retry or journal a write that took place). */
	{
		cutover_error serr;
		cutover_error_clear(&serr);
		if (fsync_dir(ps->dir, &serr) != CUTOVER_OK)
			co_log("warning: %s was replaced, but syncing its directory failed (%s); the change may not "
			       "survive a crash",
			       ps->path, serr.message);
	}
	sweep_stale_temps(ps->dir, strrchr(ps->path, '/') + 1);
	put_state_free(ps);
	p->impl = NULL;
	return CUTOVER_OK;
fail:
	local_put_abort(t, p);
	return rc;
}

static int local_put(co_transport *t, const char *key, const char *data, size_t len, const char *if_version,
                     char new_version[CO_VERSION_LEN], cutover_error *err)
{
	co_put p = {.fd = -1, .key = key};
	if (new_version)
		new_version[0] = '\0';
	int rc = local_put_begin(t, &p, err);
	if (rc != CUTOVER_OK)
		return rc;
	if (!co_write_full(p.fd, data, len)) {
		rc = io_error(err, errno, "write", ((local_put_state *)p.impl)->tmp);
		local_put_abort(t, &p);
		return rc;
	}
	return local_put_commit(t, &p, if_version, new_version, err);
}

/* One stat; an open (and the fstat of what was opened) only when the
 * document is not the version the caller has. */
static int local_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                           cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	struct stat st;
	int rc = check_key(key, err);
	*fd = -1;
	version[0] = '\0';
	if (rc != CUTOVER_OK)
		return rc;
	char *path = join(lt->dir, key);
	if (!path)
		return co_err_oom(err);
	if (have && *have && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		version_of(&st, version);
		if (strcmp(version, have) == 0) {
			free(path);
			return CUTOVER_OK;
		}
	}
	int f;
	do
		f = open(path, O_RDONLY | O_CLOEXEC);
	while (f < 0 && errno == EINTR);
	if (f < 0) {
		int e = errno;
		rc = e == ENOENT || e == ENOTDIR ? co_err(err, CUTOVER_ENOTFOUND, "no document %s", path)
		                                 : io_error(err, e, "open", path);
	} else if (fstat(f, &st) != 0) {
		rc = io_error(err, errno, "stat", path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read %s: not a regular file", path);
	} else {
		version_of(&st, version);
		*fd = f;
		f = -1;
	}
	if (f >= 0)
		close(f);
	free(path);
	return rc;
}

static int local_del(co_transport *t, const char *key, cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	int rc = check_key(key, err);
	if (rc != CUTOVER_OK)
		return rc;
	char *path = join(lt->dir, key);
	char *dir = path ? parent_of(path) : NULL;
	if (!path || !dir) {
		free(path);
		return co_err_oom(err);
	}
	if (unlink(path) != 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR)
			rc = co_err(err, CUTOVER_ENOTFOUND, "no document %s", path);
		else
			rc = io_error(err, e, "delete", path);
	} else {
		rc = fsync_dir(dir, err);
	}
	free(dir);
	free(path);
	return rc;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files directly in the prefix's directory, as keys, sorted. */
static int local_list(co_transport *t, const char *prefix, char ***keys, size_t *n, cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	*keys = NULL;
	*n = 0;
	size_t plen = prefix ? strlen(prefix) : 0;
	if (!plen || prefix[plen - 1] != '/')
		return co_err(err, CUTOVER_EINVALID, "list: prefix \"%s\" must end in '/'", prefix ? prefix : "");
	char *key = co_strndup(prefix, plen - 1);
	int rc = key ? check_key(key, err) : co_err_oom(err);
	char *dir = rc == CUTOVER_OK ? join(lt->dir, key) : NULL;
	free(key);
	if (rc != CUTOVER_OK)
		return rc;
	if (!dir)
		return co_err_oom(err);
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		rc = e == ENOENT || e == ENOTDIR ? CUTOVER_OK : io_error(err, e, "list", dir);
		free(dir);
		return rc;
	}
	char **out = NULL;
	size_t cap = 0, count = 0;
	struct dirent *de;
	while (rc == CUTOVER_OK && (errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *path = join(dir, de->d_name);
		struct stat st;
		bool file = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!file)
			continue;
		if (count == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **grown = realloc(out, nc * sizeof(*grown));
			if (!grown) {
				rc = co_err_oom(err);
				break;
			}
			out = grown;
			cap = nc;
		}
		co_buf k = {0};
		co_buf_printf(&k, "%s%s", prefix, de->d_name);
		if (k.failed || !k.data) {
			co_buf_free(&k);
			rc = co_err_oom(err);
			break;
		}
		out[count++] = k.data;
	}
	if (rc == CUTOVER_OK && errno != 0)
		rc = io_error(err, errno, "list", dir);
	closedir(d);
	free(dir);
	if (rc != CUTOVER_OK) {
		co_keys_free(out, count);
		return rc;
	}
	if (count)
		qsort(out, count, sizeof(*out), key_cmp);
	*keys = out;
	*n = count;
	return CUTOVER_OK;
}

static int local_lock(co_transport *t, const char *name, co_lock **out, cutover_error *err)
{
	local_transport *lt = (local_transport *)t;
	*out = NULL;
	if (!name || !*name || strchr(name, '/') || name[0] == '.')
		return co_err(err, CUTOVER_EINVALID, "bad lock name \"%s\"", name ? name : "");

	co_buf b = {0};
	co_buf_printf(&b, "%s%s.cutover/locks", lt->dir, lt->dir[strlen(lt->dir) - 1] == '/' ? "" : "/");
	size_t dirlen = b.len;
	co_buf_printf(&b, "/%s.lock", name);
	if (b.failed || !b.data) {
		co_buf_free(&b);
		return co_err_oom(err);
	}
	b.data[dirlen] = '\0';
	int rc = co_mkdirs(b.data, err);
	b.data[dirlen] = '/';
	if (rc != CUTOVER_OK) {
		co_buf_free(&b);
		return rc;
	}

	co_lock *l = malloc(sizeof *l);
	if (!l) {
		co_buf_free(&b);
		return co_err_oom(err);
	}
	do
		l->fd = open(b.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	while (l->fd < 0 && errno == EINTR);
	if (l->fd < 0) {
		rc = io_error(err, errno, "open lock file", b.data);
		goto fail;
	}
	while (flock(l->fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			rc = io_error(err, errno, "lock", b.data);
			close(l->fd);
			goto fail;
		}
	}
	co_buf_free(&b);
	*out = l;
	return CUTOVER_OK;
fail:
	free(l);
	co_buf_free(&b);
	return rc;
}

static void local_unlock(co_transport *t, co_lock *l)
{
	(void)t;
	if (!l)
		return;
	flock(l->fd, LOCK_UN);
	close(l->fd);
	free(l);
}

static const char *local_describe(co_transport *t)
{
	return ((local_transport *)t)->dir;
}

static void local_free(co_transport *t)
{
	local_transport *lt = (local_transport *)t;
	if (!lt)
		return;
	free(lt->dir);
	free(lt);
}

int co_transport_local(co_transport **out, const char *dir, cutover_error *err)
{
	*out = NULL;
	if (!dir || !*dir)
		return co_err(err, CUTOVER_ECONFIG, "no JSON state directory given");

	local_transport *lt = calloc(1, sizeof *lt);
	if (!lt || !(lt->dir = co_strdup(dir))) {
		free(lt);
		return co_err_oom(err);
	}
	size_t n = strlen(lt->dir);
	while (n > 1 && lt->dir[n - 1] == '/')
		lt->dir[--n] = '\0';

	int rc = co_mkdirs(lt->dir, err);
	if (rc != CUTOVER_OK) {
		local_free(&lt->base);
		return rc;
	}
	struct stat st;
	if (stat(lt->dir, &st) != 0) {
		rc = io_error(err, errno, "open the JSON state directory", lt->dir);
		local_free(&lt->base);
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = co_err(err, CUTOVER_ECONFIG, "the JSON state root %s is not a directory", lt->dir);
		co_err_hint(err, "point CUTOVER_JSON_ROOT at a directory (or an http(s):// object store URL)");
		local_free(&lt->base);
		return rc;
	}

	lt->base.version = CO_TRANSPORT_VERSION;
	lt->base.kind = "local";
	lt->base.get = local_get;
	lt->base.put = local_put;
	lt->base.del = local_del;
	lt->base.lock = local_lock;
	lt->base.unlock = local_unlock;
	lt->base.describe = local_describe;
	lt->base.stream = local_stream;
	lt->base.list = local_list;
	lt->base.open_read = local_open_read;
	lt->base.put_begin = local_put_begin;
	lt->base.put_commit = local_put_commit;
	lt->base.put_abort = local_put_abort;
	lt->base.free = local_free;
	*out = &lt->base;
	return CUTOVER_OK;
}
