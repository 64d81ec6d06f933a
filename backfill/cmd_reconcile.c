/* cmd_reconcile.c — `cutover reconcile DOMAIN|all [--apply] [--from STORE]`.
 *
 * Reads each domain's journal of failed second writes, groups its entries
 * by (entity, key) and, per key, makes the target hold exactly what the
 * source holds (reconcile.c and reconcile_<domain>.c do the repair). A dry
 * run by default: it reads both stores and says per key what --apply would
 * do, and writes nothing, the journal included. With --apply the journal
 * entries of every key whose stores now agree are removed, after the
 * repair, by rewriting the journal under its lock (core/journal.c): entries
 * that could not be repaired or read stay, and entries apps append while
 * reconcile runs are kept.
 *
 * Which store is the source. An entry's target missed the write while the
 * other store was authoritative, so the other store is the source. But if
 * the flag has moved since so that the target is authoritative now (say
 * dualwrite's entries reconciled in live), apps may have written newer
 * records to it since: copying the old source over them would undo those
 * writes, and copying the other way would take a guess. Reconcile then
 * only compares: a key whose stores agree is done (its entries are
 * removed); one that differs is left as it is and reported (exit 1), with
 * the two ways out: --from json or --from postgres names the store to copy
 * from for every key of the run, after the operator has compared the
 * copies. A key with entries of both targets has one that is not flipped,
 * and is copied from the authoritative store.
 *
 * Exit: 0 when every key is repaired, agrees already, or (dry run) would
 * be repaired; 1 when some cannot be (conflict, flipped, an entry that
 * cannot be read, a record the product never deletes); 2 usage or
 * configuration; 3 when a store or the journal cannot be reached, or a key
 * failed on an internal error (out of memory, an unexpected database error)
 * (what was repaired before stays repaired and its entries are removed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"

static const rc_domain *const order[] = {&rc_identity, &rc_telemetry, &rc_profile, &rc_reports};

static void help(void)
{
	printf("usage: cutover reconcile DOMAIN|all [--apply] [--from json|postgres] [--json]\n\n"
	       "Repairs the keys whose second write failed in a dual stage. The app journals each such\n"
	       "key in <CUTOVER_JOURNAL_DIR>/<domain>.journal (`cutover status` counts them); for each\n"
	       "one, reconcile makes the store that missed the write hold exactly the record the other\n"
	       "store (the authoritative one when the write happened) holds now: it copies that record\n"
	       "across, replacing whatever is there even if it looks newer, or deletes it there when\n"
	       "the other store no longer has it (sessions; a failed delete of all of a user's sessions\n"
	       "leaves the target with exactly the source's ones; a failed delete of expired sessions is\n"
	       "replayed). `all`: identity, telemetry, profile, reports, in that order.\n\n"
	       "Without --apply: a dry run that reads both stores and says per key what it would do;\n"
	       "it writes nothing, not even the journal.\n\n"
	       "  --apply              repair, then remove the journal entries of every key whose stores\n"
	       "                       now agree; keys that could not be repaired stay journaled, and so\n"
	       "                       do entries apps append meanwhile. A second run finds nothing to do.\n"
	       "  --from json|postgres copy from this store for every key of the run, whatever the\n"
	       "                       entries say: for keys reported as flipped, once you have compared\n"
	       "                       the two copies\n\n"
	       "Flipped: when the domain's flag now makes the entry's target authoritative (say\n"
	       "dualwrite's entries reconciled in live), apps may have written newer records there since,\n"
	       "so reconcile only compares: keys whose stores agree are done, keys that differ are\n"
	       "reported and left alone (see --from). So reconcile before the flag crosses between\n"
	       "shadow and live, in either direction.\n\n"
	       "Session keys are token hashes: they are only ever printed redacted.\n\n"
	       "Exit 0 when every key is repaired (or would be, or agrees already), 1 when some cannot be\n"
	       "(the message says why and what to do; e.g. the target holds another record under that id),\n"
	       "2 usage or configuration, 3 when a store or the journal cannot be reached (or a key failed on an\n"
	       "internal error: out of memory, an unexpected database error).\n");
}

/* --- the keys of a journal ------------------------------------------------- */

static const rc_entity *entity_of(const rc_domain *dom, const char *name)
{
	for (size_t i = 0; i < dom->n_entities; i++)
		if (strcmp(dom->entities[i].name, name) == 0)
			return &dom->entities[i];
	return NULL;
}

/* One rc_key per key of the snapshot, in the same order (keys[i] is
 * snap->keys[i]); entries that cannot be read, of an unknown entity or with
 * a key that is not one of its entity's are RC_BROKEN. */
static int group(const rc_domain *dom, const co_journal_snapshot *snap, rc_key **out)
{
	rc_key *keys = calloc(snap->n_keys ? snap->n_keys : 1, sizeof(*keys));
	if (!keys)
		return CUTOVER_EINTERNAL;
	for (size_t i = 0; i < snap->n_keys; i++) {
		const co_journal_key *jk = &snap->keys[i];
		rc_key *k = &keys[i];
		k->entity = jk->entity;
		k->key = jk->key;
		k->entries = jk->entries;
		k->first_line = jk->first;
		k->to[RC_JSON] = jk->to_json;
		k->to[RC_PG] = jk->to_pg;
		k->ent = jk->entity ? entity_of(dom, jk->entity) : NULL;
		cutover_error err;
		cutover_error_clear(&err);
		if (!jk->entity) {
			co_err(&err, CUTOVER_ECORRUPT, "journal entry %zu cannot be read: %s; it is kept", jk->first,
			       jk->why);
			co_err_hint(&err, "look at entry %zu of %s; remove it by hand once the key it names is repaired",
				    jk->first, snap->path);
		} else if (!k->ent) {
			co_err(&err, CUTOVER_ECORRUPT, "unknown entity \"%.40s\" in the %s journal; its entries are kept",
			       jk->entity, cutover_domain_name(dom->domain));
			co_err_hint(&err, "a newer cutover may have written it: reconcile with that version");
		} else if (!k->ent->key_ok(jk->key)) {
			co_err(&err, CUTOVER_ECORRUPT, "a %s entry whose key is not a %s key; its entries are kept",
			       jk->entity, jk->entity);
			co_err_hint(&err, "look at entry %zu of %s", jk->first, snap->path);
		} else {
			continue;
		}
		k->outcome = RC_BROKEN;
		rc_set_err(k, &err);
	}
	*out = keys;
	return CUTOVER_OK;
}

/* --- the report -------------------------------------------------------------- */

static const char *outcome_name(rc_outcome o)
{
	static const char *const names[] = {"not reached", "equal", "would repair", "repaired", "not repaired",
					    "flipped", "unreadable"};
	return names[o];
}

/* What a key's target lacked or had, in words. */
static void differs_text(const rc_key *k, char *buf, size_t len)
{
	const char *dst = rc_store_name(k->dst), *src = rc_store_name(k->src);
	const char *fields = k->fields ? k->fields : "";
	if (strcmp(fields, "missing") == 0)
		snprintf(buf, len, "%s has none", dst);
	else if (strcmp(fields, "extra") == 0)
		snprintf(buf, len, "%s has none", src);
	else
		snprintf(buf, len, "%s differs in %s", dst, *fields ? fields : "some fields");
}

static void print_key(const rc_key *k, bool apply)
{
	const char *src = rc_store_name(k->src), *dst = rc_store_name(k->dst);
	char d[320], shown[RC_SHOWN];
	differs_text(k, d, sizeof(d));
	printf("  %s %s: ", k->entity ? k->entity : "?", rc_shown(k, shown));
	bool replay = k->action && strcmp(k->action, "replay") == 0;
	switch (k->outcome) {
	case RC_EQUAL:
		printf("the stores already agree; %s\n", apply ? "entries removed" : "--apply removes its entries");
		break;
	case RC_WOULD:
		if (replay)
			printf("would delete from %s the sessions that had expired by then (replays the failed "
			       "delete_expired_sessions)\n",
			       k->fields ? k->fields : "its targets");
		else if (strcmp(k->action, "delete") == 0)
			printf("would delete it from %s (%s)\n", dst, d);
		else
			printf("would copy %s's record to %s (%s)\n", src, dst, d);
		break;
	case RC_REPAIRED:
		if (replay)
			printf("replayed delete_expired_sessions on %s: %s\n", k->fields ? k->fields : "its targets",
			       k->note ? k->note : "done");
		else if (strcmp(k->action, "delete") == 0)
			printf("deleted from %s (%s)\n", dst, d);
		else
			printf("copied %s's record to %s (%s)\n", src, dst, d);
		break;
	case RC_PENDING:
		printf("not reached (a store could not be reached first); stays journaled\n");
		break;
	case RC_FAILED:
	case RC_FLIPPED:
	case RC_BROKEN:
		printf("NOT repaired: %s", k->err->message);
		if (k->outcome == RC_FLIPPED)
			printf("; the stores differ (%s)", d);
		printf("\n");
		if (*k->err->detail)
			printf("      detail: %s\n", k->err->detail);
		if (*k->err->hint)
			printf("      hint: %s\n", k->err->hint);
		break;
	}
}

static cJSON *key_json(const rc_key *k)
{
	cJSON *o = cJSON_CreateObject();
	char shown[RC_SHOWN];
	cJSON_AddStringToObject(o, "entity", k->entity ? k->entity : "?");
	cJSON_AddStringToObject(o, "key", rc_shown(k, shown));
	cJSON_AddNumberToObject(o, "entries", (double)k->entries);
	cJSON *t = cJSON_AddArrayToObject(o, "targets");
	for (int s = RC_JSON; s <= RC_PG; s++)
		if (k->to[s])
			cJSON_AddItemToArray(t, cJSON_CreateString(rc_store_name((rc_store)s)));
	if (k->outcome != RC_BROKEN) {
		cJSON_AddStringToObject(o, "source", rc_store_name(k->src));
		cJSON_AddStringToObject(o, "target", rc_store_name(k->dst));
	}
	cJSON_AddStringToObject(o, "outcome", outcome_name(k->outcome));
	if (k->action)
		cJSON_AddStringToObject(o, "action", k->action);
	if (k->fields && *k->fields)
		cJSON_AddStringToObject(o, "differs", k->fields);
	if (k->note && *k->note)
		cJSON_AddStringToObject(o, "note", k->note);
	if (k->outcome == RC_FAILED || k->outcome == RC_FLIPPED || k->outcome == RC_BROKEN) {
		cJSON_AddStringToObject(o, "code", cutover_code_name(k->err->code));
		cJSON_AddStringToObject(o, "error", k->err->message);
		if (*k->err->hint)
			cJSON_AddStringToObject(o, "hint", k->err->hint);
	}
	return o;
}

/* --- one domain ------------------------------------------------------------------ */

/* Decide each key's direction (see the top of the file). A flipped key
 * gets its words only if its stores differ (rc_flipped). */
static void direct(rc_key *keys, size_t n, rc_store authoritative, int from)
{
	for (size_t i = 0; i < n; i++) {
		rc_key *k = &keys[i];
		rc_store other = authoritative == RC_JSON ? RC_PG : RC_JSON;
		if (k->outcome == RC_BROKEN)
			continue;
		if (from >= 0) {
			k->src = (rc_store)from;
			k->dst = from == RC_JSON ? RC_PG : RC_JSON;
		} else if (k->to[other]) {
			k->src = authoritative;
			k->dst = other;
		} else {
			k->src = other;
			k->dst = authoritative;
			k->compare_only = true;
		}
	}
}

typedef struct totals {
	size_t by[RC_BROKEN + 1];
} totals;

/* A domain that stopped before looking at any key: the error, in the
 * --json document too; returns the exit code. */
static int stopped(cJSON *out, const cutover_error *err)
{
	int code = cli_fail(err);
	if (out) {
		cJSON_AddStringToObject(out, "code", cutover_code_name(err->code));
		cJSON_AddStringToObject(out, "error", err->message);
		if (*err->hint)
			cJSON_AddStringToObject(out, "hint", err->hint);
		cJSON_AddNumberToObject(out, "exit", code);
	}
	return code;
}

static int run_domain(cli_ctx *ctx, const rc_domain *dom, bool apply, int from, cJSON *out)
{
	const char *name = cutover_domain_name(dom->domain);
	cutover_error err;
	cutover_settings st;
	if (cutover_settings_resolve(&st, dom->domain, NULL, &err))
		return stopped(out, &err);
	co_journal_snapshot snap;
	if (co_journal_read(st.journal_dir, dom->domain, apply, &snap, &err)) {
		co_journal_snapshot_free(&snap);
		return stopped(out, &err);
	}
	const cutover_stage_info *info = cutover_stage_describe(st.stage);
	rc_store authoritative = info->pg_authoritative ? RC_PG : RC_JSON;
	rc_key *keys = NULL;
	size_t nk = snap.n_keys;
	if (group(dom, &snap, &keys) != CUTOVER_OK) {
		co_journal_snapshot_free(&snap);
		return stopped(out, &(cutover_error){.code = CUTOVER_EINTERNAL, .message = "out of memory"});
	}
	direct(keys, nk, authoritative, from);

	rc_run r = {.dom = dom, .st = &st, .apply = apply};
	bool needs_stores = false;
	for (size_t i = 0; i < nk; i++)
		needs_stores |= keys[i].outcome == RC_PENDING;
	int code = EXIT_OK;
	if (needs_stores && dom->open(&r, &err) != CUTOVER_OK) {
		for (size_t i = 0; i < nk; i++)
			rc_key_clear(&keys[i]);
		free(keys);
		co_journal_snapshot_free(&snap);
		fprintf(stderr, "cutover: reconcile %s: cannot open both stores; nothing was written\n", name);
		return stopped(out, &err);
	}
	/* entity by entity, in the domain's order (referenced records first) */
	rc_key **sel = malloc((nk ? nk : 1) * sizeof(*sel));
	if (!sel) {
		r.fatal = CUTOVER_EINTERNAL; /* nothing is repaired; every key stays journaled */
		co_err_oom(&r.fatal_err);
	}
	size_t done = 0;
	for (size_t e = 0; sel && e < dom->n_entities && !r.fatal; e++) {
		const rc_entity *ent = &dom->entities[e];
		size_t m = 0;
		for (size_t i = 0; i < nk; i++)
			if (keys[i].outcome == RC_PENDING && strcmp(keys[i].entity, ent->name) == 0)
				sel[m++] = &keys[i];
		if (ent->run) {
			ent->run(&r, sel, m);
			done += m;
			continue;
		}
		for (size_t i = 0; i < m && !r.fatal; i++) {
			cli_progress(ctx, "reconcile %s: %zu keys checked", name, done++);
			rc_repair_one(&r, ent, sel[i]);
		}
	}
	cli_progress_done(ctx);
	free(sel);
	if (needs_stores)
		dom->close(&r);

	/* the journal: drop the entries of keys whose stores now agree */
	size_t kept = snap.n, removed = 0;
	cutover_error jerr;
	cutover_error_clear(&jerr);
	bool journal_failed = false;
	if (apply && snap.n) {
		bool *keep = malloc(nk * sizeof(*keep));
		for (size_t i = 0; keep && i < nk; i++) {
			rc_outcome o = keys[i].outcome;
			keep[i] = !(o == RC_EQUAL || o == RC_REPAIRED);
			removed += keep[i] ? 0 : keys[i].entries;
		}
		if (!keep) {
			journal_failed = true;
			co_err_oom(&jerr);
		} else if (co_journal_rewrite(&snap, keep, &kept, &jerr) != CUTOVER_OK) {
			journal_failed = true;
		}
		if (journal_failed)
			removed = 0;
		free(keep);
	}

	totals t = {{0}};
	for (size_t i = 0; i < nk; i++)
		t.by[keys[i].outcome]++;
	size_t not_repaired = t.by[RC_FAILED] + t.by[RC_FLIPPED] + t.by[RC_BROKEN];
	/* a key that failed for want of memory or on a bug is a runtime failure, not a check */
	bool internal = false;
	for (size_t i = 0; i < nk && !internal; i++)
		internal = keys[i].outcome == RC_FAILED && keys[i].err->code == CUTOVER_EINTERNAL;
	if (r.fatal || journal_failed || internal)
		code = EXIT_RUNTIME;
	else if (not_repaired)
		code = EXIT_CHECKS;

	if (out) {
		cJSON_AddStringToObject(out, "flag", st.flag_name);
		cJSON_AddStringToObject(out, "stage", info->name);
		cJSON_AddStringToObject(out, "authoritative", rc_store_name(authoritative));
		if (from >= 0)
			cJSON_AddStringToObject(out, "from", rc_store_name((rc_store)from));
		cJSON_AddBoolToObject(out, "dry_run", !apply);
		cJSON_AddNumberToObject(out, "entries", (double)snap.n);
		cJSON_AddNumberToObject(out, "keys", (double)nk);
		cJSON_AddNumberToObject(out, "equal", (double)t.by[RC_EQUAL]);
		cJSON_AddNumberToObject(out, "would_repair", (double)t.by[RC_WOULD]);
		cJSON_AddNumberToObject(out, "repaired", (double)t.by[RC_REPAIRED]);
		cJSON_AddNumberToObject(out, "not_repaired", (double)not_repaired);
		cJSON_AddNumberToObject(out, "not_reached", (double)t.by[RC_PENDING]);
		if (apply) {
			cJSON_AddNumberToObject(out, "entries_removed", (double)removed);
			cJSON_AddNumberToObject(out, "entries_kept", (double)kept);
		}
		cJSON *arr = cJSON_AddArrayToObject(out, "items");
		for (size_t i = 0; i < nk; i++)
			cJSON_AddItemToArray(arr, key_json(&keys[i]));
		cJSON_AddNumberToObject(out, "exit", code);
	} else {
		printf("%s: %zu journal entr%s, %zu key%s; %s=%s: %s is authoritative%s%s\n", name, snap.n,
		       snap.n == 1 ? "y" : "ies", nk, nk == 1 ? "" : "s", st.flag_name, info->name,
		       rc_store_name(authoritative), from >= 0 ? "; copying from " : "",
		       from >= 0 ? rc_store_name((rc_store)from) : "");
		for (size_t i = 0; i < nk; i++)
			print_key(&keys[i], apply);
		if (!apply)
			printf("%s: dry run, nothing written: %zu key%s would be repaired, %zu already agree, %zu cannot "
			       "be%s\n",
			       name, t.by[RC_WOULD], t.by[RC_WOULD] == 1 ? "" : "s", t.by[RC_EQUAL], not_repaired,
			       t.by[RC_WOULD] + t.by[RC_EQUAL] ? "; run with --apply" : "");
		else
			printf("%s: %zu key%s repaired, %zu already agreed, %zu not repaired%s; journal: %zu entr%s "
			       "removed, %zu kept\n",
			       name, t.by[RC_REPAIRED], t.by[RC_REPAIRED] == 1 ? "" : "s", t.by[RC_EQUAL], not_repaired,
			       t.by[RC_PENDING] ? " (some not reached)" : "", removed, removed == 1 ? "y" : "ies", kept);
	}
	if (r.fatal) {
		fprintf(stderr, "cutover: reconcile %s stopped: %s; keys repaired before stay repaired, the others stay "
				"journaled\n",
			name, r.fatal == CUTOVER_EUNAVAILABLE ? "a store cannot be reached" : "out of memory");
		cutover_error_fprint(stderr, &r.fatal_err);
	} else if (internal) {
		fprintf(stderr, "cutover: reconcile %s: some keys failed on an internal error (see them above); they "
				"stay journaled\n",
			name);
	}
	if (journal_failed) {
		fprintf(stderr, "cutover: reconcile %s: the journal could not be rewritten; the repairs are done and a "
				"re-run finds those keys in agreement\n",
			name);
		cutover_error_fprint(stderr, &jerr);
	}
	for (size_t i = 0; i < nk; i++)
		rc_key_clear(&keys[i]);
	free(keys);
	co_journal_snapshot_free(&snap);
	return code;
}

int cmd_reconcile(cli_ctx *ctx, int argc, char **argv)
{
	const char *domain = NULL;
	bool apply = false;
	int from = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			help();
			return EXIT_OK;
		} else if (strcmp(a, "--apply") == 0) {
			apply = true;
		} else if (strcmp(a, "--from") == 0) {
			if (i + 1 >= argc)
				return cli_usage("reconcile: --from needs json or postgres");
			const char *s = argv[++i];
			if (strcmp(s, "json") == 0)
				from = RC_JSON;
			else if (strcmp(s, "postgres") == 0)
				from = RC_PG;
			else
				return cli_usage("reconcile: --from takes json or postgres, not \"%s\"", s);
		} else if (a[0] == '-') {
			return cli_usage("reconcile: unknown option \"%s\" (see cutover reconcile --help)", a);
		} else if (cli_domain_take("reconcile", &domain, a)) {
			return EXIT_USAGE;
		}
	}
	bool all;
	if (cli_domain_check("reconcile", domain, &all))
		return EXIT_USAGE;
	cJSON *doc = ctx->json ? cJSON_CreateObject() : NULL;
	int worst = EXIT_OK;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *name = cutover_domain_name(order[i]->domain);
		if (!all && strcmp(domain, name) != 0)
			continue;
		cJSON *part = doc ? cJSON_AddObjectToObject(doc, name) : NULL;
		int code = run_domain(ctx, order[i], apply, from, part);
		if (code > worst)
			worst = code;
		if (code >= EXIT_USAGE)
			break; /* later domains may reference this one's records */
	}
	if (doc)
		cli_json_print(doc);
	return worst;
}
