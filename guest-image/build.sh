#!/usr/bin/env bash
# Builds a test-guest image: an uncompressed vmlinux (booted through QEMU's PVH entry) and
# a busybox initramfs with the virtio modules in dependency order and virtiosim's static
# guest helper (vsguest). Everything comes from Debian packages, fetched into build/ by
# tools/backports.sh (private apt configuration; nothing is installed on the host).
#
#   guest-image/build.sh 6.1                   -> build/guest/linux-6.1/
#   guest-image/build.sh 6.12                  -> build/guest/linux-6.12/
#   guest-image/build.sh --kernel PATH [--modules DIR] --out DIR
#       a user's own kernel (bzImage/vmlinuz or vmlinux); DIR/lib/modules/RELEASE holds its
#       modules (make modules_install INSTALL_MOD_PATH=DIR), or none when virtio is built in
#
# An image folder holds vmlinux, initramfs.cpio and release (the kernel's uname -r).
# A finished folder is reused (rebuilt when the kernel, vsguest.c, init, the extractor or
# this script is newer).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
HERE=guest-image
# The drivers the guest needs; their dependencies are found with modinfo.
ROOT_MODULES="virtio_pci virtio_blk"
# --backend vhost-kernel: the kernel's vhost-scsi and LIO's fileio backstore, in their own
# order file (modules-vhost.order), loaded only when the guest runs virtiosim against them.
VHOST_MODULES="vhost_scsi target_core_file"
# virtiosim itself, linked statically (make build/virtiosim-static), for vhost-kernel.
VIRTIOSIM_STATIC=${VIRTIOSIM_STATIC:-$BUILD/virtiosim-static}
# Linux's virtio_scsi and the disk driver for its LUNs (sd_mod serves SG_IO on /dev/sdX
# too): their own list, modules-scsi.order, loaded only when the kernel command line says
# vsmods=scsi (a blk run boots without them).
SCSI_MODULES="virtio_scsi sd_mod"

die() { echo "guest-image: $*" >&2; exit 1; }

kernel="" moddir="" out="" version=""
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --modules) moddir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    6.1|6.12) version=$1; shift ;;
    *) die "usage: guest-image/build.sh 6.1|6.12 | --kernel PATH [--modules DIR] --out DIR" ;;
    esac
done

if [ -n "$version" ]; then
    what=kernel; [ "$version" = 6.1 ] && what=kernel-6.1
    prefix=$(tools/backports.sh "$what" | tail -n1)
    kernel=$(ls "$prefix"/boot/vmlinuz-* | head -n1)
    moddir=$prefix
    out=${out:-$BUILD/guest/linux-$version}
fi
[ -n "$kernel" ] && [ -n "$out" ] || die "a kernel version or --kernel PATH --out DIR is needed"
[ -f "$kernel" ] || die "no kernel at $kernel"

if [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio" ] && [ -f "$out/release" ] &&
   [ "$out/initramfs.cpio" -nt "$HERE/vsguest.c" ] && [ "$out/initramfs.cpio" -nt "$0" ] &&
   [ "$out/initramfs.cpio" -nt "$HERE/init" ] &&
   [ "$out/initramfs.cpio" -nt "$HERE/extract_vmlinux.py" ] &&
   [ "$out/initramfs.cpio" -nt "$kernel" ] &&
   { [ ! -f "$VIRTIOSIM_STATIC" ] || [ "$out/initramfs.cpio" -nt "$VIRTIOSIM_STATIC" ]; }; then
    echo "$out"; exit 0
fi

command -v busybox >/dev/null || [ -x /bin/busybox ] || die "busybox-static is not installed (make deps)"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
readelf -l "$BUSYBOX" 2>/dev/null | grep -q "Requesting program interpreter" &&
    die "$BUSYBOX is not static: install busybox-static (make deps)"

rm -rf "$out.partial"; mkdir -p "$out.partial"
tmp=$out.partial

# The kernel: an ELF as it is, a bzImage unpacked.
if head -c4 "$kernel" | grep -q "ELF"; then
    cp "$kernel" "$tmp/vmlinux"
else
    python3 "$HERE/extract_vmlinux.py" "$kernel" "$tmp/vmlinux"
fi

# The release: from the module tree, else from the bzImage's version string.
release=""
if [ -n "$moddir" ] && [ -d "$moddir/lib/modules" ]; then
    release=$(ls "$moddir/lib/modules" | head -n1)
fi
if [ -z "$release" ]; then
    release=$(strings -n 8 "$kernel" | sed -n 's/^Linux version \([^ ]*\).*/\1/p; s/^\([0-9][0-9.]*[^ ]*\) (.*@.*) #.*/\1/p' | head -n1)
fi
[ -n "$release" ] || release=unknown
echo "$release" > "$tmp/release"

root=$tmp/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
for a in sh mount insmod echo cat sleep reboot ls uname cut; do ln -s busybox "$root/bin/$a"; done
for a in sed tr; do ln -s busybox "$root/bin/$a"; done # init: vsmods=, vsdev=
for a in base64 mkdir rm mountpoint; do ln -s busybox "$root/bin/$a"; done
if [ -f "$VIRTIOSIM_STATIC" ]; then
    cp "$VIRTIOSIM_STATIC" "$root/bin/virtiosim"
    strip "$root/bin/virtiosim" 2>/dev/null || true
fi
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -static -o "$root/bin/vsguest" "$HERE/vsguest.c"

# Modules in dependency order (Debian's package has no modules.dep: depmod runs at install).
: > "$root/modules.order"
if [ -n "$moddir" ] && [ -d "$moddir/lib/modules/$release" ]; then
    mtree=$moddir/lib/modules/$release
    declare -A done_mod=()
    modfile() { find "$mtree" -name "$1.ko*" -o -name "$(echo "$1" | tr _ -).ko*" | head -n1; }
    add_module() {
        local name=$1 f dep
        [ -n "${done_mod[$name]:-}" ] && return 0
        done_mod[$name]=1
        f=$(modfile "$name")
        if [ -z "$f" ]; then
            grep -qE "/$name\.ko|/$(echo "$name" | tr _ -)\.ko" "$mtree/modules.builtin" 2>/dev/null ||
                die "module $name: neither in $mtree nor built in"
            return 0 # built in
        fi
        for dep in $(modinfo -F depends "$f" | tr , ' '); do add_module "$dep"; done
        case "$f" in
        *.ko.xz) xz -dc "$f" > "$root/lib/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$name.ko" ;;
        *.ko.gz) gzip -dc "$f" > "$root/lib/modules/$name.ko" ;;
        *) cp "$f" "$root/lib/modules/$name.ko" ;;
        esac
        echo "$name" >> "$root/$order"
    }
    order=modules.order
    for m in $ROOT_MODULES; do add_module "$m"; done
    # Linux's virtio_scsi loads after the base list: what that list has is not repeated
    order=modules-scsi.order
    : > "$root/$order"
    for m in $SCSI_MODULES; do add_module "$m"; done
    # vhost-kernel's list loads on its own: its dependencies are listed again
    done_mod=() order=modules-vhost.order
    : > "$root/$order"
    for m in $VHOST_MODULES; do add_module "$m"; done
fi

cp "$HERE/init" "$root/init"
chmod 755 "$root/init" "$root/bin/vsguest"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$tmp/initramfs.cpio"
cp "$root/modules.order" "$tmp/modules.order"
[ -f "$root/modules-scsi.order" ] && cp "$root/modules-scsi.order" "$tmp/modules-scsi.order"
# the image serves --backend vhost-kernel only with virtiosim inside (the host checks for it)
if [ -f "$root/modules-vhost.order" ] && [ -f "$root/bin/virtiosim" ]; then
    cp "$root/modules-vhost.order" "$tmp/modules-vhost.order"
fi
rm -rf "$root"
rm -rf "$out"; mv "$tmp" "$out"
echo "guest-image: $out: Linux $release, modules: $(tr '\n' ' ' < "$out/modules.order")" >&2
echo "$out"
