"""The `edge` command: its arguments, and which module runs each subcommand. No logic lives here.

Each command's implementation is imported only when that command runs (`edge run` must not
pay for the others at start-up; systemd waits for READY=1): `edge run` in edge/cli_run.py;
the broker clients (send, deploy, homeassistant) in edge/cli_broker.py; the commands that
need no broker (infer, eval, config, train) in edge/cli_local.py; keygen and sign in
edge/cli_sign.py; install in edge/install.py. What they share (exit codes, logging,
loading settings and a model) is edge/cli_support.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable, Sequence

from edge import __version__
from edge.cli_support import EXIT_OK

if TYPE_CHECKING:
    import argparse

# command -> "module:function", imported when that command runs
COMMANDS = {
    "run": "edge.cli_run:cmd_run",
    "send": "edge.cli_broker:cmd_send",
    "deploy": "edge.cli_broker:cmd_deploy",
    "homeassistant": "edge.cli_broker:cmd_homeassistant",
    "infer": "edge.cli_local:cmd_infer",
    "eval": "edge.cli_local:cmd_eval",
    "config": "edge.cli_local:cmd_config",
    "train": "edge.cli_local:cmd_train",
    "install": "edge.install:run",
    "keygen": "edge.cli_sign:run_keygen",
    "sign": "edge.cli_sign:run_sign",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    # Imported here, not at the top: `edge run` as systemd starts it never needs it (run_args).
    import argparse

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


# `edge run`'s own options, as build_parser declares them: option -> (attribute, environment default)
RUN_OPTIONS = {"--config": ("config", "EDGE_CONFIG"), "--profile": ("profile", "EDGE_PROFILE")}


def run_args(argv: Sequence[str]) -> SimpleNamespace | None:
    """`edge run [--config F] [--profile P]` read without argparse, or None for anything else.

    The daemon keeps every module it imports for its whole life (docs/performance.md, "Memory"):
    argparse with gettext and the parser tree of every command are about 0.3 MB of it, for two
    options. Only the plain spellings are taken here (`--config F`, `--config=F`, each option at most
    once, a value that does not start with '-'); anything else (`--help`, an abbreviation, a typo, a
    missing value) goes to build_parser, so its answers and exit codes stay argparse's own."""
    if not argv or argv[0] != "run":
        return None
    args = {attr: os.environ.get(env) for attr, env in RUN_OPTIONS.values()}
    seen: set[str] = set()
    rest = list(argv[1:])
    while rest:
        option, eq, value = rest.pop(0).partition("=")
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if option not in RUN_OPTIONS or option in seen or value.startswith("-"):
            return None
        seen.add(option)
        args[RUN_OPTIONS[option][0]] = value
    return SimpleNamespace(command="run", **args)


def handler(command: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs `command` (its module imported now)."""
    module, _, name = COMMANDS[command].partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = run_args(argv) or build_parser(command).parse_args(argv)
    run = handler(args.command)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`edge config check x --show | head`): what it read is all it
        # wanted. Point stdout at /dev/null so the interpreter's final flush is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
