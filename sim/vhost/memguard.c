/* See memguard.h. The table is fixed storage read by a signal handler: no heap, atomics
 * for the slot state, and only mmap (a plain system call) inside the handler. */
#define _GNU_SOURCE
#include "sim/vhost/memguard.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 512 /* 64 concurrent connections x 8 regions */
enum { FREE = 0, LIVE = 1 };

static struct {
    atomic_int state;
    atomic_int faulted;
    uintptr_t lo, hi;
} g_slot[SLOTS];
static atomic_int g_installed;
static atomic_int g_any_fault;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < SLOTS; i++) {
        if (atomic_load(&g_slot[i].state) != LIVE || a < g_slot[i].lo || a >= g_slot[i].hi)
            continue;
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        void *p = (void *)(a & ~(page - 1));
        if (mmap(p, page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
                 0) == p) {
            atomic_store(&g_slot[i].faulted, 1);
            atomic_store(&g_any_fault, 1);
            return;   /* the access is retried on the zero page */
        }
        break;
    }
    signal(sig, SIG_DFL);   /* not ours, or not repairable: die as we would have */
    raise(sig);
}

int vs_memguard_install(vs_err *e)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&g_installed, &expect, 1))
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) != 0) {
        atomic_store(&g_installed, 0);
        return vs_err_set(e, VS_EIO, "memguard: cannot install the SIGBUS handler");
    }
    return 0;
}

int vs_memguard_add(void *addr, size_t len)
{
    for (int i = 0; i < SLOTS; i++) {
        int expect = FREE;
        if (!atomic_compare_exchange_strong(&g_slot[i].state, &expect, 2))
            continue;   /* 2: being filled in, invisible to the handler */
        g_slot[i].lo = (uintptr_t)addr;
        g_slot[i].hi = (uintptr_t)addr + len;
        atomic_store(&g_slot[i].faulted, 0);
        atomic_store(&g_slot[i].state, LIVE);
        return i;
    }
    return -1;
}

void vs_memguard_remove(int slot)
{
    if (slot >= 0 && slot < SLOTS)
        atomic_store(&g_slot[slot].state, FREE);
}

bool vs_memguard_faulted(int slot)
{
    return slot >= 0 && slot < SLOTS && atomic_load(&g_slot[slot].faulted) != 0;
}

bool vs_memguard_faulted_any(void) { return atomic_load(&g_any_fault) != 0; }
