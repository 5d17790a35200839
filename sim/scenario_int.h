/* The scenario loader's insides, shared with the devices' step and option parsers
 * (sim/dev/<name>/): the YAML helpers that turn a node into a value or into an error
 * naming file:line:column, the mapping walker, and the step record (private to virtiosim;
 * layer 4). */
#ifndef VS_SCENARIO_INT_H
#define VS_SCENARIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "virtiosim/driver.h"
#include "virtiosim/error.h"
#include "virtiosim/scenario.h"

typedef struct vs_loader vs_loader;

/* One key of a mapping: its parser gets the value and the context of the walk (the
 * vs_scenario for the top level and `device:`, the vs_step for a step's body). */
typedef int (*vs_field_fn)(vs_loader *L, const yaml_node_t *v, void *ctx);
typedef struct vs_field {
    const char *key;
    vs_field_fn parse;
} vs_field;
#define VS_PARSER(name) int name(vs_loader *L, const yaml_node_t *v, void *ctx)

int vs_ld_fail(vs_loader *L, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int vs_ld_nomem(vs_loader *L);
const char *vs_ld_path(const vs_loader *L);
const struct vs_sim_dev *vs_ld_dev(const vs_loader *L);   /* the scenario's device */
const yaml_node_t *vs_ld_node(vs_loader *L, int id);
const char *vs_ld_scalar(const yaml_node_t *n);
const char *vs_ld_kind(const yaml_node_t *n);     /* "a scalar", "a list", ... */
int vs_ld_u64(vs_loader *L, const yaml_node_t *n, uint64_t max, uint64_t *out);
int vs_ld_u32(vs_loader *L, const yaml_node_t *n, uint32_t max, uint32_t *out);
int vs_ld_u16(vs_loader *L, const yaml_node_t *n, uint16_t max, uint16_t *out);
int vs_ld_bool(vs_loader *L, const yaml_node_t *n, bool *out);
int vs_ld_size(vs_loader *L, const yaml_node_t *n, uint64_t *out);
int vs_ld_time(vs_loader *L, const yaml_node_t *n, uint64_t *out);
int vs_ld_str(vs_loader *L, const yaml_node_t *n, char **out);
int vs_ld_enum(vs_loader *L, const yaml_node_t *n, const char *const *names, int count,
               int *out);
/* A list of feature names of the scenario's device (and device-independent ones). */
int vs_ld_features(vs_loader *L, const yaml_node_t *v, uint64_t *out);
/* A file the scenario may write (`what`: "image", for messages): the name, relative to the
 * scenario's folder or absolute, must resolve (symlinks and ".." followed) to a regular
 * file or a new name strictly inside that folder, and not the scenario itself. *out gets
 * the canonical absolute path, so later opens do not resolve the name again. */
int vs_ld_own_file(vs_loader *L, const yaml_node_t *v, const char *what, char **out);
int vs_ld_walk(vs_loader *L, const yaml_node_t *map, const vs_field *fields, void *ctx,
               const char *what);
const yaml_node_t *vs_ld_get(vs_loader *L, const yaml_node_t *map, const char *key);
/* A YAML file other than a scenario (a device profile): fn gets its root mapping; the
 * loader's device (feature names) is set with vs_ld_set_dev. */
typedef int (*vs_ld_root_fn)(vs_loader *L, const yaml_node_t *root, void *arg);
int vs__ld_file(const char *path, vs_ld_root_fn fn, void *arg, vs_err *e);
void vs_ld_set_dev(vs_loader *L, const struct vs_sim_dev *d);

/* Keys of `device:` the core keeps, for the devices' key tables (ctx: the vs_scenario). */
VS_PARSER(vs_scn_num_queues);
VS_PARSER(vs_scn_queue_size);
VS_PARSER(vs_scn_extra_features);
VS_PARSER(vs_scn_withhold_features);
/* `queue:` of a step (ctx: the vs_step). */
VS_PARSER(vs_step_queue);

struct vs_step_type;

/* expect: {iothread: {...}}: what the iothreads did since the previous such expectation. */
enum vs_iot_expect {
    VS_IOT_X_WAKES, VS_IOT_X_PASSES, VS_IOT_X_SIGNALS, VS_IOT_X_CHAINS,
    VS_IOT_X_CHAINS_PER_PASS, VS_IOT_X_CHAINS_PER_WAKE, VS_IOT_X_QUEUES_PER_PASS,
    VS_IOT_X_KICKS_PER_WAKE, VS_IOT_X_MAX_CHAINS_PER_PASS, VS_IOT_X_WAIT_MEAN,
    VS_IOT_X_WAIT_MAX, VS_IOT_X_COUNT
};

/* One step of a scenario. The core's steps keep their parameters here; a device's step
 * keeps its own in `dev` (vs_step_type.params_size bytes, opaque to the core). */
struct vs_step {
    const struct vs_step_type *type;
    unsigned line, col;         /* 1-based position in the scenario file */
    uint16_t queue;
    uint32_t count;             /* notify: notifications; queue_reset, suspend: requests in
                                   flight */
    uint64_t wait_ns;           /* wait; queue_reset / suspend: time before acting
                                   (in-process only) */
    /* expect */
    uint8_t status_set;         /* bits that must be set */
    int needs_reset;            /* -1 don't care, 0 must be clear, 1 must be set */
    uint64_t features_required;
    /* reset */
    bool reinit;
    /* init */
    bool expect_features_refused;
    bool expect_gives_up;         /* init: the driver must give up (FAILED), e.g. no VERSION_1 */
    uint64_t force_features;    /* written although not offered (provokes a refusal) */
    /* fault */
    enum vs_fault fault;
    bool fault_survives;        /* NEEDS_RESET or a completed request are both fine */
    /* queue_enable: new queue size (0: as before) */
    uint32_t qsize;
    /* suspend / resume: DEVICE_NEEDS_RESET expected instead */
    bool expect_needs_reset;
    /* expect: iothread: bit k of iot_set = key k (enum vs_iot_expect) is bounded */
    uint32_t iot_set;
    double iot_min[VS_IOT_X_COUNT], iot_max[VS_IOT_X_COUNT];
    void *dev;                  /* the device's parameters, or NULL */
};

#endif
