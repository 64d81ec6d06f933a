/* test_profile_index.c — profile/profiles.json served from the cached index.
 *
 * What the conformance suite cannot see, because it only ever reads the
 * documents through the library: a write of one profile leaves the other
 * records' bytes as they were; the bytes outside the list are copied when
 * the high-water marks ("cutover_last_ids") stay and printed anew when they
 * move; the marks and the per-record highest ids carried over to the
 * version a handle wrote give the same ids a fresh handle would; a record
 * that breaks the backfill's strict rules is no profile, and its ids hold
 * nothing; and a new document, or one without the list, is written as the
 * whole-document writer wrote it. Over a local directory.
 *
 * usage: test_profile_index
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"
#include "profile_int.h"
#include "support.h"

static cutover_error err;

static void ok(int rc)
{
	if (rc != CUTOVER_OK)
		cutover_error_fprint(stderr, &err);
	assert_int_equal(rc, CUTOVER_OK);
}

static void put_doc(const char *root, const char *key, const char *text)
{
	co_transport *t = NULL;
	ok(co_transport_open(&t, root, NULL, &err));
	ok(t->put(t, key, text, strlen(text), NULL, NULL, &err));
	t->free(t);
}

static char *get_doc(const char *root, const char *key)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, key);
	char *data = test_read_file(path, NULL);
	assert_non_null(data);
	return data;
}

static void fresh_root(char *root, size_t len)
{
	snprintf(root, len, "/tmp/cutover-test-profile-index-XXXXXX");
	assert_non_null(mkdtemp(root));
}

static void remove_root(const char *root)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	test_shell(cmd);
}

static bool starts_with(const char *s, const char *start)
{
	return strncmp(s, start, strlen(start)) == 0;
}

static bool ends_with(const char *s, const char *end)
{
	size_t a = strlen(s), b = strlen(end);
	return a >= b && memcmp(s + a - b, end, b) == 0;
}

static void assert_ids(const cutover_portfolio *p, const int64_t *cert, size_t nc, const int64_t *edu, size_t ne)
{
	assert_int_equal(p->n_certifications, nc);
	assert_int_equal(p->n_education, ne);
	for (size_t i = 0; i < nc; i++)
		if (p->certifications[i].id != cert[i])
			fail_msg("certification %zu: id %lld, expected %lld", i, (long long)p->certifications[i].id,
			         (long long)cert[i]);
	for (size_t i = 0; i < ne; i++)
		if (p->education[i].id != edu[i])
			fail_msg("education %zu: id %lld, expected %lld", i, (long long)p->education[i].id, (long long)edu[i]);
}

static const char USERS[] = "{\"users\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, {\"id\": 4}]}\n";

#define HEAD "{\"x_top\": {\"keep\": 0.10, \"n\": 1.50},\n \"profiles\": [\n  "
#define REC1                                                                                                        \
	"{\"user_id\": 1, \"headline\": \"One\", \"x_big\": 9007199254740993,\n"                                 \
	"   \"certifications\": [{\"id\": 4, \"name\": \"CISSP\", \"x_cert\": \"stays\"}], \"education\": []}"
#define REC2                                                                                                        \
	"{\"user_id\": 2, \"headline\": \"Two\", \"certifications\": [{\"id\": 12, \"name\": \"OSCP\"}],\n"      \
	"   \"education\": [{\"id\": 2, \"institution\": \"TU\"}]}"
/* a repeated key: the backfill rejects the record, so the app steps over it */
#define REC3 "{\"user_id\": 4, \"user_id\": 4, \"certifications\": [{\"id\": 11, \"name\": \"Dup\"}]}"
#define TAIL "\n ],\n \"cutover_last_ids\": {\"certifications\": 12, \"education\": 3}}\n"

static const char PROFILES[] = HEAD REC1 ",\n  " REC2 ",\n  " REC3 TAIL;

static cutover_portfolio portfolio(int64_t user_id, const char *headline, cutover_certification *c, size_t nc,
                                   cutover_education *e, size_t ne)
{
	return (cutover_portfolio){.user_id = user_id, .headline = (char *)headline, .certifications = c,
	                           .n_certifications = nc, .education = e, .n_education = ne,
	                           .updated_at = CUTOVER_TS_NULL};
}

static void untouched_bytes_and_the_marks(void **state)
{
	(void)state;
	char root[256];
	fresh_root(root, sizeof root);
	put_doc(root, "identity/users.json", USERS);
	put_doc(root, "profile/profiles.json", PROFILES);
	cutover_profile *s = NULL;
	cutover_portfolio *p = NULL;
	ok(cutover_profile_json(&s, root, NULL, &err));

	/* a put that hands out no id: the marks stay, and so does every byte
	 * outside the record written */
	cutover_certification c2[] = {{.id = 12, .name = "OSCP"}};
	cutover_education e2[] = {{.id = 2, .institution = "TU"}};
	cutover_portfolio in = portfolio(2, "Two again", c2, 1, e2, 1);
	ok(cutover_profile_put(s, &p, &in, &err));
	cutover_portfolio_free(p);
	char *doc = get_doc(root, "profile/profiles.json");
	assert_true(starts_with(doc, HEAD REC1 ",\n  {\"user_id\":2,"));
	assert_true(ends_with(doc, "},\n  " REC3 TAIL));
	assert_non_null(strstr(doc, "\"headline\":\"Two again\""));
	free(doc);

	/* a new id: one past the highest a record holds (12; the unreadable
	 * record's 11 would count too, read as cJSON reads it), and the marks
	 * move, so the bytes outside the list are printed anew */
	cutover_certification add = {.name = "New"};
	ok(cutover_profile_add_certification(s, &p, 1, &add, &err));
	assert_ids(p, (const int64_t[]){4, 13}, 2, NULL, 0);
	cutover_portfolio_free(p);
	doc = get_doc(root, "profile/profiles.json");
	assert_true(starts_with(doc, "{\"x_top\":{\"keep\":0.1,\"n\":1.5},\"profiles\":[{\"user_id\":1,"));
	assert_non_null(strstr(doc, "\"x_cert\":\"stays\""));
	assert_non_null(strstr(doc, ",\n  " REC3 "\n ],\"cutover_last_ids\":{\"certifications\":13,\"education\":3}}"));
	assert_true(ends_with(doc, "\"education\":3}}"));
	free(doc);

	/* the same handle (its index carried over to the version it wrote) */
	cutover_certification c3[] = {{.name = "A"}};
	cutover_education e3[] = {{.institution = "Uni"}};
	in = portfolio(3, "Three", c3, 1, e3, 1);
	ok(cutover_profile_put(s, &p, &in, &err));
	assert_ids(p, (const int64_t[]){14}, 1, (const int64_t[]){4}, 1);
	cutover_portfolio_free(p);
	doc = get_doc(root, "profile/profiles.json");
	assert_true(ends_with(doc, "],\"cutover_last_ids\":{\"certifications\":14,\"education\":4}}"));
	free(doc);

	/* ids another profile holds: the first holder in the document names it */
	cutover_certification taken_c[] = {{.id = 14, .name = "A"}, {.id = 12, .name = "Mine?"}};
	in = portfolio(3, "Three", taken_c, 2, e3, 0);
	assert_int_equal(cutover_profile_put(s, NULL, &in, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "certification id 12 belongs to user 2's profile"));
	cutover_education taken_e[] = {{.id = 2, .institution = "TU"}};
	in = portfolio(3, "Three", c3, 0, taken_e, 1);
	assert_int_equal(cutover_profile_put(s, NULL, &in, &err), CUTOVER_ECONFLICT);
	assert_non_null(strstr(err.message, "education id 2 belongs to user 2's profile"));

	/* the record with a repeated key is no one's profile, and its id is free */
	assert_int_equal(cutover_profile_get(s, &p, 4, &err), CUTOVER_ENOTFOUND);
	cutover_certification c11[] = {{.id = 11, .name = "Given"}};
	in = portfolio(1, "One", c11, 1, NULL, 0);
	ok(cutover_profile_put(s, &p, &in, &err));
	cutover_portfolio_free(p);
	cutover_profile_free(s);

	/* a fresh handle reads what the first one wrote, and hands out the
	 * same next ids */
	ok(cutover_profile_json(&s, root, NULL, &err));
	ok(cutover_profile_get(s, &p, 1, &err));
	assert_ids(p, (const int64_t[]){11}, 1, NULL, 0);
	cutover_portfolio_free(p);
	ok(cutover_profile_get(s, &p, 2, &err));
	assert_string_equal(p->headline, "Two again");
	assert_ids(p, (const int64_t[]){12}, 1, (const int64_t[]){2}, 1);
	cutover_portfolio_free(p);
	cutover_education more = {.institution = "More"};
	ok(cutover_profile_add_education(s, &p, 3, &more, &err));
	assert_ids(p, (const int64_t[]){14}, 1, (const int64_t[]){4, 5}, 2);
	cutover_portfolio_free(p);
	ok(cutover_profile_add_certification(s, &p, 3, &add, &err));
	assert_ids(p, (const int64_t[]){14, 15}, 2, (const int64_t[]){4, 5}, 2);
	cutover_portfolio_free(p);
	cutover_profile_free(s);
	remove_root(root);
}

/* A new document, and one without the list, as the whole-document writer
 * wrote them: the list first, or after the fields there are, then the marks. */
static void new_documents_as_before(void **state)
{
	(void)state;
	static const char *const before[] = {NULL, "{\"x\": 1}\n", "{\"profiles\": null, \"x\": [1.50]}\n"};
	static const char *const head[] = {"{\"profiles\":[{\"user_id\":1,", "{\"x\":1,\"profiles\":[{\"user_id\":1,",
	                                   "{\"profiles\":[{\"user_id\":1,"};
	static const char *const tail[] = {"}],\"cutover_last_ids\":{\"certifications\":1,\"education\":0}}",
	                                   "}],\"cutover_last_ids\":{\"certifications\":1,\"education\":0}}",
	                                   "}],\"x\":[1.5],\"cutover_last_ids\":{\"certifications\":1,\"education\":0}}"};
	for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
		char root[256];
		fresh_root(root, sizeof root);
		put_doc(root, "identity/users.json", USERS);
		if (before[i])
			put_doc(root, "profile/profiles.json", before[i]);
		cutover_profile *s = NULL;
		cutover_portfolio *p = NULL;
		cutover_certification c[] = {{.name = "First"}};
		cutover_portfolio in = portfolio(1, "One", c, 1, NULL, 0);
		ok(cutover_profile_json(&s, root, NULL, &err));
		ok(cutover_profile_put(s, &p, &in, &err));
		cutover_portfolio_free(p);
		char *doc = get_doc(root, "profile/profiles.json");
		if (!starts_with(doc, head[i]) || !ends_with(doc, tail[i]))
			fail_msg("document %zu written as %s", i, doc);
		free(doc);
		/* and it reads back, through the same handle and a fresh one */
		ok(cutover_profile_add_certification(s, &p, 1, &c[0], &err));
		assert_ids(p, (const int64_t[]){1, 2}, 2, NULL, 0);
		cutover_portfolio_free(p);
		cutover_profile_free(s);
		ok(cutover_profile_json(&s, root, NULL, &err));
		ok(cutover_profile_get(s, &p, 1, &err));
		assert_ids(p, (const int64_t[]){1, 2}, 2, NULL, 0);
		cutover_portfolio_free(p);
		cutover_profile_free(s);
		remove_root(root);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(untouched_bytes_and_the_marks),
		cmocka_unit_test(new_documents_as_before),
	};
	return cmocka_run_group_tests_name("profile json from the index", tests, NULL, NULL);
}
