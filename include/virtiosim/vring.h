/* Virtqueues over guest memory: split (VIRTIO 1.x section 2.7) and packed (2.8), each
 * with a driver side (what a guest driver does) and a device side (what a device does).
 *
 * Both sides work on guest memory only (vs_gmem), never on each other's state, so a
 * driver-side queue can face QEMU or a vhost-user back-end and a device-side queue can
 * face a foreign driver. Cross-process ordering uses release/acquire fences.
 *
 * The device side validates every chain it fetches; a malformed chain is an error value
 * whose message names the queue, the descriptor index and the rule, e.g.
 *   "queue 0: desc 3: next 17 >= queue size 16 (split: next out of range)"
 * and leaves the queue marked broken (the device's error path is the caller's job). */
#ifndef VIRTIOSIM_VRING_H
#define VIRTIOSIM_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/gmem.h"

#define VS_VQ_MAX_SIZE 32768u

typedef enum vs_ring_format { VS_RING_SPLIT = 0, VS_RING_PACKED = 1 } vs_ring_format;

/* Descriptor flag bits as laid out in memory (split and packed share 1/2/4). */
enum vs_desc_flags {
    VS_DESC_F_NEXT = 1u << 0,
    VS_DESC_F_WRITE = 1u << 1,
    VS_DESC_F_INDIRECT = 1u << 2,
    VS_DESC_F_AVAIL = 1u << 7,  /* packed */
    VS_DESC_F_USED = 1u << 15,  /* packed */
};

/* Ring-level feature switches (mirror the negotiated VIRTIO_F_* bits). */
enum vs_vq_features {
    VS_VQ_F_EVENT_IDX = 1u << 0,
    VS_VQ_F_INDIRECT = 1u << 1,
    /* Driver side, test only: also write the suppression field the negotiated mechanism
     * tells the device to ignore, saying "no interrupt" (split: avail.flags NO_INTERRUPT
     * with EVENT_IDX; used_event half the index space behind without it). A conforming
     * device behaves the same; one that honours the wrong field stops interrupting. */
    VS_VQ_F_MISLEAD_SUPPRESSION = 1u << 2,
    /* Driver side, split: VIRTIO_F_IN_ORDER negotiated, descriptors are used in ring order
     * (2.7.5: starting at 0, wrapping at the end of the table), not last-freed-first. */
    VS_VQ_F_IN_ORDER = 1u << 3,
};

/* Where the three areas of a queue live. split: descriptor table / available ring /
 * used ring. packed: descriptor ring / driver event suppression / device event
 * suppression. */
typedef struct vs_vq_layout {
    vs_ring_format format;
    uint32_t size;          /* 1..32768; split: power of two */
    uint64_t desc_gpa;
    uint64_t driver_gpa;
    uint64_t device_gpa;
} vs_vq_layout;

/* Bytes and required alignment of each area (spec 2.7 table / 2.8). */
typedef struct vs_vq_area_sizes {
    uint64_t desc_bytes, driver_bytes, device_bytes;
    uint32_t desc_align, driver_align, device_align;
} vs_vq_area_sizes;

int vs_vq_area_sizes_for(vs_ring_format fmt, uint32_t size, vs_vq_area_sizes *out, vs_err *e);

/* Allocates the three areas in guest memory (zeroed) and fills *l. */
int vs_vq_layout_alloc(vs_gmem *gm, vs_ring_format fmt, uint32_t size, vs_vq_layout *l,
                       vs_err *e);
int vs_vq_layout_free(vs_gmem *gm, const vs_vq_layout *l, vs_err *e);

/* The spec's event-index rule: notify iff new_idx has moved past event_idx since old. */
static inline bool vs_vq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* One descriptor, as an in-memory value (split: next is the next index; packed: next is
 * the buffer id). Used by raw/fault-injection paths and by monitors. */
typedef struct vs_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} vs_desc;

/* ---------------------------------------------------------------- driver side */

typedef struct vs_seg {
    uint64_t gpa;
    uint32_t len;
} vs_seg;

typedef struct vs_vq_drv_opts {
    uint16_t queue_index;   /* for messages */
    uint32_t features;      /* enum vs_vq_features */
    uint16_t indirect_max;  /* entries per indirect table the ring pre-allocates; 0 = 16 */
} vs_vq_drv_opts;

typedef struct vs_used {
    uint32_t id;    /* split: head index; packed: buffer id */
    uint32_t len;   /* bytes the device says it wrote */
    bool len_valid; /* false: a packed used descriptor without VIRTQ_DESC_F_WRITE, whose
                       length the spec declares reserved (drivers ignore it); len is 0 */
    void *cookie;   /* what the driver passed to add */
} vs_used;

enum vs_add_flags {
    VS_ADD_INDIRECT = 1u << 0,  /* put the chain in one indirect table */
    /* with VS_ADD_INDIRECT, split only (legal shapes a device must accept): */
    VS_ADD_INDIRECT_WRITE = 1u << 1, /* WRITE set on the descriptor naming the table */
    VS_ADD_DIRECT_FIRST = 1u << 2,   /* first segment direct, chained to the indirect one */
    /* test only (driver mutants): shapes a driver must never build */
    VS_ADD_MUT_WRITABLE_FIRST = 1u << 8,  /* the writable segments placed before the
                                             readable ones */
    VS_ADD_MUT_INDIRECT_NEXT = 1u << 9,   /* split: NEXT set beside INDIRECT on the table's
                                             descriptor; packed: the indirect descriptor
                                             in a NEXT-linked list after a direct one */
    VS_ADD_MUT_NESTED_INDIRECT = 1u << 10, /* INDIRECT set on an entry of the table */
};

typedef struct vs_vq_drv vs_vq_drv;

/* Initialises the ring memory (zeroes it; packed wrap counters start at 1). */
int vs_vq_drv_create(vs_vq_drv **out, vs_gmem *gm, const vs_vq_layout *l,
                     const vs_vq_drv_opts *o, vs_err *e);
void vs_vq_drv_destroy(vs_vq_drv *q);

/* Adds a chain: segs[0..n_out) device-readable, then segs[n_out..n_out+n_in)
 * device-writable. Not visible to the device until vs_vq_drv_publish. Returns the
 * chain's id (>= 0), -VS_ENOSPC when the ring lacks free descriptors, or another error. */
int vs_vq_drv_add(vs_vq_drv *q, const vs_seg *segs, unsigned n_out, unsigned n_in,
                  unsigned flags, void *cookie, vs_err *e);

/* Fault injection: writes n descriptors verbatim except that, for split rings, a `next`
 * value < n is an index into descs[] (remapped to the slot that entry got) and a value
 * >= n is written as is (to make out-of-range links); descs[0] is the head. For packed
 * rings descs are written in ring order and `next` is the buffer id. Returns the id. */
int vs_vq_drv_add_raw(vs_vq_drv *q, const vs_desc *descs, unsigned n, void *cookie,
                      vs_err *e);

/* Makes every chain added since the last publish visible to the device. */
void vs_vq_drv_publish(vs_vq_drv *q);

/* After a publish: does the device want a notification (flags / avail_event / packed
 * device event suppression)? Consumes the "since last kick" window. */
bool vs_vq_drv_kick_needed(vs_vq_drv *q);

/* Takes the next used element: 1 got one, 0 none pending, < 0 the device produced an
 * invalid element (id out of range or not outstanding, ...); the message says which, *out
 * holds the id and length the device wrote (cookie NULL), and the queue state is left
 * unchanged so the caller can report it. */
int vs_vq_drv_collect(vs_vq_drv *q, vs_used *out, vs_err *e);

/* Used-buffer notification suppression (flags / used_event / packed driver event). */
void vs_vq_drv_irq_disable(vs_vq_drv *q);
/* Re-enables; returns true if used buffers are already pending (collect them). */
bool vs_vq_drv_irq_enable(vs_vq_drv *q);
/* Like Linux's virtqueue_enable_cb_delayed: with EVENT_IDX, asks for the next interrupt
 * only once about 3/4 of the outstanding buffers are used (fewer interrupts under load);
 * without EVENT_IDX the same as vs_vq_drv_irq_enable. */
bool vs_vq_drv_irq_enable_delayed(vs_vq_drv *q);

unsigned vs_vq_drv_num_free(const vs_vq_drv *q);     /* free descriptors */
unsigned vs_vq_drv_outstanding(const vs_vq_drv *q);  /* chains not yet collected */
const vs_vq_layout *vs_vq_drv_layout(const vs_vq_drv *q);
/* Index the driver would publish next (split: avail idx; packed: next slot | wrap<<15). */
uint16_t vs_vq_drv_avail_idx(const vs_vq_drv *q);
uint16_t vs_vq_drv_used_idx(const vs_vq_drv *q);     /* last used index collected */

/* ---------------------------------------------------------------- device side */

typedef struct vs_dseg {
    uint64_t gpa;
    uint32_t len;
    bool write;     /* device-writable */
    void *host;     /* host pointer when the range lies in one region that allows the
                       segment's direction (stores for a writable one), else NULL */
} vs_dseg;

/* A fetched chain. seg/seg_cap are provided by the caller; a chain with more segments
 * than seg_cap is an error (the device's own limit, reported as such). */
typedef struct vs_chain {
    uint16_t id;          /* split: head index; packed: buffer id */
    uint16_t ndesc;       /* ring slots the chain used (packed: slots to skip) */
    uint16_t head;        /* split: head index; packed: ring slot of the first desc */
    bool indirect;
    uint32_t nseg;
    uint32_t n_out;       /* segments [0, n_out) readable, [n_out, nseg) writable */
    uint64_t out_bytes;
    uint64_t in_bytes;
    uint32_t seg_cap;
    vs_dseg *seg;
} vs_chain;

/* Deliberate device-side misbehaviour, for proving that conformance checks fire. */
enum vs_vq_mutation {
    VS_VQ_MUT_NONE = 0,
    VS_VQ_MUT_USED_LEN_TOO_LONG = 1u << 0,   /* used.len = writable bytes + 1 */
    VS_VQ_MUT_SKIP_USED_IDX = 1u << 1,       /* used idx advances by 2 for one element */
    VS_VQ_MUT_IRQ_WHEN_SUPPRESSED = 1u << 2, /* irq_needed ignores suppression */
    VS_VQ_MUT_USED_BAD_ID = 1u << 3,         /* used.id = id + 1 (a chain never made available) */
    VS_VQ_MUT_DOUBLE_COMPLETE = 1u << 4,     /* every used element written twice */
    VS_VQ_MUT_IRQ_MISSED = 1u << 5,          /* split: irq_needed never says yes */
    VS_VQ_MUT_USED_FLAGS_BAD = 1u << 6,      /* split: publish sets undefined used.flags bit 1 */
    VS_VQ_MUT_WRITES_DESC = 1u << 7,         /* split: push writes used len into the head
                                                descriptor's len field */
    VS_VQ_MUT_IRQ_MISSED_EI = 1u << 8,       /* split + EVENT_IDX: irq_needed ignores
                                                used_event crossings */
    VS_VQ_MUT_FLAGS_WITH_EI = 1u << 9,       /* split + EVENT_IDX: irq_needed honours
                                                avail.flags NO_INTERRUPT */
    VS_VQ_MUT_USED_EVENT_NO_EI = 1u << 10,   /* split without EVENT_IDX: irq_needed also
                                                honours used_event */
    VS_VQ_MUT_REWRITES_USED = 1u << 11,      /* packed: each push rewrites the len of the
                                                last used descriptor already published */
    VS_VQ_MUT_SG_SWAPPED = 1u << 12,         /* packed: fills the first two device-writable
                                                descriptors of a direct chain (3 or more,
                                                equal lengths) in swapped order */
    VS_VQ_MUT_INDIRECT_WRITE_REJECTED = 1u << 13, /* split: WRITE on a descriptor naming
                                                an indirect table is a device error */
    VS_VQ_MUT_DIRECT_THEN_INDIRECT_REJECTED = 1u << 14, /* split: direct descriptors
                                                before an indirect one are a device error */
    VS_VQ_MUT_IGNORES_WRAP = 1u << 15,       /* packed: takes a descriptor as available when
                                                AVAIL != USED, ignoring the wrap counter */
};

typedef struct vs_vq_dev_opts {
    uint16_t queue_index;
    uint32_t features;     /* enum vs_vq_features */
    uint32_t mutations;    /* enum vs_vq_mutation, 0 in production */
} vs_vq_dev_opts;

typedef struct vs_vq_dev vs_vq_dev;

int vs_vq_dev_create(vs_vq_dev **out, vs_gmem *gm, const vs_vq_layout *l,
                     const vs_vq_dev_opts *o, vs_err *e);
void vs_vq_dev_destroy(vs_vq_dev *q);

/* Fetches and validates the next available chain: 1 got one, 0 nothing available,
 * < 0 malformed (message names queue, descriptor and rule; the queue is then broken and
 * every later pop fails until vs_vq_dev_create again). */
int vs_vq_dev_pop(vs_vq_dev *q, vs_chain *c, vs_err *e);
/* Copies len bytes at byte offset off of a popped chain's readable (writable = false) or
 * writable part from (to_guest = false) or to guest memory gm: the devices' way to read a
 * request and write a response across descriptor boundaries. use_host copies through the
 * segments' host pointers (only while the memory cannot have been remapped since the pop,
 * and no gmem hook must see the access); otherwise every access goes through gm. An error
 * names the segment; a part shorter than off + len is VS_EINVAL. */
int vs_chain_xfer(vs_gmem *gm, const vs_chain *c, bool writable, uint64_t off, void *buf,
                  uint64_t len, bool to_guest, bool use_host, vs_err *e);

/* Writes one used element for a fetched chain (not yet visible). */
int vs_vq_dev_push(vs_vq_dev *q, const vs_chain *c, uint32_t written, vs_err *e);
/* Makes pushed elements visible to the driver. */
void vs_vq_dev_publish(vs_vq_dev *q);
/* After a publish: does the driver want an interrupt (flags / used_event / packed)? */
bool vs_vq_dev_irq_needed(vs_vq_dev *q);

/* Available-buffer notification suppression from the device side. */
void vs_vq_dev_notify_disable(vs_vq_dev *q);
/* Re-enables; returns true if chains are already available. */
bool vs_vq_dev_notify_enable(vs_vq_dev *q);
/* How much the driver has made available that is not fetched yet, as a hint (no fence):
 * split: avail ring entries (at most the queue size); packed: 0 or the ring size (the
 * count is not known without walking the descriptors). */
unsigned vs_vq_dev_avail_hint(const vs_vq_dev *q);

bool vs_vq_dev_broken(const vs_vq_dev *q);
/* vhost GET/SET_VRING_BASE: split: last avail idx; packed: idx | wrap << 15. */
uint16_t vs_vq_dev_get_base(const vs_vq_dev *q);
int vs_vq_dev_set_base(vs_vq_dev *q, uint16_t base, vs_err *e);
const vs_vq_layout *vs_vq_dev_layout(const vs_vq_dev *q);

#endif
