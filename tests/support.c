/* support.c — temp roots, fresh databases, captured reports. See support.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "json_store.h"
#include "pg.h"
#include "support.h"

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *admin_conn(const char *dbname)
{
	const char *keys[] = {"dbname", NULL};
	const char *vals[] = {dbname, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "test: cannot connect to %s: %s(run the tests through tests/with-postgres.sh)\n",
			dbname ? dbname : "default db", PQerrorMessage(c));
		exit(3);
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

static void must_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "test: SQL failed: %s\n%s", sql, PQerrorMessage(c));
		exit(3);
	}
	PQclear(r);
}

void test_env_init(test_env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->root, sizeof(e->root), "/tmp/cutover-test-%s-XXXXXX", tag);
	if (!mkdtemp(e->root)) {
		perror("mkdtemp");
		exit(3);
	}
	snprintf(e->journal, sizeof(e->journal), "%s/.cutover", e->root);
	snprintf(e->dbname, sizeof(e->dbname), "t_%s_%d", tag, (int)getpid());
	snprintf(e->conninfo, sizeof(e->conninfo), "dbname=%s", e->dbname);

	PGconn *c = admin_conn("postgres");
	char *ident = PQescapeIdentifier(c, e->dbname, strlen(e->dbname));
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", ident);
	must_exec(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
	must_exec(c, sql);
	PQfreemem(ident);
	PQfinish(c);

	cutover_error err;
	co_pg *pg = NULL;
	if (co_pg_connect(&pg, e->conninfo, &err) || co_pg_migrate(pg, NULL, NULL, &err)) {
		cutover_error_fprint(stderr, &err);
		exit(3);
	}
	co_pg_close(pg);
	const char *http = getenv("CUTOVER_TEST_HTTP_ROOT");
	static unsigned serial;
	if (http && *http)
		snprintf(e->json_root, sizeof(e->json_root), "%s/%s-%d-%u", http, tag, (int)getpid(), serial++);
	else
		snprintf(e->json_root, sizeof(e->json_root), "%s", e->root);
	e->opts.json_root = e->json_root;
	e->opts.journal_dir = e->journal;
	e->opts.database_url = e->conninfo;
}

void test_env_fini(test_env *e)
{
	PGconn *c = admin_conn("postgres");
	char *ident = PQescapeIdentifier(c, e->dbname, strlen(e->dbname));
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	must_exec(c, sql);
	PQfreemem(ident);
	PQfinish(c);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->root);
	test_shell(cmd);
}

long test_vmhwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

void test_fresh_root(char *out, size_t len, const char *root, const char *tag)
{
	static int seq;
	int n = snprintf(out, len, "%s/%s-%ld-%d", root, tag, (long)getpid(), seq++);
	assert_true(n > 0 && (size_t)n < len);
	if (strncmp(out, "http", 4) != 0)
		assert_int_equal(mkdir(out, 0700), 0);
}

int test_state_roots(char roots[2][300], char *tmpl)
{
	int n = 0;
	if (!mkdtemp(tmpl))
		return 0;
	snprintf(roots[n++], 300, "%s", tmpl);
	const char *http = getenv("CUTOVER_TEST_HTTP_ROOT");
	if (http && *http && strlen(http) < 300 - 40)
		snprintf(roots[n++], 300, "%s", http);
	return n;
}

void test_put_key(const char *root, const char *key, const char *text, size_t len)
{
	cutover_error err;
	co_transport *t = NULL;
	if (co_transport_open(&t, root, NULL, &err) != CUTOVER_OK ||
	    t->put(t, key, text, len, NULL, NULL, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		exit(3);
	}
	t->free(t);
}

char *test_get_key(const char *root, const char *key, size_t *len)
{
	cutover_error err;
	co_transport *t = NULL;
	char *data = NULL, version[CO_VERSION_LEN];
	size_t n = 0;
	if (co_transport_open(&t, root, NULL, &err) != CUTOVER_OK ||
	    t->get(t, key, &data, &n, version, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		exit(3);
	}
	t->free(t);
	if (len)
		*len = n;
	return data;
}

void test_put_doc(const test_env *e, const char *key, const char *text)
{
	test_put_key(e->json_root, key, text, strlen(text));
}

void test_sql(const test_env *e, const char *sql)
{
	PGconn *c = admin_conn(e->dbname);
	must_exec(c, sql);
	PQfinish(c);
}

void test_sql_params(const test_env *e, const char *sql, int n, const char *const *params)
{
	PGconn *c = admin_conn(e->dbname);
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "test: SQL failed: %s\n%s", sql, PQerrorMessage(c));
		exit(3);
	}
	PQclear(r);
	PQfinish(c);
}

char *test_sql_value(const test_env *e, const char *sql)
{
	PGconn *c = admin_conn(e->dbname);
	PGresult *r = PQexec(c, sql);
	char *v = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

static co_buf captured;

static void capture(void *ud, const char *line)
{
	(void)ud;
	co_buf_puts(&captured, line);
	co_buf_puts(&captured, "\n");
}

void test_log_capture(void)
{
	cutover_set_log(capture, NULL);
}

const char *test_log_text(void)
{
	return captured.data ? captured.data : "";
}

void test_log_reset(void)
{
	co_buf_free(&captured);
}

const char *test_token(unsigned n, char buf[65])
{
	/* a deterministic 64-hex string that differs for every n */
	uint64_t x = 0x9E3779B97F4A7C15ull * (n + 1);
	for (int i = 0; i < 4; i++) {
		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9ull;
		snprintf(buf + i * 16, 17, "%016llx", (unsigned long long)x);
	}
	return buf;
}

int test_shell(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *test_run_capture(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	co_buf out = {0};
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		co_buf_put(&out, buf, n);
	int st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out.data ? out.data : strdup("");
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	co_buf b = {0};
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		co_buf_put(&b, buf, n);
	fclose(f);
	if (len)
		*len = b.len;
	return b.data ? b.data : strdup("");
}

const char *test_cutover_bin;

int test_cutover(const test_env *e, char **out, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "CUTOVER_JSON_ROOT='%s' DATABASE_URL='%s' '%s' %s %s", e->root, e->conninfo,
		 test_cutover_bin, args, strncmp(args, "--json", 6) == 0 ? "2>/dev/null" : "2>&1");
	int status;
	char *text = test_run_capture(cmd, &status);
	if (out)
		*out = text;
	else
		free(text);
	return status;
}

void test_generate(const test_env *e, const char *gen_bin, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' --out '%s' --quiet %s", gen_bin, e->root, args);
	assert_int_equal(test_shell(cmd), 0);
}

long long test_count(const test_env *e, const char *sql)
{
	char *v = test_sql_value(e, sql);
	long long n = v ? atoll(v) : -1;
	free(v);
	return n;
}

int test_manifest_int(const test_env *e, const char *file, const char *obj, const char *field)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", e->root, file);
	char *text = test_read_file(path, NULL);
	cJSON *m = cJSON_Parse(text);
	free(text);
	const cJSON *o = obj ? cJSON_GetObjectItem(m, obj) : m;
	const cJSON *v = cJSON_GetObjectItem(o, field);
	if (!cJSON_IsNumber(v))
		fail_msg("%s: no number at %s.%s", path, obj ? obj : "", field);
	int n = v->valueint;
	cJSON_Delete(m);
	return n;
}

void test_expect_no_drift(const cutover_stats *st, cutover_stage stage)
{
	if (st->mismatches || st->secondary_failures)
		fprintf(stderr, "library reports:\n%s", test_log_text());
	assert_int_equal(st->mismatches, 0);
	assert_int_equal(st->secondary_failures, 0);
	assert_int_equal(st->journaled, 0);
	if (cutover_stage_describe(stage)->compares_reads)
		assert_true(st->reads_compared > 0);
	else
		assert_int_equal(st->reads_compared, 0);
}

char *test_cutover_expect(const test_env *e, int expect, const char *args)
{
	char *out = NULL;
	int rc = test_cutover(e, &out, args);
	if (rc != expect)
		fprintf(stderr, "cutover %s: exit %d, expected %d\n%s\n", args, rc, expect, out);
	assert_int_equal(rc, expect);
	return out;
}

void test_unset_stage_flags(void)
{
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		unsetenv(cutover_domain_flag((cutover_domain)d));
	unsetenv("CUTOVER_FLAG_PREFIX");
}

static void store_opened(const char *what, int rc, const cutover_error *err)
{
	if (rc != CUTOVER_OK)
		fail_msg("open the %s store: %s (%s)", what, err->message, err->hint);
}

void test_stores_open(const test_env *e, test_stores *s)
{
	cutover_error err;
	memset(s, 0, sizeof *s);
	store_opened("json identity", cutover_identity_json(&s->ij, e->root, NULL, &err), &err);
	store_opened("postgres identity", cutover_identity_postgres(&s->ip, e->conninfo, &err), &err);
	store_opened("json profile", cutover_profile_json(&s->pj, e->root, NULL, &err), &err);
	store_opened("postgres profile", cutover_profile_postgres(&s->pp, e->conninfo, &err), &err);
	store_opened("json reports", cutover_reports_json(&s->rj, e->root, NULL, &err), &err);
	store_opened("postgres reports", cutover_reports_postgres(&s->rp, e->conninfo, &err), &err);
	store_opened("json telemetry", cutover_telemetry_json(&s->tj, e->root, NULL, &err), &err);
	store_opened("postgres telemetry", cutover_telemetry_postgres(&s->tp, e->conninfo, &err), &err);
}

void test_stores_close(test_stores *s)
{
	cutover_identity_free(s->ij);
	cutover_identity_free(s->ip);
	cutover_profile_free(s->pj);
	cutover_profile_free(s->pp);
	cutover_reports_free(s->rj);
	cutover_reports_free(s->rp);
	cutover_telemetry_free(s->tj);
	cutover_telemetry_free(s->tp);
	memset(s, 0, sizeof *s);
}
