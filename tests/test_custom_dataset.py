"""edge/dataset.py: every format train and eval read, and hostile input."""

import json

import pytest

from edge.dataset import MAX_LINE, DataError, Example, counts, labels_of, load_examples


def write(tmp_path, name, data):
    p = tmp_path / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def test_text_format_with_oos_markup_and_comments(tmp_path):
    f = write(tmp_path, "mine.txt", "# comment\n\n## lights_on\nturn on the [kitchen](room) light\n"
                                    "#not a comment but an example? no: before a header it would fail\n"
                                    "## oos\nwhat is my [balance](thing)\n")
    ex = load_examples(f)
    assert [e.label for e in ex] == ["lights_on", "lights_on", "oos"]
    assert ex[0].text == "turn on the kitchen light"
    assert ex[0].spans[0].name == "room" and ex[0].text[ex[0].spans[0].start:ex[0].spans[0].end] == "kitchen"
    assert ex[2].text == "what is my balance" and ex[0].where.endswith("mine.txt:4")
    assert labels_of(ex) == ["lights_on"] and counts(ex) == {"lights_on": 2, "oos": 1}


def test_three_formats_give_the_same_examples(tmp_path):
    t = write(tmp_path, "a.txt", "## a\nx [one](n)\ny\n## b\nz\n## oos\nq\n")
    j = write(tmp_path, "a.json", json.dumps({"a": ["x [one](n)", "y"], "b": ["z"], "oos": ["q"]}))
    p = write(tmp_path, "p.json", json.dumps({"train": [["x [one](n)", "a"], ["y", "a"], ["z", "b"]],
                                              "oos_train": [["q", "oos"]]}))
    a, b, c = load_examples(t), load_examples(j), load_examples(p)
    assert a == b == c   # Example equality ignores where/split
    assert [e.split for e in c] == ["train", "train", "train", "oos_train"]
    assert [e.text for e in load_examples(p, split="train")] == ["x one", "y", "z", "q"]


def test_json_detected_by_content_too(tmp_path):
    f = write(tmp_path, "intents", json.dumps({"a": ["x"], "b": ["y"]}))
    assert [e.label for e in load_examples(f)] == ["a", "b"]


@pytest.mark.parametrize("text,match", [
    ("hello\n## a\nx\n", r"x.txt:1: example before the first '## intent' header"),
    ("## a\nx\n## b\ny\n## a\nz\n", r"x.txt:5: section '## a' appears twice \(first at line 1\)"),
    ("## a\n\n## b\ny\n", r"x.txt:1: section '## a' has no examples"),
    ("## a\nx\n## b\n", r"x.txt:3: section '## b' has no examples"),
    ("## a\nx\n##\ny\n", r"x.txt:3: '##' header without an intent name"),
    ("## bad name!\nx\n", r"x.txt:1: intent name 'bad name!'"),
    ("## a\nturn on the [kitchen light\n", r"x.txt:2: slot markup, column 13: '\[' is never closed"),
    ("## a\nturn on the kitchen](room) light\n", r"x.txt:2: slot markup.*without a '\['"),
    ("## a\nturn on [the [kitchen](room)](x)\n", r"x.txt:2: slot markup.*slots do not nest"),
    ("## a\nx\n## b\n" + "y" * (MAX_LINE + 1) + "\n", r"x.txt:4: example is 2,001 characters long"),
    ("## a\nnul\x00here\n", r"x.txt:2: example contains a NUL"),
    ("# only comments\n\n", r"x.txt: no '## intent' sections"),
    ("", r"x.txt: no '## intent' sections"),
])
def test_text_errors_name_file_and_line(tmp_path, text, match):
    f = write(tmp_path, "x.txt", text)
    with pytest.raises(DataError, match=match):
        load_examples(f)


def test_bad_utf8_names_the_line(tmp_path):
    f = write(tmp_path, "x.txt", b"## a\nfine\ncaf\xe9 latin-1\n")
    with pytest.raises(DataError, match=r"x.txt:3: not UTF-8 text \(byte 0xe9"):
        load_examples(f)


def test_bom_and_crlf_are_fine(tmp_path):
    f = write(tmp_path, "x.txt", "\ufeff## a\r\nhello\r\n## b\r\nbye\r\n")
    assert [(e.text, e.label) for e in load_examples(f)] == [("hello", "a"), ("bye", "b")]


@pytest.mark.parametrize("obj,match", [
    ([1, 2], "non-empty JSON object"),
    ({}, "non-empty JSON object"),
    ({"a": "not a list"}, r"x.json:1: 'a' must map to a list"),
    ({"a": ["x", 3]}, r"intent 'a', example 1: not a string"),
    ({"a": []}, r"intent 'a': has no examples"),
    ({"bad name": ["x"]}, r"intent name 'bad name'"),
    ({"a": ["x"], "val": [["t", "a"]]}, "mixes"),
    ({"val": [["only text"]]}, r"val\[0\]: not a \[text, label\] pair"),
    ({"val": [["t", 3]]}, r"val\[0\]: not a \[text, label\] pair"),
    ({"a": ["turn on [x"]}, r"intent 'a', example 0: slot markup"),
])
def test_json_errors(tmp_path, obj, match):
    f = write(tmp_path, "x.json", json.dumps(obj))
    with pytest.raises(DataError, match=match):
        load_examples(f)


def test_json_syntax_error_names_line(tmp_path):
    f = write(tmp_path, "x.json", '{\n"a": ["x",\n]\n}')
    with pytest.raises(DataError, match=r"x.json:3: not valid JSON"):
        load_examples(f)


def test_pairs_keep_literal_brackets(tmp_path):
    """CLINC150's own texts have literal brackets; a [text, label] file keeps them."""
    f = write(tmp_path, "x.json", json.dumps({"val": [["travel alert for [country]", "travel_alert"]]}))
    (e,) = load_examples(f)
    assert e.text == "travel alert for [country]" and e.spans == ()


def test_split_selection_and_errors(tmp_path):
    f = write(tmp_path, "x.json", json.dumps({"train": [["a", "x"]], "val": [["b", "x"]],
                                              "oos_val": [["c", "oos"]]}))
    assert [e.text for e in load_examples(f, split="val")] == ["b", "c"]
    with pytest.raises(DataError, match="no split 'test'; available keys: train, val, oos_val"):
        load_examples(f, split="test")
    t = write(tmp_path, "x.txt", "## a\nb\n")
    with pytest.raises(DataError, match="applies to"):
        load_examples(t, split="val")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_examples(tmp_path / "nope.txt")


def test_many_lines_and_blank_examples(tmp_path):
    """A large file loads; examples that are only markup-free blanks are skipped."""
    body = "## a\n" + "\n".join(f"turn on light {i}" for i in range(20000)) + "\n## b\n   \nbye\n"
    ex = load_examples(write(tmp_path, "big.txt", body))
    assert len(ex) == 20001 and ex[-1] == Example("bye", "b")


def test_eval_and_train_read_the_same(tmp_path):
    from edge.evaluate import load_pairs
    from edge.train.data import load_dataset

    f = write(tmp_path, "x.txt", "## a\nturn [on](state)\nswitch on\n## b\noff\nturn off\n## oos\nhi\n")
    pairs = load_pairs(f)
    ds = load_dataset(f)
    assert sorted(ds.train + ds.val) == sorted(pairs)
