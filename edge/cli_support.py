"""What the `edge` commands share: exit codes, logging set-up, loading settings and a model.

Standard library only at import: a command imports its own heavy parts (the config
schema, the model runtime) when it runs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

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


def load_settings(config: str | None, profile: str | None, logged: bool = False):  # -> Settings | None
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


def load_model(path: str | None, threads: int = 1):  # -> Model | None
    from edge.model import Model, ModelError

    try:
        return Model.load(Path(path) if path else None, threads=threads)
    except ModelError as exc:
        print(f"edge: model error: {exc}", file=sys.stderr)
        return None
