/* A chain the vhost-user server rejected, as the driver statement it breaks (private to
 * virtiosim; layer 4). `virtiosim serve` and `--backend guest` feed the server's events to
 * driver-role monitors in backend view; the server's ring names the rule a rejected chain
 * broke ("(split: next out of range)") in its VS_EV_DEVICE_ERROR text, and that rule is a
 * driver statement. Rules that are device policy or a device limit (zero-length
 * descriptors, chains spanning regions, segment arrays) name none: the spec does not
 * forbid them. */
#ifndef VS_SIM_VHOST_JUDGE_H
#define VS_SIM_VHOST_JUDGE_H

#include <stdint.h>

#include "virtiosim/conformance.h"
#include "virtiosim/event.h"

/* For a VS_EV_DEVICE_ERROR naming a ring rule: records the driver violation in mon
 * (features: the driver's, for rules that depend on ACCESS_PLATFORM). Other events: no-op.
 * Returns 0, or < 0 when the monitors refused the record (message in e). */
int vs_vhost_judge_rejection(vs_monitors *mon, uint64_t features, const vs_event *ev, vs_err *e);

#endif
