/* Trace: an event sink (vs_event_fn) that turns every vs_event into one JSON Lines
 * record with a stable key order, feeds every byte to SHA-256 and optionally writes it
 * to a FILE*. Same events => byte-identical lines => same digest, on any machine: no
 * pointers, no wall-clock values, integers only.
 *
 * Record shape: {"t":<ns>,"ev":"<vs_event_kind_name>", then the fields of that kind}
 *   reset, config_change          (no more; config_change adds "q" if queue >= 0)
 *   status_write, status_read     "val":<status>
 *   features_read/_write          "val":"0x<hex>"
 *   config_read, config_write     "off","len","val":"0x<hex>"
 *   config_gen                    "val":<generation>
 *   queue_setup                   "q","fmt":"split"|"packed","size","desc","driver","device"
 *   queue_disable, kick, kick_suppressed   "q"
 *   avail                         "q","id","idx","segs":[[gpa,len,"r"|"w"],...]
 *                                 (+ "indirect":true, "raw":true when set)
 *   publish                       "q","idx"
 *   doorbell                      "q","n":<notifications coalesced (val)>
 *   fetch                         "q","id","idx"
 *   device_error                  "q","text"
 *   used                          "q","id","len","idx"
 *   used_invalid                  "q","id","len","text"
 *   irq_mask                      "q","val"
 *   irq                           "q" (-1 = config),"vec":<val>
 *   isr_read                      "val"
 *   step                          "val","text"
 *   expect                        "ok":true|false,"text"
 *   note                          "text"
 *   unknown kinds                 every scalar field
 * A NULL text is written as "". Text is JSON-escaped; invalid UTF-8 bytes become
 * U+FFFD, so every line is valid JSON. */
#ifndef VIRTIOSIM_TRACE_H
#define VIRTIOSIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"

#define VS_TRACE_DIGEST_HEX 65  /* 64 hex digits + NUL */

typedef struct vs_trace vs_trace;

/* out may be NULL (digest only). The trace does not own out (caller closes it).
 * Records reach out (and the digest) in batches of up to 64 KiB: vs_trace_digest_hex
 * and vs_trace_destroy hand over everything pending, so destroy the trace before
 * closing out. */
int vs_trace_create(vs_trace **out_trace, FILE *out, vs_err *e);
void vs_trace_destroy(vs_trace *t);

/* The sink: matches vs_event_fn, opaque is the vs_trace. */
void vs_trace_event(void *opaque, const vs_event *ev);
/* Convenience: vs_event_bus_add(bus, vs_trace_event, t). */
int vs_trace_attach(vs_trace *t, vs_event_bus *bus, vs_err *e);

/* Lowercase hex SHA-256 of every byte so far (each line including its '\n') into
 * hex[VS_TRACE_DIGEST_HEX]; the trace can keep going afterwards. Returns hex, or NULL
 * (and "" in hex) if the digest could not be computed. */
const char *vs_trace_digest_hex(vs_trace *t, char hex[VS_TRACE_DIGEST_HEX]);

uint64_t vs_trace_lines(const vs_trace *t);
uint64_t vs_trace_bytes(const vs_trace *t);
/* Sticky error: first write/digest/allocation failure since creation (0 if none). */
int vs_trace_error(const vs_trace *t, vs_err *e);

/* Pure formatter used by the sink: writes the record (with trailing '\n') into buf,
 * NUL-terminated when cap > 0, snprintf-style: returns the length the full record
 * needs (excluding NUL), so a return >= cap means it was truncated. */
size_t vs_trace_format(const vs_event *ev, char *buf, size_t cap);

/* The line that opens a scenario's records in a trace file of several scenarios:
 * {"t":0,"ev":"scenario","name":...,"backend":...,"seed":N}. It is not part of the
 * scenario's digest (the digest is of the scenario's own records). */
void vs_trace_write_scenario(FILE *out, const char *name, const char *backend,
                             uint64_t seed);
/* text as a JSON string literal (quotes included, escaped as the records are) into buf,
 * NUL-terminated when cap > 0; returns the length it needs. */
size_t vs_trace_json_string(const char *text, char *buf, size_t cap);

/* ------------------------------------------------------------------ Chrome trace
 * The same events as Chrome Trace Event JSON (`--trace-format chrome`), which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open: one process per scenario run (named after
 * the scenario and back-end), a track "device" (status, features, config, resets, config
 * interrupts, notes), a track "steps" (each step a slice, expectations as instants) and a
 * track per queue (kicks, doorbells, fetches, interrupts as instants; each chain an async
 * slice from available to used). Timestamps are microseconds of the run's clock: virtual
 * time on the in-process back-ends, wall-clock time since the start on real ones (the
 * process's "clock" argument says which). */
typedef struct vs_chrome_trace vs_chrome_trace;
/* Writes the document's opening to out (not owned). */
int vs_chrome_trace_open(FILE *out, vs_chrome_trace **t, vs_err *e);
/* A new process for the next run; attach vs_chrome_trace_event to its bus. */
void vs_chrome_trace_begin(vs_chrome_trace *t, const char *scenario, const char *backend,
                           uint64_t seed, bool wall_clock);
void vs_chrome_trace_event(void *opaque, const vs_event *ev);
/* Closes the run's open slices. */
void vs_chrome_trace_end(vs_chrome_trace *t);
/* Closes the document and frees t (NULL-safe); the first write error, if any. */
int vs_chrome_trace_close(vs_chrome_trace *t, vs_err *e);

#endif
