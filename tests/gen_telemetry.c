/* gen_telemetry.c — realistic legacy telemetry state for tests, benchmarks, demos.
 *
 * usage: cutover-gen-telemetry --out DIR [--events N] [--incidents M] [--days D]
 *                              [--seed S] [--dirty] [--csv DIR] [--users N] [--quiet]
 *
 * Writes DIR/telemetry/incidents.json (one array element per line) and
 * DIR/telemetry/events/YYYY-MM-DD.ndjson, one file per day from 2026-01-01
 * for D days (docs/legacy-layout.md). Events 1..N in id order, spread evenly
 * over the days; within a day their times are random, as sensors deliver
 * late. Realistic values: IPv4 and IPv6 sources, regions, nodes, attack
 * types, payloads of several shapes with non-ASCII text, quotes, commas,
 * nested objects and lists, odd spacing and key order, ~15% of timestamps as
 * epoch milliseconds, ~10% of events linked to one of the incidents 1..M;
 * incidents in every state, resolved ones with resolved_at.
 *
 * --dirty injects each ugly case once (15 event lines, 4 incidents), at
 * deterministic places: clean records keep ids 1..N and 1..M, injected ones
 * use ids above those unless the case is about reusing one, and a
 * duplicate always comes after the clean record it collides with.
 * DIR/expected-rejects-telemetry.ndjson names each injected record by file,
 * position (the 1-based line for a daily file, the 1-based element for
 * incidents.json) and case; DIR/manifest-telemetry.json has the counts a
 * backfill of this data must report.
 *
 * --csv DIR writes incidents.csv and events.csv: the clean rows normalised
 * as the library stores them (timestamps ISO-8601 UTC; the payload's JSON
 * text, which jsonb normalises the same way either way) in PostgreSQL CSV
 * with a header, for a `psql \copy` baseline.
 *
 * --users N is accepted for the shared generator interface; telemetry
 * references no users.
 *
 * Design: deterministic for a seed (splitmix64); each event and incident is
 * a pure function of (seed, id), written straight to its file, so memory
 * stays constant whatever N is. Files 0600, directories 0700. Exit codes:
 * 0 written, 2 bad arguments, 3 an I/O failure.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

const char *gen_program = "cutover-gen-telemetry";

static ms_t T_START;

static const char *const REGIONS[] = {"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast",
				      "sa-east", "af-south"};
static const char *const ATTACKS[] = {"ssh-bruteforce", "port-scan", "sqli", "xss", "credential-stuffing",
				      "ddos-udp", "dns-tunnel", "path-traversal"};
static const char *const SEVERITIES[] = {"low", "medium", "high", "critical"};
static const char *const STATES[] = {"open", "investigating", "contained", "resolved"};
static const char *const CITIES[] = {"München", "São Paulo", "Zürich", "Kraków", "Reykjavík", "Lagos", "Ōsaka",
				     "Montréal", "Dublin", "Seattle"};
static const char *const USERS[] = {"root", "admin", "deploy", "josé", "o'brien", "test,user", "\"quoted\""};
static const char *const TITLES[] = {
	"Brute force against ssh on %s",       "Credential stuffing wave — %s",
	"Port scan from \"%s\" botnet",        "SQL injection attempts, login API (%s)",
	"DDoS: UDP flood at %s edge",          "Suspicious DNS tunnelling, %s",
	"Pfadtraversierung auf %s — prüfen",   "Escalade d'accès, région %s",
};

/* ---------------------------------------------------------------- records */

struct event {
	uint64_t id;
	ms_t at;
	bool epoch, has_ip, has_node;
	char ip[48], node[24];
	const char *region, *attack, *severity;
	uint64_t incident;
	int shape;
	rng r; /* for the payload */
};

static void gen_event(uint64_t seed, uint64_t id, uint64_t n_events, uint64_t days, uint64_t n_incidents,
		      struct event *e)
{
	rng r = {mix64(seed ^ 0x6576656e74ULL) ^ mix64(id * 0x9e3779b97f4a7c15ULL + 7)};
	memset(e, 0, sizeof *e);
	e->id = id;
	uint64_t day = (id - 1) * days / n_events;
	e->at = T_START + (ms_t)day * DAY_MS + (ms_t)below(&r, DAY_MS);
	e->epoch = chance(&r, 0.15);
	double p = unit(&r);
	e->has_ip = p >= 0.02;
	if (p < 0.3)
		snprintf(e->ip, sizeof e->ip, "2001:db8:%x::%x", (unsigned)below(&r, 0x10000), (unsigned)below(&r, 0x10000));
	else
		snprintf(e->ip, sizeof e->ip, "%u.%u.%u.%u", 1 + (unsigned)below(&r, 222), (unsigned)below(&r, 256),
			 (unsigned)below(&r, 256), 1 + (unsigned)below(&r, 254));
	e->region = REGIONS[below(&r, sizeof REGIONS / sizeof *REGIONS)];
	e->has_node = !chance(&r, 0.03);
	snprintf(e->node, sizeof e->node, "edge-%02u", (unsigned)below(&r, 40));
	e->attack = ATTACKS[below(&r, sizeof ATTACKS / sizeof *ATTACKS)];
	p = unit(&r);
	e->severity = SEVERITIES[p < 0.4 ? 0 : p < 0.75 ? 1 : p < 0.95 ? 2 : 3];
	if (n_incidents && chance(&r, 0.10))
		e->incident = 1 + below(&r, n_incidents);
	e->shape = (int)below(&r, 6);
	e->r = r;
}

/* The payload's JSON text: several shapes, spacing and key orders. */
static void write_payload(FILE *f, const struct event *e)
{
	rng r = e->r;
	switch (e->shape) {
	case 0:
		fprintf(f, "{\"rule\": \"%s\", \"attempts\": %u, \"user\": ", e->attack, 1 + (unsigned)below(&r, 500));
		json_str(f, USERS[below(&r, sizeof USERS / sizeof *USERS)]);
		fputs(", \"geo\": {\"city\": ", f);
		json_str(f, CITIES[below(&r, sizeof CITIES / sizeof *CITIES)]);
		fprintf(f, ", \"lat\": %.4f, \"lon\": %.4f}, \"tags\": [\"auth\", \"%s\"]}", -60 + unit(&r) * 120,
			-180 + unit(&r) * 360, e->region);
		break;
	case 1:
		fprintf(f, "{\"method\":\"POST\",\"url\":");
		json_str(f, below(&r, 2) ? "/login?next=%2Fadmin&q=\"1\" OR 1=1" : "/api/v1/search?q=<script>alert(1)</script>");
		fprintf(f, ",\"status\":%d,\"ua\":\"Mozilla/5.0 (X11; Linux x86_64)\"}", below(&r, 2) ? 403 : 200);
		break;
	case 2:
		fprintf(f, "{ \"vector\" : \"%s\" , \"bytes\" : %" PRIu64 " , \"pps\" : %.1f }", e->attack,
			below(&r, 10000000000ULL), unit(&r) * 1e6);
		break;
	case 3:
		fputs("{\"message\": ", f);
		json_str(f, below(&r, 2) ? "Échec de connexion pour « admin », réessayez"
					 : "Zu viele Anmeldeversuche\tvon\n\"extern\"");
		fprintf(f, ", \"ok\": false, \"retry\": null, \"count\": %u}", (unsigned)below(&r, 100));
		break;
	case 4:
		fputs("{}", f);
		break;
	default:
		fprintf(f, "{\"z\": %u, \"a\": [%u, %u, {\"k\": \"v\"}], \"m\": {\"y\": true, \"x\": 1.25}}",
			(unsigned)below(&r, 1000), (unsigned)below(&r, 10), (unsigned)below(&r, 10));
		break;
	}
}

static void write_ts(FILE *f, ms_t t, bool epoch)
{
	char b[TS_LEN];
	if (epoch)
		fprintf(f, "%" PRId64, t);
	else
		json_str(f, fmt_ts(b, t, true));
}

/* Raw overrides for the dirty lines. */
struct eovr {
	const char *id, *occurred, *region, *severity, *payload, *incident;
	bool drop_colon;
};

static void write_event_json(FILE *f, const struct event *e, const struct eovr *o)
{
	static const struct eovr none;
	if (!o)
		o = &none;
	if (o->id)
		fprintf(f, "{\"id\": %s", o->id);
	else
		fprintf(f, "{\"id\": %" PRIu64, e->id);
	fputs(", \"occurred_at\": ", f);
	if (o->occurred)
		fputs(o->occurred, f);
	else
		write_ts(f, e->at, e->epoch);
	fputs(", \"source_ip\": ", f);
	json_str_or_null(f, e->has_ip ? e->ip : NULL);
	fputs(", \"region\": ", f);
	if (o->region)
		fputs(o->region, f);
	else
		json_str(f, e->region);
	fputs(", \"node\": ", f);
	json_str_or_null(f, e->has_node ? e->node : NULL);
	fprintf(f, ", \"attack_type\": \"%s\", \"severity\"%s ", e->attack, o->drop_colon ? "" : ":");
	if (o->severity)
		fputs(o->severity, f);
	else
		fprintf(f, "\"%s\"", e->severity);
	fputs(", \"payload\": ", f);
	if (o->payload)
		fputs(o->payload, f);
	else
		write_payload(f, e);
	fputs(", \"incident_id\": ", f);
	if (o->incident)
		fputs(o->incident, f);
	else if (e->incident)
		fprintf(f, "%" PRIu64, e->incident);
	else
		fputs("null", f);
	fputs("}", f);
}

static void write_event_csv(FILE *f, const struct event *e)
{
	char b[TS_LEN];
	fprintf(f, "%" PRIu64 ",%s,", e->id, fmt_ts(b, e->at, false));
	csv_field(f, e->has_ip ? e->ip : NULL);
	fprintf(f, ",%s,", e->region);
	csv_field(f, e->has_node ? e->node : NULL);
	fprintf(f, ",%s,%s,", e->attack, e->severity);
	/* the payload text, quoted as a CSV field */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		die(3, "out of memory");
	write_payload(m, e);
	fclose(m);
	csv_field(f, text);
	free(text);
	if (e->incident)
		fprintf(f, ",%" PRIu64 "\n", e->incident);
	else
		fputs(",\n", f);
}

struct incident {
	uint64_t id;
	char title[200];
	int state;
	const char *severity;
	ms_t opened, resolved;
	bool epoch;
};

static void gen_incident(uint64_t seed, uint64_t id, uint64_t days, struct incident *i)
{
	rng r = {mix64(seed ^ 0x696e63ULL) ^ mix64(id * 0x9e3779b97f4a7c15ULL + 3)};
	memset(i, 0, sizeof *i);
	i->id = id;
	snprintf(i->title, sizeof i->title, TITLES[below(&r, sizeof TITLES / sizeof *TITLES)],
		 REGIONS[below(&r, sizeof REGIONS / sizeof *REGIONS)]);
	double p = unit(&r);
	i->state = p < 0.3 ? 0 : p < 0.5 ? 1 : p < 0.65 ? 2 : 3;
	i->severity = SEVERITIES[below(&r, 4)];
	i->opened = T_START + (ms_t)below(&r, (uint64_t)(days ? days : 1) * DAY_MS);
	i->resolved = i->opened + (ms_t)between(&r, 60000, 5 * DAY_MS);
	i->epoch = chance(&r, 0.15);
}

struct iovr {
	const char *state, *resolved, *title;
	bool omit_title;
};

static void write_incident_json(FILE *f, const struct incident *i, const struct iovr *o)
{
	static const struct iovr none;
	if (!o)
		o = &none;
	fprintf(f, "{\"id\": %" PRIu64, i->id);
	if (!o->omit_title) {
		fputs(", \"title\": ", f);
		if (o->title)
			fputs(o->title, f);
		else
			json_str(f, i->title);
	}
	fputs(", \"state\": ", f);
	if (o->state)
		fputs(o->state, f);
	else
		fprintf(f, "\"%s\"", STATES[i->state]);
	fprintf(f, ", \"severity\": \"%s\", \"opened_at\": ", i->severity);
	write_ts(f, i->opened, i->epoch);
	fputs(", \"resolved_at\": ", f);
	if (o->resolved)
		fputs(o->resolved, f);
	else if (i->state == 3)
		write_ts(f, i->resolved, i->epoch);
	else
		fputs("null", f);
	fputc('}', f);
}

static void write_incident_csv(FILE *f, const struct incident *i)
{
	char b[TS_LEN];
	fprintf(f, "%" PRIu64 ",", i->id);
	csv_field(f, i->title);
	fprintf(f, ",%s,%s,%s,", STATES[i->state], i->severity, fmt_ts(b, i->opened, false));
	if (i->state == 3)
		fputs(fmt_ts(b, i->resolved, false), f);
	fputc('\n', f);
}

/* ---------------------------------------------------------------- dirty */

static const char *const EVENT_CASES[] = {
	NULL,
	"malformed-json",
	"nul-in-string",
	"id-overflow",
	"duplicate-key",
	"duplicate-id",
	"dangling-incident",
	"wrong-type",
	"bad-enum",
	"bad-timestamp",
	"invalid-utf8",
	"payload-not-object",
	"misfiled-date",
	"payload-number-overflow",
	"misnamed-file",
	"truncated",
};
enum { N_EVENT_CASES = 15, DUP_ID = 5, MISNAMED = 14, TRUNCATED = 15 };

static const char *const INCIDENT_CASES[] = {NULL, "bad-state", "resolved-at-on-open", "duplicate-id", "missing-title"};
enum { N_INCIDENT_CASES = 4, DUP_INCIDENT = 3 };

struct gen {
	uint64_t seed, n_events, n_incidents, days;
	bool dirty, csv;
	const char *out;
	char edir[PATH_MAX];
	outf day, incidents, rejects, manifest, csv_events, csv_incidents;
	char day_key[64];
	uint64_t line; /* lines written to the current day file */
	uint64_t pos;  /* elements written to incidents.json */
	uint64_t event_records, event_rejects, incident_records, incident_rejects, linked, files;
};

static void note_reject(struct gen *g, const char *file, uint64_t position, const char *c)
{
	fprintf(g->rejects.f, "{\"file\":\"%s\",\"position\":%" PRIu64 ",\"case\":\"%s\"}\n", file, position, c);
}

static void write_dirty_event(struct gen *g, int c)
{
	FILE *f = g->day.f;
	struct event e;
	struct eovr o = {0};
	char idbuf[64], when[80], b[TS_LEN];
	uint64_t id = g->n_events + (uint64_t)c;
	gen_event(g->seed, id, g->n_events, g->days, g->n_incidents, &e);
	/* keep it on this file's day, whatever day its id would give */
	e.at = ms_of(atoi(g->day_key + 17), (unsigned)atoi(g->day_key + 22), (unsigned)atoi(g->day_key + 25)) + 3600000;
	e.epoch = false;
	e.incident = 0;
	switch (c) {
	case 1: o.drop_colon = true; break;
	case 2: o.payload = "{\"msg\": \"nul\\u0000byte\"}"; break;
	case 3: o.id = "99999999999999999999"; break;
	case 4:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64 ", \"id\": %" PRIu64, id, id + 100);
		o.id = idbuf;
		break;
	case 5:
		e.id = 1; /* event 1 is in the first day's file, written before this one */
		o.payload = "{\"rule\": \"not the same event\"}";
		break;
	case 6:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64, g->n_incidents + 1000);
		o.incident = idbuf;
		break;
	case 7:
		snprintf(idbuf, sizeof idbuf, "\"%" PRIu64 "\"", id);
		o.id = idbuf;
		break;
	case 8: o.severity = "\"severe\""; break;
	case 9: o.occurred = "\"yesterday\""; break;
	case 10: o.region = "\"eu-\xC3\x28\""; break;
	case 11: o.payload = "[1, 2, 3]"; break;
	case 12:
		snprintf(when, sizeof when, "\"%s\"", fmt_ts(b, e.at + 2 * DAY_MS, true));
		o.occurred = when;
		break;
	case 13: o.payload = "{\"n\": 1e400}"; break;
	}
	write_event_json(f, &e, &o);
	fputc('\n', f);
	g->line++;
	g->event_records++;
	g->event_rejects++;
	note_reject(g, g->day_key, g->line, EVENT_CASES[c]);
}

/* The dirty event cases due in day d (0-based), written after half its lines. */
static int event_case_day(const struct gen *g, int c)
{
	return (int)((uint64_t)(c - 1) * g->days / N_EVENT_CASES);
}

static void open_day(struct gen *g, uint64_t d)
{
	char name[32], b[TS_LEN];
	fmt_ts(b, T_START + (ms_t)d * DAY_MS, false);
	snprintf(name, sizeof name, "%.10s.ndjson", b);
	snprintf(g->day_key, sizeof g->day_key, "telemetry/events/%s", name);
	out_open(&g->day, g->edir, name);
	g->line = 0;
	g->files++;
}

static void write_events(struct gen *g)
{
	struct event e;
	uint64_t id = 1;
	for (uint64_t d = 0; d < g->days; d++) {
		open_day(g, d);
		uint64_t first = id, end = id;
		while (end <= g->n_events && (end - 1) * g->days / g->n_events == d)
			end++;
		uint64_t half = first + (end - first) / 2;
		for (id = first; id <= end; id++) {
			if (g->dirty && id == half)
				for (int c = 1; c <= N_EVENT_CASES; c++)
					if (c != MISNAMED && c != TRUNCATED && c != DUP_ID && event_case_day(g, c) == (int)d)
						write_dirty_event(g, c);
			if (id == end)
				break;
			gen_event(g->seed, id, g->n_events, g->days, g->n_incidents, &e);
			write_event_json(g->day.f, &e, NULL);
			fputc('\n', g->day.f);
			g->line++;
			g->event_records++;
			g->linked += e.incident != 0;
			if (g->csv)
				write_event_csv(g->csv_events.f, &e);
		}
		if (g->dirty && d + 1 == g->days) {
			/* after every clean line, so after event 1 whatever the number of days */
			write_dirty_event(g, DUP_ID);
			/* the file ends inside the last line */
			fprintf(g->day.f, "{\"id\": %" PRIu64 ", \"occurred_at\": \"%.10sT23:59:59.000Z\", \"sever",
				g->n_events + TRUNCATED, g->day_key + 17);
			g->line++;
			g->event_records++;
			g->event_rejects++;
			note_reject(g, g->day_key, g->line, EVENT_CASES[TRUNCATED]);
		}
		out_close(&g->day);
	}
	if (g->dirty) {
		/* a file whose name is not a date: the app never reads it */
		out_open(&g->day, g->edir, "backup-old.ndjson");
		snprintf(g->day_key, sizeof g->day_key, "telemetry/events/backup-old.ndjson");
		gen_event(g->seed, g->n_events + MISNAMED, g->n_events, g->days, 0, &e);
		write_event_json(g->day.f, &e, NULL);
		fputc('\n', g->day.f);
		g->line = 1;
		g->event_records++;
		g->event_rejects++;
		g->files++;
		note_reject(g, g->day_key, 1, EVENT_CASES[MISNAMED]);
		out_close(&g->day);
	}
}

static void element_sep(struct gen *g, FILE *f)
{
	if (g->pos++)
		fputs(",\n", f);
}

static void write_dirty_incident(struct gen *g, int c)
{
	FILE *f = g->incidents.f;
	struct incident i;
	struct iovr o = {0};
	char when[80], b[TS_LEN];
	gen_incident(g->seed, g->n_incidents + (uint64_t)c, g->days, &i);
	element_sep(g, f);
	g->incident_records++;
	g->incident_rejects++;
	note_reject(g, "telemetry/incidents.json", g->pos, INCIDENT_CASES[c]);
	switch (c) {
	case 1: o.state = "\"closed\""; break;
	case 2:
		i.state = 0;
		snprintf(when, sizeof when, "\"%s\"", fmt_ts(b, i.resolved, true));
		o.resolved = when;
		break;
	case 3:
		i.id = 1;
		o.title = "\"A different incident with id 1\"";
		break;
	case 4: o.omit_title = true; break;
	}
	write_incident_json(f, &i, &o);
}

static void write_incidents(struct gen *g)
{
	FILE *f = g->incidents.f;
	struct incident i;
	g->pos = 0;
	fputs("{\"incidents\": [\n", f);
	for (uint64_t k = 0; k <= g->n_incidents; k++) {
		if (k) {
			gen_incident(g->seed, k, g->days, &i);
			element_sep(g, f);
			write_incident_json(f, &i, NULL);
			g->incident_records++;
			if (g->csv)
				write_incident_csv(g->csv_incidents.f, &i);
		}
		for (int c = 1; g->dirty && c <= N_INCIDENT_CASES; c++) {
			uint64_t slot = (uint64_t)c * g->n_incidents / (N_INCIDENT_CASES + 1);
			if (c == DUP_INCIDENT && slot < 1)
				slot = 1;
			if (slot == k)
				write_dirty_incident(g, c);
		}
	}
	fputs(g->pos ? "\n]}\n" : "]}\n", f);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fputs("usage: cutover-gen-telemetry --out DIR [--events N] [--incidents M] [--days D] [--seed S]\n"
	      "                             [--dirty] [--csv DIR] [--users N] [--quiet]\n"
	      "\n"
	      "Writes DIR/telemetry/incidents.json and DIR/telemetry/events/YYYY-MM-DD.ndjson (legacy\n"
	      "layout), DIR/expected-rejects-telemetry.ndjson and DIR/manifest-telemetry.json.\n"
	      "  --out DIR        output state root (created 0700)\n"
	      "  --events N       clean events, ids 1..N (default 1000)\n"
	      "  --incidents M    clean incidents, ids 1..M (default N/100 + 1)\n"
	      "  --days D         daily files from 2026-01-01 (default 30)\n"
	      "  --seed S         PRNG seed; same seed, same bytes (default 1)\n"
	      "  --dirty          inject one record of each reject case\n"
	      "  --csv DIR        also write the clean rows as PostgreSQL CSV\n"
	      "  --users N        accepted for the shared interface; telemetry references no users\n"
	      "  --quiet          print nothing on success\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},      {"events", required_argument, NULL, 'e'},
		{"incidents", required_argument, NULL, 'i'}, {"days", required_argument, NULL, 'D'},
		{"seed", required_argument, NULL, 's'},     {"dirty", no_argument, NULL, 'd'},
		{"csv", required_argument, NULL, 'c'},      {"users", required_argument, NULL, 'u'},
		{"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gen g = {.seed = 1, .n_events = 1000, .days = 30};
	const char *csv = NULL;
	bool quiet = false, incidents_given = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': g.out = optarg; break;
		case 'e': g.n_events = gen_parse_u64(optarg, "--events"); break;
		case 'i':
			g.n_incidents = gen_parse_u64(optarg, "--incidents");
			incidents_given = true;
			break;
		case 'D': g.days = gen_parse_u64(optarg, "--days"); break;
		case 's': g.seed = gen_parse_u64(optarg, "--seed"); break;
		case 'd': g.dirty = true; break;
		case 'c': csv = optarg; break;
		case 'u': gen_parse_u64(optarg, "--users"); break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !g.out || !*g.out || (csv && !*csv)) {
		usage(stderr);
		return 2;
	}
	if (!incidents_given)
		g.n_incidents = g.n_events / 100 + 1;
	if (g.days < 1 || g.days > 3650)
		die(2, "--days must be from 1 to 3650");
	if (g.n_events > 1000000000ULL || g.n_incidents > 100000000ULL)
		die(2, "--events is at most 1000000000 and --incidents at most 100000000");
	if (g.dirty && (g.n_events == 0 || g.n_incidents == 0))
		die(2, "--dirty needs at least one event and one incident to collide with");
	T_START = ms_of(2026, 1, 1);

	char tdir[PATH_MAX];
	if (snprintf(tdir, sizeof tdir, "%s/telemetry", g.out) >= (int)sizeof tdir ||
	    snprintf(g.edir, sizeof g.edir, "%s/telemetry/events", g.out) >= (int)sizeof g.edir)
		die(2, "path too long: %s", g.out);
	mkdir_p(g.edir);
	out_open(&g.incidents, tdir, "incidents.json");
	out_open(&g.rejects, g.out, "expected-rejects-telemetry.ndjson");
	if ((g.csv = csv != NULL)) {
		mkdir_p(csv);
		out_open(&g.csv_incidents, csv, "incidents.csv");
		out_open(&g.csv_events, csv, "events.csv");
		fputs("id,title,state,severity,opened_at,resolved_at\n", g.csv_incidents.f);
		fputs("id,occurred_at,source_ip,region,node,attack_type,severity,payload,incident_id\n", g.csv_events.f);
	}
	write_incidents(&g);
	write_events(&g);

	out_open(&g.manifest, g.out, "manifest-telemetry.json");
	fprintf(g.manifest.f,
		"{\"seed\":%" PRIu64 ",\"incidents\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64
		"},\"events\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64 ",\"files\":%" PRIu64
		"},\"linked_events\":%" PRIu64 "}\n",
		g.seed, g.incident_records, g.n_incidents, g.incident_rejects, g.event_records, g.n_events,
		g.event_rejects, g.files, g.linked);
	outf *all[] = {&g.incidents, &g.rejects, &g.manifest, &g.csv_events, &g.csv_incidents};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		out_close(all[i]);
	if (!quiet)
		printf("%s: %" PRIu64 " incidents (%" PRIu64 " rejects), %" PRIu64 " events in %" PRIu64
		       " files (%" PRIu64 " rejects, %" PRIu64 " linked)%s%s\n",
		       g.out, g.incident_records, g.incident_rejects, g.event_records, g.files, g.event_rejects, g.linked,
		       csv ? "; csv in " : "", csv ? csv : "");
	return 0;
}
