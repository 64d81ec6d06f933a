/* bench_json_stage.c — time identity look-ups or write pairs in one stage.
 *
 * usage: cutover-bench-json-stage --op lookup|writepair [--n N] [--seconds S]
 *                                 [--seed X] [--users U] [--sessions-per-user F]
 *                                 [--client K] [--now ISO] [--barrier] [--times FILE]
 *
 * The driver of tests/bench_json_stage.py, which runs it in the json stage
 * and in the postgres stage over the same generated data. It opens identity
 * the way an app does (cutover_identity_open: the stage from IDENTITY_STORE,
 * CUTOVER_JSON_ROOT and DATABASE_URL from the environment), makes one
 * untimed warm-up call (the first call may load or index the documents),
 * then up to N calls, stopping early after S seconds:
 *
 *   lookup     cutover_identity_lookup_session of the token hash of a random
 *              session of the state `cutover-gen-legacy --users U
 *              --sessions-per-user F --seed X` wrote (the hashes are derived
 *              as the generator derives them, nothing is read beforehand);
 *              `now` is 2026-11-01T00:00:00Z, against which the generator
 *              made about 20% of the sessions expired: those (and the
 *              sessions of disabled users) answer CUTOVER_ENOTFOUND after
 *              the same work, and are counted apart as `notfound`;
 *   writepair  cutover_identity_create_user (bench-<pid>-<K>-<i>@example.com,
 *              role viewer) then cutover_identity_create_session for that
 *              user (a fresh random token hash, expiring in 30 days): one
 *              op is the pair.
 *
 * Each call is timed with CLOCK_MONOTONIC. Prints one line of key=value
 * pairs: op, stage, count (ops done), notfound, errors, seconds (the timed
 * loop), median_ms and p99_ms (per op), for writepair also the medians of
 * the user and session halves, start and end (CLOCK_REALTIME, for the
 * window of concurrent clients), maxrss_kib (getrusage RUSAGE_SELF) and
 * vmhwm_kib (VmHWM of /proc/self/status; -1 without it). Quote vmhwm_kib:
 * Linux carries ru_maxrss across execve, so when the driver is started by a
 * larger process (python's fork, then exec) ru_maxrss is at least that
 * process's peak, while VmHWM is this program's own.
 * --barrier: print "open" once identity is open and "ready" after the
 * warm-up, each time waiting for a line on stdin, so that concurrent clients
 * start timing together and none of them writes before all have opened (an
 * open in the postgres stage checks the id sequence against max(id), and a
 * concurrent create_user can make that check refuse). --times FILE:
 * also write each op's milliseconds, one a line, in the order done (the
 * script pools the clients' timings for one median).
 *
 * Exit codes: 0 done, 1 some call failed (the line is still printed, the
 * first error on stderr), 2 bad arguments, 3 the open or the warm-up failed
 * or FILE could not be written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cutover.h>

#include "gen.h"

const char *gen_program = "cutover-bench-json-stage";

#define MAX_OPS 10000000ULL
#define DAY_US (86400LL * 1000000LL)
#define WARMUP_TRIES 16 /* look-ups until one finds a live session */

enum op { OP_LOOKUP, OP_WRITEPAIR };

struct cfg {
	enum op op;
	uint64_t n, seed, users, client;
	double seconds, per_user;
	cutover_ts now;
	bool barrier;
	const char *times;
};

/* A copy of session_token() in tests/gen_legacy.c: the token hash of clean
 * session number idx (1-based) for a seed. Keep the two in step; the
 * warm-up fails loudly when they drift apart. */
static void session_token(uint64_t seed, uint64_t idx, char *out)
{
	static const char hex[] = "0123456789abcdef";
	rng r = {mix64(seed ^ 0x746f6b656eULL) + idx};
	uint64_t words[4] = {mix64(idx + mix64(seed ^ 0x6b6579ULL)), rnext(&r), rnext(&r), rnext(&r)};
	for (int w = 0; w < 4; w++)
		for (int i = 0; i < 16; i++)
			out[w * 16 + i] = hex[(words[w] >> (60 - 4 * i)) & 15];
	out[64] = '\0';
}

static void random_hex64(rng *r, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (int w = 0; w < 4; w++) {
		uint64_t v = rnext(r);
		for (int i = 0; i < 16; i++)
			out[w * 16 + i] = hex[(v >> (60 - 4 * i)) & 15];
	}
	out[64] = '\0';
}

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double wall(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Peak RSS of this program's address space in KiB (VmHWM), -1 if unknown. */
static long vm_hwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v. Median (mean of the middle two when n is even) and nearest-rank
 * percentile p in (0, 1]; 0 when n is 0. */
static double median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double percentile(double *v, size_t n, double p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	size_t rank = (size_t)(p * (double)n); /* rounded up below */
	if ((double)rank < p * (double)n)
		rank++;
	return v[rank ? rank - 1 : 0];
}

struct run {
	uint64_t count, notfound, errors;
	bool reported;
	double *op_ms, *user_ms, *session_ms;
};

static void note_error(struct run *r, const char *what, const cutover_error *err)
{
	r->errors++;
	if (r->reported)
		return;
	r->reported = true;
	fprintf(stderr, "%s: %s failed:\n", gen_program, what);
	cutover_error_fprint(stderr, err);
}

static uint64_t n_sessions(const struct cfg *c)
{
	return c->users ? (uint64_t)((double)c->users * c->per_user + 0.5) : 0;
}

/* One look-up; CUTOVER_OK or CUTOVER_ENOTFOUND are answers, anything else
 * is returned as is. */
static int lookup_one(cutover_identity *id, const char *token, cutover_ts now, cutover_error *err)
{
	cutover_session *s = NULL;
	cutover_user *u = NULL;
	int rc = cutover_identity_lookup_session(id, &s, &u, token, now, err);
	cutover_session_free(s);
	cutover_user_free(u);
	return rc;
}

/* One write pair: a new user, then a session of theirs. tag names the
 * iteration in the email ("w" for the warm-up). The halves' times go to
 * *user_s and *session_s. */
static int writepair_one(cutover_identity *id, const struct cfg *c, rng *r, const char *tag, double *user_s,
			 double *session_s, const char **what, cutover_error *err)
{
	char email[128], token[65];
	snprintf(email, sizeof email, "bench-%ld-%" PRIu64 "-%s@example.com", (long)getpid(), c->client, tag);
	cutover_user in = {
		.email = email,
		.display_name = "Bench User",
		.role = "viewer",
		.email_verified_at = CUTOVER_TS_NULL,
		.created_at = CUTOVER_TS_NULL,
		.updated_at = CUTOVER_TS_NULL,
	};
	cutover_user *u = NULL;
	double t0 = mono();
	*what = "create_user";
	int rc = cutover_identity_create_user(id, &u, &in, err);
	double t1 = mono();
	*user_s = t1 - t0;
	*session_s = 0;
	if (rc != CUTOVER_OK)
		return rc;
	random_hex64(r, token);
	cutover_session ss = {
		.token_hash = token,
		.user_id = u->id,
		.created_at = CUTOVER_TS_NULL,
		.expires_at = cutover_now() + 30 * DAY_US,
		.last_seen_at = CUTOVER_TS_NULL,
		.user_agent = "cutover-bench-json-stage",
	};
	cutover_user_free(u);
	*what = "create_session";
	rc = cutover_identity_create_session(id, &ss, err);
	*session_s = mono() - t1;
	return rc;
}

/* The untimed first call. For lookup, tries sessions until one is live: a
 * run of not-found answers means the token derivation no longer matches the
 * generator (or the state is not the generator's). */
static int warm_up(cutover_identity *id, const struct cfg *c, rng *pick, rng *tokens, cutover_error *err)
{
	if (c->op == OP_WRITEPAIR) {
		double a, b;
		const char *what;
		int rc = writepair_one(id, c, tokens, "w", &a, &b, &what, err);
		if (rc != CUTOVER_OK) {
			fprintf(stderr, "%s: warm-up %s failed:\n", gen_program, what);
			cutover_error_fprint(stderr, err);
		}
		return rc;
	}
	char token[65];
	for (int i = 0; i < WARMUP_TRIES; i++) {
		session_token(c->seed, 1 + below(pick, n_sessions(c)), token);
		int rc = lookup_one(id, token, c->now, err);
		if (rc == CUTOVER_OK)
			return rc;
		if (rc != CUTOVER_ENOTFOUND) {
			fprintf(stderr, "%s: warm-up lookup_session failed:\n", gen_program);
			cutover_error_fprint(stderr, err);
			return rc;
		}
	}
	fprintf(stderr,
		"%s: warm-up: %d look-ups of generated sessions found none live; is the state "
		"cutover-gen-legacy --users %" PRIu64 " --sessions-per-user %g --seed %" PRIu64
		", and does session_token() still match tests/gen_legacy.c?\n",
		gen_program, WARMUP_TRIES, c->users, c->per_user, c->seed);
	return CUTOVER_ENOTFOUND;
}

/* Says where we are and waits for the parent's line; false on EOF (the
 * parent went away). */
static bool barrier(const char *where)
{
	char line[16];
	puts(where);
	fflush(stdout);
	return fgets(line, sizeof line, stdin) != NULL;
}

static void usage(FILE *f)
{
	fputs("usage: cutover-bench-json-stage --op lookup|writepair [--n N] [--seconds S] [--seed X]\n"
	      "                                [--users U] [--sessions-per-user F] [--client K]\n"
	      "                                [--now ISO] [--barrier] [--times FILE]\n"
	      "\n"
	      "Opens identity in the stage IDENTITY_STORE names and times N calls (at most S seconds).\n"
	      "  --op lookup             lookup_session of random generated sessions\n"
	      "  --op writepair          create_user then create_session, one op per pair\n"
	      "  --n N                   ops to time (default 1000)\n"
	      "  --seconds S             stop timing after S seconds (default 20)\n"
	      "  --seed X                the generator's seed (default 1)\n"
	      "  --users U               the generator's --users (default 100)\n"
	      "  --sessions-per-user F   the generator's --sessions-per-user (default 3)\n"
	      "  --client K              this client's number: its random stream and emails (default 0)\n"
	      "  --now ISO               `now` of the look-ups (default 2026-11-01T00:00:00Z)\n"
	      "  --barrier               print \"open\" after the open and \"ready\" after the warm-up,\n"
	      "                          each time waiting for a line on stdin\n"
	      "  --times FILE            write each op's milliseconds to FILE, one a line\n",
	      f);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", gen_program);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

static double parse_seconds(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v > 0 && v <= 86400))
		bad_usage("--seconds needs a number of seconds above 0, up to 86400, not %s", s);
	return v;
}

static void parse_args(int argc, char **argv, struct cfg *c)
{
	static const struct option opts[] = {
		{"op", required_argument, NULL, 'o'},      {"n", required_argument, NULL, 'n'},
		{"seconds", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 's'},
		{"users", required_argument, NULL, 'u'},   {"sessions-per-user", required_argument, NULL, 'f'},
		{"client", required_argument, NULL, 'k'},  {"now", required_argument, NULL, 'w'},
		{"barrier", no_argument, NULL, 'b'},       {"times", required_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *op = NULL, *now = "2026-11-01T00:00:00Z";
	int ch;
	*c = (struct cfg){.n = 1000, .seconds = 20, .seed = 1, .users = 100, .per_user = 3.0};
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': op = optarg; break;
		case 'n': c->n = gen_parse_u64(optarg, "--n"); break;
		case 't': c->seconds = parse_seconds(optarg); break;
		case 's': c->seed = gen_parse_u64(optarg, "--seed"); break;
		case 'u': c->users = gen_parse_u64(optarg, "--users"); break;
		case 'k': c->client = gen_parse_u64(optarg, "--client"); break;
		case 'w': now = optarg; break;
		case 'b': c->barrier = true; break;
		case 'x': c->times = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'f': {
			char *end;
			c->per_user = strtod(optarg, &end);
			if (!*optarg || *end || !(c->per_user >= 0 && c->per_user <= 1000))
				bad_usage("--sessions-per-user needs a number from 0 to 1000, not %s", optarg);
			break;
		}
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (!op)
		bad_usage("%s", "--op lookup|writepair is required");
	else if (!strcmp(op, "lookup"))
		c->op = OP_LOOKUP;
	else if (!strcmp(op, "writepair"))
		c->op = OP_WRITEPAIR;
	else
		bad_usage("--op is lookup or writepair, not %s", op);
	if (c->n == 0 || c->n > MAX_OPS)
		bad_usage("%s", "--n is from 1 to 10000000");
	if (cutover_ts_parse(now, &c->now) != CUTOVER_OK)
		bad_usage("--now needs an ISO-8601 time, not %s", now);
	if (c->op == OP_LOOKUP && n_sessions(c) == 0)
		bad_usage("%s", "--op lookup needs generated sessions (--users and --sessions-per-user above 0)");
}

int main(int argc, char **argv)
{
	struct cfg c;
	parse_args(argc, argv, &c);

	/* Picks follow the seed and the client; token hashes of new sessions
	 * also the process and the clock, so no two runs share one. */
	rng pick = {mix64(c.seed ^ 0x62656e6368ULL) + mix64(c.client + 1)};
	rng tokens = {mix64((uint64_t)getpid()) ^ mix64((uint64_t)(wall() * 1e9)) ^ mix64(c.client + 7)};

	cutover_settings st;
	cutover_error err;
	cutover_identity *id = NULL;
	if (cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err) != CUTOVER_OK ||
	    cutover_identity_open(&id, NULL, &err) != CUTOVER_OK) {
		fprintf(stderr, "%s: cannot open identity:\n", gen_program);
		cutover_error_fprint(stderr, &err);
		return err.code == CUTOVER_ECONFIG ? 2 : 3;
	}
	const char *stage = cutover_stage_describe(st.stage)->name;

	if (c.barrier && !barrier("open")) {
		cutover_identity_free(id);
		return 3;
	}
	if (warm_up(id, &c, &pick, &tokens, &err) != CUTOVER_OK) {
		cutover_identity_free(id);
		return 3;
	}
	if (c.barrier && !barrier("ready")) {
		cutover_identity_free(id);
		return 3;
	}

	struct run r = {0};
	r.op_ms = malloc(c.n * sizeof *r.op_ms);
	if (c.op == OP_WRITEPAIR) {
		r.user_ms = malloc(c.n * sizeof *r.user_ms);
		r.session_ms = malloc(c.n * sizeof *r.session_ms);
	}
	if (!r.op_ms || (c.op == OP_WRITEPAIR && (!r.user_ms || !r.session_ms))) {
		fprintf(stderr, "%s: out of memory for %" PRIu64 " timings\n", gen_program, c.n);
		cutover_identity_free(id);
		return 3;
	}

	double start_wall = wall(), start = mono(), deadline = start + c.seconds, now = start;
	for (uint64_t i = 0; i < c.n && now < deadline; i++) {
		int rc;
		if (c.op == OP_LOOKUP) {
			char token[65];
			session_token(c.seed, 1 + below(&pick, n_sessions(&c)), token);
			double t0 = mono();
			rc = lookup_one(id, token, c.now, &err);
			now = mono();
			r.op_ms[r.count] = (now - t0) * 1e3;
			if (rc == CUTOVER_ENOTFOUND)
				r.notfound++;
			else if (rc != CUTOVER_OK)
				note_error(&r, "lookup_session", &err);
		} else {
			char tag[24];
			double a, b;
			const char *what;
			snprintf(tag, sizeof tag, "%" PRIu64, i);
			rc = writepair_one(id, &c, &tokens, tag, &a, &b, &what, &err);
			now = mono();
			r.op_ms[r.count] = (a + b) * 1e3;
			r.user_ms[r.count] = a * 1e3;
			r.session_ms[r.count] = b * 1e3;
			if (rc != CUTOVER_OK)
				note_error(&r, what, &err);
		}
		r.count++;
	}
	double elapsed = now - start, end_wall = start_wall + elapsed;
	cutover_identity_free(id);

	int status = r.errors ? 1 : 0;
	if (c.times) { /* before the medians sort the timings */
		FILE *f = fopen(c.times, "w");
		for (uint64_t i = 0; f && i < r.count; i++)
			fprintf(f, "%.6f\n", r.op_ms[i]);
		if (!f || fclose(f) != 0) {
			fprintf(stderr, "%s: cannot write %s: %s\n", gen_program, c.times, strerror(errno));
			status = 3;
		}
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("op=%s stage=%s client=%" PRIu64 " count=%" PRIu64 " notfound=%" PRIu64 " errors=%" PRIu64
	       " seconds=%.6f",
	       c.op == OP_LOOKUP ? "lookup" : "writepair", stage, c.client, r.count, r.notfound, r.errors, elapsed);
	if (c.op == OP_WRITEPAIR) {
		printf(" user_median_ms=%.4f", median(r.user_ms, r.count));
		printf(" session_median_ms=%.4f", median(r.session_ms, r.count));
	}
	printf(" median_ms=%.4f", median(r.op_ms, r.count));
	printf(" p99_ms=%.4f start=%.6f end=%.6f maxrss_kib=%ld vmhwm_kib=%ld\n", percentile(r.op_ms, r.count, 0.99),
	       start_wall, end_wall, ru.ru_maxrss, vm_hwm_kib());
	free(r.op_ms);
	free(r.user_ms);
	free(r.session_ms);
	return status;
}
