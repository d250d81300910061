# Sourced by scripts/kernel-lab.sh and scripts/arm64-lab.sh: Debian packages by exact name through
# a private apt state, never the system's. The caller sets:
#   CACHE          the lab cache directory
#   PATTERN        associative array: key → an exact-name regular expression
#   SUITES         associative array: key → `main:<suite>` and `security:<suite>` entries
#   APT_PREFIX     the state of key K lives in $CACHE/apt/$APT_PREFIX$K/ ("" or "arm64-")
#   APT_ARCH       "" for this machine's architecture, or a foreign one ("arm64")
#   KERNEL_STORE   where kernels are kept, as <package>/vmlinuz
# apt runs with `-o Dir::Etc::sourcelist=… -o Dir::Etc::sourceparts=- -o Dir::State::Lists=…
# -o Dir::Cache=…`, on the mirror of this machine's own sources.

# The mirror of this machine's sources (deb822 `URIs:` or one-line `deb URI`), else Debian's.
mirror() {
  local kind="$1" uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2}' || true)"
  uri+=$'\n'"$(cat /etc/apt/sources.list 2>/dev/null | awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' || true)"
  if [[ "$kind" == security ]]; then
    uri="$(grep -E -- '-security/?$' <<<"$uri" | head -n 1 || true)"
    echo "${uri:-http://deb.debian.org/debian-security}"
  else
    uri="$(grep -vE -- '-security/?$' <<<"$uri" | grep -E '/debian/?$' | head -n 1 || true)"
    echo "${uri:-http://deb.debian.org/debian}"
  fi
}

# apt-get / apt-cache on the private state of a key.
apt_of() {
  local tool="$1" dir="$CACHE/apt/$APT_PREFIX$2" arch=()
  shift 2
  [[ -n "$APT_ARCH" ]] && arch=(-o "APT::Architecture=$APT_ARCH" -o "APT::Architectures::=$APT_ARCH")
  "$tool" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" "${arch[@]}" "$@"
}

# Writes the private sources list of a key and updates its lists when older than a day.
prepare() {
  local key="$1" dir="$CACHE/apt/$APT_PREFIX$1" entry kind suite keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  : >"$dir/sources.list.tmp"
  for entry in ${SUITES[$key]}; do
    kind="${entry%%:*}" suite="${entry#*:}"
    echo "deb [${APT_ARCH:+arch=$APT_ARCH }signed-by=$keyring] $(mirror "$kind") $suite main" >>"$dir/sources.list.tmp"
  done
  mv "$dir/sources.list.tmp" "$dir/sources.list"
  if [[ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]]; then
    apt_of apt-get "$key" update -qq >/dev/null 2>&1 || true
  fi
}

# The newest package of a key that its suites carry (sort -V).
newest() {
  apt_of apt-cache "$1" search --names-only "${PATTERN[$1]}" 2>/dev/null | awk '{print $1}' | grep -E "${PATTERN[$1]}" | sort -V | tail -n 1 || true
}

# The newest kernel of a key already in the store (the suite moved on, or no network).
cached() {
  local d names=""
  for d in "$KERNEL_STORE"/*/; do
    [[ -f "$d/vmlinuz" ]] || continue
    d="$(basename "$d")"
    grep -qE "${PATTERN[$1]}" <<<"$d" && names+="$d"$'\n'
  done
  sort -V <<<"$names" | grep -v '^$' | tail -n 1 || true
}

# Downloads one kernel package by exact name and keeps its vmlinuz (boot/vmlinuz-* of
# linux-image-*, usr/lib/modules/*/vmlinuz of sid's linux-binary-*).
fetch() {
  local key="$1" name="$2" dir="$KERNEL_STORE/$2" tmp image
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  (cd "$tmp" && apt_of apt-get "$key" download -qq "$name" >/dev/null 2>&1) || return 1
  dpkg -x "$tmp"/*.deb "$tmp/x" || return 1
  image="$(ls "$tmp"/x/boot/vmlinuz-* "$tmp"/x/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1 || true)"
  [[ -n "$image" ]] || return 1
  mkdir -p "$dir"
  cp "$image" "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
  echo "${SUITES[$key]}" >"$dir/suite"
}
