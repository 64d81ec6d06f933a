/* profile_sql.h — the constant SQL the profile backfill and verify run.
 *
 * Stage tables are session-local temp tables, one per target table, each
 * row tagged with the legacy record's position. The classification compares
 * a staged profile with the stored one field by field, and its four lists as
 * ordered arrays (a record's text form tells NULL from ""), and names what
 * differs, never the values. A new profile is refused when its user is not in
 * identity.users or an entry id of it belongs to another user's entry.
 */
#ifndef CUTOVER_PROFILE_SQL_H
#define CUTOVER_PROFILE_SQL_H

#define PROFILE_COLS "user_id, headline, bio, location, website, avatar_path, updated_at"
#define NAME_COLS "user_id, position, name"
#define CERT_COLS "id, user_id, position, name, issuer, issued_on, expires_on, credential_id, credential_url, asset_path"
#define EDU_COLS "id, user_id, position, institution, degree, field, start_year, end_year"

static const char profile_stage_ddl[] =
	"DO $$ BEGIN "
	"CREATE TEMP TABLE IF NOT EXISTS stage_profiles (pos bigint PRIMARY KEY, user_id bigint, headline text, "
	"bio text, location text, website text, avatar_path text, updated_at timestamptz, state text, detail text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_profile_specialties (pos bigint, user_id bigint, position int, name text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_profile_tools (pos bigint, user_id bigint, position int, name text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_profile_certifications (pos bigint, id bigint, user_id bigint, "
	"position int, name text, issuer text, issued_on date, expires_on date, credential_id text, "
	"credential_url text, asset_path text); "
	"CREATE TEMP TABLE IF NOT EXISTS stage_profile_education (pos bigint, id bigint, user_id bigint, "
	"position int, institution text, degree text, field text, start_year int, end_year int); "
	/* users a dry run of identity on this connection would insert (`backfill all`) */
	"CREATE TEMP TABLE IF NOT EXISTS dry_new_users (id bigint PRIMARY KEY); "
	"END $$";

#define CERT_ROW(t) \
	"ROW(" t ".id, " t ".name, " t ".issuer, " t ".issued_on, " t ".expires_on, " t ".credential_id, " t \
	".credential_url, " t ".asset_path)::text"
#define EDU_ROW(t) \
	"ROW(" t ".id, " t ".institution, " t ".degree, " t ".field, " t ".start_year, " t ".end_year)::text"

static const char profiles_classify[] =
	"WITH c AS ("
	" SELECT s.pos, p.user_id AS existing,"
	"  (EXISTS (SELECT 1 FROM identity.users u WHERE u.id = s.user_id)"
	"   OR EXISTS (SELECT 1 FROM dry_new_users d WHERE d.id = s.user_id)) AS user_ok,"
	"  (SELECT 'certification id ' || x.id || ' already belongs to user ' || x.user_id || ' in postgres'"
	"    FROM stage_profile_certifications sc JOIN content.portfolio_certifications x ON x.id = sc.id"
	"    WHERE sc.pos = s.pos AND x.user_id <> s.user_id ORDER BY x.id LIMIT 1) AS cert_owner,"
	"  (SELECT 'education id ' || x.id || ' already belongs to user ' || x.user_id || ' in postgres'"
	"    FROM stage_profile_education se JOIN content.portfolio_education x ON x.id = se.id"
	"    WHERE se.pos = s.pos AND x.user_id <> s.user_id ORDER BY x.id LIMIT 1) AS edu_owner,"
	"  concat_ws(',',"
	"   CASE WHEN p.headline IS DISTINCT FROM s.headline THEN 'headline' END,"
	"   CASE WHEN p.bio IS DISTINCT FROM s.bio THEN 'bio' END,"
	"   CASE WHEN p.location IS DISTINCT FROM s.location THEN 'location' END,"
	"   CASE WHEN p.website IS DISTINCT FROM s.website THEN 'website' END,"
	"   CASE WHEN p.avatar_path IS DISTINCT FROM s.avatar_path THEN 'avatar_path' END,"
	"   CASE WHEN (SELECT array_agg(x.name ORDER BY x.position) FROM stage_profile_specialties x WHERE x.pos = s.pos)"
	"     IS DISTINCT FROM (SELECT array_agg(x.name ORDER BY x.position) FROM content.profile_specialties x"
	"     WHERE x.user_id = s.user_id) THEN 'specialties' END,"
	"   CASE WHEN (SELECT array_agg(x.name ORDER BY x.position) FROM stage_profile_tools x WHERE x.pos = s.pos)"
	"     IS DISTINCT FROM (SELECT array_agg(x.name ORDER BY x.position) FROM content.profile_tools x"
	"     WHERE x.user_id = s.user_id) THEN 'tools' END,"
	"   CASE WHEN (SELECT array_agg(" CERT_ROW("x") " ORDER BY x.position) FROM stage_profile_certifications x"
	"     WHERE x.pos = s.pos) IS DISTINCT FROM (SELECT array_agg(" CERT_ROW("x") " ORDER BY x.position)"
	"     FROM content.portfolio_certifications x WHERE x.user_id = s.user_id) THEN 'certifications' END,"
	"   CASE WHEN (SELECT array_agg(" EDU_ROW("x") " ORDER BY x.position) FROM stage_profile_education x"
	"     WHERE x.pos = s.pos) IS DISTINCT FROM (SELECT array_agg(" EDU_ROW("x") " ORDER BY x.position)"
	"     FROM content.portfolio_education x WHERE x.user_id = s.user_id) THEN 'education' END,"
	"   CASE WHEN p.updated_at IS DISTINCT FROM s.updated_at THEN 'updated_at' END) AS fields"
	" FROM stage_profiles s LEFT JOIN content.portfolio_profiles p ON p.user_id = s.user_id)"
	" UPDATE stage_profiles s SET"
	"  state = CASE WHEN c.existing IS NOT NULL THEN CASE WHEN c.fields = '' THEN 'equal' ELSE 'differ' END"
	"          WHEN NOT c.user_ok OR c.cert_owner IS NOT NULL OR c.edu_owner IS NOT NULL THEN 'reject'"
	"          ELSE 'new' END,"
	"  detail = CASE WHEN c.existing IS NOT NULL THEN c.fields"
	"          WHEN NOT c.user_ok THEN 'user_id ' || s.user_id || ' does not exist in identity.users'"
	"          ELSE coalesce(c.cert_owner, c.edu_owner) END"
	" FROM c WHERE c.pos = s.pos";

/* The child rows of the profiles classified new (insert_new), or of one (insert_one). */
#define CHILD_INSERT(target, cols, stage, sel) \
	"INSERT INTO " target " (" cols ") SELECT " sel " FROM " stage " x JOIN stage_profiles s ON s.pos = x.pos" \
	" WHERE s.state = 'new'"

#define CERT_SEL "x.id, x.user_id, x.position, x.name, x.issuer, x.issued_on, x.expires_on, x.credential_id, " \
		 "x.credential_url, x.asset_path"
#define EDU_SEL "x.id, x.user_id, x.position, x.institution, x.degree, x.field, x.start_year, x.end_year"
#define NAME_SEL "x.user_id, x.position, x.name"

#endif
