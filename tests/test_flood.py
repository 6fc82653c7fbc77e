"""A flood from 20 clients at once (issue 21, item 3), against the worst broker for it.

The test broker has no in-flight limit of its own (`max_inflight_messages 0`) and, as
mosquitto 2.0.11 does, ignores the daemon's Receive Maximum: it pushes all 30,000 requests
at once, and the PUBACKs for the daemon's results queue behind them. Before the fix paho
queued 65,535+ publications (RSS 63 -> 231 MB, over the pi-zero-2w profile's MemoryMax),
its message ids ran out, results were duplicated or, in other runs, lost. Now paho holds
at most MAX_QUEUED publications, the rest wait on disk (acked once stored), and the replay
waits for PUBACKs instead of publishing rows twice.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, daemon_config
from flood import flood

pytestmark = pytest.mark.slow


def test_20_clients_x_1500_requests_lose_nothing_duplicate_nothing_and_fit_the_pi_zero(
        broker, daemon_factory, tmp_path: Path) -> None:
    zero = tomllib.loads((ROOT / "firmware_configs" / "pi-zero-2w.toml").read_text())
    memory_max = zero["board"]["memory_max_mb"]
    d = daemon_factory(daemon_config(broker, tmp_path / "state", health={"interval_s": 2.0}))
    res = flood(broker.port, "edge/test", d.proc.pid, clients=20, per_client=1500, settle_timeout=240)
    print(res.summary())
    # counted after the daemon's barrier (empty outbox and queue, a fence answered), not a quiet spell
    assert res.settled, res.summary()
    assert res.lost == 0, res.summary()
    assert res.duplicates == 0, res.summary()
    assert res.errors == 0, res.summary()
    assert res.peak_rss_mb < memory_max, res.summary()
    assert res.after_rss_mb < res.before_rss_mb + 20, res.summary()  # what a flood takes comes back
    assert d.stop() == 0
