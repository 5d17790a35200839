/* Guest memory: GPA regions over one memfd mapped MAP_SHARED (see gmem.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create; the build does not define it globally */
#endif
#include "virtiosim/gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtiosim/le.h"

#define GMEM_MAX_HOOKS 16

/* Public region first so vs_gmem_region_at can hand out &r->pub. */
typedef struct gmem_reg {
    vs_gmem_region pub;
    uint8_t *host; /* host address of pub.gpa; NULL for holes */
    uint32_t deny; /* access kinds refused: bit VS_GMEM_READ / VS_GMEM_WRITE */
} gmem_reg;

/* Free extent of the allocator; extents of different regions never merge, so every
 * allocation stays inside one region and can be translated in one piece. */
typedef struct gmem_ext {
    uint64_t gpa, size;
    uint64_t rgpa; /* base GPA of the owning region */
} gmem_ext;

typedef struct gmem_alloc {
    uint64_t gpa, size;
} gmem_alloc;

typedef struct gmem_hook {
    vs_gmem_hook_fn fn;
    void *opaque;
    int handle;
} gmem_hook;

struct vs_gmem {
    int fd;
    uint64_t file_size;
    uint8_t *base;

    gmem_reg *regs; /* sorted by GPA, non-overlapping */
    size_t nregs, capregs;
    const gmem_reg *last; /* one-entry lookup cache */

    size_t nhooks;
    gmem_hook hooks[GMEM_MAX_HOOKS]; /* in installation order */
    int next_handle;
    bool in_hook; /* a hook touching memory must not re-enter the hooks */

    gmem_ext *free; /* sorted by GPA */
    size_t nfree, capfree;
    gmem_alloc *allocs; /* sorted by GPA */
    size_t nallocs, capallocs;
    uint64_t bytes_free;
    bool external; /* vs_gmem_create_external: no memfd, mappings owned by the caller */
};

typedef unsigned long long ull;

/* ------------------------------------------------------------------ helpers */

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static inline uint64_t reg_end(const gmem_reg *r) { return r->pub.gpa + r->pub.size; }

/* Region containing gpa, or NULL. Binary search; add_region keeps regs sorted. */
static const gmem_reg *find_reg(const vs_gmem *gm, uint64_t gpa)
{
    size_t lo = 0, hi = gm->nregs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gmem_reg *r = &gm->regs[mid];
        if (gpa < r->pub.gpa)
            hi = mid;
        else if (gpa - r->pub.gpa >= r->pub.size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static int run_hooks(vs_gmem *gm, enum vs_gmem_access_kind kind, uint64_t gpa, uint64_t len,
                     vs_err *e)
{
    if (gm->in_hook)
        return 0;
    vs_gmem_access a = {kind, gpa, len};
    gm->in_hook = true;
    int rc = 0;
    for (size_t i = 0; i < gm->nhooks; i++) {
        vs_err_clear(e);
        rc = gm->hooks[i].fn(gm->hooks[i].opaque, &a, e);
        if (rc < 0) {
            /* Keep the hook's message; make sure code and message exist. */
            if (e && e->code == 0)
                vs_err_set(e, -rc, "gpa 0x%llx+0x%llx: access refused by hook", (ull)gpa,
                           (ull)len);
            else if (e)
                e->code = -rc;
            break;
        }
        rc = 0;
    }
    gm->in_hook = false;
    return rc;
}

static const char *kind_name(enum vs_gmem_access_kind kind)
{
    return kind == VS_GMEM_WRITE ? "write" : "read";
}

/* Full check of [gpa, gpa+len) inside one region: on success returns the region. Used
 * when the cached region does not cover the access. */
static int check_one(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                     enum vs_gmem_access_kind kind, const gmem_reg **out, vs_err *e)
{
    if (kind != VS_GMEM_READ && kind != VS_GMEM_WRITE)
        return vs_err_set(e, VS_EINVAL, "gpa 0x%llx+0x%llx: bad access kind %d", (ull)gpa,
                          (ull)len, (int)kind);
    if (len == 0)
        return vs_err_set(e, VS_EINVAL, "gpa 0x%llx+0x0: zero-length access", (ull)gpa);
    if (len - 1 > UINT64_MAX - gpa)
        return vs_err_set(e, VS_ERANGE,
                          "gpa 0x%llx+0x%llx wraps around the 64-bit address space",
                          (ull)gpa, (ull)len);
    const gmem_reg *r = find_reg(gm, gpa);
    if (!r)
        return vs_err_set(e, VS_ERANGE, "gpa 0x%llx+0x%llx is not mapped (no region at 0x%llx)",
                          (ull)gpa, (ull)len, (ull)gpa);
    if (r->pub.flags & VS_GMEM_HOLE)
        return vs_err_set(e, VS_ERANGE, "gpa 0x%llx+0x%llx: %s of hole [0x%llx,0x%llx)",
                          (ull)gpa, (ull)len, kind_name(kind), (ull)r->pub.gpa,
                          (ull)reg_end(r));
    if (len > reg_end(r) - gpa)
        return vs_err_set(e, VS_ERANGE,
                          "gpa 0x%llx+0x%llx crosses end of region [0x%llx,0x%llx)", (ull)gpa,
                          (ull)len, (ull)r->pub.gpa, (ull)reg_end(r));
    if (r->deny & (uint32_t)kind)
        return vs_err_set(e, VS_ERANGE,
                          "gpa 0x%llx+0x%llx: write to read-only region [0x%llx,0x%llx)",
                          (ull)gpa, (ull)len, (ull)r->pub.gpa, (ull)reg_end(r));
    *out = r;
    return 0;
}

/* The hot path shared by translate and ld/st: hooks (one branch when none), then the
 * cached region, then the full check. */
static inline int access_ptr(vs_gmem *gm, uint64_t gpa, uint64_t len,
                             enum vs_gmem_access_kind kind, uint8_t **out, vs_err *e)
{
    if (gm->nhooks) {
        int rc = run_hooks(gm, kind, gpa, len, e);
        if (rc < 0)
            return rc;
    }
    const gmem_reg *r = gm->last;
    if (r) {
        uint64_t off = gpa - r->pub.gpa;
        /* off < size and len in [1, size-off]: inside r without overflow. The deny test
         * also covers holes (deny = both kinds); the kind test rejects bogus kinds. */
        if (off < r->pub.size && len - 1 < r->pub.size - off &&
            (unsigned)kind - 1u < 2u && !(r->deny & (uint32_t)kind)) {
            *out = r->host + off;
            return 0;
        }
    }
    int rc = check_one(gm, gpa, len, kind, &r, e);
    if (rc < 0)
        return rc;
    gm->last = r;
    *out = r->host + (gpa - r->pub.gpa);
    return 0;
}

/* ------------------------------------------------------------ create/destroy */

int vs_gmem_create(vs_gmem **out, uint64_t file_size, const char *name, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "gmem create: out is NULL");
    *out = NULL;
    if (file_size == 0)
        return vs_err_set(e, VS_EINVAL, "gmem create: file size 0");
    if (file_size > UINT64_MAX - (VS_GMEM_PAGE - 1) || file_size > (uint64_t)SIZE_MAX / 2)
        return vs_err_set(e, VS_EINVAL, "gmem create: file size 0x%llx too large",
                          (ull)file_size);
    uint64_t size = (file_size + VS_GMEM_PAGE - 1) & ~(uint64_t)(VS_GMEM_PAGE - 1);

    vs_gmem *gm = calloc(1, sizeof *gm);
    if (!gm)
        return vs_err_set(e, VS_ENOMEM, "gmem create: out of host memory");
    gm->fd = memfd_create(name && *name ? name : "virtiosim-gmem", MFD_CLOEXEC);
    if (gm->fd < 0) {
        int err = errno;
        free(gm);
        return vs_err_set(e, VS_EIO, "gmem create: memfd_create: %s", strerror(err));
    }
    if (ftruncate(gm->fd, (off_t)size) < 0) {
        int err = errno;
        close(gm->fd);
        free(gm);
        return vs_err_set(e, VS_EIO, "gmem create: ftruncate to 0x%llx: %s", (ull)size,
                          strerror(err));
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, gm->fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        close(gm->fd);
        free(gm);
        return vs_err_set(e, err == ENOMEM ? VS_ENOMEM : VS_EIO,
                          "gmem create: mmap 0x%llx bytes: %s", (ull)size, strerror(err));
    }
    gm->base = p;
    gm->file_size = size;
    *out = gm;
    return 0;
}

int vs_gmem_create_flat(vs_gmem **out, uint64_t size, vs_err *e)
{
    int rc = vs_gmem_create(out, size, "virtiosim-gmem", e);
    if (rc < 0)
        return rc;
    rc = vs_gmem_add_region(*out, 0, size, 0, 0, e);
    if (rc < 0) {
        vs_gmem_destroy(*out);
        *out = NULL;
    }
    return rc;
}

void vs_gmem_destroy(vs_gmem *gm)
{
    if (!gm)
        return;
    if (!gm->external) {
        munmap(gm->base, (size_t)gm->file_size);
        close(gm->fd);
    }
    free(gm->regs);
    free(gm->free);
    free(gm->allocs);
    free(gm);
}

/* ---------------------------------------------------- external mappings */

int vs_gmem_create_external(vs_gmem **out, const vs_gmem_ext_region *regs, size_t n,
                            vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "gmem create external: out is NULL");
    *out = NULL;
    if (n && !regs)
        return vs_err_set(e, VS_EINVAL, "gmem create external: regions is NULL");
    vs_gmem *gm = calloc(1, sizeof *gm);
    if (!gm)
        return vs_err_set(e, VS_ENOMEM, "gmem create external: out of host memory");
    gm->fd = -1;
    gm->external = true;
    for (size_t k = 0; k < n; k++) {
        const vs_gmem_ext_region *x = &regs[k];
        int rc = 0;
        if (x->flags & ~(uint32_t)(VS_GMEM_READONLY | VS_GMEM_HOLE))
            rc = vs_err_set(e, VS_EINVAL, "region gpa 0x%llx: unknown flags 0x%x",
                            (ull)x->gpa, x->flags);
        else if (x->size == 0)
            rc = vs_err_set(e, VS_EINVAL, "region gpa 0x%llx: size 0", (ull)x->gpa);
        else if (x->size > UINT64_MAX - x->gpa)
            rc = vs_err_set(e, VS_ERANGE,
                            "region gpa 0x%llx+0x%llx wraps around the 64-bit address space",
                            (ull)x->gpa, (ull)x->size);
        else if (!(x->flags & VS_GMEM_HOLE) && !x->host)
            rc = vs_err_set(e, VS_EINVAL, "region gpa 0x%llx: no host mapping", (ull)x->gpa);
        else if (x->size > (uint64_t)SIZE_MAX)
            rc = vs_err_set(e, VS_ERANGE, "region gpa 0x%llx: size 0x%llx too large",
                            (ull)x->gpa, (ull)x->size);
        size_t i = 0;
        if (rc == 0) {
            while (i < gm->nregs && gm->regs[i].pub.gpa <= x->gpa)
                i++;
            const gmem_reg *prev = i ? &gm->regs[i - 1] : NULL;
            const gmem_reg *next = i < gm->nregs ? &gm->regs[i] : NULL;
            const gmem_reg *clash = NULL;
            if (prev && reg_end(prev) > x->gpa)
                clash = prev;
            else if (next && next->pub.gpa < x->gpa + x->size)
                clash = next;
            if (clash)
                rc = vs_err_set(e, VS_EINVAL,
                                "region [0x%llx,0x%llx) overlaps region [0x%llx,0x%llx)",
                                (ull)x->gpa, (ull)(x->gpa + x->size), (ull)clash->pub.gpa,
                                (ull)reg_end(clash));
        }
        if (rc == 0 && !grow((void **)&gm->regs, &gm->capregs, gm->nregs + 1, sizeof *gm->regs))
            rc = vs_err_set(e, VS_ENOMEM, "gmem create external: out of host memory");
        if (rc < 0) {
            vs_gmem_destroy(gm);
            return rc;
        }
        memmove(&gm->regs[i + 1], &gm->regs[i], (gm->nregs - i) * sizeof *gm->regs);
        gmem_reg *r = &gm->regs[i];
        r->pub = (vs_gmem_region){x->gpa, x->size, 0, x->flags};
        r->host = (x->flags & VS_GMEM_HOLE) ? NULL : (uint8_t *)x->host;
        r->deny = (x->flags & VS_GMEM_HOLE)       ? (VS_GMEM_READ | VS_GMEM_WRITE)
                  : (x->flags & VS_GMEM_READONLY) ? VS_GMEM_WRITE
                                                  : 0;
        gm->nregs++;
    }
    *out = gm;
    return 0;
}

/* ------------------------------------------------------------------ regions */

static int free_insert(vs_gmem *gm, uint64_t gpa, uint64_t size, uint64_t rgpa, vs_err *e);

int vs_gmem_add_region(vs_gmem *gm, uint64_t gpa, uint64_t size, uint64_t file_offset,
                       uint32_t flags, vs_err *e)
{
    if (!gm)
        return vs_err_set(e, VS_EINVAL, "add region: gm is NULL");
    if (flags & ~(uint32_t)(VS_GMEM_READONLY | VS_GMEM_HOLE))
        return vs_err_set(e, VS_EINVAL, "region gpa 0x%llx: unknown flags 0x%x", (ull)gpa,
                          flags);
    if (size == 0)
        return vs_err_set(e, VS_EINVAL, "region gpa 0x%llx: size 0", (ull)gpa);
    /* The end must be representable, so the last byte UINT64_MAX cannot be mapped. */
    if (size > UINT64_MAX - gpa)
        return vs_err_set(e, VS_ERANGE,
                          "region gpa 0x%llx+0x%llx wraps around the 64-bit address space",
                          (ull)gpa, (ull)size);
    if (!(flags & VS_GMEM_HOLE) &&
        (file_offset > gm->file_size || size > gm->file_size - file_offset))
        return vs_err_set(e, VS_ERANGE,
                          "region gpa 0x%llx+0x%llx: file range [0x%llx,+0x%llx) outside "
                          "the 0x%llx-byte file",
                          (ull)gpa, (ull)size, (ull)file_offset, (ull)size,
                          (ull)gm->file_size);

    /* Insertion point: first region starting above gpa. */
    size_t i = 0;
    while (i < gm->nregs && gm->regs[i].pub.gpa <= gpa)
        i++;
    const gmem_reg *prev = i ? &gm->regs[i - 1] : NULL;
    const gmem_reg *next = i < gm->nregs ? &gm->regs[i] : NULL;
    const gmem_reg *clash = NULL;
    if (prev && reg_end(prev) > gpa)
        clash = prev;
    else if (next && next->pub.gpa < gpa + size)
        clash = next;
    if (clash)
        return vs_err_set(e, VS_EINVAL,
                          "region [0x%llx,0x%llx) overlaps region [0x%llx,0x%llx)", (ull)gpa,
                          (ull)(gpa + size), (ull)clash->pub.gpa, (ull)reg_end(clash));

    if (!grow((void **)&gm->regs, &gm->capregs, gm->nregs + 1, sizeof *gm->regs))
        return vs_err_set(e, VS_ENOMEM, "add region: out of host memory");
    memmove(&gm->regs[i + 1], &gm->regs[i], (gm->nregs - i) * sizeof *gm->regs);
    gmem_reg *r = &gm->regs[i];
    r->pub = (vs_gmem_region){gpa, size, (flags & VS_GMEM_HOLE) ? 0 : file_offset, flags};
    r->host = (flags & VS_GMEM_HOLE) ? NULL : gm->base + file_offset;
    r->deny = (flags & VS_GMEM_HOLE)       ? (VS_GMEM_READ | VS_GMEM_WRITE)
              : (flags & VS_GMEM_READONLY) ? VS_GMEM_WRITE
                                           : 0;
    gm->nregs++;
    gm->last = NULL; /* the array may have moved */

    if (!(flags & (VS_GMEM_HOLE | VS_GMEM_READONLY))) {
        /* Whole pages only, and never the page at GPA 0 (gpa 0 must not look valid). */
        uint64_t lo = gpa < VS_GMEM_PAGE ? VS_GMEM_PAGE : gpa;
        uint64_t end = gpa + size;
        if (lo <= UINT64_MAX - (VS_GMEM_PAGE - 1)) {
            lo = (lo + VS_GMEM_PAGE - 1) & ~(uint64_t)(VS_GMEM_PAGE - 1);
            uint64_t hi = end & ~(uint64_t)(VS_GMEM_PAGE - 1);
            if (hi > lo) {
                int rc = free_insert(gm, lo, hi - lo, gpa, e);
                if (rc < 0) {
                    memmove(&gm->regs[i], &gm->regs[i + 1],
                            (gm->nregs - i - 1) * sizeof *gm->regs);
                    gm->nregs--;
                    return rc;
                }
            }
        }
    }
    return 0;
}

size_t vs_gmem_region_count(const vs_gmem *gm) { return gm ? gm->nregs : 0; }

const vs_gmem_region *vs_gmem_region_at(const vs_gmem *gm, size_t i)
{
    return gm && i < gm->nregs ? &gm->regs[i].pub : NULL;
}

int vs_gmem_fd(const vs_gmem *gm) { return gm ? gm->fd : -1; }
uint64_t vs_gmem_file_size(const vs_gmem *gm) { return gm ? gm->file_size : 0; }
void *vs_gmem_host_base(const vs_gmem *gm) { return gm ? gm->base : NULL; }

/* --------------------------------------------------------------- translation */

void *vs_gmem_translate(vs_gmem *gm, uint64_t gpa, uint64_t len,
                        enum vs_gmem_access_kind kind, vs_err *e)
{
    if (!gm) {
        vs_err_set(e, VS_EINVAL, "translate: gm is NULL");
        return NULL;
    }
    uint8_t *p;
    return access_ptr(gm, gpa, len, kind, &p, e) < 0 ? NULL : p;
}

bool vs_gmem_range_ok(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                      enum vs_gmem_access_kind kind)
{
    const gmem_reg *r;
    return gm && check_one(gm, gpa, len, kind, &r, NULL) == 0;
}

/* Checks a range that may span adjacent regions; no hooks. */
static int check_span(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                      enum vs_gmem_access_kind kind, vs_err *e)
{
    if (len - 1 > UINT64_MAX - gpa)
        return vs_err_set(e, VS_ERANGE, "gpa 0x%llx+0x%llx wraps around the 64-bit address space",
                          (ull)gpa, (ull)len);
    /* Common case: inside the region the last translation hit (no search). */
    const gmem_reg *lr = gm->last;
    if (lr && !(lr->pub.flags & VS_GMEM_HOLE) && !(lr->deny & (uint32_t)kind)) {
        uint64_t off = gpa - lr->pub.gpa;
        if (off < lr->pub.size && len - 1 < lr->pub.size - off)
            return 0;
    }
    uint64_t cur = gpa, left = len;
    while (left) {
        const gmem_reg *r = find_reg(gm, cur);
        if (!r)
            return vs_err_set(e, VS_ERANGE, "gpa 0x%llx+0x%llx: 0x%llx is not mapped", (ull)gpa,
                              (ull)len, (ull)cur);
        if (r->pub.flags & VS_GMEM_HOLE)
            return vs_err_set(e, VS_ERANGE, "gpa 0x%llx+0x%llx: %s of hole [0x%llx,0x%llx)",
                              (ull)gpa, (ull)len, kind_name(kind), (ull)r->pub.gpa,
                              (ull)reg_end(r));
        if (r->deny & (uint32_t)kind)
            return vs_err_set(e, VS_ERANGE,
                              "gpa 0x%llx+0x%llx: write to read-only region [0x%llx,0x%llx)",
                              (ull)gpa, (ull)len, (ull)r->pub.gpa, (ull)reg_end(r));
        uint64_t chunk = reg_end(r) - cur;
        if (chunk >= left)
            break;
        left -= chunk;
        cur += chunk;
    }
    return 0;
}

bool vs_gmem_span_ok(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                     enum vs_gmem_access_kind kind)
{
    return gm && len && check_span(gm, gpa, len, kind, NULL) == 0;
}

/* Copies between guest memory and buf (or fills); range already checked. */
static void span_copy(vs_gmem *gm, uint64_t gpa, uint64_t len, void *buf, const void *src,
                      int fill)
{
    while (len) {
        const gmem_reg *r = find_reg(gm, gpa);
        uint64_t off = gpa - r->pub.gpa;
        uint64_t chunk = r->pub.size - off < len ? r->pub.size - off : len;
        uint8_t *h = r->host + off;
        if (buf) {
            memcpy(buf, h, (size_t)chunk);
            buf = (uint8_t *)buf + chunk;
        } else if (src) {
            memcpy(h, src, (size_t)chunk);
            src = (const uint8_t *)src + chunk;
        } else {
            memset(h, fill, (size_t)chunk);
        }
        gpa += chunk;
        len -= chunk;
    }
}

static int bulk(vs_gmem *gm, uint64_t gpa, uint64_t len, enum vs_gmem_access_kind kind,
                void *dst, const void *src, int fill, vs_err *e)
{
    if (!gm)
        return vs_err_set(e, VS_EINVAL, "gmem is NULL");
    if (len == 0)
        return 0;
    if (gm->nhooks) {
        int hrc = run_hooks(gm, kind, gpa, len, e);
        if (hrc < 0)
            return hrc;
    }
    /* Common case: inside the cached region. */
    const gmem_reg *r = gm->last;
    if (r) {
        uint64_t off = gpa - r->pub.gpa;
        if (off < r->pub.size && len - 1 < r->pub.size - off && !(r->deny & (uint32_t)kind)) {
            uint8_t *h = r->host + off;
            if (dst)
                memcpy(dst, h, (size_t)len);
            else if (src)
                memcpy(h, src, (size_t)len);
            else
                memset(h, fill, (size_t)len);
            return 0;
        }
    }
    /* Validate everything first so a failed write leaves memory untouched. */
    int rc = check_span(gm, gpa, len, kind, e);
    if (rc < 0)
        return rc;
    span_copy(gm, gpa, len, dst, src, fill);
    return 0;
}

int vs_gmem_read(vs_gmem *gm, uint64_t gpa, void *dst, uint64_t len, vs_err *e)
{
    if (!dst && len)
        return vs_err_set(e, VS_EINVAL, "gmem read: dst is NULL");
    return bulk(gm, gpa, len, VS_GMEM_READ, dst, NULL, 0, e);
}

int vs_gmem_write(vs_gmem *gm, uint64_t gpa, const void *src, uint64_t len, vs_err *e)
{
    if (!src && len)
        return vs_err_set(e, VS_EINVAL, "gmem write: src is NULL");
    return bulk(gm, gpa, len, VS_GMEM_WRITE, NULL, src, 0, e);
}

int vs_gmem_fill(vs_gmem *gm, uint64_t gpa, uint8_t byte, uint64_t len, vs_err *e)
{
    return bulk(gm, gpa, len, VS_GMEM_WRITE, NULL, NULL, byte, e);
}

/* ------------------------------------------------------------ scalar access */

#define GMEM_LD(bits, expr)                                                               \
    int vs_gmem_ld##bits(vs_gmem *gm, uint64_t gpa, uint##bits##_t *v, vs_err *e)         \
    {                                                                                     \
        if (!gm || !v)                                                                    \
            return vs_err_set(e, VS_EINVAL, "ld" #bits ": NULL argument");                \
        uint8_t *p;                                                                       \
        int rc = access_ptr(gm, gpa, (bits) / 8, VS_GMEM_READ, &p, e);                    \
        if (rc < 0)                                                                       \
            return rc;                                                                    \
        *v = (expr);                                                                      \
        return 0;                                                                         \
    }
#define GMEM_ST(bits, stmt)                                                               \
    int vs_gmem_st##bits(vs_gmem *gm, uint64_t gpa, uint##bits##_t v, vs_err *e)          \
    {                                                                                     \
        if (!gm)                                                                          \
            return vs_err_set(e, VS_EINVAL, "st" #bits ": gm is NULL");                   \
        uint8_t *p;                                                                       \
        int rc = access_ptr(gm, gpa, (bits) / 8, VS_GMEM_WRITE, &p, e);                   \
        if (rc < 0)                                                                       \
            return rc;                                                                    \
        stmt;                                                                             \
        return 0;                                                                         \
    }

GMEM_LD(8, p[0])
GMEM_LD(16, vs_le16_get(p))
GMEM_LD(32, vs_le32_get(p))
GMEM_LD(64, vs_le64_get(p))
GMEM_ST(8, p[0] = v)
GMEM_ST(16, vs_le16_put(p, v))
GMEM_ST(32, vs_le32_put(p, v))
GMEM_ST(64, vs_le64_put(p, v))

/* ---------------------------------------------------------------- allocator */

/* Inserts a free extent, merging with neighbours of the same region. */
static int free_insert(vs_gmem *gm, uint64_t gpa, uint64_t size, uint64_t rgpa, vs_err *e)
{
    size_t i = 0;
    while (i < gm->nfree && gm->free[i].gpa < gpa)
        i++;
    gmem_ext *prev = i ? &gm->free[i - 1] : NULL;
    gmem_ext *next = i < gm->nfree ? &gm->free[i] : NULL;
    bool mprev = prev && prev->rgpa == rgpa && prev->gpa + prev->size == gpa;
    bool mnext = next && next->rgpa == rgpa && gpa + size == next->gpa;
    if (mprev && mnext) {
        prev->size += size + next->size;
        memmove(&gm->free[i], &gm->free[i + 1], (gm->nfree - i - 1) * sizeof *gm->free);
        gm->nfree--;
    } else if (mprev) {
        prev->size += size;
    } else if (mnext) {
        next->gpa = gpa;
        next->size += size;
    } else {
        if (!grow((void **)&gm->free, &gm->capfree, gm->nfree + 1, sizeof *gm->free))
            return vs_err_set(e, VS_ENOMEM, "gmem allocator: out of host memory");
        memmove(&gm->free[i + 1], &gm->free[i], (gm->nfree - i) * sizeof *gm->free);
        gm->free[i] = (gmem_ext){gpa, size, rgpa};
        gm->nfree++;
    }
    gm->bytes_free += size;
    return 0;
}

/* Index of the allocation at gpa, or the insertion point with *found false. */
static size_t alloc_find(const vs_gmem *gm, uint64_t gpa, bool *found)
{
    size_t lo = 0, hi = gm->nallocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (gm->allocs[mid].gpa < gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < gm->nallocs && gm->allocs[lo].gpa == gpa;
    return lo;
}

/* Zeroes [host, host+size) of a fresh allocation. Large page-aligned ranges of our own
 * memfd get their pages dropped instead (they read back as zeros, and pages never touched
 * cost nothing): memset would fault in and clear every page of a buffer pool the run may
 * use a fraction of. */
#define ZERO_BY_PUNCH_MIN (64u << 10)

static void zero_range(vs_gmem *gm, uint8_t *host, uint64_t size)
{
    if (!gm->external && size >= ZERO_BY_PUNCH_MIN && host >= gm->base) {
        uint64_t off = (uint64_t)(host - gm->base);
        if (off % VS_GMEM_PAGE == 0 && size % VS_GMEM_PAGE == 0 && size <= gm->file_size &&
            off <= gm->file_size - size &&
            fallocate(gm->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                      (off_t)size) == 0)
            return;
    }
    memset(host, 0, (size_t)size);
}

int vs_gmem_alloc(vs_gmem *gm, uint64_t size, uint64_t align, uint64_t *gpa, vs_err *e)
{
    if (!gm || !gpa)
        return vs_err_set(e, VS_EINVAL, "gmem alloc: NULL argument");
    if (size == 0)
        return vs_err_set(e, VS_EINVAL, "gmem alloc: size 0");
    if (align == 0 || (align & (align - 1)))
        return vs_err_set(e, VS_EINVAL, "gmem alloc: alignment 0x%llx is not a power of two",
                          (ull)align);
    if (size > UINT64_MAX - (VS_GMEM_PAGE - 1))
        return vs_err_set(e, VS_ENOMEM, "gmem alloc: size 0x%llx too large", (ull)size);
    size = (size + VS_GMEM_PAGE - 1) & ~(uint64_t)(VS_GMEM_PAGE - 1);
    if (align < VS_GMEM_PAGE)
        align = VS_GMEM_PAGE;
    /* Reserve the bookkeeping slot first so nothing fails after carving. */
    if (!grow((void **)&gm->allocs, &gm->capallocs, gm->nallocs + 1, sizeof *gm->allocs) ||
        !grow((void **)&gm->free, &gm->capfree, gm->nfree + 1, sizeof *gm->free))
        return vs_err_set(e, VS_ENOMEM, "gmem alloc: out of host memory");

    for (size_t i = 0; i < gm->nfree; i++) {
        gmem_ext x = gm->free[i];
        uint64_t end = x.gpa + x.size;
        if (x.gpa > UINT64_MAX - (align - 1))
            continue;
        uint64_t start = (x.gpa + align - 1) & ~(align - 1);
        if (start >= end || size > end - start)
            continue;
        /* Carve [start, start+size): up to two leftovers (head and tail). */
        uint64_t head = start - x.gpa, tail = end - (start + size);
        if (head && tail) {
            memmove(&gm->free[i + 2], &gm->free[i + 1], (gm->nfree - i - 1) * sizeof *gm->free);
            gm->free[i] = (gmem_ext){x.gpa, head, x.rgpa};
            gm->free[i + 1] = (gmem_ext){start + size, tail, x.rgpa};
            gm->nfree++;
        } else if (head) {
            gm->free[i].size = head;
        } else if (tail) {
            gm->free[i] = (gmem_ext){start + size, tail, x.rgpa};
        } else {
            memmove(&gm->free[i], &gm->free[i + 1], (gm->nfree - i - 1) * sizeof *gm->free);
            gm->nfree--;
        }
        gm->bytes_free -= size;
        bool found;
        size_t k = alloc_find(gm, start, &found);
        memmove(&gm->allocs[k + 1], &gm->allocs[k], (gm->nallocs - k) * sizeof *gm->allocs);
        gm->allocs[k] = (gmem_alloc){start, size};
        gm->nallocs++;
        const gmem_reg *r = find_reg(gm, start);
        zero_range(gm, r->host + (start - r->pub.gpa), size);
        *gpa = start;
        return 0;
    }
    return vs_err_set(e, VS_ENOMEM,
                      "gmem alloc: no free range of 0x%llx bytes aligned to 0x%llx (0x%llx bytes "
                      "free in total)",
                      (ull)size, (ull)align, (ull)gm->bytes_free);
}

int vs_gmem_free(vs_gmem *gm, uint64_t gpa, vs_err *e)
{
    if (!gm)
        return vs_err_set(e, VS_EINVAL, "gmem free: gm is NULL");
    bool found;
    size_t k = alloc_find(gm, gpa, &found);
    if (!found)
        return vs_err_set(e, VS_EINVAL, "gmem free: gpa 0x%llx was not returned by vs_gmem_alloc",
                          (ull)gpa);
    gmem_alloc a = gm->allocs[k];
    const gmem_reg *r = find_reg(gm, a.gpa);
    int rc = free_insert(gm, a.gpa, a.size, r->pub.gpa, e);
    if (rc < 0)
        return rc;
    memmove(&gm->allocs[k], &gm->allocs[k + 1], (gm->nallocs - k - 1) * sizeof *gm->allocs);
    gm->nallocs--;
    return 0;
}

uint64_t vs_gmem_bytes_free(const vs_gmem *gm) { return gm ? gm->bytes_free : 0; }

int vs_gmem_reset(vs_gmem *gm, vs_err *e)
{
    if (!gm || gm->external)
        return vs_err_set(e, VS_EINVAL, "gmem reset: needs a memfd-backed gmem");
    /* Every byte back to zero (a fresh memfd), every mapping that shares the memfd sees it. */
    zero_range(gm, gm->base, gm->file_size);
    size_t n = gm->nregs;
    vs_gmem_region *keep = malloc((n ? n : 1) * sizeof *keep);
    if (!keep)
        return vs_err_set(e, VS_ENOMEM, "gmem reset: out of host memory");
    for (size_t i = 0; i < n; i++)
        keep[i] = gm->regs[i].pub;
    gm->nregs = gm->nfree = gm->nallocs = gm->nhooks = 0;
    gm->bytes_free = 0;
    gm->last = NULL;
    gm->next_handle = 0;
    gm->in_hook = false;
    /* the regions again: the free extents of a fresh gmem */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = vs_gmem_add_region(gm, keep[i].gpa, keep[i].size, keep[i].file_offset,
                                keep[i].flags, e);
    free(keep);
    return rc;
}

/* -------------------------------------------------------------------- hooks */

bool vs_gmem_hooked(const vs_gmem *gm) { return gm && gm->nhooks; }

int vs_gmem_hook_add(vs_gmem *gm, vs_gmem_hook_fn fn, void *opaque, vs_err *e)
{
    if (!gm || !fn)
        return vs_err_set(e, VS_EINVAL, "gmem hook add: NULL argument");
    if (gm->nhooks == GMEM_MAX_HOOKS)
        return vs_err_set(e, VS_ENOSPC, "gmem hook add: all %d hook slots in use",
                          GMEM_MAX_HOOKS);
    if (gm->next_handle == INT32_MAX)
        return vs_err_set(e, VS_ENOSPC, "gmem hook add: hook handles exhausted");
    int h = gm->next_handle++;
    gm->hooks[gm->nhooks++] = (gmem_hook){fn, opaque, h};
    return h;
}

void vs_gmem_hook_remove(vs_gmem *gm, int handle)
{
    if (!gm)
        return;
    for (size_t i = 0; i < gm->nhooks; i++) {
        if (gm->hooks[i].handle == handle) {
            /* Shift, not swap: hooks run in installation order. */
            memmove(&gm->hooks[i], &gm->hooks[i + 1], (gm->nhooks - i - 1) * sizeof *gm->hooks);
            gm->nhooks--;
            return;
        }
    }
}
