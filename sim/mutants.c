/* The mutants: deliberately broken variants of the reference device, each meant to make
 * exactly the named statements fail. `virtiosim mutants` and the test suite run them all;
 * a check that no mutant can trip is not trusted. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/pci.h"
#include "virtiosim/runner.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/vring.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define BOTH_RINGS LIST("scenarios/blk/rw-basic.yaml", "scenarios/blk/packed-rw.yaml")

static const vs_mutant mutants[] = {
    {"used-len-too-long", "used.len is one more than the chain's writable bytes",
     VS_VQ_MUT_USED_LEN_TOO_LONG, 0, 0,
     LIST("split.device.used-ring.2", "packed.device.virtqueues.2"),
     LIST("used-len-bound"), BOTH_RINGS},
    {"skips-used-idx", "the used index advances by two for one element",
     VS_VQ_MUT_SKIP_USED_IDX, 0, 0, LIST("split.device.used-ring.1"),
     LIST("used-idx-progress"), LIST("scenarios/blk/rw-basic.yaml")},
    {"used-bad-id", "used.id names a chain the driver never made available",
     VS_VQ_MUT_USED_BAD_ID, 0, 0,
     LIST("split.device.used-ring.1", "packed.device.virtqueues.2"),
     LIST("used-id-outstanding"), BOTH_RINGS},
    {"double-complete", "every used element is written twice",
     VS_VQ_MUT_DOUBLE_COMPLETE, 0, 0,
     LIST("split.device.used-ring.1", "packed.device.virtqueues.2"),
     LIST("used-id-outstanding"), BOTH_RINGS},
    {"interrupts-when-suppressed", "interrupts although the driver suppressed them",
     VS_VQ_MUT_IRQ_WHEN_SUPPRESSED, 0, 0,
     LIST("split.device.used-notif-suppression.6"), LIST("irq-event-idx-not-crossed"),
     LIST("scenarios/blk/irq-delayed.yaml")},
    {"writes-readonly-buffer", "scribbles on the request header (a device-readable buffer)",
     0, VS_BLK_MUT_WRITES_READONLY, 0,
     LIST("split.device.desc-table.1", "packed.device.desc-table.1"),
     LIST("readable-unchanged"), BOTH_RINGS},
    {"accepts-bad-features", "accepts FEATURES_OK for bits it never offered",
     0, VS_BLK_MUT_ACCEPTS_BAD_FEATURES, 0, LIST("generic.device.features.3"),
     LIST("features-ok-refused"), LIST("scenarios/blk/features-refused.yaml")},
    {"accepts-ro-write", "completes writes on a read-only device with OK",
     0, VS_BLK_MUT_ACCEPT_RO_WRITE, 0, LIST("blk.device.blk-op.2"),
     LIST("blk-ro-write-ioerr"), LIST("scenarios/blk/read-only.yaml")},
    {"bad-status-byte", "writes status byte 7 on success", 0, VS_BLK_MUT_BAD_STATUS, 0,
     LIST(NULL), LIST("blk-status-byte"), BOTH_RINGS},
    {"in-len-short", "used.len omits the status byte", 0, VS_BLK_MUT_IN_LEN_SHORT, 0,
     LIST(NULL), LIST("blk-used-len"), BOTH_RINGS},
    {"no-config-irq-on-error", "sets DEVICE_NEEDS_RESET without a config-change interrupt",
     0, 0, VS_REF_MUT_NO_CONFIG_IRQ_ON_ERROR, LIST("generic.device.status.3"),
     LIST("needs-reset-config-irq"), LIST("scenarios/blk/fault-loop.yaml")},
    {"reset-keeps-status", "a reset leaves the device status byte unchanged",
     0, 0, VS_REF_MUT_RESET_KEEPS_STATUS, LIST("generic.device.reset.1"),
     LIST("reset-reads-zero"), LIST("scenarios/blk/reset-mid-workload.yaml")},
    {"irq-after-reset", "a reset raises a used-buffer interrupt on every live queue",
     0, 0, VS_REF_MUT_IRQ_AFTER_RESET, LIST("generic.device.reset.2"),
     LIST("quiet-after-reset"), LIST("scenarios/blk/reset-mid-workload.yaml"),
     .also = LIST("generic.device.status.1")},
    {"wce-without-flush", "offers CONFIG_WCE without FLUSH", 0,
     VS_BLK_MUT_WCE_WITHOUT_FLUSH, 0,
     LIST("generic.device.features.1", "blk.device.blk-init.2"), LIST("offer-dependencies"),
     LIST("scenarios/blk/config-padding.yaml"),
     .also = LIST("blk.device.blk-init.1")},
    {"no-version-1", "does not offer VIRTIO_F_VERSION_1", 0, VS_BLK_MUT_NO_VERSION_1, 0,
     LIST("generic.device.reserved-features.1"), LIST("offer-version-1"),
     LIST("scenarios/blk/config-padding.yaml")},
    {"offers-legacy-bit", "offers the legacy-only VIRTIO_F_ANY_LAYOUT", 0,
     VS_BLK_MUT_OFFERS_LEGACY_BIT, 0, LIST("generic.device.features.4"),
     LIST("offer-no-reserved-bits"), LIST("scenarios/blk/config-padding.yaml")},
    {"offers-sr-iov", "offers VIRTIO_F_SR_IOV without an SR-IOV capability", 0,
     VS_BLK_MUT_OFFERS_SR_IOV, 0, LIST("generic.device.reserved-features.6"),
     LIST("offer-sr-iov"), LIST("scenarios/blk/config-padding.yaml")},
    {"wce-not-cleared", "keeps writeback 1 when CONFIG_WCE is negotiated without FLUSH", 0,
     VS_BLK_MUT_WCE_NOT_CLEARED, 0, LIST("blk.device.blk-init.3"),
     LIST("blk-writeback-initial"), LIST("scenarios/blk/wce-without-flush.yaml")},
    {"padding-nonzero", "config padding byte unused0 reads 0xff", 0,
     VS_BLK_MUT_PADDING_NONZERO, 0, LIST("blk.device.blk-init.4"),
     LIST("blk-config-padding-zero"), LIST("scenarios/blk/config-padding.yaml")},
    {"dwz-flags-ignored", "accepts discard / write-zeroes segments with unknown flags", 0,
     VS_BLK_MUT_DWZ_FLAGS_IGNORED, 0, LIST("blk.device.blk-op.4"),
     LIST("blk-dwz-flags-unsupp"), LIST("scenarios/blk/dwz-flags.yaml")},
    {"zone-ioerr", "answers zone requests with IOERR instead of UNSUPP", 0,
     VS_BLK_MUT_ZONE_IOERR, 0, LIST("blk.device.blk-op.13"), LIST("blk-zone-unsupp"),
     LIST("scenarios/blk/zone-unsupp.yaml")},
    {"irq-missed", "never sends a used-buffer notification (split, no EVENT_IDX)", VS_VQ_MUT_IRQ_MISSED, 0,
     0,
     LIST("split.device.used-notif-suppression.3"), LIST("irq-required-no-event-idx"),
     LIST("scenarios/blk/no-event-idx.yaml")},
    {"irq-missed-event-idx", "ignores used_event crossings (split, EVENT_IDX)",
     VS_VQ_MUT_IRQ_MISSED_EI, 0, 0, LIST("split.device.used-notif-suppression.5"),
     LIST("irq-event-idx-crossed"),
     LIST("scenarios/blk/rw-basic.yaml", "scenarios/blk/irq-delayed.yaml")},
    {"irq-flags-with-event-idx",
     "honours avail.flags NO_INTERRUPT although EVENT_IDX is negotiated (split)",
     VS_VQ_MUT_FLAGS_WITH_EI, 0, 0,
     LIST("split.device.used-notif-suppression.5", "split.device.used-notif-suppression.4"),
     LIST("irq-event-idx-crossed"), LIST("scenarios/blk/mislead-suppression.yaml")},
    {"irq-used-event-no-event-idx",
     "honours used_event although EVENT_IDX is not negotiated (split)",
     VS_VQ_MUT_USED_EVENT_NO_EI, 0, 0,
     LIST("split.device.used-notif-suppression.3", "split.device.used-notif-suppression.1"),
     LIST("irq-required-no-event-idx"),
     LIST("scenarios/blk/mislead-suppression-no-event-idx.yaml")},
    {"consumes-before-driver-ok", "polls and uses queues as soon as they are set up",
     0, 0, VS_REF_MUT_CONSUMES_BEFORE_DRIVER_OK, LIST("generic.device.status.1"),
     LIST("nothing-before-driver-ok"), LIST("scenarios/blk/fill-before-driver-ok.yaml")},
    {"used-flags-bad", "sets the undefined bit 1 in used.flags (split)",
     VS_VQ_MUT_USED_FLAGS_BAD, 0, 0,
     LIST("split.device.avail-notif-suppression.1", "split.device.avail-notif-suppression.2"),
     LIST("used-flags-valid"),
     LIST("scenarios/blk/no-event-idx.yaml", "scenarios/blk/rw-basic.yaml")},
    {"writes-descriptor", "writes the used length into the head descriptor (split)",
     VS_VQ_MUT_WRITES_DESC, 0, 0, LIST("split.device.desc-table.3"),
     LIST("desc-table-unchanged"), LIST("scenarios/blk/rw-basic.yaml")},
    {"write-zeroes-keeps-data", "completes WRITE_ZEROES with OK but leaves the old data", 0,
     VS_BLK_MUT_WZ_KEEPS_DATA, 0, LIST("blk.device.blk-op.6"),
     LIST("blk-write-zeroes-reads-zero"),
     LIST("scenarios/blk/discard-write-zeroes.yaml", "scenarios/blk/write-zeroes-readback.yaml")},
    {"rewrites-used-desc", "rewrites the len of a used descriptor after publishing it (packed)",
     VS_VQ_MUT_REWRITES_USED, 0, 0, LIST("packed.device.desc-table.4"),
     LIST("packed-used-desc-unchanged"), LIST("scenarios/blk/packed-rw.yaml")},
    {"fetch-out-of-order", "starts work on the second chain of a batch before the first",
     0, 0, VS_REF_MUT_FETCH_SWAPPED, LIST("packed.device.virtqueues.1"),
     LIST("packed-fetch-in-ring-order"),
     LIST("scenarios/blk/packed-rw.yaml", "scenarios/blk/packed-fetch-order.yaml")},
    {"ro-write-changes-data", "writes the data of an OUT on a read-only device, then "
     "reports IOERR", 0, VS_BLK_MUT_RO_WRITES_DATA, 0, LIST("blk.device.blk-op.3"),
     LIST("blk-read-back"), LIST("scenarios/blk/read-only-unchanged.yaml")},
    {"scatter-gather-swapped", "fills the first two writable descriptors of a chain in "
     "swapped order (packed)", VS_VQ_MUT_SG_SWAPPED, 0, 0,
     LIST("packed.device.scatter-gather.1"), LIST("blk-read-back"),
     LIST("scenarios/blk/packed-scatter-gather.yaml")},
    {"indirect-write-rejected", "takes its error path when the descriptor naming an "
     "indirect table has WRITE set (split)", VS_VQ_MUT_INDIRECT_WRITE_REJECTED, 0, 0,
     LIST("split.device.indirect.1"), LIST("no-error-on-legal-input"),
     LIST("scenarios/blk/indirect-write-flag.yaml", "scenarios/blk/indirect-split.yaml")},
    {"direct-then-indirect-rejected", "takes its error path for direct descriptors "
     "followed by an indirect one (split)", VS_VQ_MUT_DIRECT_THEN_INDIRECT_REJECTED, 0, 0,
     LIST("split.device.indirect.2"), LIST("no-error-on-legal-input"),
     LIST("scenarios/blk/direct-then-indirect.yaml", "scenarios/blk/indirect-split.yaml")},
    {"header-in-one-descriptor", "takes its error path when the request header is split "
     "over descriptors", 0, VS_BLK_MUT_HEADER_ONE_DESC, 0,
     LIST("split.device.message-framing.1"), LIST("no-error-on-legal-input"),
     LIST("scenarios/blk/split-header.yaml", "scenarios/blk/rw-basic.yaml")},
    {"spurious-notify-error", "takes its error path on a notification that finds no new "
     "buffer", 0, 0, VS_REF_MUT_SPURIOUS_NOTIFY_ERROR,
     LIST("split.device.avail-notif-suppression.3"), LIST("no-error-on-legal-input"),
     LIST("scenarios/blk/spurious-notify.yaml", "scenarios/blk/rw-basic.yaml")},
    {"config-late", "device config fields beyond capacity read 0 until FEATURES_OK", 0, 0,
     VS_REF_MUT_CONFIG_LATE, LIST("generic.device.config-space.1"),
     LIST("config-readable-before-features-ok"),
     LIST("scenarios/blk/config-early.yaml", "scenarios/blk/rw-basic.yaml"),
     /* write_zeroes_may_unmap then changes without a config interrupt, too */
     .also = LIST("blk.device.blk-op.8")},
    {"queue-reset-ignored", "a queue reset leaves the queue running: requests in flight "
     "still complete into the old rings", 0, 0, VS_REF_MUT_QUEUE_RESET_IGNORED,
     LIST("generic.device.vq-reset.1"), LIST("queue-reset-honoured"),
     LIST("scenarios/blk/queue-reset.yaml")},
    {"queue-reset-keeps-position", "a queue set up again after a queue reset resumes at its "
     "old available index", 0, 0, VS_REF_MUT_QUEUE_RESET_KEEPS_POS,
     LIST("generic.device.vq-reset.2"), LIST("queue-reset-honoured"),
     LIST("scenarios/blk/queue-reset.yaml")},
    {"reenable-old-rings", "a queue set up again after a queue reset with a new size keeps "
     "its old rings", 0, 0, VS_REF_MUT_REENABLE_OLD_RINGS, LIST("generic.device.vq-reenable.1"),
     LIST("queue-reset-honoured"), LIST("scenarios/blk/queue-reset.yaml")},
    {"suspend-before-init", "keeps SUSPEND written before DRIVER_OK", 0, 0,
     VS_REF_MUT_SUSPEND_BEFORE_INIT, LIST("generic.device.suspend.1"),
     LIST("suspend-honoured"), LIST("scenarios/blk/suspend.yaml")},
    {"suspend-reported-early", "shows suspended at once; requests in flight complete "
     "afterwards", 0, 0, VS_REF_MUT_SUSPEND_EARLY_REPORT, LIST("generic.device.suspend.3"),
     LIST("suspend-honoured"), LIST("scenarios/blk/suspend.yaml")},
    {"suspend-config-irq", "notifies a config change while suspended", 0, 0,
     VS_REF_MUT_SUSPEND_CFG_IRQ, LIST("generic.device.suspend.4"), LIST("suspend-honoured"),
     LIST("scenarios/blk/suspend.yaml")},
    {"suspend-config-dropped", "never notifies a config change made while suspended", 0, 0,
     VS_REF_MUT_SUSPEND_CFG_DROPPED, LIST("generic.device.suspend.5"),
     LIST("suspend-honoured"), LIST("scenarios/blk/suspend.yaml")},
    {"suspend-ignored", "a SUSPEND request changes nothing", 0, 0, VS_REF_MUT_SUSPEND_IGNORED,
     LIST("generic.device.suspend.6"), LIST("suspend-honoured"),
     LIST("scenarios/blk/suspend.yaml")},
    {"resume-ignored", "stays suspended when the driver sets DRIVER_OK again", 0, 0,
     VS_REF_MUT_RESUME_IGNORED, LIST("generic.device.suspend.7"), LIST("suspend-honoured"),
     LIST("scenarios/blk/suspend.yaml")},
    {"in-order-broken", "negotiates VIRTIO_F_IN_ORDER but completes requests out of order",
     0, 0, VS_REF_MUT_OUT_OF_ORDER, LIST("generic.device.reserved-features.3"),
     LIST("in-order-use"), LIST("scenarios/blk/in-order.yaml")},
    {"discard-unmap-accepted", "completes DISCARD with the unmap flag with OK", 0,
     VS_BLK_MUT_DISCARD_UNMAP_OK, 0, LIST("blk.device.blk-op.5"), LIST("blk-dwz-flags-unsupp"),
     LIST("scenarios/blk/discard-unmap.yaml")},
    {"packed-ignores-wrap", "takes a packed descriptor as available when AVAIL != USED, "
     "ignoring the wrap counter", VS_VQ_MUT_IGNORES_WRAP, 0, 0,
     LIST("packed.device.desc-table.3"), LIST("fetch-available-only"),
     LIST("scenarios/blk/queue-size-3-packed.yaml")},
    {"lifetime-reserved", "GET_LIFETIME reports the reserved pre_eol_info value 4", 0,
     VS_BLK_MUT_LIFETIME_RESERVED, 0, LIST("blk.device.blk-op.12"), LIST("blk-lifetime-range"),
     LIST("scenarios/blk/lifetime.yaml")},
    {"zoned-legacy", "a legacy device (no VIRTIO_F_VERSION_1) that offers ZONED", 0,
     VS_BLK_MUT_NO_VERSION_1, 0, LIST("blk.device.blk-init.6"), LIST("offer-dependencies"),
     LIST("scenarios/blk/zoned-report.yaml"), .also = LIST("generic.device.reserved-features.1")},
    /* Zoned mode (VIRTIO_BLK_F_ZONED): one broken rule each (vs_blk_opts.zoned_mutation). */
#define ZM(name, what, zm, stmts, check, scn) \
    {name, what, 0, 0, 0, stmts, LIST(check), LIST(scn), .zoned_mutation = zm}
#define ZS(f) "scenarios/blk/zoned-" f ".yaml"
    ZM("zoned-hm-accepts-unzoned", "host-managed, yet sets FEATURES_OK without ZONED",
       VS_BLK_ZMUT_HM_ACCEPTS_UNZONED, LIST("blk.device.blk-init.8"), "zoned-features-ok",
       ZS("features-refused")),
    ZM("zoned-unused2-nonzero", "zoned.unused2 reads 0xff", VS_BLK_ZMUT_UNUSED2_NONZERO,
       LIST("blk.device.blk-init.16"), "zoned-config-fields", ZS("report")),
    ZM("zoned-append-over-segments", "max_append_sectors above seg_max * size_max",
       VS_BLK_ZMUT_APPEND_OVER_SEGS, LIST("blk.device.blk-init.14"), "zoned-config-fields",
       ZS("report")),
    ZM("zoned-zone-size-lies", "config zone_sectors is half the real zone size",
       VS_BLK_ZMUT_ZONE_SIZE_LIES, LIST("blk.device.blk-init.10"), "zone-report-geometry",
       ZS("report")),
    ZM("zoned-model-lies", "reports the host-aware model for host-managed (SWR) zones",
       VS_BLK_ZMUT_MODEL_LIES, LIST("blk.device.blk-init.9"), "zone-report-geometry",
       ZS("report")),
    ZM("zoned-mgmt-conventional-ok", "opens / closes / finishes / resets conventional zones",
       VS_BLK_ZMUT_MGMT_CONV_OK, LIST("blk.device.blk-op.14"), "zone-mgmt-status",
       ZS("errors")),
    ZM("zoned-open-full-ok", "ZONE_OPEN of a full zone completes with OK",
       VS_BLK_ZMUT_OPEN_FULL_OK, LIST("blk.device.blk-op.16"), "zone-mgmt-status",
       ZS("errors")),
    ZM("zoned-close-empty-ok", "ZONE_CLOSE of an empty zone completes with OK",
       VS_BLK_ZMUT_CLOSE_EMPTY_OK, LIST("blk.device.blk-op.18"), "zone-mgmt-status",
       ZS("errors")),
    ZM("zoned-finish-read-only-ok", "ZONE_FINISH of a read-only zone completes with OK",
       VS_BLK_ZMUT_FINISH_RDONLY_OK, LIST("blk.device.blk-op.19"), "zone-mgmt-status",
       ZS("errors")),
    ZM("zoned-reset-read-only-ok", "ZONE_RESET of a read-only zone completes with OK",
       VS_BLK_ZMUT_RESET_RDONLY_OK, LIST("blk.device.blk-op.20"), "zone-mgmt-status",
       ZS("errors")),
    ZM("zoned-open-no-limits", "explicit opens ignore max_open_zones / max_active_zones",
       VS_BLK_ZMUT_OPEN_NO_LIMITS, LIST("blk.device.blk-op.17"), "zone-resources",
       ZS("resources")),
    ZM("zoned-implicit-open-no-limits", "writes and appends open zones past the limits",
       VS_BLK_ZMUT_IMPLICIT_NO_LIMITS, LIST("blk.device.blk-op.21"), "zone-resources",
       ZS("resources")),
    ZM("zoned-open-limit-low", "enforces one open zone less than max_open_zones",
       VS_BLK_ZMUT_OPEN_LIMIT_LOW, LIST("blk.device.blk-init.11"), "zone-resources",
       ZS("resources")),
    ZM("zoned-active-limit-low", "enforces one active zone less than max_active_zones",
       VS_BLK_ZMUT_ACTIVE_LIMIT_LOW, LIST("blk.device.blk-init.12"), "zone-resources",
       ZS("resources")),
    /* also runs the host-aware scenario, so the correct device is checked on it too */
    {"zoned-append-conventional-ok", "ZONE_APPEND to a conventional zone writes it", 0, 0, 0,
     LIST("blk.device.blk-op.15"), LIST("zone-io-status"), LIST(ZS("errors"), ZS("host-aware")),
     .zoned_mutation = VS_BLK_ZMUT_APPEND_CONV_OK},
    ZM("zoned-append-mid-zone", "ZONE_APPEND accepts a sector inside the zone",
       VS_BLK_ZMUT_APPEND_MID_ZONE, LIST("blk.device.blk-op.22"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-no-capacity-check", "writes run past the zone capacity (up to the zone end)",
       VS_BLK_ZMUT_NO_CAPACITY_CHECK, LIST("blk.device.blk-op.23"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-append-zero-max-invalid", "max_append_sectors 0: appends get INVALID_CMD",
       VS_BLK_ZMUT_APPEND_ZERO_MAX_INVALID, LIST("blk.device.blk-op.25"), "zone-io-status",
       ZS("no-append")),
    ZM("zoned-append-no-max", "appends beyond max_append_sectors succeed",
       VS_BLK_ZMUT_APPEND_NO_MAX, LIST("blk.device.blk-op.26"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-read-spans-zones", "reads cross from a SWR zone into the next one",
       VS_BLK_ZMUT_READ_SPANS_OK, LIST("blk.device.blk-op.27"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-write-anywhere", "SWR writes away from the write pointer succeed",
       VS_BLK_ZMUT_WRITE_ANYWHERE, LIST("blk.device.blk-op.28"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-read-only-write-ok", "writes to a read-only zone succeed",
       VS_BLK_ZMUT_RDONLY_WRITE_OK, LIST("blk.device.blk-op.29"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-offline-read-ok", "reads of an offline zone succeed",
       VS_BLK_ZMUT_OFFLINE_READ_OK, LIST("blk.device.blk-op.30"), "zone-io-status",
       ZS("errors")),
    ZM("zoned-append-sector-wrong", "append_sector is one past the first sector written",
       VS_BLK_ZMUT_APPEND_SECTOR_WRONG, LIST("blk.device.blk-op.24"), "zone-append-sector",
       ZS("errors")),
    ZM("zoned-reset-keeps-data", "ZONE_RESET leaves the old data readable",
       VS_BLK_ZMUT_RESET_KEEPS_DATA, LIST("blk.device.blk-op.31", "blk.device.blk-op.32"),
       "zone-unwritten-read", ZS("basic")),
    ZM("zoned-granularity-ignored", "write_granularity is reported but not enforced",
       VS_BLK_ZMUT_GRANULARITY_IGNORED, LIST("blk.device.blk-init.15"), "zone-limits",
       ZS("errors")),
    ZM("zoned-append-max-half", "appends above half of max_append_sectors are refused",
       VS_BLK_ZMUT_APPEND_MAX_HALF, LIST("blk.device.blk-init.13"), "zone-limits",
       ZS("errors")),
    ZM("zoned-secure-erase-align-1", "secure_erase_sector_alignment 1, not zone_sectors",
       VS_BLK_ZMUT_SE_ALIGN_NOT_ZONE, LIST("blk.device.blk-op.33"), "zoned-config-fields",
       ZS("secure-erase")),
    ZM("zoned-secure-erase-partial-ok", "secure erase of part of a zone completes with OK",
       VS_BLK_ZMUT_SE_PARTIAL_OK, LIST("blk.device.blk-op.34"), "zone-secure-erase",
       ZS("secure-erase")),
    ZM("zoned-secure-erase-misaligned-ok", "secure erase starting inside a zone completes with OK",
       VS_BLK_ZMUT_SE_MISALIGNED_OK, LIST("blk.device.blk-op.34"), "zone-secure-erase",
       ZS("secure-erase")),
    ZM("zoned-secure-erase-no-reset", "secure erase zeroes the data, zones keep their state",
       VS_BLK_ZMUT_SE_NO_ZONE_RESET, LIST("blk.device.blk-op.35"), "zone-secure-erase",
       ZS("secure-erase")),
    ZM("zoned-declined-keeps-fields", "host-aware, ZONED declined: zoned fields still filled",
       VS_BLK_ZMUT_DECLINED_KEEPS_FIELDS, LIST("blk.device.blk-init.7"), "zoned-features-ok",
       ZS("host-aware-declined")),
#undef ZS
#undef ZM
};

#define NBASE (sizeof mutants / sizeof mutants[0])

/* The PCI model's mutants come from its own table (model/pci.c), each failing the one
 * statement its check reports; they run behind the PCI transport. */
#define PCI_MAX 32
static vs_mutant pci_mutants[PCI_MAX];
static const char *pci_fails[PCI_MAX][2];
static char pci_names[PCI_MAX][48];
static size_t n_pci = SIZE_MAX;
static const char *const pci_scenarios[] = {"scenarios/pci/probe.yaml", NULL};
/* A stuck queue_enable makes the device refuse the queue-address writes the 64-bit-halves
 * probe makes: a consequence, not a second bug. */
static const char *const enable_cascade[] = {"pci.device.layout.1", NULL};
static const char *const no_checks[] = {NULL};

static void init_pci_mutants(void)
{
    if (n_pci != SIZE_MAX)
        return;
    n_pci = 0;
    /* A PCI mutant beyond the table would silently go unproven: make that loud. */
    if (vs_pci_mutation_count() > PCI_MAX)
        fprintf(stderr, "virtiosim: %zu PCI mutants, only %d run (raise PCI_MAX)\n",
                vs_pci_mutation_count(), PCI_MAX);
    for (size_t i = 0; i < vs_pci_mutation_count() && n_pci < PCI_MAX; i++) {
        const vs_pci_mutation_info *m = vs_pci_mutation_at(i);
        /* "pci-" marks the PCI model's mutants, unless their own name already says it. */
        snprintf(pci_names[n_pci], sizeof pci_names[n_pci], "%s%s",
                 strncmp(m->name, "pci-", 4) == 0 ? "" : "pci-", m->name);
        pci_fails[n_pci][0] = m->id;
        pci_fails[n_pci][1] = NULL;
        /* A broken function fails every statement its check covers, not just one. */
        const vs_pci_check_info *ck = vs_pci_check_find(m->check);
        pci_mutants[n_pci] = (vs_mutant){
            .name = pci_names[n_pci],
            .what = m->what,
            .pci_mutations = m->flag,
            .fails = pci_fails[n_pci],
            .checks = no_checks,
            .scenarios = pci_scenarios,
            .also = strcmp(m->name, "enable-survives-reset") == 0 ? enable_cascade
                    : ck                                          ? ck->ids
                                                                  : NULL,
        };
        n_pci++;
    }
}

size_t vs_mutant_count(void)
{
    init_pci_mutants();
    return NBASE + n_pci;
}

const vs_mutant *vs_mutant_at(size_t i)
{
    init_pci_mutants();
    if (i < NBASE)
        return &mutants[i];
    return i - NBASE < n_pci ? &pci_mutants[i - NBASE] : NULL;
}

const vs_mutant *vs_mutant_find(const char *name)
{
    for (size_t i = 0; i < vs_mutant_count(); i++)
        if (strcmp(vs_mutant_at(i)->name, name) == 0)
            return vs_mutant_at(i);
    return NULL;
}
