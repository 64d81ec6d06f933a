/* identity_sql.h — the constant SQL the identity backfill and verify run.
 *
 * Stage tables are session-local temp tables; the classification compares
 * every staged legacy row with the target row of the same key, column by
 * column, and names the columns that differ (never their values).
 */
#ifndef CUTOVER_IDENTITY_SQL_H
#define CUTOVER_IDENTITY_SQL_H

#define USER_COLS "id, email, username, display_name, password_hash, role, email_verified_at, disabled, created_at, updated_at"
#define OAUTH_COLS "user_id, position, provider, subject"
#define SESSION_COLS "token_hash, user_id, created_at, expires_at, last_seen_at, user_agent, ip"

static const char identity_stage_ddl[] =
	"DO $$ BEGIN "
	"CREATE TEMP TABLE IF NOT EXISTS stage_users (pos bigint PRIMARY KEY, id bigint, email text, username text, "
	"display_name text, password_hash text, role text, email_verified_at timestamptz, disabled boolean, "
	"created_at timestamptz, updated_at timestamptz, state text, detail text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_user_oauth (pos bigint, user_id bigint, position int, provider text, "
	"subject text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_sessions (pos bigint PRIMARY KEY, token_hash text, user_id bigint, "
	"created_at timestamptz, expires_at timestamptz, last_seen_at timestamptz, user_agent text, ip text, "
	"state text, detail text); "
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_users (id bigint PRIMARY KEY); "
	"END $$";

static const char users_classify[] =
	"WITH c AS ("
	" SELECT s.pos, u.id AS uid,"
	"  (SELECT e.id FROM identity.users e WHERE e.email = s.email AND e.id <> s.id LIMIT 1) AS email_owner,"
	"  (SELECT o.provider || ' already belongs to postgres user ' || o.user_id FROM stage_user_oauth so"
	"    JOIN identity.user_oauth o ON o.provider = so.provider AND o.subject = so.subject"
	"    WHERE so.pos = s.pos AND o.user_id <> s.id LIMIT 1) AS oauth_owner,"
	"  concat_ws(',',"
	"   CASE WHEN u.email IS DISTINCT FROM s.email THEN 'email' END,"
	"   CASE WHEN u.username IS DISTINCT FROM s.username THEN 'username' END,"
	"   CASE WHEN u.display_name IS DISTINCT FROM s.display_name THEN 'display_name' END,"
	"   CASE WHEN u.password_hash IS DISTINCT FROM s.password_hash THEN 'password_hash' END,"
	"   CASE WHEN u.role IS DISTINCT FROM s.role THEN 'role' END,"
	"   CASE WHEN u.email_verified_at IS DISTINCT FROM s.email_verified_at THEN 'email_verified_at' END,"
	"   CASE WHEN u.disabled IS DISTINCT FROM s.disabled THEN 'disabled' END,"
	"   CASE WHEN u.created_at IS DISTINCT FROM s.created_at THEN 'created_at' END,"
	"   CASE WHEN u.updated_at IS DISTINCT FROM s.updated_at THEN 'updated_at' END,"
	"   CASE WHEN (SELECT string_agg(so.provider || chr(31) || so.subject, chr(30) ORDER BY so.position)"
	"              FROM stage_user_oauth so WHERE so.pos = s.pos)"
	"     IS DISTINCT FROM (SELECT string_agg(o.provider || chr(31) || o.subject, chr(30) ORDER BY o.position)"
	"              FROM identity.user_oauth o WHERE o.user_id = s.id) THEN 'oauth' END) AS fields"
	" FROM stage_users s LEFT JOIN identity.users u ON u.id = s.id)"
	" UPDATE stage_users s SET"
	"  state = CASE WHEN c.uid IS NOT NULL THEN CASE WHEN c.fields = '' THEN 'equal' ELSE 'differ' END"
	"          WHEN c.email_owner IS NOT NULL OR c.oauth_owner IS NOT NULL THEN 'reject' ELSE 'new' END,"
	"  detail = CASE WHEN c.uid IS NOT NULL THEN c.fields"
	"          WHEN c.email_owner IS NOT NULL THEN 'email already belongs to postgres user ' || c.email_owner"
	"          WHEN c.oauth_owner IS NOT NULL THEN 'oauth link ' || c.oauth_owner END"
	" FROM c WHERE c.pos = s.pos";

static const char sessions_classify[] =
	"WITH c AS ("
	" SELECT s.pos, x.token_hash AS existing,"
	"  (EXISTS (SELECT 1 FROM identity.users u WHERE u.id = s.user_id)"
	"   OR EXISTS (SELECT 1 FROM dry_new_users d WHERE d.id = s.user_id)) AS user_ok,"
	"  concat_ws(',',"
	"   CASE WHEN x.user_id IS DISTINCT FROM s.user_id THEN 'user_id' END,"
	"   CASE WHEN x.created_at IS DISTINCT FROM s.created_at THEN 'created_at' END,"
	"   CASE WHEN x.expires_at IS DISTINCT FROM s.expires_at THEN 'expires_at' END,"
	"   CASE WHEN x.last_seen_at IS DISTINCT FROM s.last_seen_at THEN 'last_seen_at' END,"
	"   CASE WHEN x.user_agent IS DISTINCT FROM s.user_agent THEN 'user_agent' END,"
	"   CASE WHEN x.ip IS DISTINCT FROM s.ip THEN 'ip' END) AS fields"
	" FROM stage_sessions s LEFT JOIN identity.sessions x ON x.token_hash = s.token_hash)"
	" UPDATE stage_sessions s SET"
	"  state = CASE WHEN c.existing IS NOT NULL THEN CASE WHEN c.fields = '' THEN 'equal' ELSE 'differ' END"
	"          WHEN NOT c.user_ok THEN 'reject' ELSE 'new' END,"
	"  detail = CASE WHEN c.existing IS NOT NULL THEN c.fields"
	"          WHEN NOT c.user_ok THEN 'its user ' || s.user_id || ' is in neither users.json nor postgres' END"
	" FROM c WHERE c.pos = s.pos";

#endif
