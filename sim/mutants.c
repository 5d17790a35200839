/* The mutants: deliberately broken variants of the reference device, each meant to make
 * exactly the named statements fail. `virtiosim mutants` and the test suite run them all;
 * a check that no mutant can trip is not trusted. */
#include <stddef.h>
#include <string.h>

#include "virtiosim/blk.h"
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
};

size_t vs_mutant_count(void) { return sizeof mutants / sizeof mutants[0]; }

const vs_mutant *vs_mutant_at(size_t i)
{
    return i < vs_mutant_count() ? &mutants[i] : NULL;
}

const vs_mutant *vs_mutant_find(const char *name)
{
    for (size_t i = 0; i < vs_mutant_count(); i++)
        if (strcmp(mutants[i].name, name) == 0)
            return &mutants[i];
    return NULL;
}
