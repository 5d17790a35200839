/* virtio-blk in the simulator, shared by its files (private to sim/dev/blk/): the
 * scenario's `device:` options, the parameters of blk's steps, and the sub-tables of its
 * vs_sim_dev. */
#ifndef VS_BLK_SIM_INT_H
#define VS_BLK_SIM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/backend_dev.h"
#include "sim/mutant_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/blk.h"
#include "virtiosim/blk_driver.h"
#include "virtiosim/driver.h"

#define BLK_MAX_INJECT 16
#define BLK_MAX_CFG 16
#define BLK_MAX_ZONES 16

/* The scenario's `device:` keys (vs_scenario.dev_opts). */
typedef struct blk_scn_opts {
    uint64_t capacity_sectors;
    char *image;            /* NULL = RAM; else resolved path */
    bool read_only;
    uint32_t blk_size, seg_max, size_max;
    bool flush, discard, write_zeroes, config_wce, topology, geometry;
    bool secure_erase, lifetime;
    bool writeback;
    char *serial;
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint32_t max_secure_erase_seg;  /* 0: the device's default */
    bool write_zeroes_may_unmap;
    struct {
        bool write;         /* write requests (else reads) */
        uint64_t sector;
        bool once;
    } inject[BLK_MAX_INJECT]; /* I/O errors injected below the device (QEMU blkdebug) */
    unsigned n_inject;
    struct {                 /* zoned mode (vs_blk_zoned_opts); on = false: none */
        bool on;
        uint8_t model;
        uint32_t zone_sectors, zone_capacity, conventional_zones;
        uint32_t max_open_zones, max_active_zones, max_append_sectors;
        uint32_t write_granularity;
        uint64_t read_only_zones, offline_zones;
        bool offer_discard;
    } zoned;
} blk_scn_opts;

static inline const blk_scn_opts *blk_opts_of(const vs_scenario *s)
{
    return (const blk_scn_opts *)s->dev_opts;
}

/* What a request step's request carries besides the header. */
enum blk_shape {
    SHAPE_PLAIN,            /* sector and count as written */
    SHAPE_DATA,             /* written data: the step's pattern */
    SHAPE_ID,               /* GET_ID: the answer may be checked */
    SHAPE_DWZ,              /* discard / write zeroes: a segment with unmap and flags */
    SHAPE_SECURE_ERASE,     /* a segment with flags */
    SHAPE_REPORT,           /* zone report: one buffer for `zones` descriptors */
    SHAPE_NO_DATA,          /* zone management: no data */
};

/* The parameters of one blk step (vs_step.dev). */
typedef struct blk_step {
    uint32_t req_type;      /* VIRTIO_BLK_T_* of the request the step sends */
    enum blk_shape shape;
    int expect;             /* expected status byte (VIRTIO_BLK_S_*) */
    uint64_t sector;        /* from_end: sectors before the device's capacity */
    bool from_end;          /* `sector: end-N`: adapts to the device's capacity */
    uint32_t count;         /* sectors */
    uint32_t pattern;
    bool verify;
    bool unmap;
    uint32_t dwz_flags;     /* discard / write_zeroes / secure_erase: raw flag bits to add */
    uint32_t segments;      /* discard / write_zeroes / secure_erase: range segments (0: 1) */
    uint64_t new_capacity;  /* resize: sectors */
    char *expect_id;        /* get_id, may be NULL */
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
    char field[32];         /* config_write */
    uint64_t value;
    /* zone_append: expected append_sector; zone_report: zones to ask for, expected states
     * and write pointers of the first reported zones */
    bool has_expect_sector;
    uint64_t expect_sector;
    uint32_t zones;
    uint8_t expect_states[BLK_MAX_ZONES];
    unsigned n_states;
    uint64_t expect_wp[BLK_MAX_ZONES];
    unsigned n_wp;
} blk_step;

/* `expect: {config: {...}}` (vs_step.dev of an expect step). */
typedef struct blk_cfg_expect {
    struct {
        const vs_blk_cfg_field *f;
        uint64_t value;
    } cfg[BLK_MAX_CFG];
    unsigned ncfg;
} blk_cfg_expect;

extern const struct vs_step_set vs_blk_step_set;
extern const struct vs_backend_present vs_blk_backends;
extern const struct vs_guest_present vs_blk_guest;
extern const struct vs_mutant_set vs_blk_mutants;
extern const struct vs_camp_set vs_blk_campaign;
extern const struct vs_profile_dev vs_blk_profile;

/* blk_steps.c: the blk parameters of a step, NULL for a core step */
const blk_step *blk_step_of(const vs_step *t);
/* blk_scenario.c: a size in bytes (with a unit) or sectors (a plain number) */
int blk_sectors_or_bytes(vs_loader *L, const yaml_node_t *v, const char *what, uint64_t *out);

/* blk_scenario.c, for blk_steps.c */
extern const vs_field blk_device_keys[];
void blk_scenario_defaults(vs_scenario *s);
int blk_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root);
void blk_options_free(void *opts);
int blk_expect_config(vs_loader *L, const yaml_node_t *v, void *ctx);

#endif
