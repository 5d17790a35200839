/* `--backend vhost-kernel` on a host without the device node: the test guest runs
 * virtiosim itself as the VMM of its kernel's vhost device, once for the whole run.
 *
 * The host packs the scenario files, the expected-results file and virtiosim's arguments
 * into a small newc cpio appended to the image's initramfs (the kernel unpacks
 * concatenated archives in order); the image's /init (guest-image/init) sees /vs/args,
 * loads the vhost and LIO modules, mounts configfs and runs
 *   virtiosim run --backend vhost-kernel:DEV --report /tmp/vs-report ... FILES
 * in /vs (so each scenario keeps its path). Its output lines come back on the serial
 * console as they happen, then results.json base64-encoded between two marker lines. The
 * host decodes it, labels it with the suite and the host's expected-results path, and
 * writes its four reports from it (vs_report_merge). A guest that crashes, hangs or ends
 * without results makes every scenario an error whose message carries the console's tail.
 * QEMU and the temporary folder are registered with sim/child.c: nothing outlives the run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/backend_dev.h"
#include "sim/child.h"
#include "sim/guest_image.h"
#include "sim/qemu/qemu_proc.h"

#define VK_RAM_MIB 1024
#define VK_BOOT_MS 120000          /* boot and set-up */
#define VK_SCENARIO_MS 60000       /* added per scenario */
#define VK_TAIL 2000               /* console bytes kept as evidence */
#define VK_GUEST_REPORT "/tmp/vs-report"

typedef struct vk_run {
    const vs_batch *b;
    char image[PATH_MAX], release[64];
    char tmpdir[PATH_MAX], initrd[PATH_MAX + 16], results[PATH_MAX + 16];
    FILE *cpio;
    unsigned ino;
    pid_t qemu;
    int slot;
    char *b64;                     /* results.json, base64, while it arrives */
    size_t b64_len, b64_cap;
    int state;                     /* 0 booting, 1 running, 2 results, 3 done */
    char line[4096];
    size_t line_len;
    char tail[VK_TAIL];
    char crash[200];             /* the console's first line telling a kernel crash */
    size_t tail_len;
    int boot_ms;                   /* QEMU start to "vsvk: start" */
    char leftovers[512];           /* what /init found in configfs and /tmp afterwards */
} vk_run;

/* ------------------------------------------------------------------ the data cpio */

static void cpio_entry(vk_run *v, const char *name, unsigned mode, const void *data, size_t n)
{
    size_t nl = strlen(name) + 1;
    fprintf(v->cpio, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ++v->ino,
            mode, 0u, 0u, 1u, 0u, (unsigned)n, 0u, 0u, 0u, 0u, (unsigned)nl, 0u);
    fwrite(name, 1, nl, v->cpio);
    for (size_t pad = (4 - (110 + nl) % 4) % 4; pad; pad--)
        fputc(0, v->cpio);
    if (n)
        fwrite(data, 1, n, v->cpio);
    for (size_t pad = (4 - n % 4) % 4; pad; pad--)
        fputc(0, v->cpio);
}

/* Every parent folder of path (inside vs/), then the file's bytes. */
static int cpio_file(vk_run *v, const char *dst, const char *src, vs_err *e)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dst);
    for (char *p = strchr(dir, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        cpio_entry(v, dir, 040755, NULL, 0);
        *p = '/';
    }
    FILE *f = fopen(src, "rb");
    if (!f)
        return vs_err_set(e, VS_EINVAL, "%s: %s", src, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0, k;
    char chunk[8192];
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k > cap) {
            char *nb = realloc(buf, cap = 2 * (n + k));
            if (!nb) {
                free(buf);
                fclose(f);
                return vs_err_set(e, VS_ENOMEM, "out of memory");
            }
            buf = nb;
        }
        memcpy(buf + n, chunk, k);
        n += k;
    }
    fclose(f);
    cpio_entry(v, dst, 0100644, buf, n);
    free(buf);
    return 0;
}

/* Where a scenario file goes in the guest: its own relative path under vs/ (so reports
 * name it as the host does), else vs/ext/N-BASENAME. */
static void guest_path(const char *src, size_t i, char *out, size_t n)
{
    while (strncmp(src, "./", 2) == 0)
        src += 2;
    if (src[0] != '/' && !strstr(src, "..") && !strstr(src, "/./") && !strstr(src, "//")) {
        snprintf(out, n, "vs/%s", src);
        return;
    }
    char cwd[PATH_MAX], real[PATH_MAX];
    size_t cl = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (cl && realpath(src, real) && strncmp(real, cwd, cl) == 0 && real[cl] == '/') {
        snprintf(out, n, "vs/%s", real + cl + 1);
        return;
    }
    const char *base = strrchr(src, '/');
    snprintf(out, n, "vs/ext/%zu-%s", i, base ? base + 1 : src);
}

static void arg_line(char *args, size_t n, const char *a)
{
    size_t used = strlen(args);
    snprintf(args + used, n - used, "%s\n", a);
}

static int build_initrd(vk_run *v, vs_err *e)
{
    const vs_batch *b = v->b;
    snprintf(v->initrd, sizeof v->initrd, "%s/initrd", v->tmpdir);
    char base[PATH_MAX + 32];
    snprintf(base, sizeof base, "%s/initramfs.cpio", v->image);
    FILE *in = fopen(base, "rb");
    if (!in)
        return vs_err_set(e, VS_EBACKEND, "%s: %s", base, strerror(errno));
    v->cpio = fopen(v->initrd, "wb");
    if (!v->cpio) {
        fclose(in);
        return vs_err_set(e, VS_EIO, "%s: %s", v->initrd, strerror(errno));
    }
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, in)) > 0)
        fwrite(chunk, 1, k, v->cpio);
    fclose(in);
    /* the second archive starts on a 4-byte boundary (the first ends on 512) */
    static char args[65536];
    args[0] = '\0';
    arg_line(args, sizeof args, "run");
    arg_line(args, sizeof args, "--backend");
    arg_line(args, sizeof args, "vhost-kernel:");
    arg_line(args, sizeof args, "--report");
    arg_line(args, sizeof args, VK_GUEST_REPORT);
    for (size_t i = 0; i < b->n_extra; i++)
        arg_line(args, sizeof args, b->extra[i]);
    int rc = 0;
    if (b->expected_path) {
        arg_line(args, sizeof args, "--expected");
        arg_line(args, sizeof args, "/vs/expected.yaml");
        rc = cpio_file(v, "vs/expected.yaml", b->expected_path, e);
    }
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        char dst[PATH_MAX + 16];
        guest_path(b->files[i], i, dst, sizeof dst);
        rc = cpio_file(v, dst, b->files[i], e);
        arg_line(args, sizeof args, dst + 3);
    }
    if (rc == 0 && strlen(args) >= sizeof args - 1)
        rc = vs_err_set(e, VS_EINVAL, "too many scenarios for one guest run");
    if (rc == 0)
        cpio_entry(v, "vs/args", 0100644, args, strlen(args));
    cpio_entry(v, "TRAILER!!!", 0, NULL, 0);
    if (fclose(v->cpio) != 0 && rc == 0)
        rc = vs_err_set(e, VS_EIO, "%s: %s", v->initrd, strerror(errno));
    v->cpio = NULL;
    return rc;
}

/* ------------------------------------------------------------------ the image */

/* The image must have been built with the vhost modules and virtiosim inside. */
static int find_image(vk_run *v, vs_err *e)
{
    static const char *const need[] = {"modules-vhost.order", NULL};
    return vs_guest_find_image(v->b->o->kernel, need, v->image, sizeof v->image, v->release,
                               sizeof v->release, e);
}

/* ------------------------------------------------------------------ QEMU */

static int qemu_start(vk_run *v, int *out_fd, vs_err *e)
{
    char bin[PATH_MAX], kernel[PATH_MAX + 16], qboot[PATH_MAX + 32], msize[16];
    int rc = vs_qemu_resolve_binary(v->b->o->qemu_path, bin, sizeof bin, e);
    if (rc < 0)
        return rc;
    snprintf(kernel, sizeof kernel, "%s/vmlinux", v->image);
    vs_guest_find_qboot(bin, qboot, sizeof qboot);
    snprintf(msize, sizeof msize, "%dM", VK_RAM_MIB);
    char *const argv[] = {
        bin, "-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg", "-M", "pc",
        "-m", msize, "-smp", "1", "-bios", qboot, "-kernel", kernel, "-initrd", v->initrd,
        "-append", "console=ttyS0 quiet panic=-1 cryptomgr.notests", "-serial", "stdio",
        "-no-reboot", NULL};
    static const char *const files[] = {"initrd", "results.json", NULL};
    return vs_guest_spawn(argv, v->tmpdir, files, &v->qemu, &v->slot, out_fd, e);
}

static void qemu_kill(vk_run *v)
{
    vs_guest_kill(&v->qemu, &v->slot);
}

/* ------------------------------------------------------------------ the console */

static void b64_add(vk_run *v, const char *l)
{
    size_t n = strlen(l);
    if (v->b64_len + n + 1 > v->b64_cap) {
        size_t cap = 2 * (v->b64_len + n + 1) + 65536;
        char *nb = realloc(v->b64, cap);
        if (!nb)
            return;
        v->b64 = nb;
        v->b64_cap = cap;
    }
    for (const char *p = l; *p; p++)
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '+' || *p == '/' || *p == '=')
            v->b64[v->b64_len++] = *p;
    v->b64[v->b64_len] = '\0';
}

static void console_line(vk_run *v, const char *l, int64_t t0)
{
    if (v->state != 2)
        vs_guest_crash_line(v->crash, sizeof v->crash, l);
    if (strcmp(l, "vsvk: start") == 0) {
        v->state = 1;
        v->boot_ms = (int)(vs_child_now_ms() - t0);
    } else if (strncmp(l, "vsvk: results-begin", 19) == 0) {
        v->state = 2;
    } else if (strcmp(l, "vsvk: results-end") == 0) {
        v->state = 3;
    } else if (strncmp(l, "vsvk: leftovers", 15) == 0) {
        snprintf(v->leftovers, sizeof v->leftovers, "%s", l + 15);
    } else if (v->state == 2) {
        b64_add(v, l);
    } else if (v->state == 1 && (!v->b->quiet || v->b->o->verbose)) {
        printf("  guest: %s\n", l);
        fflush(stdout);
    } else if (v->b->o->verbose) {
        fprintf(stderr, "  guest console: %s\n", l);
    }
}

static void console_feed(vk_run *v, const char *p, size_t n, int64_t t0)
{
    if (v->state != 2)
        vs_guest_tail_add(v->tail, sizeof v->tail, &v->tail_len, p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || v->line_len == sizeof v->line - 1) {
            v->line[v->line_len] = '\0';
            if (v->line_len && v->line[v->line_len - 1] == '\r')
                v->line[v->line_len - 1] = '\0';
            console_line(v, v->line, t0);
            v->line_len = 0;
        } else {
            v->line[v->line_len++] = p[i];
        }
    }
}

/* Reads the console until QEMU exits or the deadline; 0 ended, 2 timeout, 3 interrupted. */
static int watch(vk_run *v, int fd, int64_t budget_ms)
{
    int64_t t0 = vs_child_now_ms(), deadline = t0 + budget_ms;
    for (;;) {
        if (v->b->o->stop && *v->b->o->stop)
            return 3;
        if (vs_child_now_ms() >= deadline)
            return 2;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        char buf[8192];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            console_feed(v, buf, (size_t)n, t0);
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            int st;
            vs_child_reap(v->qemu, true, &st);
            if (v->slot >= 0)
                vs_child_unregister(v->slot);
            v->slot = -1;
            v->qemu = 0;
            return 0;
        }
    }
}

/* ------------------------------------------------------------------ the results */

/* The scenarios' messages name the expected-results file as the guest saw it. */
static void relabel_messages(json_t *scenarios, const char *host_path)
{
    static const char guest_path[] = "/vs/expected.yaml";
    size_t i;
    json_t *sc;
    json_array_foreach(scenarios, i, sc) {
        const char *m = json_string_value(json_object_get(sc, "message"));
        const char *at = m ? strstr(m, guest_path) : NULL;
        char *nm = NULL;
        if (at && asprintf(&nm, "%.*s%s%s", (int)(at - m), m, host_path,
                           at + sizeof guest_path - 1) >= 0) {
            json_object_set_new(sc, "message", json_string(nm));
            free(nm);
        }
    }
}

/* results.json from its base64, labelled as the host's run: back-end "vhost-kernel", the
 * suite, the host's expected-results path. */
static int write_results(vk_run *v, vs_err *e)
{
    size_t n = v->b64_len;
    if (n == 0 || n % 4)
        return vs_err_set(e, VS_EPROTO, "results.json arrived damaged (%zu base64 bytes)", n);
    unsigned char *raw = malloc(n / 4 * 3 + 1);
    if (!raw)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    int len = EVP_DecodeBlock(raw, (const unsigned char *)v->b64, (int)n);
    if (len >= 0)
        len -= (v->b64[n - 1] == '=') + (v->b64[n - 2] == '=');
    json_error_t je;
    json_t *doc = len > 0 ? json_loadb((const char *)raw, (size_t)len, 0, &je) : NULL;
    free(raw);
    if (!doc)
        return vs_err_set(e, VS_EPROTO, "results.json from the guest does not parse%s%s",
                          len > 0 ? ": " : "", len > 0 ? je.text : "");
    json_t *be = json_object_get(doc, "backend");
    if (json_is_object(be))
        json_object_set_new(be, "name", json_string("vhost-kernel"));
    if (v->b->suite)
        json_object_set_new(doc, "suite", json_string(v->b->suite));
    if (v->b->expected_path) {
        json_object_set_new(doc, "expected_file", json_string(v->b->expected_path));
        relabel_messages(json_object_get(doc, "scenarios"), v->b->expected_path);
    }
    snprintf(v->results, sizeof v->results, "%s/results.json", v->tmpdir);
    int rc = json_dump_file(doc, v->results, JSON_COMPACT);
    json_decref(doc);
    return rc < 0 ? vs_err_set(e, VS_EIO, "%s: cannot write", v->results) : 0;
}

/* No results: every scenario is an error that quotes the console. */
static int write_errors(vk_run *v, const char *why, const char *dir, vs_report_merge_stats *st,
                        vs_err *e)
{
    const vs_batch *b = v->b;
    vs_report_scenario *sc = calloc(b->n ? b->n : 1, sizeof *sc);
    vs_scenario **loaded = calloc(b->n ? b->n : 1, sizeof *loaded);
    char *msg = NULL;
    for (char *p = v->tail; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    if (!sc || !loaded || asprintf(&msg, "%s (Linux %s).%s%s%s Console: %s", why, v->release,
                                   v->crash[0] ? " Crash: " : "", v->crash,
                                   v->crash[0] ? "." : "", v->tail) < 0) {
        free(sc);
        free(loaded);
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    }
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < b->n; i++) {
        vs_err le = {0};
        bool ok = vs_scenario_load(b->files[i], &loaded[i], &le) == 0;
        sc[i] = (vs_report_scenario){.name = ok ? loaded[i]->name : b->files[i],
                                     .path = b->files[i], .verdict = VS_SCN_ERROR,
                                     .message = msg, .fail_step = -1};
        st->scn_count[VS_SCN_ERROR]++;
    }
    st->scenarios = b->n;
    char started[32], version[128];
    time_t now = time(NULL);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(version, sizeof version, "Linux %s vhost-scsi (no result)", v->release);
    vs_report_run run = {.tool = "virtiosim", .tool_version = VS_VERSION,
                         .backend = "vhost-kernel", .backend_version = version,
                         .started = started, .suite = b->suite, .n_scenarios = b->n,
                         .scenarios = sc, .expected_file = b->expected_path,
                         .wall_clock = true};
    int rc = dir ? vs_report_write_all(dir, &run, e) : 0;
    fprintf(stderr, "virtiosim: vhost-kernel: %s\n", msg);
    for (size_t i = 0; i < b->n; i++)
        vs_scenario_free(loaded[i]);
    free(loaded);
    free(sc);
    free(msg);
    return rc;
}

/* ------------------------------------------------------------------ the run */

static void cleanup(vk_run *v, const char *outdir)
{
    qemu_kill(v);
    if (outdir) {
        static const char *const rep[] = {VS_REPORT_JSON, VS_REPORT_JUNIT, VS_REPORT_KTAP,
                                          VS_REPORT_HTML};
        char p[PATH_MAX + 64];
        for (size_t i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s/%s", outdir, rep[i]);
            unlink(p);
        }
        rmdir(outdir);
    }
    if (v->initrd[0])
        unlink(v->initrd);
    if (v->results[0])
        unlink(v->results);
    if (v->tmpdir[0])
        rmdir(v->tmpdir);
    free(v->b64);
}

static int boot_and_collect(vk_run *v, int *why, vs_err *e)
{
    int fd = -1;
    int rc = build_initrd(v, e);
    if (rc == 0)
        rc = qemu_start(v, &fd, e);
    if (rc < 0)
        return rc;
    /* $VIRTIOSIM_GUEST_TIMEOUT_S replaces the budget (tests of a hung guest) */
    const char *env = getenv("VIRTIOSIM_GUEST_TIMEOUT_S");
    long s = env ? strtol(env, NULL, 10) : 0;
    *why = watch(v, fd, s > 0 ? (int64_t)s * 1000
                              : VK_BOOT_MS + (int64_t)VK_SCENARIO_MS * (int64_t)v->b->n);
    close(fd);
    qemu_kill(v);
    return 0;
}

int vs_guest_vhost_batch(const vs_batch *b, vs_report_merge_stats *st, vs_err *e)
{
    vk_run *v = calloc(1, sizeof *v);
    if (!v)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    v->b = b;
    v->slot = -1;
    char outdir[PATH_MAX + 16] = "";
    int why = 0;
    uint64_t t0 = vs_run_wall_ns();
    int rc = find_image(v, e);
    if (rc == 0)
        rc = vs_child_make_tmpdir("vhostk", NULL, v->tmpdir, sizeof v->tmpdir, e);
    if (rc == 0 && !b->report_dir)
        snprintf(outdir, sizeof outdir, "%s/out", v->tmpdir);
    if (rc == 0 && !b->quiet)
        printf("vhost-kernel: booting Linux %s (%s) for %zu scenarios\n", v->release, v->image,
               b->n);
    fflush(stdout);
    if (rc == 0)
        rc = boot_and_collect(v, &why, e);
    const char *dir = b->report_dir ? b->report_dir : outdir;
    if (rc == 0 && why == 3) {
        rc = vs_err_set(e, VS_EIO, "interrupted while the guest ran");
    } else if (rc == 0) {
        vs_err re = {0};
        int got = v->state == 3 ? write_results(v, &re) : -1;
        if (got == 0) {
            const char *in[1] = {v->results};
            rc = vs_report_merge(dir, in, 1, st, e);
        } else {
            char w[sizeof re.msg + 64];
            snprintf(w, sizeof w, "%s", why == 2 ? "the guest gave no result within the time "
                     "limit; QEMU killed" : v->state == 3 ? re.msg : v->state ? "the guest "
                     "ended before virtiosim finished (crash?)" : "the guest ended before "
                     "virtiosim started");
            rc = write_errors(v, w, dir, st, e);
        }
    }
    /* the LIO objects and files each scenario made are gone once virtiosim ended */
    if (strstr(v->leftovers, "naa.") || strstr(v->leftovers, "fileio_") ||
        strstr(v->leftovers, "virtiosim-"))
        fprintf(stderr, "virtiosim: warning: vhost-kernel: left behind in the guest:%s\n",
                v->leftovers);
    if (rc == 0 && !b->quiet)
        printf("vhost-kernel: guest boot %.1f s, whole run %.1f s\n", v->boot_ms / 1e3,
               (double)(vs_run_wall_ns() - t0) / 1e9);
    cleanup(v, outdir[0] ? outdir : NULL);
    free(v);
    return rc;
}
