/* transport.c — pick the JSON transport from the form of the state root.
 *
 * The one place that knows every transport: an http:// or https:// root is
 * an object store reached over HTTP, "file://" or a plain path is a local
 * directory. Everything above works with the resulting co_transport only.
 */
#include "json_store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int co_transport_open(co_transport **out, const char *root, const char *token, cutover_error *err)
{
	*out = NULL;
	if (!root || !*root) {
		co_err(err, CUTOVER_ECONFIG, "no JSON state root configured");
		co_err_hint(err, "set CUTOVER_JSON_ROOT to a directory or an http(s):// object store URL");
		return CUTOVER_ECONFIG;
	}
	if (strncasecmp(root, "http://", 7) == 0 || strncasecmp(root, "https://", 8) == 0)
		return co_transport_http(out, root, token, err); /* only HTTP roots use the token */
	if (strncasecmp(root, "file://", 7) == 0) {
		root += 7;
		if (!*root) {
			co_err(err, CUTOVER_ECONFIG, "the JSON state root \"file://\" names no directory");
			co_err_hint(err, "write it as file:///path/to/state or just /path/to/state");
			return CUTOVER_ECONFIG;
		}
	}
	return co_transport_local(out, root, err);
}

int co_transport_stream(co_transport *t, const char *key, FILE **out, cutover_error *err)
{
	*out = NULL;
	if (t->stream)
		return t->stream(t, key, out, err);
	char *data = NULL, version[CO_VERSION_LEN];
	size_t len = 0;
	int rc = t->get(t, key, &data, &len, version, err);
	if (rc)
		return rc;
	FILE *f = tmpfile();
	if (!f || fwrite(data, 1, len, f) != len || fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		free(data);
		return co_err(err, CUTOVER_EUNAVAILABLE, "cannot spool %s to a temporary file", key);
	}
	free(data);
	*out = f;
	return CUTOVER_OK;
}

void co_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
}
