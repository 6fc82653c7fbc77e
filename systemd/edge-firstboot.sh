#!/bin/sh
# edge first boot: build /opt/edge/venv from the wheels in /opt/edge/wheels.
#
# Run by edge-firstboot.service (installed as /opt/edge/bin/edge-firstboot)
# when there is no venv yet, or after `edge install` was run again on the card.
#
# Offline and exact: it installs the one wheel named in /opt/edge/release, by
# its path, after checking its sha256, with `pip --no-index`: never a package
# index, never a name (the name "edge" on the index is somebody else's
# project). Dependencies come from the other wheels in /opt/edge/wheels or
# from the OS's own Python packages (the venv sees them: Debian's
# python3-numpy, python3-psutil, python3-sentencepiece on 32-bit Raspberry Pi
# OS). docs/device.md says which wheels a board needs.
#
# A failed install says why on its status line, in the journal and in
# /opt/edge/firstboot.log, puts the previous venv back if there was one, and is
# not retried until the next boot or `systemctl start edge-firstboot`.
#
# EDGE_PREFIX and EDGE_PYTHON exist for tests; on a device they are unset.
set -u

PREFIX="${EDGE_PREFIX:-/opt/edge}"
PYTHON="${EDGE_PYTHON:-python3}"
VENV="$PREFIX/venv"
WHEELS="$PREFIX/wheels"
PENDING="$PREFIX/install-pending"
RELEASE="$PREFIX/release"
LOG="$PREFIX/firstboot.log"
# edge.service's PYTHONPYCACHEPREFIX (systemd/edge.service): the daemon's optimized bytecode
PYCACHE="$PREFIX/pycache"
# pip.conf may name indexes (Raspberry Pi OS adds piwheels); none is used here.
export PIP_CONFIG_FILE="${PIP_CONFIG_FILE:-/dev/null}" PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() {
    echo "edge-firstboot: $*"
    echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') $*" >>"$LOG" 2>/dev/null
}

# An error: priority 3 in the journal (journald reads a "<3>" prefix on the unit's output).
error() {
    if [ -n "${JOURNAL_STREAM:-}" ]; then echo "<3>edge-firstboot: $*"; else echo "edge-firstboot: $*"; fi
    echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') $*" >>"$LOG" 2>/dev/null
}

# The one line `systemctl status edge-firstboot` shows.
status() {
    if [ -n "${NOTIFY_SOCKET:-}" ] && command -v systemd-notify >/dev/null 2>&1; then
        systemd-notify --pid="$$" --status="$*" 2>/dev/null || true
    fi
}

release_field() { sed -n "s/^$1=//p" "$RELEASE" 2>/dev/null | head -n 1; }

make_venv() {
    # --system-site-packages: dependencies the OS provides (Debian's python3-numpy
    # etc.) count, so a board without wheels for them still installs offline.
    "$PYTHON" -m venv --system-site-packages "$VENV" >>"$LOG" 2>&1 && return 0
    rm -rf "$VENV"
    # Debian splits ensurepip into python3-venv; a pip wheel on the card avoids needing it.
    for wheel in "$WHEELS"/pip-*.whl; do
        [ -f "$wheel" ] || continue
        log "bootstrapping pip from $wheel (python3-venv is not installed)"
        "$PYTHON" -m venv --without-pip --system-site-packages "$VENV" >>"$LOG" 2>&1 \
            && "$VENV/bin/python" "$wheel/pip" install --no-index "$wheel" >>"$LOG" 2>&1 \
            && return 0
    done
    REASON="cannot create a venv: install python3-venv, or give 'edge install --wheel-dir' a pip wheel"
    return 1
}

install_edge() {
    WHEEL=$(release_field wheel)
    VERSION=$(release_field version)
    SHA256=$(release_field sha256)
    # extras=deploy when the card takes signed deployments: the wheel's deploy extra (cryptography)
    EXTRAS=$(release_field extras)
    case "$EXTRAS" in *[!a-z0-9,_-]*) REASON="$RELEASE names odd extras: $EXTRAS"; return 1 ;; esac
    if [ -z "$WHEEL" ] || [ -z "$VERSION" ] || [ -z "$SHA256" ]; then
        REASON="$RELEASE is missing or incomplete: run 'edge install' for this card again"
        return 1
    fi
    case "$WHEEL" in */*|.*) REASON="$RELEASE names an odd wheel: $WHEEL"; return 1 ;; esac
    if [ ! -f "$WHEELS/$WHEEL" ]; then
        REASON="$WHEELS/$WHEEL is missing: run 'edge install' for this card again"
        return 1
    fi
    if ! echo "$SHA256  $WHEELS/$WHEEL" | sha256sum -c --status 2>/dev/null; then
        REASON="$WHEELS/$WHEEL does not match its sha256 in $RELEASE (a failing card?)"
        return 1
    fi
    log "installing $WHEEL (version $VERSION) from $WHEELS, offline"
    make_venv || return 1
    if ! "$VENV/bin/python" -m pip install --no-index --no-cache-dir --find-links "$WHEELS" \
            "$WHEELS/$WHEEL${EXTRAS:+[$EXTRAS]}" >>"$LOG" 2>&1; then
        missing=$(sed -n 's/.*No matching distribution found for \([^ ]*\).*/\1/p' "$LOG" | sort -u | tr '\n' ' ')
        if [ -n "$missing" ]; then
            REASON="no wheel on the card and no OS package for: ${missing% }; see docs/device.md (/opt/edge/README.md), 'Which wheels come from where'"
        else
            REASON="pip could not install $WHEEL"
        fi
        return 1
    fi
    got=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('edge-intent'))" 2>>"$LOG")
    if [ "$got" != "$VERSION" ]; then
        REASON="the venv has edge-intent ${got:-(none)}, not $VERSION"
        return 1
    fi
    if [ ! -x "$VENV/bin/edge" ]; then
        REASON="the venv has no edge command"
        return 1
    fi
    status "compiling the optimized bytecode edge.service runs"
    if ! compile_optimized; then
        log "warning: some modules did not compile at -OO (see above); edge.service compiles them at each start instead"
    fi
    return 0
}

# edge.service runs the daemon optimized (PYTHONOPTIMIZE=2, python -OO: no docstrings, no asserts;
# about 3 MB less RSS, docs/performance.md "Memory") and never writes bytecode
# (PYTHONDONTWRITEBYTECODE=1, /opt is read-only to it). So its .opt-2.pyc are compiled here, once per
# install, for every directory on the venv's path (the OS's Python ships plain .pyc only; numpy may
# come from Debian), into PYTHONPYCACHEPREFIX: a tree of ours, nothing written under /usr. Without
# them the daemon still runs, compiling each module from source at every start (slower, and the
# compiler's garbage stays in its heap): a failure here is logged, not fatal.
compile_optimized() {
    rm -rf "$PYCACHE"
    PYTHONPYCACHEPREFIX="$PYCACHE" "$VENV/bin/python" -OO -c '
import compileall, os, re, sys
skip = re.compile(r"[/\\](test|tests|idlelib|tkinter|lib2to3|turtledemo|ensurepip)[/\\]")
dirs = [p for p in sys.path[1:] if os.path.isdir(p)]
sys.exit(0 if all([compileall.compile_dir(d, quiet=1, rx=skip, workers=0) for d in dirs]) else 1)
' >>"$LOG" 2>&1
}

: >"$LOG" 2>/dev/null || LOG=/dev/null
status "installing edge into $VENV"
if [ -d "$VENV" ]; then
    # Scripts in a venv hard-code its path, so the new one is built in place
    # and the old one waits beside it until the new one works.
    rm -rf "$VENV.old"
    mv "$VENV" "$VENV.old"
fi

REASON="unknown"
if install_edge; then
    rm -rf "$VENV.old"
    rm -f "$PENDING"
    log "installed edge-intent $VERSION into $VENV"
    status "installed edge-intent $VERSION"
    exit 0
fi

rm -rf "$VENV"
if [ -d "$VENV.old" ]; then
    mv "$VENV.old" "$VENV"
    REASON="$REASON; the previous installation is back in place"
else
    REASON="$REASON; edge.service cannot start until this is fixed"
fi
error "FAILED: $REASON"
error "details: $LOG; after fixing it: systemctl start edge-firstboot && systemctl restart edge"
tail -n 15 "$LOG" | sed 's/^/edge-firstboot: | /' >&2
status "FAILED (see $LOG): $REASON"
exit 1
