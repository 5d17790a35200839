/* The monitors' hook table for one device type (private to virtiosim; layer 2).
 *
 * A device adds its checks to the monitors with one `const vs_mon_dev vs_mon_devs_<name>`,
 * defined in conformance/dev/<name>/; the build generates the registry `vs_mon_devs[]`
 * from the folders (tools/gen_registry.py), so no core file names a device.
 * vs_monitors_create picks the extension whose device_id matches.
 *
 * Checks: the extension's own checks are `checks[0..n_checks)`; its code numbers them
 * from CK_DEV_FIRST (local index CK_DEV_FIRST + i is checks[i]) and records verdicts with
 * the same ok() / bad() as the core (monitor_int.h). The registry (vs_check_at) lists
 * them after the generic checks, device by device in registry order. An extension may
 * also evaluate generic checks (e.g. CK_LEGAL_INPUT through ODD_FRAMING).
 *
 * Hooks are called once per event at most (never per descriptor or byte) and may be NULL.
 * Each gets the monitors; the extension's state is m->dev_state, its per-chain state
 * mon_chain_dev(c) (chain_bytes, zeroed whenever a chain id is made available again).
 * Adding a device: sim/dev/README.md. */
#ifndef VIRTIOSIM_CONFORMANCE_MONITOR_DEV_H
#define VIRTIOSIM_CONFORMANCE_MONITOR_DEV_H

#include "conformance/monitor_int.h"

/* A device feature the driver should accept whenever offered (accept-recommended): its
 * bit and the position k of its statement in that check's ids. */
typedef struct vs_mon_recommend {
    unsigned bit;
    int k;
} vs_mon_recommend;

typedef struct vs_mon_dev {
    const char *name;             /* "blk": the folder name */
    uint32_t device_id;           /* enum vs_device_id */
    const vs_check_info *checks;  /* its checks (local indices from CK_DEV_FIRST) */
    size_t n_checks;
    uint64_t legacy_features;     /* device bits only a legacy device may offer / accept */
    const vs_mon_recommend *recommended; /* device bits for accept-recommended */
    size_t n_recommended;
    /* config-readable-before-features-ok: the config bytes it compares (read after DRIVER
     * and before FEATURES_OK, and again after it; 0: not judged), and those that may change
     * at FEATURES_OK */
    uint32_t cfg_early_bytes;
    const uint32_t *cfg_early_skip;
    size_t n_cfg_early_skip;
    size_t chain_bytes;           /* per-chain state (a multiple of 8) */
    /* Config bytes [off, off + len) the device's section lets the driver write at any
     * time (console emerg_wr): no-config-write-before-features-ok does not judge them. */
    uint32_t cfg_write_any_time_off, cfg_write_any_time_len;

    /* Device state: created with the monitors (-VS_ENOMEM etc. on failure), freed with
     * them. */
    int (*create)(vs_monitors *m, vs_err *e);
    void (*destroy)(vs_monitors *m);
    /* Device reset (status 0 or VS_EV_RESET), after the end-of-window checks and before
     * the queues are dropped: requests in flight may or may not have happened. */
    void (*reset)(vs_monitors *m);
    /* The device offered a (new) feature set. */
    void (*features_offered)(vs_monitors *m, uint64_t offered);
    /* The driver read FEATURES_OK back after setting it (set: it held). */
    void (*features_ok_read)(vs_monitors *m, bool set);
    /* A device-config read or write (after the generic checks of the access). */
    void (*config_access)(vs_monitors *m, const vs_event *ev, bool write);
    /* A chain made available (its record is filled; canaries taken). */
    void (*chain_avail)(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev);
    /* A live chain completed (generic checks done; the record is still live). */
    void (*chain_used)(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx);
    /* A chain id made available again: the previous use's completion will never be seen. */
    void (*chain_retire)(vs_monitors *m, chain_rec *c);
    /* Every event, after the generic checks (host I/O, status, notes, ...). */
    void (*event)(vs_monitors *m, const vs_event *ev);
    /* The run ended (vs_monitors_finish, before the verdicts): what never happened. */
    void (*finish)(vs_monitors *m);
} vs_mon_dev;

/* The generated registry: every device folder's table, NULL-terminated, by name. */
extern const vs_mon_dev *const vs_mon_devs[];

#endif
