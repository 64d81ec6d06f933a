/* telemetry_sql.h — the constant SQL the telemetry backfill and verify run.
 *
 * Stage tables are session-local temp tables. Their classification column
 * is `verdict` (an incident has a `state` of its own). Events carry `src`
 * ("telemetry/events/2026-01-05.ndjson line 17") so a reason can name where
 * an earlier copy of an id came from.
 *
 * Events are classified against the table (and, in a dry run, against what
 * earlier batches would have inserted), never against a key set in memory:
 *  - an id seen earlier in the same batch: an exact copy is unchanged; a
 *    different record is a reject naming the earlier file and line;
 *  - an id postgres holds: equal is unchanged; the same event with another
 *    incident link differs (left alone: the app may have linked it); any
 *    other difference is a reject (that id is another event);
 *  - an incident_id that neither postgres nor this run holds: a reject;
 *  - otherwise new.
 *
 * Verify asks another question: does every legacy event equal its row? A
 * copy of an id seen earlier in the walk (this batch, or seen_events, where
 * verify remembers every staged row) is unchanged when identical and
 * unmappable when not, as the backfill decided; any other event is
 * compared with its row, and a difference, the link included, is a
 * mismatch naming the fields.
 */
#ifndef CUTOVER_TELEMETRY_SQL_H
#define CUTOVER_TELEMETRY_SQL_H

#define INCIDENT_COLS "id, title, state, severity, opened_at, resolved_at, updated_at"
#define EVENT_COLS "id, occurred_at, source_ip, region, node, attack_type, severity, payload, incident_id"

static const char telemetry_stage_ddl[] =
	"DO $$ BEGIN "
	"CREATE TEMP TABLE IF NOT EXISTS stage_incidents (pos bigint PRIMARY KEY, id bigint, title text, state text, "
	"severity text, opened_at timestamptz, resolved_at timestamptz, updated_at timestamptz, verdict text, detail text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_events (pos bigint PRIMARY KEY, src text, id bigint, "
	"occurred_at timestamptz, source_ip text, region text, node text, attack_type text, severity text, "
	"payload jsonb, incident_id bigint, verdict text, detail text); "
	"CREATE INDEX IF NOT EXISTS stage_events_id_idx ON stage_events (id, pos); "
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_incidents (id bigint PRIMARY KEY); "
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_events (id bigint PRIMARY KEY, occurred_at timestamptz, "
	"source_ip text, region text, node text, attack_type text, severity text, payload jsonb, incident_id bigint); "
	"CREATE TEMP TABLE IF NOT EXISTS seen_events (id bigint PRIMARY KEY, src text, occurred_at timestamptz, "
	"source_ip text, region text, node text, attack_type text, severity text, payload jsonb, incident_id bigint); "
	"END $$";

static const char incidents_classify[] =
	"WITH c AS ("
	" SELECT s.pos, x.id AS existing,"
	"  concat_ws(',',"
	"   CASE WHEN x.title IS DISTINCT FROM s.title THEN 'title' END,"
	"   CASE WHEN x.state IS DISTINCT FROM s.state THEN 'state' END,"
	"   CASE WHEN x.severity IS DISTINCT FROM s.severity THEN 'severity' END,"
	"   CASE WHEN x.opened_at IS DISTINCT FROM s.opened_at THEN 'opened_at' END,"
	"   CASE WHEN x.resolved_at IS DISTINCT FROM s.resolved_at THEN 'resolved_at' END,"
	"   CASE WHEN x.updated_at IS DISTINCT FROM s.updated_at THEN 'updated_at' END) AS fields"
	" FROM stage_incidents s LEFT JOIN operations.incidents x ON x.id = s.id)"
	" UPDATE stage_incidents s SET"
	"  verdict = CASE WHEN c.existing IS NULL THEN 'new' WHEN c.fields = '' THEN 'equal' ELSE 'differ' END,"
	"  detail = CASE WHEN c.existing IS NOT NULL THEN c.fields END"
	" FROM c WHERE c.pos = s.pos";

#define EVENT_COLS_NO_ID(t) \
	t ".occurred_at, " t ".source_ip, " t ".region, " t ".node, " t ".attack_type, " t ".severity, " t ".payload, " \
	t ".incident_id"

#define EVENT_FIELDS_DIFFER(x, s)                                                            \
	"concat_ws(',',"                                                                        \
	" CASE WHEN " x ".occurred_at IS DISTINCT FROM " s ".occurred_at THEN 'occurred_at' END," \
	" CASE WHEN " x ".source_ip IS DISTINCT FROM " s ".source_ip THEN 'source_ip' END,"       \
	" CASE WHEN " x ".region IS DISTINCT FROM " s ".region THEN 'region' END,"                \
	" CASE WHEN " x ".node IS DISTINCT FROM " s ".node THEN 'node' END,"                      \
	" CASE WHEN " x ".attack_type IS DISTINCT FROM " s ".attack_type THEN 'attack_type' END," \
	" CASE WHEN " x ".severity IS DISTINCT FROM " s ".severity THEN 'severity' END,"          \
	" CASE WHEN " x ".payload IS DISTINCT FROM " s ".payload THEN 'payload' END)"

static const char events_classify[] =
	"WITH c AS ("
	" SELECT s.pos, d.pos AS dup_pos, d.src AS dup_src,"
	"  " EVENT_FIELDS_DIFFER("d", "s") " AS dup_fields,"
	"  d.incident_id IS DISTINCT FROM s.incident_id AS dup_link_differs,"
	"  x.id AS existing,"
	"  " EVENT_FIELDS_DIFFER("x", "s") " AS fields,"
	"  x.incident_id IS DISTINCT FROM s.incident_id AS link_differs,"
	"  (s.incident_id IS NULL OR EXISTS (SELECT 1 FROM operations.incidents i WHERE i.id = s.incident_id)"
	"   OR EXISTS (SELECT 1 FROM dry_new_incidents n WHERE n.id = s.incident_id)) AS incident_ok"
	" FROM stage_events s"
	" LEFT JOIN LATERAL (SELECT * FROM stage_events e WHERE e.id = s.id AND e.pos < s.pos ORDER BY e.pos LIMIT 1) d"
	"  ON true"
	" LEFT JOIN LATERAL (SELECT " EVENT_COLS " FROM operations.telemetry_events t WHERE t.id = s.id"
	"  UNION ALL SELECT " EVENT_COLS " FROM dry_new_events n WHERE n.id = s.id LIMIT 1) x ON true)"
	" UPDATE stage_events s SET"
	"  verdict = CASE"
	"   WHEN c.dup_pos IS NOT NULL THEN"
	"    CASE WHEN c.dup_fields <> '' OR c.dup_link_differs OR NOT c.incident_ok THEN 'reject' ELSE 'equal' END"
	"   WHEN c.existing IS NOT NULL THEN"
	"    CASE WHEN c.fields <> '' THEN 'reject' WHEN c.link_differs THEN 'differ' ELSE 'equal' END"
	"   WHEN NOT c.incident_ok THEN 'reject'"
	"   ELSE 'new' END,"
	"  detail = CASE"
	"   WHEN c.dup_pos IS NOT NULL AND (c.dup_fields <> '' OR c.dup_link_differs) THEN"
	"    'id ' || s.id || ' is already another event''s, at ' || c.dup_src || ' ('"
	"    || concat_ws(',', nullif(c.dup_fields, ''), CASE WHEN c.dup_link_differs THEN 'incident_id' END)"
	"    || ' differ)'"
	"   WHEN c.existing IS NOT NULL AND c.fields <> '' THEN"
	"    'id ' || s.id || ' is already another event''s in postgres (' || c.fields || ' differ)'"
	"   WHEN c.existing IS NOT NULL AND c.link_differs THEN 'incident_id'"
	"   WHEN NOT c.incident_ok THEN"
	"    'incident_id ' || s.incident_id || ' does not exist in operations.incidents'"
	"   WHEN c.dup_pos IS NOT NULL THEN 'an exact copy of ' || c.dup_src"
	"  END"
	" FROM c WHERE c.pos = s.pos";

static const char events_verify_classify[] =
	"WITH c AS ("
	" SELECT s.pos, d.src AS dup_src,"
	"  d.id IS NOT NULL AS dup,"
	"  " EVENT_FIELDS_DIFFER("d", "s") " AS dup_fields,"
	"  d.incident_id IS DISTINCT FROM s.incident_id AS dup_link_differs,"
	"  x.id AS existing,"
	"  concat_ws(',', nullif(" EVENT_FIELDS_DIFFER("x", "s") ", ''),"
	"   CASE WHEN x.incident_id IS DISTINCT FROM s.incident_id THEN 'incident_id' END) AS fields,"
	"  (s.incident_id IS NULL OR EXISTS (SELECT 1 FROM operations.incidents i WHERE i.id = s.incident_id)) AS incident_ok"
	" FROM stage_events s"
	" LEFT JOIN LATERAL (SELECT e.id, e.src, " EVENT_COLS_NO_ID("e") " FROM stage_events e"
	"  WHERE e.id = s.id AND e.pos < s.pos"
	"  UNION ALL SELECT n.id, n.src, " EVENT_COLS_NO_ID("n") " FROM seen_events n WHERE n.id = s.id"
	"  LIMIT 1) d ON true"
	" LEFT JOIN operations.telemetry_events x ON x.id = s.id)"
	" UPDATE stage_events s SET"
	"  verdict = CASE"
	"   WHEN c.dup THEN CASE WHEN c.dup_fields <> '' OR c.dup_link_differs THEN 'reject' ELSE 'equal' END"
	"   WHEN c.existing IS NOT NULL THEN CASE WHEN c.fields = '' THEN 'equal' ELSE 'differ' END"
	"   WHEN NOT c.incident_ok THEN 'reject'"
	"   ELSE 'new' END,"
	"  detail = CASE"
	"   WHEN c.dup THEN 'a copy of the id at ' || c.dup_src"
	"   WHEN c.existing IS NOT NULL THEN c.fields"
	"   WHEN NOT c.incident_ok THEN 'incident_id ' || s.incident_id || ' does not exist in operations.incidents'"
	"  END"
	" FROM c WHERE c.pos = s.pos";

#endif
