/* The runner's insides, shared by the core's steps (sim/steps.c), the back-ends
 * (sim/backends.c) and the devices' steps and presentations (sim/dev/<name>/): the state
 * of one scenario run and the helpers that turn what a step saw into a verdict (private to
 * virtiosim; layer 4). */
#ifndef VS_RUNNER_INT_H
#define VS_RUNNER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/scenario_int.h"
#include "sim/sim_dev.h"
#include "virtiosim/conformance.h"
#include "virtiosim/driver.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/runner.h"
#include "virtiosim/sim.h"
#include "virtiosim/trace.h"
#include "virtiosim/transport_pci.h"
#include "virtiosim/vhost_frontend.h"

/* Virtual-time budget for one step on the in-process back-end: generous, because a
 * workload of 70,000 requests legitimately takes virtual seconds. */
#define VS_RUN_STEP_TIMEOUT_NS (600ull * 1000000000ull)

struct vs_backend;

typedef struct vs_run_ctx {
    const vs_scenario *s;
    const vs_sim_dev *sd;       /* the scenario's device */
    const struct vs_backend *be;
    const vs_run_opts *o;
    vs_scenario_result *r;
    vs_gmem *gm;
    vs_engine *eng;
    vs_device *dev;
    vs_transport *t;
    vs_driver *d;
    vs_event_bus bus;
    vs_trace *trace;
    bool chrome_open;           /* the run's process is open in o->chrome */
    vs_monitors *mon;
    bool real;                  /* a real back-end: wall-clock time, no engine events */
    bool external;              /* a back-end someone else runs: its disk is not fresh */
    bool pci;                   /* the ref device behind the virtio-pci function model */
    bool qemu_reuse;            /* QEMU may come from, and go back to, the parked slot
                                   (virtiosim/qemu.h, "Reusing QEMU") */
    uint64_t wall0;
    vs_qsd *qsd;                /* --backend qsd: the daemon we started (its teardown
                                   stops it) */
    void *be_state;             /* the device's state for a real back-end (its teardown) */
    vs_pci_findings *pci_f;     /* PCI transport: what the probe found */
    unsigned step;
    char step_desc[96];
    /* progress */
    uint64_t done, total;
    uint64_t last_progress_wall;
} vs_run_ctx;

uint64_t vs_run_wall_ns(void);
uint64_t vs_run_now(void *ctx);   /* the run's clock (virtual, or wall since the start) */
/* Records an unmet expectation of the current step; returns 1 (the step failed). */
int vs_run_expect_failed(vs_run_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vs_run_expect_ok(vs_run_ctx *c, const char *what);
/* A driver call failed: a conformance-relevant failure of the device is a step failure
 * (1), a dead back-end an infrastructure error (rc). */
int vs_run_driver_error(vs_run_ctx *c, int rc, const vs_err *e);
/* One run's context without its steps (sim/runner.c: what vs_run_scenario builds before
 * the steps and tears down after them; the campaign drives the device itself). open: 0
 * built, 1 the scenario does not apply (r says why), < 0 error (nothing left built). */
int vs__run_open(vs_run_ctx *c, const vs_scenario *s, const vs_run_opts *o,
                 vs_scenario_result *r, vs_err *e);
void vs__run_close(vs_run_ctx *c);
/* One request of the device completed (counts it, draws the progress line). */
void vs_run_request_done(vs_run_ctx *c);

#endif
