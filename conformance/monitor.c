/* Conformance monitors: per-queue and per-device state built from the event stream
 * plus reads of guest memory, checked against the catalogue. See conformance.h. */
#include "virtiosim/conformance.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/hash.h"
#include "conformance/monitor_checks.h"
#include "virtiosim/blk.h"
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
/* Readable bytes of a chain are kept as a copy (compared with memcmp on completion) when
 * they fit here and the monitors' copy budget allows; otherwise they are hashed. */
#define CANARY_COPY_MAX (64u << 10)
#define CANARY_BUDGET (32u << 20)
/* packed-used-desc-unchanged: used slots compared at every device-side event on the queue
 * (the most recent PK_RECENT, plus PK_SWEEP more in rotation), all at queue end */
#define PK_RECENT 32u
#define PK_SWEEP 8u
/* packed-fetch-in-ring-order: AVAIL order queue bound */
#define FO_MAX (1u << 20)
/* blk-write-zeroes-reads-zero: zeroed ranges kept, and the write-request log */
#define ZR_MAX 128u
#define WLOG_MAX 1024u
/* blk-read-back: sectors whose contents are tracked (the first 32 MiB) */
#define RB_SECTORS 65536u

/* no-error-on-legal-input: legal chain shapes, bit k = statement k of the check */
#define ODD_IND_WRITE 1u    /* WRITE on the descriptor naming an indirect table */
#define ODD_DIRECT_FIRST 2u /* direct descriptors, then an indirect one */
#define ODD_FRAMING 4u      /* blk header split over descriptors */

typedef struct chain_rec {
    bool live;            /* made available, not completed */
    bool published;
    bool completed;       /* completed at least once since last AVAIL */
    bool raw;
    uint32_t completed_idx;
    uint64_t seq;         /* publish order */
    uint32_t nseg, n_out;
    vs_seg *seg;
    uint64_t out_bytes, in_bytes;
    bool canary_ok;
    uint64_t canary;      /* hash of the readable bytes (when not copied) */
    bool canary_copied;   /* canary_buf holds the readable bytes instead */
    uint8_t *canary_buf;  /* kept across reuses of the record */
    uint32_t canary_cap;
    uint32_t seg_cap, guard_cap, gok_cap, slots_cap; /* capacities (elements) */
    uint8_t *guard;       /* GUARD_LEN per writable segment */
    bool *guard_ok;
    uint16_t *slots;      /* split: descriptor slots of the chain */
    uint32_t nslots;
    uint64_t ind_gpa;
    uint32_t ind_len;
    bool desc_ok;
    uint64_t desc_hash;
    bool blk_ok;          /* header parsed */
    uint32_t blk_type;
    uint64_t blk_sector;
    uint32_t blk_dwz_flags; /* OR of segment flags */
    uint64_t blk_clock;   /* blk: monitor clock when made available */
    uint64_t blk_wl;      /* blk: write-log entry + 1 (0: not a write) */
    uint64_t aseq;        /* AVAIL order on the queue */
    bool fetched;
    uint8_t odd;          /* no-error-on-legal-input: ODD_* shapes of the chain */
    bool rb_counted;      /* blk-read-back: a write counted in rb[rb_a, rb_b).inflight */
    uint64_t rb_a, rb_b;
    bool z_counted;       /* zoned: counted in z_live */
    bool z_solo;          /* zoned: nothing else outstanding when made available */
    uint64_t z_seq;       /* zoned: z_seq when made available */
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
} qstate;

/* blk: sectors [a, b) zeroed by a WRITE_ZEROES completed at monitor clock `clock` */
typedef struct zrange {
    uint64_t a, b, clock;
} zrange;

/* blk: a write-type request's sector envelope, made available at `start`, completed at
 * `done` (0: outstanding) */
typedef struct wlog {
    uint64_t a, b, start, done;
} wlog;

/* blk-read-back: what one sector is known to hold. 16 bytes, so the table (touched at a
 * random place by every request) is 1 MiB; the check gives up (fewer checks, never a false
 * one) before the clock or a count would outgrow its field. */
typedef struct rb_sec {
    uint64_t hash;
    uint32_t wclock;      /* monitor clock of the last write made available or done */
    uint16_t inflight;    /* outstanding write-type requests that cover it */
    bool known;
    bool ro_write;        /* a write to it was made available on a read-only device */
} rb_sec;

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
/* blk zoned: the monitors' view of one zone (valid only when known) */
typedef struct mzone {
    bool known;
    uint8_t type, state;
    uint64_t wp;          /* UINT64_MAX where the write pointer is not valid */
    uint64_t cap;
    uint64_t uw;          /* first unwritten sector (UINT64_MAX: unknown) */
    bool se_pending;      /* secure-erased since the last report: must report empty */
} mzone;

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
    uint64_t irq_latency_ns;      /* in-process: raise-to-delivery bound */
    uint32_t n_due;               /* queues with qstate.due set */
    bool sriov_capable;           /* the function has an SR-IOV capability */
    bool finished;
    char scenario[64];
    uint32_t step;
    char step_desc[96];
    const vs_event *cur;          /* event being handled */
    uint64_t last_t;
    long sidx[CK_COUNT][IDS_MAX]; /* statement index per check id position */
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
    uint64_t canary_bytes;        /* sum of chain_rec.canary_cap */
    cfg_track cfg[80];
    cfg_track early[80];          /* config bytes read before FEATURES_OK */
    bool wce_first_read_done;
    uint64_t capacity;
    bool capacity_known;
    uint8_t cap_bytes[8];
    uint8_t cap_mask;
    qstate q[MAX_QUEUES];
    /* blk write-zeroes tracking (device-wide: every queue shares the disk) */
    uint64_t blk_clock;
    uint32_t n_zr;
    zrange zr[ZR_MAX];
    uint64_t wl_total;            /* entries ever logged; entry i at wl[i % WLOG_MAX] */
    uint64_t wl_live_evicted;     /* outstanding writes whose entry was overwritten */
    wlog wl[WLOG_MAX];
    rb_sec *rb;                   /* RB_SECTORS entries, allocated on first use */
    bool rb_failed;
    uint64_t rb_inflight;         /* writes counted in rb[].inflight */
    qreset qr[MAX_QUEUES];
    /* suspend-honoured (VIRTIO_F_SUSPEND) */
    enum { SU_NONE, SU_REQ, SU_DONE, SU_RESUMING } su;
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
    /* blk zoned: config bytes 72..95 as read, the zone model, requests in flight */
    uint8_t zc[VS_BLK_CFG_SIZE_ZONED - VS_BLK_CFG_ZONE_SECTORS];
    bool zc_known[VS_BLK_CFG_SIZE_ZONED - VS_BLK_CFG_ZONE_SECTORS];
    bool z_model_pre_known;       /* zoned.model read before FEATURES_OK */
    uint8_t z_model_pre;
    uint32_t seg_max, size_max;
    uint8_t segs_known;           /* bit 0 seg_max, bit 1 size_max */
    mzone *zn;
    uint64_t nz, zs;
    uint64_t z_seq;               /* zoned requests made available */
    uint32_t z_live;              /* zoned requests outstanding */
    bool z_fill_known;
    uint8_t z_fill;
    bool se_align_known;
    uint32_t se_align;
};

/* ------------------------------------------------------------ recording */

static void copy_str(char *dst, size_t n, const char *src)
{
    if (!n)
        return;
    snprintf(dst, n, "%s", src ? src : "");
}

static bool role_on(const vs_monitors *m, enum vs_chk c)
{
    return (m->roles & vs_check_at(c)->role) != 0;
}

/* Check c evaluated (k = position of the statement in its ids list, -1 for none). */
static void ok(vs_monitors *m, enum vs_chk c, int k)
{
    m->res->check[c].exercised++;
    if (k >= 0 && k < IDS_MAX && m->sidx[c][k] >= 0)
        m->res->stmt[m->sidx[c][k]].exercised++;
}

typedef struct ctx {
    int32_t queue;
    bool has_id, has_idx;
    uint32_t id, idx;
} ctx;

static const ctx NOCTX = {.queue = -1};

static ctx qctx(int32_t q) { return (ctx){.queue = q}; }
static ctx idctx(int32_t q, uint32_t id) { return (ctx){.queue = q, .has_id = true, .id = id}; }

__attribute__((format(printf, 6, 7)))
static void bad(vs_monitors *m, enum vs_chk c, int k, ctx cx, const char *expected,
                const char *fmt, ...)
{
    vs_evidence ev;
    memset(&ev, 0, sizeof ev);
    copy_str(ev.check, sizeof ev.check, vs_check_at(c)->name);
    copy_str(ev.scenario, sizeof ev.scenario, m->scenario);
    ev.step = m->step;
    copy_str(ev.step_desc, sizeof ev.step_desc, m->step_desc);
    ev.t_ns = m->cur ? m->cur->t_ns : m->last_t;
    ev.queue = cx.queue;
    ev.has_id = cx.has_id;
    ev.id = cx.id;
    ev.has_idx = cx.has_idx;
    ev.idx = cx.idx;
    copy_str(ev.expected, sizeof ev.expected, expected);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.seen, sizeof ev.seen, fmt, ap);
    va_end(ap);
    m->violations++;
    vs_check_result *cr = &m->res->check[c];
    cr->exercised++;
    cr->violations++;
    if (cr->n_evidence < VS_EVIDENCE_MAX)
        cr->evidence[cr->n_evidence++] = ev;
    if (k >= 0 && k < IDS_MAX && m->sidx[c][k] >= 0) {
        vs_stmt_result *s = &m->res->stmt[m->sidx[c][k]];
        s->exercised++;
        s->violations++;
        if (s->n_evidence < VS_EVIDENCE_MAX)
            s->evidence[s->n_evidence++] = ev;
    }
}

/* ------------------------------------------------------------ helpers */

#define FNV0 UINT64_C(14695981039346656037)

static bool has(uint64_t f, unsigned bit) { return (f >> bit) & 1; }
static bool ahead16(uint16_t a, uint16_t b) { return a != b && (uint16_t)(a - b) < 0x8000u; }

static uint64_t neg(const vs_monitors *m)
{
    return m->drv_features;
}

static bool ld16(vs_monitors *m, uint64_t gpa, uint16_t *v)
{
    return vs_gmem_ld16(m->gm, gpa, v, NULL) == 0;
}

static bool q_split(const qstate *q) { return q->l.format == VS_RING_SPLIT; }

static bool used_idx_mem(vs_monitors *m, qstate *q, uint16_t *v)
{
    return q_split(q) && ld16(m, q->l.device_gpa + 2, v);
}

static qstate *getq(vs_monitors *m, int32_t qi)
{
    if (qi < 0 || (uint32_t)qi >= MAX_QUEUES)
        return NULL;
    return &m->q[qi];
}

static void chain_free(vs_monitors *m, chain_rec *c)
{
    if (!c)
        return;
    m->canary_bytes -= c->canary_cap;
    free(c->canary_buf);
    free(c->seg);
    free(c->guard);
    free(c->guard_ok);
    free(c->slots);
    free(c);
}

static void queue_drop(vs_monitors *m, qstate *q)
{
    if (q->due && m->n_due)
        m->n_due--;
    if (q->byid) {
        for (uint32_t i = 0; i < ID_SPACE; i++)
            chain_free(m, q->byid[i]);
        free(q->byid);
    }
    free(q->fo_id);
    free(q->fo_seq);
    free(q->pk_snap);
    free(q->pk_snap_ok);
    free(q->pend);
    free(q->po_id);
    free(q->po_seq);
    memset(q, 0, sizeof *q);
}

/* Reads `n` bytes at logical offset `off` of the readable (write=false) or writable
 * part of a chain. */
static bool chain_read(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                       void *buf, uint64_t n)
{
    uint8_t *dst = buf;
    uint32_t first = writable ? c->n_out : 0, end = writable ? c->nseg : c->n_out;
    for (uint32_t i = first; i < end && n > 0; i++) {
        uint64_t len = c->seg[i].len;
        if (off >= len) {
            off -= len;
            continue;
        }
        uint64_t take = len - off < n ? len - off : n;
        if (vs_gmem_read(m->gm, c->seg[i].gpa + off, dst, take, NULL) < 0)
            return false;
        dst += take;
        n -= take;
        off = 0;
    }
    return n == 0;
}

/* Where bytes [off, off + n) of the readable / writable part of a chain lie in host memory,
 * when they are in one descriptor's buffer (else NULL: copy them with chain_read). Saves
 * the monitors a copy of every data sector they hash. */
static const uint8_t *chain_span(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                                 uint64_t n)
{
    uint32_t first = writable ? c->n_out : 0, end = writable ? c->nseg : c->n_out;
    for (uint32_t i = first; i < end; i++) {
        uint64_t len = c->seg[i].len;
        if (off >= len) {
            off -= len;
            continue;
        }
        if (len - off < n)
            return NULL;
        return vs_gmem_translate(m->gm, c->seg[i].gpa + off, n, VS_GMEM_READ, NULL);
    }
    return NULL;
}

/* A data sector of a chain, without copying it where possible (buf otherwise). */
static const uint8_t *chain_sector(vs_monitors *m, const chain_rec *c, bool writable,
                                   uint64_t off, uint8_t buf[VS_BLK_SECTOR])
{
    const uint8_t *p = chain_span(m, c, writable, off, VS_BLK_SECTOR);
    if (p)
        return p;
    return chain_read(m, c, writable, off, buf, VS_BLK_SECTOR) ? buf : NULL;
}

static uint64_t hash_words(uint64_t acc, const uint8_t *p, uint64_t n)
{
    return vs__hash64(acc, p, (size_t)n);
}

static bool hash_readable(vs_monitors *m, const chain_rec *c, uint64_t *h)
{
    uint64_t acc = FNV0;
    uint8_t buf[4096];
    for (uint32_t i = 0; i < c->n_out; i++) {
        const uint8_t *direct =
            c->seg[i].len ? vs_gmem_translate(m->gm, c->seg[i].gpa, c->seg[i].len,
                                              VS_GMEM_READ, NULL)
                          : NULL;
        if (direct) {
            acc = hash_words(acc, direct, c->seg[i].len);
            continue;
        }
        uint64_t pos = 0;
        while (pos < c->seg[i].len) {
            uint64_t take = c->seg[i].len - pos < sizeof buf ? c->seg[i].len - pos : sizeof buf;
            if (vs_gmem_read(m->gm, c->seg[i].gpa + pos, buf, take, NULL) < 0)
                return false;
            acc = hash_words(acc, buf, take);
            pos += take;
        }
    }
    *h = acc;
    return true;
}

/* Grows *p to at least n elements of elem bytes (contents kept, new part undefined). */
static bool ensure_cap(void **p, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n <= *cap && *p)
        return true;
    void *x = realloc(*p, (size_t)n * elem);
    if (!x)
        return false;
    *p = x;
    *cap = n;
    return true;
}

/* Clears a record for reuse, keeping its buffers and their capacities. */
static void chain_reset(chain_rec *c)
{
    chain_rec k = *c;
    memset(c, 0, sizeof *c);
    c->seg = k.seg;
    c->seg_cap = k.seg_cap;
    c->guard = k.guard;
    c->guard_cap = k.guard_cap;
    c->guard_ok = k.guard_ok;
    c->gok_cap = k.gok_cap;
    c->slots = k.slots;
    c->slots_cap = k.slots_cap;
    c->canary_buf = k.canary_buf;
    c->canary_cap = k.canary_cap;
}

/* Records the readable bytes of c at AVAIL: a copy when small enough (and within the
 * budget), else their hash. False if they cannot be read. */
static bool canary_take(vs_monitors *m, chain_rec *c)
{
    c->canary_copied = false;
    if (c->out_bytes <= CANARY_COPY_MAX) {
        uint32_t need = (uint32_t)c->out_bytes;
        if (need > c->canary_cap && m->canary_bytes - c->canary_cap + need <= CANARY_BUDGET) {
            uint8_t *nb = realloc(c->canary_buf, need);
            if (nb) {
                m->canary_bytes = m->canary_bytes - c->canary_cap + need;
                c->canary_buf = nb;
                c->canary_cap = need;
            }
        }
        if (need <= c->canary_cap && (need == 0 || c->canary_buf)) {
            if (!chain_read(m, c, false, 0, c->canary_buf, need))
                return false;
            c->canary_copied = true;
            return true;
        }
    }
    return hash_readable(m, c, &c->canary);
}

/* hash_readable of the bytes recorded by canary_take (for evidence only). */
static uint64_t canary_copy_hash(const chain_rec *c)
{
    uint64_t acc = FNV0, pos = 0;
    for (uint32_t i = 0; i < c->n_out; i++) {
        acc = hash_words(acc, c->canary_buf + pos, c->seg[i].len);
        pos += c->seg[i].len;
    }
    return acc;
}

/* Compares the readable bytes of c now with the copy; false if they cannot be read. */
static bool canary_same(vs_monitors *m, const chain_rec *c, bool *same)
{
    uint64_t pos = 0;
    *same = true;
    for (uint32_t i = 0; i < c->n_out; i++) {
        uint32_t len = c->seg[i].len;
        if (!len)
            continue;
        const uint8_t *direct = vs_gmem_translate(m->gm, c->seg[i].gpa, len, VS_GMEM_READ, NULL);
        if (direct) {
            if (memcmp(direct, c->canary_buf + pos, len))
                *same = false;
        } else {
            uint8_t buf[4096];
            for (uint32_t off = 0; off < len;) {
                uint32_t take = len - off < sizeof buf ? len - off : (uint32_t)sizeof buf;
                if (vs_gmem_read(m->gm, c->seg[i].gpa + off, buf, take, NULL) < 0)
                    return false;
                if (memcmp(buf, c->canary_buf + pos + off, take))
                    *same = false;
                off += take;
            }
        }
        pos += len;
    }
    return true;
}

/* ------------------------------------------------------------ split chain walk */

/* Hash of a split chain's descriptors (its slots of the table, then its indirect table):
 * the slots are gathered and hashed in one call, through one translation of the table
 * when it lies in one region. Only ever compared with itself. */
static bool hash_desc(vs_monitors *m, const qstate *q, const chain_rec *c, uint64_t *h)
{
    uint64_t acc = FNV0;
    uint8_t buf[256];
    uint32_t n = 0;
    const uint8_t *tbl =
        vs_gmem_translate(m->gm, q->l.desc_gpa, 16ull * q->l.size, VS_GMEM_READ, NULL);
    for (uint32_t i = 0; i < c->nslots; i++) {
        if (tbl)
            memcpy(buf + n, tbl + 16u * c->slots[i], 16);
        else if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * c->slots[i], buf + n, 16, NULL) < 0)
            return false;
        n += 16;
        if (n == sizeof buf || i + 1 == c->nslots) {
            acc = hash_words(acc, buf, n);
            n = 0;
        }
    }
    if (c->ind_len) {
        uint64_t pos = 0;
        while (pos < c->ind_len) {
            uint64_t take = c->ind_len - pos < sizeof buf ? c->ind_len - pos : sizeof buf;
            if (vs_gmem_read(m->gm, c->ind_gpa + pos, buf, take, NULL) < 0)
                return false;
            acc = hash_words(acc, buf, take);
            pos += take;
        }
    }
    *h = acc;
    return true;
}

static bool rd_desc(vs_monitors *m, uint64_t gpa, vs_desc *d)
{
    uint8_t b[16];
    if (vs_gmem_read(m->gm, gpa, b, 16, NULL) < 0)
        return false;
    memcpy(&d->addr, b, 8);
    memcpy(&d->len, b + 8, 4);
    memcpy(&d->flags, b + 12, 2);
    memcpy(&d->next, b + 14, 2);
    return true;
}

/* Walks the chain at `head` as the device would see it; driver shape checks (unless
 * the chain is hand-built) and a snapshot of the descriptor bytes for CK_DESC_TABLE. */
static void split_walk(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head)
{
    bool drv = role_on(m, CK_D_CHAIN_SHAPE) && !c->raw;
    uint64_t f = neg(m);
    bool in_order = has(f, VS_F_IN_ORDER);
    ctx cx = idctx(qi, head);
    uint32_t size = q->l.size;
    c->nslots = 0;
    c->ind_len = 0;
    if (!ensure_cap((void **)&c->slots, &c->slots_cap, size ? size : 1, sizeof *c->slots))
        return;
    uint64_t total = 0;
    bool seen_write = false, shape_ok = true, loop = false;
    uint16_t i = head;
    for (;;) {
        if (i >= size) {
            if (drv)
                bad(m, CK_D_CHAIN_SHAPE, 1, cx, "every next < queue size",
                    "next %u >= queue size %" PRIu32, i, size);
            shape_ok = false;
            break;
        }
        if (c->nslots >= size) {
            loop = true;
            break;
        }
        vs_desc d;
        if (!rd_desc(m, q->l.desc_gpa + 16ull * i, &d))
            return;
        c->slots[c->nslots++] = i;
        if (d.flags & VS_DESC_F_INDIRECT) {
            if (drv && !has(f, VS_F_INDIRECT_DESC)) {
                bad(m, CK_D_CHAIN_SHAPE, 2, cx, "no INDIRECT without VIRTIO_F_INDIRECT_DESC",
                    "desc %u has INDIRECT", i);
                shape_ok = false;
            }
            if (drv && (d.flags & VS_DESC_F_NEXT)) {
                bad(m, CK_D_CHAIN_SHAPE, 5, cx, "INDIRECT and NEXT never together",
                    "desc %u flags 0x%x", i, d.flags);
                shape_ok = false;
            }
            uint32_t n = d.len / 16;
            if (drv && n > size) {
                bad(m, CK_D_CHAIN_SHAPE, 4, cx, "indirect table entries <= queue size",
                    "%" PRIu32 " entries, queue size %" PRIu32, n, size);
                shape_ok = false;
            }
            if (!c->raw && (d.flags & VS_DESC_F_WRITE))
                c->odd |= ODD_IND_WRITE;
            if (!c->raw && c->nslots > 1)
                c->odd |= ODD_DIRECT_FIRST;
            c->ind_gpa = d.addr;
            c->ind_len = d.len;
            uint32_t j = 0, count = 0;
            while (j < n && count <= n) {
                vs_desc e;
                if (!rd_desc(m, d.addr + 16ull * j, &e))
                    break;
                count++;
                if (drv && (e.flags & VS_DESC_F_INDIRECT)) {
                    bad(m, CK_D_CHAIN_SHAPE, 3, cx, "no INDIRECT inside an indirect table",
                        "indirect entry %" PRIu32 " has INDIRECT", j);
                    shape_ok = false;
                }
                if (e.flags & VS_DESC_F_WRITE)
                    seen_write = true;
                else if (seen_write && drv) {
                    bad(m, CK_D_CHAIN_SHAPE, 0, cx, "readable descriptors before writable ones",
                        "indirect entry %" PRIu32 " readable after a writable one", j);
                    shape_ok = false;
                }
                if (drv && in_order && (e.flags & VS_DESC_F_NEXT) && e.next != j + 1) {
                    bad(m, CK_D_CHAIN_SHAPE, 7, cx, "IN_ORDER: indirect entry i chains to i+1",
                        "entry %" PRIu32 " next %u", j, e.next);
                    shape_ok = false;
                }
                if (drv && !vs_gmem_span_ok(m->gm, e.addr, e.len ? e.len : 1, VS_GMEM_READ) &&
                    !has(f, VS_F_ACCESS_PLATFORM))
                    bad(m, CK_D_ADDR_RAM, 0, cx, "buffers inside guest RAM",
                        "indirect entry %" PRIu32 " at 0x%" PRIx64 "+%" PRIu32, j, e.addr, e.len);
                total += e.len;
                if (!(e.flags & VS_DESC_F_NEXT))
                    break;
                j = e.next;
            }
        } else {
            if (d.flags & VS_DESC_F_WRITE)
                seen_write = true;
            else if (seen_write && drv) {
                bad(m, CK_D_CHAIN_SHAPE, 0, cx, "readable descriptors before writable ones",
                    "desc %u readable after a writable one", i);
                shape_ok = false;
            }
            if (drv && !has(f, VS_F_ACCESS_PLATFORM)) {
                if (!vs_gmem_span_ok(m->gm, d.addr, d.len ? d.len : 1, VS_GMEM_READ))
                    bad(m, CK_D_ADDR_RAM, 0, cx, "buffers inside guest RAM",
                        "desc %u at 0x%" PRIx64 "+%" PRIu32, i, d.addr, d.len);
                else
                    ok(m, CK_D_ADDR_RAM, 0);
            }
            total += d.len;
        }
        if (!(d.flags & VS_DESC_F_NEXT))
            break;
        if (drv && in_order && d.next != (uint16_t)((i + 1) % size)) {
            bad(m, CK_D_CHAIN_SHAPE, 6, cx, "IN_ORDER: next = (slot + 1) % queue size",
                "desc %u next %u", i, d.next);
            shape_ok = false;
        }
        i = d.next;
    }
    if (drv) {
        if (loop) {
            bad(m, CK_D_CHAIN_SHAPE, 1, cx, "chain terminates",
                "more than %" PRIu32 " descriptors (loop)", size);
            bad(m, CK_D_CHAIN_SHAPE, 4, cx, "chain length <= queue size",
                "more than %" PRIu32 " descriptors", size);
            shape_ok = false;
        } else if (total > (UINT64_C(1) << 32)) {
            bad(m, CK_D_CHAIN_SHAPE, 1, cx, "chain total <= 2^32 bytes",
                "%" PRIu64 " bytes", total);
            shape_ok = false;
        }
        if (shape_ok) {
            ok(m, CK_D_CHAIN_SHAPE, 0);
            ok(m, CK_D_CHAIN_SHAPE, 1);
            ok(m, CK_D_CHAIN_SHAPE, 8);
            if (has(f, VS_F_INDIRECT_DESC)) {
                ok(m, CK_D_CHAIN_SHAPE, 3);
                ok(m, CK_D_CHAIN_SHAPE, 4);
                ok(m, CK_D_CHAIN_SHAPE, 5);
            } else {
                ok(m, CK_D_CHAIN_SHAPE, 2);
            }
            if (in_order)
                ok(m, CK_D_CHAIN_SHAPE, 6);
        }
    }
    c->desc_ok = hash_desc(m, q, c, &c->desc_hash);
}

/* ------------------------------------------------------------ packed: used descriptors */

static void pk_check_slot(vs_monitors *m, int32_t qi, qstate *q, uint16_t slot)
{
    if (slot >= q->l.size || !q->pk_snap_ok[slot])
        return;
    uint8_t now[16];
    const uint8_t *was = q->pk_snap + 16u * slot;
    if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * slot, now, 16, NULL) < 0)
        return;
    if (memcmp(now, was, 16) == 0) {
        ok(m, CK_PK_USED_DESC, 0);
        return;
    }
    q->pk_snap_ok[slot] = false; /* reported once */
    uint64_t a0, a1;
    uint32_t l0, l1;
    uint16_t i0, i1, f0, f1;
    memcpy(&a0, was, 8);
    memcpy(&a1, now, 8);
    memcpy(&l0, was + 8, 4);
    memcpy(&l1, now + 8, 4);
    memcpy(&i0, was + 12, 2);
    memcpy(&i1, now + 12, 2);
    memcpy(&f0, was + 14, 2);
    memcpy(&f1, now + 14, 2);
    ctx cx = {.queue = qi, .has_id = true, .id = i0, .has_idx = true, .idx = slot};
    bad(m, CK_PK_USED_DESC, 0, cx, "a used descriptor unchanged until the driver reuses it",
        "slot %u rewritten after it was used: addr 0x%" PRIx64 "->0x%" PRIx64 " len %" PRIu32
        "->%" PRIu32 " id %u->%u flags 0x%04x->0x%04x",
        slot, a0, a1, l0, l1, i0, i1, f0, f1);
}

/* The most recently used slots, and a few more in rotation. */
static void pk_check_recent(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || q_split(q) || !q->pk_snap || q->pk_lost || !role_on(m, CK_PK_USED_DESC))
        return;
    for (uint32_t i = 0; i < q->pk_recent_n; i++)
        pk_check_slot(m, qi, q, q->pk_recent[i]);
    for (uint32_t i = 0; i < PK_SWEEP; i++) {
        pk_check_slot(m, qi, q, (uint16_t)q->pk_cursor);
        q->pk_cursor = (q->pk_cursor + 1) % q->l.size;
    }
}

/* Queue end (reset, disable, finish): every snapshot. */
static void pk_check_all(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || q_split(q) || !q->pk_snap || q->pk_lost || !role_on(m, CK_PK_USED_DESC))
        return;
    for (uint32_t s = 0; s < q->l.size; s++)
        pk_check_slot(m, qi, q, (uint16_t)s);
}

/* The driver made a chain available at its next slots: those slots are its again. */
static void pk_on_avail(qstate *q, const vs_ev_chain *ch)
{
    if (!q->pk_snap || q->pk_lost)
        return;
    uint32_t n = ch->indirect ? 1 : ch->n_out + ch->n_in;
    if (ch->raw) {
        n = ch->n_out + ch->n_in; /* raw: one segment per descriptor, at most 8 reported */
        if (n >= 8) {
            q->pk_lost = true;
            return;
        }
    }
    if (n == 0 || n > q->l.size) {
        q->pk_lost = true;
        return;
    }
    for (uint32_t k = 0; k < n; k++)
        q->pk_snap_ok[(q->pk_avail_slot + k) % q->l.size] = false;
    q->pk_avail_slot = (uint16_t)((q->pk_avail_slot + n) % q->l.size);
}

/* The driver collected the used element at its used slot; ev->idx is its next one. */
static void pk_on_used(vs_monitors *m, int32_t qi, qstate *q, const vs_event *ev)
{
    if (!q->pk_snap || q->pk_lost)
        return;
    pk_check_recent(m, qi, q);
    uint16_t slot = q->pk_used_slot;
    if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * slot, q->pk_snap + 16u * slot, 16, NULL) ==
        0) {
        q->pk_snap_ok[slot] = true;
        q->pk_recent[q->pk_recent_pos] = slot;
        q->pk_recent_pos = (q->pk_recent_pos + 1) % PK_RECENT;
        if (q->pk_recent_n < PK_RECENT)
            q->pk_recent_n++;
    }
    uint16_t next = (uint16_t)(ev->idx & 0x7fffu);
    if (next >= q->l.size)
        q->pk_lost = true;
    else
        q->pk_used_slot = next;
}

/* ------------------------------------------------------------ packed: fetch order */

static void fo_push(qstate *q, uint32_t id, uint64_t seq)
{
    if (q->fo_lost)
        return;
    if (q->fo_n == q->fo_cap) {
        uint32_t nc = q->fo_cap ? q->fo_cap * 2 : 64;
        uint32_t *ni = nc <= FO_MAX ? malloc((size_t)nc * sizeof *ni) : NULL;
        uint64_t *ns = ni ? malloc((size_t)nc * sizeof *ns) : NULL;
        if (!ns) {
            free(ni);
            q->fo_lost = true;
            return;
        }
        for (uint32_t i = 0; i < q->fo_n; i++) {
            ni[i] = q->fo_id[(q->fo_head + i) % q->fo_cap];
            ns[i] = q->fo_seq[(q->fo_head + i) % q->fo_cap];
        }
        free(q->fo_id);
        free(q->fo_seq);
        q->fo_id = ni;
        q->fo_seq = ns;
        q->fo_cap = nc;
        q->fo_head = 0;
    }
    uint32_t at = (q->fo_head + q->fo_n) % q->fo_cap;
    q->fo_id[at] = id;
    q->fo_seq[at] = seq;
    q->fo_n++;
}

/* The earliest chain made available and not yet fetched (stale entries dropped). */
static chain_rec *fo_front(qstate *q)
{
    while (q->fo_n) {
        uint32_t id = q->fo_id[q->fo_head];
        chain_rec *c = q->byid[id];
        if (c && c->live && !c->fetched && c->aseq == q->fo_seq[q->fo_head])
            return c;
        q->fo_head = (q->fo_head + 1) % q->fo_cap;
        q->fo_n--;
    }
    return NULL;
}

static void fetch_order(vs_monitors *m, const vs_event *ev, qstate *q, chain_rec *c)
{
    if (q_split(q) || q->fo_lost || !role_on(m, CK_PK_FETCH_ORDER))
        return;
    chain_rec *f = fo_front(q);
    if (!f)
        return;
    if (f == c) {
        ok(m, CK_PK_FETCH_ORDER, 0);
        return;
    }
    if (f->raw || c->raw || !f->published)
        return; /* hand-built chains: the ring positions are not ours to judge */
    uint32_t fid = q->fo_id[q->fo_head];
    bad(m, CK_PK_FETCH_ORDER, 0, idctx(ev->queue, ev->id), "chains fetched in ring order",
        "id %" PRIu32 " fetched before id %" PRIu32 ", which was made available earlier",
        ev->id, fid);
}

/* ------------------------------------------------------------ blk: read back */

static void rb_give_up(vs_monitors *m)
{
    free(m->rb);
    m->rb = NULL;
    m->rb_failed = true; /* fewer checks, never a false one */
}

static bool rb_ready(vs_monitors *m)
{
    if (m->blk_clock >= UINT32_MAX - 2 && m->rb)
        rb_give_up(m);
    if (!m->rb && !m->rb_failed && !(m->rb = calloc(RB_SECTORS, sizeof *m->rb)))
        m->rb_failed = true;
    return m->rb != NULL;
}

static bool blk_read_only(const vs_monitors *m)
{
    return has(m->offered_known ? m->offered : neg(m), VS_BLK_F_RO);
}

/* A write-type request covering [a, b) made available: the sectors are unknown until it
 * is done, except on a read-only device, where it must change nothing. */
static void rb_on_avail(vs_monitors *m, chain_rec *c, uint64_t a, uint64_t b)
{
    if (!role_on(m, CK_BLK_READ_BACK) || a >= RB_SECTORS || !rb_ready(m))
        return;
    b = b < RB_SECTORS ? b : RB_SECTORS;
    bool ro = blk_read_only(m);
    for (uint64_t s = a; s < b; s++) {
        rb_sec *x = &m->rb[s];
        if (ro) {
            x->ro_write = true;
            continue;
        }
        if (x->inflight == UINT16_MAX) {
            rb_give_up(m); /* the ones counted so far are simply forgotten with the table */
            return;
        }
        x->known = false;
        x->inflight++;
        x->wclock = (uint32_t)c->blk_clock;
    }
    if (!ro && a < b) {
        c->rb_counted = true;
        c->rb_a = a;
        c->rb_b = b;
        m->rb_inflight++;
    }
}

/* A counted write completed. An OK OUT that no other write overlapped in time defines
 * the contents of its sectors (its readable data, unchanged: readable-unchanged). */
static void rb_write_done(vs_monitors *m, chain_rec *c, bool ok_out)
{
    if (!c->rb_counted || !m->rb)
        return;
    c->rb_counted = false;
    if (m->rb_inflight)
        m->rb_inflight--;
    uint32_t clk = (uint32_t)++m->blk_clock;
    /* The data in place when it is one buffer (the usual case): one translation. */
    uint64_t off0 = 16 + (c->rb_a - c->blk_sector) * VS_BLK_SECTOR;
    const uint8_t *span =
        ok_out ? chain_span(m, c, false, off0, (c->rb_b - c->rb_a) * VS_BLK_SECTOR) : NULL;
    for (uint64_t s = c->rb_a; s < c->rb_b; s++) {
        rb_sec *x = &m->rb[s];
        bool alone = x->wclock == (uint32_t)c->blk_clock && x->inflight == 1;
        if (x->inflight)
            x->inflight--;
        x->wclock = clk;
        uint8_t buf[VS_BLK_SECTOR];
        uint64_t off = off0 + (s - c->rb_a) * VS_BLK_SECTOR;
        const uint8_t *p = !(ok_out && alone) ? NULL
                           : span             ? span + (off - off0)
                                              : chain_sector(m, c, false, off, buf);
        if (p) {
            x->hash = hash_words(FNV0, p, VS_BLK_SECTOR);
            x->known = true;
            x->ro_write = false;
        }
    }
}

/* The device stopped: outstanding writes may or may not have happened. */
static void rb_reset(vs_monitors *m)
{
    if (!m->rb || !m->rb_inflight)
        return;
    uint32_t clk = (uint32_t)++m->blk_clock;
    for (uint32_t s = 0; s < RB_SECTORS; s++)
        if (m->rb[s].inflight) {
            m->rb[s] = (rb_sec){.wclock = clk};
        }
    m->rb_inflight = 0;
}

/* An IN completed with OK: each sector no write overlapped must hold what it is known to
 * hold; otherwise what it read becomes known. */
static void rb_check_read(vs_monitors *m, const chain_rec *c, bool packed, ctx cx)
{
    if (!role_on(m, CK_BLK_READ_BACK) || c->in_bytes < 1 + VS_BLK_SECTOR ||
        c->blk_sector >= RB_SECTORS || !rb_ready(m))
        return;
    uint64_t nsec = (c->in_bytes - 1) / VS_BLK_SECTOR, data = nsec * VS_BLK_SECTOR;
    uint32_t data_descs = 0; /* writable descriptors holding data */
    for (uint32_t i = c->n_out; i < c->nseg && data; i++) {
        uint64_t take = c->seg[i].len < data ? c->seg[i].len : data;
        data_descs += take > 0;
        data -= take;
    }
    bool multi = packed && data_descs >= 2;
    const uint8_t *span = chain_span(m, c, true, 0, nsec * VS_BLK_SECTOR);
    for (uint64_t i = 0; i < nsec && c->blk_sector + i < RB_SECTORS; i++) {
        rb_sec *x = &m->rb[c->blk_sector + i];
        if (x->inflight || x->wclock >= c->blk_clock)
            continue; /* a write overlapped the read: either contents are right */
        uint8_t buf[VS_BLK_SECTOR];
        const uint8_t *p =
            span ? span + i * VS_BLK_SECTOR : chain_sector(m, c, true, i * VS_BLK_SECTOR, buf);
        if (!p)
            return;
        uint64_t h = hash_words(FNV0, p, VS_BLK_SECTOR);
        if (!x->known) {
            x->known = true;
            x->hash = h;
            continue;
        }
        int k = x->ro_write ? 0 : multi ? 1 : -1;
        if (h == x->hash) {
            ok(m, CK_BLK_READ_BACK, k);
            continue;
        }
        bad(m, CK_BLK_READ_BACK, k, cx,
            k == 0   ? "a rejected write on a read-only device changes nothing"
            : k == 1 ? "writable descriptors filled in list order"
                     : "a read returns what the sector holds",
            "sector %" PRIu64 " reads hash %016" PRIx64 ", it held %016" PRIx64 "%s",
            c->blk_sector + i, h, x->hash,
            k == 0   ? " before a write on the read-only device"
            : k == 1 ? " (data spread over several descriptors)"
                     : "");
        x->hash = h; /* reported once per change */
        x->ro_write = false;
    }
}

/* ------------------------------------------------------------ blk: write zeroes */

static bool blk_writes(const chain_rec *c)
{
    if (!c->blk_ok)
        return true; /* hand-built or unparsable: assume the worst */
    uint32_t t = c->blk_type;
    return t != VS_BLK_T_IN && t != VS_BLK_T_FLUSH && t != VS_BLK_T_GET_ID &&
           t != VS_BLK_T_GET_LIFETIME;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

static bool dwz_seg(vs_monitors *m, const chain_rec *c, uint64_t s, uint64_t *a, uint64_t *b)
{
    uint8_t sb[16];
    if (!chain_read(m, c, false, 16 + 16 * s, sb, 16))
        return false;
    uint64_t sec;
    uint32_t num;
    memcpy(&sec, sb, 8);
    memcpy(&num, sb + 8, 4);
    *a = sec;
    *b = sat_add(sec, num);
    return true;
}

/* The sectors a write-type request may change (conservatively all). */
static void blk_envelope(vs_monitors *m, const chain_rec *c, uint64_t *a, uint64_t *b)
{
    *a = 0;
    *b = UINT64_MAX;
    if (!c->blk_ok)
        return;
    uint32_t t = c->blk_type;
    if (t == VS_BLK_T_OUT) {
        *a = c->blk_sector;
        *b = sat_add(c->blk_sector, (c->out_bytes - 16 + VS_BLK_SECTOR - 1) / VS_BLK_SECTOR);
    } else if (t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
               t == VS_BLK_T_SECURE_ERASE) {
        uint64_t nsegs = (c->out_bytes - 16) / 16, lo = UINT64_MAX, hi = 0;
        if (nsegs == 0 || nsegs > 4096)
            return;
        for (uint64_t s = 0; s < nsegs; s++) {
            uint64_t x, y;
            if (!dwz_seg(m, c, s, &x, &y))
                return;
            lo = x < lo ? x : lo;
            hi = y > hi ? y : hi;
        }
        *a = lo;
        *b = hi;
    }
}

static void zr_put(vs_monitors *m, uint64_t a, uint64_t b, uint64_t clock)
{
    if (a >= b)
        return;
    if (m->n_zr == ZR_MAX) { /* forget the oldest: fewer checks, never a false one */
        memmove(m->zr, m->zr + 1, (ZR_MAX - 1) * sizeof *m->zr);
        m->n_zr--;
    }
    m->zr[m->n_zr++] = (zrange){a, b, clock};
}

static void zr_remove(vs_monitors *m, uint64_t a, uint64_t b)
{
    zrange old[ZR_MAX];
    uint32_t n = m->n_zr;
    memcpy(old, m->zr, n * sizeof *old);
    m->n_zr = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (old[i].b <= a || b <= old[i].a) {
            zr_put(m, old[i].a, old[i].b, old[i].clock);
            continue;
        }
        zr_put(m, old[i].a, a, old[i].clock);
        zr_put(m, b, old[i].b, old[i].clock);
    }
}

/* A chain made available: remember when, and what a write may change. */
static void blk_on_avail(vs_monitors *m, chain_rec *c)
{
    c->blk_clock = ++m->blk_clock;
    if (!blk_writes(c))
        return;
    uint64_t a, b;
    blk_envelope(m, c, &a, &b);
    zr_remove(m, a, b);
    rb_on_avail(m, c, a, b);
    wlog *w = &m->wl[m->wl_total % WLOG_MAX];
    if (m->wl_total >= WLOG_MAX && w->done == 0)
        m->wl_live_evicted++;
    *w = (wlog){a, b, c->blk_clock, 0};
    c->blk_wl = ++m->wl_total;
}

static void blk_write_done(vs_monitors *m, chain_rec *c)
{
    if (!c->blk_wl)
        return;
    uint64_t i = c->blk_wl - 1;
    if (m->wl_total - i > WLOG_MAX) {
        if (m->wl_live_evicted)
            m->wl_live_evicted--;
    } else {
        m->wl[i % WLOG_MAX].done = ++m->blk_clock;
    }
    c->blk_wl = 0;
}

/* A WRITE_ZEROES completed with OK: its segments read as zeroes from now on, except
 * where another write overlapped it in time (its order is then unknown). */
static void wz_completed(vs_monitors *m, chain_rec *c)
{
    if (!c->blk_wl || m->wl_live_evicted || m->wl_total - (c->blk_wl - 1) > WLOG_MAX)
        return;
    uint64_t nsegs = (c->out_bytes - 16) / 16;
    uint64_t first = m->wl_total > WLOG_MAX ? m->wl_total - WLOG_MAX : 0;
    for (uint64_t s = 0; s < nsegs && s < 256; s++) {
        uint64_t pa[16], pb[16];
        uint32_t np = 0;
        if (!dwz_seg(m, c, s, &pa[0], &pb[0]))
            return;
        np = 1;
        for (uint64_t i = first; i < m->wl_total && np; i++) {
            const wlog *w = &m->wl[i % WLOG_MAX];
            if (i == c->blk_wl - 1 ||
                (w->start < c->blk_clock && w->done && w->done < c->blk_clock))
                continue; /* itself, or done before it was made available */
            for (uint32_t p = 0; p < np;) { /* subtract [w->a, w->b) */
                if (pb[p] <= w->a || w->b <= pa[p]) {
                    p++;
                    continue;
                }
                uint64_t la = pa[p], rb = pb[p];
                pa[p] = pa[np - 1];
                pb[p] = pb[np - 1];
                np--;
                if (la < w->a && np < 16) {
                    pa[np] = la;
                    pb[np++] = w->a;
                }
                if (w->b < rb && np < 16) {
                    pa[np] = w->b;
                    pb[np++] = rb;
                }
            }
        }
        uint64_t clk = ++m->blk_clock;
        for (uint32_t p = 0; p < np; p++)
            zr_put(m, pa[p], pb[p], clk);
    }
}

/* An IN completed with OK: sectors zeroed before it was made available read as zeroes. */
static void wz_check_read(vs_monitors *m, const chain_rec *c, ctx cx)
{
    uint64_t a = c->blk_sector, nsec = (c->in_bytes - 1) / VS_BLK_SECTOR;
    uint64_t b = sat_add(a, nsec);
    for (uint32_t i = 0; i < m->n_zr; i++) {
        const zrange *z = &m->zr[i];
        if (z->clock >= c->blk_clock || z->b <= a || b <= z->a)
            continue;
        uint64_t oa = z->a > a ? z->a : a, ob = z->b < b ? z->b : b;
        uint64_t off = (oa - a) * VS_BLK_SECTOR, end = (ob - a) * VS_BLK_SECTOR;
        bool zero = true;
        uint8_t buf[4096];
        while (off < end && zero) {
            uint64_t take = end - off < sizeof buf ? end - off : sizeof buf;
            if (!chain_read(m, c, true, off, buf, take))
                return;
            for (uint64_t k = 0; k < take; k++)
                if (buf[k]) {
                    uint64_t at = off + k;
                    bad(m, CK_BLK_WZ_ZEROES, 0, cx, "zeroes after WRITE_ZEROES",
                        "sector %" PRIu64 " byte %" PRIu64 " reads 0x%02x; sectors %" PRIu64
                        "..%" PRIu64 " were zeroed",
                        a + at / VS_BLK_SECTOR, at % VS_BLK_SECTOR, buf[k], z->a, z->b - 1);
                    zero = false;
                    break;
                }
            off += take;
        }
        if (zero)
            ok(m, CK_BLK_WZ_ZEROES, 0);
    }
}

/* ------------------------------------------------------------ blk: zoned */

/* The monitors' own zone model, built only from what the driver sees: zoned config reads,
 * zone reports, and the requests and statuses of completed chains. A zone is "known"
 * after a report names it and stays known while every request that could change it
 * completes alone (no other request outstanding); anything ambiguous (overlapping
 * requests, a reset with requests in flight, a result the model did not predict) makes
 * the zones concerned unknown again, so a judgement is never made on a guess. */

static uint32_t zc32(const vs_monitors *m, uint32_t off)
{
    const uint8_t *b = m->zc + (off - VS_BLK_CFG_ZONE_SECTORS);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static bool zc_has(const vs_monitors *m, uint32_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (!m->zc_known[off - VS_BLK_CFG_ZONE_SECTORS + i])
            return false;
    return true;
}

static bool zoned_neg(const vs_monitors *m)
{
    return m->device_id == VS_DEV_BLK && has(neg(m), VS_BLK_F_ZONED) && m->fok_written;
}

static void z_forget_all(vs_monitors *m)
{
    for (uint64_t i = 0; i < m->nz; i++)
        m->zn[i].known = m->zn[i].se_pending = false;
}

/* Zone array sized from zone_sectors and capacity (once both are read). */
static bool z_ready(vs_monitors *m)
{
    if (!zc_has(m, VS_BLK_CFG_ZONE_SECTORS, 4) || !m->capacity_known)
        return false;
    uint64_t zs = zc32(m, VS_BLK_CFG_ZONE_SECTORS);
    if (zs == 0)
        return false;
    uint64_t nz = (m->capacity + zs - 1) / zs;
    if (nz == 0 || nz > (1u << 20))
        return false;
    if (m->zn && m->nz == nz && m->zs == zs)
        return true;
    free(m->zn);
    m->zn = calloc(nz, sizeof *m->zn);
    m->nz = m->zn ? nz : 0;
    m->zs = zs;
    return m->zn != NULL;
}

static uint64_t zlen(const vs_monitors *m, uint64_t i)
{
    uint64_t s = i * m->zs;
    return m->capacity - s < m->zs ? m->capacity - s : m->zs;
}

static bool z_wp_valid(uint8_t st)
{
    return st == VS_BLK_ZS_EMPTY || st == VS_BLK_ZS_IOPEN || st == VS_BLK_ZS_EOPEN ||
           st == VS_BLK_ZS_CLOSED;
}

/* Open / active counts; false unless every zone is known. */
static bool z_counts_known(const vs_monitors *m, uint32_t *open, uint32_t *active, bool *iopen)
{
    *open = *active = 0;
    *iopen = false;
    for (uint64_t i = 0; i < m->nz; i++) {
        const mzone *z = &m->zn[i];
        if (!z->known)
            return false;
        bool o = z->state == VS_BLK_ZS_IOPEN || z->state == VS_BLK_ZS_EOPEN;
        *open += o;
        *active += o || z->state == VS_BLK_ZS_CLOSED;
        *iopen |= z->state == VS_BLK_ZS_IOPEN;
    }
    return true;
}

/* A rule the request breaks: the statuses it allows, and where to report. */
typedef struct zrule {
    enum vs_chk ck;
    int k;
    uint8_t allow[2];
    const char *what;
} zrule;
#define ZJ_MAX 12
typedef struct zjudge {
    zrule r[ZJ_MAX];
    unsigned n;
} zjudge;

static void zj_add(zjudge *j, enum vs_chk ck, int k, uint8_t a, uint8_t b, const char *what)
{
    if (j->n < ZJ_MAX)
        j->r[j->n++] = (zrule){ck, k, {a, b}, what};
}

static const char *zs_name(uint8_t st)
{
    static const char *const n[] = {"OK", "IOERR", "UNSUPP", "ZONE_INVALID_CMD",
                                    "ZONE_UNALIGNED_WP", "ZONE_OPEN_RESOURCE",
                                    "ZONE_ACTIVE_RESOURCE"};
    return st < 7 ? n[st] : "invalid";
}

/* Status st must be allowed by one of the broken rules; true when the model predicted it. */
static bool zj_settle(vs_monitors *m, const zjudge *j, uint8_t st, ctx cx, uint32_t t,
                      uint64_t sector)
{
    bool any = false;
    for (unsigned i = 0; i < j->n; i++)
        any |= st == j->r[i].allow[0] || st == j->r[i].allow[1];
    for (unsigned i = 0; i < j->n; i++) {
        const zrule *r = &j->r[i];
        if (!role_on(m, r->ck))
            continue;
        if (any) {
            ok(m, r->ck, r->k);
            continue;
        }
        char exp[96];
        snprintf(exp, sizeof exp, "%s for %s", zs_name(r->allow[0]), r->what);
        bad(m, r->ck, r->k, cx, exp, "type %" PRIu32 " sector %" PRIu64 " completed with %s",
            t, sector, zs_name(st));
    }
    return any;
}

/* Resources for zone z to become open (implicitly: k = 1, explicitly: k = 0). */
static void zj_resources(vs_monitors *m, zjudge *j, const mzone *z, int k, uint8_t st, ctx cx,
                         bool *autoclose)
{
    uint32_t open, active;
    bool iopen;
    *autoclose = false;
    if (!(z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_CLOSED) ||
        !z_counts_known(m, &open, &active, &iopen))
        return;
    if (!zc_has(m, VS_BLK_CFG_MAX_OPEN_ZONES, 4) || !zc_has(m, VS_BLK_CFG_MAX_ACTIVE_ZONES, 4))
        return; /* limits not read: nothing to judge against */
    uint32_t mo = zc32(m, VS_BLK_CFG_MAX_OPEN_ZONES), ma = zc32(m, VS_BLK_CFG_MAX_ACTIVE_ZONES);
    bool act_over = z->state == VS_BLK_ZS_EMPTY && ma && active >= ma;
    bool open_over = mo && open >= mo;
    if (act_over || (open_over && !iopen)) {
        zj_add(j, CK_ZONE_RES, k, VS_BLK_S_ZONE_ACTIVE_RESOURCE, VS_BLK_S_ZONE_OPEN_RESOURCE,
               act_over ? "no active zone resource left" : "no open zone resource left");
        return;
    }
    if (open_over) { /* the device may implicitly close an implicitly open zone */
        *autoclose = true;
        return;
    }
    /* room left: a resource status would misreport the limits */
    if (st == VS_BLK_S_ZONE_OPEN_RESOURCE && role_on(m, CK_ZONE_RES))
        bad(m, CK_ZONE_RES, 2, cx, "no OPEN_RESOURCE below max_open_zones",
            "OPEN_RESOURCE with %" PRIu32 " open zones, max_open_zones %" PRIu32, open, mo);
    else if (st == VS_BLK_S_ZONE_ACTIVE_RESOURCE && role_on(m, CK_ZONE_RES))
        bad(m, CK_ZONE_RES, 3, cx, "no ACTIVE_RESOURCE below max_active_zones",
            "ACTIVE_RESOURCE with %" PRIu32 " active zones, max_active_zones %" PRIu32, active,
            ma);
    else if (role_on(m, CK_ZONE_RES)) {
        if (mo)
            ok(m, CK_ZONE_RES, 2);
        if (ma && z->state == VS_BLK_ZS_EMPTY)
            ok(m, CK_ZONE_RES, 3);
    }
}

static void z_mark_iopen_unknown(vs_monitors *m)
{
    for (uint64_t i = 0; i < m->nz; i++)
        if (m->zn[i].known && m->zn[i].state == VS_BLK_ZS_IOPEN)
            m->zn[i].known = false;
}

/* A write of nsec sectors landed at `at` in known zone zi. */
static void z_advance(vs_monitors *m, uint64_t zi, uint64_t at, uint64_t nsec)
{
    mzone *z = &m->zn[zi];
    if (z->type == VS_BLK_ZT_CONV || !nsec)
        return;
    z->se_pending = false;
    if (z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_CLOSED)
        z->state = VS_BLK_ZS_IOPEN;
    if (at + nsec > z->wp)
        z->wp = at + nsec;
    if (z->wp > z->uw)
        z->uw = z->wp;
    if (z->wp >= zi * m->zs + z->cap) {
        z->state = VS_BLK_ZS_FULL;
        z->uw = zi * m->zs + z->cap;
    }
}

static void zone_report_done(vs_monitors *m, const chain_rec *c, ctx cx)
{
    uint64_t len = c->in_bytes - 1;
    uint8_t h[8];
    if (len < VS_BLK_ZONE_REPORT_HDR || !chain_read(m, c, true, 0, h, 8))
        return;
    uint64_t nr = 0;
    for (int i = 7; i >= 0; i--)
        nr = nr << 8 | h[i];
    uint64_t fit = (len - VS_BLK_ZONE_REPORT_HDR) / VS_BLK_ZONE_DESC;
    if (nr > fit)
        nr = fit;
    bool geo_ok = true;
    uint8_t model = m->zc_known[VS_BLK_CFG_ZONED_MODEL - VS_BLK_CFG_ZONE_SECTORS]
                        ? m->zc[VS_BLK_CFG_ZONED_MODEL - VS_BLK_CFG_ZONE_SECTORS] : 0xff;
    for (uint64_t i = 0; i < nr && i < (1u << 16); i++) {
        uint8_t d[VS_BLK_ZONE_DESC];
        if (!chain_read(m, c, true, VS_BLK_ZONE_REPORT_HDR + i * VS_BLK_ZONE_DESC, d, sizeof d))
            return;
        uint64_t cap = 0, start = 0, wp = 0;
        for (int b = 7; b >= 0; b--) {
            cap = cap << 8 | d[b];
            start = start << 8 | d[8 + b];
            wp = wp << 8 | d[16 + b];
        }
        uint8_t type = d[24], state = d[25];
        uint64_t want = (c->blk_sector / m->zs + i) * m->zs;
        if (role_on(m, CK_ZONE_REPORT)) {
            if (start != want || cap > m->zs)
                bad(m, CK_ZONE_REPORT, 0, cx, "zones zone_sectors apart, z_cap <= zone_sectors",
                    "descriptor %" PRIu64 ": z_start %" PRIu64 " (expected %" PRIu64
                    "), z_cap %" PRIu64 ", zone_sectors %" PRIu64, i, start, want, cap, m->zs);
            else
                ok(m, CK_ZONE_REPORT, 0);
        }
        geo_ok &= start == want && cap <= m->zs;
        if (model <= VS_BLK_Z_HA && role_on(m, CK_ZONE_REPORT)) {
            bool fits = type == VS_BLK_ZT_CONV ||
                        (model == VS_BLK_Z_HM && type == VS_BLK_ZT_SWR) ||
                        (model == VS_BLK_Z_HA && type == VS_BLK_ZT_SWP);
            if (!fits)
                bad(m, CK_ZONE_REPORT, 1, cx, "zone types that fit the reported model",
                    "model %u but zone at %" PRIu64 " has type %u", model, start, type);
            else
                ok(m, CK_ZONE_REPORT, 1);
        }
        if (!geo_ok || want / m->zs >= m->nz)
            continue;
        mzone *z = &m->zn[want / m->zs];
        if (z->se_pending && type != VS_BLK_ZT_CONV && state != VS_BLK_ZS_RDONLY &&
            state != VS_BLK_ZS_OFFLINE && role_on(m, CK_ZONE_SE)) {
            if (state != VS_BLK_ZS_EMPTY || wp != start)
                bad(m, CK_ZONE_SE, 1, cx, "a secure-erased zone reported empty, wp at its start",
                    "zone at %" PRIu64 " in state %u, write pointer %" PRIu64, start, state, wp);
            else
                ok(m, CK_ZONE_SE, 1);
        }
        *z = (mzone){.known = true, .type = type, .state = state, .wp = wp, .cap = cap};
        /* where unwritten data starts: the write pointer; unknown for a full zone */
        z->uw = type != VS_BLK_ZT_CONV && z_wp_valid(state) ? wp : UINT64_MAX;
        if (type == VS_BLK_ZT_CONV || !z_wp_valid(state))
            z->wp = UINT64_MAX;
    }
    if (!geo_ok)
        z_forget_all(m);
}

/* Unwritten sectors of an OK read: one fill byte, the same all run. */
static void zone_check_unwritten(vs_monitors *m, const chain_rec *c, uint64_t nsec, ctx cx)
{
    uint64_t a = c->blk_sector, b = a + nsec;
    for (uint64_t zi = a / m->zs; zi < m->nz && zi * m->zs < b; zi++) {
        const mzone *z = &m->zn[zi];
        if (!z->known || z->type == VS_BLK_ZT_CONV || z->uw == UINT64_MAX)
            continue;
        uint64_t lo = z->uw > a ? z->uw : a, hi = zi * m->zs + zlen(m, zi);
        if (hi > b)
            hi = b;
        if (lo >= hi || hi - lo > 2048)
            continue; /* nothing unwritten in range, or more than we care to scan */
        uint8_t buf[VS_BLK_SECTOR];
        bool good = true;
        for (uint64_t s = lo; s < hi && good; s++) {
            if (!chain_read(m, c, true, (s - a) * VS_BLK_SECTOR, buf, sizeof buf))
                return;
            if (!m->z_fill_known) {
                m->z_fill = buf[0];
                m->z_fill_known = true;
            }
            for (unsigned k = 0; k < sizeof buf; k++)
                if (buf[k] != m->z_fill) {
                    for (int st = 0; st < 2; st++)
                        bad(m, CK_ZONE_UNWRITTEN, st, cx, "unwritten data reads as the fill byte",
                            "sector %" PRIu64 " (write pointer %" PRIu64 ") byte %u = 0x%02x, "
                            "fill 0x%02x", s, z->uw, k, buf[k], m->z_fill);
                    good = false;
                    break;
                }
        }
        if (good) {
            ok(m, CK_ZONE_UNWRITTEN, 0);
            ok(m, CK_ZONE_UNWRITTEN, 1);
        }
    }
}

/* A SECURE_ERASE completed (solo, ZONED negotiated): whole zones only; its zones must
 * then be reported empty. */
static void zone_secure_erase_done(vs_monitors *m, const chain_rec *c, uint8_t st, ctx cx)
{
    uint64_t nsegs = (c->out_bytes - 16) / 16;
    bool partial = false;
    for (uint64_t i = 0; i < nsegs && i < 256; i++) {
        uint64_t a, b;
        if (!dwz_seg(m, c, i, &a, &b))
            return;
        if (a % m->zs || ((b - a) % m->zs && b != m->capacity))
            partial = true; /* starts inside a zone, or ends inside one (not the last) */
    }
    if (c->blk_dwz_flags)
        partial = false; /* flags are judged by blk-dwz-flags-unsupp */
    if (partial && role_on(m, CK_ZONE_SE)) {
        if (st == VS_BLK_S_OK)
            bad(m, CK_ZONE_SE, 0, cx, "no OK for a secure erase of part of a zone",
                "secure erase of %" PRIu64 " segment(s) not in whole zones completed with OK",
                nsegs);
        else
            ok(m, CK_ZONE_SE, 0);
    }
    for (uint64_t i = 0; i < nsegs && i < 256; i++) {
        uint64_t a, b;
        if (!dwz_seg(m, c, i, &a, &b))
            return;
        for (uint64_t zi = a / m->zs; zi < m->nz && zi * m->zs < b; zi++) {
            mzone *z = &m->zn[zi];
            bool whole = a <= zi * m->zs && zi * m->zs + zlen(m, zi) <= b;
            if (st == VS_BLK_S_OK && !partial && whole && z->known && z->type != VS_BLK_ZT_CONV &&
                z->state != VS_BLK_ZS_RDONLY && z->state != VS_BLK_ZS_OFFLINE) {
                z->state = VS_BLK_ZS_EMPTY;
                z->wp = z->uw = zi * m->zs;
                z->se_pending = true;
            } else if (st == VS_BLK_S_OK && !partial && whole && !z->known) {
                z->se_pending = true; /* whatever it was, a reset leaves it empty */
            } else if (st == VS_BLK_S_OK || st == VS_BLK_S_IOERR) {
                z->known = z->se_pending = false;
            }
        }
    }
}

/* A blk chain completed with status st while ZONED is negotiated. */
static void zone_on_used(vs_monitors *m, chain_rec *c, uint8_t st, ctx cx)
{
    if (!c->z_counted)
        return;
    c->z_counted = false;
    if (m->z_live)
        m->z_live--;
    uint32_t t = c->blk_type;
    bool changes = t != VS_BLK_T_IN && t != VS_BLK_T_ZONE_REPORT && t != VS_BLK_T_GET_ID &&
                   t != VS_BLK_T_FLUSH;
    bool solo = c->z_solo && c->z_seq == m->z_seq;
    if (!solo) {
        if (changes)
            z_forget_all(m);
        return;
    }
    if (!z_ready(m))
        return;
    uint64_t s = c->blk_sector, zs = m->zs, zi = s / zs;
    if (t == VS_BLK_T_ZONE_REPORT) {
        if (st == VS_BLK_S_OK)
            zone_report_done(m, c, cx);
        return;
    }
    if (t == VS_BLK_T_SECURE_ERASE && has(neg(m), VS_BLK_F_SECURE_ERASE)) {
        zone_secure_erase_done(m, c, st, cx);
        return;
    }
    if (t == VS_BLK_T_ZONE_RESET_ALL) {
        if (st != VS_BLK_S_OK) {
            z_forget_all(m);
            return;
        }
        for (uint64_t i = 0; i < m->nz; i++) {
            mzone *z = &m->zn[i];
            z->se_pending = false;
            if (z->known && z->type != VS_BLK_ZT_CONV &&
                (z_wp_valid(z->state) || z->state == VS_BLK_ZS_FULL))
                z->state = VS_BLK_ZS_EMPTY, z->wp = z->uw = i * zs;
        }
        return;
    }
    bool mgmt = t == VS_BLK_T_ZONE_OPEN || t == VS_BLK_T_ZONE_CLOSE ||
                t == VS_BLK_T_ZONE_FINISH || t == VS_BLK_T_ZONE_RESET;
    bool append = t == VS_BLK_T_ZONE_APPEND;
    if (!mgmt && !append && t != VS_BLK_T_IN && t != VS_BLK_T_OUT) {
        if (changes)
            z_forget_all(m);
        return;
    }
    if (s >= m->capacity || (mgmt && s % zs)) { /* driver errors: not judged */
        if (changes && st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    uint64_t data = append || t == VS_BLK_T_OUT ? c->out_bytes - 16
                                                : (t == VS_BLK_T_IN ? c->in_bytes - 1 : 0);
    if (append && c->in_bytes != VS_BLK_APPEND_IN) { /* not an append the model knows */
        if (st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    uint64_t nsec = data / VS_BLK_SECTOR, last = (s + (nsec ? nsec : 1) - 1) / zs;
    if (data % VS_BLK_SECTOR || s + nsec > m->capacity || last >= m->nz) {
        if (changes && st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    mzone *z = &m->zn[zi];
    zjudge j = {.n = 0};
    const uint8_t INV = VS_BLK_S_ZONE_INVALID_CMD, UWP = VS_BLK_S_ZONE_UNALIGNED_WP;
    bool all_known = true, offline = false;
    for (uint64_t i = zi; i <= (mgmt || append ? zi : last); i++) {
        all_known &= m->zn[i].known;
        offline |= m->zn[i].known && m->zn[i].state == VS_BLK_ZS_OFFLINE;
    }
    if (offline)
        zj_add(&j, CK_ZONE_IO, 8, INV, INV, "an offline zone");
    uint32_t mas = zc_has(m, VS_BLK_CFG_MAX_APPEND_SECTORS, 4)
                       ? zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS) : UINT32_MAX;
    uint32_t wg = zc_has(m, VS_BLK_CFG_WRITE_GRANULARITY, 4)
                      ? zc32(m, VS_BLK_CFG_WRITE_GRANULARITY) : 0;
    bool autoclose = false, size_rule = false;
    uint64_t at = s; /* where the data goes */
    if (append && mas != UINT32_MAX && nsec) {
        if (mas == 0)
            zj_add(&j, CK_ZONE_IO, 3, VS_BLK_S_UNSUPP, VS_BLK_S_UNSUPP,
                   "an append with max_append_sectors 0");
        else if (nsec > mas)
            zj_add(&j, CK_ZONE_IO, 4, INV, INV, "an append over max_append_sectors");
        size_rule = true;
    }
    if (z->known && !offline) {
        uint64_t zstart = zi * zs;
        if (mgmt && z->type == VS_BLK_ZT_CONV) {
            zj_add(&j, CK_ZONE_MGMT, 0, INV, INV, "zone management of a conventional zone");
        } else if (mgmt) {
            uint8_t zst = z->state;
            if (t == VS_BLK_T_ZONE_OPEN && (zst == VS_BLK_ZS_FULL || zst == VS_BLK_ZS_RDONLY))
                zj_add(&j, CK_ZONE_MGMT, 1, INV, INV, "opening a full or read-only zone");
            else if (t == VS_BLK_T_ZONE_OPEN)
                zj_resources(m, &j, z, 0, st, cx, &autoclose);
            if (t == VS_BLK_T_ZONE_CLOSE &&
                (zst == VS_BLK_ZS_EMPTY || zst == VS_BLK_ZS_FULL || zst == VS_BLK_ZS_RDONLY))
                zj_add(&j, CK_ZONE_MGMT, 2, INV, INV, "closing an empty, full or read-only zone");
            if (t == VS_BLK_T_ZONE_FINISH && zst == VS_BLK_ZS_RDONLY)
                zj_add(&j, CK_ZONE_MGMT, 3, INV, INV, "finishing a read-only zone");
            if (t == VS_BLK_T_ZONE_RESET && zst == VS_BLK_ZS_RDONLY)
                zj_add(&j, CK_ZONE_MGMT, 4, INV, INV, "resetting a read-only zone");
        } else if (append) {
            if (z->type != VS_BLK_ZT_SWR)
                zj_add(&j, CK_ZONE_IO, 0, INV, INV, "an append to a zone that is not SWR");
            else if (s != zstart)
                zj_add(&j, CK_ZONE_IO, 1, INV, INV, "an append not at the zone start");
            else if (z->state == VS_BLK_ZS_RDONLY)
                zj_add(&j, CK_ZONE_IO, 7, INV, INV, "an append to a read-only zone");
            else if (z->state == VS_BLK_ZS_FULL)
                zj_add(&j, CK_ZONE_IO, 2, INV, INV, "an append to a full zone");
            else if (z_wp_valid(z->state) && nsec) {
                at = z->wp;
                if (wg && (nsec * VS_BLK_SECTOR) % wg)
                    zj_add(&j, CK_ZONE_LIMITS, 1, UWP, INV, "an append not a multiple of "
                           "write_granularity");
                if (at + nsec > zstart + zlen(m, zi))
                    zj_add(&j, CK_ZONE_IO, 5, INV, INV, "an append that crosses the zone end");
                else if (at + nsec > zstart + z->cap)
                    zj_add(&j, CK_ZONE_IO, 2, INV, INV, "an append past the zone capacity");
                if (!j.n)
                    zj_resources(m, &j, z, 1, st, cx, &autoclose);
            }
        } else if (t == VS_BLK_T_IN) {
            if (last != zi && z->type == VS_BLK_ZT_SWR)
                zj_add(&j, CK_ZONE_IO, 5, INV, INV, "a read across a SWR zone boundary");
        } else if (z->type != VS_BLK_ZT_CONV && nsec) { /* OUT */
            /* several rules may apply at once: any status one of them allows will do */
            bool off_wp = z->type == VS_BLK_ZT_SWR && z_wp_valid(z->state) && s != z->wp;
            if (last != zi) {
                zj_add(&j, CK_ZONE_IO, 5, INV, INV, "a write across a zone boundary");
                if (off_wp)
                    zj_add(&j, CK_ZONE_IO, 6, UWP, UWP, "a write away from the write pointer");
            } else if (z->state == VS_BLK_ZS_RDONLY) {
                zj_add(&j, CK_ZONE_IO, 7, INV, INV, "a write to a read-only zone");
            } else if (z->state == VS_BLK_ZS_FULL) {
                zj_add(&j, CK_ZONE_IO, 2, INV, UWP, "a write to a full zone");
            } else if (z_wp_valid(z->state)) {
                if (wg && ((s * VS_BLK_SECTOR) % wg || (nsec * VS_BLK_SECTOR) % wg))
                    zj_add(&j, CK_ZONE_LIMITS, 1, UWP, INV, "a write not aligned to "
                           "write_granularity");
                if (off_wp)
                    zj_add(&j, CK_ZONE_IO, 6, UWP, UWP, "a write away from the write pointer");
                if (s + nsec > zstart + z->cap)
                    zj_add(&j, CK_ZONE_IO, 2, INV, INV, "a write past the zone capacity");
                if (!j.n)
                    zj_resources(m, &j, z, 1, st, cx, &autoclose);
            }
        }
    }
    bool predicted = true;
    if (j.n) {
        predicted = zj_settle(m, &j, st, cx, t, s);
    } else if (size_rule && all_known && z->known && z->type == VS_BLK_ZT_SWR &&
               z_wp_valid(z->state) && role_on(m, CK_ZONE_LIMITS)) {
        /* a valid append within max_append_sectors: not refused as too big */
        if (st == VS_BLK_S_ZONE_INVALID_CMD || st == VS_BLK_S_UNSUPP)
            bad(m, CK_ZONE_LIMITS, 0, cx, "an append within max_append_sectors accepted",
                "%" PRIu64 " sectors (max_append_sectors %" PRIu32 ") completed with %s", nsec,
                mas, zs_name(st));
        else
            ok(m, CK_ZONE_LIMITS, 0);
    }
    if (!all_known || !predicted) {
        if (changes && st == VS_BLK_S_OK) /* the model cannot say what happened */
            for (uint64_t i = zi; i <= last && i < m->nz; i++)
                m->zn[i].known = false;
        if (!predicted && autoclose)
            z_mark_iopen_unknown(m);
        return;
    }
    if (st != VS_BLK_S_OK)
        return; /* failed requests change nothing */
    if (autoclose)
        z_mark_iopen_unknown(m);
    if (t == VS_BLK_T_IN) {
        if (role_on(m, CK_ZONE_UNWRITTEN))
            zone_check_unwritten(m, c, nsec, cx);
        return;
    }
    if (append) {
        uint8_t b[8];
        if (z_wp_valid(z->state) && chain_read(m, c, true, 0, b, 8) &&
            role_on(m, CK_ZONE_APPEND_SECTOR)) {
            uint64_t as = 0;
            for (int i = 7; i >= 0; i--)
                as = as << 8 | b[i];
            if (as != z->wp) {
                bad(m, CK_ZONE_APPEND_SECTOR, 0, cx, "append_sector = the write pointer",
                    "append_sector %" PRIu64 ", write pointer %" PRIu64, as, z->wp);
                z->known = false;
                return;
            }
            ok(m, CK_ZONE_APPEND_SECTOR, 0);
        }
        if (z_wp_valid(z->state))
            z_advance(m, zi, z->wp, nsec);
        else
            z->known = false;
        return;
    }
    if (t == VS_BLK_T_OUT) {
        if (z->type == VS_BLK_ZT_SWP && z->wp != s)
            z->known = false; /* a random write: where the device puts the pointer is its call */
        else if (z->type != VS_BLK_ZT_CONV)
            z_advance(m, zi, at, nsec);
        return;
    }
    uint64_t zstart = zi * zs;
    z->se_pending = false;
    switch (t) { /* management that succeeded */
    case VS_BLK_T_ZONE_OPEN:
        if (z_wp_valid(z->state))
            z->state = VS_BLK_ZS_EOPEN;
        break;
    case VS_BLK_T_ZONE_CLOSE:
        if (z->state == VS_BLK_ZS_IOPEN || z->state == VS_BLK_ZS_EOPEN)
            z->state = z->wp == zstart ? VS_BLK_ZS_EMPTY : VS_BLK_ZS_CLOSED;
        break;
    case VS_BLK_T_ZONE_FINISH: /* data from the old write pointer on stays unwritten */
        if (z_wp_valid(z->state)) {
            z->uw = z->wp;
            z->state = VS_BLK_ZS_FULL;
            z->wp = UINT64_MAX;
        }
        break;
    default: /* VS_BLK_T_ZONE_RESET */
        if (z->type != VS_BLK_ZT_CONV && z->state != VS_BLK_ZS_RDONLY &&
            z->state != VS_BLK_ZS_OFFLINE)
            z->state = VS_BLK_ZS_EMPTY, z->wp = z->uw = zstart;
        break;
    }
}

/* Zoned config bytes read (72..95), and the checks on them. */
static bool overlaps(uint32_t a, uint32_t al, uint32_t b, uint32_t bl);
static void zone_config_read(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    if (off == VS_BLK_CFG_SE_SECTOR_ALIGN && len == 4) {
        m->se_align = (uint32_t)val;
        m->se_align_known = true;
    }
    for (uint32_t b = off; b < off + len; b++) {
        if (b < VS_BLK_CFG_ZONE_SECTORS || b >= VS_BLK_CFG_SIZE_ZONED)
            continue;
        uint8_t v = (uint8_t)(val >> (8 * (b - off)));
        m->zc[b - VS_BLK_CFG_ZONE_SECTORS] = v;
        m->zc_known[b - VS_BLK_CFG_ZONE_SECTORS] = true;
        if (b == VS_BLK_CFG_ZONED_MODEL && !(m->status_w & VS_STATUS_FEATURES_OK)) {
            m->z_model_pre = v;
            m->z_model_pre_known = true;
        }
        /* ZONED declined by the driver of a host-aware / none-model device */
        if ((m->status_w & VS_STATUS_FEATURES_OK) && m->fok_confirmed && m->offered_known &&
            has(m->offered, VS_BLK_F_ZONED) && !has(m->drv_features, VS_BLK_F_ZONED) &&
            m->z_model_pre_known && m->z_model_pre != VS_BLK_Z_HM && role_on(m, CK_ZONED_FOK)) {
            if (v)
                bad(m, CK_ZONED_FOK, 1, NOCTX, "zoned fields 0 once ZONED is declined",
                    "config byte %" PRIu32 " = 0x%02x (model %u, ZONED declined)", b, v,
                    m->z_model_pre);
            else
                ok(m, CK_ZONED_FOK, 1);
        }
        if (b > VS_BLK_CFG_ZONED_MODEL && role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
            has(m->offered, VS_BLK_F_ZONED)) {
            if (v)
                bad(m, CK_ZONED_CONFIG, 0, NOCTX, "zoned.unused2 reads 0",
                    "config byte %" PRIu32 " = 0x%02x", b, v);
            else
                ok(m, CK_ZONED_CONFIG, 0);
        }
    }
    if (overlaps(off, len, VS_BLK_CFG_MAX_APPEND_SECTORS, 4) &&
        zc_has(m, VS_BLK_CFG_MAX_APPEND_SECTORS, 4) && m->segs_known == 3 &&
        role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
        has(m->offered, VS_BLK_F_SEG_MAX) && has(m->offered, VS_BLK_F_SIZE_MAX)) {
        uint64_t mas = zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS);
        uint64_t lim = (uint64_t)m->seg_max * m->size_max;
        if (mas * VS_BLK_SECTOR > lim)
            bad(m, CK_ZONED_CONFIG, 1, NOCTX, "max_append_sectors * 512 <= seg_max * size_max",
                "max_append_sectors %" PRIu64 ", seg_max %" PRIu32 ", size_max %" PRIu32, mas,
                m->seg_max, m->size_max);
        else
            ok(m, CK_ZONED_CONFIG, 1);
    }
    if (m->se_align_known && zc_has(m, VS_BLK_CFG_ZONE_SECTORS, 4) &&
        zc32(m, VS_BLK_CFG_ZONE_SECTORS) && role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
        has(m->offered, VS_BLK_F_SECURE_ERASE) && has(m->offered, VS_BLK_F_ZONED) &&
        (overlaps(off, len, VS_BLK_CFG_SE_SECTOR_ALIGN, 4) ||
         overlaps(off, len, VS_BLK_CFG_ZONE_SECTORS, 4))) {
        uint32_t zs = zc32(m, VS_BLK_CFG_ZONE_SECTORS);
        if (m->se_align % zs)
            bad(m, CK_ZONED_CONFIG, 2, NOCTX,
                "secure_erase_sector_alignment a multiple of zone_sectors",
                "secure_erase_sector_alignment %" PRIu32 ", zone_sectors %" PRIu32, m->se_align,
                zs);
        else
            ok(m, CK_ZONED_CONFIG, 2);
    }
}

/* ------------------------------------------------------------ end-of-window checks */

/* EVENT_IDX, split, in-process device: is the used_event window of q being judged? The
 * device publishes and decides in one step of the simulation, so the used_event value it
 * read is the one the driver last published (VS_EV_USED_EVENT). */
static bool ei_judged(const vs_monitors *m, const qstate *q)
{
    return q->setup && q_split(q) && m->irq_observable && !m->async_device &&
           has(neg(m), VS_F_EVENT_IDX) && (m->status_w & VS_STATUS_DRIVER_OK) &&
           role_on(m, CK_IRQ_EI_REQUIRED);
}

/* Ends the current used_event window: if the used idx moved from at-or-before used_event
 * to past it while that value was published, the device crossed it and owes an interrupt
 * (by the end of the window + the interrupt latency, unless one came in the window). */
static void ei_close_window(vs_monitors *m, int32_t qi, qstate *q, bool reopen)
{
    uint16_t u;
    if (!ei_judged(m, q) || !used_idx_mem(m, q, &u)) {
        q->ue_known = false;
        return;
    }
    if (q->ue_known && vs_vq_need_event(q->ue, u, q->ue_base)) {
        uint16_t fl = 0;
        ld16(m, q->l.driver_gpa, &fl);
        bool flags_no_irq = fl & 1;
        if (q->irq_count > q->ue_irqs) {
            ok(m, CK_IRQ_EI_REQUIRED, 0);
            if (flags_no_irq)
                ok(m, CK_IRQ_EI_REQUIRED, 1);
        } else if (!q->due) {
            q->due = true;
            m->n_due++;
            q->due_flags = flags_no_irq;
            q->due_by = (m->cur ? m->cur->t_ns : m->last_t) + m->irq_latency_ns;
            q->due_ue = q->ue;
            q->due_idx = u;
        }
    }
    (void)qi;
    q->ue_known = false;
    if (reopen) {
        q->ue_known = true;
        q->ue_base = u;
        q->ue_irqs = q->irq_count;
    }
}

/* A crossing whose interrupt did not come within the latency window is a violation
 * (final: at a reset, queue disable or the end of the run, one still in time is dropped,
 * since a reset cancels pending interrupts). */
static void ei_due_expire(vs_monitors *m, int32_t qi, qstate *q, bool final)
{
    if (!q->due)
        return;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if (now <= q->due_by && !final)
        return;
    if (now > q->due_by) {
        ctx cx = {.queue = qi, .has_idx = true, .idx = q->due_idx};
        bad(m, CK_IRQ_EI_REQUIRED, 0, cx, "an interrupt once used idx passes used_event",
            "used idx reached %u past used_event %u; no interrupt within %" PRIu64 " ns",
            q->due_idx, q->due_ue, m->irq_latency_ns);
        if (q->due_flags)
            bad(m, CK_IRQ_EI_REQUIRED, 1, cx, "avail.flags NO_INTERRUPT disregarded with EVENT_IDX",
                "no interrupt for used idx %u past used_event %u while avail.flags had "
                "NO_INTERRUPT", q->due_idx, q->due_ue);
    }
    q->due = false;
    if (m->n_due)
        m->n_due--;
}

static void on_used_event(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    ei_close_window(m, ev->queue, q, true);
    if (q->ue_known)
        q->ue = (uint16_t)ev->idx;
}

/* Entries the driver collected while interrupts were enabled must have been announced
 * (split only; evaluated at reset, queue disable and finish). */
static void check_irq_required(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || !q_split(q) || !m->irq_observable || m->async_device || q->masked)
        return;
    if (!(m->status_w & VS_STATUS_DRIVER_OK))
        return;
    uint16_t covered = q->irq_base;
    if (ahead16(q->unmask_base, covered))
        covered = q->unmask_base;
    if (has(neg(m), VS_F_EVENT_IDX)) {
        ei_close_window(m, qi, q, false);
        ei_due_expire(m, qi, q, true);
    } else {
        if (!role_on(m, CK_IRQ_FLAGS_REQUIRED))
            return;
        /* Would used_event (which the device must disregard) have suppressed it? */
        uint16_t ue;
        bool ue_says_no = ld16(m, q->l.driver_gpa + 4 + 2ull * q->l.size, &ue) &&
                          !vs_vq_need_event(ue, q->collected, covered);
        if (ahead16(q->collected, covered)) {
            ctx cx = {.queue = qi, .has_idx = true, .idx = q->collected};
            bad(m, CK_IRQ_FLAGS_REQUIRED, 0, cx,
                "an interrupt after used entries while avail.flags = 0",
                "used idx %u, last interrupt covered %u", q->collected, covered);
            if (ue_says_no)
                bad(m, CK_IRQ_FLAGS_REQUIRED, 1, cx, "used_event disregarded without EVENT_IDX",
                    "no interrupt for used idx %u -> %u; used_event %u would suppress it",
                    covered, q->collected, ue);
        } else if (q->irq_count) {
            ok(m, CK_IRQ_FLAGS_REQUIRED, 0);
            ok(m, CK_IRQ_FLAGS_REQUIRED, 1);
        }
    }
}

/* ------------------------------------------------------------ queue reset */

/* Hash of the ring areas a device writes (split: used area; packed: descriptors and the
 * device event area). */
static bool qr_hash(vs_monitors *m, const vs_vq_layout *l, uint64_t *h)
{
    vs_vq_area_sizes s;
    if (vs_vq_area_sizes_for(l->format, l->size, &s, NULL) < 0)
        return false;
    uint64_t acc = FNV0;
    uint8_t buf[4096];
    struct { uint64_t gpa, n; } a[2] = {{l->device_gpa, s.device_bytes},
                                        {l->desc_gpa, l->format == VS_RING_PACKED ? s.desc_bytes : 0}};
    for (int i = 0; i < 2; i++)
        for (uint64_t pos = 0; pos < a[i].n;) {
            uint64_t take = a[i].n - pos < sizeof buf ? a[i].n - pos : sizeof buf;
            if (vs_gmem_read(m->gm, a[i].gpa + pos, buf, take, NULL) < 0)
                return false;
            acc = hash_words(acc, buf, take);
            pos += take;
        }
    *h = acc;
    return true;
}

/* The old rings of a reset queue must stay as they were (the driver keeps them
 * allocated until its next reset of that queue or of the device). */
static void qr_judge_old(vs_monitors *m, int32_t qi, bool last)
{
    qreset *r = &m->qr[qi];
    uint64_t h;
    if (!r->old_valid || !qr_hash(m, &r->l, &h))
        return;
    if (h != r->hash) {
        /* once the queue is set up again, old rings in use mean the new configuration
         * was ignored */
        int k = r->reenabled ? (r->resized ? 2 : 1) : 0;
        bad(m, CK_QRESET, k, qctx(qi),
            k ? "a re-enabled queue uses the rings the driver set up"
              : "nothing written into a queue after its reset",
            "the old rings of queue %" PRId32 " (size %" PRIu32 ", device area 0x%" PRIx64
            ") changed after the queue reset%s", qi, r->l.size, r->l.device_gpa,
            r->reenabled ? " and its re-enable" : "");
        r->old_valid = false;
    } else if (last) {
        ok(m, CK_QRESET, 0);
        r->old_valid = false;
    }
}

static void qr_on_disable(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || !has(neg(m), VS_F_RING_RESET) || !role_on(m, CK_QRESET))
        return;
    qr_judge_old(m, qi, true);
    qreset *r = &m->qr[qi];
    *r = (qreset){.l = q->l, .await_enable = true};
    r->old_valid = qr_hash(m, &r->l, &r->hash);
}

static void qr_on_setup(vs_monitors *m, int32_t qi, uint32_t size)
{
    qreset *r = &m->qr[qi];
    qr_judge_old(m, qi, false);
    if (!r->await_enable)
        return;
    r->await_enable = false;
    r->fresh = true;
    r->reenabled = true;
    r->resized = size != r->l.size;
    r->fresh_left = r->resized ? 2 * size : 1;
}

/* A re-enabled queue that has not used anything yet went wrong (device error or an
 * invalid used element): it did not start afresh with the driver's configuration. */
static void qr_fresh_failed(vs_monitors *m, int32_t qi, const char *what)
{
    qreset *r = &m->qr[qi];
    if (!r->fresh || !role_on(m, CK_QRESET))
        return;
    r->fresh = false;
    bad(m, CK_QRESET, r->resized ? 2 : 1, qctx(qi),
        r->resized ? "a re-enabled queue uses the size the driver set"
                   : "a re-enabled queue starts from index 0",
        "%s on queue %" PRId32 ", set up again after a queue reset%s", what, qi,
        r->resized ? " with a new size" : "");
}

/* ------------------------------------------------------------ suspend */

static uint64_t su_rings_hash(vs_monitors *m, bool *okp)
{
    uint64_t acc = FNV0;
    *okp = true;
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        uint64_t h;
        if (!m->q[i].setup)
            continue;
        if (!qr_hash(m, &m->q[i].l, &h))
            *okp = false;
        acc = hash_words(acc, (const uint8_t *)&h, sizeof h);
    }
    return acc;
}

/* A config change seen during a suspension must be notified once the device resumed. */
static void su_judge_cfg(vs_monitors *m)
{
    if (!m->su_cfg_changed || !m->su_resumed)
        return;
    if (m->cfg_irq_count > m->su_cfg_irq_at_resume)
        ok(m, CK_SUSPEND, 3);
    else
        bad(m, CK_SUSPEND, 3, NOCTX, "a config change made while suspended notified on resume",
            "config generation changed during the suspension; no config interrupt since the "
            "resume");
    m->su_cfg_changed = m->su_resumed = false;
}

static void su_on_write(vs_monitors *m, uint8_t v)
{
    uint8_t base = m->su_base;
    m->su_base = v;
    if (!has(neg(m), VS_F_SUSPEND) || !role_on(m, CK_SUSPEND))
        return;
    uint8_t added = v & ~base;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if ((added & VS_STATUS_SUSPEND) && !(base & VS_STATUS_DRIVER_OK)) {
        m->su_early = true;
    } else if ((added & VS_STATUS_SUSPEND) && m->su == SU_NONE) {
        su_judge_cfg(m);
        m->su = SU_REQ;
        m->su_t = now;
        m->su_reads = 0;
    } else if (m->su == SU_DONE && (v & VS_STATUS_DRIVER_OK)) {
        bool hok;
        uint64_t h = su_rings_hash(m, &hok);
        if (m->su_hash_ok && hok && h != m->su_hash)
            bad(m, CK_SUSPEND, 1, NOCTX, "the rings untouched while suspended",
                "ring memory the device writes changed while the device showed SUSPEND");
        else if (m->su_hash_ok && hok)
            ok(m, CK_SUSPEND, 1);
        m->su = SU_RESUMING;
        m->su_t = now;
        m->su_reads = 0;
        m->su_cfg_irq_at_resume = m->cfg_irq_count;
    }
}

static void su_on_read(vs_monitors *m, uint8_t v)
{
    m->su_base = v;
    if (!has(neg(m), VS_F_SUSPEND) || !role_on(m, CK_SUSPEND))
        return;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if (m->su_early) {
        m->su_early = false;
        if (v & VS_STATUS_SUSPEND)
            bad(m, CK_SUSPEND, 0, NOCTX, "SUSPEND before DRIVER_OK disregarded",
                "status 0x%02x shows SUSPEND written before DRIVER_OK", v);
        else
            ok(m, CK_SUSPEND, 0);
    }
    if (m->su != SU_REQ && m->su != SU_RESUMING)
        return;
    bool req = m->su == SU_REQ;
    int k = req ? 4 : 5;
    bool done = req ? (v & VS_STATUS_SUSPEND) && !(v & VS_STATUS_DRIVER_OK)
                    : (v & VS_STATUS_DRIVER_OK) && !(v & VS_STATUS_SUSPEND);
    if ((v & VS_STATUS_DEVICE_NEEDS_RESET) || done) {
        ok(m, CK_SUSPEND, k);
        m->su = done && req ? SU_DONE : SU_NONE;
        if (done && req) {
            m->su_hash = su_rings_hash(m, &m->su_hash_ok);
            m->su_gate_reported = m->su_cfg_irq_reported = false;
        }
        if (done && !req)
            m->su_resumed = true;
        return;
    }
    if (++m->su_reads > SUSPEND_SETTLE_READS || now - m->su_t > SUSPEND_SETTLE_NS) {
        bad(m, CK_SUSPEND, k, NOCTX,
            req ? "SUSPEND shown (DRIVER_OK clear) or DEVICE_NEEDS_RESET"
                : "DRIVER_OK shown (SUSPEND clear) or DEVICE_NEEDS_RESET",
            "status 0x%02x after %" PRIu32 " reads and %" PRIu64 " ns", v, m->su_reads,
            now - m->su_t);
        m->su = SU_NONE;
    }
}

static void su_on_gen(vs_monitors *m, uint64_t gen)
{
    if (m->gen_known && gen != m->gen_last && (m->su == SU_DONE || m->su == SU_RESUMING))
        m->su_cfg_changed = true;
    m->gen_known = true;
    m->gen_last = gen;
}

/* End of a run or reset: a handshake the device never finished, a pending notification. */
static void su_end(vs_monitors *m)
{
    if (role_on(m, CK_SUSPEND) && (m->su == SU_REQ || m->su == SU_RESUMING) && m->su_reads)
        bad(m, CK_SUSPEND, m->su == SU_REQ ? 4 : 5, NOCTX,
            m->su == SU_REQ ? "the suspend completes" : "the resume completes",
            "status never showed it (%" PRIu32 " reads)", m->su_reads);
    if (role_on(m, CK_SUSPEND))
        su_judge_cfg(m);
    m->su = SU_NONE;
    m->su_early = m->su_cfg_changed = m->su_resumed = false;
    m->su_base = 0;
}

static void end_window(vs_monitors *m)
{
    su_end(m);
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        qr_judge_old(m, (int32_t)i, true);
        m->qr[i].await_enable = m->qr[i].fresh = false;
    }
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        check_irq_required(m, (int32_t)i, &m->q[i]);
        pk_check_all(m, (int32_t)i, &m->q[i]);
    }
    if (m->needs_reset_pending && role_on(m, CK_NEEDS_RESET_IRQ)) {
        if (m->cfg_irq_count > m->cfg_irq_at_driver_ok)
            ok(m, CK_NEEDS_RESET_IRQ, 0);
        else
            bad(m, CK_NEEDS_RESET_IRQ, 0, NOCTX, "a config-change interrupt",
                "DEVICE_NEEDS_RESET with DRIVER_OK set and no config interrupt");
        m->needs_reset_pending = false;
    }
    if (m->dev_error_pending && m->dev_error_read_without && role_on(m, CK_ERROR_NEEDS_RESET))
        bad(m, CK_ERROR_NEEDS_RESET, 0, NOCTX, "DEVICE_NEEDS_RESET after a device error",
            "status reads without DEVICE_NEEDS_RESET");
    m->dev_error_pending = false;
    m->dev_error_read_without = false;
}

/* ------------------------------------------------------------ feature tables */

static bool legacy_bit(uint32_t dev, unsigned bit)
{
    if (bit == 24 || bit == 27 || bit == 30)  /* NOTIFY_ON_EMPTY, ANY_LAYOUT, BAD_FEATURE */
        return true;
    if (dev == VS_DEV_BLK && (bit == 0 || bit == 7))  /* BARRIER, SCSI */
        return true;
    return false;
}

static uint64_t invalid_bits(uint32_t dev, uint64_t f)
{
    uint64_t badbits = 0;
    for (unsigned b = 0; b < 64; b++)
        if (has(f, b) && (legacy_bit(dev, b) || !vs_feature_name(dev, b)))
            badbits |= VS_BIT(b);
    return badbits;
}

static void on_features_read(vs_monitors *m, const vs_event *ev)
{
    m->offered = ev->val;
    m->offered_known = true;
    if (m->offer_checked_valid && m->offer_checked == ev->val)
        return;
    m->offer_checked = ev->val;
    m->offer_checked_valid = true;
    uint64_t f = ev->val;
    if (role_on(m, CK_OFFER_VALID)) {
        uint64_t b = invalid_bits(m->device_id, f);
        if (b)
            bad(m, CK_OFFER_VALID, 0, NOCTX, "only defined, non-legacy feature bits",
                "offered 0x%016" PRIx64 ", invalid bits 0x%016" PRIx64, f, b);
        else
            ok(m, CK_OFFER_VALID, 0);
    }
    if (role_on(m, CK_OFFER_VERSION_1)) {
        if (has(f, VS_F_VERSION_1))
            ok(m, CK_OFFER_VERSION_1, 0);
        else
            bad(m, CK_OFFER_VERSION_1, 0, NOCTX, "VIRTIO_F_VERSION_1 (bit 32) offered",
                "offered 0x%016" PRIx64, f);
    }
    if (role_on(m, CK_OFFER_SR_IOV)) {
        if (has(f, VS_F_SR_IOV) && !m->sriov_capable)
            bad(m, CK_OFFER_SR_IOV, 0, NOCTX, "VIRTIO_F_SR_IOV only with an SR-IOV capability",
                "VIRTIO_F_SR_IOV (bit 37) offered (0x%016" PRIx64 ") without one", f);
        else
            ok(m, CK_OFFER_SR_IOV, 0);
    }
    if (m->device_id == VS_DEV_BLK) {
        if (role_on(m, CK_OFFER_DEPS)) {
            if (has(f, VS_BLK_F_CONFIG_WCE) && !has(f, VS_BLK_F_FLUSH)) {
                bad(m, CK_OFFER_DEPS, 0, NOCTX, "CONFIG_WCE offered only with FLUSH",
                    "CONFIG_WCE without FLUSH (offered 0x%016" PRIx64 ")", f);
                bad(m, CK_OFFER_DEPS, 1, NOCTX, "CONFIG_WCE offered only with FLUSH",
                    "CONFIG_WCE without FLUSH (offered 0x%016" PRIx64 ")", f);
            } else {
                ok(m, CK_OFFER_DEPS, 0);
                ok(m, CK_OFFER_DEPS, 1);
            }
            /* ZONED needs FEATURES_OK to be negotiated: never on a legacy device */
            if (has(f, VS_BLK_F_ZONED) && !has(f, VS_F_VERSION_1))
                bad(m, CK_OFFER_DEPS, 2, NOCTX, "ZONED offered only with VERSION_1",
                    "ZONED offered by a legacy device (offered 0x%016" PRIx64 ")", f);
            else if (has(f, VS_BLK_F_ZONED))
                ok(m, CK_OFFER_DEPS, 2);
        }
        if (role_on(m, CK_BLK_FLUSH_OFFERED)) {
            if (has(f, VS_BLK_F_FLUSH))
                ok(m, CK_BLK_FLUSH_OFFERED, 0);
            else
                bad(m, CK_BLK_FLUSH_OFFERED, 0, NOCTX, "VIRTIO_BLK_F_FLUSH offered",
                    "offered 0x%016" PRIx64, f);
        }
    }
}

static void on_features_write(vs_monitors *m, const vs_event *ev)
{
    uint64_t f = ev->val;
    if (role_on(m, CK_D_FEAT_FROZEN) && m->fok_written) {
        if (f != m->drv_features)
            bad(m, CK_D_FEAT_FROZEN, 0, NOCTX, "driver features unchanged after FEATURES_OK",
                "0x%016" PRIx64 " -> 0x%016" PRIx64, m->drv_features, f);
        else
            ok(m, CK_D_FEAT_FROZEN, 0);
    }
    if (role_on(m, CK_D_INIT_ORDER) && !m->backend_view) {
        if (!(m->status_w & VS_STATUS_DRIVER))
            bad(m, CK_D_INIT_ORDER, 0, NOCTX,
                "features written after DRIVER and before FEATURES_OK",
                "features written with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_INIT_ORDER, 0);
    }
    if (m->offered_known) {
        uint64_t off = m->offered;
        if (role_on(m, CK_D_FEAT_SUBSET)) {
            if (f & ~off)
                bad(m, CK_D_FEAT_SUBSET, 0, NOCTX, "driver features within the offered set",
                    "accepted 0x%016" PRIx64 " not offered (offered 0x%016" PRIx64 ")",
                    f & ~off, off);
            else
                ok(m, CK_D_FEAT_SUBSET, 0);
        }
        if (role_on(m, CK_D_ACCEPT_VERSION_1) && has(off, VS_F_VERSION_1)) {
            if (has(f, VS_F_VERSION_1))
                ok(m, CK_D_ACCEPT_VERSION_1, 0);
            else
                bad(m, CK_D_ACCEPT_VERSION_1, 0, NOCTX, "VERSION_1 accepted when offered",
                    "driver features 0x%016" PRIx64, f);
        }
        if (role_on(m, CK_D_ACCEPT_RECOMMENDED)) {
            static const struct { unsigned bit; int k; uint32_t dev; } rec[] = {
                {VS_F_ACCESS_PLATFORM, 0, 0}, {VS_F_RING_PACKED, 1, 0},
                {VS_F_ORDER_PLATFORM, 2, 0}, {VS_F_NOTIF_CONFIG_DATA, 3, 0},
                {VS_BLK_F_RO, 4, VS_DEV_BLK},
            };
            for (size_t i = 0; i < sizeof rec / sizeof rec[0]; i++) {
                if (rec[i].dev && rec[i].dev != m->device_id)
                    continue;
                if (!has(off, rec[i].bit))
                    continue;
                if (has(f, rec[i].bit))
                    ok(m, CK_D_ACCEPT_RECOMMENDED, rec[i].k);
                else
                    bad(m, CK_D_ACCEPT_RECOMMENDED, rec[i].k, NOCTX,
                        "offered feature accepted", "%s offered but not accepted",
                        vs_feature_name(m->device_id, rec[i].bit));
            }
        }
    }
    if (role_on(m, CK_D_FEAT_RESERVED)) {
        uint64_t b = invalid_bits(m->device_id, f);
        if (b)
            bad(m, CK_D_FEAT_RESERVED, 0, NOCTX, "no undefined or reserved bits accepted",
                "accepted 0x%016" PRIx64 ", invalid 0x%016" PRIx64, f, b);
        else
            ok(m, CK_D_FEAT_RESERVED, 0);
    }
    m->drv_features = f;
    m->drv_features_written = true;
}

/* ------------------------------------------------------------ status */

static void do_reset(vs_monitors *m)
{
    end_window(m);
    /* the device has stopped: outstanding writes are over, done or not */
    for (uint64_t i = m->wl_total > WLOG_MAX ? m->wl_total - WLOG_MAX : 0; i < m->wl_total; i++)
        if (!m->wl[i % WLOG_MAX].done)
            m->wl[i % WLOG_MAX].done = ++m->blk_clock;
    m->wl_live_evicted = 0;
    rb_reset(m);
    if (m->z_live) /* zone requests in flight may or may not have happened */
        z_forget_all(m);
    m->z_live = 0;
    m->z_model_pre_known = false;
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        queue_drop(m, &m->q[i]);
    m->status_w = 0;
    m->failed_written = false;
    m->after_reset = true;
    m->await_reset_read = true;
    m->reset_zero_read = false;
    m->reset_nonzero_reads = 0;
    m->reset_t = m->cur ? m->cur->t_ns : m->last_t;
    m->saw_zero_after_reset = false;
    m->reset_seen = true;
    m->drv_features_written = false;
    m->fok_written = m->fok_confirmed = m->fok_await_read = m->fok_refused = false;
    m->needs_reset_pending = false;
    m->wce_first_read_done = false;
    m->spurious_kick = m->error_judged = false;
    for (size_t i = 0; i < sizeof m->cfg / sizeof m->cfg[0]; i++)
        m->cfg[i].known = m->early[i].known = false;
}

static void on_status_write(vs_monitors *m, const vs_event *ev)
{
    uint8_t v = (uint8_t)ev->val, cur = m->status_w;
    if (v == 0) {
        if (m->status_w != 0 || !m->await_reset_read)
            do_reset(m);
        return;
    }
    su_on_write(m, v);
    m->await_reset_read = false; /* a write ends the settle window */
    bool suspend = has(neg(m), VS_F_SUSPEND);
    if (role_on(m, CK_D_STATUS_MONOTONIC) && !suspend) {
        if ((v & cur) != cur)
            bad(m, CK_D_STATUS_MONOTONIC, 0, NOCTX, "status bits only added",
                "status 0x%02x written over 0x%02x", v, cur);
        else
            ok(m, CK_D_STATUS_MONOTONIC, 0);
    }
    uint8_t added = v & ~cur;
    if (role_on(m, CK_D_FAILED_RESET) && m->failed_written && !(v & VS_STATUS_FAILED))
        bad(m, CK_D_FAILED_RESET, 0, NOCTX, "a reset (status 0) after FAILED",
            "status 0x%02x written after FAILED without reset", v);
    else if (role_on(m, CK_D_FAILED_RESET) && (added & VS_STATUS_ACKNOWLEDGE) && m->reset_seen)
        ok(m, CK_D_FAILED_RESET, 0);
    if (role_on(m, CK_D_RESET_WAIT) && (added & VS_STATUS_ACKNOWLEDGE) && m->reset_seen) {
        if (m->saw_zero_after_reset)
            ok(m, CK_D_RESET_WAIT, 0);
        else
            bad(m, CK_D_RESET_WAIT, 0, NOCTX, "status read back as 0 before ACKNOWLEDGE",
                "ACKNOWLEDGE written without a 0 status read after reset");
    }
    if (role_on(m, CK_D_INIT_ORDER)) {
        const char *why = NULL;
        uint8_t have = cur | (v & ~added);
        if ((added & VS_STATUS_DRIVER) && !((have | added) & VS_STATUS_ACKNOWLEDGE))
            why = "DRIVER before ACKNOWLEDGE";
        else if ((added & VS_STATUS_FEATURES_OK) && !((have | added) & VS_STATUS_DRIVER))
            why = "FEATURES_OK before DRIVER";
        else if ((added & VS_STATUS_FEATURES_OK) && !m->drv_features_written)
            why = "FEATURES_OK before the driver features were written";
        else if ((added & VS_STATUS_DRIVER_OK) && !((have | added) & VS_STATUS_FEATURES_OK))
            why = "DRIVER_OK before FEATURES_OK";
        else if ((added & VS_STATUS_DRIVER_OK) && !m->fok_confirmed)
            why = "DRIVER_OK before FEATURES_OK was read back";
        if (why) {
            bad(m, CK_D_INIT_ORDER, 0, NOCTX,
                "ACKNOWLEDGE, DRIVER, features, FEATURES_OK, re-read, setup, DRIVER_OK", "%s", why);
            bad(m, CK_D_INIT_ORDER, 1, NOCTX, "status bits set in initialization order", "%s",
                why);
        } else if (added & (VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK |
                            VS_STATUS_DRIVER_OK)) {
            ok(m, CK_D_INIT_ORDER, 0);
            ok(m, CK_D_INIT_ORDER, 1);
        }
    }
    if (m->fok_refused && role_on(m, CK_D_ABANDON)) {
        if (added & VS_STATUS_DRIVER_OK)
            bad(m, CK_D_ABANDON, 0, NOCTX, "no DRIVER_OK after FEATURES_OK was refused",
                "DRIVER_OK written");
        if (added & VS_STATUS_FAILED) { /* gave up: both halves observed kept */
            ok(m, CK_D_ABANDON, 0);
            ok(m, CK_D_ABANDON, 1);
        }
    }
    if (added & VS_STATUS_FAILED)
        m->failed_written = true;
    if (added & VS_STATUS_FEATURES_OK) {
        m->fok_written = true;
        m->fok_await_read = true;
    }
    if (added & VS_STATUS_DRIVER_OK)
        m->cfg_irq_at_driver_ok = m->cfg_irq_count;
    m->status_w = v;
}

/* The device took its error path (DEVICE_ERROR event, or NEEDS_RESET read): blame the
 * legal but unusual input outstanding, unless a hand-built (fault) chain explains it. */
/* The device set DEVICE_NEEDS_RESET: unless a hand-built (fault-injection) chain is
 * outstanding to explain it, it is held against the unusual legal chains then outstanding
 * (no-error-on-legal-input) and against freshly reset or re-enabled queues. One scan, once
 * per reset. */
static void on_device_error(vs_monitors *m)
{
    if (m->error_judged)
        return;
    m->error_judged = true;
    uint8_t odd = 0;
    bool live = false;
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        qstate *q = &m->q[i];
        if (!q->setup || !q->live)
            continue;
        for (uint32_t id = 0; id < ID_SPACE; id++) {
            chain_rec *c = q->byid[id];
            if (!c || !c->live)
                continue;
            if (c->raw)
                return; /* fault injection explains it */
            live = true;
            if (c->published)
                odd |= c->odd;
        }
    }
    static const char *const what[] = {
        "WRITE on an indirect descriptor disregarded",
        "direct descriptors followed by an indirect one accepted",
        "a request header split over descriptors accepted",
    };
    for (int k = 0; k < 3 && role_on(m, CK_LEGAL_INPUT); k++)
        if (odd & (1u << k))
            bad(m, CK_LEGAL_INPUT, k, NOCTX, what[k],
                "device error (DEVICE_NEEDS_RESET) with such a chain outstanding");
    if (!odd && !live && m->spurious_kick && role_on(m, CK_LEGAL_INPUT))
        bad(m, CK_LEGAL_INPUT, 3, NOCTX, "notifications without new buffers tolerated",
            "device error (DEVICE_NEEDS_RESET) with nothing outstanding after a notification "
            "that announced no new buffer");
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        qr_fresh_failed(m, (int32_t)i, "device error");
}

static void on_status_read(vs_monitors *m, const vs_event *ev)
{
    uint8_t v = (uint8_t)ev->val;
    su_on_read(m, v);
    /* After a reset the device may still be resetting: status must read 0 within
     * RESET_SETTLE_READS reads and RESET_SETTLE_NS, and once it has read 0 it must stay 0
     * until the driver writes status again. */
    if (m->await_reset_read && role_on(m, CK_RESET_ZERO)) {
        if (v == 0) {
            if (!m->reset_zero_read)
                ok(m, CK_RESET_ZERO, 0);
            m->reset_zero_read = true;
        } else if (m->reset_zero_read) {
            m->await_reset_read = false;
            bad(m, CK_RESET_ZERO, 0, NOCTX, "status stays 0 after reading 0 following a reset",
                "status 0x%02x after it had read 0", v);
        } else if (++m->reset_nonzero_reads > RESET_SETTLE_READS ||
                   ev->t_ns - m->reset_t > RESET_SETTLE_NS) {
            m->await_reset_read = false;
            bad(m, CK_RESET_ZERO, 0, NOCTX, "status 0 within a bounded time after reset",
                "status 0x%02x after %" PRIu32 " reads and %" PRIu64 " ns since the reset", v,
                m->reset_nonzero_reads, ev->t_ns - m->reset_t);
        }
    } else if (m->await_reset_read) {
        m->await_reset_read = false;
    }
    if (v == 0 && m->status_w == 0)
        m->saw_zero_after_reset = true;
    if (m->fok_await_read && (m->status_w & VS_STATUS_FEATURES_OK)) {
        m->fok_await_read = false;
        bool set = v & VS_STATUS_FEATURES_OK;
        if (set)
            m->fok_confirmed = true;
        else
            m->fok_refused = true;
        if (role_on(m, CK_ZONED_FOK) && m->device_id == VS_DEV_BLK && m->offered_known &&
            has(m->offered, VS_BLK_F_ZONED) && !has(m->drv_features, VS_BLK_F_ZONED) &&
            !(m->drv_features & ~m->offered) && m->z_model_pre_known &&
            m->z_model_pre == VS_BLK_Z_HM) {
            if (set)
                bad(m, CK_ZONED_FOK, 0, NOCTX,
                    "FEATURES_OK clear: host-managed device, ZONED declined",
                    "FEATURES_OK set with driver features 0x%016" PRIx64, m->drv_features);
            else
                ok(m, CK_ZONED_FOK, 0);
        }
        if (role_on(m, CK_FEATURES_OK_REFUSE) && m->offered_known &&
            (m->drv_features & ~m->offered)) {
            if (set)
                bad(m, CK_FEATURES_OK_REFUSE, 0, NOCTX,
                    "FEATURES_OK clear when un-offered bits were accepted",
                    "FEATURES_OK set with driver features 0x%016" PRIx64 " (offered 0x%016" PRIx64 ")",
                    m->drv_features, m->offered);
            else
                ok(m, CK_FEATURES_OK_REFUSE, 0);
        }
    }
    if ((v & VS_STATUS_DEVICE_NEEDS_RESET) && (m->status_w & VS_STATUS_DRIVER_OK))
        m->needs_reset_pending = true;
    if (v & VS_STATUS_DEVICE_NEEDS_RESET) {
        on_device_error(m);
    }
    if (m->dev_error_pending) {
        if (v & VS_STATUS_DEVICE_NEEDS_RESET) {
            if (role_on(m, CK_ERROR_NEEDS_RESET))
                ok(m, CK_ERROR_NEEDS_RESET, 0);
            m->dev_error_pending = false;
            m->dev_error_read_without = false;
        } else {
            m->dev_error_read_without = true;
        }
    }
}

/* ------------------------------------------------------------ config space (blk) */

static bool overlaps(uint32_t a, uint32_t al, uint32_t b, uint32_t bl)
{
    return a < b + bl && b < a + al;
}

static void on_config_access(vs_monitors *m, const vs_event *ev, bool write)
{
    uint32_t off = ev->off, len = ev->len;
    if (write) {
        if (role_on(m, CK_D_CFG_WRITE_EARLY)) {
            if (!(m->status_w & VS_STATUS_FEATURES_OK))
                bad(m, CK_D_CFG_WRITE_EARLY, 0, NOCTX, "config writes only after FEATURES_OK",
                    "write of %" PRIu32 " bytes at %" PRIu32 " with status 0x%02x", len, off,
                    m->status_w);
            else
                ok(m, CK_D_CFG_WRITE_EARLY, 0);
        }
        if (m->device_id == VS_DEV_BLK && overlaps(off, len, VS_BLK_CFG_WRITEBACK, 1))
            m->wce_first_read_done = true;
        for (uint32_t b = off; b < off + len && b < 80; b++)
            m->cfg[b].known = false;
    }
    if (m->device_id != VS_DEV_BLK)
        return;
    if (m->offered_known && role_on(m, CK_D_CFG_OPTIONAL)) {
        for (unsigned i = 0; i < vs_blk_cfg_ngroups; i++) {
            const vs_blk_cfg_group *g = &vs_blk_cfg_groups[i];
            if (g->feature < 0 || !overlaps(off, len, g->off, g->len))
                continue;
            if (!has(m->offered, (unsigned)g->feature))
                bad(m, CK_D_CFG_OPTIONAL, 0, NOCTX, "optional field accessed only if offered",
                    "%s of %" PRIu32 " bytes at %" PRIu32 " but %s not offered",
                    write ? "write" : "read", len, off,
                    vs_feature_name(m->device_id, (unsigned)g->feature));
            else
                ok(m, CK_D_CFG_OPTIONAL, 0);
        }
    }
    if (write)
        return;
    uint64_t val = ev->val;
    /* writeback read before FEATURES_OK */
    if (overlaps(off, len, VS_BLK_CFG_WRITEBACK, 1)) {
        if (role_on(m, CK_D_BLK_WCE_EARLY) && m->offered_known &&
            has(m->offered, VS_BLK_F_CONFIG_WCE)) {
            if (!(m->status_w & VS_STATUS_FEATURES_OK))
                bad(m, CK_D_BLK_WCE_EARLY, 0, NOCTX, "writeback read only after FEATURES_OK",
                    "read with status 0x%02x", m->status_w);
            else
                ok(m, CK_D_BLK_WCE_EARLY, 0);
        }
        if (!m->wce_first_read_done && (m->status_w & VS_STATUS_FEATURES_OK) && len <= 8) {
            m->wce_first_read_done = true;
            uint64_t f = neg(m);
            if (role_on(m, CK_BLK_WCE_INITIAL) && has(f, VS_BLK_F_CONFIG_WCE) &&
                !has(f, VS_BLK_F_FLUSH)) {
                uint8_t wb = (uint8_t)(val >> (8 * (VS_BLK_CFG_WRITEBACK - off)));
                if (wb == 0)
                    ok(m, CK_BLK_WCE_INITIAL, 0);
                else
                    bad(m, CK_BLK_WCE_INITIAL, 0, NOCTX, "writeback 0",
                        "writeback %u right after FEATURES_OK", wb);
            }
        }
    }
    if (len > 8)
        return;
    /* config-readable-before-features-ok: what was read early must read the same after
     * FEATURES_OK (writeback may change then: blk-init.3) */
    for (uint32_t b = off; b < off + len && b < 80 && role_on(m, CK_CFG_EARLY); b++) {
        uint8_t nv = (uint8_t)(val >> (8 * (b - off)));
        cfg_track *t = &m->early[b];
        if (b == VS_BLK_CFG_WRITEBACK)
            continue;
        if ((m->status_w & VS_STATUS_DRIVER) && !(m->status_w & VS_STATUS_FEATURES_OK)) {
            *t = (cfg_track){.known = true, .val = nv, .irq_at_read = m->cfg_irq_count};
        } else if (t->known && m->fok_confirmed) {
            t->known = false;
            if (m->cfg_irq_count != t->irq_at_read)
                continue; /* the device announced a change */
            if (t->val != nv)
                bad(m, CK_CFG_EARLY, 0, NOCTX, "config fields readable before FEATURES_OK",
                    "config byte %" PRIu32 " read 0x%02x before FEATURES_OK, 0x%02x after", b,
                    t->val, nv);
            else
                ok(m, CK_CFG_EARLY, 0);
        }
    }
    if (off + len > VS_BLK_CFG_SE_SECTOR_ALIGN)
        zone_config_read(m, off, len, val);
    if (off == VS_BLK_CFG_SEG_MAX && len == 4) {
        m->seg_max = (uint32_t)val;
        m->segs_known |= 1;
    } else if (off == VS_BLK_CFG_SIZE_MAX && len == 4) {
        m->size_max = (uint32_t)val;
        m->segs_known |= 2;
    }
    /* padding bytes */
    static const uint32_t pad[] = {33, 57, 58, 59};
    for (size_t i = 0; i < 4; i++) {
        if (!overlaps(off, len, pad[i], 1) || !role_on(m, CK_BLK_CFG_PADDING))
            continue;
        uint8_t b = (uint8_t)(val >> (8 * (pad[i] - off)));
        if (b)
            bad(m, CK_BLK_CFG_PADDING, 0, NOCTX, "padding byte 0", "byte %" PRIu32 " = 0x%02x",
                pad[i], b);
        else
            ok(m, CK_BLK_CFG_PADDING, 0);
    }
    /* capacity (0..7) and write_zeroes_may_unmap (56) change tracking */
    for (uint32_t b = off; b < off + len && b < 80; b++) {
        int k = b < 8 ? 0 : (b == VS_BLK_CFG_WZ_MAY_UNMAP ? 1 : -1);
        if (k < 0)
            continue;
        uint8_t nv = (uint8_t)(val >> (8 * (b - off)));
        cfg_track *t = &m->cfg[b];
        if (t->known && role_on(m, CK_BLK_CFG_CHANGE)) {
            if (t->val != nv && m->cfg_irq_count == t->irq_at_read)
                bad(m, CK_BLK_CFG_CHANGE, k, NOCTX, "a config-change interrupt with the change",
                    "config byte %" PRIu32 " changed 0x%02x -> 0x%02x without one", b, t->val, nv);
            else if (t->val != nv)
                ok(m, CK_BLK_CFG_CHANGE, k);
        }
        t->known = true;
        t->val = nv;
        t->irq_at_read = m->cfg_irq_count;
    }
    if (off == VS_BLK_CFG_CAPACITY && len == 8) {
        m->capacity = val;
        m->capacity_known = true;
    } else if ((off == 0 || off == 4) && len == 4) {
        for (uint32_t i = 0; i < 4; i++)
            m->cap_bytes[off + i] = (uint8_t)(val >> (8 * i));
        m->cap_mask |= (uint8_t)(off == 0 ? 1 : 2);
        if (m->cap_mask == 3) {
            uint64_t c = 0;
            for (int i = 7; i >= 0; i--)
                c = (c << 8) | m->cap_bytes[i];
            m->capacity = c;
            m->capacity_known = true;
        }
    }
}

static bool cfg_gen_neutral(enum vs_event_kind k)
{
    switch (k) {
    case VS_EV_STEP: case VS_EV_NOTE: case VS_EV_EXPECT: case VS_EV_IRQ:
    case VS_EV_CONFIG_CHANGE: case VS_EV_DOORBELL: case VS_EV_FETCH: case VS_EV_DEVICE_ERROR:
    case VS_EV_ISR_READ:
        return true;
    default:
        return false;
    }
}

static void cfg_gen_track(vs_monitors *m, const vs_event *ev)
{
    if (!role_on(m, CK_D_CFG_GEN))
        return;
    if (ev->kind == VS_EV_CONFIG_GEN) {
        if (m->reads_unclosed)
            ok(m, CK_D_CFG_GEN, 0);
        m->reads_unclosed = false;
        m->gen_open = true;
        return;
    }
    if (ev->kind == VS_EV_CONFIG_READ) {
        if (!m->gen_open && !m->reads_unclosed)
            bad(m, CK_D_CFG_GEN, 0, NOCTX, "config_generation read before device-config reads",
                "config read at %" PRIu32 " without a preceding generation read", ev->off);
        m->reads_unclosed = true;
        m->gen_open = false;
        return;
    }
    if (cfg_gen_neutral(ev->kind))
        return;
    if (m->reads_unclosed)
        bad(m, CK_D_CFG_GEN, 0, NOCTX, "config_generation read after device-config reads",
            "%s followed config reads", vs_event_kind_name(ev->kind));
    m->reads_unclosed = false;
    m->gen_open = false;
}

/* ------------------------------------------------------------ queues */

static void on_queue_setup(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !ev->layout)
        return;
    qr_on_setup(m, ev->queue, ev->layout->size);
    queue_drop(m, q);
    q->l = *ev->layout;
    q->byid = calloc(ID_SPACE, sizeof *q->byid);
    if (!q->byid)
        return;
    q->setup = true;
    ctx cx = qctx(ev->queue);
    bool packed = q->l.format == VS_RING_PACKED;
    if (role_on(m, CK_D_RING_ALIGN)) {
        uint32_t da = packed ? 4 : 2;
        if (q->l.desc_gpa % 16 || q->l.driver_gpa % da || q->l.device_gpa % 4)
            bad(m, CK_D_RING_ALIGN, packed, cx, packed ? "alignment 16/4/4" : "alignment 16/2/4",
                "desc 0x%" PRIx64 " driver 0x%" PRIx64 " device 0x%" PRIx64, q->l.desc_gpa,
                q->l.driver_gpa, q->l.device_gpa);
        else
            ok(m, CK_D_RING_ALIGN, packed);
    }
    if (!packed && role_on(m, CK_D_USED_FLAGS_ZERO)) {
        uint16_t fl;
        if (ld16(m, q->l.device_gpa, &fl)) {
            if (fl)
                bad(m, CK_D_USED_FLAGS_ZERO, 0, cx, "used.flags 0 at setup", "used.flags 0x%x", fl);
            else
                ok(m, CK_D_USED_FLAGS_ZERO, 0);
        }
    }
    if (role_on(m, CK_D_ADDR_RAM) && !has(neg(m), VS_F_ACCESS_PLATFORM)) {
        vs_vq_area_sizes s;
        if (vs_vq_area_sizes_for(q->l.format, q->l.size, &s, NULL) == 0) {
            if (!vs_gmem_span_ok(m->gm, q->l.desc_gpa, s.desc_bytes, VS_GMEM_READ) ||
                !vs_gmem_span_ok(m->gm, q->l.driver_gpa, s.driver_bytes, VS_GMEM_READ) ||
                !vs_gmem_span_ok(m->gm, q->l.device_gpa, s.device_bytes, VS_GMEM_READ))
                bad(m, CK_D_ADDR_RAM, 0, cx, "ring areas inside guest RAM",
                    "desc 0x%" PRIx64 " driver 0x%" PRIx64 " device 0x%" PRIx64, q->l.desc_gpa,
                    q->l.driver_gpa, q->l.device_gpa);
            else
                ok(m, CK_D_ADDR_RAM, 0);
        }
    }
    if (role_on(m, CK_D_INIT_ORDER) && !m->backend_view) {
        if (!m->fok_confirmed && !m->fok_refused)
            bad(m, CK_D_INIT_ORDER, 0, cx, "queue setup after FEATURES_OK was read back",
                "queue setup with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_INIT_ORDER, 0);
    }
    if (m->fok_refused && role_on(m, CK_D_ABANDON))
        bad(m, CK_D_ABANDON, 0, cx, "no queue setup after FEATURES_OK was refused",
            "queue %" PRId32 " set up", ev->queue);
    if (packed && q->l.size) {
        q->pk_snap = calloc(q->l.size, 16);
        q->pk_snap_ok = calloc(q->l.size, sizeof *q->pk_snap_ok);
        if (!q->pk_snap || !q->pk_snap_ok)
            q->pk_lost = true;
    }
    if (!packed) {
        uint16_t u = 0;
        ld16(m, q->l.device_gpa + 2, &u);
        q->collected = q->irq_base = q->unmask_base = q->used_at_mask = u;
        if (m->backend_view)
            q->avail_pub = (uint16_t)ev->idx; /* the ring's base: where the device starts */
        else
            ld16(m, q->l.driver_gpa + 2, &q->avail_pub);
        q->kick_base = q->avail_pub;
    }
}

/* A live id made available again: its completion will never be seen. Whatever it counted
 * as in flight (read-back sectors, the write log, the zone model) is released, so those
 * checks go on for the sectors it covered instead of waiting for the next reset. */
static void chain_retire(vs_monitors *m, chain_rec *c)
{
    rb_write_done(m, c, false);
    blk_write_done(m, c);
    if (c->z_counted) {
        c->z_counted = false;
        if (m->z_live)
            m->z_live--;
        m->z_seq++;
    }
}

static void on_avail(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup || !ev->chain)
        return;
    uint32_t id = ev->id & 0xffffu;
    chain_rec *c = q->byid[id];
    if (c && c->live && !c->completed) {
        /* re-made available while outstanding: the driver reused a live id */
        q->live--;
    }
    /* The record of an id is reused (its arrays keep their capacity). */
    if (c) {
        chain_retire(m, c);
        chain_reset(c);
    } else {
        c = calloc(1, sizeof *c);
        if (!c)
            return;
        q->byid[id] = c;
    }
    const vs_ev_chain *ch = ev->chain;
    c->nseg = ch->n_out + ch->n_in;
    c->n_out = ch->n_out;
    c->raw = ch->raw;
    uint32_t nw = ch->n_in;
    if (!ensure_cap((void **)&c->seg, &c->seg_cap, c->nseg ? c->nseg : 1, sizeof *c->seg) ||
        !ensure_cap((void **)&c->guard, &c->guard_cap, nw ? nw : 1, GUARD_LEN) ||
        !ensure_cap((void **)&c->guard_ok, &c->gok_cap, nw ? nw : 1, sizeof *c->guard_ok)) {
        q->byid[id] = NULL;
        chain_free(m, c);
        return;
    }
    memset(c->guard, 0, (size_t)(nw ? nw : 1) * GUARD_LEN);
    memset(c->guard_ok, 0, (size_t)(nw ? nw : 1) * sizeof *c->guard_ok);
    memcpy(c->seg, ch->seg, c->nseg * sizeof *c->seg);
    for (uint32_t i = 0; i < c->nseg; i++) {
        if (i < c->n_out)
            c->out_bytes += c->seg[i].len;
        else
            c->in_bytes += c->seg[i].len;
    }
    c->live = true;
    q->live++;
    if (!q_split(q)) {
        if (q->pend_n < UINT32_MAX &&
            ensure_cap((void **)&q->pend, &q->pend_cap, q->pend_n + 1, sizeof *q->pend))
            q->pend[q->pend_n++] = (uint16_t)id;
        else
            q->pend_n = UINT32_MAX; /* no memory: the publish scans every record */
        c->aseq = ++q->aseq_next;
        fo_push(q, id, c->aseq);
        pk_on_avail(q, ch);
    }
    if (!c->raw) {
        c->canary_ok = canary_take(m, c);
        for (uint32_t w = 0; w < nw; w++) {
            const vs_seg *s = &c->seg[c->n_out + w];
            uint64_t g = s->gpa + s->len;
            bool inside = false;
            for (uint32_t j = c->n_out; j < c->nseg; j++)
                if (g < c->seg[j].gpa + c->seg[j].len && c->seg[j].gpa < g + GUARD_LEN)
                    inside = true;
            c->guard_ok[w] = !inside &&
                             vs_gmem_read(m->gm, g, c->guard + GUARD_LEN * w, GUARD_LEN, NULL) == 0;
        }
    }
    if (m->device_id == VS_DEV_BLK && !c->raw && c->n_out && c->seg[0].len < 16)
        c->odd |= ODD_FRAMING;
    /* blk request header */
    if (m->device_id == VS_DEV_BLK && !c->raw && c->out_bytes >= 16) {
        uint8_t h[16];
        if (chain_read(m, c, false, 0, h, 16)) {
            memcpy(&c->blk_type, h, 4);
            memcpy(&c->blk_sector, h + 8, 8);
            c->blk_ok = true;
            if (c->blk_type == VS_BLK_T_DISCARD || c->blk_type == VS_BLK_T_WRITE_ZEROES ||
                c->blk_type == VS_BLK_T_SECURE_ERASE) {
                uint64_t nsegs = (c->out_bytes - 16) / 16;
                for (uint64_t s = 0; s < nsegs && s < 4096; s++) {
                    uint8_t sb[16];
                    if (!chain_read(m, c, false, 16 + 16 * s, sb, 16))
                        break;
                    uint32_t fl;
                    memcpy(&fl, sb + 12, 4);
                    c->blk_dwz_flags |= fl;
                }
            }
        }
    }
    if (m->device_id == VS_DEV_BLK)
        blk_on_avail(m, c);
    if (c->blk_ok && zoned_neg(m)) {
        c->z_counted = true;
        c->z_solo = m->z_live == 0;
        c->z_seq = ++m->z_seq;
        m->z_live++;
    }
    if (c->blk_ok && role_on(m, CK_D_BLK_REQ)) {
        ctx cx = idctx(ev->queue, id);
        uint32_t t = c->blk_type;
        uint64_t out_data = c->out_bytes - 16, in_data = c->in_bytes ? c->in_bytes - 1 : 0;
        if (t == VS_BLK_T_IN || t == VS_BLK_T_OUT) {
            uint64_t data = t == VS_BLK_T_IN ? in_data : out_data;
            if (data % VS_BLK_SECTOR)
                bad(m, CK_D_BLK_REQ, 0, cx, "data length a multiple of 512",
                    "%s with %" PRIu64 " data bytes", t ? "OUT" : "IN", data);
            else
                ok(m, CK_D_BLK_REQ, 0);
            if (m->capacity_known) {
                if (c->blk_sector + data / VS_BLK_SECTOR > m->capacity)
                    bad(m, CK_D_BLK_REQ, 1, cx, "request within capacity",
                        "sector %" PRIu64 " + %" PRIu64 " sectors > capacity %" PRIu64,
                        c->blk_sector, data / VS_BLK_SECTOR, m->capacity);
                else
                    ok(m, CK_D_BLK_REQ, 1);
            }
        } else if (t == VS_BLK_T_FLUSH) {
            if (c->blk_sector)
                bad(m, CK_D_BLK_REQ, 2, cx, "FLUSH sector 0", "sector %" PRIu64, c->blk_sector);
            else
                ok(m, CK_D_BLK_REQ, 2);
            if (out_data || in_data)
                bad(m, CK_D_BLK_REQ, 3, cx, "FLUSH without data",
                    "%" PRIu64 " out / %" PRIu64 " in data bytes", out_data, in_data);
            else
                ok(m, CK_D_BLK_REQ, 3);
        } else if (t == VS_BLK_T_GET_ID) {
            if (in_data != VS_BLK_ID_BYTES)
                bad(m, CK_D_BLK_REQ, 4, cx, "GET_ID with 20 data bytes", "%" PRIu64 " bytes",
                    in_data);
            else
                ok(m, CK_D_BLK_REQ, 4);
        } else if (t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
                   t == VS_BLK_T_SECURE_ERASE) {
            if (out_data % 16)
                bad(m, CK_D_BLK_REQ, 5, cx, "data a multiple of 16 bytes",
                    "type %" PRIu32 " with %" PRIu64 " data bytes", t, out_data);
            else
                ok(m, CK_D_BLK_REQ, 5);
            if (t == VS_BLK_T_DISCARD) {
                if (c->blk_dwz_flags & VS_BLK_F_DWZ_UNMAP)
                    bad(m, CK_D_BLK_REQ, 6, cx, "unmap clear in discard segments",
                        "segment flags 0x%" PRIx32, c->blk_dwz_flags);
                else
                    ok(m, CK_D_BLK_REQ, 6);
            }
        }
    }
}

/* IN_ORDER bookkeeping: remember a chain published with seq (no memory: po_n stays
 * UINT32_MAX and the in-order check scans every record instead). */
static void po_push(qstate *q, uint32_t id, uint64_t seq)
{
    if (q->po_n == UINT32_MAX)
        return;
    if (q->po_head && q->po_head >= q->po_n / 2) { /* compact the consumed front */
        memmove(q->po_id, q->po_id + q->po_head, (q->po_n - q->po_head) * sizeof *q->po_id);
        memmove(q->po_seq, q->po_seq + q->po_head, (q->po_n - q->po_head) * sizeof *q->po_seq);
        q->po_n -= q->po_head;
        q->po_head = 0;
    }
    if (!ensure_cap((void **)&q->po_id, &q->po_cap, q->po_n + 1, sizeof *q->po_id) ||
        !ensure_cap((void **)&q->po_seq, &q->po_cap2, q->po_n + 1, sizeof *q->po_seq)) {
        q->po_n = UINT32_MAX;
        return;
    }
    q->po_id[q->po_n] = id;
    q->po_seq[q->po_n] = seq;
    q->po_n++;
}

/* The oldest published chain still outstanding: its id, and false if none is known. */
static bool po_oldest(qstate *q, uint32_t *id, uint64_t *seq)
{
    if (q->po_n == UINT32_MAX) {
        uint64_t min = UINT64_MAX;
        for (uint32_t i = 0; i < ID_SPACE; i++) {
            chain_rec *o = q->byid[i];
            if (o && o->live && o->published && o->seq < min) {
                min = o->seq;
                *id = i;
            }
        }
        *seq = min;
        return min != UINT64_MAX;
    }
    while (q->po_head < q->po_n) {
        chain_rec *o = q->byid[q->po_id[q->po_head]];
        if (o && o->live && o->published && o->seq == q->po_seq[q->po_head]) {
            *id = q->po_id[q->po_head];
            *seq = o->seq;
            return true;
        }
        q->po_head++;
    }
    return false;
}

static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static void mark_published(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head)
{
    if (!c->published) {
        c->published = true;
        c->seq = q->seq_next++;
        if (has(neg(m), VS_F_IN_ORDER))
            po_push(q, head, c->seq);
    }
    if (q_split(q))
        split_walk(m, q, qi, c, head);
}

static void on_publish(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    uint16_t nidx = (uint16_t)ev->idx;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = nidx};
    if (q_split(q)) {
        uint16_t delta = (uint16_t)(nidx - q->avail_pub);
        if (role_on(m, CK_D_AVAIL_IDX)) {
            if (delta > q->l.size)
                bad(m, CK_D_AVAIL_IDX, 0, cx, "avail idx advances by 0..queue size",
                    "avail idx %u -> %u", q->avail_pub, nidx);
            else
                ok(m, CK_D_AVAIL_IDX, 0);
        }
        if (delta <= q->l.size) {
            for (uint16_t k = 0; k < delta; k++) {
                uint16_t slot = (uint16_t)((q->avail_pub + k) % q->l.size), head;
                if (!ld16(m, q->l.driver_gpa + 4 + 2ull * slot, &head))
                    break;
                chain_rec *c = q->byid[head];
                if (c && c->live && !c->published) {
                    mark_published(m, q, ev->queue, c, head);
                } else if (role_on(m, CK_D_CHAIN_SHAPE) && !(c && c->raw)) {
                    bad(m, CK_D_CHAIN_SHAPE, 8, (ctx){.queue = ev->queue, .has_id = true,
                                                     .id = head, .has_idx = true, .idx = nidx},
                        "avail ring slots name chains just made available",
                        "avail slot %u names %u, not a pending chain", slot, head);
                }
            }
        }
        q->avail_pub = nidx;
        uint16_t fl;
        if (role_on(m, CK_D_AVAIL_FLAGS) && ld16(m, q->l.driver_gpa, &fl)) {
            bool ei = has(neg(m), VS_F_EVENT_IDX);
            if (ei ? fl != 0 : fl > 1)
                bad(m, CK_D_AVAIL_FLAGS, ei, cx, ei ? "avail.flags 0" : "avail.flags 0 or 1",
                    "avail.flags 0x%x", fl);
            else
                ok(m, CK_D_AVAIL_FLAGS, ei);
        }
    } else if (q->pend_n == UINT32_MAX) {
        for (uint32_t id = 0; id < ID_SPACE; id++) {
            chain_rec *c = q->byid[id];
            if (c && c->live && !c->published)
                mark_published(m, q, ev->queue, c, (uint16_t)id);
        }
        q->pend_n = 0;
    } else {
        /* in id order, as a scan of every record would mark them */
        qsort(q->pend, q->pend_n, sizeof *q->pend, cmp_u16);
        for (uint32_t i = 0; i < q->pend_n; i++) {
            chain_rec *c = q->byid[q->pend[i]];
            if (c && c->live && !c->published)
                mark_published(m, q, ev->queue, c, q->pend[i]);
        }
        q->pend_n = 0;
    }
}

static void on_kick(vs_monitors *m, const vs_event *ev, bool sent)
{
    qstate *q = getq(m, ev->queue);
    ctx cx = qctx(ev->queue);
    if (m->backend_view)
        return; /* no status register; kick timing unknown (see set_backend_view) */
    if (sent && role_on(m, CK_D_KICK_EARLY)) {
        if (!(m->status_w & VS_STATUS_DRIVER_OK))
            bad(m, CK_D_KICK_EARLY, 0, cx, "no notification before DRIVER_OK",
                "kick with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_KICK_EARLY, 0);
    }
    if (!q || !q->setup || !q_split(q))
        return;
    bool ei = has(neg(m), VS_F_EVENT_IDX);
    bool need;
    uint16_t v;
    if (ei) {
        if (!ld16(m, q->l.device_gpa + 4 + 8ull * q->l.size, &v))
            return;
        need = vs_vq_need_event(v, q->avail_pub, q->kick_base);
    } else {
        if (!ld16(m, q->l.device_gpa, &v))
            return;
        need = !(v & 1);
    }
    if (sent && q->avail_pub == q->kick_base)
        m->spurious_kick = true; /* legal; the device must cope (no-error-on-legal-input) */
    if (q->avail_pub != q->kick_base || !sent) {
        if (sent && !need && role_on(m, CK_D_KICK_UNNEEDED))
            bad(m, CK_D_KICK_UNNEEDED, ei, cx, "no notification the device suppressed",
                ei ? "kick with avail_event %u not crossed (%u -> %u)" : "kick with used.flags 0x%x",
                v, q->kick_base, q->avail_pub);
        else if (sent && role_on(m, CK_D_KICK_UNNEEDED))
            ok(m, CK_D_KICK_UNNEEDED, ei);
        if (!sent && need && q->avail_pub != q->kick_base && role_on(m, CK_D_KICK_NEEDED)) {
            bad(m, CK_D_KICK_NEEDED, ei, cx, "a notification the device asked for",
                ei ? "suppressed although avail_event %u crossed (%u -> %u)"
                   : "suppressed with used.flags 0x%x (%u -> %u)",
                v, q->kick_base, q->avail_pub);
            bad(m, CK_D_KICK_NEEDED, ei ? 3 : 2, cx, "a notification the device asked for",
                "suppressed (%s)", ei ? "used.flags must be disregarded" : "avail_event must be disregarded");
        } else if (role_on(m, CK_D_KICK_NEEDED)) {
            ok(m, CK_D_KICK_NEEDED, ei);
            ok(m, CK_D_KICK_NEEDED, ei ? 3 : 2);
        }
    }
    q->kick_base = q->avail_pub;
}

static void on_irq_mask(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    uint16_t u = q->collected;
    used_idx_mem(m, q, &u);
    if (ev->val) {
        q->masked = true;
        q->used_at_mask = u;
    } else {
        q->masked = false;
        q->unmask_base = u;
    }
}

static void device_gate(vs_monitors *m, const vs_event *ev, qstate *q, const char *what)
{
    ctx cx = qctx(ev->queue);
    if (m->su == SU_DONE && ev->kind != VS_EV_USED && role_on(m, CK_SUSPEND) &&
        !m->su_gate_reported) { /* a USED is the driver collecting: not the device */
        m->su_gate_reported = true;
        bad(m, CK_SUSPEND, 1, cx, "nothing while suspended", "%s while suspended", what);
    }
    if (role_on(m, CK_BEFORE_DRIVER_OK)) {
        if (!(m->status_w & VS_STATUS_DRIVER_OK))
            bad(m, CK_BEFORE_DRIVER_OK, 0, cx, "nothing before DRIVER_OK",
                "%s with status 0x%02x", what, m->status_w);
        else
            ok(m, CK_BEFORE_DRIVER_OK, 0);
    }
    if (ev->queue >= 0 && (uint32_t)ev->queue < MAX_QUEUES && m->qr[ev->queue].await_enable &&
        role_on(m, CK_QRESET)) {
        if (!m->qr[ev->queue].gate_reported)
            bad(m, CK_QRESET, 0, cx, "nothing for a queue after its reset",
                "%s on queue %" PRId32 " after its queue reset", what, ev->queue);
        m->qr[ev->queue].gate_reported = true;
        return;
    }
    if (role_on(m, CK_AFTER_RESET) && m->after_reset) {
        if (!q || !q->setup)
            bad(m, CK_AFTER_RESET, 0, cx, "silence after reset until queue setup",
                "%s on a queue not set up since reset", what);
        else
            ok(m, CK_AFTER_RESET, 0);
    }
}

static void on_irq(vs_monitors *m, const vs_event *ev)
{
    if (ev->queue < 0) {
        m->cfg_irq_count++;
        if (m->su == SU_DONE && role_on(m, CK_SUSPEND) && !m->su_cfg_irq_reported) {
            m->su_cfg_irq_reported = true;
            bad(m, CK_SUSPEND, 2, NOCTX, "no config interrupt while suspended",
                "config interrupt while the device showed SUSPEND");
        }
        return;
    }
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "queue interrupt");
    if (q && q->setup && !q_split(q))
        pk_check_recent(m, ev->queue, q);
    if (!q || !q->setup || !q_split(q))
        return;
    q->irq_count++;
    if (q->due) {
        ok(m, CK_IRQ_EI_REQUIRED, 0);
        if (q->due_flags)
            ok(m, CK_IRQ_EI_REQUIRED, 1);
        q->due = false;
        if (m->n_due)
            m->n_due--;
    }
    uint16_t cur;
    if (!used_idx_mem(m, q, &cur))
        return;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = cur};
    uint16_t fl;
    if (role_on(m, CK_USED_FLAGS) && ld16(m, q->l.device_gpa, &fl)) {
        bool ei = has(neg(m), VS_F_EVENT_IDX);
        if (ei ? fl != 0 : fl > 1)
            bad(m, CK_USED_FLAGS, ei, cx, ei ? "used.flags 0" : "used.flags 0 or 1",
                "used.flags 0x%x", fl);
        else
            ok(m, CK_USED_FLAGS, ei);
    }
    if (m->async_device) {
        /* seen after the fact: nothing to attribute */
    } else if (has(neg(m), VS_F_EVENT_IDX)) {
        uint16_t ue;
        if (role_on(m, CK_IRQ_EI_SPURIOUS) && cur != q->irq_base &&
            ld16(m, q->l.driver_gpa + 4 + 2ull * q->l.size, &ue)) {
            if (!vs_vq_need_event(ue, cur, q->irq_base))
                bad(m, CK_IRQ_EI_SPURIOUS, 0, cx, "interrupt only when used_event is crossed",
                    "interrupt for used idx %u -> %u with used_event %u", q->irq_base, cur, ue);
            else
                ok(m, CK_IRQ_EI_SPURIOUS, 0);
        }
    } else if (role_on(m, CK_IRQ_FLAGS_SUPPRESSED)) {
        if (q->masked && cur != q->used_at_mask)
            bad(m, CK_IRQ_FLAGS_SUPPRESSED, 0, cx, "no interrupt while NO_INTERRUPT is set",
                "interrupt after used idx %u -> %u while suppressed", q->used_at_mask, cur);
        else if (q->masked)
            ok(m, CK_IRQ_FLAGS_SUPPRESSED, 0);
    }
    q->irq_base = cur;
    if (q->masked)
        q->used_at_mask = cur;
}

static uint32_t live_published(const qstate *q) { return q->live; }

/* The driver refused a used element. When the used index in memory has run further ahead
 * than there are chains outstanding, that is the used-index rule, not a bad id: look at the
 * ring memory ourselves rather than trusting the driver's message. */
static bool used_invalid_is_idx_jump(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    uint16_t u;
    if (!q || !q->setup || !q_split(q) || !role_on(m, CK_USED_IDX) || !used_idx_mem(m, q, &u))
        return false;
    uint16_t ahead = (uint16_t)(u - q->collected);
    uint32_t n = live_published(q);
    if (ahead <= n)
        return false;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = u};
    bad(m, CK_USED_IDX, 0, cx, "used idx ahead by at most the outstanding chains",
        "used idx %u is %u ahead of %u with %" PRIu32 " outstanding", u, ahead, q->collected, n);
    return true;
}

static void on_used(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "used element");
    if (!q || !q->setup)
        return;
    qr_judge_old(m, ev->queue, false);
    qreset *qr = &m->qr[ev->queue];
    if (qr->fresh && role_on(m, CK_QRESET) && --qr->fresh_left == 0) {
        qr->fresh = false;
        ok(m, CK_QRESET, qr->resized ? 2 : 1);
    }
    uint32_t id = ev->id;
    ctx cx = (ctx){.queue = ev->queue, .has_id = true, .id = id, .has_idx = true, .idx = ev->idx};
    int k = q_split(q) ? 0 : 1;
    chain_rec *c = id < ID_SPACE ? q->byid[id] : NULL;
    /* used idx progress (split) */
    uint16_t u;
    if (q_split(q) && role_on(m, CK_USED_IDX) && used_idx_mem(m, q, &u)) {
        uint16_t before = (uint16_t)(ev->idx - 1);
        uint16_t ahead = (uint16_t)(u - before);
        uint32_t n = live_published(q);
        if (ahead > n)
            bad(m, CK_USED_IDX, 0, cx, "used idx ahead by at most the outstanding chains",
                "used idx %u is %u ahead of %u with %" PRIu32 " outstanding", u, ahead, before, n);
        else
            ok(m, CK_USED_IDX, 0);
    }
    q->collected = (uint16_t)ev->idx;
    if (!q_split(q))
        pk_on_used(m, ev->queue, q, ev);
    if (!c || !c->live) {
        if (role_on(m, CK_USED_ID)) {
            if (c && c->completed)
                bad(m, CK_USED_ID, k, cx, "each chain completed once",
                    "id %" PRIu32 " completed again (first at used idx %" PRIu32 ")", id,
                    c->completed_idx);
            else
                bad(m, CK_USED_ID, k, cx, "used id names an outstanding chain",
                    "id %" PRIu32 " was never made available", id);
        }
        return;
    }
    if (role_on(m, CK_USED_ID))
        ok(m, CK_USED_ID, k);
    if (role_on(m, CK_LEGAL_INPUT)) {
        for (int b = 0; b < 3; b++)
            if (c->odd & (1u << b))
                ok(m, CK_LEGAL_INPUT, b);
        if (m->spurious_kick && q_split(q))
            ok(m, CK_LEGAL_INPUT, 3); /* still serving after it */
    }
    if (role_on(m, CK_USED_LEN) && !c->raw) { /* a hand-built chain's shape is deliberate */
        if (ev->len > c->in_bytes)
            bad(m, CK_USED_LEN, k, cx, "used len <= writable bytes",
                "len %" PRIu32 " > %" PRIu64 " writable bytes", ev->len, c->in_bytes);
        else
            ok(m, CK_USED_LEN, k);
    }
    if (!c->raw && role_on(m, CK_READABLE) && c->canary_ok) {
        uint64_t h = 0;
        bool same = false, readable;
        if (c->canary_copied) {
            readable = canary_same(m, c, &same);
            if (readable && !same) { /* evidence: the same hashes the hash path names */
                c->canary = canary_copy_hash(c);
                readable = hash_readable(m, c, &h);
            }
        } else {
            readable = hash_readable(m, c, &h);
            same = h == c->canary;
        }
        if (readable) {
            if (!same)
                bad(m, CK_READABLE, k, cx, "device-readable bytes unchanged",
                    "readable bytes (%" PRIu64 ") changed: hash %016" PRIx64 " -> %016" PRIx64,
                    c->out_bytes, c->canary, h);
            else
                ok(m, CK_READABLE, k);
        }
    }
    if (!c->raw && role_on(m, CK_GUARD)) {
        for (uint32_t w = 0; w + c->n_out < c->nseg; w++) {
            if (!c->guard_ok[w])
                continue;
            uint8_t g[GUARD_LEN];
            const vs_seg *s = &c->seg[c->n_out + w];
            if (vs_gmem_read(m->gm, s->gpa + s->len, g, GUARD_LEN, NULL) < 0)
                continue;
            if (memcmp(g, c->guard + GUARD_LEN * w, GUARD_LEN)) {
                unsigned first = 0;
                while (first < GUARD_LEN && g[first] == c->guard[GUARD_LEN * w + first])
                    first++;
                bad(m, CK_GUARD, k, cx, "no writes past the writable buffer",
                    "guard byte %u after writable segment %" PRIu32 " (0x%" PRIx64 "+%" PRIu32
                    ") changed", first, w, s->gpa, s->len);
            } else {
                ok(m, CK_GUARD, k);
            }
        }
    }
    if (q_split(q) && c->desc_ok && role_on(m, CK_DESC_TABLE)) {
        uint64_t h;
        if (hash_desc(m, q, c, &h)) {
            if (h != c->desc_hash)
                bad(m, CK_DESC_TABLE, 0, cx, "descriptor table untouched by the device",
                    "descriptors of chain %" PRIu32 " changed while outstanding", id);
            else
                ok(m, CK_DESC_TABLE, 0);
        }
    }
    if (has(neg(m), VS_F_IN_ORDER) && role_on(m, CK_IN_ORDER) && c->published) {
        uint64_t min = UINT64_MAX;
        uint32_t min_id = id;
        po_oldest(q, &min_id, &min);
        if (min != c->seq)
            bad(m, CK_IN_ORDER, 0, cx, "used in the order made available",
                "id %" PRIu32 " used before id %" PRIu32, id, min_id);
        else
            ok(m, CK_IN_ORDER, 0);
    }
    /* blk result */
    bool out_ok = false;
    if (m->device_id == VS_DEV_BLK && c->blk_ok && c->nseg > c->n_out) {
        const vs_seg *last = &c->seg[c->nseg - 1];
        uint8_t st;
        if (last->len && vs_gmem_ld8(m->gm, last->gpa + last->len - 1, &st, NULL) == 0) {
            uint64_t f = neg(m);
            uint32_t t = c->blk_type;
            if (role_on(m, CK_BLK_STATUS)) {
                if (st > (has(f, VS_BLK_F_ZONED) ? VS_BLK_S_ZONE_ACTIVE_RESOURCE
                                                 : VS_BLK_S_UNSUPP))
                    bad(m, CK_BLK_STATUS, -1, cx,
                        has(f, VS_BLK_F_ZONED) ? "status OK, IOERR, UNSUPP or a zoned status"
                                               : "status OK, IOERR or UNSUPP",
                        "status byte %u", st);
                else
                    ok(m, CK_BLK_STATUS, -1);
            }
            if (role_on(m, CK_BLK_USED_LEN) && ev->val != 1) { /* val 1: len reserved */
                if (ev->len < 1)
                    bad(m, CK_BLK_USED_LEN, -1, cx, "used len covers the status byte",
                        "len %" PRIu32, ev->len);
                else if (t == VS_BLK_T_IN && st == VS_BLK_S_OK && ev->len != c->in_bytes)
                    bad(m, CK_BLK_USED_LEN, -1, cx, "IN used len = data + 1",
                        "len %" PRIu32 ", writable %" PRIu64, ev->len, c->in_bytes);
                else
                    ok(m, CK_BLK_USED_LEN, -1);
            }
            if (t == VS_BLK_T_OUT && blk_read_only(m) && role_on(m, CK_BLK_RO_WRITE)) {
                if (st != VS_BLK_S_IOERR)
                    bad(m, CK_BLK_RO_WRITE, 0, cx, "IOERR for a write to a read-only device",
                        "status %u", st);
                else
                    ok(m, CK_BLK_RO_WRITE, 0);
            }
            bool dwz = t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
                       t == VS_BLK_T_SECURE_ERASE;
            if (dwz && role_on(m, CK_BLK_DWZ_FLAGS)) {
                if (c->blk_dwz_flags & ~VS_BLK_F_DWZ_UNMAP) {
                    if (st != VS_BLK_S_UNSUPP)
                        bad(m, CK_BLK_DWZ_FLAGS, 0, cx, "UNSUPP for unknown segment flags",
                            "type %" PRIu32 " flags 0x%" PRIx32 " status %u", t,
                            c->blk_dwz_flags, st);
                    else
                        ok(m, CK_BLK_DWZ_FLAGS, 0);
                } else if (t == VS_BLK_T_DISCARD && (c->blk_dwz_flags & VS_BLK_F_DWZ_UNMAP) &&
                           has(f, VS_BLK_F_DISCARD)) {
                    if (st != VS_BLK_S_UNSUPP)
                        bad(m, CK_BLK_DWZ_FLAGS, 1, cx, "UNSUPP for discard with unmap",
                            "status %u", st);
                    else
                        ok(m, CK_BLK_DWZ_FLAGS, 1);
                }
            }
            bool zone = t == 15 || t == 16 || t == 18 || t == 20 || t == 22 || t == 24 ||
                        t == 26;
            if (zone && !has(f, VS_BLK_F_ZONED) && role_on(m, CK_BLK_ZONED_UNSUPP)) {
                if (st != VS_BLK_S_UNSUPP)
                    bad(m, CK_BLK_ZONED_UNSUPP, 0, cx, "UNSUPP for zone requests without ZONED",
                        "type %" PRIu32 " status %u", t, st);
                else
                    ok(m, CK_BLK_ZONED_UNSUPP, 0);
            }
            if (t == VS_BLK_T_WRITE_ZEROES && st == VS_BLK_S_OK &&
                has(f, VS_BLK_F_WRITE_ZEROES))
                wz_completed(m, c);
            zone_on_used(m, c, st, cx);
            if (t == VS_BLK_T_IN && st == VS_BLK_S_OK && c->in_bytes > VS_BLK_SECTOR &&
                m->n_zr && role_on(m, CK_BLK_WZ_ZEROES))
                wz_check_read(m, c, cx);
            if (t == VS_BLK_T_IN && st == VS_BLK_S_OK)
                rb_check_read(m, c, !q_split(q), cx);
            out_ok = t == VS_BLK_T_OUT && st == VS_BLK_S_OK;
            if (t == VS_BLK_T_GET_LIFETIME && st == VS_BLK_S_OK && c->in_bytes >= 7 &&
                role_on(m, CK_BLK_LIFETIME)) {
                uint8_t lt[6];
                if (chain_read(m, c, true, 0, lt, 6)) {
                    uint16_t pre = (uint16_t)(lt[0] | lt[1] << 8),
                             a = (uint16_t)(lt[2] | lt[3] << 8), b = (uint16_t)(lt[4] | lt[5] << 8);
                    if (pre > 3 || a > 0x0b || b > 0x0b)
                        bad(m, CK_BLK_LIFETIME, 0, cx, "pre_eol_info <= 3, estimates <= 0x0b",
                            "pre_eol_info %u, estimates 0x%x 0x%x", pre, a, b);
                    else
                        ok(m, CK_BLK_LIFETIME, 0);
                }
            }
        }
    }
    rb_write_done(m, c, out_ok);
    if (c->z_counted) { /* completed without a readable status: the model cannot follow */
        c->z_counted = false;
        if (m->z_live)
            m->z_live--;
        z_forget_all(m);
    }
    blk_write_done(m, c);
    c->live = false;
    c->completed = true;
    c->completed_idx = ev->idx;
    if (q->live)
        q->live--;
}

static void on_fetch(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "chain fetched");
    if (!q || !q->setup)
        return;
    chain_rec *c = ev->id < ID_SPACE ? q->byid[ev->id] : NULL;
    pk_check_recent(m, ev->queue, q);
    bool refetch = c && c->live && c->published && c->fetched;
    if (c && c->live && c->published && !c->fetched) {
        fetch_order(m, ev, q, c);
        c->fetched = true;
    }
    if (!role_on(m, CK_FETCH_AVAIL))
        return;
    int k = q_split(q) ? -1 : 0;
    ctx cx = idctx(ev->queue, ev->id);
    if (!c || !c->live || !c->published)
        bad(m, CK_FETCH_AVAIL, k, cx, "only published chains fetched",
            "id %" PRIu32 " fetched but not available", ev->id);
    else if (refetch) /* its descriptors were not made available again */
        bad(m, CK_FETCH_AVAIL, k, cx, "a chain fetched once per time it is made available",
            "id %" PRIu32 " fetched again without being made available again", ev->id);
    else
        ok(m, CK_FETCH_AVAIL, k);
}

/* ------------------------------------------------------------ public */

int vs_monitors_create(vs_monitors **out, vs_gmem *gm, uint32_t device_id, unsigned roles,
                       vs_err *e)
{
    if (!out || !gm)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL argument");
    *out = NULL;
    if (!(roles & VS_ROLE_BOTH) || (roles & ~(unsigned)VS_ROLE_BOTH))
        return vs_err_set(e, VS_EINVAL, "monitors: roles must be device, driver or both");
    vs_monitors *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    int rc = vs_results_create(&m->res, e);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->gm = gm;
    m->device_id = device_id;
    m->roles = roles;
    m->irq_observable = true;
    m->irq_latency_ns = 500;
    for (size_t c = 0; c < CK_COUNT; c++) {
        const vs_check_info *ci = vs_check_at(c);
        size_t k = 0;
        for (; k < IDS_MAX; k++)
            m->sidx[c][k] = -1;
        k = 0;
        for (const char *const *p = ci->ids; *p && k < IDS_MAX; p++, k++) {
            m->sidx[c][k] = vs_catalogue_index(*p);
            if (m->sidx[c][k] < 0) {
                vs_monitors_destroy(m);
                return vs_err_set(e, VS_EINVAL, "monitors: check %s names unknown statement %s",
                                  ci->name, *p);
            }
        }
    }
    *out = m;
    return 0;
}

void vs_monitors_destroy(vs_monitors *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        queue_drop(m, &m->q[i]);
    vs_results_destroy(m->res);
    free(m->rb);
    free(m->zn);
    free(m);
}

void vs_monitors_set_scenario(vs_monitors *m, const char *name)
{
    if (m)
        copy_str(m->scenario, sizeof m->scenario, name);
}

void vs_monitors_set_step(vs_monitors *m, uint32_t index, const char *desc)
{
    if (!m)
        return;
    m->step = index;
    copy_str(m->step_desc, sizeof m->step_desc, desc);
}

void vs_monitors_set_async_device(vs_monitors *m, bool async)
{
    if (m)
        m->async_device = async;
}

void vs_monitors_set_backend_view(vs_monitors *m, bool on)
{
    if (m)
        m->backend_view = on;
}

void vs_monitors_set_gmem(vs_monitors *m, vs_gmem *gm)
{
    if (m && gm)
        m->gm = gm;
}

int vs_monitors_report_driver_violation(vs_monitors *m, const char *statement_id,
                                        int32_t queue, bool has_id, uint32_t id,
                                        const char *expected, const char *seen, vs_err *e)
{
    if (!m || !statement_id)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL argument");
    if (m->finished)
        return vs_err_set(e, VS_ESTATE, "monitors: already finished");
    long si = vs_catalogue_index(statement_id);
    if (si < 0)
        return vs_err_set(e, VS_EINVAL, "monitors: unknown statement %s", statement_id);
    if (vs_catalogue_at((size_t)si)->role != VS_ROLE_DRIVER)
        return vs_err_set(e, VS_EINVAL, "monitors: %s is not a driver statement", statement_id);
    for (size_t c = 0; c < CK_COUNT; c++) {
        if (vs_check_at(c)->role != VS_ROLE_DRIVER)
            continue;
        for (int k = 0; k < IDS_MAX; k++)
            if (m->sidx[c][k] == si) {
                if (!role_on(m, (enum vs_chk)c))
                    return 0; /* driver role not monitored: nothing to record */
                bad(m, (enum vs_chk)c, k,
                    (ctx){.queue = queue, .has_id = has_id, .id = id},
                    expected ? expected : "", "%s", seen ? seen : "");
                return 0;
            }
    }
    return vs_err_set(e, VS_EINVAL, "monitors: no driver check covers %s", statement_id);
}

void vs_monitors_set_sriov_capable(vs_monitors *m, bool on)
{
    if (m)
        m->sriov_capable = on;
}

void vs_monitors_set_irq_latency(vs_monitors *m, uint64_t ns)
{
    if (m)
        m->irq_latency_ns = ns;
}

void vs_monitors_set_interrupts_observable(vs_monitors *m, bool on)
{
    if (m)
        m->irq_observable = on;
}

void vs_monitors_on_event(void *opaque, const vs_event *ev)
{
    vs_monitors *m = opaque;
    if (!m || !ev || m->finished)
        return;
    m->cur = ev;
    m->last_t = ev->t_ns;
    if (m->n_due && ev->kind != VS_EV_IRQ)
        for (uint32_t i = 0; i < MAX_QUEUES && m->n_due; i++)
            ei_due_expire(m, (int32_t)i, &m->q[i], false);
    cfg_gen_track(m, ev);
    switch (ev->kind) {
    case VS_EV_RESET: do_reset(m); break;
    case VS_EV_STATUS_WRITE: on_status_write(m, ev); break;
    case VS_EV_STATUS_READ: on_status_read(m, ev); break;
    case VS_EV_FEATURES_READ: on_features_read(m, ev); break;
    case VS_EV_FEATURES_WRITE: on_features_write(m, ev); break;
    case VS_EV_CONFIG_READ: on_config_access(m, ev, false); break;
    case VS_EV_CONFIG_WRITE: on_config_access(m, ev, true); break;
    case VS_EV_QUEUE_SETUP: on_queue_setup(m, ev); break;
    case VS_EV_QUEUE_DISABLE: {
        qstate *q = getq(m, ev->queue);
        if (q) {
            qr_on_disable(m, ev->queue, q);
            check_irq_required(m, ev->queue, q);
            pk_check_all(m, ev->queue, q);
            queue_drop(m, q);
        }
        break;
    }
    case VS_EV_AVAIL: on_avail(m, ev); break;
    case VS_EV_PUBLISH: on_publish(m, ev); break;
    case VS_EV_KICK: on_kick(m, ev, true); break;
    case VS_EV_KICK_SUPPRESSED: on_kick(m, ev, false); break;
    case VS_EV_FETCH: on_fetch(m, ev); break;
    case VS_EV_DEVICE_ERROR:
        m->dev_error_pending = true;
        m->dev_error_read_without = false;
        on_device_error(m);
        break;
    case VS_EV_USED: on_used(m, ev); break;
    case VS_EV_USED_INVALID:
        if (ev->queue >= 0 && (uint32_t)ev->queue < MAX_QUEUES) {
            m->q[ev->queue].pk_lost = true;
            qr_fresh_failed(m, ev->queue, "an invalid used element");
        }
        if (used_invalid_is_idx_jump(m, ev))
            break;
        if (role_on(m, CK_USED_ID)) {
            qstate *q = getq(m, ev->queue);
            bad(m, CK_USED_ID, (q && q->setup && !q_split(q)) ? 1 : 0,
                (ctx){.queue = ev->queue, .has_id = true, .id = ev->id},
                "a valid used element", "%s", ev->text ? ev->text : "invalid used element");
        }
        break;
    case VS_EV_IRQ_MASK: on_irq_mask(m, ev); break;
    case VS_EV_IRQ: on_irq(m, ev); break;
    case VS_EV_USED_EVENT: on_used_event(m, ev); break;
    case VS_EV_CONFIG_CHANGE: m->cfg_irq_count++; break;
    case VS_EV_CONFIG_GEN: su_on_gen(m, ev->val); break;
    case VS_EV_STEP: vs_monitors_set_step(m, (uint32_t)ev->val, ev->text); break;
    default: break;
    }
    m->cur = NULL;
}

int vs_monitors_finish(vs_monitors *m, uint64_t negotiated_features, vs_err *e)
{
    if (!m)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL");
    if (m->finished)
        return vs_err_set(e, VS_ESTATE, "monitors: finish called twice");
    end_window(m);
    m->finished = true;
    vs_results *r = m->res;
    copy_str(r->scenario, sizeof r->scenario, m->scenario);
    r->n_scenarios = 1;
    for (size_t i = 0; i < r->n_stmt; i++) {
        vs_stmt_result *s = &r->stmt[i];
        if (s->violations) {
            s->verdict = VS_VERDICT_FAIL;
            snprintf(s->reason, sizeof s->reason, "%" PRIu64 " violation(s)", s->violations);
            continue;
        }
        if (s->verdict == VS_VERDICT_UNTESTABLE || s->verdict == VS_VERDICT_NO_CHECK)
            continue;
        bool app = true;
        vs_err fe = {0};
        if (vs_feature_expr_eval(m->device_id, s->st->feature, negotiated_features, &app,
                                 &fe) < 0)
            app = true;
        if ((strcmp(s->st->area, "blk") == 0 && m->device_id != VS_DEV_BLK) ||
            (strcmp(s->st->area, "scsi") == 0 && m->device_id != VS_DEV_SCSI) ||
            (strcmp(s->st->area, "console") == 0 && m->device_id != VS_DEV_CONSOLE))
            app = false;
        if (!app) {
            s->verdict = VS_VERDICT_NOT_APPLICABLE;
            snprintf(s->reason, sizeof s->reason, "feature expression '%s' false",
                     s->st->feature);
        } else if (!(m->roles & s->st->role)) {
            s->verdict = VS_VERDICT_NOT_EXERCISED;
            snprintf(s->reason, sizeof s->reason, "%s role not monitored",
                     vs_role_name(s->st->role));
        } else if (s->exercised) {
            s->verdict = VS_VERDICT_PASS;
            snprintf(s->reason, sizeof s->reason, "exercised %" PRIu64 " time(s)", s->exercised);
        } else {
            s->verdict = VS_VERDICT_NOT_EXERCISED;
            snprintf(s->reason, sizeof s->reason, "not exercised");
        }
    }
    vs_results_recount(r);
    return 0;
}

const vs_results *vs_monitors_results(const vs_monitors *m)
{
    return m && m->finished ? m->res : NULL;
}

uint64_t vs_monitors_violations(const vs_monitors *m) { return m ? m->violations : 0; }
