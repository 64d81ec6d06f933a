/* fuzz_identity.c — users.json and sessions.json records
 * (adapters/json/legacy_identity.c).
 *
 * The bytes are read as {"users": [...]} and as {"sessions": [...]}; every
 * framed item goes through the strict decoder. A record it accepts must be
 * one Postgres holds as the contract says (id in 1..2^53, a normalised
 * email with an '@', a valid role, valid UTF-8 everywhere, created_at set,
 * a 64-hex token hash) and must copy and compare equal to itself; a record
 * it refuses leaves nothing allocated and says why.
 */
#include <ctype.h>

#include "co.h"
#include "fuzz.h"
#include "legacy_identity.h"

static void check_text(const char *s)
{
	FUZZ_CHECK(co_utf8_valid(s));
}

static void user_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_user *u = NULL;
	cutover_error err = {0};
	int rc = co_legacy_user(it, &u, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(u == NULL);
		fuzz_check_error(rc, &err);
		return;
	}
	FUZZ_CHECK(u != NULL);
	fuzz_check_whole_json(it);
	FUZZ_CHECK(u->id > 0 && u->id <= CO_ID_MAX);
	FUZZ_CHECK(u->email && *u->email && strchr(u->email, '@'));
	for (const char *p = u->email; *p; p++)
		FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
	FUZZ_CHECK(!isspace((unsigned char)u->email[0]) && !isspace((unsigned char)u->email[strlen(u->email) - 1]));
	FUZZ_CHECK(co_role_valid(u->role));
	check_text(u->email);
	check_text(u->username);
	check_text(u->display_name);
	check_text(u->password_hash);
	FUZZ_CHECK(u->n_oauth == 0 || u->oauth != NULL);
	for (size_t i = 0; i < u->n_oauth; i++) {
		FUZZ_CHECK(u->oauth[i].provider && *u->oauth[i].provider && u->oauth[i].subject && *u->oauth[i].subject);
		check_text(u->oauth[i].provider);
		check_text(u->oauth[i].subject);
	}
	FUZZ_CHECK(u->created_at != CUTOVER_TS_NULL && u->updated_at != CUTOVER_TS_NULL);
	FUZZ_CHECK(co_ts_in_range(u->created_at) && co_ts_in_range(u->updated_at));
	cutover_user *d = co_user_dup(u);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_user_diff(u, d, diff, sizeof diff) == 0);
	cutover_user_free(d);
	cutover_user_free(u);
}

static void session_item(const co_scan_item *it, void *ud)
{
	(void)ud;
	cutover_session *s = NULL;
	cutover_error err = {0};
	int rc = co_legacy_session(it, &s, &err);
	if (rc != CUTOVER_OK) {
		FUZZ_CHECK(s == NULL);
		fuzz_check_error(rc, &err);
		return;
	}
	FUZZ_CHECK(s != NULL);
	fuzz_check_whole_json(it);
	FUZZ_CHECK(co_is_hex64(s->token_hash));
	FUZZ_CHECK(s->user_id > 0 && s->user_id <= CO_ID_MAX);
	FUZZ_CHECK(s->created_at != CUTOVER_TS_NULL && s->expires_at != CUTOVER_TS_NULL);
	check_text(s->user_agent);
	check_text(s->ip);
	cutover_session *d = co_session_dup(s);
	FUZZ_CHECK(d != NULL);
	char diff[256];
	FUZZ_CHECK(co_session_diff(s, d, diff, sizeof diff) == 0);
	cutover_session_free(d);
	cutover_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_scan_each(data, size, "users", user_item, NULL);
	fuzz_scan_each(data, size, "sessions", session_item, NULL);
	return 0;
}
