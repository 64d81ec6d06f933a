/* error.c — setting and printing cutover_error.
 *
 * Errors are caller-owned structs with fixed buffers, so a failure path never
 * allocates and never needs freeing. co_err() returns the code it stored,
 * which keeps failure paths to one line: `return co_err(err, CODE, "...")`.
 */
#include <stdio.h>
#include <string.h>

#include "co.h"

static const char *const code_names[] = {
	[CUTOVER_OK] = "ok",
	[CUTOVER_ENOTFOUND] = "not found",
	[CUTOVER_ECONFLICT] = "conflict",
	[CUTOVER_EINVALID] = "invalid",
	[CUTOVER_ECONFIG] = "configuration",
	[CUTOVER_EUNAVAILABLE] = "unavailable",
	[CUTOVER_ESTATE] = "not ready",
	[CUTOVER_ECORRUPT] = "corrupt",
	[CUTOVER_EBUSY] = "busy",
	[CUTOVER_EINTERNAL] = "internal",
};

CUTOVER_API const char *cutover_code_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(code_names) / sizeof(code_names[0]) || !code_names[code])
		return "unknown";
	return code_names[code];
}

CUTOVER_API void cutover_error_clear(cutover_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

CUTOVER_API void cutover_error_fprint(FILE *f, const cutover_error *err)
{
	if (!err || err->code == CUTOVER_OK)
		return;
	fprintf(f, "error: %s\n", err->message[0] ? err->message : cutover_code_name(err->code));
	if (err->detail[0])
		fprintf(f, "detail: %s\n", err->detail);
	if (err->sqlstate[0])
		fprintf(f, "sqlstate: %s\n", err->sqlstate);
	if (err->hint[0])
		fprintf(f, "hint: %s\n", err->hint);
}

int co_err(cutover_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	cutover_error_clear(err);
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void co_err_detail(cutover_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void co_err_hint(cutover_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

int co_err_oom(cutover_error *err)
{
	return co_err(err, CUTOVER_EINTERNAL, "out of memory");
}
