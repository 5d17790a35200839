/* Simulation engine: a virtual clock in nanoseconds, an event queue ordered by
 * (virtual time, sequence number), and a seeded PRNG with named streams.
 *
 * Determinism (DESIGN.md): one thread, no real clock. Two events scheduled for the same
 * instant run in the order they were scheduled (FIFO by sequence number). Random
 * numbers come from named streams derived from (run seed, name), so drawing from one
 * stream never shifts another; a component asks for its stream once and keeps the
 * pointer.
 *
 * Steady state allocates nothing per event: event records come from a pool that grows
 * (doubling) only when more events are pending at once than ever before. */
#ifndef VIRTIOSIM_SIM_H
#define VIRTIOSIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"

/* ---------------------------------------------------------------- PRNG */

/* xoshiro256** state. Plain value: may live on the stack or inside another struct. */
typedef struct vs_rng {
    uint64_t s[4];
} vs_rng;

/* Seeds r for stream `name` of run `seed`: the state is filled by splitmix64 from the
 * seed mixed with the 64-bit FNV-1a hash of the name (NULL = ""). Pure function of
 * (seed, name). */
void vs_rng_init(vs_rng *r, uint64_t seed, const char *name);
uint64_t vs_rng_u64(vs_rng *r);
/* Uniform in [0, n), unbiased (Lemire's multiply + rejection). n == 0 returns 0. */
uint64_t vs_rng_below(vs_rng *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive); lo > hi returns lo. */
uint64_t vs_rng_range(vs_rng *r, uint64_t lo, uint64_t hi);
/* Uniform in [0, 1) with 53 random bits. */
double vs_rng_double(vs_rng *r);
/* Exponentially distributed with the given mean (>= 0), by the ziggurat method. Uses only
 * IEEE basic arithmetic (own logarithm and exponential, no libm), so results are
 * bit-identical on any IEEE-754 machine. */
double vs_rng_exp(vs_rng *r, double mean);

/* 64-bit FNV-1a of a NUL-terminated string (exposed for tests and other hashing). */
uint64_t vs_fnv1a64(const char *s);

/* ---------------------------------------------------------------- engine */

typedef struct vs_engine vs_engine;

/* An event callback. It may schedule and cancel events (including itself while it
 * runs — a no-op, it already left the queue). */
typedef void (*vs_engine_fn)(void *arg);
/* Predicate for vs_engine_run_while: keep running while it returns true. */
typedef bool (*vs_engine_pred)(void *arg);

/* Handle of a scheduled event: > 0 valid, 0 "none", < 0 a negative VS_E* from the call
 * that tried to schedule it. Handles are never reused while the engine lives (a
 * generation count is part of the handle), so cancelling a stale handle is harmless. */
typedef int64_t vs_timer;

int vs_engine_create(vs_engine **out, uint64_t seed, vs_err *e);
/* Frees the engine, its pending events (without running them) and its named streams.
 * Pointers returned by vs_engine_rng become invalid. */
void vs_engine_destroy(vs_engine *eng);

uint64_t vs_engine_seed(const vs_engine *eng);
uint64_t vs_engine_now(const vs_engine *eng);

/* Schedules fn(arg) at absolute time t (t >= now, else -VS_EINVAL; t == now runs after
 * everything already scheduled for now). Returns the handle or a negative code. */
vs_timer vs_engine_at(vs_engine *eng, uint64_t t, vs_engine_fn fn, void *arg);
/* Schedules at now + dt (-VS_ERANGE if that overflows). */
vs_timer vs_engine_after(vs_engine *eng, uint64_t dt, vs_engine_fn fn, void *arg);
/* Removes a pending event. Returns true if it was pending (and now never runs), false
 * for 0, stale, already-run or already-cancelled handles. */
bool vs_engine_cancel(vs_engine *eng, vs_timer h);
bool vs_engine_pending(const vs_engine *eng, vs_timer h);

/* No events pending. */
bool vs_engine_idle(const vs_engine *eng);
/* Number of pending events. */
uint64_t vs_engine_queued(const vs_engine *eng);
/* Time of the earliest pending event; false when idle. */
bool vs_engine_next_time(const vs_engine *eng, uint64_t *t);
/* Total events run since creation. */
uint64_t vs_engine_events_run(const vs_engine *eng);

/* Runs the earliest event (advancing the clock to its time). Returns 1 if one ran, 0 if
 * the engine was idle. */
int vs_engine_step(vs_engine *eng);

/* Runs every event with time <= t_limit, then sets the clock to t_limit (also when the
 * engine runs dry earlier: the caller asked for time to pass). t_limit < now is a no-op.
 * Returns the number of events run. */
uint64_t vs_engine_run_until(vs_engine *eng, uint64_t t_limit);

enum vs_run_stop {
    VS_RUN_PRED = 0,   /* pred returned false (checked before every event); clock unchanged */
    VS_RUN_LIMIT = 1,  /* next event is after t_limit; clock set to t_limit */
    VS_RUN_IDLE = 2,   /* no events left (before t_limit); clock stays at the last event */
};

/* Runs events one at a time while pred(arg) is true and the next event's time is
 * <= t_limit. pred is evaluated before each event (so a false predicate runs nothing).
 * Returns why it stopped (enum vs_run_stop); *ran (optional) gets the count. */
int vs_engine_run_while(vs_engine *eng, vs_engine_pred pred, void *arg, uint64_t t_limit,
                        uint64_t *ran);

/* Named stream of this run: the same (engine seed, name) always yields the same
 * sequence, independent of any other stream's use. The first call for a name creates
 * the stream (allocates); later calls return the same pointer, valid until
 * vs_engine_destroy. NULL only if allocation fails or name is NULL. */
vs_rng *vs_engine_rng(vs_engine *eng, const char *name);

#endif
