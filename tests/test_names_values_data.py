"""edge/names_values_data.py's layout: each table JSON in a string, exactly as the generator renders it.

The tables' content is checked against Home Assistant's lists in tests/test_home_data.py (it needs the
train extra); this needs nothing: the committed file is `render` of its own tables, byte for byte, so a
hand edit or a file written another way (dict literals cost ~1.6 MB of RSS when compiled at import,
docs/wyoming.md "RSS") fails here.
"""

from __future__ import annotations

import pytest

from edge import names_values_data
from edge.train.home_values import OUT, render


def tables() -> dict[str, dict]:
    return {"STATES": names_values_data.STATES, "VALUES": names_values_data.VALUES,
            "NUMBERS": names_values_data.NUMBERS}


def test_the_committed_file_is_what_render_writes_for_its_tables() -> None:
    assert OUT.read_text(encoding="utf-8") == render(tables())


def test_the_tables_keep_their_types() -> None:
    assert set(names_values_data.STATES) == set(names_values_data.NUMBERS) == {"de", "en", "es", "fr"}
    assert names_values_data.STATES["es"]["lock_states"]["cerrada"] == "locked"
    assert names_values_data.NUMBERS["de"]["dreiundzwanzig"] == 23
    assert all(type(n) is int for t in names_values_data.NUMBERS.values() for n in t.values())


def test_the_module_compiles_to_a_few_constants_not_thousands() -> None:
    """What the layout is for: compiling the file makes one string per table, not a constant per entry."""
    code = compile(OUT.read_text(encoding="utf-8"), str(OUT), "exec")
    assert len(code.co_consts) < 20, len(code.co_consts)
    assert sum(len(c) for c in code.co_consts if isinstance(c, str)) > 20_000  # the tables are in the strings


@pytest.mark.parametrize("bad", [
    {"NUMBERS": {"en": {1: "one"}}},          # JSON would turn the key into "1": not the same table
    {"VALUES": {"en": {"color": {"red": ("red",)}}}},  # a tuple would come back a list
    {"STATES": {"en": {"x": float("nan")}}},  # NaN is not equal to itself: refused, not written
])
def test_render_refuses_tables_json_cannot_give_back(bad: dict) -> None:
    with pytest.raises(ValueError):
        render(bad)
