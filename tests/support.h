/* support.h — what the tests share: temp state roots, a fresh database per
 * suite on the throwaway cluster that tests/with-postgres.sh started, and a
 * log sink that captures the library's reports for assertions. */
#ifndef CUTOVER_TEST_SUPPORT_H
#define CUTOVER_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "co.h"

typedef struct test_env {
	char root[256];        /* temp directory: the journal, and the JSON state unless over HTTP */
	char json_root[512];   /* the JSON state root the suite uses: root, or a fresh
	                          sub-path of CUTOVER_TEST_HTTP_ROOT when that is set */
	char journal[300];     /* its journal dir */
	char dbname[64];
	char conninfo[128];    /* "dbname=..." (host etc. from PG* env) */
	cutover_options opts;  /* points at the fields above */
} test_env;

/* Make a temp state dir and a fresh migrated database named after tag.
 * Opt-in: when CUTOVER_TEST_HTTP_ROOT is set (tests/with-nginx.sh), the JSON
 * state lives over HTTP at <CUTOVER_TEST_HTTP_ROOT>/<tag>-<pid>-<n>, fresh
 * for every call; the journal stays in the temp dir. */
void test_env_init(test_env *e, const char *tag);
/* Write a whole document under the env's JSON state root (either kind). */
void test_put_doc(const test_env *e, const char *key, const char *text);
/* Drop the database and remove the state dir. */
void test_env_fini(test_env *e);
/* Run SQL (no parameters, test-owned constant text) on the env's database. */
void test_sql(const test_env *e, const char *sql);
/* Same, returning the first value of the first row as a malloc'd string. */
char *test_sql_value(const test_env *e, const char *sql);
/* Constant SQL with text parameters ($1, $2, ...) on the env's database. */
void test_sql_params(const test_env *e, const char *sql, int n, const char *const *params);

/* Captured library reports (cutover_set_log). */
void test_log_capture(void);
const char *test_log_text(void);
void test_log_reset(void);

/* Built with AddressSanitizer (its own memory then counts in a process's RSS). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif

/* This process's peak RSS in KiB (VmHWM of /proc/self/status; -1 when it
 * cannot be read). Not getrusage: ru_maxrss keeps the peak of what ran in
 * the process before exec. */
long test_vmhwm_kib(void);
/* A fresh sub-root "<root>/<tag>-<pid>-<n>" of a state root (a folder,
 * created 0700, or an http(s) URL path) in out. */
void test_fresh_root(char *out, size_t len, const char *root, const char *tag);
/* The state roots an index test runs over: a fresh local directory made
 * from tmpl (mkdtemp), and the HTTP root of tests/with-nginx.sh when it is
 * set (CUTOVER_TEST_HTTP_ROOT). Returns how many (1 or 2); 0 when the
 * directory cannot be made. */
int test_state_roots(char roots[2][300], char *tmpl);
/* Put / get a whole document under a state root of either kind; exits 3
 * on failure. test_get_key's result is malloc'd, *len (may be NULL) its size. */
void test_put_key(const char *root, const char *key, const char *text, size_t len);
char *test_get_key(const char *root, const char *key, size_t *len);

/* A 64-hex token hash derived from n (distinct n, distinct tokens). */
const char *test_token(unsigned n, char buf[65]);
/* Run a shell command and capture its standard output (malloc'd, never
 * NULL); *status gets its exit status. */
char *test_run_capture(const char *cmd, int *status);
/* A whole file (malloc'd), or NULL when it cannot be read; len may be NULL. */
char *test_read_file(const char *path, size_t *len);
/* Run a shell command; returns its exit status. */
int test_shell(const char *cmd);

/* The end of a conformance suite in a stage: no comparison differed, no
 * second write failed or was journaled, and reads were compared exactly
 * when the stage compares them. Prints the library's reports on failure. */
void test_expect_no_drift(const cutover_stats *st, cutover_stage stage);

/* The operator program under test (set by the test's main from argv). */
extern const char *test_cutover_bin;
/* Run `cutover ARGS` against an env's state root and database; returns the
 * exit status and, when out is not NULL, stdout and stderr in *out (stdout
 * only when ARGS start with --json, so the document parses). */
int test_cutover(const test_env *e, char **out, const char *args);
/* Run a legacy-state generator into the env's root (--out ROOT --quiet ARGS). */
void test_generate(const test_env *e, const char *gen_bin, const char *args);
/* The first value of a one-row query as a number (-1 when there is none). */
long long test_count(const test_env *e, const char *sql);
/* A number from a generator's manifest under the root (file "manifest.json",
 * "manifest-telemetry.json", ...): obj.field, or field at the top when obj
 * is NULL. */
int test_manifest_int(const test_env *e, const char *file, const char *obj, const char *field);

/* test_cutover with its output (malloc'd), asserting the exit status is
 * expect; on another status prints what the program said. */
char *test_cutover_expect(const test_env *e, int expect, const char *args);
/* No stage chosen through the environment: unset the four domain flags and
 * CUTOVER_FLAG_PREFIX, so each test names the stage it opens. */
void test_unset_stage_flags(void);

/* Each domain's two stores opened directly, not through a stage: json on the
 * env's root directory, postgres on its database. Asserts they open. */
typedef struct test_stores {
	cutover_identity *ij, *ip;
	cutover_profile *pj, *pp;
	cutover_reports *rj, *rp;
	cutover_telemetry *tj, *tp;
} test_stores;
void test_stores_open(const test_env *e, test_stores *s);
void test_stores_close(test_stores *s);

#endif
