/* Unit tests of the reference virtio-console (model/dev/console/) and its codec. Chains
 * are built by hand over flat guest memory; no rings, no transport (vs_device.complete
 * records the held buffers the device completes). */
#include <check.h>
#include <string.h>

#include "virtiosim/console.h"
#include "virtiosim/gmem.h"
#include "virtiosim/le.h"

#define TX 0x1000u
#define RX 0x3000u

static vs_gmem *gm;
static vs_device *d;
static struct {
    unsigned n;
    uint16_t q, id;
    uint32_t written;
} done;

static void on_complete(void *ctx, uint16_t q, uint16_t id, uint32_t written)
{
    (void)ctx;
    done.n++;
    done.q = q;
    done.id = id;
    done.written = written;
}

static void make(bool multiport, uint32_t mutations)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    vs_console_opts o;
    vs_console_opts_default(&o);
    o.multiport = multiport;
    o.mutations = mutations;
    o.port[1] = (vs_console_port_opts){.added = true, .host_open = true, .name = "p1"};
    ck_assert_msg(vs_console_create(&d, gm, &o, &e) == 0, "%s", e.msg);
    d->complete = on_complete;
    memset(&done, 0, sizeof done);
}

static void unmake(void)
{
    d->ops->destroy(d);
    vs_gmem_destroy(gm);
}

/* One control message from the driver; the handle result. */
static int ctrl_tx(uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
    uint8_t b[8];
    vs_le32_put(b, id);
    vs_le16_put(b + 4, event);
    vs_le16_put(b + 6, value);
    ck_assert_int_eq(vs_gmem_write(gm, TX, b, len, NULL), 0);
    vs_dseg seg = {.gpa = TX, .len = len};
    vs_chain ch = {.nseg = 1, .n_out = 1, .out_bytes = len, .seg_cap = 1, .seg = &seg};
    uint32_t w = 9;
    int rc = d->ops->handle(d, VS_CONSOLE_CTRL_TXQ, &ch, &w, NULL);
    ck_assert_uint_eq(w, 0);
    return rc;
}

static void read_msg(vs_console_ctrl *m, uint32_t written)
{
    uint8_t b[VS_CONSOLE_CTRL_MAX];
    ck_assert_int_eq(vs_gmem_read(gm, RX, b, written, NULL), 0);
    ck_assert_int_eq(vs_console_ctrl_decode(b, written, m, NULL), 0);
}

/* A receive buffer (id 7) on queue q: 1 used at once (the message in m), 0 held. */
static int ctrl_rx(vs_console_ctrl *m, uint16_t q, uint32_t len, uint32_t *written)
{
    vs_dseg seg = {.gpa = RX, .len = len, .write = true};
    vs_chain ch = {.id = 7, .nseg = 1, .n_out = 0, .in_bytes = len, .seg_cap = 1,
                   .seg = &seg};
    int rc = d->ops->handle(d, q, &ch, written, NULL);
    if (rc == VS_DEV_DEFERRED)
        return 0;
    ck_assert_int_eq(rc, 0);
    if (m)
        read_msg(m, *written);
    return 1;
}

START_TEST(codec_round_trip_and_rejects)
{
    vs_console_ctrl m = {.id = 3, .event = VS_CONSOLE_PORT_NAME, .value = 1, .name_len = 5};
    memcpy(m.name, "hello", 5);
    uint8_t b[VS_CONSOLE_CTRL_MAX];
    size_t n = vs_console_ctrl_encode(&m, b, sizeof b);
    ck_assert_uint_eq(n, 13);
    vs_console_ctrl m2;
    ck_assert_int_eq(vs_console_ctrl_decode(b, n, &m2, NULL), 0);
    ck_assert_str_eq(m2.name, "hello");
    vs_console_ctrl r = {.id = 1, .event = VS_CONSOLE_RESIZE, .has_size = true, .cols = 80,
                         .rows = 25};
    n = vs_console_ctrl_encode(&r, b, sizeof b);
    ck_assert_uint_eq(n, 12);
    ck_assert_int_eq(vs_console_ctrl_decode(b, n, &m2, NULL), 0);
    ck_assert(m2.has_size && m2.cols == 80 && m2.rows == 25);
    vs_err e = {0};
    ck_assert_int_eq(vs_console_ctrl_decode(b, 7, &m2, &e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "7 bytes"));
    vs_le16_put(b + 4, 8);
    ck_assert_int_eq(vs_console_ctrl_decode(b, 8, &m2, NULL), -VS_EPROTO);
    ck_assert_uint_eq(vs_console_ctrl_encode(&r, b, 11), 0);
}
END_TEST

START_TEST(stream_detects_a_lost_block)
{
    static uint8_t a[70000];
    vs_console_stream_fill(a, 2, false, 12345, sizeof a);
    for (size_t i = 0; i < 300; i++)
        ck_assert_uint_eq(a[i], vs_console_stream_byte(2, false, 12345 + i));
    ck_assert_uint_eq(vs_console_stream_check(a, 2, false, 12345, sizeof a), sizeof a);
    /* the same bytes 256 or 65536 further on do not pass */
    ck_assert_uint_lt(vs_console_stream_check(a, 2, false, 12345 + 256, 1000), 1000);
    ck_assert_uint_lt(vs_console_stream_check(a, 2, false, 12345 + 65536, 1000), 1000);
    ck_assert_uint_lt(vs_console_stream_check(a, 2, true, 12345, 1000), 1000);
    a[4000] ^= 1;
    ck_assert_uint_eq(vs_console_stream_check(a, 2, false, 12345, sizeof a), 4000);
}
END_TEST

START_TEST(bring_up_and_hostile_messages)
{
    make(true, 0);
    ck_assert_uint_eq(d->ops->num_queues(d), 10);
    vs_console_ctrl m;
    uint32_t w;
    ck_assert_int_eq(ctrl_rx(&m, VS_CONSOLE_CTRL_RXQ, 64, &w), 0);   /* held: nothing yet */
    ck_assert_int_eq(ctrl_tx(0xffffffffu, VS_CONSOLE_DEVICE_READY, 1, 8), 0);
    ck_assert(done.n == 1 && done.q == VS_CONSOLE_CTRL_RXQ && done.id == 7);
    read_msg(&m, done.written);                       /* the held buffer got the first */
    ck_assert(m.event == VS_CONSOLE_DEVICE_ADD && m.id == 0);
    ck_assert_int_eq(ctrl_rx(&m, VS_CONSOLE_CTRL_RXQ, 64, &w), 1);
    ck_assert(m.event == VS_CONSOLE_DEVICE_ADD && m.id == 1);
    ck_assert_int_eq(ctrl_tx(1, VS_CONSOLE_PORT_READY, 1, 8), 0);
    ck_assert_int_eq(ctrl_rx(&m, VS_CONSOLE_CTRL_RXQ, 64, &w), 1);
    ck_assert(m.event == VS_CONSOLE_PORT_NAME && strcmp(m.name, "p1") == 0);
    ck_assert_int_eq(ctrl_rx(&m, VS_CONSOLE_CTRL_RXQ, 64, &w), 1);
    ck_assert(m.event == VS_CONSOLE_PORT_OPEN && m.id == 1 && m.value == 1);
    ck_assert_int_eq(ctrl_rx(&m, VS_CONSOLE_CTRL_RXQ, 64, &w), 0);   /* held again */
    d->ops->drain(d, VS_CONSOLE_CTRL_RXQ);            /* forgotten: never completed */
    /* hostile: each rejected and counted, none a device error */
    ck_assert_int_eq(ctrl_tx(4, VS_CONSOLE_PORT_OPEN, 1, 8), 0);
    ck_assert_int_eq(ctrl_tx(2, VS_CONSOLE_PORT_READY, 1, 8), 0);
    ck_assert_int_eq(ctrl_tx(1, VS_CONSOLE_PORT_OPEN, 1, 3), 0);
    ck_assert_int_eq(ctrl_tx(1, 99, 1, 8), 0);
    ck_assert_int_eq(ctrl_tx(1, VS_CONSOLE_DEVICE_ADD, 1, 8), 0);
    ck_assert_int_eq(ctrl_tx(0, VS_CONSOLE_DEVICE_READY, 1, 8), 0);
    vs_console_stats st;
    vs_console_stats_get(d, &st);
    ck_assert_uint_eq(st.rejected, 6);
    ck_assert_int_eq(ctrl_rx(NULL, VS_CONSOLE_CTRL_RXQ, 64, &w), 0); /* nothing announced */
    unmake();
    make(true, VS_CONSOLE_MUT_HOSTILE_CRASH);   /* the mutant takes it as a device error */
    ck_assert_int_lt(ctrl_tx(4, VS_CONSOLE_PORT_OPEN, 1, 8), 0);
    unmake();
}
END_TEST

START_TEST(host_bytes_wait_for_buffers)
{
    make(false, 0);
    uint32_t w;
    ck_assert_int_eq(ctrl_rx(NULL, 0, 16, &w), 0);         /* receive buffer held */
    uint8_t b[40];
    vs_console_stream_fill(b, 0, false, 0, sizeof b);
    ck_assert_int_eq(vs_console_host_write(d, 0, b, sizeof b, NULL), 0);
    ck_assert(done.n == 1 && done.q == 0 && done.written == 16);
    ck_assert_int_eq(ctrl_rx(NULL, 0, 64, &w), 1);
    ck_assert_uint_eq(w, 24);                               /* a partial buffer */
    uint8_t got[24];
    ck_assert_int_eq(vs_gmem_read(gm, RX, got, 24, NULL), 0);
    ck_assert_uint_eq(vs_console_stream_check(got, 0, false, 16, 24), 24);
    ck_assert_int_eq(vs_console_host_write(d, 1, b, 1, NULL), -VS_EINVAL); /* one port */
    ck_assert_int_eq(vs_console_port_add(d, 0, NULL, NULL), -VS_ESTATE);   /* multiport */
    unmake();
}
END_TEST

START_TEST(emerg_before_features_ok)
{
    make(false, 0);
    uint8_t v[4] = {'!', 0, 0, 0};
    ck_assert_int_eq(d->ops->config_write(d, VS_CONSOLE_CFG_EMERG_WR, v, 4, NULL), 0);
    ck_assert_int_eq(d->ops->config_write(d, 0, v, 2, NULL), -VS_EINVAL); /* cols: read-only */
    ck_assert_int_eq(d->ops->accept_features(d, VS_BIT(VS_F_VERSION_1), NULL), 0);
    uint8_t out[4];
    ck_assert_uint_eq(vs_console_host_read(d, 0, out, sizeof out), 1);
    ck_assert_uint_eq(out[0], '!');
    unmake();
    make(false, VS_CONSOLE_MUT_EMERG_NEEDS_FEATURES);
    ck_assert_int_eq(d->ops->config_write(d, VS_CONSOLE_CFG_EMERG_WR, v, 4, NULL), 0);
    ck_assert_int_lt(d->ops->accept_features(d, VS_BIT(VS_F_VERSION_1), NULL), 0);
    unmake();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("console_dev");
    TCase *tc = tcase_create("console");
    tcase_add_test(tc, codec_round_trip_and_rejects);
    tcase_add_test(tc, stream_detects_a_lost_block);
    tcase_add_test(tc, bring_up_and_hostile_messages);
    tcase_add_test(tc, host_bytes_wait_for_buffers);
    tcase_add_test(tc, emerg_before_features_ok);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
