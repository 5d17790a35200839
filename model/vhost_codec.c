/* The vhost-user codec: request names, payload shapes, message validation, decoding and
 * encoding, reply checks (see include/virtiosim/vhost.h). The state machine that applies
 * messages is model/vhost.c. */
#include "vhost_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vs__vhost_rej(const char **rule, const char *id, vs_err *e, int code, const char *fmt, ...)
{
    if (rule)
        *rule = id;
    if (e) {
        char buf[VS_ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (id)
            vs_err_set(e, code, "%s [%s]", buf, id);
        else
            vs_err_set(e, code, "%s", buf);
    }
    return -code;
}

/* ------------------------------------------------------------------ names */

static const char *const req_names[VS_VHOST_USER_REQ_MAX] = {
    [0] = "NONE",
    [1] = "GET_FEATURES", [2] = "SET_FEATURES", [3] = "SET_OWNER", [4] = "RESET_OWNER",
    [5] = "SET_MEM_TABLE", [6] = "SET_LOG_BASE", [7] = "SET_LOG_FD",
    [8] = "SET_VRING_NUM", [9] = "SET_VRING_ADDR", [10] = "SET_VRING_BASE",
    [11] = "GET_VRING_BASE", [12] = "SET_VRING_KICK", [13] = "SET_VRING_CALL",
    [14] = "SET_VRING_ERR", [15] = "GET_PROTOCOL_FEATURES", [16] = "SET_PROTOCOL_FEATURES",
    [17] = "GET_QUEUE_NUM", [18] = "SET_VRING_ENABLE", [19] = "SEND_RARP",
    [20] = "NET_SET_MTU", [21] = "SET_BACKEND_REQ_FD", [22] = "IOTLB_MSG",
    [23] = "SET_VRING_ENDIAN", [24] = "GET_CONFIG", [25] = "SET_CONFIG",
    [26] = "CREATE_CRYPTO_SESSION", [27] = "CLOSE_CRYPTO_SESSION",
    [28] = "POSTCOPY_ADVISE", [29] = "POSTCOPY_LISTEN", [30] = "POSTCOPY_END",
    [31] = "GET_INFLIGHT_FD", [32] = "SET_INFLIGHT_FD", [33] = "GPU_SET_SOCKET",
    [34] = "RESET_DEVICE", [35] = "VRING_KICK", [36] = "GET_MAX_MEM_SLOTS",
    [37] = "ADD_MEM_REG", [38] = "REM_MEM_REG", [39] = "SET_STATUS", [40] = "GET_STATUS",
};

const char *vs_vhost_req_name(uint32_t request)
{
    if (request < VS_VHOST_USER_REQ_MAX)
        return req_names[request];
    switch (request) {
    case VS_VHOST_KERNEL_SCSI_SET_ENDPOINT: return "SCSI_SET_ENDPOINT";
    case VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT: return "SCSI_CLEAR_ENDPOINT";
    case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION: return "SCSI_GET_ABI_VERSION";
    case VS_VHOST_KERNEL_SET_BACKEND_FEATURES: return "SET_BACKEND_FEATURES";
    case VS_VHOST_KERNEL_GET_BACKEND_FEATURES: return "GET_BACKEND_FEATURES";
    }
    return "UNKNOWN";
}

static const char *const pf_names[] = {
    "MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "NET_MTU", "BACKEND_REQ", "CROSS_ENDIAN",
    "CRYPTO_SESSION", "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD", "HOST_NOTIFIER",
    "INFLIGHT_SHMFD", "RESET_DEVICE", "INBAND_NOTIFICATIONS", "CONFIGURE_MEM_SLOTS",
    "STATUS", "XEN_MMAP", "SHARED_OBJECT", "DEVICE_STATE",
};

const char *vs_vhost_proto_feature_name(unsigned bit)
{
    return bit < sizeof pf_names / sizeof pf_names[0] ? pf_names[bit] : NULL;
}

/* ------------------------------------------------------------------ payload shapes */

enum vs_vhost_payload_kind vs_vhost_payload_kind_for(uint32_t request, enum vs_vhost_dir dir)
{
    if (dir == VS_VHOST_DIR_REPLY) {
        switch (request) {
        case VS_VHOST_USER_GET_FEATURES:
        case VS_VHOST_USER_GET_PROTOCOL_FEATURES:
        case VS_VHOST_USER_GET_QUEUE_NUM:
        case VS_VHOST_USER_GET_MAX_MEM_SLOTS:
        case VS_VHOST_USER_GET_STATUS:
        case VS_VHOST_USER_SET_LOG_BASE:
        case VS_VHOST_USER_POSTCOPY_ADVISE:
        case VS_VHOST_USER_POSTCOPY_END:
        case VS_VHOST_KERNEL_GET_BACKEND_FEATURES:
        case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION:
            return VS_VHOST_P_U64;
        case VS_VHOST_USER_GET_VRING_BASE: return VS_VHOST_P_STATE;
        case VS_VHOST_USER_GET_CONFIG: return VS_VHOST_P_CONFIG;
        case VS_VHOST_USER_GET_INFLIGHT_FD: return VS_VHOST_P_INFLIGHT;
        case VS_VHOST_USER_IOTLB_MSG:
        case VS_VHOST_USER_CREATE_CRYPTO_SESSION:
            return VS_VHOST_P_RAW;
        default: return VS_VHOST_P_NONE;
        }
    }
    switch (request) {
    case VS_VHOST_USER_GET_FEATURES:
    case VS_VHOST_USER_SET_OWNER:
    case VS_VHOST_USER_RESET_OWNER:
    case VS_VHOST_USER_SET_LOG_FD:
    case VS_VHOST_USER_GET_PROTOCOL_FEATURES:
    case VS_VHOST_USER_GET_QUEUE_NUM:
    case VS_VHOST_USER_SET_BACKEND_REQ_FD:
    case VS_VHOST_USER_POSTCOPY_ADVISE:
    case VS_VHOST_USER_POSTCOPY_LISTEN:
    case VS_VHOST_USER_POSTCOPY_END:
    case VS_VHOST_USER_GPU_SET_SOCKET:
    case VS_VHOST_USER_RESET_DEVICE:
    case VS_VHOST_USER_GET_MAX_MEM_SLOTS:
    case VS_VHOST_USER_GET_STATUS:
    case VS_VHOST_KERNEL_SCSI_SET_ENDPOINT:
    case VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT:
    case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION:
    case VS_VHOST_KERNEL_GET_BACKEND_FEATURES:
        return VS_VHOST_P_NONE;
    case VS_VHOST_USER_SET_FEATURES:
    case VS_VHOST_USER_SET_VRING_KICK:
    case VS_VHOST_USER_SET_VRING_CALL:
    case VS_VHOST_USER_SET_VRING_ERR:
    case VS_VHOST_USER_SET_PROTOCOL_FEATURES:
    case VS_VHOST_USER_SEND_RARP:
    case VS_VHOST_USER_NET_SET_MTU:
    case VS_VHOST_USER_SET_STATUS:
    case VS_VHOST_USER_CLOSE_CRYPTO_SESSION:
    case VS_VHOST_KERNEL_SET_BACKEND_FEATURES:
        return VS_VHOST_P_U64;
    case VS_VHOST_USER_SET_VRING_NUM:
    case VS_VHOST_USER_SET_VRING_BASE:
    case VS_VHOST_USER_GET_VRING_BASE:
    case VS_VHOST_USER_SET_VRING_ENABLE:
    case VS_VHOST_USER_SET_VRING_ENDIAN:
    case VS_VHOST_USER_VRING_KICK:
        return VS_VHOST_P_STATE;
    case VS_VHOST_USER_SET_VRING_ADDR: return VS_VHOST_P_ADDR;
    case VS_VHOST_USER_SET_MEM_TABLE: return VS_VHOST_P_MEM_TABLE;
    case VS_VHOST_USER_ADD_MEM_REG:
    case VS_VHOST_USER_REM_MEM_REG:
        return VS_VHOST_P_MEM_REGION;
    case VS_VHOST_USER_GET_CONFIG:
    case VS_VHOST_USER_SET_CONFIG:
        return VS_VHOST_P_CONFIG;
    case VS_VHOST_USER_SET_LOG_BASE: return VS_VHOST_P_LOG;
    case VS_VHOST_USER_GET_INFLIGHT_FD:
    case VS_VHOST_USER_SET_INFLIGHT_FD:
        return VS_VHOST_P_INFLIGHT;
    default: return VS_VHOST_P_RAW; /* IOTLB, crypto session, unknown */
    }
}

bool vs_vhost_req_has_reply(uint32_t request, uint64_t acked_proto)
{
    if (request == VS_VHOST_USER_SET_LOG_BASE)
        return (acked_proto >> VS_VHOST_PF_LOG_SHMFD) & 1;
    switch (request) {
    case VS_VHOST_USER_GET_FEATURES:
    case VS_VHOST_USER_GET_PROTOCOL_FEATURES:
    case VS_VHOST_USER_GET_VRING_BASE:
    case VS_VHOST_USER_GET_QUEUE_NUM:
    case VS_VHOST_USER_GET_CONFIG:
    case VS_VHOST_USER_GET_INFLIGHT_FD:
    case VS_VHOST_USER_GET_MAX_MEM_SLOTS:
    case VS_VHOST_USER_GET_STATUS:
    case VS_VHOST_USER_POSTCOPY_ADVISE:
    case VS_VHOST_USER_POSTCOPY_END:
    case VS_VHOST_USER_CREATE_CRYPTO_SESSION:
    case VS_VHOST_KERNEL_GET_BACKEND_FEATURES:
    case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION:
        return true;
    default: return false;
    }
}

bool vs_vhost_reply_expected(const vs_vhost_msg *m, uint64_t acked_proto)
{
    if (!m)
        return false;
    if (vs_vhost_req_has_reply(m->request, acked_proto))
        return true;
    return (m->flags & VS_VHOST_USER_FLAG_NEED_REPLY) &&
           ((acked_proto >> VS_VHOST_PF_REPLY_ACK) & 1);
}

void vs_vhost_fds_allowed(const vs_vhost_msg *m, enum vs_vhost_dir dir, unsigned *min,
                          unsigned *max)
{
    unsigned lo = 0, hi = 0;
    if (dir == VS_VHOST_DIR_REPLY) {
        if (m->request == VS_VHOST_USER_GET_INFLIGHT_FD ||
            m->request == VS_VHOST_USER_POSTCOPY_ADVISE)
            lo = hi = 1;
    } else {
        switch (m->request) {
        case VS_VHOST_USER_SET_MEM_TABLE:
            lo = hi = m->p.mem.nregions <= VS_VHOST_MAX_FDS ? m->p.mem.nregions : 0;
            break;
        case VS_VHOST_USER_SET_VRING_KICK:
        case VS_VHOST_USER_SET_VRING_CALL:
        case VS_VHOST_USER_SET_VRING_ERR:
            lo = hi = (m->p.u64 & VS_VHOST_VRING_NOFD_MASK) ? 0 : 1;
            break;
        case VS_VHOST_USER_SET_LOG_BASE:
        case VS_VHOST_USER_SET_LOG_FD:
        case VS_VHOST_USER_SET_BACKEND_REQ_FD:
        case VS_VHOST_USER_SET_INFLIGHT_FD:
        case VS_VHOST_USER_ADD_MEM_REG:
        case VS_VHOST_USER_GPU_SET_SOCKET:
            lo = hi = 1;
            break;
        case VS_VHOST_USER_REM_MEM_REG: /* QEMU sends the region's fd along */
            lo = 0;
            hi = 1;
            break;
        default:
            if (m->request == 0 || m->request >= VS_VHOST_USER_REQ_MAX) {
                lo = 0; /* unknown: rejected by the state machine anyway */
                hi = VS_VHOST_MAX_FDS;
            }
            break;
        }
    }
    if (min)
        *min = lo;
    if (max)
        *max = hi;
}

void vs_vhost_msg_init(vs_vhost_msg *m, uint32_t request, enum vs_vhost_dir dir)
{
    memset(m, 0, sizeof *m);
    m->request = request;
    m->flags = VS_VHOST_USER_VERSION | (dir == VS_VHOST_DIR_REPLY ? VS_VHOST_USER_FLAG_REPLY : 0);
    m->kind = vs_vhost_payload_kind_for(request, dir);
}

/* ------------------------------------------------------------------ little endian */

static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static inline uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}
static inline void st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ------------------------------------------------------------------ validation */

/* Wire size of a payload kind; for CONFIG the data size is added, MEM_TABLE per region. */
static uint32_t kind_size(const vs_vhost_msg *m)
{
    switch (m->kind) {
    case VS_VHOST_P_NONE: return 0;
    case VS_VHOST_P_U64: return 8;
    case VS_VHOST_P_STATE: return 8;
    case VS_VHOST_P_ADDR: return 40;
    case VS_VHOST_P_MEM_TABLE: return 8 + 32 * m->p.mem.nregions;
    case VS_VHOST_P_MEM_REGION: return 40;
    case VS_VHOST_P_CONFIG: return VS_VHOST_CONFIG_HDR_SIZE + m->p.config.size;
    case VS_VHOST_P_LOG: return 16;
    case VS_VHOST_P_INFLIGHT: return 20;
    case VS_VHOST_P_RAW: return m->size;
    }
    return 0;
}

int vs_vhost_mem_table_check(const vs_vhost_mem_table *t, bool allow_empty,
                             const char **rule, vs_err *e)
{
    if (!t)
        return rej(rule, NULL, e, VS_EINVAL, "memory table is NULL");
    if (t->nregions > VS_VHOST_MEM_REGIONS_MAX)
        return rej(rule, R_SIZE_MAX, e, VS_EPROTO, "memory table: %u regions > %u",
                   t->nregions, VS_VHOST_MEM_REGIONS_MAX);
    if (t->nregions == 0 && !allow_empty)
        return rej(rule, R_MEM, e, VS_EPROTO, "memory table: no regions");
    for (uint32_t i = 0; i < t->nregions; i++) {
        const vs_vhost_mem_region *r = &t->region[i];
        if (r->size == 0)
            return rej(rule, R_MEM, e, VS_EPROTO, "memory region %u: size 0", i);
        if (r->size - 1 > UINT64_MAX - r->gpa)
            return rej(rule, R_MEM, e, VS_EPROTO,
                       "memory region %u: gpa 0x%llx+0x%llx wraps around 2^64", i,
                       (ull)r->gpa, (ull)r->size);
        if (r->size - 1 > UINT64_MAX - r->uaddr)
            return rej(rule, R_MEM, e, VS_EPROTO,
                       "memory region %u: user address 0x%llx+0x%llx wraps around 2^64", i,
                       (ull)r->uaddr, (ull)r->size);
        if (r->size - 1 > UINT64_MAX - r->mmap_offset)
            return rej(rule, R_MEM, e, VS_EPROTO,
                       "memory region %u: mmap offset 0x%llx+0x%llx wraps around 2^64", i,
                       (ull)r->mmap_offset, (ull)r->size);
        for (uint32_t j = 0; j < i; j++) {
            const vs_vhost_mem_region *q = &t->region[j];
            /* inclusive ends avoid overflow at 2^64 */
            uint64_t re = r->gpa + (r->size - 1), qe = q->gpa + (q->size - 1);
            if (r->gpa <= qe && q->gpa <= re)
                return rej(rule, R_MEM_OVL, e, VS_EPROTO,
                           "memory region %u gpa [0x%llx,+0x%llx) overlaps region %u "
                           "[0x%llx,+0x%llx)",
                           i, (ull)r->gpa, (ull)r->size, j, (ull)q->gpa, (ull)q->size);
            re = r->uaddr + (r->size - 1);
            qe = q->uaddr + (q->size - 1);
            if (r->uaddr <= qe && q->uaddr <= re)
                return rej(rule, R_MEM_OVL, e, VS_EPROTO,
                           "memory region %u user address [0x%llx,+0x%llx) overlaps region "
                           "%u [0x%llx,+0x%llx)",
                           i, (ull)r->uaddr, (ull)r->size, j, (ull)q->uaddr, (ull)q->size);
        }
    }
    ok_rule(rule);
    return 0;
}

int vs_vhost_msg_validate(const vs_vhost_msg *m, enum vs_vhost_dir dir, const char **rule,
                          vs_err *e)
{
    if (!m)
        return rej(rule, NULL, e, VS_EINVAL, "message is NULL");
    const char *name = vs_vhost_req_name(m->request);
    if ((m->flags & VS_VHOST_USER_FLAG_VERSION_MASK) != VS_VHOST_USER_VERSION)
        return rej(rule, R_HEADER, e, VS_EPROTO, "%s: version %u in flags 0x%x, expected 1",
                   name, m->flags & VS_VHOST_USER_FLAG_VERSION_MASK, m->flags);
    if (m->flags & ~VS_VHOST_USER_FLAGS_KNOWN)
        return rej(rule, R_HEADER, e, VS_EPROTO, "%s: unknown flag bits 0x%x", name,
                   m->flags & ~VS_VHOST_USER_FLAGS_KNOWN);
    bool is_reply = (m->flags & VS_VHOST_USER_FLAG_REPLY) != 0;
    if (dir == VS_VHOST_DIR_REQUEST && is_reply)
        return rej(rule, R_HEADER, e, VS_EPROTO, "%s: request carries the reply flag", name);
    if (dir == VS_VHOST_DIR_REPLY && !is_reply)
        return rej(rule, R_REPLY, e, VS_EPROTO, "%s: reply without the reply flag", name);
    const char *szrule = dir == VS_VHOST_DIR_REPLY ? R_REPLY : R_SIZE;
    if (m->size > VS_VHOST_USER_PAYLOAD_MAX)
        return rej(rule, dir == VS_VHOST_DIR_REPLY ? R_REPLY : R_SIZE_MAX, e, VS_EPROTO,
                   "%s: payload size %u > %u", name, m->size, VS_VHOST_USER_PAYLOAD_MAX);

    enum vs_vhost_payload_kind want = vs_vhost_payload_kind_for(m->request, dir);
    /* A REPLY_ACK ack: u64 reply to a request without its own reply. */
    if (dir == VS_VHOST_DIR_REPLY && want == VS_VHOST_P_NONE)
        want = VS_VHOST_P_U64;
    if (m->kind != want)
        return rej(rule, szrule, e, VS_EPROTO, "%s: payload kind %d, expected %d", name,
                   (int)m->kind, (int)want);
    switch (m->kind) {
    case VS_VHOST_P_MEM_TABLE: {
        if (m->p.mem.nregions > VS_VHOST_MEM_REGIONS_MAX)
            return rej(rule, R_SIZE_MAX, e, VS_EPROTO, "%s: %u regions > %u", name,
                       m->p.mem.nregions, VS_VHOST_MEM_REGIONS_MAX);
        break;
    }
    case VS_VHOST_P_CONFIG:
        if (m->p.config.size > VS_VHOST_CONFIG_MAX ||
            m->p.config.offset > VS_VHOST_CONFIG_MAX ||
            m->p.config.size > VS_VHOST_CONFIG_MAX - m->p.config.offset)
            return rej(rule, R_CONFIG, e, VS_EPROTO,
                       "%s: config offset %u size %u beyond the %u-byte limit", name,
                       m->p.config.offset, m->p.config.size, VS_VHOST_CONFIG_MAX);
        if (m->p.config.flags > VS_VHOST_SET_CONFIG_MIGRATION)
            return rej(rule, R_CONFIG, e, VS_EPROTO, "%s: unknown config flags 0x%x", name,
                       m->p.config.flags);
        break;
    case VS_VHOST_P_INFLIGHT:
        if (m->size != 20 && m->size != 24 && m->size != 0)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 20 or 24",
                       name, m->size);
        break;
    default: break;
    }
    uint32_t need = kind_size(m);
    if (m->kind == VS_VHOST_P_INFLIGHT && m->size == 24)
        need = 24;
    if (m->kind != VS_VHOST_P_INFLIGHT || m->size != 0) {
        if (m->size != need)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected %u", name,
                       m->size, need);
    }
    if (m->kind == VS_VHOST_P_INFLIGHT && m->size == 0)
        return rej(rule, szrule, e, VS_EPROTO, "%s: payload size 0, expected 20", name);
    if (m->kind == VS_VHOST_P_MEM_TABLE && dir == VS_VHOST_DIR_REQUEST) {
        int rc = vs_vhost_mem_table_check(&m->p.mem, true, rule, e);
        if (rc < 0)
            return rc;
    }
    if (m->kind == VS_VHOST_P_MEM_REGION) {
        vs_vhost_mem_table t = {.nregions = 1};
        t.region[0] = m->p.region;
        int rc = vs_vhost_mem_table_check(&t, false, rule, e);
        if (rc < 0)
            return rc;
    }
    unsigned lo, hi;
    vs_vhost_fds_allowed(m, dir, &lo, &hi);
    if (m->nfds < lo || m->nfds > hi) {
        if (lo == hi)
            return rej(rule, dir == VS_VHOST_DIR_REPLY ? R_REPLY : R_FDS, e, VS_EPROTO,
                       "%s: %u file descriptors, expected %u", name, m->nfds, lo);
        return rej(rule, dir == VS_VHOST_DIR_REPLY ? R_REPLY : R_FDS, e, VS_EPROTO,
                   "%s: %u file descriptors, expected %u..%u", name, m->nfds, lo, hi);
    }
    ok_rule(rule);
    return 0;
}

int vs_vhost_hdr_decode(const void *buf, size_t len, vs_vhost_msg *m, const char **rule,
                        vs_err *e)
{
    if (!buf || !m)
        return rej(rule, NULL, e, VS_EINVAL, "hdr decode: NULL argument");
    memset(m, 0, sizeof *m);
    if (len < VS_VHOST_USER_HDR_SIZE)
        return rej(rule, R_HEADER, e, VS_EPROTO, "message header truncated: %zu of %u bytes",
                   len, VS_VHOST_USER_HDR_SIZE);
    const uint8_t *p = buf;
    m->request = ld32(p);
    m->flags = ld32(p + 4);
    m->size = ld32(p + 8);
    const char *name = vs_vhost_req_name(m->request);
    if ((m->flags & VS_VHOST_USER_FLAG_VERSION_MASK) != VS_VHOST_USER_VERSION)
        return rej(rule, R_HEADER, e, VS_EPROTO, "%s (%u): version %u in flags 0x%x, expected 1",
                   name, m->request, m->flags & VS_VHOST_USER_FLAG_VERSION_MASK, m->flags);
    if (m->flags & ~VS_VHOST_USER_FLAGS_KNOWN)
        return rej(rule, R_HEADER, e, VS_EPROTO, "%s (%u): unknown flag bits 0x%x", name,
                   m->request, m->flags & ~VS_VHOST_USER_FLAGS_KNOWN);
    if (m->size > VS_VHOST_USER_PAYLOAD_MAX)
        return rej(rule, R_SIZE_MAX, e, VS_EPROTO, "%s (%u): payload size %u > %u", name,
                   m->request, m->size, VS_VHOST_USER_PAYLOAD_MAX);
    ok_rule(rule);
    return 0;
}

int vs_vhost_msg_decode(const void *buf, size_t len, enum vs_vhost_dir dir, unsigned nfds,
                        vs_vhost_msg *m, const char **rule, vs_err *e)
{
    int rc = vs_vhost_hdr_decode(buf, len, m, rule, e);
    if (rc < 0)
        return rc;
    const char *name = vs_vhost_req_name(m->request);
    if (len != VS_VHOST_USER_HDR_SIZE + (size_t)m->size)
        return rej(rule, R_SIZE, e, VS_EPROTO,
                   "%s: header says %u payload bytes, message has %zu", name, m->size,
                   len - VS_VHOST_USER_HDR_SIZE);
    const uint8_t *p = (const uint8_t *)buf + VS_VHOST_USER_HDR_SIZE;
    uint32_t sz = m->size;
    m->nfds = nfds;
    enum vs_vhost_payload_kind k = vs_vhost_payload_kind_for(m->request, dir);
    if (dir == VS_VHOST_DIR_REPLY && k == VS_VHOST_P_NONE)
        k = VS_VHOST_P_U64;
    m->kind = k;
    const char *szrule = dir == VS_VHOST_DIR_REPLY ? R_REPLY : R_SIZE;
    /* Size first, so the payload reads below stay inside the buffer. */
    switch (k) {
    case VS_VHOST_P_NONE:
        if (sz != 0)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 0", name, sz);
        break;
    case VS_VHOST_P_U64:
        if (sz != 8)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 8", name, sz);
        m->p.u64 = ld64(p);
        break;
    case VS_VHOST_P_STATE:
        if (sz != 8)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 8", name, sz);
        m->p.state.index = ld32(p);
        m->p.state.num = ld32(p + 4);
        break;
    case VS_VHOST_P_ADDR:
        if (sz != 40)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 40", name,
                       sz);
        m->p.addr.index = ld32(p);
        m->p.addr.flags = ld32(p + 4);
        m->p.addr.desc = ld64(p + 8);
        m->p.addr.used = ld64(p + 16);
        m->p.addr.avail = ld64(p + 24);
        m->p.addr.log = ld64(p + 32);
        break;
    case VS_VHOST_P_MEM_TABLE: {
        if (sz < 8)
            return rej(rule, szrule, e, VS_EPROTO,
                       "%s: payload size %u, expected 8 + 32 * regions", name, sz);
        uint32_t n = ld32(p);
        if (n > VS_VHOST_MEM_REGIONS_MAX)
            return rej(rule, R_SIZE_MAX, e, VS_EPROTO, "%s: %u regions > %u", name, n,
                       VS_VHOST_MEM_REGIONS_MAX);
        if (sz != 8 + 32 * n)
            return rej(rule, szrule, e, VS_EPROTO,
                       "%s: payload size %u, expected %u for %u regions", name, sz, 8 + 32 * n,
                       n);
        m->p.mem.nregions = n;
        m->p.mem.padding = ld32(p + 4);
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *q = p + 8 + 32 * i;
            m->p.mem.region[i] = (vs_vhost_mem_region){ld64(q), ld64(q + 8), ld64(q + 16),
                                                       ld64(q + 24)};
        }
        break;
    }
    case VS_VHOST_P_MEM_REGION:
        if (sz != 40)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 40", name,
                       sz);
        m->p.region = (vs_vhost_mem_region){ld64(p + 8), ld64(p + 16), ld64(p + 24),
                                            ld64(p + 32)};
        break;
    case VS_VHOST_P_CONFIG: {
        if (sz < VS_VHOST_CONFIG_HDR_SIZE)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u < %u", name, sz,
                       VS_VHOST_CONFIG_HDR_SIZE);
        m->p.config.offset = ld32(p);
        m->p.config.size = ld32(p + 4);
        m->p.config.flags = ld32(p + 8);
        if (m->p.config.size > VS_VHOST_CONFIG_MAX)
            return rej(rule, R_CONFIG, e, VS_EPROTO, "%s: config size %u > %u", name,
                       m->p.config.size, VS_VHOST_CONFIG_MAX);
        if (sz != VS_VHOST_CONFIG_HDR_SIZE + m->p.config.size)
            return rej(rule, szrule, e, VS_EPROTO,
                       "%s: payload size %u, expected %u for %u config bytes", name, sz,
                       VS_VHOST_CONFIG_HDR_SIZE + m->p.config.size, m->p.config.size);
        memcpy(m->p.config.data, p + VS_VHOST_CONFIG_HDR_SIZE, m->p.config.size);
        break;
    }
    case VS_VHOST_P_LOG:
        if (sz != 16)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 16", name,
                       sz);
        m->p.log.mmap_size = ld64(p);
        m->p.log.mmap_offset = ld64(p + 8);
        break;
    case VS_VHOST_P_INFLIGHT:
        if (sz != 20 && sz != 24)
            return rej(rule, szrule, e, VS_EPROTO, "%s: payload size %u, expected 20 or 24",
                       name, sz);
        m->p.inflight.mmap_size = ld64(p);
        m->p.inflight.mmap_offset = ld64(p + 8);
        m->p.inflight.num_queues = ld16(p + 16);
        m->p.inflight.queue_size = ld16(p + 18);
        break;
    case VS_VHOST_P_RAW: break;
    }
    return vs_vhost_msg_validate(m, dir, rule, e);
}

int vs_vhost_msg_encode(const vs_vhost_msg *m, void *buf, size_t cap, vs_err *e)
{
    if (!m || !buf)
        return vs_err_set(e, VS_EINVAL, "encode: NULL argument");
    if (m->kind == VS_VHOST_P_RAW)
        return vs_err_set(e, VS_EINVAL, "encode %s: raw payloads cannot be encoded",
                          vs_vhost_req_name(m->request));
    if (m->kind == VS_VHOST_P_MEM_TABLE && m->p.mem.nregions > VS_VHOST_MEM_REGIONS_MAX)
        return vs_err_set(e, VS_EINVAL, "encode %s: %u regions > %u",
                          vs_vhost_req_name(m->request), m->p.mem.nregions,
                          VS_VHOST_MEM_REGIONS_MAX);
    if (m->kind == VS_VHOST_P_CONFIG && m->p.config.size > VS_VHOST_CONFIG_MAX)
        return vs_err_set(e, VS_EINVAL, "encode %s: config size %u > %u",
                          vs_vhost_req_name(m->request), m->p.config.size,
                          VS_VHOST_CONFIG_MAX);
    uint32_t sz = kind_size(m);
    if (cap < VS_VHOST_USER_HDR_SIZE + (size_t)sz)
        return vs_err_set(e, VS_EINVAL, "encode %s: buffer of %zu bytes < %u",
                          vs_vhost_req_name(m->request), cap, VS_VHOST_USER_HDR_SIZE + sz);
    uint8_t *b = buf;
    st32(b, m->request);
    st32(b + 4, m->flags);
    st32(b + 8, sz);
    uint8_t *p = b + VS_VHOST_USER_HDR_SIZE;
    switch (m->kind) {
    case VS_VHOST_P_NONE:
    case VS_VHOST_P_RAW: break;
    case VS_VHOST_P_U64: st64(p, m->p.u64); break;
    case VS_VHOST_P_STATE:
        st32(p, m->p.state.index);
        st32(p + 4, m->p.state.num);
        break;
    case VS_VHOST_P_ADDR:
        st32(p, m->p.addr.index);
        st32(p + 4, m->p.addr.flags);
        st64(p + 8, m->p.addr.desc);
        st64(p + 16, m->p.addr.used);
        st64(p + 24, m->p.addr.avail);
        st64(p + 32, m->p.addr.log);
        break;
    case VS_VHOST_P_MEM_TABLE:
        st32(p, m->p.mem.nregions);
        st32(p + 4, m->p.mem.padding);
        for (uint32_t i = 0; i < m->p.mem.nregions; i++) {
            uint8_t *q = p + 8 + 32 * i;
            const vs_vhost_mem_region *r = &m->p.mem.region[i];
            st64(q, r->gpa);
            st64(q + 8, r->size);
            st64(q + 16, r->uaddr);
            st64(q + 24, r->mmap_offset);
        }
        break;
    case VS_VHOST_P_MEM_REGION:
        st64(p, 0);
        st64(p + 8, m->p.region.gpa);
        st64(p + 16, m->p.region.size);
        st64(p + 24, m->p.region.uaddr);
        st64(p + 32, m->p.region.mmap_offset);
        break;
    case VS_VHOST_P_CONFIG:
        st32(p, m->p.config.offset);
        st32(p + 4, m->p.config.size);
        st32(p + 8, m->p.config.flags);
        memcpy(p + 12, m->p.config.data, m->p.config.size);
        break;
    case VS_VHOST_P_LOG:
        st64(p, m->p.log.mmap_size);
        st64(p + 8, m->p.log.mmap_offset);
        break;
    case VS_VHOST_P_INFLIGHT:
        st64(p, m->p.inflight.mmap_size);
        st64(p + 8, m->p.inflight.mmap_offset);
        st16(p + 16, m->p.inflight.num_queues);
        st16(p + 18, m->p.inflight.queue_size);
        break;
    }
    return (int)(VS_VHOST_USER_HDR_SIZE + sz);
}

int vs_vhost_check_reply(const vs_vhost_msg *req, const vs_vhost_msg *reply,
                         const char **rule, vs_err *e)
{
    if (!req || !reply)
        return rej(rule, NULL, e, VS_EINVAL, "check reply: NULL argument");
    if (reply->request != req->request)
        return rej(rule, R_REPLY, e, VS_EPROTO, "reply to %s carries request %s (%u)",
                   vs_vhost_req_name(req->request), vs_vhost_req_name(reply->request),
                   reply->request);
    int rc = vs_vhost_msg_validate(reply, VS_VHOST_DIR_REPLY, rule, e);
    if (rc < 0)
        return rc;
    if (req->request == VS_VHOST_USER_GET_VRING_BASE &&
        reply->p.state.index != req->p.state.index)
        return rej(rule, R_REPLY, e, VS_EPROTO,
                   "GET_VRING_BASE reply for ring %u, asked for ring %u",
                   reply->p.state.index, req->p.state.index);
    if (req->request == VS_VHOST_USER_GET_CONFIG &&
        (reply->p.config.size != req->p.config.size ||
         reply->p.config.offset != req->p.config.offset))
        return rej(rule, R_REPLY, e, VS_EPROTO,
                   "GET_CONFIG reply offset %u size %u, asked offset %u size %u",
                   reply->p.config.offset, reply->p.config.size, req->p.config.offset,
                   req->p.config.size);
    ok_rule(rule);
    return 0;
}
