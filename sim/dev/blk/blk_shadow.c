/* virtio-blk driver: the sparse per-sector shadow of what the driver believes is on the
 * disk (with the writes in flight over each sector), and the data patterns writes carry
 * and reads are verified against. */
#include "sim/dev/blk/blk_drv_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ shadow */

/* One sector's state. */
typedef struct shadow_ent {
    uint64_t tag;
    uint32_t busy;  /* writes in flight */
    bool present;   /* tracked: else the default (or an unknown range) holds */
    bool overlap;   /* two writes were in flight at once since busy was last 0 */
} shadow_ent;

/* Sectors 64m..64m+63 (32 KiB of disk) are one hashed group, their entries side by side:
 * a 4 KiB request costs one lookup and two cache lines, a 64 KiB one two or three lookups
 * and then lines in a row, which the hardware prefetches. With groups of 8 sectors a 64 KiB
 * request took sixteen lookups, each a miss in a table larger than L2 (64 KiB verified:
 * 0.875x the time with 64, 0.94x with 32, 128 no better than 64). A sparse workload pays
 * for it: 1 KiB of table per 32 KiB region touched, where 8-sector groups took 136 bytes. */
#define SH_GROUP 64
typedef struct shadow_group {
    uint64_t key;   /* sector / 8 + 1; 0 = empty */
    shadow_ent e[SH_GROUP];
} shadow_group;

typedef struct shadow_range {
    uint64_t first, end; /* [first, end) */
} shadow_range;

struct vs_blk_shadow {
    shadow_group *t;
    size_t cap, n;      /* groups: a power of two >= 128, and those in use */
    /* Given up wholesale (vs_blk_shadow_forget): unknown unless an entry says otherwise.
     * Entries inside were dropped when the range was added, so any entry there is newer. */
    shadow_range *unknown;
    size_t n_unknown, cap_unknown;
};

/* The blk state of d, or NULL when d drives another device type. */
static vs_blk_drv *blk_of(const vs_driver *d)
{
    return d->pers == &vs_blk_drv_personality ? blk_drv(d) : NULL;
}

static size_t sh_hash(uint64_t key, size_t cap)
{
    uint64_t g = key;
    g ^= g >> 33;
    g *= UINT64_C(0xff51afd7ed558ccd);
    g ^= g >> 33;
    return (size_t)g & (cap - 1);
}

/* The group holding sector (NULL: none). */
static shadow_group *sh_group_find(const struct vs_blk_shadow *s, uint64_t sector)
{
    if (!s || !s->cap)
        return NULL;
    uint64_t key = sector / SH_GROUP + 1;
    for (size_t i = sh_hash(key, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->t[i].key == key)
            return &s->t[i];
        if (s->t[i].key == 0)
            return NULL;
    }
}

static shadow_ent *sh_find(const struct vs_blk_shadow *s, uint64_t sector)
{
    shadow_group *g = sh_group_find(s, sector);
    shadow_ent *x = g ? &g->e[sector % SH_GROUP] : NULL;
    return x && x->present ? x : NULL;
}

static void sh_place(shadow_group *t, size_t cap, const shadow_group *g)
{
    size_t j = sh_hash(g->key, cap);
    while (t[j].key)
        j = (j + 1) & (cap - 1);
    t[j] = *g;
}

/* Rebuilds the table at ncap groups, keeping the groups with a present entry. */
static int sh_rebuild(struct vs_blk_shadow *s, size_t ncap)
{
    shadow_group *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        bool any = false;
        for (unsigned k = 0; k < SH_GROUP && !any; k++)
            any = s->t[i].e[k].present;
        if (s->t[i].key && any) {
            sh_place(nt, ncap, &s->t[i]);
            n++;
        }
    }
    free(s->t);
    s->t = nt;
    s->cap = ncap;
    s->n = n;
    return 0;
}

static shadow_group *sh_group_get(vs_blk_drv *b, uint64_t sector)
{
    struct vs_blk_shadow *s = b->shadow;
    if (!s) {
        s = b->shadow = calloc(1, sizeof *s);
        if (!s)
            return NULL;
    }
    shadow_group *g = sh_group_find(s, sector);
    if (g)
        return g;
    if ((s->n + 1) * 4 >= s->cap * 3 && sh_rebuild(s, s->cap ? s->cap * 2 : 128) < 0)
        return NULL;
    shadow_group ng = {.key = sector / SH_GROUP + 1};
    sh_place(s->t, s->cap, &ng);
    s->n++;
    return sh_group_find(s, sector);
}

static shadow_ent *sh_in(vs_blk_drv *b, shadow_group *g, uint64_t sector)
{
    shadow_ent *x = &g->e[sector % SH_GROUP];
    if (!x->present)
        *x = (shadow_ent){.tag = b->shadow_default, .present = true};
    return x;
}

void blk_shadow_free(vs_blk_drv *b)
{
    if (b->shadow) {
        free(b->shadow->unknown);
        free(b->shadow->t);
        free(b->shadow);
        b->shadow = NULL;
    }
}

uint64_t vs_blk_shadow_get(const vs_driver *d, uint64_t sector)
{
    const vs_blk_drv *b = blk_of(d);
    if (!b)
        return VS_SHADOW_UNKNOWN;
    uint32_t busy;
    return blk_shadow_state(b, sector, &busy);
}

static uint64_t sh_untracked(const vs_blk_drv *b, uint64_t sector)
{
    if (b->shadow)
        for (size_t i = 0; i < b->shadow->n_unknown; i++)
            if (sector >= b->shadow->unknown[i].first && sector < b->shadow->unknown[i].end)
                return VS_SHADOW_UNKNOWN;
    return b->shadow_default;
}

/* vs_blk_shadow_get and blk_shadow_busy with one lookup (both are asked per sector of
 * every verified read, at submission and at completion). */
uint64_t blk_shadow_state(const vs_blk_drv *b, uint64_t sector, uint32_t *busy)
{
    const shadow_ent *x = sh_find(b->shadow, sector);
    *busy = x ? x->busy : 0;
    return x ? x->tag : sh_untracked(b, sector);
}

uint64_t blk_shadow_state_at(const vs_blk_drv *b, blk_shadow_cursor *c, uint64_t sector,
                             uint32_t *busy)
{
    if (!c->valid || c->group != sector / SH_GROUP) {
        c->g = sh_group_find(b->shadow, sector);
        c->group = sector / SH_GROUP;
        c->valid = true;
    }
    const shadow_group *g = c->g;
    const shadow_ent *x = g && g->e[sector % SH_GROUP].present ? &g->e[sector % SH_GROUP]
                                                                : NULL;
    *busy = x ? x->busy : 0;
    return x ? x->tag : sh_untracked(b, sector);
}

/* Each tracked sector in [first, end) that has a write in flight: the lowest, or
 * UINT64_MAX. */
static uint64_t sh_lowest_busy(const struct vs_blk_shadow *s, uint64_t first, uint64_t end)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < s->cap; i++)
        for (unsigned k = 0; s->t[i].key && k < SH_GROUP; k++) {
            uint64_t sec = (s->t[i].key - 1) * SH_GROUP + k;
            if (s->t[i].e[k].present && s->t[i].e[k].busy && sec >= first && sec < end &&
                sec < low)
                low = sec;
        }
    return low;
}

int vs_blk_shadow_forget(vs_driver *d, uint64_t first, uint64_t count, vs_err *e)
{
    vs_blk_drv *b = blk_of(d);
    if (!b)
        return vs_err_set(e, VS_ENOTSUP, "blk shadow: device id %u is not virtio-blk",
                          d->t->device_id);
    if (!count)
        return 0;
    uint64_t end = first + count < first ? UINT64_MAX : first + count;
    struct vs_blk_shadow *s = b->shadow;
    if (!s) {
        s = b->shadow = calloc(1, sizeof *s);
        if (!s)
            return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
    }
    uint64_t busy = sh_lowest_busy(s, first, end);
    if (busy != UINT64_MAX)
        return vs_err_set(e, VS_ESTATE, "blk shadow: sector %llu has a write in flight",
                          (unsigned long long)busy);
    if (s->n_unknown == s->cap_unknown) {
        size_t nc = s->cap_unknown ? 2 * s->cap_unknown : 4;
        shadow_range *nr = realloc(s->unknown, nc * sizeof *nr);
        if (!nr)
            return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
        s->unknown = nr;
        s->cap_unknown = nc;
    }
    /* Drop the entries inside, then the groups left empty (a rebuild keeps probe chains
     * intact; without memory for it the empty groups stay, which is only wasteful). */
    s->unknown[s->n_unknown++] = (shadow_range){first, end};
    for (size_t i = 0; i < s->cap; i++)
        for (unsigned k = 0; s->t[i].key && k < SH_GROUP; k++) {
            uint64_t sec = (s->t[i].key - 1) * SH_GROUP + k;
            if (sec >= first && sec < end)
                s->t[i].e[k].present = false;
        }
    if (s->cap)
        (void)sh_rebuild(s, s->cap);
    return 0;
}

void vs_blk_shadow_assume(vs_driver *d, uint64_t state)
{
    vs_blk_drv *b = blk_of(d);
    if (b)
        b->shadow_default = state;
}

uint32_t blk_shadow_busy(const vs_blk_drv *b, uint64_t sector)
{
    const shadow_ent *x = sh_find(b->shadow, sector);
    return x ? x->busy : 0;
}

/* (A zone reset fills them with the device's pattern; an append lands where the device
 * chooses.) */
void blk_shadow_unknown(vs_blk_drv *b, uint64_t a, uint64_t n)
{
    struct vs_blk_shadow *s = b->shadow;
    for (size_t i = 0; s && i < s->cap; i++)
        for (unsigned k = 0; s->t[i].key && k < SH_GROUP; k++) {
            uint64_t sec = (s->t[i].key - 1) * SH_GROUP + k;
            if (s->t[i].e[k].present && sec >= a && sec - a < n)
                s->t[i].e[k].tag = VS_SHADOW_UNKNOWN;
        }
}

void blk_range_busy_sectors(vs_blk_drv *b, const vs_blk_drv_req *br, int delta, bool set,
                            uint64_t tag)
{
    shadow_group *g = NULL;
    for (uint64_t s = br->r.sector; s < br->r.sector + br->r.nsectors; s++) {
        if (!g || s % SH_GROUP == 0)
            g = sh_group_get(b, s);
        if (!g)
            return;
        shadow_ent *x = sh_in(b, g, s);
        /* virtio-blk orders nothing between requests in flight: when two writes to a
         * sector overlap in time, either may land last, so the content is unknown. */
        if (delta > 0 && x->busy)
            x->overlap = true;
        if (delta < 0 && x->busy)
            x->busy--;
        else if (delta > 0)
            x->busy++;
        if (set)
            x->tag = x->overlap ? VS_SHADOW_UNKNOWN : tag;
        if (x->busy == 0)
            x->overlap = false;
    }
}

/* ------------------------------------------------------------------ patterns */

static uint64_t pattern_word(uint64_t seed, uint64_t tag, uint64_t sector, uint32_t w)
{
    uint64_t st = seed ^ (tag * UINT64_C(0xd6e8feb86659fd93)) ^
                  (sector * UINT64_C(0x9e3779b97f4a7c15)) ^ ((uint64_t)w << 48);
    return vs__splitmix64(&st);
}

uint8_t vs_blk_pattern_byte(uint64_t seed, uint64_t tag, uint64_t sector, uint32_t off)
{
    return (uint8_t)(pattern_word(seed, tag, sector, off / 8) >> (8 * (off % 8)));
}

/* One splitmix64 per 8-byte word is the whole cost of verification (a third of a verified
 * 4 KiB run's instructions), so x86-64 hosts compute eight (AVX-512) or four (AVX2) words at
 * once: the same arithmetic lane by lane, the same bytes (little-endian stores). */
#if defined(__x86_64__) && defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PATTERN_SIMD 1
typedef uint64_t u64x8 __attribute__((vector_size(64)));
typedef uint64_t u64x4 __attribute__((vector_size(32)));

#define SPLITMIX_LANES(z)                                                                  \
    do {                                                                                   \
        z += UINT64_C(0x9e3779b97f4a7c15);                                                 \
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);                                \
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);                                \
        z ^= z >> 31;                                                                      \
    } while (0)

__attribute__((target("avx512f,avx512dq"))) static void
pattern_avx512(uint64_t base, uint8_t *out)
{
    u64x8 w = {0, 1, 2, 3, 4, 5, 6, 7};
    for (uint32_t i = 0; i < VS_BLK_SECTOR / 8; i += 8, w += 8) {
        u64x8 z = base ^ (w << 48);
        SPLITMIX_LANES(z);
        memcpy(out + i * 8, &z, sizeof z);
    }
}

__attribute__((target("avx2"))) static void pattern_avx2(uint64_t base, uint8_t *out)
{
    u64x4 w = {0, 1, 2, 3};
    for (uint32_t i = 0; i < VS_BLK_SECTOR / 8; i += 4, w += 4) {
        u64x4 z = base ^ (w << 48);
        SPLITMIX_LANES(z);
        memcpy(out + i * 8, &z, sizeof z);
    }
}

/* The same words compared with got instead of stored: verification's common case (the
 * read matched) costs no store and no second pass. */
__attribute__((target("avx512f,avx512dq"))) static bool
pattern_match_avx512(uint64_t base, const uint8_t *got)
{
    u64x8 w = {0, 1, 2, 3, 4, 5, 6, 7}, diff = {0};
    for (uint32_t i = 0; i < VS_BLK_SECTOR / 8; i += 8, w += 8) {
        u64x8 z = base ^ (w << 48), g;
        SPLITMIX_LANES(z);
        memcpy(&g, got + i * 8, sizeof g);
        diff |= z ^ g;
    }
    uint64_t any = 0;
    for (int k = 0; k < 8; k++)
        any |= diff[k];
    return any == 0;
}

__attribute__((target("avx2"))) static bool pattern_match_avx2(uint64_t base,
                                                               const uint8_t *got)
{
    u64x4 w = {0, 1, 2, 3}, diff = {0};
    for (uint32_t i = 0; i < VS_BLK_SECTOR / 8; i += 4, w += 4) {
        u64x4 z = base ^ (w << 48), g;
        SPLITMIX_LANES(z);
        memcpy(&g, got + i * 8, sizeof g);
        diff |= z ^ g;
    }
    return (diff[0] | diff[1] | diff[2] | diff[3]) == 0;
}
#endif

bool blk_pattern_match(uint64_t seed, uint64_t tag, uint64_t sector, const uint8_t *got)
{
#ifdef PATTERN_SIMD
    uint64_t base = seed ^ (tag * UINT64_C(0xd6e8feb86659fd93)) ^
                    (sector * UINT64_C(0x9e3779b97f4a7c15));
    if (__builtin_cpu_supports("avx512dq"))
        return pattern_match_avx512(base, got);
    if (__builtin_cpu_supports("avx2"))
        return pattern_match_avx2(base, got);
#endif
    uint8_t exp[VS_BLK_SECTOR];
    blk_pattern_sector(seed, tag, sector, exp);
    return memcmp(got, exp, VS_BLK_SECTOR) == 0;
}

void blk_pattern_sector(uint64_t seed, uint64_t tag, uint64_t sector, uint8_t *out)
{
    /* Same words as pattern_word, with the per-sector part computed once. */
    uint64_t base = seed ^ (tag * UINT64_C(0xd6e8feb86659fd93)) ^
                    (sector * UINT64_C(0x9e3779b97f4a7c15));
#ifdef PATTERN_SIMD
    if (__builtin_cpu_supports("avx512dq")) {
        pattern_avx512(base, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        pattern_avx2(base, out);
        return;
    }
#endif
    for (uint32_t w = 0; w < VS_BLK_SECTOR / 8; w++) {
        uint64_t st = base ^ ((uint64_t)w << 48);
        uint64_t v = vs__splitmix64(&st);
        /* Spelled out (not a loop) so the compiler merges the eight little-endian byte
         * stores into one; the bytes are the same on every host. */
        uint8_t *o = out + w * 8;
        o[0] = (uint8_t)v, o[1] = (uint8_t)(v >> 8), o[2] = (uint8_t)(v >> 16);
        o[3] = (uint8_t)(v >> 24), o[4] = (uint8_t)(v >> 32), o[5] = (uint8_t)(v >> 40);
        o[6] = (uint8_t)(v >> 48), o[7] = (uint8_t)(v >> 56);
    }
}
