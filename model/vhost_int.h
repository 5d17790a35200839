/* Internals shared by the vhost protocol model's files (model/vhost.c: state machine and
 * request handlers; model/vhost_codec.c: names, payload shapes, validation, codec): the
 * rule ids of virtiosim's vhost-user rules and the rejection helper. */
#ifndef VS_MODEL_VHOST_INT_H
#define VS_MODEL_VHOST_INT_H

#include "virtiosim/vhost.h"

typedef unsigned long long ull;

#define R_HEADER "vhost-user.frontend.header.1"
#define R_SIZE "vhost-user.frontend.msg-size.1"
#define R_SIZE_MAX "vhost-user.frontend.msg-size.2"
#define R_FDS "vhost-user.frontend.fds.1"
#define R_REQUEST "vhost-user.frontend.request.1"
#define R_OWNER "vhost-user.frontend.owner.1"
#define R_OWNER2 "vhost-user.frontend.owner.2"
#define R_FEAT "vhost-user.frontend.features.1"
#define R_FEAT_RUN "vhost-user.frontend.features.2"
#define R_PF_OFFER "vhost-user.frontend.proto-features.1"
#define R_PF_BITS "vhost-user.frontend.proto-features.2"
#define R_PF_NEED "vhost-user.frontend.proto-features.3"
#define R_MEM "vhost-user.frontend.mem-table.1"
#define R_MEM_OVL "vhost-user.frontend.mem-table.2"
#define R_MEM_RUN "vhost-user.frontend.mem-table.3"
#define R_INDEX "vhost-user.frontend.vring-index.1"
#define R_NUM "vhost-user.frontend.vring-num.1"
#define R_ADDR_MEM "vhost-user.frontend.vring-addr.1"
#define R_ADDR "vhost-user.frontend.vring-addr.2"
#define R_ADDR_FLAGS "vhost-user.frontend.vring-addr.3"
#define R_BASE "vhost-user.frontend.vring-base.1"
#define R_STOPPED "vhost-user.frontend.ring-stopped.1"
#define R_VRING_FD "vhost-user.frontend.vring-fd.1"
#define R_START "vhost-user.frontend.ring-start.1"
#define R_ENABLE "vhost-user.frontend.vring-enable.1"
#define R_CONFIG "vhost-user.frontend.config.1"
#define R_STATUS "vhost-user.frontend.status.1"
#define R_ENDPOINT "vhost-user.frontend.kernel-endpoint.1"
#define R_REPLY "vhost-user.backend.reply.1"

/* Rejects with rule id `id` (into *rule) and a message ending "[id]"; returns -code. */
int vs__vhost_rej(const char **rule, const char *id, vs_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define rej vs__vhost_rej


static inline void ok_rule(const char **rule)
{
    if (rule)
        *rule = NULL;
}

#endif
