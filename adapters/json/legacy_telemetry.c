/* legacy_telemetry.c — decoding event lines and incident records.
 *
 * Field rules (docs/legacy-layout.md): ids are positive integers up to 2^53;
 * severity is low/medium/high/critical; state is open/investigating/
 * contained/resolved, with resolved_at set exactly when resolved; timestamps
 * are ISO-8601 with a zone or epoch milliseconds; text is valid UTF-8 of at
 * most CUTOVER_TELEMETRY_TEXT_MAX bytes; the payload is a JSON object (absent
 * or null: {}) put in its canonical text (core/telemetry.c); an event sits
 * in the daily file of its occurred_at's UTC date.
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "legacy_telemetry.h"

bool co_events_file_date(const char *key, char date[11])
{
	size_t plen = strlen(CO_EVENTS_PREFIX);
	if (!key || strncmp(key, CO_EVENTS_PREFIX, plen) != 0)
		return false;
	const char *name = key + plen;
	if (strlen(name) != 17 || strcmp(name + 10, ".ndjson") != 0)
		return false;
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (dash ? name[i] != '-' : (name[i] < '0' || name[i] > '9'))
			return false;
	}
	/* a real date: it reads as a time and prints back the same */
	char text[11], back[40];
	memcpy(text, name, 10);
	text[10] = '\0';
	cutover_ts t;
	if (cutover_ts_parse(text, &t) != CUTOVER_OK)
		return false;
	cutover_ts_format(t, back, sizeof back);
	if (strncmp(back, text, 10) != 0)
		return false;
	memcpy(date, text, 11);
	return true;
}

void co_events_key_of(cutover_ts t, char *buf, size_t len)
{
	char ts[40];
	cutover_ts_format(t, ts, sizeof ts);
	snprintf(buf, len, "%s%.10s.ndjson", CO_EVENTS_PREFIX, ts);
}

static int get_text(const cJSON *rec, const char *name, bool required, char **out, cutover_error *err)
{
	int rc = co_json_get_str(rec, name, required, out, err);
	if (rc != CUTOVER_OK)
		return rc;
	if (*out && !co_utf8_valid(*out))
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not valid UTF-8", name);
	else if (*out && strlen(*out) > CUTOVER_TELEMETRY_TEXT_MAX)
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is longer than %d bytes", name, CUTOVER_TELEMETRY_TEXT_MAX);
	if (rc != CUTOVER_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static int get_id(const cJSON *rec, const char *name, bool required, int64_t *out, cutover_error *err)
{
	bool present = false;
	int rc = co_json_get_int(rec, name, required, out, &present, err);
	if (rc == CUTOVER_OK && present && *out <= 0)
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a positive integer, found %lld", name,
			    (long long)*out);
	return rc;
}

/* --- an event line, read in one pass over its fields --------------------- */

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsArray(v)) return "a list";
	if (cJSON_IsObject(v)) return "an object";
	return "an unknown value";
}

/* A text field's value: NULL (absent, null) or a borrowed, checked string. */
static int view_text(const cJSON *v, const char *name, bool required, const char **out, cutover_error *err)
{
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return required ? co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is missing", name) : CUTOVER_OK;
	if (!cJSON_IsString(v) || !v->valuestring)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a string, found %s", name, type_name(v));
	size_t n = strlen(v->valuestring);
	if (n > CUTOVER_TELEMETRY_TEXT_MAX)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is longer than %d bytes", name, CUTOVER_TELEMETRY_TEXT_MAX);
	if (!co_utf8_valid(v->valuestring))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not valid UTF-8", name);
	*out = v->valuestring;
	return CUTOVER_OK;
}

/* An id field's value: 0 when absent or null (an error when required). */
static int view_id(const cJSON *v, const char *name, bool required, int64_t *out, cutover_error *err)
{
	*out = 0;
	if (!v || cJSON_IsNull(v))
		return required ? co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is missing", name) : CUTOVER_OK;
	if (!cJSON_IsNumber(v))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an integer, found %s", name, type_name(v));
	double d = v->valuedouble;
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is out of range (%.0f; at most 2^53 can be read exactly)",
			      name, d);
	if (d != (double)(int64_t)d)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an integer, found %g", name, d);
	if (d <= 0)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a positive integer, found %lld", name,
			      (long long)d);
	*out = (int64_t)d;
	return CUTOVER_OK;
}

/* Is t on the UTC date "YYYY-MM-DD"? (Integer arithmetic: this runs for
 * every event the backfill reads.) */
static bool on_date(cutover_ts t, const char *date)
{
	int64_t y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 + (date[3] - '0');
	unsigned m = (unsigned)((date[5] - '0') * 10 + (date[6] - '0')), d = (unsigned)((date[8] - '0') * 10 + (date[9] - '0'));
	/* days since 1970-01-01 (Howard Hinnant's days_from_civil) */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t day0 = (era * 146097 + (int64_t)doe - 719468) * 86400LL * 1000000;
	return t >= day0 && t < day0 + 86400LL * 1000000;
}

int co_legacy_event_view(cJSON *rec, const char *file_date, co_event_view *v, cutover_error *err)
{
	memset(v, 0, sizeof(*v));
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	enum { ID, OCCURRED, SOURCE_IP, REGION, NODE, ATTACK, SEVERITY, PAYLOAD, INCIDENT, NFIELDS };
	static const char *const names[NFIELDS] = {"id", "occurred_at", "source_ip", "region", "node", "attack_type",
						   "severity", "payload", "incident_id"};
	const cJSON *f[NFIELDS] = {0};
	/* one pass over the record's members (the first of a name counts, as cJSON's lookup) */
	for (const cJSON *c = rec->child; c; c = c->next) {
		if (!c->string)
			continue;
		for (int k = 0; k < NFIELDS; k++)
			if (!f[k] && c->string[0] == names[k][0] && strcmp(c->string, names[k]) == 0) {
				f[k] = c;
				break;
			}
	}
	int rc;
	if ((rc = view_id(f[ID], "id", true, &v->id, err)) ||
	    (rc = co_json_ts_value(f[OCCURRED], "occurred_at", &v->occurred_at, err)))
		return rc;
	if (v->occurred_at == CUTOVER_TS_NULL)
		return co_err(err, CUTOVER_ECORRUPT, "field \"occurred_at\" is missing");
	if (file_date && !on_date(v->occurred_at, file_date)) {
		char ts[40];
		cutover_ts_format(v->occurred_at, ts, sizeof ts);
		return co_err(err, CUTOVER_ECORRUPT,
			      "field \"occurred_at\" (%s) is not on the file's date %s: readers look for an event in the "
			      "file of its UTC date",
			      ts, file_date);
	}
	if ((rc = view_text(f[SEVERITY], "severity", true, &v->severity, err)))
		return rc;
	if (!co_severity_valid(v->severity))
		return co_err(err, CUTOVER_ECORRUPT, "field \"severity\" is \"%.40s\"; valid: low, medium, high, critical",
			      v->severity);
	if ((rc = view_text(f[SOURCE_IP], "source_ip", false, &v->source_ip, err)) ||
	    (rc = view_text(f[REGION], "region", false, &v->region, err)) ||
	    (rc = view_text(f[NODE], "node", false, &v->node, err)) ||
	    (rc = view_text(f[ATTACK], "attack_type", false, &v->attack_type, err)) ||
	    (rc = view_id(f[INCIDENT], "incident_id", false, &v->incident_id, err)))
		return rc;
	cJSON *p = (cJSON *)f[PAYLOAD];
	if (p && !cJSON_IsNull(p)) {
		if (!cJSON_IsObject(p))
			return co_err(err, CUTOVER_ECORRUPT, "field \"payload\" must be a JSON object, found %s", type_name(p));
		if ((rc = co_payload_check_json(p, err))) {
			if (rc == CUTOVER_EINVALID) {
				char why[sizeof err->message];
				snprintf(why, sizeof why, "%s", err->message);
				const char *rest = strncmp(why, "payload: ", 9) == 0 ? why + 9 : why;
				rc = co_err(err, CUTOVER_ECORRUPT, "field \"payload\": %s", rest);
			}
			return rc;
		}
		v->payload = p;
	}
	return CUTOVER_OK;
}

static bool dup_or_null(char **dst, const char *src)
{
	*dst = co_strdup(src);
	return !src || *dst;
}

int co_legacy_event_fill(cJSON *rec, const char *file_date, cutover_event *e, cutover_error *err)
{
	memset(e, 0, sizeof(*e));
	co_event_view v;
	int rc = co_legacy_event_view(rec, file_date, &v, err);
	if (rc)
		return rc;
	e->id = v.id;
	e->occurred_at = v.occurred_at;
	e->incident_id = v.incident_id;
	if (!dup_or_null(&e->source_ip, v.source_ip) || !dup_or_null(&e->region, v.region) ||
	    !dup_or_null(&e->node, v.node) || !dup_or_null(&e->attack_type, v.attack_type) ||
	    !dup_or_null(&e->severity, v.severity)) {
		co_event_clear(e);
		return co_err_oom(err);
	}
	rc = v.payload ? co_payload_canonical_json(v.payload, &e->payload, err)
		       : ((e->payload = co_strdup("{}")) ? CUTOVER_OK : co_err_oom(err));
	if (rc) {
		co_event_clear(e);
		if (rc == CUTOVER_EINVALID) { /* a payload too long once printed */
			char why[sizeof err->message];
			snprintf(why, sizeof why, "%s", err->message);
			const char *rest = strncmp(why, "payload: ", 9) == 0 ? why + 9 : why;
			rc = co_err(err, CUTOVER_ECORRUPT, "field \"payload\": %s", rest);
		}
	}
	return rc;
}

/* Is this (already parsed) JSON text strict enough for Postgres's own
 * parser? cJSON lets through numbers like 01, +1, .5, 1. and raw control
 * characters in strings, which jsonb refuses. */
static bool strict_json(const char *p, size_t n)
{
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (in_str) {
			if (c < 0x20)
				return false;
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
			if (c == '-' && ++i >= n)
				return false;
			if (p[i] == '0') {
				i++;
			} else if (p[i] >= '1' && p[i] <= '9') {
				while (i < n && p[i] >= '0' && p[i] <= '9')
					i++;
			} else {
				return false;
			}
			if (i < n && p[i] == '.') {
				size_t d = ++i;
				while (i < n && p[i] >= '0' && p[i] <= '9')
					i++;
				if (i == d)
					return false;
			}
			if (i < n && (p[i] == 'e' || p[i] == 'E')) {
				i++;
				if (i < n && (p[i] == '+' || p[i] == '-'))
					i++;
				size_t d = i;
				while (i < n && p[i] >= '0' && p[i] <= '9')
					i++;
				if (i == d)
					return false;
			}
			if (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '+'))
				return false;
			i--;
		} else if (c == '+' || c == '.') {
			return false;
		}
	}
	return !in_str;
}

/* The bytes of the top-level member "payload"'s value in a record's text
 * (no escapes in the key: anything else is not found), when they are
 * strict JSON. */
/* The end of the string whose body starts at p[i] (the index of its closing
 * quote), or n. */
static size_t string_end(const char *p, size_t i, size_t n)
{
	for (;;) {
		const char *q = memchr(p + i, '"', n - i);
		if (!q)
			return n;
		size_t at = (size_t)(q - p), bs = 0;
		while (at - bs > i && p[at - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return at;
		i = at + 1;
	}
}

bool co_legacy_payload_span(const char *p, size_t n, size_t *off, size_t *len)
{
	int depth = 0;
	bool key_next = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '"') {
			size_t end = string_end(p, i + 1, n);
			if (end >= n)
				return false;
			bool is_payload = depth == 1 && key_next && end - (i + 1) == 7 && memcmp(p + i + 1, "payload", 7) == 0;
			i = end;
			if (!is_payload)
				continue;
			size_t k = i + 1;
			while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
				k++;
			if (k >= n || p[k] != ':')
				return false;
			k++;
			while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
				k++;
			if (k >= n || p[k] != '{')
				return false;
			/* to the matching brace */
			int d = 0;
			for (size_t j = k; j < n; j++) {
				char ch = p[j];
				if (ch == '"') {
					j = string_end(p, j + 1, n);
				} else if (ch == '{' || ch == '[') {
					d++;
				} else if ((ch == '}' || ch == ']') && --d == 0) {
					*off = k;
					*len = j + 1 - k;
					return strict_json(p + k, *len);
				}
			}
			return false;
		}
		if (c == '{' || c == '[') {
			depth++;
			key_next = c == '{';
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',') {
			key_next = true; /* at depth 1 (an object) the next string is a key */
		} else if (c == ':') {
			key_next = false;
		}
	}
	return false;
}

int co_legacy_event_from_json(cJSON *rec, const char *file_date, cutover_event **out, cutover_error *err)
{
	*out = NULL;
	cutover_event *e = malloc(sizeof(*e));
	if (!e)
		return co_err_oom(err);
	int rc = co_legacy_event_fill(rec, file_date, e, err);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	return CUTOVER_OK;
}

int co_legacy_incident_from_json(const cJSON *rec, cutover_incident **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	cutover_incident *i = calloc(1, sizeof(*i));
	if (!i)
		return co_err_oom(err);
	int rc;
	if ((rc = get_id(rec, "id", true, &i->id, err)) || (rc = get_text(rec, "title", true, &i->title, err)))
		goto fail;
	if (!*i->title) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"title\" is empty");
		goto fail;
	}
	if ((rc = get_text(rec, "state", true, &i->state, err)))
		goto fail;
	if (!co_incident_state_valid(i->state)) {
		rc = co_err(err, CUTOVER_ECORRUPT,
			    "field \"state\" is \"%.40s\"; valid: open, investigating, contained, resolved", i->state);
		goto fail;
	}
	if ((rc = get_text(rec, "severity", true, &i->severity, err)))
		goto fail;
	if (!co_severity_valid(i->severity)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"severity\" is \"%.40s\"; valid: low, medium, high, critical",
			    i->severity);
		goto fail;
	}
	if ((rc = co_json_get_ts(rec, "opened_at", true, &i->opened_at, err)) ||
	    (rc = co_json_get_ts(rec, "resolved_at", false, &i->resolved_at, err)) ||
	    (rc = co_json_get_ts(rec, "updated_at", false, &i->updated_at, err)))
		goto fail;
	bool resolved = strcmp(i->state, "resolved") == 0;
	if (resolved && i->resolved_at == CUTOVER_TS_NULL) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"resolved_at\" is missing, but the state is resolved");
		goto fail;
	}
	if (!resolved && i->resolved_at != CUTOVER_TS_NULL) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"resolved_at\" is set, but the state is %s, not resolved",
			    i->state);
		goto fail;
	}
	*out = i;
	return CUTOVER_OK;
fail:
	cutover_incident_free(i);
	return rc;
}

/* Do these bytes end inside a string or an open object or list? */
static bool cut_short(const char *p, size_t n)
{
	bool in_str = false, esc = false;
	long depth = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return in_str || depth > 0;
}

int co_legacy_event_parse(const co_scan_item *it, cJSON **out, cutover_error *err)
{
	int rc = co_legacy_parse(it, out, err);
	/* a line cut short: say so rather than "malformed" */
	if (rc && it->kind == CO_SCAN_RECORD && strncmp(err->message, "malformed", 9) == 0 && cut_short(it->bytes, it->len))
		co_err(err, CUTOVER_ECORRUPT, "truncated: the line ends inside the record (after %zu bytes)", it->len);
	return rc;
}

int co_legacy_event_item(const co_scan_item *it, const char *file_date, cutover_event *e, cutover_error *err)
{
	cJSON *j;
	memset(e, 0, sizeof(*e));
	int rc = co_legacy_event_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_event_fill(j, file_date, e, err);
	cJSON_Delete(j);
	return rc;
}

int co_legacy_event(const co_scan_item *it, const char *file_date, cutover_event **out, cutover_error *err)
{
	*out = NULL;
	cutover_event *e = malloc(sizeof(*e));
	if (!e)
		return co_err_oom(err);
	int rc = co_legacy_event_item(it, file_date, e, err);
	if (rc)
		free(e);
	else
		*out = e;
	return rc;
}

int co_legacy_incident(const co_scan_item *it, cutover_incident **out, cutover_error *err)
{
	cJSON *j;
	*out = NULL;
	int rc = co_legacy_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_incident_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}
