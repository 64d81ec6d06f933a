/* keyset.c — open addressing (linear probing, 64-bit FNV-1a) over an arena. */
#include <stdlib.h>
#include <string.h>

#include "co.h"
#include "keyset.h"

typedef struct slot {
	uint64_t hash; /* 0 = empty (real hashes are forced non-zero) */
	uint32_t off;  /* into the arena (keys total < 4 GiB) */
	uint32_t len;
	int64_t value;
} slot;

struct co_keyset {
	slot *slots;
	size_t cap, n;
	char *arena;
	size_t used, arena_cap;
};

static uint64_t hash_bytes(const void *key, size_t len)
{
	uint64_t h = co_hash64(key, len);
	return h ? h : 1;
}

co_keyset *co_keyset_new(void)
{
	co_keyset *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cap = 1024;
	s->slots = calloc(s->cap, sizeof(slot));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

static slot *find(const co_keyset *s, uint64_t h, const void *key, size_t len)
{
	size_t mask = s->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		slot *e = &s->slots[i];
		if (e->hash == 0 || (e->hash == h && e->len == len && memcmp(s->arena + e->off, key, len) == 0))
			return e;
	}
}

static bool grow(co_keyset *s)
{
	size_t cap = s->cap * 2;
	slot *old = s->slots, *ns = calloc(cap, sizeof(slot));
	if (!ns)
		return false;
	size_t oldcap = s->cap;
	s->slots = ns;
	s->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].hash) {
			size_t mask = cap - 1, j = old[i].hash & mask;
			while (ns[j].hash)
				j = (j + 1) & mask;
			ns[j] = old[i];
		}
	free(old);
	return true;
}

int co_keyset_add(co_keyset *s, const void *key, size_t len, int64_t value, int64_t *existing)
{
	uint64_t h = hash_bytes(key, len);
	slot *e = find(s, h, key, len);
	if (e->hash) {
		if (existing)
			*existing = e->value;
		return 0;
	}
	if (len > UINT32_MAX || s->used + len > UINT32_MAX)
		return -1;
	if (s->used + len > s->arena_cap) {
		size_t cap = s->arena_cap ? s->arena_cap * 2 : 64 * 1024;
		while (cap < s->used + len)
			cap *= 2;
		char *a = realloc(s->arena, cap);
		if (!a)
			return -1;
		s->arena = a;
		s->arena_cap = cap;
	}
	memcpy(s->arena + s->used, key, len);
	*e = (slot){h, (uint32_t)s->used, (uint32_t)len, value};
	s->used += len;
	s->n++;
	if (s->n * 10 > s->cap * 7 && !grow(s))
		return -1;
	return 1;
}

bool co_keyset_get(const co_keyset *s, const void *key, size_t len, int64_t *value)
{
	slot *e = find(s, hash_bytes(key, len), key, len);
	if (!e->hash)
		return false;
	if (value)
		*value = e->value;
	return true;
}

int co_keyset_add_id(co_keyset *s, int64_t id, int64_t value, int64_t *existing)
{
	return co_keyset_add(s, &id, sizeof(id), value, existing);
}

bool co_keyset_has_id(const co_keyset *s, int64_t id)
{
	return co_keyset_get(s, &id, sizeof(id), NULL);
}

size_t co_keyset_count(const co_keyset *s)
{
	return s->n;
}

size_t co_keyset_bytes(const co_keyset *s)
{
	return s->cap * sizeof(slot) + s->arena_cap;
}

void co_keyset_free(co_keyset *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s->arena);
	free(s);
}
