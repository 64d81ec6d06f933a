/* gen_common.c — shared by the legacy-state generators (see gen.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "gen.h"

/* ---------------------------------------------------------------- PRNG */

uint64_t mix64(uint64_t z) /* splitmix64's finalizer: a bijection */
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t rnext(rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

uint64_t below(rng *r, uint64_t n)
{
	return n ? rnext(r) % n : 0;
}

double unit(rng *r)
{
	return (double)(rnext(r) >> 11) * 0x1.0p-53;
}

bool chance(rng *r, double p)
{
	return unit(r) < p;
}

int64_t between(rng *r, int64_t lo, int64_t hi) /* inclusive; lo <= hi */
{
	return lo + (int64_t)below(r, (uint64_t)(hi - lo) + 1);
}

/* ---------------------------------------------------------------- time */

/* Midnight UTC of a date, through the library's own parser. */
ms_t ms_of(int y, unsigned m, unsigned d)
{
	char text[16];
	cutover_ts t = 0;
	snprintf(text, sizeof(text), "%04d-%02u-%02u", y, m, d);
	cutover_ts_parse(text, &t);
	return t / 1000;
}

/* ISO-8601 UTC through the library's formatter, which is exactly how the
 * library normalises (the CSV form: no fraction when the milliseconds are
 * zero). legacy: always a 3-digit fraction, as JavaScript's toISOString()
 * wrote it. */
const char *fmt_ts(char *buf, ms_t t, bool legacy)
{
	cutover_ts_format((cutover_ts)t * 1000, buf, TS_LEN);
	size_t n = strlen(buf);
	if (legacy && n == 20) /* "YYYY-MM-DDTHH:MM:SSZ" */
		memcpy(buf + 19, ".000Z", 6);
	return buf;
}

/* ---------------------------------------------------------------- output */

void die(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", gen_program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
		die(2, "path too long: %s", dir);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST)
				die(3, "cannot create directory %s: %s", p, strerror(errno));
			*s = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		die(3, "%s is not a directory", p);
}

void out_open(outf *o, const char *dir, const char *name)
{
	if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path)
		die(2, "path too long: %s/%s", dir, name);
	int fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0)
		die(3, "cannot create %s: %s", o->path, strerror(errno));
	if (!(o->f = fdopen(fd, "w")) || !(o->buf = malloc(1 << 20)))
		die(3, "cannot open %s: %s", o->path, strerror(errno));
	setvbuf(o->f, o->buf, _IOFBF, 1 << 20);
}

void out_close(outf *o)
{
	if (!o->f)
		return;
	if (ferror(o->f) | fclose(o->f))
		die(3, "cannot write %s: %s", o->path, strerror(errno));
	o->f = NULL;
	free(o->buf);
}

/* A JSON string, escaped; bytes >= 0x80 pass through untouched. */
void json_str(FILE *f, const char *s)
{
	const char *run = s;
	fputc('"', f);
	for (;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		fwrite(run, 1, (size_t)(s - run), f);
		if (!c)
			break;
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default: fprintf(f, "\\u%04x", c); break;
		}
		run = s + 1;
	}
	fputc('"', f);
}

void json_str_or_null(FILE *f, const char *s)
{
	if (s)
		json_str(f, s);
	else
		fputs("null", f);
}

/* A PostgreSQL CSV field: NULL is an empty unquoted field, so an empty
 * string is quoted; so is anything with a delimiter, quote, newline,
 * backslash (a lone \. ends the data) or edge whitespace. */
void csv_field(FILE *f, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	if (n && !strpbrk(s, ",\"\r\n\\") && s[0] != ' ' && s[n - 1] != ' ') {
		fwrite(s, 1, n, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

uint64_t gen_parse_u64(const char *s, const char *opt)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		die(2, "%s needs a non-negative integer", opt);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		die(2, "%s needs a non-negative integer", opt);
	return v;
}
