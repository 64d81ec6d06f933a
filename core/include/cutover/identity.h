/* cutover/identity.h — the identity domain: users, oauth links, sessions.
 *
 * One interface, several implementations (libgit2's refdb backends are the
 * model): `cutover_identity` is a versioned table of operations. The json
 * backend, the postgres backend and the stage router all fill the same table,
 * so an app holds a `cutover_identity *` and never knows which stage it is in.
 *
 * Apps call the cutover_identity_* functions below, not the table directly:
 * they validate and normalise input once (so every backend sees the same
 * values), resolve "now", and check the table's version.
 *
 * Ownership: every record handed out through an out-parameter belongs to the
 * caller and is released with the matching *_free function. Input records are
 * borrowed for the duration of the call. A handle is not thread-safe: use one
 * per thread.
 */
#ifndef CUTOVER_IDENTITY_H
#define CUTOVER_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cutover_oauth_link {
	char *provider;
	char *subject;
} cutover_oauth_link;

typedef struct cutover_user {
	int64_t id;                   /* > 0; 0 on input to create_user means "assign" */
	char *email;                  /* stored trimmed and lower-cased: the identity key */
	char *username;               /* NULL allowed */
	char *display_name;           /* NULL allowed */
	char *password_hash;          /* NULL for oauth-only accounts; secret, never printed */
	char *role;                   /* "admin", "analyst" or "viewer" */
	cutover_oauth_link *oauth;    /* n_oauth links, in order */
	size_t n_oauth;
	cutover_ts email_verified_at; /* CUTOVER_TS_NULL when not verified */
	bool disabled;
	cutover_ts created_at;        /* CUTOVER_TS_NULL on input means now */
	cutover_ts updated_at;        /* CUTOVER_TS_NULL on input means created_at */
} cutover_user;

typedef struct cutover_user_list {
	cutover_user *items;
	size_t n;
} cutover_user_list;

typedef struct cutover_session {
	char *token_hash;          /* 64 hex chars, sha256 of the cookie token; the key; secret */
	int64_t user_id;
	cutover_ts created_at;     /* CUTOVER_TS_NULL on input means now */
	cutover_ts expires_at;     /* required */
	cutover_ts last_seen_at;   /* CUTOVER_TS_NULL when never seen */
	char *user_agent;          /* NULL allowed */
	char *ip;                  /* NULL allowed */
} cutover_session;

/* Which fields an update changes. */
enum {
	CUTOVER_USER_SET_DISPLAY_NAME = 1u << 0,
	CUTOVER_USER_SET_ROLE = 1u << 1,
	CUTOVER_USER_SET_PASSWORD_HASH = 1u << 2,   /* NULL clears it */
	CUTOVER_USER_SET_EMAIL_VERIFIED_AT = 1u << 3,
	CUTOVER_USER_SET_DISABLED = 1u << 4
};

typedef struct cutover_user_patch {
	unsigned set;                 /* CUTOVER_USER_SET_* bits */
	const char *display_name;
	const char *role;
	const char *password_hash;
	cutover_ts email_verified_at;
	bool disabled;
} cutover_user_patch;

#define CUTOVER_IDENTITY_VERSION 1

typedef struct cutover_identity cutover_identity;

/* The table every identity backend fills. All "must provide" unless marked
 * optional. Each returns a cutover_code and fills err on failure. Timestamps
 * and ids arrive already resolved (no CUTOVER_TS_NOW, no NULL created_at):
 * the cutover_identity_* wrappers do that once so both stores agree. */
struct cutover_identity {
	unsigned version;   /* CUTOVER_IDENTITY_VERSION */
	const char *kind;   /* "json", "postgres", "router" */

	/* in->id 0: the store assigns the next id; > 0: that id is used. */
	int (*create_user)(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err);
	int (*get_user)(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err);
	/* email is already normalised (trimmed, lower-cased). */
	int (*get_user_by_email)(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err);
	int (*get_user_by_oauth)(cutover_identity *s, cutover_user **out, const char *provider, const char *subject, cutover_error *err);
	/* Sets updated_at to now. */
	int (*update_user)(cutover_identity *s, cutover_user **out, int64_t id, const cutover_user_patch *patch, cutover_ts now, cutover_error *err);
	/* Not disabled, role == role unless role is NULL, ordered by id. */
	int (*list_assignable_users)(cutover_identity *s, cutover_user_list *out, const char *role, cutover_error *err);

	int (*create_session)(cutover_identity *s, const cutover_session *in, cutover_error *err);
	/* The session whatever its state (expired, user disabled). */
	int (*get_session)(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err);
	/* Only when expires_at > now and the user is not disabled; hands back both. */
	int (*lookup_session)(cutover_identity *s, cutover_session **out_session, cutover_user **out_user, const char *token_hash, cutover_ts now, cutover_error *err);
	/* Sets last_seen_at to now, never back (a later stored one stays); out may be NULL. */
	int (*touch_session)(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_ts now, cutover_error *err);
	int (*delete_session)(cutover_identity *s, const char *token_hash, cutover_error *err);
	int (*delete_user_sessions)(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err);
	/* Deletes sessions with expires_at <= now. */
	int (*delete_expired_sessions)(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err);

	/* Replication: store a record exactly as given (insert or replace by
	 * key, oauth links included). The router uses these to copy what the
	 * authoritative store holds into the other one; so does reconcile.
	 * Never backwards: when the stored copy is newer (users: updated_at;
	 * sessions: created_at, then last_seen_at) nothing is written and the
	 * call succeeds. put_user never replaces another user (same id, other
	 * email: CUTOVER_ECONFLICT). */
	int (*put_user)(cutover_identity *s, const cutover_user *u, cutover_error *err);
	int (*put_session)(cutover_identity *s, const cutover_session *ss, cutover_error *err);

	/* optional */
	void (*stats)(cutover_identity *s, cutover_stats *out);

	void (*free)(cutover_identity *s);
};

/* --- what an app calls ------------------------------------------------ */

CUTOVER_API int cutover_identity_create_user(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err);
CUTOVER_API int cutover_identity_get_user(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err);
CUTOVER_API int cutover_identity_get_user_by_email(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err);
CUTOVER_API int cutover_identity_get_user_by_oauth(cutover_identity *s, cutover_user **out, const char *provider, const char *subject, cutover_error *err);
CUTOVER_API int cutover_identity_update_user(cutover_identity *s, cutover_user **out, int64_t id, const cutover_user_patch *patch, cutover_error *err);
CUTOVER_API int cutover_identity_list_assignable_users(cutover_identity *s, cutover_user_list *out, const char *role, cutover_error *err);
CUTOVER_API int cutover_identity_create_session(cutover_identity *s, const cutover_session *in, cutover_error *err);
CUTOVER_API int cutover_identity_get_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err);
CUTOVER_API int cutover_identity_lookup_session(cutover_identity *s, cutover_session **out_session, cutover_user **out_user, const char *token_hash, cutover_ts now, cutover_error *err);
CUTOVER_API int cutover_identity_touch_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_ts now, cutover_error *err);
CUTOVER_API int cutover_identity_delete_session(cutover_identity *s, const char *token_hash, cutover_error *err);
CUTOVER_API int cutover_identity_delete_user_sessions(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err);
CUTOVER_API int cutover_identity_delete_expired_sessions(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err);
CUTOVER_API void cutover_identity_stats(cutover_identity *s, cutover_stats *out);
/* Closes a handle of any kind (backend or router). NULL is allowed. */
CUTOVER_API void cutover_identity_free(cutover_identity *s);

/* --- records ------------------------------------------------------------ */

CUTOVER_API void cutover_user_free(cutover_user *u);
CUTOVER_API void cutover_user_list_free(cutover_user_list *l); /* frees the items, not l */
CUTOVER_API void cutover_session_free(cutover_session *s);

/* --- backends ----------------------------------------------------------- */

/* The legacy JSON layout under a state root: a directory path, or an
 * http(s):// base URL. token is the bearer token for HTTP roots (may be NULL). */
CUTOVER_API int cutover_identity_json(cutover_identity **out, const char *root, const char *token, cutover_error *err);
/* Postgres through libpq; conninfo is a URL or key=value string ("" = PG* env). */
CUTOVER_API int cutover_identity_postgres(cutover_identity **out, const char *conninfo, cutover_error *err);

#ifdef __cplusplus
}
#endif
#endif
