/* gen_profile.c — realistic legacy profile state for tests, benchmarks, demos.
 *
 * usage: cutover-gen-profile --out DIR [--users N] [--share F] [--seed S]
 *                            [--dirty] [--csv DIR] [--quiet]
 *
 * Writes DIR/profile/profiles.json in the legacy layout (docs/legacy-layout.md)
 * for users 1..N as `cutover-gen-legacy --users N` makes them: about a share F
 * of them (always users 1-3) have a profile, in user order, one array element
 * per line. The data looks like a real app's: headlines and bios in several
 * languages with quotes, commas, newlines and tabs; avatar and certificate
 * paths with spaces, %20, unicode and a trailing space (kept byte for byte);
 * ordered specialties and tools; certifications with "YYYY-MM-DD" dates (some
 * as midnight-UTC ISO timestamps, some without expiry); education with years
 * (some ongoing); ~15% of updated_at as epoch milliseconds, a few absent.
 * Certification and education ids count up from 1 across the file.
 *
 * --dirty injects 18 bad records, each once, at deterministic positions (the
 * last truncates the file): the common cases (malformed JSON, \u0000, an
 * overflowing user_id, a duplicate key, a second profile for a user, a user
 * that does not exist, a wrong type, a bad date, a bad timestamp, invalid
 * UTF-8, a non-object, truncation) and profile's own (specialties as one
 * string, a certification id twice in a profile, a certification id an
 * earlier profile holds, a certification without a name, expires_on before
 * issued_on, start_year after end_year). A duplicate always comes after the
 * clean record it collides with. DIR/expected-rejects-profile.ndjson lists
 * them ({"file","position","case"}, position 1-based among all elements);
 * DIR/manifest-profile.json has the counts a backfill must report.
 *
 * --csv DIR writes the clean rows as the library normalises them, one
 * PostgreSQL CSV per table (header; an empty unquoted field is NULL).
 *
 * Deterministic for a seed (splitmix64); a profile's content is a pure
 * function of (seed, user id) and records are streamed, so memory is
 * constant whatever N is. Files 0600, directories 0700. Exit codes: 0
 * written, 2 bad arguments, 3 an I/O failure.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

const char *gen_program = "cutover-gen-profile";

#define MAX_USERS 100000000ULL

static const char *const HEADLINES[] = {
	"Senior Threat Analyst",
	"D\xc3\xa9tection & R\xc3\xa9ponse \xe2\x80\x94 Lead",
	"SOC Engineer, Tier 2",
	"\"Purple team\" enthusiast",
	"Incident Responder",
	"\xe3\x82\xbb\xe3\x82\xad\xe3\x83\xa5\xe3\x83\xaa\xe3\x83\x86\xe3\x82\xa3\xe3\x82\xa2\xe3\x83\x8a\xe3\x83\xaa\xe3\x82\xb9\xe3\x83\x88",
	"Red Team Operator",
	"Cloud Security Architect",
	"Sicherheitsanalystin (IT-Forensik)",
};
static const char *const PLACES[] = {
	"S\xc3\xa3o Paulo, Brasil", "Z\xc3\xbcrich", "Krak\xc3\xb3w", "Dublin", "\xe6\x9d\xb1\xe4\xba\xac",
	"Lagos", "Berlin", "New York, NY", ("Montr\xc3\xa9" "al, QC"),
};
static const char *const SPECIALTIES[] = {
	"Threat hunting", "DFIR", "Malware analysis", "D\xc3\xa9tection", "Cloud security", "OSINT",
	"Reverse engineering", "Forensics, memory", "Purple teaming", "ICS/SCADA",
};
static const char *const TOOLS[] = {
	"Zeek", "Suricata", "Ghidra", "IDA Pro", "YARA", "Wireshark", "Burp Suite", "Volatility", "Splunk",
	"Elastic", "osquery", "Velociraptor",
};
static const char *const CERTS[][2] = {
	{"CISSP", "ISC\xc2\xb2"}, {"OSCP", "Offensive Security"}, {"GIAC GCIH", "GIAC"},
	{"CompTIA Security+", "CompTIA"}, {"Certified Kubernetes Security Specialist (CKS)", "CNCF"},
	{"CEH", "EC-Council"}, {"IT-Grundschutz-Praktiker", "BSI"},
};
static const char *const SCHOOLS[] = {
	"Universit\xc3\xa4t Wien", ("\xc3\x89" "cole Polytechnique"), "MIT", "Uniwersytet Jagiello\xc5\x84ski",
	"University of Lagos", "\xe6\x9d\xb1\xe4\xba\xac\xe5\xa4\xa7\xe5\xad\xa6", "Trinity College Dublin",
};
static const char *const DEGREES[] = {"BSc", "MSc", "PhD", "Diplom-Informatiker", NULL};
static const char *const FIELDS[] = {"Computer Science", "Informatik", "Mathematics", "Information Security", NULL};

enum { MAX_NAMES = 6, MAX_CERTS = 4, MAX_EDU = 3 };

struct cert {
	uint64_t id;
	const char *name, *issuer;
	char issued[TS_LEN], expires[TS_LEN]; /* "" = null; legacy text (maybe a timestamp) */
	char issued_norm[16], expires_norm[16];
	char credential_id[32], url[96], asset[160];
	bool has_cred, has_url, has_asset;
};

struct edu {
	uint64_t id;
	const char *school, *degree, *field;
	int start, end;
};

struct profile {
	uint64_t user_id;
	const char *headline, *location;
	char bio[512], website[96], avatar[160];
	bool has_bio, has_website, has_avatar;
	int n_spec, n_tools, n_certs, n_edu;
	const char *spec[MAX_NAMES], *tools[MAX_NAMES];
	struct cert certs[MAX_CERTS];
	struct edu edu[MAX_EDU];
	int ts_mode; /* 0 ISO, 1 epoch ms, 2 absent */
	ms_t updated_at;
};

static ms_t T_FROM, T_TO;

static bool has_profile(uint64_t seed, uint64_t id, double share)
{
	rng r = {mix64(seed ^ 0x70726f66ULL) ^ mix64(id)};
	return id <= 3 || unit(&r) < share;
}

static void date_of(ms_t t, char *out)
{
	char b[TS_LEN];
	fmt_ts(b, t - t % DAY_MS, false);
	memcpy(out, b, 10);
	out[10] = '\0';
}

/* User id's profile; entry ids are taken from *next_cert / *next_edu. */
static void gen_profile(uint64_t seed, uint64_t id, uint64_t *next_cert, uint64_t *next_edu, struct profile *p)
{
	rng r = {mix64(seed ^ 0x706f7274ULL) ^ mix64(id * 0x9e3779b97f4a7c15ULL + 7)};
	memset(p, 0, sizeof *p);
	p->user_id = id;
	p->headline = chance(&r, 0.05) ? NULL : HEADLINES[below(&r, sizeof HEADLINES / sizeof *HEADLINES)];
	p->location = chance(&r, 0.1) ? NULL : PLACES[below(&r, sizeof PLACES / sizeof *PLACES)];
	if ((p->has_bio = chance(&r, 0.85)))
		snprintf(p->bio, sizeof p->bio, "Works on %s and %s.\nBefore that: \"%s\", %s.\tAvailable for talks.",
			 SPECIALTIES[below(&r, 10)], SPECIALTIES[below(&r, 10)], HEADLINES[below(&r, 9)],
			 PLACES[below(&r, 9)]);
	if ((p->has_website = chance(&r, 0.6)))
		snprintf(p->website, sizeof p->website, "https://example.com/~u%" PRIu64 "?ref=profile&lang=de", id);
	if ((p->has_avatar = chance(&r, 0.9))) {
		switch (below(&r, 6)) {
		case 0: snprintf(p->avatar, sizeof p->avatar, "avatars/%" PRIu64 "/my photo.png", id); break;
		case 1: snprintf(p->avatar, sizeof p->avatar, "avatars/%" PRIu64 "/Zo\xc3\xab%%20pic.jpg", id); break;
		case 2: snprintf(p->avatar, sizeof p->avatar, "avatars/%" PRIu64 "/trailing space.png ", id); break;
		case 3: snprintf(p->avatar, sizeof p->avatar, "avatars/%" PRIu64 "/\xc3\xbcn\xc3\xaf/\xf0\x9f\x98\x80.webp", id); break;
		default: snprintf(p->avatar, sizeof p->avatar, "avatars/%" PRIu64 "/photo.png", id); break;
		}
	}
	p->n_spec = (int)below(&r, MAX_NAMES + 1);
	for (int i = 0; i < p->n_spec; i++)
		p->spec[i] = SPECIALTIES[below(&r, sizeof SPECIALTIES / sizeof *SPECIALTIES)];
	p->n_tools = (int)below(&r, MAX_NAMES + 1);
	for (int i = 0; i < p->n_tools; i++)
		p->tools[i] = TOOLS[below(&r, sizeof TOOLS / sizeof *TOOLS)];
	p->n_certs = (int)below(&r, MAX_CERTS + 1);
	if (id == 1 && p->n_certs == 0)
		p->n_certs = 1; /* the dirty cross-profile duplicate takes its first id */
	for (int i = 0; i < p->n_certs; i++) {
		struct cert *c = &p->certs[i];
		c->id = (*next_cert)++;
		size_t k = below(&r, sizeof CERTS / sizeof *CERTS);
		c->name = CERTS[k][0];
		c->issuer = chance(&r, 0.1) ? NULL : CERTS[k][1];
		ms_t issued = between(&r, ms_of(2012, 1, 1), ms_of(2026, 6, 1));
		issued -= issued % DAY_MS;
		bool as_ts = chance(&r, 0.1);
		if (chance(&r, 0.9)) {
			date_of(issued, c->issued_norm);
			if (as_ts)
				fmt_ts(c->issued, issued, true); /* "2021-05-01T00:00:00.000Z" */
			else
				memcpy(c->issued, c->issued_norm, 11);
			if (chance(&r, 0.7)) {
				date_of(issued + 3 * 365 * DAY_MS, c->expires_norm);
				memcpy(c->expires, c->expires_norm, 11);
			}
		}
		if ((c->has_cred = chance(&r, 0.7)))
			snprintf(c->credential_id, sizeof c->credential_id, "%c%c-%06" PRIu64, 'A' + (char)below(&r, 26),
				 'A' + (char)below(&r, 26), below(&r, 1000000));
		if ((c->has_url = chance(&r, 0.5)))
			snprintf(c->url, sizeof c->url, "https://verify.example.org/c?id=%" PRIu64 "&u=%" PRIu64, c->id, id);
		if ((c->has_asset = chance(&r, 0.8))) {
			switch (below(&r, 4)) {
			case 0: snprintf(c->asset, sizeof c->asset, "certs/%" PRIu64 "/%s cert.pdf", id, c->name); break;
			case 1: snprintf(c->asset, sizeof c->asset, "certs/%" PRIu64 "/%" PRIu64 "%%20scan.pdf ", id, c->id); break;
			case 2: snprintf(c->asset, sizeof c->asset, "certs/%" PRIu64 "/Zertifikat_\xc3\x9c" "bersicht.pdf", id); break;
			default: snprintf(c->asset, sizeof c->asset, "certs/%" PRIu64 "/%" PRIu64 ".pdf", id, c->id); break;
			}
		}
	}
	p->n_edu = (int)below(&r, MAX_EDU + 1);
	for (int i = 0; i < p->n_edu; i++) {
		struct edu *e = &p->edu[i];
		e->id = (*next_edu)++;
		e->school = SCHOOLS[below(&r, sizeof SCHOOLS / sizeof *SCHOOLS)];
		e->degree = DEGREES[below(&r, sizeof DEGREES / sizeof *DEGREES)];
		e->field = FIELDS[below(&r, sizeof FIELDS / sizeof *FIELDS)];
		e->start = chance(&r, 0.05) ? 0 : (int)between(&r, 1990, 2022);
		e->end = chance(&r, 0.15) || !e->start ? 0 : e->start + (int)between(&r, 1, 6);
	}
	double q = unit(&r);
	p->ts_mode = q < 0.15 ? 1 : q < 0.18 ? 2 : 0;
	p->updated_at = between(&r, T_FROM, T_TO);
}

/* Raw JSON text replacing a part of the record, for the dirty cases. */
struct ovr {
	const char *user_id, *headline, *bio, *specialties, *updated_at, *issued_on;
	bool drop_comma_after_user_id, duplicate_key, omit_first_cert_name;
};

static void str_or_null(FILE *f, bool has, const char *s)
{
	json_str_or_null(f, has ? s : NULL);
}

static void write_profile_json(FILE *f, const struct profile *p, const struct ovr *o)
{
	static const struct ovr none;
	char b[TS_LEN];
	if (!o)
		o = &none;
	if (o->user_id)
		fprintf(f, "{\"user_id\": %s", o->user_id);
	else
		fprintf(f, "{\"user_id\": %" PRIu64, p->user_id);
	fputs(o->drop_comma_after_user_id ? " " : ", ", f);
	if (o->duplicate_key)
		fputs("\"headline\": \"first\", ", f);
	fputs("\"headline\": ", f);
	if (o->headline)
		fputs(o->headline, f);
	else
		json_str_or_null(f, p->headline);
	fputs(", \"bio\": ", f);
	if (o->bio)
		fputs(o->bio, f);
	else
		str_or_null(f, p->has_bio, p->bio);
	fputs(", \"location\": ", f);
	json_str_or_null(f, p->location);
	fputs(", \"website\": ", f);
	str_or_null(f, p->has_website, p->website);
	fputs(", \"avatar_path\": ", f);
	str_or_null(f, p->has_avatar, p->avatar);
	fputs(", \"specialties\": ", f);
	if (o->specialties) {
		fputs(o->specialties, f);
	} else {
		fputc('[', f);
		for (int i = 0; i < p->n_spec; i++) {
			fputs(i ? ", " : "", f);
			json_str(f, p->spec[i]);
		}
		fputc(']', f);
	}
	fputs(", \"tools\": [", f);
	for (int i = 0; i < p->n_tools; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, p->tools[i]);
	}
	fputs("], \"certifications\": [", f);
	for (int i = 0; i < p->n_certs; i++) {
		const struct cert *c = &p->certs[i];
		fprintf(f, "%s{\"id\": %" PRIu64, i ? ", " : "", c->id);
		if (!(i == 0 && o->omit_first_cert_name)) {
			fputs(", \"name\": ", f);
			json_str(f, c->name);
		}
		fputs(", \"issuer\": ", f);
		json_str_or_null(f, c->issuer);
		fputs(", \"issued_on\": ", f);
		if (i == 0 && o->issued_on)
			fputs(o->issued_on, f);
		else
			str_or_null(f, c->issued[0], c->issued);
		fputs(", \"expires_on\": ", f);
		str_or_null(f, c->expires[0], c->expires);
		fputs(", \"credential_id\": ", f);
		str_or_null(f, c->has_cred, c->credential_id);
		fputs(", \"credential_url\": ", f);
		str_or_null(f, c->has_url, c->url);
		fputs(", \"asset_path\": ", f);
		str_or_null(f, c->has_asset, c->asset);
		fputc('}', f);
	}
	fputs("], \"education\": [", f);
	for (int i = 0; i < p->n_edu; i++) {
		const struct edu *e = &p->edu[i];
		fprintf(f, "%s{\"id\": %" PRIu64 ", \"institution\": ", i ? ", " : "", e->id);
		json_str(f, e->school);
		fputs(", \"degree\": ", f);
		json_str_or_null(f, e->degree);
		fputs(", \"field\": ", f);
		json_str_or_null(f, e->field);
		if (e->start)
			fprintf(f, ", \"start_year\": %d", e->start);
		else
			fputs(", \"start_year\": null", f);
		if (e->end)
			fprintf(f, ", \"end_year\": %d", e->end);
		fputc('}', f);
	}
	fputc(']', f);
	if (o->updated_at)
		fprintf(f, ", \"updated_at\": %s", o->updated_at);
	else if (p->ts_mode == 1)
		fprintf(f, ", \"updated_at\": %" PRId64, p->updated_at);
	else if (p->ts_mode == 0) {
		fputs(", \"updated_at\": ", f);
		json_str(f, fmt_ts(b, p->updated_at, true));
	}
	fputc('}', f);
}

/* --- output files ------------------------------------------------------------------ */

struct gen {
	uint64_t seed, n_users;
	double share;
	bool dirty, csv;
	outf profiles, rejects, manifest, c_prof, c_spec, c_tools, c_certs, c_edu;
	uint64_t pos, records, clean, rejected, next_cert, next_edu;
	uint64_t n_spec, n_tools, n_certs, n_edu;
	uint64_t first_cert_of_user1;
};

static void year_csv(FILE *f, int y)
{
	if (y)
		fprintf(f, "%d", y);
}

static void write_csv(struct gen *g, const struct profile *p)
{
	char b[TS_LEN];
	FILE *f = g->c_prof.f;
	fprintf(f, "%" PRIu64 ",", p->user_id);
	csv_field(f, p->headline);
	fputc(',', f);
	csv_field(f, p->has_bio ? p->bio : NULL);
	fputc(',', f);
	csv_field(f, p->location);
	fputc(',', f);
	csv_field(f, p->has_website ? p->website : NULL);
	fputc(',', f);
	csv_field(f, p->has_avatar ? p->avatar : NULL);
	fputc(',', f);
	if (p->ts_mode != 2)
		fputs(fmt_ts(b, p->updated_at, false), f);
	fputc('\n', f);
	for (int i = 0; i < p->n_spec; i++) {
		fprintf(g->c_spec.f, "%" PRIu64 ",%d,", p->user_id, i);
		csv_field(g->c_spec.f, p->spec[i]);
		fputc('\n', g->c_spec.f);
	}
	for (int i = 0; i < p->n_tools; i++) {
		fprintf(g->c_tools.f, "%" PRIu64 ",%d,", p->user_id, i);
		csv_field(g->c_tools.f, p->tools[i]);
		fputc('\n', g->c_tools.f);
	}
	for (int i = 0; i < p->n_certs; i++) {
		const struct cert *c = &p->certs[i];
		f = g->c_certs.f;
		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%d,", c->id, p->user_id, i);
		csv_field(f, c->name);
		fputc(',', f);
		csv_field(f, c->issuer);
		fputc(',', f);
		csv_field(f, c->issued[0] ? c->issued_norm : NULL);
		fputc(',', f);
		csv_field(f, c->expires[0] ? c->expires_norm : NULL);
		fputc(',', f);
		csv_field(f, c->has_cred ? c->credential_id : NULL);
		fputc(',', f);
		csv_field(f, c->has_url ? c->url : NULL);
		fputc(',', f);
		csv_field(f, c->has_asset ? c->asset : NULL);
		fputc('\n', f);
	}
	for (int i = 0; i < p->n_edu; i++) {
		const struct edu *e = &p->edu[i];
		f = g->c_edu.f;
		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%d,", e->id, p->user_id, i);
		csv_field(f, e->school);
		fputc(',', f);
		csv_field(f, e->degree);
		fputc(',', f);
		csv_field(f, e->field);
		fputc(',', f);
		year_csv(f, e->start);
		fputc(',', f);
		year_csv(f, e->end);
		fputc('\n', f);
	}
}

static void element_sep(struct gen *g)
{
	if (g->pos++)
		fputs(",\n", g->profiles.f);
}

/* --- dirty records ---------------------------------------------------------------------- */

static const char *const CASES[] = {
	NULL,
	"malformed-json",
	"nul-in-string",
	"id-overflow",
	"duplicate-key",
	"duplicate-user",
	"dangling-user",
	"wrong-type-user-id",
	"bad-date",
	"bad-timestamp",
	"invalid-utf8",
	"not-an-object",
	"specialties-not-a-list",
	"duplicate-certification-id",
	"certification-id-of-another-profile",
	"certification-without-name",
	"expires-before-issued",
	"start-after-end",
	"truncated",
};
enum { N_CASES = 18, TRUNCATED = 18, DUP_USER = 5, CROSS_CERT = 14 };

static void write_dirty(struct gen *g, int c)
{
	FILE *f = g->profiles.f;
	const uint64_t n = g->n_users, uid = n + (uint64_t)c;
	struct profile p;
	struct ovr o = {0};
	char buf[64];
	uint64_t cert_id = 1000000000ULL + (uint64_t)c * 10, edu_id = 1000000000ULL + (uint64_t)c * 10;

	element_sep(g);
	g->records++;
	g->rejected++;
	fprintf(g->rejects.f, "{\"file\":\"profile/profiles.json\",\"position\":%" PRIu64 ",\"case\":\"%s\"}\n", g->pos,
		CASES[c]);
	gen_profile(g->seed ^ 0x6469727479ULL, uid, &cert_id, &edu_id, &p); /* a plausible record ... */
	p.user_id = uid;
	if (p.n_certs == 0) { /* ... with at least one certification and one education entry ... */
		p.certs[0] = (struct cert){.id = cert_id++, .name = "CISSP", .issuer = "ISC\xc2\xb2"};
		memcpy(p.certs[0].issued, "2020-01-15", 11);
		p.n_certs = 1;
	}
	if (p.n_edu == 0) {
		p.edu[0] = (struct edu){edu_id++, SCHOOLS[0], "BSc", "Informatik", 2001, 2004};
		p.n_edu = 1;
	}
	switch (c) { /* ... then one thing wrong with it */
	case 1: o.drop_comma_after_user_id = true; break;
	case 2: o.headline = "\"Nul\\u0000Byte\""; break;
	case 3: o.user_id = "99999999999999999999"; break;
	case 4: o.duplicate_key = true; break;
	case 5: p.user_id = n < 2 ? n : 2; break;
	case 6: p.user_id = n + 1000; break;
	case 7:
		snprintf(buf, sizeof buf, "\"%" PRIu64 "\"", uid);
		o.user_id = buf;
		break;
	case 8: o.issued_on = "\"2021-13-45\""; break;
	case 9: o.updated_at = "\"yesterday\""; break;
	case 10: o.bio = "\"Caf\xC3\x28 owner\""; break;
	case 11: fputs("42", f); return;
	case 12: o.specialties = "\"DFIR, Cloud security\""; break;
	case 13:
		p.certs[1] = p.certs[0];
		p.n_certs = p.n_certs < 2 ? 2 : p.n_certs;
		p.certs[1].id = p.certs[0].id;
		break;
	case 14: p.certs[0].id = g->first_cert_of_user1; break;
	case 15: o.omit_first_cert_name = true; break;
	case 16:
		memcpy(p.certs[0].issued, "2022-05-01", 11);
		memcpy(p.certs[0].expires, "2021-05-01", 11);
		break;
	case 17:
		p.edu[0].start = 2015;
		p.edu[0].end = 2012;
		break;
	case 18:
		fprintf(f, "{\"user_id\": %" PRIu64 ", \"headline\": \"trunc", n + 40);
		return;
	}
	write_profile_json(f, &p, &o);
}

static uint64_t slot_of(const struct gen *g, int c)
{
	uint64_t slot = (uint64_t)c * g->n_users / N_CASES;
	uint64_t ref = c == DUP_USER ? 2 : c == CROSS_CERT ? 1 : 0;
	return slot > ref ? slot : ref;
}

static void write_profiles(struct gen *g)
{
	FILE *f = g->profiles.f;
	struct profile p;
	g->pos = 0;
	g->next_cert = g->next_edu = 1;
	fputs("{\"profiles\": [\n", f);
	for (uint64_t k = 0; k <= g->n_users; k++) {
		if (k && has_profile(g->seed, k, g->share)) {
			gen_profile(g->seed, k, &g->next_cert, &g->next_edu, &p);
			if (k == 1)
				g->first_cert_of_user1 = p.certs[0].id;
			element_sep(g);
			write_profile_json(f, &p, NULL);
			g->records++;
			g->clean++;
			g->n_spec += (uint64_t)p.n_spec;
			g->n_tools += (uint64_t)p.n_tools;
			g->n_certs += (uint64_t)p.n_certs;
			g->n_edu += (uint64_t)p.n_edu;
			if (g->csv)
				write_csv(g, &p);
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
	fputs("usage: cutover-gen-profile --out DIR [--users N] [--share F] [--seed S]\n"
	      "                           [--dirty] [--csv DIR] [--quiet]\n"
	      "\n"
	      "Writes DIR/profile/profiles.json (legacy layout), DIR/expected-rejects-profile.ndjson\n"
	      "and DIR/manifest-profile.json. Users 1..N are those of cutover-gen-legacy --users N.\n"
	      "  --out DIR     output state root (created 0700)\n"
	      "  --users N     users 1..N (default 100)\n"
	      "  --share F     share of users with a profile, 0 to 1 (default 0.8; users 1-3 always)\n"
	      "  --seed S      PRNG seed; same seed, same bytes (default 1)\n"
	      "  --dirty       inject one record of each reject case\n"
	      "  --csv DIR     also write the clean rows as PostgreSQL CSV\n"
	      "  --quiet       print nothing on success\n",
	      f);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fputs("cutover-gen-profile: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},  {"users", required_argument, NULL, 'u'},
		{"share", required_argument, NULL, 'f'}, {"seed", required_argument, NULL, 's'},
		{"dirty", no_argument, NULL, 'd'},       {"csv", required_argument, NULL, 'c'},
		{"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gen g = {.seed = 1, .n_users = 100, .share = 0.8};
	const char *out = NULL, *csv = NULL;
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'u': g.n_users = gen_parse_u64(optarg, "--users"); break;
		case 's': g.seed = gen_parse_u64(optarg, "--seed"); break;
		case 'd': g.dirty = true; break;
		case 'c': csv = optarg; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case 'f': {
			char *end;
			g.share = strtod(optarg, &end);
			if (!*optarg || *end || !(g.share >= 0 && g.share <= 1))
				bad_usage("--share needs a number from 0 to 1, not %s", optarg);
			break;
		}
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (!out || !*out)
		bad_usage("%s", "--out DIR is required");
	if (csv && !*csv)
		bad_usage("%s", "--csv needs a directory");
	if (g.n_users > MAX_USERS)
		bad_usage("%s", "--users is at most 100000000");
	if (g.dirty && g.n_users < 3)
		bad_usage("%s", "--dirty needs at least 3 users (its duplicates refer to users 1 and 2)");
	T_FROM = ms_of(2019, 1, 1);
	T_TO = ms_of(2026, 10, 31);

	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s/profile", out) >= (int)sizeof dir)
		die(2, "path too long: %s", out);
	mkdir_p(dir);
	out_open(&g.profiles, dir, "profiles.json");
	out_open(&g.rejects, out, "expected-rejects-profile.ndjson");
	if ((g.csv = csv != NULL)) {
		mkdir_p(csv);
		out_open(&g.c_prof, csv, "portfolio_profiles.csv");
		out_open(&g.c_spec, csv, "profile_specialties.csv");
		out_open(&g.c_tools, csv, "profile_tools.csv");
		out_open(&g.c_certs, csv, "portfolio_certifications.csv");
		out_open(&g.c_edu, csv, "portfolio_education.csv");
		fputs("user_id,headline,bio,location,website,avatar_path,updated_at\n", g.c_prof.f);
		fputs("user_id,position,name\n", g.c_spec.f);
		fputs("user_id,position,name\n", g.c_tools.f);
		fputs("id,user_id,position,name,issuer,issued_on,expires_on,credential_id,credential_url,asset_path\n",
		      g.c_certs.f);
		fputs("id,user_id,position,institution,degree,field,start_year,end_year\n", g.c_edu.f);
	}
	write_profiles(&g);
	out_open(&g.manifest, out, "manifest-profile.json");
	fprintf(g.manifest.f,
		"{\"seed\":%" PRIu64 ",\"profiles\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64
		"},\"specialties\":%" PRIu64 ",\"tools\":%" PRIu64 ",\"certifications\":%" PRIu64 ",\"education\":%" PRIu64
		"}\n",
		g.seed, g.records, g.clean, g.rejected, g.n_spec, g.n_tools, g.n_certs, g.n_edu);
	outf *all[] = {&g.profiles, &g.rejects, &g.manifest, &g.c_prof, &g.c_spec, &g.c_tools, &g.c_certs, &g.c_edu};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		out_close(all[i]);
	if (!quiet)
		printf("%s: %" PRIu64 " profiles (%" PRIu64 " rejects), %" PRIu64 " certifications, %" PRIu64
		       " education entries%s%s\n",
		       out, g.records, g.rejected, g.n_certs, g.n_edu, csv ? "; csv in " : "", csv ? csv : "");
	return 0;
}
