/* cutover/open.h — open a domain in the stage its env flag names.
 *
 * This is the app's front door. It reads the domain's flag
 * (`[CUTOVER_FLAG_PREFIX]IDENTITY_STORE`), refuses anything that is not one
 * of the six stages, opens the backends that stage needs, checks that
 * Postgres is ready to be authoritative when the stage makes it so, and
 * hands back one handle that routes every call.
 */
#ifndef CUTOVER_OPEN_H
#define CUTOVER_OPEN_H

#include "error.h"
#include "identity.h"
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every field is optional: NULL means "from the environment, else the
 * default" (see docs/flags.md). */
typedef struct cutover_options {
	const char *flag_prefix;  /* CUTOVER_FLAG_PREFIX; e.g. "SOC_" */
	const char *stage;        /* overrides the domain's *_STORE flag */
	const char *json_root;    /* CUTOVER_JSON_ROOT; default "./cutover-state" */
	const char *json_token;   /* CUTOVER_JSON_TOKEN */
	const char *database_url; /* DATABASE_URL; default: libpq's PG* variables */
	const char *journal_dir;  /* CUTOVER_JOURNAL_DIR; default <json root>/.cutover */
} cutover_options;

/* Resolved configuration of one domain. The const strings point into the
 * options or the environment and stay valid while those are unchanged. */
typedef struct cutover_settings {
	cutover_domain domain;
	cutover_stage stage;
	char flag_name[128];      /* the variable read, e.g. "SOC_IDENTITY_STORE" */
	const char *json_root;
	const char *json_token;   /* secret: print only through redaction */
	const char *database_url; /* may hold a password: print only through redaction */
	char journal_dir[1024];
} cutover_settings;

/* Resolve the settings of a domain. A flag value that is not a stage is
 * CUTOVER_ECONFIG; the message names the variable and the value, the hint
 * lists the valid stages. */
CUTOVER_API int cutover_settings_resolve(cutover_settings *out, cutover_domain d, const cutover_options *opts, cutover_error *err);

/* Open identity in its configured stage. */
CUTOVER_API int cutover_identity_open(cutover_identity **out, const cutover_options *opts, cutover_error *err);

/* Where mismatch reports and warnings go. Default: stderr. The text has
 * already been through the redaction helper. */
typedef void (*cutover_log_fn)(void *userdata, const char *line);
CUTOVER_API void cutover_set_log(cutover_log_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif
#endif
