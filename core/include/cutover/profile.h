/* cutover/profile.h — the profile domain: a user's portfolio.
 *
 * A portfolio is one user's public profile: a few texts, two ordered lists
 * of names (specialties, tools) and two ordered lists of entries with ids
 * (certifications, education). Legacy: profile/profiles.json. Postgres:
 * content.portfolio_profiles and its four child tables.
 *
 * `cutover_profile` is the domain's versioned table of operations (the json
 * backend, the postgres backend and the stage router fill it, like
 * cutover_identity); `cutover_portfolio` is the record it hands out. Apps call
 * the cutover_profile_* functions below: they validate input once (UTF-8,
 * dates, years, ids, lengths, list sizes), resolve "now", and check the
 * table's version.
 *
 * Every write returns the whole portfolio as the store now holds it, and is
 * one atomic change in either store (one transaction in Postgres, one
 * document write in JSON): a refused write changes nothing. The order of
 * specialties, tools, certifications and education is kept exactly through
 * every operation.
 *
 * Ids of certifications and education entries: 0 on input means "assign"
 * (the next id of that list's sequence, in list order); a given id is kept.
 * Ids are never reused, in either store, even after a delete.
 *
 * Ownership: records handed out belong to the caller (cutover_portfolio_free);
 * input records are borrowed for the call. A handle is not thread-safe.
 */
#ifndef CUTOVER_PROFILE_H
#define CUTOVER_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "types.h"
#include "open.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dates are "YYYY-MM-DD" text (a real calendar date, years 0001-9999);
 * Postgres stores them as `date`. NULL: no date. */
typedef struct cutover_certification {
	int64_t id;             /* > 0; 0 on input means "assign" */
	char *name;             /* required, not empty */
	char *issuer;           /* NULL allowed */
	char *issued_on;        /* "YYYY-MM-DD" or NULL */
	char *expires_on;       /* "YYYY-MM-DD" or NULL; not before issued_on */
	char *credential_id;    /* NULL allowed */
	char *credential_url;   /* NULL allowed */
	char *asset_path;       /* storage object path, kept byte for byte; NULL allowed */
} cutover_certification;

/* Years are 1..9999, or 0 for "not given"; start_year <= end_year when both
 * are given. */
typedef struct cutover_education {
	int64_t id;             /* > 0; 0 on input means "assign" */
	char *institution;      /* required, not empty */
	char *degree;           /* NULL allowed */
	char *field;            /* NULL allowed */
	int start_year;         /* 0: not given */
	int end_year;           /* 0: not given (ongoing) */
} cutover_education;

typedef struct cutover_portfolio {
	int64_t user_id;        /* the key: an existing user (identity) */
	char *headline;         /* NULL allowed (all five) */
	char *bio;
	char *location;
	char *website;
	char *avatar_path;      /* storage object path, kept byte for byte */
	char **specialties;     /* n_specialties names, in order */
	size_t n_specialties;
	char **tools;           /* n_tools names, in order */
	size_t n_tools;
	cutover_certification *certifications; /* in order */
	size_t n_certifications;
	cutover_education *education;          /* in order */
	size_t n_education;
	cutover_ts updated_at;  /* set to now by every write; CUTOVER_TS_NULL on
				 * input to put means now; a legacy record may have none */
} cutover_portfolio;

/* One change to a portfolio's certifications or education (what the
 * cutover_profile_{add,update,delete,reorder}_* calls hand the store). */
typedef enum cutover_profile_edit_kind {
	CUTOVER_PROFILE_ADD_CERTIFICATION = 1,  /* append `certification` */
	CUTOVER_PROFILE_UPDATE_CERTIFICATION,   /* replace the fields of entry certification->id, in place */
	CUTOVER_PROFILE_DELETE_CERTIFICATION,   /* remove entry `id` */
	CUTOVER_PROFILE_REORDER_CERTIFICATIONS, /* `ids`: every current id, once, in the new order */
	CUTOVER_PROFILE_ADD_EDUCATION,
	CUTOVER_PROFILE_UPDATE_EDUCATION,
	CUTOVER_PROFILE_DELETE_EDUCATION,
	CUTOVER_PROFILE_REORDER_EDUCATION
} cutover_profile_edit_kind;

typedef struct cutover_profile_edit {
	cutover_profile_edit_kind kind;
	const cutover_certification *certification; /* add, update */
	const cutover_education *education;         /* add, update */
	int64_t id;                                 /* delete */
	const int64_t *ids;                         /* reorder */
	size_t n_ids;
} cutover_profile_edit;

#define CUTOVER_PROFILE_VERSION 2

typedef struct cutover_profile cutover_profile;

/* The table every profile backend fills; all "must provide" unless marked
 * optional. Inputs arrive validated and resolved by the wrappers. */
struct cutover_profile {
	unsigned version;   /* CUTOVER_PROFILE_VERSION */
	const char *kind;   /* "json", "postgres", "router" */

	/* CUTOVER_ENOTFOUND when the user has no portfolio. */
	int (*get)(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err);
	/* Insert or replace the whole portfolio, lists included, as one atomic
	 * change: entries with id 0 get the next ids, given ids are kept (an id
	 * another user's entry holds is CUTOVER_ECONFLICT); updated_at is stored
	 * as given, unless it is not later than the stored copy's (and the put
	 * is not the stored copy itself): then one microsecond after that, so
	 * updated_at only grows. A user that does not exist is
	 * CUTOVER_EINVALID. out may be NULL. */
	int (*put)(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, cutover_error *err);
	/* Apply one edit to the stored portfolio and set updated_at to now, as
	 * one atomic change (co_portfolio_apply_edit, shared by every store). */
	int (*edit)(cutover_profile *s, cutover_portfolio **out, int64_t user_id, const cutover_profile_edit *e,
		    cutover_ts now, cutover_error *err);
	/* Replication (the router's second write, reconcile): store the
	 * portfolio exactly as another store holds it, ids and updated_at
	 * included, like put; but when the stored copy is newer
	 * (co_portfolio_newer) nothing is written and the call succeeds, so two
	 * second writes landing out of order never move the portfolio back. */
	int (*replicate)(cutover_profile *s, const cutover_portfolio *in, cutover_error *err);

	/* optional */
	void (*stats)(cutover_profile *s, cutover_stats *out);

	void (*free)(cutover_profile *s);
};

/* --- what an app calls ---------------------------------------------------
 * Every write hands back the portfolio as stored through out (which may be
 * NULL); an added entry is the last of its list there. */

CUTOVER_API int cutover_profile_get(cutover_profile *s, cutover_portfolio **out, int64_t user_id, cutover_error *err);
CUTOVER_API int cutover_profile_put(cutover_profile *s, cutover_portfolio **out, const cutover_portfolio *in, cutover_error *err);

CUTOVER_API int cutover_profile_add_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						  const cutover_certification *c, cutover_error *err);
/* c->id names the entry; all its fields are replaced by c's, its position stays. */
CUTOVER_API int cutover_profile_update_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						     const cutover_certification *c, cutover_error *err);
CUTOVER_API int cutover_profile_delete_certification(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						     int64_t id, cutover_error *err);
/* ids: every current certification id of the user, each once, in the new
 * order; anything else is CUTOVER_EINVALID and changes nothing. */
CUTOVER_API int cutover_profile_reorder_certifications(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						       const int64_t *ids, size_t n, cutover_error *err);

CUTOVER_API int cutover_profile_add_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
					      const cutover_education *e, cutover_error *err);
CUTOVER_API int cutover_profile_update_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						 const cutover_education *e, cutover_error *err);
CUTOVER_API int cutover_profile_delete_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						 int64_t id, cutover_error *err);
CUTOVER_API int cutover_profile_reorder_education(cutover_profile *s, cutover_portfolio **out, int64_t user_id,
						  const int64_t *ids, size_t n, cutover_error *err);

CUTOVER_API void cutover_profile_stats(cutover_profile *s, cutover_stats *out);
/* Closes a handle of any kind (backend or router). NULL is allowed. */
CUTOVER_API void cutover_profile_free(cutover_profile *s);

/* --- records ------------------------------------------------------------- */

CUTOVER_API void cutover_portfolio_free(cutover_portfolio *p);

/* --- backends and the front door ------------------------------------------ */

/* profile/profiles.json under a state root (a directory or http(s):// URL);
 * users are checked against identity/users.json under the same root. */
CUTOVER_API int cutover_profile_json(cutover_profile **out, const char *root, const char *token, cutover_error *err);
CUTOVER_API int cutover_profile_postgres(cutover_profile **out, const char *conninfo, cutover_error *err);
/* Open profile in the stage its flag (PROFILE_STORE) names. */
CUTOVER_API int cutover_profile_open(cutover_profile **out, const cutover_options *opts, cutover_error *err);

#ifdef __cplusplus
}
#endif
#endif
