/* Survives a peer shrinking memory it shared with us. A vhost-user front-end hands guest
 * RAM over as file descriptors; if it later truncates a file, our next access to the lost
 * part raises SIGBUS. Each mapping of peer memory is registered here; a SIGBUS inside one
 * replaces the faulting page with a private zero page, marks the mapping as faulted and
 * lets the access complete, so the server can judge the front-end and end the connection
 * instead of dying. A SIGBUS anywhere else keeps its default action. */
#ifndef VIRTIOSIM_SIM_MEMGUARD_H
#define VIRTIOSIM_SIM_MEMGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "virtiosim/error.h"

/* Installs the SIGBUS handler (once per process). */
int vs_memguard_install(vs_err *e);
/* Registers [addr, addr + len): a slot >= 0, or -1 when the table is full (the mapping is
 * then unguarded). */
int vs_memguard_add(void *addr, size_t len);
void vs_memguard_remove(int slot);
/* True once a fault was repaired in that mapping (sticky until removed). */
bool vs_memguard_faulted(int slot);
/* True once any fault was repaired since the process started (one load: a cheap test
 * before looking at each mapping). */
bool vs_memguard_faulted_any(void);

#endif
