/* A device is added by folders alone: the toy device (model/tests/dev/toy,
 * conformance/tests/dev/toy, sim/tests/dev/toy) is not known to any core file; this
 * program is linked with registries generated over the real device folders plus the toy's
 * (Makefile: TOY_DIRS). The scenario loader, the runner, the driver model, the monitors
 * and the reports then handle it like blk: its steps parse, its requests run, its check is
 * judged, and its mutant is caught. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/device_class.h"
#include "model/tests/dev/toy/toy.h"
#include "sim/sim_dev.h"
#include "virtiosim/conformance.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/virtio.h"

static char *write_scenario(const char *body)
{
    char *path = strdup("/tmp/virtiosim-toy-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    return path;
}

static const char *const SCENARIO =
    "name: toy-echo\n"
    "description: the toy echoes\n"
    "device:\n"
    "  kind: toy\n"
    "%s"
    "steps:\n"
    "  - init\n"
    "  - echo: {bytes: 100}\n"
    "  - echo: {bytes: 4096}\n"
    "  - reset\n";

static void run_toy_on(const char *backend, const char *extra, vs_scenario_result *r)
{
    char body[512];
    snprintf(body, sizeof body, SCENARIO, extra);
    char *path = write_scenario(body);
    vs_scenario *s;
    vs_err e = {0};
    ck_assert_msg(vs_scenario_load(path, &s, &e) == 0, "load: %s", e.msg);
    vs_run_opts o = {.backend = backend};
    memset(r, 0, sizeof *r);
    ck_assert_int_ge(vs_run_scenario(s, &o, r, &e), 0);
    vs_scenario_free(s);
    unlink(path);
    free(path);
}

static void run_toy(const char *extra, vs_scenario_result *r)
{
    run_toy_on("ref", extra, r);
}

static const vs_check_result *toy_check(const vs_scenario_result *r)
{
    const vs_results *res = r->conformance;
    ck_assert_ptr_nonnull(res);
    for (size_t i = 0; i < res->n_check; i++)
        if (strcmp(res->check[i].check->name, "toy-echo-len") == 0)
            return &res->check[i];
    ck_abort_msg("toy-echo-len is not in the check registry");
    return NULL;
}

START_TEST(registries_list_the_toy)
{
    ck_assert_ptr_nonnull(vs_device_class_by_name("toy"));
    ck_assert_ptr_nonnull(vs_sim_dev_by_id(VS_TOY_DEVICE_ID));
    ck_assert_ptr_nonnull(vs_check_find("toy-echo-len"));
    ck_assert_ptr_nonnull(vs_sim_dev_by_name("blk"));   /* blk is still there */
    char names[256];
    vs_features_format(VS_TOY_DEVICE_ID, VS_BIT(VS_TOY_F_ECHO), names, sizeof names);
    ck_assert_msg(strstr(names, "ECHO") != NULL, "%s", names);   /* named by its class */
}
END_TEST

START_TEST(toy_scenario_runs_and_is_judged)
{
    vs_scenario_result r;
    run_toy("", &r);
    ck_assert_msg(r.verdict == VS_SCN_PASS, "verdict %d: %s", r.verdict, r.message);
    ck_assert_uint_eq(r.device_id, VS_TOY_DEVICE_ID);
    const vs_check_result *k = toy_check(&r);
    ck_assert_uint_eq(k->exercised, 2);
    ck_assert_uint_eq(k->violations, 0);
    vs_scenario_result_clear(&r);
}
END_TEST

START_TEST(toy_mutant_is_caught)
{
    vs_scenario_result r;
    run_toy("  broken: true\n", &r);
    ck_assert_int_eq(r.verdict, VS_SCN_FAIL);
    ck_assert_msg(strstr(r.message, "used len 99") != NULL, "%s", r.message);
    const vs_check_result *k = toy_check(&r);
    ck_assert_uint_ge(k->violations, 1);
    vs_scenario_result_clear(&r);
}
END_TEST

/* The toy has no QEMU or qemu-storage-daemon presentation: those back-ends skip its
 * scenarios with the reason instead of calling a hook it does not have. */
START_TEST(unpresented_backends_skip)
{
    static const char *const backends[] = {"qemu", "qsd", "qemu-vhost-user:/nonexistent"};
    for (unsigned i = 0; i < 3; i++) {
        vs_scenario_result r;
        run_toy_on(backends[i], "", &r);
        ck_assert_int_eq(r.verdict, VS_SCN_SKIPPED);
        ck_assert_msg(strstr(r.message, "the device has no") ||
                          strstr(r.message, "does not export the device"), "%s", r.message);
        vs_scenario_result_clear(&r);
    }
}
END_TEST

START_TEST(unknown_toy_key_is_an_error)
{
    char body[512];
    snprintf(body, sizeof body, SCENARIO, "  colour: red\n");
    char *path = write_scenario(body);
    vs_scenario *s;
    vs_err e = {0};
    ck_assert_int_lt(vs_scenario_load(path, &s, &e), 0);
    ck_assert_msg(strstr(e.msg, ":5:3: unknown key 'colour'") && strstr(e.msg, "broken"), "%s", e.msg);
    unlink(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("toy_device");
    TCase *tc = tcase_create("toy");
    tcase_add_test(tc, registries_list_the_toy);
    tcase_add_test(tc, toy_scenario_runs_and_is_judged);
    tcase_add_test(tc, toy_mutant_is_caught);
    tcase_add_test(tc, unknown_toy_key_is_an_error);
    tcase_add_test(tc, unpresented_backends_skip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
