/* CPU claims between virtiosim processes (cpu_claim.h). */
#define _GNU_SOURCE /* sched_getcpu, CPU_* */
#include "cpu_claim.h"

#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLAIM_MAX 1024 /* CPUs looked at; claims of higher ones are not made */

static struct held {
    int fd;
    unsigned refs;
} held[CLAIM_MAX];

/* Binds "@virtiosim-cpu-<cpu>": the socket, or -1 when another process holds the name. */
static int bind_name(int cpu)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "virtiosim-cpu-%d", cpu);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(fd, (struct sockaddr *)&a, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int take(int cpu)
{
    if (!held[cpu].refs && (held[cpu].fd = bind_name(cpu)) < 0)
        return -1;
    held[cpu].refs++;
    return cpu;
}

int vs__cpu_claim(void)
{
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        return -1;
    for (int c = 0; c < CLAIM_MAX && c < CPU_SETSIZE; c++)
        if (held[c].refs && CPU_ISSET(c, &mine))
            return take(c);
    int now = sched_getcpu();
    if (now >= 0 && now < CLAIM_MAX && CPU_ISSET(now, &mine) && take(now) >= 0)
        return now;
    for (int c = 0; c < CLAIM_MAX && c < CPU_SETSIZE; c++)
        if (c != now && CPU_ISSET(c, &mine) && take(c) >= 0)
            return c;
    return -1;
}

void vs__cpu_unclaim(int cpu)
{
    if (cpu < 0 || cpu >= CLAIM_MAX || !held[cpu].refs)
        return;
    if (--held[cpu].refs == 0) {
        close(held[cpu].fd);
        held[cpu].fd = -1;
    }
}
