/* transport.c — pick the JSON transport from the form of the state root.
 *
 * The one place that knows every transport: an http:// or https:// root is
 * an object store reached over HTTP, "file://" or a plain path is a local
 * directory. Everything above works with the resulting co_transport only.
 */
#include "json_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int co_transport_open(co_transport **out, const char *root, const char *token, cutover_error *err)
{
	*out = NULL;
	if (!root || !*root) {
		co_err(err, CUTOVER_ECONFIG, "no JSON state root configured");
		co_err_hint(err, "set CUTOVER_JSON_ROOT to a directory or an http(s):// object store URL");
		return CUTOVER_ECONFIG;
	}
	if (strncasecmp(root, "http://", 7) == 0 || strncasecmp(root, "https://", 8) == 0)
		return co_transport_http(out, root, token, err); /* only HTTP roots use the token */
	if (strncasecmp(root, "file://", 7) == 0) {
		root += 7;
		if (!*root) {
			co_err(err, CUTOVER_ECONFIG, "the JSON state root \"file://\" names no directory");
			co_err_hint(err, "write it as file:///path/to/state or just /path/to/state");
			return CUTOVER_ECONFIG;
		}
	}
	return co_transport_local(out, root, err);
}

int co_transport_stream(co_transport *t, const char *key, FILE **out, cutover_error *err)
{
	*out = NULL;
	if (t->stream)
		return t->stream(t, key, out, err);
	char *data = NULL, version[CO_VERSION_LEN];
	size_t len = 0;
	int rc = t->get(t, key, &data, &len, version, err);
	if (rc)
		return rc;
	FILE *f = tmpfile();
	if (!f || fwrite(data, 1, len, f) != len || fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		free(data);
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot spool %s to a temporary file", key);
	}
	free(data);
	*out = f;
	return CUTOVER_OK;
}

int co_spool_fd(const char *what, cutover_error *err)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, sizeof path, "%s/.cutover-spool-XXXXXX", dir);
	int fd = mkostemp(path, O_CLOEXEC); /* 0600 whatever the umask (never changed: it is the process's) */
	if (fd < 0) {
		int e = errno;
		co_err(err, CUTOVER_EUNAVAILABLE, "cannot create a temporary file for %s", what);
		co_err_detail(err, "%s: %s", path, strerror(e));
		co_err_hint(err, "set TMPDIR to a writable directory with room for the document");
		return -1;
	}
	unlink(path); /* private, and gone with the descriptor */
	return fd;
}

bool co_write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

int co_transport_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                           cutover_error *err)
{
	*fd = -1;
	if (t->version >= 2 && t->open_read)
		return t->open_read(t, key, have, fd, version, err);
	char *data = NULL;
	size_t len = 0;
	int rc = t->get(t, key, &data, &len, version, err);
	if (rc != CUTOVER_OK)
		return rc;
	if (have && *have && strcmp(have, version) == 0) {
		free(data);
		return CUTOVER_OK;
	}
	int f = co_spool_fd(key, err);
	if (f < 0) {
		free(data);
		return CUTOVER_EUNAVAILABLE;
	}
	if (!co_write_full(f, data, len)) {
		int e = errno;
		close(f);
		free(data);
		co_err(err, CUTOVER_EUNAVAILABLE, "cannot spool %s to a temporary file", key);
		co_err_detail(err, "%s", strerror(e));
		return CUTOVER_EUNAVAILABLE;
	}
	free(data);
	*fd = f;
	return CUTOVER_OK;
}

int co_put_begin(co_transport *t, const char *key, co_put *p, cutover_error *err)
{
	bool keep = p->keep;
	memset(p, 0, sizeof *p);
	p->fd = -1;
	p->key = key;
	p->keep = keep;
	if (t->version >= 2 && t->put_begin)
		return t->put_begin(t, p, err);
	p->fd = co_spool_fd(key, err);
	return p->fd < 0 ? CUTOVER_EUNAVAILABLE : CUTOVER_OK;
}

int co_put_commit(co_transport *t, co_put *p, const char *if_version, char new_version[CO_VERSION_LEN],
                  cutover_error *err)
{
	if (t->version >= 2 && t->put_commit)
		return t->put_commit(t, p, if_version, new_version, err);
	/* the spooled bytes, whole, through put() */
	struct stat st;
	char *data = NULL;
	int rc = CUTOVER_OK;
	if (fstat(p->fd, &st) != 0 || !(data = malloc((size_t)st.st_size + 1))) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read back the new version of %s", p->key);
	} else {
		size_t n = 0;
		while (n < (size_t)st.st_size) {
			ssize_t r = pread(p->fd, data + n, (size_t)st.st_size - n, (off_t)n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		if (n != (size_t)st.st_size)
			rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot read back the new version of %s", p->key);
		else
			rc = t->put(t, p->key, data, n, if_version, new_version, err);
	}
	free(data);
	p->exact = false; /* put() may have learnt the token from a later request */
	if (rc != CUTOVER_OK || !p->keep) {
		close(p->fd);
		p->fd = -1;
	}
	return rc;
}

void co_put_abort(co_transport *t, co_put *p)
{
	if (t->version >= 2 && t->put_abort) {
		t->put_abort(t, p);
		return;
	}
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void co_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
}
