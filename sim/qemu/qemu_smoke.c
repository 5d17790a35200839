/* Smoke test for the QEMU plumbing: boots QEMU's virtio-blk-pci with no guest, drives it
 * through qtest + shared memory, measures QD1 throughput, checks clean-up and crash
 * detection.  Exit 0 on success, 1 on failure, 77 if QEMU is not installed. */
#define _GNU_SOURCE
#include "pci_qtest.h"
#include "qemu_proc.h"
#include "qtest.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (64u << 20)
#define QSZ 16u
#define GPA_DESC 0x100000u
#define GPA_AVAIL 0x101000u
#define GPA_USED 0x102000u
#define GPA_HDR 0x103000u
#define GPA_DATA 0x104000u
#define GPA_STATUS 0x105000u
#define GPA_MSI 0x106000u
#define MSI_DATA 0x00C0DE01u

#define ST_ACK 1u
#define ST_DRIVER 2u
#define ST_DRIVER_OK 4u
#define ST_FEATURES_OK 8u
#define ST_FAILED 0x80u

static uint8_t *g_mem;
static int g_fail;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            g_fail = 1;                                                                    \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)
#define TRY(call)                                                                          \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        CHECK(rc_ >= 0, "%s -> %s: %s", #call, vs_errc_name(rc_), err.msg);                \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put16(uint64_t gpa, uint16_t v) { memcpy(g_mem + gpa, &v, 2); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(g_mem + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(g_mem + gpa, &v, 8); }

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t d = GPA_DESC + 16u * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

static uint16_t used_idx(void)
{
    return __atomic_load_n((uint16_t *)(void *)(g_mem + GPA_USED + 2), __ATOMIC_ACQUIRE);
}

static uint32_t msi_word(void)
{
    return __atomic_load_n((uint32_t *)(void *)(g_mem + GPA_MSI), __ATOMIC_ACQUIRE);
}

static void msi_clear(void)
{
    __atomic_store_n((uint32_t *)(void *)(g_mem + GPA_MSI), 0u, __ATOMIC_RELEASE);
}

/* publishes one chain head in the avail ring (release ordering) */
static void avail_push(uint16_t *avail_idx, uint16_t head)
{
    put16(GPA_AVAIL + 4 + 2u * (*avail_idx % QSZ), head);
    (*avail_idx)++;
    __atomic_store_n((uint16_t *)(void *)(g_mem + GPA_AVAIL + 2), *avail_idx, __ATOMIC_RELEASE);
}

/* spin until used idx reaches want (and, if need_msi, the MSI-X message arrived) */
static int wait_done(uint16_t want, bool need_msi, double timeout_s)
{
    double t0 = now_s();
    for (unsigned spins = 0;; spins++) {
        if (used_idx() == want && (!need_msi || msi_word() == MSI_DATA))
            return 0;
        if ((spins & 1023) == 0 && now_s() - t0 > timeout_s)
            return -1;
        if ((spins & 63) == 63)
            sched_yield();
    }
}

static int common_w8(vs_qtest *q, const vs_pci_virtio_dev *d, unsigned off, uint8_t v, vs_err *e)
{
    return vs_qtest_writeb(q, d->caps.common.gpa + off, v, e);
}

int main(void)
{
    vs_err err = { 0 };
    vs_qemu *qemu = NULL, *qemu2 = NULL;
    char tmpdir_copy[4096] = "";
    int memfd = -1;

    char ver[256];
    if (vs_qemu_version(NULL, ver, sizeof ver, &err) < 0) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    printf("qemu: %s\n", ver);
    if (vs_qemu_install_cleanup(&err) < 0) {
        fprintf(stderr, "cleanup: %s\n", err.msg);
        return 1;
    }

    memfd = memfd_create("virtiosim-guest-ram", MFD_CLOEXEC);
    CHECK(memfd >= 0, "memfd_create: %s", strerror(errno));
    CHECK(ftruncate(memfd, MEM_SIZE) == 0, "ftruncate: %s", strerror(errno));
    g_mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    CHECK(g_mem != MAP_FAILED, "mmap: %s", strerror(errno));

    const char *args[] = {
        "-device", "virtio-blk-pci,disable-legacy=on,drive=d0",
        "-blockdev", "driver=null-co,node-name=d0,size=67108864,read-zeroes=on",
        NULL,
    };
    vs_qemu_opts o = { .mem_fd = memfd, .mem_size = MEM_SIZE, .extra_args = args,
                       .accel = getenv("VIRTIOSIM_QEMU_ACCEL"),
                       .machine = getenv("VIRTIOSIM_QEMU_MACHINE") };
    const char *nreq_env = getenv("VIRTIOSIM_SMOKE_REQUESTS");
    const int NREQ = nreq_env ? atoi(nreq_env) : 20000;
    double t0 = now_s();
    TRY(vs_qemu_start(&o, &qemu, &err));
    printf("started pid %d in %.1f ms: %s\n", (int)vs_qemu_pid(qemu), (now_s() - t0) * 1e3,
           vs_qemu_cmdline(qemu));
    snprintf(tmpdir_copy, sizeof tmpdir_copy, "%s", vs_qemu_tmpdir(qemu));
    vs_qtest *q = vs_qemu_qtest(qemu);

    /* enumerate */
    vs_pci_func fs[32];
    size_t nf = 0;
    TRY(vs_pci_scan_bus0(q, fs, 32, &nf, &err));
    for (size_t i = 0; i < nf && i < 32; i++)
        printf("  %02x:%02x.%x %04x:%04x class %02x%02x\n", fs[i].bdf.bus, fs[i].bdf.dev,
               fs[i].bdf.fn, fs[i].vendor, fs[i].device, fs[i].class_code, fs[i].subclass);
    vs_pci_alloc alloc;
    vs_pci_alloc_default(&alloc);
    vs_pci_virtio_dev dev;
    TRY(vs_pci_virtio_setup(q, &alloc, VS_VIRTIO_TYPE_BLK, 0, &dev, &err));
    for (int i = 0; i < 6; i++)
        if (dev.bars[i].present)
            printf("  BAR%d %s%s size 0x%" PRIx64 " at 0x%" PRIx64 "\n", i,
                   dev.bars[i].io ? "io" : "mem", dev.bars[i].is64 ? "64" : "32",
                   dev.bars[i].size, dev.bars[i].addr);
    const vs_virtio_pci_caps *c = &dev.caps;
    printf("  common 0x%" PRIx64 " notify 0x%" PRIx64 " (mult %u) isr 0x%" PRIx64
           " device 0x%" PRIx64 " pci_cfg cap @0x%x\n", c->common.gpa, c->notify.gpa,
           c->notify_off_multiplier, c->isr.gpa, c->device.gpa, c->pci_cfg_cap);
    CHECK(c->msix.present, "no MSI-X");
    printf("  msix: %u entries, table BAR%u+0x%x, PBA BAR%u+0x%x\n", c->msix.table_size,
           c->msix.table_bar, c->msix.table_off, c->msix.pba_bar, c->msix.pba_off);
    uint64_t cm = c->common.gpa;

    /* reset + ACK + DRIVER */
    TRY(common_w8(q, &dev, VS_VIRTIO_COMMON_STATUS, 0, &err));
    uint8_t st = 0xff;
    TRY(vs_qtest_readb(q, cm + VS_VIRTIO_COMMON_STATUS, &st, &err));
    CHECK(st == 0, "status after reset = 0x%x", st);
    TRY(common_w8(q, &dev, VS_VIRTIO_COMMON_STATUS, ST_ACK, &err));
    TRY(common_w8(q, &dev, VS_VIRTIO_COMMON_STATUS, ST_ACK | ST_DRIVER, &err));

    uint32_t flo = 0, fhi = 0;
    TRY(vs_qtest_writel(q, cm + VS_VIRTIO_COMMON_DFSELECT, 0, &err));
    TRY(vs_qtest_readl(q, cm + VS_VIRTIO_COMMON_DF, &flo, &err));
    TRY(vs_qtest_writel(q, cm + VS_VIRTIO_COMMON_DFSELECT, 1, &err));
    TRY(vs_qtest_readl(q, cm + VS_VIRTIO_COMMON_DF, &fhi, &err));
    uint64_t feat = ((uint64_t)fhi << 32) | flo;
    printf("device features: 0x%016" PRIx64 "\n", feat);
    CHECK(feat & (1ull << 32), "VERSION_1 not offered");

    /* pipelined: driver features (VERSION_1 only) + FEATURES_OK */
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_GFSELECT, 0, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_GF, 0, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_GFSELECT, 1, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_GF, 1, &err));
    TRY(vs_qtest_queue_writeb(q, cm + VS_VIRTIO_COMMON_STATUS,
                              ST_ACK | ST_DRIVER | ST_FEATURES_OK, &err));
    uint64_t st64 = 0;
    TRY(vs_qtest_queue(q, VS_QT_READB, cm + VS_VIRTIO_COMMON_STATUS, 0, &st64, &err));
    uint64_t w0 = vs_qtest_stat_writes(q);
    TRY(vs_qtest_flush(q, &err));
    CHECK(vs_qtest_stat_writes(q) == w0 + 1, "batch not sent in one write");
    CHECK(st64 & ST_FEATURES_OK, "FEATURES_OK not accepted: status 0x%" PRIx64, st64);
    printf("FEATURES_OK accepted (status 0x%02" PRIx64 ", 6 commands in one write)\n", st64);

    /* MSI-X: enable, vector 0 -> GPA_MSI */
    memset(g_mem + GPA_DESC, 0, 0x7000);
    TRY(vs_pci_msix_enable(q, dev.func.bdf, &c->msix, true, &err));
    TRY(vs_pci_msix_set_entry(q, &c->msix, 0, GPA_MSI, MSI_DATA, false, &err));
    TRY(vs_qtest_writew(q, cm + VS_VIRTIO_COMMON_MSIX, 0xffff, &err));

    /* queue 0 */
    uint16_t qmax = 0, vec = 0, noff = 0;
    TRY(vs_qtest_writew(q, cm + VS_VIRTIO_COMMON_Q_SELECT, 0, &err));
    TRY(vs_qtest_readw(q, cm + VS_VIRTIO_COMMON_Q_SIZE, &qmax, &err));
    CHECK(qmax >= QSZ, "queue 0 max size %u", qmax);
    TRY(vs_qtest_writew(q, cm + VS_VIRTIO_COMMON_Q_SIZE, QSZ, &err));
    TRY(vs_qtest_writew(q, cm + VS_VIRTIO_COMMON_Q_MSIX, 0, &err));
    TRY(vs_qtest_readw(q, cm + VS_VIRTIO_COMMON_Q_MSIX, &vec, &err));
    CHECK(vec == 0, "queue msix vector not accepted (0x%x)", vec);
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_DESCLO, GPA_DESC, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_DESCHI, 0, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_AVAILLO, GPA_AVAIL, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_AVAILHI, 0, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_USEDLO, GPA_USED, &err));
    TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_Q_USEDHI, 0, &err));
    TRY(vs_qtest_flush(q, &err));
    TRY(vs_qtest_readw(q, cm + VS_VIRTIO_COMMON_Q_NOFF, &noff, &err));
    TRY(vs_qtest_writew(q, cm + VS_VIRTIO_COMMON_Q_ENABLE, 1, &err));
    uint64_t notify = vs_pci_virtio_notify_addr(&dev, noff);
    printf("queue 0: max %u, using %u, notify_off %u -> notify GPA 0x%" PRIx64 "\n", qmax, QSZ,
           noff, notify);
    TRY(common_w8(q, &dev, VS_VIRTIO_COMMON_STATUS,
                  ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK, &err));
    TRY(vs_qtest_readb(q, cm + VS_VIRTIO_COMMON_STATUS, &st, &err));
    CHECK(st == (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK), "status 0x%x", st);

    /* one IN request: header, 512-byte data, status byte */
    put32(GPA_HDR, 0);     /* VIRTIO_BLK_T_IN */
    put32(GPA_HDR + 4, 0);
    put64(GPA_HDR + 8, 0); /* sector 0 */
    memset(g_mem + GPA_DATA, 0xAA, 512);
    g_mem[GPA_STATUS] = 0xff;
    set_desc(0, GPA_HDR, 16, 1 /*NEXT*/, 1);
    set_desc(1, GPA_DATA, 512, 1 | 2 /*NEXT|WRITE*/, 2);
    set_desc(2, GPA_STATUS, 1, 2 /*WRITE*/, 0);
    uint16_t aidx = 0;
    msi_clear();
    t0 = now_s();
    avail_push(&aidx, 0);
    TRY(vs_qtest_writew(q, notify, 0, &err));
    CHECK(wait_done(aidx, true, 5.0) == 0, "request did not complete (used idx %u, msi 0x%x)",
          used_idx(), msi_word());
    double rtt = now_s() - t0;
    CHECK(g_mem[GPA_STATUS] == 0, "blk status %u", g_mem[GPA_STATUS]);
    uint32_t ulen;
    memcpy(&ulen, g_mem + GPA_USED + 4 + 4, 4);
    bool zeroes = true;
    for (int i = 0; i < 512; i++)
        zeroes &= g_mem[GPA_DATA + i] == 0;
    CHECK(zeroes, "data not zero-filled by null-co read-zeroes");
    printf("request 1: status %u, used.len %u, MSI-X data 0x%08x at GPA 0x%x, round trip "
           "%.1f us\n", g_mem[GPA_STATUS], ulen, msi_word(), GPA_MSI, rtt * 1e6);

    /* QD1 loops: (a) synchronous kick, (b) posted kick (OK read later) */
    for (int mode = 0; mode < 2; mode++) {
        const int N = NREQ;
        t0 = now_s();
        for (int i = 0; i < N; i++) {
            g_mem[GPA_STATUS] = 0xff;
            msi_clear();
            avail_push(&aidx, 0);
            if (mode == 0) {
                TRY(vs_qtest_writew(q, notify, 0, &err));
            } else {
                TRY(vs_qtest_queue_writew(q, notify, 0, &err));
                TRY(vs_qtest_post(q, &err));
            }
            CHECK(wait_done(aidx, true, 5.0) == 0, "request %d timed out (used %u avail %u msi 0x%x status %u pending %zu)", i, used_idx(), aidx, msi_word(), g_mem[GPA_STATUS], vs_qtest_pending(q));
            CHECK(g_mem[GPA_STATUS] == 0, "request %d status %u", i, g_mem[GPA_STATUS]);
        }
        TRY(vs_qtest_drain(q, &err));
        double dt = now_s() - t0;
        printf("QD1 %s kick: %d requests in %.2f s = %.0f req/s (%.1f us each)\n",
               mode ? "posted" : "sync", N, dt, N / dt, dt / N * 1e6);
    }

    /* raw qtest costs: one MMIO read round trip, and pipelined writes */
    {
        const int N = 5000;
        uint8_t g;
        t0 = now_s();
        for (int i = 0; i < N; i++)
            TRY(vs_qtest_readb(q, cm + VS_VIRTIO_COMMON_CFGGENERATION, &g, &err));
        double dt = now_s() - t0;
        printf("qtest readb round trip: %.1f us\n", dt / N * 1e6);
        t0 = now_s();
        for (int i = 0; i < N; i++) {
            TRY(vs_qtest_queue_writel(q, cm + VS_VIRTIO_COMMON_DFSELECT, (uint32_t)(i & 1), &err));
            if (i % 100 == 99)
                TRY(vs_qtest_flush(q, &err));
        }
        TRY(vs_qtest_flush(q, &err));
        dt = now_s() - t0;
        printf("qtest pipelined writel (100 per write()): %.2f us each\n", dt / N * 1e6);
    }

    /* evidence: a zero-length descriptor makes QEMU mark the device broken */
    set_desc(1, GPA_DATA, 0, 1 | 2, 2);
    avail_push(&aidx, 0);
    TRY(vs_qtest_writew(q, notify, 0, &err));
    {
        char text[4096] = "";
        double tz = now_s();
        while (now_s() - tz < 2.0) {
            vs_qemu_stderr_text(qemu, text, sizeof text);
            if (strstr(text, "zero sized buffers"))
                break;
            usleep(1000);
        }
        CHECK(strstr(text, "zero sized buffers"), "no stderr evidence: '%s'", text);
        printf("stderr evidence: %s", text);
        TRY(vs_qtest_readb(q, cm + VS_VIRTIO_COMMON_STATUS, &st, &err));
        printf("device status after error: 0x%02x (NEEDS_RESET=0x40)\n", st);
    }

    /* clean stop */
    pid_t pid = vs_qemu_pid(qemu);
    t0 = now_s();
    TRY(vs_qemu_stop(qemu, &err));
    printf("stopped in %.1f ms\n", (now_s() - t0) * 1e3);
    {
        char text[256];
        vs_qemu_stderr_text(qemu, text, sizeof text);
        CHECK(strstr(text, "zero sized"), "stderr copy lost after stop");
    }
    vs_qemu_destroy(qemu);
    qemu = NULL;
    CHECK(kill(pid, 0) != 0 && errno == ESRCH, "pid %d still exists", (int)pid);
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left");
    struct stat sb;
    CHECK(stat(tmpdir_copy, &sb) != 0, "temp dir %s still exists", tmpdir_copy);
    CHECK(vs_qemu_live_count() == 0, "registry not empty");
    printf("no child left, temp dir %s removed\n", tmpdir_copy);

    /* crash detection: kill -9 QEMU, then a qtest call must fail promptly */
    TRY(vs_qemu_start(&o, &qemu2, &err));
    q = vs_qemu_qtest(qemu2);
    uint32_t id = 0;
    TRY(vs_qtest_readl(q, 0xFFFFFFF0u, &id, &err)); /* reads the firmware's reset vector */
    CHECK(id == 0xFDEBF4FAu, "reset vector bytes 0x%08x", id);
    int rc = vs_qtest_irq_intercept_in(q, "ioapic", &err);
    printf("irq_intercept_in ioapic: %s%s%s\n", rc < 0 ? vs_errc_name(rc) : "ok",
           rc < 0 ? ": " : "", rc < 0 ? err.msg : "");
    rc = vs_qtest_poll_async(q, 10, &err);
    CHECK(rc >= 0, "poll_async: %s", err.msg);
    kill(vs_qemu_pid(qemu2), SIGKILL);
    t0 = now_s();
    vs_err_clear(&err);
    rc = vs_qtest_readl(q, 0xFFFFFFF0u, &id, &err);
    double dt = now_s() - t0;
    CHECK(rc == -VS_EBACKEND, "after kill -9: rc %d (%s)", rc, err.msg);
    printf("after kill -9: %s in %.2f ms: %s\n", vs_errc_name(rc), dt * 1e3, err.msg);
    CHECK(dt < 1.0, "crash detection too slow");
    rc = vs_qemu_check(qemu2, 1000, &err);
    CHECK(rc == -VS_EBACKEND, "QEMU still alive after kill -9?");
    printf("vs_qemu_check: %s\n", err.msg);
    CHECK(!vs_qemu_alive(qemu2), "still alive?");
    vs_qemu_destroy(qemu2);
    qemu2 = NULL;

    /* bad device option: start fails with QEMU's message */
    {
        const char *bad[] = { "-device", "virtio-blk-pci,drive=nosuch", NULL };
        vs_qemu_opts ob = o;
        ob.extra_args = bad;
        vs_qemu *qb = NULL;
        rc = vs_qemu_start(&ob, &qb, &err);
        CHECK(rc == -VS_EBACKEND && qb == NULL, "bad device arg: rc %d", rc);
        printf("bad -device: %s: %s\n", vs_errc_name(rc), err.msg);
    }
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left at the end");
    CHECK(vs_qemu_live_count() == 0, "registry not empty at the end");

out:
    vs_qemu_destroy(qemu);
    vs_qemu_destroy(qemu2);
    if (g_mem && g_mem != MAP_FAILED)
        munmap(g_mem, MEM_SIZE);
    if (memfd >= 0)
        close(memfd);
    printf("%s\n", g_fail ? "SMOKE FAILED" : "SMOKE OK");
    return g_fail;
}
