/* open_identity.c — identity in the stage its flag names. */
#include "flags.h"

CUTOVER_API int cutover_identity_open(cutover_identity **out, const cutover_options *opts, cutover_error *err)
{
	*out = NULL;
	co_open_parts p;
	int rc = co_open_begin(&p, CUTOVER_DOMAIN_IDENTITY, opts, err);
	if (rc)
		return rc;
	cutover_identity *json = NULL, *pgs = NULL;
	if (p.t) {
		rc = co_json_identity_new(&json, p.t, err); /* takes the transport */
		p.t = NULL;
		if (rc)
			goto fail;
	}
	if (p.pg) {
		rc = co_pg_identity_new(&pgs, p.pg, err); /* takes the connection */
		p.pg = NULL;
		if (rc)
			goto fail;
	}
	if (!p.journal) {
		*out = json ? json : pgs;
		return CUTOVER_OK;
	}
	rc = co_identity_router(out, p.st.stage, json, pgs, p.journal, err); /* takes all three */
	return rc;
fail:
	cutover_identity_free(json);
	co_open_abort(&p);
	return rc;
}
