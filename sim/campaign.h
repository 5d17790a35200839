/* Hostile-input campaigns (private to virtiosim; layer 4): seeded inputs that break one
 * driver-role rule each, fed to a back-end with a health probe after every input.
 *
 * An input is a class and up to VS_CAMP_NPARAM knobs drawn from (seed, index) alone, so
 * `campaign --replay SEED:INDEX` rebuilds it byte for byte. A knob at 0 is its most benign
 * value: the minimiser sets knobs to 0 (or halves them) while the finding persists, so a
 * minimised input is the one with the fewest and smallest knobs that still shows it.
 *
 * The core's classes (sim/campaign_classes.c: descriptors, rings, indirect tables, packed
 * wrap counters, lifecycle) know no device: they build chains around the device's
 * simplest request (its personality's fault_shape). A device adds its own request abuse
 * through its vs_sim_dev table's `campaign` (blk: sim/dev/blk/blk_campaign.c). */
#ifndef VS_CAMPAIGN_H
#define VS_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/driver.h"
#include "virtiosim/error.h"
#include "virtiosim/sim.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define VS_CAMP_NPARAM 6

/* What one input did to the back-end, judged by the health probe after it. */
enum vs_camp_verdict {
    VS_CAMP_SURVIVED = 0,   /* used or rejected the input, the probe completed */
    VS_CAMP_NEEDS_RESET,    /* signalled DEVICE_NEEDS_RESET (or hung up), recovered after reset */
    VS_CAMP_WEDGED,         /* stopped serving and did not recover after a reset */
    VS_CAMP_CRASHED,        /* the back-end process died */
    VS_CAMP_HUNG,           /* no answer within the limit */
    VS_CAMP_NVERDICT
};
const char *vs_camp_verdict_name(enum vs_camp_verdict v);
#define VS_CAMP_SAFE_DEFAULT ((1u << VS_CAMP_SURVIVED) | (1u << VS_CAMP_NEEDS_RESET))

/* How the input's chain ended, beside the verdict (a finding when the class says so). */
enum vs_camp_fate {
    VS_CAMP_FATE_NONE = 0,  /* no chain (ring or lifecycle abuse) */
    VS_CAMP_FATE_USED,      /* the device returned it */
    VS_CAMP_FATE_REJECTED,  /* DEVICE_NEEDS_RESET, a broken queue or a hang-up */
    VS_CAMP_FATE_DROPPED,   /* neither: never returned, nothing signalled */
    VS_CAMP_FATE_STALLED,   /* the device stopped serving without DEVICE_NEEDS_RESET (a
                               reset brought it back) */
    VS_CAMP_FATE_MISANSWERED, /* no chain; the device answered a register access against
                                 the class's device statement (env->wrong says how) */
    VS_CAMP_NFATE
};
const char *vs_camp_fate_name(enum vs_camp_fate f);

enum vs_camp_class_flags {
    VS_CAMP_F_SPLIT = 1u << 0,        /* applies to split rings */
    VS_CAMP_F_PACKED = 1u << 1,       /* ... packed rings (both: p[0] bit 0 picks) */
    VS_CAMP_F_DIRTY = 1u << 2,        /* writes ring memory behind the driver: reset after */
    VS_CAMP_F_RESET_PROBE = 1u << 3,  /* the device may stop (lifecycle abuse): always reset
                                         before the probe */
    VS_CAMP_F_DROP_OK = 1u << 4,      /* a chain neither used nor rejected is fine */
    VS_CAMP_F_MUST_USE = 1u << 6,     /* a legal input: only "used" is safe */
};

struct vs_camp_class;

typedef struct vs_camp_input {
    const struct vs_camp_class *cls;
    uint64_t seed, index;
    vs_ring_format ring;
    uint64_t p[VS_CAMP_NPARAM];
} vs_camp_input;

/* What a class's apply works with: the session's driver, already initialised (DRIVER_OK,
 * queue 0 set up, nothing outstanding). */
typedef struct vs_camp_env {
    vs_driver *d;
    vs_transport *t;
    vs_gmem *gm;
    vs_ring_format ring;
    uint32_t qsize;
    uint64_t features;          /* negotiated */
    /* set by apply */
    int chain;                  /* >= 0: the chain it made available (awaited) */
    bool dirty;                 /* ring memory written behind the driver's back */
    bool relax;                 /* the device may stop serving: reset before the probe */
    char wrong[200];            /* the device's answer broke the class's device statement
                                   (fate misanswered, always a finding) */
} vs_camp_env;

typedef struct vs_camp_class {
    const char *name;           /* "desc-next-out-of-range" */
    const char *statement;      /* catalogue id of the rule it breaks ("-": none, see violates) */
    const char *violates;       /* one line: the rule, in our words */
    const char *safe_text;      /* one line: which outcomes are safe */
    unsigned flags;             /* enum vs_camp_class_flags */
    unsigned safe;              /* mask of 1u << enum vs_camp_verdict */
    const char *knobs;          /* names of p[], comma-separated, for descriptions */
    void (*generate)(vs_rng *r, vs_camp_input *in);
    /* Feeds the input to the device. 0 done; < 0 error (-VS_ENOTSUP: the input does not
     * apply to this device or back-end, counted as skipped; a dead back-end's error is
     * the back-end's). */
    int (*apply)(vs_camp_env *env, const vs_camp_input *in, vs_err *e);
} vs_camp_class;

/* A device's classes (its vs_sim_dev `campaign`). */
typedef struct vs_camp_set {
    const vs_camp_class *const *classes;
    size_t n;
} vs_camp_set;

extern const vs_camp_set vs_camp_core_classes;

/* Helpers for classes (sim/campaign_classes.c). */
/* Queue 0's chain of n descriptors around the device's simplest request: descs may name
 * VS_CAMP_HDR / VS_CAMP_STATUS / VS_CAMP_SCRATCH(+off) as addresses (resolved here). */
#define VS_CAMP_HDR UINT64_C(0xfffffff000000001)
#define VS_CAMP_STATUS UINT64_C(0xfffffff000000002)
#define VS_CAMP_SCRATCH UINT64_C(0xfffffff100000000) /* + offset, < 4 KiB */
#define VS_CAMP_UNMAPPED UINT64_C(0xfffffff000000003)
#define VS_CAMP_SCRATCH_LEN 4096u
typedef struct vs_camp_table {  /* an indirect table written into the scratch area */
    uint32_t off;               /* offset in scratch */
    unsigned n;
    vs_desc d[16];
} vs_camp_table;
int vs_camp_submit(vs_camp_env *env, vs_desc *ds, unsigned n, const vs_camp_table *tables,
                   unsigned ntables, const void *scratch_data, uint32_t scratch_data_len,
                   vs_err *e);

/* ------------------------------------------------------------------ the engine */

typedef struct vs_campaign vs_campaign;

typedef struct vs_campaign_opts {
    const char *backend;        /* --backend value */
    const char *qemu_path;
    bool qemu_any_cpu;          /* let QEMU run on another CPU (default: virtiosim's, which
                                   makes each qtest round trip a local wake-up) */
    const char *device;         /* device kind, NULL: the default device */
    const struct vs_mutant *mutant; /* a deliberately broken reference device, or NULL */
    uint64_t seed;
    uint64_t count;
    const char *const *classes; /* NULL-terminated names, NULL: all */
    unsigned rings;             /* VS_CAMP_F_SPLIT | VS_CAMP_F_PACKED: the rings inputs may
                                   use (0: both); a class on no allowed ring is left out */
    uint64_t observe_ns;        /* how long an input's chain may take (real back-ends) */
    uint64_t hang_ms;           /* a back-end that does not answer one access within this
                                   is hung (0: 1000) */
    bool minimise;              /* minimise findings (default on) */
    uint64_t max_deaths;        /* once the back-end died (crashed or hung) this often on one
                                   class and ring, that class's further inputs on that ring
                                   are skipped (counted as pruned); 0: never */
    bool verbose;
    const volatile int *stop;
} vs_campaign_opts;

typedef struct vs_camp_finding {
    vs_camp_input in;           /* as generated */
    vs_camp_input min;          /* minimised (== in when not minimised) */
    enum vs_camp_verdict verdict;
    enum vs_camp_fate fate;
    char what[400];             /* what happened */
} vs_camp_finding;

typedef struct vs_camp_class_stats {
    const vs_camp_class *cls;
    uint64_t inputs, skipped;
    uint64_t deaths[2], pruned; /* per ring (split, packed); inputs skipped for max_deaths */
    uint64_t verdict[VS_CAMP_NVERDICT];
    uint64_t fate[VS_CAMP_NFATE];
    uint64_t findings;
} vs_camp_class_stats;

int vs_campaign_create(vs_campaign **out, const vs_campaign_opts *o, vs_err *e);
void vs_campaign_destroy(vs_campaign *c);
/* The classes this campaign draws from (core + device, filtered by --class). */
size_t vs_campaign_nclasses(const vs_campaign *c);
const vs_camp_class_stats *vs_campaign_stats(const vs_campaign *c, size_t i);
/* Input `index` of the seed (deterministic). */
void vs_campaign_input(const vs_campaign *c, uint64_t seed, uint64_t index, vs_camp_input *in);
/* Runs one input and its probe. 0: verdict / fate / what filled; < 0: infrastructure
 * error (a back-end that cannot be started at all). skipped: the class does not apply. */
int vs_campaign_run_one(vs_campaign *c, const vs_camp_input *in, enum vs_camp_verdict *v,
                        enum vs_camp_fate *fate, bool *skipped, char *what, size_t wlen,
                        vs_err *e);
/* The whole campaign: inputs 0..count-1, findings minimised. */
int vs_campaign_run(vs_campaign *c, vs_err *e);
/* Whether (verdict, fate) is a finding for the class. */
bool vs_campaign_is_finding(const vs_camp_class *cls, enum vs_camp_verdict v,
                            enum vs_camp_fate f);
size_t vs_campaign_nfindings(const vs_campaign *c);
const vs_camp_finding *vs_campaign_finding(const vs_campaign *c, size_t i);
uint64_t vs_campaign_inputs_run(const vs_campaign *c);
uint64_t vs_campaign_restarts(const vs_campaign *c);
const char *vs_campaign_backend_version(const vs_campaign *c);
/* One line describing an input: class, ring and knobs. */
void vs_campaign_describe(const vs_camp_input *in, char *buf, size_t n);
/* Every class known (core + every device), for --list. */
size_t vs_camp_all_count(void);
const vs_camp_class *vs_camp_all_at(size_t i, const char **device);

#endif
