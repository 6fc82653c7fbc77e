"""Budgets: nothing a request or a cloud reply says costs more than linear time (issue 21, items 1, 2, 7).

Every parser on the request path and on a cloud reply is timed on what an attacker
(or a careless user, or a cloud model talked into it by the user's own text) would
send, at the payload limit (16 KiB): the CPU of one call (time.thread_time, best of
3, so a busy neighbour on this 2-core machine does not count) must stay within
BUDGET_S, and the time at 16 KiB within ~25x the time at 1 KiB (linear growth is
16x; quadratic would be 256x). The 1 KiB run goes first, so a parser that is
quadratic fails in seconds instead of running for minutes.

End to end: the request path in-process (tests/fakes.py's Rig with the real
shipped model and the real SlotExtractor) answers each adversarial 16 KiB text
within BUDGET_S of CPU.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from fakes import Rig, msg

from edge import entities, markup
from edge.pipeline import Work
from edge.cloud import CloudClient, CloudError, clean_answer, content_json, redact
from edge.config import CloudSettings
from edge.contract import BadRequest, parse_request
from edge.integrations import hermes
from edge.slot_features import entity_tags, tokenize
from edge.slots import SlotExtractor

BUDGET_S = 0.020  # CPU of one call, or of one request end to end
KIB = 1024
LIMIT = 16 * KIB  # the default payload limit
CLINC = Path(__file__).resolve().parents[1] / "models" / "clinc150"


def cpu(fn: Callable[[Any], Any], arg: Any, reps: int = 3) -> float:
    """The least thread CPU time of `reps` calls; expected errors count as answers."""
    best = float("inf")
    was = gc.isenabled()
    gc.disable()  # a collection that happens to land in one call is not the parser's cost
    try:
        for _ in range(reps):
            t0 = time.thread_time()
            try:
                fn(arg)
            except (CloudError, BadRequest, ValueError):
                pass
            spent = time.thread_time() - t0
            best = min(best, spent)
            if spent > 1.0:  # far over budget already: no need to watch it again
                break
    finally:
        if was:
            gc.enable()
    return best


def fill(unit: str, n: int, prefix: str = "", suffix: str = "") -> str:
    """`prefix` + `unit` repeated + `suffix`, exactly `n` characters (cut inside the last unit)."""
    body = n - len(prefix) - len(suffix)
    return prefix + (unit * (body // len(unit) + 1))[:body] + suffix


def assert_linear(fn: Callable[[Any], Any], make: Callable[[int], Any], budget: float = BUDGET_S) -> tuple[float, float]:
    small = cpu(fn, make(KIB))
    assert small <= budget, f"{small * 1000:.1f} ms at 1 KiB (budget {budget * 1000:.0f} ms)"
    big = cpu(fn, make(LIMIT))
    assert big <= budget, f"{big * 1000:.1f} ms at 16 KiB (budget {budget * 1000:.0f} ms)"
    # (a floor under the small time: below half a millisecond the ratio is timer noise)
    assert big <= 25 * max(small, 0.0005), f"{small * 1000:.2f} ms at 1 KiB but {big * 1000:.1f} ms at 16 KiB"
    return small, big


# --- the cloud's reply (item 1) -------------------------------------------------------------------

REPLIES: dict[str, Callable[[int], str]] = {
    "newline_blank_fence": lambda n: fill("\n ", n, "```\n", "x```y"),
    "json_fence_then_blanks": lambda n: fill(" ", n, "```json", "x"),
    "fences_only": lambda n: fill("`", n),
    "nested_fences": lambda n: fill("```json\n", n, "", "```"),
    "fence_tag_letters": lambda n: fill("a", n, "```", "```"),
    "blanks_between_fences": lambda n: fill(" \n\t", n, "```", "```"),
    "think_never_closed": lambda n: fill(" ", n, "<think>"),
    "think_tags": lambda n: fill("<think>", n),
    "think_close_fragments": lambda n: fill("</think", n, "<think>"),
    "think_then_fences": lambda n: fill("```", n, "<think></think>"),
    "whitespace": lambda n: fill(" \n", n),
    "deep_json": lambda n: fill("[", n),
}


@pytest.mark.parametrize("name", REPLIES)
def test_reply_content_costs_linear_time(name: str) -> None:
    assert_linear(content_json, REPLIES[name])


def _chat(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"content": content}}]}).encode()


ANSWERS: dict[str, Callable[[int], str]] = {
    "rlo_and_nul": lambda n: fill("\u202e\x00", n),
    "lone_surrogates": lambda n: fill("\ud800", n),
    "c1_controls": lambda n: fill("\x9b\x85", n),
    "words": lambda n: fill("ok ", n),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_a_whole_cloud_reply_with_a_hostile_answer_costs_linear_time(name: str) -> None:
    client = CloudClient(CloudSettings(base_url="http://127.0.0.1:9/v1", model="m"), ("timer", "weather"), "")
    assert_linear(client._parse, lambda n: _chat(json.dumps({"intent": "timer", "answer": ANSWERS[name](n)})))
    assert len(clean_answer(ANSWERS[name](LIMIT))) <= 500


# --- redaction of what goes to the cloud ---------------------------------------------------------

REDACT = {
    "at_signs": "@", "dots": ".", "word_at": "a@", "word_dot": "a.", "dot_at": ".@", "email_chain": "a@b.",
    "digits": "1", "digit_blank": "1 ", "digit_dash": "1-", "plus_digit": "+1 ", "area_codes": "(1) ",
    "dotted_digits": "1.1.", "pluses": "+", "mixed": "a1@.-+( ",
}


@pytest.mark.parametrize("name", REDACT)
def test_redaction_costs_linear_time(name: str) -> None:
    assert_linear(redact, lambda n: fill(REDACT[name], n))


def test_redaction_of_a_local_part_as_long_as_the_request() -> None:
    assert_linear(redact, lambda n: fill("a", n // 2) + "@" + fill("a", n // 2 - 1))


# --- the built-in entities, and the slot extractor around them (item 2) ---------------------------

ENTITY_TEXTS = {
    "digit_unit_h": "1h", "digit_unit_s": "1s", "digit_blank_unit": "1 h ", "digit_minutes": "20 minutes ",
    "number_words": "one two three four five six seven eight nine ten eleven twelve ",
    "scales": "one thousand ", "decimal_words": "one point one ", "twenty_one": "twenty one ",
    "ordinal_dates": "the 3rd of march ", "ordinals": "3rd ", "months": "march ", "on_the_15th": "on the 15th ",
    "at_seven": "at 7 ", "half_past": "half past ", "quarter_to": "quarter to ", "grouped_digits": "1,",
    "dotted_digits": "1.", "clock": "1:", "digit_run": "1", "dollars": "$1 ", "currency_signs": "$",
    "negatives": "-1", "minus_words": "minus ", "articles": "a ", "and_a_half": "and a half ", "in": "in ",
    "in_an_hour": "in 1 hour ", "from_now": "1 hour from now ", "iso_dates": "2026-12-01 ",
    "tomorrow_at": "tomorrow at ", "weekdays": "next friday ", "am": "7 am ", "a_m": "a.m. ",
    "couple": "a couple of ", "euros_cents": "12 euros 50 ", "percent": "40 percent ", "degrees": "21 °C ",
    "blanks": " ", "newlines": "\n", "o_clock": "1o'clock ", "day_after": "the day after tomorrow ",
}
KIND_SETS = {"all": None, "datetime": ["datetime"], "duration": ["duration"], "number": ["number", "ordinal"]}


@pytest.mark.parametrize("kinds", KIND_SETS)
@pytest.mark.parametrize("name", ENTITY_TEXTS)
def test_entities_cost_linear_time(name: str, kinds: str) -> None:
    want = KIND_SETS[kinds]
    assert_linear(lambda t: entities.find(t, want), lambda n: fill(ENTITY_TEXTS[name], n))


@pytest.mark.parametrize("name", ["digit_unit_h", "number_words", "scales", "decimal_words", "ordinal_dates",
                                  "grouped_digits", "from_now"])
def test_the_grammar_itself_is_linear_without_the_scan_limits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The limits on what find() reads are a second line: every parse is bounded by itself, so the
    # work grows with the text, not with its square (4x the text: 4x the time, 16x if quadratic).
    monkeypatch.setattr(entities, "MAX_TEXT", 1 << 30)
    monkeypatch.setattr(entities, "MAX_STARTS", 1 << 30)
    text = ENTITY_TEXTS[name]
    small = cpu(lambda t: entities.find(t, ["datetime"]), fill(text, KIB))
    big = cpu(lambda t: entities.find(t, ["datetime"]), fill(text, 4 * KIB))
    assert big <= 8 * max(small, 0.0005), f"{small * 1000:.2f} ms at 1 KiB, {big * 1000:.1f} ms at 4 KiB"


def test_find_reads_a_bounded_prefix_and_still_finds_what_an_utterance_holds() -> None:
    text = "wake me at 7 am tomorrow " + fill("1h", LIMIT)
    got = entities.find(text, ["datetime"])
    assert got[0].raw == "7 am tomorrow" and all(e.end <= entities.MAX_TEXT for e in got)
    assert entities.find(fill("1", LIMIT)) == []  # 16,000 digits are no number (and int() would raise)
    assert entities.find("one thousand " * 50, ["number"])[0].value == 6000  # 12 words, then a new number
    assert entities.resolve("one thousand " * 50, "number") is None  # so no one number covers it


@pytest.mark.parametrize("text", ["2026-" + "9" * 50 + "-01", "2026-01-" + "9" * 30, "999999999999999999 hours ago",
                                  "999999999999999999 years from now", "in 999999999999999999 months",
                                  "999999999999999999 weeks later", "in 99999999 days", "1" * 5000 + "th",
                                  "9" * 5000 + " dollars"])
def test_numbers_past_the_calendar_or_past_int_are_no_entity_not_an_exception(text: str) -> None:
    got = entities.find(text)  # raised OverflowError (the slot extractor then logged a traceback)
    assert all(e.kind != "datetime" for e in got) and all(len(e.raw) <= 40 for e in got)
    assert entities.resolve("1" * 5000, "number") is None


@pytest.mark.parametrize("name", ["digit_unit_h", "number_words", "blanks", "ordinal_dates"])
def test_entity_features_and_tokens_cost_linear_time(name: str) -> None:
    def features(text: str) -> None:
        spans = tokenize(text)
        entity_tags(text, spans)

    assert_linear(features, lambda n: fill(ENTITY_TEXTS[name], n))


@pytest.fixture(scope="module")
def extractors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SlotExtractor]:
    """The shipped model's slots, the same with every built-in on every intent, and a learned tagger."""
    from edge.dataset import parse_text
    from edge.train.slots import package

    manifest = json.loads((CLINC / "manifest.json").read_text())
    shipped = SlotExtractor.load(CLINC, manifest)
    every = SlotExtractor({label: {k: k for k in entities.KINDS} for label in manifest["labels"]})
    d = tmp_path_factory.mktemp("tagger")
    (d / "manifest.json").write_text(json.dumps({"name": "tiny", "files": {}}))
    examples = parse_text("\n".join([
        "## alarm", "wake me at [7 am](time) [tomorrow](day)", "set an alarm for [6:30 am](time)",
        "alarm for [8 pm](time) please", "wake me [tomorrow](day) at [10 am](time)",
        "## play_music", "play [jazz](genre) by [Miles Davis](artist)", "put on some [rock](genre)",
        "play [hip hop](genre)", "play something by [Adele](artist)",
    ]), "tiny.txt")
    package(d, examples)
    tagged = SlotExtractor.load(d, json.loads((d / "manifest.json").read_text()))
    return {"shipped": shipped, "every": every, "tagged": tagged}


@pytest.mark.parametrize("which,intent", [("shipped", "weather"), ("every", "calculator"), ("tagged", "alarm"),
                                          ("tagged", "play_music")])
@pytest.mark.parametrize("name", ["digit_unit_s", "number_words", "ordinal_dates", "blanks", "from_now", "articles"])
def test_slot_extraction_costs_linear_time(extractors: dict, which: str, intent: str, name: str) -> None:
    x = extractors[which]
    assert_linear(lambda t: x.extract(t, intent), lambda n: fill(ENTITY_TEXTS[name], n, "what's the weather "))


@pytest.mark.parametrize("case", ["whole_request", "one_letter", "overlapping", "long_unit_chain"])
def test_cloud_slots_cost_linear_time(extractors: dict, case: str) -> None:
    # A cloud slot whose text is the whole request (the user can ask the model to echo itself)
    # cost 97 s: slots are looked for in the first MAX_TEXT characters only, and resolved there.
    x = extractors["every"]

    def slots(text: str) -> None:
        said = {"whole_request": text, "one_letter": "a", "overlapping": "a a a a a a a a",
                "long_unit_chain": text[19:1000]}[case]
        x.cloud_slots(text, "alarm", [{"name": "datetime", "text": said}] * 32)

    def make(n: int) -> str:
        return fill("1h" if case == "long_unit_chain" else "a ", n, "what's the weather ")

    assert_linear(slots, make)
    got, problems = x.cloud_slots(make(LIMIT), "alarm", [{"name": "datetime", "text": make(LIMIT)}])
    assert got == [] and "first 1000 characters" in problems[0]


# --- markup, the request contract, Hermes --------------------------------------------------------

MARKUP = {"slots": "[a](b) ", "open_brackets": "[", "backslashes": "\\", "escaped_brackets": "\\[", "letters": "a",
          "close_open": "](", "long_value": None, "parens": "(x) "}


@pytest.mark.parametrize("name", MARKUP)
def test_markup_costs_linear_time(name: str) -> None:
    unit = MARKUP[name]
    make = (lambda n: "[" + fill("a", n - 5) + "](x)") if unit is None else (lambda n: fill(unit, n))
    assert_linear(markup.parse, make)


REQUESTS: dict[str, Callable[[int], bytes]] = {
    "garbage_with_id": lambda n: fill("a", n, '{"id": "').encode(),
    "many_ids": lambda n: fill('"id":"', n).encode(),
    "escaped_ids": lambda n: fill('\\"id\\":\\"', n, '{"id":"').encode(),
    "blanks_then_brace": lambda n: fill(" ", n, "", "{").encode(),
    "bom_and_blanks": lambda n: fill(" ", n - 3, "\ufeff").encode(),
    "surrogate_escapes": lambda n: fill("\\ud800", n, '{"text": "', '"}').encode(),
    "control_escapes_in_id": lambda n: fill("\\u0000", n - 20, '{"id": "', '", "text": "x"}').encode(),
    "deep_arrays": lambda n: fill("[", n).encode(),
    "plain_text": lambda n: fill("1h", n).encode(),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_request_parsing_costs_linear_time(name: str) -> None:
    assert_linear(lambda p: parse_request(p, LIMIT, "app/replies"), REQUESTS[name])


QUERIES: dict[str, Callable[[int], bytes]] = {
    "one_letter_words": lambda n: json.dumps({"input": fill("a ", n - 40), "siteId": "s"}).encode(),
    "surrogates": lambda n: fill("\\ud800", n - 40, '{"siteId": "s", "input": "', '"}').encode(),
    "blanks": lambda n: fill(" \\t", n, '{"sessionId": "x", "input": "', '"}').encode(),
    "bom_words": lambda n: b"\xef\xbb\xbf" + json.dumps({"input": fill("1h ", n - 40), "siteId": "s"}).encode(),
}


@pytest.mark.parametrize("name", QUERIES)
def test_hermes_costs_linear_time_and_its_output_is_bounded(name: str) -> None:
    def answer(payload: bytes) -> list:
        try:
            q = hermes.parse_query(payload, LIMIT)
        except BadRequest as exc:
            return [hermes.error_message(payload, f"{exc.code}: {exc.message}")]
        return hermes.responses(q, "weather", 0.9, 0.5, [])

    assert_linear(answer, QUERIES[name])
    payload = QUERIES[name](LIMIT)
    assert len(payload) <= LIMIT
    out = answer(payload)
    assert sum(len(m[1]) for m in out if m) <= 4 * LIMIT + 20 * KIB  # echoes of the input, tokens bounded


# --- end to end: one request, the real model and slots -------------------------------------------

E2E = {
    "weather_1s": ("what's the weather ", "1s"), "weather_1h": ("what's the weather ", "1h"),
    "timer_durations": ("set a timer for ", "1 hour "), "alarm_number_words": ("wake me up at ", "one two three "),
    "calculator_digits": ("what is ", "1,"), "dates": ("book a flight for ", "the 3rd of march "),
    "money": ("transfer ", "$1 "), "blanks": ("what's the weather ", " "), "brackets": ("remind me ", "[a](b) "),
}


@pytest.fixture(scope="module")
def real_model() -> Any:
    from edge.model import Model

    return Model.load()


@pytest.mark.parametrize("which", ["shipped", "every"])
@pytest.mark.parametrize("name", E2E)
def test_one_adversarial_request_end_to_end_within_budget(real_model: Any, extractors: dict, which: str,
                                                          name: str) -> None:
    rig = Rig(model=real_model, slots=extractors[which])
    prefix, unit = E2E[name]
    text = fill(unit, LIMIT - 40, prefix)
    rig.send(msg(text))  # warm (the model's first call at this length allocates)

    def request(payload: bytes) -> None:
        rig.send(msg(payload))  # plain text: a new id each time, never answered from the cache

    spent = cpu(request, text.encode())
    result = json.loads(rig.link.on("edge/t/result")[-1])
    assert result["text"] == text.strip() and isinstance(result["slots"], list)
    assert spent <= BUDGET_S, f"{spent * 1000:.1f} ms of CPU for one request ({result['intent']})"


def test_one_adversarial_hermes_query_end_to_end_within_budget(real_model: Any, extractors: dict) -> None:
    rig = Rig(model=real_model, slots=extractors["every"])
    payload = json.dumps({"input": fill("1h ", LIMIT - 60, "what's the weather "), "siteId": "kitchen"}).encode()

    def query(p: bytes) -> None:
        rig.pipeline.handle([Work("hermes", msg(p, topic=hermes.QUERY_TOPIC), 100.0, rig.link.ack)])

    query(payload)
    spent = cpu(query, payload)
    out = [p for t, p, _ in rig.link.published if t.startswith("hermes/")]
    assert out and max(len(p) for p in out) <= 3 * LIMIT + 20 * KIB
    assert spent <= BUDGET_S, f"{spent * 1000:.1f} ms of CPU for one Hermes query"


def _tagger_with_many_values() -> Any:
    """A tagger (the real class) whose known values share their first word: 500 bands named "the ..."."""
    import base64

    import numpy as np

    from edge.tagger import FeatureIds, IntentTagger

    def arr(a: Any, dtype: str = "float32") -> dict:
        a = np.asarray(a)
        wire = "<f4" if dtype == "float32" else "<i4"
        return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a.astype(wire).tobytes()).decode()}

    values = [f"the {i} band" for i in range(500)] + ["the the the", "the", "the the", "a b", "a", "b a b"]
    tags = ["O", "B-artist", "I-artist", "B-genre", "I-genre"]
    d = {"tags": tags, "rows": arr([0], "int32"), "weights": arr(np.zeros((1, 5))),
         "transitions": arr(np.zeros((5, 5))), "start": arr(np.zeros(5)),
         "gazetteer": {"artist": values, "genre": ["the the", "a b", "the 7 band"] + [f"a {i}" for i in range(20)]}}
    names = ["b", "g=artist:B", "g=artist:I", "g=genre:B", "g=genre:I", "g=w:artist", "g=w:genre"]
    fid = FeatureIds({f: i for i, f in enumerate(names)})
    return IntentTagger(d, fid, len(names)), fid


def test_known_values_sharing_a_first_word_cost_linear_time() -> None:
    # 500 known values starting with "the": each "the" of the text was compared with all of them
    # (100 ms for 500 words); now it is looked up once per length of those values.
    # The tagger only ever sees the words of the first MAX_TEXT characters (SlotExtractor.extract):
    # the budget holds there; the growth is checked from 1 to 16 KiB of "the " (every word then
    # starts three known values, so the features themselves grow with the text).
    from edge.slots import MAX_TEXT

    tagger, _ = _tagger_with_many_values()
    small, big = cpu(tagger.gaz_ids, ["the"] * (KIB // 4)), cpu(tagger.gaz_ids, ["the"] * (LIMIT // 4))
    assert big <= 25 * max(small, 0.0005), f"{small * 1000:.2f} ms at 1 KiB but {big * 1000:.1f} ms at 16 KiB"
    assert cpu(tagger.gaz_ids, ["the"] * (MAX_TEXT // 4)) <= BUDGET_S


def test_the_lookup_by_length_gives_the_features_of_the_reference_path() -> None:
    import random

    from edge.slot_features import gazetteer_tags

    tagger, fid = _tagger_with_many_values()
    rng = random.Random(7)
    for _ in range(500):
        low = [rng.choice(["the", "a", "b", "7", "band", "x", "3"]) for _ in range(rng.randint(1, 16))]
        got = tagger.gaz_ids(low) or [[] for _ in low]
        ref = gazetteer_tags(low, tagger.gaz, tagger.max_gaz, (), tagger.gaz_words)
        assert [sorted(g) for g in got] == [sorted(fid["g=" + t] for t in r) for r in ref], low


@pytest.mark.parametrize("char", ["\ufdfa", "\u3300", "\u00bd", "\U0001f642", "x\u0301"])
def test_a_request_of_characters_that_normalisation_expands_stays_within_budget(real_model: Any, extractors: dict,
                                                                                char: str) -> None:
    # NFKC turns U+FDFA into 18 characters and U+3300 into 6: the model reads what normalisation
    # makes of the text, so the worst 16 KiB payload is one of these, not one of ASCII.
    rig = Rig(model=real_model, slots=extractors["every"])
    text = char * ((LIMIT - 64) // len(char.encode()))
    rig.send(msg(text))
    spent = cpu(lambda p: rig.send(msg(p)), text.encode())
    assert json.loads(rig.link.on("edge/t/result")[-1])["text"] == text
    assert spent <= BUDGET_S, f"{spent * 1000:.1f} ms of CPU for one request"
