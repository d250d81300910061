#!/usr/bin/env bash
# The kernel lab (docs/kernel-lab.md): fetches Debian's newest cloud kernel of each series of the
# matrix by exact package name, keeps its vmlinuz in the lab cache, and runs
# `bpfmem conformance --vm K --quick` on each.
#
#   scripts/kernel-lab.sh                     fetch (when absent) and run the lab on every kernel
#   scripts/kernel-lab.sh --fetch-only        fetch, and print where the kernels are
#   scripts/kernel-lab.sh --series 6.16,7     only these series (5.10 6.1 6.12 6.16 6.18 7)
#   scripts/kernel-lab.sh --jobs 2            two VMs at a time (a TCG guest keeps about one CPU busy)
#   scripts/kernel-lab.sh -- --json           pass options to `bpfmem conformance --vm K --quick`
#
# The series and where Debian ships them: 5.10 (bullseye, bullseye-security), 6.1 and 6.12
# (bookworm, bookworm-updates, bookworm-security), 6.16 and 6.18 (trixie-backports), the newest
# 7.x (sid: linux-binary-7.*-cloud-amd64, vmlinuz under usr/lib/modules/*/vmlinuz). Each series has
# a private apt state under $CACHE/apt/<series>/ (sources list, lists, cache) on the mirror of this
# machine's own sources; apt runs with `-o Dir::Etc::sourcelist=… -o Dir::Etc::sourceparts=-
# -o Dir::State::Lists=… -o Dir::Cache=…`, so the system's apt state is never touched. A series
# the suite no longer carries (trixie-backports moves on to newer kernels) comes from the cache.
#
# Cache: $BPFMEM_LAB_CACHE, else /var/cache/bpfmem-lab (kernels/<package>/vmlinuz). Each kernel is
# printed as one line `KERNEL <series> <package> <path to vmlinuz>`; a series that cannot be had is
# said on stderr and the others still run. Exit status: 0 when every run passed, 1 when one failed,
# 2 for bad arguments, 3 when a kernel could not be had (and every run that was made passed).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${BPFMEM_LAB_CACHE:-/var/cache/bpfmem-lab}"
FETCH_ONLY=0
ONLY=""
JOBS=1
PASS=()
while (($#)); do
  case "$1" in
    --fetch-only) FETCH_ONLY=1 ;;
    --series) shift; ONLY="${1:-}"; [[ -n "$ONLY" ]] || { echo "kernel-lab.sh: --series needs a list like 6.16,7" >&2; exit 2; } ;;
    --jobs) shift; JOBS="${1:-}"; [[ "$JOBS" =~ ^[1-8]$ ]] || { echo "kernel-lab.sh: --jobs needs a number from 1 to 8" >&2; exit 2; } ;;
    --) shift; PASS=("$@"); break ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kernel-lab.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

ALL_SERIES=(5.10 6.1 6.12 6.16 6.18 7)
# Exact-name patterns (never a bare prefix: `apt-get download linux-image-6.1` would match dozens
# of 1 GB packages).
declare -A PATTERN=(
  [5.10]='^linux-image-5\.10\.0-[0-9]+-cloud-amd64$'
  [6.1]='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$'
  [6.12]='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64$'
  [6.16]='^linux-image-6\.16\.[0-9]+\+deb[0-9]+(\+bpo)?-cloud-amd64$'
  [6.18]='^linux-image-6\.18\.[0-9]+\+deb[0-9]+(\+bpo)?-cloud-amd64$'
  [7]='^linux-binary-7\.[0-9]+\.[0-9]+\+deb[0-9]+-cloud-amd64$'
)
# Suites of each series: `main` for the archive, `security` for debian-security.
declare -A SUITES=(
  [5.10]='main:bullseye security:bullseye-security'
  [6.1]='main:bookworm main:bookworm-updates security:bookworm-security'
  [6.12]='main:bookworm main:bookworm-updates security:bookworm-security'
  [6.16]='main:trixie-backports'
  [6.18]='main:trixie-backports'
  [7]='main:sid'
)

for s in ${ONLY//,/ }; do
  [[ -n "${PATTERN[$s]:-}" ]] || { echo "kernel-lab.sh: unknown series $s (one of ${ALL_SERIES[*]})" >&2; exit 2; }
done
SERIES=("${ALL_SERIES[@]}")
[[ -n "$ONLY" ]] && read -r -a SERIES <<<"${ONLY//,/ }"

APT_PREFIX=""
APT_ARCH=""
KERNEL_STORE="$CACHE/kernels"
# shellcheck source=scripts/lib/debian-kernels.sh
source "$ROOT/scripts/lib/debian-kernels.sh"

mkdir -p "$CACHE/kernels" "$CACHE/apt" 2>/dev/null || { echo "kernel-lab.sh: cannot create $CACHE/kernels (set BPFMEM_LAB_CACHE)" >&2; exit 3; }

KERNELS=()
MISSING=()
for series in "${SERIES[@]}"; do
  prepare "$series"
  name="$(newest "$series")"
  if [[ -n "$name" && ! -f "$CACHE/kernels/$name/vmlinuz" ]]; then
    echo "kernel-lab.sh: fetching $name" >&2
    fetch "$series" "$name" || { echo "kernel-lab.sh: apt-get download $name failed" >&2; name=""; }
  fi
  [[ -n "$name" && -f "$CACHE/kernels/$name/vmlinuz" ]] || name="$(cached "$series")"
  if [[ -z "$name" ]]; then
    # The other series still run; the exit status says one could not be had.
    echo "kernel-lab.sh: no $series cloud kernel: its suites (${SUITES[$series]}) carry none matching ${PATTERN[$series]} and none is cached in $CACHE/kernels" >&2
    MISSING+=("$series")
    continue
  fi
  echo "KERNEL $series $name $CACHE/kernels/$name/vmlinuz"
  KERNELS+=("$CACHE/kernels/$name/vmlinuz")
done

if ((FETCH_ONLY)); then
  ((${#MISSING[@]} == 0)) || exit 3
  exit 0
fi

BPFMEM="$ROOT/dist/bin/bpfmem.js"
[[ -f "$ROOT/dist/bin/lab-guest.js" ]] || { echo "kernel-lab.sh: $ROOT/dist is not built (npm run build)" >&2; exit 3; }
status=0
# Each run writes to a file of its own, printed in the matrix's order once all have ended. Background
# jobs of a script ignore SIGINT, so Ctrl-C and SIGTERM are passed on as SIGTERM (on which bpfmem
# stops its VM and cleans up).
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
trap 'kill $(jobs -p) 2>/dev/null; wait; exit 130' INT TERM
for i in "${!KERNELS[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  k="${KERNELS[$i]}"
  (
    echo "== bpfmem conformance --vm $k --quick ${PASS[*]}"
    if node "$BPFMEM" conformance --vm "$k" --quick "${PASS[@]}"; then echo 0 >"$OUT/$i.rc"; else echo 1 >"$OUT/$i.rc"; fi
  ) >"$OUT/$i.out" 2>&1 &
done
wait
for i in "${!KERNELS[@]}"; do
  cat "$OUT/$i.out"
  [[ "$(cat "$OUT/$i.rc" 2>/dev/null)" == 0 ]] || status=1
done
((status == 0 && ${#MISSING[@]} > 0)) && status=3
exit "$status"
