/* The check registry: every monitor check, what it verifies and which catalogue
 * statements it covers: the generic checks below, then each device extension's
 * (vs_mon_devs[], conformance/dev/<name>/), in registry order. The order of ids inside a
 * check matters: the monitors refer to them by position (0 = first). */
#include "virtiosim/conformance.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

#define IDS(...) (const char *const[]){__VA_ARGS__, NULL}
#define NOIDS (const char *const[]){NULL}
#define DEV VS_ROLE_DEVICE
#define DRV VS_ROLE_DRIVER

const vs_check_info vs__mon_core_checks[CK_COUNT] = {
    [CK_USED_ID] = {"used-id-outstanding", DEV, "split/packed",
        "every used element names a chain that is outstanding (made available, not yet "
        "completed); no chain completes twice; the driver found no invalid used element",
        IDS("split.device.used-ring.1", "packed.device.virtqueues.2")},
    [CK_USED_LEN] = {"used-len-bound", DEV, "split/packed",
        "used len never exceeds the chain's device-writable bytes",
        IDS("split.device.used-ring.2", "packed.device.virtqueues.2")},
    [CK_USED_IDX] = {"used-idx-progress", DEV, "split",
        "used idx in memory is never ahead of the driver's position by more than the "
        "number of outstanding chains",
        IDS("split.device.used-ring.1")},
    [CK_READABLE] = {"readable-unchanged", DEV, "split/packed",
        "device-readable bytes hash the same at completion as when made available",
        IDS("split.device.desc-table.1", "packed.device.desc-table.1")},
    [CK_GUARD] = {"write-confined", DEV, "split/packed",
        "the 16 guard bytes after each device-writable buffer are unchanged at completion",
        IDS("split.device.desc-table.1", "packed.device.desc-table.1")},
    [CK_DESC_TABLE] = {"desc-table-unchanged", DEV, "split",
        "descriptor-table entries (and indirect tables) of a chain are unchanged at completion",
        IDS("split.device.desc-table.3")},
    [CK_BEFORE_DRIVER_OK] = {"nothing-before-driver-ok", DEV, "generic",
        "no chain fetched, no used element and no queue interrupt before DRIVER_OK",
        IDS("generic.device.status.1")},
    [CK_AFTER_RESET] = {"quiet-after-reset", DEV, "generic",
        "after a reset no chain fetched, no used element and no queue interrupt until the "
        "queue is set up again",
        IDS("generic.device.reset.2")},
    [CK_RESET_ZERO] = {"reset-reads-zero", DEV, "generic",
        "after a reset, status reads 0 within 100 reads and 100 us, and stays 0 until the "
        "driver writes status again",
        IDS("generic.device.reset.1")},
    [CK_IRQ_FLAGS_SUPPRESSED] = {"irq-suppressed-no-event-idx", DEV, "split",
        "without EVENT_IDX: no used-buffer interrupt for used entries written while the "
        "driver had set VIRTQ_AVAIL_F_NO_INTERRUPT",
        IDS("split.device.used-notif-suppression.2")},
    [CK_IRQ_FLAGS_REQUIRED] = {"irq-required-no-event-idx", DEV, "split",
        "without EVENT_IDX: used entries written while interrupts were enabled are "
        "followed by an interrupt (used_event disregarded)",
        IDS("split.device.used-notif-suppression.3", "split.device.used-notif-suppression.1")},
    [CK_IRQ_EI_SPURIOUS] = {"irq-event-idx-not-crossed", DEV, "split",
        "with EVENT_IDX: no interrupt unless used idx moved past used_event since the "
        "previous interrupt",
        IDS("split.device.used-notif-suppression.6")},
    [CK_IRQ_EI_REQUIRED] = {"irq-event-idx-crossed", DEV, "split",
        "with EVENT_IDX: an interrupt follows once used idx moves past used_event (flags "
        "low bit disregarded)",
        IDS("split.device.used-notif-suppression.5", "split.device.used-notif-suppression.4")},
    [CK_USED_FLAGS] = {"used-flags-valid", DEV, "split",
        "used.flags is 0 or 1 without EVENT_IDX and 0 with it",
        IDS("split.device.avail-notif-suppression.1", "split.device.avail-notif-suppression.2")},
    [CK_OFFER_VALID] = {"offer-no-reserved-bits", DEV, "generic",
        "the device offers no undefined, reserved or legacy-only feature bits",
        IDS("generic.device.features.4"), .device_level = true},
    [CK_OFFER_VERSION_1] = {"offer-version-1", DEV, "generic",
        "VIRTIO_F_VERSION_1 is offered", IDS("generic.device.reserved-features.1"),
        .device_level = true},
    [CK_OFFER_SR_IOV] = {"offer-sr-iov", DEV, "generic",
        "VIRTIO_F_SR_IOV is not offered unless the PCI function has an SR-IOV capability "
        "(none of virtiosim's transports does; see vs_monitors_set_sriov_capable)",
        IDS("generic.device.reserved-features.6"), .device_level = true},
    [CK_FEATURES_OK_REFUSE] = {"features-ok-refused", DEV, "generic",
        "FEATURES_OK reads back clear when the driver accepted bits that were not offered",
        IDS("generic.device.features.3")},
    [CK_IN_ORDER] = {"in-order-use", DEV, "generic",
        "with IN_ORDER, chains are used in the order they were made available",
        IDS("generic.device.reserved-features.3")},
    [CK_NEEDS_RESET_IRQ] = {"needs-reset-config-irq", DEV, "generic",
        "DEVICE_NEEDS_RESET seen after DRIVER_OK comes with a config-change interrupt",
        IDS("generic.device.status.3")},
    [CK_ERROR_NEEDS_RESET] = {"error-sets-needs-reset", DEV, "generic",
        "after a device error, the next status reads show DEVICE_NEEDS_RESET",
        IDS("generic.device.status.2")},
    [CK_FETCH_AVAIL] = {"fetch-available-only", DEV, "packed",
        "the device fetches only chains the driver has published, each once per time it is "
        "made available (in-process back-end only)",
        IDS("packed.device.desc-table.3")},
    [CK_PK_USED_DESC] = {"packed-used-desc-unchanged", DEV, "packed",
        "a descriptor slot the device marked used keeps its 16 bytes until the driver makes "
        "it available again (checked on later used elements, interrupts and fetches, and at "
        "reset, queue disable and the end)",
        IDS("packed.device.desc-table.4")},
    [CK_PK_FETCH_ORDER] = {"packed-fetch-in-ring-order", DEV, "packed",
        "the device starts work on (fetches) chains in the order the driver made them "
        "available (in-process back-ends only: needs FETCH events)",
        IDS("packed.device.virtqueues.1")},
    [CK_LEGAL_INPUT] = {"no-error-on-legal-input", DEV, "split/blk",
        "the device does not take its error path (DEVICE_NEEDS_RESET) while a legal but "
        "unusual chain is outstanding: WRITE on the descriptor naming an indirect table, "
        "direct descriptors followed by an indirect one, a blk header split over "
        "descriptors; nor after notifications that announced no new buffer (none outstanding)",
        IDS("split.device.indirect.1", "split.device.indirect.2",
            "split.device.message-framing.1", "split.device.avail-notif-suppression.3")},
    [CK_CFG_EARLY] = {"config-readable-before-features-ok", DEV, "generic/blk",
        "device config bytes read after DRIVER and before FEATURES_OK hold the values read "
        "again after FEATURES_OK (blk; writeback excluded, and bytes read around a "
        "config-change interrupt)",
        IDS("generic.device.config-space.1")},
    [CK_QRESET] = {"queue-reset-honoured", DEV, "generic",
        "VIRTIO_F_RING_RESET: after a queue reset the device writes nothing more into that "
        "queue's old rings (used area; packed: descriptors), and a queue set up again works "
        "from index 0 with the size the driver chose (no device error, no invalid used "
        "element before its first used element)",
        IDS("generic.device.vq-reset.1", "generic.device.vq-reset.2",
            "generic.device.vq-reenable.1")},
    [CK_SUSPEND] = {"suspend-honoured", DEV, "generic",
        "VIRTIO_F_SUSPEND: SUSPEND written before DRIVER_OK never reads back; a suspend "
        "request ends with SUSPEND set and DRIVER_OK clear (or NEEDS_RESET) and a resume with "
        "the reverse, within 10000 reads / 10 ms; while suspended the device writes nothing "
        "into the rings and sends no interrupt; a config change made meanwhile (config "
        "generation moved) is notified after the resume",
        IDS("generic.device.suspend.1", "generic.device.suspend.3", "generic.device.suspend.4",
            "generic.device.suspend.5", "generic.device.suspend.6", "generic.device.suspend.7")},
    [CK_D_INIT_ORDER] = {"init-order", DRV, "generic",
        "ACKNOWLEDGE, DRIVER, features, FEATURES_OK, FEATURES_OK re-read, queue setup, "
        "DRIVER_OK, in that order",
        IDS("generic.driver.init.1", "generic.driver.status.1")},
    [CK_D_STATUS_MONOTONIC] = {"status-monotonic", DRV, "generic",
        "every nonzero status write keeps the bits written before",
        IDS("generic.driver.status.2")},
    [CK_D_FAILED_RESET] = {"failed-then-reset", DRV, "generic",
        "after writing FAILED, the driver resets before a new ACKNOWLEDGE",
        IDS("generic.driver.status.3")},
    [CK_D_RESET_WAIT] = {"reset-wait-zero", DRV, "generic",
        "after a reset the driver reads status 0 before writing ACKNOWLEDGE",
        IDS("generic.driver.reset.1")},
    [CK_D_FEAT_SUBSET] = {"features-subset", DRV, "generic",
        "driver features are a subset of the offered features",
        IDS("generic.driver.features.1")},
    [CK_D_FEAT_RESERVED] = {"features-no-reserved", DRV, "generic",
        "the driver accepts no undefined, reserved or legacy-only bits",
        IDS("generic.driver.features.5")},
    [CK_D_FEAT_FROZEN] = {"features-frozen", DRV, "generic",
        "driver features do not change after FEATURES_OK until reset",
        IDS("generic.driver.init.3")},
    [CK_D_ACCEPT_VERSION_1] = {"accept-version-1", DRV, "generic",
        "VERSION_1 is accepted whenever offered", IDS("generic.driver.reserved-features.1")},
    [CK_D_ACCEPT_RECOMMENDED] = {"accept-recommended", DRV, "generic/blk",
        "ACCESS_PLATFORM, RING_PACKED, ORDER_PLATFORM, NOTIF_CONFIG_DATA and blk RO are "
        "accepted whenever offered",
        IDS("generic.driver.reserved-features.2", "generic.driver.reserved-features.5",
            "generic.driver.reserved-features.6", "generic.driver.reserved-features.10",
            "blk.driver.blk-op.3")},
    [CK_D_CFG_WRITE_EARLY] = {"no-config-write-before-features-ok", DRV, "generic",
        "no device-config write before FEATURES_OK", IDS("generic.driver.init.2")},
    [CK_D_ABANDON] = {"abandon-after-refusal", DRV, "generic",
        "when FEATURES_OK reads back clear: no queue setup or DRIVER_OK; FAILED is written",
        IDS("generic.driver.init.5", "generic.driver.init.4")},
    [CK_D_KICK_EARLY] = {"no-kick-before-driver-ok", DRV, "generic",
        "no available-buffer notification before DRIVER_OK", IDS("generic.driver.init.6")},
    [CK_D_RING_ALIGN] = {"ring-alignment", DRV, "split/packed",
        "ring areas are aligned (split 16/2/4, packed 16/4/4)",
        IDS("split.driver.virtqueues.1", "packed.driver.virtqueues.1")},
    [CK_D_USED_FLAGS_ZERO] = {"used-flags-zeroed", DRV, "split",
        "used.flags reads 0 when the queue is set up",
        IDS("split.driver.avail-notif-suppression.1")},
    [CK_D_CHAIN_SHAPE] = {"chain-shape", DRV, "split",
        "descriptor chains read from guest memory at publish: readable before writable, "
        "terminating and <= 2^32 bytes, length <= queue size, INDIRECT only when negotiated, "
        "never nested or combined with NEXT, IN_ORDER next = slot + 1",
        IDS("split.driver.message-framing.1", "split.driver.desc-table.1",
            "split.driver.indirect.1", "split.driver.indirect.2", "split.driver.indirect.3",
            "split.driver.indirect.4", "split.driver.desc-table.2", "split.driver.indirect.5",
            "split.driver.updating-idx.1")},
    [CK_D_AVAIL_IDX] = {"avail-idx-forward", DRV, "split",
        "avail idx advances by 0..queue size per publish",
        IDS("split.driver.avail-ring.1")},
    [CK_D_AVAIL_FLAGS] = {"avail-flags-valid", DRV, "split",
        "avail.flags is 0 or 1 without EVENT_IDX and 0 with it",
        IDS("split.driver.used-notif-suppression.1", "split.driver.used-notif-suppression.2")},
    [CK_D_KICK_NEEDED] = {"kick-when-needed", DRV, "split",
        "the driver does not skip a notification the device asked for (used.flags 0 / "
        "avail_event crossed)",
        IDS("split.driver.avail-notif-suppression.4", "split.driver.avail-notif-suppression.6",
            "split.driver.avail-notif-suppression.2", "split.driver.avail-notif-suppression.5")},
    [CK_D_KICK_UNNEEDED] = {"kick-only-when-needed", DRV, "split",
        "the driver does not notify when the device suppressed notifications",
        IDS("split.driver.avail-notif-suppression.3", "split.driver.avail-notif-suppression.7")},
    [CK_D_CFG_GEN] = {"config-generation-bracket", DRV, "generic",
        "device-config reads are preceded and followed by config_generation reads (and so "
        "is every read wider than 32 bits: its halves are not assumed atomic)",
        IDS("generic.driver.config-space.2", "generic.driver.config-space.1")},
    [CK_D_ADDR_RAM] = {"addresses-in-ram", DRV, "generic",
        "without ACCESS_PLATFORM, rings and buffers lie inside guest RAM",
        IDS("generic.driver.reserved-features.4")},
    [CK_D_PK_SHAPE] = {"packed-list-shape", DRV, "packed",
        "lists exposed by a publish, read from ring memory from the driver's position with "
        "its wrap counter: readable before writable (also in indirect tables), every "
        "descriptor of a list available when its head is, INDIRECT only when negotiated and "
        "never in a NEXT-linked list, indirect table entries flagged WRITE at most, no list over queue size (NEXT on every slot of the ring)",
        IDS("packed.driver.scatter-gather.3", "packed.driver.scatter-gather.6",
            "packed.driver.indirect.1", "packed.driver.indirect.4",
            "packed.driver.indirect.2", "packed.driver.scatter-gather.2")},
    [CK_D_PK_ROOM] = {"packed-list-room", DRV, "packed",
        "a published list takes only ring slots the device has given back: the slots of "
        "published, not yet used lists plus the new list's never exceed the queue size",
        IDS("packed.driver.scatter-gather.5", "packed.driver.desc-table.1")},
    [CK_D_PK_AVAIL_FIXED] = {"packed-avail-desc-unchanged", DRV, "packed",
        "the ring slots of a published list hold the bytes they held at publish until the "
        "device fetches it (in-process back-ends only: needs FETCH events)",
        IDS("packed.driver.desc-table.2", "packed.driver.updating-flags.1")},
    [CK_D_SUSPEND] = {"suspend-driver-rules", DRV, "generic",
        "VIRTIO_F_SUSPEND, the driver's side: SUSPEND requested only with DRIVER_OK set and the "
        "feature negotiated; status read back showing the suspension before resuming; from "
        "the request to the resume no buffer exposed, no notification, no config write; after "
        "the resume nothing until status shows DRIVER_OK without SUSPEND",
        IDS("generic.driver.suspend.1", "generic.driver.suspend.2", "generic.driver.suspend.3",
            "generic.driver.suspend.4", "generic.driver.suspend.5", "generic.driver.suspend.6")},
    [CK_D_OFFER_UNKNOWN] = {"unknown-offer-disregarded", DRV, "generic",
        "when the offer holds undefined, reserved or legacy-only bits the driver accepts none "
        "of them and does not give up over them (no FAILED unless FEATURES_OK was refused or "
        "VERSION_1 is missing; DRIVER_OK reached)",
        IDS("generic.driver.features.8", "generic.driver.features.4")},
    [CK_D_NO_VERSION_1] = {"no-version-1-fails", DRV, "generic",
        "when VIRTIO_F_VERSION_1 is not offered (every virtiosim transport is modern-only, so "
        "there is nothing to fall back to) the driver writes FAILED and neither FEATURES_OK "
        "nor DRIVER_OK before its next reset",
        IDS("generic.driver.features.7")},
    [CK_D_SR_IOV] = {"sr-iov-needs-capability", DRV, "generic",
        "VIRTIO_F_SR_IOV, when offered, is not accepted unless the function has an SR-IOV "
        "capability (none of virtiosim's transports has one)",
        IDS("generic.driver.reserved-features.8")},
    [CK_D_OUTSTANDING] = {"outstanding-descriptors-kept", DRV, "split",
        "a published chain takes no descriptor slot of a chain the device still owns "
        "(published, not yet used) unless a device or queue reset came between (split; the "
        "packed ring's slots are packed-list-room's)",
        IDS("generic.driver.cleanup.1", "generic.driver.cleanup.2")},
    [CK_D_REENABLE_FRESH] = {"reenable-fresh-rings", DRV, "generic",
        "a queue set up again after a queue reset is set up as at first: split avail idx and "
        "used idx 0, packed no descriptor already flagged available or used (ring-alignment "
        "and used-flags-zeroed judge the same setup)",
        IDS("generic.driver.vq-reenable.1")},
    [CK_D_SPURIOUS_IRQ] = {"nothing-new-irq-tolerated", DRV, "split",
        "after a used-buffer interrupt that reports no new used element (used idx where the "
        "driver left it) the driver does not give up (FAILED) before it "
        "next collects a used element",
        IDS("split.driver.used-notif-suppression.3")},
    [CK_D_NEEDS_RESET_ACT] = {"needs-reset-no-waiting", DRV, "generic",
        "once the driver has read DEVICE_NEEDS_RESET (DRIVER_OK set, chains outstanding) it "
        "neither notifies nor makes buffers available, as if they could still complete, "
        "until it resets the device",
        IDS("generic.driver.status.4")},
    [CK_D_CFG_LARGER] = {"larger-config-tolerated", DRV, "generic",
        "when the device config region is longer than its type specifies (told by "
        "vs_monitors_set_config_larger) the driver does not give up (no FAILED unless "
        "FEATURES_OK was refused or VERSION_1 is missing) and reaches DRIVER_OK",
        IDS("generic.driver.config-space.4")},
};

size_t vs_check_count(void)
{
    size_t n = CK_COUNT;
    for (const vs_mon_dev *const *d = vs_mon_devs; *d; d++)
        n += (*d)->n_checks;
    return n;
}

const vs_check_info *vs_check_at(size_t i)
{
    if (i < CK_COUNT)
        return &vs__mon_core_checks[i];
    i -= CK_COUNT;
    for (const vs_mon_dev *const *d = vs_mon_devs; *d; d++) {
        if (i < (*d)->n_checks)
            return &(*d)->checks[i];
        i -= (*d)->n_checks;
    }
    return NULL;
}

const vs_check_info *vs_check_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0, n = vs_check_count(); i < n; i++)
        if (strcmp(vs_check_at(i)->name, name) == 0)
            return vs_check_at(i);
    return NULL;
}

/* The checks of each catalogue row (in registry order), built once per process: every
 * results table asks it of every statement. off[row] .. off[row + 1] index ck[]. NULL if
 * an allocation failed: then a scan of the registry. */
static struct {
    uint32_t *off, *ck;
} by_stmt;
static pthread_once_t by_stmt_once = PTHREAD_ONCE_INIT;

/* Visits each (check, row) pair once; a check naming a row twice counts once. */
static size_t stmt_pairs(uint32_t *count, uint32_t *fill)
{
    size_t total = 0;
    for (size_t i = 0, nc = vs_check_count(); i < nc; i++) {
        const vs_check_info *ci = vs_check_at(i);
        for (const char *const *p = ci->ids; *p; p++) {
            long r = vs_catalogue_index(*p);
            bool dup = r < 0;
            for (const char *const *q = ci->ids; q < p && !dup; q++)
                dup = strcmp(*q, *p) == 0;
            if (dup)
                continue;
            if (count)
                count[r]++;
            if (fill)
                by_stmt.ck[fill[r]++] = (uint32_t)i;
            total++;
        }
    }
    return total;
}

static void by_stmt_build(void)
{
    size_t ns = vs_catalogue_count();
    uint32_t *off = calloc(ns + 1, sizeof *off), *cnt = calloc(ns + 1, sizeof *cnt);
    size_t total = off && cnt ? stmt_pairs(cnt, NULL) : 0;
    uint32_t *ck = off && cnt ? malloc((total ? total : 1) * sizeof *ck) : NULL;
    if (!ck) {
        free(off);
        free(cnt);
        return;
    }
    for (size_t r = 0; r < ns; r++)
        off[r + 1] = off[r] + cnt[r];
    memcpy(cnt, off, (ns + 1) * sizeof *cnt); /* now each row's next free place */
    by_stmt.ck = ck;
    stmt_pairs(NULL, cnt);
    free(cnt);
    by_stmt.off = off;
}

size_t vs_checks_for_statement(const char *id, const vs_check_info **out, size_t max)
{
    size_t n = 0;
    if (!id)
        return 0;
    pthread_once(&by_stmt_once, by_stmt_build);
    long r = by_stmt.off ? vs_catalogue_index(id) : -1;
    if (r >= 0) {
        for (uint32_t k = by_stmt.off[r]; k < by_stmt.off[r + 1]; k++, n++)
            if (out && n < max)
                out[n] = vs_check_at(by_stmt.ck[k]);
        return n;
    }
    /* not a catalogue row (or no index): the registry itself */
    for (size_t i = 0, nc = vs_check_count(); i < nc; i++) {
        const vs_check_info *ci = vs_check_at(i);
        for (const char *const *p = ci->ids; *p; p++)
            if (strcmp(*p, id) == 0) {
                if (out && n < max)
                    out[n] = ci;
                n++;
                break;
            }
    }
    return n;
}

bool vs_statement_device_level(const char *id)
{
    const vs_check_info *cov[16];
    size_t n = vs_checks_for_statement(id, cov, 16);
    if (n == 0 || n > 16)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!cov[k]->device_level)
            return false;
    return true;
}
