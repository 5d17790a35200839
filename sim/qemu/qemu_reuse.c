/* Reusing one QEMU across consecutive scenarios (virtiosim/qemu.h, "Reusing QEMU"): the
 * slot that holds the parked QEMU, the guest memory it maps and the scratch disk image,
 * and the rules for when a parked QEMU may serve the next scenario. */
#define _GNU_SOURCE
#include "qemu_reuse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtiosim/qmp.h"

static struct {
    vs_qemu_parked p;          /* p.qemu NULL: nothing parked */
    vs_gmem *gm;               /* guest memory the slot owns between runs */
    const vs_gmem *lent;       /* guest memory handed to the current run */
    struct scratch {           /* the scratch images, one per slot (fd -1: none) */
        int fd;
        uint64_t bytes;
        char path[64];
    } scratch[VS_QEMU_SCRATCH_SLOTS];
    bool scratch_init;
    unsigned started, reused;
    bool atexit_done;
} S = {.p = {.cpu = -1}};

static void scratch_close(struct scratch *x)
{
    if (x->fd >= 0)
        close(x->fd);
    *x = (struct scratch){.fd = -1};
}

/* The slots, set to "none" on first use (a static initialiser cannot say -1 for each). */
static struct scratch *scratch_slots(void)
{
    if (!S.scratch_init) {
        for (unsigned i = 0; i < VS_QEMU_SCRATCH_SLOTS; i++)
            S.scratch[i] = (struct scratch){.fd = -1};
        S.scratch_init = true;
    }
    return S.scratch;
}

void qr_release(vs_qemu_parked *p)
{
    if (!p)
        return;
    vs_qemu_destroy(p->qemu);
    vs_irqfd_bridge_destroy(p->irqfd);
    vs_qmp_close(p->qmp);
    free(p->key);
    *p = (vs_qemu_parked){.cpu = -1};
}

void vs_qemu_reuse_drop(void)
{
    qr_release(&S.p);
    vs_gmem_destroy(S.gm);
    S.gm = NULL;
    struct scratch *x = scratch_slots();
    for (unsigned i = 0; i < VS_QEMU_SCRATCH_SLOTS; i++)
        scratch_close(&x[i]);
}

static void drop_at_exit(void) { vs_qemu_reuse_drop(); }

void vs_qemu_reuse_counts(unsigned *started, unsigned *reused)
{
    if (started)
        *started = S.started;
    if (reused)
        *reused = S.reused;
}

void qr_note_start(void) { S.started++; }

/* ------------------------------------------------------------------ guest memory */

static bool fits(const vs_gmem *gm, uint64_t size)
{
    const vs_gmem_region *r = vs_gmem_region_at(gm, 0);
    return gm && vs_gmem_region_count(gm) == 1 && r && r->gpa == 0 && r->size == size &&
           r->flags == 0 && vs_gmem_file_size(gm) == size;
}

int vs_qemu_reuse_gmem(vs_gmem **out, uint64_t size, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "qemu reuse: out is NULL");
    *out = NULL;
    if (S.gm && fits(S.gm, size) && vs_gmem_reset(S.gm, NULL) == 0) {
        *out = S.gm;
        S.lent = S.gm;
        S.gm = NULL;
        return 0;
    }
    /* Another size: the parked QEMU maps memory of the wrong size, let it go. */
    qr_release(&S.p);
    vs_gmem_destroy(S.gm);
    S.gm = NULL;
    int rc = vs_gmem_create_flat(out, size, e);
    S.lent = rc == 0 ? *out : NULL;
    return rc;
}

void vs_qemu_reuse_release_gmem(vs_gmem *gm)
{
    if (!gm)
        return;
    if (gm == S.lent && S.p.qemu && S.p.gm == gm && !S.gm)
        S.gm = gm;              /* the parked QEMU maps it: kept for the next run */
    else
        vs_gmem_destroy(gm);
    if (gm == S.lent)
        S.lent = NULL;
}

/* ------------------------------------------------------------------ scratch image */

int vs_qemu_reuse_scratch_at(unsigned slot, uint64_t bytes, char *path, size_t n, vs_err *e)
{
    if (!path || !n)
        return vs_err_set(e, VS_EINVAL, "qemu reuse: scratch image: no path buffer");
    if (slot >= VS_QEMU_SCRATCH_SLOTS)
        return vs_err_set(e, VS_EINVAL, "qemu reuse: scratch image %u: at most %d", slot,
                          VS_QEMU_SCRATCH_SLOTS);
    struct scratch *x = &scratch_slots()[slot];
    if (x->fd >= 0 && x->bytes == bytes) {
        /* back to a fresh file's content: all zero, no blocks */
        if (ftruncate(x->fd, 0) == 0 && ftruncate(x->fd, (off_t)bytes) == 0) {
            snprintf(path, n, "%s", x->path);
            return 0;
        }
    }
    /* A new file may get the old one's descriptor number, hence its /proc path: a QEMU
     * that has the old file open must not look like a match. */
    qr_release(&S.p);
    scratch_close(x);
    int fd;
    int rc = vs_qemu_scratch_image(bytes, "img", &fd, x->path, sizeof x->path, e);
    if (rc < 0) {
        x->path[0] = '\0';
        return rc;
    }
    x->fd = fd;
    x->bytes = bytes;
    snprintf(path, n, "%s", x->path);
    return 0;
}

int vs_qemu_reuse_scratch(uint64_t bytes, char *path, size_t n, vs_err *e)
{
    return vs_qemu_reuse_scratch_at(0, bytes, path, n, e);
}

/* ------------------------------------------------------------------ park / take */

/* Whether the /proc/ path at p is one of the scratch images'. */
static bool is_scratch_path(const char *p)
{
    const struct scratch *x = scratch_slots();
    for (unsigned i = 0; i < VS_QEMU_SCRATCH_SLOTS; i++) {
        size_t sl = strlen(x[i].path);
        if (x[i].fd >= 0 && strncmp(p, x[i].path, sl) == 0 && !isdigit((unsigned char)p[sl]))
            return true;
    }
    return false;
}

/* Every /proc/ path in arg is a scratch image's. */
static bool proc_paths_ok(const char *arg)
{
    for (const char *p = strstr(arg, "/proc/"); p; p = strstr(p + 1, "/proc/"))
        if (!is_scratch_path(p))
            return false;
    return true;
}

char *qr_key(const vs_qemu_backend_opts *o, uint64_t mem_size, const char *const *args)
{
    char bin[PATH_MAX];
    if (vs_qemu_resolve_binary(o->qemu_path, bin, sizeof bin, NULL) < 0)
        return NULL;
    size_t need = strlen(bin) + 256;
    for (size_t i = 0; args && args[i]; i++) {
        if (strstr(args[i], "blkdebug") || !proc_paths_ok(args[i]))
            return NULL;
        need += strlen(args[i]) + 1;
    }
    char *k = malloc(need);
    if (!k)
        return NULL;
    int w = snprintf(k, need, "%s\n%s\n%s\n%llu %d %d %d %d\n", bin, o->accel ? o->accel : "",
                     o->machine ? o->machine : "", (unsigned long long)mem_size, o->same_cpu,
                     o->no_qmp, o->no_irqfd, o->step_timeout_ms);
    size_t used = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; args && args[i] && used < need; i++) {
        w = snprintf(k + used, need - used, "%s\n", args[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    return k;
}

bool qr_take(const char *key, const vs_gmem *gm, vs_qemu_parked *out)
{
    if (S.p.qemu && key && gm && gm == S.lent && S.p.gm == gm && !strcmp(S.p.key, key) &&
        vs_qemu_alive(S.p.qemu)) {
        *out = S.p;
        S.p = (vs_qemu_parked){.cpu = -1};
        S.reused++;
        return true;
    }
    qr_release(&S.p);
    return false;
}

void qr_park(vs_qemu_parked *p)
{
    if (!p->gm || p->gm != S.lent || !p->key) { /* memory the slot does not track */
        qr_release(p);
        return;
    }
    qr_release(&S.p);
    S.p = *p;
    *p = (vs_qemu_parked){.cpu = -1};
    if (!S.atexit_done)
        S.atexit_done = atexit(drop_at_exit) == 0;
}
