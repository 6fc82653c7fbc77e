"""The link's callbacks: what the broker delivers, taken on the loop and handed to the pipeline.

A request, socket to ack (all on the loop):
1. paho's socket is readable: `Connection._readable` (mqtt/connection.py) reads once (at most 64 KiB);
   paho parses the packets and calls `Intake.on_message` for each, which keeps each request
   in `inbox` as a `Work` with the link's ack bound to it;
2. the read done, the link calls `Intake.answer_batch`, which hands the batch to
   `Pipeline.handle` (edge/pipeline.py: parse, cache, classify, slots, decide, publish);
3. `Delivery` hands the results to `Link.publish`, or keeps them in the outbox, and the link
   writes them at once; each PUBACK, read on a later turn, completes its publication and the
   last one of a request runs `Work.acknowledge` (the PUBACK of the request to the broker).

Other deliveries: Home Assistant's birth message (discovery sent again), a channel's topics
(`Parts.handlers`: the deployment channel's, which acknowledges them itself); anything else is
acknowledged and dropped.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from edge.mqtt import Message
from edge.work import Work

if TYPE_CHECKING:
    from edge.service_build import Parts


class Intake:
    """The requests of one daemon, from the link to the pipeline; everything runs on the loop."""

    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self.s = parts.settings
        self.link = parts.link
        self.inbox: list[Work] = []  # this read's requests (answered once the read is done)
        self.accepting = True  # False while draining: what arrives stays unacked, redelivered next session
        self.trim_due = False  # a backlog drained: give its memory back to the OS (the health tick)
        # The integrations' topics (None while off, which no message's topic equals): their modules
        # are imported only when on (docs/performance.md, "Memory"; tests/test_idle_imports.py).
        self.hermes_topic: str | None = None
        self.birth_topic: str | None = None
        if self.s.integrations.hermes:
            from edge.integrations import hermes

            self.hermes_topic = hermes.QUERY_TOPIC
        if self.s.integrations.home_assistant:
            from edge.integrations import homeassistant

            self.birth_topic = homeassistant.birth_topic(self.s)
        parts.hooks.update(message=self.on_message, connect=self.on_connect, settled=self.record_subscriptions,
                           read_done=self.answer_batch, drained=self.drained)
        self.forget_old_subscriptions()

    def on_message(self, msg: Message) -> None:
        if not self.accepting:
            return
        if msg.topic in self.p.request_topics:
            self.inbox.append(Work("request", msg, time.perf_counter(), self.link.ack))  # answered once this read is done
        elif msg.topic == self.hermes_topic:
            self.inbox.append(Work("hermes", msg, time.perf_counter(), self.link.ack))
        elif msg.topic in self.p.handlers:
            self.p.handlers[msg.topic](msg)  # the handler acknowledges it (once its outcome is published)
        elif msg.topic == self.birth_topic:
            if msg.payload.strip() == b"online" and not msg.retain:
                self.send_discovery()
            self.link.ack(msg.mid, msg.qos)
        else:
            self.link.ack(msg.mid, msg.qos)

    def answer_batch(self) -> None:
        """After each read: answer what it brought, as one micro-batch (the pipeline's guard keeps
        anything from raising out of it). Order holds: while stored results wait for replay,
        delivery queues new ones behind them on disk."""
        batch = self.inbox
        if not batch:
            return
        self.inbox = []
        if not self.accepting:
            return  # draining: unacked, so the broker redelivers them to the next session
        limit = self.s.model.batch_size
        for i in range(0, len(batch), limit):
            self.p.pipeline.handle(batch[i:i + limit])

    def on_connect(self, session_present: bool) -> None:
        self.p.replay.kick()  # what was stored meanwhile goes first; new results queue behind it
        if self.s.integrations.home_assistant:
            self.send_discovery()

    def send_discovery(self) -> None:
        from edge import __version__
        from edge.integrations import homeassistant  # on (the callers check): imported by __init__ already

        for topic, payload, retain in homeassistant.discovery_messages(self.s, self.p.model.ident, __version__):
            self.link.publish(topic, payload, qos=1, retain=retain)

    def drained(self) -> None:
        self.trim_due = True

    def forget_old_subscriptions(self) -> None:
        """A kept session remembers subscriptions across restarts; drop the ones this config
        no longer has (a group the device left), or their messages would arrive unwanted.
        The record is rewritten only once the broker has confirmed (`record_subscriptions`)."""
        try:
            previous = json.loads((self.s.state_dir / "subscriptions.json").read_text())
        except (OSError, ValueError):
            previous = []
        if isinstance(previous, list):
            self.link.unsubscribe_on_connect([t for t in previous if isinstance(t, str)])

    def record_subscriptions(self) -> None:
        """Once the broker holds exactly our subscriptions; best-effort."""
        record = self.s.state_dir / "subscriptions.json"
        tmp = record.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.link.subscriptions))
            os.replace(tmp, record)
        except OSError as exc:
            self.p.health.storage.failed("subscriptions record", exc)
