/* open_profile.c — profile in the stage its flag (PROFILE_STORE) names. */
#include "flags.h"
#include "profile_int.h"

CUTOVER_API int cutover_profile_open(cutover_profile **out, const cutover_options *opts, cutover_error *err)
{
	*out = NULL;
	co_open_parts p;
	int rc = co_open_begin(&p, CUTOVER_DOMAIN_PROFILE, opts, err);
	if (rc)
		return rc;
	cutover_profile *json = NULL, *pgs = NULL;
	if (p.t) {
		rc = co_json_profile_new(&json, p.t, err); /* takes the transport */
		p.t = NULL;
		if (rc)
			goto fail;
	}
	if (p.pg) {
		rc = co_pg_profile_new(&pgs, p.pg, err); /* takes the connection */
		p.pg = NULL;
		if (rc)
			goto fail;
	}
	if (!p.journal) {
		*out = json ? json : pgs;
		return CUTOVER_OK;
	}
	return co_profile_router(out, p.st.stage, json, pgs, p.journal, err); /* takes all three */
fail:
	cutover_profile_free(json);
	co_open_abort(&p);
	return rc;
}
