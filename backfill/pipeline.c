/* pipeline.c — one table's batches on their way to the loader (see pipeline.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opkit.h"
#include "pipeline.h"

int co_run_env_open(co_run_env *env, const op_opts *o, cutover_domain d, const co_load_spec *prepare,
		    co_load_mode mode, bool verify, cutover_error *err)
{
	memset(env, 0, sizeof(*env));
	env->mode = mode;
	env->verify = verify;
	env->max_print = o->max_print;
	int rc = CUTOVER_OK;
	if (o->shared_pg) {
		env->pg = o->shared_pg;
		env->pg_shared = true;
	} else {
		rc = co_pg_connect(&env->pg, o->st->database_url, err);
	}
	co_seq_health h[8];
	size_t nh;
	if (rc == CUTOVER_OK) /* also proves the schema is there (hint: cutover migrate) */
		rc = co_pg_sequence_health(env->pg, d, h, sizeof(h) / sizeof(h[0]), &nh, err);
	if (rc == CUTOVER_OK)
		rc = op_take_lock(env->pg, d, o->no_wait, err);
	if (rc == CUTOVER_OK)
		rc = co_load_prepare(env->pg, prepare, err);
	if (rc == CUTOVER_OK)
		rc = co_rejects_open(&env->rejects, verify ? NULL : o->rejects_dir, d, err);
	return rc;
}

void co_run_env_close(co_run_env *env)
{
	cutover_error ignore;
	co_rejects_close(env->rejects, &ignore);
	if (!env->pg_shared)
		co_pg_close(env->pg);
	env->rejects = NULL;
	env->pg = NULL;
}

void co_run_init(co_run *r, co_run_env *env, const co_load_spec *spec, const char *file, const char *collection,
		 size_t batch_size)
{
	memset(r, 0, sizeof(*r));
	r->env = env;
	r->spec = spec;
	r->file = file;
	r->collection = collection;
	r->batch_size = batch_size ? batch_size : 1;
	r->flight = -1;
}

void co_run_free(co_run *r)
{
	for (int i = 0; i < 2; i++) {
		co_batch_free(&r->slots[i].batch);
		free(r->slots[i].meta);
		co_buf_free(&r->slots[i].raw);
	}
	memset(r->slots, 0, sizeof(r->slots));
}

co_batch *co_run_batch(co_run *r)
{
	return &r->slots[r->fill].batch;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int remember(co_run_slot *s, uint64_t pos, const co_scan_item *it, const char *file, const char *key,
		    const uint64_t *children)
{
	if (s->nmeta == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		co_run_meta *m = realloc(s->meta, cap * sizeof(*m));
		if (!m)
			return CUTOVER_EINTERNAL;
		s->meta = m;
		s->cap = cap;
	}
	co_run_meta *m = &s->meta[s->nmeta++];
	m->pos = pos;
	m->position = it->position;
	m->offset = it->offset;
	m->line = it->line;
	m->bytes_at = s->raw.len;
	m->len = it->len;
	if (children)
		memcpy(m->children, children, sizeof(m->children));
	else
		memset(m->children, 0, sizeof(m->children));
	copy_text(m->file, sizeof(m->file), file);
	copy_text(m->key, sizeof(m->key), key);
	co_buf_put(&s->raw, it->bytes, it->len);
	return s->raw.failed ? CUTOVER_EINTERNAL : CUTOVER_OK;
}

/* Records are remembered in the order of their staging keys. */
static const co_run_meta *meta_of(const co_run_slot *s, int64_t pos)
{
	size_t lo = 0, hi = s->nmeta;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((int64_t)s->meta[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nmeta && (int64_t)s->meta[lo].pos == pos ? &s->meta[lo] : NULL;
}

/* "identity/users.json record 7 (line 8, id 3)" or "telemetry/events/d.ndjson line 31 (id 9)". */
static void where(char *buf, size_t len, const char *file, bool ndjson, uint64_t position, uint64_t line,
		  const char *key)
{
	bool redundant = !*key || strncmp(key, "record ", 7) == 0 || strncmp(key, "line ", 5) == 0;
	if (ndjson)
		snprintf(buf, len, "%s line %llu%s%s%s", file, (unsigned long long)line, redundant ? "" : " (",
			 redundant ? "" : key, redundant ? "" : ")");
	else
		snprintf(buf, len, "%s record %llu (line %llu%s%s)", file, (unsigned long long)position,
			 (unsigned long long)line, redundant ? "" : ", ", redundant ? "" : key);
}

int co_run_reject(co_run *r, const char *file, const co_scan_item *it, const char *key, const char *reason,
		  cutover_error *err)
{
	r->walk_rejects++;
	if (r->env->printed++ < r->env->max_print) {
		char at[512];
		where(at, sizeof(at), file ? file : r->file, !r->collection, it->position, it->line, key);
		fprintf(stderr, "  reject: %s: %s\n", at, reason);
	}
	return co_rejects_add(r->env->rejects, file ? file : r->file, r->collection, it, key, reason, err);
}

/* The loader's report of a record it did not insert. */
static int on_report(void *ud, int64_t pos, const char *state, const char *detail, cutover_error *err)
{
	co_run *r = ud;
	co_run_env *env = r->env;
	const co_run_meta *m = meta_of(r->cur, pos);
	if (!m)
		return co_err(err, CUTOVER_EINTERNAL, "%s: the loader reported an unknown record %lld", r->spec->what,
			      (long long)pos);
	bool rejected = strcmp(state, "reject") == 0;
	for (int k = 0; k < CO_RUN_CHILDREN; k++) {
		r->children_not_new[k] += m->children[k];
		if (rejected)
			r->children_rejected[k] += m->children[k];
	}
	bool differ = strcmp(state, "differ") == 0;
	if ((rejected && env->verify) || (!rejected && !differ))
		return CUTOVER_OK; /* a verify reject is counted; the backfill kept it with its bytes */
	char at[512];
	where(at, sizeof(at), m->file, !r->collection, m->position, m->line, m->key);
	if (differ) {
		if (r->differ_printed++ < (uint64_t)env->max_print)
			fprintf(stderr, "  %s: %s differs in postgres: %s\n", env->verify ? "mismatch" : "left alone", at,
				detail);
		return CUTOVER_OK;
	}
	if (env->printed++ < env->max_print)
		fprintf(stderr, "  reject: %s: %s\n", at, detail);
	co_scan_item it = {.kind = CO_SCAN_RECORD, .bytes = r->cur->raw.data + m->bytes_at, .len = m->len,
			   .position = m->position, .offset = m->offset, .line = m->line};
	return co_rejects_add(env->rejects, m->file, r->collection, &it, m->key, detail, err);
}

static void slot_reset(co_run_slot *s)
{
	co_batch_reset(&s->batch);
	s->nmeta = 0;
	s->raw.len = 0;
}

/* Collect the batch in flight, if any. */
static int land(co_run *r, cutover_error *err)
{
	if (r->flight < 0)
		return CUTOVER_OK;
	co_run_slot *s = &r->slots[r->flight];
	r->cur = s;
	int rc = co_load_finish(r->env->pg, r->spec, &s->batch, on_report, r, &r->counts, err);
	slot_reset(s);
	r->flight = -1;
	return rc;
}

int co_run_flush(co_run *r, cutover_error *err)
{
	co_run_slot *s = &r->slots[r->fill];
	if (s->batch.groups == 0)
		return CUTOVER_OK;
	int rc = land(r, err);
	if (rc)
		return rc;
	r->cur = s;
	if (r->env->mode == CO_LOAD_APPLY) {
		/* sent without waiting: Postgres loads it while the walk builds the next */
		rc = co_load_start(r->env->pg, r->spec, &s->batch, err);
		if (rc == CUTOVER_OK) {
			r->flight = r->fill;
			r->fill = 1 - r->fill;
		}
		return rc;
	}
	rc = co_load_batch(r->env->pg, r->spec, &s->batch, r->env->mode, on_report, r, &r->counts, err);
	if (rc == CUTOVER_OK && r->classified)
		rc = r->classified(r->ud, err);
	slot_reset(s);
	return rc;
}

int co_run_drain(co_run *r, cutover_error *err)
{
	int rc = co_run_flush(r, err);
	return rc ? rc : land(r, err);
}

int co_run_added(co_run *r, uint64_t pos, const co_scan_item *it, const char *file, const char *key,
		 const uint64_t *children, cutover_error *err)
{
	co_run_slot *s = &r->slots[r->fill];
	s->batch.groups++;
	for (int k = 0; children && k < CO_RUN_CHILDREN; k++)
		r->children_total[k] += children[k];
	if (remember(s, pos, it, file ? file : r->file, key, children))
		return co_err_oom(err);
	if (++r->env->since_pump % 64 == 0 && r->flight >= 0)
		co_pg_copy_pump(r->env->pg);
	return s->batch.groups >= r->batch_size ? co_run_flush(r, err) : CUTOVER_OK;
}
