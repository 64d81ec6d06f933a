/* test_http_transport.c — the JSON transport over HTTP, against a real nginx.
 *
 * Runs under tests/with-nginx.sh (and tests/with-postgres.sh, for the
 * operator commands): get/put/del with versions, what a conditional put
 * does over nginx (nothing: its dav module ignores If-Match on PUT, so the
 * last writer wins — checked here so the docs cannot drift from it),
 * listing, status mapping (412, 401, 404), retries of 5xx counted in the
 * access log, the time a stopped or silent server takes to be reported,
 * and that the token never shows in any message, output or server log.
 * open_read: conditional GETs, and that a version handed out unsettled
 * (written less than two seconds before the answer) is read again in full,
 * since nginx keeps the ETag of a same-size rewrite within one second.
 *
 * usage: test_http_transport CUTOVER_EXE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_store.h"
#include "support.h"

#define TOKEN "tok-5ecret-7a1f-do-not-print"

static const char *cutover_exe;
static char root[512];   /* a fresh folder under CUTOVER_TEST_HTTP_ROOT */
static cutover_error err;

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static co_transport *open_at(const char *url, const char *token)
{
	co_transport *t = NULL;
	if (co_transport_open(&t, url, token, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		fail_msg("cannot open %s", url);
	}
	assert_string_equal(t->kind, "http");
	return t;
}

static co_transport *open_root(void)
{
	return open_at(root, TOKEN);
}

static void assert_no_token(const char *text)
{
	if (text && strstr(text, TOKEN))
		fail_msg("the token appears in: %s", text);
}

static void assert_err_clean(void)
{
	assert_no_token(err.message);
	assert_no_token(err.detail);
	assert_no_token(err.hint);
}

static long elapsed_ms(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* Lines of the access log equal to line. */
static int log_count(const char *line)
{
	char *log = test_read_file(getenv("CUTOVER_TEST_HTTP_LOG"), NULL);
	assert_non_null(log);
	int n = 0;
	size_t ll = strlen(line);
	for (char *p = log; (p = strstr(p, line)) != NULL; p += ll)
		if ((p == log || p[-1] == '\n') && (p[ll] == '\n' || p[ll] == '\0'))
			n++;
	free(log);
	return n;
}

/* nginx writes a request's log line after the answer has gone out: wait
 * (at most 3 s) until at least want lines are there, then a little more
 * so that a line too many would show. */
static int log_wait(const char *line, int want)
{
	int n = 0;
	for (int i = 0; i < 300 && (n = log_count(line)) < want; i++)
		usleep(10000);
	usleep(200000);
	return log_count(line);
}

/* --- round trips ------------------------------------------------------------ */

static void get_put_del_round_trip_with_versions(void **state)
{
	(void)state;
	co_transport *t = open_root();
	char v1[CO_VERSION_LEN], v2[CO_VERSION_LEN], got[CO_VERSION_LEN], *data = NULL;
	size_t len = 0;
	const char *doc1 = "{\"users\":[]}", *doc2 = "{\"users\":[{\"id\":1}]}";

	assert_int_equal(t->get(t, "identity/users.json", &data, &len, got, &err), CUTOVER_ENOTFOUND);
	assert_null(data);
	/* "" = only if absent; intermediate folders are made */
	expect_ok(t->put(t, "identity/users.json", doc1, strlen(doc1), "", v1, &err));
	assert_true(v1[0] != '\0');
	expect_ok(t->get(t, "identity/users.json", &data, &len, got, &err));
	assert_int_equal(len, strlen(doc1));
	assert_memory_equal(data, doc1, len);
	assert_string_equal(got, v1); /* the version put handed back is the one get sees */
	assert_true(got[0] == '"');   /* nginx sends an ETag */
	free(data);

	expect_ok(t->put(t, "identity/users.json", doc2, strlen(doc2), v1, v2, &err));
	assert_string_not_equal(v1, v2); /* nginx's ETag is mtime-size: the size changed */
	expect_ok(t->get(t, "identity/users.json", &data, &len, got, &err));
	assert_memory_equal(data, doc2, len);
	assert_string_equal(got, v2);
	free(data);

	/* keys with characters that need escaping in a URL */
	const char *odd = "odd/a b+c%d.json";
	expect_ok(t->put(t, odd, "{}", 2, NULL, NULL, &err));
	expect_ok(t->get(t, odd, &data, &len, got, &err));
	assert_int_equal(len, 2);
	free(data);

	/* an empty document is a document */
	expect_ok(t->put(t, "empty.json", "", 0, NULL, NULL, &err));
	expect_ok(t->get(t, "empty.json", &data, &len, got, &err));
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);

	expect_ok(t->del(t, "identity/users.json", &err));
	assert_int_equal(t->get(t, "identity/users.json", &data, &len, got, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(t->del(t, "identity/users.json", &err), CUTOVER_ENOTFOUND);
	assert_non_null(strstr(err.message, "identity/users.json"));

	/* keys that would escape the root are refused before any request */
	assert_int_equal(t->get(t, "../etc/passwd", &data, &len, got, &err), CUTOVER_EINVALID);
	assert_int_equal(t->get(t, "/abs.json", &data, &len, got, &err), CUTOVER_EINVALID);
	assert_int_equal(t->put(t, "a//b.json", "{}", 2, NULL, NULL, &err), CUTOVER_EINVALID);
	t->free(t);
}

/* nginx's dav module does not evaluate If-Match / If-None-Match on PUT.
 * This test pins that down: if a future nginx starts honouring them, it
 * fails, and the docs (last writer wins over nginx) must be updated. */
static void conditional_put_over_nginx_is_last_writer_wins(void **state)
{
	(void)state;
	co_transport *a = open_root(), *b = open_root();
	char va[CO_VERSION_LEN], vb[CO_VERSION_LEN], *data = NULL;
	size_t len;
	expect_ok(a->put(a, "race.json", "{\"n\":0}", 7, NULL, NULL, &err));
	expect_ok(a->get(a, "race.json", &data, &len, va, &err)); /* writer A reads */
	free(data);
	expect_ok(b->get(b, "race.json", &data, &len, vb, &err)); /* writer B reads the same version */
	free(data);
	expect_ok(b->put(b, "race.json", "{\"n\":2222}", 10, vb, NULL, &err)); /* B writes */
	/* A writes against the version it read. With If-Match honoured this
	 * would be CUTOVER_EBUSY; nginx ignores it, and B's write is lost. */
	int rc = a->put(a, "race.json", "{\"n\":1}", 7, va, NULL, &err);
	assert_int_equal(rc, CUTOVER_OK);
	expect_ok(a->get(a, "race.json", &data, &len, va, &err));
	assert_string_equal(data, "{\"n\":1}");
	free(data);
	/* "only if absent" over an existing document: also not enforced */
	assert_int_equal(a->put(a, "race.json", "{\"n\":3}", 7, "", NULL, &err), CUTOVER_OK);
	/* the headers were sent: the access log shows both PUTs reached nginx
	 * (the transport does not pre-check and refuse on its own) */
	char line[300];
	const char *path = strstr(root, "/state");
	snprintf(line, sizeof line, "PUT %s/race.json 204", path);
	assert_true(log_wait(line, 3) >= 3);
	a->free(a);
	b->free(b);
}

/* A server that does honour preconditions answers 412: that is EBUSY. */
static void precondition_failed_is_busy(void **state)
{
	(void)state;
	char url[300];
	snprintf(url, sizeof url, "%s/status412", getenv("CUTOVER_TEST_HTTP_BASE"));
	co_transport *t = open_at(url, TOKEN);
	assert_int_equal(t->put(t, "identity/users.json", "{}", 2, "\"abc-1\"", NULL, &err), CUTOVER_EBUSY);
	assert_non_null(strstr(err.message, "changed by another writer"));
	assert_err_clean();
	t->free(t);
}

static void unauthorized_is_a_configuration_error(void **state)
{
	(void)state;
	char url[300];
	snprintf(url, sizeof url, "%s/status401", getenv("CUTOVER_TEST_HTTP_BASE"));
	co_transport *t = open_at(url, TOKEN);
	char *data = NULL, v[CO_VERSION_LEN];
	size_t len;
	assert_int_equal(t->get(t, "identity/users.json", &data, &len, v, &err), CUTOVER_ECONFIG);
	assert_non_null(strstr(err.hint, "CUTOVER_JSON_TOKEN"));
	assert_err_clean();
	t->free(t);
}

static void list_names_the_files_of_a_folder_sorted(void **state)
{
	(void)state;
	co_transport *t = open_root();
	const char *names[] = {"telemetry/events/2026-01-03.ndjson", "telemetry/events/2026-01-01.ndjson",
	                       "telemetry/events/2026-01-02.ndjson", "telemetry/events/.hidden",
	                       "telemetry/events/sub/2026-01-04.ndjson", "telemetry/incidents.json"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		expect_ok(t->put(t, names[i], "{}\n", 3, NULL, NULL, &err));
	char **keys = NULL;
	size_t n = 0;
	expect_ok(t->list(t, "telemetry/events/", &keys, &n, &err));
	assert_int_equal(n, 3);
	assert_string_equal(keys[0], "telemetry/events/2026-01-01.ndjson");
	assert_string_equal(keys[1], "telemetry/events/2026-01-02.ndjson");
	assert_string_equal(keys[2], "telemetry/events/2026-01-03.ndjson");
	co_keys_free(keys, n);
	/* an absent folder has no documents */
	expect_ok(t->list(t, "nothing/here/", &keys, &n, &err));
	assert_int_equal(n, 0);
	assert_int_equal(t->list(t, "telemetry", &keys, &n, &err), CUTOVER_EINVALID);
	/* the stream fallback reads through get */
	FILE *f = NULL;
	expect_ok(co_transport_stream(t, "telemetry/incidents.json", &f, &err));
	char buf[8] = "";
	assert_non_null(fgets(buf, sizeof buf, f));
	assert_string_equal(buf, "{}\n");
	fclose(f);
	t->free(t);
}

/* --- open_read: conditional GETs ----------------------------------------------- */

/* All of fd's bytes (malloc'd, NUL-terminated), read at offsets. */
static char *read_fd(int fd, size_t *len)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = pread(fd, b + n, (size_t)st.st_size - n, (off_t)n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

/* "GET <path of key under root> <status>" lines in the access log */
static int get_count(const char *key, int status, int want)
{
	char line[700];
	snprintf(line, sizeof line, "GET %s/%s %d", strstr(root, "/state"), key, status);
	return want < 0 ? log_count(line) : log_wait(line, want);
}

/* Wait (1 to 2 s) until the wall clock is two whole seconds past the one
 * in which this is called: what was written before is then settled for
 * the transport (Date at least 2 s after Last-Modified), and a token of
 * it is trusted for a 304. */
static void wait_settled(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	time_t until = now.tv_sec + 2;
	for (int i = 0; i < 400 && now.tv_sec < until; i++) { /* at most ~4 s */
		usleep(10000);
		clock_gettime(CLOCK_REALTIME, &now);
	}
	assert_true(now.tv_sec >= until);
}

/* Sleep to 20 ms into the next wall-clock second (past the lag of the
 * kernel's coarse clock that stamps mtimes), so that a few quick requests
 * after it fall within one second. */
static void start_of_next_second(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long ns = 1000000000L - now.tv_nsec + 20000000L;
	struct timespec d = {ns / 1000000000L, ns % 1000000000L};
	while (nanosleep(&d, &d) != 0) {
	}
}

/* Read a document through fd and compare it with want; closes fd. */
static void assert_fd_holds(int fd, const char *want)
{
	assert_true(fd >= 0);
	size_t len;
	char *data = read_fd(fd, &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	free(data);
	close(fd);
}

static void open_read_spools_a_version_and_304_costs_nothing(void **state)
{
	(void)state;
	co_transport *t = open_root(), *other = open_root();
	const char *key = "openread/users.json";
	const char *doc1 = "{\"users\":[{\"id\":1}]}", *doc2 = "{\"users\":[{\"id\":1},{\"id\":2}]}";
	char v1[CO_VERSION_LEN], v2[CO_VERSION_LEN], v[CO_VERSION_LEN];
	size_t len;
	int fd = -1;
	assert_non_null(t->open_read); /* the transport's own, not the get() fallback */
	expect_ok(other->put(other, key, doc1, strlen(doc1), "", NULL, &err));
	wait_settled(); /* a fresh version is read again in full (below) */

	/* a first read: the bytes of the document, in a private file, and a token */
	expect_ok(t->open_read(t, key, NULL, &fd, v1, &err));
	assert_true(fd >= 0);
	assert_true(v1[0] == '"'); /* nginx's ETag (etag on) */
	char *data = read_fd(fd, &len);
	assert_int_equal(len, strlen(doc1));
	assert_memory_equal(data, doc1, len);
	free(data);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 0);         /* unlinked at once */
	assert_int_equal(st.st_mode & 07777, 0600); /* private */
	close(fd);
	assert_int_equal(get_count(key, 200, 1), 1);

	/* unchanged: one more request, answered 304, no file */
	fd = 12345;
	expect_ok(t->open_read(t, key, v1, &fd, v, &err));
	assert_int_equal(fd, -1);
	assert_string_equal(v, v1);
	assert_int_equal(get_count(key, 304, 1), 1);
	assert_int_equal(get_count(key, 200, -1), 1);

	/* another client writes a new version: the new bytes and a new token.
	 * (nginx's ETag is "<mtime seconds>-<size>": doc2 is longer, so it
	 * differs even when written in the same second as doc1) */
	expect_ok(other->put(other, key, doc2, strlen(doc2), NULL, NULL, &err));
	wait_settled();
	expect_ok(t->open_read(t, key, v1, &fd, v2, &err));
	assert_true(fd >= 0);
	assert_string_not_equal(v2, v1);
	data = read_fd(fd, &len);
	assert_int_equal(len, strlen(doc2));
	assert_memory_equal(data, doc2, len);
	free(data);
	close(fd);
	assert_int_equal(get_count(key, 200, 2), 2);
	assert_int_equal(get_count(key, 304, -1), 1);
	/* the token is the one get() hands out */
	expect_ok(t->get(t, key, &data, &len, v, &err));
	free(data);
	assert_string_equal(v, v2);
	fd = 12345;
	expect_ok(t->open_read(t, key, v2, &fd, v, &err));
	assert_int_equal(fd, -1);
	assert_string_equal(v, v2);
	assert_int_equal(get_count(key, 304, 2), 2);

	/* no token, the unversioned token and "" all read unconditionally */
	expect_ok(t->open_read(t, key, "", &fd, v, &err));
	assert_true(fd >= 0);
	close(fd);
	expect_ok(t->open_read(t, key, "unversioned", &fd, v, &err));
	assert_true(fd >= 0);
	close(fd);
	/* a date token goes as If-Modified-Since (nginx: an exact match is 304) */
	char lastmod[CO_VERSION_LEN];
	{
		char cmd[800];
		/* python3 is there: tests/with-nginx.sh uses it */
		snprintf(cmd, sizeof cmd,
		         "python3 -c 'import sys, urllib.request as u; "
		         "print(u.urlopen(u.Request(sys.argv[1], method=\"HEAD\")).headers[\"Last-Modified\"])' '%s/%s'",
		         root, key);
		int status = 0;
		char *out = test_run_capture(cmd, &status);
		assert_int_equal(status, 0);
		size_t n = strcspn(out, "\n");
		assert_true(n > 0 && n < sizeof lastmod);
		memcpy(lastmod, out, n);
		lastmod[n] = '\0';
		free(out);
	}
	fd = 12345;
	expect_ok(t->open_read(t, key, lastmod, &fd, v, &err));
	assert_int_equal(fd, -1);
	assert_string_equal(v, lastmod);
	assert_int_equal(get_count(key, 304, 3), 3);

	/* an empty document is a document: an empty file */
	expect_ok(other->put(other, "openread/empty.json", "", 0, NULL, NULL, &err));
	expect_ok(t->open_read(t, "openread/empty.json", NULL, &fd, v, &err));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);

	/* a document of many body chunks arrives whole, each byte in its place */
	size_t big_len = 2u << 20;
	char *big = malloc(big_len);
	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + (i * 7 + i / 4093) % 26);
	expect_ok(other->put(other, "openread/big.json", big, big_len, NULL, NULL, &err));
	expect_ok(t->open_read(t, "openread/big.json", NULL, &fd, v, &err));
	data = read_fd(fd, &len);
	assert_int_equal(len, big_len);
	assert_memory_equal(data, big, big_len);
	free(data);
	free(big);
	close(fd);

	/* a line break in a token never reaches a header */
	assert_int_equal(t->open_read(t, key, "\"x\"\r\nX-Evil: 1", &fd, v, &err), CUTOVER_EINVALID);
	assert_int_equal(fd, -1);
	t->free(t);
	other->free(other);
}

/* nginx's ETag is "<mtime seconds>-<size>": a version of the same size
 * written within the second of the one read keeps its token, and a
 * conditional GET answers 304 for it. A token handed out less than two
 * seconds after its version was written is not trusted for that: the next
 * open_read with it reads in full, for a token from open_read and one from
 * get alike. */
static void open_read_rereads_a_version_written_within_the_second(void **state)
{
	(void)state;
	co_transport *t = open_root(), *other = open_root();
	const char *key = "fresh/users.json", *gkey = "fresh/get.json";
	const char *a = "{\"v\":\"a\"}", *b = "{\"v\":\"b\"}"; /* the same size */
	char v1[CO_VERSION_LEN], v2[CO_VERSION_LEN], vg1[CO_VERSION_LEN], vg2[CO_VERSION_LEN], *data = NULL;
	size_t len;
	int fd = -1;
	/* nginx must not be able to tell a from b: the same token before and
	 * after. A second that ends in between spoils an attempt (the tokens
	 * differ, and the test proves nothing): try again, a few times. */
	bool same = false;
	struct timespec began = {0}, now;
	for (int attempt = 0; attempt < 5 && !same; attempt++) {
		start_of_next_second();
		clock_gettime(CLOCK_REALTIME, &began);
		expect_ok(other->put(other, key, a, strlen(a), NULL, NULL, &err));
		expect_ok(other->put(other, gkey, a, strlen(a), NULL, NULL, &err));
		expect_ok(t->open_read(t, key, NULL, &fd, v1, &err));
		assert_fd_holds(fd, a);
		expect_ok(t->get(t, gkey, &data, &len, vg1, &err));
		assert_string_equal(data, a);
		free(data);
		/* another client writes b, the same size, within the same second */
		expect_ok(other->put(other, key, b, strlen(b), NULL, NULL, &err));
		expect_ok(other->put(other, gkey, b, strlen(b), NULL, NULL, &err));
		fd = 12345;
		expect_ok(t->open_read(t, key, v1, &fd, v2, &err));
		assert_fd_holds(fd, b); /* not fd -1: a 304 would keep a */
		fd = 12345;
		expect_ok(t->open_read(t, gkey, vg1, &fd, vg2, &err));
		assert_fd_holds(fd, b);
		same = strcmp(v1, v2) == 0 && strcmp(vg1, vg2) == 0;
		print_message("attempt %d: token %s, then %s\n", attempt + 1, v1, v2);
	}
	assert_true(same);
	/* nothing was answered 304: every read with those tokens was whole */
	assert_int_equal(get_count(key, 304, -1), 0);
	assert_int_equal(get_count(gkey, 304, -1), 0);

	/* b's token is unsettled too (its answer came within a second of b's
	 * write, unless this machine stalled): read in full again */
	int n200 = get_count(key, 200, -1), reread = 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec <= began.tv_sec + 1) {
		expect_ok(t->open_read(t, key, v2, &fd, v1, &err));
		assert_fd_holds(fd, b);
		assert_string_equal(v1, v2);
		reread = 1;
		assert_int_equal(get_count(key, 200, n200 + 1), n200 + 1);
	} else {
		print_message("the reads took over a second: the reread of b's token is not checked\n");
	}
	/* once settled, one more whole read (the token was handed out
	 * unsettled), and from then on the token is trusted: 304 */
	wait_settled();
	expect_ok(t->open_read(t, key, v2, &fd, v1, &err));
	assert_fd_holds(fd, b);
	assert_string_equal(v1, v2);
	fd = 12345;
	expect_ok(t->open_read(t, key, v2, &fd, v1, &err));
	assert_int_equal(fd, -1);
	assert_string_equal(v1, v2);
	assert_int_equal(get_count(key, 304, 1), 1);
	assert_int_equal(get_count(key, 200, -1), n200 + reread + 1);
	t->free(t);
	other->free(other);
}

/* A version last modified two seconds or more before the answer is
 * settled: its token, from open_read or from get, is answered 304. */
static void open_read_of_a_settled_version_answers_304(void **state)
{
	(void)state;
	co_transport *t = open_root(), *other = open_root();
	const char *key = "settled/users.json", *doc = "{\"users\":[]}";
	char v[CO_VERSION_LEN], v2[CO_VERSION_LEN], *data = NULL;
	size_t len;
	int fd = -1;
	expect_ok(other->put(other, key, doc, strlen(doc), NULL, NULL, &err));
	wait_settled();
	expect_ok(t->open_read(t, key, NULL, &fd, v, &err));
	assert_fd_holds(fd, doc);
	fd = 12345;
	expect_ok(t->open_read(t, key, v, &fd, v2, &err));
	assert_int_equal(fd, -1);
	assert_string_equal(v2, v);
	assert_int_equal(get_count(key, 304, 1), 1);
	assert_int_equal(get_count(key, 200, -1), 1);
	/* get's token too */
	expect_ok(t->get(t, key, &data, &len, v2, &err));
	free(data);
	assert_string_equal(v2, v);
	fd = 12345;
	expect_ok(t->open_read(t, key, v2, &fd, v, &err));
	assert_int_equal(fd, -1);
	assert_int_equal(get_count(key, 304, 2), 2);
	assert_int_equal(get_count(key, 200, -1), 2);
	t->free(t);
	other->free(other);
}

static void open_read_of_an_absent_document_is_not_found(void **state)
{
	(void)state;
	co_transport *t = open_root();
	char v[CO_VERSION_LEN], *data = NULL;
	size_t len;
	int fd = 12345;
	assert_int_equal(t->open_read(t, "openread/absent.json", NULL, &fd, v, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(fd, -1);
	char msg[sizeof err.message];
	snprintf(msg, sizeof msg, "%s", err.message);
	assert_non_null(strstr(msg, "openread/absent.json"));
	/* the same message get() gives */
	assert_int_equal(t->get(t, "openread/absent.json", &data, &len, v, &err), CUTOVER_ENOTFOUND);
	assert_string_equal(err.message, msg);
	/* with a token of a version that has gone meanwhile: also not found */
	assert_int_equal(t->open_read(t, "openread/absent.json", "\"5f0a-1c\"", &fd, v, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(fd, -1);
	/* keys that would escape the root are refused before any request */
	assert_int_equal(t->open_read(t, "../etc/passwd", NULL, &fd, v, &err), CUTOVER_EINVALID);
	t->free(t);
	/* other statuses are named as get() names them, and 5xx are retried */
	char url[300];
	snprintf(url, sizeof url, "%s/status401", getenv("CUTOVER_TEST_HTTP_BASE"));
	t = open_at(url, TOKEN);
	assert_int_equal(t->open_read(t, "openread.json", NULL, &fd, v, &err), CUTOVER_ECONFIG);
	assert_non_null(strstr(err.hint, "CUTOVER_JSON_TOKEN"));
	assert_err_clean();
	t->free(t);
	t = open_at(getenv("CUTOVER_TEST_HTTP_FAIL_ROOT"), TOKEN);
	assert_int_equal(t->open_read(t, "openread.json", "\"abc\"", &fd, v, &err), CUTOVER_EUNAVAILABLE);
	assert_int_equal(fd, -1);
	assert_err_clean();
	assert_int_equal(log_wait("GET /fail503/openread.json 503", 4), 4);
	t->free(t);
}

/* Read a request's head (up to the blank line) from a connection. */
static void read_request(int c)
{
	char buf[4096];
	size_t n = 0;
	while (n < sizeof buf - 1) {
		ssize_t r = read(c, buf + n, sizeof buf - 1 - n);
		if (r <= 0)
			return;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return;
	}
}

static void write_all(int c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* A 200 whose body breaks off is retried, and the retry's file holds only
 * the retry's bytes: the first attempt sends 600 of 1000 promised bytes
 * and closes; the second sends a short whole document. */
static void open_read_retry_starts_the_file_again(void **state)
{
	(void)state;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 16), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	const char *doc = "{\"ok\":true}";
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char head[300], junk[600];
		memset(junk, 'x', sizeof junk);
		int c = accept(s, NULL, NULL);
		read_request(c);
		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"first\"\r\n\r\n");
		write_all(c, head, strlen(head));
		write_all(c, junk, sizeof junk);
		close(c);
		c = accept(s, NULL, NULL);
		read_request(c);
		snprintf(head, sizeof head,
		         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nETag: \"second\"\r\nConnection: close\r\n\r\n",
		         strlen(doc));
		write_all(c, head, strlen(head));
		write_all(c, doc, strlen(doc));
		close(c);
		_exit(0);
	}
	close(s);
	char url[100], v[CO_VERSION_LEN];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/state", ntohs(a.sin_port));
	setenv("CUTOVER_HTTP_TIMEOUT", "5", 1);
	co_transport *t = open_at(url, TOKEN);
	unsetenv("CUTOVER_HTTP_TIMEOUT");
	int fd = -1;
	test_log_reset();
	expect_ok(t->open_read(t, "retry.json", NULL, &fd, v, &err));
	assert_non_null(strstr(test_log_text(), "retrying in 100 ms"));
	size_t len;
	char *data = read_fd(fd, &len);
	assert_int_equal(len, strlen(doc));
	assert_string_equal(data, doc);
	assert_string_equal(v, "\"second\"");
	free(data);
	close(fd);
	t->free(t);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* --- failures ---------------------------------------------------------------- */

static void five_hundreds_are_retried_then_reported(void **state)
{
	(void)state;
	const char *fail = getenv("CUTOVER_TEST_HTTP_FAIL_ROOT");
	co_transport *t = open_at(fail, TOKEN);
	char *data = NULL, v[CO_VERSION_LEN];
	size_t len;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_log_reset();
	assert_int_equal(t->get(t, "retry-get.json", &data, &len, v, &err), CUTOVER_EUNAVAILABLE);
	long ms = elapsed_ms(&t0);
	assert_non_null(strstr(err.message, "/fail503"));
	assert_non_null(strstr(err.message, "503"));
	assert_err_clean();
	/* one attempt and three retries, 100 + 200 + 400 ms apart */
	assert_int_equal(log_wait("GET /fail503/retry-get.json 503", 4), 4);
	assert_true(ms >= 650 && ms < 5000);
	assert_non_null(strstr(test_log_text(), "retrying in 400 ms"));
	assert_no_token(test_log_text());
	/* a full-document PUT is retried the same way (see docs/architecture.md) */
	assert_int_equal(t->put(t, "retry-put.json", "{}", 2, NULL, NULL, &err), CUTOVER_EUNAVAILABLE);
	assert_int_equal(log_wait("PUT /fail503/retry-put.json 503", 4), 4);
	/* 4xx are never retried */
	assert_int_equal(t->del(t, "x.json", &err), CUTOVER_EUNAVAILABLE);
	t->free(t);
	char url[300];
	snprintf(url, sizeof url, "%s/status401", getenv("CUTOVER_TEST_HTTP_BASE"));
	t = open_at(url, TOKEN);
	assert_int_equal(t->get(t, "once.json", &data, &len, v, &err), CUTOVER_ECONFIG);
	assert_int_equal(log_wait("GET /status401/once.json 401", 1), 1);
	t->free(t);
}

static void run_cutover(const char *url, const char *args, int want_exit)
{
	char cmd[1500];
	snprintf(cmd, sizeof cmd,
	         "CUTOVER_JSON_ROOT='%s' CUTOVER_JSON_TOKEN='%s' CUTOVER_HTTP_CONNECT_TIMEOUT=1 CUTOVER_HTTP_TIMEOUT=3 "
	         "IDENTITY_STORE=json '%s' %s 2>&1",
	         url, TOKEN, cutover_exe, args);
	int status = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char *out = test_run_capture(cmd, &status);
	long ms = elapsed_ms(&t0);
	if (status != want_exit || !strstr(out, "cannot be reached"))
		fail_msg("cutover %s exited %d (want %d):\n%s", args, status, want_exit, out);
	assert_no_token(out);
	assert_null(strstr(out, "s3cret-pw"));
	assert_true(ms < 3000 * 4 + 2000); /* each document read is bounded by CUTOVER_HTTP_TIMEOUT */
	free(out);
}

static void a_stopped_server_is_unavailable_within_the_timeout(void **state)
{
	(void)state;
	/* credentials in the URL are redacted wherever it is named */
	const char *r = getenv("CUTOVER_TEST_HTTP_ROOT");
	char url[600];
	snprintf(url, sizeof url, "http://user:s3cret-pw@%s/stopped", r + strlen("http://"));
	setenv("CUTOVER_HTTP_CONNECT_TIMEOUT", "1", 1);
	setenv("CUTOVER_HTTP_TIMEOUT", "3", 1);
	co_transport *t = open_at(url, TOKEN);
	unsetenv("CUTOVER_HTTP_CONNECT_TIMEOUT");
	unsetenv("CUTOVER_HTTP_TIMEOUT");
	assert_null(strstr(t->describe(t), "s3cret-pw"));
	assert_int_equal(test_shell(getenv("CUTOVER_TEST_HTTP_STOP")), 0);

	char *data = NULL, v[CO_VERSION_LEN];
	size_t len;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = t->get(t, "identity/users.json", &data, &len, v, &err);
	long ms = elapsed_ms(&t0);
	print_message("stopped server reported after %ld ms (limit 3000 ms)\n", ms);
	assert_int_equal(rc, CUTOVER_EUNAVAILABLE);
	assert_true(ms < 3000 + 1000); /* CUTOVER_HTTP_TIMEOUT bounds it, retries included */
	assert_non_null(strstr(err.message, "cannot be reached"));
	assert_non_null(strstr(err.message, "****@127.0.0.1"));
	assert_null(strstr(err.message, "s3cret-pw"));
	assert_null(strstr(err.detail, "s3cret-pw"));
	assert_err_clean();
	assert_int_equal(t->put(t, "identity/users.json", "{}", 2, NULL, NULL, &err), CUTOVER_EUNAVAILABLE);
	t->free(t);

	run_cutover(url, "status", 3);
	run_cutover(url, "survey identity", 3);

	assert_int_equal(test_shell(getenv("CUTOVER_TEST_HTTP_START")), 0);
	t = open_root();
	expect_ok(t->put(t, "back.json", "{}", 2, NULL, NULL, &err)); /* it serves again */
	t->free(t);
}

/* A server that accepts the connection and never answers: the total
 * timeout, not the connect timeout, ends the wait. */
static void a_silent_server_times_out(void **state)
{
	(void)state;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 16), 0); /* the kernel completes handshakes; nobody reads */
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	char url[100];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/state", ntohs(a.sin_port));
	setenv("CUTOVER_HTTP_TIMEOUT", "2", 1);
	co_transport *t = open_at(url, TOKEN);
	unsetenv("CUTOVER_HTTP_TIMEOUT");
	char *data = NULL, v[CO_VERSION_LEN];
	size_t len;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(t->get(t, "identity/users.json", &data, &len, v, &err), CUTOVER_EUNAVAILABLE);
	long ms = elapsed_ms(&t0);
	print_message("silent server reported after %ld ms (limit 2000 ms)\n", ms);
	assert_true(ms >= 1900 && ms < 2000 + 1000);
	assert_err_clean();
	t->free(t);
	close(s);
}

static void bad_configuration_is_refused_at_open(void **state)
{
	(void)state;
	co_transport *t = NULL;
	setenv("CUTOVER_HTTP_TIMEOUT", "soon", 1);
	assert_int_equal(co_transport_open(&t, root, TOKEN, &err), CUTOVER_ECONFIG);
	assert_non_null(strstr(err.message, "CUTOVER_HTTP_TIMEOUT"));
	unsetenv("CUTOVER_HTTP_TIMEOUT");
	setenv("CUTOVER_HTTP_CONNECT_TIMEOUT", "0", 1);
	assert_int_equal(co_transport_open(&t, root, TOKEN, &err), CUTOVER_ECONFIG);
	unsetenv("CUTOVER_HTTP_CONNECT_TIMEOUT");
	assert_int_equal(co_transport_open(&t, root, "line\nbreak", &err), CUTOVER_ECONFIG);
	assert_int_equal(co_transport_open(&t, "http://127.0.0.1:1/x?token=" TOKEN, NULL, &err), CUTOVER_ECONFIG);
	assert_null(t);
	/* Supabase Storage URLs: a bucket is required (no request is made) */
	assert_int_equal(co_transport_open(&t, "https://p.supabase.co/storage/v1/object/", TOKEN, &err), CUTOVER_ECONFIG);
	assert_non_null(strstr(err.hint, "/storage/v1/object/<bucket>"));
	assert_int_equal(co_transport_open(&t, "https://p.supabase.co/storage/v1/object/public/b", TOKEN, &err),
	                 CUTOVER_ECONFIG);
	expect_ok(co_transport_open(&t, "https://p.supabase.co/storage/v1/object/state/app", TOKEN, &err));
	assert_string_equal(t->describe(t), "https://p.supabase.co/storage/v1/object/state/app");
	assert_null(t->lock);
	t->free(t);
}

/* Nothing the server logged carries the token (it goes in a header, and
 * nginx's logs name only method, path and status here; the error log names
 * requests too). */
static void the_token_never_reaches_a_log(void **state)
{
	(void)state;
	assert_no_token(test_log_text());
	char *log = test_read_file(getenv("CUTOVER_TEST_HTTP_LOG"), NULL);
	assert_non_null(log);
	assert_no_token(log);
	free(log);
	log = test_read_file(getenv("CUTOVER_TEST_HTTP_ERROR_LOG"), NULL);
	assert_no_token(log);
	free(log);
}

int main(int argc, char **argv)
{
	const char *r = getenv("CUTOVER_TEST_HTTP_ROOT");
	if (argc < 2 || !r) {
		fprintf(stderr, "usage: tests/with-nginx.sh tests/with-postgres.sh test_http_transport CUTOVER_EXE\n");
		return 3;
	}
	cutover_exe = argv[1];
	snprintf(root, sizeof root, "%s/transport-%d", r, (int)getpid());
	unsetenv("CUTOVER_HTTP_TIMEOUT");
	unsetenv("CUTOVER_HTTP_CONNECT_TIMEOUT");
	unsetenv("CUTOVER_HTTP_CA_FILE");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_put_del_round_trip_with_versions),
		cmocka_unit_test(conditional_put_over_nginx_is_last_writer_wins),
		cmocka_unit_test(precondition_failed_is_busy),
		cmocka_unit_test(unauthorized_is_a_configuration_error),
		cmocka_unit_test(list_names_the_files_of_a_folder_sorted),
		cmocka_unit_test(open_read_spools_a_version_and_304_costs_nothing),
		cmocka_unit_test(open_read_rereads_a_version_written_within_the_second),
		cmocka_unit_test(open_read_of_a_settled_version_answers_304),
		cmocka_unit_test(open_read_of_an_absent_document_is_not_found),
		cmocka_unit_test(open_read_retry_starts_the_file_again),
		cmocka_unit_test(five_hundreds_are_retried_then_reported),
		cmocka_unit_test(a_stopped_server_is_unavailable_within_the_timeout),
		cmocka_unit_test(a_silent_server_times_out),
		cmocka_unit_test(bad_configuration_is_refused_at_open),
		cmocka_unit_test(the_token_never_reaches_a_log),
	};
	test_log_capture();
	int failed = cmocka_run_group_tests_name("json transport over HTTP (nginx)", tests, NULL, NULL);
	test_log_reset();
	return failed ? 1 : 0;
}
