/* profile.c — what an app calls, and the portfolio records.
 *
 * The cutover_profile_* functions are the only door into a profile backend:
 * they check the input once against the one set of rules
 * (co_portfolio_check: UTF-8, lengths, list sizes, dates, years, ids), resolve
 * "now", and turn the add/update/delete/reorder calls into one edit that every
 * store applies with the same function (co_portfolio_apply_edit) to the
 * portfolio it holds. So json, postgres and both halves of a dual stage see
 * the same values and give the same answers, refusals included.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_int.h"

/* --- records ----------------------------------------------------------------- */

static void cert_clear(cutover_certification *c)
{
	free(c->name);
	free(c->issuer);
	free(c->issued_on);
	free(c->expires_on);
	free(c->credential_id);
	free(c->credential_url);
	free(c->asset_path);
	memset(c, 0, sizeof(*c));
}

static void edu_clear(cutover_education *e)
{
	free(e->institution);
	free(e->degree);
	free(e->field);
	memset(e, 0, sizeof(*e));
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void co_portfolio_clear(cutover_portfolio *p)
{
	if (!p)
		return;
	free(p->headline);
	free(p->bio);
	free(p->location);
	free(p->website);
	free(p->avatar_path);
	names_free(p->specialties, p->n_specialties);
	names_free(p->tools, p->n_tools);
	for (size_t i = 0; i < p->n_certifications; i++)
		cert_clear(&p->certifications[i]);
	free(p->certifications);
	for (size_t i = 0; i < p->n_education; i++)
		edu_clear(&p->education[i]);
	free(p->education);
	memset(p, 0, sizeof(*p));
}

CUTOVER_API void cutover_portfolio_free(cutover_portfolio *p)
{
	co_portfolio_clear(p);
	free(p);
}

static bool cert_copy(cutover_certification *d, const cutover_certification *c)
{
	memset(d, 0, sizeof(*d));
	d->id = c->id;
	bool ok = co_dup_str(&d->name, c->name) && co_dup_str(&d->issuer, c->issuer) && co_dup_str(&d->issued_on, c->issued_on) &&
		  co_dup_str(&d->expires_on, c->expires_on) && co_dup_str(&d->credential_id, c->credential_id) &&
		  co_dup_str(&d->credential_url, c->credential_url) && co_dup_str(&d->asset_path, c->asset_path);
	if (!ok)
		cert_clear(d);
	return ok;
}

static bool edu_copy(cutover_education *d, const cutover_education *e)
{
	memset(d, 0, sizeof(*d));
	d->id = e->id;
	d->start_year = e->start_year;
	d->end_year = e->end_year;
	bool ok = co_dup_str(&d->institution, e->institution) && co_dup_str(&d->degree, e->degree) &&
		  co_dup_str(&d->field, e->field);
	if (!ok)
		edu_clear(d);
	return ok;
}

static bool names_copy(char ***dst, size_t *dn, char *const *src, size_t n)
{
	*dst = NULL;
	*dn = 0;
	if (!n)
		return true;
	if (!(*dst = calloc(n, sizeof(**dst))))
		return false;
	for (size_t i = 0; i < n; i++) {
		*dn = i + 1;
		if (!co_dup_str(&(*dst)[i], src[i]))
			return false;
	}
	return true;
}

cutover_portfolio *co_portfolio_dup(const cutover_portfolio *p)
{
	cutover_portfolio *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->user_id = p->user_id;
	d->updated_at = p->updated_at;
	bool ok = co_dup_str(&d->headline, p->headline) && co_dup_str(&d->bio, p->bio) && co_dup_str(&d->location, p->location) &&
		  co_dup_str(&d->website, p->website) && co_dup_str(&d->avatar_path, p->avatar_path) &&
		  names_copy(&d->specialties, &d->n_specialties, p->specialties, p->n_specialties) &&
		  names_copy(&d->tools, &d->n_tools, p->tools, p->n_tools);
	if (ok && p->n_certifications) {
		ok = (d->certifications = calloc(p->n_certifications, sizeof(*d->certifications))) != NULL;
		for (size_t i = 0; ok && i < p->n_certifications; i++) {
			ok = cert_copy(&d->certifications[i], &p->certifications[i]);
			if (ok)
				d->n_certifications = i + 1;
		}
	}
	if (ok && p->n_education) {
		ok = (d->education = calloc(p->n_education, sizeof(*d->education))) != NULL;
		for (size_t i = 0; ok && i < p->n_education; i++) {
			ok = edu_copy(&d->education[i], &p->education[i]);
			if (ok)
				d->n_education = i + 1;
		}
	}
	if (!ok) {
		cutover_portfolio_free(d);
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

static bool names_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!co_streq(a[i], b[i]))
			return false;
	return true;
}

static bool cert_equal(const cutover_certification *a, const cutover_certification *b)
{
	return a->id == b->id && co_streq(a->name, b->name) && co_streq(a->issuer, b->issuer) &&
	       co_streq(a->issued_on, b->issued_on) && co_streq(a->expires_on, b->expires_on) &&
	       co_streq(a->credential_id, b->credential_id) && co_streq(a->credential_url, b->credential_url) &&
	       co_streq(a->asset_path, b->asset_path);
}

static bool edu_equal(const cutover_education *a, const cutover_education *b)
{
	return a->id == b->id && co_streq(a->institution, b->institution) && co_streq(a->degree, b->degree) &&
	       co_streq(a->field, b->field) && a->start_year == b->start_year && a->end_year == b->end_year;
}

int co_portfolio_diff(const cutover_portfolio *a, const cutover_portfolio *b, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
#define STR(f) if (!co_streq(a->f, b->f)) diff_add(buf, len, &n, #f)
	if (a->user_id != b->user_id)
		diff_add(buf, len, &n, "user_id");
	STR(headline);
	STR(bio);
	STR(location);
	STR(website);
	STR(avatar_path);
#undef STR
	if (!names_equal(a->specialties, a->n_specialties, b->specialties, b->n_specialties))
		diff_add(buf, len, &n, "specialties");
	if (!names_equal(a->tools, a->n_tools, b->tools, b->n_tools))
		diff_add(buf, len, &n, "tools");
	bool same = a->n_certifications == b->n_certifications;
	for (size_t i = 0; same && i < a->n_certifications; i++)
		same = cert_equal(&a->certifications[i], &b->certifications[i]);
	if (!same)
		diff_add(buf, len, &n, "certifications");
	same = a->n_education == b->n_education;
	for (size_t i = 0; same && i < a->n_education; i++)
		same = edu_equal(&a->education[i], &b->education[i]);
	if (!same)
		diff_add(buf, len, &n, "education");
	if (a->updated_at != b->updated_at)
		diff_add(buf, len, &n, "updated_at");
	return n;
}

/* --- rules ------------------------------------------------------------------------ */

bool co_date_valid(const char *s)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

/* The message prefix: "put profile: " or "". */
#define PFX(what) (what) ? (what) : "", (what) ? ": " : ""

static int text_ok(const char *v, size_t max, int code, const char *what, const char *where, const char *field,
		   cutover_error *err)
{
	if (!v)
		return CUTOVER_OK;
	if (!co_utf8_valid(v))
		return co_err(err, code, "%s%s%sfield \"%s\" is not valid UTF-8", PFX(what), where, field);
	if (strlen(v) > max) {
		co_err(err, code, "%s%s%sfield \"%s\" is longer than %zu bytes", PFX(what), where, field, max);
		co_err_hint(err, "shorten it; the profile keeps at most %zu bytes there", max);
		return code;
	}
	return CUTOVER_OK;
}

static int id_ok(int64_t id, bool stored, int code, const char *what, const char *where, cutover_error *err)
{
	if (id < 0 || id > CO_ID_MAX || (stored && id == 0)) {
		co_err(err, code, "%s%s%sfield \"id\" must be an integer from %d to 2^53, found %" PRId64, PFX(what), where,
		       stored ? 1 : 0, id);
		if (!stored)
			co_err_hint(err, "pass 0 to have the store assign the next id");
		return code;
	}
	return CUTOVER_OK;
}

static int cert_rules(const cutover_certification *c, size_t index, bool stored, int code, const char *what,
		      cutover_error *err)
{
	char where[96];
	snprintf(where, sizeof(where), "certification %zu (id %" PRId64 "): ", index + 1, c->id);
	int rc;
	if ((rc = id_ok(c->id, stored, code, what, where, err)))
		return rc;
	if (!c->name || !*c->name) {
		co_err(err, code, "%s%s%sfield \"name\" is missing or empty", PFX(what), where);
		co_err_hint(err, "every certification needs a name");
		return code;
	}
	if ((rc = text_ok(c->name, CO_PROFILE_TEXT_MAX, code, what, where, "name", err)) ||
	    (rc = text_ok(c->issuer, CO_PROFILE_TEXT_MAX, code, what, where, "issuer", err)) ||
	    (rc = text_ok(c->credential_id, CO_PROFILE_TEXT_MAX, code, what, where, "credential_id", err)) ||
	    (rc = text_ok(c->credential_url, CO_PROFILE_TEXT_MAX, code, what, where, "credential_url", err)) ||
	    (rc = text_ok(c->asset_path, CO_PROFILE_TEXT_MAX, code, what, where, "asset_path", err)))
		return rc;
	const char *dates[2][2] = {{"issued_on", c->issued_on}, {"expires_on", c->expires_on}};
	for (int i = 0; i < 2; i++) {
		if (dates[i][1] && !co_date_valid(dates[i][1])) {
			co_err(err, code, "%s%s%sfield \"%s\" is not a date: \"%.40s\"", PFX(what), where, dates[i][0],
			       co_utf8_valid(dates[i][1]) ? dates[i][1] : "(invalid UTF-8)");
			co_err_hint(err, "dates are YYYY-MM-DD, a real calendar date in years 0001-9999");
			return code;
		}
	}
	if (c->issued_on && c->expires_on && strcmp(c->expires_on, c->issued_on) < 0) {
		co_err(err, code, "%s%s%sexpires_on %s is before issued_on %s", PFX(what), where, c->expires_on, c->issued_on);
		co_err_hint(err, "fix the dates, or leave expires_on out for a certification that does not expire");
		return code;
	}
	return CUTOVER_OK;
}

static int edu_rules(const cutover_education *e, size_t index, bool stored, int code, const char *what,
		     cutover_error *err)
{
	char where[96];
	snprintf(where, sizeof(where), "education %zu (id %" PRId64 "): ", index + 1, e->id);
	int rc;
	if ((rc = id_ok(e->id, stored, code, what, where, err)))
		return rc;
	if (!e->institution || !*e->institution) {
		co_err(err, code, "%s%s%sfield \"institution\" is missing or empty", PFX(what), where);
		co_err_hint(err, "every education entry needs an institution");
		return code;
	}
	if ((rc = text_ok(e->institution, CO_PROFILE_TEXT_MAX, code, what, where, "institution", err)) ||
	    (rc = text_ok(e->degree, CO_PROFILE_TEXT_MAX, code, what, where, "degree", err)) ||
	    (rc = text_ok(e->field, CO_PROFILE_TEXT_MAX, code, what, where, "field", err)))
		return rc;
	const char *names[2] = {"start_year", "end_year"};
	int years[2] = {e->start_year, e->end_year};
	for (int i = 0; i < 2; i++) {
		if (years[i] < 0 || years[i] > CO_YEAR_MAX) {
			co_err(err, code, "%s%s%sfield \"%s\" is %d, not a year from 1 to 9999", PFX(what), where, names[i],
			       years[i]);
			co_err_hint(err, "pass 0 (or leave it out of the legacy record) when there is no year");
			return code;
		}
	}
	if (e->start_year && e->end_year && e->start_year > e->end_year) {
		co_err(err, code, "%s%s%sstart_year %d is after end_year %d", PFX(what), where, e->start_year, e->end_year);
		co_err_hint(err, "fix the years, or leave end_year out for an education in progress");
		return code;
	}
	return CUTOVER_OK;
}

int co_certification_check(const cutover_certification *c, size_t index, int code, const char *what, cutover_error *err)
{
	return cert_rules(c, index, false, code, what, err);
}

int co_education_check(const cutover_education *e, size_t index, int code, const char *what, cutover_error *err)
{
	return edu_rules(e, index, false, code, what, err);
}

static int names_rules(char *const *v, size_t n, const char *field, int code, const char *what, cutover_error *err)
{
	if (n > CO_PROFILE_LIST_MAX)
		return co_err(err, code, "%s%s\"%s\" has %zu entries; at most %d are kept", PFX(what), field, n,
			      CO_PROFILE_LIST_MAX);
	if (n && !v)
		return co_err(err, code, "%s%s\"%s\" has %zu entries but no list", PFX(what), field, n);
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "%s %zu: ", field, i + 1);
		if (!v[i])
			return co_err(err, code, "%s%s%sthe entry is null; a name is required", PFX(what), where);
		int rc = text_ok(v[i], CO_PROFILE_TEXT_MAX, code, what, where, "name", err);
		if (rc)
			return rc;
	}
	return CUTOVER_OK;
}

int co_portfolio_check(const cutover_portfolio *p, bool stored, int code, const char *what, cutover_error *err)
{
	int rc;
	if (p->user_id <= 0 || p->user_id > CO_ID_MAX)
		return co_err(err, code, "%s%sfield \"user_id\" must be an integer from 1 to 2^53, found %" PRId64, PFX(what),
			      p->user_id);
	if ((rc = text_ok(p->headline, CO_PROFILE_TEXT_MAX, code, what, "", "headline", err)) ||
	    (rc = text_ok(p->bio, CO_PROFILE_BIO_MAX, code, what, "", "bio", err)) ||
	    (rc = text_ok(p->location, CO_PROFILE_TEXT_MAX, code, what, "", "location", err)) ||
	    (rc = text_ok(p->website, CO_PROFILE_TEXT_MAX, code, what, "", "website", err)) ||
	    (rc = text_ok(p->avatar_path, CO_PROFILE_TEXT_MAX, code, what, "", "avatar_path", err)) ||
	    (rc = names_rules(p->specialties, p->n_specialties, "specialties", code, what, err)) ||
	    (rc = names_rules(p->tools, p->n_tools, "tools", code, what, err)))
		return rc;
	if (p->n_certifications > CO_PROFILE_LIST_MAX || p->n_education > CO_PROFILE_LIST_MAX)
		return co_err(err, code, "%s%sat most %d certifications and %d education entries are kept", PFX(what),
			      CO_PROFILE_LIST_MAX, CO_PROFILE_LIST_MAX);
	if ((p->n_certifications && !p->certifications) || (p->n_education && !p->education))
		return co_err(err, code, "%s%sa list count is set but the list is missing", PFX(what));
	for (size_t i = 0; i < p->n_certifications; i++) {
		if ((rc = cert_rules(&p->certifications[i], i, stored, code, what, err)))
			return rc;
		for (size_t j = 0; p->certifications[i].id && j < i; j++)
			if (p->certifications[j].id == p->certifications[i].id)
				return co_err(err, code, "%s%scertifications %zu and %zu have the same id %" PRId64, PFX(what),
					      j + 1, i + 1, p->certifications[i].id);
	}
	for (size_t i = 0; i < p->n_education; i++) {
		if ((rc = edu_rules(&p->education[i], i, stored, code, what, err)))
			return rc;
		for (size_t j = 0; p->education[i].id && j < i; j++)
			if (p->education[j].id == p->education[i].id)
				return co_err(err, code, "%s%seducation entries %zu and %zu have the same id %" PRId64,
					      PFX(what), j + 1, i + 1, p->education[i].id);
	}
	if (p->updated_at != CUTOVER_TS_NULL && !co_ts_in_range(p->updated_at))
		return co_err(err, code, "%s%sfield \"updated_at\" is outside years 0001-9999", PFX(what));
	return CUTOVER_OK;
}

/* --- edits -------------------------------------------------------------------------- */

static const char *const edit_names[] = {
	[CUTOVER_PROFILE_ADD_CERTIFICATION] = "add certification",
	[CUTOVER_PROFILE_UPDATE_CERTIFICATION] = "update certification",
	[CUTOVER_PROFILE_DELETE_CERTIFICATION] = "delete certification",
	[CUTOVER_PROFILE_REORDER_CERTIFICATIONS] = "reorder certifications",
	[CUTOVER_PROFILE_ADD_EDUCATION] = "add education",
	[CUTOVER_PROFILE_UPDATE_EDUCATION] = "update education",
	[CUTOVER_PROFILE_DELETE_EDUCATION] = "delete education",
	[CUTOVER_PROFILE_REORDER_EDUCATION] = "reorder education",
};

static bool edit_kind_valid(int k)
{
	return k >= CUTOVER_PROFILE_ADD_CERTIFICATION && k <= CUTOVER_PROFILE_REORDER_EDUCATION;
}

const char *co_profile_edit_name(int kind)
{
	return edit_kind_valid(kind) ? edit_names[kind] : "edit profile";
}

static bool is_cert_edit(int k)
{
	return k <= CUTOVER_PROFILE_REORDER_CERTIFICATIONS;
}

/* The ids of one list, generic over certifications and education. */
typedef struct id_list {
	size_t n;
	int64_t (*id_at)(const cutover_portfolio *p, size_t i);
} id_list;

static int64_t cert_id_at(const cutover_portfolio *p, size_t i)
{
	return p->certifications[i].id;
}

static int64_t edu_id_at(const cutover_portfolio *p, size_t i)
{
	return p->education[i].id;
}

static void ids_text(const cutover_portfolio *p, bool cert, const int64_t *given, size_t n, char *buf, size_t len)
{
	co_buf b = {0};
	size_t count = given ? n : cert ? p->n_certifications : p->n_education;
	for (size_t i = 0; i < count && b.len < len; i++) {
		int64_t id = given ? given[i] : cert ? cert_id_at(p, i) : edu_id_at(p, i);
		co_buf_printf(&b, "%s%" PRId64, i ? "," : "", id);
	}
	snprintf(buf, len, "%s", b.data && !b.failed ? b.data : "");
	if (b.len >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	co_buf_free(&b);
}

static int reorder(cutover_portfolio *p, bool cert, const int64_t *ids, size_t n, const char *what, cutover_error *err)
{
	size_t count = cert ? p->n_certifications : p->n_education;
	const char *noun = cert ? "certification" : "education";
	bool ok = n == count && (n == 0 || ids);
	for (size_t i = 0; ok && i < n; i++) {
		bool found = false;
		for (size_t k = 0; !found && k < count; k++)
			found = (cert ? cert_id_at(p, k) : edu_id_at(p, k)) == ids[i];
		for (size_t j = 0; found && j < i; j++)
			found = ids[j] != ids[i];
		ok = found;
	}
	if (!ok) {
		char cur[200], got[200];
		ids_text(p, cert, NULL, 0, cur, sizeof(cur));
		ids_text(p, cert, ids, ids ? n : 0, got, sizeof(got));
		co_err(err, CUTOVER_EINVALID, "%s: the new order must name each of user %" PRId64 "'s %zu %s ids exactly once",
		       what, p->user_id, count, noun);
		co_err_detail(err, "current ids: [%s]; given: [%s]", cur, got);
		co_err_hint(err, "read the profile again and pass all of its %s ids, each once, in the order you want", noun);
		return CUTOVER_EINVALID;
	}
	if (n < 2)
		return CUTOVER_OK;
	if (cert) {
		cutover_certification *v = malloc(n * sizeof(*v));
		if (!v)
			return co_err_oom(err);
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < n; k++)
				if (p->certifications[k].id == ids[i])
					v[i] = p->certifications[k];
		memcpy(p->certifications, v, n * sizeof(*v));
		free(v);
	} else {
		cutover_education *v = malloc(n * sizeof(*v));
		if (!v)
			return co_err_oom(err);
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < n; k++)
				if (p->education[k].id == ids[i])
					v[i] = p->education[k];
		memcpy(p->education, v, n * sizeof(*v));
		free(v);
	}
	return CUTOVER_OK;
}

static size_t find_id(const cutover_portfolio *p, bool cert, int64_t id)
{
	size_t count = cert ? p->n_certifications : p->n_education;
	for (size_t i = 0; i < count; i++)
		if ((cert ? cert_id_at(p, i) : edu_id_at(p, i)) == id)
			return i;
	return (size_t)-1;
}

static int not_found(const cutover_portfolio *p, bool cert, int64_t id, const char *what, cutover_error *err)
{
	co_err(err, CUTOVER_ENOTFOUND, "%s: user %" PRId64 "'s profile has no %s with id %" PRId64, what, p->user_id,
	       cert ? "certification" : "education entry", id);
	co_err_hint(err, "read the profile again for the current ids");
	return CUTOVER_ENOTFOUND;
}

int co_portfolio_apply_edit(cutover_portfolio *p, const cutover_profile_edit *e, cutover_ts now, cutover_error *err)
{
	if (!e || !edit_kind_valid((int)e->kind))
		return co_err(err, CUTOVER_EINVALID, "edit profile: unknown edit %d", e ? (int)e->kind : -1);
	const char *what = edit_names[e->kind];
	bool cert = is_cert_edit((int)e->kind);
	int rc = CUTOVER_OK;
	switch (e->kind) {
	case CUTOVER_PROFILE_ADD_CERTIFICATION:
	case CUTOVER_PROFILE_ADD_EDUCATION: {
		int64_t id = cert ? e->certification->id : e->education->id;
		if (id > 0 && find_id(p, cert, id) != (size_t)-1)
			return co_err(err, CUTOVER_EINVALID, "%s: user %" PRId64 "'s profile already has id %" PRId64, what,
				      p->user_id, id);
		size_t n = cert ? p->n_certifications : p->n_education;
		if (n >= CO_PROFILE_LIST_MAX)
			return co_err(err, CUTOVER_EINVALID, "%s: the profile already has %d entries, the most it keeps",
				      what, CO_PROFILE_LIST_MAX);
		if (cert) {
			cutover_certification *v = realloc(p->certifications, (n + 1) * sizeof(*v));
			if (!v)
				return co_err_oom(err);
			p->certifications = v;
			if (!cert_copy(&v[n], e->certification))
				return co_err_oom(err);
			p->n_certifications++;
		} else {
			cutover_education *v = realloc(p->education, (n + 1) * sizeof(*v));
			if (!v)
				return co_err_oom(err);
			p->education = v;
			if (!edu_copy(&v[n], e->education))
				return co_err_oom(err);
			p->n_education++;
		}
		break;
	}
	case CUTOVER_PROFILE_UPDATE_CERTIFICATION:
	case CUTOVER_PROFILE_UPDATE_EDUCATION: {
		int64_t id = cert ? e->certification->id : e->education->id;
		size_t i = find_id(p, cert, id);
		if (i == (size_t)-1)
			return not_found(p, cert, id, what, err);
		if (cert) {
			cutover_certification c;
			if (!cert_copy(&c, e->certification))
				return co_err_oom(err);
			cert_clear(&p->certifications[i]);
			p->certifications[i] = c;
		} else {
			cutover_education c;
			if (!edu_copy(&c, e->education))
				return co_err_oom(err);
			edu_clear(&p->education[i]);
			p->education[i] = c;
		}
		break;
	}
	case CUTOVER_PROFILE_DELETE_CERTIFICATION:
	case CUTOVER_PROFILE_DELETE_EDUCATION: {
		size_t i = find_id(p, cert, e->id);
		if (i == (size_t)-1)
			return not_found(p, cert, e->id, what, err);
		if (cert) {
			cert_clear(&p->certifications[i]);
			memmove(&p->certifications[i], &p->certifications[i + 1],
				(p->n_certifications - i - 1) * sizeof(*p->certifications));
			p->n_certifications--;
		} else {
			edu_clear(&p->education[i]);
			memmove(&p->education[i], &p->education[i + 1], (p->n_education - i - 1) * sizeof(*p->education));
			p->n_education--;
		}
		break;
	}
	case CUTOVER_PROFILE_REORDER_CERTIFICATIONS:
	case CUTOVER_PROFILE_REORDER_EDUCATION:
		rc = reorder(p, cert, e->ids, e->n_ids, what, err);
		break;
	}
	if (rc == CUTOVER_OK)
		p->updated_at = co_ts_advance(p->updated_at, now);
	return rc;
}

bool co_portfolio_newer(const cutover_portfolio *a, const cutover_portfolio *b)
{
	if (co_replicate_exact_on())
		return false; /* reconcile: the authoritative record replaces any */
	return a->updated_at > b->updated_at; /* CUTOVER_TS_NULL is INT64_MIN: older than any */
}

cutover_ts co_portfolio_put_stamp(const cutover_portfolio *stored, const cutover_portfolio *in)
{
	char d[256];
	if (in->updated_at > stored->updated_at ||
	    (in->updated_at == stored->updated_at && co_portfolio_diff(stored, in, d, sizeof d) == 0))
		return in->updated_at;
	return co_ts_advance(stored->updated_at, in->updated_at);
}

/* --- the app's calls ------------------------------------------------------------------ */

static int check_handle(cutover_profile *s, cutover_error *err)
{
	if (!s)
		return co_err(err, CUTOVER_EINVALID, "profile handle is NULL");
	if (s->version != CUTOVER_PROFILE_VERSION)
		return co_err(err, CUTOVER_EINTERNAL, "profile backend \"%s\" has table version %u, expected %u",
			      s->kind ? s->kind : "?", s->version, (unsigned)CUTOVER_PROFILE_VERSION);
	cutover_error_clear(err);
	return CUTOVER_OK;
}

static int check_user(const char *what, int64_t user_id, cutover_error *err)
{
	if (user_id <= 0 || user_id > CO_ID_MAX)
		return co_err(err, CUTOVER_EINVALID, "%s: user_id %" PRId64 " is not a user id (1 to 2^53)", what, user_id);
	return CUTOVER_OK;
}

CUTOVER_API int cutover_profile_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err)
{
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (!out)
		return co_err(err, CUTOVER_EINVALID, "get profile: out is NULL");
	*out = NULL;
	if (user_id <= 0 || user_id > CO_ID_MAX)
		return co_err(err, CUTOVER_ENOTFOUND, "get profile: user %" PRId64 " has no profile", user_id);
	return s->get(s, out, user_id, err);
}

CUTOVER_API int cutover_profile_put(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in,
				    cutover_error *err)
{
	static const char what[] = "put profile";
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if (!in)
		return co_err(err, CUTOVER_EINVALID, "%s: no profile given", what);
	if ((rc = co_portfolio_check(in, false, CUTOVER_EINVALID, what, err)))
		return rc;
	cutover_portfolio p = *in;
	if (p.updated_at == CUTOVER_TS_NULL)
		p.updated_at = cutover_now();
	return s->put(s, out, &p, err);
}

/* Validate an edit, resolve now, hand it to the store; out may be NULL. */
static int edit(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		cutover_error *err)
{
	const char *what = edit_names[e->kind];
	int rc = check_handle(s, err);
	if (rc)
		return rc;
	if (out)
		*out = NULL;
	if ((rc = check_user(what, user_id, err)))
		return rc;
	switch (e->kind) {
	case CUTOVER_PROFILE_ADD_CERTIFICATION:
	case CUTOVER_PROFILE_UPDATE_CERTIFICATION:
		if (!e->certification)
			return co_err(err, CUTOVER_EINVALID, "%s: no certification given", what);
		if (e->kind == CUTOVER_PROFILE_UPDATE_CERTIFICATION && e->certification->id <= 0)
			return co_err(err, CUTOVER_ENOTFOUND, "%s: certification id %" PRId64 " does not exist", what,
				      e->certification->id);
		rc = co_certification_check(e->certification, 0, CUTOVER_EINVALID, what, err);
		break;
	case CUTOVER_PROFILE_ADD_EDUCATION:
	case CUTOVER_PROFILE_UPDATE_EDUCATION:
		if (!e->education)
			return co_err(err, CUTOVER_EINVALID, "%s: no education entry given", what);
		if (e->kind == CUTOVER_PROFILE_UPDATE_EDUCATION && e->education->id <= 0)
			return co_err(err, CUTOVER_ENOTFOUND, "%s: education id %" PRId64 " does not exist", what,
				      e->education->id);
		rc = co_education_check(e->education, 0, CUTOVER_EINVALID, what, err);
		break;
	case CUTOVER_PROFILE_REORDER_CERTIFICATIONS:
	case CUTOVER_PROFILE_REORDER_EDUCATION:
		if (e->n_ids && !e->ids)
			return co_err(err, CUTOVER_EINVALID, "%s: %zu ids announced but no list given", what, e->n_ids);
		if (e->n_ids > CO_PROFILE_LIST_MAX)
			return co_err(err, CUTOVER_EINVALID, "%s: %zu ids; a profile keeps at most %d", what, e->n_ids,
				      CO_PROFILE_LIST_MAX);
		break;
	default:
		break;
	}
	if (rc)
		return rc;
	cutover_portfolio *stored = NULL;
	rc = s->edit(s, &stored, user_id, e, cutover_now(), err);
	if (rc == CUTOVER_OK && out)
		*out = stored;
	else
		cutover_portfolio_free(stored);
	return rc;
}

CUTOVER_API int cutover_profile_add_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						  const cutover_certification *c, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_ADD_CERTIFICATION, .certification = c};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_update_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						     const cutover_certification *c, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_UPDATE_CERTIFICATION, .certification = c};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_delete_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						     int64_t id, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_DELETE_CERTIFICATION, .id = id};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_reorder_certifications(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						       const int64_t *ids, size_t n, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_REORDER_CERTIFICATIONS, .ids = ids, .n_ids = n};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_add_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
					      const cutover_education *ed, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_ADD_EDUCATION, .education = ed};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_update_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						 const cutover_education *ed, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_UPDATE_EDUCATION, .education = ed};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_delete_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						 int64_t id, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_DELETE_EDUCATION, .id = id};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API int cutover_profile_reorder_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						  const int64_t *ids, size_t n, cutover_error *err)
{
	cutover_profile_edit e = {.kind = CUTOVER_PROFILE_REORDER_EDUCATION, .ids = ids, .n_ids = n};
	return edit(s, out, user_id, &e, err);
}

CUTOVER_API void cutover_profile_stats(cutover_profile *s, cutover_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s && s->stats)
		s->stats(s, out);
}

CUTOVER_API void cutover_profile_free(cutover_profile *s)
{
	if (s && s->free)
		s->free(s);
}
