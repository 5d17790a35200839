/* The SCSI target of the reference virtio-scsi device: logical units (disks and MMC units
 * in RAM or on raw files), unit attentions, the command dispatcher and the block commands
 * (READ / WRITE 6-16, VERIFY, WRITE SAME 16, UNMAP, SYNCHRONIZE CACHE). The other
 * commands are in scsi_target_cmds.c.
 *
 * Decisions:
 *   - A command whose CDB needs more data than the buffers hold (transfer length of a
 *     READ / WRITE / VERIFY BYTCHK / WRITE SAME, parameter list length of UNMAP, the
 *     allocation length of INQUIRY, MODE SENSE, REPORT LUNS, READ CAPACITY 16, REQUEST
 *     SENSE) is not run: io->overrun (the device answers VIRTIO_SCSI_S_OVERRUN). This is
 *     checked before anything else, unit attentions included (it is a transport matter).
 *   - Unit attentions (one initiator): after a reset TMF (29h/00h), a capacity change
 *     (2Ah/09h), a LUN added to or removed from the target (3Fh/0Eh, to the target's other
 *     LUs). Every command but INQUIRY, REPORT LUNS and REQUEST SENSE reports the pending one
 *     of highest priority (reset, capacity, LUNs) with CHECK CONDITION and clears it;
 *     REQUEST SENSE returns it as its data and clears it.
 *   - Errors use fixed-format sense: unknown opcode or a CDB shorter than its group's
 *     length: ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (20h); range: LBA OUT OF
 *     RANGE (21h); bad fields (reserved BYTCHK, WRITE SAME with 0 blocks (WSNZ=1) or above
 *     its maximum, ANCHOR, a transfer above the maximum transfer length): INVALID FIELD IN
 *     CDB (24h); a write to a read-only LU: DATA PROTECT / WRITE PROTECTED (27h); media
 *     access on a stopped LU: NOT READY / 04h 02h; missing LU: ILLEGAL REQUEST / 25h.
 *   - MMC LUs (peripheral type 05h) are read-only, removable, otherwise like disks.
 *   - Storage: RAM (anonymous mapping; reads hand the mapping's bytes out without a copy)
 *     or a raw file (pread / pwrite; SYNCHRONIZE CACHE is fdatasync). UNMAP and WRITE SAME
 *     with UNMAP write zeros (LBPRZ: unmapped blocks read zero).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, fdatasync, pread; the build does not define it */
#endif
#include "scsi_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XFER_MAX (64u << 20) /* largest data transfer (VPD B0 maximum transfer length) */
#define WS_MAX_BLOCKS 0x100000u
#define UNMAP_MAX_DESC 64u
#define UNMAP_MAX_BLOCKS 0x400000u
#define ASC_NOT_READY_INIT 0x0402u
#define ASC_REMOVAL_PREVENTED 0x5302u

/* ------------------------------------------------------------------ results */

void vs__scsi_io_good(scsi_io *io)
{
    io->status = VS_SCSI_ST_GOOD;
    io->sense_len = 0;
}

void vs__scsi_io_check(scsi_io *io, uint8_t key, uint16_t asc_ascq)
{
    vs_scsi_sense s = {.key = key, .asc = (uint8_t)(asc_ascq >> 8), .ascq = (uint8_t)asc_ascq};
    vs_scsi_sense_build(io->sense, &s);
    io->status = VS_SCSI_ST_CHECK_CONDITION;
    io->sense_len = VS_SCSI_SENSE_FIXED_BYTES;
    io->in_len = 0;
    io->in_data = io->in;
}

void vs__scsi_io_data(scsi_io *io, const uint8_t *data, uint32_t len, uint32_t alloc)
{
    uint32_t n = len < alloc ? len : alloc;
    if (n > io->in_cap)
        n = io->in_cap;
    if (n && io->in != data)
        memcpy(io->in, data, n);
    io->in_data = io->in;
    io->in_len = n;
    vs__scsi_io_good(io);
}

/* ------------------------------------------------------------------ storage */

int vs__scsi_st_read(scsi_tgt *t, scsi_lu *lu, uint64_t lba, uint32_t n, uint8_t *buf)
{
    (void)t;
    uint64_t off = lba * lu->bs;
    size_t len = (size_t)n * lu->bs;
    if (lu->ram) {
        memcpy(buf, lu->ram + off, len);
        return 0;
    }
    while (len) {
        ssize_t r = pread(lu->fd, buf, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        buf += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int vs__scsi_st_write(scsi_lu *lu, uint64_t lba, uint32_t n, const uint8_t *buf)
{
    uint64_t off = lba * lu->bs;
    size_t len = (size_t)n * lu->bs;
    if (lu->ram) {
        if (buf)
            memcpy(lu->ram + off, buf, len);
        else
            memset(lu->ram + off, 0, len);
        return 0;
    }
    static const uint8_t zeros[4096];
    while (len) {
        size_t chunk = buf ? len : (len < sizeof zeros ? len : sizeof zeros);
        ssize_t r = pwrite(lu->fd, buf ? buf : zeros, chunk, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        if (buf)
            buf += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

static int ram_map(scsi_lu *lu, uint64_t bytes, vs_err *e)
{
    if (bytes == 0 || bytes > SIZE_MAX / 2)
        return vs_err_set(e, VS_EINVAL, "scsi: LU %u:%u: storage of %llu bytes", lu->target,
                          lu->lun, (unsigned long long)bytes);
    void *m = lu->ram ? mremap(lu->ram, lu->ram_bytes, (size_t)bytes, MREMAP_MAYMOVE)
                      : mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return vs_err_set(e, VS_ENOMEM, "scsi: cannot map %llu bytes of RAM storage",
                          (unsigned long long)bytes);
#ifdef MADV_HUGEPAGE
    /* Random commands over a large LU: 2 MiB pages miss the TLB far less (a hint, as for
     * blk's RAM disk; no effect where transparent huge pages are off). */
    if (bytes >= (UINT64_C(4) << 20))
        madvise(m, (size_t)bytes, MADV_HUGEPAGE);
#endif
    lu->ram = m;
    lu->ram_bytes = (size_t)bytes;
    return 0;
}

static int file_open(scsi_lu *lu, const vs_scsi_lun_opts *o, vs_err *e)
{
    int fd = open(o->image_path, O_RDWR | O_CLOEXEC | (o->create_image ? O_CREAT : 0), 0644);
    if (fd < 0 && lu->ro && !o->create_image && (errno == EACCES || errno == EROFS))
        fd = open(o->image_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_err_set(e, VS_EIO, "scsi: open image %s: %s", o->image_path,
                          strerror(errno));
    lu->fd = fd;
    lu->file_create = o->create_image;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return vs_err_set(e, VS_EINVAL, "scsi: image %s is not a regular file",
                          o->image_path);
    uint64_t size = (uint64_t)st.st_size;
    if (lu->blocks == 0)
        lu->blocks = size / lu->bs;
    if (lu->blocks == 0)
        return vs_err_set(e, VS_EINVAL, "scsi: image %s is smaller than one block",
                          o->image_path);
    if (lu->blocks > (uint64_t)INT64_MAX / lu->bs)
        return vs_err_set(e, VS_EINVAL, "scsi: %llu blocks too large for a file",
                          (unsigned long long)lu->blocks);
    if (size < lu->blocks * lu->bs) {
        if (!o->create_image)
            return vs_err_set(e, VS_EINVAL, "scsi: image %s is %llu bytes, smaller than "
                              "%llu blocks of %u", o->image_path, (unsigned long long)size,
                              (unsigned long long)lu->blocks, lu->bs);
        if (ftruncate(fd, (off_t)(lu->blocks * lu->bs)) < 0)
            return vs_err_set(e, VS_EIO, "scsi: extend image %s: %s", o->image_path,
                              strerror(errno));
    }
    return 0;
}

/* ------------------------------------------------------------------ logical units */

int vs__scsi_tgt_init(scsi_tgt *t, vs_err *e)
{
    (void)e;
    memset(t, 0, sizeof *t);
    return 0;
}

static void lu_free(scsi_lu *lu)
{
    if (!lu)
        return;
    if (lu->ram)
        munmap(lu->ram, lu->ram_bytes);
    if (lu->fd >= 0)
        close(lu->fd);
    free(lu);
}

void vs__scsi_tgt_fini(scsi_tgt *t)
{
    for (unsigned i = 0; i < t->n; i++)
        lu_free(t->lu[i]);
    t->n = 0;
    free(t->bounce);
    t->bounce = NULL;
    free(t->outbuf);
    t->outbuf = NULL;
}

scsi_lu *vs__scsi_tgt_find(scsi_tgt *t, uint8_t target, uint16_t lun)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->lu[i]->target == target && t->lu[i]->lun == lun)
            return t->lu[i];
    return NULL;
}

bool vs__scsi_tgt_has_target(const scsi_tgt *t, uint8_t target)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->lu[i]->target == target)
            return true;
    return false;
}

void vs__scsi_tgt_ua(scsi_tgt *t, int target, uint8_t ua)
{
    for (unsigned i = 0; i < t->n; i++)
        if (target < 0 || t->lu[i]->target == target)
            t->lu[i]->ua |= ua;
}

int vs__scsi_tgt_add(scsi_tgt *t, const vs_scsi_lun_opts *o, vs_err *e)
{
    if (o->lun > VS_SCSI_MAX_LUN)
        return vs_err_set(e, VS_EINVAL, "scsi: LUN %u > %u", o->lun, VS_SCSI_MAX_LUN);
    if (vs__scsi_tgt_find(t, o->target, o->lun))
        return vs_err_set(e, VS_EINVAL, "scsi: LU %u:%u exists", o->target, o->lun);
    if (t->n >= VS_SCSI_MAX_LUNS)
        return vs_err_set(e, VS_ENOSPC, "scsi: more than %u LUs", VS_SCSI_MAX_LUNS);
    if (o->type != VS_SCSI_TYPE_DISK && o->type != VS_SCSI_TYPE_MMC)
        return vs_err_set(e, VS_EINVAL, "scsi: LU type %#x (disk 0 or MMC 5)", o->type);
    uint32_t bs = o->block_size ? o->block_size : 512;
    if (bs != 512 && bs != 4096 && !(bs == 2048 && o->type == VS_SCSI_TYPE_MMC))
        return vs_err_set(e, VS_EINVAL, "scsi: block size %u (512 or 4096; MMC: 2048)", bs);
    scsi_lu *lu = calloc(1, sizeof *lu);
    if (!lu)
        return vs_err_set(e, VS_ENOMEM, "scsi: out of memory");
    lu->fd = -1;
    lu->target = o->target;
    lu->lun = o->lun;
    lu->type = o->type;
    lu->ro = o->read_only || o->type == VS_SCSI_TYPE_MMC;
    lu->bs = bs;
    lu->blocks = o->blocks ? o->blocks : (o->image_path ? 0 : 2048);
    int rc;
    if (o->image_path)
        rc = file_open(lu, o, e);
    else if (lu->blocks > UINT64_MAX / bs)
        rc = vs_err_set(e, VS_EINVAL, "scsi: %llu blocks overflow",
                        (unsigned long long)lu->blocks);
    else
        rc = ram_map(lu, lu->blocks * bs, e);
    if (rc < 0) {
        lu_free(lu);
        return rc;
    }
    t->lu[t->n++] = lu;
    return 0;
}

int vs__scsi_tgt_remove(scsi_tgt *t, uint8_t target, uint16_t lun, vs_err *e)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (t->lu[i]->target != target || t->lu[i]->lun != lun)
            continue;
        lu_free(t->lu[i]);
        memmove(&t->lu[i], &t->lu[i + 1], (t->n - i - 1) * sizeof t->lu[0]);
        t->n--;
        return 0;
    }
    return vs_err_set(e, VS_ERANGE, "scsi: no LU %u:%u", target, lun);
}

int vs__scsi_tgt_resize(scsi_tgt *t, scsi_lu *lu, uint64_t blocks, vs_err *e)
{
    (void)t;
    if (blocks == 0 || blocks > (uint64_t)INT64_MAX / lu->bs)
        return vs_err_set(e, VS_EINVAL, "scsi: capacity of %llu blocks",
                          (unsigned long long)blocks);
    if (lu->ram) {
        int rc = ram_map(lu, blocks * lu->bs, e);
        if (rc < 0)
            return rc;
    } else {
        struct stat st;
        if (fstat(lu->fd, &st) < 0)
            return vs_err_set(e, VS_EIO, "scsi: stat image: %s", strerror(errno));
        if ((uint64_t)st.st_size < blocks * lu->bs &&
            (!lu->file_create || ftruncate(lu->fd, (off_t)(blocks * lu->bs)) < 0))
            return vs_err_set(e, VS_EINVAL, "scsi: image too small for %llu blocks",
                              (unsigned long long)blocks);
    }
    lu->blocks = blocks;
    return 0;
}

/* ------------------------------------------------------------------ block commands */

static bool range_ok(const scsi_lu *lu, uint64_t lba, uint64_t n)
{
    return lba <= lu->blocks && n <= lu->blocks - lba;
}

/* Checks shared by the block commands; false when io already holds the error. */
static bool block_checks(scsi_lu *lu, const vs_scsi_rw *rw, bool writes, scsi_io *io)
{
    if (lu->stopped) {
        vs__scsi_io_check(io, VS_SCSI_SK_NOT_READY, ASC_NOT_READY_INIT);
        return false;
    }
    if ((uint64_t)rw->nblocks * lu->bs > XFER_MAX && rw->data &&
        rw->opcode != VS_SCSI_WRITE_SAME_16) {
        vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
        return false;
    }
    if (!range_ok(lu, rw->lba, rw->nblocks)) {
        vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LBA_OUT_OF_RANGE);
        return false;
    }
    if (writes && lu->ro) {
        vs__scsi_io_check(io, VS_SCSI_SK_DATA_PROTECT, VS_SCSI_ASC_WRITE_PROTECTED);
        return false;
    }
    return true;
}

static void host_error(scsi_io *io)
{
    vs__scsi_io_check(io, VS_SCSI_SK_MEDIUM_ERROR, 0x1100); /* UNRECOVERED READ ERROR */
}

/* The first len bytes of data-out in one buffer (fetched on first use); NULL when they
 * cannot be had (io then holds the error). The caller checked len <= out_len. */
static const uint8_t *out_bytes(scsi_tgt *t, scsi_io *io, uint32_t len)
{
    if (io->out)
        return io->out;
    if (t->outbuf_cap < len) {
        uint8_t *b = realloc(t->outbuf, len);
        if (!b) {
            host_error(io);
            return NULL;
        }
        t->outbuf = b;
        t->outbuf_cap = len;
    }
    if (len && (!io->fetch || io->fetch(io->fetch_ctx, 0, t->outbuf, len, false) < 0)) {
        io->fetch_failed = true;
        host_error(io);
        return NULL;
    }
    io->out = t->outbuf;
    return io->out;
}

static void cmd_rw(scsi_tgt *t, scsi_lu *lu, const vs_scsi_rw *rw, scsi_io *io)
{
    if (!block_checks(lu, rw, rw->write, io))
        return;
    uint32_t bytes = rw->nblocks * lu->bs;
    if (rw->write && lu->ram && !io->out) { /* straight to the medium */
        uint8_t *medium = lu->ram + rw->lba * lu->bs;
        if (!io->fetch || io->fetch(io->fetch_ctx, 0, medium, bytes, true) < 0) {
            io->fetch_failed = true;
            return host_error(io);
        }
        io->out_used = bytes;
    } else if (rw->write) {
        const uint8_t *src = out_bytes(t, io, bytes);
        if (!src)
            return;
        if (vs__scsi_st_write(lu, rw->lba, rw->nblocks, src) < 0)
            return host_error(io);
        io->out_used = bytes;
    } else if (lu->ram) {
        io->in_data = lu->ram + rw->lba * lu->bs; /* no copy */
        io->in_len = bytes;
    } else {
        if (vs__scsi_st_read(t, lu, rw->lba, rw->nblocks, io->in) < 0)
            return host_error(io);
        io->in_data = io->in;
        io->in_len = bytes;
    }
    vs__scsi_io_good(io);
}

static int scratch(scsi_tgt *t, size_t n)
{
    if (t->bounce_cap >= n)
        return 0;
    uint8_t *b = realloc(t->bounce, n);
    if (!b)
        return -1;
    t->bounce = b;
    t->bounce_cap = n;
    return 0;
}

static void cmd_verify(scsi_tgt *t, scsi_lu *lu, const vs_scsi_rw *rw, scsi_io *io)
{
    uint8_t bytchk = (rw->flags >> 1) & 3;
    if (bytchk == 2)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    if (!block_checks(lu, rw, false, io))
        return;
    if (bytchk == 0)
        return vs__scsi_io_good(io);
    const uint8_t *out = out_bytes(t, io, bytchk == 3 ? lu->bs : rw->nblocks * lu->bs);
    if (!out)
        return;
    if (scratch(t, lu->bs) < 0)
        return host_error(io);
    for (uint32_t i = 0; i < rw->nblocks; i++) {
        if (vs__scsi_st_read(t, lu, rw->lba + i, 1, t->bounce) < 0)
            return host_error(io);
        const uint8_t *want = out + (bytchk == 3 ? 0 : (size_t)i * lu->bs);
        if (memcmp(t->bounce, want, lu->bs) != 0) {
            vs__scsi_io_check(io, VS_SCSI_SK_MISCOMPARE, VS_SCSI_ASC_MISCOMPARE_VERIFY);
            return;
        }
    }
    io->out_used = bytchk == 3 ? lu->bs : rw->nblocks * lu->bs;
    vs__scsi_io_good(io);
}

static void cmd_write_same(scsi_tgt *t, scsi_lu *lu, const vs_scsi_rw *rw, scsi_io *io)
{
    if (rw->flags & 0x10) /* ANCHOR: not supported (VPD B2 ANC_SUP 0) */
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    if (rw->nblocks == 0 || rw->nblocks > WS_MAX_BLOCKS) /* WSNZ 1 */
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    if (!block_checks(lu, rw, true, io))
        return;
    const uint8_t *pat = rw->data ? out_bytes(t, io, lu->bs) : NULL;
    if (rw->data && !pat)
        return;
    bool zero = true;
    for (uint32_t i = 0; pat && i < lu->bs && zero; i++)
        zero = pat[i] == 0;
    for (uint32_t i = 0; i < rw->nblocks; i++)
        if (vs__scsi_st_write(lu, rw->lba + i, 1, zero ? NULL : pat) < 0)
            return host_error(io);
    io->out_used = rw->data ? lu->bs : 0;
    vs__scsi_io_good(io);
}

static void cmd_unmap(scsi_tgt *t, scsi_lu *lu, scsi_io *io)
{
    uint32_t plen = vs_scsi_be16_get(io->cdb + 7);
    if (io->cdb[1] & 1) /* ANCHOR */
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    if (lu->ro)
        return vs__scsi_io_check(io, VS_SCSI_SK_DATA_PROTECT, VS_SCSI_ASC_WRITE_PROTECTED);
    if (plen == 0)
        return vs__scsi_io_good(io);
    if (plen < VS_SCSI_UNMAP_HDR)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
    const uint8_t *list = out_bytes(t, io, plen);
    if (!list)
        return;
    io->out_used = plen;
    int64_t n = vs_scsi_unmap_count(list, plen);
    if (n < 0 || n > UNMAP_MAX_DESC)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_INVALID_FIELD_IN_PARAM);
    vs_scsi_unmap_desc d;
    for (uint32_t i = 0; i < (uint32_t)n; i++) { /* validate all before changing any */
        vs_scsi_unmap_desc_get(list, i, &d);
        if (d.nblocks > UNMAP_MAX_BLOCKS)
            return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                     VS_SCSI_ASC_INVALID_FIELD_IN_PARAM);
        if (!range_ok(lu, d.lba, d.nblocks))
            return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                     VS_SCSI_ASC_LBA_OUT_OF_RANGE);
    }
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        vs_scsi_unmap_desc_get(list, i, &d);
        if (d.nblocks && vs__scsi_st_write(lu, d.lba, d.nblocks, NULL) < 0)
            return host_error(io);
    }
    vs__scsi_io_good(io);
}

static void cmd_sync(scsi_lu *lu, const vs_scsi_rw *rw, scsi_io *io)
{
    if (!block_checks(lu, rw, false, io))
        return;
    if (lu->fd >= 0 && fdatasync(lu->fd) < 0)
        return vs__scsi_io_check(io, VS_SCSI_SK_MEDIUM_ERROR, 0x0c00); /* WRITE ERROR */
    vs__scsi_io_good(io);
}

/* ------------------------------------------------------------------ dispatcher */

/* Bytes of data the CDB asks for; *to_dev: the data flows to the device. */
static uint64_t xfer_need(const scsi_lu *lu, scsi_io *io, bool *to_dev)
{
    const uint8_t *cdb = io->cdb;
    vs_scsi_rw rw;
    *to_dev = false;
    switch (cdb[0]) {
    case VS_SCSI_INQUIRY:
        return vs_scsi_be16_get(cdb + 3);
    case VS_SCSI_MODE_SENSE_6:
    case VS_SCSI_REQUEST_SENSE:
        return cdb[4];
    case VS_SCSI_MODE_SENSE_10:
        return vs_scsi_be16_get(cdb + 7);
    case VS_SCSI_REPORT_LUNS:
        return vs_scsi_be32_get(cdb + 6);
    case VS_SCSI_READ_CAPACITY_10:
        return 8;
    case VS_SCSI_SERVICE_ACTION_IN_16:
        return (cdb[1] & 0x1f) == VS_SCSI_SAI_READ_CAPACITY_16 ? vs_scsi_be32_get(cdb + 10) : 0;
    case VS_SCSI_UNMAP:
        *to_dev = true;
        return vs_scsi_be16_get(cdb + 7);
    default:
        break;
    }
    if (!lu || vs_scsi_cdb_rw(cdb, vs_scsi_cdb_len(cdb[0]), &rw) < 0)
        return 0;
    io->rw = rw;
    io->rw_ok = true;
    if (!rw.data)
        return 0;
    *to_dev = rw.write;
    if (rw.opcode == VS_SCSI_WRITE_SAME_16)
        return lu->bs;
    if ((rw.opcode == VS_SCSI_VERIFY_10 || rw.opcode == VS_SCSI_VERIFY_12 ||
         rw.opcode == VS_SCSI_VERIFY_16) && ((rw.flags >> 1) & 3) == 3)
        return lu->bs;
    return (uint64_t)rw.nblocks * lu->bs;
}

/* Commands a pending unit attention does not stop. */
static bool ua_exempt(uint8_t op)
{
    return op == VS_SCSI_INQUIRY || op == VS_SCSI_REPORT_LUNS || op == VS_SCSI_REQUEST_SENSE;
}

static bool report_ua(scsi_lu *lu, scsi_io *io)
{
    static const struct { uint8_t bit; uint16_t asc; } order[] = {
        {UA_RESET, VS_SCSI_ASC_RESET_OCCURRED},
        {UA_CAPACITY, VS_SCSI_ASC_CAPACITY_CHANGED},
        {UA_LUNS_CHANGED, VS_SCSI_ASC_REPORTED_LUNS_CHANGED},
    };
    for (unsigned i = 0; i < 3; i++) {
        if (lu->ua & order[i].bit) {
            lu->ua &= (uint8_t)~order[i].bit;
            vs__scsi_io_check(io, VS_SCSI_SK_UNIT_ATTENTION, order[i].asc);
            return true;
        }
    }
    return false;
}

static void exec_lu(scsi_tgt *t, scsi_lu *lu, scsi_io *io)
{
    const uint8_t *cdb = io->cdb;
    vs_scsi_rw rw;
    switch (cdb[0]) {
    case VS_SCSI_TEST_UNIT_READY:
        if (lu->stopped)
            return vs__scsi_io_check(io, VS_SCSI_SK_NOT_READY, ASC_NOT_READY_INIT);
        return vs__scsi_io_good(io);
    case VS_SCSI_INQUIRY:
        return vs__scsi_cmd_inquiry(t, lu, io);
    case VS_SCSI_REPORT_LUNS:
        return vs__scsi_cmd_report_luns(t, lu->target, io);
    case VS_SCSI_READ_CAPACITY_10:
    case VS_SCSI_SERVICE_ACTION_IN_16:
        return vs__scsi_cmd_read_capacity(lu, io);
    case VS_SCSI_MODE_SENSE_6:
    case VS_SCSI_MODE_SENSE_10:
        return vs__scsi_cmd_mode_sense(lu, io);
    case VS_SCSI_REQUEST_SENSE:
        return vs__scsi_cmd_request_sense(lu, io);
    case VS_SCSI_START_STOP_UNIT:
        return vs__scsi_cmd_start_stop(lu, io);
    case VS_SCSI_PREVENT_ALLOW:
        return vs__scsi_cmd_prevent_allow(lu, io);
    case VS_SCSI_UNMAP:
        return cmd_unmap(t, lu, io);
    default:
        break;
    }
    if (io->rw_ok)
        rw = io->rw;
    else if (vs_scsi_cdb_rw(cdb, io->cdb_len, &rw) < 0)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    switch (rw.opcode) {
    case VS_SCSI_VERIFY_10:
    case VS_SCSI_VERIFY_12:
    case VS_SCSI_VERIFY_16:
        return cmd_verify(t, lu, &rw, io);
    case VS_SCSI_WRITE_SAME_16:
        return cmd_write_same(t, lu, &rw, io);
    case VS_SCSI_SYNCHRONIZE_CACHE_10:
    case VS_SCSI_SYNCHRONIZE_CACHE_16:
        if (rw.nblocks == 0 && rw.lba <= lu->blocks) /* 0: to the end of the medium */
            rw.nblocks = (uint32_t)(lu->blocks - rw.lba > UINT32_MAX ? UINT32_MAX
                                                                     : lu->blocks - rw.lba);
        return cmd_sync(lu, &rw, io);
    default:
        return cmd_rw(t, lu, &rw, io);
    }
}

void vs__scsi_tgt_exec(scsi_tgt *t, scsi_lu *lu, uint8_t target, bool report_luns,
                       scsi_io *io)
{
    io->status = VS_SCSI_ST_GOOD;
    io->sense_len = 0;
    io->in_data = io->in;
    io->in_len = 0;
    io->out_used = 0;
    io->overrun = false;
    io->fetch_failed = false;
    io->rw_ok = false;
    if (report_luns)
        lu = NULL;
    if (io->cdb_len == 0 || vs_scsi_cdb_len(io->cdb[0]) == 0 ||
        io->cdb_len < vs_scsi_cdb_len(io->cdb[0]))
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    bool to_dev;
    uint64_t need = xfer_need(lu, io, &to_dev);
    if (need > (to_dev ? io->out_len : io->in_cap)) {
        io->overrun = true;
        return;
    }
    if (report_luns) {
        if (io->cdb[0] == VS_SCSI_REPORT_LUNS)
            return vs__scsi_cmd_report_luns(t, target, io);
        if (io->cdb[0] == VS_SCSI_INQUIRY) {
            vs__scsi_cmd_inquiry(t, NULL, io);
            if (io->in_len && !(io->cdb[1] & 1))
                io->in[0] = 0x1e; /* well-known logical unit */
            return;
        }
        if (io->cdb[0] == VS_SCSI_TEST_UNIT_READY || io->cdb[0] == VS_SCSI_REQUEST_SENSE)
            return vs__scsi_io_data(io, NULL, 0, 0);
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    }
    if (!lu) {
        if (io->cdb[0] == VS_SCSI_INQUIRY)
            return vs__scsi_cmd_inquiry(t, NULL, io);
        if (io->cdb[0] == VS_SCSI_REPORT_LUNS)
            return vs__scsi_cmd_report_luns(t, target, io);
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_LUN_NOT_SUPPORTED);
    }
    if (lu->ua && !ua_exempt(io->cdb[0]) && report_ua(lu, io))
        return;
    exec_lu(t, lu, io);
}
