/* fault_ops.c — every operation kind of the four domains, as a table.
 * See fault_ops.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fault_ops.h"

void fault_handles_free(fault_handles *h)
{
	cutover_identity_free(h->id);
	cutover_profile_free(h->pr);
	cutover_reports_free(h->rep);
	cutover_telemetry_free(h->tel);
	memset(h, 0, sizeof *h);
}

void fault_stats(fault_handles *h, cutover_domain d, cutover_stats *st)
{
	switch (d) {
	case CUTOVER_DOMAIN_IDENTITY: cutover_identity_stats(h->id, st); break;
	case CUTOVER_DOMAIN_PROFILE: cutover_profile_stats(h->pr, st); break;
	case CUTOVER_DOMAIN_REPORTS: cutover_reports_stats(h->rep, st); break;
	default: cutover_telemetry_stats(h->tel, st); break;
	}
}

double fault_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A 64-hex token from (tag, n): distinct pairs, distinct tokens. */
static const char *token(unsigned tag, unsigned n, char buf[65])
{
	uint64_t x = 0x9E3779B97F4A7C15ull * ((uint64_t)tag * 100003u + n + 1);
	for (int i = 0; i < 4; i++) {
		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9ull;
		x ^= x >> 29;
		snprintf(buf + i * 16, 17, "%016llx", (unsigned long long)x);
	}
	return buf;
}

/* --- identity ---------------------------------------------------------------- */

static int new_user(cutover_identity *s, fault_fixture *f, int64_t *id, char *email_out, size_t len,
		    const char *subject, cutover_error *err)
{
	char email[96];
	snprintf(email, sizeof email, "fault-%u-%u@example.com", f->tag, f->serial++);
	cutover_oauth_link link = {"github", (char *)subject};
	cutover_user in = {.email = email, .role = "analyst", .display_name = "Fault Fixture",
			   .password_hash = "$2b$12$FAULTFAULTFAULTFAULTFAULTFAULT", .oauth = subject ? &link : NULL,
			   .n_oauth = subject ? 1 : 0, .email_verified_at = CUTOVER_TS_NULL,
			   .created_at = CUTOVER_TS_NULL, .updated_at = CUTOVER_TS_NULL};
	cutover_user *u = NULL;
	int rc = cutover_identity_create_user(s, &u, &in, err);
	if (rc == CUTOVER_OK) {
		*id = u->id;
		if (email_out)
			snprintf(email_out, len, "%s", email);
	}
	cutover_user_free(u);
	return rc;
}

static int new_session(cutover_identity *s, const char *tok, int64_t user, cutover_error *err)
{
	cutover_session in = {.token_hash = (char *)tok, .user_id = user, .created_at = CUTOVER_TS_NULL,
			      .expires_at = cutover_now() + 86400000000LL, .last_seen_at = CUTOVER_TS_NULL,
			      .user_agent = "fault-test", .ip = "127.0.0.1"};
	return cutover_identity_create_session(s, &in, err);
}

static int id_create_user(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	int64_t id;
	return new_user(h->id, f, &id, NULL, 0, NULL, err);
}

static int id_get_user(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_user *u = NULL;
	int rc = cutover_identity_get_user(h->id, &u, f->user, err);
	cutover_user_free(u);
	return rc;
}

static int id_get_by_email(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_user *u = NULL;
	int rc = cutover_identity_get_user_by_email(h->id, &u, f->email, err);
	cutover_user_free(u);
	return rc;
}

static int id_get_by_oauth(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_user *u = NULL;
	int rc = cutover_identity_get_user_by_oauth(h->id, &u, "github", f->oauth_subject, err);
	cutover_user_free(u);
	return rc;
}

static int id_update_user(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_user *u = NULL;
	cutover_user_patch p = {.set = CUTOVER_USER_SET_DISPLAY_NAME, .display_name = "Renamed by the fault test"};
	int rc = cutover_identity_update_user(h->id, &u, f->user, &p, err);
	cutover_user_free(u);
	return rc;
}

static int id_list_assignable(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	(void)f;
	cutover_user_list l = {0};
	int rc = cutover_identity_list_assignable_users(h->id, &l, "analyst", err);
	cutover_user_list_free(&l);
	return rc;
}

static int id_create_session(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	char tok[65];
	return new_session(h->id, token(f->tag, 1000 + f->serial++, tok), f->user, err);
}

static int id_get_session(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_session *s = NULL;
	int rc = cutover_identity_get_session(h->id, &s, f->tok_keep, err);
	cutover_session_free(s);
	return rc;
}

static int id_lookup_session(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_session *s = NULL;
	cutover_user *u = NULL;
	int rc = cutover_identity_lookup_session(h->id, &s, &u, f->tok_keep, CUTOVER_TS_NOW, err);
	cutover_session_free(s);
	cutover_user_free(u);
	return rc;
}

static int id_touch_session(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_identity_touch_session(h->id, NULL, f->tok_keep, CUTOVER_TS_NOW, err);
}

static int id_delete_session(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_identity_delete_session(h->id, f->tok_del, err);
}

static int id_delete_user_sessions(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	size_t n = 0;
	return cutover_identity_delete_user_sessions(h->id, f->user2, &n, err);
}

static int id_delete_expired(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	(void)f;
	size_t n = 0;
	return cutover_identity_delete_expired_sessions(h->id, CUTOVER_TS_NOW, &n, err);
}

/* --- profile ------------------------------------------------------------------ */

/* Keep the portfolio a write handed back (it names the current entry ids). */
static int keep(fault_fixture *f, int rc, cutover_portfolio *out)
{
	if (rc == CUTOVER_OK && out) {
		cutover_portfolio_free(f->portfolio);
		f->portfolio = out;
	} else {
		cutover_portfolio_free(out);
	}
	return rc;
}

static int pr_get(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_portfolio *p = NULL;
	int rc = cutover_profile_get(h->pr, &p, f->prof_user, err);
	cutover_portfolio_free(p);
	return rc;
}

static int pr_put(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_portfolio in = *f->portfolio; /* the lists as stored, ids kept */
	in.headline = "Put while the fault test ran";
	in.updated_at = CUTOVER_TS_NULL;
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_put(h->pr, &out, &in, err);
	return keep(f, rc, out);
}

static cutover_certification a_cert(int64_t id, const char *name)
{
	return (cutover_certification){.id = id, .name = (char *)name, .issuer = "ISC2", .issued_on = "2021-03-01",
				       .expires_on = "2027-03-01", .credential_id = "F-1",
				       .asset_path = "certs/fault/cert.pdf"};
}

static cutover_education an_education(int64_t id, const char *institution)
{
	return (cutover_education){.id = id, .institution = (char *)institution, .degree = "BSc",
				   .field = "Networks", .start_year = 2010, .end_year = 2014};
}

static int pr_add_cert(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_certification c = a_cert(0, "Added while the fault test ran");
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_add_certification(h->pr, &out, f->prof_user, &c, err);
	return keep(f, rc, out);
}

static int pr_update_cert(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_certification c = a_cert(f->portfolio->certifications[0].id, "Updated while the fault test ran");
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_update_certification(h->pr, &out, f->prof_user, &c, err);
	return keep(f, rc, out);
}

static int pr_reorder_certs(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	size_t n = f->portfolio->n_certifications;
	int64_t ids[16];
	for (size_t i = 0; i < n && i < 16; i++)
		ids[i] = f->portfolio->certifications[n - 1 - i].id;
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_reorder_certifications(h->pr, &out, f->prof_user, ids, n, err);
	return keep(f, rc, out);
}

static int pr_delete_cert(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	int64_t id = f->portfolio->certifications[f->portfolio->n_certifications - 1].id;
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_delete_certification(h->pr, &out, f->prof_user, id, err);
	return keep(f, rc, out);
}

static int pr_add_edu(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_education e = an_education(0, "Added while the fault test ran");
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_add_education(h->pr, &out, f->prof_user, &e, err);
	return keep(f, rc, out);
}

static int pr_update_edu(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_education e = an_education(f->portfolio->education[0].id, "Updated while the fault test ran");
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_update_education(h->pr, &out, f->prof_user, &e, err);
	return keep(f, rc, out);
}

static int pr_reorder_edu(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	size_t n = f->portfolio->n_education;
	int64_t ids[16];
	for (size_t i = 0; i < n && i < 16; i++)
		ids[i] = f->portfolio->education[n - 1 - i].id;
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_reorder_education(h->pr, &out, f->prof_user, ids, n, err);
	return keep(f, rc, out);
}

static int pr_delete_edu(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	int64_t id = f->portfolio->education[f->portfolio->n_education - 1].id;
	cutover_portfolio *out = NULL;
	int rc = cutover_profile_delete_education(h->pr, &out, f->prof_user, id, err);
	return keep(f, rc, out);
}

/* --- reports ------------------------------------------------------------------ */

static int new_report(cutover_reports *s, int64_t author, int64_t *id, cutover_error *err)
{
	char *tags[] = {"fault", "phishing"};
	cutover_report in = {.title = "Fault test report", .summary = "made by the fault test",
			     .content = "Several paragraphs would go here.", .severity = "high", .tags = tags,
			     .n_tags = 2, .author_id = author, .created_at = CUTOVER_TS_NULL,
			     .updated_at = CUTOVER_TS_NULL, .archived_at = CUTOVER_TS_NULL};
	cutover_report *r = NULL;
	int rc = cutover_reports_create(s, &r, &in, err);
	if (rc == CUTOVER_OK && id)
		*id = r->id;
	cutover_report_free(r);
	return rc;
}

static int rep_create(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return new_report(h->rep, f->user, NULL, err);
}

static int rep_get(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_report *r = NULL;
	int rc = cutover_reports_get(h->rep, &r, f->report, err);
	cutover_report_free(r);
	return rc;
}

static int rep_list(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_report_filter flt = {.author_id = f->user};
	cutover_report_page p = {0};
	int rc = cutover_reports_list(h->rep, &p, &flt, NULL, 20, err);
	cutover_report_page_free(&p);
	return rc;
}

static int rep_update(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_report_patch p = {.set = CUTOVER_REPORT_SET_TITLE, .title = "Retitled by the fault test"};
	cutover_report *r = NULL;
	int rc = cutover_reports_update(h->rep, &r, f->report, &p, err);
	cutover_report_free(r);
	return rc;
}

static int rep_archive(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_reports_archive(h->rep, NULL, f->report, f->user, "fault test", err);
}

static int rep_restore(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_reports_restore(h->rep, NULL, f->report, f->user, "fault test", err);
}

static int rep_record_action(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_reports_record_action(h->rep, NULL, f->report, "read", f->user, NULL, err);
}

static int rep_list_actions(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_report_action_list l = {0};
	int rc = cutover_reports_list_actions(h->rep, &l, f->report, err);
	cutover_report_action_list_free(&l);
	return rc;
}

/* --- telemetry ------------------------------------------------------------------ */

static int new_event(cutover_telemetry *s, cutover_ts at, int64_t *id, cutover_error *err)
{
	cutover_event in = {.occurred_at = at, .source_ip = "203.0.113.9", .region = "eu-west", .node = "edge-3",
			    .attack_type = "credential-stuffing", .severity = "medium",
			    .payload = "{\"attempts\":12,\"path\":\"/login\"}"};
	cutover_event_list out = {0};
	int rc = cutover_telemetry_append_events(s, &out, &in, 1, err);
	if (rc == CUTOVER_OK && id)
		*id = out.items[0].id;
	cutover_event_list_free(&out);
	return rc;
}

static int new_incident(cutover_telemetry *s, int64_t *id, cutover_error *err)
{
	cutover_incident in = {.title = "Fault test incident", .severity = "high", .opened_at = CUTOVER_TS_NULL,
			       .resolved_at = CUTOVER_TS_NULL};
	cutover_incident *out = NULL;
	int rc = cutover_telemetry_create_incident(s, &out, &in, err);
	if (rc == CUTOVER_OK && id)
		*id = out->id;
	cutover_incident_free(out);
	return rc;
}

static int tel_append(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return new_event(h->tel, f->event_at + 1000, NULL, err);
}

static int tel_query(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_event_query q = {.from = f->event_at - 3600000000LL, .to = f->event_at + 3600000000LL,
				 .region = "eu-west", .limit = 50};
	cutover_event_page p = {0};
	int rc = cutover_telemetry_query_events(h->tel, &p, &q, err);
	cutover_event_page_free(&p);
	return rc;
}

static int tel_create_incident(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	(void)f;
	return new_incident(h->tel, NULL, err);
}

static int tel_get_incident(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_incident *i = NULL;
	int rc = cutover_telemetry_get_incident(h->tel, &i, f->incident, err);
	cutover_incident_free(i);
	return rc;
}

static int tel_transition(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	static const char *const next[][2] = {{"open", "investigating"}, {"investigating", "contained"},
					      {"contained", "resolved"}, {"resolved", "open"}};
	const char *to = "investigating";
	for (size_t i = 0; i < 4; i++)
		if (strcmp(f->incident_state, next[i][0]) == 0)
			to = next[i][1];
	int rc = cutover_telemetry_transition_incident(h->tel, NULL, f->incident, to, err);
	if (rc == CUTOVER_OK)
		snprintf(f->incident_state, sizeof f->incident_state, "%s", to);
	return rc;
}

static int tel_link(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	return cutover_telemetry_link_event(h->tel, NULL, f->event, f->incident, err);
}

static int tel_list_incident_events(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	cutover_event_page p = {0};
	int rc = cutover_telemetry_list_incident_events(h->tel, &p, f->incident, NULL, 50, err);
	cutover_event_page_free(&p);
	return rc;
}

/* --- the table ---------------------------------------------------------------------- */

#define I CUTOVER_DOMAIN_IDENTITY
#define P CUTOVER_DOMAIN_PROFILE
#define R CUTOVER_DOMAIN_REPORTS
#define T CUTOVER_DOMAIN_TELEMETRY

const fault_op fault_ops[] = {
	{I, "create_user", true, id_create_user},
	{I, "get_user", false, id_get_user},
	{I, "get_user_by_email", false, id_get_by_email},
	{I, "get_user_by_oauth", false, id_get_by_oauth},
	{I, "update_user", true, id_update_user},
	{I, "list_assignable_users", false, id_list_assignable},
	{I, "create_session", true, id_create_session},
	{I, "get_session", false, id_get_session},
	{I, "lookup_session", false, id_lookup_session},
	{I, "touch_session", true, id_touch_session},
	{I, "delete_session", true, id_delete_session},
	{I, "delete_user_sessions", true, id_delete_user_sessions},
	{I, "delete_expired_sessions", true, id_delete_expired},
	{P, "get", false, pr_get},
	{P, "put", true, pr_put},
	{P, "add_certification", true, pr_add_cert},
	{P, "update_certification", true, pr_update_cert},
	{P, "reorder_certifications", true, pr_reorder_certs},
	{P, "delete_certification", true, pr_delete_cert},
	{P, "add_education", true, pr_add_edu},
	{P, "update_education", true, pr_update_edu},
	{P, "reorder_education", true, pr_reorder_edu},
	{P, "delete_education", true, pr_delete_edu},
	{R, "create", true, rep_create},
	{R, "get", false, rep_get},
	{R, "list", false, rep_list},
	{R, "update", true, rep_update},
	{R, "archive", true, rep_archive},
	{R, "restore", true, rep_restore},
	{R, "record_action", true, rep_record_action},
	{R, "list_actions", false, rep_list_actions},
	{T, "append_events", true, tel_append},
	{T, "query_events", false, tel_query},
	{T, "create_incident", true, tel_create_incident},
	{T, "get_incident", false, tel_get_incident},
	{T, "transition_incident", true, tel_transition},
	{T, "link_event", true, tel_link},
	{T, "list_incident_events", false, tel_list_incident_events},
};
const size_t fault_ops_count = sizeof fault_ops / sizeof fault_ops[0];

/* --- fixtures ------------------------------------------------------------------------- */

static int prepare_users(fault_handles *h, fault_fixture *f, cutover_error *err)
{
	int rc;
	char tok[65];
	snprintf(f->oauth_subject, sizeof f->oauth_subject, "gh-fault-%u", f->tag);
	if ((rc = new_user(h->id, f, &f->user, f->email, sizeof f->email, f->oauth_subject, err)) ||
	    (rc = new_user(h->id, f, &f->user2, NULL, 0, NULL, err)))
		return rc;
	token(f->tag, 1, f->tok_keep);
	token(f->tag, 2, f->tok_del);
	if ((rc = new_session(h->id, f->tok_keep, f->user, err)) || (rc = new_session(h->id, f->tok_del, f->user, err)) ||
	    (rc = new_session(h->id, token(f->tag, 3, tok), f->user2, err)))
		return rc;
	return new_session(h->id, token(f->tag, 4, tok), f->user2, err);
}

int fault_prepare(cutover_domain d, fault_handles *h, fault_fixture *f, cutover_error *err)
{
	int rc;
	if (!f->user && (rc = prepare_users(h, f, err)))
		return rc;
	switch (d) {
	case CUTOVER_DOMAIN_IDENTITY:
		return CUTOVER_OK;
	case CUTOVER_DOMAIN_PROFILE: {
		char *spec[] = {"threat hunting", "forensics"}, *tools[] = {"zeek", "suricata", "volatility"};
		cutover_certification certs[] = {a_cert(0, "CISSP"), a_cert(0, "OSCP")};
		cutover_education edu[] = {an_education(0, "Open University"), an_education(0, "Night school")};
		cutover_portfolio in = {.user_id = f->user, .headline = "Incident responder", .bio = "Fixture",
					.location = "Lisbon", .website = "https://example.com/me",
					.avatar_path = "avatars/fault/me.png", .specialties = spec, .n_specialties = 2,
					.tools = tools, .n_tools = 3, .certifications = certs, .n_certifications = 2,
					.education = edu, .n_education = 2, .updated_at = CUTOVER_TS_NULL};
		cutover_portfolio *out = NULL;
		f->prof_user = f->user;
		rc = cutover_profile_put(h->pr, &out, &in, err);
		return keep(f, rc, out);
	}
	case CUTOVER_DOMAIN_REPORTS:
		return new_report(h->rep, f->user, &f->report, err);
	case CUTOVER_DOMAIN_TELEMETRY:
		f->event_at = cutover_now() - 60000000LL; /* a minute ago: today's file (or yesterday's near midnight) */
		snprintf(f->incident_state, sizeof f->incident_state, "open");
		if ((rc = new_incident(h->tel, &f->incident, err)))
			return rc;
		return new_event(h->tel, f->event_at, &f->event, err);
	default:
		return co_err(err, CUTOVER_EINVALID, "no such domain");
	}
}

void fault_fixture_free(fault_fixture *f)
{
	cutover_portfolio_free(f->portfolio);
	f->portfolio = NULL;
}

/* --- file tree snapshots ------------------------------------------------------------------ */

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const fault_file *)a)->path, ((const fault_file *)b)->path);
}

static int walk(fault_tree *t, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		co_buf p = {0};
		co_buf_printf(&p, "%s/%s", dir, de->d_name);
		struct stat st;
		if (p.failed || lstat(p.data, &st) != 0) {
			co_buf_free(&p);
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = walk(t, p.data);
			co_buf_free(&p);
			continue;
		}
		fault_file *grown = realloc(t->files, (t->n + 1) * sizeof *grown);
		if (!grown) {
			co_buf_free(&p);
			rc = -1;
			break;
		}
		t->files = grown;
		fault_file *f = &t->files[t->n++];
		*f = (fault_file){.path = p.data, .ino = (unsigned long long)st.st_ino,
				  .size = (unsigned long long)st.st_size,
				  .mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
		FILE *in = S_ISREG(st.st_mode) ? fopen(p.data, "rb") : NULL;
		co_buf b = {0};
		char buf[65536];
		size_t n;
		while (in && (n = fread(buf, 1, sizeof buf, in)) > 0)
			co_buf_put(&b, buf, n);
		if (in)
			fclose(in);
		f->data = b.data;
	}
	closedir(d);
	return rc;
}

int fault_tree_take(fault_tree *t, const char *dir)
{
	t->files = NULL;
	t->n = 0;
	int rc = walk(t, dir);
	if (t->n)
		qsort(t->files, t->n, sizeof *t->files, file_cmp);
	return rc;
}

char *fault_tree_diff(const fault_tree *a, const fault_tree *b)
{
	co_buf out = {0};
	size_t i = 0, j = 0, shown = 0;
	while ((i < a->n || j < b->n) && shown < 10) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->files[i].path, b->files[j].path);
		if (c < 0) {
			co_buf_printf(&out, "removed: %s\n", a->files[i++].path);
			shown++;
		} else if (c > 0) {
			co_buf_printf(&out, "created: %s\n", b->files[j++].path);
			shown++;
		} else {
			const fault_file *x = &a->files[i++], *y = &b->files[j++];
			bool same_bytes = x->size == y->size &&
					  (x->size == 0 || (x->data && y->data && memcmp(x->data, y->data, x->size) == 0));
			if (!same_bytes || x->ino != y->ino || x->mtime_ns != y->mtime_ns) {
				co_buf_printf(&out, "%s: %s\n", same_bytes ? "replaced or touched" : "changed", x->path);
				shown++;
			}
		}
	}
	return out.data;
}

void fault_tree_free(fault_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->files[i].path);
		free(t->files[i].data);
	}
	free(t->files);
	t->files = NULL;
	t->n = 0;
}
