/* Describing the device under test (private to virtiosim; layer 4): device profiles,
 * scenario preconditions and probing, per device.
 *
 * A device's *description* is what a vendor says the device is (a profile file,
 * `--device-profile FILE`) or what it presents (read through the driver before the
 * scenario's init: offered features, config fields). A scenario's *requirements* are the
 * `requires:` keys it declares plus what its own steps imply (a write that must succeed
 * needs a writable device, four driver queues need four device queues, ...). Both objects
 * are the device's own (flat, calloc'ed, no pointers); the core only moves them around:
 *
 *   - an external back-end (one someone else started): before the first step, the
 *     scenario's requirements are checked against what the device presents (completed by
 *     the profile's fields the device cannot show); unmet -> the scenario is
 *     not_applicable with the reason, never failed;
 *   - with a profile, the run gains one device-level result, `device-profile`: the
 *     profile against what the device presents, each difference named;
 *   - `virtiosim probe` writes what the device presents as a profile.
 *
 * Back-ends virtiosim builds from the scenario (ref, pci, qemu, qsd) present exactly the
 * scenario's device, so nothing is checked there (and nothing changes in their traces). */
#ifndef VS_PROFILE_DEV_H
#define VS_PROFILE_DEV_H

#include <stddef.h>
#include <stdio.h>

#include "sim/runner_int.h"
#include "sim/scenario_int.h"

typedef struct vs_profile_dev {
    size_t desc_size;
    const vs_field *keys;           /* a profile's keys besides `device:` (ctx: the desc) */
    size_t req_size;
    const vs_field *requires_keys;  /* `requires:` keys (ctx: the vs_scenario; its
                                       requires object is allocated) */
    /* optional, once the scenario is loaded: what its steps and keys imply; may reject an
     * explicit requirement its own device contradicts (vs_ld_fail on root) */
    int (*derive)(vs_loader *L, vs_scenario *s, const yaml_node_t *root);
    /* what the device presents, read through c->d before init (features, config) */
    int (*read)(vs_run_ctx *c, void *desc, vs_err *e);
    /* the profile's fields the device cannot show (e.g. its maximum queue size) into seen */
    void (*merge)(void *seen, const void *profile);
    /* 0: every requirement met; 1: one is not, why says which and what the device has */
    int (*unmet)(const vs_scenario *s, const void *desc, char *why, size_t n);
    /* how many fields the profile states differently from what the device presents;
     * diff lists them ("capacity: profile 2097152 sectors, device 4194304; ...") */
    unsigned (*compare)(const void *profile, const void *seen, char *diff, size_t n);
    void (*write)(FILE *f, const void *desc);   /* the profile's keys, YAML */
} vs_profile_dev;

/* The scenario's `requires:` key (sim/scenario.c's top level). */
VS_PARSER(vs_scn_requires);
/* Once a scenario is loaded: its requirements object and what its steps imply. */
int vs__requires_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root);
/* Before the first step: 0 run it; 1 not applicable (c->r says why). */
int vs__run_preconditions(vs_run_ctx *c);

#endif
