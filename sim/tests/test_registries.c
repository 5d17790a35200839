/* The simulator's registries: the back-ends --backend names, the scenario's device and
 * its steps (core and device), the mutants of every device. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/backend_dev.h"
#include "sim/sim_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/virtio.h"

START_TEST(backend_names)
{
    const char *arg = "x";
    const vs_backend *b = vs_backend_find("ref", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(arg);
    ck_assert_uint_eq(b->caps, 0);
    b = vs_backend_find("pci", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert(b->caps & VS_BE_PCI);
    ck_assert_uint_eq(b->applies, VS_BACKEND_REF);
    b = vs_backend_find("vhost-user:/tmp/s", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(arg, "/tmp/s");
    ck_assert(b->caps & VS_BE_EXTERNAL);
    b = vs_backend_find("qemu-vhost-user:/tmp/q", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(arg, "/tmp/q");
    ck_assert(b->caps & VS_BE_QEMU);
    ck_assert_str_eq(b->family, "qemu");
    ck_assert_ptr_null(vs_backend_find("vhost-user", &arg));
    ck_assert_ptr_null(vs_backend_find("refx", &arg));
    ck_assert_ptr_null(vs_backend_find("", &arg));
    /* the kernel's vhost device: directly (with its node), or in the test guest (a batch) */
    b = vs_backend_find("vhost-kernel:/dev/vhost-scsi", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(arg, "/dev/vhost-scsi");
    ck_assert_ptr_nonnull(b->build);
    ck_assert_ptr_null(b->batch);
    b = vs_backend_find("vhost-kernel", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(arg);
    ck_assert_ptr_null(b->build);
    ck_assert_ptr_nonnull(b->batch);
    char names[200];
    vs_backend_names(names, sizeof names);
    ck_assert_str_eq(names,
                     "ref, pci, qemu, qsd, vhost-user:SOCKET, qemu-vhost-user:SOCKET, guest, "
                     "vhost-kernel:DEV, vhost-kernel");
    b = vs_backend_find("guest", &arg);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(arg);
    ck_assert_ptr_nonnull(b->run); /* the guest runs whole scenarios, no transport */
    ck_assert_str_eq(b->family, "guest");
    vs_backend_names(names, 8); /* cut short, still a string */
    ck_assert_uint_lt(strlen(names), 8);
}
END_TEST

START_TEST(every_device_is_complete)
{
    size_t n = 0, defaults = 0;
    for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++, n++) {
        defaults += (*d)->default_kind;
        /* a hook a back-end calls needs its partner (expect: config: parses, then runs) */
        ck_assert((*d)->steps->expect_config == NULL || (*d)->steps->expect_config_run);
        ck_assert_ptr_eq(vs_sim_dev_by_name((*d)->name), *d);
        ck_assert_ptr_eq(vs_sim_dev_by_id((*d)->device_id), *d);
        ck_assert_ptr_nonnull((*d)->steps);
        ck_assert_ptr_nonnull((*d)->steps->defaults);
        ck_assert_ptr_nonnull((*d)->steps->device_keys);
        ck_assert_ptr_nonnull((*d)->backends);
        ck_assert_ptr_nonnull((*d)->backends->ref_create);
        /* a device's step never shadows a core step */
        for (const vs_step_type *const *t = (*d)->steps->steps; *t; t++) {
            ck_assert_ptr_nonnull((*t)->run);
            for (const vs_step_type *const *c = vs_core_steps; *c; c++)
                ck_assert_str_ne((*t)->name, (*c)->name);
        }
    }
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_eq(defaults, 1);   /* scenarios without `kind` keep meaning one device */
    ck_assert_ptr_null(vs_sim_dev_by_name("no-such-device"));
}
END_TEST

START_TEST(mutant_names_are_unique)
{
    size_t n = vs_mutant_count();
    ck_assert_uint_ge(n, 100);
    for (size_t i = 0; i < n; i++) {
        const vs_mutant *m = vs_mutant_at(i);
        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_eq(vs_mutant_find(m->name), m);
    }
    ck_assert_ptr_null(vs_mutant_at(n));
}
END_TEST

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/vs-registries-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(scenario_keeps_its_device)
{
    char *path = write_file("name: t\ndescription: d\ndevice: {kind: blk, capacity: 64k}\n"
                            "steps:\n  - init\n  - write: {sector: 0, count: 8}\n"
                            "  - read: {sector: 0, count: 8}\n  - fault: {kind: loop}\n");
    vs_scenario *s;
    vs_err e = {0};
    ck_assert_int_eq(vs_scenario_load(path, &s, &e), 0);
    ck_assert_ptr_eq(s->dev, vs_sim_dev_by_name("blk"));
    ck_assert_uint_eq(s->device_id, VS_DEV_BLK);
    ck_assert_ptr_nonnull(s->dev_opts);
    ck_assert_uint_eq(s->nsteps, 4);
    ck_assert_str_eq(s->steps[0].type->name, "init");
    ck_assert_str_eq(s->steps[1].type->name, "write");
    ck_assert_ptr_nonnull(s->steps[1].dev);
    ck_assert_ptr_null(s->steps[3].dev);
    ck_assert_uint_eq(s->steps[3].line, 8);
    ck_assert_uint_eq(s->steps[3].col, 5);

    vs_scenario_result r;
    vs_run_opts o = {.backend = "pci"};
    ck_assert_int_eq(vs_run_scenario(s, &o, &r, &e), 0);
    ck_assert_msg(r.verdict == VS_SCN_PASS, "%s", r.message);
    ck_assert_uint_eq(r.device_id, VS_DEV_BLK);
    ck_assert_uint_eq(r.requests, 2);
    vs_scenario_result_clear(&r);
    o.backend = "nope";
    ck_assert_int_lt(vs_run_scenario(s, &o, &r, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "back-end 'nope' is not available"));
    vs_scenario_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(unknown_device_names_its_place)
{
    char *path = write_file("name: t\ndescription: d\ndevice:\n  capacity: 1MiB\n  kind: net\n"
                            "steps: [init]\n");
    vs_scenario *s = NULL;
    vs_err e = {0};
    ck_assert_int_lt(vs_scenario_load(path, &s, &e), 0);
    /* the list is the registry's (blk first; more devices as their folders arrive) */
    char want[256];
    snprintf(want, sizeof want, "%s:5:9: expected one of blk", path);
    ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0 && strstr(e.msg, ", found net"),
                  "%s", e.msg);
    unlink(path);
    free(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("registries");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, backend_names);
    tcase_add_test(tc, every_device_is_complete);
    tcase_add_test(tc, mutant_names_are_unique);
    tcase_add_test(tc, scenario_keeps_its_device);
    tcase_add_test(tc, unknown_device_names_its_place);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
