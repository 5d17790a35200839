/* Reusing one QEMU across consecutive scenarios (virtiosim/qemu.h, "Reusing QEMU"): the
 * slot that holds the parked QEMU, the guest memory it maps and the scratch disk image,
 * and the rules for when a parked QEMU may serve the next scenario. */
#define _GNU_SOURCE
#include "qemu_reuse.h"
#include "cpu_claim.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtiosim/qmp.h"

/* Parked QEMUs kept at most: a suite's scenarios mostly ask for one QEMU, with others in
 * between (another LUN layout, a second queue); the odd ones out must not cost the common
 * one its place (the one taken least often makes room). Each parked QEMU is an idle
 * process (~40 MB) mapping the slot's memory. */
#define PARK_MAX 3
/* Scratch files kept at most: one per slot and size asked for, so that scenarios with
 * disks of other sizes in between still find their file (and with it their QEMU). */
#define SCRATCH_FILES 32

static struct {
    vs_qemu_parked p[PARK_MAX]; /* p[i].qemu NULL: a free place */
    unsigned long seq[PARK_MAX]; /* when p[i] was parked */
    unsigned long parks;
    vs_gmem *gm;               /* guest memory the slot owns between runs */
    const vs_gmem *lent;       /* guest memory handed to the current run */
    struct scratch {
        bool open;
        unsigned slot;
        uint64_t bytes;
        int fd;
        unsigned long last;    /* when it was last handed out */
        char path[64];
    } scratch[SCRATCH_FILES];
    unsigned long handouts;
    unsigned started, reused;
    bool atexit_done;
} S; /* an empty place is all zero: only .qemu and .open are looked at */

static void scratch_close(struct scratch *x)
{
    if (x->open)
        close(x->fd);
    *x = (struct scratch){.open = false};
}

void qr_release(vs_qemu_parked *p)
{
    if (!p)
        return;
    if (p->qemu) /* (an empty place is all zero: its cpu says nothing) */
        vs__cpu_unclaim(p->cpu);
    vs_qemu_destroy(p->qemu);
    vs_irqfd_bridge_destroy(p->irqfd);
    vs_qmp_close(p->qmp);
    free(p->key);
    *p = (vs_qemu_parked){.cpu = -1};
}

static void release_all(void)
{
    for (unsigned i = 0; i < PARK_MAX; i++)
        qr_release(&S.p[i]);
}

/* Whether a parked QEMU maps gm. */
static bool parked_on(const vs_gmem *gm)
{
    for (unsigned i = 0; i < PARK_MAX; i++)
        if (S.p[i].qemu && S.p[i].gm == gm)
            return true;
    return false;
}

void vs_qemu_reuse_drop(void)
{
    release_all();
    vs_gmem_destroy(S.gm);
    S.gm = NULL;
    for (unsigned i = 0; i < SCRATCH_FILES; i++)
        scratch_close(&S.scratch[i]);
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
    /* A power of two: scenarios that need a little more or less than each other still
     * ask for the same QEMU (its -m). The memory is sparse: size costs address space. */
    uint64_t p2 = 64u << 20;
    while (p2 < size && p2 < (UINT64_C(1) << 40))
        p2 <<= 1;
    size = p2 > size ? p2 : size;
    if (S.gm && fits(S.gm, size) && vs_gmem_reset(S.gm, NULL) == 0) {
        *out = S.gm;
        S.lent = S.gm;
        S.gm = NULL;
        return 0;
    }
    /* Another size: the parked QEMUs map memory of the wrong size, let them go. */
    release_all();
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
    if (gm == S.lent && parked_on(gm) && !S.gm)
        S.gm = gm;              /* a parked QEMU maps it: kept for the next run */
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
    struct scratch *x = NULL, *victim = NULL; /* the file; else a free place or the LRU */
    for (unsigned i = 0; i < SCRATCH_FILES; i++) {
        struct scratch *c = &S.scratch[i];
        if (c->open && c->slot == slot && c->bytes == bytes) {
            x = c;
            break;
        }
        if (!victim || (victim->open && (!c->open || c->last < victim->last)))
            victim = c;
    }
    /* back to a fresh file's content: all zero, no blocks */
    if (x && ftruncate(x->fd, 0) == 0 && ftruncate(x->fd, (off_t)bytes) == 0) {
        x->last = ++S.handouts;
        snprintf(path, n, "%s", x->path);
        return 0;
    }
    if (!x)
        x = victim;
    if (x->open) {
        /* A new file may get the closed one's descriptor number, hence its /proc path: a
         * QEMU that has the old file open must not look like a match. */
        release_all();
        scratch_close(x);
    }
    int fd;
    char p[sizeof x->path];
    int rc = vs_qemu_scratch_image(bytes, "img", &fd, p, sizeof p, e);
    if (rc < 0)
        return rc;
    *x = (struct scratch){.open = true, .slot = slot, .bytes = bytes, .fd = fd,
                          .last = ++S.handouts};
    snprintf(x->path, sizeof x->path, "%s", p);
    snprintf(path, n, "%s", p);
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
    for (unsigned i = 0; i < SCRATCH_FILES; i++) {
        const struct scratch *x = &S.scratch[i];
        size_t sl = strlen(x->path);
        if (x->open && strncmp(p, x->path, sl) == 0 && !isdigit((unsigned char)p[sl]))
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
    for (unsigned i = 0; i < PARK_MAX; i++) {
        vs_qemu_parked *p = &S.p[i];
        if (p->qemu && !vs_qemu_alive(p->qemu)) {
            qr_release(p);      /* died while parked */
            continue;
        }
        if (p->qemu && key && gm && gm == S.lent && p->gm == gm && !strcmp(p->key, key)) {
            *out = *p;
            *p = (vs_qemu_parked){.cpu = -1};
            S.reused++;
            return true;
        }
    }
    return false;
}

void qr_park(vs_qemu_parked *p)
{
    if (!p->gm || p->gm != S.lent || !p->key) { /* memory the slot does not track */
        qr_release(p);
        return;
    }
    unsigned slot = 0; /* a free place, else the one taken least often, parked longest ago */
    for (unsigned i = 0; i < PARK_MAX; i++) {
        if (!S.p[i].qemu) {
            slot = i;
            break;
        }
        if (S.p[i].takes < S.p[slot].takes ||
            (S.p[i].takes == S.p[slot].takes && S.seq[i] < S.seq[slot]))
            slot = i;
    }
    qr_release(&S.p[slot]);
    S.p[slot] = *p;
    S.seq[slot] = ++S.parks;
    *p = (vs_qemu_parked){.cpu = -1};
    if (!S.atexit_done)
        S.atexit_done = atexit(drop_at_exit) == 0;
}
