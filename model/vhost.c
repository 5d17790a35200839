/* vhost protocol model: the shared state machine for the vhost-user and kernel flavours
 * (one handler per request), address translation (see include/virtiosim/vhost.h); the
 * codec is model/vhost_codec.c.
 *
 * Decisions (where the spec leaves room):
 *  - Before SET_OWNER only the discovery requests are legal: GET_FEATURES,
 *    GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, GET_CONFIG,
 *    GET_STATUS, SET_BACKEND_REQ_FD, RESET_DEVICE (this is the order QEMU uses).
 *  - A "protocol feature is negotiated" once SET_PROTOCOL_FEATURES acked it (QEMU sends
 *    GET_QUEUE_NUM before SET_FEATURES). SET_VRING_ENABLE needs bit 30 in SET_FEATURES.
 *  - SET_MEM_TABLE is legal while rings run (memory hot-plug) as long as the started
 *    rings stay covered. SET_VRING_ADDR on a started ring may only change the flags.
 *  - GET_VRING_BASE stops the ring and drops its kick/call fds (as libvhost-user
 *    does): the front-end sends new ones before restarting it. The error fd stays
 *    (QEMU sends it once per connection); so it does across RESET_DEVICE.
 *  - Unknown requests and requests of features virtiosim does not offer are rejected
 *    (connection kept; their fds closed).
 *  - Kernel flavour: no protocol features, rings always enabled, 0-region tables
 *    allowed, a kick fd of -1 unsets the kick. */
#include "vhost_int.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ state machine */

int vs_vhost_state_init(vs_vhost_state *s, enum vs_vhost_flavour flavour,
                        const vs_vhost_backend_cfg *cfg, vs_err *e)
{
    if (!s || !cfg)
        return vs_err_set(e, VS_EINVAL, "vhost state init: NULL argument");
    if (cfg->num_queues == 0 || cfg->num_queues > VS_VHOST_QUEUES_MAX)
        return vs_err_set(e, VS_EINVAL, "vhost state init: %u queues (1..%u)",
                          cfg->num_queues, VS_VHOST_QUEUES_MAX);
    if (cfg->queue_max_size > VS_VHOST_VRING_NUM_MAX)
        return vs_err_set(e, VS_EINVAL, "vhost state init: queue max size %u > %u",
                          cfg->queue_max_size, VS_VHOST_VRING_NUM_MAX);
    memset(s, 0, sizeof *s);
    s->flavour = flavour;
    s->cfg = *cfg;
    if (s->cfg.queue_max_size == 0)
        s->cfg.queue_max_size = VS_VHOST_VRING_NUM_MAX;
    if (s->cfg.max_mem_slots == 0)
        s->cfg.max_mem_slots = VS_VHOST_MEM_REGIONS_MAX;
    uint64_t pfbit = UINT64_C(1) << VS_VHOST_F_PROTOCOL_FEATURES;
    s->offered = cfg->features & ~pfbit;
    if (flavour == VS_VHOST_FLAVOUR_USER && cfg->proto_features)
        s->offered |= pfbit;
    return 0;
}

static void ring_reset(vs_vhost_ring *r) { memset(r, 0, sizeof *r); }

vs_ring_format vs_vhost_ring_format(const vs_vhost_state *s)
{
    return (s->features >> 34) & 1 ? VS_RING_PACKED : VS_RING_SPLIT;
}

static bool pf_acked(const vs_vhost_state *s, unsigned bit)
{
    return s->proto_set && ((s->proto_features >> bit) & 1);
}

bool vs_vhost_ring_enabled(const vs_vhost_state *s, uint32_t r)
{
    if (!s || r >= s->cfg.num_queues)
        return false;
    if (s->flavour == VS_VHOST_FLAVOUR_USER &&
        ((s->features >> VS_VHOST_F_PROTOCOL_FEATURES) & 1))
        return s->ring[r].enable_req;
    return true;
}

bool vs_vhost_ring_active(const vs_vhost_state *s, uint32_t r)
{
    if (!s || r >= s->cfg.num_queues)
        return false;
    const vs_vhost_ring *q = &s->ring[r];
    return q->started && !q->broken && vs_vhost_ring_enabled(s, r);
}

void vs_vhost_ring_break(vs_vhost_state *s, uint32_t r)
{
    if (!s || r >= s->cfg.num_queues)
        return;
    s->ring[r].broken = true;
    s->ring[r].started = false;
}

/* One lookup for both address spaces: by_gpa picks which region base addr is measured from. */
static int xlat(const vs_vhost_state *s, uint64_t addr, uint64_t len, bool by_gpa,
                vs_vhost_xlat *out, const char **rule, vs_err *e)
{
    const char *what = by_gpa ? "gpa" : "user address";
    if (!s)
        return rej(rule, NULL, e, VS_EINVAL, "xlat: NULL state");
    if (len == 0)
        return rej(rule, NULL, e, VS_EINVAL, "xlat %s 0x%llx: zero length",
                   by_gpa ? "gpa" : "uaddr", (ull)addr);
    if (len - 1 > UINT64_MAX - addr)
        return rej(rule, R_ADDR, e, VS_ERANGE, "%s 0x%llx+0x%llx wraps around 2^64", what,
                   (ull)addr, (ull)len);
    for (uint32_t i = 0; i < s->nregions; i++) {
        const vs_vhost_mem_slot *m = &s->mem[i];
        if (!m->used)
            continue;
        uint64_t base = by_gpa ? m->r.gpa : m->r.uaddr;
        uint64_t off = addr - base;
        if (addr >= base && off < m->r.size) {
            if (len - 1 > m->r.size - 1 - off)
                return rej(rule, R_ADDR, e, VS_ERANGE,
                           "%s [0x%llx,+0x%llx) crosses the end of memory region %u "
                           "[0x%llx,+0x%llx)",
                           what, (ull)addr, (ull)len, i, (ull)base, (ull)m->r.size);
            if (out)
                *out = (vs_vhost_xlat){i, m->r.gpa + off, m->r.mmap_offset + off, off};
            ok_rule(rule);
            return 0;
        }
    }
    return rej(rule, R_ADDR, e, VS_ERANGE, "%s 0x%llx is in no memory region (%u regions)", what,
               (ull)addr, s->nregions);
}

int vs_vhost_xlat_uaddr(const vs_vhost_state *s, uint64_t uaddr, uint64_t len,
                        vs_vhost_xlat *out, const char **rule, vs_err *e)
{
    return xlat(s, uaddr, len, false, out, rule, e);
}

int vs_vhost_xlat_gpa(const vs_vhost_state *s, uint64_t gpa, uint64_t len,
                      vs_vhost_xlat *out, const char **rule, vs_err *e)
{
    return xlat(s, gpa, len, true, out, rule, e);
}

/* Translates a ring's three areas. num 0 (not yet set) checks one byte of each area. */
static int ring_translate(const vs_vhost_state *s, uint32_t idx, const vs_vhost_vring_addr *a,
                          uint32_t num, vs_vq_layout *out, const char **rule, vs_err *e)
{
    vs_ring_format fmt = vs_vhost_ring_format(s);
    vs_vq_area_sizes sz = {0};
    uint32_t n = num ? num : 1;
    if (fmt == VS_RING_SPLIT && (n & (n - 1)))
        n = 1; /* not a valid split size (rejected elsewhere): check alignment only */
    vs_err tmp;
    if (vs_vq_area_sizes_for(fmt, n, &sz, &tmp) < 0)
        return rej(rule, R_NUM, e, VS_EPROTO, "ring %u: %s", idx, tmp.msg);
    if (!num)
        sz.desc_bytes = sz.driver_bytes = sz.device_bytes = 1;
    struct {
        const char *what;
        uint64_t ua, len;
        uint32_t align;
        uint64_t *gpa;
    } ar[3] = {
        {"descriptor area", a->desc, sz.desc_bytes, sz.desc_align, &out->desc_gpa},
        {fmt == VS_RING_SPLIT ? "available ring" : "driver area", a->avail, sz.driver_bytes,
         sz.driver_align, &out->driver_gpa},
        {fmt == VS_RING_SPLIT ? "used ring" : "device area", a->used, sz.device_bytes,
         sz.device_align, &out->device_gpa},
    };
    out->format = fmt;
    out->size = num;
    for (int i = 0; i < 3; i++) {
        if (ar[i].align && (ar[i].ua & (ar[i].align - 1)))
            return rej(rule, R_ADDR, e, VS_EPROTO,
                       "ring %u: %s at user address 0x%llx not %u-byte aligned", idx,
                       ar[i].what, (ull)ar[i].ua, ar[i].align);
        vs_vhost_xlat x;
        vs_err e2;
        vs_err_clear(&e2);
        if (vs_vhost_xlat_uaddr(s, ar[i].ua, ar[i].len, &x, NULL, &e2) < 0)
            return rej(rule, R_ADDR, e, VS_ERANGE, "ring %u: %s (0x%llx bytes): %s", idx,
                       ar[i].what, (ull)ar[i].len, e2.msg);
        *ar[i].gpa = x.gpa;
    }
    ok_rule(rule);
    return 0;
}

static bool any_started(const vs_vhost_state *s)
{
    for (uint32_t i = 0; i < s->cfg.num_queues; i++)
        if (s->ring[i].started)
            return true;
    return false;
}

/* RESET_OWNER (keep_session false) forgets the whole session. RESET_DEVICE resets the
 * device only (vhost-user.rst: "reset all internal device state ... The back-end retains
 * ownership"): ownership, the negotiated protocol features (so REPLY_ACK and RESET_DEVICE
 * itself keep working) and each ring's error fd stay, since a front-end negotiates those
 * once per connection (QEMU sends SET_VRING_ERR only when it sets the ring up). */
static void full_reset(vs_vhost_state *s, bool keep_session)
{
    for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++) {
        bool err = s->ring[i].err_set;
        ring_reset(&s->ring[i]);
        s->ring[i].err_set = keep_session && err;
    }
    s->features_set = false;
    s->features = 0;
    if (!keep_session) {
        s->proto_set = false;
        s->proto_features = 0;
        s->owner = false;
    }
    s->mem_set = false;
    s->nregions = 0;
    memset(s->mem, 0, sizeof s->mem);
    s->status = 0;
    s->endpoint_set = false;
}

/* Does the request require an owner? (discovery requests do not) */
static bool needs_owner(uint32_t req)
{
    switch (req) {
    case VS_VHOST_USER_GET_FEATURES:
    case VS_VHOST_USER_SET_OWNER:
    case VS_VHOST_USER_GET_PROTOCOL_FEATURES:
    case VS_VHOST_USER_SET_PROTOCOL_FEATURES:
    case VS_VHOST_USER_GET_QUEUE_NUM:
    case VS_VHOST_USER_GET_MAX_MEM_SLOTS:
    case VS_VHOST_USER_GET_CONFIG:
    case VS_VHOST_USER_GET_STATUS:
    case VS_VHOST_USER_SET_BACKEND_REQ_FD:
    case VS_VHOST_USER_RESET_DEVICE:
    case VS_VHOST_KERNEL_GET_BACKEND_FEATURES:
    case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION:
        return false;
    default: return true;
    }
}

/* Protocol feature a request belongs to, or -1. */
static int req_pf(uint32_t req)
{
    switch (req) {
    case VS_VHOST_USER_GET_QUEUE_NUM: return VS_VHOST_PF_MQ;
    case VS_VHOST_USER_SET_LOG_BASE: return VS_VHOST_PF_LOG_SHMFD;
    case VS_VHOST_USER_SEND_RARP: return VS_VHOST_PF_RARP;
    case VS_VHOST_USER_NET_SET_MTU: return VS_VHOST_PF_NET_MTU;
    case VS_VHOST_USER_SET_BACKEND_REQ_FD: return VS_VHOST_PF_BACKEND_REQ;
    case VS_VHOST_USER_SET_VRING_ENDIAN: return VS_VHOST_PF_CROSS_ENDIAN;
    case VS_VHOST_USER_CREATE_CRYPTO_SESSION:
    case VS_VHOST_USER_CLOSE_CRYPTO_SESSION: return VS_VHOST_PF_CRYPTO_SESSION;
    case VS_VHOST_USER_POSTCOPY_ADVISE:
    case VS_VHOST_USER_POSTCOPY_LISTEN:
    case VS_VHOST_USER_POSTCOPY_END: return VS_VHOST_PF_PAGEFAULT;
    case VS_VHOST_USER_GET_CONFIG:
    case VS_VHOST_USER_SET_CONFIG: return VS_VHOST_PF_CONFIG;
    case VS_VHOST_USER_GET_INFLIGHT_FD:
    case VS_VHOST_USER_SET_INFLIGHT_FD: return VS_VHOST_PF_INFLIGHT_SHMFD;
    case VS_VHOST_USER_RESET_DEVICE: return VS_VHOST_PF_RESET_DEVICE;
    case VS_VHOST_USER_VRING_KICK: return VS_VHOST_PF_INBAND_NOTIFICATIONS;
    case VS_VHOST_USER_GET_MAX_MEM_SLOTS:
    case VS_VHOST_USER_ADD_MEM_REG:
    case VS_VHOST_USER_REM_MEM_REG: return VS_VHOST_PF_CONFIGURE_MEM_SLOTS;
    case VS_VHOST_USER_SET_STATUS:
    case VS_VHOST_USER_GET_STATUS: return VS_VHOST_PF_STATUS;
    default: return -1;
    }
}

/* Requests the state machine models, per flavour. */
static bool known_req(const vs_vhost_state *s, uint32_t req)
{
    if (s->flavour == VS_VHOST_FLAVOUR_KERNEL) {
        switch (req) {
        case VS_VHOST_USER_GET_FEATURES:
        case VS_VHOST_USER_SET_FEATURES:
        case VS_VHOST_USER_SET_OWNER:
        case VS_VHOST_USER_RESET_OWNER:
        case VS_VHOST_USER_SET_MEM_TABLE:
        case VS_VHOST_USER_SET_LOG_BASE:
        case VS_VHOST_USER_SET_LOG_FD:
        case VS_VHOST_USER_SET_VRING_NUM:
        case VS_VHOST_USER_SET_VRING_ADDR:
        case VS_VHOST_USER_SET_VRING_BASE:
        case VS_VHOST_USER_GET_VRING_BASE:
        case VS_VHOST_USER_SET_VRING_KICK:
        case VS_VHOST_USER_SET_VRING_CALL:
        case VS_VHOST_USER_SET_VRING_ERR:
        case VS_VHOST_KERNEL_SCSI_SET_ENDPOINT:
        case VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT:
        case VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION:
        case VS_VHOST_KERNEL_SET_BACKEND_FEATURES:
        case VS_VHOST_KERNEL_GET_BACKEND_FEATURES:
            return true;
        default: return false;
        }
    }
    return req > 0 && req < VS_VHOST_USER_REQ_MAX;
}

static void fx_init(vs_vhost_effect *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->ring = -1;
    fx->slot = -1;
}

static void fx_reply(vs_vhost_effect *fx, uint32_t req, enum vs_vhost_payload_kind k)
{
    vs_vhost_msg_init(&fx->reply, req, VS_VHOST_DIR_REPLY);
    fx->reply.kind = k;
    fx->actions |= VS_VHOST_ACT_REPLY;
}

void vs_vhost_effect_fail(vs_vhost_effect *fx)
{
    if (fx && (fx->actions & VS_VHOST_ACT_REPLY) && fx->reply.kind == VS_VHOST_P_U64 &&
        !vs_vhost_req_has_reply(fx->reply.request, UINT64_MAX))
        fx->reply.p.u64 = 1;
}

static uint32_t ring_index_raw(const vs_vhost_msg *m);

/* Is m a ring message? Its ring index goes to *idx (any u32: validated by the caller). */
static bool ring_index_of(const vs_vhost_msg *m, uint32_t *idx)
{
    *idx = ring_index_raw(m);
    switch (m->request) {
    case VS_VHOST_USER_SET_VRING_NUM:
    case VS_VHOST_USER_SET_VRING_BASE:
    case VS_VHOST_USER_GET_VRING_BASE:
    case VS_VHOST_USER_SET_VRING_ENABLE:
    case VS_VHOST_USER_SET_VRING_ENDIAN:
    case VS_VHOST_USER_VRING_KICK:
    case VS_VHOST_USER_SET_VRING_ADDR:
    case VS_VHOST_USER_SET_VRING_KICK:
    case VS_VHOST_USER_SET_VRING_CALL:
    case VS_VHOST_USER_SET_VRING_ERR:
        return true;
    default: return false;
    }
}

static uint32_t ring_index_raw(const vs_vhost_msg *m)
{
    switch (m->request) {
    case VS_VHOST_USER_SET_VRING_NUM:
    case VS_VHOST_USER_SET_VRING_BASE:
    case VS_VHOST_USER_GET_VRING_BASE:
    case VS_VHOST_USER_SET_VRING_ENABLE:
    case VS_VHOST_USER_SET_VRING_ENDIAN:
    case VS_VHOST_USER_VRING_KICK:
        return m->p.state.index;
    case VS_VHOST_USER_SET_VRING_ADDR: return m->p.addr.index;
    case VS_VHOST_USER_SET_VRING_KICK:
    case VS_VHOST_USER_SET_VRING_CALL:
    case VS_VHOST_USER_SET_VRING_ERR:
        return (uint32_t)(m->p.u64 & VS_VHOST_VRING_IDX_MASK);
    default: return 0;
    }
}

/* ------------------------------------------------------------ request handlers
 * One handler per request, after apply_inner's common gates (known request, message
 * shape, protocol features, owner, ring index): each validates before it mutates. */

typedef struct req_ctx {
    vs_vhost_state *s;
    const vs_vhost_msg *m;
    vs_vhost_effect *fx;
    vs_vhost_ring *r;   /* ring messages: the ring (index checked), else NULL */
    uint32_t ri;
    const char *name;   /* the request's name, for messages */
    bool user;          /* vhost-user flavour (else kernel) */
    const char **rule;
    vs_err *e;
} req_ctx;

typedef int (*req_handler)(const req_ctx *c);

/* The reply of the GET requests that answer one u64. */
static int reply_u64(const req_ctx *c, uint64_t v)
{
    fx_reply(c->fx, c->m->request, VS_VHOST_P_U64);
    c->fx->reply.p.u64 = v;
    return 0;
}

/* GET_FEATURES */
static int h_get_features(const req_ctx *c) { return reply_u64(c, c->s->offered); }

/* SET_FEATURES */
static int h_set_features(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    const char **rule = c->rule;
    vs_err *e = c->e;
    uint64_t f = m->p.u64;
    if (f & ~s->offered)
        return rej(rule, R_FEAT, e, VS_EPROTO,
                   "SET_FEATURES 0x%llx acks bits 0x%llx that were not offered (0x%llx)",
                   (ull)f, (ull)(f & ~s->offered), (ull)s->offered);
    uint64_t logall = UINT64_C(1) << VS_VHOST_F_LOG_ALL;
    if (any_started(s) && ((f ^ s->features) & ~logall))
        return rej(rule, R_FEAT_RUN, e, VS_ESTATE,
                   "SET_FEATURES changes 0x%llx while rings are started",
                   (ull)((f ^ s->features) & ~logall));
    s->features = f;
    s->features_set = true;
    fx->actions |= VS_VHOST_ACT_FEATURES;
    return 0;
}

/* SET_OWNER */
static int h_set_owner(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const char **rule = c->rule;
    vs_err *e = c->e;
    if (s->owner)
        return rej(rule, R_OWNER2, e, VS_ESTATE, "SET_OWNER: the session already has an owner");
    s->owner = true;
    return 0;
}

/* RESET_OWNER */
static int h_reset_owner(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    vs_vhost_effect *fx = c->fx;
    full_reset(s, false);
    fx->actions |= VS_VHOST_ACT_RESET;
    return 0;
}

/* RESET_DEVICE */
static int h_reset_device(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    vs_vhost_effect *fx = c->fx;
    full_reset(s, true);
    fx->actions |= VS_VHOST_ACT_RESET;
    return 0;
}

/* SET_MEM_TABLE */
static int h_set_mem_table(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    bool user = c->user;
    const char **rule = c->rule;
    vs_err *e = c->e;
    int rc;
    rc = vs_vhost_mem_table_check(&m->p.mem, !user, rule, e);
    if (rc < 0)
        return rc;
    /* The started rings must stay covered. */
    vs_vhost_state tmp = *s;
    tmp.nregions = m->p.mem.nregions;
    memset(tmp.mem, 0, sizeof tmp.mem);
    for (uint32_t i = 0; i < tmp.nregions; i++)
        tmp.mem[i] = (vs_vhost_mem_slot){m->p.mem.region[i], true};
    for (uint32_t i = 0; i < s->cfg.num_queues; i++) {
        if (!s->ring[i].started)
            continue;
        vs_vq_layout l;
        vs_err e2;
        if (ring_translate(&tmp, i, &s->ring[i].addr, s->ring[i].num, &l, NULL, &e2) < 0)
            return rej(rule, R_MEM_RUN, e, VS_ESTATE,
                       "SET_MEM_TABLE: started ring %u no longer covered: %s", i, e2.msg);
    }
    s->nregions = tmp.nregions;
    memcpy(s->mem, tmp.mem, sizeof s->mem);
    s->mem_set = true;
    for (uint32_t i = 0; i < s->cfg.num_queues; i++) {
        vs_vhost_ring *q = &s->ring[i];
        if (q->addr_set)
            (void)ring_translate(s, i, &q->addr, q->num, &q->layout, NULL, NULL);
    }
    fx->actions |= VS_VHOST_ACT_MEM_TABLE;
    fx->fds_consumed = true;
    return 0;
}

/* ADD_MEM_REG */
static int h_add_mem_reg(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    const char **rule = c->rule;
    vs_err *e = c->e;
    int rc;
    uint32_t slot = VS_VHOST_MEM_REGIONS_MAX;
    for (uint32_t i = 0; i < VS_VHOST_MEM_REGIONS_MAX; i++)
        if (!s->mem[i].used) {
            slot = i;
            break;
        }
    if (slot == VS_VHOST_MEM_REGIONS_MAX || slot >= s->cfg.max_mem_slots)
        return rej(rule, R_MEM, e, VS_ENOSPC, "ADD_MEM_REG: all %u memory slots in use",
                   s->cfg.max_mem_slots);
    vs_vhost_mem_table t = {0};
    for (uint32_t i = 0; i < s->nregions; i++)
        if (s->mem[i].used)
            t.region[t.nregions++] = s->mem[i].r;
    t.region[t.nregions++] = m->p.region;
    rc = vs_vhost_mem_table_check(&t, false, rule, e);
    if (rc < 0)
        return rc;
    s->mem[slot] = (vs_vhost_mem_slot){m->p.region, true};
    if (slot >= s->nregions)
        s->nregions = slot + 1;
    s->mem_set = true;
    fx->slot = (int)slot;
    fx->actions |= VS_VHOST_ACT_MEM_ADD;
    fx->fds_consumed = true;
    return 0;
}

/* REM_MEM_REG */
static int h_rem_mem_reg(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    const char **rule = c->rule;
    vs_err *e = c->e;
    for (uint32_t i = 0; i < s->nregions; i++) {
        vs_vhost_mem_slot *q = &s->mem[i];
        if (q->used && q->r.gpa == m->p.region.gpa && q->r.size == m->p.region.size &&
            q->r.uaddr == m->p.region.uaddr) {
            for (uint32_t k = 0; k < s->cfg.num_queues; k++) {
                if (!s->ring[k].started)
                    continue;
                vs_vhost_state tmp = *s;
                tmp.mem[i].used = false;
                vs_vq_layout l;
                vs_err e2;
                if (ring_translate(&tmp, k, &s->ring[k].addr, s->ring[k].num, &l, NULL,
                                   &e2) < 0)
                    return rej(rule, R_MEM_RUN, e, VS_ESTATE,
                               "REM_MEM_REG: started ring %u lives in region %u", k, i);
            }
            q->used = false;
            fx->slot = (int)i;
            fx->actions |= VS_VHOST_ACT_MEM_REM;
            return 0;
        }
    }
    return rej(rule, R_MEM, e, VS_EPROTO,
               "REM_MEM_REG: no region gpa 0x%llx size 0x%llx uaddr 0x%llx", (ull)m->p.region.gpa,
               (ull)m->p.region.size, (ull)m->p.region.uaddr);
}

/* SET_LOG_BASE, SET_LOG_FD */
static int h_dirty_log(const req_ctx *c)
{
    const char *name = c->name;
    const char **rule = c->rule;
    vs_err *e = c->e;
    /* Dirty logging is not implemented (LOG_SHMFD never offered). */
    return rej(rule, R_REQUEST, e, VS_ENOTSUP, "%s: dirty logging is not supported", name);
}

/* SET_VRING_NUM */
static int h_set_vring_num(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    const char **rule = c->rule;
    vs_err *e = c->e;
    uint32_t n = m->p.state.num;
    if (r->started)
        return rej(rule, R_STOPPED, e, VS_ESTATE, "SET_VRING_NUM: ring %u is started", ri);
    bool packed = vs_vhost_ring_format(s) == VS_RING_PACKED;
    if (n == 0 || n > VS_VHOST_VRING_NUM_MAX || n > s->cfg.queue_max_size ||
        (!packed && (n & (n - 1))))
        return rej(rule, R_NUM, e, VS_EPROTO,
                   "SET_VRING_NUM: ring %u size %u (1..%u%s)", ri, n,
                   s->cfg.queue_max_size, packed ? "" : ", power of two");
    r->num = n;
    if (r->addr_set)
        (void)ring_translate(s, ri, &r->addr, r->num, &r->layout, NULL, NULL);
    return 0;
}

/* SET_VRING_ADDR */
static int h_set_vring_addr(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    const char **rule = c->rule;
    vs_err *e = c->e;
    int rc;
    const vs_vhost_vring_addr *a = &m->p.addr;
    if (a->flags & ~VS_VHOST_VRING_F_LOG)
        return rej(rule, R_ADDR_FLAGS, e, VS_EPROTO,
                   "SET_VRING_ADDR: ring %u unknown flags 0x%x", ri, a->flags);
    if (r->started) {
        if (a->desc != r->addr.desc || a->avail != r->addr.avail || a->used != r->addr.used)
            return rej(rule, R_STOPPED, e, VS_ESTATE,
                       "SET_VRING_ADDR: ring %u is started; only flags may change", ri);
        r->addr = *a;
        return 0;
    }
    if (!s->mem_set)
        return rej(rule, R_ADDR_MEM, e, VS_ESTATE,
                   "SET_VRING_ADDR: ring %u before SET_MEM_TABLE", ri);
    vs_vq_layout l;
    rc = ring_translate(s, ri, a, r->num, &l, rule, e);
    if (rc < 0)
        return rc;
    r->addr = *a;
    r->addr_set = true;
    r->layout = l;
    return 0;
}

/* SET_VRING_BASE */
static int h_set_vring_base(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    const char **rule = c->rule;
    vs_err *e = c->e;
    if (r->started)
        return rej(rule, R_STOPPED, e, VS_ESTATE, "SET_VRING_BASE: ring %u is started", ri);
    uint32_t v = m->p.state.num;
    if (vs_vhost_ring_format(s) == VS_RING_SPLIT && v > 0xffff)
        return rej(rule, R_BASE, e, VS_EPROTO,
                   "SET_VRING_BASE: ring %u base 0x%x > 0xffff for a split ring", ri, v);
    r->base = v;
    return 0;
}

/* GET_VRING_BASE */
static int h_get_vring_base(const req_ctx *c)
{
    vs_vhost_effect *fx = c->fx;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    uint32_t req = c->m->request;
    fx_reply(fx, req, VS_VHOST_P_STATE);
    fx->reply.p.state.index = ri;
    fx->reply.p.state.num = r->base;
    r->started = false;
    r->broken = false;
    r->kick_set = r->kick_polling = false;
    r->call_set = r->call_polling = false;
    fx->actions |= VS_VHOST_ACT_RING_STOP;
    return 0;
}

/* SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR */
static int h_set_vring_fd(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    const char *name = c->name;
    bool user = c->user;
    uint32_t req = c->m->request;
    const char **rule = c->rule;
    vs_err *e = c->e;
    uint64_t v = m->p.u64;
    if (v & ~(uint64_t)(VS_VHOST_VRING_IDX_MASK | VS_VHOST_VRING_NOFD_MASK))
        return rej(rule, R_VRING_FD, e, VS_EPROTO, "%s: ring %u unknown bits 0x%llx", name,
                   ri, (ull)(v & ~(uint64_t)(VS_VHOST_VRING_IDX_MASK | VS_VHOST_VRING_NOFD_MASK)));
    bool nofd = (v & VS_VHOST_VRING_NOFD_MASK) != 0;
    /* kernel: fd -1 unsets; user: no fd means polling */
    bool polling = nofd && user;
    if (req == VS_VHOST_USER_SET_VRING_KICK) {
        r->kick_set = !nofd;
        r->kick_polling = polling;
        fx->actions |= VS_VHOST_ACT_KICK_FD;
        /* polling mode: the ring starts right away (there will be no kick) */
        if (polling && !r->started && r->num && r->addr_set && s->mem_set) {
            vs_vq_layout l;
            if (ring_translate(s, ri, &r->addr, r->num, &l, NULL, NULL) == 0) {
                r->layout = l;
                r->started = true;
            }
        }
    } else if (req == VS_VHOST_USER_SET_VRING_CALL) {
        r->call_set = !nofd;
        r->call_polling = polling;
        fx->actions |= VS_VHOST_ACT_CALL_FD;
    } else {
        r->err_set = !nofd;
        fx->actions |= VS_VHOST_ACT_ERR_FD;
    }
    fx->fds_consumed = !nofd;
    return 0;
}

/* GET_PROTOCOL_FEATURES */
static int h_get_protocol_features(const req_ctx *c)
{
    return reply_u64(c, c->s->cfg.proto_features);
}

/* SET_PROTOCOL_FEATURES */
static int h_set_protocol_features(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    const char **rule = c->rule;
    vs_err *e = c->e;
    if (m->p.u64 & ~s->cfg.proto_features)
        return rej(rule, R_PF_BITS, e, VS_EPROTO,
                   "%s 0x%llx acks bits 0x%llx that were not offered",
                   vs_vhost_req_name(m->request), (ull)m->p.u64,
                   (ull)(m->p.u64 & ~s->cfg.proto_features));
    s->proto_features = m->p.u64;
    s->proto_set = true;
    return 0;
}

/* GET_QUEUE_NUM */
static int h_get_queue_num(const req_ctx *c) { return reply_u64(c, c->s->cfg.num_queues); }

/* GET_MAX_MEM_SLOTS */
static int h_get_max_mem_slots(const req_ctx *c)
{
    return reply_u64(c, c->s->cfg.max_mem_slots);
}

/* SET_VRING_ENABLE */
static int h_set_vring_enable(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    vs_vhost_ring *r = c->r;
    uint32_t ri = c->ri;
    const char **rule = c->rule;
    vs_err *e = c->e;
    if (!((s->features >> VS_VHOST_F_PROTOCOL_FEATURES) & 1))
        return rej(rule, R_ENABLE, e, VS_ESTATE,
                   "SET_VRING_ENABLE: VHOST_USER_F_PROTOCOL_FEATURES not negotiated");
    if (m->p.state.num > 1)
        return rej(rule, R_ENABLE, e, VS_EPROTO, "SET_VRING_ENABLE: ring %u value %u", ri,
                   m->p.state.num);
    r->enable_req = m->p.state.num == 1;
    fx->actions |= VS_VHOST_ACT_RING_ENABLE;
    return 0;
}

/* GET_CONFIG */
static int h_get_config(const req_ctx *c)
{
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    uint32_t req = c->m->request;
    fx_reply(fx, req, VS_VHOST_P_CONFIG);
    fx->reply.p.config.offset = m->p.config.offset;
    fx->reply.p.config.size = m->p.config.size;
    fx->reply.p.config.flags = 0;
    fx->actions |= VS_VHOST_ACT_CONFIG_READ;
    return 0;
}

/* SET_CONFIG */
static int h_set_config(const req_ctx *c)
{
    vs_vhost_effect *fx = c->fx;
    fx->actions |= VS_VHOST_ACT_CONFIG_WRITE;
    return 0;
}

/* SET_STATUS */
static int h_set_status(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    const vs_vhost_msg *m = c->m;
    vs_vhost_effect *fx = c->fx;
    const char **rule = c->rule;
    vs_err *e = c->e;
    if (m->p.u64 > 0xff)
        return rej(rule, R_STATUS, e, VS_EPROTO, "SET_STATUS 0x%llx > 0xff", (ull)m->p.u64);
    s->status = (uint8_t)m->p.u64;
    fx->actions |= VS_VHOST_ACT_STATUS;
    return 0;
}

/* GET_STATUS */
static int h_get_status(const req_ctx *c) { return reply_u64(c, c->s->status); }

/* SET_BACKEND_REQ_FD */
static int h_set_backend_req_fd(const req_ctx *c)
{
    vs_vhost_effect *fx = c->fx;
    fx->actions |= VS_VHOST_ACT_BACKEND_FD;
    fx->fds_consumed = true;
    return 0;
}

/* VRING_KICK */
static int h_vring_kick(const req_ctx *c)
{
    vs_vhost_effect *fx = c->fx;
    fx->actions |= VS_VHOST_ACT_KICK;
    return 0;
}

/* kernel SCSI_SET_ENDPOINT */
static int hk_scsi_set_endpoint(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    vs_vhost_effect *fx = c->fx;
    const char **rule = c->rule;
    vs_err *e = c->e;
    int rc;
    if (!s->mem_set)
        return rej(rule, R_ENDPOINT, e, VS_ESTATE, "SET_ENDPOINT before SET_MEM_TABLE");
    if (s->endpoint_set)
        return rej(rule, R_ENDPOINT, e, VS_ESTATE, "SET_ENDPOINT: endpoint already set");
    for (uint32_t i = 0; i < s->cfg.num_queues; i++) {
        vs_vhost_ring *q = &s->ring[i];
        vs_vq_layout l;
        if (q->addr_set && (rc = ring_translate(s, i, &q->addr, q->num, &l, rule, e)) < 0)
            return rc;
    }
    s->endpoint_set = true;
    fx->actions |= VS_VHOST_ACT_ENDPOINT;
    return 0;
}

/* kernel SCSI_CLEAR_ENDPOINT */
static int hk_scsi_clear_endpoint(const req_ctx *c)
{
    vs_vhost_state *s = c->s;
    vs_vhost_effect *fx = c->fx;
    s->endpoint_set = false;
    for (uint32_t i = 0; i < s->cfg.num_queues; i++)
        s->ring[i].started = false;
    fx->actions |= VS_VHOST_ACT_ENDPOINT;
    return 0;
}

/* kernel SCSI_GET_ABI_VERSION */
static int hk_scsi_get_abi_version(const req_ctx *c) { return reply_u64(c, 1); }

static const req_handler user_handlers[VS_VHOST_USER_REQ_MAX] = {
    [VS_VHOST_USER_GET_FEATURES] = h_get_features,
    [VS_VHOST_USER_SET_FEATURES] = h_set_features,
    [VS_VHOST_USER_SET_OWNER] = h_set_owner,
    [VS_VHOST_USER_RESET_OWNER] = h_reset_owner,
    [VS_VHOST_USER_RESET_DEVICE] = h_reset_device,
    [VS_VHOST_USER_SET_MEM_TABLE] = h_set_mem_table,
    [VS_VHOST_USER_ADD_MEM_REG] = h_add_mem_reg,
    [VS_VHOST_USER_REM_MEM_REG] = h_rem_mem_reg,
    [VS_VHOST_USER_SET_LOG_BASE] = h_dirty_log,
    [VS_VHOST_USER_SET_LOG_FD] = h_dirty_log,
    [VS_VHOST_USER_SET_VRING_NUM] = h_set_vring_num,
    [VS_VHOST_USER_SET_VRING_ADDR] = h_set_vring_addr,
    [VS_VHOST_USER_SET_VRING_BASE] = h_set_vring_base,
    [VS_VHOST_USER_GET_VRING_BASE] = h_get_vring_base,
    [VS_VHOST_USER_SET_VRING_KICK] = h_set_vring_fd,
    [VS_VHOST_USER_SET_VRING_CALL] = h_set_vring_fd,
    [VS_VHOST_USER_SET_VRING_ERR] = h_set_vring_fd,
    [VS_VHOST_USER_GET_PROTOCOL_FEATURES] = h_get_protocol_features,
    [VS_VHOST_USER_SET_PROTOCOL_FEATURES] = h_set_protocol_features,
    [VS_VHOST_USER_GET_QUEUE_NUM] = h_get_queue_num,
    [VS_VHOST_USER_GET_MAX_MEM_SLOTS] = h_get_max_mem_slots,
    [VS_VHOST_USER_SET_VRING_ENABLE] = h_set_vring_enable,
    [VS_VHOST_USER_GET_CONFIG] = h_get_config,
    [VS_VHOST_USER_SET_CONFIG] = h_set_config,
    [VS_VHOST_USER_SET_STATUS] = h_set_status,
    [VS_VHOST_USER_GET_STATUS] = h_get_status,
    [VS_VHOST_USER_SET_BACKEND_REQ_FD] = h_set_backend_req_fd,
    [VS_VHOST_USER_VRING_KICK] = h_vring_kick,
};

/* Kernel-only operations, by their number above VS_VHOST_KERNEL_BASE. */
#define VS_VHOST_KERNEL_BASE 0x10000u
static const req_handler kernel_handlers[] = {
    [VS_VHOST_KERNEL_SCSI_SET_ENDPOINT - VS_VHOST_KERNEL_BASE] = hk_scsi_set_endpoint,
    [VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT - VS_VHOST_KERNEL_BASE] = hk_scsi_clear_endpoint,
    [VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION - VS_VHOST_KERNEL_BASE] = hk_scsi_get_abi_version,
    /* the kernel's backend features are vhost-user's protocol features */
    [VS_VHOST_KERNEL_GET_BACKEND_FEATURES - VS_VHOST_KERNEL_BASE] = h_get_protocol_features,
    [VS_VHOST_KERNEL_SET_BACKEND_FEATURES - VS_VHOST_KERNEL_BASE] = h_set_protocol_features,
};

static req_handler handler_of(uint32_t req)
{
    if (req < VS_VHOST_USER_REQ_MAX)
        return user_handlers[req];
    if (req >= VS_VHOST_KERNEL_BASE &&
        req - VS_VHOST_KERNEL_BASE < sizeof kernel_handlers / sizeof kernel_handlers[0])
        return kernel_handlers[req - VS_VHOST_KERNEL_BASE];
    return NULL;
}

static int apply_inner(vs_vhost_state *s, const vs_vhost_msg *m, vs_vhost_effect *fx,
                       const char **rule, vs_err *e)
{
    const char *name = vs_vhost_req_name(m->request);
    uint32_t req = m->request;
    bool user = s->flavour == VS_VHOST_FLAVOUR_USER;

    if (!known_req(s, req))
        return rej(rule, R_REQUEST, e, VS_ENOTSUP, "request %u (%s) is not supported", req,
                   name);
    int rc;
    if (user) {
        rc = vs_vhost_msg_validate(m, VS_VHOST_DIR_REQUEST, rule, e);
    } else {
        /* kernel: memory is shared by address, not by fd */
        vs_vhost_msg k = *m;
        if (k.request == VS_VHOST_USER_SET_MEM_TABLE && k.p.mem.nregions <= VS_VHOST_MAX_FDS)
            k.nfds = k.p.mem.nregions;
        rc = vs_vhost_msg_validate(&k, VS_VHOST_DIR_REQUEST, rule, e);
    }
    if (rc < 0)
        return rc;

    /* Protocol-feature gated requests. */
    if (user) {
        if ((req == VS_VHOST_USER_GET_PROTOCOL_FEATURES ||
             req == VS_VHOST_USER_SET_PROTOCOL_FEATURES) &&
            !((s->offered >> VS_VHOST_F_PROTOCOL_FEATURES) & 1))
            return rej(rule, R_PF_OFFER, e, VS_ENOTSUP,
                       "%s: VHOST_USER_F_PROTOCOL_FEATURES was not offered", name);
        int pf = req_pf(req);
        if (pf >= 0 && !pf_acked(s, (unsigned)pf))
            return rej(rule, R_PF_NEED, e, VS_ENOTSUP,
                       "%s: protocol feature %s not negotiated", name,
                       vs_vhost_proto_feature_name((unsigned)pf));
    }
    if (needs_owner(req) && !s->owner)
        return rej(rule, R_OWNER, e, VS_ESTATE, "%s before SET_OWNER", name);

    req_ctx c = {s, m, fx, NULL, 0, name, user, rule, e};
    if (ring_index_of(m, &c.ri)) {
        if (c.ri >= s->cfg.num_queues)
            return rej(rule, R_INDEX, e, VS_ERANGE, "%s: ring %u >= %u queues", name, c.ri,
                       s->cfg.num_queues);
        c.r = &s->ring[c.ri];
        fx->ring = (int)c.ri;
    }

    req_handler h = handler_of(req);
    if (h)
        return h(&c);
    /* Known to the codec, but a feature virtiosim never offers (net, crypto,
     * postcopy, inflight, IOTLB, GPU, endian): the pf gate above normally catches
     * them first. */
    return rej(rule, R_REQUEST, e, VS_ENOTSUP, "%s is not supported by this back-end",
               name);
}

int vs_vhost_apply(vs_vhost_state *s, const vs_vhost_msg *m, vs_vhost_effect *fx,
                   const char **rule, vs_err *e)
{
    vs_vhost_effect local;
    if (!fx)
        fx = &local;
    fx_init(fx);
    if (!s || !m)
        return rej(rule, NULL, e, VS_EINVAL, "vhost apply: NULL argument");
    vs_vhost_state before;
    /* Rejections leave s unchanged: handlers validate before mutating, except the
     * multi-step ones, so keep a copy only for those. */
    bool snap = m->request == VS_VHOST_USER_SET_MEM_TABLE ||
                m->request == VS_VHOST_USER_ADD_MEM_REG;
    if (snap)
        before = *s;
    const char *rl = NULL;
    int rc = apply_inner(s, m, fx, &rl, e);
    if (rule)
        *rule = rl;
    if (rc < 0) {
        if (snap)
            *s = before;
        s->n_rejected++;
        int ring = fx->ring;
        fx_init(fx);
        fx->ring = ring;
        if (s->flavour == VS_VHOST_FLAVOUR_USER &&
            (m->flags & VS_VHOST_USER_FLAG_NEED_REPLY) && pf_acked(s, VS_VHOST_PF_REPLY_ACK) &&
            !vs_vhost_req_has_reply(m->request, s->proto_features)) {
            fx_reply(fx, m->request, VS_VHOST_P_U64);
            fx->reply.p.u64 = 1;
        }
        return rc;
    }
    s->n_accepted++;
    if (s->flavour == VS_VHOST_FLAVOUR_USER && !(fx->actions & VS_VHOST_ACT_REPLY) &&
        (m->flags & VS_VHOST_USER_FLAG_NEED_REPLY) && pf_acked(s, VS_VHOST_PF_REPLY_ACK) &&
        !vs_vhost_req_has_reply(m->request, s->proto_features)) {
        fx_reply(fx, m->request, VS_VHOST_P_U64);
        fx->reply.p.u64 = 0;
    }
    if (rule)
        *rule = NULL;
    return 0;
}

int vs_vhost_ring_kicked(vs_vhost_state *s, uint32_t ri, const char **rule, vs_err *e)
{
    if (!s)
        return rej(rule, NULL, e, VS_EINVAL, "ring kicked: NULL state");
    if (ri >= s->cfg.num_queues)
        return rej(rule, R_INDEX, e, VS_ERANGE, "kick on ring %u >= %u queues", ri,
                   s->cfg.num_queues);
    vs_vhost_ring *r = &s->ring[ri];
    if (r->broken)
        return rej(rule, NULL, e, VS_ESTATE, "kick on ring %u, which is broken", ri);
    if (r->started) {
        ok_rule(rule);
        return 0;
    }
    if (!vs_vhost_ring_enabled(s, ri)) {
        ok_rule(rule);
        return 0;
    }
    if (!s->mem_set)
        return rej(rule, R_START, e, VS_ESTATE, "ring %u kicked before SET_MEM_TABLE", ri);
    if (!r->num)
        return rej(rule, R_START, e, VS_ESTATE, "ring %u kicked before SET_VRING_NUM", ri);
    if (!r->addr_set)
        return rej(rule, R_START, e, VS_ESTATE, "ring %u kicked before SET_VRING_ADDR", ri);
    vs_vq_layout l;
    int rc = ring_translate(s, ri, &r->addr, r->num, &l, rule, e);
    if (rc < 0)
        return rc;
    r->layout = l;
    r->started = true;
    ok_rule(rule);
    return 1;
}

/* ------------------------------------------------------------------ kernel flavour */

#define IOC_NONE 0u
#define IOC_WRITE 1u
#define IOC_READ 2u
static unsigned long ioc(unsigned dir, unsigned nr, unsigned size)
{
    return (unsigned long)dir << 30 | (unsigned long)size << 16 | 0xAFul << 8 | nr;
}

unsigned long vs_vhost_kernel_ioctl_nr(enum vs_vhost_kernel_op op)
{
    switch (op) {
    case VS_VHOST_K_GET_FEATURES: return ioc(IOC_READ, 0x00, 8);
    case VS_VHOST_K_SET_FEATURES: return ioc(IOC_WRITE, 0x00, 8);
    case VS_VHOST_K_SET_OWNER: return ioc(IOC_NONE, 0x01, 0);
    case VS_VHOST_K_RESET_OWNER: return ioc(IOC_NONE, 0x02, 0);
    case VS_VHOST_K_SET_MEM_TABLE: return ioc(IOC_WRITE, 0x03, 8); /* struct vhost_memory */
    case VS_VHOST_K_SET_LOG_BASE: return ioc(IOC_WRITE, 0x04, 8);
    case VS_VHOST_K_SET_LOG_FD: return ioc(IOC_WRITE, 0x07, 4);
    case VS_VHOST_K_SET_VRING_NUM: return ioc(IOC_WRITE, 0x10, 8);
    case VS_VHOST_K_SET_VRING_ADDR: return ioc(IOC_WRITE, 0x11, 40);
    case VS_VHOST_K_SET_VRING_BASE: return ioc(IOC_WRITE, 0x12, 8);
    case VS_VHOST_K_GET_VRING_BASE: return ioc(IOC_READ | IOC_WRITE, 0x12, 8);
    case VS_VHOST_K_SET_VRING_KICK: return ioc(IOC_WRITE, 0x20, 8);
    case VS_VHOST_K_SET_VRING_CALL: return ioc(IOC_WRITE, 0x21, 8);
    case VS_VHOST_K_SET_VRING_ERR: return ioc(IOC_WRITE, 0x22, 8);
    case VS_VHOST_K_SET_BACKEND_FEATURES: return ioc(IOC_WRITE, 0x25, 8);
    case VS_VHOST_K_GET_BACKEND_FEATURES: return ioc(IOC_READ, 0x26, 8);
    case VS_VHOST_K_SCSI_SET_ENDPOINT: return ioc(IOC_WRITE, 0x40, 232);
    case VS_VHOST_K_SCSI_CLEAR_ENDPOINT: return ioc(IOC_WRITE, 0x41, 232);
    case VS_VHOST_K_SCSI_GET_ABI_VERSION: return ioc(IOC_WRITE, 0x42, 4);
    }
    return 0;
}

const char *vs_vhost_kernel_op_name(enum vs_vhost_kernel_op op)
{
    switch (op) {
    case VS_VHOST_K_GET_FEATURES: return "VHOST_GET_FEATURES";
    case VS_VHOST_K_SET_FEATURES: return "VHOST_SET_FEATURES";
    case VS_VHOST_K_SET_OWNER: return "VHOST_SET_OWNER";
    case VS_VHOST_K_RESET_OWNER: return "VHOST_RESET_OWNER";
    case VS_VHOST_K_SET_MEM_TABLE: return "VHOST_SET_MEM_TABLE";
    case VS_VHOST_K_SET_LOG_BASE: return "VHOST_SET_LOG_BASE";
    case VS_VHOST_K_SET_LOG_FD: return "VHOST_SET_LOG_FD";
    case VS_VHOST_K_SET_VRING_NUM: return "VHOST_SET_VRING_NUM";
    case VS_VHOST_K_SET_VRING_ADDR: return "VHOST_SET_VRING_ADDR";
    case VS_VHOST_K_SET_VRING_BASE: return "VHOST_SET_VRING_BASE";
    case VS_VHOST_K_GET_VRING_BASE: return "VHOST_GET_VRING_BASE";
    case VS_VHOST_K_SET_VRING_KICK: return "VHOST_SET_VRING_KICK";
    case VS_VHOST_K_SET_VRING_CALL: return "VHOST_SET_VRING_CALL";
    case VS_VHOST_K_SET_VRING_ERR: return "VHOST_SET_VRING_ERR";
    case VS_VHOST_K_SET_BACKEND_FEATURES: return "VHOST_SET_BACKEND_FEATURES";
    case VS_VHOST_K_GET_BACKEND_FEATURES: return "VHOST_GET_BACKEND_FEATURES";
    case VS_VHOST_K_SCSI_SET_ENDPOINT: return "VHOST_SCSI_SET_ENDPOINT";
    case VS_VHOST_K_SCSI_CLEAR_ENDPOINT: return "VHOST_SCSI_CLEAR_ENDPOINT";
    case VS_VHOST_K_SCSI_GET_ABI_VERSION: return "VHOST_SCSI_GET_ABI_VERSION";
    }
    return "UNKNOWN";
}

int vs_vhost_kernel_to_msg(enum vs_vhost_kernel_op op, const vs_vhost_kernel_arg *arg,
                           vs_vhost_msg *m, vs_err *e)
{
    static const vs_vhost_kernel_arg zero;
    if (!m)
        return vs_err_set(e, VS_EINVAL, "kernel to msg: NULL message");
    if (!arg)
        arg = &zero;
    uint32_t req;
    switch (op) {
    case VS_VHOST_K_GET_FEATURES: req = VS_VHOST_USER_GET_FEATURES; break;
    case VS_VHOST_K_SET_FEATURES: req = VS_VHOST_USER_SET_FEATURES; break;
    case VS_VHOST_K_SET_OWNER: req = VS_VHOST_USER_SET_OWNER; break;
    case VS_VHOST_K_RESET_OWNER: req = VS_VHOST_USER_RESET_OWNER; break;
    case VS_VHOST_K_SET_MEM_TABLE: req = VS_VHOST_USER_SET_MEM_TABLE; break;
    case VS_VHOST_K_SET_LOG_BASE: req = VS_VHOST_USER_SET_LOG_BASE; break;
    case VS_VHOST_K_SET_LOG_FD: req = VS_VHOST_USER_SET_LOG_FD; break;
    case VS_VHOST_K_SET_VRING_NUM: req = VS_VHOST_USER_SET_VRING_NUM; break;
    case VS_VHOST_K_SET_VRING_ADDR: req = VS_VHOST_USER_SET_VRING_ADDR; break;
    case VS_VHOST_K_SET_VRING_BASE: req = VS_VHOST_USER_SET_VRING_BASE; break;
    case VS_VHOST_K_GET_VRING_BASE: req = VS_VHOST_USER_GET_VRING_BASE; break;
    case VS_VHOST_K_SET_VRING_KICK: req = VS_VHOST_USER_SET_VRING_KICK; break;
    case VS_VHOST_K_SET_VRING_CALL: req = VS_VHOST_USER_SET_VRING_CALL; break;
    case VS_VHOST_K_SET_VRING_ERR: req = VS_VHOST_USER_SET_VRING_ERR; break;
    case VS_VHOST_K_SET_BACKEND_FEATURES: req = VS_VHOST_KERNEL_SET_BACKEND_FEATURES; break;
    case VS_VHOST_K_GET_BACKEND_FEATURES: req = VS_VHOST_KERNEL_GET_BACKEND_FEATURES; break;
    case VS_VHOST_K_SCSI_SET_ENDPOINT: req = VS_VHOST_KERNEL_SCSI_SET_ENDPOINT; break;
    case VS_VHOST_K_SCSI_CLEAR_ENDPOINT: req = VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT; break;
    case VS_VHOST_K_SCSI_GET_ABI_VERSION: req = VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION; break;
    default: return vs_err_set(e, VS_EINVAL, "kernel to msg: unknown op %d", (int)op);
    }
    vs_vhost_msg_init(m, req, VS_VHOST_DIR_REQUEST);
    switch (m->kind) {
    case VS_VHOST_P_U64: m->p.u64 = arg->u64; break;
    case VS_VHOST_P_STATE: m->p.state = arg->state; break;
    case VS_VHOST_P_ADDR: m->p.addr = arg->addr; break;
    case VS_VHOST_P_MEM_TABLE:
        if (arg->mem.nregions > VS_VHOST_MEM_REGIONS_MAX)
            return vs_err_set(e, VS_EINVAL, "%s: %u regions > %u (virtiosim limit)",
                              vs_vhost_kernel_op_name(op), arg->mem.nregions,
                              VS_VHOST_MEM_REGIONS_MAX);
        m->p.mem = arg->mem;
        for (uint32_t i = 0; i < m->p.mem.nregions; i++)
            m->p.mem.region[i].mmap_offset = 0; /* kernel: flags_padding, no fds */
        break;
    case VS_VHOST_P_LOG: m->p.log.mmap_size = arg->u64; break;
    default: break;
    }
    switch (op) {
    case VS_VHOST_K_SET_VRING_KICK:
    case VS_VHOST_K_SET_VRING_CALL:
    case VS_VHOST_K_SET_VRING_ERR:
        if (arg->file.index > VS_VHOST_VRING_IDX_MASK)
            return vs_err_set(e, VS_EINVAL, "%s: ring %u out of range",
                              vs_vhost_kernel_op_name(op), arg->file.index);
        m->p.u64 = arg->file.index | (arg->file.fd < 0 ? VS_VHOST_VRING_NOFD_MASK : 0);
        m->nfds = arg->file.fd < 0 ? 0 : 1;
        break;
    case VS_VHOST_K_SET_LOG_BASE:
    case VS_VHOST_K_SET_LOG_FD:
        m->nfds = 1;
        break;
    case VS_VHOST_K_SCSI_SET_ENDPOINT:
    case VS_VHOST_K_SCSI_CLEAR_ENDPOINT:
        if (!memchr(arg->target.wwpn, 0, sizeof arg->target.wwpn))
            return vs_err_set(e, VS_EPROTO, "%s: WWPN not NUL-terminated [%s]",
                              vs_vhost_kernel_op_name(op), R_ENDPOINT);
        break;
    default: break;
    }
    m->size = 0;
    if (m->kind == VS_VHOST_P_U64 || m->kind == VS_VHOST_P_STATE)
        m->size = 8;
    else if (m->kind == VS_VHOST_P_ADDR)
        m->size = 40;
    else if (m->kind == VS_VHOST_P_MEM_TABLE)
        m->size = 8 + 32 * m->p.mem.nregions;
    else if (m->kind == VS_VHOST_P_LOG)
        m->size = 16;
    return 0;
}
