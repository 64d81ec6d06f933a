/* identity.c — what an app calls, and the identity records.
 *
 * The cutover_identity_* functions are the only door into a backend: they
 * validate and normalise input once (email trimmed and lower-cased, role
 * checked, UTF-8 checked, ids at most 2^53, key lengths bounded, every
 * timestamp within years 0001-9999, "now" and default timestamps resolved),
 * so the json
 * store, the postgres store and both halves of a dual stage see exactly the
 * same values and give the same answers. Record helpers (free, dup, diff,
 * patch) live here too so every backend shares one definition of a user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "co.h"

/* --- records ----------------------------------------------------------- */

void co_user_clear(cutover_user *u)
{
	if (!u)
		return;
	free(u->email);
	free(u->username);
	free(u->display_name);
	free(u->password_hash);
	free(u->role);
	for (size_t i = 0; i < u->n_oauth; i++) {
		free(u->oauth[i].provider);
		free(u->oauth[i].subject);
	}
	free(u->oauth);
	memset(u, 0, sizeof(*u));
}

CUTOVER_API void cutover_user_free(cutover_user *u)
{
	co_user_clear(u);
	free(u);
}

CUTOVER_API void cutover_user_list_free(cutover_user_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		co_user_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

CUTOVER_API void cutover_session_free(cutover_session *s)
{
	if (!s)
		return;
	free(s->token_hash);
	free(s->user_agent);
	free(s->ip);
	free(s);
}

void co_session_list_free(co_session_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].token_hash);
		free(l->items[i].user_agent);
		free(l->items[i].ip);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool user_copy(cutover_user *d, const cutover_user *u)
{
	*d = *u;
	d->email = d->username = d->display_name = d->password_hash = d->role = NULL;
	d->oauth = NULL;
	d->n_oauth = 0;
	bool ok = co_dup_str(&d->email, u->email) && co_dup_str(&d->username, u->username) &&
		  co_dup_str(&d->display_name, u->display_name) && co_dup_str(&d->password_hash, u->password_hash) &&
		  co_dup_str(&d->role, u->role);
	if (ok && u->n_oauth) {
		d->oauth = calloc(u->n_oauth, sizeof(*d->oauth));
		ok = d->oauth != NULL;
		for (size_t i = 0; ok && i < u->n_oauth; i++) {
			d->n_oauth = i + 1;
			ok = co_dup_str(&d->oauth[i].provider, u->oauth[i].provider) &&
			     co_dup_str(&d->oauth[i].subject, u->oauth[i].subject);
		}
	}
	if (!ok)
		co_user_clear(d);
	return ok;
}

cutover_user *co_user_dup(const cutover_user *u)
{
	cutover_user *d = malloc(sizeof(*d));
	if (!d)
		return NULL;
	if (!user_copy(d, u)) {
		free(d);
		return NULL;
	}
	return d;
}

cutover_session *co_session_dup(const cutover_session *s)
{
	cutover_session *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	*d = *s;
	d->token_hash = d->user_agent = d->ip = NULL;
	if (!co_dup_str(&d->token_hash, s->token_hash) || !co_dup_str(&d->user_agent, s->user_agent) ||
	    !co_dup_str(&d->ip, s->ip)) {
		cutover_session_free(d);
		return NULL;
	}
	return d;
}

static void diff_add(char *buf, size_t len, int *n, const char *field)
{
	size_t used = strlen(buf);
	snprintf(buf + used, len - used, "%s%s", *n ? "," : "", field);
	(*n)++;
}

int co_user_diff(const cutover_user *a, const cutover_user *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
#define STR(f) if (!co_streq(a->f, b->f)) diff_add(buf, len, &n, #f)
#define VAL(f) if (a->f != b->f) diff_add(buf, len, &n, #f)
	VAL(id);
	STR(email);
	STR(username);
	STR(display_name);
	STR(password_hash);
	STR(role);
	VAL(email_verified_at);
	VAL(disabled);
	VAL(created_at);
	VAL(updated_at);
	bool oauth_same = a->n_oauth == b->n_oauth;
	for (size_t i = 0; oauth_same && i < a->n_oauth; i++)
		oauth_same = co_streq(a->oauth[i].provider, b->oauth[i].provider) &&
			     co_streq(a->oauth[i].subject, b->oauth[i].subject);
	if (!oauth_same)
		diff_add(buf, len, &n, "oauth");
	return n;
}

int co_session_diff(const cutover_session *a, const cutover_session *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
	STR(token_hash);
	VAL(user_id);
	VAL(created_at);
	VAL(expires_at);
	VAL(last_seen_at);
	STR(user_agent);
	STR(ip);
#undef STR
#undef VAL
	return n;
}

int co_user_apply_patch(cutover_user *u, const cutover_user_patch *p, cutover_ts now, cutover_error *err)
{
	if ((p->set & CUTOVER_USER_SET_DISPLAY_NAME) && !co_set_str(&u->display_name, p->display_name))
		return co_err_oom(err);
	if ((p->set & CUTOVER_USER_SET_ROLE) && !co_set_str(&u->role, p->role))
		return co_err_oom(err);
	if ((p->set & CUTOVER_USER_SET_PASSWORD_HASH) && !co_set_str(&u->password_hash, p->password_hash))
		return co_err_oom(err);
	if (p->set & CUTOVER_USER_SET_EMAIL_VERIFIED_AT)
		u->email_verified_at = p->email_verified_at;
	if (p->set & CUTOVER_USER_SET_DISABLED)
		u->disabled = p->disabled;
	u->updated_at = co_ts_advance(u->updated_at, now);
	return CUTOVER_OK;
}

bool co_user_newer(const cutover_user *a, const cutover_user *b)
{
	if (co_replicate_exact_on())
		return false; /* reconcile: the authoritative record replaces any */
	return a->updated_at > b->updated_at; /* CUTOVER_TS_NULL is INT64_MIN: older than any */
}

bool co_session_newer(const cutover_session *a, const cutover_session *b)
{
	if (co_replicate_exact_on())
		return false;
	if (a->created_at != b->created_at)
		return a->created_at > b->created_at;
	return a->last_seen_at > b->last_seen_at;
}

/* --- validation ---------------------------------------------------------- */

bool co_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (p && *p) {
		int n;
		uint32_t cp;
		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xE0) == 0xC0) {
			n = 1;
			cp = *p & 0x1F;
		} else if ((*p & 0xF0) == 0xE0) {
			n = 2;
			cp = *p & 0x0F;
		} else if ((*p & 0xF8) == 0xF0) {
			n = 3;
			cp = *p & 0x07;
		} else {
			return false;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += n + 1;
	}
	return true;
}

static int check_text(const char *what, const char *field, const char *v, cutover_error *err)
{
	if (v && !co_utf8_valid(v))
		return co_err(err, CUTOVER_EINVALID, "%s: %s is not valid UTF-8", what, field);
	return CUTOVER_OK;
}

static int check_role(const char *what, const char *role, cutover_error *err)
{
	if (!co_role_valid(role)) {
		co_err(err, CUTOVER_EINVALID, "%s: role \"%s\" is not a role", what, role ? role : "(null)");
		co_err_hint(err, "valid roles: admin, analyst, viewer");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

static int check_token(const char *what, const char *token, cutover_error *err)
{
	if (!co_is_hex64(token)) {
		co_err(err, CUTOVER_EINVALID, "%s: token hash must be 64 hex characters", what);
		co_err_hint(err, "pass the hex sha256 of the session cookie, not the cookie itself");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

/* A timestamp input: CUTOVER_TS_NULL where optional, else years 0001-9999
 * (what both stores hold and the legacy text form can carry). */
static int check_ts(const char *what, const char *field, cutover_ts t, bool optional, cutover_error *err)
{
	if (t == CUTOVER_TS_NULL && optional)
		return CUTOVER_OK;
	if (co_ts_in_range(t))
		return CUTOVER_OK;
	if (t == CUTOVER_TS_NULL)
		co_err(err, CUTOVER_EINVALID, "%s: %s is required", what, field);
	else
		co_err(err, CUTOVER_EINVALID, "%s: %s is outside years 0001-9999", what, field);
	co_err_hint(err, "timestamps are microseconds since 1970-01-01T00:00:00Z, from 0001-01-01 to 9999-12-31");
	return CUTOVER_EINVALID;
}

/* Resolve a `now` argument: CUTOVER_TS_NOW is the current time; a given time
 * must be in range; CUTOVER_TS_NULL is no time at all. */
static int resolve_now(const char *what, cutover_ts now, cutover_ts *out, cutover_error *err)
{
	*out = now == CUTOVER_TS_NOW ? cutover_now() : now;
	if (now == CUTOVER_TS_NULL) {
		co_err(err, CUTOVER_EINVALID, "%s: no time given as now", what);
		co_err_hint(err, "pass CUTOVER_TS_NOW for the current time");
		return CUTOVER_EINVALID;
	}
	return check_ts(what, "now", *out, false, err);
}

static int check_len(const char *what, const char *field, const char *v, size_t max, cutover_error *err)
{
	if (v && strlen(v) > max)
		return co_err(err, CUTOVER_EINVALID, "%s: %s is longer than %zu bytes", what, field, max);
	return CUTOVER_OK;
}

static int check_handle(cutover_identity *s, cutover_error *err)
{
	if (!s)
		return co_err(err, CUTOVER_EINVALID, "identity handle is NULL");
	if (s->version != CUTOVER_IDENTITY_VERSION)
		return co_err(err, CUTOVER_EINTERNAL, "identity backend \"%s\" has table version %u, expected %u",
			      s->kind ? s->kind : "?", s->version, (unsigned)CUTOVER_IDENTITY_VERSION);
	cutover_error_clear(err);
	return CUTOVER_OK;
}

/* --- the app's calls ------------------------------------------------------ */

CUTOVER_API int cutover_identity_create_user(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err)
{
	static const char what[] = "create user";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "%s: no user given", what);
	if (in->id < 0)
		return co_err(err, CUTOVER_EINVALID, "%s: id %lld is negative", what, (long long)in->id);
	if (in->id > CO_ID_MAX) {
		co_err(err, CUTOVER_EINVALID, "%s: id %lld is above 2^53", what, (long long)in->id);
		co_err_detail(err, "the legacy JSON documents store ids as numbers, exact only up to 2^53");
		return CUTOVER_EINVALID;
	}
	if ((rc = check_text(what, "email", in->email, err)) || (rc = check_text(what, "username", in->username, err)) ||
	    (rc = check_text(what, "display_name", in->display_name, err)) ||
	    (rc = check_text(what, "password_hash", in->password_hash, err)))
		return rc;
	if ((rc = check_ts(what, "created_at", in->created_at, true, err)) ||
	    (rc = check_ts(what, "updated_at", in->updated_at, true, err)) ||
	    (rc = check_ts(what, "email_verified_at", in->email_verified_at, true, err)))
		return rc;
	cutover_user u = *in;
	char *email = co_email_normalize(in->email);
	if (in->email && !email)
		return co_err_oom(err);
	if (!email || !*email || !strchr(email, '@')) {
		free(email);
		co_err(err, CUTOVER_EINVALID, "%s: email is missing or has no '@'", what);
		co_err_hint(err, "every user needs an email address; it is the identity key");
		return CUTOVER_EINVALID;
	}
	if ((rc = check_len(what, "email", email, CO_EMAIL_MAX, err))) {
		free(email);
		return rc;
	}
	u.email = email;
	u.role = in->role ? in->role : "viewer";
	if ((rc = check_role(what, u.role, err))) {
		free(email);
		return rc;
	}
	for (size_t i = 0; i < in->n_oauth; i++) {
		const cutover_oauth_link *l = &in->oauth[i];
		if (!l->provider || !*l->provider || !l->subject || !*l->subject) {
			free(email);
			return co_err(err, CUTOVER_EINVALID, "%s: oauth link %zu needs a provider and a subject", what, i);
		}
		if ((rc = check_text(what, "oauth provider", l->provider, err)) ||
		    (rc = check_text(what, "oauth subject", l->subject, err)) ||
		    (rc = check_len(what, "oauth provider", l->provider, CO_OAUTH_PROVIDER_MAX, err)) ||
		    (rc = check_len(what, "oauth subject", l->subject, CO_OAUTH_SUBJECT_MAX, err))) {
			free(email);
			return rc;
		}
		for (size_t j = 0; j < i; j++)
			if (co_streq(l->provider, in->oauth[j].provider) && co_streq(l->subject, in->oauth[j].subject)) {
				free(email);
				return co_err(err, CUTOVER_EINVALID, "%s: oauth link %s appears twice", what, l->provider);
			}
	}
	if (u.created_at == CUTOVER_TS_NULL)
		u.created_at = cutover_now();
	if (u.updated_at == CUTOVER_TS_NULL)
		u.updated_at = u.created_at;
	rc = s->create_user(s, out, &u, err);
	free(email);
	return rc;
}

CUTOVER_API int cutover_identity_get_user(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (id <= 0)
		return co_err(err, CUTOVER_ENOTFOUND, "user %lld not found", (long long)id);
	return s->get_user(s, out, id, err);
}

CUTOVER_API int cutover_identity_get_user_by_email(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if ((rc = check_text("get user by email", "email", email, err)))
		return rc;
	char *key = co_email_normalize(email);
	if (!key)
		return email ? co_err_oom(err) : co_err(err, CUTOVER_EINVALID, "get user by email: no email given");
	rc = s->get_user_by_email(s, out, key, err);
	free(key);
	return rc;
}

CUTOVER_API int cutover_identity_get_user_by_oauth(cutover_identity *s, cutover_user **out, const char *provider,
						   const char *subject, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (!provider || !subject)
		return co_err(err, CUTOVER_EINVALID, "get user by oauth: provider and subject are required");
	if ((rc = check_text("get user by oauth", "provider", provider, err)) ||
	    (rc = check_text("get user by oauth", "subject", subject, err)))
		return rc;
	return s->get_user_by_oauth(s, out, provider, subject, err);
}

CUTOVER_API int cutover_identity_update_user(cutover_identity *s, cutover_user **out, int64_t id,
					     const cutover_user_patch *patch, cutover_error *err)
{
	static const char what[] = "update user";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "%s: no patch given", what);
	if ((patch->set & CUTOVER_USER_SET_ROLE) && (rc = check_role(what, patch->role, err)))
		return rc;
	if ((rc = check_text(what, "display_name", (patch->set & CUTOVER_USER_SET_DISPLAY_NAME) ? patch->display_name : NULL, err)) ||
	    (rc = check_text(what, "password_hash", (patch->set & CUTOVER_USER_SET_PASSWORD_HASH) ? patch->password_hash : NULL, err)))
		return rc;
	if ((patch->set & CUTOVER_USER_SET_EMAIL_VERIFIED_AT) &&
	    (rc = check_ts(what, "email_verified_at", patch->email_verified_at, true, err)))
		return rc;
	if (id <= 0)
		return co_err(err, CUTOVER_ENOTFOUND, "%s: user %lld not found", what, (long long)id);
	return s->update_user(s, out, id, patch, cutover_now(), err);
}

CUTOVER_API int cutover_identity_list_assignable_users(cutover_identity *s, cutover_user_list *out, const char *role,
						       cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	out->items = NULL;
	out->n = 0;
	if (role && (rc = check_role("list assignable users", role, err)))
		return rc;
	return s->list_assignable_users(s, out, role, err);
}

CUTOVER_API int cutover_identity_create_session(cutover_identity *s, const cutover_session *in, cutover_error *err)
{
	static const char what[] = "create session";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "%s: no session given", what);
	if ((rc = check_token(what, in->token_hash, err)))
		return rc;
	if (in->user_id <= 0 || in->user_id > CO_ID_MAX)
		return co_err(err, CUTOVER_EINVALID, "%s: user id %lld is not a user", what, (long long)in->user_id);
	if ((rc = check_ts(what, "expires_at", in->expires_at, false, err)) ||
	    (rc = check_ts(what, "created_at", in->created_at, true, err)) ||
	    (rc = check_ts(what, "last_seen_at", in->last_seen_at, true, err)))
		return rc;
	if ((rc = check_text(what, "user_agent", in->user_agent, err)) || (rc = check_text(what, "ip", in->ip, err)))
		return rc;
	cutover_session ss = *in;
	if (ss.created_at == CUTOVER_TS_NULL)
		ss.created_at = cutover_now();
	return s->create_session(s, &ss, err);
}

CUTOVER_API int cutover_identity_get_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if ((rc = check_token("get session", token_hash, err)))
		return rc;
	return s->get_session(s, out, token_hash, err);
}

CUTOVER_API int cutover_identity_lookup_session(cutover_identity *s, cutover_session **out_session, cutover_user **out_user,
						const char *token_hash, cutover_ts now, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out_session = NULL;
	*out_user = NULL;
	if ((rc = check_token("look up session", token_hash, err)) || (rc = resolve_now("look up session", now, &now, err)))
		return rc;
	return s->lookup_session(s, out_session, out_user, token_hash, now, err);
}

CUTOVER_API int cutover_identity_touch_session(cutover_identity *s, cutover_session **out, const char *token_hash,
					       cutover_ts now, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if ((rc = check_token("touch session", token_hash, err)) || (rc = resolve_now("touch session", now, &now, err)))
		return rc;
	return s->touch_session(s, out, token_hash, now, err);
}

CUTOVER_API int cutover_identity_delete_session(cutover_identity *s, const char *token_hash, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if ((rc = check_token("delete session", token_hash, err)))
		return rc;
	return s->delete_session(s, token_hash, err);
}

CUTOVER_API int cutover_identity_delete_user_sessions(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	size_t dummy;
	if (!out_count)
		out_count = &dummy;
	*out_count = 0;
	return s->delete_user_sessions(s, user_id, out_count, err);
}

CUTOVER_API int cutover_identity_delete_expired_sessions(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	size_t dummy;
	if (!out_count)
		out_count = &dummy;
	*out_count = 0;
	if ((rc = resolve_now("delete expired sessions", now, &now, err)))
		return rc;
	return s->delete_expired_sessions(s, now, out_count, err);
}

CUTOVER_API void cutover_identity_stats(cutover_identity *s, cutover_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s && s->stats)
		s->stats(s, out);
}

CUTOVER_API void cutover_identity_free(cutover_identity *s)
{
	if (s && s->free)
		s->free(s);
}
