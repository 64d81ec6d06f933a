/* profile.c — survey, backfill and verify for the profile domain.
 *
 * One walk over profile/profiles.json serves all three commands. It streams
 * the document record by record (legacy_scan), decodes each through the one
 * legacy decoder (legacy_profile, the json backend's too), and finds what no
 * single record shows: two records for one user_id, a certification or
 * education id that an earlier record already holds. The first record with a
 * key wins; a later one is rejected. Memory held: key sets of the user ids
 * and entry ids seen, one record, one batch.
 *
 * One legacy record becomes one group of rows in five tables: the profile
 * row and its specialties, tools, certifications and education, each list
 * entry with its position. The loader takes a group whole or not at all.
 *
 *  - survey counts what the walk finds, and also profiles whose user is not
 *    a readable record of identity/users.json; nothing is written;
 *  - backfill turns every mappable record into COPY rows and hands batches to
 *    the loader; Postgres decides the references (a profile whose user is not
 *    in identity.users, or whose entry id another user holds, is rejected by
 *    the classification with that reason); every unmappable record goes to
 *    the reject files with its original bytes;
 *  - verify stages the mappable records and classifies them against the
 *    tables: every one must be present and equal, list by list.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_store.h"
#include "keyset.h"
#include "legacy_identity.h"
#include "legacy_profile.h"
#include "loader.h"
#include "opkit.h"
#include "profile.h"
#include "profile_sql.h"
#include "pipeline.h"
#include "rejects.h"

#define PROFILES_KEY "profile/profiles.json"
#define PROFILES_COLL "profiles"
#define USERS_KEY "identity/users.json"

enum { K_SPECIALTIES, K_TOOLS, K_CERTS, K_EDU, K_CHILDREN };
static const char *const child_tables[K_CHILDREN] = {
	"content.profile_specialties", "content.profile_tools", "content.portfolio_certifications",
	"content.portfolio_education"};
static const char *const child_names[K_CHILDREN] = {"specialties", "tools", "certifications", "education entries"};

static void children_of(const cutover_portfolio *p, uint64_t n[K_CHILDREN])
{
	n[K_SPECIALTIES] = p->n_specialties;
	n[K_TOOLS] = p->n_tools;
	n[K_CERTS] = p->n_certifications;
	n[K_EDU] = p->n_education;
}

/* --- the walk ------------------------------------------------------------------ */

typedef struct walk_stats {
	bool present;
	uint64_t records, ok, skipped, children[K_CHILDREN];
	uint64_t unreadable, dup_users, dup_certs, dup_edu, orphans;
} walk_stats;

typedef struct walk_cb {
	int (*profile)(void *ud, const cutover_portfolio *p, const co_scan_item *it, const char *key, cutover_error *err);
	int (*reject)(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err);
	void *ud;
	const co_keyset *users; /* survey: the user ids of identity/users.json; a profile of another user is unmappable */
} walk_cb;

/* "user_id 17" when the record has a readable user_id, else "record 12". */
static void key_of(const co_scan_item *it, char *buf, size_t len)
{
	cJSON *j = NULL;
	cutover_error ignore;
	snprintf(buf, len, "record %llu", (unsigned long long)it->position);
	if (co_legacy_parse(it, &j, &ignore) == CUTOVER_OK) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "user_id");
		if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble < 9007199254740992.0 &&
		    id->valuedouble == (double)(int64_t)id->valuedouble)
			snprintf(buf, len, "user_id %lld", (long long)id->valuedouble);
		cJSON_Delete(j);
	}
}

/* Parse "1,2,5" into a key set (the rehearsal's --users). */
static int parse_only(const char *list, co_keyset **out, cutover_error *err)
{
	*out = NULL;
	if (!list)
		return CUTOVER_OK;
	co_keyset *ks = co_keyset_new();
	if (!ks)
		return co_err_oom(err);
	for (const char *p = list; *p;) {
		char *end;
		long long id = strtoll(p, &end, 10);
		if (end == p || id <= 0 || (*end && *end != ',')) {
			co_keyset_free(ks);
			co_err(err, CUTOVER_EINVALID, "--users: \"%s\" is not a list of user ids", list);
			co_err_hint(err, "write it as --users 1,2,17");
			return CUTOVER_EINVALID;
		}
		if (co_keyset_add_id(ks, id, 0, NULL) < 0) {
			co_keyset_free(ks);
			return co_err_oom(err);
		}
		p = *end ? end + 1 : end;
	}
	*out = ks;
	return CUTOVER_OK;
}

/* An id of the record's list that an earlier accepted record holds: the
 * reason, else "". */
static void taken_id(const cutover_portfolio *p, bool cert, const co_keyset *ids, char *reason, size_t len)
{
	size_t n = cert ? p->n_certifications : p->n_education;
	for (size_t i = 0; i < n; i++) {
		int64_t id = cert ? p->certifications[i].id : p->education[i].id, owner = 0;
		if (co_keyset_get(ids, &id, sizeof id, &owner)) {
			snprintf(reason, len, "duplicate %s id %" PRId64 ": user %" PRId64 "'s profile (an earlier record) has it",
				 cert ? "certification" : "education", id, owner);
			return;
		}
	}
}

static int walk(cli_ctx *ctx, const op_opts *o, const walk_cb *cb, walk_stats *ws, cutover_error *err)
{
	memset(ws, 0, sizeof(*ws));
	co_transport *t = NULL;
	int rc = co_transport_open(&t, o->st->json_root, o->st->json_token, err);
	if (rc)
		return rc;
	FILE *f = NULL;
	co_scan *sc = NULL;
	co_keyset *only = NULL, *users = co_keyset_new(), *certs = co_keyset_new(), *edus = co_keyset_new();
	if (!users || !certs || !edus)
		rc = co_err_oom(err);
	if (!rc)
		rc = parse_only(o->only_users, &only, err);
	if (!rc) {
		rc = co_transport_stream(t, PROFILES_KEY, &f, err);
		ws->present = rc == CUTOVER_OK;
		if (rc == CUTOVER_ENOTFOUND)
			rc = CUTOVER_OK;
	}
	if (!rc && f)
		rc = co_scan_json(&sc, f, PROFILES_KEY, PROFILES_COLL, err);
	co_scan_item it;
	while (!rc && sc && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		ws->records++;
		if (ws->records % 20000 == 0)
			cli_progress(ctx, "%s: %llu records", PROFILES_KEY, (unsigned long long)ws->records);
		char key[64], reason[240] = "";
		cutover_portfolio *p = NULL;
		cutover_error why;
		if (co_legacy_portfolio(&it, &p, &why) != CUTOVER_OK) {
			if (why.code == CUTOVER_EINTERNAL) {
				*err = why;
				rc = why.code;
				break;
			}
			ws->unreadable++;
			key_of(&it, key, sizeof key);
			if (cb->reject)
				rc = cb->reject(cb->ud, &it, key, why.message, err);
			continue;
		}
		snprintf(key, sizeof key, "user_id %" PRId64, p->user_id);
		if (only && !co_keyset_has_id(only, p->user_id)) {
			ws->skipped++;
			cutover_portfolio_free(p);
			continue;
		}
		int64_t first = 0;
		if (co_keyset_get(users, &p->user_id, sizeof p->user_id, &first)) {
			snprintf(reason, sizeof reason, "duplicate user_id %" PRId64 ": record %" PRId64 " has it", p->user_id,
				 first);
			ws->dup_users++;
		}
		if (!*reason) {
			taken_id(p, true, certs, reason, sizeof reason);
			ws->dup_certs += *reason != '\0';
		}
		if (!*reason) {
			taken_id(p, false, edus, reason, sizeof reason);
			ws->dup_edu += *reason != '\0';
		}
		if (!*reason && cb->users && !co_keyset_has_id(cb->users, p->user_id)) {
			snprintf(reason, sizeof reason, "user_id %" PRId64 " is not a readable user of %s", p->user_id, USERS_KEY);
			ws->orphans++;
		}
		if (*reason) {
			cutover_portfolio_free(p);
			if (cb->reject)
				rc = cb->reject(cb->ud, &it, key, reason, err);
			continue;
		}
		bool oom = co_keyset_add_id(users, p->user_id, (int64_t)it.position, NULL) < 0;
		for (size_t i = 0; !oom && i < p->n_certifications; i++)
			oom = co_keyset_add(certs, &p->certifications[i].id, sizeof(int64_t), p->user_id, NULL) < 0;
		for (size_t i = 0; !oom && i < p->n_education; i++)
			oom = co_keyset_add(edus, &p->education[i].id, sizeof(int64_t), p->user_id, NULL) < 0;
		if (oom) {
			cutover_portfolio_free(p);
			rc = co_err_oom(err);
			break;
		}
		uint64_t n[K_CHILDREN];
		children_of(p, n);
		for (int k = 0; k < K_CHILDREN; k++)
			ws->children[k] += n[k];
		ws->ok++;
		if (cb->profile)
			rc = cb->profile(cb->ud, p, &it, key, err);
		cutover_portfolio_free(p);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	cli_progress_done(ctx);
	co_scan_free(sc);
	if (f)
		fclose(f);
	co_keyset_free(only);
	co_keyset_free(users);
	co_keyset_free(certs);
	co_keyset_free(edus);
	t->free(t);
	return rc;
}

/* --- survey ----------------------------------------------------------------------- */

/* The ids of the readable users of identity/users.json. */
static int legacy_users(const op_opts *o, co_keyset **out, bool *present, cutover_error *err)
{
	co_transport *t = NULL;
	FILE *f = NULL;
	co_scan *sc = NULL;
	*out = co_keyset_new();
	*present = false;
	int rc = *out ? co_transport_open(&t, o->st->json_root, o->st->json_token, err) : co_err_oom(err);
	if (!rc) {
		rc = co_transport_stream(t, USERS_KEY, &f, err);
		*present = rc == CUTOVER_OK;
		if (rc == CUTOVER_ENOTFOUND)
			rc = CUTOVER_OK;
	}
	if (!rc && f)
		rc = co_scan_json(&sc, f, USERS_KEY, "users", err);
	co_scan_item it;
	while (!rc && sc && (rc = co_scan_next(sc, &it, err)) == CUTOVER_OK) {
		cutover_user *u = NULL;
		cutover_error ignore;
		if (co_legacy_user(&it, &u, &ignore) != CUTOVER_OK)
			continue;
		if (co_keyset_add_id(*out, u->id, 0, NULL) < 0)
			rc = co_err_oom(err);
		cutover_user_free(u);
	}
	if (rc == CUTOVER_ENOTFOUND)
		rc = CUTOVER_OK;
	co_scan_free(sc);
	if (f)
		fclose(f);
	if (t)
		t->free(t);
	return rc;
}

static int survey_reject(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err)
{
	(void)err;
	op_survey_unmappable(ud, PROFILES_KEY, it, key, reason);
	return CUTOVER_OK;
}

int profile_survey(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	op_survey_ctx sc = {o, 0};
	co_keyset *users = NULL;
	bool users_present;
	cutover_error err;
	int rc = legacy_users(o, &users, &users_present, &err);
	walk_stats ws;
	walk_cb cb = {.reject = survey_reject, .ud = &sc, .users = users};
	if (!rc)
		rc = walk(ctx, o, &cb, &ws, &err);
	co_keyset_free(users);
	if (rc)
		return cli_fail(&err);
	uint64_t bad = ws.unreadable + ws.dup_users + ws.dup_certs + ws.dup_edu + ws.orphans;
	if (out) {
		cJSON *f = cJSON_AddObjectToObject(out, PROFILES_KEY);
		cJSON_AddBoolToObject(f, "present", ws.present);
		op_count(f, "records", ws.records);
		op_count(f, "mappable", ws.ok);
		op_count(f, "specialties", ws.children[K_SPECIALTIES]);
		op_count(f, "tools", ws.children[K_TOOLS]);
		op_count(f, "certifications", ws.children[K_CERTS]);
		op_count(f, "education", ws.children[K_EDU]);
		op_count(f, "unreadable", ws.unreadable);
		op_count(f, "duplicate_user_ids", ws.dup_users);
		op_count(f, "duplicate_certification_ids", ws.dup_certs);
		op_count(f, "duplicate_education_ids", ws.dup_edu);
		op_count(f, "missing_user", ws.orphans);
		cJSON_AddBoolToObject(f, "users_json_present", users_present);
	} else {
		printf("%s%s\n", PROFILES_KEY, ws.present ? "" : " (absent)");
		printf("  records %llu, mappable %llu (specialties %llu, tools %llu, certifications %llu, education %llu)\n",
		       (unsigned long long)ws.records, (unsigned long long)ws.ok,
		       (unsigned long long)ws.children[K_SPECIALTIES], (unsigned long long)ws.children[K_TOOLS],
		       (unsigned long long)ws.children[K_CERTS], (unsigned long long)ws.children[K_EDU]);
		printf("  unreadable or out of range %llu, duplicate user_ids %llu, duplicate certification ids %llu, "
		       "duplicate education ids %llu, user missing from %s%s %llu\n",
		       (unsigned long long)ws.unreadable, (unsigned long long)ws.dup_users, (unsigned long long)ws.dup_certs,
		       (unsigned long long)ws.dup_edu, USERS_KEY, users_present ? "" : " (absent)",
		       (unsigned long long)ws.orphans);
		printf("profile: %llu unmappable record%s\n", (unsigned long long)bad, bad == 1 ? "" : "s");
	}
	return bad ? EXIT_CHECKS : EXIT_OK;
}

/* --- loading (backfill and verify) ------------------------------------------------- */

static const co_load_spec profiles_spec = {
	.what = "profiles",
	.stage_ddl = profile_stage_ddl,
	.truncate = "TRUNCATE stage_profiles, stage_profile_specialties, stage_profile_tools, "
		    "stage_profile_certifications, stage_profile_education",
	.classify = profiles_classify,
	.report = "SELECT pos, state, detail FROM stage_profiles WHERE state <> 'new' ORDER BY pos",
	.select_new = "SELECT pos FROM stage_profiles WHERE state = 'new' ORDER BY pos",
	.nparts = 5,
	.parts = {
		{"COPY content.portfolio_profiles (" PROFILE_COLS ") FROM STDIN",
		 "COPY stage_profiles (pos, " PROFILE_COLS ") FROM STDIN",
		 "INSERT INTO content.portfolio_profiles (" PROFILE_COLS ") SELECT " PROFILE_COLS
		 " FROM stage_profiles WHERE state = 'new'",
		 "INSERT INTO content.portfolio_profiles (" PROFILE_COLS ") SELECT " PROFILE_COLS
		 " FROM stage_profiles WHERE state = 'new' AND pos = $1::bigint"},
		{"COPY content.profile_specialties (" NAME_COLS ") FROM STDIN",
		 "COPY stage_profile_specialties (pos, " NAME_COLS ") FROM STDIN",
		 CHILD_INSERT("content.profile_specialties", NAME_COLS, "stage_profile_specialties", NAME_SEL),
		 CHILD_INSERT("content.profile_specialties", NAME_COLS, "stage_profile_specialties", NAME_SEL)
		 " AND s.pos = $1::bigint"},
		{"COPY content.profile_tools (" NAME_COLS ") FROM STDIN",
		 "COPY stage_profile_tools (pos, " NAME_COLS ") FROM STDIN",
		 CHILD_INSERT("content.profile_tools", NAME_COLS, "stage_profile_tools", NAME_SEL),
		 CHILD_INSERT("content.profile_tools", NAME_COLS, "stage_profile_tools", NAME_SEL) " AND s.pos = $1::bigint"},
		{"COPY content.portfolio_certifications (" CERT_COLS ") FROM STDIN",
		 "COPY stage_profile_certifications (pos, " CERT_COLS ") FROM STDIN",
		 CHILD_INSERT("content.portfolio_certifications", CERT_COLS, "stage_profile_certifications", CERT_SEL),
		 CHILD_INSERT("content.portfolio_certifications", CERT_COLS, "stage_profile_certifications", CERT_SEL)
		 " AND s.pos = $1::bigint"},
		{"COPY content.portfolio_education (" EDU_COLS ") FROM STDIN",
		 "COPY stage_profile_education (pos, " EDU_COLS ") FROM STDIN",
		 CHILD_INSERT("content.portfolio_education", EDU_COLS, "stage_profile_education", EDU_SEL),
		 CHILD_INSERT("content.portfolio_education", EDU_COLS, "stage_profile_education", EDU_SEL)
		 " AND s.pos = $1::bigint"},
	},
};

static void year(co_buf *b, int y)
{
	if (y)
		co_copy_int(b, false, y);
	else
		co_copy_text(b, false, NULL);
}

/* The group of rows of one profile: into the target buffers, or (pos > 0)
 * the stage buffers with the record position first. */
static void rows(co_batch *b, const cutover_portfolio *p, uint64_t pos)
{
	co_buf *t[5];
	for (int i = 0; i < 5; i++) {
		t[i] = pos ? &b->stage[i] : &b->target[i];
	}
#define START(buf)                                      \
	do {                                            \
		if (pos) {                              \
			co_copy_int(buf, true, (int64_t)pos); \
			co_copy_int(buf, false, p->user_id); \
		} else {                                \
			co_copy_int(buf, true, p->user_id); \
		}                                       \
	} while (0)
	START(t[0]);
	co_copy_text(t[0], false, p->headline);
	co_copy_text(t[0], false, p->bio);
	co_copy_text(t[0], false, p->location);
	co_copy_text(t[0], false, p->website);
	co_copy_text(t[0], false, p->avatar_path);
	co_copy_ts(t[0], false, p->updated_at);
	co_copy_end_row(t[0]);
	for (size_t i = 0; i < p->n_specialties; i++) {
		START(t[1]);
		co_copy_int(t[1], false, (int64_t)i);
		co_copy_text(t[1], false, p->specialties[i]);
		co_copy_end_row(t[1]);
	}
	for (size_t i = 0; i < p->n_tools; i++) {
		START(t[2]);
		co_copy_int(t[2], false, (int64_t)i);
		co_copy_text(t[2], false, p->tools[i]);
		co_copy_end_row(t[2]);
	}
#undef START
	for (size_t i = 0; i < p->n_certifications; i++) {
		const cutover_certification *c = &p->certifications[i];
		if (pos)
			co_copy_int(t[3], true, (int64_t)pos);
		co_copy_int(t[3], !pos, c->id);
		co_copy_int(t[3], false, p->user_id);
		co_copy_int(t[3], false, (int64_t)i);
		co_copy_text(t[3], false, c->name);
		co_copy_text(t[3], false, c->issuer);
		co_copy_text(t[3], false, c->issued_on);
		co_copy_text(t[3], false, c->expires_on);
		co_copy_text(t[3], false, c->credential_id);
		co_copy_text(t[3], false, c->credential_url);
		co_copy_text(t[3], false, c->asset_path);
		co_copy_end_row(t[3]);
	}
	for (size_t i = 0; i < p->n_education; i++) {
		const cutover_education *e = &p->education[i];
		if (pos)
			co_copy_int(t[4], true, (int64_t)pos);
		co_copy_int(t[4], !pos, e->id);
		co_copy_int(t[4], false, p->user_id);
		co_copy_int(t[4], false, (int64_t)i);
		co_copy_text(t[4], false, e->institution);
		co_copy_text(t[4], false, e->degree);
		co_copy_text(t[4], false, e->field);
		year(t[4], e->start_year);
		year(t[4], e->end_year);
		co_copy_end_row(t[4]);
	}
}

typedef struct load_ctx {
	co_run_env env;
	co_run run;
	bool verify;
	uint64_t pg_children[K_CHILDREN]; /* verify: rows postgres holds for the staged users */
} load_ctx;

static int load_reject(void *ud, const co_scan_item *it, const char *key, const char *reason, cutover_error *err)
{
	load_ctx *lc = ud;
	return co_run_reject(&lc->run, NULL, it, key, reason, err);
}

/* verify: the stage still holds this batch; count postgres's rows of these users */
static int count_children(void *ud, cutover_error *err)
{
	load_ctx *lc = ud;
	if (!lc->verify)
		return CUTOVER_OK;
	PGresult *r = co_pg_exec(lc->env.pg, "verify profile lists",
				 "SELECT (SELECT count(*) FROM content.profile_specialties x JOIN stage_profiles s"
				 " ON s.user_id = x.user_id),"
				 " (SELECT count(*) FROM content.profile_tools x JOIN stage_profiles s ON s.user_id = x.user_id),"
				 " (SELECT count(*) FROM content.portfolio_certifications x JOIN stage_profiles s"
				 " ON s.user_id = x.user_id),"
				 " (SELECT count(*) FROM content.portfolio_education x JOIN stage_profiles s"
				 " ON s.user_id = x.user_id)",
				 0, NULL, err);
	if (!r)
		return err->code;
	for (int k = 0; k < K_CHILDREN; k++)
		lc->pg_children[k] += strtoull(PQgetvalue(r, 0, k), NULL, 10);
	PQclear(r);
	return CUTOVER_OK;
}

static int load_profile(void *ud, const cutover_portfolio *p, const co_scan_item *it, const char *key, cutover_error *err)
{
	load_ctx *lc = ud;
	co_batch *b = co_run_batch(&lc->run);
	rows(b, p, 0);
	rows(b, p, it->position);
	_Static_assert(K_CHILDREN <= CO_RUN_CHILDREN, "a profile's lists are the loader's parts after the first");
	uint64_t children[CO_RUN_CHILDREN] = {0};
	children_of(p, children);
	return co_run_added(&lc->run, it->position, it, NULL, key, children, err);
}

static int open_load(const op_opts *o, load_ctx *lc, co_load_mode mode, bool verify, cutover_error *err)
{
	memset(lc, 0, sizeof(*lc));
	lc->verify = verify;
	co_run_init(&lc->run, &lc->env, &profiles_spec, PROFILES_KEY, PROFILES_COLL, o->batch);
	lc->run.classified = count_children;
	lc->run.ud = lc;
	return co_run_env_open(&lc->env, o, CUTOVER_DOMAIN_PROFILE, &profiles_spec, mode, verify, err);
}

static void close_load(load_ctx *lc)
{
	co_run_free(&lc->run);
	co_run_env_close(&lc->env);
}

/* Walk, load every batch, land the last one. */
static int load_all(cli_ctx *ctx, const op_opts *o, load_ctx *lc, walk_stats *ws, cutover_error *err)
{
	walk_cb cb = {.profile = load_profile, .reject = lc->verify ? NULL : load_reject, .ud = lc};
	int rc = walk(ctx, o, &cb, ws, err);
	return rc ? rc : co_run_drain(&lc->run, err);
}

/* --- backfill ---------------------------------------------------------------------- */

int profile_backfill(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	walk_stats ws;
	memset(&ws, 0, sizeof ws);
	int rc = open_load(o, &lc, o->apply ? CO_LOAD_APPLY : CO_LOAD_CLASSIFY, false, &err);
	if (rc == CUTOVER_OK)
		rc = load_all(ctx, o, &lc, &ws, &err);
	if (rc) {
		int code = op_backfill_failed(&err, lc.run.counts.inserted > 0);
		close_load(&lc);
		return code;
	}
	op_line lines[1 + K_CHILDREN] = {
		{.table = "content.portfolio_profiles", .source = PROFILES_KEY, .what = "profiles", .records = ws.records,
		 .counts = lc.run.counts, .rejected = lc.run.walk_rejects + lc.run.counts.rejected},
	};
	char what[K_CHILDREN][96];
	for (int k = 0; k < K_CHILDREN; k++) {
		snprintf(what[k], sizeof(what[k]), "%s of mappable profiles (%s)", child_names[k], child_tables[k]);
		lines[1 + k] = (op_line){.table = child_tables[k], .what = what[k], .records = ws.children[k],
					 .counts = {.inserted = ws.children[k] - lc.run.children_not_new[k]}};
	}
	int code = op_backfill_report(CUTOVER_DOMAIN_PROFILE, o, out, lc.env.pg, lc.env.rejects, lines,
				      sizeof(lines) / sizeof(lines[0]));
	close_load(&lc);
	return code;
}

/* --- verify -------------------------------------------------------------------------- */

int profile_verify(cli_ctx *ctx, const op_opts *o, cJSON *out)
{
	load_ctx lc;
	cutover_error err;
	op_opts vo = *o;
	vo.only_users = NULL;
	walk_stats ws;
	memset(&ws, 0, sizeof ws);
	int rc = open_load(&vo, &lc, CO_LOAD_CLASSIFY, true, &err);
	if (rc == CUTOVER_OK)
		rc = load_all(ctx, &vo, &lc, &ws, &err);
	long long orphans = -1, rls = -1, gaps = -1;
	if (rc == CUTOVER_OK &&
	    ((orphans = op_count_of(lc.env.pg,
				    "SELECT (SELECT count(*) FROM content.portfolio_profiles p WHERE NOT EXISTS"
				    " (SELECT 1 FROM identity.users u WHERE u.id = p.user_id))"
				    " + (SELECT count(*) FROM content.profile_specialties x WHERE NOT EXISTS"
				    " (SELECT 1 FROM content.portfolio_profiles p WHERE p.user_id = x.user_id))"
				    " + (SELECT count(*) FROM content.profile_tools x WHERE NOT EXISTS"
				    " (SELECT 1 FROM content.portfolio_profiles p WHERE p.user_id = x.user_id))"
				    " + (SELECT count(*) FROM content.portfolio_certifications x WHERE NOT EXISTS"
				    " (SELECT 1 FROM content.portfolio_profiles p WHERE p.user_id = x.user_id))"
				    " + (SELECT count(*) FROM content.portfolio_education x WHERE NOT EXISTS"
				    " (SELECT 1 FROM content.portfolio_profiles p WHERE p.user_id = x.user_id))",
				    &err)) < 0 ||
	     /* every list's positions are 0..n-1: order is all a position says */
	     (gaps = op_count_of(lc.env.pg,
				 "SELECT count(*) FROM (SELECT user_id FROM content.profile_specialties GROUP BY user_id"
				 " HAVING max(position) <> count(*) - 1 UNION ALL SELECT user_id FROM content.profile_tools"
				 " GROUP BY user_id HAVING max(position) <> count(*) - 1 UNION ALL SELECT user_id FROM"
				 " content.portfolio_certifications GROUP BY user_id HAVING max(position) <> count(*) - 1"
				 " UNION ALL SELECT user_id FROM content.portfolio_education GROUP BY user_id"
				 " HAVING max(position) <> count(*) - 1) g",
				 &err)) < 0 ||
	     (rls = op_count_of(lc.env.pg,
				"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
				" WHERE n.nspname = 'content' AND c.relname IN ('portfolio_profiles', 'profile_specialties',"
				" 'profile_tools', 'portfolio_certifications', 'portfolio_education') AND c.relrowsecurity",
				&err)) < 0))
		rc = err.code;
	co_seq_health h[4];
	size_t nh = 0;
	if (rc == CUTOVER_OK)
		rc = co_pg_sequence_health(lc.env.pg, CUTOVER_DOMAIN_PROFILE, h, 4, &nh, &err);
	if (rc) {
		int code = cli_fail(&err);
		close_load(&lc);
		return code;
	}
	op_checks c = {.arr = out ? cJSON_AddArrayToObject(out, "checks") : NULL};
	const co_load_counts *n = &lc.run.counts;
	uint64_t mappable = ws.ok - n->rejected, unmappable = ws.records - mappable, present = n->equal + n->differ;
	op_check(&c, present == mappable, "content.portfolio_profiles count",
		 "%llu legacy records - %llu unmappable = %llu; postgres holds %llu of them%s",
		 (unsigned long long)ws.records, (unsigned long long)unmappable, (unsigned long long)mappable,
		 (unsigned long long)present, present == mappable ? "" : " (run cutover backfill profile --apply)");
	op_check(&c, n->differ == 0, "content.portfolio_profiles fidelity",
		 "%llu of %llu profiles differ from their legacy record (fields, or any list's entries or order)",
		 (unsigned long long)n->differ, (unsigned long long)present);
	for (int k = 0; k < K_CHILDREN; k++) {
		uint64_t want = ws.children[k] - lc.run.children_rejected[k];
		char name[80];
		snprintf(name, sizeof name, "%s count", child_tables[k]);
		op_check(&c, lc.pg_children[k] == want, name, "%llu legacy %s of mappable profiles; postgres holds %llu for those users",
			 (unsigned long long)want, child_names[k], (unsigned long long)lc.pg_children[k]);
	}
	op_check(&c, orphans == 0, "no orphans", "%lld profiles without their user or list rows without their profile",
		 orphans);
	op_check(&c, gaps == 0, "list positions", "%lld lists whose positions are not 0..n-1", gaps);
	op_check_sequences(&c, h, nh);
	op_check(&c, rls == 5, "row level security", "enabled on %lld of 5 profile tables", rls);
	close_load(&lc);
	return op_checks_end(&c, out, "profile");
}
