/* The vhost-kernel transport's failure paths, which need no /dev/vhost-scsi: bad options,
 * a missing device node, and a node that is not a vhost device (every ioctl refused).
 * The working path runs in the test guest (tests/test_vhost_kernel.py). */
#define _GNU_SOURCE
#include <check.h>
#include <string.h>

#include "virtiosim/gmem.h"
#include "virtiosim/vhost_kernel.h"

static vs_vhost_kernel_opts opts(const char *path)
{
    vs_vhost_kernel_opts o = {.device_id = VS_DEV_SCSI, .num_queues = 3, .config_len = 36};
    strncpy(o.dev_path, path, sizeof o.dev_path - 1);
    return o;
}

START_TEST(bad_options_are_refused)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    vs_transport *t = NULL;
    vs_vhost_kernel_opts o = opts("");
    ck_assert_int_eq(vs_vhost_kernel_transport_create(&t, gm, &o, NULL, &e), -VS_EINVAL);
    o = opts("/dev/null");
    o.num_queues = 0;
    ck_assert_int_eq(vs_vhost_kernel_transport_create(&t, gm, &o, NULL, &e), -VS_EINVAL);
    o.num_queues = VS_VHOST_KERNEL_MAX_QUEUES + 1;
    ck_assert_int_eq(vs_vhost_kernel_transport_create(&t, gm, &o, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_null(t);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(missing_node_is_a_backend_error)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    vs_transport *t = NULL;
    vs_vhost_kernel_opts o = opts("/nonexistent/vhost-scsi");
    ck_assert_int_eq(vs_vhost_kernel_transport_create(&t, gm, &o, NULL, &e), -VS_EBACKEND);
    ck_assert_msg(strstr(e.msg, "/nonexistent/vhost-scsi"), "%s", e.msg);
    ck_assert_ptr_null(t);
    vs_gmem_destroy(gm);
}
END_TEST

/* /dev/null takes no ioctl: the first one (SET_OWNER, legal on the model) fails in the
 * kernel and is reported with its name; nothing is left open. */
START_TEST(refused_ioctl_is_named)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    vs_transport *t = NULL;
    vs_vhost_kernel_opts o = opts("/dev/null");
    ck_assert_int_eq(vs_vhost_kernel_transport_create(&t, gm, &o, NULL, &e), -VS_EBACKEND);
    ck_assert_msg(strstr(e.msg, "VHOST_SET_OWNER on /dev/null"), "%s", e.msg);
    ck_assert_ptr_null(t);
    ck_assert(!vs_vhost_kernel_transport_is(t));
    ck_assert_uint_eq(vs_vhost_kernel_features(t), 0);
    vs_gmem_destroy(gm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vhost_kernel");
    TCase *tc = tcase_create("vhost_kernel");
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, missing_node_is_a_backend_error);
    tcase_add_test(tc, refused_ioctl_is_named);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
