/* test_json_concurrency.c — several processes writing one local state root.
 *
 * Forks writers that each create users and sessions through the json backend
 * at the same time. The file lock serialises their read-modify-writes, so
 * nothing is lost, ids are max+1 and distinct, and the state files stay 0600.
 * Each child is bounded by alarm(); the parent waits for all of them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

enum { WRITERS = 4, EACH = 25 };

static char root[256];

static int writer(int w)
{
	alarm(120);
	cutover_identity *s = NULL;
	cutover_error err;
	if (cutover_identity_json(&s, root, NULL, &err))
		return 10;
	for (int i = 0; i < EACH; i++) {
		char email[64], tok[65];
		snprintf(email, sizeof(email), "w%d-u%d@example.com", w, i);
		cutover_user in = {.email = email, .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
				   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
		cutover_user *u = NULL;
		if (cutover_identity_create_user(s, &u, &in, &err)) {
			cutover_error_fprint(stderr, &err);
			return 11;
		}
		cutover_session ss = {.token_hash = (char *)test_token((unsigned)(w * 1000 + i), tok), .user_id = u->id,
				      .created_at = CUTOVER_TS_NULL, .expires_at = cutover_now() + 3600000000LL,
				      .last_seen_at = CUTOVER_TS_NULL};
		cutover_user_free(u);
		if (cutover_identity_create_session(s, &ss, &err)) {
			cutover_error_fprint(stderr, &err);
			return 12;
		}
	}
	cutover_identity_free(s);
	return 0;
}

static void concurrent_writers_lose_nothing(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cutover-conc-XXXXXX");
	assert_non_null(mkdtemp(root));
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
	cutover_identity *s = NULL;
	cutover_error err;
	assert_int_equal(cutover_identity_json(&s, root, NULL, &err), CUTOVER_OK);
	cutover_user_list l;
	assert_int_equal(cutover_identity_list_assignable_users(s, &l, NULL, &err), CUTOVER_OK);
	assert_int_equal(l.n, WRITERS * EACH);
	for (size_t i = 0; i < l.n; i++)
		assert_true(l.items[i].id == (int64_t)i + 1); /* ordered by id, no gaps, no repeats */
	cutover_user_list_free(&l);
	for (int w = 0; w < WRITERS; w++)
		for (int i = 0; i < EACH; i++) {
			char tok[65];
			cutover_session *ss = NULL;
			cutover_user *u = NULL;
			assert_int_equal(cutover_identity_lookup_session(s, &ss, &u, test_token((unsigned)(w * 1000 + i), tok),
									 CUTOVER_TS_NOW, &err),
					 CUTOVER_OK);
			char email[64];
			snprintf(email, sizeof(email), "w%d-u%d@example.com", w, i);
			assert_string_equal(u->email, email);
			cutover_session_free(ss);
			cutover_user_free(u);
		}
	cutover_identity_free(s);

	static const char *const files[] = {"identity/users.json", "identity/sessions.json"};
	for (size_t i = 0; i < 2; i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/%s", root, files[i]);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	char path[400];
	snprintf(path, sizeof(path), "%s/identity", root);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	test_shell(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_writers_lose_nothing),
	};
	return cmocka_run_group_tests_name("json local directory", tests, NULL, NULL);
}
