"""Paraphrase templates for the home model: how people really say it (our own writing).

Home Assistant's templates say "turn on the kitchen lights"; people say "flip on the
porch light", "kill the lights", "mach mal das Licht aus", "coupe le chauffage", "prende
la tele". Everything in this file was **written for edge from our own knowledge of how
people talk** to a home speaker, per language: colloquial verbs, word orders, fillers
and politeness forms, questions. Nothing here comes from Home Assistant's intent tests,
from the paraphrase dev sets (tests/data/home_dev*_*.txt) or from any other corpus.

The templates use hassil's syntax (``(a|b)`` alternatives, ``[x]`` optional words,
``<rule>`` our own expansion rules below, ``{list:slot}`` lists). Lists are Home
Assistant's own (``{color}``, ``{on_off_states:state}``, the timer and number ranges)
or the ones edge fills (``{name}``, ``{area}``, ``{floor}``, ``{shopping_list_item}``:
edge/train/home_lists.py), so they go through the same sampler as the templates
(edge/train/home.py :func:`~edge.train.home.sample`) and names stay varied.

They are added to the training rows *after* the template split, from this separate
source, so the template holdout (``home.generate(lang, 200, 13)``) is untouched; their
template ids start with ``para/`` so edge/train/home_schema.py's signatures, which read
Home Assistant's templates only, never see them.

Polarity is the point to get right: in Home Assistant opening a cover and locking a lock
are HassTurnOn; closing and unlocking are HassTurnOff.

Why over 1,000 lines: it is a data table, not code. `PARAPHRASES` holds the templates of four
languages (lines 38-973, one language a block, one template a line, so a reviewer reads and diffs
them line by line); the code is the two functions at the end (`templates`, `generate`). Split by
language it would be four copies of the same shape with nothing to gain (issue 24 leaves it whole).
"""

from __future__ import annotations

import random
from typing import Iterable

from edge.markup import render

__all__ = ["PARAPHRASES", "templates", "generate"]

# Each language: "rules" (expansion rules, our own) and "intents": {intent: [block]}, a block
# {"sentences": [...], "domains": [...]} (domains pick the {name} pool, as Home Assistant's
# requires_context does for its templates).
PARAPHRASES: dict[str, dict] = {
    "en": {
        "rules": {
            "the": "(the|my|our|that|this)",
            "light": "(light|lights|lamp|lamps)",
            "in": "(in|in the|on the|at the|for the|of the)",
            "on_verb": "(turn on|switch on|power on|power up|fire up|flip on|put on|start up|boot up|start|activate|enable|kick on)",
            "on_split": "(turn|switch|power|fire|flip|start|kick|put)",
            "on_split_up": "(on|up)",
            "off_verb": "(turn off|switch off|shut off|shut down|power off|power down|kill|cut|flip off|stop|disable|deactivate|knock off|cut off)",
            "off_split": "(turn|switch|shut|power|flip|knock)",
            "lead": "(hey|ok|okay|yo|um|uh|so|alright|right)",
        },
        "intents": {
            "HassTurnOn": [
                {"sentences": [
                    "[<lead>] <on_verb> <the> {name} [now|real quick|for a bit|again]",
                    "[<lead>] <on_split> <the> {name} <on_split_up> [now|again]",
                    "[<lead>] <on_verb> <the> {name} <in> {area}",
                    "[<lead>] <on_split> <the> {area} {name} <on_split_up>",
                    "(get|let's get|go ahead and turn on|go ahead and switch on|could you get) <the> {name} [going|running|on]",
                    "i (need|want) <the> {name} on",
                    "{name} on [please|now]",
                    "(can|could|would) you [please] <on_verb> <the> {name}",
                    "(can|could) you [please] <on_split> <the> {name} <on_split_up>",
                    "(i'd like|i want) <the> {name} (on|turned on|switched on)",
                    "(make sure|make certain) <the> {name} is on",
                    "<the> {name} needs to be on",
                ]},
                {"domains": ["light"], "sentences": [
                    "[<lead>] (flip|switch|turn|put|click) on <the> <light> <in> {area}",
                    "[<lead>] (flip|switch|turn|put|click) <the> {area} <light> on",
                    "[<lead>] (light up|brighten up|illuminate) <the> {area}",
                    "[<lead>] <light> on <in> {area} [please]",
                    "{area} <light> on [please]",
                    "(it's too dark|it's dark|i can't see) <in> {area} [turn on the lights]",
                    "(can|could) (i|we) (get|have) (some light|the lights on) <in> {area}",
                    "give me (some|a bit of) light <in> {area}",
                    "lights on <in> {floor}",
                    "(turn|switch|flip) on [all] the lights <in> {floor}",
                    "(turn|switch|flip) on the {name}",
                ]},
                {"domains": ["cover"], "sentences": [
                    "[<lead>] (open|open up|raise|pull up|roll up|lift) <the> {name}",
                    "[<lead>] (open|raise|pull|roll) <the> {name} up",
                    "(can|could) you (open|raise|roll up) <the> {name} [<in> {area}]",
                    "let (some|the) light in <in> {area}",
                    "(open|raise|roll up) the (blinds|shades|curtains|shutters) <in> {area}",
                ]},
                {"domains": ["lock"], "sentences": [
                    "[<lead>] lock <the> {name} [please|now|for the night]",
                    "lock up <the> {name}",
                    "(can|could) you lock <the> {name}",
                    "(make sure|make certain) <the> {name} is locked",
                    "lock <the> {name} <in> {area}",
                ]},
            ],
            "HassTurnOff": [
                {"sentences": [
                    "[<lead>] <off_verb> <the> {name} [now|real quick|for now|already]",
                    "[<lead>] <off_split> <the> {name} off [now|already]",
                    "[<lead>] <off_verb> <the> {name} <in> {area}",
                    "[<lead>] <off_split> <the> {area} {name} off",
                    "{name} off [please|now]",
                    "(can|could|would) you [please] <off_verb> <the> {name}",
                    "(can|could) you [please] <off_split> <the> {name} off",
                    "(i'd like|i want) <the> {name} (off|turned off|switched off)",
                    "(make sure|make certain) <the> {name} is off",
                    "nobody is using <the> {name} (turn|switch|shut) it off",
                    "(enough|that's enough) [of the] {name} (turn|switch) it off",
                ]},
                {"domains": ["light"], "sentences": [
                    "[<lead>] (kill|cut|flip off|switch off|turn off|shut off|douse) <the> <light> <in> {area}",
                    "[<lead>] (flip|switch|turn|shut|click) <the> {area} <light> off",
                    "[<lead>] <light> (off|out) <in> {area} [please]",
                    "{area} <light> off [please]",
                    "lights out <in> {area}",
                    "(kill|cut) (the|all the|all) lights [<in> {area}]",
                    "(kill|cut|turn off|switch off) [all] the lights <in> {floor}",
                    "(it's too bright|too bright) <in> {area} (turn off|switch off|kill) the lights",
                    "(kill|cut|shut off) the {name}",
                ]},
                {"domains": ["cover"], "sentences": [
                    "[<lead>] (close|shut|lower|pull down|roll down|draw) <the> {name}",
                    "[<lead>] (pull|roll|bring) <the> {name} down",
                    "(can|could) you (close|shut|lower) <the> {name} [<in> {area}]",
                    "(close|lower|shut|roll down) the (blinds|shades|curtains|shutters) <in> {area}",
                ]},
                {"domains": ["lock"], "sentences": [
                    "[<lead>] unlock <the> {name} [please|now]",
                    "(can|could) you unlock <the> {name}",
                    "unlock <the> {name} <in> {area}",
                    "let me in unlock <the> {name}",
                ]},
            ],
            "HassGetState": [
                {"domains": ["light", "switch", "fan"], "sentences": [
                    "(is|was) <the> {name} [still] {on_off_states:state} [right now|at the moment]",
                    "did (i|we|someone) leave <the> {name} {on_off_states:state}",
                    "(tell me|do you know) if <the> {name} is [still] {on_off_states:state}",
                    "(check|can you check) (if|whether) <the> {name} is {on_off_states:state}",
                    "<the> {name} (is it|is that) {on_off_states:state}",
                ]},
                {"domains": ["cover"], "sentences": [
                    "(is|are) <the> {name} [still] {cover_states:state}",
                    "did (i|we|someone) leave <the> {name} {cover_states:state}",
                    "(check|can you check) (if|whether) <the> {name} is {cover_states:state}",
                ]},
                {"domains": ["lock"], "sentences": [
                    "(is|was) <the> {name} [still] {lock_states:state}",
                    "did (i|we|someone) leave <the> {name} {lock_states:state}",
                    "(check|can you check) (if|whether) <the> {name} is {lock_states:state}",
                ]},
                {"sentences": [
                    "(are|were) [any of] the lights [still] {on_off_states:state} <in> {area}",
                    "did (i|we|someone) leave the lights {on_off_states:state} <in> {area}",
                    "(is|are) there (a|any) lights {on_off_states:state} <in> {area}",
                    "(is|are) the {area} lights [still] {on_off_states:state}",
                ]},
            ],
            "HassClimateGetTemperature": [{"sentences": [
                "what's the temperature <in> {area} [right now|at the moment]",
                "how (warm|cold|hot) is it <in> {area} [right now]",
                "how many degrees is it <in> {area}",
                "what's it (reading|at|showing) <in> {area}",
                "(tell me|give me) the temperature <in> {area}",
                "(what|how) (is|'s) the temp <in> {area}",
                "what temperature is (it|the) {area} at",
                "what's the (indoor|inside|room) temperature",
                "how (warm|cold|hot) is it (inside|in here|in the house)",
                "what (is|'s) <the> {name} (set to|reading|showing|at)",
            ]}],
            "HassClimateSetTemperature": [{"sentences": [
                "(set|put|turn|crank|bump) the (heat|heating|thermostat|temp|temperature) (to|up to|down to) {temperature} [degrees] [<in> {area}]",
                "make it {temperature} degrees <in> {area}",
                "(i want|i'd like) it (at|to be) {temperature} degrees <in> {area}",
                "{temperature} degrees <in> {area} [please]",
                "(set|put) <the> {name} (to|at|on) {temperature} [degrees]",
                "(heat|warm|cool) [up|down] the {area} to {temperature} [degrees]",
            ]}],
            "HassLightSet": [
                {"domains": ["light"], "sentences": [
                    "(dim|brighten|turn|put|bring|set) <the> {name} (to|at|down to|up to) {brightness} [percent|%]",
                    "(dim|brighten|turn|bring|set) the lights <in> {area} (to|down to|up to) {brightness} [percent|%]",
                    "{area} lights (to|at) {brightness} [percent|%]",
                    "{name} (to|at) {brightness} [percent|%] [please]",
                    "(make|turn|change|switch) <the> {name} {color}",
                    "(make|turn|change|switch) the lights <in> {area} {color}",
                    "(make|turn|change|set) <the> {name} (to|into) {color}",
                    "(i want|give me) {color} light <in> {area}",
                    "{color} lights <in> {area} [please]",
                    "can you make <the> {name} {color}",
                ]}],
            "HassStartTimer": [{"sentences": [
                "(set|start|put on|give me|make|get) a [timer for|timer of] {timer_minutes:minutes} minute[s] [timer]",
                "{timer_minutes:minutes} minute[s] timer [please|starting now|go]",
                "(set|start) a timer {timer_minutes:minutes} minutes",
                "timer {timer_minutes:minutes} minutes",
                "(set|start) a timer for {timer_hours:hours} hour[s] [and {timer_minutes:minutes} minute[s]]",
                "(set|start) a timer for {timer_seconds:seconds} second[s]",
                "{timer_seconds:seconds} second[s] timer",
                "(count down|countdown) {timer_minutes:minutes} minute[s]",
                "(time|let me know in|ping me in) {timer_minutes:minutes} minute[s]",
                "(set|start) a {timer_minutes:minutes} minute timer for [the] {timer_name:name}",
                "(i need|i want) a timer for {timer_minutes:minutes} minute[s]",
                "can you (set|start) a timer for {timer_minutes:minutes} minute[s]",
                "{timer_name:name} timer {timer_minutes:minutes} minute[s]",
            ]}],
            "HassCancelTimer": [{"sentences": [
                "(cancel|kill|stop|delete|clear|scrap|forget|get rid of) <the> timer",
                "(turn off|switch off|shut off) <the> timer",
                "timer (off|cancel|stop|done)",
                "(cancel|kill|stop|delete) <the> {timer_name:name} timer",
                "never mind the timer",
            ]}],
            "HassTimerStatus": [{"sentences": [
                "how (much|long) (time|longer) (is|'s) (left|remaining) on <the> timer",
                "how long (until|till|before) <the> timer (goes off|is done|rings|ends)",
                "how much longer on <the> timer",
                "(how's|how is|what's) <the> timer (doing|at|looking)",
                "(when|how soon) (will|does) <the> timer (go off|ring|end)",
                "time left [on the timer]",
                "how long (left|to go) on <the> {timer_name:name} [timer]",
            ]}],
            "HassMediaPause": [{"domains": ["media_player"], "sentences": ["pause <the> {name}",]}, {"sentences": [
                "(pause|hold|freeze) <the> (music|song|show|movie|tv|podcast|video) [for a sec|for a second]",
                "(hit|press) pause",
                "pause (it|that|this) [for a sec]",
                "(hold on|hang on|wait) pause (it|the music)",
                "(stop|halt) the (music|song|show|movie) for a (sec|second|moment|bit)",
            ]}],
            "HassMediaUnpause": [{"domains": ["media_player"], "sentences": ["resume <the> {name}",]}, {"sentences": [
                "(resume|unpause|continue|restart) <the> (music|song|show|movie|podcast|video|playback)",
                "(keep|carry on) playing",
                "(hit|press) play [again]",
                "(start|put) the (music|song|show|movie) (back on|again)",
                "play (it|the music) again",
                "ok (continue|resume|go on)",
            ]}],
            "HassMediaNext": [{"sentences": [
                "(skip|next) (this|the) (song|track|one|tune)",
                "(skip|skip it|skip that|next one|next song|next track)",
                "(play|go to|jump to|on to) the next (song|track|one|episode)",
                "i don't like this (song|track) (skip|skip it|next)",
                "(change|switch) the song",
            ]}],
            "HassSetVolume": [{"sentences": [
                "(turn|put|set|bring) the volume (to|at|up to|down to) {volume:volume_level} [percent|%]",
                "volume (to|at) {volume:volume_level} [percent|%]",
                "volume {volume:volume_level}",
                "(make it|set it) (volume|loudness) {volume:volume_level}",
                "(set|turn) <the> {name} volume to {volume:volume_level} [percent|%]",
            ]}],
            "HassShoppingListAddItem": [{"sentences": [
                "(put|stick|add|throw|write|jot down|pop) {shopping_list_item:item} (on|onto|to|in) the (shopping|grocery) list",
                "we('re| are) (out of|running out of|running low on|low on) {shopping_list_item:item}",
                "we need [more|some] {shopping_list_item:item}",
                "(remind me to|i need to) (buy|get|pick up) {shopping_list_item:item}",
                "(add|put) {shopping_list_item:item} to (my|our) list",
                "{shopping_list_item:item} on the shopping list [please]",
                "don't let me forget (to buy|to get) {shopping_list_item:item}",
            ]}],
            "HassGetWeather": [{"sentences": [
                "(how's|how is|what's|what is) the weather [like] [today|out there|outside|right now]",
                "what's it like (outside|out there)",
                "is it (nice|cold|warm|hot|sunny|rainy|raining) (outside|out)",
                "(tell me|give me) the weather",
                "weather [please|report|update]",
                "how cold is it outside",
            ]}],
            "HassGetCurrentTime": [{"sentences": [
                "what time is it [now|right now]",
                "(what's|what is) the time [now]",
                "(got|have you got|do you have) the time",
                "(tell me|give me) the time",
                "(do you know|can you tell me) what time it is",
                "time (please|check)",
                "how late is it",
            ]}],
            "HassGetCurrentDate": [{"sentences": [
                "what('s| is) (the date|today's date) [today]",
                "what day is it [today]",
                "(which|what) date is it [today]",
                "(tell me|give me) the date",
                "what's the date again",
                "(do you know|can you tell me) what day it is",
            ]}],
            "HassVacuumStart": [{"domains": ["vacuum"], "sentences": [
                "(start|run|fire up|turn on|send out|kick off) <the> {name}",
                "(start|run) the (vacuum|hoover|robot vacuum)",
                "(vacuum|hoover) the (house|place|floors)",
                "(let|have) <the> {name} (clean|vacuum|do its thing)",
                "time to (vacuum|clean the floors)",
            ]}],
            "HassVacuumReturnToBase": [{"domains": ["vacuum"], "sentences": [
                "(send|bring|take) <the> {name} (home|back home|back to base|back to the dock|to the dock|to its dock)",
                "(dock|park) <the> {name}",
                "(stop vacuuming and|ok) go (home|back to the dock)",
                "(send|bring) the (vacuum|robot) (home|back)",
            ]}],
            "HassNevermind": [{"sentences": [
                "(forget it|forget about it|never mind|nevermind|nothing|no thanks|cancel that|scratch that)",
                "(oops|sorry) (never mind|wrong button|nothing)",
                "it's nothing",
                "i didn't mean you",
            ]}],
            "HassMediaPlayerMute": [{"domains": ["media_player"], "sentences": ["(mute|silence) <the> {name}",]}, {"sentences": [
                "(mute|silence|quiet) <the> (tv|music|speaker|sound|audio)",
                "(turn|switch) the sound off",
                "mute (it|that|everything)",
            ]}],
            "HassMediaPlayerUnmute": [{"domains": ["media_player"], "sentences": ["unmute <the> {name}",]}, {"sentences": [
                "(unmute|turn the sound back on for|turn the sound back on on) <the> (tv|music|speaker|sound|audio)",
                "(turn|switch) the sound back on",
                "unmute (it|that|everything)",
            ]}],
            "HassCancelAllTimers": [{"sentences": [
                "(cancel|kill|stop|clear|delete|scrap) (all|every) [of the|of my] timers",
                "(get rid of|turn off) all [the|my] timers",
                "no more timers (cancel|stop) them all",
            ]}],
        },
    },
}

PARAPHRASES["de"] = {
    "rules": {
        "art": "(der|die|das|den|dem|meine|meinen|unsere|unseren)",
        "im": "(im|in der|in dem|auf der|auf dem|vom|von der)",
        "mal": "[mal|bitte|doch mal|jetzt|schnell|gleich]",
        "lead": "(hey|ok|okay|äh|ähm|also|so)",
        "licht": "(licht|lichter|lampe|lampen|beleuchtung)",
        "mach": "(mach|mache|schalt|schalte|knips|dreh|stell)",
    },
    "intents": {
        "HassTurnOn": [
            {"sentences": [
                "[<lead>] <mach> <mal> <art> {name} (an|ein)",
                "[<lead>] <mach> <art> {name} <im> {area} (an|ein)",
                "<art> {name} (an|ein) [bitte]",
                "{name} an",
                "(kannst|könntest) du <mal> <art> {name} (anmachen|einschalten|anschalten|anknipsen)",
                "(aktivier|aktiviere|starte|start|wirf|schmeiß) <mal> <art> {name} [an]",
                "(ich möchte|ich hätte gern|ich will) <art> {name} (an|eingeschaltet)",
                "<art> {name} (anmachen|einschalten|anschalten) [bitte]",
                "(fahr|fahre) <art> {name} hoch",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] <mach> <mal> das <licht> <im> {area} (an|ein)",
                "<licht> (an|ein) <im> {area} [bitte]",
                "<im> {area} <licht> an",
                "<im> {area} [bitte] das <licht> (an|anmachen|einschalten)",
                "es ist (zu dunkel|so dunkel|dunkel) <im> {area}",
                "(mach|bring) (licht|mal licht|etwas licht) <im> {area}",
                "{area} <licht> an",
                "<mach> <mal> alle lichter <im> {floor} an",
            ]},
            {"domains": ["cover"], "sentences": [
                "(mach|mache) <mal> <art> {name} (auf|hoch)",
                "(fahr|zieh|roll) <mal> <art> {name} (hoch|rauf|nach oben)",
                "(öffne|öffnen) <mal> <art> {name}",
                "(rollläden|rollos|jalousien) <im> {area} (hoch|auf|rauf)",
            ]},
            {"domains": ["lock"], "sentences": [
                "(schließ|schließe|sperr) <mal> <art> {name} ab",
                "(verriegel|verriegele|verriegle) <mal> <art> {name}",
                "<art> {name} (abschließen|verriegeln|zusperren) [bitte]",
            ]},
        ],
        "HassTurnOff": [
            {"sentences": [
                "[<lead>] <mach> <mal> <art> {name} aus",
                "[<lead>] <mach> <art> {name} <im> {area} aus",
                "<art> {name} aus [bitte]",
                "{name} aus",
                "(kannst|könntest) du <mal> <art> {name} (ausmachen|ausschalten|abschalten|abdrehen)",
                "(dreh|stell) <mal> <art> {name} ab",
                "(deaktivier|deaktiviere|stopp|stoppe) <mal> <art> {name}",
                "(ich möchte|ich hätte gern|ich will) <art> {name} aus",
                "<art> {name} (ausmachen|ausschalten|abschalten) [bitte]",
                "(niemand|keiner) braucht <art> {name} (mach|schalt) (ihn|sie|es) aus",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] <mach> <mal> das <licht> <im> {area} aus",
                "<licht> aus <im> {area} [bitte]",
                "<im> {area} <licht> aus",
                "<im> {area} [bitte] das <licht> (aus|ausmachen|ausschalten)",
                "{area} <licht> aus",
                "(licht aus|lichter aus) [bitte]",
                "<mach> <mal> alle lichter <im> {floor} aus",
                "es ist (zu hell|so hell) <im> {area} mach das licht aus",
            ]},
            {"domains": ["cover"], "sentences": [
                "(mach|mache) <mal> <art> {name} zu",
                "(fahr|zieh|roll|lass) <mal> <art> {name} (runter|herunter|nach unten)",
                "(schließ|schließe) <mal> <art> {name}",
                "(rollläden|rollos|jalousien) <im> {area} (runter|zu)",
            ]},
            {"domains": ["lock"], "sentences": [
                "(schließ|schließe|sperr) <mal> <art> {name} auf",
                "(entriegel|entriegele|entriegle) <mal> <art> {name}",
                "<art> {name} (aufschließen|entriegeln|aufsperren) [bitte]",
            ]},
        ],
        "HassGetState": [
            {"domains": ["light", "switch", "fan"], "sentences": [
                "(ist|war) <art> {name} [noch|gerade] {on_off_states:state}",
                "hab ich <art> {name} {on_off_states:state} gelassen",
                "(weißt du|sag mir) ob <art> {name} [noch] {on_off_states:state} ist",
                "(schau|guck) mal ob <art> {name} {on_off_states:state} ist",
            ]},
            {"domains": ["cover"], "sentences": [
                "(ist|sind) <art> {name} [noch] {cover_states:state}",
                "(schau|guck) mal ob <art> {name} {cover_states:state} ist",
            ]},
            {"domains": ["lock"], "sentences": [
                "ist <art> {name} [noch] {lock_states:state}",
                "(schau|guck) mal ob <art> {name} {lock_states:state} ist",
            ]},
            {"sentences": [
                "(ist|brennt) <im> {area} [noch] (das|ein) licht {on_off_states:state}",
                "sind die lichter <im> {area} [noch] {on_off_states:state}",
            ]},
        ],
        "HassClimateGetTemperature": [{"sentences": [
            "wie (warm|kalt|heiß) ist es <im> {area} [gerade|jetzt]",
            "wie viel grad (hat|sind|haben wir) es <im> {area}",
            "wie viel grad sind <im> {area}",
            "(welche|was für eine) temperatur (hat es|ist|herrscht) <im> {area}",
            "(sag mir|nenn mir) die temperatur <im> {area}",
            "wie warm ist es (drinnen|hier drin|im haus)",
            "was zeigt <art> {name} an",
        ]}],
        "HassClimateSetTemperature": [{"sentences": [
            "(stell|dreh|mach) <mal> die (heizung|temperatur) <im> {area} auf {temperature} grad",
            "(mach|heiz) es <im> {area} {temperature} grad warm",
            "{temperature} grad <im> {area} [bitte]",
            "(stell|setz) <art> {name} auf {temperature} grad",
            "ich (hätte gern|möchte|will) {temperature} grad <im> {area}",
        ]}],
        "HassLightSet": [{"domains": ["light"], "sentences": [
            "(dimm|dimme|stell|mach|setz) <mal> <art> {name} auf {brightness} prozent",
            "(dimm|stell|mach) das licht <im> {area} auf {brightness} prozent",
            "{name} auf {brightness} prozent",
            "(mach|stell|färb) <art> {name} {color}",
            "(mach|stell) das licht <im> {area} (auf|in) {color}",
            "(mach|stell) <art> {name} auf {color}",
            "ich (will|möchte|hätte gern) {color}[es] licht <im> {area}",
        ]}],
        "HassStartTimer": [{"sentences": [
            "(stell|mach|starte|setz) [mir] <mal> (einen|nen|'nen) timer (auf|für|über) {timer_minutes:minutes} minute[n]",
            "timer {timer_minutes:minutes} minute[n]",
            "{timer_minutes:minutes} minute[n] timer [bitte]",
            "(stell|mach|starte) (einen|nen) timer (auf|für) {timer_hours:hours} stunde[n] [und {timer_minutes:minutes} minute[n]]",
            "(stell|mach|starte) (einen|nen) timer (auf|für) {timer_seconds:seconds} sekunde[n]",
            "(eieruhr|wecker|kurzzeitwecker) auf {timer_minutes:minutes} minute[n]",
            "sag mir in {timer_minutes:minutes} minute[n] bescheid",
            "(ich brauche|ich will) (einen|nen) timer (für|auf|über) {timer_minutes:minutes} minute[n]",
            "{timer_name:name} timer (auf|für) {timer_minutes:minutes} minute[n]",
        ]}],
        "HassCancelTimer": [{"sentences": [
            "(stopp|stoppe|lösch|lösche|beende|brich) <mal> den timer [ab]",
            "(den|der) timer (aus|abbrechen|löschen|stoppen|weg)",
            "vergiss den timer",
            "(mach|schalt) den timer aus",
            "(lösch|stopp) den {timer_name:name} timer",
        ]}],
        "HassTimerStatus": [{"sentences": [
            "wie lange (läuft|dauert) der timer noch",
            "wie viel zeit (hat|ist) (der timer|auf dem timer) noch",
            "wann (ist|klingelt) der timer [endlich] (fertig|ab|um)",
            "wie (steht|sieht) es mit dem timer aus",
            "wie lange noch (beim|auf dem) timer",
        ]}],
        "HassMediaPause": [{"sentences": [
            "(halt|pausier|pausiere) <mal> (die musik|das lied|den film|die serie|den song|das video) [an]",
            "(mach|drück) <mal> pause",
            "pause [bitte]",
            "(musik|film|song) (anhalten|pausieren) [bitte]",
        ]}],
        "HassMediaUnpause": [{"sentences": [
            "(spiel|mach) <mal> (weiter|die musik weiter)",
            "(setz|setze) (die musik|die wiedergabe|den film) fort",
            "weiter abspielen",
            "(musik|film) (weiter|fortsetzen) [bitte]",
            "(mach|drück) (wieder) play",
        ]}],
        "HassMediaNext": [{"sentences": [
            "(nächstes|nächster|das nächste) (lied|song|titel|stück)",
            "(überspring|überspringe|skip) <mal> (das|dieses|den) (lied|song|stück)",
            "(spiel|mach) <mal> das nächste (lied|stück)",
            "weiter zum nächsten (lied|song|titel)",
            "(anderes|ein anderes) lied [bitte]",
        ]}],
        "HassSetVolume": [{"sentences": [
            "(stell|mach|setz) <mal> die lautstärke auf {volume:volume_level} [prozent]",
            "lautstärke {volume:volume_level}",
            "lautstärke auf {volume:volume_level} [prozent]",
            "(stell|mach) <art> {name} auf lautstärke {volume:volume_level}",
        ]}],
        "HassShoppingListAddItem": [{"sentences": [
            "(setz|schreib|pack|tu) <mal> {shopping_list_item:item} auf die einkaufsliste",
            "wir brauchen [noch|mehr|neue|neuen] {shopping_list_item:item}",
            "(uns ist|wir haben) (kein|keine|keinen) {shopping_list_item:item} mehr",
            "{shopping_list_item:item} auf die einkaufsliste [bitte]",
            "(ich muss|wir müssen) noch {shopping_list_item:item} kaufen",
            "(notier|merk dir) {shopping_list_item:item} für den einkauf",
        ]}],
        "HassGetWeather": [{"sentences": [
            "wie ist das wetter [heute|draußen|gerade]",
            "was macht das wetter [draußen|heute]",
            "(ist es|wie ist es) draußen (kalt|warm|schön)",
            "(sag mir|wie wird) das wetter",
            "wetter [bitte]",
        ]}],
        "HassGetCurrentTime": [{"sentences": [
            "wie spät ist es [jetzt|gerade]",
            "wie viel uhr (ist es|haben wir)",
            "(sag mir|verrat mir) <mal> die uhrzeit",
            "(weißt du|kannst du mir sagen) wie spät es ist",
            "was ist die uhrzeit",
            "uhrzeit [bitte]",
        ]}],
        "HassGetCurrentDate": [{"sentences": [
            "(welcher tag|welches datum) ist heute",
            "der wievielte ist heute",
            "welches datum haben wir [heute]",
            "(was|welcher) für ein (tag|datum) ist heute",
            "(sag mir|verrat mir) <mal> das datum",
        ]}],
        "HassVacuumStart": [{"domains": ["vacuum"], "sentences": [
            "(starte|start|schick|lass) <mal> <art> {name} (los|saugen|an)",
            "<art> {name} soll [mal] (saugen|putzen|loslegen)",
            "(staubsauger|saugroboter) (an|starten|los)",
            "(saug|sauge) <mal> (die wohnung|das haus|staub)",
        ]}],
        "HassVacuumReturnToBase": [{"domains": ["vacuum"], "sentences": [
            "(schick|bring|fahr) <mal> <art> {name} (zurück|nach hause|zur ladestation|in die station)",
            "<art> {name} soll (zurück|nach hause|zur ladestation)",
            "(staubsauger|saugroboter) (zurück zur basis|nach hause|zur ladestation)",
        ]}],
        "HassNevermind": [{"sentences": [
            "(vergiss es|schon gut|egal|nichts|ach nichts|lass mal|hat sich erledigt|war nichts)",
            "(sorry|oh) (vergiss es|falscher alarm|nichts)",
        ]}],
        "HassMediaPlayerMute": [{"sentences": [
            "(mach|schalt) <mal> (den ton|die musik|den fernseher) (stumm|leise aus)",
            "ton (aus|weg)",
            "stumm(schalten| schalten| bitte)",
        ]}],
        "HassMediaPlayerUnmute": [{"sentences": [
            "(mach|schalt) <mal> den ton wieder an",
            "ton wieder an",
            "stummschaltung (aus|aufheben|weg)",
        ]}],
        "HassCancelAllTimers": [{"sentences": [
            "(lösch|stopp|beende) <mal> alle timer",
            "alle timer (aus|weg|löschen|abbrechen)",
        ]}],
    },
}

PARAPHRASES["fr"] = {
    "rules": {
        "le": "(le|la|les|l'|mon|ma|mes|notre|nos|ce|cette)",
        "dans": "(dans le|dans la|dans|du|de la|au|à la|pour le|pour la)",
        "stp": "[stp|s'il te plaît|s'il vous plaît|merci|vite|maintenant]",
        "lead": "(hé|bon|alors|euh|ok|dis|allez)",
        "lum": "(lumière|lumières|lampe|lampes|éclairage|la lumière)",
    },
    "intents": {
        "HassTurnOn": [
            {"sentences": [
                "[<lead>] (allume|allumes|démarre|lance|active|mets en marche|mets en route|branche) <le> {name} <stp>",
                "[<lead>] (allume|démarre|lance|active) <le> {name} <dans> {area} <stp>",
                "(tu peux|peux-tu|tu pourrais|pourrais-tu) (allumer|démarrer|lancer|activer) <le> {name} <stp>",
                "(allume-moi|lance-moi) <le> {name}",
                "(mets|met) <le> {name} en (marche|route)",
                "(je veux|j'aimerais|je voudrais) (allumer <le> {name}|<le> {name} allumé)",
                "{name} allumé <stp>",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] (allume|allumes|mets|rallume) <le> <lum> <dans> {area} <stp>",
                "(de la lumière|un peu de lumière|la lumière) <dans> {area} <stp>",
                "(on n'y voit rien|il fait [trop] noir|il fait sombre) <dans> {area}",
                "(allume|mets) (toutes les|les) lumières <dans> {floor}",
                "(allume|rallume) <le> {name}",
            ]},
            {"domains": ["cover"], "sentences": [
                "(ouvre|ouvres|remonte|lève|monte) <le> {name} <stp>",
                "(tu peux|peux-tu) (ouvrir|remonter|lever) <le> {name}",
                "(ouvre|remonte|monte) les (volets|stores|rideaux) <dans> {area}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(verrouille|verrouilles|ferme à clé) <le> {name} <stp>",
                "(tu peux|peux-tu) (verrouiller|fermer à clé) <le> {name}",
            ]},
        ],
        "HassTurnOff": [
            {"sentences": [
                "[<lead>] (éteins|eteins|éteint|coupe|arrête|désactive|stoppe|débranche) <le> {name} <stp>",
                "[<lead>] (éteins|coupe|arrête) <le> {name} <dans> {area} <stp>",
                "(tu peux|peux-tu|tu pourrais|pourrais-tu) (éteindre|couper|arrêter|désactiver) <le> {name} <stp>",
                "(éteins-moi|coupe-moi) <le> {name}",
                "(je veux|j'aimerais|je voudrais) (éteindre|couper) <le> {name}",
                "{name} éteint <stp>",
                "personne n'utilise <le> {name} (éteins|coupe)-le",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] (éteins|eteins|coupe) <le> <lum> <dans> {area} <stp>",
                "(lumière|lumières) (éteinte|éteintes|off) <dans> {area}",
                "(éteins|coupe) (toutes les|les) lumières <dans> {floor}",
                "(c'est trop lumineux|il y a trop de lumière) <dans> {area}",
                "(éteins|coupe) (tout|toutes les lumières) <stp>",
            ]},
            {"domains": ["cover"], "sentences": [
                "(ferme|fermes|baisse|descends|tire) <le> {name} <stp>",
                "(tu peux|peux-tu) (fermer|baisser|descendre) <le> {name}",
                "(ferme|baisse|descends) les (volets|stores|rideaux) <dans> {area}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(déverrouille|déverrouilles) <le> {name} <stp>",
                "(tu peux|peux-tu) déverrouiller <le> {name}",
            ]},
        ],
        "HassGetState": [
            {"domains": ["light", "switch", "fan"], "sentences": [
                "(est-ce que|est ce que) <le> {name} est [encore|toujours] {on_off_states:state}",
                "<le> {name} est [encore|toujours] {on_off_states:state}",
                "(j'ai|on a) laissé <le> {name} {on_off_states:state}",
                "(tu peux vérifier|dis-moi) si <le> {name} est {on_off_states:state}",
            ]},
            {"domains": ["cover"], "sentences": [
                "(est-ce que|est ce que) <le> {name} est [encore|toujours] {cover_states:state}",
                "<le> {name} est [encore|toujours] {cover_states:state}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(est-ce que|est ce que) <le> {name} est [bien] {lock_states:state}",
                "<le> {name} est [bien] {lock_states:state}",
            ]},
            {"sentences": [
                "(est-ce que|est ce que) la lumière est [encore|toujours] {on_off_states:state} <dans> {area}",
                "(il y a|y a) (une|des) lumière[s] {on_off_states:state} <dans> {area}",
            ]},
        ],
        "HassClimateGetTemperature": [{"sentences": [
            "(il fait|ça fait) combien [de degrés] <dans> {area}",
            "quelle (température|temp) (fait-il|il fait|fait il) <dans> {area}",
            "(quelle est|c'est quoi) la température <dans> {area}",
            "il fait (chaud|froid|bon) <dans> {area}",
            "combien de degrés <dans> {area}",
            "il fait combien (à l'intérieur|dans la maison|ici)",
            "(que|qu'est-ce que) (indique|affiche) <le> {name}",
        ]}],
        "HassClimateSetTemperature": [{"sentences": [
            "(mets|règle|monte|baisse) (le chauffage|la température|le thermostat|la clim) <dans> {area} (à|sur) {temperature} [degrés]",
            "(chauffe|fais chauffer) <dans> {area} à {temperature} [degrés]",
            "{temperature} degrés <dans> {area} <stp>",
            "(mets|règle) <le> {name} (à|sur) {temperature} [degrés]",
            "je (veux|voudrais) {temperature} degrés <dans> {area}",
        ]}],
        "HassLightSet": [{"domains": ["light"], "sentences": [
            "(mets|règle|tamise|baisse|monte) <le> {name} à {brightness} (pour cent|%|pourcent)",
            "(mets|règle|baisse|monte) la lumière <dans> {area} à {brightness} (pour cent|%)",
            "{name} à {brightness} (pour cent|%)",
            "(mets|passe) <le> {name} en {color}",
            "(mets|passe) la lumière <dans> {area} en {color}",
            "(je veux|je voudrais) une lumière {color} <dans> {area}",
        ]}],
        "HassStartTimer": [{"sentences": [
            "(mets|lance|démarre|programme|mets-moi|lance-moi) un (minuteur|timer|compte à rebours|chrono) (de|pour) {timer_minutes:minutes} minute[s]",
            "(minuteur|timer) {timer_minutes:minutes} minute[s]",
            "{timer_minutes:minutes} minute[s] de minuteur",
            "(mets|lance) un (minuteur|timer) (de|pour) {timer_hours:hours} heure[s] [et {timer_minutes:minutes} minute[s]]",
            "(mets|lance) un (minuteur|timer) (de|pour) {timer_seconds:seconds} seconde[s]",
            "préviens-moi dans {timer_minutes:minutes} minute[s]",
            "(compte|décompte) {timer_minutes:minutes} minute[s]",
            "(j'ai besoin d'|je veux) un minuteur de {timer_minutes:minutes} minute[s]",
            "minuteur {timer_name:name} (de|pour) {timer_minutes:minutes} minute[s]",
        ]}],
        "HassCancelTimer": [{"sentences": [
            "(annule|arrête|supprime|coupe|stoppe|efface) <le> (minuteur|timer|compte à rebours)",
            "(oublie|laisse tomber) le minuteur",
            "(plus besoin du|pas besoin du) minuteur",
            "(annule|arrête|supprime) le minuteur (du|de la|des) {timer_name:name}",
        ]}],
        "HassTimerStatus": [{"sentences": [
            "(combien de temps|il reste combien de temps|combien de temps il reste) (sur|au|pour) <le> (minuteur|timer)",
            "(il en est où|où en est) le (minuteur|timer)",
            "(quand|dans combien de temps) (sonne|se termine|finit) le (minuteur|timer)",
            "(reste combien|il reste combien) [de temps] <stp>",
        ]}],
        "HassMediaPause": [{"sentences": [
            "(mets|met) (en pause|pause) [la musique|le film|la série|la vidéo|la chanson]",
            "(pause|pause la musique|pause le film) <stp>",
            "(arrête|stoppe) (la musique|le film) (une seconde|un instant|deux secondes)",
        ]}],
        "HassMediaUnpause": [{"sentences": [
            "(reprends|relance|remets|continue|reprend) (la musique|le film|la lecture|la série|la vidéo)",
            "(reprends|continue) la lecture",
            "(remets|relance) la musique <stp>",
            "(tu peux reprendre|reprise) [la lecture|la musique]",
        ]}],
        "HassMediaNext": [{"sentences": [
            "(chanson|morceau|titre|piste) suivant[e] <stp>",
            "(passe|zappe|saute) (à la suivante|au suivant|cette chanson|ce morceau|ce titre)",
            "(mets|joue) (la chanson suivante|le morceau suivant|le titre suivant)",
            "(suivant|la suivante|au suivant) <stp>",
            "j'aime pas (cette chanson|ce morceau) (passe|suivant)",
        ]}],
        "HassSetVolume": [{"sentences": [
            "(mets|règle|monte|baisse) le (volume|son) à {volume:volume_level} [pour cent|%]",
            "(volume|son) à {volume:volume_level} [pour cent|%]",
            "(mets|règle) le volume <le> {name} à {volume:volume_level}",
        ]}],
        "HassShoppingListAddItem": [{"sentences": [
            "(ajoute|mets|rajoute|note|inscris) {shopping_list_item:item} (à|sur|dans) la liste (de courses|des courses)",
            "(il faut|faut) (acheter|racheter|reprendre) {shopping_list_item:item}",
            "(on n'a plus|il n'y a plus|y a plus) de {shopping_list_item:item}",
            "{shopping_list_item:item} sur la liste de courses <stp>",
            "(n'oublie pas|pense à) (le|la|les|de prendre) {shopping_list_item:item}",
        ]}],
        "HassGetWeather": [{"sentences": [
            "(quel temps (fait-il|il fait|fait il)|il fait quel temps) [dehors|aujourd'hui]",
            "(c'est quoi|quelle est) la météo [aujourd'hui|du jour]",
            "(il fait|fait-il) (beau|froid|chaud) dehors",
            "(donne-moi|dis-moi) la météo",
            "météo <stp>",
        ]}],
        "HassGetCurrentTime": [{"sentences": [
            "(quelle heure est-il|quelle heure il est|il est quelle heure) [maintenant]",
            "(t'as|tu as|vous avez) l'heure",
            "(dis-moi|donne-moi|tu peux me dire) l'heure",
            "(c'est quelle heure|l'heure) <stp>",
        ]}],
        "HassGetCurrentDate": [{"sentences": [
            "(on est|nous sommes) (quel jour|le combien|quelle date) [aujourd'hui]",
            "(quelle est|c'est quoi) la date [d'aujourd'hui|aujourd'hui]",
            "(quel jour|quelle date) (on est|sommes-nous|est-on) [aujourd'hui]",
            "(dis-moi|donne-moi) la date",
        ]}],
        "HassVacuumStart": [{"domains": ["vacuum"], "sentences": [
            "(lance|démarre|allume|mets en route) <le> {name} <stp>",
            "(passe|lance) l'aspirateur [partout|dans la maison]",
            "(fais|fait) le ménage avec <le> {name}",
        ]}],
        "HassVacuumReturnToBase": [{"domains": ["vacuum"], "sentences": [
            "(renvoie|ramène|remets|renvoies) <le> {name} (à sa base|à la base|sur sa base|à la station|à la maison)",
            "<le> {name} (retourne|rentre) à (la|sa) base",
            "(renvoie|ramène) l'aspirateur (à sa base|à la base)",
        ]}],
        "HassNevermind": [{"sentences": [
            "(laisse tomber|oublie|oublie ça|rien|c'est rien|pas grave|non rien|annule ça|tant pis)",
            "(désolé|pardon) (c'est rien|laisse tomber|je parlais pas à toi)",
        ]}],
        "HassMediaPlayerMute": [{"sentences": [
            "(coupe|mets en sourdine|mets sur muet) (le son|la télé|la musique)",
            "(sourdine|muet|silence) <stp>",
        ]}],
        "HassMediaPlayerUnmute": [{"sentences": [
            "(remets|rétablis) le son",
            "(enlève|retire) (la sourdine|le mode muet)",
        ]}],
        "HassCancelAllTimers": [{"sentences": [
            "(annule|arrête|supprime|efface) (tous les|tous mes) (minuteurs|timers)",
            "plus aucun minuteur",
        ]}],
    },
}

PARAPHRASES["es"] = {
    "rules": {
        "el": "(el|la|los|las|mi|mis|nuestro|nuestra|ese|esa|este|esta)",
        "de": "(de|del|de la|en|en el|en la)",
        "pf": "[por favor|porfa|porfis|ya|ahora|rápido]",
        "lead": "(oye|oiga|eh|bueno|vale|venga|a ver|ey)",
        "luz": "(luz|luces|lámpara|lámparas)",
    },
    "intents": {
        "HassTurnOn": [
            {"sentences": [
                "[<lead>] (enciende|prende|prendé|encendé|pon|activa|conecta|arranca) <el> {name} <pf>",
                "[<lead>] (enciende|prende|pon|activa) <el> {name} <de> {area} <pf>",
                "(puedes|podrías|me puedes) (encender|prender|poner|activar|conectar) <el> {name} <pf>",
                "(enciéndeme|préndeme|ponme) <el> {name}",
                "(quiero|necesito) <el> {name} (encendido|encendida|prendido|prendida)",
                "{name} (encendido|encendida|on) <pf>",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] (enciende|prende|pon|dame|da) <el> <luz> <de> {area} <pf>",
                "(luz|luces) <de> {area} <pf>",
                "(no se ve nada|está muy oscuro|está oscuro) <de> {area}",
                "(enciende|prende) todas las luces <de> {floor}",
                "(enciende|prende|dale a) <el> {name}",
            ]},
            {"domains": ["cover"], "sentences": [
                "(abre|sube|levanta) <el> {name} <pf>",
                "(puedes|podrías) (abrir|subir|levantar) <el> {name}",
                "(abre|sube) las (persianas|cortinas|contraventanas) <de> {area}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(cierra con llave|echa la llave a|bloquea|echa el cerrojo a) <el> {name} <pf>",
                "(puedes|podrías) (cerrar con llave|bloquear) <el> {name}",
            ]},
        ],
        "HassTurnOff": [
            {"sentences": [
                "[<lead>] (apaga|apagá|desconecta|desactiva|para|quita|corta) <el> {name} <pf>",
                "[<lead>] (apaga|desconecta|desactiva) <el> {name} <de> {area} <pf>",
                "(puedes|podrías|me puedes) (apagar|desconectar|desactivar|quitar) <el> {name} <pf>",
                "(apágame|quítame) <el> {name}",
                "(quiero|necesito) <el> {name} (apagado|apagada)",
                "{name} (apagado|apagada|off) <pf>",
                "nadie está usando <el> {name} apágalo",
            ]},
            {"domains": ["light"], "sentences": [
                "[<lead>] (apaga|quita|corta) <el> <luz> <de> {area} <pf>",
                "(luz|luces) fuera <de> {area}",
                "(apaga|quita) todas las luces <de> {floor}",
                "(hay demasiada luz|está muy iluminado) <de> {area} apaga las luces",
                "(apaga|apágalo) todo <pf>",
            ]},
            {"domains": ["cover"], "sentences": [
                "(cierra|baja|echa) <el> {name} <pf>",
                "(puedes|podrías) (cerrar|bajar) <el> {name}",
                "(cierra|baja) las (persianas|cortinas|contraventanas) <de> {area}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(desbloquea|quita el cerrojo a) <el> {name} <pf>",
                "(puedes|podrías) desbloquear <el> {name}",
            ]},
        ],
        "HassGetState": [
            {"domains": ["light", "switch", "fan"], "sentences": [
                "(está|sigue) [todavía] {on_off_states:state} <el> {name}",
                "<el> {name} (está|sigue) [todavía] {on_off_states:state}",
                "(dejé|dejamos) <el> {name} {on_off_states:state}",
                "(puedes mirar|dime) si <el> {name} está {on_off_states:state}",
            ]},
            {"domains": ["cover"], "sentences": [
                "(está|sigue) {cover_states:state} <el> {name}",
                "<el> {name} (está|sigue) {cover_states:state}",
            ]},
            {"domains": ["lock"], "sentences": [
                "(está|sigue) {lock_states:state} <el> {name}",
                "<el> {name} (está|sigue) {lock_states:state}",
            ]},
            {"sentences": [
                "(está|están|sigue|siguen) {on_off_states:state} (la luz|las luces) <de> {area}",
                "(hay|queda) alguna luz {on_off_states:state} <de> {area}",
            ]},
        ],
        "HassClimateGetTemperature": [{"sentences": [
            "(qué|cuánta) temperatura hace <de> {area}",
            "(cuántos grados|a cuántos grados estamos) (hay|hace) <de> {area}",
            "(cuántos grados|a cuántos grados estamos) <de> {area}",
            "(cuál es|dime) la temperatura <de> {area}",
            "hace (calor|frío) <de> {area}",
            "qué temperatura hace (dentro|en casa|aquí)",
            "qué marca <el> {name}",
        ]}],
        "HassClimateSetTemperature": [{"sentences": [
            "(pon|sube|baja|ajusta) (la calefacción|el termostato|el aire|la temperatura) <de> {area} a {temperature} [grados]",
            "(calienta|enfría) <de> {area} a {temperature} [grados]",
            "{temperature} grados <de> {area} <pf>",
            "(pon|ajusta) <el> {name} a {temperature} [grados]",
            "(quiero|necesito) {temperature} grados <de> {area}",
        ]}],
        "HassLightSet": [{"domains": ["light"], "sentences": [
            "(pon|baja|sube|ajusta|atenúa) <el> {name} al {brightness} (por ciento|%)",
            "(pon|baja|sube) la luz <de> {area} al {brightness} (por ciento|%)",
            "{name} al {brightness} (por ciento|%)",
            "(pon|cambia) <el> {name} (en|a|de color) {color}",
            "(pon|cambia) la luz <de> {area} (en|a|de color) {color}",
            "(quiero|necesito) luz {color} <de> {area}",
        ]}],
        "HassStartTimer": [{"sentences": [
            "(pon|ponme|programa|inicia|empieza|activa) un (temporizador|timer|contador) de {timer_minutes:minutes} minuto[s]",
            "(temporizador|timer) (de|para) {timer_minutes:minutes} minuto[s]",
            "{timer_minutes:minutes} minuto[s] de temporizador",
            "(pon|ponme) un (temporizador|timer) de {timer_hours:hours} hora[s] [y {timer_minutes:minutes} minuto[s]]",
            "(pon|ponme) un (temporizador|timer) de {timer_seconds:seconds} segundo[s]",
            "(avísame|dime) en {timer_minutes:minutes} minuto[s]",
            "cuenta {timer_minutes:minutes} minuto[s]",
            "(necesito|quiero) un temporizador de {timer_minutes:minutes} minuto[s]",
            "temporizador (de|para) {timer_name:name} de {timer_minutes:minutes} minuto[s]",
        ]}],
        "HassCancelTimer": [{"sentences": [
            "(cancela|quita|borra|elimina|anula|apaga) <el> (temporizador|timer|contador)",
            "(olvida|olvídate de) el temporizador",
            "ya no (hace falta|necesito) el temporizador",
            "(cancela|quita|borra) el temporizador (de|del|de la) {timer_name:name}",
        ]}],
        "HassTimerStatus": [{"sentences": [
            "cuánto [tiempo] (le queda|queda|falta) (al|en el|para el) (temporizador|timer)",
            "(cómo va|cómo vamos con) el temporizador",
            "(cuándo|en cuánto) (suena|termina|acaba) el temporizador",
            "cuánto (queda|falta) <pf>",
        ]}],
        "HassMediaPause": [{"sentences": [
            "(pausa|pon en pausa|pausá) (la música|la canción|la peli|la película|la serie|el vídeo)",
            "(pausa|pon pausa) <pf>",
            "(para|detén) (la música|la peli) un (momento|segundo)",
        ]}],
        "HassMediaUnpause": [{"sentences": [
            "(sigue|continúa|reanuda|vuelve a poner) (la música|la canción|la peli|la película|la serie|la reproducción)",
            "(sigue|continúa|dale) (reproduciendo|tocando|con la música)",
            "(quita la pausa|dale al play|play otra vez) <pf>",
        ]}],
        "HassMediaNext": [{"sentences": [
            "(siguiente|próxima) (canción|pista|tema) <pf>",
            "(pasa|salta|cambia) (a la siguiente|esta canción|este tema|de canción)",
            "(pon|ponme) (la siguiente|la próxima) (canción|pista)",
            "no me gusta (esta canción|este tema) (pasa|siguiente)",
        ]}],
        "HassSetVolume": [{"sentences": [
            "(pon|sube|baja|ajusta) el volumen (a|al) {volume:volume_level} [por ciento|%]",
            "volumen (a|al) {volume:volume_level} [por ciento|%]",
            "(pon|ajusta) el volumen <de> {name} al {volume:volume_level}",
        ]}],
        "HassShoppingListAddItem": [{"sentences": [
            "(añade|apunta|pon|agrega|mete|anota) {shopping_list_item:item} (a|en) la lista de la compra",
            "(hay que|tengo que|tenemos que) comprar {shopping_list_item:item}",
            "(no queda|se acabó|se acabaron|no hay) {shopping_list_item:item}",
            "{shopping_list_item:item} a la lista de la compra <pf>",
            "(que no se me olvide|recuérdame) comprar {shopping_list_item:item}",
        ]}],
        "HassGetWeather": [{"sentences": [
            "(qué tiempo hace|qué tal el tiempo|cómo está el tiempo|cómo está el clima|qué clima hace) [hoy|fuera|afuera|ahora]",
            "(hace|está haciendo) (frío|calor|buen tiempo) (fuera|afuera)",
            "(dime|dame) el (tiempo|clima|pronóstico del tiempo)",
            "el tiempo <pf>",
        ]}],
        "HassGetCurrentTime": [{"sentences": [
            "(qué hora es|qué hora tenemos|qué horas son) [ahora|ya]",
            "(tienes|tiene) hora",
            "(me dices|dime|me das) la hora <pf>",
            "(sabes|puedes decirme) qué hora es",
            "la hora <pf>",
        ]}],
        "HassGetCurrentDate": [{"sentences": [
            "(qué día es|qué fecha es|a qué estamos|a cuánto estamos) hoy",
            "(qué día es|qué fecha es) <pf>",
            "(dime|me dices) la fecha [de hoy]",
            "en qué (día|fecha) estamos",
        ]}],
        "HassVacuumStart": [{"domains": ["vacuum"], "sentences": [
            "(enciende|pon|arranca|inicia|activa) <el> {name} <pf>",
            "(pasa|pon) la aspiradora [por toda la casa|por la casa]",
            "que <el> {name} (limpie|aspire|se ponga a limpiar)",
        ]}],
        "HassVacuumReturnToBase": [{"domains": ["vacuum"], "sentences": [
            "(manda|devuelve|lleva|envía) <el> {name} a (la base|su base|cargar|casa)",
            "que <el> {name} (vuelva|regrese) a (la base|su base|cargar)",
            "(manda|devuelve) la aspiradora a (la base|su base)",
        ]}],
        "HassNevermind": [{"sentences": [
            "(olvídalo|déjalo|nada|da igual|no importa|no era nada|olvida eso|no pasa nada)",
            "(perdón|lo siento) (no era para ti|olvídalo|nada)",
        ]}],
        "HassMediaPlayerMute": [{"sentences": [
            "(silencia|quita el sonido de|mutea) (la tele|la música|el altavoz)",
            "(silencio|sin sonido|mute) <pf>",
        ]}],
        "HassMediaPlayerUnmute": [{"sentences": [
            "(vuelve a poner|devuelve|pon) el sonido",
            "(quita el silencio|desmutea|activa el sonido)",
        ]}],
        "HassCancelAllTimers": [{"sentences": [
            "(cancela|quita|borra|elimina) todos (los|mis) temporizadores",
            "fuera todos los temporizadores",
        ]}],
    },
}


def templates(lang: str) -> list:
    """Our paraphrase templates for ``lang`` as edge.train.home :class:`Template` objects
    (ids ``para/<intent>/<block>/<line>``), only for intents Home Assistant has in ``lang``."""
    from hassil.intents import Intents
    from home_assistant_intents import get_intents

    from edge.train.home import Template

    spec = PARAPHRASES.get(lang)
    if not spec:
        return []
    have = set((get_intents(lang) or {}).get("intents", {}))
    data = {"language": lang, "expansion_rules": spec["rules"],
            "intents": {i: {"data": [{"sentences": b["sentences"],
                                      **({"requires_context": {"domain": b["domains"]}}
                                         if b.get("domains") else {})} for b in blocks]}
                        for i, blocks in spec["intents"].items() if i in have}}
    parsed = Intents.from_dict(data)
    out = []
    for name, intent in parsed.intents.items():
        for b, block in enumerate(intent.data):
            dom = (block.requires_context or {}).get("domain") or ()
            dom = tuple(dom) if isinstance(dom, (list, tuple)) else (dom,)
            for k, (sent, text) in enumerate(zip(block.sentences, block.sentence_texts)):
                t = Template(f"para/{name}/{b}/{k}", name, text, sent, dict(parsed.expansion_rules), {}, dom)
                t.lists = {}  # type: ignore[attr-defined]
                out.append(t)
    return out


def generate(lang: str, per_template: int, seed: int,
             exclude: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """(marked text, intent, template id) rows: ``per_template`` distinct sentences sampled from
    each paraphrase template of ``lang`` (fewer where a template has fewer), a quarter with one of
    Home Assistant's skip words, as edge/train/home.py does for its templates.

    ``exclude``: marked sentences never to yield (compared as the model sees them): the recipe
    passes the template holdout, so a common phrase we wrote that is also a held-out template's
    sentence ("olvídalo") does not hand the holdout its answer."""
    from edge.markup import parse
    from edge.model import normalize_text
    from edge.train import home

    if per_template <= 0:
        return []
    L = home._Lang(lang)
    rng = random.Random(f"{seed}/{lang}/paraphrases")
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    banned = {normalize_text(parse(m)[0]) for m in exclude}
    for t in templates(lang):
        got = 0
        for _ in range(per_template * 4):   # duplicates are likely for small templates
            if got >= per_template:
                break
            plain, spans = home.sample(t, L, rng)
            if rng.random() < home.POLITE_SHARE:
                plain, spans = home._polite(plain, spans, L.intents.skip_words, rng)
            key = plain.lower()
            if not plain or key in seen:
                continue
            seen.add(key)
            if normalize_text(plain) in banned:
                continue
            rows.append((render(plain, spans), t.intent, t.id))
            got += 1
    return rows
