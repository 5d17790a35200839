#!/usr/bin/env python3
"""Extracts the uncompressed ELF kernel (vmlinux) from an x86 bzImage (vmlinuz).

QEMU boots an ELF vmlinux through its PVH entry note, which skips the kernel's own
decompressor (about a second under TCG). The bzImage's setup header says where the
compressed payload is (boot protocol 2.08+: payload_offset at 0x248, payload_length at
0x24c, relative to the protected-mode code that starts after the setup sectors); its first
bytes say how it is compressed.

usage: extract_vmlinux.py VMLINUZ OUT
"""
import lzma
import shutil
import struct
import subprocess
import sys
import zlib


def payload(img: bytes) -> bytes:
    if len(img) < 0x250 or img[0x202:0x206] != b"HdrS":
        raise ValueError("not a bzImage (no HdrS setup header)")
    version = struct.unpack_from("<H", img, 0x206)[0]
    if version < 0x208:
        raise ValueError(f"boot protocol {version:#x} has no payload fields (needs 2.08)")
    setup_sects = img[0x1f1] or 4
    off, length = struct.unpack_from("<II", img, 0x248)
    start = (setup_sects + 1) * 512 + off
    if start + length > len(img):
        raise ValueError("payload runs past the end of the file")
    return img[start:start + length]


def decompress(data: bytes) -> bytes:
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if data.startswith(b"\x1f\x8b"):
        # one gzip member; the 4-byte size the kernel's build appends is left unread
        return zlib.decompressobj(wbits=31).decompress(data)
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        if not shutil.which("zstd"):
            raise ValueError("zstd payload: install the zstd package")
        # the kernel's build appends the uncompressed size (4 bytes) after the frame
        return subprocess.run(["zstd", "-dc", "--memory=2048MB"], input=data[:-4],
                              capture_output=True, check=True).stdout
    if data.startswith(b"\x5d\x00\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
    if data.startswith(b"\x7fELF"):
        return data  # an uncompressed payload
    raise ValueError(f"unknown payload compression (first bytes {data[:4].hex()})")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], "rb") as f:
            elf = decompress(payload(f.read()))
    except (OSError, ValueError, lzma.LZMAError, zlib.error, subprocess.CalledProcessError) as e:
        print(f"extract_vmlinux: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    if not elf.startswith(b"\x7fELF"):
        print(f"extract_vmlinux: {sys.argv[1]}: the payload is not an ELF file", file=sys.stderr)
        return 1
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(elf)
    shutil.move(tmp, sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
