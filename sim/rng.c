/* xoshiro256** seeded through splitmix64, with named streams (see virtiosim/sim.h).
 *
 * Everything here is integer arithmetic or IEEE-754 basic operations (+ - * /), which
 * are correctly rounded everywhere; no libm call, so vs_rng_exp gives the same bits on
 * every conforming machine (C11 with GCC/Clang: no FP contraction by default). */
#include "virtiosim/sim.h"

#include <pthread.h>
#include <string.h>


uint64_t vs_fnv1a64(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    if (s) {
        for (; *s; s++) {
            h ^= (uint8_t)*s;
            h *= UINT64_C(0x100000001b3);
        }
    }
    return h;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void vs_rng_init(vs_rng *r, uint64_t seed, const char *name)
{
    /* Two splitmix64 rounds: first scramble the seed, then mix in the name hash, so
     * (seed, name) pairs with seed1 ^ h1 == seed2 ^ h2 do not collide trivially. */
    uint64_t x = seed;
    uint64_t k = splitmix64(&x) ^ vs_fnv1a64(name);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&k);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1; /* the all-zero state is a fixed point; practically unreachable */
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t vs_rng_u64(vs_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* 64x64 -> 128 multiply, portable (no __int128 needed). */
static inline void mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    *lo = (mid << 32) | (uint32_t)p00;
}

uint64_t vs_rng_below(vs_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t hi, lo;
    mul64(vs_rng_u64(r), n, &hi, &lo);
    if (lo < n) {
        uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
        while (lo < threshold)
            mul64(vs_rng_u64(r), n, &hi, &lo);
    }
    return hi;
}

uint64_t vs_rng_range(vs_rng *r, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return vs_rng_u64(r);
    return lo + vs_rng_below(r, span + 1);
}

double vs_rng_double(vs_rng *r)
{
    return (double)(vs_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* ln 2 split into a high part with trailing zero bits and a low correction. */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10

/* Natural logarithm of x in (0, 1], from IEEE basic operations only:
 * x = m * 2^k with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| < 0.1716, series to s^41 (error far below one ulp before rounding). */
static double det_log(double x)
{
    int k = 0;
    double m = x;
    /* Normalise without frexp (keeps this file libm-free and obviously exact). */
    while (m < 0.70710678118654752440) {
        m *= 2.0;
        k--;
    }
    while (m >= 1.41421356237309504880) {
        m *= 0.5;
        k++;
    }
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double sum = 0.0;
    for (int n = 41; n >= 1; n -= 2)
        sum = sum * s2 + 1.0 / (double)n;
    return (double)k * LN2_HI + ((double)k * LN2_LO + 2.0 * s * sum);
}

/* e^-x for x >= 0 from IEEE basic operations only: x = k ln2 + t with |t| <= ln2/2, then
 * a Taylor series for e^-t (to t^18/18!, far below one ulp) scaled by 2^-k built from
 * its exponent bits. */
static double det_exp_neg(double x)
{
    if (!(x < 700.0))
        return 0.0;
    int k = (int)(x * 1.44269504088896338700 + 0.5);
    double t = ((double)k * LN2_HI - x) + (double)k * LN2_LO; /* -x + k ln2 */
    double sum = 1.0;
    for (int n = 18; n >= 1; n--)
        sum = 1.0 + sum * t / (double)n;
    uint64_t bits = (uint64_t)(1023 - k) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return sum * scale;
}

/* Exponential draws by the ziggurat method (Marsaglia and Tsang, 2000): 256 strips of
 * equal area under e^-x; about 98 % of draws are one table lookup and a multiply, the
 * rest take the wedge test or the tail (r + Exp(1)). The table is built once from
 * det_exp_neg/det_log, so it is the same on every IEEE-754 machine. */
#define ZIG_N 256
#define ZIG_R 7.69711747013104972
#define ZIG_V 3.949659822581572e-3

static double zig_x[ZIG_N + 1], zig_f[ZIG_N + 1];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_build(void)
{
    zig_x[0] = ZIG_V / det_exp_neg(ZIG_R);
    zig_x[1] = ZIG_R;
    for (int i = 1; i < ZIG_N - 1; i++)
        zig_x[i + 1] = -det_log(ZIG_V / zig_x[i] + det_exp_neg(zig_x[i]));
    zig_x[ZIG_N] = 0.0;
    for (int i = 0; i <= ZIG_N; i++)
        zig_f[i] = det_exp_neg(zig_x[i]);
}

double vs_rng_exp(vs_rng *r, double mean)
{
    if (!(mean > 0.0))
        return 0.0;
    pthread_once(&zig_once, zig_build);
    for (;;) {
        uint64_t u = vs_rng_u64(r);
        unsigned i = (unsigned)(u & (ZIG_N - 1));
        double x = (double)(u >> 11) * 0x1.0p-53 * zig_x[i];
        if (x < zig_x[i + 1])
            return x * mean;
        if (i == 0) {
            /* u in (0, 1]: never log(0). */
            double t = (double)((vs_rng_u64(r) >> 11) + 1) * 0x1.0p-53;
            return (ZIG_R - det_log(t)) * mean;
        }
        double y = zig_f[i] + vs_rng_double(r) * (zig_f[i + 1] - zig_f[i]);
        if (y < det_exp_neg(x))
            return x * mean;
    }
}
