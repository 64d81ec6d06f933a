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

int co_legacy_event_fill(cJSON *rec, const char *file_date, cutover_event *e, cutover_error *err)
{
	memset(e, 0, sizeof(*e));
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	int rc;
	if ((rc = get_id(rec, "id", true, &e->id, err)) ||
	    (rc = co_json_get_ts(rec, "occurred_at", true, &e->occurred_at, err)))
		goto fail;
	if (file_date) {
		char ts[40];
		cutover_ts_format(e->occurred_at, ts, sizeof ts);
		if (strncmp(ts, file_date, 10) != 0) {
			rc = co_err(err, CUTOVER_ECORRUPT,
				    "field \"occurred_at\" (%s) is not on the file's date %s: readers look for an event in "
				    "the file of its UTC date",
				    ts, file_date);
			goto fail;
		}
	}
	if ((rc = get_text(rec, "severity", true, &e->severity, err)))
		goto fail;
	if (!co_severity_valid(e->severity)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"severity\" is \"%.40s\"; valid: low, medium, high, critical",
			    e->severity);
		goto fail;
	}
	if ((rc = get_text(rec, "source_ip", false, &e->source_ip, err)) ||
	    (rc = get_text(rec, "region", false, &e->region, err)) || (rc = get_text(rec, "node", false, &e->node, err)) ||
	    (rc = get_text(rec, "attack_type", false, &e->attack_type, err)) ||
	    (rc = get_id(rec, "incident_id", false, &e->incident_id, err)))
		goto fail;
	cJSON *p = cJSON_GetObjectItemCaseSensitive(rec, "payload");
	if (!p || cJSON_IsNull(p)) {
		if (!(e->payload = co_strdup("{}"))) {
			rc = co_err_oom(err);
			goto fail;
		}
	} else if (!cJSON_IsObject(p)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"payload\" must be a JSON object, found %s",
			    cJSON_IsArray(p) ? "a list" : cJSON_IsString(p) ? "a string" : "a single value");
		goto fail;
	} else if ((rc = co_payload_canonical_json(p, &e->payload, err))) {
		if (rc == CUTOVER_EINVALID) {
			char why[sizeof err->message];
			snprintf(why, sizeof why, "%s", err->message);
			const char *rest = strncmp(why, "payload: ", 9) == 0 ? why + 9 : why;
			rc = co_err(err, CUTOVER_ECORRUPT, "field \"payload\": %s", rest);
		}
		goto fail;
	}
	return CUTOVER_OK;
fail:
	co_event_clear(e);
	return rc;
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
	    (rc = co_json_get_ts(rec, "resolved_at", false, &i->resolved_at, err)))
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

int co_legacy_event_item(const co_scan_item *it, const char *file_date, cutover_event *e, cutover_error *err)
{
	cJSON *j;
	memset(e, 0, sizeof(*e));
	int rc = co_legacy_parse(it, &j, err);
	if (rc) {
		/* a line cut short: say so rather than "malformed" */
		if (it->kind == CO_SCAN_RECORD && strncmp(err->message, "malformed", 9) == 0 && cut_short(it->bytes, it->len))
			co_err(err, CUTOVER_ECORRUPT, "truncated: the line ends inside the record (after %zu bytes)", it->len);
		return rc;
	}
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
