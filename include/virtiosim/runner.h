/* The runner: replays one scenario against a back-end with the conformance monitors
 * attached, and says what happened. The CLI, the suites and the tests all go through it.
 *
 * A scenario fails when a step's expectation is not met (the step is named in the
 * message) or when a monitor saw a conformance violation; it is an error (not a
 * failure) when the back-end could not run it at all. A violation of a device-level check
 * (vs_check_info.device_level: what the device offers and presents) stays in the
 * scenario's results but does not fail it: it is the run's device finding, which the CLI
 * reports once and counts in its exit code. */
#ifndef VIRTIOSIM_RUNNER_H
#define VIRTIOSIM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtiosim/conformance.h"
#include "virtiosim/error.h"
#include "virtiosim/report.h"
#include "virtiosim/scenario.h"

/* A deliberately broken device (proves checks can fire). */
typedef struct vs_mutant {
    const char *name;          /* "used-len-too-long" */
    const char *what;          /* one line */
    uint32_t ring_mutations;   /* enum vs_vq_mutation */
    uint32_t dev_mutations;    /* the device's mutation bits (its options map them) */
    uint32_t ref_mutations;    /* enum vs_ref_mutation */
    const char *const *fails;  /* statement ids that must fail, NULL-terminated */
    const char *const *checks; /* checks that must see a violation, NULL-terminated */
    const char *const *scenarios; /* scenario files (from the source tree's root) that
                                     provoke it, NULL-terminated */
    uint32_t pci_mutations;    /* enum vs_pci_mutation: runs behind the PCI transport */
    const char *const *also;   /* statements that may fail too, as consequences (e.g. the
                                  other statements of the same check), NULL-terminated */
    uint32_t dev_mutation_value; /* one numbered bug of the device (e.g. blk's zoned
                                    mutations), 0: none */
    /* A driver mutant breaks the simulator's driver instead (its runs judge the driver
     * role too): enum vs_drv_mutation (virtiosim/driver.h) and the device personality's
     * own driver bugs (vs_driver_opts.dev_mutations). */
    uint64_t drv_mutations;
    uint32_t drv_dev_mutations;
    /* the virtio-pci driver's own bugs (enum vs_pci_drv_mutation, transport_pci.h): runs
     * behind the PCI model */
    uint32_t pci_drv_mutations;
} vs_mutant;

/* Is it a driver mutant (one whose runs judge the driver role)? */
static inline bool vs_mutant_is_driver(const vs_mutant *m)
{
    return m && (m->drv_mutations || m->drv_dev_mutations || m->pci_drv_mutations);
}

size_t vs_mutant_count(void);
const vs_mutant *vs_mutant_at(size_t i);
const vs_mutant *vs_mutant_find(const char *name);

typedef struct vs_run_opts {
    const char *backend;       /* "ref" (default), "pci", "qemu", "qsd", "vhost-user:SOCK",
                                  "qemu-vhost-user:SOCK" (sim/backends.c) */
    const char *qemu_path;     /* --qemu PATH (NULL: $VIRTIOSIM_QEMU, then PATH) */
    const char *kernel;        /* --backend guest: --kernel DIR, a guest image (vmlinux,
                                  initramfs.cpio, release; guest-image/build.sh) (NULL:
                                  $VIRTIOSIM_KERNEL, then build/guest/linux-6.1) */
    bool qemu_same_cpu;        /* vs_qemu_backend_opts.same_cpu (the CLI's default with
                                  --backend qemu; --qemu-any-cpu turns it off) */
    bool qemu_reuse;           /* --backend qemu: one QEMU for consecutive scenarios that
                                  ask for the same one (virtiosim/qemu.h, "Reusing QEMU";
                                  the CLI's default, --qemu-fresh turns it off) */
    bool pci;                  /* --transport pci: the ref device behind the in-process
                                  virtio-pci function model */
    bool seed_set;
    uint64_t seed;             /* overrides the scenario's seed when seed_set */
    FILE *trace;               /* JSON Lines trace of every event, or NULL */
    int trace_format;          /* enum vs_trace_file_format of trace (0: JSON Lines) */
    struct vs_chrome_trace *chrome; /* the same as Chrome Trace Event JSON, or NULL
                                  (virtiosim/trace.h) */
    const vs_mutant *mutant;   /* NULL in production */
    bool judge_driver;         /* the monitors judge the driver role too (the simulator's
                                  own driver: driver mutants and their baseline) */
    bool progress;             /* progress line on stderr for long workloads */
    bool verbose;              /* step-by-step lines on stderr */
    bool bare;                 /* no monitors, trace or timeline (benchmarks only) */
    bool no_trace;             /* monitors and timeline but no trace or digest (benchmarks:
                                  times the monitors alone) */
    const volatile int *stop;  /* set by a signal handler: end the scenario early */
    int notify;                /* --notify: 0 the scenario's notify path, else 1 +
                                  enum vs_notify_path (in-process back-ends) */
    int answer_timeout_ms;     /* a real back-end that does not answer one access (a qtest
                                  step, a vhost-user message) within this is hung; 0: the
                                  transport's default */
    const struct vs_profile *profile; /* --device-profile: what the device under test is
                                  meant to be (NULL: none) */
} vs_run_opts;

struct vs_scenario_result;

/* A device profile (`--device-profile FILE`, YAML: `device: KIND` and the device's keys,
 * e.g. blk's capacity, logical_block_size, read_only, queues, features, zoned). Errors
 * name file:line:column. */
typedef struct vs_profile vs_profile;
int vs_profile_load(const char *path, vs_profile **out, vs_err *e);
void vs_profile_free(vs_profile *p);
const char *vs_profile_path(const vs_profile *p);
/* What the back-end o->backend presents for a device kind (NULL: the default device),
 * written as a profile to f. */
int vs_profile_probe(const vs_run_opts *o, const char *kind, FILE *f, vs_err *e);
/* The run's `device-profile` result: o->profile against what the back-end presents (pass:
 * they agree; fail: r->message names every difference). *s_out is the scenario the row
 * stands for (the caller frees it). */
int vs_profile_check(const vs_run_opts *o, vs_scenario **s_out, struct vs_scenario_result *r,
                     vs_err *e);


#define VS_RUN_CONFIG_MAX 256u

typedef struct vs_scenario_result {
    char name[64];
    char path[256];
    uint64_t seed;
    enum vs_scn_verdict verdict;  /* report.h */
    char message[1024];        /* why it failed / errored, "" when passed */
    int failed_step;           /* index of the failing step, -1 none */
    char failed_step_desc[96];
    unsigned steps_run;
    uint64_t virtual_ns;
    uint64_t wall_ns;
    uint64_t negotiated;       /* feature bits */
    uint64_t requests;         /* device requests completed */
    uint32_t device_id;        /* the scenario's device (enum vs_device_id) */
    char digest[65];           /* SHA-256 of the trace, hex */
    char backend_version[96];  /* "QEMU emulator version 7.2.x", ... */
    vs_results *conformance;   /* owned; NULL when the scenario did not run */
    /* What the device presented (the reports' identity section): the features it offered
     * as last read, and each config byte as last read (config_known[off]). */
    uint64_t offered;
    bool real_backend;         /* times are wall-clock, not virtual */
    uint8_t config[VS_RUN_CONFIG_MAX];
    bool config_known[VS_RUN_CONFIG_MAX];
    vs_timeline *timeline;     /* owned; may be NULL */
} vs_scenario_result;

int vs_run_scenario(const vs_scenario *s, const vs_run_opts *o, vs_scenario_result *r,
                    vs_err *e);
void vs_scenario_result_clear(vs_scenario_result *r);

#endif
