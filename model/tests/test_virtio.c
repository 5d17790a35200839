/* Unit tests for feature names and device status rules (model/virtio.c). */
#include "model/device_class.h"
#include "virtiosim/blk.h"
#include "virtiosim/virtio.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ACK = 1, DRV = 2, DOK = 4, FOK = 8, SUS = 16, RSV = 32, NRS = 64, FAIL = 128 };

START_TEST(feature_names)
{
    ck_assert_str_eq(vs_feature_name(VS_DEV_BLK, 29), "VIRTIO_F_EVENT_IDX");
    ck_assert_str_eq(vs_feature_name(VS_DEV_BLK, 5), "VIRTIO_BLK_F_RO");
    ck_assert_str_eq(vs_feature_name(VS_DEV_SCSI, 1), "VIRTIO_SCSI_F_HOTPLUG");
    ck_assert_str_eq(vs_feature_name(VS_DEV_CONSOLE, 1), "VIRTIO_CONSOLE_F_MULTIPORT");
    ck_assert_str_eq(vs_feature_name(VS_DEV_CONSOLE, 32), "VIRTIO_F_VERSION_1");
    ck_assert_str_eq(vs_feature_name(VS_DEV_SCSI, VS_F_SUSPEND), "VIRTIO_F_SUSPEND");
    ck_assert_ptr_null(vs_feature_name(VS_DEV_BLK, 3));
    ck_assert_ptr_null(vs_feature_name(VS_DEV_SCSI, 5));
    ck_assert_ptr_null(vs_feature_name(VS_DEV_BLK, 63));
    ck_assert_ptr_null(vs_feature_name(VS_DEV_BLK, 200));

    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "VIRTIO_F_EVENT_IDX"), 29);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "EVENT_IDX"), 29);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "event_idx"), 29);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "virtio_blk_f_ro"), 5);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "RO"), 5);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_SCSI, "HOTPLUG"), 1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_SCSI, "VIRTIO_SCSI_F_HOTPLUG"), 1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_CONSOLE, "VIRTIO_CONSOLE_F_MULTIPORT"), 1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_CONSOLE, "bit50"), 50);
    /* names of another device type, junk, partial names */
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "VIRTIO_SCSI_F_HOTPLUG"), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_SCSI, "RO"), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "EVENT"), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, ""), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, NULL), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "bit64"), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "bit"), -1);
    ck_assert_int_eq(vs_feature_bit(VS_DEV_BLK, "bit3x"), -1);

    /* every named bit round-trips, by full and by short name */
    const uint32_t devs[] = {VS_DEV_BLK, VS_DEV_SCSI, VS_DEV_CONSOLE};
    int named = 0;
    for (size_t d = 0; d < 3; d++) {
        for (unsigned b = 0; b < 64; b++) {
            const char *n = vs_feature_name(devs[d], b);
            if (!n)
                continue;
            named++;
            ck_assert_int_eq(vs_feature_bit(devs[d], n), (int)b);
            ck_assert_int_eq(vs_feature_bit(devs[d], strstr(n, "_F_") + 3), (int)b);
        }
    }
    ck_assert_int_ge(named, 3 * 15);
}
END_TEST

/* The generated registry holds blk's class; feature names come from it. */
START_TEST(device_classes)
{
    const vs_device_class *c = vs_device_class_by_id(VS_DEV_BLK);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c, vs_device_class_by_name("blk"));
    ck_assert_str_eq(c->name, "blk");
    ck_assert_str_eq(c->feature_prefix, "VIRTIO_BLK_F_");
    ck_assert_uint_eq(c->vhost_config_len, VS_BLK_CFG_SIZE);
    ck_assert_ptr_null(vs_device_class_by_id(0));
    ck_assert_ptr_null(vs_device_class_by_name("nosuch"));
    ck_assert_ptr_null(vs_device_class_by_name(NULL));
    unsigned n = 0;
    for (const vs_device_class *const *p = vs_device_classes; *p; p++, n++) {
        ck_assert_ptr_eq(*p, vs_device_class_by_id((*p)->device_id));
        for (unsigned i = 0; i < (*p)->nfeatures; i++) {
            const vs_dev_feature *f = &(*p)->features[i];
            ck_assert_int_eq(strncmp(f->name, (*p)->feature_prefix,
                                     strlen((*p)->feature_prefix)), 0);
            ck_assert_str_eq(vs_feature_name((*p)->device_id, f->bit), f->name);
            ck_assert_int_eq(vs_feature_bit((*p)->device_id, f->name), (int)f->bit);
        }
    }
    ck_assert_uint_ge(n, 1);
}
END_TEST

START_TEST(features_format)
{
    char buf[256];
    uint64_t f = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_BLK_F_RO) |
                 VS_BIT(37 + 10);
    size_t n = vs_features_format(VS_DEV_BLK, f, buf, sizeof buf);
    ck_assert_str_eq(buf, "RO|EVENT_IDX|VERSION_1|bit47");
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_uint_eq(vs_features_format(VS_DEV_BLK, 0, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "0");
    /* truncation: snprintf-like, always terminated */
    char small[8];
    n = vs_features_format(VS_DEV_BLK, f, small, sizeof small);
    ck_assert_uint_eq(n, strlen("RO|EVENT_IDX|VERSION_1|bit47"));
    ck_assert_str_eq(small, "RO|EVEN");
    ck_assert_uint_eq(vs_features_format(VS_DEV_BLK, f, NULL, 0), n);
    /* each token parses back */
    uint64_t back = 0;
    vs_features_format(VS_DEV_BLK, f, buf, sizeof buf);
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|")) {
        int b = vs_feature_bit(VS_DEV_BLK, tok);
        ck_assert_int_ge(b, 0);
        back |= VS_BIT(b);
    }
    ck_assert_uint_eq(back, f);
}
END_TEST

START_TEST(status_format)
{
    char buf[128];
    vs_status_format(ACK | DRV | FOK | DOK, buf, sizeof buf);
    ck_assert_str_eq(buf, "ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK");
    vs_status_format(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "0");
    size_t n = vs_status_format(0xff, buf, sizeof buf);
    ck_assert_str_eq(buf, "ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK|SUSPEND|DEVICE_NEEDS_RESET|"
                          "FAILED|bit5");
    ck_assert_uint_eq(n, strlen(buf));
    char small[5];
    ck_assert_uint_eq(vs_status_format(ACK, small, sizeof small), 11);
    ck_assert_str_eq(small, "ACKN");
}
END_TEST

/* Independent statement of the driver rules, as a list of what each write may do. */
static bool ref_driver_ok(unsigned cur, unsigned next)
{
    if (next == 0)
        return true; /* reset */
    if ((cur | next) != next)
        return false; /* something of cur is missing: a clear */
    unsigned add = next - cur; /* exact, since next is a superset of cur */
    if (add == 0)
        return true;
    if (add & (RSV | NRS))
        return false;
    if (cur & FAIL)
        return false;
    static const unsigned seq[4] = {ACK, DRV, FOK, DOK};
    int steps = 0;
    for (int i = 0; i < 4; i++) {
        if (!(add & seq[i]))
            continue;
        steps++;
        for (int j = 0; j < i; j++)
            if (!(cur & seq[j]))
                return false;
    }
    if (steps > 1)
        return false;
    if ((add & SUS) && !(cur & DOK))
        return false;
    return true;
}

START_TEST(driver_write_exhaustive)
{
    int legal = 0;
    for (unsigned cur = 0; cur < 256; cur++) {
        for (unsigned next = 0; next < 256; next++) {
            vs_err e = {0};
            int rc = vs_status_driver_write_ok((uint8_t)cur, (uint8_t)next, &e);
            bool want = ref_driver_ok(cur, next);
            ck_assert_msg(rc == 0 || rc == -VS_EPROTO, "cur %#x next %#x rc %d", cur, next, rc);
            ck_assert_msg((rc == 0) == want, "cur %#x next %#x: got %d (%s), want %s", cur,
                          next, rc, e.msg, want ? "legal" : "illegal");
            if (rc < 0) {
                ck_assert_int_eq(e.code, VS_EPROTO);
                ck_assert_msg(strlen(e.msg) > 10, "no message for %#x -> %#x", cur, next);
            }
            legal += rc == 0;
        }
    }
    /* Guard against both sides being trivially permissive or strict. */
    ck_assert_int_gt(legal, 256 + 256);
    ck_assert_int_lt(legal, 256 * 256 / 4);
}
END_TEST

START_TEST(driver_write_cases)
{
    static const struct {
        uint8_t cur, next;
        bool ok;
        const char *msg_has;
    } cases[] = {
        {0, ACK, true, NULL},
        {ACK, ACK | DRV, true, NULL},
        {ACK | DRV, ACK | DRV | FOK, true, NULL},
        {ACK | DRV | FOK, ACK | DRV | FOK | DOK, true, NULL},
        {ACK | DRV | FOK | DOK, 0, true, NULL},
        {ACK | DRV | FOK | DOK, ACK | DRV | FOK | DOK, true, NULL},
        {ACK | DRV, ACK | DRV | FAIL, true, NULL},
        {0, FAIL, true, NULL},
        {ACK | DRV | FOK | DOK, ACK | DRV | FOK | DOK | SUS, true, NULL},
        {ACK | DRV | FOK | SUS, ACK | DRV | FOK | SUS | DOK, true, NULL}, /* resume */
        {ACK | DRV | FOK | DOK | NRS, ACK | DRV | FOK | DOK | NRS | FAIL, true, NULL},
        {0, ACK | DRV, false, "one write"},
        {ACK, ACK | FOK, false, "FEATURES_OK before DRIVER"},
        {ACK | DRV, ACK | DRV | DOK, false, "DRIVER_OK before FEATURES_OK"},
        {0, DRV, false, "DRIVER before ACKNOWLEDGE"},
        {ACK | DRV, ACK, false, "clears DRIVER"},
        {ACK | DRV | FOK | DOK, ACK | DRV | FOK | DOK | NRS, false, "DEVICE_NEEDS_RESET"},
        {ACK | DRV | FOK | DOK | NRS, ACK | DRV | FOK | DOK, false, "clears"},
        {ACK | FAIL, ACK | DRV | FAIL, false, "FAILED"},
        {ACK | DRV | FOK, ACK | DRV | FOK | SUS, false, "SUSPEND"},
        {ACK, ACK | RSV, false, "reserved"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vs_err e = {0};
        int rc = vs_status_driver_write_ok(cases[i].cur, cases[i].next, &e);
        ck_assert_msg((rc == 0) == cases[i].ok, "case %zu: %#x -> %#x rc %d %s", i,
                      cases[i].cur, cases[i].next, rc, e.msg);
        if (cases[i].msg_has)
            ck_assert_msg(strstr(e.msg, cases[i].msg_has), "case %zu: message '%s' lacks '%s'",
                          i, e.msg, cases[i].msg_has);
    }
    /* NULL error sink is fine */
    ck_assert_int_eq(vs_status_driver_write_ok(0, DRV, NULL), -VS_EPROTO);
}
END_TEST

/* Independent statement of the device rules. */
static bool ref_device_ok(unsigned cur, unsigned next)
{
    if (next & ~cur & ~(unsigned)NRS)
        return false; /* the only bit a device adds */
    unsigned gone = cur & ~next;
    if ((gone & FOK) && (cur & DOK))
        return false; /* feature refusal happens before DRIVER_OK */
    if ((gone & DOK) && !(next & SUS))
        return false; /* suspend completed: DRIVER_OK drops, SUSPEND stays */
    if ((gone & SUS) && !(next & DOK) && (cur & FOK))
        return false; /* resume completed: SUSPEND drops, DRIVER_OK stays */
    if (gone & (ACK | DRV | RSV | NRS | FAIL))
        return false;
    return true;
}

START_TEST(device_change)
{
    vs_err e = {0};
    /* refusal of features */
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK, ACK | DRV, &e), 0);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK, ACK | DRV | DOK, &e),
                     -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "FEATURES_OK"));
    /* needs reset at any time */
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK,
                                                ACK | DRV | FOK | DOK | NRS, &e),
                     0);
    ck_assert_int_eq(vs_status_device_change_ok(ACK, ACK | NRS, &e), 0);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK, ACK | DRV | NRS, &e), 0);
    /* suspend handshake */
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK | SUS,
                                                ACK | DRV | FOK | SUS, &e),
                     0);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK | SUS,
                                                ACK | DRV | FOK | DOK, &e),
                     0);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | SUS, ACK | DRV | FOK, &e),
                     -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "SUSPEND"));
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK | SUS, ACK | DRV | FOK, &e),
                     -VS_EPROTO);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK, ACK | DRV | FOK, &e),
                     -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "DRIVER_OK"));
    /* a device never sets driver bits, nor resets itself, nor clears its own flag */
    ck_assert_int_eq(vs_status_device_change_ok(ACK, ACK | DRV, &e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "DRIVER"));
    ck_assert_int_eq(vs_status_device_change_ok(ACK | DRV | FOK | DOK, 0, &e), -VS_EPROTO);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | NRS, ACK, &e), -VS_EPROTO);
    ck_assert_int_eq(vs_status_device_change_ok(ACK | FAIL, ACK, &e), -VS_EPROTO);
    ck_assert_int_eq(vs_status_device_change_ok(ACK, ACK | FAIL, &e), -VS_EPROTO);
    ck_assert_int_eq(vs_status_device_change_ok(0x55, 0x55, &e), 0);

    for (unsigned cur = 0; cur < 256; cur++)
        for (unsigned next = 0; next < 256; next++) {
            int rc = vs_status_device_change_ok((uint8_t)cur, (uint8_t)next, &e);
            ck_assert_msg((rc == 0) == ref_device_ok(cur, next), "device %#x -> %#x: %d %s",
                          cur, next, rc, e.msg);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, feature_names);
    tcase_add_test(tc, device_classes);
    tcase_add_test(tc, features_format);
    tcase_add_test(tc, status_format);
    tcase_add_test(tc, driver_write_exhaustive);
    tcase_add_test(tc, driver_write_cases);
    tcase_add_test(tc, device_change);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
