/* Internals of the driver model, shared by its core (sim/driver.c, sim/driver_pool.c) and
 * the device personalities (sim/dev/<name>/). Not an API: nothing else may rely on them.
 * The public side is virtiosim/driver.h; the personality's hooks are sim/driver_dev.h. */
#ifndef VS_DRIVER_INT_H
#define VS_DRIVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/driver.h"
#include "sim/driver_dev.h"

struct vs_drv_req {
    struct vs_drv_req *prev, *next;  /* live list (owned by the device) */
    uint16_t q;
    int id;
    bool fault, indirect, added;
    bool poison_last_only;           /* poison only the last writable segment (the status):
                                        the request's data is not verified */
    bool poison_first_only;          /* ... only the first one (a response that comes
                                        before the data, as scsi's) */
    uint32_t nseg, n_out;
    vs_seg *seg;                     /* [nseg]; out segments first */
    void *dev;                       /* the personality's req_size bytes, zeroed */
    void *owned;                     /* the personality's allocation, freed with rq */
    uint64_t chunk_gpa;              /* pool chunk holding every segment + guards */
    uint64_t chunk_bytes;            /* the part of it the segments and guards use */
    uint32_t chunk_units;
    uint8_t *ro_copy;                /* readable bytes as submitted */
    uint64_t ro_bytes;
    uint64_t submit_ns;
};

typedef struct vs_drv_queue {
    vs_vq_drv *vq;
    vs_vq_layout layout;
    bool have_layout;
    unsigned live;                   /* requests added and not completed */
    unsigned unpublished;
    bool irq_pending, irq_masked, broken;
    bool ue_emitted;                 /* split + EVENT_IDX: a VS_EV_USED_EVENT was emitted */
    uint16_t ue_last;                /* ... with this value */
    vs_vq_layout old_layout;         /* rings of the queue before its last queue reset: kept
                                        allocated (a device that goes on writing there must
                                        not corrupt anything else) until the next one */
    bool have_old_layout;
    uint16_t pub_from;               /* packed: the ring position the next publish starts
                                        at (a driver mutant rewrites that list's head) */
} vs_drv_queue;

/* A driver mutant's bug is on (test only: vs_driver_opts.mutations). */
#define vs__drv_mut(d, m) (((d)->o.mutations & (m)) != 0)

struct vs_driver {
    vs_transport *t;
    vs_gmem *gm;
    vs_driver_opts o;
    vs_event_bus *bus;
    uint64_t (*now)(void *);
    void *now_opaque;
    const vs_drv_personality *pers; /* NULL: a device the simulator has no personality for */
    void *state;                     /* the personality's (state_create) */
    uint8_t status;                  /* last written */
    uint64_t dev_features, features;
    uint16_t nq;
    uint32_t qsize;
    vs_drv_queue q[VS_DRV_MAX_QUEUES];
    bool config_pending, isr_pending, needs_reset;
    bool setup_done;                 /* o.reuse_setup: the personality's setup ran once */
    uint16_t queues_offered;         /* ... and the device's queue count it read */
    /* pool (sim/driver_pool.c) */
    uint64_t pool_gpa, pool_bytes;
    uint32_t pool_units, pool_hint;  /* every unit below pool_hint is in use */
    /* Freed chunks of one size (pool_cache_units), kept marked in use and handed out again
     * last-freed first; flushed back into the map when a search fails. */
    uint32_t pool_cache_units, pool_cache_n;
    uint32_t pool_cache[64];
    uint64_t *pool_map;
    vs_drv_req *live;                /* live list head */
    vs_drv_req *spare;               /* freed small request blocks, reused (via ->next) */
    unsigned nspare;
    size_t req_dev_off, req_seg_off; /* where dev data and segments sit in a request block */
    /* guard bookkeeping */
    bool guard_bad;
    char guard_msg[VS_ERR_MSG_MAX];
    vs_driver_counters c;
    /* results: a ring of res_size-byte slots (the personality's result type) */
    unsigned char *res;
    size_t res_size;
    size_t res_head, res_n, res_cap;
    void *res_slot;                  /* handed out by vs__drv_result_slot, not yet committed */
    void *res_overflow;              /* the slot when the ring cannot grow: notified, dropped */
    bool mut_reclaimed;              /* VS_DRV_MUT_RECLAIM_LIVE has struck (it does once) */
};

/* The personality's per-driver state (its state_create). */
static inline void *vs__drv_state(const vs_driver *d) { return d->state; }

int vs__drv_req_new(vs_driver *d, uint16_t q, uint32_t nseg, vs_drv_req **out, vs_err *e);
/* seg[i].len and n_out set: allocates the pool chunk, fills seg[i].gpa, guards and
 * poison (writable segments). */
int vs__drv_req_layout(vs_driver *d, vs_drv_req *rq, vs_err *e);
/* Readable contents written: snapshots them, adds the chain, emits AVAIL, publishes and
 * kicks unless defer. Returns the id. On error the request is still the caller's. */
int vs__drv_req_commit(vs_driver *d, vs_drv_req *rq, bool indirect, bool defer, vs_err *e);
void vs__drv_req_free(vs_driver *d, vs_drv_req *rq);
/* -VS_ENOSPC when queue q is at the opts.queue_depth limit. */
int vs__drv_depth_check(vs_driver *d, uint16_t q, vs_err *e);
/* A hand-built chain (a fault): adds it as is, emits AVAIL (raw); not published. */
int vs__drv_add_raw(vs_driver *d, vs_drv_req *rq, const vs_desc *descs, unsigned n,
                    vs_err *e);
/* Publishes queue qi's added chains and kicks (or emits KICK_SUPPRESSED). */
int vs__drv_publish_kick(vs_driver *d, uint16_t qi, vs_err *e);
void vs__drv_emit(vs_driver *d, vs_event *ev);

/* The ring-level driver mutants (sim/driver_mut_ring.c; no-ops for the correct driver). */
void vs__drv_mut_shown_layout(const vs_driver *d, vs_vq_layout *shown);
void vs__drv_mut_before_publish(vs_driver *d, uint16_t qi);
void vs__drv_mut_after_publish(vs_driver *d, uint16_t qi, uint16_t from);
void vs__drv_mut_split_chain(vs_driver *d, uint16_t qi);
void vs__drv_mut_packed_list(vs_driver *d, uint16_t qi, uint16_t from);
uint64_t vs__splitmix64(uint64_t *state);

/* Hostile chains (sim/driver_fault.c): the buffers of the device's simplest well-formed
 * request (its personality's fault_shape) — a readable header, a readable scratch area
 * (indirect tables, data) and a writable status — for a caller that then builds any chain
 * around them, legal or not. */
typedef struct vs_drv_hostile {
    vs_drv_req *rq;                  /* NULL once submitted or cancelled */
    uint64_t hdr, scratch, status;   /* GPAs */
    uint32_t hdr_len, scratch_len, status_len;
    uint64_t unmapped;               /* a GPA no region covers */
    vs_drv_fault_shape sh;
} vs_drv_hostile;
int vs__drv_hostile_begin(vs_driver *d, uint16_t q, uint32_t scratch_len, vs_drv_hostile *h,
                          vs_err *e);
/* Adds ds[0..n) as they are (packed: `next` becomes a free buffer id), publishes and kicks
 * when kick. Returns the chain id; the request is freed on error. */
int vs__drv_hostile_submit(vs_driver *d, vs_drv_hostile *h, vs_desc *ds, unsigned n, bool kick,
                           vs_err *e);
void vs__drv_hostile_cancel(vs_driver *d, vs_drv_hostile *h);
uint64_t vs__drv_unmapped_gpa(vs_driver *d);
/* One indirect-table entry in the ring's format. */
int vs__drv_write_table_desc(vs_driver *d, uint64_t gpa, const vs_desc *x, vs_err *e);

/* Buffer pool (sim/driver_pool.c). */
int vs__drv_pool_setup(vs_driver *d, vs_err *e);
void vs__drv_pool_destroy(vs_driver *d);
int vs__drv_pool_alloc(vs_driver *d, uint64_t bytes, uint64_t *gpa, uint32_t *units,
                       vs_err *e);
void vs__drv_pool_free(vs_driver *d, uint64_t gpa, uint32_t units);

/* Results, oldest first. */
void *vs__drv_result_slot(vs_driver *d);
void vs__drv_result_commit(vs_driver *d, bool notify);
void vs__drv_result_push(vs_driver *d, const void *r, bool notify);
static inline void *vs__drv_result_at(const vs_driver *d, size_t i) /* i < res_n */
{
    return d->res + ((d->res_head + i) % d->res_cap) * d->res_size;
}
void vs__drv_result_remove(vs_driver *d, size_t i);  /* keeps the order of the others */

typedef struct vs_drv_waiter {
    uint64_t start, timeout_ns;   /* start: of the wait, or the last progress */
    unsigned stall, idle;
    bool progress;                /* the caller moves start on every completion */
} vs_drv_waiter;
/* One wait step with timeout / idle-device / NEEDS_RESET detection: completions or < 0. */
int vs__drv_wait_some(vs_driver *d, vs_drv_waiter *w, vs_err *e);

#endif
