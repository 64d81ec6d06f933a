/* flags.h — what each domain's open function shares (flags/flags.c).
 *
 * cutover_<domain>_open is the same recipe in every domain: resolve the
 * settings, connect to Postgres when the stage uses it (refusing a
 * postgres-authoritative stage while a sequence is behind), open the journal
 * when the stage writes both stores, then build the domain's backends and,
 * in a dual stage, its router over them. co_open_begin does the shared
 * part; flags/open_<domain>.c does the rest.
 */
#ifndef CUTOVER_FLAGS_H
#define CUTOVER_FLAGS_H

#include "co.h"
#include "json_store.h"
#include "pg.h"

typedef struct co_open_parts {
	cutover_settings st;
	const cutover_stage_info *info;
	bool uses_json;       /* the stage reads or writes the json store */
	co_pg *pg;            /* set when the stage uses postgres; hand it to the domain's pg backend */
	co_transport *t;      /* set when the stage uses json; hand it to the domain's json backend */
	co_journal *journal;  /* set when the stage writes both stores; hand it to the router */
} co_open_parts;

/* Resolve, connect and check, open the journal. On failure nothing is left open. */
int co_open_begin(co_open_parts *p, cutover_domain d, const cutover_options *opts, cutover_error *err);
/* Release whatever of pg, t and journal has not been handed on (set to NULL once handed). */
void co_open_abort(co_open_parts *p);

#endif
