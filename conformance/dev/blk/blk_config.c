/* blk config space (spec 5.2.4): optional fields accessed only when offered, writeback
 * (read late, 0 at first without FLUSH), padding, capacity / write_zeroes_may_unmap changes
 * announced by a config interrupt, and the values the other checks need (capacity,
 * seg_max, size_max, the zoned fields). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/blk/blk_mon_int.h"

/* config-optional-fields: fields of features not offered are not accessed. */
static void cfg_optional(vs_monitors *m, uint32_t off, uint32_t len, bool write)
{
    if (!m->offered_known || !role_on(m, CK_D_CFG_OPTIONAL))
        return;
    for (unsigned i = 0; i < vs_blk_cfg_ngroups; i++) {
        const vs_blk_cfg_group *g = &vs_blk_cfg_groups[i];
        if (g->feature < 0 || !overlaps(off, len, g->off, g->len))
            continue;
        if (!has(m->offered, (unsigned)g->feature))
            bad(m, CK_D_CFG_OPTIONAL, 0, NOCTX, "optional field accessed only if offered",
                "%s of %" PRIu32 " bytes at %" PRIu32 " but %s not offered",
                write ? "write" : "read", len, off,
                vs_feature_name(m->device_id, (unsigned)g->feature));
        else
            ok(m, CK_D_CFG_OPTIONAL, 0);
    }
}

/* writeback read: not before FEATURES_OK (driver); 0 at first with CONFIG_WCE and no
 * FLUSH (device). */
static void cfg_writeback(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    blk_mon *bs = bm(m);
    if (role_on(m, CK_D_BLK_WCE_EARLY) && m->offered_known &&
        has(m->offered, VS_BLK_F_CONFIG_WCE)) {
        if (!(m->status_w & VS_STATUS_FEATURES_OK))
            bad(m, CK_D_BLK_WCE_EARLY, 0, NOCTX, "writeback read only after FEATURES_OK",
                "read with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_BLK_WCE_EARLY, 0);
    }
    if (!bs->wce_first_read_done && (m->status_w & VS_STATUS_FEATURES_OK) && len <= 8) {
        bs->wce_first_read_done = true;
        uint64_t f = neg(m);
        if (role_on(m, CK_BLK_WCE_INITIAL) && has(f, VS_BLK_F_CONFIG_WCE) &&
            !has(f, VS_BLK_F_FLUSH)) {
            uint8_t wb = (uint8_t)(val >> (8 * (VS_BLK_CFG_WRITEBACK - off)));
            if (wb == 0)
                ok(m, CK_BLK_WCE_INITIAL, 0);
            else
                bad(m, CK_BLK_WCE_INITIAL, 0, NOCTX, "writeback 0",
                    "writeback %u right after FEATURES_OK", wb);
        }
    }
}

/* unused0 and unused1 read 0. */
static void cfg_padding(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    static const uint32_t pad[] = {VS_BLK_CFG_WRITEBACK + 1, VS_BLK_CFG_WZ_MAY_UNMAP + 1,
                                   VS_BLK_CFG_WZ_MAY_UNMAP + 2, VS_BLK_CFG_WZ_MAY_UNMAP + 3};
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++) {
        if (!overlaps(off, len, pad[i], 1) || !role_on(m, CK_BLK_CFG_PADDING))
            continue;
        uint8_t b = (uint8_t)(val >> (8 * (pad[i] - off)));
        if (b)
            bad(m, CK_BLK_CFG_PADDING, 0, NOCTX, "padding byte 0", "byte %" PRIu32 " = 0x%02x",
                pad[i], b);
        else
            ok(m, CK_BLK_CFG_PADDING, 0);
    }
}

/* capacity and write_zeroes_may_unmap: a change between reads comes with a config
 * interrupt; the capacity as read (whole, or its two halves). */
static void cfg_changes(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    blk_mon *bs = bm(m);
    for (uint32_t b = off; b < off + len && b < BLK_CFG_TRACKED; b++) {
        int k = b < VS_BLK_CFG_CAPACITY + 8 ? 0 : (b == VS_BLK_CFG_WZ_MAY_UNMAP ? 1 : -1);
        if (k < 0)
            continue;
        uint8_t nv = (uint8_t)(val >> (8 * (b - off)));
        cfg_track *t = &bs->cfg[b];
        if (t->known && role_on(m, CK_BLK_CFG_CHANGE)) {
            if (t->val != nv && m->cfg_irq_count == t->irq_at_read)
                bad(m, CK_BLK_CFG_CHANGE, k, NOCTX, "a config-change interrupt with the change",
                    "config byte %" PRIu32 " changed 0x%02x -> 0x%02x without one", b, t->val, nv);
            else if (t->val != nv)
                ok(m, CK_BLK_CFG_CHANGE, k);
        }
        t->known = true;
        t->val = nv;
        t->irq_at_read = m->cfg_irq_count;
    }
    if (off == VS_BLK_CFG_CAPACITY && len == 8) {
        bs->capacity = val;
        bs->capacity_known = true;
    } else if ((off == VS_BLK_CFG_CAPACITY || off == VS_BLK_CFG_CAPACITY + 4) && len == 4) {
        vs_le32_put(bs->cap_bytes + (off - VS_BLK_CFG_CAPACITY), (uint32_t)val);
        bs->cap_mask |= (uint8_t)(off == VS_BLK_CFG_CAPACITY ? 1 : 2);
        if (bs->cap_mask == 3) {
            bs->capacity = vs_le64_get(bs->cap_bytes);
            bs->capacity_known = true;
        }
    }
}

void blk_config_access(vs_monitors *m, const vs_event *ev, bool write)
{
    blk_mon *bs = bm(m);
    uint32_t off = ev->off, len = ev->len;
    if (write) {
        if (overlaps(off, len, VS_BLK_CFG_WRITEBACK, 1))
            bs->wce_first_read_done = true;
        for (uint32_t b = off; b < off + len && b < BLK_CFG_TRACKED; b++)
            bs->cfg[b].known = false;
    }
    cfg_optional(m, off, len, write);
    drv_config_access(m, ev, write);
    if (write)
        return;
    uint64_t val = ev->val;
    if (overlaps(off, len, VS_BLK_CFG_WRITEBACK, 1))
        cfg_writeback(m, off, len, val);
    if (len > 8)
        return;
    if (off + len > VS_BLK_CFG_SE_SECTOR_ALIGN)
        zone_config_read(m, off, len, val);
    if (off == VS_BLK_CFG_SEG_MAX && len == 4) {
        bs->seg_max = (uint32_t)val;
        bs->segs_known |= 1;
    } else if (off == VS_BLK_CFG_SIZE_MAX && len == 4) {
        bs->size_max = (uint32_t)val;
        bs->segs_known |= 2;
    }
    cfg_padding(m, off, len, val);
    cfg_changes(m, off, len, val);
}
