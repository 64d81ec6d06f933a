/* log.c — where the library's reports go (mismatches, journaled writes).
 *
 * Apps can route lines to their own logger with cutover_set_log; the default
 * writes to stderr. Callers format through the redaction helper first: this
 * file only delivers text, it never sees raw secrets.
 */
#include <stdio.h>

#include "co.h"

static cutover_log_fn log_fn;
static void *log_ud;

CUTOVER_API void cutover_set_log(cutover_log_fn fn, void *userdata)
{
	log_fn = fn;
	log_ud = userdata;
}

void co_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(log_ud, line);
	else
		fprintf(stderr, "cutover: %s\n", line);
}
