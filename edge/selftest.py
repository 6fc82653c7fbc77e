"""A package's self-test, as a device runs it: the manifest's ``selftest`` examples
against the loaded model, before a deployed package takes requests.

Each entry is ``{"text", "intent", "slots": [{"name", "raw", "start", "end"}]}``
(``edge train`` writes them: edge/train/selftest.py). An entry passes when the
model answers its intent (``"oos"`` included) and, for an in-scope intent, the
package's slot extractor finds exactly its slots, compared by name and span: a
datetime's value depends on the day the test runs, its span does not.
Runtime only (the model and edge.slots); nothing here trains.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def slot_spans(found: Iterable[dict]) -> list[dict]:
    """Slots as a self-test compares them: name and span, in text order."""
    return sorted(({"name": s["name"], "raw": s["raw"], "start": s["start"], "end": s["end"]} for s in found),
                  key=lambda s: (s["start"], s["end"], s["name"]))


def extractor(model) -> Any:
    """The package's slot extractor, or None when it extracts nothing."""
    from edge.slots import SlotExtractor

    ext = SlotExtractor.load(model.path, model.manifest)
    return None if ext.empty else ext


def check(model, entries: Sequence[dict], slots: Any = "load") -> list[str]:
    """The failures of ``entries`` (a manifest's "selftest") under ``model``, one line each;
    empty when the package passes. ``slots``: its slot extractor (default: loaded from it)."""
    if slots == "load":
        slots = extractor(model)
    failures = []
    texts = [e["text"] for e in entries]
    for e, pred in zip(entries, model.classify(texts) if texts else []):
        if pred.intent != e["intent"]:
            failures.append(f"{e['text']!r}: {pred.intent} ({pred.confidence:.3f}), expected {e['intent']}")
            continue
        got = slot_spans(slots.extract(e["text"], pred.intent)) if slots is not None and pred.intent != "oos" else []
        if got != slot_spans(e.get("slots", [])):
            failures.append(f"{e['text']!r}: slots {got}, expected {e.get('slots', [])}")
    return failures
