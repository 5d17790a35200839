#!/usr/bin/env bash
# Installs the Debian packages virtiosim needs that are missing; a no-op when all are there.
set -euo pipefail
pkgs=(build-essential pkg-config libyaml-dev check libjansson-dev libssl-dev python3 python3-pytest
      qemu-system-x86 qemu-utils busybox-static cpio kmod clang libclang-rt-14-dev chromium python3-tap python3-jsonschema meson
      xz-utils zstd python3-pil)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
