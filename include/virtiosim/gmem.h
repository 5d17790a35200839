/* Guest memory: a guest-physical address space made of regions over ONE memfd mapped
 * MAP_SHARED, so the same bytes can be handed to QEMU (memory-backend-file), to a
 * vhost-user back-end (SET_MEM_TABLE over SCM_RIGHTS) or to kernel vhost.
 *
 * Every accessor is checked: an unmapped GPA, a range crossing a region end, 64-bit
 * wrap-around, a write to a read-only region or a hole are errors (negative VS_E* code
 * plus message), never crashes. Multi-byte loads/stores are little-endian (virtio 1.x). */
#ifndef VIRTIOSIM_GMEM_H
#define VIRTIOSIM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"

#define VS_GMEM_PAGE 4096u

enum vs_gmem_flags {
    VS_GMEM_READONLY = 1u << 0, /* device/driver may read, stores fail */
    VS_GMEM_HOLE = 1u << 1,     /* reserved GPA range: every access fails (like MMIO gap) */
};

typedef struct vs_gmem_region {
    uint64_t gpa;         /* guest-physical base */
    uint64_t size;        /* bytes */
    uint64_t file_offset; /* offset of the region's first byte in the memfd */
    uint32_t flags;       /* enum vs_gmem_flags */
} vs_gmem_region;

enum vs_gmem_access_kind { VS_GMEM_READ = 1, VS_GMEM_WRITE = 2 };

/* One checked access, as seen by hooks. */
typedef struct vs_gmem_access {
    enum vs_gmem_access_kind kind;
    uint64_t gpa;
    uint64_t len;
} vs_gmem_access;

/* Access hook: called before every checked access (ld/st/read/write/fill/translate) while
 * any hook is installed. Return 0 to let the access proceed; a negative VS_E* code (and
 * a message in e) makes the access fail with that error — used for fault injection.
 * Watching hooks just return 0. */
typedef int (*vs_gmem_hook_fn)(void *opaque, const vs_gmem_access *a, vs_err *e);

typedef struct vs_gmem vs_gmem;

/* Creates a memfd of file_size bytes (rounded up to a page), mapped shared. No regions
 * exist yet; add them with vs_gmem_add_region (or use vs_gmem_create_flat). name labels
 * the memfd (visible in /proc/PID/fd). */
int vs_gmem_create(vs_gmem **out, uint64_t file_size, const char *name, vs_err *e);

/* Convenience: one RAM region [0, size) over the whole file. */
int vs_gmem_create_flat(vs_gmem **out, uint64_t size, vs_err *e);

void vs_gmem_destroy(vs_gmem *gm);

/* Regions must not overlap in GPA, must lie inside the file (holes need no backing),
 * and must not wrap the 64-bit space. */
int vs_gmem_add_region(vs_gmem *gm, uint64_t gpa, uint64_t size, uint64_t file_offset,
                       uint32_t flags, vs_err *e);

/* Regions in GPA order; a pointer from region_at is valid until the next add_region. */
size_t vs_gmem_region_count(const vs_gmem *gm);
const vs_gmem_region *vs_gmem_region_at(const vs_gmem *gm, size_t i);

int vs_gmem_fd(const vs_gmem *gm);            /* the memfd (owned by gm) */
uint64_t vs_gmem_file_size(const vs_gmem *gm);
void *vs_gmem_host_base(const vs_gmem *gm);   /* host address of file offset 0 */

/* Translates [gpa, gpa+len) to a host pointer. len must be > 0 and the whole range must
 * lie inside one region (accessible for `kind`). Returns NULL and fills e on error. */
void *vs_gmem_translate(vs_gmem *gm, uint64_t gpa, uint64_t len,
                        enum vs_gmem_access_kind kind, vs_err *e);

/* Is [gpa, gpa+len) inside one region accessible for kind? (no hooks run, no message) */
bool vs_gmem_range_ok(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                      enum vs_gmem_access_kind kind);

/* Like vs_gmem_range_ok, but the range may span several adjacent regions (each accessible
 * for kind), as vs_gmem_read/write accept. len 0 is not ok. */
bool vs_gmem_span_ok(const vs_gmem *gm, uint64_t gpa, uint64_t len,
                     enum vs_gmem_access_kind kind);

/* Bulk copies; the range may span several adjacent regions. len 0 is a no-op. */
int vs_gmem_read(vs_gmem *gm, uint64_t gpa, void *dst, uint64_t len, vs_err *e);
int vs_gmem_write(vs_gmem *gm, uint64_t gpa, const void *src, uint64_t len, vs_err *e);
int vs_gmem_fill(vs_gmem *gm, uint64_t gpa, uint8_t byte, uint64_t len, vs_err *e);

/* Little-endian scalar accessors. */
int vs_gmem_ld8(vs_gmem *gm, uint64_t gpa, uint8_t *v, vs_err *e);
int vs_gmem_ld16(vs_gmem *gm, uint64_t gpa, uint16_t *v, vs_err *e);
int vs_gmem_ld32(vs_gmem *gm, uint64_t gpa, uint32_t *v, vs_err *e);
int vs_gmem_ld64(vs_gmem *gm, uint64_t gpa, uint64_t *v, vs_err *e);
int vs_gmem_st8(vs_gmem *gm, uint64_t gpa, uint8_t v, vs_err *e);
int vs_gmem_st16(vs_gmem *gm, uint64_t gpa, uint16_t v, vs_err *e);
int vs_gmem_st32(vs_gmem *gm, uint64_t gpa, uint32_t v, vs_err *e);
int vs_gmem_st64(vs_gmem *gm, uint64_t gpa, uint64_t v, vs_err *e);

/* Page-granular allocator over the RAM regions (never holes or read-only regions).
 * align is a power of two >= 1 (rounded up to at least VS_GMEM_PAGE); the returned range
 * is zero-filled. vs_gmem_free takes the gpa returned by vs_gmem_alloc. */
int vs_gmem_alloc(vs_gmem *gm, uint64_t size, uint64_t align, uint64_t *gpa, vs_err *e);
int vs_gmem_free(vs_gmem *gm, uint64_t gpa, vs_err *e);
uint64_t vs_gmem_bytes_free(const vs_gmem *gm);
/* Back to the state of a fresh gmem with the same regions: every byte zero (through the
 * memfd, so whoever else maps it sees zeros too), nothing allocated, no hooks. Fails on a
 * gmem over external mappings. */
int vs_gmem_reset(vs_gmem *gm, vs_err *e);

/* Hooks (one list, run in installation order, at most 16: -VS_ENOSPC beyond). Returns a
 * handle >= 0 for vs_gmem_hook_remove, or a negative code. Accesses made from inside a
 * hook run no hooks. */
int vs_gmem_hook_add(vs_gmem *gm, vs_gmem_hook_fn fn, void *opaque, vs_err *e);
void vs_gmem_hook_remove(vs_gmem *gm, int handle);
/* Is any hook installed? (Without one, a host pointer a translate gave is as good as a
 * checked access: a device may copy through it.) */
bool vs_gmem_hooked(const vs_gmem *gm);

/* Guest memory over mappings that already exist (e.g. the regions a vhost-user front-end
 * sent with SET_MEM_TABLE, mapped by the caller). Each region names its own host
 * address; the caller keeps ownership of the mappings (vs_gmem_destroy does not unmap)
 * and must keep them mapped until vs_gmem_destroy. Such a gmem has no memfd
 * (vs_gmem_fd returns -1, file size 0, host base NULL) and no allocator
 * (vs_gmem_alloc fails with -VS_ENOMEM); add_region cannot add RAM to it. Regions must
 * have size > 0, not wrap, not overlap in GPA, and have a host address unless HOLE. */
typedef struct vs_gmem_ext_region {
    uint64_t gpa;
    uint64_t size;
    void *host;           /* host address of gpa (NULL for VS_GMEM_HOLE) */
    uint32_t flags;       /* enum vs_gmem_flags */
} vs_gmem_ext_region;

int vs_gmem_create_external(vs_gmem **out, const vs_gmem_ext_region *regs, size_t n,
                            vs_err *e);

#endif
