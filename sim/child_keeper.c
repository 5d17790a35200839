/* The keeper of the children's process groups: PDEATHSIG reaches only the process we exec,
 * so a --qemu wrapper that starts QEMU as its own child, instead of exec'ing it, would
 * leave QEMU running after a SIGKILL of this process. The keeper is a shell started in the
 * background (its parent shell exits at once, so it is not our child) that reads
 * "+ PGID" and "- PGID" lines from a socket; when the socket closes, which the kernel
 * does when every process holding our end has ended, in whatever way, it kills the groups
 * still listed. */
#define _GNU_SOURCE
#include "sim/child.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* fd 3 is its end of the socket; stdin, stdout and stderr of the outer shell are
 * /dev/null, and a background list would get /dev/null as stdin unless told otherwise. */
static const char keeper_script[] =
    "{ g=; while read -r op pg; do case $op in"
    " +) g=\"$g $pg\" ;;"
    " -) n=; for x in $g; do [ \"$x\" = \"$pg\" ] || n=\"$n $x\"; done; g=$n ;;"
    " esac; done; for x in $g; do kill -9 -\"$x\" \"$x\"; done; } <&3 3<&- &";

static atomic_int keeper_fd = -1;
static pthread_once_t keeper_once = PTHREAD_ONCE_INIT;

static void keeper_start(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    pid_t sh = -1;
    if (posix_spawn_file_actions_init(&fa) == 0) {
        if (posix_spawnattr_init(&at) == 0) {
            /* its own group, so a Ctrl-C of ours does not reach it; no fd of ours but the
             * socket, so it holds no guest memory, image or vhost-user connection open */
            if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0) == 0 &&
                posix_spawn_file_actions_adddup2(&fa, 0, 1) == 0 &&
                posix_spawn_file_actions_adddup2(&fa, 0, 2) == 0 &&
                posix_spawn_file_actions_adddup2(&fa, sv[1], 3) == 0 &&
                posix_spawn_file_actions_addclosefrom_np(&fa, 4) == 0 &&
                posix_spawnattr_setpgroup(&at, 0) == 0 &&
                posix_spawnattr_setsigdefault(&at, &all) == 0 &&
                posix_spawnattr_setsigmask(&at, &none) == 0 &&
                posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                  POSIX_SPAWN_SETSIGMASK) == 0) {
                char *argv[] = {(char *)"sh", (char *)"-c", (char *)keeper_script, NULL};
                if (posix_spawn(&sh, "/bin/sh", &fa, &at, argv, environ) != 0)
                    sh = -1;
            }
            posix_spawnattr_destroy(&at);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    close(sv[1]);
    if (sh <= 0) {
        close(sv[0]);
        return; /* no keeper: the children still have PDEATHSIG */
    }
    while (waitpid(sh, NULL, 0) < 0 && errno == EINTR)
        ;
    atomic_store(&keeper_fd, sv[0]);
}

/* "+ PGID\n" or "- PGID\n" to the keeper; async-signal-safe once the keeper is running
 * (no stdio, and never SIGPIPE or a block should it be gone). */
static void keeper_say(char op, pid_t pgid)
{
    int fd = atomic_load(&keeper_fd);
    if (fd < 0 || pgid <= 0)
        return;
    char buf[24], *p = buf + sizeof buf;
    *--p = '\n';
    for (unsigned long v = (unsigned long)pgid; v; v /= 10)
        *--p = (char)('0' + v % 10);
    *--p = ' ';
    *--p = op;
    (void)send(fd, p, (size_t)(buf + sizeof buf - p), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void vs__child_keeper_start(void)
{
    pthread_once(&keeper_once, keeper_start);
}

void vs__child_keep(pid_t pgid)
{
    vs__child_keeper_start();
    keeper_say('+', pgid);
}

void vs__child_unkeep(pid_t pgid)
{
    keeper_say('-', pgid);
}
