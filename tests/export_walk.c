/* export_walk.c — a helper of tests/test_export.py, speaking through the
 * library (not a test on its own).
 *
 * usage: cutover-export-walk walk ROOT      every record Postgres serves, read
 *                                           back through the json backend at ROOT
 *                                           (get by key, list and query pages):
 *                                           the same records, field for field
 *        cutover-export-walk replica ROOT   an empty ROOT filled through the json
 *                                           backend's replication puts with every
 *                                           record Postgres serves (what the json
 *                                           backend itself writes, to compare an
 *                                           export with byte for byte)
 *        cutover-export-walk mutate         app writes in the postgres stage: a
 *                                           user changed and one created, sessions
 *                                           deleted and created, a certification
 *                                           added and one deleted, reports
 *                                           archived, acted on and created, an
 *                                           incident moved, events appended and
 *                                           linked
 * Postgres is DATABASE_URL. Keys are listed with constant SQL; every record
 * is read through the backends. Exit 0 when all is well, 1 on the first
 * difference (printed: which record and which fields), 3 on a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "co.h"
#include "profile_int.h"
#include "reports_int.h"
#include "telemetry_int.h"

static const char *url;
static PGconn *conn;
static int diffs;

static void die(const char *what, const cutover_error *err)
{
	fprintf(stderr, "export-walk: %s: %s (%s)\n", what, err->message, err->detail);
	exit(3);
}

static PGresult *keys(const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "export-walk: %s: %s", sql, PQerrorMessage(conn));
		exit(3);
	}
	return r;
}

static void differ(const char *what, const char *key, const char *fields)
{
	if (diffs++ < 20)
		printf("DIFFER %s %s: %s\n", what, key, fields);
}

/* --- walk: json at ROOT against postgres ------------------------------------------------- */

static void walk(const char *root)
{
	cutover_error err;
	char f[512];
	size_t n_users = 0, n_sessions = 0, n_profiles = 0, n_reports = 0, n_incidents = 0, n_events = 0;

	cutover_identity *ji = NULL, *pi = NULL;
	if (cutover_identity_json(&ji, root, getenv("CUTOVER_JSON_TOKEN"), &err) ||
	    cutover_identity_postgres(&pi, url, &err))
		die("open identity", &err);
	PGresult *r = keys("SELECT id FROM identity.users ORDER BY id");
	for (int i = 0; i < PQntuples(r); i++, n_users++) {
		int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		cutover_user *a = NULL, *b = NULL;
		if (cutover_identity_get_user(pi, &a, id, &err))
			die("postgres get_user", &err);
		if (cutover_identity_get_user(ji, &b, id, &err))
			differ("user", PQgetvalue(r, i, 0), err.message);
		else if (co_user_diff(a, b, f, sizeof f))
			differ("user", PQgetvalue(r, i, 0), f);
		cutover_user_free(a);
		cutover_user_free(b);
	}
	PQclear(r);
	cutover_user_list la = {0}, lb = {0};
	if (cutover_identity_list_assignable_users(pi, &la, NULL, &err) ||
	    cutover_identity_list_assignable_users(ji, &lb, NULL, &err))
		die("list_assignable_users", &err);
	if (la.n != lb.n)
		differ("assignable users", "count", "n");
	cutover_user_list_free(&la);
	cutover_user_list_free(&lb);
	r = keys("SELECT token_hash FROM identity.sessions ORDER BY token_hash");
	for (int i = 0; i < PQntuples(r); i++, n_sessions++) {
		cutover_session *a = NULL, *b = NULL;
		char fp[64];
		co_redact_value(PQgetvalue(r, i, 0), fp, sizeof fp);
		if (cutover_identity_get_session(pi, &a, PQgetvalue(r, i, 0), &err))
			die("postgres get_session", &err);
		if (cutover_identity_get_session(ji, &b, PQgetvalue(r, i, 0), &err))
			differ("session", fp, err.message);
		else if (co_session_diff(a, b, f, sizeof f))
			differ("session", fp, f);
		cutover_session_free(a);
		cutover_session_free(b);
	}
	PQclear(r);
	cutover_identity_free(ji);
	cutover_identity_free(pi);

	cutover_profile *jp = NULL, *pp = NULL;
	if (cutover_profile_json(&jp, root, getenv("CUTOVER_JSON_TOKEN"), &err) || cutover_profile_postgres(&pp, url, &err))
		die("open profile", &err);
	r = keys("SELECT user_id FROM content.portfolio_profiles ORDER BY user_id");
	for (int i = 0; i < PQntuples(r); i++, n_profiles++) {
		int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		cutover_portfolio *a = NULL, *b = NULL;
		if (cutover_profile_get(pp, &a, id, &err))
			die("postgres get profile", &err);
		if (cutover_profile_get(jp, &b, id, &err))
			differ("profile", PQgetvalue(r, i, 0), err.message);
		else if (co_portfolio_diff(a, b, f, sizeof f))
			differ("profile", PQgetvalue(r, i, 0), f);
		cutover_portfolio_free(a);
		cutover_portfolio_free(b);
	}
	PQclear(r);
	cutover_profile_free(jp);
	cutover_profile_free(pp);

	cutover_reports *jr = NULL, *pr = NULL;
	if (cutover_reports_json(&jr, root, getenv("CUTOVER_JSON_TOKEN"), &err) || cutover_reports_postgres(&pr, url, &err))
		die("open reports", &err);
	char ca[CUTOVER_CURSOR_LEN] = "", cb[CUTOVER_CURSOR_LEN] = "";
	for (int page = 0;; page++) {
		cutover_report_page a = {0}, b = {0};
		if (cutover_reports_list(pr, &a, NULL, ca, 50, &err))
			die("postgres list reports", &err);
		if (cutover_reports_list(jr, &b, NULL, cb, 50, &err))
			die("json list reports", &err);
		if (a.n != b.n || strcmp(a.next_cursor, b.next_cursor) != 0)
			differ("reports page", "list", "count or cursor");
		for (size_t i = 0; i < a.n && i < b.n; i++, n_reports++) {
			char key[32];
			snprintf(key, sizeof key, "%lld", (long long)a.items[i].id);
			if (co_report_diff(&a.items[i], &b.items[i], f, sizeof f))
				differ("report (list)", key, f);
			cutover_report *x = NULL, *y = NULL;
			if (cutover_reports_get(pr, &x, a.items[i].id, &err))
				die("postgres get report", &err);
			if (cutover_reports_get(jr, &y, a.items[i].id, &err))
				differ("report", key, err.message);
			else if (co_report_diff(x, y, f, sizeof f))
				differ("report", key, f);
			cutover_report_free(x);
			cutover_report_free(y);
		}
		snprintf(ca, sizeof ca, "%s", a.next_cursor);
		snprintf(cb, sizeof cb, "%s", b.next_cursor);
		cutover_report_page_free(&a);
		cutover_report_page_free(&b);
		if (!ca[0] || !cb[0] || page > 100000)
			break;
	}
	cutover_reports_free(jr);
	cutover_reports_free(pr);

	cutover_telemetry *jt = NULL, *pt = NULL;
	if (cutover_telemetry_json(&jt, root, getenv("CUTOVER_JSON_TOKEN"), &err) ||
	    cutover_telemetry_postgres(&pt, url, &err))
		die("open telemetry", &err);
	r = keys("SELECT id FROM operations.incidents ORDER BY id");
	for (int i = 0; i < PQntuples(r); i++, n_incidents++) {
		int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		cutover_incident *a = NULL, *b = NULL;
		if (cutover_telemetry_get_incident(pt, &a, id, &err))
			die("postgres get incident", &err);
		if (cutover_telemetry_get_incident(jt, &b, id, &err))
			differ("incident", PQgetvalue(r, i, 0), err.message);
		else if (co_incident_diff(a, b, f, sizeof f))
			differ("incident", PQgetvalue(r, i, 0), f);
		cutover_incident_free(a);
		cutover_incident_free(b);
	}
	PQclear(r);
	ca[0] = cb[0] = '\0';
	for (int page = 0;; page++) {
		cutover_event_page a = {0}, b = {0};
		cutover_event_query qa = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .cursor = ca, .limit = 1000};
		cutover_event_query qb = qa;
		qb.cursor = cb;
		if (cutover_telemetry_query_events(pt, &a, &qa, &err))
			die("postgres query events", &err);
		if (cutover_telemetry_query_events(jt, &b, &qb, &err))
			die("json query events", &err);
		if (a.n != b.n || strcmp(a.next_cursor, b.next_cursor) != 0)
			differ("events page", "query", "count or cursor");
		for (size_t i = 0; i < a.n && i < b.n; i++, n_events++) {
			char key[32];
			snprintf(key, sizeof key, "%lld", (long long)a.items[i].id);
			if (co_event_diff(&a.items[i], &b.items[i], f, sizeof f) || a.items[i].id != b.items[i].id)
				differ("event", key, f);
		}
		snprintf(ca, sizeof ca, "%s", a.next_cursor);
		snprintf(cb, sizeof cb, "%s", b.next_cursor);
		cutover_event_page_free(&a);
		cutover_event_page_free(&b);
		if (!ca[0] || !cb[0] || page > 100000)
			break;
	}
	cutover_telemetry_free(jt);
	cutover_telemetry_free(pt);
	printf("walked %zu users, %zu sessions, %zu profiles, %zu reports, %zu incidents, %zu events: %d differ\n",
	       n_users, n_sessions, n_profiles, n_reports, n_incidents, n_events, diffs);
}

/* --- replica: what the json backend writes, from postgres ----------------------------------- */

static void replica(const char *root)
{
	cutover_error err;
	cutover_identity *ji = NULL, *pi = NULL;
	if (cutover_identity_json(&ji, root, NULL, &err) || cutover_identity_postgres(&pi, url, &err))
		die("open identity", &err);
	PGresult *r = keys("SELECT id FROM identity.users ORDER BY id");
	for (int i = 0; i < PQntuples(r); i++) {
		cutover_user *u = NULL;
		if (cutover_identity_get_user(pi, &u, strtoll(PQgetvalue(r, i, 0), NULL, 10), &err) ||
		    ji->put_user(ji, u, &err))
			die("replicate a user", &err);
		cutover_user_free(u);
	}
	PQclear(r);
	r = keys("SELECT token_hash FROM identity.sessions ORDER BY created_at, token_hash COLLATE \"C\"");
	for (int i = 0; i < PQntuples(r); i++) {
		cutover_session *s = NULL;
		if (cutover_identity_get_session(pi, &s, PQgetvalue(r, i, 0), &err) || ji->put_session(ji, s, &err))
			die("replicate a session", &err);
		cutover_session_free(s);
	}
	PQclear(r);
	cutover_identity_free(ji);
	cutover_identity_free(pi);

	cutover_telemetry *jt = NULL, *pt = NULL;
	if (cutover_telemetry_json(&jt, root, NULL, &err) || cutover_telemetry_postgres(&pt, url, &err))
		die("open telemetry", &err);
	r = keys("SELECT id FROM operations.incidents ORDER BY id");
	for (int i = 0; i < PQntuples(r); i++) {
		cutover_incident *inc = NULL;
		if (cutover_telemetry_get_incident(pt, &inc, strtoll(PQgetvalue(r, i, 0), NULL, 10), &err) ||
		    jt->put_incident(jt, inc, &err))
			die("replicate an incident", &err);
		cutover_incident_free(inc);
	}
	PQclear(r);
	/* events in id order, a page at a time (a page is in (occurred_at, id) order) */
	r = keys("SELECT id FROM operations.telemetry_events ORDER BY id");
	int n = PQntuples(r);
	for (int i = 0; i < n;) {
		int64_t lo = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		int j = i + 500 < n ? i + 500 : n;
		int64_t hi = strtoll(PQgetvalue(r, j - 1, 0), NULL, 10);
		cutover_event batch[500];
		size_t nb = 0;
		char cur[CUTOVER_CURSOR_LEN] = "";
		cutover_event_page pg = {0};
		for (;;) {
			cutover_event_query q = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .cursor = cur, .limit = 1000};
			if (cutover_telemetry_query_events(pt, &pg, &q, &err))
				die("postgres query events", &err);
			for (size_t k = 0; k < pg.n; k++)
				if (pg.items[k].id >= lo && pg.items[k].id <= hi)
					co_event_copy(&batch[nb++], &pg.items[k]);
			snprintf(cur, sizeof cur, "%s", pg.next_cursor);
			cutover_event_page_free(&pg);
			if (!cur[0])
				break;
		}
		/* ids ascending */
		for (size_t a = 1; a < nb; a++)
			for (size_t b = a; b > 0 && batch[b - 1].id > batch[b].id; b--) {
				cutover_event t = batch[b];
				batch[b] = batch[b - 1];
				batch[b - 1] = t;
			}
		if (nb && jt->put_events(jt, batch, nb, &err))
			die("replicate events", &err);
		for (size_t k = 0; k < nb; k++)
			co_event_clear(&batch[k]);
		i = j;
	}
	PQclear(r);
	cutover_telemetry_free(jt);
	cutover_telemetry_free(pt);

	cutover_profile *jp = NULL, *pp = NULL;
	if (cutover_profile_json(&jp, root, NULL, &err) || cutover_profile_postgres(&pp, url, &err))
		die("open profile", &err);
	r = keys("SELECT user_id FROM content.portfolio_profiles ORDER BY user_id");
	for (int i = 0; i < PQntuples(r); i++) {
		cutover_portfolio *p = NULL;
		if (cutover_profile_get(pp, &p, strtoll(PQgetvalue(r, i, 0), NULL, 10), &err) || jp->replicate(jp, p, &err))
			die("replicate a profile", &err);
		cutover_portfolio_free(p);
	}
	PQclear(r);
	cutover_profile_free(jp);
	cutover_profile_free(pp);

	cutover_reports *jr = NULL, *pr = NULL;
	if (cutover_reports_json(&jr, root, NULL, &err) || cutover_reports_postgres(&pr, url, &err))
		die("open reports", &err);
	r = keys("SELECT id FROM operations.reports ORDER BY id");
	for (int i = 0; i < PQntuples(r); i++) {
		cutover_report *rep = NULL;
		if (cutover_reports_get(pr, &rep, strtoll(PQgetvalue(r, i, 0), NULL, 10), &err) || jr->put_report(jr, rep, &err))
			die("replicate a report", &err);
		cutover_report_free(rep);
	}
	PQclear(r);
	cutover_reports_free(jr);
	cutover_reports_free(pr);
	printf("replica written\n");
}

/* --- mutate: app writes in the postgres stage ------------------------------------------------ */

static void mutate(void)
{
	cutover_error err;
	cutover_options o = {.stage = "postgres", .database_url = url};
	cutover_identity *s = NULL;
	if (cutover_identity_open(&s, &o, &err))
		die("open identity in postgres", &err);
	cutover_user_patch patch = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Renamed in postgres"};
	cutover_user *u = NULL;
	if (cutover_identity_update_user(s, &u, 1, &patch, &err))
		die("update user 1", &err);
	cutover_user_free(u);
	cutover_user in = {.email = "created.in.postgres@example.com", .role = "viewer", .display_name = "New",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	if (cutover_identity_create_user(s, &u, &in, &err))
		die("create a user", &err);
	int64_t new_user = u->id;
	cutover_user_free(u);
	PGresult *r = keys("SELECT token_hash FROM identity.sessions ORDER BY token_hash LIMIT 2");
	for (int i = 0; i < PQntuples(r); i++)
		if (cutover_identity_delete_session(s, PQgetvalue(r, i, 0), &err))
			die("delete a session", &err);
	PQclear(r);
	cutover_session ss = {.token_hash = "ab00000000000000000000000000000000000000000000000000000000000001",
			      .user_id = new_user,
			      .created_at = CUTOVER_TS_NULL,
			      .last_seen_at = CUTOVER_TS_NULL,
			      .expires_at = cutover_now() + 86400000000LL};
	if (cutover_identity_create_session(s, &ss, &err))
		die("create a session", &err);
	cutover_identity_free(s);

	cutover_profile *p = NULL;
	if (cutover_profile_open(&p, &o, &err))
		die("open profile in postgres", &err);
	r = keys("SELECT user_id FROM content.portfolio_profiles ORDER BY user_id LIMIT 1");
	int64_t uid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	cutover_certification c = {.name = "Added in postgres", .issuer = "cutover"};
	cutover_portfolio *pf = NULL;
	if (cutover_profile_add_certification(p, &pf, uid, &c, &err))
		die("add a certification", &err);
	int64_t cid = pf->certifications[pf->n_certifications - 1].id;
	cutover_portfolio_free(pf);
	if (cutover_profile_add_certification(p, NULL, uid, &c, &err) ||
	    cutover_profile_delete_certification(p, NULL, uid, cid, &err))
		die("add and delete a certification", &err);
	cutover_portfolio np = {.user_id = new_user, .headline = "Profile made in postgres", .updated_at = CUTOVER_TS_NULL};
	if (cutover_profile_put(p, NULL, &np, &err))
		die("put a profile", &err);
	cutover_profile_free(p);

	cutover_telemetry *t = NULL;
	if (cutover_telemetry_open(&t, &o, &err))
		die("open telemetry in postgres", &err);
	cutover_incident *inc = NULL;
	cutover_incident ni = {.title = "Opened in postgres", .severity = "high", .opened_at = CUTOVER_TS_NULL,
			       .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	if (cutover_telemetry_create_incident(t, &inc, &ni, &err))
		die("create an incident", &err);
	int64_t iid = inc->id;
	cutover_incident_free(inc);
	if (cutover_telemetry_transition_incident(t, NULL, iid, "investigating", &err))
		die("move an incident", &err);
	cutover_event ev[2] = {{.occurred_at = cutover_now(), .severity = "critical", .region = "eu-west",
				.payload = "{\"b\": 1.50, \"a\": [1, {\"z\": null}]}"},
			       {.occurred_at = 1767225600000000LL + 7, .severity = "low", .incident_id = iid}};
	if (cutover_telemetry_append_events(t, NULL, ev, 2, &err))
		die("append events", &err);
	if (cutover_telemetry_link_event(t, NULL, 2, iid, &err))
		die("link event 2", &err);
	cutover_telemetry_free(t);

	cutover_reports *rp = NULL;
	if (cutover_reports_open(&rp, &o, &err))
		die("open reports in postgres", &err);
	cutover_report *rep = NULL;
	if (cutover_reports_get(rp, &rep, 2, &err))
		die("get report 2", &err);
	bool archived = strcmp(rep->status, "archived") == 0;
	cutover_report_free(rep);
	rep = NULL;
	if ((archived ? cutover_reports_restore(rp, NULL, 2, new_user, "restored in postgres", &err)
		      : cutover_reports_archive(rp, NULL, 2, new_user, "archived in postgres", &err)) ||
	    cutover_reports_record_action(rp, NULL, 3, "read", 1, NULL, &err))
		die("archive / act on reports", &err);
	const char *tags[] = {"made", "in postgres"};
	cutover_report nr = {.title = "Written in postgres", .severity = "low", .author_id = new_user,
			     .incident_id = iid, .tags = (char **)tags, .n_tags = 2,
			     .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	if (cutover_reports_create(rp, &rep, &nr, &err))
		die("create a report", &err);
	cutover_report_free(rep);
	cutover_reports_free(rp);
	printf("mutated\n");
}

int main(int argc, char **argv)
{
	url = getenv("DATABASE_URL");
	if (argc < 2 || !url) {
		fprintf(stderr, "usage: cutover-export-walk walk ROOT | replica ROOT | mutate   (DATABASE_URL set)\n");
		return 2;
	}
	conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "export-walk: cannot connect: %s", PQerrorMessage(conn));
		return 3;
	}
	if (strcmp(argv[1], "walk") == 0 && argc == 3)
		walk(argv[2]);
	else if (strcmp(argv[1], "replica") == 0 && argc == 3)
		replica(argv[2]);
	else if (strcmp(argv[1], "mutate") == 0)
		mutate();
	else
		return 2;
	PQfinish(conn);
	return diffs ? 1 : 0;
}
