"""Health telemetry: counters, latency percentiles over a ring buffer, process and SoC readings.

`record_result` runs on the inference worker for every request, so it takes a
lock and writes one float into a preallocated array; everything costly
(sorting for percentiles, reading /proc and sysfs) happens in `snapshot`, which
the service calls once per `health.interval_s`.
"""

from __future__ import annotations

import array
import logging
import math
import os
import threading
import time
from typing import Any, Callable, Mapping

from edge import contract
from edge.heap import give_back_memory  # noqa: F401 (the service's name for it)

log = logging.getLogger("edge.health")

THROTTLED_PATH = "/sys/devices/platform/soc/soc:firmware/get_throttled"

# The fields the interface spec lists for <base>/health; `extra` may not shadow them.
SPEC_FIELDS = (
    "ts", "uptime_s", "model", "processed", "escalated", "cloud_errors", "errors",
    "latency_ms", "queue_depth", "outbox", "cpu_percent", "rss_mb", "temperature_c", "cloud", "storage",
)


class Storage:
    """Whether the state directory takes writes: "ok" or "degraded".

    Storage trouble (a full card, a failing SD) must degrade the daemon, never stop it:
    every writer reports here, the first failure logs one WARNING, the first success
    after it one INFO (recovery needs nothing but space coming back)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: str | None = None
        self.failures = 0

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            first = self._failing is None
            self._failing = what
        if first:
            log.warning("storage degraded: %s failed (%s); answering on, acking only what is safe", what, exc)

    def ok(self) -> None:
        if self._failing is None:  # the hot path: no lock
            return
        with self._lock:
            was, self._failing = self._failing, None
        if was is not None:
            log.info("storage ok again (state directory writable)")

    @property
    def state(self) -> str:
        return "ok" if self._failing is None else "degraded"



class ProcessReadings:
    """This process's CPU percent since the previous reading and its RSS, as psutil.Process's
    cpu_percent(interval=None) and memory_info().rss give them: CPU time (user + system, all
    threads) over wall time, the first reading 0.0; resident pages from /proc/self/statm.

    Read here rather than through psutil, which the daemon would keep imported for its whole
    life for these two figures (0.4 MB of RSS, docs/performance.md "Memory"). Where there is no
    /proc (macOS, for development) psutil answers, imported then. A reading that fails is None."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._psutil: Any = None if os.path.exists("/proc/self/statm") else _psutil_process()
        self._last: tuple[float, float] | None = None
        self.cpu_percent()  # the baseline, as psutil's first call

    def cpu_percent(self) -> float | None:
        if self._psutil is not None:
            return _psutil_reading(lambda: self._psutil.cpu_percent(interval=None))
        t = os.times()
        now = (time.monotonic(), t.user + t.system)
        last, self._last = self._last, now
        if last is None or now[0] <= last[0]:
            return 0.0
        return 100.0 * (now[1] - last[1]) / (now[0] - last[0])

    def rss_bytes(self) -> int | None:
        if self._psutil is not None:
            return _psutil_reading(lambda: self._psutil.memory_info().rss)
        try:
            with open("/proc/self/statm", "rb") as fh:
                return int(fh.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):  # /proc unreadable under some sandbox: unknown
            return None


def _psutil_process() -> Any:
    import psutil

    return psutil.Process()


def _psutil_reading(read: Callable[[], Any]) -> Any:
    import psutil

    try:
        return read()
    except psutil.Error:
        return None




def read_temperature(path: str) -> float | None:
    """A thermal_zone `temp` file (millidegrees Celsius) in °C; None when absent or unreadable."""
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as fh:
            raw = fh.read().strip()
        value = int(raw) / 1000.0
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    # A sensor that failed to probe can report absurd values; below absolute zero is one.
    return round(value, 1) if value > -273.15 else None


def read_throttled(path: str = THROTTLED_PATH) -> dict[str, Any] | None:
    """The Raspberry Pi firmware's throttling bitmask, decoded; None where there is no such file.

    Bits 0-3 are the current state (under-voltage, ARM frequency capped,
    throttled, soft temperature limit); bits 16-19 say the same happened
    since boot, which `raw` keeps for whoever wants the history.
    """
    try:
        with open(path, encoding="ascii") as fh:
            raw = fh.read().strip()
        bits = int(raw, 16)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return {
        "under_voltage": bool(bits & 0x1),
        "freq_capped": bool(bits & 0x2),
        "throttled": bool(bits & 0x4),
        "soft_temp_limit": bool(bits & 0x8),
        "raw": f"0x{bits:x}",
    }


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Health:
    """Thread-safe counters and a latency window; `snapshot()` builds the health payload."""

    def __init__(
        self,
        model_ident: str,
        temperature_path: str = "/sys/class/thermal/thermal_zone0/temp",
        window: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.model_ident = model_ident
        self.temperature_path = temperature_path
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._latencies = array.array("d", bytes(8 * window))  # preallocated: no growth per call
        self._next = 0  # where the next latency goes
        self._filled = 0  # how many slots hold a sample (<= window)
        self._processed = 0
        self._escalated = 0
        self._errors = 0
        self._cloud_errors = 0
        self._counters: dict[str, int] = {}
        self.storage = Storage()
        self._process = ProcessReadings()  # takes the CPU baseline now: the first snapshot covers since here

    def record_result(self, latency_ms: float, escalated: bool) -> None:
        with self._lock:
            self._latencies[self._next] = latency_ms
            self._next = (self._next + 1) % len(self._latencies)
            if self._filled < len(self._latencies):
                self._filled += 1
            self._processed += 1
            if escalated:
                self._escalated += 1

    def record_error(self) -> None:
        with self._lock:
            self._errors += 1

    def record_cloud_error(self) -> None:
        with self._lock:
            self._cloud_errors += 1

    def count(self, name: str, n: int = 1) -> None:
        """Any other counter ("outbox_dropped", "duplicates", "cloud_calls", ...), reported under `counters`."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def _latency_percentiles(self) -> tuple[dict[str, float], int, int]:
        with self._lock:
            samples = self._latencies[: self._filled].tolist()
            processed, escalated = self._processed, self._escalated
        samples.sort()
        # 0.0 before the first result keeps the fields numeric; `processed` says there were none.
        p = {"p50": round(percentile(samples, 50), 3), "p95": round(percentile(samples, 95), 3)}
        return p, processed, escalated

    def snapshot(
        self,
        *,
        queue_depth: int,
        outbox: int,
        cloud: str,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The health payload: the spec's fields, then `counters`, then whatever `extra` carries."""
        latency, processed, escalated = self._latency_percentiles()
        with self._lock:
            errors, cloud_errors = self._errors, self._cloud_errors
            counters = dict(self._counters)
        # None where /proc is unreadable (some sandbox): unknown, said as null, not a crash
        cpu_raw, rss = self._process.cpu_percent(), self._process.rss_bytes()
        cpu = None if cpu_raw is None else round(cpu_raw, 1)
        rss_mb = None if rss is None else round(rss / 1048576, 1)
        payload: dict[str, Any] = {
            "ts": contract.now_iso(),
            "uptime_s": round(self._clock() - self._started, 1),
            "model": self.model_ident,
            "processed": processed,
            "escalated": escalated,
            "cloud_errors": cloud_errors,
            "errors": errors,
            "latency_ms": latency,
            "queue_depth": int(queue_depth),
            "outbox": int(outbox),
            "cpu_percent": cpu,
            "rss_mb": rss_mb,
            "temperature_c": read_temperature(self.temperature_path),
            "cloud": cloud,
            "storage": self.storage.state,
            "counters": counters,
        }
        for key, value in (extra or {}).items():
            if key in payload:
                # A programming error in the caller, not a runtime condition: fail where it is written.
                raise ValueError(f"health extra {key!r} would overwrite a standard field")
            payload[key] = value
        return payload

    def status_line(self, cloud: str) -> str:
        """One line for `systemctl status`: processed, p50 latency, escalation rate, cloud up/down."""
        latency, processed, escalated = self._latency_percentiles()
        rate = escalated / processed if processed else 0.0
        storage = "" if self.storage.state == "ok" else ", storage degraded"
        return (
            f"processed {processed}, p50 {latency['p50']:.1f} ms, "
            f"escalated {rate:.1%}, cloud {cloud}{storage}"
        )
