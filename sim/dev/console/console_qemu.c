/* virtio-console on QEMU: virtio-serial-pci with a virtconsole (a console port) or a
 * virtserialport per port of the scenario, each on a socket chardev QEMU listens on; the
 * simulator connects to the ports whose host end is open and is their host end (writes,
 * reads). The sockets live in a private folder removed as soon as they are connected. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim/backend_dev.h"
#include "sim/dev/console/console_sim_int.h"
#include "virtiosim/qmp.h"

#define ARGS_MAX (4 + 4 * CON_PORTS)

typedef struct con_qemu {
    char dir[64];                     /* "" once removed */
    int fd[CON_PORTS];                /* the host end of each port, -1: not connected */
    bool want[CON_PORTS];             /* a port QEMU has (its chardev exists) */
    const char *argv[ARGS_MAX + 1];
    char str[ARGS_MAX][224];
    unsigned argc;
} con_qemu;

static void add(con_qemu *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(con_qemu *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->str[q->argc], sizeof q->str[0], fmt, ap);
    va_end(ap);
    q->argv[q->argc] = q->str[q->argc];
    q->argc++;
}

static void remove_dir(con_qemu *q)
{
    if (!q->dir[0])
        return;
    for (uint32_t i = 0; i < CON_PORTS; i++)
        if (q->want[i]) {
            char p[128];
            snprintf(p, sizeof p, "%s/p%u", q->dir, i);
            unlink(p);
        }
    rmdir(q->dir);
    q->dir[0] = '\0';
}

int con_qemu_args(vs_run_ctx *c, const char *const **argv, vs_err *e)
{
    const con_scn_opts *o = con_opts_of(c->s);
    con_qemu *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    c->be_state = q;
    for (uint32_t i = 0; i < CON_PORTS; i++)
        q->fd[i] = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(q->dir, sizeof q->dir, "%s/vscon-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp
                                                                                    : "/tmp");
    if (!mkdtemp(q->dir)) {
        q->dir[0] = '\0';
        return vs_err_set(e, VS_EIO, "console: socket folder: %s", strerror(errno));
    }
    uint32_t n = o->dev.multiport ? o->dev.max_nr_ports : 1;
    add(q, "-device");
    /* a vector per queue and the config vector (QEMU's default is 2) */
    add(q, "virtio-serial-pci,disable-legacy=on,max_ports=%u,vectors=%u,emergency-write=%s",
        n, vs_console_num_queues(true, n) + 1, o->dev.emerg_write ? "on" : "off");
    for (uint32_t i = 0; i < n; i++) {
        const vs_console_port_opts *po = &o->dev.port[i];
        if (!(o->dev.multiport ? po->added : i == 0))
            continue;
        q->want[i] = true;
        add(q, "-chardev");
        add(q, "socket,id=vscon%u,path=%s/p%u,server=on,wait=off", i, q->dir, i);
        add(q, "-device");
        add(q, "%s,id=vsport%u,chardev=vscon%u,nr=%u%s%s",
            po->console ? "virtconsole" : "virtserialport", i, i, i, po->name[0] ? ",name=" : "",
            po->name);
    }
    q->argv[q->argc] = NULL;
    *argv = q->argv;
    return 0;
}

void con_qemu_teardown(vs_run_ctx *c)
{
    con_qemu *q = c->be_state;
    if (!q)
        return;
    for (uint32_t i = 0; i < CON_PORTS; i++)
        if (q->fd[i] >= 0)
            close(q->fd[i]);
    remove_dir(q);
    free(q);
    c->be_state = NULL;
}

/* Our end of port i's chardev, whose socket is dir/p<i>. */
static int connect_port(con_qemu *q, const char *dir, uint32_t i, vs_err *e)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/p%u", dir, i);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EBACKEND, "console: port %u's chardev %s: %s", i, a.sun_path,
                          strerror(err));
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    q->fd[i] = fd;
    return 0;
}

/* A port hot-added through QMP: a socket chardev QEMU listens on (in a folder of its own,
 * gone once we are connected), a virtconsole / virtserialport on it, our host end. */
int con_qemu_port_add(vs_run_ctx *c, uint32_t port, const vs_console_port_opts *po, vs_err *e)
{
    con_qemu *q = c->be_state;
    vs_qmp *qmp = vs_backend_qmp(c);
    if (!q || !qmp || port >= CON_PORTS)
        return vs_err_set(e, VS_ENOTSUP, "console: no QEMU to hot-plug port %u into", port);
    const char *tmp = getenv("TMPDIR");
    char dir[64], sock[128];
    snprintf(dir, sizeof dir, "%s/vscon-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return vs_err_set(e, VS_EIO, "console: socket folder: %s", strerror(errno));
    snprintf(sock, sizeof sock, "%s/p%u", dir, port);
    int rc = vs_qmp_executef(qmp, e, "chardev-add", "{\"id\": \"vscon%u\", \"backend\": "
                             "{\"type\": \"socket\", \"data\": {\"addr\": {\"type\": \"unix\", "
                             "\"data\": {\"path\": \"%s\"}}, \"server\": true, \"wait\": false}}}",
                             port, sock);
    if (rc == 0)
        rc = vs_qmp_executef(qmp, e, "device_add", "{\"driver\": \"%s\", \"id\": \"vsport%u\", "
                             "\"chardev\": \"vscon%u\", \"nr\": %u%s%s%s}",
                             po->console ? "virtconsole" : "virtserialport", port, port, port,
                             po->name[0] ? ", \"name\": \"" : "", po->name,
                             po->name[0] ? "\"" : "");
    if (rc == 0 && po->host_open)
        rc = connect_port(q, dir, port, e);
    unlink(sock);
    rmdir(dir);
    return rc;
}

/* device_del until QEMU says DEVICE_DELETED, then the chardev goes. */
int con_qemu_port_remove(vs_run_ctx *c, uint32_t port, vs_err *e)
{
    con_qemu *q = c->be_state;
    vs_qmp *qmp = vs_backend_qmp(c);
    if (!q || !qmp || port >= CON_PORTS)
        return vs_err_set(e, VS_ENOTSUP, "console: no QEMU to remove port %u from", port);
    char id[32];
    snprintf(id, sizeof id, "vsport%u", port);
    int rc = vs_qmp_executef(qmp, e, "device_del", "{\"id\": \"%s\"}", id);
    if (rc == 0)
        rc = vs_qmp_wait_event(qmp, "DEVICE_DELETED", "device", id, 5000, NULL, 0, e);
    if (q->fd[port] >= 0)
        close(q->fd[port]);
    q->fd[port] = -1;
    if (rc == 0)
        rc = vs_qmp_executef(qmp, e, "chardev-remove", "{\"id\": \"vscon%u\"}", port);
    return rc;
}

/* The host ends of the ports whose host end is open: connected once, after QEMU runs. */
int con_qemu_connect(vs_run_ctx *c, vs_err *e)
{
    con_qemu *q = c->be_state;
    const con_scn_opts *o = con_opts_of(c->s);
    if (!q || !q->dir[0])
        return 0;
    for (uint32_t i = 0; i < CON_PORTS; i++) {
        if (!q->want[i] || !o->dev.port[i].host_open)
            continue;
        int rc = connect_port(q, q->dir, i, e);
        if (rc < 0)
            return rc;
    }
    remove_dir(q);
    return 0;
}

bool con_qemu_is(const vs_run_ctx *c)
{
    return c->real && c->be_state != NULL;
}

int con_qemu_write(vs_run_ctx *c, uint32_t port, const uint8_t *buf, size_t n, vs_err *e)
{
    con_qemu *q = c->be_state;
    if (!q || port >= CON_PORTS || q->fd[port] < 0)
        return vs_err_set(e, VS_ESTATE, "console: port %u has no connected host end", port);
    for (size_t off = 0; off < n;) {
        ssize_t k = write(q->fd[port], buf + off, n - off);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return vs_err_set(e, VS_EBACKEND, "console: port %u: %s", port, strerror(errno));
        /* QEMU takes more once the guest has buffers: let the driver give them */
        return (int)off;
    }
    return (int)n;
}

size_t con_qemu_read(vs_run_ctx *c, uint32_t port, uint8_t *buf, size_t cap)
{
    con_qemu *q = c->be_state;
    if (!q || port >= CON_PORTS || q->fd[port] < 0)
        return 0;
    ssize_t k = read(q->fd[port], buf, cap);
    return k > 0 ? (size_t)k : 0;
}

