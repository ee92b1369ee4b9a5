# shellcheck shell=bash
# Shared bash helpers for scripts/setup, scripts/serve, scripts/test and
# scripts/pg. Sourced, never run: it only defines functions and variables.
#
# Everything here must work on a fresh Debian machine as root (CI) and on a
# developer's machine as a normal user, with nothing but the repository.

# The repository root, whatever directory the script was started from.
PEEPSWEB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$PEEPSWEB_ROOT/.venv"

say() { printf '%s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Nanoseconds since the epoch, for phase timings.
now_ns() { date +%s%N; }
# Seconds since $1 (a now_ns value), with one decimal.
elapsed_since() { awk -v s="$1" -v e="$(now_ns)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }

# True when "$1" runs and is Python >= 3.12 (Django 6 needs it).
python_ok() {
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

# Prints the real executable of a Python >= 3.12, or fails with a message.
# Order: $PEEPSWEB_PYTHON, python3 when new enough, then pyenv's installs
# (3.12 first: it is what requirements are pinned and tested with). pyenv
# *shims* such as python3.12 refuse to run unless PYENV_VERSION names them,
# which python_ok treats as "not usable", so the real binaries are probed.
find_python() {
  local candidate roots root
  if [ -n "${PEEPSWEB_PYTHON:-}" ] && ! python_ok "$PEEPSWEB_PYTHON"; then
    die "PEEPSWEB_PYTHON=$PEEPSWEB_PYTHON is not a working Python >= 3.12"
  fi
  for candidate in "${PEEPSWEB_PYTHON:-}" python3 python3.12 python3.13; do
    [ -n "$candidate" ] || continue
    if python_ok "$candidate"; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  roots=("${PYENV_ROOT:-}" "$(pyenv root 2>/dev/null || true)" "$HOME/.pyenv" /root/.pyenv)
  for root in "${roots[@]}"; do
    [ -n "$root" ] && [ -d "$root/versions" ] || continue
    for candidate in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3 \
      "$root"/versions/3.1[4-9]*/bin/python3; do
      if [ -x "$candidate" ] && python_ok "$candidate"; then
        printf '%s\n' "$candidate"
        return 0
      fi
    done
  done
  die "no Python >= 3.12 found (tried \$PEEPSWEB_PYTHON, python3, python3.12, python3.13 and pyenv's versions). Install one, or set PEEPSWEB_PYTHON=/path/to/python3.12"
}

# A TCP port that is free on 127.0.0.1 right now. Another process could take
# it before we bind it; callers that can retry do.
free_port() {
  local py="$VENV/bin/python"
  [ -x "$py" ] || py=python3
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The directory holding PostgreSQL's server binaries (initdb, pg_ctl), newest
# Debian version first, then whatever is on PATH. Empty when there is none.
pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  fi
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 1
  fi
}
