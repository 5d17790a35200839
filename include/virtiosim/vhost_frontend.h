/* The "vhost-user" back-end: a vs_transport (virtio.h) that plays the vhost-user
 * FRONT-END (the role QEMU plays for vhost-user-blk-pci) against a back-end listening on
 * a unix socket (qemu-storage-daemon, the virtiosim server, any libvhost-user device).
 *
 * Message codec: the vhost-user header/payload layout, request names and payload
 * validation come from virtiosim/vhost.h (model/vhost.c).  This file only does the I/O:
 * sendmsg with SCM_RIGHTS, recvmsg, per-message wall-clock timeouts (poll), and strict
 * checking of every reply: header size/request/flags (VERSION 1, REPLY set), payload
 * size for the request, no stray fds, sane values.  A bad reply is -VS_EPROTO naming what
 * was wrong ("GET_FEATURES reply: request 3, expected 1"); no reply within msg_timeout_ms
 * is -VS_ETIMEDOUT; a closed/reset socket is -VS_EBACKEND.  After any of these the
 * connection is considered dead (a reply stream that lost sync cannot be trusted) and
 * every later call returns -VS_EBACKEND until vs_vhost_user_reconnect.
 *
 * Bring-up in vs_transport terms
 *   create: connect (retrying ECONNREFUSED/ENOENT for connect_timeout_ms), GET_FEATURES,
 *     and if VHOST_USER_F_PROTOCOL_FEATURES (bit 30) is offered GET_PROTOCOL_FEATURES ->
 *     SET_PROTOCOL_FEATURES (offered & what we implement: MQ, REPLY_ACK, CONFIG),
 *     SET_OWNER, GET_QUEUE_NUM (MQ), GET_CONFIG (CONFIG).  With REPLY_ACK negotiated every
 *     request without a natural reply carries NEED_REPLY and its ack is checked (non-zero
 *     ack: -VS_EIO naming the request).
 *   get_device_features: the GET_FEATURES value without the vhost-only bits
 *     (PROTOCOL_FEATURES 30, VHOST_F_LOG_ALL 26).
 *   set_driver_features: SET_FEATURES(f | bit 30 when it was offered).
 *   status: vhost-user has no status register, so the front-end EMULATES the status
 *     machine (like QEMU's vhost-user-blk device model): the status reads back what the
 *     driver wrote, except FEATURES_OK, which sticks iff the driver's features are a
 *     subset of the offered ones (and SET_FEATURES succeeded).  Writing DRIVER_OK starts
 *     every queue that was set up (see queue_setup).  Writing 0 (reset) stops every
 *     started ring with GET_VRING_BASE (the back-end stops processing it), then forgets
 *     all queue state; the next DRIVER_OK replays SET_FEATURES + the queue sequence.
 *     A back-end that died makes set_status(0) still succeed locally (status 0) but the
 *     next message fails with -VS_EBACKEND.  reset (transport op) reconnects to a
 *     back-end that went away, and still returns what went wrong: a bad GET_VRING_BASE
 *     reply (-VS_EPROTO: wrong request, wrong ring index), none in time (-VS_ETIMEDOUT),
 *     a close instead (-VS_EBACKEND), or a connection lost while the device ran that
 *     the driver never saw as DEVICE_NEEDS_RESET (-VS_EIO: the back-end lost the
 *     device's state; otherwise only wrong data would show it).
 *   config_read: GET_CONFIG of the whole device config (the size its device class gives,
 *     model/device_class.h: what QEMU 7.2 / libvhost-user back-ends accept, since qsd
 *     answers any other size with a zero-length reply) on every read, because the back-end may
 *     change it (capacity after a resize).  A zero-length reply is -VS_EIO.  Without the CONFIG protocol
 *     feature: -VS_ENOTSUP.  config_write: SET_CONFIG.  config_generation: a local counter
 *     bumped when a GET_CONFIG shows different bytes from the previous one.
 *   num_queues: GET_QUEUE_NUM when MQ was negotiated, else the config's queue count
 *     where the device class has one (blk: num_queues, when VIRTIO_BLK_F_MQ is offered),
 *     else 1; capped at VS_VHOST_FE_MAX_QUEUES.
 *   queue_max_size: opts.queue_max_size, default 1024 = VIRTQUEUE_MAX_SIZE, the largest
 *     queue-size QEMU's own vhost-user-blk-pci front-end accepts (its default is 128).
 *     vhost-user has no message to ask a back-end for its limit; qemu-storage-daemon 7.2
 *     acks any SET_VRING_NUM without checking it.
 *   queue_setup: records the layout.  The vhost-user messages go out at DRIVER_OK (or
 *     immediately if DRIVER_OK is already set): SET_MEM_TABLE once per connection (ONE
 *     region: the whole memfd of gm, guest_phys_addr 0, memory_size = file size,
 *     userspace_addr = vs_gmem_host_base, mmap_offset 0, the memfd over SCM_RIGHTS; gm
 *     must be one flat RAM region at GPA 0 = file offset 0, vs_gmem_create_flat),
 *     then per queue SET_VRING_NUM, SET_VRING_BASE(0), SET_VRING_ADDR (user addresses =
 *     host_base + gpa; flags 0), SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR (three
 *     eventfds we own), and SET_VRING_ENABLE(1) when PROTOCOL_FEATURES was negotiated.
 *     Packed rings start at SET_VRING_BASE 0x8000 (index 0, wrap counter 1, as QEMU
 *     sends); whether the back-end supports them is its GET_FEATURES business.
 *   queue_disable: GET_VRING_BASE for that ring (stops it).
 *   notify: write(kick eventfd, 1).
 *   wait(timeout): poll() on every call eventfd, every err eventfd and the socket
 *     (EOF/HUP = back-end death -> -VS_EBACKEND).  A readable call eventfd is read and
 *     delivered as t->irq_fn(opaque, queue) + VS_EV_IRQ (val = queue); an err eventfd is
 *     reported as VS_EV_NOTE and sets DEVICE_NEEDS_RESET in the emulated status + a
 *     config interrupt.  VS_IRQ_POLL: call eventfds are drained but not delivered, and a
 *     timeout below 1 ms returns 0 right after one non-blocking look (socket included).
 *     Calls and kicks are counted (vs_vhost_user_stats).  Before blocking, wait() spins
 *     for spin_ns on the call eventfds (non-blocking reads), which is what makes high
 *     request rates possible against a back-end on another CPU.
 *   read_isr: 0.
 *   destroy: GET_VRING_BASE on every started ring (errors ignored), close socket and fds.
 *
 * Reconnect: when the back-end restarted (socket closed -> -VS_EBACKEND),
 * vs_vhost_user_reconnect connects again (connect_timeout_ms), redoes GET_FEATURES /
 * protocol negotiation / SET_OWNER, checks the back-end still offers every feature the
 * driver negotiated (-VS_EBACKEND otherwise), sends SET_FEATURES, and if DRIVER_OK was
 * set replays SET_MEM_TABLE and every started queue with fresh eventfds.  The ring
 * position: vhost-user's GET_VRING_BASE cannot be asked of a dead back-end, so the
 * front-end resumes each split ring from the USED index in guest memory (what the old
 * back-end last completed): SET_VRING_BASE(used->idx).  Requests the driver published
 * but the old back-end had not completed are therefore fetched again by the new one
 * (exactly QEMU's vhost-user-blk reconnect behaviour with inflight tracking off: those
 * requests are re-executed; for reads and idempotent writes that is harmless).  A kick
 * is sent after the replay so the new back-end looks at the avail ring.  Packed rings:
 * -VS_ENOTSUP on reconnect with DRIVER_OK set (the used wrap counter is not recoverable
 * from memory alone).
 *
 * Ownership: the transport owns its socket and eventfds, not gm, not bus. */
#ifndef VIRTIOSIM_VHOST_FRONTEND_H
#define VIRTIOSIM_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"

#define VS_VHOST_FE_MAX_QUEUES 64u

typedef struct vs_vhost_fe_opts {
    uint32_t device_id;          /* what the back-end is (enum vs_device_id): required */
    enum vs_irq_mode irq_mode;   /* initial t->irq_mode */
    int msg_timeout_ms;          /* per reply; 0 = 2000 */
    int connect_timeout_ms;      /* create/reconnect; 0 = 5000 */
    uint32_t queue_max_size;     /* 0 = 1024 */
    bool no_reply_ack;           /* do not negotiate REPLY_ACK even if offered */
    uint64_t spin_ns;            /* wait(): busy-poll phase before poll(); 0 = 20000,
                                  * UINT64_MAX never spins */
} vs_vhost_fe_opts;

void vs_vhost_fe_opts_default(vs_vhost_fe_opts *o);

/* Connects to socket_path and negotiates (see above).  bus may be NULL. */
int vs_vhost_user_transport_create(vs_transport **out, vs_gmem *gm, const char *socket_path,
                                   const vs_vhost_fe_opts *o, vs_event_bus *bus, vs_err *e);

/* Same over an already connected stream socket (ownership passes to the transport even
 * on failure).  Used by tests with a socketpair. */
int vs_vhost_user_transport_create_fd(vs_transport **out, vs_gmem *gm, int fd,
                                      const vs_vhost_fe_opts *o, vs_event_bus *bus,
                                      vs_err *e);

bool vs_vhost_user_transport_is(const vs_transport *t);

/* Re-connects to the same socket path and replays the bring-up (see above). */
int vs_vhost_user_reconnect(vs_transport *t, vs_err *e);

typedef struct vs_vhost_fe_stats {
    uint64_t messages;           /* requests sent */
    uint64_t replies;            /* replies (incl. REPLY_ACK acks) received */
    uint64_t kicks;              /* eventfd writes */
    uint64_t calls;              /* call eventfd reads that returned a count */
    uint64_t polls;              /* poll() system calls made by wait() */
    uint64_t reconnects;
    uint64_t features;           /* GET_FEATURES as offered (incl. vhost bits) */
    uint64_t protocol_offered;   /* GET_PROTOCOL_FEATURES as offered */
    uint64_t protocol_features;  /* negotiated protocol features */
    uint16_t backend_queues;     /* GET_QUEUE_NUM (0 if not asked) */
} vs_vhost_fe_stats;

/* 0, or -VS_EINVAL if t is not a vhost-user transport. */
int vs_vhost_user_stats(const vs_transport *t, vs_vhost_fe_stats *st, vs_err *e);

/* ------------------------------------------------------------ qemu-storage-daemon
 * Starts
 *   qemu-storage-daemon
 *     --blockdev driver=file,node-name=disk0,filename=<img>[,read-only=on]
 *   | --blockdev driver=null-co,node-name=disk0,size=<bytes>,read-zeroes=on
 *     --export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,
 *              addr.path=<tmp>/vhost.sock,writable=on|off,num-queues=<n>
 *              [,logical-block-size=<n>]
 * in a private temp dir "<tmp>/virtiosim-qsd-XXXXXX" (socket, temp raw image made with
 * ftruncate, stderr), own process group, PR_SET_PDEATHSIG=SIGKILL, all fds but 0-2
 * closed; waits until the socket exists (or the daemon exits: -VS_EBACKEND quoting its
 * stderr; startup_timeout_ms: -VS_ETIMEDOUT).  A registry + vs_qsd_kill_all (async-
 * signal-safe) + vs_qsd_install_cleanup (atexit, SIGINT/SIGTERM/SIGHUP) make sure no
 * daemon outlives us.  Start it from a long-lived thread (PDEATHSIG is per thread). */

typedef struct vs_qsd vs_qsd;

typedef struct vs_qsd_opts {
    const char *qsd_path;        /* NULL: $VIRTIOSIM_QSD, else qemu-storage-daemon in PATH */
    const char *image;           /* existing raw image (kept); NULL: temp raw image of size */
    bool null_co;                /* null-co instead of a file (reads return zeroes) */
    uint64_t size;               /* temp image / null-co size in bytes; 0 = 64 MiB */
    bool read_only;
    uint16_t num_queues;         /* 0 = 1 */
    uint32_t logical_block_size; /* 0 = qsd's default (512) */
    int startup_timeout_ms;      /* 0 = 10000 */
    int stop_grace_ms;           /* SIGTERM -> SIGKILL; 0 = 2000 */
    const char *tmp_base;        /* NULL: $TMPDIR, else /tmp */
} vs_qsd_opts;

void vs_qsd_opts_default(vs_qsd_opts *o);

int vs_qsd_start(const vs_qsd_opts *o, vs_qsd **out, vs_err *e);
const char *vs_qsd_socket_path(const vs_qsd *q);
const char *vs_qsd_image_path(const vs_qsd *q);  /* NULL with null-co */
const char *vs_qsd_cmdline(const vs_qsd *q);
pid_t vs_qsd_pid(const vs_qsd *q);
/* stderr so far (last len-1 bytes), NUL-terminated; bytes copied. */
size_t vs_qsd_stderr_text(const vs_qsd *q, char *buf, size_t len);
/* 0 while running, else -VS_EBACKEND "qemu-storage-daemon exited ...; stderr: ...". */
int vs_qsd_check(vs_qsd *q, vs_err *e);
/* Sends sig (e.g. SIGKILL to simulate a crash) and reaps it if it was fatal. */
int vs_qsd_kill(vs_qsd *q, int sig, vs_err *e);
/* Starts the daemon again with the same arguments, image and socket path (after it died
 * or was killed; a running one is stopped first). */
int vs_qsd_restart(vs_qsd *q, vs_err *e);
/* SIGTERM, wait stop_grace_ms, SIGKILL, reap, remove socket / temp image / temp dir, free.
 * NULL-safe.  Returns 0 or a cleanup error (everything is freed regardless). */
int vs_qsd_stop(vs_qsd *q, vs_err *e);

/* "qemu-storage-daemon version 7.2.22 (Debian ...)" (first line of --version). */
int vs_qsd_version(const char *qsd_path, char *buf, size_t len, vs_err *e);

void vs_qsd_kill_all(void);
int vs_qsd_install_cleanup(vs_err *e);
int vs_qsd_live_count(void);

#endif
