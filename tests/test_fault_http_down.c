/* test_fault_http_down.c — the HTTP object store down, stage by stage.
 *
 * The JSON state lives on the throwaway nginx of tests/with-nginx.sh, under
 * a URL that carries credentials (user:password@) and with a bearer token,
 * so every message can be checked for leaks; Postgres is the throwaway
 * cluster of tests/with-postgres.sh. One child process per (stage, domain)
 * opens its domain (and identity, for the users its records name) in the
 * stage and makes a fixture while both stores are up — one child at a time,
 * since nginx's dav module keeps no compare-and-swap and concurrent writers
 * to one document would lose edits (docs/architecture.md). Then nginx is
 * stopped and, with the same open handles:
 *
 *  - json, dualwrite, shadow (JSON authoritative): every operation kind of
 *    every domain fails with CUTOVER_EUNAVAILABLE, a message that names the
 *    store's URL without its credentials (nor the token), a hint, within
 *    CUTOVER_HTTP_TIMEOUT; nothing reaches Postgres (row count and an md5 of
 *    every row of every domain table, before and after) and nothing is
 *    journaled.
 *  - live, rampdown (Postgres authoritative): every call succeeds; each
 *    write's second write fails and is journaled; rampdown's reads never
 *    wait for the store, live's compared reads wait for it at most
 *    CUTOVER_HTTP_TIMEOUT.
 *
 * After a request that got no answer, a transport makes none for 2 s (calls
 * fail at once), so only the first call of a burst waits for the retries.
 * nginx is started again and, once that quiet period is over, every child,
 * one at a time, runs every operation kind once more on its same handles:
 * all succeed.
 *
 * usage: tests/with-nginx.sh tests/with-postgres.sh test_fault_http_down
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_ops.h"
#include "json_store.h"
#include "support.h"

#define TOKEN "tok-fault-9c2e-never-print"
#define PASSWORD "pw-fault-never-print"
#define HTTP_TIMEOUT_S 2       /* CUTOVER_HTTP_TIMEOUT for the children */
#define SLACK_S 0.5            /* scheduling, process start-up */

static const char *const stages[] = {"json", "dualwrite", "shadow", "live", "rampdown"};
#define N_STAGES 5
#define N_CHILDREN (N_STAGES * CUTOVER_DOMAIN_COUNT)

/* One state folder and one database per stage: stages must not share
 * stores here (a live process assigns ids from Postgres sequences, a
 * dualwrite one from the JSON documents; see the runbooks). */
static test_env envs[N_STAGES];
static bool http_stopped;

typedef struct child {
	pid_t pid;
	int to, from; /* pipe ends: parent writes to, reads from */
	test_env *env;
	const char *stage;
	cutover_domain domain;
} child;

/* --- in the child ----------------------------------------------------------------- */

static int bad; /* failures seen by this child */

#define CHECK(cond, ...)                                                                                   \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			bad++;                                                                             \
			fprintf(stderr, "[%s %s] ", st_name, cutover_domain_name(dom));                    \
			fprintf(stderr, __VA_ARGS__);                                                      \
			fputc('\n', stderr);                                                               \
		}                                                                                          \
	} while (0)

static void send_line(int fd, const char *line)
{
	size_t n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n)
		_exit(90);
}

static void wait_go(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		_exit(91);
}

static int open_domain(fault_handles *h, cutover_domain d, const cutover_options *o, cutover_error *err)
{
	switch (d) {
	case CUTOVER_DOMAIN_IDENTITY: return CUTOVER_OK; /* always open */
	case CUTOVER_DOMAIN_PROFILE: return cutover_profile_open(&h->pr, o, err);
	case CUTOVER_DOMAIN_REPORTS: return cutover_reports_open(&h->rep, o, err);
	default: return cutover_telemetry_open(&h->tel, o, err);
	}
}

static void leak_free(const char *st_name, cutover_domain dom, const char *what, const char *text)
{
	CHECK(!strstr(text, PASSWORD), "%s carries the URL's password: %s", what, text);
	CHECK(!strstr(text, TOKEN), "%s carries the token: %s", what, text);
}

static int child_main(test_env *env, const char *st_name, cutover_domain dom, int in, int out)
{
	cutover_error err;
	fault_handles h = {0};
	fault_fixture f = {.tag = (unsigned)getpid()};
	env->opts.stage = st_name;
	bool pg_first = strcmp(st_name, "live") == 0 || strcmp(st_name, "rampdown") == 0;
	bool reads_json = strcmp(st_name, "rampdown") != 0;
	char shown_root[600]; /* the JSON root as messages may name it */
	co_redact_url(env->json_root, shown_root, sizeof shown_root);

	int rc = cutover_identity_open(&h.id, &env->opts, &err);
	if (rc == CUTOVER_OK)
		rc = open_domain(&h, dom, &env->opts, &err);
	if (rc == CUTOVER_OK)
		rc = fault_prepare(dom, &h, &f, &err);
	if (rc != CUTOVER_OK) {
		fprintf(stderr, "[%s %s] setup: ", st_name, cutover_domain_name(dom));
		cutover_error_fprint(stderr, &err);
		_exit(2);
	}
	cutover_stats before;
	fault_stats(&h, dom, &before);
	send_line(out, "R\n");
	wait_go(in);

	/* nginx is down */
	double worst = 0, worst_read = 0, began = fault_now();
	size_t ran = 0, writes = 0;
	for (size_t i = 0; i < fault_ops_count; i++) {
		const fault_op *op = &fault_ops[i];
		if (op->domain != dom)
			continue;
		cutover_error_clear(&err);
		double t0 = fault_now();
		rc = op->run(&h, &f, &err);
		double took = fault_now() - t0;
		ran++;
		writes += op->write;
		if (took > worst)
			worst = took;
		if (!op->write && took > worst_read)
			worst_read = took;
		CHECK(took <= HTTP_TIMEOUT_S + SLACK_S, "%s took %.3f s (CUTOVER_HTTP_TIMEOUT is %d s)", op->name, took,
		      HTTP_TIMEOUT_S);
		if (pg_first) {
			CHECK(rc == CUTOVER_OK, "%s failed with the JSON store down: %s: %s", op->name, cutover_code_name(rc),
			      err.message);
			continue;
		}
		CHECK(rc == CUTOVER_EUNAVAILABLE, "%s: %s, not unavailable: %s", op->name, cutover_code_name(rc),
		      err.message);
		CHECK(strstr(err.message, shown_root) != NULL, "%s: the message does not name the store (%s): %s",
		      op->name, shown_root, err.message);
		CHECK(err.hint[0] != '\0', "%s: no hint", op->name);
		leak_free(st_name, dom, "message", err.message);
		leak_free(st_name, dom, "detail", err.detail);
		leak_free(st_name, dom, "hint", err.hint);
	}
	cutover_stats after;
	fault_stats(&h, dom, &after);
	if (!pg_first) {
		CHECK(after.secondary_failures == before.secondary_failures, "a second write was attempted");
		CHECK(after.journaled == before.journaled, "%llu keys journaled",
		      (unsigned long long)(after.journaled - before.journaled));
	} else {
		CHECK(after.journaled - before.journaled >= writes, "%llu keys journaled for %zu writes",
		      (unsigned long long)(after.journaled - before.journaled), writes);
		if (!reads_json)
			CHECK(worst_read < 0.25, "a rampdown read took %.3f s", worst_read);
	}
	char line[200];
	snprintf(line, sizeof line, "D %zu %.0f %.0f %.0f %llu %d\n", ran, (fault_now() - began) * 1000, worst * 1000,
		 worst_read * 1000, (unsigned long long)(after.journaled - before.journaled), bad);
	send_line(out, line);
	wait_go(in);

	/* nginx is back: the same handles work. In the postgres-authoritative
	 * stages the calls above succeeded and moved the fixture on (a session
	 * is gone), so those make a fresh one through the same handles. */
	if (pg_first) {
		fault_fixture_free(&f);
		f = (fault_fixture){.tag = (unsigned)getpid() + 1000000u};
		rc = fault_prepare(dom, &h, &f, &err);
		CHECK(rc == CUTOVER_OK, "a fresh fixture after nginx came back: %s: %s", cutover_code_name(rc),
		      err.message);
	}
	for (size_t i = 0; i < fault_ops_count; i++) {
		const fault_op *op = &fault_ops[i];
		if (op->domain != dom)
			continue;
		rc = op->run(&h, &f, &err);
		CHECK(rc == CUTOVER_OK, "%s after nginx came back: %s: %s", op->name, cutover_code_name(rc), err.message);
	}
	cutover_stats end;
	fault_stats(&h, dom, &end);
	CHECK(end.journaled == after.journaled, "%llu more keys journaled after nginx came back",
	      (unsigned long long)(end.journaled - after.journaled));
	leak_free(st_name, dom, "the library's reports", test_log_text());
	fault_fixture_free(&f);
	fault_handles_free(&h);
	return bad ? 1 : 0;
}

/* --- in the parent ----------------------------------------------------------------- */

static void spawn(child *c)
{
	int down[2], up[2];
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		int rc = child_main(c->env, c->stage, c->domain, down[0], up[1]);
		fflush(NULL);
		_exit(rc);
	}
	close(down[0]);
	close(up[1]);
	c->pid = pid;
	c->to = down[1];
	c->from = up[0];
}

/* A line from the child (bounded: the child's calls are). */
static void expect_line(child *c, char kind, char *line, size_t len)
{
	size_t n = 0;
	char ch;
	while (n + 1 < len && read(c->from, &ch, 1) == 1 && ch != '\n')
		line[n++] = ch;
	line[n] = '\0';
	if (line[0] != kind)
		fail_msg("child %s %s: expected '%c', got \"%s\"", c->stage, cutover_domain_name(c->domain), kind, line);
}

static void go(child *c)
{
	assert_int_equal(write(c->to, "g", 1), 1);
}

static int reap(child *c)
{
	int status = 0;
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	close(c->to);
	close(c->from);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* Every domain table: row count and md5 of every row, in one line each. */
static const char *const table_sums[] = {
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM identity.users t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM identity.user_oauth t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM identity.sessions t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM operations.incidents t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM operations.telemetry_events t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM content.portfolio_profiles t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM content.profile_specialties t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM content.profile_tools t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM content.portfolio_certifications t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM content.portfolio_education t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM operations.reports t",
	"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM operations.report_actions t",
};
#define N_TABLES (sizeof table_sums / sizeof table_sums[0])

static void pg_sums(const test_env *env, char *out[N_TABLES])
{
	for (size_t i = 0; i < N_TABLES; i++) {
		out[i] = test_sql_value(env, table_sums[i]);
		assert_non_null(out[i]);
	}
}

#define N_JSON_FIRST 3 /* json, dualwrite, shadow: stages[0..2] */

static void http_store_down(void **state)
{
	(void)state;
	const char *stop = getenv("CUTOVER_TEST_HTTP_STOP"), *start = getenv("CUTOVER_TEST_HTTP_START");
	if (!stop || !start)
		fail_msg("run under tests/with-nginx.sh");
	child kids[N_CHILDREN];
	char line[200];
	size_t k = 0;
	for (size_t s = 0; s < N_STAGES; s++)
		for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++, k++) {
			kids[k] = (child){.env = &envs[s], .stage = stages[s], .domain = (cutover_domain)d};
			spawn(&kids[k]);
			expect_line(&kids[k], 'R', line, sizeof line); /* one writer at a time */
		}

	char *sums[N_JSON_FIRST][N_TABLES], *sums_after[N_TABLES];
	fault_tree journal[N_JSON_FIRST], journal_after;
	for (size_t s = 0; s < N_JSON_FIRST; s++) {
		pg_sums(&envs[s], sums[s]);
		assert_int_equal(fault_tree_take(&journal[s], envs[s].root), 0);
	}

	assert_int_equal(test_shell(stop), 0);
	http_stopped = true;
	double t0 = fault_now();
	for (k = 0; k < N_CHILDREN; k++)
		go(&kids[k]);
	for (k = 0; k < N_CHILDREN; k++) {
		expect_line(&kids[k], 'D', line, sizeof line);
		print_message("  %-9s %-9s calls %s\n", kids[k].stage, cutover_domain_name(kids[k].domain), line + 2);
	}
	print_message("(calls, ms for all, slowest ms, slowest read ms, keys journaled, failed checks)\n"
		      "every child done %.1f s after the stop\n", fault_now() - t0);

	/* json authoritative: nothing reached Postgres, nothing was journaled */
	for (size_t s = 0; s < N_JSON_FIRST; s++) {
		pg_sums(&envs[s], sums_after);
		for (size_t i = 0; i < N_TABLES; i++) {
			if (strcmp(sums[s][i], sums_after[i]) != 0)
				fail_msg("%s: postgres changed while the JSON store was down: %s: %s -> %s", stages[s],
					 strstr(table_sums[i], "FROM ") + 5, sums[s][i], sums_after[i]);
			free(sums_after[i]);
			free(sums[s][i]);
		}
		assert_int_equal(fault_tree_take(&journal_after, envs[s].root), 0);
		char *diff = fault_tree_diff(&journal[s], &journal_after);
		if (diff)
			fail_msg("%s: the journal changed while the JSON store was down:\n%s", stages[s], diff);
		fault_tree_free(&journal_after);
		fault_tree_free(&journal[s]);
	}

	/* back up: every child, one at a time, uses its same handles */
	assert_int_equal(test_shell(start), 0);
	http_stopped = false;
	/* a transport that got no answer makes no request for 2 s after that */
	usleep(2200000);
	int failed = 0;
	for (k = 0; k < N_CHILDREN; k++) {
		go(&kids[k]);
		int rc = reap(&kids[k]);
		if (rc != 0) {
			fprintf(stderr, "child %s %s exited %d\n", kids[k].stage, cutover_domain_name(kids[k].domain), rc);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* The quiet period itself, on one transport: the first request that gets
 * no answer waits for its retries; for 2 s after it nothing is sent and
 * calls fail at once, saying so; after that a call tries again, and once the
 * server answers the transport serves as before. */
static void a_store_that_gave_no_answer_is_not_asked_again_for_2s(void **state)
{
	(void)state;
	test_env *e = &envs[0];
	co_transport *t = NULL;
	cutover_error err;
	if (co_transport_open(&t, e->json_root, TOKEN, &err) != CUTOVER_OK)
		fail_msg("%s", err.message);
	assert_int_equal(t->put(t, "quiet/doc.json", "{}", 2, NULL, NULL, &err), CUTOVER_OK);
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_HTTP_STOP")), 0);
	http_stopped = true;
	char *data = NULL, v[CO_VERSION_LEN];
	size_t len;
	double t0 = fault_now();
	assert_int_equal(t->get(t, "quiet/doc.json", &data, &len, v, &err), CUTOVER_EUNAVAILABLE);
	double first = fault_now() - t0;
	assert_non_null(strstr(err.detail, "attempt(s)")); /* it retried */
	t0 = fault_now();
	assert_int_equal(t->put(t, "quiet/doc.json", "{}", 2, NULL, NULL, &err), CUTOVER_EUNAVAILABLE);
	double quiet = fault_now() - t0;
	print_message("no answer: first call %.3f s, the next %.3f s: %s\n  detail: %s\n", first, quiet, err.message,
		      err.detail);
	assert_true(first >= 0.6 && first <= HTTP_TIMEOUT_S + SLACK_S);
	assert_true(quiet < 0.05);
	assert_non_null(strstr(err.message, "not tried"));
	assert_non_null(strstr(err.hint, "try again"));
	assert_null(strstr(err.detail, PASSWORD));
	/* back up, but inside the quiet period: still not asked */
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_HTTP_START")), 0);
	http_stopped = false;
	if (fault_now() - t0 < 1.5)
		assert_int_equal(t->get(t, "quiet/doc.json", &data, &len, v, &err), CUTOVER_EUNAVAILABLE);
	/* after it: asked again, and it answers */
	usleep(2100000);
	t0 = fault_now();
	assert_int_equal(t->get(t, "quiet/doc.json", &data, &len, v, &err), CUTOVER_OK);
	assert_true(fault_now() - t0 < 0.5);
	free(data);
	t->free(t);
}

/* If a test failed half-way, the server may still be stopped. */
static int teardown(void **state)
{
	(void)state;
	if (http_stopped)
		test_shell(getenv("CUTOVER_TEST_HTTP_START"));
	for (size_t s = 0; s < N_STAGES; s++)
		test_env_fini(&envs[s]);
	return 0;
}

int main(void)
{
	const char *http = getenv("CUTOVER_TEST_HTTP_ROOT");
	if (!http || strncmp(http, "http://", 7) != 0) {
		fprintf(stderr, "usage: tests/with-nginx.sh tests/with-postgres.sh test_fault_http_down\n");
		return 3;
	}
	test_unset_stage_flags();
	char v[16];
	snprintf(v, sizeof v, "%d", HTTP_TIMEOUT_S);
	setenv("CUTOVER_HTTP_TIMEOUT", v, 1);
	setenv("CUTOVER_HTTP_CONNECT_TIMEOUT", "1", 1);
	test_log_capture();

	for (size_t s = 0; s < N_STAGES; s++) {
		test_env *e = &envs[s];
		char tag[32];
		snprintf(tag, sizeof tag, "http%s", stages[s]);
		test_env_init(e, tag);
		/* the nginx location, reached through a URL with credentials in it */
		snprintf(e->json_root, sizeof e->json_root, "http://fault:" PASSWORD "@%s/%s-%d", http + 7, tag,
			 (int)getpid());
		e->opts.json_root = e->json_root;
		e->opts.json_token = TOKEN;
	}

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_store_down),
		cmocka_unit_test(a_store_that_gave_no_answer_is_not_asked_again_for_2s),
	};
	int rc = cmocka_run_group_tests_name("HTTP store down", tests, NULL, teardown);
	test_log_reset();
	return rc;
}
