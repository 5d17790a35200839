/* Scenario files (YAML, see scenarios/README.md) loaded into plain values. The loader
 * validates everything it can without running: a bad file is rejected with
 * "file:line:column: what was expected", and unknown keys are errors. */
#ifndef VIRTIOSIM_SCENARIO_H
#define VIRTIOSIM_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"

enum vs_backend_kind {
    VS_BACKEND_REF = 1u << 0,
    VS_BACKEND_QEMU = 1u << 1,
    VS_BACKEND_VHOST_USER = 1u << 2,
    VS_BACKEND_ALL = 0x7,           /* a scenario without applies_to: not the guest */
    VS_BACKEND_GUEST = 1u << 3,     /* a Linux guest's driver (`applies_to: [guest]`) */
};

/* A step (sim/scenario_int.h): one of the core's, or one of the scenario's device. */
typedef struct vs_step vs_step;
struct vs_sim_dev;

enum vs_scenario_dist { VS_DIST_FIXED, VS_DIST_UNIFORM, VS_DIST_EXPONENTIAL };

typedef struct vs_scenario {
    char *path;
    char *name;
    char *description;
    unsigned backends;          /* enum vs_backend_kind mask */
    bool transport_pci;         /* ref back-end: behind the virtio-pci function model */
    uint64_t seed;
    /* The device (`device: {kind: NAME, ...}`; the registry's first when no kind is
     * given) and what the scenario asks of it. */
    const struct vs_sim_dev *dev;
    uint32_t device_id;         /* enum vs_device_id */
    uint16_t num_queues;        /* device.num_queues */
    uint32_t queue_size;        /* device.queue_size: the device's maximum */
    uint64_t extra_features;    /* device-independent bits to offer (e.g. RING_RESET) */
    uint64_t withheld_features; /* device-independent bits the device does not offer */
    uint32_t config_extra;      /* device: {config_extra: N}: the in-process device's config
                                   region N bytes longer than its type's (a provocation) */
    void *dev_opts;             /* the device's own keys, owned by its step set */
    void *requires;             /* preconditions on the device under test (`requires:` and
                                   what the steps imply), the device's own object; NULL:
                                   the device has none (sim/profile_dev.h) */
    struct {
        uint64_t features;      /* accepted (the device's feature names) */
        bool packed;
        uint32_t queue_size;
        uint16_t queues;
        int interrupts;         /* enum vs_irq_mode (virtio.h) */
        bool indirect;
        bool interrupt_delay;   /* re-arm interrupts delayed (virtqueue_enable_cb_delayed) */
        bool mislead_suppression; /* test only: see vs_driver_opts */
        uint32_t fill_before_driver_ok; /* test only: see vs_driver_opts */
        uint32_t chain_layout;  /* enum vs_drv_layout (driver.h) */
        bool read_config_early; /* see vs_driver_opts */
        bool suspend_before_driver_ok; /* test only: see vs_driver_opts */
        uint32_t seg_size;
        uint32_t iodepth;
    } driver;
    struct {
        uint64_t doorbell_latency_ns, irq_latency_ns;
        enum vs_scenario_dist dist;
        uint64_t a_ns, b_ns;    /* fixed: a; uniform: [a,b]; exponential: mean a */
    } timing;
    /* transport: {notify: iothread, iothread: {...}} (in-process back-end) */
    struct {
        int notify;             /* enum vs_notify_path (transport_ref.h) */
        uint16_t threads;
        enum vs_scenario_dist dist;   /* wake-up latency, spelled like timing.service */
        uint64_t a_ns, b_ns;
        uint64_t handler_ns;    /* per chain fetched */
    } iothread;
    /* transport: {notify_off_while_busy: true}: the in-process device keeps queue
     * notifications off while it has requests in flight (vs_ref_opts) */
    bool notify_off_while_busy;
    /* transport: {kind: pci, layout: QUIRK, msix_vectors: N}: the in-process PCI
     * function's unusual layout (enum vs_pci_layout_quirk) and MSI-X table size (0: the
     * default, num_queues + 1) */
    uint32_t pci_layout_quirks;
    uint16_t pci_msix_vectors;
    /* transport: {echo_interrupts: 5us}: the in-process device delivers every queue
     * interrupt once more that long after (interrupts that report nothing new) */
    uint64_t echo_irq_ns;
    vs_step *steps;
    unsigned nsteps;
} vs_scenario;

int vs_scenario_load(const char *path, vs_scenario **out, vs_err *e);
/* The same from len bytes in memory; name stands for the file in error messages. */
int vs_scenario_load_mem(const char *name, const char *buf, size_t len, vs_scenario **out,
                         vs_err *e);
void vs_scenario_free(vs_scenario *s);

/* A suite (scenarios/suites/NAME.yaml): a named list of scenarios that certifies one
 * thing. Scenario paths in the file are relative to the suite file. */
typedef struct vs_suite {
    char *path;
    char *name;
    char *description;
    char **scenarios;           /* resolved paths */
    unsigned nscenarios;
} vs_suite;

int vs_suite_load(const char *path, vs_suite **out, vs_err *e);
void vs_suite_free(vs_suite *s);

/* Expected results (files in scenarios/expected/): known non-conformances of a back-end,
 * each with the reason. A listed scenario that fails is an expected failure; the reports
 * still show the failure and its evidence. Checks are never weakened to match. */
typedef struct vs_expected_entry {
    char *scenario;             /* a scenario expected to fail, or NULL */
    char *statement;            /* a statement expected to fail wherever exercised, or NULL */
    char *reason;
} vs_expected_entry;

typedef struct vs_expected {
    char *path;
    /* What the file describes: the back-end kind (required: ref, qemu, qsd, vhost-user,
     * qemu-vhost-user) and its version (optional, e.g. "7.2"), with where each is written
     * for messages. */
    char *backend;
    unsigned backend_line, backend_col;
    char *version;
    unsigned version_line, version_col;
    vs_expected_entry *e;
    unsigned n;
} vs_expected;

int vs_expected_load(const char *path, vs_expected **out, vs_err *e);
void vs_expected_free(vs_expected *x);
const vs_expected_entry *vs_expected_find(const vs_expected *x, const char *scenario);
const vs_expected_entry *vs_expected_find_statement(const vs_expected *x, const char *id);
/* The file applies to a back-end of kind `family` (its `backend:`); -VS_EINVAL with
 * "file:line:column: ..." at the `backend:` value otherwise. */
int vs_expected_bind(const vs_expected *x, const char *family, vs_err *e);
/* Compares the file's `version:` with the version a back-end reports (the first "N.N..." in
 * e.g. "QEMU emulator version 10.0.2 (Debian ...)"; "7.2" matches 7.2.x): 1 same (or the file
 * names no version), 0 different, -1 the back-end reports no version. seen gets the
 * back-end's version number ("" when none). */
int vs_expected_version_check(const vs_expected *x, const char *backend_version, char *seen,
                              size_t seen_len);

/* Parsers shared with the CLI: "4k" / "1MiB" / "512" → bytes; "500ns" / "2us" → ns.
 * Size units are case-insensitive and base 2 as in fio: K = KB = KiB = 1024, M = MB = MiB,
 * G, T likewise; anything else is -VS_EINVAL. */
int vs_parse_size(const char *s, uint64_t *out);
int vs_parse_time_ns(const char *s, uint64_t *out);

#endif
