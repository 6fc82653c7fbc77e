"""Broker security end to end: mosquitto with TLS, client certificates and a password file on loopback.

The certificates are made for each test run with openssl (tests/tls_certs.py); the daemon gets its
password from EDGE_MQTT_PASSWORD or from a systemd credential directory, never from its config.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, daemon_config, free_port, wait_port
from tls_certs import Certs, make_certs, make_password_file, mosquitto_tls_conf

USER = "kitchen"
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


class SecureBroker:
    """A mosquitto whose TLS listener wants a client certificate from our CA and a password."""

    def __init__(self, broker_factory: Any, d: Path) -> None:
        self.certs: Certs = make_certs(d / "pki")
        pw = make_password_file(d / "passwd", USER, PASSWORD)
        self.tls_port = free_port()
        extra = mosquitto_tls_conf(self.certs, self.tls_port, pw)
        self.broker = broker_factory(extra=extra)

    def tls_config(self, state: Path, device_id: str, **mqtt: Any) -> str:
        c = self.certs
        settings = {
            "port": self.tls_port,
            "tls": True,
            "ca_file": str(c.ca),
            "cert_file": str(c.client_cert),
            "key_file": str(c.client_key),
            "username": USER,
            **mqtt,
        }
        return daemon_config(self.broker, state, device_id=device_id, mqtt=settings)

    def pub(self, password: str, cert: bool = True, ca: Path | None = None) -> subprocess.CompletedProcess[str]:
        return _pub(self.certs, self.tls_port, password, cert, ca)


def _pub(c: Certs, port: int, password: str, cert: bool = True, ca: Path | None = None) -> subprocess.CompletedProcess[str]:
    """mosquitto_pub against a TLS listener: the independent client that proves the broker set-up."""
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "--cafile", str(ca or c.ca)]
    if cert:
        args += ["--cert", str(c.client_cert), "--key", str(c.client_key)]
    args += ["-u", USER, "-P", password, "-t", "probe", "-m", "x", "-q", "1"]
    return subprocess.run(args, capture_output=True, text=True, timeout=20)


@pytest.fixture
def secure(broker_factory: Any, tmp_path: Path) -> SecureBroker:
    return SecureBroker(broker_factory, tmp_path)


def _tls_client(secure: SecureBroker) -> Any:
    """A test client on the TLS listener (TestClient connects to the broker's plain port, so build our own)."""
    from mqttc import TestClient

    c = secure.certs
    return TestClient(secure.tls_port, username=USER, password=PASSWORD, ca=str(c.ca), cert=str(c.client_cert), key=str(c.client_key))


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto-clients is not installed")
def test_broker_accepts_only_certificate_and_password(secure: SecureBroker, tmp_path: Path) -> None:
    assert secure.pub(PASSWORD).returncode == 0
    assert secure.pub("wrong").returncode != 0
    assert secure.pub(PASSWORD, cert=False).returncode != 0
    stranger = make_certs(tmp_path / "other-pki")  # a CA the broker's certificate is not signed by
    assert secure.pub(PASSWORD, ca=stranger.ca).returncode != 0


@pytest.mark.slow
def test_daemon_over_tls_with_password_from_environment(secure: SecureBroker, daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(secure.tls_config(tmp_path / "state", "tls1"), env={"EDGE_MQTT_PASSWORD": PASSWORD})
    c = _tls_client(secure)
    try:
        reply = c.request("edge/tls1", {"text": "what is my checking account balance", "id": "t1"})
        assert reply["id"] == "t1" and reply["source"] == "edge"
    finally:
        c.close()
    assert d.stop() == 0


@pytest.mark.slow
def test_daemon_reads_password_from_systemd_credential(secure: SecureBroker, daemon_factory: Any, tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt_password").write_text(PASSWORD + "\n")  # a trailing newline, as `echo` writes it
    env = {"CREDENTIALS_DIRECTORY": str(creds), "EDGE_MQTT_PASSWORD": ""}
    d = daemon_factory(secure.tls_config(tmp_path / "state", "tls2"), env=env)
    c = _tls_client(secure)
    try:
        assert c.request("edge/tls2", {"text": "please tell me a joke", "id": "t2"})["id"] == "t2"
    finally:
        c.close()
    assert d.stop() == 0


@pytest.mark.slow
def test_wrong_password_fails_loudly_at_start(secure: SecureBroker, daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(
        secure.tls_config(tmp_path / "state", "tls3"), env={"EDGE_MQTT_PASSWORD": "wrong"}, wait_ready=False
    )
    assert d.proc is not None
    # A refused password is not going to fix itself: exit 2 (bad configuration), not an endless retry loop.
    assert d.proc.wait(timeout=60) == 2
    log = d.log_text().lower()
    assert "password" in log or "not authori" in log, log



@pytest.mark.slow
def test_untrusted_broker_certificate_fails_loudly_at_start(
    secure: SecureBroker, daemon_factory: Any, tmp_path: Path
) -> None:
    stranger = make_certs(tmp_path / "other-pki")  # the daemon trusts a CA that did not sign the broker's cert
    d = daemon_factory(
        secure.tls_config(tmp_path / "state", "tls4", ca_file=str(stranger.ca)),
        env={"EDGE_MQTT_PASSWORD": PASSWORD},
        wait_ready=False,
    )
    assert d.proc is not None
    try:
        rc = d.proc.wait(timeout=10)
    finally:
        log = d.log_text()
    assert rc == 2 and "certificate" in log.lower(), log


def _doc_listener(doc: str) -> str:
    """The mosquitto listener example of docs/integrations.md (the ```conf block after its heading line)."""
    section = doc.split("The matching mosquitto listener", 1)[1]
    return section.split("```conf\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto-clients is not installed")
def test_the_documented_listener_starts_and_wants_certificate_and_password(broker_factory: Any, tmp_path: Path) -> None:
    """docs/integrations.md's listener, line for line, with only its paths and port made local."""
    example = _doc_listener((ROOT / "docs" / "integrations.md").read_text())
    certs = make_certs(tmp_path / "pki")
    pw = make_password_file(tmp_path / "passwd", USER, PASSWORD)
    port = free_port()
    local = {"listener 8883": f"listener {port} 127.0.0.1", "/etc/mosquitto/certs/ca.crt": str(certs.ca),
             "/etc/mosquitto/certs/server.crt": str(certs.server_cert),
             "/etc/mosquitto/certs/server.key": str(certs.server_key), "/etc/mosquitto/passwd": str(pw)}
    for doc_text, here in local.items():
        assert doc_text in example, f"the example no longer says {doc_text!r}: update this test with it"
        example = example.replace(doc_text, here)
    broker = broker_factory(extra=example)  # fails, with mosquitto's log, when it refuses the configuration
    wait_port(port)
    assert _pub(certs, port, PASSWORD).returncode == 0, broker.log.read_text()
    assert _pub(certs, port, "wrong").returncode != 0
    assert _pub(certs, port, PASSWORD, cert=False).returncode != 0


def test_one_tls_set_up_for_the_daemon_and_the_tools(secure: SecureBroker) -> None:
    """`setup_tls` is what the daemon, `edge send` and `edge homeassistant remove` use: a client
    context (PROTOCOL_TLS_CLIENT), the chain always verified, the host name unless tls_insecure."""
    import ssl

    from edge.config import MqttSettings
    from edge.mqtt.client import CallbackAPIVersion, paho
    from edge.mqtt.link import LinkError, setup_tls

    c = secure.certs
    for insecure in (False, True):
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        setup_tls(client, MqttSettings(tls=True, ca_file=str(c.ca), cert_file=str(c.client_cert),
                                       key_file=str(c.client_key), tls_insecure=insecure))
        ctx = client._ssl_context
        assert ctx.protocol == ssl.PROTOCOL_TLS_CLIENT and ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.check_hostname is (not insecure)
    with pytest.raises(LinkError, match="cert_file"):
        setup_tls(paho.Client(callback_api_version=CallbackAPIVersion.VERSION2),
                  MqttSettings(tls=True, ca_file=str(c.ca), cert_file="/nonexistent.crt"))


@pytest.mark.slow
def test_edge_send_and_publish_once_use_the_client_certificate(secure: SecureBroker, daemon_factory: Any,
                                                                tmp_path: Path) -> None:
    """Before, `edge send` and `edge homeassistant remove` set only a CA: a broker that wants a client
    certificate (this one) refused them while the daemon got in."""
    from edge import config as cfg
    from edge.mqtt import publish_once, request_once

    d = daemon_factory(secure.tls_config(tmp_path / "state", "tls5"), env={"EDGE_MQTT_PASSWORD": PASSWORD})
    settings = cfg.load(d.config_path)
    result = request_once("127.0.0.1", secure.tls_port, "edge/tls5", {"text": "what is the weather", "id": "s1"},
                          timeout=15, username=USER, password=PASSWORD, tls=settings.mqtt)
    assert result is not None and result["id"] == "s1"
    publish_once(settings, [("edge/tls5/probe", b"{}", False)], password=PASSWORD)  # raises unless PUBACKed
    assert d.stop() == 0


@pytest.mark.slow
def test_a_broker_that_wants_a_client_certificate_is_warned_about_once_not_waited_on_silently(
        secure: SecureBroker, daemon_factory: Any, tmp_path: Path) -> None:
    config = secure.tls_config(tmp_path / "state", "tls6", cert_file="", key_file="", reconnect_min_s=0.05,
                               reconnect_max_s=0.1)
    config += '\n[logging]\nlevel = "debug"\n'
    d = daemon_factory(config, env={"EDGE_MQTT_PASSWORD": PASSWORD}, wait_ready=False)
    d.wait_log("client certificate", timeout=30)
    d.wait_log("Connection failed, retrying", count=5, timeout=30)  # the reconnect loop goes on
    warnings = [line for line in d.log_text().splitlines() if " WARNING " in line and "TLS" in line]
    assert len(warnings) == 1 and "mqtt.cert_file" in warnings[0], warnings
    assert d.proc.poll() is None and d.stop() == 0


@pytest.mark.slow
def test_a_broker_down_at_start_that_later_presents_an_untrusted_certificate_is_warned_about_once(
        daemon_factory: Any, tmp_path: Path) -> None:
    """At start the broker is down (not a configuration error: the daemon waits for it); when it comes
    up with a certificate our CA did not sign, the reconnect loop says so once, instead of waiting at
    "waiting for broker" in silence."""
    from conftest import Broker

    certs = make_certs(tmp_path / "pki")
    stranger = make_certs(tmp_path / "other-pki")
    port = free_port()
    broker = Broker(tmp_path / "late", extra=mosquitto_tls_conf(certs, port, make_password_file(
        tmp_path / "passwd", USER, PASSWORD)))
    mqtt = {"port": port, "tls": True, "ca_file": str(stranger.ca), "cert_file": str(certs.client_cert),
            "key_file": str(certs.client_key), "username": USER, "reconnect_min_s": 0.05, "reconnect_max_s": 0.1}
    config = daemon_config(broker, tmp_path / "state", device_id="tls7", mqtt=mqtt) + '[logging]\nlevel = "debug"\n'
    d = daemon_factory(config, env={"EDGE_MQTT_PASSWORD": PASSWORD}, wait_ready=False)
    d.wait_log("not reachable yet", timeout=30)
    broker.start()
    try:
        d.wait_log("does not verify", timeout=30)
        count = d.log_text().count("Connection failed, retrying")
        d.wait_log("Connection failed, retrying", count=count + 5, timeout=30)  # five more attempts
        warnings = [line for line in d.log_text().splitlines() if " WARNING " in line and "does not verify" in line]
        assert len(warnings) == 1, warnings
        assert d.proc.poll() is None and d.stop() == 0
    finally:
        broker.stop()


def _edge_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONPATH": str(ROOT), **env})


@pytest.mark.slow
def test_edge_send_command_takes_the_daemons_tls_from_the_environment(secure: SecureBroker, daemon_factory: Any,
                                                                      tmp_path: Path) -> None:
    """`edge send` on a broker that wants a client certificate: the certificate from EDGE_MQTT_CERT_FILE /
    _KEY_FILE (as the daemon's), --ca-file turning TLS on; without the certificate it is refused (exit 4,
    no broker); a careless value (EDGE_MQTT_TLS_INSECURE=maybe) is exit 2 naming the variable."""
    c = secure.certs
    d = daemon_factory(secure.tls_config(tmp_path / "state", "tls8"), env={"EDGE_MQTT_PASSWORD": PASSWORD})
    base = ["send", "what is the weather", "--port", str(secure.tls_port), "--device", "tls8", "--timeout", "20"]
    env = {"EDGE_MQTT_USERNAME": USER, "EDGE_MQTT_PASSWORD": PASSWORD,
           "EDGE_MQTT_CERT_FILE": str(c.client_cert), "EDGE_MQTT_KEY_FILE": str(c.client_key)}
    out = _edge_cli(*base, "--ca-file", str(c.ca), env=env)
    assert out.returncode == 0 and "intent" in out.stdout, out.stdout + out.stderr
    out = _edge_cli(*base, env={**env, "EDGE_MQTT_TLS": "true", "EDGE_MQTT_CA_FILE": str(c.ca)})  # all from env
    assert out.returncode == 0 and "intent" in out.stdout, out.stdout + out.stderr
    no_cert = {k: v for k, v in env.items() if k not in ("EDGE_MQTT_CERT_FILE", "EDGE_MQTT_KEY_FILE")}
    out = _edge_cli(*base, "--ca-file", str(c.ca), env=no_cert)
    assert out.returncode == 4 and out.stdout == "", out.stdout + out.stderr
    out = _edge_cli(*base, "--ca-file", str(c.ca), env={**env, "EDGE_MQTT_TLS_INSECURE": "maybe"})
    assert out.returncode == 2 and "EDGE_MQTT_TLS_INSECURE" in out.stderr, out.stdout + out.stderr
    assert d.stop() == 0


def test_the_fleet_client_and_the_tools_share_one_tls_set_up(secure: SecureBroker) -> None:
    """`edge deploy`'s client (mqtt/fleet.py) connects through the same `connect_once`: with the
    client certificate it gets a session (no device reports the group: []); without it, LinkError."""
    from edge.config import MqttSettings
    from edge.mqtt.fleet import group_members
    from edge.mqtt.link import LinkError

    c = secure.certs
    tls = MqttSettings(tls=True, ca_file=str(c.ca), cert_file=str(c.client_cert), key_file=str(c.client_key))
    assert group_members("127.0.0.1", secure.tls_port, "kitchens", username=USER, password=PASSWORD, tls=tls) == []
    with pytest.raises(LinkError):
        group_members("127.0.0.1", secure.tls_port, "kitchens", username=USER, password=PASSWORD, tls_ca=str(c.ca))
    with pytest.raises(LinkError, match="refused"):  # the certificate, a wrong password
        group_members("127.0.0.1", secure.tls_port, "kitchens", username=USER, password="wrong", tls=tls)


def test_homeassistant_remove_without_a_broker_exits_4(tmp_path: Path) -> None:
    """No broker is exit 4 for every command that talks to one (1 is a daemon's own error)."""
    config = tmp_path / "edge.toml"
    config.write_text(f'device_id = "ha1"\n[mqtt]\nport = {free_port()}\n[state]\ndir = "{tmp_path / "state"}"\n')
    out = _edge_cli("homeassistant", "remove", "--config", str(config), env={})
    assert out.returncode == 4 and "cannot connect" in out.stderr, out.stdout + out.stderr
