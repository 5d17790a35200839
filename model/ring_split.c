/* Split virtqueue (VIRTIO 1.x section 2.7), driver side and device side.
 *
 * Both sides translate the three ring areas to host pointers once, at create (the areas
 * are validated then), and afterwards touch ring memory with plain loads/stores plus the
 * fences the spec asks for: the index that publishes entries is stored with RELEASE,
 * the peer's index is loaded with ACQUIRE, and the notification-suppression decisions
 * (kick_needed, irq_needed, *_enable) use a full fence between our index store and the
 * load of the peer's flags / event index. The peer may be another process (QEMU, a
 * vhost-user back-end), so every value read from ring memory is read once into a local
 * and validated there.
 *
 * Device-side policies (decided here, documented in the error messages):
 *  - zero-length buffer descriptors are rejected with VS_ENOTSUP, rule
 *    "device policy: zero-length descriptor". The spec does not forbid them, but QEMU's
 *    virtqueue_map_desc rejects them ("zero sized buffers are not allowed") and no real
 *    driver sends them; a device that accepts them can still be modelled by the caller.
 *  - an indirect table must have len a non-zero multiple of 16 and lie in one guest
 *    memory region; a chain's total descriptor count (direct + indirect entries) must not
 *    exceed the queue size (the spec's "chain longer than the Queue Size" rule, which
 *    2.7.5.3.1 states for indirect chains too).
 *  - "zero or more direct descriptors followed by one INDIRECT descriptor" is accepted
 *    (2.7.5.3.2 requires devices to handle it); the WRITE bit of an INDIRECT descriptor
 *    is ignored (same section).
 *  - a chain with more segments than the caller's seg_cap fails with VS_ENOSPC
 *    ("device limit"), does NOT break the queue and is not consumed: retry with a larger
 *    segment array.
 * Every other malformation fails with VS_EPROTO and breaks the queue. */
#include "model/ring_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE16(x) __builtin_bswap16(x)
#define LE32(x) __builtin_bswap32(x)
#define LE64(x) __builtin_bswap64(x)
#else
#define LE16(x) ((uint16_t)(x))
#define LE32(x) ((uint32_t)(x))
#define LE64(x) ((uint64_t)(x))
#endif

#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_F_NO_NOTIFY 1u

/* In-memory layouts (little-endian fields). */
struct sdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct savail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* [size], then used_event */
};

struct sused_elem {
    uint32_t id;
    uint32_t len;
};

struct sused {
    uint16_t flags;
    uint16_t idx;
    struct sused_elem ring[]; /* [size], then avail_event */
};

_Static_assert(sizeof(struct sdesc) == 16, "virtq_desc is 16 bytes");
_Static_assert(sizeof(struct sused_elem) == 8, "virtq_used_elem is 8 bytes");

#define LOAD_ACQ16(p) LE16(__atomic_load_n((p), __ATOMIC_ACQUIRE))
#define STORE_REL16(p, v) __atomic_store_n((p), LE16(v), __ATOMIC_RELEASE)
#define FULL_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* ------------------------------------------------------------- ring mapping */

typedef struct split_map {
    uint32_t size, mask;
    struct sdesc *desc;
    struct savail *avail;
    struct sused *used;
    uint16_t *used_event;  /* avail->ring[size] */
    uint16_t *avail_event; /* after used->ring[size] */
} split_map;

static int split_map_layout(vs_gmem *gm, const vs_vq_layout *l, bool driver, split_map *m,
                            const char *who, uint16_t qidx, vs_err *e)
{
    vs_vq_area_sizes a;
    int rc;
    if (l->format != VS_RING_SPLIT)
        return vs_err_set(e, VS_EINVAL, "queue %u: %s: layout is not a split ring", qidx, who);
    if ((rc = vs_vq_area_sizes_for(VS_RING_SPLIT, l->size, &a, e)) < 0)
        return vs_err_prefix(e, "queue %u: %s", qidx, who);
    const uint64_t gpa[3] = {l->desc_gpa, l->driver_gpa, l->device_gpa};
    const uint64_t bytes[3] = {a.desc_bytes, a.driver_bytes, a.device_bytes};
    const uint32_t align[3] = {a.desc_align, a.driver_align, a.device_align};
    static const char *const names[3] = {"descriptor table", "available ring", "used ring"};
    /* The driver writes desc + avail and zeroes used at init; the device reads desc +
     * avail and writes used. */
    const enum vs_gmem_access_kind kind[3] = {
        driver ? VS_GMEM_WRITE : VS_GMEM_READ,
        driver ? VS_GMEM_WRITE : VS_GMEM_READ,
        VS_GMEM_WRITE,
    };
    void *host[3];
    for (int i = 0; i < 3; i++) {
        if (gpa[i] & (align[i] - 1))
            return vs_err_set(e, VS_EINVAL,
                              "queue %u: %s: %s at gpa 0x%llx is not %u-byte aligned", qidx,
                              who, names[i], (unsigned long long)gpa[i], align[i]);
        host[i] = vs_gmem_translate(gm, gpa[i], bytes[i], kind[i], e);
        if (!host[i])
            return vs_err_prefix(e, "queue %u: %s: %s", qidx, who, names[i]);
    }
    m->size = l->size;
    m->mask = l->size - 1;
    m->desc = host[0];
    m->avail = host[1];
    m->used = host[2];
    m->used_event = &m->avail->ring[l->size];
    m->avail_event = (uint16_t *)(void *)&m->used->ring[l->size];
    return 0;
}

/* ================================================================ driver side */

typedef struct head_state {
    void *cookie;
    uint32_t in_bytes; /* device-writable bytes of the chain; UINT32_MAX = unknown */
    uint16_t ndesc;    /* descriptors the chain holds; 0 = head not outstanding */
    uint16_t tail;     /* last descriptor, for O(1) return to the free list */
} head_state;

typedef struct split_drv {
    struct vs_vq_drv hdr;
    split_map m;
    uint16_t free_head;
    uint16_t free_tail;  /* IN_ORDER: freed chains join the end, keeping ring order */
    uint16_t avail_idx;  /* shadow: next avail idx to publish */
    uint16_t pub_idx;    /* avail idx last published */
    uint16_t kick_old;   /* published avail idx at the previous kick decision */
    uint16_t last_used;  /* used idx collected so far */
    uint16_t qidx;
    uint16_t indirect_max;
    bool event_idx, has_indirect, irq_off;
    bool mislead;       /* VS_VQ_F_MISLEAD_SUPPRESSION (test only) */
    bool in_order;      /* VS_VQ_F_IN_ORDER */
    uint32_t num_free;
    uint32_t outstanding;
    uint16_t *next;      /* driver-private descriptor links (free list + chains) */
    uint16_t *scratch;   /* add_raw slot map */
    head_state *hs;
    struct sdesc *indir; /* size * indirect_max preallocated indirect entries */
    uint64_t indir_gpa;
    vs_gmem *gm;
    vs_vq_layout layout;
} split_drv;

#define DRV(q) ((split_drv *)(q))
#define CDRV(q) ((const split_drv *)(q))

static void drv_mislead(split_drv *q);

int vs_split_drv_create(vs_vq_drv **out, vs_gmem *gm, const vs_vq_layout *l,
                        const vs_vq_drv_opts *o, vs_err *e)
{
    static const vs_vq_drv_opts defaults = {0};
    if (!o)
        o = &defaults;
    split_map m;
    int rc = split_map_layout(gm, l, true, &m, "split driver", o->queue_index, e);
    if (rc < 0)
        return rc;
    split_drv *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "queue %u: split driver: out of memory", o->queue_index);
    q->hdr.format = VS_RING_SPLIT;
    q->m = m;
    q->qidx = o->queue_index;
    q->event_idx = (o->features & VS_VQ_F_EVENT_IDX) != 0;
    q->has_indirect = (o->features & VS_VQ_F_INDIRECT) != 0;
    q->mislead = (o->features & VS_VQ_F_MISLEAD_SUPPRESSION) != 0;
    q->in_order = (o->features & VS_VQ_F_IN_ORDER) != 0;
    q->indirect_max = o->indirect_max ? o->indirect_max : 16;
    q->num_free = m.size;
    q->gm = gm;
    q->layout = *l;
    q->next = malloc(sizeof *q->next * m.size);
    q->scratch = malloc(sizeof *q->scratch * m.size);
    q->hs = calloc(m.size, sizeof *q->hs);
    if (!q->next || !q->scratch || !q->hs) {
        rc = vs_err_set(e, VS_ENOMEM, "queue %u: split driver: out of memory", q->qidx);
        goto fail;
    }
    for (uint32_t i = 0; i < m.size; i++)
        q->next[i] = (uint16_t)(i + 1);
    q->free_tail = (uint16_t)(m.size - 1);
    if (q->has_indirect) {
        uint64_t bytes = (uint64_t)m.size * q->indirect_max * sizeof(struct sdesc);
        rc = vs_gmem_alloc(gm, bytes, 16, &q->indir_gpa, e);
        if (rc < 0) {
            vs_err_prefix(e, "queue %u: split driver: indirect tables (%u x %u entries)",
                          q->qidx, m.size, q->indirect_max);
            goto fail;
        }
        q->indir = vs_gmem_translate(gm, q->indir_gpa, bytes, VS_GMEM_WRITE, e);
        if (!q->indir) {
            rc = vs_err_prefix(e, "queue %u: split driver: indirect tables", q->qidx);
            (void)vs_gmem_free(gm, q->indir_gpa, NULL);
            goto fail;
        }
    }
    memset(m.desc, 0, 16ull * m.size);
    memset(m.avail, 0, 6ull + 2ull * m.size);
    memset(m.used, 0, 6ull + 8ull * m.size);
    drv_mislead(q);
    *out = &q->hdr;
    return 0;
fail:
    free(q->next);
    free(q->scratch);
    free(q->hs);
    free(q);
    return rc;
}

void vs_split_drv_destroy(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    if (!q)
        return;
    if (q->indir)
        (void)vs_gmem_free(q->gm, q->indir_gpa, NULL);
    free(q->next);
    free(q->scratch);
    free(q->hs);
    free(q);
}

static inline void drv_expose(split_drv *q, uint16_t head)
{
    q->m.avail->ring[q->avail_idx & q->m.mask] = LE16(head);
    q->avail_idx++;
    q->outstanding++;
}

static int drv_add_indirect(split_drv *q, const vs_seg *segs, unsigned n_out, unsigned n,
                            unsigned flags, uint32_t in_bytes, void *cookie, vs_err *e)
{
    if (!q->has_indirect)
        return vs_err_set(e, VS_ENOTSUP,
                          "queue %u: add: indirect descriptors not negotiated", q->qidx);
    /* VS_ADD_DIRECT_FIRST: the first segment in a direct descriptor chained to the
     * indirect one (a legal shape devices must accept, 2.7.5.3.2). */
    unsigned nd = (flags & VS_ADD_DIRECT_FIRST) && n >= 2 ? 1 : 0;
    if (n - nd > q->indirect_max)
        return vs_err_set(e, VS_EINVAL,
                          "queue %u: add: %u segments exceed the indirect table size %u",
                          q->qidx, n - nd, q->indirect_max);
    if (n > q->m.size)
        return vs_err_set(e, VS_EINVAL,
                          "queue %u: add: chain of %u descriptors longer than queue size %u",
                          q->qidx, n, q->m.size);
    if (unlikely(q->num_free < 1 + nd))
        return vs_err_set(e, VS_ENOSPC, "queue %u: add: ring full", q->qidx);
    uint16_t head = q->free_head, slot = nd ? q->next[head] : head;
    size_t base = (size_t)head * q->indirect_max;
    struct sdesc *t = q->indir + base;
    for (unsigned k = nd; k < n; k++) {
        bool more = k + 1 < n;
        t[k - nd].addr = LE64(segs[k].gpa);
        t[k - nd].len = LE32(segs[k].len);
        t[k - nd].flags = LE16((k >= n_out ? VS_DESC_F_WRITE : 0) | (more ? VS_DESC_F_NEXT : 0));
        t[k - nd].next = LE16(more ? k - nd + 1 : 0);
    }
    if (flags & VS_ADD_MUT_NESTED_INDIRECT)
        t[0].flags |= LE16(VS_DESC_F_INDIRECT);
    if (nd) {
        struct sdesc *x = &q->m.desc[head];
        x->addr = LE64(segs[0].gpa);
        x->len = LE32(segs[0].len);
        x->flags = LE16((n_out == 0 ? VS_DESC_F_WRITE : 0) | VS_DESC_F_NEXT);
        x->next = LE16(slot);
    }
    struct sdesc *d = &q->m.desc[slot];
    d->addr = LE64(q->indir_gpa + base * sizeof(struct sdesc));
    d->len = LE32((n - nd) * (uint32_t)sizeof(struct sdesc));
    /* VS_ADD_INDIRECT_WRITE: a WRITE flag devices must ignore here (2.7.5.3.2) */
    d->flags = LE16(VS_DESC_F_INDIRECT | (flags & VS_ADD_INDIRECT_WRITE ? VS_DESC_F_WRITE : 0) |
                    (flags & VS_ADD_MUT_INDIRECT_NEXT ? VS_DESC_F_NEXT : 0));
    d->next = 0;
    q->free_head = q->next[slot];
    q->num_free -= 1 + nd;
    head_state *h = &q->hs[head];
    h->cookie = cookie;
    h->in_bytes = in_bytes;
    h->ndesc = (uint16_t)(1 + nd);
    h->tail = slot;
    drv_expose(q, head);
    return head;
}

int vs_split_drv_add(vs_vq_drv *qq, const vs_seg *segs, unsigned n_out, unsigned n_in,
                     unsigned flags, void *cookie, vs_err *e)
{
    split_drv *q = DRV(qq);
    unsigned n = n_out + n_in;
    if (unlikely(n == 0 || n_out > VS_VQ_MAX_SIZE || n_in > VS_VQ_MAX_SIZE || !segs))
        return vs_err_set(e, VS_EINVAL, "queue %u: add: bad chain (%u out + %u in segments)",
                          q->qidx, n_out, n_in);
    uint64_t in = 0;
    for (unsigned k = n_out; k < n; k++)
        in += segs[k].len;
    uint32_t in_bytes = in >= UINT32_MAX ? UINT32_MAX : (uint32_t)in;
    if (flags & VS_ADD_INDIRECT)
        return drv_add_indirect(q, segs, n_out, n, flags, in_bytes, cookie, e);
    if (unlikely(n > q->num_free)) {
        if (n > q->m.size)
            return vs_err_set(e, VS_EINVAL,
                              "queue %u: add: chain of %u descriptors longer than queue size %u",
                              q->qidx, n, q->m.size);
        return vs_err_set(e, VS_ENOSPC, "queue %u: add: ring full (%u free, %u needed)",
                          q->qidx, q->num_free, n);
    }
    struct sdesc *dt = q->m.desc;
    uint16_t head = q->free_head, i = head, prev = head;
    /* a driver mutant's chain starts with its writable segments */
    unsigned rot = (flags & VS_ADD_MUT_WRITABLE_FIRST) && n_out < n ? n_out : 0;
    for (unsigned p = 0, k = rot; p < n; p++, k = k + 1 == n ? 0 : k + 1) {
        bool more = p + 1 < n;
        struct sdesc *d = &dt[i];
        d->addr = LE64(segs[k].gpa);
        d->len = LE32(segs[k].len);
        d->flags = LE16((k >= n_out ? VS_DESC_F_WRITE : 0) | (more ? VS_DESC_F_NEXT : 0));
        d->next = LE16(more ? q->next[i] : 0);
        prev = i;
        i = q->next[i];
    }
    q->free_head = i;
    q->num_free -= n;
    head_state *h = &q->hs[head];
    h->cookie = cookie;
    h->in_bytes = in_bytes;
    h->ndesc = (uint16_t)n;   /* n <= 32768 */
    h->tail = prev;
    drv_expose(q, head);
    return head;
}

int vs_split_drv_add_raw(vs_vq_drv *qq, const vs_desc *descs, unsigned n, void *cookie,
                         vs_err *e)
{
    split_drv *q = DRV(qq);
    if (n == 0 || !descs)
        return vs_err_set(e, VS_EINVAL, "queue %u: add_raw: empty chain", q->qidx);
    if (n > q->num_free)
        return vs_err_set(e, n > q->m.size ? VS_EINVAL : VS_ENOSPC,
                          "queue %u: add_raw: %u descriptors needed, %u free", q->qidx, n,
                          q->num_free);
    uint16_t i = q->free_head, prev = i;
    for (unsigned k = 0; k < n; k++) {
        q->scratch[k] = i;
        prev = i;
        i = q->next[i];
    }
    uint64_t in = 0;
    bool known = true;
    for (unsigned k = 0; k < n; k++) {
        struct sdesc *d = &q->m.desc[q->scratch[k]];
        d->addr = LE64(descs[k].addr);
        d->len = LE32(descs[k].len);
        d->flags = LE16(descs[k].flags);
        d->next = LE16(descs[k].next < n ? q->scratch[descs[k].next] : descs[k].next);
        if (descs[k].flags & VS_DESC_F_INDIRECT)
            known = false;
        else if (descs[k].flags & VS_DESC_F_WRITE)
            in += descs[k].len;
    }
    uint16_t head = q->scratch[0];
    q->free_head = i;
    q->num_free -= n;
    head_state *h = &q->hs[head];
    h->cookie = cookie;
    h->in_bytes = (!known || in >= UINT32_MAX) ? UINT32_MAX : (uint32_t)in;
    h->ndesc = (uint16_t)n;
    h->tail = prev;
    drv_expose(q, head);
    return head;
}

void vs_split_drv_publish(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    q->pub_idx = q->avail_idx;
    STORE_REL16(&q->m.avail->idx, q->avail_idx);
}

bool vs_split_drv_kick_needed(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    FULL_FENCE(); /* our avail idx store before the load of the device's suppression */
    uint16_t old = q->kick_old, nw = q->pub_idx;
    q->kick_old = nw;
    if (q->event_idx)
        return vs_vq_need_event(LE16(__atomic_load_n(q->m.avail_event, __ATOMIC_RELAXED)), nw,
                                old);
    return nw != old &&
           !(LE16(__atomic_load_n(&q->m.used->flags, __ATOMIC_RELAXED)) & VRING_USED_F_NO_NOTIFY);
}

__attribute__((noinline, cold)) static int drv_bad_used(split_drv *q, vs_err *e, uint16_t uidx,
                                                        uint32_t id, uint32_t len)
{
    uint16_t ahead = (uint16_t)(uidx - q->last_used);
    if (ahead > q->outstanding)
        return vs_err_set(e, VS_EPROTO,
                          "queue %u: used idx %u is %u past the last collected %u but only %u "
                          "chains are outstanding (split: used idx ahead)",
                          q->qidx, uidx, ahead, q->last_used, q->outstanding);
    if (id >= q->m.size)
        return vs_err_set(e, VS_EPROTO,
                          "queue %u: used ring[%u]: id %u >= queue size %u (split: used id out "
                          "of range)",
                          q->qidx, q->last_used & q->m.mask, id, q->m.size);
    (void)len;
    return vs_err_set(e, VS_EPROTO,
                      "queue %u: used ring[%u]: id %u is not the head of an outstanding "
                      "chain (split: used id not outstanding)",
                      q->qidx, q->last_used & q->m.mask, id);
}

int vs_split_drv_collect(vs_vq_drv *qq, vs_used *out, vs_err *e)
{
    split_drv *q = DRV(qq);
    uint16_t last = q->last_used;
    uint16_t uidx = LOAD_ACQ16(&q->m.used->idx);
    if (uidx == last)
        return 0;
    const struct sused_elem *el = &q->m.used->ring[last & q->m.mask];
    uint32_t id = LE32(el->id), len = LE32(el->len);
    /* On a bad element too: the caller's evidence names what the device wrote. */
    *out = (vs_used){.id = id, .len = len};
    if (unlikely((uint16_t)(uidx - last) > q->outstanding || id >= q->m.size))
        return drv_bad_used(q, e, uidx, id, len);
    head_state *h = &q->hs[id];
    /* A len beyond the chain's writable bytes is the device's lie, not something that
     * stops the driver from reclaiming the chain: it is collected and judged by the
     * conformance monitors (used-len-bound), which is where the evidence belongs. */
    if (unlikely(h->ndesc == 0))
        return drv_bad_used(q, e, uidx, id, len);
    out->len_valid = true;
    out->cookie = h->cookie;
    if (q->in_order) {
        /* The device uses chains in the order they were made available, so appending
         * them keeps the free list in ring order (the next chain starts where the last
         * one ended). A device that completes out of order only breaks that order. */
        if (q->num_free)
            q->next[q->free_tail] = (uint16_t)id;
        else
            q->free_head = (uint16_t)id;
        q->free_tail = h->tail;
    } else {
        q->next[h->tail] = q->free_head;
        q->free_head = (uint16_t)id;
    }
    q->num_free += h->ndesc;
    h->ndesc = 0;
    q->outstanding--;
    q->last_used = ++last;
    if (q->event_idx && !q->irq_off)
        __atomic_store_n(q->m.used_event, LE16(last), __ATOMIC_RELAXED);
    drv_mislead(q);
    return 1;
}

/* Test only (VS_VQ_F_MISLEAD_SUPPRESSION): keep the mechanism the negotiated features tell
 * the device to ignore saying "no interrupt": avail.flags NO_INTERRUPT with EVENT_IDX,
 * used_event half the index space away without it. */
static void drv_mislead(split_drv *q)
{
    if (!q->mislead)
        return;
    if (q->event_idx)
        __atomic_store_n(&q->m.avail->flags, LE16(VRING_AVAIL_F_NO_INTERRUPT),
                         __ATOMIC_RELAXED);
    else
        __atomic_store_n(q->m.used_event, LE16((uint16_t)(q->last_used + 0x8000u)),
                         __ATOMIC_RELAXED);
}

void vs_split_drv_irq_disable(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    q->irq_off = true;
    if (q->event_idx) /* flags must stay 0: park used_event half a ring-index space away */
        __atomic_store_n(q->m.used_event, LE16((uint16_t)(q->last_used + 0x8000u)),
                         __ATOMIC_RELAXED);
    else
        __atomic_store_n(&q->m.avail->flags, LE16(VRING_AVAIL_F_NO_INTERRUPT),
                         __ATOMIC_RELAXED);
}

bool vs_split_drv_irq_enable(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    q->irq_off = false;
    if (q->event_idx)
        __atomic_store_n(q->m.used_event, LE16(q->last_used), __ATOMIC_RELAXED);
    else
        __atomic_store_n(&q->m.avail->flags, 0, __ATOMIC_RELAXED);
    drv_mislead(q);
    FULL_FENCE();
    return LOAD_ACQ16(&q->m.used->idx) != q->last_used;
}

bool vs_split_drv_irq_enable_delayed(vs_vq_drv *qq)
{
    split_drv *q = DRV(qq);
    if (!q->event_idx)
        return vs_split_drv_irq_enable(qq);
    q->irq_off = false;
    uint16_t bufs = (uint16_t)(q->outstanding * 3 / 4);
    __atomic_store_n(q->m.used_event, LE16((uint16_t)(q->last_used + bufs)), __ATOMIC_RELAXED);
    FULL_FENCE();
    /* Already past the event: the caller should collect now rather than wait. */
    return (uint16_t)(LOAD_ACQ16(&q->m.used->idx) - q->last_used) > bufs;
}

unsigned vs_split_drv_num_free(const vs_vq_drv *q) { return CDRV(q)->num_free; }
unsigned vs_split_drv_outstanding(const vs_vq_drv *q) { return CDRV(q)->outstanding; }
const vs_vq_layout *vs_split_drv_layout(const vs_vq_drv *q) { return &CDRV(q)->layout; }
uint16_t vs_split_drv_avail_idx(const vs_vq_drv *q) { return CDRV(q)->avail_idx; }
uint16_t vs_split_drv_used_idx(const vs_vq_drv *q) { return CDRV(q)->last_used; }

/* ================================================================ device side */

typedef struct split_dev {
    struct vs_vq_dev hdr;
    split_map m;
    uint16_t last_avail;
    uint16_t used_idx;    /* shadow: next used idx */
    uint16_t pub_used;    /* used idx last published */
    uint16_t signalled;   /* published used idx at the previous irq decision */
    uint16_t qidx;
    bool signalled_valid, broken, event_idx, has_indirect, notify_off, skip_done;
    uint32_t mutations;
    uint32_t in_flight;   /* popped, not yet pushed */
    vs_gmem *gm;
    vs_vq_layout layout;
} split_dev;

#define DEV(q) ((split_dev *)(q))
#define CDEV(q) ((const split_dev *)(q))

int vs_split_dev_create(vs_vq_dev **out, vs_gmem *gm, const vs_vq_layout *l,
                        const vs_vq_dev_opts *o, vs_err *e)
{
    static const vs_vq_dev_opts defaults = {0};
    if (!o)
        o = &defaults;
    split_map m;
    int rc = split_map_layout(gm, l, false, &m, "split device", o->queue_index, e);
    if (rc < 0)
        return rc;
    split_dev *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "queue %u: split device: out of memory", o->queue_index);
    q->hdr.format = VS_RING_SPLIT;
    q->m = m;
    q->qidx = o->queue_index;
    q->event_idx = (o->features & VS_VQ_F_EVENT_IDX) != 0;
    q->has_indirect = (o->features & VS_VQ_F_INDIRECT) != 0;
    q->mutations = o->mutations;
    q->gm = gm;
    q->layout = *l;
    q->used_idx = q->pub_used = LOAD_ACQ16(&m.used->idx);
    *out = &q->hdr;
    return 0;
}

void vs_split_dev_destroy(vs_vq_dev *q) { free(DEV(q)); }

/* Chain error: "queue Q: desc D[: indirect entry I]: what (rule)". */
__attribute__((noinline, cold, format(printf, 7, 8))) static int
dev_fail(split_dev *q, vs_err *e, int code, unsigned desc, int ient, const char *rule,
         const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (code != VS_ENOSPC)
        q->broken = true;
    if (ient >= 0)
        return vs_err_set(e, code, "queue %u: desc %u: indirect entry %d: %s (%s)", q->qidx,
                          desc, ient, what, rule);
    return vs_err_set(e, code, "queue %u: desc %u: %s (%s)", q->qidx, desc, what, rule);
}

typedef unsigned long long ull;

/* The checks of an INDIRECT descriptor (desc rd, the count-th of its chain) and the
 * translation of its table into *tbl; 0, or dev_fail's error. Inline: pop is the hot path. */
static inline int dev_enter_indirect(split_dev *q, vs_err *e, unsigned rd, int ient,
                                     unsigned count, uint16_t fl, uint64_t addr, uint32_t len,
                                     const uint8_t **tbl)
{
    if (ient >= 0)
        return dev_fail(q, e, VS_EPROTO, rd, ient, "split: nested indirect",
                        "INDIRECT descriptor inside an indirect table");
    if (!q->has_indirect)
        return dev_fail(q, e, VS_EPROTO, rd, -1, "split: INDIRECT not negotiated",
                        "INDIRECT set but VIRTIO_F_INDIRECT_DESC not negotiated");
    if (fl & VS_DESC_F_NEXT)
        return dev_fail(q, e, VS_EPROTO, rd, -1, "split: INDIRECT with NEXT",
                        "INDIRECT and NEXT both set");
    if (unlikely(q->mutations & VS_VQ_MUT_INDIRECT_WRITE_REJECTED) && (fl & VS_DESC_F_WRITE))
        return dev_fail(q, e, VS_EPROTO, rd, -1, "mutant: indirect with WRITE",
                        "WRITE set on an indirect descriptor");
    if (unlikely(q->mutations & VS_VQ_MUT_DIRECT_THEN_INDIRECT_REJECTED) && count > 1)
        return dev_fail(q, e, VS_EPROTO, rd, -1, "mutant: indirect after direct",
                        "indirect descriptor after %u direct ones", count - 1);
    if (len == 0 || (len & 15))
        return dev_fail(q, e, VS_EPROTO, rd, -1, "split: indirect table length",
                        "indirect table len %u is not a non-zero multiple of 16", len);
    if (len - 1 > UINT64_MAX - addr)
        return dev_fail(q, e, VS_EPROTO, rd, -1, "split: address wrap",
                        "indirect table 0x%llx+%u wraps the 64-bit address space", (ull)addr,
                        len);
    const uint8_t *t = vs_gmem_translate(q->gm, addr, len, VS_GMEM_READ, NULL);
    if (!t) {
        if (!vs_gmem_span_ok(q->gm, addr, len, VS_GMEM_READ))
            return dev_fail(q, e, VS_EPROTO, rd, -1, "split: indirect table outside guest memory",
                            "indirect table [0x%llx,+%u) is not readable guest memory",
                            (ull)addr, len);
        return dev_fail(q, e, VS_EPROTO, rd, -1, "device limit: indirect table",
                        "indirect table [0x%llx,+%u) spans guest memory regions", (ull)addr, len);
    }
    *tbl = t;
    return 0;
}

int vs_split_dev_pop(vs_vq_dev *qq, vs_chain *c, vs_err *e)
{
    split_dev *q = DEV(qq);
    if (unlikely(q->broken))
        return vs_err_set(e, VS_ESTATE, "queue %u: queue is broken by an earlier error",
                          q->qidx);
    const uint16_t last = q->last_avail;
    const uint16_t aidx = LOAD_ACQ16(&q->m.avail->idx);
    const uint16_t navail = (uint16_t)(aidx - last);
    if (navail == 0)
        return 0;
    const uint32_t size = q->m.size;
    if (unlikely(navail > size)) {
        q->broken = true;
        return vs_err_set(e, VS_EPROTO,
                          "queue %u: avail idx %u is %u ahead of last_avail_idx %u, more than "
                          "queue size %u (split: avail idx jump)",
                          q->qidx, aidx, navail, last, size);
    }
    if (unlikely(!c))
        return vs_err_set(e, VS_EINVAL, "queue %u: pop: NULL chain", q->qidx);
    const unsigned head = LE16(__atomic_load_n(&q->m.avail->ring[last & q->m.mask],
                                               __ATOMIC_RELAXED));
    if (unlikely(head >= size))
        return dev_fail(q, e, VS_EPROTO, head, -1, "split: head out of range",
                        "avail ring[%u]: head %u >= queue size %u", last & q->m.mask, head,
                        size);

    /* Bytes, not struct sdesc: an indirect table may sit at any address the driver chose. */
    const uint8_t *tbl = (const uint8_t *)q->m.desc;
    unsigned tmax = size;      /* entries in the table being walked */
    unsigned i = head, rd = head;
    int ient = -1;             /* >= 0 while inside an indirect table */
    unsigned count = 0, ndesc = 0, nseg = 0, n_out = 0;
    const unsigned cap = c->seg_cap;
    vs_dseg *seg = c->seg;
    uint64_t ob = 0, ib = 0;
    bool wr = false;

    for (;;) {
        if (unlikely(++count > tmax)) {
            if (ient >= 0)
                return dev_fail(q, e, VS_EPROTO, rd, ient, "split: indirect descriptor loop",
                                "chain visits more than the table's %u entries", tmax);
            return dev_fail(q, e, VS_EPROTO, rd, -1,
                            "split: descriptor loop or chain longer than queue size",
                            "chain from head %u visits more than %u descriptors", head, size);
        }
        struct sdesc d;
        memcpy(&d, tbl + (size_t)i * sizeof d, sizeof d); /* one read of the peer's memory */
        const uint64_t addr = LE64(d.addr);
        const uint32_t len = LE32(d.len);
        const uint16_t fl = LE16(d.flags);

        if (unlikely(fl & VS_DESC_F_INDIRECT)) {
            const int rc = dev_enter_indirect(q, e, rd, ient, count, fl, addr, len, &tbl);
            if (rc < 0)
                return rc;
            ndesc = count;
            tmax = len / 16;
            i = 0;
            ient = 0;
            count = 0;
            continue;
        }

        if (unlikely(ient >= 0 && nseg >= size))
            return dev_fail(q, e, VS_EPROTO, rd, ient, "split: chain longer than queue size",
                            "chain has more than %u descriptors (indirect table of %u)", size,
                            tmax);
        if (unlikely(len == 0))
            return dev_fail(q, e, VS_ENOTSUP, rd, ient, "device policy: zero-length descriptor",
                            "buffer 0x%llx has length 0", (ull)addr);
        if (unlikely(len - 1 > UINT64_MAX - addr))
            return dev_fail(q, e, VS_EPROTO, rd, ient, "split: address wrap",
                            "buffer 0x%llx+%u wraps the 64-bit address space", (ull)addr, len);
        const bool w = (fl & VS_DESC_F_WRITE) != 0;
        if (w)
            wr = true;
        else if (unlikely(wr))
            return dev_fail(q, e, VS_EPROTO, rd, ient, "split: readable after writable",
                            "device-readable descriptor after a device-writable one");
        const enum vs_gmem_access_kind kind = w ? VS_GMEM_WRITE : VS_GMEM_READ;
        void *host = vs_gmem_translate(q->gm, addr, len, kind, NULL);
        if (unlikely(!host) && !vs_gmem_span_ok(q->gm, addr, len, kind))
            return dev_fail(q, e, VS_EPROTO, rd, ient, "split: buffer outside guest memory",
                            "buffer [0x%llx,+%u) is not %s guest memory", (ull)addr, len,
                            w ? "writable" : "readable");
        if (unlikely(nseg >= cap))
            return dev_fail(q, e, VS_ENOSPC, rd, ient, "device limit: segments",
                            "chain has more than seg_cap %u segments", cap);
        vs_dseg *s = &seg[nseg++];
        s->gpa = addr;
        s->len = len;
        s->write = w;
        s->host = host;
        if (w) {
            ib += len;
        } else {
            ob += len;
            n_out = nseg;
        }
        if (!(fl & VS_DESC_F_NEXT))
            break;
        const unsigned nx = LE16(d.next);
        if (unlikely(nx >= tmax)) {
            if (ient >= 0)
                return dev_fail(q, e, VS_EPROTO, rd, ient, "split: next out of range",
                                "next %u >= indirect table entries %u", nx, tmax);
            return dev_fail(q, e, VS_EPROTO, rd, -1, "split: next out of range",
                            "next %u >= queue size %u", nx, size);
        }
        i = nx;
        if (ient >= 0)
            ient = (int)nx;
        else
            rd = nx;
    }

    c->id = (uint16_t)head;
    c->head = (uint16_t)head;
    c->ndesc = (uint16_t)(ient >= 0 ? ndesc : count);
    c->indirect = ient >= 0;
    c->nseg = nseg;
    c->n_out = n_out;
    c->out_bytes = ob;
    c->in_bytes = ib;
    q->last_avail = (uint16_t)(last + 1);
    q->in_flight++;
    if (q->event_idx && !q->notify_off)
        __atomic_store_n(q->m.avail_event, LE16(q->last_avail), __ATOMIC_RELAXED);
    return 1;
}

static inline void dev_write_used(split_dev *q, uint32_t id, uint32_t len)
{
    struct sused_elem *el = &q->m.used->ring[q->used_idx & q->m.mask];
    el->id = LE32(id);
    el->len = LE32(len);
    q->used_idx++;
}

int vs_split_dev_push(vs_vq_dev *qq, const vs_chain *c, uint32_t written, vs_err *e)
{
    split_dev *q = DEV(qq);
    if (unlikely(!c || c->id >= q->m.size))
        return vs_err_set(e, VS_EINVAL, "queue %u: push: bad chain id %u", q->qidx,
                          c ? c->id : 0u);
    if (unlikely(written > c->in_bytes))
        return vs_err_set(e, VS_EINVAL,
                          "queue %u: push: chain %u: written %u > %llu device-writable bytes",
                          q->qidx, c->id, written, (ull)c->in_bytes);
    if (unlikely(q->in_flight == 0) && !q->mutations)
        return vs_err_set(e, VS_ESTATE, "queue %u: push: chain %u: no chain is in flight",
                          q->qidx, c->id);
    uint32_t id = c->id, len = written;
    if (unlikely(q->mutations)) {
        if (q->mutations & VS_VQ_MUT_USED_LEN_TOO_LONG)
            len = c->in_bytes >= UINT32_MAX ? UINT32_MAX : (uint32_t)c->in_bytes + 1;
        if (q->mutations & VS_VQ_MUT_USED_BAD_ID)
            id = id + 1;
        dev_write_used(q, id, len);
        if (q->mutations & VS_VQ_MUT_DOUBLE_COMPLETE)
            dev_write_used(q, id, len);
        if ((q->mutations & VS_VQ_MUT_WRITES_DESC) && c->head < q->m.size)
            q->m.desc[c->head].len = LE32(len); /* deliberate: the table is the driver's */
        if ((q->mutations & VS_VQ_MUT_SKIP_USED_IDX) && !q->skip_done) {
            q->used_idx++; /* the slot in between keeps whatever it held */
            q->skip_done = true;
        }
    } else {
        dev_write_used(q, id, len);
    }
    if (q->in_flight)
        q->in_flight--;
    return 0;
}

void vs_split_dev_publish(vs_vq_dev *qq)
{
    split_dev *q = DEV(qq);
    q->pub_used = q->used_idx;
    STORE_REL16(&q->m.used->idx, q->used_idx);
    if (unlikely(q->mutations & VS_VQ_MUT_USED_FLAGS_BAD)) /* deliberate: undefined bit 1 */
        __atomic_store_n(&q->m.used->flags,
                         LE16((uint16_t)(LE16(q->m.used->flags) | 2u)), __ATOMIC_RELAXED);
}

bool vs_split_dev_irq_needed(vs_vq_dev *qq)
{
    split_dev *q = DEV(qq);
    FULL_FENCE(); /* our used idx store before the load of the driver's suppression */
    const uint16_t nw = q->pub_used, old = q->signalled;
    const bool valid = q->signalled_valid;
    q->signalled = nw;
    q->signalled_valid = true;
    if (valid && nw == old)
        return false; /* nothing new since the last decision */
    if (unlikely(q->mutations & VS_VQ_MUT_IRQ_WHEN_SUPPRESSED))
        return true;
    if (unlikely(q->mutations & VS_VQ_MUT_IRQ_MISSED))
        return false; /* deliberate: the driver is never told */
    if (unlikely((q->mutations & VS_VQ_MUT_IRQ_MISSED_EI) && q->event_idx && valid))
        return false; /* deliberate: used_event crossings ignored */
    if (unlikely((q->mutations & VS_VQ_MUT_FLAGS_WITH_EI) && q->event_idx &&
                 (LE16(__atomic_load_n(&q->m.avail->flags, __ATOMIC_RELAXED)) &
                  VRING_AVAIL_F_NO_INTERRUPT)))
        return false; /* deliberate: honours NO_INTERRUPT although EVENT_IDX */
    if (unlikely((q->mutations & VS_VQ_MUT_USED_EVENT_NO_EI) && !q->event_idx && valid &&
                 !vs_vq_need_event(LE16(__atomic_load_n(q->m.used_event, __ATOMIC_RELAXED)),
                                   nw, old)))
        return false; /* deliberate: honours used_event without EVENT_IDX */
    if (q->event_idx)
        return !valid ||
               vs_vq_need_event(LE16(__atomic_load_n(q->m.used_event, __ATOMIC_RELAXED)), nw,
                                old);
    return !(LE16(__atomic_load_n(&q->m.avail->flags, __ATOMIC_RELAXED)) &
             VRING_AVAIL_F_NO_INTERRUPT);
}

void vs_split_dev_notify_disable(vs_vq_dev *qq)
{
    split_dev *q = DEV(qq);
    q->notify_off = true;
    if (q->event_idx) /* flags must stay 0: park avail_event half the index space away */
        __atomic_store_n(q->m.avail_event, LE16((uint16_t)(q->last_avail + 0x8000u)),
                         __ATOMIC_RELAXED);
    else
        __atomic_store_n(&q->m.used->flags, LE16(VRING_USED_F_NO_NOTIFY), __ATOMIC_RELAXED);
}

bool vs_split_dev_notify_enable(vs_vq_dev *qq)
{
    split_dev *q = DEV(qq);
    q->notify_off = false;
    if (q->event_idx)
        __atomic_store_n(q->m.avail_event, LE16(q->last_avail), __ATOMIC_RELAXED);
    else
        __atomic_store_n(&q->m.used->flags, 0, __ATOMIC_RELAXED);
    FULL_FENCE();
    return LOAD_ACQ16(&q->m.avail->idx) != q->last_avail;
}

unsigned vs_split_dev_avail_hint(const vs_vq_dev *qq)
{
    const split_dev *q = CDEV(qq);
    uint16_t n = (uint16_t)(LE16(__atomic_load_n(&q->m.avail->idx, __ATOMIC_RELAXED)) -
                            q->last_avail);
    return n > q->m.size ? q->m.size : n;
}

bool vs_split_dev_broken(const vs_vq_dev *q) { return CDEV(q)->broken; }
uint16_t vs_split_dev_get_base(const vs_vq_dev *q) { return CDEV(q)->last_avail; }

int vs_split_dev_set_base(vs_vq_dev *qq, uint16_t base, vs_err *e)
{
    (void)e;
    split_dev *q = DEV(qq);
    q->last_avail = base;
    q->used_idx = q->pub_used = LOAD_ACQ16(&q->m.used->idx);
    q->signalled_valid = false;
    q->in_flight = 0;
    return 0;
}

const vs_vq_layout *vs_split_dev_layout(const vs_vq_dev *q) { return &CDEV(q)->layout; }
