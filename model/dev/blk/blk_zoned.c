/* The zoned model of the reference virtio-blk device (spec 5.2, VIRTIO_BLK_F_ZONED): zone
 * states, the zone requests (ZONE_APPEND, ZONE_REPORT, open / close / finish / reset), the
 * checks reads and writes pass in zoned mode, and the zoned config fields. */
#include "blk_int.h"

#include <stdlib.h>
#include <string.h>

#include "virtiosim/le.h"

/* Zoned mode (VIRTIO_BLK_F_ZONED negotiated, model HM or HA). Decisions:
 *   - Zone states live with the storage: a device reset keeps them.
 *   - Unwritten data (from the write pointer to the zone end) reads as zeroes: a reset
 *     zeroes the zone, and sectors past the write pointer are never written.
 *   - No implicit close: an implicit or explicit open over max_open_zones fails with
 *     OPEN_RESOURCE (ACTIVE_RESOURCE first when max_active_zones is also exceeded).
 *   - ZONE_FINISH of an empty or closed zone makes it full; ZONE_CLOSE of an empty zone
 *     is an invalid command (only open zones can be closed; closing a closed one is OK).
 *   - Errors are checked in this order: offline zone, append shape (max_append_sectors,
 *     zone type, zone start), spanning zones, read-only / full zone, write_granularity
 *     and write pointer (UNALIGNED_WP), zone capacity (INVALID_CMD), resources.
 *   - DISCARD and WRITE_ZEROES are not offered in zoned mode (a host-managed driver must
 *     not accept DISCARD). Model NONE behaves like a regular device; zone requests UNSUPP.
 */


static uint64_t z_start(const blk_dev *b, uint64_t i) { return i * b->zs; }
static uint64_t z_len(const blk_dev *b, uint64_t i)
{
    uint64_t s = z_start(b, i);
    return b->capacity - s < b->zs ? b->capacity - s : b->zs;
}
static uint64_t z_cap(const blk_dev *b, uint64_t i)
{
    uint64_t l = z_len(b, i), c = b->o.zoned.zone_capacity ? b->o.zoned.zone_capacity : l;
    return b->zones[i].type == VS_BLK_ZT_CONV || c > l ? l : c;
}

static bool z_is_open(uint8_t st) { return st == VS_BLK_ZS_IOPEN || st == VS_BLK_ZS_EOPEN; }
static bool z_is_active(uint8_t st) { return z_is_open(st) || st == VS_BLK_ZS_CLOSED; }

static void z_counts(const blk_dev *b, uint32_t *open, uint32_t *active)
{
    *open = *active = 0;
    for (uint64_t i = 0; i < b->nzones; i++) {
        *open += z_is_open(b->zones[i].state);
        *active += z_is_active(b->zones[i].state);
    }
}

/* Status of opening zone i (implicitly or explicitly) with the resources left. */
static uint8_t z_resources(const blk_dev *b, uint64_t i)
{
    uint8_t st = b->zones[i].state;
    if (st != VS_BLK_ZS_EMPTY && st != VS_BLK_ZS_CLOSED)
        return VS_BLK_S_OK; /* already open or not openable here: no resource to take */
    uint32_t mo = b->o.zoned.max_open_zones, ma = b->o.zoned.max_active_zones, open, active;
    if (zmut(b, VS_BLK_ZMUT_OPEN_LIMIT_LOW) && mo)
        mo--; /* mutant: a limit lower than the one reported */
    if (zmut(b, VS_BLK_ZMUT_ACTIVE_LIMIT_LOW) && ma)
        ma--;
    z_counts(b, &open, &active);
    if (st == VS_BLK_ZS_EMPTY && ma && active >= ma)
        return VS_BLK_S_ZONE_ACTIVE_RESOURCE;
    if (mo && open >= mo)
        return VS_BLK_S_ZONE_OPEN_RESOURCE;
    return VS_BLK_S_OK;
}

static uint32_t append_limit(const blk_dev *b)
{
    uint32_t m = b->o.zoned.max_append_sectors;
    if (zmut(b, VS_BLK_ZMUT_APPEND_MAX_HALF))
        m /= 2;
    return m;
}

/* Checks a write of nsec sectors (OUT at sector, or ZONE_APPEND to the zone starting at
 * sector) against the zone model. OK: *at is where the data goes. */
uint8_t vs__blkdev_z_write_check(const blk_dev *b, uint64_t sector, uint64_t nsec, bool append,
                                 uint64_t *at)
{
    uint64_t zi = sector / b->zs, last = (sector + (nsec ? nsec : 1) - 1) / b->zs;
    const blk_zone *z = &b->zones[zi];
    *at = sector;
    for (uint64_t i = zi; i <= last && i < b->nzones; i++)
        if (b->zones[i].state == VS_BLK_ZS_OFFLINE)
            return VS_BLK_S_ZONE_INVALID_CMD;
    if (append) {
        uint32_t lim = append_limit(b);
        if (b->o.zoned.max_append_sectors == 0 && !zmut(b, VS_BLK_ZMUT_APPEND_NO_MAX))
            return zmut(b, VS_BLK_ZMUT_APPEND_ZERO_MAX_INVALID) ? VS_BLK_S_ZONE_INVALID_CMD
                                                                 : VS_BLK_S_UNSUPP;
        if (nsec > lim && !zmut(b, VS_BLK_ZMUT_APPEND_NO_MAX))
            return VS_BLK_S_ZONE_INVALID_CMD;
        if (z->type == VS_BLK_ZT_CONV && zmut(b, VS_BLK_ZMUT_APPEND_CONV_OK))
            return last == zi ? VS_BLK_S_OK : VS_BLK_S_ZONE_INVALID_CMD;
        if (z->type != VS_BLK_ZT_SWR)
            return VS_BLK_S_ZONE_INVALID_CMD;
        if (sector != z_start(b, zi) && !zmut(b, VS_BLK_ZMUT_APPEND_MID_ZONE))
            return VS_BLK_S_ZONE_INVALID_CMD;
        *at = z->wp;
        last = (z->wp + (nsec ? nsec : 1) - 1) / b->zs;
    }
    if (last != zi)
        for (uint64_t i = zi; i <= last && i < b->nzones; i++)
            if (b->zones[i].type != VS_BLK_ZT_CONV)
                return VS_BLK_S_ZONE_INVALID_CMD;
    if (z->type == VS_BLK_ZT_CONV)
        return VS_BLK_S_OK;
    if (z->state == VS_BLK_ZS_RDONLY)
        return zmut(b, VS_BLK_ZMUT_RDONLY_WRITE_OK) ? VS_BLK_S_OK : VS_BLK_S_ZONE_INVALID_CMD;
    if (z->state == VS_BLK_ZS_FULL)
        return VS_BLK_S_ZONE_INVALID_CMD;
    uint32_t wg = b->o.zoned.write_granularity;
    if (zmut(b, VS_BLK_ZMUT_GRANULARITY_IGNORED))
        wg = VS_BLK_SECTOR;
    if ((*at * VS_BLK_SECTOR) % wg || (nsec * VS_BLK_SECTOR) % wg)
        return VS_BLK_S_ZONE_UNALIGNED_WP;
    if (!append && z->type == VS_BLK_ZT_SWR && sector != z->wp &&
        !zmut(b, VS_BLK_ZMUT_WRITE_ANYWHERE))
        return VS_BLK_S_ZONE_UNALIGNED_WP;
    uint64_t end = z_start(b, zi) + (zmut(b, VS_BLK_ZMUT_NO_CAPACITY_CHECK) ? z_len(b, zi)
                                                                            : z_cap(b, zi));
    if (*at + nsec > end)
        return VS_BLK_S_ZONE_INVALID_CMD;
    if (nsec && !zmut(b, VS_BLK_ZMUT_IMPLICIT_NO_LIMITS))
        return z_resources(b, zi);
    return VS_BLK_S_OK;
}

/* The write of [at, at + nsec) succeeded: implicit open, write pointer, full. */
void vs__blkdev_z_written(blk_dev *b, uint64_t at, uint64_t nsec)
{
    uint64_t zi = at / b->zs;
    blk_zone *z = &b->zones[zi];
    if (z->type == VS_BLK_ZT_CONV || !nsec || z->state == VS_BLK_ZS_RDONLY)
        return;
    if (z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_CLOSED)
        z->state = VS_BLK_ZS_IOPEN;
    if (at + nsec > z->wp)
        z->wp = at + nsec;
    if (z->wp >= z_start(b, zi) + z_cap(b, zi)) {
        z->wp = z_start(b, zi) + z_cap(b, zi);
        z->state = VS_BLK_ZS_FULL;
    }
}

/* Status of a read of [sector, +nsec) in zoned mode. */
uint8_t vs__blkdev_z_read_check(const blk_dev *b, uint64_t sector, uint64_t nsec)
{
    if (!nsec)
        return VS_BLK_S_OK;
    uint64_t zi = sector / b->zs, last = (sector + nsec - 1) / b->zs;
    if (!zmut(b, VS_BLK_ZMUT_OFFLINE_READ_OK))
        for (uint64_t i = zi; i <= last && i < b->nzones; i++)
            if (b->zones[i].state == VS_BLK_ZS_OFFLINE)
                return VS_BLK_S_ZONE_INVALID_CMD;
    if (last != zi && b->zones[zi].type == VS_BLK_ZT_SWR && !zmut(b, VS_BLK_ZMUT_READ_SPANS_OK))
        return VS_BLK_S_ZONE_INVALID_CMD;
    return VS_BLK_S_OK;
}

int vs__blkdev_z_reset_zone(blk_dev *b, uint64_t i)
{
    blk_zone *z = &b->zones[i];
    z->state = VS_BLK_ZS_EMPTY;
    z->wp = z_start(b, i);
    if (zmut(b, VS_BLK_ZMUT_RESET_KEEPS_DATA))
        return 0; /* mutant: the old data stays readable past the write pointer */
    return vs__blkdev_st_zero(b, z_start(b, i) * VS_BLK_SECTOR, z_len(b, i) * VS_BLK_SECTOR, true);
}

int vs__blkdev_req_zone_mgmt(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    int rc = vs__blkdev_no_data_in(r, "zone management", e);
    if (rc < 0)
        return rc;
    if (r->type == VS_BLK_T_ZONE_RESET_ALL) {
        int io = 0;
        for (uint64_t i = 0; i < b->nzones && io == 0; i++) {
            uint8_t st = b->zones[i].state;
            if (z_is_active(st) || st == VS_BLK_ZS_FULL)
                io = vs__blkdev_z_reset_zone(b, i);
        }
        return vs__blkdev_complete(b, r, io_status(io), 1, w, e);
    }
    uint8_t inval = VS_BLK_S_ZONE_INVALID_CMD;
    if (r->sector >= b->capacity || r->sector % b->zs)
        return vs__blkdev_complete(b, r, inval, 1, w, e);
    uint64_t zi = r->sector / b->zs;
    blk_zone *z = &b->zones[zi];
    if (z->type == VS_BLK_ZT_CONV)
        return vs__blkdev_complete(b, r, zmut(b, VS_BLK_ZMUT_MGMT_CONV_OK) ? VS_BLK_S_OK : inval,
                                   1, w, e);
    uint8_t st = z->state, status = VS_BLK_S_OK;
    if (st == VS_BLK_ZS_OFFLINE)
        return vs__blkdev_complete(b, r, inval, 1, w, e);
    switch (r->type) {
    case VS_BLK_T_ZONE_OPEN:
        if (st == VS_BLK_ZS_EMPTY || st == VS_BLK_ZS_CLOSED) {
            if (!zmut(b, VS_BLK_ZMUT_OPEN_NO_LIMITS))
                status = z_resources(b, zi);
            if (status == VS_BLK_S_OK)
                z->state = VS_BLK_ZS_EOPEN;
        } else if (st == VS_BLK_ZS_IOPEN) {
            z->state = VS_BLK_ZS_EOPEN;
        } else if (st != VS_BLK_ZS_EOPEN) {
            status = st == VS_BLK_ZS_FULL && zmut(b, VS_BLK_ZMUT_OPEN_FULL_OK) ? VS_BLK_S_OK
                                                                             : inval;
        }
        break;
    case VS_BLK_T_ZONE_CLOSE:
        if (z_is_open(st))
            z->state = z->wp == z_start(b, zi) ? VS_BLK_ZS_EMPTY : VS_BLK_ZS_CLOSED;
        else if (st != VS_BLK_ZS_CLOSED)
            status = st == VS_BLK_ZS_EMPTY && zmut(b, VS_BLK_ZMUT_CLOSE_EMPTY_OK) ? VS_BLK_S_OK
                                                                                : inval;
        break;
    case VS_BLK_T_ZONE_FINISH:
        if (st == VS_BLK_ZS_RDONLY) {
            status = zmut(b, VS_BLK_ZMUT_FINISH_RDONLY_OK) ? VS_BLK_S_OK : inval;
        } else if (st != VS_BLK_ZS_FULL) {
            z->state = VS_BLK_ZS_FULL; /* sectors past the write pointer stay unwritten */
            z->wp = z_start(b, zi) + z_cap(b, zi);
        }
        break;
    default: /* VS_BLK_T_ZONE_RESET */
        if (st == VS_BLK_ZS_RDONLY)
            status = zmut(b, VS_BLK_ZMUT_RESET_RDONLY_OK) ? VS_BLK_S_OK : inval;
        else if (vs__blkdev_z_reset_zone(b, zi) < 0)
            status = VS_BLK_S_IOERR;
        break;
    }
    return vs__blkdev_complete(b, r, status, 1, w, e);
}

int vs__blkdev_req_zone_append(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    if (r->in_bytes != VS_BLK_APPEND_IN)
        return vs_err_set(e, VS_EINVAL,
                          "blk: ZONE_APPEND needs exactly 9 device-writable bytes "
                          "(append_sector and status), has %llu",
                          (unsigned long long)r->in_bytes);
    uint64_t len = r->out_bytes - VS_BLK_HDR_BYTES, nsec = len / VS_BLK_SECTOR, at = 0;
    uint8_t status = VS_BLK_S_OK;
    if (offered(b, VS_BLK_F_RO) || len % VS_BLK_SECTOR || !range_ok(b, r->sector, 1))
        status = VS_BLK_S_IOERR;
    else
        status = vs__blkdev_z_write_check(b, r->sector, nsec, true, &at);
    if (status == VS_BLK_S_OK && !range_ok(b, at, nsec))
        status = VS_BLK_S_IOERR;
    int io = 0;
    uint64_t pos = at * VS_BLK_SECTOR;
    for (uint64_t done = 0; status == VS_BLK_S_OK && done < len && io == 0;) {
        uint64_t n = len - done < BLK_BOUNCE ? len - done : BLK_BOUNCE;
        int rc = vs__blkdev_chain_xfer(b, r->c, false, VS_BLK_HDR_BYTES + done, b->bounce, n,
                                       false, e);
        if (rc < 0)
            return rc;
        io = vs__blkdev_st_write(b, pos + done, b->bounce, n);
        done += n;
    }
    if (status == VS_BLK_S_OK && io == 0 && vs__blkdev_write_through(b))
        io = vs__blkdev_st_sync(b);
    if (status == VS_BLK_S_OK)
        status = io_status(io);
    uint8_t as[8] = {0};
    if (status == VS_BLK_S_OK) {
        vs__blkdev_z_written(b, at, nsec);
        vs_le64_put(as, zmut(b, VS_BLK_ZMUT_APPEND_SECTOR_WRONG) ? at + 1 : at);
    }
    int rc = vs__blkdev_chain_xfer(b, r->c, true, 0, as, sizeof as, true, e);
    if (rc < 0)
        return rc;
    return vs__blkdev_complete(b, r, status, VS_BLK_APPEND_IN, w, e);
}

static void put_zone_desc(const blk_dev *b, uint64_t i, uint8_t d[VS_BLK_ZONE_DESC])
{
    const blk_zone *z = &b->zones[i];
    vs_blk_zone_desc zd = {.z_cap = z_cap(b, i), .z_start = z_start(b, i), .z_wp = z->wp,
                           .z_type = z->type, .z_state = z->state};
    if (z->type == VS_BLK_ZT_CONV || z->state == VS_BLK_ZS_FULL)
        zd.z_wp = z_start(b, i) + z_len(b, i);
    else if (z->state == VS_BLK_ZS_RDONLY || z->state == VS_BLK_ZS_OFFLINE)
        zd.z_wp = UINT64_MAX; /* not valid in these states */
    vs_blk_zone_desc_put(d, &zd);
}

int vs__blkdev_req_zone_report(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    if (r->out_bytes != VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL,
                          "blk: ZONE_REPORT request has %llu readable bytes after the header "
                          "(the report is device-writable)",
                          (unsigned long long)(r->out_bytes - VS_BLK_HDR_BYTES));
    uint64_t len = r->in_bytes - 1;
    if (len < VS_BLK_ZONE_REPORT_HDR)
        return vs__blkdev_fail_zero(b, r, VS_BLK_S_IOERR, w, e);
    if (r->sector >= b->capacity)
        return vs__blkdev_fail_zero(b, r, VS_BLK_S_ZONE_INVALID_CMD, w, e);
    uint64_t zi = r->sector / b->zs, n = (len - VS_BLK_ZONE_REPORT_HDR) / VS_BLK_ZONE_DESC;
    if (n > b->nzones - zi)
        n = b->nzones - zi;
    int rc = vs__blkdev_chain_zero(b, r->c, 0, len, e);
    if (rc < 0)
        return rc;
    uint8_t hdr[VS_BLK_ZONE_REPORT_HDR];
    vs_blk_zone_report_nr_put(hdr, n);
    if ((rc = vs__blkdev_chain_xfer(b, r->c, true, 0, hdr, sizeof hdr, true, e)) < 0)
        return rc;
    for (uint64_t k = 0; k < n; k++) {
        uint8_t d[VS_BLK_ZONE_DESC];
        put_zone_desc(b, zi + k, d);
        rc = vs__blkdev_chain_xfer(b, r->c, true, VS_BLK_ZONE_REPORT_HDR + k * VS_BLK_ZONE_DESC, d,
                                   sizeof d, true, e);
        if (rc < 0)
            return rc;
    }
    return vs__blkdev_complete(b, r, VS_BLK_S_OK, (uint32_t)r->in_bytes, w, e);
}

int vs__blkdev_zoned_setup(blk_dev *b, vs_err *e)
{
    vs_blk_zoned_opts *z = &b->o.zoned;
    if (!z->on)
        return 0;
    if (z->model > VS_BLK_Z_HA)
        return vs_err_set(e, VS_EINVAL, "blk: zoned model %u unknown", z->model);
    if (z->zone_sectors == 0)
        return vs_err_set(e, VS_EINVAL, "blk: zoned: zone_sectors must be > 0");
    if (z->zone_capacity > z->zone_sectors)
        return vs_err_set(e, VS_EINVAL, "blk: zoned: zone_capacity %u > zone_sectors %u",
                          z->zone_capacity, z->zone_sectors);
    if (z->write_granularity == 0)
        z->write_granularity = VS_BLK_SECTOR;
    if (z->write_granularity % VS_BLK_SECTOR ||
        (z->write_granularity & (z->write_granularity - 1)))
        return vs_err_set(e, VS_EINVAL,
                          "blk: zoned: write_granularity %u is not a power of two >= 512",
                          z->write_granularity);
    if (b->o.size_max &&
        (uint64_t)z->max_append_sectors * VS_BLK_SECTOR > (uint64_t)b->o.seg_max * b->o.size_max)
        return vs_err_set(e, VS_EINVAL,
                          "blk: zoned: max_append_sectors %u exceeds seg_max * size_max",
                          z->max_append_sectors);
    b->zs = z->zone_sectors;
    if (zmut(b, VS_BLK_ZMUT_ZONE_SIZE_LIES))
        b->zs *= 2; /* mutant: config reports zone_sectors, the zones are twice as big */
    b->nzones = (b->capacity + b->zs - 1) / b->zs;
    if (b->nzones > (1u << 24))
        return vs_err_set(e, VS_EINVAL, "blk: zoned: %llu zones is too many",
                          (unsigned long long)b->nzones);
    b->zones = calloc(b->nzones, sizeof *b->zones);
    if (!b->zones)
        return vs_err_set(e, VS_ENOMEM, "blk: out of memory");
    for (uint64_t i = 0; i < b->nzones; i++) {
        blk_zone *zn = &b->zones[i];
        zn->wp = z_start(b, i);
        if (i < z->conventional_zones) {
            zn->type = VS_BLK_ZT_CONV;
            zn->state = VS_BLK_ZS_NOT_WP;
            continue;
        }
        zn->type = z->model == VS_BLK_Z_HA ? VS_BLK_ZT_SWP : VS_BLK_ZT_SWR;
        zn->state = VS_BLK_ZS_EMPTY;
        if (i < 64 && (z->read_only_zones >> i & 1))
            zn->state = VS_BLK_ZS_RDONLY;
        if (i < 64 && (z->offline_zones >> i & 1))
            zn->state = VS_BLK_ZS_OFFLINE;
    }
    return 0;
}

/* Are the zoned config fields visible? Before the features are accepted always; after,
 * only when ZONED was negotiated (a host-aware device declined zeroes them). */
bool vs__blkdev_zoned_cfg_visible(const blk_dev *b)
{
    return offered(b, VS_BLK_F_ZONED) && (!b->features_accepted || neg(b, VS_BLK_F_ZONED) ||
                                          zmut(b, VS_BLK_ZMUT_DECLINED_KEEPS_FIELDS));
}

void vs__blkdev_build_zoned_config(const blk_dev *b, uint8_t *cfg)
{
    const vs_blk_zoned_opts *z = &b->o.zoned;
    uint32_t mas = z->max_append_sectors;
    if (zmut(b, VS_BLK_ZMUT_APPEND_OVER_SEGS)) /* mutant: more than seg_max * size_max */
        mas = (uint32_t)((uint64_t)b->o.seg_max * (b->o.size_max ? b->o.size_max : 4096) /
                             VS_BLK_SECTOR + 8);
    vs_le32_put(cfg + VS_BLK_CFG_ZONE_SECTORS, z->zone_sectors);
    vs_le32_put(cfg + VS_BLK_CFG_MAX_OPEN_ZONES, z->max_open_zones);
    vs_le32_put(cfg + VS_BLK_CFG_MAX_ACTIVE_ZONES, z->max_active_zones);
    vs_le32_put(cfg + VS_BLK_CFG_MAX_APPEND_SECTORS, mas);
    vs_le32_put(cfg + VS_BLK_CFG_WRITE_GRANULARITY, z->write_granularity);
    cfg[VS_BLK_CFG_ZONED_MODEL] = zmut(b, VS_BLK_ZMUT_MODEL_LIES) ? VS_BLK_Z_HA : z->model;
    if (zmut(b, VS_BLK_ZMUT_UNUSED2_NONZERO))
        cfg[VS_BLK_CFG_ZONED_MODEL + 1] = 0xff;
}
