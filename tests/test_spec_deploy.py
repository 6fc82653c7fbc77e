"""../shared/spec/interface.md, "Model deployment", with minisign itself: "Signatures are Ed25519 over the
manifest ..., made with `edge sign` or minisign; the daemon accepts only keys it was given (`[deploy] keys`)."

An operator who never ran `edge keygen`: a key pair from the real `minisign` command, the package signed by
`minisign -S`, the public key file named in the daemon's config, the package sent by `edge deploy`. A real
daemon on a real mosquitto; the outcome read where the spec says (`edge deploy`'s exit status,
`<base>/deploy/status`, the results' `model`). tests/test_signing.py checks minisign's signatures in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Broker, Daemon, daemon_config
from mqttc import TestClient

pytestmark = pytest.mark.slow

MINISIGN = shutil.which("minisign")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_CLOUD_API_KEY": ""}


def minisign_key(where: Path) -> Path:
    """A password-less minisign key pair; returns the public key file."""
    where.mkdir(parents=True)
    subprocess.run([MINISIGN, "-G", "-W", "-p", str(where / "k.pub"), "-s", str(where / "k.sec")], check=True,
                   capture_output=True, timeout=30)
    return where / "k.pub"


def minisigned(root: Path, version: str, key_dir: Path) -> Path:
    pkg = root / f"pkg-{version}"
    shutil.copytree(ROOT / "models" / "clinc150", pkg)
    m = json.loads((pkg / "manifest.json").read_text())
    m["version"] = version
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))
    subprocess.run([MINISIGN, "-S", "-s", str(key_dir / "k.sec"), "-m", str(pkg / "manifest.json")], check=True,
                   capture_output=True, timeout=30)
    assert (pkg / "manifest.json.minisig").is_file()
    return pkg


def deploy(broker: Broker, pkg: Path, device: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "deploy", str(pkg), "--device", device, "--host", "127.0.0.1",
                           "--port", str(broker.port), "--timeout", "90"],
                          capture_output=True, text=True, env=ENV, timeout=150, cwd=ROOT)


@pytest.mark.skipif(MINISIGN is None, reason="minisign is not installed (apt-get install minisign)")
def test_a_package_signed_with_minisign_is_deployed_and_one_signed_by_a_stranger_rejected(tmp_path: Path) -> None:
    trusted = minisign_key(tmp_path / "ops")
    minisign_key(tmp_path / "stranger")
    broker = Broker(tmp_path / "b").start()
    # probation ends after 2 s (its default is 200 requests or 600 s): "active" within the test's time
    d = Daemon(tmp_path / "d", daemon_config(broker, tmp_path / "s", device_id="mini",
                                             deploy={"keys": [str(trusted)], "probation_seconds": 2}),
               env={"EDGE_CLOUD_API_KEY": ""})
    c = None
    try:
        d.start()
        c = TestClient(broker.port)
        status = c.subscribe("edge/mini/deploy/status")
        # a stranger's minisign signature: rejected, exit 1, the running model stays
        out = deploy(broker, minisigned(tmp_path / "x", "2.2.0", tmp_path / "stranger"), "mini")
        assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
        while (s := status.json(60))["state"] != "rejected":
            pass
        # `model`: the package's name@version, or null while its manifest is unverified (the daemon names nothing
        # a stranger signed; tests/test_spec.py reads the spec's "name@version" the same way)
        assert s["model"] in (None, "clinc150@2.2.0") and "unknown key" in (s["reason"] or ""), s
        assert s["previous"] == "clinc150@2.0.0", s
        assert c.request("edge/mini", {"text": "what is the weather"})["model"] == "clinc150@2.0.0"
        # the operator's own: active, exit 0, and the results say the new model
        out = deploy(broker, minisigned(tmp_path / "y", "2.1.0", tmp_path / "ops"), "mini")
        assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
        while (s := status.json(60))["state"] != "active":
            pass
        assert s["model"] == "clinc150@2.1.0" and s["previous"] == "clinc150@2.0.0", s
        assert c.request("edge/mini", {"text": "what is the weather"})["model"] == "clinc150@2.1.0"
        assert d.stop() == 0, d.log_text()
    finally:
        if c is not None:
            c.close()
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()
