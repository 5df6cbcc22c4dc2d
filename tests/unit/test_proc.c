/* Unit tests of proc: real child processes, spawned without a shell except
 * where a test needs a shell to build a process tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifeboat/proc.h"

static int reset_interrupts(void **state)
{
    (void)state;
    lb_interrupt_reset();
    return 0;
}

static void test_proc_exit_status_is_captured(void **state)
{
    const char *argv[] = {"sh", "-c", "exit 7", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_int_equal(res.exited, 1);
    assert_int_equal(res.status, 7);
    assert_int_equal(res.signal, 0);
    assert_int_equal(res.timed_out, 0);
    lb_proc_result_free(&res);
}

static void test_proc_stdout_and_stderr_are_captured_together(void **state)
{
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.output, "out\nerr\n");
    assert_int_equal(res.output_bytes, 8);
    lb_proc_result_free(&res);
}

static void test_proc_stdin_is_empty(void **state)
{
    const char *argv[] = {"wc", "-c", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 5000};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_string_equal(res.output, "0\n");
    lb_proc_result_free(&res);
}

static void test_proc_huge_output_keeps_head_and_tail_and_counts_the_rest(void **state)
{
    const char *argv[] = {"seq", "1", "2000000", NULL};
    struct lb_proc_opts opts = {.argv = argv,
                                .deadline_ms = lb_mono_ms() + 30000,
                                .head_limit = 10,
                                .tail_limit = 16};
    struct lb_proc_result res;
    struct lb_err err = {0};
    /* seq 1 2000000 writes 14888896 bytes. */
    const size_t total = 14888896;
    char want[128];

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.output_bytes, total);
    snprintf(want, sizeof(want), "1\n2\n3\n4\n5\n\n[... %zu bytes omitted ...]\n1999999\n2000000\n",
             total - 10 - 16);
    assert_string_equal(res.output, want);
    lb_proc_result_free(&res);
}

static void test_proc_default_limits_bound_the_output(void **state)
{
    const char *argv[] = {"seq", "1", "100000", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 30000};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_true(strlen(res.output) < 4096 + 16384 + 64);
    assert_true(lb_str_ends(res.output, "99999\n100000\n"));
    assert_true(lb_str_starts(res.output, "1\n2\n3\n"));
    lb_proc_result_free(&res);
}

static void test_proc_sleep_past_the_deadline_is_killed_and_timed_out(void **state)
{
    const char *argv[] = {"sleep", "30", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 300};
    struct lb_proc_result res;
    struct lb_err err = {0};
    int64_t t0 = lb_mono_ms();

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 2500);
    assert_int_equal(res.timed_out, 1);
    assert_int_equal(res.exited, 0);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(res.duration_ms >= 300);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_non_null(strstr(err.msg, "sleep 30"));
    lb_proc_result_free(&res);
}

static void test_proc_a_child_ignoring_sigterm_gets_sigkill_after_the_grace(void **state)
{
    const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 30", NULL};
    struct lb_proc_opts opts = {
        .argv = argv, .deadline_ms = lb_mono_ms() + 300, .grace_ms = 300};
    struct lb_proc_result res;
    struct lb_err err = {0};
    int64_t t0 = lb_mono_ms();

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 2500);
    assert_int_equal(res.timed_out, 1);
    assert_int_equal(res.signal, SIGKILL);
    assert_string_equal(res.output, "ready\n");
    lb_proc_result_free(&res);
}

/* Is a process with this command line alive? (pgrep -f, through lb_proc.) */
static int still_running(const char *pattern)
{
    const char *argv[] = {"pgrep", "-f", pattern, NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 5000};
    struct lb_proc_result res;
    struct lb_err err = {0};
    int alive;

    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    alive = res.status == 0;
    lb_proc_result_free(&res);
    return alive;
}

static void test_proc_the_whole_process_group_is_killed_at_the_deadline(void **state)
{
    /* A distinctive sleep length so pgrep finds only ours. */
    const char *argv[] = {"sh", "-c", "sleep 31.4159 & sleep 31.4159", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 300};
    struct lb_proc_result res;
    struct lb_err err = {0};
    int64_t t0 = lb_mono_ms();

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 2500);
    assert_int_equal(res.timed_out, 1);
    lb_sleep_ms(100);
    assert_false(still_running("sleep 31.4159"));
    lb_proc_result_free(&res);
}

static void test_proc_a_grandchild_holding_the_pipe_does_not_hang_the_caller(void **state)
{
    /* The grandchild leaves the group (setsid) so only the pipe ties it to us. */
    const char *argv[] = {"sh", "-c", "setsid sleep 27.1828 & echo started", NULL};
    const char *kill_argv[] = {"pkill", "-f", "sleep 27.1828", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = lb_mono_ms() + 10000};
    struct lb_proc_opts kill_opts = {.argv = kill_argv, .deadline_ms = lb_mono_ms() + 5000};
    struct lb_proc_result res, kres;
    struct lb_err err = {0};
    int64_t t0 = lb_mono_ms();

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_true(lb_mono_ms() - t0 < 2000);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.output, "started\n");
    lb_proc_result_free(&res);
    assert_int_equal(lb_proc_run(&kill_opts, &kres, &err), 0);
    lb_proc_result_free(&kres);
}

static void *interrupt_later(void *arg)
{
    (void)arg;
    usleep(200000);
    lb_interrupt_raise();
    return NULL;
}

static void test_proc_an_interrupt_kills_the_child_and_reports_interrupted(void **state)
{
    const char *argv[] = {"sleep", "30", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};
    pthread_t helper;
    int64_t t0 = lb_mono_ms();

    (void)state;
    assert_int_equal(pthread_create(&helper, NULL, interrupt_later, NULL), 0);
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_EINTR);
    pthread_join(helper, NULL);
    assert_true(lb_mono_ms() - t0 < 2500);
    assert_int_equal(res.interrupted, 1);
    assert_int_equal(res.timed_out, 0);
    assert_int_equal(res.signal, SIGTERM);
    assert_non_null(strstr(err.msg, "interrupted"));
    lb_proc_result_free(&res);
}

static void test_proc_an_interrupt_before_the_call_starts_nothing(void **state)
{
    const char *argv[] = {"touch", "/tmp/lb-test-proc-must-not-exist", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    unlink("/tmp/lb-test-proc-must-not-exist");
    lb_interrupt_raise();
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_EINTR);
    assert_int_equal(res.interrupted, 1);
    assert_false(lb_file_exists("/tmp/lb-test-proc-must-not-exist"));
    lb_proc_result_free(&res);
}

static void test_proc_env_add_is_visible_and_overrides(void **state)
{
    const char *argv[] = {"env", NULL};
    const char *env[] = {"LB_TEST_ADDED=yes", "HOME=/nowhere", NULL};
    struct lb_proc_opts opts = {.argv = argv, .env_add = env, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    setenv("HOME", "/root-before", 1);
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_non_null(strstr(res.output, "LB_TEST_ADDED=yes\n"));
    assert_non_null(strstr(res.output, "HOME=/nowhere\n"));
    assert_null(strstr(res.output, "HOME=/root-before"));
    assert_non_null(strstr(res.output, "PATH="));
    lb_proc_result_free(&res);
}

static void test_proc_cwd_and_stdout_path_are_honoured(void **state)
{
    const char *argv[] = {"sh", "-c", "pwd; echo to-stderr >&2", NULL};
    char tmpl[] = "/tmp/lb-test-proc-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char *out = lb_path_join(dir, "stdout.txt");
    struct lb_proc_opts opts = {.argv = argv, .cwd = "/", .stdout_path = out,
                                .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};
    char *text = NULL;

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_string_equal(res.output, "to-stderr\n");
    assert_int_equal(lb_file_read(out, &text, NULL, &err), 0);
    assert_string_equal(text, "/\n");
    free(text);
    lb_proc_result_free(&res);
    unlink(out);
    rmdir(dir);
    free(out);
}

static void test_proc_a_missing_program_is_a_clear_error(void **state)
{
    const char *argv[] = {"lifeboat-no-such-program", "x", NULL};
    struct lb_proc_opts opts = {.argv = argv, .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_EPROC);
    assert_non_null(strstr(err.msg, "lifeboat-no-such-program"));
    assert_non_null(strstr(err.msg, "No such file"));
    lb_proc_result_free(&res);
}

static void test_proc_a_bad_cwd_is_a_clear_error(void **state)
{
    const char *argv[] = {"true", NULL};
    struct lb_proc_opts opts = {.argv = argv, .cwd = "/no/such/dir",
                                .deadline_ms = LB_NO_DEADLINE};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_proc_run(&opts, &res, &err), LB_EPROC);
    assert_non_null(strstr(err.msg, "/no/such/dir"));
    lb_proc_result_free(&res);
}

static void test_proc_run_as_another_user_goes_through_runuser(void **state)
{
    const char *argv[] = {"id", "-un", NULL};
    struct lb_proc_opts opts = {.argv = argv, .run_as = "nobody",
                                .deadline_ms = lb_mono_ms() + 10000};
    struct lb_proc_result res;
    struct lb_err err = {0};

    (void)state;
    if (!lb_proc_is_root())
        skip();
    assert_int_equal(lb_proc_run(&opts, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.output, "nobody\n");
    lb_proc_result_free(&res);
}

static void test_proc_argv_string_quotes_only_where_needed(void **state)
{
    const char *argv[] = {"pg_dump", "-d", "host=db user=app", "--table=it's", "", "a/b.c", NULL};
    char *s = lb_proc_argv_string(argv);

    (void)state;
    assert_string_equal(s, "pg_dump -d 'host=db user=app' '--table=it'\\''s' '' a/b.c");
    free(s);
}

static void test_proc_which_finds_programs_in_path(void **state)
{
    char *sh = lb_proc_which("sh");
    char *abs = lb_proc_which("./relative/tool");

    (void)state;
    assert_non_null(sh);
    assert_true(lb_str_ends(sh, "/sh"));
    assert_string_equal(abs, "./relative/tool");
    assert_null(lb_proc_which("lifeboat-no-such-program"));
    free(sh);
    free(abs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_exit_status_is_captured),
        cmocka_unit_test(test_proc_stdout_and_stderr_are_captured_together),
        cmocka_unit_test(test_proc_stdin_is_empty),
        cmocka_unit_test(test_proc_huge_output_keeps_head_and_tail_and_counts_the_rest),
        cmocka_unit_test(test_proc_default_limits_bound_the_output),
        cmocka_unit_test(test_proc_sleep_past_the_deadline_is_killed_and_timed_out),
        cmocka_unit_test(test_proc_a_child_ignoring_sigterm_gets_sigkill_after_the_grace),
        cmocka_unit_test(test_proc_the_whole_process_group_is_killed_at_the_deadline),
        cmocka_unit_test(test_proc_a_grandchild_holding_the_pipe_does_not_hang_the_caller),
        cmocka_unit_test_teardown(test_proc_an_interrupt_kills_the_child_and_reports_interrupted,
                                  reset_interrupts),
        cmocka_unit_test_teardown(test_proc_an_interrupt_before_the_call_starts_nothing,
                                  reset_interrupts),
        cmocka_unit_test(test_proc_env_add_is_visible_and_overrides),
        cmocka_unit_test(test_proc_cwd_and_stdout_path_are_honoured),
        cmocka_unit_test(test_proc_a_missing_program_is_a_clear_error),
        cmocka_unit_test(test_proc_a_bad_cwd_is_a_clear_error),
        cmocka_unit_test(test_proc_run_as_another_user_goes_through_runuser),
        cmocka_unit_test(test_proc_argv_string_quotes_only_where_needed),
        cmocka_unit_test(test_proc_which_finds_programs_in_path),
    };

    return cmocka_run_group_tests(tests, reset_interrupts, NULL);
}
