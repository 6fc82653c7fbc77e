"""The home model's part of the request path (models/home: Home Assistant's intents).

A home model's MQTT and Hermes results take the decision Wyoming takes (edge.home.decide: the
same safety rules and names); another model's name/area/floor slots are resolved against the
names file when there is one. edge.home and the home cloud prompt are imported only for a home
model. The pipeline (edge/pipeline.py) calls these with what answers now (model, slots, names:
a deployment swaps them).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping

from edge import contract
from edge.model import Prediction
from edge.work import Routed

log = logging.getLogger("edge.pipeline")  # the request path's one logger name

NAMED = ("name", "area", "floor")  # slots whose values are the home's names


def is_home_model(pred: Prediction) -> bool:
    """A Home Assistant intent model (models/home): its labels are HA's intents (HassTurnOn, ...), so
    its results take edge.home's decision, the one Wyoming takes. Another model never imports it."""
    return isinstance(pred.top_intent, str) and pred.top_intent.startswith("Hass")


def decide(r: Routed, found: list[dict[str, Any]], *, model: Any, names: Any, first_language: str,
           languages: frozenset[str], threshold: float) -> list[dict[str, Any]]:
    """The home model's result decided as Wyoming decides it (edge.home.decide: the same safety rules
    and names): recognized, its slots are the resolved entities on the words they came from; refused,
    `r.not_recognized` says why and the slots stay as the tagger found them (words as said; numbers read).
    Sets `r.home_language`, the served language its escalation asks in."""
    from edge import home  # only for a home model

    assert r.pred is not None
    served = (first_language, *sorted(languages - {first_language}))
    language = r.request.language
    r.home_language = served[0] if language is None else home.base_language(language, served)
    try:
        d = home.decide(r.request.text, r.request.language, r.pred, found, names, served=served,
                        threshold=max(threshold, home.MIN_CONFIDENCE),
                        schema=(getattr(model, "manifest", None) or {}).get("home_schema"))
    except Exception:  # a names file that trips the resolver: refused, as Wyoming refuses it
        log.exception("the home decision failed for %s; not standing behind it", r.request.id)
        d = home.NotUnderstood("error", "the home decision failed")
    if isinstance(d, home.Recognized):
        if d.decided:  # the model unsure, HA's template of its top intent sure: that intent, as over Wyoming
            r.decided, r.pred = d.decided, dataclasses.replace(r.pred, intent=d.name)
        return [dict(s) for s in d.slots]
    r.not_recognized = {"reason": d.reason, "detail": d.detail}
    return numbers_read(found, r.home_language)


def numbers_read(found: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """A refused result's slots as the tagger found them, but a number slot's `value` a number where its words
    read as one ("40", "vingt-deux"), as the contract says of every result's slots; words that do not read stay
    as said. Nothing is resolved against the names: the daemon stands behind none of it."""
    from edge import home, home_values  # only for a home model

    out = []
    for s in found:
        if s.get("name") in home.NUMBER_RANGES and not isinstance(s.get("value"), (int, float)):
            v = home_values.number_value(s, "", lang)
            if v is not None:
                s = {**s, "value": v}
        out.append(s)
    return out


def resolve_names(found: list[dict[str, Any]], language: str | None, names: Any, first_language: str) -> None:
    """Name, area and floor slots resolved together against the names file; when they resolve, each
    one's `value` is the exact name (the canonical form of a user-defined value, as the contract
    says). Ambiguous or unknown: the values stay as said, so nothing names the wrong thing."""
    spans = {s["name"]: s.get("raw") for s in found if s.get("name") in NAMED}
    if not spans or len(spans) != sum(1 for s in found if s.get("name") in NAMED):
        return  # nothing to resolve, or a slot twice: which one is meant?
    lang = contract.primary_language(language) if language else first_language
    try:
        res = names.resolve(spans, lang)
    except Exception:
        log.exception("name resolution failed; slots keep the words as said")
        return
    resolved = getattr(res, "slots", None)
    if getattr(res, "reason", None) is not None or not isinstance(resolved, Mapping):
        return
    for s in found:
        if s.get("name") in NAMED and s["name"] in resolved:
            s["value"] = resolved[s["name"]]


class HomePrompts:
    """The home cloud prompt (edge.home_cloud_prompt.HomePrompt: the served Hass* intents with their
    slots, the names) of the model, slot extractor and names answering now, made once for each."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[Any, ...], Any] | None = None  # (model, slots, names), its HomePrompt

    def of(self, model: Any, slots: Any, names: Any) -> Any:
        """The prompt for these three; None for a model that is no home model."""
        key = (model, slots, names)
        cached = self._cached
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        labels = tuple(getattr(model, "labels", None) or ())
        prompt = None
        if any(isinstance(label, str) and label.startswith("Hass") for label in labels):
            from edge.home_cloud_prompt import HomePrompt

            prompt = HomePrompt.of(labels, getattr(slots, "intents", None), names)
        self._cached = (key, prompt)
        return prompt
