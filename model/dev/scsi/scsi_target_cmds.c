/* The SCSI target's non-block commands: INQUIRY (standard, VPD 00h 80h 83h B0h B1h B2h),
 * REPORT LUNS, READ CAPACITY (10, 16), MODE SENSE (6, 10: caching and control pages),
 * REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL. Answers are built in a
 * local buffer and copied up to the allocation length (vs__scsi_io_data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_int.h"

#define XFER_MAX_BLOCKS(bs) ((64u << 20) / (bs))

static void invalid_field(scsi_io *io)
{
    vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void serial_of(const scsi_lu *lu, char out[17])
{
    snprintf(out, 17, "VS%02X%04X00000000", lu->target, lu->lun);
}

static uint32_t vpd_page(const scsi_lu *lu, uint8_t page, uint8_t *b)
{
    bool disk = lu->type == VS_SCSI_TYPE_DISK;
    b[0] = lu->type;
    b[1] = page;
    char serial[17];
    serial_of(lu, serial);
    switch (page) {
    case 0x00: {
        static const uint8_t disk_pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};
        uint32_t n = disk ? sizeof disk_pages : 3;
        memcpy(b + 4, disk_pages, n);
        b[3] = (uint8_t)n;
        return 4 + n;
    }
    case 0x80:
        b[3] = 16;
        memcpy(b + 4, serial, 16);
        return 20;
    case 0x83:  /* one designator: T10 vendor ID based, ASCII, the LU */
        b[4] = 0x02;
        b[5] = 0x01;
        b[7] = 24;
        memcpy(b + 8, "VIRTIOSM", 8);
        memcpy(b + 16, serial, 16);
        b[3] = 28;
        return 32;
    default:
        break;
    }
    if (!disk)
        return 0;
    switch (page) {
    case 0xb0:  /* block limits */
        b[3] = 0x3c;
        b[4] = 0x01; /* WSNZ */
        vs_scsi_be32_put(b + 8, XFER_MAX_BLOCKS(lu->bs));   /* maximum transfer length */
        vs_scsi_be32_put(b + 12, XFER_MAX_BLOCKS(lu->bs));  /* optimal transfer length */
        vs_scsi_be32_put(b + 20, 0x400000);  /* maximum unmap LBA count */
        vs_scsi_be32_put(b + 24, 64);        /* maximum unmap block descriptor count */
        vs_scsi_be32_put(b + 28, 1);         /* optimal unmap granularity */
        vs_scsi_be64_put(b + 36, 0x100000);  /* maximum write same length */
        return 64;
    case 0xb1:  /* block device characteristics */
        b[3] = 0x3c;
        vs_scsi_be16_put(b + 4, 1); /* non-rotating medium */
        return 64;
    case 0xb2:  /* logical block provisioning: UNMAP, WRITE SAME (16) UNMAP, LBPRZ */
        b[3] = 4;
        b[5] = 0x80 | 0x40 | 0x04;
        return 8;
    default:
        return 0;
    }
}

void vs__scsi_cmd_inquiry(scsi_tgt *t, scsi_lu *lu, scsi_io *io)
{
    (void)t;
    const uint8_t *cdb = io->cdb;
    uint32_t alloc = vs_scsi_be16_get(cdb + 3);
    uint8_t b[96];
    memset(b, 0, sizeof b);
    if (cdb[1] & 0x01) {  /* EVPD */
        if (!lu)
            return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                     VS_SCSI_ASC_LUN_NOT_SUPPORTED);
        uint32_t n = vpd_page(lu, cdb[2], b);
        if (n == 0)
            return invalid_field(io);
        return vs__scsi_io_data(io, b, n, alloc);
    }
    if (cdb[2] != 0 || (cdb[1] & 0x02)) /* page code without EVPD; CMDDT */
        return invalid_field(io);
    /* no LU here: peripheral qualifier 3, device type 1Fh (unknown / no device) */
    b[0] = lu ? lu->type : 0x7f;
    b[1] = lu && lu->type == VS_SCSI_TYPE_MMC ? 0x80 : 0; /* RMB */
    b[2] = 0x06;          /* SPC-4 */
    b[3] = 0x12;          /* HISUP, response data format 2 */
    b[4] = 36 - 5;
    b[7] = 0x02;          /* CMDQUE */
    memcpy(b + 8, "VIRTIOSM", 8);
    memcpy(b + 16, lu && lu->type == VS_SCSI_TYPE_MMC ? "virtiosim cdrom " : "virtiosim disk  ",
           16);
    memcpy(b + 32, "0.1 ", 4);
    vs__scsi_io_data(io, b, 36, alloc);
}

static int cmp_lun(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

void vs__scsi_cmd_report_luns(scsi_tgt *t, uint8_t target, scsi_io *io)
{
    const uint8_t *cdb = io->cdb;
    uint32_t alloc = vs_scsi_be32_get(cdb + 6);
    if (cdb[2] > 2 || alloc < 16)  /* select report 0, 1 (well-known: none), 2 */
        return invalid_field(io);
    uint16_t luns[VS_SCSI_MAX_LUNS];
    unsigned n = 0;
    for (unsigned i = 0; cdb[2] != 1 && i < t->n; i++)
        if (t->lu[i]->target == target)
            luns[n++] = t->lu[i]->lun;
    qsort(luns, n, sizeof luns[0], cmp_lun);
    uint8_t b[8 + 8 * VS_SCSI_MAX_LUNS];
    memset(b, 0, sizeof b);
    vs_scsi_be32_put(b, 8 * n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = b + 8 + 8 * i;
        if (luns[i] < 256) {
            p[1] = (uint8_t)luns[i];                  /* peripheral device addressing */
        } else {
            p[0] = (uint8_t)(0x40 | luns[i] >> 8);    /* flat space addressing */
            p[1] = (uint8_t)luns[i];
        }
    }
    vs__scsi_io_data(io, b, 8 + 8 * n, alloc);
}

void vs__scsi_cmd_read_capacity(scsi_lu *lu, scsi_io *io)
{
    const uint8_t *cdb = io->cdb;
    uint8_t b[32];
    memset(b, 0, sizeof b);
    uint64_t last = lu->blocks - 1;
    if (cdb[0] == VS_SCSI_READ_CAPACITY_10) {
        vs_scsi_be32_put(b, last > UINT32_MAX ? UINT32_MAX : (uint32_t)last);
        vs_scsi_be32_put(b + 4, lu->bs);
        return vs__scsi_io_data(io, b, 8, 8);
    }
    if ((cdb[1] & 0x1f) != VS_SCSI_SAI_READ_CAPACITY_16)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    vs_scsi_be64_put(b, last);
    vs_scsi_be32_put(b + 8, lu->bs);
    if (lu->type == VS_SCSI_TYPE_DISK)
        b[14] = 0x80 | 0x40; /* LBPME, LBPRZ */
    vs__scsi_io_data(io, b, 32, vs_scsi_be32_get(cdb + 10));
}

/* Mode pages: caching (08h, WCE set: the cache is write-back until SYNCHRONIZE CACHE)
 * and control (0Ah). changeable: the mask of changeable bits (none: no MODE SELECT). */
static uint32_t mode_pages(uint8_t page, bool changeable, uint8_t *p)
{
    uint32_t n = 0;
    if (page == 0x08 || page == 0x3f) {
        memset(p, 0, 20);
        p[0] = 0x08;
        p[1] = 18;
        if (!changeable)
            p[2] = 0x04; /* WCE */
        n += 20;
    }
    if (page == 0x0a || page == 0x3f) {
        memset(p + n, 0, 12);
        p[n] = 0x0a;
        p[n + 1] = 10;
        n += 12;
    }
    return n;
}

void vs__scsi_cmd_mode_sense(scsi_lu *lu, scsi_io *io)
{
    const uint8_t *cdb = io->cdb;
    bool ten = cdb[0] == VS_SCSI_MODE_SENSE_10;
    uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3f;
    bool dbd = (cdb[1] & 0x08) != 0;
    uint32_t alloc = ten ? vs_scsi_be16_get(cdb + 7) : cdb[4];
    if (pc == 3)
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST,
                                 VS_SCSI_ASC_SAVING_PARAMS_UNSUPPORTED);
    if (cdb[3] != 0 && !(cdb[3] == 0xff && page == 0x3f))  /* subpages: none */
        return invalid_field(io);
    uint8_t b[8 + 8 + 32];
    memset(b, 0, sizeof b);
    uint32_t hdr = ten ? 8 : 4, bd = dbd ? 0 : 8;
    uint32_t n = mode_pages(page, pc == 1, b + hdr + bd);
    if (n == 0)
        return invalid_field(io);
    uint8_t *d = b + hdr;
    if (bd) {  /* short block descriptor: block count (saturated), block length */
        uint64_t blocks = lu->blocks;
        if (ten)
            vs_scsi_be32_put(d, blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks);
        else
            vs_scsi_be32_put(d, blocks > 0xffffff ? 0xffffff : (uint32_t)blocks);
        vs_scsi_be32_put(d + 4, lu->bs & 0xffffff);
    }
    uint32_t total = hdr + bd + n;
    uint8_t wp = lu->ro ? 0x80 : 0;
    if (ten) {
        vs_scsi_be16_put(b, (uint16_t)(total - 2));
        b[3] = wp;
        vs_scsi_be16_put(b + 6, (uint16_t)bd);
    } else {
        b[0] = (uint8_t)(total - 1);
        b[2] = wp;
        b[3] = (uint8_t)bd;
    }
    vs__scsi_io_data(io, b, total, alloc);
}

void vs__scsi_cmd_request_sense(scsi_lu *lu, scsi_io *io)
{
    if (io->cdb[1] & 0x01) /* DESC: descriptor format not supported */
        return invalid_field(io);
    static const struct { uint8_t bit; uint16_t asc; } order[] = {
        {1u << 0, VS_SCSI_ASC_RESET_OCCURRED},
        {1u << 1, VS_SCSI_ASC_CAPACITY_CHANGED},
        {1u << 2, VS_SCSI_ASC_REPORTED_LUNS_CHANGED},
    };
    vs_scsi_sense s = {.key = VS_SCSI_SK_NO_SENSE};
    for (unsigned i = 0; i < 3; i++) {
        if (lu->ua & order[i].bit) {
            lu->ua &= (uint8_t)~order[i].bit;
            s.key = VS_SCSI_SK_UNIT_ATTENTION;
            s.asc = (uint8_t)(order[i].asc >> 8);
            s.ascq = (uint8_t)order[i].asc;
            break;
        }
    }
    if (s.key == VS_SCSI_SK_NO_SENSE && lu->stopped) {
        s.key = VS_SCSI_SK_NOT_READY;
        s.asc = 0x04;
        s.ascq = 0x02;
    }
    uint8_t b[VS_SCSI_SENSE_FIXED_BYTES];
    vs_scsi_sense_build(b, &s);
    vs__scsi_io_data(io, b, sizeof b, io->cdb[4]);
}

void vs__scsi_cmd_start_stop(scsi_lu *lu, scsi_io *io)
{
    uint8_t b4 = io->cdb[4];
    if (b4 >> 4) /* a power condition: accepted, no state */
        return vs__scsi_io_good(io);
    if ((b4 & 0x02) && lu->prevent && !(b4 & 0x01)) /* LOEJ eject while prevented */
        return vs__scsi_io_check(io, VS_SCSI_SK_ILLEGAL_REQUEST, 0x5302);
    lu->stopped = !(b4 & 0x01);
    vs__scsi_io_good(io);
}

void vs__scsi_cmd_prevent_allow(scsi_lu *lu, scsi_io *io)
{
    uint8_t prevent = io->cdb[4] & 0x03;
    if (prevent > 1)
        return invalid_field(io);
    lu->prevent = prevent == 1;
    vs__scsi_io_good(io);
}
