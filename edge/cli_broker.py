"""The commands that talk to a broker as a client: `edge send`, `edge deploy`, `edge homeassistant`.

Each connects once (edge.mqtt's `request_once` / `roll_out` / `publish_once`) with the
daemon's TLS settings and exits 4 when it cannot reach the broker.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from edge.cli_support import (EXIT_ERROR, EXIT_NO_BROKER, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, load_model,
                              load_settings, setup_logging)


def broker_options(args: argparse.Namespace) -> tuple[str, int, str, str]:
    """host, port, base topic and user name: the option, else its EDGE_* variable, else the
    schema's default; each checked as the daemon's settings are (ConfigError names which)."""
    from edge import config as cfg

    def pick(option: str, key: str) -> object:
        value = getattr(args, option)
        if value is not None:
            return cfg.check_value(key, value, f"--{option.replace('_', '-')}")
        from_env = cfg.env_value(key)
        return cfg.default(key) if from_env is None else from_env

    host, port, username = pick("host", "mqtt.host"), pick("port", "mqtt.port"), pick("username", "mqtt.username")
    # --device names another device: then the environment's base topic (this one's) does not apply.
    base = pick("base_topic", "mqtt.base_topic") if args.device is None or args.base_topic is not None else ""
    if not base:
        base = f"edge/{pick('device', 'device_id') or cfg._default_device_id()}"
    return str(host), int(port), str(base), str(username)  # type: ignore[call-overload]


def cmd_send(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.config_env import read_secret
    from edge.contract import encodable
    from edge.mqtt import LinkError, request_once
    from edge.mqtt.tools import tls_from_env

    if not args.text.strip():
        print("edge send: TEXT is empty", file=sys.stderr)
        return EXIT_USAGE
    # Bytes that are not UTF-8 reach argv as lone surrogates: a bad argument here (2), not a request
    # the daemon would only refuse (1).
    for name, value in (("TEXT", args.text), ("--id", args.id or "")):
        if not encodable(value):
            print(f"edge send: {name} is not valid UTF-8", file=sys.stderr)
            return EXIT_USAGE
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        print("edge send: --timeout must be a positive number of seconds", file=sys.stderr)
        return EXIT_USAGE
    try:
        host, port, base, username = broker_options(args)
        tls = tls_from_env(args.ca_file)  # the daemon's TLS: client certificate, tls_insecure
    except ConfigError as exc:
        print(f"edge send: {exc.errors[0]}", file=sys.stderr)
        return EXIT_USAGE
    payload: dict = {"text": args.text}
    if args.id:
        payload["id"] = args.id
    if args.no_cloud:
        payload["allow_cloud"] = False
    try:
        result = request_once(
            host, port, base, payload, timeout=args.timeout, protocol=args.protocol,
            username=username, password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password"), tls=tls,
        )
    except LinkError as exc:
        print(f"edge send: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER
    if result is None:
        print(f"edge send: no result within {args.timeout:g} s (is the daemon running on {base}?)", file=sys.stderr)
        return EXIT_TIMEOUT
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_ERROR if "error" in result and "intent" not in result else EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from edge import rollout
    from edge.config import ConfigError
    from edge.config_env import read_secret
    from edge.mqtt import LinkError
    from edge.mqtt.fleet import group_members, roll_out
    from edge.mqtt.tools import tls_from_env

    if not math.isfinite(args.timeout) or args.timeout <= 0 or args.canary < 0:
        print("edge deploy: --timeout must be a positive number of seconds and --canary >= 0", file=sys.stderr)
        return EXIT_USAGE
    if args.rollback:
        if args.dir or args.canary or not args.key or (args.device is not None and len(args.device) != 1):
            print("edge deploy: --rollback takes --key FILE and one --device ID or --group NAME (no DIR or --canary)",
                  file=sys.stderr)
            return EXIT_USAGE
        try:
            sk = rollout.signing_key(Path(args.key))  # before anything is sent: a bad key is exit 2
        except rollout.RolloutError as exc:
            print(f"edge deploy: {exc}", file=sys.stderr)
            return EXIT_USAGE
        payload, ident = rollout.rollback_order(sk, args.device[0]) if args.device else (b"", "")
    elif args.dir is None or args.key:
        print("edge deploy: DIR is required (and --key only goes with --rollback)", file=sys.stderr)
        return EXIT_USAGE
    else:
        try:
            payload, ident = rollout.pack(Path(args.dir))
        except rollout.RolloutError as exc:
            print(f"edge deploy: {exc}", file=sys.stderr)
            return EXIT_USAGE
    # the broker's host, port and user exactly as `edge send` takes them (the base topic does not apply)
    broker = argparse.Namespace(host=args.host, port=args.port, username=args.username, base_topic=None, device="-")
    try:
        host, port, _base, username = broker_options(broker)
        tls = tls_from_env(args.ca_file)
    except ConfigError as exc:
        print(f"edge deploy: {exc.errors[0]}", file=sys.stderr)
        return EXIT_USAGE
    password = read_secret("EDGE_MQTT_PASSWORD", "mqtt_password")
    creds = {"username": username, "password": password, "tls": tls}
    try:
        ids = args.device or group_members(host, port, args.group, **creds)
        if not ids:
            print(f"edge deploy: no device reports group {args.group!r} in its health", file=sys.stderr)
            return EXIT_USAGE
        plan = rollout.Plan([rollout.Device(i) for i in dict.fromkeys(ids)], canary=args.canary,
                            package=None if args.rollback else ident)
        if args.rollback and args.group:  # one order that names the group and the members found
            payload, ident = rollout.group_rollback_order(sk, args.group, [d.id for d in plan.devices])
        verb = "sending" if args.rollback else "deploying"
        print(f"{verb} {ident} ({len(payload)} bytes) to {', '.join(d.id for d in plan.devices)}"
              + (f", {len(plan.waves[0])} first" if len(plan.waves) > 1 else ""), flush=True)
        roll_out(host, port, plan, payload, timeout=args.timeout, group=args.group or "",
                 on_update=lambda d: print(f"  {rollout.line(d)}", flush=True), **creds)
    except LinkError as exc:
        print(f"edge deploy: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER
    for line in rollout.report(plan, ident):
        print(line)
    return rollout.rollback_exit_status(plan) if args.rollback else rollout.exit_status(plan)


def cmd_homeassistant(args: argparse.Namespace) -> int:
    from edge import __version__ as version
    from edge.config_env import read_secret
    from edge.integrations import homeassistant
    from edge.mqtt import LinkError, publish_once

    setup_logging("info")
    settings = load_settings(args.config, args.profile, logged=True)
    if settings is None:
        return EXIT_USAGE
    if args.ha_command == "remove":
        msgs = homeassistant.removal_messages(settings)
    else:
        model = load_model(settings.model.path or None)
        if model is None:
            return EXIT_USAGE
        msgs = homeassistant.discovery_messages(settings, model.ident, version)
    try:
        publish_once(settings, msgs, password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password"))
    except LinkError as exc:
        print(f"edge homeassistant: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER
    print(f"{args.ha_command}: {len(msgs)} discovery messages published")
    return EXIT_OK
