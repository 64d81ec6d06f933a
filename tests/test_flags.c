/* test_flags.c — the flags: stage names, the prefix, refusals, redaction,
 * the journal dir default, and `cutover status` staying read-only.
 *
 * usage: test_flags PATH-TO-cutover
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static const char *cutover_bin;

static void clear_env(void)
{
	unsetenv("CUTOVER_FLAG_PREFIX");
	for (int d = 0; d < CUTOVER_DOMAIN_COUNT; d++) {
		char name[64];
		unsetenv(cutover_domain_flag((cutover_domain)d));
		snprintf(name, sizeof(name), "SOC_%s", cutover_domain_flag((cutover_domain)d));
		unsetenv(name);
	}
}

static void unset_flag_means_json(void **state)
{
	(void)state;
	clear_env();
	cutover_settings st;
	cutover_error err;
	assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err), CUTOVER_OK);
	assert_int_equal(st.stage, CUTOVER_STAGE_JSON);
	assert_string_equal(st.flag_name, "IDENTITY_STORE");
}

static void every_stage_name_is_accepted(void **state)
{
	(void)state;
	clear_env();
	for (int i = 0; i < CUTOVER_STAGE_COUNT; i++) {
		setenv("TELEMETRY_STORE", cutover_stage_describe((cutover_stage)i)->name, 1);
		cutover_settings st;
		cutover_error err;
		assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_TELEMETRY, NULL, &err), CUTOVER_OK);
		assert_int_equal(st.stage, i);
	}
	clear_env();
}

static void bogus_value_names_variable_value_and_valid_stages(void **state)
{
	(void)state;
	static const char *const bad[] = {"bogus", "", "JSON", "shadow ", "postgresql"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		setenv("IDENTITY_STORE", bad[i], 1);
		cutover_settings st;
		cutover_error err;
		assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err), CUTOVER_ECONFIG);
		assert_non_null(strstr(err.message, "IDENTITY_STORE"));
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
		assert_non_null(strstr(err.message, quoted));
		assert_non_null(strstr(err.hint, "json, dualwrite, shadow, live, rampdown, postgres"));
		cutover_identity *s = (cutover_identity *)&st; /* must be reset to NULL */
		assert_int_equal(cutover_identity_open(&s, NULL, &err), CUTOVER_ECONFIG);
		assert_null(s);
	}
	clear_env();
}

static void prefix_selects_the_prefixed_flag(void **state)
{
	(void)state;
	clear_env();
	setenv("CUTOVER_FLAG_PREFIX", "SOC_", 1);
	setenv("IDENTITY_STORE", "bogus", 1); /* not read: the app chose a prefix */
	setenv("SOC_IDENTITY_STORE", "shadow", 1);
	cutover_settings st;
	cutover_error err;
	assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err), CUTOVER_OK);
	assert_int_equal(st.stage, CUTOVER_STAGE_SHADOW);
	assert_string_equal(st.flag_name, "SOC_IDENTITY_STORE");
	setenv("SOC_IDENTITY_STORE", "nope", 1);
	assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, NULL, &err), CUTOVER_ECONFIG);
	assert_non_null(strstr(err.message, "SOC_IDENTITY_STORE"));
	clear_env();
}

static void cutover_status_exits_2_on_a_bogus_flag(void **state)
{
	(void)state;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "IDENTITY_STORE=bogus '%s' status 2>&1", cutover_bin);
	int status;
	char *out = test_run_capture(cmd, &status);
	assert_int_equal(status, 2);
	assert_non_null(strstr(out, "IDENTITY_STORE=\"bogus\" is not a stage"));
	assert_non_null(strstr(out, "json, dualwrite, shadow, live, rampdown, postgres"));
	free(out);
}

static void cutover_status_never_prints_credentials(void **state)
{
	(void)state;
	char cmd[1024];
	test_shell("rm -rf /tmp/cutover-flags-test-root");
	/* port 1 on loopback: refused at once, nothing leaves the machine */
	snprintf(cmd, sizeof(cmd),
		 "env -u IDENTITY_STORE DATABASE_URL='postgresql://app:s3cr3t-pw@127.0.0.1:1/prod?connect_timeout=2' "
		 "CUTOVER_JSON_TOKEN=tok-abcdef123 CUTOVER_JSON_ROOT=/tmp/cutover-flags-test-root '%s' status 2>&1",
		 cutover_bin);
	int status;
	char *out = test_run_capture(cmd, &status);
	assert_int_equal(status, 0); /* every domain is on json: postgres is not needed */
	assert_null(strstr(out, "s3cr3t-pw"));
	assert_null(strstr(out, "tok-abcdef123"));
	assert_non_null(strstr(out, "app:****@127.0.0.1:1/prod"));
	assert_non_null(strstr(out, "IDENTITY_STORE=json"));
	/* read-only: a state root that does not exist is shown, not created */
	assert_non_null(strstr(out, "/tmp/cutover-flags-test-root  (absent)"));
	assert_int_equal(access("/tmp/cutover-flags-test-root", F_OK), -1);
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "IDENTITY_STORE=dualwrite DATABASE_URL='postgresql://app:s3cr3t-pw@127.0.0.1:1/prod' '%s' --json status 2>&1",
		 cutover_bin);
	out = test_run_capture(cmd, &status);
	assert_int_equal(status, 3); /* a stage needs postgres and it is down */
	assert_null(strstr(out, "s3cr3t-pw"));
	free(out);
	test_shell("rm -rf /tmp/cutover-flags-test-root");
}

static void redaction_helper(void **state)
{
	(void)state;
	char buf[256];
	/* key=value strings print as the options libpq parsed, the password as **** */
	assert_string_equal(co_redact_conninfo("host=db password=hunter2 user=x", buf, sizeof(buf)),
			    "host=db user=x password=****");
	assert_string_equal(co_redact_conninfo("password = 'a b\\'c' dbname=x", buf, sizeof(buf)),
			    "dbname=x password=****");
	assert_string_equal(co_redact_url("postgres://u:pw@h/db?password=zzzzzz&x=1", buf, sizeof(buf)),
			    "postgres://u:****@h/db?password=****&x=1");
	assert_string_equal(co_redact_url("https://store.example/bucket", buf, sizeof(buf)), "https://store.example/bucket");
	co_redact_value("0123456789abcdef", buf, sizeof(buf));
	assert_null(strstr(buf, "0123456789abcdef"));
	assert_non_null(strstr(buf, "[redacted:"));
	assert_string_equal(co_redact_conninfo(NULL, buf, sizeof(buf)), "(libpq defaults / PG* environment)");
	assert_string_equal(co_redact_conninfo("appdb", buf, sizeof(buf)), "dbname=appdb");
}

/* Each of these printed a password before: libpq reads a URL's userinfo up
 * to the '@' even past '?' and '#'; a short query password is a password;
 * any whitespace separates key=value pairs; "://" inside a value does not
 * make a key=value string a URL; and what libpq cannot parse is not echoed. */
static void redaction_does_not_leak(void **state)
{
	(void)state;
	static const struct {
		const char *in, *shown, *secret;
	} cases[] = {
		{"postgresql://app:pa?ss#1@h/db", "postgresql://app:****@h/db", "pa?ss"},
		{"postgresql://app:p@ss@h/db", "postgresql://app:****@h/db", "p@ss"},
		{"postgresql://h/db?user=app&password=abc", "postgresql://h/db?user=app&password=****", "abc"},
		{"postgresql://h/db?password=a&user=app", "postgresql://h/db?password=****&user=app", "=a&"},
		{"postgresql://h/db?pass%77ord=hunter2", "postgresql://h/db?pass%77ord=****", "hunter2"},
		{"host=db.example.com\tpassword=hunter2 dbname=app", "host=db.example.com dbname=app password=****", "hunter2"},
		{"host=db\npassword=hunter2\ruser=app", "host=db user=app password=****", "hunter2"},
		{"host=db password=hunter2 application_name=http://x", "host=db password=****", "hunter2"},
		{"host=db password='hunter2", "(unparseable connection string)", "hunter2"},
		{"postgresql://app:hunter2@h/db?no_such_option=1", "(unparseable connection string)", "hunter2"},
		{"dbname=postgresql://u:hunter2@h/db user=x", "dbname=postgresql://u:****@h/db user=x", "hunter2"},
		{"app:hunter2@h", "(unparseable connection string)", "hunter2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		co_redact_conninfo(cases[i].in, buf, sizeof(buf));
		if (strcmp(buf, cases[i].shown) != 0 || strstr(buf, cases[i].secret))
			fail_msg("case %zu: %s printed as %s, want %s", i, cases[i].in, buf, cases[i].shown);
	}
	/* any http(s) URL: userinfo to the last '@' before the first '/', and a
	 * query password of any length */
	char buf[256];
	assert_string_equal(co_redact_url("https://u:t?o#k@store.example/b?password=x", buf, sizeof(buf)),
			    "https://u:****@store.example/b?password=****");
	/* a short buffer truncates, it never leaks */
	char small[12];
	co_redact_conninfo("postgresql://app:hunter2@db.example.com/app", small, sizeof(small));
	assert_null(strstr(small, "hunter2"));
	assert_null(strstr(small, "hunt"));
}

static void empty_journal_dir_means_unset(void **state)
{
	(void)state;
	clear_env();
	cutover_settings st;
	cutover_error err;
	cutover_options o = {.json_root = "/tmp/cutover-flags-jroot"};
	setenv("CUTOVER_JOURNAL_DIR", "", 1);
	assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, &o, &err), CUTOVER_OK);
	assert_string_equal(st.journal_dir, "/tmp/cutover-flags-jroot/.cutover");
	setenv("CUTOVER_JOURNAL_DIR", "/tmp/cutover-flags-journal", 1);
	o.journal_dir = ""; /* an empty option is unset too: the variable applies */
	assert_int_equal(cutover_settings_resolve(&st, CUTOVER_DOMAIN_IDENTITY, &o, &err), CUTOVER_OK);
	assert_string_equal(st.journal_dir, "/tmp/cutover-flags-journal");
	unsetenv("CUTOVER_JOURNAL_DIR");
	/* and the directory helper refuses an empty path rather than reading past it */
	assert_int_equal(co_mkdirs("", &err), CUTOVER_ECONFIG);
	assert_int_equal(err.code, CUTOVER_ECONFIG);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_flags PATH-TO-cutover\n");
		return 2;
	}
	cutover_bin = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unset_flag_means_json),
		cmocka_unit_test(every_stage_name_is_accepted),
		cmocka_unit_test(bogus_value_names_variable_value_and_valid_stages),
		cmocka_unit_test(prefix_selects_the_prefixed_flag),
		cmocka_unit_test(cutover_status_exits_2_on_a_bogus_flag),
		cmocka_unit_test(cutover_status_never_prints_credentials),
		cmocka_unit_test(redaction_helper),
		cmocka_unit_test(redaction_does_not_leak),
		cmocka_unit_test(empty_journal_dir_means_unset),
	};
	return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
