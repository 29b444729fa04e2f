#!/bin/sh
# Sets up a Raspberry Pi (Raspberry Pi OS bookworm) as a Dorpskluis locker, from a USB stick holding this
# folder (firmware/), a wheelhouse and the locker's bundle. Run it again at any time: it changes only what is not
# as it should be. See docs/operations.md, "Setting up a Pi".
#
#   sudo sh firmware/install.sh --wheelhouse /media/usb/wheelhouse --bundle /media/usb/zwartsluis-kerk
#
#   --wheelhouse DIR  dorpskluis-<version>-py3-none-any.whl and every dependency (`pip wheel --wheel-dir DIR .`)
#   --bundle DIR      the locker's bundle from `dorpskluis provision locker`; copied to /etc/dorpskluis and
#                     enrolled (its one-time token traded for the locker's own broker account). Leave it out when
#                     /etc/dorpskluis holds an enrolled locker already.
#   --root DIR        install the files under DIR instead of / and change nothing of the running system (no
#                     packages, users, enrollment or systemctl): for building an image, and for the tests.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=""
wheelhouse=""
bundle=""

say() { printf 'dorpskluis-install: %s\n' "$*"; }
fail() { printf 'dorpskluis-install: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) wheelhouse=${2:?--wheelhouse needs a folder}; shift 2 ;;
        --bundle) bundle=${2:?--bundle needs a folder}; shift 2 ;;
        --root) root=${2:?--root needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) fail "unknown argument $1 (see --help)" ;;
    esac
done

[ -n "$wheelhouse" ] || fail "--wheelhouse is required (a folder with the dorpskluis wheel and its dependencies)"
[ -d "$wheelhouse" ] || fail "no wheelhouse folder at $wheelhouse"
wheelhouse=$(cd "$wheelhouse" && pwd)
# The newest dorpskluis wheel in the wheelhouse, by version order.
wheel=$(find "$wheelhouse" -maxdepth 1 -name 'dorpskluis-*-py3-none-any.whl' | sort -V | tail -n 1)
[ -n "$wheel" ] || fail "no dorpskluis-<version>-py3-none-any.whl in $wheelhouse"
version=$(basename "$wheel" | sed 's/^dorpskluis-\([^-]*\)-.*/\1/')
if [ -n "$bundle" ]; then
    [ -f "$bundle/edge.toml" ] || fail "$bundle is not a locker bundle (no edge.toml in it)"
fi

system=true
if [ -n "$root" ]; then
    system=false
    mkdir -p "$root"
    root=$(cd "$root" && pwd)
elif [ "$(id -u)" -ne 0 ]; then
    fail "run as root (sudo sh $0 ...), or with --root DIR to stage the files"
fi

opt="$root/opt/dorpskluis"
etc="$root/etc/dorpskluis"
state="$root/var/lib/dorpskluis"
boot_config="$root/boot/firmware/config.txt"

# 1. Packages and the service's user -------------------------------------------------------------------------
if $system; then
    # shellcheck source=/dev/null  # the Pi's own file
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")
    [ "$codename" = bookworm ] || say "warning: this is $codename, not bookworm; carrying on"
    # python3-lgpio: gpiozero's pin library on bookworm (Pi 4 and Pi 5); the agent's virtualenv sees it.
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q python3-venv python3-lgpio >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q python3-venv python3-lgpio >/dev/null; } ||
        fail "could not install python3-venv and python3-lgpio (is the network up?)"
    if ! id dorpskluis >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/dorpskluis --shell /usr/sbin/nologin dorpskluis
        say "made the system user dorpskluis"
    fi
    usermod -a -G gpio dorpskluis   # the GPIO character devices belong to group gpio
fi

# 2. The agent: releases/<version>/venv, and current -> it (the layout `dorpskluis edge update` keeps) --------
release="$opt/releases/$version"
if [ -f "$release/.complete" ]; then
    say "version $version is installed already"
else
    # Built in place (a virtualenv's commands name its path in their #! line), marked complete at the end.
    rm -rf "$release"
    mkdir -p "$release"
    python3 -m venv --system-site-packages "$release/venv"
    if ! "$release/venv/bin/pip" install --quiet --no-index --find-links "$wheelhouse" "$wheel"; then
        rm -rf "$release"
        fail "installing $(basename "$wheel") failed: is every dependency in $wheelhouse?"
    fi
    touch "$release/.complete"
    say "installed version $version in $release"
fi
if [ "$(readlink "$opt/current" 2>/dev/null || true)" != "releases/$version" ]; then
    ln -sfn "releases/$version" "$opt/.current.new"
    mv -T "$opt/.current.new" "$opt/current"   # one rename: never a moment without a current version
    say "current version: $version"
fi

# 3. Boot configuration: 1-wire on GPIO4 and the hardware watchdog -----------------------------------------
reboot=false
mkdir -p "$(dirname "$boot_config")"
touch "$boot_config"
if ! grep -q '^# dorpskluis: begin' "$boot_config"; then
    # [all]: the file may end inside a conditional section ([cm4], [pi5]) that would otherwise swallow our lines.
    { echo "# dorpskluis: begin"; echo "[all]"; grep -v '^#' "$here/config.txt.fragment"; echo "# dorpskluis: end"; } \
        >>"$boot_config"
    reboot=true
    say "added the 1-wire overlay and the watchdog to $boot_config"
fi

# 4. systemd: the unit, and systemd feeding the hardware watchdog -------------------------------------------
install -D -m 644 "$here/dorpskluis-edge.service" "$root/etc/systemd/system/dorpskluis-edge.service"
install -D -m 644 "$here/watchdog.conf" "$root/etc/systemd/system.conf.d/dorpskluis-watchdog.conf"

# 5. Configuration and state: /etc/dorpskluis belongs to the agent's user, which enrolls and then reads it ----
install -d -m 700 "$etc" "$state"
token_of() { [ -f "$1/enrollment.json" ] && sha256sum <"$1/enrollment.json" | cut -d' ' -f1; }
if [ -n "$bundle" ]; then
    # A bundle enrolled before (its token used up) must not overwrite the credentials it brought: the stick may
    # still hold it when the script runs again. A new bundle (a new token) replaces the old one.
    if [ -f "$etc/.enrolled" ] && [ "$(token_of "$bundle")" = "$(cat "$etc/.enrolled")" ]; then
        say "the bundle was enrolled already; keeping the credentials in $etc"
    else
        cp -R "$bundle/." "$etc/"
        rm -f "$etc/.enrolled"
        say "copied the bundle of $(sed -n 's/^locker = "\(.*\)"$/\1/p' "$etc/edge.toml") to $etc"
    fi
fi
if $system; then
    chown -R dorpskluis:dorpskluis "$etc" "$state"
fi

if ! $system; then
    say "staged version $version under $root"
    exit 0
fi

# 6. Enroll, then start ------------------------------------------------------------------------------------
systemctl daemon-reload
if [ -f "$etc/enrollment.json" ]; then
    token=$(token_of "$etc")
    runuser -u dorpskluis -- "$opt/current/venv/bin/dorpskluis" edge enroll "$etc" ||
        fail "enrollment failed (see above); the bundle stays in $etc, run this again when the cloud is reachable"
    echo "$token" >"$etc/.enrolled"
    chown dorpskluis:dorpskluis "$etc/.enrolled"
fi
if ! grep -q '^password' "$etc/edge.toml" 2>/dev/null; then
    say "no enrolled locker in $etc yet: run this again with --bundle, then the agent starts"
    exit 0
fi
systemctl enable --quiet dorpskluis-edge
if $reboot; then
    say "reboot now (sudo reboot): the 1-wire bus and the watchdog need it; the agent starts by itself"
else
    # Type=notify: this returns once the agent said READY=1, or fails when it did not within TimeoutStartSec.
    systemctl restart dorpskluis-edge || fail "the agent did not start: journalctl -u dorpskluis-edge -n 50"
    say "the agent runs: systemctl status dorpskluis-edge"
fi
