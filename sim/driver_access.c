/* The driver's access to device status, features and config space: raw, and config
 * reads retried until the generation holds still (spec 2.5.1). */
#include "sim/driver_int.h"

#include <string.h>

#define GEN_RETRIES 16

int vs_driver_write_status_raw(vs_driver *d, uint8_t status, vs_err *e)
{
    vs_event ev = {.kind = VS_EV_STATUS_WRITE, .queue = -1, .val = status};
    vs__drv_emit(d, &ev);
    int rc = d->t->ops->set_status(d->t, status, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: status write 0x%02x", status);
    d->status = status;
    return 0;
}

int vs_driver_read_status(vs_driver *d, uint8_t *status, vs_err *e)
{
    uint8_t s = 0;
    int rc = d->t->ops->get_status(d->t, &s, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: status read");
    vs_event ev = {.kind = VS_EV_STATUS_READ, .queue = -1, .val = s};
    vs__drv_emit(d, &ev);
    if (s & VS_STATUS_DEVICE_NEEDS_RESET)
        d->needs_reset = true;
    if (status)
        *status = s;
    return 0;
}

int vs_driver_read_features(vs_driver *d, uint64_t *features, vs_err *e)
{
    uint64_t f = 0;
    int rc = d->t->ops->get_device_features(d->t, &f, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: device features read");
    vs_event ev = {.kind = VS_EV_FEATURES_READ, .queue = -1, .val = f};
    vs__drv_emit(d, &ev);
    d->dev_features = f;
    if (features)
        *features = f;
    return 0;
}

int vs_driver_write_features_raw(vs_driver *d, uint64_t features, vs_err *e)
{
    vs_event ev = {.kind = VS_EV_FEATURES_WRITE, .queue = -1, .val = features};
    vs__drv_emit(d, &ev);
    int rc = d->t->ops->set_driver_features(d->t, features, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: driver features write");
    d->features = features;
    return 0;
}

static uint64_t le_val(const void *buf, uint32_t len)
{
    uint64_t v = 0;
    const uint8_t *b = buf;
    for (uint32_t i = 0; i < len && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

int vs_driver_config_read_raw(vs_driver *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    int rc = d->t->ops->config_read(d->t, off, buf, len, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: config read off %u len %u", off, len);
    vs_event ev = {.kind = VS_EV_CONFIG_READ, .queue = -1, .off = off, .len = len,
                   .val = len <= 8 ? le_val(buf, len) : 0};
    vs__drv_emit(d, &ev);
    return 0;
}

static int read_gen(vs_driver *d, uint32_t *gen, vs_err *e)
{
    int rc = d->t->ops->config_generation(d->t, gen, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: config generation read");
    vs_event ev = {.kind = VS_EV_CONFIG_GEN, .queue = -1, .val = *gen};
    vs__drv_emit(d, &ev);
    return 0;
}

int vs_driver_config_read(vs_driver *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    if (vs__drv_mut(d, VS_DRV_MUT_CONFIG_NO_GENERATION))
        return vs_driver_config_read_raw(d, off, buf, len, e);
    for (int attempt = 0; attempt < GEN_RETRIES; attempt++) {
        uint32_t g0, g1;
        int rc = read_gen(d, &g0, e);
        if (rc < 0)
            return rc;
        /* Fields are read in naturally sized accesses, as a real driver would. */
        uint32_t pos = 0;
        while (pos < len) {
            uint32_t chunk = len - pos >= 8 && ((off + pos) % 8) == 0 ? 8
                           : len - pos >= 4 && ((off + pos) % 4) == 0 ? 4
                           : len - pos >= 2 && ((off + pos) % 2) == 0 ? 2 : 1;
            rc = vs_driver_config_read_raw(d, off + pos, (uint8_t *)buf + pos, chunk, e);
            if (rc < 0)
                return rc;
            pos += chunk;
        }
        rc = read_gen(d, &g1, e);
        if (rc < 0)
            return rc;
        if (g0 == g1)
            return 0;
    }
    return vs_err_set(e, VS_EPROTO,
                      "driver: config off %u len %u: generation still changing after %d reads",
                      off, len, GEN_RETRIES);
}

int vs_driver_config_write(vs_driver *d, uint32_t off, const void *buf, uint32_t len,
                           vs_err *e)
{
    vs_event ev = {.kind = VS_EV_CONFIG_WRITE, .queue = -1, .off = off, .len = len,
                   .val = len <= 8 ? le_val(buf, len) : 0};
    vs__drv_emit(d, &ev);
    int rc = d->t->ops->config_write(d->t, off, buf, len, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: config write off %u len %u", off, len);
    return 0;
}

int vs_driver_set_status(vs_driver *d, uint8_t bits, vs_err *e)
{
    return vs_driver_write_status_raw(d, (uint8_t)(d->status | bits), e);
}

