/* Internal to conformance/: the state the monitors share across their files, and the
 * helpers every file uses (SQLite's btreeInt.h pattern: conformance.h is the API, this is
 * the inside). Device-specific checks live in conformance/dev/<name>/ and reach this state
 * through the hook table of monitor_dev.h.
 *
 * Map of the files (conformance/README.md has the longer one):
 *   monitor.c          create / destroy / finish, event dispatch, verdict recording
 *   mon_status.c       status machine, feature offer / acceptance, reset, device error
 *   mon_suspend.c      VIRTIO_F_SUSPEND handshake
 *   mon_config.c       device-config access (generic part), config_generation bracketing
 *   mon_queue.c        queue setup, the device gate (nothing before DRIVER_OK / after reset)
 *   mon_chains.c       chain records: made available, completed, canaries and guards
 *   mon_split.c        split ring: chain walk, publish, IN_ORDER, used idx
 *   mon_packed.c       packed ring: used descriptors unchanged, fetch order
 *   mon_notify.c       notifications and interrupts, EVENT_IDX windows
 *   mon_queue_reset.c  VIRTIO_F_RING_RESET: old rings left alone, re-enabled queues fresh */
#ifndef VIRTIOSIM_CONFORMANCE_MONITOR_INT_H
#define VIRTIOSIM_CONFORMANCE_MONITOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conformance/hash.h"
#include "conformance/monitor_checks.h"
#include "virtiosim/conformance.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define GUARD_LEN 16u
#define MAX_QUEUES 64u
#define ID_SPACE 65536u
#define IDS_MAX 10
/* suspend-honoured: how long a suspend or resume may take */
#define SUSPEND_SETTLE_READS 10000u
#define SUSPEND_SETTLE_NS 10000000u
/* reset-reads-zero: how long a device may take to finish a reset */
#define RESET_SETTLE_READS 100u
#define RESET_SETTLE_NS 100000u
/* packed-used-desc-unchanged: used slots compared at every device-side event on the queue
 * (the most recent PK_RECENT, plus PK_SWEEP more in rotation), all at queue end */
#define PK_RECENT 32u
#define PK_SWEEP 8u
/* packed-fetch-in-ring-order: AVAIL order queue bound */
#define FO_MAX (1u << 20)

/* no-error-on-legal-input: legal chain shapes, bit k = statement k of the check */
#define ODD_IND_WRITE 1u    /* WRITE on the descriptor naming an indirect table */
#define ODD_DIRECT_FIRST 2u /* direct descriptors, then an indirect one */
#define ODD_FRAMING 4u      /* a device request header split over descriptors (set by the
                               device extension, which knows the header) */

#define FNV0 UINT64_C(14695981039346656037)

struct vs_mon_dev;

/* One chain id of a queue. A device extension's per-chain state (vs_mon_dev.chain_bytes)
 * follows the record in the same allocation: mon_chain_dev(). */
typedef struct chain_rec {
    bool live;            /* made available, not completed */
    bool published;
    bool completed;       /* completed at least once since last AVAIL */
    bool raw;
    bool illegal;         /* the driver broke a chain-shape rule building it */
    uint32_t completed_idx;
    uint64_t seq;         /* publish order */
    uint32_t nseg, n_out;
    vs_seg *seg;
    uint64_t out_bytes, in_bytes;
    bool canary_ok;
    uint64_t canary;      /* hash of the readable bytes at AVAIL */
    uint32_t seg_cap, guard_cap, gok_cap, slots_cap; /* capacities (elements) */
    uint8_t *guard;       /* GUARD_LEN per writable segment */
    bool *guard_ok;
    uint16_t *slots;      /* split: descriptor slots of the chain */
    uint32_t nslots;
    uint64_t ind_gpa;
    uint32_t ind_len;
    bool desc_ok;
    uint64_t desc_hash;
    uint64_t aseq;        /* AVAIL order on the queue */
    bool fetched;
    uint8_t odd;          /* no-error-on-legal-input: ODD_* shapes of the chain */
    /* packed, driver role: the ring slots the chain took at publish and their hash */
    uint16_t pd_first, pd_n;
    bool pd_hash_ok;
    uint64_t pd_hash;
} chain_rec;

typedef struct qstate {
    bool setup;
    vs_vq_layout l;
    chain_rec **byid;     /* ID_SPACE entries */
    uint32_t live;        /* published or pending chains not completed */
    uint64_t seq_next;
    uint16_t avail_pub;   /* last published avail idx (split) */
    uint16_t kick_base;   /* avail idx at the last kick decision */
    uint16_t collected;   /* driver's used idx after the last USED */
    bool masked;
    uint16_t used_at_mask, unmask_base, irq_base;
    uint64_t irq_count;
    /* EVENT_IDX (split, in-process): the used_event the driver has published (from
     * VS_EV_USED_EVENT) since ue_t, the used idx in memory then, and the interrupts
     * seen so far; a window ends when the driver publishes another value. */
    bool ue_known;
    uint16_t ue, ue_base;
    uint64_t ue_irqs;
    /* a crossing of used_event that still needs its interrupt by due_by */
    bool due, due_flags;
    uint64_t due_by;
    uint16_t due_ue, due_idx;
    /* packed: chain ids in AVAIL order (fetch order), a ring of fo_cap */
    uint64_t aseq_next;
    uint32_t *fo_id;
    uint64_t *fo_seq;
    uint32_t fo_cap, fo_head, fo_n;
    bool fo_lost;
    /* packed, driver role: the driver's next avail slot and wrap counter as walked in ring
     * memory, and the slots the device owns (published chains not yet used) */
    uint16_t pd_slot;
    bool pd_wrap, pd_lost;
    uint32_t pd_out;
    /* packed: 16-byte snapshots of used descriptor slots, taken when the driver collects
     * them, forgotten when the driver makes the slot available again */
    uint8_t *pk_snap;
    bool *pk_snap_ok;
    uint16_t pk_used_slot, pk_avail_slot; /* the driver's next used / avail slot */
    bool pk_lost;                         /* positions unknown (fault injection) */
    uint16_t pk_recent[PK_RECENT];
    uint32_t pk_recent_n, pk_recent_pos, pk_cursor;
    /* packed: ids made available since the last publish (may repeat; a publish marks
     * those still pending, so it need not scan all ID_SPACE records) */
    uint16_t *pend;
    uint32_t pend_n, pend_cap;
    /* IN_ORDER: (id, seq) in publish order, so ascending seq; entries whose chain has
     * completed (or was re-made available) are dropped lazily from the front */
    uint32_t *po_id;
    uint64_t *po_seq;
    uint32_t po_cap, po_head, po_n, po_cap2;
    /* outstanding-descriptors-kept (split): head + 1 of the chain that last took each
     * descriptor slot (mon_drv_generic.c) */
    uint32_t *gd_owner;
} qstate;

/* queue-reset-honoured: a queue's old rings after its reset, and its re-enable */
typedef struct qreset {
    bool old_valid;       /* old rings being watched */
    vs_vq_layout l;
    uint64_t hash;        /* of the areas the device writes */
    bool await_enable;    /* reset, not set up again yet */
    bool gate_reported;   /* a fetch / used / interrupt for it was reported */
    bool fresh;           /* set up again, not yet past fresh_left used elements */
    uint32_t fresh_left;  /* a new size shows only once the ring wraps: 2 x size */
    bool resized;         /* ... with another size */
    bool reenabled;       /* set up again since the reset */
} qreset;

enum su_state { SU_NONE, SU_REQ, SU_DONE, SU_RESUMING };
/* The driver's view (suspend-driver-rules): requested, shown suspended, resume written. */
enum sud_state { SUD_NONE, SUD_REQ, SUD_SHOWN, SUD_RESUMING };

/* A config byte as last read, and the config interrupts seen by then. */
typedef struct cfg_track {
    bool known;
    uint8_t val;
    uint64_t irq_at_read;
} cfg_track;

struct vs_monitors {
    vs_gmem *gm;
    uint32_t device_id;
    unsigned roles;
    bool irq_observable;
    bool async_device;      /* interrupt timing cannot be attributed (real back-ends) */
    bool backend_view;      /* events seen from a device back-end (vhost-user server) */
    bool fe_mask_known;     /* backend view: fe_mask says what the front-end passes on */
    uint64_t fe_mask;       /* offered bits the front-end passes on to its driver */
    uint64_t irq_latency_ns;      /* in-process: raise-to-delivery bound */
    uint32_t n_due;               /* queues with qstate.due set */
    bool sriov_capable;           /* the function has an SR-IOV capability */
    uint64_t provoked_add, provoked_del; /* offer rules broken on purpose (set_offer_provoked) */
    bool config_larger;           /* the config region is longer than the type's */
    bool finished;
    char scenario[64];
    uint32_t step;
    char step_desc[96];
    const vs_event *cur;          /* event being handled */
    uint64_t last_t;
    /* the device extension for device_id (NULL: generic checks only), its state, where
     * its checks start in the registry (global index = local index + dev_shift for local
     * indices >= CK_DEV_FIRST), and the bytes of its per-chain state */
    const struct vs_mon_dev *dev;
    const vs_check_info *dev_checks; /* dev->checks */
    void *dev_state;
    size_t dev_shift;
    size_t dev_chain_bytes;
    size_t n_local;               /* CK_COUNT + the extension's checks */
    long (*sidx)[IDS_MAX];        /* statement index per (local) check and id position */
    vs_results *res;
    uint64_t violations;
    /* device / driver state */
    uint8_t status_w;             /* last status written */
    bool failed_written;
    bool after_reset;             /* a reset happened; queues must be set up again */
    bool await_reset_read;        /* device: status must settle to 0 (since reset_t) */
    bool reset_zero_read;         /* device: read 0 since the reset (no write since) */
    uint32_t reset_nonzero_reads; /* device: non-zero reads since the reset */
    uint64_t reset_t;
    bool saw_zero_after_reset;    /* driver: read 0 since last reset */
    bool reset_seen;
    bool offered_known;
    uint64_t offered;
    uint64_t offer_checked;       /* last offered value checked */
    bool offer_checked_valid;
    bool drv_features_written;
    uint64_t drv_features;
    bool fok_written, fok_confirmed, fok_await_read, fok_refused;
    bool needs_reset_pending;     /* NEEDS_RESET seen with DRIVER_OK; want config irq */
    uint64_t cfg_irq_count, cfg_irq_at_driver_ok;
    bool dev_error_pending, dev_error_read_without;
    /* config generation bracketing */
    bool gen_open, reads_unclosed;
    bool reads_wide;              /* ... one of them wider than 32 bits */
    cfg_track *early;             /* config bytes read before FEATURES_OK (dev->cfg_early_bytes) */
    qstate q[MAX_QUEUES];
    qreset qr[MAX_QUEUES];
    /* suspend-honoured (VIRTIO_F_SUSPEND) */
    enum su_state su;
    enum sud_state sud;
    bool sud_broke[6];            /* suspend-driver-rules violated in this suspension */
    uint64_t su_t;
    uint32_t su_reads;
    bool su_early;                /* SUSPEND written before DRIVER_OK, not read back yet */
    uint8_t su_base;              /* status as last written or read */
    bool su_hash_ok, su_gate_reported, su_cfg_irq_reported;
    uint64_t su_hash;             /* rings as the suspend completed */
    bool gen_known;
    uint64_t gen_last;
    bool su_cfg_changed, su_resumed;
    uint64_t su_cfg_irq_at_resume;
    /* no-error-on-legal-input, since the last reset */
    bool spurious_kick;           /* a notification announced nothing new (split) */
    bool error_judged;            /* the device's error path was judged */
    /* generic driver checks (mon_drv_generic.c), since the last reset */
    struct {
        uint64_t unknown;         /* undefined bits in the offer the driver read */
        bool no_v1, no_v1_judged; /* the offer lacked VERSION_1; the driver's answer seen */
        bool spurious;            /* a nothing-new used-buffer interrupt, not yet answered */
        bool nr, nr_broke;        /* NEEDS_RESET read with chains outstanding; acted on it */
    } gd;
};

/* Where a violation was seen (evidence). */
typedef struct ctx {
    int32_t queue;
    bool has_id, has_idx;
    uint32_t id, idx;
} ctx;

static const ctx NOCTX = {.queue = -1};

static inline ctx qctx(int32_t q) { return (ctx){.queue = q}; }
static inline ctx idctx(int32_t q, uint32_t id)
{
    return (ctx){.queue = q, .has_id = true, .id = id};
}

/* Internal functions shared by the monitor files: one prefix at link time, short names
 * in the source. */
#define bad vs__mon_bad
#define chain_free vs__mon_chain_free
#define queue_drop vs__mon_queue_drop
#define chain_read vs__mon_chain_read
#define chain_span vs__mon_chain_span
#define hash_readable vs__mon_hash_readable
#define ensure_cap vs__mon_ensure_cap
#define on_avail vs__mon_on_avail
#define on_used vs__mon_on_used
#define split_walk vs__mon_split_walk
#define hash_desc vs__mon_hash_desc
#define on_publish vs__mon_on_publish
#define po_oldest vs__mon_po_oldest
#define used_invalid_is_idx_jump vs__mon_used_invalid_is_idx_jump
#define pk_check_recent vs__mon_pk_check_recent
#define pk_check_all vs__mon_pk_check_all
#define pk_on_avail vs__mon_pk_on_avail
#define pk_on_used vs__mon_pk_on_used
#define fo_push vs__mon_fo_push
#define on_fetch vs__mon_on_fetch
#define pd_on_publish vs__mon_pd_on_publish
#define pd_release vs__mon_pd_release
#define pd_on_fetch vs__mon_pd_on_fetch
#define ei_due_expire vs__mon_ei_due_expire
#define on_used_event vs__mon_on_used_event
#define check_irq_required vs__mon_check_irq_required
#define on_kick vs__mon_on_kick
#define on_irq_mask vs__mon_on_irq_mask
#define on_irq vs__mon_on_irq
#define qr_hash vs__mon_qr_hash
#define qr_judge_old vs__mon_qr_judge_old
#define qr_on_disable vs__mon_qr_on_disable
#define qr_on_setup vs__mon_qr_on_setup
#define qr_fresh_failed vs__mon_qr_fresh_failed
#define su_on_write vs__mon_su_on_write
#define su_on_read vs__mon_su_on_read
#define su_on_gen vs__mon_su_on_gen
#define su_end vs__mon_su_end
#define sud_on_action vs__mon_sud_on_action
#define end_window vs__mon_end_window
#define on_features_read vs__mon_on_features_read
#define on_features_write vs__mon_on_features_write
#define do_reset vs__mon_do_reset
#define on_status_write vs__mon_on_status_write
#define on_status_read vs__mon_on_status_read
#define on_device_error vs__mon_on_device_error
#define on_config_access vs__mon_on_config_access
#define cfg_gen_track vs__mon_cfg_gen_track
#define on_queue_setup vs__mon_on_queue_setup
#define device_gate vs__mon_device_gate
#define offer_invalid_bits vs__mon_offer_invalid_bits
#define gd_on_features_read vs__mon_gd_on_features_read
#define gd_on_features_write vs__mon_gd_on_features_write
#define gd_on_status_added vs__mon_gd_on_status_added
#define gd_end vs__mon_gd_end
#define gd_split_published vs__mon_gd_split_published
#define gd_on_reenable vs__mon_gd_on_reenable
#define gd_on_irq vs__mon_gd_on_irq
#define gd_after_spurious vs__mon_gd_after_spurious
#define gd_on_status_read vs__mon_gd_on_status_read
#define gd_on_driver_action vs__mon_gd_on_driver_action

/* ------------------------------------------------------------ checks and verdicts */

/* The registry entry of a local check index (core, or this monitors' extension). */
static inline const vs_check_info *vs_check_local(const vs_monitors *m, unsigned c)
{
    return c < CK_DEV_FIRST ? &vs__mon_core_checks[c] : &m->dev_checks[c - CK_DEV_FIRST];
}

static inline size_t ck_global(const vs_monitors *m, unsigned c)
{
    return c < CK_DEV_FIRST ? c : c + m->dev_shift;
}

static inline bool role_on(const vs_monitors *m, unsigned c)
{
    return (m->roles & vs_check_local(m, c)->role) != 0;
}

/* Check c evaluated (k = position of the statement in its ids list, -1 for none). */
static inline void ok(vs_monitors *m, unsigned c, int k)
{
    m->res->check[ck_global(m, c)].exercised++;
    if (k >= 0 && k < IDS_MAX && m->sidx[c][k] >= 0)
        m->res->stmt[m->sidx[c][k]].exercised++;
}

/* Check c violated: evidence for the check and (k >= 0) for its k-th statement. */
__attribute__((format(printf, 6, 7)))
void bad(vs_monitors *m, unsigned c, int k, ctx cx, const char *expected, const char *fmt, ...);

/* ------------------------------------------------------------ small helpers */

static inline bool has(uint64_t f, unsigned bit) { return (f >> bit) & 1; }
static inline bool ahead16(uint16_t a, uint16_t b)
{
    return a != b && (uint16_t)(a - b) < 0x8000u;
}
static inline bool overlaps(uint32_t a, uint32_t al, uint32_t b, uint32_t bl)
{
    return a < b + bl && b < a + al;
}
/* the features the driver accepted (negotiated once FEATURES_OK holds) */
static inline uint64_t neg(const vs_monitors *m) { return m->drv_features; }
static inline uint64_t hash_words(uint64_t acc, const uint8_t *p, uint64_t n)
{
    return vs__hash64(acc, p, (size_t)n);
}

static inline bool ld16(vs_monitors *m, uint64_t gpa, uint16_t *v)
{
    return vs_gmem_ld16(m->gm, gpa, v, NULL) == 0;
}

/* Bounded copy of a possibly NULL string (evidence and scenario names). */
static inline void copy_str(char *dst, size_t n, const char *src)
{
    if (n)
        snprintf(dst, n, "%s", src ? src : "");
}

static inline bool q_split(const qstate *q) { return q->l.format == VS_RING_SPLIT; }

/* A split ring's flags word (used.flags or avail.flags at gpa): 0 with EVENT_IDX
 * (statement position 1 of the check), 0 or 1 without (position 0). */
static inline void ring_flags_check(vs_monitors *m, unsigned ck, uint64_t gpa,
                                    const char *ring, ctx cx)
{
    uint16_t fl;
    if (!role_on(m, ck) || !ld16(m, gpa, &fl))
        return;
    bool ei = has(neg(m), VS_F_EVENT_IDX);
    if (ei ? fl != 0 : fl > 1) {
        char want[32];
        snprintf(want, sizeof want, ei ? "%s.flags 0" : "%s.flags 0 or 1", ring);
        bad(m, ck, ei, cx, want, "%s.flags 0x%x", ring, fl);
    } else {
        ok(m, ck, ei);
    }
}

static inline bool used_idx_mem(vs_monitors *m, qstate *q, uint16_t *v)
{
    return q_split(q) && ld16(m, q->l.device_gpa + 2, v);
}

static inline qstate *getq(vs_monitors *m, int32_t qi)
{
    if (qi < 0 || (uint32_t)qi >= MAX_QUEUES)
        return NULL;
    return &m->q[qi];
}

/* The device extension's per-chain state (dev_chain_bytes, after the record). */
static inline void *mon_chain_dev(chain_rec *c) { return c + 1; }

/* ------------------------------------------------------------ chains (mon_chains.c) */

void chain_free(chain_rec *c);
void queue_drop(vs_monitors *m, qstate *q);
/* Reads n bytes at logical offset off of the readable (writable=false) or writable part. */
bool chain_read(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off, void *buf,
                uint64_t n);
/* Bytes [off, off + n) in host memory when they lie in one descriptor's buffer, else NULL. */
const uint8_t *chain_span(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                          uint64_t n);
bool hash_readable(vs_monitors *m, const chain_rec *c, uint64_t *h);
/* Grows *p to at least n elements of elem bytes (contents kept, new part undefined). */
bool ensure_cap(void **p, uint32_t *cap, uint32_t n, size_t elem);
void on_avail(vs_monitors *m, const vs_event *ev);
void on_used(vs_monitors *m, const vs_event *ev);

/* ------------------------------------------------------------ split (mon_split.c) */

void split_walk(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head);
bool hash_desc(vs_monitors *m, const qstate *q, const chain_rec *c, uint64_t *h);
void on_publish(vs_monitors *m, const vs_event *ev);
bool po_oldest(qstate *q, uint32_t *id, uint64_t *seq);
bool used_invalid_is_idx_jump(vs_monitors *m, const vs_event *ev);

/* ------------------------------------------------------------ packed (mon_packed.c) */

void pk_check_recent(vs_monitors *m, int32_t qi, qstate *q);
void pk_check_all(vs_monitors *m, int32_t qi, qstate *q);
void pk_on_avail(qstate *q, const vs_ev_chain *ch);
void pk_on_used(vs_monitors *m, int32_t qi, qstate *q, const vs_event *ev);
void fo_push(qstate *q, uint32_t id, uint64_t seq);
void on_fetch(vs_monitors *m, const vs_event *ev);
/* packed, driver role (mon_packed.c): walk the slots a publish exposed; a chain's
 * slots go back to the driver (used, or its id reused); descriptors unchanged at fetch */
void pd_on_publish(vs_monitors *m, int32_t qi, qstate *q, const vs_event *ev);
void pd_release(qstate *q, chain_rec *c);
void pd_on_fetch(vs_monitors *m, int32_t qi, qstate *q, chain_rec *c, uint32_t id);

/* ------------------------------------------------------------ notifications (mon_notify.c) */

void ei_due_expire(vs_monitors *m, int32_t qi, qstate *q, bool final);
void on_used_event(vs_monitors *m, const vs_event *ev);
void check_irq_required(vs_monitors *m, int32_t qi, qstate *q);
void on_kick(vs_monitors *m, const vs_event *ev, bool sent);
void on_irq_mask(vs_monitors *m, const vs_event *ev);
void on_irq(vs_monitors *m, const vs_event *ev);

/* ------------------------------------------------------------ queue reset (mon_queue_reset.c) */

bool qr_hash(vs_monitors *m, const vs_vq_layout *l, uint64_t *h);
void qr_judge_old(vs_monitors *m, int32_t qi, bool last);
void qr_on_disable(vs_monitors *m, int32_t qi, qstate *q);
void qr_on_setup(vs_monitors *m, int32_t qi, uint32_t size);
void qr_fresh_failed(vs_monitors *m, int32_t qi, const char *what);

/* ------------------------------------------------------------ suspend (mon_suspend.c) */

void su_on_write(vs_monitors *m, uint8_t v);
void su_on_read(vs_monitors *m, uint8_t v);
void su_on_gen(vs_monitors *m, uint64_t gen);
void su_end(vs_monitors *m);
/* A driver action while a suspension is under way: AVAIL/PUBLISH (buffers exposed), a
 * sent KICK, a CONFIG_WRITE. */
void sud_on_action(vs_monitors *m, const vs_event *ev);

/* ------------------------------------------------------------ status (mon_status.c) */

void end_window(vs_monitors *m);
void on_features_read(vs_monitors *m, const vs_event *ev);
void on_features_write(vs_monitors *m, const vs_event *ev);
void do_reset(vs_monitors *m);
void on_status_write(vs_monitors *m, const vs_event *ev);
void on_status_read(vs_monitors *m, const vs_event *ev);
void on_device_error(vs_monitors *m);
/* Undefined, reserved or legacy-only bits of f for this device type. */
uint64_t offer_invalid_bits(const vs_monitors *m, uint64_t f);

/* ------------------------------------------------------------ generic driver (mon_drv_generic.c) */

void gd_on_features_read(vs_monitors *m, uint64_t offered);
void gd_on_features_write(vs_monitors *m, uint64_t f);
void gd_on_status_added(vs_monitors *m, uint8_t added);
void gd_end(vs_monitors *m);
void gd_split_published(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head);
void gd_on_reenable(vs_monitors *m, int32_t qi, qstate *q);
void gd_on_irq(vs_monitors *m, qstate *q);
void gd_after_spurious(vs_monitors *m, bool failed, int32_t qi);
void gd_on_status_read(vs_monitors *m, uint8_t v);
/* A sent KICK or an AVAIL: the driver still counting on the queue. */
void gd_on_driver_action(vs_monitors *m, const vs_event *ev);

/* ------------------------------------------------------------ config, queues */

void on_config_access(vs_monitors *m, const vs_event *ev, bool write);
void cfg_gen_track(vs_monitors *m, const vs_event *ev);
void on_queue_setup(vs_monitors *m, const vs_event *ev);
void device_gate(vs_monitors *m, const vs_event *ev, qstate *q, const char *what);

#endif
