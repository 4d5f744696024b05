#!/usr/bin/env bash
# Install what the test suite needs (Debian packages, Python packages) and run the whole suite.
# Used by the README's quick start and by CI (.ci/run). Safe to run again: installs are skipped
# when already present.
set -euo pipefail
cd "$(dirname "$0")/.."

# wine32:i386: Inno Setup's compiler and the setups it makes are 32-bit Windows programs
# (tests/windows/test_installer_under_wine.py); npm fetches that compiler (package innosetup) and TypeScript.
APT_PACKAGES=(softhsm2 xmlsec1 poppler-utils gnutls-bin libnss3-tools chromium firefox-esr openssl xvfb xdotool python3-venv
              wine64 wine32:i386 gcc-mingw-w64-x86-64 gcc libp11-kit-dev)
# Debian's npm conflicts with a Node.js that ships its own npm (NodeSource's): only where there is none.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  echo "==> dpkg --add-architecture i386 (wine32)"
  $SUDO dpkg --add-architecture i386
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
echo "==> pip install -e .[test]"
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"

set +e
if [ $# -eq 0 ] && [ -z "${COMPAGNON_TESTS_SERIAL:-}" ]; then
  # The whole suite. tests/windows spends its time in Wine (Windows CPython, the PyInstaller build,
  # Inno Setup), the rest in browsers, local servers and child processes: run side by side, they
  # overlap on the machine's cores. The Windows group's report is printed after the rest's.
  windows_log="$(mktemp)"
  echo "==> pytest tests/windows (in the background, report below)"
  "$PYTHON" -m pytest tests/windows >"$windows_log" 2>&1 &
  windows_pid=$!
  trap 'kill "$windows_pid" 2>/dev/null' INT TERM
  echo "==> pytest (all but tests/windows)"
  "$PYTHON" -m pytest --ignore=tests/windows
  status=$?
  wait "$windows_pid"
  windows_status=$?
  echo "==> pytest tests/windows"
  cat "$windows_log"
  rm -f "$windows_log"
else
  echo "==> pytest $*"
  "$PYTHON" -m pytest "$@"
  status=$?
  windows_status=0
fi
set -e
for code in "$status" "$windows_status"; do
  if [ "$code" -eq 5 ]; then
    echo "pytest collected no test: that is a failure" >&2
    exit 1
  fi
done
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
exit "$windows_status"
