/* Unit tests of the virtio-scsi codec (model/dev/scsi/scsi_codec.c): round trips against
 * hand-written wire bytes, and rejection of short or malformed input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/device_class.h"
#include "virtiosim/scsi.h"

START_TEST(config_layout_and_fields)
{
    vs_scsi_config c = {.num_queues = 4, .seg_max = 126, .max_sectors = 0xffff,
                        .cmd_per_lun = 128, .event_info_size = 16, .sense_size = 96,
                        .cdb_size = 32, .max_channel = 0, .max_target = 255,
                        .max_lun = 16383};
    uint8_t p[VS_SCSI_CFG_SIZE];
    memset(p, 0xee, sizeof p);
    vs_scsi_config_put(p, &c);
    static const uint8_t want[VS_SCSI_CFG_SIZE] = {
        4, 0, 0, 0, 126, 0, 0, 0, 0xff, 0xff, 0, 0, 128, 0, 0, 0, 16, 0, 0, 0,
        96, 0, 0, 0, 32, 0, 0, 0, 0, 0, 255, 0, 0xff, 0x3f, 0, 0};
    ck_assert_mem_eq(p, want, sizeof want);
    vs_scsi_config d;
    vs_scsi_config_get(p, &d);
    ck_assert_mem_eq(&c, &d, sizeof c);

    ck_assert_uint_eq(vs_scsi_cfg_nfields, 10);
    const vs_scsi_cfg_field *f = vs_scsi_cfg_field_find("sense_size");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->off, 20);
    ck_assert(f->driver_writable);
    ck_assert(vs_scsi_cfg_field_find("cdb_size")->driver_writable);
    ck_assert(!vs_scsi_cfg_field_find("num_queues")->driver_writable);
    ck_assert_ptr_null(vs_scsi_cfg_field_find("capacity"));
    ck_assert_ptr_null(vs_scsi_cfg_field_find(NULL));
    /* every byte belongs to exactly one field, none past the end */
    unsigned writable = 0;
    for (uint32_t off = 0; off < VS_SCSI_CFG_SIZE; off++) {
        ck_assert_ptr_nonnull(vs_scsi_cfg_field_at(off));
        writable += vs_scsi_cfg_field_at(off)->driver_writable;
    }
    ck_assert_uint_eq(writable, 8);
    ck_assert_str_eq(vs_scsi_cfg_field_at(31)->name, "max_target");
    ck_assert_ptr_null(vs_scsi_cfg_field_at(VS_SCSI_CFG_SIZE));
}
END_TEST

START_TEST(cmd_req_round_trip_any_cdb_size)
{
    static const uint32_t sizes[] = {0, 6, 16, 32, 255, 256, 300};
    uint8_t buf[VS_SCSI_REQ_FIXED + 300 + VS_SCSI_PI_BYTES];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int pi = 0; pi < 2; pi++) {
            uint32_t cs = sizes[i];
            vs_scsi_cmd_req r = {.id = 0x1122334455667788ull, .task_attr = 2, .prio = 3,
                                 .crn = 4, .pi_bytesout = pi ? 8 : 0,
                                 .pi_bytesin = pi ? 16 : 0};
            vs_scsi_lun_encode(r.lun, 5, 300);
            r.cdb_len = cs < VS_SCSI_CDB_MAX ? cs : VS_SCSI_CDB_MAX;
            for (uint32_t k = 0; k < r.cdb_len; k++)
                r.cdb[k] = (uint8_t)(k + 1);
            uint64_t n = vs_scsi_cmd_req_len(cs, pi);
            ck_assert_uint_eq(n, 19 + cs + (pi ? 8 : 0));
            ck_assert_int_eq(vs_scsi_cmd_req_put(buf, n - 1, cs, pi, &r), -VS_EINVAL);
            ck_assert_int_eq(vs_scsi_cmd_req_put(buf, sizeof buf, cs, pi, &r), (int64_t)n);
            ck_assert_uint_eq(buf[8], 0x88);  /* id little-endian */
            ck_assert_uint_eq(buf[16], 2);
            if (cs)
                ck_assert_uint_eq(buf[19], 1);
            vs_scsi_cmd_req d;
            ck_assert_int_eq(vs_scsi_cmd_req_get(buf, n - 1, cs, pi, &d), -VS_EINVAL);
            ck_assert_int_eq(vs_scsi_cmd_req_get(buf, n, cs, pi, &d), 0);
            ck_assert_mem_eq(d.lun, r.lun, 8);
            ck_assert_uint_eq(d.id, r.id);
            ck_assert_uint_eq(d.task_attr, 2);
            ck_assert_uint_eq(d.prio, 3);
            ck_assert_uint_eq(d.crn, 4);
            ck_assert_uint_eq(d.cdb_len, r.cdb_len);
            ck_assert_mem_eq(d.cdb, r.cdb, r.cdb_len);
            ck_assert_uint_eq(d.pi_bytesout, pi ? 8 : 0);
            ck_assert_uint_eq(d.pi_bytesin, pi ? 16 : 0);
        }
    }
    /* a short CDB is zero-padded to cdb_size */
    vs_scsi_cmd_req r = {.cdb_len = 6, .cdb = {0x12, 1, 2, 3, 4, 5}};
    memset(buf, 0xaa, sizeof buf);
    ck_assert_int_eq(vs_scsi_cmd_req_put(buf, sizeof buf, 32, false, &r), 51);
    ck_assert_uint_eq(buf[19 + 5], 5);
    ck_assert_uint_eq(buf[19 + 6], 0);
    ck_assert_uint_eq(buf[19 + 31], 0);
    ck_assert_uint_eq(buf[51], 0xaa);
}
END_TEST

START_TEST(cmd_resp_sense_truncation)
{
    vs_scsi_cmd_resp r = {.sense_len = 18, .residual = 4096, .status_qualifier = 0x1234,
                          .status = VS_SCSI_ST_CHECK_CONDITION, .response = VS_SCSI_S_OK};
    vs_scsi_sense s = {.key = VS_SCSI_SK_ILLEGAL_REQUEST, .asc = 0x20};
    vs_scsi_sense_build(r.sense, &s);
    uint8_t buf[12 + 300];
    memset(buf, 0xaa, sizeof buf);
    /* sense_size 8: only 8 bytes of sense written, nothing after */
    ck_assert_int_eq(vs_scsi_cmd_resp_put(buf, 19, 8, &r), -VS_EINVAL);
    ck_assert_int_eq(vs_scsi_cmd_resp_put(buf, sizeof buf, 8, &r), 20);
    ck_assert_uint_eq(buf[0], 18);
    ck_assert_uint_eq(buf[5], 0x10);
    ck_assert_uint_eq(buf[8], 0x34);
    ck_assert_uint_eq(buf[10], 2);
    ck_assert_uint_eq(buf[11], 0);
    ck_assert_uint_eq(buf[12], 0x70);
    ck_assert_uint_eq(buf[14], 5);
    ck_assert_uint_eq(buf[20], 0xaa);
    /* sense_size 96: 18 bytes of sense then zeros */
    ck_assert_int_eq(vs_scsi_cmd_resp_put(buf, sizeof buf, 96, &r), 108);
    ck_assert_uint_eq(buf[12 + 12], 0x20);
    ck_assert_uint_eq(buf[12 + 18], 0);
    ck_assert_uint_eq(buf[12 + 95], 0);
    vs_scsi_cmd_resp d;
    ck_assert_int_eq(vs_scsi_cmd_resp_get(buf, 107, 96, &d), -VS_EINVAL);
    ck_assert_int_eq(vs_scsi_cmd_resp_get(buf, 108, 96, &d), 0);
    ck_assert_uint_eq(d.sense_len, 18);
    ck_assert_uint_eq(d.residual, 4096);
    ck_assert_uint_eq(d.status_qualifier, 0x1234);
    ck_assert_uint_eq(d.status, 2);
    ck_assert_mem_eq(d.sense, r.sense, 18);
    /* sense_size beyond what the struct holds: encoded zero-padded, decoded capped */
    ck_assert_int_eq(vs_scsi_cmd_resp_put(buf, sizeof buf, 300, &r), 312);
    ck_assert_int_eq(vs_scsi_cmd_resp_get(buf, sizeof buf, 300, &d), 0);
    ck_assert_uint_eq(d.sense[251], 0);
    /* sense_size 0: header only */
    ck_assert_int_eq(vs_scsi_cmd_resp_put(buf, 12, 0, &r), 12);
}
END_TEST

START_TEST(cmd_layout)
{
    vs_scsi_cmd_layout l;
    ck_assert_int_eq(vs_scsi_cmd_layout_of(51 + 4096, 108, 32, 96, false, 0, 0, &l), 0);
    ck_assert_uint_eq(l.hdr_len, 51);
    ck_assert_uint_eq(l.resp_len, 108);
    ck_assert_uint_eq(l.dout, 4096);
    ck_assert_uint_eq(l.din, 0);
    ck_assert_int_eq(vs_scsi_cmd_layout_of(50, 108, 32, 96, false, 0, 0, &l), -VS_EINVAL);
    ck_assert_int_eq(vs_scsi_cmd_layout_of(51, 107, 32, 96, false, 0, 0, &l), -VS_EINVAL);
    /* PI: counts come out of the data parts; too large is rejected */
    ck_assert_int_eq(vs_scsi_cmd_layout_of(59 + 8 + 512, 108 + 16 + 512, 32, 96, true, 8, 16,
                                           &l), 0);
    ck_assert_uint_eq(l.dout, 512);
    ck_assert_uint_eq(l.din, 512);
    ck_assert_uint_eq(l.pi_in, 16);
    ck_assert_int_eq(vs_scsi_cmd_layout_of(59, 108, 32, 96, true, 1, 0, &l), -VS_EINVAL);
    /* PI counts ignored without T10_PI */
    ck_assert_int_eq(vs_scsi_cmd_layout_of(51, 108, 32, 96, false, 9, 9, &l), 0);
}
END_TEST

START_TEST(ctrl_and_event_round_trip)
{
    uint8_t p[VS_SCSI_TMF_REQ_BYTES];
    vs_scsi_tmf_req t = {.type = VS_SCSI_T_TMF, .subtype = VS_SCSI_T_TMF_QUERY_TASK_SET,
                         .id = 0xabcdef};
    vs_scsi_lun_encode(t.lun, 1, 2);
    vs_scsi_tmf_req_put(p, &t);
    ck_assert_uint_eq(p[4], 7);
    ck_assert_uint_eq(p[8], 1);
    ck_assert_uint_eq(p[16], 0xef);
    vs_scsi_tmf_req u;
    vs_scsi_tmf_req_get(p, &u);
    ck_assert_uint_eq(u.subtype, 7);
    ck_assert_uint_eq(u.id, 0xabcdef);
    ck_assert_mem_eq(u.lun, t.lun, 8);

    uint8_t a[VS_SCSI_AN_REQ_BYTES], ar[VS_SCSI_AN_RESP_BYTES];
    vs_scsi_an_req an = {.type = VS_SCSI_T_AN_SUBSCRIBE,
                         .event_requested = VS_SCSI_EVT_ASYNC_MEDIA_CHANGE};
    vs_scsi_an_req_put(a, &an);
    ck_assert_uint_eq(a[0], 2);
    ck_assert_uint_eq(a[12], 16);
    vs_scsi_an_req an2;
    vs_scsi_an_req_get(a, &an2);
    ck_assert_uint_eq(an2.event_requested, 16);
    vs_scsi_an_resp rs = {.event_actual = 0x40, .response = VS_SCSI_S_FAILURE}, rs2;
    vs_scsi_an_resp_put(ar, &rs);
    vs_scsi_an_resp_get(ar, &rs2);
    ck_assert_uint_eq(rs2.event_actual, 0x40);
    ck_assert_uint_eq(ar[4], 9);

    uint8_t ev[VS_SCSI_EVENT_BYTES];
    vs_scsi_event e = {.event = VS_SCSI_T_PARAM_CHANGE | VS_SCSI_T_EVENTS_MISSED,
                       .reason = 0x2a | 0x09 << 8};
    vs_scsi_lun_encode(e.lun, 0, 1);
    vs_scsi_event_put(ev, &e);
    ck_assert_uint_eq(ev[3], 0x80);
    ck_assert_uint_eq(ev[12], 0x2a);
    ck_assert_uint_eq(ev[13], 0x09);
    vs_scsi_event e2;
    vs_scsi_event_get(ev, &e2);
    ck_assert_uint_eq(e2.event, e.event);
    ck_assert_uint_eq(e2.reason, e.reason);

    ck_assert_str_eq(vs_scsi_tmf_name(VS_SCSI_T_TMF_LOGICAL_UNIT_RESET), "LOGICAL_UNIT_RESET");
    ck_assert_ptr_null(vs_scsi_tmf_name(8));
    ck_assert_str_eq(vs_scsi_response_name(12, false), "INCORRECT_LUN");
    ck_assert_str_eq(vs_scsi_response_name(10, true), "FUNCTION_SUCCEEDED");
    ck_assert_ptr_null(vs_scsi_response_name(10, false));
    ck_assert_ptr_null(vs_scsi_response_name(200, true));
}
END_TEST

START_TEST(lun_format)
{
    uint8_t l[8];
    vs_scsi_lun_addr a;
    ck_assert_int_eq(vs_scsi_lun_encode(l, 7, 16383), 0);
    static const uint8_t want[8] = {1, 7, 0x7f, 0xff, 0, 0, 0, 0};
    ck_assert_mem_eq(l, want, 8);
    ck_assert_int_eq(vs_scsi_lun_decode(l, &a), 0);
    ck_assert_uint_eq(a.kind, VS_SCSI_LUN_SINGLE);
    ck_assert_uint_eq(a.target, 7);
    ck_assert_uint_eq(a.lun, 16383);
    ck_assert_int_eq(vs_scsi_lun_encode(l, 7, 16384), -VS_EINVAL);
    /* peripheral addressing, bus 0 */
    static const uint8_t per[8] = {1, 3, 0, 9, 0, 0, 0, 0};
    ck_assert_int_eq(vs_scsi_lun_decode(per, &a), 0);
    ck_assert_uint_eq(a.lun, 9);
    vs_scsi_lun_encode_report_luns(l);
    ck_assert_uint_eq(l[0], 0xc1);
    ck_assert_int_eq(vs_scsi_lun_decode(l, &a), 0);
    ck_assert_uint_eq(a.kind, VS_SCSI_LUN_REPORT_LUNS);
    static const uint8_t bad[][8] = {
        {0, 0, 0x40, 0, 0, 0, 0, 0},    /* byte 0 not 1 */
        {1, 0, 0x40, 0, 0, 0, 0, 1},    /* trailing bytes not zero */
        {1, 0, 0x80, 0, 0, 0, 0, 0},    /* logical unit addressing */
        {1, 0, 0xc0, 0, 0, 0, 0, 0},    /* extended addressing */
        {1, 0, 0x01, 0, 0, 0, 0, 0},    /* peripheral, bus 1 */
        {0xc1, 0x01, 0, 0, 0, 0, 1, 0}, /* well-known LUN with junk */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(vs_scsi_lun_decode(bad[i], &a), -VS_EINVAL);
        ck_assert_uint_eq(a.kind, VS_SCSI_LUN_BAD);
    }
}
END_TEST

START_TEST(status_codes)
{
    unsigned n = 0;
    for (unsigned s = 0; s < 256; s++)
        n += vs_scsi_status_is_sam((uint8_t)s);
    ck_assert_uint_eq(n, 8);
    ck_assert(vs_scsi_status_is_sam(0x40));
    ck_assert(!vs_scsi_status_is_sam(0x10));
    ck_assert(!vs_scsi_status_is_sam(0x01));
}
END_TEST

START_TEST(cdb_groups_and_rw)
{
    ck_assert_uint_eq(vs_scsi_cdb_len(0x00), 6);
    ck_assert_uint_eq(vs_scsi_cdb_len(0x28), 10);
    ck_assert_uint_eq(vs_scsi_cdb_len(0x5a), 10);
    ck_assert_uint_eq(vs_scsi_cdb_len(0x7f), 0);
    ck_assert_uint_eq(vs_scsi_cdb_len(0x88), 16);
    ck_assert_uint_eq(vs_scsi_cdb_len(0xa0), 12);
    ck_assert_uint_eq(vs_scsi_cdb_len(0xc0), 0);

    static const uint8_t r6[6] = {0x08, 0x1f, 0xff, 0xfe, 0, 0};
    vs_scsi_rw rw;
    ck_assert_int_eq(vs_scsi_cdb_rw(r6, 6, &rw), 0);
    ck_assert_uint_eq(rw.lba, 0x1ffffe);
    ck_assert_uint_eq(rw.nblocks, 256);
    ck_assert(rw.data && !rw.write);
    ck_assert_int_eq(vs_scsi_cdb_rw(r6, 5, &rw), -VS_EINVAL);
    static const uint8_t w10[10] = {0x2a, 0x08, 0x12, 0x34, 0x56, 0x78, 0, 0x01, 0x00, 0};
    ck_assert_int_eq(vs_scsi_cdb_rw(w10, 10, &rw), 0);
    ck_assert_uint_eq(rw.lba, 0x12345678);
    ck_assert_uint_eq(rw.nblocks, 256);
    ck_assert(rw.write && rw.data);
    ck_assert_uint_eq(rw.flags, 0x08);
    static const uint8_t v16[16] = {0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0};
    ck_assert_int_eq(vs_scsi_cdb_rw(v16, 16, &rw), 0);
    ck_assert(!rw.data && !rw.write);
    ck_assert_uint_eq(rw.lba, 9);
    ck_assert_uint_eq(rw.nblocks, 3);
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    ck_assert_int_eq(vs_scsi_cdb_rw(inq, 6, &rw), -VS_EINVAL);

    /* build -> parse for every opcode */
    static const uint8_t ops[] = {0x08, 0x0a, 0x28, 0x2a, 0x2f, 0x35, 0xa8, 0xaa, 0xaf,
                                  0x88, 0x8a, 0x8f, 0x91, 0x93};
    for (unsigned i = 0; i < sizeof ops; i++) {
        uint8_t cdb[16];
        vs_scsi_rw in = {.opcode = ops[i], .lba = 0x1234, .nblocks = 200}, out;
        int n = vs_scsi_cdb_rw_build(cdb, &in);
        ck_assert_int_eq(n, (int)vs_scsi_cdb_len(ops[i]));
        ck_assert_int_eq(vs_scsi_cdb_rw(cdb, (size_t)n, &out), 0);
        ck_assert_uint_eq(out.lba, 0x1234);
        ck_assert_uint_eq(out.nblocks, 200);
    }
    uint8_t cdb[16];
    vs_scsi_rw big = {.opcode = 0x28, .lba = 1ull << 32, .nblocks = 1};
    ck_assert_int_eq(vs_scsi_cdb_rw_build(cdb, &big), -VS_EINVAL);
    big = (vs_scsi_rw){.opcode = 0x08, .lba = 0, .nblocks = 257};
    ck_assert_int_eq(vs_scsi_cdb_rw_build(cdb, &big), -VS_EINVAL);
    big = (vs_scsi_rw){.opcode = 0x12};
    ck_assert_int_eq(vs_scsi_cdb_rw_build(cdb, &big), -VS_EINVAL);
}
END_TEST

START_TEST(unmap_list)
{
    vs_scsi_unmap_desc d[2] = {{.lba = 10, .nblocks = 4}, {.lba = 1ull << 40, .nblocks = 1}};
    uint8_t p[64];
    ck_assert_uint_eq(vs_scsi_unmap_build(p, 39, d, 2), 0);
    size_t n = vs_scsi_unmap_build(p, sizeof p, d, 2);
    ck_assert_uint_eq(n, 40);
    ck_assert_uint_eq(p[1], 38);
    ck_assert_uint_eq(p[3], 32);
    ck_assert_int_eq(vs_scsi_unmap_count(p, n), 2);
    vs_scsi_unmap_desc g;
    vs_scsi_unmap_desc_get(p, 1, &g);
    ck_assert_uint_eq(g.lba, 1ull << 40);
    ck_assert_uint_eq(g.nblocks, 1);
    ck_assert_int_eq(vs_scsi_unmap_count(p, n - 1), -VS_EINVAL); /* list longer than data */
    ck_assert_int_eq(vs_scsi_unmap_count(p, 7), -VS_EINVAL);
    p[3] = 33; /* descriptor length not a multiple of 16 */
    ck_assert_int_eq(vs_scsi_unmap_count(p, n), -VS_EINVAL);
    p[3] = 48; /* descriptors beyond the data length */
    ck_assert_int_eq(vs_scsi_unmap_count(p, n), -VS_EINVAL);
    ck_assert_uint_eq(vs_scsi_unmap_build(p, sizeof p, NULL, 0), 8);
    ck_assert_int_eq(vs_scsi_unmap_count(p, 8), 0);
}
END_TEST

START_TEST(sense_fixed_and_descriptor)
{
    uint8_t b[VS_SCSI_SENSE_FIXED_BYTES];
    vs_scsi_sense s = {.key = VS_SCSI_SK_UNIT_ATTENTION, .asc = 0x2a, .ascq = 0x09,
                       .info_valid = true, .info = 0x01020304}, t;
    vs_scsi_sense_build(b, &s);
    ck_assert_uint_eq(b[0], 0xf0);
    ck_assert_uint_eq(b[2], 6);
    ck_assert_uint_eq(b[3], 1);
    ck_assert_uint_eq(b[7], 10);
    ck_assert_uint_eq(b[12], 0x2a);
    ck_assert_uint_eq(b[13], 0x09);
    ck_assert_int_eq(vs_scsi_sense_parse(b, 18, &t), 0);
    ck_assert_uint_eq(t.response_code, 0x70);
    ck_assert_uint_eq(t.key, 6);
    ck_assert_uint_eq(t.asc, 0x2a);
    ck_assert_uint_eq(t.ascq, 9);
    ck_assert(t.info_valid);
    ck_assert_uint_eq(t.info, 0x01020304);
    ck_assert_int_eq(vs_scsi_sense_parse(b, 13, &t), -VS_EINVAL);
    static const uint8_t desc[8] = {0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0};
    ck_assert_int_eq(vs_scsi_sense_parse(desc, 8, &t), 0);
    ck_assert_uint_eq(t.key, 5);
    ck_assert_uint_eq(t.asc, 0x24);
    static const uint8_t junk[18] = {0x7f};
    ck_assert_int_eq(vs_scsi_sense_parse(junk, 18, &t), -VS_EINVAL);
    ck_assert_int_eq(vs_scsi_sense_parse(NULL, 0, &t), -VS_EINVAL);
}
END_TEST

START_TEST(be_helpers)
{
    uint8_t p[8];
    vs_scsi_be64_put(p, 0x0102030405060708ull);
    ck_assert_uint_eq(p[0], 1);
    ck_assert_uint_eq(p[7], 8);
    ck_assert_uint_eq(vs_scsi_be64_get(p), 0x0102030405060708ull);
    ck_assert_uint_eq(vs_scsi_be32_get(p + 4), 0x05060708u);
    ck_assert_uint_eq(vs_scsi_be16_get(p + 6), 0x0708u);
}
END_TEST

START_TEST(device_class_registered)
{
    const vs_device_class *c = vs_device_class_by_name("scsi");
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c, vs_device_class_by_id(VS_DEV_SCSI));
    ck_assert_uint_eq(c->device_id, 8);
    ck_assert_str_eq(c->feature_prefix, "VIRTIO_SCSI_F_");
    ck_assert_uint_eq(c->vhost_config_len, 36);
    ck_assert(c->num_queues_always);
    ck_assert_uint_eq(c->num_queues_off, VS_SCSI_CFG_NUM_QUEUES);
    ck_assert_uint_eq(c->num_queues_extra, 2);
    ck_assert_uint_eq(c->pci_class, 0x010000);
    ck_assert_str_eq(vs_feature_name(VS_DEV_SCSI, VS_SCSI_F_T10_PI), "VIRTIO_SCSI_F_T10_PI");
    ck_assert_str_eq(vs_feature_name(VS_DEV_SCSI, VS_SCSI_F_HOTPLUG), "VIRTIO_SCSI_F_HOTPLUG");
}
END_TEST

Suite *codec_suite(void);
Suite *codec_suite(void)
{
    Suite *s = suite_create("scsi_codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, config_layout_and_fields);
    tcase_add_test(tc, cmd_req_round_trip_any_cdb_size);
    tcase_add_test(tc, cmd_resp_sense_truncation);
    tcase_add_test(tc, cmd_layout);
    tcase_add_test(tc, ctrl_and_event_round_trip);
    tcase_add_test(tc, lun_format);
    tcase_add_test(tc, status_codes);
    tcase_add_test(tc, cdb_groups_and_rw);
    tcase_add_test(tc, unmap_list);
    tcase_add_test(tc, sense_fixed_and_descriptor);
    tcase_add_test(tc, be_helpers);
    tcase_add_test(tc, device_class_registered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
