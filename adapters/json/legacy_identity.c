/* legacy_identity.c — decoding users.json and sessions.json records.
 *
 * Field rules (docs/legacy-layout.md): ids are positive integers below 2^53;
 * email is required and normalised (trimmed, ASCII-lower-cased); role is one
 * of admin/analyst/viewer; timestamps are ISO-8601 with a zone or epoch
 * milliseconds; created_at is required and a missing updated_at means
 * created_at; every string must be valid UTF-8 (Postgres refuses anything
 * else); password and token hashes are kept byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "legacy_identity.h"

static int check_utf8(const char *field, const char *v, cutover_error *err)
{
	if (v && !co_utf8_valid(v))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not valid UTF-8", field);
	return CUTOVER_OK;
}

static int get_text(const cJSON *rec, const char *name, bool required, char **out, cutover_error *err)
{
	int rc = co_json_get_str(rec, name, required, out, err);
	if (rc == CUTOVER_OK && (rc = check_utf8(name, *out, err)) != CUTOVER_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static int read_links(const cJSON *rec, cutover_user *u, cutover_error *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, "oauth");
	if (!arr || cJSON_IsNull(arr))
		return CUTOVER_OK;
	if (!cJSON_IsArray(arr))
		return co_err(err, CUTOVER_ECORRUPT, "field \"oauth\" must be a list of {\"provider\", \"subject\"}");
	int n = cJSON_GetArraySize(arr);
	if (n == 0)
		return CUTOVER_OK;
	if (!(u->oauth = calloc((size_t)n, sizeof(*u->oauth))))
		return co_err_oom(err);
	const cJSON *link;
	cJSON_ArrayForEach(link, arr) {
		size_t i = u->n_oauth;
		if (!cJSON_IsObject(link))
			return co_err(err, CUTOVER_ECORRUPT, "oauth link %zu is not an object", i + 1);
		cutover_oauth_link *l = &u->oauth[i];
		u->n_oauth++;
		int rc;
		if ((rc = get_text(link, "provider", true, &l->provider, err)) ||
		    (rc = get_text(link, "subject", true, &l->subject, err)))
			return rc;
		if (!*l->provider || !*l->subject)
			return co_err(err, CUTOVER_ECORRUPT, "oauth link %zu has an empty provider or subject", i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(u->oauth[j].provider, l->provider) == 0 && strcmp(u->oauth[j].subject, l->subject) == 0)
				return co_err(err, CUTOVER_ECORRUPT, "oauth link %s appears twice in the record", l->provider);
	}
	return CUTOVER_OK;
}

int co_legacy_user_from_json(const cJSON *rec, cutover_user **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	cutover_user *u = calloc(1, sizeof(*u));
	if (!u)
		return co_err_oom(err);
	char *email = NULL;
	int rc;
	if ((rc = co_json_get_int(rec, "id", true, &u->id, NULL, err)))
		goto fail;
	if (u->id <= 0) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"id\" must be a positive integer, found %lld", (long long)u->id);
		goto fail;
	}
	if ((rc = get_text(rec, "email", true, &email, err)))
		goto fail;
	if (!(u->email = co_email_normalize(email))) {
		rc = co_err_oom(err);
		goto fail;
	}
	if (!*u->email || !strchr(u->email, '@')) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"email\" is empty or has no '@'");
		goto fail;
	}
	if ((rc = get_text(rec, "username", false, &u->username, err)) ||
	    (rc = get_text(rec, "display_name", false, &u->display_name, err)) ||
	    (rc = get_text(rec, "password_hash", false, &u->password_hash, err)) ||
	    (rc = get_text(rec, "role", true, &u->role, err)))
		goto fail;
	if (!co_role_valid(u->role)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"role\" is \"%.40s\"; valid roles: admin, analyst, viewer", u->role);
		goto fail;
	}
	if ((rc = read_links(rec, u, err)) ||
	    (rc = co_json_get_ts(rec, "email_verified_at", false, &u->email_verified_at, err)) ||
	    (rc = co_json_get_bool(rec, "disabled", false, &u->disabled, err)) ||
	    (rc = co_json_get_ts(rec, "created_at", true, &u->created_at, err)) ||
	    (rc = co_json_get_ts(rec, "updated_at", false, &u->updated_at, err)))
		goto fail;
	if (u->updated_at == CUTOVER_TS_NULL)
		u->updated_at = u->created_at;
	free(email);
	*out = u;
	return CUTOVER_OK;
fail:
	free(email);
	cutover_user_free(u);
	return rc;
}

int co_legacy_session_from_json(const cJSON *rec, cutover_session **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	cutover_session *s = calloc(1, sizeof(*s));
	if (!s)
		return co_err_oom(err);
	int rc;
	if ((rc = get_text(rec, "token_hash", true, &s->token_hash, err)))
		goto fail;
	if (!co_is_hex64(s->token_hash)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"token_hash\" is not 64 hex characters");
		goto fail;
	}
	if ((rc = co_json_get_int(rec, "user_id", true, &s->user_id, NULL, err)))
		goto fail;
	if (s->user_id <= 0) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"user_id\" must be a positive integer");
		goto fail;
	}
	if ((rc = co_json_get_ts(rec, "created_at", true, &s->created_at, err)) ||
	    (rc = co_json_get_ts(rec, "expires_at", true, &s->expires_at, err)) ||
	    (rc = co_json_get_ts(rec, "last_seen_at", false, &s->last_seen_at, err)) ||
	    (rc = get_text(rec, "user_agent", false, &s->user_agent, err)) ||
	    (rc = get_text(rec, "ip", false, &s->ip, err)))
		goto fail;
	*out = s;
	return CUTOVER_OK;
fail:
	cutover_session_free(s);
	return rc;
}

/* The first key that appears twice in an object (or in its nested objects). */
static const char *duplicate_key(const cJSON *obj)
{
	for (const cJSON *a = obj->child; a; a = a->next) {
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && strcmp(a->string, b->string) == 0)
				return a->string;
		if (cJSON_IsObject(a) || cJSON_IsArray(a)) {
			const char *d = duplicate_key(a);
			if (d)
				return d;
		}
	}
	return NULL;
}

int co_legacy_parse(const co_scan_item *it, cJSON **out, cutover_error *err)
{
	int rc;
	*out = NULL;
	if (it->kind == CO_SCAN_TRUNCATED)
		return co_err(err, CUTOVER_ECORRUPT, "truncated: the file ends inside this record");
	if (it->kind == CO_SCAN_GARBAGE)
		return co_err(err, CUTOVER_ECORRUPT, "not a record: %s", it->problem ? it->problem : "unframed bytes");
	if (it->nul_escape)
		return co_err(err, CUTOVER_ECORRUPT, "a string contains \\u0000, which Postgres text cannot hold");
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(it->bytes, it->len, &end, false);
	if (!j) {
		const char *at = cJSON_GetErrorPtr();
		size_t where = at && at >= it->bytes && at <= it->bytes + it->len ? (size_t)(at - it->bytes) : 0;
		return co_err(err, CUTOVER_ECORRUPT, "malformed JSON near byte %zu of the record", where + 1);
	}
	/* one value and nothing after it: an NDJSON line holding two records
	 * ({...}{...}) must not read as the first alone */
	size_t used = end && end >= it->bytes && end <= it->bytes + it->len ? (size_t)(end - it->bytes) : it->len;
	for (size_t i = used; i < it->len; i++) {
		char c = it->bytes[i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			cJSON_Delete(j);
			return co_err(err, CUTOVER_ECORRUPT, "malformed JSON near byte %zu of the record: bytes after its end",
				      i + 1);
		}
	}
	if ((rc = co_legacy_strict(j, false, err)) != CUTOVER_OK) {
		cJSON_Delete(j);
		return rc;
	}
	*out = j;
	return CUTOVER_OK;
}

int co_legacy_strict(const cJSON *j, bool nul_escape, cutover_error *err)
{
	if (nul_escape)
		return co_err(err, CUTOVER_ECORRUPT, "a string contains \\u0000, which Postgres text cannot hold");
	if (!cJSON_IsObject(j))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	const char *dup = duplicate_key(j);
	if (dup)
		return co_err(err, CUTOVER_ECORRUPT, "key \"%.60s\" appears twice in the record", dup);
	return CUTOVER_OK;
}

int co_legacy_user(const co_scan_item *it, cutover_user **out, cutover_error *err)
{
	cJSON *j;
	*out = NULL;
	int rc = co_legacy_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_user_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}

int co_legacy_session(const co_scan_item *it, cutover_session **out, cutover_error *err)
{
	cJSON *j;
	*out = NULL;
	int rc = co_legacy_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_session_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}
