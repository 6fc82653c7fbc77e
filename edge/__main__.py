"""The `edge` command: argparse subcommands, logging set-up, exit codes. No logic lives here."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from edge import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
EXIT_NO_BROKER = 4  # edge send: no broker connection (unreachable, TLS, refused); 1 stays the daemon's own error
log = logging.getLogger("edge")


class _JournalFormatter(logging.Formatter):
    """Under systemd, prefix `<N>` syslog priorities so journald keeps levels (and adds its own time)."""

    _PRIO = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self._PRIO.get(record.levelno, 6)}>{super().format(record)}"


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("edge.mqtt.paho").setLevel(max(root.level, logging.WARNING))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    # argparse exits 2 on bad arguments: the spec's usage status.
    p = argparse.ArgumentParser(prog="edge", description="On-device intent runtime: int8 TFLite model, MQTT in/out, cloud fallback.")
    p.add_argument("--version", action="version", version=f"edge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daemon, in the foreground (systemd runs this)")
    run.add_argument("--config", default=os.environ.get("EDGE_CONFIG"), help="TOML file (env EDGE_CONFIG)")
    run.add_argument("--profile", default=os.environ.get("EDGE_PROFILE"), help="device profile name or file (env EDGE_PROFILE)")

    send = sub.add_parser("send", help="publish one request, wait for its result, print it as JSON")
    send.add_argument("text")
    # No default here reads the environment: a bad EDGE_* value must be an error of
    # `edge send` alone (exit 2, named), not a crash of every subcommand while parsing.
    from edge.config import default  # the schema: the one place defaults are written

    send.add_argument("--host", help=f"broker (env EDGE_MQTT_HOST, default {default('mqtt.host')})")
    send.add_argument("--port", type=int, help=f"broker port (env EDGE_MQTT_PORT, default {default('mqtt.port')})")
    send.add_argument("--device", help="device id (env EDGE_DEVICE_ID, default: this host's name)")
    send.add_argument("--base-topic", help="base topic, when the daemon sets mqtt.base_topic (env EDGE_MQTT_BASE_TOPIC)")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    send.add_argument("--no-cloud", action="store_true", help='send "allow_cloud": false')
    send.add_argument("--id", help="request id (default: generated)")
    send.add_argument("--protocol", type=int, choices=(4, 5), default=5)
    send.add_argument("--username", help="broker user name (env EDGE_MQTT_USERNAME)")
    send.add_argument("--ca-file", default="", help="CA certificate for a TLS broker (turns TLS on; the rest as the "
                      "daemon's: env EDGE_MQTT_TLS, _CA_FILE, _CERT_FILE, _KEY_FILE, _TLS_INSECURE)")

    infer = sub.add_parser("infer", help="run the local model only, no MQTT")
    infer.add_argument("text", nargs="+")
    infer.add_argument("--model", help="model package directory (default: the shipped model)")
    infer.add_argument("--json", action="store_true", help="one JSON object per line")

    ev = sub.add_parser("eval", help="accuracy, OOS recall, escalation and latency on a labelled file")
    ev.add_argument("--data", required=True,
                    help="labelled file in any format edge train reads: intents text (## intent "
                         "headers, ## oos), intents JSON, or a JSON of [text, label] lists (CLINC150)")
    ev.add_argument("--split", help="use only this split (e.g. val: the 'val' and 'oos_val' lists)")
    ev.add_argument("--model", help="model package directory (default: the shipped model)")
    ev.add_argument("--escalation-threshold", type=float, help="override the model's escalation threshold")
    ev.add_argument("--per-slot", action="store_true",
                    help="with slots marked in the data: precision, recall and F1 of each slot too")
    ev.add_argument("--json", action="store_true")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = cfg_sub.add_parser("check", help="validate a config file or a device profile")
    check.add_argument("target", metavar="FILE_OR_PROFILE")
    check.add_argument("--show", action="store_true",
                       help="print the resolved settings as annotated TOML (each key's description and source)")
    check.add_argument("--json", action="store_true", help="print the resolved settings as JSON (implies --show)")
    schema = cfg_sub.add_parser("schema", help="every key with its default and description (the README's block)")
    schema.add_argument("--json", action="store_true", help="as JSON: key, type, default, description, env, limits")

    train = sub.add_parser("train", help="train, quantize and package a model (needs the train extra)")
    inst = sub.add_parser("install", help="lay out a device's files under a root file system, for flashing")
    # Their options come from their own modules, imported only when asked for: `edge run`
    # must not pay for them at start-up (systemd waits for READY=1).
    if command == "train":
        from edge.train.cli import add_arguments as train_args

        train_args(train)
    elif command == "install":
        from edge.install import add_arguments as install_args

        install_args(inst)

    kg = sub.add_parser("keygen", help="make an Ed25519 key pair for signing model packages (minisign's format)")
    kg.add_argument("--out", default="edge-signing", metavar="PREFIX",
                    help="writes PREFIX.pub and PREFIX.key (mode 0600); default: edge-signing")
    kg.add_argument("--comment", help="untrusted comment for the public key file (e.g. who owns it)")
    kg.add_argument("--force", action="store_true", help="replace existing key files")
    kg.add_argument("--encrypt", action="store_true",
                    help="encrypt the secret key with a password (env EDGE_KEY_PASSWORD, else asked); "
                         "default: unencrypted, as minisign -W")
    sg = sub.add_parser("sign", help="sign a model package's manifest (writes DIR/manifest.json.minisig)")
    sg.add_argument("dir", metavar="DIR", help="the model package directory")
    sg.add_argument("--key", required=True, metavar="FILE",
                    help="secret key (edge keygen's or minisign's; an encrypted one reads EDGE_KEY_PASSWORD)")
    sg.add_argument("--trusted-comment", help="signed comment (default: timestamp, file and model name@version)")

    dp = sub.add_parser("deploy", help="send a signed model package to devices over MQTT and report each outcome")
    dp.add_argument("dir", metavar="DIR", nargs="?",
                    help="the signed model package directory (edge sign DIR --key ...); not with --rollback")
    dp.add_argument("--rollback", action="store_true",
                    help="send one device (--device ID) or a group's members (--group NAME) a signed order "
                         "to go back to their previous package")
    dp.add_argument("--key", metavar="FILE", help="with --rollback: the secret key that signs the order "
                    "(one of the device's [deploy] keys; an encrypted one reads EDGE_KEY_PASSWORD)")
    who = dp.add_mutually_exclusive_group(required=True)
    who.add_argument("--device", action="append", metavar="ID", help="a device id (repeat for several)")
    who.add_argument("--group", metavar="NAME", help="every device whose config says group = NAME")
    dp.add_argument("--canary", type=int, default=0, metavar="N",
                    help="send to N devices first; to the rest only once those are active")
    dp.add_argument("--timeout", type=float, default=120.0, metavar="S",
                    help="seconds each wave may take to reach an outcome (default 120)")
    dp.add_argument("--host", help=f"broker host (env EDGE_MQTT_HOST, default {default('mqtt.host')})")
    dp.add_argument("--port", type=int, help=f"broker port (env EDGE_MQTT_PORT, default {default('mqtt.port')})")
    dp.add_argument("--username", help="broker user name (env EDGE_MQTT_USERNAME)")
    dp.add_argument("--ca-file", default="", help="CA certificate for a TLS broker (as for edge send)")

    ha = sub.add_parser("homeassistant", help="Home Assistant discovery tools")
    ha_sub = ha.add_subparsers(dest="ha_command", required=True, metavar="ACTION")
    for name, text in (("publish", "publish discovery now"), ("remove", "remove this device from Home Assistant")):
        a = ha_sub.add_parser(name, help=text)
        a.add_argument("--config", default=os.environ.get("EDGE_CONFIG"))
        a.add_argument("--profile", default=os.environ.get("EDGE_PROFILE"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    handler = {
        "run": cmd_run,
        "send": cmd_send,
        "infer": cmd_infer,
        "eval": cmd_eval,
        "config": cmd_config,
        "train": cmd_train,
        "install": cmd_install,
        "keygen": cmd_keygen,
        "deploy": cmd_deploy,
        "sign": cmd_sign,
        "homeassistant": cmd_homeassistant,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`edge config check x --show | head`): what it read is all it
        # wanted. Point stdout at /dev/null so the interpreter's final flush is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _load_settings(config: str | None, profile: str | None, logged: bool = False):  # -> Settings | None
    """Settings, or None after printing each error line. `logged`: warnings go to the log
    (the daemon's, with its level under systemd) rather than bare to stderr."""
    from edge import config as cfg

    try:
        settings = cfg.load(config, profile)
    except cfg.ConfigError as exc:
        for line in exc.errors:
            print(f"edge: config error: {line}", file=sys.stderr)
        return None
    for line in settings.warnings:
        if logged:
            log.warning("config: %s", line)
        else:
            print(f"edge: config warning: {line}", file=sys.stderr)
    return settings


def _load_model(path: str | None, threads: int = 1):  # -> Model | None
    from edge.model import Model, ModelError

    try:
        return Model.load(Path(path) if path else None, threads=threads)
    except ModelError as exc:
        print(f"edge: model error: {exc}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging("info")  # EDGE_LOGGING_LEVEL is a setting: checked by load(), applied just below
    settings = _load_settings(args.config, args.profile, logged=True)
    if settings is None:
        return EXIT_USAGE
    setup_logging(settings.logging.level)
    deployer = recovered = None
    if settings.deploy.keys:  # deployment on: recover() first, then the last package that became active
        from edge import deploy_channel

        try:
            deployer = deploy_channel.deployer(settings)  # looked up here: tests pass a faulty one in
            model, recovered = deploy_channel.start_model(
                deployer, lambda: _load_model(settings.model.path or None, settings.model.threads))
        except deploy_channel.DeployConfigError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
        except OSError as exc:
            log.error("state directory unusable for deployments: %s", exc)
            return EXIT_USAGE
    else:
        model = _load_model(settings.model.path or None, settings.model.threads)
    if model is None:
        return EXIT_USAGE
    from edge.mqtt import LinkError
    from edge.names_file import NamesError
    from edge.outbox import StateError
    from edge.service import Service, build

    try:
        parts = build(settings, model)
        if deployer is not None:
            parts.channels.append(deploy_channel.channel(parts, deployer, recovered))
        service = Service(parts)
    except StateError as exc:
        log.error("state directory unusable: %s", exc)
        return EXIT_USAGE
    except LinkError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except NamesError as exc:  # [home] names
        log.error("%s", exc)
        return EXIT_USAGE
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    log.info("edge %s starting: device %s, model %s, config %s", __version__, settings.device_id, model.ident,
             ", ".join(settings.sources) or "defaults")
    return service.run()


def _send_options(args: argparse.Namespace) -> tuple[str, int, str, str]:
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
    from edge.config import ConfigError, read_secret
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
        host, port, base, username = _send_options(args)
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


def cmd_infer(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    if model is None:
        return EXIT_USAGE
    preds = model.classify(args.text)
    slots = None
    if args.json:  # the same slots a result carries (edge.slots); none when the package has no slots
        from edge.service import load_slots

        slots = load_slots(model)
    for text, pred in zip(args.text, preds):
        if args.json:
            found = slots.extract(text, pred.intent) if slots is not None and pred.intent != "oos" else []
            print(json.dumps({"text": text, "intent": pred.intent, "confidence": round(pred.confidence, 4),
                              "top_intent": pred.top_intent, "slots": found, "model": model.ident},
                             ensure_ascii=False))
        else:
            print(f"{pred.intent:<28} {pred.confidence:6.3f}  {text}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from edge import evaluate

    model = _load_model(args.model)
    if model is None:
        return EXIT_USAGE
    try:
        pairs = evaluate.load_pairs(args.data, args.split)
    except (OSError, ValueError) as exc:
        print(f"edge eval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    metrics = evaluate.evaluate(model, pairs, escalation_threshold=args.escalation_threshold)
    slots = metrics.get("slots")
    if isinstance(slots, dict) and not args.per_slot:
        slots.pop("per_slot", None)  # overall slot scores only, unless --per-slot
    print(json.dumps(metrics) if args.json else evaluate.format_table(metrics))
    if args.per_slot and not args.json and isinstance(slots, dict):
        from edge.slots import format_per_slot

        print()
        print(format_per_slot(slots))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from edge import config as cfg
    from edge import config_doc

    if args.config_command == "schema":
        print(json.dumps(config_doc.schema_json(), indent=2) + "\n" if args.json else config_doc.schema_toml(), end="")
        return EXIT_OK
    target = args.target
    is_file = Path(target).is_file()
    settings = _load_settings(target if is_file else None, None if is_file else target)
    if settings is None:
        return EXIT_USAGE
    if args.json:
        print(json.dumps(cfg.as_dict(settings), indent=2))
    elif args.show:
        print(config_doc.settings_toml(settings), end="")
    else:
        print(f"{target!a}: valid" if not target.isprintable() else f"{target}: valid")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging("info")
    from edge.train.cli import run

    return run(args)


def cmd_install(args: argparse.Namespace) -> int:
    from edge.install import run

    return run(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from edge import rollout
    from edge.config import ConfigError, read_secret
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
        host, port, _base, username = _send_options(broker)
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


def cmd_keygen(args: argparse.Namespace) -> int:
    from edge.cli_sign import run_keygen

    return run_keygen(args)


def cmd_sign(args: argparse.Namespace) -> int:
    from edge.cli_sign import run_sign

    return run_sign(args)


def cmd_homeassistant(args: argparse.Namespace) -> int:
    from edge import __version__ as version
    from edge.config import read_secret
    from edge.integrations import homeassistant
    from edge.mqtt import LinkError, publish_once

    setup_logging("info")
    settings = _load_settings(args.config, args.profile, logged=True)
    if settings is None:
        return EXIT_USAGE
    if args.ha_command == "remove":
        msgs = homeassistant.removal_messages(settings)
    else:
        model = _load_model(settings.model.path or None)
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


if __name__ == "__main__":
    sys.exit(main())
