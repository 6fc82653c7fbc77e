"""The commands that need no broker: `edge infer`, `edge eval`, `edge config`, `edge train`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.cli_support import EXIT_OK, EXIT_USAGE, load_model, load_settings, setup_logging


def cmd_infer(args: argparse.Namespace) -> int:
    model = load_model(args.model)
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

    model = load_model(args.model)
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
        from edge.slot_scores import format_per_slot

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
    # A path (a separator or a .toml name) is a file even when it is missing, so the error says "file not
    # found" rather than "no such profile '/etc/edge/edge.toml'"; a bare word is a profile's name.
    is_file = Path(target).is_file() or "/" in target or target.endswith(".toml")
    settings = load_settings(target if is_file else None, None if is_file else target)
    if settings is None:
        return EXIT_USAGE
    if not _names_file_valid(settings):
        return EXIT_USAGE
    if args.json:
        print(json.dumps(cfg.as_dict(settings), indent=2))
    elif args.show:
        print(config_doc.settings_toml(settings), end="")
    else:
        print(f"{target!a}: valid" if not target.isprintable() else f"{target}: valid")
    return EXIT_OK


def _names_file_valid(settings) -> bool:  # settings: edge.config.Settings
    """`[home] names`, read as `edge run` reads it: a config whose names file the daemon would refuse at
    start (exit 2) is not valid either. Each error line names the config key, the names file and its key."""
    if not settings.home.names:
        return True
    from edge import names_file

    try:
        names_file.read_file(settings.home.names)
    except names_file.NamesError as exc:
        where = next((s for s in settings.sources if s.endswith(".toml")), "config")
        for line in exc.errors:
            print(f"edge: config error: {where}: home.names: {line}", file=sys.stderr)
        return False
    return True


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging("info")
    from edge.train.cli import run

    return run(args)
