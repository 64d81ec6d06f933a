/* test_reports_conformance.c — one reports suite, run unchanged in every stage.
 *
 * The same calls with the same expected answers against json, dualwrite,
 * shadow, live, rampdown and postgres, each on a fresh state directory and
 * a fresh database. Users are created through identity in the same stage
 * (so they exist on the side(s) that stage uses); incidents are seeded in
 * both stores directly (telemetry/incidents.json and operations.incidents).
 * The paging test walks filtered lists with small limits and asserts the
 * exact sequence of ids, ties on created_at broken by id. In the dual stages
 * the last tests prove no comparison differed and both stores hold the same
 * reports.
 *
 * usage: test_reports_conformance [STAGE...]   (default: all six)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "reports_int.h"

static cutover_stage stage;
static test_env env;
static cutover_reports *S;
static cutover_ts T0;
static int64_t AUTHOR, OTHER, PAGER; /* user ids */
static cutover_error err;

#define SEC 1000000LL

static void expect_ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static cutover_report *mkreport(const char *title, const char *severity, int64_t author, int64_t incident,
				cutover_ts created, const char *const *tags, size_t n_tags)
{
	cutover_report in = {.title = (char *)title, .summary = "Summary", .severity = (char *)severity,
			     .tags = (char **)tags, .n_tags = n_tags, .author_id = author, .incident_id = incident,
			     .created_at = created, .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	expect_ok(cutover_reports_create(S, &r, &in, &err));
	return r;
}

static void assert_same(const cutover_report *a, const cutover_report *b)
{
	char diff[256];
	if (co_report_diff(a, b, diff, sizeof diff))
		fail_msg("report %lld differs: %s", (long long)a->id, diff);
}

/* --- create and get ------------------------------------------------------------ */

static void create_and_get_round_trip(void **state)
{
	(void)state;
	const char *tags[] = {" phishing ", "", "malware", "phishing", "  "};
	cutover_report_action trail[] = {{"create", AUTHOR, T0 + 1, "first draft"}, {"read", 0, T0 + 2, NULL}};
	cutover_report in = {.title = "Credential phishing — “Q3 invoice”, wave 2",
			     .summary = "Mails from a look-alike domain; \"urgent\" in the subject",
			     .content = "Line one\nLine two, with a tab\tand ünïcödé 🚀",
			     .severity = "high", .tags = (char **)tags, .n_tags = 5, .author_id = AUTHOR,
			     .incident_id = 1, .created_at = T0, .updated_at = T0 + 5, .archived_at = CUTOVER_TS_NULL,
			     .actions = trail, .n_actions = 2};
	cutover_report *r = NULL;
	expect_ok(cutover_reports_create(S, &r, &in, &err));
	assert_true(r->id > 0);
	assert_string_equal(r->title, in.title);
	assert_string_equal(r->content, in.content);
	assert_string_equal(r->severity, "high");
	assert_string_equal(r->status, "active");
	assert_int_equal(r->n_tags, 2);
	assert_string_equal(r->tags[0], "phishing");
	assert_string_equal(r->tags[1], "malware");
	assert_true(r->author_id == AUTHOR);
	assert_true(r->incident_id == 1);
	assert_true(r->created_at == T0);
	assert_true(r->updated_at == T0 + 5);
	assert_true(r->archived_at == CUTOVER_TS_NULL);
	assert_int_equal(r->n_actions, 2);
	assert_string_equal(r->actions[0].action, "create");
	assert_string_equal(r->actions[0].note, "first draft");
	assert_true(r->actions[1].actor_id == 0);
	assert_null(r->actions[1].note);

	cutover_report *g = NULL;
	expect_ok(cutover_reports_get(S, &g, r->id, &err));
	assert_same(r, g);
	cutover_report_free(g);
	cutover_report_free(r);

	/* defaults: no tags, no incident, updated_at = created_at */
	cutover_report *d = mkreport("Plain", "low", OTHER, 0, T0 - 3 * SEC, NULL, 0);
	assert_int_equal(d->n_tags, 0);
	assert_true(d->incident_id == 0);
	assert_true(d->updated_at == d->created_at);
	assert_null(d->content);
	cutover_report_free(d);
}

static void ids_are_assigned_in_order_and_explicit_ids_kept(void **state)
{
	(void)state;
	cutover_report *a = mkreport("Order A", "low", AUTHOR, 0, T0, NULL, 0);
	cutover_report *b = mkreport("Order B", "low", AUTHOR, 0, T0, NULL, 0);
	assert_true(b->id == a->id + 1);
	cutover_report in = {.id = 5000, .title = "Explicit", .severity = "medium", .author_id = AUTHOR,
			     .created_at = T0, .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *e = NULL;
	expect_ok(cutover_reports_create(S, &e, &in, &err));
	assert_true(e->id == 5000);
	cutover_report_free(e);
	assert_int_equal(cutover_reports_create(S, &e, &in, &err), CUTOVER_ECONFLICT);
	assert_null(e);
	in.id = 0;
	expect_ok(cutover_reports_create(S, &e, &in, &err));
	assert_true(e->id == 5001); /* past the explicit one */
	cutover_report_free(e);
	cutover_report_free(a);
	cutover_report_free(b);
}

static void dangling_references_are_invalid(void **state)
{
	(void)state;
	cutover_report in = {.title = "Dangling", .severity = "low", .author_id = 777777, .created_at = T0,
			     .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "author_id 777777"));
	in.author_id = AUTHOR;
	in.incident_id = 424242;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "incident_id 424242"));
	in.incident_id = 0;
	cutover_report_action a = {"read", 888888, T0, NULL};
	in.actions = &a;
	in.n_actions = 1;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "actor_id 888888"));
	assert_null(r);

	cutover_report *ok = mkreport("Refs", "low", AUTHOR, 2, T0, NULL, 0);
	cutover_report_patch p = {.set = CUTOVER_REPORT_SET_INCIDENT, .incident_id = 99999};
	assert_int_equal(cutover_reports_update(S, &r, ok->id, &p, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "incident_id 99999"));
	assert_int_equal(cutover_reports_record_action(S, &r, ok->id, "read", 555555, NULL, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "actor_id 555555"));
	assert_int_equal(cutover_reports_archive(S, &r, ok->id, 555555, NULL, &err), CUTOVER_EINVALID);
	cutover_report *g = NULL;
	expect_ok(cutover_reports_get(S, &g, ok->id, &err)); /* nothing was changed */
	assert_same(ok, g);
	cutover_report_free(g);
	cutover_report_free(ok);
}

static void bad_input_is_refused_before_any_store(void **state)
{
	(void)state;
	cutover_report in = {.title = "Bad", .severity = "urgent", .author_id = AUTHOR, .created_at = T0,
			     .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.hint, "low, medium, high, critical"));
	in.severity = "low";
	in.title = "";
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.title = "caf\xc3";
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.title = "Archived without a time";
	in.status = "archived";
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.status = "deleted";
	in.archived_at = T0;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.status = NULL;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID); /* active with archived_at */
	/* a zero-initialised report: archived_at 0 is 1970, and the message says so */
	cutover_report zero;
	memset(&zero, 0, sizeof zero);
	zero.title = "Zeroed";
	zero.severity = "low";
	zero.author_id = AUTHOR;
	assert_int_equal(cutover_reports_create(S, &r, &zero, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "archived_at is 0 (1970-01-01"));
	assert_non_null(strstr(err.hint, "CUTOVER_TS_NULL"));
	in.archived_at = CUTOVER_TS_NULL;
	char longtag[80];
	memset(longtag, 'x', sizeof longtag - 1);
	longtag[sizeof longtag - 1] = '\0';
	const char *tags[] = {longtag};
	in.tags = (char **)tags;
	in.n_tags = 1;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.n_tags = 0;
	in.author_id = 0;
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	in.author_id = AUTHOR;
	in.created_at = 253402300800000000LL; /* year 10000 */
	assert_int_equal(cutover_reports_create(S, &r, &in, &err), CUTOVER_EINVALID);
	assert_null(r);

	cutover_report_page page;
	assert_int_equal(cutover_reports_list(S, &page, NULL, NULL, 0, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_reports_list(S, &page, NULL, NULL, 1001, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_reports_list(S, &page, NULL, "not-a-cursor", 10, &err), CUTOVER_EINVALID);
	cutover_report_filter f = {.severity = "urgent"};
	assert_int_equal(cutover_reports_list(S, &page, &f, NULL, 10, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_reports_record_action(S, &r, 1, "archive", AUTHOR, NULL, &err), CUTOVER_EINVALID);
	assert_int_equal(cutover_reports_record_action(S, &r, 1, "", AUTHOR, NULL, &err), CUTOVER_EINVALID);
}

static void missing_reports_are_not_found(void **state)
{
	(void)state;
	cutover_report *r = NULL;
	cutover_report_action_list l;
	assert_int_equal(cutover_reports_get(S, &r, 999999, &err), CUTOVER_ENOTFOUND);
	cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = "x"};
	assert_int_equal(cutover_reports_update(S, &r, 999999, &p, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_reports_archive(S, &r, 999999, AUTHOR, NULL, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_reports_restore(S, &r, 999999, AUTHOR, NULL, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_reports_record_action(S, &r, 999999, "read", AUTHOR, NULL, &err), CUTOVER_ENOTFOUND);
	assert_int_equal(cutover_reports_list_actions(S, &l, 999999, &err), CUTOVER_ENOTFOUND);
	assert_null(r);
}

/* --- changes ----------------------------------------------------------------------- */

static void update_changes_only_what_is_set(void **state)
{
	(void)state;
	const char *tags[] = {"a", "b"};
	cutover_report *r = mkreport("Before", "low", AUTHOR, 1, T0 - 10 * SEC, tags, 2);
	const char *new_tags[] = {"c ", " a", "c"};
	cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE | CUTOVER_REPORT_SET_TAGS |
				       CUTOVER_REPORT_SET_SEVERITY | CUTOVER_REPORT_SET_CONTENT,
				  .title = "After", .tags = new_tags, .n_tags = 3, .severity = "critical",
				  .content = "Now with content"};
	cutover_report *u = NULL;
	expect_ok(cutover_reports_update(S, &u, r->id, &p, &err));
	assert_string_equal(u->title, "After");
	assert_string_equal(u->severity, "critical");
	assert_string_equal(u->content, "Now with content");
	assert_string_equal(u->summary, r->summary);
	assert_int_equal(u->n_tags, 2);
	assert_string_equal(u->tags[0], "c");
	assert_string_equal(u->tags[1], "a");
	assert_true(u->incident_id == 1);
	assert_true(u->created_at == r->created_at);
	assert_true(u->updated_at > r->updated_at);
	cutover_report_free(u);

	p = (cutover_report_patch){.set = CUTOVER_REPORT_SET_INCIDENT | CUTOVER_REPORT_SET_SUMMARY,
				   .incident_id = 0, .summary = NULL};
	expect_ok(cutover_reports_update(S, &u, r->id, &p, &err));
	assert_true(u->incident_id == 0);
	assert_null(u->summary);
	cutover_report *g = NULL;
	expect_ok(cutover_reports_get(S, &g, r->id, &err));
	assert_same(u, g);
	cutover_report_free(g);
	cutover_report_free(u);

	p = (cutover_report_patch){.set = CUTOVER_REPORT_SET_SEVERITY, .severity = "severe"};
	assert_int_equal(cutover_reports_update(S, &u, r->id, &p, &err), CUTOVER_EINVALID);
	p = (cutover_report_patch){.set = CUTOVER_REPORT_SET_TITLE, .title = NULL};
	assert_int_equal(cutover_reports_update(S, &u, r->id, &p, &err), CUTOVER_EINVALID);
	cutover_report_free(r);
}

static void archive_and_restore_keep_the_trail(void **state)
{
	(void)state;
	cutover_report *r = mkreport("Archive me", "medium", AUTHOR, 3, T0 - 20 * SEC, NULL, 0);
	cutover_report *a = NULL;
	expect_ok(cutover_reports_archive(S, &a, r->id, OTHER, "duplicate of #12", &err));
	assert_string_equal(a->status, "archived");
	assert_true(a->archived_at != CUTOVER_TS_NULL);
	assert_true(a->updated_at == a->archived_at);
	assert_int_equal(a->n_actions, 1);
	assert_string_equal(a->actions[0].action, "archive");
	assert_true(a->actions[0].actor_id == OTHER);
	assert_true(a->actions[0].at == a->archived_at);
	assert_string_equal(a->actions[0].note, "duplicate of #12");
	cutover_report *x = NULL;
	assert_int_equal(cutover_reports_archive(S, &x, r->id, OTHER, NULL, &err), CUTOVER_EINVALID);
	assert_non_null(strstr(err.message, "already archived"));

	cutover_report *b = NULL;
	expect_ok(cutover_reports_restore(S, &b, r->id, 0, NULL, &err));
	assert_string_equal(b->status, "active");
	assert_true(b->archived_at == CUTOVER_TS_NULL);
	assert_int_equal(b->n_actions, 2);
	assert_string_equal(b->actions[1].action, "restore");
	assert_true(b->actions[1].actor_id == 0);
	assert_int_equal(cutover_reports_restore(S, &x, r->id, OTHER, NULL, &err), CUTOVER_EINVALID);
	assert_null(x);
	cutover_report *g = NULL;
	expect_ok(cutover_reports_get(S, &g, r->id, &err));
	assert_same(b, g);
	cutover_report_free(g);
	cutover_report_free(a);
	cutover_report_free(b);
	cutover_report_free(r);
}

static void actions_are_appended_in_order(void **state)
{
	(void)state;
	cutover_report *r = mkreport("Read me", "low", AUTHOR, 0, T0 - 30 * SEC, NULL, 0);
	cutover_report *x = NULL;
	expect_ok(cutover_reports_record_action(S, &x, r->id, "read", OTHER, NULL, &err));
	assert_true(x->updated_at == r->updated_at); /* an action is not an edit */
	cutover_report_free(x);
	expect_ok(cutover_reports_record_action(S, NULL, r->id, "share", AUTHOR, "sent to the CISO, 'as is'", &err));
	expect_ok(cutover_reports_record_action(S, NULL, r->id, "read", 0, NULL, &err));
	cutover_report_action_list l;
	expect_ok(cutover_reports_list_actions(S, &l, r->id, &err));
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].action, "read");
	assert_true(l.items[0].actor_id == OTHER);
	assert_string_equal(l.items[1].action, "share");
	assert_string_equal(l.items[1].note, "sent to the CISO, 'as is'");
	assert_string_equal(l.items[2].action, "read");
	assert_true(l.items[0].at <= l.items[1].at && l.items[1].at <= l.items[2].at);
	cutover_report_action_list_free(&l);
	cutover_report_free(r);
}

/* --- paging ------------------------------------------------------------------------ */

#define NPAGE 23

typedef struct seed_row {
	int at;            /* created_at = T0 - at seconds: few values, so many ties */
	const char *sev;
	int who;           /* 0 PAGER, 1 AUTHOR */
	int incident;
	int tag;           /* 0 "paging", 1 "paging" + "ioc", 2 "paging" + "apt" */
	bool archive;
} seed_row;

static const seed_row SEED[NPAGE] = {
	{100, "high", 0, 1, 0, false},  {100, "low", 0, 2, 1, false},     {100, "high", 1, 0, 2, true},
	{200, "medium", 0, 1, 1, false}, {50, "high", 0, 2, 0, false},     {200, "critical", 1, 1, 1, false},
	{100, "high", 0, 0, 1, true},   {300, "low", 0, 2, 2, false},      {50, "medium", 1, 2, 0, false},
	{200, "high", 0, 1, 0, false},  {300, "high", 0, 3, 1, true},      {100, "low", 1, 1, 2, false},
	{50, "critical", 0, 1, 1, false}, {400, "high", 0, 0, 0, false},   {200, "high", 1, 2, 1, false},
	{100, "medium", 0, 2, 0, true}, {50, "high", 0, 1, 2, false},      {300, "low", 1, 0, 1, false},
	{200, "high", 0, 2, 1, false},  {100, "critical", 0, 1, 0, false}, {400, "medium", 1, 2, 2, true},
	{50, "low", 0, 3, 1, false},    {100, "high", 0, 1, 1, false},
};

static int64_t seeded_id[NPAGE];
static cutover_ts seeded_at[NPAGE];

static bool wanted(int i, const cutover_report_filter *f)
{
	const seed_row *s = &SEED[i];
	static const char *const extra[] = {NULL, "ioc", "apt"};
	if (f->status && strcmp(f->status, s->archive ? "archived" : "active") != 0)
		return false;
	if (f->severity && strcmp(f->severity, s->sev) != 0)
		return false;
	if (f->author_id && f->author_id != (s->who ? AUTHOR : PAGER))
		return false;
	if (f->incident_id && f->incident_id != s->incident)
		return false;
	if (f->tag) {
		char t[64];
		const char *b = f->tag;
		while (*b == ' ')
			b++;
		snprintf(t, sizeof t, "%s", b);
		for (size_t n = strlen(t); n && t[n - 1] == ' ';)
			t[--n] = '\0';
		if (strcmp(t, "paging") != 0 && !(extra[s->tag] && strcmp(t, extra[s->tag]) == 0))
			return false;
	}
	return true;
}

static int cmp_seed(const void *a, const void *b)
{
	int i = *(const int *)a, j = *(const int *)b;
	if (seeded_at[i] != seeded_at[j])
		return seeded_at[i] > seeded_at[j] ? -1 : 1;
	return seeded_id[i] > seeded_id[j] ? -1 : seeded_id[i] < seeded_id[j];
}

static void seed_paging_reports(void)
{
	static const char *const extra[] = {NULL, "ioc", "apt"};
	for (int i = 0; i < NPAGE; i++) {
		const seed_row *s = &SEED[i];
		const char *tags[2] = {"paging", extra[s->tag]};
		seeded_at[i] = T0 - s->at * SEC;
		cutover_report *r = mkreport("Paging", s->sev, s->who ? AUTHOR : PAGER, s->incident, seeded_at[i], tags,
					     extra[s->tag] ? 2 : 1);
		seeded_id[i] = r->id;
		cutover_report_free(r);
		if (s->archive)
			expect_ok(cutover_reports_archive(S, NULL, seeded_id[i], PAGER, NULL, &err));
	}
}

/* Page through the list with this filter and limit; the ids must be exactly
 * the expected ones, in order, and every page but the last full. */
static void walk_and_compare(const cutover_report_filter *f, size_t limit)
{
	int want[NPAGE], n_want = 0;
	for (int i = 0; i < NPAGE; i++)
		if (wanted(i, f))
			want[n_want++] = i;
	qsort(want, (size_t)n_want, sizeof *want, cmp_seed);

	char cursor[CUTOVER_CURSOR_LEN] = "";
	int got = 0, pages = 0;
	for (;;) {
		cutover_report_page page;
		expect_ok(cutover_reports_list(S, &page, f, cursor, limit, &err));
		assert_true(++pages <= NPAGE + 2); /* bounded */
		for (size_t k = 0; k < page.n; k++, got++) {
			if (got >= n_want || page.items[k].id != seeded_id[want[got]])
				fail_msg("limit %zu: item %d is report %lld, expected %lld", limit, got,
					 (long long)page.items[k].id, got < n_want ? (long long)seeded_id[want[got]] : -1LL);
			assert_int_equal(page.items[k].n_actions, 0);
		}
		bool last = page.next_cursor[0] == '\0';
		if (!last)
			assert_int_equal(page.n, limit);
		snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
		cutover_report_page_free(&page);
		if (last)
			break;
	}
	assert_int_equal(got, n_want);
}

static void pages_are_identical_newest_first_ties_by_id(void **state)
{
	(void)state;
	seed_paging_reports();
	const cutover_report_filter filters[] = {
		{.tag = "paging"},
		{.tag = "paging", .status = "active"},
		{.tag = "paging", .status = "archived"},
		{.tag = "ioc", .severity = "high"},
		{.tag = " apt "},
		{.author_id = 0, .incident_id = 1, .tag = "paging"},
		{.author_id = 1, .tag = "paging"}, /* author set below */
		{.author_id = 1, .incident_id = 2, .status = "active", .tag = "paging"},
		{.tag = "paging", .severity = "critical"},
		{.tag = "nothing-has-this"},
	};
	size_t limits[] = {1, 2, 3, 7, 1000};
	for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
		cutover_report_filter f = filters[i];
		if (f.author_id == 1)
			f.author_id = i == 6 ? PAGER : AUTHOR;
		for (size_t l = 0; l < sizeof limits / sizeof *limits; l++)
			walk_and_compare(&f, limits[l]);
	}
	/* the wrapper trims the filter tag; compare the trimmed walk too */
	cutover_report_filter f = {.tag = "apt"};
	walk_and_compare(&f, 2);
	/* a filter on the author alone includes that author's other reports
	 * (PAGER writes only paging reports) */
	f = (cutover_report_filter){.author_id = PAGER};
	walk_and_compare(&f, 4);
}

static void a_cursor_survives_changes_between_pages(void **state)
{
	(void)state;
	cutover_report_filter f = {.tag = "paging"};
	cutover_report_page p1, p2;
	expect_ok(cutover_reports_list(S, &p1, &f, NULL, 5, &err));
	assert_int_equal(p1.n, 5);
	assert_true(p1.next_cursor[0] != '\0');
	/* a newer report does not shift the next page */
	const char *tags[] = {"paging"};
	cutover_report *r = mkreport("Newest", "low", PAGER, 0, T0 + 10 * SEC, tags, 1);
	expect_ok(cutover_reports_list(S, &p2, &f, p1.next_cursor, 5, &err));
	assert_true(p2.n > 0);
	assert_true(co_report_newer_first(&p1.items[4], &p2.items[0]) < 0);
	cutover_report_page_free(&p1);
	cutover_report_page_free(&p2);
	cutover_report_free(r);
}

/* --- what only a dual stage can show ------------------------------------------------- */

static void no_comparison_differed(void **state)
{
	(void)state;
	cutover_stats st;
	cutover_reports_stats(S, &st);
	test_expect_no_drift(&st, stage);
}

static void both_stores_hold_the_same_records(void **state)
{
	(void)state;
	if (!cutover_stage_describe(stage)->writes_both)
		skip();
	cutover_reports *js = NULL, *ps = NULL;
	expect_ok(cutover_reports_json(&js, env.json_root, NULL, &err));
	expect_ok(cutover_reports_postgres(&ps, env.conninfo, &err));
	int seen = 0;
	for (int64_t id = 1; id <= 5100; id = (id == 200 ? 4990 : id + 1)) {
		cutover_report *a = NULL, *b = NULL;
		int ra = cutover_reports_get(js, &a, id, &err);
		int rb = cutover_reports_get(ps, &b, id, &err);
		assert_int_equal(ra, rb);
		if (ra == CUTOVER_OK) {
			assert_same(a, b);
			seen++;
		}
		cutover_report_free(a);
		cutover_report_free(b);
	}
	assert_true(seen > NPAGE);
	cutover_reports_free(js);
	cutover_reports_free(ps);
}

/* A second write the other store refuses (here: its author exists only on
 * the primary) does not fail the call: it is counted and journaled with
 * entity "report" and the id, for `cutover reconcile`. Runs last: it leaves
 * the stores apart on purpose. */
static void a_refused_second_write_is_journaled(void **state)
{
	(void)state;
	const cutover_stage_info *info = cutover_stage_describe(stage);
	if (!info->writes_both)
		skip();
	cutover_identity *primary_users = NULL;
	if (info->pg_authoritative)
		expect_ok(cutover_identity_postgres(&primary_users, env.conninfo, &err));
	else
		expect_ok(cutover_identity_json(&primary_users, env.json_root, NULL, &err));
	cutover_user in = {.id = 900, .email = "primary-only@example.com", .role = "viewer",
			   .email_verified_at = CUTOVER_TS_NULL, .created_at = T0, .updated_at = T0};
	cutover_user *u = NULL;
	expect_ok(cutover_identity_create_user(primary_users, &u, &in, &err));
	cutover_user_free(u);
	cutover_identity_free(primary_users);

	cutover_stats before, after;
	cutover_reports_stats(S, &before);
	cutover_report *r = mkreport("Only on the primary", "low", 900, 0, T0, NULL, 0);
	cutover_reports_stats(S, &after);
	assert_int_equal(after.secondary_failures, before.secondary_failures + 1);
	assert_int_equal(after.journaled, before.journaled + 1);
	char path[400], key[64];
	snprintf(path, sizeof path, "%s/reports.journal", env.journal);
	char *journal = test_read_file(path, NULL);
	assert_non_null(journal);
	snprintf(key, sizeof key, "\"key\":\"%lld\"", (long long)r->id);
	assert_non_null(strstr(journal, "\"entity\":\"report\""));
	assert_non_null(strstr(journal, key));
	assert_non_null(strstr(journal, "\"op\":\"create_report\""));
	free(journal);
	cutover_report_free(r);
}

/* --- setup ----------------------------------------------------------------------------- */

static void seed_incidents(void)
{
	co_buf doc = {0};
	co_buf_puts(&doc, "{\"incidents\":[");
	for (int i = 1; i <= 3; i++)
		co_buf_printf(&doc, "%s{\"id\":%d,\"title\":\"Incident %d\",\"state\":\"open\",\"severity\":\"high\","
				    "\"opened_at\":\"2026-01-0%dT00:00:00Z\",\"resolved_at\":null}",
			      i > 1 ? "," : "", i, i, i);
	co_buf_puts(&doc, "]}\n");
	assert_false(doc.failed);
	test_put_doc(&env, "telemetry/incidents.json", doc.data);
	co_buf_free(&doc);
	test_sql(&env, "INSERT INTO operations.incidents (id, title, state, severity, opened_at) VALUES "
		       "(1, 'Incident 1', 'open', 'high', '2026-01-01Z'), (2, 'Incident 2', 'open', 'high', '2026-01-02Z'), "
		       "(3, 'Incident 3', 'open', 'high', '2026-01-03Z')");
}

static int64_t seed_user(cutover_identity *id, const char *email)
{
	cutover_user in = {.email = (char *)email, .role = "analyst", .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = T0, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	if (cutover_identity_create_user(id, &u, &in, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return 0;
	}
	int64_t v = u->id;
	cutover_user_free(u);
	return v;
}

static int setup(void **state)
{
	(void)state;
	test_log_reset();
	test_env_init(&env, cutover_stage_describe(stage)->name);
	env.opts.stage = cutover_stage_describe(stage)->name;
	T0 = (cutover_now() / SEC) * SEC - 86400 * SEC;
	seed_incidents();
	cutover_identity *id = NULL;
	if (cutover_identity_open(&id, &env.opts, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return -1;
	}
	AUTHOR = seed_user(id, "author@example.com");
	OTHER = seed_user(id, "other@example.com");
	PAGER = seed_user(id, "pager@example.com");
	cutover_identity_free(id);
	if (!AUTHOR || !OTHER || !PAGER)
		return -1;
	if (cutover_reports_open(&S, &env.opts, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cutover_reports_free(S);
	S = NULL;
	test_env_fini(&env);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_and_get_round_trip),
		cmocka_unit_test(ids_are_assigned_in_order_and_explicit_ids_kept),
		cmocka_unit_test(dangling_references_are_invalid),
		cmocka_unit_test(bad_input_is_refused_before_any_store),
		cmocka_unit_test(missing_reports_are_not_found),
		cmocka_unit_test(update_changes_only_what_is_set),
		cmocka_unit_test(archive_and_restore_keep_the_trail),
		cmocka_unit_test(actions_are_appended_in_order),
		cmocka_unit_test(pages_are_identical_newest_first_ties_by_id),
		cmocka_unit_test(a_cursor_survives_changes_between_pages),
		cmocka_unit_test(no_comparison_differed),
		cmocka_unit_test(both_stores_hold_the_same_records),
		cmocka_unit_test(a_refused_second_write_is_journaled),
	};
	test_log_capture();
	int failed = 0;
	for (int i = 0; i < CUTOVER_STAGE_COUNT; i++) {
		const char *name = cutover_stage_describe((cutover_stage)i)->name;
		bool wanted_stage = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted_stage |= strcmp(argv[a], name) == 0;
		if (!wanted_stage)
			continue;
		stage = (cutover_stage)i;
		char group[64];
		snprintf(group, sizeof(group), "reports conformance, stage %s", name);
		failed += cmocka_run_group_tests_name(group, tests, setup, teardown);
	}
	test_log_reset();
	return failed ? 1 : 0;
}
