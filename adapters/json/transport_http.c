/* transport_http.c — the JSON transport over an HTTP object store (libcurl).
 *
 * Two flavours, chosen from the base URL (CUTOVER_JSON_ROOT):
 *
 *  plain     a server that stores what is PUT at <base>/<key>: GET, PUT and
 *            DELETE of <base>/<key>; list() reads a folder listing in nginx's
 *            `autoindex_format json` shape (a JSON array of {name, type}) at
 *            <base>/<prefix>. Tested against nginx's dav module.
 *  supabase  chosen when the URL's path contains "/storage/v1/object/":
 *            <scheme>://<host>/storage/v1/object/<bucket>[/<folder>]. Objects
 *            are at .../object/<bucket>/[<folder>/]<key>; writes are POST
 *            (with x-upsert: true unless the put is "only if absent"); list
 *            is POST .../object/list/<bucket> with {"prefix": ...}. The token
 *            goes as both "Authorization: Bearer" and "apikey". This path is
 *            NOT tested against the real service (see docs/flags.md).
 *
 * Versions are the ETag (or Last-Modified when there is no strong ETag);
 * put sends If-Match / If-Unmodified-Since for a version, If-None-Match: *
 * for "only if absent", and maps 412 to CUTOVER_EBUSY. Whether that is a
 * compare-and-swap depends on the server: nginx's dav module ignores those
 * headers on PUT, so over nginx the last writer wins (docs/architecture.md).
 * There is no lock(): callers rely on if_version and retry. open_read is a
 * GET with If-None-Match (ETag) / If-Modified-Since (date): 304 means
 * unchanged; a 2xx body is written to a private temp file as it arrives
 * (a retry starts it again), never held in memory.
 *
 * Unsettled versions. Validators have a one-second grain: nginx's ETag is
 * "<mtime seconds>-<size>" and a date token is whole seconds, so a rewrite
 * of the same size within the clock second of the version read keeps its
 * token, and a conditional GET with that token answers 304 although the
 * document changed. A token is therefore trusted for a 304 only once its
 * version is settled: the answer that handed it out (a 2xx to open_read,
 * get, or put's read-back) had both Last-Modified and Date (curl_getdate),
 * and Date was at least SETTLE_SECONDS (2) whole seconds after
 * Last-Modified. Two, not one: a file's mtime comes from the kernel's
 * coarse clock, which lags the wall clock by a tick, so a write just after
 * a second boundary can still be stamped with the second before; with two
 * seconds between them, every write after that answer lands in a later
 * second and changes the token. Any other answer's token is unsettled, and
 * the handle remembers the last UNSETTLED_MAX (key, token) pairs of those
 * (one set for open_read's tokens, one for get's and put's, so that many
 * gets cannot push out what open_read's callers hold; when a set is full
 * the oldest pair of a key that has a newer one goes first). open_read
 * with an unsettled token for its key sends an unconditional GET instead;
 * its 2xx answer drops the pair and decides again for the token it hands
 * out. Nothing grows with the number of calls. Limits: a token pushed out
 * of a full set (more than UNSETTLED_MAX keys with fresh versions in play
 * on one handle), a token carried from another handle or process, and a
 * pair two callers of one handle hold at once (the first to read again
 * drops it) fall back to the conditional GET; servers that send no
 * Last-Modified or no Date never settle, so every open_read there is a
 * full GET; an mtime not set by the server's clock (nginx's dav PUT takes
 * a request's Date header as the mtime; curl sends none) or a server clock
 * stepped back defeats the rule. put's If-Match has the one-second grain
 * still.
 *
 * Every operation is bounded by CUTOVER_HTTP_TIMEOUT seconds in total,
 * retries included; each connection attempt by CUTOVER_HTTP_CONNECT_TIMEOUT.
 * Connection errors, timeouts and 5xx answers are retried up to
 * HTTP_RETRIES times with exponential backoff (100, 200, 400 ms); 4xx
 * answers never are. After an operation that got no answer at all (its
 * retries included), the transport's next operations fail at once, without
 * a request, for HTTP_QUIET_MS: with the store down, a stage where it is
 * the second store (live, rampdown) would otherwise make every call wait
 * out the retries, up to CUTOVER_HTTP_TIMEOUT each, for a write that is
 * journaled anyway. Any answer, even an error status, ends the quiet
 * period; 5xx answers do not start one (the server is there). Redirects are not followed (they could carry the token
 * elsewhere). TLS peers are always verified; CUTOVER_HTTP_CA_FILE names an
 * extra CA bundle. Messages name URLs through co_redact_url and never carry
 * the token or any header.
 */
#include "json_store.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define HTTP_RETRIES 3           /* after the first attempt */
#define HTTP_BACKOFF_MS 100      /* doubled after each retry */
#define HTTP_DEFAULT_CONNECT 5   /* seconds */
#define HTTP_DEFAULT_TIMEOUT 30  /* seconds, a whole operation */
#define HTTP_LIST_PAGE 1000      /* supabase list page size */
#define HTTP_QUIET_MS 2000       /* no new request this long after one got no answer */
#define UNVERSIONED "unversioned" /* the server sent neither ETag nor Last-Modified */
#define SETTLE_SECONDS 2         /* Date - Last-Modified for a settled version (header comment) */
#define UNSETTLED_MAX 8          /* (key, token) pairs remembered per set */

/* The (key, token) pairs of versions handed out unsettled (header comment).
 * key is a hash of the document key: two keys sharing one can only cost an
 * unconditional GET, never a 304 for the wrong document. */
typedef struct unsettled {
	bool used;
	uint64_t key;
	uint64_t stamp; /* when it was noted: higher is newer */
	char token[CO_VERSION_LEN];
} unsettled;

typedef struct unsettled_set {
	unsettled e[UNSETTLED_MAX];
	uint64_t clock; /* the last stamp given */
} unsettled_set;

typedef struct http_transport {
	co_transport base;
	char *root;       /* the base URL, no trailing slash */
	char *shown;      /* base, credentials redacted */
	char *auth;       /* "Authorization: Bearer ..." or NULL */
	char *apikey;     /* "apikey: ..." (supabase) or NULL */
	char *ca_file;
	bool supabase;
	char *list_url;   /* supabase: .../object/list/<bucket> */
	char *folder;     /* supabase: folder inside the bucket, "" or "a/b/" */
	long connect_ms, total_ms;
	pthread_mutex_t mu; /* guards curl (one easy handle, reused connections) and the two below */
	CURL *curl;
	long quiet_until;   /* now_ms() before which no request is made; 0: none */
	char quiet_why[1024]; /* what the request that started it got */
	/* guarded by mu as well: unsettled tokens that open_read handed out,
	 * and those that get and put did */
	unsettled_set unsettled_read, unsettled_other;
} http_transport;

/* --- libcurl set-up -------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- small helpers --------------------------------------------------------- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int check_key(const char *key, bool folder, cutover_error *err)
{
	if (!key || !*key)
		return co_err(err, CUTOVER_EINVALID, "empty document key");
	if (key[0] == '/')
		return co_err(err, CUTOVER_EINVALID, "document key \"%s\" must be relative to the state root", key);
	size_t n = strlen(key);
	if (!folder && key[n - 1] == '/')
		return co_err(err, CUTOVER_EINVALID, "document key \"%s\" names a folder", key);
	for (const char *p = key; *p;) {
		size_t seg = strcspn(p, "/");
		if ((seg == 0 && p[seg] == '/') || (seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.'))
			return co_err(err, CUTOVER_EINVALID, "document key \"%s\" has an empty, \".\" or \"..\" component", key);
		p += seg;
		if (*p == '/')
			p++;
	}
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return co_err(err, CUTOVER_EINVALID, "document key has a control character");
	return CUTOVER_OK;
}

/* Percent-encode a key for a URL path: '/' and RFC 3986 unreserved stay. */
static void put_path(co_buf *b, const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/') {
			co_buf_put(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			co_buf_put(b, e, 3);
		}
	}
}

/* The object URL of key (malloc'd), or NULL on OOM. */
static char *object_url(const http_transport *ht, const char *key)
{
	co_buf b = {0};
	co_buf_puts(&b, ht->root);
	co_buf_puts(&b, "/");
	if (ht->supabase)
		put_path(&b, ht->folder);
	put_path(&b, key);
	if (b.failed) {
		co_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* --- one request, with retries ---------------------------------------------- */

typedef struct http_resp {
	long status;
	co_buf body;
	char etag[CO_VERSION_LEN];
	char lastmod[CO_VERSION_LEN];
	char date[CO_VERSION_LEN]; /* the Date header: when the server answered */
	long hstatus; /* the status line of the answer whose headers came last */
	/* open_read: a 2xx body is written, as it arrives, to a private temp
	 * file (co_spool_fd, made at its first byte) instead of into body.
	 * Other answers are buffered as always (is_not_found reads them). */
	bool spool;               /* in: spool 2xx bodies (spool_fd starts at -1) */
	const char *spool_what;   /* in: names the document in messages */
	cutover_error *spool_err; /* in: where a spooling failure is reported */
	int spool_fd;             /* out: the file, or -1; the caller closes it */
	off_t spooled;            /* bytes of this attempt's body written to it */
	bool spool_failed;        /* a spooling failure ended the transfer (spool_err set) */
} http_resp;

/* pwrite(2) all of it at the end of this attempt's bytes */
static bool spool_write(http_resp *r, const char *p, size_t n)
{
	if (r->spool_fd < 0 && (r->spool_fd = co_spool_fd(r->spool_what, r->spool_err)) < 0) {
		r->spool_failed = true;
		return false;
	}
	while (n > 0) {
		ssize_t w = pwrite(r->spool_fd, p, n, r->spooled);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			co_err(r->spool_err, CUTOVER_EUNAVAILABLE, "cannot spool %s to a temporary file", r->spool_what);
			co_err_detail(r->spool_err, "%s", strerror(e));
			co_err_hint(r->spool_err, "set TMPDIR to a writable directory with room for the document");
			r->spool_failed = true;
			return false;
		}
		p += w;
		n -= (size_t)w;
		r->spooled += w;
	}
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	http_resp *r = ud;
	if (r->spool && r->hstatus / 100 == 2)
		return spool_write(r, p, size * n) ? size * n : 0;
	co_buf_put(&r->body, p, size * n);
	return r->body.failed ? 0 : size * n;
}

/* Copy a header's value (trimmed) when the line is "<name>: value". */
static void header_value(const char *line, size_t len, const char *name, char out[CO_VERSION_LEN])
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
	if (vl == 0 || vl >= CO_VERSION_LEN)
		return; /* too long to be a token we can hand back: treat as absent */
	memcpy(out, v, vl);
	out[vl] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	http_resp *r = ud;
	size_t len = size * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (e.g. after 100 Continue): forget the last one's */
		r->etag[0] = r->lastmod[0] = r->date[0] = '\0';
		/* "HTTP/1.1 200 OK", "HTTP/2 304" */
		size_t i = 5;
		r->hstatus = 0;
		while (i < len && p[i] != ' ')
			i++;
		while (i < len && p[i] == ' ')
			i++;
		for (int d = 0; d < 3 && i < len && isdigit((unsigned char)p[i]); d++, i++)
			r->hstatus = r->hstatus * 10 + (p[i] - '0');
	}
	header_value(p, len, "ETag", r->etag);
	header_value(p, len, "Last-Modified", r->lastmod);
	header_value(p, len, "Date", r->date);
	return len;
}

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/* Send one request; retry connection errors and 5xx within the deadline.
 * On CUTOVER_OK, r->status is the final HTTP status (anything the server
 * answered, 4xx and 5xx included, with 5xx only after the retries). url is
 * shown only through redaction. */
static int http_do(http_transport *ht, const char *method, const char *url, const char *body, size_t len,
                   const char *const *headers, http_resp *r, cutover_error *err)
{
	char shown[512], ebuf[CURL_ERROR_SIZE];
	co_redact_url(url, shown, sizeof shown);
	struct curl_slist *hl = NULL, *t;
	bool oom = false;
#define ADD(h) (oom = oom || !(t = curl_slist_append(hl, (h))) || ((hl = t), false))
	if (ht->auth)
		ADD(ht->auth);
	if (ht->apikey)
		ADD(ht->apikey);
	ADD("Expect:"); /* no 100-continue round trip before a body */
	for (size_t i = 0; headers && headers[i]; i++)
		ADD(headers[i]);
#undef ADD
	if (oom) {
		curl_slist_free_all(hl);
		return co_err_oom(err);
	}

	long start = now_ms(), deadline = start + ht->total_ms, backoff = HTTP_BACKOFF_MS;
	int rc = CUTOVER_OK;
	pthread_mutex_lock(&ht->mu);
	if (ht->quiet_until && start < ht->quiet_until) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "the JSON object store at %s cannot be reached: %s %s not tried",
		            ht->shown, method, shown);
		co_err_detail(err, "a request %ld ms ago got no answer (%s); none is made for %d s after that",
		              start - (ht->quiet_until - HTTP_QUIET_MS), ht->quiet_why, HTTP_QUIET_MS / 1000);
		co_err_hint(err, "check that the server is up and CUTOVER_JSON_ROOT is right; calls try again "
		                 "%d s after the last one that got no answer", HTTP_QUIET_MS / 1000);
		pthread_mutex_unlock(&ht->mu);
		curl_slist_free_all(hl);
		return rc;
	}
	for (int attempt = 0;; attempt++) {
		co_buf_free(&r->body);
		r->status = r->hstatus = 0;
		r->etag[0] = r->lastmod[0] = r->date[0] = '\0';
		if (r->spool) {
			/* a retry starts the body again: drop what an earlier attempt spooled */
			r->spooled = 0;
			if (r->spool_fd >= 0 && ftruncate(r->spool_fd, 0) != 0) {
				int e = errno;
				rc = co_err(err, CUTOVER_EUNAVAILABLE, "cannot spool %s to a temporary file", r->spool_what);
				co_err_detail(err, "truncating it for another attempt: %s", strerror(e));
				break;
			}
		}
		long left = deadline - now_ms();
		if (left < 1)
			left = 1;
		CURL *c = ht->curl;
		curl_easy_reset(c);
		ebuf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, left < ht->connect_ms ? left : ht->connect_ms);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		if (ht->ca_file)
			curl_easy_setopt(c, CURLOPT_CAINFO, ht->ca_file);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		if (strcmp(method, "HEAD") == 0) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		} else if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		}

		CURLcode cc = curl_easy_perform(c);
		bool again;
		if (cc == CURLE_OK) {
			ht->quiet_until = 0; /* it answered */
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
			again = r->status >= 500;
		} else if (r->spool_failed) {
			rc = CUTOVER_EUNAVAILABLE; /* spool_write said why, in spool_err (err) */
			break;
		} else if (r->body.failed) {
			rc = co_err_oom(err);
			break;
		} else {
			again = curl_retryable(cc);
		}
		if (again && attempt < HTTP_RETRIES && now_ms() + backoff < deadline) {
			co_log("%s %s: %s; retrying in %ld ms", method, shown,
			       cc == CURLE_OK ? "the server answered 5xx" : curl_easy_strerror(cc), backoff);
			sleep_ms(backoff);
			backoff *= 2;
			continue;
		}
		if (cc == CURLE_OK) {
			if (r->status >= 500) {
				rc = co_err(err, CUTOVER_EUNAVAILABLE, "the JSON object store at %s is unavailable: %s %s answered %ld",
				            ht->shown, method, shown, r->status);
				co_err_detail(err, "%d attempt(s) in %ld ms, all answered 5xx (CUTOVER_HTTP_TIMEOUT is %ld s)",
				              attempt + 1, now_ms() - start, ht->total_ms / 1000);
				co_err_hint(err, "check the object store's health and logs; retry when it answers again");
			}
			break;
		}
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CERTPROBLEM) {
			rc = co_err(err, CUTOVER_ECONFIG, "the TLS certificate of %s could not be verified", ht->shown);
			co_err_detail(err, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
			co_err_hint(err, "set CUTOVER_HTTP_CA_FILE to the CA bundle that signed the server's certificate");
		} else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
			rc = co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_ROOT %s is not a usable URL", ht->shown);
			co_err_detail(err, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
		} else {
			rc = co_err(err, CUTOVER_EUNAVAILABLE, "the JSON object store at %s cannot be reached: %s %s failed",
			            ht->shown, method, shown);
			co_err_detail(err, "%s (%d attempt(s) in %ld ms; CUTOVER_HTTP_TIMEOUT is %ld s)",
			              ebuf[0] ? ebuf : curl_easy_strerror(cc), attempt + 1, now_ms() - start, ht->total_ms / 1000);
			co_err_hint(err, "check that the server is up and CUTOVER_JSON_ROOT is right; "
			                 "CUTOVER_HTTP_CONNECT_TIMEOUT and CUTOVER_HTTP_TIMEOUT bound the wait");
			ht->quiet_until = now_ms() + HTTP_QUIET_MS;
			snprintf(ht->quiet_why, sizeof ht->quiet_why, "%.8s %.500s: %.255s", method, shown,
			         ebuf[0] ? ebuf : curl_easy_strerror(cc));
		}
		break;
	}
	curl_easy_setopt(ht->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(ht->curl, CURLOPT_ERRORBUFFER, NULL);
	pthread_mutex_unlock(&ht->mu);
	curl_slist_free_all(hl);
	return rc;
}

/* An answer that is not a success: 401/403 are configuration, the rest
 * are named with the status. */
static int status_error(http_transport *ht, const char *method, const char *url, long status, cutover_error *err)
{
	char shown[512];
	co_redact_url(url, shown, sizeof shown);
	if (status == 401 || status == 403) {
		co_err(err, CUTOVER_ECONFIG, "the JSON object store at %s refused %s %s (%ld)", ht->shown, method, shown,
		       status);
		co_err_hint(err, "check CUTOVER_JSON_TOKEN: it must be a token the store accepts for this bucket or path");
		return CUTOVER_ECONFIG;
	}
	if (status == 405 || status == 501 || (!ht->supabase && status == 409 && strcmp(method, "PUT") == 0)) {
		co_err(err, CUTOVER_ECONFIG, "the server at %s does not accept %s %s (%ld)", ht->shown, method, shown, status);
		co_err_hint(err, "the base URL must be a location that stores what is PUT (for nginx: dav_methods PUT "
		                 "DELETE; create_full_put_path on)");
		return CUTOVER_ECONFIG;
	}
	if (status == 413) {
		co_err(err, CUTOVER_ECONFIG, "the server at %s refused %s %s as too large (413)", ht->shown, method, shown);
		co_err_hint(err, "raise the server's body size limit (nginx: client_max_body_size)");
		return CUTOVER_ECONFIG;
	}
	co_err(err, CUTOVER_EUNAVAILABLE, "the JSON object store at %s answered %s %s with %ld", ht->shown, method, shown,
	       status);
	if (status == 429)
		co_err_hint(err, "the store is rate limiting; retry later");
	return CUTOVER_EUNAVAILABLE;
}

/* Supabase answers a missing object with 400 and {"statusCode":"404"} in
 * older versions of its storage API, 404 in newer ones. */
static bool is_not_found(const http_transport *ht, const http_resp *r)
{
	if (r->status == 404)
		return true;
	return ht->supabase && r->status == 400 && r->body.data &&
	       (strstr(r->body.data, "\"404\"") || strstr(r->body.data, "not_found"));
}

/* The version token of an answer: the strong ETag, else Last-Modified. */
static void version_of(const http_resp *r, char out[CO_VERSION_LEN])
{
	if (r->etag[0] == '"')
		snprintf(out, CO_VERSION_LEN, "%s", r->etag);
	else if (r->lastmod[0])
		snprintf(out, CO_VERSION_LEN, "%s", r->lastmod);
	else
		snprintf(out, CO_VERSION_LEN, "%s", UNVERSIONED);
}

/* --- unsettled versions (see the header comment) ------------------------------ */

/* Whether the version a 2xx answer describes is settled: it has both
 * Last-Modified and Date, and Date is SETTLE_SECONDS or more after it. */
static bool answer_settled(const http_resp *r)
{
	if (!r->lastmod[0] || !r->date[0])
		return false;
	time_t m = curl_getdate(r->lastmod, NULL), d = curl_getdate(r->date, NULL);
	return m != -1 && d != -1 && d - m >= SETTLE_SECONDS;
}

static uint64_t key_hash(const char *key)
{
	return co_hash64(key, strlen(key));
}

static unsettled *unsettled_find(unsettled_set *s, uint64_t key, const char *token)
{
	for (size_t i = 0; i < UNSETTLED_MAX; i++)
		if (s->e[i].used && s->e[i].key == key && strcmp(s->e[i].token, token) == 0)
			return &s->e[i];
	return NULL;
}

/* Remember (key, token) in s, as its newest pair. A full set lets go of
 * the oldest pair whose key has a newer one (counting this one), else of
 * the oldest: each key's newest pair stays while no more than
 * UNSETTLED_MAX keys have one. */
static void unsettled_note(unsettled_set *s, uint64_t key, const char *token)
{
	unsettled *slot = unsettled_find(s, key, token);
	for (size_t i = 0; i < UNSETTLED_MAX && !slot; i++)
		if (!s->e[i].used)
			slot = &s->e[i];
	if (!slot) {
		unsettled *oldest = NULL, *superseded = NULL;
		for (size_t i = 0; i < UNSETTLED_MAX; i++) {
			unsettled *e = &s->e[i];
			if (!oldest || e->stamp < oldest->stamp)
				oldest = e;
			bool newer = e->key == key;
			for (size_t j = 0; j < UNSETTLED_MAX && !newer; j++)
				newer = s->e[j].key == e->key && s->e[j].stamp > e->stamp;
			if (newer && (!superseded || e->stamp < superseded->stamp))
				superseded = e;
		}
		slot = superseded ? superseded : oldest;
	}
	slot->used = true;
	slot->key = key;
	slot->stamp = ++s->clock;
	snprintf(slot->token, sizeof slot->token, "%s", token);
}

/* A 2xx answer handed out token for key: remember it in s when unsettled. */
static void note_answer(http_transport *ht, unsettled_set *s, const char *key, const http_resp *r,
                        const char *token)
{
	if (!token[0] || strcmp(token, UNVERSIONED) == 0 || answer_settled(r))
		return; /* no token, or one open_read never sends as a condition, or settled */
	uint64_t kh = key_hash(key);
	pthread_mutex_lock(&ht->mu);
	unsettled_note(s, kh, token);
	pthread_mutex_unlock(&ht->mu);
}

/* --- operations ------------------------------------------------------------ */

static int http_get(co_transport *t, const char *key, char **data, size_t *len, char version[CO_VERSION_LEN],
                    cutover_error *err)
{
	http_transport *ht = (http_transport *)t;
	*data = NULL;
	*len = 0;
	if (version)
		version[0] = '\0';
	int rc = check_key(key, false, err);
	if (rc)
		return rc;
	char *url = object_url(ht, key);
	if (!url)
		return co_err_oom(err);
	http_resp r = {0};
	rc = http_do(ht, "GET", url, NULL, 0, NULL, &r, err);
	if (rc == CUTOVER_OK) {
		if (is_not_found(ht, &r)) {
			rc = co_err(err, CUTOVER_ENOTFOUND, "no document %s at %s", key, ht->shown);
		} else if (r.status / 100 != 2) {
			rc = status_error(ht, "GET", url, r.status, err);
		} else {
			if (!r.body.data)
				co_buf_put(&r.body, "", 0);
			if (r.body.failed || !r.body.data) {
				rc = co_err_oom(err);
			} else {
				*data = r.body.data;
				*len = r.body.len;
				r.body.data = NULL;
				if (version) {
					version_of(&r, version);
					note_answer(ht, &ht->unsettled_other, key, &r, version);
				}
			}
		}
	}
	co_buf_free(&r.body);
	free(url);
	return rc;
}

/* A conditional GET: If-None-Match on an ETag token, If-Modified-Since on a
 * date, nothing on none, UNVERSIONED or a token this handle handed out
 * unsettled for key (header comment). 304 leaves *fd at -1; a 2xx body
 * goes to a private temp file as it arrives (on_body), which is *fd. */
static int http_open_read(co_transport *t, const char *key, const char *have, int *fd, char version[CO_VERSION_LEN],
                          cutover_error *err)
{
	http_transport *ht = (http_transport *)t;
	char had[CO_VERSION_LEN] = ""; /* have may be version itself */
	*fd = -1;
	if (have && strlen(have) >= sizeof had) {
		version[0] = '\0';
		return co_err(err, CUTOVER_EINVALID, "version token is too long");
	}
	if (have)
		memcpy(had, have, strlen(have) + 1);
	version[0] = '\0';
	int rc = check_key(key, false, err);
	if (rc)
		return rc;
	char cond[CO_VERSION_LEN + 32] = "";
	uint64_t kh = key_hash(key);
	unsettled_set *held = NULL; /* the set that has (key, had) as unsettled */
	if (had[0] && strcmp(had, UNVERSIONED) != 0) {
		if (strchr(had, '\r') || strchr(had, '\n'))
			return co_err(err, CUTOVER_EINVALID, "version token has a line break");
		pthread_mutex_lock(&ht->mu);
		if (unsettled_find(&ht->unsettled_read, kh, had))
			held = &ht->unsettled_read;
		else if (unsettled_find(&ht->unsettled_other, kh, had))
			held = &ht->unsettled_other;
		pthread_mutex_unlock(&ht->mu);
		/* an unsettled token may name bytes that changed since without it
		 * changing: only an unconditional GET can tell */
		if (!held)
			snprintf(cond, sizeof cond, "%s: %s", had[0] == '"' ? "If-None-Match" : "If-Modified-Since", had);
	}
	const char *hdrs[] = {cond[0] ? cond : NULL, NULL};
	char *url = object_url(ht, key);
	if (!url)
		return co_err_oom(err);
	http_resp r = {.spool = true, .spool_what = key, .spool_err = err, .spool_fd = -1};
	rc = http_do(ht, "GET", url, NULL, 0, hdrs, &r, err);
	if (rc == CUTOVER_OK) {
		if (r.status == 304 && cond[0]) {
			memcpy(version, had, sizeof had); /* still the version the caller has */
		} else if (is_not_found(ht, &r)) {
			rc = co_err(err, CUTOVER_ENOTFOUND, "no document %s at %s", key, ht->shown);
		} else if (r.status / 100 != 2) {
			rc = status_error(ht, "GET", url, r.status, err);
		} else {
			/* an empty body made no file yet; a body on_body did not see
			 * as 2xx (it always does) was buffered: spool it now */
			if (r.spool_fd < 0 && (r.spool_fd = co_spool_fd(key, err)) < 0)
				rc = CUTOVER_EUNAVAILABLE;
			else if (r.body.failed)
				rc = co_err_oom(err);
			else if (r.body.len && !spool_write(&r, r.body.data, r.body.len))
				rc = CUTOVER_EUNAVAILABLE;
			if (rc == CUTOVER_OK) {
				lseek(r.spool_fd, 0, SEEK_SET);
				version_of(&r, version);
				*fd = r.spool_fd;
				r.spool_fd = -1;
				/* the caller now has these bytes, not had's: this
				 * answer decides again */
				if (held) {
					pthread_mutex_lock(&ht->mu);
					unsettled *e = unsettled_find(held, kh, had);
					if (e)
						e->used = false;
					pthread_mutex_unlock(&ht->mu);
				}
				note_answer(ht, &ht->unsettled_read, key, &r, version);
			}
		}
	}
	if (r.spool_fd >= 0)
		close(r.spool_fd);
	co_buf_free(&r.body);
	free(url);
	return rc;
}

static int http_put(co_transport *t, const char *key, const char *data, size_t len, const char *if_version,
                    char new_version[CO_VERSION_LEN], cutover_error *err)
{
	http_transport *ht = (http_transport *)t;
	if (new_version)
		new_version[0] = '\0';
	int rc = check_key(key, false, err);
	if (rc)
		return rc;
	char cond[CO_VERSION_LEN + 32] = "";
	const char *method = "PUT";
	const char *hdrs[4] = {"Content-Type: application/json", NULL, NULL, NULL};
	size_t nh = 1;
	if (if_version && !*if_version) {
		snprintf(cond, sizeof cond, "If-None-Match: *");
	} else if (if_version && strcmp(if_version, UNVERSIONED) != 0) {
		if (strchr(if_version, '\r') || strchr(if_version, '\n'))
			return co_err(err, CUTOVER_EINVALID, "version token has a line break");
		if (if_version[0] == '"')
			snprintf(cond, sizeof cond, "If-Match: %s", if_version);
		else
			snprintf(cond, sizeof cond, "If-Unmodified-Since: %s", if_version);
	}
	if (cond[0])
		hdrs[nh++] = cond;
	if (ht->supabase) {
		/* POST creates; with x-upsert it also replaces. "Only if absent"
		 * is a POST without it: the store refuses a duplicate. */
		method = "POST";
		if (!(if_version && !*if_version))
			hdrs[nh++] = "x-upsert: true";
	}
	char *url = object_url(ht, key);
	if (!url)
		return co_err_oom(err);
	http_resp r = {0};
	rc = http_do(ht, method, url, data ? data : "", len, hdrs, &r, err);
	if (rc == CUTOVER_OK) {
		if (r.status == 412 || (ht->supabase && if_version && !*if_version &&
		                        (r.status == 409 || (r.status == 400 && r.body.data &&
		                                             strstr(r.body.data, "Duplicate"))))) {
			rc = co_err(err, CUTOVER_EBUSY, "%s at %s was changed by another writer", key, ht->shown);
			co_err_detail(err, "%s", if_version && *if_version ? "the document is not the version that was read"
			                                                   : "the document did not exist when it was read");
		} else if (r.status / 100 != 2) {
			rc = status_error(ht, method, url, r.status, err);
		} else if (new_version) {
			if (r.etag[0] == '"' || r.lastmod[0]) {
				version_of(&r, new_version);
				note_answer(ht, &ht->unsettled_other, key, &r, new_version);
			} else {
				/* nginx's dav PUT answers without an ETag: ask. Best
				 * effort: another writer may have come in between. */
				http_resp h = {0};
				cutover_error herr;
				cutover_error_clear(&herr);
				if (http_do(ht, "HEAD", url, NULL, 0, NULL, &h, &herr) == CUTOVER_OK && h.status / 100 == 2) {
					version_of(&h, new_version);
					note_answer(ht, &ht->unsettled_other, key, &h, new_version);
				}
				co_buf_free(&h.body);
			}
		}
	}
	co_buf_free(&r.body);
	free(url);
	return rc;
}

static int http_del(co_transport *t, const char *key, cutover_error *err)
{
	http_transport *ht = (http_transport *)t;
	int rc = check_key(key, false, err);
	if (rc)
		return rc;
	char *url = object_url(ht, key);
	if (!url)
		return co_err_oom(err);
	http_resp r = {0};
	rc = http_do(ht, "DELETE", url, NULL, 0, NULL, &r, err);
	if (rc == CUTOVER_OK) {
		if (is_not_found(ht, &r))
			rc = co_err(err, CUTOVER_ENOTFOUND, "no document %s at %s", key, ht->shown);
		else if (r.status / 100 != 2)
			rc = status_error(ht, "DELETE", url, r.status, err);
	}
	co_buf_free(&r.body);
	free(url);
	return rc;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct key_list {
	char **keys;
	size_t n, cap;
} key_list;

static int key_add(key_list *l, const char *prefix, const char *name)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		char **g = realloc(l->keys, nc * sizeof *g);
		if (!g)
			return CUTOVER_EINTERNAL;
		l->keys = g;
		l->cap = nc;
	}
	co_buf k = {0};
	co_buf_printf(&k, "%s%s", prefix, name);
	if (k.failed || !k.data) {
		co_buf_free(&k);
		return CUTOVER_EINTERNAL;
	}
	l->keys[l->n++] = k.data;
	return CUTOVER_OK;
}

/* One listing page: a JSON array of entries; adds the files among them.
 * plain (nginx autoindex): {"name", "type": "file"|"directory"|...}.
 * supabase: {"name", "id"}, where folders have a null id. *count gets the
 * number of entries (for paging). */
static int parse_listing(http_transport *ht, const char *body, const char *prefix, key_list *l, size_t *count,
                         const char *url, cutover_error *err)
{
	char shown[512];
	cJSON *arr = cJSON_Parse(body ? body : "");
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		co_err(err, CUTOVER_EUNAVAILABLE, "the folder listing at %s is not a JSON array",
		       co_redact_url(url, shown, sizeof shown));
		co_err_hint(err, ht->supabase ? "check that the base URL names a Supabase Storage bucket"
		                              : "serve folder listings as JSON (nginx: autoindex on; autoindex_format json)");
		return CUTOVER_EUNAVAILABLE;
	}
	*count = (size_t)cJSON_GetArraySize(arr);
	int rc = CUTOVER_OK;
	cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (!cJSON_IsString(name) || !name->valuestring[0] || name->valuestring[0] == '.' ||
		    strchr(name->valuestring, '/'))
			continue;
		bool file;
		if (ht->supabase) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
			file = id && !cJSON_IsNull(id);
		} else {
			const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
			file = cJSON_IsString(type) && strcmp(type->valuestring, "file") == 0;
		}
		if (file && (rc = key_add(l, prefix, name->valuestring)) != CUTOVER_OK) {
			rc = co_err_oom(err);
			break;
		}
	}
	cJSON_Delete(arr);
	return rc;
}

static int http_list(co_transport *t, const char *prefix, char ***keys, size_t *n, cutover_error *err)
{
	http_transport *ht = (http_transport *)t;
	*keys = NULL;
	*n = 0;
	size_t plen = prefix ? strlen(prefix) : 0;
	if (!plen || prefix[plen - 1] != '/')
		return co_err(err, CUTOVER_EINVALID, "list: prefix \"%s\" must end in '/'", prefix ? prefix : "");
	int rc = check_key(prefix, true, err);
	if (rc)
		return rc;
	key_list l = {0};
	if (!ht->supabase) {
		char *url = object_url(ht, prefix);
		if (!url)
			return co_err_oom(err);
		http_resp r = {0};
		rc = http_do(ht, "GET", url, NULL, 0, NULL, &r, err);
		if (rc == CUTOVER_OK) {
			size_t count;
			if (r.status == 404)
				; /* an absent folder has no documents */
			else if (r.status / 100 != 2)
				rc = status_error(ht, "GET", url, r.status, err);
			else if (r.body.failed)
				rc = co_err_oom(err);
			else
				rc = parse_listing(ht, r.body.data, prefix, &l, &count, url, err);
		}
		co_buf_free(&r.body);
		free(url);
	} else {
		const char *hdrs[] = {"Content-Type: application/json", NULL};
		for (size_t offset = 0; rc == CUTOVER_OK;) {
			cJSON *q = cJSON_CreateObject();
			co_buf p = {0};
			co_buf_printf(&p, "%s%.*s", ht->folder, (int)(plen - 1), prefix);
			cJSON *sort = cJSON_CreateObject();
			if (!q || !sort || p.failed || !cJSON_AddStringToObject(q, "prefix", p.data ? p.data : "") ||
			    !cJSON_AddNumberToObject(q, "limit", HTTP_LIST_PAGE) ||
			    !cJSON_AddNumberToObject(q, "offset", (double)offset) ||
			    !cJSON_AddStringToObject(sort, "column", "name") || !cJSON_AddStringToObject(sort, "order", "asc") ||
			    !cJSON_AddItemToObject(q, "sortBy", sort)) {
				if (!cJSON_GetObjectItem(q, "sortBy"))
					cJSON_Delete(sort);
				cJSON_Delete(q);
				co_buf_free(&p);
				rc = co_err_oom(err);
				break;
			}
			co_buf_free(&p);
			char *body = cJSON_PrintUnformatted(q);
			cJSON_Delete(q);
			if (!body) {
				rc = co_err_oom(err);
				break;
			}
			http_resp r = {0};
			rc = http_do(ht, "POST", ht->list_url, body, strlen(body), hdrs, &r, err);
			free(body);
			size_t count = 0;
			if (rc == CUTOVER_OK) {
				if (r.status / 100 != 2)
					rc = status_error(ht, "POST", ht->list_url, r.status, err);
				else if (r.body.failed)
					rc = co_err_oom(err);
				else
					rc = parse_listing(ht, r.body.data, prefix, &l, &count, ht->list_url, err);
			}
			co_buf_free(&r.body);
			if (rc != CUTOVER_OK || count < HTTP_LIST_PAGE)
				break;
			offset += count;
		}
	}
	if (rc != CUTOVER_OK) {
		co_keys_free(l.keys, l.n);
		return rc;
	}
	if (l.n)
		qsort(l.keys, l.n, sizeof *l.keys, key_cmp);
	*keys = l.keys;
	*n = l.n;
	return CUTOVER_OK;
}

static const char *http_describe(co_transport *t)
{
	return ((http_transport *)t)->shown;
}

static void http_free(co_transport *t)
{
	http_transport *ht = (http_transport *)t;
	if (!ht)
		return;
	if (ht->curl)
		curl_easy_cleanup(ht->curl);
	pthread_mutex_destroy(&ht->mu);
	if (ht->auth) /* holds the token: clear it before letting go */
		memset(ht->auth, 0, strlen(ht->auth));
	if (ht->apikey)
		memset(ht->apikey, 0, strlen(ht->apikey));
	free(ht->auth);
	free(ht->apikey);
	free(ht->root);
	free(ht->shown);
	free(ht->ca_file);
	free(ht->list_url);
	free(ht->folder);
	free(ht);
}

/* --- open ------------------------------------------------------------------ */

/* A whole number of seconds from the environment, within [1, 3600]. */
static int env_seconds(const char *name, long dflt, long *out_ms, cutover_error *err)
{
	const char *v = getenv(name);
	long s = dflt;
	if (v && *v) {
		char *end;
		errno = 0;
		s = strtol(v, &end, 10);
		if (errno || *end || s < 1 || s > 3600) {
			co_err(err, CUTOVER_ECONFIG, "%s=\"%.40s\" is not a number of seconds", name, v);
			co_err_hint(err, "set %s to a whole number from 1 to 3600 (default %ld), or unset it", name, dflt);
			return CUTOVER_ECONFIG;
		}
	}
	*out_ms = s * 1000;
	return CUTOVER_OK;
}

/* Supabase: split <scheme>://<host>/<...>/storage/v1/object/<bucket>[/<folder>]. */
static int supabase_split(http_transport *ht, cutover_error *err)
{
	static const char marker[] = "/storage/v1/object";
	const char *m = strstr(ht->root, marker);
	const char *bucket = m + strlen(marker);
	if (*bucket == '/')
		bucket++;
	size_t blen = strcspn(bucket, "/");
	if (blen == 0 || (blen == 4 && strncmp(bucket, "list", 4) == 0) ||
	    (blen == 6 && strncmp(bucket, "public", 6) == 0) || (blen == 4 && strncmp(bucket, "sign", 4) == 0)) {
		co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_ROOT %s names no Supabase Storage bucket", ht->shown);
		co_err_hint(err, "write it as https://<project>.supabase.co/storage/v1/object/<bucket>[/<folder>]");
		return CUTOVER_ECONFIG;
	}
	co_buf lu = {0}, f = {0};
	co_buf_put(&lu, ht->root, (size_t)(bucket - ht->root));
	co_buf_puts(&lu, "list/");
	co_buf_put(&lu, bucket, blen);
	const char *rest = bucket + blen;
	if (*rest == '/')
		rest++;
	co_buf_puts(&f, rest);
	if (*rest)
		co_buf_puts(&f, "/");
	else
		co_buf_put(&f, "", 0);
	if (lu.failed || f.failed || !lu.data || !f.data) {
		co_buf_free(&lu);
		co_buf_free(&f);
		return co_err_oom(err);
	}
	ht->list_url = lu.data;
	ht->folder = f.data;
	/* objects are addressed from .../object/<bucket>; the folder is added per key */
	ht->root[bucket + blen - ht->root] = '\0';
	return CUTOVER_OK;
}

int co_transport_http(co_transport **out, const char *root, const char *token, cutover_error *err)
{
	*out = NULL;
	char shown[512];
	co_redact_url(root, shown, sizeof shown);
	if (strpbrk(root, "?# \t\r\n")) {
		co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_ROOT %s must be a plain base URL", shown);
		co_err_hint(err, "leave out any query string, fragment or spaces");
		return CUTOVER_ECONFIG;
	}
	if (token && (strchr(token, '\r') || strchr(token, '\n') || !*token)) {
		co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_TOKEN is empty or has a line break");
		co_err_hint(err, "set it to the bare token (no \"Bearer \" and no newline), or unset it");
		return CUTOVER_ECONFIG;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return co_err(err, CUTOVER_EINTERNAL, "libcurl cannot be initialised: %s", curl_easy_strerror(curl_init_rc));

	http_transport *ht = calloc(1, sizeof *ht);
	if (!ht)
		return co_err_oom(err);
	pthread_mutex_init(&ht->mu, NULL);
	int rc = CUTOVER_OK;
	if (!(ht->root = co_strdup(root)) || !(ht->shown = co_strdup(shown)) || !(ht->curl = curl_easy_init())) {
		rc = co_err_oom(err);
		goto fail;
	}
	size_t n = strlen(ht->root);
	while (n > 0 && ht->root[n - 1] == '/')
		ht->root[--n] = '\0';
	n = strlen(ht->shown);
	while (n > 0 && ht->shown[n - 1] == '/')
		ht->shown[--n] = '\0';
	const char *hostpart = strstr(ht->root, "://") + 3;
	if (!*hostpart || *hostpart == '/') {
		rc = co_err(err, CUTOVER_ECONFIG, "CUTOVER_JSON_ROOT %s names no host", ht->shown);
		goto fail;
	}
	if ((rc = env_seconds("CUTOVER_HTTP_CONNECT_TIMEOUT", HTTP_DEFAULT_CONNECT, &ht->connect_ms, err)) ||
	    (rc = env_seconds("CUTOVER_HTTP_TIMEOUT", HTTP_DEFAULT_TIMEOUT, &ht->total_ms, err)))
		goto fail;
	const char *ca = getenv("CUTOVER_HTTP_CA_FILE");
	if (ca && *ca && !(ht->ca_file = co_strdup(ca))) {
		rc = co_err_oom(err);
		goto fail;
	}
	ht->supabase = strstr(root, "/storage/v1/object/") != NULL; /* before the trailing '/' went */
	if (ht->supabase && (rc = supabase_split(ht, err)))
		goto fail;
	if (token) {
		co_buf a = {0};
		co_buf_printf(&a, "Authorization: Bearer %s", token);
		if (a.failed || !a.data) {
			co_buf_free(&a);
			rc = co_err_oom(err);
			goto fail;
		}
		ht->auth = a.data;
		if (ht->supabase) {
			co_buf k = {0};
			co_buf_printf(&k, "apikey: %s", token);
			if (k.failed || !k.data) {
				co_buf_free(&k);
				rc = co_err_oom(err);
				goto fail;
			}
			ht->apikey = k.data;
		}
	}

	ht->base.version = CO_TRANSPORT_VERSION;
	ht->base.kind = "http";
	ht->base.get = http_get;
	ht->base.put = http_put;
	ht->base.del = http_del;
	ht->base.lock = NULL;
	ht->base.unlock = NULL;
	ht->base.stream = NULL;
	ht->base.list = http_list;
	ht->base.open_read = http_open_read;
	/* put_begin/commit/abort stay NULL: co_put_begin spools and commit puts */
	ht->base.describe = http_describe;
	ht->base.free = http_free;
	*out = &ht->base;
	return CUTOVER_OK;
fail:
	http_free(&ht->base);
	return rc;
}
