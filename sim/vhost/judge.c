/* The driver statement a chain rejected by the vhost-user server breaks (see judge.h). */
#include <string.h>

#include "sim/vhost/judge.h"
#include "virtiosim/virtio.h"

/* A chain the server's ring rejected, by the rule its message names, and the driver
 * statement that rule is (split and packed rings). Rules that are device policy or a device limit
 * (zero-length descriptors, chains spanning regions, segment arrays) name none: the spec
 * does not forbid them. */
static const struct {
    const char *rule, *stmt, *expected;
    bool needs_no_access_platform;
} rule_map[] = {
    {"(split: next out of range)", "split.driver.desc-table.1", "every next < queue size", false},
    {"(split: descriptor loop or chain longer than queue size)", "split.driver.desc-table.1",
     "chain terminates", false},
    {"(split: indirect descriptor loop)", "split.driver.desc-table.1",
     "indirect chain terminates", false},
    {"(split: chain longer than queue size)", "split.driver.indirect.3",
     "chain length <= queue size", false},
    {"(split: nested indirect)", "split.driver.indirect.2", "no INDIRECT inside an indirect table",
     false},
    {"(split: INDIRECT not negotiated)", "split.driver.indirect.1",
     "no INDIRECT without VIRTIO_F_INDIRECT_DESC", false},
    {"(split: INDIRECT with NEXT)", "split.driver.indirect.4", "INDIRECT and NEXT never together",
     false},
    {"(split: readable after writable)", "split.driver.message-framing.1",
     "readable descriptors before writable ones", false},
    {"(split: head out of range)", "split.driver.updating-idx.1",
     "avail ring slots name chains just made available", false},
    {"(split: avail idx jump)", "split.driver.avail-ring.1", "avail idx advances by 0..queue size",
     false},
    {"(split: buffer outside guest memory)", "generic.driver.reserved-features.4",
     "buffers inside guest RAM", true},
    {"(split: indirect table outside guest memory)", "generic.driver.reserved-features.4",
     "buffers inside guest RAM", true},
    /* packed ring */
    {"(packed: readable after writable)", "packed.driver.scatter-gather.3",
     "readable elements before writable ones", false},
    {"(packed: chain too long)", "packed.driver.scatter-gather.2",
     "list length <= queue size", false},
    /* the head was available before the rest of its list: the driver flipped it first */
    {"(packed: chain descriptor not available)", "packed.driver.scatter-gather.6",
     "every descriptor of a list available with its head", false},
    {"(packed: indirect table too long)", "packed.driver.indirect.3",
     "indirect list within the length the device permits", false},
    {"(packed: indirect not negotiated)", "packed.driver.indirect.1",
     "no INDIRECT without VIRTIO_F_INDIRECT_DESC", false},
    {"(packed: indirect in chain)", "packed.driver.indirect.4",
     "no INDIRECT descriptor in a NEXT-linked list", false},
    {"(packed: indirect with next)", "packed.driver.indirect.4",
     "no INDIRECT descriptor in a NEXT-linked list", false},
    {"(packed: nested indirect)", "packed.driver.indirect.2",
     "only WRITE inside an indirect table", false},
    {"(packed: buffer address)", "generic.driver.reserved-features.4", "buffers inside guest RAM",
     true},
    {"(packed: indirect table address)", "generic.driver.reserved-features.4",
     "buffers inside guest RAM", true},
};

int vs_vhost_judge_rejection(vs_monitors *mon, uint64_t features, const vs_event *ev, vs_err *e)
{
    if (!mon || ev->kind != VS_EV_DEVICE_ERROR || !ev->text)
        return 0;
    for (size_t i = 0; i < sizeof rule_map / sizeof rule_map[0]; i++) {
        if (!strstr(ev->text, rule_map[i].rule))
            continue;
        if (rule_map[i].needs_no_access_platform && ((features >> VS_F_ACCESS_PLATFORM) & 1))
            return 0;
        return vs_monitors_report_driver_violation(mon, rule_map[i].stmt, ev->queue, false, 0,
                                                   rule_map[i].expected, ev->text, e);
    }
    return 0;
}
