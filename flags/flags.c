/* flags.c — reads the environment, picks the backends, composes the router.
 *
 * The only file that knows every layer: core's router and journal, the json
 * and postgres adapters. It turns a domain's flag into a handle:
 *   json      -> the json backend alone
 *   postgres  -> the postgres backend alone
 *   the four dual stages -> a router over both, with the domain's journal
 * and refuses what would be unsafe: a flag value that is not a stage (never a
 * silent fallback), a Postgres without the schema, a postgres-
 * authoritative stage while an id sequence is behind its table's max id
 * (the hint is the setval that repairs it), and a json-authoritative stage
 * of a domain that ran in the postgres stage without an export since (the
 * rollback guard, below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "json_store.h"
#include "pg_runs.h"

static const char *pick(const char *opt, const char *env, const char *dflt)
{
	if (opt)
		return opt;
	const char *v = getenv(env);
	return v ? v : dflt;
}

static bool is_url(const char *root)
{
	return strncmp(root, "http://", 7) == 0 || strncmp(root, "https://", 8) == 0;
}

CUTOVER_API int cutover_settings_resolve(cutover_settings *out, cutover_domain d, const cutover_options *opts,
					 cutover_error *err)
{
	static const cutover_options none;
	if (!opts)
		opts = &none;
	memset(out, 0, sizeof(*out));
	if (!cutover_domain_name(d))
		return co_err(err, CUTOVER_EINVALID, "unknown domain %d", (int)d);
	out->domain = d;
	const char *prefix = pick(opts->flag_prefix, "CUTOVER_FLAG_PREFIX", "");
	snprintf(out->flag_name, sizeof(out->flag_name), "%s%s", prefix, cutover_domain_flag(d));
	const char *value = opts->stage ? opts->stage : getenv(out->flag_name);
	if (!value) {
		out->stage = CUTOVER_STAGE_JSON;
	} else if (cutover_stage_parse(value, &out->stage) != CUTOVER_OK) {
		co_err(err, CUTOVER_ECONFIG, "%s=\"%.80s\" is not a stage", out->flag_name, value);
		co_err_detail(err, "the %s domain cannot be opened until its flag names a stage", cutover_domain_name(d));
		co_err_hint(err, "set %s to one of: %s (or unset it for json)", out->flag_name, cutover_stage_list());
		return CUTOVER_ECONFIG;
	}
	out->json_root = pick(opts->json_root, "CUTOVER_JSON_ROOT", "./cutover-state");
	if (!*out->json_root) {
		co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_ROOT is empty");
		co_err_hint(err, "set it to a directory or an http(s):// base URL, or unset it for ./cutover-state");
		return CUTOVER_ECONFIG;
	}
	out->json_token = pick(opts->json_token, "CUTOVER_JSON_TOKEN", NULL);
	out->database_url = pick(opts->database_url, "DATABASE_URL", "");
	/* an empty journal dir is the same as an unset one */
	const char *jdir = opts->journal_dir && *opts->journal_dir ? opts->journal_dir : getenv("CUTOVER_JOURNAL_DIR");
	if (jdir && *jdir)
		snprintf(out->journal_dir, sizeof(out->journal_dir), "%s", jdir);
	else if (is_url(out->json_root))
		snprintf(out->journal_dir, sizeof(out->journal_dir), "./.cutover");
	else
		snprintf(out->journal_dir, sizeof(out->journal_dir), "%s/.cutover",
			 strncmp(out->json_root, "file://", 7) == 0 ? out->json_root + 7 : out->json_root);
	return CUTOVER_OK;
}

/* The rollback guard. A domain that ran in the postgres stage after its
 * last `cutover export --apply` has JSON documents nobody wrote since: a
 * stage where json answers would serve them as current. Two records say
 * so, either enough to refuse: the domain's row in cutover.postgres_runs
 * (since, last_open_at), and the marker <domain>/.cutover-postgres-stage in
 * the JSON state root (marker: its path, shown; NULL when the refusal comes
 * from the row). */
static int guard_refuse(const cutover_settings *st, cutover_ts since, cutover_ts last, const char *marker,
			cutover_error *err)
{
	const char *name = cutover_domain_name(st->domain);
	char since_s[48] = "", last_s[40], where[700];
	if (since != CUTOVER_TS_NULL) {
		memcpy(since_s, " since ", 7);
		cutover_ts_format(since, since_s + 7, sizeof since_s - 7);
	}
	if (marker)
		snprintf(where, sizeof where, "the marker %s in the JSON state root says so", marker);
	else
		snprintf(where, sizeof where, "last opened there at %s", cutover_ts_format(last, last_s, sizeof last_s));
	co_err(err, CUTOVER_ESTATE, "%s=%s refused: %s ran in the postgres stage%s and has not been exported since",
	       st->flag_name, cutover_stage_describe(st->stage)->name, name, since_s);
	co_err_detail(err, "nothing has written the JSON documents of %s since it entered the postgres stage (%s); a "
			   "stage where json answers would serve stale data",
		      name, where);
	co_err_hint(err, "bring the JSON state up to date first: `cutover export %s` (a dry run), then `cutover export %s "
			 "--apply`, with this CUTOVER_JSON_ROOT and DATABASE_URL; or keep %s at postgres, rampdown or live",
		    name, name, st->flag_name);
	return CUTOVER_ESTATE;
}

/* dualwrite, shadow: checked on the connection they open anyway. */
static int guard_check(co_pg *pg, const cutover_settings *st, cutover_error *err)
{
	co_pg_stage_run run;
	int rc = co_pg_runs_get(pg, st->domain, &run, err);
	if (rc)
		return rc;
	return run.pending ? guard_refuse(st, run.since, run.last_open_at, NULL, err) : CUTOVER_OK;
}

/* json does not use Postgres; it reads the row only when Postgres is
 * configured explicitly (DATABASE_URL or cutover_options.database_url),
 * over a connection of its own with a short timeout. A Postgres it cannot
 * reach or ask is logged and the marker decides (guard_check_marker): the
 * json stage never depends on Postgres being up (docs/flags.md, "After the
 * postgres stage"). */
#define GUARD_JSON_TIMEOUT_S 2
static int guard_check_json(const cutover_settings *st, cutover_error *err)
{
	if (!st->database_url || !*st->database_url)
		return CUTOVER_OK;
	co_pg_stage_run run;
	cutover_error why;
	cutover_error_clear(&why);
	if (co_pg_runs_get_quick(st->database_url, GUARD_JSON_TIMEOUT_S, st->domain, &run, &why) != CUTOVER_OK) {
		co_log("%s=json: could not check whether %s ran in the postgres stage without an export since (%s); "
		       "the marker in the JSON state root decides",
		       st->flag_name, cutover_domain_name(st->domain), why.message);
		return CUTOVER_OK;
	}
	return run.pending ? guard_refuse(st, run.since, run.last_open_at, NULL, err) : CUTOVER_OK;
}

/* json, dualwrite, shadow: the marker, read through the transport the
 * domain's json backend is about to get. A root that cannot be read stops
 * the open: json answers every call in these stages, so nothing could be
 * served anyway, and the guard must not be skipped. */
static int guard_check_marker(co_transport *t, const cutover_settings *st, cutover_error *err)
{
	bool exists;
	cutover_ts since;
	char key[64], root[512], what[700];
	co_stage_marker_key(st->domain, key, sizeof key);
	int rc = co_stage_marker_get(t, st->domain, &exists, &since, err);
	if (rc) {
		snprintf(what, sizeof what, "%s=%s: cannot read the rollback guard's marker %s", st->flag_name,
			 cutover_stage_describe(st->stage)->name, key);
		co_pg_prefix_error(err, what);
		return rc;
	}
	if (!exists)
		return CUTOVER_OK;
	co_redact_url(st->json_root, root, sizeof root);
	snprintf(what, sizeof what, "%s%s%s", root, root[0] && root[strlen(root) - 1] == '/' ? "" : "/", key);
	return guard_refuse(st, since, CUTOVER_TS_NULL, what, err);
}

/* The postgres stage, on every session of its connection (the open, and
 * again after each reconnect: co_pg_set_session_hook): the stage lock held
 * shared, the row in cutover.postgres_runs noted, and the marker in the
 * JSON state root written when absent (at the open, and after a reconnect
 * when an export covered the domain meanwhile). `cutover export --apply`
 * holds the lock exclusively while it runs: a session that cannot take it
 * fails, and writes nothing. */
typedef struct stage_arm {
	cutover_domain d;
	char flag_name[128];
	char *root, *token;
	bool held;   /* this session holds the stage lock */
	bool opened; /* the first run (the open) succeeded */
} stage_arm;

static void stage_arm_free(void *arg)
{
	stage_arm *a = arg;
	if (!a)
		return;
	free(a->root);
	free(a->token);
	free(a);
}

static void arm_marker(stage_arm *a)
{
	co_transport *t = NULL;
	cutover_error e;
	cutover_error_clear(&e);
	bool written = false;
	int rc = co_transport_open(&t, a->root, a->token, &e);
	if (rc == CUTOVER_OK)
		rc = co_stage_marker_ensure(t, a->d, cutover_now(), &written, &e);
	if (t)
		t->free(t);
	if (rc != CUTOVER_OK)
		co_log("%s=postgres: could not mark %s's JSON state root as behind (%s); the rollback guard relies on "
		       "cutover.postgres_runs alone: a json, dualwrite or shadow process that cannot read it will not see "
		       "that %s ran in the postgres stage",
		       a->flag_name, cutover_domain_name(a->d), e.message, cutover_domain_name(a->d));
}

static int arm_postgres_stage(co_pg *pg, bool fresh, void *arg, cutover_error *err)
{
	stage_arm *a = arg;
	const char *name = cutover_domain_name(a->d);
	if (fresh)
		a->held = false;
	if (!a->held) {
		bool got = false;
		int rc = co_pg_stage_lock_shared(pg, a->d, &got, err);
		if (rc)
			return rc;
		if (!got) {
			co_err(err, CUTOVER_ESTATE, "%s=postgres: `cutover export %s --apply` is running; %s", a->flag_name,
			       name, a->opened ? "nothing was written (this session reconnected while it runs)"
					       : "the domain cannot open in the postgres stage meanwhile");
			co_err_detail(err, "the export holds %s's postgres-stage lock while it copies Postgres into the JSON "
					   "documents, so that nothing writes to Postgres behind its snapshot",
				      name);
			co_err_hint(err, "the export is the way back from the postgres stage: once it finished, restart this "
					 "process with %s set to the stage it rolls back to (or keep postgres, which arms the "
					 "rollback guard again)",
				    a->flag_name);
			return CUTOVER_ESTATE;
		}
		a->held = true;
	}
	bool armed = false;
	int rc = co_pg_runs_note_open(pg, a->d, &armed, err);
	if (rc)
		return rc;
	if (!a->opened || armed)
		arm_marker(a);
	a->opened = true;
	return CUTOVER_OK;
}

static int arm_begin(co_pg *pg, const cutover_settings *st, cutover_error *err)
{
	stage_arm *a = calloc(1, sizeof *a);
	if (!a || !(a->root = co_strdup(st->json_root)) || (st->json_token && !(a->token = co_strdup(st->json_token)))) {
		stage_arm_free(a);
		return co_err_oom(err);
	}
	a->d = st->domain;
	snprintf(a->flag_name, sizeof a->flag_name, "%s", st->flag_name);
	return co_pg_set_session_hook(pg, arm_postgres_stage, a, stage_arm_free, err);
}

/* Connect and check the domain's tables. With pg authoritative, a sequence
 * behind its table's max id is refused: nextval would collide. With json
 * authoritative, an unreachable Postgres does not stop the app: second
 * writes are journaled until it returns. */
static int open_pg_checked(co_pg **out, const cutover_settings *st, cutover_error *err)
{
	bool pg_first = cutover_stage_describe(st->stage)->pg_authoritative;
	bool reachable = true;
	int rc = pg_first ? co_pg_connect(out, st->database_url, err)
			  : co_pg_connect_deferred(out, st->database_url, &reachable, err);
	if (rc)
		return rc;
	if (!reachable) {
		co_log("%s=%s: postgres is unreachable (%s); json stays authoritative and second writes are "
		       "journaled until it returns (the rollback guard reads only the marker in the JSON state root: "
		       "cutover.postgres_runs could not be read)",
		       st->flag_name, cutover_stage_describe(st->stage)->name, err ? err->message : "");
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	if (!pg_first && (rc = guard_check(*out, st, err))) {
		co_pg_close(*out);
		*out = NULL;
		return rc;
	}
	co_seq_health h[8];
	size_t n = 0;
	rc = co_pg_sequence_health(*out, st->domain, h, 8, &n, err);
	if (rc == CUTOVER_OK && pg_first) {
		co_buf fix = {0};
		const char *first = NULL;
		for (size_t i = 0; i < n; i++) {
			if (!h[i].behind)
				continue;
			char sql[512];
			co_buf_printf(&fix, "%s%s", fix.len ? " " : "", co_pg_setval_sql(&h[i], sql, sizeof(sql)));
			if (!first)
				first = h[i].table;
		}
		if (first) {
			co_err(err, CUTOVER_ESTATE, "%s=%s refused: the id sequence of %s is behind its max id",
			       st->flag_name, cutover_stage_describe(st->stage)->name, first);
			co_err_detail(err, "postgres would hand out ids that already exist; rows were written with "
					   "explicit ids while json was authoritative");
			co_err_hint(err, "run this SQL (or `cutover backfill %s --apply --repair-sequences`): %s",
				    cutover_domain_name(st->domain), fix.data ? fix.data : "");
			rc = CUTOVER_ESTATE;
		}
		co_buf_free(&fix);
	}
	/* the postgres stage writes no JSON: hold its lock, note it, mark the
	 * root, so a rollback waits for an export */
	if (rc == CUTOVER_OK && st->stage == CUTOVER_STAGE_POSTGRES)
		rc = arm_begin(*out, st, err);
	if (rc) {
		co_pg_close(*out);
		*out = NULL;
	}
	return rc;
}

int co_open_begin(co_open_parts *p, cutover_domain d, const cutover_options *opts, cutover_error *err)
{
	memset(p, 0, sizeof(*p));
	cutover_error_clear(err);
	int rc = cutover_settings_resolve(&p->st, d, opts, err);
	if (rc)
		return rc;
	p->info = cutover_stage_describe(p->st.stage);
	p->uses_json = p->st.stage != CUTOVER_STAGE_POSTGRES;
	if (p->st.stage == CUTOVER_STAGE_JSON && (rc = guard_check_json(&p->st, err)))
		return rc;
	if (p->st.stage != CUTOVER_STAGE_JSON && (rc = open_pg_checked(&p->pg, &p->st, err)))
		return rc;
	if (p->uses_json && (rc = co_transport_open(&p->t, p->st.json_root, p->st.json_token, err))) {
		co_open_abort(p);
		return rc;
	}
	if (p->uses_json && !p->info->pg_authoritative && (rc = guard_check_marker(p->t, &p->st, err))) {
		co_open_abort(p);
		return rc;
	}
	if (p->info->writes_both && (rc = co_journal_open(&p->journal, p->st.journal_dir, d, err))) {
		co_open_abort(p);
		return rc;
	}
	return CUTOVER_OK;
}

void co_open_abort(co_open_parts *p)
{
	co_pg_close(p->pg);
	co_journal_close(p->journal);
	if (p->t)
		p->t->free(p->t);
	p->pg = NULL;
	p->journal = NULL;
	p->t = NULL;
}

