/* reports.c — what an app calls, and the report records.
 *
 * The cutover_reports_* functions are the only door into a backend: they
 * validate and normalise input once (UTF-8, severity and status, title and
 * tag lengths, the tag rule, ids at most 2^53, timestamps within years
 * 0001-9999, status consistent with archived_at, "now" resolved), so the
 * json store, the postgres store and both halves of a dual stage receive the
 * same values and give the same answers. The rules both backends apply to a
 * stored report — the tag rule, how a patch applies, what archive, restore
 * and an action do, how a page is ordered and cut — live here too, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports_int.h"

/* --- rules ------------------------------------------------------------------ */

static const char *const SEVERITIES[] = {"low", "medium", "high", "critical"};

bool co_report_severity_valid(const char *s)
{
	for (size_t i = 0; s && i < sizeof SEVERITIES / sizeof *SEVERITIES; i++)
		if (strcmp(s, SEVERITIES[i]) == 0)
			return true;
	return false;
}

bool co_report_status_valid(const char *s)
{
	return s && (strcmp(s, "active") == 0 || strcmp(s, "archived") == 0);
}

void co_tags_free(char **tags, size_t n)
{
	for (size_t i = 0; tags && i < n; i++)
		free(tags[i]);
	free(tags);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Add the trimmed [s, s+len) to tags unless empty or already there. */
static int add_tag(char ***tags, size_t *n, size_t *cap, const char *s, size_t len)
{
	while (len && is_space(*s))
		s++, len--;
	while (len && is_space(s[len - 1]))
		len--;
	if (!len)
		return CUTOVER_OK;
	for (size_t i = 0; i < *n; i++)
		if (strlen((*tags)[i]) == len && memcmp((*tags)[i], s, len) == 0)
			return CUTOVER_OK;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		char **t = realloc(*tags, c * sizeof *t);
		if (!t)
			return CUTOVER_EINTERNAL;
		*tags = t;
		*cap = c;
	}
	if (!((*tags)[*n] = co_strndup(s, len)))
		return CUTOVER_EINTERNAL;
	(*n)++;
	return CUTOVER_OK;
}

int co_tags_normalize(const char *const *in, size_t n, char ***out, size_t *n_out)
{
	char **tags = NULL;
	size_t k = 0, cap = 0;
	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] && add_tag(&tags, &k, &cap, in[i], strlen(in[i])) != CUTOVER_OK) {
			co_tags_free(tags, k);
			return CUTOVER_EINTERNAL;
		}
	}
	*out = tags;
	*n_out = k;
	return CUTOVER_OK;
}

int co_tags_from_csv(const char *csv, char ***out, size_t *n_out)
{
	char **tags = NULL;
	size_t k = 0, cap = 0;
	*out = NULL;
	*n_out = 0;
	for (const char *p = csv; p && *p;) {
		size_t len = strcspn(p, ",");
		if (add_tag(&tags, &k, &cap, p, len) != CUTOVER_OK) {
			co_tags_free(tags, k);
			return CUTOVER_EINTERNAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	*out = tags;
	*n_out = k;
	return CUTOVER_OK;
}

/* --- records ------------------------------------------------------------------ */

void co_report_action_clear(cutover_report_action *a)
{
	if (!a)
		return;
	free(a->action);
	free(a->note);
	memset(a, 0, sizeof *a);
}

void co_report_clear(cutover_report *r)
{
	if (!r)
		return;
	free(r->title);
	free(r->summary);
	free(r->content);
	free(r->severity);
	free(r->status);
	co_tags_free(r->tags, r->n_tags);
	for (size_t i = 0; i < r->n_actions; i++)
		co_report_action_clear(&r->actions[i]);
	free(r->actions);
	memset(r, 0, sizeof *r);
}

CUTOVER_API void cutover_report_free(cutover_report *r)
{
	co_report_clear(r);
	free(r);
}

CUTOVER_API void cutover_report_page_free(cutover_report_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		co_report_clear(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
	p->next_cursor[0] = '\0';
}

CUTOVER_API void cutover_report_action_list_free(cutover_report_action_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		co_report_action_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool report_copy(cutover_report *d, const cutover_report *r)
{
	*d = *r;
	d->title = d->summary = d->content = d->severity = d->status = NULL;
	d->tags = NULL;
	d->n_tags = 0;
	d->actions = NULL;
	d->n_actions = 0;
	bool ok = co_dup_str(&d->title, r->title) && co_dup_str(&d->summary, r->summary) &&
		  co_dup_str(&d->content, r->content) && co_dup_str(&d->severity, r->severity) &&
		  co_dup_str(&d->status, r->status);
	if (ok && r->n_tags) {
		ok = (d->tags = calloc(r->n_tags, sizeof *d->tags)) != NULL;
		for (size_t i = 0; ok && i < r->n_tags; i++) {
			d->n_tags = i + 1;
			ok = co_dup_str(&d->tags[i], r->tags[i]);
		}
	}
	if (ok && r->n_actions) {
		ok = (d->actions = calloc(r->n_actions, sizeof *d->actions)) != NULL;
		for (size_t i = 0; ok && i < r->n_actions; i++) {
			d->n_actions = i + 1;
			d->actions[i] = r->actions[i];
			d->actions[i].action = d->actions[i].note = NULL;
			ok = co_dup_str(&d->actions[i].action, r->actions[i].action) &&
			     co_dup_str(&d->actions[i].note, r->actions[i].note);
		}
	}
	if (!ok)
		co_report_clear(d);
	return ok;
}

cutover_report *co_report_dup(const cutover_report *r)
{
	cutover_report *d = malloc(sizeof *d);
	if (!d)
		return NULL;
	if (!report_copy(d, r)) {
		free(d);
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

#define STR(f) if (!co_streq(a->f, b->f)) diff_add(buf, len, &n, #f)
#define VAL(f) if (a->f != b->f) diff_add(buf, len, &n, #f)

int co_report_action_diff(const cutover_report_action *a, const cutover_report_action *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
	STR(action);
	VAL(actor_id);
	VAL(at);
	STR(note);
	return n;
}

int co_report_diff(const cutover_report *a, const cutover_report *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
	VAL(id);
	STR(title);
	STR(summary);
	STR(content);
	STR(severity);
	STR(status);
	bool tags_same = a->n_tags == b->n_tags;
	for (size_t i = 0; tags_same && i < a->n_tags; i++)
		tags_same = co_streq(a->tags[i], b->tags[i]);
	if (!tags_same)
		diff_add(buf, len, &n, "tags");
	VAL(author_id);
	VAL(incident_id);
	VAL(created_at);
	VAL(updated_at);
	VAL(archived_at);
	bool trail_same = a->n_actions == b->n_actions;
	for (size_t i = 0; trail_same && i < a->n_actions; i++) {
		char f[64];
		trail_same = co_report_action_diff(&a->actions[i], &b->actions[i], f, sizeof f) == 0;
	}
	if (!trail_same)
		diff_add(buf, len, &n, "actions");
	return n;
}

#undef STR
#undef VAL

/* --- changes --------------------------------------------------------------------- */

int co_report_apply_patch(cutover_report *r, const cutover_report_patch *p, cutover_ts now, cutover_error *err)
{
	if ((p->set & CUTOVER_REPORT_SET_TITLE) && !co_set_str(&r->title, p->title))
		return co_err_oom(err);
	if ((p->set & CUTOVER_REPORT_SET_SUMMARY) && !co_set_str(&r->summary, p->summary))
		return co_err_oom(err);
	if ((p->set & CUTOVER_REPORT_SET_CONTENT) && !co_set_str(&r->content, p->content))
		return co_err_oom(err);
	if ((p->set & CUTOVER_REPORT_SET_SEVERITY) && !co_set_str(&r->severity, p->severity))
		return co_err_oom(err);
	if (p->set & CUTOVER_REPORT_SET_TAGS) {
		char **tags;
		size_t n;
		if (co_tags_normalize(p->tags, p->n_tags, &tags, &n) != CUTOVER_OK)
			return co_err_oom(err);
		co_tags_free(r->tags, r->n_tags);
		r->tags = tags;
		r->n_tags = n;
	}
	if (p->set & CUTOVER_REPORT_SET_INCIDENT)
		r->incident_id = p->incident_id;
	r->updated_at = co_ts_advance(r->updated_at, now);
	return CUTOVER_OK;
}

int co_report_append_action(cutover_report *r, const char *action, int64_t actor_id, cutover_ts at, const char *note,
			    cutover_error *err)
{
	cutover_report_action *a = realloc(r->actions, (r->n_actions + 1) * sizeof *a);
	if (!a)
		return co_err_oom(err);
	r->actions = a;
	cutover_report_action *x = &a[r->n_actions];
	memset(x, 0, sizeof *x);
	x->actor_id = actor_id;
	x->at = at;
	if (!co_dup_str(&x->action, action) || !co_dup_str(&x->note, note)) {
		co_report_action_clear(x);
		return co_err_oom(err);
	}
	r->n_actions++;
	return CUTOVER_OK;
}

int co_report_apply_step(cutover_report *r, co_report_step step, const char *action, int64_t actor_id,
			 const char *note, cutover_ts now, cutover_error *err)
{
	bool archived = r->status && strcmp(r->status, "archived") == 0;
	if (step == CO_REPORT_ACTION)
		return co_report_append_action(r, action, actor_id, now, note, err);
	if (step == CO_REPORT_ARCHIVE && archived) {
		co_err(err, CUTOVER_EINVALID, "archive report: report %lld is already archived", (long long)r->id);
		co_err_hint(err, "restore it first, or leave it archived");
		return CUTOVER_EINVALID;
	}
	if (step == CO_REPORT_RESTORE && !archived) {
		co_err(err, CUTOVER_EINVALID, "restore report: report %lld is not archived", (long long)r->id);
		co_err_hint(err, "only an archived report can be restored");
		return CUTOVER_EINVALID;
	}
	if (!co_set_str(&r->status, step == CO_REPORT_ARCHIVE ? "archived" : "active"))
		return co_err_oom(err);
	now = co_ts_advance(r->updated_at, now);
	r->archived_at = step == CO_REPORT_ARCHIVE ? now : CUTOVER_TS_NULL;
	r->updated_at = now;
	return co_report_append_action(r, step == CO_REPORT_ARCHIVE ? "archive" : "restore", actor_id, now, note, err);
}

bool co_report_newer(const cutover_report *a, const cutover_report *b)
{
	if (co_replicate_exact_on())
		return false; /* reconcile: the authoritative record replaces any */
	if (a->updated_at != b->updated_at)
		return a->updated_at > b->updated_at;
	return a->n_actions > b->n_actions;
}

bool co_report_same(const cutover_report *stored, const cutover_report *r)
{
	return stored->created_at == r->created_at && stored->author_id == r->author_id;
}

int co_report_newer_first(const cutover_report *a, const cutover_report *b)
{
	if (a->created_at != b->created_at)
		return a->created_at > b->created_at ? -1 : 1;
	if (a->id != b->id)
		return a->id > b->id ? -1 : 1;
	return 0;
}

bool co_report_after(const cutover_report *r, const cutover_ts *after_ts, int64_t after_id)
{
	if (!after_ts)
		return true;
	return r->created_at < *after_ts || (r->created_at == *after_ts && r->id < after_id);
}

/* --- validation ------------------------------------------------------------------- */

static int check_handle(cutover_reports *s, cutover_error *err)
{
	if (!s)
		return co_err(err, CUTOVER_EINVALID, "reports handle is NULL");
	if (s->version != CUTOVER_REPORTS_VERSION)
		return co_err(err, CUTOVER_EINTERNAL, "reports backend \"%s\" has table version %u, expected %u",
			      s->kind ? s->kind : "?", s->version, (unsigned)CUTOVER_REPORTS_VERSION);
	cutover_error_clear(err);
	return CUTOVER_OK;
}

static int check_text(const char *what, const char *field, const char *v, cutover_error *err)
{
	if (v && !co_utf8_valid(v))
		return co_err(err, CUTOVER_EINVALID, "%s: %s is not valid UTF-8", what, field);
	return CUTOVER_OK;
}

static int check_len(const char *what, const char *field, const char *v, size_t max, cutover_error *err)
{
	if (v && strlen(v) > max)
		return co_err(err, CUTOVER_EINVALID, "%s: %s is longer than %zu bytes", what, field, max);
	return CUTOVER_OK;
}

static int check_ts(const char *what, const char *field, cutover_ts t, bool optional, cutover_error *err)
{
	if (t == CUTOVER_TS_NULL && optional)
		return CUTOVER_OK;
	if (co_ts_in_range(t))
		return CUTOVER_OK;
	if (t == CUTOVER_TS_NULL)
		co_err(err, CUTOVER_EINVALID, "%s: %s is required", what, field);
	else
		co_err(err, CUTOVER_EINVALID, "%s: %s is outside years 0001-9999", what, field);
	co_err_hint(err, "timestamps are microseconds since 1970-01-01T00:00:00Z, from 0001-01-01 to 9999-12-31");
	return CUTOVER_EINVALID;
}

/* A reference id: 0 allowed when optional; else 1 .. 2^53. */
static int check_ref(const char *what, const char *field, int64_t id, bool optional, cutover_error *err)
{
	if (id == 0 && optional)
		return CUTOVER_OK;
	if (id <= 0 || id > CO_ID_MAX) {
		co_err(err, CUTOVER_EINVALID, "%s: %s %lld is not an id", what, field, (long long)id);
		co_err_hint(err, "ids are integers from 1 to 2^53%s", optional ? "; 0 means none" : "");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

static int check_title(const char *what, const char *title, cutover_error *err)
{
	int rc;
	if (!title || !*title) {
		co_err(err, CUTOVER_EINVALID, "%s: title is required", what);
		co_err_hint(err, "give the report a title of 1 to %d bytes", CUTOVER_REPORT_TITLE_MAX);
		return CUTOVER_EINVALID;
	}
	if ((rc = check_text(what, "title", title, err)) ||
	    (rc = check_len(what, "title", title, CUTOVER_REPORT_TITLE_MAX, err)))
		return rc;
	return CUTOVER_OK;
}

static int check_severity(const char *what, const char *sev, cutover_error *err)
{
	if (!co_report_severity_valid(sev)) {
		co_err(err, CUTOVER_EINVALID, "%s: severity \"%.40s\" is not a severity", what, sev ? sev : "(null)");
		co_err_hint(err, "valid severities: low, medium, high, critical");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

static int check_status(const char *what, const char *status, cutover_error *err)
{
	if (!co_report_status_valid(status)) {
		co_err(err, CUTOVER_EINVALID, "%s: status \"%.40s\" is not a status", what, status ? status : "(null)");
		co_err_hint(err, "valid statuses: active, archived");
		return CUTOVER_EINVALID;
	}
	return CUTOVER_OK;
}

/* Tags as given: each valid UTF-8 and at most CUTOVER_REPORT_TAG_MAX bytes
 * once trimmed; normalised into *out; at most CUTOVER_REPORT_TAGS_MAX. */
static int check_tags(const char *what, const char *const *tags, size_t n, char ***out, size_t *n_out,
		      cutover_error *err)
{
	int rc;
	*out = NULL;
	*n_out = 0;
	if (n && !tags)
		return co_err(err, CUTOVER_EINVALID, "%s: %zu tags announced but none given", what, n);
	for (size_t i = 0; i < n; i++)
		if (tags[i] && (rc = check_text(what, "a tag", tags[i], err)))
			return rc;
	if (co_tags_normalize(tags, n, out, n_out) != CUTOVER_OK)
		return co_err_oom(err);
	for (size_t i = 0; i < *n_out; i++) {
		if (strlen((*out)[i]) > CUTOVER_REPORT_TAG_MAX) {
			co_tags_free(*out, *n_out);
			*out = NULL;
			*n_out = 0;
			return co_err(err, CUTOVER_EINVALID, "%s: tag %zu is longer than %d bytes", what, i + 1,
				      CUTOVER_REPORT_TAG_MAX);
		}
	}
	if (*n_out > CUTOVER_REPORT_TAGS_MAX) {
		co_tags_free(*out, *n_out);
		*out = NULL;
		*n_out = 0;
		return co_err(err, CUTOVER_EINVALID, "%s: more than %d tags", what, CUTOVER_REPORT_TAGS_MAX);
	}
	return CUTOVER_OK;
}

static int check_action_name(const char *what, const char *action, cutover_error *err)
{
	int rc;
	if (!action || !*action) {
		co_err(err, CUTOVER_EINVALID, "%s: the action is required", what);
		co_err_hint(err, "name what happened, e.g. \"read\"");
		return CUTOVER_EINVALID;
	}
	if ((rc = check_text(what, "action", action, err)) ||
	    (rc = check_len(what, "action", action, CUTOVER_REPORT_ACTION_MAX, err)))
		return rc;
	return CUTOVER_OK;
}

static int check_action(const char *what, size_t i, const cutover_report_action *a, cutover_error *err)
{
	int rc;
	char field[48];
	if ((rc = check_action_name(what, a->action, err)) || (rc = check_text(what, "action note", a->note, err)))
		return rc;
	snprintf(field, sizeof field, "action %zu actor_id", i + 1);
	if ((rc = check_ref(what, field, a->actor_id, true, err)))
		return rc;
	snprintf(field, sizeof field, "action %zu at", i + 1);
	return check_ts(what, field, a->at, false, err);
}

static int resolve_now(cutover_ts *out)
{
	*out = cutover_now();
	return co_ts_in_range(*out) ? CUTOVER_OK : CUTOVER_EINTERNAL;
}

/* --- the app's calls ------------------------------------------------------------- */

CUTOVER_API int cutover_reports_create(cutover_reports *s, cutover_report **out, const cutover_report *in,
				       cutover_error *err)
{
	static const char what[] = "create report";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "%s: no report given", what);
	if (in->id < 0 || in->id > CO_ID_MAX) {
		co_err(err, CUTOVER_EINVALID, "%s: id %lld is not an id", what, (long long)in->id);
		co_err_hint(err, "pass 0 to have one assigned, or an id from 1 to 2^53");
		return CUTOVER_EINVALID;
	}
	if ((rc = check_title(what, in->title, err)) || (rc = check_text(what, "summary", in->summary, err)) ||
	    (rc = check_text(what, "content", in->content, err)) || (rc = check_severity(what, in->severity, err)) ||
	    (rc = check_ref(what, "author_id", in->author_id, false, err)) ||
	    (rc = check_ref(what, "incident_id", in->incident_id, true, err)))
		return rc;
	const char *status = in->status ? in->status : "active";
	if ((rc = check_status(what, status, err)) || (rc = check_ts(what, "created_at", in->created_at, true, err)) ||
	    (rc = check_ts(what, "updated_at", in->updated_at, true, err)) ||
	    (rc = check_ts(what, "archived_at", in->archived_at, true, err)))
		return rc;
	bool archived = strcmp(status, "archived") == 0;
	if (archived != (in->archived_at != CUTOVER_TS_NULL)) {
		if (in->archived_at == 0) { /* a zero-initialised report: 0 is a time, 1970-01-01 */
			co_err(err, CUTOVER_EINVALID,
			       "%s: status \"%s\" cannot have archived_at, and archived_at is 0 (1970-01-01T00:00:00Z)",
			       what, status);
			co_err_hint(err, "0 is a time, not \"none\": set archived_at (and any other timestamp "
					 "you leave unset) to CUTOVER_TS_NULL");
			return CUTOVER_EINVALID;
		}
		co_err(err, CUTOVER_EINVALID, "%s: status \"%s\" %s archived_at", what, status,
		       archived ? "needs" : "cannot have");
		co_err_hint(err, "a report is archived exactly when archived_at is set");
		return CUTOVER_EINVALID;
	}
	if (in->n_actions && !in->actions)
		return co_err(err, CUTOVER_EINVALID, "%s: %zu actions announced but none given", what, in->n_actions);
	for (size_t i = 0; i < in->n_actions; i++)
		if ((rc = check_action(what, i, &in->actions[i], err)))
			return rc;
	cutover_report r = *in;
	if ((rc = check_tags(what, (const char *const *)in->tags, in->n_tags, &r.tags, &r.n_tags, err)))
		return rc;
	r.status = (char *)status;
	if (r.created_at == CUTOVER_TS_NULL)
		r.created_at = cutover_now();
	if (r.updated_at == CUTOVER_TS_NULL)
		r.updated_at = r.created_at;
	cutover_report *made = NULL;
	rc = s->create_report(s, &made, &r, err);
	co_tags_free(r.tags, r.n_tags);
	if (rc == CUTOVER_OK && out)
		*out = made;
	else
		cutover_report_free(made);
	return rc;
}

CUTOVER_API int cutover_reports_get(cutover_reports *s, cutover_report **out, int64_t id, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	*out = NULL;
	if (id <= 0 || id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "get report: report %lld not found", (long long)id);
	return s->get_report(s, out, id, err);
}

CUTOVER_API int cutover_reports_list(cutover_reports *s, cutover_report_page *out, const cutover_report_filter *filter,
				     const char *cursor, size_t limit, cutover_error *err)
{
	static const char what[] = "list reports";
	static const cutover_report_filter any;
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	if (!filter)
		filter = &any;
	if (limit < 1 || limit > CUTOVER_REPORT_PAGE_MAX) {
		co_err(err, CUTOVER_EINVALID, "%s: limit %zu is out of range", what, limit);
		co_err_hint(err, "ask for 1 to %d reports a page", CUTOVER_REPORT_PAGE_MAX);
		return CUTOVER_EINVALID;
	}
	if ((filter->status && (rc = check_status(what, filter->status, err))) ||
	    (filter->severity && (rc = check_severity(what, filter->severity, err))) ||
	    (rc = check_ref(what, "author_id", filter->author_id, true, err)) ||
	    (rc = check_ref(what, "incident_id", filter->incident_id, true, err)) ||
	    (rc = check_text(what, "tag", filter->tag, err)))
		return rc;
	cutover_ts ts;
	int64_t id;
	bool first;
	if ((rc = co_cursor_parse(cursor, &ts, &id, &first, err)))
		return rc;
	cutover_report_filter f = *filter;
	char **tag = NULL;
	size_t n_tag = 0;
	if (filter->tag) {
		const char *one[1] = {filter->tag};
		if (co_tags_normalize(one, 1, &tag, &n_tag) != CUTOVER_OK)
			return co_err_oom(err);
		if (n_tag == 0) /* a blank tag: no report carries it */
			return CUTOVER_OK;
		f.tag = tag[0];
	}
	rc = s->list_reports(s, out, &f, first ? NULL : &ts, id, limit, err);
	co_tags_free(tag, n_tag);
	return rc;
}

CUTOVER_API int cutover_reports_update(cutover_reports *s, cutover_report **out, int64_t id,
				       const cutover_report_patch *patch, cutover_error *err)
{
	static const char what[] = "update report";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if (!patch)
		return co_err(err, CUTOVER_EINVALID, "%s: no patch given", what);
	unsigned set = patch->set;
	if ((set & CUTOVER_REPORT_SET_TITLE) && (rc = check_title(what, patch->title, err)))
		return rc;
	if ((set & CUTOVER_REPORT_SET_SUMMARY) && (rc = check_text(what, "summary", patch->summary, err)))
		return rc;
	if ((set & CUTOVER_REPORT_SET_CONTENT) && (rc = check_text(what, "content", patch->content, err)))
		return rc;
	if ((set & CUTOVER_REPORT_SET_SEVERITY) && (rc = check_severity(what, patch->severity, err)))
		return rc;
	if ((set & CUTOVER_REPORT_SET_INCIDENT) && (rc = check_ref(what, "incident_id", patch->incident_id, true, err)))
		return rc;
	cutover_report_patch p = *patch;
	char **tags = NULL;
	size_t n_tags = 0;
	if ((set & CUTOVER_REPORT_SET_TAGS) &&
	    (rc = check_tags(what, patch->tags, patch->n_tags, &tags, &n_tags, err)))
		return rc;
	p.tags = (const char *const *)tags;
	p.n_tags = n_tags;
	cutover_ts now;
	if (resolve_now(&now) != CUTOVER_OK) {
		co_tags_free(tags, n_tags);
		return co_err(err, CUTOVER_EINTERNAL, "%s: the clock is outside years 0001-9999", what);
	}
	if (id <= 0 || id > CO_ID_MAX) {
		co_tags_free(tags, n_tags);
		return co_err(err, CUTOVER_ENOTFOUND, "%s: report %lld not found", what, (long long)id);
	}
	cutover_report *r = NULL;
	rc = s->update_report(s, &r, id, &p, now, err);
	co_tags_free(tags, n_tags);
	if (rc == CUTOVER_OK && out)
		*out = r;
	else
		cutover_report_free(r);
	return rc;
}

/* archive, restore and record_action: the same checks. */
static int step_call(cutover_reports *s, cutover_report **out, int64_t id, co_report_step step, const char *action,
		     int64_t actor_id, const char *note, cutover_error *err)
{
	const char *what = step == CO_REPORT_ARCHIVE ? "archive report"
			   : step == CO_REPORT_RESTORE ? "restore report" : "record report action";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if (step == CO_REPORT_ACTION) {
		if ((rc = check_action_name(what, action, err)))
			return rc;
		if (strcmp(action, "archive") == 0 || strcmp(action, "restore") == 0) {
			co_err(err, CUTOVER_EINVALID, "%s: \"%s\" is not recorded by hand", what, action);
			co_err_hint(err, "call cutover_reports_%s, which also changes the report's status", action);
			return CUTOVER_EINVALID;
		}
	}
	if ((rc = check_ref(what, "actor_id", actor_id, true, err)) || (rc = check_text(what, "note", note, err)))
		return rc;
	cutover_ts now;
	if (resolve_now(&now) != CUTOVER_OK)
		return co_err(err, CUTOVER_EINTERNAL, "%s: the clock is outside years 0001-9999", what);
	if (id <= 0 || id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "%s: report %lld not found", what, (long long)id);
	cutover_report *r = NULL;
	if (step == CO_REPORT_ARCHIVE)
		rc = s->archive_report(s, &r, id, actor_id, note, now, err);
	else if (step == CO_REPORT_RESTORE)
		rc = s->restore_report(s, &r, id, actor_id, note, now, err);
	else
		rc = s->record_action(s, &r, id, action, actor_id, note, now, err);
	if (rc == CUTOVER_OK && out)
		*out = r;
	else
		cutover_report_free(r);
	return rc;
}

CUTOVER_API int cutover_reports_archive(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id,
					const char *note, cutover_error *err)
{
	return step_call(s, out, id, CO_REPORT_ARCHIVE, NULL, actor_id, note, err);
}

CUTOVER_API int cutover_reports_restore(cutover_reports *s, cutover_report **out, int64_t id, int64_t actor_id,
					const char *note, cutover_error *err)
{
	return step_call(s, out, id, CO_REPORT_RESTORE, NULL, actor_id, note, err);
}

CUTOVER_API int cutover_reports_record_action(cutover_reports *s, cutover_report **out, int64_t id, const char *action,
					      int64_t actor_id, const char *note, cutover_error *err)
{
	return step_call(s, out, id, CO_REPORT_ACTION, action, actor_id, note, err);
}

CUTOVER_API int cutover_reports_list_actions(cutover_reports *s, cutover_report_action_list *out, int64_t id,
					     cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	out->items = NULL;
	out->n = 0;
	if (id <= 0 || id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "list report actions: report %lld not found", (long long)id);
	return s->list_actions(s, out, id, err);
}

CUTOVER_API void cutover_reports_stats(cutover_reports *s, cutover_stats *out)
{
	memset(out, 0, sizeof *out);
	if (s && s->stats)
		s->stats(s, out);
}

CUTOVER_API void cutover_reports_free(cutover_reports *s)
{
	if (s && s->free)
		s->free(s);
}
