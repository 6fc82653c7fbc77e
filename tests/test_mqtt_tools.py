"""The one-shot clients' single set-up (edge/mqtt/tools.py: connect_once), against real sockets.

`edge send`, `edge homeassistant` and `edge deploy` all connect through it, so what a careless
user points them at (nothing, something that is not a broker, a wrong TLS variable) is answered
the same way for all three: LinkError (exit 4) or ConfigError (exit 2), never a hang.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import free_port

from edge.config import ConfigError, MqttSettings
from edge.mqtt.link import LinkError
from edge.mqtt.tools import broker, close, connect_once, tls_from_env


def test_nothing_listening_is_a_link_error_at_once() -> None:
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="cannot connect"):
        connect_once(MqttSettings(port=free_port()), "t-nothing")
    assert time.monotonic() - t0 < 5


def test_a_server_that_never_answers_connect_is_a_link_error_after_the_timeout() -> None:
    """Something that takes the TCP connection and says nothing (not a broker, or a hung one)."""
    srv = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    t = threading.Thread(target=lambda: accepted.append(srv.accept()[0]), daemon=True)
    t.start()
    try:
        with pytest.raises(LinkError, match="no CONNACK within 0.5 s"):
            connect_once(MqttSettings(port=srv.getsockname()[1]), "t-silent", timeout=0.5)
    finally:
        t.join(5)
        for c in accepted:
            c.close()
        srv.close()


def test_a_session_with_a_real_broker_and_a_publication_acknowledged(broker_factory) -> None:
    b = broker_factory()
    for protocol in (4, 5):
        client = connect_once(MqttSettings(port=b.port, protocol=protocol), f"t-real-{protocol}")
        try:
            info = client.publish("t/probe", b"x", qos=1)
            info.wait_for_publish(10)
            assert info.is_published()
        finally:
            close(client)


def test_broker_settings_keep_the_daemons_tls_and_let_ca_file_turn_it_on() -> None:
    tls = MqttSettings(tls=True, ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem", tls_insecure=True)
    s = broker("h", 8883, username="u", protocol=4, tls=tls)
    assert (s.host, s.port, s.username, s.protocol) == ("h", 8883, "u", 4)
    assert (s.tls, s.ca_file, s.cert_file, s.key_file, s.tls_insecure) == (True, "/ca.pem", "/c.pem", "/k.pem", True)
    assert broker("h", 1883, tls_ca="/other.pem", tls=tls).ca_file == "/other.pem"  # --ca-file wins
    plain = broker("h", 1883)
    assert not plain.tls and plain.ca_file == ""
    assert broker("h", 1883, tls_ca="/ca.pem").tls


def test_tls_from_the_environment_is_checked_as_the_daemon_checks_it() -> None:
    env = {"EDGE_MQTT_TLS": "true", "EDGE_MQTT_CERT_FILE": "/c.pem", "EDGE_MQTT_KEY_FILE": "/k.pem",
           "EDGE_MQTT_TLS_INSECURE": "true", "EDGE_MQTT_CA_FILE": "/env-ca.pem"}
    s = tls_from_env("", env)
    assert (s.tls, s.ca_file, s.cert_file, s.key_file, s.tls_insecure) == (True, "/env-ca.pem", "/c.pem", "/k.pem", True)
    assert tls_from_env("/flag-ca.pem", env).ca_file == "/flag-ca.pem"
    assert not tls_from_env("", {}).tls and tls_from_env("/ca.pem", {}).tls
    for var, value in (("EDGE_MQTT_TLS_INSECURE", "maybe"), ("EDGE_MQTT_TLS", "2")):
        with pytest.raises(ConfigError, match=var):
            tls_from_env("", {var: value})
