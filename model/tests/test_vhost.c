/* Unit tests for the vhost protocol model (model/vhost.c, model/vhost_rules.c) and for
 * vs_gmem_create_external (model/gmem.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "virtiosim/gmem.h"
#include "virtiosim/vhost.h"
#include "virtiosim/virtio.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PF_BIT(b) (UINT64_C(1) << (b))
#define F_PROTO PF_BIT(VS_VHOST_F_PROTOCOL_FEATURES)
#define UA 0x7f0000000000ull /* user address of region 0 */
#define MEMSZ (1024u * 1024u)

static const uint64_t OFFER_F = PF_BIT(32) | PF_BIT(28) | PF_BIT(29) | PF_BIT(34);
static const uint64_t OFFER_PF = PF_BIT(VS_VHOST_PF_MQ) | PF_BIT(VS_VHOST_PF_REPLY_ACK) |
                                 PF_BIT(VS_VHOST_PF_CONFIG) | PF_BIT(VS_VHOST_PF_RESET_DEVICE);

static vs_vhost_backend_cfg cfg2(void)
{
    return (vs_vhost_backend_cfg){.features = OFFER_F, .proto_features = OFFER_PF,
                                  .num_queues = 2, .queue_max_size = 1024, .config_size = 60};
}

static void init_state(vs_vhost_state *s)
{
    vs_vhost_backend_cfg c = cfg2();
    vs_err e = {0};
    ck_assert_int_eq(vs_vhost_state_init(s, VS_VHOST_FLAVOUR_USER, &c, &e), 0);
}

static vs_vhost_msg mk(uint32_t req)
{
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, req, VS_VHOST_DIR_REQUEST);
    return m;
}

static vs_vhost_msg mk_u64(uint32_t req, uint64_t v, unsigned nfds)
{
    vs_vhost_msg m = mk(req);
    m.p.u64 = v;
    m.size = 8;
    m.nfds = nfds;
    return m;
}

static vs_vhost_msg mk_state(uint32_t req, uint32_t idx, uint32_t num)
{
    vs_vhost_msg m = mk(req);
    m.p.state = (vs_vhost_vring_state){idx, num};
    m.size = 8;
    return m;
}

static vs_vhost_msg mk_mem(uint64_t gpa, uint64_t size, uint64_t ua)
{
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_MEM_TABLE);
    m.p.mem.nregions = 1;
    m.p.mem.region[0] = (vs_vhost_mem_region){gpa, size, ua, 0};
    m.size = 8 + 32;
    m.nfds = 1;
    return m;
}

/* split ring of 256 at gpa 0x10000 (desc), 0x11000 (avail), 0x12000 (used) */
static vs_vhost_msg mk_addr(uint32_t idx, uint64_t desc_ua)
{
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_VRING_ADDR);
    m.p.addr = (vs_vhost_vring_addr){idx, 0, desc_ua, desc_ua + 0x2000, desc_ua + 0x1000, 0};
    m.size = 40;
    return m;
}

static vs_vhost_msg mk_config(uint32_t req, uint32_t off, uint32_t size)
{
    vs_vhost_msg m = mk(req);
    m.p.config.offset = off;
    m.p.config.size = size;
    m.size = 12 + size;
    return m;
}

static int kapply(vs_vhost_state *s, enum vs_vhost_kernel_op op, const vs_vhost_kernel_arg *arg,
                  vs_vhost_msg *m, vs_vhost_effect *fx, const char **rule, vs_err *e)
{
    int rc = vs_vhost_kernel_to_msg(op, arg, m, e);
    ck_assert_msg(rc == 0, "kernel_to_msg %s: %s", vs_vhost_kernel_op_name(op), e->msg);
    return vs_vhost_apply(s, m, fx, rule, e);
}

static void must_apply(vs_vhost_state *s, vs_vhost_msg m)
{
    vs_vhost_effect fx;
    vs_err e = {0};
    const char *rule = NULL;
    int rc = vs_vhost_apply(s, &m, &fx, &rule, &e);
    ck_assert_msg(rc == 0, "%s rejected: %s", vs_vhost_req_name(m.request), e.msg);
}

static void must_reject(vs_vhost_state *s, vs_vhost_msg m, const char *want_rule)
{
    vs_vhost_effect fx;
    vs_err e = {0};
    const char *rule = NULL;
    vs_vhost_state before = *s;
    int rc = vs_vhost_apply(s, &m, &fx, &rule, &e);
    ck_assert_msg(rc < 0, "%s accepted, expected %s", vs_vhost_req_name(m.request), want_rule);
    ck_assert_msg(rule && strcmp(rule, want_rule) == 0, "%s: rule %s, expected %s (%s)",
                  vs_vhost_req_name(m.request), rule ? rule : "(null)", want_rule, e.msg);
    ck_assert_msg(strstr(e.msg, want_rule) != NULL, "message lacks rule id: %s", e.msg);
    ck_assert_ptr_nonnull(vs_vhost_rule_find(rule));
    before.n_rejected++;
    ck_assert_msg(memcmp(&before, s, sizeof before) == 0, "rejection changed the state");
}

/* ------------------------------------------------------------------ codec */

static void roundtrip(const vs_vhost_msg *m, enum vs_vhost_dir dir)
{
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    vs_err e = {0};
    int n = vs_vhost_msg_encode(m, buf, sizeof buf, &e);
    ck_assert_msg(n >= 12, "encode %s: %s", vs_vhost_req_name(m->request), e.msg);
    vs_vhost_msg d;
    const char *rule = "x";
    int rc = vs_vhost_msg_decode(buf, (size_t)n, dir, m->nfds, &d, &rule, &e);
    ck_assert_msg(rc == 0, "decode %s: %s", vs_vhost_req_name(m->request), e.msg);
    ck_assert_ptr_null(rule);
    ck_assert_uint_eq(d.request, m->request);
    ck_assert_uint_eq(d.flags, m->flags);
    ck_assert_uint_eq(d.size, (uint32_t)n - 12);
    ck_assert_int_eq(d.kind, m->kind);
    ck_assert_uint_eq(d.nfds, m->nfds);
    switch (m->kind) {
    case VS_VHOST_P_U64: ck_assert_uint_eq(d.p.u64, m->p.u64); break;
    case VS_VHOST_P_STATE:
        ck_assert_uint_eq(d.p.state.index, m->p.state.index);
        ck_assert_uint_eq(d.p.state.num, m->p.state.num);
        break;
    case VS_VHOST_P_ADDR: ck_assert(memcmp(&d.p.addr, &m->p.addr, sizeof d.p.addr) == 0); break;
    case VS_VHOST_P_MEM_TABLE:
        ck_assert_uint_eq(d.p.mem.nregions, m->p.mem.nregions);
        ck_assert(memcmp(d.p.mem.region, m->p.mem.region,
                         m->p.mem.nregions * sizeof(vs_vhost_mem_region)) == 0);
        break;
    case VS_VHOST_P_MEM_REGION:
        ck_assert(memcmp(&d.p.region, &m->p.region, sizeof d.p.region) == 0);
        break;
    case VS_VHOST_P_CONFIG:
        ck_assert_uint_eq(d.p.config.offset, m->p.config.offset);
        ck_assert_uint_eq(d.p.config.size, m->p.config.size);
        ck_assert_uint_eq(d.p.config.flags, m->p.config.flags);
        ck_assert(memcmp(d.p.config.data, m->p.config.data, m->p.config.size) == 0);
        break;
    case VS_VHOST_P_LOG: ck_assert(memcmp(&d.p.log, &m->p.log, sizeof d.p.log) == 0); break;
    case VS_VHOST_P_INFLIGHT:
        ck_assert_uint_eq(d.p.inflight.mmap_size, m->p.inflight.mmap_size);
        ck_assert_uint_eq(d.p.inflight.queue_size, m->p.inflight.queue_size);
        ck_assert_uint_eq(d.p.inflight.num_queues, m->p.inflight.num_queues);
        break;
    default: break;
    }
    /* Re-encoding the decoded message gives the same bytes. */
    uint8_t buf2[sizeof buf];
    int n2 = vs_vhost_msg_encode(&d, buf2, sizeof buf2, &e);
    ck_assert_int_eq(n2, n);
    ck_assert(memcmp(buf, buf2, (size_t)n) == 0);
}

START_TEST(codec_roundtrip_every_kind)
{
    unsigned done = 0;
    for (uint32_t req = 1; req < VS_VHOST_USER_REQ_MAX; req++) {
        for (int dir = 0; dir < 2; dir++) {
            vs_vhost_msg m;
            vs_vhost_msg_init(&m, req, (enum vs_vhost_dir)dir);
            if (dir == VS_VHOST_DIR_REPLY && m.kind == VS_VHOST_P_NONE)
                m.kind = VS_VHOST_P_U64; /* REPLY_ACK ack */
            if (m.kind == VS_VHOST_P_RAW)
                continue;
            if (dir == 0 && (m.flags & VS_VHOST_USER_FLAG_REPLY))
                ck_abort_msg("request with reply flag");
            m.flags |= (req & 1) && dir == 0 ? VS_VHOST_USER_FLAG_NEED_REPLY : 0;
            switch (m.kind) {
            case VS_VHOST_P_U64: m.p.u64 = 0x0123456789abcdefull ^ req; break;
            case VS_VHOST_P_STATE: m.p.state = (vs_vhost_vring_state){1, 0x1234 + req}; break;
            case VS_VHOST_P_ADDR:
                m.p.addr = (vs_vhost_vring_addr){1, 1, 0x1000, 0x3000, 0x2000, 0x4000};
                break;
            case VS_VHOST_P_MEM_TABLE:
                m.p.mem.nregions = 8;
                for (unsigned i = 0; i < 8; i++)
                    m.p.mem.region[i] = (vs_vhost_mem_region){i * 0x100000ull, 0x100000,
                                                              UA + i * 0x200000ull, i * 4096ull};
                break;
            case VS_VHOST_P_MEM_REGION:
                m.p.region = (vs_vhost_mem_region){0x1000, 0x2000, UA, 0};
                break;
            case VS_VHOST_P_CONFIG:
                m.p.config.offset = 4;
                m.p.config.size = 60;
                for (unsigned i = 0; i < 60; i++)
                    m.p.config.data[i] = (uint8_t)(i * 7 + 1);
                break;
            case VS_VHOST_P_LOG: m.p.log = (vs_vhost_log){0x10000, 0x2000}; break;
            case VS_VHOST_P_INFLIGHT:
                m.p.inflight = (vs_vhost_inflight){0x5000, 0x1000, 2, 256};
                break;
            default: break;
            }
            unsigned lo, hi;
            vs_vhost_fds_allowed(&m, (enum vs_vhost_dir)dir, &lo, &hi);
            m.nfds = lo;
            roundtrip(&m, (enum vs_vhost_dir)dir);
            done++;
        }
    }
    ck_assert_uint_ge(done, 60);
    /* names */
    ck_assert_str_eq(vs_vhost_req_name(VS_VHOST_USER_SET_MEM_TABLE), "SET_MEM_TABLE");
    ck_assert_str_eq(vs_vhost_req_name(999), "UNKNOWN");
    ck_assert_str_eq(vs_vhost_proto_feature_name(VS_VHOST_PF_REPLY_ACK), "REPLY_ACK");
    ck_assert_ptr_null(vs_vhost_proto_feature_name(63));
}
END_TEST

START_TEST(codec_wire_layout)
{
    /* Known bytes: SET_VRING_ADDR index 1 flags 0 desc 0x1122 used 0x3344 avail 0x5566. */
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_VRING_ADDR);
    m.p.addr = (vs_vhost_vring_addr){1, 0, 0x1122, 0x3344, 0x5566, 0x7788};
    uint8_t b[64];
    vs_err e = {0};
    ck_assert_int_eq(vs_vhost_msg_encode(&m, b, sizeof b, &e), 52);
    static const uint8_t want[52] = {9, 0, 0, 0, 1, 0, 0, 0, 40, 0, 0, 0,
                                     1, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x11, 0, 0, 0, 0, 0, 0,
                                     0x44, 0x33, 0, 0, 0, 0, 0, 0, 0x66, 0x55, 0, 0, 0, 0, 0, 0,
                                     0x88, 0x77, 0, 0, 0, 0, 0, 0};
    ck_assert(memcmp(b, want, 52) == 0);
    /* buffer too small */
    ck_assert_int_lt(vs_vhost_msg_encode(&m, b, 20, &e), 0);
    vs_vhost_msg raw = mk(999);
    ck_assert_int_lt(vs_vhost_msg_encode(&raw, b, sizeof b, &e), 0);
}
END_TEST

/* Encodes m, lets `patch` edit the bytes, decodes: expects rejection with rule. */
static void bad_bytes(const uint8_t *b, size_t len, enum vs_vhost_dir dir, unsigned nfds,
                      const char *want_rule)
{
    vs_vhost_msg d;
    vs_err e = {0};
    const char *rule = NULL;
    int rc = vs_vhost_msg_decode(b, len, dir, nfds, &d, &rule, &e);
    ck_assert_msg(rc < 0, "accepted, expected %s", want_rule);
    ck_assert_msg(rule && strcmp(rule, want_rule) == 0, "rule %s, expected %s (%s)",
                  rule ? rule : "(null)", want_rule, e.msg);
    ck_assert_ptr_nonnull(vs_vhost_rule_find(rule));
}

static size_t enc(const vs_vhost_msg *m, uint8_t *b, size_t cap)
{
    vs_err e = {0};
    int n = vs_vhost_msg_encode(m, b, cap, &e);
    ck_assert_msg(n > 0, "encode: %s", e.msg);
    return (size_t)n;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

START_TEST(codec_validation_errors)
{
    uint8_t b[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX + 64];
    memset(b, 0, sizeof b);
    vs_vhost_msg m = mk_u64(VS_VHOST_USER_SET_FEATURES, 1, 0);
    size_t n = enc(&m, b, sizeof b);
    /* truncated header */
    bad_bytes(b, 8, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.header.1");
    /* version 0, version 2 */
    put32(b + 4, 0);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.header.1");
    put32(b + 4, 2);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.header.1");
    /* unknown flag bit */
    put32(b + 4, 1 | 0x10);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.header.1");
    /* reply flag on a request; missing reply flag on a reply */
    put32(b + 4, 1 | VS_VHOST_USER_FLAG_REPLY);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.header.1");
    put32(b + 4, 1);
    bad_bytes(b, n, VS_VHOST_DIR_REPLY, 0, "vhost-user.backend.reply.1");
    /* size mismatch: header says 4 for a u64 */
    put32(b + 8, 4);
    bad_bytes(b, 16, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.msg-size.1");
    /* header size disagrees with the bytes present */
    put32(b + 8, 8);
    bad_bytes(b, 12 + 7, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.msg-size.1");
    /* oversized payload (header alone is enough to refuse) */
    put32(b + 8, VS_VHOST_USER_PAYLOAD_MAX + 1);
    bad_bytes(b, 12 + VS_VHOST_USER_PAYLOAD_MAX + 1, VS_VHOST_DIR_REQUEST, 0,
              "vhost-user.frontend.msg-size.2");
    {
        vs_vhost_msg h;
        const char *rule = NULL;
        vs_err e = {0};
        ck_assert_int_lt(vs_vhost_hdr_decode(b, 12, &h, &rule, &e), 0);
        ck_assert_str_eq(rule, "vhost-user.frontend.msg-size.2");
    }
    /* payload on a no-payload request */
    vs_vhost_msg g = mk(VS_VHOST_USER_GET_FEATURES);
    n = enc(&g, b, sizeof b);
    put32(b + 8, 8);
    bad_bytes(b, 20, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.msg-size.1");
    /* fds on a request without fds; missing fd on SET_VRING_KICK; fd with NOFD */
    n = enc(&g, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.fds.1");
    vs_vhost_msg k = mk_u64(VS_VHOST_USER_SET_VRING_KICK, 0, 1);
    n = enc(&k, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.fds.1");
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 2, "vhost-user.frontend.fds.1");
    k.p.u64 = VS_VHOST_VRING_NOFD_MASK;
    n = enc(&k, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.fds.1");

    /* memory tables */
    vs_vhost_msg mt = mk_mem(0, MEMSZ, UA);
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.fds.1"); /* 1 region, 0 fds */
    put32(b + 12, 9); /* 9 regions */
    put32(b + 8, 8 + 9 * 32);
    bad_bytes(b, 12 + 8 + 9 * 32, VS_VHOST_DIR_REQUEST, 9, "vhost-user.frontend.msg-size.2");
    put32(b + 12, 2); /* 2 regions claimed, size for 1 */
    put32(b + 8, 8 + 32);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 2, "vhost-user.frontend.msg-size.1");
    /* zero-size region */
    mt = mk_mem(0, 0, UA);
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.mem-table.1");
    /* gpa wrap, uaddr wrap, offset wrap */
    mt = mk_mem(UINT64_MAX - 0xfff, 0x2000, UA);
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.mem-table.1");
    mt = mk_mem(0, 0x2000, UINT64_MAX - 0xfff);
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.mem-table.1");
    mt = mk_mem(0, 0x2000, UA);
    mt.p.mem.region[0].mmap_offset = UINT64_MAX;
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.mem-table.1");
    /* a region ending exactly at 2^64 is fine */
    {
        vs_vhost_mem_table t = {.nregions = 1};
        t.region[0] = (vs_vhost_mem_region){UINT64_MAX - 0xfff, 0x1000, 0, 0};
        vs_err e = {0};
        ck_assert_int_eq(vs_vhost_mem_table_check(&t, false, NULL, &e), 0);
    }
    /* overlapping GPA, overlapping user addresses, touching is fine */
    mt = mk_mem(0, 0x10000, UA);
    mt.p.mem.nregions = 2;
    mt.p.mem.region[1] = (vs_vhost_mem_region){0xffff, 0x1000, UA + 0x100000, 0};
    mt.size = 8 + 64;
    mt.nfds = 2;
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 2, "vhost-user.frontend.mem-table.2");
    mt.p.mem.region[1] = (vs_vhost_mem_region){0x10000, 0x1000, UA + 0xf000, 0};
    n = enc(&mt, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 2, "vhost-user.frontend.mem-table.2");
    mt.p.mem.region[1] = (vs_vhost_mem_region){0x10000, 0x1000, UA + 0x10000, 0};
    n = enc(&mt, b, sizeof b);
    {
        vs_vhost_msg d;
        vs_err e = {0};
        ck_assert_msg(vs_vhost_msg_decode(b, n, VS_VHOST_DIR_REQUEST, 2, &d, NULL, &e) == 0,
                      "%s", e.msg);
    }
    /* config: size > 256, offset + size > 256, size disagreeing, bad flags */
    vs_vhost_msg cf = mk_config(VS_VHOST_USER_GET_CONFIG, 0, 16);
    n = enc(&cf, b, sizeof b);
    put32(b + 16, 300);
    put32(b + 8, 12 + 300);
    bad_bytes(b, 12 + 12 + 300, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.config.1");
    cf = mk_config(VS_VHOST_USER_GET_CONFIG, 250, 16);
    n = enc(&cf, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.config.1");
    cf = mk_config(VS_VHOST_USER_SET_CONFIG, 0, 16);
    n = enc(&cf, b, sizeof b);
    put32(b + 16, 20);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.msg-size.1");
    cf.p.config.flags = 7;
    n = enc(&cf, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.config.1");
    /* address message of the wrong size */
    vs_vhost_msg a = mk_addr(0, UA);
    n = enc(&a, b, sizeof b);
    put32(b + 8, 32);
    bad_bytes(b, 12 + 32, VS_VHOST_DIR_REQUEST, 0, "vhost-user.frontend.msg-size.1");
    /* single region of ADD_MEM_REG with size 0 */
    vs_vhost_msg ar = mk(VS_VHOST_USER_ADD_MEM_REG);
    ar.p.region = (vs_vhost_mem_region){0, 0, UA, 0};
    n = enc(&ar, b, sizeof b);
    bad_bytes(b, n, VS_VHOST_DIR_REQUEST, 1, "vhost-user.frontend.mem-table.1");
    /* unknown request decodes (RAW) with any payload up to the limit */
    put32(b, 777);
    put32(b + 4, 1);
    put32(b + 8, 100);
    {
        vs_vhost_msg d;
        vs_err e = {0};
        ck_assert_int_eq(vs_vhost_msg_decode(b, 112, VS_VHOST_DIR_REQUEST, 0, &d, NULL, &e), 0);
        ck_assert_int_eq(d.kind, VS_VHOST_P_RAW);
    }
    put64(b + 12, 0);
}
END_TEST

START_TEST(check_reply)
{
    vs_vhost_msg req = mk_state(VS_VHOST_USER_GET_VRING_BASE, 1, 0);
    vs_vhost_msg rep;
    vs_vhost_msg_init(&rep, VS_VHOST_USER_GET_VRING_BASE, VS_VHOST_DIR_REPLY);
    rep.p.state = (vs_vhost_vring_state){1, 5};
    rep.size = 8;
    const char *rule = NULL;
    vs_err e = {0};
    ck_assert_int_eq(vs_vhost_check_reply(&req, &rep, &rule, &e), 0);
    rep.p.state.index = 0;
    ck_assert_int_lt(vs_vhost_check_reply(&req, &rep, &rule, &e), 0);
    ck_assert_str_eq(rule, "vhost-user.backend.reply.1");
    rep.p.state.index = 1;
    rep.flags &= ~VS_VHOST_USER_FLAG_REPLY;
    ck_assert_int_lt(vs_vhost_check_reply(&req, &rep, &rule, &e), 0);
    rep.flags |= VS_VHOST_USER_FLAG_REPLY;
    rep.request = VS_VHOST_USER_GET_FEATURES;
    ck_assert_int_lt(vs_vhost_check_reply(&req, &rep, &rule, &e), 0);
    /* reply expectations */
    vs_vhost_msg sf = mk_u64(VS_VHOST_USER_SET_FEATURES, 0, 0);
    ck_assert(!vs_vhost_reply_expected(&sf, OFFER_PF));
    sf.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    ck_assert(vs_vhost_reply_expected(&sf, OFFER_PF));
    ck_assert(!vs_vhost_reply_expected(&sf, 0));
    vs_vhost_msg gf = mk(VS_VHOST_USER_GET_FEATURES);
    ck_assert(vs_vhost_reply_expected(&gf, 0));
}
END_TEST

/* ------------------------------------------------------------------ legality table */

enum { P_FRESH, P_OWNED, P_PROTO, P_FEAT, P_MEM, P_CONF, P_RUN, NPHASE };
static const char *const phase_name[NPHASE] = {"fresh", "owned", "proto", "features",
                                               "memory", "configured", "running"};

static void reach(vs_vhost_state *s, int phase)
{
    init_state(s);
    if (phase >= P_OWNED)
        must_apply(s, mk(VS_VHOST_USER_SET_OWNER));
    if (phase >= P_PROTO) {
        must_apply(s, mk(VS_VHOST_USER_GET_FEATURES));
        must_apply(s, mk_u64(VS_VHOST_USER_SET_PROTOCOL_FEATURES, OFFER_PF, 0));
    }
    if (phase >= P_FEAT)
        must_apply(s, mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | F_PROTO, 0));
    if (phase >= P_MEM)
        must_apply(s, mk_mem(0, MEMSZ, UA));
    if (phase >= P_CONF) {
        must_apply(s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 256));
        must_apply(s, mk_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0));
        must_apply(s, mk_addr(0, UA + 0x10000));
        must_apply(s, mk_u64(VS_VHOST_USER_SET_VRING_KICK, 0, 1));
        must_apply(s, mk_u64(VS_VHOST_USER_SET_VRING_CALL, 0, 1));
        must_apply(s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1));
    }
    if (phase >= P_RUN) {
        vs_err e = {0};
        ck_assert_int_eq(vs_vhost_ring_kicked(s, 0, NULL, &e), 1);
    }
}

typedef struct legal_row {
    const char *name;
    vs_vhost_msg (*make)(void);
    const char *expect; /* one char per phase: A accept, R reject */
} legal_row;

static vs_vhost_msg l_get_features(void) { return mk(VS_VHOST_USER_GET_FEATURES); }
static vs_vhost_msg l_set_features(void)
{
    return mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | F_PROTO, 0);
}
static vs_vhost_msg l_set_owner(void) { return mk(VS_VHOST_USER_SET_OWNER); }
static vs_vhost_msg l_reset_owner(void) { return mk(VS_VHOST_USER_RESET_OWNER); }
static vs_vhost_msg l_mem(void) { return mk_mem(0, MEMSZ, UA); }
static vs_vhost_msg l_log_base(void)
{
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_LOG_BASE);
    m.size = 16;
    m.nfds = 1;
    return m;
}
static vs_vhost_msg l_log_fd(void)
{
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_LOG_FD);
    m.nfds = 1;
    return m;
}
static vs_vhost_msg l_num(void) { return mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 256); }
static vs_vhost_msg l_addr(void) { return mk_addr(0, UA + 0x10000); }
static vs_vhost_msg l_base(void) { return mk_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0); }
static vs_vhost_msg l_get_base(void) { return mk_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0); }
static vs_vhost_msg l_kick(void) { return mk_u64(VS_VHOST_USER_SET_VRING_KICK, 0, 1); }
static vs_vhost_msg l_call(void) { return mk_u64(VS_VHOST_USER_SET_VRING_CALL, 0, 1); }
static vs_vhost_msg l_err(void) { return mk_u64(VS_VHOST_USER_SET_VRING_ERR, 0, 1); }
static vs_vhost_msg l_get_pf(void) { return mk(VS_VHOST_USER_GET_PROTOCOL_FEATURES); }
static vs_vhost_msg l_set_pf(void)
{
    return mk_u64(VS_VHOST_USER_SET_PROTOCOL_FEATURES, OFFER_PF, 0);
}
static vs_vhost_msg l_queue_num(void) { return mk(VS_VHOST_USER_GET_QUEUE_NUM); }
static vs_vhost_msg l_enable(void) { return mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1); }
static vs_vhost_msg l_rarp(void) { return mk_u64(VS_VHOST_USER_SEND_RARP, 0, 0); }
static vs_vhost_msg l_mtu(void) { return mk_u64(VS_VHOST_USER_NET_SET_MTU, 1500, 0); }
static vs_vhost_msg l_backend_fd(void)
{
    vs_vhost_msg m = mk(VS_VHOST_USER_SET_BACKEND_REQ_FD);
    m.nfds = 1;
    return m;
}
static vs_vhost_msg l_get_config(void) { return mk_config(VS_VHOST_USER_GET_CONFIG, 0, 60); }
static vs_vhost_msg l_set_config(void) { return mk_config(VS_VHOST_USER_SET_CONFIG, 32, 1); }
static vs_vhost_msg l_reset_device(void) { return mk(VS_VHOST_USER_RESET_DEVICE); }
static vs_vhost_msg l_vring_kick(void) { return mk_state(VS_VHOST_USER_VRING_KICK, 0, 0); }
static vs_vhost_msg l_max_slots(void) { return mk(VS_VHOST_USER_GET_MAX_MEM_SLOTS); }
static vs_vhost_msg l_set_status(void) { return mk_u64(VS_VHOST_USER_SET_STATUS, 1, 0); }
static vs_vhost_msg l_get_status(void) { return mk(VS_VHOST_USER_GET_STATUS); }
static vs_vhost_msg l_unknown(void)
{
    vs_vhost_msg m = mk(99);
    m.size = 0;
    return m;
}

/* Written from the spec text and DESIGN decisions, not from model/vhost.c:
 *                    fresh owned proto feat mem conf run */
static const legal_row legal[] = {
    {"GET_FEATURES", l_get_features, "AAAAAAA"},
    {"SET_FEATURES", l_set_features, "RAAAAAA"},
    {"SET_OWNER", l_set_owner, "ARRRRRR"},
    {"RESET_OWNER", l_reset_owner, "RAAAAAA"},
    {"SET_MEM_TABLE", l_mem, "RAAAAAA"},
    {"SET_LOG_BASE", l_log_base, "RRRRRRR"},
    {"SET_LOG_FD", l_log_fd, "RRRRRRR"},
    {"SET_VRING_NUM", l_num, "RAAAAAR"},
    {"SET_VRING_ADDR", l_addr, "RRRRAAA"},
    {"SET_VRING_BASE", l_base, "RAAAAAR"},
    {"GET_VRING_BASE", l_get_base, "RAAAAAA"},
    {"SET_VRING_KICK", l_kick, "RAAAAAA"},
    {"SET_VRING_CALL", l_call, "RAAAAAA"},
    {"SET_VRING_ERR", l_err, "RAAAAAA"},
    {"GET_PROTOCOL_FEATURES", l_get_pf, "AAAAAAA"},
    {"SET_PROTOCOL_FEATURES", l_set_pf, "AAAAAAA"},
    {"GET_QUEUE_NUM", l_queue_num, "RRAAAAA"},
    {"SET_VRING_ENABLE", l_enable, "RRRAAAA"},
    {"SEND_RARP", l_rarp, "RRRRRRR"},
    {"NET_SET_MTU", l_mtu, "RRRRRRR"},
    {"SET_BACKEND_REQ_FD", l_backend_fd, "RRRRRRR"},
    {"GET_CONFIG", l_get_config, "RRAAAAA"},
    {"SET_CONFIG", l_set_config, "RRAAAAA"},
    {"RESET_DEVICE", l_reset_device, "RRAAAAA"},
    {"VRING_KICK", l_vring_kick, "RRRRRRR"},
    {"GET_MAX_MEM_SLOTS", l_max_slots, "RRRRRRR"},
    {"SET_STATUS", l_set_status, "RRRRRRR"},
    {"GET_STATUS", l_get_status, "RRRRRRR"},
    {"UNKNOWN(99)", l_unknown, "RRRRRRR"},
};

START_TEST(legality_table)
{
    unsigned checked = 0, mismatches = 0;
    char report[4096] = "";
    for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++) {
        for (int p = 0; p < NPHASE; p++) {
            vs_vhost_state s;
            reach(&s, p);
            vs_vhost_state before = s;
            vs_vhost_msg m = legal[i].make();
            const char *rule = NULL;
            vs_vhost_effect fx;
            vs_err e = {0};
            int rc = vs_vhost_apply(&s, &m, &fx, &rule, &e);
            bool want = legal[i].expect[p] == 'A';
            checked++;
            if ((rc == 0) != want) {
                mismatches++;
                size_t l = strlen(report);
                snprintf(report + l, sizeof report - l, "%s in %s: got %s (%s)\n",
                         legal[i].name, phase_name[p], rc == 0 ? "accept" : "reject", e.msg);
            }
            if (rc < 0) {
                ck_assert_msg(rule && vs_vhost_rule_find(rule), "%s in %s: no rule (%s)",
                              legal[i].name, phase_name[p], e.msg);
                before.n_rejected++;
                ck_assert_msg(memcmp(&before, &s, sizeof s) == 0, "%s in %s changed state",
                              legal[i].name, phase_name[p]);
            }
        }
    }
    ck_assert_msg(mismatches == 0, "%u mismatches:\n%s", mismatches, report);
    ck_assert_uint_eq(checked, (sizeof legal / sizeof legal[0]) * NPHASE);
}
END_TEST

START_TEST(legality_details)
{
    vs_vhost_state s;
    reach(&s, P_OWNED);
    /* SET_FEATURES with un-offered bits */
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | PF_BIT(5), 0),
                "vhost-user.frontend.features.1");
    /* SET_PROTOCOL_FEATURES with un-offered bits */
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_PROTOCOL_FEATURES, PF_BIT(VS_VHOST_PF_STATUS), 0),
                "vhost-user.frontend.proto-features.2");
    /* SET_OWNER twice */
    must_reject(&s, mk(VS_VHOST_USER_SET_OWNER), "vhost-user.frontend.owner.2");
    /* vring num: 0, not a power of two, > 32768, > backend max */
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 0), "vhost-user.frontend.vring-num.1");
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 100), "vhost-user.frontend.vring-num.1");
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 65536),
                "vhost-user.frontend.vring-num.1");
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 2048),
                "vhost-user.frontend.vring-num.1");
    /* index beyond the queue count (2 queues) */
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 2, 256), "vhost-user.frontend.vring-index.1");
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_VRING_CALL, 5, 1), "vhost-user.frontend.vring-index.1");
    /* kick u64 with extra bits */
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_VRING_KICK, 0x10000, 1),
                "vhost-user.frontend.vring-fd.1");
    /* split base above 0xffff */
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0x10000),
                "vhost-user.frontend.vring-base.1");
    /* SET_VRING_ADDR before SET_MEM_TABLE */
    must_reject(&s, mk_addr(0, UA + 0x10000), "vhost-user.frontend.vring-addr.1");
    /* SET_VRING_ENABLE before features */
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1),
                "vhost-user.frontend.vring-enable.1");
    /* GET_QUEUE_NUM without MQ */
    must_reject(&s, mk(VS_VHOST_USER_GET_QUEUE_NUM), "vhost-user.frontend.proto-features.3");

    reach(&s, P_MEM);
    /* ring addresses outside the table, misaligned, bad flags */
    must_reject(&s, mk_addr(0, UA + MEMSZ), "vhost-user.frontend.vring-addr.2");
    must_reject(&s, mk_addr(0, UA - 0x10000), "vhost-user.frontend.vring-addr.2");
    must_reject(&s, mk_addr(0, UA + 0x10008), "vhost-user.frontend.vring-addr.2");
    vs_vhost_msg a = mk_addr(0, UA + 0x10000);
    a.p.addr.flags = 2;
    must_reject(&s, a, "vhost-user.frontend.vring-addr.3");
    /* areas straddling the end of the region once the size is known */
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 1024));
    must_reject(&s, mk_addr(0, UA + MEMSZ - 0x2000 - 0x1000), "vhost-user.frontend.vring-addr.2");
    /* enable value 2 */
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 2),
                "vhost-user.frontend.vring-enable.1");
    /* SET_STATUS is not offered */
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_STATUS, 0x100, 0),
                "vhost-user.frontend.proto-features.3");

    /* running: features change, num/base/addr change, memory that drops the ring */
    reach(&s, P_RUN);
    must_reject(&s, mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | PF_BIT(29) | F_PROTO, 0),
                "vhost-user.frontend.features.2");
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 128), "vhost-user.frontend.ring-stopped.1");
    must_reject(&s, mk_addr(0, UA + 0x20000), "vhost-user.frontend.ring-stopped.1");
    must_reject(&s, mk_mem(0, MEMSZ, UA + 0x100000000ull), "vhost-user.frontend.mem-table.3");
    /* the same table moved in GPA is fine; user addresses still match */
    must_apply(&s, mk_mem(0x40000000, MEMSZ, UA));
    ck_assert_uint_eq(s.ring[0].layout.desc_gpa, 0x40010000);
}
END_TEST

START_TEST(ring_rules)
{
    vs_vhost_state s;
    vs_err e = {0};
    const char *rule = NULL;
    /* with PROTOCOL_FEATURES negotiated rings start disabled */
    reach(&s, P_MEM);
    ck_assert(!vs_vhost_ring_enabled(&s, 0));
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 256));
    must_apply(&s, mk_addr(0, UA + 0x10000));
    must_apply(&s, mk_u64(VS_VHOST_USER_SET_VRING_KICK, 0, 1));
    ck_assert_int_eq(vs_vhost_ring_kicked(&s, 0, &rule, &e), 0); /* disabled: no start */
    ck_assert(!s.ring[0].started);
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1));
    ck_assert(vs_vhost_ring_enabled(&s, 0));
    ck_assert(!vs_vhost_ring_active(&s, 0)); /* not started before the first kick */
    ck_assert_int_eq(vs_vhost_ring_kicked(&s, 0, &rule, &e), 1);
    ck_assert(vs_vhost_ring_active(&s, 0));
    ck_assert_uint_eq(s.ring[0].layout.desc_gpa, 0x10000);
    ck_assert_uint_eq(s.ring[0].layout.driver_gpa, 0x11000);
    ck_assert_uint_eq(s.ring[0].layout.device_gpa, 0x12000);
    ck_assert_int_eq(vs_vhost_ring_kicked(&s, 0, &rule, &e), 0); /* already started */
    /* GET_VRING_BASE stops it and replies with the base */
    vs_vhost_effect fx;
    vs_vhost_msg gb = mk_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0);
    ck_assert_int_eq(vs_vhost_apply(&s, &gb, &fx, &rule, &e), 0);
    ck_assert(fx.actions & VS_VHOST_ACT_RING_STOP);
    ck_assert(fx.actions & VS_VHOST_ACT_REPLY);
    ck_assert_uint_eq(fx.reply.request, VS_VHOST_USER_GET_VRING_BASE);
    ck_assert(fx.reply.flags & VS_VHOST_USER_FLAG_REPLY);
    ck_assert(!s.ring[0].started);
    ck_assert(!s.ring[0].kick_set);
    /* kicking an unconfigured (enabled) ring is a front-end error */
    ck_assert_int_eq(vs_vhost_ring_kicked(&s, 1, &rule, &e), 0); /* disabled: ignored */
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 1, 1));
    ck_assert_int_lt(vs_vhost_ring_kicked(&s, 1, &rule, &e), 0);
    ck_assert_str_eq(rule, "vhost-user.frontend.ring-start.1");
    ck_assert_int_lt(vs_vhost_ring_kicked(&s, 7, &rule, &e), 0);
    ck_assert_str_eq(rule, "vhost-user.frontend.vring-index.1");

    /* without PROTOCOL_FEATURES rings are enabled from the start */
    init_state(&s);
    must_apply(&s, mk(VS_VHOST_USER_SET_OWNER));
    must_apply(&s, mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32), 0));
    ck_assert(vs_vhost_ring_enabled(&s, 0));
    must_reject(&s, mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1),
                "vhost-user.frontend.vring-enable.1");
    must_apply(&s, mk_mem(0, MEMSZ, UA));
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 256));
    must_apply(&s, mk_addr(0, UA + 0x10000));
    /* polling mode (no kick fd): the ring starts at once */
    must_apply(&s, mk_u64(VS_VHOST_USER_SET_VRING_KICK, VS_VHOST_VRING_NOFD_MASK, 0));
    ck_assert(s.ring[0].started && s.ring[0].kick_polling);
    /* broken ring */
    vs_vhost_ring_break(&s, 0);
    ck_assert(!vs_vhost_ring_active(&s, 0));
    ck_assert_int_lt(vs_vhost_ring_kicked(&s, 0, &rule, &e), 0);

    /* packed: non-power-of-two sizes are fine, bases above 0xffff too */
    init_state(&s);
    must_apply(&s, mk(VS_VHOST_USER_SET_OWNER));
    must_apply(&s, mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | PF_BIT(34), 0));
    ck_assert_int_eq(vs_vhost_ring_format(&s), VS_RING_PACKED);
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 0, 100));
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0x18000));
}
END_TEST

START_TEST(reply_ack_and_replies)
{
    vs_vhost_state s;
    reach(&s, P_FEAT);
    vs_vhost_effect fx;
    vs_err e = {0};
    const char *rule;
    /* accepted with NEED_REPLY: ack 0 */
    vs_vhost_msg m = mk_mem(0, MEMSZ, UA);
    m.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    ck_assert_int_eq(vs_vhost_apply(&s, &m, &fx, &rule, &e), 0);
    ck_assert(fx.actions & VS_VHOST_ACT_REPLY);
    ck_assert_uint_eq(fx.reply.p.u64, 0);
    ck_assert_int_eq(fx.reply.kind, VS_VHOST_P_U64);
    vs_vhost_effect_fail(&fx);
    ck_assert_uint_eq(fx.reply.p.u64, 1);
    /* rejected with NEED_REPLY: ack non-zero */
    vs_vhost_msg bad = mk_addr(0, UA + MEMSZ);
    bad.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    ck_assert_int_lt(vs_vhost_apply(&s, &bad, &fx, &rule, &e), 0);
    ck_assert(fx.actions & VS_VHOST_ACT_REPLY);
    ck_assert_uint_ne(fx.reply.p.u64, 0);
    /* natural replies carry their payloads */
    ck_assert_int_eq(vs_vhost_apply(&s, &(vs_vhost_msg){0}, &fx, &rule, &e) < 0, 1);
    vs_vhost_msg g = mk(VS_VHOST_USER_GET_FEATURES);
    g.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    ck_assert_int_eq(vs_vhost_apply(&s, &g, &fx, &rule, &e), 0);
    ck_assert_uint_eq(fx.reply.p.u64, OFFER_F | F_PROTO);
    ck_assert_int_eq(fx.reply.kind, VS_VHOST_P_U64);
    vs_vhost_msg q = mk(VS_VHOST_USER_GET_QUEUE_NUM);
    ck_assert_int_eq(vs_vhost_apply(&s, &q, &fx, &rule, &e), 0);
    ck_assert_uint_eq(fx.reply.p.u64, 2);
    vs_vhost_msg gp = mk(VS_VHOST_USER_GET_PROTOCOL_FEATURES);
    ck_assert_int_eq(vs_vhost_apply(&s, &gp, &fx, &rule, &e), 0);
    ck_assert_uint_eq(fx.reply.p.u64, OFFER_PF);
    vs_vhost_msg gc = mk_config(VS_VHOST_USER_GET_CONFIG, 8, 20);
    ck_assert_int_eq(vs_vhost_apply(&s, &gc, &fx, &rule, &e), 0);
    ck_assert(fx.actions & VS_VHOST_ACT_CONFIG_READ);
    ck_assert_uint_eq(fx.reply.p.config.offset, 8);
    ck_assert_uint_eq(fx.reply.p.config.size, 20);
    /* every reply the state machine builds passes the front-end's reply check */
    ck_assert_int_eq(vs_vhost_check_reply(&gc, &(vs_vhost_msg){0}, &rule, &e) < 0, 1);
    fx.reply.size = 12 + 20;
    ck_assert_msg(vs_vhost_check_reply(&gc, &fx.reply, &rule, &e) == 0, "%s", e.msg);
    /* back-end without protocol features: bit 30 not offered, GET_PROTOCOL_FEATURES illegal */
    vs_vhost_backend_cfg c = cfg2();
    c.proto_features = 0;
    ck_assert_int_eq(vs_vhost_state_init(&s, VS_VHOST_FLAVOUR_USER, &c, &e), 0);
    ck_assert_uint_eq(s.offered & F_PROTO, 0);
    must_reject(&s, mk(VS_VHOST_USER_GET_PROTOCOL_FEATURES), "vhost-user.frontend.proto-features.1");
    /* RESET_OWNER / RESET_DEVICE */
    reach(&s, P_RUN);
    must_apply(&s, mk(VS_VHOST_USER_RESET_DEVICE));
    ck_assert(s.owner && !s.mem_set && !s.ring[0].started && !s.features_set);
    reach(&s, P_RUN);
    must_apply(&s, mk(VS_VHOST_USER_RESET_OWNER));
    ck_assert(!s.owner && !s.mem_set);
}
END_TEST

/* QEMU 10 sends RESET_DEVICE (with NEED_REPLY) several times per connection and never
 * renegotiates protocol features or resends SET_VRING_ERR after it: the reset must keep
 * ownership, the protocol features (REPLY_ACK, RESET_DEVICE itself) and the error fd. */
START_TEST(reset_device_keeps_session)
{
    vs_vhost_state s;
    reach(&s, P_RUN);
    must_apply(&s, mk_u64(VS_VHOST_USER_SET_VRING_ERR, 0, 1));
    vs_vhost_effect fx;
    vs_err e = {0};
    const char *rule = NULL;
    for (int i = 0; i < 3; i++) {
        vs_vhost_msg r = mk(VS_VHOST_USER_RESET_DEVICE);
        r.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
        ck_assert_msg(vs_vhost_apply(&s, &r, &fx, &rule, &e) == 0, "reset %d: %s", i, e.msg);
        ck_assert(fx.actions & VS_VHOST_ACT_RESET);
        ck_assert_msg(fx.actions & VS_VHOST_ACT_REPLY, "reset %d: no REPLY_ACK ack", i);
        ck_assert_uint_eq(fx.reply.p.u64, 0);
        ck_assert(s.owner && s.proto_set);
        ck_assert_uint_eq(s.proto_features, OFFER_PF);
        ck_assert_msg(s.ring[0].err_set, "reset %d dropped the error fd", i);
        ck_assert(!s.ring[0].started && !s.ring[0].kick_set && !s.ring[0].call_set);
        ck_assert(!s.features_set && !s.mem_set && s.ring[0].num == 0);
    }
    /* the front-end sets the device up again, without SET_VRING_ERR; every NEED_REPLY
     * message is still acked (SET_MEM_TABLE used to get no reply: QEMU blocked) */
    vs_vhost_msg f = mk_u64(VS_VHOST_USER_SET_FEATURES, PF_BIT(32) | F_PROTO, 0);
    vs_vhost_msg m = mk_mem(0, MEMSZ, UA);
    vs_vhost_msg en = mk_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1);
    vs_vhost_msg *seq[] = {&f, &m, &en};
    for (size_t i = 0; i < 3; i++) {
        seq[i]->flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
        ck_assert_msg(vs_vhost_apply(&s, seq[i], &fx, &rule, &e) == 0, "%s", e.msg);
        ck_assert_msg(fx.actions & VS_VHOST_ACT_REPLY, "%s: no ack",
                      vs_vhost_req_name(seq[i]->request));
        ck_assert_uint_eq(fx.reply.p.u64, 0);
    }
    /* GET_VRING_BASE stops the ring but keeps its error fd too */
    must_apply(&s, mk_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0));
    ck_assert(s.ring[0].err_set);
    /* RESET_OWNER still forgets the whole session */
    must_apply(&s, mk(VS_VHOST_USER_RESET_OWNER));
    ck_assert(!s.owner && !s.proto_set && !s.ring[0].err_set);
}
END_TEST

/* ------------------------------------------------------------------ translation */

START_TEST(translation_edges)
{
    vs_vhost_state s;
    reach(&s, P_FEAT);
    vs_vhost_msg m = mk_mem(0x100000, 0x10000, UA);
    m.p.mem.nregions = 3;
    m.p.mem.region[0].mmap_offset = 0x3000;
    m.p.mem.region[1] = (vs_vhost_mem_region){0x0, 0x1000, UA + 0x10000, 0};
    m.p.mem.region[2] = (vs_vhost_mem_region){UINT64_MAX - 0xfff, 0x1000, UA + 0x20000, 0};
    m.size = 8 + 96;
    m.nfds = 3;
    must_apply(&s, m);
    vs_vhost_xlat x;
    vs_err e = {0};
    const char *rule;
    /* first and last byte of region 0 */
    ck_assert_int_eq(vs_vhost_xlat_uaddr(&s, UA, 1, &x, &rule, &e), 0);
    ck_assert_uint_eq(x.slot, 0);
    ck_assert_uint_eq(x.gpa, 0x100000);
    ck_assert_uint_eq(x.offset, 0x3000);
    ck_assert_int_eq(vs_vhost_xlat_uaddr(&s, UA + 0xffff, 1, &x, &rule, &e), 0);
    ck_assert_uint_eq(x.gpa, 0x10ffff);
    ck_assert_uint_eq(x.region_offset, 0xffff);
    /* whole region, and one byte more */
    ck_assert_int_eq(vs_vhost_xlat_uaddr(&s, UA, 0x10000, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UA, 0x10001, &x, &rule, &e), 0);
    ck_assert_str_eq(rule, "vhost-user.frontend.vring-addr.2");
    /* adjacent in user space (region 1 follows region 0) but not one region */
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UA + 0xfff0, 0x20, &x, &rule, &e), 0);
    ck_assert_int_eq(vs_vhost_xlat_uaddr(&s, UA + 0x10000, 0x1000, &x, &rule, &e), 0);
    ck_assert_uint_eq(x.slot, 1);
    ck_assert_uint_eq(x.gpa, 0);
    /* below every region, in a gap, wrap */
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UA - 1, 1, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UA + 0x11000, 1, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UINT64_MAX, 2, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_uaddr(&s, UA, 0, &x, &rule, &e), 0);
    /* gpa: the region at the top of the address space */
    ck_assert_int_eq(vs_vhost_xlat_gpa(&s, UINT64_MAX, 1, &x, &rule, &e), 0);
    ck_assert_uint_eq(x.slot, 2);
    ck_assert_int_lt(vs_vhost_xlat_gpa(&s, UINT64_MAX, 2, &x, &rule, &e), 0);
    ck_assert_int_eq(vs_vhost_xlat_gpa(&s, 0x10fff0, 0x10, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_gpa(&s, 0x10fff0, 0x11, &x, &rule, &e), 0);
    ck_assert_int_lt(vs_vhost_xlat_gpa(&s, 0x1000, 1, &x, &rule, &e), 0);
    /* ring addresses go through the user-address translation */
    must_apply(&s, mk_state(VS_VHOST_USER_SET_VRING_NUM, 1, 64));
    vs_vhost_msg a = mk(VS_VHOST_USER_SET_VRING_ADDR);
    a.p.addr = (vs_vhost_vring_addr){1, 0, UA + 0x1000, UA + 0x3000, UA + 0x2000, 0};
    a.size = 40;
    must_apply(&s, a);
    ck_assert_uint_eq(s.ring[1].layout.desc_gpa, 0x101000);
    ck_assert_uint_eq(s.ring[1].layout.driver_gpa, 0x102000);
    ck_assert_uint_eq(s.ring[1].layout.device_gpa, 0x103000);
    /* used ring split across regions 0 and 1 (adjacent user space) is refused */
    a.p.addr.used = UA + 0x10000 - 0x10;
    must_reject(&s, a, "vhost-user.frontend.vring-addr.2");
}
END_TEST

/* ------------------------------------------------------------------ kernel flavour */

START_TEST(kernel_flavour)
{
    vs_vhost_backend_cfg c = {.features = PF_BIT(32) | PF_BIT(29), .proto_features = 0x2,
                              .num_queues = 3};
    vs_vhost_state s;
    vs_err e = {0};
    ck_assert_int_eq(vs_vhost_state_init(&s, VS_VHOST_FLAVOUR_KERNEL, &c, &e), 0);
    ck_assert_uint_eq(s.offered & F_PROTO, 0);
    vs_vhost_kernel_arg arg;
    memset(&arg, 0, sizeof arg);
    vs_vhost_msg m;
    const char *rule;
    vs_vhost_effect fx;
#define K(op) kapply(&s, op, &arg, &m, &fx, &rule, &e)
    ck_assert_int_eq(K(VS_VHOST_K_GET_FEATURES), 0);
    ck_assert_uint_eq(fx.reply.p.u64, PF_BIT(32) | PF_BIT(29));
    ck_assert_int_lt(K(VS_VHOST_K_SET_MEM_TABLE), 0); /* before owner */
    ck_assert_str_eq(rule, "vhost-user.frontend.owner.1");
    ck_assert_int_eq(K(VS_VHOST_K_SET_OWNER), 0);
    ck_assert_int_lt(K(VS_VHOST_K_SET_OWNER), 0);
    arg.u64 = PF_BIT(32);
    ck_assert_int_eq(K(VS_VHOST_K_SET_FEATURES), 0);
    ck_assert(vs_vhost_ring_enabled(&s, 0)); /* kernel: always enabled */
    /* SET_ENDPOINT needs memory */
    ck_assert_int_lt(K(VS_VHOST_K_SCSI_SET_ENDPOINT), 0);
    ck_assert_str_eq(rule, "vhost-user.frontend.kernel-endpoint.1");
    arg.mem.nregions = 1;
    arg.mem.region[0] = (vs_vhost_mem_region){0, MEMSZ, UA, 0xdead};
    ck_assert_int_eq(K(VS_VHOST_K_SET_MEM_TABLE), 0); /* no fds in the kernel flavour */
    ck_assert_uint_eq(s.mem[0].r.mmap_offset, 0);
    arg.state = (vs_vhost_vring_state){0, 128};
    ck_assert_int_eq(K(VS_VHOST_K_SET_VRING_NUM), 0);
    arg.addr = (vs_vhost_vring_addr){0, 0, UA + 0x10000, UA + 0x12000, UA + 0x11000, 0};
    ck_assert_int_eq(K(VS_VHOST_K_SET_VRING_ADDR), 0);
    arg.file.index = 0;
    arg.file.fd = 5;
    ck_assert_int_eq(K(VS_VHOST_K_SET_VRING_KICK), 0);
    ck_assert(s.ring[0].kick_set);
    arg.file.fd = -1; /* unset, not polling */
    ck_assert_int_eq(K(VS_VHOST_K_SET_VRING_KICK), 0);
    ck_assert(!s.ring[0].kick_set && !s.ring[0].kick_polling);
    strcpy(arg.target.wwpn, "naa.500140512345678");
    ck_assert_int_eq(K(VS_VHOST_K_SCSI_SET_ENDPOINT), 0);
    ck_assert(s.endpoint_set);
    ck_assert_int_lt(K(VS_VHOST_K_SCSI_SET_ENDPOINT), 0);
    ck_assert_int_eq(K(VS_VHOST_K_SCSI_GET_ABI_VERSION), 0);
    ck_assert_uint_eq(fx.reply.p.u64, 1);
    arg.u64 = 0x2;
    ck_assert_int_eq(K(VS_VHOST_K_SET_BACKEND_FEATURES), 0);
    arg.u64 = 0x4;
    ck_assert_int_lt(K(VS_VHOST_K_SET_BACKEND_FEATURES), 0);
    ck_assert_int_eq(K(VS_VHOST_K_SCSI_CLEAR_ENDPOINT), 0);
    ck_assert(!s.endpoint_set);
    /* vhost-user-only requests are unknown to the kernel flavour */
    vs_vhost_msg g = mk(VS_VHOST_USER_GET_PROTOCOL_FEATURES);
    ck_assert_int_lt(vs_vhost_apply(&s, &g, &fx, &rule, &e), 0);
    ck_assert_str_eq(rule, "vhost-user.frontend.request.1");
    /* WWPN without NUL */
    memset(arg.target.wwpn, 'a', sizeof arg.target.wwpn);
    ck_assert_int_lt(vs_vhost_kernel_to_msg(VS_VHOST_K_SCSI_SET_ENDPOINT, &arg, &m, &e), 0);
    /* ioctl numbers as in linux/vhost.h */
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_SET_OWNER), 0xAF01ul);
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_GET_FEATURES), 0x8008AF00ul);
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_SET_FEATURES), 0x4008AF00ul);
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_GET_VRING_BASE), 0xC008AF12ul);
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_SET_VRING_ADDR), 0x4028AF11ul);
    ck_assert_uint_eq(vs_vhost_kernel_ioctl_nr(VS_VHOST_K_SCSI_SET_ENDPOINT), 0x40e8AF40ul);
    ck_assert_str_eq(vs_vhost_kernel_op_name(VS_VHOST_K_SCSI_SET_ENDPOINT),
                     "VHOST_SCSI_SET_ENDPOINT");
#undef K
}
END_TEST

/* ------------------------------------------------------------------ rule table */

START_TEST(rule_table)
{
    size_t n = vs_vhost_rule_count();
    ck_assert_uint_ge(n, 30);
    for (size_t i = 0; i < n; i++) {
        const vs_vhost_rule *r = vs_vhost_rule_at(i);
        ck_assert_ptr_nonnull(r);
        const char *pfx = r->role == VS_VHOST_ROLE_BACKEND ? "vhost-user.backend."
                                                           : "vhost-user.frontend.";
        ck_assert_msg(strncmp(r->id, pfx, strlen(pfx)) == 0, "bad id %s", r->id);
        const char *dot = strrchr(r->id, '.');
        ck_assert(dot && dot[1] >= '1' && dot[1] <= '9');
        ck_assert(strlen(r->paraphrase) > 20);
        ck_assert(r->check && r->spec_ref);
        ck_assert_ptr_eq(vs_vhost_rule_find(r->id), r);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(vs_vhost_rule_at(j)->id, r->id);
    }
    ck_assert_ptr_null(vs_vhost_rule_at(n));
    ck_assert_ptr_null(vs_vhost_rule_find("nope"));
    ck_assert_str_eq(vs_vhost_rule_level_name(VS_VHOST_MUST_NOT), "MUST NOT");
}
END_TEST

/* ------------------------------------------------------------------ gmem external */

START_TEST(gmem_external)
{
    size_t sz = 0x4000;
    uint8_t *a = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint8_t *b = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(a != MAP_FAILED && b != MAP_FAILED);
    vs_gmem_ext_region r[2] = {{0x10000, sz, a, 0}, {0x14000, sz, b, 0}};
    vs_gmem *gm = NULL;
    vs_err e = {0};
    ck_assert_msg(vs_gmem_create_external(&gm, r, 2, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(vs_gmem_fd(gm), -1);
    ck_assert_uint_eq(vs_gmem_region_count(gm), 2);
    ck_assert_int_eq(vs_gmem_st32(gm, 0x10004, 0xdeadbeef, &e), 0);
    ck_assert_uint_eq(a[4], 0xef);
    b[0] = 0x5a;
    uint8_t v = 0;
    ck_assert_int_eq(vs_gmem_ld8(gm, 0x14000, &v, &e), 0);
    ck_assert_uint_eq(v, 0x5a);
    /* a copy spanning both adjacent regions */
    uint8_t buf[8];
    memset(a + sz - 4, 1, 4);
    memset(b, 2, 4);
    ck_assert_int_eq(vs_gmem_read(gm, 0x14000 - 4, buf, 8, &e), 0);
    ck_assert_uint_eq(buf[0], 1);
    ck_assert_uint_eq(buf[7], 2);
    ck_assert_ptr_eq(vs_gmem_translate(gm, 0x10000, 16, VS_GMEM_READ, &e), a);
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x18000, 1, VS_GMEM_READ, &e));
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x14000 - 4, 8, VS_GMEM_READ, &e));
    uint64_t gpa;
    ck_assert_int_lt(vs_gmem_alloc(gm, 4096, 4096, &gpa, &e), 0); /* no allocator */
    ck_assert_int_lt(vs_gmem_add_region(gm, 0x30000, 0x1000, 0, 0, &e), 0);
    vs_gmem_destroy(gm); /* must not unmap ours */
    a[0] = 1;
    /* invalid inputs */
    vs_gmem_ext_region bad[2] = {{0x10000, sz, a, 0}, {0x12000, sz, b, 0}};
    ck_assert_int_lt(vs_gmem_create_external(&gm, bad, 2, &e), 0); /* overlap */
    ck_assert_ptr_null(gm);
    bad[1] = (vs_gmem_ext_region){0x20000, 0, b, 0};
    ck_assert_int_lt(vs_gmem_create_external(&gm, bad, 2, &e), 0); /* size 0 */
    bad[1] = (vs_gmem_ext_region){UINT64_MAX - 10, sz, b, 0};
    ck_assert_int_lt(vs_gmem_create_external(&gm, bad, 2, &e), 0); /* wrap */
    bad[1] = (vs_gmem_ext_region){0x20000, sz, NULL, 0};
    ck_assert_int_lt(vs_gmem_create_external(&gm, bad, 2, &e), 0); /* no mapping */
    bad[1] = (vs_gmem_ext_region){0x20000, sz, NULL, VS_GMEM_HOLE};
    ck_assert_int_eq(vs_gmem_create_external(&gm, bad, 2, &e), 0); /* holes need none */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x20000, 1, VS_GMEM_READ, &e));
    vs_gmem_destroy(gm);
    ck_assert_int_eq(vs_gmem_create_external(&gm, NULL, 0, &e), 0);
    vs_gmem_destroy(gm);
    munmap(a, sz);
    munmap(b, sz);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vhost");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, codec_roundtrip_every_kind);
    tcase_add_test(tc, codec_wire_layout);
    tcase_add_test(tc, codec_validation_errors);
    tcase_add_test(tc, check_reply);
    tcase_add_test(tc, legality_table);
    tcase_add_test(tc, legality_details);
    tcase_add_test(tc, ring_rules);
    tcase_add_test(tc, reply_ack_and_replies);
    tcase_add_test(tc, reset_device_keeps_session);
    tcase_add_test(tc, translation_edges);
    tcase_add_test(tc, kernel_flavour);
    tcase_add_test(tc, rule_table);
    tcase_add_test(tc, gmem_external);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
