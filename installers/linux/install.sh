#!/bin/sh
# Compagnon — installation pour l'utilisateur courant, sans droits d'administrateur (Linux).
# Layout and options: installers/README.md. Safe to run again (same result; upgrades too).
set -eu

usage() {
    cat <<'EOF'
Usage : install.sh [--from DOSSIER | --wheel FICHIER.whl] [options]

Installe Compagnon pour l'utilisateur courant (aucun sudo) :
  $XDG_DATA_HOME/compagnon/app/versions/<version>/venv   environnement Python de la version
  $XDG_DATA_HOME/compagnon/app/current                   lien vers la version active
  $XDG_DATA_HOME/compagnon/bin/compagnon                 lanceur (aussi ~/.local/bin/compagnon)
  $XDG_CONFIG_HOME/autostart/compagnon.desktop           démarrage avec la session : compagnon tray
  $XDG_CONFIG_HOME/systemd/user/compagnon.service        session sans bureau : compagnon serve

Source (par défaut : le dépôt qui contient ce script) :
  --from DOSSIER            un dossier du projet (pyproject.toml)
  --wheel FICHIER.whl       une roue compagnon-<version>-*.whl
Options :
  --python PYTHON           interpréteur Python 3.11 ou plus (défaut : python3, ou $PYTHON)
  --system-site-packages    l'environnement voit les paquets Python du système
  --no-deps                 n'installe aucune dépendance ni environnement de construction isolé
                            (elles doivent déjà être là, ex. avec --system-site-packages)
  --no-service              écrit compagnon.service sans l'activer
  -h, --help                cette aide
EOF
}

die() { printf 'install.sh : %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*"; }

# 'it'\''s' — a word for a POSIX shell script.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# An argument of a desktop entry's Exec key, or of a systemd ExecStart= line: quoted when needed.
execarg() {
    case $1 in
        *[!A-Za-z0-9/._+@-]*) printf '"%s"' "$(printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g' -e 's/%/%%/g')" ;;
        *) printf '%s' "$1" ;;
    esac
}

# Write stdin to $1 through a temporary file in the same folder (readers never see half a file).
write_file() {
    mkdir -p "$(dirname "$1")"
    cat >"$1.tmp.$$"
    chmod "${2:-644}" "$1.tmp.$$"
    mv -f "$1.tmp.$$" "$1"
}

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
SOURCE=""
WHEEL=""
PYTHON=${PYTHON:-python3}
SYSTEM_SITE=0
NO_DEPS=0
SERVICE=1
# Tests point this at a stand-in; absent, the unit is written but not enabled.
SYSTEMCTL=${COMPAGNON_SYSTEMCTL:-systemctl}

while [ $# -gt 0 ]; do
    case $1 in
        --from) [ $# -ge 2 ] || die "--from attend un dossier"; SOURCE=$2; shift 2 ;;
        --from=*) SOURCE=${1#*=}; shift ;;
        --wheel) [ $# -ge 2 ] || die "--wheel attend un fichier"; WHEEL=$2; shift 2 ;;
        --wheel=*) WHEEL=${1#*=}; shift ;;
        --python) [ $# -ge 2 ] || die "--python attend un interpréteur"; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#*=}; shift ;;
        --system-site-packages) SYSTEM_SITE=1; shift ;;
        --no-deps) NO_DEPS=1; shift ;;
        --no-service) SERVICE=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "option inconnue : $1" ;;
    esac
done
[ -z "$SOURCE" ] || [ -z "$WHEEL" ] || die "--from et --wheel s'excluent"
[ "$(id -u)" -ne 0 ] || note "Note : installation pour root ; Compagnon s'installe pour chaque utilisateur, sans sudo."

# -- where ----------------------------------------------------------------------------------------
[ -n "${HOME:-}" ] || die "HOME n'est pas défini"
absolute_or() { case ${1:-} in /*) printf '%s' "$1" ;; *) printf '%s' "$2" ;; esac; }
DATA_HOME=$(absolute_or "${XDG_DATA_HOME:-}" "$HOME/.local/share")
CONFIG_HOME=$(absolute_or "${XDG_CONFIG_HOME:-}" "$HOME/.config")
BIN_HOME=$(absolute_or "${XDG_BIN_HOME:-}" "$HOME/.local/bin")
ROOT=$DATA_HOME/compagnon
APP=$ROOT/app
LAUNCHER=$ROOT/bin/compagnon
AUTOSTART=$CONFIG_HOME/autostart/compagnon.desktop
UNIT=$CONFIG_HOME/systemd/user/compagnon.service

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

# -- one installer or updater at a time (the updater takes the same lock) ------------------------
mkdir -p "$APP/versions" "$ROOT/bin"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$APP/.lock"
    flock -n 9 || die "une autre installation ou mise à jour est en cours ($APP/.lock)"
fi

# -- the version's environment --------------------------------------------------------------------
TARGET=$APP/versions/$VERSION
ASIDE=$APP/versions/.install-old-$VERSION-$$
STAGE=""
BUILDING=0
cleanup() {
    status=$?
    [ -z "$STAGE" ] || rm -rf "$STAGE"
    if [ "$status" -ne 0 ] && [ "$BUILDING" -eq 1 ]; then
        rm -rf "$TARGET"
        if [ -d "$ASIDE" ]; then mv "$ASIDE" "$TARGET" && note "La version $VERSION déjà installée est remise en place."; fi
    fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

BUILDING=1
if [ -e "$TARGET" ]; then
    mv "$TARGET" "$ASIDE"    # reinstalling the same version: the old one comes back on failure
fi
note "Compagnon $VERSION : création de l'environnement Python dans $TARGET/venv"
set -- --clear
if [ "$SYSTEM_SITE" -eq 1 ]; then
    set -- "$@" --system-site-packages
    # The system's pip is visible from the environment: no need to copy one into it.
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then set -- "$@" --without-pip; fi
fi
"$PYTHON" -m venv "$@" "$TARGET/venv" ||
    die "python -m venv a échoué (Debian/Ubuntu : le paquet python3-venv est nécessaire)"
VENV_PY=$TARGET/venv/bin/python
"$VENV_PY" -c "import tkinter" >/dev/null 2>&1 ||
    note "Tk pour Python est absent : les fenêtres natives (consent.policy = \"native\", sélecteur de fichiers) ne seront pas disponibles ; la console les remplace (Debian/Ubuntu : python3-tk)."

set -- install --disable-pip-version-check --no-input --quiet
if [ "$NO_DEPS" -eq 1 ]; then set -- "$@" --no-deps --no-build-isolation; fi
if [ -n "$WHEEL" ]; then
    set -- "$@" "$WHEEL"
else
    # Build from a copy: the source folder stays as it was (no build/ or *.egg-info in it).
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

# -- switch app/current (and app/previous) --------------------------------------------------------
OLD=$(readlink "$APP/current" 2>/dev/null || true)
if [ -n "$OLD" ] && [ "$OLD" != "versions/$VERSION" ]; then
    ln -sfn "$OLD" "$APP/.previous.new" && mv -fT "$APP/.previous.new" "$APP/previous"
fi
ln -sfn "versions/$VERSION" "$APP/.current.new" && mv -fT "$APP/.current.new" "$APP/current"
PREVIOUS=$(readlink "$APP/previous" 2>/dev/null || true)
for dir in "$APP"/versions/* "$APP"/versions/.install-*; do
    [ -e "$dir" ] || continue
    case "versions/${dir##*/}" in "versions/$VERSION" | "$PREVIOUS") continue ;; esac
    rm -rf "$dir"
done

# -- the launchers --------------------------------------------------------------------------------
# bin/launcher.py (installers/common, standard library only) applies a staged update when the
# agent starts and rolls it back if it does not come up; bin/compagnon runs it with the active
# version's Python, or the active version directly when it is missing.
if [ -f "$SCRIPT_DIR/../common/launcher.py" ]; then
    write_file "$ROOT/bin/launcher.py" 644 <"$SCRIPT_DIR/../common/launcher.py"
fi
write_file "$LAUNCHER" 755 <<EOF
#!/bin/sh
# Compagnon launcher (installers/linux/install.sh): runs the active version, app/current.
ROOT=$(shquote "$ROOT")
if [ "\${1:-}" = tray ] && command -v systemctl >/dev/null 2>&1; then
    # One agent per session: the tray takes over from the headless service (compagnon.service).
    systemctl --user stop compagnon.service >/dev/null 2>&1 || true
fi
if [ -f "\$ROOT/bin/launcher.py" ] && [ -x "\$ROOT/app/current/venv/bin/python" ]; then
    COMPAGNON_APP_DIR="\$ROOT/app" exec "\$ROOT/app/current/venv/bin/python" "\$ROOT/bin/launcher.py" "\$@"
fi
exec "\$ROOT/app/current/venv/bin/compagnon" "\$@"
EOF

mkdir -p "$BIN_HOME"
if [ -L "$BIN_HOME/compagnon" ] || [ ! -e "$BIN_HOME/compagnon" ]; then
    ln -sfn "$LAUNCHER" "$BIN_HOME/compagnon"
else
    note "Attention : $BIN_HOME/compagnon existe déjà et n'est pas un lien : laissé tel quel (lanceur : $LAUNCHER)."
fi
case ":${PATH:-}:" in
    *":$BIN_HOME:"*) ;;
    *) note "Note : ajoutez $BIN_HOME à votre PATH pour taper « compagnon » (ou utilisez $LAUNCHER)." ;;
esac

# -- autostart (desktop sessions) and the user unit (sessions without a desktop) ------------------
EXEC=$(execarg "$LAUNCHER")
write_file "$AUTOSTART" <<EOF
[Desktop Entry]
Type=Application
Version=1.0
Name=Compagnon
Name[en]=Compagnon
GenericName=Agent de signature et de plis chiffrés
GenericName[en]=Signing and sealed-bid agent
Comment=Signature électronique et plis chiffrés pour les plateformes de marchés publics
Comment[en]=Electronic signatures and sealed bids for public-procurement platforms
Exec=$EXEC tray
Terminal=false
Categories=Office;Utility;
StartupNotify=false
X-GNOME-Autostart-enabled=true
X-GNOME-Autostart-Delay=3
X-KDE-autostart-after=panel
X-Compagnon-Installer=linux/install.sh
EOF

write_file "$UNIT" <<EOF
# Compagnon without a desktop (no tray): installers/linux/install.sh. In a desktop session the
# tray (autostart: compagnon tray) takes over and stops this service.
[Unit]
Description=Compagnon, agent de signature et de plis chiffrés (sans icône)

[Service]
Type=simple
ExecStart=$EXEC serve
Restart=on-failure
RestartSec=5
Environment=PYTHONUNBUFFERED=1
NoNewPrivileges=true

[Install]
WantedBy=default.target
EOF

if command -v "$SYSTEMCTL" >/dev/null 2>&1 && "$SYSTEMCTL" --user show-environment >/dev/null 2>&1; then
    "$SYSTEMCTL" --user daemon-reload || true
    if [ "$SERVICE" -eq 1 ]; then
        if "$SYSTEMCTL" --user enable compagnon.service >/dev/null 2>&1; then
            note "Service utilisateur compagnon.service activé (sessions sans bureau)."
        else
            note "Note : systemctl --user enable compagnon.service a échoué ; le fichier est en place : $UNIT"
        fi
        # An upgrade: a running service restarts on the new version.
        "$SYSTEMCTL" --user try-restart compagnon.service >/dev/null 2>&1 || true
    else
        "$SYSTEMCTL" --user disable compagnon.service >/dev/null 2>&1 || true
    fi
else
    note "Note : systemd --user n'est pas disponible ici ; $UNIT est écrit mais pas activé" \
        "(plus tard : systemctl --user enable --now compagnon.service)."
fi

note "Compagnon $VERSION installé dans $ROOT."
note "Il démarre avec votre session (icône dans la barre des tâches) ; pour le lancer maintenant : compagnon tray &"
