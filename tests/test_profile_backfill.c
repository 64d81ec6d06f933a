/* test_profile_backfill.c — the profile operator path, end to end, on generated state.
 *
 * Identity goes first (cutover-gen-legacy, then `cutover backfill identity
 * --apply`) so the profiles' users exist in Postgres. Then:
 *  - the dirty corpus: survey and dry run report it and write nothing;
 *    --apply rejects exactly the injected records, each byte for byte, lands
 *    every clean record, and the five tables equal the generator's CSV
 *    baseline row for row (paths with odd bytes included); verify passes
 *    every check; a second --apply writes nothing;
 *  - verify fails when a list's order or an asset path is changed behind its
 *    back;
 *  - kill -9 in the middle of --apply, then a re-run, ends exactly like an
 *    uninterrupted run;
 *  - a rehearsal on chosen users loads only their profiles.
 *
 * usage: test_profile_backfill cutover cutover-gen-legacy cutover-gen-profile  (under with-postgres.sh)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "support.h"

static const char *gen_legacy_bin, *gen_profile_bin;

/* Users 1..n in identity/users.json and in Postgres, then the profiles. */
static void generate(const test_env *e, int users, const char *args)
{
	char opts[560]; /* "--users N " and args (up to 512 bytes) */
	snprintf(opts, sizeof(opts), "--users %d --seed 7", users);
	test_generate(e, gen_legacy_bin, opts);
	assert_int_equal(test_cutover(e, NULL, "backfill identity --apply"), 0);
	snprintf(opts, sizeof(opts), "--users %d %s", users, args);
	test_generate(e, gen_profile_bin, opts);
}

static char *digest(const test_env *e)
{
	return test_sql_value(e, "SELECT md5(concat("
				 "(SELECT string_agg(p::text, '|' ORDER BY user_id) FROM content.portfolio_profiles p),"
				 "(SELECT string_agg(s::text, '|' ORDER BY user_id, position) FROM content.profile_specialties s),"
				 "(SELECT string_agg(t::text, '|' ORDER BY user_id, position) FROM content.profile_tools t),"
				 "(SELECT string_agg(c::text, '|' ORDER BY id) FROM content.portfolio_certifications c),"
				 "(SELECT string_agg(x::text, '|' ORDER BY id) FROM content.portfolio_education x)))");
}

static long long manifest(const test_env *e, const char *obj, const char *field)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/manifest-profile.json", e->root);
	char *text = test_read_file(path, NULL);
	cJSON *m = cJSON_Parse(text);
	free(text);
	const cJSON *o = obj ? cJSON_GetObjectItem(m, obj) : m;
	long long v = (long long)cJSON_GetObjectItem(o, field)->valuedouble;
	cJSON_Delete(m);
	return v;
}

/* Load a CSV of the generator into a temp table shaped like `table`, and
 * count the rows that are in one and not the other (both ways). */
typedef struct baseline_sql {
	const char *table, *csv, *create, *compare;
} baseline_sql;

/* Constant SQL per table, assembled at compile time from our own names. */
#define BASELINE(t, file)                                                                              \
	{ t, file, "CREATE TEMP TABLE baseline (LIKE " t ")",                                                \
	  "SELECT (SELECT count(*) FROM (TABLE baseline EXCEPT ALL TABLE " t ") a)"                           \
	  " + (SELECT count(*) FROM (TABLE " t " EXCEPT ALL TABLE baseline) b)" }

static long long csv_differences(const test_env *e, const baseline_sql *b, const char *csv_path)
{
	char conninfo[160];
	snprintf(conninfo, sizeof conninfo, "dbname=%s", e->dbname);
	PGconn *c = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, b->create);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexec(c, "COPY baseline FROM STDIN (FORMAT csv, HEADER true)");
	assert_int_equal(PQresultStatus(r), PGRES_COPY_IN);
	PQclear(r);
	size_t len = 0;
	char *data = test_read_file(csv_path, &len);
	assert_non_null(data);
	assert_int_equal(PQputCopyData(c, data, (int)len), 1);
	assert_int_equal(PQputCopyEnd(c, NULL), 1);
	free(data);
	r = PQgetResult(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("COPY of %s failed: %s", csv_path, PQerrorMessage(c));
	PQclear(r);
	PQclear(PQgetResult(c));
	r = PQexec(c, b->compare);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	long long n = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return n;
}

static void dirty_corpus_end_to_end(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "pfdirty");
	char args[512];
	snprintf(args, sizeof args, "--dirty --seed 11 --csv '%s/csv'", e.root);
	generate(&e, 300, args);
	long long clean = manifest(&e, "profiles", "clean"), records = manifest(&e, "profiles", "records");
	long long bad = manifest(&e, "profiles", "rejects");

	char *out = NULL, want[160];
	assert_int_equal(test_cutover(&e, &out, "survey profile"), 1);
	snprintf(want, sizeof want, "records %lld, mappable %lld", records, clean); /* the dangling user is an orphan */
	if (!strstr(out, want))
		fail_msg("survey: expected \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof want, "profile: %lld unmappable records", bad);
	assert_non_null(strstr(out, want));
	free(out);

	/* the dry run says what it would do and writes nothing */
	assert_int_equal(test_cutover(&e, &out, "backfill profile"), 1);
	assert_non_null(strstr(out, "dry run"));
	snprintf(want, sizeof want, "%lld legacy profiles to migrate; would insert %lld; unchanged 0; differ 0; rejected %lld",
		 records, clean, bad);
	if (!strstr(out, want))
		fail_msg("dry run: expected \"%s\" in:\n%s", want, out);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_profiles"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_certifications"), 0);

	char rej[400];
	snprintf(rej, sizeof(rej), "backfill profile --apply --rejects '%s/rejects'", e.root);
	assert_int_equal(test_cutover(&e, &out, rej), 1);
	snprintf(want, sizeof want, "inserted %lld; unchanged 0; differ 0; rejected %lld", clean, bad);
	if (!strstr(out, want))
		fail_msg("apply: expected \"%s\" in:\n%s", want, out);
	free(out);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_profiles"), clean);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.profile_specialties"), manifest(&e, NULL, "specialties"));
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.profile_tools"), manifest(&e, NULL, "tools"));
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_certifications"),
			 manifest(&e, NULL, "certifications"));
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_education"), manifest(&e, NULL, "education"));

	/* exactly the injected records were rejected, each kept byte for byte */
	char path[512];
	snprintf(path, sizeof(path), "%s/expected-rejects-profile.ndjson", e.root);
	char *expected = test_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/rejects/profile/reasons.ndjson", e.root);
	char *reasons = test_read_file(path, NULL);
	assert_non_null(expected);
	assert_non_null(reasons);
	int lines = 0;
	char *save = NULL;
	for (char *line = strtok_r(reasons, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		cJSON *r = cJSON_Parse(line);
		assert_non_null(r);
		const char *file = cJSON_GetObjectItem(r, "file")->valuestring;
		int pos = cJSON_GetObjectItem(r, "position")->valueint;
		snprintf(want, sizeof(want), "{\"file\":\"%s\",\"position\":%d,", file, pos);
		if (!strstr(expected, want))
			fail_msg("rejected %s record %d was not injected: %s", file, pos,
				 cJSON_GetObjectItem(r, "reason")->valuestring);
		size_t slen = 0, rlen = 0;
		char src[512], dst[512];
		snprintf(src, sizeof(src), "%s/%s", e.root, file);
		snprintf(dst, sizeof(dst), "%s/rejects/%s", e.root, file);
		char *a = test_read_file(src, &slen), *b = test_read_file(dst, &rlen);
		size_t off = (size_t)cJSON_GetObjectItem(r, "offset")->valuedouble;
		size_t at = (size_t)cJSON_GetObjectItem(r, "reject_offset")->valuedouble;
		size_t len = (size_t)cJSON_GetObjectItem(r, "length")->valuedouble;
		assert_true(off + len <= slen && at + len <= rlen);
		assert_memory_equal(a + off, b + at, len);
		free(a);
		free(b);
		cJSON_Delete(r);
	}
	assert_int_equal(lines, bad);
	free(expected);
	free(reasons);

	/* every clean row equals the generator's own normalisation of it */
	static const baseline_sql tables[] = {
		BASELINE("content.portfolio_profiles", "portfolio_profiles.csv"),
		BASELINE("content.profile_specialties", "profile_specialties.csv"),
		BASELINE("content.profile_tools", "profile_tools.csv"),
		BASELINE("content.portfolio_certifications", "portfolio_certifications.csv"),
		BASELINE("content.portfolio_education", "portfolio_education.csv"),
	};
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		snprintf(path, sizeof path, "%s/csv/%s", e.root, tables[i].csv);
		long long d = csv_differences(&e, &tables[i], path);
		if (d)
			fail_msg("%s: %lld rows differ from the CSV baseline", tables[i].table, d);
	}
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_profiles WHERE avatar_path LIKE '% '"),
			 test_count(&e, "SELECT count(*) FROM content.portfolio_profiles WHERE avatar_path LIKE '%trailing space.png '"));

	/* a second run writes nothing */
	char *before = digest(&e);
	char *xmin = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM content.portfolio_certifications");
	assert_int_equal(test_cutover(&e, &out, "backfill profile --apply --repair-sequences"), 1);
	snprintf(want, sizeof want, "inserted 0; unchanged %lld; differ 0", clean);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "sequence repair (done)"));
	free(out);
	char *after = digest(&e);
	char *xmin2 = test_sql_value(&e, "SELECT max(xmin::text::bigint) FROM content.portfolio_certifications");
	assert_string_equal(before, after);
	assert_string_equal(xmin, xmin2);
	free(before);
	free(after);
	free(xmin);
	free(xmin2);

	int rc = test_cutover(&e, &out, "verify profile");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "\xe2\x9c\x97")); /* no ✗ */
	free(out);
	test_env_fini(&e);
}

static void verify_fails_on_a_changed_order_or_path(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "pfverify");
	generate(&e, 120, "--seed 5");
	assert_int_equal(test_cutover(&e, NULL, "backfill profile --apply --repair-sequences"), 0);
	assert_int_equal(test_cutover(&e, NULL, "verify profile"), 0);

	/* swap the first two certifications of one user (positions are deferrable) */
	static const char swap[] =
		"BEGIN; SET CONSTRAINTS ALL DEFERRED; "
		"WITH u AS (SELECT user_id FROM content.portfolio_certifications GROUP BY user_id "
		"HAVING count(*) >= 2 ORDER BY user_id LIMIT 1) "
		"UPDATE content.portfolio_certifications c SET position = 1 - position "
		"FROM u WHERE c.user_id = u.user_id AND c.position < 2; COMMIT";
	test_sql(&e, swap);
	char *out = NULL;
	assert_int_equal(test_cutover(&e, &out, "verify profile"), 1);
	assert_non_null(strstr(out, "\xe2\x9c\x97 content.portfolio_profiles fidelity: 1 of"));
	assert_non_null(strstr(out, "certifications"));
	free(out);
	test_sql(&e, swap); /* back as it was */
	assert_int_equal(test_cutover(&e, NULL, "verify profile"), 0);

	/* a trailing space trimmed off an avatar path is a difference too */
	long long trailing = test_count(&e, "SELECT count(*) FROM content.portfolio_profiles WHERE avatar_path LIKE '% '");
	assert_true(trailing > 0);
	test_sql(&e, "UPDATE content.portfolio_profiles SET avatar_path = rtrim(avatar_path) WHERE avatar_path LIKE '% '");
	assert_int_equal(test_cutover(&e, &out, "verify profile"), 1);
	assert_non_null(strstr(out, "avatar_path"));
	free(out);
	test_env_fini(&e);
}

static void kill_9_then_rerun_equals_a_clean_run(void **state)
{
	(void)state;
	test_env a, b;
	test_env_init(&a, "pfkill");
	test_env_init(&b, "pfclean");
	generate(&a, 3000, "--seed 5");
	generate(&b, 3000, "--seed 5");
	assert_int_equal(test_cutover(&b, NULL, "backfill profile --apply --batch 50"), 0);
	long long total = test_count(&b, "SELECT count(*) FROM content.portfolio_profiles");

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CUTOVER_JSON_ROOT", a.root, 1);
		setenv("DATABASE_URL", a.conninfo, 1);
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(test_cutover_bin, test_cutover_bin, "backfill", "profile", "--apply", "--batch", "50", (char *)NULL);
		_exit(127);
	}
	long long seen = 0;
	for (int i = 0; i < 6000 && seen == 0; i++) { /* bounded: 60 s */
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		seen = test_count(&a, "SELECT count(*) FROM content.portfolio_profiles");
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int st;
	waitpid(pid, &st, 0);
	long long partial = test_count(&a, "SELECT count(*) FROM content.portfolio_profiles");
	assert_true(seen > 0);
	if (WIFSIGNALED(st))
		assert_true(partial < total); /* it really was interrupted */
	assert_int_equal(test_cutover(&a, NULL, "backfill profile --apply --batch 50"), 0);
	char *da = digest(&a), *db = digest(&b);
	assert_string_equal(da, db);
	free(da);
	free(db);
	assert_int_equal(test_cutover(&a, NULL, "backfill profile --apply --repair-sequences"), 0);
	assert_int_equal(test_cutover(&a, NULL, "verify profile"), 0);
	test_env_fini(&a);
	test_env_fini(&b);
}

static void rehearsal_loads_only_the_chosen_users(void **state)
{
	(void)state;
	test_env e;
	test_env_init(&e, "pfsubset");
	generate(&e, 60, "--seed 4");
	assert_int_equal(test_cutover(&e, NULL, "backfill profile --apply --users 2,3"), 0);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_profiles"), 2);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_profiles WHERE user_id IN (2, 3)"), 2);
	assert_int_equal(test_count(&e, "SELECT count(*) FROM content.portfolio_certifications WHERE user_id NOT IN (2, 3)"), 0);
	test_env_fini(&e);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_profile_backfill cutover cutover-gen-legacy cutover-gen-profile\n");
		return 2;
	}
	test_cutover_bin = argv[1];
	gen_legacy_bin = argv[2];
	gen_profile_bin = argv[3];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dirty_corpus_end_to_end),
		cmocka_unit_test(verify_fails_on_a_changed_order_or_path),
		cmocka_unit_test(kill_9_then_rerun_equals_a_clean_run),
		cmocka_unit_test(rehearsal_loads_only_the_chosen_users),
	};
	return cmocka_run_group_tests_name("profile operator path", tests, NULL, NULL);
}
