/* Packed virtqueues (VIRTIO 1.x section 2.8), driver side and device side.
 *
 * Memory layout (all little-endian):
 *   descriptor ring: size x { le64 addr; le32 len; le16 id; le16 flags; }, 16-aligned
 *   driver area:     driver event suppression { le16 off_wrap; le16 flags; } (driver writes)
 *   device area:     device event suppression { le16 off_wrap; le16 flags; } (device writes)
 * The three areas are translated to host pointers once, at create.
 *
 * Decisions (see also the tests in model/tests/test_ring_packed.c):
 *  - Batching. Driver: every descriptor is written at add time except the flags of the
 *    FIRST head added since the last publish; publish stores those flags with RELEASE, so
 *    everything added since the last publish becomes visible at once (the device stops at
 *    that head). Device: the same for the first used descriptor pushed since the last
 *    publish.
 *  - Device-side chain rules (all errors are VS_EPROTO and break the queue, except the
 *    device's own segment capacity which is VS_ERANGE and also breaks it):
 *      zero-length buffer                 rejected (like QEMU: "zero sized buffers")
 *      chain longer than the queue size   rejected (packed: chain too long)
 *      later descriptor of a chain whose AVAIL/USED bits do not mark it available in the
 *        lap it is in                     rejected (packed: chain descriptor not available)
 *      INDIRECT without the feature, INDIRECT with NEXT, INDIRECT after NEXT (indirect
 *        inside a chain), INDIRECT inside an indirect table: rejected
 *      indirect table: len must be a non-zero multiple of 16, at most queue-size entries,
 *        and inside readable guest memory. Flags other than WRITE in table entries (NEXT,
 *        AVAIL, USED) and their ids are ignored, as the spec says the device ignores them.
 *      readable descriptor after a writable one: rejected
 *      every buffer must lie in guest memory accessible for its direction (writable
 *        buffers must not be in read-only regions)
 *    The buffer id is the id of the LAST descriptor of the chain in the ring; the device
 *    does not validate it (that is the driver's business, collect checks it).
 *  - kick_needed / irq_needed: nothing published since the last call -> false. Flags
 *    DISABLE -> false; ENABLE, reserved value 3, or DESC without EVENT_IDX -> true
 *    (conservative); DESC with EVENT_IDX -> vs_vq_need_event on positions reconstructed
 *    from the number of slots published since the last call (Linux's method), with the
 *    event offset moved back one lap when its wrap bit differs from the current one.
 *  - Used descriptors carry VS_DESC_F_WRITE iff len > 0; collect reports len 0 for a used
 *    descriptor without WRITE (spec: len is reserved then).
 *  - The driver never produces what the device rejects: add refuses zero-length segments,
 *    chains longer than the queue size, and indirect tables longer than indirect_max or
 *    the queue size (spec: a list is at most Queue Size descriptors unless the device
 *    says otherwise). Indirect tables are one gmem block of size * indirect_max * 16
 *    bytes, allocated at create only when VS_VQ_F_INDIRECT is negotiated.
 *  - push: written must be <= the chain's writable bytes and the chain's slots must be
 *    in flight (popped, not pushed); push on a broken queue is VS_ESTATE. Mutations
 *    bypass the first two on purpose. SKIP_USED_IDX advances next_used by one extra slot
 *    once (the first push); DOUBLE_COMPLETE writes each used element into two slots.
 *  - set_base(idx | wrap << 15) sets next_avail and next_used (nothing in flight), like
 *    vhost; idx >= size is VS_ERANGE.
 *  - add_raw: the chain is tracked under the buffer id in the last descriptor when that id
 *    is < size and free; otherwise under any free id (returned) while the ring keeps the
 *    verbatim ids, so bogus ids can be injected.
 */
#include "model/ring_internal.h"
#include "virtiosim/le.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Little-endian helpers (virtio 1.x rings are little-endian). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define le16toh(x) __builtin_bswap16(x)
#define le32toh(x) __builtin_bswap32(x)
#define le64toh(x) __builtin_bswap64(x)
#else
#define le16toh(x) ((uint16_t)(x))
#define le32toh(x) ((uint32_t)(x))
#define le64toh(x) ((uint64_t)(x))
#endif
#define htole16(x) le16toh(x)
#define htole32(x) le32toh(x)
#define htole64(x) le64toh(x)

struct pdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};
_Static_assert(sizeof(struct pdesc) == 16, "packed descriptor is 16 bytes");

enum { EV_ENABLE = 0, EV_DISABLE = 1, EV_DESC = 2 };

#define F_AVAIL VS_DESC_F_AVAIL
#define F_USED VS_DESC_F_USED
#define F_NEXT VS_DESC_F_NEXT
#define F_WRITE VS_DESC_F_WRITE
#define F_INDIRECT VS_DESC_F_INDIRECT

static inline uint16_t ld_flags_acq(const struct pdesc *d)
{
    return le16toh(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));
}

static inline void st_flags_rel(struct pdesc *d, uint16_t f)
{
    __atomic_store_n(&d->flags, htole16(f), __ATOMIC_RELEASE);
}

/* Event suppression structure as one 32-bit value: off_wrap in the low half. */
static inline uint32_t ev_pack(uint16_t off_wrap, uint16_t flags)
{
    return (uint32_t)off_wrap | ((uint32_t)flags << 16);
}

static inline uint32_t ev_load(const uint32_t *p)
{
    return le32toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static inline void ev_store(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, htole32(v), __ATOMIC_RELEASE);
}

/* Shared notification decision; see the header comment. */
static bool event_decide(uint32_t ev, bool event_idx, uint32_t count, uint16_t new_idx,
                         bool new_wrap, uint32_t size)
{
    uint16_t flags = (uint16_t)(ev >> 16) & 3u;
    if (count == 0 || flags == EV_DISABLE)
        return false;
    /* A window of up to one full ring is unambiguous with a 15-bit offset plus wrap bit;
     * more than that (no check for over a lap) is answered conservatively. */
    if (flags != EV_DESC || !event_idx || count > size)
        return true;
    uint16_t off_wrap = (uint16_t)ev;
    uint16_t event = off_wrap & 0x7fffu;
    if ((bool)(off_wrap >> 15) != new_wrap)
        event = (uint16_t)(event - size);
    uint16_t old_idx = (uint16_t)(new_idx - count);
    return vs_vq_need_event(event, new_idx, old_idx);
}

static int map_areas(vs_gmem *gm, const vs_vq_layout *l, struct pdesc **ring,
                     uint32_t **drv_ev, uint32_t **dev_ev, vs_err *e)
{
    if (!gm || !l)
        return vs_err_set(e, VS_EINVAL, "packed queue: NULL memory or layout");
    if (l->format != VS_RING_PACKED)
        return vs_err_set(e, VS_EINVAL, "packed queue: layout format is not packed");
    if (l->size < 1 || l->size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "packed queue: size %u not in 1..%u", l->size,
                          VS_VQ_MAX_SIZE);
    if (l->desc_gpa % 16 || l->driver_gpa % 4 || l->device_gpa % 4)
        return vs_err_set(e, VS_EINVAL,
                          "packed queue: misaligned areas (desc 0x%llx needs 16, driver "
                          "0x%llx and device 0x%llx need 4)",
                          (unsigned long long)l->desc_gpa,
                          (unsigned long long)l->driver_gpa,
                          (unsigned long long)l->device_gpa);
    vs_err tmp;
    vs_err_clear(&tmp);
    *ring = vs_gmem_translate(gm, l->desc_gpa, (uint64_t)l->size * 16, VS_GMEM_WRITE, &tmp);
    if (!*ring)
        return vs_err_set(e, tmp.code ? tmp.code : VS_ERANGE,
                          "packed queue: descriptor ring: %s", tmp.msg);
    *drv_ev = vs_gmem_translate(gm, l->driver_gpa, 4, VS_GMEM_WRITE, &tmp);
    if (!*drv_ev)
        return vs_err_set(e, tmp.code ? tmp.code : VS_ERANGE,
                          "packed queue: driver area: %s", tmp.msg);
    *dev_ev = vs_gmem_translate(gm, l->device_gpa, 4, VS_GMEM_WRITE, &tmp);
    if (!*dev_ev)
        return vs_err_set(e, tmp.code ? tmp.code : VS_ERANGE,
                          "packed queue: device area: %s", tmp.msg);
    if (((uintptr_t)*ring % 16) || ((uintptr_t)*drv_ev % 4) || ((uintptr_t)*dev_ev % 4))
        return vs_err_set(e, VS_EINVAL, "packed queue: host mapping of the areas misaligned");
    return 0;
}

/* ================================================================ driver side */

typedef struct pk_drv {
    struct vs_vq_drv hdr;
    vs_gmem *gm;
    vs_vq_layout l;
    uint32_t size;
    uint32_t features;
    uint16_t qi;
    struct pdesc *ring;
    uint32_t *drv_ev; /* driver event suppression (we write) */
    uint32_t *dev_ev; /* device event suppression (we read) */

    uint16_t next_avail;
    bool avail_wrap;
    uint16_t last_used;
    bool used_wrap;
    uint32_t num_free;    /* free descriptor slots */
    uint32_t outstanding; /* chains not yet collected */

    bool pend;            /* first unpublished head pending? */
    uint16_t pend_slot;
    uint16_t pend_flags;
    uint32_t unpub;       /* slots added since the last publish */
    uint16_t pub_idx;     /* next_avail at the last publish */
    bool pub_wrap;
    uint32_t kick_count;  /* slots published since the last kick_needed */

    uint16_t ev_shadow;   /* last flags written into the driver area */

    uint16_t *free_ids;   /* stack of free ids */
    uint16_t *free_pos;   /* position of an id in free_ids (valid while free) */
    uint32_t nfree_ids;
    uint16_t *id_ndesc;   /* slots of the chain with this id; 0 = not outstanding */
    void **id_cookie;

    uint32_t ind_max;
    bool has_ind;
    uint64_t ind_gpa;
    struct pdesc *ind_host;
} pk_drv;

static inline pk_drv *DRV(vs_vq_drv *q) { return (pk_drv *)q; }
static inline const pk_drv *CDRV(const vs_vq_drv *q) { return (const pk_drv *)q; }

void vs_packed_drv_destroy(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    if (!q)
        return;
    if (q->has_ind)
        vs_gmem_free(q->gm, q->ind_gpa, NULL);
    free(q->free_ids);
    free(q->free_pos);
    free(q->id_ndesc);
    free(q->id_cookie);
    free(q);
}

int vs_packed_drv_create(vs_vq_drv **out, vs_gmem *gm, const vs_vq_layout *l,
                         const vs_vq_drv_opts *o, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "packed queue: NULL out");
    *out = NULL;
    struct pdesc *ring;
    uint32_t *drv_ev, *dev_ev;
    int rc = map_areas(gm, l, &ring, &drv_ev, &dev_ev, e);
    if (rc < 0)
        return rc;
    pk_drv *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "packed queue: out of host memory");
    q->hdr.format = VS_RING_PACKED;
    q->gm = gm;
    q->l = *l;
    q->size = l->size;
    q->features = o ? o->features : 0;
    q->qi = o ? o->queue_index : 0;
    q->ring = ring;
    q->drv_ev = drv_ev;
    q->dev_ev = dev_ev;
    q->avail_wrap = q->used_wrap = q->pub_wrap = true;
    q->num_free = q->size;
    q->free_ids = malloc(q->size * sizeof *q->free_ids);
    q->free_pos = malloc(q->size * sizeof *q->free_pos);
    q->id_ndesc = calloc(q->size, sizeof *q->id_ndesc);
    q->id_cookie = calloc(q->size, sizeof *q->id_cookie);
    if (!q->free_ids || !q->free_pos || !q->id_ndesc || !q->id_cookie) {
        vs_packed_drv_destroy(&q->hdr);
        return vs_err_set(e, VS_ENOMEM, "packed queue: out of host memory");
    }
    /* Stack popped from the end: id 0 first. */
    for (uint32_t i = 0; i < q->size; i++) {
        uint16_t id = (uint16_t)(q->size - 1 - i);
        q->free_ids[i] = id;
        q->free_pos[id] = (uint16_t)i;
    }
    q->nfree_ids = q->size;

    if (q->features & VS_VQ_F_INDIRECT) {
        q->ind_max = (o && o->indirect_max) ? o->indirect_max : 16;
        uint64_t bytes = (uint64_t)q->size * q->ind_max * 16;
        vs_err tmp;
        vs_err_clear(&tmp);
        rc = vs_gmem_alloc(gm, bytes, 16, &q->ind_gpa, &tmp);
        if (rc < 0) {
            vs_packed_drv_destroy(&q->hdr);
            return vs_err_set(e, -rc, "queue %u: indirect tables (%llu bytes): %s",
                              o ? o->queue_index : 0, (unsigned long long)bytes, tmp.msg);
        }
        q->has_ind = true;
        q->ind_host = vs_gmem_translate(gm, q->ind_gpa, bytes, VS_GMEM_WRITE, &tmp);
        if (!q->ind_host) {
            vs_packed_drv_destroy(&q->hdr);
            return vs_err_set(e, tmp.code ? tmp.code : VS_ERANGE,
                              "queue %u: indirect tables: %s", o ? o->queue_index : 0,
                              tmp.msg);
        }
    }

    memset(ring, 0, (size_t)q->size * 16);
    ev_store(drv_ev, 0);
    ev_store(dev_ev, 0);
    q->ev_shadow = EV_ENABLE;
    *out = &q->hdr;
    return 0;
}

static inline uint16_t take_id(pk_drv *q)
{
    return q->free_ids[--q->nfree_ids];
}

static inline void claim_id(pk_drv *q, uint16_t id)
{
    uint16_t pos = q->free_pos[id];
    uint16_t last = q->free_ids[--q->nfree_ids];
    q->free_ids[pos] = last;
    q->free_pos[last] = pos;
}

static inline void put_id(pk_drv *q, uint16_t id)
{
    q->free_pos[id] = (uint16_t)q->nfree_ids;
    q->free_ids[q->nfree_ids++] = id;
}

static inline uint16_t wrap_bits(bool wrap)
{
    return wrap ? F_AVAIL : F_USED;
}

/* Writes one descriptor at next_avail and advances. The first head since the last
 * publish keeps its flags back for publish. */
static inline void drv_put(pk_drv *q, uint64_t addr, uint32_t len, uint16_t id,
                           uint16_t flags, bool head)
{
    struct pdesc *d = &q->ring[q->next_avail];
    d->addr = htole64(addr);
    d->len = htole32(len);
    d->id = htole16(id);
    flags = (uint16_t)((flags & ~(F_AVAIL | F_USED)) | wrap_bits(q->avail_wrap));
    if (head && !q->pend) {
        q->pend = true;
        q->pend_slot = q->next_avail;
        q->pend_flags = flags;
    } else {
        d->flags = htole16(flags);
    }
    if (++q->next_avail == q->size) {
        q->next_avail = 0;
        q->avail_wrap = !q->avail_wrap;
    }
}

int vs_packed_drv_add(vs_vq_drv *qq, const vs_seg *segs, unsigned n_out, unsigned n_in,
                      unsigned flags, void *cookie, vs_err *e)
{
    pk_drv *q = DRV(qq);
    if (n_out > VS_VQ_MAX_SIZE || n_in > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "queue %u: add: too many segments", q->qi);
    unsigned n = n_out + n_in;
    if (n == 0 || !segs)
        return vs_err_set(e, VS_EINVAL, "queue %u: add: empty chain", q->qi);
    for (unsigned i = 0; i < n; i++)
        if (segs[i].len == 0)
            return vs_err_set(e, VS_EINVAL, "queue %u: add: segment %u has zero length",
                              q->qi, i);
    if (flags & VS_ADD_INDIRECT) {
        if (!(q->features & VS_VQ_F_INDIRECT))
            return vs_err_set(e, VS_ENOTSUP,
                              "queue %u: add: indirect descriptors not negotiated", q->qi);
        if (n > q->ind_max || n > q->size)
            return vs_err_set(e, VS_EINVAL,
                              "queue %u: add: %u segments > indirect_max %u or queue size %u",
                              q->qi, n, q->ind_max, q->size);
        if (q->num_free < 1)
            return vs_err_set(e, VS_ENOSPC, "queue %u: add: ring full", q->qi);
        /* a driver mutant: the first segment direct, NEXT-linked to the indirect one */
        unsigned nd = (flags & VS_ADD_MUT_INDIRECT_NEXT) && n >= 2 ? 1 : 0;
        if (q->num_free < 1 + nd)
            return vs_err_set(e, VS_ENOSPC, "queue %u: add: ring full", q->qi);
        uint16_t id = take_id(q);
        struct pdesc *t = q->ind_host + (size_t)id * q->ind_max;
        for (unsigned i = nd; i < n; i++) {
            t[i - nd].addr = htole64(segs[i].gpa);
            t[i - nd].len = htole32(segs[i].len);
            t[i - nd].id = 0;
            t[i - nd].flags = htole16(i >= n_out ? F_WRITE : 0);
        }
        if (flags & VS_ADD_MUT_NESTED_INDIRECT)
            t[0].flags |= htole16(F_INDIRECT);
        if (nd)
            drv_put(q, segs[0].gpa, segs[0].len, id, (n_out ? 0 : F_WRITE) | F_NEXT, true);
        drv_put(q, q->ind_gpa + (uint64_t)id * q->ind_max * 16, (n - nd) * 16u, id,
                F_INDIRECT, !nd);
        q->id_ndesc[id] = (uint16_t)(1 + nd);
        q->id_cookie[id] = cookie;
        q->num_free -= 1 + nd;
        q->unpub += 1 + nd;
        q->outstanding++;
        return id;
    }
    if (n > q->size)
        return vs_err_set(e, VS_EINVAL, "queue %u: add: %u descriptors > queue size %u",
                          q->qi, n, q->size);
    if (n > q->num_free)
        return vs_err_set(e, VS_ENOSPC, "queue %u: add: ring full (%u free, %u needed)",
                          q->qi, q->num_free, n);
    uint16_t id = take_id(q);
    /* a driver mutant's list starts with its writable segments */
    unsigned rot = (flags & VS_ADD_MUT_WRITABLE_FIRST) && n_out < n ? n_out : 0;
    for (unsigned p = 0, i = rot; p < n; p++, i = i + 1 == n ? 0 : i + 1) {
        uint16_t f = (uint16_t)((i >= n_out ? F_WRITE : 0) | (p + 1 < n ? F_NEXT : 0));
        drv_put(q, segs[i].gpa, segs[i].len, id, f, p == 0);
    }
    q->id_ndesc[id] = (uint16_t)n;
    q->id_cookie[id] = cookie;
    q->num_free -= n;
    q->unpub += n;
    q->outstanding++;
    return id;
}

int vs_packed_drv_add_raw(vs_vq_drv *qq, const vs_desc *descs, unsigned n, void *cookie,
                          vs_err *e)
{
    pk_drv *q = DRV(qq);
    if (n == 0 || !descs)
        return vs_err_set(e, VS_EINVAL, "queue %u: add_raw: empty chain", q->qi);
    if (n > q->size)
        return vs_err_set(e, VS_EINVAL, "queue %u: add_raw: %u descriptors > queue size %u",
                          q->qi, n, q->size);
    if (n > q->num_free)
        return vs_err_set(e, VS_ENOSPC, "queue %u: add_raw: ring full (%u free, %u needed)",
                          q->qi, q->num_free, n);
    uint16_t want = descs[n - 1].next;
    uint16_t id;
    if (want < q->size && q->id_ndesc[want] == 0) {
        id = want;
        claim_id(q, id);
    } else {
        id = take_id(q);
    }
    for (unsigned i = 0; i < n; i++)
        drv_put(q, descs[i].addr, descs[i].len, descs[i].next, descs[i].flags, i == 0);
    q->id_ndesc[id] = (uint16_t)n;
    q->id_cookie[id] = cookie;
    q->num_free -= n;
    q->unpub += n;
    q->outstanding++;
    return id;
}

void vs_packed_drv_publish(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    if (q->pend) {
        st_flags_rel(&q->ring[q->pend_slot], q->pend_flags);
        q->pend = false;
    }
    uint32_t k = q->kick_count + q->unpub;
    q->kick_count = k > q->size ? q->size + 1 : k; /* saturate: "more than a ring" */
    q->unpub = 0;
    q->pub_idx = q->next_avail;
    q->pub_wrap = q->avail_wrap;
}

bool vs_packed_drv_kick_needed(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t ev = ev_load(q->dev_ev);
    uint32_t count = q->kick_count;
    q->kick_count = 0;
    return event_decide(ev, q->features & VS_VQ_F_EVENT_IDX, count, q->pub_idx,
                        q->pub_wrap, q->size);
}

static inline bool drv_used_pending(const pk_drv *q)
{
    uint16_t f = ld_flags_acq(&q->ring[q->last_used]);
    bool a = f & F_AVAIL, u = f & F_USED;
    return a == q->used_wrap && u == q->used_wrap;
}

int vs_packed_drv_collect(vs_vq_drv *qq, vs_used *out, vs_err *e)
{
    pk_drv *q = DRV(qq);
    if (!drv_used_pending(q))
        return 0;
    const struct pdesc *d = &q->ring[q->last_used];
    uint16_t f = le16toh(d->flags);
    uint16_t id = le16toh(d->id);
    uint32_t len = le32toh(d->len);
    if (out) /* on a bad element too: the caller's evidence names what the device wrote */
        *out = (vs_used){.id = id, .len = (f & F_WRITE) ? len : 0};
    if (id >= q->size)
        return vs_err_set(e, VS_EPROTO,
                          "queue %u: desc %u: used buffer id %u >= queue size %u "
                          "(packed: used id out of range)",
                          q->qi, q->last_used, id, q->size);
    uint16_t n = q->id_ndesc[id];
    if (n == 0)
        return vs_err_set(e, VS_EPROTO,
                          "queue %u: desc %u: used buffer id %u is not outstanding "
                          "(packed: used id not available)",
                          q->qi, q->last_used, id);
    if (out) {
        out->len_valid = (f & F_WRITE) != 0;
        out->cookie = q->id_cookie[id];
    }
    uint32_t nu = (uint32_t)q->last_used + n;
    if (nu >= q->size) {
        nu -= q->size;
        q->used_wrap = !q->used_wrap;
    }
    q->last_used = (uint16_t)nu;
    q->id_ndesc[id] = 0;
    q->id_cookie[id] = NULL;
    put_id(q, id);
    q->num_free += n;
    q->outstanding--;
    return 1;
}

void vs_packed_drv_irq_disable(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    if (q->ev_shadow != EV_DISABLE) {
        q->ev_shadow = EV_DISABLE;
        ev_store(q->drv_ev, ev_pack(0, EV_DISABLE));
    }
}

bool vs_packed_drv_irq_enable(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    if (q->features & VS_VQ_F_EVENT_IDX) {
        q->ev_shadow = EV_DESC;
        ev_store(q->drv_ev,
                 ev_pack((uint16_t)(q->last_used | (q->used_wrap ? 0x8000u : 0)), EV_DESC));
    } else if (q->ev_shadow != EV_ENABLE) {
        q->ev_shadow = EV_ENABLE;
        ev_store(q->drv_ev, ev_pack(0, EV_ENABLE));
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return drv_used_pending(q);
}

bool vs_packed_drv_irq_enable_delayed(vs_vq_drv *qq)
{
    pk_drv *q = DRV(qq);
    if (!(q->features & VS_VQ_F_EVENT_IDX))
        return vs_packed_drv_irq_enable(qq);
    /* Descriptor slots, not buffers: the event offset is a ring position. */
    uint32_t used = q->last_used + (q->size - q->num_free) * 3 / 4;
    bool wrap = q->used_wrap;
    if (used >= q->size) {
        used -= q->size;
        wrap = !wrap;
    }
    q->ev_shadow = EV_DESC;
    ev_store(q->drv_ev, ev_pack((uint16_t)(used | (wrap ? 0x8000u : 0)), EV_DESC));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return drv_used_pending(q) && used == q->last_used;
}

unsigned vs_packed_drv_num_free(const vs_vq_drv *q) { return CDRV(q)->num_free; }
unsigned vs_packed_drv_outstanding(const vs_vq_drv *q) { return CDRV(q)->outstanding; }
const vs_vq_layout *vs_packed_drv_layout(const vs_vq_drv *q) { return &CDRV(q)->l; }

uint16_t vs_packed_drv_avail_idx(const vs_vq_drv *qq)
{
    const pk_drv *q = CDRV(qq);
    return (uint16_t)(q->next_avail | (q->avail_wrap ? 0x8000u : 0));
}

uint16_t vs_packed_drv_used_idx(const vs_vq_drv *qq)
{
    const pk_drv *q = CDRV(qq);
    return (uint16_t)(q->last_used | (q->used_wrap ? 0x8000u : 0));
}

/* ================================================================ device side */

typedef struct pk_dev {
    struct vs_vq_dev hdr;
    vs_gmem *gm;
    vs_vq_layout l;
    uint32_t size;
    uint32_t features;
    uint32_t mutations;
    uint16_t qi;
    struct pdesc *ring;
    uint32_t *drv_ev; /* driver event suppression (we read) */
    uint32_t *dev_ev; /* device event suppression (we write) */

    uint16_t next_avail;
    bool avail_wrap;
    uint16_t next_used;
    bool used_wrap;
    bool broken;
    bool skip_done;
    uint32_t inflight;   /* slots popped and not yet pushed */

    bool pend;
    uint16_t pend_slot;
    uint16_t pend_flags;
    uint16_t put_slot, put_flags; /* the last used descriptor written */
    bool rw_ok;                   /* mutant REWRITES_USED: rw_slot is published, used */
    uint16_t rw_slot, rw_flags;
    uint32_t unpub;      /* used slots written since the last publish */
    uint16_t pub_idx;
    bool pub_wrap;
    uint32_t irq_count;  /* used slots published since the last irq_needed */
    uint16_t ev_shadow;
} pk_dev;

static inline pk_dev *DEV(vs_vq_dev *q) { return (pk_dev *)q; }
static inline const pk_dev *CDEV(const vs_vq_dev *q) { return (const pk_dev *)q; }

int vs_packed_dev_create(vs_vq_dev **out, vs_gmem *gm, const vs_vq_layout *l,
                         const vs_vq_dev_opts *o, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "packed queue: NULL out");
    *out = NULL;
    struct pdesc *ring;
    uint32_t *drv_ev, *dev_ev;
    int rc = map_areas(gm, l, &ring, &drv_ev, &dev_ev, e);
    if (rc < 0)
        return rc;
    pk_dev *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "packed queue: out of host memory");
    q->hdr.format = VS_RING_PACKED;
    q->gm = gm;
    q->l = *l;
    q->size = l->size;
    q->features = o ? o->features : 0;
    q->mutations = o ? o->mutations : 0;
    q->qi = o ? o->queue_index : 0;
    q->ring = ring;
    q->drv_ev = drv_ev;
    q->dev_ev = dev_ev;
    q->avail_wrap = q->used_wrap = q->pub_wrap = true;
    q->ev_shadow = 0xffff; /* unknown: the first enable/disable writes */
    *out = &q->hdr;
    return 0;
}

void vs_packed_dev_destroy(vs_vq_dev *q)
{
    free(q);
}

__attribute__((format(printf, 5, 6))) static int dev_fail(pk_dev *q, vs_err *e, int code,
                                                          unsigned slot, const char *fmt, ...)
{
    char what[VS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    q->broken = true;
    return vs_err_set(e, code, "queue %u: desc %u: %s", q->qi, slot, what);
}

struct walk {
    vs_chain *c;
    bool seen_write;
};

/* Validates one buffer element and appends it to the chain. `where` is "" or
 * "indirect entry N: ". */
__attribute__((always_inline)) static inline int
dev_seg(pk_dev *q, struct walk *w, unsigned slot, const char *where, uint64_t addr,
        uint32_t len, bool write, vs_err *e)
{
    vs_chain *c = w->c;
    if (len == 0)
        return dev_fail(q, e, VS_EPROTO, slot,
                        "%szero-length buffer (packed: zero-length buffer)", where);
    if (write) {
        w->seen_write = true;
    } else if (w->seen_write) {
        return dev_fail(q, e, VS_EPROTO, slot,
                        "%sdevice-readable descriptor after a device-writable one "
                        "(packed: readable after writable)",
                        where);
    }
    if (c->nseg >= c->seg_cap)
        return dev_fail(q, e, VS_ERANGE, slot,
                        "%schain has more than %u segments (device: segment capacity)",
                        where, c->seg_cap);
    enum vs_gmem_access_kind kind = write ? VS_GMEM_WRITE : VS_GMEM_READ;
    void *host = vs_gmem_translate(q->gm, addr, len, kind, NULL);
    if (!host && !vs_gmem_span_ok(q->gm, addr, len, kind))
        return dev_fail(q, e, VS_EPROTO, slot,
                        "%s%s buffer [0x%llx, +%u) not in %s guest memory "
                        "(packed: buffer address)",
                        where, write ? "writable" : "readable", (unsigned long long)addr,
                        len, write ? "writable" : "readable");
    vs_dseg *s = &c->seg[c->nseg++];
    s->gpa = addr;
    s->len = len;
    s->write = write;
    s->host = host;
    if (write) {
        c->in_bytes += len;
    } else {
        c->out_bytes += len;
        c->n_out = c->nseg;
    }
    return 0;
}

static int dev_indirect(pk_dev *q, struct walk *w, unsigned slot, uint64_t addr,
                        uint32_t len, vs_err *e)
{
    if (len == 0 || len % 16)
        return dev_fail(q, e, VS_EPROTO, slot,
                        "indirect table length %u is not a non-zero multiple of 16 "
                        "(packed: indirect table length)",
                        len);
    uint32_t n = len / 16;
    if (n > q->size)
        return dev_fail(q, e, VS_EPROTO, slot,
                        "indirect table of %u entries > queue size %u "
                        "(packed: indirect table too long)",
                        n, q->size);
    /* The table's address comes from the driver and need not be aligned: its entries
     * are decoded as bytes, never through a struct pdesc pointer. */
    const uint8_t *t = vs_gmem_translate(q->gm, addr, len, VS_GMEM_READ, NULL);
    if (!t && !vs_gmem_span_ok(q->gm, addr, len, VS_GMEM_READ))
        return dev_fail(q, e, VS_EPROTO, slot,
                        "indirect table [0x%llx, +%u) not in guest memory "
                        "(packed: indirect table address)",
                        (unsigned long long)addr, len);
    char where[40];
    for (uint32_t i = 0; i < n; i++) {
        uint8_t tmp[16];
        const uint8_t *d;
        if (t) {
            d = t + (size_t)i * 16;
        } else {
            vs_err te;
            vs_err_clear(&te);
            if (vs_gmem_read(q->gm, addr + (uint64_t)i * 16, tmp, 16, &te) < 0)
                return dev_fail(q, e, VS_EPROTO, slot,
                                "indirect entry %u: %s (packed: indirect table address)", i,
                                te.msg);
            d = tmp;
        }
        uint16_t f = vs_le16_get(d + 14);
        if (f & F_INDIRECT)
            return dev_fail(q, e, VS_EPROTO, slot,
                            "indirect entry %u: INDIRECT inside an indirect table "
                            "(packed: nested indirect)",
                            i);
        snprintf(where, sizeof where, "indirect entry %u: ", i);
        int rc = dev_seg(q, w, slot, where, vs_le64_get(d), vs_le32_get(d + 8), f & F_WRITE, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int vs_packed_dev_pop(vs_vq_dev *qq, vs_chain *c, vs_err *e)
{
    pk_dev *q = DEV(qq);
    if (q->broken)
        return vs_err_set(e, VS_ESTATE, "queue %u: queue is broken by an earlier error",
                          q->qi);
    if (!c || (!c->seg && c->seg_cap))
        return vs_err_set(e, VS_EINVAL, "queue %u: pop: NULL chain or segment array", q->qi);
    uint32_t slot = q->next_avail;
    const struct pdesc *d = &q->ring[slot];
    uint16_t f = ld_flags_acq(d);
    bool wrap = q->avail_wrap;
    /* Mutant IGNORES_WRAP: "available" is AVAIL != USED, whatever the wrap counter. */
    bool nowrap = (q->mutations & VS_VQ_MUT_IGNORES_WRAP) != 0;
    if (nowrap ? (bool)(f & F_AVAIL) == (bool)(f & F_USED)
               : (bool)(f & F_AVAIL) != wrap || (bool)(f & F_USED) == wrap)
        return 0;

    c->head = (uint16_t)slot;
    c->indirect = false;
    c->nseg = 0;
    c->n_out = 0;
    c->out_bytes = 0;
    c->in_bytes = 0;
    struct walk w = {c, false};
    uint32_t cnt = 1;
    uint16_t id;
    for (;;) {
        uint64_t addr = le64toh(d->addr);
        uint32_t len = le32toh(d->len);
        if (f & F_INDIRECT) {
            if (!(q->features & VS_VQ_F_INDIRECT))
                return dev_fail(q, e, VS_EPROTO, slot,
                                "INDIRECT set but VIRTIO_F_INDIRECT_DESC not negotiated "
                                "(packed: indirect not negotiated)");
            if (f & F_NEXT)
                return dev_fail(q, e, VS_EPROTO, slot,
                                "INDIRECT together with NEXT (packed: indirect with next)");
            if (cnt > 1)
                return dev_fail(q, e, VS_EPROTO, slot,
                                "INDIRECT descriptor inside a NEXT chain "
                                "(packed: indirect in chain)");
            int rc = dev_indirect(q, &w, slot, addr, len, e);
            if (rc < 0)
                return rc;
            c->indirect = true;
            id = le16toh(d->id);
            break;
        }
        int rc = dev_seg(q, &w, slot, "", addr, len, f & F_WRITE, e);
        if (rc < 0)
            return rc;
        if (!(f & F_NEXT)) {
            id = le16toh(d->id);
            break;
        }
        if (cnt >= q->size)
            return dev_fail(q, e, VS_EPROTO, slot,
                            "chain longer than queue size %u (packed: chain too long)",
                            q->size);
        if (++slot == q->size) {
            slot = 0;
            wrap = !wrap;
        }
        cnt++;
        d = &q->ring[slot];
        f = le16toh(d->flags);
        if (nowrap ? (bool)(f & F_AVAIL) == (bool)(f & F_USED)
                   : (bool)(f & F_AVAIL) != wrap || (bool)(f & F_USED) == wrap)
            return dev_fail(q, e, VS_EPROTO, slot,
                            "chain continues into a descriptor not marked available "
                            "(flags 0x%04x, wrap %u) (packed: chain descriptor not "
                            "available)",
                            f, (unsigned)wrap);
    }
    if (++slot == q->size) {
        slot = 0;
        wrap = !wrap;
    }
    q->next_avail = (uint16_t)slot;
    q->avail_wrap = wrap;
    q->inflight += cnt;
    c->id = id;
    c->ndesc = (uint16_t)cnt;
    if (q->mutations & VS_VQ_MUT_SG_SWAPPED && !c->indirect && c->nseg - c->n_out >= 3 &&
        c->seg[c->n_out].len == c->seg[c->n_out + 1].len) {
        vs_dseg t = c->seg[c->n_out]; /* mutant: data lands in the wrong descriptor */
        c->seg[c->n_out] = c->seg[c->n_out + 1];
        c->seg[c->n_out + 1] = t;
    }
    return 1;
}

/* Writes one used descriptor at next_used; the first since the last publish keeps its
 * flags back for publish. */
static inline void dev_put_used(pk_dev *q, uint16_t id, uint32_t len, uint32_t advance)
{
    struct pdesc *d = &q->ring[q->next_used];
    d->id = htole16(id);
    d->len = htole32(len);
    uint16_t f = (uint16_t)((q->used_wrap ? (F_AVAIL | F_USED) : 0) | (len ? F_WRITE : 0));
    q->put_slot = q->next_used;
    q->put_flags = f;
    if (!q->pend) {
        q->pend = true;
        q->pend_slot = q->next_used;
        q->pend_flags = f;
    } else {
        d->flags = htole16(f);
    }
    uint32_t nu = q->next_used + advance;
    while (nu >= q->size) {
        nu -= q->size;
        q->used_wrap = !q->used_wrap;
    }
    q->next_used = (uint16_t)nu;
    q->unpub += advance;
}

int vs_packed_dev_push(vs_vq_dev *qq, const vs_chain *c, uint32_t written, vs_err *e)
{
    pk_dev *q = DEV(qq);
    if (q->broken)
        return vs_err_set(e, VS_ESTATE, "queue %u: push on a broken queue", q->qi);
    if (!c || c->ndesc == 0)
        return vs_err_set(e, VS_EINVAL, "queue %u: push: no chain", q->qi);
    if (written > c->in_bytes)
        return vs_err_set(e, VS_EINVAL,
                          "queue %u: push: id %u: written %u > writable bytes %llu", q->qi,
                          c->id, written, (unsigned long long)c->in_bytes);
    if (c->ndesc > q->inflight)
        return vs_err_set(e, VS_ESTATE,
                          "queue %u: push: id %u uses %u slots but only %u are in flight",
                          q->qi, c->id, c->ndesc, q->inflight);
    q->inflight -= c->ndesc;
    uint32_t m = q->mutations;
    if (__builtin_expect(m == 0, 1)) {
        dev_put_used(q, c->id, written, c->ndesc);
        return 0;
    }
    uint16_t id = c->id;
    uint32_t len = written;
    uint32_t adv = c->ndesc;
    if (m & VS_VQ_MUT_USED_LEN_TOO_LONG)
        len = (uint32_t)c->in_bytes + 1;
    if (m & VS_VQ_MUT_USED_BAD_ID)
        id = (uint16_t)(id + 1);
    if ((m & VS_VQ_MUT_SKIP_USED_IDX) && !q->skip_done) {
        q->skip_done = true;
        adv += 1;
    }
    if ((m & VS_VQ_MUT_REWRITES_USED) && q->rw_ok) {
        /* The previous used descriptor, already visible to the driver, gets a new len
         * (only while its flags still say used: the driver has not reused the slot). */
        struct pdesc *old = &q->ring[q->rw_slot];
        if (ld_flags_acq(old) == q->rw_flags)
            old->len = htole32(le32toh(old->len) + 1);
        q->rw_ok = false;
    }
    dev_put_used(q, id, len, adv);
    if (m & VS_VQ_MUT_DOUBLE_COMPLETE)
        dev_put_used(q, id, len, c->ndesc);
    return 0;
}

void vs_packed_dev_publish(vs_vq_dev *qq)
{
    pk_dev *q = DEV(qq);
    if (q->pend) {
        st_flags_rel(&q->ring[q->pend_slot], q->pend_flags);
        q->pend = false;
    }
    if (q->unpub) {
        q->rw_ok = true;
        q->rw_slot = q->put_slot;
        q->rw_flags = q->put_flags;
    }
    uint32_t k = q->irq_count + q->unpub;
    q->irq_count = k > q->size ? q->size + 1 : k; /* saturate: "more than a ring" */
    q->unpub = 0;
    q->pub_idx = q->next_used;
    q->pub_wrap = q->used_wrap;
}

bool vs_packed_dev_irq_needed(vs_vq_dev *qq)
{
    pk_dev *q = DEV(qq);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t ev = ev_load(q->drv_ev);
    uint32_t count = q->irq_count;
    q->irq_count = 0;
    if (q->mutations & VS_VQ_MUT_IRQ_WHEN_SUPPRESSED)
        return true;
    return event_decide(ev, q->features & VS_VQ_F_EVENT_IDX, count, q->pub_idx,
                        q->pub_wrap, q->size);
}

void vs_packed_dev_notify_disable(vs_vq_dev *qq)
{
    pk_dev *q = DEV(qq);
    if (q->ev_shadow != EV_DISABLE) {
        q->ev_shadow = EV_DISABLE;
        ev_store(q->dev_ev, ev_pack(0, EV_DISABLE));
    }
}

static inline bool dev_avail_pending(const pk_dev *q)
{
    uint16_t f = ld_flags_acq(&q->ring[q->next_avail]);
    return (bool)(f & F_AVAIL) == q->avail_wrap && (bool)(f & F_USED) != q->avail_wrap;
}

bool vs_packed_dev_notify_enable(vs_vq_dev *qq)
{
    pk_dev *q = DEV(qq);
    if (q->features & VS_VQ_F_EVENT_IDX) {
        q->ev_shadow = EV_DESC;
        ev_store(q->dev_ev, ev_pack((uint16_t)(q->next_avail | (q->avail_wrap ? 0x8000u : 0)),
                                    EV_DESC));
    } else if (q->ev_shadow != EV_ENABLE) {
        q->ev_shadow = EV_ENABLE;
        ev_store(q->dev_ev, ev_pack(0, EV_ENABLE));
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return dev_avail_pending(q);
}

unsigned vs_packed_dev_avail_hint(const vs_vq_dev *qq)
{
    const pk_dev *q = CDEV(qq);
    return dev_avail_pending(q) ? q->size : 0;
}

bool vs_packed_dev_broken(const vs_vq_dev *q) { return CDEV(q)->broken; }

uint16_t vs_packed_dev_get_base(const vs_vq_dev *qq)
{
    const pk_dev *q = CDEV(qq);
    return (uint16_t)(q->next_avail | (q->avail_wrap ? 0x8000u : 0));
}

/* Like vhost SET_VRING_BASE for packed rings: sets the next available slot and wrap
 * counter; the used position follows (nothing is in flight after a base change). */
int vs_packed_dev_set_base(vs_vq_dev *qq, uint16_t base, vs_err *e)
{
    pk_dev *q = DEV(qq);
    uint16_t idx = base & 0x7fffu;
    bool wrap = base >> 15;
    if (idx >= q->size)
        return vs_err_set(e, VS_ERANGE, "queue %u: set_base: index %u >= queue size %u",
                          q->qi, idx, q->size);
    q->next_avail = q->next_used = q->pub_idx = idx;
    q->avail_wrap = q->used_wrap = q->pub_wrap = wrap;
    q->inflight = 0;
    q->pend = false;
    q->rw_ok = false;
    q->unpub = 0;
    q->irq_count = 0;
    return 0;
}

const vs_vq_layout *vs_packed_dev_layout(const vs_vq_dev *q) { return &CDEV(q)->l; }
