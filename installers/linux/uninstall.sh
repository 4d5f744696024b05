#!/bin/sh
# Compagnon — désinstallation pour l'utilisateur courant (Linux), sans droits d'administrateur.
# Removes what install.sh made; keeps the user's settings, pairings, journal and keys unless --purge.
set -eu

usage() {
    cat <<'EOF'
Usage : uninstall.sh [--purge]

Retire Compagnon de ce compte : versions installées, lanceurs, démarrage automatique et
service utilisateur. Vos réglages, sites autorisés, journal d'audit et clés restent en place.
  --purge     retire aussi les réglages ($XDG_CONFIG_HOME/compagnon), l'état et les journaux
              ($XDG_STATE_HOME/compagnon) et le cache ; un dossier de clés (bi-clés) non vide
              est conservé : supprimez-le vous-même après les avoir sauvegardées.
  -h, --help  cette aide
EOF
}

note() { printf '%s\n' "$*"; }

PURGE=0
SYSTEMCTL=${COMPAGNON_SYSTEMCTL:-systemctl}
while [ $# -gt 0 ]; do
    case $1 in
        --purge) PURGE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; printf 'uninstall.sh : option inconnue : %s\n' "$1" >&2; exit 2 ;;
    esac
done

[ -n "${HOME:-}" ] || { printf 'uninstall.sh : HOME n'\''est pas défini\n' >&2; exit 1; }
absolute_or() { case ${1:-} in /*) printf '%s' "$1" ;; *) printf '%s' "$2" ;; esac; }
DATA_HOME=$(absolute_or "${XDG_DATA_HOME:-}" "$HOME/.local/share")
CONFIG_HOME=$(absolute_or "${XDG_CONFIG_HOME:-}" "$HOME/.config")
STATE_HOME=$(absolute_or "${XDG_STATE_HOME:-}" "$HOME/.local/state")
CACHE_HOME=$(absolute_or "${XDG_CACHE_HOME:-}" "$HOME/.cache")
BIN_HOME=$(absolute_or "${XDG_BIN_HOME:-}" "$HOME/.local/bin")
ROOT=$DATA_HOME/compagnon
LAUNCHER=$ROOT/bin/compagnon
AUTOSTART=$CONFIG_HOME/autostart/compagnon.desktop
UNIT_DIR=$CONFIG_HOME/systemd/user
UNIT=$UNIT_DIR/compagnon.service

# The user service first, while its files are still there.
SYSTEMD=0
if command -v "$SYSTEMCTL" >/dev/null 2>&1 && "$SYSTEMCTL" --user show-environment >/dev/null 2>&1; then
    SYSTEMD=1
    "$SYSTEMCTL" --user disable --now compagnon.service >/dev/null 2>&1 || true
fi
# Without systemd --user (or if it failed), the link "enable" made would be left dangling.
rm -f "$UNIT_DIR/default.target.wants/compagnon.service" "$UNIT"
if [ "$SYSTEMD" -eq 1 ]; then "$SYSTEMCTL" --user daemon-reload >/dev/null 2>&1 || true; fi
rm -f "$AUTOSTART"

# ~/.local/bin/compagnon: only when it is ours (a link to the launcher).
if [ -L "$BIN_HOME/compagnon" ] && [ "$(readlink "$BIN_HOME/compagnon")" = "$LAUNCHER" ]; then
    rm -f "$BIN_HOME/compagnon"
fi

# The program: app/ (versions, current, previous, the updater's files) and bin/. The same folder
# holds the user's data (keys/): it stays.
rm -rf "${ROOT:?}/app" "${ROOT:?}/bin"

if [ "$PURGE" -eq 1 ]; then
    rm -rf "$CONFIG_HOME/compagnon" "$STATE_HOME/compagnon" "$CACHE_HOME/compagnon"
    if [ -d "$ROOT/keys" ] && [ -n "$(ls -A "$ROOT/keys" 2>/dev/null)" ]; then
        note "Conservé : $ROOT/keys (vos clés de chiffrement : sauvegardez-les avant de le supprimer vous-même)."
        find "$ROOT" -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
    else
        rm -rf "$ROOT"
    fi
else
    note "Vos réglages et données restent en place ($CONFIG_HOME/compagnon, $STATE_HOME/compagnon, $ROOT) ; --purge les retire."
fi
rmdir "$ROOT" 2>/dev/null || true

note "Compagnon est désinstallé. Si son icône est encore affichée, choisissez « Quitter »."
