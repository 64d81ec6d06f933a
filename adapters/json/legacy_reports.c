/* legacy_reports.c — decoding reports/reports.json records.
 *
 * Field rules (docs/legacy-layout.md): id and author_id are integers from 1
 * to 2^53, incident_id too or null; title a non-empty string; severity one
 * of low/medium/high/critical; tags a list of strings or, in older rows, one
 * comma-separated string, normalised by the one tag rule (split on commas
 * for the string form; each tag trimmed of ASCII whitespace, empty ones and
 * repeats dropped, order kept); status "active" or "archived" and consistent
 * with archived_at (absent: derived from archived_at); timestamps ISO-8601
 * with a zone or epoch milliseconds; actions a list of {action, actor_id,
 * at, note} with a non-empty action and a time. Every string must be valid
 * UTF-8 (Postgres refuses anything else).
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "legacy_identity.h"
#include "legacy_reports.h"

static int check_utf8(const char *field, const char *v, cutover_error *err)
{
	if (v && !co_utf8_valid(v))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not valid UTF-8", field);
	return CUTOVER_OK;
}

static int get_text(const cJSON *rec, const char *name, bool required, char **out, cutover_error *err)
{
	int rc = co_json_get_str(rec, name, required, out, err);
	if (rc == CUTOVER_OK && (rc = check_utf8(name, *out, err)) != CUTOVER_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* An id field: 1 .. 2^53 when present. */
static int get_id(const cJSON *rec, const char *name, bool required, int64_t *out, cutover_error *err)
{
	bool present = false;
	int rc = co_json_get_int(rec, name, required, out, &present, err);
	if (rc == CUTOVER_OK && present && *out <= 0)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a positive integer, found %lld", name,
			      (long long)*out);
	return rc;
}

static const char *kind_of(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsArray(v)) return "a list";
	if (cJSON_IsObject(v)) return "an object";
	return "an unknown value";
}

static int read_tags(const cJSON *rec, cutover_report *r, cutover_error *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "tags");
	if (!t || cJSON_IsNull(t))
		return CUTOVER_OK;
	if (cJSON_IsString(t)) {
		if (!co_utf8_valid(t->valuestring))
			return co_err(err, CUTOVER_ECORRUPT, "field \"tags\" is not valid UTF-8");
		return co_tags_from_csv(t->valuestring, &r->tags, &r->n_tags) ? co_err_oom(err) : CUTOVER_OK;
	}
	if (!cJSON_IsArray(t))
		return co_err(err, CUTOVER_ECORRUPT,
			      "field \"tags\" must be a list of strings or one comma-separated string, found %s",
			      kind_of(t));
	int n = cJSON_GetArraySize(t);
	const char **in = n ? calloc((size_t)n, sizeof *in) : NULL;
	if (n && !in)
		return co_err_oom(err);
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, t) {
		if (!cJSON_IsString(e) || !e->valuestring) {
			free(in);
			return co_err(err, CUTOVER_ECORRUPT, "field \"tags\": element %d must be a string, found %s",
				      i + 1, cJSON_IsNull(e) ? "null" : kind_of(e));
		}
		if (!co_utf8_valid(e->valuestring)) {
			free(in);
			return co_err(err, CUTOVER_ECORRUPT, "field \"tags\": element %d is not valid UTF-8", i + 1);
		}
		in[i++] = e->valuestring;
	}
	int rc = co_tags_normalize(in, (size_t)n, &r->tags, &r->n_tags) ? co_err_oom(err) : CUTOVER_OK;
	free(in);
	return rc;
}

static int read_action(const cJSON *o, size_t i, cutover_report_action *a, cutover_error *err)
{
	int rc;
	if (!cJSON_IsObject(o))
		return co_err(err, CUTOVER_ECORRUPT, "action %zu is not an object", i + 1);
	if ((rc = get_text(o, "action", true, &a->action, err)) || (rc = get_id(o, "actor_id", false, &a->actor_id, err)) ||
	    (rc = co_json_get_ts(o, "at", true, &a->at, err)) || (rc = get_text(o, "note", false, &a->note, err))) {
		char inner[sizeof err->message];
		snprintf(inner, sizeof inner, "%s", err ? err->message : "");
		return co_err(err, rc, "action %zu: %s", i + 1, inner);
	}
	if (!*a->action)
		return co_err(err, CUTOVER_ECORRUPT, "action %zu: field \"action\" is empty", i + 1);
	return CUTOVER_OK;
}

static int read_actions(const cJSON *rec, cutover_report *r, cutover_error *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, "actions");
	if (!arr || cJSON_IsNull(arr))
		return CUTOVER_OK;
	if (!cJSON_IsArray(arr))
		return co_err(err, CUTOVER_ECORRUPT, "field \"actions\" must be a list, found %s", kind_of(arr));
	int n = cJSON_GetArraySize(arr);
	if (n == 0)
		return CUTOVER_OK;
	if (!(r->actions = calloc((size_t)n, sizeof *r->actions)))
		return co_err_oom(err);
	const cJSON *o;
	cJSON_ArrayForEach(o, arr) {
		size_t i = r->n_actions++;
		int rc = read_action(o, i, &r->actions[i], err);
		if (rc)
			return rc;
	}
	return CUTOVER_OK;
}

int co_legacy_report_from_json(const cJSON *rec, cutover_report **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	cutover_report *r = calloc(1, sizeof *r);
	if (!r)
		return co_err_oom(err);
	int rc;
	if ((rc = get_id(rec, "id", true, &r->id, err)) || (rc = get_text(rec, "title", true, &r->title, err)))
		goto fail;
	if (!*r->title) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"title\" is empty");
		goto fail;
	}
	if ((rc = get_text(rec, "summary", false, &r->summary, err)) ||
	    (rc = get_text(rec, "content", false, &r->content, err)) ||
	    (rc = get_text(rec, "severity", true, &r->severity, err)))
		goto fail;
	if (!co_report_severity_valid(r->severity)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"severity\" is \"%.40s\"; valid severities: low, medium, high, critical",
			    r->severity);
		goto fail;
	}
	if ((rc = get_text(rec, "status", false, &r->status, err)) || (rc = read_tags(rec, r, err)) ||
	    (rc = get_id(rec, "author_id", true, &r->author_id, err)) ||
	    (rc = get_id(rec, "incident_id", false, &r->incident_id, err)) ||
	    (rc = co_json_get_ts(rec, "created_at", true, &r->created_at, err)) ||
	    (rc = co_json_get_ts(rec, "updated_at", false, &r->updated_at, err)) ||
	    (rc = co_json_get_ts(rec, "archived_at", false, &r->archived_at, err)))
		goto fail;
	if (r->updated_at == CUTOVER_TS_NULL)
		r->updated_at = r->created_at;
	bool archived_at = r->archived_at != CUTOVER_TS_NULL;
	if (!r->status) {
		if (!(r->status = co_strdup(archived_at ? "archived" : "active"))) {
			rc = co_err_oom(err);
			goto fail;
		}
	} else if (!co_report_status_valid(r->status)) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"status\" is \"%.40s\"; valid statuses: active, archived",
			    r->status);
		goto fail;
	} else if ((strcmp(r->status, "archived") == 0) != archived_at) {
		rc = co_err(err, CUTOVER_ECORRUPT, archived_at ? "field \"status\" is \"active\" but archived_at is set"
							       : "field \"status\" is \"archived\" but archived_at is missing");
		goto fail;
	}
	if ((rc = read_actions(rec, r, err)))
		goto fail;
	*out = r;
	return CUTOVER_OK;
fail:
	cutover_report_free(r);
	return rc;
}

int co_legacy_report(const co_scan_item *it, cutover_report **out, cutover_error *err)
{
	cJSON *j;
	*out = NULL;
	int rc = co_legacy_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_report_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}
