/* stage_marker.c — the rollback guard's marker in the JSON state root.
 *
 * `<domain>/.cutover-postgres-stage` says that the domain runs (or ran) in
 * the postgres stage and that no `cutover export --apply` has brought its
 * JSON documents up to date since. A postgres-stage open writes it when it
 * is absent (one GET per open; a PUT only when absent); `cutover export
 * --apply` removes it once it has recorded the export in Postgres; the
 * json-authoritative stages (json, dualwrite, shadow) read it through the
 * transport they open anyway and refuse while it exists (flags/flags.c).
 * It is the guard that holds when Postgres cannot be asked (the json stage
 * without DATABASE_URL, dualwrite or shadow starting while Postgres is
 * down); cutover.postgres_runs is the other (adapters/postgres/pg_runs.c).
 *
 * Dot-named, so no listing, scanner or reader of the legacy layout takes it
 * for state (the transports' list() leaves dot-named files out; everything
 * else reads fixed keys).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_store.h"

const char *co_stage_marker_key(cutover_domain d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cutover_domain_name(d), CO_STAGE_MARKER_NAME);
	return buf;
}

int co_stage_marker_get(co_transport *t, cutover_domain d, bool *exists, cutover_ts *since, cutover_error *err)
{
	char key[64], version[CO_VERSION_LEN], *data = NULL;
	size_t len = 0;
	*exists = false;
	*since = CUTOVER_TS_NULL;
	int rc = t->get(t, co_stage_marker_key(d, key, sizeof key), &data, &len, version, err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	if (rc)
		return rc;
	*exists = true;
	cJSON *j = cJSON_ParseWithLength(data, len);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "since");
	cutover_ts at;
	if (cJSON_IsString(s) && cutover_ts_parse(s->valuestring, &at) == CUTOVER_OK)
		*since = at;
	cJSON_Delete(j);
	free(data);
	return CUTOVER_OK;
}

int co_stage_marker_ensure(co_transport *t, cutover_domain d, cutover_ts since, bool *written, cutover_error *err)
{
	bool exists;
	cutover_ts had;
	*written = false;
	int rc = co_stage_marker_get(t, d, &exists, &had, err);
	if (rc || exists)
		return rc;
	char key[64], at[40], text[400];
	int n = snprintf(text, sizeof text,
			 "{\"since\":\"%s\",\"about\":\"%s ran in the postgres stage: its JSON documents are not up to date "
			 "until `cutover export %s --apply` has run (which removes this file); json, dualwrite and shadow "
			 "refuse to open it while this file exists\"}\n",
			 cutover_ts_format(since, at, sizeof at), cutover_domain_name(d), cutover_domain_name(d));
	rc = t->put(t, co_stage_marker_key(d, key, sizeof key), text, (size_t)n, "", NULL, err);
	if (rc == CUTOVER_EBUSY) { /* another process wrote it first */
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	*written = rc == CUTOVER_OK;
	return rc;
}

int co_stage_marker_remove(co_transport *t, cutover_domain d, bool *removed, cutover_error *err)
{
	char key[64];
	*removed = false;
	int rc = t->del(t, co_stage_marker_key(d, key, sizeof key), err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_error_clear(err);
		return CUTOVER_OK;
	}
	*removed = rc == CUTOVER_OK;
	return rc;
}
