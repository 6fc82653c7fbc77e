"""The device test's own wiring: it parses, CI runs it after the suite, the docs describe what it checks.

The device test itself (scripts/device-test amd64) boots an image under systemd-nspawn as root and
runs from .ci/run after this suite; it is not run from pytest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_script_parses_and_documents_its_arches() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/device-test"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "amd64" in proc.stdout and "arm64" in proc.stdout, proc.stderr


def test_ci_runs_the_suite_then_the_amd64_device_test() -> None:
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    suite = next(i for i, line in enumerate(lines) if line.endswith("scripts/test"))
    device = next(i for i, line in enumerate(lines) if "scripts/device-test amd64" in line)
    assert suite < device


def test_the_cache_is_ignored_and_the_docs_name_the_command() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "build/device-test/cache/x"], cwd=ROOT)
    assert ignored.returncode == 0
    doc = (ROOT / "docs/device.md").read_text()
    assert "scripts/device-test amd64|arm64" in doc and "systemd-nspawn -b -D ROOT --register=no" in doc


def test_the_amd64_run_covers_signed_deployment_and_the_docs_say_so() -> None:
    """Issue 23 on a booted device: the amd64 image gets python3-cryptography, the run deploys, kills
    and rolls back (scripts/device-test check_deployment), and docs/device.md describes it."""
    script = (ROOT / "scripts/device-test").read_text()
    assert '"python3-cryptography"' in script
    main = script[script.index("def main("):]
    assert "configure_deploy(" in main and "check_deployment(" in main
    doc = (ROOT / "docs/device.md").read_text()
    assert "--deploy-key" in doc and "SIGKILL" in doc and "edge deploy --rollback" in doc
