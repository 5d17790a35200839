/* Device-config accesses: writes before FEATURES_OK, fields read before FEATURES_OK that
 * must read the same after it (the device extension names the bytes and judges the
 * fields), and the config_generation bracketing of reads. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* config-readable-before-features-ok: what was read early must read the same after
 * FEATURES_OK (except the bytes the device extension names). */
static void cfg_early(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    for (uint32_t b = off; b < off + len && b < m->dev->cfg_early_bytes &&
                           role_on(m, CK_CFG_EARLY); b++) {
        uint8_t nv = (uint8_t)(val >> (8 * (b - off)));
        cfg_track *t = &m->early[b];
        bool skip = false;
        for (size_t i = 0; i < m->dev->n_cfg_early_skip; i++)
            skip |= b == m->dev->cfg_early_skip[i];
        if (skip)
            continue;
        if ((m->status_w & VS_STATUS_DRIVER) && !(m->status_w & VS_STATUS_FEATURES_OK)) {
            *t = (cfg_track){.known = true, .val = nv, .irq_at_read = m->cfg_irq_count};
        } else if (t->known && m->fok_confirmed) {
            t->known = false;
            if (m->cfg_irq_count != t->irq_at_read)
                continue; /* the device announced a change */
            if (t->val != nv)
                bad(m, CK_CFG_EARLY, 0, NOCTX, "config fields readable before FEATURES_OK",
                    "config byte %" PRIu32 " read 0x%02x before FEATURES_OK, 0x%02x after", b,
                    t->val, nv);
            else
                ok(m, CK_CFG_EARLY, 0);
        }
    }
}

void on_config_access(vs_monitors *m, const vs_event *ev, bool write)
{
    bool any_time = write && m->dev && ev->off >= m->dev->cfg_write_any_time_off &&
                    ev->off + ev->len <= m->dev->cfg_write_any_time_off +
                                          m->dev->cfg_write_any_time_len;
    if (write && !any_time && role_on(m, CK_D_CFG_WRITE_EARLY)) {
        if (!(m->status_w & VS_STATUS_FEATURES_OK))
            bad(m, CK_D_CFG_WRITE_EARLY, 0, NOCTX, "config writes only after FEATURES_OK",
                "write of %" PRIu32 " bytes at %" PRIu32 " with status 0x%02x", ev->len, ev->off,
                m->status_w);
        else
            ok(m, CK_D_CFG_WRITE_EARLY, 0);
    }
    /* what the fields mean is the device's business */
    if (m->dev && m->dev->config_access)
        m->dev->config_access(m, ev, write);
    if (!write && ev->len <= 8 && m->early)
        cfg_early(m, ev->off, ev->len, ev->val);
}

static bool cfg_gen_neutral(enum vs_event_kind k)
{
    switch (k) {
    case VS_EV_STEP: case VS_EV_NOTE: case VS_EV_EXPECT: case VS_EV_IRQ:
    case VS_EV_CONFIG_CHANGE: case VS_EV_DOORBELL: case VS_EV_FETCH: case VS_EV_DEVICE_ERROR:
    case VS_EV_ISR_READ:
    /* the device's iothread waking and serving: nothing the driver does */
    case VS_EV_IOT_SIGNAL: case VS_EV_IOT_WAKE: case VS_EV_IOT_SERVE: case VS_EV_IOT_PASS:
        return true;
    default:
        return false;
    }
}

void cfg_gen_track(vs_monitors *m, const vs_event *ev)
{
    if (!role_on(m, CK_D_CFG_GEN))
        return;
    if (ev->kind == VS_EV_CONFIG_GEN) {
        if (m->reads_unclosed)
            ok(m, CK_D_CFG_GEN, 0);
        if (m->reads_unclosed && m->reads_wide)
            ok(m, CK_D_CFG_GEN, 1);
        m->reads_unclosed = m->reads_wide = false;
        m->gen_open = true;
        return;
    }
    if (ev->kind == VS_EV_CONFIG_READ) {
        bool opened = m->gen_open || m->reads_unclosed;
        if (!opened)
            bad(m, CK_D_CFG_GEN, 0, NOCTX, "config_generation read before device-config reads",
                "config read at %" PRIu32 " without a preceding generation read", ev->off);
        /* a field wider than 32 bits read outside a bracket: its halves assumed atomic */
        if (!opened && ev->len > 4)
            bad(m, CK_D_CFG_GEN, 1, NOCTX, "no atomicity assumed for fields over 32 bits",
                "%" PRIu32 "-byte config read at %" PRIu32 " without a generation bracket",
                ev->len, ev->off);
        m->reads_wide = m->reads_wide || (opened && ev->len > 4);
        m->reads_unclosed = true;
        m->gen_open = false;
        return;
    }
    if (cfg_gen_neutral(ev->kind))
        return;
    if (m->reads_unclosed)
        bad(m, CK_D_CFG_GEN, 0, NOCTX, "config_generation read after device-config reads",
            "%s followed config reads", vs_event_kind_name(ev->kind));
    if (m->reads_unclosed && m->reads_wide)
        bad(m, CK_D_CFG_GEN, 1, NOCTX, "no atomicity assumed for fields over 32 bits",
            "a wide config read not followed by a generation read (%s came next)",
            vs_event_kind_name(ev->kind));
    m->reads_unclosed = m->reads_wide = false;
    m->gen_open = false;
}
