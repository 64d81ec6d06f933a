/* reconcile.h — `cutover reconcile`: repair the keys failed second writes left.
 *
 * The journal (core/journal.c) lists, per domain, the keys whose second
 * write failed in a dual stage, each entry naming its target (the store that
 * missed the write). Reconcile groups the entries by (entity, key) and makes
 * the target hold exactly the record the other store, the authoritative one
 * when the write happened, holds now: a put of that record, or a delete when
 * that store no longer has it. The engine (reconcile.c) is the same for
 * every domain; a domain (reconcile_<domain>.c) says, per entity kind of its
 * journal, how to read one key in either store, compare two records, put
 * one and delete one, or repairs a batch of keys itself (telemetry's events
 * in one pass over the daily files, identity's replayed delete of expired
 * sessions). Puts run under co_replicate_exact (core): the authoritative
 * record replaces whatever the target holds, however "newer".
 */
#ifndef CUTOVER_RECONCILE_H
#define CUTOVER_RECONCILE_H

#include "cli.h"

typedef enum rc_store { RC_JSON = 0, RC_PG = 1 } rc_store;

/* "json" or "postgres" */
const char *rc_store_name(rc_store s);

typedef enum rc_outcome {
	RC_PENDING = 0, /* not reached (a store became unreachable first) */
	RC_EQUAL,       /* the stores already agree: nothing to write */
	RC_WOULD,       /* dry run: --apply would write */
	RC_REPAIRED,    /* written, and the stores now agree */
	RC_FAILED,      /* could not be repaired; err says why and what to do */
	RC_FLIPPED,     /* the stage made the target authoritative and the stores differ */
	RC_BROKEN       /* an entry that cannot be read, or an unknown entity or key */
} rc_outcome;

typedef struct rc_entity rc_entity;

/* One (entity, key) of the journal and what became of it. A run holds one
 * per distinct key, so what only some keys need is allocated only for them. */
typedef struct rc_key {
	const char *entity, *key;   /* borrowed from the journal snapshot; NULL for an unreadable entry */
	const rc_entity *ent;       /* its entity kind; NULL when unknown or unreadable */
	size_t entries;             /* journal entries of this key */
	size_t first_line;          /* 1-based number of its first entry */
	bool to[2];                 /* the targets its entries name (RC_JSON, RC_PG) */
	bool compare_only;          /* flipped: compare, never write */
	rc_store src, dst;          /* copy from src to dst */
	rc_outcome outcome;
	const char *action;         /* "copy", "delete", "replay"; NULL while equal */
	char *fields;               /* how the target differed: field names, or "missing", "extra"; NULL while equal */
	char *note;                 /* more words for the report (counts, why); NULL when none */
	cutover_error *err;         /* RC_FAILED, RC_FLIPPED, RC_BROKEN: what and what to do */
} rc_key;

/* The key as it may be printed (secrets redacted, keys that are not what
 * their entity's look like by length only, unreadable entries by number). */
#define RC_SHOWN 80
const char *rc_shown(const rc_key *k, char buf[RC_SHOWN]);
/* Give k its error (a copy). */
void rc_set_err(rc_key *k, const cutover_error *err);
/* Free what k allocated (not k). */
void rc_key_clear(rc_key *k);

typedef struct rc_run rc_run;

/* One entity kind of a domain's journal. Either the per-key functions (get,
 * diff, put, optionally del) for the engine's loop, or run. */
struct rc_entity {
	const char *name;   /* the journal's entity: "user", "session", ... */
	bool secret;        /* its key is a secret (a token hash): printed redacted */
	bool (*key_ok)(const char *key);
	/* The key's record in store s: CUTOVER_OK with *rec, CUTOVER_ENOTFOUND
	 * when that store has none, or a failure. */
	int (*get)(rc_run *r, rc_store s, const char *key, void **rec, cutover_error *err);
	/* Names of the fields that differ into buf; 0 when equal. */
	int (*diff)(const void *a, const void *b, char *buf, size_t len);
	/* Make store s hold rec exactly (called under co_replicate_exact). */
	int (*put)(rc_run *r, rc_store s, const void *rec, cutover_error *err);
	/* Remove the key from store s. NULL: the product never deletes this
	 * kind, so a source without the record is reported, not repaired. */
	int (*del)(rc_run *r, rc_store s, const char *key, cutover_error *err);
	void (*free_rec)(void *rec);
	/* optional: repair these keys itself instead of the loop */
	void (*run)(rc_run *r, rc_key **keys, size_t n);
};

typedef struct rc_domain {
	cutover_domain domain;
	const rc_entity *entities; /* in repair order (referenced records first) */
	size_t n_entities;
	/* Open the domain's json and postgres stores into r->store. */
	int (*open)(rc_run *r, cutover_error *err);
	void (*close)(rc_run *r);
} rc_domain;

struct rc_run {
	const rc_domain *dom;
	const cutover_settings *st;
	bool apply;
	void *store[2];         /* the domain's handles: [RC_JSON], [RC_PG] */
	int fatal;              /* a store became unreachable: stop (exit 3) */
	cutover_error fatal_err;
};

extern const rc_domain rc_identity, rc_profile, rc_reports, rc_telemetry;

/* How many times a key is read, written and read again before reconcile
 * gives up on a key that apps keep changing under it. */
#define RC_ROUNDS 5

/* The engine's loop for one key: read both stores, compare, write, and
 * read again until they agree (RC_ROUNDS at most). */
void rc_repair_one(rc_run *r, const rc_entity *e, rc_key *k);
/* Mark k failed with err (a store that cannot be reached stops the run). */
void rc_fail(rc_run *r, rc_key *k, const cutover_error *err);
/* Record that k's target differs (round 0 only: what the report shows). */
void rc_differs(rc_key *k, const char *fields, const char *action);
/* Mark k failed: its source did not change since the last write, yet the
 * target still differs in fields (what: the entity's name). */
void rc_did_not_take(rc_run *r, rc_key *k, const char *what, const char *fields);
/* Mark k flipped (the stage made its target authoritative and the stores
 * differ), with the words that say what to do. */
void rc_flipped(rc_run *r, rc_key *k);

/* Key checks shared by the domains. */
bool rc_key_id(const char *key);        /* an id: 1 .. 2^53 */
int64_t rc_id(const char *key);

#endif
