"""`SlotError`, alone in a leaf: edge.slots raises it in every daemon, while edge.tagger (the learned
tagger, 0.1 MB of Python objects) is imported only for a model with a tagger (docs/performance.md,
"Memory"). edge.tagger and edge.slots re-export it: one class, wherever it is caught."""

from __future__ import annotations


class SlotError(ValueError):
    """A manifest's "slots" section or tagger file is malformed."""
