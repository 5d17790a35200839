/* A device's deliberately broken variants (private to virtiosim; layer 4): a table of
 * vs_mutant (virtiosim/runner.h) in sim/dev/<name>/, reached through its vs_sim_dev;
 * sim/mutants.c lists every device's set, then the PCI model's mutants. The device maps
 * vs_mutant.dev_mutations / dev_mutation_value to its own options (ref_create). */
#ifndef VS_MUTANT_DEV_H
#define VS_MUTANT_DEV_H

#include <stddef.h>

#include "virtiosim/runner.h"

struct vs_mutant_set {
    const vs_mutant *m;
    size_t n;
};

/* The driver model's own mutants (sim/driver_mutants.c), listed after the devices'. */
extern const struct vs_mutant_set vs_driver_mutant_set;
/* The virtio-pci driver's mutants about what a device offers (sim/driver_mutants_pci.c),
 * listed after those. */
extern const struct vs_mutant_set vs_pci_drv_mutant_set;

#endif
