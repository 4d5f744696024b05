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

echo "==> pytest"
set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no test: that is a failure" >&2
  exit 1
fi
exit "$status"
