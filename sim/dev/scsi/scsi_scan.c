/* virtio-scsi driver: the LUN scan as Linux's SCSI midlayer and sd do it (per target:
 * REPORT LUNS to LUN 0; per LUN: INQUIRY, then for a disk READ CAPACITY (10), and (16) when
 * (10) says the disk is larger), the per-LUN shadow of what each block holds, and the
 * data patterns. */
#include "sim/dev/scsi/scsi_drv_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ patterns, shadow */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

void scsi_pattern_block(uint64_t seed, uint64_t tag, uint64_t lba, uint8_t *out, uint32_t len)
{
    if (tag == SCSI_TAG_ZERO) {
        memset(out, 0, len);
        return;
    }
    uint64_t x = mix(seed ^ mix(tag) ^ (lba * UINT64_C(0x9e3779b97f4a7c15)));
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8, x += UINT64_C(0x9e3779b97f4a7c15))
        memcpy(out + i, &x, 8);
    for (; i < len; i++)
        out[i] = (uint8_t)(x >> (8 * (i % 8)));
}

int scsi_shadow_alloc(scsi_lun *l, uint64_t initial, vs_err *e)
{
    scsi_shadow_free(l);
    if (!l->blocks || l->blocks > SCSI_SHADOW_MAX || !l->block_len || l->block_len > 4096)
        return 0;   /* not tracked: reads are not verified */
    l->tag = malloc(l->blocks * sizeof *l->tag);
    l->busy = calloc(l->blocks, sizeof *l->busy);
    if (!l->tag || !l->busy) {
        scsi_shadow_free(l);
        return vs_err_set(e, VS_ENOMEM, "scsi driver: out of memory");
    }
    for (uint64_t i = 0; i < l->blocks; i++)
        l->tag[i] = initial;
    l->fresh_shadow = true;
    return 0;
}

void scsi_shadow_free(scsi_lun *l)
{
    free(l->tag);
    free(l->busy);
    l->tag = NULL;
    l->busy = NULL;
}

void scsi_shadow_set(scsi_lun *l, uint64_t lba, uint64_t n, uint64_t tag)
{
    if (!l->tag || lba >= l->blocks)
        return;
    if (n > l->blocks - lba)
        n = l->blocks - lba;
    for (uint64_t i = 0; i < n; i++)
        l->tag[lba + i] = tag;
}

/* ------------------------------------------------------------------ scan */

/* One scan command to target/lun: data-in of len bytes, kept in the result. */
static int scan_cmd(vs_driver *d, uint8_t target, uint16_t lun, const uint8_t *cdb,
                    uint32_t cdb_len, uint32_t len, scsi_result *res, vs_err *e)
{
    scsi_cmd c = {.cdb_len = cdb_len, .in_len = len, .flags = SC_KEEP_DATA | SC_ONE_SEG};
    memcpy(c.cdb, cdb, cdb_len);
    vs_scsi_lun_encode(c.lun, target, lun);
    return scsi_cmd_do(d, &c, res, e);
}

static bool good(const scsi_result *r)
{
    return r->resp_ok && r->response == VS_SCSI_S_OK && r->status == VS_SCSI_ST_GOOD;
}

/* A unit attention (after a reset, a LUN change) is retried, as the midlayer does. */
static int scan_cmd_retry(vs_driver *d, uint8_t target, uint16_t lun, const uint8_t *cdb,
                          uint32_t cdb_len, uint32_t len, scsi_result *res, vs_err *e)
{
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        if ((rc = scan_cmd(d, target, lun, cdb, cdb_len, len, res, e)) < 0)
            return rc;
        if (!(res->status == VS_SCSI_ST_CHECK_CONDITION && res->sense_parsed &&
              res->sense_key == VS_SCSI_SK_UNIT_ATTENTION))
            break;
    }
    return rc;
}

/* INQUIRY and, for a disk, READ CAPACITY of one LUN. */
static int scan_lun(vs_driver *d, uint8_t target, uint16_t lun, bool track, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    scsi_result r;
    uint8_t inq[6] = {VS_SCSI_INQUIRY, 0, 0, 0, 36, 0};
    int rc = scan_cmd_retry(d, target, lun, inq, 6, 36, &r, e);
    if (rc < 0)
        return rc;
    if (!good(&r) || r.data_len < 1 || (r.data[0] >> 5) != 0)
        return 0;   /* no logical unit there (peripheral qualifier not 0) */
    int ix = scsi_lun_add(s, target, lun);
    if (ix < 0)
        return 0;   /* more LUNs than the driver tracks */
    scsi_lun *l = &s->lun[ix];
    l->type = r.data[0] & 0x1f;
    if (l->type != 0)
        return 1;   /* not a disk: no capacity */
    uint64_t old_blocks = l->blocks;
    uint32_t old_len = l->block_len;
    uint8_t rc10[10] = {VS_SCSI_READ_CAPACITY_10};
    if ((rc = scan_cmd_retry(d, target, lun, rc10, 10, 8, &r, e)) < 0)
        return rc;
    if (!good(&r) || r.data_len < 8)
        return 1;
    uint64_t last = vs_scsi_be32_get(r.data);
    l->block_len = vs_scsi_be32_get(r.data + 4);
    if (last == UINT32_MAX) {
        uint8_t rc16[16] = {VS_SCSI_SERVICE_ACTION_IN_16, VS_SCSI_SAI_READ_CAPACITY_16};
        vs_scsi_be32_put(rc16 + 10, 32);
        if ((rc = scan_cmd_retry(d, target, lun, rc16, 16, 32, &r, e)) < 0)
            return rc;
        if (!good(&r) || r.data_len < 12)
            return 1;
        last = vs_scsi_be64_get(r.data);
        l->block_len = vs_scsi_be32_get(r.data + 8);
    }
    l->blocks = last + 1;
    /* a LUN seen before keeps its shadow unless its size changed */
    if (track && (!l->tag || l->blocks != old_blocks || l->block_len != old_len) &&
        (rc = scsi_shadow_alloc(l, SCSI_TAG_UNKNOWN, e)) < 0)
        return rc;
    return 1;
}

/* REPORT LUNS to LUN 0 of one target: the LUNs it lists (at most max) in *n; *n < 0: no
 * such target. */
static int report_luns(vs_driver *d, uint8_t target, uint16_t *luns, int max, int *nout,
                       vs_err *e)
{
    uint8_t cdb[12] = {VS_SCSI_REPORT_LUNS};
    uint32_t alloc = 8 + 8 * 8;   /* what SCSI_DATA_KEEP holds: 11 LUNs at most */
    vs_scsi_be32_put(cdb + 6, alloc);
    scsi_result r;
    int rc = scan_cmd_retry(d, target, 0, cdb, 12, alloc, &r, e);
    *nout = -1;
    if (rc < 0)
        return rc;
    if (r.resp_ok && r.response == VS_SCSI_S_BAD_TARGET)
        return 0;
    *nout = 0;
    if (!good(&r) || r.data_len < 8)
        return 0;
    uint32_t n = vs_scsi_be32_get(r.data) / 8;
    int k = 0;
    for (uint32_t i = 0; i < n && k < max && 8 + 8 * (i + 1) <= r.data_len; i++) {
        const uint8_t *p = r.data + 8 + 8 * i;
        /* single level, peripheral (00b) or flat space (01b) addressing */
        luns[k++] = (uint16_t)(((p[0] & 0x3f) << 8) | p[1]);
    }
    *nout = k;
    return 0;
}

int scsi_scan(vs_driver *d, uint16_t max_targets, bool track_data, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    if (!scsi_driver_is(d) || d->nq <= VS_SCSI_Q_REQ0)
        return vs_err_set(e, VS_ESTATE, "scsi scan: no request queue set up");
    s->rescan_due = false;
    for (unsigned i = 0; i < s->nlun; i++)
        s->lun[i].present = false;
    uint32_t targets = (uint32_t)s->cfg.max_target + 1;
    if (max_targets && targets > max_targets)
        targets = max_targets;
    int found = 0;
    for (uint32_t t = 0; t < targets; t++) {
        uint16_t luns[11];
        int n;
        int rc = report_luns(d, (uint8_t)t, luns, 11, &n, e);
        if (rc < 0)
            return rc;
        for (int i = 0; i < n; i++) {
            if (luns[i] > s->cfg.max_lun)
                continue;
            rc = scan_lun(d, (uint8_t)t, luns[i], track_data, e);
            if (rc < 0)
                return rc;
            found += rc;
        }
    }
    return found;
}
