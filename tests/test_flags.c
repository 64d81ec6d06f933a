/* test_flags.c — the flags: stage names, the prefix, refusals, redaction.
 *
 * usage: test_flags PATH-TO-cutover
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

static char *run_capture(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	co_buf out = {0};
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		co_buf_put(&out, buf, n);
	int st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out.data ? out.data : strdup("");
}

static void cutover_status_exits_2_on_a_bogus_flag(void **state)
{
	(void)state;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "IDENTITY_STORE=bogus '%s' status 2>&1", cutover_bin);
	int status;
	char *out = run_capture(cmd, &status);
	assert_int_equal(status, 2);
	assert_non_null(strstr(out, "IDENTITY_STORE=\"bogus\" is not a stage"));
	assert_non_null(strstr(out, "json, dualwrite, shadow, live, rampdown, postgres"));
	free(out);
}

static void cutover_status_never_prints_credentials(void **state)
{
	(void)state;
	char cmd[1024];
	/* port 1 on loopback: refused at once, nothing leaves the machine */
	snprintf(cmd, sizeof(cmd),
		 "env -u IDENTITY_STORE DATABASE_URL='postgresql://app:s3cr3t-pw@127.0.0.1:1/prod?connect_timeout=2' "
		 "CUTOVER_JSON_TOKEN=tok-abcdef123 CUTOVER_JSON_ROOT=/tmp/cutover-flags-test-root '%s' status 2>&1",
		 cutover_bin);
	int status;
	char *out = run_capture(cmd, &status);
	assert_int_equal(status, 0); /* every domain is on json: postgres is not needed */
	assert_null(strstr(out, "s3cr3t-pw"));
	assert_null(strstr(out, "tok-abcdef123"));
	assert_non_null(strstr(out, "app:****@127.0.0.1:1/prod"));
	assert_non_null(strstr(out, "IDENTITY_STORE=json"));
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "IDENTITY_STORE=dualwrite DATABASE_URL='postgresql://app:s3cr3t-pw@127.0.0.1:1/prod' '%s' --json status 2>&1",
		 cutover_bin);
	out = run_capture(cmd, &status);
	assert_int_equal(status, 3); /* a stage needs postgres and it is down */
	assert_null(strstr(out, "s3cr3t-pw"));
	free(out);
	test_shell("rm -rf /tmp/cutover-flags-test-root");
}

static void redaction_helper(void **state)
{
	(void)state;
	char buf[256];
	assert_string_equal(co_redact_conninfo("host=db password=hunter2 user=x", buf, sizeof(buf)),
			    "host=db password=**** user=x");
	assert_string_equal(co_redact_conninfo("password = 'a b\\'c' dbname=x", buf, sizeof(buf)),
			    "password=**** dbname=x");
	assert_string_equal(co_redact_url("postgres://u:pw@h/db?password=zzzzzz&x=1", buf, sizeof(buf)),
			    "postgres://u:****@h/db?password=****&x=1");
	assert_string_equal(co_redact_url("https://store.example/bucket", buf, sizeof(buf)), "https://store.example/bucket");
	co_redact_value("0123456789abcdef", buf, sizeof(buf));
	assert_null(strstr(buf, "0123456789abcdef"));
	assert_non_null(strstr(buf, "[redacted:"));
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
	};
	return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
