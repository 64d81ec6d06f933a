/* telemetry_router.c — telemetry in a dual stage: two stores, one interface.
 *
 * The router fills the same cutover_telemetry table as the backends. Writes
 * go to the primary (authoritative) store first; if that fails the call
 * fails and the secondary is not touched. The secondary then receives the
 * records exactly as the primary now holds them (put_events /
 * put_incident): ids the primary assigned, the state and resolved_at the
 * primary's state machine produced, the canonical payload. Replicating the
 * result rather than replaying the operation makes a second write
 * idempotent, and a transition replayed on a secondary that missed an
 * earlier one still converges. A failed second write is journaled (one key
 * per event or incident) and never fails the call. Reads go to the primary
 * only, or, in stages that compare, to both, with differences reported by
 * field; the primary's answer is returned either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "telemetry_int.h"

typedef struct telemetry_router {
	cutover_telemetry base;
	co_router r;
	cutover_telemetry *primary, *secondary;
} telemetry_router;

#define R(s) ((telemetry_router *)(s))

static const char *id_key(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)id);
	return buf;
}

static void second_put_events(telemetry_router *tr, const char *op, const cutover_event *ev, size_t n)
{
	if (!tr->r.stage->writes_both || n == 0)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (tr->secondary->put_events(tr->secondary, ev, n, &e2) == CUTOVER_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		char key[32];
		id_key(ev[i].id, key, sizeof key);
		co_router_second_write_failed(&tr->r, op, "event", key, key, &e2);
	}
}

static void second_put_incident(telemetry_router *tr, const char *op, const cutover_incident *inc)
{
	if (!tr->r.stage->writes_both)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (tr->secondary->put_incident(tr->secondary, inc, &e2) != CUTOVER_OK) {
		char key[32];
		id_key(inc->id, key, sizeof key);
		co_router_second_write_failed(&tr->r, op, "incident", key, key, &e2);
	}
}

/* --- writes --------------------------------------------------------------- */

static int r_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in, size_t n,
			   cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->append_events(tr->primary, out, in, n, err);
	if (rc == CUTOVER_OK)
		second_put_events(tr, "append_events", out->items, out->n);
	return rc;
}

static int r_create_incident(cutover_telemetry *s, cutover_incident **out, const cutover_incident *in,
			     cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->create_incident(tr->primary, out, in, err);
	if (rc == CUTOVER_OK)
		second_put_incident(tr, "create_incident", *out);
	return rc;
}

static int r_transition_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, const char *to,
				 cutover_ts now, cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->transition_incident(tr->primary, out, id, to, now, err);
	if (rc == CUTOVER_OK)
		second_put_incident(tr, "transition_incident", *out);
	return rc;
}

static int r_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id, int64_t incident_id,
			cutover_error *err)
{
	telemetry_router *tr = R(s);
	cutover_event *linked = NULL;
	int rc = tr->primary->link_event(tr->primary, &linked, event_id, incident_id, err);
	if (rc != CUTOVER_OK)
		return rc;
	second_put_events(tr, "link_event", linked, 1);
	if (out)
		*out = linked;
	else
		cutover_event_free(linked);
	return CUTOVER_OK;
}

static int r_put_events(cutover_telemetry *s, const cutover_event *ev, size_t n, cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->put_events(tr->primary, ev, n, err);
	if (rc == CUTOVER_OK)
		second_put_events(tr, "put_events", ev, n);
	return rc;
}

static int r_put_incident(cutover_telemetry *s, const cutover_incident *inc, cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->put_incident(tr->primary, inc, err);
	if (rc == CUTOVER_OK)
		second_put_incident(tr, "put_incident", inc);
	return rc;
}

/* --- reads ---------------------------------------------------------------- */

static int r_get_incident(cutover_telemetry *s, cutover_incident **out, int64_t id, cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->get_incident(tr->primary, out, id, err);
	if (!tr->r.stage->compares_reads)
		return rc;
	cutover_incident *other = NULL;
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = tr->secondary->get_incident(tr->secondary, &other, id, &e2);
	char fields[256] = "", key[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK)
		co_incident_diff(*out, other, fields, sizeof fields);
	co_router_compared(&tr->r, "get_incident", id_key(id, key, sizeof key), rc, rc2, fields, &e2);
	cutover_incident_free(other);
	return rc;
}

/* "from..to region=x severity=y attack_type=z incident=n after=cursor":
 * what a page report names. Filters are not secrets. */
static void query_key(const cutover_event_query *q, char *buf, size_t len)
{
	char a[40] = "-", b[40] = "-";
	if (q->from != CUTOVER_TS_NULL)
		cutover_ts_format(q->from, a, sizeof a);
	if (q->to != CUTOVER_TS_NULL)
		cutover_ts_format(q->to, b, sizeof b);
	snprintf(buf, len, "%s..%s%s%.40s%s%.12s%s%.40s incident=%lld after=%.40s limit=%zu", a, b,
		 q->region ? " region=" : "", q->region ? q->region : "", q->severity ? " severity=" : "",
		 q->severity ? q->severity : "", q->attack_type ? " attack_type=" : "",
		 q->attack_type ? q->attack_type : "", (long long)q->incident_id, q->cursor ? q->cursor : "",
		 q->limit);
}

static int r_query_events(cutover_telemetry *s, cutover_event_page *out, const cutover_event_query *q,
			  cutover_error *err)
{
	telemetry_router *tr = R(s);
	int rc = tr->primary->query_events(tr->primary, out, q, err);
	if (!tr->r.stage->compares_reads)
		return rc;
	cutover_event_page other = {0};
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = tr->secondary->query_events(tr->secondary, &other, q, &e2);
	char fields[400] = "", key[300];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK) {
		if (out->n != other.n) {
			snprintf(fields, sizeof fields, "count(%zu vs %zu)", out->n, other.n);
		} else {
			for (size_t i = 0; i < out->n; i++) {
				char f[256];
				if (co_event_diff(&out->items[i], &other.items[i], f, sizeof f)) {
					snprintf(fields, sizeof fields, "item %zu (id %lld): %s", i,
						 (long long)out->items[i].id, f);
					break;
				}
			}
			if (!fields[0] && strcmp(out->next_cursor, other.next_cursor) != 0)
				snprintf(fields, sizeof fields, "next_cursor");
		}
	}
	query_key(q, key, sizeof key);
	co_router_compared(&tr->r, "query_events", key, rc, rc2, fields, &e2);
	cutover_event_page_free(&other);
	return rc;
}

/* --- life cycle ------------------------------------------------------------ */

static void r_stats(cutover_telemetry *s, cutover_stats *out)
{
	*out = R(s)->r.stats;
}

static void r_free(cutover_telemetry *s)
{
	telemetry_router *tr = R(s);
	cutover_telemetry_free(tr->primary);
	cutover_telemetry_free(tr->secondary);
	co_router_fini(&tr->r);
	free(tr);
}

int co_telemetry_router(cutover_telemetry **out, cutover_stage stage, cutover_telemetry *json, cutover_telemetry *pg,
			co_journal *journal, cutover_error *err)
{
	*out = NULL;
	telemetry_router *tr = calloc(1, sizeof(*tr));
	const cutover_stage_info *info = cutover_stage_describe(stage);
	if (!tr || !info || !json || !pg) {
		free(tr);
		cutover_telemetry_free(json);
		cutover_telemetry_free(pg);
		co_journal_close(journal);
		return tr ? co_err(err, CUTOVER_EINTERNAL, "telemetry router needs a stage and both stores") : co_err_oom(err);
	}
	tr->base = (cutover_telemetry){
		.version = CUTOVER_TELEMETRY_VERSION,
		.kind = "router",
		.append_events = r_append_events,
		.query_events = r_query_events,
		.create_incident = r_create_incident,
		.get_incident = r_get_incident,
		.transition_incident = r_transition_incident,
		.link_event = r_link_event,
		.put_events = r_put_events,
		.put_incident = r_put_incident,
		.stats = r_stats,
		.free = r_free,
	};
	co_router_init(&tr->r, CUTOVER_DOMAIN_TELEMETRY, stage, journal);
	tr->primary = info->pg_authoritative ? pg : json;
	tr->secondary = info->pg_authoritative ? json : pg;
	*out = &tr->base;
	return CUTOVER_OK;
}
