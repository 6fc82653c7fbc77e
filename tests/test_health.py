"""edge.health: counters, percentiles over the ring buffer, psutil and sysfs readings, payload shape."""

from __future__ import annotations

import json
import random
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from edge.health import SPEC_FIELDS, Health, read_temperature, read_throttled


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_snapshot_has_exactly_the_spec_fields_plus_counters_and_extra(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.write_text("48312\n")
    clock = Clock()
    h = Health("clinc150@1.0", temperature_path=str(temp), clock=clock)
    h.record_result(10.0, escalated=False)
    h.record_result(30.0, escalated=True)
    h.record_error()
    h.record_cloud_error()
    h.record_cloud_error()
    h.count("duplicates")
    h.count("outbox_dropped", 3)
    clock.t += 12.34
    snap = h.snapshot(queue_depth=4, outbox=7, cloud="down", extra={"cloud_budget": {"hour": 1}})
    assert list(snap) == [*SPEC_FIELDS, "counters", "cloud_budget"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", snap["ts"])
    assert snap["uptime_s"] == 12.3
    assert snap["model"] == "clinc150@1.0"
    assert (snap["processed"], snap["escalated"], snap["errors"], snap["cloud_errors"]) == (2, 1, 1, 2)
    assert snap["latency_ms"] == {"p50": 20.0, "p95": 29.0}
    assert (snap["queue_depth"], snap["outbox"], snap["cloud"]) == (4, 7, "down")
    assert snap["temperature_c"] == 48.3
    assert snap["counters"] == {"duplicates": 1, "outbox_dropped": 3}
    assert snap["cloud_budget"] == {"hour": 1}
    assert isinstance(snap["cpu_percent"], float) and snap["cpu_percent"] >= 0
    assert 1 < snap["rss_mb"] < 4096  # this very test process, in MiB
    json.dumps(snap)  # it goes on the wire as JSON


def test_before_any_result_the_fields_are_still_numbers() -> None:
    snap = Health("m@1", temperature_path="").snapshot(queue_depth=0, outbox=0, cloud="up")
    assert snap["latency_ms"] == {"p50": 0.0, "p95": 0.0} and snap["processed"] == 0
    assert snap["temperature_c"] is None


def test_extra_may_not_overwrite_a_spec_field() -> None:
    with pytest.raises(ValueError, match="processed"):
        Health("m@1").snapshot(queue_depth=0, outbox=0, cloud="up", extra={"processed": 5})


def test_percentiles_match_numpy() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(1.5, 0.6) for _ in range(500)]
    h = Health("m@1")
    for v in values:
        h.record_result(v, escalated=False)
    lat = h.snapshot(queue_depth=0, outbox=0, cloud="up")["latency_ms"]
    assert lat["p50"] == pytest.approx(np.percentile(values, 50), abs=1e-3)
    assert lat["p95"] == pytest.approx(np.percentile(values, 95), abs=1e-3)


def test_the_window_keeps_only_the_latest_results() -> None:
    h = Health("m@1", window=10)
    for v in range(1, 101):
        h.record_result(float(v), escalated=v % 2 == 0)
    snap = h.snapshot(queue_depth=0, outbox=0, cloud="up")
    assert snap["processed"] == 100 and snap["escalated"] == 50  # counters are not windowed
    assert snap["latency_ms"]["p50"] == pytest.approx(np.percentile(range(91, 101), 50))


def test_concurrent_recording_loses_nothing() -> None:
    h = Health("m@1", window=64)

    def work() -> None:
        for i in range(5000):
            h.record_result(1.0, escalated=i % 5 == 0)
            h.count("cloud_calls")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = h.snapshot(queue_depth=0, outbox=0, cloud="up")
    assert (snap["processed"], snap["escalated"], snap["counters"]["cloud_calls"]) == (20000, 4000, 20000)


def test_status_line() -> None:
    h = Health("m@1")
    assert h.status_line("up") == "processed 0, p50 0.0 ms, escalated 0.0%, cloud up"
    for latency, esc in [(2.0, False), (4.0, True), (6.0, False), (8.0, False)]:
        h.record_result(latency, esc)
    line = h.status_line("down")
    assert line == "processed 4, p50 5.0 ms, escalated 25.0%, cloud down"
    assert "\n" not in line


@pytest.mark.parametrize("content, expected", [
    ("48312\n", 48.3), ("-5000", -5.0), ("", None), ("hot", None), ("-999999999", None),
])
def test_read_temperature(tmp_path: Path, content: str, expected: float | None) -> None:
    path = tmp_path / "temp"
    path.write_text(content)
    assert read_temperature(str(path)) == expected


def test_read_temperature_without_a_sensor(tmp_path: Path) -> None:
    assert read_temperature(str(tmp_path / "thermal_zone0" / "temp")) is None
    assert read_temperature(str(tmp_path)) is None  # a directory, not a file
    assert read_temperature("") is None


def test_read_throttled(tmp_path: Path) -> None:
    path = tmp_path / "get_throttled"
    # Under-voltage and throttled now (bits 0, 2), both also since boot (16, 18).
    path.write_text("50005\n")
    assert read_throttled(str(path)) == {
        "under_voltage": True, "freq_capped": False, "throttled": True, "soft_temp_limit": False, "raw": "0x50005",
    }
    path.write_text("0x0000000a")
    t = read_throttled(str(path))
    assert t is not None and t["freq_capped"] and t["soft_temp_limit"] and not t["under_voltage"]
    path.write_text("not hex")
    assert read_throttled(str(path)) is None
    assert read_throttled(str(tmp_path / "absent")) is None
