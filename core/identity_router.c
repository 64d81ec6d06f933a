/* identity_router.c — identity in a dual stage: two stores, one interface.
 *
 * The router fills the same cutover_identity table as the backends. Writes go
 * to the primary (authoritative) store first; if that fails the call fails
 * and the secondary is not touched. Then the secondary receives the record
 * exactly as the primary now holds it (put_user / put_session), which makes
 * the second write idempotent: ids and timestamps are the primary's. A failed
 * second write is journaled and never fails the call. Deleting a session is
 * attempted on the secondary even when the primary had none, so no copy
 * outlives a logout. Reads go to the primary
 * only, or, in stages that compare, to both, with differences reported field
 * by field; the primary's answer is returned either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

typedef struct identity_router {
	cutover_identity base;
	co_router r;
	cutover_identity *primary, *secondary;
} identity_router;

#define R(s) ((identity_router *)(s))

static const char *user_key(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)id);
	return buf;
}

/* Replicate the user as the primary holds it. */
static void second_put_user(identity_router *ir, const char *op, const cutover_user *u)
{
	if (!ir->r.stage->writes_both)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (ir->secondary->put_user(ir->secondary, u, &e2) != CUTOVER_OK) {
		char key[32];
		user_key(u->id, key, sizeof(key));
		co_router_second_write_failed(&ir->r, op, "user", key, key, &e2);
	}
}

static void second_session_failed(identity_router *ir, const char *op, const char *token, const cutover_error *e2)
{
	char shown[32];
	co_router_second_write_failed(&ir->r, op, "session", token, co_redact_value(token, shown, sizeof(shown)), e2);
}

static void second_put_session(identity_router *ir, const char *op, const cutover_session *ss)
{
	if (!ir->r.stage->writes_both)
		return;
	cutover_error e2;
	cutover_error_clear(&e2);
	if (ir->secondary->put_session(ir->secondary, ss, &e2) != CUTOVER_OK)
		second_session_failed(ir, op, ss->token_hash, &e2);
}

/* Compare a user read on both stores; frees the secondary's answer. */
static void compare_user(identity_router *ir, const char *op, const char *key_shown, int rc_p, const cutover_user *p,
			 int rc_s, cutover_user *s, const cutover_error *err_s)
{
	char fields[256] = "";
	if (rc_p == CUTOVER_OK && rc_s == CUTOVER_OK)
		co_user_diff(p, s, fields, sizeof(fields));
	co_router_compared(&ir->r, op, key_shown, rc_p, rc_s, fields, err_s);
	cutover_user_free(s);
}

/* --- writes --------------------------------------------------------------- */

static int r_create_user(cutover_identity *s, cutover_user **out, const cutover_user *in, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->create_user(ir->primary, out, in, err);
	if (rc == CUTOVER_OK)
		second_put_user(ir, "create_user", *out);
	return rc;
}

static int r_update_user(cutover_identity *s, cutover_user **out, int64_t id, const cutover_user_patch *patch,
			 cutover_ts now, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->update_user(ir->primary, out, id, patch, now, err);
	if (rc == CUTOVER_OK)
		second_put_user(ir, "update_user", *out);
	return rc;
}

static int r_put_user(cutover_identity *s, const cutover_user *u, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->put_user(ir->primary, u, err);
	if (rc == CUTOVER_OK)
		second_put_user(ir, "put_user", u);
	return rc;
}

static int r_create_session(cutover_identity *s, const cutover_session *in, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->create_session(ir->primary, in, err);
	if (rc == CUTOVER_OK)
		second_put_session(ir, "create_session", in);
	return rc;
}

static int r_put_session(cutover_identity *s, const cutover_session *ss, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->put_session(ir->primary, ss, err);
	if (rc == CUTOVER_OK)
		second_put_session(ir, "put_session", ss);
	return rc;
}

static int r_touch_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_ts now,
			   cutover_error *err)
{
	identity_router *ir = R(s);
	cutover_session *touched = NULL;
	int rc = ir->primary->touch_session(ir->primary, &touched, token_hash, now, err);
	if (rc != CUTOVER_OK)
		return rc;
	second_put_session(ir, "touch_session", touched);
	if (out)
		*out = touched;
	else
		cutover_session_free(touched);
	return CUTOVER_OK;
}

/* A delete is attempted on the secondary even when the primary had no such
 * session: a copy left there (say a second write of live's that reached
 * postgres only) must not outlive a logout. The caller gets the primary's
 * answer. */
static int r_delete_session(cutover_identity *s, const char *token_hash, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->delete_session(ir->primary, token_hash, err);
	if ((rc != CUTOVER_OK && rc != CUTOVER_ENOTFOUND) || !ir->r.stage->writes_both)
		return rc;
	cutover_error e2;
	cutover_error_clear(&e2);
	int rc2 = ir->secondary->delete_session(ir->secondary, token_hash, &e2);
	if (rc2 != CUTOVER_OK && rc2 != CUTOVER_ENOTFOUND) /* already absent there is the wanted end state */
		second_session_failed(ir, "delete_session", token_hash, &e2);
	return rc;
}

static int r_delete_user_sessions(cutover_identity *s, int64_t user_id, size_t *out_count, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->delete_user_sessions(ir->primary, user_id, out_count, err);
	if (rc != CUTOVER_OK || !ir->r.stage->writes_both)
		return rc;
	cutover_error e2;
	cutover_error_clear(&e2);
	size_t n2 = 0;
	if (ir->secondary->delete_user_sessions(ir->secondary, user_id, &n2, &e2) != CUTOVER_OK) {
		char key[32];
		user_key(user_id, key, sizeof(key));
		co_router_second_write_failed(&ir->r, "delete_user_sessions", "user_sessions", key, key, &e2);
	}
	return CUTOVER_OK;
}

static int r_delete_expired_sessions(cutover_identity *s, cutover_ts now, size_t *out_count, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->delete_expired_sessions(ir->primary, now, out_count, err);
	if (rc != CUTOVER_OK || !ir->r.stage->writes_both)
		return rc;
	cutover_error e2;
	cutover_error_clear(&e2);
	size_t n2 = 0;
	if (ir->secondary->delete_expired_sessions(ir->secondary, now, &n2, &e2) != CUTOVER_OK) {
		char key[40];
		cutover_ts_format(now, key, sizeof(key));
		co_router_second_write_failed(&ir->r, "delete_expired_sessions", "expired_sessions", key, key, &e2);
	}
	return CUTOVER_OK;
}

/* --- reads ---------------------------------------------------------------- */

static int r_get_user(cutover_identity *s, cutover_user **out, int64_t id, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->get_user(ir->primary, out, id, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_user *other = NULL;
	cutover_error e2;
	int rc2 = ir->secondary->get_user(ir->secondary, &other, id, &e2);
	char key[32];
	compare_user(ir, "get_user", user_key(id, key, sizeof(key)), rc, *out, rc2, other, &e2);
	return rc;
}

static int r_get_user_by_email(cutover_identity *s, cutover_user **out, const char *email, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->get_user_by_email(ir->primary, out, email, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_user *other = NULL;
	cutover_error e2;
	int rc2 = ir->secondary->get_user_by_email(ir->secondary, &other, email, &e2);
	char key[64];
	/* an email is personal data: reports name it by fingerprint */
	compare_user(ir, "get_user_by_email", co_redact_value(email, key, sizeof(key)), rc, *out, rc2, other, &e2);
	return rc;
}

static int r_get_user_by_oauth(cutover_identity *s, cutover_user **out, const char *provider, const char *subject,
			       cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->get_user_by_oauth(ir->primary, out, provider, subject, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_user *other = NULL;
	cutover_error e2;
	int rc2 = ir->secondary->get_user_by_oauth(ir->secondary, &other, provider, subject, &e2);
	char fp[32], key[128];
	snprintf(key, sizeof(key), "%s/%s", provider, co_redact_value(subject, fp, sizeof(fp)));
	compare_user(ir, "get_user_by_oauth", key, rc, *out, rc2, other, &e2);
	return rc;
}

static int r_list_assignable_users(cutover_identity *s, cutover_user_list *out, const char *role, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->list_assignable_users(ir->primary, out, role, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_user_list other = {0};
	cutover_error e2;
	int rc2 = ir->secondary->list_assignable_users(ir->secondary, &other, role, &e2);
	char fields[256] = "";
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK) {
		if (out->n != other.n) {
			snprintf(fields, sizeof(fields), "count(%zu vs %zu)", out->n, other.n);
		} else {
			for (size_t i = 0; i < out->n; i++) {
				char f[200];
				if (co_user_diff(&out->items[i], &other.items[i], f, sizeof(f))) {
					snprintf(fields, sizeof(fields), "item %zu (id %lld): %s", i,
						 (long long)out->items[i].id, f);
					break;
				}
			}
		}
	}
	co_router_compared(&ir->r, "list_assignable_users", role ? role : "(all roles)", rc, rc2, fields, &e2);
	cutover_user_list_free(&other);
	return rc;
}

static int r_get_session(cutover_identity *s, cutover_session **out, const char *token_hash, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->get_session(ir->primary, out, token_hash, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_session *other = NULL;
	cutover_error e2;
	int rc2 = ir->secondary->get_session(ir->secondary, &other, token_hash, &e2);
	char fields[256] = "", shown[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK)
		co_session_diff(*out, other, fields, sizeof(fields));
	co_router_compared(&ir->r, "get_session", co_redact_value(token_hash, shown, sizeof(shown)), rc, rc2, fields, &e2);
	cutover_session_free(other);
	return rc;
}

static int r_lookup_session(cutover_identity *s, cutover_session **out_session, cutover_user **out_user,
			    const char *token_hash, cutover_ts now, cutover_error *err)
{
	identity_router *ir = R(s);
	int rc = ir->primary->lookup_session(ir->primary, out_session, out_user, token_hash, now, err);
	if (!ir->r.stage->compares_reads)
		return rc;
	cutover_session *os = NULL;
	cutover_user *ou = NULL;
	cutover_error e2;
	int rc2 = ir->secondary->lookup_session(ir->secondary, &os, &ou, token_hash, now, &e2);
	char fields[640] = "", shown[32];
	if (rc == CUTOVER_OK && rc2 == CUTOVER_OK) {
		char sf[256], uf[256];
		int ns = co_session_diff(*out_session, os, sf, sizeof(sf));
		int nu = co_user_diff(*out_user, ou, uf, sizeof(uf));
		snprintf(fields, sizeof(fields), "%s%s%s%s", ns ? sf : "", ns && nu ? "," : "", nu ? "user." : "",
			 nu ? uf : "");
	}
	co_router_compared(&ir->r, "lookup_session", co_redact_value(token_hash, shown, sizeof(shown)), rc, rc2, fields,
			   &e2);
	cutover_session_free(os);
	cutover_user_free(ou);
	return rc;
}

/* --- life cycle ------------------------------------------------------------ */

static void r_stats(cutover_identity *s, cutover_stats *out)
{
	*out = R(s)->r.stats;
}

static void r_free(cutover_identity *s)
{
	identity_router *ir = R(s);
	cutover_identity_free(ir->primary);
	cutover_identity_free(ir->secondary);
	co_router_fini(&ir->r);
	free(ir);
}

int co_identity_router(cutover_identity **out, cutover_stage stage, cutover_identity *json, cutover_identity *pg,
		       co_journal *journal, cutover_error *err)
{
	*out = NULL;
	identity_router *ir = calloc(1, sizeof(*ir));
	const cutover_stage_info *info = cutover_stage_describe(stage);
	if (!ir || !info || !json || !pg) {
		free(ir);
		cutover_identity_free(json);
		cutover_identity_free(pg);
		co_journal_close(journal);
		return ir ? co_err(err, CUTOVER_EINTERNAL, "identity router needs a stage and both stores") : co_err_oom(err);
	}
	ir->base = (cutover_identity){
		.version = CUTOVER_IDENTITY_VERSION,
		.kind = "router",
		.create_user = r_create_user,
		.get_user = r_get_user,
		.get_user_by_email = r_get_user_by_email,
		.get_user_by_oauth = r_get_user_by_oauth,
		.update_user = r_update_user,
		.list_assignable_users = r_list_assignable_users,
		.create_session = r_create_session,
		.get_session = r_get_session,
		.lookup_session = r_lookup_session,
		.touch_session = r_touch_session,
		.delete_session = r_delete_session,
		.delete_user_sessions = r_delete_user_sessions,
		.delete_expired_sessions = r_delete_expired_sessions,
		.put_user = r_put_user,
		.put_session = r_put_session,
		.stats = r_stats,
		.free = r_free,
	};
	co_router_init(&ir->r, CUTOVER_DOMAIN_IDENTITY, stage, journal);
	ir->primary = info->pg_authoritative ? pg : json;
	ir->secondary = info->pg_authoritative ? json : pg;
	*out = &ir->base;
	return CUTOVER_OK;
}
