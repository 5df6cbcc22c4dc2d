/*
 * The engine and runner without a database: scenarios whose steps touch no
 * target, run through the real Lua state, runner and an in-memory store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lifeboat/engine.h"
#include "lifeboat/runner.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"

struct fixture {
    char dir[64];
    struct lb_env *env;
    struct lb_store *store;
    struct lb_run_view *view;
    struct lb_runner_result res;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct lb_err err = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/lb-test-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->env = calloc(1, sizeof(*f->env));
    f->env->name = strdup("unit");
    f->env->secrets = lb_secrets_new();
    f->env->rto_ms = f->env->rpo_ms = -1;
    assert_int_equal(lb_store_open(":memory:", &f->store, &err), 0);
    lb_interrupt_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/scenario.lua", f->dir);
    unlink(path);
    rmdir(f->dir);
    lb_run_view_free(f->view);
    lb_runner_result_free(&f->res);
    lb_store_close(f->store);
    lb_env_free(f->env);
    free(f);
    return 0;
}

/* Write `src` as the scenario, run it, load the stored run. Returns the exit code. */
static int run(struct fixture *f, const char *src)
{
    char path[128];
    struct lb_runner_opts o = {0};
    struct lb_err err = {0};
    FILE *fp;
    int code;

    snprintf(path, sizeof(path), "%s/scenario.lua", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(src, fp);
    fclose(fp);
    o.scenario_path = path;
    o.env = f->env;
    o.store = f->store;
    code = lb_runner_run(&o, &f->res, &err);
    if (f->res.run_id[0])
        assert_int_equal(lb_store_load_run(f->store, f->res.run_id, &f->view, &err), 0);
    return code;
}

static const struct lb_step_view *step(const struct lb_run_view *v, const char *name)
{
    for (size_t i = 0; i < v->nsteps; i++)
        if (strcmp(v->steps[i].name, name) == 0)
            return &v->steps[i];
    fail_msg("no step %s", name);
    return NULL;
}

static void test_engine_runs_steps_in_declared_order(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'order', title = 'order' }\n"
        "local seen = {}\n"
        "step('first', function() seen[#seen + 1] = 'first' end)\n"
        "step('second', { kind = 'check' }, function() seen[#seen + 1] = 'second' end)\n"
        "step('third', function()\n"
        "  seen[#seen + 1] = 'third'\n"
        "  expect(table.concat(seen, ',') == 'first,second,third', 'steps ran in order')\n"
        "end)\n");
    assert_int_equal(code, 0);
    assert_string_equal(f->view->status, "passed");
    assert_int_equal(f->view->nsteps, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(f->view->steps[i].status, "passed");
    assert_true(f->view->steps[0].started_at <= f->view->steps[1].started_at);
    assert_true(f->view->steps[1].started_at <= f->view->steps[2].started_at);
    assert_int_equal(f->view->nchecks, 1);
    assert_true(f->view->checks[0].ok);
}

static void test_engine_runs_rollbacks_lifo_after_a_critical_failure(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'rb', title = 'rollbacks' }\n"
        "rollback('declared first', function() metric('rollback.order', 1) end)\n"
        "rollback('declared second', function() metric('rollback.order', 2) end)\n"
        "step('breaks', { critical = true }, function() error('boom') end)\n"
        "step('never', function() end)\n");
    assert_int_equal(code, LB_EXIT_GAPS);
    assert_string_equal(f->view->status, "failed");
    assert_string_equal(step(f->view, "breaks")->status, "failed");
    assert_non_null(strstr(step(f->view, "breaks")->error, "scenario.lua:4: boom"));
    assert_string_equal(step(f->view, "never")->status, "skipped");
    assert_int_equal(f->view->nrollbacks, 2);
    assert_string_equal(f->view->rollbacks[0].status, "passed");
    assert_string_equal(f->view->rollbacks[1].status, "passed");
    /* last declared runs first */
    assert_int_equal(f->view->nmetrics, 2);
    assert_true(f->view->metrics[0].value == 2.0);
    assert_true(f->view->metrics[1].value == 1.0);
    assert_true(f->view->ngaps >= 1);
    assert_string_equal(f->view->gaps[0].severity, "critical");
}

static void test_engine_a_failed_rollback_exits_5(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'rbfail', title = 'rollback fails' }\n"
        "rollback('cannot undo', function() return false end)\n"
        "step('fine', function() end)\n");
    assert_int_equal(code, LB_EXIT_ROLLBACK);
    assert_string_equal(f->view->status, "rollback_failed");
    assert_string_equal(f->view->rollbacks[0].status, "failed");
}

static void test_engine_times_out_a_lua_busy_loop(void **state)
{
    struct fixture *f = *state;
    int64_t start = lb_mono_ms();
    int code = run(f,
        "scenario { id = 'busy', title = 'busy loop' }\n"
        "step('spin', { timeout = '300ms' }, function() while true do end end)\n"
        "step('after', function() end)\n");
    int64_t took = lb_mono_ms() - start;
    assert_int_equal(code, LB_EXIT_GAPS);
    assert_string_equal(step(f->view, "spin")->status, "timeout");
    assert_string_equal(step(f->view, "after")->status, "passed");
    assert_true(step(f->view, "spin")->duration_ms >= 300);
    assert_true(took < 3000);
    assert_string_equal(f->view->gaps[0].category, "timeout");
}

static void test_engine_pcall_cannot_swallow_the_deadline(void **state)
{
    struct fixture *f = *state;
    int64_t start = lb_mono_ms();
    int code = run(f,
        "scenario { id = 'swallow', title = 'pcall loop' }\n"
        "step('stubborn', { timeout = '300ms' }, function()\n"
        "  while true do pcall(function() while true do end end) end\n"
        "end)\n");
    assert_int_equal(code, LB_EXIT_GAPS);
    assert_string_equal(step(f->view, "stubborn")->status, "timeout");
    assert_true(lb_mono_ms() - start < 5000);
}

static void test_engine_sandbox_has_no_os_io_or_load(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'sandbox', title = 'sandbox' }\n"
        "step('os', { kind = 'check' }, function()\n"
        "  check('no os', os == nil)\n"
        "  check('no io', io == nil)\n"
        "  check('no load', load == nil and loadfile == nil and dofile == nil)\n"
        "  check('no debug', debug == nil and package == nil)\n"
        "  check('no string.dump', string.dump == nil)\n"
        "  check('require outside the library fails', not pcall(require, 'os'))\n"
        "  check('env is read-only', not pcall(function() env.name = 'prod' end))\n"
        "end)\n");
    assert_int_equal(code, 0);
    assert_int_equal(f->view->nchecks, 7);
    for (size_t i = 0; i < f->view->nchecks; i++)
        assert_true(f->view->checks[i].ok);
}

static void test_engine_measures_rto_from_fault_to_last_check(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'rto', title = 'rto', objectives = { rto = '50ms' } }\n"
        "step('before', { kind = 'check' }, function() end)\n"
        "step('the fault', { kind = 'fault' }, function() sleep('120ms') end)\n"
        "step('restore', { kind = 'restore' }, function() sleep('80ms') end)\n"
        "step('validate', { kind = 'check' }, function() end)\n");
    /* RTO ~200ms > 50ms objective: a critical objective gap. */
    assert_int_equal(code, LB_EXIT_GAPS);
    assert_true(f->view->rto_ms >= 200);
    assert_true(f->view->rto_ms < 2000);
    /* Only the RTO gap: with no RPO objective, an unmeasured RPO is no gap. */
    assert_int_equal(f->view->ngaps, 1);
    assert_string_equal(f->view->gaps[0].category, "objective");
    assert_non_null(strstr(f->view->gaps[0].title, "RTO objective missed"));
}

static void test_engine_failed_validation_means_not_recovered(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'norec', title = 'not recovered' }\n"
        "step('the fault', { kind = 'fault' }, function() end)\n"
        "step('restore', { kind = 'restore' }, function() end)\n"
        "step('validate', { kind = 'check' }, function() expect(false, 'data is back') end)\n");
    assert_int_equal(code, LB_EXIT_GAPS);
    assert_int_equal(f->view->rto_ms, -1);
    int found = 0;
    for (size_t i = 0; i < f->view->ngaps; i++)
        if (strstr(f->view->gaps[i].title, "not recovered"))
            found = 1;
    assert_true(found);
}

static void test_engine_load_error_stores_no_run(void **state)
{
    struct fixture *f = *state;
    int code = run(f, "scenario { id = 'bad', title = 'bad' }\nstep('x', function() end\n");
    assert_int_equal(code, LB_EXIT_USAGE);
    assert_string_equal(f->res.run_id, "");
    assert_non_null(f->res.errors);
    assert_non_null(strstr(f->res.errors, "scenario.lua:"));
    struct lb_run_view **runs = NULL;
    size_t n = 9;
    struct lb_err err = {0};
    assert_int_equal(lb_store_list_runs(f->store, NULL, 0, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    lb_run_list_free(runs, n);
}

static void test_engine_retries_a_step_until_it_passes(void **state)
{
    struct fixture *f = *state;
    int code = run(f,
        "scenario { id = 'retry', title = 'retry' }\n"
        "local tries = 0\n"
        "step('flaky', { retry = { attempts = 3, delay = '10ms' } }, function()\n"
        "  tries = tries + 1\n"
        "  if tries < 3 then error('not yet') end\n"
        "end)\n"
        "step('count', function() expect(tries == 3, 'three attempts') end)\n");
    assert_int_equal(code, 0);
    assert_string_equal(step(f->view, "flaky")->status, "passed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_runs_steps_in_declared_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_runs_rollbacks_lifo_after_a_critical_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_a_failed_rollback_exits_5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_times_out_a_lua_busy_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_pcall_cannot_swallow_the_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_sandbox_has_no_os_io_or_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_measures_rto_from_fault_to_last_check, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_failed_validation_means_not_recovered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_load_error_stores_no_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_retries_a_step_until_it_passes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
