# Shared by scripts/*.sh: locate the repo, install build dependencies, pick
# one shared cargo target dir. Source it; do not run it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# One target dir shared by every script and test run, outside the work tree
# so fresh clones (CI) reuse what an earlier build on this machine compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/falco-rs/target}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build and the privileged tests need, keyed by a command
# or file that proves each is present.
BUILD_PACKAGES=(clang llvm libelf-dev zlib1g-dev pkg-config bpftool make)
TEST_PACKAGES=(containerd runc busybox-static tmux iproute2 procps util-linux openssl python3-venv prometheus-alertmanager rsyslog rsyslog-openssl curl nats-server)

missing_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  printf '%s\n' "${missing[@]}"
}

# install_packages PKG...: installs what is missing when root, otherwise says
# exactly what to install and stops.
install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@" | sed '/^$/d')
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    die "missing packages: ${missing[*]} (no apt-get here: install their equivalents by hand)"
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "missing packages: ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

require_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install a Rust toolchain >= 1.89 (rustup), then re-run"
  local v
  v="$(rustc --version | awk '{print $2}')"
  case "$v" in
    1.[0-8][0-9].*) die "rustc $v is too old: this workspace needs >= 1.89" ;;
  esac
}
