"""The state store's jobs as typed views: what each consumer may do with edge.db.

One SQLite file (edge/outbox.py's `Outbox`) serves four jobs; each consumer names the views it
uses (`PipelineStore`, `EscalationStore`, `BudgetLedger`), not the whole store, so a fake
(tests/fakes.FakeStore) needs only those methods. The outbox's own view is `delivery.StoreLike`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True, slots=True)
class Pending:
    """A publication waiting for the broker."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    correlation: bytes | None
    created: float


@dataclass(frozen=True, slots=True)
class Deferred:
    """A request that should have gone to the cloud while it was down."""

    seq: int
    request_id: str
    text: str
    local_result: bytes
    created: float


class AnsweredIds(Protocol):
    """The answered-id cache: a redelivered request is answered again, not recomputed (best-effort)."""

    def answered(self, request_id: str) -> bytes | None: ...
    def remember(self, entries: Sequence[tuple[str, bytes]]) -> None: ...


class DeferredQueue(Protocol):
    """Escalations wanted while the cloud was down, for its second opinion later."""

    def defer(self, request_id: str, text: str, local_result: bytes) -> None: ...
    def deferred(self, limit: int = 20) -> list[Deferred]: ...
    def remove_deferred(self, seq: int) -> None: ...
    def deferred_count(self) -> int: ...


class BudgetLedger(Protocol):
    """The cloud calls made, so that the daily budget survives a restart."""

    def record_cloud_call(self, wall_ts: float) -> None: ...
    def cloud_calls_since(self, wall_ts: float) -> list[float]: ...


class PipelineStore(AnsweredIds, DeferredQueue, Protocol):
    """The store as the pipeline sees it (`Outbox`, or `tests/fakes.FakeStore`)."""


class EscalationStore(AnsweredIds, DeferredQueue, Protocol):
    """The store as the escalations see it: the cache and the deferred queue (the ledger is the
    budget's: `edge.budget.Budget.spend`)."""


class StateError(Exception):
    """The state store is unusable (permissions, disk, locked by another process).

    At start-up the daemon exits 2 on it. At run time a write that raises it did not
    happen (its transaction was rolled back), so the caller must not acknowledge."""
