/* json_store.h — the JSON adapter's internal interface (not installed).
 *
 * SQLite's VFS is the model: the document logic (json_identity.c, ...) is
 * written once over a tiny transport — get a document with a version token,
 * put it only if the version still matches — and a local directory and an
 * HTTP object store are two transports.
 */
#ifndef CUTOVER_JSON_STORE_H
#define CUTOVER_JSON_STORE_H

#include <stdio.h>

#include "co.h"

#define CO_VERSION_LEN 96

typedef struct co_transport co_transport;
typedef struct co_lock co_lock;

/* A new version of a document being written through a file (put_begin). */
typedef struct co_put {
	int fd;          /* writable, positioned at 0 */
	const char *key; /* borrowed from the caller of co_put_begin */
	bool keep;       /* in: a successful commit leaves fd open (the caller
	                  * closes it), its bytes readable at offsets */
	bool exact;      /* out: commit's new_version is the token of exactly
	                  * these bytes (not a later writer's) */
	void *impl;      /* the transport's own */
} co_put;

/* 2: open_read, put_begin, put_commit, put_abort */
#define CO_TRANSPORT_VERSION 2

struct co_transport {
	unsigned version;   /* CO_TRANSPORT_VERSION */
	const char *kind;   /* "local", "http" */
	/* must provide. Key is a relative path like "identity/users.json".
	 * *data is malloc'd and NUL-terminated (len excludes the NUL); version
	 * receives an opaque token. An absent document is CUTOVER_ENOTFOUND. */
	int (*get)(co_transport *t, const char *key, char **data, size_t *len, char version[CO_VERSION_LEN], cutover_error *err);
	/* must provide. if_version NULL: unconditional; "": only if absent;
	 * otherwise only if the current version equals it, else CUTOVER_EBUSY.
	 * new_version (may be NULL) receives the token of what was written. */
	int (*put)(co_transport *t, const char *key, const char *data, size_t len, const char *if_version, char new_version[CO_VERSION_LEN], cutover_error *err);
	/* must provide. Absent is CUTOVER_ENOTFOUND. */
	int (*del)(co_transport *t, const char *key, cutover_error *err);
	/* optional: an exclusive lock shared by every process using this root,
	 * held across a read-modify-write. NULL when the transport cannot lock;
	 * callers then rely on put's if_version and retry. */
	int (*lock)(co_transport *t, const char *name, co_lock **out, cutover_error *err);
	void (*unlock)(co_transport *t, co_lock *l);
	/* optional: a read-only stream of the document, for records read one by
	 * one without holding the document (the operator commands). NULL:
	 * co_transport_stream spools get() into an unlinked temp file. */
	int (*stream)(co_transport *t, const char *key, FILE **out, cutover_error *err);
	/* optional: the keys of the documents directly under prefix (which ends
	 * in '/'), sorted bytewise; names starting with '.' (temp and hidden
	 * files) and subfolders are left out; an absent prefix has none. *keys
	 * is a malloc'd array of malloc'd keys (co_keys_free). NULL: the
	 * transport cannot list, and documents spread over many keys (the
	 * telemetry events) cannot be found through it. */
	int (*list)(co_transport *t, const char *prefix, char ***keys, size_t *n, cutover_error *err);
	/* --- version 2 --- */
	/* optional: the document's bytes for reads at offsets, unless it is
	 * still the version `have` (a token an earlier call returned; NULL or
	 * "": none): then *fd is -1 and version repeats it. Otherwise *fd is a
	 * read-only descriptor of exactly the bytes of `version` (the caller
	 * closes it; the bytes stay readable through it whatever happens to the
	 * document afterwards). Absent is CUTOVER_ENOTFOUND. Local: one stat,
	 * and an open when it changed. HTTP: a conditional GET (If-None-Match
	 * on an ETag, If-Modified-Since on a date) whose 200 body is spooled to
	 * a private temp file (0600, unlinked at once); a 304 costs nothing
	 * more. NULL: co_transport_open_read gets the document and spools it. */
	int (*open_read)(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
	                 cutover_error *err);
	/* optional, all three or none: write a new version through a file.
	 * put_begin hands out p->fd to write the whole new document to;
	 * put_commit makes it the document exactly as put() would with
	 * if_version (CUTOVER_EBUSY when the document changed meanwhile) and
	 * releases p, whatever it returns; put_abort releases p and leaves the
	 * document alone. Local: the temp file beside the document that put()
	 * uses, fsynced and renamed. NULL: co_put_begin spools to a private
	 * temp file and commit hands its bytes to put(). */
	int (*put_begin)(co_transport *t, co_put *p, cutover_error *err);
	int (*put_commit)(co_transport *t, co_put *p, const char *if_version, char new_version[CO_VERSION_LEN],
	                  cutover_error *err);
	void (*put_abort)(co_transport *t, co_put *p);
	/* a description safe to print (credentials redacted) */
	const char *(*describe)(co_transport *t);
	void (*free)(co_transport *t);
};

/* A local directory (created 0700 if missing; files written 0600 through
 * temp file + fsync + rename; locks are flock(2) on files under
 * <root>/.cutover/locks/). */
int co_transport_local(co_transport **out, const char *dir, cutover_error *err);
/* An HTTP object store at a http:// or https:// base URL (transport_http.c):
 * plain GET/PUT/DELETE of <base>/<key>, or the Supabase Storage API when the
 * URL's path contains "/storage/v1/object/". token (may be NULL) is sent as
 * a bearer token and never printed. No lock(): put's if_version is the only
 * guard, and only as strong as the server's If-Match support. */
int co_transport_http(co_transport **out, const char *root, const char *token, cutover_error *err);
/* Picks the transport from the root's form: http(s):// URL or a directory. */
int co_transport_open(co_transport **out, const char *root, const char *token, cutover_error *err);

/* Open a document for streaming reads (t->stream, or get() spooled to a
 * temp file). Absent is CUTOVER_ENOTFOUND. The caller fcloses *out. */
int co_transport_stream(co_transport *t, const char *key, FILE **out, cutover_error *err);
/* t->open_read, or get() spooled into a private temp file (for a transport
 * without it the version check saves no transfer). */
int co_transport_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                           cutover_error *err);
/* Write key through a file: begin (p->fd to write to), then commit or
 * abort (see put_begin). */
int co_put_begin(co_transport *t, const char *key, co_put *p, cutover_error *err);
int co_put_commit(co_transport *t, co_put *p, const char *if_version, char new_version[CO_VERSION_LEN],
                  cutover_error *err);
void co_put_abort(co_transport *t, co_put *p);
/* A private temp file for spooled bytes: 0600, already unlinked (so it goes
 * when the descriptor is closed), in $TMPDIR or /tmp. -1 with err set. */
int co_spool_fd(const char *what, cutover_error *err);
/* write(2) all of it, again after EINTR; false on an error (errno set). */
bool co_write_full(int fd, const char *p, size_t n);
/* Free what list() handed out. */
void co_keys_free(char **keys, size_t n);

/* The rollback guard's marker, "<domain>/.cutover-postgres-stage" (small
 * JSON: {"since": ...}), stage_marker.c. Present while the domain ran in
 * the postgres stage without an export since. */
#define CO_STAGE_MARKER_NAME ".cutover-postgres-stage"
const char *co_stage_marker_key(cutover_domain d, char *buf, size_t len);
/* *exists; *since its time (CUTOVER_TS_NULL when it does not say). Absent
 * is CUTOVER_OK with *exists false; other failures are the transport's. */
int co_stage_marker_get(co_transport *t, cutover_domain d, bool *exists, cutover_ts *since, cutover_error *err);
/* Write it unless it exists (one get; a put only when absent). */
int co_stage_marker_ensure(co_transport *t, cutover_domain d, cutover_ts since, bool *written, cutover_error *err);
/* Remove it; absent is CUTOVER_OK with *removed false. */
int co_stage_marker_remove(co_transport *t, cutover_domain d, bool *removed, cutover_error *err);

/* Identity over a transport; takes ownership of t (also on failure). */
int co_json_identity_new(cutover_identity **out, co_transport *t, cutover_error *err);
/* Internal, for `cutover reconcile` (not in the op table): every session of
 * user_id in identity/sessions.json, in document order. s must be a json
 * identity handle. A session of that user that cannot be read is
 * CUTOVER_ECORRUPT (reconcile must not guess what it holds). */
int co_json_identity_user_sessions(cutover_identity *s, int64_t user_id, co_session_list *out, cutover_error *err);

#endif
