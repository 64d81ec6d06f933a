/* test_identity_conformance.c — one identity suite, run unchanged in every stage.
 *
 * The same calls with the same expected answers against json, dualwrite,
 * shadow, live, rampdown and postgres, each on a fresh state directory and a
 * fresh database. In the dual stages the last tests also prove the two stores
 * ended up holding the same records and that no comparison differed: that is
 * what makes a flag flip safe.
 *
 * usage: test_identity_conformance [STAGE...]   (default: all six)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static cutover_stage stage;
static test_env env;
static cutover_identity *S;
static cutover_ts T0; /* a fixed "now" so expiry is deterministic */


static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static cutover_user *mkuser(const char *email, const char *role, const char *name)
{
	cutover_user in = {.email = (char *)email, .role = (char *)role, .display_name = (char *)name,
			   .password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = T0, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(S, &u, &in, &err));
	return u;
}

static void mksession(unsigned n, int64_t user_id, cutover_ts expires_at)
{
	char tok[65];
	cutover_session in = {.token_hash = (char *)test_token(n, tok), .user_id = user_id, .created_at = T0,
			      .expires_at = expires_at, .last_seen_at = CUTOVER_TS_NULL, .user_agent = "Mozilla/5.0",
			      .ip = "127.0.0.1"};
	expect_ok(cutover_identity_create_session(S, &in, &err));
}

/* --- users ---------------------------------------------------------------- */

static void create_and_get_round_trip(void **state)
{
	(void)state;
	cutover_oauth_link links[] = {{"github", "gh-1001"}, {"google", "g-77"}};
	cutover_user in = {.email = "  Ada.Lovelace@Example.COM ", .username = "ada", .display_name = "Ada Lovelace",
			   .password_hash = "$2b$12$abcdefghijklmnopqrstuv", .role = "analyst", .oauth = links,
			   .n_oauth = 2, .email_verified_at = T0 - 1234567, .created_at = T0 + 250,
			   .updated_at = T0 + 500};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(S, &u, &in, &err));
	assert_true(u->id > 0);
	assert_string_equal(u->email, "ada.lovelace@example.com");
	assert_string_equal(u->username, "ada");
	assert_string_equal(u->display_name, "Ada Lovelace");
	assert_string_equal(u->password_hash, "$2b$12$abcdefghijklmnopqrstuv");
	assert_string_equal(u->role, "analyst");
	assert_int_equal(u->n_oauth, 2);
	assert_string_equal(u->oauth[0].provider, "github");
	assert_string_equal(u->oauth[1].subject, "g-77");
	assert_true(u->email_verified_at == T0 - 1234567);
	assert_true(u->created_at == T0 + 250);
	assert_true(u->updated_at == T0 + 500);
	assert_false(u->disabled);

	cutover_user *g = NULL;
	expect_ok(cutover_identity_get_user(S, &g, u->id, &err));
	char diff[256];
	assert_int_equal(co_user_diff(u, g, diff, sizeof(diff)), 0);
	cutover_user_free(g);

	expect_ok(cutover_identity_get_user_by_email(S, &g, "ADA.LOVELACE@example.com  ", &err));
	assert_true(g->id == u->id);
	cutover_user_free(g);

	expect_ok(cutover_identity_get_user_by_oauth(S, &g, "google", "g-77", &err));
	assert_true(g->id == u->id);
	cutover_user_free(g);
	cutover_user_free(u);
}

static void ids_are_assigned_in_order(void **state)
{
	(void)state;
	cutover_user *a = mkuser("order-a@example.com", "viewer", "A");
	cutover_user *b = mkuser("order-b@example.com", "viewer", "B");
	assert_true(b->id == a->id + 1);
	cutover_user_free(a);
	cutover_user_free(b);
}

static void explicit_id_is_kept_and_unique(void **state)
{
	(void)state;
	cutover_user in = {.id = 5000, .email = "explicit@example.com", .role = "viewer",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = T0, .updated_at = T0};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(S, &u, &in, &err));
	assert_true(u->id == 5000);
	assert_null(u->password_hash); /* oauth-only style account */
	cutover_user_free(u);
	in.email = "explicit-2@example.com";
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_ECONFLICT);
	assert_null(u);
}

static void duplicate_email_is_a_conflict(void **state)
{
	(void)state;
	cutover_user *u = mkuser("dup@example.com", "viewer", "First");
	cutover_user in = {.email = " DUP@Example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = T0, .updated_at = T0};
	cutover_user *v = NULL;
	assert_int_equal(cutover_identity_create_user(S, &v, &in, &err), CUTOVER_ECONFLICT);
	assert_null(v);
	cutover_user_free(u);
}

static void duplicate_oauth_link_is_a_conflict(void **state)
{
	(void)state;
	cutover_oauth_link link = {"github", "gh-dup"};
	cutover_user in = {.email = "oauth-1@example.com", .role = "viewer", .oauth = &link, .n_oauth = 1,
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = T0, .updated_at = T0};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(S, &u, &in, &err));
	cutover_user_free(u);
	in.email = "oauth-2@example.com";
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_ECONFLICT);
	assert_int_equal(cutover_identity_get_user_by_email(S, &u, "oauth-2@example.com", &err), CUTOVER_ENOTFOUND);
}

static void bad_input_is_refused_before_any_store(void **state)
{
	(void)state;
	cutover_user *u = NULL;
	cutover_user in = {.email = "bad-role@example.com", .role = "root", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = T0, .updated_at = T0};
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.hint, "admin, analyst, viewer"));
	in.role = "viewer";
	in.email = "   ";
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	in.email = "bad-utf8@example.com";
	in.display_name = "caf\xc3";
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_identity_get_user_by_email(S, &u, "bad-utf8@example.com", &err), CUTOVER_ENOTFOUND);
}

static void missing_users_are_not_found(void **state)
{
	(void)state;
	cutover_user *u = NULL;
	assert_int_equal(cutover_identity_get_user(S, &u, 999999, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_get_user_by_email(S, &u, "nobody@example.com", &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_get_user_by_oauth(S, &u, "github", "nobody", &err), CUTOVER_ENOTFOUND);
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "x"};
	assert_int_equal(cutover_identity_update_user(S, &u, 999999, &p, &err), CUTOVER_ENOTFOUND);
	assert_null(u);
}

static void update_changes_only_what_is_set(void **state)
{
	(void)state;
	cutover_user *u = mkuser("update@example.com", "viewer", "Before");
	cutover_user *v = NULL;
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME | CUTOVER_USER_SET_ROLE |
				       CUTOVER_USER_SET_EMAIL_VERIFIED_AT,
				.display_name = "After", .role = "admin", .email_verified_at = T0 + 42};
	expect_ok(cutover_identity_update_user(S, &v, u->id, &p, &err));
	assert_string_equal(v->display_name, "After");
	assert_string_equal(v->role, "admin");
	assert_true(v->email_verified_at == T0 + 42);
	assert_string_equal(v->password_hash, u->password_hash);
	assert_true(v->created_at == u->created_at);
	assert_true(v->updated_at > u->updated_at);
	cutover_user_free(v);

	p = (cutover_user_patch){.set = CUTOVER_USER_SET_PASSWORD_HASH | CUTOVER_USER_SET_DISABLED,
				 .password_hash = NULL, .disabled = true};
	expect_ok(cutover_identity_update_user(S, &v, u->id, &p, &err));
	assert_null(v->password_hash);
	assert_true(v->disabled);
	cutover_user *g = NULL;
	expect_ok(cutover_identity_get_user(S, &g, u->id, &err));
	char diff[256];
	assert_int_equal(co_user_diff(v, g, diff, sizeof(diff)), 0);
	cutover_user_free(g);
	cutover_user_free(v);

	p = (cutover_user_patch){.set = CUTOVER_USER_SET_ROLE, .role = "superuser"};
	assert_int_equal(cutover_identity_update_user(S, &v, u->id, &p, &err), CUTOVER_EINVALID);
	cutover_user_free(u);
}

static void assignable_users_exclude_disabled_and_filter_by_role(void **state)
{
	(void)state;
	cutover_user *a = mkuser("assign-a@example.com", "analyst", "Analyst A");
	cutover_user *b = mkuser("assign-b@example.com", "analyst", "Analyst B");
	cutover_user *c = mkuser("assign-c@example.com", "analyst", "Analyst C");
	cutover_user *off = NULL;
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISABLED, .disabled = true};
	expect_ok(cutover_identity_update_user(S, &off, b->id, &p, &err));
	cutover_user_list l;
	expect_ok(cutover_identity_list_assignable_users(S, &l, "analyst", &err));
	/* earlier tests made one more analyst (Ada) */
	int64_t prev = 0;
	size_t seen_a = 0, seen_c = 0;
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.items[i].role, "analyst");
		assert_false(l.items[i].disabled);
		assert_true(l.items[i].id > prev);
		prev = l.items[i].id;
		seen_a += l.items[i].id == a->id;
		seen_c += l.items[i].id == c->id;
		assert_true(l.items[i].id != b->id);
	}
	assert_int_equal(seen_a + seen_c, 2);
	assert_int_equal(l.n, 3);
	cutover_user_list_free(&l);
	expect_ok(cutover_identity_list_assignable_users(S, &l, NULL, &err));
	assert_true(l.n >= 3);
	cutover_user_list_free(&l);
	expect_ok(cutover_identity_list_assignable_users(S, &l, "admin", &err));
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.items[i].role, "admin");
	cutover_user_list_free(&l);
	assert_int_equal(cutover_identity_list_assignable_users(S, &l, "nobody", &err), CUTOVER_EINVALID);
	cutover_user_free(a);
	cutover_user_free(b);
	cutover_user_free(c);
	cutover_user_free(off);
}

/* --- sessions -------------------------------------------------------------- */

static void session_lookup_returns_the_user(void **state)
{
	(void)state;
	cutover_user *u = mkuser("session@example.com", "viewer", "Sess");
	mksession(1, u->id, T0 + 3600000000LL);
	char tok[65];
	cutover_session *s = NULL;
	cutover_user *su = NULL;
	expect_ok(cutover_identity_lookup_session(S, &s, &su, test_token(1, tok), T0, &err));
	assert_string_equal(s->token_hash, tok);
	assert_true(s->user_id == u->id);
	assert_true(s->expires_at == T0 + 3600000000LL);
	assert_true(s->last_seen_at == CUTOVER_TS_NULL);
	assert_string_equal(s->user_agent, "Mozilla/5.0");
	assert_true(su->id == u->id);
	assert_string_equal(su->email, "session@example.com");
	cutover_session_free(s);
	cutover_user_free(su);

	/* expired at exactly expires_at */
	assert_int_equal(cutover_identity_lookup_session(S, &s, &su, tok, T0 + 3600000000LL, &err), CUTOVER_ENOTFOUND);
	assert_null(s);
	assert_null(su);
	cutover_user_free(u);
}

static void session_of_a_disabled_user_is_not_served(void **state)
{
	(void)state;
	cutover_user *u = mkuser("session-off@example.com", "viewer", "Off");
	mksession(2, u->id, T0 + 3600000000LL);
	cutover_user *v = NULL;
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISABLED, .disabled = true};
	expect_ok(cutover_identity_update_user(S, &v, u->id, &p, &err));
	char tok[65];
	cutover_session *s = NULL;
	cutover_user *su = NULL;
	assert_int_equal(cutover_identity_lookup_session(S, &s, &su, test_token(2, tok), T0, &err), CUTOVER_ENOTFOUND);
	/* still there raw */
	expect_ok(cutover_identity_get_session(S, &s, tok, &err));
	cutover_session_free(s);
	cutover_user_free(u);
	cutover_user_free(v);
}

static void session_rules(void **state)
{
	(void)state;
	cutover_user *u = mkuser("session-rules@example.com", "viewer", "Rules");
	char tok[65];
	cutover_session in = {.token_hash = (char *)test_token(3, tok), .user_id = 987654, .created_at = T0,
			      .expires_at = T0 + 1000000, .last_seen_at = CUTOVER_TS_NULL};
	assert_int_equal(cutover_identity_create_session(S, &in, &err), CUTOVER_EINVALID); /* no such user */
	in.user_id = u->id;
	expect_ok(cutover_identity_create_session(S, &in, &err));
	assert_int_equal(cutover_identity_create_session(S, &in, &err), CUTOVER_ECONFLICT);
	in.token_hash = "not-a-hash";
	assert_int_equal(cutover_identity_create_session(S, &in, &err), CUTOVER_EINVALID);
	in.token_hash = tok;
	in.expires_at = CUTOVER_TS_NULL;
	assert_int_equal(cutover_identity_create_session(S, &in, &err), CUTOVER_EINVALID);

	cutover_session *s = NULL;
	expect_ok(cutover_identity_touch_session(S, &s, tok, T0 + 777, &err));
	assert_true(s->last_seen_at == T0 + 777);
	cutover_session_free(s);
	expect_ok(cutover_identity_get_session(S, &s, tok, &err));
	assert_true(s->last_seen_at == T0 + 777);
	assert_null(s->user_agent);
	cutover_session_free(s);

	expect_ok(cutover_identity_delete_session(S, tok, &err));
	assert_int_equal(cutover_identity_get_session(S, &s, tok, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_delete_session(S, tok, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_touch_session(S, NULL, tok, T0, &err), CUTOVER_ENOTFOUND);
	cutover_user_free(u);
}

static void deleting_sessions_in_bulk(void **state)
{
	(void)state;
	cutover_user *u = mkuser("bulk@example.com", "viewer", "Bulk");
	cutover_user *w = mkuser("bulk-other@example.com", "viewer", "Other");
	mksession(10, u->id, T0 + 5000000);
	mksession(11, u->id, T0 + 5000000);
	mksession(12, u->id, T0 - 1);      /* already expired */
	mksession(13, w->id, T0 + 10);     /* expires soon */
	mksession(14, w->id, T0 + 7200000000LL); /* two hours */
	size_t n = 99;
	expect_ok(cutover_identity_delete_user_sessions(S, u->id, &n, &err));
	assert_int_equal(n, 3);
	expect_ok(cutover_identity_delete_user_sessions(S, u->id, &n, &err));
	assert_int_equal(n, 0);
	/* expires_at <= now goes: sessions 1 and 2 of earlier tests (T0+1h) and 13 (T0+10us) */
	expect_ok(cutover_identity_delete_expired_sessions(S, T0 + 3600000000LL, &n, &err));
	assert_int_equal(n, 3);
	char tok[65];
	cutover_session *s = NULL;
	expect_ok(cutover_identity_get_session(S, &s, test_token(14, tok), &err));
	cutover_session_free(s);
	expect_ok(cutover_identity_delete_expired_sessions(S, T0 + 3600000000LL, &n, &err));
	assert_int_equal(n, 0);
	cutover_user_free(u);
	cutover_user_free(w);
}

/* --- the edges of what the wrappers accept ------------------------------------ */

#define YEAR_10000 253402300800000000LL /* 10000-01-01T00:00:00Z */

/* Timestamps outside years 0001-9999 and ids past 2^53 are refused by the
 * wrappers before any store, so no store writes what another cannot hold
 * (json's four-digit years, its doubles) and a bad `now` answers nothing. */
static void out_of_range_input_is_refused_before_any_store(void **state)
{
	(void)state;
	cutover_user *u = NULL;
	cutover_user in = {.email = "far-future@example.com", .role = "viewer", .email_verified_at = YEAR_10000,
			   .created_at = T0, .updated_at = T0};
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "email_verified_at"));
	in.email_verified_at = CUTOVER_TS_NULL;
	in.created_at = INT64_MAX;
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	in.created_at = T0;
	in.updated_at = CO_TS_MIN - 1;
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	in.updated_at = T0;
	in.id = CO_ID_MAX + 1; /* 2^53 + 1 */
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	in.id = 0;
	char big[CO_EMAIL_MAX + 20];
	memset(big, 'a', sizeof big);
	memcpy(big + sizeof big - 13, "@example.com", 13); /* one longer than any store's key can be */
	in.email = big;
	assert_int_equal(cutover_identity_create_user(S, &u, &in, &err), CUTOVER_EINVALID);
	assert_null(u);
	assert_int_equal(cutover_identity_get_user_by_email(S, &u, "far-future@example.com", &err), CUTOVER_ENOTFOUND);

	cutover_user *ok = mkuser("range@example.com", "viewer", "Range");
	cutover_user_patch p = {.set = CUTOVER_USER_SET_EMAIL_VERIFIED_AT, .email_verified_at = YEAR_10000};
	assert_int_equal(cutover_identity_update_user(S, &u, ok->id, &p, &err), CUTOVER_EINVALID);
	char tok[65];
	cutover_session ss = {.token_hash = (char *)test_token(15, tok), .user_id = ok->id, .created_at = T0,
			      .expires_at = INT64_MAX, .last_seen_at = CUTOVER_TS_NULL};
	assert_int_equal(cutover_identity_create_session(S, &ss, &err), CUTOVER_EINVALID); /* "never expires" */
	ss.expires_at = YEAR_10000;
	assert_int_equal(cutover_identity_create_session(S, &ss, &err), CUTOVER_EINVALID);
	ss.expires_at = T0 + 1000000;
	ss.last_seen_at = CO_TS_MIN - 1;
	assert_int_equal(cutover_identity_create_session(S, &ss, &err), CUTOVER_EINVALID);
	ss.last_seen_at = CUTOVER_TS_NULL;
	ss.user_id = CO_ID_MAX + 1;
	assert_int_equal(cutover_identity_create_session(S, &ss, &err), CUTOVER_EINVALID);
	ss.user_id = ok->id;
	expect_ok(cutover_identity_create_session(S, &ss, &err));

	/* `now`: CUTOVER_TS_NULL is no time at all, and must be in range */
	cutover_session *gs = NULL;
	cutover_user *gu = NULL;
	size_t n = 99;
	assert_int_equal(cutover_identity_lookup_session(S, &gs, &gu, tok, CUTOVER_TS_NULL, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_identity_lookup_session(S, &gs, &gu, tok, YEAR_10000, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_identity_touch_session(S, &gs, tok, CUTOVER_TS_NULL, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_identity_delete_expired_sessions(S, CUTOVER_TS_NULL, &n, &err), CUTOVER_EINVALID);
	assert_int_equal(n, 0);
	assert_int_equal(cutover_identity_delete_expired_sessions(S, YEAR_10000, &n, &err), CUTOVER_EINVALID);
	assert_null(gs);
	assert_null(gu);
	expect_ok(cutover_identity_lookup_session(S, &gs, &gu, tok, T0, &err)); /* nothing was touched */
	assert_true(gs->last_seen_at == CUTOVER_TS_NULL);
	cutover_session_free(gs);
	cutover_user_free(gu);
	cutover_user_free(ok);
}

/* Years 0001 and 9999 are stored and read back to the microsecond by every
 * store, and their text form round-trips. */
static void extreme_timestamps_round_trip(void **state)
{
	(void)state;
	char text[40];
	cutover_ts back = 0;
	assert_string_equal(cutover_ts_format(CO_TS_MIN, text, sizeof text), "0001-01-01T00:00:00Z");
	assert_int_equal(cutover_ts_parse(text, &back), CUTOVER_OK);
	assert_true(back == CO_TS_MIN);
	assert_string_equal(cutover_ts_format(CO_TS_MAX, text, sizeof text), "9999-12-31T23:59:59.999999Z");
	assert_int_equal(cutover_ts_parse(text, &back), CUTOVER_OK);
	assert_true(back == CO_TS_MAX);
	assert_int_equal(cutover_ts_parse("0001-01-01T00:30:00+01:00", &back), CUTOVER_EINVALID); /* year 0 */
	assert_int_equal(cutover_ts_parse("9999-12-31T23:30:00-01:00", &back), CUTOVER_EINVALID); /* year 10000 */
	assert_false(co_ts_in_range(CUTOVER_TS_NULL));

	cutover_user in = {.email = "extremes@example.com", .role = "analyst", .email_verified_at = CO_TS_MAX,
			   .created_at = CO_TS_MIN, .updated_at = CO_TS_MIN + 1};
	cutover_user *u = NULL, *g = NULL;
	expect_ok(cutover_identity_create_user(S, &u, &in, &err));
	assert_true(u->created_at == CO_TS_MIN);
	assert_true(u->updated_at == CO_TS_MIN + 1);
	assert_true(u->email_verified_at == CO_TS_MAX);
	expect_ok(cutover_identity_get_user(S, &g, u->id, &err));
	char diff[256];
	assert_int_equal(co_user_diff(u, g, diff, sizeof diff), 0);
	cutover_user_free(g);
	/* a session that expires at the end of year 9999 is live, and stays */
	char tok[65];
	cutover_session ss = {.token_hash = (char *)test_token(16, tok), .user_id = u->id, .created_at = CO_TS_MIN,
			      .expires_at = CO_TS_MAX, .last_seen_at = CUTOVER_TS_NULL};
	expect_ok(cutover_identity_create_session(S, &ss, &err));
	cutover_session *gs = NULL;
	cutover_user *gu = NULL;
	expect_ok(cutover_identity_lookup_session(S, &gs, &gu, tok, T0, &err));
	assert_true(gs->expires_at == CO_TS_MAX);
	assert_true(gs->created_at == CO_TS_MIN);
	assert_true(gu->email_verified_at == CO_TS_MAX);
	cutover_session_free(gs);
	cutover_user_free(gu);
	size_t n = 99;
	expect_ok(cutover_identity_delete_expired_sessions(S, T0 + 3600000000LL, &n, &err));
	expect_ok(cutover_identity_get_session(S, &gs, tok, &err));
	cutover_session_free(gs);
	cutover_user_list l = {0};
	expect_ok(cutover_identity_list_assignable_users(S, &l, "analyst", &err)); /* no record poisons the list */
	assert_true(l.n >= 1);
	cutover_user_list_free(&l);
	cutover_user_free(u);
}

/* --- what only a dual stage can show ---------------------------------------- */

static void no_comparison_differed(void **state)
{
	(void)state;
	cutover_stats st;
	cutover_identity_stats(S, &st);
	test_expect_no_drift(&st, stage);
}

/* In every stage that writes both stores, both now hold the same records. */
static void both_stores_hold_the_same_records(void **state)
{
	(void)state;
	if (!cutover_stage_describe(stage)->writes_both)
		skip();
	cutover_identity *js = NULL, *ps = NULL;
	expect_ok(cutover_identity_json(&js, env.json_root, NULL, &err));
	expect_ok(cutover_identity_postgres(&ps, env.conninfo, &err));
	int users = 0;
	/* ids from 1, and past the explicit id 5000 (json assigns max+1 after it) */
	for (int64_t id = 1; id <= 5100; id = (id == 200 ? 4990 : id + 1)) {
		cutover_user *a = NULL, *b = NULL;
		int ra = cutover_identity_get_user(js, &a, id, &err);
		int rb = cutover_identity_get_user(ps, &b, id, &err);
		assert_int_equal(ra, rb);
		if (ra == CUTOVER_OK) {
			char diff[256];
			if (co_user_diff(a, b, diff, sizeof(diff)))
				fail_msg("user %lld differs between stores: %s", (long long)id, diff);
			users++;
		}
		cutover_user_free(a);
		cutover_user_free(b);
	}
	assert_true(users > 10);
	for (unsigned n = 0; n < 20; n++) {
		char tok[65];
		cutover_session *a = NULL, *b = NULL;
		int ra = cutover_identity_get_session(js, &a, test_token(n, tok), &err);
		int rb = cutover_identity_get_session(ps, &b, tok, &err);
		assert_int_equal(ra, rb);
		if (ra == CUTOVER_OK) {
			char diff[256];
			assert_int_equal(co_session_diff(a, b, diff, sizeof(diff)), 0);
		}
		cutover_session_free(a);
		cutover_session_free(b);
	}
	cutover_identity_free(js);
	cutover_identity_free(ps);
}

static int setup(void **state)
{
	(void)state;
	test_log_reset();
	test_env_init(&env, cutover_stage_describe(stage)->name);
	env.opts.stage = cutover_stage_describe(stage)->name;
	T0 = (cutover_now() / 1000000) * 1000000;
	if (cutover_identity_open(&S, &env.opts, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cutover_identity_free(S);
	S = NULL;
	test_env_fini(&env);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_and_get_round_trip),
		cmocka_unit_test(ids_are_assigned_in_order),
		cmocka_unit_test(explicit_id_is_kept_and_unique),
		cmocka_unit_test(duplicate_email_is_a_conflict),
		cmocka_unit_test(duplicate_oauth_link_is_a_conflict),
		cmocka_unit_test(bad_input_is_refused_before_any_store),
		cmocka_unit_test(missing_users_are_not_found),
		cmocka_unit_test(update_changes_only_what_is_set),
		cmocka_unit_test(assignable_users_exclude_disabled_and_filter_by_role),
		cmocka_unit_test(session_lookup_returns_the_user),
		cmocka_unit_test(session_of_a_disabled_user_is_not_served),
		cmocka_unit_test(session_rules),
		cmocka_unit_test(deleting_sessions_in_bulk),
		cmocka_unit_test(out_of_range_input_is_refused_before_any_store),
		cmocka_unit_test(extreme_timestamps_round_trip),
		cmocka_unit_test(no_comparison_differed),
		cmocka_unit_test(both_stores_hold_the_same_records),
	};
	test_log_capture();
	int failed = 0;
	for (int i = 0; i < CUTOVER_STAGE_COUNT; i++) {
		const char *name = cutover_stage_describe((cutover_stage)i)->name;
		bool wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= strcmp(argv[a], name) == 0;
		if (!wanted)
			continue;
		stage = (cutover_stage)i;
		char group[64];
		snprintf(group, sizeof(group), "identity conformance, stage %s", name);
		failed += cmocka_run_group_tests_name(group, tests, setup, teardown);
	}
	test_log_reset();
	return failed ? 1 : 0;
}
