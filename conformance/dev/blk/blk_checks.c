/* The virtio-blk monitor extension: its checks (what each verifies, the catalogue
 * statements it covers; the monitors refer to a statement by its position in `ids`) and
 * its hook table, vs_mon_devs_blk, found by the generated registry vs_mon_devs[]. */
#include <stdlib.h>

#include "conformance/dev/blk/blk_mon_int.h"

#define IDS(...) (const char *const[]){__VA_ARGS__, NULL}
#define NOIDS (const char *const[]){NULL}
#define DEV VS_ROLE_DEVICE
#define DRV VS_ROLE_DRIVER

static const vs_check_info blk_checks[CK_BLK_END - CK_DEV_FIRST] = {
    [CK_OFFER_DEPS - CK_DEV_FIRST] = {"offer-dependencies", DEV, "generic/blk",
        "offered features are closed under their dependencies (CONFIG_WCE needs FLUSH); a "
        "legacy device (no VERSION_1) does not offer ZONED",
        IDS("generic.device.features.1", "blk.device.blk-init.2", "blk.device.blk-init.6"),
        .device_level = true},
    [CK_BLK_FLUSH_OFFERED - CK_DEV_FIRST] = {"blk-flush-offered", DEV, "blk",
        "VIRTIO_BLK_F_FLUSH is offered", IDS("blk.device.blk-init.1"),
        .device_level = true},
    [CK_BLK_CFG_PADDING - CK_DEV_FIRST] = {"blk-config-padding-zero", DEV, "blk",
        "config bytes unused0 (33) and unused1 (57..59) read as 0",
        IDS("blk.device.blk-init.4"),
        .device_level = true},
    [CK_BLK_WCE_INITIAL - CK_DEV_FIRST] = {"blk-writeback-initial", DEV, "blk",
        "with CONFIG_WCE but not FLUSH negotiated, writeback first reads 0",
        IDS("blk.device.blk-init.3")},
    [CK_BLK_RO_WRITE - CK_DEV_FIRST] = {"blk-ro-write-ioerr", DEV, "blk",
        "on a read-only device an OUT request completes with IOERR",
        IDS("blk.device.blk-op.2")},
    [CK_BLK_DWZ_FLAGS - CK_DEV_FIRST] = {"blk-dwz-flags-unsupp", DEV, "blk",
        "discard / write-zeroes / secure-erase segments with unknown flags, and discard with "
        "unmap, complete with UNSUPP",
        IDS("blk.device.blk-op.4", "blk.device.blk-op.5")},
    [CK_BLK_ZONED_UNSUPP - CK_DEV_FIRST] = {"blk-zone-unsupp", DEV, "blk",
        "without ZONED, zone request types complete with UNSUPP",
        IDS("blk.device.blk-op.13")},
    [CK_BLK_LIFETIME - CK_DEV_FIRST] = {"blk-lifetime-range", DEV, "blk",
        "GET_LIFETIME returns no reserved pre_eol_info / lifetime estimate values",
        IDS("blk.device.blk-op.12")},
    [CK_BLK_CFG_CHANGE - CK_DEV_FIRST] = {"blk-config-change-notified", DEV, "blk",
        "a change of capacity or write_zeroes_may_unmap between reads is accompanied by a "
        "config-change interrupt",
        IDS("blk.device.blk-op.1", "blk.device.blk-op.8")},
    [CK_BLK_STATUS - CK_DEV_FIRST] = {"blk-status-byte", DEV, "blk",
        "the status byte (last device-writable byte) is OK, IOERR or UNSUPP (no catalogue "
        "row: spec 5.2.6 defines the values descriptively)", NOIDS},
    [CK_BLK_USED_LEN - CK_DEV_FIRST] = {"blk-used-len", DEV, "blk",
        "used len covers the status byte; a successful IN reports data + 1 (no catalogue row)",
        NOIDS},
    [CK_BLK_WZ_ZEROES - CK_DEV_FIRST] = {"blk-write-zeroes-reads-zero", DEV, "blk",
        "sectors a WRITE_ZEROES completed with OK (unmap or not) read back as zeroes until "
        "the next write, discard or write-zeroes request that covers them",
        IDS("blk.device.blk-op.6")},
    [CK_BLK_READ_BACK - CK_DEV_FIRST] = {"blk-read-back", DEV, "blk/packed",
        "an OK read of a sector returns what it is known to hold (the last OK write, or "
        "the last OK read with no write in between); a rejected write on a read-only device "
        "changes nothing; a packed read spread over several descriptors fills them in order "
        "(sectors below 65536, not while another write to them is outstanding)",
        IDS("blk.device.blk-op.3", "packed.device.scatter-gather.1")},
    [CK_ZONED_FOK - CK_DEV_FIRST] = {"zoned-features-ok", DEV, "blk",
        "a host-managed zoned device (model read as HM) leaves FEATURES_OK clear when the "
        "driver declines VIRTIO_BLK_F_ZONED; a host-aware or none-model one accepts and then "
        "reads 0 in every zoned field",
        IDS("blk.device.blk-init.8", "blk.device.blk-init.7")},
    [CK_ZONED_CONFIG - CK_DEV_FIRST] = {"zoned-config-fields", DEV, "blk",
        "zoned config: unused2 (93..95) reads 0; max_append_sectors * 512 <= seg_max * "
        "size_max (when both are offered); with SECURE_ERASE, secure_erase_sector_alignment "
        "is a multiple of zone_sectors",
        IDS("blk.device.blk-init.16", "blk.device.blk-init.14", "blk.device.blk-op.33"),
        .device_level = true},
    [CK_ZONE_REPORT - CK_DEV_FIRST] = {"zone-report-geometry", DEV, "blk",
        "zone reports start with the zone holding the requested sector, list consecutive zones "
        "zone_sectors apart with z_cap <= zone_sectors; zone types fit the model (HM: "
        "conventional / SWR, HA: conventional / SWP)",
        IDS("blk.device.blk-init.10", "blk.device.blk-init.9")},
    [CK_ZONE_MGMT - CK_DEV_FIRST] = {"zone-mgmt-status", DEV, "blk",
        "from the zone model (reports + completions): open / close / finish / reset of a "
        "conventional zone, open of a full or read-only zone, close of an empty, full or "
        "read-only zone, finish / reset of a read-only zone complete with ZONE_INVALID_CMD",
        IDS("blk.device.blk-op.14", "blk.device.blk-op.16", "blk.device.blk-op.18",
            "blk.device.blk-op.19", "blk.device.blk-op.20")},
    [CK_ZONE_IO - CK_DEV_FIRST] = {"zone-io-status", DEV, "blk",
        "from the zone model: appends to non-SWR zones, not at the zone start, or over a nonzero "
        "max_append_sectors get ZONE_INVALID_CMD (UNSUPP when it is 0); writes and appends past "
        "the zone capacity, SWR reads / writes / appends across zones, writes to read-only "
        "zones and any request to an offline zone get ZONE_INVALID_CMD; SWR writes away from "
        "the write pointer get ZONE_UNALIGNED_WP",
        IDS("blk.device.blk-op.15", "blk.device.blk-op.22", "blk.device.blk-op.23",
            "blk.device.blk-op.25", "blk.device.blk-op.26", "blk.device.blk-op.27",
            "blk.device.blk-op.28", "blk.device.blk-op.29", "blk.device.blk-op.30")},
    [CK_ZONE_RES - CK_DEV_FIRST] = {"zone-resources", DEV, "blk",
        "with every zone known: an explicit or implicit open beyond max_open_zones (no "
        "implicitly open zone to close) or max_active_zones fails with a resource status, "
        "and a resource status never comes while the limits leave room",
        IDS("blk.device.blk-op.17", "blk.device.blk-op.21", "blk.device.blk-init.11",
            "blk.device.blk-init.12")},
    [CK_ZONE_LIMITS - CK_DEV_FIRST] = {"zone-limits", DEV, "blk",
        "an otherwise valid append of at most max_append_sectors is not refused as too big "
        "(INVALID_CMD / UNSUPP); a sequential-zone write or append not aligned to "
        "write_granularity does not succeed",
        IDS("blk.device.blk-init.13", "blk.device.blk-init.15")},
    [CK_ZONE_APPEND_SECTOR - CK_DEV_FIRST] = {"zone-append-sector", DEV, "blk",
        "a ZONE_APPEND completed with OK reports the zone's write pointer in append_sector",
        IDS("blk.device.blk-op.24")},
    [CK_ZONE_UNWRITTEN - CK_DEV_FIRST] = {"zone-unwritten-read", DEV, "blk",
        "sectors from a zone's write pointer (or where FINISH found it) to the zone end read "
        "as one fill byte, the same for the whole run, never as old data",
        IDS("blk.device.blk-op.31", "blk.device.blk-op.32")},
    [CK_ZONE_SE - CK_DEV_FIRST] = {"zone-secure-erase", DEV, "blk",
        "with ZONED and SECURE_ERASE: a secure erase that is not whole zones does not complete "
        "with OK; after one that did, the next report shows its sequential zones empty with "
        "the write pointer at the zone start (as ZONE_RESET leaves them)",
        IDS("blk.device.blk-op.34", "blk.device.blk-op.35")},
    [CK_D_CFG_OPTIONAL - CK_DEV_FIRST] = {"config-optional-fields", DRV, "generic",
        "no access to optional config fields whose feature was not offered (blk)",
        IDS("generic.driver.config-space.3")},
    [CK_D_BLK_WCE_EARLY - CK_DEV_FIRST] = {"blk-writeback-read-late", DRV, "blk",
        "writeback is not read before FEATURES_OK", IDS("blk.driver.blk-init.3")},
    [CK_D_BLK_REQ - CK_DEV_FIRST] = {"blk-request-shape", DRV, "blk",
        "request headers and data sizes: IN/OUT multiple of 512 and within capacity, FLUSH "
        "sector 0 and no data, GET_ID 20 bytes, discard/write-zeroes multiple of 16, discard "
        "unmap clear",
        IDS("blk.driver.blk-op.6", "blk.driver.blk-op.2", "blk.driver.blk-op.4",
            "blk.driver.blk-op.5", "blk.driver.blk-op.8", "blk.driver.blk-op.7",
            "blk.driver.blk-op.13")},
    [CK_D_BLK_PK_SEGS - CK_DEV_FIRST] = {"blk-packed-list-length", DRV, "packed/blk",
        "packed ring with SEG_MAX: a request's direct list, or its indirect table, has at most "
        "seg_max + 2 descriptors (data segments plus header and status), seg_max as the "
        "driver read it",
        IDS("packed.driver.scatter-gather.1", "packed.driver.indirect.3")},
    [CK_D_BLK_ZONED_FEAT - CK_DEV_FIRST] = {"blk-zoned-driver-features", DRV, "blk",
        "ZONED offered, model read as host-managed: DISCARD (offered) is not accepted; with "
        "ZONED accepted the driver either drives the device (DRIVER_OK) or gives up with "
        "FAILED before FEATURES_OK, never with FAILED after it",
        IDS("blk.driver.blk-init.5", "blk.driver.blk-init.6")},
    [CK_D_BLK_CAP_REREAD - CK_DEV_FIRST] = {"blk-capacity-reread", DRV, "blk",
        "after a config-change interrupt (DRIVER_OK set) the driver reads capacity before "
        "the run ends, unless it resets or reads DEVICE_NEEDS_RESET first",
        IDS("blk.driver.blk-op.1")},
    [CK_D_BLK_DWZ_SEGS - CK_DEV_FIRST] = {"blk-dwz-segment-count", DRV, "blk",
        "discard / secure-erase / write-zeroes requests hold at most max_discard_seg / "
        "max_secure_erase_seg / max_write_zeroes_seg segments, the limits as the driver "
        "read them",
        IDS("blk.driver.blk-op.9", "blk.driver.blk-op.10", "blk.driver.blk-op.11")},
    [CK_D_BLK_WT_FLUSH - CK_DEV_FIRST] = {"blk-writethrough-flush", DRV, "blk",
        "writes completed while writeback was (or may have been) 1 and not yet flushed when "
        "the driver writes writeback 0 are flushed (a FLUSH completed) before the next "
        "reset or the end of the run",
        IDS("blk.driver.blk-op.12")},
    [CK_D_BLK_ZONE_REQ - CK_DEV_FIRST] = {"blk-zone-request-shape", DRV, "blk",
        "ZONED: zone management and append sectors inside the device, ZONE_REPORT sector "
        "inside it, open / close / finish / reset and append at a zone start, RESET_ALL "
        "sector 0, append sizes a multiple of write_granularity and within "
        "max_append_sectors, sequential-zone writes aligned to write_granularity, writes "
        "and appends within the zone capacity from the write pointer (zone known from a "
        "report)",
        IDS("blk.driver.blk-op.16", "blk.driver.blk-op.17", "blk.driver.blk-op.18",
            "blk.driver.blk-op.19", "blk.driver.blk-op.20", "blk.driver.blk-op.21",
            "blk.driver.blk-op.22", "blk.driver.blk-op.23")},
};

/* BARRIER and SCSI exist only in the legacy interface. */
#define BLK_LEGACY_FEATURES (VS_BIT(0) | VS_BIT(7))

/* RO: the driver must accept it (blk.driver.blk-op.3, accept-recommended's 5th id). */
static const vs_mon_recommend blk_recommended[] = {{VS_BLK_F_RO, 4}};

/* config-readable-before-features-ok: writeback may change at FEATURES_OK (blk-init.3). */
static const uint32_t blk_cfg_early_skip[] = {VS_BLK_CFG_WRITEBACK};

static int blk_create(vs_monitors *m, vs_err *e)
{
    m->dev_state = calloc(1, sizeof(blk_mon));
    if (!m->dev_state)
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    bm(m)->wb = -1;
    return 0;
}

static void blk_destroy(vs_monitors *m)
{
    blk_mon *b = bm(m);
    if (!b)
        return;
    free(b->rb);
    free(b->zn);
    free(b);
    m->dev_state = NULL;
}

_Static_assert(sizeof(blk_chain) % 8 == 0, "per-chain state keeps the records aligned");

const vs_mon_dev vs_mon_devs_blk = {
    .name = "blk",
    .device_id = VS_DEV_BLK,
    .checks = blk_checks,
    .n_checks = CK_BLK_END - CK_DEV_FIRST,
    .legacy_features = BLK_LEGACY_FEATURES,
    .recommended = blk_recommended,
    .n_recommended = sizeof blk_recommended / sizeof blk_recommended[0],
    .cfg_early_bytes = BLK_CFG_TRACKED,
    .cfg_early_skip = blk_cfg_early_skip,
    .n_cfg_early_skip = sizeof blk_cfg_early_skip / sizeof blk_cfg_early_skip[0],
    .chain_bytes = sizeof(blk_chain),
    .create = blk_create,
    .destroy = blk_destroy,
    .reset = blk_reset,
    .features_offered = blk_features_offered,
    .features_ok_read = blk_features_ok_read,
    .config_access = blk_config_access,
    .chain_avail = blk_chain_avail,
    .chain_used = blk_chain_used,
    .chain_retire = blk_chain_retire,
    .event = blk_event,
    .finish = blk_finish,
};
