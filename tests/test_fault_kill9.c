/* test_fault_kill9.c — an app killed with SIGKILL in the middle of a write.
 *
 * A local state directory is seeded with documents of about half a
 * megabyte each (identity/users.json, profile/profiles.json,
 * reports/reports.json and one telemetry daily file), so a write takes a
 * while. Then, round after round,
 * a child process opens the four domains in the json stage and writes in a
 * loop (bounded): a user's display name, a whole portfolio, a report's
 * title, one appended event; before each call it tells the parent what it
 * is about to write, after it what it committed (a pipe). The parent kills
 * it with SIGKILL at varied points — after a varied number of writes, at a
 * varied delay into one — and then checks each document:
 *
 *  - it parses as a whole (each line of the daily file too, and the file
 *    ends with a newline): never torn, never empty;
 *  - it is exactly one of the states the child wrote: the last committed
 *    value, or the one in flight when it died (the record count and every
 *    other record are as seeded);
 *  - nothing left in the directory can be taken for state: leftovers are
 *    only the writer's dot-named temp files, which listings skip, and the
 *    json backend reads exactly the seeded and committed records;
 *  - no lock is left held (each lock file takes LOCK_EX|LOCK_NB at once), and
 *    the next round's writer proceeds and commits.
 *
 * Last, the temp files the killed writers left, made a minute old, are
 * removed by the next put of their document; a young one and one whose
 * process still lives are kept.
 *
 * usage: test_fault_kill9 [ROUNDS]   (default 50)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fault_ops.h"
#include "json_store.h"
#include "support.h"

#define SEED_USERS 1500
#define SEED_PROFILES 20
#define SEED_REPORTS 150
#define SEED_EVENTS 500
#define WRITES_MAX 400        /* per child: the loop is bounded */
#define ROUND_MAX_S 10.0      /* a child is killed by then whatever happens */
#define DAY_KEY "telemetry/events/2024-03-01.ndjson"
#define DAY_START 1709251200000000LL /* 2024-03-01T00:00:00Z */

enum { K_USER, K_PROFILE, K_REPORT, K_EVENT, K_COUNT };
static const char kind_char[K_COUNT] = {'I', 'P', 'R', 'T'};
static const char *const kind_doc[K_COUNT] = {"identity/users.json", "profile/profiles.json", "reports/reports.json",
					      DAY_KEY};

static char root[128];
static int rounds = 50;
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* --- seeding ------------------------------------------------------------------ */

static void write_file(const char *key, const co_buf *b)
{
	char path[512], dir[512];
	snprintf(path, sizeof path, "%s/%s", root, key);
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
	assert_int_equal(test_shell(cmd), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

static void pad(co_buf *b, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i++)
		co_buf_put(b, &"abcdefghijklmnopqrstuvwxyz 0123456789"[(i * 7 + salt) % 37], 1);
}

static void seed(void)
{
	co_buf b = {0};
	co_buf_puts(&b, "{\"users\": [\n");
	for (int i = 1; i <= SEED_USERS; i++) {
		co_buf_printf(&b, "%s{\"id\": %d, \"email\": \"user%d@example.com\", \"role\": \"analyst\", "
				  "\"created_at\": \"2023-01-01T00:00:00Z\", \"display_name\": \"seed\", \"note\": \"",
			      i > 1 ? ",\n" : "", i, i);
		pad(&b, 300, (unsigned)i);
		co_buf_puts(&b, "\"}");
	}
	co_buf_puts(&b, "\n]}\n");
	write_file(kind_doc[K_USER], &b);
	co_buf_free(&b);

	co_buf_puts(&b, "{\"profiles\": [\n");
	for (int i = 1; i <= SEED_PROFILES; i++) {
		co_buf_printf(&b, "%s{\"user_id\": %d, \"headline\": \"seed\", \"specialties\": [\"dfir\"], "
				  "\"tools\": [], \"certifications\": [], \"education\": [], \"bio\": \"",
			      i > 1 ? ",\n" : "", i);
		pad(&b, 30000, (unsigned)i);
		co_buf_puts(&b, "\", \"updated_at\": \"2023-01-01T00:00:00Z\"}");
	}
	co_buf_puts(&b, "\n]}\n");
	write_file(kind_doc[K_PROFILE], &b);
	co_buf_free(&b);

	co_buf_puts(&b, "{\"reports\": [\n");
	for (int i = 1; i <= SEED_REPORTS; i++) {
		co_buf_printf(&b, "%s{\"id\": %d, \"title\": \"seed\", \"severity\": \"low\", \"status\": \"active\", "
				  "\"tags\": [\"x\"], \"author_id\": %d, \"created_at\": \"2023-02-01T00:00:00Z\", "
				  "\"actions\": [], \"content\": \"",
			      i > 1 ? ",\n" : "", i, 1 + i % SEED_USERS);
		pad(&b, 4000, (unsigned)i);
		co_buf_puts(&b, "\"}");
	}
	co_buf_puts(&b, "\n]}\n");
	write_file(kind_doc[K_REPORT], &b);
	co_buf_free(&b);

	for (int i = 1; i <= SEED_EVENTS; i++) {
		char at[40];
		cutover_ts_format(DAY_START + (int64_t)i * 1000000, at, sizeof at);
		co_buf_printf(&b, "{\"id\": %d, \"occurred_at\": \"%s\", \"severity\": \"low\", \"region\": \"eu\", "
				  "\"payload\": {\"seed\": %d, \"pad\": \"",
			      i, at, i);
		pad(&b, 1000, (unsigned)i);
		co_buf_puts(&b, "\"}}\n");
	}
	write_file(DAY_KEY, &b);
	co_buf_free(&b);
}

/* --- the writer (a child process) ---------------------------------------------------- */

static void say(int fd, char what, int kind, long n, const char *msg)
{
	char line[300];
	int len = snprintf(line, sizeof line, "%c %c %ld %.200s\n", what, kind_char[kind], n, msg ? msg : "");
	if (write(fd, line, (size_t)len) != len)
		_exit(90);
}

static void writer(int fd, long base, long writes)
{
	cutover_options o = {.stage = "json", .json_root = root, .journal_dir = root};
	cutover_error err;
	cutover_identity *id = NULL;
	cutover_profile *pr = NULL;
	cutover_reports *rep = NULL;
	cutover_telemetry *tel = NULL;
	if (cutover_identity_open(&id, &o, &err) || cutover_profile_open(&pr, &o, &err) ||
	    cutover_reports_open(&rep, &o, &err) || cutover_telemetry_open(&tel, &o, &err)) {
		say(fd, 'E', 0, 0, err.message);
		_exit(2);
	}
	co_buf bio = {0};
	pad(&bio, 30000, (unsigned)base);
	for (long i = 0; i < writes; i++) {
		long n = base + i;
		int kind = (int)(i % K_COUNT);
		char v[32];
		snprintf(v, sizeof v, "v%ld", n);
		say(fd, 'B', kind, n, NULL);
		int rc;
		if (kind == K_USER) {
			cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = v};
			cutover_user *u = NULL;
			rc = cutover_identity_update_user(id, &u, 1, &p, &err);
			cutover_user_free(u);
		} else if (kind == K_PROFILE) {
			char *spec[] = {"dfir", "malware"};
			cutover_portfolio in = {.user_id = 1, .headline = v, .bio = bio.data, .specialties = spec,
						.n_specialties = 2, .updated_at = CUTOVER_TS_NULL};
			rc = cutover_profile_put(pr, NULL, &in, &err);
		} else if (kind == K_REPORT) {
			cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = v};
			cutover_report *r = NULL;
			rc = cutover_reports_update(rep, &r, 1, &p, &err);
			cutover_report_free(r);
		} else {
			char payload[64];
			snprintf(payload, sizeof payload, "{\"seq\":%ld}", n);
			cutover_event ev = {.occurred_at = DAY_START + 43200000000LL + n, .severity = "high",
					    .region = "eu", .payload = payload};
			rc = cutover_telemetry_append_events(tel, NULL, &ev, 1, &err);
		}
		say(fd, rc == CUTOVER_OK ? 'C' : 'E', kind, n, rc == CUTOVER_OK ? NULL : err.message);
		if (rc != CUTOVER_OK)
			_exit(3);
	}
	co_buf_free(&bio);
	cutover_identity_free(id);
	cutover_profile_free(pr);
	cutover_reports_free(rep);
	cutover_telemetry_free(tel);
	_exit(0);
}

/* --- what the parent knows ------------------------------------------------------------- */

typedef struct known {
	char committed[K_COUNT][32]; /* last committed value ("seed" at first) */
	long events;                 /* events the writers committed so far */
	long last_seq;               /* the seq of the last committed event */
} known;

typedef struct round_log {
	long inflight[K_COUNT]; /* n begun and not committed when it died; -1: none */
	int begun, committed;
	double began_at;        /* when the last 'B' arrived */
	double write_s;         /* sum of commit - begin */
	int writes_timed;
	char error[300];
} round_log;

/* Read the child's lines that are ready (or wait up to ms for one). */
static bool read_lines(int fd, char *buf, size_t *have, size_t cap, round_log *rl, known *k, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return true;
	ssize_t r = read(fd, buf + *have, cap - 1 - *have);
	if (r <= 0)
		return false; /* EOF: the child is gone */
	*have += (size_t)r;
	buf[*have] = '\0';
	char *line = buf, *nl;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		char what, kc;
		long n;
		if (sscanf(line, "%c %c %ld", &what, &kc, &n) == 3) {
			int kind = (int)(strchr("IPRT", kc) - "IPRT");
			if (what == 'B') {
				rl->inflight[kind] = n;
				rl->begun++;
				rl->began_at = fault_now();
			} else if (what == 'C') {
				rl->inflight[kind] = -1;
				rl->committed++;
				rl->write_s += fault_now() - rl->began_at;
				rl->writes_timed++;
				snprintf(k->committed[kind], sizeof k->committed[kind], "v%ld", n);
				if (kind == K_EVENT) {
					k->events++;
					k->last_seq = n;
				}
			} else if (what == 'E') {
				snprintf(rl->error, sizeof rl->error, "%s", line);
			}
		}
		line = nl + 1;
	}
	*have = strlen(line);
	memmove(buf, line, *have + 1);
	return true;
}

/* --- checks ---------------------------------------------------------------------------- */

static char *read_doc(const char *key, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, key);
	char *data = test_read_file(path, len);
	if (!data)
		fail_msg("%s is missing", key);
	return data;
}

/* The value of field in the record of the collection whose key field is id. */
static const cJSON *record(const cJSON *doc, const char *coll, const char *key, int id)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, coll))
	{
		const cJSON *v = cJSON_GetObjectItem(r, key);
		if (cJSON_IsNumber(v) && v->valueint == id)
			return r;
	}
	return NULL;
}

/* The document parses and record 1's field holds the committed or the
 * in-flight value; the collection still has its seeded count. Returns
 * true when the in-flight write landed. */
static bool check_collection(int kind, const char *coll, const char *key, const char *field, int count,
			     known *k, const round_log *rl, int round)
{
	size_t len = 0;
	char *data = read_doc(kind_doc[kind], &len);
	if (len == 0)
		fail_msg("round %d: %s is empty", round, kind_doc[kind]);
	cJSON *doc = cJSON_ParseWithLength(data, len);
	if (!doc)
		fail_msg("round %d: %s does not parse (%zu bytes; torn?)", round, kind_doc[kind], len);
	const cJSON *arr = cJSON_GetObjectItem(doc, coll);
	assert_int_equal(cJSON_GetArraySize(arr), count);
	const cJSON *v = cJSON_GetObjectItem(record(doc, coll, key, 1), field);
	assert_true(cJSON_IsString(v));
	char inflight[32] = "";
	if (rl->inflight[kind] >= 0)
		snprintf(inflight, sizeof inflight, "v%ld", rl->inflight[kind]);
	bool landed = inflight[0] && strcmp(v->valuestring, inflight) == 0;
	if (!landed && strcmp(v->valuestring, k->committed[kind]) != 0)
		fail_msg("round %d: %s holds %s=%s; the writer committed %s%s%s", round, kind_doc[kind], field,
			 v->valuestring, k->committed[kind], inflight[0] ? " and had in flight " : "", inflight);
	/* every other record is as seeded (the document is one state, whole) */
	const cJSON *r = cJSON_GetArrayItem(arr, count - 1);
	assert_non_null(r);
	const cJSON *last = cJSON_GetObjectItem(r, field);
	assert_true(cJSON_IsString(last) && strcmp(last->valuestring, "seed") == 0);
	if (landed)
		snprintf(k->committed[kind], sizeof k->committed[kind], "%s", inflight);
	cJSON_Delete(doc);
	free(data);
	return landed;
}

/* Every line parses, the file ends with a newline, the writers' events are
 * seq-ordered and there are as many as committed (one more if the one in
 * flight landed). */
static bool check_events(known *k, const round_log *rl, int round)
{
	size_t len = 0;
	char *data = read_doc(DAY_KEY, &len);
	if (len == 0 || data[len - 1] != '\n')
		fail_msg("round %d: %s is empty or its last line is cut (%zu bytes)", round, DAY_KEY, len);
	long lines = 0, ours = 0, last = -1;
	for (char *line = data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		cJSON *ev = cJSON_ParseWithLength(line, (size_t)(nl - line));
		if (!ev)
			fail_msg("round %d: %s line %ld does not parse", round, DAY_KEY, lines + 1);
		const cJSON *seq = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "payload"), "seq");
		if (cJSON_IsNumber(seq)) {
			long s = (long)seq->valuedouble;
			assert_true(s > last);
			last = s;
			ours++;
		}
		cJSON_Delete(ev);
		lines++;
	}
	free(data);
	assert_int_equal(lines, SEED_EVENTS + ours);
	bool landed = rl->inflight[K_EVENT] >= 0 && ours == k->events + 1 && last == rl->inflight[K_EVENT];
	if (!landed && (ours != k->events || (ours && last != k->last_seq)))
		fail_msg("round %d: %ld writer events in %s (last seq %ld); %ld committed (last %ld), in flight %ld", round,
			 ours, DAY_KEY, last, k->events, k->last_seq, rl->inflight[K_EVENT]);
	if (landed) {
		k->events++;
		k->last_seq = last;
	}
	return landed;
}

/* Files under the root other than the documents, the event id counter and
 * lock files must be the writer's temp files: dot-named, ".tmp". Returns
 * how many there are. */
static int check_leftovers(int round)
{
	static const char *const expected[] = {"identity/users.json", "profile/profiles.json", "reports/reports.json",
					       DAY_KEY, "telemetry/.event-ids.json"};
	fault_tree t;
	assert_int_equal(fault_tree_take(&t, root), 0);
	int temps = 0;
	for (size_t i = 0; i < t.n; i++) {
		const char *rel = t.files[i].path + strlen(root) + 1;
		const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
		bool known_file = strncmp(rel, ".cutover/locks/", 15) == 0;
		for (size_t e = 0; e < 5 && !known_file; e++)
			known_file = strcmp(rel, expected[e]) == 0;
		if (known_file)
			continue;
		size_t bl = strlen(base);
		if (base[0] == '.' && bl > 4 && strcmp(base + bl - 4, ".tmp") == 0) {
			temps++;
			continue;
		}
		fail_msg("round %d: an unexpected file %s", round, rel);
	}
	fault_tree_free(&t);
	return temps;
}

/* No lock is left held: each takes LOCK_EX|LOCK_NB at once. */
static void check_locks_free(int round)
{
	fault_tree t;
	char dir[200];
	snprintf(dir, sizeof dir, "%s/.cutover/locks", root);
	assert_int_equal(fault_tree_take(&t, dir), 0);
	for (size_t i = 0; i < t.n; i++) {
		int fd = open(t.files[i].path, O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		if (flock(fd, LOCK_EX | LOCK_NB) != 0)
			fail_msg("round %d: %s is still locked (%s)", round, t.files[i].path, strerror(errno));
		flock(fd, LOCK_UN);
		close(fd);
	}
	fault_tree_free(&t);
}

/* What a reader sees: listings name only the day file, and the json backend
 * reads exactly the records the checks above counted. */
static void check_readers(const known *k, int round)
{
	cutover_error err;
	co_transport *t = NULL;
	assert_int_equal(co_transport_local(&t, root, &err), CUTOVER_OK);
	char **keys = NULL;
	size_t n = 0;
	assert_int_equal(t->list(t, "telemetry/events/", &keys, &n, &err), CUTOVER_OK);
	if (n != 1 || strcmp(keys[0], DAY_KEY) != 0)
		fail_msg("round %d: the events folder lists %zu documents", round, n);
	co_keys_free(keys, n);
	t->free(t);

	cutover_options o = {.stage = "json", .json_root = root, .journal_dir = root};
	cutover_telemetry *tel = NULL;
	assert_int_equal(cutover_telemetry_open(&tel, &o, &err), CUTOVER_OK);
	cutover_event_query q = {.from = DAY_START + 43200000000LL, .to = DAY_START + 86400000000LL, .limit = 1000};
	cutover_event_page p = {0};
	assert_int_equal(cutover_telemetry_query_events(tel, &p, &q, &err), CUTOVER_OK);
	assert_int_equal((long)p.n, k->events);
	cutover_event_page_free(&p);
	cutover_telemetry_free(tel);

	cutover_identity *id = NULL;
	assert_int_equal(cutover_identity_open(&id, &o, &err), CUTOVER_OK);
	cutover_user *u = NULL;
	assert_int_equal(cutover_identity_get_user(id, &u, 1, &err), CUTOVER_OK);
	assert_string_equal(u->display_name, k->committed[K_USER]);
	cutover_user_free(u);
	cutover_identity_free(id);
}

/* --- stale temp files ------------------------------------------------------------------- */

/* Paths of the temp files under the root. */
static size_t temp_files(char paths[][512], size_t cap)
{
	fault_tree t;
	assert_int_equal(fault_tree_take(&t, root), 0);
	size_t n = 0;
	for (size_t i = 0; i < t.n; i++) {
		const char *base = strrchr(t.files[i].path, '/') + 1;
		size_t bl = strlen(base);
		if (base[0] == '.' && bl > 4 && strcmp(base + bl - 4, ".tmp") == 0 && n < cap)
			snprintf(paths[n++], 512, "%s", t.files[i].path);
	}
	fault_tree_free(&t);
	return n;
}

static void make_temp(const char *key_dir, const char *base, long pid, bool old)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/.%s.%ld.7.123456789.tmp", root, key_dir, base, pid);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"users\": [", f); /* half a document, as a killed writer leaves it */
	fclose(f);
	if (old) {
		struct timespec ts[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

static bool exists(const char *key_dir, const char *base, long pid)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/.%s.%ld.7.123456789.tmp", root, key_dir, base, pid);
	return access(path, F_OK) == 0;
}

/* What the killed writers left: a later put of the same document removes
 * temp files once they are a minute old and their process is gone; a
 * younger one, or one whose process lives, stays. */
static void sweep_phase(known *k)
{
	char (*left)[512] = calloc(256, 512);
	assert_non_null(left);
	size_t n = temp_files(left, 256);
	struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
	for (size_t i = 0; i < n; i++)
		assert_int_equal(utimensat(AT_FDCWD, left[i], old, 0), 0);
	/* a dead process: a child that ran and was reaped */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	make_temp("identity", "users.json", (long)dead, true);  /* goes */
	make_temp("reports", "reports.json", (long)dead, false); /* too young: stays */
	make_temp("identity", "users.json", (long)getpid(), true); /* its process lives: stays */

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		writer(fds[1], 99000000, 2 * K_COUNT);
	}
	close(fds[1]);
	round_log rl = {.inflight = {-1, -1, -1, -1}};
	char buf[8192];
	size_t have = 0;
	double start = fault_now();
	while (read_lines(fds[0], buf, &have, sizeof buf, &rl, k, 100) && fault_now() - start < ROUND_MAX_S) {
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(rl.committed, 2 * K_COUNT);

	assert_false(exists("identity", "users.json", (long)dead));
	assert_true(exists("reports", "reports.json", (long)dead));
	assert_true(exists("identity", "users.json", (long)getpid()));
	size_t after = temp_files(left, 256);
	print_message("%zu temp files the killed writers left, a minute old: %zu remain after one put of each "
		      "document (the 2 kept on purpose)\n", n, after);
	assert_int_equal(after, 2);
	free(left);
}

/* --- the rounds ------------------------------------------------------------------------ */

static void killed_mid_write_leaves_old_or_new(void **state)
{
	(void)state;
	known k = {0};
	for (int i = 0; i < K_COUNT; i++)
		snprintf(k.committed[i], sizeof k.committed[i], "seed");
	int mid_write = 0, landed = 0, exited = 0, temps = 0;
	double write_s = 0, t_all = fault_now();
	int writes_timed = 0;
	for (int round = 0; round < rounds; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* a crash is the child's own, not a failed cmocka test */
			signal(SIGSEGV, SIG_DFL);
			signal(SIGABRT, SIG_DFL);
			signal(SIGBUS, SIG_DFL);
			close(fds[0]);
			writer(fds[1], (long)(round + 1) * 100000, WRITES_MAX);
		}
		close(fds[1]);
		/* the kill point: after 1..8 writes began, a varied delay into the
		 * last one (0 to 1.5 times the mean write time measured so far) */
		round_log rl = {.inflight = {-1, -1, -1, -1}};
		int target = 1 + (int)rnd(8);
		double mean = writes_timed ? write_s / writes_timed : 0.02;
		double delay = mean * 1.5 * (double)rnd(1000) / 1000.0;
		char buf[8192];
		size_t have = 0;
		bool alive = true;
		double start = fault_now();
		while (alive && rl.begun < target && fault_now() - start < ROUND_MAX_S)
			alive = read_lines(fds[0], buf, &have, sizeof buf, &rl, &k, 50);
		if (alive) {
			double until = rl.began_at + delay;
			while (fault_now() < until)
				usleep(200);
			kill(pid, SIGKILL);
		}
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		while (read_lines(fds[0], buf, &have, sizeof buf, &rl, &k, 0)) {
		} /* what it said before it died */
		close(fds[0]);
		if (rl.error[0])
			fail_msg("round %d: the writer failed: %s", round, rl.error);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			exited++;
		}
		write_s += rl.write_s;
		writes_timed += rl.writes_timed;
		bool in_flight = false;
		for (int i = 0; i < K_COUNT; i++)
			in_flight |= rl.inflight[i] >= 0;
		mid_write += in_flight;

		int l = check_collection(K_USER, "users", "id", "display_name", SEED_USERS, &k, &rl, round) +
			check_collection(K_PROFILE, "profiles", "user_id", "headline", SEED_PROFILES, &k, &rl, round) +
			check_collection(K_REPORT, "reports", "id", "title", SEED_REPORTS, &k, &rl, round) +
			check_events(&k, &rl, round);
		landed += l;
		temps = check_leftovers(round);
		check_locks_free(round);
		check_readers(&k, round);
	}
	print_message("%d rounds in %.1f s: %d killed with a write in flight (%d of those had landed), %d ran to the end; "
		      "mean write %.1f ms; %d temp files left behind\n",
		      rounds, fault_now() - t_all, mid_write, landed, exited, writes_timed ? write_s / writes_timed * 1000 : 0,
		      temps);
	assert_true(mid_write >= rounds / 2); /* the kills did land mid-write */
	assert_true(k.events > 0);
	sweep_phase(&k);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/cutover-test-kill9-XXXXXX");
	assert_non_null(mkdtemp(root));
	seed();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	test_shell(cmd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atoi(argv[1]);
	if (rounds < 1 || rounds > 1000) {
		fprintf(stderr, "usage: test_fault_kill9 [ROUNDS (1-1000, default 50)]\n");
		return 2;
	}
	test_log_capture();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(killed_mid_write_leaves_old_or_new),
	};
	int rc = cmocka_run_group_tests_name("app killed mid-write", tests, setup, teardown);
	test_log_reset();
	return rc;
}
