/* open_telemetry.c — telemetry in the stage its flag names. */
#include "flags.h"
#include "telemetry_int.h"

CUTOVER_API int cutover_telemetry_open(cutover_telemetry **out, const cutover_options *opts, cutover_error *err)
{
	*out = NULL;
	co_open_parts p;
	int rc = co_open_begin(&p, CUTOVER_DOMAIN_TELEMETRY, opts, err);
	if (rc)
		return rc;
	cutover_telemetry *json = NULL, *pgs = NULL;
	if (p.t) {
		rc = co_json_telemetry_new(&json, p.t, err); /* takes the transport */
		p.t = NULL;
		if (rc)
			goto fail;
	}
	if (p.pg) {
		rc = co_pg_telemetry_new(&pgs, p.pg, err); /* takes the connection */
		p.pg = NULL;
		if (rc)
			goto fail;
	}
	if (!p.journal) {
		*out = json ? json : pgs;
		return CUTOVER_OK;
	}
	return co_telemetry_router(out, p.st.stage, json, pgs, p.journal, err); /* takes all three */
fail:
	cutover_telemetry_free(json);
	co_open_abort(&p);
	return rc;
}
