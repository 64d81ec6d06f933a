/* cursor.c — page cursors shared by every domain that pages.
 *
 * A cursor is the sort key of the last item of a page, (timestamp, id), as
 * plain decimal text. Both backends build and read it here, so a cursor is
 * the same string whichever store produced it, and paging survives a flag
 * flip between two pages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "co.h"

const char *co_cursor_format(cutover_ts ts, int64_t id, char *buf)
{
	snprintf(buf, CUTOVER_CURSOR_LEN, "%" PRId64 ":%" PRId64, (int64_t)ts, id);
	return buf;
}

static bool parse_i64(const char *s, const char *end, int64_t *out)
{
	if (s == end)
		return false;
	char *stop;
	errno = 0;
	long long v = strtoll(s, &stop, 10);
	if (errno || stop != end || *s == ' ' || *s == '+')
		return false;
	*out = v;
	return true;
}

int co_cursor_parse(const char *text, cutover_ts *ts, int64_t *id, bool *first, cutover_error *err)
{
	*first = !text || !*text;
	*ts = CUTOVER_TS_NULL;
	*id = 0;
	if (*first)
		return CUTOVER_OK;
	const char *colon = strchr(text, ':');
	int64_t t = 0, i = 0;
	if (!colon || !parse_i64(text, colon, &t) || !parse_i64(colon + 1, colon + 1 + strlen(colon + 1), &i) ||
	    !co_ts_in_range(t) || i < 0) {
		co_err(err, CUTOVER_EINVALID, "\"%.60s\" is not a cursor handed out by cutover", text);
		co_err_hint(err, "pass the next_cursor of the previous page, or an empty cursor for the first page");
		return CUTOVER_EINVALID;
	}
	*ts = t;
	*id = i;
	return CUTOVER_OK;
}
