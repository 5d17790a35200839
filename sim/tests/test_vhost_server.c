/* End-to-end tests of the vhost-user server (sim/vhost/server.c): a raw vhost-user client
 * written here (using only the shared codec) talks to the server over a temporary unix
 * socket; the server runs in a thread. Bring-up, blk OUT/IN through kick/call eventfds,
 * GET_VRING_BASE, then hostile front-ends; the server must survive and serve the next
 * connection, and no fd may leak. */
#define _GNU_SOURCE
#include "virtiosim/blk.h"
#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vhost.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PF(b) (UINT64_C(1) << (b))

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ server thread */

typedef struct srv {
    vs_gmem *dummy;
    vs_device *dev;
    vs_vhost_server *s;
    pthread_t th;
    char path[108];
    char dir[64];
    int disconnects;
} srv;

static void on_disc(void *op, uint64_t id, const vs_vhost_server_stats *st, const char *why)
{
    (void)id;
    (void)st;
    (void)why;
    __atomic_add_fetch(&((srv *)op)->disconnects, 1, __ATOMIC_SEQ_CST);
}

static void quiet(void *op, int level, const char *line)
{
    (void)op;
    (void)level;
    (void)line;
}

static void *srv_main(void *arg)
{
    srv *x = arg;
    vs_err e = {0};
    vs_vhost_server_run(x->s, 0, &e);
    return NULL;
}

static void srv_start_opts(srv *x, vs_event_bus *bus, uint32_t poll_ns)
{
    memset(x, 0, sizeof *x);
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&x->dummy, 4096, &e), 0);
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.capacity_sectors = 2048;
    ck_assert_msg(vs_blk_create(&x->dev, x->dummy, &o, &e) == 0, "%s", e.msg);
    vs_vhost_server_opts so = {.dev = x->dev, .on_disconnect = on_disc, .disconnect_opaque = x,
                               .log = quiet, .io_timeout_ms = 500, .bus = bus,
                               .poll_ns = poll_ns};
    ck_assert_int_eq(vs_vhost_server_create(&x->s, &so, &e), 0);
    snprintf(x->dir, sizeof x->dir, "/tmp/vs-vhost-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(x->dir));
    snprintf(x->path, sizeof x->path, "%s/sock", x->dir);
    ck_assert_msg(vs_vhost_server_listen(x->s, x->path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(pthread_create(&x->th, NULL, srv_main, x), 0);
}

static void srv_start(srv *x) { srv_start_opts(x, NULL, 0); }

static void srv_stop(srv *x)
{
    vs_vhost_server_stop(x->s);
    pthread_join(x->th, NULL);
    vs_vhost_server_destroy(x->s);
    x->dev->ops->destroy(x->dev);
    vs_gmem_destroy(x->dummy);
    rmdir(x->dir);
}

static void wait_disconnects(srv *x, int n)
{
    for (int i = 0; i < 500 && __atomic_load_n(&x->disconnects, __ATOMIC_SEQ_CST) < n; i++)
        usleep(10000);
    ck_assert_int_ge(__atomic_load_n(&x->disconnects, __ATOMIC_SEQ_CST), n);
}

/* ------------------------------------------------------------------ raw client */

static int cl_connect(const srv *x)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, x->path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void cl_send_raw(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr a;
    } ctl;
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        memset(&ctl, 0, sizeof ctl); /* padding bytes go over the socket too */
        mh.msg_control = ctl.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    ck_assert_int_eq(n, (ssize_t)len);
}

static void cl_send(int fd, const vs_vhost_msg *m, const int *fds, unsigned nfds)
{
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    vs_err e = {0};
    int n = vs_vhost_msg_encode(m, buf, sizeof buf, &e);
    ck_assert_msg(n > 0, "%s", e.msg);
    cl_send_raw(fd, buf, (size_t)n, fds, nfds);
}

/* Reads one reply; returns 0, or -1 on EOF / timeout. */
static int cl_recv(int fd, const vs_vhost_msg *req, vs_vhost_msg *rep)
{
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    size_t got = 0, need = 12;
    while (got < need) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 3000) <= 0)
            return -1;
        ssize_t n = recv(fd, buf + got, need - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        if (got == 12 && need == 12) {
            uint32_t sz;
            memcpy(&sz, buf + 8, 4);
            ck_assert_uint_le(sz, VS_VHOST_USER_PAYLOAD_MAX);
            need = 12 + sz;
        }
    }
    vs_err e = {0};
    const char *rule = NULL;
    ck_assert_msg(vs_vhost_msg_decode(buf, got, VS_VHOST_DIR_REPLY, 0, rep, &rule, &e) == 0,
                  "reply: %s", e.msg);
    ck_assert_msg(vs_vhost_check_reply(req, rep, &rule, &e) == 0, "reply: %s", e.msg);
    return 0;
}

static vs_vhost_msg req(uint32_t r)
{
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, r, VS_VHOST_DIR_REQUEST);
    return m;
}

static vs_vhost_msg req_u64(uint32_t r, uint64_t v)
{
    vs_vhost_msg m = req(r);
    m.p.u64 = v;
    return m;
}

static vs_vhost_msg req_state(uint32_t r, uint32_t i, uint32_t n)
{
    vs_vhost_msg m = req(r);
    m.p.state = (vs_vhost_vring_state){i, n};
    return m;
}

static uint64_t cl_call_u64(int fd, vs_vhost_msg m)
{
    cl_send(fd, &m, NULL, 0);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(fd, &m, &rep), 0);
    return rep.p.u64;
}

/* Sends with NEED_REPLY and returns the ack value. */
static uint64_t cl_ack(int fd, vs_vhost_msg m, const int *fds, unsigned nfds)
{
    m.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    cl_send(fd, &m, fds, nfds);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(fd, &m, &rep), 0);
    return rep.p.u64;
}

/* A complete front-end: guest memory, one split ring of 64, kick/call/err eventfds. */
typedef struct fe {
    int sock;
    vs_gmem *gm;
    vs_vq_layout l;
    vs_vq_drv *q;
    int kick, call, err;
    uint64_t data_gpa;
} fe;

static uint64_t ua(const fe *f, uint64_t gpa) { return (uint64_t)(uintptr_t)vs_gmem_host_base(f->gm) + gpa; }

/* Features, memory table and ring 0 (kick, call, and err when with_err), as a front-end
 * sends them at every device start. */
static void fe_start(fe *f, bool with_event_idx, bool with_err)
{
    vs_err e = {0};
    uint64_t fset = PF(VS_F_VERSION_1) | PF(VS_VHOST_F_PROTOCOL_FEATURES) |
                    (with_event_idx ? PF(VS_F_EVENT_IDX) : 0);
    ck_assert_uint_eq(cl_ack(f->sock, req_u64(VS_VHOST_USER_SET_FEATURES, fset), NULL, 0), 0);
    vs_vhost_msg mt = req(VS_VHOST_USER_SET_MEM_TABLE);
    mt.p.mem.nregions = 1;
    mt.p.mem.region[0] = (vs_vhost_mem_region){0, vs_gmem_file_size(f->gm), ua(f, 0), 0};
    int mfd = vs_gmem_fd(f->gm);
    ck_assert_uint_eq(cl_ack(f->sock, mt, &mfd, 1), 0);
    ck_assert_uint_eq(cl_ack(f->sock, req_state(VS_VHOST_USER_SET_VRING_NUM, 0, 64), NULL, 0), 0);
    ck_assert_uint_eq(cl_ack(f->sock, req_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0), NULL, 0), 0);
    vs_vhost_msg a = req(VS_VHOST_USER_SET_VRING_ADDR);
    a.p.addr = (vs_vhost_vring_addr){0, 0, ua(f, f->l.desc_gpa), ua(f, f->l.device_gpa),
                                     ua(f, f->l.driver_gpa), 0};
    ck_assert_uint_eq(cl_ack(f->sock, a, NULL, 0), 0);
    if (f->kick > 0)
        close(f->kick);
    if (f->call > 0)
        close(f->call);
    f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ck_assert_uint_eq(cl_ack(f->sock, req_u64(VS_VHOST_USER_SET_VRING_KICK, 0), &f->kick, 1), 0);
    ck_assert_uint_eq(cl_ack(f->sock, req_u64(VS_VHOST_USER_SET_VRING_CALL, 0), &f->call, 1), 0);
    if (with_err) {
        f->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ck_assert_uint_eq(cl_ack(f->sock, req_u64(VS_VHOST_USER_SET_VRING_ERR, 0), &f->err, 1),
                          0);
    }
    ck_assert_uint_eq(cl_ack(f->sock, req_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1), NULL, 0), 0);
    if (f->q)
        vs_vq_drv_destroy(f->q);
    vs_vq_drv_opts qo = {.queue_index = 0, .features = with_event_idx ? VS_VQ_F_EVENT_IDX : 0};
    ck_assert_int_eq(vs_vq_drv_create(&f->q, f->gm, &f->l, &qo, &e), 0);
}

/* Connects and negotiates (protocol features REPLY_ACK, CONFIG, MQ and extra_pf), then
 * fe_start with an error fd. */
static void fe_bringup_pf(fe *f, const srv *x, bool with_event_idx, uint64_t extra_pf)
{
    vs_err e = {0};
    memset(f, 0, sizeof *f);
    f->sock = cl_connect(x);
    ck_assert_int_eq(vs_gmem_create_flat(&f->gm, 1u << 20, &e), 0);
    ck_assert_int_eq(vs_vq_layout_alloc(f->gm, VS_RING_SPLIT, 64, &f->l, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(f->gm, 16384, 4096, &f->data_gpa, &e), 0);
    uint64_t feats = cl_call_u64(f->sock, req(VS_VHOST_USER_GET_FEATURES));
    ck_assert(feats & PF(VS_VHOST_F_PROTOCOL_FEATURES));
    ck_assert(feats & PF(VS_F_VERSION_1));
    uint64_t pf = cl_call_u64(f->sock, req(VS_VHOST_USER_GET_PROTOCOL_FEATURES));
    ck_assert(pf & PF(VS_VHOST_PF_REPLY_ACK));
    uint64_t want_pf = PF(VS_VHOST_PF_REPLY_ACK) | PF(VS_VHOST_PF_CONFIG) | PF(VS_VHOST_PF_MQ) |
                       extra_pf;
    ck_assert_uint_eq(pf & want_pf, want_pf);
    vs_vhost_msg spf = req_u64(VS_VHOST_USER_SET_PROTOCOL_FEATURES, want_pf);
    cl_send(f->sock, &spf, NULL, 0);
    ck_assert_uint_eq(cl_call_u64(f->sock, req(VS_VHOST_USER_GET_QUEUE_NUM)), 1);
    vs_vhost_msg own = req(VS_VHOST_USER_SET_OWNER);
    ck_assert_uint_eq(cl_ack(f->sock, own, NULL, 0), 0);
    /* config: capacity */
    vs_vhost_msg gc = req(VS_VHOST_USER_GET_CONFIG);
    gc.p.config.size = VS_BLK_CFG_SIZE;
    cl_send(f->sock, &gc, NULL, 0);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(f->sock, &gc, &rep), 0);
    uint64_t cap;
    memcpy(&cap, rep.p.config.data, 8);
    ck_assert_uint_eq(cap, 2048);
    fe_start(f, with_event_idx, true);
}

static void fe_bringup(fe *f, const srv *x, bool with_event_idx)
{
    fe_bringup_pf(f, x, with_event_idx, 0);
}

static void fe_close(fe *f)
{
    if (f->q)
        vs_vq_drv_destroy(f->q);
    if (f->gm)
        vs_gmem_destroy(f->gm);
    if (f->sock >= 0)
        close(f->sock);
    if (f->kick > 0)
        close(f->kick);
    if (f->call > 0)
        close(f->call);
    if (f->err > 0)
        close(f->err);
    memset(f, 0, sizeof *f);
}

static bool wait_fd(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return false;
    uint64_t v;
    return read(fd, &v, sizeof v) == sizeof v;
}

/* One blk request: header at data, payload at data+512, status at data+1536. */
static uint8_t blk_rw(fe *f, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    vs_err e = {0};
    uint64_t hdr = f->data_gpa, dat = f->data_gpa + 512, st = f->data_gpa + 8192;
    vs_blk_req_hdr h = {type, 0, sector};
    uint8_t raw[16];
    memcpy(raw, &h.type, 4);
    memcpy(raw + 4, &h.reserved, 4);
    memcpy(raw + 8, &h.sector, 8);
    ck_assert_int_eq(vs_gmem_write(f->gm, hdr, raw, 16, &e), 0);
    ck_assert_int_eq(vs_gmem_st8(f->gm, st, 0xff, &e), 0);
    vs_seg segs[3] = {{hdr, 16}, {dat, len}, {st, 1}};
    if (type == VS_BLK_T_OUT) {
        ck_assert_int_eq(vs_gmem_write(f->gm, dat, buf, len, &e), 0);
        ck_assert_int_ge(vs_vq_drv_add(f->q, segs, 2, 1, 0, NULL, &e), 0);
    } else {
        ck_assert_int_ge(vs_vq_drv_add(f->q, segs, 1, 2, 0, NULL, &e), 0);
    }
    vs_vq_drv_publish(f->q);
    if (vs_vq_drv_kick_needed(f->q)) {
        uint64_t one = 1;
        ck_assert_int_eq(write(f->kick, &one, 8), 8);
    }
    ck_assert_msg(wait_fd(f->call, 3000), "no call eventfd signal");
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(f->q, &u, &e), 1);
    if (type == VS_BLK_T_IN) {
        ck_assert_uint_eq(u.len, len + 1);
        ck_assert_int_eq(vs_gmem_read(f->gm, dat, buf, len, &e), 0);
    }
    uint8_t status = 0xee;
    ck_assert_int_eq(vs_gmem_ld8(f->gm, st, &status, &e), 0);
    return status;
}

/* ------------------------------------------------------------------ tests */

START_TEST(bringup_and_io)
{
    int fds0 = count_fds();
    srv x;
    srv_start(&x);
    for (int ev = 0; ev < 2; ev++) {
        fe f;
        fe_bringup(&f, &x, ev == 1);
        uint8_t out[1024], in[1024];
        for (unsigned i = 0; i < sizeof out; i++)
            out[i] = (uint8_t)(i * 13 + ev);
        ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_OUT, 4, out, 1024), VS_BLK_S_OK);
        memset(in, 0, sizeof in);
        ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 4, in, 1024), VS_BLK_S_OK);
        ck_assert(memcmp(in, out, sizeof in) == 0);
        /* many requests in a row */
        for (int i = 0; i < 200; i++)
            ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, (uint64_t)i, in, 512), VS_BLK_S_OK);
        ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 4096, in, 512), VS_BLK_S_IOERR);
        /* GET_VRING_BASE stops the ring and reports the next avail index */
        vs_vhost_msg gb = req_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0);
        cl_send(f.sock, &gb, NULL, 0);
        vs_vhost_msg rep;
        ck_assert_int_eq(cl_recv(f.sock, &gb, &rep), 0);
        ck_assert_uint_eq(rep.p.state.num, 203);
        fe_close(&f);
        wait_disconnects(&x, ev + 1);
    }
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(x.s, &st);
    ck_assert_uint_eq(st.connections, 2);
    ck_assert_uint_eq(st.requests, 2 * 203);
    ck_assert_uint_eq(st.rejected, 0);
    ck_assert_uint_eq(st.fds_received, st.fds_closed);
    ck_assert_uint_eq(vs_vhost_server_violation_count(x.s), 0);
    srv_stop(&x);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

static void still_serves(srv *x)
{
    int s = cl_connect(x);
    uint64_t f = cl_call_u64(s, req(VS_VHOST_USER_GET_FEATURES));
    ck_assert(f & PF(VS_F_VERSION_1));
    close(s);
}

START_TEST(hostile_frontends)
{
    int fds0 = count_fds();
    srv x;
    srv_start(&x);
    int conns = 0;

    /* 1. disconnect mid-bring-up: after SET_OWNER, half a header, then close */
    {
        int s = cl_connect(&x);
        vs_vhost_msg own = req(VS_VHOST_USER_SET_OWNER);
        cl_send(s, &own, NULL, 0);
        uint8_t half[6] = {1, 0, 0, 0, 1, 0};
        cl_send_raw(s, half, sizeof half, NULL, 0);
        close(s);
        wait_disconnects(&x, ++conns);
    }
    /* 2. oversized payload: the server drops the connection (EOF, no hang) */
    {
        int s = cl_connect(&x);
        uint8_t h[12] = {0};
        uint32_t v = VS_VHOST_USER_SET_FEATURES, fl = 1, sz = 100000;
        memcpy(h, &v, 4);
        memcpy(h + 4, &fl, 4);
        memcpy(h + 8, &sz, 4);
        cl_send_raw(s, h, 12, NULL, 0);
        struct pollfd p = {s, POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 3000), 1);
        char c;
        ck_assert_int_eq(recv(s, &c, 1, 0), 0);
        close(s);
        wait_disconnects(&x, ++conns);
        ck_assert_uint_ge(vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.msg-size.2"), 1);
    }
    /* 3. stalled front-end: header promises a payload that never comes */
    {
        int s = cl_connect(&x);
        vs_vhost_msg m = req_u64(VS_VHOST_USER_SET_FEATURES, 1);
        uint8_t b[20];
        vs_err e = {0};
        ck_assert_int_eq(vs_vhost_msg_encode(&m, b, sizeof b, &e), 20);
        cl_send_raw(s, b, 14, NULL, 0);
        struct pollfd p = {s, POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 3000), 1); /* server times out and closes */
        close(s);
        wait_disconnects(&x, ++conns);
    }
    /* 4..: protocol errors on a live connection, each answered with a failed ack */
    {
        fe f;
        fe_bringup(&f, &x, false);
        int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC);
        int two[2] = {e1, e2};
        /* wrong fd count: two fds with SET_VRING_CALL */
        ck_assert_uint_ne(cl_ack(f.sock, req_u64(VS_VHOST_USER_SET_VRING_CALL, 0), two, 2), 0);
        ck_assert_uint_ge(vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.fds.1"), 1);
        /* fds on a message that takes none */
        ck_assert_uint_ne(cl_ack(f.sock, req_state(VS_VHOST_USER_SET_VRING_BASE, 0, 0), two, 2), 0);
        /* nine fds (more than the protocol allows) */
        int nine[9];
        for (int i = 0; i < 9; i++)
            nine[i] = e1;
        vs_vhost_msg sb = req_state(VS_VHOST_USER_SET_VRING_ENABLE, 0, 1);
        sb.flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
        cl_send(f.sock, &sb, nine, 9);
        /* no ack promised for that one: the next request must still work */
        ck_assert(cl_call_u64(f.sock, req(VS_VHOST_USER_GET_FEATURES)) & PF(VS_F_VERSION_1));
        /* ring address outside the memory table */
        vs_vhost_msg a = req(VS_VHOST_USER_SET_VRING_ADDR);
        a.p.addr = (vs_vhost_vring_addr){0, 0, ua(&f, 1u << 20), ua(&f, 0x2000), ua(&f, 0x1000), 0};
        ck_assert_uint_ne(cl_ack(f.sock, a, NULL, 0), 0);
        /* ... but the ring is started, so even a valid address change is refused */
        ck_assert_uint_ge(vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.vring-addr.2") +
                              vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.ring-stopped.1"),
                          1);
        /* a memory table whose fd cannot be mapped (an eventfd) */
        vs_vhost_msg mt = req(VS_VHOST_USER_SET_MEM_TABLE);
        mt.p.mem.nregions = 1;
        mt.p.mem.region[0] = (vs_vhost_mem_region){0, 1u << 20, ua(&f, 0), 0};
        ck_assert_uint_ne(cl_ack(f.sock, mt, &e1, 1), 0);
        /* a memfd smaller than the region (would SIGBUS if mapped blindly) */
        mt.p.mem.region[0].size = 1u << 24;
        int mfd = vs_gmem_fd(f.gm);
        ck_assert_uint_ne(cl_ack(f.sock, mt, &mfd, 1), 0);
        /* SET_OWNER twice, un-offered features */
        ck_assert_uint_ne(cl_ack(f.sock, req(VS_VHOST_USER_SET_OWNER), NULL, 0), 0);
        ck_assert_uint_ne(cl_ack(f.sock, req_u64(VS_VHOST_USER_SET_FEATURES, PF(63)), NULL, 0), 0);
        /* unknown request with a payload */
        uint8_t u[12 + 16] = {0};
        uint32_t v = 200, fl = 1 | VS_VHOST_USER_FLAG_NEED_REPLY, sz = 16;
        memcpy(u, &v, 4);
        memcpy(u + 4, &fl, 4);
        memcpy(u + 8, &sz, 4);
        cl_send_raw(f.sock, u, sizeof u, NULL, 0);
        {
            uint8_t rb[20];
            struct pollfd p = {f.sock, POLLIN, 0};
            ck_assert_int_eq(poll(&p, 1, 3000), 1);
            ck_assert_int_eq(recv(f.sock, rb, sizeof rb, 0), 20);
            uint64_t ack;
            memcpy(&ack, rb + 12, 8);
            ck_assert_uint_ne(ack, 0);
        }
        /* the ring still works after all that */
        uint8_t buf[512];
        ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 0, buf, 512), VS_BLK_S_OK);
        /* a malformed chain: next out of range -> ring stopped, err eventfd signalled */
        vs_desc d[2] = {{f.data_gpa, 16, VS_DESC_F_NEXT, 40}, {f.data_gpa + 512, 1, VS_DESC_F_WRITE, 0}};
        vs_err e = {0};
        ck_assert_int_ge(vs_vq_drv_add_raw(f.q, d, 2, NULL, &e), 0);
        vs_vq_drv_publish(f.q);
        uint64_t one = 1;
        ck_assert_int_eq(write(f.kick, &one, 8), 8);
        ck_assert_msg(wait_fd(f.err, 3000), "no err eventfd signal");
        ck_assert_uint_ge(vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.chain.1"), 1);
        /* GET_VRING_BASE still answers, then the connection goes away mid-stream */
        vs_vhost_msg gb = req_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0);
        cl_send(f.sock, &gb, NULL, 0);
        vs_vhost_msg rep;
        ck_assert_int_eq(cl_recv(f.sock, &gb, &rep), 0);
        close(e1);
        close(e2);
        fe_close(&f);
        wait_disconnects(&x, ++conns);
    }
    /* GET_* illegal in the state: server closes rather than leave us waiting */
    {
        int s = cl_connect(&x);
        vs_vhost_msg q = req(VS_VHOST_USER_GET_QUEUE_NUM); /* MQ not negotiated */
        cl_send(s, &q, NULL, 0);
        struct pollfd p = {s, POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 3000), 1);
        char c;
        ck_assert_int_eq(recv(s, &c, 1, 0), 0);
        close(s);
        wait_disconnects(&x, ++conns);
    }
    still_serves(&x);
    wait_disconnects(&x, ++conns);
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(x.s, &st);
    ck_assert_uint_eq(st.fds_received, st.fds_closed);
    ck_assert_uint_ge(st.rejected, 10);
    ck_assert_uint_ge(st.device_errors, 1);
    for (size_t i = 0; i < vs_vhost_server_violation_count(x.s); i++) {
        const vs_vhost_violation *v = vs_vhost_server_violation_at(x.s, i);
        ck_assert(v->msg[0]);
        if (v->rule)
            ck_assert_ptr_nonnull(vs_vhost_rule_find(v->rule));
    }
    srv_stop(&x);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* QEMU 10's sequence: RESET_DEVICE (NEED_REPLY) three times, then the device is set up
 * again without SET_VRING_ERR. Every message is acked, I/O works, and the error fd sent
 * before the resets is the one a malformed chain signals (the reset used to forget the
 * protocol features, refuse the next RESET_DEVICE, leave SET_MEM_TABLE unacked and close
 * the error fd). GET_VRING_BASE keeps the error fd too. */
START_TEST(reset_device_keeps_session)
{
    int fds0 = count_fds();
    srv x;
    srv_start(&x);
    fe f;
    fe_bringup_pf(&f, &x, false, PF(VS_VHOST_PF_RESET_DEVICE));
    uint8_t buf[512];
    ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 0, buf, 512), VS_BLK_S_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(cl_ack(f.sock, req(VS_VHOST_USER_RESET_DEVICE), NULL, 0), 0);
    fe_start(&f, false, false);
    ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 1, buf, 512), VS_BLK_S_OK);
    /* stop and restart the ring, again without SET_VRING_ERR */
    vs_vhost_msg gb = req_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0);
    cl_send(f.sock, &gb, NULL, 0);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(f.sock, &gb, &rep), 0);
    ck_assert_uint_eq(rep.p.state.num, 1);
    ck_assert_uint_eq(cl_ack(f.sock, req(VS_VHOST_USER_RESET_DEVICE), NULL, 0), 0);
    fe_start(&f, false, false);
    /* a malformed chain: next out of range -> the error fd of the first bring-up fires */
    vs_desc d[2] = {{f.data_gpa, 16, VS_DESC_F_NEXT, 40},
                    {f.data_gpa + 512, 1, VS_DESC_F_WRITE, 0}};
    vs_err e = {0};
    ck_assert_int_ge(vs_vq_drv_add_raw(f.q, d, 2, NULL, &e), 0);
    vs_vq_drv_publish(f.q);
    uint64_t one = 1;
    ck_assert_int_eq(write(f.kick, &one, 8), 8);
    ck_assert_msg(wait_fd(f.err, 3000), "no err eventfd signal after RESET_DEVICE");
    fe_close(&f);
    wait_disconnects(&x, 1);
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(x.s, &st);
    ck_assert_uint_eq(st.rejected, 1); /* the chain, nothing else */
    ck_assert_uint_eq(vs_vhost_server_rule_violations(x.s, "vhost-user.frontend.chain.1"), 1);
    ck_assert_uint_eq(st.fds_received, st.fds_closed);
    srv_stop(&x);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* A front-end that shrinks its guest-memory file after SET_MEM_TABLE and then kicks: the
 * server's access faults (SIGBUS), is repaired, and becomes a finding that ends the
 * connection; the server keeps serving (it used to die of signal 7). */
START_TEST(frontend_shrinks_memory)
{
    srv x;
    srv_start(&x);
    fe f;
    fe_bringup(&f, &x, false);
    vs_err e = {0};
    uint64_t hdr = f.data_gpa, st = f.data_gpa + 8192;
    uint8_t raw[16];
    vs_blk_hdr_put(raw, &(vs_blk_req_hdr){VS_BLK_T_IN, 0, 0});
    ck_assert_int_eq(vs_gmem_write(f.gm, hdr, raw, 16, &e), 0);
    vs_seg segs[2] = {{hdr, 16}, {st, 1}};
    ck_assert_int_ge(vs_vq_drv_add(f.q, segs, 1, 1, 0, NULL, &e), 0);
    vs_vq_drv_publish(f.q);
    /* from here on the front-end's own mapping is gone too: it touches nothing */
    ck_assert_int_eq(ftruncate(vs_gmem_fd(f.gm), 0), 0);
    uint64_t one = 1;
    ck_assert_int_eq(write(f.kick, &one, 8), 8);
    wait_disconnects(&x, 1);
    bool found = false;
    for (size_t i = 0; i < vs_vhost_server_violation_count(x.s); i++) {
        const vs_vhost_violation *v = vs_vhost_server_violation_at(x.s, i);
        if (v->rule && strcmp(v->rule, "vhost-user.frontend.mem-table.4") == 0)
            found = strstr(v->msg, "shrank") != NULL;
    }
    ck_assert_msg(found, "no mem-table.4 finding");
    still_serves(&x);
    fe_close(&f);
    srv_stop(&x);
}
END_TEST

START_TEST(serve_fd_socketpair)
{
    int fds0 = count_fds();
    vs_gmem *dummy;
    vs_device *dev;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&dummy, 4096, &e), 0);
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    ck_assert_int_eq(vs_blk_create(&dev, dummy, &o, &e), 0);
    vs_vhost_server *s;
    vs_vhost_server_opts so = {.dev = dev, .log = quiet};
    ck_assert_int_eq(vs_vhost_server_create(&s, &so, &e), 0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* the client writes its whole conversation and hangs up before the server runs */
    vs_vhost_msg m = req(VS_VHOST_USER_GET_FEATURES);
    cl_send(sv[1], &m, NULL, 0);
    vs_vhost_msg own = req(VS_VHOST_USER_SET_OWNER);
    cl_send(sv[1], &own, NULL, 0);
    shutdown(sv[1], SHUT_WR);
    ck_assert_int_eq(vs_vhost_server_serve_fd(s, sv[0], &e), 0);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(sv[1], &m, &rep), 0);
    close(sv[1]);
    ck_assert_ptr_eq(dev->gm, dummy);
    vs_vhost_server_destroy(s);
    dev->ops->destroy(dev);
    vs_gmem_destroy(dummy);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* The driver's side of fetched chains, as `virtiosim serve` feeds it to its monitors: per
 * chain AVAIL (its segments), PUBLISH (the index covering it), FETCH; the chains of one
 * batch share one clock reading (a clock read per chain was a tenth of the server's own
 * cost per request). */
typedef struct ev_log {
    unsigned n;
    enum vs_event_kind kind[64];
    uint32_t id[64], idx[64], nseg[64];
    uint64_t t[64];
} ev_log;

static void on_ev(void *op, const vs_event *ev)
{
    ev_log *l = op;
    if (ev->kind != VS_EV_AVAIL && ev->kind != VS_EV_PUBLISH && ev->kind != VS_EV_FETCH)
        return;
    if (l->n >= 64)
        return;
    l->kind[l->n] = ev->kind;
    l->id[l->n] = ev->id;
    l->idx[l->n] = ev->idx;
    l->nseg[l->n] = ev->chain ? ev->chain->n_out + ev->chain->n_in : 0;
    l->t[l->n++] = ev->t_ns;
}

START_TEST(batch_events)
{
    static ev_log lg;
    memset(&lg, 0, sizeof lg);
    vs_event_bus bus = {0};
    ck_assert_int_eq(vs_event_bus_add(&bus, on_ev, &lg), 0);
    srv x;
    srv_start_opts(&x, &bus, 0);
    fe f;
    fe_bringup(&f, &x, true);
    vs_err e = {0};
    int ids[3];
    for (int i = 0; i < 3; i++) { /* three reads published together, one kick */
        uint64_t b = f.data_gpa + 4096u * (uint64_t)i;
        uint8_t raw[16] = {0};
        raw[8] = (uint8_t)i; /* VS_BLK_T_IN (0), sector i */
        ck_assert_int_eq(vs_gmem_write(f.gm, b, raw, 16, &e), 0);
        vs_seg sg[3] = {{b, 16}, {b + 512, 512}, {b + 1024, 1}};
        ids[i] = vs_vq_drv_add(f.q, sg, 1, 2, 0, NULL, &e);
        ck_assert_int_ge(ids[i], 0);
    }
    vs_vq_drv_publish(f.q);
    uint64_t one = 1;
    ck_assert_int_eq(write(f.kick, &one, 8), 8);
    ck_assert_msg(wait_fd(f.call, 3000), "no call");
    /* The server calls as soon as fewer than SIGNAL_LOW chains are left, i.e. possibly
     * after the first of the three: collect until all three are back. */
    int got = 0;
    for (int tries = 0; got < 3 && tries < 30; tries++) {
        vs_used u;
        int rc;
        while ((rc = vs_vq_drv_collect(f.q, &u, &e)) == 1)
            got++;
        ck_assert_int_eq(rc, 0);
        if (got < 3)
            wait_fd(f.call, 100);
    }
    ck_assert_int_eq(got, 3);
    fe_close(&f);
    wait_disconnects(&x, 1);
    srv_stop(&x);
    ck_assert_uint_eq(lg.n, 9);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(lg.kind[3 * i], VS_EV_AVAIL);
        ck_assert_int_eq(lg.kind[3 * i + 1], VS_EV_PUBLISH);
        ck_assert_int_eq(lg.kind[3 * i + 2], VS_EV_FETCH);
        ck_assert_uint_eq(lg.id[3 * i], (uint32_t)ids[i]);
        ck_assert_uint_eq(lg.nseg[3 * i], 3);
        ck_assert_uint_eq(lg.idx[3 * i + 1], i + 1);
        ck_assert_uint_eq(lg.id[3 * i + 2], (uint32_t)ids[i]);
        for (unsigned k = 0; k < 3; k++)
            ck_assert_uint_eq(lg.t[3 * i + k], lg.t[0]);
    }
}
END_TEST

/* The driver-role monitors `virtiosim serve` puts on a connection's bus (back-end view),
 * made when the first event comes, following the device's memory as it changes. */
typedef struct mon_tap {
    vs_device *dev;
    vs_monitors *mon;
    vs_gmem *gm;
    uint64_t features;
} mon_tap;

static void mon_ev(void *op, const vs_event *ev)
{
    mon_tap *t = op;
    vs_err e = {0};
    if (!t->mon) {
        ck_assert_msg(vs_monitors_create(&t->mon, t->dev->gm, VS_DEV_BLK, VS_ROLE_DRIVER,
                                         &e) == 0, "%s", e.msg);
        vs_monitors_set_backend_view(t->mon, true);
        vs_monitors_set_async_device(t->mon, true);
        t->gm = t->dev->gm;
    }
    if (t->dev->gm != t->gm) {
        vs_monitors_set_gmem(t->mon, t->dev->gm);
        t->gm = t->dev->gm;
    }
    if (ev->kind == VS_EV_FEATURES_WRITE)
        t->features = ev->val;
    vs_monitors_on_event(t->mon, ev);
}

/* The monitors judge every chain of a batch, not only the first: 21 reads (63 of the 64
 * descriptors) published together with one kick, the 14th with 100 data bytes (a driver
 * must send multiples of 512). Its finding names that chain, and the statement was
 * judged on all 21: a fast path that skipped the monitors for some chains fails here. */
START_TEST(monitors_judge_every_batched_chain)
{
    enum { N = 21, BAD = 13 };
    static mon_tap tap;
    memset(&tap, 0, sizeof tap);
    vs_event_bus bus = {0};
    ck_assert_int_eq(vs_event_bus_add(&bus, mon_ev, &tap), 0);
    srv x;
    srv_start_opts(&x, &bus, 0);
    tap.dev = x.dev; /* before any front-end connects: no event yet */
    fe f;
    fe_bringup(&f, &x, true);
    vs_err e = {0};
    uint64_t base;
    ck_assert_int_eq(vs_gmem_alloc(f.gm, 1024u * N, 4096, &base, &e), 0);
    int bad_id = -1;
    for (int i = 0; i < N; i++) {
        uint64_t b = base + 1024u * (uint64_t)i;
        uint8_t raw[16] = {0};
        raw[8] = (uint8_t)i; /* VS_BLK_T_IN (0), sector i */
        ck_assert_int_eq(vs_gmem_write(f.gm, b, raw, 16, &e), 0);
        vs_seg sg[3] = {{b, 16}, {b + 256, i == BAD ? 100 : 512}, {b + 800, 1}};
        int id = vs_vq_drv_add(f.q, sg, 1, 2, 0, NULL, &e);
        ck_assert_int_ge(id, 0);
        if (i == BAD)
            bad_id = id;
    }
    vs_vq_drv_publish(f.q);
    uint64_t one = 1;
    ck_assert_int_eq(write(f.kick, &one, 8), 8);
    int got = 0;
    for (int tries = 0; got < N && tries < 100; tries++) {
        vs_used u;
        int rc;
        while ((rc = vs_vq_drv_collect(f.q, &u, &e)) == 1)
            got++;
        ck_assert_int_eq(rc, 0);
        if (got < N && !vs_vq_drv_irq_enable(f.q))
            wait_fd(f.call, 100);
    }
    ck_assert_int_eq(got, N);
    fe_close(&f);
    wait_disconnects(&x, 1);
    srv_stop(&x);
    ck_assert_ptr_nonnull(tap.mon);
    ck_assert_int_eq(vs_monitors_finish(tap.mon, tap.features, &e), 0);
    const vs_stmt_result *r = vs_results_find(vs_monitors_results(tap.mon), "blk.driver.blk-op.6");
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->exercised, N);
    ck_assert_uint_eq(r->violations, 1);
    ck_assert_int_eq(r->verdict, VS_VERDICT_FAIL);
    ck_assert_uint_ge(r->n_evidence, 1);
    ck_assert_str_eq(r->evidence[0].check, "blk-request-shape");
    ck_assert(r->evidence[0].has_id);
    ck_assert_uint_eq(r->evidence[0].id, (uint32_t)bad_id);
    vs_monitors_destroy(tap.mon);
}
END_TEST

/* A ring that ran dry is re-checked for poll_ns with notifications off (as QEMU's
 * poll-max-ns): a request published meanwhile needs no kick and is served. With polling
 * off the driver must kick again once the ring is dry. */
START_TEST(dry_ring_polled)
{
    for (int mode = 0; mode < 2; mode++) {
        srv x;
        srv_start_opts(&x, NULL, mode == 0 ? 2000000000u : 0);
        for (int ev = 0; ev < 2; ev++) {
            fe f;
            fe_bringup(&f, &x, ev == 1);
            uint8_t in[512];
            ck_assert_uint_eq(blk_rw(&f, VS_BLK_T_IN, 1, in, 512), VS_BLK_S_OK);
            vs_err e = {0};
            uint64_t b = f.data_gpa;
            uint8_t raw[16] = {0}; /* VS_BLK_T_IN, sector 0 */
            ck_assert_int_eq(vs_gmem_write(f.gm, b, raw, 16, &e), 0);
            vs_seg sg[3] = {{b, 16}, {b + 512, 512}, {b + 8192, 1}};
            /* Without polling the server looks for more chains once more after the call
             * the previous request waited for, and may take this one then, legally without
             * a kick: let it go idle first (slow under sanitizers on a loaded machine). */
            if (mode == 1)
                usleep(200000);
            ck_assert_int_ge(vs_vq_drv_add(f.q, sg, 1, 2, 0, NULL, &e), 0);
            vs_vq_drv_publish(f.q);
            if (mode == 0) {
                ck_assert_msg(!vs_vq_drv_kick_needed(f.q), "polled ring asks for a kick");
                ck_assert_msg(wait_fd(f.call, 3000), "no call without a kick");
                vs_used u;
                ck_assert_int_eq(vs_vq_drv_collect(f.q, &u, &e), 1);
            } else {
                ck_assert_msg(vs_vq_drv_kick_needed(f.q), "dry ring not asking for a kick");
            }
            fe_close(&f);
            wait_disconnects(&x, ev + 1);
        }
        vs_vhost_server_stats st;
        vs_vhost_server_stats_get(x.s, &st);
        ck_assert_uint_eq(st.requests, mode == 0 ? 4 : 2);
        ck_assert_uint_eq(vs_vhost_server_violation_count(x.s), 0);
        srv_stop(&x);
    }
}
END_TEST

/* ------------------------------------------------------------------ deferred chains */

/* A device that keeps every chain (VS_DEV_DEFERRED) and completes it when the test says,
 * with "done" written into its first writable segment; in `now` mode it completes the
 * chain from inside handle() before saying it deferred it. Config: a blk capacity of 2048
 * so the test front-end's bring-up applies. */
typedef struct toy {
    vs_device dev;
    uint16_t held[8];
    uint64_t held_gpa[8];
    unsigned nheld, drains;
    bool now;
} toy;

static uint64_t toy_features(vs_device *d) { (void)d; return PF(VS_F_VERSION_1); }
static int toy_accept(vs_device *d, uint64_t f, vs_err *e) { (void)d; (void)f; (void)e; return 0; }
static uint32_t toy_cfg_size(vs_device *d) { (void)d; return VS_BLK_CFG_SIZE; }
static int toy_cfg_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    (void)d;
    (void)e;
    uint8_t cfg[VS_BLK_CFG_SIZE] = {0};
    uint64_t cap = 2048;
    memcpy(cfg, &cap, 8);
    memcpy(buf, cfg + off, len);
    return 0;
}
static int toy_cfg_write(vs_device *d, uint32_t o, const void *b, uint32_t l, vs_err *e)
{
    (void)d; (void)o; (void)b; (void)l;
    return vs_err_set(e, VS_EINVAL, "read-only");
}
static uint16_t toy_nq(vs_device *d) { (void)d; return 1; }
static uint32_t toy_qmax(vs_device *d, uint16_t q) { (void)d; (void)q; return 64; }

static void toy_complete(toy *t, unsigned i)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_write(t->dev.gm, t->held_gpa[i], "done", 4, &e), 0);
    t->dev.complete(t->dev.complete_ctx, 0, t->held[i], 4);
}

static int toy_handle(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *w, vs_err *e)
{
    toy *t = (toy *)d;
    (void)q;
    *w = 0;
    if (!d->complete || c->nseg != 1 || !c->seg[0].write || t->nheld == 8)
        return vs_err_set(e, VS_EINVAL, "toy: cannot keep the chain");
    t->held[t->nheld] = c->id;
    t->held_gpa[t->nheld] = c->seg[0].gpa;
    if (t->now) {
        toy_complete(t, t->nheld);
        return VS_DEV_DEFERRED;
    }
    t->nheld++;
    return VS_DEV_DEFERRED;
}
static void toy_reset(vs_device *d) { ((toy *)d)->nheld = 0; }
static void toy_drain(vs_device *d, int32_t q) { (void)q; ((toy *)d)->drains++; ((toy *)d)->nheld = 0; }
static void toy_destroy(vs_device *d) { (void)d; }

static const vs_device_ops toy_ops = {
    .name = "toy", .device_id = VS_DEV_BLK, .device_features = toy_features,
    .accept_features = toy_accept, .config_size = toy_cfg_size, .config_read = toy_cfg_read,
    .config_write = toy_cfg_write, .num_queues = toy_nq, .queue_max_size = toy_qmax,
    .handle = toy_handle, .reset = toy_reset, .drain = toy_drain, .destroy = toy_destroy,
};

static void toy_add(fe *f, uint64_t gpa)
{
    vs_err e = {0};
    vs_seg seg = {gpa, 16};
    ck_assert_int_ge(vs_vq_drv_add(f->q, &seg, 0, 1, 0, NULL, &e), 0);
    vs_vq_drv_publish(f->q);
    uint64_t one = 1;
    ck_assert_int_eq(write(f->kick, &one, 8), 8);
}

static unsigned toy_held(toy *t, pthread_mutex_t *mu)
{
    pthread_mutex_lock(mu);
    unsigned n = t->nheld;
    pthread_mutex_unlock(mu);
    return n;
}

/* A chain the device defers is pushed and signalled when the device completes it from
 * another thread (holding the server's dev_lock), or from inside handle(); GET_VRING_BASE
 * drains what the device still holds. */
START_TEST(deferred_completion)
{
    static toy t;
    memset(&t, 0, sizeof t);
    t.dev.ops = &toy_ops;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    srv x;
    memset(&x, 0, sizeof x);
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&x.dummy, 4096, &e), 0);
    t.dev.gm = x.dummy;
    x.dev = &t.dev;
    vs_vhost_server_opts so = {.dev = x.dev, .on_disconnect = on_disc, .disconnect_opaque = &x,
                               .log = quiet, .io_timeout_ms = 500, .dev_lock = &mu};
    ck_assert_int_eq(vs_vhost_server_create(&x.s, &so, &e), 0);
    snprintf(x.dir, sizeof x.dir, "/tmp/vs-vhost-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(x.dir));
    snprintf(x.path, sizeof x.path, "%s/sock", x.dir);
    ck_assert_msg(vs_vhost_server_listen(x.s, x.path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(pthread_create(&x.th, NULL, srv_main, &x), 0);

    fe f;
    fe_bringup(&f, &x, false);
    toy_add(&f, f.data_gpa);
    for (int i = 0; i < 300 && toy_held(&t, &mu) < 1; i++)
        usleep(10000);
    ck_assert_uint_eq(toy_held(&t, &mu), 1);
    ck_assert_msg(!wait_fd(f.call, 100), "a deferred chain was signalled before it completed");
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(f.q, &u, &e), 0);
    pthread_mutex_lock(&mu); /* the host side, as --backend guest's host requests */
    toy_complete(&t, 0);
    t.nheld = 0;
    pthread_mutex_unlock(&mu);
    ck_assert_msg(wait_fd(f.call, 3000), "no call after the deferred completion");
    ck_assert_int_eq(vs_vq_drv_collect(f.q, &u, &e), 1);
    ck_assert_uint_eq(u.len, 4);
    char got[4];
    ck_assert_int_eq(vs_gmem_read(f.gm, f.data_gpa, got, 4, &e), 0);
    ck_assert(memcmp(got, "done", 4) == 0);
    /* completed from inside handle() */
    pthread_mutex_lock(&mu);
    t.now = true;
    pthread_mutex_unlock(&mu);
    toy_add(&f, f.data_gpa + 64);
    ck_assert_msg(wait_fd(f.call, 3000), "no call for a chain completed inside handle()");
    ck_assert_int_eq(vs_vq_drv_collect(f.q, &u, &e), 1);
    ck_assert_uint_eq(u.len, 4);
    /* held at GET_VRING_BASE: drained, never completed afterwards */
    pthread_mutex_lock(&mu);
    t.now = false;
    pthread_mutex_unlock(&mu);
    toy_add(&f, f.data_gpa + 128);
    for (int i = 0; i < 300 && toy_held(&t, &mu) < 1; i++)
        usleep(10000);
    vs_vhost_msg gb = req_state(VS_VHOST_USER_GET_VRING_BASE, 0, 0);
    cl_send(f.sock, &gb, NULL, 0);
    vs_vhost_msg rep;
    ck_assert_int_eq(cl_recv(f.sock, &gb, &rep), 0);
    ck_assert_uint_eq(rep.p.state.num, 3);
    pthread_mutex_lock(&mu);
    ck_assert_uint_ge(t.drains, 1);
    ck_assert_uint_eq(t.nheld, 0);
    pthread_mutex_unlock(&mu);
    fe_close(&f);
    wait_disconnects(&x, 1);
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(x.s, &st);
    ck_assert_uint_eq(st.requests, 2);
    ck_assert_uint_eq(st.device_errors, 0);
    ck_assert_ptr_null(t.dev.complete); /* the connection's end takes the hook back */
    srv_stop(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vhost_server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bringup_and_io);
    tcase_add_test(tc, hostile_frontends);
    tcase_add_test(tc, serve_fd_socketpair);
    tcase_add_test(tc, frontend_shrinks_memory);
    tcase_add_test(tc, reset_device_keeps_session);
    tcase_add_test(tc, batch_events);
    tcase_add_test(tc, monitors_judge_every_batched_chain);
    tcase_add_test(tc, dry_ring_polled);
    tcase_add_test(tc, deferred_completion);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
