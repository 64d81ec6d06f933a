/* time.c — timestamps as microseconds since the epoch, and their ISO text.
 *
 * Both stores must agree to the microsecond (Postgres timestamptz keeps
 * microseconds), so one integer type travels through the library and one
 * pair of functions turns it into text and back. Parsing is strict: an
 * offset or Z is required (a naive time is ambiguous), fields are range
 * checked, and digits past the sixth of a fraction are truncated. Only
 * years 0001-9999 exist here (co_ts_in_range): four-digit years are what the
 * text form can carry, so format and parse round-trip over that whole range
 * and a time that would print outside it is refused.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "co.h"

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

bool co_ts_in_range(cutover_ts t)
{
	return t != CUTOVER_TS_NULL && t >= CO_TS_MIN && t <= CO_TS_MAX;
}

cutover_ts co_ts_advance(cutover_ts prev, cutover_ts now)
{
	if (now > prev) /* also every now after a missing stamp (CUTOVER_TS_NULL is INT64_MIN) */
		return now;
	return prev < CO_TS_MAX ? prev + 1 : prev;
}

CUTOVER_API cutover_ts cutover_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (cutover_ts)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

CUTOVER_API const char *cutover_ts_format(cutover_ts t, char *buf, size_t len)
{
	if (t == CUTOVER_TS_NULL) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	int64_t secs = t / 1000000, us = t % 1000000;
	if (us < 0) {
		us += 1000000;
		secs -= 1;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days -= 1;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int hh = (int)(sod / 3600), mm = (int)(sod / 60 % 60), ss = (int)(sod % 60);
	if (us == 0)
		snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm, ss);
	else if (us % 1000 == 0)
		snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, hh, mm, ss, (int)(us / 1000));
	else
		snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d.%06dZ", (long long)y, m, d, hh, mm, ss, (int)us);
	return buf;
}

static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

CUTOVER_API int cutover_ts_parse(const char *text, cutover_ts *out)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!text)
		return CUTOVER_EINVALID;
	const char *p = text;
	int y, mo, d, h = 0, mi = 0, s = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
		return CUTOVER_EINVALID;
	if (y < 1 || mo < 1 || mo > 12 || d < 1)
		return CUTOVER_EINVALID;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if ((unsigned)d > mdays[mo - 1] + (mo == 2 && leap))
		return CUTOVER_EINVALID;
	int64_t us = 0;
	int64_t offset = 0;
	if (*p == '\0') {
		/* a bare date: midnight UTC */
	} else {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return CUTOVER_EINVALID;
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return CUTOVER_EINVALID;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &s))
				return CUTOVER_EINVALID;
		}
		if (h > 23 || mi > 59 || s > 59)
			return CUTOVER_EINVALID;
		if (*p == '.' || *p == ',') {
			p++;
			int n = 0;
			int64_t scale = 100000;
			while (isdigit((unsigned char)*p)) {
				if (n < 6) {
					us += (*p - '0') * scale;
					scale /= 10;
				}
				n++;
				p++;
			}
			if (n == 0)
				return CUTOVER_EINVALID;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
			if (!digits(&p, 2, &oh))
				return CUTOVER_EINVALID;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
				return CUTOVER_EINVALID;
			if (oh > 23 || om > 59)
				return CUTOVER_EINVALID;
			offset = sign * ((int64_t)oh * 3600 + om * 60);
		} else {
			return CUTOVER_EINVALID; /* no zone: ambiguous */
		}
		if (*p != '\0')
			return CUTOVER_EINVALID;
	}
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - offset;
	cutover_ts t = secs * 1000000 + us;
	if (!co_ts_in_range(t))
		return CUTOVER_EINVALID; /* an offset moved it out of years 0001-9999 */
	*out = t;
	return CUTOVER_OK;
}
