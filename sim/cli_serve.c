/* `virtiosim serve`: the reference device as a vhost-user back-end for any front-end,
 * judging the front-end's messages and the driver behind it (split from main.c). */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* Per-connection scenarios kept with their own results (the aggregate covers all). */
#define SERVE_KEEP_RESULTS 256u

typedef struct serve_ctx {
    const char *report_dir;
    const char *sock;
    vs_vhost_server *srv;
    const vs_sim_dev *sd;         /* the device served */
    vs_device *dev;
    char started[40];
    /* the driver behind the current connection, judged from the server's events */
    vs_monitors *mon;
    vs_gmem *mon_gm;
    uint64_t mon_features;
    uint64_t conn_done;           /* connections finished */
    uint64_t conn_t0;             /* monotonic ns at the first event of the connection */
    vs_results *agg;              /* all connections merged */
    vs_report_scenario *scn;      /* one per finished connection */
    vs_results **scn_res;         /* owned; NULL beyond SERVE_KEEP_RESULTS */
    char **scn_str;               /* owned name + message strings, 2 per scenario */
    size_t n_scn, cap_scn;
    bool infra_error;
    bool fe_mask_set;             /* --frontend-offers: what the front-end passes on */
    uint64_t fe_mask;
} serve_ctx;

static void serve_mon_start(serve_ctx *sc)
{
    vs_err e = {0};
    if (vs_monitors_create(&sc->mon, sc->dev->gm, sc->sd->device_id, VS_ROLE_DRIVER, &e) < 0) {
        fprintf(stderr, "virtiosim serve: conformance monitors: %s\n", e.msg);
        sc->mon = NULL;
        sc->infra_error = true;
        return;
    }
    char name[48];
    snprintf(name, sizeof name, "connection-%" PRIu64, sc->conn_done + 1);
    vs_monitors_set_scenario(sc->mon, name);
    vs_monitors_set_backend_view(sc->mon, true);
    vs_monitors_set_async_device(sc->mon, true);
    if (sc->fe_mask_set)
        vs_monitors_set_frontend_offer_mask(sc->mon, sc->fe_mask);
    sc->mon_gm = sc->dev->gm;
    sc->mon_features = 0;
    sc->conn_t0 = vs_cli_mono_ns();
}

/* The server's event stream -> the driver-role monitors of the current connection. */
static void serve_on_event(void *opaque, const vs_event *ev)
{
    serve_ctx *sc = opaque;
    if (!sc->mon) {
        serve_mon_start(sc);
        if (!sc->mon)
            return;
    }
    if (sc->dev->gm != sc->mon_gm) { /* the front-end's memory table came or changed */
        vs_monitors_set_gmem(sc->mon, sc->dev->gm);
        sc->mon_gm = sc->dev->gm;
    }
    if (ev->kind == VS_EV_FEATURES_WRITE)
        sc->mon_features = ev->val;
    vs_err e = {0};
    if (vs_vhost_judge_rejection(sc->mon, sc->mon_features, ev, &e) < 0)
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
    vs_monitors_on_event(sc->mon, ev);
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

static void write_conformance_reports(serve_ctx *sc)
{
    vs_report_run run = {
        .tool = "virtiosim",
        .tool_version = VS_VERSION,
        .backend = "vhost-user front-end",
        .backend_version = "unknown (a vhost-user front-end)",
        .started = sc->started,
        .n_scenarios = sc->n_scn,
        .scenarios = sc->scn,
        .aggregate = sc->agg,
        .wall_clock = true, /* a real front-end, in real time */
    };
    vs_err e = {0};
    if (vs_report_write_all(sc->report_dir, &run, &e) < 0) {
        fprintf(stderr, "virtiosim serve: writing reports: %s\n", e.msg);
        sc->infra_error = true;
    }
}

/* Ends the current connection's monitors: one scenario "connection-N" in the reports. */
static void serve_mon_finish(serve_ctx *sc, const vs_vhost_server_stats *st)
{
    if (!sc->mon)
        serve_mon_start(sc); /* a connection without events still gets its scenario */
    if (!sc->mon)
        return;
    vs_err e = {0};
    uint64_t viol = vs_monitors_violations(sc->mon);
    const vs_results *r = NULL;
    if (vs_monitors_finish(sc->mon, sc->mon_features, &e) == 0)
        r = vs_monitors_results(sc->mon);
    if (r && sc->agg && vs_results_merge(sc->agg, r, &e) < 0)
        fprintf(stderr, "virtiosim serve: merging results: %s\n", e.msg);
    if (sc->n_scn == sc->cap_scn) {
        size_t ncap = sc->cap_scn ? 2 * sc->cap_scn : 16;
        vs_report_scenario *a = realloc(sc->scn, ncap * sizeof *a);
        if (a)
            sc->scn = a;
        vs_results **b = a ? realloc(sc->scn_res, ncap * sizeof *b) : NULL;
        if (b)
            sc->scn_res = b;
        char **c = b ? realloc(sc->scn_str, 2 * ncap * sizeof *c) : NULL;
        if (c)
            sc->scn_str = c;
        if (!a || !b || !c) {
            vs_monitors_destroy(sc->mon);
            sc->mon = NULL;
            sc->conn_done++;
            sc->infra_error = true;
            return;
        }
        sc->cap_scn = ncap;
    }
    size_t i = sc->n_scn++;
    vs_results *keep = i < SERVE_KEEP_RESULTS ? serve_results_copy(r) : NULL;
    sc->scn_res[i] = keep;
    char name[48], msg[160];
    snprintf(name, sizeof name, "connection-%" PRIu64, sc->conn_done + 1);
    bool fail = viol || st->rejected;
    snprintf(msg, sizeof msg, "%" PRIu64 " driver statement violation(s), %" PRIu64
             " vhost-user rejection(s)", viol, st->rejected);
    sc->scn_str[2 * i] = strdup(name);
    sc->scn_str[2 * i + 1] = fail ? strdup(msg) : NULL;
    sc->scn[i] = (vs_report_scenario){
        .name = sc->scn_str[2 * i],
        .path = sc->sock,
        .verdict = fail ? VS_SCN_FAIL : VS_SCN_PASS,
        .message = sc->scn_str[2 * i + 1],
        .fail_step = -1,
        .steps_run = st->messages,
        .wall_ns = vs_cli_mono_ns() - sc->conn_t0,
        .device_id = sc->sd->device_id,
        .features = sc->mon_features,
        .results = keep,
    };
    vs_monitors_destroy(sc->mon);
    sc->mon = NULL;
    sc->conn_done++;
}

static void serve_ctx_free(serve_ctx *sc)
{
    vs_monitors_destroy(sc->mon);
    sc->mon = NULL;
    for (size_t i = 0; i < sc->n_scn; i++) {
        vs_results_destroy(sc->scn_res[i]);
        free(sc->scn_str[2 * i]);
        free(sc->scn_str[2 * i + 1]);
    }
    free(sc->scn);
    free(sc->scn_res);
    free(sc->scn_str);
    vs_results_destroy(sc->agg);
}

/* The front-end's verdicts: one entry per vhost-user rule, failed where a message broke it,
 * with the recorded violations as evidence. Written atomically after every connection. */
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
    for (size_t i = 0; i < vs_vhost_server_violation_count(sc->srv); i++) {
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

static void on_disconnect(void *opaque, uint64_t connection, const vs_vhost_server_stats *s,
                          const char *reason)
{
    serve_ctx *sc = opaque;
    uint64_t viol = sc->mon ? vs_monitors_violations(sc->mon) : 0;
    serve_mon_finish(sc, s);
    printf("connection %" PRIu64 ": %" PRIu64 " messages, %" PRIu64 " rejected, %" PRIu64
           " requests, %" PRIu64 " device errors, %" PRIu64 " driver violations (%s)\n",
           connection, s->messages, s->rejected, s->requests, s->device_errors, viol,
           reason ? reason : "disconnected");
    fflush(stdout);
    if (sc->report_dir) {
        write_serve_report(sc);
        write_conformance_reports(sc);
    }
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
    vs_event_bus bus = {0};
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
    vs_gmem *placeholder = NULL; /* the device runs over the front-end's memory once mapped */
    vs_device *d = NULL;
    vs_serve_opts so_dev = {.image = image, .capacity = capacity, .read_only = ro,
                            .queues = (uint16_t)queues, .seg_max = seg_max,
                            .size_max = size_max};
    int rc = vs_gmem_create_flat(&placeholder, 1u << 20, &e);
    if (rc == 0)
        rc = sd->backends->serve_create(placeholder, &so_dev, &d, &e);
    /* The foreign driver is judged per catalogue statement from what the server sees. */
    sc.sd = sd;
    sc.dev = d;
    sc.sock = sock;
    time_t now = time(NULL);
    strftime(sc.started, sizeof sc.started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (rc == 0)
        rc = vs_results_create(&sc.agg, &e);
    if (rc == 0)
        rc = vs_event_bus_add(&bus, serve_on_event, &sc);
    vs_vhost_server_opts so = {.dev = d, .on_disconnect = on_disconnect,
                               .disconnect_opaque = &sc, .bus = &bus,
                               .emit_used = sd->backends->serve_completions};
    if (rc == 0)
        rc = vs_vhost_server_create(&sc.srv, &so, &e);
    if (rc == 0)
        rc = vs_vhost_server_listen(sc.srv, sock, &e);
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        vs_vhost_server_destroy(sc.srv);
        serve_ctx_free(&sc);
        if (d)
            d->ops->destroy(d);
        vs_gmem_destroy(placeholder);
        return EXIT_INFRA;
    }
    g_server = sc.srv;
    struct sigaction sa = {.sa_handler = on_serve_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s (%" PRIu64 " bytes%s%s) on %s\n", sd->backends->serve_what, capacity,
           ro ? ", read-only" : "", image ? ", image" : "", sock);
    fflush(stdout);
    rc = vs_vhost_server_run(sc.srv, once ? 1 : 0, &e);
    g_server = NULL;
    int code = EXIT_PASS;
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        code = EXIT_INFRA;
    } else if (vs_vhost_server_violation_count(sc.srv) ||
               (sc.agg && sc.agg->count[VS_VERDICT_FAIL])) {
        code = EXIT_FAILED; /* the front-end broke vhost-user rules or the driver a statement */
    }
    if (sc.report_dir) {
        write_serve_report(&sc);
        write_conformance_reports(&sc);
    }
    if (sc.infra_error && code == EXIT_PASS)
        code = EXIT_INFRA;
    vs_vhost_server_destroy(sc.srv);
    serve_ctx_free(&sc);
    d->ops->destroy(d);
    vs_gmem_destroy(placeholder);
    unlink(sock);
    return code;
}

