/* app.c — the smallest app that uses libcutover's identity interface.
 *
 * Build it the way any app would:
 *   cc app.c $(pkg-config --cflags --libs cutover) -o app
 * Run it with the domain's flag choosing the stage, e.g.
 *   IDENTITY_STORE=dualwrite DATABASE_URL=postgresql:///app ./app ada@example.com
 *
 * It finds or registers the user, logs them in (a session keyed by the sha256
 * of a random cookie token), then resolves the session back to the user, the
 * round trip every request of a web app makes.
 */
#include <cutover.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 64 hex chars standing in for sha256(cookie token); a real app hashes the
 * token it puts in the cookie. */
static int random_token_hash(char out[65])
{
	unsigned char raw[32];
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(raw, 1, sizeof(raw), f) != sizeof(raw)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: app EMAIL\n");
		return 2;
	}
	cutover_error err;
	cutover_identity *id = NULL;
	if (cutover_identity_open(&id, NULL, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		return err.code == CUTOVER_ECONFIG ? 2 : 3;
	}

	cutover_user *user = NULL;
	int rc = cutover_identity_get_user_by_email(id, &user, argv[1], &err);
	if (rc == CUTOVER_ENOTFOUND) {
		cutover_user in = {
			.email = argv[1],
			.display_name = "New user",
			.role = "analyst",
			.email_verified_at = CUTOVER_TS_NULL,
			.created_at = CUTOVER_TS_NULL,
			.updated_at = CUTOVER_TS_NULL,
		};
		rc = cutover_identity_create_user(id, &user, &in, &err);
		if (rc == CUTOVER_OK)
			printf("registered user %lld <%s>\n", (long long)user->id, user->email);
	} else if (rc == CUTOVER_OK) {
		printf("found user %lld <%s> (%s)\n", (long long)user->id, user->email, user->role);
	}
	if (rc != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		cutover_identity_free(id);
		return 1;
	}

	char token_hash[65];
	cutover_session login = {
		.token_hash = token_hash,
		.user_id = user->id,
		.created_at = CUTOVER_TS_NULL,
		.expires_at = cutover_now() + 3600LL * 1000000, /* one hour */
		.last_seen_at = CUTOVER_TS_NULL,
		.user_agent = "example-app/1.0",
		.ip = "127.0.0.1",
	};
	cutover_session *session = NULL;
	cutover_user *who = NULL;
	if (random_token_hash(token_hash) != 0 || cutover_identity_create_session(id, &login, &err) != CUTOVER_OK ||
	    cutover_identity_lookup_session(id, &session, &who, token_hash, CUTOVER_TS_NOW, &err) != CUTOVER_OK) {
		cutover_error_fprint(stderr, &err);
		cutover_user_free(user);
		cutover_identity_free(id);
		return 1;
	}
	printf("session resolves to user %lld <%s>\n", (long long)who->id, who->email);

	cutover_stats st;
	cutover_identity_stats(id, &st);
	if (st.reads_compared || st.journaled)
		printf("stage router: %llu reads compared, %llu mismatches, %llu second writes journaled\n",
		       (unsigned long long)st.reads_compared, (unsigned long long)st.mismatches,
		       (unsigned long long)st.journaled);
	cutover_session_free(session);
	cutover_user_free(who);
	cutover_user_free(user);
	cutover_identity_free(id);
	return 0;
}
