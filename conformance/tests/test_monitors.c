/* Every monitor check fires: a synthetic event sequence over real guest memory that
 * conforms (the statement passes) and a mutant of it that violates the check (the
 * statement fails, with evidence naming the check). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "conformance/hash.h"
#include "virtiosim/blk.h"
#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

enum mut {
    M_NONE,
    M_USED_BAD_ID, M_DOUBLE, M_LEN_LONG, M_IDX_SKIP, M_WRITE_READONLY, M_GUARD, M_DESC_WRITE,
    M_USED_BEFORE_DOK, M_RESET_NONZERO, M_IRQ_MASKED, M_NO_IRQ, M_OFFER_RESERVED,
    M_OFFER_NO_V1, M_OFFER_WCE_NO_FLUSH, M_FOK_ACCEPTS_BAD, M_BLK_STATUS_BAD, M_BLK_IN_SHORT,
    M_BLK_RO, M_PAD, M_USED_INVALID, M_AFTER_RESET,
    M_D_ORDER, M_D_NONMONO, M_D_SUBSET, M_D_KICK_EARLY, M_D_ALIGN, M_D_W_BEFORE_R,
    M_D_INDIRECT, M_D_AVAIL_BACK, M_D_CFG_NOGEN, M_D_CFG_WRITE_EARLY, M_D_FLUSH_SECTOR,
    M_D_IN_ODD, M_D_KICK_SKIPPED, M_D_NO_RESET_WAIT, M_D_FEAT_FROZEN, M_D_USED_FLAGS,
    M_D_FAILED_NO_RESET, M_USED_FLAGS_BAD, M_RESET_SLOW, M_RESET_NEVER,
    M_D_ADDR_OUTSIDE, M_SPAN_REGIONS, M_D_AVAIL_FLAGS, M_D_KICK_UNNEEDED, M_D_FEAT_RESERVED,
    M_D_NO_V1, M_D_RO_IGNORED, M_D_CFG_OPTIONAL, M_D_WCE_EARLY, M_D_ABANDON,
    /* conforming twins of driver mutants whose statement the plain run never reaches */
    M_RO_ACCEPTED, M_WCE_LATE, M_GIVES_UP, M_IN_ORDER, M_LIFETIME_OK,
    M_IN_ORDER_SWAP, M_LIFETIME_RESERVED, M_CAP_CHANGE_IRQ, M_CAP_CHANGE_SILENT,
    M_ERROR_FLAGGED, M_ERROR_HIDDEN,
    /* generic driver checks: SR_IOV / an undefined bit offered and declined (the twins),
       SR_IOV accepted */
    M_SR_IOV_DECLINED, M_UNKNOWN_DECLINED, M_D_ACCEPT_SR_IOV,
};

#define QSZ 16u
#define BUF 0x80000ull
#define SPAN_BOUNDARY 0x100000ull /* flat RAM size; M_SPAN_REGIONS splits RAM here */

typedef struct h {
    vs_gmem *gm;
    vs_monitors *m;
    vs_vq_layout l;
    enum mut mut;
    uint64_t t;
    uint16_t avail, used;
    uint64_t neg;
    bool ro;
    bool pay;              /* request(): the data segment holds one DWZ segment */
    uint64_t pay_sector;
    uint32_t pay_num;
} h;

static void ev(h *x, enum vs_event_kind k, int32_t q, uint64_t val)
{
    vs_event e = {.kind = k, .t_ns = x->t += 10, .queue = q, .val = val};
    vs_monitors_on_event(x->m, &e);
}

static void cfg(h *x, enum vs_event_kind k, uint32_t off, uint32_t len, uint64_t val)
{
    vs_event e = {.kind = k, .t_ns = x->t += 10, .queue = -1, .off = off, .len = len, .val = val};
    vs_monitors_on_event(x->m, &e);
}

static void wdesc(h *x, uint16_t slot, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t g = x->l.desc_gpa + 16ull * slot;
    ck_assert_int_eq(vs_gmem_st64(x->gm, g, addr, NULL), 0);
    vs_gmem_st32(x->gm, g + 8, len, NULL);
    vs_gmem_st16(x->gm, g + 12, flags, NULL);
    vs_gmem_st16(x->gm, g + 14, next, NULL);
}

/* A blk request at descriptor slots head..: header (readable), data, status. */
static void request(h *x, uint16_t head, uint32_t type, uint64_t sector, uint32_t data,
                    bool data_in)
{
    uint64_t base = BUF + 0x4000ull * head;
    uint64_t hdr = base, dat = base + 0x100, st = base + 0x3000;
    if (x->mut == M_SPAN_REGIONS && head == 0)
        dat = SPAN_BOUNDARY - 0x100; /* legal: straddles two adjacent RAM regions */
    vs_gmem_st32(x->gm, hdr, type, NULL);
    vs_gmem_st64(x->gm, hdr + 8, sector, NULL);
    vs_gmem_fill(x->gm, dat, 0xa5, data + 16, NULL);
    if (x->pay && !data_in) {
        vs_gmem_st64(x->gm, dat, x->pay_sector, NULL);
        vs_gmem_st32(x->gm, dat + 8, x->pay_num, NULL);
        vs_gmem_st32(x->gm, dat + 12, 0, NULL);
    }
    vs_gmem_fill(x->gm, st, 0xee, 17, NULL);  /* status byte + guard */
    vs_seg segs[3];
    unsigned n = 0, nout = 0;
    uint16_t s = head;
    bool w_first = x->mut == M_D_W_BEFORE_R && head == 0;
    if (w_first) {  /* status (writable) before the header */
        wdesc(x, s, st, 1, VS_DESC_F_WRITE | VS_DESC_F_NEXT, (uint16_t)(s + 1));
        s++;
    }
    uint16_t hflags = VS_DESC_F_NEXT;
    if (x->mut == M_D_INDIRECT && head == 0)
        hflags |= VS_DESC_F_INDIRECT;
    wdesc(x, s, hdr, 16, hflags, (uint16_t)(s + 1));
    s++;
    segs[n++] = (vs_seg){hdr, 16};
    nout++;
    if (data) {
        uint64_t daddr = x->mut == M_D_ADDR_OUTSIDE && head == 3 ? 4 * SPAN_BOUNDARY : dat;
        wdesc(x, s, daddr, data, (uint16_t)(VS_DESC_F_NEXT | (data_in ? VS_DESC_F_WRITE : 0)),
              (uint16_t)(s + 1));
        s++;
        segs[n++] = (vs_seg){dat, data};
        if (!data_in)
            nout++;
    }
    if (!w_first)
        wdesc(x, s, st, 1, VS_DESC_F_WRITE, 0);
    segs[n++] = (vs_seg){st, 1};
    vs_gmem_st16(x->gm, x->l.driver_gpa + 4 + 2ull * (x->avail % QSZ), head, NULL);
    if (x->mut == M_D_AVAIL_FLAGS && head == 3)
        vs_gmem_st16(x->gm, x->l.driver_gpa, 2, NULL); /* only bit 0 is defined */
    if (x->mut == M_D_KICK_UNNEEDED && head == 3)
        vs_gmem_st16(x->gm, x->l.device_gpa, 1, NULL); /* device: no notifications please */
    vs_ev_chain ch = {.seg = segs, .n_out = nout, .n_in = n - nout};
    vs_event e = {.kind = VS_EV_AVAIL, .t_ns = x->t += 10, .queue = 0, .id = head, .chain = &ch};
    vs_monitors_on_event(x->m, &e);
    x->avail++;
    uint16_t pub = x->avail;
    if (x->mut == M_D_AVAIL_BACK && head == 3)
        pub = (uint16_t)(x->avail - 40);
    vs_gmem_st16(x->gm, x->l.driver_gpa + 2, pub, NULL);
    vs_event p = {.kind = VS_EV_PUBLISH, .t_ns = x->t += 10, .queue = 0, .idx = pub};
    vs_monitors_on_event(x->m, &p);
    if (x->mut == M_D_KICK_SKIPPED && head == 3)
        ev(x, VS_EV_KICK_SUPPRESSED, 0, 0);
    else
        ev(x, VS_EV_KICK, 0, 0);
    if (x->mut == M_D_KICK_UNNEEDED && head == 3)
        vs_gmem_st16(x->gm, x->l.device_gpa, 0, NULL);
}

/* The device completes request `head` with status `status` and `len`. */
static void complete(h *x, uint16_t head, uint32_t len, uint8_t status, bool irq)
{
    uint64_t base = BUF + 0x4000ull * head;
    vs_gmem_st8(x->gm, base + 0x3000, status, NULL);
    uint32_t id = head;
    if (x->mut == M_USED_BAD_ID && head == 3)
        id = 9;
    if (x->mut == M_LEN_LONG && head == 0)
        len = 9999;
    if (x->mut == M_WRITE_READONLY && head == 3)
        vs_gmem_st8(x->gm, base + 0x100, 0x00, NULL);
    if (x->mut == M_GUARD && head == 0)
        vs_gmem_st8(x->gm, base + 0x100 + 512 + 3, 0x11, NULL);
    if (x->mut == M_DESC_WRITE && head == 0)
        vs_gmem_st32(x->gm, x->l.desc_gpa + 8, 7, NULL);
    uint64_t ue = x->l.device_gpa + 4 + 8ull * (x->used % QSZ);
    vs_gmem_st32(x->gm, ue, id, NULL);
    vs_gmem_st32(x->gm, ue + 4, len, NULL);
    x->used++;
    uint16_t uidx = x->used;
    if (x->mut == M_IDX_SKIP && head == 0)
        uidx++;
    vs_gmem_st16(x->gm, x->l.device_gpa + 2, uidx, NULL);
    if (irq)
        ev(x, VS_EV_IRQ, 0, 1);
    vs_event u = {.kind = VS_EV_USED, .t_ns = x->t += 10, .queue = 0, .id = id, .len = len,
                  .idx = x->used};
    vs_monitors_on_event(x->m, &u);
    if (x->mut == M_DOUBLE && head == 6) {
        x->used++;
        u.idx = x->used;
        vs_monitors_on_event(x->m, &u);
    }
}

static void gmem_monitor_reset_never(void)
{
    vs_gmem *gm;
    vs_monitors *m;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 16, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&m, gm, VS_DEV_BLK, VS_ROLE_DEVICE, NULL), 0);
    uint64_t t = 0;
    vs_event e = {.kind = VS_EV_RESET, .t_ns = t, .queue = -1};
    vs_monitors_on_event(m, &e);
    for (int i = 0; i < 100; i++) {
        e = (vs_event){.kind = VS_EV_STATUS_READ, .t_ns = t += 10, .queue = -1, .val = 0x0f};
        vs_monitors_on_event(m, &e);
    }
    ck_assert_uint_eq(vs_monitors_violations(m), 0);
    vs_monitors_on_event(m, &e);
    ck_assert_uint_eq(vs_monitors_violations(m), 1);
    vs_monitors_on_event(m, &e);
    ck_assert_uint_eq(vs_monitors_violations(m), 1); /* reported once per reset */
    vs_monitors_destroy(m);
    vs_gmem_destroy(gm);
}

/* What the device of run() offers, per mutation. */
static uint64_t offer_of(enum mut mut)
{
    uint64_t offered = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) |
                       VS_BIT(VS_BLK_F_CONFIG_WCE);
    if (mut == M_BLK_RO || mut == M_D_RO_IGNORED || mut == M_RO_ACCEPTED)
        offered |= VS_BIT(VS_BLK_F_RO);
    if (mut == M_OFFER_RESERVED || mut == M_D_FEAT_RESERVED || mut == M_UNKNOWN_DECLINED)
        offered |= VS_BIT(50);
    if (mut == M_SR_IOV_DECLINED || mut == M_D_ACCEPT_SR_IOV)
        offered |= VS_BIT(VS_F_SR_IOV);
    if (mut == M_IN_ORDER || mut == M_IN_ORDER_SWAP)
        offered |= VS_BIT(VS_F_IN_ORDER);
    if (mut == M_LIFETIME_OK || mut == M_LIFETIME_RESERVED)
        offered |= VS_BIT(VS_BLK_F_LIFETIME);
    if (mut == M_OFFER_NO_V1)
        offered &= ~VS_BIT(VS_F_VERSION_1);
    if (mut == M_OFFER_WCE_NO_FLUSH)
        offered = (offered & ~VS_BIT(VS_BLK_F_FLUSH)) | VS_BIT(VS_BLK_F_CONFIG_WCE);
    return offered;
}

/* What the driver of run() accepts of that offer, per mutation. */
static uint64_t accept_of(enum mut mut, uint64_t offered)
{
    uint64_t drv = offered & (VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) |
                              VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_CONFIG_WCE));
    if (mut == M_D_SUBSET || mut == M_FOK_ACCEPTS_BAD)
        drv |= VS_BIT(VS_F_EVENT_IDX);
    if (mut == M_D_FEAT_RESERVED)
        drv |= VS_BIT(50);
    if (mut == M_D_ACCEPT_SR_IOV)
        drv |= VS_BIT(VS_F_SR_IOV);
    if (mut == M_IN_ORDER || mut == M_IN_ORDER_SWAP)
        drv |= VS_BIT(VS_F_IN_ORDER);
    if (mut == M_LIFETIME_OK || mut == M_LIFETIME_RESERVED)
        drv |= VS_BIT(VS_BLK_F_LIFETIME);
    if (mut == M_D_NO_V1)
        drv &= ~VS_BIT(VS_F_VERSION_1);
    if (mut == M_D_RO_IGNORED)
        drv &= ~VS_BIT(VS_BLK_F_RO);
    return drv;
}

static void run(h *x, enum mut mut, unsigned roles)
{
    memset(x, 0, sizeof *x);
    x->mut = mut;
    if (mut == M_SPAN_REGIONS) { /* guest RAM as two adjacent regions */
        ck_assert_int_eq(vs_gmem_create(&x->gm, 2 * SPAN_BOUNDARY, "span", NULL), 0);
        ck_assert_int_eq(vs_gmem_add_region(x->gm, 0, SPAN_BOUNDARY, 0, 0, NULL), 0);
        ck_assert_int_eq(
            vs_gmem_add_region(x->gm, SPAN_BOUNDARY, SPAN_BOUNDARY, SPAN_BOUNDARY, 0, NULL), 0);
    } else {
        ck_assert_int_eq(vs_gmem_create_flat(&x->gm, SPAN_BOUNDARY, NULL), 0);
    }
    ck_assert_int_eq(vs_monitors_create(&x->m, x->gm, VS_DEV_BLK, roles, NULL), 0);
    vs_monitors_set_scenario(x->m, "unit");
    ck_assert_int_eq(vs_vq_layout_alloc(x->gm, VS_RING_SPLIT, QSZ, &x->l, NULL), 0);
    if (mut == M_D_ALIGN)
        x->l.driver_gpa += 1;
    if (mut == M_D_USED_FLAGS)
        vs_gmem_st16(x->gm, x->l.device_gpa, 1, NULL);
    vs_event step = {.kind = VS_EV_STEP, .val = 1, .text = "init", .queue = -1};
    vs_monitors_on_event(x->m, &step);

    ev(x, VS_EV_RESET, -1, 0);
    if (mut == M_RESET_SLOW) /* still resetting at the first read: allowed */
        ev(x, VS_EV_STATUS_READ, -1, 0x40);
    if (mut != M_D_NO_RESET_WAIT)
        ev(x, VS_EV_STATUS_READ, -1, 0);
    if (mut == M_RESET_NONZERO) /* non-zero again after it had read 0 */
        ev(x, VS_EV_STATUS_READ, -1, 0x40);
    ev(x, VS_EV_STATUS_WRITE, -1, 1);
    if (mut == M_D_ORDER)
        ev(x, VS_EV_STATUS_WRITE, -1, 1 | 8);
    ev(x, VS_EV_STATUS_WRITE, -1, 3);
    x->ro = mut == M_BLK_RO;
    bool lifetime = mut == M_LIFETIME_OK || mut == M_LIFETIME_RESERVED;
    uint64_t offered = offer_of(mut);
    ev(x, VS_EV_FEATURES_READ, -1, offered);
    if (mut != M_D_CFG_NOGEN)
        ev(x, VS_EV_CONFIG_GEN, -1, 0);
    cfg(x, VS_EV_CONFIG_READ, 0, 8, 2048);
    cfg(x, VS_EV_CONFIG_READ, 33, 1, mut == M_PAD ? 5 : 0);
    if (mut == M_D_CFG_OPTIONAL) /* blk_size, but BLK_SIZE was not offered */
        cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_BLK_SIZE, 4, 512);
    if (mut == M_D_WCE_EARLY) /* writeback before FEATURES_OK */
        cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_WRITEBACK, 1, 0);
    ev(x, VS_EV_CONFIG_GEN, -1, 0);
    if (mut == M_D_CFG_WRITE_EARLY)
        cfg(x, VS_EV_CONFIG_WRITE, 32, 1, 1);
    uint64_t drv = accept_of(mut, offered);
    ev(x, VS_EV_FEATURES_WRITE, -1, drv);
    x->neg = drv;
    if (mut != M_D_ORDER)
        ev(x, VS_EV_STATUS_WRITE, -1, 0xb);
    /* re-writing the same features after FEATURES_OK is harmless; changing them is not */
    ev(x, VS_EV_FEATURES_WRITE, -1, mut == M_D_FEAT_FROZEN ? drv | VS_BIT(VS_BLK_F_RO) : drv);
    /* M_FOK_ACCEPTS_BAD: the mutant device accepts un-offered bits (no refusal).
     * M_D_ABANDON: the device refuses and the driver carries on regardless. */
    bool refuse = mut == M_D_ABANDON || mut == M_GIVES_UP;
    ev(x, VS_EV_STATUS_READ, -1, refuse ? 3 : 0xb);
    if (mut == M_GIVES_UP) {
        ev(x, VS_EV_STATUS_WRITE, -1, 0x80 | 0xb);
        ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
        return;
    }
    if (mut == M_WCE_LATE) {
        ev(x, VS_EV_CONFIG_GEN, -1, 0);
        cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_WRITEBACK, 1, 0);
        ev(x, VS_EV_CONFIG_GEN, -1, 0);
    }
    vs_event qs = {.kind = VS_EV_QUEUE_SETUP, .queue = 0, .layout = &x->l, .t_ns = x->t += 10};
    vs_monitors_on_event(x->m, &qs);
    if (mut == M_D_KICK_EARLY)
        ev(x, VS_EV_KICK, 0, 0);
    if (mut == M_USED_BEFORE_DOK) {
        request(x, 9, VS_BLK_T_FLUSH, 0, 0, false);
        complete(x, 9, 1, 0, false);
    }
    if (mut == M_D_NONMONO)
        ev(x, VS_EV_STATUS_WRITE, -1, 0x9);
    ev(x, VS_EV_STATUS_WRITE, -1, 0xf);
    cfg(x, VS_EV_CONFIG_WRITE, 32, 1, 0);
    step = (vs_event){.kind = VS_EV_STEP, .val = 2, .text = "io", .queue = -1};
    vs_monitors_on_event(x->m, &step);

    /* IN 512 bytes */
    request(x, 0, VS_BLK_T_IN, 0, mut == M_D_IN_ODD ? 500 : 512, true);
    uint32_t in_len = mut == M_D_IN_ODD ? 501 : 513;
    if (mut == M_BLK_IN_SHORT)
        in_len = 512;
    bool swap = mut == M_IN_ORDER_SWAP; /* the IN completes after the later OUT */
    if (!swap)
        complete(x, 0, in_len, mut == M_BLK_STATUS_BAD ? 7 : 0, true);
    /* OUT 512 bytes (not to a read-only device) */
    if (mut != M_RO_ACCEPTED)
        request(x, 3, VS_BLK_T_OUT, 8, 512, false);
    if (mut == M_IRQ_MASKED)
        ev(x, VS_EV_IRQ_MASK, 0, 1);
    if (mut != M_RO_ACCEPTED)
        complete(x, 3, 1, (x->ro && mut != M_BLK_RO) ? VS_BLK_S_IOERR : 0, true);
    if (mut == M_IRQ_MASKED)
        ev(x, VS_EV_IRQ_MASK, 0, 0);
    if (swap)
        complete(x, 0, in_len, 0, true);
    /* FLUSH */
    request(x, 6, VS_BLK_T_FLUSH, mut == M_D_FLUSH_SECTOR ? 5 : 0, 0, false);
    if (mut == M_USED_FLAGS_BAD)
        vs_gmem_st16(x->gm, x->l.device_gpa, 2, NULL);
    complete(x, 6, 1, 0, mut != M_NO_IRQ);
    if (lifetime) {
        request(x, 12, VS_BLK_T_GET_LIFETIME, 0, 8, true);
        uint64_t lt = BUF + 0x4000ull * 12 + 0x100;
        vs_gmem_fill(x->gm, lt, 0, 8, NULL);
        if (mut == M_LIFETIME_RESERVED)
            vs_gmem_st16(x->gm, lt, 4, NULL); /* pre_eol_info 4 is reserved */
        complete(x, 12, 9, 0, true);
    }
    if (mut == M_CAP_CHANGE_IRQ || mut == M_CAP_CHANGE_SILENT) { /* capacity 2048 -> 4096 */
        if (mut == M_CAP_CHANGE_IRQ)
            ev(x, VS_EV_IRQ, -1, 1);
        cfg(x, VS_EV_CONFIG_READ, 0, 8, 4096);
    }
    if (mut == M_ERROR_FLAGGED || mut == M_ERROR_HIDDEN) {
        ev(x, VS_EV_DEVICE_ERROR, -1, 0);
        if (mut == M_ERROR_FLAGGED) { /* NEEDS_RESET, with its config-change interrupt */
            ev(x, VS_EV_IRQ, -1, 1);
            ev(x, VS_EV_STATUS_READ, -1, VS_STATUS_DEVICE_NEEDS_RESET | 0xf);
        } else {
            ev(x, VS_EV_STATUS_READ, -1, 0xf);
        }
    }
    if (mut == M_USED_INVALID) {
        vs_event ui = {.kind = VS_EV_USED_INVALID, .queue = 0, .id = 77, .len = 1,
                       .text = "id 77 out of range", .t_ns = x->t += 10};
        vs_monitors_on_event(x->m, &ui);
    }
    if (mut == M_D_FAILED_NO_RESET) {
        ev(x, VS_EV_STATUS_WRITE, -1, 0x8f);
        ev(x, VS_EV_STATUS_WRITE, -1, 0x1);
    }
    ev(x, VS_EV_RESET, -1, 0);
    ev(x, VS_EV_STATUS_READ, -1, 0);
    if (mut == M_AFTER_RESET) {
        vs_event u = {.kind = VS_EV_USED, .t_ns = x->t += 10, .queue = 0, .id = 0, .len = 1,
                      .idx = 4};
        vs_monitors_on_event(x->m, &u);
    }
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

static void done(h *x)
{
    vs_monitors_destroy(x->m);
    vs_gmem_destroy(x->gm);
}

static const vs_stmt_result *res(h *x, const char *id)
{
    const vs_stmt_result *r = vs_results_find(vs_monitors_results(x->m), id);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const vs_check_result *cres(h *x, const char *name)
{
    const vs_results *r = vs_monitors_results(x->m);
    for (size_t i = 0; i < r->n_check; i++)
        if (strcmp(r->check[i].check->name, name) == 0)
            return &r->check[i];
    ck_abort_msg("no check %s", name);
    return NULL;
}

/* Clean run: statement passes; mutant: statement fails with evidence from `check`. */
/* Clean run `clean` (a conforming driver and device): the statement passes; mutant: it
 * fails with evidence naming `check`. */
static void pair_from(enum mut clean, enum mut mut, unsigned roles, const char *id,
                      const char *check)
{
    h x;
    run(&x, clean, roles);
    if (id) {
        const vs_stmt_result *r = res(&x, id);
        ck_assert_msg(r->verdict == VS_VERDICT_PASS, "%s clean: %s (%s)", id,
                      vs_verdict_name(r->verdict), r->reason);
    } else {
        const vs_check_result *c = cres(&x, check);
        ck_assert_msg(c->exercised > 0 && c->violations == 0, "%s clean", check);
    }
    ck_assert_uint_eq(vs_monitors_violations(x.m), 0);
    done(&x);
    run(&x, mut, roles);
    if (id) {
        const vs_stmt_result *r = res(&x, id);
        ck_assert_msg(r->verdict == VS_VERDICT_FAIL, "%s mutant %d: %s (%s)", id, mut,
                      vs_verdict_name(r->verdict), r->reason);
        ck_assert_uint_ge(r->n_evidence, 1);
        bool found = false;
        for (unsigned i = 0; i < r->n_evidence; i++)
            found |= strcmp(r->evidence[i].check, check) == 0;
        ck_assert_msg(found, "%s: evidence from %s expected, got %s", id, check,
                      r->evidence[0].check);
        ck_assert_str_eq(r->evidence[0].scenario, "unit");
        char buf[512];
        ck_assert_uint_gt(vs_evidence_format(&r->evidence[0], buf, sizeof buf), 0);
        ck_assert_ptr_nonnull(strstr(buf, "expected"));
    } else {
        const vs_check_result *c = cres(&x, check);
        ck_assert_msg(c->violations > 0, "%s mutant did not fire", check);
        ck_assert_uint_ge(c->n_evidence, 1);
    }
    done(&x);
}

#define DEV VS_ROLE_DEVICE
#define DRV VS_ROLE_DRIVER
static void pair(enum mut mut, unsigned roles, const char *id, const char *check)
{
    pair_from(M_NONE, mut, roles, id, check);
}

#define PAIR(name, mut, roles, id, check) \
    START_TEST(name) { pair(mut, roles, id, check); } END_TEST
#define TWIN_PAIR(name, clean, mut, roles, id, check) \
    START_TEST(name) { pair_from(clean, mut, roles, id, check); } END_TEST

PAIR(used_bad_id, M_USED_BAD_ID, DEV, "split.device.used-ring.1", "used-id-outstanding")
PAIR(used_double, M_DOUBLE, DEV, "split.device.used-ring.1", "used-id-outstanding")
PAIR(used_invalid, M_USED_INVALID, DEV, "split.device.used-ring.1", "used-id-outstanding")
PAIR(used_len, M_LEN_LONG, DEV, "split.device.used-ring.2", "used-len-bound")
PAIR(used_idx, M_IDX_SKIP, DEV, "split.device.used-ring.1", "used-idx-progress")
PAIR(readable, M_WRITE_READONLY, DEV, "split.device.desc-table.1", "readable-unchanged")
PAIR(guard, M_GUARD, DEV, "split.device.desc-table.1", "write-confined")
PAIR(desc_table, M_DESC_WRITE, DEV, "split.device.desc-table.3", "desc-table-unchanged")
PAIR(before_dok, M_USED_BEFORE_DOK, DEV, "generic.device.status.1", "nothing-before-driver-ok")
PAIR(after_reset, M_AFTER_RESET, DEV, "generic.device.reset.2", "quiet-after-reset")
PAIR(reset_zero, M_RESET_NONZERO, DEV, "generic.device.reset.1", "reset-reads-zero")
PAIR(irq_required, M_NO_IRQ, DEV, "split.device.used-notif-suppression.3",
     "irq-required-no-event-idx")
PAIR(used_flags, M_USED_FLAGS_BAD, DEV, "split.device.avail-notif-suppression.1", "used-flags-valid")
PAIR(offer_reserved, M_OFFER_RESERVED, DEV, "generic.device.features.4", "offer-no-reserved-bits")
PAIR(offer_v1, M_OFFER_NO_V1, DEV, "generic.device.reserved-features.1", "offer-version-1")
PAIR(offer_deps, M_OFFER_WCE_NO_FLUSH, DEV, "blk.device.blk-init.2", "offer-dependencies")
PAIR(flush_offered, M_OFFER_WCE_NO_FLUSH, DEV, "blk.device.blk-init.1", "blk-flush-offered")
PAIR(blk_status, M_BLK_STATUS_BAD, DEV, NULL, "blk-status-byte")
PAIR(blk_used_len, M_BLK_IN_SHORT, DEV, NULL, "blk-used-len")
PAIR(blk_pad, M_PAD, DEV, "blk.device.blk-init.4", "blk-config-padding-zero")

PAIR(d_order, M_D_ORDER, DRV, "generic.driver.init.1", "init-order")
PAIR(d_status_order, M_D_ORDER, DRV, "generic.driver.status.1", "init-order")
PAIR(d_nonmono, M_D_NONMONO, DRV, "generic.driver.status.2", "status-monotonic")
PAIR(d_subset, M_D_SUBSET, DRV, "generic.driver.features.1", "features-subset")
PAIR(d_kick_early, M_D_KICK_EARLY, DRV, "generic.driver.init.6", "no-kick-before-driver-ok")
PAIR(d_align, M_D_ALIGN, DRV, "split.driver.virtqueues.1", "ring-alignment")
PAIR(d_used_flags, M_D_USED_FLAGS, DRV, "split.driver.avail-notif-suppression.1",
     "used-flags-zeroed")
PAIR(d_w_before_r, M_D_W_BEFORE_R, DRV, "split.driver.message-framing.1", "chain-shape")
PAIR(d_indirect, M_D_INDIRECT, DRV, "split.driver.indirect.1", "chain-shape")
PAIR(d_avail_back, M_D_AVAIL_BACK, DRV, "split.driver.avail-ring.1", "avail-idx-forward")
PAIR(d_cfg_gen, M_D_CFG_NOGEN, DRV, "generic.driver.config-space.2", "config-generation-bracket")
PAIR(d_cfg_write, M_D_CFG_WRITE_EARLY, DRV, "generic.driver.init.2",
     "no-config-write-before-features-ok")
PAIR(d_flush_sector, M_D_FLUSH_SECTOR, DRV, "blk.driver.blk-op.4", "blk-request-shape")
PAIR(d_in_odd, M_D_IN_ODD, DRV, "blk.driver.blk-op.6", "blk-request-shape")
PAIR(d_kick_skipped, M_D_KICK_SKIPPED, DRV, "split.driver.avail-notif-suppression.4",
     "kick-when-needed")
PAIR(d_reset_wait, M_D_NO_RESET_WAIT, DRV, "generic.driver.reset.1", "reset-wait-zero")
PAIR(d_frozen, M_D_FEAT_FROZEN, DRV, "generic.driver.init.3", "features-frozen")
PAIR(d_failed_reset, M_D_FAILED_NO_RESET, DRV, "generic.driver.status.3", "failed-then-reset")
PAIR(d_addr_ram, M_D_ADDR_OUTSIDE, DRV, "generic.driver.reserved-features.4", "addresses-in-ram")
PAIR(d_avail_flags, M_D_AVAIL_FLAGS, DRV, "split.driver.used-notif-suppression.1",
     "avail-flags-valid")
PAIR(d_kick_unneeded, M_D_KICK_UNNEEDED, DRV, "split.driver.avail-notif-suppression.3",
     "kick-only-when-needed")
PAIR(d_feat_reserved, M_D_FEAT_RESERVED, DRV, "generic.driver.features.5", "features-no-reserved")
PAIR(d_no_v1, M_D_NO_V1, DRV, "generic.driver.reserved-features.1", "accept-version-1")
TWIN_PAIR(d_sr_iov, M_SR_IOV_DECLINED, M_D_ACCEPT_SR_IOV, DRV,
          "generic.driver.reserved-features.8", "sr-iov-needs-capability")
TWIN_PAIR(d_unknown_offer, M_UNKNOWN_DECLINED, M_D_FEAT_RESERVED, DRV,
          "generic.driver.features.4", "unknown-offer-disregarded")
TWIN_PAIR(d_ro_ignored, M_RO_ACCEPTED, M_D_RO_IGNORED, DRV, "blk.driver.blk-op.3",
          "accept-recommended")
PAIR(d_cfg_optional, M_D_CFG_OPTIONAL, DRV, "generic.driver.config-space.3",
     "config-optional-fields")
TWIN_PAIR(d_wce_early, M_WCE_LATE, M_D_WCE_EARLY, DRV, "blk.driver.blk-init.3",
          "blk-writeback-read-late")
TWIN_PAIR(in_order, M_IN_ORDER, M_IN_ORDER_SWAP, DEV, "generic.device.reserved-features.3",
          "in-order-use")
TWIN_PAIR(lifetime, M_LIFETIME_OK, M_LIFETIME_RESERVED, DEV, "blk.device.blk-op.12",
          "blk-lifetime-range")
TWIN_PAIR(cap_change, M_CAP_CHANGE_IRQ, M_CAP_CHANGE_SILENT, DEV, "blk.device.blk-op.1",
          "blk-config-change-notified")
TWIN_PAIR(error_flagged, M_ERROR_FLAGGED, M_ERROR_HIDDEN, DEV, "generic.device.status.2",
          "error-sets-needs-reset")
TWIN_PAIR(d_abandon, M_GIVES_UP, M_D_ABANDON, DRV, "generic.driver.init.5",
          "abandon-after-refusal")

/* A buffer straddling two adjacent RAM regions is still inside guest RAM: no check may
 * object, and addresses-in-ram must have looked at it. */
START_TEST(buffer_spanning_regions)
{
    h x;
    run(&x, M_SPAN_REGIONS, DEV | DRV);
    ck_assert_uint_eq(vs_monitors_violations(x.m), 0);
    ck_assert_uint_gt(cres(&x, "addresses-in-ram")->exercised, 0);
    const vs_stmt_result *r = res(&x, "generic.driver.reserved-features.4");
    ck_assert_msg(r->verdict == VS_VERDICT_PASS, "%s (%s)", vs_verdict_name(r->verdict),
                  r->reason);
    done(&x);
}
END_TEST

/* Checks whose clean case needs a different set-up. */
START_TEST(irq_suppressed)
{
    h x;
    run(&x, M_IRQ_MASKED, DEV);
    const vs_stmt_result *r = res(&x, "split.device.used-notif-suppression.2");
    ck_assert_int_eq(r->verdict, VS_VERDICT_FAIL);
    ck_assert_str_eq(r->evidence[0].check, "irq-suppressed-no-event-idx");
    done(&x);
}
END_TEST

/* A device still resetting at the first status read is fine if it then reads 0. */
START_TEST(reset_slow)
{
    h x;
    run(&x, M_RESET_SLOW, DEV);
    ck_assert_int_eq(res(&x, "generic.device.reset.1")->verdict, VS_VERDICT_PASS);
    done(&x);
}
END_TEST

/* ... but not forever: 101 non-zero reads after a reset. */
START_TEST(reset_never)
{
    gmem_monitor_reset_never();
}
END_TEST

START_TEST(ro_write)
{
    h x;
    run(&x, M_BLK_RO, DEV);  /* RO offered, device answers OK to the OUT */
    const vs_stmt_result *r = res(&x, "blk.device.blk-op.2");
    ck_assert_int_eq(r->verdict, VS_VERDICT_FAIL);
    ck_assert_str_eq(r->evidence[0].check, "blk-ro-write-ioerr");
    done(&x);
}
END_TEST

START_TEST(features_ok_refusal)
{
    h x;
    run(&x, M_FOK_ACCEPTS_BAD, VS_ROLE_BOTH);
    const vs_stmt_result *r = res(&x, "generic.device.features.3");
    ck_assert_int_eq(r->verdict, VS_VERDICT_FAIL);
    ck_assert_str_eq(r->evidence[0].check, "features-ok-refused");
    done(&x);
}
END_TEST

START_TEST(verdict_kinds)
{
    h x;
    run(&x, M_NONE, VS_ROLE_DEVICE);
    ck_assert_int_eq(res(&x, "split.device.desc-table.2")->verdict, VS_VERDICT_UNTESTABLE);
    ck_assert_int_eq(res(&x, "pci.device.isr.5")->verdict, VS_VERDICT_NO_CHECK);
    ck_assert_int_eq(res(&x, "packed.device.desc-table.1")->verdict, VS_VERDICT_NOT_APPLICABLE);
    ck_assert_int_eq(res(&x, "split.device.used-notif-suppression.6")->verdict,
                     VS_VERDICT_NOT_APPLICABLE);
    ck_assert_int_eq(res(&x, "generic.driver.init.1")->verdict, VS_VERDICT_NOT_EXERCISED);
    ck_assert_int_eq(res(&x, "generic.device.features.2")->verdict, VS_VERDICT_NO_CHECK);
    ck_assert_int_eq(res(&x, "split.device.used-ring.2")->verdict, VS_VERDICT_PASS);
    const vs_results *r = vs_monitors_results(x.m);
    size_t total = 0;
    for (int v = 0; v < VS_VERDICT_COUNT; v++)
        total += r->count[v];
    ck_assert_uint_eq(total, 339);
    ck_assert_uint_eq(r->count[VS_VERDICT_FAIL], 0);
    ck_assert_int_lt(vs_monitors_finish(x.m, 0, NULL), 0);
    done(&x);
}
END_TEST

START_TEST(create_errors)
{
    vs_monitors *m;
    vs_err e = {0};
    ck_assert_int_lt(vs_monitors_create(&m, NULL, VS_DEV_BLK, DEV, &e), 0);
    vs_gmem *gm;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1 << 16, NULL), 0);
    ck_assert_int_lt(vs_monitors_create(&m, gm, VS_DEV_BLK, 0, &e), 0);
    ck_assert_int_lt(vs_monitors_create(&m, gm, VS_DEV_BLK, 8, &e), 0);
    ck_assert_int_eq(vs_monitors_create(&m, gm, VS_DEV_BLK, DEV, &e), 0);
    /* garbage events never crash */
    vs_event bad = {.kind = VS_EV_USED, .queue = 9999, .id = 70000};
    vs_monitors_on_event(m, &bad);
    bad = (vs_event){.kind = VS_EV_AVAIL, .queue = 0};
    vs_monitors_on_event(m, &bad);
    bad = (vs_event){.kind = 999, .queue = -5};
    vs_monitors_on_event(m, &bad);
    vs_monitors_destroy(m);
    vs_gmem_destroy(gm);
}
END_TEST

/* ---- blk.device.blk-op.6, packed.device.desc-table.4, packed.device.virtqueues.1 ---- */

enum mut3 { M3_NONE, M3_WZ_KEEPS, M3_PK_REWRITE, M3_PK_SWAP, M3_PK_FETCH_EARLY };

/* Device initialisation with `features` negotiated and queue 0 of format fmt. */
static void init3r(h *x, vs_ring_format fmt, uint64_t features, unsigned roles)
{
    memset(x, 0, sizeof *x);
    ck_assert_int_eq(vs_gmem_create_flat(&x->gm, 1u << 20, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&x->m, x->gm, VS_DEV_BLK, roles, NULL), 0);
    vs_monitors_set_scenario(x->m, "unit");
    ck_assert_int_eq(vs_vq_layout_alloc(x->gm, fmt, QSZ, &x->l, NULL), 0);
    ev(x, VS_EV_RESET, -1, 0);
    ev(x, VS_EV_STATUS_READ, -1, 0);
    ev(x, VS_EV_STATUS_WRITE, -1, 1);
    ev(x, VS_EV_STATUS_WRITE, -1, 3);
    ev(x, VS_EV_FEATURES_READ, -1, features);
    ev(x, VS_EV_FEATURES_WRITE, -1, features);
    x->neg = features;
    ev(x, VS_EV_STATUS_WRITE, -1, 0xb);
    ev(x, VS_EV_STATUS_READ, -1, 0xb);
    vs_event qs = {.kind = VS_EV_QUEUE_SETUP, .queue = 0, .layout = &x->l, .t_ns = x->t += 10};
    vs_monitors_on_event(x->m, &qs);
    ev(x, VS_EV_STATUS_WRITE, -1, 0xf);
}

static void init3(h *x, vs_ring_format fmt, uint64_t features)
{
    init3r(x, fmt, features, VS_ROLE_DEVICE);
}

/* WRITE_ZEROES of sectors 8..11, an OUT over sector 10, then a read of 8..11: the device
 * returns zeroes except sector 10 (mutant: the old data everywhere). */
static void run_wz(h *x, enum mut3 mut)
{
    init3(x, VS_RING_SPLIT,
          VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_WRITE_ZEROES));
    x->pay = true;
    x->pay_sector = 8;
    x->pay_num = 4;
    request(x, 0, VS_BLK_T_WRITE_ZEROES, 0, 16, false);
    complete(x, 0, 1, VS_BLK_S_OK, true);
    x->pay = false;
    request(x, 3, VS_BLK_T_OUT, 10, 512, false);
    complete(x, 3, 1, VS_BLK_S_OK, true);
    request(x, 6, VS_BLK_T_IN, 8, 2048, true);
    uint64_t dat = BUF + 0x4000ull * 6 + 0x100;
    if (mut != M3_WZ_KEEPS) {  /* the device reads zeroes, and the OUT's data at sector 10 */
        vs_gmem_fill(x->gm, dat, 0, 2048, NULL);
        vs_gmem_fill(x->gm, dat + 1024, 0xa5, 512, NULL); /* as request() wrote it */
    }
    complete(x, 6, 2049, VS_BLK_S_OK, true);
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

/* Packed: chains of three descriptors (header, 512-byte IN, status), two per batch, ten
 * batches (the ring of 16 wraps). Mutants: the device rewrites the previous used
 * descriptor's len, or fetches the second chain of a batch first. */
static void pk_chain(h *x, uint16_t *slot, bool *wrap, uint16_t id)
{
    uint64_t base = BUF + 0x4000ull * id;
    vs_gmem_st32(x->gm, base, VS_BLK_T_IN, NULL);
    vs_gmem_st64(x->gm, base + 8, 0, NULL);
    vs_gmem_fill(x->gm, base + 0x100, 0, 512 + 16, NULL);
    vs_gmem_fill(x->gm, base + 0x3000, 0xee, 17, NULL);
    vs_seg segs[3] = {{base, 16}, {base + 0x100, 512}, {base + 0x3000, 1}};
    for (unsigned i = 0; i < 3; i++) {
        uint64_t g = x->l.desc_gpa + 16ull * *slot;
        uint16_t fl = (uint16_t)((*wrap ? VS_DESC_F_AVAIL : VS_DESC_F_USED) |
                                 (i < 2 ? VS_DESC_F_NEXT : 0) | (i ? VS_DESC_F_WRITE : 0));
        vs_gmem_st64(x->gm, g, segs[i].gpa, NULL);
        vs_gmem_st32(x->gm, g + 8, segs[i].len, NULL);
        vs_gmem_st16(x->gm, g + 12, id, NULL);
        vs_gmem_st16(x->gm, g + 14, fl, NULL);
        if (++*slot == QSZ) {
            *slot = 0;
            *wrap = !*wrap;
        }
    }
    vs_ev_chain ch = {.seg = segs, .n_out = 1, .n_in = 2};
    vs_event e = {.kind = VS_EV_AVAIL, .t_ns = x->t += 10, .queue = 0, .id = id, .chain = &ch};
    vs_monitors_on_event(x->m, &e);
}

static void pk_use(h *x, uint16_t *slot, bool *wrap, uint16_t id)
{
    uint64_t g = x->l.desc_gpa + 16ull * *slot;
    vs_gmem_st8(x->gm, BUF + 0x4000ull * id + 0x3000, 0, NULL);
    vs_gmem_st16(x->gm, g + 12, id, NULL);
    vs_gmem_st32(x->gm, g + 8, 513, NULL);
    vs_gmem_st16(x->gm, g + 14,
                 (uint16_t)((*wrap ? VS_DESC_F_AVAIL | VS_DESC_F_USED : 0) | VS_DESC_F_WRITE),
                 NULL);
    *slot = (uint16_t)(*slot + 3);
    if (*slot >= QSZ) {
        *slot = (uint16_t)(*slot - QSZ);
        *wrap = !*wrap;
    }
}

static void run_packed(h *x, enum mut3 mut)
{
    init3(x, VS_RING_PACKED,
          VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_FLUSH));
    uint16_t as = 0, us = 0;
    bool aw = true, uw = true;
    for (uint16_t b = 0; b < 10; b++) {
        uint16_t a = (uint16_t)(2 * b), c = (uint16_t)(2 * b + 1);
        if (mut == M3_PK_FETCH_EARLY && b == 4) { /* fetches a chain not yet published */
            vs_event f = {.kind = VS_EV_FETCH, .t_ns = x->t += 10, .queue = 0, .id = a};
            vs_monitors_on_event(x->m, &f);
        }
        pk_chain(x, &as, &aw, a);
        pk_chain(x, &as, &aw, c);
        vs_event p = {.kind = VS_EV_PUBLISH, .t_ns = x->t += 10, .queue = 0,
                      .idx = (uint32_t)(as | (aw ? 0x8000u : 0))};
        vs_monitors_on_event(x->m, &p);
        ev(x, VS_EV_KICK, 0, 0);
        bool swap = mut == M3_PK_SWAP && b == 4;
        vs_event f = {.kind = VS_EV_FETCH, .t_ns = x->t += 10, .queue = 0, .id = swap ? c : a};
        vs_monitors_on_event(x->m, &f);
        f.id = swap ? a : c;
        vs_monitors_on_event(x->m, &f);
        uint16_t first = us;
        pk_use(x, &us, &uw, a);
        vs_event u = {.kind = VS_EV_USED, .t_ns = x->t += 10, .queue = 0, .id = a, .len = 513,
                      .idx = (uint32_t)(us | (uw ? 0x8000u : 0))};
        vs_monitors_on_event(x->m, &u);
        pk_use(x, &us, &uw, c);
        if (mut == M3_PK_REWRITE && b == 4)
            vs_gmem_st32(x->gm, x->l.desc_gpa + 16ull * first + 8, 514, NULL);
        ev(x, VS_EV_IRQ, 0, 1);
        u.id = c;
        u.idx = (uint32_t)(us | (uw ? 0x8000u : 0));
        vs_monitors_on_event(x->m, &u);
    }
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

/* ---- packed ring, driver role: lists as the device sees them in ring memory ---- */

enum mut4 {
    M4_NONE, M4_W_BEFORE_R, M4_HEAD_EARLY, M4_IND_UNNEG, M4_IND_IN_LIST, M4_IND_FLAGS,
    M4_NO_ROOM, M4_AVAIL_REWRITE, M4_TOO_LONG, M4_SEGS_DIRECT, M4_SEGS_IND,
};

/* Writes descriptor `i` of a list at *slot (flags get the wrap counter's AVAIL/USED bits). */
static void pk_put(h *x, uint16_t *slot, bool *wrap, uint64_t addr, uint32_t len, uint16_t id,
                   uint16_t fl)
{
    uint64_t g = x->l.desc_gpa + 16ull * *slot;
    vs_gmem_st64(x->gm, g, addr, NULL);
    vs_gmem_st32(x->gm, g + 8, len, NULL);
    vs_gmem_st16(x->gm, g + 12, id, NULL);
    vs_gmem_st16(x->gm, g + 14, (uint16_t)(fl | (*wrap ? VS_DESC_F_AVAIL : VS_DESC_F_USED)), NULL);
    if (++*slot == QSZ) {
        *slot = 0;
        *wrap = !*wrap;
    }
}

/* A blk read of one sector: three direct descriptors (header, data, status), or (ind) one
 * INDIRECT descriptor naming a table of the three. */
static void pk_list(h *x, uint16_t *slot, bool *wrap, uint16_t id, bool ind, enum mut4 mut)
{
    uint64_t base = BUF + 0x4000ull * id, tab = base + 0x2000;
    vs_gmem_st32(x->gm, base, VS_BLK_T_IN, NULL);
    vs_gmem_st64(x->gm, base + 8, 0, NULL);
    vs_seg segs[4] = {{base, 16}, {base + 0x100, 512}, {base + 0x3000, 1}};
    uint16_t fl[4] = {0, VS_DESC_F_WRITE, VS_DESC_F_WRITE, VS_DESC_F_WRITE};
    unsigned nd = 3;
    if ((mut == M4_SEGS_DIRECT && !ind) || (mut == M4_SEGS_IND && ind)) {
        /* the data in two descriptors: 4 with seg_max 1 */
        segs[1].len = 256;
        segs[2] = (vs_seg){base + 0x200, 256};
        segs[3] = (vs_seg){base + 0x3000, 1};
        nd = 4;
    }
    if (mut == M4_W_BEFORE_R) { /* data made writable before the readable header */
        fl[0] = VS_DESC_F_WRITE;
        fl[1] = 0;
    }
    if (ind) {
        for (unsigned i = 0; i < nd; i++) {
            uint16_t f = fl[i] | (mut == M4_IND_FLAGS && i == 1 ? VS_DESC_F_NEXT : 0);
            vs_gmem_st64(x->gm, tab + 16 * i, segs[i].gpa, NULL);
            vs_gmem_st32(x->gm, tab + 16 * i + 8, segs[i].len, NULL);
            vs_gmem_st16(x->gm, tab + 16 * i + 12, 0, NULL);
            vs_gmem_st16(x->gm, tab + 16 * i + 14, f, NULL);
        }
        pk_put(x, slot, wrap, tab, 16 * nd, id, VS_DESC_F_INDIRECT);
    } else {
        for (unsigned i = 0; i < nd; i++) {
            uint16_t f = (uint16_t)(fl[i] | (i + 1 < nd ? VS_DESC_F_NEXT : 0));
            if (mut == M4_IND_IN_LIST && i == 0) /* names a one-entry table (the header) */
                f |= VS_DESC_F_INDIRECT;
            pk_put(x, slot, wrap, segs[i].gpa, segs[i].len, id, f);
        }
    }
    vs_ev_chain ch = {.seg = segs, .n_out = 1, .n_in = nd - 1, .indirect = ind};
    vs_event e = {.kind = VS_EV_AVAIL, .t_ns = x->t += 10, .queue = 0, .id = id, .chain = &ch};
    vs_monitors_on_event(x->m, &e);
}

/* Ten batches of a direct list (3 slots) and an indirect one (1 slot) on a ring of 16, the
 * device fetching and using both; the mutant breaks batch 4 (M4_NO_ROOM: the driver never
 * collects the direct lists yet keeps exposing new ones, so batch 5 runs out of room). */
static void run_pkd(h *x, enum mut4 mut)
{
    uint64_t f = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_FLUSH) |
                 VS_BIT(VS_BLK_F_SEG_MAX);
    if (mut != M4_IND_UNNEG)
        f |= VS_BIT(VS_F_INDIRECT_DESC);
    init3r(x, VS_RING_PACKED, f, VS_ROLE_DRIVER);
    ev(x, VS_EV_CONFIG_GEN, -1, 0);
    cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_SEG_MAX, 4, 1); /* one data segment a request */
    ev(x, VS_EV_CONFIG_GEN, -1, 0);
    uint16_t as = 0, us = 0;
    bool aw = true, uw = true;
    for (uint16_t b = 0; b < 10; b++) {
        uint16_t a = (uint16_t)(2 * b), c = (uint16_t)(2 * b + 1), a_slot = as;
        enum mut4 bm = b == 4 ? mut : M4_NONE;
        pk_list(x, &as, &aw, a, false, bm);
        pk_list(x, &as, &aw, c, true, bm);
        uint64_t tail = x->l.desc_gpa + 16ull * ((a_slot + 2) % QSZ) + 14;
        uint16_t tail_fl = 0;
        vs_gmem_ld16(x->gm, tail, &tail_fl, NULL);
        if (bm == M4_HEAD_EARLY) /* the list's last descriptor not yet available */
            vs_gmem_st16(x->gm, tail, (uint16_t)(tail_fl ^ VS_DESC_F_AVAIL ^ VS_DESC_F_USED),
                         NULL);
        vs_event p = {.kind = VS_EV_PUBLISH, .t_ns = x->t += 10, .queue = 0,
                      .idx = (uint32_t)(as | (aw ? 0x8000u : 0))};
        vs_monitors_on_event(x->m, &p);
        if (bm == M4_HEAD_EARLY) /* ... made available after the head */
            vs_gmem_st16(x->gm, tail, tail_fl, NULL);
        if (bm == M4_AVAIL_REWRITE) /* the data length changed while available */
            vs_gmem_st32(x->gm, x->l.desc_gpa + 16ull * ((a_slot + 1) % QSZ) + 8, 256, NULL);
        ev(x, VS_EV_KICK, 0, 0);
        vs_event fe = {.kind = VS_EV_FETCH, .t_ns = x->t += 10, .queue = 0, .id = a};
        vs_monitors_on_event(x->m, &fe);
        fe.id = c;
        vs_monitors_on_event(x->m, &fe);
        uint16_t ids[2] = {a, c}, n[2] = {bm == M4_SEGS_DIRECT ? 4 : 3, 1};
        for (unsigned k = 0; k < 2; k++) {
            uint64_t g = x->l.desc_gpa + 16ull * us;
            vs_gmem_st8(x->gm, BUF + 0x4000ull * ids[k] + 0x3000, 0, NULL);
            vs_gmem_st16(x->gm, g + 12, ids[k], NULL);
            vs_gmem_st32(x->gm, g + 8, 513, NULL);
            vs_gmem_st16(x->gm, g + 14,
                         (uint16_t)((uw ? VS_DESC_F_AVAIL | VS_DESC_F_USED : 0) | VS_DESC_F_WRITE),
                         NULL);
            us = (uint16_t)(us + n[k]);
            if (us >= QSZ) {
                us = (uint16_t)(us - QSZ);
                uw = !uw;
            }
            if (mut == M4_NO_ROOM && k == 0)
                continue;
            vs_event u = {.kind = VS_EV_USED, .t_ns = x->t += 10, .queue = 0, .id = ids[k],
                          .len = 513, .idx = (uint32_t)(us | (uw ? 0x8000u : 0))};
            vs_monitors_on_event(x->m, &u);
        }
    }
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

static void pair3(void (*fn)(h *, enum mut3), enum mut3 mut, const char *id, const char *check)
{
    h x;
    fn(&x, M3_NONE);
    const vs_stmt_result *r = res(&x, id);
    ck_assert_msg(r->verdict == VS_VERDICT_PASS, "%s clean: %s (%s)", id,
                  vs_verdict_name(r->verdict), r->reason);
    const vs_results *all = vs_monitors_results(x.m);
    for (size_t i = 0; i < all->n_check; i++)
        ck_assert_msg(all->check[i].violations == 0, "clean run: %s: %s",
                      all->check[i].check->name, all->check[i].evidence[0].seen);
    done(&x);
    fn(&x, mut);
    r = res(&x, id);
    ck_assert_msg(r->verdict == VS_VERDICT_FAIL, "%s mutant: %s (%s)", id,
                  vs_verdict_name(r->verdict), r->reason);
    ck_assert_uint_ge(r->n_evidence, 1);
    ck_assert_str_eq(r->evidence[0].check, check);
    char buf[512];
    ck_assert_uint_gt(vs_evidence_format(&r->evidence[0], buf, sizeof buf), 0);
    ck_assert_uint_ge(vs_monitors_violations(x.m), 1);
    done(&x);
}

/* A list with NEXT on every one of the ring's 16 slots, published as a whole lap. */
static void run_pk_too_long(h *x)
{
    init3r(x, VS_RING_PACKED,
           VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_FLUSH),
           VS_ROLE_DRIVER);
    uint16_t as = 0;
    bool aw = true;
    vs_seg seg = {BUF, 16};
    vs_gmem_st32(x->gm, BUF, VS_BLK_T_OUT, NULL);
    for (unsigned i = 0; i < QSZ; i++)
        pk_put(x, &as, &aw, BUF, 16, 0, VS_DESC_F_NEXT);
    vs_ev_chain ch = {.seg = &seg, .n_out = 1};
    vs_event e = {.kind = VS_EV_AVAIL, .t_ns = x->t += 10, .queue = 0, .id = 0, .chain = &ch};
    vs_monitors_on_event(x->m, &e);
    vs_event p = {.kind = VS_EV_PUBLISH, .t_ns = x->t += 10, .queue = 0,
                  .idx = (uint32_t)(as | (aw ? 0x8000u : 0))};
    vs_monitors_on_event(x->m, &p);
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

/* Clean: every packed driver statement the run reaches passes (ids: the statements the
 * check covers, all PASS); mutant: exactly the statements in `fails` fail, with evidence
 * from `check`. */
static void pair4(enum mut4 mut, const char *check, const char *const *fails)
{
    static const char *const all[] = {
        "packed.driver.scatter-gather.3", "packed.driver.scatter-gather.6",
        "packed.driver.indirect.4", "packed.driver.indirect.2",
        "packed.driver.scatter-gather.5", "packed.driver.desc-table.1",
        "packed.driver.desc-table.2", "packed.driver.updating-flags.1",
        "packed.driver.scatter-gather.2", "packed.driver.scatter-gather.1",
        "packed.driver.indirect.3", NULL};
    h x;
    run_pkd(&x, M4_NONE);
    if (mut == M4_TOO_LONG) { /* the clean run's lists all fit: scatter-gather.2 passes */
        ck_assert_int_eq(res(&x, "packed.driver.scatter-gather.2")->verdict, VS_VERDICT_PASS);
    }
    if (mut == M4_IND_UNNEG) { /* its clean twin: no INDIRECT flag without the feature */
        done(&x);
        init3r(&x, VS_RING_PACKED,
               VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_FLUSH),
               VS_ROLE_DRIVER);
        uint16_t as = 0;
        bool aw = true;
        pk_list(&x, &as, &aw, 0, false, M4_NONE);
        vs_event p = {.kind = VS_EV_PUBLISH, .t_ns = x.t += 10, .queue = 0, .idx = as | 0x8000u};
        vs_monitors_on_event(x.m, &p);
        ck_assert_int_eq(vs_monitors_finish(x.m, x.neg, NULL), 0);
        ck_assert_int_eq(res(&x, "packed.driver.indirect.1")->verdict, VS_VERDICT_PASS);
    } else {
        for (const char *const *id = all; *id; id++)
            ck_assert_msg(res(&x, *id)->verdict == VS_VERDICT_PASS, "%s clean: %s (%s)", *id,
                          vs_verdict_name(res(&x, *id)->verdict), res(&x, *id)->reason);
    }
    ck_assert_uint_eq(vs_monitors_violations(x.m), 0);
    done(&x);
    if (mut == M4_TOO_LONG)
        run_pk_too_long(&x);
    else
        run_pkd(&x, mut);
    const vs_results *r = vs_monitors_results(x.m);
    size_t nfail = 0, want = 0;
    for (const char *const *id = fails; *id; id++, want++) {
        const vs_stmt_result *sr = res(&x, *id);
        ck_assert_msg(sr->verdict == VS_VERDICT_FAIL, "%s mutant %d: %s", *id, mut,
                      vs_verdict_name(sr->verdict));
        ck_assert_str_eq(sr->evidence[0].check, check);
    }
    for (size_t i = 0; i < r->n_stmt; i++)
        nfail += r->stmt[i].verdict == VS_VERDICT_FAIL;
    ck_assert_msg(nfail == want, "mutant %d: %zu statements fail, %zu expected", mut, nfail, want);
    done(&x);
}

#define FAILS(...) (const char *const[]){__VA_ARGS__, NULL}
START_TEST(pkd_w_before_r)
{
    pair4(M4_W_BEFORE_R, "packed-list-shape", FAILS("packed.driver.scatter-gather.3"));
}
END_TEST
START_TEST(pkd_head_early)
{
    pair4(M4_HEAD_EARLY, "packed-list-shape", FAILS("packed.driver.scatter-gather.6"));
}
END_TEST
START_TEST(pkd_ind_unneg)
{
    pair4(M4_IND_UNNEG, "packed-list-shape", FAILS("packed.driver.indirect.1"));
}
END_TEST
START_TEST(pkd_ind_in_list)
{
    pair4(M4_IND_IN_LIST, "packed-list-shape", FAILS("packed.driver.indirect.4"));
}
END_TEST
START_TEST(pkd_ind_flags)
{
    pair4(M4_IND_FLAGS, "packed-list-shape", FAILS("packed.driver.indirect.2"));
}
END_TEST
START_TEST(pkd_no_room)
{
    pair4(M4_NO_ROOM, "packed-list-room",
          FAILS("packed.driver.scatter-gather.5", "packed.driver.desc-table.1"));
}
END_TEST
START_TEST(pkd_too_long)
{
    pair4(M4_TOO_LONG, "packed-list-shape", FAILS("packed.driver.scatter-gather.2"));
}
END_TEST
START_TEST(pkd_segs_direct)
{
    pair4(M4_SEGS_DIRECT, "blk-packed-list-length", FAILS("packed.driver.scatter-gather.1"));
}
END_TEST
START_TEST(pkd_segs_ind)
{
    pair4(M4_SEGS_IND, "blk-packed-list-length", FAILS("packed.driver.indirect.3"));
}
END_TEST
START_TEST(pkd_avail_rewrite)
{
    pair4(M4_AVAIL_REWRITE, "packed-avail-desc-unchanged",
          FAILS("packed.driver.desc-table.2", "packed.driver.updating-flags.1"));
}
END_TEST

/* A write whose id the driver reuses while it is live never completes: the read-back
 * check must let its sectors go, and judge a later read of them (it used to count the
 * abandoned write as in flight until the next reset, so the wrong data below passed). */
START_TEST(reused_live_id_releases_read_back)
{
    h hx, *x = &hx;
    init3(x, VS_RING_SPLIT, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH));
    request(x, 0, VS_BLK_T_OUT, 0, 512, false);
    request(x, 0, VS_BLK_T_OUT, 0, 512, false); /* id 0 again, still outstanding */
    complete(x, 0, 1, VS_BLK_S_OK, true);       /* sector 0 now holds 0xa5 bytes */
    request(x, 3, VS_BLK_T_IN, 0, 512, true);
    vs_gmem_fill(x->gm, BUF + 0x4000ull * 3 + 0x100, 0x11, 512, NULL); /* not what it holds */
    complete(x, 3, 513, VS_BLK_S_OK, true);
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
    const vs_check_result *c = cres(x, "blk-read-back");
    ck_assert_uint_ge(c->violations, 1);
    ck_assert_ptr_nonnull(strstr(c->evidence[0].seen, "sector 0 reads hash"));
    done(x);
}
END_TEST

START_TEST(wz_zeroes)
{
    pair3(run_wz, M3_WZ_KEEPS, "blk.device.blk-op.6", "blk-write-zeroes-reads-zero");
}
END_TEST

START_TEST(pk_used_desc)
{
    pair3(run_packed, M3_PK_REWRITE, "packed.device.desc-table.4", "packed-used-desc-unchanged");
}
END_TEST

START_TEST(pk_fetch_available)
{
    pair3(run_packed, M3_PK_FETCH_EARLY, "packed.device.desc-table.3", "fetch-available-only");
}
END_TEST

START_TEST(pk_fetch_order)
{
    pair3(run_packed, M3_PK_SWAP, "packed.device.virtqueues.1", "packed-fetch-in-ring-order");
}
END_TEST

/* A driver violation reported from outside (a back-end that rejected a chain). */
START_TEST(report_driver_violation)
{
    vs_gmem *gm;
    vs_monitors *m;
    vs_err e;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 16, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&m, gm, VS_DEV_BLK, VS_ROLE_DRIVER, NULL), 0);
    vs_monitors_set_scenario(m, "connection-1");
    ck_assert_int_eq(vs_monitors_report_driver_violation(m, "split.driver.desc-table.1", 0, true,
                                                         5, "every next < queue size",
                                                         "next 1024 >= queue size 1024", &e),
                     0);
    /* unknown, device-role, and uncovered statements are refused */
    ck_assert_int_eq(vs_monitors_report_driver_violation(m, "no.such.statement", 0, false, 0,
                                                         "x", "y", &e), -VS_EINVAL);
    ck_assert_int_eq(vs_monitors_report_driver_violation(m, "split.device.used-ring.2", 0, false,
                                                         0, "x", "y", &e), -VS_EINVAL);
    ck_assert_uint_eq(vs_monitors_violations(m), 1);
    ck_assert_int_eq(vs_monitors_finish(m, VS_BIT(VS_F_VERSION_1), NULL), 0);
    const vs_stmt_result *r = vs_results_find(vs_monitors_results(m), "split.driver.desc-table.1");
    ck_assert_int_eq(r->verdict, VS_VERDICT_FAIL);
    ck_assert_uint_eq(r->n_evidence, 1);
    ck_assert_str_eq(r->evidence[0].check, "chain-shape");
    ck_assert_str_eq(r->evidence[0].scenario, "connection-1");
    ck_assert_str_eq(r->evidence[0].seen, "next 1024 >= queue size 1024");
    ck_assert(r->evidence[0].has_id && r->evidence[0].id == 5 && r->evidence[0].queue == 0);
    /* after finish: refused */
    ck_assert_int_eq(vs_monitors_report_driver_violation(m, "split.driver.desc-table.1", 0, false,
                                                         0, "x", "y", &e), -VS_ESTATE);
    vs_monitors_destroy(m);
    /* device-role monitors: accepted, nothing recorded */
    ck_assert_int_eq(vs_monitors_create(&m, gm, VS_DEV_BLK, VS_ROLE_DEVICE, NULL), 0);
    ck_assert_int_eq(vs_monitors_report_driver_violation(m, "split.driver.desc-table.1", 0, false,
                                                         0, "x", "y", &e), 0);
    ck_assert_uint_eq(vs_monitors_violations(m), 0);
    vs_monitors_destroy(m);
    vs_gmem_destroy(gm);
}
END_TEST

/* Back-end view: no status events, the ring starts at its base although the driver has
 * published ahead, chains are seen one by one as the device fetches them, and kicks are
 * not judged. Well-formed chains pass; memory is swapped in after create. */
START_TEST(backend_view)
{
    vs_gmem *placeholder, *gm;
    vs_monitors *m;
    vs_vq_layout l;
    ck_assert_int_eq(vs_gmem_create_flat(&placeholder, 1u << 12, NULL), 0);
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&m, placeholder, VS_DEV_BLK, VS_ROLE_DRIVER, NULL), 0);
    vs_monitors_set_backend_view(m, true);
    vs_monitors_set_gmem(m, gm);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, QSZ, &l, NULL), 0);
    uint64_t t = 0;
    uint64_t feat = VS_BIT(VS_F_VERSION_1);
    vs_event e = {.kind = VS_EV_FEATURES_READ, .t_ns = t += 10, .queue = -1, .val = feat};
    vs_monitors_on_event(m, &e);
    e = (vs_event){.kind = VS_EV_FEATURES_WRITE, .t_ns = t += 10, .queue = -1, .val = feat};
    vs_monitors_on_event(m, &e);
    /* three FLUSH chains (header + status) at slots 0-1, 2-3, 4-5, all published */
    for (uint16_t k = 0; k < 3; k++) {
        uint64_t hdr = BUF + 0x100ull * k, st = hdr + 0x40;
        vs_gmem_st32(gm, hdr, VS_BLK_T_FLUSH, NULL);
        uint64_t d0 = l.desc_gpa + 16ull * (2 * k);
        vs_gmem_st64(gm, d0, hdr, NULL);
        vs_gmem_st32(gm, d0 + 8, 16, NULL);
        vs_gmem_st16(gm, d0 + 12, VS_DESC_F_NEXT, NULL);
        vs_gmem_st16(gm, d0 + 14, (uint16_t)(2 * k + 1), NULL);
        vs_gmem_st64(gm, d0 + 16, st, NULL);
        vs_gmem_st32(gm, d0 + 24, 1, NULL);
        vs_gmem_st16(gm, d0 + 28, VS_DESC_F_WRITE, NULL);
        vs_gmem_st16(gm, l.driver_gpa + 4 + 2ull * k, (uint16_t)(2 * k), NULL);
    }
    vs_gmem_st16(gm, l.driver_gpa + 2, 3, NULL);
    e = (vs_event){.kind = VS_EV_KICK, .t_ns = t += 10, .queue = 0}; /* no DRIVER_OK seen */
    vs_monitors_on_event(m, &e);
    e = (vs_event){.kind = VS_EV_QUEUE_SETUP, .t_ns = t += 10, .queue = 0, .idx = 0, .layout = &l};
    vs_monitors_on_event(m, &e);
    for (uint16_t k = 0; k < 3; k++) {
        uint64_t hdr = BUF + 0x100ull * k;
        vs_seg segs[2] = {{hdr, 16}, {hdr + 0x40, 1}};
        vs_ev_chain ch = {.seg = segs, .n_out = 1, .n_in = 1};
        e = (vs_event){.kind = VS_EV_AVAIL, .t_ns = t += 10, .queue = 0, .id = 2u * k,
                       .chain = &ch};
        vs_monitors_on_event(m, &e);
        e = (vs_event){.kind = VS_EV_PUBLISH, .t_ns = t += 10, .queue = 0, .idx = k + 1u};
        vs_monitors_on_event(m, &e);
    }
    ck_assert_uint_eq(vs_monitors_violations(m), 0);
    ck_assert_int_eq(vs_monitors_finish(m, feat, NULL), 0);
    const vs_results *r = vs_monitors_results(m);
    static const char *const pass[] = {"split.driver.message-framing.1", "split.driver.desc-table.1",
                                       "split.driver.avail-ring.1", "split.driver.updating-idx.1"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
        ck_assert_msg(vs_results_find(r, pass[i])->verdict == VS_VERDICT_PASS, "%s: %s", pass[i],
                      vs_verdict_name(vs_results_find(r, pass[i])->verdict));
    ck_assert_int_eq(vs_results_find(r, "generic.driver.init.6")->verdict,
                     VS_VERDICT_NOT_EXERCISED); /* kick-early not judged without status */
    vs_monitors_destroy(m);
    vs_gmem_destroy(gm);
    vs_gmem_destroy(placeholder);
}
END_TEST

/* Back-end view, the offer the driver saw: the back-end offers RING_PACKED, the driver
 * declines it. Without the front-end's mask the back-end cannot tell what the driver was
 * offered (not judged); a front-end that drops RING_PACKED (QEMU's packed=off) makes the
 * declining legal; one that passes every bit makes it the SHOULD violation it is. */
static enum vs_verdict offer_view(int mask_kind)
{
    vs_gmem *gm;
    vs_monitors *m;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 16, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&m, gm, VS_DEV_BLK, VS_ROLE_DRIVER, NULL), 0);
    vs_monitors_set_backend_view(m, true);
    if (mask_kind == 1)
        vs_monitors_set_frontend_offer_mask(m, ~VS_BIT(VS_F_RING_PACKED));
    else if (mask_kind == 2)
        vs_monitors_set_frontend_offer_mask(m, ~0ull);
    uint64_t off = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_PACKED), acc = VS_BIT(VS_F_VERSION_1);
    vs_event e = {.kind = VS_EV_FEATURES_READ, .t_ns = 10, .queue = -1, .val = off};
    vs_monitors_on_event(m, &e);
    e = (vs_event){.kind = VS_EV_FEATURES_WRITE, .t_ns = 20, .queue = -1, .val = acc};
    vs_monitors_on_event(m, &e);
    ck_assert_int_eq(vs_monitors_finish(m, acc, NULL), 0);
    enum vs_verdict v =
        vs_results_find(vs_monitors_results(m), "generic.driver.reserved-features.5")->verdict;
    vs_monitors_destroy(m);
    vs_gmem_destroy(gm);
    return v;
}

START_TEST(backend_view_offer)
{
    ck_assert_int_eq(offer_view(0), VS_VERDICT_NOT_EXERCISED);
    ck_assert_int_eq(offer_view(1), VS_VERDICT_NOT_EXERCISED);
    ck_assert_int_eq(offer_view(2), VS_VERDICT_FAIL);
}
END_TEST

/* Zoned (ZONED negotiated, host-managed): a report makes zone 0 conventional and zone 1
 * an empty SWR zone; then ZONE_OPEN of zone 0 and a write away from zone 1's write pointer.
 * zmut 0: a conforming device; 1: the open succeeds; 2: the write succeeds; 3: unused2 0xff. */
static void zoned_run(h *x, int zmut)
{
    memset(x, 0, sizeof *x);
    ck_assert_int_eq(vs_gmem_create_flat(&x->gm, SPAN_BOUNDARY, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&x->m, x->gm, VS_DEV_BLK, VS_ROLE_DEVICE, NULL), 0);
    vs_monitors_set_scenario(x->m, "unit-zoned");
    ck_assert_int_eq(vs_vq_layout_alloc(x->gm, VS_RING_SPLIT, QSZ, &x->l, NULL), 0);
    ev(x, VS_EV_RESET, -1, 0);
    ev(x, VS_EV_STATUS_READ, -1, 0);
    ev(x, VS_EV_STATUS_WRITE, -1, 1);
    ev(x, VS_EV_STATUS_WRITE, -1, 3);
    uint64_t f = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_ZONED);
    ev(x, VS_EV_FEATURES_READ, -1, f);
    cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_ZONED_MODEL, 1, VS_BLK_Z_HM);
    ev(x, VS_EV_FEATURES_WRITE, -1, f);
    x->neg = f;
    ev(x, VS_EV_STATUS_WRITE, -1, 0xb);
    ev(x, VS_EV_STATUS_READ, -1, 0xb);
    cfg(x, VS_EV_CONFIG_READ, 0, 8, 4096);
    static const uint32_t zc[] = {2048, 0, 0, 64, 512};
    for (uint32_t i = 0; i < 5; i++)
        cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_ZONE_SECTORS + 4 * i, 4, zc[i]);
    cfg(x, VS_EV_CONFIG_READ, VS_BLK_CFG_ZONED_MODEL, 4, VS_BLK_Z_HM | (zmut == 3 ? 0xff00 : 0));
    vs_event qs = {.kind = VS_EV_QUEUE_SETUP, .queue = 0, .layout = &x->l, .t_ns = x->t += 10};
    vs_monitors_on_event(x->m, &qs);
    ev(x, VS_EV_STATUS_WRITE, -1, 0xf);
    request(x, 0, VS_BLK_T_ZONE_REPORT, 0, 64 + 2 * 64, true);
    uint64_t rep = BUF + 0x100;
    vs_gmem_fill(x->gm, rep, 0, 64 + 2 * 64, NULL);
    vs_gmem_st64(x->gm, rep, 2, NULL);
    for (uint64_t z = 0; z < 2; z++) {
        uint64_t d = rep + 64 + 64 * z;
        vs_gmem_st64(x->gm, d, 2048, NULL);
        vs_gmem_st64(x->gm, d + 8, 2048 * z, NULL);
        vs_gmem_st64(x->gm, d + 16, 2048, NULL);
        vs_gmem_st8(x->gm, d + 24, z ? VS_BLK_ZT_SWR : VS_BLK_ZT_CONV, NULL);
        vs_gmem_st8(x->gm, d + 25, z ? VS_BLK_ZS_EMPTY : VS_BLK_ZS_NOT_WP, NULL);
    }
    complete(x, 0, 64 + 2 * 64 + 1, 0, true);
    request(x, 3, VS_BLK_T_ZONE_OPEN, 0, 0, false);
    complete(x, 3, 1, zmut == 1 ? VS_BLK_S_OK : VS_BLK_S_ZONE_INVALID_CMD, true);
    request(x, 6, VS_BLK_T_OUT, 2056, 512, false);
    complete(x, 6, 1, zmut == 2 ? VS_BLK_S_OK : VS_BLK_S_ZONE_UNALIGNED_WP, true);
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
}

START_TEST(zoned_checks)
{
    static const struct { int zmut; const char *id, *check; } cases[] = {
        {1, "blk.device.blk-op.14", "zone-mgmt-status"},
        {2, "blk.device.blk-op.28", "zone-io-status"},
        {3, "blk.device.blk-init.16", "zoned-config-fields"},
    };
    h x;
    zoned_run(&x, 0);
    ck_assert_uint_eq(vs_monitors_violations(x.m), 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(res(&x, cases[i].id)->verdict == VS_VERDICT_PASS, "%s clean: %s",
                      cases[i].id, vs_verdict_name(res(&x, cases[i].id)->verdict));
    ck_assert_int_eq(res(&x, "blk.device.blk-init.10")->verdict, VS_VERDICT_PASS);
    done(&x);
    for (size_t i = 0; i < 3; i++) {
        zoned_run(&x, cases[i].zmut);
        const vs_stmt_result *r = res(&x, cases[i].id);
        ck_assert_msg(r->verdict == VS_VERDICT_FAIL, "%s mutant: %s", cases[i].id,
                      vs_verdict_name(r->verdict));
        ck_assert_str_eq(r->evidence[0].check, cases[i].check);
        ck_assert_uint_eq(vs_monitors_violations(x.m), 1);
        done(&x);
    }
}
END_TEST

/* The content hash: the CPU path equals the software one (hashes never depend on the
 * machine), and every single-bit change of a sector changes it. */
START_TEST(content_hash)
{
    uint8_t buf[512 + 7];
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n += 13)
        for (int path = 0; path <= 2; path++)
            ck_assert_uint_eq(vs__hash64_path(path, 0x1234, buf, n),
                              vs__hash64_portable(0x1234, buf, n));
    ck_assert_uint_ne(vs__hash64(1, buf, 512), vs__hash64(2, buf, 512));
    uint64_t h0 = vs__hash64(7, buf, 512);
    for (unsigned bit = 0; bit < 512 * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(vs__hash64(7, buf, 512), h0);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* the same word in another lane */
    uint8_t a[64] = {0}, b[64] = {0};
    a[0] = 1;
    b[8] = 1;
    ck_assert_uint_ne(vs__hash64(0, a, 64), vs__hash64(0, b, 64));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("monitors");
    TCase *tc = tcase_create("checks");
    const TTest *tests[] = {
        used_bad_id, used_double, used_invalid, used_len, used_idx, readable, guard, desc_table,
        before_dok, after_reset, reset_zero, irq_required, used_flags, offer_reserved, offer_v1,
        offer_deps, flush_offered, blk_status, blk_used_len, blk_pad, d_order, d_status_order,
        d_nonmono, d_subset, d_kick_early, d_align, d_used_flags, d_w_before_r, d_indirect,
        d_avail_back, d_cfg_gen, d_cfg_write, d_flush_sector, d_in_odd, d_kick_skipped,
        d_reset_wait, d_frozen, d_failed_reset, d_addr_ram, buffer_spanning_regions,
        d_avail_flags, d_kick_unneeded, d_feat_reserved, d_no_v1, d_ro_ignored, d_cfg_optional,
        d_wce_early, d_abandon, in_order, lifetime, cap_change, error_flagged,
        irq_suppressed, ro_write, features_ok_refusal, verdict_kinds, create_errors, reset_slow, reset_never, wz_zeroes, pk_used_desc,
        pk_fetch_order, pk_fetch_available, report_driver_violation, backend_view, backend_view_offer, zoned_checks,
        content_hash, reused_live_id_releases_read_back, pkd_w_before_r, pkd_head_early,
        pkd_ind_unneg, pkd_ind_in_list, pkd_ind_flags, pkd_no_room, pkd_avail_rewrite,
        pkd_too_long, pkd_segs_direct, pkd_segs_ind, d_sr_iov, d_unknown_offer,
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
