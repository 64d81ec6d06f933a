/* identity.c — survey, backfill and verify for the identity domain.
 *
 * One walk over the legacy documents serves all three commands. It streams
 * identity/users.json and then identity/sessions.json record by record
 * (legacy_scan), decodes each through the one legacy decoder
 * (legacy_identity), and finds what no single record shows: duplicate ids,
 * duplicate email keys, oauth links claimed twice, duplicate token hashes,
 * sessions whose user is missing or was rejected. Memory held: key sets of
 * the ids, email keys, oauth links and token hashes seen (about 50 bytes
 * plus the key per record), one record, and one batch.
 *
 *  - survey counts what the walk finds; nothing else is read or written;
 *  - backfill turns every mappable record into COPY rows and hands batches to
 *    the loader (apply, or classify for the dry run); every unmappable one
 *    goes to the reject files with its reason;
 *  - verify stages the mappable records and classifies them against the
 *    tables: every one must be present and equal.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "identity_sql.h"
#include "json_store.h"
#include "keyset.h"
#include "legacy_identity.h"
#include "loader.h"
#include "opkit.h"
#include "pipeline.h"
#include "rejects.h"

#define USERS_KEY "identity/users.json"
#define SESSIONS_KEY "identity/sessions.json"

/* --- the walk ---------------------------------------------------------------- */

typedef struct walk_stats {
	bool users_present, sessions_present;
	uint64_t user_records, users_ok, users_skipped, oauth_links;
	uint64_t user_unreadable, dup_ids, dup_emails, dup_oauth;
	uint64_t session_records, sessions_ok, sessions_skipped;
	uint64_t session_unreadable, dup_tokens, orphan_sessions, rejected_user_sessions, expired_sessions;
} walk_stats;

typedef struct walk_cb {
	int (*user)(void *ud, const cutover_user *u, const co_scan_item *it, const char *key, cutover_error *err);
	int (*users_done)(void *ud, cutover_error *err);
	/* user_in_legacy: the session's user is a mappable record of users.json */
	int (*session)(void *ud, const cutover_session *s, const co_scan_item *it, const char *key, bool user_in_legacy,
		       cutover_error *err);
	int (*reject)(void *ud, const char *file, const char *collection, const co_scan_item *it, const char *key,
		      const char *reason, cutover_error *err);
	void *ud;
	bool orphans_are_rejects; /* survey: a session whose user is not in users.json is unmappable */
} walk_cb;

static int reject(const walk_cb *cb, const char *file, const char *coll, const co_scan_item *it, const char *key,
		  const char *reason, cutover_error *err)
{
	return cb->reject ? cb->reject(cb->ud, file, coll, it, key, reason, err) : CUTOVER_OK;
}

/* "id 17" when the record has a readable id, else "record 12". */
static void user_key_of(const co_scan_item *it, char *buf, size_t len)
{
	cJSON *j = NULL;
	cutover_error ignore;
	snprintf(buf, len, "record %llu", (unsigned long long)it->position);
	if (co_legacy_parse(it, &j, &ignore) == CUTOVER_OK) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble < 9007199254740992.0)
			snprintf(buf, len, "id %lld", (long long)id->valuedouble);
		cJSON_Delete(j);
	}
}

static int open_doc(co_transport *t, const char *key, FILE **f, bool *present, cutover_error *err)
{
	int rc = co_transport_stream(t, key, f, err);
	*present = rc == CUTOVER_OK;
	return rc == CUTOVER_ENOTFOUND ? CUTOVER_OK : rc;
}

static int walk_users(cli_ctx *ctx, co_transport *t, const co_keyset *only, const walk_cb *cb, walk_stats *ws,
		      co_keyset *ids, co_keyset *rejected_ids, co_keyset *refused, cutover_error *err)
{
	FILE *f = NULL;
	int rc = open_doc(t, USERS_KEY, &f, &ws->users_present, err);
	if (rc || !f)
		return rc;
	co_keyset *emails = co_keyset_new(), *links = co_keyset_new();
	co_scan *sc = NULL;
	if (!emails || !links || (rc = co_scan_json(&sc, f, USERS_KEY, "users", err))) {
		rc = rc ? rc : co_err_oom(err);
		goto out;
	}
	co_scan_item it;
	while ((rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->user_records++;
		if (ws->user_records % 20000 == 0)
			cli_progress(ctx, "%s: %llu records", USERS_KEY, (unsigned long long)ws->user_records);
		char key[64];
		cutover_user *u = NULL;
		cutover_error why;
		if (co_legacy_user(&it, &u, &why) != CUTOVER_OK) {
			user_key_of(&it, key, sizeof(key)); /* parse again only for the rare reject */
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			ws->user_unreadable++;
			int64_t id;
			if (sscanf(key, "id %" SCNd64, &id) == 1 && co_keyset_add_id(rejected_ids, id, 0, NULL) < 0) {
				rc = co_err_oom(err);
				break;
			}
			if ((rc = reject(cb, USERS_KEY, "users", &it, key, why.message, err)))
				break;
			continue;
		}
		snprintf(key, sizeof(key), "id %lld", (long long)u->id);
		if (only && !co_keyset_has_id(only, u->id)) {
			ws->users_skipped++;
			cutover_user_free(u);
			continue;
		}
		char reason[200] = "";
		int64_t first = 0;
		int added = co_keyset_add_id(ids, u->id, (int64_t)it.position, &first);
		if (added == 0)
			snprintf(reason, sizeof(reason), "duplicate id %lld: record %lld has it", (long long)u->id,
				 (long long)first), ws->dup_ids++;
		if (added == 1 && co_keyset_get(emails, u->email, strlen(u->email), &first)) {
			snprintf(reason, sizeof(reason), "duplicate email: user id %lld has the same email key",
				 (long long)first);
			ws->dup_emails++;
		}
		for (size_t i = 0; added == 1 && !*reason && i < u->n_oauth; i++) {
			co_buf lk = {0};
			co_buf_printf(&lk, "%s%c%s", u->oauth[i].provider, 0, u->oauth[i].subject);
			if (co_keyset_get(links, lk.data, lk.len, &first)) {
				snprintf(reason, sizeof(reason), "oauth link %.40s is already user id %lld's",
					 u->oauth[i].provider, (long long)first);
				ws->dup_oauth++;
			}
			co_buf_free(&lk);
		}
		if (*reason) {
			/* first with its id but refused: its sessions belong to a reject */
			if (added == 1 && (co_keyset_add_id(rejected_ids, u->id, 0, NULL) < 0 ||
					   co_keyset_add_id(refused, u->id, 0, NULL) < 0)) {
				cutover_user_free(u);
				rc = co_err_oom(err);
				break;
			}
			cutover_user_free(u);
			if ((rc = reject(cb, USERS_KEY, "users", &it, key, reason, err)))
				break;
			continue;
		}
		if (co_keyset_add(emails, u->email, strlen(u->email), u->id, NULL) < 0) {
			cutover_user_free(u);
			rc = co_err_oom(err);
			break;
		}
		for (size_t i = 0; i < u->n_oauth; i++) {
			co_buf lk = {0};
			co_buf_printf(&lk, "%s%c%s", u->oauth[i].provider, 0, u->oauth[i].subject);
			if (co_keyset_add(links, lk.data, lk.len, u->id, NULL) < 0)
				rc = co_err_oom(err);
			co_buf_free(&lk);
		}
		ws->users_ok++;
		ws->oauth_links += u->n_oauth;
		if (rc == CUTOVER_OK && cb->user)
			rc = cb->user(cb->ud, u, &it, key, err);
		cutover_user_free(u);
		if (rc)
			break;
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
out:
	cli_progress_done(ctx);
	co_scan_free(sc);
	co_keyset_free(emails);
	co_keyset_free(links);
	fclose(f);
	return rc;
}

/* A token's key in the duplicate set: its 32 bytes when it is lower-case hex
 * (the usual case), else its 64 characters verbatim (the lengths differ, so
 * the two forms never collide). Exact either way. */
static size_t token_key(const char *hex, unsigned char out[64])
{
	for (int i = 0; i < 64; i++)
		if (hex[i] >= 'A' && hex[i] <= 'F') {
			memcpy(out, hex, 64);
			return 64;
		}
	for (int i = 0; i < 32; i++) {
		int hi = hex[2 * i], lo = hex[2 * i + 1];
		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 32;
}

static int walk_sessions(cli_ctx *ctx, co_transport *t, const co_keyset *only, const walk_cb *cb, walk_stats *ws,
			 const co_keyset *ids, const co_keyset *refused, const co_keyset *rejected_ids, cutover_ts now,
			 cutover_error *err)
{
	FILE *f = NULL;
	int rc = open_doc(t, SESSIONS_KEY, &f, &ws->sessions_present, err);
	if (rc || !f)
		return rc;
	co_keyset *tokens = co_keyset_new();
	co_scan *sc = NULL;
	if (!tokens || (rc = co_scan_json(&sc, f, SESSIONS_KEY, "sessions", err))) {
		rc = rc ? rc : co_err_oom(err);
		goto out;
	}
	co_scan_item it;
	while ((rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->session_records++;
		if (ws->session_records % 50000 == 0)
			cli_progress(ctx, "%s: %llu records", SESSIONS_KEY, (unsigned long long)ws->session_records);
		cutover_session *s = NULL;
		cutover_error why;
		char key[96];
		snprintf(key, sizeof(key), "record %llu", (unsigned long long)it.position);
		if (co_legacy_session(&it, &s, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			ws->session_unreadable++;
			if ((rc = reject(cb, SESSIONS_KEY, "sessions", &it, key, why.message, err)))
				break;
			continue;
		}
		char fp[40];
		snprintf(key, sizeof(key), "token %s, user_id %lld", co_redact_value(s->token_hash, fp, sizeof(fp)),
			 (long long)s->user_id);
		if (only && !co_keyset_has_id(only, s->user_id)) {
			ws->sessions_skipped++;
			cutover_session_free(s);
			continue;
		}
		char reason[200] = "";
		int64_t first = 0;
		bool in_legacy = co_keyset_has_id(ids, s->user_id) && !co_keyset_has_id(refused, s->user_id);
		unsigned char tk[64];
		size_t tklen = token_key(s->token_hash, tk);
		int added = co_keyset_add(tokens, tk, tklen, (int64_t)it.position, &first);
		if (added < 0) {
			cutover_session_free(s);
			rc = co_err_oom(err);
			break;
		}
		if (added == 0) {
			snprintf(reason, sizeof(reason), "duplicate token hash: record %lld has it", (long long)first);
			ws->dup_tokens++;
		} else if (!in_legacy && co_keyset_has_id(rejected_ids, s->user_id)) {
			snprintf(reason, sizeof(reason), "its user %lld was rejected", (long long)s->user_id);
			ws->rejected_user_sessions++;
		} else if (!in_legacy && cb->orphans_are_rejects) {
			snprintf(reason, sizeof(reason), "its user %lld is not in %s", (long long)s->user_id, USERS_KEY);
			ws->orphan_sessions++;
		}
		if (*reason) {
			cutover_session_free(s);
			if ((rc = reject(cb, SESSIONS_KEY, "sessions", &it, key, reason, err)))
				break;
			continue;
		}
		ws->sessions_ok++;
		if (s->expires_at <= now)
			ws->expired_sessions++;
		if (cb->session)
			rc = cb->session(cb->ud, s, &it, key, in_legacy, err);
		cutover_session_free(s);
		if (rc)
			break;
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
out:
	cli_progress_done(ctx);
	co_scan_free(sc);
	co_keyset_free(tokens);
	fclose(f);
	return rc;
}

/* Parse "1,2,5" into a key set. */
static int parse_only(const char *list, co_keyset **out, cutover_error *err)
{
	*out = NULL;
	if (!list)
		return CUTOVER_OK;
	co_keyset *ks = co_keyset_new();
	if (!ks)
		return co_err_oom(err);
	const char *p = list;
	while (*p) {
		char *end;
		long long id = strtoll(p, &end, 10);
		if (end == p || id <= 0 || (*end && *end != ',')) {
			co_keyset_free(ks);
			co_err(err, CUTOVER_EINVALID, "--users: \"%s\" is not a list of user ids", list);
			co_err_hint(err, "write it as --users 1,2,17");
			return CUTOVER_EINVALID;
		}
		co_keyset_add_id(ks, id, 0, NULL);
		p = *end ? end + 1 : end;
	}
	*out = ks;
	return CUTOVER_OK;
}

/* The whole walk: users, the callback's flush, then sessions. */
static int walk(cli_ctx *ctx, const op_opts *o, const walk_cb *cb, walk_stats *ws, cutover_error *err)
{
	memset(ws, 0, sizeof(*ws));
	co_transport *t = NULL;
	int rc = co_transport_open(&t, o->st->json_root, o->st->json_token, err);
	if (rc)
		return rc;
	co_keyset *only = NULL, *ids = co_keyset_new(), *rejected_ids = co_keyset_new(), *refused = co_keyset_new();
	if (!ids || !rejected_ids || !refused)
		rc = co_err_oom(err);
	if (rc == CUTOVER_OK)
		rc = parse_only(o->only_users, &only, err);
	if (rc == CUTOVER_OK)
		rc = walk_users(ctx, t, only, cb, ws, ids, rejected_ids, refused, err);
	if (rc == CUTOVER_OK && cb->users_done)
		rc = cb->users_done(cb->ud, err);
	if (rc == CUTOVER_OK)
		rc = walk_sessions(ctx, t, only, cb, ws, ids, refused, rejected_ids, cutover_now(), err);
	co_keyset_free(only);
	co_keyset_free(ids);
	co_keyset_free(rejected_ids);
	co_keyset_free(refused);
	t->free(t);
	return rc;
}

/* --- survey -------------------------------------------------------------------- */

static int survey_reject(void *ud, const char *file, const char *coll, const co_scan_item *it, const char *key,
			 const char *reason, cutover_error *err)
{
	(void)coll;
	(void)err;
	op_survey_unmappable(ud, file, it, key, reason);
	return CUTOVER_OK;
}

int identity_survey(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	op_survey_ctx sc = {o, 0};
	walk_cb cb = {.reject = survey_reject, .ud = &sc, .orphans_are_rejects = true};
	walk_stats ws;
	cutover_error err;
	if (walk(ctx, o, &cb, &ws, &err))
		return cli_fail(&err);
	uint64_t bad_users = ws.user_unreadable + ws.dup_ids + ws.dup_emails + ws.dup_oauth;
	uint64_t bad_sessions = ws.session_unreadable + ws.dup_tokens + ws.orphan_sessions + ws.rejected_user_sessions;
	if (out) {
		cJSON *u = cJSON_AddObjectToObject(out, USERS_KEY);
		cJSON_AddBoolToObject(u, "present", ws.users_present);
		op_count(u, "records", ws.user_records);
		op_count(u, "mappable", ws.users_ok);
		op_count(u, "oauth_links", ws.oauth_links);
		op_count(u, "unreadable", ws.user_unreadable);
		op_count(u, "duplicate_ids", ws.dup_ids);
		op_count(u, "duplicate_emails", ws.dup_emails);
		op_count(u, "duplicate_oauth_links", ws.dup_oauth);
		cJSON *s = cJSON_AddObjectToObject(out, SESSIONS_KEY);
		cJSON_AddBoolToObject(s, "present", ws.sessions_present);
		op_count(s, "records", ws.session_records);
		op_count(s, "mappable", ws.sessions_ok);
		op_count(s, "unreadable", ws.session_unreadable);
		op_count(s, "duplicate_tokens", ws.dup_tokens);
		op_count(s, "missing_user", ws.orphan_sessions);
		op_count(s, "user_rejected", ws.rejected_user_sessions);
		op_count(s, "expired", ws.expired_sessions);
	} else {
		printf("%s%s\n", USERS_KEY, ws.users_present ? "" : " (absent)");
		printf("  records %llu, mappable %llu, oauth links %llu\n", (unsigned long long)ws.user_records,
		       (unsigned long long)ws.users_ok, (unsigned long long)ws.oauth_links);
		printf("  unreadable or out of range %llu, duplicate ids %llu, duplicate emails %llu, duplicate oauth "
		       "links %llu\n",
		       (unsigned long long)ws.user_unreadable, (unsigned long long)ws.dup_ids,
		       (unsigned long long)ws.dup_emails, (unsigned long long)ws.dup_oauth);
		printf("%s%s\n", SESSIONS_KEY, ws.sessions_present ? "" : " (absent)");
		printf("  records %llu, mappable %llu (expired %llu)\n", (unsigned long long)ws.session_records,
		       (unsigned long long)ws.sessions_ok, (unsigned long long)ws.expired_sessions);
		printf("  unreadable or out of range %llu, duplicate tokens %llu, user missing %llu, user rejected "
		       "%llu\n",
		       (unsigned long long)ws.session_unreadable, (unsigned long long)ws.dup_tokens,
		       (unsigned long long)ws.orphan_sessions, (unsigned long long)ws.rejected_user_sessions);
		printf("identity: %llu unmappable record%s\n", (unsigned long long)(bad_users + bad_sessions),
		       bad_users + bad_sessions == 1 ? "" : "s");
	}
	return bad_users + bad_sessions ? EXIT_CHECKS : EXIT_OK;
}

/* --- loading (backfill and verify) ------------------------------------------------- */

static const co_load_spec users_spec = {
	.what = "users",
	.stage_ddl = identity_stage_ddl,
	.truncate = "TRUNCATE stage_users, stage_user_oauth",
	.classify = users_classify,
	.report = "SELECT pos, state, detail FROM stage_users WHERE state <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_users WHERE state = 'new' ORDER BY pos",
	.remember_new = "INSERT INTO dry_new_users SELECT id FROM stage_users WHERE state = 'new' ON CONFLICT DO NOTHING",
	.nparts = 2,
	.parts = {
		{"COPY identity.users (" USER_COLS ") FROM STDIN", "COPY stage_users (pos, " USER_COLS ") FROM STDIN",
		 "INSERT INTO identity.users (" USER_COLS ") SELECT " USER_COLS " FROM stage_users WHERE state = 'new'",
		 "INSERT INTO identity.users (" USER_COLS ") SELECT " USER_COLS
		 " FROM stage_users WHERE state = 'new' AND pos = $1::bigint"},
		{"COPY identity.user_oauth (" OAUTH_COLS ") FROM STDIN",
		 "COPY stage_user_oauth (pos, " OAUTH_COLS ") FROM STDIN",
		 "INSERT INTO identity.user_oauth (" OAUTH_COLS ") SELECT o.user_id, o.position, o.provider, o.subject"
		 " FROM stage_user_oauth o JOIN stage_users s ON s.pos = o.pos WHERE s.state = 'new'",
		 "INSERT INTO identity.user_oauth (" OAUTH_COLS ") SELECT o.user_id, o.position, o.provider, o.subject"
		 " FROM stage_user_oauth o JOIN stage_users s ON s.pos = o.pos WHERE s.state = 'new' AND s.pos = $1::bigint"},
	},
};

static const co_load_spec sessions_spec = {
	.what = "sessions",
	.stage_ddl = identity_stage_ddl,
	.truncate = "TRUNCATE stage_sessions",
	.classify = sessions_classify,
	.report = "SELECT pos, state, detail FROM stage_sessions WHERE state <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_sessions WHERE state = 'new' ORDER BY pos",
	.nparts = 1,
	.parts = {
		{"COPY identity.sessions (" SESSION_COLS ") FROM STDIN",
		 "COPY stage_sessions (pos, " SESSION_COLS ") FROM STDIN",
		 "INSERT INTO identity.sessions (" SESSION_COLS ") SELECT " SESSION_COLS
		 " FROM stage_sessions WHERE state = 'new'",
		 "INSERT INTO identity.sessions (" SESSION_COLS ") SELECT " SESSION_COLS
		 " FROM stage_sessions WHERE state = 'new' AND pos = $1::bigint"},
	},
};

static void user_row(co_buf *b, const cutover_user *u)
{
	co_copy_int(b, true, u->id);
	co_copy_text(b, false, u->email);
	co_copy_text(b, false, u->username);
	co_copy_text(b, false, u->display_name);
	co_copy_text(b, false, u->password_hash);
	co_copy_text(b, false, u->role);
	co_copy_ts(b, false, u->email_verified_at);
	co_copy_bool(b, false, u->disabled);
	co_copy_ts(b, false, u->created_at);
	co_copy_ts(b, false, u->updated_at);
	co_copy_end_row(b);
}

static void oauth_row(co_buf *b, const cutover_user *u, size_t i)
{
	co_copy_int(b, true, u->id);
	co_copy_int(b, false, (int64_t)i);
	co_copy_text(b, false, u->oauth[i].provider);
	co_copy_text(b, false, u->oauth[i].subject);
	co_copy_end_row(b);
}

static void session_row(co_buf *b, const cutover_session *s)
{
	co_copy_text(b, true, s->token_hash);
	co_copy_int(b, false, s->user_id);
	co_copy_ts(b, false, s->created_at);
	co_copy_ts(b, false, s->expires_at);
	co_copy_ts(b, false, s->last_seen_at);
	co_copy_text(b, false, s->user_agent);
	co_copy_text(b, false, s->ip);
	co_copy_end_row(b);
}

/* A staged row is the target row with the record position in front. */
static void stage_prefix(co_buf *b, uint64_t pos)
{
	co_copy_int(b, true, (int64_t)pos);
	co_buf_put(b, "\t", 1);
}

typedef struct load_ctx {
	co_run_env env;
	co_run users, sessions;
	bool verify;              /* classification is a check, not a plan */
	uint64_t pg_links;        /* verify: oauth rows postgres holds for the staged users */
} load_ctx;

static int load_reject(void *ud, const char *file, const char *coll, const co_scan_item *it, const char *key,
		       const char *reason, cutover_error *err)
{
	(void)coll;
	load_ctx *lc = ud;
	co_run *r = strcmp(file, USERS_KEY) == 0 ? &lc->users : &lc->sessions;
	return co_run_reject(r, file, it, key, reason, err);
}

/* verify: the stage still holds this batch; count postgres's links of these users */
static int count_links(void *ud, cutover_error *err)
{
	load_ctx *lc = ud;
	if (!lc->verify)
		return CUTOVER_OK;
	PGresult *r = co_pg_exec(lc->env.pg, "verify oauth links",
				 "SELECT count(*) FROM identity.user_oauth o JOIN stage_users s ON s.id = o.user_id", 0,
				 NULL, err);
	if (!r)
		return err->code;
	lc->pg_links += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return CUTOVER_OK;
}

static int load_user(void *ud, const cutover_user *u, const co_scan_item *it, const char *key, cutover_error *err)
{
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->users);
	user_row(&b->target[0], u);
	stage_prefix(&b->stage[0], it->position);
	user_row(&b->stage[0], u);
	for (size_t i = 0; i < u->n_oauth; i++) {
		oauth_row(&b->target[1], u, i);
		stage_prefix(&b->stage[1], it->position);
		oauth_row(&b->stage[1], u, i);
	}
	uint64_t children[CO_RUN_CHILDREN] = {u->n_oauth};
	return co_run_added(&lc->users, it->position, it, NULL, key, children, err);
}

static int users_done(void *ud, cutover_error *err)
{
	load_ctx *lc = ud;
	return co_run_drain(&lc->users, err); /* sessions need their users committed */
}

static int load_session(void *ud, const cutover_session *s, const co_scan_item *it, const char *key, bool in_legacy,
			cutover_error *err)
{
	(void)in_legacy; /* a user only postgres has is fine; the classification checks */
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->sessions);
	session_row(&b->target[0], s);
	stage_prefix(&b->stage[0], it->position);
	session_row(&b->stage[0], s);
	return co_run_added(&lc->sessions, it->position, it, NULL, key, NULL, err);
}

static int open_load(const op_opts *o, load_ctx *lc, co_load_mode mode, bool verify, cutover_error *err)
{
	memset(lc, 0, sizeof(*lc));
	lc->verify = verify;
	co_run_init(&lc->users, &lc->env, &users_spec, USERS_KEY, "users", o->batch);
	lc->users.classified = count_links;
	lc->users.ud = lc;
	co_run_init(&lc->sessions, &lc->env, &sessions_spec, SESSIONS_KEY, "sessions", o->batch);
	return co_run_env_open(&lc->env, o, CUTOVER_DOMAIN_IDENTITY, &users_spec, mode, verify, err);
}

static void close_load(load_ctx *lc)
{
	co_run_free(&lc->users);
	co_run_free(&lc->sessions);
	co_run_env_close(&lc->env);
}

/* --- backfill ---------------------------------------------------------------------- */

int identity_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	int rc = open_load(o, &lc, o->apply ? CO_LOAD_APPLY : CO_LOAD_CLASSIFY, false, &err);
	walk_stats ws;
	walk_cb cb = {.user = load_user, .users_done = users_done, .session = load_session, .reject = load_reject,
		      .ud = &lc};
	if (rc == CUTOVER_OK)
		rc = walk(ctx, o, &cb, &ws, &err);
	if (rc == CUTOVER_OK)
		rc = co_run_drain(&lc.sessions, &err);
	if (rc) {
		int code = op_backfill_failed(&err, lc.users.counts.inserted || lc.sessions.counts.inserted);
		close_load(&lc);
		return code;
	}
	co_load_counts links = {.inserted = lc.users.children_total[0] - lc.users.children_not_new[0]};
	const op_line lines[] = {
		{.table = "identity.users", .source = USERS_KEY, .what = "users", .records = ws.user_records,
		 .counts = lc.users.counts, .rejected = lc.users.walk_rejects + lc.users.counts.rejected},
		{.table = "identity.user_oauth", .what = "oauth links of mappable users",
		 .records = lc.users.children_total[0], .counts = links},
		{.table = "identity.sessions", .source = SESSIONS_KEY, .what = "sessions", .records = ws.session_records,
		 .counts = lc.sessions.counts, .rejected = lc.sessions.walk_rejects + lc.sessions.counts.rejected},
	};
	int code = op_backfill_report(CUTOVER_DOMAIN_IDENTITY, o, out, lc.env.pg, lc.env.rejects, lines,
				      sizeof(lines) / sizeof(lines[0]));
	close_load(&lc);
	return code;
}

/* --- verify -------------------------------------------------------------------------- */

int identity_verify(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	op_opts vo = *o;
	vo.only_users = NULL;
	int rc = open_load(&vo, &lc, CO_LOAD_CLASSIFY, true, &err);
	walk_stats ws;
	walk_cb cb = {.user = load_user, .users_done = users_done, .session = load_session, .reject = NULL, .ud = &lc};
	if (rc == CUTOVER_OK)
		rc = walk(ctx, &vo, &cb, &ws, &err);
	if (rc == CUTOVER_OK)
		rc = co_run_drain(&lc.sessions, &err);
	long long orphan_sessions = -1, orphan_links = -1, rls = -1;
	if (rc == CUTOVER_OK &&
	    ((orphan_sessions = op_count_of(lc.env.pg, "SELECT count(*) FROM identity.sessions s WHERE NOT EXISTS "
					      "(SELECT 1 FROM identity.users u WHERE u.id = s.user_id)", &err)) < 0 ||
	     (orphan_links = op_count_of(lc.env.pg, "SELECT count(*) FROM identity.user_oauth o WHERE NOT EXISTS "
					    "(SELECT 1 FROM identity.users u WHERE u.id = o.user_id)", &err)) < 0 ||
	     (rls = op_count_of(lc.env.pg, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				   "WHERE n.nspname = 'identity' AND c.relname IN ('users', 'user_oauth', 'sessions') "
				   "AND c.relrowsecurity", &err)) < 0))
		rc = err.code;
	co_seq_health h[4];
	size_t nh = 0;
	if (rc == CUTOVER_OK)
		rc = co_pg_sequence_health(lc.env.pg, CUTOVER_DOMAIN_IDENTITY, h, 4, &nh, &err);
	if (rc) {
		int code = cli_fail(&err);
		close_load(&lc);
		return code;
	}
	op_checks c = {.arr = out ? cJSON_AddArrayToObject(out, "checks") : NULL};
	const co_load_counts *u = &lc.users.counts, *s = &lc.sessions.counts;
	/* unmappable: refused by the walk, or by the tables (a key postgres gives to another row) */
	uint64_t u_mappable = ws.users_ok - u->rejected, s_mappable = ws.sessions_ok - s->rejected;
	uint64_t u_unmappable = ws.user_records - u_mappable, s_unmappable = ws.session_records - s_mappable;
	uint64_t u_present = u->equal + u->differ, s_present = s->equal + s->differ;
	op_check(&c, u_present == u_mappable, "identity.users count",
	      "%llu legacy records - %llu unmappable = %llu; postgres holds %llu of them%s",
	      (unsigned long long)ws.user_records, (unsigned long long)u_unmappable, (unsigned long long)u_mappable,
	      (unsigned long long)u_present, u_present == u_mappable ? "" : " (run cutover backfill identity --apply)");
	op_check(&c, u->differ == 0, "identity.users fidelity", "%llu of %llu rows differ from their legacy record",
	      (unsigned long long)u->differ, (unsigned long long)u_present);
	op_check(&c, lc.pg_links == ws.oauth_links, "identity.user_oauth count",
	      "%llu legacy oauth links of mappable users; postgres holds %llu for those users",
	      (unsigned long long)ws.oauth_links, (unsigned long long)lc.pg_links);
	op_check(&c, s_present == s_mappable, "identity.sessions count",
	      "%llu legacy records - %llu unmappable = %llu; postgres holds %llu of them",
	      (unsigned long long)ws.session_records, (unsigned long long)s_unmappable,
	      (unsigned long long)s_mappable, (unsigned long long)s_present);
	op_check(&c, s->differ == 0, "identity.sessions fidelity", "%llu of %llu rows differ from their legacy record",
	      (unsigned long long)s->differ, (unsigned long long)s_present);
	op_check(&c, orphan_sessions == 0 && orphan_links == 0, "no orphans",
	      "%lld sessions and %lld oauth links without their user", orphan_sessions, orphan_links);
	op_check_sequences(&c, h, nh);
	op_check(&c, rls == 3, "row level security", "enabled on %lld of 3 identity tables", rls);
	close_load(&lc);
	return op_checks_end(&c, out, "identity");
}
