/* fuzz_json_doc.c — the json document layer (adapters/json/json_doc.c): a
 * document read from the state root, then rewritten by the backend.
 *
 * The bytes are the document under one key of an in-memory transport. It is
 * loaded as {"users": [...]} (co_doc_load), which either gives a list or
 * says why not. Every object in the list has its fields read with the
 * legacy readers; a value they accept writes back with the field writers
 * and reads back the same (ids, timestamps). Then the document goes through
 * a read-modify-write (co_doc_update) that rewrites each record's
 * timestamps in their canonical text: what is put is valid JSON that loads
 * again and is the tree the edit left, every unknown field kept; a document
 * holding a number beyond a double's range (which would be written back as
 * null) is refused instead.
 */
#include <float.h>

#include <cjson/cJSON.h>

#include "co.h"
#include "fuzz.h"
#include "json_doc.h"

#define DOC_KEY "identity/users.json"

typedef struct mem_transport {
	co_transport t;
	const char *data; /* what get() hands out */
	size_t size;
	char *written;    /* what put() stored */
	size_t written_len;
} mem_transport;

static int mem_get(co_transport *t, const char *key, char **data, size_t *len, char version[CO_VERSION_LEN],
		   cutover_error *err)
{
	mem_transport *m = (mem_transport *)t;
	(void)key;
	*data = malloc(m->size + 1);
	if (!*data)
		return co_err_oom(err);
	memcpy(*data, m->data, m->size);
	(*data)[m->size] = '\0';
	*len = m->size;
	snprintf(version, CO_VERSION_LEN, "v1");
	return CUTOVER_OK;
}

static int mem_put(co_transport *t, const char *key, const char *data, size_t len, const char *if_version,
		   char new_version[CO_VERSION_LEN], cutover_error *err)
{
	mem_transport *m = (mem_transport *)t;
	(void)key;
	FUZZ_CHECK(if_version && strcmp(if_version, "v1") == 0);
	free(m->written);
	if (!(m->written = co_strndup(data, len)))
		return co_err_oom(err);
	m->written_len = len;
	if (new_version)
		snprintf(new_version, CO_VERSION_LEN, "v2");
	return CUTOVER_OK;
}

static int mem_del(co_transport *t, const char *key, cutover_error *err)
{
	(void)t;
	(void)key;
	(void)err;
	return CUTOVER_ENOTFOUND;
}

static const char *mem_describe(co_transport *t)
{
	(void)t;
	return "memory";
}

static void mem_init(mem_transport *m, const char *data, size_t size)
{
	memset(m, 0, sizeof *m);
	m->t.version = CO_TRANSPORT_VERSION;
	m->t.kind = "memory";
	m->t.get = mem_get;
	m->t.put = mem_put;
	m->t.del = mem_del;
	m->t.describe = mem_describe;
	m->data = data;
	m->size = size;
}

/* Read the fields a record may have; what reads writes back and reads the same. */
static void read_fields(const co_doc *doc, size_t pos, const cJSON *rec)
{
	cutover_error err = {0};
	int64_t id = 0;
	bool present = false;
	int rc = co_json_get_int(rec, "id", true, &id, &present, &err);
	if (rc == CUTOVER_OK) {
		FUZZ_CHECK(present && id >= -CO_ID_MAX && id <= CO_ID_MAX);
		/* written as the backend writes it, and read back from the text */
		cJSON *o = cJSON_CreateObject();
		FUZZ_CHECK(o && co_json_set_int(o, "id", id, &err) == CUTOVER_OK);
		char *text = NULL;
		size_t len = 0;
		FUZZ_CHECK(co_json_print(o, "fuzz", &text, &len, &err) == CUTOVER_OK && strlen(text) == len);
		cJSON_Delete(o);
		o = cJSON_Parse(text);
		int64_t back = 0;
		FUZZ_CHECK(co_json_get_int(o, "id", true, &back, NULL, &err) == CUTOVER_OK && back == id);
		cJSON_Delete(o);
		free(text);
	} else {
		fuzz_check_error(rc, &err);
		FUZZ_CHECK(co_doc_record_error(&err, doc, pos, "id") == CUTOVER_ECORRUPT);
		FUZZ_CHECK(err.message[0] && err.detail[0] && err.hint[0]);
	}

	const char *names[] = {"created_at", "updated_at", "email_verified_at"};
	for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
		cutover_ts t;
		cutover_error e2 = {0};
		rc = co_json_get_ts(rec, names[k], false, &t, &e2);
		if (rc != CUTOVER_OK) {
			fuzz_check_error(rc, &e2);
			continue;
		}
		if (t == CUTOVER_TS_NULL)
			continue;
		FUZZ_CHECK(co_ts_in_range(t));
		cJSON *o = cJSON_CreateObject();
		FUZZ_CHECK(o && co_json_set_ts(o, "t", t, &e2) == CUTOVER_OK);
		cutover_ts back;
		FUZZ_CHECK(co_json_get_ts(o, "t", true, &back, &e2) == CUTOVER_OK && back == t);
		cJSON_Delete(o);
	}

	char *s = NULL;
	const char *ref = NULL;
	cutover_error e3 = {0};
	rc = co_json_get_str(rec, "email", false, &s, &e3);
	if (rc == CUTOVER_OK) {
		FUZZ_CHECK(co_json_get_str_ref(rec, "email", false, &ref, &e3) == CUTOVER_OK);
		FUZZ_CHECK(co_streq(s, ref));
	} else {
		FUZZ_CHECK(s == NULL);
		fuzz_check_error(rc, &e3);
	}
	free(s);
	bool b;
	rc = co_json_get_bool(rec, "disabled", false, &b, &e3);
	if (rc != CUTOVER_OK)
		fuzz_check_error(rc, &e3);
}

static bool has_infinity(const cJSON *v)
{
	if (cJSON_IsNumber(v) && (v->valuedouble > DBL_MAX || v->valuedouble < -DBL_MAX))
		return true;
	for (const cJSON *c = v->child; c; c = c->next)
		if (has_infinity(c))
			return true;
	return false;
}

typedef struct edit_ctx {
	cJSON *after; /* the tree the edit left */
	int calls;
} edit_ctx;

/* Rewrite every record's timestamps in canonical text; drop the ones that do not read. */
static int edit(co_doc *doc, void *ud, bool *changed, cutover_error *err)
{
	edit_ctx *c = ud;
	c->calls++;
	cJSON *rec;
	cJSON_ArrayForEach(rec, doc->items) {
		if (!cJSON_IsObject(rec))
			continue;
		cutover_ts t;
		cutover_error why = {0};
		if (co_json_get_ts(rec, "created_at", false, &t, &why) == CUTOVER_OK) {
			int rc = co_json_set_ts(rec, "created_at", t, err);
			if (rc)
				return rc;
		} else {
			co_json_remove(rec, "created_at");
			FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(rec, "created_at") == NULL);
		}
	}
	cJSON_Delete(c->after);
	c->after = cJSON_Duplicate(doc->root, true);
	FUZZ_CHECK(c->after != NULL);
	*changed = true;
	return CUTOVER_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mem_transport m;
	mem_init(&m, (const char *)data, size);
	co_doc doc;
	cutover_error err = {0};
	int rc = co_doc_load(&m.t, DOC_KEY, "users", &doc, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(rc == CUTOVER_ECORRUPT && err.code == rc && err.message[0] && err.hint[0]);
		FUZZ_CHECK(doc.root == NULL);
		co_doc_release(&doc);
		return 0;
	}
	FUZZ_CHECK(doc.exists && cJSON_IsObject(doc.root) && cJSON_IsArray(doc.items));
	FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(doc.root, "users") == doc.items);
	size_t pos = 0;
	const cJSON *rec;
	cJSON_ArrayForEach(rec, doc.items) {
		if (cJSON_IsObject(rec))
			read_fields(&doc, pos, rec);
		pos++;
	}
	co_doc_release(&doc);
	co_doc_release(&doc); /* safe twice */

	edit_ctx c = {0};
	rc = co_doc_update(&m.t, "identity", DOC_KEY, "users", edit, &c, &err);
	FUZZ_CHECK(c.calls == 1);
	if (has_infinity(c.after)) {
		/* such a number would be written back as null: the write is refused */
		FUZZ_CHECK(rc == CUTOVER_ECORRUPT && err.code == rc && err.message[0] && err.hint[0]);
		FUZZ_CHECK(m.written == NULL);
		cJSON_Delete(c.after);
		return 0;
	}
	FUZZ_CHECK(rc == CUTOVER_OK && m.written != NULL);
	/* what was put is JSON, the tree the edit left, and loads again */
	cJSON *put = cJSON_ParseWithLength(m.written, m.written_len);
	FUZZ_CHECK(put != NULL);
	FUZZ_CHECK(fuzz_tree_equal(put, c.after));
	cJSON_Delete(put);
	mem_transport again;
	mem_init(&again, m.written, m.written_len);
	co_doc doc2;
	FUZZ_CHECK(co_doc_load(&again.t, DOC_KEY, "users", &doc2, &err) == CUTOVER_OK);
	co_doc_release(&doc2);
	cJSON_Delete(c.after);
	free(m.written);
	return 0;
}
