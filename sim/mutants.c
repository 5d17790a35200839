/* The mutants: deliberately broken variants of the reference device, each meant to make
 * exactly the named statements fail. `virtiosim mutants` and the test suite run them all;
 * a check that no mutant can trip is not trusted. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sim/mutant_dev.h"
#include "sim/sim_dev.h"
#include "virtiosim/pci.h"
#include "virtiosim/runner.h"

/* Every device's mutants, in registry order. */
static size_t n_base(void)
{
    size_t n = vs_driver_mutant_set.n + vs_pci_drv_mutant_set.n;
    for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++)
        if ((*d)->mutants)
            n += (*d)->mutants->n;
    return n;
}

static const vs_mutant *base_at(size_t i)
{
    for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++) {
        if (!(*d)->mutants)
            continue;
        if (i < (*d)->mutants->n)
            return &(*d)->mutants->m[i];
        i -= (*d)->mutants->n;
    }
    if (i < vs_driver_mutant_set.n)
        return &vs_driver_mutant_set.m[i];
    i -= vs_driver_mutant_set.n;
    return i < vs_pci_drv_mutant_set.n ? &vs_pci_drv_mutant_set.m[i] : NULL;
}

/* The PCI model's mutants come from its own table (model/pci.c), each failing the one
 * statement its check reports; they run behind the PCI transport. */
#define PCI_MAX 32
static vs_mutant pci_mutants[PCI_MAX];
static const char *pci_fails[PCI_MAX][2];
static char pci_names[PCI_MAX][48];
static size_t n_pci = SIZE_MAX;
static const char *const pci_scenarios[] = {"scenarios/pci/probe.yaml", NULL};
/* A stuck queue_enable makes the device refuse the queue-address writes the 64-bit-halves
 * probe makes: a consequence, not a second bug. */
static const char *const enable_cascade[] = {"pci.device.layout.1", NULL};
static const char *const no_checks[] = {NULL};

static void init_pci_mutants(void)
{
    if (n_pci != SIZE_MAX)
        return;
    n_pci = 0;
    /* A PCI mutant beyond the table would silently go unproven: make that loud. */
    if (vs_pci_mutation_count() > PCI_MAX)
        fprintf(stderr, "virtiosim: %zu PCI mutants, only %d run (raise PCI_MAX)\n",
                vs_pci_mutation_count(), PCI_MAX);
    for (size_t i = 0; i < vs_pci_mutation_count() && n_pci < PCI_MAX; i++) {
        const vs_pci_mutation_info *m = vs_pci_mutation_at(i);
        /* "pci-" marks the PCI model's mutants, unless their own name already says it. */
        snprintf(pci_names[n_pci], sizeof pci_names[n_pci], "%s%s",
                 strncmp(m->name, "pci-", 4) == 0 ? "" : "pci-", m->name);
        pci_fails[n_pci][0] = m->id;
        pci_fails[n_pci][1] = NULL;
        /* A broken function fails every statement its check covers, not just one. */
        const vs_pci_check_info *ck = vs_pci_check_find(m->check);
        pci_mutants[n_pci] = (vs_mutant){
            .name = pci_names[n_pci],
            .what = m->what,
            .pci_mutations = m->flag,
            .fails = pci_fails[n_pci],
            .checks = no_checks,
            .scenarios = pci_scenarios,
            .also = strcmp(m->name, "enable-survives-reset") == 0 ? enable_cascade
                    : ck                                          ? ck->ids
                                                                  : NULL,
        };
        n_pci++;
    }
}

size_t vs_mutant_count(void)
{
    init_pci_mutants();
    return n_base() + n_pci;
}

const vs_mutant *vs_mutant_at(size_t i)
{
    init_pci_mutants();
    size_t nb = n_base();
    if (i < nb)
        return base_at(i);
    return i - nb < n_pci ? &pci_mutants[i - nb] : NULL;
}

const vs_mutant *vs_mutant_find(const char *name)
{
    for (size_t i = 0; i < vs_mutant_count(); i++)
        if (strcmp(vs_mutant_at(i)->name, name) == 0)
            return vs_mutant_at(i);
    return NULL;
}
