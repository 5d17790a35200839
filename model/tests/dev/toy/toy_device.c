/* The toy device (toy.h) and its model-layer class. */
#include <stdlib.h>
#include <string.h>

#include "model/device_class.h"
#include "model/tests/dev/toy/toy.h"
#include "virtiosim/le.h"
#include "virtiosim/virtio.h"

static const vs_dev_feature toy_features[] = {{VS_TOY_F_ECHO, "VIRTIO_TOY_F_ECHO"}};

const vs_device_class vs_device_classes_toy = {
    .name = "toy",
    .device_id = VS_TOY_DEVICE_ID,
    .feature_prefix = "VIRTIO_TOY_F_",
    .features = toy_features,
    .nfeatures = 1,
    .vhost_config_len = 4,
    .num_queues_feature = -1,
};

static uint64_t toy_features_offered(vs_device *d)
{
    (void)d;
    return VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_TOY_F_ECHO);
}

static int toy_accept(vs_device *d, uint64_t f, vs_err *e)
{
    if (f & ~toy_features_offered(d))
        return vs_err_set(e, VS_EINVAL, "toy: features not offered");
    return 0;
}

static uint32_t toy_config_size(vs_device *d)
{
    (void)d;
    return 4;
}

static int toy_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    (void)d;
    uint8_t cfg[4];
    vs_le32_put(cfg, VS_TOY_MAX_BYTES);
    if (off > 4 || len > 4 - off)
        return vs_err_set(e, VS_ERANGE, "toy: config read past its 4 bytes");
    memcpy(buf, cfg + off, len);
    return 0;
}

static int toy_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e)
{
    (void)d, (void)off, (void)buf, (void)len;
    return vs_err_set(e, VS_EINVAL, "toy: config is read-only");
}

static uint16_t toy_num_queues(vs_device *d)
{
    (void)d;
    return 1;
}

static uint32_t toy_queue_max_size(vs_device *d, uint16_t q)
{
    (void)d, (void)q;
    return 64;
}

static int toy_handle(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *written,
                      vs_err *e)
{
    (void)q;
    uint8_t buf[VS_TOY_MAX_BYTES];
    uint64_t n = c->out_bytes < sizeof buf ? c->out_bytes : sizeof buf;
    if (n > c->in_bytes)
        n = c->in_bytes;
    uint64_t got = 0, put = 0;
    for (uint32_t i = 0; i < c->nseg && got < n; i++) {
        if (c->seg[i].write)
            continue;
        uint64_t k = c->seg[i].len < n - got ? c->seg[i].len : n - got;
        if (vs_gmem_read(d->gm, c->seg[i].gpa, buf + got, k, e) < 0)
            return -VS_EIO;
        got += k;
    }
    for (uint32_t i = 0; i < c->nseg && put < n; i++) {
        if (!c->seg[i].write)
            continue;
        uint64_t k = c->seg[i].len < n - put ? c->seg[i].len : n - put;
        if (vs_gmem_write(d->gm, c->seg[i].gpa, buf + put, k, e) < 0)
            return -VS_EIO;
        put += k;
    }
    *written = (uint32_t)n - ((d->mutations & VS_TOY_MUT_SHORT_LEN) && n ? 1 : 0);
    return 0;
}

static void toy_reset(vs_device *d) { (void)d; }
static void toy_destroy(vs_device *d) { free(d); }

static const vs_device_ops toy_ops = {
    .name = "toy",
    .device_id = VS_TOY_DEVICE_ID,
    .device_features = toy_features_offered,
    .accept_features = toy_accept,
    .config_size = toy_config_size,
    .config_read = toy_config_read,
    .config_write = toy_config_write,
    .num_queues = toy_num_queues,
    .queue_max_size = toy_queue_max_size,
    .handle = toy_handle,
    .reset = toy_reset,
    .destroy = toy_destroy,
};

int vs_toy_create(vs_device **out, vs_gmem *gm, uint32_t mutations, vs_err *e)
{
    vs_device *d = calloc(1, sizeof *d);
    if (!d)
        return vs_err_set(e, VS_ENOMEM, "toy: out of memory");
    d->ops = &toy_ops;
    d->gm = gm;
    d->mutations = mutations;
    *out = d;
    return 0;
}
