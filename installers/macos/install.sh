#!/bin/sh
# Compagnon — installation pour l'utilisateur courant, sans droits d'administrateur (macOS).
# The same layout as Linux under ~/Library/Application Support/Compagnon, and a LaunchAgent
# (fr.compagnon.agent) that starts « compagnon tray » at login. See installers/README.md.
set -eu

usage() {
    cat <<'EOF'
Usage : install.sh [--from DOSSIER | --wheel FICHIER.whl] [--python PYTHON]
                   [--system-site-packages] [--no-deps] [--uninstall [--purge]]

Installe Compagnon pour l'utilisateur courant (aucun sudo) :
  ~/Library/Application Support/Compagnon/app/versions/<version>/venv   une version
  ~/Library/Application Support/Compagnon/app/current                   la version active
  ~/Library/Application Support/Compagnon/bin/compagnon                 lanceur (et ~/.local/bin)
  ~/Library/LaunchAgents/fr.compagnon.agent.plist                       démarrage : compagnon tray
--uninstall retire tout cela ; vos réglages et clés restent, sauf réglages et journaux avec --purge.
EOF
}

die() { printf 'install.sh : %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*"; }
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
SOURCE=""
WHEEL=""
PYTHON=${PYTHON:-python3}
SYSTEM_SITE=0
NO_DEPS=0
UNINSTALL=0
PURGE=0
LAUNCHCTL=${COMPAGNON_LAUNCHCTL:-launchctl}
while [ $# -gt 0 ]; do
    case $1 in
        --from) [ $# -ge 2 ] || die "--from attend un dossier"; SOURCE=$2; shift 2 ;;
        --wheel) [ $# -ge 2 ] || die "--wheel attend un fichier"; WHEEL=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python attend un interpréteur"; PYTHON=$2; shift 2 ;;
        --system-site-packages) SYSTEM_SITE=1; shift ;;
        --no-deps) NO_DEPS=1; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "option inconnue : $1" ;;
    esac
done

[ -n "${HOME:-}" ] || die "HOME n'est pas défini"
SUPPORT=$HOME/Library/Application\ Support
ROOT=$SUPPORT/Compagnon
APP=$ROOT/app
LAUNCHER=$ROOT/bin/compagnon
LABEL=fr.compagnon.agent
PLIST=$HOME/Library/LaunchAgents/$LABEL.plist
BIN_HOME=$HOME/.local/bin
DOMAIN=gui/$(id -u)

unload_agent() {
    if command -v "$LAUNCHCTL" >/dev/null 2>&1; then
        "$LAUNCHCTL" bootout "$DOMAIN/$LABEL" >/dev/null 2>&1 ||
            "$LAUNCHCTL" unload "$PLIST" >/dev/null 2>&1 || true
    fi
}

if [ "$UNINSTALL" -eq 1 ]; then
    unload_agent
    rm -f "$PLIST"
    if [ -L "$BIN_HOME/compagnon" ] && [ "$(readlink "$BIN_HOME/compagnon")" = "$LAUNCHER" ]; then
        rm -f "$BIN_HOME/compagnon"
    fi
    rm -rf "${ROOT:?}/app" "${ROOT:?}/bin"
    if [ "$PURGE" -eq 1 ]; then
        # Settings, state and logs (platformdirs' macOS folders: « compagnon », the same folder as
        # « Compagnon » on the usual case-insensitive volume); the keys folder stays.
        rm -rf "$HOME/Library/Logs/compagnon" "$HOME/Library/Caches/compagnon"
        for dir in "$ROOT" "$SUPPORT/compagnon"; do
            [ ! -d "$dir" ] || find "$dir" -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
            [ ! -d "$dir/keys" ] || note "Conservé : $dir/keys (vos clés : sauvegardez-les avant de le supprimer)."
        done
    fi
    rmdir "$ROOT/keys" "$ROOT" "$SUPPORT/compagnon" 2>/dev/null || true
    note "Compagnon est désinstallé."
    exit 0
fi

# -- what -----------------------------------------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "Python 3.11 ou plus est nécessaire ($PYTHON) : indiquez-le avec --python"
if [ -n "$WHEEL" ]; then
    [ -f "$WHEEL" ] || die "roue introuvable : $WHEEL"
    WHEEL=$(CDPATH='' cd -- "$(dirname -- "$WHEEL")" && pwd)/$(basename -- "$WHEEL")
    VERSION=$(basename -- "$WHEEL" | sed -n 's/^compagnon-\([^-]*\)-.*\.whl$/\1/p')
else
    SOURCE=${SOURCE:-$SCRIPT_DIR/../..}
    if [ ! -f "$SOURCE/pyproject.toml" ] || [ ! -f "$SOURCE/agent/__init__.py" ]; then
        die "pas un dossier du projet Compagnon : $SOURCE"
    fi
    SOURCE=$(CDPATH='' cd -- "$SOURCE" && pwd)
    VERSION=$(sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' "$SOURCE/agent/__init__.py")
fi
case $VERSION in
    "" | .* | *[!A-Za-z0-9.+_-]*) die "version introuvable ou incorrecte : '$VERSION'" ;;
esac

# -- the version's environment (a failed build leaves the installed versions as they were) -------
mkdir -p "$APP/versions" "$ROOT/bin"
TARGET=$APP/versions/$VERSION
ASIDE=$APP/versions/.install-old-$VERSION-$$
STAGE=""
BUILDING=1
cleanup() {
    status=$?
    [ -z "$STAGE" ] || rm -rf "$STAGE"
    if [ "$status" -ne 0 ] && [ "$BUILDING" -eq 1 ]; then
        rm -rf "$TARGET"
        if [ -d "$ASIDE" ]; then mv "$ASIDE" "$TARGET"; fi
    fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
if [ -e "$TARGET" ]; then mv "$TARGET" "$ASIDE"; fi

note "Compagnon $VERSION : création de l'environnement Python dans $TARGET/venv"
set -- --clear
if [ "$SYSTEM_SITE" -eq 1 ]; then
    set -- "$@" --system-site-packages
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then set -- "$@" --without-pip; fi
fi
"$PYTHON" -m venv "$@" "$TARGET/venv" || die "python -m venv a échoué"
VENV_PY=$TARGET/venv/bin/python
set -- install --disable-pip-version-check --no-input --quiet
if [ "$NO_DEPS" -eq 1 ]; then set -- "$@" --no-deps --no-build-isolation; fi
if [ -n "$WHEEL" ]; then
    set -- "$@" "$WHEEL"
else
    STAGE=$(mktemp -d "${TMPDIR:-/tmp}/compagnon-install.XXXXXX")
    (cd "$SOURCE" && tar -cf - --exclude=./.git --exclude=./build --exclude=./dist --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=./.venv --exclude=./tests .) | (cd "$STAGE" && tar -xf -)
    set -- "$@" "$STAGE"
fi
note "Installation du paquet (pip)…"
"$VENV_PY" -m pip "$@" || die "pip install a échoué"
INSTALLED=$("$TARGET/venv/bin/compagnon" --version 2>&1) || die "compagnon ne démarre pas : $INSTALLED"
[ "$INSTALLED" = "compagnon $VERSION" ] || die "version installée inattendue : $INSTALLED (attendu $VERSION)"
BUILDING=0
rm -rf "$ASIDE"

# -- switch app/current (and app/previous), keep only those two -----------------------------------
OLD=$(readlink "$APP/current" 2>/dev/null || true)
if [ -n "$OLD" ] && [ "$OLD" != "versions/$VERSION" ]; then ln -sfn "$OLD" "$APP/previous"; fi
ln -sfn "versions/$VERSION" "$APP/current"
PREVIOUS=$(readlink "$APP/previous" 2>/dev/null || true)
for dir in "$APP"/versions/* "$APP"/versions/.install-*; do
    [ -e "$dir" ] || continue
    case "versions/${dir##*/}" in "versions/$VERSION" | "$PREVIOUS") continue ;; esac
    rm -rf "$dir"
done

# -- launchers ------------------------------------------------------------------------------------
if [ -f "$SCRIPT_DIR/../common/launcher.py" ]; then
    cp "$SCRIPT_DIR/../common/launcher.py" "$ROOT/bin/launcher.py.tmp" && mv -f "$ROOT/bin/launcher.py.tmp" "$ROOT/bin/launcher.py"
fi
cat >"$LAUNCHER.tmp" <<EOF
#!/bin/sh
# Compagnon launcher (installers/macos/install.sh): runs the active version, app/current.
ROOT=$(shquote "$ROOT")
if [ -f "\$ROOT/bin/launcher.py" ] && [ -x "\$ROOT/app/current/venv/bin/python" ]; then
    COMPAGNON_APP_DIR="\$ROOT/app" exec "\$ROOT/app/current/venv/bin/python" "\$ROOT/bin/launcher.py" "\$@"
fi
exec "\$ROOT/app/current/venv/bin/compagnon" "\$@"
EOF
chmod 755 "$LAUNCHER.tmp" && mv -f "$LAUNCHER.tmp" "$LAUNCHER"
mkdir -p "$BIN_HOME"
if [ -L "$BIN_HOME/compagnon" ] || [ ! -e "$BIN_HOME/compagnon" ]; then ln -sfn "$LAUNCHER" "$BIN_HOME/compagnon"; fi

# -- the LaunchAgent: the template with the launcher's absolute path ------------------------------
mkdir -p "$(dirname "$PLIST")"
"$VENV_PY" - "$SCRIPT_DIR/$LABEL.plist" "$PLIST.tmp" "$LAUNCHER" <<'EOF'
import plistlib, sys
template, target, launcher = sys.argv[1:]
with open(template, "rb") as stream:
    agent = plistlib.load(stream)
agent["ProgramArguments"] = [launcher, "tray"]
with open(target, "wb") as stream:
    plistlib.dump(agent, stream)
EOF
mv -f "$PLIST.tmp" "$PLIST"
if command -v "$LAUNCHCTL" >/dev/null 2>&1; then
    unload_agent
    if "$LAUNCHCTL" bootstrap "$DOMAIN" "$PLIST" >/dev/null 2>&1 || "$LAUNCHCTL" load -w "$PLIST" >/dev/null 2>&1; then
        note "Compagnon démarre (icône dans la barre des menus) et démarrera à chaque ouverture de session."
    else
        note "Note : launchctl n'a pas chargé $PLIST ; Compagnon démarrera à la prochaine ouverture de session."
    fi
else
    note "Note : launchctl est introuvable ; Compagnon démarrera à la prochaine ouverture de session."
fi
note "Compagnon $VERSION installé dans $ROOT."
