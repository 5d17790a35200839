/* Scenario files (YAML, see scenarios/README.md) loaded into plain values. The loader
 * validates everything it can without running: a bad file is rejected with
 * "file:line:column: what was expected", and unknown keys are errors. */
#ifndef VIRTIOSIM_SCENARIO_H
#define VIRTIOSIM_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/driver.h"
#include "virtiosim/error.h"

enum vs_backend_kind {
    VS_BACKEND_REF = 1u << 0,
    VS_BACKEND_QEMU = 1u << 1,
    VS_BACKEND_VHOST_USER = 1u << 2,
    VS_BACKEND_ALL = 0x7,
};

typedef enum vs_step_kind {
    VS_STEP_INIT,
    VS_STEP_READ,
    VS_STEP_WRITE,
    VS_STEP_FLUSH,
    VS_STEP_GET_ID,
    VS_STEP_DISCARD,
    VS_STEP_WRITE_ZEROES,
    VS_STEP_REQUEST,
    VS_STEP_WORKLOAD,
    VS_STEP_EXPECT,
    VS_STEP_CONFIG_WRITE,
    VS_STEP_RESET,
    VS_STEP_FAULT,
    VS_STEP_WAIT,
    VS_STEP_NOTIFY,     /* available-buffer notifications that announce nothing new */
    VS_STEP_QUEUE_RESET,  /* VIRTIO_F_RING_RESET: reset one queue */
    VS_STEP_QUEUE_ENABLE, /* ... and set it up again */
    VS_STEP_SUSPEND,      /* VIRTIO_F_SUSPEND handshake */
    VS_STEP_RESUME,
    VS_STEP_CONFIG_CHANGE, /* the device changes its config (in-process only) */
    VS_STEP_ZONE_APPEND,
    VS_STEP_ZONE_REPORT,
    VS_STEP_ZONE_OPEN,
    VS_STEP_ZONE_CLOSE,
    VS_STEP_ZONE_FINISH,
    VS_STEP_ZONE_RESET,
    VS_STEP_ZONE_RESET_ALL,
    VS_STEP_SECURE_ERASE,
    VS_STEP_GET_LIFETIME,
} vs_step_kind;

const char *vs_step_kind_name(vs_step_kind k);

/* Expected request outcome: the virtio-blk status byte (3..6: zoned status codes). */
enum vs_expect_status {
    VS_EXPECT_OK = 0, VS_EXPECT_IOERR = 1, VS_EXPECT_UNSUPP = 2,
    VS_EXPECT_ZONE_INVALID_CMD = 3, VS_EXPECT_ZONE_UNALIGNED_WP = 4,
    VS_EXPECT_ZONE_OPEN_RESOURCE = 5, VS_EXPECT_ZONE_ACTIVE_RESOURCE = 6,
};
#define VS_STEP_MAX_ZONES 16

#define VS_STEP_MAX_CFG 16

typedef struct vs_cfg_expect {
    char field[32];
    uint64_t value;
} vs_cfg_expect;

typedef struct vs_step {
    vs_step_kind kind;
    unsigned line, col;         /* 1-based position in the scenario file */
    uint16_t queue;
    int expect;                 /* enum vs_expect_status */
    uint64_t sector;
    uint32_t count;             /* sectors */
    uint32_t pattern;
    bool verify;
    bool unmap;
    uint32_t dwz_flags;         /* DISCARD/WRITE_ZEROES: raw segment flag bits to add */
    uint32_t req_type;          /* VS_STEP_REQUEST */
    char *expect_id;            /* VS_STEP_GET_ID, may be NULL */
    struct {
        vs_rw_kind rw;
        uint32_t bs;
        uint32_t iodepth;
        uint32_t rwmixread;
        uint64_t number_ios;
        bool verify;
        uint64_t offset, size;  /* sectors; size 0 = to the end of the device */
        uint16_t queues;
    } wl;
    /* VS_STEP_EXPECT */
    uint8_t status_set;         /* bits that must be set */
    int needs_reset;            /* -1 don't care, 0 must be clear, 1 must be set */
    vs_cfg_expect cfg[VS_STEP_MAX_CFG];
    unsigned ncfg;
    uint64_t features_required;
    /* VS_STEP_CONFIG_WRITE */
    char field[32];
    uint64_t value;
    /* VS_STEP_RESET */
    bool reinit;
    /* VS_STEP_INIT */
    bool expect_features_refused;
    uint64_t force_features;    /* written although not offered (provokes a refusal) */
    /* VS_STEP_FAULT */
    enum vs_fault fault;
    bool fault_survives;        /* NEEDS_RESET or a completed request are both fine */
    /* VS_STEP_WAIT; VS_STEP_QUEUE_RESET: time between submitting `count` reads and the
     * reset (in-process only) */
    uint64_t wait_ns;
    /* VS_STEP_QUEUE_ENABLE: new queue size (0: as before) */
    uint32_t qsize;
    /* VS_STEP_SUSPEND / RESUME: DEVICE_NEEDS_RESET expected instead */
    bool expect_needs_reset;
    /* VS_STEP_ZONE_APPEND: expected append_sector; VS_STEP_ZONE_REPORT: zones to ask for,
     * expected states / write pointers of the first reported zones */
    bool has_expect_sector;
    uint64_t expect_sector;
    uint32_t zones;
    uint8_t expect_states[VS_STEP_MAX_ZONES];
    unsigned n_states;
    uint64_t expect_wp[VS_STEP_MAX_ZONES];
    unsigned n_wp;
} vs_step;

enum vs_scenario_dist { VS_DIST_FIXED, VS_DIST_UNIFORM, VS_DIST_EXPONENTIAL };

typedef struct vs_scenario {
    char *path;
    char *name;
    char *description;
    unsigned backends;          /* enum vs_backend_kind mask */
    bool transport_pci;         /* ref back-end: behind the virtio-pci function model */
    uint64_t seed;
    struct {
        uint64_t capacity_sectors;
        char *image;            /* NULL = RAM; else resolved path */
        bool read_only;
        uint16_t num_queues;
        uint32_t queue_size;
        uint32_t blk_size, seg_max, size_max;
        bool flush, discard, write_zeroes, config_wce, topology, geometry;
        bool secure_erase, lifetime;
        bool writeback;
        char *serial;
        uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
        uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
        bool write_zeroes_may_unmap;
        struct {
            bool write;         /* write requests (else reads) */
            uint64_t sector;
            bool once;
        } inject[VS_STEP_MAX_CFG]; /* I/O errors injected below the device (QEMU blkdebug) */
        unsigned n_inject;
        uint64_t extra_features; /* device-independent bits to offer (e.g. RING_RESET) */
        struct {                 /* zoned mode (vs_blk_zoned_opts); on = false: none */
            bool on;
            uint8_t model;
            uint32_t zone_sectors, zone_capacity, conventional_zones;
            uint32_t max_open_zones, max_active_zones, max_append_sectors;
            uint32_t write_granularity;
            uint64_t read_only_zones, offline_zones;
        } zoned;
    } device;
    struct {
        uint64_t features;      /* accepted (blk device id namespace) */
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
    vs_step *steps;
    unsigned nsteps;
} vs_scenario;

int vs_scenario_load(const char *path, vs_scenario **out, vs_err *e);
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
    char *backend;
    vs_expected_entry *e;
    unsigned n;
} vs_expected;

int vs_expected_load(const char *path, vs_expected **out, vs_err *e);
void vs_expected_free(vs_expected *x);
const vs_expected_entry *vs_expected_find(const vs_expected *x, const char *scenario);
const vs_expected_entry *vs_expected_find_statement(const vs_expected *x, const char *id);

/* Parsers shared with the CLI: "4k" / "1MiB" / "512" → bytes; "500ns" / "2us" → ns. */
int vs_parse_size(const char *s, uint64_t *out);
int vs_parse_time_ns(const char *s, uint64_t *out);

#endif
