"""`edge run`: the daemon in the foreground (what systemd runs): settings, model, deployment
recovery, then `Service(build(...)).run()` until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from edge import __version__
from edge.cli_support import EXIT_USAGE, load_model, load_settings, log, setup_logging

if TYPE_CHECKING:
    import argparse


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging("info")  # EDGE_LOGGING_LEVEL is a setting: checked by load(), applied just below
    settings = load_settings(args.config, args.profile, logged=True)
    if settings is None:
        return EXIT_USAGE
    setup_logging(settings.logging.level)
    deployer = recovered = None
    if settings.deploy.keys:  # deployment on: recover() first, then the last package that became active
        from edge import deploy_channel

        try:
            deployer = deploy_channel.deployer(settings)  # looked up here: tests pass a faulty one in
            model, recovered = deploy_channel.start_model(
                deployer, lambda: load_model(settings.model.path or None, settings.model.threads))
        except deploy_channel.DeployConfigError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
        except OSError as exc:
            log.error("state directory unusable for deployments: %s", exc)
            return EXIT_USAGE
    else:
        model = load_model(settings.model.path or None, settings.model.threads)
    if model is None:
        return EXIT_USAGE
    from edge.mqtt import LinkError
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
    except Exception as exc:
        # A bad [home] names file (edge.names_file.NamesError). That module is imported only where a
        # names file is read, so a daemon without one does not keep it: if it raised, it is loaded.
        names_file = sys.modules.get("edge.names_file")
        if names_file is None or not isinstance(exc, names_file.NamesError):
            raise
        log.error("%s", exc)
        return EXIT_USAGE
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    log.info("edge %s starting: device %s, model %s, config %s", __version__, settings.device_id, model.ident,
             ", ".join(settings.sources) or "defaults")
    return service.run()
