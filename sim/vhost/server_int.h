/* The vhost-user server's private types, shared by server.c (a connection: messages,
 * memory, rings) and server_accept.c (the socket, a thread per front-end, the public
 * create/run/stop and the counters). */
#ifndef VS_SIM_VHOST_SERVER_INT_H
#define VS_SIM_VHOST_SERVER_INT_H

#include "virtiosim/vhost_user.h"
#include "virtiosim/virtio.h"
#include "sim/vhost/memguard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long long ull;

#define R_CHAIN "vhost-user.frontend.chain.1"
#define R_FDS "vhost-user.frontend.fds.1"
#define R_MEM "vhost-user.frontend.mem-table.1"
#define R_MEM_SHRUNK "vhost-user.frontend.mem-table.4"
#define FD_SLOTS 16u /* room for more fds than allowed, to detect excess */
#define SEG_CAP_MIN 1024u

/* Feature bits of the vhost-user protocol itself, not of the virtio device. */
#define VHOST_ONLY_FEATURES \
    (VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES) | VS_BIT(VS_VHOST_F_LOG_ALL))

typedef struct srv_region {
    void *map;
    size_t map_len;
    uint64_t gpa, size;
    void *host;
    int fd;         /* kept to notice a later shrink of the file (fstat) */
    int guard;      /* memguard slot: an access past a shrunk end becomes a finding */
} srv_region;

typedef struct srv_ring {
    int kick_fd, call_fd, err_fd;
    vs_vq_dev *vq;
    vs_dseg *segs;
    vs_seg *evsegs; /* segs as the driver's view, for VS_EV_AVAIL (seg_cap entries) */
    uint32_t seg_cap;
    bool pending_kick; /* kicked while disabled */
    bool hot;          /* busy-polled: notifications off, the loop comes back to it */
    uint64_t idle0;    /* when a polled ring last ran dry (0: it has work) */
    /* Chains the device holds (handle() said VS_DEV_DEFERRED), what a push needs of each
     * (segments dropped: the device keeps its own copy). Small: eventq buffers, held
     * commands. */
    vs_chain *dfr;
    uint32_t ndfr, dfr_cap;
} srv_ring;

typedef struct conn {
    struct vs_vhost_server *srv;
    int fd;
    uint64_t id;
    uint64_t nmsg;
    vs_vhost_state st;
    vs_vhost_state tmp;
    srv_region reg[VS_VHOST_MEM_REGIONS_MAX];
    uint32_t nreg;
    vs_gmem *gm;
    int backend_fd;
    srv_ring ring[VS_VHOST_QUEUES_MAX];
    vs_vhost_server_stats stats;
    bool closing;
    char reason[160];
    bool pfd_dirty;
    bool any_polling;
    uint64_t mem_checked_ns;   /* last fstat of the regions; 0 = due at the next kick */
    /* Deferred completion (the device has ops->drain): the chain being handled, which
     * the device may complete from inside handle() before it says VS_DEV_DEFERRED. */
    bool defers;
    const vs_chain *cur;
    uint32_t cur_ring;
    bool cur_done;
} conn;

struct vs_vhost_server {
    vs_vhost_server_opts o;
    vs_device *dev;
    vs_gmem *dev_gm_orig;
    int listen_fd;
    int stop_fd;
    char *path;
    vs_vhost_server_stats total;
    vs_vhost_violation *viol;
    size_t nviol, viol_max;
    uint64_t *rule_counts;
    size_t nrules;
    uint64_t nconn;
    struct timespec t0;
    conn *c;
    struct pollfd pfd[2 + VS_VHOST_QUEUES_MAX];
    int pfd_ring[2 + VS_VHOST_QUEUES_MAX];
    unsigned npfd;
    /* concurrent mode: the root owns the shared parts; a worker points at its root */
    vs_vhost_server *root;
    pthread_mutex_t mu;           /* root only: viol, rule_counts, nconn, total */
    int reap_fd;                  /* root only: a connection thread ended */
    struct live_conn *live;       /* root only: connection threads not yet joined */
    unsigned nlive;
};

/* A connection thread of the concurrent mode. */
typedef struct live_conn {
    pthread_t th;
    vs_vhost_server *root;
    int fd;
    atomic_bool done;
    struct live_conn *next;
} live_conn;

void vs__srv_log(vs_vhost_server *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Serves fd on s (the root in shared-device mode, a worker otherwise) as connection id. */
int vs__srv_serve_conn(vs_vhost_server *s, int fd, uint64_t id, vs_err *e);
bool vs__srv_stop_requested(vs_vhost_server *s);

#endif
