/* virtiosim campaign: hostile inputs against a back-end, a verdict per input, a table per
 * class, findings with their seed:index and minimised input, and the four reports (one
 * row per class) plus campaign.json with every finding. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/backend_dev.h"
#include "sim/campaign.h"
#include "sim/cli.h"
#include "virtiosim/report.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

static volatile int g_stop;
static void on_sig(int sig)
{
    if (g_stop)
        signal(sig, SIG_DFL);
    g_stop = 1;
}

typedef struct camp_cli {
    vs_campaign_opts o;
    const char *classes[64];
    size_t ncls;
    const char *report;
    const char *expected_path;
    vs_expected *expected;
    bool list, replay, quiet;
    uint64_t replay_seed, replay_index;
} camp_cli;

static int list_classes(void)
{
    printf("%-31s %-7s %-38s %s\n", "class", "device", "statement", "safe outcomes");
    for (size_t i = 0; i < vs_camp_all_count(); i++) {
        const char *dev;
        const vs_camp_class *c = vs_camp_all_at(i, &dev);
        printf("%-31s %-7s %-38s %s\n    %s\n", c->name, dev, c->statement, c->safe_text,
               c->violates);
    }
    return EXIT_PASS;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int add_classes(camp_cli *cc, char *arg)
{
    for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
        if (cc->ncls + 1 >= sizeof cc->classes / sizeof cc->classes[0])
            return -1;
        cc->classes[cc->ncls++] = tok;
    }
    cc->classes[cc->ncls] = NULL;
    cc->o.classes = cc->classes;
    return 0;
}

static int parse(int argc, char **argv, camp_cli *cc)
{
    static const struct option opts[] = {
        {"backend", required_argument, 0, 'b'}, {"seed", required_argument, 0, 's'},
        {"count", required_argument, 0, 'n'},   {"class", required_argument, 0, 'c'},
        {"report", required_argument, 0, 'r'},  {"replay", required_argument, 0, 'R'},
        {"list", no_argument, 0, 'l'},          {"qemu", required_argument, 0, 'Q'},
        {"device", required_argument, 0, 'd'},  {"expected", required_argument, 0, 'x'},
        {"observe", required_argument, 0, 'O'}, {"no-minimise", no_argument, 0, 'M'},
        {"verbose", no_argument, 0, 'v'},       {"quiet", no_argument, 0, 'q'},
        {"hang", required_argument, 0, 'H'},    {"ring", required_argument, 0, 'g'},
        {"mutant", required_argument, 0, 'm'},  {"max-deaths", required_argument, 0, 'D'},
        {0, 0, 0, 0},
    };
    cc->o.seed = 1;
    cc->o.count = 1000;
    cc->o.minimise = true;
    cc->o.max_deaths = 20;
    cc->o.backend = "ref";
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "vq", opts, NULL)) != -1;) {
        uint64_t v;
        switch (ch) {
        case 'b': cc->o.backend = optarg; break;
        case 's': if (parse_u64(optarg, &cc->o.seed) < 0) goto bad; break;
        case 'n': if (parse_u64(optarg, &cc->o.count) < 0) goto bad; break;
        case 'c': if (add_classes(cc, optarg) < 0) goto bad; break;
        case 'r': cc->report = optarg; break;
        case 'l': cc->list = true; break;
        case 'Q': cc->o.qemu_path = optarg; break;
        case 'd': cc->o.device = optarg; break;
        case 'x': cc->expected_path = optarg; break;
        case 'M': cc->o.minimise = false; break;
        case 'v': cc->o.verbose = true; break;
        case 'q': cc->quiet = true; break;
        case 'D':
            if (parse_u64(optarg, &cc->o.max_deaths) < 0) goto bad;
            break;
        case 'm':
            if (!(cc->o.mutant = vs_mutant_find(optarg))) {
                fprintf(stderr, "virtiosim campaign: unknown mutant '%s'\n", optarg);
                return -1;
            }
            break;
        case 'g':
            if (!strcmp(optarg, "split"))
                cc->o.rings = VS_CAMP_F_SPLIT;
            else if (!strcmp(optarg, "packed"))
                cc->o.rings = VS_CAMP_F_PACKED;
            else
                goto bad;
            break;
        case 'H':
            if (parse_u64(optarg, &v) < 0 || v == 0 || v > 600000) goto bad;
            cc->o.hang_ms = v;
            break;
        case 'O':
            if (parse_u64(optarg, &v) < 0 || v == 0) goto bad;
            cc->o.observe_ns = v * 1000000ull;
            break;
        case 'R': {
            char *colon = strchr(optarg, ':');
            if (!colon) goto bad;
            *colon = '\0';
            if (parse_u64(optarg, &cc->replay_seed) < 0 ||
                parse_u64(colon + 1, &cc->replay_index) < 0)
                goto bad;
            cc->replay = true;
            break;
        }
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    const char *arg;
    if (!vs_backend_find(cc->o.backend, &arg)) {
        fprintf(stderr, "virtiosim campaign: unknown back-end '%s'\n", cc->o.backend);
        return -1;
    }
    return 0;
bad:
    vs_cli_usage(stderr, "campaign");
    return -1;
}

/* ------------------------------------------------------------------ output */

static bool expected_class(const camp_cli *cc, const char *cls, const char **reason)
{
    char name[96];
    snprintf(name, sizeof name, "campaign/%s", cls);
    const vs_expected_entry *x = cc->expected ? vs_expected_find(cc->expected, name) : NULL;
    if (x && reason)
        *reason = x->reason;
    return x != NULL;
}

static void print_table(const vs_campaign *c)
{
    printf("%-31s %7s %8s %11s %6s %7s %4s %7s %7s %8s\n", "class", "inputs", "survived",
           "needs-reset", "wedged", "crashed", "hung", "dropped", "stalled", "findings");
    for (size_t i = 0; i < vs_campaign_nclasses(c); i++) {
        const vs_camp_class_stats *s = vs_campaign_stats(c, i);
        printf("%-31s %7" PRIu64 " %8" PRIu64 " %11" PRIu64 " %6" PRIu64 " %7" PRIu64
               " %4" PRIu64 " %7" PRIu64 " %7" PRIu64 " %8" PRIu64 "%s\n",
               s->cls->name, s->inputs, s->verdict[VS_CAMP_SURVIVED],
               s->verdict[VS_CAMP_NEEDS_RESET], s->verdict[VS_CAMP_WEDGED],
               s->verdict[VS_CAMP_CRASHED], s->verdict[VS_CAMP_HUNG],
               s->fate[VS_CAMP_FATE_DROPPED], s->fate[VS_CAMP_FATE_STALLED], s->findings,
               s->pruned ? " (pruned: the back-end kept dying)" : s->skipped ? " (some skipped)" : "");
    }
}

static void print_finding(const camp_cli *cc, const vs_camp_finding *f, bool minimised)
{
    char d[256], m[256];
    vs_campaign_describe(&f->in, d, sizeof d);
    printf("  %" PRIu64 ":%" PRIu64 " %s: %s, chain %s: %s\n", f->in.seed, f->in.index, d,
           vs_camp_verdict_name(f->verdict), vs_camp_fate_name(f->fate), f->what);
    if (minimised) {
        vs_campaign_describe(&f->min, m, sizeof m);
        printf("    minimised: %s\n", m);
    }
    printf("    replay: virtiosim campaign --backend %s --replay %" PRIu64 ":%" PRIu64,
           cc->o.backend, f->in.seed, f->in.index);
    for (size_t i = 0; i < cc->ncls; i++)
        printf("%s%s", i ? "," : " --class ", cc->classes[i]);
    if (cc->o.rings)
        printf(" --ring %s", cc->o.rings == VS_CAMP_F_SPLIT ? "split" : "packed");
    if (cc->o.mutant)
        printf(" --mutant %s", cc->o.mutant->name);
    printf("\n");
}

static json_t *input_json(const vs_camp_input *in)
{
    char d[256];
    vs_campaign_describe(in, d, sizeof d);
    json_t *p = json_array();
    for (unsigned i = 0; i < VS_CAMP_NPARAM; i++)
        json_array_append_new(p, json_integer((json_int_t)in->p[i]));
    return json_pack("{s:s, s:s, s:o, s:s}", "class", in->cls->name, "ring",
                     in->ring == VS_RING_PACKED ? "packed" : "split", "knobs", p,
                     "description", d);
}

static int write_json(const camp_cli *cc, const vs_campaign *c, double secs, vs_err *e)
{
    json_t *cls = json_array(), *fs = json_array();
    for (size_t i = 0; i < vs_campaign_nclasses(c); i++) {
        const vs_camp_class_stats *s = vs_campaign_stats(c, i);
        json_t *v = json_object();
        for (int k = 0; k < VS_CAMP_NVERDICT; k++)
            json_object_set_new(v, vs_camp_verdict_name(k), json_integer((json_int_t)s->verdict[k]));
        json_t *fa = json_object();
        for (int k = 0; k < VS_CAMP_NFATE; k++)
            json_object_set_new(fa, vs_camp_fate_name(k), json_integer((json_int_t)s->fate[k]));
        json_array_append_new(cls, json_pack(
            "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:b}", "class", s->cls->name,
            "statement", s->cls->statement, "violates", s->cls->violates, "safe",
            s->cls->safe_text, "inputs", (json_int_t)s->inputs, "skipped",
            (json_int_t)s->skipped, "pruned", (json_int_t)s->pruned, "verdicts", v, "chains",
            fa, "findings",
            (json_int_t)s->findings, "expected", expected_class(cc, s->cls->name, NULL)));
    }
    for (size_t i = 0; i < vs_campaign_nfindings(c); i++) {
        const vs_camp_finding *f = vs_campaign_finding(c, i);
        char id[64];
        snprintf(id, sizeof id, "%" PRIu64 ":%" PRIu64, f->in.seed, f->in.index);
        json_array_append_new(fs, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", id,
                                            "verdict", vs_camp_verdict_name(f->verdict),
                                            "chain", vs_camp_fate_name(f->fate), "what",
                                            f->what, "input", input_json(&f->in), "minimised",
                                            input_json(&f->min)));
    }
    json_t *root = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o}", "schema",
                             "virtiosim-campaign/1", "backend", cc->o.backend,
                             "backend_version", vs_campaign_backend_version(c), "seed",
                             (json_int_t)cc->o.seed, "count", (json_int_t)cc->o.count,
                             "inputs_run", (json_int_t)vs_campaign_inputs_run(c), "restarts",
                             (json_int_t)vs_campaign_restarts(c), "seconds", secs, "classes",
                             cls, "findings", fs);
    /* written beside, then renamed: a reader never sees half a file */
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/campaign.json", cc->report);
    snprintf(tmp, sizeof tmp, "%s/.campaign.json.tmp.%d", cc->report, (int)getpid());
    int rc = json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        unlink(tmp);
        return vs_err_set(e, VS_EIO, "%s: cannot write", path);
    }
    return 0;
}

/* One report row per class: pass (no findings), fail (with the first finding), skipped. */
static int write_reports(const camp_cli *cc, const vs_campaign *c, double secs, vs_err *e)
{
    size_t n = vs_campaign_nclasses(c);
    vs_report_scenario *rows = calloc(n, sizeof *rows);
    char (*names)[96] = calloc(n, sizeof *names);
    char (*msgs)[900] = calloc(n, sizeof *msgs);
    if (!rows || !names || !msgs) {
        free(rows), free(names), free(msgs);
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const vs_camp_class_stats *s = vs_campaign_stats(c, i);
        snprintf(names[i], sizeof names[i], "campaign/%s", s->cls->name);
        int w = snprintf(msgs[i], sizeof msgs[i],
                         "%" PRIu64 " inputs: survived %" PRIu64 ", needs-reset %" PRIu64
                         ", wedged %" PRIu64 ", crashed %" PRIu64 ", hung %" PRIu64
                         "; chains dropped %" PRIu64 ", stalled %" PRIu64 "; findings %" PRIu64
                         "; skipped %" PRIu64 " (%" PRIu64 " after the back-end kept dying)",
                         s->inputs, s->verdict[0], s->verdict[1], s->verdict[2], s->verdict[3],
                         s->verdict[4], s->fate[VS_CAMP_FATE_DROPPED],
                         s->fate[VS_CAMP_FATE_STALLED], s->findings, s->skipped, s->pruned);
        for (size_t k = 0; k < vs_campaign_nfindings(c) && w > 0 && (size_t)w < sizeof msgs[i]; k++) {
            const vs_camp_finding *f = vs_campaign_finding(c, k);
            if (f->in.cls != s->cls)
                continue;
            char m[200];
            vs_campaign_describe(&f->min, m, sizeof m);
            snprintf(msgs[i] + w, sizeof msgs[i] - (size_t)w,
                     "; first %" PRIu64 ":%" PRIu64 " (%s, chain %s; minimised: %s): %s",
                     f->in.seed, f->in.index, vs_camp_verdict_name(f->verdict),
                     vs_camp_fate_name(f->fate), m, f->what);
            break;
        }
        const char *reason = NULL;
        bool xf = expected_class(cc, s->cls->name, &reason);
        rows[i] = (vs_report_scenario){
            .name = names[i], .path = "campaign", .seed = cc->o.seed, .message = msgs[i],
            .fail_step = -1, .steps_run = s->inputs, .device_id = 0,
            .verdict = !s->inputs ? VS_SCN_SKIPPED : s->findings ? VS_SCN_FAIL : VS_SCN_PASS,
            .expect = !xf ? VS_REPORT_EXPECT_NONE
                          : s->findings ? VS_REPORT_EXPECT_FAIL : VS_REPORT_EXPECT_XPASS,
            .expect_reason = reason, .wall_ns = (uint64_t)(secs * 1e9 / (double)n)};
    }
    char started[32];
    time_t now = time(NULL);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    vs_report_run run = {.tool = "virtiosim", .tool_version = VS_VERSION,
                         .backend = cc->o.backend,
                         .backend_version = vs_campaign_backend_version(c),
                         .started = started, .suite = "campaign", .interrupted = g_stop,
                         .n_scenarios = n, .scenarios = rows,
                         .expected_file = cc->expected ? cc->expected->path : NULL};
    int rc = vs_report_write_all(cc->report, &run, e);
    if (rc == 0)
        rc = write_json(cc, c, secs, e);
    free(rows), free(names), free(msgs);
    return rc;
}

/* ------------------------------------------------------------------ commands */

static int replay(camp_cli *cc, vs_campaign *c)
{
    vs_camp_input in;
    vs_campaign_input(c, cc->replay_seed, cc->replay_index, &in);
    char d[256], what[400];
    vs_campaign_describe(&in, d, sizeof d);
    enum vs_camp_verdict v;
    enum vs_camp_fate fate;
    bool skipped;
    vs_err e = {0};
    if (vs_campaign_run_one(c, &in, &v, &fate, &skipped, what, sizeof what, &e) < 0) {
        fprintf(stderr, "virtiosim campaign: %s\n", e.msg);
        return EXIT_INFRA;
    }
    printf("%" PRIu64 ":%" PRIu64 " %s: %s, chain %s: %s\n", in.seed, in.index, d,
           skipped ? "skipped" : vs_camp_verdict_name(v), vs_camp_fate_name(fate), what);
    if (skipped)
        return EXIT_PASS;
    return vs_campaign_is_finding(in.cls, v, fate) ? EXIT_FAILED : EXIT_PASS;
}

static int run(camp_cli *cc, vs_campaign *c)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vs_err e = {0};
    int rc = vs_campaign_run(c, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t n = vs_campaign_inputs_run(c);
    printf("campaign: --backend %s (%s), seed %" PRIu64 ", %" PRIu64 " of %" PRIu64
           " inputs, %zu classes\n", cc->o.backend, vs_campaign_backend_version(c),
           cc->o.seed, n, cc->o.count, vs_campaign_nclasses(c));
    print_table(c);
    size_t nf = vs_campaign_nfindings(c);
    unsigned unexpected = 0;
    if (nf)
        printf("findings (%zu):\n", nf);
    for (size_t i = 0, shown = 0; i < nf; i++) {
        const vs_camp_finding *f = vs_campaign_finding(c, i);
        bool first = true;   /* the first of its kind was minimised */
        for (size_t k = 0; k < i; k++) {
            const vs_camp_finding *g = vs_campaign_finding(c, k);
            first &= !(g->in.cls == f->in.cls && g->verdict == f->verdict && g->fate == f->fate);
        }
        unexpected += !expected_class(cc, f->in.cls->name, NULL);
        if (first || (shown < 20 && !cc->quiet)) {
            print_finding(cc, f, first && cc->o.minimise);
            shown++;
        }
    }
    printf("rate: %" PRIu64 " inputs in %.2f s (%.0f inputs/s); back-end restarts %" PRIu64 "\n",
           n, secs, secs > 0 ? (double)n / secs : 0.0, vs_campaign_restarts(c));
    if (rc < 0)
        fprintf(stderr, "virtiosim campaign: %s\n", e.msg);
    if (cc->report) {
        vs_err we = {0};
        if (write_reports(cc, c, secs, &we) < 0) {
            fprintf(stderr, "virtiosim campaign: reports: %s\n", we.msg);
            return EXIT_INFRA;
        }
        printf("reports: %s/{%s,%s,%s,%s,campaign.json}\n", cc->report, VS_REPORT_JSON,
               VS_REPORT_JUNIT, VS_REPORT_KTAP, VS_REPORT_HTML);
    }
    if (rc < 0)
        return EXIT_INFRA;
    return unexpected ? EXIT_FAILED : EXIT_PASS;
}

static int load_expected(camp_cli *cc)
{
    if (!cc->expected_path)
        return 0;
    vs_err e = {0};
    const char *arg;
    const vs_backend *be = vs_backend_find(cc->o.backend, &arg);
    char fam[32];
    snprintf(fam, sizeof fam, "%s", strcmp(be->name, "pci") == 0 ? "ref" : be->name);
    if (fam[0] && fam[strlen(fam) - 1] == ':')
        fam[strlen(fam) - 1] = '\0';
    if (vs_expected_load(cc->expected_path, &cc->expected, &e) < 0 ||
        vs_expected_bind(cc->expected, fam, &e) < 0) {
        fprintf(stderr, "virtiosim campaign: %s\n", e.msg);
        return -1;
    }
    return 0;
}

int vs_cli_campaign(int argc, char **argv)
{
    camp_cli cc = {0};
    if (parse(argc, argv, &cc) < 0)
        return EXIT_USAGE;
    if (cc.list)
        return list_classes();
    if (load_expected(&cc) < 0) {
        vs_expected_free(cc.expected);
        return EXIT_USAGE;
    }
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    cc.o.stop = &g_stop;
    vs_campaign *c;
    vs_err e = {0};
    if (vs_campaign_create(&c, &cc.o, &e) < 0) {
        fprintf(stderr, "virtiosim campaign: %s\n", e.msg);
        vs_expected_free(cc.expected);
        return EXIT_USAGE;
    }
    int rc = cc.replay ? replay(&cc, c) : run(&cc, c);
    vs_campaign_destroy(c);
    vs_expected_free(cc.expected);
    return rc;
}
