#define _GNU_SOURCE
#include "irqfd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHM_SIZE 4096u /* a power of two: it becomes ivshmem's BAR2 */

struct vs_irqfd_bridge {
    unsigned nvec;
    int ours, qemus; /* socketpair ends */
    int efd[VS_IRQFD_MAX_VECTORS];
    char chardev[64];
    char device[128];
};

/* One protocol message: value, optionally with one fd (SCM_RIGHTS). */
static int send_msg(int sock, int64_t value, int fd, vs_err *e)
{
    uint8_t buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)value >> (8 * i));
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
    union {
        char raw[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        m.msg_control = ctl.raw;
        m.msg_controllen = sizeof ctl.raw;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    while ((n = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof buf)
        return vs_err_set(e, VS_EIO, "irqfd bridge: sendmsg: %s",
                          n < 0 ? strerror(errno) : "short write");
    return 0;
}

int vs_irqfd_bridge_create(vs_irqfd_bridge **out, unsigned nvec, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "irqfd bridge: no output");
    *out = NULL;
    if (nvec == 0 || nvec > VS_IRQFD_MAX_VECTORS)
        return vs_err_set(e, VS_EINVAL, "irqfd bridge: %u vectors (1..%u)", nvec,
                          VS_IRQFD_MAX_VECTORS);
    vs_irqfd_bridge *b = calloc(1, sizeof *b);
    if (!b)
        return vs_err_set(e, VS_ENOMEM, "irqfd bridge: out of memory");
    b->nvec = nvec;
    b->ours = b->qemus = -1;
    for (unsigned v = 0; v < VS_IRQFD_MAX_VECTORS; v++)
        b->efd[v] = -1;
    int rc = 0, shm = -1, sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = vs_err_set(e, VS_EIO, "irqfd bridge: socketpair: %s", strerror(errno));
        goto fail;
    }
    b->ours = sv[0];
    b->qemus = sv[1];
    for (unsigned v = 0; v < nvec; v++)
        if ((b->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
            rc = vs_err_set(e, VS_EIO, "irqfd bridge: eventfd: %s", strerror(errno));
            goto fail;
        }
    shm = memfd_create("virtiosim-ivshmem", MFD_CLOEXEC);
    if (shm < 0 || ftruncate(shm, SHM_SIZE) != 0) {
        rc = vs_err_set(e, VS_EIO, "irqfd bridge: memfd: %s", strerror(errno));
        goto fail;
    }
    if ((rc = send_msg(b->ours, 0, -1, e)) < 0 ||          /* protocol version */
        (rc = send_msg(b->ours, 0, -1, e)) < 0)            /* QEMU's own ID */
        goto fail;
    for (unsigned v = 0; v < nvec; v++)                     /* peer 1, vector v */
        if ((rc = send_msg(b->ours, VS_IRQFD_PEER, b->efd[v], e)) < 0)
            goto fail;
    if ((rc = send_msg(b->ours, -1, shm, e)) < 0)           /* shared memory: ends setup */
        goto fail;
    close(shm);
    snprintf(b->chardev, sizeof b->chardev, "socket,id=vs-irqfd,fd=%d", b->qemus);
    snprintf(b->device, sizeof b->device,
             "ivshmem-doorbell,id=vs-irqfd,chardev=vs-irqfd,vectors=%u,addr=0x%x", nvec,
             VS_IRQFD_PCI_SLOT);
    *out = b;
    return 0;
fail:
    if (shm >= 0)
        close(shm);
    vs_irqfd_bridge_destroy(b);
    return rc;
}

int vs_irqfd_bridge_qemu_fd(const vs_irqfd_bridge *b) { return b ? b->qemus : -1; }
const char *vs_irqfd_bridge_chardev_arg(const vs_irqfd_bridge *b) { return b->chardev; }
const char *vs_irqfd_bridge_device_arg(const vs_irqfd_bridge *b) { return b->device; }
unsigned vs_irqfd_bridge_vectors(const vs_irqfd_bridge *b) { return b ? b->nvec : 0; }

void vs_irqfd_bridge_release_qemu_end(vs_irqfd_bridge *b)
{
    if (b && b->qemus >= 0) {
        close(b->qemus);
        b->qemus = -1;
    }
}

int vs_irqfd_bridge_fd(const vs_irqfd_bridge *b, unsigned v)
{
    return b && v < b->nvec ? b->efd[v] : -1;
}

uint32_t vs_irqfd_bridge_msi_data(unsigned v)
{
    return (VS_IRQFD_PEER << 16) | (v & 0xffffu);
}

void vs_irqfd_bridge_destroy(vs_irqfd_bridge *b)
{
    if (!b)
        return;
    if (b->ours >= 0)
        close(b->ours);
    vs_irqfd_bridge_release_qemu_end(b);
    for (unsigned v = 0; v < VS_IRQFD_MAX_VECTORS; v++)
        if (b->efd[v] >= 0)
            close(b->efd[v]);
    free(b);
}
