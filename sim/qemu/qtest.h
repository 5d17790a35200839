/* Client for QEMU's qtest text protocol over a connected stream socket.
 *
 * Protocol (QEMU softmmu/qtest.c): one command per line, one reply line per command,
 * in order: "OK[ VALUE]" or "FAIL reason".  The server may interleave asynchronous
 * "IRQ raise N" / "IRQ lower N" lines (only after irq_intercept_in/out); they are
 * consumed here and recorded (vs_qtest_irq_level / vs_qtest_irq_count).
 *
 * Every call has a wall-clock timeout (default 5000 ms, vs_qtest_set_timeout_ms).
 * EOF or a socket error (QEMU exited or was killed) gives -VS_EBACKEND, with the tail
 * of QEMU's stderr file (vs_qtest_set_stderr_path) in the message.  A timeout gives
 * -VS_ETIMEDOUT and leaves the connection unusable (replies may still be in flight),
 * so later calls fail with -VS_EBACKEND.
 *
 * Pipelining: vs_qtest_queue_*() append commands to a batch without sending.
 * vs_qtest_flush() sends the whole batch in one write() and reads every reply
 * (queued reads store their value through the pointer given when queueing).
 * vs_qtest_post() sends the batch without waiting; its "OK"s are collected by the
 * next flush / synchronous call / vs_qtest_drain().  Posted batches may contain only
 * writes (out*, write*), like posted writes on PCI.  Commands are executed by QEMU
 * strictly in the order sent, so ordering between queued commands is preserved.
 * A synchronous call first sends anything still queued.  A "FAIL" reply to a posted
 * command is reported by whichever later call reads it.  At most 128 replies are left
 * unread (more would make QEMU block writing them and stop processing commands): beyond
 * that, queueing first waits for the outstanding replies.
 *
 * Malformed commands make QEMU g_assert() and abort; all commands built here are
 * well-formed by construction (vs_qtest_command sends raw text: caller beware).
 *
 * Not thread-safe: one vs_qtest per thread. */
#ifndef VIRTIOSIM_QEMU_QTEST_H
#define VIRTIOSIM_QEMU_QTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <virtiosim/error.h>

typedef struct vs_qtest vs_qtest;

#define VS_QTEST_MAX_IRQ 256
#define VS_QTEST_DEFAULT_TIMEOUT_MS 5000

/* Wraps a connected socket; takes ownership of fd (closed by vs_qtest_close, also on
 * failure). */
int vs_qtest_open_fd(int fd, vs_qtest **out, vs_err *e);
void vs_qtest_close(vs_qtest *q);

void vs_qtest_set_timeout_ms(vs_qtest *q, int ms);
int vs_qtest_timeout_ms(const vs_qtest *q);
/* File whose tail is quoted in VS_EBACKEND messages (QEMU's stderr); copied. */
void vs_qtest_set_stderr_path(vs_qtest *q, const char *path);
/* True once EOF / error / timeout made the connection unusable. */
bool vs_qtest_broken(const vs_qtest *q);
/* Number of commands sent whose replies have not been read yet + queued unsent. */
size_t vs_qtest_pending(const vs_qtest *q);
/* For a caller sharing its CPU with QEMU (pinned together): waits for several replies run
 * as SCHED_BATCH, so QEMU answers a whole batch before the caller is woken (its policy is
 * SCHED_OTHER again afterwards). Only when the caller is SCHED_OTHER to begin with. */
void vs_qtest_set_batch_waits(vs_qtest *q, bool on);
/* Number of commands queued and not sent yet. */
size_t vs_qtest_queued(const vs_qtest *q);

/* ---- synchronous accessors (one round trip each, plus anything queued) ---- */
int vs_qtest_outb(vs_qtest *q, uint16_t port, uint8_t v, vs_err *e);
int vs_qtest_outw(vs_qtest *q, uint16_t port, uint16_t v, vs_err *e);
int vs_qtest_outl(vs_qtest *q, uint16_t port, uint32_t v, vs_err *e);
int vs_qtest_inb(vs_qtest *q, uint16_t port, uint8_t *v, vs_err *e);
int vs_qtest_inw(vs_qtest *q, uint16_t port, uint16_t *v, vs_err *e);
int vs_qtest_inl(vs_qtest *q, uint16_t port, uint32_t *v, vs_err *e);
int vs_qtest_readb(vs_qtest *q, uint64_t addr, uint8_t *v, vs_err *e);
int vs_qtest_readw(vs_qtest *q, uint64_t addr, uint16_t *v, vs_err *e);
int vs_qtest_readl(vs_qtest *q, uint64_t addr, uint32_t *v, vs_err *e);
int vs_qtest_readq(vs_qtest *q, uint64_t addr, uint64_t *v, vs_err *e);
int vs_qtest_writeb(vs_qtest *q, uint64_t addr, uint8_t v, vs_err *e);
int vs_qtest_writew(vs_qtest *q, uint64_t addr, uint16_t v, vs_err *e);
int vs_qtest_writel(vs_qtest *q, uint64_t addr, uint32_t v, vs_err *e);
int vs_qtest_writeq(vs_qtest *q, uint64_t addr, uint64_t v, vs_err *e);

/* ---- pipelining ---- */
enum vs_qtest_op {
    VS_QT_OUTB, VS_QT_OUTW, VS_QT_OUTL,
    VS_QT_INB, VS_QT_INW, VS_QT_INL,
    VS_QT_READB, VS_QT_READW, VS_QT_READL, VS_QT_READQ,
    VS_QT_WRITEB, VS_QT_WRITEW, VS_QT_WRITEL, VS_QT_WRITEQ,
};
/* Appends one command.  For reads/ins, *result receives the value at flush time
 * (result may be NULL to discard); for writes/outs result is ignored.  If the batch
 * is full it is flushed first (so this can fail like vs_qtest_flush). */
int vs_qtest_queue(vs_qtest *q, enum vs_qtest_op op, uint64_t addr, uint64_t val,
                   uint64_t *result, vs_err *e);
int vs_qtest_queue_writel(vs_qtest *q, uint64_t addr, uint32_t v, vs_err *e);
int vs_qtest_queue_writew(vs_qtest *q, uint64_t addr, uint16_t v, vs_err *e);
int vs_qtest_queue_writeb(vs_qtest *q, uint64_t addr, uint8_t v, vs_err *e);
int vs_qtest_queue_writeq(vs_qtest *q, uint64_t addr, uint64_t v, vs_err *e);
int vs_qtest_queue_outl(vs_qtest *q, uint16_t port, uint32_t v, vs_err *e);
/* Sends the batch in one write() and reads all outstanding replies. */
int vs_qtest_flush(vs_qtest *q, vs_err *e);
/* Sends the batch (writes only) without waiting for the replies. */
int vs_qtest_post(vs_qtest *q, vs_err *e);
/* Reads all outstanding replies of posted batches. */
int vs_qtest_drain(vs_qtest *q, vs_err *e);

/* ---- raw commands and IRQs ---- */
/* Sends one raw command line (no trailing newline) and copies the reply text after
 * "OK" (possibly empty) into reply.  "FAIL ..." -> -VS_EPROTO. */
int vs_qtest_command(vs_qtest *q, const char *line, char *reply, size_t reply_len,
                     vs_err *e);
/* "irq_intercept_in PATH" (e.g. "ioapic"); afterwards IRQ lines are tracked. */
int vs_qtest_irq_intercept_in(vs_qtest *q, const char *qom_path, vs_err *e);
/* Reads any asynchronous lines available within timeout_ms (0 = just what is
 * buffered / readable now).  Returns the number of IRQ lines consumed. */
int vs_qtest_poll_async(vs_qtest *q, int timeout_ms, vs_err *e);
int vs_qtest_irq_level(const vs_qtest *q, unsigned irq);
/* Number of raise events seen on irq since open. */
uint64_t vs_qtest_irq_count(const vs_qtest *q, unsigned irq);

/* The socket, for poll() next to other fds (readable: call vs_qtest_poll_async). */
int vs_qtest_fd(const vs_qtest *q);

/* Statistics: commands sent, write() calls made. */
uint64_t vs_qtest_stat_commands(const vs_qtest *q);
uint64_t vs_qtest_stat_writes(const vs_qtest *q);


#endif
