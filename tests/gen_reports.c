/* gen_reports.c — realistic legacy reports state for tests, benchmarks, demos.
 *
 * usage: cutover-gen-reports --out DIR [--users N] [--incidents I] [--reports R]
 *                            [--seed S] [--dirty] [--csv DIR] [--quiet]
 *
 * Writes DIR/reports/reports.json in the legacy layout (docs/legacy-layout.md):
 * reports 1..R in order, one array element per line, written by authors
 * among the clean users 1..N (as `cutover-gen-legacy --users N` makes them)
 * and linked to incidents among 1..I (none when I is 0). The data looks like
 * a real app's: titles and texts in several languages with quotes, commas and
 * newlines; tags as lists (with stray spaces, empty and repeated tags) and,
 * in ~15% of the rows (the older ones), as one comma-separated string;
 * ~15% epoch-millisecond timestamps; ~20% archived reports (a few with no
 * status field: it is derived from archived_at); trails of 0-5 actions
 * (create, read, edit, share, comment; "archive" for archived reports),
 * some without an actor.
 *
 * --dirty injects 20 bad records, each once, at deterministic positions;
 * the last truncates the file. Bad records use ids above R unless the case
 * is about reusing a key (a duplicate comes after the clean record it
 * collides with, so a streaming reader keeps the clean one). Three cases are
 * only found against Postgres (dangling author, incident and actor).
 * DIR/expected-rejects-reports.ndjson lists them by file, 1-based array
 * position and case; DIR/manifest-reports.json has the counts a backfill must
 * report.
 *
 * --csv DIR writes reports.csv and report_actions.csv: the clean rows
 * normalised as the library normalises them, in PostgreSQL CSV.
 *
 * Deterministic for a seed (splitmix64): every report is a pure function of
 * (seed, id), records are streamed, memory is constant whatever R is.
 * Exit codes: 0 written, 2 bad arguments, 3 an I/O failure.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

const char *gen_program = "cutover-gen-reports";

static ms_t T_FROM, T_TO;

static const char *const TITLES[] = {
	"Credential phishing wave against finance",
	"Suspicious OAuth consent grant",
	"Ransomware precursor: Cobalt Strike beacon",
	"Brute force on VPN gateway, \"admin\" account",
	"Données exfiltrées via DNS tunnelling",
	"Anomalía en el inicio de sesión, región São Paulo",
	"Malware auf Endpunkt entdeckt — Quarantäne",
	"Lateral movement from build server",
	"Phishing: “Q3 invoice”, wave 2",
	"Insider download spike, 14 GB",
	"Webshell on legacy CMS (WordPress 4.9)",
	"不審なログイン試行 (Tokyo office)",
	"Impossible travel: Oslo → Sydney in 40 min",
	"S3 bucket made public, then reverted",
};

static const char *const SUMMARIES[] = {
	"Blocked at the gateway; 3 users clicked, passwords reset.",
	"Contained, root cause under review.",
	"False positive after tuning; kept for the record.",
	"Vendor notified; waiting for a patch, ETA \"next week\".",
	"Escalated to the CISO, see ticket SEC-4411.",
	"Résumé: aucune donnée client touchée.",
};

static const char *const TAGS[] = {
	"phishing", "malware", "ransomware", "vpn", "oauth", "insider", "dns", "exfiltration", "cloud",
	"endpoint", "false-positive", "critical-asset", "ioc", "apt29", "zero-day", "données",
};

static const char *const ACTIONS[] = {"create", "read", "read", "edit", "share", "comment", "read"};
static const char *const NOTES[] = {
	"looks legit", "escalating", "shared with the IR team, \"need to know\"", "see attached IOCs",
	"reviewed, no change", "Überprüft", "closing, duplicate of #12",
};
static const char *const SEVERITIES[] = {"low", "medium", "high", "critical"};

#define MAX_TAGS 6
#define MAX_ACTIONS 6

struct action {
	const char *action;
	uint64_t actor; /* 0: none */
	ms_t at;
	const char *note;
};

struct report {
	uint64_t id;
	const char *title, *summary;
	char content[400];
	bool summary_absent;
	const char *severity;
	bool archived, status_absent, epoch, updated_absent;
	int tags_form; /* 0 list, 1 comma string, 2 absent, 3 null */
	const char *raw_tags[MAX_TAGS]; /* as written (some padded, empty, repeated) */
	int n_raw;
	char padded[MAX_TAGS][48];
	uint64_t author, incident;
	ms_t created_at, updated_at, archived_at;
	struct action actions[MAX_ACTIONS];
	int n_actions;
};

static void gen_report(uint64_t seed, uint64_t id, uint64_t users, uint64_t incidents, struct report *r)
{
	rng g = {mix64(seed ^ 0x7265706f727473ULL) ^ mix64(id * 0x9e3779b97f4a7c15ULL + 7)};
	memset(r, 0, sizeof *r);
	r->id = id;
	r->title = TITLES[below(&g, sizeof TITLES / sizeof *TITLES)];
	r->summary = chance(&g, 0.1) ? NULL : SUMMARIES[below(&g, sizeof SUMMARIES / sizeof *SUMMARIES)];
	r->summary_absent = !r->summary && chance(&g, 0.5);
	if (chance(&g, 0.9))
		snprintf(r->content, sizeof r->content,
			 "Timeline:\n- 09:%02u first alert (rule %u)\n- 09:%02u analyst assigned\n\nAffected: %u hosts, "
			 "\"%s\" segment.\tNotes: naïve filter missed it; comma, quote \" and backslash \\ kept.",
			 (unsigned)below(&g, 60), (unsigned)below(&g, 9000), (unsigned)below(&g, 60),
			 (unsigned)between(&g, 1, 400), chance(&g, 0.5) ? "DMZ" : "corp");
	r->severity = SEVERITIES[below(&g, 4)];
	r->author = 1 + below(&g, users);
	r->incident = incidents && chance(&g, 0.6) ? 1 + below(&g, incidents) : 0;
	r->epoch = chance(&g, 0.15);
	int64_t a = between(&g, T_FROM, T_TO), b = between(&g, T_FROM, T_TO);
	r->created_at = a > b ? a : b;
	if (chance(&g, 0.1))
		r->created_at -= r->created_at % 60000; /* whole minutes: ties happen */
	r->updated_at = chance(&g, 0.3) ? r->created_at : between(&g, r->created_at, T_TO + 5 * DAY_MS);
	r->updated_absent = r->updated_at == r->created_at && chance(&g, 0.3);

	double p = unit(&g);
	r->tags_form = p < 0.15 ? 1 : p < 0.20 ? 2 : p < 0.23 ? 3 : 0;
	int n = (int)below(&g, 4) + (r->tags_form < 2);
	for (int i = 0; i < n && i < MAX_TAGS - 1; i++) {
		const char *t = TAGS[below(&g, sizeof TAGS / sizeof *TAGS)];
		if (chance(&g, 0.15)) {
			snprintf(r->padded[i], sizeof r->padded[i], " %s  ", t);
			t = r->padded[i];
		}
		r->raw_tags[r->n_raw++] = t;
	}
	if (r->n_raw && chance(&g, 0.1))
		r->raw_tags[r->n_raw++] = ""; /* an empty one, dropped */

	ms_t at = r->created_at;
	r->n_actions = (int)below(&g, 5);
	for (int i = 0; i < r->n_actions; i++) {
		struct action *x = &r->actions[i];
		x->action = i == 0 ? "create" : ACTIONS[below(&g, sizeof ACTIONS / sizeof *ACTIONS)];
		x->actor = chance(&g, 0.1) ? 0 : 1 + below(&g, users);
		at += between(&g, 0, 3 * DAY_MS);
		x->at = at;
		x->note = chance(&g, 0.3) ? NOTES[below(&g, sizeof NOTES / sizeof *NOTES)] : NULL;
	}
	if ((r->archived = chance(&g, 0.2))) {
		r->archived_at = at + between(&g, 0, 10 * DAY_MS);
		if (r->updated_at < r->archived_at)
			r->updated_at = r->archived_at, r->updated_absent = false;
		r->status_absent = chance(&g, 0.2);
		struct action *x = &r->actions[r->n_actions++];
		x->action = "archive";
		x->actor = 1 + below(&g, users);
		x->at = r->archived_at;
	}
}

/* The normalised tags (the library's rule), into out; returns the count. */
static int norm_tags(const struct report *r, char out[MAX_TAGS * 2][48])
{
	int n = 0;
	for (int i = 0; i < r->n_raw; i++) {
		const char *s = r->raw_tags[i];
		while (*s == ' ')
			s++;
		char t[48];
		snprintf(t, sizeof t, "%s", s);
		for (size_t k = strlen(t); k && t[k - 1] == ' ';)
			t[--k] = '\0';
		if (!*t)
			continue;
		bool dup = false;
		for (int j = 0; j < n; j++)
			dup |= strcmp(out[j], t) == 0;
		if (!dup)
			memcpy(out[n++], t, sizeof t);
	}
	return n;
}

/* Raw JSON replacing parts of a record, for the dirty cases. */
struct ovr {
	const char *id, *title, *severity, *status, *tags, *created, *author, *incident, *action_member;
	bool omit_title, drop_comma, omit_archived_at, actor_dangling;
	uint64_t dangling_actor;
};

static void write_ts(FILE *f, ms_t t, bool epoch)
{
	char b[TS_LEN];
	if (epoch)
		fprintf(f, "%" PRId64, t);
	else
		json_str(f, fmt_ts(b, t, true));
}

static void write_report_json(FILE *f, const struct report *r, const struct ovr *o)
{
	static const struct ovr none;
	if (!o)
		o = &none;
	if (o->id)
		fprintf(f, "{\"id\": %s", o->id);
	else
		fprintf(f, "{\"id\": %" PRIu64, r->id);
	if (o->title) {
		fprintf(f, ", \"title\": %s", o->title);
	} else if (!o->omit_title) {
		fputs(", \"title\": ", f);
		json_str(f, r->title);
	}
	fputs(o->drop_comma ? " " : ", ", f);
	if (!r->summary_absent) {
		fputs("\"summary\": ", f);
		json_str_or_null(f, r->summary);
		fputs(", ", f);
	}
	fputs("\"content\": ", f);
	json_str_or_null(f, r->content[0] ? r->content : NULL);
	if (o->severity)
		fprintf(f, ", \"severity\": %s", o->severity);
	else
		fprintf(f, ", \"severity\": \"%s\"", r->severity);
	if (o->status)
		fprintf(f, ", \"status\": %s", o->status);
	else if (!r->status_absent)
		fprintf(f, ", \"status\": \"%s\"", r->archived ? "archived" : "active");
	if (o->tags) {
		fprintf(f, ", \"tags\": %s", o->tags);
	} else if (r->tags_form == 1) {
		fputs(", \"tags\": \"", f);
		for (int i = 0; i < r->n_raw; i++)
			fprintf(f, "%s%s", i ? "," : "", r->raw_tags[i]);
		fputc('"', f);
	} else if (r->tags_form == 3) {
		fputs(", \"tags\": null", f);
	} else if (r->tags_form == 0) {
		fputs(", \"tags\": [", f);
		for (int i = 0; i < r->n_raw; i++) {
			if (i)
				fputs(", ", f);
			json_str(f, r->raw_tags[i]);
		}
		fputc(']', f);
	}
	if (o->author)
		fprintf(f, ", \"author_id\": %s", o->author);
	else
		fprintf(f, ", \"author_id\": %" PRIu64, r->author);
	if (o->incident)
		fprintf(f, ", \"incident_id\": %s", o->incident);
	else if (r->incident)
		fprintf(f, ", \"incident_id\": %" PRIu64, r->incident);
	else
		fputs(", \"incident_id\": null", f);
	fputs(", \"created_at\": ", f);
	if (o->created)
		fputs(o->created, f);
	else
		write_ts(f, r->created_at, r->epoch);
	if (!r->updated_absent) {
		fputs(", \"updated_at\": ", f);
		write_ts(f, r->updated_at, r->epoch);
	}
	if (r->archived && !o->omit_archived_at) {
		fputs(", \"archived_at\": ", f);
		write_ts(f, r->archived_at, r->epoch);
	} else if (!r->archived) {
		fputs(", \"archived_at\": null", f);
	}
	fputs(", \"actions\": [", f);
	for (int i = 0; i < r->n_actions; i++) {
		const struct action *x = &r->actions[i];
		fputs(i ? ", {" : "{", f);
		if (i == 0 && o->action_member)
			fputs(o->action_member, f);
		else
			fprintf(f, "\"action\": \"%s\", ", x->action);
		if (i == 0 && o->dangling_actor)
			fprintf(f, "\"actor_id\": %" PRIu64, o->dangling_actor);
		else if (x->actor)
			fprintf(f, "\"actor_id\": %" PRIu64, x->actor);
		else
			fputs("\"actor_id\": null", f);
		fputs(", \"at\": ", f);
		write_ts(f, x->at, r->epoch && i % 2);
		if (x->note) {
			fputs(", \"note\": ", f);
			json_str(f, x->note);
		}
		fputc('}', f);
	}
	fputs("]}", f);
}

static void write_report_csv(FILE *rf, FILE *af, const struct report *r)
{
	char b[TS_LEN], tags[MAX_TAGS * 2][48];
	int n = norm_tags(r, tags);
	fprintf(rf, "%" PRIu64 ",", r->id);
	csv_field(rf, r->title);
	fputc(',', rf);
	csv_field(rf, r->summary);
	fputc(',', rf);
	csv_field(rf, r->content[0] ? r->content : NULL);
	fprintf(rf, ",%s,%s,", r->severity, r->archived ? "archived" : "active");
	/* a text[] literal, every element quoted, as one CSV field */
	char lit[MAX_TAGS * 2 * 56] = "{";
	for (int i = 0; i < n; i++) {
		size_t k = strlen(lit);
		snprintf(lit + k, sizeof lit - k, "%s\"%s\"", i ? "," : "", tags[i]);
	}
	strncat(lit, "}", sizeof lit - strlen(lit) - 1);
	csv_field(rf, lit);
	fprintf(rf, ",%" PRIu64 ",", r->author);
	if (r->incident)
		fprintf(rf, "%" PRIu64, r->incident);
	fprintf(rf, ",%s,", fmt_ts(b, r->created_at, false));
	fprintf(rf, "%s,", fmt_ts(b, r->updated_at, false));
	if (r->archived)
		fputs(fmt_ts(b, r->archived_at, false), rf);
	fputc('\n', rf);
	for (int i = 0; i < r->n_actions; i++) {
		const struct action *x = &r->actions[i];
		fprintf(af, "%" PRIu64 ",%d,%s,", r->id, i, x->action);
		if (x->actor)
			fprintf(af, "%" PRIu64, x->actor);
		fprintf(af, ",%s,", fmt_ts(b, x->at, false));
		csv_field(af, x->note);
		fputc('\n', af);
	}
}

/* ---------------------------------------------------------------- dirty */

static const char *const CASES[] = {
	NULL,
	"malformed-json",
	"nul-in-string",
	"id-overflow",
	"duplicate-key",
	"duplicate-id",
	"dangling-author",
	"dangling-incident",
	"dangling-actor",
	"wrong-type-id",
	"wrong-type-tags-number",
	"wrong-type-tags-element",
	"bad-severity",
	"bad-status",
	"archived-without-archived-at",
	"bad-timestamp",
	"invalid-utf8",
	"action-missing-action",
	"missing-title",
	"not-an-object",
	"truncated",
};
enum { N_CASES = 20, TRUNCATED = 20, DUP_ID = 5 };

struct gen {
	uint64_t seed, n_users, n_incidents, n_reports;
	bool dirty, csv;
	outf reports, rejects, manifest, csv_reports, csv_actions;
	uint64_t pos, records, rejected, actions, archived;
};

static void element_sep(struct gen *g, FILE *f)
{
	if (g->pos++)
		fputs(",\n", f);
}

static void write_dirty(struct gen *g, int c)
{
	FILE *f = g->reports.f;
	const uint64_t id = g->n_reports + (uint64_t)c;
	char idbuf[64], num[32];
	struct report r;
	struct ovr o = {0};

	element_sep(g, f);
	g->records++;
	g->rejected++;
	fprintf(g->rejects.f, "{\"file\":\"reports/reports.json\",\"position\":%" PRIu64 ",\"case\":\"%s\"}\n", g->pos,
		CASES[c]);
	gen_report(g->seed, id, g->n_users, g->n_incidents, &r);
	if (r.n_actions == 0) { /* every dirty record has a trail to spoil */
		r.actions[0] = (struct action){"create", 1, r.created_at, NULL};
		r.n_actions = 1;
	}
	switch (c) {
	case 1: o.drop_comma = true; break;
	case 2: o.title = "\"Nul\\u0000Byte\""; break;
	case 3: o.id = "99999999999999999999"; break;
	case 4:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64 ", \"id\": %" PRIu64, id, id + 1);
		o.id = idbuf;
		break;
	case 5:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64, g->n_reports < 3 ? g->n_reports : 3);
		o.id = idbuf;
		break;
	case 6:
		snprintf(num, sizeof num, "%" PRIu64, g->n_users + 1000);
		o.author = num;
		break;
	case 7:
		snprintf(num, sizeof num, "%" PRIu64, g->n_incidents + 1000);
		o.incident = num;
		break;
	case 8: o.dangling_actor = g->n_users + 1000; break;
	case 9:
		snprintf(idbuf, sizeof idbuf, "\"%" PRIu64 "\"", id);
		o.id = idbuf;
		break;
	case 10: o.tags = "42"; break;
	case 11: o.tags = "[\"phishing\", 7]"; break;
	case 12: o.severity = "\"urgent\""; break;
	case 13: o.status = "\"deleted\""; break;
	case 14:
		if (!r.archived) { /* make it archived, then lose the time */
			r.archived = true;
			r.archived_at = r.created_at;
		}
		o.status = "\"archived\"";
		o.omit_archived_at = true;
		break;
	case 15: o.created = "\"yesterday\""; break;
	case 16: o.title = "\"Caf\xC3\x28 report\""; break;
	case 17: o.action_member = ""; break;
	case 18: o.omit_title = true; break;
	case 19: fputs("[\"not\", \"a\", \"report\"]", f); return;
	case 20:
		fprintf(f, "{\"id\": %" PRIu64 ", \"title\": \"Trunc", id);
		return;
	}
	write_report_json(f, &r, &o);
}

static uint64_t slot_of(const struct gen *g, int c)
{
	uint64_t slot = (uint64_t)c * g->n_reports / N_CASES;
	uint64_t ref = c == DUP_ID ? (g->n_reports < 3 ? g->n_reports : 3) : 0;
	return slot > ref ? slot : ref;
}

static void write_reports(struct gen *g)
{
	FILE *f = g->reports.f;
	struct report r;
	fputs("{\"reports\": [\n", f);
	for (uint64_t k = 0; k <= g->n_reports; k++) {
		if (k) {
			gen_report(g->seed, k, g->n_users, g->n_incidents, &r);
			element_sep(g, f);
			write_report_json(f, &r, NULL);
			g->records++;
			g->actions += (uint64_t)r.n_actions;
			g->archived += r.archived;
			if (g->csv)
				write_report_csv(g->csv_reports.f, g->csv_actions.f, &r);
		}
		for (int c = 1; g->dirty && c < TRUNCATED; c++)
			if (slot_of(g, c) == k)
				write_dirty(g, c);
	}
	if (g->dirty)
		write_dirty(g, TRUNCATED); /* the file ends inside it */
	else
		fputs(g->pos ? "\n]}\n" : "]}\n", f);
}

static void usage(FILE *f)
{
	fputs("usage: cutover-gen-reports --out DIR [--users N] [--incidents I] [--reports R] [--seed S]\n"
	      "                           [--dirty] [--csv DIR] [--quiet]\n"
	      "\n"
	      "Writes DIR/reports/reports.json (legacy layout), DIR/expected-rejects-reports.ndjson\n"
	      "and DIR/manifest-reports.json.\n"
	      "  --out DIR        output state root (created 0700)\n"
	      "  --users N        authors and actors among users 1..N (default 100)\n"
	      "  --incidents I    incidents 1..I may be linked (default 20; 0: none)\n"
	      "  --reports R      clean reports, ids 1..R (default 200)\n"
	      "  --seed S         PRNG seed; same seed, same bytes (default 1)\n"
	      "  --dirty          inject one record of each reject case\n"
	      "  --csv DIR        also write the clean rows as PostgreSQL CSV\n"
	      "  --quiet          print nothing on success\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},       {"users", required_argument, NULL, 'u'},
		{"incidents", required_argument, NULL, 'i'}, {"reports", required_argument, NULL, 'r'},
		{"seed", required_argument, NULL, 's'},      {"dirty", no_argument, NULL, 'd'},
		{"csv", required_argument, NULL, 'c'},       {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
	};
	struct gen g = {.seed = 1, .n_users = 100, .n_incidents = 20, .n_reports = 200};
	const char *out = NULL, *csv = NULL;
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'u': g.n_users = gen_parse_u64(optarg, "--users"); break;
		case 'i': g.n_incidents = gen_parse_u64(optarg, "--incidents"); break;
		case 'r': g.n_reports = gen_parse_u64(optarg, "--reports"); break;
		case 's': g.seed = gen_parse_u64(optarg, "--seed"); break;
		case 'd': g.dirty = true; break;
		case 'c': csv = optarg; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !out || !*out || (csv && !*csv)) {
		usage(stderr);
		return 2;
	}
	if (g.n_users == 0 || g.n_users > 9007199254740000ULL)
		die(2, "--users needs a number from 1 (every report has an author)");
	if (g.n_reports > 100000000ULL || g.n_incidents > 9007199254740000ULL)
		die(2, "--reports is at most 100000000");
	if (g.dirty && g.n_reports == 0)
		die(2, "--dirty needs at least one report to collide with");

	T_FROM = ms_of(2021, 1, 1);
	T_TO = ms_of(2026, 10, 25);

	char rdir[PATH_MAX];
	if (snprintf(rdir, sizeof rdir, "%s/reports", out) >= (int)sizeof rdir)
		die(2, "path too long: %s", out);
	mkdir_p(rdir);
	out_open(&g.reports, rdir, "reports.json");
	out_open(&g.rejects, out, "expected-rejects-reports.ndjson");
	if ((g.csv = csv != NULL)) {
		mkdir_p(csv);
		out_open(&g.csv_reports, csv, "reports.csv");
		out_open(&g.csv_actions, csv, "report_actions.csv");
		fputs("id,title,summary,content,severity,status,tags,author_id,incident_id,created_at,updated_at,"
		      "archived_at\n",
		      g.csv_reports.f);
		fputs("report_id,position,action,actor_id,at,note\n", g.csv_actions.f);
	}
	write_reports(&g);
	out_open(&g.manifest, out, "manifest-reports.json");
	fprintf(g.manifest.f,
		"{\"seed\":%" PRIu64 ",\"reports\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64
		",\"archived\":%" PRIu64 "},\"actions\":%" PRIu64 "}\n",
		g.seed, g.records, g.n_reports, g.rejected, g.archived, g.actions);
	outf *all[] = {&g.reports, &g.rejects, &g.manifest, &g.csv_reports, &g.csv_actions};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		out_close(all[i]);
	if (!quiet)
		printf("%s: %" PRIu64 " reports (%" PRIu64 " rejects, %" PRIu64 " archived), %" PRIu64 " actions%s%s\n",
		       out, g.records, g.rejected, g.archived, g.actions, csv ? "; csv in " : "", csv ? csv : "");
	return 0;
}
