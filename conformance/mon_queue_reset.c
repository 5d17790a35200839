/* queue-reset-honoured (VIRTIO_F_RING_RESET): a reset queue's old rings stay as they
 * were, nothing comes for it until it is set up again, and a re-enabled queue starts fresh. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ queue reset */

/* Hash of the ring areas a device writes (split: used area; packed: descriptors and the
 * device event area). */
bool qr_hash(vs_monitors *m, const vs_vq_layout *l, uint64_t *h)
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
void qr_judge_old(vs_monitors *m, int32_t qi, bool last)
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

void qr_on_disable(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || !has(neg(m), VS_F_RING_RESET) || !role_on(m, CK_QRESET))
        return;
    qr_judge_old(m, qi, true);
    qreset *r = &m->qr[qi];
    *r = (qreset){.l = q->l, .await_enable = true};
    r->old_valid = qr_hash(m, &r->l, &r->hash);
}

void qr_on_setup(vs_monitors *m, int32_t qi, uint32_t size)
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
void qr_fresh_failed(vs_monitors *m, int32_t qi, const char *what)
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
