"""`[deploy] probation_*` (issue 23): the probation's length, error count and share, latency factor
and sample count come from the config, strictly validated (each error names its key and its file or
variable), with the defaults probation always had; a real daemon runs the probation it was given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import daemon_config
from mqttc import TestClient
from test_deploy_daemon import NEW, ROOT, Watch, signed_copy

from edge import config
from edge import signing as S
from edge.probation import Probation, ProbationPolicy, policy_of
from edge.rollout import pack

KEYS = ("probation_requests", "probation_seconds", "probation_max_errors", "probation_error_share",
        "probation_latency_factor", "probation_min_samples")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge.toml"
    p.write_text(text)
    return p


def errors_of(path: Path | None = None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(config.ConfigError) as exc:
        config.load(path, environ=environ or {})
    return exc.value.errors


def test_the_defaults_are_the_probation_there_always_was() -> None:
    s = config.load(None, environ={})
    assert policy_of(s.deploy) == ProbationPolicy()
    assert [config.default(f"deploy.{k}") for k in KEYS] == [200, 600.0, 3, 1.0, 3.0, 20]


def test_values_from_a_file_and_the_environment_reach_the_policy(tmp_path: Path) -> None:
    p = write(tmp_path, "[deploy]\nprobation_requests = 50\nprobation_seconds = 90\nprobation_max_errors = 10\n"
                        "probation_error_share = 0.05\nprobation_latency_factor = 1.5\nprobation_min_samples = 40\n")
    s = config.load(p, environ={"EDGE_DEPLOY_PROBATION_SECONDS": "120.5"})
    assert policy_of(s.deploy) == ProbationPolicy(requests=50, seconds=120.5, max_errors=10, error_share=0.05,
                                                  latency_factor=1.5, min_samples=40)


@pytest.mark.parametrize("line, why", [
    ("probation_requests = 0", "must be >= 1"),
    ("probation_requests = -5", "must be >= 1"),
    ("probation_requests = 2.5", "expected an integer"),
    ('probation_requests = "200"', "expected an integer"),
    ("probation_requests = true", "expected an integer"),
    ("probation_seconds = 0", "must be >= 1"),
    ("probation_seconds = nan", "finite"),
    ("probation_seconds = inf", "finite"),
    ("probation_seconds = 1e12", "must be <= 2.592e+06"),
    ("probation_max_errors = 0", "must be >= 1"),
    ("probation_error_share = -0.1", "must be >= 0"),
    ("probation_error_share = 1.5", "must be <= 1"),
    ("probation_error_share = nan", "finite"),
    ("probation_latency_factor = 1.0", "must be > 1"),
    ("probation_latency_factor = 0.5", "must be >= 1"),
    ("probation_latency_factor = 1e9", "must be <= 1000"),
    ("probation_min_samples = 0", "must be >= 1"),
    ("probation_rquests = 10", "unknown key"),
])
def test_a_bad_value_is_one_error_naming_its_key_and_file(tmp_path: Path, line: str, why: str) -> None:
    p = write(tmp_path, f"[deploy]\n{line}\n")
    errs = errors_of(p)
    key = line.split(" = ")[0]
    assert len(errs) == 1 and errs[0].startswith(f"{p}: deploy.{key}"), errs
    assert why in errs[0], errs


def test_a_bad_environment_value_names_the_variable() -> None:
    errs = errors_of(environ={"EDGE_DEPLOY_PROBATION_REQUESTS": "many"})
    assert len(errs) == 1 and errs[0].startswith("environment: EDGE_DEPLOY_PROBATION_REQUESTS"), errs


def test_more_samples_than_requests_is_refused_naming_both(tmp_path: Path) -> None:
    """Latency would never be judged: refused, blamed on the file that set the pair."""
    p = write(tmp_path, "[deploy]\nprobation_requests = 10\n")
    errs = errors_of(p)
    assert errs == [f"{p}: deploy.probation_min_samples: 20 must not exceed deploy.probation_requests (10)"]


def test_edge_config_check_names_key_and_file(tmp_path: Path) -> None:
    p = write(tmp_path, "[deploy]\nprobation_error_share = 2\nprobation_latency_factor = 1\n")
    out = subprocess.run([sys.executable, "-m", "edge", "config", "check", str(p)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert f"{p}: deploy.probation_error_share" in text and f"{p}: deploy.probation_latency_factor" in text, text


def test_the_error_share_rolls_back_only_from_min_samples_on() -> None:
    policy = ProbationPolicy(requests=100, max_errors=1000, error_share=0.1, min_samples=20)
    pb = Probation(policy, 0.0, None)
    verdicts = [pb.record(1.0, i % 5 == 0, 0.0) for i in range(19)]  # 4 errors in 19: a 21% share, too early
    assert verdicts == [None] * 19
    v = pb.record(1.0, False, 0.0)
    assert v is not None and v.action == "rollback" and v.reason == \
        "4 errors in 20 requests on probation, over the share 0.1", v
    pb = Probation(policy, 0.0, None)  # at the share exactly: not over it
    assert [pb.record(1.0, i < 2, 0.0) for i in range(20)] == [None] * 20
    off = Probation(ProbationPolicy(max_errors=1000), 0.0, None)  # 1.0, the default: off
    assert [off.record(1.0, True, 0.0) for i in range(100)] == [None] * 100


@pytest.mark.slow
def test_a_daemon_runs_the_probation_its_config_asks_for(broker, daemon_factory, tmp_path: Path) -> None:
    """A real daemon with `probation_requests = 3`: three requests on the new model confirm it."""
    key = S.generate()
    package = signed_copy(tmp_path, "2.1.0", key)
    cfg = daemon_config(broker, tmp_path / "state-pc", device_id="pc",
                        deploy={"keys": [key.public_key.base64()], "probation_requests": 3,
                                "probation_seconds": 3600.0, "probation_min_samples": 2})
    daemon_factory(cfg)
    c = TestClient(broker.port)
    try:
        w = Watch(c, "pc")
        c.publish("edge/pc/deploy", pack(package)[0])
        s = w.status(lambda s: s["state"] == "active")
        assert s["model"] == NEW and s["reason"] == "on probation: confirmed after 3 requests or 3600 s", s
        for _ in range(3):
            assert c.request("edge/pc", {"text": "what time is it"})["model"] == NEW
        s = w.status(lambda s: s["state"] == "active" and s["reason"] is None, timeout=30)
        assert s["previous"] == "clinc150@2.0.0"
        pointer = json.loads((tmp_path / "state-pc" / "deploy" / "active.json").read_text())
        assert pointer["probation"] is None  # confirmed for good
    finally:
        c.close()


def test_keys_without_cryptography_fail_at_start_up_not_at_the_first_package(tmp_path: Path, monkeypatch) -> None:
    """A 32-bit card whose first boot could not install `cryptography` (no armv7l wheel of its cffi):
    with `[deploy] keys` set the daemon must say so at start-up (exit 2), not reject every package later."""
    from edge import deploy_channel, signing

    key = signing.generate()
    p = write(tmp_path, f'[deploy]\nkeys = ["{key.public_key.base64()}"]\n')
    s = config.load(p, environ={})
    monkeypatch.setattr(signing, "crypto_available", lambda: False)
    with pytest.raises(deploy_channel.DeployConfigError, match="python3-cryptography"):
        deploy_channel.deployer(s)
    monkeypatch.setattr(signing, "crypto_available", lambda: True)
    assert deploy_channel.deployer(s) is not None


def test_crypto_available_looks_the_package_up_without_importing_it() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys; from edge import signing; "
                          "print(signing.crypto_available(), 'cryptography' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
