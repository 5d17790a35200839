/* `virtiosim --help` and `virtiosim COMMAND --help`: every usage text in one place, so the
 * overview, each command's help and the man page (virtiosim.1) are easy to keep in step. */
#include <stdio.h>
#include <string.h>

#include "sim/cli.h"

static const char run_options[] =
    "  --backend ref|qemu   the device under test: ref (default), the in-process\n"
    "                       reference device on a virtual clock; qemu, QEMU's\n"
    "                       virtio-blk-pci driven without a guest\n"
    "  --backend pci        the same as --backend ref --transport pci\n"
    "  --backend qsd        qemu-storage-daemon's vhost-user-blk export (started here)\n"
    "  --backend vhost-user:SOCKET   any vhost-user-blk back-end listening on SOCKET\n"
    "  --backend qemu-vhost-user:SOCKET   QEMU's vhost-user-blk-pci in front of it\n"
    "  --backend guest      Linux's own driver in a test guest drives the reference\n"
    "                       device (QEMU vhost-user-*-pci, the scenario's steps as the\n"
    "                       guest's workload); judges the driver role. `make guest` first\n"
    "  --backend vhost-kernel   the kernel's vhost-scsi judged as the device: the test\n"
    "                       guest (booted once per run) runs virtiosim as its VMM, LIO\n"
    "                       set up from the scenario; `make guest` first\n"
    "  --backend vhost-kernel:DEV   the same where DEV (e.g. /dev/vhost-scsi) exists\n"
    "  --kernel DIR         with --backend guest or vhost-kernel: the guest image (vmlinux,\n"
    "                       initramfs.cpio, release; guest-image/build.sh) (default:\n"
    "                       $VIRTIOSIM_KERNEL, then build/guest/linux-6.1)\n"
    "  --qemu PATH          qemu-system-x86_64 to use (default: $VIRTIOSIM_QEMU, PATH)\n"
    "  --qemu-fresh         a QEMU of its own for every scenario (default: consecutive\n"
    "                       scenarios asking for the same QEMU share one, reset\n"
    "                       between them)\n"
    "  --qemu-same-cpu      run virtiosim and QEMU on one CPU: kicks and interrupts\n"
    "                       become local wake-ups (the default with --backend qemu;\n"
    "                       runs side by side each claim a CPU of their own, and one\n"
    "                       that finds all claimed leaves QEMU to the scheduler)\n"
    "  --qemu-any-cpu       let the scheduler place QEMU\n"
    "  --transport pci      with --backend ref: the reference device behind an\n"
    "                       in-process virtio-pci function (the same PCI driver code\n"
    "                       as for QEMU, deterministic)\n"
    "  --notify iothread|direct   with --backend ref or pci: how a doorbell reaches\n"
    "                       the device, overriding the scenarios' transport.notify\n"
    "                       (iothread: ACRN's eventfd + iothread, sim/README.md)\n"
    "  --seed N             override every scenario's seed\n"
    "  --trace FILE         write every event as JSON Lines\n"
    "  --trace-format F     jsonl (default) or chrome: Chrome Trace Event JSON that\n"
    "                       Perfetto and chrome://tracing open (a track per queue), or\n"
    "                       vst: compact binary (~40 bytes a request; `virtiosim trace`)\n"
    "  --report DIR         write results.json, junit.xml, results.ktap, report.html\n"
    "  --mutant NAME        run against a deliberately broken device (see `mutants`)\n"
    "  --expected FILE      known non-conformances of the back-end (XFAIL, with the\n"
    "                       reason); e.g. scenarios/expected/qemu-7.2.yaml. Its backend:\n"
    "                       must be this --backend (exit 2 if not); a version: other\n"
    "                       than the back-end's is a warning\n"
    "  --device-profile FILE   what the device under test is meant to be (YAML; write\n"
    "                       one with `virtiosim probe`): scenarios whose preconditions it\n"
    "                       does not meet are not_applicable, and a device-profile result\n"
    "                       says where the device differs from it (external back-ends)\n"
    "  --filter GLOB        only scenarios whose name matches GLOB (fnmatch; may be\n"
    "                       given more than once: any matches)\n"
    "  --shard K/N          only part K of N: the (filtered) list's scenarios i with\n"
    "                       i % N == K-1, for parallel CI jobs; `report merge` joins them\n"
    "  --list               print the scenarios that would run (name, TAB, file), run none\n"
    "  --json               end with a one-line JSON summary on stdout\n"
    "  -q, --quiet          only the summary line (and failures)\n"
    "  -v, --verbose        every step\n"
    "  -h, --help           this text\n";

static const char exit_codes[] =
    "exit codes: 0 all passed, 1 a scenario or statement failed, 2 usage or scenario\n"
    "error, 3 back-end or infrastructure error\n";

static void usage_run(FILE *f)
{
    fputs("usage: virtiosim run [OPTIONS] SCENARIO|DIR...\n"
          "replay scenarios (DIR: every *.yaml below it, in name order)\n\noptions:\n", f);
    fputs(run_options, f);
    fputs("\n", f);
    fputs(exit_codes, f);
}

static void usage_suite(FILE *f)
{
    fputs("usage: virtiosim suite [NAME|FILE] [OPTIONS]\n"
          "certification run of a named suite (scenarios/suites/NAME.yaml, looked for here,\n"
          "then beside the program); with no NAME, list the suites\n\noptions:\n", f);
    fputs(run_options, f);
    fputs("\n", f);
    fputs(exit_codes, f);
}

static void usage_probe(FILE *f)
{
    fputs("usage: virtiosim probe --backend vhost-user:SOCKET [--device KIND] [-o FILE]\n"
          "connect to the back-end, read what the device presents (offered features, config)\n"
          "and write it as a device profile (for --device-profile); `virtiosim --probe` is\n"
          "the same\n\n"
          "  --backend B          the back-end (any of run's; an external one is the point)\n"
          "  --device KIND        the device type (default: blk)\n"
          "  -o, --output FILE    write the profile there (default: stdout)\n", f);
    fputs(exit_codes, f);
}

static void usage_trace(FILE *f)
{
    fputs("usage: virtiosim trace FILE [--to jsonl|chrome|digests] [-o OUT]\n"
          "print a compact trace (--trace-format vst) as JSON Lines, byte for byte what\n"
          "--trace-format jsonl writes for the same runs (default), as Chrome Trace Event\n"
          "JSON, or as each scenario's trace digest (\"HEX  NAME\" lines); to stdout or OUT\n",
          f);
}

static void usage_clauses(FILE *f)
{
    fputs("usage: virtiosim clauses [--area AREA] [--role device|driver] [--json]\n"
          "                         [--scenarios DIR]\n"
          "the statement catalogue and its coverage: each normative statement, its level,\n"
          "whether a check judges it and a mutant proves the check\n\n"
          "  --area AREA          only one area (blk, pci, split, packed, generic,\n"
          "                       vhost-user, ...; an unknown one is an error)\n"
          "  --role device|driver only statements about that role\n"
          "  --json               a JSON array instead of the table\n"
          "  --scenarios DIR      run DIR's scenarios in-process and say which exercise\n"
          "                       each statement\n"
          "  -h, --help           this text\n", f);
}

static void usage_report(FILE *f)
{
    fputs("usage: virtiosim report diff OLD.json NEW.json\n"
          "       virtiosim report merge OUT_DIR IN_DIR|IN.json...\n\n"
          "  diff    verdicts that changed between two runs' results.json (exit 1 on a\n"
          "          regression)\n"
          "  merge   one run's four reports from its shards' results.json (IN_DIR/results.json\n"
          "          or a file); exits as the merged run would have\n", f);
}

static void usage_serve(FILE *f)
{
    fputs("usage: virtiosim serve --device blk --vhost-user SOCKET [--image FILE]\n"
          "                       [--capacity SIZE] [--read-only] [--queues N] [--once]\n"
          "                       [--seg-max N] [--size-max N] [--frontend-offers all|MASK]\n"
          "                       [--report DIR]\n"
          "export the reference device to vhost-user front-ends (e.g. QEMU's\n"
          "vhost-user-blk-pci) and judge the front-ends' messages and rings; each\n"
          "front-end is served at once in a thread of its own, all on one disk\n\n"
          "  --device NAME        the device to serve (blk)\n"
          "  --vhost-user SOCKET  listen on this UNIX socket\n"
          "  --image FILE         back the disk with FILE (default: memory)\n"
          "  --capacity SIZE      disk size in bytes with an optional unit, a multiple of\n"
          "                       512 (64MiB; 1MB == 1MiB, base 2 as in fio)\n"
          "  --read-only          offer VIRTIO_BLK_F_RO\n"
          "  --queues N           1..64 request queues\n"
          "  --seg-max N          blk seg_max offered (default 126: a driver's requests,\n"
          "                       seg_max + 2 descriptors, fit QEMU's default queue-size\n"
          "                       128; raise it with the front-end's queue-size)\n"
          "  --size-max N         blk size_max offered, bytes (default: not offered)\n"
          "  --frontend-offers all|MASK  the feature bits (hex) the front-end passes on\n"
          "                       to its driver; the driver checks about offered features\n"
          "                       judge offer & MASK (default: unknown, not judged; QEMU's\n"
          "                       vhost-user-blk-pci drops RING_PACKED unless packed=on)\n"
          "  --once               stop after the first front-end disconnects\n"
          "  --report DIR         each connection's verdict as a line of\n"
          "                       DIR/connections.jsonl when it ends; the standard reports\n"
          "                       and vhost-user-server.json at most once a second and on exit\n"
          "  -h, --help           this text\n", f);
}

static void usage_mutants(FILE *f)
{
    fputs("usage: virtiosim mutants [--notify iothread|direct]\n"
          "prove every check fails against its mutant (a deliberately broken reference\n"
          "device) and passes against the correct device (scenarios from the working\n"
          "directory, the source tree or the installed share/virtiosim); --notify runs\n"
          "them all with that notify path instead of each scenario's own\n",
          f);
}

static void usage_campaign(FILE *f)
{
    fputs("usage: virtiosim campaign [--backend ref|pci|qemu|qsd|vhost-user:SOCKET]\n"
          "                          [--seed N] [--count N] [--class NAME[,NAME...]]\n"
          "                          [--report DIR] [--expected FILE] [--replay SEED:INDEX]\n"
          "                          [--list]\n"
          "hostile inputs (each breaking one driver-role rule), each followed by a health\n"
          "probe; a verdict per input: survived, needs-reset, wedged, crashed, hung\n\n"
          "  --backend B          the device under test (as for run; default ref)\n"
          "  --qemu PATH          qemu-system-x86_64 to use\n"
          "  --seed N             the campaign's seed (default 1)\n"
          "  --count N            inputs to run (default 1000), spread over the classes\n"
          "  --class NAME         only these classes (repeat, or comma-separated)\n"
          "  --ring split|packed  only inputs on that ring (default both)\n"
          "  --list               the classes: rule broken, statement, safe outcomes\n"
          "  --replay SEED:INDEX  run one input again (same --class as the campaign)\n"
          "  --report DIR         the four reports (one row per class) and campaign.json\n"
          "  --expected FILE      known findings (entries `scenario: campaign/CLASS`)\n"
          "  --observe MS         how long an input's chain may take on a real back-end\n"
          "                       (default 50)\n"
          "  --hang MS            a back-end that does not answer one access within MS\n"
          "                       is hung (default 1000); it is then restarted\n"
          "  --no-minimise        report findings as found\n"
          "  --mutant NAME        against a deliberately broken reference device\n"
          "  --max-deaths N       after the back-end died (crashed or hung) N times on one\n"
          "                       class and ring, skip that class there (default 20; 0:\n"
          "                       never)\n"
          "  -v, --verbose        every input;  -q, --quiet  fewer finding lines\n"
          "\nexit codes: 0 no unexpected finding, 1 findings, 2 usage error, 3 back-end or\n"
          "infrastructure error\n", f);
}

static void usage_all(FILE *f)
{
    fputs("usage: virtiosim COMMAND [OPTIONS] ...\n"
          "\n"
          "  run [OPTIONS] SCENARIO|DIR...   replay scenarios (DIR: every *.yaml below it)\n"
          "  suite [NAME|FILE] [OPTIONS]     certification run of a named suite\n"
          "                                  (scenarios/suites/NAME.yaml); no NAME: list them\n"
          "  clauses [--area A] [--role R] [--json] [--scenarios DIR]\n"
          "                                  the statement catalogue and its coverage\n"
          "  report diff OLD.json NEW.json   verdicts that changed between two runs\n"
          "  report merge OUT_DIR IN_DIR...  one run's four reports from its shards'\n"
          "                                  results.json (IN_DIR/results.json or a file)\n"
          "  serve --device blk --vhost-user SOCKET [--image FILE] [--capacity SIZE]\n"
          "        [--read-only] [--queues N] [--once] [--report DIR]\n"
          "                                  export the reference device to a vhost-user\n"
          "                                  front-end and judge the front-end's messages\n"
          "  mutants                         prove every check fails against its mutant\n"
          "  trace FILE [--to jsonl|chrome|digests] [-o OUT]\n"
          "                                  a compact trace as JSON Lines or Chrome JSON\n"
          "  campaign [--backend B] [--seed N] [--count N] [--class C] [--replay S:I]\n"
          "                                  hostile inputs with a health probe after each\n"
          "  probe --backend B [--device KIND] [-o FILE]\n"
          "                                  write what the device presents as a profile\n"
          "\n"
          "`virtiosim COMMAND --help` shows one command's options; `man virtiosim`.\n"
          "\n"
          "options of run and suite:\n", f);
    fputs(run_options, f);
    fputs("  --version            version\n\n", f);
    fputs(exit_codes, f);
}

void vs_cli_usage(FILE *f, const char *cmd)
{
    static const struct { const char *name; void (*fn)(FILE *); } cmds[] = {
        {"run", usage_run},         {"suite", usage_suite}, {"clauses", usage_clauses},
        {"report", usage_report},   {"serve", usage_serve}, {"mutants", usage_mutants},
        {"campaign", usage_campaign}, {"probe", usage_probe}, {"trace", usage_trace},
    };
    for (size_t i = 0; cmd && i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            cmds[i].fn(f);
            return;
        }
    }
    usage_all(f);
}

bool vs_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}
