/* reports_sql.h — the constant SQL the reports backfill and verify run.
 *
 * Stage tables are session-local temp tables. The classification compares
 * every staged legacy report with the target row of the same id, column by
 * column (tags as arrays, the trail as one ordered list), and names the
 * columns that differ, never their values. A new report whose author,
 * incident or an action's actor does not exist in Postgres is a reject,
 * with the reason naming the field and the id.
 */
#ifndef CUTOVER_REPORTS_SQL_H
#define CUTOVER_REPORTS_SQL_H

#define REPORT_COLS \
	"id, title, summary, content, severity, status, tags, author_id, incident_id, created_at, updated_at, archived_at"
#define ACTION_COLS "report_id, position, action, actor_id, at, note"

static const char reports_stage_ddl[] =
	"DO $$ BEGIN "
	"CREATE TEMP TABLE IF NOT EXISTS stage_reports (pos bigint PRIMARY KEY, id bigint, title text, summary text, "
	"content text, severity text, status text, tags text[], author_id bigint, incident_id bigint, "
	"created_at timestamptz, updated_at timestamptz, archived_at timestamptz, state text, detail text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_report_actions (pos bigint, report_id bigint, position int, action text, "
	"actor_id bigint, at timestamptz, note text); "
	/* what dry runs of identity and telemetry on this connection would insert (`backfill all`) */
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_users (id bigint PRIMARY KEY); "
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_incidents (id bigint PRIMARY KEY); "
	"END $$";

#define TRAIL_OF(tbl, cond) \
	"(SELECT string_agg(row(a.action, a.actor_id, a.at, a.note)::text, chr(30) ORDER BY a.position) FROM " tbl \
	" a WHERE " cond ")"

static const char reports_classify[] =
	"WITH c AS ("
	" SELECT s.pos, r.id AS rid,"
	"  (NOT EXISTS (SELECT 1 FROM identity.users u WHERE u.id = s.author_id)"
	"   AND NOT EXISTS (SELECT 1 FROM dry_new_users d WHERE d.id = s.author_id)) AS author_missing,"
	"  (s.incident_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM operations.incidents i WHERE i.id = s.incident_id)"
	"   AND NOT EXISTS (SELECT 1 FROM dry_new_incidents d WHERE d.id = s.incident_id)) AS incident_missing,"
	"  (SELECT sa.actor_id FROM stage_report_actions sa WHERE sa.pos = s.pos AND sa.actor_id IS NOT NULL"
	"    AND NOT EXISTS (SELECT 1 FROM identity.users u WHERE u.id = sa.actor_id)"
	"    AND NOT EXISTS (SELECT 1 FROM dry_new_users d WHERE d.id = sa.actor_id) ORDER BY sa.position LIMIT 1)"
	"   AS actor_missing,"
	"  concat_ws(',',"
	"   CASE WHEN r.title IS DISTINCT FROM s.title THEN 'title' END,"
	"   CASE WHEN r.summary IS DISTINCT FROM s.summary THEN 'summary' END,"
	"   CASE WHEN r.content IS DISTINCT FROM s.content THEN 'content' END,"
	"   CASE WHEN r.severity IS DISTINCT FROM s.severity THEN 'severity' END,"
	"   CASE WHEN r.status IS DISTINCT FROM s.status THEN 'status' END,"
	"   CASE WHEN r.tags IS DISTINCT FROM s.tags THEN 'tags' END,"
	"   CASE WHEN r.author_id IS DISTINCT FROM s.author_id THEN 'author_id' END,"
	"   CASE WHEN r.incident_id IS DISTINCT FROM s.incident_id THEN 'incident_id' END,"
	"   CASE WHEN r.created_at IS DISTINCT FROM s.created_at THEN 'created_at' END,"
	"   CASE WHEN r.updated_at IS DISTINCT FROM s.updated_at THEN 'updated_at' END,"
	"   CASE WHEN r.archived_at IS DISTINCT FROM s.archived_at THEN 'archived_at' END,"
	"   CASE WHEN " TRAIL_OF("stage_report_actions", "a.pos = s.pos")
	"     IS DISTINCT FROM " TRAIL_OF("operations.report_actions", "a.report_id = s.id") " THEN 'actions' END) AS fields"
	" FROM stage_reports s LEFT JOIN operations.reports r ON r.id = s.id)"
	" UPDATE stage_reports s SET"
	"  state = CASE WHEN c.rid IS NOT NULL THEN CASE WHEN c.fields = '' THEN 'equal' ELSE 'differ' END"
	"          WHEN c.author_missing OR c.incident_missing OR c.actor_missing IS NOT NULL THEN 'reject' ELSE 'new' END,"
	"  detail = CASE WHEN c.rid IS NOT NULL THEN c.fields"
	"          WHEN c.author_missing THEN 'author_id ' || s.author_id || ' does not exist in identity.users'"
	"          WHEN c.incident_missing THEN 'incident_id ' || s.incident_id || ' does not exist in operations.incidents'"
	"          WHEN c.actor_missing IS NOT NULL THEN"
	"           'actor_id ' || c.actor_missing || ' of an action does not exist in identity.users' END"
	" FROM c WHERE c.pos = s.pos";

#endif
