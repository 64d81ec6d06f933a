/* redact.c — the one place that decides how a secret prints.
 *
 * Password hashes, token hashes, database passwords and bearer tokens never
 * appear in clear in any log, report or error. Secrets print as a short
 * fingerprint (FNV-1a of the value) so two reports about the same key can be
 * matched without revealing it.
 *
 * Connection strings are read the way libpq reads them, by libpq itself
 * (PQconninfoParse), never by guessing at their syntax: a key=value string
 * prints as the options that locate the server (host, hostaddr, port,
 * dbname, user) plus "password=****" when it has one, and nothing else; a
 * postgres:// or postgresql:// URL prints as a URL with the password of its
 * userinfo and the values of its password query parameters replaced by
 * "****", then is parsed again to prove no password is left (otherwise it
 * prints in the key=value form). A string libpq cannot parse is never
 * echoed. URLs in general: the userinfo is everything up to the last '@'
 * before the first '/' after "scheme://" (libpq does not stop at '?' or
 * '#'), and secret query parameters are masked whatever their length.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "co.h"

#define MASK "****"

const char *co_redact_value(const char *secret, char *buf, size_t len)
{
	if (!secret) {
		snprintf(buf, len, "(null)");
		return buf;
	}
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)secret; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	snprintf(buf, len, "[redacted:%08x]", h);
	return buf;
}

/* --- a bounded output buffer ------------------------------------------------- */

typedef struct out {
	char *buf;
	size_t len, o; /* capacity; bytes written (always < len) */
} out;

static void put(out *w, const char *s, size_t n)
{
	if (w->len == 0)
		return;
	size_t room = w->len - 1 - w->o;
	if (n > room)
		n = room;
	memcpy(w->buf + w->o, s, n);
	w->o += n;
	w->buf[w->o] = '\0';
}

static void puts_(out *w, const char *s)
{
	put(w, s, strlen(s));
}

static const char *say(char *buf, size_t len, const char *text)
{
	snprintf(buf, len, "%s", text);
	return buf;
}

/* --- URLs ------------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is the query key k[0..n) (percent-decoded, any case) one whose value is a
 * secret? libpq decodes keys, so "pass%77ord" is a password too. */
static bool secret_key(const char *k, size_t n)
{
	static const char *const secret[] = {"password", "sslpassword", "token", "access_token"};
	char key[32];
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)k[i];
		if (c == '%' && i + 2 < n && hexval(k[i + 1]) >= 0 && hexval(k[i + 2]) >= 0) {
			c = hexval(k[i + 1]) * 16 + hexval(k[i + 2]);
			i += 2;
		}
		if (o + 1 >= sizeof key)
			return false;
		key[o++] = (char)c;
	}
	key[o] = '\0';
	for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
		if (strcasecmp(key, secret[i]) == 0)
			return true;
	return false;
}

/* Copy a query string (without its '?'), masking secret values. Parameters
 * are separated by '&'; a value runs to the next '&'. */
static void put_query(out *w, const char *q)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		if (eq && secret_key(q, (size_t)(eq - q))) {
			put(w, q, (size_t)(eq - q) + 1);
			puts_(w, MASK);
		} else {
			put(w, q, n);
		}
		q += n;
		if (*q == '&') {
			put(w, "&", 1);
			q++;
		}
	}
}

const char *co_redact_url(const char *url, char *buf, size_t len)
{
	if (!url)
		return say(buf, len, "(default)");
	out w = {buf, len, 0};
	if (len)
		buf[0] = '\0';
	const char *scheme = strstr(url, "://");
	if (!scheme) {
		/* not a URL (a plain path): only a query could hold a secret */
		const char *q = strchr(url, '?');
		put(&w, url, q ? (size_t)(q - url) + 1 : strlen(url));
		if (q)
			put_query(&w, q + 1);
		return buf;
	}
	const char *auth = scheme + 3;
	size_t authority = strcspn(auth, "/"); /* libpq does not stop at '?' or '#' */
	const char *at = NULL;
	for (size_t i = 0; i < authority; i++)
		if (auth[i] == '@')
			at = auth + i; /* the last one: a password may hold an unencoded '@' */
	const char *rest = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon) {
			put(&w, url, (size_t)(colon - url) + 1);
			puts_(&w, MASK);
		} else {
			put(&w, url, (size_t)(at - url));
		}
		rest = at;
	} else {
		put(&w, url, (size_t)(auth - url));
	}
	/* rest: "@host..." or "host...": the host part, then the query */
	const char *q = strchr(rest, '?');
	put(&w, rest, q ? (size_t)(q - rest) + 1 : strlen(rest));
	if (q)
		put_query(&w, q + 1);
	return buf;
}

/* --- connection strings -------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *opt(const PQconninfoOption *o, const char *keyword)
{
	for (; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

/* " key=value", quoted the way libpq reads it back when need be; a value
 * that looks like a URL is itself redacted. */
static void put_option(out *w, const char *key, const char *v)
{
	if (w->o)
		put(w, " ", 1);
	puts_(w, key);
	put(w, "=", 1);
	char url[512];
	if (strstr(v, "://"))
		v = co_redact_url(v, url, sizeof url);
	if (*v && !strpbrk(v, " \t\n\r\f\v'\\")) {
		puts_(w, v);
		return;
	}
	put(w, "'", 1);
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			put(w, "\\", 1);
		put(w, v, 1);
	}
	put(w, "'", 1);
}

/* The parsed options that locate the server, and the password as "****". */
static const char *print_options(const PQconninfoOption *o, char *buf, size_t len)
{
	static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user"};
	out w = {buf, len, 0};
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
		const char *v = opt(o, shown[i]);
		if (v)
			put_option(&w, shown[i], v);
	}
	if (opt(o, "password")) {
		if (w.o)
			put(&w, " ", 1);
		puts_(&w, "password=" MASK);
	}
	if (w.o == 0)
		return say(buf, len, "(libpq defaults / PG* environment)");
	return buf;
}

/* Does libpq read a password other than the mask out of s? Unparseable
 * counts as yes: it must not be printed. */
static bool leaks_password(const char *s)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(s, &msg);
	if (!o) {
		PQfreemem(msg);
		return true;
	}
	const char *pw = opt(o, "password");
	bool leak = pw && strcmp(pw, MASK) != 0;
	PQconninfoFree(o);
	return leak;
}

const char *co_redact_conninfo(const char *conninfo, char *buf, size_t len)
{
	if (!conninfo || !*conninfo)
		return say(buf, len, "(libpq defaults / PG* environment)");
	if (starts_with(conninfo, "http://") || starts_with(conninfo, "https://"))
		return co_redact_url(conninfo, buf, len);
	bool is_url = starts_with(conninfo, "postgresql://") || starts_with(conninfo, "postgres://");
	if (!is_url && !strchr(conninfo, '=')) {
		/* libpq takes a string with no '=' as a database name */
		if (strspn(conninfo, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		    strlen(conninfo)) {
			snprintf(buf, len, "dbname=%s", conninfo);
			return buf;
		}
		return say(buf, len, "(unparseable connection string)");
	}
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(conninfo, &msg);
	if (!o) {
		PQfreemem(msg); /* libpq's message may quote the string, password and all */
		return say(buf, len, "(unparseable connection string)");
	}
	if (is_url) {
		co_redact_url(conninfo, buf, len);
		if (!leaks_password(buf)) {
			PQconninfoFree(o);
			return buf;
		}
	}
	print_options(o, buf, len);
	PQconninfoFree(o);
	return buf;
}
