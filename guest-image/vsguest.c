/* vsguest: the test guest's workload runner (static; runs as the guest's /init helper).
 *
 * Reads its workload from the kernel command line (`vsguest=OPS`, OPS comma-separated,
 * fields colon-separated) and runs it against a block device with O_DIRECT:
 *
 *   w:SECTOR:COUNT:PATTERN   write COUNT sectors of pattern PATTERN
 *   r:SECTOR:COUNT           read them back and compare with what was written
 *   d:SECTOR:COUNT           BLKDISCARD (the range's contents become unknown)
 *   z:SECTOR:COUNT           BLKZEROOUT (the range reads as zeroes)
 *   f                        fsync (a flush to the device)
 *   p:READERS:COUNT:SECTORS  READERS processes, each COUNT verified reads of SECTORS
 *                            sectors at pseudo-random offsets
 * and on a SCSI disk (/dev/sdX, virtio_scsi):
 *   s:N                      wait (10 s at most) until N SCSI disks are in /sys/class/scsi_disk
 *   i                        INQUIRY over SG_IO: a direct-access device, ASCII vendor
 *   c                        READ CAPACITY (16) over SG_IO: agrees with the disk's size
 *   t                        TEST UNIT READY over SG_IO: GOOD
 *   h:ADD:T:L                asks the host to hot-add (ADD 1) or hot-remove (0) LUN T:L
 *                            ("vsguest: host hotplug add|remove T L"), then waits (10 s
 *                            at most) for it to appear in or leave /sys/class/scsi_device
 *
 * Every op prints one line, and the run ends with one machine-readable line:
 *   vsguest: op N KIND SECTOR COUNT ok|fail WHY
 *   vsguest: result pass|fail ops=N failed=N kernel=RELEASE
 * The host (virtiosim --backend guest) reads them from the serial console. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <linux/fs.h>
#include <scsi/sg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECTOR 512u
#define MAX_OPS 256
#define UNKNOWN (-1)

typedef struct op {
    char kind;
    uint64_t a, b, c;
} op;

static int32_t *shadow;    /* per sector: UNKNOWN, 0 zeroes, p + 1 pattern p */
static uint64_t nsectors;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The bytes of sector s under pattern p: a word per 8 bytes, different per sector. */
static void fill_sector(uint8_t *buf, uint64_t s, uint32_t p)
{
    for (unsigned i = 0; i < SECTOR / 8; i++) {
        uint64_t w = mix(((uint64_t)p << 48) ^ (s << 6) ^ i);
        memcpy(buf + 8 * i, &w, 8);
    }
}

static int check_sector(const uint8_t *buf, uint64_t s, char *why, size_t n)
{
    int32_t want = shadow[s];
    if (want == UNKNOWN)
        return 0;
    uint8_t exp[SECTOR];
    if (want == 0)
        memset(exp, 0, SECTOR);
    else
        fill_sector(exp, s, (uint32_t)(want - 1));
    if (memcmp(buf, exp, SECTOR) == 0)
        return 0;
    snprintf(why, n, "sector %llu differs from %s %d", (unsigned long long)s,
             want ? "pattern" : "zeroes", want ? want - 1 : 0);
    return -1;
}

/* A direct-I/O buffer whose pages are faulted in even pages first, then odd ones, so that
 * neighbouring pages are (almost) never physically adjacent: the block layer cannot merge
 * them and a request carries one segment per page, the most a driver builds. Without it
 * the segment count of a large request depended on where the guest's allocator happened
 * to put the pages. */
static void *dio_buf(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, len ? len : SECTOR) != 0)
        return NULL;
    volatile uint8_t *b = p;
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t off = pass * 4096; off < len; off += 2 * 4096)
            b[off] = 0;
    return p;
}

static int range_ok(uint64_t s, uint64_t n, char *why, size_t wn)
{
    if (n == 0 || s >= nsectors || n > nsectors - s) {
        snprintf(why, wn, "range %llu+%llu outside the %llu-sector disk", (unsigned long long)s,
                 (unsigned long long)n, (unsigned long long)nsectors);
        return -1;
    }
    return 0;
}

static int do_write(int fd, uint64_t s, uint64_t n, uint32_t p, char *why, size_t wn)
{
    uint8_t *buf = dio_buf(n * SECTOR);
    if (!buf)
        return snprintf(why, wn, "out of memory"), -1;
    for (uint64_t i = 0; i < n; i++)
        fill_sector(buf + i * SECTOR, s + i, p);
    ssize_t w = pwrite(fd, buf, n * SECTOR, (off_t)(s * SECTOR));
    free(buf);
    if (w != (ssize_t)(n * SECTOR))
        return snprintf(why, wn, "pwrite: %s", w < 0 ? strerror(errno) : "short"), -1;
    for (uint64_t i = 0; i < n; i++)
        shadow[s + i] = (int32_t)p + 1;
    return 0;
}

static int do_read(int fd, uint64_t s, uint64_t n, char *why, size_t wn)
{
    uint8_t *buf = dio_buf(n * SECTOR);
    if (!buf)
        return snprintf(why, wn, "out of memory"), -1;
    ssize_t r = pread(fd, buf, n * SECTOR, (off_t)(s * SECTOR));
    int rc = 0;
    if (r != (ssize_t)(n * SECTOR)) {
        snprintf(why, wn, "pread: %s", r < 0 ? strerror(errno) : "short");
        rc = -1;
    }
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        rc = check_sector(buf + i * SECTOR, s + i, why, wn);
    free(buf);
    return rc;
}

static int do_range_ioctl(int fd, unsigned long req, uint64_t s, uint64_t n, char *why,
                          size_t wn)
{
    uint64_t range[2] = {s * SECTOR, n * SECTOR};
    if (ioctl(fd, req, range) < 0)
        return snprintf(why, wn, "%s: %s", req == BLKDISCARD ? "BLKDISCARD" : "BLKZEROOUT",
                        strerror(errno)), -1;
    for (uint64_t i = 0; i < n; i++)
        shadow[s + i] = req == BLKDISCARD ? UNKNOWN : 0;
    return 0;
}

/* READERS children, each with its own descriptor and offsets; the shadow is inherited. */
static int do_parallel(const char *dev, uint64_t readers, uint64_t count, uint64_t len,
                       char *why, size_t wn)
{
    if (readers == 0 || readers > 64 || len == 0 || len > nsectors)
        return snprintf(why, wn, "bad parallel read parameters"), -1;
    for (uint64_t k = 0; k < readers; k++) {
        pid_t pid = fork();
        if (pid < 0)
            return snprintf(why, wn, "fork: %s", strerror(errno)), -1;
        if (pid == 0) {
            int fd = open(dev, O_RDONLY | O_DIRECT);
            char w[160];
            if (fd < 0)
                _exit(2);
            for (uint64_t i = 0; i < count; i++) {
                uint64_t s = mix(k * 1000003u + i) % (nsectors - len + 1);
                if (do_read(fd, s, len, w, sizeof w) < 0) {
                    dprintf(1, "vsguest: reader %llu: %s\n", (unsigned long long)k, w);
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    int bad = 0, st;
    for (uint64_t k = 0; k < readers; k++)
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad++;
    if (bad)
        return snprintf(why, wn, "%d of %llu readers failed", bad, (unsigned long long)readers),
               -1;
    return 0;
}

/* ------------------------------------------------------------------ SCSI */

/* One command over SG_IO (data-in of len bytes); 0 when it completed with GOOD. */
static int sg_cmd_try(int fd, const uint8_t *cdb, unsigned cdb_len, uint8_t *buf,
                      unsigned len, char *why, size_t wn, int retry_ua)
{
    uint8_t sense[32] = {0};
    sg_io_hdr_t h;
    memset(&h, 0, sizeof h);
    h.interface_id = 'S';
    h.dxfer_direction = len ? SG_DXFER_FROM_DEV : SG_DXFER_NONE;
    h.cmd_len = (unsigned char)cdb_len;
    h.cmdp = (unsigned char *)cdb;
    h.dxferp = buf;
    h.dxfer_len = len;
    h.sbp = sense;
    h.mx_sb_len = sizeof sense;
    h.timeout = 10000;
    if (ioctl(fd, SG_IO, &h) < 0)
        return snprintf(why, wn, "SG_IO %02x: %s", cdb[0], strerror(errno)), -1;
    /* a unit attention (a LUN came or went: REPORTED LUNS DATA HAS CHANGED) is reported
     * once; the command is sent again, as sg tools do */
    if (h.status == 2 && (sense[2] & 0xf) == 6 && retry_ua-- > 0)
        return sg_cmd_try(fd, cdb, cdb_len, buf, len, why, wn, retry_ua);
    if (h.status || h.host_status || h.driver_status)
        return snprintf(why, wn, "SG_IO %02x: status 0x%x host 0x%x driver 0x%x sense %x/%02x/%02x",
                        cdb[0], h.status, h.host_status, h.driver_status, sense[2] & 0xf,
                        sense[12], sense[13]), -1;
    return 0;
}

static int sg_cmd(int fd, const uint8_t *cdb, unsigned cdb_len, uint8_t *buf, unsigned len,
                  char *why, size_t wn)
{
    return sg_cmd_try(fd, cdb, cdb_len, buf, len, why, wn, 2);
}

static int do_inquiry(int fd, char *why, size_t wn)
{
    uint8_t cdb[6] = {0x12, 0, 0, 0, 96, 0}, b[96] = {0};
    if (sg_cmd(fd, cdb, 6, b, sizeof b, why, wn) < 0)
        return -1;
    if ((b[0] & 0x1f) != 0 || b[4] < 31)
        return snprintf(why, wn, "INQUIRY: peripheral 0x%02x, additional length %u", b[0], b[4]), -1;
    for (int i = 8; i < 16; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return snprintf(why, wn, "INQUIRY: vendor byte %d is 0x%02x", i, b[i]), -1;
    return snprintf(why, wn, "%.8s %.16s", (char *)b + 8, (char *)b + 16), 0;
}

static int do_capacity(int fd, uint64_t bytes, char *why, size_t wn)
{
    uint8_t cdb[16] = {0x9e, 0x10}, b[32] = {0};
    cdb[13] = sizeof b;
    if (sg_cmd(fd, cdb, 16, b, sizeof b, why, wn) < 0)
        return -1;
    uint64_t last = 0;
    for (int i = 0; i < 8; i++)
        last = last << 8 | b[i];
    uint32_t bl = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
    if ((last + 1) * bl != bytes)
        return snprintf(why, wn, "READ CAPACITY (16): %llu blocks of %u, the disk has %llu bytes",
                        (unsigned long long)(last + 1), bl, (unsigned long long)bytes), -1;
    return snprintf(why, wn, "%llu blocks of %u", (unsigned long long)(last + 1), bl), 0;
}

static unsigned scsi_disks(void)
{
    DIR *d = opendir("/sys/class/scsi_disk");
    unsigned n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int wait_disks(uint64_t want, char *why, size_t wn)
{
    for (int i = 0; i < 100; i++) {
        if (scsi_disks() >= want)
            return snprintf(why, wn, "%u disk(s)", scsi_disks()), 0;
        usleep(100000);
    }
    return snprintf(why, wn, "%u SCSI disk(s) after 10 s, %llu wanted", scsi_disks(),
                    (unsigned long long)want), -1;
}

/* Whether /sys/class/scsi_device has H:0:T:L for some host H. */
static int lun_present(uint64_t t, uint64_t l)
{
    char tail[64];
    snprintf(tail, sizeof tail, ":0:%llu:%llu", (unsigned long long)t, (unsigned long long)l);
    DIR *d = opendir("/sys/class/scsi_device");
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        size_t n = strlen(e->d_name), k = strlen(tail);
        const char *c = strchr(e->d_name, ':');
        found = c && n >= k && strcmp(c, tail) == 0;
    }
    if (d)
        closedir(d);
    return found;
}

static int do_hotplug(uint64_t add, uint64_t t, uint64_t l, char *why, size_t wn)
{
    dprintf(1, "vsguest: host hotplug %s %llu %llu\n", add ? "add" : "remove",
            (unsigned long long)t, (unsigned long long)l);
    for (int i = 0; i < 100; i++) {
        if (lun_present(t, l) == !!add)
            return snprintf(why, wn, "LUN %llu:%llu %s /sys/class/scsi_device after %d ms",
                            (unsigned long long)t, (unsigned long long)l,
                            add ? "in" : "gone from", i * 100), 0;
        usleep(100000);
    }
    int k = snprintf(why, wn, "LUN %llu:%llu still %s /sys/class/scsi_device after 10 s:",
                     (unsigned long long)t, (unsigned long long)l, add ? "not in" : "in");
    DIR *d = opendir("/sys/class/scsi_device");
    for (struct dirent *e; d && k > 0 && (size_t)k < wn && (e = readdir(d));)
        if (e->d_name[0] != '.')
            k += snprintf(why + k, wn - (size_t)k, " %s", e->d_name);
    if (d)
        closedir(d);
    return -1;
}

static int run_op(int fd, const char *dev, const op *o, char *why, size_t wn)
{
    static const uint8_t tur[6] = {0};
    switch (o->kind) {
    case 'w':
        return range_ok(o->a, o->b, why, wn) ? -1 : do_write(fd, o->a, o->b, (uint32_t)o->c, why, wn);
    case 'r':
        return range_ok(o->a, o->b, why, wn) ? -1 : do_read(fd, o->a, o->b, why, wn);
    case 'd':
        return range_ok(o->a, o->b, why, wn) ? -1 : do_range_ioctl(fd, BLKDISCARD, o->a, o->b, why, wn);
    case 'z':
        return range_ok(o->a, o->b, why, wn) ? -1 : do_range_ioctl(fd, BLKZEROOUT, o->a, o->b, why, wn);
    case 'f':
        return fsync(fd) < 0 ? (snprintf(why, wn, "fsync: %s", strerror(errno)), -1) : 0;
    case 'p':
        return do_parallel(dev, o->a, o->b, o->c, why, wn);
    case 's':
        return wait_disks(o->a, why, wn);
    case 'i':
        return do_inquiry(fd, why, wn);
    case 'c':
        return do_capacity(fd, nsectors * SECTOR, why, wn);
    case 't':
        return sg_cmd(fd, tur, 6, NULL, 0, why, wn);
    case 'h':
        return do_hotplug(o->a, o->b, o->c, why, wn);
    }
    return snprintf(why, wn, "unknown op '%c'", o->kind), -1;
}

/* OPS from `vsguest=` on the kernel command line (or argv[2] when given). */
static int parse_ops(const char *s, op *ops, int max)
{
    int n = 0;
    while (*s && *s != ' ' && *s != '\n') {
        if (n == max)
            return -1;
        op *o = &ops[n++];
        memset(o, 0, sizeof *o);
        o->kind = *s++;
        uint64_t *f[3] = {&o->a, &o->b, &o->c};
        for (int i = 0; i < 3 && *s == ':'; i++) {
            char *end;
            *f[i] = strtoull(s + 1, &end, 10);
            if (end == s + 1)
                return -1;
            s = end;
        }
        if (*s == ',')
            s++;
        else if (*s && *s != ' ' && *s != '\n')
            return -1;
    }
    return n;
}

static int cmdline_ops(int argc, char **argv, op *ops)
{
    if (argc > 2)
        return parse_ops(argv[2], ops, MAX_OPS);
    static char line[4096];
    int fd = open("/proc/cmdline", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    line[n] = 0;
    char *p = strstr(line, "vsguest=");
    return p ? parse_ops(p + 8, ops, MAX_OPS) : -1;
}

int main(int argc, char **argv)
{
    const char *dev = argc > 1 ? argv[1] : "/dev/vda";
    static op ops[MAX_OPS];
    struct utsname u;
    uname(&u);
    int n = cmdline_ops(argc, argv, ops);
    int fd = open(dev, O_RDWR | O_DIRECT);
    uint64_t bytes = 0;
    if (n < 0 || fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0 || bytes < SECTOR) {
        dprintf(1, "vsguest: result error ops=0 failed=0 kernel=%s why=%s\n", u.release,
                n < 0 ? "no-workload" : "no-device");
        return 1;
    }
    nsectors = bytes / SECTOR;
    shadow = malloc(nsectors * sizeof *shadow);
    if (!shadow)
        return 1;
    memset(shadow, 0xff, nsectors * sizeof *shadow); /* UNKNOWN */
    dprintf(1, "vsguest: device %s %llu sectors, %d ops\n", dev, (unsigned long long)nsectors, n);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char why[200] = "";
        int rc = run_op(fd, dev, &ops[i], why, sizeof why);
        dprintf(1, "vsguest: op %d %c %llu %llu %s%s%s\n", i + 1, ops[i].kind,
                (unsigned long long)ops[i].a, (unsigned long long)ops[i].b, rc ? "fail" : "ok",
                why[0] ? " " : "", why);
        if (rc)
            failed++;
    }
    close(fd);
    dprintf(1, "vsguest: result %s ops=%d failed=%d kernel=%s\n", failed ? "fail" : "pass", n,
            failed, u.release);
    return failed ? 1 : 0;
}
