#!/usr/bin/env bash
# The arm64 lab (docs/kernel-lab.md, "arm64"): boots Debian's arm64 cloud kernels under
# qemu-system-aarch64 (TCG) with a busybox and bpftool initramfs, and measures what the model's
# arm64 rule decides: the kmalloc caches the kernel made (KMALLOC_MIN_SIZE), and what a memory
# cgroup is charged for a no-prealloc hash of 80-byte elements filled with 20,000 of them.
#
#   scripts/arm64-lab.sh                      fetch (when absent) and boot every series
#   scripts/arm64-lab.sh --series 6.1,7       only these series (5.10 6.1 6.12 7)
#
# One line per kernel on stdout:
#   ARM64 <series> <release> kmalloc=<sizes> current=<bytes> kernel=<bytes> slab=<bytes> percpu=<bytes>
# kmalloc: the sizes of /sys/kernel/slab/kmalloc-N, smallest first; the rest: cgroup /t's
# memory.current growth over the inserts, and its memory.stat kernel, slab_unreclaimable and percpu
# after them (flushed: cpu.stat read, 3 s, read again). The map is made by a shell in /t, which then
# leaves, so that /t holds the map's memory and the inserts (bpftool batch, from the root) charge
# it: the map's memcg. The guest has 2 CPUs, cgroup v2, 4 KiB pages.
#
# Kernels and userland (busybox-static, bpftool and its libraries, from bookworm arm64) come by
# exact package name through a private apt state per series under $CACHE/apt/arm64-<series>/ with
# `[arch=arm64]`, on the mirror of this machine's sources; the system's apt state is never read or
# changed. 5.10 comes from bullseye main only (this mirror serves no arm64 security updates).
# Cache: $BPFMEM_LAB_CACHE, else /var/cache/bpfmem-lab (arm64/<package>/vmlinuz, arm64/root/).
# Exit status: 0 when every kernel booted and printed its line, 1 when one did not, 2 for bad
# arguments, 3 when qemu-system-aarch64 or cpio is missing or nothing could be fetched.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${BPFMEM_LAB_CACHE:-/var/cache/bpfmem-lab}"
ONLY=""
while (($#)); do
  case "$1" in
    --series) shift; ONLY="${1:-}"; [[ -n "$ONLY" ]] || { echo "arm64-lab.sh: --series needs a list like 6.1,7" >&2; exit 2; } ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "arm64-lab.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

ALL_SERIES=(5.10 6.1 6.12 7)
# Exact names (the -unsigned packages hold a plain arm64 Image; the signed ones an EFI image).
declare -A PATTERN=(
  [5.10]='^linux-image-5\.10\.0-[0-9]+-cloud-arm64-unsigned$'
  [6.1]='^linux-image-6\.1\.0-[0-9]+-cloud-arm64-unsigned$'
  [6.12]='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-arm64-unsigned$'
  [7]='^linux-binary-7\.[0-9]+\.[0-9]+\+deb[0-9]+-cloud-arm64$'
)
# `user`: the guest's busybox and bpftool (userland() below).
declare -A SUITES=(
  [5.10]='main:bullseye'
  [6.1]='main:bookworm main:bookworm-updates security:bookworm-security'
  [6.12]='main:bookworm main:bookworm-updates security:bookworm-security'
  [7]='main:sid'
  [user]='main:bookworm main:bookworm-updates'
)
for s in ${ONLY//,/ }; do
  [[ -n "${SUITES[$s]:-}" && "$s" != user ]] || { echo "arm64-lab.sh: unknown series $s (one of ${ALL_SERIES[*]})" >&2; exit 2; }
done
SERIES=("${ALL_SERIES[@]}")
[[ -n "$ONLY" ]] && read -r -a SERIES <<<"${ONLY//,/ }"

command -v qemu-system-aarch64 >/dev/null || { echo "arm64-lab.sh: qemu-system-aarch64 is not installed (Debian package qemu-system-arm)" >&2; exit 3; }
command -v cpio >/dev/null || { echo "arm64-lab.sh: cpio is not installed (Debian package cpio)" >&2; exit 3; }

APT_PREFIX="arm64-"
APT_ARCH="arm64"
KERNEL_STORE="$CACHE/arm64"
# shellcheck source=scripts/lib/debian-kernels.sh
source "$ROOT/scripts/lib/debian-kernels.sh"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# The guest's userland: busybox, bpftool and the libraries it links, once.
userland() {
  local dir="$CACHE/arm64/root" tmp="$WORK/user" p
  [[ -x "$dir/sbin/bpftool" && -x "$dir/bin/busybox" ]] && return 0
  prepare user
  mkdir -p "$tmp/x"
  for p in busybox-static bpftool libc6 libcap2 libelf1 zlib1g; do
    (cd "$tmp" && apt_of apt-get user download -qq "$p" >/dev/null 2>&1) || { echo "arm64-lab.sh: apt-get download $p (arm64) failed" >&2; return 1; }
  done
  for p in "$tmp"/*.deb; do dpkg -x "$p" "$tmp/x"; done
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/bin" "$dir.tmp/sbin" "$dir.tmp/lib" "$dir.tmp/usr/lib"
  cp "$tmp/x/bin/busybox" "$dir.tmp/bin/" && cp "$tmp/x/usr/sbin/bpftool" "$dir.tmp/sbin/"
  cp -a "$tmp/x/lib/aarch64-linux-gnu" "$tmp/x/lib/ld-linux-aarch64.so.1" "$dir.tmp/lib/"
  cp -a "$tmp/x/usr/lib/aarch64-linux-gnu" "$dir.tmp/usr/lib/"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

mkdir -p "$CACHE/arm64" "$CACHE/apt" 2>/dev/null || { echo "arm64-lab.sh: cannot create $CACHE/arm64 (set BPFMEM_LAB_CACHE)" >&2; exit 3; }
userland || exit 3

# The initramfs: the userland, the inserts as one bpftool batch file, and init.
IMG="$WORK/root"
cp -a "$CACHE/arm64/root" "$IMG"
mkdir -p "$IMG/proc" "$IMG/sys" "$IMG/dev" "$IMG/tmp"
zeros="$(printf '0 %.0s' $(seq 24))"
awk -v zeros="$zeros" 'BEGIN { for (i = 0; i < 20000; i++) printf "map update pinned /sys/fs/bpf/h key %d %d %d 0 0 0 0 0 value %s\n", i % 256, int(i / 256) % 256, int(i / 65536), zeros }' >"$IMG/inserts"
cat >"$IMG/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
mount -t cgroup2 none /sys/fs/cgroup && echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mount -t bpf bpf /sys/fs/bpf
sizes=$(ls /sys/kernel/slab | sed -n 's/^kmalloc-\([0-9]*\)\(k\{0,1\}\)$/\1 \2/p' | awk '{ print ($2 == "k" ? $1 * 1024 : $1) }' | sort -n | tr '\n' ',' | sed 's/,$//')
mkdir /sys/fs/cgroup/t
echo $$ > /sys/fs/cgroup/t/cgroup.procs
bpftool map create /sys/fs/bpf/h type hash key 8 value 24 entries 100000 name h flags 1 || echo "ARM64_ERROR map create failed"
echo $$ > /sys/fs/cgroup/cgroup.procs
sleep 1
before=$(cat /sys/fs/cgroup/t/memory.current)
bpftool batch file /inserts > /tmp/out 2>&1 || echo "ARM64_ERROR bpftool batch: $(tail -n 1 /tmp/out)"
cat /sys/fs/cgroup/t/cpu.stat > /dev/null; sleep 3; cat /sys/fs/cgroup/t/cpu.stat > /dev/null
after=$(cat /sys/fs/cgroup/t/memory.current)
stat() { sed -n "s/^$1 //p" /sys/fs/cgroup/t/memory.stat; }
echo "ARM64_LINE $(uname -r) kmalloc=$sizes current=$((after - before)) kernel=$(stat kernel) slab=$(stat slab_unreclaimable) percpu=$(stat percpu)"
poweroff -f
EOF
chmod +x "$IMG/init"
(cd "$IMG" && find . | cpio -o -H newc --quiet) >"$WORK/init.cpio"

status=0
fetched=0
for series in "${SERIES[@]}"; do
  prepare "$series"
  name="$(newest "$series")"
  if [[ -n "$name" && ! -f "$CACHE/arm64/$name/vmlinuz" ]]; then
    echo "arm64-lab.sh: fetching $name" >&2
    fetch "$series" "$name" || { echo "arm64-lab.sh: apt-get download $name failed" >&2; name=""; }
  fi
  [[ -n "$name" && -f "$CACHE/arm64/$name/vmlinuz" ]] || name="$(cached "$series")"
  if [[ -z "$name" ]]; then
    echo "arm64-lab.sh: no arm64 kernel of series $series could be had" >&2
    continue
  fi
  fetched=$((fetched + 1))
  out="$(timeout 600 qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$CACHE/arm64/$name/vmlinuz" -initrd "$WORK/init.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" </dev/null 2>&1 | tr -d '\r' || true)"
  line="$(grep -m 1 '^ARM64_LINE ' <<<"$out" || true)"
  if [[ -z "$line" ]] || grep -q '^ARM64_ERROR' <<<"$out"; then
    echo "arm64-lab.sh: $name: $(grep -m 1 '^ARM64_ERROR' <<<"$out" || tail -n 3 <<<"$out" | tr '\n' ' ')" >&2
    status=1
    continue
  fi
  echo "ARM64 $series ${line#ARM64_LINE }"
done
((fetched > 0)) || exit 3
exit "$status"
