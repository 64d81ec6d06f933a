/* test_events_index.c — the daily event files served from cached indexes.
 *
 * telemetry/events/YYYY-MM-DD.ndjson is indexed per handle (json_index.h's
 * NDJSON mode, keyed by event id; the 8 most recently used days), and
 * append, put and link stream the day's new version. Here:
 *  - appending keeps every other byte of a day file written by hand (a
 *    byte order mark, CRLF lines, blank lines, a line that is not JSON, no
 *    newline at the end), again on the index the first append carried
 *    over; a link rewrites only its line (its '\r' kept); lines are still
 *    reported by their number in the file, blank lines counted;
 *  - another process's append is seen by the next query, link and append
 *    of the first (over a directory, and over HTTP when run under
 *    tests/with-nginx.sh);
 *  - a batch spanning more days than the cache holds, then links and
 *    look-ups across all of them;
 *  - a look-up by id on an unchanged day does not read the file again (the
 *    bytes read, from /proc/self/io);
 *  - memory: a child process appends one event to a day file of 100,000
 *    and of 400,000 events (cutover-gen-telemetry); its peak RSS (VmHWM)
 *    may grow by the index (about 40 bytes an event), not by the file
 *    (about 300 bytes an event, which reading it whole would cost twice).
 *    Nothing is timed.
 *
 * usage: test_events_index GEN_TELEMETRY_BIN
 *        test_events_index --rss-child ROOT   (the measured child)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json_doc.h"
#include "json_encode.h"
#include "support.h"
#include "telemetry_int.h"

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

static cutover_ts ts(const char *text)
{
	cutover_ts t = 0;
	assert_int_equal(cutover_ts_parse(text, &t), CUTOVER_OK);
	return t;
}


static cutover_telemetry *open_json(const char *root)
{
	cutover_telemetry *s = NULL;
	ok(cutover_telemetry_json(&s, root, NULL, &err));
	return s;
}

static int64_t append_one(cutover_telemetry *s, const char *at, char *region)
{
	cutover_event in = {.occurred_at = ts(at), .severity = "low", .region = region, .payload = "{\"k\": 1}"};
	cutover_event_list out = {0};
	ok(cutover_telemetry_append_events(s, &out, &in, 1, &err));
	assert_int_equal(out.n, 1);
	int64_t id = out.items[0].id;
	cutover_event_list_free(&out);
	return id;
}

/* The events of a query over everything (up to 1000), ids in order. */
static size_t query_ids(cutover_telemetry *s, int64_t *ids, size_t max)
{
	cutover_event_page p = {0};
	cutover_event_query q = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .limit = 1000};
	ok(cutover_telemetry_query_events(s, &p, &q, &err));
	size_t n = p.n < max ? p.n : max;
	for (size_t i = 0; i < n; i++)
		ids[i] = p.items[i].id;
	cutover_event_page_free(&p);
	return n;
}

static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* --- appending keeps every other byte ------------------------------------------ */

#define DAY_KEY "telemetry/events/2026-03-01.ndjson"

/* Written by the old app and by hand: a byte order mark, a CRLF line, blank
 * lines (one of spaces), a line that is not JSON, a misfiled event, no
 * newline at the end. Lines: 1 event 1, 2 event 2 (CRLF), 3 blank, 4 "not
 * json", 5 spaces, 6 blank, 7 event 3 (misfiled: another day's time), 8
 * event 4 with an unknown field, no newline. */
static const char DAY[] =
    "\xEF\xBB\xBF{\"id\": 1, \"occurred_at\": \"2026-03-01T01:00:00Z\", \"severity\": \"low\", \"region\": \"eu-west\"}\n"
    "{\"id\":2,\"occurred_at\":\"2026-03-01T02:00:00Z\",\"severity\":\"high\",\"payload\":{\"b\":1, \"a\":2}}\r\n"
    "\n"
    "not json\n"
    "   \n"
    "\n"
    "{\"id\": 3, \"occurred_at\": \"2026-03-02T00:00:00Z\", \"severity\": \"low\"}\n"
    "{\"id\": 4, \"occurred_at\": \"2026-03-01T04:00:00.5Z\", \"severity\": \"medium\", \"sensor\": \"v3\"}";

static void append_keeps_every_other_byte(void **state)
{
	(void)state;
	for (int r = 0; r < n_roots; r++) {
		char root[400];
		test_fresh_root(root, sizeof root, roots[r], "bytes");
		test_put_key(root, DAY_KEY, DAY, strlen(DAY));
		test_put_key(root, "telemetry/incidents.json",
		        "{\"incidents\": [{\"id\": 9, \"title\": \"T\", \"state\": \"open\", \"severity\": \"low\","
		        " \"opened_at\": \"2026-01-01T00:00:00Z\", \"resolved_at\": null}]}\n",
		        strlen("{\"incidents\": [{\"id\": 9, \"title\": \"T\", \"state\": \"open\", \"severity\": \"low\","
		               " \"opened_at\": \"2026-01-01T00:00:00Z\", \"resolved_at\": null}]}\n"));
		cutover_telemetry *s = open_json(root);

		/* the first append: the old bytes, a newline (there was none at
		 * the end), the new line */
		int64_t a = append_one(s, "2026-03-01T05:00:00Z", "first");
		assert_true(a == 5);
		size_t len1 = 0;
		char *after1 = test_get_key(root, DAY_KEY, &len1);
		assert_memory_equal(after1, DAY, strlen(DAY));
		assert_int_equal(after1[strlen(DAY)], '\n');
		const char *line1 = after1 + strlen(DAY) + 1;
		assert_non_null(strstr(line1, "\"id\":5,"));
		assert_non_null(strstr(line1, "\"region\":\"first\""));
		assert_true(strchr(line1, '\n') == after1 + len1 - 1);

		/* the second, on the index the first carried over: no extra newline */
		int64_t b = append_one(s, "2026-03-01T06:00:00Z", "second");
		assert_true(b == 6);
		size_t len2 = 0;
		char *after2 = test_get_key(root, DAY_KEY, &len2);
		assert_memory_equal(after2, after1, len1);
		assert_non_null(strstr(after2 + len1, "\"id\":6,"));
		assert_true(strchr(after2 + len1, '\n') == after2 + len2 - 1);

		/* linking event 2 rewrites only its line, and keeps its '\r' */
		cutover_event *linked = NULL;
		ok(cutover_telemetry_link_event(s, &linked, 2, 9, &err));
		assert_true(linked->incident_id == 9);
		cutover_event_free(linked);
		size_t len3 = 0;
		char *after3 = test_get_key(root, DAY_KEY, &len3);
		const char *l2 = strchr(after2, '\n') + 1, *l2end = strstr(l2, "\r\n");
		const char *n2 = strchr(after3, '\n') + 1, *n2end = strstr(n2, "\r\n");
		assert_non_null(l2end);
		assert_non_null(n2end);
		assert_memory_equal(after3, after2, (size_t)(l2 - after2));                  /* before it */
		assert_string_equal(n2end, l2end);                                          /* after it */
		assert_non_null(strstr(n2, "\"incident_id\":9"));
		assert_true(memchr(n2, '\n', (size_t)(n2end - n2)) == NULL);

		/* unreadable lines are reported by their line, blank ones counted */
		test_log_reset();
		int64_t ids[32];
		size_t n = query_ids(s, ids, 32);
		assert_int_equal(n, 5);
		assert_true(ids[0] == 1 && ids[1] == 2 && ids[2] == 4 && ids[3] == 5 && ids[4] == 6);
		assert_non_null(strstr(test_log_text(), "skipped 2 unreadable event lines, the first at " DAY_KEY " line 4"));
		/* a link to the misfiled event names its line (7) and writes nothing */
		assert_int_equal(cutover_telemetry_link_event(s, NULL, 3, 9, &err), CUTOVER_ECORRUPT);
		assert_non_null(strstr(err.message, DAY_KEY " line 7 (id 3)"));
		size_t len4 = 0;
		char *after4 = test_get_key(root, DAY_KEY, &len4);
		assert_true(len4 == len3 && memcmp(after4, after3, len3) == 0);

		/* put replaces event 4 in place: its unknown field stays, the
		 * bytes before and after its line too */
		cutover_event same = {.id = 4, .occurred_at = ts("2026-03-01T04:00:00.5Z"), .severity = "critical",
		                      .payload = "{}"};
		ok(s->put_events(s, &same, 1, &err));
		size_t len5 = 0;
		char *after5 = test_get_key(root, DAY_KEY, &len5);
		const char *l4 = strstr(after4, "{\"id\": 4,"), *l4end = strchr(l4, '\n');
		const char *n4 = strstr(after5, "{\"id\":4,"), *n4end = strchr(n4, '\n');
		assert_non_null(n4);
		assert_memory_equal(after5, after4, (size_t)(l4 - after4));
		assert_string_equal(n4end, l4end);
		assert_non_null(strstr(n4, "\"sensor\":\"v3\""));
		assert_non_null(strstr(n4, "\"severity\":\"critical\""));

		/* a handle that never wrote reads what the first one wrote */
		cutover_telemetry *o = open_json(root);
		cutover_event_list got = {0};
		int64_t want[] = {2, 4, 6, 3};
		ok(co_json_telemetry_get_events(o, want, 4, &got, &err));
		assert_int_equal(got.n, 3); /* 3 is misfiled */
		assert_true(got.items[0].id == 2 && got.items[0].incident_id == 9);
		assert_true(got.items[1].id == 4 && strcmp(got.items[1].severity, "critical") == 0);
		assert_true(got.items[2].id == 6);
		cutover_event_list_free(&got);
		cutover_telemetry_free(o);

		free(after1);
		free(after2);
		free(after3);
		free(after4);
		free(after5);
		cutover_telemetry_free(s);
	}
}

/* --- another process's append ------------------------------------------------------ */

static void another_process_append_is_seen(void **state)
{
	(void)state;
	for (int r = 0; r < n_roots; r++) {
		char root[400];
		test_fresh_root(root, sizeof root, roots[r], "seen");
		cutover_telemetry *a = open_json(root);
		cutover_incident in = {.title = "Seen", .state = "open", .severity = "high", .opened_at = CUTOVER_TS_NULL,
		                       .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL},
		                 *inc = NULL;
		ok(cutover_telemetry_create_incident(a, &inc, &in, &err));
		int64_t incident = inc->id;
		cutover_incident_free(inc);
		int64_t mine = append_one(a, "2026-04-01T10:00:00Z", "a");
		/* a's index of the day is current; a link and a look-up use it */
		ok(cutover_telemetry_link_event(a, NULL, mine, incident, &err));

		for (int round = 0; round < 3; round++) {
			int fds[2];
			assert_int_equal(pipe(fds), 0);
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) { /* another app process */
				alarm(60);
				close(fds[0]);
				cutover_telemetry *b = NULL;
				cutover_event ev = {.occurred_at = ts("2026-04-01T11:00:00Z"), .severity = "high",
				                    .region = "b", .payload = "{}"};
				cutover_event_list out = {0};
				if (cutover_telemetry_json(&b, root, NULL, &err) != CUTOVER_OK ||
				    cutover_telemetry_append_events(b, &out, &ev, 1, &err) != CUTOVER_OK)
					_exit(1); /* never back into the test runner */
				int64_t id = out.items[0].id;
				cutover_event_list_free(&out);
				cutover_telemetry_free(b);
				if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id)
					_exit(1);
				_exit(0);
			}
			close(fds[1]);
			int status = 0;
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			int64_t theirs = 0;
			assert_int_equal(read(fds[0], &theirs, sizeof theirs), (ssize_t)sizeof theirs);
			close(fds[0]);
			assert_true(theirs > mine);

			/* the next query sees it */
			int64_t ids[64];
			size_t n = query_ids(a, ids, 64);
			assert_true(has_id(ids, n, theirs));
			/* the next link finds it (a's index of the day was stale) */
			cutover_event *linked = NULL;
			ok(cutover_telemetry_link_event(a, &linked, theirs, incident, &err));
			assert_true(linked->id == theirs && linked->incident_id == incident);
			cutover_event_free(linked);
			/* the next append neither loses their line nor reuses their id */
			int64_t next = append_one(a, "2026-04-01T12:00:00Z", "a");
			assert_true(next > theirs);
			cutover_event_list got = {0};
			int64_t want[] = {mine, theirs, next};
			ok(co_json_telemetry_get_events(a, want, 3, &got, &err));
			assert_int_equal(got.n, 3);
			assert_true(got.items[1].incident_id == incident && strcmp(got.items[1].region, "b") == 0);
			cutover_event_list_free(&got);
			/* an explicit id they took is refused */
			cutover_event dup = {.id = theirs, .occurred_at = ts("2026-04-02T00:00:00Z"), .severity = "low"};
			cutover_event_list out = {0};
			assert_int_equal(cutover_telemetry_append_events(a, &out, &dup, 1, &err), CUTOVER_ECONFLICT);
			mine = next;
		}
		cutover_telemetry_free(a);
	}
}

/* --- more days than the cache holds ------------------------------------------------- */

#define N_DAYS 11

static void more_days_than_the_cache(void **state)
{
	(void)state;
	for (int r = 0; r < n_roots; r++) {
		char root[400];
		test_fresh_root(root, sizeof root, roots[r], "days");
		cutover_telemetry *s = open_json(root);
		cutover_incident in = {.title = "Days", .state = "open", .severity = "low", .opened_at = CUTOVER_TS_NULL,
		                       .resolved_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL},
		                 *inc = NULL;
		ok(cutover_telemetry_create_incident(s, &inc, &in, &err));
		int64_t incident = inc->id;
		cutover_incident_free(inc);
		/* one batch, two events a day over N_DAYS days, interleaved */
		cutover_event ev[2 * N_DAYS];
		char at[2 * N_DAYS][32];
		for (int i = 0; i < 2 * N_DAYS; i++) {
			snprintf(at[i], sizeof at[i], "2026-05-%02dT%02d:00:00Z", 1 + i % N_DAYS, 1 + i / N_DAYS);
			ev[i] = (cutover_event){.occurred_at = ts(at[i]), .severity = "medium", .payload = "{}"};
		}
		cutover_event_list out = {0};
		ok(cutover_telemetry_append_events(s, &out, ev, 2 * N_DAYS, &err));
		assert_int_equal(out.n, 2 * N_DAYS);
		int64_t ids[2 * N_DAYS];
		for (int i = 0; i < 2 * N_DAYS; i++)
			ids[i] = out.items[i].id;
		cutover_event_list_free(&out);
		/* each day's file holds its two lines, in batch order */
		for (int d = 0; d < N_DAYS; d++) {
			char key[64], want[256];
			snprintf(key, sizeof key, "telemetry/events/2026-05-%02d.ndjson", d + 1);
			char *text = test_get_key(root, key, NULL);
			snprintf(want, sizeof want, "{\"id\":%lld,", (long long)ids[d]);
			assert_true(strncmp(text, want, strlen(want)) == 0);
			snprintf(want, sizeof want, "\n{\"id\":%lld,", (long long)ids[d + N_DAYS]);
			assert_non_null(strstr(text, want));
			free(text);
		}
		/* links from the newest day back and from the oldest on: every day
		 * indexed, evicted and indexed again along the way */
		for (int k = 0; k < 2 * N_DAYS; k++) {
			int i = k % 2 ? k / 2 : 2 * N_DAYS - 1 - k / 2;
			cutover_event *linked = NULL;
			ok(cutover_telemetry_link_event(s, &linked, ids[i], incident, &err));
			assert_true(linked->id == ids[i] && linked->occurred_at == ev[i].occurred_at);
			cutover_event_free(linked);
		}
		/* a put batch over every day: replaced in place, nothing added */
		for (int i = 0; i < 2 * N_DAYS; i++) {
			ev[i].id = ids[i];
			ev[i].severity = "critical";
			ev[i].incident_id = incident;
		}
		ok(s->put_events(s, ev, 2 * N_DAYS, &err));
		cutover_event_list got = {0};
		ok(co_json_telemetry_get_events(s, ids, 2 * N_DAYS, &got, &err));
		assert_int_equal(got.n, 2 * N_DAYS);
		for (size_t i = 0; i < got.n; i++)
			assert_true(strcmp(got.items[i].severity, "critical") == 0 && got.items[i].incident_id == incident);
		cutover_event_list_free(&got);
		int64_t q[4 * N_DAYS];
		assert_int_equal(query_ids(s, q, 4 * N_DAYS), 2 * N_DAYS);
		/* an explicit id below the counter, held by one of the days */
		cutover_event dup = {.id = ids[3], .occurred_at = ts("2026-06-01T00:00:00Z"), .severity = "low"};
		assert_int_equal(cutover_telemetry_append_events(s, &out, &dup, 1, &err), CUTOVER_ECONFLICT);
		cutover_telemetry_free(s);
	}
}

/* --- reading only what a look-up touches ---------------------------------------------- */

/* Bytes this process has read so far (rchar: read and pread included). */
static long long bytes_read(void)
{
	char line[128];
	long long v = -1;
	FILE *f = fopen("/proc/self/io", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "rchar:", 6) == 0)
			v = atoll(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* Generate a day of `events` events under a fresh root, with the counter. */
static void generate_day(char *root, size_t len, int events)
{
	char cmd[1024];
	test_fresh_root(root, len, local_root, "gen");
	snprintf(cmd, sizeof cmd, "%s --out %s --events %d --days 1 --incidents 5 --quiet", gen_bin, root, events);
	assert_int_equal(test_shell(cmd), 0);
	char counter[64];
	int n = snprintf(counter, sizeof counter, "{\"next_id\":%d}\n", events + 1);
	test_put_key(root, CO_EVENT_COUNTER_KEY, counter, (size_t)n);
}

static void lookups_do_not_reread_the_file(void **state)
{
	(void)state;
	if (bytes_read() < 0)
		skip();
	char root[300];
	generate_day(root, sizeof root, 50000);
	cutover_telemetry *s = open_json(root);
	int64_t ids[] = {17, 25000, 49999};
	cutover_event_list got = {0};
	long long before = bytes_read();
	ok(co_json_telemetry_get_events(s, ids, 3, &got, &err)); /* indexes the day: reads it once */
	long long first = bytes_read() - before;
	assert_int_equal(got.n, 3);
	cutover_event_list_free(&got);
	before = bytes_read();
	ok(co_json_telemetry_get_events(s, ids, 3, &got, &err)); /* unchanged: three lines read */
	long long again = bytes_read() - before;
	assert_int_equal(got.n, 3);
	cutover_event_list_free(&got);
	fprintf(stderr, "bytes read by a look-up of 3 events in a 50,000-event day: %lld indexing, %lld after\n", first,
	        again);
	assert_true(first > 10 * 1000 * 1000); /* the file is about 15 MB */
	assert_true(again < 64 * 1024);
	cutover_telemetry_free(s);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	test_shell(cmd);
}

/* --- memory -------------------------------------------------------------------------------- */

/* The measured child: one event appended to the generated day; prints its
 * peak RSS in KiB. */
static int rss_child(const char *root)
{
	cutover_error e;
	cutover_telemetry *s = NULL;
	cutover_event in = {.occurred_at = 0, .severity = "high", .region = "rss", .payload = "{\"x\": 1}"};
	cutover_event_list out = {0};
	cutover_ts_parse("2026-01-01T23:59:00Z", &in.occurred_at);
	if (cutover_telemetry_json(&s, root, NULL, &e) || cutover_telemetry_append_events(s, &out, &in, 1, &e)) {
		cutover_error_fprint(stderr, &e);
		return 1;
	}
	cutover_event_list_free(&out);
	cutover_telemetry_free(s);
	long kib = test_vmhwm_kib();
	printf("%ld\n", kib);
	return kib > 0 ? 0 : 1;
}

/* Peak RSS in KiB of a child appending one event to a day of `events`
 * events; *file gets the day file's size in bytes. */
static long measure(int events, long long *file)
{
	char root[300], cmd[1024];
	generate_day(root, sizeof root, events);
	struct stat st;
	snprintf(cmd, sizeof cmd, "%s/telemetry/events/2026-01-01.ndjson", root);
	assert_int_equal(stat(cmd, &st), 0);
	*file = (long long)st.st_size;
	/* a process of its own (the sanitizer's quarantine would otherwise
	 * hold every freed block) */
	snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=quarantine_size_mb=0:detect_leaks=0 timeout 300 %s --rss-child %s",
	         self_bin, root);
	int status;
	char *out = test_run_capture(cmd, &status);
	assert_int_equal(status, 0);
	long kib = atol(out);
	free(out);
	/* the event went in at the end, after every old byte */
	snprintf(cmd, sizeof cmd, "%s/telemetry/events/2026-01-01.ndjson", root);
	struct stat after;
	assert_int_equal(stat(cmd, &after), 0);
	assert_true(after.st_size > st.st_size);
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	test_shell(cmd);
	assert_true(kib > 0);
	return kib;
}

static void append_memory_stays_flat(void **state)
{
	(void)state;
	long long small_file = 0, big_file = 0;
	long small = measure(100000, &small_file), big = measure(400000, &big_file);
	long grown = big - small, file_grown = (long)((big_file - small_file) / 1024);
	fprintf(stderr,
	        "peak RSS of appending one event: %.1f MiB to a day of 100,000 events (%.1f MiB file), %.1f MiB to "
	        "400,000 (%.1f MiB file): %+.1f MiB for %+.1f MiB of file\n",
	        small / 1024.0, small_file / 1048576.0, big / 1024.0, big_file / 1048576.0, grown / 1024.0,
	        file_grown / 1024.0);
	/* The index grows with the file (16 bytes a line, 8 to 16 in the id
	 * table; about 12 MiB for the 300,000 events between the two), the
	 * file's bytes are never held: reading the day whole and building its
	 * new text would add twice the file's growth (about 170 MiB). */
#ifdef TEST_UNDER_ASAN
	assert_true(grown < 24 * 1024); /* the sanitizer's shadow and redzones of the index too */
#else
	assert_true(grown < 20 * 1024);
#endif
	assert_true(grown < file_grown / 4);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--rss-child") == 0)
		return rss_child(argv[2]);
	if (argc < 2) {
		fprintf(stderr, "usage: %s GEN_TELEMETRY_BIN\n", argv[0]);
		return 2;
	}
	gen_bin = argv[1];
	self_bin = argv[0];
	snprintf(local_root, sizeof local_root, "/tmp/cutover-evix-XXXXXX");
	if (!(n_roots = test_state_roots(roots, local_root)))
		return 3;
	fprintf(stderr, "state roots: %s%s%s\n", roots[0], n_roots > 1 ? " and " : "", n_roots > 1 ? roots[1] : "");
	test_log_capture();
	alarm(900);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_keeps_every_other_byte),
		cmocka_unit_test(another_process_append_is_seen),
		cmocka_unit_test(more_days_than_the_cache),
		cmocka_unit_test(lookups_do_not_reread_the_file),
		cmocka_unit_test(append_memory_stays_flat),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", local_root);
	test_shell(cmd);
	return rc;
}
