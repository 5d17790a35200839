/* Trace: an event sink (vs_event_fn) that encodes every vs_event as one canonical record
 * (below), feeds it to SHA-256 (the digest) and optionally writes it to a FILE*, either
 * as one JSON Lines record with a stable key order or as the compact record itself.
 * Same events => same records => same digest and byte-identical files, on any machine:
 * no pointers, no wall-clock values, integers only.
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
/* What the digest is of (reports name it next to the digests): */
#define VS_TRACE_DIGEST_OF "virtiosim-events/1"

/* Canonical encoding ("virtiosim-events/1"): the trace digest is the SHA-256 of a
 * scenario's events in this compact form, whatever file (if any) the trace is written
 * as; a `--trace-format vst` file is these records after an 8-byte header "VSTRACE\x01"
 * (the last byte is the version), each scenario's records after a scenario record. It
 * holds exactly the fields the JSON Lines record shows, so a file converts back to JSON
 * Lines byte for byte (vs_trace_convert, `virtiosim trace FILE`).
 *   varint: unsigned LEB128 (7 bits a byte, least significant first, at most 10 bytes);
 *   zz(v): a signed value as a varint of (v << 1) ^ (v >> 63); text: varint length,
 *   then the bytes (no NUL; NULL text = "").
 *   record: byte K | 0x40 (dt != 0) | 0x80 (q != 0), then zz(dt) if 0x40, zz(q) if 0x80,
 *   then the kind's fields. K is enum vs_event_kind (1..32), 0x3e another kind, 0x3f a
 *   scenario record. dt = t_ns - t_ns of the previous record of the scenario (0 at its
 *   start). Only kinds whose JSON record has "q" carry q; config_change sets 0x80 when
 *   its queue is >= 0 and has none (-1) otherwise. An idx field is zz of the 32-bit step
 *   from the previous idx of the same kind (signed, wrapping; 0 at the start).
 *   fields: status_*, config_gen, isr_read, features_*, doorbell, irq_mask, irq: val |
 *   config_read/_write: off, len, val | queue_setup: 0 (no layout) or 1 split / 2
 *   packed, then size, desc, driver, device | avail: id, idx, chain: 0 (none) or 1 |
 *   indirect << 1 | raw << 2 | n_out << 3, then n_in, then per segment zz(gpa - cursor)
 *   and len, where the cursor starts at the first segment's gpa of the previous chain
 *   and then is the previous segment's gpa + len | publish, used_event: idx | fetch: id,
 *   idx | used: id, len, idx | used_invalid: id, len, text | device_error, note: text |
 *   host_io: len | step: val, text | expect: 0/1, text | iot_signal, iot_wake, iot_pass:
 *   id, val, idx | iot_serve: id, idx, len, val | reset, config_change, queue_disable,
 *   kick, kick_suppressed: none | 0x3e: kind, zz(queue), id, len, off, idx, val, 0 or 1
 *   and text.
 *   scenario record: 0x3f, text name, text backend, varint seed, varint flags (bit 0:
 *   the times are wall-clock); the delta state starts again after it. */

typedef struct vs_trace vs_trace;

/* The file a trace writes. */
enum vs_trace_file_format {
    VS_TRACE_FILE_JSONL = 0,  /* JSON Lines, ~400 bytes a 4 KiB request */
    VS_TRACE_FILE_VST,        /* the canonical records, ~40 bytes a 4 KiB request */
};

/* out may be NULL (digest only). The trace does not own out (caller closes it).
 * Records reach out (and the digest) in batches of up to 64 KiB: vs_trace_digest_hex
 * and vs_trace_destroy hand over everything pending, so destroy the trace before
 * closing out. */
int vs_trace_create(vs_trace **out_trace, FILE *out, vs_err *e);
/* The same writing format to out (vs_trace_create is VS_TRACE_FILE_JSONL). */
int vs_trace_create_as(vs_trace **out_trace, FILE *out, enum vs_trace_file_format fmt,
                       vs_err *e);
/* The start of a file of format fmt (the VSTRACE header; nothing for JSON Lines). */
int vs_trace_file_begin(FILE *out, enum vs_trace_file_format fmt);
/* Writes the scenario's opening record to the trace's file (if any), before its first
 * event; not part of the digest. wall_clock: the times are wall-clock (real back-ends). */
void vs_trace_scenario(vs_trace *t, const char *name, const char *backend, uint64_t seed,
                       bool wall_clock);
void vs_trace_destroy(vs_trace *t);

/* The sink: matches vs_event_fn, opaque is the vs_trace. */
void vs_trace_event(void *opaque, const vs_event *ev);
/* Convenience: vs_event_bus_add(bus, vs_trace_event, t). */
int vs_trace_attach(vs_trace *t, vs_event_bus *bus, vs_err *e);

/* Lowercase hex SHA-256 of the canonical records of every event so far into
 * hex[VS_TRACE_DIGEST_HEX]; the trace can keep going afterwards. Returns hex, or NULL
 * (and "" in hex) if the digest could not be computed. */
const char *vs_trace_digest_hex(vs_trace *t, char hex[VS_TRACE_DIGEST_HEX]);

/* Events recorded; bytes of their canonical records (what the digest is of). */
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

/* `virtiosim trace FILE`: a VST file as JSON Lines (byte-identical to what
 * `--trace-format jsonl` writes for the same runs), as Chrome JSON, or each scenario's
 * digest ("<hex>  <name>" lines, the digests the runs reported). Hostile input is an
 * error naming the byte offset, never a crash. */
enum vs_trace_view { VS_TRACE_TO_JSONL, VS_TRACE_TO_CHROME, VS_TRACE_TO_DIGESTS };
int vs_trace_convert(FILE *in, FILE *out, enum vs_trace_view to, vs_err *e);

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
