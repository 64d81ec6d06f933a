/* router.h — what every domain's stage router shares (core/router.c).
 *
 * A domain router is one more implementation of its domain's interface,
 * composed of the two backends (curl's Curl_ssl_multi is the model). The
 * stage table decides which is primary (authoritative, written first, whose
 * answer is returned) and whether the secondary is written and compared.
 * This part keeps the bookkeeping that is the same in every domain: the
 * journal of failed second writes, the mismatch reports and the counters.
 */
#ifndef CUTOVER_ROUTER_H
#define CUTOVER_ROUTER_H

#include "co.h"

typedef struct co_router {
	cutover_domain domain;
	const cutover_stage_info *stage;
	const char *primary_name;   /* "json" or "postgres" */
	const char *secondary_name;
	co_journal *journal;
	cutover_stats stats;
} co_router;

void co_router_init(co_router *r, cutover_domain d, cutover_stage stage, co_journal *journal);
void co_router_fini(co_router *r);

/* The second write of op on entity/key failed: count it, journal the key,
 * and report it (key_shown is what may be printed: an id, or a redacted
 * stand-in for a secret key). Never fails the call. */
void co_router_second_write_failed(co_router *r, const char *op, const char *entity, const char *key,
				   const char *key_shown, const cutover_error *cause);

/* Outcome of comparing one read on both stores. rc_p/rc_s are the two result
 * codes; fields names the fields that differ when both found a record (""
 * when equal). Counts and reports a mismatch; a failing secondary read is
 * counted as a secondary failure, not a mismatch. */
void co_router_compared(co_router *r, const char *op, const char *key_shown, int rc_p, int rc_s, const char *fields,
			const cutover_error *err_s);

#endif
