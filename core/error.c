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

/* The length of the UTF-8 sequence at p (as co_utf8_valid reads it), 0
 * when it is not a valid one (a bad lead or continuation byte, an overlong
 * form, a surrogate, past U+10FFFF, or cut short by the terminating NUL). */
static size_t utf8_seq(const unsigned char *p)
{
	size_t n;
	uint32_t cp;
	if (*p < 0x80)
		return 1;
	if ((*p & 0xE0) == 0xC0) {
		n = 1;
		cp = *p & 0x1F;
	} else if ((*p & 0xF0) == 0xE0) {
		n = 2;
		cp = *p & 0x0F;
	} else if ((*p & 0xF8) == 0xF0) {
		n = 3;
		cp = *p & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n + 1;
}

/* Texts quote values read from documents and servers, and go to terminals
 * and into JSON reject logs: keep them valid UTF-8 without control
 * characters (the message one line; a detail or hint may break lines). A
 * control character or a byte that starts no valid sequence (also one that
 * the buffer's end cut in two) becomes '?'. */
static void clean_text(char *s, bool lines)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		size_t n = utf8_seq(p);
		bool ctrl = n == 1 && (*p < 0x20 || *p == 0x7F) && *p != '\t' && !(lines && *p == '\n');
		if (n == 0 || ctrl) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
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
	clean_text(err->message, false);
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
	clean_text(err->detail, true);
}

void co_err_hint(cutover_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
	clean_text(err->hint, true);
}

int co_err_oom(cutover_error *err)
{
	return co_err(err, CUTOVER_EINTERNAL, "out of memory");
}
