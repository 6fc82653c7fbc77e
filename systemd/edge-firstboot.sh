#!/bin/sh
# edge first boot: build /opt/edge/venv from the wheels in /opt/edge/wheels.
#
# Run by edge-firstboot.service (installed as /opt/edge/bin/edge-firstboot)
# when there is no venv yet, or after `edge install` was run again on the card.
# Offline first: the wheels `edge install --wheel-dir` copied; when they do not
# cover this board, pip falls back to the package index (on Raspberry Pi OS,
# /etc/pip.conf adds piwheels.org, which has armv7l/aarch64 builds).
# A failed upgrade puts the previous venv back, so the device keeps working.
#
# EDGE_PREFIX and EDGE_PYTHON exist for tests; on a device they are unset.
set -u

PREFIX="${EDGE_PREFIX:-/opt/edge}"
PYTHON="${EDGE_PYTHON:-python3}"
VENV="$PREFIX/venv"
WHEELS="$PREFIX/wheels"
PENDING="$PREFIX/install-pending"

log() { echo "edge-firstboot: $*"; }

make_venv() {
    "$PYTHON" -m venv "$VENV" && return 0
    rm -rf "$VENV"
    # Debian splits ensurepip into python3-venv; a pip wheel on the card avoids needing it.
    for wheel in "$WHEELS"/pip-*.whl; do
        [ -f "$wheel" ] || continue
        log "bootstrapping pip from $wheel (python3-venv is not installed)"
        "$PYTHON" -m venv --without-pip "$VENV" \
            && "$VENV/bin/python" "$wheel/pip" install --no-index --find-links "$WHEELS" pip \
            && return 0
    done
    log "cannot create a venv: install python3-venv, or give 'edge install --wheel-dir' a pip wheel"
    return 1
}

install_edge() {
    make_venv || return 1
    if "$VENV/bin/python" -m pip install --no-index --find-links "$WHEELS" edge; then
        return 0
    fi
    log "the wheels in $WHEELS do not cover this board; trying the package index"
    "$VENV/bin/python" -m pip install --find-links "$WHEELS" edge
}

if [ -d "$VENV" ]; then
    # Scripts in a venv hard-code its path, so the new one is built in place
    # and the old one waits beside it until the new one works.
    rm -rf "$VENV.old"
    mv "$VENV" "$VENV.old"
fi

if install_edge && [ -x "$VENV/bin/edge" ]; then
    rm -rf "$VENV.old"
    rm -f "$PENDING"
    log "installed edge into $VENV"
    exit 0
fi

rm -rf "$VENV"
if [ -d "$VENV.old" ]; then
    mv "$VENV.old" "$VENV"
    log "installation failed; the previous installation is back in place"
else
    log "installation failed; edge.service cannot start until this succeeds (it is retried on the next boot)"
fi
exit 1
