/* Conformance: the statement catalogue (conformance/catalogue.tsv, embedded at build
 * time), the monitors that check an event stream + guest memory against it, and the
 * verdict types a report writer (layer 3) turns into JSON / JUnit / KTAP / HTML.
 *
 * Monitors work from events and guest memory only, never from device internals, so the
 * same checks run against the in-process reference device, QEMU and vhost-user
 * back-ends (for those only driver-side events and guest memory exist).
 *
 * Lifetime: one vs_monitors per scenario run; vs_monitors_finish turns what was seen
 * into a vs_results (one verdict per catalogue statement + one result per check);
 * vs_results_merge folds several scenarios into a per-run aggregate. */
#ifndef VIRTIOSIM_CONFORMANCE_H
#define VIRTIOSIM_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"

/* ------------------------------------------------------------------ catalogue */

enum vs_role { VS_ROLE_DEVICE = 1u << 0, VS_ROLE_DRIVER = 1u << 1, VS_ROLE_BOTH = 3 };

enum vs_level { VS_LEVEL_MUST, VS_LEVEL_MUST_NOT, VS_LEVEL_SHOULD, VS_LEVEL_SHOULD_NOT };

/* The catalogue's `check` column, by its prefix. */
enum vs_check_method { VS_METHOD_OBSERVE, VS_METHOD_PROVOKE, VS_METHOD_UNTESTABLE };

typedef struct vs_statement {
    const char *id;          /* "split.device.used-ring.2" */
    const char *area;        /* generic split packed pci blk scsi console */
    enum vs_role role;       /* VS_ROLE_DEVICE or VS_ROLE_DRIVER */
    enum vs_level level;
    const char *label;       /* spec section label */
    const char *clause;      /* conformance clause, "-" if none */
    const char *feature;     /* feature expression: "-", "NAME", "!NAME", "A&B", "A|B" */
    const char *paraphrase;  /* our own words */
    const char *check;       /* full check column, "observe: ...", "untestable: ..." */
    enum vs_check_method method;
    const char *check_text;  /* check column after the "method: " prefix */
    const char *source;      /* "file.tex:123" in the spec sources */
} vs_statement;

size_t vs_catalogue_count(void);
/* NULL if i >= count. Statements are in catalogue (file) order. */
const vs_statement *vs_catalogue_at(size_t i);
/* Index of a statement by id, or -1. */
long vs_catalogue_index(const char *id);
const vs_statement *vs_catalogue_find(const char *id);

const char *vs_role_name(enum vs_role r);          /* "device" / "driver" / "both" */
const char *vs_level_name(enum vs_level l);        /* "MUST", "MUST NOT", ... */
const char *vs_check_method_name(enum vs_check_method m);

/* Evaluates a feature expression against a feature set of device type device_id
 * (enum vs_device_id). Names resolve through vs_feature_bit; a device-specific name of
 * another device type (VIRTIO_SCSI_F_* on blk) is simply absent. Returns 0 and sets
 * *out, or -VS_EINVAL for a malformed expression or an unknown name. `&` binds tighter
 * than `|`. */
/* The device id a catalogue area names ("blk", "scsi", ...), 0 for the device-independent
 * areas (generic, split, packed, pci). */
uint32_t vs_catalogue_area_device(const char *area);

int vs_feature_expr_eval(uint32_t device_id, const char *expr, uint64_t features,
                         bool *out, vs_err *e);

/* ------------------------------------------------------------------- verdicts */

enum vs_verdict {
    VS_VERDICT_NOT_EXERCISED = 0,  /* applicable, a check exists, it never ran */
    VS_VERDICT_PASS,               /* exercised, never violated */
    VS_VERDICT_FAIL,               /* violated at least once (see evidence) */
    VS_VERDICT_NOT_APPLICABLE,     /* feature expression false for negotiated features */
    VS_VERDICT_UNTESTABLE,         /* catalogue says untestable (reason = its text) */
    VS_VERDICT_NO_CHECK,           /* no monitor check yet; report as not exercised
                                      with reason "no check implemented" */
    VS_VERDICT_COUNT
};

/* "pass", "fail", "not_exercised", "not_applicable", "untestable", "no_check". */
const char *vs_verdict_name(enum vs_verdict v);

#define VS_EVIDENCE_MAX 4
#define VS_EV_TEXT_MAX 160

/* One observed violation. Strings are NUL-terminated (truncated if long). */
typedef struct vs_evidence {
    char check[48];               /* check name (registry) that saw it */
    char scenario[64];
    uint32_t step;                /* scenario step index (VS_EV_STEP val) */
    char step_desc[96];
    uint64_t t_ns;                /* virtual time of the event */
    int32_t queue;                /* -1 when not about a queue */
    bool has_id, has_idx;
    uint32_t id;                  /* chain id (split head / packed buffer id) */
    uint32_t idx;                 /* used / avail index involved */
    char expected[VS_EV_TEXT_MAX];
    char seen[VS_EV_TEXT_MAX];
} vs_evidence;

/* Formats "scenario S step N (desc) t=...ns queue Q id I idx X: expected ..., seen ...". */
size_t vs_evidence_format(const vs_evidence *ev, char *buf, size_t len);

typedef struct vs_stmt_result {
    const vs_statement *st;
    enum vs_verdict verdict;
    char reason[160];             /* why not pass/fail: untestable text, "no check
                                     implemented", "feature expression false: ...",
                                     "driver role not monitored", ... */
    char checks[96];              /* comma-separated names of the checks covering it */
    bool device_level;            /* every check covering it is device_level */
    uint64_t exercised;           /* times a covering check evaluated it */
    uint64_t violations;          /* times it was violated (evidence keeps the first) */
    unsigned n_evidence;
    vs_evidence evidence[VS_EVIDENCE_MAX];
} vs_stmt_result;

/* Result of one check (a check may cover several statements, or none when it guards a
 * device-type rule the catalogue has no row for, e.g. blk status byte values). */
typedef struct vs_check_result {
    const struct vs_check_info *check;
    uint64_t exercised, violations;
    unsigned n_evidence;
    vs_evidence evidence[VS_EVIDENCE_MAX];
} vs_check_result;

typedef struct vs_results {
    char scenario[64];            /* one scenario, or "" for a merged aggregate */
    unsigned n_scenarios;         /* scenarios merged into this result */
    size_t n_stmt;                /* == vs_catalogue_count() */
    vs_stmt_result *stmt;         /* catalogue order */
    size_t n_check;               /* == vs_check_count() */
    vs_check_result *check;       /* registry order */
    size_t count[VS_VERDICT_COUNT]; /* statements per verdict */
} vs_results;

/* An empty aggregate (every statement not_exercised / untestable / no_check). */
int vs_results_create(vs_results **out, vs_err *e);
void vs_results_destroy(vs_results *r);
/* Folds one scenario's results into an aggregate: fail > pass > not_exercised >
 * not_applicable; untestable / no_check are properties of the statement. Evidence and
 * counters are accumulated (first VS_EVIDENCE_MAX evidence kept). Evidence of a
 * device-level statement or check equal in check, expected and seen to evidence already
 * kept is dropped: the same device property seen by every scenario is one finding. */
int vs_results_merge(vs_results *into, const vs_results *from, vs_err *e);
const vs_stmt_result *vs_results_find(const vs_results *r, const char *id);
/* Failed statements that are not device_level: what fails a scenario. */
size_t vs_results_scenario_failures(const vs_results *r);
/* Recomputes r->count[] from r->stmt[].verdict. */
void vs_results_recount(vs_results *r);

/* ------------------------------------------------------------------- registry */

typedef struct vs_check_info {
    const char *name;             /* "used-len-bound" */
    enum vs_role role;            /* which side it checks */
    const char *area;             /* generic / split / packed / blk */
    const char *what;             /* one-line description */
    const char *const *ids;       /* statement ids it covers, NULL-terminated */
    /* Judged from what the device presents (offered features, config layout and values),
     * not from a scenario's own steps: the same for every scenario on one device. Its
     * violations are device findings, reported once per run; they do not fail the
     * scenario that happened to see them (runner.h). */
    bool device_level;
} vs_check_info;

size_t vs_check_count(void);
const vs_check_info *vs_check_at(size_t i);
const vs_check_info *vs_check_find(const char *name);
/* Checks covering statement `id`: fills up to max pointers, returns the total count. */
size_t vs_checks_for_statement(const char *id, const vs_check_info **out, size_t max);
/* true when statement `id` has checks and all of them are device_level. */
bool vs_statement_device_level(const char *id);

/* ------------------------------------------------------------------- monitors */

typedef struct vs_monitors vs_monitors;

/* gm: the guest memory the rings and buffers live in (read only by monitors).
 * device_id: enum vs_device_id. roles: VS_ROLE_DEVICE (check the device under test),
 * VS_ROLE_DRIVER (check the driver), or both. */
int vs_monitors_create(vs_monitors **out, vs_gmem *gm, uint32_t device_id,
                       unsigned roles, vs_err *e);
void vs_monitors_destroy(vs_monitors *m);

/* A vs_event_fn: add it to a bus with vs_event_bus_add(bus, vs_monitors_on_event, m). */
void vs_monitors_on_event(void *opaque, const vs_event *ev);

/* Context for evidence (also taken from VS_EV_STEP events). */
void vs_monitors_set_scenario(vs_monitors *m, const char *name);
void vs_monitors_set_step(vs_monitors *m, uint32_t index, const char *desc);
/* false when the back-end runs without interrupts (polling): the "device must notify"
 * checks are then not evaluated. Default true. */
void vs_monitors_set_interrupts_observable(vs_monitors *m, bool on);

/* true when the device runs asynchronously to the monitors (QEMU, vhost-user): an
 * interrupt is then seen after the fact, against ring memory the driver may already have
 * moved on, so "interrupted when it should not have" / "did not interrupt" cannot be
 * attributed and those checks are not evaluated. Default false (in-process back-end). */
void vs_monitors_set_async_device(vs_monitors *m, bool async);
/* In-process back-end: the longest time from the device deciding to interrupt to the
 * interrupt's delivery (the ref transport's irq_latency_ns). A crossing of used_event
 * (EVENT_IDX) with no interrupt within it is a violation. Default 500 ns. */
void vs_monitors_set_irq_latency(vs_monitors *m, uint64_t ns);
/* true when the device's PCI function has an SR-IOV extended capability (then it may
 * offer VIRTIO_F_SR_IOV). Default false: the in-process transports have none, and the
 * PCI probe does not read extended capabilities yet. */
void vs_monitors_set_sriov_capable(vs_monitors *m, bool on);
/* The scenario makes the in-process device break the offer rules on purpose, to see what
 * the driver does (`extra_features: [bit50, SR_IOV]`, `withhold_features: [VERSION_1]`):
 * the device-role offer checks disregard those bits (added: offered against the rules;
 * withheld: not offered although required). Default none. */
void vs_monitors_set_offer_provoked(vs_monitors *m, uint64_t added, uint64_t withheld);
/* The device's config region is longer than its type specifies (a provocation, or a newer
 * device): larger-config-tolerated expects the driver to go on to DRIVER_OK. */
void vs_monitors_set_config_larger(vs_monitors *m, bool on);

/* true when the events come from a device back-end's side of the transport (the
 * vhost-user server): there is no status register to observe, so the status-order driver
 * checks (init-order, no-kick-before-driver-ok, abandon-after-refusal) are not evaluated;
 * kicks and publishes are seen when the device gets to them, not when the driver made its
 * notification decision, so the notification-suppression driver checks (kick-when-needed,
 * kick-only-when-needed) are not evaluated either; and a VS_EV_QUEUE_SETUP carries the
 * ring's starting avail index in `idx` (the vhost-user ring base), since the driver may
 * already have published chains when the back-end starts the ring. Default false. */
void vs_monitors_set_backend_view(vs_monitors *m, bool on);
/* Backend view: a front-end between the driver and the back-end (QEMU's vhost-user proxy
 * devices) offers its driver only part of what the back-end offers (QEMU drops
 * RING_PACKED unless packed=on). mask: the bits it passes on. The driver checks about
 * offered features ("accepts X whenever offered") then judge what the driver was offered
 * (the back-end's offer & mask); without a mask they are not evaluated in backend view,
 * since the back-end's own offer is not what the driver saw. */
void vs_monitors_set_frontend_offer_mask(vs_monitors *m, uint64_t mask);
/* The guest memory the monitors read from now on (a back-end that gets the driver's memory
 * only after the run started, or gets it replaced). NULL is ignored. */
void vs_monitors_set_gmem(vs_monitors *m, vs_gmem *gm);

/* Records a driver violation someone else detected: a device back-end that rejected a
 * chain the driver made available (its memory is not trustworthy enough to re-walk).
 * statement_id must name a driver-role statement covered by a driver check; the evidence
 * (check = that check, the current scenario/step/time) says `expected`, `seen`. queue -1
 * and has_id false when not about a chain. Returns 0, or -VS_EINVAL for an unknown or
 * non-driver statement, or one no driver check covers (nothing recorded). */
int vs_monitors_report_driver_violation(vs_monitors *m, const char *statement_id,
                                        int32_t queue, bool has_id, uint32_t id,
                                        const char *expected, const char *seen, vs_err *e);

/* Ends the run: evaluates end-of-run checks, then computes a verdict per statement
 * (applicability from negotiated_features). The results stay owned by m and are valid
 * until vs_monitors_destroy; finish may be called once. */
int vs_monitors_finish(vs_monitors *m, uint64_t negotiated_features, vs_err *e);
const vs_results *vs_monitors_results(const vs_monitors *m);
/* Total violations recorded so far (any statement or check). */
uint64_t vs_monitors_violations(const vs_monitors *m);

#endif
