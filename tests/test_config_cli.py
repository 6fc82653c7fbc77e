"""Bad settings through the real `edge` command: exit 2 and one line naming key and source, never a traceback.

Each case is what a careless user (a typo, an empty variable, a stray byte) or
someone probing the device would put in the environment or a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(extra: dict[str, str | bytes]) -> dict[str | bytes, str | bytes]:
    """The test's environment without any EDGE_* of the caller's, plus `extra` (bytes: undecodable values)."""
    env: dict[str | bytes, str | bytes] = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env.update(extra)
    return env


def edge(*args: str, env: dict[str, str | bytes] | None = None, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60,
                          env=_env(env or {}), cwd=ROOT, **kw)


def one_error(out: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused setting must produce, after checking there is no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# variable, value, what the line must name (besides the variable)
BAD_ENVIRONMENT = [
    ("EDGE_MQTT_PORT", "abc", "expected an integer"),
    ("EDGE_MQTT_PORT", "1883.5", "mqtt.port"),
    ("EDGE_MQTT_PORT", "0", "mqtt.port"),
    ("EDGE_MQTT_PORT", "1883 # comment", "expected an integer"),
    ("EDGE_LOGGING_LEVEL", "verbose", "logging.level"),
    ("EDGE_MQTT_HOST", "", "mqtt.host"),
    ("EDGE_MQTT_HOST", "broker lan", "mqtt.host"),
    ("EDGE_CLOUD_BASE_URL", "http://[::1", "cloud.base_url"),
    ("EDGE_CLOUD_BASE_URL", "http://127.0.0.1:99999/v1", "cloud.base_url"),
    ("EDGE_CLOUD_BASE_URL", "http://:80/v1", "cloud.base_url"),
    ("EDGE_CLOUD_BASE_URL", "ftp://host/v1", "cloud.base_url"),
    ("EDGE_CLOUD_BASE_URL", "http://user:secret@host/v1", "cloud.base_url"),
    ("EDGE_MQTT_BASE_TOPIC", "$SYS/x", "mqtt.base_topic"),
    ("EDGE_MQTT_BASE_TOPIC", "edge/+/x", "mqtt.base_topic"),
    ("EDGE_MQTT_BASE_TOPIC", "edge//x", "mqtt.base_topic"),
    ("EDGE_MQTT_BASE_TOPIC", "edge/x/", "mqtt.base_topic"),
    ("EDGE_MQTT_BASE_TOPIC", "edge/\x01x", "mqtt.base_topic"),
    ("EDGE_MQTT_CLIENT_ID", "edge-\tx", "mqtt.client_id"),
    ("EDGE_HEALTH_INTERVAL_S", "nan", "health.interval_s"),
    ("EDGE_CLOUD_COST_PER_CALL_USD", "nan", "cloud.cost_per_call_usd"),
    ("EDGE_CLOUD_TIMEOUT_S", "inf", "cloud.timeout_s"),
    ("EDGE_MODEL_OOS_THRESHOLD", "-nan", "model.oos_threshold"),
    ("EDGE_CLOUD_REDACT", "maybe", "expected a boolean"),
    ("EDGE_MQTT_REPLY_PREFIXES", "app/#", "mqtt.reply_prefixes"),
    ("EDGE_MQTT_REPLY_PREFIXES", '["app/replies", 5]', "mqtt.reply_prefixes"),
    ("EDGE_MQTT_REPLY_PREFIXES", '["unclosed"', "expected a list of strings"),
    ("EDGE_DEVICE_ID", "kitchen/1", "device_id"),
]


@pytest.mark.parametrize("var, value, names", BAD_ENVIRONMENT, ids=[f"{v}={x!r}" for v, x, _ in BAD_ENVIRONMENT])
def test_a_bad_variable_is_one_line_naming_it(var: str, value: str, names: str) -> None:
    line = one_error(edge("config", "check", "generic", env={var: value}))
    assert line.startswith("edge: config error: environment: "), line
    assert var in line and names in line, line


@pytest.mark.parametrize("var, names", [("EDGE_MQTT_BASE_TOPIC", "mqtt.base_topic"),
                                        ("EDGE_MQTT_CLIENT_ID", "mqtt.client_id"),
                                        ("EDGE_MQTT_USERNAME", "mqtt.username")])
def test_an_undecodable_byte_is_refused(var: str, names: str) -> None:
    """os.environ hands a \\xff byte over as the lone surrogate '\\udcff', which cannot be sent as UTF-8."""
    out = edge("config", "check", "generic", env={var.encode(): b"edge/\xffx"})
    line = one_error(out)
    assert var in line and names in line and "UTF-8" in line, line


def test_edge_run_refuses_a_bad_logging_level_before_logging_with_it(tmp_path: Path) -> None:
    line = one_error(edge("run", env={"EDGE_LOGGING_LEVEL": "verbose", "EDGE_STATE_DIR": str(tmp_path)}))
    assert "logging.level" in line and "EDGE_LOGGING_LEVEL" in line, line


@pytest.mark.parametrize("value", ["abc", "1883.5"])
def test_a_bad_port_breaks_no_other_command(value: str) -> None:
    """The `send` parser's defaults used to read EDGE_MQTT_PORT with int(): every subcommand crashed."""
    out = edge("config", "schema", env={"EDGE_MQTT_PORT": value})
    assert out.returncode == 0 and "port = 1883" in out.stdout, out.stderr
    out = edge("infer", "--help", env={"EDGE_MQTT_PORT": value})
    assert out.returncode == 0 and "Traceback" not in out.stderr
    line = one_error(edge("send", "hello", "--timeout", "0.2", env={"EDGE_MQTT_PORT": value}))
    assert line.startswith("edge send: environment: EDGE_MQTT_PORT"), line


@pytest.mark.parametrize("args, names", [
    (["--port", "0"], "--port"), (["--port", "70000"], "--port"), (["--host", ""], "--host"),
    (["--base-topic", "a/#"], "--base-topic"), (["--base-topic", "$SYS/x"], "--base-topic"),
    (["--device", "a b"], "--device"), (["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"),
    (["--timeout", "-1"], "--timeout"),
])
def test_edge_send_checks_its_options_like_settings(args: list[str], names: str) -> None:
    line = one_error(edge("send", "hello", *args))
    assert names in line, line


def test_edge_send_takes_its_defaults_from_the_environment_checked(broker) -> None:
    """A valid EDGE_MQTT_PORT is used: edge send reaches the broker there and, with no daemon
    on the device's topics, times out (3), where a wrong port would fail to connect."""
    env = {"EDGE_MQTT_PORT": str(broker.port), "EDGE_DEVICE_ID": "nobody", "EDGE_MQTT_BASE_TOPIC": "x/y"}
    out = edge("send", "hello", "--timeout", "0.3", env=env)
    assert out.returncode == 3 and "edge/nobody" not in out.stderr and "x/y" in out.stderr, out.stderr
    out = edge("send", "hello", "--timeout", "0.3", "--device", "other", env=env)  # --device: not this base topic
    assert out.returncode == 3 and "edge/other" in out.stderr, out.stderr


def test_a_bad_file_value_names_the_file(tmp_path: Path) -> None:
    for text, key in [('[mqtt]\nhost = ""\n', "mqtt.host"), ("[health]\ninterval_s = nan\n", "health.interval_s"),
                      ("[cloud]\ntimeout_s = inf\n", "cloud.timeout_s"),
                      ('[mqtt]\nbase_topic = "$SYS/edge"\n', "mqtt.base_topic"),
                      ('[model]\npath = "a\\u0000b"\n', "model.path"),
                      ('[mqtt]\nreply_prefixes = "app/replies"\n', "mqtt.reply_prefixes")]:
        f = tmp_path / "edge.toml"
        f.write_text(text, encoding="utf-8")
        line = one_error(edge("config", "check", str(f)))
        assert line.startswith(f"edge: config error: {f}: {key}:"), line


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "edge.toml"
    f.write_bytes(b'[mqtt]\nhost = "caf\xe9"\n')
    line = one_error(edge("config", "check", str(f)))
    assert str(f) in line and "UTF-8" in line, line


def test_a_misspelt_variable_is_named_in_one_warning() -> None:
    out = edge("config", "check", "generic",
               env={"EDGE_MQTT_PROT": "1884", "EDGE_CLOUD_MDOE": "local_only", "EDGE_CONFIG": "",
                    "EDGE_CLOUD_API_KEY": "k", "EDGE_MQTT_PASSWORD": "p", "EDGE_FAULT_STALL_TEXT": "x",
                    "EDGE_TFLITE_RUNTIME": ""})
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, out.stderr
    assert "EDGE_MQTT_PROT (did you mean EDGE_MQTT_PORT?)" in warnings[0]
    assert "EDGE_CLOUD_MDOE (did you mean EDGE_CLOUD_MODE?)" in warnings[0]
    for legitimate in ("EDGE_CONFIG", "EDGE_CLOUD_API_KEY", "EDGE_MQTT_PASSWORD", "EDGE_FAULT", "EDGE_TFLITE"):
        assert legitimate not in warnings[0].replace("EDGE_MQTT_PROT", "").replace("EDGE_CLOUD_MDOE", "")
    assert edge("config", "check", "generic").stderr == ""  # nothing to say: nothing said


def test_the_environment_keeps_working_for_every_key() -> None:
    """EDGE_<SECTION>_<KEY>, the interface's promise, with the value types the README lists."""
    out = edge("config", "check", "pi-4b", "--json",
               env={"EDGE_MQTT_PORT": "1_884", "EDGE_CLOUD_REDACT": "off", "EDGE_DEVICE_ID": "hall",
                    "EDGE_MQTT_TLS_INSECURE": "yes", "EDGE_HEALTH_INTERVAL_S": "2",
                    "EDGE_MQTT_REPLY_PREFIXES": "app/replies, home/x ,", "EDGE_MQTT_HOST": "::1"})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["mqtt"]["port"] == 1884 and data["cloud"]["redact"] is False and data["device_id"] == "hall"
    assert data["mqtt"]["tls_insecure"] is True and data["health"]["interval_s"] == 2.0
    assert data["mqtt"]["reply_prefixes"] == ["app/replies", "home/x"] and data["mqtt"]["host"] == "::1"
    assert data["sources"][-1] == "environment" and data["board"]["name"] == "pi-4b"


def test_show_is_annotated_toml_that_loads_back_the_same(tmp_path: Path) -> None:
    f = tmp_path / "edge.toml"
    f.write_text('device_id = "hall"\n[mqtt]\nport = 1999\nreply_prefixes = ["app/replies"]\n', encoding="utf-8")
    out = edge("config", "check", str(f), "--show", env={"EDGE_CLOUD_MODE": "local_only"})
    assert out.returncode == 0, out.stderr
    shown = tomllib.loads(out.stdout)
    assert shown["mqtt"]["port"] == 1999 and shown["cloud"]["mode"] == "local_only"
    port_line = next(line for line in out.stdout.splitlines() if line.startswith("port = "))
    assert "[from edge.toml]" in port_line and out.stdout.startswith(f"# edge settings, from: {f}, environment\n")
    assert "[from environment]" in next(line for line in out.stdout.splitlines() if line.startswith("mode = "))
    again = tmp_path / "shown.toml"
    again.write_text(out.stdout, encoding="utf-8")
    first = json.loads(edge("config", "check", str(f), "--json", env={"EDGE_CLOUD_MODE": "local_only"}).stdout)
    second = json.loads(edge("config", "check", str(again), "--json").stdout)
    first.pop("sources"), second.pop("sources")
    assert first == second


def test_show_into_a_closed_pipe_ends_quietly() -> None:
    """`edge config check NAME --show | head`: a reader that has gone away is no traceback."""
    r, w = os.pipe()
    os.close(r)  # no reader at all: the first write fails with EPIPE, deterministically
    try:
        proc = subprocess.run([sys.executable, "-m", "edge", "config", "check", "generic", "--show"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=_env({}), cwd=ROOT)
    finally:
        os.close(w)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


def test_show_through_head() -> None:
    out = subprocess.run(f"'{sys.executable}' -m edge config check generic --show | head -n 3",
                         shell=True, capture_output=True, text=True, timeout=60, env=_env({}), cwd=ROOT)
    assert len(out.stdout.splitlines()) == 3 and out.stderr == "", out.stderr


def test_the_daemon_logs_a_misspelt_variable_once_and_serves(broker, daemon_factory, tmp_path: Path) -> None:
    from conftest import daemon_config

    d = daemon_factory(daemon_config(broker, tmp_path / "state"), env={"EDGE_MQTT_PROT": "1884"})
    assert d.stop() == 0
    lines = [line for line in d.log_text().splitlines() if "EDGE_MQTT_PROT" in line]
    assert len(lines) == 1 and "WARNING" in lines[0] and "did you mean EDGE_MQTT_PORT?" in lines[0], lines
