/* legacy_scan.c — a byte-level framer for legacy documents (see legacy_scan.h).
 *
 * A tiny state machine over a 64 KiB read buffer: it knows strings (and their
 * escapes) and bracket depth, nothing more. In JSON mode it walks the top-level
 * object's keys, skips every value but the collection's, then frames each
 * array element: a container ends when its depth returns to zero, a scalar at
 * the next ',' ']' or whitespace. A missing comma between elements is
 * tolerated (and remarked upon); anything that cannot be framed is handed out
 * as GARBAGE with its bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "legacy_scan.h"

/* The read buffer; the fuzz build (tests/fuzz) makes it tiny so records
 * cross its boundary everywhere. */
#ifndef CO_SCAN_BUF_SIZE
#define CO_SCAN_BUF_SIZE (64 * 1024)
#endif
enum { BUF_SIZE = CO_SCAN_BUF_SIZE };

typedef enum { MODE_JSON, MODE_NDJSON } scan_mode;
typedef enum { ST_START, ST_ARRAY, ST_DONE } scan_state;

struct co_scan {
	FILE *f;
	scan_mode mode;
	scan_state state;
	const char *name;
	const char *collection;
	unsigned char buf[BUF_SIZE];
	size_t pos, end;
	bool eof;
	uint64_t offset; /* file offset of buf[pos] */
	uint64_t line;   /* line of buf[pos] */
	uint64_t position;
	co_buf rec;      /* the current element */
	const char *problem;
	bool irregular;  /* framing that is not plain JSON: ",,", a missing or trailing comma */
	bool after_comma;/* the last thing consumed in the array was a comma */
	bool closed;     /* the collection's ']' was reached */
	uint64_t close_off; /* its offset */
};

static int fill(co_scan *s, cutover_error *err)
{
	if (s->pos < s->end || s->eof)
		return CUTOVER_OK;
	size_t n = fread(s->buf, 1, BUF_SIZE, s->f);
	if (n == 0) {
		if (ferror(s->f))
			return co_err(err, CUTOVER_EUNAVAILABLE, "%s: read error: %s", s->name, strerror(errno));
		s->eof = true;
	}
	s->pos = 0;
	s->end = n;
	return CUTOVER_OK;
}

/* Peek the next byte; -1 at end of file, -2 on error. */
static int peek(co_scan *s, cutover_error *err)
{
	if (fill(s, err))
		return -2;
	return s->pos < s->end ? s->buf[s->pos] : -1;
}

static void advance(co_scan *s)
{
	if (s->buf[s->pos] == '\n')
		s->line++;
	s->pos++;
	s->offset++;
}

/* Whitespace between the tokens of a document as cJSON reads it (every
 * byte from 1 to 32, control characters too), so the scanner frames what
 * the whole document's parse accepts. */
static bool is_ws(int c)
{
	return c >= 1 && c <= 32;
}

/* Whitespace that makes an NDJSON line blank (skipped): the four JSON ones. */
static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int skip_ws(co_scan *s, cutover_error *err)
{
	for (;;) {
		int c = peek(s, err);
		if (is_ws(c))
			advance(s);
		else
			return c;
	}
}

/* Copy one JSON value (container, string or scalar) into s->rec. Returns
 * 1 when complete, 0 when the file ended inside it, -2 on read error.
 * Bytes are appended a buffer window at a time, not one by one. */
static int take_value(co_scan *s, cutover_error *err)
{
	int depth = 0;
	bool in_str = false, esc = false, started = false;
	for (;;) {
		if (fill(s, err))
			return -2;
		if (s->pos >= s->end)
			return started && depth == 0 && !in_str ? 1 : 0;
		const unsigned char *buf = s->buf;
		size_t i = s->pos, start = s->pos;
		int done = -1;
		for (; i < s->end; i++) {
			unsigned char c = buf[i];
			if (in_str) {
				if (c == '\n') /* raw, or after a backslash: a line either way */
					s->line++;
				if (esc)
					esc = false;
				else if (c == '\\')
					esc = true;
				else if (c == '"')
					in_str = false;
				if (!in_str && depth == 0) { /* a top-level string closed */
					i++;
					done = 1;
					break;
				}
				continue;
			}
			if (c == '"') {
				in_str = true;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (depth == 0) { /* a scalar ended by the closing bracket */
					done = started ? 1 : 0;
					break;
				}
				if (--depth == 0) {
					i++;
					done = 1;
					break;
				}
			} else if (depth == 0 && started && (c == ',' || is_ws(c))) {
				done = 1; /* end of a scalar */
				break;
			} else if (c == '\n') {
				s->line++;
			}
			started = true;
		}
		co_buf_put(&s->rec, (const char *)buf + start, i - start);
		s->offset += i - start;
		s->pos = i;
		if (done >= 0)
			return done;
	}
}

/* Does a string inside these JSON bytes contain the escape \u0000? */
bool co_json_has_nul_escape(const char *p, size_t n)
{
	if (!memchr(p, '\\', n))
		return false; /* no escape at all: the usual case */
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		if (!in_str) {
			in_str = p[i] == '"';
		} else if (p[i] == '\\' && i + 1 < n) {
			if (p[i + 1] == 'u' && i + 5 < n && memcmp(p + i + 2, "0000", 4) == 0)
				return true;
			i++;
		} else if (p[i] == '"') {
			in_str = false;
		}
	}
	return false;
}

static void item_from_rec(co_scan *s, co_scan_item *it, co_scan_kind kind, uint64_t off, uint64_t line)
{
	it->kind = kind;
	it->bytes = s->rec.data ? s->rec.data : "";
	it->len = s->rec.len;
	it->offset = off;
	it->line = line;
	it->nul_escape = co_json_has_nul_escape(it->bytes, it->len);
	it->problem = s->problem;
	s->problem = NULL;
}

/* Everything from here to the end of the file, as one garbage item. */
static int take_rest(co_scan *s, co_scan_item *it, const char *why, cutover_error *err)
{
	uint64_t off = s->offset, line = s->line;
	s->rec.len = 0;
	for (;;) {
		int c = peek(s, err);
		if (c == -2)
			return err ? err->code : CUTOVER_EUNAVAILABLE;
		if (c == -1)
			break;
		size_t n = s->end - s->pos;
		for (size_t i = 0; i < n; i++)
			advance(s);
		co_buf_put(&s->rec, (const char *)s->buf + s->end - n, n);
	}
	s->state = ST_DONE;
	bool blank = true;
	for (size_t i = 0; i < s->rec.len; i++)
		blank &= is_ws((unsigned char)s->rec.data[i]);
	if (blank)
		return CUTOVER_ENOTFOUND;
	s->problem = why;
	item_from_rec(s, it, CO_SCAN_GARBAGE, off, line);
	it->position = 0;
	return CUTOVER_OK;
}

/* Read a JSON string key at the cursor into s->rec; 1 ok, 0 not a string / eof. */
static int take_key(co_scan *s, cutover_error *err)
{
	s->rec.len = 0;
	if (peek(s, err) != '"')
		return 0;
	int r = take_value(s, err);
	return r == 1 && s->rec.len >= 2 && s->rec.data[s->rec.len - 1] == '"' ? 1 : (r == -2 ? -2 : 0);
}

static bool key_is(const co_scan *s, const char *want)
{
	size_t n = strlen(want);
	if (!memchr(s->rec.data, '\\', s->rec.len))
		return s->rec.len == n + 2 && memcmp(s->rec.data + 1, want, n) == 0;
	/* an escaped key ("us\u0065rs") names what it decodes to */
	cJSON *k = cJSON_ParseWithLength(s->rec.data, s->rec.len);
	bool same = cJSON_IsString(k) && strcmp(k->valuestring, want) == 0;
	cJSON_Delete(k);
	return same;
}

/* Walk the top-level object up to the collection's '['. 1: found; 0: the
 * document has no such collection (end); negative: garbage at the cursor. */
static int seek_collection(co_scan *s, cutover_error *err)
{
	int c = skip_ws(s, err);
	if (c == -1)
		return 0; /* empty file: no records */
	if (c != '{')
		return -1;
	advance(s);
	for (;;) {
		c = skip_ws(s, err);
		if (c == '}' || c == -1)
			return 0;
		int k = take_key(s, err);
		if (k != 1)
			return -1;
		bool wanted = key_is(s, s->collection);
		if (skip_ws(s, err) != ':')
			return -1;
		advance(s);
		c = skip_ws(s, err);
		if (wanted) {
			if (c == '[') {
				advance(s);
				return 1;
			}
			if (c == 'n') /* "users": null */
				return 0;
			return -1;
		}
		s->rec.len = 0;
		if (take_value(s, err) != 1)
			return -1;
		c = skip_ws(s, err);
		if (c == ',')
			advance(s);
	}
}

static int next_json(co_scan *s, co_scan_item *it, cutover_error *err)
{
	if (s->state == ST_START) {
		int r = seek_collection(s, err);
		if (r == 0) {
			s->state = ST_DONE;
			return CUTOVER_ENOTFOUND;
		}
		if (r < 0) {
			return take_rest(s, it, "the document is not {\"<collection>\": [ ... ]}", err);
		}
		s->state = ST_ARRAY;
	}
	for (;;) {
		int c = skip_ws(s, err);
		if (c == -2)
			return err ? err->code : CUTOVER_EUNAVAILABLE;
		if (c == -1) {
			s->state = ST_DONE; /* ended without "]}": complete records were all handed out */
			return CUTOVER_ENOTFOUND;
		}
		if (c == ']') { /* what follows (other keys, the closing brace) is not ours */
			s->closed = true;
			s->close_off = s->offset;
			s->irregular |= s->after_comma; /* [ a, b, ] */
			advance(s);
			s->state = ST_DONE;
			return CUTOVER_ENOTFOUND;
		}
		if (c == ',') { /* an empty slot: ",," */
			s->irregular = true;
			advance(s);
			continue;
		}
		uint64_t off = s->offset, line = s->line;
		s->rec.len = 0;
		if (c == '}') { /* a stray closing brace: not a record, and not the end of the list */
			co_buf_put(&s->rec, "}", 1);
			advance(s);
			if (s->rec.failed)
				return co_err_oom(err);
			s->problem = "a '}' that closes nothing between records";
			item_from_rec(s, it, CO_SCAN_GARBAGE, off, line);
			it->position = 0;
			return CUTOVER_OK;
		}
		int r = take_value(s, err);
		if (r == -2)
			return err ? err->code : CUTOVER_EUNAVAILABLE;
		if (s->rec.failed)
			return co_err_oom(err);
		s->position++;
		if (r == 0) {
			s->state = ST_DONE;
			s->problem = "the file ends inside this record (truncated)";
			item_from_rec(s, it, CO_SCAN_TRUNCATED, off, line);
			it->position = s->position;
			return CUTOVER_OK;
		}
		c = skip_ws(s, err);
		s->after_comma = c == ',';
		if (c == ',')
			advance(s);
		else if (c != ']' && c != -1)
			s->problem = "no comma after this record";
		s->irregular |= s->problem != NULL;
		item_from_rec(s, it, CO_SCAN_RECORD, off, line);
		it->position = s->position;
		return CUTOVER_OK;
	}
}

static int next_ndjson(co_scan *s, co_scan_item *it, cutover_error *err)
{
	for (;;) {
		uint64_t off = s->offset, line = s->line;
		s->rec.len = 0;
		bool had_newline = false;
		/* a buffer window at a time, up to the newline */
		for (;;) {
			if (fill(s, err))
				return err ? err->code : CUTOVER_EUNAVAILABLE;
			if (s->pos >= s->end)
				break;
			const unsigned char *start = s->buf + s->pos;
			size_t avail = s->end - s->pos;
			const unsigned char *nl = memchr(start, '\n', avail);
			size_t n = nl ? (size_t)(nl - start) : avail;
			co_buf_put(&s->rec, (const char *)start, n);
			s->pos += n;
			s->offset += n;
			if (nl) {
				s->pos++;
				s->offset++;
				s->line++;
				had_newline = true;
				break;
			}
		}
		if (s->rec.failed)
			return co_err_oom(err);
		bool blank = true;
		for (size_t i = 0; i < s->rec.len && blank; i++)
			blank = is_blank((unsigned char)s->rec.data[i]);
		if (blank) {
			if (!had_newline)
				return CUTOVER_ENOTFOUND;
			continue;
		}
		s->position++;
		if (s->rec.len && s->rec.data[s->rec.len - 1] == '\r')
			s->rec.len--;
		item_from_rec(s, it, CO_SCAN_RECORD, off, line);
		it->position = s->position;
		return CUTOVER_OK;
	}
}

int co_scan_next(co_scan *s, co_scan_item *item, cutover_error *err)
{
	memset(item, 0, sizeof(*item));
	if (s->state == ST_DONE && s->mode == MODE_JSON)
		return CUTOVER_ENOTFOUND;
	return s->mode == MODE_JSON ? next_json(s, item, err) : next_ndjson(s, item, err);
}

static int scan_new(co_scan **out, FILE *f, const char *name, const char *collection, scan_mode mode, cutover_error *err)
{
	co_scan *s = calloc(1, sizeof(*s));
	if (!s)
		return co_err_oom(err);
	s->f = f;
	s->name = name;
	s->collection = collection;
	s->mode = mode;
	s->line = 1;
	/* a UTF-8 byte order mark is not part of the first record; in a JSON
	 * document a second one right after it is not either, since the whole
	 * document's parse (co_doc_parse strips one, cJSON skips the next)
	 * takes both */
	if (fill(s, err) == CUTOVER_OK && s->end >= 3 && memcmp(s->buf, "\xEF\xBB\xBF", 3) == 0) {
		s->pos = 3;
		s->offset = 3;
		if (mode == MODE_JSON && s->end >= 6 && memcmp(s->buf + 3, "\xEF\xBB\xBF", 3) == 0) {
			s->pos = 6;
			s->offset = 6;
		}
	}
	*out = s;
	return CUTOVER_OK;
}

int co_scan_json(co_scan **out, FILE *f, const char *name, const char *collection, cutover_error *err)
{
	return scan_new(out, f, name, collection, MODE_JSON, err);
}

int co_scan_ndjson(co_scan **out, FILE *f, const char *name, cutover_error *err)
{
	return scan_new(out, f, name, NULL, MODE_NDJSON, err);
}

bool co_scan_json_closed(const co_scan *s, uint64_t *close_off)
{
	*close_off = s->close_off;
	return s->mode == MODE_JSON && s->closed && !s->irregular;
}

uint64_t co_scan_offset(const co_scan *s)
{
	return s->offset;
}

void co_scan_free(co_scan *s)
{
	if (!s)
		return;
	co_buf_free(&s->rec);
	free(s);
}
