#include "conformance/hash.h"

#include <string.h>

/* Eight 64-bit lanes over 64-byte blocks: each word, xored with a per-lane key, has its
 * 32-bit halves multiplied into its own lane and is added to the neighbouring lane (so a
 * word whose key-xored half is zero still counts). One block is one 512-bit multiply, or
 * two 256-bit ones, where the crc32 instruction takes 8 bytes a cycle.
 * Words and bytes after the last whole block go through a scalar multiply-xorshift. */
static const uint64_t key[8] = {
    UINT64_C(0xbe4ba423396cfeb8), UINT64_C(0x1cad21f72c81017c), UINT64_C(0xdb979083e96dd4de),
    UINT64_C(0x1f67b3b7a4a44072), UINT64_C(0x78e5c0cc4ee679cb), UINT64_C(0x2172ffcc7dd05a82),
    UINT64_C(0x8e2443f7744608b8), UINT64_C(0x4c263a81e69035e0),
};

/* key[i] | 1: odd multipliers, so each lane's term is a bijection of the lane */
static const uint64_t odd[8] = {
    UINT64_C(0xbe4ba423396cfeb9), UINT64_C(0x1cad21f72c81017d), UINT64_C(0xdb979083e96dd4df),
    UINT64_C(0x1f67b3b7a4a44073), UINT64_C(0x78e5c0cc4ee679cb), UINT64_C(0x2172ffcc7dd05a83),
    UINT64_C(0x8e2443f7744608b9), UINT64_C(0x4c263a81e69035e1),
};

#define P1 UINT64_C(0x9e3779b185ebca87)
#define P2 UINT64_C(0xc2b2ae3d27d4eb4f)
#define P3 UINT64_C(0x165667b19e3779f9)

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void lanes_init(uint64_t a[8], uint64_t acc)
{
    for (int i = 0; i < 8; i++)
        a[i] = (acc + (uint64_t)i * P3) ^ key[i];
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

/* The lanes folded into one word: each through a bijection, the eight terms summed. */
static uint64_t fold(const uint64_t a[8])
{
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s += (a[i] ^ (a[i] >> 29)) * odd[i];
    return s;
}

/* The folded lanes (s; an input shorter than a block has none), the words and bytes past
 * the last block, and the length, into 64 bits. */
static uint64_t finish(uint64_t acc, uint64_t s, const uint8_t *q, size_t n, size_t total)
{
    uint64_t h = (uint64_t)total * P1 ^ acc ^ s;
    for (; n >= 8; q += 8, n -= 8) {
        h ^= ld64(q) * P2;
        h = (h << 31 | h >> 33) * P1;
    }
    for (; n; q++, n--)
        h = (h ^ *q) * P1;
    return mix(h);
}

uint64_t vs__hash64_portable(uint64_t acc, const void *p, size_t n)
{
    const uint8_t *q = p;
    size_t total = n;
    uint64_t a[8];
    if (n < 64)
        return finish(acc, 0, q, n, total);
    lanes_init(a, acc);
    for (; n >= 64; q += 64, n -= 64) {
        uint64_t v[8];
        for (int i = 0; i < 8; i++)
            v[i] = ld64(q + 8 * i);
        for (int i = 0; i < 8; i++) {
            uint64_t k = v[i] ^ key[i];
            a[i] += (k & 0xffffffffu) * (k >> 32);
            a[i ^ 1] += v[i];
        }
    }
    return finish(acc, fold(a), q, n, total);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512dq"))) static uint64_t
hash64_avx512(uint64_t acc, const void *p, size_t n)
{
    const uint8_t *q = p;
    size_t total = n;
    const __m512i k = _mm512_loadu_si512(key);
    const __m512i step = _mm512_set_epi64((int64_t)(7 * P3), (int64_t)(6 * P3), (int64_t)(5 * P3),
                                          (int64_t)(4 * P3), (int64_t)(3 * P3), (int64_t)(2 * P3),
                                          (int64_t)P3, 0);
    __m512i va = _mm512_xor_si512(_mm512_add_epi64(_mm512_set1_epi64((int64_t)acc), step), k);
    for (; n >= 64; q += 64, n -= 64) {
        __m512i v = _mm512_loadu_si512(q);
        __m512i x = _mm512_xor_si512(v, k);
        va = _mm512_add_epi64(va, _mm512_mul_epu32(x, _mm512_srli_epi64(x, 32)));
        va = _mm512_add_epi64(va, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
    }
    __m512i t = _mm512_xor_si512(va, _mm512_srli_epi64(va, 29));
    t = _mm512_mullo_epi64(t, _mm512_loadu_si512(odd));
    /* summed with the unsigned adds (GCC's _mm512_reduce_add_epi64 adds signed words:
     * undefined on overflow, and UBSan says so) */
    __m256i s4 = _mm256_add_epi64(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
    uint64_t sum = (uint64_t)_mm_cvtsi128_si64(s2) + (uint64_t)_mm_extract_epi64(s2, 1);
    return finish(acc, sum, q, n, total);
}

__attribute__((target("avx2"))) static uint64_t hash64_avx2(uint64_t acc, const void *p,
                                                            size_t n)
{
    const uint8_t *q = p;
    size_t total = n;
    uint64_t a[8];
    lanes_init(a, acc);
    __m256i lo = _mm256_loadu_si256((const __m256i *)a);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(a + 4));
    __m256i klo = _mm256_loadu_si256((const __m256i *)key);
    __m256i khi = _mm256_loadu_si256((const __m256i *)(key + 4));
    for (; n >= 64; q += 64, n -= 64) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)q);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 32));
        __m256i x0 = _mm256_xor_si256(v0, klo), x1 = _mm256_xor_si256(v1, khi);
        lo = _mm256_add_epi64(lo, _mm256_mul_epu32(x0, _mm256_srli_epi64(x0, 32)));
        hi = _mm256_add_epi64(hi, _mm256_mul_epu32(x1, _mm256_srli_epi64(x1, 32)));
        lo = _mm256_add_epi64(lo, _mm256_shuffle_epi32(v0, _MM_SHUFFLE(1, 0, 3, 2)));
        hi = _mm256_add_epi64(hi, _mm256_shuffle_epi32(v1, _MM_SHUFFLE(1, 0, 3, 2)));
    }
    _mm256_storeu_si256((__m256i *)a, lo);
    _mm256_storeu_si256((__m256i *)(a + 4), hi);
    return finish(acc, fold(a), q, n, total);
}

static int cpu_path(void)
{
    static int have = -1; /* benign race: every thread computes the same answer */
    if (have < 0)
        have = __builtin_cpu_supports("avx512dq") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    return have;
}

/* path: one the CPU has (inputs shorter than a block have no lanes to vectorise) */
static uint64_t dispatch(int path, uint64_t acc, const void *p, size_t n)
{
    if (n < 64)
        return vs__hash64_portable(acc, p, n);
    return path == 2 ? hash64_avx512(acc, p, n)
           : path    ? hash64_avx2(acc, p, n)
                     : vs__hash64_portable(acc, p, n);
}
#else
static int cpu_path(void) { return 0; }

static uint64_t dispatch(int path, uint64_t acc, const void *p, size_t n)
{
    (void)path;
    return vs__hash64_portable(acc, p, n);
}
#endif

uint64_t vs__hash64_path(int path, uint64_t acc, const void *p, size_t n)
{
    return dispatch(path > cpu_path() ? 0 : path, acc, p, n);
}

uint64_t vs__hash64(uint64_t acc, const void *p, size_t n)
{
    return dispatch(cpu_path(), acc, p, n);
}
