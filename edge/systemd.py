"""sd_notify over $NOTIFY_SOCKET, with the standard library only.

systemd (Type=notify) hands the service a datagram socket in NOTIFY_SOCKET
and, with WatchdogSec=, the watchdog period in WATCHDOG_USEC. The protocol is
newline-separated KEY=VALUE assignments in one datagram, so a compiled
libsystemd binding buys nothing on a 512 MB board.

Sending never raises into the daemon: a notification that cannot be delivered
is logged once at warning (not per ping: the watchdog pings every few seconds)
and the notifier keeps trying, logging again at info when delivery resumes.
Without NOTIFY_SOCKET (run in a terminal, in a test) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Mapping

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes | None:
    """The sendto() address for a NOTIFY_SOCKET value, or None when it is not one we can use.

    A leading "@" names a socket in the Linux abstract namespace (a NUL byte
    on the wire); "/" an ordinary path. systemd may also hand out "vsock:"
    addresses for VMs, which a device never sees.
    """
    if raw.startswith("@") and len(raw) > 1:
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings: half the period systemd asked for (as sd_watchdog_enabled advises)."""
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    # systemd sets WATCHDOG_PID so that a child which inherited the
    # environment does not take the pings for its parent's.
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; watchdog pings disabled", raw)
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1e6


class Notifier:
    """Talks to the service manager; safe to call from any thread."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        raw = environ.get("NOTIFY_SOCKET", "")
        self._address = _address(raw) if raw else None
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is not a unix socket address; systemd notifications disabled", raw)
        self.enabled: bool = self._address is not None
        self.watchdog_interval: float | None = _watchdog_interval(environ) if self.enabled else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False  # the last send failed: warned once, waiting for recovery

    def ready(self, status: str = "") -> None:
        """READY=1: start-up is complete (systemctl start returns, the watchdog starts counting)."""
        self._send("READY=1", *self._status(status))

    def status(self, text: str) -> None:
        """STATUS=: the one line `systemctl status edge` shows."""
        self._send(*self._status(text))

    def watchdog(self) -> None:
        """WATCHDOG=1: the service is alive; call every `watchdog_interval` seconds, only while it is."""
        self._send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> None:
        """EXTEND_TIMEOUT_USEC: ask for more time to start or stop (a slow model load, a long drain)."""
        self._send(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1e6))}")

    def stopping(self, status: str = "") -> None:
        """STOPPING=1: shutdown has begun (systemctl shows 'deactivating')."""
        self._send("STOPPING=1", *self._status(status))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    @staticmethod
    def _status(text: str) -> tuple[str, ...]:
        # The protocol is line based: a newline in the text would start a new assignment.
        line = " ".join(text.split())
        return (f"STATUS={line}",) if line else ()

    def _send(self, *assignments: str) -> None:
        if self._address is None or not assignments:
            return
        data = "\n".join(assignments).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    # Non-blocking: a receiver that stops reading fills its queue
                    # (net.unix.max_dgram_qlen, 10 by default) and a blocking send
                    # would then hang the thread that pings the watchdog.
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
                self._sock.sendto(data, self._address)
            except OSError as exc:
                # A fresh socket next time: cheap, and it recovers from a socket
                # that was closed under us.
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
                if not self._failing:
                    self._failing = True
                    log.warning("cannot notify systemd (%s); will keep trying", exc)
                return
            if self._failing:
                self._failing = False
                log.info("systemd notifications delivered again")
