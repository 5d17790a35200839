/* memguard: a SIGBUS in a registered mapping (its file was truncated under it) becomes a
 * zero page and a sticky flag; a SIGBUS elsewhere still kills. Valgrind cannot deliver a
 * repairable SIGBUS (it ends the process), so under valgrind only the bookkeeping runs. */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "sim/vhost/memguard.h"

#define LEN (1u << 20)

static volatile uint8_t *map_memfd(int *fd)
{
    *fd = memfd_create("memguard-test", MFD_CLOEXEC);
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(ftruncate(*fd, LEN), 0);
    void *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

START_TEST(repairs_a_truncated_mapping)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_memguard_install(&e), 0);
    int fd;
    volatile uint8_t *p = map_memfd(&fd);
    int slot = vs_memguard_add((void *)p, LEN);
    ck_assert_int_ge(slot, 0);
    p[10] = 7;
    ck_assert(!vs_memguard_faulted(slot));
    if (!RUNNING_ON_VALGRIND) {
        ck_assert_int_eq(ftruncate(fd, 4096), 0);
        ck_assert_uint_eq(p[10], 7);            /* still inside the file */
        ck_assert_uint_eq(p[LEN - 1], 0);       /* past the end: a zero page, not a death */
        p[LEN - 1] = 1;                         /* and writable */
        ck_assert(vs_memguard_faulted(slot));
        ck_assert(vs_memguard_faulted_any());
    }
    vs_memguard_remove(slot);
    munmap((void *)p, LEN);
    close(fd);
}
END_TEST

START_TEST(other_sigbus_still_kills)
{
    if (RUNNING_ON_VALGRIND)
        return;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        vs_err e = {0};
        vs_memguard_install(&e);
        int fd;
        volatile uint8_t *p = map_memfd(&fd);   /* not registered */
        if (ftruncate(fd, 0) != 0)
            _exit(2);
        (void)p[0];
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGBUS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memguard");
    TCase *tc = tcase_create("memguard");
    tcase_add_test(tc, repairs_a_truncated_mapping);
    tcase_add_test(tc, other_sigbus_still_kills);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
