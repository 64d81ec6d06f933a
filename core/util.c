/* util.c — strings, a growable buffer, directories, small validators.
 *
 * Everything here is tiny and used by every layer; allocation failures are
 * reported (NULL, or co_buf.failed) rather than aborting, so callers can turn
 * them into CUTOVER_EINTERNAL.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "co.h"

char *co_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *co_strndup(const char *s, size_t n)
{
	return s ? strndup(s, n) : NULL;
}

bool co_dup_str(char **dst, const char *src)
{
	*dst = co_strdup(src);
	return !src || *dst;
}

bool co_set_str(char **dst, const char *src)
{
	char *v = co_strdup(src);
	if (src && !v)
		return false;
	free(*dst);
	*dst = v;
	return true;
}

uint64_t co_hash64(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

bool co_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool buf_grow(co_buf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void co_buf_put(co_buf *b, const char *s, size_t n)
{
	if (!buf_grow(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void co_buf_puts(co_buf *b, const char *s)
{
	co_buf_put(b, s, strlen(s));
}

void co_buf_printf(co_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void co_buf_free(co_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

char *co_email_normalize(const char *email)
{
	if (!email)
		return NULL;
	while (*email && isspace((unsigned char)*email))
		email++;
	size_t n = strlen(email);
	while (n > 0 && isspace((unsigned char)email[n - 1]))
		n--;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)email[i];
		out[i] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
	}
	out[n] = '\0';
	return out;
}

bool co_is_hex64(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == 64;
}

bool co_role_valid(const char *role)
{
	return co_streq(role, "admin") || co_streq(role, "analyst") || co_streq(role, "viewer");
}

int co_mkdirs(const char *path, cutover_error *err)
{
	if (!path || !*path) {
		co_err(err, CUTOVER_ECONFIG, "no directory given (an empty path)");
		co_err_hint(err, "set the directory to a path, or unset its variable for the default");
		return CUTOVER_ECONFIG;
	}
	char *p = co_strdup(path);
	if (!p)
		return co_err_oom(err);
	for (char *s = p + 1;; s++) {
		bool end = (*s == '\0');
		if (*s == '/' || end) {
			char keep = *s;
			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				int e = errno;
				co_err(err, CUTOVER_EUNAVAILABLE, "cannot create directory %s: %s", p, strerror(e));
				co_err_hint(err, "check that the parent exists and is writable by this user");
				free(p);
				return err ? err->code : CUTOVER_EUNAVAILABLE;
			}
			*s = keep;
		}
		if (end)
			break;
	}
	free(p);
	return CUTOVER_OK;
}
