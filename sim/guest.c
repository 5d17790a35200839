/* `--backend guest`: Linux's own driver, in a test guest, drives the reference device.
 *
 * The reference device runs behind virtiosim's vhost-user server on a thread of this
 * process; QEMU boots the guest image (guest-image/build.sh: an uncompressed vmlinux through
 * the PVH entry, qboot, a busybox initramfs with vsguest) with the device as
 * vhost-user-*-pci and guest RAM in a shared memfd. The scenario's steps become vsguest's
 * workload on the kernel command line; vsguest reports each op and a result line on the
 * serial console. The server's events feed driver-role monitors in backend view: Linux's
 * requests as the device sees them are judged per statement, and the report carries the
 * kernel's release.
 *
 * qboot does no virtio I/O (it sets up PCI and loads the kernel QEMU hands it over fw_cfg;
 * it has no device driver), so every request the server sees is the kernel's. A chain the server rejects stops its ring, and
 * QEMU's vhost-user device then only logs "vhost vring error" while the guest waits
 * forever: QEMU is killed at once and the rejection is the verdict. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/backend_dev.h"
#include "sim/child.h"
#include "sim/guest_image.h"
#include "sim/vhost/judge.h"
#include "sim/qemu/qemu_proc.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/virtio.h"

#define GUEST_RAM_MIB 256
#define GUEST_TIMEOUT_MS 120000  /* boot + workload; a healthy 6.1 run takes ~4 s */
#define GUEST_LOG_MAX 8192       /* the console's tail kept as evidence */

typedef struct guest_run {
    const vs_scenario *s;
    const vs_run_opts *o;
    vs_scenario_result *r;
    const struct vs_guest_present *gp;
    char image[PATH_MAX];
    char release[64];
    char tmpdir[PATH_MAX];
    char sock[PATH_MAX + 16];
    vs_gmem *placeholder;
    vs_device *dev;
    vs_vhost_server *srv;
    vs_event_bus bus;
    vs_monitors *mon;           /* touched by the server thread until it is joined */
    vs_gmem *mon_gm;
    uint64_t features;
    pthread_t thr;
    bool thr_on;
    int srv_rc;
    vs_err srv_e;
    atomic_int dev_error;       /* the server rejected a chain: the guest would hang */
    char dev_error_text[300];
    pid_t qemu;
    int slot;
    char qemu_version[96];
    char log[GUEST_LOG_MAX];    /* the console, a rolling tail */
    char crash[120];            /* its first line telling a kernel crash */
    size_t log_len;
    char line[512];             /* the console line being read */
    size_t line_len;
    char result[256];           /* vsguest's result line */
    char first_fail[256];       /* its first failed op */
    bool workload_end;
    pthread_mutex_t dev_lock;   /* the server holds it while it works: host requests wait */
    char host_error[200];       /* a host request that failed */
} guest_run;

/* ------------------------------------------------------------------ the server side */

static void on_event(void *opaque, const vs_event *ev)
{
    guest_run *g = opaque;
    if (g->dev->gm != g->mon_gm) { /* QEMU's memory table came or changed */
        vs_monitors_set_gmem(g->mon, g->dev->gm);
        g->mon_gm = g->dev->gm;
    }
    if (ev->kind == VS_EV_FEATURES_WRITE)
        g->features = ev->val;
    if (ev->kind == VS_EV_DEVICE_ERROR && !atomic_load(&g->dev_error)) {
        snprintf(g->dev_error_text, sizeof g->dev_error_text, "%s",
                 ev->text ? ev->text : "device error");
        atomic_store(&g->dev_error, 1);
    }
    vs_err e = {0};
    if (vs_vhost_judge_rejection(g->mon, g->features, ev, &e) < 0)
        fprintf(stderr, "virtiosim guest: %s\n", e.msg);
    vs_monitors_on_event(g->mon, ev);
}

/* The server's own log lines: a rejection is already the verdict's message, so they are
 * only shown with --verbose. */
static void server_log(void *opaque, int level, const char *line)
{
    guest_run *g = opaque;
    if (g->o->verbose)
        fprintf(stderr, "  %s: vhost-user: %s (level %d)\n", g->s->name, line, level);
}

static void *server_thread(void *opaque)
{
    guest_run *g = opaque;
    g->srv_rc = vs_vhost_server_run(g->srv, 1, &g->srv_e);
    return NULL;
}

/* QEMU's vhost-user devices offer the guest only part of what the back-end offers:
 * RING_PACKED with packed=on only (we set it when the scenario's driver wants packed),
 * ACCESS_PLATFORM with iommu_platform=on only (never set here). */
static uint64_t frontend_mask(const vs_scenario *s, const struct vs_guest_present *gp)
{
    uint64_t m = ~VS_BIT(VS_F_ACCESS_PLATFORM) & ~gp->fe_hidden;
    if (!s->driver.packed)
        m &= ~VS_BIT(VS_F_RING_PACKED);
    return m;
}

static int server_start(guest_run *g, uint16_t qsize, vs_err *e)
{
    int rc = vs_gmem_create_flat(&g->placeholder, 1u << 20, e);
    if (rc == 0)
        rc = g->gp->create(g->s, g->placeholder, qsize, &g->dev, e);
    if (rc == 0)
        rc = vs_monitors_create(&g->mon, g->dev->gm, g->s->device_id, VS_ROLE_DRIVER, e);
    if (rc < 0)
        return rc;
    vs_monitors_set_scenario(g->mon, g->s->name);
    vs_monitors_set_backend_view(g->mon, true);
    vs_monitors_set_async_device(g->mon, true);
    vs_monitors_set_frontend_offer_mask(g->mon, frontend_mask(g->s, g->gp));
    g->mon_gm = g->dev->gm;
    rc = vs_event_bus_add(&g->bus, on_event, g);
    vs_vhost_server_opts so = {.dev = g->dev, .bus = &g->bus, .log_level = 1, .log = server_log,
                               .log_opaque = g, .dev_lock = &g->dev_lock,
                               .emit_used = g->s->dev->backends->serve_completions};
    if (rc == 0)
        rc = vs_vhost_server_create(&g->srv, &so, e);
    if (rc == 0)
        rc = vs_vhost_server_listen(g->srv, g->sock, e);
    if (rc < 0)
        return rc;
    if (pthread_create(&g->thr, NULL, server_thread, g) != 0)
        return vs_err_set(e, VS_EIO, "cannot start the vhost-user server thread");
    g->thr_on = true;
    return 0;
}

static void server_stop(guest_run *g)
{
    if (g->thr_on) {
        vs_vhost_server_stop(g->srv);
        pthread_join(g->thr, NULL);
        g->thr_on = false;
    }
}

/* ------------------------------------------------------------------ the guest image */

static int find_image(guest_run *g, vs_err *e)
{
    return vs_guest_find_image(g->o->kernel, NULL, g->image, sizeof g->image, g->release,
                               sizeof g->release, e);
}

/* ------------------------------------------------------------------ QEMU */

static int qemu_start(guest_run *g, const char *workload, uint16_t qsize, int *out_fd,
                      vs_err *e)
{
    char bin[PATH_MAX], qboot[2 * PATH_MAX], kernel[2 * PATH_MAX], initrd[2 * PATH_MAX];
    char mem[96], chardev[2 * PATH_MAX], device[256], append[2048];
    int rc = vs_qemu_resolve_binary(g->o->qemu_path, bin, sizeof bin, e);
    if (rc < 0)
        return rc;
    if (vs_qemu_version(bin, g->qemu_version, sizeof g->qemu_version, e) < 0)
        snprintf(g->qemu_version, sizeof g->qemu_version, "QEMU (version unknown)");
    vs_guest_find_qboot(bin, qboot, sizeof qboot);
    snprintf(kernel, sizeof kernel, "%s/vmlinux", g->image);
    snprintf(initrd, sizeof initrd, "%s/initramfs.cpio", g->image);
    snprintf(mem, sizeof mem, "memory-backend-memfd,id=vs-mem,size=%dM,share=on", GUEST_RAM_MIB);
    snprintf(chardev, sizeof chardev, "socket,id=vsvu0,path=%s", g->sock);
    g->gp->device(g->s, "vsvu0", qsize, device, sizeof device);
    if (g->s->driver.packed)
        strncat(device, ",packed=on", sizeof device - strlen(device) - 1);
    /* cryptomgr.notests: the crypto self-tests were a third of the boot under TCG */
    int w = snprintf(append, sizeof append,
                     "console=ttyS0 quiet panic=-1 cryptomgr.notests vsguest=%s%s%s", workload,
                     g->gp->cmdline ? " " : "", g->gp->cmdline ? g->gp->cmdline : "");
    if (w < 0 || (size_t)w >= sizeof append)
        return vs_err_set(e, VS_EINVAL, "the workload does not fit the kernel command line");
    char msize[16];
    snprintf(msize, sizeof msize, "%dM", GUEST_RAM_MIB);
    char *const argv[] = {
        bin, "-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg", "-M",
        "pc,memory-backend=vs-mem", "-m", msize, "-smp", "1", "-object", mem, "-bios", qboot,
        "-kernel", kernel, "-initrd", initrd, "-append", append, "-serial", "stdio",
        "-no-reboot", "-chardev", chardev, "-device", device, NULL};
    static const char *const files[] = {"vu.sock", NULL};
    return vs_guest_spawn(argv, g->tmpdir, files, &g->qemu, &g->slot, out_fd, e);
}

static void qemu_kill(guest_run *g)
{
    vs_guest_kill(&g->qemu, &g->slot);
}

/* ------------------------------------------------------------------ the console */

/* "vsguest: host REQ": the workload asks the host side for something (a LUN hot-add) and
 * then watches for its effect in the guest. */
static void host_request(guest_run *g, const char *req)
{
    char why[200] = "";
    int rc = -1;
    if (g->gp->host) {
        pthread_mutex_lock(&g->dev_lock);
        rc = g->gp->host(g->dev, req, why, sizeof why);
        pthread_mutex_unlock(&g->dev_lock);
    } else {
        snprintf(why, sizeof why, "the device takes no host requests");
    }
    if (rc < 0 && !g->host_error[0])
        snprintf(g->host_error, sizeof g->host_error, "host request '%.48s': %.120s", req, why);
}

static void console_line(guest_run *g, const char *l)
{
    vs_guest_crash_line(g->crash, sizeof g->crash, l);
    if (strncmp(l, "vsguest: host ", 14) == 0)
        host_request(g, l + 14);
    else if (strncmp(l, "vsguest: result ", 16) == 0)
        snprintf(g->result, sizeof g->result, "%s", l + 9);
    else if (strncmp(l, "vsguest: op ", 12) == 0 && strstr(l, " fail") && !g->first_fail[0])
        snprintf(g->first_fail, sizeof g->first_fail, "%s", l + 9);
    else if (strcmp(l, "vsguest: end") == 0)
        g->workload_end = true;
    if (g->o->verbose && strncmp(l, "vsguest:", 8) == 0)
        fprintf(stderr, "  %s: %s\n", g->s->name, l);
}

static void console_feed(guest_run *g, const char *p, size_t n)
{
    vs_guest_tail_add(g->log, sizeof g->log, &g->log_len, p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || g->line_len == sizeof g->line - 1) {
            g->line[g->line_len] = '\0';
            if (g->line_len && g->line[g->line_len - 1] == '\r')
                g->line[g->line_len - 1] = '\0';
            console_line(g, g->line);
            g->line_len = 0;
        } else {
            g->line[g->line_len++] = p[i];
        }
    }
}

/* Reads the console until QEMU exits, the server rejects a chain (the guest would hang:
 * QEMU is killed), the deadline passes or the user interrupts. Returns why it stopped:
 * 0 QEMU exited, 1 rejected chain, 2 timeout, 3 interrupted. */
static int watch(guest_run *g, int fd)
{
    int64_t deadline = vs_child_now_ms() + GUEST_TIMEOUT_MS;
    int64_t kill_at = 0;
    bool eof = false;
    for (;;) {
        if (g->o->stop && *g->o->stop)
            return 3;
        if (atomic_load(&g->dev_error) && !kill_at)
            kill_at = vs_child_now_ms() + 300; /* QEMU's own words first */
        if (kill_at && vs_child_now_ms() >= kill_at)
            return 1;
        if (vs_child_now_ms() >= deadline)
            return 2;
        int st;
        if (eof && vs_child_reap(g->qemu, false, &st)) {
            if (g->slot >= 0)
                vs_child_unregister(g->slot);
            g->qemu = 0;
            return atomic_load(&g->dev_error) ? 1 : 0;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (eof) {
            vs_child_sleep_ms(20);
            continue;
        }
        if (poll(&p, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0)
                console_feed(g, buf, (size_t)n);
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                eof = true;
        }
    }
}

/* ------------------------------------------------------------------ the verdict */

/* The console's first crash line, if it had one, then as much of its end as fits in n,
 * on one line. */
static void flatten_tail(const guest_run *g, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s%s%s", g->crash[0] ? "crash: " : "", g->crash,
                     g->crash[0] ? " ... " : "");
    size_t used = w > 0 && (size_t)w < n ? (size_t)w : 0, room = n - 1 - used;
    size_t take = g->log_len < room ? g->log_len : room;
    memcpy(buf + used, g->log + g->log_len - take, take);
    buf[used + take] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static void judge(guest_run *g, int why)
{
    vs_scenario_result *r = g->r;
    vs_err e = {0};
    r->negotiated = g->features;
    if (vs_monitors_finish(g->mon, g->features, &e) == 0 &&
        vs_results_create(&r->conformance, &e) == 0)
        vs_results_merge(r->conformance, vs_monitors_results(g->mon), &e);
    if (r->conformance)
        snprintf(r->conformance->scenario, sizeof r->conformance->scenario, "%s", g->s->name);
    char tail[420];
    flatten_tail(g, tail, sizeof tail);
    r->verdict = VS_SCN_PASS;
    if (why == 3) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "interrupted while the guest ran");
    } else if (why == 1) {
        r->verdict = VS_SCN_FAIL;
        snprintf(r->message, sizeof r->message, "the device rejected a chain of Linux %s: %s; "
                 "QEMU killed (its vhost-user device stops the ring and the guest waits "
                 "forever). Console: %s", g->release, g->dev_error_text, tail);
    } else if (why == 2 || !g->result[0]) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s: no result from vsguest%s. Console: %s",
                 g->release, why == 2 ? " within the time limit, QEMU killed" : "", tail);
    } else if (strncmp(g->result, "result pass", 11) != 0) {
        r->verdict = g->host_error[0] ? VS_SCN_ERROR : VS_SCN_FAIL;
        snprintf(r->message, sizeof r->message, "guest workload on Linux %s: %s (%s)%s%s",
                 g->release, g->first_fail[0] ? g->first_fail : "failed", g->result,
                 g->host_error[0] ? "; " : "", g->host_error);
    }
    size_t nfail = r->conformance ? r->conformance->count[VS_VERDICT_FAIL] : 0;
    for (size_t i = 0; nfail && r->verdict == VS_SCN_PASS && i < r->conformance->n_stmt; i++) {
        const vs_stmt_result *sr = &r->conformance->stmt[i];
        if (sr->verdict != VS_VERDICT_FAIL)
            continue;
        char ev[300] = "";
        if (sr->n_evidence)
            vs_evidence_format(&sr->evidence[0], ev, sizeof ev);
        r->verdict = VS_SCN_FAIL;
        snprintf(r->message, sizeof r->message, "Linux %s: %zu statement%s failed, first %s: %s",
                 g->release, nfail, nfail == 1 ? "" : "s", sr->st->id, ev);
    }
}

/* "Linux 6.1.0-50-amd64, QEMU 7.2.22" */
static void label(guest_run *g)
{
    const char *v = strstr(g->qemu_version, "version ");
    char qv[32] = "";
    if (v)
        sscanf(v + 8, "%31[^ ]", qv);
    snprintf(g->r->backend_version, sizeof g->r->backend_version, "Linux %.48s, QEMU %.24s",
             g->release, qv[0] ? qv : "?");
}

static void guest_free(guest_run *g)
{
    qemu_kill(g);
    server_stop(g);
    vs_vhost_server_stats st;
    if (g->srv) {
        vs_vhost_server_stats_get(g->srv, &st);
        g->r->requests = st.requests;
    }
    vs_vhost_server_destroy(g->srv);
    vs_monitors_destroy(g->mon);
    if (g->dev)
        g->dev->ops->destroy(g->dev);
    vs_gmem_destroy(g->placeholder);
    if (g->sock[0])
        unlink(g->sock);
    if (g->tmpdir[0])
        rmdir(g->tmpdir);
}

/* The scenario's steps as the guest helper's ops (the device's presentation turns each
 * step); 1 with why when the scenario does not apply. */
static int guest_workload(const vs_scenario *s, const struct vs_guest_present *gp, char *buf,
                          size_t n, char *why, size_t wn)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < s->nsteps; i++) {
        int rc = gp->step(s, &s->steps[i], buf, n, &used, why, wn);
        if (rc > 0)
            return 1;
        if (rc < 0) {
            snprintf(why, wn, "the workload is longer than the kernel command line allows "
                     "(%zu bytes)", n);
            return 1;
        }
    }
    if (!used) {
        snprintf(why, wn, "no step the guest can run");
        return 1;
    }
    return 0;
}

int vs_guest_ref_create(const vs_scenario *s, void *dev_opts, uint16_t fe_queue_size,
                        vs_gmem *gm, int (*ref_create)(vs_run_ctx *c, vs_device **out, vs_err *e),
                        vs_device **out, vs_err *e)
{
    vs_scenario copy = *s;
    copy.dev_opts = dev_opts;
    copy.queue_size = copy.queue_size < fe_queue_size ? fe_queue_size : copy.queue_size;
    vs_run_opts ro = {0};
    vs_scenario_result rr = {0};
    vs_run_ctx c = {.s = &copy, .sd = s->dev, .o = &ro, .r = &rr, .gm = gm};
    return ref_create(&c, out, e);
}

int vs_guest_run(const vs_scenario *s, const vs_run_opts *o, const char *arg,
                 vs_scenario_result *r, vs_err *e)
{
    (void)arg;
    guest_run *g = calloc(1, sizeof *g);
    if (!g)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    *g = (guest_run){.s = s, .o = o, .r = r, .gp = s->dev->backends->guest, .slot = -1};
    pthread_mutex_init(&g->dev_lock, NULL);
    uint64_t t0 = vs_run_wall_ns();
    char workload[1900], why[300] = "";
    vs_err ge = {0};
    int rc = guest_workload(s, g->gp, workload, sizeof workload, why, sizeof why);
    if (rc > 0) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "%s: %s", s->path, why);
        pthread_mutex_destroy(&g->dev_lock);
        free(g);
        return 0;
    }
    uint16_t qsize = s->driver.queue_size ? (uint16_t)s->driver.queue_size
                                           : g->gp->default_queue_size;
    int fd = -1;
    rc = find_image(g, &ge);
    if (rc == 0)
        rc = vs_child_make_tmpdir("guest", NULL, g->tmpdir, sizeof g->tmpdir, &ge);
    if (rc == 0) {
        snprintf(g->sock, sizeof g->sock, "%s/vu.sock", g->tmpdir);
        rc = server_start(g, qsize, &ge);
    }
    if (rc == 0)
        rc = qemu_start(g, workload, qsize, &fd, &ge);
    if (rc < 0) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s", ge.msg);
    } else {
        int why_end = watch(g, fd);
        qemu_kill(g);   /* a rejected chain or a timeout: the guest would not end */
        server_stop(g); /* the monitors are the main thread's from here */
        label(g);
        judge(g, why_end);
    }
    if (fd >= 0)
        close(fd);
    r->steps_run = s->nsteps;
    guest_free(g);
    r->wall_ns = vs_run_wall_ns() - t0;
    r->virtual_ns = r->wall_ns;
    pthread_mutex_destroy(&g->dev_lock);
    free(g);
    return 0;
}

int vs_guest_put(char *buf, size_t n, size_t *used, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *used, n - *used, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *used)
        return -1;
    *used += (size_t)w;
    return 0;
}
