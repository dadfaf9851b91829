#!/usr/bin/env bash
# The two commands (see README.md):
#   ./dev.sh demo   set everything up, then run the collector with the demo site on a SQLite file
#   ./dev.sh test   set everything up, then run every test
# Setup installs what a fresh machine lacks: Debian's chromium, clickhouse-server and postgresql
# (tests only), a Python virtualenv with the footfall package, the pinned Pyodide npm package,
# and the tracker bundle.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

say() { printf '[dev] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*  (run it as root, then run this again)"; exit 1
  fi
}

install_chromium() {
  if command -v chromium >/dev/null; then return; fi
  say "installing Debian's chromium for the browser tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# The scale-out backend's tests start private servers from these (tests/services.py); Debian's
# ClickHouse is 18.16, which the backend is written for.
install_servers() {
  local missing=()
  [ -x /usr/sbin/clickhouse-server ] || missing+=(clickhouse-server)
  command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
  [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
  if [ ${#missing[@]} = 0 ]; then return; fi
  say "installing Debian's ${missing[*]} for the scale-out storage tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  say "installing footfall and its test tools into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
}

# Pure-Python wheels (pytest, hypothesis and their deps) that tests/pyodide/ installs into the
# Pyodide runtime, which has no network, to run tests/snippet on the Python the tracker ships on.
fetch_pyodide_test_wheels() {
  "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version 3.14 --no-deps --dest .cache/pyodide-wheels -r tests/pyodide/requirements.txt
}

build_tracker() {
  command -v npm >/dev/null || { say "npm is missing: install Node.js and npm (apt-get install nodejs npm)"; exit 1; }
  "$VENV/bin/python" build.py
}

case "${1:-}" in
  demo)
    install_python
    build_tracker
    say "open http://127.0.0.1:${PORT:-8000}/demo/ ; events: $VENV/bin/footfall events --db footfall.sqlite3"
    exec "$VENV/bin/footfall" serve --demo --db footfall.sqlite3 --port "${PORT:-8000}"
    ;;
  test)
    install_chromium
    install_servers
    install_python
    build_tracker
    fetch_pyodide_test_wheels
    say "ruff and mypy"
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    say "pytest"
    exec "$VENV/bin/python" -m pytest -q "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
