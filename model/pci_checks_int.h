/* Private to model/pci_checks.c and model/pci_drv_checks.c. */
#ifndef VS_MODEL_PCI_CHECKS_INT_H
#define VS_MODEL_PCI_CHECKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/pci.h"

/* Records a verdict: FAIL beats PASS beats NOT_EXERCISED/NOT_APPLICABLE; the first
 * evidence of the winning verdict is kept. */
void vs__pci_verdict(vs_pci_findings *f, const char *check, const char *id,
                     enum vs_pci_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* width of the common config field at off: 1/2/4 (64-bit fields as 4); 0 = no field */
unsigned vs__pci_common_width(uint32_t off);
static inline bool vs__pci_is_pow2(uint64_t v) { return v && !(v & (v - 1)); }
/* The driver-role checks on one access (name: only that check, NULL: all). */
void vs__pci_drv_access(vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                        const char *name);

#endif
