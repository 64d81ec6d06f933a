/* legacy_profile.c — decoding profile/profiles.json records.
 *
 * Field rules (docs/legacy-layout.md): user_id is a positive integer below
 * 2^53; the five texts are strings or null; specialties and tools are lists
 * of strings (a bare string is refused, not split); certifications and
 * education are lists of objects with an integer id > 0; dates are
 * "YYYY-MM-DD" (a midnight-UTC timestamp is accepted and reduced to its
 * date); years are integers; updated_at is a timestamp or absent. Paths and
 * every other text are kept byte for byte. Then the record must pass
 * co_portfolio_check, the rules the app's writes pass too.
 */
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "legacy_identity.h"
#include "legacy_profile.h"

#define DAY_US 86400000000LL

int co_legacy_date(const cJSON *obj, const char *name, char **out, cutover_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	*out = NULL;
	if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring && !v->valuestring[0]))
		return CUTOVER_OK;
	char buf[40];
	if (cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) == 10) {
		if (!co_date_valid(v->valuestring))
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not a date YYYY-MM-DD: \"%.40s\"", name,
				      co_utf8_valid(v->valuestring) ? v->valuestring : "(invalid UTF-8)");
		snprintf(buf, sizeof buf, "%s", v->valuestring);
	} else {
		cutover_ts t;
		int rc = co_json_ts_value(v, name, &t, err);
		if (rc)
			return rc == CUTOVER_ECORRUPT
				       ? co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not a date YYYY-MM-DD", name)
				       : rc;
		if (t % DAY_US != 0)
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is a time of day, not a date", name);
		cutover_ts_format(t, buf, sizeof buf);
		buf[10] = '\0';
		if (!co_date_valid(buf))
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not a date in years 0001-9999", name);
	}
	if (!(*out = co_strdup(buf)))
		return co_err_oom(err);
	return CUTOVER_OK;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsArray(v)) return "a list";
	if (cJSON_IsObject(v)) return "an object";
	return "null";
}

/* An optional list field: NULL when absent or null, else the array. */
static int list_field(const cJSON *rec, const char *name, const char *of, const cJSON **out, int *n, cutover_error *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, name);
	*out = NULL;
	*n = 0;
	if (!arr || cJSON_IsNull(arr))
		return CUTOVER_OK;
	if (!cJSON_IsArray(arr))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a list of %s, found %s", name, of, type_name(arr));
	*n = cJSON_GetArraySize(arr);
	if (*n > CO_PROFILE_LIST_MAX)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" has %d entries; at most %d are kept", name, *n,
			      CO_PROFILE_LIST_MAX);
	*out = arr;
	return CUTOVER_OK;
}

static int read_names(const cJSON *rec, const char *name, char ***out, size_t *n, cutover_error *err)
{
	const cJSON *arr, *it;
	int count;
	int rc = list_field(rec, name, "strings", &arr, &count, err);
	if (rc || !count)
		return rc;
	if (!(*out = calloc((size_t)count, sizeof(char *))))
		return co_err_oom(err);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !it->valuestring)
			return co_err(err, CUTOVER_ECORRUPT, "%s entry %zu must be a string, found %s", name, *n + 1,
				      type_name(it));
		if (!((*out)[(*n)++] = co_strdup(it->valuestring)))
			return co_err_oom(err);
	}
	return CUTOVER_OK;
}

/* Re-word a field error of entry i of a list: "certification 2: ...". */
static int entry_error(cutover_error *err, const char *noun, size_t i, int rc)
{
	if (rc != CUTOVER_ECORRUPT)
		return rc;
	char why[sizeof err->message];
	snprintf(why, sizeof why, "%s", err->message);
	return co_err(err, CUTOVER_ECORRUPT, "%s %zu: %s", noun, i + 1, why);
}

static int entry_id(const cJSON *o, int64_t *id, cutover_error *err)
{
	int rc = co_json_get_int(o, "id", true, id, NULL, err);
	if (!rc && *id <= 0)
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"id\" must be a positive integer, found %lld", (long long)*id);
	return rc;
}

static int read_certs(const cJSON *rec, cutover_portfolio *p, cutover_error *err)
{
	const cJSON *arr, *o;
	int count;
	int rc = list_field(rec, "certifications", "objects", &arr, &count, err);
	if (rc || !count)
		return rc;
	if (!(p->certifications = calloc((size_t)count, sizeof(*p->certifications))))
		return co_err_oom(err);
	cJSON_ArrayForEach(o, arr) {
		size_t i = p->n_certifications++;
		cutover_certification *c = &p->certifications[i];
		if (!cJSON_IsObject(o))
			return co_err(err, CUTOVER_ECORRUPT, "certification %zu is not an object", i + 1);
		if ((rc = entry_id(o, &c->id, err)) || (rc = co_json_get_str(o, "name", false, &c->name, err)) ||
		    (rc = co_json_get_str(o, "issuer", false, &c->issuer, err)) ||
		    (rc = co_legacy_date(o, "issued_on", &c->issued_on, err)) ||
		    (rc = co_legacy_date(o, "expires_on", &c->expires_on, err)) ||
		    (rc = co_json_get_str(o, "credential_id", false, &c->credential_id, err)) ||
		    (rc = co_json_get_str(o, "credential_url", false, &c->credential_url, err)) ||
		    (rc = co_json_get_str(o, "asset_path", false, &c->asset_path, err)))
			return entry_error(err, "certification", i, rc);
	}
	return CUTOVER_OK;
}

static int year_field(const cJSON *o, const char *name, int *out, cutover_error *err)
{
	int64_t y;
	int rc = co_json_get_int(o, name, false, &y, NULL, err);
	if (rc)
		return rc;
	if (y < 0 || y > CO_YEAR_MAX || (y == 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, name))))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is %lld, not a year from 1 to 9999", name, (long long)y);
	*out = (int)y;
	return CUTOVER_OK;
}

static int read_education(const cJSON *rec, cutover_portfolio *p, cutover_error *err)
{
	const cJSON *arr, *o;
	int count;
	int rc = list_field(rec, "education", "objects", &arr, &count, err);
	if (rc || !count)
		return rc;
	if (!(p->education = calloc((size_t)count, sizeof(*p->education))))
		return co_err_oom(err);
	cJSON_ArrayForEach(o, arr) {
		size_t i = p->n_education++;
		cutover_education *e = &p->education[i];
		if (!cJSON_IsObject(o))
			return co_err(err, CUTOVER_ECORRUPT, "education entry %zu is not an object", i + 1);
		if ((rc = entry_id(o, &e->id, err)) || (rc = co_json_get_str(o, "institution", false, &e->institution, err)) ||
		    (rc = co_json_get_str(o, "degree", false, &e->degree, err)) ||
		    (rc = co_json_get_str(o, "field", false, &e->field, err)) ||
		    (rc = year_field(o, "start_year", &e->start_year, err)) ||
		    (rc = year_field(o, "end_year", &e->end_year, err)))
			return entry_error(err, "education entry", i, rc);
	}
	return CUTOVER_OK;
}

int co_legacy_portfolio_from_json(const cJSON *rec, cutover_portfolio **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(rec))
		return co_err(err, CUTOVER_ECORRUPT, "the record is not a JSON object");
	cutover_portfolio *p = calloc(1, sizeof(*p));
	if (!p)
		return co_err_oom(err);
	int rc;
	if ((rc = co_json_get_int(rec, "user_id", true, &p->user_id, NULL, err)))
		goto fail;
	if (p->user_id <= 0) {
		rc = co_err(err, CUTOVER_ECORRUPT, "field \"user_id\" must be a positive integer, found %lld",
			    (long long)p->user_id);
		goto fail;
	}
	if ((rc = co_json_get_str(rec, "headline", false, &p->headline, err)) ||
	    (rc = co_json_get_str(rec, "bio", false, &p->bio, err)) ||
	    (rc = co_json_get_str(rec, "location", false, &p->location, err)) ||
	    (rc = co_json_get_str(rec, "website", false, &p->website, err)) ||
	    (rc = co_json_get_str(rec, "avatar_path", false, &p->avatar_path, err)) ||
	    (rc = read_names(rec, "specialties", &p->specialties, &p->n_specialties, err)) ||
	    (rc = read_names(rec, "tools", &p->tools, &p->n_tools, err)) || (rc = read_certs(rec, p, err)) ||
	    (rc = read_education(rec, p, err)) || (rc = co_json_get_ts(rec, "updated_at", false, &p->updated_at, err)))
		goto fail;
	if ((rc = co_portfolio_check(p, true, CUTOVER_ECORRUPT, NULL, err)))
		goto fail;
	*out = p;
	return CUTOVER_OK;
fail:
	cutover_portfolio_free(p);
	return rc;
}

int co_legacy_portfolio(const co_scan_item *it, cutover_portfolio **out, cutover_error *err)
{
	cJSON *j;
	*out = NULL;
	int rc = co_legacy_parse(it, &j, err);
	if (rc)
		return rc;
	rc = co_legacy_portfolio_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}
