#!/usr/bin/env bash
# Fetches packages from Debian's bookworm-backports into a private prefix under build/,
# never installing them on the host and never touching /etc/apt: a private apt
# configuration (its own sources, lists and cache under build/apt) downloads the .debs,
# and dpkg-deb -x unpacks them.
#
#   tools/backports.sh qemu      build/backports/qemu-10.0/  (bin/qemu-system-x86_64, ...)
#   tools/backports.sh kernel    build/backports/linux-6.12/ (boot/vmlinuz-*, lib/modules)
#   tools/backports.sh kernel-6.1 build/backports/linux-6.1/ (bookworm's own kernel package)
#
# The mirror is the one this machine's own apt configuration uses for bookworm.
# Prints the prefix on its last line. Idempotent: a finished prefix is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: tools/backports.sh qemu|kernel|kernel-6.1}
BUILD=${BUILD:-build}
APT=$PWD/$BUILD/apt
SUITE=bookworm-backports

mirror() {
    local uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk 'BEGIN{RS="";FS="\n"} /Suites:[^\n]*bookworm([ \n]|$)/ && /Components:[^\n]*main/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, " "); print a[2]; exit } }' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || { echo "backports: no bookworm mirror in /etc/apt" >&2; exit 3; }
    echo "$uri"
}

aptget() {
    apt-get -q -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" \
        -o Dir::State::Status="$APT/status" -o Debug::NoLocking=1 \
        -o APT::Get::AllowUnauthenticated=false "$@"
}

setup() {
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
    # The host's dpkg status: apt resolves what the host lacks, as for a real install.
    cp /var/lib/dpkg/status "$APT/status"
    local m; m=$(mirror)
    # bookworm itself too: dependencies the host lacks resolve from there.
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$m" bookworm "$m" "$SUITE" > "$APT/sources.list"
    # The lists are refreshed once a day at most.
    if [ -z "$(find "$APT/lists" -name "*_bookworm_main_*Packages*" -mtime -1 2>/dev/null)" ] ||
       [ -z "$(find "$APT/lists" -name "*${SUITE}*Packages*" -mtime -1 2>/dev/null)" ]; then
        aptget update >&2
    fi
}

# Downloads the packages (from backports) and those they need that the host lacks or has
# too old into the private cache, then unpacks them all into $1.
fetch_unpack() {
    local prefix=$1; shift
    local tmp="$prefix.partial"
    rm -rf "$tmp" "$APT/cache/archives"/*.deb; mkdir -p "$tmp"
    aptget -y -t "$SUITE" --no-install-recommends --download-only install "$@" >&2
    local n=0
    for deb in "$APT"/cache/archives/*.deb; do
        [ -f "$deb" ] || continue
        dpkg-deb -x "$deb" "$tmp"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { echo "backports: nothing was fetched for $*" >&2; exit 3; }
    rm -rf "$prefix"
    mv "$tmp" "$prefix"
}

case "$what" in
qemu)
    prefix=$PWD/$BUILD/backports/qemu-10.0
    if [ ! -x "$prefix/usr/bin/qemu-system-x86_64" ]; then
        setup
        fetch_unpack "$prefix" qemu-system-x86 qemu-utils
    fi
    echo "$prefix"
    ;;
kernel)
    prefix=$PWD/$BUILD/backports/linux-6.12
    if [ -z "$(ls "$prefix"/boot/vmlinuz-* 2>/dev/null)" ]; then
        setup
        fetch_unpack "$prefix" linux-image-amd64
    fi
    echo "$prefix"
    ;;
kernel-6.1)
    # bookworm's kernel: only the image package (its modules are inside), no dependencies.
    prefix=$PWD/$BUILD/backports/linux-6.1
    if [ -z "$(ls "$prefix"/boot/vmlinuz-* 2>/dev/null)" ]; then
        setup
        dl=$APT/debs-6.1; rm -rf "$dl" "$prefix.partial"; mkdir -p "$dl" "$prefix.partial"
        (cd "$dl" && aptget download linux-image-amd64/bookworm >&2)
        img=$(dpkg-deb -f "$dl"/linux-image-amd64_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
        [ -n "$img" ] || { echo "backports: linux-image-amd64 names no kernel" >&2; exit 3; }
        (cd "$dl" && aptget download "$img" >&2)
        dpkg-deb -x "$dl/$img"_*.deb "$prefix.partial"
        rm -rf "$prefix"; mv "$prefix.partial" "$prefix"; rm -rf "$dl"
    fi
    echo "$prefix"
    ;;
*) echo "usage: tools/backports.sh qemu|kernel|kernel-6.1" >&2; exit 2 ;;
esac
