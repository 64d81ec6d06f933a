/* gen_legacy.c — realistic legacy identity state for tests, benchmarks, demos.
 *
 * usage: cutover-gen-legacy --out DIR [--users N] [--sessions-per-user F]
 *                           [--seed S] [--dirty] [--csv DIR] [--quiet]
 *
 * Writes DIR/identity/users.json and DIR/identity/sessions.json in the legacy
 * layout (docs/legacy-layout.md): users 1..N in order, round(N*F) sessions,
 * one array element per line. The data looks like a real app's: names from
 * several languages (some display names are non-ASCII UTF-8, some carry quotes
 * or commas), emails in mixed case or with stray spaces (unique after
 * trim + ASCII-lowercase), bcrypt and argon2id hashes, oauth-only accounts
 * without a password_hash, github/google links, ~15% of users with epoch
 * milliseconds instead of ISO timestamps, ~20% of sessions already expired
 * relative to 2026-11-01T00:00:00Z.
 *
 * --dirty injects 21 bad records, each once, interleaved at deterministic
 * positions (15 in users.json, the last of which truncates the file; 6 in
 * sessions.json). Clean users keep ids 1..N; bad ones use ids above N unless
 * the case is about reusing a key, and a duplicate always comes after the
 * clean record it collides with, so a streaming reader keeps the clean one.
 * DIR/expected-rejects.ndjson lists every injected record by file, 1-based
 * array position (clean and bad elements counted together) and case name;
 * DIR/manifest.json has the counts a backfill of this data must report.
 *
 * --csv DIR writes users.csv, user_oauth.csv and sessions.csv: the clean rows
 * normalised as the library normalises them (email trimmed and lower-cased,
 * timestamps as ISO-8601 UTC), in PostgreSQL CSV (header; an empty unquoted
 * field is NULL), for a `psql \copy` baseline to compare a backfill against.
 *
 * Design: everything is deterministic for a seed (splitmix64, no rand()).
 * Each user is a pure function of (seed, id), so a dirty record or a session
 * can regenerate any user it refers to instead of keeping all users in
 * memory; records are streamed with stdio and escaped by hand, so memory stays
 * constant whatever N is. Files are created 0600 and directories 0700.
 * Exit codes: 0 written, 2 bad arguments, 3 an I/O failure.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

const char *gen_program = "cutover-gen-legacy";

#define MAX_USERS 100000000ULL /* the oauth subject mappings are injective below this */
#define MAX_SESSIONS_PER_USER 1000.0

static ms_t T_USERS_FROM, T_USERS_TO, T_LIMIT, T_NOW;

/* ---------------------------------------------------------------- users */

struct name {
	const char *display, *ascii;
};

static const struct name FIRST[] = {
	{"Ada", "ada"},           {"Grace", "grace"},     {"Alan", "alan"},         {"José", "jose"},
	{"Zoë", "zoe"},           {"Björn", "bjorn"},     {"Søren", "soren"},       {"Chloé", "chloe"},
	{"François", "francois"}, {"Małgorzata", "malgorzata"}, {"Jürgen", "jurgen"}, {"Siobhán", "siobhan"},
	{"Aoife", "aoife"},       {"Priya", "priya"},     {"Wei", "wei"},           {"Fatima", "fatima"},
	{"Olusegun", "olusegun"}, {"Dmitri", "dmitri"},   {"Mei", "mei"},           {"Lucía", "lucia"},
	{"Ingrid", "ingrid"},     {"Kwame", "kwame"},     {"Hiroshi", "hiroshi"},   {"Sofia", "sofia"},
	{"Mateo", "mateo"},       {"Amara", "amara"},     {"Liam", "liam"},         {"Emma", "emma"},
	{"Noah", "noah"},         {"Olivia", "olivia"},   {"Ethan", "ethan"},       {"Ava", "ava"},
	{"Raj", "raj"},           {"Yasmin", "yasmin"},   {"Tomás", "tomas"},       {"Renée", "renee"},
	{"Ørjan", "orjan"},       {"Katarzyna", "katarzyna"}, {"Chidi", "chidi"},   {"Ana", "ana"},
	{"Ken", "ken"},           {"Margaret", "margaret"}, {"Linus", "linus"},     {"Barbara", "barbara"},
};

static const struct name LAST[] = {
	{"Lovelace", "lovelace"},   {"Hopper", "hopper"},     {"Turing", "turing"},     {"Núñez", "nunez"},
	{"Müller", "muller"},       {"O'Brien", "obrien"},    {"García", "garcia"},     {"Nguyễn", "nguyen"},
	{"Kowalski", "kowalski"},   {"Okafor", "okafor"},     {"Tanaka", "tanaka"},     {"Patel", "patel"},
	{"Smith", "smith"},         {"Johansson", "johansson"}, {"Dubois", "dubois"},   {"Rossi", "rossi"},
	{"Chen", "chen"},           {"Ivanova", "ivanova"},   {"Haddad", "haddad"},     {"Mensah", "mensah"},
	{"Schmidt", "schmidt"},     {"Fernández", "fernandez"}, {"Søndergaard", "sondergaard"},
	{"de la Cruz", "delacruz"}, {"van der Berg", "vanderberg"}, {"Kim", "kim"},     {"Singh", "singh"},
	{"Brown", "brown"},         {"Wilson", "wilson"},     {"Martin", "martin"},     {"Łukasiewicz", "lukasiewicz"},
	{"Çelik", "celik"},         {"Andersson", "andersson"}, {"MacLeod", "macleod"}, {"Nakamura", "nakamura"},
	{"Hamilton", "hamilton"},   {"Torvalds", "torvalds"}, {"Liskov", "liskov"},
};

static const char *const DOMAINS[] = {
	"example.com", "example.org", "example.net", "mail.example.com", "corp.example.com", "example.co.uk",
};

static const char *const NICKS[] = {"Ace", "Bobby", "Doc", "Sparky", "The Admin"};

enum { ROLE_ADMIN, ROLE_ANALYST, ROLE_VIEWER };
static const char *const ROLES[] = {"admin", "analyst", "viewer"};
enum { GITHUB, GOOGLE };
static const char *const PROVIDERS[] = {"github", "google"};
enum { PRESENT, IS_NULL, ABSENT };

struct user {
	uint64_t id;
	char email[160], email_norm[160];
	int username_mode, display_mode;
	char username[96], display[160];
	bool has_pw;
	char pw[128];
	int role;
	bool oauth_field;
	int n_oauth, oauth_prov[2];
	char oauth_subj[2][32];
	bool verified, disabled, epoch;
	ms_t verified_at, created_at, updated_at;
};

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char BCRYPT64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void rand_chars(rng *r, char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[below(r, k)];
	out[n] = '\0';
}

/* Injective in id (below MAX_USERS): the multipliers are units mod 10^k. */
static void github_subject(uint64_t id, char *out)
{
	snprintf(out, 32, "%" PRIu64, (uint64_t)(1 + (id * 48271ULL) % 100000000ULL));
}

static void google_subject(uint64_t id, rng *r, char *out)
{
	snprintf(out, 32, "1%010" PRIu64 "%010" PRIu64, (uint64_t)((id * 2654435761ULL) % 10000000000ULL),
		 below(r, 10000000000ULL));
}

static void capitalise(char *s) /* first ASCII letter of each dot/underscore part */
{
	bool start = true;
	for (; *s && *s != '@'; s++) {
		if (start && *s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
		start = *s == '.' || *s == '_';
	}
	if (*s == '@' && s[1] >= 'a' && s[1] <= 'z')
		s[1] = (char)(s[1] - 'a' + 'A');
}

static void normalise_email(const char *in, char *out, size_t len)
{
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] - 'A' + 'a' : in[i]);
	out[n] = '\0';
}

/* s = pre + s + post, within cap (the emails are far shorter). */
static void pad(char *s, size_t cap, const char *pre, const char *post)
{
	size_t n = strlen(s), a = strlen(pre), b = strlen(post);
	if (n + a + b >= cap)
		return;
	memmove(s + a, s, n);
	memcpy(s, pre, a);
	memcpy(s + a + n, post, b + 1);
}

/* User `id` as a pure function of (seed, id). The email's local part ends in
 * the id's digits after letters and separators only, so emails are unique. */
static void gen_user(uint64_t seed, uint64_t id, struct user *u)
{
	rng r = {mix64(seed ^ 0x7573657273ULL) ^ mix64(id * 0x9e3779b97f4a7c15ULL + 1)};
	memset(u, 0, sizeof *u);
	u->id = id;
	const struct name *fn = &FIRST[below(&r, sizeof FIRST / sizeof *FIRST)];
	const struct name *ln = &LAST[below(&r, sizeof LAST / sizeof *LAST)];

	/* more recent sign-ups than old ones: the max of two uniforms */
	int64_t a = between(&r, T_USERS_FROM, T_USERS_TO), b = between(&r, T_USERS_FROM, T_USERS_TO);
	u->created_at = id == 1 ? T_USERS_FROM + between(&r, 0, 30 * DAY_MS) : (a > b ? a : b);
	u->updated_at = chance(&r, 0.3) ? u->created_at : between(&r, u->created_at, T_LIMIT);
	u->epoch = chance(&r, 0.15);
	if ((u->verified = chance(&r, 0.8))) {
		u->verified_at = u->created_at + between(&r, 0, 3 * DAY_MS);
		if (u->verified_at > T_LIMIT)
			u->verified_at = T_LIMIT;
	}

	const char *dom = DOMAINS[below(&r, sizeof DOMAINS / sizeof *DOMAINS)];
	char local[96];
	switch (below(&r, 5)) {
	case 0: snprintf(local, sizeof local, "%s%s%" PRIu64, fn->ascii, ln->ascii, id); break;
	case 1: snprintf(local, sizeof local, "%c.%s%" PRIu64, fn->ascii[0], ln->ascii, id); break;
	case 2: snprintf(local, sizeof local, "%s_%s%" PRIu64, fn->ascii, ln->ascii, id); break;
	case 3: snprintf(local, sizeof local, "%s%" PRIu64, fn->ascii, id); break;
	default: snprintf(local, sizeof local, "%s.%s%" PRIu64, fn->ascii, ln->ascii, id); break;
	}
	snprintf(u->email, sizeof u->email, "%s@%s", local, dom);
	if (chance(&r, 0.10))
		capitalise(u->email);
	if (chance(&r, 0.05)) {
		switch (below(&r, 3)) {
		case 0: pad(u->email, sizeof u->email, " ", " "); break;
		case 1: pad(u->email, sizeof u->email, " ", ""); break;
		default: pad(u->email, sizeof u->email, "", "  "); break;
		}
	}
	normalise_email(u->email, u->email_norm, sizeof u->email_norm);

	double p = unit(&r);
	u->username_mode = p < 0.03 ? IS_NULL : p < 0.05 ? ABSENT : PRESENT;
	if (chance(&r, 0.5))
		snprintf(u->username, sizeof u->username, "%s_%s%" PRIu64, fn->ascii, ln->ascii, id);
	else
		snprintf(u->username, sizeof u->username, "%c%s%" PRIu64, fn->ascii[0], ln->ascii, id);

	p = unit(&r);
	u->display_mode = p < 0.03 ? IS_NULL : p < 0.04 ? ABSENT : PRESENT;
	p = unit(&r);
	if (p < 0.05)
		snprintf(u->display, sizeof u->display, "%s", fn->display);
	else if (p < 0.07)
		snprintf(u->display, sizeof u->display, "%s, %s", ln->display, fn->display);
	else if (p < 0.08)
		snprintf(u->display, sizeof u->display, "%s \"%s\" %s", fn->display,
			 NICKS[below(&r, sizeof NICKS / sizeof *NICKS)], ln->display);
	else if (p < 0.085)
		snprintf(u->display, sizeof u->display, "%s %s \xF0\x9F\x9A\x80", fn->display, ln->display);
	else
		snprintf(u->display, sizeof u->display, "%s %s", fn->display, ln->display);

	p = unit(&r);
	u->role = p < 0.05 ? ROLE_ADMIN : p < 0.40 ? ROLE_ANALYST : ROLE_VIEWER;
	u->disabled = chance(&r, 0.05);

	bool oauth_only = chance(&r, 0.10);
	bool gh = chance(&r, 0.30), gg = chance(&r, 0.20);
	if (oauth_only && !gh && !gg)
		*(chance(&r, 0.6) ? &gh : &gg) = true;
	if (id == 1) { /* the founding admin: password, github, enabled */
		oauth_only = false;
		gh = true;
		u->role = ROLE_ADMIN;
		u->disabled = false;
	}
	bool google_first = chance(&r, 0.5);
	char gsub[32];
	google_subject(id, &r, gsub);
	if (gh && gg && google_first) {
		u->oauth_prov[u->n_oauth] = GOOGLE;
		memcpy(u->oauth_subj[u->n_oauth++], gsub, sizeof gsub);
		gg = false;
	}
	if (gh) {
		u->oauth_prov[u->n_oauth] = GITHUB;
		github_subject(id, u->oauth_subj[u->n_oauth++]);
	}
	if (gg) {
		u->oauth_prov[u->n_oauth] = GOOGLE;
		memcpy(u->oauth_subj[u->n_oauth++], gsub, sizeof gsub);
	}
	u->oauth_field = u->n_oauth > 0 || !chance(&r, 0.05);

	if ((u->has_pw = !oauth_only)) {
		if (chance(&r, 0.8)) {
			memcpy(u->pw, "$2b$12$", 7);
			rand_chars(&r, u->pw + 7, 53, BCRYPT64);
		} else {
			char salt[23], hash[44];
			rand_chars(&r, salt, 22, B64);
			rand_chars(&r, hash, 43, B64);
			snprintf(u->pw, sizeof u->pw, "$argon2id$v=19$m=65536,t=3,p=4$%s$%s", salt, hash);
		}
	}
}

/* Raw JSON text replacing a field's value (or the whole "id" member list),
 * for the dirty records. NULL: the user's own value. */
struct ovr {
	const char *id, *display, *role, *disabled, *created;
	bool omit_email, drop_comma_after_email;
};

static void write_ts_json(FILE *f, ms_t t, bool epoch)
{
	char b[TS_LEN];
	if (epoch)
		fprintf(f, "%" PRId64, t);
	else
		json_str(f, fmt_ts(b, t, true));
}

static void write_user_json(FILE *f, const struct user *u, const struct ovr *o)
{
	static const struct ovr none;
	char b[TS_LEN];
	if (!o)
		o = &none;
	if (o->id)
		fprintf(f, "{\"id\": %s", o->id);
	else
		fprintf(f, "{\"id\": %" PRIu64, u->id);
	if (!o->omit_email) {
		fputs(", \"email\": ", f);
		json_str(f, u->email);
	}
	fputs(o->drop_comma_after_email ? " " : ", ", f);
	if (u->username_mode != ABSENT) {
		fputs("\"username\": ", f);
		json_str_or_null(f, u->username_mode == PRESENT ? u->username : NULL);
		fputs(", ", f);
	}
	if (o->display) {
		fprintf(f, "\"display_name\": %s, ", o->display);
	} else if (u->display_mode != ABSENT) {
		fputs("\"display_name\": ", f);
		json_str_or_null(f, u->display_mode == PRESENT ? u->display : NULL);
		fputs(", ", f);
	}
	if (u->has_pw) {
		fputs("\"password_hash\": ", f);
		json_str(f, u->pw);
		fputs(", ", f);
	}
	if (o->role)
		fprintf(f, "\"role\": %s", o->role);
	else
		fprintf(f, "\"role\": \"%s\"", ROLES[u->role]);
	if (u->oauth_field) {
		fputs(", \"oauth\": [", f);
		for (int i = 0; i < u->n_oauth; i++) {
			fprintf(f, "%s{\"provider\": \"%s\", \"subject\": ", i ? ", " : "", PROVIDERS[u->oauth_prov[i]]);
			json_str(f, u->oauth_subj[i]);
			fputc('}', f);
		}
		fputc(']', f);
	}
	fputs(", \"email_verified_at\": ", f);
	json_str_or_null(f, u->verified ? fmt_ts(b, u->verified_at, true) : NULL);
	fprintf(f, ", \"disabled\": %s", o->disabled ? o->disabled : u->disabled ? "true" : "false");
	fputs(", \"created_at\": ", f);
	if (o->created)
		fputs(o->created, f);
	else
		write_ts_json(f, u->created_at, u->epoch);
	fputs(", \"updated_at\": ", f);
	write_ts_json(f, u->updated_at, u->epoch);
	fputc('}', f);
}

static void write_user_csv(FILE *uf, FILE *of, const struct user *u)
{
	char b[TS_LEN];
	fprintf(uf, "%" PRIu64 ",", u->id);
	csv_field(uf, u->email_norm);
	fputc(',', uf);
	csv_field(uf, u->username_mode == PRESENT ? u->username : NULL);
	fputc(',', uf);
	csv_field(uf, u->display_mode == PRESENT ? u->display : NULL);
	fputc(',', uf);
	csv_field(uf, u->has_pw ? u->pw : NULL);
	fprintf(uf, ",%s,", ROLES[u->role]);
	csv_field(uf, u->verified ? fmt_ts(b, u->verified_at, false) : NULL);
	fprintf(uf, ",%c,", u->disabled ? 't' : 'f');
	fputs(fmt_ts(b, u->created_at, false), uf);
	fputc(',', uf);
	fputs(fmt_ts(b, u->updated_at, false), uf);
	fputc('\n', uf);
	for (int i = 0; i < u->n_oauth; i++) {
		fprintf(of, "%" PRIu64 ",%d,%s,", u->id, i, PROVIDERS[u->oauth_prov[i]]);
		csv_field(of, u->oauth_subj[i]);
		fputc('\n', of);
	}
}

/* ---------------------------------------------------------------- sessions */

static const char *const AGENTS[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
	"Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
	"Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
	"Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
	"Safari/537.36 Edg/124.0.0.0",
	"curl/8.5.0",
};

struct session {
	char token[65];
	uint64_t user_id;
	ms_t created_at, expires_at, last_seen_at;
	bool has_last_seen;
	const char *agent;
	char ip[48];
	bool has_ip;
};

/* Session number idx (1-based over all elements ever generated): the first
 * 16 hex digits are a bijection of idx, so tokens never collide. */
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

static void gen_session(rng *r, uint64_t seed, uint64_t idx, uint64_t user_id, struct session *s)
{
	static const int64_t lifetimes[] = {7 * DAY_MS, 14 * DAY_MS, 30 * DAY_MS, 30 * DAY_MS};
	struct user u;
	gen_user(seed, user_id, &u);
	memset(s, 0, sizeof *s);
	session_token(seed, idx, s->token);
	s->user_id = user_id;
	int64_t life = lifetimes[below(r, 4)];
	if (chance(r, 0.2) && u.created_at <= T_NOW - life)
		s->created_at = between(r, u.created_at, T_NOW - life); /* expired by T_NOW */
	else
		s->created_at = between(r, u.created_at > T_NOW - life + 1 ? u.created_at : T_NOW - life + 1,
					T_NOW - 60000);
	s->expires_at = s->created_at + life;
	if ((s->has_last_seen = chance(r, 0.85)))
		s->last_seen_at = between(r, s->created_at, s->expires_at < T_NOW ? s->expires_at : T_NOW - 1);
	s->agent = chance(r, 0.03) ? NULL : AGENTS[below(r, sizeof AGENTS / sizeof *AGENTS)];
	double p = unit(r);
	s->has_ip = p >= 0.03;
	if (p < 0.25)
		snprintf(s->ip, sizeof s->ip, "2001:db8:%x:%x::%x", (unsigned)below(r, 0x10000),
			 (unsigned)below(r, 0x10000), (unsigned)below(r, 0x10000));
	else if (p < 0.45)
		snprintf(s->ip, sizeof s->ip, "10.%u.%u.%u", (unsigned)below(r, 256), (unsigned)below(r, 256),
			 1 + (unsigned)below(r, 254));
	else
		snprintf(s->ip, sizeof s->ip, "%u.%u.%u.%u", 11 + (unsigned)below(r, 212), (unsigned)below(r, 256),
			 (unsigned)below(r, 256), 1 + (unsigned)below(r, 254));
}

struct sovr {
	const char *token, *expires;
	bool omit_expires;
};

static void write_session_json(FILE *f, const struct session *s, const struct sovr *o)
{
	static const struct sovr none;
	char b[TS_LEN];
	if (!o)
		o = &none;
	fputs("{\"token_hash\": ", f);
	json_str(f, o->token ? o->token : s->token);
	fprintf(f, ", \"user_id\": %" PRIu64 ", \"created_at\": ", s->user_id);
	json_str(f, fmt_ts(b, s->created_at, true));
	if (o->expires) {
		fprintf(f, ", \"expires_at\": %s", o->expires);
	} else if (!o->omit_expires) {
		fputs(", \"expires_at\": ", f);
		json_str(f, fmt_ts(b, s->expires_at, true));
	}
	fputs(", \"last_seen_at\": ", f);
	json_str_or_null(f, s->has_last_seen ? fmt_ts(b, s->last_seen_at, true) : NULL);
	fputs(", \"user_agent\": ", f);
	json_str_or_null(f, s->agent);
	fputs(", \"ip\": ", f);
	json_str_or_null(f, s->has_ip ? s->ip : NULL);
	fputc('}', f);
}

static void write_session_csv(FILE *f, const struct session *s)
{
	char b[TS_LEN];
	fprintf(f, "%s,%" PRIu64 ",", s->token, s->user_id);
	fputs(fmt_ts(b, s->created_at, false), f);
	fputc(',', f);
	fputs(fmt_ts(b, s->expires_at, false), f);
	fputc(',', f);
	csv_field(f, s->has_last_seen ? fmt_ts(b, s->last_seen_at, false) : NULL);
	fputc(',', f);
	csv_field(f, s->agent);
	fputc(',', f);
	csv_field(f, s->has_ip ? s->ip : NULL);
	fputc('\n', f);
}

/* ---------------------------------------------------------------- dirty */

static const char *const USER_CASES[] = {
	NULL,
	"malformed-json",
	"nul-in-string",
	"id-overflow",
	"duplicate-key",
	"duplicate-id",
	"duplicate-email",
	"duplicate-oauth",
	"wrong-type-id",
	"wrong-type-disabled",
	"bad-role",
	"missing-email",
	"bad-timestamp",
	"invalid-utf8",
	"not-an-object",
	"truncated",
};
enum { N_USER_CASES = 15, TRUNCATED = 15, BAD_ROLE = 10 };

static const char *const SESSION_CASES[] = {
	NULL, "dangling-user", "rejected-user", "bad-token", "duplicate-token", "missing-expires", "naive-timestamp",
};
enum { N_SESSION_CASES = 6, DUP_TOKEN = 4 };

struct gen {
	uint64_t seed, n_users, n_sessions;
	bool dirty;
	outf users, sessions, rejects, manifest, csv_users, csv_oauth, csv_sessions;
	bool csv;
	uint64_t pos; /* elements written to the current array */
	uint64_t user_records, user_rejects, session_records, session_rejects, oauth_links, expired;
};

static void element_sep(struct gen *g, FILE *f)
{
	if (g->pos++)
		fputs(",\n", f);
}

static void note_reject(struct gen *g, const char *file, const char *c)
{
	fprintf(g->rejects.f, "{\"file\":\"%s\",\"position\":%" PRIu64 ",\"case\":\"%s\"}\n", file, g->pos, c);
}

static void write_dirty_user(struct gen *g, int c)
{
	FILE *f = g->users.f;
	const uint64_t n = g->n_users, id = n + (uint64_t)c;
	char idbuf[64], email[160];
	struct user u;
	struct ovr o = {0};

	element_sep(g, f);
	g->user_records++;
	g->user_rejects++;
	note_reject(g, "identity/users.json", USER_CASES[c]);
	gen_user(g->seed, id, &u); /* a plausible record; then one thing wrong with it */
	snprintf(u.email, sizeof u.email, "dirty.%s@example.com", USER_CASES[c]);
	switch (c) {
	case 1: o.drop_comma_after_email = true; break;
	case 2: o.display = "\"Nul\\u0000Byte\""; break;
	case 3: o.id = "99999999999999999999"; break;
	case 4:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64 ", \"id\": %" PRIu64, id, id + 1);
		o.id = idbuf;
		break;
	case 5:
		snprintf(idbuf, sizeof idbuf, "%" PRIu64, n < 3 ? n : 3);
		o.id = idbuf;
		break;
	case 6: {
		struct user ref;
		gen_user(g->seed, n < 2 ? n : 2, &ref);
		size_t k = strlen(ref.email_norm);
		for (size_t i = 0; i < k; i++)
			email[i] = (char)((ref.email_norm[i] >= 'a' && ref.email_norm[i] <= 'z')
						  ? ref.email_norm[i] - 'a' + 'A'
						  : ref.email_norm[i]);
		email[k] = '\0';
		pad(email, sizeof email, "  ", " ");
		memcpy(u.email, email, sizeof u.email);
		break;
	}
	case 7:
		u.oauth_field = true;
		u.n_oauth = 1;
		u.oauth_prov[0] = GITHUB;
		github_subject(1, u.oauth_subj[0]); /* user 1 always links github */
		break;
	case 8:
		snprintf(idbuf, sizeof idbuf, "\"%" PRIu64 "\"", id);
		o.id = idbuf;
		break;
	case 9: o.disabled = "\"yes\""; break;
	case 10: o.role = "\"superuser\""; break;
	case 11: o.omit_email = true; break;
	case 12: o.created = "\"yesterday\""; break;
	case 13: o.display = "\"Caf\xC3\x28 Owner\""; break;
	case 14: fputs("42", f); return;
	case 15:
		fprintf(f, "{\"id\": %" PRIu64 ", \"email\": \"trunc@exa", n + 20);
		return;
	}
	if (c == 2 || c == 13)
		u.display_mode = PRESENT;
	write_user_json(f, &u, &o);
}

static void write_dirty_session(struct gen *g, int c)
{
	rng r = {mix64(g->seed ^ 0x6469727479ULL) + (uint64_t)c}; /* the clean stream stays untouched */
	FILE *f = g->sessions.f;
	struct session s;
	struct sovr o = {0};
	char token[65];

	element_sep(g, f);
	g->session_records++;
	g->session_rejects++;
	note_reject(g, "identity/sessions.json", SESSION_CASES[c]);
	gen_session(&r, g->seed, g->n_sessions + (uint64_t)c, 1, &s);
	switch (c) {
	case 1: s.user_id = g->n_users + 1000; break;
	case 2: s.user_id = g->n_users + BAD_ROLE; break;
	case 3: o.token = "not-a-hash"; break;
	case 4:
		session_token(g->seed, 1, token); /* the first clean session's */
		o.token = token;
		break;
	case 5: o.omit_expires = true; break;
	case 6: o.expires = "\"2026-12-01T10:00:00\""; break;
	}
	write_session_json(f, &s, &o);
}

/* After clean element k (0: before the first), the dirty cases due there. */
static uint64_t user_slot(const struct gen *g, int c)
{
	uint64_t n = g->n_users, slot = (uint64_t)c * n / N_USER_CASES;
	uint64_t ref = c == 5 ? (n < 3 ? n : 3) : c == 6 ? (n < 2 ? n : 2) : c == 7 ? 1 : 0;
	return slot > ref ? slot : ref;
}

static uint64_t session_slot(const struct gen *g, int c)
{
	uint64_t slot = (uint64_t)c * g->n_sessions / (N_SESSION_CASES + 1);
	return c == DUP_TOKEN && slot < 1 ? 1 : slot;
}

/* ---------------------------------------------------------------- main */

static void write_users(struct gen *g)
{
	FILE *f = g->users.f;
	struct user u;
	g->pos = 0;
	fputs("{\"users\": [\n", f);
	for (uint64_t k = 0; k <= g->n_users; k++) {
		if (k) {
			gen_user(g->seed, k, &u);
			element_sep(g, f);
			write_user_json(f, &u, NULL);
			g->user_records++;
			g->oauth_links += (uint64_t)u.n_oauth;
			if (g->csv)
				write_user_csv(g->csv_users.f, g->csv_oauth.f, &u);
		}
		for (int c = 1; g->dirty && c < TRUNCATED; c++)
			if (user_slot(g, c) == k)
				write_dirty_user(g, c);
	}
	if (g->dirty)
		write_dirty_user(g, TRUNCATED); /* the file ends inside it */
	else
		fputs(g->pos ? "\n]}\n" : "]}\n", f);
}

static void write_sessions(struct gen *g)
{
	FILE *f = g->sessions.f;
	rng r = {mix64(g->seed ^ 0x73657373ULL)};
	struct session s;
	g->pos = 0;
	fputs("{\"sessions\": [\n", f);
	for (uint64_t k = 0; k <= g->n_sessions; k++) {
		if (k) {
			gen_session(&r, g->seed, k, 1 + below(&r, g->n_users), &s);
			element_sep(g, f);
			write_session_json(f, &s, NULL);
			g->session_records++;
			g->expired += s.expires_at <= T_NOW;
			if (g->csv)
				write_session_csv(g->csv_sessions.f, &s);
		}
		for (int c = 1; g->dirty && c <= N_SESSION_CASES; c++)
			if (session_slot(g, c) == k)
				write_dirty_session(g, c);
	}
	fputs(g->pos ? "\n]}\n" : "]}\n", f);
}

static void usage(FILE *f)
{
	fputs("usage: cutover-gen-legacy --out DIR [--users N] [--sessions-per-user F] [--seed S]\n"
	      "                          [--dirty] [--csv DIR] [--quiet]\n"
	      "\n"
	      "Writes DIR/identity/users.json and DIR/identity/sessions.json (legacy layout),\n"
	      "DIR/expected-rejects.ndjson and DIR/manifest.json.\n"
	      "  --out DIR               output state root (created 0700)\n"
	      "  --users N               clean users, ids 1..N (default 100)\n"
	      "  --sessions-per-user F   sessions = round(N * F) (default 3.0)\n"
	      "  --seed S                PRNG seed; same seed, same bytes (default 1)\n"
	      "  --dirty                 inject one record of each reject case\n"
	      "  --csv DIR               also write the clean rows as PostgreSQL CSV\n"
	      "  --quiet                 print nothing on success\n",
	      f);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fputs("cutover-gen-legacy: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},   {"users", required_argument, NULL, 'u'},
		{"sessions-per-user", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},  {"dirty", no_argument, NULL, 'd'},
		{"csv", required_argument, NULL, 'c'},   {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct gen g = {.seed = 1, .n_users = 100};
	const char *out = NULL, *csv = NULL;
	double per_user = 3.0;
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
			per_user = strtod(optarg, &end);
			if (!*optarg || *end || !(per_user >= 0 && per_user <= MAX_SESSIONS_PER_USER))
				bad_usage("--sessions-per-user needs a number from 0 to 1000, not %s", optarg);
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
	g.n_sessions = (uint64_t)((double)g.n_users * per_user + 0.5);
	if (g.n_users == 0)
		g.n_sessions = 0;
	if (g.dirty && (g.n_users == 0 || g.n_sessions == 0))
		bad_usage("%s", "--dirty needs at least one user and one session to collide with");

	T_USERS_FROM = ms_of(2019, 1, 1);
	T_USERS_TO = ms_of(2026, 10, 25);
	T_LIMIT = ms_of(2026, 10, 31);
	T_NOW = ms_of(2026, 11, 1);

	char idir[PATH_MAX];
	if (snprintf(idir, sizeof idir, "%s/identity", out) >= (int)sizeof idir)
		die(2, "path too long: %s", out);
	mkdir_p(idir);
	out_open(&g.users, idir, "users.json");
	out_open(&g.sessions, idir, "sessions.json");
	out_open(&g.rejects, out, "expected-rejects.ndjson");
	if ((g.csv = csv != NULL)) {
		mkdir_p(csv);
		out_open(&g.csv_users, csv, "users.csv");
		out_open(&g.csv_oauth, csv, "user_oauth.csv");
		out_open(&g.csv_sessions, csv, "sessions.csv");
		fputs("id,email,username,display_name,password_hash,role,email_verified_at,disabled,created_at,"
		      "updated_at\n",
		      g.csv_users.f);
		fputs("user_id,position,provider,subject\n", g.csv_oauth.f);
		fputs("token_hash,user_id,created_at,expires_at,last_seen_at,user_agent,ip\n", g.csv_sessions.f);
	}

	write_users(&g);
	write_sessions(&g);

	out_open(&g.manifest, out, "manifest.json");
	fprintf(g.manifest.f,
		"{\"seed\":%" PRIu64 ",\"users\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64
		"},\"sessions\":{\"records\":%" PRIu64 ",\"clean\":%" PRIu64 ",\"rejects\":%" PRIu64
		"},\"oauth_links\":%" PRIu64 ",\"expired_sessions\":%" PRIu64 "}\n",
		g.seed, g.user_records, g.n_users, g.user_rejects, g.session_records, g.n_sessions, g.session_rejects,
		g.oauth_links, g.expired);

	outf *all[] = {&g.users, &g.sessions, &g.rejects, &g.manifest, &g.csv_users, &g.csv_oauth, &g.csv_sessions};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		out_close(all[i]);

	if (!quiet)
		printf("%s: %" PRIu64 " users (%" PRIu64 " rejects), %" PRIu64 " sessions (%" PRIu64
		       " rejects, %" PRIu64 " expired), %" PRIu64 " oauth links%s%s\n",
		       out, g.user_records, g.user_rejects, g.session_records, g.session_rejects, g.expired,
		       g.oauth_links, csv ? "; csv in " : "", csv ? csv : "");
	return 0;
}
