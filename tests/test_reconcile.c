/* test_reconcile.c — `cutover reconcile`, key kind by key kind.
 *
 * Each test makes the two stores differ on purpose (writing one store's
 * backend directly), journals the keys as a failed second write would
 * (co_journal_record), and runs the operator program:
 *  - a dry run says per key what it would do and writes nothing: neither
 *    store, nor the journal;
 *  - --apply makes the target equal the source for every journaled key
 *    kind: user, session (put and delete), user_sessions (the target ends
 *    with exactly the source's sessions of the user), expired_sessions
 *    (replayed), profile, report, incident, event; a target copy that looks
 *    newer is replaced (the authoritative record is the truth);
 *  - the journal is then empty, `cutover status` shows 0 unreconciled keys,
 *    and a second --apply finds nothing to do;
 *  - a target holding another record under the key (another email) is
 *    ECONFLICT: exit 1, the entry kept, the stores untouched; an entry that
 *    cannot be read is kept and reported;
 *  - with the flag moved so the target is authoritative, differing keys are
 *    left alone (exit 1), agreeing ones are cleared, and --from repairs;
 *  - session keys (token hashes) never appear in the output;
 *  - entries appended while a rewrite happens are kept, and a writer that
 *    held the old journal file reopens the new one.
 *
 * Runs under tests/with-postgres.sh.
 * usage: test_reconcile CUTOVER_BIN
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json_store.h"
#include "pg.h"
#include "profile_int.h"
#include "reports_int.h"
#include "support.h"
#include "telemetry_int.h"

#define SEC 1000000LL

static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

/* Journal one key as the router does after a failed second write. */
static void journal(const test_env *e, cutover_domain d, const char *entity, const char *key, const char *target)
{
	co_journal *j = NULL;
	expect_ok(co_journal_open(&j, e->journal, d, &err));
	cutover_error cause;
	co_err(&cause, CUTOVER_EUNAVAILABLE, "postgres unavailable (test)");
	expect_ok(co_journal_record(j, entity, key, "test", target, &cause));
	co_journal_close(j);
}

static const char *id_text(int64_t id, char buf[24])
{
	snprintf(buf, 24, "%lld", (long long)id);
	return buf;
}

static char *journal_text(const test_env *e, const char *domain)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s.journal", e->journal, domain);
	char *t = test_read_file(path, NULL);
	return t ? t : strdup("");
}

static size_t unreconciled(const test_env *e, cutover_domain d)
{
	size_t n = 99;
	expect_ok(co_journal_count(e->journal, d, &n, &err));
	return n;
}

static cutover_user *user_in(cutover_identity *s, const char *email, const char *name)
{
	cutover_user in = {.email = (char *)email, .role = "analyst", .display_name = (char *)name,
			   .password_hash = "$2b$12$RECONCILESECRETHASHxx", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(s, &u, &in, &err));
	return u;
}

static void session_in(cutover_identity *s, unsigned n, int64_t user_id, cutover_ts expires)
{
	char tok[65];
	cutover_session in = {.token_hash = (char *)test_token(n, tok), .user_id = user_id,
			      .created_at = CUTOVER_TS_NULL, .expires_at = expires, .last_seen_at = CUTOVER_TS_NULL};
	expect_ok(cutover_identity_create_session(s, &in, &err));
}

static void expect_same_user(cutover_identity *a, cutover_identity *b, int64_t id)
{
	cutover_user *x = NULL, *y = NULL;
	expect_ok(cutover_identity_get_user(a, &x, id, &err));
	expect_ok(cutover_identity_get_user(b, &y, id, &err));
	char d[256];
	if (co_user_diff(x, y, d, sizeof d))
		fail_msg("user %lld differs: %s", (long long)id, d);
	cutover_user_free(x);
	cutover_user_free(y);
}

static bool has_session(cutover_identity *s, unsigned n)
{
	char tok[65];
	cutover_session *ss = NULL;
	int rc = cutover_identity_get_session(s, &ss, test_token(n, tok), &err);
	cutover_session_free(ss);
	assert_true(rc == CUTOVER_OK || rc == CUTOVER_ENOTFOUND);
	return rc == CUTOVER_OK;
}

static void expect_same_session(cutover_identity *a, cutover_identity *b, unsigned n)
{
	char tok[65], d[256];
	cutover_session *x = NULL, *y = NULL;
	expect_ok(cutover_identity_get_session(a, &x, test_token(n, tok), &err));
	expect_ok(cutover_identity_get_session(b, &y, test_token(n, tok), &err));
	if (co_session_diff(x, y, d, sizeof d))
		fail_msg("session %u differs: %s", n, d);
	cutover_session_free(x);
	cutover_session_free(y);
}

/* A fingerprint of the whole identity state of postgres (constant SQL). */
static char *pg_identity_state(const test_env *e)
{
	return test_sql_value(e, "SELECT md5(coalesce((SELECT string_agg(u::text, '|' ORDER BY id) FROM identity.users u), '')"
				 " || coalesce((SELECT string_agg(s::text, '|' ORDER BY token_hash) FROM identity.sessions s), ''))");
}

/* --- identity: every kind of key ------------------------------------------------ */

static void identity_every_kind(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcid");
	cutover_identity *j = NULL, *p = NULL;
	expect_ok(cutover_identity_json(&j, e.json_root, NULL, &err));
	expect_ok(cutover_identity_postgres(&p, e.conninfo, &err));
	char key[24], tok[65];
	cutover_ts later = cutover_now() + 3600 * SEC;

	/* user a: in both, then renamed in json only (postgres missed the update) */
	cutover_user *a = user_in(j, "a@example.com", "Ann");
	expect_ok(p->put_user(p, a, &err));
	cutover_user_patch rename = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Ann Renamed"};
	cutover_user *a2 = NULL;
	expect_ok(cutover_identity_update_user(j, &a2, a->id, &rename, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(a->id, key), "postgres");
	/* user b: json only (postgres missed the create) */
	cutover_user *b = user_in(j, "b@example.com", "Ben");
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(b->id, key), "postgres");
	/* user c: postgres holds a "newer" copy (a later updated_at): json's is the truth */
	cutover_user *c = user_in(j, "c@example.com", "Cy");
	cutover_user newer = *c;
	newer.display_name = "Cy from the future";
	newer.updated_at = c->updated_at + 3600 * SEC;
	expect_ok(p->put_user(p, &newer, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(c->id, key), "postgres");
	/* session 1 of a: json only; session 2: postgres only (json deleted it: a failed logout) */
	cutover_user *dd = user_in(j, "d@example.com", "Dee");
	expect_ok(p->put_user(p, dd, &err));
	session_in(j, 1, a->id, later);
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "session", test_token(1, tok), "postgres");
	session_in(p, 2, a->id, later);
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "session", test_token(2, tok), "postgres");
	/* user_sessions of dd: json has session 3 (touched); postgres has 3 (untouched), 4 and 5 */
	session_in(j, 3, dd->id, later);
	session_in(p, 3, dd->id, later);
	expect_ok(cutover_identity_touch_session(j, NULL, test_token(3, tok), CUTOVER_TS_NOW, &err));
	session_in(p, 4, dd->id, later);
	session_in(p, 5, dd->id, later);
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user_sessions", id_text(dd->id, key), "postgres");
	/* expired_sessions: postgres still holds session 6 that expired before `now` */
	cutover_session old = {.token_hash = (char *)test_token(6, tok), .user_id = a->id,
			       .created_at = cutover_now() - 7200 * SEC, .expires_at = cutover_now() - 3600 * SEC,
			       .last_seen_at = CUTOVER_TS_NULL};
	expect_ok(p->put_session(p, &old, &err));
	char now_text[40];
	cutover_ts_format(cutover_now(), now_text, sizeof now_text);
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "expired_sessions", now_text, "postgres");
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 7);

	/* the dry run: says what it would do, writes nothing */
	char *before_pg = pg_identity_state(&e), *before_journal = journal_text(&e, "identity");
	char users_path[400];
	snprintf(users_path, sizeof users_path, "%s/identity/sessions.json", e.root);
	char *before_json = test_read_file(users_path, NULL);
	char *out = test_cutover_expect(&e, 0, "reconcile identity");
	assert_non_null(strstr(out, "would copy json's record to postgres (postgres differs in display_name"));
	assert_non_null(strstr(out, "would copy json's record to postgres (postgres has none)"));
	assert_non_null(strstr(out, "would delete it from postgres (json has none)"));
	assert_non_null(strstr(out, "would delete from postgres the sessions that had expired"));
	assert_non_null(strstr(out, "dry run, nothing written: 7 keys would be repaired"));
	assert_null(strstr(out, test_token(1, tok))); /* token hashes only ever redacted */
	assert_null(strstr(out, test_token(2, tok)));
	assert_non_null(strstr(out, "[redacted:"));
	free(out);
	char *after_pg = pg_identity_state(&e), *after_journal = journal_text(&e, "identity");
	char *after_json = test_read_file(users_path, NULL);
	assert_string_equal(before_pg, after_pg);
	assert_string_equal(before_journal, after_journal);
	assert_string_equal(before_json, after_json);
	free(before_pg);
	free(after_pg);
	free(before_journal);
	free(after_journal);
	free(before_json);
	free(after_json);

	/* --json: machine-readable, redacted too */
	out = test_cutover_expect(&e, 0, "--json reconcile identity");
	cJSON *doc = cJSON_Parse(out);
	assert_non_null(doc);
	cJSON *id = cJSON_GetObjectItem(doc, "identity");
	assert_int_equal(cJSON_GetObjectItem(id, "would_repair")->valueint, 7);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(id, "dry_run")));
	assert_null(strstr(out, test_token(1, tok)));
	cJSON_Delete(doc);
	free(out);

	/* --apply repairs every key */
	out = test_cutover_expect(&e, 0, "reconcile identity --apply");
	assert_non_null(strstr(out, "7 keys repaired"));
	assert_non_null(strstr(out, "7 entries removed, 0 kept"));
	assert_null(strstr(out, test_token(1, tok)));
	free(out);
	expect_same_user(j, p, a->id);
	expect_same_user(j, p, b->id);
	expect_same_user(j, p, c->id); /* postgres's "newer" copy replaced by json's */
	cutover_user *cp = NULL;
	expect_ok(cutover_identity_get_user(p, &cp, c->id, &err));
	assert_string_equal(cp->display_name, "Cy");
	cutover_user_free(cp);
	expect_same_session(j, p, 1);
	assert_false(has_session(p, 2));
	expect_same_session(j, p, 3); /* json's touch */
	assert_false(has_session(p, 4));
	assert_false(has_session(p, 5));
	assert_false(has_session(p, 6));
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 0);
	char *jt = journal_text(&e, "identity");
	assert_string_equal(jt, "");
	free(jt);
	struct stat sb;
	char jpath[400];
	snprintf(jpath, sizeof jpath, "%s/identity.journal", e.journal);
	assert_int_equal(stat(jpath, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	out = test_cutover_expect(&e, 0, "--json status");
	doc = cJSON_Parse(out);
	cJSON *ds = cJSON_GetObjectItem(doc, "domains");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ds, 0), "unreconciled")->valueint, 0);
	cJSON_Delete(doc);
	free(out);

	/* idempotent: a second --apply does nothing */
	char *snap1 = pg_identity_state(&e);
	out = test_cutover_expect(&e, 0, "reconcile identity --apply");
	assert_non_null(strstr(out, "0 journal entries, 0 keys"));
	free(out);
	char *state2 = pg_identity_state(&e);
	assert_string_equal(snap1, state2);
	free(snap1);
	free(state2);

	cutover_user_free(a);
	cutover_user_free(a2);
	cutover_user_free(b);
	cutover_user_free(c);
	cutover_user_free(dd);
	cutover_identity_free(j);
	cutover_identity_free(p);
	test_env_fini(&e);
}

/* --- a conflict, an unreadable entry, a key already equal ------------------------- */

static void conflict_and_unreadable_entry_are_kept(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcconf");
	cutover_identity *j = NULL, *p = NULL;
	expect_ok(cutover_identity_json(&j, e.json_root, NULL, &err));
	expect_ok(cutover_identity_postgres(&p, e.conninfo, &err));
	char key[24];
	/* postgres holds another person under json's user id */
	cutover_user *u = user_in(j, "mine@example.com", "Mine");
	cutover_user other = *u;
	other.email = "someone-else@example.com";
	other.display_name = "Someone else";
	expect_ok(p->put_user(p, &other, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(u->id, key), "postgres");
	/* a key whose stores already agree */
	cutover_user *v = user_in(j, "same@example.com", "Same");
	expect_ok(p->put_user(p, v, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(v->id, key), "postgres");
	/* an entry that cannot be read, and one of an unknown entity */
	char path[400];
	snprintf(path, sizeof path, "%s/identity.journal", e.journal);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"domain\":\"identity\",\"entity\":\"user\",\"key\":\n", f);
	fputs("{\"at\":\"x\",\"domain\":\"identity\",\"entity\":\"gizmo\",\"key\":\"1\",\"op\":\"x\",\"target\":\"postgres\"}\n", f);
	fclose(f);

	char *out = test_cutover_expect(&e, 1, "reconcile identity");
	assert_non_null(strstr(out, "the stores already agree"));
	free(out);
	/* a store that cannot be reached: exit 3, nothing written, the journal as it was */
	char *jbefore = journal_text(&e, "identity"), cmd[1200];
	snprintf(cmd, sizeof cmd, "CUTOVER_JSON_ROOT='%s' DATABASE_URL='dbname=no_such_db_rc' '%s' --json reconcile all "
				  "--apply 2>/dev/null",
		 e.root, test_cutover_bin);
	int status;
	out = test_run_capture(cmd, &status);
	assert_int_equal(status, 3);
	cJSON *stopped = cJSON_Parse(out);
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(stopped, "identity"), "error"));
	cJSON_Delete(stopped);
	free(out);
	char *jafter = journal_text(&e, "identity");
	assert_string_equal(jbefore, jafter);
	free(jbefore);
	free(jafter);
	out = test_cutover_expect(&e, 1, "reconcile identity --apply");
	assert_non_null(strstr(out, "belongs to another email"));
	assert_non_null(strstr(out, "cannot be read"));
	assert_non_null(strstr(out, "unknown entity"));
	assert_non_null(strstr(out, "3 kept"));
	assert_null(strstr(out, "someone-else@example.com"));
	assert_null(strstr(out, "mine@example.com"));
	free(out);
	/* postgres's row is left as it was; the conflict, the broken entries stay */
	cutover_user *pu = NULL;
	expect_ok(cutover_identity_get_user(p, &pu, u->id, &err));
	assert_string_equal(pu->email, "someone-else@example.com");
	cutover_user_free(pu);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 3);
	char *jt = journal_text(&e, "identity");
	assert_non_null(strstr(jt, "\"entity\":\"user\",\"key\":\n"));
	assert_non_null(strstr(jt, "gizmo"));
	free(jt);
	out = test_cutover_expect(&e, 1, "--json reconcile identity --apply");
	cJSON *doc = cJSON_Parse(out);
	cJSON *id = cJSON_GetObjectItem(doc, "identity");
	assert_int_equal(cJSON_GetObjectItem(id, "not_repaired")->valueint, 3);
	bool conflict = false;
	cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(id, "items")) {
		cJSON *code = cJSON_GetObjectItem(it, "code");
		conflict |= code && strcmp(code->valuestring, cutover_code_name(CUTOVER_ECONFLICT)) == 0;
	}
	assert_true(conflict);
	cJSON_Delete(doc);
	free(out);
	cutover_user_free(u);
	cutover_user_free(v);
	cutover_identity_free(j);
	cutover_identity_free(p);
	test_env_fini(&e);
}

/* --- the flag moved before reconciling ------------------------------------------------- */

static void flipped_keys_are_compared_not_copied(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcflip");
	cutover_identity *j = NULL, *p = NULL;
	expect_ok(cutover_identity_json(&j, e.json_root, NULL, &err));
	expect_ok(cutover_identity_postgres(&p, e.conninfo, &err));
	char key[24];
	/* dualwrite's entries: postgres missed the rename of x; y was repaired by a later write */
	cutover_user *x = user_in(j, "x@example.com", "Xavier");
	expect_ok(p->put_user(p, x, &err));
	cutover_user_patch rename = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Xavier Renamed"};
	cutover_user *x2 = NULL;
	expect_ok(cutover_identity_update_user(j, &x2, x->id, &rename, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(x->id, key), "postgres");
	cutover_user *y = user_in(j, "y@example.com", "Yves");
	expect_ok(p->put_user(p, y, &err));
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(y->id, key), "postgres");

	/* reconciled in live: postgres is authoritative now */
	setenv("IDENTITY_STORE", "live", 1);
	char *out = test_cutover_expect(&e, 1, "reconcile identity --apply");
	unsetenv("IDENTITY_STORE");
	assert_non_null(strstr(out, "IDENTITY_STORE=live makes postgres authoritative"));
	assert_non_null(strstr(out, "--from json"));
	free(out);
	cutover_user *px = NULL;
	expect_ok(cutover_identity_get_user(p, &px, x->id, &err));
	assert_string_equal(px->display_name, "Xavier"); /* left alone */
	cutover_user_free(px);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 1); /* y agreed: cleared */

	/* the operator compared the copies: json's is right */
	setenv("IDENTITY_STORE", "live", 1);
	out = test_cutover_expect(&e, 0, "reconcile identity --apply --from json");
	unsetenv("IDENTITY_STORE");
	free(out);
	expect_same_user(j, p, x->id);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 0);
	out = test_cutover_expect(&e, 2, "reconcile identity --from mysql");
	free(out);
	cutover_user_free(x);
	cutover_user_free(x2);
	cutover_user_free(y);
	cutover_identity_free(j);
	cutover_identity_free(p);
	test_env_fini(&e);
}

/* --- profile and reports ----------------------------------------------------------------- */

static void profile_and_reports(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcpr");
	cutover_identity *ij = NULL, *ip = NULL;
	expect_ok(cutover_identity_json(&ij, e.json_root, NULL, &err));
	expect_ok(cutover_identity_postgres(&ip, e.conninfo, &err));
	cutover_user *u = user_in(ij, "author@example.com", "Author");
	expect_ok(ip->put_user(ip, u, &err));
	cutover_profile *pj = NULL, *pp = NULL;
	expect_ok(cutover_profile_json(&pj, e.json_root, NULL, &err));
	expect_ok(cutover_profile_postgres(&pp, e.conninfo, &err));
	cutover_reports *rj = NULL, *rp = NULL;
	expect_ok(cutover_reports_json(&rj, e.json_root, NULL, &err));
	expect_ok(cutover_reports_postgres(&rp, e.conninfo, &err));
	char key[24];

	/* a portfolio in both, then edited in postgres (live): json missed it */
	char *specs[] = {"dfir", "malware"};
	cutover_portfolio in = {.user_id = u->id, .headline = "Analyst", .specialties = specs, .n_specialties = 2,
				.updated_at = CUTOVER_TS_NULL};
	cutover_portfolio *pf = NULL;
	expect_ok(cutover_profile_put(pp, &pf, &in, &err));
	expect_ok(pj->replicate(pj, pf, &err));
	cutover_certification cert = {.name = "GCFA", .issuer = "GIAC"};
	cutover_portfolio *pf2 = NULL;
	expect_ok(cutover_profile_add_certification(pp, &pf2, u->id, &cert, &err));
	journal(&e, CUTOVER_DOMAIN_PROFILE, "profile", id_text(u->id, key), "json");

	/* a report: created in postgres (live) and json missed it; another whose trail json missed */
	cutover_report rin = {.title = "Phishing wave", .severity = "high", .author_id = u->id,
			      .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *r1 = NULL, *r2 = NULL, *r2b = NULL;
	expect_ok(cutover_reports_create(rp, &r1, &rin, &err));
	journal(&e, CUTOVER_DOMAIN_REPORTS, "report", id_text(r1->id, key), "json");
	rin.title = "Ransomware note";
	expect_ok(cutover_reports_create(rp, &r2, &rin, &err));
	expect_ok(rj->put_report(rj, r2, &err));
	expect_ok(cutover_reports_record_action(rp, &r2b, r2->id, "read", u->id, "seen", &err));
	journal(&e, CUTOVER_DOMAIN_REPORTS, "report", id_text(r2->id, key), "json");

	/* postgres authoritative: the entries target json, so nothing is flipped */
	setenv("PROFILE_STORE", "live", 1);
	setenv("REPORTS_STORE", "rampdown", 1);
	char *out = test_cutover_expect(&e, 0, "reconcile profile");
	assert_non_null(strstr(out, "would copy postgres's record to json (json differs in certifications"));
	free(out);
	out = test_cutover_expect(&e, 0, "reconcile reports");
	assert_non_null(strstr(out, "(json has none)"));
	assert_non_null(strstr(out, "(json differs in actions)"));
	free(out);
	out = test_cutover_expect(&e, 0, "reconcile all --apply");
	unsetenv("PROFILE_STORE");
	unsetenv("REPORTS_STORE");
	free(out);
	cutover_portfolio *a = NULL, *b = NULL;
	expect_ok(cutover_profile_get(pj, &a, u->id, &err));
	expect_ok(cutover_profile_get(pp, &b, u->id, &err));
	char d[256];
	assert_int_equal(co_portfolio_diff(a, b, d, sizeof d), 0);
	cutover_portfolio_free(a);
	cutover_portfolio_free(b);
	for (int k = 0; k < 2; k++) {
		int64_t id = k ? r2->id : r1->id;
		cutover_report *x = NULL, *y = NULL;
		expect_ok(cutover_reports_get(rj, &x, id, &err));
		expect_ok(cutover_reports_get(rp, &y, id, &err));
		assert_int_equal(co_report_diff(x, y, d, sizeof d), 0);
		cutover_report_free(x);
		cutover_report_free(y);
	}
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_PROFILE), 0);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_REPORTS), 0);

	/* a report json holds "newer" (a longer trail) is replaced by postgres's */
	cutover_report *r2c = NULL;
	expect_ok(cutover_reports_record_action(rj, &r2c, r2->id, "read", u->id, "json only", &err));
	journal(&e, CUTOVER_DOMAIN_REPORTS, "report", id_text(r2->id, key), "json");
	setenv("REPORTS_STORE", "live", 1);
	out = test_cutover_expect(&e, 0, "reconcile reports --apply");
	unsetenv("REPORTS_STORE");
	free(out);
	cutover_report_action_list acts = {0};
	expect_ok(cutover_reports_list_actions(rj, &acts, r2->id, &err));
	assert_int_equal(acts.n, r2b->n_actions);
	cutover_report_action_list_free(&acts);

	cutover_portfolio_free(pf);
	cutover_portfolio_free(pf2);
	cutover_report_free(r1);
	cutover_report_free(r2);
	cutover_report_free(r2b);
	cutover_report_free(r2c);
	cutover_user_free(u);
	cutover_profile_free(pj);
	cutover_profile_free(pp);
	cutover_reports_free(rj);
	cutover_reports_free(rp);
	cutover_identity_free(ij);
	cutover_identity_free(ip);
	test_env_fini(&e);
}

/* --- telemetry: incidents and events in batches ----------------------------------------------- */

static void telemetry_incidents_and_events(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rctel");
	cutover_telemetry *tj = NULL, *tp = NULL;
	expect_ok(cutover_telemetry_json(&tj, e.json_root, NULL, &err));
	expect_ok(cutover_telemetry_postgres(&tp, e.conninfo, &err));
	char key[24];
	/* an incident in both, moved on in json: postgres missed it */
	cutover_incident iin = {.title = "Botnet", .severity = "high", .opened_at = CUTOVER_TS_NULL,
				.resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_incident *inc = NULL, *moved = NULL;
	expect_ok(cutover_telemetry_create_incident(tj, &inc, &iin, &err));
	expect_ok(tp->put_incident(tp, inc, &err));
	expect_ok(cutover_telemetry_transition_incident(tj, &moved, inc->id, "investigating", &err));
	journal(&e, CUTOVER_DOMAIN_TELEMETRY, "incident", id_text(inc->id, key), "postgres");
	/* events: 30 appended to json over three days, postgres missed them; one more linked in json */
	cutover_ts t0 = cutover_now() - 3 * 86400 * SEC;
	cutover_event evs[30];
	for (int i = 0; i < 30; i++)
		evs[i] = (cutover_event){.occurred_at = t0 + i * 7200 * SEC, .severity = "low", .region = "eu",
					 .payload = "{\"n\":1}"};
	cutover_event_list stored = {0};
	expect_ok(cutover_telemetry_append_events(tj, &stored, evs, 30, &err));
	for (size_t i = 0; i < stored.n; i++)
		journal(&e, CUTOVER_DOMAIN_TELEMETRY, "event", id_text(stored.items[i].id, key), "postgres");
	expect_ok(tp->put_events(tp, &stored.items[0], 1, &err)); /* one of them did arrive */
	expect_ok(cutover_telemetry_link_event(tj, NULL, stored.items[0].id, inc->id, &err));
	/* an event only postgres has: the product never deletes events */
	cutover_event lone = {.id = 9000, .occurred_at = t0, .severity = "low", .payload = "{}"};
	expect_ok(tp->put_events(tp, &lone, 1, &err));
	journal(&e, CUTOVER_DOMAIN_TELEMETRY, "event", "9000", "postgres");

	char *out = test_cutover_expect(&e, 1, "reconcile telemetry");
	assert_non_null(strstr(out, "incident"));
	assert_non_null(strstr(out, "cutover never deletes an event"));
	free(out);
	out = test_cutover_expect(&e, 1, "--json reconcile telemetry --apply");
	cJSON *doc = cJSON_Parse(out);
	cJSON *t = cJSON_GetObjectItem(doc, "telemetry");
	assert_int_equal(cJSON_GetObjectItem(t, "repaired")->valueint, 31); /* 1 incident, 30 events */
	assert_int_equal(cJSON_GetObjectItem(t, "not_repaired")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(t, "entries_kept")->valueint, 1);
	cJSON_Delete(doc);
	free(out);
	cutover_incident *x = NULL, *y = NULL;
	expect_ok(cutover_telemetry_get_incident(tj, &x, inc->id, &err));
	expect_ok(cutover_telemetry_get_incident(tp, &y, inc->id, &err));
	char d[256];
	assert_int_equal(co_incident_diff(x, y, d, sizeof d), 0);
	cutover_incident_free(x);
	cutover_incident_free(y);
	int64_t ids[31];
	for (int i = 0; i < 30; i++)
		ids[i] = stored.items[i].id;
	ids[30] = 9000;
	cutover_event_list a = {0}, b = {0};
	expect_ok(co_json_telemetry_get_events(tj, ids, 31, &a, &err));
	expect_ok(co_pg_telemetry_get_events(tp, ids, 31, &b, &err));
	assert_int_equal(a.n, 30);
	assert_int_equal(b.n, 31);
	for (size_t i = 0; i < a.n; i++)
		assert_int_equal(co_event_diff(&a.items[i], &b.items[i], d, sizeof d), 0);
	assert_int_equal(a.items[0].incident_id, inc->id);
	cutover_event_list_free(&a);
	cutover_event_list_free(&b);
	cutover_event_list_free(&stored);
	cutover_incident_free(inc);
	cutover_incident_free(moved);
	cutover_telemetry_free(tj);
	cutover_telemetry_free(tp);
	test_env_fini(&e);
}

/* --- the journal rewrite keeps what apps append meanwhile -------------------------------------- */

static void rewrite_keeps_concurrent_entries(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcjrn");
	co_journal *app = NULL;
	expect_ok(co_journal_open(&app, e.journal, CUTOVER_DOMAIN_REPORTS, &err));
	cutover_error cause;
	co_err(&cause, CUTOVER_EUNAVAILABLE, "down");
	expect_ok(co_journal_record(app, "report", "1", "create_report", "postgres", &cause));
	expect_ok(co_journal_record(app, "report", "2", "create_report", "postgres", &cause));
	co_journal_snapshot snap;
	expect_ok(co_journal_read(e.journal, CUTOVER_DOMAIN_REPORTS, true, &snap, &err));
	assert_int_equal(snap.n, 2);
	/* a second reconcile of the domain is refused while this one holds the lock */
	co_journal_snapshot other;
	assert_int_equal(co_journal_read(e.journal, CUTOVER_DOMAIN_REPORTS, true, &other, &err), CUTOVER_EBUSY);
	co_journal_snapshot_free(&other);
	/* an app appends while reconcile repairs */
	expect_ok(co_journal_record(app, "report", "3", "update_report", "postgres", &cause));
	bool keep[2] = {false, true};
	size_t kept = 0;
	expect_ok(co_journal_rewrite(&snap, keep, &kept, &err));
	assert_int_equal(kept, 2);
	co_journal_snapshot_free(&snap);
	/* the app still holds the old (replaced) file: its next entry must reach the new one */
	expect_ok(co_journal_record(app, "report", "4", "update_report", "postgres", &cause));
	co_journal_close(app);
	char *t = journal_text(&e, "reports");
	assert_null(strstr(t, "\"key\":\"1\""));
	assert_non_null(strstr(t, "\"key\":\"2\""));
	assert_non_null(strstr(t, "\"key\":\"3\""));
	assert_non_null(strstr(t, "\"key\":\"4\""));
	free(t);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_REPORTS), 3);
	test_env_fini(&e);
}

/* An app process appending all along while `cutover reconcile --apply`
 * rewrites the journal again and again: no entry is lost or doubled. The
 * entries name an entity reconcile does not know, so it keeps every one. */
static void concurrent_appends_survive_reconcile_runs(void **state)
{
	(void)state;
	enum { APPENDS = 300 };
	test_env e;
	test_env_init(&e, "rcconc");
	journal(&e, CUTOVER_DOMAIN_REPORTS, "gizmo", "start", "postgres");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		co_journal *j = NULL;
		cutover_error cause, e2;
		co_err(&cause, CUTOVER_EUNAVAILABLE, "down");
		if (co_journal_open(&j, e.journal, CUTOVER_DOMAIN_REPORTS, &e2))
			_exit(1);
		for (int i = 0; i < APPENDS; i++) {
			char key[24];
			snprintf(key, sizeof key, "k%d", i);
			if (co_journal_record(j, "gizmo", key, "test", "postgres", &cause))
				_exit(2);
			/* a report neither store has: reconcile removes its entry, so
			 * every run that finds one rewrites the journal */
			snprintf(key, sizeof key, "%d", 900000 + i);
			if (co_journal_record(j, "report", key, "test", "postgres", &cause))
				_exit(2);
			usleep(2000);
		}
		co_journal_close(j);
		_exit(0);
	}
	int runs = 0, st = 0;
	while (runs < 200 && waitpid(pid, &st, WNOHANG) == 0) {
		int rc = test_cutover(&e, NULL, "reconcile reports --apply");
		assert_true(rc == 1); /* the unknown entity is reported, never dropped */
		runs++;
	}
	if (runs == 200)
		assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(runs >= 2);
	assert_int_equal(test_cutover(&e, NULL, "reconcile reports --apply"), 1);
	char *t = journal_text(&e, "reports");
	assert_null(strstr(t, "\"entity\":\"report\""));
	for (int i = 0; i < APPENDS; i++) {
		char needle[48];
		snprintf(needle, sizeof needle, "\"key\":\"k%d\"", i);
		const char *at = strstr(t, needle);
		assert_non_null(at);
		assert_null(strstr(at + 1, needle)); /* once */
	}
	free(t);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_REPORTS), APPENDS + 1);
	test_env_fini(&e);
}

/* --- exit codes of the odd failures -------------------------------------------------------- */

static void exit_codes(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcexit");
	char *out = test_cutover_expect(&e, 2, "reconcile identity --from");
	assert_non_null(strstr(out, "--from needs json or postgres"));
	free(out);
	/* a key that fails on an unexpected database error (SQLSTATE XX000:
	 * CUTOVER_EINTERNAL) is a runtime failure, exit 3, not a check */
	cutover_identity *j = NULL;
	expect_ok(cutover_identity_json(&j, e.json_root, NULL, &err));
	cutover_user *u = user_in(j, "internal@example.com", "Ina");
	char key[24];
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(u->id, key), "postgres");
	test_sql(&e, "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
		     "$$BEGIN RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'XX000'; END$$");
	test_sql(&e, "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON identity.users "
		     "FOR EACH ROW EXECUTE FUNCTION public.refuse()");
	out = test_cutover_expect(&e, 3, "reconcile identity --apply");
	assert_non_null(strstr(out, "refused by a test trigger"));
	assert_non_null(strstr(out, "internal error"));
	free(out);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 1);
	test_sql(&e, "DROP TRIGGER refuse ON identity.users");
	free(test_cutover_expect(&e, 0, "reconcile identity --apply"));
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 0);
	cutover_user_free(u);
	cutover_identity_free(j);
	test_env_fini(&e);
}

/* --- a write the target does not keep ----------------------------------------------------- */

/* Postgres changes what it is given (a trigger): the source does not change
 * between rounds, the target still differs after the write, so the key is
 * reported at once as a write that did not take, not as a key an app keeps
 * writing. */
static void a_write_that_does_not_take(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rctake");
	cutover_identity *j = NULL;
	expect_ok(cutover_identity_json(&j, e.json_root, NULL, &err));
	cutover_user *u = user_in(j, "take@example.com", "Tak");
	char key[24];
	journal(&e, CUTOVER_DOMAIN_IDENTITY, "user", id_text(u->id, key), "postgres");
	cutover_telemetry *tj = NULL;
	expect_ok(cutover_telemetry_json(&tj, e.json_root, NULL, &err));
	cutover_event ev = {.occurred_at = cutover_now() - 3600 * SEC, .severity = "low", .region = "eu",
			    .payload = "{}"};
	cutover_event_list stored = {0};
	expect_ok(cutover_telemetry_append_events(tj, &stored, &ev, 1, &err));
	journal(&e, CUTOVER_DOMAIN_TELEMETRY, "event", id_text(stored.items[0].id, key), "postgres");
	test_sql(&e, "CREATE FUNCTION public.rename() RETURNS trigger LANGUAGE plpgsql AS "
		     "$$BEGIN NEW.display_name := 'renamed by a trigger'; RETURN NEW; END$$");
	test_sql(&e, "CREATE TRIGGER rename BEFORE INSERT OR UPDATE ON identity.users "
		     "FOR EACH ROW EXECUTE FUNCTION public.rename()");
	test_sql(&e, "CREATE FUNCTION public.move() RETURNS trigger LANGUAGE plpgsql AS "
		     "$$BEGIN NEW.region := 'moved by a trigger'; RETURN NEW; END$$");
	test_sql(&e, "CREATE TRIGGER move BEFORE INSERT OR UPDATE ON operations.telemetry_events "
		     "FOR EACH ROW EXECUTE FUNCTION public.move()");
	char *out = test_cutover_expect(&e, 1, "reconcile all --apply");
	assert_non_null(strstr(out, "the write to postgres did not take (fields display_name)"));
	assert_non_null(strstr(out, "the write to postgres did not take (fields region)"));
	assert_null(strstr(out, "kept changing"));
	free(out);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 1);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_TELEMETRY), 1);
	test_sql(&e, "DROP TRIGGER rename ON identity.users");
	test_sql(&e, "DROP TRIGGER move ON operations.telemetry_events");
	free(test_cutover_expect(&e, 0, "reconcile all --apply"));
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_IDENTITY), 0);
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_TELEMETRY), 0);
	cutover_event_list_free(&stored);
	cutover_user_free(u);
	cutover_identity_free(j);
	cutover_telemetry_free(tj);
	test_env_fini(&e);
}

/* --- reading a journal line by line ---------------------------------------------------- */

/* A journal read in 64 KiB pieces: lines that span two reads (one of
 * 200 KB), blank lines, an entry that cannot be read, repeated keys, a last
 * line without its newline; the snapshot holds each key once with its
 * counts, status counts the same keys, and a rewrite keeps the kept lines
 * byte for byte. */
static void journal_read_in_pieces(void **state)
{
	(void)state;
	enum { KEYS = 1500, ENTRIES = 4500 };
	test_env e;
	test_env_init(&e, "rcpieces");
	assert_int_equal(mkdir(e.journal, 0700), 0);
	char path[400];
	snprintf(path, sizeof path, "%s/reports.journal", e.journal);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	size_t big_len = 200000;
	char *big = malloc(big_len + 1);
	assert_non_null(big);
	memset(big, 'x', big_len);
	big[big_len] = '\0';
	for (int i = 0; i < ENTRIES; i++) {
		/* key i % KEYS: every key three times, its first entry at i + 1 */
		fprintf(f, "{\"at\":\"t\",\"domain\":\"reports\",\"entity\":\"report\",\"key\":\"%d\",\"op\":\"x\","
			   "\"target\":\"%s\",\"error\":\"%s\"}\n",
			1 + i % KEYS, i < KEYS ? "postgres" : "json", i == 7 ? big : "down");
		if (i == 100)
			fputs("\n   \n", f); /* blank lines: not entries */
		if (i == 200)
			fputs("{\"domain\":\"reports\",\"entity\":\"report\"\n", f); /* cannot be read */
	}
	fputs("{\"at\":\"t\",\"domain\":\"reports\",\"entity\":\"report\",\"key\":\"999999\",\"op\":\"x\","
	      "\"target\":\"postgres\"}",
	      f); /* no newline: a crash cut it after its last byte */
	fclose(f);

	co_journal_snapshot snap;
	expect_ok(co_journal_read(e.journal, CUTOVER_DOMAIN_REPORTS, true, &snap, &err));
	assert_int_equal(snap.n, ENTRIES + 2);
	assert_int_equal(snap.n_keys, KEYS + 2);
	size_t broken = 0;
	for (size_t i = 0; i < snap.n_keys; i++) {
		const co_journal_key *k = &snap.keys[i];
		if (!k->entity) {
			broken++;
			assert_int_equal(k->first, 202); /* after entries 1..201 */
			assert_non_null(k->why);
			continue;
		}
		int id = atoi(k->key);
		if (id == 999999) {
			assert_int_equal(k->entries, 1);
			continue;
		}
		assert_int_equal(k->entries, 3);
		assert_true(k->to_pg && k->to_json);
		assert_int_equal(k->first, (size_t)id + (id > 201 ? 1 : 0));
	}
	assert_int_equal(broken, 1);
	size_t count = 0;
	expect_ok(co_journal_count(e.journal, CUTOVER_DOMAIN_REPORTS, &count, &err));
	assert_int_equal(count, KEYS + 2);

	/* keep the keys 8 (its first entry holds the 200 KB line), the broken
	 * entry and the last one; remove every other key */
	bool *keep = calloc(snap.n_keys, sizeof(*keep));
	assert_non_null(keep);
	for (size_t i = 0; i < snap.n_keys; i++)
		keep[i] = !snap.keys[i].entity || strcmp(snap.keys[i].key, "8") == 0 ||
			  strcmp(snap.keys[i].key, "999999") == 0;
	size_t kept = 0;
	expect_ok(co_journal_rewrite(&snap, keep, &kept, &err));
	assert_int_equal(kept, 5);
	free(keep);
	co_journal_snapshot_free(&snap);
	size_t len = 0;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	assert_int_equal(t[len - 1], '\n');
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += t[i] == '\n';
	assert_int_equal(lines, 5);
	assert_non_null(strstr(t, big)); /* the long line, whole */
	assert_non_null(strstr(t, "\"key\":\"999999\""));
	assert_null(strstr(t, "\"key\":\"9\""));
	free(t);
	free(big);
	expect_ok(co_journal_count(e.journal, CUTOVER_DOMAIN_REPORTS, &count, &err));
	assert_int_equal(count, 3);
	test_env_fini(&e);
}

/* --- temp files an interrupted rewrite left ------------------------------------------------ */

static bool exists(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct stat sb;
	return stat(path, &sb) == 0;
}

static void stale_temp_journals_are_removed(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcstale");
	journal(&e, CUTOVER_DOMAIN_REPORTS, "gizmo", "1", "postgres");
	/* what a reconcile killed between mkstemp and rename leaves: a copy of entries */
	const char *names[] = {".reports.journal.Ab12Cd", ".reports.journal.zz99ZZ", ".profile.journal.Ab12Cd",
			       ".reports.journal.toolong1", "reports.journal.Ab12Cd"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", e.journal, names[i]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs("{\"domain\":\"reports\",\"entity\":\"report\",\"key\":\"1\"}\n", f);
		fclose(f);
	}
	/* a dry run writes nothing, so it removes nothing either */
	free(test_cutover_expect(&e, 1, "reconcile reports"));
	assert_true(exists(e.journal, names[0]));
	free(test_cutover_expect(&e, 1, "reconcile reports --apply"));
	assert_false(exists(e.journal, names[0]));
	assert_false(exists(e.journal, names[1]));
	assert_true(exists(e.journal, names[2])); /* another domain's: its own reconcile removes it */
	assert_true(exists(e.journal, names[3])); /* not a temp name */
	assert_true(exists(e.journal, names[4]));
	assert_true(exists(e.journal, "reports.journal"));
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_REPORTS), 1);
	test_env_fini(&e);
}

/* --- the rewrite keeps the journal's owner ---------------------------------------------- */

static void mode_and_owner(const char *path, struct stat *sb)
{
	assert_int_equal(stat(path, sb), 0);
}

/* Run fn as the unprivileged user 65534 ("nobody") in a child; its exit status. */
static int as_nobody(int (*fn)(const test_env *), const test_env *e)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30);
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(90);
		_exit(fn(e));
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int app_appends(const test_env *e)
{
	co_journal *j = NULL;
	cutover_error cause, e2;
	co_err(&cause, CUTOVER_EUNAVAILABLE, "down");
	if (co_journal_open(&j, e->journal, CUTOVER_DOMAIN_REPORTS, &e2))
		return 1;
	int rc = co_journal_record(j, "report", "777", "update_report", "postgres", &cause);
	co_journal_close(j);
	return rc ? 2 : 0;
}

/* A reconcile run by a user that cannot give the file to its owner: the
 * rewrite is refused, nothing is removed. */
static int unprivileged_rewrite(const test_env *e)
{
	co_journal_snapshot snap;
	cutover_error e2;
	if (co_journal_read(e->journal, CUTOVER_DOMAIN_REPORTS, true, &snap, &e2))
		return 1;
	bool keep[8] = {false};
	size_t kept = 0;
	int rc = snap.n_keys <= 8 ? co_journal_rewrite(&snap, keep, &kept, &e2) : CUTOVER_EINTERNAL;
	co_journal_snapshot_free(&snap);
	if (rc == CUTOVER_EUNAVAILABLE && strstr(e2.message, "to its owner") && strstr(e2.hint, "as the user that owns"))
		return 0;
	return 3;
}

static void rewrite_keeps_the_owner(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "rewrite_keeps_the_owner: skipped: needs root to make a journal owned by another user\n");
		skip();
	}
	test_env e;
	test_env_init(&e, "rcown");
	journal(&e, CUTOVER_DOMAIN_REPORTS, "gizmo", "1", "postgres"); /* an unknown entity: always kept */
	char path[400];
	snprintf(path, sizeof path, "%s/reports.journal", e.journal);
	/* the app runs as nobody: its journal (and the directory) are its own */
	assert_int_equal(chmod(e.root, 0711), 0);
	assert_int_equal(chown(e.journal, 65534, 65534), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(chmod(path, 0640), 0);

	/* a reconcile that removes nothing leaves the very file alone */
	struct stat before, sb;
	mode_and_owner(path, &before);
	char *out = test_cutover_expect(&e, 1, "reconcile reports --apply");
	assert_non_null(strstr(out, "0 entries removed, 1 kept"));
	free(out);
	mode_and_owner(path, &sb);
	assert_true(sb.st_ino == before.st_ino && sb.st_uid == 65534 && (sb.st_mode & 0777) == 0640);
	journal(&e, CUTOVER_DOMAIN_REPORTS, "report", "424242", "postgres"); /* neither store has it: removed */
	journal(&e, CUTOVER_DOMAIN_REPORTS, "gizmo", "2", "postgres");
	assert_int_equal(unreconciled(&e, CUTOVER_DOMAIN_REPORTS), 3);

	/* root reconciles and removes an entry: the new file is still the app's */
	out = test_cutover_expect(&e, 1, "reconcile reports --apply");
	assert_non_null(strstr(out, "1 entry removed, 2 kept"));
	free(out);
	mode_and_owner(path, &sb);
	assert_true(sb.st_ino != before.st_ino); /* rewritten */
	assert_int_equal(sb.st_uid, 65534);
	assert_int_equal(sb.st_gid, 65534);
	assert_int_equal(sb.st_mode & 0777, 0640);
	/* and the app can still append its failed second writes */
	assert_int_equal(as_nobody(app_appends, &e), 0);
	char *t = journal_text(&e, "reports");
	assert_non_null(strstr(t, "\"key\":\"777\""));
	free(t);

	/* a reconcile run as another user that cannot keep the owner: refused, nothing removed */
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(chmod(e.journal, 0777), 0);
	char lock[400];
	snprintf(lock, sizeof lock, "%s/.reports.reconcile.lock", e.journal);
	assert_int_equal(chmod(lock, 0666), 0);
	char *jbefore = journal_text(&e, "reports");
	assert_int_equal(as_nobody(unprivileged_rewrite, &e), 0);
	char *jafter = journal_text(&e, "reports");
	assert_string_equal(jbefore, jafter);
	free(jbefore);
	free(jafter);
	mode_and_owner(path, &sb);
	assert_int_equal(sb.st_uid, 0);
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_reconcile CUTOVER_BIN\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	test_log_capture();
	test_unset_stage_flags();
	unsetenv("CUTOVER_JOURNAL_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identity_every_kind),
		cmocka_unit_test(conflict_and_unreadable_entry_are_kept),
		cmocka_unit_test(flipped_keys_are_compared_not_copied),
		cmocka_unit_test(profile_and_reports),
		cmocka_unit_test(telemetry_incidents_and_events),
		cmocka_unit_test(rewrite_keeps_concurrent_entries),
		cmocka_unit_test(concurrent_appends_survive_reconcile_runs),
		cmocka_unit_test(rewrite_keeps_the_owner),
		cmocka_unit_test(stale_temp_journals_are_removed),
		cmocka_unit_test(journal_read_in_pieces),
		cmocka_unit_test(exit_codes),
		cmocka_unit_test(a_write_that_does_not_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
