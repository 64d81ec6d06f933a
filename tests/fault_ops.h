/* fault_ops.h — every operation an app can call, of all four domains, as a
 * table the fault tests walk while a store is down and again once it is
 * back.
 *
 * Each entry makes one call of one kind (create a user, list reports, move
 * an incident, ...) against records a fixture prepared while both stores
 * were up, and returns the call's code with err filled. On success an entry
 * updates the fixture (an added certification's id, an incident's new
 * state), so walking the table once with every store up succeeds from the
 * first entry to the last, and a walk that failed changes nothing a later
 * walk relies on.
 *
 * The entries report through the code and err only (no cmocka asserts), so
 * they also run in forked children.
 */
#ifndef CUTOVER_TEST_FAULT_OPS_H
#define CUTOVER_TEST_FAULT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "co.h"

typedef struct fault_handles {
	cutover_identity *id;
	cutover_profile *pr;
	cutover_reports *rep;
	cutover_telemetry *tel;
} fault_handles;

typedef struct fault_fixture {
	unsigned serial;          /* fresh emails and tokens */
	unsigned tag;             /* makes this fixture's keys its own (e.g. a pid) */
	/* identity */
	int64_t user, user2;      /* user2 has sessions delete_user_sessions removes */
	char email[96];
	char oauth_subject[48];
	char tok_keep[65];        /* read and touched */
	char tok_del[65];         /* deleted by delete_session */
	/* profile */
	int64_t prof_user;
	cutover_portfolio *portfolio; /* as last stored (owned) */
	/* reports */
	int64_t report;
	/* telemetry */
	int64_t incident;
	char incident_state[16];
	int64_t event;
	cutover_ts event_at;
} fault_fixture;

typedef struct fault_op {
	cutover_domain domain;
	const char *name;
	bool write;
	int (*run)(fault_handles *h, fault_fixture *f, cutover_error *err);
} fault_op;

extern const fault_op fault_ops[];
extern const size_t fault_ops_count;

/* Make the records the ops of domain d need, through h (identity's handle
 * is needed for every domain: the users). Returns a cutover code. */
int fault_prepare(cutover_domain d, fault_handles *h, fault_fixture *f, cutover_error *err);
void fault_fixture_free(fault_fixture *f);

/* Free every handle h holds (NULL ones too) and clear h. */
void fault_handles_free(fault_handles *h);
/* The stats of h's handle of domain d. */
void fault_stats(fault_handles *h, cutover_domain d, cutover_stats *st);

/* Seconds on the monotonic clock. */
double fault_now(void);

/* Every regular file under a directory, as it is: path, inode, size, mtime
 * and the bytes. Two snapshots compare equal only when nothing was created,
 * removed, replaced or rewritten. */
typedef struct fault_file {
	char *path;
	unsigned long long ino, size;
	long long mtime_ns;
	char *data;
} fault_file;
typedef struct fault_tree {
	fault_file *files;
	size_t n;
} fault_tree;
/* Snapshot dir (an absent dir is an empty tree). 0, or -1 when it cannot be read. */
int fault_tree_take(fault_tree *t, const char *dir);
/* NULL when equal, else a malloc'd description of the first differences. */
char *fault_tree_diff(const fault_tree *before, const fault_tree *after);
void fault_tree_free(fault_tree *t);

#endif
