/* fuzz_json_index.c — a document served from the cached index
 * (adapters/json/json_index.c), checked against the whole-document parse.
 *
 * The bytes are identity/users.json of an in-memory transport that has the
 * version 2 operations (open_read and put_begin/commit/abort over memfds,
 * committed exactly, so the index is carried over to what it wrote). The
 * index keys each record by its "id" when that is an integer (aux = id).
 *
 * Reading: co_ix_sync either refuses the document with CUTOVER_ECORRUPT and
 * co_doc_load refuses the same bytes with the same message and detail, or
 * both accept it; then the index has as many records as co_doc_load's list,
 * a record is readable exactly when that element holds the strict rules
 * (co_legacy_strict, \u0000 judged from the record's bytes), each readable
 * one reads as that element (cJSON_Compare and member by member), its aux
 * is its id and looking the id up finds its ordinal.
 *
 * Writing: co_ix_update replaces the first readable record with a copy plus
 * "fz":1, deletes the second record when there are at least three (the
 * third when the second is the one replaced), and appends a new record.
 * It fails only when a record written anew holds a number beyond a
 * double's range (nothing is stored then). Otherwise the stored bytes load,
 * hold old - deleted + 1 records (each untouched one the same tree as
 * before, its original bytes found in the new bytes in order and at its
 * new place, the head and tail around the list kept), and an index built
 * afresh over them agrees with the one carried over: count, readable flags,
 * aux, the ordinals a key lookup gives, and what each record reads as. The
 * same write is then repeated on the index each write carried over, checked
 * the same way each time: 12 writes in all for a document up to 1 KiB (the
 * keys dropped along the way then make the key table be rebuilt), 2 for a
 * larger one. A broken property prints what each side said, then aborts.
 *
 * The same bytes are also a file of lines (NDJSON mode, as the daily event
 * files are indexed; no number a record for odd sizes, the id for even
 * ones): indexing never fails, the records are the lines the framer hands
 * out in line mode, each with the framer's line number, readable exactly
 * when co_legacy_parse accepts it (the same reason when not) and read as
 * that parse; the line an append would get is one past the file's lines.
 * The same edits are written, and the bytes stored must be exactly the old
 * ones with the replaced record printed in place of its bytes, the deleted
 * record's line gone with its newline, and the new line at the end (after a
 * newline when the file did not end with one); the index carried over must
 * agree with one built afresh, line numbers too; repeated as above.
 */
#include <float.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "co.h"
#include "fuzz.h"
#include "json_doc.h"
#include "json_index.h"
#include "legacy_identity.h"

#define DOC_KEY "identity/users.json"
#define COLL "users"
#define APPEND_ID 999999999
#define WRITE_ROUNDS 12

/* A broken property: what both sides said, then abort. */
#define FUZZ_CHECK_MSG(cond, ...)                                                                             \
	do {                                                                                                      \
		if (!(cond)) {                                                                                        \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n  ", __FILE__, __LINE__, #cond);                 \
			fprintf(stderr, __VA_ARGS__);                                                                     \
			fprintf(stderr, "\n");                                                                            \
			abort();                                                                                          \
		}                                                                                                     \
	} while (0)

/* --- an in-memory transport with the version 2 operations ------------------ */

typedef struct mem_transport {
	co_transport t;
	const char *key; /* the one document it holds */
	char *data; /* the stored document (NULL: absent) */
	size_t size;
	unsigned ver; /* its version is "v<ver>" */
	int puts;     /* versions stored */
	int spools;   /* descriptors handed out by open_read */
} mem_transport;

static void mem_version(const mem_transport *m, char version[CO_VERSION_LEN])
{
	snprintf(version, CO_VERSION_LEN, "v%u", m->ver);
}

static int mem_get(co_transport *t, const char *key, char **data, size_t *len, char version[CO_VERSION_LEN],
                   cutover_error *err)
{
	mem_transport *m = (mem_transport *)t;
	FUZZ_CHECK(strcmp(key, m->key) == 0);
	if (!m->data)
		return CUTOVER_ENOTFOUND;
	*data = malloc(m->size + 1);
	if (!*data)
		return co_err_oom(err);
	memcpy(*data, m->data, m->size);
	(*data)[m->size] = '\0';
	*len = m->size;
	mem_version(m, version);
	return CUTOVER_OK;
}

static int mem_store(mem_transport *m, const char *data, size_t len, const char *if_version,
                     char new_version[CO_VERSION_LEN], cutover_error *err)
{
	char cur[CO_VERSION_LEN];
	mem_version(m, cur);
	/* a single writer: the version it read is the one stored */
	FUZZ_CHECK(if_version != NULL);
	FUZZ_CHECK(m->data ? strcmp(if_version, cur) == 0 : if_version[0] == '\0');
	char *copy = malloc(len + 1);
	if (!copy)
		return co_err_oom(err);
	memcpy(copy, data, len);
	copy[len] = '\0';
	free(m->data);
	m->data = copy;
	m->size = len;
	m->ver++;
	m->puts++;
	if (new_version)
		mem_version(m, new_version);
	return CUTOVER_OK;
}

static int mem_put(co_transport *t, const char *key, const char *data, size_t len, const char *if_version,
                   char new_version[CO_VERSION_LEN], cutover_error *err)
{
	FUZZ_CHECK(strcmp(key, ((mem_transport *)t)->key) == 0);
	return mem_store((mem_transport *)t, data, len, if_version, new_version, err);
}

static int mem_del(co_transport *t, const char *key, cutover_error *err)
{
	(void)t;
	(void)key;
	(void)err;
	FUZZ_CHECK(!"nothing deletes the document");
	return CUTOVER_ENOTFOUND;
}

static int mem_fd(cutover_error *err)
{
	int fd = memfd_create("fuzz-json-index", MFD_CLOEXEC);
	if (fd < 0)
		return co_err(err, CUTOVER_EUNAVAILABLE, "memfd_create failed"), -1;
	return fd;
}

static int mem_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                         cutover_error *err)
{
	mem_transport *m = (mem_transport *)t;
	FUZZ_CHECK(strcmp(key, m->key) == 0);
	*fd = -1;
	if (!m->data)
		return CUTOVER_ENOTFOUND;
	mem_version(m, version);
	if (have && *have && strcmp(have, version) == 0)
		return CUTOVER_OK;
	int f = mem_fd(err);
	if (f < 0)
		return CUTOVER_EUNAVAILABLE;
	size_t done = 0;
	while (done < m->size) {
		ssize_t w = write(f, m->data + done, m->size - done);
		FUZZ_CHECK(w > 0);
		done += (size_t)w;
	}
	m->spools++;
	*fd = f;
	return CUTOVER_OK;
}

static int mem_put_begin(co_transport *t, co_put *p, cutover_error *err)
{
	FUZZ_CHECK(strcmp(p->key, ((mem_transport *)t)->key) == 0);
	p->fd = mem_fd(err);
	return p->fd < 0 ? CUTOVER_EUNAVAILABLE : CUTOVER_OK;
}

static int mem_put_commit(co_transport *t, co_put *p, const char *if_version, char new_version[CO_VERSION_LEN],
                          cutover_error *err)
{
	mem_transport *m = (mem_transport *)t;
	struct stat st;
	FUZZ_CHECK(fstat(p->fd, &st) == 0);
	char *data = malloc((size_t)st.st_size + 1);
	int rc;
	if (!data) {
		rc = co_err_oom(err);
	} else {
		FUZZ_CHECK(pread(p->fd, data, (size_t)st.st_size, 0) == st.st_size);
		rc = mem_store(m, data, (size_t)st.st_size, if_version, new_version, err);
	}
	free(data);
	p->exact = rc == CUTOVER_OK;
	if (rc != CUTOVER_OK || !p->keep) {
		close(p->fd);
		p->fd = -1;
	}
	return rc;
}

static void mem_put_abort(co_transport *t, co_put *p)
{
	(void)t;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static const char *mem_describe(co_transport *t)
{
	(void)t;
	return "memory";
}

static void mem_init(mem_transport *m, const char *key, const uint8_t *data, size_t size)
{
	memset(m, 0, sizeof *m);
	m->key = key;
	m->t.version = CO_TRANSPORT_VERSION;
	m->t.kind = "memory";
	m->t.get = mem_get;
	m->t.put = mem_put;
	m->t.del = mem_del;
	m->t.open_read = mem_open_read;
	m->t.put_begin = mem_put_begin;
	m->t.put_commit = mem_put_commit;
	m->t.put_abort = mem_put_abort;
	m->t.describe = mem_describe;
	m->data = malloc(size + 1);
	FUZZ_CHECK(m->data != NULL);
	memcpy(m->data, data, size);
	m->data[size] = '\0';
	m->size = size;
	m->ver = 1;
}

/* --- the spec: records keyed by an integer "id" ----------------------------- */

static bool id_of(const cJSON *rec, int64_t *id)
{
	cutover_error scratch = {0};
	bool present = false;
	return co_json_get_int(rec, "id", true, id, &present, &scratch) == CUTOVER_OK && present;
}

static void id_keys(const cJSON *rec, co_ix_emit *e)
{
	int64_t id;
	if (id_of(rec, &id)) {
		co_ix_key(e, 0, &id, sizeof id);
		co_ix_set_aux(e, id);
	} else {
		co_ix_key_unreadable(e, 0);
	}
}

static const co_ix_spec spec = {DOC_KEY, COLL, 1, id_keys};

/* --- the records as the framer hands them out ------------------------------- */

typedef struct item {
	co_scan_kind kind;
	char *bytes;
	size_t len;
	uint64_t offset, line;
	bool nul_escape;
} item;

typedef struct items {
	item *v;
	size_t n, cap;
} items;

static void collect(const co_scan_item *it, void *ud)
{
	items *s = ud;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		FUZZ_CHECK(s->v != NULL);
	}
	item *d = &s->v[s->n++];
	d->kind = it->kind;
	d->len = it->len;
	d->offset = it->offset;
	d->line = it->line;
	d->nul_escape = it->nul_escape;
	d->bytes = malloc(it->len + 1);
	FUZZ_CHECK(d->bytes != NULL);
	memcpy(d->bytes, it->bytes, it->len);
}

/* Frame data; *closed and *close_off as co_scan_json_closed says. */
static void scan(const char *data, size_t size, items *out, bool *closed, uint64_t *close_off)
{
	memset(out, 0, sizeof *out);
	fuzz_scan_each((const uint8_t *)data, size, COLL, collect, out);
	/* the framer's verdict on the list, from a second pass */
	FILE *f = fmemopen((void *)data, size, "r");
	FUZZ_CHECK(f != NULL);
	co_scan *s = NULL;
	cutover_error err = {0};
	FUZZ_CHECK(co_scan_json(&s, f, "fuzz.json", COLL, &err) == CUTOVER_OK);
	co_scan_item it;
	while (co_scan_next(s, &it, &err) == CUTOVER_OK)
		;
	*close_off = 0;
	*closed = co_scan_json_closed(s, close_off);
	co_scan_free(s);
	fclose(f);
}

static void items_free(items *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].bytes);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* --- checks ----------------------------------------------------------------- */

static bool has_infinity(const cJSON *v)
{
	if (cJSON_IsNumber(v) && (v->valuedouble > DBL_MAX || v->valuedouble < -DBL_MAX))
		return true;
	for (const cJSON *c = v ? v->child : NULL; c; c = c->next)
		if (has_infinity(c))
			return true;
	return false;
}

/* Equal as cJSON_Compare (case-sensitive) says and member by member, in
 * order, with exact numbers (cJSON_Compare finds an infinity unequal to
 * itself: it is left to the exact comparison then). */
static bool same_tree(const cJSON *a, const cJSON *b)
{
	return fuzz_tree_equal(a, b) && (has_infinity(a) || cJSON_Compare(a, b, true));
}

static void print_bytes(const char *what, const char *p, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): \"", what, n);
	for (size_t i = 0; i < n && i < 400; i++)
		fprintf(stderr, (unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f ? "\\x%02x" : "%c",
		        (unsigned char)p[i]);
	fprintf(stderr, n > 400 ? "\"...\n" : "\"\n");
}

/* The sorted ordinals a lookup of id gives. */
static size_t lookup(const co_ix *x, int64_t id, size_t **ords)
{
	size_t n = 0;
	cutover_error err = {0};
	FUZZ_CHECK(co_ix_candidates(x, 0, &id, sizeof id, ords, &n, &err) == CUTOVER_OK);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((*ords)[i] < co_ix_count(x));
		FUZZ_CHECK(i == 0 || (*ords)[i - 1] < (*ords)[i]);
	}
	return n;
}

static bool contains(const size_t *v, size_t n, size_t want)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == want)
			return true;
	return false;
}

/* Record ord of x against the element el of co_doc_load's list (scanned
 * from bytes it): readable exactly when el holds the strict rules, read as
 * el, aux its id, found by its id. */
static void check_record(co_ix *x, size_t ord, const cJSON *el, const item *it)
{
	cutover_error strict = {0}, err = {0};
	int src = co_legacy_strict(el, it->nul_escape, &strict);
	cJSON *rec = NULL;
	int rc = co_ix_read(x, ord, &rec, &err);
	if (!co_ix_readable(x, ord)) {
		FUZZ_CHECK_MSG(src != CUTOVER_OK, "record %zu: the index says unreadable, the strict rules accept it", ord);
		FUZZ_CHECK(rc == CUTOVER_ECORRUPT && rec == NULL);
		FUZZ_CHECK_MSG(strcmp(err.message, strict.message) == 0, "record %zu: read: \"%s\"; strict: \"%s\"", ord,
		               err.message, strict.message);
		/* its keys and number are still indexed, read as cJSON reads them
		 * (conflict checks and new ids see them; no look-up serves it) */
		int64_t id;
		cutover_error scratch;
		bool has = co_json_get_int(el, "id", true, &id, NULL, &scratch) == CUTOVER_OK && id > 0;
		FUZZ_CHECK(co_ix_aux(x, ord) == (has ? id : INT64_MIN));
		return;
	}
	FUZZ_CHECK_MSG(src == CUTOVER_OK, "record %zu: the index says readable, the strict rules say \"%s\"", ord,
	               strict.message);
	FUZZ_CHECK_MSG(rc == CUTOVER_OK && rec != NULL, "record %zu: readable but co_ix_read says \"%s\"", ord,
	               err.message);
	FUZZ_CHECK_MSG(same_tree(rec, el), "record %zu: co_ix_read's tree differs from co_doc_load's element", ord);
	cJSON_Delete(rec);
	int64_t id;
	if (id_of(el, &id)) {
		FUZZ_CHECK(co_ix_aux(x, ord) == id);
		size_t *ords = NULL;
		size_t n = lookup(x, id, &ords);
		FUZZ_CHECK_MSG(contains(ords, n, ord), "record %zu: looking up its id %lld does not find it", ord,
		               (long long)id);
		free(ords);
	} else {
		FUZZ_CHECK(co_ix_aux(x, ord) == INT64_MIN);
	}
}

/* A fresh index and the one carried over by the write agree. */
static void check_same_index(co_ix *carried, co_ix *fresh)
{
	size_t n = co_ix_count(fresh);
	FUZZ_CHECK_MSG(co_ix_count(carried) == n, "carried over: %zu records, built afresh: %zu", co_ix_count(carried), n);
	FUZZ_CHECK(co_ix_aux_max(carried) == co_ix_aux_max(fresh));
	size_t f1 = 0, f2 = 0;
	size_t u1 = co_ix_unreadable(carried, 0, SIZE_MAX, &f1), u2 = co_ix_unreadable(fresh, 0, SIZE_MAX, &f2);
	FUZZ_CHECK_MSG(u1 == u2 && f1 == f2, "unreadable ids: carried over %zu (first %zu), afresh %zu (first %zu)", u1,
	               f1, u2, f2);
	u1 = co_ix_unreadable_any(carried, &f1);
	u2 = co_ix_unreadable_any(fresh, &f2);
	FUZZ_CHECK(u1 == u2 && f1 == f2);
	for (size_t ord = 0; ord < n; ord++) {
		FUZZ_CHECK_MSG(co_ix_readable(carried, ord) == co_ix_readable(fresh, ord),
		               "record %zu: carried over readable %d, afresh %d", ord, co_ix_readable(carried, ord),
		               co_ix_readable(fresh, ord));
		FUZZ_CHECK_MSG(co_ix_aux(carried, ord) == co_ix_aux(fresh, ord),
		               "record %zu: carried over aux %lld, afresh %lld", ord, (long long)co_ix_aux(carried, ord),
		               (long long)co_ix_aux(fresh, ord));
		cJSON *a = NULL, *b = NULL;
		cutover_error ea = {0}, eb = {0};
		int ra = co_ix_read(carried, ord, &a, &ea), rb = co_ix_read(fresh, ord, &b, &eb);
		FUZZ_CHECK_MSG(ra == rb, "record %zu: carried over reads %d (%s), afresh %d (%s)", ord, ra, ea.message, rb,
		               eb.message);
		FUZZ_CHECK(ra != CUTOVER_OK || same_tree(a, b));
		cJSON_Delete(a);
		cJSON_Delete(b);
		if (!co_ix_readable(fresh, ord) || co_ix_aux(fresh, ord) == INT64_MIN)
			continue;
		size_t *o1 = NULL, *o2 = NULL;
		size_t n1 = lookup(carried, co_ix_aux(fresh, ord), &o1), n2 = lookup(fresh, co_ix_aux(fresh, ord), &o2);
		FUZZ_CHECK_MSG(contains(o1, n1, ord), "record %zu: the carried-over index does not find id %lld", ord,
		               (long long)co_ix_aux(fresh, ord));
		FUZZ_CHECK_MSG(contains(o2, n2, ord), "record %zu: the fresh index does not find id %lld", ord,
		               (long long)co_ix_aux(fresh, ord));
		FUZZ_CHECK_MSG(n1 == n2 && (n1 == 0 || memcmp(o1, o2, n1 * sizeof *o1) == 0),
		               "record %zu: a lookup of id %lld gives %zu ordinals carried over, %zu afresh", ord,
		               (long long)co_ix_aux(fresh, ord), n1, n2);
		free(o1);
		free(o2);
	}
}

/* --- the write ---------------------------------------------------------------- */

typedef struct edit_ctx {
	int calls;
	size_t replaced, deleted; /* SIZE_MAX: none */
	cJSON *replacement;       /* a copy of what replaced it */
} edit_ctx;

static cJSON *appended_record(void)
{
	cJSON *r = cJSON_CreateObject();
	FUZZ_CHECK(r != NULL);
	FUZZ_CHECK(cJSON_AddNumberToObject(r, "id", APPEND_ID) != NULL);
	FUZZ_CHECK(cJSON_AddStringToObject(r, "email", "fz@example.com") != NULL);
	return r;
}

static int edit(co_ix *x, void *ud, co_ix_edits *e, cutover_error *err)
{
	edit_ctx *c = ud;
	c->calls++;
	c->replaced = c->deleted = SIZE_MAX;
	cJSON_Delete(c->replacement);
	c->replacement = NULL;
	size_t n = co_ix_count(x);
	for (size_t ord = 0; ord < n; ord++) {
		if (!co_ix_readable(x, ord))
			continue;
		cJSON *rec = NULL;
		int rc = co_ix_read(x, ord, &rec, err);
		FUZZ_CHECK_MSG(rc == CUTOVER_OK, "edit: readable record %zu does not read: %s", ord, err->message);
		FUZZ_CHECK(co_json_set(rec, "fz", cJSON_CreateNumber(1), err) == CUTOVER_OK);
		c->replacement = cJSON_Duplicate(rec, true);
		FUZZ_CHECK(c->replacement != NULL);
		c->replaced = ord;
		if ((rc = co_ix_replace(e, ord, rec, err)) != CUTOVER_OK)
			return rc;
		break;
	}
	if (n >= 3) {
		c->deleted = c->replaced == 1 ? 2 : 1;
		int rc = co_ix_delete(e, c->deleted, err);
		if (rc != CUTOVER_OK)
			return rc;
	}
	return co_ix_append(e, appended_record(), err);
}

/* The write and everything that must hold after it; false when it was
 * refused (a number beyond a double's range). */
static bool check_write(mem_transport *m, co_ix *x, const co_doc *before, const items *old, bool closed,
                        uint64_t close_off)
{
	const char *data = m->data;
	size_t size = m->size;
	int puts = m->puts;
	size_t n = co_ix_count(x);
	char *orig = malloc(size + 1);
	FUZZ_CHECK(orig != NULL);
	memcpy(orig, data, size + 1);

	edit_ctx c = {0};
	cutover_error err = {0};
	int rc = co_ix_update(x, "identity", edit, &c, &err);
	FUZZ_CHECK(c.calls == 1);
	if (rc != CUTOVER_OK) {
		/* only a number beyond a double's range stops it, and nothing is stored */
		FUZZ_CHECK_MSG(rc == CUTOVER_ECORRUPT && has_infinity(before->root), "the write failed (%d): %s / %s", rc,
		               err.message, err.detail);
		FUZZ_CHECK(strstr(err.message, "too large to write back") != NULL);
		FUZZ_CHECK(m->puts == puts && m->size == size && memcmp(m->data, orig, size) == 0);
		/* in a list indexed record by record, only the record written anew counts */
		FUZZ_CHECK(!closed || (c.replaced != SIZE_MAX && has_infinity(c.replacement)));
		cJSON_Delete(c.replacement);
		free(orig);
		return false;
	}
	FUZZ_CHECK_MSG(c.replaced == SIZE_MAX || !has_infinity(c.replacement),
	               "a record holding a number beyond a double was written");
	FUZZ_CHECK(m->puts == puts + 1);
	size_t ndel = c.deleted != SIZE_MAX;
	size_t want = n - ndel + 1;

	/* the stored bytes load, with the records expected */
	co_doc after;
	cutover_error e2 = {0};
	rc = co_doc_load(&m->t, DOC_KEY, COLL, &after, &e2);
	if (rc != CUTOVER_OK) {
		print_bytes("before", orig, size);
		print_bytes("after", m->data, m->size);
	}
	FUZZ_CHECK_MSG(rc == CUTOVER_OK, "the stored bytes do not load: %s / %s", e2.message, e2.detail);
	FUZZ_CHECK_MSG((size_t)cJSON_GetArraySize(after.items) == want, "%zu records after the write, expected %zu",
	               (size_t)cJSON_GetArraySize(after.items), want);
	/* the same trees: untouched ones as they were, the replaced one with
	 * "fz", the deleted one gone, the new one last */
	const cJSON *a = after.items->child;
	size_t ord = 0;
	for (const cJSON *b = before->items->child; b; b = b->next, ord++) {
		if (ord == c.deleted)
			continue;
		FUZZ_CHECK(a != NULL);
		FUZZ_CHECK_MSG(fuzz_tree_equal(a, ord == c.replaced ? c.replacement : b),
		               "record %zu is not what it should be after the write", ord);
		a = a->next;
	}
	cJSON *app = appended_record();
	FUZZ_CHECK(a != NULL && a->next == NULL && fuzz_tree_equal(a, app));
	cJSON_Delete(app);

	/* the untouched records' bytes, in order, at their places; the head
	 * and the tail around the list as they were */
	items now;
	bool closed2;
	uint64_t close2;
	scan(m->data, m->size, &now, &closed2, &close2);
	FUZZ_CHECK_MSG(now.n == want, "the framer finds %zu records in the new version, expected %zu", now.n, want);
	if (n > 0 || closed) {
		FUZZ_CHECK(closed && closed2);
		FUZZ_CHECK(old->n == n && now.n == want);
		uint64_t head = n ? old->v[0].offset : close_off;
		uint64_t tail = n ? old->v[n - 1].offset + old->v[n - 1].len : close_off;
		FUZZ_CHECK_MSG(m->size >= head && memcmp(m->data, orig, head) == 0, "the head of the document changed");
		FUZZ_CHECK_MSG(m->size >= size - tail && memcmp(m->data + m->size - (size - tail), orig + tail, size - tail) == 0,
		               "the tail of the document changed");
		const char *from = m->data, *end = m->data + m->size;
		size_t w = 0;
		for (size_t i = 0; i < n; i++) {
			if (i == c.deleted)
				continue;
			const item *o = &old->v[i], *nw = &now.v[w++];
			if (i == c.replaced)
				continue;
			const char *at = memmem(from, (size_t)(end - from), o->bytes, o->len);
			FUZZ_CHECK_MSG(at != NULL, "record %zu's original bytes are not in the new version (in order)", i);
			from = at + o->len;
			FUZZ_CHECK_MSG(nw->len == o->len && memcmp(nw->bytes, o->bytes, o->len) == 0,
			               "record %zu's bytes changed", i);
		}
	}

	/* the index carried over and one built afresh agree */
	co_ix *fresh = NULL;
	FUZZ_CHECK(co_ix_new(&fresh, &m->t, &spec, &err) == CUTOVER_OK);
	FUZZ_CHECK_MSG(co_ix_sync(fresh, &err) == CUTOVER_OK, "the new version does not index: %s / %s", err.message,
	               err.detail);
	FUZZ_CHECK(co_ix_count(fresh) == want);
	int spools = m->spools;
	if (closed) {
		/* carried over: in use as it is, and the next sync has nothing to do */
		check_same_index(x, fresh);
		FUZZ_CHECK(co_ix_sync(x, &err) == CUTOVER_OK);
		FUZZ_CHECK(m->spools == spools);
	} else {
		/* a document without the list was written whole: indexed again */
		FUZZ_CHECK(co_ix_sync(x, &err) == CUTOVER_OK);
		FUZZ_CHECK(m->spools == spools + 1);
	}
	check_same_index(x, fresh);
	/* and both read as co_doc_load's list */
	ord = 0;
	for (const cJSON *el = after.items->child; el; el = el->next, ord++)
		check_record(fresh, ord, el, &now.v[ord]);

	co_ix_free(fresh);
	items_free(&now);
	co_doc_release(&after);
	cJSON_Delete(c.replacement);
	free(orig);
	return true;
}

/* --- NDJSON mode: the same bytes as a file of lines --------------------------- */

#define LINES_KEY "telemetry/events/2026-01-01.ndjson"

/* keyed by "id" like the document, with no number a record (as the daily
 * event files are) or with the id as aux */
static void id_keys_no_aux(const cJSON *rec, co_ix_emit *e)
{
	int64_t id;
	if (id_of(rec, &id))
		co_ix_key(e, 0, &id, sizeof id);
	else
		co_ix_key_unreadable(e, 0);
}

static const co_ix_spec lines_spec = {LINES_KEY, NULL, 1, id_keys};
static const co_ix_spec lines_spec_no_aux = {LINES_KEY, NULL, 1, id_keys_no_aux};

/* Record ord of a file of lines against the line the framer hands out: its
 * line number, readable exactly when co_legacy_parse accepts the line (the
 * same reason when not), read as that parse, found by its id. */
static void check_line(co_ix *x, size_t ord, const item *it)
{
	co_scan_item si = {.kind = CO_SCAN_RECORD, .bytes = it->bytes, .len = it->len, .nul_escape = it->nul_escape};
	cJSON *want = NULL, *rec = NULL;
	cutover_error why = {0}, err = {0};
	int prc = co_legacy_parse(&si, &want, &why);
	FUZZ_CHECK_MSG(co_ix_line(x, ord) == it->line, "line record %zu: the index says line %llu, the framer %llu", ord,
	               (unsigned long long)co_ix_line(x, ord), (unsigned long long)it->line);
	FUZZ_CHECK_MSG(co_ix_readable(x, ord) == (prc == CUTOVER_OK), "line record %zu: readable %d, parse says %d (%s)",
	               ord, co_ix_readable(x, ord), prc, why.message);
	int rc = co_ix_read(x, ord, &rec, &err);
	FUZZ_CHECK(rc == prc);
	if (prc != CUTOVER_OK) {
		FUZZ_CHECK(rec == NULL && strcmp(err.message, why.message) == 0);
		return;
	}
	FUZZ_CHECK_MSG(same_tree(rec, want), "line record %zu: co_ix_read's tree differs from the parse", ord);
	int64_t id;
	if (id_of(want, &id)) {
		size_t *ords = NULL;
		size_t n = lookup(x, id, &ords);
		FUZZ_CHECK_MSG(contains(ords, n, ord), "line record %zu: looking up its id %lld does not find it", ord,
		               (long long)id);
		free(ords);
	}
	cJSON_Delete(rec);
	cJSON_Delete(want);
}

/* The line a record appended to these bytes gets. */
static uint64_t next_line(const char *data, size_t size)
{
	uint64_t nl = 0;
	for (size_t i = 0; i < size; i++)
		nl += data[i] == '\n';
	return size == 0 ? 1 : nl + 1 + (data[size - 1] != '\n');
}

static void check_lines_index(co_ix *x, const char *data, size_t size, items *out)
{
	memset(out, 0, sizeof *out);
	fuzz_scan_each((const uint8_t *)data, size, NULL, collect, out);
	FUZZ_CHECK_MSG(co_ix_count(x) == out->n, "lines: the index has %zu records, the framer %zu", co_ix_count(x),
	               out->n);
	for (size_t ord = 0; ord < out->n; ord++)
		check_line(x, ord, &out->v[ord]);
	FUZZ_CHECK_MSG(co_ix_line(x, out->n) == next_line(data, size), "lines: an append would be line %llu, not %llu",
	               (unsigned long long)co_ix_line(x, out->n), (unsigned long long)next_line(data, size));
}

static void put_text(co_buf *b, const cJSON *rec)
{
	char *text = NULL;
	size_t len = 0;
	cutover_error err = {0};
	FUZZ_CHECK(co_json_print(rec, "fuzz", &text, &len, &err) == CUTOVER_OK);
	co_buf_put(b, text, len);
	free(text);
}

/* One write to a file of lines (the same edits as the document's) and its
 * bytes against what it must be: the old bytes with the replaced record's
 * bytes printed anew in place, the deleted record's line gone with its
 * newline, and the new line at the end after a newline when the file did
 * not end with one. false when refused (a number beyond a double). */
static bool check_lines_write(mem_transport *m, co_ix *x, const co_ix_spec *sp, const items *old)
{
	size_t size = m->size, n = co_ix_count(x);
	int puts = m->puts;
	char *orig = malloc(size + 1);
	FUZZ_CHECK(orig != NULL);
	memcpy(orig, m->data, size + 1);

	edit_ctx c = {0};
	cutover_error err = {0};
	int rc = co_ix_update(x, "telemetry", edit, &c, &err);
	FUZZ_CHECK(c.calls == 1);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK_MSG(rc == CUTOVER_ECORRUPT && c.replaced != SIZE_MAX && has_infinity(c.replacement),
		               "lines: the write failed (%d): %s / %s", rc, err.message, err.detail);
		FUZZ_CHECK(m->puts == puts && m->size == size && memcmp(m->data, orig, size) == 0);
		cJSON_Delete(c.replacement);
		free(orig);
		return false;
	}
	FUZZ_CHECK(m->puts == puts + 1);
	co_buf want = {0};
	uint64_t from = 0;
	for (size_t i = 0; i < n; i++) {
		const item *it = &old->v[i];
		co_buf_put(&want, orig + from, (size_t)(it->offset - from));
		from = it->offset + it->len;
		if (i == c.deleted) {
			if (from < size && orig[from] == '\r' && from + 1 < size && orig[from + 1] == '\n')
				from += 2;
			else if (from < size && orig[from] == '\n')
				from += 1;
			else
				from = size;
			continue;
		}
		if (i == c.replaced)
			put_text(&want, c.replacement);
		else
			co_buf_put(&want, it->bytes, it->len);
	}
	co_buf_put(&want, orig + from, (size_t)(size - from));
	if (want.len && want.data[want.len - 1] != '\n')
		co_buf_put(&want, "\n", 1);
	cJSON *app = appended_record();
	put_text(&want, app);
	cJSON_Delete(app);
	co_buf_put(&want, "\n", 1);
	FUZZ_CHECK(!want.failed);
	if (want.len != m->size || memcmp(want.data, m->data, want.len) != 0) {
		print_bytes("before", orig, size);
		print_bytes("expected", want.data, want.len);
		print_bytes("written", m->data, m->size);
		FUZZ_CHECK_MSG(0, "lines: the written bytes are not the old ones with the edits");
	}
	co_buf_free(&want);

	/* carried over: in use as it is, agreeing with one built afresh */
	int spools = m->spools;
	FUZZ_CHECK(co_ix_sync(x, &err) == CUTOVER_OK && m->spools == spools);
	co_ix *fresh = NULL;
	FUZZ_CHECK(co_ix_new_aux(&fresh, &m->t, sp, sp == &lines_spec ? 1 : 0, &err) == CUTOVER_OK);
	FUZZ_CHECK(co_ix_sync(fresh, &err) == CUTOVER_OK);
	check_same_index(x, fresh);
	for (size_t ord = 0; ord <= co_ix_count(fresh); ord++)
		FUZZ_CHECK_MSG(co_ix_line(x, ord) == co_ix_line(fresh, ord),
		               "lines: record %zu is line %llu carried over, %llu afresh", ord,
		               (unsigned long long)co_ix_line(x, ord), (unsigned long long)co_ix_line(fresh, ord));
	items now;
	check_lines_index(fresh, m->data, m->size, &now);
	items_free(&now);
	check_lines_index(x, m->data, m->size, &now);
	items_free(&now);
	co_ix_free(fresh);
	cJSON_Delete(c.replacement);
	free(orig);
	return true;
}

/* The bytes as a file of lines: every line a record (none is the file's
 * error), then writes on the index each one carried over. */
static void check_lines(const uint8_t *data, size_t size)
{
	const co_ix_spec *sp = size % 2 ? &lines_spec_no_aux : &lines_spec;
	mem_transport m;
	mem_init(&m, LINES_KEY, data, size);
	co_ix *x = NULL;
	cutover_error err = {0};
	FUZZ_CHECK(co_ix_new_aux(&x, &m.t, sp, sp == &lines_spec ? 1 : 0, &err) == CUTOVER_OK);
	FUZZ_CHECK_MSG(co_ix_sync(x, &err) == CUTOVER_OK, "lines: the file does not index: %s", err.message);
	FUZZ_CHECK(co_ix_top(x) == NULL);
	items old;
	check_lines_index(x, m.data, m.size, &old);
	int rounds = size <= 1024 ? WRITE_ROUNDS : 2;
	for (int r = 0; r < rounds && check_lines_write(&m, x, sp, &old); r++) {
		items_free(&old);
		memset(&old, 0, sizeof old);
		fuzz_scan_each((const uint8_t *)m.data, m.size, NULL, collect, &old);
	}
	items_free(&old);
	co_ix_free(x);
	free(m.data);
}

/* --- the harness ---------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_lines(data, size);

	mem_transport m;
	mem_init(&m, DOC_KEY, data, size);

	co_ix *x = NULL;
	cutover_error ie = {0}, de = {0};
	FUZZ_CHECK(co_ix_new(&x, &m.t, &spec, &ie) == CUTOVER_OK && x != NULL);
	int irc = co_ix_sync(x, &ie);
	co_doc doc;
	int drc = co_doc_load(&m.t, DOC_KEY, COLL, &doc, &de);
	if (irc != CUTOVER_OK || drc != CUTOVER_OK) {
		if (irc != drc || strcmp(ie.message, de.message) != 0 || strcmp(ie.detail, de.detail) != 0) {
			print_bytes("document", (const char *)data, size);
			fprintf(stderr, "co_ix_sync:  %d \"%s\" / \"%s\"\nco_doc_load: %d \"%s\" / \"%s\"\n", irc, ie.message,
			        ie.detail, drc, de.message, de.detail);
		}
		FUZZ_CHECK_MSG(irc == CUTOVER_ECORRUPT && drc == CUTOVER_ECORRUPT,
		               "co_ix_sync and co_doc_load disagree on whether the document can be read");
		FUZZ_CHECK_MSG(strcmp(ie.message, de.message) == 0 && strcmp(ie.detail, de.detail) == 0,
		               "co_ix_sync's error is not co_doc_load's");
		fuzz_check_error(irc, &ie);
		FUZZ_CHECK(co_ix_count(x) == 0);
		co_doc_release(&doc);
		co_ix_free(x);
		free(m.data);
		return 0;
	}
	FUZZ_CHECK(doc.exists && cJSON_IsArray(doc.items));
	size_t n = co_ix_count(x);
	FUZZ_CHECK_MSG(n == (size_t)cJSON_GetArraySize(doc.items), "the index has %zu records, co_doc_load's list %d", n,
	               cJSON_GetArraySize(doc.items));
	FUZZ_CHECK(m.spools == 1);
	/* unchanged: the next sync costs no new descriptor and keeps the index */
	FUZZ_CHECK(co_ix_sync(x, &ie) == CUTOVER_OK && co_ix_count(x) == n && m.spools == 1);

	items old;
	bool closed;
	uint64_t close_off;
	scan(m.data, m.size, &old, &closed, &close_off);
	if (n > 0) {
		/* indexed record by record: as the framer frames it */
		FUZZ_CHECK(closed && old.n == n);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(old.v[i].kind == CO_SCAN_RECORD);
	}
	size_t ord = 0;
	for (const cJSON *el = doc.items->child; el; el = el->next, ord++)
		check_record(x, ord, el, &old.v[ord]);

	/* the write, then more of them on the index each one carried over (a
	 * small document gets enough rounds for dropped keys to make the table
	 * be rebuilt) */
	int rounds = size <= 1024 ? WRITE_ROUNDS : 2;
	for (int r = 0; r < rounds && check_write(&m, x, &doc, &old, closed, close_off); r++) {
		co_doc_release(&doc);
		items_free(&old);
		FUZZ_CHECK(co_doc_load(&m.t, DOC_KEY, COLL, &doc, &de) == CUTOVER_OK);
		scan(m.data, m.size, &old, &closed, &close_off);
		FUZZ_CHECK(closed); /* what the index writes is plain JSON */
	}

	items_free(&old);
	co_doc_release(&doc);
	co_ix_free(x);
	free(m.data);
	return 0;
}
