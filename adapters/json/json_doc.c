/* json_doc.c — load, edit and save `{"<collection>": [...]}` documents.
 *
 * Written once for every JSON domain backend, over the transport (see
 * json_store.h). A write is a read-modify-write cycle: take the domain's lock
 * when the transport offers one, load the document with its version token,
 * let the caller edit the cJSON tree in place, and put it back only if the
 * version is unchanged, retrying a few times when another writer got there
 * first (transports without locks rely on that alone). Editing the tree in
 * place, never rebuilding records, keeps fields we do not know about.
 *
 * The field readers accept the legacy forms (timestamps as ISO strings or
 * epoch milliseconds, null and absent alike) and report a wrong type with a
 * message that co_doc_record_error turns into a record-level ECORRUPT.
 */
#include "json_doc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CO_JSON_MAX_EXACT 9007199254740992.0 /* 2^53 */

/* --- loading --------------------------------------------------------------- */

static int doc_empty(co_doc *doc, cutover_error *err)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *items = cJSON_CreateArray();
	if (!root || !items || !cJSON_AddItemToObject(root, doc->collection, items)) {
		cJSON_Delete(root);
		cJSON_Delete(items);
		return co_err_oom(err);
	}
	doc->root = root;
	doc->items = items;
	return CUTOVER_OK;
}

static void where(const char *data, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int corrupt_doc(co_transport *t, const co_doc *doc, cutover_error *err)
{
	co_err_hint(err, "fix the JSON in %s under %s or restore it from a backup, then try again",
	            doc->key, t->describe ? t->describe(t) : "the state root");
	return CUTOVER_ECORRUPT;
}

int co_doc_load(co_transport *t, const char *key, const char *collection, co_doc *doc, cutover_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(doc, 0, sizeof *doc);
	doc->key = key;
	doc->collection = collection;

	rc = t->get(t, key, &data, &len, doc->version, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		doc->version[0] = '\0';
		doc->exists = false;
		return doc_empty(doc, err);
	}
	if (rc != CUTOVER_OK)
		return rc;
	return co_doc_parse(t, data, len, doc, err);
}

int co_doc_parse(co_transport *t, char *data, size_t len, co_doc *doc, cutover_error *err)
{
	const char *key = doc->key, *collection = doc->collection;
	doc->root = NULL;
	doc->items = NULL;
	doc->exists = true;

	const char *start = data;
	size_t n = len;
	if (n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) { /* tolerate a UTF-8 BOM */
		start += 3;
		n -= 3;
	}
	const char *nul = memchr(start, '\0', n);
	if (nul) {
		size_t line, col;
		where(data, (size_t)(nul - data), &line, &col);
		co_err(err, CUTOVER_ECORRUPT, "%s is not valid JSON", key);
		co_err_detail(err, "a NUL byte at line %zu, column %zu (byte %zu)", line, col, (size_t)(nul - data));
		free(data);
		return corrupt_doc(t, doc, err);
	}

	const char *end = NULL;
	/* length includes the terminating NUL, as cJSON_ParseWithOpts does */
	doc->root = cJSON_ParseWithLengthOpts(start, n + 1, &end, 1);
	if (!doc->root) {
		size_t off = end && end >= data && end <= data + len ? (size_t)(end - data) : len;
		size_t line, col;
		where(data, off, &line, &col);
		co_err(err, CUTOVER_ECORRUPT, "%s is not valid JSON", key);
		if (off >= len)
			co_err_detail(err, "parsing stopped at the end of the document (%zu bytes): it is truncated or empty", len);
		else
			co_err_detail(err, "parsing stopped at line %zu, column %zu (byte %zu of %zu)", line, col, off, len);
		free(data);
		return corrupt_doc(t, doc, err);
	}
	free(data);

	if (!cJSON_IsObject(doc->root)) {
		cJSON_Delete(doc->root);
		doc->root = NULL;
		co_err(err, CUTOVER_ECORRUPT, "%s is not a JSON object", key);
		co_err_detail(err, "expected {\"%s\": [ ... ]}", collection);
		return corrupt_doc(t, doc, err);
	}
	doc->items = cJSON_GetObjectItemCaseSensitive(doc->root, collection);
	if (!doc->items || cJSON_IsNull(doc->items)) {
		/* {} or {"users": null}: an empty collection */
		if (co_json_set(doc->root, collection, cJSON_CreateArray(), err) != CUTOVER_OK) {
			co_doc_release(doc);
			return CUTOVER_EINTERNAL;
		}
		doc->items = cJSON_GetObjectItemCaseSensitive(doc->root, collection);
	} else if (!cJSON_IsArray(doc->items)) {
		co_doc_release(doc);
		co_err(err, CUTOVER_ECORRUPT, "%s: \"%s\" is not a list", key, collection);
		co_err_detail(err, "expected {\"%s\": [ ... ]}", collection);
		return corrupt_doc(t, doc, err);
	}
	return CUTOVER_OK;
}

void co_doc_release(co_doc *doc)
{
	if (!doc)
		return;
	cJSON_Delete(doc->root);
	doc->root = NULL;
	doc->items = NULL;
}

/* --- read-modify-write ----------------------------------------------------- */

void co_doc_backoff(int attempt)
{
	/* a few milliseconds, growing, with jitter so racing writers spread out */
	long ms = 1L << (attempt < 6 ? attempt : 6);
	long jitter = (long)((unsigned)getpid() * 2654435761u + (unsigned)attempt * 40503u) % 1000000L;
	struct timespec ts = {0, ms * 1000000L + jitter};
	nanosleep(&ts, NULL);
}

int co_doc_update(co_transport *t, const char *lock_name, const char *key, const char *collection,
                  co_doc_edit_fn fn, void *ctx, cutover_error *err)
{
	co_lock *lock = NULL;
	int rc;

	if (t->lock) {
		rc = t->lock(t, lock_name, &lock, err);
		if (rc != CUTOVER_OK)
			return rc;
	}

	for (int attempt = 0;; attempt++) {
		co_doc doc;
		bool changed = false;

		rc = co_doc_load(t, key, collection, &doc, err);
		if (rc != CUTOVER_OK)
			break;
		rc = fn(&doc, ctx, &changed, err);
		if (rc != CUTOVER_OK || !changed) {
			co_doc_release(&doc);
			break;
		}
		char *text = NULL;
		size_t text_len = 0;
		rc = co_json_print(doc.root, key, &text, &text_len, err);
		if (rc != CUTOVER_OK) {
			co_doc_release(&doc);
			break;
		}
		rc = t->put(t, key, text, text_len, doc.version, NULL, err);
		free(text);
		co_doc_release(&doc);
		if (rc != CUTOVER_EBUSY)
			break;
		if (attempt + 1 >= CO_DOC_MAX_ATTEMPTS) {
			co_err(err, CUTOVER_EBUSY, "%s kept changing while it was being updated", key);
			co_err_detail(err, "gave up after %d attempts: another writer replaced the document each time", CO_DOC_MAX_ATTEMPTS);
			co_err_hint(err, "retry the operation; if it keeps failing, look for a process rewriting %s in a loop", key);
			break;
		}
		cutover_error_clear(err);
		co_doc_backoff(attempt);
	}

	if (lock)
		t->unlock(t, lock);
	return rc;
}

int co_doc_record_error(cutover_error *err, const co_doc *doc, size_t pos, const char *what)
{
	char why[sizeof err->message];
	if (!err)
		return CUTOVER_ECORRUPT;
	if (err->code == CUTOVER_EINTERNAL)
		return CUTOVER_EINTERNAL; /* out of memory is not the record's fault */
	snprintf(why, sizeof why, "%s", err->message);
	if (what && *what)
		co_err(err, CUTOVER_ECORRUPT, "%s: record %zu of \"%s\" (%s) cannot be read", doc->key, pos + 1, doc->collection, what);
	else
		co_err(err, CUTOVER_ECORRUPT, "%s: record %zu of \"%s\" cannot be read", doc->key, pos + 1, doc->collection);
	co_err_detail(err, "%s", why);
	co_err_hint(err, "fix or remove that record in %s (or restore the file from a backup)", doc->key);
	return CUTOVER_ECORRUPT;
}

/* --- printing -------------------------------------------------------------- */

/* A string as cJSON prints one: quote, backslash and control characters
 * escaped, every other byte as it is. */
static void put_string(co_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *run = p;
	co_buf_put(b, "\"", 1);
	for (; *p; p++) {
		char u[8];
		const char *esc = NULL;
		switch (*p) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (*p < 0x20) {
				snprintf(u, sizeof u, "\\u%04x", (unsigned)*p);
				esc = u;
			}
		}
		if (esc) {
			co_buf_put(b, (const char *)run, (size_t)(p - run));
			co_buf_puts(b, esc);
			run = p + 1;
		}
	}
	co_buf_put(b, (const char *)run, (size_t)(p - run));
	co_buf_put(b, "\"", 1);
}

/* The shortest of cJSON's forms that reads back as exactly this double
 * (cJSON's own printer accepts 15 digits when they come within an epsilon,
 * so 9007199254740991 came back as 9007199254740990). */
static bool put_number(co_buf *b, double d)
{
	char text[40];
	if (!isfinite(d))
		return false;
	if (d == floor(d) && fabs(d) < 1e17)
		snprintf(text, sizeof text, "%.0f", d);
	else if (snprintf(text, sizeof text, "%.15g", d), strtod(text, NULL) != d)
		snprintf(text, sizeof text, "%.17g", d);
	co_buf_puts(b, text);
	return true;
}

static const cJSON *put_value(co_buf *b, const cJSON *v)
{
	switch (v->type & 0xFF) {
	case cJSON_NULL:
		co_buf_puts(b, "null");
		return NULL;
	case cJSON_False:
		co_buf_puts(b, "false");
		return NULL;
	case cJSON_True:
		co_buf_puts(b, "true");
		return NULL;
	case cJSON_Number:
		return put_number(b, v->valuedouble) ? NULL : v;
	case cJSON_String:
		put_string(b, v->valuestring);
		return NULL;
	case cJSON_Raw:
		if (!v->valuestring)
			return v;
		co_buf_puts(b, v->valuestring);
		return NULL;
	case cJSON_Array:
	case cJSON_Object: {
		bool obj = cJSON_IsObject(v);
		co_buf_put(b, obj ? "{" : "[", 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (c != v->child)
				co_buf_put(b, ",", 1);
			if (obj) {
				put_string(b, c->string);
				co_buf_put(b, ":", 1);
			}
			const cJSON *bad = put_value(b, c);
			if (bad)
				return bad;
		}
		co_buf_put(b, obj ? "}" : "]", 1);
		return NULL;
	}
	default:
		return v;
	}
}

int co_json_print(const cJSON *v, const char *what, char **out, size_t *len, cutover_error *err)
{
	co_buf b = {0};
	*out = NULL;
	*len = 0;
	const cJSON *bad = put_value(&b, v);
	if (bad) {
		co_buf_free(&b);
		co_err(err, CUTOVER_ECORRUPT, "%s holds a number too large to write back (in \"%.60s\")", what,
		       bad->string ? bad->string : "a list");
		co_err_detail(err, "JSON numbers are read as doubles and this one is beyond their range; writing it "
				   "back would change it");
		co_err_hint(err, "fix that number in %s (or restore the file from a backup), then try again", what);
		return CUTOVER_ECORRUPT;
	}
	if (b.failed || !b.data) {
		co_buf_free(&b);
		return co_err_oom(err);
	}
	*out = b.data;
	*len = b.len;
	return CUTOVER_OK;
}

/* --- readers --------------------------------------------------------------- */

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsArray(v)) return "a list";
	if (cJSON_IsObject(v)) return "an object";
	if (cJSON_IsNull(v)) return "null";
	return "an unknown value";
}

static const cJSON *field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static int missing(const char *name, cutover_error *err)
{
	return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is missing", name);
}

int co_json_get_str_ref(const cJSON *obj, const char *name, bool required, const char **out, cutover_error *err)
{
	const cJSON *v = field(obj, name);
	*out = NULL;
	if (!v)
		return required ? missing(name, err) : CUTOVER_OK;
	if (!cJSON_IsString(v) || !v->valuestring)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be a string, found %s", name, type_name(v));
	*out = v->valuestring;
	return CUTOVER_OK;
}

int co_json_get_str(const cJSON *obj, const char *name, bool required, char **out, cutover_error *err)
{
	const char *s;
	int rc = co_json_get_str_ref(obj, name, required, &s, err);
	*out = NULL;
	if (rc != CUTOVER_OK || !s)
		return rc;
	if (!(*out = co_strdup(s)))
		return co_err_oom(err);
	return CUTOVER_OK;
}

int co_json_get_int(const cJSON *obj, const char *name, bool required, int64_t *out, bool *present, cutover_error *err)
{
	const cJSON *v = field(obj, name);
	*out = 0;
	if (present)
		*present = false;
	if (!v)
		return required ? missing(name, err) : CUTOVER_OK;
	if (!cJSON_IsNumber(v))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an integer, found %s", name, type_name(v));
	double d = v->valuedouble;
	if (!isfinite(d))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an integer, found %g", name, d);
	if (d > CO_JSON_MAX_EXACT || d < -CO_JSON_MAX_EXACT)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is out of range (%.0f; at most 2^53 can be read exactly)", name, d);
	if (d != (double)(int64_t)d)
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an integer, found %g", name, d);
	*out = (int64_t)d;
	if (present)
		*present = true;
	return CUTOVER_OK;
}

int co_json_get_bool(const cJSON *obj, const char *name, bool dflt, bool *out, cutover_error *err)
{
	const cJSON *v = field(obj, name);
	*out = dflt;
	if (!v)
		return CUTOVER_OK;
	if (!cJSON_IsBool(v))
		return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be true or false, found %s", name, type_name(v));
	*out = cJSON_IsTrue(v);
	return CUTOVER_OK;
}

int co_json_ts_value(const cJSON *v, const char *name, cutover_ts *out, cutover_error *err)
{
	*out = CUTOVER_TS_NULL;
	if (!v || cJSON_IsNull(v))
		return CUTOVER_OK;
	if (cJSON_IsString(v) && v->valuestring) {
		if (v->valuestring[0] == '\0')
			return CUTOVER_OK;
		cutover_ts t;
		if (cutover_ts_parse(v->valuestring, &t) != CUTOVER_OK || t == CUTOVER_TS_NULL)
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is not an ISO-8601 timestamp in years 0001-9999: \"%.64s\"", name, v->valuestring);
		*out = t;
		return CUTOVER_OK;
	}
	if (cJSON_IsNumber(v)) {
		/* older rows: epoch milliseconds */
		double us = v->valuedouble * 1000.0;
		if (!isfinite(us) || us >= 9.2e18 || us <= -9.2e18)
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is out of range as epoch milliseconds (%g)", name, v->valuedouble);
		/* round to the nearest microsecond, halves away from zero (no libm needed) */
		cutover_ts t = (cutover_ts)(us + (us < 0 ? -0.5 : 0.5));
		if (!co_ts_in_range(t))
			return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" is outside years 0001-9999 as epoch milliseconds (%.0f)", name, v->valuedouble);
		*out = t;
		return CUTOVER_OK;
	}
	return co_err(err, CUTOVER_ECORRUPT, "field \"%s\" must be an ISO-8601 string or epoch milliseconds, found %s", name, type_name(v));
}

int co_json_get_ts(const cJSON *obj, const char *name, bool required, cutover_ts *out, cutover_error *err)
{
	int rc = co_json_ts_value(cJSON_GetObjectItemCaseSensitive(obj, name), name, out, err);
	if (rc == CUTOVER_OK && required && *out == CUTOVER_TS_NULL)
		return missing(name, err);
	return rc;
}

/* --- writers --------------------------------------------------------------- */

int co_json_set(cJSON *obj, const char *name, cJSON *item, cutover_error *err)
{
	if (!item)
		return co_err_oom(err);
	if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
		/* cJSON only attaches the new item when the old one was found */
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item)) {
			cJSON_Delete(item);
			return co_err_oom(err);
		}
	} else if (!cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return co_err_oom(err);
	}
	return CUTOVER_OK;
}

int co_json_set_str(cJSON *obj, const char *name, const char *v, cutover_error *err)
{
	return co_json_set(obj, name, v ? cJSON_CreateString(v) : cJSON_CreateNull(), err);
}

int co_json_set_str_or_omit(cJSON *obj, const char *name, const char *v, cutover_error *err)
{
	if (!v) {
		co_json_remove(obj, name);
		return CUTOVER_OK;
	}
	return co_json_set_str(obj, name, v, err);
}

int co_json_set_int(cJSON *obj, const char *name, int64_t v, cutover_error *err)
{
	if (v > (int64_t)CO_JSON_MAX_EXACT || v < -(int64_t)CO_JSON_MAX_EXACT)
		return co_err(err, CUTOVER_EINVALID, "%s %lld cannot be stored exactly in a JSON document (at most 2^53)",
		              name, (long long)v);
	return co_json_set(obj, name, cJSON_CreateNumber((double)v), err);
}

int co_json_set_bool(cJSON *obj, const char *name, bool v, cutover_error *err)
{
	return co_json_set(obj, name, cJSON_CreateBool(v), err);
}

int co_json_set_ts(cJSON *obj, const char *name, cutover_ts v, cutover_error *err)
{
	char buf[64];
	if (v == CUTOVER_TS_NULL)
		return co_json_set(obj, name, cJSON_CreateNull(), err);
	buf[0] = '\0';
	if (!co_ts_in_range(v)) /* its text would not read back (four-digit years) */
		return co_err(err, CUTOVER_EINVALID, "%s is outside years 0001-9999", name);
	cutover_ts_format(v, buf, sizeof buf);
	if (buf[0] == '\0')
		return co_err(err, CUTOVER_EINVALID, "%s cannot be written as an ISO-8601 timestamp", name);
	return co_json_set(obj, name, cJSON_CreateString(buf), err);
}

void co_json_remove(cJSON *obj, const char *name)
{
	while (cJSON_GetObjectItemCaseSensitive(obj, name))
		cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
}
