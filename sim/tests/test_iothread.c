/* The iothread notify path (sim/iothread.c) on its own: eventfd counters, wake-ups, passes,
 * busy handlers, queue drops and resets, and its determinism. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim/iothread.h"

#define NQ 4

/* A fake transport: records which queue was served when, hands out a fixed number of
 * chains per serve. */
typedef struct fake {
    vs_engine *eng;
    uint32_t chains[NQ];        /* what the next serve of each queue fetches */
    int served_q[256];
    uint64_t served_t[256];
    int n;
    int ev[VS_EV_KIND_COUNT];
    vs_event last[VS_EV_KIND_COUNT];
} fake;

static uint32_t serve(void *opaque, uint16_t q)
{
    fake *f = opaque;
    if (f->n < 256) {
        f->served_q[f->n] = q;
        f->served_t[f->n] = vs_engine_now(f->eng);
    }
    f->n++;
    uint32_t c = f->chains[q];
    f->chains[q] = 0;
    return c;
}

static void on_event(void *opaque, const vs_event *ev)
{
    fake *f = opaque;
    f->ev[ev->kind]++;
    f->last[ev->kind] = *ev;
}

static vs_iot *make(fake *f, vs_event_bus *bus, uint16_t threads, uint64_t wake_ns,
                    uint64_t handler_ns, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(vs_engine_create(&f->eng, seed, NULL), 0);
    memset(bus, 0, sizeof *bus);
    ck_assert_int_eq(vs_event_bus_add(bus, on_event, f), 0);
    vs_iothread_opts o = {.threads = threads,
                          .wake = {.dist = VS_SERVICE_FIXED, .fixed_ns = wake_ns},
                          .handler_ns = handler_ns};
    vs_iot *t = NULL;
    ck_assert_int_eq(vs_iot_create(&t, f->eng, &o, NQ, bus, serve, f, NULL), 0);
    return t;
}

START_TEST(signals_coalesce_until_the_wake)
{
    fake f;
    vs_event_bus bus;
    vs_iot *t = make(&f, &bus, 1, 1000, 0, 1);
    f.chains[0] = 3;
    f.chains[2] = 5;
    vs_iot_signal(t, 2, 1);
    vs_engine_run_until(f.eng, 400);
    vs_iot_signal(t, 0, 2);
    vs_iot_signal(t, 2, 1);
    ck_assert(vs_iot_pending(t, 0));
    ck_assert_int_eq(f.n, 0); /* asleep until 1000 */
    vs_engine_run_until(f.eng, 5000);
    /* one wake-up at 1000 (from the first signal), one pass, queues in index order */
    ck_assert_int_eq(f.n, 2);
    ck_assert_int_eq(f.served_q[0], 0);
    ck_assert_int_eq(f.served_q[1], 2);
    ck_assert_uint_eq(f.served_t[0], 1000);
    ck_assert(!vs_iot_pending(t, 0) && !vs_iot_pending(t, 2));
    vs_iothread_stats s;
    vs_iot_stats(t, &s);
    ck_assert_uint_eq(s.signals, 3);
    ck_assert_uint_eq(s.notifications, 4);
    ck_assert_uint_eq(s.wakes, 1);
    ck_assert_uint_eq(s.passes, 1);
    ck_assert_uint_eq(s.serves, 2);
    ck_assert_uint_eq(s.chains, 8);
    ck_assert_uint_eq(s.max_chains, 8);
    ck_assert_uint_eq(s.wait_ns, 1000 + 600); /* queue 2 since 0, queue 0 since 400 */
    ck_assert_uint_eq(s.wait_max_ns, 1000);
    ck_assert_int_eq(f.ev[VS_EV_IOT_SIGNAL], 3);
    ck_assert_int_eq(f.ev[VS_EV_IOT_WAKE], 1);
    ck_assert_int_eq(f.ev[VS_EV_IOT_SERVE], 2);
    ck_assert_int_eq(f.ev[VS_EV_IOT_PASS], 1);
    ck_assert_uint_eq(f.last[VS_EV_IOT_WAKE].val, 1000);  /* latency */
    ck_assert_uint_eq(f.last[VS_EV_IOT_WAKE].idx, 2);     /* queues signalled */
    ck_assert_uint_eq(f.last[VS_EV_IOT_SERVE].len, 2);    /* queue 2's counter */
    ck_assert_uint_eq(f.last[VS_EV_IOT_PASS].val, 8);
    vs_iot_stats_clear(t);
    vs_iot_stats(t, &s);
    ck_assert_uint_eq(s.signals + s.wakes + s.chains, 0);
    vs_iot_destroy(t);
    vs_engine_destroy(f.eng);
}
END_TEST

START_TEST(busy_handler_then_a_pass_without_wake)
{
    fake f;
    vs_event_bus bus;
    vs_iot *t = make(&f, &bus, 1, 1000, 100, 1);
    f.chains[1] = 10;                  /* busy 1000 ns after the pass at 1000 */
    vs_iot_signal(t, 1, 1);
    vs_engine_run_until(f.eng, 1500);  /* mid-pass: a new signal waits for its end */
    f.chains[1] = 1;
    vs_iot_signal(t, 1, 1);
    vs_engine_run_until(f.eng, 10000);
    ck_assert_int_eq(f.n, 2);
    ck_assert_uint_eq(f.served_t[1], 2000); /* at the end of the busy pass, no wake-up */
    vs_iothread_stats s;
    vs_iot_stats(t, &s);
    ck_assert_uint_eq(s.wakes, 1);
    ck_assert_uint_eq(s.passes, 2);
    /* after the second pass (busy until 2100) it sleeps: the next signal wakes it again */
    vs_iot_signal(t, 1, 1);
    vs_engine_run_until(f.eng, 20000);
    vs_iot_stats(t, &s);
    ck_assert_uint_eq(s.wakes, 2);
    ck_assert_uint_eq(f.served_t[2], 11000);
    vs_iot_destroy(t);
    vs_engine_destroy(f.eng);
}
END_TEST

START_TEST(queues_map_to_threads_round_robin)
{
    fake f;
    vs_event_bus bus;
    vs_iot *t = make(&f, &bus, 2, 1000, 0, 1);
    for (uint16_t q = 0; q < NQ; q++)
        vs_iot_signal(t, q, 1);
    vs_engine_run_until(f.eng, 5000);
    vs_iothread_stats s;
    vs_iot_stats(t, &s);
    ck_assert_uint_eq(s.wakes, 2);   /* each thread woke once */
    ck_assert_uint_eq(s.passes, 2);
    ck_assert_uint_eq(s.serves, 4);
    /* thread 0 (queues 0, 2) first: it was scheduled first for the same instant */
    ck_assert_int_eq(f.served_q[0], 0);
    ck_assert_int_eq(f.served_q[1], 2);
    ck_assert_int_eq(f.served_q[2], 1);
    ck_assert_int_eq(f.served_q[3], 3);
    vs_iot_destroy(t);
    vs_engine_destroy(f.eng);
}
END_TEST

START_TEST(drop_and_reset)
{
    fake f;
    vs_event_bus bus;
    vs_iot *t = make(&f, &bus, 1, 1000, 0, 1);
    vs_iot_signal(t, 3, 1);
    vs_iot_drop(t, 3);               /* queue reset before the wake: nothing to wake for */
    ck_assert(!vs_iot_pending(t, 3));
    vs_engine_run_until(f.eng, 5000);
    ck_assert_int_eq(f.n, 0);
    ck_assert_int_eq(f.ev[VS_EV_IOT_WAKE], 0);
    vs_iot_signal(t, 1, 1);
    vs_iot_signal(t, 2, 1);
    vs_iot_drop(t, 2);               /* another queue still wakes it */
    vs_engine_run_until(f.eng, 10000);
    ck_assert_int_eq(f.n, 1);
    ck_assert_int_eq(f.served_q[0], 1);
    vs_iot_signal(t, 0, 1);
    vs_iot_reset(t);                 /* device reset: asleep, nothing signalled */
    vs_engine_run_until(f.eng, 20000);
    ck_assert_int_eq(f.n, 1);
    vs_iot_signal(t, 0, 1);          /* and it wakes again afterwards */
    vs_engine_run_until(f.eng, 30000);
    ck_assert_int_eq(f.n, 2);
    vs_iot_signal(t, NQ, 1);         /* out of range: ignored */
    vs_iot_signal(t, 0, 0);          /* nothing to signal */
    ck_assert(!vs_iot_pending(t, 0));
    vs_iot_destroy(t);
    vs_engine_destroy(f.eng);
}
END_TEST

/* Wake-ups drawn from an exponential: same seed, same times; another seed, others. */
static void exp_times(uint64_t seed, uint64_t out[16])
{
    fake f;
    vs_event_bus bus;
    vs_iot *t = make(&f, &bus, 1, 0, 0, seed);
    vs_iot_destroy(t);
    vs_iothread_opts o = {.threads = 1, .wake = {.dist = VS_SERVICE_EXP, .mean_ns = 20000}};
    ck_assert_int_eq(vs_iot_create(&t, f.eng, &o, NQ, &bus, serve, &f, NULL), 0);
    for (int i = 0; i < 16; i++) {
        uint64_t t0 = vs_engine_now(f.eng);
        vs_iot_signal(t, 0, 1);
        vs_engine_run_until(f.eng, t0 + 10000000);
        out[i] = f.served_t[i] - t0;
    }
    vs_iot_destroy(t);
    vs_engine_destroy(f.eng);
}

START_TEST(seeded_wake_latency)
{
    uint64_t a[16], b[16], c[16];
    exp_times(5, a);
    exp_times(5, b);
    exp_times(6, c);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    uint64_t sum = 0;
    for (int i = 0; i < 16; i++)
        sum += a[i];
    ck_assert(sum > 16 * 2000 && sum < 16 * 200000); /* around the 20 us mean */
}
END_TEST

START_TEST(bad_options)
{
    vs_err e = {0};
    vs_iothread_opts o = {.wake = {.dist = VS_SERVICE_UNIFORM, .min_ns = 5, .max_ns = 4}};
    ck_assert_int_eq(vs_iot_opts_check(&o, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "min"));
    o.wake.dist = (enum vs_service_dist)9;
    ck_assert_int_eq(vs_iot_opts_check(&o, &e), -VS_EINVAL);
    vs_ref_opts ro;
    vs_ref_opts_default(&ro);
    ck_assert_int_eq(ro.notify, VS_NOTIFY_DIRECT);  /* the default stays the direct path */
    ro.notify = (enum vs_notify_path)7;
    ck_assert_int_eq(vs_ref_opts_check(&ro, &e), -VS_EINVAL);
    ro.notify = VS_NOTIFY_IOTHREAD;
    ck_assert_int_eq(vs_ref_opts_check(&ro, &e), 0);
    ro.iothread.wake = (vs_service_time){.dist = VS_SERVICE_UNIFORM, .min_ns = 5, .max_ns = 4};
    ck_assert_int_eq(vs_ref_opts_check(&ro, &e), -VS_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("iothread");
    TCase *tc = tcase_create("iothread");
    tcase_add_test(tc, signals_coalesce_until_the_wake);
    tcase_add_test(tc, busy_handler_then_a_pass_without_wake);
    tcase_add_test(tc, queues_map_to_threads_round_robin);
    tcase_add_test(tc, drop_and_reset);
    tcase_add_test(tc, seeded_wake_latency);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
