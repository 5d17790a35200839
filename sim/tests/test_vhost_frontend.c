/* The vhost-user front-end transport: against qemu-storage-daemon (installed on CI, no
 * skips) with the driver model on top, and against a fake back-end that misbehaves. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/blk_driver.h"
#include "virtiosim/driver.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vhost.h"
#include "virtiosim/vhost_frontend.h"
#include "virtiosim/virtio.h"

#include "sim/child.h" /* vs__child_keeper_start */

#define MEM (64u << 20)
#define DISK (16u << 20)

#define OK(call)                                                                           \
    do {                                                                                   \
        vs_err e_ = {0};                                                                   \
        vs_err *e = &e_;                                                                   \
        int rc_ = (call);                                                                  \
        ck_assert_msg(rc_ >= 0, "%s -> %s: %s", #call, vs_errc_name(-rc_), e_.msg);        \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int count_fds(void)
{
    vs__child_keeper_start(); /* its socket stays open for good once started */
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int irqs_seen;
static void on_event(void *opaque, const vs_event *ev)
{
    (void)opaque;
    if (ev->kind == VS_EV_IRQ)
        irqs_seen++;
}

/* ------------------------------------------------------------------ qsd */

static vs_qsd *start_qsd(bool null_co, uint16_t nq)
{
    vs_qsd_opts o;
    vs_qsd_opts_default(&o);
    o.size = DISK;
    o.null_co = null_co;
    o.num_queues = nq;
    vs_qsd *q = NULL;
    OK(vs_qsd_install_cleanup(e));
    OK(vs_qsd_start(&o, &q, e));
    return q;
}

START_TEST(qsd_version)
{
    char v[256];
    OK(vs_qsd_version(NULL, v, sizeof v, e));
    ck_assert_msg(strstr(v, "qemu-storage-daemon") != NULL, "%s", v);
}
END_TEST

START_TEST(qsd_driver_io)
{
    int fds0 = count_fds();
    vs_qsd *q = start_qsd(false, 1);
    char sock[108], dir[108];
    snprintf(sock, sizeof sock, "%s", vs_qsd_socket_path(q));
    snprintf(dir, sizeof dir, "%s", sock);
    *strrchr(dir, '/') = '\0';
    pid_t pid = vs_qsd_pid(q);

    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, MEM, e));
    vs_event_bus bus = {0};
    vs_event_bus_add(&bus, on_event, NULL);
    irqs_seen = 0;
    vs_transport *t;
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    OK(vs_vhost_user_transport_create(&t, gm, sock, &fo, &bus, e));
    ck_assert(vs_vhost_user_transport_is(t));
    vs_vhost_fe_stats st;
    OK(vs_vhost_user_stats(t, &st, e));
    ck_assert(st.features & VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES));
    ck_assert(st.protocol_features & VS_BIT(VS_VHOST_PF_CONFIG));

    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.queue_size = 128;
    vs_driver *d;
    OK(vs_driver_create(&d, t, &o, &bus, NULL, NULL, e));
    OK(vs_driver_init(d, e));
    ck_assert_uint_eq(vs_driver_blk_capacity(d), DISK / 512);
    vs_blk_shadow_assume(d, VS_SHADOW_ZERO);

    vs_blk_req w = {.type = VS_BLK_T_OUT, .sector = 64, .nsectors = 8};
    vs_blk_result res;
    OK(vs_blk_do(d, &w, &res, e));
    ck_assert_msg(res.ok, "write: %s", res.msg);
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 60, .nsectors = 16};
    OK(vs_blk_do(d, &r, &res, e));
    ck_assert_msg(res.ok, "read: %s", res.msg);
    ck_assert_uint_eq(res.sectors_verified, 16);
    ck_assert_int_gt(irqs_seen, 0);

    vs_blk_workload wl = {.rw = VS_RW_RANDRW, .bs = 4096, .iodepth = 8, .nr_ops = 2000,
                          .verify = true, .seed = 7};
    vs_blk_workload_stats ws;
    OK(vs_blk_workload_run(d, &wl, &ws, e));
    ck_assert_msg(ws.errors == 0 && ws.verify_failures == 0, "%s", ws.first_error);
    ck_assert_uint_eq(ws.ops, 2000);
    vs_err ge = {0};
    ck_assert_msg(vs_driver_guard_ok(d, &ge), "%s", ge.msg);

    /* reset stops the rings; a second init works on the same connection */
    OK(vs_driver_reset(d, e));
    OK(vs_driver_init(d, e));
    OK(vs_blk_do(d, &r, &res, e));
    ck_assert_msg(res.ok, "read after reset: %s", res.msg);

    vs_driver_destroy(d);
    t->ops->destroy(t);
    OK(vs_qsd_stop(q, e));
    vs_gmem_destroy(gm);
    struct stat sb;
    ck_assert_int_ne(stat(sock, &sb), 0);
    ck_assert_int_ne(stat(dir, &sb), 0);
    ck_assert_int_eq(kill(pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);
    ck_assert_int_eq(vs_qsd_live_count(), 0);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(qsd_multiqueue)
{
    vs_qsd *q = start_qsd(true, 2);
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, MEM, e));
    vs_transport *t;
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    OK(vs_vhost_user_transport_create(&t, gm, vs_qsd_socket_path(q), &fo, NULL, e));
    uint16_t n = 0;
    OK(t->ops->num_queues(t, &n, e));
    ck_assert_uint_eq(n, 2);
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.queue_size = 64;
    o.num_queues = 2;
    vs_driver *d;
    OK(vs_driver_create(&d, t, &o, NULL, NULL, NULL, e));
    OK(vs_driver_init(d, e));
    vs_blk_workload wl = {.rw = VS_RW_RANDREAD, .bs = 4096, .iodepth = 8, .nr_ops = 500,
                          .verify = false, .queues = 2};
    vs_blk_workload_stats ws;
    OK(vs_blk_workload_run(d, &wl, &ws, e));
    ck_assert_uint_eq(ws.errors, 0);
    vs_driver_destroy(d);
    t->ops->destroy(t);
    OK(vs_qsd_stop(q, e));
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(qsd_death_and_reconnect)
{
    vs_qsd *q = start_qsd(false, 1);
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, MEM, e));
    vs_transport *t;
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    OK(vs_vhost_user_transport_create(&t, gm, vs_qsd_socket_path(q), &fo, NULL, e));
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.queue_size = 64;
    vs_driver *d;
    OK(vs_driver_create(&d, t, &o, NULL, NULL, NULL, e));
    OK(vs_driver_init(d, e));
    vs_blk_shadow_assume(d, VS_SHADOW_ZERO);
    vs_blk_result res;
    vs_blk_req w = {.type = VS_BLK_T_OUT, .sector = 8, .nsectors = 8};
    OK(vs_blk_do(d, &w, &res, e));
    ck_assert_msg(res.ok, "%s", res.msg);

    /* back-end dies: the transport says so, quickly */
    OK(vs_qsd_kill(q, SIGKILL, e));
    double t0 = now_s();
    vs_err we = {0};
    int rc = 0;
    for (int i = 0; i < 100 && rc >= 0; i++)
        rc = t->ops->wait(t, 20000000, &we);
    ck_assert_int_eq(rc, -VS_EBACKEND);
    ck_assert_msg(now_s() - t0 < 2.0, "death noticed after %.2fs", now_s() - t0);
    vs_err ne = {0};
    ck_assert_int_eq(t->ops->notify(t, 0, &ne), -VS_EBACKEND);

    /* restart on the same socket + image, reconnect, data still there */
    OK(vs_qsd_restart(q, e));
    OK(vs_vhost_user_reconnect(t, e));
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 0, .nsectors = 24};
    OK(vs_blk_do(d, &r, &res, e));
    ck_assert_msg(res.ok, "read after reconnect: %s", res.msg);
    ck_assert_uint_eq(res.sectors_verified, 24);
    vs_vhost_fe_stats st;
    OK(vs_vhost_user_stats(t, &st, e));
    ck_assert_uint_eq(st.reconnects, 1);

    vs_driver_destroy(d);
    t->ops->destroy(t);
    OK(vs_qsd_stop(q, e));
    vs_gmem_destroy(gm);
}
END_TEST

/* ------------------------------------------------------------------ fake back-end */

enum fake_mode {
    FAKE_WRONG_ID,     /* GET_FEATURES answered with request SET_FEATURES */
    FAKE_OVERSIZED,    /* size field 1 MiB */
    FAKE_TRUNCATED,    /* size 8, 4 bytes, then silence */
    FAKE_BAD_SIZE,     /* GET_FEATURES reply with a 4-byte payload */
    FAKE_NO_REPLY,     /* never answers */
    FAKE_CLOSE,        /* closes on the first request */
    FAKE_NO_REPLY_FLAG,/* reply without the REPLY flag */
    FAKE_SEND_FD,      /* a correct reply that carries an fd */
    FAKE_GOOD_THEN_CLOSE, /* handshake OK (no protocol features), then closes */
};

typedef struct fake {
    int fd;
    enum fake_mode mode;
    volatile int release;
} fake;

static int fake_read_msg(int fd, uint8_t *buf, uint32_t *req)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 3000) <= 0)
        return -1;
    ssize_t n = recv(fd, buf, 12, MSG_WAITALL);
    if (n != 12)
        return -1;
    uint32_t size;
    memcpy(req, buf, 4);
    memcpy(&size, buf + 8, 4);
    if (size > 4096)
        return -1;
    if (size && recv(fd, buf + 12, size, MSG_WAITALL) != (ssize_t)size)
        return -1;
    return 0;
}

static void fake_send(int fd, uint32_t req, uint32_t flags, uint32_t size, const void *p,
                      uint32_t plen)
{
    uint8_t buf[64];
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    memcpy(buf + 12, p, plen);
    ssize_t n = send(fd, buf, 12 + plen, MSG_NOSIGNAL);
    (void)n;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    uint8_t buf[4200];
    uint32_t req;
    uint64_t feat = VS_BIT(VS_F_VERSION_1);
    if (fake_read_msg(f->fd, buf, &req) < 0)
        goto out;
    switch (f->mode) {
    case FAKE_WRONG_ID:
        fake_send(f->fd, 2, 0x5, 8, &feat, 8);
        break;
    case FAKE_OVERSIZED:
        fake_send(f->fd, req, 0x5, 1u << 20, &feat, 8);
        break;
    case FAKE_TRUNCATED:
        fake_send(f->fd, req, 0x5, 8, &feat, 4);
        break;
    case FAKE_BAD_SIZE:
        fake_send(f->fd, req, 0x5, 4, &feat, 4);
        break;
    case FAKE_NO_REPLY:
        break;
    case FAKE_CLOSE:
        goto out;
    case FAKE_NO_REPLY_FLAG:
        fake_send(f->fd, req, 0x1, 8, &feat, 8);
        break;
    case FAKE_SEND_FD: {
        uint8_t b[20];
        uint32_t fl = 5, sz = 8;
        memcpy(b, &req, 4);
        memcpy(b + 4, &fl, 4);
        memcpy(b + 8, &sz, 4);
        memcpy(b + 12, &feat, 8);
        struct iovec iov = {b, 20};
        union {
            char c[CMSG_SPACE(sizeof(int))];
            struct cmsghdr a;
        } cm;
        memset(&cm, 0, sizeof cm);
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.c,
                            .msg_controllen = sizeof cm.c};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        int sfd = 0;
        memcpy(CMSG_DATA(c), &sfd, sizeof sfd);
        ssize_t n = sendmsg(f->fd, &mh, MSG_NOSIGNAL);
        (void)n;
        break;
    }
    case FAKE_GOOD_THEN_CLOSE:
        fake_send(f->fd, req, 0x5, 8, &feat, 8);
        fake_read_msg(f->fd, buf, &req);  /* SET_OWNER */
        for (int i = 0; i < 300 && !f->release; i++)
            usleep(1000);
        goto out;
    }
    for (int i = 0; i < 3000 && !f->release; i++)
        usleep(1000);
out:
    close(f->fd);
    return NULL;
}

static const struct {
    enum fake_mode mode;
    int code;
    const char *needle;
} fake_cases[] = {
    {FAKE_WRONG_ID, VS_EPROTO, "request 2"},
    {FAKE_OVERSIZED, VS_EPROTO, "GET_FEATURES reply"},
    {FAKE_TRUNCATED, VS_EPROTO, "truncated"},
    {FAKE_BAD_SIZE, VS_EPROTO, "GET_FEATURES reply"},
    {FAKE_NO_REPLY, VS_ETIMEDOUT, "no reply"},
    {FAKE_CLOSE, VS_EBACKEND, "closed"},
    {FAKE_NO_REPLY_FLAG, VS_EPROTO, "REPLY flag"},
    {FAKE_SEND_FD, VS_EPROTO, "file descriptors"},
};

START_TEST(fake_malformed)
{
    int fds0 = count_fds();
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, 1u << 20, e));
    int fds1 = count_fds();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fake f = {.fd = sv[1], .mode = fake_cases[_i].mode};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fake_main, &f), 0);
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.msg_timeout_ms = 500;
    vs_transport *t = NULL;
    vs_err err = {0};
    double t0 = now_s();
    int rc = vs_vhost_user_transport_create_fd(&t, gm, sv[0], &fo, NULL, &err);
    double dt = now_s() - t0;
    f.release = 1;
    pthread_join(th, NULL);
    if (getenv("VS_TEST_VERBOSE"))
        fprintf(stderr, "case %d: %.3fs %s: %s\n", _i, dt, vs_errc_name(-rc), err.msg);
    ck_assert_msg(rc == -fake_cases[_i].code, "case %d: rc %d (%s): %s", _i, rc,
                  vs_errc_name(-rc), err.msg);
    ck_assert_msg(strstr(err.msg, fake_cases[_i].needle) != NULL, "case %d: '%s' lacks '%s'",
                  _i, err.msg, fake_cases[_i].needle);
    ck_assert_msg(dt < 2.0, "case %d took %.2fs", _i, dt);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(count_fds(), fds1);
    vs_gmem_destroy(gm);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(fake_death_after_bringup)
{
    int fds0 = count_fds();
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, 1u << 20, e));
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fake f = {.fd = sv[1], .mode = FAKE_GOOD_THEN_CLOSE};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fake_main, &f), 0);
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.msg_timeout_ms = 500;
    vs_transport *t = NULL;
    OK(vs_vhost_user_transport_create_fd(&t, gm, sv[0], &fo, NULL, e));
    uint64_t feat;
    OK(t->ops->get_device_features(t, &feat, e));
    ck_assert_uint_eq(feat, VS_BIT(VS_F_VERSION_1));
    uint16_t nq;
    OK(t->ops->num_queues(t, &nq, e));
    ck_assert_uint_eq(nq, 1);
    /* no CONFIG protocol feature: config is not readable */
    uint8_t cfg[8];
    vs_err ce = {0};
    ck_assert_int_eq(t->ops->config_read(t, 0, cfg, 8, &ce), -VS_ENOTSUP);
    /* emulated status machine: features not offered -> FEATURES_OK does not stick */
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e));
    OK(t->ops->set_driver_features(t, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX), e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          e));
    uint8_t s;
    OK(t->ops->get_status(t, &s, e));
    ck_assert_uint_eq(s & VS_STATUS_FEATURES_OK, 0);
    f.release = 1;
    double t0 = now_s();
    vs_err we = {0};
    int rc = 0;
    for (int i = 0; i < 100 && rc >= 0; i++)
        rc = t->ops->wait(t, 50000000, &we);
    ck_assert_msg(rc == -VS_EBACKEND, "rc %d: %s", rc, we.msg);
    ck_assert(now_s() - t0 < 2.0);
    pthread_join(th, NULL);
    vs_err ge = {0};
    ck_assert_int_eq(t->ops->get_device_features(t, &feat, &ge), -VS_EBACKEND);
    t->ops->destroy(t);
    vs_gmem_destroy(gm);
    ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* ------------------------------------------------------------------ hostile at reset
 * A back-end on a real socket path (so a reset reconnects) that runs the rings and then
 * misbehaves around the driver's reset. Its second connection behaves. */

enum stop_mode {
    STOP_WRONG_ID,  /* GET_VRING_BASE answered as GET_FEATURES */
    STOP_BAD_INDEX, /* GET_VRING_BASE answered for ring 5 */
    STOP_NO_REPLY,  /* GET_VRING_BASE never answered */
    STOP_DROP,      /* the connection dropped while the rings run */
    STOP_DROP_SEEN, /* the same, and the driver read DEVICE_NEEDS_RESET before resetting */
    STOP_CLOSE,     /* GET_VRING_BASE answered by closing (a back-end restarting) */
};

typedef struct stop_fake {
    int lfd;
    enum stop_mode mode;
    volatile int release;
    int accepted;
} stop_fake;

/* GET_FEATURES (VERSION_1, no protocol features) and SET_OWNER. */
static bool stop_handshake(int fd)
{
    uint8_t buf[4200];
    uint32_t req;
    uint64_t feat = VS_BIT(VS_F_VERSION_1);
    if (fake_read_msg(fd, buf, &req) < 0 || req != VS_VHOST_USER_GET_FEATURES)
        return false;
    fake_send(fd, req, 0x5, 8, &feat, 8);
    return fake_read_msg(fd, buf, &req) == 0 && req == VS_VHOST_USER_SET_OWNER;
}

static void *stop_fake_main(void *arg)
{
    stop_fake *f = arg;
    uint8_t buf[4200];
    uint32_t req;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    f->accepted++;
    if (!stop_handshake(fd))
        goto next;
    while (fake_read_msg(fd, buf, &req) == 0) {
        if ((f->mode == STOP_DROP || f->mode == STOP_DROP_SEEN) &&
            req == VS_VHOST_USER_SET_VRING_ERR)
            break; /* rings set up: the back-end goes away */
        if (req != VS_VHOST_USER_GET_VRING_BASE)
            continue;
        uint32_t st[2];
        memcpy(st, buf + 12, 8);
        if (f->mode == STOP_WRONG_ID) {
            fake_send(fd, VS_VHOST_USER_GET_FEATURES, 0x5, 8, st, 8);
        } else if (f->mode == STOP_BAD_INDEX) {
            st[0] += 5;
            fake_send(fd, req, 0x5, 8, st, 8);
        }
        break;
    }
    if (f->mode == STOP_NO_REPLY) { /* silent until the front-end gives up on us */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 3000);
    }
next:
    close(fd);
    /* the restarted back-end: answers the handshake, then idles */
    fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    f->accepted++;
    stop_handshake(fd);
    for (int i = 0; i < 3000 && !f->release; i++)
        usleep(1000);
    close(fd);
    return NULL;
}

static const struct {
    enum stop_mode mode;
    int code;
    const char *needle;
} stop_cases[] = {
    {STOP_WRONG_ID, VS_EPROTO, "GET_VRING_BASE reply: request 1"},
    {STOP_BAD_INDEX, VS_EPROTO, "GET_VRING_BASE"},
    {STOP_NO_REPLY, VS_ETIMEDOUT, "GET_VRING_BASE: no reply"},
    {STOP_DROP, VS_EIO, "dropped the connection while the device was running"},
    {STOP_DROP_SEEN, 0, ""}, /* announced by NEEDS_RESET, seen: the reset recovers */
    {STOP_CLOSE, VS_EBACKEND, "GET_VRING_BASE"},
};

/* Each used to vanish: the reset reconnected and returned 0, so a bad GET_VRING_BASE went
 * unreported and a lost back-end showed up only as wrong data after the reset. */
START_TEST(fake_bad_stop_at_reset)
{
    char dir[] = "/tmp/vs-fe-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[108];
    snprintf(path, sizeof path, "%s/sock", dir);
    stop_fake f = {.mode = stop_cases[_i].mode};
    f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(f.lfd, 4), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stop_fake_main, &f), 0);

    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, 1u << 20, e));
    vs_vq_layout l;
    OK(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 64, &l, e));
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.msg_timeout_ms = 300;
    vs_transport *t = NULL;
    OK(vs_vhost_user_transport_create(&t, gm, path, &fo, NULL, e));
    uint8_t st = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER;
    OK(t->ops->set_status(t, st, e));
    OK(t->ops->set_driver_features(t, VS_BIT(VS_F_VERSION_1), e));
    OK(t->ops->set_status(t, st |= VS_STATUS_FEATURES_OK, e));
    OK(t->ops->queue_setup(t, 0, &l, e));
    OK(t->ops->set_status(t, st |= VS_STATUS_DRIVER_OK, e));
    if (f.mode == STOP_DROP || f.mode == STOP_DROP_SEEN) {
        vs_err we = {0};
        int rc = 0;
        for (int i = 0; i < 100 && rc >= 0; i++)
            rc = t->ops->wait(t, 20000000, &we);
        ck_assert_int_eq(rc, -VS_EBACKEND);
    }
    if (f.mode == STOP_DROP_SEEN) {
        uint8_t s;
        OK(t->ops->get_status(t, &s, e));
        ck_assert(s & VS_STATUS_DEVICE_NEEDS_RESET);
    }
    vs_err re = {0};
    int rc = t->ops->reset(t, &re);
    ck_assert_msg(rc == -stop_cases[_i].code, "case %d: reset rc %d (%s): %s", _i, rc,
                  vs_errc_name(-rc), re.msg);
    ck_assert_msg(strstr(re.msg, stop_cases[_i].needle) != NULL, "case %d: '%s' lacks '%s'",
                  _i, re.msg, stop_cases[_i].needle);
    /* the reset still reconnected: the transport is usable again */
    uint64_t feat;
    OK(t->ops->get_device_features(t, &feat, e));
    ck_assert_int_eq(f.accepted, 2);
    f.release = 1;
    t->ops->destroy(t);
    pthread_join(th, NULL);
    close(f.lfd);
    unlink(path);
    rmdir(dir);
    vs_gmem_destroy(gm);
}
END_TEST

/* The same bad replies at the run's end (the transport's close, before destroy): they
 * used to vanish, destroy stopped the rings and dropped what went wrong. */
START_TEST(fake_bad_stop_at_close)
{
    static const int modes[] = {STOP_WRONG_ID, STOP_BAD_INDEX, STOP_NO_REPLY, STOP_CLOSE};
    static const int codes[] = {VS_EPROTO, VS_EPROTO, VS_ETIMEDOUT, VS_EBACKEND};
    char dir[] = "/tmp/vs-fe-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[108];
    snprintf(path, sizeof path, "%s/sock", dir);
    stop_fake f = {.mode = (enum stop_mode)modes[_i]};
    f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(f.lfd, 4), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stop_fake_main, &f), 0);
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, 1u << 20, e));
    vs_vq_layout l;
    OK(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 64, &l, e));
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.msg_timeout_ms = 300;
    vs_transport *t = NULL;
    OK(vs_vhost_user_transport_create(&t, gm, path, &fo, NULL, e));
    uint8_t st = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER;
    OK(t->ops->set_status(t, st, e));
    OK(t->ops->set_driver_features(t, VS_BIT(VS_F_VERSION_1), e));
    OK(t->ops->set_status(t, st |= VS_STATUS_FEATURES_OK, e));
    OK(t->ops->queue_setup(t, 0, &l, e));
    OK(t->ops->set_status(t, st |= VS_STATUS_DRIVER_OK, e));
    ck_assert_ptr_nonnull(t->ops->close);
    vs_err ce = {0};
    int rc = t->ops->close(t, &ce);
    ck_assert_msg(rc == -codes[_i], "case %d: close rc %d (%s): %s", _i, rc,
                  vs_errc_name(-rc), ce.msg);
    ck_assert_msg(strstr(ce.msg, "GET_VRING_BASE") != NULL, "case %d: '%s'", _i, ce.msg);
    t->ops->destroy(t);
    f.release = 1;
    shutdown(f.lfd, SHUT_RDWR); /* no reconnect comes: the fake's accept returns */
    pthread_join(th, NULL);
    close(f.lfd);
    unlink(path);
    rmdir(dir);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(qsd_bad_args)
{
    vs_qsd_opts o;
    vs_qsd_opts_default(&o);
    o.image = "/nonexistent/dir/img.raw";
    vs_qsd *q = NULL;
    vs_err err = {0};
    int rc = vs_qsd_start(&o, &q, &err);
    ck_assert_int_eq(rc, -VS_EBACKEND);
    ck_assert_msg(strstr(err.msg, "stderr") != NULL, "%s", err.msg);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(vs_qsd_live_count(), 0);
    vs_transport *t = NULL;
    vs_gmem *gm;
    OK(vs_gmem_create_flat(&gm, 1u << 20, e));
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.connect_timeout_ms = 100;
    rc = vs_vhost_user_transport_create(&t, gm, "/nonexistent/vhost.sock", &fo, NULL, &err);
    ck_assert_int_eq(rc, -VS_EBACKEND);
    vs_gmem_destroy(gm);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vhost_frontend");
    TCase *tq = tcase_create("qsd");
    tcase_set_timeout(tq, 60);
    tcase_add_test(tq, qsd_version);
    tcase_add_test(tq, qsd_driver_io);
    tcase_add_test(tq, qsd_multiqueue);
    tcase_add_test(tq, qsd_death_and_reconnect);
    tcase_add_test(tq, qsd_bad_args);
    suite_add_tcase(s, tq);
    TCase *tf = tcase_create("fake");
    tcase_set_timeout(tf, 20);
    tcase_add_loop_test(tf, fake_malformed, 0, (int)(sizeof fake_cases / sizeof fake_cases[0]));
    tcase_add_test(tf, fake_death_after_bringup);
    tcase_add_loop_test(tf, fake_bad_stop_at_close, 0, 4);
    tcase_add_loop_test(tf, fake_bad_stop_at_reset, 0,
                        (int)(sizeof stop_cases / sizeof stop_cases[0]));
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
