/* json_index.c — a legacy document served from a cached index (json_index.h).
 *
 * An image is what one version of the document is known to hold: each
 * record's offset and length, whether it held the strict rules, the
 * domain's numbers per record (aux), per key table an open-addressing hash
 * table of (32-bit hash, ordinal) entries plus the sorted ordinals whose
 * key could not be read, and the skeleton: what lies outside the list,
 * parsed, with the list empty. Building one frames the document with the
 * backfill's scanner (legacy_scan.c) and parses each record once; anything
 * that is not plain {"<collection>": [...]} JSON goes to co_doc_parse for
 * today's exact error. A write copies the unchanged byte ranges
 * (copy_file_range where the kernel can, pread/write otherwise) between the
 * new records, prints the bytes before and after the list anew only when
 * it sets a top-level field, and carries the image over to the version it
 * wrote.
 *
 * A file of lines (NDJSON mode: the spec's collection is NULL) is framed
 * by the same scanner in line mode, each line parsed as the backfill
 * parses one (co_legacy_parse), so a line that is not JSON is one more
 * unreadable record. Line numbers are the ordinal plus the blank lines
 * before it, kept only where that count changes (gap). Its writes
 * (write_lines) copy everything but the records they replace or delete
 * and add their appends at the end.
 */
#include "json_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_doc.h"
#include "legacy_identity.h"
#include "legacy_scan.h"

#define EMPTY UINT64_MAX
#define REC_READABLE 1u
#define NO_ORD UINT32_MAX
#define TOMB (UINT32_MAX - 1) /* an entry whose record is gone */

typedef struct rec_slot {
	uint64_t off;
	uint32_t len;
	uint32_t flags;
} rec_slot;

typedef struct ktab {
	uint64_t *e;      /* (hash << 32) | ordinal; EMPTY when free */
	size_t cap, n;    /* cap a power of two (0: none yet); n counts tombstones */
	size_t tomb;
	uint32_t *bad;    /* ordinals whose key could not be read, ascending */
	size_t nbad, capbad;
} ktab;

/* NDJSON: from record ord on, blank lines before each record */
typedef struct gap {
	uint32_t ord;
	uint64_t blank;
} gap;

typedef struct image {
	bool exists;       /* false: absent (no records) */
	bool streamable;   /* the collection's array is there, framed plainly */
	uint64_t size;     /* bytes of the version */
	uint64_t close_off;/* offset of the array's ']' */
	rec_slot *recs;
	size_t n, cap;
	unsigned naux;     /* numbers per record (kept by image_free) */
	int64_t *aux;      /* n * naux numbers, record by record (allocated with recs) */
	int64_t aux_max[CO_IX_MAX_AUX];
	cJSON *top;        /* the skeleton: the document with an empty list; NULL when absent */
	ktab tabs[CO_IX_MAX_KEYS];
	/* NDJSON: blank lines before a record, as (ordinal, blank lines
	 * before it) at each record where that count changes, ascending; one
	 * at ordinal n counts the blank lines after the last record too (a
	 * fragment without a newline among them). Empty for a file without
	 * blank lines, so a line number costs nothing per record. */
	gap *gaps;
	size_t ngaps, capgaps;
	bool nl_end;       /* NDJSON: empty, or ends in a newline (an append needs none first) */
} image;


struct co_ix {
	co_transport *t;
	const co_ix_spec *spec;
	int fd;                        /* the bytes of version; -1 none */
	bool synced;                   /* img describes version */
	char version[CO_VERSION_LEN];
	image img;
};

struct co_ix_emit {
	image *img;
	size_t ord;
	bool failed; /* out of memory */
};

/* --- hashing and tables ----------------------------------------------------- */

static uint32_t hash32(const void *key, size_t len)
{
	uint64_t h = co_hash64(key, len);
	h ^= h >> 33; /* finish so every bit of the key reaches the low bits */
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* A table of cap slots holding k's live entries (tombstones dropped). */
static bool tab_rehash(ktab *k, size_t cap)
{
	uint64_t *e = malloc(cap * sizeof *e);
	if (!e)
		return false;
	memset(e, 0xff, cap * sizeof *e);
	size_t n = 0;
	for (size_t i = 0; i < k->cap; i++) {
		if (k->e[i] == EMPTY || (uint32_t)(k->e[i] & 0xffffffffu) == TOMB)
			continue;
		size_t s = (size_t)(k->e[i] >> 32) & (cap - 1);
		while (e[s] != EMPTY)
			s = (s + 1) & (cap - 1);
		e[s] = k->e[i];
		n++;
	}
	free(k->e);
	k->e = e;
	k->cap = cap;
	k->n = n;
	k->tomb = 0;
	return true;
}

static bool tab_put(ktab *k, uint32_t h, uint32_t ord)
{
	if ((k->n + 1) * 2 > k->cap) {
		size_t live = k->n - k->tomb, cap = k->cap ? k->cap : 64;
		while ((live + 1) * 2 > cap)
			cap *= 2;
		if (cap == k->cap && k->tomb == 0)
			cap *= 2;
		if (!tab_rehash(k, cap))
			return false;
	}
	size_t s = h & (k->cap - 1);
	while (k->e[s] != EMPTY)
		s = (s + 1) & (k->cap - 1);
	k->e[s] = (uint64_t)h << 32 | ord;
	k->n++;
	return true;
}

static bool bad_put(ktab *k, uint32_t ord)
{
	if (k->nbad == k->capbad) {
		size_t cap = k->capbad ? k->capbad * 2 : 16;
		uint32_t *b = realloc(k->bad, cap * sizeof *b);
		if (!b)
			return false;
		k->bad = b;
		k->capbad = cap;
	}
	k->bad[k->nbad++] = ord;
	return true;
}

static void aux_max_reset(image *m)
{
	for (unsigned a = 0; a < CO_IX_MAX_AUX; a++)
		m->aux_max[a] = INT64_MIN;
}

static void image_free(image *m)
{
	unsigned naux = m->naux;
	free(m->recs);
	free(m->aux);
	cJSON_Delete(m->top);
	for (int i = 0; i < CO_IX_MAX_KEYS; i++) {
		free(m->tabs[i].e);
		free(m->tabs[i].bad);
	}
	free(m->gaps);
	memset(m, 0, sizeof *m);
	m->naux = naux;
	aux_max_reset(m);
}

static bool rec_add(image *m, uint64_t off, uint64_t len, uint32_t flags)
{
	if (len > UINT32_MAX || m->n >= NO_ORD)
		return false;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		rec_slot *r = realloc(m->recs, cap * sizeof *r);
		if (!r)
			return false;
		m->recs = r;
		if (m->naux) {
			int64_t *a = realloc(m->aux, cap * m->naux * sizeof *a);
			if (!a)
				return false;
			m->aux = a;
		}
		m->cap = cap;
	}
	m->recs[m->n] = (rec_slot){off, (uint32_t)len, flags};
	for (unsigned i = 0; i < m->naux; i++)
		m->aux[m->n * m->naux + i] = INT64_MIN;
	m->n++;
	return true;
}

void co_ix_key(co_ix_emit *e, unsigned table, const void *key, size_t len)
{
	if (!tab_put(&e->img->tabs[table], hash32(key, len), (uint32_t)e->ord))
		e->failed = true;
}

void co_ix_key_unreadable(co_ix_emit *e, unsigned table)
{
	if (!bad_put(&e->img->tabs[table], (uint32_t)e->ord))
		e->failed = true;
}

void co_ix_set_aux_at(co_ix_emit *e, unsigned which, int64_t v)
{
	image *m = e->img;
	if (which >= m->naux) {
		e->failed = true; /* a number the index was not made to keep */
		return;
	}
	m->aux[e->ord * m->naux + which] = v;
	if (v > m->aux_max[which])
		m->aux_max[which] = v;
}

void co_ix_set_aux(co_ix_emit *e, int64_t v)
{
	co_ix_set_aux_at(e, 0, v);
}

void co_ix_emit_failed(co_ix_emit *e)
{
	e->failed = true;
}

/* Run the domain's key function over record ord of m. */
/* Run the domain's key function over record ord of m. A record that is
 * JSON but breaks the strict rules (strict false) is served by no look-up
 * and counted unreadable in every table, but its keys and numbers, read as
 * cJSON reads them, still go in: a new id stays past its id and the
 * conflict checks (co_ix_taken) still see what it holds. */
static bool emit_keys(const co_ix_spec *spec, image *m, size_t ord, const cJSON *rec, bool strict)
{
	co_ix_emit e = {m, ord, false};
	if (rec)
		spec->keys(rec, &e);
	for (unsigned t = 0; !strict && t < spec->n_keys; t++) {
		ktab *k = &m->tabs[t];
		if (!k->nbad || k->bad[k->nbad - 1] != (uint32_t)ord) /* not twice */
			co_ix_key_unreadable(&e, t);
	}
	return !e.failed;
}

/* --- building an image ------------------------------------------------------ */

/* Is a record nested deeper than cJSON parses inside a document? The
 * document and its list take two of CJSON_NESTING_LIMIT's levels. */
static bool too_deep(const char *p, size_t n)
{
	const size_t limit = CJSON_NESTING_LIMIT - 2;
	size_t depth = 0;
	bool in_str = false;
	if (n < 2 * (limit + 1))
		return false; /* each level takes two bytes at least */
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > limit)
				return true;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return false;
}

/* Parse one record's bytes as the backfill does. NULL when they are not
 * JSON (as the whole document's parse sees them); otherwise the tree, with
 * *strict saying whether it holds the strict rules (the reason in err when
 * not): the caller deletes it either way. */
static cJSON *parse_record(const char *bytes, size_t len, bool nul_escape, bool *strict, cutover_error *err)
{
	const char *end = NULL;
	*strict = false;
	/* What the whole document's parse refuses and a record's alone would
	 * not: a byte order mark (cJSON skips one at the start of its input), a
	 * raw NUL byte (a string runs on to the length given), nesting the
	 * document's two levels push past cJSON's limit. */
	bool refused = (len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) || memchr(bytes, '\0', len) ||
	               too_deep(bytes, len);
	cJSON *j = refused ? NULL : cJSON_ParseWithLengthOpts(bytes, len, &end, false);
	if (!j) {
		co_err(err, CUTOVER_ECORRUPT, "malformed JSON");
		return NULL;
	}
	size_t used = end && end >= bytes && end <= bytes + len ? (size_t)(end - bytes) : len;
	for (size_t i = used; i < len; i++) {
		char c = bytes[i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			cJSON_Delete(j);
			co_err(err, CUTOVER_ECORRUPT, "malformed JSON: bytes after the record");
			return NULL;
		}
	}
	*strict = co_legacy_strict(j, nul_escape, err) == CUTOVER_OK;
	return j;
}

static bool read_at(int fd, char *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static int read_error(const co_ix *x, int e, cutover_error *err)
{
	co_err(err, CUTOVER_EUNAVAILABLE, "cannot read %s: %s", x->spec->key, e ? strerror(e) : "it is shorter than indexed");
	co_err_hint(err, "check the state root (%s)", x->t->describe ? x->t->describe(x->t) : "");
	return CUTOVER_EUNAVAILABLE;
}

/* The document is not plain {"<collection>": [...]} JSON: parse it whole,
 * as co_doc_load does, for the same error. A document that parses has no
 * records to index (the collection is absent or null): *top is its tree,
 * the collection an empty list. */
static int whole_document(co_ix *x, int fd, uint64_t size, cJSON **top, cutover_error *err)
{
	co_doc doc = {.key = x->spec->key, .collection = x->spec->collection};
	char *data = malloc(size + 1);
	*top = NULL;
	if (!data)
		return co_err_oom(err);
	if (!read_at(fd, data, size, 0)) {
		int e = errno;
		free(data);
		return read_error(x, e, err);
	}
	data[size] = '\0';
	int rc = co_doc_parse(x->t, data, size, &doc, err);
	if (rc != CUTOVER_OK)
		return rc;
	if (cJSON_GetArraySize(doc.items) != 0) {
		co_doc_release(&doc);
		co_err(err, CUTOVER_ECORRUPT, "%s cannot be read record by record", x->spec->key);
		co_err_detail(err, "its list \"%s\" is not framed as plain JSON", x->spec->collection);
		co_err_hint(err, "rewrite %s as {\"%s\": [ ... ]} (for example through jq .), then try again", x->spec->key,
		            x->spec->collection);
		return CUTOVER_ECORRUPT;
	}
	*top = doc.root;
	return CUTOVER_OK;
}

/* A fresh image of the document's bytes in fd, and the scanner that frames
 * them (JSON or lines, as the spec says) through *f, a stream of its own
 * over them; on failure *f and *scan are NULL or to be released. */
static int scan_start(co_ix *x, int fd, image *m, FILE **f, co_scan **scan, cutover_error *err)
{
	struct stat st;
	int dfd = -1;
	*f = NULL;
	*scan = NULL;
	image_free(m);
	m->exists = true;
	if (fstat(fd, &st) != 0)
		return read_error(x, errno, err);
	m->size = (uint64_t)st.st_size;
	if (lseek(fd, 0, SEEK_SET) != 0 || (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0 || !(*f = fdopen(dfd, "rb"))) {
		if (dfd >= 0)
			close(dfd);
		return read_error(x, errno, err);
	}
	return x->spec->collection ? co_scan_json(scan, *f, x->spec->key, x->spec->collection, err)
	                           : co_scan_ndjson(scan, *f, x->spec->key, err);
}

/* The scanner's next item; *end at the end of the document. */
static int scan_next(co_scan *scan, co_scan_item *it, bool *end, cutover_error *err)
{
	int rc = co_scan_next(scan, it, err);
	*end = rc == CUTOVER_ENOTFOUND;
	if (*end) {
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	return rc;
}

/* What lies outside the array (the head up to its first record, the tail
 * from its ']') must be JSON too: parse the two joined as a document with
 * an empty collection, the skeleton (NULL when it is not JSON). */
static cJSON *skeleton(co_ix *x, int fd, const image *m)
{
	uint64_t head = m->n ? m->recs[0].off : m->close_off;
	uint64_t tail = m->size - m->close_off;
	char *data = malloc(head + tail + 1);
	if (!data)
		return NULL;
	if (!read_at(fd, data, head, 0) || !read_at(fd, data + head, tail, m->close_off) ||
	    memchr(data, '\0', head + tail)) {
		free(data);
		return NULL;
	}
	data[head + tail] = '\0';
	co_doc doc = {.key = x->spec->key, .collection = x->spec->collection};
	cutover_error scratch;
	return co_doc_parse(x->t, data, head + tail, &doc, &scratch) == CUTOVER_OK ? doc.root : NULL;
}

static int build(co_ix *x, int fd, image *m, cutover_error *err)
{
	co_scan *scan = NULL;
	FILE *f = NULL;
	int rc = CUTOVER_OK;
	bool plain = true;

	if ((rc = scan_start(x, fd, m, &f, &scan, err)) != CUTOVER_OK)
		goto out;
	for (;;) {
		co_scan_item it;
		bool end;
		if ((rc = scan_next(scan, &it, &end, err)) != CUTOVER_OK)
			goto out;
		if (end)
			break;
		if (it.kind != CO_SCAN_RECORD) {
			plain = false;
			break;
		}
		bool strict;
		cutover_error why;
		cJSON *rec = parse_record(it.bytes, it.len, it.nul_escape, &strict, &why);
		if (!rec) {
			plain = false;
			break;
		}
		if (!rec_add(m, it.offset, it.len, strict ? REC_READABLE : 0) ||
		    !emit_keys(x->spec, m, m->n - 1, rec, strict)) {
			cJSON_Delete(rec);
			rc = co_err_oom(err);
			goto out;
		}
		cJSON_Delete(rec);
	}
	plain = plain && co_scan_json_closed(scan, &m->close_off) && (m->top = skeleton(x, fd, m));
	if (!plain) {
		uint64_t size = m->size;
		image_free(m);
		m->exists = true;
		m->size = size;
		rc = whole_document(x, fd, m->size, &m->top, err);
		/* a parsable document without the collection: no records, and a
		 * write goes through the whole tree */
		m->streamable = false;
		goto out;
	}
	m->streamable = true;
out:
	co_scan_free(scan);
	if (f)
		fclose(f);
	return rc;
}

/* --- building an image of an NDJSON file ------------------------------------- */

/* From record ord on, blank lines before each: a new entry, or the last
 * one's count when it is at ord already. */
static bool gap_add(image *m, size_t ord, uint64_t blank)
{
	if (m->ngaps && m->gaps[m->ngaps - 1].ord == ord) {
		m->gaps[m->ngaps - 1].blank = blank;
		return true;
	}
	if (m->ngaps == m->capgaps) {
		size_t cap = m->capgaps ? m->capgaps * 2 : 8;
		gap *g = realloc(m->gaps, cap * sizeof *g);
		if (!g)
			return false;
		m->gaps = g;
		m->capgaps = cap;
	}
	m->gaps[m->ngaps++] = (gap){(uint32_t)ord, blank};
	return true;
}

/* Blank lines before record ord (ord == n: before a record appended). */
static uint64_t blank_before(const image *m, size_t ord)
{
	size_t lo = 0, hi = m->ngaps; /* entries at or before ord */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->gaps[mid].ord <= ord)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? m->gaps[lo - 1].blank : 0;
}

/* After the last record (from the start when there is none): does the file
 * end in a newline, and how many blank lines are there, as they will be
 * numbered once a line is appended (a last fragment without a newline is
 * one: the append ends it with one first)? Usually a byte or two. */
static int tail_lines(co_ix *x, int fd, image *m, uint64_t blank, cutover_error *err)
{
	uint64_t start = m->n ? m->recs[m->n - 1].off + m->recs[m->n - 1].len : 0;
	uint64_t nl = 0, after = start; /* newlines there, and the offset past the last one */
	char buf[4096];
	for (uint64_t at = start; at < m->size;) {
		size_t k = m->size - at < sizeof buf ? (size_t)(m->size - at) : sizeof buf;
		if (!read_at(fd, buf, k, at))
			return read_error(x, errno, err);
		for (size_t i = 0; i < k; i++)
			if (buf[i] == '\n') {
				nl++;
				after = at + i + 1;
			}
		at += k;
	}
	m->nl_end = m->size == 0 || (nl && after == m->size);
	/* the first newline after a record ends its own line; with none, the
	 * record's line runs to the end of the file */
	uint64_t extra = m->n && !nl ? 0 : nl - (m->n ? 1 : 0) + (after < m->size);
	if (extra && !gap_add(m, m->n, blank + extra))
		return co_err_oom(err);
	return CUTOVER_OK;
}

/* One record per line, framed by the backfill's scanner in line mode
 * (blank lines skipped, a trailing '\r' left out, a byte order mark at
 * the start skipped) and parsed as it parses them (co_legacy_parse): a
 * line that is not JSON, or breaks the strict rules, is an unreadable
 * record, never the file's error. */
static int build_lines(co_ix *x, int fd, image *m, cutover_error *err)
{
	co_scan *scan = NULL;
	FILE *f = NULL;
	int rc;
	uint64_t blank = 0;

	if ((rc = scan_start(x, fd, m, &f, &scan, err)) != CUTOVER_OK)
		goto out;
	for (;;) {
		co_scan_item it;
		bool end;
		if ((rc = scan_next(scan, &it, &end, err)) != CUTOVER_OK)
			goto out;
		if (end)
			break;
		cJSON *rec = NULL;
		cutover_error why;
		if (co_legacy_parse(&it, &rec, &why) != CUTOVER_OK)
			rec = NULL;
		uint64_t b = it.line - 1 - m->n; /* the lines before it that are not records */
		if ((b != blank && !gap_add(m, m->n, b)) || !rec_add(m, it.offset, it.len, rec ? REC_READABLE : 0) ||
		    !emit_keys(x->spec, m, m->n - 1, rec, rec != NULL)) {
			cJSON_Delete(rec);
			rc = co_err_oom(err);
			goto out;
		}
		blank = b;
		cJSON_Delete(rec);
	}
	rc = tail_lines(x, fd, m, blank, err);
	m->streamable = true;
out:
	co_scan_free(scan);
	if (f)
		fclose(f);
	return rc;
}

/* --- the cache -------------------------------------------------------------- */

int co_ix_new_aux(co_ix **out, co_transport *t, const co_ix_spec *spec, unsigned n_aux, cutover_error *err)
{
	*out = NULL;
	if (n_aux > CO_IX_MAX_AUX)
		return co_err(err, CUTOVER_EINTERNAL, "%s: an index keeps 0 to %d numbers a record, not %u", spec->key,
		              CO_IX_MAX_AUX, n_aux);
	co_ix *x = calloc(1, sizeof *x);
	if (!x)
		return co_err_oom(err);
	x->t = t;
	x->spec = spec;
	x->fd = -1;
	x->img.naux = n_aux;
	aux_max_reset(&x->img);
	*out = x;
	return CUTOVER_OK;
}

int co_ix_new(co_ix **out, co_transport *t, const co_ix_spec *spec, cutover_error *err)
{
	return co_ix_new_aux(out, t, spec, 1, err);
}

static void invalidate(co_ix *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->synced = false;
	x->version[0] = '\0';
	image_free(&x->img);
}

void co_ix_free(co_ix *x)
{
	if (!x)
		return;
	invalidate(x);
	free(x);
}

int co_ix_sync(co_ix *x, cutover_error *err)
{
	char version[CO_VERSION_LEN];
	int fd = -1;
	int rc = co_transport_open_read(x->t, x->spec->key, x->synced ? x->version : NULL, &fd, version, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		invalidate(x);
		x->synced = true; /* absent: no records, version "" */
		return CUTOVER_OK;
	}
	if (rc != CUTOVER_OK) {
		invalidate(x); /* nothing stale is served after a failure */
		return rc;
	}
	if (fd < 0)
		return CUTOVER_OK; /* unchanged */
	invalidate(x);
	rc = x->spec->collection ? build(x, fd, &x->img, err) : build_lines(x, fd, &x->img, err);
	if (rc != CUTOVER_OK) {
		close(fd);
		image_free(&x->img);
		return rc;
	}
	x->fd = fd;
	snprintf(x->version, sizeof x->version, "%s", version);
	x->synced = true;
	return CUTOVER_OK;
}

size_t co_ix_count(const co_ix *x)
{
	return x->img.n;
}

bool co_ix_readable(const co_ix *x, size_t ord)
{
	return ord < x->img.n && (x->img.recs[ord].flags & REC_READABLE);
}

int64_t co_ix_aux_at(const co_ix *x, size_t ord, unsigned which)
{
	return ord < x->img.n && which < x->img.naux ? x->img.aux[ord * x->img.naux + which] : INT64_MIN;
}

int64_t co_ix_aux(const co_ix *x, size_t ord)
{
	return co_ix_aux_at(x, ord, 0);
}

int64_t co_ix_aux_max_at(const co_ix *x, unsigned which)
{
	return x->img.n && which < x->img.naux ? x->img.aux_max[which] : INT64_MIN;
}

int64_t co_ix_aux_max(const co_ix *x)
{
	return co_ix_aux_max_at(x, 0);
}

const cJSON *co_ix_top(const co_ix *x)
{
	return x->synced ? x->img.top : NULL;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int co_ix_candidates(const co_ix *x, unsigned table, const void *key, size_t len, size_t **ords, size_t *n,
                     cutover_error *err)
{
	const ktab *k = &x->img.tabs[table];
	uint32_t h = hash32(key, len);
	size_t cap = 0;
	*ords = NULL;
	*n = 0;
	if (!k->cap)
		return CUTOVER_OK;
	for (size_t s = h & (k->cap - 1); k->e[s] != EMPTY; s = (s + 1) & (k->cap - 1)) {
		if ((uint32_t)(k->e[s] >> 32) != h || (uint32_t)(k->e[s] & 0xffffffffu) == TOMB)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			size_t *o = realloc(*ords, cap * sizeof *o);
			if (!o) {
				free(*ords);
				*ords = NULL;
				*n = 0;
				return co_err_oom(err);
			}
			*ords = o;
		}
		(*ords)[(*n)++] = (size_t)(k->e[s] & 0xffffffffu);
	}
	if (*n > 1)
		qsort(*ords, *n, sizeof **ords, cmp_size);
	return CUTOVER_OK;
}

size_t co_ix_unreadable(const co_ix *x, unsigned table, size_t before, size_t *first)
{
	const ktab *k = &x->img.tabs[table];
	size_t lo = 0, hi = k->nbad; /* how many are < before */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (k->bad[mid] < before)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo ? k->bad[0] : 0;
	return lo;
}

int co_ix_read(co_ix *x, size_t ord, cJSON **out, cutover_error *err)
{
	*out = NULL;
	if (ord >= x->img.n || x->fd < 0)
		return co_err(err, CUTOVER_EINTERNAL, "%s: no record %zu in the index", x->spec->key, ord + 1);
	const rec_slot *r = &x->img.recs[ord];
	char *buf = malloc((size_t)r->len + 1);
	if (!buf)
		return co_err_oom(err);
	if (!read_at(x->fd, buf, r->len, r->off)) {
		int e = errno;
		free(buf);
		return read_error(x, e, err);
	}
	buf[r->len] = '\0';
	int rc;
	if (!x->spec->collection) { /* a line: as the backfill parses it */
		co_scan_item it = {.kind = CO_SCAN_RECORD, .bytes = buf, .len = r->len,
		                   .nul_escape = co_json_has_nul_escape(buf, r->len)};
		rc = co_legacy_parse(&it, out, err);
	} else {
		bool strict;
		*out = parse_record(buf, r->len, co_json_has_nul_escape(buf, r->len), &strict, err);
		if (*out && !strict) {
			cJSON_Delete(*out);
			*out = NULL;
		}
		rc = *out ? CUTOVER_OK : CUTOVER_ECORRUPT;
	}
	free(buf);
	return rc;
}

uint64_t co_ix_line(const co_ix *x, size_t ord)
{
	if (x->spec->collection || ord > x->img.n)
		return 0;
	return (uint64_t)ord + 1 + blank_before(&x->img, ord);
}

size_t co_ix_unreadable_any(const co_ix *x, size_t *first)
{
	size_t at[CO_IX_MAX_KEYS] = {0}, n = 0;
	*first = 0;
	for (;;) { /* merge the tables' ascending lists, counting each ordinal once */
		uint32_t low = NO_ORD;
		for (unsigned t = 0; t < x->spec->n_keys; t++)
			if (at[t] < x->img.tabs[t].nbad && x->img.tabs[t].bad[at[t]] < low)
				low = x->img.tabs[t].bad[at[t]];
		if (low == NO_ORD)
			return n;
		if (n++ == 0)
			*first = low;
		for (unsigned t = 0; t < x->spec->n_keys; t++)
			while (at[t] < x->img.tabs[t].nbad && x->img.tabs[t].bad[at[t]] == low)
				at[t]++;
	}
}

/* Record ord parsed as cJSON reads it, whether or not it holds the strict
 * rules (JSON documents: records that are not JSON make the document's
 * error, so every indexed record parses). */
static int read_lenient(co_ix *x, size_t ord, cJSON **out, cutover_error *err)
{
	if (co_ix_readable(x, ord) || !x->spec->collection)
		return co_ix_read(x, ord, out, err);
	const rec_slot *r = &x->img.recs[ord];
	char *buf = malloc((size_t)r->len + 1);
	bool strict;
	if (!buf)
		return co_err_oom(err);
	if (!read_at(x->fd, buf, r->len, r->off)) {
		int e = errno;
		free(buf);
		return read_error(x, e, err);
	}
	buf[r->len] = '\0';
	cutover_error why;
	*out = parse_record(buf, r->len, false, &strict, &why);
	free(buf);
	return *out ? CUTOVER_OK : co_err(err, CUTOVER_ECORRUPT, "%s: record %zu is no longer JSON", x->spec->key, ord + 1);
}

/* co_ix_first, and co_ix_taken when any (records that break the strict
 * rules too, read as cJSON reads them) */
static int first_of(co_ix *x, unsigned table, const void *key, size_t len, co_ix_match_fn match, const void *ctx,
                    size_t skip, bool any, cJSON **rec, size_t *ord, cutover_error *err)
{
	size_t *c = NULL, n = 0;
	*rec = NULL;
	int rc = co_ix_candidates(x, table, key, len, &c, &n, err);
	if (rc != CUTOVER_OK)
		return rc;
	rc = CUTOVER_ENOTFOUND;
	for (size_t i = 0; i < n && rc == CUTOVER_ENOTFOUND; i++) {
		cJSON *r;
		if (c[i] == skip || (!any && !co_ix_readable(x, c[i])))
			continue;
		if ((rc = any ? read_lenient(x, c[i], &r, err) : co_ix_read(x, c[i], &r, err)) != CUTOVER_OK)
			break;
		if (!match || match(r, ctx)) {
			*rec = r;
			*ord = c[i];
			rc = CUTOVER_OK;
		} else {
			cJSON_Delete(r);
			rc = CUTOVER_ENOTFOUND;
		}
	}
	free(c);
	return rc;
}

int co_ix_first(co_ix *x, unsigned table, const void *key, size_t len, co_ix_match_fn match, const void *ctx,
                size_t skip, cJSON **rec, size_t *ord, cutover_error *err)
{
	return first_of(x, table, key, len, match, ctx, skip, false, rec, ord, err);
}

int co_ix_taken(co_ix *x, unsigned table, const void *key, size_t len, co_ix_match_fn match, const void *ctx,
                size_t skip, size_t *ord, cutover_error *err)
{
	cJSON *rec = NULL;
	int rc = first_of(x, table, key, len, match, ctx, skip, true, &rec, ord, err);
	cJSON_Delete(rec);
	return rc;
}

void co_ix_id_keys(const cJSON *rec, co_ix_emit *e)
{
	int64_t id;
	cutover_error scratch;
	if (co_json_get_int(rec, "id", true, &id, NULL, &scratch) == CUTOVER_OK && id > 0) {
		co_ix_key(e, 0, &id, sizeof id);
		co_ix_set_aux(e, id);
	} else {
		co_ix_key_unreadable(e, 0);
	}
}

static bool has_id(const cJSON *rec, const void *want)
{
	int64_t id;
	cutover_error scratch;
	return co_json_get_int(rec, "id", true, &id, NULL, &scratch) == CUTOVER_OK && id == *(const int64_t *)want;
}

int co_ix_has_id(co_ix *x, int64_t id, bool *found, cutover_error *err)
{
	cJSON *rec = NULL;
	size_t ord;
	*found = false;
	int rc = co_ix_sync(x, err);
	if (rc == CUTOVER_OK)
		rc = co_ix_first(x, 0, &id, sizeof id, has_id, &id, SIZE_MAX, &rec, &ord, err);
	cJSON_Delete(rec);
	if (rc == CUTOVER_ENOTFOUND)
		return CUTOVER_OK;
	*found = rc == CUTOVER_OK;
	return rc;
}

int co_ix_record_error(const co_ix *x, cutover_error *err, size_t ord, const char *what)
{
	if (!x->spec->collection) {
		char why[sizeof err->message];
		if (err->code == CUTOVER_EINTERNAL)
			return CUTOVER_EINTERNAL; /* out of memory is not the line's fault */
		snprintf(why, sizeof why, "%s", err->message);
		co_err(err, CUTOVER_ECORRUPT, "%s line %llu%s%s%s cannot be read", x->spec->key,
		       (unsigned long long)co_ix_line(x, ord), what && *what ? " (" : "", what && *what ? what : "",
		       what && *what ? ")" : "");
		co_err_detail(err, "%s", why);
		co_err_hint(err, "fix or remove that line in %s (or restore the file from a backup)", x->spec->key);
		return CUTOVER_ECORRUPT;
	}
	co_doc doc = {.key = x->spec->key, .collection = x->spec->collection};
	return co_doc_record_error(err, &doc, ord, what);
}

/* --- edits ------------------------------------------------------------------ */

typedef struct edit {
	size_t ord;   /* SIZE_MAX: an append */
	size_t seq;   /* the order it was added in */
	cJSON *rec;   /* NULL: a delete */
	char *text;   /* rec printed */
	size_t len;
} edit;

typedef struct top_edit {
	char *name;
	cJSON *value;
} top_edit;

struct co_ix_edits {
	edit *v;
	size_t n, cap, deleted;
	top_edit *top; /* top-level fields set, in the order given */
	size_t ntop, captop;
};

static int edit_add(co_ix_edits *e, size_t ord, cJSON *rec, cutover_error *err)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		edit *v = realloc(e->v, cap * sizeof *v);
		if (!v) {
			cJSON_Delete(rec);
			return co_err_oom(err);
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n] = (edit){ord, e->n, rec, NULL, 0};
	e->n++;
	if (!rec)
		e->deleted++;
	return CUTOVER_OK;
}

int co_ix_replace(co_ix_edits *e, size_t ord, cJSON *rec, cutover_error *err)
{
	if (!rec)
		return co_err_oom(err);
	return edit_add(e, ord, rec, err);
}

int co_ix_delete(co_ix_edits *e, size_t ord, cutover_error *err)
{
	return edit_add(e, ord, NULL, err);
}

int co_ix_append(co_ix_edits *e, cJSON *rec, cutover_error *err)
{
	if (!rec)
		return co_err_oom(err);
	return edit_add(e, SIZE_MAX, rec, err);
}

int co_ix_set_top(co_ix_edits *e, const char *name, cJSON *value, cutover_error *err)
{
	char *copy = value ? co_strdup(name) : NULL;
	if (copy && e->ntop == e->captop) {
		size_t cap = e->captop ? e->captop * 2 : 4;
		top_edit *t = realloc(e->top, cap * sizeof *t);
		if (t) {
			e->top = t;
			e->captop = cap;
		} else {
			free(copy);
			copy = NULL;
		}
	}
	if (!copy) {
		cJSON_Delete(value);
		return co_err_oom(err);
	}
	e->top[e->ntop++] = (top_edit){copy, value};
	return CUTOVER_OK;
}

size_t co_ix_deleted(const co_ix_edits *e)
{
	return e->deleted;
}

static void edits_clear(co_ix_edits *e)
{
	for (size_t i = 0; i < e->n; i++) {
		cJSON_Delete(e->v[i].rec);
		free(e->v[i].text);
	}
	for (size_t i = 0; i < e->ntop; i++) {
		free(e->top[i].name);
		cJSON_Delete(e->top[i].value);
	}
	e->n = 0;
	e->deleted = 0;
	e->ntop = 0;
}

static int by_ord(const void *a, const void *b)
{
	const edit *x = a, *y = b;
	/* appends (SIZE_MAX) last, in the order they were added (qsort is not stable) */
	if (x->ord != y->ord)
		return x->ord < y->ord ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* --- writing the new version ------------------------------------------------ */

/* Output to the new version's file: new bytes through a buffer, ranges of
 * the old version gathered while they are contiguous and then copied by
 * the kernel where it can (copy_file_range), so a write that changes one
 * record costs a few system calls, not one per record. */
typedef struct out {
	int fd, in;
	uint64_t pos;       /* bytes written so far, pending ones included */
	uint64_t poff, plen;/* the range of the old version not copied yet */
	char buf[64 * 1024];
	size_t n;
	bool no_cfr;        /* copy_file_range is not available between these files */
	bool last_new;      /* the last byte written: last_ch, or the old version's at last_old */
	char last_ch;
	uint64_t last_old;
} out;

static bool out_flush(out *o)
{
	bool ok = co_write_full(o->fd, o->buf, o->n);
	o->n = 0;
	return ok;
}

/* Copy the gathered range now. */
static bool out_pending(out *o)
{
	uint64_t off = o->poff, len = o->plen;
	o->plen = 0;
	if (len == 0)
		return true;
	if (!out_flush(o))
		return false;
	while (len > 0 && !o->no_cfr) {
		loff_t from = (loff_t)off;
		ssize_t c = copy_file_range(o->in, &from, o->fd, NULL, len, 0);
		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
		              errno == EBADF || errno == EPERM)) {
			o->no_cfr = true;
			break;
		}
		if (c <= 0) {
			if (c == 0)
				errno = 0; /* the old version is shorter than indexed */
			return false;
		}
		off += (uint64_t)c;
		len -= (uint64_t)c;
	}
	while (len > 0) { /* through the buffer */
		size_t k = len < sizeof o->buf ? (size_t)len : sizeof o->buf;
		if (!read_at(o->in, o->buf, k, off) || !co_write_full(o->fd, o->buf, k))
			return false;
		off += k;
		len -= k;
	}
	return true;
}

static bool out_put(out *o, const char *p, size_t len)
{
	if (!out_pending(o))
		return false;
	if (len) {
		o->last_new = true;
		o->last_ch = p[len - 1];
	}
	o->pos += len;
	if (len > sizeof o->buf - o->n) {
		if (!out_flush(o))
			return false;
		if (len >= sizeof o->buf)
			return co_write_full(o->fd, p, len);
	}
	memcpy(o->buf + o->n, p, len);
	o->n += len;
	return true;
}

/* bytes [off, off+len) of the old version, at the current position */
static bool out_copy(out *o, uint64_t off, uint64_t len)
{
	if (len == 0)
		return true;
	o->last_new = false;
	o->last_old = off + len - 1;
	o->pos += len;
	if (o->plen && o->poff + o->plen == off) {
		o->plen += len;
		return true;
	}
	if (!out_pending(o))
		return false;
	o->poff = off;
	o->plen = len;
	return true;
}

/* Is the last byte written so far a newline (o->pos > 0)? */
static bool out_last_nl(out *o, bool *nl)
{
	char c = o->last_ch;
	if (!o->last_new && !read_at(o->in, &c, 1, o->last_old))
		return false;
	*nl = c == '\n';
	return true;
}

/* Carry the tables over to the ordinals of the version written, in place:
 * map[ord] is the old record's new ordinal (NO_ORD: deleted); fresh[ord]
 * says it was replaced, so its old keys go (the record written brings its
 * own). A dropped entry becomes a tombstone until the table is rehashed. */
static void tables_remap(const co_ix_spec *spec, image *m, const uint32_t *map, const bool *fresh)
{
	for (unsigned t = 0; t < spec->n_keys; t++) {
		ktab *k = &m->tabs[t];
		for (size_t i = 0; i < k->cap; i++) {
			uint32_t o = (uint32_t)(k->e[i] & 0xffffffffu);
			if (k->e[i] == EMPTY || o == TOMB)
				continue;
			if (map[o] == NO_ORD || fresh[o]) {
				k->e[i] = (k->e[i] & ~(uint64_t)0xffffffffu) | TOMB;
				k->tomb++;
			} else {
				k->e[i] = (k->e[i] & ~(uint64_t)0xffffffffu) | map[o];
			}
		}
		size_t w = 0;
		for (size_t i = 0; i < k->nbad; i++)
			if (map[k->bad[i]] != NO_ORD && !fresh[k->bad[i]])
				k->bad[w++] = map[k->bad[i]];
		k->nbad = w;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int write_error(co_ix *x, const char *what, cutover_error *err)
{
	int e = errno;
	co_err(err, CUTOVER_EUNAVAILABLE, "cannot write the new version of %s: %s", x->spec->key,
	       e ? strerror(e) : "the document is shorter than indexed");
	co_err_detail(err, "while %s", what);
	if (e == ENOSPC || e == EDQUOT)
		co_err_hint(err, "free some space where %s lives", x->spec->key);
	return CUTOVER_EUNAVAILABLE;
}

/* --- the skeleton ------------------------------------------------------------ */

/* Do a and b (both present) print the same? */
static bool same_value(const cJSON *a, const cJSON *b)
{
	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	cutover_error scratch;
	bool same = a && b && co_json_print(a, "", &ta, &la, &scratch) == CUTOVER_OK &&
	            co_json_print(b, "", &tb, &lb, &scratch) == CUTOVER_OK && la == lb && memcmp(ta, tb, la) == 0;
	free(ta);
	free(tb);
	return same;
}

/* Set e's top-level fields in root (a document's tree or its skeleton) as
 * co_json_set does: a field keeps its place, a new one goes last. The
 * values are taken. *changed: some field now prints differently. */
static int apply_top(const co_ix *x, co_ix_edits *e, cJSON *root, bool *changed, cutover_error *err)
{
	*changed = false;
	for (size_t i = 0; i < e->ntop; i++) {
		top_edit *t = &e->top[i];
		cJSON *v = t->value;
		t->value = NULL;
		if (strcmp(t->name, x->spec->collection) == 0) {
			cJSON_Delete(v);
			return co_err(err, CUTOVER_EINTERNAL, "%s: a top-level edit names the list \"%s\"", x->spec->key,
			              t->name);
		}
		*changed |= !same_value(cJSON_GetObjectItemCaseSensitive(root, t->name), v);
		int rc = co_json_set(root, t->name, v, err);
		if (rc != CUTOVER_OK)
			return rc;
	}
	return CUTOVER_OK;
}

/* The skeleton the write leaves: NULL when the document exists and e's
 * top-level fields change nothing (its head and tail are copied then); a
 * new document's starts as {"<collection>": []}. */
static int new_skeleton(const co_ix *x, co_ix_edits *e, cJSON **out, cutover_error *err)
{
	const image *m = &x->img;
	bool changed;
	cJSON *top;
	*out = NULL;
	if (m->exists && e->ntop == 0)
		return CUTOVER_OK;
	if (m->exists) {
		top = cJSON_Duplicate(m->top, true);
	} else if ((top = cJSON_CreateObject()) && !cJSON_AddArrayToObject(top, x->spec->collection)) {
		cJSON_Delete(top);
		top = NULL;
	}
	if (!top)
		return co_err_oom(err);
	int rc = apply_top(x, e, top, &changed, err);
	if (rc != CUTOVER_OK || (m->exists && !changed)) {
		cJSON_Delete(top);
		return rc;
	}
	*out = top;
	return CUTOVER_OK;
}

/* The text of a skeleton, split where the records go: the head is its
 * first *head_len bytes, up to and with the list's '['; the tail, the
 * rest, starts with the list's ']'. The list is printed as the raw marker
 * "[\x01]": a control byte never appears raw in printed JSON. */
static int skeleton_text(const co_ix *x, const cJSON *top, char **text, size_t *len, size_t *head_len,
                         cutover_error *err)
{
	cJSON *d = cJSON_Duplicate(top, true);
	cJSON *list = d ? cJSON_GetObjectItemCaseSensitive(d, x->spec->collection) : NULL;
	cJSON *mark = list ? cJSON_CreateRaw("[\x01]") : NULL;
	bool no_list = d && !list;
	*text = NULL;
	if (!mark || !cJSON_ReplaceItemInObjectCaseSensitive(d, x->spec->collection, mark)) { /* named as it was */
		cJSON_Delete(mark);
		cJSON_Delete(d);
		if (no_list)
			return co_err(err, CUTOVER_EINTERNAL, "%s: the document's skeleton has no list \"%s\"",
			              x->spec->key, x->spec->collection);
		return co_err_oom(err);
	}
	int rc = co_json_print(d, x->spec->key, text, len, err);
	cJSON_Delete(d);
	if (rc != CUTOVER_OK)
		return rc;
	char *at = memchr(*text, '\x01', *len);
	if (!at) {
		free(*text);
		*text = NULL;
		return co_err(err, CUTOVER_EINTERNAL, "%s: the skeleton printed without its list", x->spec->key);
	}
	*head_len = (size_t)(at - *text);
	memmove(at, at + 1, *len - *head_len - 1);
	(*len)--;
	return CUTOVER_OK;
}

/* A document that exists without the collection ({} or {"users": null}):
 * the whole tree, as before indexing, with the appends and the top-level
 * fields added. */
static int write_tree(co_ix *x, co_ix_edits *e, cutover_error *err)
{
	co_doc doc;
	int rc = co_doc_load(x->t, x->spec->key, x->spec->collection, &doc, err);
	if (rc != CUTOVER_OK)
		return rc;
	if (strcmp(doc.version, x->version) != 0) {
		co_doc_release(&doc);
		return co_err(err, CUTOVER_EBUSY, "%s changed while it was being updated", x->spec->key);
	}
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].ord != SIZE_MAX) {
			co_doc_release(&doc);
			return co_err(err, CUTOVER_EINTERNAL, "%s: an edit names a record the document does not have",
			              x->spec->key);
		}
		cJSON_AddItemToArray(doc.items, e->v[i].rec);
		e->v[i].rec = NULL;
	}
	bool changed;
	char *text = NULL;
	size_t len = 0;
	rc = apply_top(x, e, doc.root, &changed, err);
	if (rc == CUTOVER_OK)
		rc = co_json_print(doc.root, x->spec->key, &text, &len, err);
	co_doc_release(&doc);
	if (rc == CUTOVER_OK)
		rc = x->t->put(x->t, x->spec->key, text, len, x->version, NULL, err);
	free(text);
	invalidate(x); /* indexed afresh by the next call */
	return rc;
}

/* After a write streamed to p: the keys carried over (moved entries
 * renumbered, the written records' added), then the commit, with the
 * version written kept when the transport says it is exactly those bytes.
 * Any failure releases p and drops the index. */
static int carry_and_commit(co_ix *x, co_ix_edits *e, co_put *p, const uint32_t *map, const bool *fresh, bool moved,
                            bool exists, cutover_error *err)
{
	image *m = &x->img;
	int rc;
	/* the keys: moved entries renumbered, the written records' added */
	if (moved)
		tables_remap(x->spec, m, map, fresh);
	for (size_t i = 0; i < e->n; i++) {
		if (!e->v[i].rec)
			continue;
		/* a replaced record's new ordinal, or the append's (appends sort
		 * last, in the order they were added) */
		size_t ord = e->v[i].ord != SIZE_MAX ? map[e->v[i].ord] : m->n - (e->n - i);
		if (!emit_keys(x->spec, m, ord, e->v[i].rec, true)) {
			rc = co_err_oom(err);
			goto fail;
		}
	}
	if (moved) {
		aux_max_reset(m);
		for (size_t i = 0; i < m->n; i++)
			for (unsigned a = 0; a < m->naux; a++)
				if (m->aux[i * m->naux + a] > m->aux_max[a])
					m->aux_max[a] = m->aux[i * m->naux + a];
		for (unsigned t = 0; t < x->spec->n_keys; t++) {
			ktab *k = &m->tabs[t];
			if (k->nbad > 1)
				qsort(k->bad, k->nbad, sizeof *k->bad, cmp_u32);
			if (k->tomb * 4 > k->cap && !tab_rehash(k, k->cap)) {
				rc = co_err_oom(err);
				goto fail;
			}
		}
	}

	char version[CO_VERSION_LEN];
	rc = co_put_commit(x->t, p, exists ? x->version : "", version, err);
	if (rc == CUTOVER_OK && p->exact) {
		if (x->fd >= 0)
			close(x->fd);
		x->fd = p->fd;
		snprintf(x->version, sizeof x->version, "%s", version);
	} else {
		if (rc == CUTOVER_OK && p->fd >= 0)
			close(p->fd);
		invalidate(x);
	}
	return rc;
fail:
	co_put_abort(x->t, p);
	invalidate(x);
	return rc;
}

/* NDJSON: where record r's line ends, its newline included (or the end of
 * the file): the scanner left out a '\r' before it, if any. */
static bool line_end(const co_ix *x, const rec_slot *r, uint64_t *end)
{
	uint64_t at = r->off + r->len, size = x->img.size;
	char b[2] = {0, 0};
	size_t k = size - at < 2 ? (size_t)(size - at) : 2;
	if (k && !read_at(x->fd, b, k, at))
		return false;
	if (k >= 1 && b[0] == '\n')
		*end = at + 1;
	else if (k == 2 && b[0] == '\r' && b[1] == '\n')
		*end = at + 2;
	else
		*end = size; /* the last line, without a newline */
	return true;
}

/* NDJSON: the blank-line entries carried over to the ordinals left after
 * deletes (blank lines stay where they are: a deleted record's count goes
 * to the next one kept, or to the end). */
static void gaps_remap(image *m, const uint32_t *map, size_t n_old)
{
	size_t w = 0, kept = 0, i = 0;
	for (size_t g = 0; g < m->ngaps; g++) {
		for (; i < m->gaps[g].ord && i < n_old; i++)
			kept += map[i] != NO_ORD;
		uint64_t blank = m->gaps[g].blank;
		if (w && m->gaps[w - 1].ord == kept)
			m->gaps[--w].blank = blank;
		if (blank != (w ? m->gaps[w - 1].blank : 0))
			m->gaps[w++] = (gap){(uint32_t)kept, blank};
	}
	m->ngaps = w;
}

/* The new version of an NDJSON file, streamed: kept lines copied, a
 * replaced record's bytes written anew in their place (its line's end, a
 * '\r' too, kept), a deleted record's line left out with its newline,
 * blank lines kept; appends go at the end, after a newline when the file
 * does not end with one, each followed by one. A new file is just the
 * lines. The image is carried over as in write_version. */
/* Sort the edits (appends last, in the order added), check they name each
 * record at most once, and print the records to write; *moved says
 * whether any names an existing record. */
static int edits_prepare(co_ix *x, co_ix_edits *e, bool *moved, cutover_error *err)
{
	int rc;
	*moved = false;
	qsort(e->v, e->n, sizeof *e->v, by_ord);
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].ord != SIZE_MAX && (e->v[i].ord >= x->img.n || (i && e->v[i - 1].ord == e->v[i].ord)))
			return co_err(err, CUTOVER_EINTERNAL, "%s: an edit names record %zu twice or past the end",
			              x->spec->key, e->v[i].ord + 1);
		*moved |= e->v[i].ord != SIZE_MAX;
		if (e->v[i].rec &&
		    (rc = co_json_print(e->v[i].rec, x->spec->key, &e->v[i].text, &e->v[i].len, err)) != CUTOVER_OK)
			return rc;
		if (e->v[i].text && memchr(e->v[i].text, '\n', e->v[i].len)) /* co_json_print never does that */
			return co_err(err, CUTOVER_EINTERNAL, "%s: a record printed over more than one line", x->spec->key);
	}
	return CUTOVER_OK;
}

static void out_init(out *o, int fd, int in)
{
	o->fd = fd;
	o->in = in;
	o->pos = o->poff = o->plen = 0;
	o->n = 0;
	o->no_cfr = false;
	o->last_new = true; /* nothing written yet: as if after a line's end */
	o->last_ch = '\n';
	o->last_old = 0;
}

/* Old record i (its slot r, read before slot w <= i is rewritten) goes
 * out as slot w: written anew from its edit, or its bytes copied with its
 * numbers moved along. */
static bool record_out(out *o, image *m, size_t w, size_t i, const rec_slot *r, const edit *ed, bool *fresh)
{
	uint64_t at = o->pos;
	if (ed) {
		if (!out_put(o, ed->text, ed->len))
			return false;
		m->recs[w] = (rec_slot){at, (uint32_t)ed->len, REC_READABLE};
		for (unsigned a = 0; a < m->naux; a++)
			m->aux[w * m->naux + a] = INT64_MIN;
		fresh[i] = true;
		return true;
	}
	if (!out_copy(o, r->off, r->len))
		return false;
	m->recs[w] = (rec_slot){at, r->len, r->flags};
	if (m->naux)
		memmove(&m->aux[w * m->naux], &m->aux[i * m->naux], m->naux * sizeof *m->aux);
	return true;
}

static int write_lines(co_ix *x, co_ix_edits *e, cutover_error *err)
{
	image *m = &x->img;
	uint32_t *map = NULL;
	bool *fresh = NULL, moved = false, exists = m->exists;
	co_put p = {.fd = -1, .keep = true};
	out *o = NULL;
	int rc;

	if (e->ntop)
		return co_err(err, CUTOVER_EINTERNAL, "%s: a file of lines has no top-level fields to set", x->spec->key);
	if ((rc = edits_prepare(x, e, &moved, err)) != CUTOVER_OK)
		return rc;
	if ((moved && (!(map = malloc(m->n * sizeof *map)) || !(fresh = calloc(m->n, sizeof *fresh)))) ||
	    !(o = malloc(sizeof *o))) {
		rc = co_err_oom(err);
		goto out;
	}
	if ((rc = co_put_begin(x->t, x->spec->key, &p, err)) != CUTOVER_OK)
		goto out;
	out_init(o, p.fd, x->fd);

	/* the lines: the bytes up to each record copied, then the record
	 * copied, written anew or left out with its line's end; slot w <= i
	 * is rewritten as record i is done */
	size_t n = m->n, ei = 0, w = 0;
	uint64_t from = 0; /* the old bytes not dealt with yet start here */
	for (size_t i = 0; i < n; i++) {
		const edit *ed = ei < e->n && e->v[ei].ord == i ? &e->v[ei++] : NULL;
		rec_slot r = m->recs[i];
		if (!out_copy(o, from, r.off - from))
			goto io;
		if (ed && !ed->rec) {
			if (!line_end(x, &r, &from))
				goto io;
			map[i] = NO_ORD;
			continue;
		}
		if (!record_out(o, m, w, i, &r, ed, fresh))
			goto io;
		from = r.off + r.len;
		if (map)
			map[i] = (uint32_t)w;
		w++;
	}
	/* what follows the last record: its line's end, blank lines */
	if (!out_copy(o, from, m->size - from))
		goto io;
	m->n = w;
	bool nl = true;
	if (o->pos && !out_last_nl(o, &nl))
		goto io;
	/* the appends */
	for (; ei < e->n; ei++) {
		const edit *ed = &e->v[ei];
		if (!nl && !out_put(o, "\n", 1))
			goto io;
		uint64_t at = o->pos;
		if (!out_put(o, ed->text, ed->len) || !out_put(o, "\n", 1) || !rec_add(m, at, ed->len, REC_READABLE))
			goto io;
		nl = true;
	}
	if (!out_pending(o) || !out_flush(o))
		goto io;
	m->size = o->pos;
	m->nl_end = nl;
	m->exists = m->streamable = true;
	if (moved)
		gaps_remap(m, map, n);

	rc = carry_and_commit(x, e, &p, map, fresh, moved, exists, err);
	goto out;
io:
	rc = write_error(x, "copying the file", err);
	co_put_abort(x->t, &p);
	invalidate(x);
out:
	free(map);
	free(fresh);
	free(o);
	return rc;
}

/* The new version, streamed; the image is carried over to it in place as
 * the records are written (so memory holds one image, not two), which is
 * why any failure on the way drops the index: the next call builds it
 * again from whatever version is stored then. */
static int write_version(co_ix *x, co_ix_edits *e, cutover_error *err)
{
	image *m = &x->img;
	uint32_t *map = NULL;
	bool *fresh = NULL, moved = false, any = false, exists = m->exists;
	co_put p = {.fd = -1, .keep = true};
	out *o = NULL;
	cJSON *top = NULL; /* the new skeleton; NULL: the head and tail are copied */
	char *skel = NULL; /* its text: the head, then the tail */
	size_t skel_len = 0, head_len = 0;
	int rc;

	if (!x->spec->collection)
		return write_lines(x, e, err);
	if (m->exists && !m->streamable)
		return write_tree(x, e, err);

	if ((rc = edits_prepare(x, e, &moved, err)) != CUTOVER_OK)
		return rc;
	if ((rc = new_skeleton(x, e, &top, err)) != CUTOVER_OK ||
	    (top && (rc = skeleton_text(x, top, &skel, &skel_len, &head_len, err)) != CUTOVER_OK))
		goto out;
	if ((moved && (!(map = malloc(m->n * sizeof *map)) || !(fresh = calloc(m->n, sizeof *fresh)))) ||
	    !(o = malloc(sizeof *o))) {
		rc = co_err_oom(err);
		goto out;
	}
	if ((rc = co_put_begin(x->t, x->spec->key, &p, err)) != CUTOVER_OK)
		goto out;
	if (top) { /* from here any failure drops the image, the skeleton with it */
		cJSON_Delete(m->top);
		m->top = top;
		top = NULL;
	}
	out_init(o, p.fd, x->fd);

	/* what the loop overwrites, read first: the end of the records (the
	 * tail follows) and the separator between the last two (for appends) */
	size_t n = m->n;
	uint64_t tail_start = n ? m->recs[n - 1].off + m->recs[n - 1].len : m->close_off;
	uint64_t dsep_s = 0, dsep_e = 0; /* the document's separator */
	if (n >= 2) {
		dsep_s = m->recs[n - 2].off + m->recs[n - 2].len;
		dsep_e = m->recs[n - 1].off;
	}

	/* the head: up to the first record (or the ']' of an empty list), or
	 * the new skeleton's, up to its '[' */
	if (skel ? !out_put(o, skel, head_len) : !out_copy(o, 0, n ? m->recs[0].off : m->close_off))
		goto io;

	/* the records: kept ones copied, replaced ones written anew, deleted
	 * ones left out with the separator before them; slot w <= i is
	 * rewritten as record i is done, and the separator after the last
	 * record written is remembered before its neighbour's slot can go */
	size_t ei = 0, w = 0;
	uint64_t sep_s = 0, sep_e = 0;
	bool sep = false; /* the last record written has a separator after it */
	for (size_t i = 0; i < n; i++) {
		const edit *ed = ei < e->n && e->v[ei].ord == i ? &e->v[ei++] : NULL;
		rec_slot r = m->recs[i];
		if (ed && !ed->rec) {
			map[i] = NO_ORD;
			continue;
		}
		if (any && !out_copy(o, sep_s, sep_e - sep_s))
			goto io;
		if ((sep = i + 1 < n)) {
			sep_s = r.off + r.len;
			sep_e = m->recs[i + 1].off;
		}
		if (!record_out(o, m, w, i, &r, ed, fresh))
			goto io;
		if (map)
			map[i] = (uint32_t)w;
		w++;
		any = true;
	}
	m->n = w;
	/* the appends, with the separator the document uses */
	for (; ei < e->n; ei++) {
		const edit *ed = &e->v[ei];
		if (any) {
			bool ok = sep ? out_copy(o, sep_s, sep_e - sep_s)
			              : n >= 2 ? out_copy(o, dsep_s, dsep_e - dsep_s) : out_put(o, ",", 1);
			if (!ok)
				goto io;
		}
		sep = false;
		uint64_t at = o->pos;
		if (!out_put(o, ed->text, ed->len) || !rec_add(m, at, ed->len, REC_READABLE))
			goto io;
		any = true;
	}
	/* the tail: from after the last record to the ']' (nothing in a new
	 * document), then from the ']' to the end, or the new skeleton's */
	uint64_t close_at = o->pos + (m->close_off - tail_start);
	if (!out_copy(o, tail_start, m->close_off - tail_start) ||
	    !(skel ? out_put(o, skel + head_len, skel_len - head_len)
	           : out_copy(o, m->close_off, m->size - m->close_off)))
		goto io;
	m->close_off = close_at;
	if (!out_pending(o) || !out_flush(o))
		goto io;
	m->size = o->pos;
	m->exists = m->streamable = true;

	rc = carry_and_commit(x, e, &p, map, fresh, moved, exists, err);
	goto out;
io:
	rc = write_error(x, "copying the document", err);
	co_put_abort(x->t, &p);
	invalidate(x);
out:
	cJSON_Delete(top);
	free(skel);
	free(map);
	free(fresh);
	free(o);
	return rc;
}

int co_ix_update(co_ix *x, const char *lock_name, co_ix_edit_fn fn, void *ctx, cutover_error *err)
{
	co_lock *lock = NULL;
	co_ix_edits e = {0};
	int rc;

	if (x->t->lock && (rc = x->t->lock(x->t, lock_name, &lock, err)) != CUTOVER_OK)
		return rc;
	for (int attempt = 0;; attempt++) {
		edits_clear(&e);
		if ((rc = co_ix_sync(x, err)) != CUTOVER_OK)
			break;
		if ((rc = fn(x, ctx, &e, err)) != CUTOVER_OK || (e.n == 0 && e.ntop == 0))
			break;
		rc = write_version(x, &e, err);
		if (rc != CUTOVER_EBUSY)
			break;
		if (attempt + 1 >= CO_DOC_MAX_ATTEMPTS) {
			co_err(err, CUTOVER_EBUSY, "%s kept changing while it was being updated", x->spec->key);
			co_err_detail(err, "gave up after %d attempts: another writer replaced the document each time",
			              CO_DOC_MAX_ATTEMPTS);
			co_err_hint(err, "retry the operation; if it keeps failing, look for a process rewriting %s in a loop",
			            x->spec->key);
			break;
		}
		cutover_error_clear(err);
		co_doc_backoff(attempt);
	}
	edits_clear(&e);
	free(e.v);
	free(e.top);
	if (lock)
		x->t->unlock(x->t, lock);
	return rc;
}

co_ix_edits *co_ix_edits_new(void)
{
	return calloc(1, sizeof(co_ix_edits));
}

void co_ix_edits_free(co_ix_edits *e)
{
	if (!e)
		return;
	edits_clear(e);
	free(e->v);
	free(e->top);
	free(e);
}

int co_ix_write(co_ix *x, co_ix_edits *e, cutover_error *err)
{
	int rc = CUTOVER_OK;
	if (!x->synced)
		rc = co_err(err, CUTOVER_EINTERNAL, "%s: a write without an index of the stored version", x->spec->key);
	else if (e->n || e->ntop)
		rc = write_version(x, e, err);
	edits_clear(e);
	return rc;
}
