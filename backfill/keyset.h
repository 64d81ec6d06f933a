/* keyset.h — a set of byte-string keys, each with one int64 value.
 *
 * The operator commands find duplicates within the legacy data (ids, email
 * keys, oauth links, token hashes) in one pass without holding the records:
 * only the keys are kept, packed in one arena. Memory: 24 bytes of table per
 * key (at most 70% full, so 24-48 bytes) plus the key's bytes.
 */
#ifndef CUTOVER_KEYSET_H
#define CUTOVER_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct co_keyset co_keyset;

co_keyset *co_keyset_new(void);
/* 1: added; 0: already there (*existing gets its value); -1: out of memory. */
int co_keyset_add(co_keyset *s, const void *key, size_t len, int64_t value, int64_t *existing);
bool co_keyset_get(const co_keyset *s, const void *key, size_t len, int64_t *value);
/* Convenience for int64 keys. */
int co_keyset_add_id(co_keyset *s, int64_t id, int64_t value, int64_t *existing);
bool co_keyset_has_id(const co_keyset *s, int64_t id);
size_t co_keyset_count(const co_keyset *s);
size_t co_keyset_bytes(const co_keyset *s);
void co_keyset_free(co_keyset *s);

#endif
