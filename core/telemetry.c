/* telemetry.c — what an app calls, and the telemetry records.
 *
 * The cutover_telemetry_* functions are the only door into a backend: they
 * validate and normalise input once (severities and states checked, UTF-8
 * checked, ids at most 2^53, timestamps within years 0001-9999, text lengths
 * bounded, the payload turned into its canonical text, limits and cursors
 * checked, "now" resolved), so both stores and both halves of a dual stage
 * see the same values and give the same answers. What both backends must
 * agree on is decided here once: the canonical payload, the incident state
 * machine, how two records are compared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_int.h"

/* --- records ----------------------------------------------------------- */

void co_event_clear(cutover_event *e)
{
	if (!e)
		return;
	free(e->source_ip);
	free(e->region);
	free(e->node);
	free(e->attack_type);
	free(e->severity);
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

CUTOVER_API void cutover_event_free(cutover_event *e)
{
	co_event_clear(e);
	free(e);
}

CUTOVER_API void cutover_event_list_free(cutover_event_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		co_event_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

CUTOVER_API void cutover_event_page_free(cutover_event_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		co_event_clear(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
	p->next_cursor[0] = '\0';
}

CUTOVER_API void cutover_incident_free(cutover_incident *i)
{
	if (!i)
		return;
	free(i->title);
	free(i->state);
	free(i->severity);
	free(i);
}

bool co_event_copy(cutover_event *d, const cutover_event *e)
{
	*d = *e;
	d->source_ip = d->region = d->node = d->attack_type = d->severity = d->payload = NULL;
	if (co_dup_str(&d->source_ip, e->source_ip) && co_dup_str(&d->region, e->region) && co_dup_str(&d->node, e->node) &&
	    co_dup_str(&d->attack_type, e->attack_type) && co_dup_str(&d->severity, e->severity) &&
	    co_dup_str(&d->payload, e->payload))
		return true;
	co_event_clear(d);
	return false;
}

cutover_event *co_event_dup(const cutover_event *e)
{
	cutover_event *d = malloc(sizeof(*d));
	if (d && !co_event_copy(d, e)) {
		free(d);
		return NULL;
	}
	return d;
}

cutover_incident *co_incident_dup(const cutover_incident *i)
{
	cutover_incident *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	*d = *i;
	d->title = d->state = d->severity = NULL;
	if (!co_dup_str(&d->title, i->title) || !co_dup_str(&d->state, i->state) || !co_dup_str(&d->severity, i->severity)) {
		cutover_incident_free(d);
		return NULL;
	}
	return d;
}

static void diff_add(char *buf, size_t len, int *n, const char *field)
{
	size_t used = strlen(buf);
	snprintf(buf + used, len - used, "%s%s", *n ? "," : "", field);
	(*n)++;
}

/* Payloads as JSON values: equal text is equal; otherwise parse and compare. */
static bool payload_same(const char *a, const char *b)
{
	if (co_streq(a, b))
		return true;
	if (!a || !b)
		return false;
	cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
	bool same = x && y && cJSON_Compare(x, y, true);
	cJSON_Delete(x);
	cJSON_Delete(y);
	return same;
}

int co_event_diff(const cutover_event *a, const cutover_event *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
#define STR(f) if (!co_streq(a->f, b->f)) diff_add(buf, len, &n, #f)
#define VAL(f) if (a->f != b->f) diff_add(buf, len, &n, #f)
	VAL(id);
	VAL(occurred_at);
	STR(source_ip);
	STR(region);
	STR(node);
	STR(attack_type);
	STR(severity);
	if (!payload_same(a->payload, b->payload))
		diff_add(buf, len, &n, "payload");
	VAL(incident_id);
	return n;
}

int co_incident_diff(const cutover_incident *a, const cutover_incident *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
	VAL(id);
	STR(title);
	STR(state);
	STR(severity);
	VAL(opened_at);
	VAL(resolved_at);
	VAL(updated_at);
#undef STR
#undef VAL
	return n;
}

bool co_incident_newer(const cutover_incident *a, const cutover_incident *b)
{
	if (co_replicate_exact_on())
		return false; /* reconcile: the authoritative record replaces any */
	return a->updated_at > b->updated_at; /* CUTOVER_TS_NULL is INT64_MIN: older than any */
}

int co_event_cmp(const cutover_event *a, const cutover_event *b)
{
	if (a->occurred_at != b->occurred_at)
		return a->occurred_at < b->occurred_at ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* --- enums and the state machine ------------------------------------------ */

static const char *const SEVERITIES[] = {"low", "medium", "high", "critical"};

bool co_severity_valid(const char *s)
{
	for (size_t i = 0; s && i < sizeof SEVERITIES / sizeof *SEVERITIES; i++)
		if (strcmp(s, SEVERITIES[i]) == 0)
			return true;
	return false;
}

/* The moves, in one table: from -> to. */
static const struct {
	const char *from, *to;
} MOVES[] = {
	{"open", "investigating"},
	{"investigating", "contained"},
	{"contained", "resolved"},
	{"resolved", "open"},
};

bool co_incident_state_valid(const char *s)
{
	for (size_t i = 0; s && i < sizeof MOVES / sizeof *MOVES; i++)
		if (strcmp(s, MOVES[i].from) == 0)
			return true;
	return false;
}

CUTOVER_API bool cutover_incident_move_allowed(const char *from, const char *to)
{
	for (size_t i = 0; from && to && i < sizeof MOVES / sizeof *MOVES; i++)
		if (strcmp(from, MOVES[i].from) == 0 && strcmp(to, MOVES[i].to) == 0)
			return true;
	return false;
}

int co_incident_move_check(int64_t id, const char *from, const char *to, cutover_error *err)
{
	if (cutover_incident_move_allowed(from, to))
		return CUTOVER_OK;
	char allowed[128] = "";
	for (size_t i = 0; from && i < sizeof MOVES / sizeof *MOVES; i++)
		if (strcmp(from, MOVES[i].from) == 0)
			snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", allowed[0] ? ", " : "",
				 MOVES[i].to);
	co_err(err, CUTOVER_EINVALID,
	       "transition incident %lld: cannot move from \"%s\" to \"%s\"; it is %s, and the allowed move is to %s",
	       (long long)id, from ? from : "?", to ? to : "?", from ? from : "?", allowed[0] ? allowed : "(none)");
	co_err_detail(err, "incidents move open -> investigating -> contained -> resolved, and resolved -> open");
	co_err_hint(err, "from \"%s\" move it to: %s", from ? from : "?", allowed[0] ? allowed : "(none)");
	return CUTOVER_EINVALID;
}

/* --- the canonical payload -------------------------------------------------- */

/* Does a string in this JSON text contain the escape \u0000? (cJSON would
 * cut the string there without a word.) */
static bool nul_escape(const char *p)
{
	bool in_str = false;
	for (; *p; p++) {
		if (!in_str) {
			in_str = *p == '"';
		} else if (*p == '\\') {
			if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
				return true;
			if (p[1])
				p++;
		} else if (*p == '"') {
			in_str = false;
		}
	}
	return false;
}

/* jsonb's order of object keys: shorter first, then bytewise. */
static int key_cmp(const void *pa, const void *pb)
{
	const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
	size_t la = strlen(a->string), lb = strlen(b->string);
	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(a->string, b->string, la);
}

/* Check v, and with sort put its objects' keys in order, in place. */
static int canon_value(cJSON *v, int depth, bool sort, cutover_error *err)
{
	if (depth > 200)
		return co_err(err, CUTOVER_EINVALID, "payload: nested more than 200 levels deep");
	if (cJSON_IsString(v)) {
		if (!co_utf8_valid(v->valuestring))
			return co_err(err, CUTOVER_EINVALID, "payload: a string is not valid UTF-8");
		return CUTOVER_OK;
	}
	if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble))
			return co_err(err, CUTOVER_EINVALID, "payload: a number is too large to hold (beyond 1.8e308)");
		if (sort && v->valuedouble == 0)
			cJSON_SetNumberValue(v, 0.0); /* numeric (jsonb) has no -0 */
		return CUTOVER_OK;
	}
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return CUTOVER_OK;
	size_t n = 0;
	for (cJSON *c = v->child; c; c = c->next) {
		int rc = canon_value(c, depth + 1, sort, err);
		if (rc)
			return rc;
		if (cJSON_IsObject(v) && (!c->string || !co_utf8_valid(c->string)))
			return co_err(err, CUTOVER_EINVALID, "payload: a key is not valid UTF-8");
		n++;
	}
	if (!sort || !cJSON_IsObject(v) || n < 2)
		return CUTOVER_OK;
	cJSON **kids = malloc(n * sizeof(*kids));
	if (!kids)
		return co_err_oom(err);
	size_t i = 0;
	for (cJSON *c = v->child; c; c = c->next)
		kids[i++] = c;
	qsort(kids, n, sizeof(*kids), key_cmp);
	for (i = 0; i + 1 < n; i++) {
		if (key_cmp(&kids[i], &kids[i + 1]) == 0) {
			co_err(err, CUTOVER_EINVALID, "payload: key \"%.60s\" appears twice in one object", kids[i]->string);
			co_err_hint(err, "jsonb would keep only the last one; send each key once");
			free(kids);
			return CUTOVER_EINVALID;
		}
	}
	/* relink in sorted order (cJSON: prev of the first child is the last) */
	for (i = 0; i < n; i++) {
		kids[i]->next = i + 1 < n ? kids[i + 1] : NULL;
		kids[i]->prev = i ? kids[i - 1] : kids[n - 1];
	}
	v->child = kids[0];
	free(kids);
	return CUTOVER_OK;
}

int co_payload_canonical_json(cJSON *obj, char **out, cutover_error *err)
{
	*out = NULL;
	if (!cJSON_IsObject(obj))
		return co_err(err, CUTOVER_EINVALID, "payload: must be a JSON object");
	int rc = canon_value(obj, 0, true, err);
	if (rc)
		return rc;
	char *text = cJSON_PrintUnformatted(obj);
	if (!text)
		return co_err_oom(err);
	if (strlen(text) > CUTOVER_PAYLOAD_MAX) {
		cJSON_free(text);
		return co_err(err, CUTOVER_EINVALID, "payload: longer than %d bytes", CUTOVER_PAYLOAD_MAX);
	}
	/* hand out memory the caller frees with free() */
	*out = co_strdup(text);
	cJSON_free(text);
	return *out ? CUTOVER_OK : co_err_oom(err);
}

int co_payload_check_json(const cJSON *obj, cutover_error *err)
{
	if (!cJSON_IsObject(obj))
		return co_err(err, CUTOVER_EINVALID, "payload: must be a JSON object");
	return canon_value((cJSON *)obj, 0, false, err); /* without sort nothing is changed */
}

int co_payload_canonical(const char *text, char **out, cutover_error *err)
{
	*out = NULL;
	if (!text)
		text = "{}";
	if (nul_escape(text)) {
		co_err(err, CUTOVER_EINVALID, "payload: a string contains \\u0000, which Postgres cannot hold");
		co_err_hint(err, "drop the NUL character from the payload");
		return CUTOVER_EINVALID;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithOpts(text, &end, true);
	if (!j) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		co_err(err, CUTOVER_EINVALID, "payload: not valid JSON (parsing stopped at byte %zu)", at + 1);
		co_err_hint(err, "send a JSON object such as {\"rule\": \"ssh-bruteforce\"}");
		return CUTOVER_EINVALID;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		co_err(err, CUTOVER_EINVALID, "payload: must be a JSON object, not %s",
		       cJSON_IsArray(j) ? "a list" : "a single value");
		return CUTOVER_EINVALID;
	}
	int rc = co_payload_canonical_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}

/* --- validation ---------------------------------------------------------- */

static int check_text(const char *what, const char *field, const char *v, cutover_error *err)
{
	if (v && !co_utf8_valid(v))
		return co_err(err, CUTOVER_EINVALID, "%s: %s is not valid UTF-8", what, field);
	if (v && strlen(v) > CUTOVER_TELEMETRY_TEXT_MAX)
		return co_err(err, CUTOVER_EINVALID, "%s: %s is longer than %d bytes", what, field,
			      CUTOVER_TELEMETRY_TEXT_MAX);
	return CUTOVER_OK;
}

static int check_severity(const char *what, const char *sev, cutover_error *err)
{
	if (co_severity_valid(sev))
		return CUTOVER_OK;
	co_err(err, CUTOVER_EINVALID, "%s: severity \"%.40s\" is not a severity", what, sev ? sev : "(null)");
	co_err_hint(err, "valid severities: low, medium, high, critical");
	return CUTOVER_EINVALID;
}

static int check_state(const char *what, const char *state, cutover_error *err)
{
	if (co_incident_state_valid(state))
		return CUTOVER_OK;
	co_err(err, CUTOVER_EINVALID, "%s: state \"%.40s\" is not an incident state", what, state ? state : "(null)");
	co_err_hint(err, "valid states: open, investigating, contained, resolved");
	return CUTOVER_EINVALID;
}

static int check_ts(const char *what, const char *field, cutover_ts t, bool optional, cutover_error *err)
{
	if ((t == CUTOVER_TS_NULL && optional) || co_ts_in_range(t))
		return CUTOVER_OK;
	if (t == CUTOVER_TS_NULL)
		co_err(err, CUTOVER_EINVALID, "%s: %s is required", what, field);
	else
		co_err(err, CUTOVER_EINVALID, "%s: %s is outside years 0001-9999", what, field);
	co_err_hint(err, "timestamps are microseconds since 1970-01-01T00:00:00Z, from 0001-01-01 to 9999-12-31");
	return CUTOVER_EINVALID;
}

static int check_id(const char *what, const char *field, int64_t id, cutover_error *err)
{
	if (id < 0)
		return co_err(err, CUTOVER_EINVALID, "%s: %s %lld is negative", what, field, (long long)id);
	if (id > CO_ID_MAX) {
		co_err(err, CUTOVER_EINVALID, "%s: %s %lld is above 2^53", what, field, (long long)id);
		co_err_detail(err, "the legacy JSON documents store ids as numbers, exact only up to 2^53");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

static int check_handle(cutover_telemetry *s, cutover_error *err)
{
	if (!s)
		return co_err(err, CUTOVER_EINVALID, "telemetry handle is NULL");
	if (s->version != CUTOVER_TELEMETRY_VERSION)
		return co_err(err, CUTOVER_EINTERNAL, "telemetry backend \"%s\" has table version %u, expected %u",
			      s->kind ? s->kind : "?", s->version, (unsigned)CUTOVER_TELEMETRY_VERSION);
	cutover_error_clear(err);
	return CUTOVER_OK;
}

/* Validate one event and fill *e with its normalised copy (canonical payload). */
static int event_in(const cutover_event *in, size_t i, cutover_event *e, cutover_error *err)
{
	char what[64];
	snprintf(what, sizeof what, "append events: event %zu", i + 1);
	int rc;
	if ((rc = check_id(what, "id", in->id, err)) || (rc = check_id(what, "incident_id", in->incident_id, err)) ||
	    (rc = check_ts(what, "occurred_at", in->occurred_at, false, err)) ||
	    (rc = check_severity(what, in->severity, err)) || (rc = check_text(what, "source_ip", in->source_ip, err)) ||
	    (rc = check_text(what, "region", in->region, err)) || (rc = check_text(what, "node", in->node, err)) ||
	    (rc = check_text(what, "attack_type", in->attack_type, err)))
		return rc;
	char *payload = NULL;
	if ((rc = co_payload_canonical(in->payload, &payload, err))) {
		char msg[sizeof err->message];
		snprintf(msg, sizeof msg, "%s", err->message);
		co_err(err, rc, "%s: %s", what, msg);
		return rc;
	}
	cutover_event tmp = *in;
	tmp.payload = payload;
	bool ok = co_event_copy(e, &tmp);
	free(payload);
	return ok ? CUTOVER_OK : co_err_oom(err);
}

/* --- the app's calls ------------------------------------------------------ */

/* err may be NULL: give every entry point, and the backends, somewhere to write. */
#define LOCAL_ERR(err)                                 \
	cutover_error err##_local_;                        \
	if (!(err)) {                                      \
		cutover_error_clear(&err##_local_);            \
		(err) = &err##_local_;                         \
	}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

CUTOVER_API int cutover_telemetry_append_events(cutover_telemetry *s, cutover_event_list *out, const cutover_event *in,
						size_t n, cutover_error *err)
{
	LOCAL_ERR(err);
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	cutover_event_list scratch = {0};
	if (!out)
		out = &scratch;
	out->items = NULL;
	out->n = 0;
	if (n == 0)
		return CUTOVER_OK;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "append events: no events given");
	if (n > CUTOVER_APPEND_MAX) {
		co_err(err, CUTOVER_EINVALID, "append events: %zu events in one call; at most %d", n, CUTOVER_APPEND_MAX);
		co_err_hint(err, "split the batch");
		return CUTOVER_EINVALID;
	}
	cutover_event *ev = calloc(n, sizeof(*ev));
	int64_t *ids = calloc(n, sizeof(*ids));
	size_t nids = 0, done = 0;
	if (!ev || !ids) {
		rc = co_err_oom(err);
		goto out;
	}
	for (; done < n; done++) {
		if ((rc = event_in(&in[done], done, &ev[done], err)))
			goto out;
		if (in[done].id > 0)
			ids[nids++] = in[done].id;
	}
	qsort(ids, nids, sizeof(*ids), cmp_i64);
	for (size_t i = 0; i + 1 < nids; i++)
		if (ids[i] == ids[i + 1]) {
			rc = co_err(err, CUTOVER_EINVALID, "append events: event id %lld appears twice in the batch",
				    (long long)ids[i]);
			goto out;
		}
	rc = s->append_events(s, out, ev, n, err);
out:
	for (size_t i = 0; i < done; i++)
		co_event_clear(&ev[i]);
	free(ev);
	free(ids);
	cutover_event_list_free(&scratch);
	return rc;
}

CUTOVER_API int cutover_telemetry_query_events(cutover_telemetry *s, cutover_event_page *out,
					       const cutover_event_query *q, cutover_error *err)
{
	LOCAL_ERR(err);
	static const char what[] = "query events";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	out->items = NULL;
	out->n = 0;
	out->next_cursor[0] = '\0';
	if (!q)
		return co_err(err, CUTOVER_EINVALID, "%s: no query given", what);
	cutover_event_query r = *q;
	if ((rc = check_ts(what, "from", r.from, true, err)) || (rc = check_ts(what, "to", r.to, true, err)) ||
	    (rc = check_text(what, "region", r.region, err)) || (rc = check_text(what, "attack_type", r.attack_type, err)) ||
	    (rc = check_id(what, "incident_id", r.incident_id, err)))
		return rc;
	if (r.severity && (rc = check_severity(what, r.severity, err)))
		return rc;
	if (r.limit == 0)
		r.limit = CUTOVER_EVENTS_DEFAULT_LIMIT;
	if (r.limit > CUTOVER_EVENTS_MAX_LIMIT) {
		co_err(err, CUTOVER_EINVALID, "%s: limit %zu is above %d", what, r.limit, CUTOVER_EVENTS_MAX_LIMIT);
		co_err_hint(err, "page through the results with next_cursor");
		return CUTOVER_EINVALID;
	}
	cutover_ts cts;
	int64_t cid;
	bool first;
	if ((rc = co_cursor_parse(r.cursor, &cts, &cid, &first, err)))
		return rc;
	if (first)
		r.cursor = NULL;
	if (r.from != CUTOVER_TS_NULL && r.to != CUTOVER_TS_NULL && r.to <= r.from)
		return CUTOVER_OK; /* an empty range: an empty last page */
	return s->query_events(s, out, &r, err);
}

CUTOVER_API int cutover_telemetry_create_incident(cutover_telemetry *s, cutover_incident **out,
						  const cutover_incident *in, cutover_error *err)
{
	LOCAL_ERR(err);
	static const char what[] = "create incident";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	cutover_incident *scratch = NULL;
	if (!out)
		out = &scratch;
	*out = NULL;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "%s: no incident given", what);
	cutover_incident i = *in;
	if (!i.state)
		i.state = "open";
	if ((rc = check_id(what, "id", i.id, err)) || (rc = check_state(what, i.state, err)) ||
	    (rc = check_severity(what, i.severity, err)) || (rc = check_text(what, "title", i.title, err)) ||
	    (rc = check_ts(what, "opened_at", i.opened_at, true, err)) ||
	    (rc = check_ts(what, "resolved_at", i.resolved_at, true, err)))
		return rc;
	if (!i.title || !*i.title) {
		co_err(err, CUTOVER_EINVALID, "%s: title is missing or empty", what);
		co_err_hint(err, "every incident needs a title");
		return CUTOVER_EINVALID;
	}
	bool resolved = strcmp(i.state, "resolved") == 0;
	if (resolved != (i.resolved_at != CUTOVER_TS_NULL)) {
		co_err(err, CUTOVER_EINVALID, "%s: %s", what,
		       resolved ? "a resolved incident needs resolved_at" : "resolved_at is set but the state is not resolved");
		co_err_hint(err, "an incident has a resolved_at exactly when its state is \"resolved\"");
		return CUTOVER_EINVALID;
	}
	cutover_ts now = cutover_now();
	if (i.opened_at == CUTOVER_TS_NULL)
		i.opened_at = now;
	i.updated_at = now;
	rc = s->create_incident(s, out, &i, err);
	cutover_incident_free(scratch);
	return rc;
}

CUTOVER_API int cutover_telemetry_get_incident(cutover_telemetry *s, cutover_incident **out, int64_t id,
					       cutover_error *err)
{
	LOCAL_ERR(err);
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (id <= 0 || id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "incident %lld not found", (long long)id);
	return s->get_incident(s, out, id, err);
}

CUTOVER_API int cutover_telemetry_transition_incident(cutover_telemetry *s, cutover_incident **out, int64_t id,
						      const char *to_state, cutover_error *err)
{
	LOCAL_ERR(err);
	static const char what[] = "transition incident";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	cutover_incident *scratch = NULL;
	if (!out)
		out = &scratch;
	*out = NULL;
	if ((rc = check_state(what, to_state, err)))
		return rc;
	if (id <= 0 || id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "%s: incident %lld not found", what, (long long)id);
	rc = s->transition_incident(s, out, id, to_state, cutover_now(), err);
	cutover_incident_free(scratch);
	return rc;
}

CUTOVER_API int cutover_telemetry_link_event(cutover_telemetry *s, cutover_event **out, int64_t event_id,
					     int64_t incident_id, cutover_error *err)
{
	LOCAL_ERR(err);
	static const char what[] = "link event";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if ((rc = check_id(what, "incident_id", incident_id, err)))
		return rc;
	if (event_id <= 0 || event_id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "%s: event %lld not found", what, (long long)event_id);
	return s->link_event(s, out, event_id, incident_id, err);
}

CUTOVER_API int cutover_telemetry_list_incident_events(cutover_telemetry *s, cutover_event_page *out,
						       int64_t incident_id, const char *cursor, size_t limit,
						       cutover_error *err)
{
	LOCAL_ERR(err);
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	out->items = NULL;
	out->n = 0;
	out->next_cursor[0] = '\0';
	cutover_incident *inc = NULL;
	if ((rc = cutover_telemetry_get_incident(s, &inc, incident_id, err))) {
		if (rc == CUTOVER_ENOTFOUND)
			co_err(err, rc, "list incident events: incident %lld not found", (long long)incident_id);
		return rc;
	}
	cutover_incident_free(inc);
	cutover_event_query q = {.from = CUTOVER_TS_NULL, .to = CUTOVER_TS_NULL, .incident_id = incident_id,
				 .cursor = cursor, .limit = limit};
	return cutover_telemetry_query_events(s, out, &q, err);
}

CUTOVER_API void cutover_telemetry_stats(cutover_telemetry *s, cutover_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s && s->stats)
		s->stats(s, out);
}

CUTOVER_API void cutover_telemetry_free(cutover_telemetry *s)
{
	if (s && s->free)
		s->free(s);
}
