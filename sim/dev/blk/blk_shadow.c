/* virtio-blk driver: the sparse per-sector shadow of what the driver believes is on the
 * disk (with the writes in flight over each sector), and the data patterns writes carry
 * and reads are verified against. */
#include "sim/dev/blk/blk_drv_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ shadow */

typedef struct shadow_ent {
    uint64_t key;   /* sector + 1; 0 = empty */
    uint64_t tag;
    uint32_t busy;  /* writes in flight */
    bool overlap;   /* two writes were in flight at once since busy was last 0 */
} shadow_ent;

typedef struct shadow_range {
    uint64_t first, end; /* [first, end) */
} shadow_range;

struct vs_blk_shadow {
    shadow_ent *t;
    size_t cap, n;
    size_t lane_n[8];   /* entries per lane (key % 8): each lane must keep free slots */
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

/* Eight consecutive sectors share a hashed block of eight adjacent slots: a request's
 * sectors are looked up together, so they cost a few cache lines instead of one miss each
 * (a 64 KiB request looks up 128 sectors several times). A collision probes the next
 * block at the same lane (SH_STEP), so probe chains are as short as with one hash per
 * key: each lane is its own table. The capacity is a power of two >= 1024. */
#define SH_STEP 8
/* Sectors 8m..8m+7 (keys 8m+1..8m+8) form a block, so an aligned 4 KiB request is one. */
static size_t sh_lane(uint64_t k)
{
    return (size_t)((k - 1) & 7);
}

static size_t sh_hash(uint64_t k, size_t cap)
{
    uint64_t g = (k - 1) >> 3;
    g ^= g >> 33;
    g *= UINT64_C(0xff51afd7ed558ccd);
    g ^= g >> 33;
    return (size_t)((g << 3) | sh_lane(k)) & (cap - 1);
}

static shadow_ent *sh_find(const struct vs_blk_shadow *s, uint64_t sector)
{
    if (!s || !s->cap)
        return NULL;
    uint64_t key = sector + 1;
    for (size_t i = sh_hash(key, s->cap);; i = (i + SH_STEP) & (s->cap - 1)) {
        if (s->t[i].key == key)
            return &s->t[i];
        if (s->t[i].key == 0)
            return NULL;
    }
}

static shadow_ent *sh_get(vs_blk_drv *b, uint64_t sector)
{
    struct vs_blk_shadow *s = b->shadow;
    if (!s) {
        s = b->shadow = calloc(1, sizeof *s);
        if (!s)
            return NULL;
    }
    shadow_ent *x = sh_find(s, sector);
    if (x)
        return x;
    uint64_t key = sector + 1;
    size_t lane = sh_lane(key);
    if ((s->n + 1) * 4 >= s->cap * 3 || (s->lane_n[lane] + 1) * 4 >= s->cap / SH_STEP * 3) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        shadow_ent *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < s->cap; i++)
            if (s->t[i].key) {
                size_t j = sh_hash(s->t[i].key, ncap);
                while (nt[j].key)
                    j = (j + SH_STEP) & (ncap - 1);
                nt[j] = s->t[i];
            }
        free(s->t);
        s->t = nt;
        s->cap = ncap;
    }
    size_t i = sh_hash(key, s->cap);
    while (s->t[i].key)
        i = (i + SH_STEP) & (s->cap - 1);
    s->t[i] = (shadow_ent){.key = key, .tag = b->shadow_default};
    s->n++;
    s->lane_n[lane]++;
    return &s->t[i];
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

/* vs_blk_shadow_get and blk_shadow_busy with one lookup (both are asked per sector of
 * every verified read, at submission and at completion). */
uint64_t blk_shadow_state(const vs_blk_drv *b, uint64_t sector, uint32_t *busy)
{
    const shadow_ent *x = sh_find(b->shadow, sector);
    *busy = x ? x->busy : 0;
    if (x)
        return x->tag;
    if (b->shadow)
        for (size_t i = 0; i < b->shadow->n_unknown; i++)
            if (sector >= b->shadow->unknown[i].first && sector < b->shadow->unknown[i].end)
                return VS_SHADOW_UNKNOWN;
    return b->shadow_default;
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
    for (size_t i = 0; i < s->cap; i++)
        if (s->t[i].key && s->t[i].key - 1 >= first && s->t[i].key - 1 < end && s->t[i].busy)
            return vs_err_set(e, VS_ESTATE, "blk shadow: sector %llu has a write in flight",
                              (unsigned long long)(s->t[i].key - 1));
    if (s->n_unknown == s->cap_unknown) {
        size_t nc = s->cap_unknown ? 2 * s->cap_unknown : 4;
        shadow_range *nr = realloc(s->unknown, nc * sizeof *nr);
        if (!nr)
            return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
        s->unknown = nr;
        s->cap_unknown = nc;
    }
    /* Drop the entries inside: copy the survivors out, then rehash them (keeps probe
     * chains intact). */
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->t[i].key && !(s->t[i].key - 1 >= first && s->t[i].key - 1 < end))
            n++;
    shadow_ent *old = n ? malloc(n * sizeof *old) : NULL;
    if (n && !old)
        return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
    for (size_t i = 0, k = 0; i < s->cap; i++)
        if (s->t[i].key && !(s->t[i].key - 1 >= first && s->t[i].key - 1 < end))
            old[k++] = s->t[i];
    s->unknown[s->n_unknown++] = (shadow_range){first, end};
    if (s->cap)
        memset(s->t, 0, s->cap * sizeof *s->t);
    memset(s->lane_n, 0, sizeof s->lane_n);
    for (size_t i = 0; i < n; i++) {
        size_t j = sh_hash(old[i].key, s->cap);
        while (s->t[j].key)
            j = (j + SH_STEP) & (s->cap - 1);
        s->t[j] = old[i];
        s->lane_n[sh_lane(old[i].key)]++;
    }
    s->n = n;
    free(old);
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
        if (s->t[i].key && s->t[i].key - 1 >= a && s->t[i].key - 1 - a < n)
            s->t[i].tag = VS_SHADOW_UNKNOWN;
}

void blk_range_busy_sectors(vs_blk_drv *b, const vs_blk_drv_req *br, int delta, bool set,
                            uint64_t tag)
{
    for (uint64_t s = br->r.sector; s < br->r.sector + br->r.nsectors; s++) {
        shadow_ent *x = sh_get(b, s);
        if (!x)
            return;
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
