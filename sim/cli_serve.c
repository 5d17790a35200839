/* `virtiosim serve`: the reference device as a vhost-user back-end for any front-end,
 * judging the front-end's messages and the driver behind it (split from main.c). */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/report.h"
#include "virtiosim/scenario.h"
#include "virtiosim/vhost.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/virtio.h"

#include "sim/backend_dev.h"
#include "sim/cli.h"
#include "sim/sim_dev.h"
#include "sim/vhost/judge.h"

/* ------------------------------------------------------------------ serve */

static vs_vhost_server *g_server;

static void on_serve_signal(int sig)
{
    (void)sig;
    if (g_server)
        vs_vhost_server_stop(g_server); /* async-signal-safe */
}

/* Connections listed one by one in the standard reports; later ones are counted in one
 * summary row (each is in connections.jsonl): what the server keeps per connection is a
 * row of a few words, so memory stays flat however many front-ends come. */
#define SERVE_ROWS_MAX 4096u
/* The standard reports are rewritten at most this often while connections come and go
 * (and once at the end); connections.jsonl gets each connection's line when it ends. */
#define SERVE_REPORT_INTERVAL_NS 1000000000ull

typedef struct serve_row {
    uint64_t id, steps, wall_ns, features, viol, rejected;
    bool fail;
} serve_row;

/* Shared by every connection thread (under mu) and the report writer. */
typedef struct serve_ctx {
    const char *report_dir;
    const char *sock;
    vs_vhost_server *srv;
    const vs_sim_dev *sd;         /* the device served */
    vs_serve_opts so_dev;         /* each connection's device is made from these */
    char started[40];
    bool fe_mask_set;             /* --frontend-offers: what the front-end passes on */
    uint64_t fe_mask;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vs_results *agg;              /* all connections merged */
    serve_row *rows;              /* the first SERVE_ROWS_MAX connections to end */
    size_t n_rows;
    uint64_t n_over, n_over_fail; /* connections past SERVE_ROWS_MAX */
    FILE *jsonl;                  /* REPORT/connections.jsonl, a line per connection */
    bool dirty, stopping, infra_error;
    pthread_t writer;
    bool writer_on;
} serve_ctx;

/* One connection: its device, bus and driver-role monitors. */
typedef struct serve_conn {
    serve_ctx *sc;
    uint64_t id;
    vs_gmem *placeholder;         /* the device's memory until the front-end maps its own */
    vs_device *dev;
    vs_event_bus bus;
    vs_monitors *mon;
    vs_gmem *mon_gm;
    uint64_t mon_features;
    uint64_t t0;                  /* monotonic ns when it connected */
} serve_conn;

static int serve_mon_start(serve_conn *cc, vs_err *e)
{
    serve_ctx *sc = cc->sc;
    if (vs_monitors_create(&cc->mon, cc->dev->gm, sc->sd->device_id, VS_ROLE_DRIVER, e) < 0)
        return -(e->code ? e->code : VS_EIO);
    char name[48];
    snprintf(name, sizeof name, "connection-%" PRIu64, cc->id);
    vs_monitors_set_scenario(cc->mon, name);
    vs_monitors_set_backend_view(cc->mon, true);
    vs_monitors_set_async_device(cc->mon, true);
    if (sc->fe_mask_set)
        vs_monitors_set_frontend_offer_mask(cc->mon, sc->fe_mask);
    cc->mon_gm = cc->dev->gm;
    return 0;
}

/* The connection's event stream -> its driver-role monitors. */
static void serve_on_event(void *opaque, const vs_event *ev)
{
    serve_conn *cc = opaque;
    if (cc->dev->gm != cc->mon_gm) { /* the front-end's memory table came or changed */
        vs_monitors_set_gmem(cc->mon, cc->dev->gm);
        cc->mon_gm = cc->dev->gm;
    }
    if (ev->kind == VS_EV_FEATURES_WRITE)
        cc->mon_features = ev->val;
    vs_err e = {0};
    if (vs_vhost_judge_rejection(cc->mon, cc->mon_features, ev, &e) < 0)
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
    vs_monitors_on_event(cc->mon, ev);
}

static void serve_conn_free(serve_conn *cc)
{
    if (!cc)
        return;
    vs_monitors_destroy(cc->mon);
    if (cc->dev)
        cc->dev->ops->destroy(cc->dev);
    vs_gmem_destroy(cc->placeholder);
    free(cc);
}

static int serve_conn_open(void *opaque, uint64_t id, vs_vhost_conn_ctx *out, vs_err *e)
{
    serve_ctx *sc = opaque;
    serve_conn *cc = calloc(1, sizeof *cc);
    if (!cc)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    cc->sc = sc;
    cc->id = id;
    cc->t0 = vs_cli_mono_ns();
    int rc = vs_gmem_create_flat(&cc->placeholder, 4096, e);
    if (rc == 0)
        rc = sc->sd->backends->serve_create(cc->placeholder, &sc->so_dev, &cc->dev, e);
    if (rc == 0)
        rc = serve_mon_start(cc, e);
    if (rc == 0)
        rc = vs_event_bus_add(&cc->bus, serve_on_event, cc);
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: connection %" PRIu64 ": %s\n", id, e->msg);
        pthread_mutex_lock(&sc->mu);
        sc->infra_error = true;
        pthread_mutex_unlock(&sc->mu);
        serve_conn_free(cc);
        return rc;
    }
    *out = (vs_vhost_conn_ctx){.dev = cc->dev, .bus = &cc->bus, .opaque = cc};
    return 0;
}

/* One line of connections.jsonl: the connection's verdict, counters and its exercised
 * statements (with the first evidence of each failed one). */
static void serve_jsonl_line(serve_ctx *sc, const serve_row *w, const vs_vhost_server_stats *st,
                             const char *reason, const vs_results *r)
{
    if (!sc->jsonl)
        return;
    json_t *stm = json_object(), *ev = json_array();
    for (size_t i = 0; r && i < r->n_stmt; i++) {
        const vs_stmt_result *x = &r->stmt[i];
        if (!x->st || x->device_level ||
            (x->verdict != VS_VERDICT_PASS && x->verdict != VS_VERDICT_FAIL))
            continue;
        json_object_set_new(stm, x->st->id, json_string(vs_verdict_name(x->verdict)));
        if (x->verdict == VS_VERDICT_FAIL && x->n_evidence)
            json_array_append_new(ev, json_pack("{s:s, s:s, s:i, s:s, s:s}", "statement",
                x->st->id, "check", x->evidence[0].check, "queue", x->evidence[0].queue,
                "expected", x->evidence[0].expected, "seen", x->evidence[0].seen));
    }
    char name[48], feat[24];
    snprintf(name, sizeof name, "connection-%" PRIu64, w->id);
    snprintf(feat, sizeof feat, "0x%016" PRIx64, w->features);
    json_t *doc = json_pack("{s:I, s:s, s:s, s:s?, s:I, s:s, s:{s:I, s:I, s:I, s:I}, s:I, s:o,"
                            " s:o}",
        "connection", (json_int_t)w->id, "name", name, "verdict", w->fail ? "fail" : "pass",
        "reason", reason, "wall_ns", (json_int_t)w->wall_ns, "features", feat, "stats",
        "messages", (json_int_t)st->messages, "rejected", (json_int_t)st->rejected, "requests",
        (json_int_t)st->requests, "device_errors", (json_int_t)st->device_errors,
        "driver_violations", (json_int_t)w->viol, "statements", stm, "evidence", ev);
    char *line = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!line || fprintf(sc->jsonl, "%s\n", line) < 0 || fflush(sc->jsonl) != 0) {
        fprintf(stderr, "virtiosim serve: could not append to connections.jsonl\n");
        sc->infra_error = true;
    }
    free(line);
    json_decref(doc);
}

/* Ends a connection: its monitors' verdicts merged, its row kept, its line appended. */
static void serve_conn_close(void *opaque, uint64_t id, const vs_vhost_conn_ctx *ctx,
                             const vs_vhost_server_stats *st, const char *reason)
{
    serve_ctx *sc = opaque;
    serve_conn *cc = ctx->opaque;
    if (!st) {
        serve_conn_free(cc);
        return;
    }
    vs_err e = {0};
    uint64_t viol = vs_monitors_violations(cc->mon);
    const vs_results *r = NULL;
    if (vs_monitors_finish(cc->mon, cc->mon_features, &e) == 0)
        r = vs_monitors_results(cc->mon);
    serve_row w = {.id = id, .steps = st->messages, .wall_ns = vs_cli_mono_ns() - cc->t0,
                   .features = cc->mon_features, .viol = viol, .rejected = st->rejected,
                   .fail = viol || st->rejected};
    pthread_mutex_lock(&sc->mu);
    if (r && sc->agg && vs_results_merge(sc->agg, r, &e) < 0)
        fprintf(stderr, "virtiosim serve: merging results: %s\n", e.msg);
    if (sc->n_rows < SERVE_ROWS_MAX) {
        sc->rows[sc->n_rows++] = w;
    } else {
        sc->n_over++;
        sc->n_over_fail += w.fail;
    }
    serve_jsonl_line(sc, &w, st, reason, r);
    printf("connection %" PRIu64 ": %" PRIu64 " messages, %" PRIu64 " rejected, %" PRIu64
           " requests, %" PRIu64 " device errors, %" PRIu64 " driver violations (%s)\n",
           id, st->messages, st->rejected, st->requests, st->device_errors, viol,
           reason ? reason : "disconnected");
    fflush(stdout);
    sc->dirty = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    serve_conn_free(cc);
}

/* The front-end's verdicts: one entry per vhost-user rule, failed where a message broke it,
 * with the recorded violations as evidence. Written atomically. */
static void write_serve_report(const serve_ctx *sc)
{
    json_t *rules = json_array(), *viol = json_array();
    for (size_t i = 0; i < vs_vhost_rule_count(); i++) {
        const vs_vhost_rule *r = vs_vhost_rule_at(i);
        uint64_t n = vs_vhost_server_rule_violations(sc->srv, r->id);
        bool frontend = r->role == VS_VHOST_ROLE_FRONTEND;
        json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", r->id,
            "role", frontend ? "frontend" : "backend", "level",
            vs_vhost_rule_level_name(r->level), "paraphrase", r->paraphrase, "violations",
            (json_int_t)n, "verdict", !frontend ? "not_applicable" : n ? "fail" : "no_violation"));
    }
    size_t nv = vs_vhost_server_violation_count(sc->srv);
    for (size_t i = 0; i < nv; i++) {
        const vs_vhost_violation *v = vs_vhost_server_violation_at(sc->srv, i);
        json_array_append_new(viol, json_pack("{s:s?, s:s, s:i, s:I, s:I, s:s}", "rule", v->rule,
            "request", vs_vhost_req_name(v->request), "ring", v->ring, "connection",
            (json_int_t)v->connection, "message", (json_int_t)v->message, "text", v->msg));
    }
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(sc->srv, &st);
    json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}",
        "schema", "virtiosim-vhost-user-server/1", "tool_version", VS_VERSION, "rules", rules,
        "violations", viol, "stats", "connections", (json_int_t)st.connections, "messages",
        (json_int_t)st.messages, "rejected", (json_int_t)st.rejected, "requests",
        (json_int_t)st.requests, "device_errors", (json_int_t)st.device_errors);
    char path[PATH_MAX], tmp[PATH_MAX];
    mkdir(sc->report_dir, 0755);
    snprintf(path, sizeof path, "%s/vhost-user-server.json", sc->report_dir);
    snprintf(tmp, sizeof tmp, "%s/.vhost-user-server.json.tmp.%d", sc->report_dir, (int)getpid());
    if (doc && json_dump_file(doc, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
        rename(tmp, path) == 0)
        fprintf(stderr, "virtiosim serve: report %s\n", path);
    else
        fprintf(stderr, "virtiosim serve: could not write %s\n", path);
    json_decref(doc);
}

/* From the report writer's thread: the flag the connection threads also set, under mu. */
static void serve_infra_error(serve_ctx *sc)
{
    pthread_mutex_lock(&sc->mu);
    sc->infra_error = true;
    pthread_mutex_unlock(&sc->mu);
}

static int row_cmp(const void *a, const void *b)
{
    const serve_row *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A deep copy (vs_results holds no pointers it owns besides its two arrays). */
static vs_results *serve_results_copy(const vs_results *r)
{
    vs_results *c = NULL;
    vs_err e = {0};
    if (!r || vs_results_create(&c, &e) < 0)
        return NULL;
    if (c->n_stmt != r->n_stmt || c->n_check != r->n_check) {
        vs_results_destroy(c);
        return NULL;
    }
    vs_stmt_result *st = c->stmt;
    vs_check_result *ck = c->check;
    memcpy(st, r->stmt, r->n_stmt * sizeof *st);
    memcpy(ck, r->check, r->n_check * sizeof *ck);
    *c = *r;
    c->stmt = st;
    c->check = ck;
    return c;
}

/* The four standard reports and vhost-user-server.json from a snapshot taken under mu
 * (connections keep ending while the files are written). */
static void write_all_reports(serve_ctx *sc)
{
    pthread_mutex_lock(&sc->mu);
    size_t n = sc->n_rows;
    uint64_t over = sc->n_over, over_fail = sc->n_over_fail;
    serve_row *rows = malloc((n + 1) * sizeof *rows);
    vs_results *agg = serve_results_copy(sc->agg);
    if (rows)
        memcpy(rows, sc->rows, n * sizeof *rows);
    sc->dirty = false;
    pthread_mutex_unlock(&sc->mu);
    vs_report_scenario *scn = calloc(n + 1, sizeof *scn);
    char (*str)[2][96] = calloc(n + 1, sizeof *str);
    if (!rows || !scn || !str || !agg) {
        fprintf(stderr, "virtiosim serve: out of memory writing reports\n");
        serve_infra_error(sc);
        goto out;
    }
    qsort(rows, n, sizeof *rows, row_cmp);
    for (size_t i = 0; i < n; i++) {
        snprintf(str[i][0], sizeof str[i][0], "connection-%" PRIu64, rows[i].id);
        snprintf(str[i][1], sizeof str[i][1], "%" PRIu64 " driver statement violation(s), %"
                 PRIu64 " vhost-user rejection(s)", rows[i].viol, rows[i].rejected);
        scn[i] = (vs_report_scenario){
            .name = str[i][0], .path = sc->sock, .verdict = rows[i].fail ? VS_SCN_FAIL
                                                                           : VS_SCN_PASS,
            .message = rows[i].fail ? str[i][1] : NULL, .fail_step = -1,
            .steps_run = rows[i].steps, .wall_ns = rows[i].wall_ns,
            .device_id = sc->sd->device_id, .features = rows[i].features};
    }
    if (over) { /* one row for the connections past the listed ones */
        snprintf(str[n][0], sizeof str[n][0], "connections-%u-%" PRIu64, SERVE_ROWS_MAX + 1,
                 SERVE_ROWS_MAX + over);
        snprintf(str[n][1], sizeof str[n][1], "%" PRIu64 " of %" PRIu64 " failed: see "
                 "connections.jsonl", over_fail, over);
        scn[n] = (vs_report_scenario){.name = str[n][0], .path = sc->sock,
            .verdict = over_fail ? VS_SCN_FAIL : VS_SCN_PASS, .message = str[n][1],
            .fail_step = -1, .device_id = sc->sd->device_id};
        n++;
    }
    vs_report_run run = {
        .tool = "virtiosim", .tool_version = VS_VERSION, .backend = "vhost-user front-end",
        .backend_version = "unknown (a vhost-user front-end)", .started = sc->started,
        .n_scenarios = n, .scenarios = scn, .aggregate = agg,
        .wall_clock = true, /* a real front-end, in real time */
    };
    vs_err e = {0};
    if (vs_report_write_all(sc->report_dir, &run, &e) < 0) {
        fprintf(stderr, "virtiosim serve: writing reports: %s\n", e.msg);
        serve_infra_error(sc);
    }
    write_serve_report(sc);
out:
    free(rows);
    free(scn);
    free(str);
    vs_results_destroy(agg);
    malloc_trim(0); /* the documents' transient memory grows with the rows: give it back */
}

/* Rewrites the reports when connections ended since the last time, at most once per
 * SERVE_REPORT_INTERVAL_NS, until stopping (the caller writes the last ones). */
static void *report_writer(void *opaque)
{
    serve_ctx *sc = opaque;
    uint64_t last = 0;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stopping) {
        uint64_t now = vs_cli_mono_ns();
        if (sc->dirty && now - last >= SERVE_REPORT_INTERVAL_NS) {
            pthread_mutex_unlock(&sc->mu);
            write_all_reports(sc);
            last = vs_cli_mono_ns();
            pthread_mutex_lock(&sc->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t wait = sc->dirty ? SERVE_REPORT_INTERVAL_NS - (now - last)
                                  : SERVE_REPORT_INTERVAL_NS;
        ts.tv_sec += (time_t)(wait / 1000000000ull);
        ts.tv_nsec += (long)(wait % 1000000000ull);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

/* Shared state, connections.jsonl and the report writer (with --report). */
static int serve_ctx_init(serve_ctx *sc, vs_err *e)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&sc->mu, NULL);
    time_t now = time(NULL);
    strftime(sc->started, sizeof sc->started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    sc->rows = malloc(SERVE_ROWS_MAX * sizeof *sc->rows);
    if (!sc->rows)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    int rc = vs_results_create(&sc->agg, e);
    if (rc < 0 || !sc->report_dir)
        return rc;
    char path[PATH_MAX];
    if (vs_report_mkdir(sc->report_dir, e) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/connections.jsonl", sc->report_dir);
    sc->jsonl = fopen(path, "we");
    if (!sc->jsonl)
        return vs_err_set(e, VS_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static void serve_ctx_free(serve_ctx *sc)
{
    if (sc->writer_on) {
        pthread_mutex_lock(&sc->mu);
        sc->stopping = true;
        pthread_cond_signal(&sc->cv);
        pthread_mutex_unlock(&sc->mu);
        pthread_join(sc->writer, NULL);
        sc->writer_on = false;
    }
    if (sc->jsonl)
        fclose(sc->jsonl);
    free(sc->rows);
    vs_results_destroy(sc->agg);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->mu);
}

/* A device made once up front (a bad image or option fails here, not per connection),
 * then the shared state, the server listening on sock and the report writer. */
static int serve_start(serve_ctx *sc, const char *sock, vs_err *e)
{
    vs_gmem *probe_gm = NULL;
    vs_device *probe = NULL;
    int rc = vs_gmem_create_flat(&probe_gm, 4096, e);
    if (rc == 0)
        rc = sc->sd->backends->serve_create(probe_gm, &sc->so_dev, &probe, e);
    if (probe)
        probe->ops->destroy(probe);
    vs_gmem_destroy(probe_gm);
    if (rc == 0)
        rc = serve_ctx_init(sc, e);
    vs_vhost_server_opts so = {.conn_open = serve_conn_open, .conn_close = serve_conn_close,
                               .conn_opaque = sc,
                               .emit_used = sc->sd->backends->serve_completions};
    if (rc == 0)
        rc = vs_vhost_server_create(&sc->srv, &so, e);
    if (rc == 0)
        rc = vs_vhost_server_listen(sc->srv, sock, e);
    if (rc == 0 && sc->report_dir) {
        sc->writer_on = pthread_create(&sc->writer, NULL, report_writer, sc) == 0;
        if (!sc->writer_on)
            rc = vs_err_set(e, VS_EIO, "cannot start the report writer");
    }
    return rc;
}

int vs_cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"vhost-user", required_argument, NULL, 's'},
        {"image", required_argument, NULL, 'i'},  {"capacity", required_argument, NULL, 'c'},
        {"read-only", no_argument, NULL, 'r'},     {"queues", required_argument, NULL, 'n'},
        {"once", no_argument, NULL, 'o'},          {"report", required_argument, NULL, 'R'},
        {"seg-max", required_argument, NULL, 'S'}, {"size-max", required_argument, NULL, 'Z'},
        {"frontend-offers", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *dev = NULL, *sock = NULL, *image = NULL;
    uint64_t capacity = 64u << 20;
    bool ro = false, once = false;
    unsigned long queues = 1;
    uint32_t seg_max = 0, size_max = 0;
    serve_ctx sc = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dev = optarg; break;
        case 's': sock = optarg; break;
        case 'i': image = optarg; break;
        case 'c':
            if (vs_parse_size(optarg, &capacity) < 0 || capacity < 512 || capacity % 512) {
                fprintf(stderr, "virtiosim serve: --capacity '%s': wants a size in bytes "
                                "that is a multiple of 512, such as 64MiB (units B, K/KB/KiB, "
                                "M/MB/MiB, G/GB/GiB, T/TB/TiB, base 2)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'r': ro = true; break;
        case 'n': {
            char *end;
            queues = strtoul(optarg, &end, 10);
            if (*end || queues < 1 || queues > 64) {
                fprintf(stderr, "virtiosim serve: --queues wants 1..64\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'o': once = true; break;
        case 'F': {
            char *end;
            sc.fe_mask_set = true;
            sc.fe_mask = strcmp(optarg, "all") == 0 ? ~0ull : strtoull(optarg, &end, 16);
            if (strcmp(optarg, "all") != 0 && (*end || end == optarg || optarg[0] == '-')) {
                fprintf(stderr, "virtiosim serve: --frontend-offers wants all or a hex mask\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'S':
        case 'Z': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || end == optarg || optarg[0] == '-' || v < 1 || v > UINT32_MAX) {
                fprintf(stderr, "virtiosim serve: --%s wants 1..%u\n",
                        c == 'S' ? "seg-max" : "size-max", UINT32_MAX);
                return EXIT_USAGE;
            }
            *(c == 'S' ? &seg_max : &size_max) = (uint32_t)v;
            break;
        }
        case 'R': sc.report_dir = optarg; break;
        case 'h': vs_cli_usage(stdout, "serve"); return EXIT_PASS;
        default: return EXIT_USAGE;
        }
    }
    const vs_sim_dev *sd = dev ? vs_sim_dev_by_name(dev) : NULL;
    if (!sd || !sd->backends->serve_create || !sock || optind != argc) {
        fprintf(stderr, "usage: virtiosim serve --device NAME --vhost-user SOCKET [--image FILE]"
                        " [--capacity SIZE] [--read-only] [--queues N] [--seg-max N] [--size-max N]"
                        " [--frontend-offers all|MASK] [--once] [--report DIR]"
                        "\n       devices that can be served:");
        for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++)
            if ((*d)->backends->serve_create)
                fprintf(stderr, " %s", (*d)->name);
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    vs_err e = {0};
    /* Two malloc arenas, not one per connection thread: each connection's monitors take
     * and free about a megabyte, which a thread's own arena keeps (RSS grew 8 -> 17 MB over
     * 1,000 connections; flat at 8 MB with two). */
    mallopt(M_ARENA_MAX, 2);
    /* One disk for every connection (a front-end that reconnects finds its data): the
     * image, or RAM all the connections' devices share. Overlapping writes of two
     * concurrent front-ends race as they would on one shared disk. */
    void *ram = NULL;
    if (!image) {
        ram = mmap(NULL, (size_t)capacity, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (ram == MAP_FAILED) {
            fprintf(stderr, "virtiosim serve: cannot allocate %" PRIu64 " bytes of RAM disk\n",
                    capacity);
            return EXIT_INFRA;
        }
    }
    sc.sd = sd;
    sc.sock = sock;
    sc.so_dev = (vs_serve_opts){.image = image, .capacity = capacity, .read_only = ro,
                                .queues = (uint16_t)queues, .seg_max = seg_max,
                                .size_max = size_max, .storage = ram};
    int rc = serve_start(&sc, sock, &e);
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        vs_vhost_server_destroy(sc.srv);
        serve_ctx_free(&sc);
        if (ram)
            munmap(ram, (size_t)capacity);
        return EXIT_INFRA;
    }
    g_server = sc.srv;
    struct sigaction sa = {.sa_handler = on_serve_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s (%" PRIu64 " bytes%s%s) on %s\n", sd->backends->serve_what, capacity,
           ro ? ", read-only" : "", image ? ", image" : "", sock);
    fflush(stdout);
    rc = vs_vhost_server_run(sc.srv, once ? 1 : 0, &e); /* every connection ended */
    g_server = NULL;
    int code = EXIT_PASS;
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        code = EXIT_INFRA;
    } else if (vs_vhost_server_violation_count(sc.srv) ||
               (sc.agg && sc.agg->count[VS_VERDICT_FAIL])) {
        code = EXIT_FAILED; /* the front-end broke vhost-user rules or the driver a statement */
    }
    if (sc.writer_on) { /* stop the writer, then the last reports */
        pthread_mutex_lock(&sc.mu);
        sc.stopping = true;
        pthread_cond_signal(&sc.cv);
        pthread_mutex_unlock(&sc.mu);
        pthread_join(sc.writer, NULL);
        sc.writer_on = false;
    }
    if (sc.report_dir)
        write_all_reports(&sc);
    if (sc.infra_error && code == EXIT_PASS)
        code = EXIT_INFRA;
    vs_vhost_server_destroy(sc.srv);
    serve_ctx_free(&sc);
    if (ram)
        munmap(ram, (size_t)capacity);
    unlink(sock);
    return code;
}

