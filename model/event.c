#include "virtiosim/event.h"

#include "virtiosim/error.h"

const char *vs_event_kind_name(enum vs_event_kind k)
{
    static const char *const names[VS_EV_KIND_COUNT] = {
        [VS_EV_RESET] = "reset",
        [VS_EV_STATUS_WRITE] = "status_write",
        [VS_EV_STATUS_READ] = "status_read",
        [VS_EV_FEATURES_READ] = "features_read",
        [VS_EV_FEATURES_WRITE] = "features_write",
        [VS_EV_CONFIG_READ] = "config_read",
        [VS_EV_CONFIG_WRITE] = "config_write",
        [VS_EV_CONFIG_GEN] = "config_gen",
        [VS_EV_QUEUE_SETUP] = "queue_setup",
        [VS_EV_QUEUE_DISABLE] = "queue_disable",
        [VS_EV_AVAIL] = "avail",
        [VS_EV_PUBLISH] = "publish",
        [VS_EV_KICK] = "kick",
        [VS_EV_KICK_SUPPRESSED] = "kick_suppressed",
        [VS_EV_DOORBELL] = "doorbell",
        [VS_EV_FETCH] = "fetch",
        [VS_EV_DEVICE_ERROR] = "device_error",
        [VS_EV_USED] = "used",
        [VS_EV_USED_INVALID] = "used_invalid",
        [VS_EV_IRQ_MASK] = "irq_mask",
        [VS_EV_IRQ] = "irq",
        [VS_EV_ISR_READ] = "isr_read",
        [VS_EV_CONFIG_CHANGE] = "config_change",
        [VS_EV_STEP] = "step",
        [VS_EV_EXPECT] = "expect",
        [VS_EV_NOTE] = "note",
        [VS_EV_USED_EVENT] = "used_event",
        [VS_EV_IOT_SIGNAL] = "iot_signal",
        [VS_EV_IOT_WAKE] = "iot_wake",
        [VS_EV_IOT_SERVE] = "iot_serve",
        [VS_EV_IOT_PASS] = "iot_pass",
        [VS_EV_HOST_IO] = "host_io",
    };
    if ((unsigned)k < VS_EV_KIND_COUNT && names[k])
        return names[k];
    return "unknown";
}

int vs_event_bus_add(vs_event_bus *b, vs_event_fn fn, void *opaque)
{
    if (b->n >= VS_EVENT_SINKS_MAX)
        return vs_err_set(NULL, VS_ENOSPC, "event bus full");
    b->fn[b->n] = fn;
    b->opaque[b->n] = opaque;
    b->n++;
    return 0;
}
