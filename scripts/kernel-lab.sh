#!/usr/bin/env bash
# The kernel lab (docs/kernel-lab.md): fetches Debian's newest 6.1 and 6.12 cloud kernels by exact
# package name, keeps their vmlinuz in the lab cache, and runs `bpfmem conformance --vm` on each.
#
#   scripts/kernel-lab.sh                 fetch (when absent) and run the lab on both kernels
#   scripts/kernel-lab.sh --fetch-only    fetch, and print where the kernels are
#   scripts/kernel-lab.sh -- --json       pass options to `bpfmem conformance --vm K --quick`
#
# Cache: $BPFMEM_LAB_CACHE, else /var/cache/bpfmem-lab (kernels/<package>/vmlinuz). Each kernel is
# printed as one line `KERNEL <series> <package> <path to vmlinuz>`. Exit status: 0 when every run
# passed, 1 when one failed, 2 for bad arguments, 3 when a kernel could not be had.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${BPFMEM_LAB_CACHE:-/var/cache/bpfmem-lab}"
FETCH_ONLY=0
PASS=()
while (($#)); do
  case "$1" in
    --fetch-only) FETCH_ONLY=1 ;;
    --) shift; PASS=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kernel-lab.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# The two series, as an exact-name pattern for `apt-cache search --names-only` (never a bare
# prefix: `apt-get download linux-image-6.1` would match dozens of 1 GB packages).
declare -A PATTERN=(
  [6.1]='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$'
  [6.12]='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64$'
)

UPDATED=0
# The newest package of a series that apt knows (sort -V), after one `apt-get update` if none.
newest() {
  local names
  names="$(apt-cache search --names-only "${PATTERN[$1]}" 2>/dev/null | awk '{print $1}' | grep -E "${PATTERN[$1]}" | sort -V || true)"
  if [[ -z "$names" && $UPDATED -eq 0 ]]; then
    UPDATED=1
    apt-get update -qq >/dev/null 2>&1 || true
    names="$(apt-cache search --names-only "${PATTERN[$1]}" 2>/dev/null | awk '{print $1}' | grep -E "${PATTERN[$1]}" | sort -V || true)"
  fi
  tail -n 1 <<<"$names"
}

# The newest kernel of a series already in the cache (for a machine without the network).
cached() {
  local d names=""
  for d in "$CACHE"/kernels/*/; do
    [[ -f "$d/vmlinuz" ]] || continue
    d="$(basename "$d")"
    grep -qE "${PATTERN[$1]}" <<<"$d" && names+="$d"$'\n'
  done
  sort -V <<<"$names" | grep -v '^$' | tail -n 1 || true
}

# Downloads one package by exact name and keeps its vmlinuz.
fetch() {
  local name="$1" dir="$CACHE/kernels/$1" tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  (cd "$tmp" && apt-get download -qq "$name" >/dev/null 2>&1) || return 1
  dpkg -x "$tmp"/*.deb "$tmp/x" || return 1
  mkdir -p "$dir"
  cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
}

mkdir -p "$CACHE/kernels" 2>/dev/null || { echo "kernel-lab.sh: cannot create $CACHE/kernels (set BPFMEM_LAB_CACHE)" >&2; exit 3; }

KERNELS=()
for series in 6.1 6.12; do
  name="$(newest "$series")"
  if [[ -n "$name" && ! -f "$CACHE/kernels/$name/vmlinuz" ]]; then
    echo "kernel-lab.sh: fetching $name" >&2
    fetch "$name" || { echo "kernel-lab.sh: apt-get download $name failed" >&2; name=""; }
  fi
  [[ -n "$name" && -f "$CACHE/kernels/$name/vmlinuz" ]] || name="$(cached "$series")"
  if [[ -z "$name" ]]; then
    echo "kernel-lab.sh: no $series cloud kernel: apt knows none matching ${PATTERN[$series]} and none is cached in $CACHE/kernels" >&2
    exit 3
  fi
  echo "KERNEL $series $name $CACHE/kernels/$name/vmlinuz"
  KERNELS+=("$CACHE/kernels/$name/vmlinuz")
done

((FETCH_ONLY)) && exit 0

BPFMEM="$ROOT/dist/bin/bpfmem.js"
[[ -f "$ROOT/dist/bin/lab-guest.js" ]] || { echo "kernel-lab.sh: $ROOT/dist is not built (npm run build)" >&2; exit 3; }
status=0
for k in "${KERNELS[@]}"; do
  echo "== bpfmem conformance --vm $k --quick ${PASS[*]}"
  node "$BPFMEM" conformance --vm "$k" --quick "${PASS[@]}" || status=1
done
exit "$status"
