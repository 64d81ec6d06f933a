/* pg_sequences.c — are the id sequences ahead of the ids already stored?
 *
 * Backfill inserts rows with their legacy ids (COPY), which does not move a
 * table's identity sequence; once Postgres assigns ids itself, a
 * sequence still at or below max(id) would hand out a taken id. Each domain
 * lists its (table, sequence) pairs in a static table below, with the
 * constant SQL that reads them (names are our own constants, never values):
 * a later domain adds rows, not code. The repair statement puts the sequence
 * just past max(id), which is also right for an empty table.
 *
 * The check runs while other processes write: health_of reads max(id)
 * before the sequence (why that order is safe is explained there).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

typedef struct seq_def {
	const char *table;
	const char *sequence;
	const char *read_sequence_sql; /* last_value, is_called */
	const char *read_max_sql;      /* coalesce(max(id), 0) */
	const char *repair_sql;        /* setval just past max(id); right for empty tables too */
} seq_def;

/* All SQL here is assembled at compile time from our own table names. */
#define SEQ_DEF(table, seq)                                                                          \
	{ table, seq, "SELECT last_value, is_called FROM " seq, "SELECT coalesce(max(id), 0) FROM " table, \
	  "SELECT setval('" seq "', (SELECT coalesce(max(id), 0) + 1 FROM " table "), false);" }

static const seq_def identity_seqs[] = {
	SEQ_DEF("identity.users", "identity.users_id_seq"),
};

static const seq_def reports_seqs[] = {
	SEQ_DEF("operations.reports", "operations.reports_id_seq"),
};

static const seq_def profile_seqs[] = {
	SEQ_DEF("content.portfolio_certifications", "content.portfolio_certifications_id_seq"),
	SEQ_DEF("content.portfolio_education", "content.portfolio_education_id_seq"),
};

static const seq_def telemetry_seqs[] = {
	SEQ_DEF("operations.incidents", "operations.incidents_id_seq"),
	SEQ_DEF("operations.telemetry_events", "operations.telemetry_events_id_seq"),
};

static const struct {
	const seq_def *defs;
	size_t n;
} domain_seqs[CUTOVER_DOMAIN_COUNT] = {
	[CUTOVER_DOMAIN_IDENTITY] = { identity_seqs, sizeof identity_seqs / sizeof identity_seqs[0] },
	[CUTOVER_DOMAIN_PROFILE] = { profile_seqs, sizeof profile_seqs / sizeof profile_seqs[0] },
	[CUTOVER_DOMAIN_REPORTS] = { reports_seqs, sizeof reports_seqs / sizeof reports_seqs[0] },
	[CUTOVER_DOMAIN_TELEMETRY] = { telemetry_seqs, sizeof telemetry_seqs / sizeof telemetry_seqs[0] },
};

static int read_one(co_pg *pg, const char *sql, PGresult **out, cutover_error *err)
{
	*out = co_pg_exec(pg, "sequence health", sql, 0, NULL, err);
	if (!*out)
		return err ? err->code : CUTOVER_EINTERNAL;
	if (PQntuples(*out) != 1 || PQnfields(*out) < 1) {
		PQclear(*out);
		*out = NULL;
		return co_err(err, CUTOVER_EINTERNAL, "sequence health: unexpected answer from postgres");
	}
	return CUTOVER_OK;
}

/* max(id) first, then the sequence, in two statements: a row another
 * process commits meanwhile can never make a healthy sequence look behind.
 *
 * The max statement's snapshot (taken when it starts, or earlier inside a
 * caller's transaction) holds only rows committed before it, plus the
 * caller's own. Every writer here moves the sequence past a row's id before
 * that row commits: an id from nextval was drawn from it, and an explicit id
 * (create with an id, put = replication) is followed in the same
 * transaction, before COMMIT, by a setval past it (SQL_ADVANCE_SEQ in
 * pg_identity.c, pg_reports.c, pg_profile.c, pg_telemetry.c). nextval and
 * setval are not transactional: they take effect at once, and reading the
 * sequence shows its current value whatever the snapshot (also inside a
 * REPEATABLE READ transaction). So every id
 * the max saw had already moved the sequence past it when the sequence is
 * read afterwards. A row committed after the max's snapshot is simply not
 * in it, and is looked at by the next check, as if it had been committed
 * after this one. Only rows stored with explicit ids and no setval (a
 * backfill's COPY) leave the sequence behind, and those are what the check
 * is for.
 *
 * The other order (sequence, then max) is wrong: a nextval drawn and
 * committed between the two reads is in the max but not in the sequence
 * value read, and a healthy sequence looks behind. */
static int health_of(co_pg *pg, const seq_def *d, co_seq_health *h, cutover_error *err)
{
	PGresult *seq = NULL, *max = NULL;
	int64_t last;
	bool called;
	int rc;

	rc = read_one(pg, d->read_max_sql, &max, err);
	if (!rc)
		rc = read_one(pg, d->read_sequence_sql, &seq, err);
	if (rc) {
		PQclear(max);
		co_err_detail(err, "sequence %s of %s", d->sequence, d->table);
		return rc;
	}
	last = strtoll(PQgetvalue(seq, 0, 0), NULL, 10);
	called = strcmp(PQgetvalue(seq, 0, 1), "t") == 0;
	h->table = d->table;
	h->sequence = d->sequence;
	h->repair_sql = d->repair_sql;
	h->max_id = strtoll(PQgetvalue(max, 0, 0), NULL, 10);
	h->next_value = called ? last + 1 : last;
	h->behind = h->next_value <= h->max_id;
	PQclear(seq);
	PQclear(max);
	return CUTOVER_OK;
}

int co_pg_sequence_health(co_pg *pg, cutover_domain d, co_seq_health *out, size_t cap, size_t *n,
                          cutover_error *err)
{
	size_t i, want;
	int rc;

	if (n)
		*n = 0;
	if ((int)d < 0 || d >= CUTOVER_DOMAIN_COUNT)
		return co_err(err, CUTOVER_EINVALID, "sequence health: unknown domain %d", (int)d);
	want = domain_seqs[d].n;
	if (want > cap || (want > 0 && !out))
		return co_err(err, CUTOVER_EINTERNAL, "sequence health: room for %zu sequences, %s has %zu", cap,
		              cutover_domain_name(d), want);
	for (i = 0; i < want; i++) {
		rc = health_of(pg, &domain_seqs[d].defs[i], &out[i], err);
		if (rc)
			return rc;
	}
	if (n)
		*n = want;
	return CUTOVER_OK;
}

const char *co_pg_setval_sql(const co_seq_health *h, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	snprintf(buf, len, "%s", h && h->repair_sql ? h->repair_sql : "");
	return buf;
}

const char *co_pg_repair_sql(const char *table)
{
	for (size_t d = 0; d < CUTOVER_DOMAIN_COUNT; d++)
		for (size_t i = 0; i < domain_seqs[d].n; i++)
			if (strcmp(domain_seqs[d].defs[i].table, table) == 0)
				return domain_seqs[d].defs[i].repair_sql;
	return "";
}
