/* One QEMU across transports (virtiosim/qemu.h, "Reusing QEMU"): parked only when it is
 * healthy and the caller keeps it, taken only with the same key on the slot's guest
 * memory, and given back as a fresh one would be. QEMU is installed on CI: nothing here is
 * skipped. */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/blk_qemu.h"
#include "virtiosim/gmem.h"
#include "virtiosim/qemu.h"
#include "virtiosim/virtio.h"

#include "sim/qemu/cpu_claim.h"
#include "sim/qemu/qemu_proc.h" /* vs_qemu_live_count */

#define MEM (32u << 20)

#define OK(call)                                                                           \
    do {                                                                                   \
        vs_err e_ = {0};                                                                   \
        vs_err *e = &e_;                                                                   \
        int rc_ = (call);                                                                  \
        ck_assert_msg(rc_ >= 0, "%s -> %s: %s", #call, vs_errc_name(rc_), e_.msg);         \
    } while (0)

typedef struct fx {
    vs_gmem *gm;
    vs_transport *t;
    vs_qemu_args a;
} fx;

static bool same_cpu; /* what start_fx asks for */

/* A reuse-enabled transport for the device arguments in f->a. */
static void start_fx(fx *f, int step_timeout_ms)
{
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.device_args = f->a.argv;
    o.reuse = true;
    o.same_cpu = same_cpu;
    if (step_timeout_ms)
        o.step_timeout_ms = step_timeout_ms;
    OK(vs_qemu_transport_create(&f->t, f->gm, &o, NULL, e));
}

/* Guest memory from the slot and a null-co virtio-blk of capacity bytes (with a blkdebug
 * rule when asked) on a reuse-enabled transport. */
static void open_fx(fx *f, uint64_t capacity, bool blkdebug, int step_timeout_ms)
{
    memset(f, 0, sizeof *f);
    OK(vs_qemu_reuse_gmem(&f->gm, MEM, e));
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.capacity = capacity;
    vs_qemu_blkdebug_rule rule = {.event = VS_QEMU_BLKDBG_READ_AIO, .sector = 1, .err_no = 5};
    if (blkdebug) {
        p.rules = &rule;
        p.n_rules = 1;
    }
    OK(vs_qemu_blk_args(&p, &f->a, e));
    start_fx(f, step_timeout_ms);
}

/* open_fx where no parked QEMU may be taken: a fresh one starts */
static void open_fresh(fx *f, uint64_t capacity, bool blkdebug)
{
    open_fx(f, capacity, blkdebug, 0);
    ck_assert(!vs_qemu_transport_reused(f->t));
}

static void close_fx(fx *f, bool keep)
{
    vs_qemu_transport_keep(f->t, keep);
    f->t->ops->destroy(f->t);
    vs_qemu_reuse_release_gmem(f->gm);
}

static void counts(unsigned *started, unsigned *reused) { vs_qemu_reuse_counts(started, reused); }

/* Drives the device part way (status bits, a feature word) and leaves a mark in guest
 * memory: what the next user must not see. */
static void dirty(fx *f)
{
    vs_transport *t = f->t;
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e));
    OK(t->ops->set_driver_features(t, VS_BIT(VS_F_VERSION_1), e));
    OK(vs_gmem_st32(f->gm, 0x200000, 0xdeadbeef, e));
}

START_TEST(parked_qemu_is_reset_and_taken)
{
    unsigned s0, r0, s, r;
    counts(&s0, &r0);
    fx f;
    open_fresh(&f, 1u << 20, false);
    pid_t pid = vs_qemu_transport_pid(f.t);
    vs_qemu_stats fresh;
    vs_qemu_transport_stats(f.t, &fresh);
    dirty(&f);
    close_fx(&f, true);
    ck_assert_int_eq(vs_qemu_live_count(), 1); /* parked, still running */

    open_fx(&f, 1u << 20, false, 0);
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(vs_qemu_transport_pid(f.t), pid);
    counts(&s, &r);
    ck_assert_uint_eq(s - s0, 1);
    ck_assert_uint_eq(r - r0, 1);
    uint32_t mark = 1;
    OK(vs_gmem_ld32(f.gm, 0x200000, &mark, e));
    ck_assert_uint_eq(mark, 0);              /* guest memory zeroed */
    uint8_t st = 0xff;
    OK(f.t->ops->get_status(f.t, &st, e));
    ck_assert_uint_eq(st, 0);
    vs_qemu_stats qs;
    vs_qemu_transport_stats(f.t, &qs);
    ck_assert_uint_le(qs.qtest_commands, fresh.qtest_commands); /* counted from the take */
    dirty(&f);
    close_fx(&f, false);                    /* not kept: stopped */
    ck_assert_int_eq(vs_qemu_live_count(), 0);

    open_fresh(&f, 1u << 20, false);
    close_fx(&f, true);
    vs_qemu_reuse_drop();
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

START_TEST(killed_parked_qemu_is_not_taken)
{
    fx f;
    open_fx(&f, 1u << 20, false, 0);
    pid_t pid = vs_qemu_transport_pid(f.t);
    close_fx(&f, true);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    for (int i = 0; i < 200 && kill(pid, 0) == 0; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        /* our child: the zombie goes once vs_qemu_alive reaps it, at the next take */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
    }
    open_fresh(&f, 1u << 20, false);
    ck_assert_int_ne(vs_qemu_transport_pid(f.t), pid);
    uint8_t st = 0xff;
    OK(f.t->ops->get_status(f.t, &st, e));
    close_fx(&f, false);
    vs_qemu_reuse_drop();
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

START_TEST(hung_qemu_is_not_parked)
{
    fx f;
    open_fx(&f, 1u << 20, false, 500);
    pid_t pid = vs_qemu_transport_pid(f.t);
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    close_fx(&f, true);     /* the reset is not answered: stopped instead */
    ck_assert_int_eq(vs_qemu_live_count(), 0);
    open_fresh(&f, 1u << 20, false);
    close_fx(&f, false);
    vs_qemu_reuse_drop();
}
END_TEST

START_TEST(qmp_used_is_not_parked)
{
    fx f;
    open_fx(&f, 1u << 20, false, 0);
    char ret[256];
    OK(vs_qmp_execute(vs_qemu_transport_qmp(f.t), "query-status", NULL, ret, sizeof ret, e));
    close_fx(&f, true);
    ck_assert_int_eq(vs_qemu_live_count(), 0);
    vs_qemu_reuse_drop();
}
END_TEST

START_TEST(other_arguments_or_blkdebug_start_afresh)
{
    fx f;
    open_fx(&f, 1u << 20, false, 0);
    pid_t pid = vs_qemu_transport_pid(f.t);
    close_fx(&f, true);
    open_fresh(&f, 2u << 20, false);           /* another capacity: another QEMU */
    pid_t pid2 = vs_qemu_transport_pid(f.t);
    ck_assert_int_ne(pid2, pid);
    ck_assert_int_eq(vs_qemu_live_count(), 2); /* the parked one waits meanwhile */
    close_fx(&f, true);
    open_fresh(&f, 2u << 20, true);            /* blkdebug: never taken, never parked */
    close_fx(&f, true);
    ck_assert_int_eq(vs_qemu_live_count(), 2);
    open_fx(&f, 1u << 20, false, 0);           /* the first one's turn again */
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(vs_qemu_transport_pid(f.t), pid);
    close_fx(&f, true);
    open_fx(&f, 2u << 20, false, 0);
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(vs_qemu_transport_pid(f.t), pid2);
    close_fx(&f, true);
    vs_qemu_reuse_drop();
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

/* Three places: parking a fourth QEMU stops the one parked longest ago. */
START_TEST(fourth_parked_qemu_stops_the_oldest)
{
    fx f;
    pid_t pid[4];
    for (unsigned i = 0; i < 4; i++) {
        open_fresh(&f, (i + 1u) << 20, false);
        pid[i] = vs_qemu_transport_pid(f.t);
        close_fx(&f, true);
        ck_assert_int_eq(vs_qemu_live_count(), i < 3 ? (int)i + 1 : 3);
    }
    ck_assert_int_ne(kill(pid[0], 0), 0);       /* stopped and reaped */
    for (unsigned i = 3; i >= 1; i--) {          /* the newest three are all there */
        open_fx(&f, (i + 1u) << 20, false, 0);
        ck_assert(vs_qemu_transport_reused(f.t));
        ck_assert_int_eq(vs_qemu_transport_pid(f.t), pid[i]);
        close_fx(&f, true);
    }
    open_fresh(&f, 1u << 20, false);             /* the oldest was stopped */
    close_fx(&f, false);
    vs_qemu_reuse_drop();
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

/* Writes a mark at the start of the file at path. */
static void scribble(const char *path)
{
    FILE *w = fopen(path, "r+");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(fputs("data", w) >= 0, 1);
    fclose(w);
}

/* The file at path starts with zeroes (the mark is gone). */
static void assert_zeroed(const char *path)
{
    FILE *rd = fopen(path, "r");
    ck_assert_ptr_nonnull(rd);
    char buf[4] = {1, 1, 1, 1};
    ck_assert_uint_eq(fread(buf, 1, 4, rd), 4);
    fclose(rd);
    ck_assert(buf[0] == 0 && buf[3] == 0);
}

START_TEST(scratch_image_is_zeroed_and_renamed_on_resize)
{
    char p1[64], p2[64], p3[64];
    OK(vs_qemu_reuse_scratch(1u << 20, p1, sizeof p1, e));
    scribble(p1);
    OK(vs_qemu_reuse_scratch(1u << 20, p2, sizeof p2, e));
    ck_assert_str_eq(p1, p2);
    assert_zeroed(p2);
    OK(vs_qemu_reuse_scratch(2u << 20, p3, sizeof p3, e));
    FILE *sz = fopen(p3, "r");
    ck_assert_ptr_nonnull(sz);
    fseek(sz, 0, SEEK_END);
    ck_assert_int_eq(ftell(sz), 2 << 20);
    fclose(sz);
    vs_qemu_reuse_drop();
    ck_assert_int_ne(access(p3, F_OK), 0);
}
END_TEST

/* A virtio-blk on scratch slot 0 with a second node on slot 3 (as a scsi LUN each would
 * be): both /proc paths are the slots', so the QEMU is parked and taken. */
static void open_two_disks(fx *f, char *extra, size_t n)
{
    memset(f, 0, sizeof *f);
    OK(vs_qemu_reuse_gmem(&f->gm, MEM, e));
    char p0[64], p3[64];
    OK(vs_qemu_reuse_scratch_at(0, 1u << 20, p0, sizeof p0, e));
    OK(vs_qemu_reuse_scratch_at(3, 2u << 20, p3, sizeof p3, e));
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.image = p0;
    OK(vs_qemu_blk_args(&p, &f->a, e));
    snprintf(extra, n, "driver=file,node-name=vsx3,filename=%s", p3);
    f->a.argv[f->a.argc++] = "-blockdev";
    f->a.argv[f->a.argc++] = extra;
    f->a.argv[f->a.argc] = NULL;
    start_fx(f, 0);
}

START_TEST(scratch_slots_are_separate_and_parkable)
{
    char p0[64], p3[64], again[64];
    OK(vs_qemu_reuse_scratch_at(0, 1u << 20, p0, sizeof p0, e));
    OK(vs_qemu_reuse_scratch_at(3, 1u << 20, p3, sizeof p3, e));
    ck_assert_str_ne(p0, p3);
    scribble(p3);
    OK(vs_qemu_reuse_scratch_at(3, 1u << 20, again, sizeof again, e));
    ck_assert_str_eq(p3, again);
    assert_zeroed(again);                          /* zeroed for the next user */
    vs_err bad = {0};
    ck_assert_int_lt(vs_qemu_reuse_scratch_at(VS_QEMU_SCRATCH_SLOTS, 4096, again,
                                              sizeof again, &bad), 0);
    ck_assert_ptr_nonnull(strstr(bad.msg, "at most"));

    fx f;
    char extra[128];
    open_two_disks(&f, extra, sizeof extra);
    ck_assert(!vs_qemu_transport_reused(f.t));
    pid_t pid = vs_qemu_transport_pid(f.t);
    close_fx(&f, true);
    ck_assert_int_eq(vs_qemu_live_count(), 1);
    open_two_disks(&f, extra, sizeof extra);
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(vs_qemu_transport_pid(f.t), pid);
    close_fx(&f, true);
    /* slot 3 at another size is another file, the first one stays: so does the QEMU */
    char other[64];
    OK(vs_qemu_reuse_scratch_at(3, 4u << 20, other, sizeof other, e));
    ck_assert_str_ne(other, extra + strlen("driver=file,node-name=vsx3,filename="));
    ck_assert_int_eq(vs_qemu_live_count(), 1);
    open_two_disks(&f, extra, sizeof extra);
    ck_assert(vs_qemu_transport_reused(f.t));
    close_fx(&f, true);
    /* When a file is closed to make room, its number may come back with another file:
     * every parked QEMU goes. */
    for (unsigned i = 0; i < 40; i++)
        OK(vs_qemu_reuse_scratch_at(i % VS_QEMU_SCRATCH_SLOTS, (8u + i) << 20, again,
                                    sizeof again, e));
    ck_assert_int_eq(vs_qemu_live_count(), 0);
    vs_qemu_reuse_drop();
    ck_assert_int_ne(access(p0, F_OK), 0);
    ck_assert_int_ne(access(other, F_OK), 0);
    ck_assert_int_ne(access(again, F_OK), 0);
}
END_TEST

/* The QEMU scenarios keep coming back to keeps its place when others are parked. */
START_TEST(often_taken_qemu_keeps_its_place)
{
    fx f;
    open_fresh(&f, 1u << 20, false);
    pid_t common = vs_qemu_transport_pid(f.t);
    close_fx(&f, true);
    open_fx(&f, 1u << 20, false, 0);
    ck_assert(vs_qemu_transport_reused(f.t));
    close_fx(&f, true);
    for (unsigned i = 2; i <= 4; i++) {         /* three others; the fourth makes room */
        open_fresh(&f, i << 20, false);
        close_fx(&f, true);
    }
    ck_assert_int_eq(vs_qemu_live_count(), 3);
    open_fx(&f, 1u << 20, false, 0);
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(vs_qemu_transport_pid(f.t), common);
    close_fx(&f, true);
    open_fresh(&f, 2u << 20, false);             /* the oldest of the once-parked went */
    close_fx(&f, false);
    vs_qemu_reuse_drop();
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

/* Whether this process holds the claim of cpu (cpu_claim.h): one of its sockets is bound to
 * the name (looked up in /proc, so another virtiosim's claim of the same CPU is not ours). */
static bool ours(int cpu)
{
    char want[64], line[512];
    snprintf(want, sizeof want, "@virtiosim-cpu-%d", cpu);
    FILE *f = fopen("/proc/net/unix", "r");
    ck_assert(f != NULL);
    unsigned long inode = 0;
    while (fgets(line, sizeof line, f)) {
        char path[256] = "";
        unsigned long ino;
        /* Num RefCount Protocol Flags Type St Inode Path */
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %255s", &ino, path) == 2 &&
            !strcmp(path, want)) {
            inode = ino;
            break;
        }
    }
    fclose(f);
    if (!inode)
        return false;
    char sock[64], fdp[64], link[64];
    snprintf(sock, sizeof sock, "socket:[%lu]", inode);
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(fdp, link, sizeof link - 1);
        if (n > 0 && (link[n] = '\0', !strcmp(link, sock)))
            return true;
    }
    return false;
}

START_TEST(cpu_claims_are_counted_and_given_back)
{
    int c = vs__cpu_claim();
    ck_assert_int_ge(c, 0);
    ck_assert(ours(c));
    ck_assert_int_eq(vs__cpu_claim(), c); /* the process's own claim first */
    vs__cpu_unclaim(c);
    ck_assert(ours(c));
    vs__cpu_unclaim(c);
    ck_assert(!ours(c));
    vs__cpu_unclaim(c); /* one too many: nothing happens */
    ck_assert(!ours(c));
}
END_TEST

/* A pinned QEMU's CPU stays claimed while it is parked, and the claim goes when the QEMU
 * that took it back is stopped. */
START_TEST(parked_qemu_keeps_its_cpu_claimed)
{
    same_cpu = true;
    fx f;
    open_fresh(&f, 3u << 20, false);
    int cpu = sched_getcpu(); /* the transport pinned us beside QEMU */
    ck_assert(ours(cpu));
    close_fx(&f, true);
    ck_assert_int_eq(vs_qemu_live_count(), 1);
    ck_assert(ours(cpu));
    open_fx(&f, 3u << 20, false, 0);
    ck_assert(vs_qemu_transport_reused(f.t));
    ck_assert_int_eq(sched_getcpu(), cpu);
    close_fx(&f, false);
    ck_assert_int_eq(vs_qemu_live_count(), 0);
    ck_assert(!ours(cpu));
    open_fresh(&f, 3u << 20, false);        /* parked, then let go with the park */
    cpu = sched_getcpu();
    close_fx(&f, true);
    ck_assert(ours(cpu));
    vs_qemu_reuse_drop();
    ck_assert(!ours(cpu));
    same_cpu = false;
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("qemu_reuse");
    TCase *tc = tcase_create("reuse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parked_qemu_is_reset_and_taken);
    tcase_add_test(tc, killed_parked_qemu_is_not_taken);
    tcase_add_test(tc, hung_qemu_is_not_parked);
    tcase_add_test(tc, qmp_used_is_not_parked);
    tcase_add_test(tc, scratch_slots_are_separate_and_parkable);
    tcase_add_test(tc, fourth_parked_qemu_stops_the_oldest);
    tcase_add_test(tc, often_taken_qemu_keeps_its_place);
    tcase_add_test(tc, other_arguments_or_blkdebug_start_afresh);
    tcase_add_test(tc, scratch_image_is_zeroed_and_renamed_on_resize);
    tcase_add_test(tc, cpu_claims_are_counted_and_given_back);
    tcase_add_test(tc, parked_qemu_keeps_its_cpu_claimed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
