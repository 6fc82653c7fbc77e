"""Where the home's names come from, and the one place they change: the names file, Home Assistant, or none.

`build(home, origins, environ)` (edge/service_build.py) makes a NamesSource from `[home]`: the names file
loaded once (`names`), and with `homeassistant_url` the token (EDGE_HOME_HA_TOKEN or the systemd
credential `ha_token`, never the config file). edge/service.py then runs it on the daemon's loop:

- `first()` before anything is served: one fetch, bounded by FETCH_TIMEOUT_S. Home Assistant refusing
  the token is a start-up error (`TokenRefused`, exit 2): waiting would not help. Home Assistant
  unreachable is not (it often boots after the Pi): the file's names, else none (every named command
  is then not-recognized, never a guess), a warning, and `run()` keeps trying with backoff.
- `run()`: a fetch every `refresh_s` (after a failure: RETRY_FIRST_S, doubling, up to `refresh_s`).

Each fetch is blocking (edge/names_ha.py) and runs on a DaemonPool thread of the source's own (a 15 s fetch
must not hold a cloud call's worker); its Names is swapped in whole on the loop, the one owner: every
listener (the MQTT pipeline, the Wyoming channel's recognizer and its cloud prompt) gets the new Names
object, never an edited one, so a request already being answered finishes on the names it started with.
A failed refresh keeps the last good names, and is logged once per streak of failures, not per retry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Callable, Mapping

from edge.daemon_pool import DaemonPool
from edge.names_file import NamesError

log = logging.getLogger("edge.names")

FETCH_TIMEOUT_S = 15.0  # one whole fetch: connect, auth and every command (names_ha's deadline)
RETRY_FIRST_S = 5.0  # after a failed fetch; doubles up to refresh_s
WARM_ENTITIES = 500  # a home this big: its guard word index is built off the loop (edge.home_guard.warm)

Listener = Callable[[Any], None]


class NamesSourceError(NamesError):
    """A start-up error about `[home]`'s Home Assistant source (exit 2, as a bad names file)."""


class NamesSource:
    """The names answering now (`names`), where they came from (`origin`) and the fetches behind them."""

    def __init__(self, file_names: Any = None, url: str = "", token: str = "", refresh_s: float = 300.0,
                 fetch: Callable[[str, str, float], Any] | None = None,  # edge.names_ha.fetch_data
                 prepare: Callable[[Any], None] | None = None) -> None:
        """`prepare(names)` runs on the fetch's thread before a swap (a big home's indexes, off the loop)."""
        self.names = file_names
        self.origin = "file" if file_names is not None else "none"
        self.url = url
        self.refresh_s = refresh_s
        self._token = token
        self._fetch_fn = fetch
        self._prepare = prepare
        self._fetched: tuple[Any, Any] | None = None  # (what Home Assistant said, its Names) of the last fetch
        # Its own pool of one thread (started at the first fetch): a fetch that takes its whole 15 s
        # must not hold one of the cloud's workers, and two fetches never overlap.
        self.pool = DaemonPool(1, name="edge-names")
        self._listeners: list[Listener] = []
        self.fetched_at: float | None = None  # wall clock of the last good fetch from Home Assistant
        self.fetches = 0  # good fetches
        self.failures = 0  # failed fetches in a row (0: the last one worked)
        self.failed_total = 0
        self.last_error: str | None = None

    @property
    def fetching(self) -> bool:
        return bool(self.url)

    def subscribe(self, listener: Listener) -> None:
        """`listener(names)` is called on the loop with each Names swapped in (never for the first ones)."""
        self._listeners.append(listener)

    # -- one fetch ---------------------------------------------------------------------

    def _fetch(self) -> Any:
        """Pool thread: one blocking fetch (edge.names_ha, imported only when fetching is on), indexed
        here, off the loop. A home that did not change (states aside: nothing resolves on them) gives
        back the Names answering now, so a refresh of a big home does not rebuild its indexes (0.4 s
        of CPU for 2,000 things on the 2-core VM) every refresh_s for nothing."""
        if self._fetch_fn is None:
            from edge.names_ha import fetch_data

            self._fetch_fn = fetch_data
        data = self._fetch_fn(self.url, self._token, FETCH_TIMEOUT_S)
        content = (data.floors, data.areas, tuple(dataclasses.replace(e, state=None) for e in data.entities))
        if self._fetched is not None and content == self._fetched[0]:
            return self._fetched[1]
        from edge.names import Names

        names = Names.from_data(data)
        if self._prepare is not None:
            self._prepare(names)
        self._fetched = (content, names)  # only this thread reads or writes it (one fetch at a time)
        return names

    async def _fetch_once(self) -> bool:
        """One fetch on `pool`, the result swapped in on the loop; False on a failure (logged once a
        streak, the last names kept). A refused token is re-raised as well (`first` fails the start)."""
        from edge.names_ha import HomeAssistantError, TokenRefused

        try:
            # names_ha's own deadline bounds the fetch; this one also bounds a pool that is stuck
            names = await asyncio.wait_for(asyncio.wrap_future(self.pool.submit(self._fetch)), FETCH_TIMEOUT_S + 5)
        except (HomeAssistantError, asyncio.TimeoutError, OSError, ValueError, MemoryError, RecursionError) as exc:
            # ValueError covers a names error (NamesError) and JSON nested too deep; MemoryError a reply
            # bigger than the Pi can hold: in every case the last good names stay
            self._failed(exc)
            if isinstance(exc, TokenRefused):
                raise
            return False
        self._swap(names)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.failed_total += 1
        self.last_error = str(exc)[:200] or type(exc).__name__
        if self.failures == 1:  # once per streak: a Home Assistant down for an hour is one line, not 700
            kept = f"keeping the {self.origin} names ({self._count()} things)" if self.names is not None \
                else "no names until it answers: named commands are not recognized"
            log.warning("names from Home Assistant %s: fetch failed (%s); %s; retrying", self.url,
                        self.last_error, kept)

    def _swap(self, names: Any) -> None:
        """On the loop: the new Names for every user, in one step (the same Names: only the counters)."""
        if self.failures:
            log.info("names from Home Assistant %s: fetched again after %d failed tries", self.url, self.failures)
        self.fetched_at = time.time()
        self.fetches += 1
        self.failures = 0
        self.last_error = None
        if names is self.names:
            return  # the home did not change
        self.names, self.origin = names, "homeassistant"
        for warning in getattr(names, "warnings", ())[:20]:
            log.debug("names: %s", warning)
        log.info("names from Home Assistant: %d things, %d areas, %d floors", self._count(),
                 len(getattr(names, "areas", ())), len(getattr(names, "floors", ())))
        for listener in self._listeners:
            listener(names)

    def _count(self) -> int:
        return len(getattr(self.names, "entities", ()))

    # -- on the loop -------------------------------------------------------------------

    async def first(self) -> None:
        """The start-up fetch. Raises edge.names_ha.TokenRefused (a start-up error); anything else
        (unreachable, a timeout, a reply that does not validate) is logged and left to `run`."""
        if not self.fetching:
            return
        await self._fetch_once()  # TokenRefused propagates; any other failure is left to `run`

    def next_delay(self) -> float:
        """Seconds to the next fetch: refresh_s, or the backoff after `failures` failed tries."""
        if not self.failures:
            return self.refresh_s
        return min(self.refresh_s, RETRY_FIRST_S * 2 ** min(self.failures - 1, 16))

    async def run(self) -> None:
        """Refresh forever (a supervised task: it ends only with the stop). A refused token while
        running (revoked) is a failure like any other: the last names stay, and it is logged."""
        from edge.names_ha import TokenRefused

        if not self.fetching:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(self.next_delay())
            try:
                await self._fetch_once()
            except TokenRefused:
                pass  # counted and logged by _failed: the last names stay
            except Exception:  # noqa: BLE001 - a bug, not Home Assistant: said in full, and the daemon goes on
                log.exception("names refresh failed")

    def close(self) -> None:
        """At the stop: a fetch under way is left to its daemon thread; it swaps nothing in after this."""
        self._listeners.clear()
        self.pool.shutdown(wait=False)

    def health(self) -> dict[str, Any]:
        """Health's `names`: where the names came from and when they were last fetched."""
        return {"source": self.origin, "entities": self._count(),
                "homeassistant": bool(self.url),
                "fetched_at": round(self.fetched_at, 3) if self.fetched_at is not None else None,
                "fetches": self.fetches, "failures": self.failures, "failed_total": self.failed_total,
                "error": self.last_error}


def build(home: Any, origins: Mapping[str, str], environ: Mapping[str, str] | None = None,
          prepare: Callable[[Any], None] | None = None) -> NamesSource | None:
    """The NamesSource of `[home]` (`home`: HomeSettings; `origins`: key -> the file or variable that set it),
    or None when neither a names file nor Home Assistant is configured. Raises NamesError (a bad names
    file) or NamesSourceError (a Home Assistant URL without a token): start-up errors, exit 2."""
    if not home.names and not home.homeassistant_url:
        return None
    file_names = None
    if home.names:
        from edge import names as names_mod

        file_names = names_mod.load(home.names)
    if not home.homeassistant_url:
        return NamesSource(file_names, prepare=prepare)
    from edge.names_ha import read_token

    token = read_token(environ)
    if not token:
        where = origins.get("home.homeassistant_url", "the configuration")
        raise NamesSourceError([f"{where}: home.homeassistant_url: set, but there is no token (EDGE_HOME_HA_TOKEN, "
                                "or the systemd credential ha_token: /etc/edge/credentials/ha_token)"])
    return NamesSource(file_names, home.homeassistant_url, token, home.refresh_s, prepare=prepare)
