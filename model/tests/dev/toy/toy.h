/* "toy": a tiny virtio device that exists only for the unit tests. It proves that a device
 * type is added by one folder per layer and nothing else: the core never names it, it is
 * listed only in the registries the test build generates (Makefile: TOY_DIRS).
 *
 * The device (id 63, unassigned by the spec) has one queue. A request is a chain of
 * device-readable buffers followed by device-writable ones; the device copies the readable
 * bytes into the writable ones (as many as fit) and uses the chain with that length.
 * Config: le32 max_bytes (4096). Feature VIRTIO_TOY_F_ECHO (bit 0) is offered. */
#ifndef VIRTIOSIM_TEST_TOY_H
#define VIRTIOSIM_TEST_TOY_H

#include <stdint.h>

#include "virtiosim/device.h"

#define VS_TOY_DEVICE_ID 63u
#define VS_TOY_F_ECHO 0u
#define VS_TOY_MAX_BYTES 4096u
#define VS_TOY_MUT_SHORT_LEN 1u  /* mutant: used length one less than it copied */

int vs_toy_create(vs_device **out, vs_gmem *gm, uint32_t mutations, vs_err *e);

#endif
