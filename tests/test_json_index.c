/* test_json_index.c — the JSON backend's cached index and streaming writes.
 *
 * What a cache must never do is answer from a version that is no longer
 * stored. Here: a second process's writes are seen by the next read of the
 * first (over a local directory, and over HTTP when run under
 * tests/with-nginx.sh), a document replaced or rewritten in place behind the
 * library's back (same size, old mtime) is seen, a document broken by hand
 * fails the next call with exactly the error loading it whole gives, and a
 * write of one record leaves every other record's bytes (unknown fields,
 * number spellings, whitespace) as they were. Last, memory: a child process
 * does a look-up and a write pair at 1,000 and at 100,000 users, and its
 * peak RSS must stay under 64 MiB (under AddressSanitizer, where the
 * sanitizer's own memory counts too, the growth from 1,000 to 100,000 users
 * must stay under the index's budget instead). Nothing is timed.
 *
 * usage: test_json_index GEN_LEGACY_BIN
 *        test_json_index --rss-child ROOT TOKEN   (the measured child)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_doc.h"
#include "support.h"

static const char *gen_bin, *self_bin;
static char local_root[256];
static char roots[2][300]; /* the roots every test runs over: local, and HTTP when there is one */
static int n_roots;
static cutover_error err;

static void ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static cutover_identity *open_json(const char *root)
{
	cutover_identity *id = NULL;
	ok(cutover_identity_json(&id, root, NULL, &err));
	return id;
}

static void put_doc(const char *root, const char *key, const char *text)
{
	test_put_key(root, key, text, strlen(text));
}

static cutover_user user_in(const char *email)
{
	return (cutover_user){.email = (char *)email, .role = "viewer", .email_verified_at = CUTOVER_TS_NULL,
	                      .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
}

static const char *display_name_of(cutover_identity *id, int64_t uid, char *buf, size_t len)
{
	cutover_user *u = NULL;
	ok(cutover_identity_get_user(id, &u, uid, &err));
	snprintf(buf, len, "%s", u->display_name ? u->display_name : "");
	cutover_user_free(u);
	return buf;
}

/* --- another process's writes ------------------------------------------------ */

static void second_process_write_is_seen(void **state)
{
	(void)state;
	for (int r = 0; r < n_roots; r++) {
		char root[400], name[64];
		test_fresh_root(root, sizeof root, roots[r], "seen");
		cutover_identity *a = open_json(root);
		cutover_user in = user_in("first@example.com"), *u = NULL;
		ok(cutover_identity_create_user(a, &u, &in, &err));
		int64_t uid = u->id;
		cutover_user_free(u);
		assert_string_equal(display_name_of(a, uid, name, sizeof name), "");
		assert_int_equal(cutover_identity_get_user_by_email(a, &u, "second@example.com", &err),
		                 CUTOVER_ENOTFOUND);

		for (int round = 0; round < 3; round++) {
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) { /* another app process */
				alarm(60);
				cutover_identity *b = NULL;
				if (cutover_identity_json(&b, root, NULL, &err) != CUTOVER_OK)
					_exit(1); /* never back into the test runner */
				char dn[32], email[64];
				snprintf(dn, sizeof dn, "renamed %d", round);
				cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = dn};
				snprintf(email, sizeof email, "second%d@example.com", round);
				cutover_user in2 = user_in(email), *v = NULL, *w = NULL;
				int rc = cutover_identity_update_user(b, &w, uid, &p, &err) ||
				         cutover_identity_create_user(b, &v, &in2, &err);
				if (rc)
					cutover_error_fprint(stderr, &err);
				cutover_user_free(v);
				cutover_user_free(w);
				cutover_identity_free(b);
				_exit(rc ? 1 : 0);
			}
			int status;
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			char want[32], email[64];
			snprintf(want, sizeof want, "renamed %d", round);
			assert_string_equal(display_name_of(a, uid, name, sizeof name), want);
			snprintf(email, sizeof email, "SECOND%d@example.com", round);
			ok(cutover_identity_get_user_by_email(a, &u, email, &err));
			cutover_user_free(u);
		}
		cutover_identity_free(a);
	}
}

static const char *USERS_AAAA = "{\"users\": [\n"
                                "{\"id\": 1, \"email\": \"a@example.com\", \"display_name\": \"AAAA\", \"role\": \"viewer\", \"created_at\": 1, \"updated_at\": 1}\n"
                                "]}\n";
static const char *USERS_BBBB = "{\"users\": [\n"
                                "{\"id\": 1, \"email\": \"a@example.com\", \"display_name\": \"BBBB\", \"role\": \"viewer\", \"created_at\": 1, \"updated_at\": 1}\n"
                                "]}\n";

/* --- over HTTP a look-up on an unchanged document is one conditional GET -------- */

/* Lines of the access log ("METHOD URI STATUS") equal to line. */
static int log_count(const char *line)
{
	char *log = test_read_file(getenv("CUTOVER_TEST_HTTP_LOG"), NULL);
	int n = 0;
	size_t ll = strlen(line);
	assert_non_null(log);
	for (char *p = log; (p = strstr(p, line)) != NULL; p += ll)
		if ((p == log || p[-1] == '\n') && (p[ll] == '\n' || p[ll] == '\0'))
			n++;
	free(log);
	return n;
}

static void http_lookup_is_one_conditional_request(void **state)
{
	(void)state;
	if (n_roots < 2 || !getenv("CUTOVER_TEST_HTTP_LOG"))
		skip(); /* run under tests/with-nginx.sh */
	char root[400], name[64], l200[500], l304[500];
	test_fresh_root(root, sizeof root, roots[1], "cond");
	put_doc(root, "identity/users.json", USERS_AAAA);
	/* a version is trusted for a 304 once it is older than the clock's
	 * second (transport_http.c): let it settle before the first read */
	sleep(3);
	const char *path = strstr(root + strlen("http://"), "/");
	assert_non_null(path);
	snprintf(l200, sizeof l200, "GET %s/identity/users.json 200", path);
	snprintf(l304, sizeof l304, "GET %s/identity/users.json 304", path);
	cutover_identity *id = open_json(root);
	assert_string_equal(display_name_of(id, 1, name, sizeof name), "AAAA");
	for (int i = 0; i < 300 && log_count(l200) < 1; i++) /* nginx logs after answering */
		usleep(10000);
	int got200 = log_count(l200), got304 = log_count(l304);
	assert_int_equal(got200, 1);
	for (int i = 0; i < 5; i++)
		assert_string_equal(display_name_of(id, 1, name, sizeof name), "AAAA");
	for (int i = 0; i < 300 && log_count(l304) < got304 + 5; i++)
		usleep(10000);
	usleep(200000); /* so that a request too many would show */
	assert_int_equal(log_count(l304), got304 + 5);
	assert_int_equal(log_count(l200), got200);
	cutover_identity_free(id);
}

/* --- changed behind the library's back (local root) --------------------------- */

static void set_mtime(const char *path, const struct timespec *mtime)
{
	struct timespec ts[2] = {*mtime, *mtime};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void replaced_behind_the_librarys_back_is_seen(void **state)
{
	(void)state;
	char root[300], path[400], tmp[400], name[64];
	struct stat st;
	test_fresh_root(root, sizeof root, local_root, "behind");
	put_doc(root, "identity/users.json", USERS_AAAA);
	snprintf(path, sizeof path, "%s/identity/users.json", root);
	snprintf(tmp, sizeof tmp, "%s/identity/users.json.new", root);
	cutover_identity *id = open_json(root);
	assert_string_equal(display_name_of(id, 1, name, sizeof name), "AAAA");

	/* a tool that writes a copy and renames it over, keeping the size and
	 * putting the old mtime back */
	assert_int_equal(stat(path, &st), 0);
	write_file(tmp, USERS_BBBB);
	set_mtime(tmp, &st.st_mtim);
	assert_int_equal(rename(tmp, path), 0);
	assert_string_equal(display_name_of(id, 1, name, sizeof name), "BBBB");

	/* a tool that rewrites the file in place, same size, old mtime */
	assert_int_equal(stat(path, &st), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, USERS_AAAA, strlen(USERS_AAAA), 0), (ssize_t)strlen(USERS_AAAA));
	assert_int_equal(close(fd), 0);
	set_mtime(path, &st.st_mtim);
	struct stat after;
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, st.st_size);
	assert_int_equal(after.st_ino, st.st_ino);
	assert_string_equal(display_name_of(id, 1, name, sizeof name), "AAAA");
	cutover_identity_free(id);
}

/* --- a document broken by hand --------------------------------------------------- */

static void corrupt_document_gives_the_same_error(void **state)
{
	(void)state;
	static const char *const broken[] = {
		"{\"users\": [\n{\"id\": 1, \"email\": \"a@example.com\", \"role\": \"viewer\"},\n{\"id\": 2, ",
		"{\"users\": [\n{\"id\": 1, \"email\": \"a@example.com\", \"role\": \"viewer\"},,\n]}",
		"{\"users\": [\n{\"id\": 1, \"email\": \"a@example.com\" \"role\": \"viewer\"}\n]}",
		"{\"users\": [\n{\"id\": 1, \"email\": \"a@example.com\", \"role\": \"viewer\"}\n], \"x\": tru}",
		"{\"users\": {\"id\": 1}}",
		"[{\"id\": 1}]",
	};
	for (int r = 0; r < n_roots; r++) {
		for (size_t b = 0; b < sizeof broken / sizeof *broken; b++) {
			char root[400];
			test_fresh_root(root, sizeof root, roots[r], "corrupt");
			put_doc(root, "identity/users.json", USERS_AAAA);
			cutover_identity *id = open_json(root);
			cutover_user *u = NULL;
			ok(cutover_identity_get_user(id, &u, 1, &err));
			cutover_user_free(u);
			put_doc(root, "identity/users.json", broken[b]);

			/* what loading the whole document says */
			co_transport *t = NULL;
			co_doc doc;
			cutover_error whole;
			ok(co_transport_open(&t, root, NULL, &err));
			assert_int_equal(co_doc_load(t, "identity/users.json", "users", &doc, &whole), CUTOVER_ECORRUPT);
			t->free(t);

			assert_int_equal(cutover_identity_get_user(id, &u, 1, &err), CUTOVER_ECORRUPT);
			assert_string_equal(err.message, whole.message);
			assert_string_equal(err.detail, whole.detail);
			cutover_user in = user_in("new@example.com");
			assert_int_equal(cutover_identity_create_user(id, &u, &in, &err), CUTOVER_ECORRUPT);
			assert_string_equal(err.message, whole.message);
			cutover_identity_free(id);
		}
	}
}

/* --- the backfill's strict rules, in the app too ---------------------------------- */

static void strict_rules_as_the_backfill(void **state)
{
	(void)state;
	static const char *doc =
		"{\"users\": [\n"
		"{\"id\": 3, \"email\": \"fine@example.com\", \"role\": \"viewer\", \"created_at\": 1, \"updated_at\": 1},\n"
		"{\"id\": 7, \"email\": \"twice@example.com\", \"email\": \"other@example.com\", \"role\": \"viewer\","
		" \"created_at\": 1, \"updated_at\": 1},\n"
		"{\"id\": 2, \"email\": \"nul@example.com\", \"display_name\": \"Nul\\u0000Byte\", \"role\": \"viewer\","
		" \"created_at\": 1, \"updated_at\": 1}\n"
		"]}\n";
	char root[400];
	test_fresh_root(root, sizeof root, local_root, "strict");
	put_doc(root, "identity/users.json", doc);
	cutover_identity *id = open_json(root);
	cutover_user *u = NULL;
	test_log_capture();
	/* no look-up serves them, as Postgres will not hold them */
	assert_int_equal(cutover_identity_get_user(id, &u, 7, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_get_user_by_email(id, &u, "twice@example.com", &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_identity_get_user(id, &u, 2, &err), CUTOVER_ENOTFOUND);
	assert_non_null(strstr(test_log_text(), "2 records, the first at position 2"));
	ok(cutover_identity_get_user(id, &u, 3, &err));
	cutover_user_free(u);
	/* but what they hold is not handed out again: a new id goes past 7
	 * (else fixing the record later would give two users id 7), their
	 * email is taken, and a put over id 7 is refused naming the record */
	cutover_user in = user_in("new@example.com");
	ok(cutover_identity_create_user(id, &u, &in, &err));
	assert_int_equal(u->id, 8);
	cutover_user_free(u);
	cutover_user again = user_in("TWICE@example.com");
	assert_int_equal(cutover_identity_create_user(id, &u, &again, &err), CUTOVER_ECONFLICT);
	cutover_user put = user_in("someone@example.com");
	put.id = 7;
	assert_int_equal(id->put_user(id, &put, &err), CUTOVER_ECORRUPT); /* replication (reconcile, dual stages) */
	assert_non_null(strstr(err.message, "record 2"));
	assert_non_null(strstr(err.detail, "appears twice"));
	cutover_identity_free(id);
}

/* --- a write of one record keeps every other record's bytes ---------------------- */

static const char *KEEP_DOC =
	"{\"users\": [\n"
	"  {\"id\": 1, \"email\": \"keep@example.com\", \"role\": \"viewer\", \"display_name\": \"K\\u00e9ep\",\n"
	"   \"x_loyalty\": {\"points\": 12345678901234567890, \"ratio\": 2.50, \"tiny\": 1E-7, \"tags\": [ ]},\n"
	"   \"created_at\": 1700000000000, \"updated_at\": \"2023-11-14T22:13:20Z\"},\n"
	"  {\"id\": 2, \"email\": \"edit@example.com\", \"role\": \"viewer\", \"x_note\": \"stays\", \"n\": 1.0,\n"
	"   \"created_at\": 1700000000000, \"updated_at\": 1700000000000},\n"
	"  {\"id\": 3, \"email\": \"last@example.com\", \"role\": \"admin\", \"x_big\": 9007199254740993,\n"
	"   \"created_at\": 1700000000000, \"updated_at\": 1700000000000}\n"
	"], \"x_top\": {\"keep\": 0.10}}\n";

static void other_records_keep_their_bytes(void **state)
{
	(void)state;
	const char *rec1 = strstr(KEEP_DOC, "  {\"id\": 1");
	size_t rec1_len = (size_t)(strstr(KEEP_DOC, ",\n  {\"id\": 2") - rec1);
	const char *rec3 = strstr(KEEP_DOC, "  {\"id\": 3");
	size_t rec3_len = (size_t)(strstr(KEEP_DOC, "\n], \"x_top\"") - rec3);
	for (int r = 0; r < n_roots; r++) {
		char root[400];
		test_fresh_root(root, sizeof root, roots[r], "keep");
		put_doc(root, "identity/users.json", KEEP_DOC);
		cutover_identity *id = open_json(root);
		cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Edited"};
		cutover_user in = user_in("appended@example.com"), *u = NULL;
		ok(cutover_identity_update_user(id, &u, 2, &p, &err));
		cutover_user_free(u);
		ok(cutover_identity_create_user(id, &u, &in, &err));
		assert_int_equal(u->id, 4);
		cutover_user_free(u);

		char *after = test_get_key(root, "identity/users.json", NULL);
		/* the untouched records and everything outside the list, byte for byte */
		assert_true(strncmp(after, "{\"users\": [\n", 12) == 0);
		assert_non_null(strstr(after, "], \"x_top\": {\"keep\": 0.10}}\n"));
		char *got1 = strstr(after, "  {\"id\": 1");
		assert_non_null(got1);
		assert_memory_equal(got1, rec1, rec1_len);
		char *got3 = strstr(after, "  {\"id\": 3");
		assert_non_null(got3);
		assert_memory_equal(got3, rec3, rec3_len);
		/* the edited record keeps its unknown field and number spelling */
		char *got2 = strstr(after, "{\"id\":2");
		assert_non_null(got2);
		assert_non_null(strstr(got2, "\"x_note\":\"stays\""));
		assert_non_null(strstr(got2, "\"display_name\":\"Edited\""));
		/* the appended record follows the document's separator */
		assert_non_null(strstr(after, "\"updated_at\": 1700000000000},\n  {\"id\":4"));
		free(after);

		/* and the index carried over to the written version reads them all */
		char name[64];
		assert_string_equal(display_name_of(id, 1, name, sizeof name), "K\xc3\xa9" "ep");
		assert_string_equal(display_name_of(id, 2, name, sizeof name), "Edited");
		ok(cutover_identity_get_user_by_email(id, &u, "last@example.com", &err));
		assert_int_equal(u->id, 3);
		cutover_user_free(u);
		cutover_identity_free(id);

		/* deleting records keeps the rest too: sessions of user 2 go, 1's stay */
		char tok[65];
		cutover_identity *s = open_json(root);
		for (unsigned k = 0; k < 6; k++) {
			cutover_session ss = {.token_hash = (char *)test_token(k, tok), .user_id = k % 2 ? 2 : 1,
			                      .created_at = CUTOVER_TS_NULL, .expires_at = cutover_now() + 3600000000LL,
			                      .last_seen_at = CUTOVER_TS_NULL};
			ok(cutover_identity_create_session(s, &ss, &err));
		}
		size_t gone = 0;
		ok(cutover_identity_delete_user_sessions(s, 2, &gone, &err));
		assert_int_equal(gone, 3);
		for (unsigned k = 0; k < 6; k++) {
			cutover_session *ss = NULL;
			int rc = cutover_identity_get_session(s, &ss, test_token(k, tok), &err);
			assert_int_equal(rc, k % 2 ? CUTOVER_ENOTFOUND : CUTOVER_OK);
			cutover_session_free(ss);
		}
		cutover_identity_free(s);
	}
}

/* --- memory at 100,000 users ------------------------------------------------------ */

/* The measured child: one look-up, one write pair; prints its peak RSS. */
static int rss_child(const char *root, const char *token)
{
	cutover_error e;
	cutover_identity *id = NULL;
	cutover_session *s = NULL;
	cutover_user *u = NULL;
	cutover_ts at;
	cutover_ts_parse("2026-10-01T00:00:00Z", &at);
	if (cutover_identity_json(&id, root, NULL, &e) ||
	    cutover_identity_lookup_session(id, &s, &u, token, at, &e)) {
		cutover_error_fprint(stderr, &e);
		return 1;
	}
	cutover_session_free(s);
	cutover_user_free(u);
	cutover_user in = user_in("rss-child@example.com");
	char tok[65];
	if (cutover_identity_create_user(id, &u, &in, &e)) {
		cutover_error_fprint(stderr, &e);
		return 1;
	}
	cutover_session ns = {.token_hash = (char *)test_token(999999, tok), .user_id = u->id, .created_at = at,
	                      .expires_at = cutover_now() + 3600000000LL, .last_seen_at = CUTOVER_TS_NULL};
	cutover_user_free(u);
	if (cutover_identity_create_session(id, &ns, &e)) {
		cutover_error_fprint(stderr, &e);
		return 1;
	}
	cutover_identity_free(id);
	long kib = test_vmhwm_kib();
	printf("%ld\n", kib);
	return kib > 0 ? 0 : 1;
}

/* Peak RSS in KiB of a child working on `users` generated users. */
static long measure(int users)
{
	char root[300], cmd[1024], token[65] = "";
	test_fresh_root(root, sizeof root, local_root, "rss");
	snprintf(cmd, sizeof cmd, "%s --out %s --users %d --sessions-per-user 3 --quiet", gen_bin, root, users);
	assert_int_equal(test_shell(cmd), 0);
	/* the first session's token, read from the document */
	snprintf(cmd, sizeof cmd, "%s/identity/sessions.json", root);
	FILE *f = fopen(cmd, "r");
	assert_non_null(f);
	char line[256];
	while (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "\"token_hash\": \"");
		if (p) {
			memcpy(token, p + 15, 64);
			token[64] = '\0';
			break;
		}
	}
	fclose(f);
	assert_int_equal(strlen(token), 64);
	/* a process of its own (the sanitizer's quarantine would otherwise
	 * hold every freed block) */
	snprintf(cmd, sizeof cmd,
	         "ASAN_OPTIONS=quarantine_size_mb=0:detect_leaks=0 timeout 300 %s --rss-child %s %s", self_bin, root, token);
	int status;
	char *out = test_run_capture(cmd, &status);
	assert_int_equal(status, 0);
	long kib = atol(out);
	free(out);
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	test_shell(cmd);
	assert_true(kib > 0);
	return kib;
}

static void write_memory_stays_flat(void **state)
{
	(void)state;
	long small = measure(1000), big = measure(100000);
	fprintf(stderr, "peak RSS of a look-up and a write pair: %.1f MiB at 1,000 users, %.1f MiB at 100,000\n",
	        small / 1024.0, big / 1024.0);
#ifdef TEST_UNDER_ASAN
	/* the index (about 32 MiB at 100,000 users and 300,000 sessions) and
	 * the sanitizer's shadow of it */
	assert_true(big - small < 48 * 1024);
#else
	assert_true(big < 64 * 1024);
#endif
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--rss-child") == 0)
		return rss_child(argv[2], argv[3]);
	if (argc < 2) {
		fprintf(stderr, "usage: %s GEN_LEGACY_BIN\n", argv[0]);
		return 2;
	}
	gen_bin = argv[1];
	self_bin = argv[0];
	snprintf(local_root, sizeof local_root, "/tmp/cutover-ix-XXXXXX");
	if (!(n_roots = test_state_roots(roots, local_root)))
		return 3;
	alarm(900);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(second_process_write_is_seen),
		cmocka_unit_test(http_lookup_is_one_conditional_request),
		cmocka_unit_test(replaced_behind_the_librarys_back_is_seen),
		cmocka_unit_test(corrupt_document_gives_the_same_error),
		cmocka_unit_test(strict_rules_as_the_backfill),
		cmocka_unit_test(other_records_keep_their_bytes),
		cmocka_unit_test(write_memory_stays_flat),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", local_root);
	test_shell(cmd);
	return rc;
}
