#!/usr/bin/env bash
# Install what the test suite needs (Debian packages, Python packages) and run the whole suite.
# Used by the README's quick start and by CI (.ci/run). Safe to run again: installs are skipped
# when already present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(softhsm2 xmlsec1 poppler-utils gnutls-bin libnss3-tools chromium firefox-esr openssl xvfb xdotool python3-venv
              wine64 gcc-mingw-w64-x86-64 nodejs npm)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

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
