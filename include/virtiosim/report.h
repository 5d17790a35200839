/* Reports: what `--report DIR` writes at the end of a run (or from the runner's cleanup
 * path after SIGINT, with whatever finished):
 *
 *   results.json   machine-readable, schema "virtiosim-results/1" (reports/README.md)
 *   junit.xml      one <testsuite> for the scenarios + one per conformance clause
 *   results.ktap   KTAP version 1 (Linux Documentation/dev-tools/ktap.rst)
 *   report.html    one self-contained, well-formed XHTML page: statement matrix with
 *                  filters, failures with evidence, a timeline (inline SVG) per scenario
 *
 * Every file is written atomically: DIR/.NAME.tmp.PID, fsync, rename, fsync(DIR). A
 * reader never sees a half-written report; a failed write leaves the old file in place.
 *
 * Inputs are borrowed: the runner (layer 4) fills a vs_report_run that points at its
 * own scenario records, vs_results (conformance.h) and timelines; nothing is copied or
 * freed here. Any pointer may be NULL (an interrupted run has holes); writers then print
 * what is there. Statements are grouped by their conformance clause (vs_statement.clause)
 * in every human-readable output. */
#ifndef VIRTIOSIM_REPORT_H
#define VIRTIOSIM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "virtiosim/conformance.h"
#include "virtiosim/error.h"
#include "virtiosim/event.h"

/* ------------------------------------------------------------------- timeline */

/* A compact record of the events the HTML timeline draws: KICK, DOORBELL, FETCH, USED,
 * IRQ, DEVICE_ERROR, CONFIG_CHANGE (everything else is ignored). One per scenario; add
 * it to the scenario's bus with vs_event_bus_add(bus, vs_timeline_on_event, tl).
 *
 * Capped at `cap` marks (VS_TIMELINE_CAP_DEFAULT when 0). Beyond the cap the timeline
 * keeps a uniform, deterministic systematic sample: every offered mark gets an ordinal
 * n = 0, 1, 2, ...; a mark is kept iff n % stride == 0. The stride starts at 1 and
 * doubles each time the buffer fills (the buffer is then compacted to the marks whose
 * ordinal is a multiple of the new stride), so at any time the kept marks are every
 * stride-th mark of the whole run, between cap/2 and cap of them. The rare kinds
 * DEVICE_ERROR and CONFIG_CHANGE are exempt from sampling (always kept) as long as they
 * make up at most a quarter of the cap. Per-kind totals stay exact. */
#define VS_TIMELINE_CAP_DEFAULT 20000u

typedef struct vs_timeline vs_timeline;

typedef struct vs_timeline_mark {
    uint64_t t_ns;
    uint32_t ordinal;       /* n-th mark offered (saturates at UINT32_MAX) */
    int16_t queue;          /* -1: not about a queue (config interrupt, config change) */
    uint8_t kind;           /* enum vs_event_kind */
    uint8_t pad;
} vs_timeline_mark;

int vs_timeline_create(vs_timeline **out, size_t cap, vs_err *e);
void vs_timeline_destroy(vs_timeline *tl);
/* A vs_event_fn. Never fails; never allocates after create. */
void vs_timeline_on_event(void *opaque, const vs_event *ev);
/* Kept marks, in arrival order. */
size_t vs_timeline_count(const vs_timeline *tl);
const vs_timeline_mark *vs_timeline_marks(const vs_timeline *tl);
/* Marks offered (kept or not), in total and per kind. */
uint64_t vs_timeline_offered(const vs_timeline *tl);
uint64_t vs_timeline_offered_kind(const vs_timeline *tl, enum vs_event_kind k);
/* Current sampling stride (1 = nothing dropped). */
uint32_t vs_timeline_stride(const vs_timeline *tl);
/* Largest virtual time and queue index seen (-1 if no queue). */
uint64_t vs_timeline_t_max(const vs_timeline *tl);
int vs_timeline_max_queue(const vs_timeline *tl);
/* true for the kinds a timeline records. */
bool vs_timeline_kind_recorded(enum vs_event_kind k);

/* ------------------------------------------------------------ run description */

enum vs_scn_verdict {
    VS_SCN_PASS = 0,     /* ran to the end, no expectation failed, no violation */
    VS_SCN_FAIL,         /* an expectation failed or a monitor saw a violation */
    VS_SCN_ERROR,        /* scenario or back-end error: could not run to the end */
    VS_SCN_SKIPPED,      /* not run (unsupported by the back-end, interrupted, ...) */
    VS_SCN_NOT_APPLICABLE, /* a precondition on the device is unmet (the device under test
                            * or its profile does not offer what the scenario is about) */
    VS_SCN_VERDICT_COUNT
};

/* "pass", "fail", "error", "skipped", "not_applicable". */
const char *vs_scn_verdict_name(enum vs_scn_verdict v);

/* A scenario's standing against the run's expected-results file (--expected FILE). */
enum vs_report_expect {
    VS_REPORT_EXPECT_NONE = 0,    /* not listed, or listed and not run */
    VS_REPORT_EXPECT_FAIL,        /* listed and failed: a known non-conformance */
    VS_REPORT_EXPECT_XPASS,       /* listed and passed: the file is out of date */
};

/* A statement the expected-results file lists: expected to fail wherever exercised. */
typedef struct vs_report_expected_stmt {
    const char *id;
    const char *reason;
} vs_report_expected_stmt;

typedef struct vs_report_scenario {
    const char *name;             /* "blk/read-basic" */
    const char *path;             /* scenario file */
    uint64_t seed;
    const char *trace_digest;     /* hex, NULL if no trace was taken */
    enum vs_scn_verdict verdict;
    const char *message;          /* failure / error / skip message, NULL if none */
    long fail_step;               /* step index of the failure, -1 if none */
    const char *fail_step_desc;   /* that step's description, NULL if none */
    uint64_t steps_run;
    uint64_t virtual_ns;          /* virtual time at the end */
    uint64_t wall_ns;             /* wall time taken: nondeterministic, never digested */
    uint32_t device_id;           /* enum vs_device_id, for feature names; 0 if unknown */
    uint64_t features;            /* negotiated */
    const char *feature_names;    /* "VERSION_1|EVENT_IDX"; NULL: derived from
                                     device_id + features with vs_features_format */
    const vs_results *results;    /* this scenario's verdicts, NULL if none */
    const vs_timeline *timeline;  /* NULL: no timeline in the HTML */
    enum vs_report_expect expect;
    const char *expect_reason;    /* the file's reason, with EXPECT_FAIL / EXPECT_XPASS */
    /* Without a timeline: its counts as results.json recorded them (`report merge`
     * rebuilds scenarios from JSON). Ignored when timeline is set. */
    bool has_timeline_counts;
    uint64_t tl_offered, tl_kept, tl_stride;
} vs_report_scenario;

/* A device config field as the driver read it (the identity section of the reports). */
typedef struct vs_report_cfg_value {
    const char *name;             /* "capacity", from the device class */
    uint32_t off, len;
    uint64_t value;               /* little-endian decoded */
} vs_report_cfg_value;

/* What the device under test presented: its identity at the top of every report, taken
 * from the first scenario that reached the device (a real back-end presents the same
 * device to every scenario; the reference devices are configured per scenario). */
typedef struct vs_report_device {
    const char *scenario;         /* whose view this is */
    uint32_t device_id;           /* enum vs_device_id */
    const char *device_name;      /* "blk", NULL if unknown */
    bool offered_known;
    uint64_t offered;             /* features the device offered (reserved bits included) */
    uint64_t negotiated;          /* features the driver accepted in that scenario */
    size_t n_config;
    const vs_report_cfg_value *config;
} vs_report_device;

typedef struct vs_report_run {
    const char *tool;             /* "virtiosim" */
    const char *tool_version;     /* VS_VERSION */
    const char *backend;          /* "ref", "qemu", "vhost-user:/run/x.sock", ... */
    const char *backend_version;  /* "QEMU emulator version 7.2.0", ... */
    const char *started;          /* wall-clock start, e.g. RFC 3339. The only
                                     nondeterministic run field; never digested */
    const char *suite;            /* NULL unless `virtiosim suite NAME` */
    bool interrupted;             /* SIGINT: the report covers only what finished */
    size_t n_scenarios;
    const vs_report_scenario *scenarios;
    /* Merged over all scenarios (vs_results_merge). NULL: the writers merge the
     * scenarios' results themselves (and print no statements if that fails). */
    const vs_results *aggregate;
    /* Known non-conformances (--expected FILE), or NULL. Every writer counts an expected
     * failure as the exit code does: not a failure. A failed statement is expected when
     * the file lists it, or when it failed only in scenarios expected to fail. */
    const char *expected_file;
    const vs_report_expected_stmt *expected_stmts;
    size_t n_expected_stmts;
    /* The expected-results file names another version than the back-end reports (both
     * set only then): results.json says so in `expected_version_mismatch`. */
    const char *expected_version;         /* the file's `version:` */
    const char *expected_version_seen;    /* the back-end's version number */
    /* --shard K/N: this run is part K of N of a list of shard_total scenarios (the list's
     * indexes i with i % N == K - 1). shard_n 0: not sharded. */
    unsigned shard_k, shard_n;
    size_t shard_total;
    /* The device under test as presented, or NULL (nothing reached a device). */
    const vs_report_device *device;
    /* true when the times are wall-clock (a real back-end), false when virtual. */
    bool wall_clock;
} vs_report_run;

/* ------------------------------------------------------------------- writers */

#define VS_REPORT_JSON "results.json"
#define VS_REPORT_JUNIT "junit.xml"
#define VS_REPORT_KTAP "results.ktap"
#define VS_REPORT_HTML "report.html"
#define VS_RESULTS_SCHEMA "virtiosim-results/1.1"
/* The schemas `report merge` and `report diff` read (1 has no device sections). */
#define VS_RESULTS_SCHEMA_1_0 "virtiosim-results/1"

/* Each writes one file into dir (created, with parents, if missing), atomically. */
/* Creates dir and its missing parents (a report folder). */
int vs_report_mkdir(const char *dir, vs_err *e);
int vs_report_write_json(const char *dir, const vs_report_run *run, vs_err *e);
int vs_report_write_junit(const char *dir, const vs_report_run *run, vs_err *e);
int vs_report_write_ktap(const char *dir, const vs_report_run *run, vs_err *e);
int vs_report_write_html(const char *dir, const vs_report_run *run, vs_err *e);

/* All four. Safe to call from the runner's cleanup path after SIGINT (not from the
 * signal handler itself: it allocates) with a partially filled run. Keeps going after
 * a failed file and returns the first error (0 if all four were written). */
int vs_report_write_all(const char *dir, const vs_report_run *run, vs_err *e);

/* The same documents to a stream (e.g. KTAP on stdout). Not atomic. */
int vs_report_json_fp(FILE *f, const vs_report_run *run, vs_err *e);
int vs_report_junit_fp(FILE *f, const vs_report_run *run, vs_err *e);
int vs_report_ktap_fp(FILE *f, const vs_report_run *run, vs_err *e);
int vs_report_html_fp(FILE *f, const vs_report_run *run, vs_err *e);

/* Digest of results.json's deterministic content: SHA-256 (hex, 64 chars + NUL) of the
 * document without "started", "wall_ns" and "content_digest", serialized compactly with
 * sorted keys. Same scenarios + seeds + back-end => same digest. Also stored in
 * results.json as "content_digest". */
int vs_report_content_digest(const vs_report_run *run, char out[65], vs_err *e);

/* --------------------------------------------------------------------- merge */

typedef struct vs_report_merge_stats {
    size_t scenarios;
    size_t scn_count[VS_SCN_VERDICT_COUNT]; /* VS_SCN_FAIL: unexpected failures only */
    size_t scn_xfail, scn_xpass;
    size_t stmt_fail;                       /* unexpected statement failures */
    bool interrupted;
} vs_report_merge_stats;

/* Merges the results.json of several runs (typically the shards of one --shard K/N run)
 * into one run and writes the four reports into out_dir. The run is rebuilt from the
 * JSON: scenarios in their unsharded order when every input is a shard of the same list
 * (all N present, once), else in argument order; the aggregate by vs_results_merge of
 * each input's statements, evidence re-ordered by scenario. Inputs must agree on schema,
 * back-end, suite and expected-results file. Timelines are not kept (report.html has
 * none). -VS_EINVAL for unreadable or disagreeing inputs, -VS_EIO for a failed write. */
int vs_report_merge(const char *out_dir, const char *const *inputs, size_t n,
                    vs_report_merge_stats *stats, vs_err *e);

/* ---------------------------------------------------------------------- diff */

typedef struct vs_report_diff_stats {
    unsigned changes;             /* lines printed: statements + scenarios changed */
    unsigned stmt_changes;
    unsigned scn_changes;
    unsigned stmt_regressions;    /* statements pass -> fail */
    unsigned scn_regressions;     /* scenarios pass -> fail/error */
} vs_report_diff_stats;

/* Compares two results.json files and prints one line per change to out (may be NULL):
 *   statement blk.device.blk-op.3: pass -> fail
 *   scenario blk/read-basic: pass -> error
 * ("absent" for an id or scenario only one side has). Returns the number of changes
 * (>= 0), or a negative VS_E* (unreadable file, not a virtiosim-results/1 document). */
int vs_report_diff(const char *old_json_path, const char *new_json_path, FILE *out,
                   vs_err *e);
/* Same, also filling *stats (may be NULL). `virtiosim report diff` exits 1 when
 * stats.stmt_regressions > 0. */
int vs_report_diff_ex(const char *old_json_path, const char *new_json_path, FILE *out,
                      vs_report_diff_stats *stats, vs_err *e);

/* ------------------------------------------------------------------- helpers */

/* Writes s to f escaped for XML 1.0 text (attr=false) or a double- or single-quoted
 * attribute value (attr=true): & < > " ' become references; in attributes also TAB,
 * LF, CR (so they survive attribute normalization), in text CR. Characters XML 1.0
 * cannot carry at all (other C0 controls, U+FFFE/U+FFFF) and DEL are written as the
 * visible text "\xNN" / "\u{FFFE}"; bytes that are not valid UTF-8 (overlongs and
 * surrogates included) become U+FFFD. NULL is "". */
void vs_xml_escape(FILE *f, const char *s, bool attr);

/* A malloc'd copy of s with every byte that is not part of valid UTF-8 (overlongs and
 * surrogates included) replaced by U+FFFD. NULL for NULL s or when out of memory. */
char *vs_utf8_sanitize(const char *s);

/* Human-readable clause name: the statement's clause, or "Other statements" for "-"
 * and "". */
const char *vs_report_clause_name(const vs_statement *st);

#endif
