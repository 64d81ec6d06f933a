/* profile_int.h — the profile domain's internal declarations (not installed).
 *
 * What core, the adapters and flags share about a portfolio: the record
 * helpers (clear, dup, diff), the one set of rules every store and the
 * legacy decoder apply (co_portfolio_check), the one definition of what an
 * edit does (co_portfolio_apply_edit), and the constructors of the json and
 * postgres backends and the stage router.
 */
#ifndef CUTOVER_PROFILE_INT_H
#define CUTOVER_PROFILE_INT_H

#include "co.h"
#include "cutover/profile.h"

typedef struct co_pg co_pg;
typedef struct co_transport co_transport;

/* Limits the wrappers and the legacy decoder enforce alike (bytes / entries). */
#define CO_PROFILE_TEXT_MAX 4096
#define CO_PROFILE_BIO_MAX 65536
#define CO_PROFILE_LIST_MAX 1000
#define CO_YEAR_MAX 9999

/* --- records (core/profile.c) --- */
void co_portfolio_clear(cutover_portfolio *p);
cutover_portfolio *co_portfolio_dup(const cutover_portfolio *p);
/* Names of the fields that differ ("headline,certifications"), into buf;
 * returns how many. Values are never named. */
int co_portfolio_diff(const cutover_portfolio *a, const cutover_portfolio *b, char *buf, size_t len);

/* Replication order: is a a strictly newer state of the same portfolio than
 * b? updated_at later: every write stamps it (edits and puts alike, with
 * co_ts_advance, so it only grows); a legacy record without one is older
 * than any. replicate skips its write when the stored copy is newer. */
bool co_portfolio_newer(const cutover_portfolio *a, const cutover_portfolio *b);
/* The updated_at an app's put stores over `stored`: in's, when later than
 * stored's or when in is the stored copy itself (a repeated put changes
 * nothing); else co_ts_advance(stored's, in's), so updated_at only grows. */
cutover_ts co_portfolio_put_stamp(const cutover_portfolio *stored, const cutover_portfolio *in);

/* Every rule of a portfolio: user_id 1..2^53; valid UTF-8 and lengths;
 * list sizes; no NULL names; certification name and education institution
 * present; dates "YYYY-MM-DD" (real dates, years 0001-9999) with
 * expires_on >= issued_on; years 1..9999 (0 = none) with start <= end; ids
 * 0..2^53 (stored: > 0), no id twice in a list; updated_at in range or none.
 * Fails with `code` (CUTOVER_EINVALID for app input, CUTOVER_ECORRUPT for a
 * legacy record) and a message naming the entry and the field, prefixed by
 * `what` when given. */
int co_portfolio_check(const cutover_portfolio *p, bool stored, int code, const char *what, cutover_error *err);
int co_certification_check(const cutover_certification *c, size_t index, int code, const char *what, cutover_error *err);
int co_education_check(const cutover_education *e, size_t index, int code, const char *what, cutover_error *err);
/* "YYYY-MM-DD", a real calendar date in years 0001-9999. */
bool co_date_valid(const char *s);

/* Apply an edit to p (the stored portfolio) and set p->updated_at to
 * co_ts_advance(p->updated_at, now).
 * Added entries keep the id they were given (0: the store assigns it when it
 * writes). CUTOVER_ENOTFOUND for an id the portfolio does not hold;
 * CUTOVER_EINVALID for an added id already in the list, or a reorder that is
 * not a permutation of the current ids. On failure p is unchanged. */
int co_portfolio_apply_edit(cutover_portfolio *p, const cutover_profile_edit *e, cutover_ts now, cutover_error *err);
/* "add certification", "reorder education", ...; "edit profile" when unknown. */
const char *co_profile_edit_name(int kind);

/* --- constructors --- */
/* The stage router (core/profile_router.c); takes ownership of json, pg and
 * journal (also on failure). */
int co_profile_router(cutover_profile **out, cutover_stage stage, cutover_profile *json, cutover_profile *pg,
		      co_journal *journal, cutover_error *err);
/* Profile over a transport (adapters/json/json_profile.c); takes t. */
int co_json_profile_new(cutover_profile **out, co_transport *t, cutover_error *err);
/* Profile in Postgres (adapters/postgres/pg_profile.c); takes pg. */
int co_pg_profile_new(cutover_profile **out, co_pg *pg, cutover_error *err);

#endif
