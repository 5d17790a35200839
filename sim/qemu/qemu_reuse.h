/* One QEMU kept between scenarios (virtiosim/qemu.h, "Reusing QEMU"): what the transport
 * parks at destroy and takes back at create. Process-wide, a few places, not thread-safe. */
#ifndef VIRTIOSIM_QEMU_REUSE_H
#define VIRTIOSIM_QEMU_REUSE_H

#include <stdbool.h>
#include <stddef.h>

#include "virtiosim/qemu.h"

#include "irqfd.h"
#include "qemu_proc.h"

typedef struct vs_qemu_parked {
    char *key;                  /* what it was started with (qr_key) */
    vs_qemu *qemu;
    vs_irqfd_bridge *irqfd;
    vs_qmp *qmp;
    const vs_gmem *gm;          /* the guest memory it maps */
    int cpu;                    /* same_cpu: the CPU QEMU is pinned to, whose claim
                                   (cpu_claim.h) the place holds; else -1 */
    unsigned takes;             /* scenarios that took it from the park so far */
} vs_qemu_parked;

/* The key of a start (binary, machine, memory size, options, the device's arguments), or
 * NULL when such a QEMU must not be reused: blkdebug (its rules have state), a /proc/PID/
 * fd/N path other than the scratch image (the same text may name another file later). */
char *qr_key(const vs_qemu_backend_opts *o, uint64_t mem_size, const char *const *args);
/* Moves a parked QEMU into *out when its key is key and it maps gm: true. Otherwise
 * false; the parked ones stay (those found dead are let go). */
bool qr_take(const char *key, const vs_gmem *gm, vs_qemu_parked *out);
/* Keeps p (taking ownership); when every place is taken, the parked QEMU taken least
 * often (of those, the one parked longest ago) is stopped. */
void qr_park(vs_qemu_parked *p);
/* Counts a QEMU started afresh (vs_qemu_reuse_counts). */
void qr_note_start(void);
/* Stops p's QEMU and frees what it holds. */
void qr_release(vs_qemu_parked *p);

#endif
