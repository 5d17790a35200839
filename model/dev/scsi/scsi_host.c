/* Host side of the reference virtio-scsi device: what scenario steps do to it (hot-add
 * and hot-remove LUs, change a capacity or the write protection, hold commands, inject
 * response codes, raise asynchronous events) and direct storage access.
 *
 * Events (spec "Device Operation: eventq"): a LU added / removed sends TRANSPORT_RESET
 * with RESET_RESCAN / RESET_REMOVED only when HOTPLUG was negotiated; in every case the
 * target's remaining LUs get the unit attention REPORTED LUNS DATA HAS CHANGED. A capacity
 * change gives the LU the unit attention CAPACITY DATA HAS CHANGED and, when CHANGE was
 * negotiated and the LU is not an MMC unit, a PARAM_CHANGE event (reason 2Ah | 09h << 8).
 * Removing a LU completes its held commands with RESET first. */
#include <string.h>

#include "scsi_int.h"

static scsi_lu *lu_of(vs_device *d, uint8_t target, uint16_t lun, scsi_dev **s, vs_err *e)
{
    *s = vs__scsi_dev(d, e);
    if (!*s)
        return NULL;
    scsi_lu *lu = vs__scsi_tgt_find(&(*s)->tgt, target, lun);
    if (!lu)
        vs_err_set(e, VS_ERANGE, "scsi: no LU %u:%u", target, lun);
    return lu;
}

static void hotplug_event(scsi_dev *s, uint8_t target, uint16_t lun, uint32_t reason)
{
    vs__scsi_tgt_ua(&s->tgt, target, UA_LUNS_CHANGED);
    if (sneg(s, VS_SCSI_F_HOTPLUG) || smut(s, VS_SCSI_MUT_HOTPLUG_UNNEGOTIATED))
        vs__scsi_event(s, VS_SCSI_T_TRANSPORT_RESET, target, lun, reason);
}

int vs_scsi_lun_add(vs_device *d, const vs_scsi_lun_opts *l, vs_err *e)
{
    scsi_dev *s = vs__scsi_dev(d, e);
    if (!s)
        return -VS_EINVAL;
    if (!l)
        return vs_err_set(e, VS_EINVAL, "scsi: lun_add: NULL options");
    vs__scsi_tgt_ua(&s->tgt, l->target, UA_LUNS_CHANGED); /* the LUs already there */
    int rc = vs__scsi_tgt_add(&s->tgt, l, e);
    if (rc < 0)
        return rc;
    vs__scsi_tgt_find(&s->tgt, l->target, l->lun)->ua = 0;
    hotplug_event(s, l->target, l->lun, VS_SCSI_EVT_RESET_RESCAN);
    return 0;
}

int vs_scsi_lun_remove(vs_device *d, uint8_t target, uint16_t lun, vs_err *e)
{
    scsi_dev *s;
    if (!lu_of(d, target, lun, &s, e))
        return -VS_ERANGE;
    vs__scsi_held_finish(s, target, lun, true, 0, VS_SCSI_S_RESET);
    int rc = vs__scsi_tgt_remove(&s->tgt, target, lun, e);
    if (rc < 0)
        return rc;
    hotplug_event(s, target, lun, VS_SCSI_EVT_RESET_REMOVED);
    return 0;
}

int vs_scsi_set_capacity(vs_device *d, uint8_t target, uint16_t lun, uint64_t blocks,
                         vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    int rc = vs__scsi_tgt_resize(&s->tgt, lu, blocks, e);
    if (rc < 0)
        return rc;
    lu->ua |= UA_CAPACITY;
    if (sneg(s, VS_SCSI_F_CHANGE) &&
        (lu->type != VS_SCSI_TYPE_MMC || smut(s, VS_SCSI_MUT_PARAM_CHANGE_MMC)))
        vs__scsi_event(s, VS_SCSI_T_PARAM_CHANGE, target, lun,
                       (uint32_t)(VS_SCSI_ASC_CAPACITY_CHANGED >> 8) |
                           (uint32_t)(VS_SCSI_ASC_CAPACITY_CHANGED & 0xff) << 8);
    return 0;
}

int vs_scsi_set_read_only(vs_device *d, uint8_t target, uint16_t lun, bool ro, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    if (!ro && lu->type == VS_SCSI_TYPE_MMC)
        return vs_err_set(e, VS_EINVAL, "scsi: MMC LU %u:%u is always read-only", target, lun);
    lu->ro = ro;
    return 0;
}

int vs_scsi_hold(vs_device *d, uint8_t target, uint16_t lun, uint32_t count, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    if (!d->complete)
        return vs_err_set(e, VS_ENOTSUP, "scsi: hold needs a transport that completes "
                          "deferred chains");
    lu->hold = count;
    return 0;
}

int vs_scsi_release(vs_device *d, uint8_t target, uint16_t lun, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    lu->hold = 0;
    vs__scsi_held_release(s, target, lun);
    return 0;
}

uint32_t vs_scsi_held(const vs_device *d)
{
    scsi_dev *s = vs__scsi_dev((vs_device *)d, NULL);
    return s ? s->nheld : 0;
}

int vs_scsi_inject_response(vs_device *d, uint8_t target, uint16_t lun, uint8_t response,
                            uint32_t count, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    if (response < VS_SCSI_S_BUSY || response > VS_SCSI_S_FAILURE)
        return vs_err_set(e, VS_EINVAL, "scsi: inject response %u (BUSY .. FAILURE)",
                          response);
    lu->inject = count;
    lu->inject_resp = response;
    return 0;
}

int vs_scsi_raise_async(vs_device *d, uint8_t target, uint16_t lun, uint32_t events,
                        vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu = lu_of(d, target, lun, &s, e);
    if (!lu)
        return -VS_ERANGE;
    uint32_t ev = events & lu->an_subscribed;
    if (ev)
        vs__scsi_event(s, VS_SCSI_T_ASYNC_NOTIFY, target, lun, ev);
    return 0;
}

uint32_t vs_scsi_event_buffers(const vs_device *d)
{
    scsi_dev *s = vs__scsi_dev((vs_device *)d, NULL);
    return s ? s->nev : 0;
}

uint64_t vs_scsi_events_dropped(const vs_device *d)
{
    scsi_dev *s = vs__scsi_dev((vs_device *)d, NULL);
    return s ? s->dropped : 0;
}

static int storage_check(vs_device *d, uint8_t target, uint16_t lun, uint64_t lba,
                         const void *buf, uint32_t n, scsi_dev **s, scsi_lu **lu, vs_err *e)
{
    *lu = lu_of(d, target, lun, s, e);
    if (!*lu)
        return -VS_ERANGE;
    if (n && !buf)
        return vs_err_set(e, VS_EINVAL, "scsi: NULL buffer");
    if (lba > (*lu)->blocks || n > (*lu)->blocks - lba)
        return vs_err_set(e, VS_ERANGE, "scsi: blocks [%llu, +%u) beyond %llu",
                          (unsigned long long)lba, n, (unsigned long long)(*lu)->blocks);
    return 0;
}

int vs_scsi_storage_read(vs_device *d, uint8_t target, uint16_t lun, uint64_t lba,
                         void *buf, uint32_t nblocks, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu;
    int rc = storage_check(d, target, lun, lba, buf, nblocks, &s, &lu, e);
    if (rc < 0)
        return rc;
    if (nblocks && vs__scsi_st_read(&s->tgt, lu, lba, nblocks, buf) < 0)
        return vs_err_set(e, VS_EIO, "scsi: storage read failed");
    return 0;
}

int vs_scsi_storage_write(vs_device *d, uint8_t target, uint16_t lun, uint64_t lba,
                          const void *buf, uint32_t nblocks, vs_err *e)
{
    scsi_dev *s;
    scsi_lu *lu;
    int rc = storage_check(d, target, lun, lba, buf, nblocks, &s, &lu, e);
    if (rc < 0)
        return rc;
    if (nblocks && vs__scsi_st_write(lu, lba, nblocks, buf) < 0)
        return vs_err_set(e, VS_EIO, "scsi: storage write failed");
    return 0;
}
