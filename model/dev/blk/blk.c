/* Reference virtio-blk device (VIRTIO 1.x section 5.2 "Block Device"): requests, storage,
 * creation. The zoned model is blk_zoned.c, config space and features blk_config.c
 * (internals shared through blk_int.h).
 *
 * Transport-independent and clock-free: handle() performs one request completely.
 * Guest memory accesses go through vs_gmem_read/vs_gmem_write, so gmem hooks see every
 * access the device makes and fault injection works; only while no hook is installed does
 * the device copy through dseg.host (the ring's translation of the segment, checked for
 * its direction when the chain was fetched), the same bytes without a second lookup.
 *
 * Request layout (driver -> device readable part, then device-writable part):
 *   readable:  16-byte header {le32 type, le32 reserved, le64 sector}, may be split
 *              across any number of segments, followed by driver data (OUT) or an
 *              array of 16-byte discard/write-zeroes segments (DISCARD, WRITE_ZEROES);
 *   writable:  device data (IN, GET_ID), then the status byte, which is the LAST byte
 *              of the writable part (last byte of the last non-empty writable segment).
 * Segment boundaries are irrelevant: both parts are treated as byte streams.
 *
 * DEVICE ERRORS (handle() returns < 0 with a message; no status byte is written, the
 * transport sets DEVICE_NEEDS_RESET). These are requests the device cannot parse:
 *   1. no device-writable byte at all (nowhere to put the status);
 *   2. fewer than 16 readable bytes (header missing or truncated);
 *   3. inconsistent chain description (n_out > nseg, a readable segment after a
 *      writable one, seg[i].write disagreeing with n_out, writable part > 4 GiB - 1);
 *   4. IN or GET_ID with readable bytes after the header (data in the wrong direction);
 *   5. OUT, FLUSH, DISCARD or WRITE_ZEROES (when negotiated) with device-writable bytes
 *      besides the status byte (data in the wrong direction);
 *   6. a request on a queue that does not exist (q >= num_queues, or q > 0 without MQ
 *      negotiated);
 *   7. a guest memory access that fails (unmapped GPA, read-only region, hook veto);
 *   8. zoned mode: ZONE_APPEND without exactly 9 writable bytes (append_sector, status),
 *      ZONE_REPORT with readable data, zone management with writable data.
 * Everything else parses and completes with a status byte:
 *   - UNSUPP: unknown type (incl. GET_LIFETIME / SECURE_ERASE unless offered and negotiated,
 *     zoned types unless zoned mode
 *     is on and ZONED negotiated (see "zoned" below), legacy
 *     barrier bit), FLUSH/DISCARD/WRITE_ZEROES without the feature negotiated, unknown
 *     DISCARD/WRITE_ZEROES flag bits, UNMAP on DISCARD (spec 5.2.6.2 MUSTs). For such
 *     requests the layout is unknown: any writable bytes before the status are
 *     zero-filled and the used length is the whole writable part.
 *   - IOERR: IN/OUT data length not a multiple of 512, sector range beyond capacity,
 *     writes (OUT, DISCARD, WRITE_ZEROES) on a read-only device (no data written),
 *     DISCARD/WRITE_ZEROES payload empty / not a multiple of 16 / more segments than
 *     max_*_seg / a segment longer than max_*_sectors / beyond capacity / (DISCARD)
 *     start sector not a multiple of discard_sector_alignment, host I/O errors.
 *     When a failing request has a device-writable data area (IN), that area is
 *     zero-filled so the reported used length (whole writable part) is honest: spec
 *     2.7.8 requires the device to have written the first `len` writable bytes.
 * Checks are done in this order for DISCARD/WRITE_ZEROES: feature negotiated, payload
 * shape, flags (UNSUPP), read-only (IOERR), limits/range (IOERR); all segments are
 * validated before any is executed, so a failing request changes nothing.
 *
 * Other decisions:
 *   - FLUSH: sector != 0 and readable data (driver SHOULD NOT / MUST NOT) are ignored.
 *   - GET_ID: the data area is filled completely: the serial, then zeros; a data area
 *     shorter than 20 bytes gets a truncated serial. used len = data area + 1.
 *   - DISCARD zeroes the range (deterministic); file-backed storage punches a hole when
 *     the file system can, else writes zeros. WRITE_ZEROES with UNMAP punches a hole
 *     only when write_zeroes_may_unmap is set. Either way reads return zeros.
 *   - seg_max / size_max are advertised but not enforced (the spec puts no device
 *     requirement on them; monitors check the driver).
 *   - Cache: RAM storage has no persistence. File storage commits (fdatasync) after each
 *     write when the write must be stable on completion (spec 5.2.6.2: FLUSH offered but
 *     neither FLUSH nor CONFIG_WCE negotiated, or CONFIG_WCE negotiated and writeback 0),
 *     and on FLUSH. If CONFIG_WCE is negotiated without FLUSH, writeback is forced to 0
 *     when the features are accepted (spec 5.2.5).
 *   - Config space: 60 bytes (up to unused1). Reads of any offset/width inside it;
 *     fields of features not offered read as 0, padding reads as 0. Writes: only the
 *     writeback byte, only when CONFIG_WCE is negotiated, only values 0 and 1; every
 *     other write inside config space is ignored (returns 0, nothing changes): the
 *     driver MUST NOT write them and it is the monitors' job to flag that. Accesses
 *     outside config space are errors (VS_ERANGE).
 *   - vs_blk_create refuses CONFIG_WCE without FLUSH (a device MUST offer FLUSH if it
 *     offers CONFIG_WCE) and device-specific bits (< 24) in extra_features.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, fdatasync, pread; the build does not define it */
#endif
#include "blk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtiosim/le.h"

/* ------------------------------------------------------------------ storage */

/* Host I/O: 0 or -errno. */
static int st_read(blk_dev *b, uint64_t off, void *buf, size_t len)
{
    if (b->ram) {
        memcpy(buf, b->ram + off, len);
        return 0;
    }
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(b->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* image shrank under us */
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int vs__blkdev_st_write(blk_dev *b, uint64_t off, const void *buf, size_t len)
{
    if (b->ram) {
        memcpy(b->ram + off, buf, len);
        return 0;
    }
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(b->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int vs__blkdev_st_zero(blk_dev *b, uint64_t off, uint64_t len, bool unmap)
{
    if (b->ram) {
        memset(b->ram + off, 0, len);
        return 0;
    }
#ifdef FALLOC_FL_PUNCH_HOLE
    if (unmap && len &&
        fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
#else
    (void)unmap;
#endif
    memset(b->bounce, 0, BLK_BOUNCE);
    while (len) {
        size_t n = len < BLK_BOUNCE ? (size_t)len : BLK_BOUNCE;
        int r = vs__blkdev_st_write(b, off, b->bounce, n);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

int vs__blkdev_st_sync(blk_dev *b)
{
    if (b->fd < 0)
        return 0;
    if (fdatasync(b->fd) < 0)
        return -errno;
    return 0;
}

/* Must a completed write be stable (committed) before completion is reported? */
bool vs__blkdev_write_through(const blk_dev *b)
{
    if (offered(b, VS_BLK_F_FLUSH) && !neg(b, VS_BLK_F_FLUSH) && !neg(b, VS_BLK_F_CONFIG_WCE))
        return true;
    if (neg(b, VS_BLK_F_CONFIG_WCE) && b->writeback == 0)
        return true;
    return false;
}

/* ------------------------------------------------------------- chain access */

/* Copies len bytes at byte offset off of the readable (write=false) or writable part of
 * the chain to/from buf. to_guest selects direction. Caller guarantees the range lies
 * inside the part. */
int vs__blkdev_chain_xfer(blk_dev *b, const vs_chain *c, bool writable, uint64_t off, void *buf,
                          uint64_t len, bool to_guest, vs_err *e)
{
    /* Chains are served as soon as they are popped: the ring's host pointers still hold,
     * so the data is copied through them unless an access hook must see it. */
    int rc = vs_chain_xfer(b->dev.gm, c, writable, off, buf, len, to_guest,
                           !vs_gmem_hooked(b->dev.gm), e);
    return rc < 0 ? vs_err_prefix(e, "blk") : 0;
}

int vs__blkdev_chain_zero(blk_dev *b, const vs_chain *c, uint64_t off, uint64_t len, vs_err *e)
{
    memset(b->bounce, 0, BLK_BOUNCE);
    while (len) {
        uint64_t n = len < BLK_BOUNCE ? len : BLK_BOUNCE;
        int r = vs__blkdev_chain_xfer(b, c, true, off, b->bounce, n, true, e);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}




/* Writes the status byte and sets *written; applies BAD_STATUS. */
int vs__blkdev_complete(blk_dev *b, const blk_req *r, uint8_t status, uint32_t written,
                        uint32_t *out_written, vs_err *e)
{
    if (status == VS_BLK_S_OK && (b->dev.mutations & VS_BLK_MUT_BAD_STATUS))
        status = BLK_STATUS_BAD;
    int rc = vs__blkdev_chain_xfer(b, r->c, true, r->in_bytes - 1, &status, 1, true, e);
    if (rc < 0)
        return vs_err_prefix(e, "blk: writing status byte");
    *out_written = written;
    return 0;
}

/* Failure of a request whose writable part may hold a data area: zero it, report the
 * whole writable part (honest used length). */
int vs__blkdev_fail_zero(blk_dev *b, const blk_req *r, uint8_t status, uint32_t *w, vs_err *e)
{
    if (r->in_bytes > 1) {
        int rc = vs__blkdev_chain_zero(b, r->c, 0, r->in_bytes - 1, e);
        if (rc < 0)
            return rc;
    }
    return vs__blkdev_complete(b, r, status, (uint32_t)r->in_bytes, w, e);
}


static int req_in(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    if (r->out_bytes != VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL,
                          "blk: IN request has %llu readable bytes after the 16-byte header "
                          "(data must be device-writable)",
                          (unsigned long long)(r->out_bytes - VS_BLK_HDR_BYTES));
    uint64_t len = r->in_bytes - 1;
    if (len % VS_BLK_SECTOR || !range_ok(b, r->sector, len / VS_BLK_SECTOR))
        return vs__blkdev_fail_zero(b, r, VS_BLK_S_IOERR, w, e);
    if (zoned_on(b)) {
        uint8_t zst = vs__blkdev_z_read_check(b, r->sector, len / VS_BLK_SECTOR);
        if (zst != VS_BLK_S_OK)
            return vs__blkdev_fail_zero(b, r, zst, w, e);
    }
    uint64_t pos = r->sector * VS_BLK_SECTOR;
    for (uint64_t done = 0; done < len;) {
        uint64_t n = len - done;
        if (n > BLK_BOUNCE)
            n = BLK_BOUNCE;
        int rc;
        if (b->ram) {
            rc = vs__blkdev_chain_xfer(b, r->c, true, done, b->ram + pos + done, n, true, e);
            if (rc < 0)
                return rc;
        } else {
            if (st_read(b, pos + done, b->bounce, n) < 0)
                return vs__blkdev_fail_zero(b, r, VS_BLK_S_IOERR, w, e);
            rc = vs__blkdev_chain_xfer(b, r->c, true, done, b->bounce, n, true, e);
            if (rc < 0)
                return rc;
        }
        done += n;
    }
    uint32_t written = (uint32_t)r->in_bytes;
    if (b->dev.mutations & VS_BLK_MUT_IN_LEN_SHORT)
        written--;
    return vs__blkdev_complete(b, r, VS_BLK_S_OK, written, w, e);
}

int vs__blkdev_no_data_in(const blk_req *r, const char *what, vs_err *e)
{
    if (r->in_bytes != 1)
        return vs_err_set(e, VS_EINVAL,
                          "blk: %s request has %llu device-writable bytes besides the status "
                          "byte (data must be device-readable)",
                          what, (unsigned long long)(r->in_bytes - 1));
    return 0;
}

static int req_out(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    int rc = vs__blkdev_no_data_in(r, "OUT", e);
    if (rc < 0)
        return rc;
    uint64_t len = r->out_bytes - VS_BLK_HDR_BYTES;
    bool ro = offered(b, VS_BLK_F_RO) && !(b->dev.mutations & VS_BLK_MUT_ACCEPT_RO_WRITE);
    bool ro_writes = ro && (b->dev.mutations & VS_BLK_MUT_RO_WRITES_DATA); /* mutant */
    if ((ro && !ro_writes) || len % VS_BLK_SECTOR || !range_ok(b, r->sector, len / VS_BLK_SECTOR))
        return vs__blkdev_complete(b, r, VS_BLK_S_IOERR, 1, w, e);
    if (zoned_on(b)) {
        uint64_t at;
        uint8_t zst = vs__blkdev_z_write_check(b, r->sector, len / VS_BLK_SECTOR, false, &at);
        if (zst != VS_BLK_S_OK)
            return vs__blkdev_complete(b, r, zst, 1, w, e);
    }
    uint64_t pos = r->sector * VS_BLK_SECTOR;
    int io = 0;
    for (uint64_t done = 0; done < len && io == 0;) {
        uint64_t n = len - done;
        if (n > BLK_BOUNCE)
            n = BLK_BOUNCE;
        if (b->ram) {
            rc = vs__blkdev_chain_xfer(b, r->c, false, VS_BLK_HDR_BYTES + done,
                                       b->ram + pos + done, n, false, e);
            if (rc < 0)
                return rc;
        } else {
            rc = vs__blkdev_chain_xfer(b, r->c, false, VS_BLK_HDR_BYTES + done, b->bounce, n,
                                       false, e);
            if (rc < 0)
                return rc;
            io = vs__blkdev_st_write(b, pos + done, b->bounce, n);
        }
        done += n;
    }
    if (ro_writes)
        return vs__blkdev_complete(b, r, VS_BLK_S_IOERR, 1, w, e);
    if (io == 0 && vs__blkdev_write_through(b))
        io = vs__blkdev_st_sync(b);
    if (io == 0 && zoned_on(b))
        vs__blkdev_z_written(b, r->sector, len / VS_BLK_SECTOR);
    return vs__blkdev_complete(b, r, io_status(io), 1, w, e);
}

static int req_flush(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    int rc = vs__blkdev_no_data_in(r, "FLUSH", e);
    if (rc < 0)
        return rc;
    return vs__blkdev_complete(b, r, io_status(vs__blkdev_st_sync(b)), 1, w, e);
}

static int req_get_id(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    if (r->out_bytes != VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL,
                          "blk: GET_ID request has %llu readable bytes after the 16-byte "
                          "header (data must be device-writable)",
                          (unsigned long long)(r->out_bytes - VS_BLK_HDR_BYTES));
    uint64_t len = r->in_bytes - 1;
    uint64_t n = len < VS_BLK_ID_BYTES ? len : VS_BLK_ID_BYTES;
    if (n) {
        int rc = vs__blkdev_chain_xfer(b, r->c, true, 0, b->serial, n, true, e);
        if (rc < 0)
            return rc;
    }
    if (len > n) {
        int rc = vs__blkdev_chain_zero(b, r->c, n, len - n, e);
        if (rc < 0)
            return rc;
    }
    return vs__blkdev_complete(b, r, VS_BLK_S_OK, (uint32_t)r->in_bytes, w, e);
}

static int req_lifetime(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e)
{
    if (r->out_bytes != VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL,
                          "blk: GET_LIFETIME request has %llu readable bytes after the header "
                          "(data must be device-writable)",
                          (unsigned long long)(r->out_bytes - VS_BLK_HDR_BYTES));
    uint8_t lt[VS_BLK_LIFETIME_BYTES];
    vs_le16_put(lt, (b->dev.mutations & VS_BLK_MUT_LIFETIME_RESERVED) ? 4 : 1);
    vs_le16_put(lt + 2, 0x02);
    vs_le16_put(lt + 4, 0x01);
    uint64_t len = r->in_bytes - 1, n = len < sizeof lt ? len : sizeof lt;
    int rc = n ? vs__blkdev_chain_xfer(b, r->c, true, 0, lt, n, true, e) : 0;
    if (rc == 0 && len > n)
        rc = vs__blkdev_chain_zero(b, r->c, n, len - n, e);
    if (rc < 0)
        return rc;
    return vs__blkdev_complete(b, r, VS_BLK_S_OK, (uint32_t)r->in_bytes, w, e);
}

/* Segment i of a DISCARD / WRITE_ZEROES / SECURE_ERASE payload. */
static int read_seg(blk_dev *b, const blk_req *r, uint64_t i, vs_blk_dwz_seg *seg, vs_err *e)
{
    uint8_t raw[VS_BLK_DWZ_SEG_BYTES];
    int rc = vs__blkdev_chain_xfer(b, r->c, false, VS_BLK_HDR_BYTES + i * VS_BLK_DWZ_SEG_BYTES,
                                   raw, sizeof raw, false, e);
    if (rc == 0)
        vs_blk_dwz_get(raw, seg);
    return rc;
}

/* DISCARD (wz false, se false), WRITE_ZEROES (wz) or SECURE_ERASE (se). */
static int req_dwz(blk_dev *b, const blk_req *r, bool wz, bool se, uint32_t *w, vs_err *e)
{
    const char *what = se ? "SECURE_ERASE" : wz ? "WRITE_ZEROES" : "DISCARD";
    int rc = vs__blkdev_no_data_in(r, what, e);
    if (rc < 0)
        return rc;
    uint64_t len = r->out_bytes - VS_BLK_HDR_BYTES;
    uint32_t max_seg = se ? b->o.max_secure_erase_seg
                       : wz ? b->o.max_write_zeroes_seg : b->o.max_discard_seg;
    uint32_t max_sec = se ? b->o.max_secure_erase_sectors
                       : wz ? b->o.max_write_zeroes_sectors : b->o.max_discard_sectors;
    uint32_t align = se ? se_align(b) : wz ? 1 : b->o.discard_sector_alignment;
    if (len == 0 || len % VS_BLK_DWZ_SEG_BYTES)
        return vs__blkdev_complete(b, r, VS_BLK_S_IOERR, 1, w, e);
    uint64_t nseg = len / VS_BLK_DWZ_SEG_BYTES;
    /* Flags first (UNSUPP is a MUST), and only up to the segment limit. */
    uint64_t scan = nseg < max_seg ? nseg : max_seg;
    uint8_t status = VS_BLK_S_OK;
    for (uint64_t i = 0; i < scan && status == VS_BLK_S_OK; i++) {
        vs_blk_dwz_seg seg;
        if ((rc = read_seg(b, r, i, &seg, e)) < 0)
            return rc;
        uint32_t flags = seg.flags;
        if (b->dev.mutations & VS_BLK_MUT_DWZ_FLAGS_IGNORED)
            break; /* mutant: never looks at the flags */
        if (flags & ~VS_BLK_F_DWZ_UNMAP)
            status = VS_BLK_S_UNSUPP;
        else if (!wz && (flags & VS_BLK_F_DWZ_UNMAP) && /* unmap: write-zeroes only */
                 !(!se && (b->dev.mutations & VS_BLK_MUT_DISCARD_UNMAP_OK)))
            status = VS_BLK_S_UNSUPP;
    }
    if (status == VS_BLK_S_OK && offered(b, VS_BLK_F_RO))
        status = VS_BLK_S_IOERR;
    if (status == VS_BLK_S_OK && nseg > max_seg)
        status = VS_BLK_S_IOERR;
    for (uint64_t i = 0; i < nseg && status == VS_BLK_S_OK; i++) {
        vs_blk_dwz_seg seg;
        if ((rc = read_seg(b, r, i, &seg, e)) < 0)
            return rc;
        uint64_t sec = seg.sector;
        uint32_t num = seg.num_sectors;
        if (num > max_sec || !range_ok(b, sec, num) ||
            (align > 1 && sec % align && !(se && zmut(b, VS_BLK_ZMUT_SE_MISALIGNED_OK))))
            status = VS_BLK_S_IOERR;
        /* zoned: whole zones only (the last one may be short) */
        else if (se && zoned_on(b) && !zmut(b, VS_BLK_ZMUT_SE_PARTIAL_OK) &&
                 num % b->zs && sec + num != b->capacity)
            status = VS_BLK_S_IOERR;
        else if (se && zoned_on(b) && !zmut(b, VS_BLK_ZMUT_SE_NO_ZONE_RESET))
            for (uint64_t z = sec / b->zs; z * b->zs < sec + num && z < b->nzones; z++)
                if (b->zones[z].type == VS_BLK_ZT_CONV ||
                    b->zones[z].state == VS_BLK_ZS_RDONLY ||
                    b->zones[z].state == VS_BLK_ZS_OFFLINE)
                    status = VS_BLK_S_ZONE_INVALID_CMD; /* as ZONE_RESET would answer */
    }
    int io = 0;
    for (uint64_t i = 0; i < nseg && status == VS_BLK_S_OK && io == 0; i++) {
        vs_blk_dwz_seg seg;
        if ((rc = read_seg(b, r, i, &seg, e)) < 0)
            return rc;
        uint64_t sec = seg.sector;
        uint32_t num = seg.num_sectors;
        bool unmap = wz ? (seg.flags & VS_BLK_F_DWZ_UNMAP) && b->o.write_zeroes_may_unmap : true;
        if (wz && (b->dev.mutations & VS_BLK_MUT_WZ_KEEPS_DATA))
            continue; /* mutant: completes with OK, the old data stays */
        if (se && zoned_on(b) && !zmut(b, VS_BLK_ZMUT_SE_NO_ZONE_RESET)) {
            for (uint64_t z = sec / b->zs; z * b->zs < sec + num && io == 0; z++)
                io = vs__blkdev_z_reset_zone(b, z); /* handled as ZONE_RESET of each zone */
            continue;
        }
        io = vs__blkdev_st_zero(b, sec * VS_BLK_SECTOR, (uint64_t)num * VS_BLK_SECTOR, unmap);
    }
    if (status == VS_BLK_S_OK && io == 0 && vs__blkdev_write_through(b))
        io = vs__blkdev_st_sync(b);
    if (status == VS_BLK_S_OK)
        status = io_status(io);
    return vs__blkdev_complete(b, r, status, 1, w, e);
}
static bool is_zone_type(uint32_t type)
{
    return type == VS_BLK_T_ZONE_APPEND || type == VS_BLK_T_ZONE_REPORT ||
           type == VS_BLK_T_ZONE_OPEN || type == VS_BLK_T_ZONE_CLOSE ||
           type == VS_BLK_T_ZONE_FINISH || type == VS_BLK_T_ZONE_RESET ||
           type == VS_BLK_T_ZONE_RESET_ALL;
}

static int blk_handle(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *written,
                      vs_err *e)
{
    blk_dev *b = to_blk(d);
    if (!c || !written)
        return vs_err_set(e, VS_EINVAL, "blk: handle: NULL chain or written");
    *written = 0;
    uint16_t nq = b->o.num_queues;
    if (q >= nq || (q > 0 && !neg(b, VS_BLK_F_MQ)))
        return vs_err_set(e, VS_EINVAL, "blk: request on queue %u, device has %u%s", q,
                          q >= nq ? nq : 1, q >= nq ? "" : " (MQ not negotiated)");
    if (c->n_out > c->nseg || (c->nseg && !c->seg))
        return vs_err_set(e, VS_EINVAL, "blk: malformed chain (n_out %u > nseg %u)", c->n_out,
                          c->nseg);
    blk_req r = {.c = c};
    for (uint32_t i = 0; i < c->nseg; i++) {
        bool wr = i >= c->n_out;
        if (c->seg[i].write != wr)
            return vs_err_set(e, VS_EINVAL,
                              "blk: segment %u is device-%s but lies in the %s part "
                              "(readable segments must precede writable ones)",
                              i, c->seg[i].write ? "writable" : "readable",
                              wr ? "writable" : "readable");
        if (wr)
            r.in_bytes += c->seg[i].len;
        else
            r.out_bytes += c->seg[i].len;
    }
    if (r.in_bytes == 0)
        return vs_err_set(e, VS_EINVAL,
                          "blk: request has no device-writable byte for the status");
    if (r.in_bytes > UINT32_MAX)
        return vs_err_set(e, VS_EINVAL, "blk: writable part of %llu bytes exceeds 4 GiB - 1",
                          (unsigned long long)r.in_bytes);
    if ((d->mutations & VS_BLK_MUT_HEADER_ONE_DESC) && c->nseg && c->seg[0].len < VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL, "blk: mutant: header split over descriptors");
    if (r.out_bytes < VS_BLK_HDR_BYTES)
        return vs_err_set(e, VS_EINVAL,
                          "blk: request header truncated: %llu readable bytes, need 16",
                          (unsigned long long)r.out_bytes);
    uint8_t hdr[VS_BLK_HDR_BYTES];
    int rc = vs__blkdev_chain_xfer(b, c, false, 0, hdr, sizeof hdr, false, e);
    if (rc < 0)
        return vs_err_prefix(e, "blk: reading request header");
    vs_blk_req_hdr h;
    vs_blk_hdr_get(hdr, &h);
    r.type = h.type;
    r.sector = h.sector;

    if (d->mutations & VS_BLK_MUT_WRITES_READONLY) {
        /* Deliberate bug: overwrite the reserved field of the driver's header. */
        static const uint8_t junk[4] = {0xde, 0xad, 0xbe, 0xef};
        vs_err ignore;
        vs_err_clear(&ignore);
        (void)vs__blkdev_chain_xfer(b, c, false, 4, (void *)junk, sizeof junk, true, &ignore);
    }

    switch (r.type) {
    case VS_BLK_T_IN:
        rc = req_in(b, &r, written, e);
        break;
    case VS_BLK_T_OUT:
        rc = req_out(b, &r, written, e);
        break;
    case VS_BLK_T_FLUSH:
        if (!neg(b, VS_BLK_F_FLUSH))
            goto unsupp;
        rc = req_flush(b, &r, written, e);
        break;
    case VS_BLK_T_GET_ID:
        rc = req_get_id(b, &r, written, e);
        break;
    case VS_BLK_T_DISCARD:
        if (!neg(b, VS_BLK_F_DISCARD))
            goto unsupp;
        rc = req_dwz(b, &r, false, false, written, e);
        break;
    case VS_BLK_T_GET_LIFETIME:
        if (!neg(b, VS_BLK_F_LIFETIME))
            goto unsupp;
        rc = req_lifetime(b, &r, written, e);
        break;
    case VS_BLK_T_SECURE_ERASE:
        if (!neg(b, VS_BLK_F_SECURE_ERASE))
            goto unsupp;
        rc = req_dwz(b, &r, false, true, written, e);
        break;
    case VS_BLK_T_WRITE_ZEROES:
        if (!neg(b, VS_BLK_F_WRITE_ZEROES))
            goto unsupp;
        rc = req_dwz(b, &r, true, false, written, e);
        break;
    case VS_BLK_T_ZONE_APPEND:
    case VS_BLK_T_ZONE_REPORT:
    case VS_BLK_T_ZONE_OPEN:
    case VS_BLK_T_ZONE_CLOSE:
    case VS_BLK_T_ZONE_FINISH:
    case VS_BLK_T_ZONE_RESET:
    case VS_BLK_T_ZONE_RESET_ALL:
        if (!zoned_on(b))
            goto other;
        rc = r.type == VS_BLK_T_ZONE_APPEND   ? vs__blkdev_req_zone_append(b, &r, written, e)
             : r.type == VS_BLK_T_ZONE_REPORT ? vs__blkdev_req_zone_report(b, &r, written, e)
                                              : vs__blkdev_req_zone_mgmt(b, &r, written, e);
        break;
    default:
    other:
        if ((d->mutations & VS_BLK_MUT_ZONE_IOERR) &&
            is_zone_type(r.type)) { /* mutant: zone types fail with IOERR */
            rc = vs__blkdev_fail_zero(b, &r, VS_BLK_S_IOERR, written, e);
            break;
        }
    unsupp:
        rc = vs__blkdev_fail_zero(b, &r, VS_BLK_S_UNSUPP, written, e);
        break;
    }
    if (rc < 0)
        *written = 0;
    return rc;
}

static uint16_t blk_num_queues(vs_device *d) { return to_blk(d)->o.num_queues; }

static uint32_t blk_queue_max_size(vs_device *d, uint16_t q)
{
    blk_dev *b = to_blk(d);
    return q < b->o.num_queues ? b->o.queue_size : 0;
}

static void blk_reset(vs_device *d)
{
    blk_dev *b = to_blk(d);
    b->writeback = b->writeback_init;
    b->features_accepted = false;
    d->driver_features = 0;
}

static void blk_destroy(vs_device *d)
{
    if (!d)
        return;
    blk_dev *b = to_blk(d);
    if (b->fd >= 0)
        close(b->fd);
    if (b->ram && !b->ram_borrowed)
        munmap(b->ram, b->ram_bytes);
    free(b->bounce);
    free(b->zones);
    free(b);
}

static const vs_device_ops blk_ops = {
    .name = "blk",
    .device_id = VS_DEV_BLK,
    .device_features = vs__blkdev_device_features,
    .accept_features = vs__blkdev_accept_features,
    .config_size = vs__blkdev_config_size,
    .config_read = vs__blkdev_config_read,
    .config_write = vs__blkdev_config_write,
    .num_queues = blk_num_queues,
    .queue_max_size = blk_queue_max_size,
    .handle = blk_handle,
    .reset = blk_reset,
    .destroy = blk_destroy,
};

/* ------------------------------------------------------------------ creation */

void vs_blk_opts_default(vs_blk_opts *o)
{
    memset(o, 0, sizeof *o);
    o->capacity_sectors = 2048;
    o->num_queues = 1;
    o->queue_size = 256;
    o->flush = true;
    o->discard = true;
    o->write_zeroes = true;
    o->config_wce = true;
    o->topology = true;
    o->geometry = true;
    o->writeback = true;
    o->max_discard_sectors = 0x3fffff;
    o->max_discard_seg = 8;
    o->discard_sector_alignment = 1;
    o->max_write_zeroes_sectors = 0x3fffff;
    o->max_write_zeroes_seg = 8;
    o->write_zeroes_may_unmap = true;
    o->extra_features =
        VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_RING_PACKED);
    o->serial = "virtiosim-blk0";
    o->min_io_size = 1;
}

static int open_image(blk_dev *b, const vs_blk_opts *o, vs_err *e)
{
    int flags = O_RDWR | O_CLOEXEC | (o->create_image ? O_CREAT : 0);
    int fd = open(o->image_path, flags, 0644);
    if (fd < 0 && o->read_only && !o->create_image && (errno == EACCES || errno == EROFS))
        fd = open(o->image_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_err_set(e, VS_EIO, "blk: open image %s: %s", o->image_path, strerror(errno));
    b->fd = fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vs_err_set(e, VS_EIO, "blk: stat image %s: %s", o->image_path, strerror(errno));
    /* Regular files and block devices have a size (lseek works for both); other files
     * (character devices such as /dev/full, used for I/O-error tests) need a capacity. */
    bool sized = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
    off_t end = sized ? lseek(fd, 0, SEEK_END) : 0;
    if (end < 0)
        return vs_err_set(e, VS_EIO, "blk: size of image %s: %s", o->image_path,
                          strerror(errno));
    uint64_t size = (uint64_t)end;
    if (b->capacity == 0) {
        b->capacity = size / VS_BLK_SECTOR;
        if (b->capacity == 0)
            return vs_err_set(e, VS_EINVAL,
                              "blk: image %s is smaller than one sector and no capacity given",
                              o->image_path);
    }
    if (b->capacity > (uint64_t)INT64_MAX / VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "blk: capacity %llu sectors too large for a file",
                          (unsigned long long)b->capacity);
    uint64_t need = b->capacity * VS_BLK_SECTOR;
    if (sized && size < need) {
        if (!o->create_image || !S_ISREG(st.st_mode))
            return vs_err_set(e, VS_EINVAL,
                              "blk: image %s is %llu bytes, smaller than capacity %llu bytes",
                              o->image_path, (unsigned long long)size,
                              (unsigned long long)need);
        if (ftruncate(fd, (off_t)need) < 0)
            return vs_err_set(e, VS_EIO, "blk: extend image %s to %llu bytes: %s",
                              o->image_path, (unsigned long long)need, strerror(errno));
    }
    return 0;
}

int vs_blk_create(vs_device **out, vs_gmem *gm, const vs_blk_opts *opts, vs_err *e)
{
    if (!out || !gm || !opts)
        return vs_err_set(e, VS_EINVAL, "blk: create: NULL argument");
    *out = NULL;
    vs_blk_opts o = *opts;
    if (o.num_queues == 0)
        o.num_queues = 1;
    if (o.queue_size == 0)
        o.queue_size = 256;
    if (o.queue_size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "blk: queue_size %u > %u", o.queue_size,
                          VS_VQ_MAX_SIZE);
    if (o.seg_max == 0)
        o.seg_max = o.queue_size > 2 ? o.queue_size - 2 : 1;
    if (o.blk_size && (o.blk_size < VS_BLK_SECTOR || (o.blk_size & (o.blk_size - 1))))
        return vs_err_set(e, VS_EINVAL, "blk: blk_size %u is not a power of two >= 512",
                          o.blk_size);
    if (o.config_wce && !o.flush)
        return vs_err_set(e, VS_EINVAL,
                          "blk: CONFIG_WCE requires FLUSH (spec 5.2.5: a device offering "
                          "VIRTIO_BLK_F_CONFIG_WCE MUST offer VIRTIO_BLK_F_FLUSH)");
    if (o.extra_features & (VS_BIT(24) - 1))
        return vs_err_set(e, VS_EINVAL,
                          "blk: extra_features 0x%llx has device-specific bits (< 24); use "
                          "the dedicated options",
                          (unsigned long long)o.extra_features);
    if (o.serial && strlen(o.serial) > VS_BLK_ID_BYTES)
        return vs_err_set(e, VS_EINVAL, "blk: serial \"%s\" longer than %u bytes", o.serial,
                          VS_BLK_ID_BYTES);
    if (!o.image_path && o.capacity_sectors == 0)
        return vs_err_set(e, VS_EINVAL, "blk: capacity 0 needs an image to size from");
    if (o.capacity_sectors > UINT64_MAX / VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "blk: capacity %llu sectors overflows",
                          (unsigned long long)o.capacity_sectors);
    if (o.max_discard_sectors == 0)
        o.max_discard_sectors = UINT32_MAX;
    if (o.max_discard_seg == 0)
        o.max_discard_seg = 1;
    if (o.discard_sector_alignment == 0)
        o.discard_sector_alignment = 1;
    if (o.max_write_zeroes_sectors == 0)
        o.max_write_zeroes_sectors = UINT32_MAX;
    if (o.max_write_zeroes_seg == 0)
        o.max_write_zeroes_seg = 1;
    if (o.max_secure_erase_sectors == 0)
        o.max_secure_erase_sectors = UINT32_MAX;
    if (o.max_secure_erase_seg == 0)
        o.max_secure_erase_seg = 1;

    blk_dev *b = calloc(1, sizeof *b);
    if (!b)
        return vs_err_set(e, VS_ENOMEM, "blk: out of memory");
    b->fd = -1;
    b->dev.ops = &blk_ops;
    b->dev.gm = gm;
    b->dev.mutations = o.mutations;
    b->capacity = o.capacity_sectors;
    if (o.serial)
        memcpy(b->serial, o.serial, strlen(o.serial));
    o.serial = NULL;
    b->bounce = malloc(BLK_BOUNCE);
    if (!b->bounce) {
        blk_destroy(&b->dev);
        return vs_err_set(e, VS_ENOMEM, "blk: out of memory");
    }
    int rc;
    if (o.image_path) {
        rc = open_image(b, &o, e);
        if (rc < 0) {
            blk_destroy(&b->dev);
            return rc;
        }
    } else if (o.ram_shared) {
        b->ram = o.ram_shared;
        b->ram_bytes = (size_t)(b->capacity * VS_BLK_SECTOR);
        b->ram_borrowed = true;
    } else {
        uint64_t bytes = b->capacity * VS_BLK_SECTOR;
        void *m = bytes && bytes <= SIZE_MAX
                      ? mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                      : MAP_FAILED;
        if (m == MAP_FAILED) {
            blk_destroy(&b->dev);
            return vs_err_set(e, VS_ENOMEM, "blk: cannot allocate %llu bytes of RAM storage",
                              (unsigned long long)bytes);
        }
#ifdef MADV_HUGEPAGE
        /* Requests land at random places of the disk: with 2 MiB pages the copies miss
         * the TLB far less (and the first touches fault 512 times less often). Only a
         * hint; no effect where transparent huge pages are off. */
        if (bytes >= (UINT64_C(4) << 20))
            madvise(m, (size_t)bytes, MADV_HUGEPAGE);
#endif
        b->ram = m;
        b->ram_bytes = (size_t)bytes;
    }
    o.image_path = NULL;
    if (o.geometry && !o.cylinders && !o.heads && !o.sectors) {
        o.heads = 16;
        o.sectors = 63;
        uint64_t cyl = b->capacity / (16 * 63);
        o.cylinders = (uint16_t)(cyl > 65535 ? 65535 : cyl);
    }

    b->features = vs__blkdev_features_for(&o);
    b->writeback_init = b->writeback = (o.config_wce && o.writeback) ? 1 : 0;
    b->o = o;
    if ((rc = vs__blkdev_zoned_setup(b, e)) < 0) {
        blk_destroy(&b->dev);
        return rc;
    }
    *out = &b->dev;
    return 0;
}

static int storage_check(const vs_device *d, uint64_t sector, const void *buf,
                         uint32_t nsectors, vs_err *e)
{
    if (!d || d->ops != &blk_ops)
        return vs_err_set(e, VS_EINVAL, "blk: not a blk device");
    if (nsectors && !buf)
        return vs_err_set(e, VS_EINVAL, "blk: NULL buffer");
    if (!range_ok(to_cblk(d), sector, nsectors))
        return vs_err_set(e, VS_ERANGE, "blk: sectors [%llu, +%u) beyond capacity %llu",
                          (unsigned long long)sector, nsectors,
                          (unsigned long long)to_cblk(d)->capacity);
    return 0;
}

int vs_blk_storage_read(vs_device *d, uint64_t sector, void *buf, uint32_t nsectors,
                        vs_err *e)
{
    int rc = storage_check(d, sector, buf, nsectors, e);
    if (rc < 0)
        return rc;
    rc = st_read(to_blk(d), sector * VS_BLK_SECTOR, buf, (size_t)nsectors * VS_BLK_SECTOR);
    if (rc < 0)
        return vs_err_set(e, VS_EIO, "blk: storage read: %s", strerror(-rc));
    return 0;
}

int vs_blk_storage_write(vs_device *d, uint64_t sector, const void *buf, uint32_t nsectors,
                         vs_err *e)
{
    int rc = storage_check(d, sector, buf, nsectors, e);
    if (rc < 0)
        return rc;
    rc = vs__blkdev_st_write(to_blk(d), sector * VS_BLK_SECTOR, buf,
                             (size_t)nsectors * VS_BLK_SECTOR);
    if (rc < 0)
        return vs_err_set(e, VS_EIO, "blk: storage write: %s", strerror(-rc));
    return 0;
}

uint64_t vs_blk_capacity(const vs_device *d)
{
    if (!d || d->ops != &blk_ops)
        return 0;
    return to_cblk(d)->capacity;
}

int vs_blk_resize(vs_device *d, uint64_t sectors, vs_err *e)
{
    if (!d || d->ops != &blk_ops)
        return vs_err_set(e, VS_EINVAL, "blk: resize of a device that is not virtio-blk");
    blk_dev *b = to_blk(d);
    if (b->zones)
        return vs_err_set(e, VS_ENOTSUP, "blk: a zoned device cannot be resized");
    /* the storage holds what the device was created with (an image: its size then) */
    uint64_t max = b->o.capacity_sectors > b->capacity ? b->o.capacity_sectors : b->capacity;
    if (!sectors || sectors > max)
        return vs_err_set(e, VS_ERANGE, "blk: capacity %llu sectors: 1 to %llu (the storage)",
                          (unsigned long long)sectors, (unsigned long long)max);
    b->capacity = sectors;
    return 0;
}
