/* test_replication_order.c — second writes of one record from many processes.
 *
 * In a dual stage the router copies the record as the primary holds it to
 * the secondary after the primary's lock or transaction is released, so two
 * processes writing one record can have their second writes land in the
 * other order. Replication must never move a record back: a put skips its
 * write when the stored copy is newer (co_report_newer, co_portfolio_newer,
 * co_user_newer, co_session_newer, co_incident_newer), inside the
 * secondary's lock or transaction.
 *
 * WRITERS processes each make EACH writes to one report (record_action, with
 * an update now and then), one portfolio (update a certification), one user
 * (update), one session (touch) and one incident (moved a step along its
 * cycle, when no other writer moved it first), in dualwrite and in live.
 * Afterwards both stores hold the same report (the whole trail), portfolio,
 * user, session and incident, and nothing was journaled: no second write
 * failed.
 *
 * Runs under tests/with-postgres.sh; each child is bounded by alarm().
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "profile_int.h"
#include "reports_int.h"
#include "telemetry_int.h"

enum { WRITERS = 6, EACH = 25 };

static cutover_error err;
static test_env env;
static int64_t user_id, other_id, report_id, cert_id, incident_id;
static char token[65];

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

#define CHILD_OK(call, code)                              \
	do {                                              \
		if ((call) != CUTOVER_OK) {               \
			cutover_error_fprint(stderr, &err); \
			return (code);                    \
		}                                         \
	} while (0)

/* One writer: its own handles (opened after the fork), EACH rounds. */
static int writer(int w)
{
	alarm(240);
	cutover_identity *ids = NULL;
	cutover_profile *prof = NULL;
	cutover_reports *reps = NULL;
	cutover_telemetry *tel = NULL;
	CHILD_OK(cutover_identity_open(&ids, &env.opts, &err), 10);
	CHILD_OK(cutover_profile_open(&prof, &env.opts, &err), 11);
	CHILD_OK(cutover_reports_open(&reps, &env.opts, &err), 12);
	CHILD_OK(cutover_telemetry_open(&tel, &env.opts, &err), 13);
	for (int i = 0; i < EACH; i++) {
		char text[64];
		snprintf(text, sizeof text, "writer %d round %d", w, i);
		CHILD_OK(cutover_reports_record_action(reps, NULL, report_id, "read", user_id, text, &err), 20);
		if (i % 5 == 4) {
			cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = text};
			CHILD_OK(cutover_reports_update(reps, NULL, report_id, &p, &err), 21);
		}
		cutover_certification c = {.id = cert_id, .name = text};
		CHILD_OK(cutover_profile_update_certification(prof, NULL, user_id, &c, &err), 22);
		cutover_user_patch up = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = text};
		cutover_user *u = NULL;
		CHILD_OK(cutover_identity_update_user(ids, &u, user_id, &up, &err), 23);
		cutover_user_free(u);
		CHILD_OK(cutover_identity_touch_session(ids, NULL, token, CUTOVER_TS_NOW, &err), 24);
		/* one step along open -> investigating -> contained -> resolved -> open;
		 * a writer that lost the race to another one's move is refused */
		static const char *const next[][2] = {{"open", "investigating"}, {"investigating", "contained"},
						       {"contained", "resolved"}, {"resolved", "open"}};
		cutover_incident *inc = NULL;
		CHILD_OK(cutover_telemetry_get_incident(tel, &inc, incident_id, &err), 25);
		const char *to = NULL;
		for (size_t k = 0; k < 4; k++)
			if (strcmp(inc->state, next[k][0]) == 0)
				to = next[k][1];
		cutover_incident_free(inc);
		int rc = cutover_telemetry_transition_incident(tel, NULL, incident_id, to, &err);
		if (rc != CUTOVER_OK && rc != CUTOVER_EINVALID) {
			cutover_error_fprint(stderr, &err);
			return 26;
		}
	}
	cutover_stats st[4];
	cutover_identity_stats(ids, &st[0]);
	cutover_profile_stats(prof, &st[1]);
	cutover_reports_stats(reps, &st[2]);
	cutover_telemetry_stats(tel, &st[3]);
	cutover_identity_free(ids);
	cutover_profile_free(prof);
	cutover_reports_free(reps);
	cutover_telemetry_free(tel);
	for (int k = 0; k < 4; k++)
		if (st[k].secondary_failures || st[k].journaled)
			return 30 + k;
	return 0;
}

/* The records every writer works on, made through the stage's router. */
static void seed(void)
{
	cutover_identity *ids = NULL;
	cutover_profile *prof = NULL;
	cutover_reports *reps = NULL;
	expect_ok(cutover_identity_open(&ids, &env.opts, &err));
	expect_ok(cutover_profile_open(&prof, &env.opts, &err));
	expect_ok(cutover_reports_open(&reps, &env.opts, &err));

	cutover_user in = {.email = "writer@example.com", .role = "analyst", .display_name = "Writer",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL,
			   .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(ids, &u, &in, &err));
	user_id = u->id;
	cutover_user_free(u);
	in.email = "other@example.com";
	expect_ok(cutover_identity_create_user(ids, &u, &in, &err));
	other_id = u->id;
	cutover_user_free(u);
	cutover_session ss = {.token_hash = (char *)test_token(77, token), .user_id = user_id,
			      .created_at = CUTOVER_TS_NULL, .expires_at = cutover_now() + 3600000000LL,
			      .last_seen_at = CUTOVER_TS_NULL};
	expect_ok(cutover_identity_create_session(ids, &ss, &err));

	cutover_certification certs[] = {{.name = "Before"}};
	cutover_portfolio pin = {.user_id = user_id, .headline = "Ordered", .certifications = certs,
				 .n_certifications = 1, .updated_at = CUTOVER_TS_NULL};
	cutover_portfolio *p = NULL;
	expect_ok(cutover_profile_put(prof, &p, &pin, &err));
	cert_id = p->certifications[0].id;
	cutover_portfolio_free(p);

	cutover_report rin = {.title = "Contended", .severity = "high", .author_id = user_id,
			      .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL,
			      .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	expect_ok(cutover_reports_create(reps, &r, &rin, &err));
	report_id = r->id;
	cutover_report_free(r);

	cutover_telemetry *tel = NULL;
	expect_ok(cutover_telemetry_open(&tel, &env.opts, &err));
	cutover_incident iin = {.title = "Contended", .severity = "high", .opened_at = CUTOVER_TS_NULL,
				.resolved_at = CUTOVER_TS_NULL};
	cutover_incident *inc = NULL;
	expect_ok(cutover_telemetry_create_incident(tel, &inc, &iin, &err));
	incident_id = inc->id;
	cutover_incident_free(inc);
	cutover_telemetry_free(tel);

	cutover_identity_free(ids);
	cutover_profile_free(prof);
	cutover_reports_free(reps);
}

static void both_stores_agree(void)
{
	test_stores s;
	test_stores_open(&env, &s);
	char diff[512];

	cutover_report *a = NULL, *b = NULL;
	expect_ok(cutover_reports_get(s.rj, &a, report_id, &err));
	expect_ok(cutover_reports_get(s.rp, &b, report_id, &err));
	assert_int_equal(a->n_actions, WRITERS * EACH); /* the primary lost nothing */
	if (co_report_diff(a, b, diff, sizeof diff))
		fprintf(stderr, "report differs: %s (trail %zu vs %zu)\n", diff, a->n_actions, b->n_actions);
	assert_int_equal(co_report_diff(a, b, diff, sizeof diff), 0);
	cutover_report_free(a);
	cutover_report_free(b);

	cutover_portfolio *pa = NULL, *pb = NULL;
	expect_ok(cutover_profile_get(s.pj, &pa, user_id, &err));
	expect_ok(cutover_profile_get(s.pp, &pb, user_id, &err));
	if (co_portfolio_diff(pa, pb, diff, sizeof diff))
		fprintf(stderr, "portfolio differs: %s\n", diff);
	assert_int_equal(co_portfolio_diff(pa, pb, diff, sizeof diff), 0);
	cutover_portfolio_free(pa);
	cutover_portfolio_free(pb);

	cutover_user *ua = NULL, *ub = NULL;
	expect_ok(cutover_identity_get_user(s.ij, &ua, user_id, &err));
	expect_ok(cutover_identity_get_user(s.ip, &ub, user_id, &err));
	if (co_user_diff(ua, ub, diff, sizeof diff))
		fprintf(stderr, "user differs: %s\n", diff);
	assert_int_equal(co_user_diff(ua, ub, diff, sizeof diff), 0);
	cutover_user_free(ua);
	cutover_user_free(ub);

	cutover_session *sa = NULL, *sb = NULL;
	expect_ok(cutover_identity_get_session(s.ij, &sa, token, &err));
	expect_ok(cutover_identity_get_session(s.ip, &sb, token, &err));
	if (co_session_diff(sa, sb, diff, sizeof diff))
		fprintf(stderr, "session differs: %s\n", diff);
	assert_int_equal(co_session_diff(sa, sb, diff, sizeof diff), 0);
	cutover_session_free(sa);
	cutover_session_free(sb);

	cutover_incident *ia = NULL, *ib = NULL;
	expect_ok(cutover_telemetry_get_incident(s.tj, &ia, incident_id, &err));
	expect_ok(cutover_telemetry_get_incident(s.tp, &ib, incident_id, &err));
	if (co_incident_diff(ia, ib, diff, sizeof diff))
		fprintf(stderr, "incident differs: %s (%s vs %s)\n", diff, ia->state, ib->state);
	assert_int_equal(co_incident_diff(ia, ib, diff, sizeof diff), 0);
	cutover_incident_free(ia);
	cutover_incident_free(ib);
	test_stores_close(&s);

	for (int d = CUTOVER_DOMAIN_IDENTITY; d <= CUTOVER_DOMAIN_TELEMETRY; d++) {
		size_t n = 99;
		expect_ok(co_journal_count(env.journal, (cutover_domain)d, &n, &err));
		assert_int_equal(n, 0);
	}
}

static void run_stage(const char *stage, const char *tag)
{
	test_env_init(&env, tag);
	env.opts.stage = stage;
	seed();
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			_exit(writer(w));
	}
	for (int w = 0; w < WRITERS; w++) {
		int st = 0;
		assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	both_stores_agree();
	test_env_fini(&env);
}

static void concurrent_second_writes_in_dualwrite_never_go_back(void **state)
{
	(void)state;
	run_stage("dualwrite", "replorder_dw");
}

static void concurrent_second_writes_in_live_never_go_back(void **state)
{
	(void)state;
	run_stage("live", "replorder_live");
}

/* The same property without timing: on each backend, a put of an older
 * copy after a newer one leaves the newer one; a put of another report
 * with that id is refused. */
static void an_older_copy_put_late_is_skipped(void **state)
{
	(void)state;
	test_env_init(&env, "replorder_late");
	env.opts.stage = "dualwrite";
	seed();
	cutover_identity *ids[2] = {NULL, NULL};
	cutover_profile *profs[2] = {NULL, NULL};
	cutover_reports *reps[2] = {NULL, NULL};
	cutover_telemetry *tels[2] = {NULL, NULL};
	expect_ok(cutover_telemetry_json(&tels[0], env.root, NULL, &err));
	expect_ok(cutover_telemetry_postgres(&tels[1], env.conninfo, &err));
	expect_ok(cutover_identity_json(&ids[0], env.root, NULL, &err));
	expect_ok(cutover_identity_postgres(&ids[1], env.conninfo, &err));
	expect_ok(cutover_profile_json(&profs[0], env.root, NULL, &err));
	expect_ok(cutover_profile_postgres(&profs[1], env.conninfo, &err));
	expect_ok(cutover_reports_json(&reps[0], env.root, NULL, &err));
	expect_ok(cutover_reports_postgres(&reps[1], env.conninfo, &err));
	for (int k = 0; k < 2; k++) {
		char diff[256];
		/* reports: an action (same updated_at, longer trail), then an update (later updated_at) */
		cutover_report *r0 = NULL, *r1 = NULL, *r2 = NULL, *g = NULL;
		expect_ok(cutover_reports_get(reps[k], &r0, report_id, &err));
		expect_ok(cutover_reports_record_action(reps[k], &r1, report_id, "read", user_id, NULL, &err));
		cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = "Later"};
		expect_ok(cutover_reports_update(reps[k], &r2, report_id, &p, &err));
		expect_ok(reps[k]->put_report(reps[k], r1, &err));
		expect_ok(reps[k]->put_report(reps[k], r0, &err));
		expect_ok(cutover_reports_get(reps[k], &g, report_id, &err));
		assert_int_equal(co_report_diff(g, r2, diff, sizeof diff), 0);
		cutover_report_free(g);
		/* another report under this id is refused and changes nothing */
		r0->created_at -= 1000000;
		assert_int_equal(reps[k]->put_report(reps[k], r0, &err), CUTOVER_ECONFLICT);
		r0->created_at += 1000000;
		r0->author_id = other_id;
		assert_int_equal(reps[k]->put_report(reps[k], r0, &err), CUTOVER_ECONFLICT);
		expect_ok(cutover_reports_get(reps[k], &g, report_id, &err));
		assert_int_equal(co_report_diff(g, r2, diff, sizeof diff), 0);
		cutover_report_free(g);
		cutover_report_free(r0);
		cutover_report_free(r1);
		cutover_report_free(r2);

		/* profile */
		cutover_portfolio *p0 = NULL, *p1 = NULL, *pg = NULL;
		expect_ok(cutover_profile_get(profs[k], &p0, user_id, &err));
		cutover_certification c = {.id = cert_id, .name = "Renamed"};
		expect_ok(cutover_profile_update_certification(profs[k], &p1, user_id, &c, &err));
		expect_ok(profs[k]->replicate(profs[k], p0, &err));
		expect_ok(cutover_profile_get(profs[k], &pg, user_id, &err));
		assert_int_equal(co_portfolio_diff(pg, p1, diff, sizeof diff), 0);
		cutover_portfolio_free(p0);
		cutover_portfolio_free(p1);
		cutover_portfolio_free(pg);

		/* users */
		cutover_user *u0 = NULL, *u1 = NULL, *ug = NULL;
		expect_ok(cutover_identity_get_user(ids[k], &u0, user_id, &err));
		cutover_user_patch up = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Later"};
		expect_ok(cutover_identity_update_user(ids[k], &u1, user_id, &up, &err));
		expect_ok(ids[k]->put_user(ids[k], u0, &err));
		expect_ok(cutover_identity_get_user(ids[k], &ug, user_id, &err));
		assert_int_equal(co_user_diff(ug, u1, diff, sizeof diff), 0);
		cutover_user_free(u0);
		cutover_user_free(u1);
		cutover_user_free(ug);

		/* sessions: touch never moves back, nor does a late put */
		cutover_session *s0 = NULL, *s1 = NULL, *sg = NULL;
		expect_ok(cutover_identity_get_session(ids[k], &s0, token, &err));
		cutover_ts t = cutover_now();
		expect_ok(cutover_identity_touch_session(ids[k], &s1, token, t, &err));
		expect_ok(cutover_identity_touch_session(ids[k], &sg, token, t - 1000, &err));
		assert_true(sg->last_seen_at == t);
		cutover_session_free(sg);
		expect_ok(ids[k]->put_session(ids[k], s0, &err));
		expect_ok(cutover_identity_get_session(ids[k], &sg, token, &err));
		assert_int_equal(co_session_diff(sg, s1, diff, sizeof diff), 0);
		cutover_session_free(s0);
		cutover_session_free(s1);
		cutover_session_free(sg);

		/* incidents: a late copy of an earlier state is skipped, even one
		 * whose stamp is a microsecond older; another incident is refused */
		cutover_incident *i0 = NULL, *i1 = NULL, *i2 = NULL, *ig = NULL;
		expect_ok(cutover_telemetry_get_incident(tels[k], &i0, incident_id, &err));
		expect_ok(cutover_telemetry_transition_incident(tels[k], &i1, incident_id, "investigating", &err));
		expect_ok(cutover_telemetry_transition_incident(tels[k], &i2, incident_id, "contained", &err));
		assert_true(i1->updated_at > i0->updated_at && i2->updated_at > i1->updated_at);
		expect_ok(tels[k]->put_incident(tels[k], i1, &err));
		expect_ok(tels[k]->put_incident(tels[k], i0, &err));
		expect_ok(cutover_telemetry_get_incident(tels[k], &ig, incident_id, &err));
		assert_int_equal(co_incident_diff(ig, i2, diff, sizeof diff), 0);
		cutover_incident_free(ig);
		i1->updated_at = i2->updated_at - 1;
		expect_ok(tels[k]->put_incident(tels[k], i1, &err));
		i0->opened_at -= 1000000;
		i0->updated_at = i2->updated_at + 1;
		assert_int_equal(tels[k]->put_incident(tels[k], i0, &err), CUTOVER_ECONFLICT);
		expect_ok(cutover_telemetry_get_incident(tels[k], &ig, incident_id, &err));
		assert_int_equal(co_incident_diff(ig, i2, diff, sizeof diff), 0);
		/* a newer copy does replace it */
		cutover_incident_free(ig);
		i0->opened_at = i2->opened_at;
		expect_ok(tels[k]->put_incident(tels[k], i0, &err));
		expect_ok(cutover_telemetry_get_incident(tels[k], &ig, incident_id, &err));
		assert_int_equal(co_incident_diff(ig, i0, diff, sizeof diff), 0);
		cutover_incident_free(ig);
		cutover_incident_free(i0);
		cutover_incident_free(i1);
		cutover_incident_free(i2);
	}
	for (int k = 0; k < 2; k++) {
		cutover_telemetry_free(tels[k]);
		cutover_identity_free(ids[k]);
		cutover_profile_free(profs[k]);
		cutover_reports_free(reps[k]);
	}
	test_env_fini(&env);
}

/* Ids the JSON store assigned in dualwrite reach Postgres through put; the
 * sequences must move past them, or the first create in live draws one of
 * them and fails. */
static void ids_replicated_in_dualwrite_are_not_drawn_again(void **state)
{
	(void)state;
	test_env_init(&env, "replorder_seq");
	env.opts.stage = "dualwrite";
	cutover_telemetry *tel = NULL, *pg = NULL;
	expect_ok(cutover_telemetry_open(&tel, &env.opts, &err));
	cutover_incident iin = {.title = "Before live", .severity = "low", .opened_at = CUTOVER_TS_NULL,
				.resolved_at = CUTOVER_TS_NULL};
	cutover_incident *i1 = NULL, *i2 = NULL;
	expect_ok(cutover_telemetry_create_incident(tel, &i1, &iin, &err));
	cutover_event ev[2] = {{.occurred_at = cutover_now(), .severity = "low"},
			       {.occurred_at = cutover_now(), .severity = "high"}};
	cutover_event_list l1 = {0}, l2 = {0};
	expect_ok(cutover_telemetry_append_events(tel, &l1, ev, 2, &err));
	cutover_stats st;
	cutover_telemetry_stats(tel, &st);
	assert_int_equal(st.journaled, 0);
	cutover_telemetry_free(tel);

	expect_ok(cutover_telemetry_postgres(&pg, env.conninfo, &err));
	expect_ok(cutover_telemetry_create_incident(pg, &i2, &iin, &err));
	assert_true(i2->id > i1->id);
	expect_ok(cutover_telemetry_append_events(pg, &l2, ev, 2, &err));
	assert_true(l2.items[0].id > l1.items[1].id);
	cutover_incident_free(i1);
	cutover_incident_free(i2);
	cutover_event_list_free(&l1);
	cutover_event_list_free(&l2);
	cutover_telemetry_free(pg);
	test_env_fini(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_older_copy_put_late_is_skipped),
		cmocka_unit_test(ids_replicated_in_dualwrite_are_not_drawn_again),
		cmocka_unit_test(concurrent_second_writes_in_dualwrite_never_go_back),
		cmocka_unit_test(concurrent_second_writes_in_live_never_go_back),
	};
	return cmocka_run_group_tests_name("replication order", tests, NULL, NULL);
}
