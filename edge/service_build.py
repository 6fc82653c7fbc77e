"""Build a daemon's parts: construct every collaborator and wire them; start nothing.

`build(settings, model, environ) -> Parts` opens no socket and starts no thread (the store's
file is the one thing it opens), so a test can build a daemon, replace a part
(tests/faulty.py) and hand it to `edge.service.Service`, which runs it. `swap_model` is
the deployment channel's swap: the model and everything that belongs to it, on built parts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from edge.answers import Answers
from edge.budget import Budget
from edge.channel import Channel
from edge.config import Settings
from edge.config_env import read_secret
from edge.delivery import Delivery, Replay
from edge.daemon_pool import DaemonPool
from edge.escalation import Escalations
from edge.health import Health
from edge.model import Model
from edge.mqtt import Link, Message
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.router import Router
from edge.systemd import Notifier

if TYPE_CHECKING:
    from edge.cloud import CloudClient
    from edge.names_source import NamesSource

log = logging.getLogger("edge.service")


def load_slots(model: Model) -> Any:
    """The slot extractor for this model package. edge.slots is part of the package: failing to import
    it is a broken install and fails the start (raises). A package whose slot files cannot be loaded
    costs only the slots (logged): results then carry `"slots": []`."""
    from edge.slots import SlotExtractor

    try:
        return SlotExtractor.load(model.path, model.manifest)
    except Exception:
        log.exception("slot extractor could not be loaded; results carry no slots")
        return None


@dataclass
class Parts:
    """Everything one daemon is made of, wired, nothing started (`build`)."""

    settings: Settings
    model: Model
    loop: asyncio.AbstractEventLoop
    health: Health
    outbox: Outbox
    notifier: Notifier
    cloud: CloudClient | None
    router: Router
    link: Link
    delivery: Delivery
    replay: Replay
    pool: DaemonPool
    connector: DaemonPool
    answers: Answers
    escalations: Escalations
    pipeline: Pipeline
    request_topics: set[str]
    channels: list[Channel] = field(default_factory=list)
    # Other topics a channel takes from the link (the deployment channel's): topic -> handler, on the loop.
    handlers: dict[str, Callable[[Message], None]] = field(default_factory=dict)
    # The link's callbacks, bound by the service's Intake (build wires the link before it exists).
    hooks: dict[str, Callable[..., None]] = field(default_factory=dict)
    # Where the home's names come from (edge.names_source.NamesSource): the file, Home Assistant; None: no names.
    names: NamesSource | None = None


def _thresholds(settings: Settings, model: Model) -> float:
    """Apply the configured OOS cut to `model` and return the escalation threshold the router, the
    answers and the pipeline use: the configured one, else the model's, never below the OOS cut."""
    if settings.model.oos_threshold >= 0:
        model.oos_threshold = settings.model.oos_threshold  # the model's rule, with the configured cut
    esc = settings.model.escalation_threshold
    return max(esc if esc >= 0 else model.escalation_threshold, model.oos_threshold)


def swap_model(parts: Parts, model: Model) -> Model:
    """Make `model` the one that answers, with everything that belongs to it: its slot extractor, its
    thresholds, its ident in results and health; returns the model it replaced. Called on the loop
    between two batches (the deployment channel), so requests in flight finished on the old model.
    The cloud prompt's labels and the channels (`Channel.swap_model`) follow it too."""
    slots = load_slots(model)  # a package whose slots do not load answers without slots (logged)
    threshold = _thresholds(parts.settings, model)
    old, parts.model = parts.model, model
    pipeline, answers = parts.pipeline, parts.answers
    pipeline.model, pipeline.slots, answers.slots = model, slots, slots
    pipeline.escalation_threshold = answers.escalation_threshold = threshold
    pipeline.languages = frozenset(model.languages)
    pipeline.first_language = model.languages[0]
    parts.router.set_threshold(threshold)
    answers.model_ident = parts.health.model_ident = model.ident
    if parts.cloud is not None:
        parts.cloud.set_labels(model.labels, slots.cloud_prompt() if hasattr(slots, "cloud_prompt") else "")
    for channel in parts.channels:
        channel.swap_model(model, slots)
    log.info("model %s now answers (it replaced %s)", model.ident, old.ident)
    return old


def _subscribe(settings: Settings, link: Link) -> set[str]:
    """What the link subscribes to on each connect; returns the topics whose messages are requests."""
    base = settings.base_topic
    request_topics = {f"{base}/request"}
    link.subscribe_on_connect(f"{base}/request", 1)
    if settings.group:
        topic = f"edge/group/{settings.group}/request"
        request_topics.add(topic)
        link.subscribe_on_connect(f"$share/{settings.group}/{topic}", 1)
    # the integrations' modules only when on (docs/performance.md, "Memory"; tests/test_idle_imports.py)
    if settings.integrations.hermes:
        from edge.integrations import hermes

        link.subscribe_on_connect(hermes.QUERY_TOPIC, 1)
    if settings.integrations.home_assistant:
        from edge.integrations import homeassistant

        link.subscribe_on_connect(homeassistant.birth_topic(settings), 1)
    return request_topics


def build(settings: Settings, model: Model, environ: Mapping[str, str] | None = None) -> Parts:
    """Construct and wire the daemon's parts; starts no thread and opens no socket but the store's file.
    Raises StateError (the state directory), LinkError (the TLS files) or NamesError ([home]: a bad names
    file, or edge.names_source.NamesSourceError: a Home Assistant URL without a token)."""
    environ = os.environ if environ is None else environ
    slots = load_slots(model)  # first: a broken install fails before anything is opened
    base = settings.base_topic
    threshold = _thresholds(settings, model)
    health = Health(model.ident, settings.board.temperature_path)
    outbox = Outbox(  # StateError here: `edge run` exits 2 naming the directory
        settings.state_dir, max_items=settings.state.outbox_max, max_age_s=settings.state.outbox_max_age_s,
        deferred_max=settings.cloud.deferred_max, answered_max=settings.state.answered_max,
    )
    if outbox.recovered_from_corruption:
        health.count("state_recovered")
    cloud_on = bool(settings.cloud.base_url) and settings.cloud.mode != "local_only"
    key = read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", environ)
    slot_prompt = slots.cloud_prompt() if slots is not None and hasattr(slots, "cloud_prompt") else ""
    cloud: CloudClient | None = None
    if cloud_on:  # only then: the client's http.client and email modules cost 3 MB of RSS (measured)
        from edge.cloud import CloudClient

        cloud = CloudClient(settings.cloud, model.labels, key, slot_prompt)
    budget = Budget.from_settings(settings.cloud, ledger=outbox, storage=health.storage)
    budget.restore()  # the windows survive a restart
    router = Router(settings.cloud, threshold, cloud_configured=cloud_on, budget=budget)
    hooks: dict[str, Callable[..., None]] = {}
    loop = asyncio.new_event_loop()

    def hook(name: str) -> Callable[..., None]:
        return lambda *args: hooks[name](*args)

    connector = DaemonPool(1, name="edge-connect")  # a hung connect must not hold the exit either
    link = Link(settings, password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password", environ),
                on_message=hook("message"), on_connect=hook("connect"), on_settled=hook("settled"),
                on_read_done=hook("read_done"), executor=connector)
    request_topics = _subscribe(settings, link)
    replay = Replay(link, outbox, health.storage, call_later=loop.call_later, on_drained=hook("drained"))
    delivery = Delivery(link, outbox, health.storage, on_backlog=replay.kick)
    pool = DaemonPool(settings.cloud.workers)  # daemon threads: a hung call never holds the exit
    answers = Answers(base, model.ident, health, delivery, threshold)
    answers.slots = slots

    def post(fn: Callable[[], None]) -> None:  # a pool thread's outcome, handed to the loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    escalations = Escalations(cloud, router, outbox, health, answers, pool, settings.cloud.timeout_s,
                              settings.cloud.workers, post=post, redact=settings.cloud.redact)
    names_source = None
    if settings.home.names or settings.home.homeassistant_url:  # only then: edge.names*, edge.names_source
        from edge import names_source as names_src

        languages = tuple(model.languages)

        def prepare(names: Any) -> None:  # a big home: the guard's word index off the loop, not in a request
            if names is not None and len(names.entities) > names_src.WARM_ENTITIES:
                from edge import home_guard

                home_guard.warm(names, languages)

        # NamesError (a bad names file) or NamesSourceError (a Home Assistant URL, no token): exit 2
        names_source = names_src.build(settings.home, dict(settings.origins), environ, prepare=prepare)
        file_names = names_source.names  # a big file: prepared on the pool while the daemon starts (a small
        if file_names is not None and len(file_names.entities) > names_src.WARM_ENTITIES:  # one starts no thread)
            pool.submit(prepare, file_names)
    names = names_source.names if names_source is not None else None
    pipeline = Pipeline(
        model=model, router=router, store=outbox, health=health, answers=answers,
        escalations=escalations, slots=slots, max_payload_bytes=settings.mqtt.max_payload_bytes,
        forbidden_reply_prefixes=(base, settings.integrations.discovery_prefix),
        allowed_reply_prefixes=tuple(settings.mqtt.reply_prefixes), languages=model.languages, names=names,
        escalation_threshold=threshold, flush=link.flush,
    )
    escalations.home_prompt = pipeline.home_prompt  # a home model's escalations take the home prompt
    channels: list[Channel] = []
    if settings.wyoming.enabled:  # only then: the wyoming package, the names file, zeroconf
        from edge import wyoming_channel

        wyoming = wyoming_channel.channel(settings, model, slots, names, cloud=(cloud, router, pool, health))
        channels.append(wyoming)
        if names_source is not None:
            names_source.subscribe(wyoming.swap_names)
    if names_source is not None:  # a refresh from Home Assistant: the new Names, whole, for every user
        names_source.subscribe(lambda new: setattr(pipeline, "names", new))
    return Parts(settings=settings, model=model, loop=loop, health=health, outbox=outbox,
                 notifier=Notifier(environ), cloud=cloud, router=router, link=link, delivery=delivery,
                 replay=replay, pool=pool, connector=connector, answers=answers, escalations=escalations,
                 pipeline=pipeline, request_topics=request_topics, hooks=hooks, channels=channels,
                 names=names_source)
