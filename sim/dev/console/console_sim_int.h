/* virtio-console in the simulator, shared by its files (private to sim/dev/console/): the
 * scenario's `device:` options, the driver model's state (ports, receive buffers, the byte
 * streams it verifies), and the sub-tables of its vs_sim_dev. */
#ifndef VS_CONSOLE_SIM_INT_H
#define VS_CONSOLE_SIM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/backend_dev.h"
#include "sim/driver_int.h"
#include "sim/mutant_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/console.h"

#define CON_PORTS VS_CONSOLE_MAX_PORTS
#define CON_EMERG_MAX 256u

/* The scenario's `device:` keys (vs_scenario.dev_opts). The receive-buffer keys are the
 * driver model's: how many buffers it keeps posted per receiveq, and their size. */
typedef struct con_scn_opts {
    vs_console_opts dev;
    uint32_t rx_buffers, rx_buffer_size;
} con_scn_opts;

/* Deliberate bugs of the driver model (vs_mutant.drv_dev_mutations bits, handed to the
 * driver as vs_driver_opts.dev_mutations). */
enum con_drv_mutation {
    CON_DRV_MUT_RX_READABLE = 1u << 0,    /* receive buffers start with a readable desc */
    CON_DRV_MUT_TX_WRITABLE = 1u << 1,    /* transmit chains end with a writable desc */
    CON_DRV_MUT_NO_DEVICE_READY = 1u << 2, /* never sends DEVICE_READY */
    CON_DRV_MUT_IGNORE_CONSOLE = 1u << 3, /* does not answer CONSOLE_PORT */
    CON_DRV_MUT_OPEN_ZERO = 1u << 4,      /* answers CONSOLE_PORT with PORT_OPEN value 0 */
};

/* What the driver knows of one port, and its two streams. */
typedef struct con_port {
    bool added, ready_sent, guest_open, host_open, console, removed;
    bool refill_off;           /* starvation: receive buffers are not given back */
    char name[VS_CONSOLE_NAME_MAX + 1];
    uint16_t cols, rows;
    bool resized;
    uint32_t rx_posted;        /* receive buffers with the device */
    uint64_t host_wr;          /* host -> guest: bytes the host wrote */
    uint64_t rx;               /* ... and the driver received and verified */
    uint64_t tx_queued;        /* guest -> host: bytes made available on the transmitq */
    uint64_t host_rd;          /* ... and the host read and verified */
} con_port;

/* The driver model's state (the personality's). */
typedef struct con_drv {
    bool multiport, emerg;
    uint32_t nports, max_nr_ports;
    uint32_t rx_buffers, rx_buffer_size;
    uint32_t mut;              /* enum con_drv_mutation */
    con_port port[CON_PORTS];
    uint32_t ctrl_posted;
    vs_console_ctrl out[64];   /* control messages to send */
    unsigned nout;
    uint64_t ctrl_in[VS_CONSOLE_EVENT_COUNT];  /* received, by event */
    bool rx_bad;               /* a received byte was not the stream's */
    char rx_msg[160];
    uint8_t emerg_early[CON_EMERG_MAX];  /* written at the next init before FEATURES_OK */
    uint32_t emerg_early_n;
    uint32_t emerg_expect_n;   /* ... and to look for on port 0's host output after it */
    char bringup_err[256];     /* the bring-up after init failed: why */
    uint8_t *scratch;
    size_t scratch_cap;
} con_drv;

/* One request's device data. */
enum con_req_kind { CON_RX, CON_TX, CON_CTRL_RX, CON_CTRL_TX };
typedef struct con_req {
    uint8_t kind;
    uint32_t port;
} con_req;

/* One completion (the result type; the console's steps drop them). */
typedef struct con_result {
    uint8_t kind;
    uint32_t port, len;
} con_result;

extern const vs_drv_personality vs_console_drv_personality;
extern const struct vs_step_set vs_console_step_set;
extern const struct vs_backend_present vs_console_backends;
extern const struct vs_mutant_set vs_console_mutants;

static inline con_drv *con_of(const vs_driver *d) { return vs__drv_state(d); }
static inline const con_scn_opts *con_opts_of(const vs_scenario *s)
{
    return (const con_scn_opts *)s->dev_opts;
}

/* console_driver.c: the driver model's actions. */
int con_drv_start(vs_run_ctx *c, vs_err *e);           /* bring-up after init */
int con_send_ctrl(vs_driver *d, const vs_console_ctrl *m, vs_err *e);
int con_send_raw(vs_driver *d, const uint8_t *buf, uint32_t len, vs_err *e);
int con_tx_submit(vs_driver *d, uint32_t port, uint32_t len, vs_err *e);
/* Refills, control answers, the host ends' output; then waits until done(c) or the
 * device is idle (0 either way; done(c) tells which) or an error. */
typedef bool (*con_done_fn)(vs_run_ctx *c, const void *arg);
int con_pump(vs_run_ctx *c, con_done_fn done, const void *arg, vs_err *e);
/* The host writes n bytes of port's stream (ref: through the device's host end). */
int con_host_write(vs_run_ctx *c, uint32_t port, uint64_t n, vs_err *e);
/* Reads port's host output: verified against the stream (false: a byte differs, why in
 * e), emitted as VS_EV_HOST_IO. emerg: the bytes expected first (emergency writes). */
int con_host_drain(vs_run_ctx *c, uint32_t port, const uint8_t *emerg, uint32_t n_emerg,
                   vs_err *e);

/* console_qemu.c: QEMU's virtio-serial-pci and the sockets of its ports' host ends. */
int con_qemu_args(vs_run_ctx *c, const char *const **argv, vs_err *e);
void con_qemu_teardown(vs_run_ctx *c);
int con_qemu_connect(vs_run_ctx *c, vs_err *e);
/* Ports hot-plugged on QEMU through QMP (device_add / device_del of a virtserialport). */
int con_qemu_port_add(vs_run_ctx *c, uint32_t port, const vs_console_port_opts *po, vs_err *e);
int con_qemu_port_remove(vs_run_ctx *c, uint32_t port, vs_err *e);
bool con_qemu_is(const vs_run_ctx *c);
int con_qemu_write(vs_run_ctx *c, uint32_t port, const uint8_t *buf, size_t n, vs_err *e);
size_t con_qemu_read(vs_run_ctx *c, uint32_t port, uint8_t *buf, size_t cap);
/* console_steps.c: why a scenario cannot run on a back-end with caps */
const char *con_skip(const vs_scenario *s, unsigned caps);

#endif
