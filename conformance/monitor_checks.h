/* Internal to conformance/: the generic checks' registry indices (monitor_registry.c).
 * A device extension (monitor_dev.h) numbers its own checks from CK_DEV_FIRST; the
 * registry lists them after these, device by device. */
#ifndef VIRTIOSIM_CONFORMANCE_MONITOR_CHECKS_H
#define VIRTIOSIM_CONFORMANCE_MONITOR_CHECKS_H

#include "virtiosim/conformance.h"

enum vs_chk {
    /* device role */
    CK_USED_ID,           /* used id names an outstanding chain, none completed twice */
    CK_USED_LEN,          /* used len <= writable bytes */
    CK_USED_IDX,          /* used idx advances by at most the outstanding count */
    CK_READABLE,          /* readable bytes unchanged at completion (canary) */
    CK_GUARD,             /* nothing written past writable buffers (guard bytes) */
    CK_DESC_TABLE,        /* descriptor table entries of the chain unchanged */
    CK_BEFORE_DRIVER_OK,  /* no fetch / used / queue irq before DRIVER_OK */
    CK_AFTER_RESET,       /* no fetch / used / queue irq after reset until re-setup */
    CK_RESET_ZERO,        /* status reads 0 after reset */
    CK_IRQ_FLAGS_SUPPRESSED, /* !EVENT_IDX: no irq for used entries made while masked */
    CK_IRQ_FLAGS_REQUIRED,   /* !EVENT_IDX: irq for used entries made while unmasked */
    CK_IRQ_EI_SPURIOUS,   /* EVENT_IDX: no irq unless used_event crossed */
    CK_IRQ_EI_REQUIRED,   /* EVENT_IDX: irq when used_event crossed */
    CK_USED_FLAGS,        /* used.flags 0/1 (0 with EVENT_IDX) */
    CK_OFFER_VALID,       /* no undefined / reserved / legacy-only bits offered */
    CK_OFFER_VERSION_1,   /* VERSION_1 offered */
    CK_OFFER_SR_IOV,      /* SR_IOV offered only with an SR-IOV capability */
    CK_FEATURES_OK_REFUSE,/* FEATURES_OK refused for un-offered bits */
    CK_IN_ORDER,          /* IN_ORDER: used in avail order */
    CK_NEEDS_RESET_IRQ,   /* NEEDS_RESET after DRIVER_OK -> config irq */
    CK_ERROR_NEEDS_RESET, /* device error -> DEVICE_NEEDS_RESET (SHOULD) */
    CK_FETCH_AVAIL,       /* device fetches only published chains (ref only) */
    CK_PK_USED_DESC,      /* packed: a used descriptor is not rewritten until reused */
    CK_PK_FETCH_ORDER,    /* packed: chains fetched in the order made available (ref) */
    CK_LEGAL_INPUT,       /* no device error for legal but unusual chains / notifications */
    CK_CFG_EARLY,         /* config read before FEATURES_OK = read after it */
    CK_QRESET,            /* RING_RESET: reset queue left alone, re-enabled one fresh */
    CK_SUSPEND,           /* SUSPEND handshake, silence while suspended */
    /* driver role */
    CK_D_INIT_ORDER,
    CK_D_STATUS_MONOTONIC,
    CK_D_FAILED_RESET,
    CK_D_RESET_WAIT,
    CK_D_FEAT_SUBSET,
    CK_D_FEAT_RESERVED,
    CK_D_FEAT_FROZEN,
    CK_D_ACCEPT_VERSION_1,
    CK_D_ACCEPT_RECOMMENDED,
    CK_D_CFG_WRITE_EARLY,
    CK_D_ABANDON,
    CK_D_KICK_EARLY,
    CK_D_RING_ALIGN,
    CK_D_USED_FLAGS_ZERO,
    CK_D_CHAIN_SHAPE,
    CK_D_AVAIL_IDX,
    CK_D_AVAIL_FLAGS,
    CK_D_KICK_NEEDED,
    CK_D_KICK_UNNEEDED,
    CK_D_CFG_GEN,
    CK_D_ADDR_RAM,
    CK_D_PK_SHAPE,        /* packed: list shape and flags as exposed in ring memory */
    CK_D_PK_ROOM,         /* packed: lists only in slots the device has given back */
    CK_D_PK_AVAIL_FIXED,  /* packed: available descriptors unchanged until fetched */
    CK_D_SUSPEND,         /* the driver's side of the SUSPEND handshake */
    CK_D_OFFER_UNKNOWN,   /* undefined bits offered: not accepted, no giving up */
    CK_D_NO_VERSION_1,    /* no VERSION_1 offered: FAILED, no FEATURES_OK / DRIVER_OK */
    CK_D_SR_IOV,          /* SR_IOV not accepted without an SR-IOV capability */
    CK_D_OUTSTANDING,     /* split: descriptors of outstanding chains not reused */
    CK_D_REENABLE_FRESH,  /* a queue set up again after a queue reset: fresh rings */
    CK_D_SPURIOUS_IRQ,    /* split: no giving up after a nothing-new interrupt */
    CK_D_NEEDS_RESET_ACT, /* NEEDS_RESET with chains outstanding: reset, no waiting */
    CK_D_CFG_LARGER,      /* a config region longer than the type's: no giving up */
    CK_COUNT,
    CK_DEV_FIRST = CK_COUNT  /* a device extension's first local check index */
};

/* The generic checks, indexed by enum vs_chk. */
extern const vs_check_info vs__mon_core_checks[CK_COUNT];

#endif
