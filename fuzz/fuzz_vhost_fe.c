/* libFuzzer harness: the vhost-user front-end (sim/vhost/frontend.c) against a hostile
 * back-end. The input is everything the back-end says: its replies, back to back, written
 * into the socket before the front-end starts, then the socket's write side is shut (so a
 * front-end waiting for more sees the back-end hang up at once instead of a timeout).
 * The front-end then does what a driver does: the handshake (create), status and
 * features, a config read, a queue set up and started, a kick, the queue stopped.
 *
 * Replies it expects in order (fuzz/gen_vhost_fe_corpus.py writes well-formed ones):
 * GET_FEATURES, GET_PROTOCOL_FEATURES, SET_OWNER's ack, GET_QUEUE_NUM, GET_CONFIG, then
 * SET_FEATURES' ack, GET_CONFIG, the queue's acks, GET_VRING_BASE.
 * Invariants (abort = finding): every call returns 0 or an error value with a message;
 * no crash, no out-of-bounds access, no leak, and the transport always tears down. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtiosim/gmem.h"
#include "virtiosim/vhost_frontend.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

/* A broken invariant: say which, then abort (libFuzzer records the input). */
#define check(cond) check_at((cond), __LINE__)
static void check_at(int cond, int line)
{
    if (!cond) {
        fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vs_gmem *gm;

static void rc_ok(int rc, const vs_err *e)
{
    check(rc == 0 || (rc < 0 && e->msg[0] != '\0'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vs_err e;
    if (!gm)
        check(vs_gmem_create_flat(&gm, 1u << 20, &e) == 0);
    if (size > 64 * 1024)
        return 0;
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int buf = 256 * 1024;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    vs_vhost_fe_opts o;
    vs_vhost_fe_opts_default(&o);
    o.device_id = VS_DEV_BLK;
    o.msg_timeout_ms = 50;
    o.connect_timeout_ms = 50;
    o.irq_mode = VS_IRQ_POLL;
    vs_transport *t = NULL;
    vs_err_clear(&e);
    int rc = vs_vhost_user_transport_create_fd(&t, gm, sv[0], &o, NULL, &e);
    rc_ok(rc, &e);
    if (rc == 0) {
        uint8_t st, cfg[8];
        uint64_t f;
        uint16_t nq;
        uint32_t qmax = 0;
        vs_err_clear(&e);
        rc_ok(t->ops->get_status(t, &st, &e), &e);
        rc_ok(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, &e), &e);
        if (t->ops->get_device_features(t, &f, &e) == 0)
            rc_ok(t->ops->set_driver_features(t, f & (UINT64_C(1) << VS_F_VERSION_1), &e), &e);
        rc_ok(t->ops->config_read(t, 0, cfg, sizeof cfg, &e), &e);
        if (t->ops->num_queues(t, &nq, &e) == 0 && nq > 0 &&
            t->ops->queue_max_size(t, 0, &qmax, &e) == 0 && qmax > 0) {
            vs_vq_layout l = {.format = VS_RING_SPLIT, .size = 8, .desc_gpa = 0x1000,
                              .driver_gpa = 0x2000, .device_gpa = 0x3000};
            if (t->ops->queue_setup(t, 0, &l, &e) == 0) {
                rc_ok(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                                VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK,
                                         &e), &e);
                rc_ok(t->ops->notify(t, 0, &e), &e);
                rc_ok(t->ops->queue_disable(t, 0, &e), &e);
            }
        }
        t->ops->destroy(t);
    }
    close(sv[1]);
    return 0;
}
