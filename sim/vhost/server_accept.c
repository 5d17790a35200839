/* The vhost-user server's front door: the listening socket, a thread per front-end (or
 * one front-end after the other on a shared device), the public create / run / stop and
 * the counters and violations (sim/vhost/server.c serves one connection). */
#define _GNU_SOURCE
#include "sim/vhost/server_int.h"

static uint64_t next_conn_id(vs_vhost_server *root)
{
    pthread_mutex_lock(&root->mu);
    uint64_t id = ++root->nconn;
    root->total.connections++;
    pthread_mutex_unlock(&root->mu);
    return id;
}

/* Concurrent mode: a worker (the root's copy with the connection's own device, bus and
 * conn) serves fd, then conn_close gets the connection's verdict material. */
static int serve_worker(vs_vhost_server *root, int fd, vs_err *e)
{
    uint64_t id = next_conn_id(root);
    vs_vhost_conn_ctx ctx = {0};
    vs_vhost_server *w = malloc(sizeof *w);
    conn *c = calloc(1, sizeof *c);
    int rc = w && c ? 0 : vs_err_set(e, VS_ENOMEM, "connection %llu: out of memory", (ull)id);
    if (rc == 0 && root->o.conn_open(root->o.conn_opaque, id, &ctx, e) < 0)
        rc = e->code ? -e->code : -VS_EIO;
    if (rc == 0 && (!ctx.dev || !ctx.dev->ops))
        rc = vs_err_set(e, VS_EINVAL, "connection %llu: conn_open gave no device", (ull)id);
    if (rc < 0) {
        if (ctx.dev && root->o.conn_close)
            root->o.conn_close(root->o.conn_opaque, id, &ctx, NULL, e->msg);
        close(fd);
        free(w);
        free(c);
        return rc;
    }
    *w = *root;
    w->root = root;
    w->o.dev = w->dev = ctx.dev;
    w->dev_gm_orig = ctx.dev->gm;
    w->o.bus = ctx.bus;
    w->c = c;
    w->live = NULL;
    rc = vs__srv_serve_conn(w, fd, id, e);
    if (root->o.conn_close)
        root->o.conn_close(root->o.conn_opaque, id, &ctx, &c->stats, c->reason);
    free(c);
    free(w);
    return rc;
}

int vs_vhost_server_serve_fd(vs_vhost_server *s, int fd, vs_err *e)
{
    if (!s || fd < 0) {
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EINVAL, "serve: bad argument");
    }
    if (s->o.conn_open)
        return serve_worker(s, fd, e);
    return vs__srv_serve_conn(s, fd, next_conn_id(s), e);
}

static void *conn_thread(void *arg)
{
    live_conn *l = arg;
    vs_err e;
    vs_err_clear(&e);
    if (serve_worker(l->root, l->fd, &e) < 0)
        vs__srv_log(l->root, 0, "connection failed: %s", e.msg);
    atomic_store(&l->done, true);
    uint64_t one = 1;
    ssize_t n = write(l->root->reap_fd, &one, sizeof one);
    (void)n;
    return NULL;
}

/* Joins the connection threads that ended (all of them, waiting, when all is set). */
static void reap(vs_vhost_server *s, bool all)
{
    uint64_t v;
    ssize_t n = read(s->reap_fd, &v, sizeof v);
    (void)n;
    for (live_conn **p = &s->live; *p;) {
        live_conn *l = *p;
        if (!all && !atomic_load(&l->done)) {
            p = &l->next;
            continue;
        }
        pthread_join(l->th, NULL);
        *p = l->next;
        free(l);
        s->nlive--;
    }
}

static int spawn_conn(vs_vhost_server *s, int fd, vs_err *e)
{
    live_conn *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return vs_err_set(e, VS_ENOMEM, "accept: out of memory");
    }
    l->root = s;
    l->fd = fd;
    atomic_init(&l->done, false);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 1u << 20); /* the deepest path (monitors) needs < 256 KiB */
    int rc = pthread_create(&l->th, &at, conn_thread, l);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        close(fd);
        free(l);
        return vs_err_set(e, VS_EIO, "cannot start a connection thread: %s", strerror(rc));
    }
    l->next = s->live;
    s->live = l;
    s->nlive++;
    return 0;
}

int vs_vhost_server_create(vs_vhost_server **out, const vs_vhost_server_opts *o, vs_err *e)
{
    if (!out || !o || (!o->conn_open && (!o->dev || !o->dev->ops)))
        return vs_err_set(e, VS_EINVAL, "vhost-user server: device (or conn_open) required");
    *out = NULL;
    vs_vhost_server *s = calloc(1, sizeof *s);
    if (!s)
        return vs_err_set(e, VS_ENOMEM, "vhost-user server: out of memory");
    s->o = *o;
    int grc = vs_memguard_install(e);
    if (grc < 0) {
        free(s);
        return grc;
    }
    s->root = s;
    pthread_mutex_init(&s->mu, NULL);
    s->dev = o->conn_open ? NULL : o->dev;
    s->dev_gm_orig = s->dev ? s->dev->gm : NULL;
    s->listen_fd = -1;
    s->viol_max = o->violations_max ? o->violations_max : 256;
    s->nrules = vs_vhost_rule_count();
    s->viol = calloc(s->viol_max, sizeof *s->viol);
    s->rule_counts = calloc(s->nrules ? s->nrules : 1, sizeof *s->rule_counts);
    s->c = calloc(1, sizeof *s->c);
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    if (!s->viol || !s->rule_counts || !s->c || s->stop_fd < 0 || s->reap_fd < 0) {
        vs_vhost_server_destroy(s);
        return vs_err_set(e, VS_ENOMEM, "vhost-user server: out of resources");
    }
    s->c->fd = -1;
    *out = s;
    return 0;
}

void vs_vhost_server_destroy(vs_vhost_server *s)
{
    if (!s)
        return;
    if (s->live) { /* run() returned early: stop and join what still runs */
        vs_vhost_server_stop(s);
        reap(s, true);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->path) {
        unlink(s->path);
        free(s->path);
    }
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    if (s->reap_fd >= 0)
        close(s->reap_fd);
    pthread_mutex_destroy(&s->mu);
    free(s->viol);
    free(s->rule_counts);
    free(s->c);
    free(s);
}

int vs_vhost_server_listen(vs_vhost_server *s, const char *path, vs_err *e)
{
    if (!s || !path)
        return vs_err_set(e, VS_EINVAL, "listen: bad argument");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return vs_err_set(e, VS_EINVAL, "listen: socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return vs_err_set(e, VS_EINVAL, "listen: %s exists and is not a socket", path);
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vs_err_set(e, VS_EIO, "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        close(fd);
        return vs_err_set(e, VS_EIO, "bind/listen %s: %s", path, strerror(err));
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = fd;
    free(s->path);
    s->path = strdup(path);
    return 0;
}

/* Concurrent mode: accepts while fewer than max_live connections run, each in its own
 * thread; after stop (or max_connections accepted) waits for every connection to end. */
static int run_concurrent(vs_vhost_server *s, uint64_t max_connections, vs_err *e)
{
    unsigned max_live = s->o.max_live ? s->o.max_live : 64;
    uint64_t accepted = 0;
    int rc = 0;
    while (!max_connections || accepted < max_connections) {
        struct pollfd p[3] = {{s->stop_fd, POLLIN, 0}, {s->reap_fd, POLLIN, 0},
                              {s->listen_fd, s->nlive < max_live ? POLLIN : 0, 0}};
        int n = poll(p, 3, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = vs_err_set(e, VS_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents)
            break;
        if (p[1].revents)
            reap(s, false);
        if (!(p[2].revents & POLLIN))
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            rc = vs_err_set(e, VS_EIO, "accept: %s", strerror(errno));
            break;
        }
        vs_err e2;
        vs_err_clear(&e2);
        if (spawn_conn(s, fd, &e2) < 0)
            vs__srv_log(s, 0, "connection refused: %s", e2.msg);
        accepted++;
    }
    reap(s, true); /* the connections end on stop, or when their front-ends leave */
    return rc;
}

int vs_vhost_server_run(vs_vhost_server *s, uint64_t max_connections, vs_err *e)
{
    if (!s || s->listen_fd < 0)
        return vs_err_set(e, VS_EINVAL, "run: not listening");
    if (s->o.conn_open)
        return run_concurrent(s, max_connections, e);
    uint64_t served = 0;
    while (!max_connections || served < max_connections) {
        struct pollfd p[2] = {{s->stop_fd, POLLIN, 0}, {s->listen_fd, POLLIN, 0}};
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vs_err_set(e, VS_EIO, "poll: %s", strerror(errno));
        }
        if (p[0].revents)
            break;
        if (!p[1].revents)
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            return vs_err_set(e, VS_EIO, "accept: %s", strerror(errno));
        }
        vs_err e2;
        vs_err_clear(&e2);
        if (vs_vhost_server_serve_fd(s, fd, &e2) < 0)
            vs__srv_log(s, 0, "connection failed: %s", e2.msg);
        served++;
        if (vs__srv_stop_requested(s))
            break;
    }
    return 0;
}

void vs_vhost_server_stop(vs_vhost_server *s)
{
    if (!s || s->stop_fd < 0)
        return;
    uint64_t one = 1;
    ssize_t n = write(s->stop_fd, &one, sizeof one);
    (void)n;
}

void vs_vhost_server_stats_get(const vs_vhost_server *s, vs_vhost_server_stats *out)
{
    if (!s || !out)
        return;
    pthread_mutex_lock(&((vs_vhost_server *)s)->mu);
    *out = s->total;
    pthread_mutex_unlock(&((vs_vhost_server *)s)->mu);
}

/* The getters lock: in concurrent mode connection threads record while a reader reads.
 * An entry is filled under the lock before it is counted and never moves. */
size_t vs_vhost_server_violation_count(const vs_vhost_server *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&((vs_vhost_server *)s)->mu);
    size_t n = s->nviol;
    pthread_mutex_unlock(&((vs_vhost_server *)s)->mu);
    return n;
}

const vs_vhost_violation *vs_vhost_server_violation_at(const vs_vhost_server *s, size_t i)
{
    return s && i < s->nviol ? &s->viol[i] : NULL;
}

uint64_t vs_vhost_server_rule_violations(const vs_vhost_server *s, const char *rule_id)
{
    if (!s || !rule_id)
        return 0;
    uint64_t n = 0;
    pthread_mutex_lock(&((vs_vhost_server *)s)->mu);
    for (size_t i = 0; i < s->nrules; i++)
        if (strcmp(vs_vhost_rule_at(i)->id, rule_id) == 0)
            n = s->rule_counts[i];
    pthread_mutex_unlock(&((vs_vhost_server *)s)->mu);
    return n;
}
