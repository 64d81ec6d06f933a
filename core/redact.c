/* redact.c — the one place that decides how a secret prints.
 *
 * Password hashes, token hashes, database passwords and bearer tokens never
 * appear in clear in any log, report or error. Secrets print as a short
 * fingerprint (FNV-1a of the value) so two reports about the same key can be
 * matched without revealing it; connection strings and URLs print with their
 * password replaced by "****".
 */
#include <stdio.h>
#include <string.h>

#include "co.h"

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

const char *co_redact_url(const char *url, char *buf, size_t len)
{
	if (!url) {
		snprintf(buf, len, "(default)");
		return buf;
	}
	const char *scheme = strstr(url, "://");
	const char *auth_start = scheme ? scheme + 3 : NULL;
	const char *at = NULL;
	if (auth_start) {
		size_t host_end = strcspn(auth_start, "/?#");
		for (size_t i = 0; i < host_end; i++)
			if (auth_start[i] == '@')
				at = auth_start + i;
	}
	if (!at) {
		snprintf(buf, len, "%s", url);
	} else {
		const char *colon = memchr(auth_start, ':', (size_t)(at - auth_start));
		if (colon)
			snprintf(buf, len, "%.*s:****%s", (int)(colon - url), url, at);
		else
			snprintf(buf, len, "%s", url);
	}
	/* query-string passwords: ?password=... or &password=... */
	char *q = strstr(buf, "password=");
	while (q) {
		if (q == buf || q[-1] == '?' || q[-1] == '&') {
			char *v = q + strlen("password=");
			size_t n = strcspn(v, "&#");
			size_t rest = strlen(v + n);
			if (n >= 4) {
				memcpy(v, "****", 4);
				memmove(v + 4, v + n, rest + 1);
			}
		}
		q = strstr(q + 1, "password=");
	}
	return buf;
}

const char *co_redact_conninfo(const char *conninfo, char *buf, size_t len)
{
	if (!conninfo || !*conninfo) {
		snprintf(buf, len, "(libpq defaults / PG* environment)");
		return buf;
	}
	if (strstr(conninfo, "://"))
		return co_redact_url(conninfo, buf, len);
	/* key=value form: blank out the value of password= */
	size_t o = 0;
	const char *p = conninfo;
	while (*p && o + 1 < len) {
		const char *k = p;
		while (*k == ' ')
			k++;
		bool at_key = (p == conninfo || p[-1] == ' ' || k != p);
		if (at_key && strncmp(k, "password", 8) == 0) {
			const char *q = k + 8;
			while (*q == ' ')
				q++;
			if (*q == '=') {
				q++;
				while (*q == ' ')
					q++;
				const char *v = q;
				if (*v == '\'') {
					v++;
					while (*v && *v != '\'') {
						if (*v == '\\' && v[1])
							v++;
						v++;
					}
					if (*v)
						v++;
				} else {
					while (*v && *v != ' ')
						v++;
				}
				int w = snprintf(buf + o, len - o, "%.*spassword=****", (int)(k - p), p);
				o += w > 0 ? (size_t)w : 0;
				if (o >= len)
					o = len - 1;
				p = v;
				continue;
			}
		}
		buf[o++] = *p++;
	}
	buf[o < len ? o : len - 1] = '\0';
	return buf;
}
