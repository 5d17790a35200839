/* The ring-level driver mutants (test only, enum vs_drv_mutation): what a deliberately
 * broken driver shows the device about its rings. Each breaks one driver-role rule the
 * monitors judge from the event stream and ring memory; the correct driver never gets
 * here (vs_driver_opts.mutations is 0). */

#include "sim/driver_int.h"
#include "virtiosim/gmem.h"
#include "virtiosim/le.h"

/* The queue areas a mutant gives the device instead of the ones it allocated: the device
 * area moved 2 bytes on (misaligned, still inside its page-rounded allocation) or far
 * past guest RAM. The driver's own view stays on the allocation. */
void vs__drv_mut_shown_layout(const vs_driver *d, vs_vq_layout *shown)
{
    if (vs__drv_mut(d, VS_DRV_MUT_RING_MISALIGNED))
        shown->device_gpa += 2;
    if (vs__drv_mut(d, VS_DRV_MUT_RING_OUTSIDE_RAM))
        shown->device_gpa = UINT64_C(1) << 46;
}

/* Before a split publish: avail idx written (and announced) while the first new ring
 * entry holds a head that names no chain, as a driver without the barrier between the
 * two stores would show the device; then the entry is put right for the real publish. */
static void idx_before_entry(vs_driver *d, vs_drv_queue *q, uint16_t qi)
{
    uint8_t b[2], keep[2];
    uint16_t nidx = vs_vq_drv_avail_idx(q->vq);
    if (vs_gmem_read(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0 || vs_le16_get(b) == nidx)
        return;
    uint64_t slot = q->layout.driver_gpa + 4 + 2ull * (vs_le16_get(b) % q->layout.size);
    if (vs_gmem_read(d->gm, slot, keep, 2, NULL) < 0)
        return;
    uint8_t stale[2], idx[2];
    vs_le16_put(stale, (uint16_t)q->layout.size); /* no descriptor has that index */
    vs_le16_put(idx, nidx);
    if (vs_gmem_write(d->gm, slot, stale, 2, NULL) < 0 ||
        vs_gmem_write(d->gm, q->layout.driver_gpa + 2, idx, 2, NULL) < 0)
        return;
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = nidx};
    vs__drv_emit(d, &ev);
    (void)vs_gmem_write(d->gm, slot, keep, 2, NULL);
}

/* Before a split publish: avail idx written one back (and announced), so the device
 * sees the index move backwards before the real publish moves it on. */
void vs__drv_mut_before_publish(vs_driver *d, uint16_t qi)
{
    vs_drv_queue *q = &d->q[qi];
    if (q->layout.format != VS_RING_SPLIT)
        return;
    if (vs__drv_mut(d, VS_DRV_MUT_IDX_BEFORE_ENTRY))
        idx_before_entry(d, q, qi);
    if (!vs__drv_mut(d, VS_DRV_MUT_AVAIL_IDX_BACK))
        return;
    uint8_t b[2];
    if (vs_gmem_read(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0)
        return;
    uint16_t idx = (uint16_t)(vs_le16_get(b) - 1);
    vs_le16_put(b, idx);
    if (vs_gmem_write(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0)
        return;
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = idx};
    vs__drv_emit(d, &ev);
}

/* After a packed publish: the buffer id of the first published list's head rewritten
 * while the device may not have fetched it yet. Only a head with NEXT set: the device
 * takes a list's id from its last descriptor, so it still completes the right buffer. */
void vs__drv_mut_after_publish(vs_driver *d, uint16_t qi, uint16_t from)
{
    vs_drv_queue *q = &d->q[qi];
    if (!vs__drv_mut(d, VS_DRV_MUT_PACKED_REWRITE_AVAIL) || q->layout.format != VS_RING_PACKED)
        return;
    uint64_t gpa = q->layout.desc_gpa + 16ull * (from & 0x7fffu);
    uint8_t desc[16];
    if (vs_gmem_read(d->gm, gpa, desc, sizeof desc, NULL) < 0)
        return;
    if (!(vs_le16_get(desc + 14) & 1u)) /* VIRTQ_DESC_F_NEXT */
        return;
    vs_le16_put(desc + 12, (uint16_t)(vs_le16_get(desc + 12) ^ 0x4000u));
    (void)vs_gmem_write(d->gm, gpa + 12, desc + 12, 2, NULL);
}
