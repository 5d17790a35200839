/* libFuzzer harness: the device side of the rings (model/ring_split.c, ring_packed.c) over
 * a real guest memory, fed hostile descriptor tables, available rings and indirect tables.
 *
 * Input format (also what fuzz/corpus/ring/ seeds use):
 *   byte 0: bit 0 packed, bits 1-3 log2 of the queue size (1..128), bit 4 EVENT_IDX,
 *           bit 5 INDIRECT_DESC, bit 6 IN_ORDER
 *   byte 1: how many chains to try to fetch (1..64)
 *   byte 2: segment capacity the device offers per chain (1..64)
 *   the rest: guest memory from GPA 0x1000 on (descriptor table at 0x1000, driver area
 *   right after it, device area after that, tables and buffers anywhere in the 64 KiB),
 *   the remainder of the 64 KiB zero. RAM is [0, 64 KiB) and [128 KiB, 192 KiB): a hole
 *   between them, and nothing above.
 * Invariants (abort = finding): a fetched chain lists at most seg_cap segments, readable
 * ones first, whose byte counts add up to out_bytes / in_bytes; a segment with a host
 * pointer lies wholly in one RAM region; an error other than the device's own segment
 * limit breaks the queue for good; nothing the
 * device writes lands outside the device area or a writable segment (checked by ASan for
 * host memory, by gmem for guest memory). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/gmem.h"
#include "virtiosim/vring.h"

/* A broken invariant: say which, then abort (libFuzzer records the input). */
#define check(cond) check_at((cond), __LINE__)
static void check_at(int cond, int line)
{
    if (!cond) {
        fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vs_gmem *gm;
static uint8_t *ram;

static void setup(void)
{
    vs_err e;
    check(vs_gmem_create(&gm, 3u << 16, "fuzz-ring", &e) == 0);
    check(vs_gmem_add_region(gm, 0, 1u << 16, 0, 0, &e) == 0);
    check(vs_gmem_add_region(gm, 2u << 16, 1u << 16, 2u << 16, 0, &e) == 0);
    ram = vs_gmem_host_base(gm);
    check(ram != NULL);
}

static bool in_ram(uint64_t gpa, uint32_t len)
{
    uint64_t end = gpa + len;
    if (end < gpa)
        return false;
    return end <= (1u << 16) || (gpa >= (2u << 16) && end <= (3u << 16));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    if (!gm)
        setup();
    bool packed = data[0] & 1;
    uint32_t qs = 1u << ((data[0] >> 1) & 7);
    uint32_t feat = ((data[0] & 0x10) ? VS_VQ_F_EVENT_IDX : 0) |
                    ((data[0] & 0x20) ? VS_VQ_F_INDIRECT : 0) |
                    ((data[0] & 0x40) ? VS_VQ_F_IN_ORDER : 0);
    unsigned pops = 1 + data[1] % 64, cap = 1 + data[2] % 64;
    /* Only the bytes the previous input could have set: its image and the rings' areas
     * (the device writes nothing else: the harness never writes buffers). */
    static size_t dirty;
    memset(ram + 0x1000, 0, dirty);
    size_t n = size - 3 < 0xf000 ? size - 3 : 0xf000;
    memcpy(ram + 0x1000, data + 3, n);
    vs_vq_area_sizes as;
    vs_err e;
    check(vs_vq_area_sizes_for(packed ? VS_RING_PACKED : VS_RING_SPLIT, qs, &as, &e) == 0);
    vs_vq_layout l = {.format = packed ? VS_RING_PACKED : VS_RING_SPLIT, .size = qs,
                      .desc_gpa = 0x1000};
    l.driver_gpa = (l.desc_gpa + as.desc_bytes + 63) & ~UINT64_C(63);
    l.device_gpa = (l.driver_gpa + as.driver_bytes + 63) & ~UINT64_C(63);
    size_t areas = l.device_gpa + as.device_bytes - 0x1000;
    dirty = n > areas ? n : areas;
    vs_vq_dev_opts o = {.queue_index = 0, .features = feat};
    vs_vq_dev *q;
    if (vs_vq_dev_create(&q, gm, &l, &o, &e) < 0)
        return 0;
    vs_dseg seg[64];
    for (unsigned i = 0; i < pops; i++) {
        vs_chain c = {.seg_cap = cap, .seg = seg};
        int rc = vs_vq_dev_pop(q, &c, &e);
        if (rc < 0) {
            /* more segments than the device offered room for is its own limit (the chain
             * stays available); anything else breaks the queue for good */
            check(vs_vq_dev_broken(q) == (e.code != VS_ENOSPC));
            if (e.code != VS_ENOSPC)
                check(vs_vq_dev_pop(q, &c, &e) < 0);
            break;
        }
        if (rc == 0)
            break;
        check(c.nseg <= cap && c.n_out <= c.nseg);
        uint64_t out = 0, in = 0;
        for (uint32_t k = 0; k < c.nseg; k++) {
            check(seg[k].write == (k >= c.n_out));
            if (seg[k].host)
                check(in_ram(seg[k].gpa, seg[k].len));
            if (seg[k].write)
                in += seg[k].len;
            else
                out += seg[k].len;
        }
        check(out == c.out_bytes && in == c.in_bytes);
        uint32_t written = (uint32_t)(in < 7 ? in : in / 2);
        if (vs_vq_dev_push(q, &c, written, &e) < 0)
            break;
        vs_vq_dev_publish(q);
        (void)vs_vq_dev_irq_needed(q);
        if (i & 1)
            (void)vs_vq_dev_notify_enable(q);
    }
    vs_vq_dev_destroy(q);
    return 0;
}
