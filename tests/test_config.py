"""Strict configuration: layering, types, ranges, and errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import config, config_env
from edge.config import ConfigError


def write(tmp_path: Path, text: str, name: str = "edge.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def errors_of(*args, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        config.load(*args, **kw)
    return exc.value.errors


def test_defaults_follow_the_spec():
    s = config.load(environ={})
    assert s.mqtt.host == "127.0.0.1" and s.mqtt.port == 1883 and s.mqtt.protocol == 5 and not s.mqtt.tls
    assert s.model.path == "" and s.model.threads == 1
    assert s.cloud.base_url == "" and s.cloud.mode == "local_first" and s.cloud.timeout_s == 10
    assert s.health.interval_s == 30 and not s.integrations.home_assistant and not s.integrations.hermes
    assert s.base_topic == f"edge/{s.device_id}" and s.client_id == f"edge-{s.device_id}"


def test_spec_example_is_accepted(tmp_path):
    p = write(tmp_path, """
device_id = "kitchen"
group = "house"
[mqtt]
host = "10.0.0.2"
port = 1884
base_topic = "home/kitchen"
protocol = 4
username = "edge"
tls = false
[model]
path = ""
threads = 2
[cloud]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
mode = "cloud_preferred"
timeout_s = 5
[state]
dir = "/tmp/x"
[health]
interval_s = 10
[integrations]
home_assistant = true
hermes = true
""".replace("protocol = 4", "protocol = 5"))
    s = config.load(p, environ={})
    assert s.device_id == "kitchen" and s.group == "house" and s.base_topic == "home/kitchen"
    assert s.cloud.timeout_s == 5.0 and isinstance(s.cloud.timeout_s, float)
    assert s.state_dir == Path("/tmp/x") and s.integrations.hermes and s.sources == (str(p),)


def test_every_error_is_reported_with_key_and_file(tmp_path):
    p = write(tmp_path, """
nonsense = 1
[mqtt]
port = 70000
protocol = "5"
colour = "blue"
[cloud]
mode = "sometimes"
[health]
interval_s = true
[bogus]
x = 1
""")
    errs = errors_of(p, environ={})
    assert all(e.startswith(f"{p}: ") for e in errs)
    joined = "\n".join(errs)
    for key in ("nonsense", "mqtt.port", "mqtt.protocol", "mqtt.colour", "cloud.mode", "health.interval_s", "bogus"):
        assert f": {key}:" in joined, key
    assert len(errs) == 7


def test_a_section_that_is_not_a_table(tmp_path):
    assert "mqtt: expected a table" in errors_of(write(tmp_path, 'mqtt = "x"\n'), environ={})[0]


def test_invalid_toml_and_missing_file(tmp_path):
    assert "not valid TOML" in errors_of(write(tmp_path, "[mqtt\n"), environ={})[0]
    assert "file not found" in errors_of(tmp_path / "nope.toml", environ={})[0]


def test_profile_then_file_then_environment(tmp_path):
    p = write(tmp_path, "[model]\nthreads = 3\n[mqtt]\nport = 1999\n")
    s = config.load(p, "pi-4b", environ={"EDGE_MQTT_PORT": "2000", "EDGE_CLOUD_REDACT": "false", "EDGE_DEVICE_ID": "hall"})
    assert s.board.name == "pi-4b" and s.model.threads == 3 and s.mqtt.port == 2000
    assert s.cloud.redact is False and s.device_id == "hall"
    assert s.sources[0].endswith("pi-4b.toml") and s.sources[-1] == "environment"


def test_bad_environment_values_are_named():
    errs = errors_of(environ={"EDGE_MQTT_PORT": "many", "EDGE_CLOUD_MODE": "x"})
    assert any(e.startswith("environment: EDGE_MQTT_PORT") for e in errs)
    assert any(e.startswith("environment: cloud.mode") for e in errs)


def test_unknown_profile_lists_the_available_ones():
    errs = errors_of(profile="pi-9000", environ={})
    assert "pi-9000" in errs[0] and "pi-zero-2w" in errs[0]


def test_cross_key_rules(tmp_path):
    p = write(tmp_path, 'group = "g"\n[mqtt]\nprotocol = 4\nreconnect_min_s = 10.0\nreconnect_max_s = 1.0\n'
                        '[cloud]\nbase_url = "http://x/v1"\n[model]\npath = "/definitely/not/here"\n')
    joined = "\n".join(errors_of(p, environ={}))
    for key in ("group", "mqtt.reconnect_min_s", "cloud.model", "model.path"):
        assert f": {key}:" in joined, key


def test_tls_files_must_exist(tmp_path):
    p = write(tmp_path, '[mqtt]\ntls = true\nca_file = "/no/ca.pem"\ncert_file = "/no/c.pem"\n')
    joined = "\n".join(errors_of(p, environ={}))
    assert "mqtt.ca_file" in joined and "mqtt.cert_file" in joined


def test_topics_and_ids_are_checked(tmp_path):
    p = write(tmp_path, 'device_id = "has space"\n[mqtt]\nbase_topic = "a/#"\n')
    joined = "\n".join(errors_of(p, environ={}))
    assert ": device_id:" in joined and ": mqtt.base_topic:" in joined


def test_secrets_come_from_environment_or_credentials(tmp_path):
    (tmp_path / "cloud_api_key").write_text("sk-from-file\n")
    assert config_env.read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", {"EDGE_CLOUD_API_KEY": "sk-env"}) == "sk-env"
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert config_env.read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", env) == "sk-from-file"
    assert config_env.read_secret("EDGE_MQTT_PASSWORD", "mqtt_password", env) == ""


def test_state_dir_falls_back_to_systemd_then_home(monkeypatch):
    """$STATE_DIRECTORY comes from the environ given to load(), not from os.environ later."""
    s = config.load(environ={"STATE_DIRECTORY": "/var/lib/edge:/var/lib/other"})
    assert s.state_dir == Path("/var/lib/edge")
    monkeypatch.setenv("STATE_DIRECTORY", "/elsewhere")
    assert config.load(environ={}).state_dir == Path.home() / ".local" / "state" / "edge"
    assert config.load(environ={"STATE_DIRECTORY": "/a", "EDGE_STATE_DIR": "/b"}).state_dir == Path("/b")


def test_relative_paths_resolve_against_the_config_files_folder(tmp_path, monkeypatch):
    """`[model] path = "models/mine"` means next to the config file, wherever the daemon starts."""
    conf_dir = tmp_path / "etc"
    (conf_dir / "models" / "mine").mkdir(parents=True)
    (conf_dir / "ca.pem").write_text("x")
    f = conf_dir / "edge.toml"
    f.write_text('[model]\npath = "models/mine"\n[state]\ndir = "state"\n'
                 '[mqtt]\nca_file = "ca.pem"\n', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = config.load(f, environ={})
    assert s.model.path == str(conf_dir.resolve() / "models" / "mine")
    assert s.state.dir == str(conf_dir.resolve() / "state")
    assert s.mqtt.ca_file == str(conf_dir.resolve() / "ca.pem")
    # absolute and ~ paths stay as written; the environment is relative to the working directory
    f.write_text(f'[model]\npath = "{conf_dir / "models" / "mine"}"\n[state]\ndir = "~/st"\n',
                 encoding="utf-8")
    s = config.load(f, environ={})
    assert s.model.path == str(conf_dir / "models" / "mine") and s.state.dir == "~/st"
    s = config.load(f, environ={"EDGE_STATE_DIR": "rel"})
    assert s.state.dir == "rel"


def test_relative_model_path_missing_names_the_resolved_folder(tmp_path):
    f = tmp_path / "edge.toml"
    f.write_text('[model]\npath = "models/none"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        config.load(f, environ={})
    assert str(tmp_path.resolve() / "models" / "none") in str(e.value)


def test_a_cross_key_error_is_blamed_on_the_source_that_set_its_keys(tmp_path):
    """Not on the last source read: a file's mistake stays the file's while EDGE_* variables are set."""
    p = write(tmp_path, 'group = "g"\n[mqtt]\nprotocol = 4\nreconnect_max_s = 0.2\n'
                        '[cloud]\nbase_url = "http://x/v1"\n')
    errs = errors_of(p, environ={"EDGE_HEALTH_INTERVAL_S": "5"})
    assert f"{p}: group: fleets use MQTT 5" in "\n".join(errs)
    assert any(e.startswith(f"{p}: mqtt.reconnect_min_s:") for e in errs), errs  # min is a default, max the file's
    assert any(e.startswith(f"{p}: cloud.model:") for e in errs), errs
    # the later source wins the blame when it completes the bad combination
    errs = errors_of(write(tmp_path, 'group = "g"\n', "g.toml"), environ={"EDGE_MQTT_PROTOCOL": "4"})
    assert errs == ["environment: group: fleets use MQTT 5 shared subscriptions; set mqtt.protocol = 5"]
    errs = errors_of("", "pi-4b", environ={"EDGE_CLOUD_BASE_URL": "http://x/v1"})
    assert errs == ["environment: cloud.model: required when cloud.base_url is set"]


def test_a_refused_value_does_not_also_fail_a_cross_key_rule(tmp_path):
    p = write(tmp_path, "[mqtt]\nreconnect_min_s = 10.0\nreconnect_max_s = nan\n")
    errs = errors_of(p, environ={})
    assert len(errs) == 1 and errs[0].startswith(f"{p}: mqtt.reconnect_max_s: nan must be a finite number"), errs


def test_reply_prefixes_is_a_list_of_topic_prefixes(tmp_path):
    assert config.load(environ={}).mqtt.reply_prefixes == ()
    s = config.load(write(tmp_path, '[mqtt]\nreply_prefixes = ["app/replies", "home/edge"]\n'), environ={})
    assert s.mqtt.reply_prefixes == ("app/replies", "home/edge") and isinstance(s.mqtt.reply_prefixes, tuple)
    env = config.load(environ={"EDGE_MQTT_REPLY_PREFIXES": '["a/b", "c,d"]'})
    assert env.mqtt.reply_prefixes == ("a/b", "c,d")
    assert config.load(environ={"EDGE_MQTT_REPLY_PREFIXES": " a/b ,c "}).mqtt.reply_prefixes == ("a/b", "c")
    assert config.load(environ={"EDGE_MQTT_REPLY_PREFIXES": ""}).mqtt.reply_prefixes == ()
    for bad, why in [('"a/b"', "expected a list of strings"), ("[1, 2]", "expected a list of strings"),
                     ('["a/+"]', "wildcards"), ('["$SYS"]', "must not start with $"), ('[""]', "must not be empty"),
                     ('["a/b/"]', "empty levels"), ('["/a"]', "empty levels"), ('["a\\u0000"]', "control")]:
        errs = errors_of(write(tmp_path, f"[mqtt]\nreply_prefixes = {bad}\n"), environ={})
        assert len(errs) == 1 and ": mqtt.reply_prefixes:" in errs[0] and why in errs[0], (bad, errs)


def test_strings_floats_and_urls_from_a_file(tmp_path):
    cases = {
        '[mqtt]\nusername = "a\\u007fb"\n': "mqtt.username",
        '[mqtt]\nhost = "[::1]"\n': "mqtt.host",
        '[integrations]\ndiscovery_prefix = "$ha"\n': "integrations.discovery_prefix",
        '[cloud]\nbase_url = "https://api.openai.com/v1#x"\n': "cloud.base_url",
        '[cloud]\nbase_url = "http://h:0/v1"\n': "cloud.base_url",
        '[cloud]\nbreaker_cooldown_s = -inf\n': "cloud.breaker_cooldown_s",
        '[state]\ndir = "st\\nate"\n': "state.dir",
    }
    for text, key in cases.items():
        errs = errors_of(write(tmp_path, text), environ={})
        assert len(errs) == 1 and f": {key}:" in errs[0], (text, errs)
    ok = write(tmp_path, '[cloud]\nbase_url = "https://x.openai.azure.com/openai/v1?api-version=2024-06-01"\n'
                         'model = "m"\n[mqtt]\nhost = "fe80::1%eth0"\nbase_topic = "home/edge/kitchen"\n')
    assert config.load(ok, environ={}).mqtt.host == "fe80::1%eth0"


def test_unknown_edge_variables_become_one_warning():
    s = config.load(environ={"EDGE_MQTT_PROT": "1", "EDGE_CLOUD_API_KEY": "k", "EDGE_FAULT_X": "1",
                             "EDGE_CONFIG": "", "EDGE_WHATEVER": "1", "NOT_EDGE": "1"})
    assert len(s.warnings) == 1
    assert "EDGE_MQTT_PROT (did you mean EDGE_MQTT_PORT?)" in s.warnings[0] and "EDGE_WHATEVER" in s.warnings[0]
    assert "API_KEY" not in s.warnings[0] and "FAULT" not in s.warnings[0] and "EDGE_CONFIG" not in s.warnings[0]
    assert config.load(environ={"EDGE_MQTT_PORT": "1"}).warnings == ()


def test_every_edge_variable_the_repository_reads_is_known():
    """An EDGE_* name used in the code, scripts or tests is a key or listed as another variable,
    so that no legitimate variable draws the misspelling warning."""
    import re as _re

    root = Path(__file__).resolve().parent.parent
    used: set[str] = set()
    for folder in ("edge", "scripts", "tests", "systemd", "bench"):
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.suffix in ("", ".py", ".sh", ".service") and "__pycache__" not in path.parts \
                    and not path.name.startswith("test_config"):  # whose misspellings are on purpose
                used |= set(_re.findall(r"\bEDGE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    keys = {config.env_name(key) for key, _ in config.schema()}
    unknown = {v for v in used if v not in keys and v not in config_env.OTHER_VARIABLES
               and not v.startswith(config_env.OTHER_PREFIXES)}
    unknown -= {"EDGE_MQTT_PROT", "EDGE_CLOUD_MDOE", "EDGE_WHATEVER", "EDGE_X"}  # this test file's misspellings
    assert not unknown, sorted(unknown)


def test_command_line_values_are_checked_like_settings():
    assert config.check_value("mqtt.port", 1884, "--port") == 1884
    with pytest.raises(ConfigError) as e:
        config.check_value("mqtt.port", 0, "--port")
    assert e.value.errors == ["--port: mqtt.port: 0 must be >= 1"]
    assert config.env_value("mqtt.port", {}) is None
    assert config.env_value("mqtt.port", {"EDGE_MQTT_PORT": "1_884"}) == 1884
    with pytest.raises(ConfigError) as e:
        config.env_value("mqtt.host", {"EDGE_MQTT_HOST": ""})
    assert e.value.errors[0].startswith("environment: EDGE_MQTT_HOST: mqtt.host:")
    assert config.default("mqtt.port") == 1883 and config.default("mqtt.reply_prefixes") == ()


def test_any_environment_value_is_settings_or_a_config_error():
    """Whatever a variable holds (surrogates, controls, huge numbers, TOML fragments), load() either
    accepts it or raises ConfigError with one line naming the variable: never another exception."""
    from hypothesis import given, settings as hsettings, strategies as st

    keys = [key for key, _ in config.schema() if key != "model.path"]  # a path is checked against the disk
    tricky = st.sampled_from(["nan", "-inf", "1e999", "0x10", "1_0", "99999999999999999999", "[]", '["a", 1]',
                              "true", "[[1]]", "{}", "1\nx = 2", "a,b", ",", "\udcff", "\x00", "$SYS/#", "http://[",
                              "http://h:65536", "  ", ""])
    values = st.one_of(tricky, st.text(max_size=40), st.text(alphabet="0123456789.+-_eExinfa[],\" ", max_size=12))

    @hsettings(max_examples=400, deadline=None)
    @given(st.sampled_from(keys), values)
    def one(key: str, raw: str) -> None:
        var = config.env_name(key)
        try:
            config.load(environ={var: raw})
        except ConfigError as exc:
            assert len(exc.errors) == 1 and exc.errors[0].startswith("environment: "), exc.errors
            assert var in exc.errors[0] or key in exc.errors[0], exc.errors

    one()


def test_a_huge_value_is_quoted_short():
    errs = errors_of(environ={"EDGE_MQTT_HOST": "x y" * 100_000, "EDGE_MQTT_PORT": "9" * 100_000})
    assert len(errs) == 2 and all(len(e) < 300 for e in errs), [len(e) for e in errs]
