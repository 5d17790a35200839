/* How QEMU presents virtio-blk (layer 4, the blk slice: sim/dev/blk/blk_qemu.c): the
 * `-device virtio-blk-pci` and `-blockdev` arguments of the "qemu" back-end
 * (virtiosim/qemu.h), with blkdebug error injection. */
#ifndef VIRTIOSIM_BLK_QEMU_H
#define VIRTIOSIM_BLK_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/qemu.h"

enum vs_qemu_blkdebug_event {
    VS_QEMU_BLKDBG_READ_AIO = 0,   /* blkdebug event "read_aio" */
    VS_QEMU_BLKDBG_WRITE_AIO = 1,  /* blkdebug event "write_aio" */
};

/* One blkdebug inject-error rule: requests touching `sector` (512-byte units; -1 = any)
 * fail with errno err_no (positive, e.g. EIO = 5); once = only the first match. */
typedef struct vs_qemu_blkdebug_rule {
    enum vs_qemu_blkdebug_event event;
    int64_t sector;
    int err_no;
    bool once;
} vs_qemu_blkdebug_rule;

typedef struct vs_qemu_blk_params {
    uint64_t capacity;       /* bytes (multiple of 512) for null-co; ignored with image */
    const char *image;       /* raw image file; NULL = null-co (reads return zeroes) */
    bool read_only;          /* blockdev read-only=on -> device offers VIRTIO_BLK_F_RO */
    uint16_t num_queues;     /* 0 = QEMU's default (1 with -smp 1) */
    uint16_t queue_size;     /* 0 = QEMU's default (256) */
    bool packed;             /* offer VIRTIO_F_RING_PACKED */
    bool event_idx;          /* offer VIRTIO_F_EVENT_IDX */
    bool indirect_desc;      /* offer VIRTIO_F_INDIRECT_DESC */
    const char *serial;      /* NULL = none; commas are escaped */
    bool discard;            /* offer VIRTIO_BLK_F_DISCARD */
    bool write_zeroes;       /* offer VIRTIO_BLK_F_WRITE_ZEROES */
    bool ioeventfd;          /* QEMU's ioeventfd for kicks (its default: on) */
    bool in_order;           /* in_order=on: offer VIRTIO_F_IN_ORDER (QEMU 9.1 and later;
                                an older QEMU refuses the property) */
    const vs_qemu_blkdebug_rule *rules;  /* blkdebug rules (raw over blkdebug over image) */
    size_t n_rules;
    bool io_uring;           /* image: aio=io_uring (vs_qemu_io_uring_usable) */
    bool unlocked;           /* image: locking=off (a scratch image that parked QEMUs,
                                idle, hold open too: vs_qemu_reuse_scratch_at) */
} vs_qemu_blk_params;

/* capacity 64 MiB, null-co, read-write, QEMU default queues/size, split ring, event_idx,
 * indirect_desc, discard, write_zeroes and ioeventfd on, no serial, no rules. */
void vs_qemu_blk_params_default(vs_qemu_blk_params *p);

/* Builds
 *   -device virtio-blk-pci,disable-legacy=on,drive=vsd0,rerror=report,werror=report,
 *           num-queues=N,queue-size=N,packed=on|off,event_idx=on|off,
 *           indirect_desc=on|off,discard=on|off,write-zeroes=on|off,ioeventfd=..,serial=..
 *   -blockdev driver=null-co,node-name=vsd0,size=N,read-zeroes=on[,read-only=on]
 *   | -blockdev driver=file,node-name=vsd0,[aio=io_uring,][locking=off,]filename=PATH
 *               [,read-only=on]
 *   | -blockdev driver=raw,node-name=vsd0,file.driver=blkdebug,
 *               file.inject-error.I.event=read_aio|write_aio,file.inject-error.I.errno=N,
 *               file.inject-error.I.sector=N,file.inject-error.I.once=on|off,
 *               file.image.driver=file|null-co,...
 * (raw on top because blkdebug rules fire on the read_aio/write_aio events the raw
 * format driver emits.)  -VS_EINVAL for bad parameters or if it does not fit. */
int vs_qemu_blk_args(const vs_qemu_blk_params *p, vs_qemu_args *out, vs_err *e);

#endif
