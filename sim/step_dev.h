/* Scenario steps as a registry (private to virtiosim; layer 4).
 *
 * A step type is everything one step name needs: its schema (keys and parsers), its
 * defaults and cross-key checks, how it runs, how it is described in messages and the
 * trace, and how much buffer memory it may need. The core defines the device-neutral
 * steps (sim/steps.c: init, expect, reset, fault, wait, notify, queue_reset,
 * queue_enable, suspend, resume, config_change); a device adds its own with a
 * `struct vs_step_set` (sim/dev/<name>/), reached through its vs_sim_dev. The set also
 * owns the scenario's `device:` keys (parsed into an options object opaque to the core)
 * and the device's part of the core steps (expect's `config:`, the requests kept in flight
 * by queue_reset and suspend, ...). */
#ifndef VS_STEP_DEV_H
#define VS_STEP_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/runner_int.h"
#include "sim/scenario_int.h"

typedef struct vs_step_type {
    const char *name;            /* the step's word in the scenario file */
    const vs_field *fields;      /* keys of its body (ctx: the vs_step) */
    bool bare_ok;                /* may be written as a bare word */
    const char *required[3];     /* keys that must be present */
    size_t params_size;          /* bytes of vs_step.dev (0: none) */
    /* optional: parameters before the body is read (the scenario's other keys are read) */
    void (*defaults)(const vs_scenario *s, vs_step *t);
    /* optional: rules across the body's keys (body is the step's mapping) */
    int (*check)(vs_loader *L, const yaml_node_t *body, vs_step *t);
    /* optional: rules against the whole scenario, once every step is read; errors name
     * the step's position (vs_err, as the loader returns it) */
    int (*validate)(const vs_scenario *s, const vs_step *t, vs_err *e);
    /* 0 done, 1 an expectation failed, 2 not applicable, <0 infrastructure error */
    int (*run)(vs_run_ctx *c, const vs_step *t);
    void (*describe)(const vs_step *t, char *buf, size_t n); /* NULL: the name */
    uint64_t (*buffer_bytes)(const vs_step *t); /* NULL: 64 KiB */
    void (*free)(void *params); /* optional: what the parameters own */
    /* on QEMU it changes the machine beyond what a reset undoes (QMP hot-plug, a resize):
     * the scenario gets a QEMU of its own, and a parked one stays for the next */
    bool own_qemu;
} vs_step_type;

struct vs_step_set {
    const vs_step_type *const *steps;   /* NULL-terminated */
    /* `device:` keys after `kind` (ctx: the vs_scenario; options in s->dev_opts) */
    const vs_field *device_keys;
    size_t options_size;
    /* defaults of the options (zeroed before) and of the driver's features */
    void (*defaults)(vs_scenario *s);
    /* optional: once every key is read (root: the scenario's mapping) */
    int (*finish)(vs_loader *L, vs_scenario *s, const yaml_node_t *root);
    void (*options_free)(void *opts);   /* what the options own (not the object) */
    const char *feature_example;        /* a feature name of the device, for messages */
    /* optional: `expect: {config: {...}}`: parsed into vs_step.dev (a flat object the
     * core frees), judged after the core's expectations */
    vs_field_fn expect_config;
    int (*expect_config_run)(vs_run_ctx *c, const vs_step *t);
    void (*after_init)(vs_run_ctx *c);  /* optional: once the driver initialized */
    /* optional: request i of those queue_reset and suspend keep in flight */
    int (*submit_filler)(vs_run_ctx *c, uint16_t queue, uint32_t i, vs_err *e);
    /* optional: did the device complete a fault chain (rather than reject it)? Takes the
     * results. */
    bool (*fault_completed)(vs_run_ctx *c);
    /* config_change: the config field the driver reads to notice the new generation */
    uint32_t config_probe_off, config_probe_len;
};

/* The core's steps (sim/steps.c), NULL-terminated. */
extern const vs_step_type *const vs_core_steps[];

#endif
