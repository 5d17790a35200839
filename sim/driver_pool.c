/* The driver model's buffer pool: one guest-memory region cut into POOL_UNIT-byte units,
 * a bitmap of the units in use, and a cache of freed chunks of the size requests keep
 * asking for. Every request's segments and guards live in one chunk of it. */
#include "sim/driver_int.h"

#include <stdlib.h>
#include <string.h>

#define POOL_UNIT 64u

/* Bitmap helpers, a word at a time. Bit i of the pool map is unit i (1 = in use). */
static uint32_t map_next_free(const uint64_t *map, uint32_t i, uint32_t end)
{
    while (i < end) {
        uint64_t w = ~map[i / 64] >> (i % 64);
        if (w)
            return i + (uint32_t)__builtin_ctzll(w) < end ? i + (uint32_t)__builtin_ctzll(w)
                                                          : end;
        i = (i / 64 + 1) * 64;
    }
    return end;
}

static uint32_t map_next_used(const uint64_t *map, uint32_t i, uint32_t end)
{
    while (i < end) {
        uint64_t w = map[i / 64] >> (i % 64);
        if (w)
            return i + (uint32_t)__builtin_ctzll(w) < end ? i + (uint32_t)__builtin_ctzll(w)
                                                          : end;
        i = (i / 64 + 1) * 64;
    }
    return end;
}

static void map_assign(uint64_t *map, uint32_t first, uint32_t n, bool used)
{
    while (n) {
        uint32_t b = first % 64, k = 64 - b < n ? 64 - b : n;
        uint64_t m = (k == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << k) - 1)) << b;
        if (used)
            map[first / 64] |= m;
        else
            map[first / 64] &= ~m;
        first += k;
        n -= k;
    }
}

/* Lowest-address first fit over the map. Every unit below pool_hint is in use, so the
 * search starts there. (Word-wise; it picks exactly the run a unit-by-unit scan would.) */
static int pool_search(vs_driver *d, uint32_t need, uint64_t *gpa)
{
    uint32_t end = d->pool_units;
    uint32_t i = d->pool_hint;
    for (;;) {
        uint32_t first = map_next_free(d->pool_map, i, end);
        if (end - first < need)
            return -1;
        uint32_t used = map_next_used(d->pool_map, first, first + need);
        if (used < first + need) {
            i = used + 1;
            continue;
        }
        map_assign(d->pool_map, first, need, true);
        if (first == d->pool_hint)
            d->pool_hint = first + need;
        *gpa = d->pool_gpa + (uint64_t)first * POOL_UNIT;
        return 0;
    }
}

static void pool_release(vs_driver *d, uint32_t first, uint32_t n)
{
    map_assign(d->pool_map, first, n, false);
    if (first < d->pool_hint)
        d->pool_hint = first;
}

static void pool_cache_flush(vs_driver *d)
{
    while (d->pool_cache_n)
        pool_release(d, d->pool_cache[--d->pool_cache_n], d->pool_cache_units);
}

/* Buffers for requests, as a real driver's allocator hands them out: a freed chunk of the
 * size requests keep asking for comes back first (last freed, so hottest in the cache),
 * anything else is the lowest-address fit. The few buffers in flight stay in the cache;
 * a next-fit walk through the whole pool missed it on nearly every request. */
int vs__drv_pool_alloc(vs_driver *d, uint64_t bytes, uint64_t *gpa, uint32_t *units,
                       vs_err *e)
{
    if (!d->pool_map)
        return vs_err_set(e, VS_ESTATE, "driver: buffer pool not set up (init first)");
    uint64_t need64 = (bytes + POOL_UNIT - 1) / POOL_UNIT;
    if (need64 == 0)
        need64 = 1;
    if (need64 > d->pool_units)
        return vs_err_set(e, VS_ENOMEM, "driver: request needs %llu bytes, pool has %llu",
                          (unsigned long long)bytes, (unsigned long long)d->pool_bytes);
    uint32_t need = (uint32_t)need64;
    if (need == d->pool_cache_units && d->pool_cache_n) {
        uint32_t first = d->pool_cache[--d->pool_cache_n];
        *gpa = d->pool_gpa + (uint64_t)first * POOL_UNIT;
        *units = need;
        return 0;
    }
    if (pool_search(d, need, gpa) == 0 || (pool_cache_flush(d), pool_search(d, need, gpa) == 0)) {
        *units = need;
        return 0;
    }
    return vs_err_set(e, VS_ENOSPC, "driver: buffer pool exhausted (%llu bytes)",
                      (unsigned long long)d->pool_bytes);
}

void vs__drv_pool_free(vs_driver *d, uint64_t gpa, uint32_t units)
{
    if (!units || gpa < d->pool_gpa)
        return;
    uint64_t first = (gpa - d->pool_gpa) / POOL_UNIT;
    if (first >= d->pool_units)
        return;
    uint64_t n = units < d->pool_units - first ? units : d->pool_units - first;
    uint32_t cap = sizeof d->pool_cache / sizeof d->pool_cache[0];
    if (n == units && d->pool_cache_units != units) {
        pool_cache_flush(d);
        d->pool_cache_units = units; /* follow the size requests use now */
    }
    if (n == units && d->pool_cache_n < cap) {
        d->pool_cache[d->pool_cache_n++] = (uint32_t)first;
        return;
    }
    pool_release(d, (uint32_t)first, (uint32_t)n);
}

int vs__drv_pool_setup(vs_driver *d, vs_err *e)
{
    if (d->pool_map)
        return 0;
    uint64_t bytes = (d->o.pool_bytes + VS_GMEM_PAGE - 1) / VS_GMEM_PAGE * VS_GMEM_PAGE;
    int rc = vs_gmem_alloc(d->gm, bytes, VS_GMEM_PAGE, &d->pool_gpa, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: buffer pool of %llu bytes", (unsigned long long)bytes);
    d->pool_bytes = bytes;
    d->pool_units = (uint32_t)(bytes / POOL_UNIT);
    d->pool_map = calloc((d->pool_units + 63) / 64, sizeof *d->pool_map);
    if (!d->pool_map) {
        vs_gmem_free(d->gm, d->pool_gpa, NULL);
        d->pool_bytes = 0;
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    }
    return 0;
}

void vs__drv_pool_destroy(vs_driver *d)
{
    if (d->pool_bytes)
        vs_gmem_free(d->gm, d->pool_gpa, NULL);
    free(d->pool_map);
    d->pool_map = NULL;
    d->pool_bytes = 0;
}
