/* Virtual-clock event engine: a binary min-heap of pool slots ordered by (time, seq).
 * Cancelling is lazy: the slot is marked and its heap entry dropped when it reaches the
 * top, so sifting never has to track where each slot sits (cancels are rare; the top of
 * the heap is always a live event). */
#include "virtiosim/sim.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_NONE UINT32_MAX

/* A heap entry carries its own ordering key, so sifting compares without touching the
 * slots; sixteen bytes, four to a cache line. */
#define SLOT_BITS 24
#define SLOT_MAX (UINT32_C(1) << SLOT_BITS)
#define SEQ_MAX (UINT64_C(1) << (64 - SLOT_BITS))
typedef struct heap_ent {
    uint64_t t;
    uint64_t key; /* seq << SLOT_BITS | slot: seq is unique, so it alone orders equal t */
} heap_ent;

typedef struct ev_slot {
    uint64_t t;
    vs_engine_fn fn;    /* NULL: free, or cancelled and still in the heap */
    void *arg;
    uint32_t gen;       /* bumped on cancel and release: stale handles never match */
    uint32_t next_free;
} ev_slot;

typedef struct rng_stream {
    struct rng_stream *next;
    uint64_t hash;
    vs_rng rng;
    char name[];
} rng_stream;

struct vs_engine {
    uint64_t now;
    uint64_t seq;
    uint64_t seed;
    uint64_t events_run;
    ev_slot *slots;
    heap_ent *heap;      /* keys + slot indices */
    uint32_t cap;        /* slots allocated (== heap capacity) */
    uint32_t n;          /* heap size (live and cancelled entries) */
    uint32_t live;       /* events pending */
    uint32_t free_head;
    rng_stream *streams;
};

int vs_engine_create(vs_engine **out, uint64_t seed, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "engine: NULL out");
    vs_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return vs_err_set(e, VS_ENOMEM, "engine: out of memory");
    eng->seed = seed;
    eng->free_head = SLOT_NONE;
    *out = eng;
    return 0;
}

void vs_engine_destroy(vs_engine *eng)
{
    if (!eng)
        return;
    free(eng->slots);
    free(eng->heap);
    rng_stream *s = eng->streams;
    while (s) {
        rng_stream *nx = s->next;
        free(s);
        s = nx;
    }
    free(eng);
}

uint64_t vs_engine_seed(const vs_engine *eng) { return eng->seed; }
uint64_t vs_engine_now(const vs_engine *eng) { return eng->now; }
bool vs_engine_idle(const vs_engine *eng) { return eng->n == 0; }
uint64_t vs_engine_queued(const vs_engine *eng) { return eng->live; }
uint64_t vs_engine_events_run(const vs_engine *eng) { return eng->events_run; }

bool vs_engine_next_time(const vs_engine *eng, uint64_t *t)
{
    if (eng->n == 0)
        return false;
    if (t)
        *t = eng->heap[0].t;
    return true;
}

/* ------------------------------------------------------------------ heap */

static inline bool before(const heap_ent *x, const heap_ent *y)
{
    return x->t < y->t || (x->t == y->t && x->key < y->key);
}

static inline uint32_t ent_slot(const heap_ent *x)
{
    return (uint32_t)(x->key & (SLOT_MAX - 1));
}

/* Places v at pos or above. */
static void sift_up(vs_engine *eng, uint32_t pos, heap_ent v)
{
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!before(&v, &eng->heap[parent]))
            break;
        eng->heap[pos] = eng->heap[parent];
        pos = parent;
    }
    eng->heap[pos] = v;
}

/* Removes the top. */
static void heap_pop(vs_engine *eng)
{
    heap_ent v = eng->heap[--eng->n];
    uint32_t n = eng->n, pos = 0;
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&eng->heap[c + 1], &eng->heap[c]))
            c++;
        if (!before(&eng->heap[c], &v))
            break;
        eng->heap[pos] = eng->heap[c];
        pos = c;
    }
    eng->heap[pos] = v;
}

/* ------------------------------------------------------------------ pool */

static int grow(vs_engine *eng)
{
    uint32_t ncap = eng->cap ? eng->cap * 2 : 64;
    if (ncap <= eng->cap || ncap > SLOT_MAX)
        return -VS_ENOMEM;
    ev_slot *s = realloc(eng->slots, (size_t)ncap * sizeof *s);
    if (!s)
        return -VS_ENOMEM;
    eng->slots = s;
    heap_ent *h = realloc(eng->heap, (size_t)ncap * sizeof *h);
    if (!h)
        return -VS_ENOMEM;
    eng->heap = h;
    /* Push new slots on the free list so the lowest index is handed out first. */
    for (uint32_t i = ncap; i-- > eng->cap;) {
        s[i].fn = NULL;
        s[i].gen = 1;
        s[i].next_free = eng->free_head;
        eng->free_head = i;
    }
    eng->cap = ncap;
    return 0;
}

static inline vs_timer make_handle(uint32_t slot, uint32_t gen)
{
    return (vs_timer)(((uint64_t)(gen & 0x7fffffffu) << 32) | ((uint64_t)slot + 1));
}

static inline bool decode_handle(const vs_engine *eng, vs_timer h, uint32_t *slot)
{
    if (h <= 0)
        return false;
    uint64_t u = (uint64_t)h;
    uint64_t idx = (u & 0xffffffffu);
    if (idx == 0 || idx > eng->cap)
        return false;
    uint32_t i = (uint32_t)(idx - 1);
    const ev_slot *s = &eng->slots[i];
    if (!s->fn || (s->gen & 0x7fffffffu) != (uint32_t)(u >> 32))
        return false;
    *slot = i;
    return true;
}

static void bump_gen(ev_slot *s)
{
    s->gen = (s->gen + 1) & 0x7fffffffu;
    if (s->gen == 0)
        s->gen = 1;
}

static void release(vs_engine *eng, uint32_t i)
{
    ev_slot *s = &eng->slots[i];
    bump_gen(s);
    s->fn = NULL;
    s->arg = NULL;
    s->next_free = eng->free_head;
    eng->free_head = i;
}

/* Drops cancelled entries from the top, so the top is live or the heap empty. */
static void purge_top(vs_engine *eng)
{
    while (eng->n > 0 && !eng->slots[ent_slot(&eng->heap[0])].fn) {
        uint32_t i = ent_slot(&eng->heap[0]);
        heap_pop(eng);
        release(eng, i);
    }
}

vs_timer vs_engine_at(vs_engine *eng, uint64_t t, vs_engine_fn fn, void *arg)
{
    if (!eng || !fn || t < eng->now)
        return -VS_EINVAL;
    if (eng->seq >= SEQ_MAX) /* 2^40 events: days of simulation */
        return -VS_ERANGE;
    if (eng->free_head == SLOT_NONE) {
        int rc = grow(eng);
        if (rc < 0)
            return rc;
    }
    uint32_t i = eng->free_head;
    ev_slot *s = &eng->slots[i];
    eng->free_head = s->next_free;
    s->t = t;
    s->fn = fn;
    s->arg = arg;
    s->next_free = SLOT_NONE;
    heap_ent v = {.t = t, .key = eng->seq++ << SLOT_BITS | i};
    eng->n++;
    eng->live++;
    sift_up(eng, eng->n - 1, v);
    return make_handle(i, s->gen);
}

vs_timer vs_engine_after(vs_engine *eng, uint64_t dt, vs_engine_fn fn, void *arg)
{
    if (!eng)
        return -VS_EINVAL;
    if (dt > UINT64_MAX - eng->now)
        return -VS_ERANGE;
    return vs_engine_at(eng, eng->now + dt, fn, arg);
}

bool vs_engine_cancel(vs_engine *eng, vs_timer h)
{
    uint32_t i;
    if (!eng || !decode_handle(eng, h, &i))
        return false;
    ev_slot *s = &eng->slots[i];
    s->fn = NULL; /* its entry leaves the heap when it reaches the top */
    s->arg = NULL;
    bump_gen(s);
    eng->live--;
    purge_top(eng);
    return true;
}

bool vs_engine_pending(const vs_engine *eng, vs_timer h)
{
    uint32_t i;
    return eng && decode_handle(eng, h, &i);
}

/* ------------------------------------------------------------------ running */

static void run_top(vs_engine *eng)
{
    uint32_t i = ent_slot(&eng->heap[0]);
    ev_slot *s = &eng->slots[i];
    vs_engine_fn fn = s->fn;
    void *arg = s->arg;
    eng->now = s->t;
    heap_pop(eng);
    release(eng, i); /* before the call: fn may schedule (and reuse this slot) */
    eng->live--;
    purge_top(eng);
    eng->events_run++;
    fn(arg);
}

int vs_engine_step(vs_engine *eng)
{
    if (!eng || eng->n == 0)
        return 0;
    run_top(eng);
    return 1;
}

uint64_t vs_engine_run_until(vs_engine *eng, uint64_t t_limit)
{
    uint64_t ran = 0;
    if (!eng || t_limit < eng->now)
        return 0;
    while (eng->n > 0 && eng->heap[0].t <= t_limit) {
        run_top(eng);
        ran++;
    }
    eng->now = t_limit;
    return ran;
}

int vs_engine_run_while(vs_engine *eng, vs_engine_pred pred, void *arg, uint64_t t_limit,
                        uint64_t *ran)
{
    uint64_t n = 0;
    int why;
    for (;;) {
        if (pred && !pred(arg)) {
            why = VS_RUN_PRED;
            break;
        }
        if (eng->n == 0) {
            why = VS_RUN_IDLE;
            break;
        }
        if (eng->heap[0].t > t_limit) {
            if (t_limit > eng->now)
                eng->now = t_limit;
            why = VS_RUN_LIMIT;
            break;
        }
        run_top(eng);
        n++;
    }
    if (ran)
        *ran = n;
    return why;
}

/* ------------------------------------------------------------------ named streams */

vs_rng *vs_engine_rng(vs_engine *eng, const char *name)
{
    if (!eng || !name)
        return NULL;
    uint64_t h = vs_fnv1a64(name);
    for (rng_stream *s = eng->streams; s; s = s->next)
        if (s->hash == h && strcmp(s->name, name) == 0)
            return &s->rng;
    size_t len = strlen(name);
    rng_stream *s = malloc(sizeof *s + len + 1);
    if (!s)
        return NULL;
    memcpy(s->name, name, len + 1);
    s->hash = h;
    vs_rng_init(&s->rng, eng->seed, name);
    s->next = eng->streams;
    eng->streams = s;
    return &s->rng;
}
