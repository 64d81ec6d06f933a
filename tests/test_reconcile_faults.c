/* test_reconcile_faults.c — Postgres killed under a dualwrite workload, then reconcile.
 *
 * The "done when": legacy state for all four domains
 * (tests/gen-state.sh) is backfilled (`cutover backfill all --apply
 * --repair-sequences`); WORKERS processes open all four domains in
 * dualwrite and each makes at most ROUNDS mixed writes (users created and
 * updated, sessions created, touched and deleted, a user's sessions and the
 * expired ones deleted, profiles put and certifications added, reports
 * created, updated, annotated, archived and restored, events appended and
 * linked, incidents created and moved). Meanwhile Postgres is stopped
 * (CUTOVER_TEST_PG_STOP from tests/with-postgres.sh: a fast shutdown) for
 * OUTAGE_MS and started again. Checks:
 *  - no app call failed (json is authoritative: every call succeeds);
 *  - the postgres backend reconnects: after the restart (and the 2 s during
 *    which a failed attempt is not retried), each worker makes more writes
 *    and none of their second writes fails (its journaled count stays);
 *  - every key that differs between the stores (records compared one by
 *    one, all of them) is in the journal, and something did differ;
 *  - `cutover reconcile all` (dry run) lists those keys as "would repair",
 *    exits 0 and changes nothing (both stores and the journals hash the same);
 *  - `--apply` repairs: no key differs any more, `cutover verify all`
 *    exits 0, every journal is empty, and a second `--apply` does nothing.
 *
 * Every loop is bounded in count and every worker in time (alarm).
 * Runs under tests/with-postgres.sh.
 * usage: test_reconcile_faults CUTOVER_BIN GEN_STATE_SH BUILD_DIR
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "json_store.h"
#include "pg.h"
#include "profile_int.h"
#include "reports_int.h"
#include "support.h"
#include "telemetry_int.h"

enum {
	USERS = 40,         /* generated users (incidents: USERS / 2) */
	WORKERS = 4,
	ROUNDS = 3000,      /* at most, per worker */
	AFTER_ROUNDS = 40,  /* rounds each worker makes once Postgres is surely back */
	OUTAGE_MS = 2000,
	PAUSE_US = 4000     /* between two writes of a worker */
};
#define SEC 1000000LL

static const char *gen_state, *build_dir;
static test_env env;
static cutover_error err;
static char marker[400]; /* exists once Postgres was started again */

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the workload: one process ---------------------------------------------------- */

typedef struct worker {
	int w;
	unsigned seed;
	cutover_identity *ids;
	cutover_profile *prof;
	cutover_reports *reps;
	cutover_telemetry *tel;
	int64_t users[ROUNDS];     /* users it created */
	size_t n_users;
	unsigned sessions[ROUNDS]; /* its long-lived sessions (token numbers) */
	int64_t session_user[ROUNDS];
	size_t n_sessions;
	unsigned next_token;
	int64_t reports[ROUNDS];
	bool archived[ROUNDS];
	size_t n_reports;
	int64_t events[ROUNDS];
	size_t n_events;
	int64_t incident;          /* its current incident (0: none yet) */
	const char *incident_state;
} worker;

#define STEP_OK(call, code)                                                                                       \
	do {                                                                                                 \
		if ((call) != CUTOVER_OK) {                                                                  \
			fprintf(stderr, "worker %d, round %d, %s: ", wk->w, round, #call);                   \
			cutover_error_fprint(stderr, &err);                                                  \
			return (code);                                                                       \
		}                                                                                            \
	} while (0)

static unsigned pick(worker *wk, unsigned n)
{
	return (unsigned)rand_r(&wk->seed) % n;
}

/* A user this worker may give sessions and profiles to: ids w+1, w+1+K, ... */
static int64_t own_user(worker *wk)
{
	return (int64_t)(wk->w + 1 + WORKERS * (int)pick(wk, USERS / WORKERS));
}

static int step(worker *wk, int round)
{
	char text[96], tok[65];
	snprintf(text, sizeof text, "worker %d round %d", wk->w, round);
	cutover_ts now = cutover_now();
	switch (pick(wk, 14)) {
	case 0: { /* create a user */
		char email[64];
		snprintf(email, sizeof email, "w%d-r%d@example.com", wk->w, round);
		cutover_user in = {.email = email, .role = "viewer", .display_name = text,
				   .email_verified_at = CUTOVER_TS_NULL, .created_at = CUTOVER_TS_NULL,
				   .updated_at = CUTOVER_TS_NULL};
		cutover_user *u = NULL;
		STEP_OK(cutover_identity_create_user(wk->ids, &u, &in, &err), 10);
		wk->users[wk->n_users++] = u->id;
		cutover_user_free(u);
		break;
	}
	case 1: { /* update a user (any: concurrent updates of one user are fine) */
		int64_t id = wk->n_users && pick(wk, 2) ? wk->users[pick(wk, (unsigned)wk->n_users)]
							: 1 + (int64_t)pick(wk, USERS);
		cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = text};
		cutover_user *u = NULL;
		STEP_OK(cutover_identity_update_user(wk->ids, &u, id, &p, &err), 11);
		cutover_user_free(u);
		break;
	}
	case 2: { /* a session: long-lived (kept, touched, deleted later) or about to expire */
		unsigned n = 100000 + (unsigned)wk->w * 10000 + wk->next_token++;
		bool brief = pick(wk, 4) == 0;
		int64_t uid = own_user(wk);
		cutover_session in = {.token_hash = (char *)test_token(n, tok), .user_id = uid,
				      .created_at = CUTOVER_TS_NULL,
				      .expires_at = now + (brief ? 300000 : 3600 * SEC), .last_seen_at = CUTOVER_TS_NULL,
				      .user_agent = "workload", .ip = "127.0.0.1"};
		STEP_OK(cutover_identity_create_session(wk->ids, &in, &err), 12);
		if (!brief) {
			wk->sessions[wk->n_sessions] = n;
			wk->session_user[wk->n_sessions++] = uid;
		}
		break;
	}
	case 3: /* touch one of its sessions */
		if (wk->n_sessions)
			STEP_OK(cutover_identity_touch_session(
				 wk->ids, NULL, test_token(wk->sessions[pick(wk, (unsigned)wk->n_sessions)], tok),
				 CUTOVER_TS_NOW, &err),
			     13);
		break;
	case 4: /* log one out, or now and then all of a user's sessions, or the expired ones */
		if (pick(wk, 10) == 0) {
			int64_t uid = own_user(wk);
			size_t n = 0;
			STEP_OK(cutover_identity_delete_user_sessions(wk->ids, uid, &n, &err), 14);
			for (size_t i = 0; i < wk->n_sessions;) {
				if (wk->session_user[i] == uid) {
					wk->sessions[i] = wk->sessions[--wk->n_sessions];
					wk->session_user[i] = wk->session_user[wk->n_sessions];
				} else {
					i++;
				}
			}
		} else if (pick(wk, 5) == 0) {
			size_t n = 0;
			STEP_OK(cutover_identity_delete_expired_sessions(wk->ids, CUTOVER_TS_NOW, &n, &err), 15);
		} else if (wk->n_sessions) {
			size_t i = pick(wk, (unsigned)wk->n_sessions);
			STEP_OK(cutover_identity_delete_session(wk->ids, test_token(wk->sessions[i], tok), &err), 16);
			wk->sessions[i] = wk->sessions[--wk->n_sessions];
			wk->session_user[i] = wk->session_user[wk->n_sessions];
		}
		break;
	case 5: { /* a profile: put whole, or a certification added */
		int64_t uid = own_user(wk);
		if (pick(wk, 2)) {
			char *tools[] = {"volatility", text};
			cutover_portfolio in = {.user_id = uid, .headline = text, .bio = "bio", .tools = tools,
						.n_tools = 2, .updated_at = CUTOVER_TS_NULL};
			STEP_OK(cutover_profile_put(wk->prof, NULL, &in, &err), 17);
		} else {
			cutover_portfolio *p = NULL;
			int rc = cutover_profile_get(wk->prof, &p, uid, &err);
			cutover_portfolio_free(p);
			if (rc == CUTOVER_ENOTFOUND)
				break;
			STEP_OK(rc, 18);
			cutover_certification c = {.name = text, .issuer = "GIAC", .issued_on = "2024-01-02"};
			STEP_OK(cutover_profile_add_certification(wk->prof, NULL, uid, &c, &err), 19);
		}
		break;
	}
	case 6: { /* a report */
		const char *tags[] = {"workload", "w"};
		cutover_report in = {.title = text, .summary = "s", .severity = "medium", .tags = (char **)tags,
				     .n_tags = 2, .author_id = 1 + (int64_t)pick(wk, USERS),
				     .incident_id = pick(wk, 2) ? 1 + (int64_t)pick(wk, USERS / 2) : 0,
				     .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL,
				     .archived_at = CUTOVER_TS_NULL};
		cutover_report *r = NULL;
		STEP_OK(cutover_reports_create(wk->reps, &r, &in, &err), 20);
		wk->archived[wk->n_reports] = false;
		wk->reports[wk->n_reports++] = r->id;
		cutover_report_free(r);
		break;
	}
	case 7: /* one of its reports: updated, read, archived or restored */
	case 8:
		if (wk->n_reports) {
			size_t i = pick(wk, (unsigned)wk->n_reports);
			int64_t id = wk->reports[i], actor = 1 + (int64_t)pick(wk, USERS);
			switch (pick(wk, 3)) {
			case 0: {
				cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = text};
				STEP_OK(cutover_reports_update(wk->reps, NULL, id, &p, &err), 21);
				break;
			}
			case 1:
				STEP_OK(cutover_reports_record_action(wk->reps, NULL, id, "read", actor, text, &err), 22);
				break;
			default:
				if (wk->archived[i])
					STEP_OK(cutover_reports_restore(wk->reps, NULL, id, actor, NULL, &err), 23);
				else
					STEP_OK(cutover_reports_archive(wk->reps, NULL, id, actor, "done", &err), 24);
				wk->archived[i] = !wk->archived[i];
			}
		}
		break;
	case 9: /* events */
	case 10: {
		cutover_event ev[3];
		size_t n = 1 + pick(wk, 3);
		for (size_t i = 0; i < n; i++)
			ev[i] = (cutover_event){.occurred_at = now - (cutover_ts)pick(wk, 3 * 86400) * SEC,
						.source_ip = "203.0.113.9", .region = "eu-west", .attack_type = "bruteforce",
						.severity = "high", .payload = "{\"attempts\":3}",
						.incident_id = pick(wk, 3) ? 0 : 1 + (int64_t)pick(wk, USERS / 2)};
		cutover_event_list out = {0};
		STEP_OK(cutover_telemetry_append_events(wk->tel, &out, ev, n, &err), 25);
		for (size_t i = 0; i < out.n; i++)
			wk->events[wk->n_events++] = out.items[i].id;
		cutover_event_list_free(&out);
		break;
	}
	case 11: /* link one of its events to its incident */
		if (wk->n_events && wk->incident)
			STEP_OK(cutover_telemetry_link_event(wk->tel, NULL, wk->events[pick(wk, (unsigned)wk->n_events)],
							  wk->incident, &err),
			     26);
		break;
	default: { /* its incident: created, then moved along open -> ... -> resolved -> open */
		static const char *const next[][2] = {{"open", "investigating"}, {"investigating", "contained"},
						       {"contained", "resolved"}, {"resolved", "open"}};
		if (!wk->incident || pick(wk, 6) == 0) {
			cutover_incident in = {.title = text, .severity = "critical", .opened_at = CUTOVER_TS_NULL,
					       .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
			cutover_incident *inc = NULL;
			STEP_OK(cutover_telemetry_create_incident(wk->tel, &inc, &in, &err), 27);
			wk->incident = inc->id;
			wk->incident_state = "open";
			cutover_incident_free(inc);
			break;
		}
		for (size_t k = 0; k < 4; k++)
			if (strcmp(wk->incident_state, next[k][0]) == 0) {
				STEP_OK(cutover_telemetry_transition_incident(wk->tel, NULL, wk->incident, next[k][1], &err),
				     28);
				wk->incident_state = next[k][1];
				break;
			}
	}
	}
	return 0;
}

static uint64_t journaled(worker *wk)
{
	cutover_stats s[4];
	cutover_identity_stats(wk->ids, &s[0]);
	cutover_profile_stats(wk->prof, &s[1]);
	cutover_reports_stats(wk->reps, &s[2]);
	cutover_telemetry_stats(wk->tel, &s[3]);
	return s[0].journaled + s[1].journaled + s[2].journaled + s[3].journaled;
}

/* One worker process: writes until Postgres has been back for a while,
 * then AFTER_ROUNDS more, none of whose second writes may fail. Exit 0 when
 * all is well; the code names the failed step otherwise. */
static int work(int w)
{
	alarm(90);
	static worker wk_;
	worker *wk = &wk_;
	int round = -1;
	wk->w = w;
	wk->seed = 7919u * (unsigned)(w + 1);
	STEP_OK(cutover_identity_open(&wk->ids, &env.opts, &err), 2);
	STEP_OK(cutover_profile_open(&wk->prof, &env.opts, &err), 3);
	STEP_OK(cutover_reports_open(&wk->reps, &env.opts, &err), 4);
	STEP_OK(cutover_telemetry_open(&wk->tel, &env.opts, &err), 5);
	int64_t back_at = 0;
	int after = -1;
	uint64_t journaled_then = 0;
	for (round = 0; round < ROUNDS; round++) {
		int rc = step(wk, round);
		if (rc)
			return rc;
		struct stat sb;
		if (!back_at && stat(marker, &sb) == 0)
			back_at = mono_ms();
		/* the 2 s after a failed attempt during which no new one is made, and a margin */
		if (back_at && after < 0 && mono_ms() - back_at > 2600) {
			after = 0;
			journaled_then = journaled(wk);
		}
		if (after >= 0 && ++after >= AFTER_ROUNDS)
			break;
		usleep(PAUSE_US);
	}
	if (after < AFTER_ROUNDS) {
		fprintf(stderr, "worker %d: ran out of rounds before Postgres came back\n", w);
		return 6;
	}
	uint64_t now_journaled = journaled(wk);
	if (now_journaled != journaled_then) {
		fprintf(stderr, "worker %d: %llu second writes failed after Postgres was back: no reconnect\n", w,
			(unsigned long long)(now_journaled - journaled_then));
		return 7;
	}
	cutover_identity_free(wk->ids);
	cutover_profile_free(wk->prof);
	cutover_reports_free(wk->reps);
	cutover_telemetry_free(wk->tel);
	return 0;
}

/* --- comparing the stores, record by record --------------------------------------------- */

typedef struct keyset {
	char **entity, **key;
	size_t n, cap;
} keyset;

static void keyset_add(keyset *s, const char *entity, const char *key)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->entity = realloc(s->entity, s->cap * sizeof(char *));
		s->key = realloc(s->key, s->cap * sizeof(char *));
		assert_non_null(s->entity);
		assert_non_null(s->key);
	}
	s->entity[s->n] = strdup(entity);
	s->key[s->n++] = strdup(key);
}

static bool keyset_has(const keyset *s, const char *entity, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->entity[i], entity) == 0 && strcmp(s->key[i], key) == 0)
			return true;
	return false;
}

static void keyset_free(keyset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->entity[i]);
		free(s->key[i]);
	}
	free(s->entity);
	free(s->key);
	memset(s, 0, sizeof(*s));
}

/* The first column of constant SQL, every row, as text. */
static char **pg_column(const char *sql, size_t *n)
{
	PGconn *c = PQconnectdb(env.conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	*n = (size_t)PQntuples(r);
	char **out = calloc(*n + 1, sizeof(char *));
	for (size_t i = 0; i < *n; i++)
		out[i] = strdup(PQgetvalue(r, (int)i, 0));
	PQclear(r);
	PQfinish(c);
	return out;
}

/* A field of every record of a legacy document, as text ("%.0f" for numbers). */
static char **json_column(const char *key, const char *coll, const char *field, size_t *n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", env.root, key);
	char *text = test_read_file(path, NULL);
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	free(text);
	cJSON *arr = cJSON_GetObjectItem(doc, coll), *it;
	char **out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
	*n = 0;
	cJSON_ArrayForEach(it, arr) {
		cJSON *v = cJSON_GetObjectItem(it, field);
		char buf[80];
		if (cJSON_IsString(v))
			out[(*n)++] = strdup(v->valuestring);
		else if (cJSON_IsNumber(v)) {
			snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
			out[(*n)++] = strdup(buf);
		}
	}
	cJSON_Delete(doc);
	return out;
}

/* Every key of one kind on either side, each once. */
static keyset union_of(char **a, size_t na, char **b, size_t nb)
{
	keyset s = {0};
	for (size_t i = 0; i < na + nb; i++) {
		const char *k = i < na ? a[i] : b[i - na];
		if (!keyset_has(&s, "", k))
			keyset_add(&s, "", k);
	}
	for (size_t i = 0; i < na; i++)
		free(a[i]);
	for (size_t i = 0; i < nb; i++)
		free(b[i]);
	free(a);
	free(b);
	return s;
}

typedef struct drift {
	keyset keys; /* (entity, key) that differ */
} drift;

static void drift_add(drift *d, const char *entity, const char *key)
{
	keyset_add(&d->keys, entity, key);
}

/* Every record of every domain, compared between the two stores. */
static void compute_drift(drift *d, keyset *sessions_extra)
{
	memset(d, 0, sizeof(*d));
	test_stores s;
	test_stores_open(&env, &s);
	size_t na, nb;
	char f[256];
	char **a, **b;

	a = json_column("identity/users.json", "users", "id", &na);
	b = pg_column("SELECT id FROM identity.users", &nb);
	keyset ks = union_of(a, na, b, nb);
	for (size_t i = 0; i < ks.n; i++) {
		cutover_user *x = NULL, *y = NULL;
		int rx = s.ij->get_user(s.ij, &x, atoll(ks.key[i]), &err),
		    ry = s.ip->get_user(s.ip, &y, atoll(ks.key[i]), &err);
		if (rx != ry || (rx == CUTOVER_OK && co_user_diff(x, y, f, sizeof f)))
			drift_add(d, "user", ks.key[i]);
		cutover_user_free(x);
		cutover_user_free(y);
	}
	keyset_free(&ks);

	a = json_column("identity/sessions.json", "sessions", "token_hash", &na);
	b = pg_column("SELECT token_hash FROM identity.sessions", &nb);
	ks = union_of(a, na, b, nb);
	for (size_t i = 0; i < ks.n; i++) {
		cutover_session *x = NULL, *y = NULL;
		int rx = s.ij->get_session(s.ij, &x, ks.key[i], &err),
		    ry = s.ip->get_session(s.ip, &y, ks.key[i], &err);
		if (rx != ry || (rx == CUTOVER_OK && co_session_diff(x, y, f, sizeof f))) {
			drift_add(d, "session", ks.key[i]);
			/* what else may explain it: its user's sessions deleted, or the
			 * expired ones: two entries per session, (user id on each side, expiry) */
			char buf[40];
			const cutover_session *s = x ? x : y;
			cutover_ts_format(s->expires_at, f, sizeof f);
			snprintf(buf, sizeof buf, "%lld", (long long)(x ? x->user_id : y->user_id));
			keyset_add(sessions_extra, buf, f);
			snprintf(buf, sizeof buf, "%lld", (long long)(y ? y->user_id : x->user_id));
			keyset_add(sessions_extra, buf, f);
		}
		cutover_session_free(x);
		cutover_session_free(y);
	}
	keyset_free(&ks);

	a = json_column("profile/profiles.json", "profiles", "user_id", &na);
	b = pg_column("SELECT user_id FROM content.portfolio_profiles", &nb);
	ks = union_of(a, na, b, nb);
	for (size_t i = 0; i < ks.n; i++) {
		cutover_portfolio *x = NULL, *y = NULL;
		int rx = s.pj->get(s.pj, &x, atoll(ks.key[i]), &err),
		    ry = s.pp->get(s.pp, &y, atoll(ks.key[i]), &err);
		if (rx != ry || (rx == CUTOVER_OK && co_portfolio_diff(x, y, f, sizeof f)))
			drift_add(d, "profile", ks.key[i]);
		cutover_portfolio_free(x);
		cutover_portfolio_free(y);
	}
	keyset_free(&ks);

	a = json_column("reports/reports.json", "reports", "id", &na);
	b = pg_column("SELECT id FROM operations.reports", &nb);
	ks = union_of(a, na, b, nb);
	for (size_t i = 0; i < ks.n; i++) {
		cutover_report *x = NULL, *y = NULL;
		int rx = s.rj->get_report(s.rj, &x, atoll(ks.key[i]), &err),
		    ry = s.rp->get_report(s.rp, &y, atoll(ks.key[i]), &err);
		if (rx != ry || (rx == CUTOVER_OK && co_report_diff(x, y, f, sizeof f)))
			drift_add(d, "report", ks.key[i]);
		cutover_report_free(x);
		cutover_report_free(y);
	}
	keyset_free(&ks);

	a = json_column("telemetry/incidents.json", "incidents", "id", &na);
	b = pg_column("SELECT id FROM operations.incidents", &nb);
	ks = union_of(a, na, b, nb);
	for (size_t i = 0; i < ks.n; i++) {
		cutover_incident *x = NULL, *y = NULL;
		int rx = s.tj->get_incident(s.tj, &x, atoll(ks.key[i]), &err),
		    ry = s.tp->get_incident(s.tp, &y, atoll(ks.key[i]), &err);
		if (rx != ry || (rx == CUTOVER_OK && co_incident_diff(x, y, f, sizeof f)))
			drift_add(d, "incident", ks.key[i]);
		cutover_incident_free(x);
		cutover_incident_free(y);
	}
	keyset_free(&ks);

	/* events: every id either store holds, read from each in one go */
	b = pg_column("SELECT id FROM operations.telemetry_events", &nb);
	int64_t max = 0;
	for (size_t i = 0; i < nb; i++)
		max = atoll(b[i]) > max ? atoll(b[i]) : max;
	for (size_t i = 0; i < nb; i++)
		free(b[i]);
	free(b);
	char *next = test_sql_value(&env, "SELECT last_value FROM operations.telemetry_events_id_seq");
	if (next && atoll(next) > max)
		max = atoll(next);
	free(next);
	max += 100 * WORKERS; /* and past them, ids json handed out that postgres never saw */
	int64_t *ids = malloc((size_t)max * sizeof(*ids));
	for (int64_t i = 0; i < max; i++)
		ids[i] = i + 1;
	cutover_event_list ea = {0}, eb = {0};
	expect_ok(co_json_telemetry_get_events(s.tj, ids, (size_t)max, &ea, &err));
	expect_ok(co_pg_telemetry_get_events(s.tp, ids, (size_t)max, &eb, &err));
	size_t i = 0, k = 0;
	while (i < ea.n || k < eb.n) {
		char key[24];
		if (k >= eb.n || (i < ea.n && ea.items[i].id < eb.items[k].id)) {
			drift_add(d, "event", (snprintf(key, sizeof key, "%lld", (long long)ea.items[i++].id), key));
		} else if (i >= ea.n || eb.items[k].id < ea.items[i].id) {
			drift_add(d, "event", (snprintf(key, sizeof key, "%lld", (long long)eb.items[k++].id), key));
		} else {
			if (co_event_diff(&ea.items[i], &eb.items[k], f, sizeof f))
				drift_add(d, "event", (snprintf(key, sizeof key, "%lld", (long long)ea.items[i].id), key));
			i++;
			k++;
		}
	}
	assert_true(ea.n > 0);
	cutover_event_list_free(&ea);
	cutover_event_list_free(&eb);
	free(ids);

	test_stores_close(&s);
}

static const char *domain_of(const char *entity)
{
	if (!strcmp(entity, "user") || !strcmp(entity, "session"))
		return "identity";
	if (!strcmp(entity, "profile"))
		return "profile";
	if (!strcmp(entity, "report"))
		return "reports";
	return "telemetry";
}

/* Every journaled (entity, key) of the four domains. */
static keyset journaled_keys(void)
{
	keyset s = {0};
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		co_journal_snapshot snap;
		expect_ok(co_journal_read(env.journal, (cutover_domain)d, false, &snap, &err));
		for (size_t i = 0; i < snap.n_keys; i++) {
			assert_non_null(snap.keys[i].entity); /* every entry can be read */
			if (!keyset_has(&s, snap.keys[i].entity, snap.keys[i].key))
				keyset_add(&s, snap.keys[i].entity, snap.keys[i].key);
		}
		co_journal_snapshot_free(&snap);
	}
	return s;
}

/* Is a differing key accounted for by the journal? A session may also be
 * by its user's sessions deleted, or by expired sessions deleted; si is
 * the differing session's number (extra holds two entries per session). */
static bool explained(const keyset *j, const drift *d, const keyset *extra, size_t i, size_t si)
{
	const char *entity = d->keys.entity[i], *key = d->keys.key[i];
	if (keyset_has(j, entity, key))
		return true;
	if (strcmp(entity, "session") != 0)
		return false;
	const char *exp = extra->key[2 * si];
	if (keyset_has(j, "user_sessions", extra->entity[2 * si]) ||
	    keyset_has(j, "user_sessions", extra->entity[2 * si + 1]))
		return true;
	cutover_ts e;
	cutover_ts_parse(exp, &e);
	for (size_t k = 0; k < j->n; k++) {
		cutover_ts t;
		if (strcmp(j->entity[k], "expired_sessions") == 0 && cutover_ts_parse(j->key[k], &t) == CUTOVER_OK &&
		    e <= t)
			return true;
	}
	return false;
}

/* A hash of both stores and the journals: what a dry run must not change. */
static char *fingerprint(void)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && find identity profile reports telemetry .cutover -type f ! -name '*.lock' | sort | "
		 "xargs md5sum | md5sum",
		 env.root);
	int st;
	char *files = test_run_capture(cmd, &st);
	assert_int_equal(st, 0);
#define MD5_OF(t) "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM " t " t"
	static const char *const queries[] = {
		MD5_OF("identity.users"), MD5_OF("identity.user_oauth"), MD5_OF("identity.sessions"),
		MD5_OF("content.portfolio_profiles"), MD5_OF("content.portfolio_certifications"),
		MD5_OF("content.profile_tools"), MD5_OF("operations.reports"), MD5_OF("operations.report_actions"),
		MD5_OF("operations.incidents"), MD5_OF("operations.telemetry_events")};
#undef MD5_OF
	co_buf all = {0};
	co_buf_puts(&all, files);
	free(files);
	for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
		char *h = test_sql_value(&env, queries[i]);
		co_buf_puts(&all, h);
		free(h);
	}
	return all.data;
}

static char *cutover_ok(int expect, const char *args)
{
	return test_cutover_expect(&env, expect, args);
}

static void postgres_killed_under_dualwrite_then_reconciled(void **state)
{
	(void)state;
	const char *stop = getenv("CUTOVER_TEST_PG_STOP"), *start = getenv("CUTOVER_TEST_PG_START");
	if (!stop || !start)
		fail_msg("run under tests/with-postgres.sh");
	test_env_init(&env, "rcfault");
	char cmd[1500];
	snprintf(cmd, sizeof cmd, "bash '%s' '%s' --out '%s' --users %d --seed 11 --quiet", gen_state, build_dir, env.root,
		 USERS);
	assert_int_equal(test_shell(cmd), 0);
	char args[700];
	snprintf(args, sizeof args, "backfill all --apply --repair-sequences --rejects '%s/rejects'", env.journal);
	free(cutover_ok(0, args));
	free(cutover_ok(0, "verify all"));

	/* the workload, with Postgres stopped in the middle of it */
	snprintf(marker, sizeof marker, "%s/.cutover/restarted", env.root);
	env.opts.stage = "dualwrite";
	pid_t pids[WORKERS];
	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			_exit(work(w));
	}
	usleep(800 * 1000);
	assert_int_equal(test_shell(stop), 0);
	usleep(OUTAGE_MS * 1000);
	assert_int_equal(test_shell(start), 0);
	FILE *m = fopen(marker, "w");
	assert_non_null(m);
	fclose(m);
	bool all_ok = true;
	for (int w = 0; w < WORKERS; w++) {
		int st = 0;
		assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "worker %d ended with %d (signal %d)\n", w, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			all_ok = false;
		}
	}
	assert_true(all_ok);
	unlink(marker);

	/* every key that differs is journaled, and something does differ */
	keyset extra = {0};
	drift d;
	compute_drift(&d, &extra);
	keyset j = journaled_keys();
	fprintf(stderr, "outage: %zu keys differ between the stores, %zu keys journaled\n", d.keys.n, j.n);
	assert_true(d.keys.n > 0);
	size_t si = 0;
	for (size_t i = 0; i < d.keys.n; i++) {
		bool ok = explained(&j, &d, &extra, i, si);
		if (!ok) {
			char shown[40];
			fprintf(stderr, "not journaled: %s %s\n", d.keys.entity[i],
				strcmp(d.keys.entity[i], "session") ? d.keys.key[i]
								      : co_redact_value(d.keys.key[i], shown, sizeof shown));
		}
		assert_true(ok);
		si += strcmp(d.keys.entity[i], "session") == 0;
	}

	/* the dry run lists the journaled keys as "would repair" and changes nothing */
	char *before = fingerprint();
	char *out = cutover_ok(0, "--json reconcile all");
	char *after = fingerprint();
	assert_string_equal(before, after);
	free(before);
	free(after);
	cJSON *doc = cJSON_Parse(out);
	assert_non_null(doc);
	size_t listed = 0, would = 0;
	for (size_t i = 0; i < d.keys.n; i++) {
		if (!keyset_has(&j, d.keys.entity[i], d.keys.key[i]))
			continue; /* a session covered by a user's or the expired sessions' entry */
		cJSON *items = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, domain_of(d.keys.entity[i])), "items"), *it;
		char shown[80];
		const char *key = strcmp(d.keys.entity[i], "session") == 0
					  ? co_redact_value(d.keys.key[i], shown, sizeof shown)
					  : d.keys.key[i];
		bool found = false;
		cJSON_ArrayForEach(it, items) {
			if (strcmp(cJSON_GetObjectItem(it, "entity")->valuestring, d.keys.entity[i]) == 0 &&
			    strcmp(cJSON_GetObjectItem(it, "key")->valuestring, key) == 0) {
				found = true;
				would += strcmp(cJSON_GetObjectItem(it, "outcome")->valuestring, "would repair") == 0;
			}
		}
		assert_true(found);
		listed++;
	}
	assert_int_equal(would, listed);
	size_t keys = 0;
	for (int dd = 0; dd < CUTOVER_DOMAIN_COUNT; dd++)
		keys += (size_t)cJSON_GetObjectItem(cJSON_GetObjectItem(doc, cutover_domain_name((cutover_domain)dd)),
						    "keys")->valueint;
	assert_int_equal(keys, j.n);
	cJSON_Delete(doc);
	free(out);
	for (int dd = 0; dd < CUTOVER_DOMAIN_COUNT; dd++) {
		size_t n = 0;
		expect_ok(co_journal_count(env.journal, (cutover_domain)dd, &n, &err));
		assert_true(n <= j.n);
	}

	/* --apply repairs: zero drift, verify passes, the journals are empty */
	out = cutover_ok(0, "reconcile all --apply");
	free(out);
	keyset extra2 = {0};
	drift d2;
	compute_drift(&d2, &extra2);
	for (size_t i = 0; i < d2.keys.n; i++)
		fprintf(stderr, "still differs: %s %s\n", d2.keys.entity[i],
			strcmp(d2.keys.entity[i], "session") ? d2.keys.key[i] : "(a session)");
	assert_int_equal(d2.keys.n, 0);
	free(cutover_ok(0, "verify all"));
	for (int dd = 0; dd < CUTOVER_DOMAIN_COUNT; dd++) {
		size_t n = 99;
		expect_ok(co_journal_count(env.journal, (cutover_domain)dd, &n, &err));
		assert_int_equal(n, 0);
	}
	/* a second --apply does nothing */
	before = fingerprint();
	out = cutover_ok(0, "--json reconcile all --apply");
	doc = cJSON_Parse(out);
	for (int dd = 0; dd < CUTOVER_DOMAIN_COUNT; dd++)
		assert_int_equal(
			cJSON_GetObjectItem(cJSON_GetObjectItem(doc, cutover_domain_name((cutover_domain)dd)), "keys")->valueint,
			0);
	cJSON_Delete(doc);
	free(out);
	after = fingerprint();
	assert_string_equal(before, after);
	free(before);
	free(after);

	keyset_free(&d.keys);
	keyset_free(&d2.keys);
	keyset_free(&extra);
	keyset_free(&extra2);
	keyset_free(&j);
	test_env_fini(&env);
}

/* A handle that made no call while Postgres was down holds a connection the
 * server closed: its first call after the restart must not fail (nor be
 * journaled in a dual stage), in a postgres-authoritative stage too. */
static void idle_connection_survives_a_restart(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "rcidle");
	cutover_identity *dw = NULL, *pg = NULL;
	e.opts.stage = "dualwrite";
	expect_ok(cutover_identity_open(&dw, &e.opts, &err));
	e.opts.stage = "postgres";
	expect_ok(cutover_identity_open(&pg, &e.opts, &err));
	cutover_user in = {.email = "idle@example.com", .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(dw, &u, &in, &err));
	cutover_user_free(u);
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_STOP")), 0);
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_PG_START")), 0);
	in.email = "after-restart@example.com";
	expect_ok(cutover_identity_create_user(dw, &u, &in, &err));
	cutover_user_free(u);
	cutover_stats st;
	cutover_identity_stats(dw, &st);
	assert_int_equal(st.journaled, 0);
	expect_ok(cutover_identity_get_user(pg, &u, 1, &err));
	cutover_user_free(u);
	cutover_identity_free(dw);
	cutover_identity_free(pg);
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_reconcile_faults CUTOVER_BIN GEN_STATE_SH BUILD_DIR\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	gen_state = argv[2];
	build_dir = argv[3];
	test_log_capture();
	test_unset_stage_flags();
	unsetenv("CUTOVER_JOURNAL_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(idle_connection_survives_a_restart),
		cmocka_unit_test(postgres_killed_under_dualwrite_then_reconciled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
