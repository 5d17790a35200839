/* The vhost-user rules virtiosim enforces (front-end obligations, checked by the
 * back-end's state machine in model/vhost.c) or follows (back-end obligations, which
 * sim/vhost/server.c implements and a front-end can check on a foreign back-end).
 * Paraphrases are our own words; spec_ref names the section of QEMU's
 * docs/interop/vhost-user.rst. Ids are stable: never renumber, only append. */
#include "virtiosim/vhost.h"

#include <string.h>

#define FE VS_VHOST_ROLE_FRONTEND
#define BE VS_VHOST_ROLE_BACKEND

static const vs_vhost_rule rules[] = {
    /* ------------------------------------------------ front-end obligations */
    {"vhost-user.frontend.header.1", FE, VS_VHOST_MUST,
     "Every message header carries version 1 in the flags' low two bits and no flag bits "
     "other than version, reply and need-reply; requests never carry the reply bit.",
     "observe: header decode of every message", "Message specification / Header"},
    {"vhost-user.frontend.msg-size.1", FE, VS_VHOST_MUST,
     "The size field equals the payload length the request's payload format defines "
     "(e.g. 8 for a u64, 8 for a vring state, 40 for a vring address, 8 + 32 per region "
     "for a memory table, 12 + config size for config).",
     "observe: payload decode of every message", "Message specification / Payload"},
    {"vhost-user.frontend.msg-size.2", FE, VS_VHOST_MUST_NOT,
     "A payload is never larger than the protocol allows (at most 8 memory regions, "
     "256 config bytes, and a 4096-byte bound on any message).",
     "observe: header decode", "Message specification / Memory regions description"},
    {"vhost-user.frontend.fds.1", FE, VS_VHOST_MUST,
     "Each request carries exactly the file descriptors its definition calls for: one per "
     "region with SET_MEM_TABLE, one with SET_VRING_KICK/CALL/ERR unless the no-fd bit is "
     "set, one with ADD_MEM_REG, SET_LOG_BASE, SET_BACKEND_REQ_FD, none with the others.",
     "observe: ancillary data of every message", "Communication / SCM_RIGHTS"},
    {"vhost-user.frontend.request.1", FE, VS_VHOST_MUST_NOT,
     "The front-end sends only request types the protocol defines, and only those the "
     "back-end has advertised support for.",
     "observe: request field of every message", "Front-end message types"},
    {"vhost-user.frontend.owner.1", FE, VS_VHOST_MUST,
     "The front-end claims the session with SET_OWNER before it sets features, memory or "
     "ring state.",
     "observe: order of messages", "VHOST_USER_SET_OWNER"},
    {"vhost-user.frontend.owner.2", FE, VS_VHOST_MUST_NOT,
     "SET_OWNER is sent once per session; a second one without a reset is an error.",
     "observe: order of messages", "VHOST_USER_SET_OWNER"},
    {"vhost-user.frontend.features.1", FE, VS_VHOST_MUST_NOT,
     "SET_FEATURES acknowledges only bits the back-end offered in GET_FEATURES.",
     "observe: SET_FEATURES value against GET_FEATURES reply", "VHOST_USER_SET_FEATURES"},
    {"vhost-user.frontend.features.2", FE, VS_VHOST_MUST_NOT,
     "While a ring is started the acknowledged features do not change, except the "
     "dirty-log bit (VHOST_F_LOG_ALL).",
     "observe: SET_FEATURES while rings run", "Starting and stopping rings"},
    {"vhost-user.frontend.proto-features.1", FE, VS_VHOST_MUST,
     "GET_PROTOCOL_FEATURES and SET_PROTOCOL_FEATURES are only used when the back-end "
     "offered VHOST_USER_F_PROTOCOL_FEATURES (bit 30) in GET_FEATURES.",
     "observe: order of messages", "Protocol features"},
    {"vhost-user.frontend.proto-features.2", FE, VS_VHOST_MUST_NOT,
     "SET_PROTOCOL_FEATURES acknowledges only protocol features the back-end offered.",
     "observe: SET_PROTOCOL_FEATURES value", "VHOST_USER_SET_PROTOCOL_FEATURES"},
    {"vhost-user.frontend.proto-features.3", FE, VS_VHOST_MUST,
     "A request that belongs to a protocol feature (GET_QUEUE_NUM: MQ, GET/SET_CONFIG: "
     "CONFIG, SET_STATUS/GET_STATUS: STATUS, RESET_DEVICE, ADD/REM_MEM_REG: "
     "CONFIGURE_MEM_SLOTS, SET_BACKEND_REQ_FD: BACKEND_REQ, SET_LOG_BASE: LOG_SHMFD, "
     "inflight: INFLIGHT_SHMFD, VRING_KICK: INBAND_NOTIFICATIONS) is only sent after "
     "that feature was negotiated.",
     "observe: request against negotiated protocol features", "Protocol features"},
    {"vhost-user.frontend.mem-table.1", FE, VS_VHOST_MUST,
     "A memory table has 1 to 8 regions, each of non-zero size, and neither its guest "
     "address range, user address range nor file range wraps around 2^64.",
     "observe: SET_MEM_TABLE / ADD_MEM_REG payload", "Memory regions description"},
    {"vhost-user.frontend.mem-table.2", FE, VS_VHOST_MUST_NOT,
     "Regions of one memory table do not overlap, neither in guest-physical nor in "
     "front-end user address space.",
     "observe: SET_MEM_TABLE payload", "VHOST_USER_SET_MEM_TABLE"},
    {"vhost-user.frontend.mem-table.3", FE, VS_VHOST_MUST,
     "A new memory table still covers the ring areas of every started ring.",
     "observe: SET_MEM_TABLE while rings run", "VHOST_USER_SET_MEM_TABLE"},
    {"vhost-user.frontend.vring-index.1", FE, VS_VHOST_MUST,
     "Ring indices in ring messages are below the number of queues the back-end has.",
     "observe: index of every ring message", "Multiple queue support"},
    {"vhost-user.frontend.vring-num.1", FE, VS_VHOST_MUST,
     "SET_VRING_NUM gives a size between 1 and the back-end's maximum (at most 32768), "
     "a power of two unless packed rings were negotiated.",
     "observe: SET_VRING_NUM value", "VHOST_USER_SET_VRING_NUM"},
    {"vhost-user.frontend.vring-addr.1", FE, VS_VHOST_MUST,
     "SET_VRING_ADDR comes after a memory table, because the ring addresses are "
     "translated through it.",
     "observe: order of messages", "VHOST_USER_SET_VRING_ADDR"},
    {"vhost-user.frontend.vring-addr.2", FE, VS_VHOST_MUST,
     "Each ring area (descriptors, driver area, device area) lies inside one region of "
     "the memory table and is aligned as the ring format requires.",
     "observe: SET_VRING_ADDR and first kick", "Vring address description"},
    {"vhost-user.frontend.vring-addr.3", FE, VS_VHOST_MUST_NOT,
     "Vring address flags carry no bits other than the logging bit.",
     "observe: SET_VRING_ADDR flags", "Vring address description"},
    {"vhost-user.frontend.vring-base.1", FE, VS_VHOST_MUST,
     "SET_VRING_BASE for a split ring carries an index below 65536.",
     "observe: SET_VRING_BASE value", "VHOST_USER_SET_VRING_BASE"},
    {"vhost-user.frontend.ring-stopped.1", FE, VS_VHOST_MUST_NOT,
     "The size, base and addresses of a started ring are not changed; the front-end "
     "stops it with GET_VRING_BASE first.",
     "observe: ring messages while the ring runs", "Starting and stopping rings"},
    {"vhost-user.frontend.vring-fd.1", FE, VS_VHOST_MUST,
     "The u64 of SET_VRING_KICK/CALL/ERR holds only the ring index (bits 0-7) and the "
     "no-fd flag (bit 8).",
     "observe: SET_VRING_KICK/CALL/ERR payload", "VHOST_USER_SET_VRING_KICK"},
    {"vhost-user.frontend.ring-start.1", FE, VS_VHOST_MUST,
     "A ring is fully configured (size, addresses, memory) before the front-end kicks it.",
     "observe: first kick of every ring", "Starting and stopping rings"},
    {"vhost-user.frontend.vring-enable.1", FE, VS_VHOST_MUST,
     "SET_VRING_ENABLE is only used once VHOST_USER_F_PROTOCOL_FEATURES is negotiated, "
     "and its value is 0 or 1.",
     "observe: SET_VRING_ENABLE", "VHOST_USER_SET_VRING_ENABLE"},
    {"vhost-user.frontend.config.1", FE, VS_VHOST_MUST,
     "GET_CONFIG / SET_CONFIG access stays within the 256-byte config limit and uses only "
     "the defined flags.",
     "observe: config payload", "VHOST_USER_GET_CONFIG"},
    {"vhost-user.frontend.status.1", FE, VS_VHOST_MUST,
     "SET_STATUS carries a device status byte (bits above 7 clear).",
     "observe: SET_STATUS payload", "VHOST_USER_SET_STATUS"},
    {"vhost-user.frontend.chain.1", FE, VS_VHOST_MUST,
     "Chains the front-end's driver makes available follow the virtqueue rules; a "
     "malformed chain stops that ring (the device error path).",
     "observe: device-side chain validation on every fetch", "Ring operation"},
    {"vhost-user.frontend.kernel-endpoint.1", FE, VS_VHOST_MUST,
     "(kernel vhost-scsi) VHOST_SCSI_SET_ENDPOINT comes after SET_OWNER and a memory "
     "table, with a NUL-terminated WWPN.",
     "observe: kernel ioctl flow", "linux/vhost.h"},

    /* ------------------------------------------------ back-end obligations */
    {"vhost-user.backend.reply.1", BE, VS_VHOST_MUST,
     "The back-end answers every request that defines a reply (GET_FEATURES, "
     "GET_PROTOCOL_FEATURES, GET_VRING_BASE, GET_QUEUE_NUM, GET_CONFIG, GET_MAX_MEM_SLOTS, "
     "GET_STATUS, ...) with a message of the same request type, version 1, the reply "
     "bit set and the payload the request defines.",
     "implement: server; observe (front-end): vs_vhost_check_reply", "Message types"},
    {"vhost-user.backend.reply-ack.1", BE, VS_VHOST_MUST,
     "With REPLY_ACK negotiated and need-reply set on a request without its own reply, "
     "the back-end replies with a u64 that is 0 on success and non-zero on failure.",
     "implement: server; observe (front-end)", "REPLY_ACK"},
    {"vhost-user.backend.ring-enable.1", BE, VS_VHOST_MUST,
     "Rings start disabled when VHOST_USER_F_PROTOCOL_FEATURES is negotiated (until "
     "SET_VRING_ENABLE 1) and enabled otherwise; a disabled ring is not processed.",
     "implement: state machine", "Ring states"},
    {"vhost-user.backend.ring-start.1", BE, VS_VHOST_MUST,
     "A ring starts when its first kick arrives (kick eventfd readable, in-band "
     "VRING_KICK, or immediately in polling mode).",
     "implement: state machine", "Starting and stopping rings"},
    {"vhost-user.backend.ring-stop.1", BE, VS_VHOST_MUST,
     "GET_VRING_BASE stops the ring and its reply carries the index of the next "
     "available entry the back-end would have processed.",
     "implement: server", "Starting and stopping rings"},
    {"vhost-user.backend.call.1", BE, VS_VHOST_SHOULD,
     "After publishing used buffers the back-end signals the call eventfd when the "
     "driver has not suppressed notifications.",
     "implement: server", "VHOST_USER_SET_VRING_CALL"},
    {"vhost-user.backend.err.1", BE, VS_VHOST_SHOULD,
     "When the back-end gives up on a ring it signals the error eventfd if one was set.",
     "implement: server", "VHOST_USER_SET_VRING_ERR"},
    {"vhost-user.backend.fds.1", BE, VS_VHOST_MUST,
     "The back-end closes every file descriptor it receives and does not keep, including "
     "those of rejected messages.",
     "implement: server (tested by counting /proc/self/fd)", "Communication"},
    {"vhost-user.backend.mem.1", BE, VS_VHOST_MUST,
     "The back-end maps each region's fd shared, at the region's mmap offset, and reaches "
     "ring and buffer memory only through those mappings.",
     "implement: server", "Memory regions description"},
    {"vhost-user.backend.features.1", BE, VS_VHOST_MUST,
     "The back-end offers VHOST_USER_F_PROTOCOL_FEATURES when it supports protocol "
     "features, and never offers protocol features it does not implement.",
     "implement: server", "Protocol features"},
    {"vhost-user.frontend.mem-table.4", FE, VS_VHOST_MUST_NOT,
     "While a memory table is in use the front-end does not shrink a region's file below "
     "the region (the back-end's mapping would fault).",
     "observe: SIGBUS in a region mapping, repaired and reported by the server",
     "Memory regions description"},
};

size_t vs_vhost_rule_count(void) { return sizeof rules / sizeof rules[0]; }

const vs_vhost_rule *vs_vhost_rule_at(size_t i)
{
    return i < vs_vhost_rule_count() ? &rules[i] : NULL;
}

const vs_vhost_rule *vs_vhost_rule_find(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < vs_vhost_rule_count(); i++)
        if (strcmp(rules[i].id, id) == 0)
            return &rules[i];
    return NULL;
}

const char *vs_vhost_rule_level_name(enum vs_vhost_rule_level l)
{
    switch (l) {
    case VS_VHOST_MUST: return "MUST";
    case VS_VHOST_MUST_NOT: return "MUST NOT";
    case VS_VHOST_SHOULD: return "SHOULD";
    case VS_VHOST_SHOULD_NOT: return "SHOULD NOT";
    }
    return "?";
}
