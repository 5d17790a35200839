/* SHARED CODEC — vhost protocol model (layer 1), used by BOTH the vhost-user back-end
 * (sim/vhost/server.c) and the vhost-user front-end (sim/vhost/frontend.c). Keep it
 * stable: additions only.
 *
 * Three parts, all pure (no sockets, no fds are ever opened, closed or mapped here):
 *
 *  1. vhost-user message codec (QEMU docs/interop/vhost-user.rst): a 12-byte header
 *     {u32 request, u32 flags, u32 size} followed by `size` payload bytes, little-endian
 *     (the protocol is host-endian; virtiosim only runs on little-endian hosts). Decoding
 *     validates every field: version, size exactly as the request (and direction)
 *     requires, payload limits, memory-region counts, zero-sized / overlapping /
 *     wrapping regions, index and flag bits, the number of file descriptors that came
 *     with the message. Encoding computes `size` from the payload kind.
 *
 *  2. One state machine for both vhost flavours (vhost-user messages and kernel vhost
 *     ioctls): owner, features, protocol features, memory table, per-ring num / base /
 *     addr / kick / call / err / enable / started. vs_vhost_apply() judges the LEGALITY
 *     of a message in the current state: a rejection is an error value whose message
 *     says what was wrong and which rule (table below, "vhost-user.frontend.*") it
 *     violates; an accepted message yields an effect description (vs_vhost_effect) the
 *     transport carries out (map memory, keep an fd, stop a ring, send a reply).
 *
 *  3. The rule table: every vhost-user rule virtiosim enforces or follows, with a stable
 *     id "vhost-user.backend.<slug>.<n>" / "vhost-user.frontend.<slug>.<n>", a level and
 *     our own paraphrase (vs_vhost_rule_count / vs_vhost_rule_at / vs_vhost_rule_find).
 *
 * Functions that can reject take `const char **rule` (may be NULL): on rejection it is
 * set to the id of the violated rule (a static string, or NULL when the error is not a
 * protocol rule, e.g. a bad argument); on success it is set to NULL. */
#ifndef VIRTIOSIM_VHOST_H
#define VIRTIOSIM_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/vring.h"

/* ------------------------------------------------------------------ wire constants */

#define VS_VHOST_USER_HDR_SIZE 12u
#define VS_VHOST_USER_VERSION 0x1u
#define VS_VHOST_USER_FLAG_VERSION_MASK 0x3u
#define VS_VHOST_USER_FLAG_REPLY (1u << 2)
#define VS_VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VS_VHOST_USER_FLAGS_KNOWN 0xfu
/* Largest payload virtiosim accepts on the wire (any request). */
#define VS_VHOST_USER_PAYLOAD_MAX 4096u
/* VHOST_MEMORY_BASELINE_NREGIONS: regions in one SET_MEM_TABLE, and fds per message. */
#define VS_VHOST_MEM_REGIONS_MAX 8u
#define VS_VHOST_MAX_FDS 8u
#define VS_VHOST_CONFIG_MAX 256u            /* VHOST_USER_MAX_CONFIG_SIZE */
#define VS_VHOST_CONFIG_HDR_SIZE 12u        /* offset, size, flags */
#define VS_VHOST_VRING_NUM_MAX 32768u
#define VS_VHOST_QUEUES_MAX 64u             /* rings the state machine tracks */
/* u64 payload of SET_VRING_KICK / CALL / ERR */
#define VS_VHOST_VRING_IDX_MASK 0xffu
#define VS_VHOST_VRING_NOFD_MASK (1u << 8)
/* vring address flags */
#define VS_VHOST_VRING_F_LOG (1u << 0)
/* config flags */
#define VS_VHOST_SET_CONFIG_WRITABLE 0u
#define VS_VHOST_SET_CONFIG_MIGRATION 1u

/* Virtio feature bits with a vhost meaning. */
#define VS_VHOST_F_LOG_ALL 26
#define VS_VHOST_F_PROTOCOL_FEATURES 30     /* VHOST_USER_F_PROTOCOL_FEATURES */

/* Front-end -> back-end requests (vhost-user numbering). */
enum vs_vhost_req {
    VS_VHOST_USER_NONE = 0,
    VS_VHOST_USER_GET_FEATURES = 1,
    VS_VHOST_USER_SET_FEATURES = 2,
    VS_VHOST_USER_SET_OWNER = 3,
    VS_VHOST_USER_RESET_OWNER = 4,
    VS_VHOST_USER_SET_MEM_TABLE = 5,
    VS_VHOST_USER_SET_LOG_BASE = 6,
    VS_VHOST_USER_SET_LOG_FD = 7,
    VS_VHOST_USER_SET_VRING_NUM = 8,
    VS_VHOST_USER_SET_VRING_ADDR = 9,
    VS_VHOST_USER_SET_VRING_BASE = 10,
    VS_VHOST_USER_GET_VRING_BASE = 11,
    VS_VHOST_USER_SET_VRING_KICK = 12,
    VS_VHOST_USER_SET_VRING_CALL = 13,
    VS_VHOST_USER_SET_VRING_ERR = 14,
    VS_VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VS_VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VS_VHOST_USER_GET_QUEUE_NUM = 17,
    VS_VHOST_USER_SET_VRING_ENABLE = 18,
    VS_VHOST_USER_SEND_RARP = 19,
    VS_VHOST_USER_NET_SET_MTU = 20,
    VS_VHOST_USER_SET_BACKEND_REQ_FD = 21,
    VS_VHOST_USER_IOTLB_MSG = 22,
    VS_VHOST_USER_SET_VRING_ENDIAN = 23,
    VS_VHOST_USER_GET_CONFIG = 24,
    VS_VHOST_USER_SET_CONFIG = 25,
    VS_VHOST_USER_CREATE_CRYPTO_SESSION = 26,
    VS_VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
    VS_VHOST_USER_POSTCOPY_ADVISE = 28,
    VS_VHOST_USER_POSTCOPY_LISTEN = 29,
    VS_VHOST_USER_POSTCOPY_END = 30,
    VS_VHOST_USER_GET_INFLIGHT_FD = 31,
    VS_VHOST_USER_SET_INFLIGHT_FD = 32,
    VS_VHOST_USER_GPU_SET_SOCKET = 33,
    VS_VHOST_USER_RESET_DEVICE = 34,
    VS_VHOST_USER_VRING_KICK = 35,
    VS_VHOST_USER_GET_MAX_MEM_SLOTS = 36,
    VS_VHOST_USER_ADD_MEM_REG = 37,
    VS_VHOST_USER_REM_MEM_REG = 38,
    VS_VHOST_USER_SET_STATUS = 39,
    VS_VHOST_USER_GET_STATUS = 40,
    VS_VHOST_USER_REQ_MAX = 41,             /* first number virtiosim does not know */
    /* Kernel-only operations, mapped into the same state machine; never on the wire. */
    VS_VHOST_KERNEL_SCSI_SET_ENDPOINT = 0x10040,
    VS_VHOST_KERNEL_SCSI_CLEAR_ENDPOINT = 0x10041,
    VS_VHOST_KERNEL_SCSI_GET_ABI_VERSION = 0x10042,
    VS_VHOST_KERNEL_SET_BACKEND_FEATURES = 0x10025,
    VS_VHOST_KERNEL_GET_BACKEND_FEATURES = 0x10026,
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
enum vs_vhost_proto_feature {
    VS_VHOST_PF_MQ = 0,
    VS_VHOST_PF_LOG_SHMFD = 1,
    VS_VHOST_PF_RARP = 2,
    VS_VHOST_PF_REPLY_ACK = 3,
    VS_VHOST_PF_NET_MTU = 4,
    VS_VHOST_PF_BACKEND_REQ = 5,
    VS_VHOST_PF_CROSS_ENDIAN = 6,
    VS_VHOST_PF_CRYPTO_SESSION = 7,
    VS_VHOST_PF_PAGEFAULT = 8,
    VS_VHOST_PF_CONFIG = 9,
    VS_VHOST_PF_BACKEND_SEND_FD = 10,
    VS_VHOST_PF_HOST_NOTIFIER = 11,
    VS_VHOST_PF_INFLIGHT_SHMFD = 12,
    VS_VHOST_PF_RESET_DEVICE = 13,
    VS_VHOST_PF_INBAND_NOTIFICATIONS = 14,
    VS_VHOST_PF_CONFIGURE_MEM_SLOTS = 15,
    VS_VHOST_PF_STATUS = 16,
    VS_VHOST_PF_XEN_MMAP = 17,
    VS_VHOST_PF_SHARED_OBJECT = 18,
    VS_VHOST_PF_DEVICE_STATE = 19,
};

/* "GET_FEATURES", ...; "UNKNOWN" for numbers virtiosim does not know. */
const char *vs_vhost_req_name(uint32_t request);
/* "MQ", "REPLY_ACK", ...; NULL for unknown bits. */
const char *vs_vhost_proto_feature_name(unsigned bit);

/* ------------------------------------------------------------------ payloads */

typedef struct vs_vhost_vring_state {
    uint32_t index;
    uint32_t num;
} vs_vhost_vring_state;

typedef struct vs_vhost_vring_addr {
    uint32_t index;
    uint32_t flags;          /* VS_VHOST_VRING_F_LOG */
    uint64_t desc;           /* front-end user addresses (kernel: userspace addresses) */
    uint64_t used;
    uint64_t avail;
    uint64_t log;            /* guest-physical */
} vs_vhost_vring_addr;       /* wire: 40 bytes, order index flags desc used avail log */

typedef struct vs_vhost_mem_region {
    uint64_t gpa;            /* guest_phys_addr */
    uint64_t size;           /* memory_size */
    uint64_t uaddr;          /* userspace_addr (front-end's virtual address) */
    uint64_t mmap_offset;    /* offset of the region in its fd (kernel: flags_padding) */
} vs_vhost_mem_region;       /* wire: 32 bytes */

typedef struct vs_vhost_mem_table {
    uint32_t nregions;
    uint32_t padding;
    vs_vhost_mem_region region[VS_VHOST_MEM_REGIONS_MAX];
} vs_vhost_mem_table;        /* wire: 8 + 32 * nregions bytes */

typedef struct vs_vhost_config {
    uint32_t offset;
    uint32_t size;           /* bytes of data[] that are on the wire */
    uint32_t flags;          /* VS_VHOST_SET_CONFIG_* */
    uint8_t data[VS_VHOST_CONFIG_MAX];
} vs_vhost_config;           /* wire: 12 + size bytes */

typedef struct vs_vhost_log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
} vs_vhost_log;              /* wire: 16 bytes */

typedef struct vs_vhost_inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
} vs_vhost_inflight;         /* wire: 20 bytes (24 accepted: C struct padding) */

/* Payload shapes. */
enum vs_vhost_payload_kind {
    VS_VHOST_P_NONE = 0,
    VS_VHOST_P_U64,          /* features, status, kick/call/err index, ack, counts */
    VS_VHOST_P_STATE,        /* vs_vhost_vring_state */
    VS_VHOST_P_ADDR,         /* vs_vhost_vring_addr */
    VS_VHOST_P_MEM_TABLE,    /* vs_vhost_mem_table */
    VS_VHOST_P_MEM_REGION,   /* single region: u64 padding + region (40 bytes) */
    VS_VHOST_P_CONFIG,       /* vs_vhost_config */
    VS_VHOST_P_LOG,          /* vs_vhost_log */
    VS_VHOST_P_INFLIGHT,     /* vs_vhost_inflight */
    VS_VHOST_P_RAW,          /* opaque bytes virtiosim does not model (size only) */
};

/* Message direction: a request from the front-end, or the back-end's reply to one. */
enum vs_vhost_dir { VS_VHOST_DIR_REQUEST = 0, VS_VHOST_DIR_REPLY = 1 };

typedef struct vs_vhost_msg {
    uint32_t request;        /* enum vs_vhost_req */
    uint32_t flags;          /* version | REPLY | NEED_REPLY */
    uint32_t size;           /* payload bytes on the wire (decode: as received;
                                encode: computed, this field is ignored) */
    enum vs_vhost_payload_kind kind;
    union {
        uint64_t u64;
        vs_vhost_vring_state state;
        vs_vhost_vring_addr addr;
        vs_vhost_mem_table mem;
        vs_vhost_mem_region region;
        vs_vhost_config config;
        vs_vhost_log log;
        vs_vhost_inflight inflight;
    } p;
    unsigned nfds;           /* file descriptors that travel with it (SCM_RIGHTS) */
} vs_vhost_msg;

/* Payload kind a request (dir REQUEST) or its reply (dir REPLY) carries; NONE for
 * requests without a reply. For requests with an optional reply (REPLY_ACK) the ack's
 * kind is U64 and is not reported here. */
enum vs_vhost_payload_kind vs_vhost_payload_kind_for(uint32_t request, enum vs_vhost_dir dir);

/* Does `request` always get a reply from the back-end (GET_FEATURES, GET_VRING_BASE,
 * GET_CONFIG, ...)? acked_proto: negotiated protocol features (SET_LOG_BASE has a reply
 * only with LOG_SHMFD). */
bool vs_vhost_req_has_reply(uint32_t request, uint64_t acked_proto);
/* Must the back-end send a reply to this message (its natural reply, or a REPLY_ACK
 * ack when NEED_REPLY is set and REPLY_ACK is negotiated)? */
bool vs_vhost_reply_expected(const vs_vhost_msg *m, uint64_t acked_proto);

/* Range of fds a message may carry (dir REQUEST; replies: GET_INFLIGHT_FD carries 1).
 * SET_VRING_KICK/CALL/ERR: 1, or 0 when VS_VHOST_VRING_NOFD_MASK is set. */
void vs_vhost_fds_allowed(const vs_vhost_msg *m, enum vs_vhost_dir dir, unsigned *min,
                          unsigned *max);

/* Initialises m as a request (flags = version 1) or a reply (version 1 | REPLY). */
void vs_vhost_msg_init(vs_vhost_msg *m, uint32_t request, enum vs_vhost_dir dir);

/* Header only (first 12 bytes of a message): checks the version bits, unknown flag bits
 * and size <= VS_VHOST_USER_PAYLOAD_MAX, so a reader knows how many payload bytes
 * follow. Fills request / flags / size of m (other fields zeroed). */
int vs_vhost_hdr_decode(const void *buf, size_t len, vs_vhost_msg *m, const char **rule,
                        vs_err *e);

/* Whole message (header + payload, len == 12 + size exactly), fully validated for its
 * direction; nfds is the number of fds that arrived with it. Unknown request numbers
 * decode as RAW (the state machine rejects them). Returns 0 or a negative VS_E* code. */
int vs_vhost_msg_decode(const void *buf, size_t len, enum vs_vhost_dir dir, unsigned nfds,
                        vs_vhost_msg *m, const char **rule, vs_err *e);

/* Checks only the payload of an already-decoded message (the same rules as decode): used
 * by the state machine for messages built in memory (kernel flavour, tests). */
int vs_vhost_msg_validate(const vs_vhost_msg *m, enum vs_vhost_dir dir, const char **rule,
                          vs_err *e);

/* Serialises m; payload size follows m->kind (CONFIG: 12 + p.config.size; RAW: not
 * encodable). Returns the byte count (12 + size) or a negative code (cap too small,
 * invalid payload). Encoding does not validate legality, so tests can build bad
 * messages by patching the bytes afterwards. */
int vs_vhost_msg_encode(const vs_vhost_msg *m, void *buf, size_t cap, vs_err *e);

/* For a front-end: is `reply` a well-formed reply to `req` (same request, REPLY flag,
 * version, expected payload kind; for GET_VRING_BASE the same index)? */
int vs_vhost_check_reply(const vs_vhost_msg *req, const vs_vhost_msg *reply,
                         const char **rule, vs_err *e);

/* Validates a memory table on its own: 1..8 regions (0 allowed only when allow_empty),
 * no zero size, no wrap of gpa+size / uaddr+size / mmap_offset+size, no GPA overlap and
 * no user-address overlap between regions. */
int vs_vhost_mem_table_check(const vs_vhost_mem_table *t, bool allow_empty,
                             const char **rule, vs_err *e);

/* ------------------------------------------------------------------ state machine */

enum vs_vhost_flavour { VS_VHOST_FLAVOUR_USER = 0, VS_VHOST_FLAVOUR_KERNEL = 1 };

/* What the back-end offers (constant for a connection). */
typedef struct vs_vhost_backend_cfg {
    uint64_t features;          /* virtio features offered; USER flavour: the state
                                   machine adds VS_VHOST_F_PROTOCOL_FEATURES itself when
                                   proto_features != 0 */
    uint64_t proto_features;    /* protocol features offered (USER flavour) */
    uint16_t num_queues;        /* 1..VS_VHOST_QUEUES_MAX */
    uint32_t queue_max_size;    /* 0 = 32768 */
    uint32_t config_size;       /* device config bytes (GET_CONFIG beyond reads zeros) */
    uint32_t max_mem_slots;     /* GET_MAX_MEM_SLOTS reply; 0 = 8 */
} vs_vhost_backend_cfg;

/* A region of the current memory table, in table order. */
typedef struct vs_vhost_mem_slot {
    vs_vhost_mem_region r;
    bool used;
} vs_vhost_mem_slot;

typedef struct vs_vhost_ring {
    uint32_t num;               /* 0 = never set */
    uint32_t base;              /* SET_VRING_BASE value / value at the last stop */
    bool addr_set;
    vs_vhost_vring_addr addr;   /* as received (user addresses) */
    vs_vq_layout layout;        /* translated to guest-physical (valid when addr_set
                                   and a memory table covers it), format from features */
    bool kick_set, kick_polling;/* kick fd given / NOFD given (polling) */
    bool call_set, call_polling;
    bool err_set;
    bool enable_req;            /* last SET_VRING_ENABLE value */
    bool started;               /* first kick seen, not stopped since */
    bool broken;                /* the back-end gave up on it (malformed chain) */
} vs_vhost_ring;

typedef struct vs_vhost_state {
    enum vs_vhost_flavour flavour;
    vs_vhost_backend_cfg cfg;
    uint64_t offered;           /* features offered (incl. PROTOCOL_FEATURES for USER) */
    bool owner;
    bool features_set;
    uint64_t features;          /* acked by SET_FEATURES */
    bool proto_set;
    uint64_t proto_features;    /* acked by SET_PROTOCOL_FEATURES */
    bool mem_set;
    uint32_t nregions;
    vs_vhost_mem_slot mem[VS_VHOST_MEM_REGIONS_MAX];
    uint8_t status;             /* SET_STATUS value */
    bool endpoint_set;          /* kernel vhost-scsi SET_ENDPOINT */
    vs_vhost_ring ring[VS_VHOST_QUEUES_MAX];
    uint64_t n_accepted, n_rejected;
} vs_vhost_state;

/* Fresh connection. cfg is copied. Fails on num_queues 0 or > VS_VHOST_QUEUES_MAX. */
int vs_vhost_state_init(vs_vhost_state *s, enum vs_vhost_flavour flavour,
                        const vs_vhost_backend_cfg *cfg, vs_err *e);

/* What the transport must do after an accepted message (bits may combine). */
enum vs_vhost_action {
    VS_VHOST_ACT_REPLY = 1u << 0,         /* send fx->reply (pre-filled, see below) */
    VS_VHOST_ACT_MEM_TABLE = 1u << 1,     /* replace the mapping: message fds[i] backs
                                             s->mem[i] (unmap the old table) */
    VS_VHOST_ACT_MEM_ADD = 1u << 2,       /* map fds[0] as slot fx->slot */
    VS_VHOST_ACT_MEM_REM = 1u << 3,       /* unmap slot fx->slot */
    VS_VHOST_ACT_KICK_FD = 1u << 4,       /* ring fx->ring: keep fds[0] as kick (none:
                                             polling); close the previous one */
    VS_VHOST_ACT_CALL_FD = 1u << 5,
    VS_VHOST_ACT_ERR_FD = 1u << 6,
    VS_VHOST_ACT_RING_STOP = 1u << 7,     /* stop ring fx->ring, drop its kick/call fds
                                             (and its err fd when s->ring.err_set is
                                             false), and put the live last-avail index
                                             into fx->reply.p.state.num (and s->ring.base) */
    VS_VHOST_ACT_RING_ENABLE = 1u << 8,   /* ring fx->ring enable state changed */
    VS_VHOST_ACT_RESET = 1u << 9,         /* all rings stopped, kick/call fds dropped,
                                             memory unmapped (RESET_OWNER / RESET_DEVICE);
                                             err fds dropped unless s->ring.err_set (kept
                                             by RESET_DEVICE) */
    VS_VHOST_ACT_CONFIG_READ = 1u << 10,  /* fill fx->reply.p.config.data from the
                                             device (offset/size already set) */
    VS_VHOST_ACT_CONFIG_WRITE = 1u << 11, /* write the message's config to the device */
    VS_VHOST_ACT_FEATURES = 1u << 12,     /* s->features changed */
    VS_VHOST_ACT_STATUS = 1u << 13,       /* s->status changed */
    VS_VHOST_ACT_KICK = 1u << 14,         /* in-band VRING_KICK for fx->ring: treat like
                                             an eventfd kick (see vs_vhost_ring_kicked) */
    VS_VHOST_ACT_BACKEND_FD = 1u << 15,   /* keep fds[0] as the back-end request channel */
    VS_VHOST_ACT_ENDPOINT = 1u << 16,     /* kernel: endpoint set/cleared */
};

typedef struct vs_vhost_effect {
    uint32_t actions;           /* enum vs_vhost_action */
    int ring;                   /* ring concerned, -1 if none */
    int slot;                   /* memory slot concerned, -1 if none */
    vs_vhost_msg reply;         /* valid with VS_VHOST_ACT_REPLY */
    bool fds_consumed;          /* the transport keeps the message's fds (else it must
                                   close them all) */
} vs_vhost_effect;

/* Applies one decoded message (m->nfds fds came with it) to s.
 *  - accepted: returns 0, s updated, *fx says what to do;
 *  - rejected: returns < 0 (VS_ESTATE illegal now, VS_EPROTO malformed / out of range,
 *    VS_ENOTSUP not negotiated / not supported), s unchanged except n_rejected,
 *    *rule names the violated rule and e says why. If a reply is still owed (REPLY_ACK
 *    with NEED_REPLY), fx has VS_VHOST_ACT_REPLY with a non-zero ack; for a rejected
 *    message whose reply is mandatory (GET_*), no reply is produced: the transport should
 *    end the connection rather than leave the front-end waiting forever.
 * The transport closes every fd it does not keep (fds_consumed false). */
int vs_vhost_apply(vs_vhost_state *s, const vs_vhost_msg *m, vs_vhost_effect *fx,
                   const char **rule, vs_err *e);

/* Amends a REPLY_ACK ack after the transport failed to carry out an accepted message
 * (e.g. mmap failed): sets the ack to failure when fx carries an ack. */
void vs_vhost_effect_fail(vs_vhost_effect *fx);

/* A kick arrived on ring r (eventfd readable, or in-band VRING_KICK). Returns 1 when the
 * ring starts now (the transport creates its device-side queue from s->ring[r].layout
 * and s->ring[r].base), 0 when it was already started (just process it), or < 0 when
 * the ring cannot start (not configured, no memory, areas outside the table, disabled:
 * for a disabled ring the return is 0 and nothing starts — check
 * vs_vhost_ring_active). */
int vs_vhost_ring_kicked(vs_vhost_state *s, uint32_t r, const char **rule, vs_err *e);

/* Started, enabled and not broken: the back-end processes it. */
bool vs_vhost_ring_active(const vs_vhost_state *s, uint32_t r);
/* Effective enable: rings start disabled when PROTOCOL_FEATURES is negotiated (until
 * SET_VRING_ENABLE 1), enabled otherwise. */
bool vs_vhost_ring_enabled(const vs_vhost_state *s, uint32_t r);
/* The back-end gave up on ring r (malformed chain): stops and marks it broken. */
void vs_vhost_ring_break(vs_vhost_state *s, uint32_t r);

/* Address translation through the current memory table. */
typedef struct vs_vhost_xlat {
    uint32_t slot;              /* index into s->mem */
    uint64_t gpa;               /* guest-physical address of the first byte */
    uint64_t offset;            /* byte offset inside the region's fd (mmap_offset +) */
    uint64_t region_offset;     /* byte offset from the start of the region */
} vs_vhost_xlat;

/* [uaddr, uaddr+len) by user address (SET_VRING_ADDR): must lie inside one region,
 * len >= 1, no wrap. */
int vs_vhost_xlat_uaddr(const vs_vhost_state *s, uint64_t uaddr, uint64_t len,
                        vs_vhost_xlat *out, const char **rule, vs_err *e);
/* Same by guest-physical address. */
int vs_vhost_xlat_gpa(const vs_vhost_state *s, uint64_t gpa, uint64_t len,
                      vs_vhost_xlat *out, const char **rule, vs_err *e);

/* Ring format from the acked features (RING_PACKED). */
vs_ring_format vs_vhost_ring_format(const vs_vhost_state *s);

/* ------------------------------------------------------------------ kernel flavour */

/* Kernel vhost ioctls (linux/vhost.h), as operations: the transport that issues the real
 * ioctl (sim/) first maps it through the same state machine. Argument structs are the
 * kernel's: u64 for features; vs_vhost_vring_state; vs_vhost_vring_addr; a
 * vs_vhost_mem_table (kernel allows more regions; virtiosim caps at 8); vring_file
 * {index, fd}; vhost_scsi_target. */
enum vs_vhost_kernel_op {
    VS_VHOST_K_GET_FEATURES = 1,
    VS_VHOST_K_SET_FEATURES,
    VS_VHOST_K_SET_OWNER,
    VS_VHOST_K_RESET_OWNER,
    VS_VHOST_K_SET_MEM_TABLE,
    VS_VHOST_K_SET_LOG_BASE,
    VS_VHOST_K_SET_LOG_FD,
    VS_VHOST_K_SET_VRING_NUM,
    VS_VHOST_K_SET_VRING_ADDR,
    VS_VHOST_K_SET_VRING_BASE,
    VS_VHOST_K_GET_VRING_BASE,
    VS_VHOST_K_SET_VRING_KICK,
    VS_VHOST_K_SET_VRING_CALL,
    VS_VHOST_K_SET_VRING_ERR,
    VS_VHOST_K_SET_BACKEND_FEATURES,
    VS_VHOST_K_GET_BACKEND_FEATURES,
    VS_VHOST_K_SCSI_SET_ENDPOINT,
    VS_VHOST_K_SCSI_CLEAR_ENDPOINT,
    VS_VHOST_K_SCSI_GET_ABI_VERSION,
};

typedef struct vs_vhost_kernel_arg {
    uint64_t u64;                 /* features */
    vs_vhost_vring_state state;
    vs_vhost_vring_addr addr;
    vs_vhost_mem_table mem;
    struct { uint32_t index; int fd; } file;     /* fd -1: unset / polling */
    struct { int abi_version; char wwpn[224]; uint16_t tpgt; } target;
} vs_vhost_kernel_arg;

/* The kernel's ioctl request number for op (e.g. VHOST_SET_OWNER = _IO(0xAF, 0x01)),
 * computed here without <linux/vhost.h>; 0 for unknown ops. */
unsigned long vs_vhost_kernel_ioctl_nr(enum vs_vhost_kernel_op op);
const char *vs_vhost_kernel_op_name(enum vs_vhost_kernel_op op);

/* Maps an ioctl + argument to the equivalent message (request, payload, nfds) so
 * vs_vhost_apply can judge it with a KERNEL-flavour state. */
int vs_vhost_kernel_to_msg(enum vs_vhost_kernel_op op, const vs_vhost_kernel_arg *arg,
                           vs_vhost_msg *m, vs_err *e);

/* ------------------------------------------------------------------ rule table */

enum vs_vhost_rule_level { VS_VHOST_MUST = 0, VS_VHOST_MUST_NOT, VS_VHOST_SHOULD,
                           VS_VHOST_SHOULD_NOT };
enum vs_vhost_rule_role { VS_VHOST_ROLE_BACKEND = 1, VS_VHOST_ROLE_FRONTEND = 2 };

typedef struct vs_vhost_rule {
    const char *id;             /* "vhost-user.frontend.mem-table.1" */
    enum vs_vhost_rule_role role;
    enum vs_vhost_rule_level level;
    const char *paraphrase;     /* our own words */
    const char *check;          /* how virtiosim checks it ("observe: ...",
                                   "provoke: ...", "implement: ..." for rules our own
                                   back-end follows) */
    const char *spec_ref;       /* section of docs/interop/vhost-user.rst */
} vs_vhost_rule;

size_t vs_vhost_rule_count(void);
const vs_vhost_rule *vs_vhost_rule_at(size_t i);  /* NULL if out of range */
const vs_vhost_rule *vs_vhost_rule_find(const char *id);
const char *vs_vhost_rule_level_name(enum vs_vhost_rule_level l);  /* "MUST", ... */

#endif
