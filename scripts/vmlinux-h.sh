#!/usr/bin/env bash
# Regenerates the vendored kernel type headers bpf/src/vmlinux/<arch>/vmlinux.h
# (see bpf/src/vmlinux/README.md). Usage:
#   scripts/vmlinux-h.sh x86_64           # from this machine's /sys/kernel/btf/vmlinux
#   scripts/vmlinux-h.sh arm64 [PACKAGE]  # from a Debian arm64 kernel package
# The arm64 header is read from the BTF inside the kernel image of PACKAGE
# (default: the newest linux-binary-*-arm64 in Debian unstable) plus the
# overlayfs module's BTF (the probe reads struct ovl_inode, a module type on
# Debian). Needs bpftool, xz, python3 and network access to deb.debian.org.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

arch="${1:?usage: $0 x86_64|arm64 [package]}"
dst="$REPO_ROOT/bpf/src/vmlinux/$arch/vmlinux.h"
mkdir -p "$(dirname "$dst")"

case "$arch" in
x86_64)
  [ "$(uname -m)" = x86_64 ] || die "run the x86_64 dump on an x86_64 kernel"
  bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$dst"
  ;;
arm64)
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" >"$work/sources.list"
  mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial"
  apt_opts=(-o "Dir::State=$work/state" -o "Dir::Cache=$work/cache" -o Dir::State::status=/dev/null
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64
    -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent)
  apt-get "${apt_opts[@]}" update >/dev/null
  pkg="${2:-$(apt-cache "${apt_opts[@]}" search '^linux-binary-.*-arm64$' | awk '{print $1}' | grep -v -- '-rt-\|-16k\|-cloud-' | sort -V | tail -1)}"
  [ -n "$pkg" ] || die "no arm64 kernel package found"
  log "arm64 types from $pkg"
  modules="${pkg/linux-binary/linux-modules}"
  (cd "$work" && apt-get "${apt_opts[@]}" download "$pkg:arm64" "$modules:arm64" >/dev/null 2>&1)
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  image="$(find "$work/x" -name 'vmlinuz*' | head -1)"
  overlay="$(find "$work/x" -name 'overlay.ko*' | head -1)"
  # The arm64 Image is not an ELF file: cut the raw BTF blob (magic 0xeB9F,
  # 24-byte header) out of it.
  python3 - "$image" "$work/vmlinux.btf" <<'PY'
import gzip, struct, sys
img = open(sys.argv[1], 'rb').read()
if img[:2] == b'\x1f\x8b':
    img = gzip.decompress(img)
head = b'\x9f\xeb\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00'
at = img.find(head)
while at >= 0:
    _, _, _, hlen, _, tlen, soff, slen = struct.unpack('<HBBIIIII', img[at:at + 24])
    if tlen > 1_000_000:
        open(sys.argv[2], 'wb').write(img[at:at + hlen + soff + slen])
        sys.exit(0)
    at = img.find(head, at + 1)
sys.exit('no BTF blob in ' + sys.argv[1])
PY
  case "$overlay" in *.xz) xz -dc "$overlay" >"$work/overlay.ko" ;; *) cp "$overlay" "$work/overlay.ko" ;; esac
  # With -B the dump holds the base (vmlinux) types and the module's.
  bpftool btf dump file "$work/overlay.ko" -B "$work/vmlinux.btf" format c >"$dst"
  ;;
*) die "unknown architecture $arch (x86_64 or arm64)" ;;
esac
log "wrote $dst ($(wc -c <"$dst") bytes)"
