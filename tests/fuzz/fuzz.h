/* fuzz.h — what every fuzz harness shares.
 *
 * Each harness (tests/fuzz/fuzz_<target>.c) defines LLVMFuzzerTestOneInput:
 * it feeds the bytes to one legacy reader exactly as the library meets a
 * document (a FILE streamed through the record framer, adapters/json/
 * legacy_scan.c), decodes every framed item with the strict decoder, checks
 * what must hold of the result, and frees everything (leak detection is on).
 * A broken promise is a crash: FUZZ_CHECK aborts with the condition's text.
 *
 * fuzz_scan_each is the framer's oracle, run under every harness: items come
 * out in order, never overlap, carry their exact bytes from the input, and
 * name the 1-based line and byte offset where they start.
 */
#ifndef CUTOVER_FUZZ_H
#define CUTOVER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "legacy_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                      \
	do {                                                                                                      \
		if (!(cond)) {                                                                                        \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);                   \
			abort();                                                                                          \
		}                                                                                                     \
	} while (0)

/* A decoder's error: a code, and a message that is set and terminated. */
static inline void fuzz_check_error(int rc, const cutover_error *err)
{
	FUZZ_CHECK(rc == CUTOVER_ECORRUPT || rc == CUTOVER_EINTERNAL);
	FUZZ_CHECK(err->code == rc);
	FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
	FUZZ_CHECK(err->message[0] != '\0');
	/* it ends up in reasons.ndjson and on the operator's terminal */
	FUZZ_CHECK(co_utf8_valid(err->message));
}

/* Two JSON values alike member by member, in order (cJSON_Compare looks
 * members up by name, which is not an equality when a key repeats). The
 * names the two values themselves have are not compared. */
static inline bool fuzz_tree_equal(const cJSON *a, const cJSON *b)
{
	if (!a || !b)
		return a == b;
	if ((a->type & 0xFF) != (b->type & 0xFF))
		return false;
	if (cJSON_IsNumber(a))
		return a->valuedouble == b->valuedouble;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	const cJSON *x = a->child, *y = b->child;
	for (; x && y; x = x->next, y = y->next) {
		if ((x->string == NULL) != (y->string == NULL) || (x->string && strcmp(x->string, y->string) != 0))
			return false;
		if (!fuzz_tree_equal(x, y))
			return false;
	}
	return x == NULL && y == NULL;
}

/* An accepted record's bytes are one JSON value and nothing else. */
static inline void fuzz_check_whole_json(const co_scan_item *it)
{
	char *copy = malloc(it->len + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, it->bytes, it->len);
	copy[it->len] = '\0';
	if (strlen(copy) == it->len) { /* (a raw NUL byte ends cJSON's text early) */
		cJSON *j = cJSON_ParseWithOpts(copy, NULL, true);
		FUZZ_CHECK(j != NULL);
		cJSON_Delete(j);
	}
	free(copy);
}

typedef void (*fuzz_item_fn)(const co_scan_item *it, void *ud);

/* Frame data as {"<collection>": [...]} (collection NULL: NDJSON lines),
 * check every item against the input, and hand each to fn (may be NULL). */
static inline void fuzz_scan_each(const uint8_t *data, size_t size, const char *collection, fuzz_item_fn fn, void *ud)
{
	FILE *f = fmemopen((void *)data, size, "r");
	FUZZ_CHECK(f != NULL);
	co_scan *s = NULL;
	cutover_error err = {0};
	int rc = collection ? co_scan_json(&s, f, "fuzz.json", collection, &err) : co_scan_ndjson(&s, f, "fuzz.ndjson", &err);
	FUZZ_CHECK(rc == CUTOVER_OK && s != NULL);

	uint64_t prev_end = 0, prev_pos = 0, lines_before = 0, counted_to = 0;
	size_t items = 0;
	co_scan_item it;
	while ((rc = co_scan_next(s, &it, &err)) == CUTOVER_OK) {
		FUZZ_CHECK(++items <= size + 1); /* every item consumes input */
		FUZZ_CHECK(it.bytes != NULL);
		FUZZ_CHECK(it.offset >= prev_end && it.offset <= size && it.len <= size - it.offset);
		/* its exact bytes (an NDJSON line loses a trailing '\r') */
		FUZZ_CHECK(memcmp(it.bytes, data + it.offset, it.len) == 0);
		if (!collection) {
			FUZZ_CHECK(it.kind == CO_SCAN_RECORD);
			FUZZ_CHECK(memchr(it.bytes, '\n', it.len) == NULL);
		}
		/* its line: one more than the newlines before it */
		for (; counted_to < it.offset; counted_to++)
			lines_before += data[counted_to] == '\n';
		FUZZ_CHECK(it.line == lines_before + 1);
		if (it.kind == CO_SCAN_GARBAGE) {
			FUZZ_CHECK(it.position == 0 && it.problem != NULL);
		} else {
			FUZZ_CHECK(it.position == prev_pos + 1);
			prev_pos = it.position;
		}
		if (it.kind == CO_SCAN_TRUNCATED)
			FUZZ_CHECK(it.problem != NULL && it.offset + it.len == size);
		if (it.kind != CO_SCAN_GARBAGE)
			FUZZ_CHECK(it.len > 0); /* a record has bytes */
		/* the \u0000 flag agrees with the bytes */
		if (it.nul_escape)
			FUZZ_CHECK(memmem(it.bytes, it.len, "\\u0000", 6) != NULL);
		prev_end = it.offset + it.len;
		FUZZ_CHECK(co_scan_offset(s) <= size);
		if (fn)
			fn(&it, ud);
	}
	FUZZ_CHECK(rc == CUTOVER_ENOTFOUND); /* a memory stream never fails to read */
	/* the end stays the end */
	FUZZ_CHECK(co_scan_next(s, &it, &err) == CUTOVER_ENOTFOUND);
	co_scan_free(s);
	fclose(f);
}

#endif
