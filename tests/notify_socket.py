"""A real sd_notify receiver for tests: what systemd would see from a Type=notify service."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from types import TracebackType


class NotifySocket:
    """A bound AF_UNIX datagram socket; `.path` goes into NOTIFY_SOCKET.

    `abstract=True` binds in the Linux abstract namespace instead, and `.path`
    is then "@name", the form systemd uses for its own socket.
    Each datagram is one notification; `messages()` returns the assignments
    (READY=1, STATUS=..., ...) in arrival order, one datagram split into lines.
    """

    def __init__(self, abstract: bool = False) -> None:
        self._dir: str | None = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        if abstract:
            name = f"edge-test-{uuid.uuid4().hex}"
            self._sock.bind("\0" + name)
            self.path = "@" + name
        else:
            # A short directory: unix socket paths are limited to 107 bytes, and pytest's tmp_path can exceed that.
            self._dir = tempfile.mkdtemp(prefix="edge-notify-")
            self.path = os.path.join(self._dir, "notify.sock")
            self._sock.bind(self.path)
        self._received: list[str] = []

    def __enter__(self) -> "NotifySocket":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def environ(self, **extra: str) -> dict[str, str]:
        """An environment naming this socket, as systemd would set it."""
        return {"NOTIFY_SOCKET": self.path, **extra}

    def _drain(self, timeout: float) -> bool:
        """Read one datagram if one arrives within `timeout`; True if one did."""
        self._sock.settimeout(max(timeout, 0.0) or 1e-6)
        try:
            data = self._sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return False
        self._received.extend(data.decode("utf-8").split("\n"))
        return True

    def messages(self) -> list[str]:
        """Every assignment received so far (without waiting for more)."""
        while self._drain(0):
            pass
        return list(self._received)

    def wait_for(self, prefix: str, timeout: float = 5.0) -> str:
        """The first assignment starting with `prefix` (earlier or new); AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self._received:
                if line.startswith(prefix):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} within {timeout} s; got {self._received}")
            self._drain(left)

    def clear(self) -> None:
        """Forget what arrived so far (to watch, say, for pings after a stall)."""
        self.messages()
        self._received.clear()

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.messages() if line.startswith(prefix))
