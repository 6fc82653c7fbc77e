"""On or off? The words said must not say only the opposite of the reply (issue 22: polarity never flips).

edge/names_schema.py `polarity_misfit` checks locks, covers and valves, whose "open" and "close" are
their own. Every other on/off reply (lights, fans, switches, media players, climate, scripts, ...) is
checked here against the words Home Assistant's own HassTurnOn / HassTurnOff templates use: `ONOFF_WORDS`,
per language, the tokens one side's sampled sentences use and the other side's never do. A reply is
refused when the words said (names, areas and floors blanked: "Lower Hall Light" says no verb) hold a
token only the opposite side uses and none only its own side uses: "das drucker vom unten aufschalten" read
as HassTurnOff says "aufschalten" (only HA's on templates) and nothing of the off templates.

Words that are also prepositions, articles or particles ("on the porch", "aus der Küche", "auf der
Terrasse", "ein Licht") are no evidence on their own: such a word is read in its context, as two tokens,
"<previous word>>word" and "word<<what follows>" (the end, a name, a function word, another word). "turn
on" is "turn>on" (only on templates), "the lights on the porch" is "lights>on" + "on<f" (both sides: HA's
off templates say "on the first floor"), "das Licht aus" is "aus<$" (only off templates), "aus der Küche"
is "aus<f" (neither). A context the templates do not have says nothing: refused is only what the
templates' own words contradict, never what they do not cover.

How `ONOFF_WORDS` was made (home-assistant-intents 2026.12.1, hassil, edge/train/home.py's sampler; the
same method as edge/train/home_schema.py `polarity_words`, which gives locks only): for each language,
every HassTurnOn / HassTurnOff template whose block names a domain other than lock, cover and valve, 60
sentences each (seed "13/<lang>/onoff"), every slot replaced by a name marker, `tokens` of each; a token
is a side's when it is in at least 2% of that side's sentences and in none of the other side's. Words
that are only the template's filler, not its verb, are dropped (`_NOT_VERBS`: "everywhere", "partout",
"jour", "et"): they mark one side in HA's templates by accident, and a paraphrase saying "turn on the
lights everywhere" must not be refused for them. tests/test_home_polarity.py re-derives the table when
hassil is installed and compares.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["MUTE_WORDS", "ONOFF_WORDS", "OWN_DOMAINS", "mute_misfit", "onoff_misfit", "tokens"]

# Domains whose open/close words edge.names_schema.polarity_misfit reads ("open" a lock is HassTurnOff).
OWN_DOMAINS = frozenset({"lock", "cover", "valve"})
SLOT = "xslotx"  # a blanked name, area, floor or device class: a word edge.names_schema.word_list keeps

# Particles that are also prepositions or articles, read in context (`tokens`); the language's other
# determiners, locatives and connectors (edge.names_lang) are left out of the tokens.
_PARTICLES: Mapping[str, frozenset[str]] = MappingProxyType({
    "en": frozenset("on off up out down over".split()),
    "de": frozenset("an aus auf ab zu ein".split()),
    "fr": frozenset({"en"}),
    "es": frozenset({"en"}),
})
# Words of HA's on/off templates that are no verb nor particle, and that one side happens to use
# (measured in the derivation above; each dropped by hand, the reason in `__doc__`).
_NOT_VERBS: Mapping[str, frozenset[str]] = MappingProxyType({
    "en": frozenset("everywhere over transition scene".split()),
    "de": frozenset("oben unten szene skript".split()),
    "fr": frozenset("jour jours nuit nuits partout completement entierement totalement et ici meme ou piece endroit "
                    "ventilateur ventilo brasseur".split()),
    "es": frozenset(),
})

# (HassTurnOn's tokens, HassTurnOff's tokens) per language, as the derivation in `__doc__` gives them.
_ONOFF: Mapping[str, tuple[str, str]] = {
    "en": (
        "activate bring>on change>on floor>on light>up on<$ switch>on to>on turn>on up<$ up<_ up<f",
        "_>off bring>off change>off change>out deactivate fan>off fans>off lamp>off lamps>off lamps>out "
        "light>off light>out lighting>off lights>off lights>out off<$ off<_ off<f off<w out<$ out<f out<w "
        "switch>off to>off turn>off turn>out"),
    "de": (
        "_>ein aktivier aktiviere aktivieren an<$ anmachen anschalten auf<$ aufdrehen aufschalten ein<$ "
        "einmachen einschalten s>an starte",
        "_>ab _>aus _>zu ab<$ abdrehen abmachen abschalten aus<$ ausmachen ausschalten beleuchtung>ab "
        "beleuchtung>aus deaktivier deaktiviere deaktivieren geschoss>ab geschoss>aus lufter>ab lufter>aus s>ab "
        "s>aus stoppe ventilator>aus ventilatoren>aus zu<$ zumachen zuschalten"),
    "fr": (
        "active activer allume allumer demarre demarrer eclaire eclairer illumine illuminer ouvre ouvrir",
        "arrete arreter coupe couper desactive desactiver eteindre eteins eteint ferme fermer stoppe stopper"),
    "es": (
        "activa activar active conecta conectar conecte encenda encende encender encienda enciende enciender "
        "prenda prende prender",
        "apaga apagar apague desactiva desactivar desactive desconecta desconectar desconecte"),
}
ONOFF_WORDS: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType({
    lang: MappingProxyType({"HassTurnOn": frozenset(on.split()), "HassTurnOff": frozenset(off.split())})
    for lang, (on, off) in _ONOFF.items()})


def _function_words(lang: str) -> frozenset[str]:
    from edge.names_lang import LANGUAGES

    language = LANGUAGES.get(lang)
    if language is None:
        return frozenset()
    return frozenset({p[0] for group in (language.determiners, language.locatives, language.connectors)
                      for p in group if len(p) == 1 and "'" not in p[0]} | {e.strip("'") for e in language.elisions})


def tokens(text: str, lang: str) -> list[str]:
    """The tokens of `text` (names already replaced by `SLOT` words) the polarity lists are made of: a word
    folded as edge.names_schema.words folds it, or, for a word that is also a preposition, article or
    particle (`_PARTICLES`), "<previous>>word" and "word<<next>" ("$" the end, "_" a name, "f" a function word,
    "w" another; "_" also for a name before it). The language's other articles and prepositions say nothing
    alone and are left out."""
    from edge.names_schema import word_list

    ws = word_list(text)
    particles = _PARTICLES.get(lang, frozenset())
    fn = _function_words(lang) | particles
    out: list[str] = []
    for i, w in enumerate(ws):
        if w == SLOT or (w in fn and w not in particles):  # an article or preposition alone says nothing
            continue
        if w not in particles:
            out.append(w)
            continue
        nxt = ws[i + 1] if i + 1 < len(ws) else None
        if i > 0 and ws[i - 1] not in fn:  # after a verb or a name; after "the" or first, it says nothing
            out.append(f"{'_' if ws[i - 1] == SLOT else ws[i - 1]}>{w}")
        out.append(f"{w}<{'$' if nxt is None else '_' if nxt == SLOT else 'f' if nxt in fn else 'w'}")
    return out


def blank(text: str, found: Iterable[Mapping[str, Any]]) -> str:
    """`text` with the spans of names, areas, floors and device classes replaced by `SLOT` words, as the
    derivation replaced every slot of HA's templates."""
    spans = sorted(((s["start"], s["end"]) for s in found
                    if s.get("name") in ("name", "area", "floor", "device_class")
                    and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)
                    and 0 <= s["start"] < s["end"] <= len(text)), reverse=True)
    for a, b in spans:
        text = text[:a] + f" {SLOT} " + text[b:]
    return text


def onoff_misfit(intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
                 domains: Iterable[str]) -> str | None:
    """Why an on/off reply whose targets are of `domains` (none of them a lock, cover or valve: those are
    edge.names_schema.polarity_misfit's) is said the other way round, or None. `text` as said, `found` the
    spans the decision used (their names are blanked)."""
    if intent not in ("HassTurnOn", "HassTurnOff"):
        return None
    table = ONOFF_WORDS.get(lang)
    doms = set(domains)
    if table is None or doms & OWN_DOMAINS:
        return None
    other = "HassTurnOff" if intent == "HassTurnOn" else "HassTurnOn"
    said = set(tokens(blank(text, found), lang))
    against = sorted(said & table[other])
    if against and not said & table[intent]:
        return f"the words say {other} ({', '.join(against[:3])})"
    return None


# The tokens of HA's HassMediaPlayerMute / HassMediaPlayerUnmute sentences that no HassTurnOn / HassTurnOff
# sentence has, kind words left out ("son", "sonido", "stumm", "mute"; made as `ONOFF_WORDS`, seed
# "13/<lang>/mute", every such token however rare: a reply must say one). HA's mute templates use on/off
# verbs too ("éteins le son", "enciende el sonido"): the verb alone cannot part them, the sound's word does.
_MUTE: Mapping[str, str] = {
    "en": (
        "item media media>on movie music music>on mute player>on players>on show shows song track unmute"),
    "de": (
        "aufheben entmut entmute entmuten fernseher>auf fernsehsendung fernsehsendung>auf heb hebe laut musik "
        "musik>auf mute muten radio radio>auf schalten sendung sendung>auf stell stelle stumm stummschalten "
        "stummschaltung stummschaltung>an stummschaltung>auf stummschaltung>aus stummschaltung>ein ton ton>an "
        "ton>aus ton>ein wieder"),
    "fr": (
        "_>en charrue en<w enleve enlever mais maitre mets mettre passe passer relance relancer remets remettre "
        "reprend reprendre reprends reprise retranche retrancher son son>en sourdine soustraire soustrais "
        "soustrait volume volume>en watt watt>en watts watts>en"),
    "es": (
        "audio audio>en devuelva devuelve musica musica>en pon pon>en reproduccion reproduccion>en "
        "reproductor>en reproductores>en restaura restaure silencia silenciar silencie silencio silencio>en "
        "sonido sonido>en volumen volumen>en"),
}
MUTE_WORDS: Mapping[str, frozenset[str]] = MappingProxyType({lang: frozenset(ws.split()) for lang, ws in _MUTE.items()})
_MUTE_INTENTS = frozenset({"HassMediaPlayerMute", "HassMediaPlayerUnmute"})


def mute_misfit(intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a (un)mute reply is an on/off command misread, or None: the words say an on/off verb
    (`ONOFF_WORDS`, either side) and nothing only HA's mute templates say ("arrête la télé" read as
    HassMediaPlayerMute, "enciende la tele" as HassMediaPlayerUnmute: HA switches the TV off / on).
    "silence the tv", which says no on/off verb, is left to the model."""
    table, own = ONOFF_WORDS.get(lang), MUTE_WORDS.get(lang)
    if intent not in _MUTE_INTENTS or table is None or own is None:
        return None
    said = set(tokens(blank(text, found), lang))
    verbs = sorted(said & (table["HassTurnOn"] | table["HassTurnOff"]))
    if verbs and not said & own:
        return f"an on/off verb ({verbs[0]}) and no word of {intent}"
    return None


def command_said(lang: str, text: str, found: Sequence[Mapping[str, Any]]) -> str | None:
    """The on/off, open or close word the text says outside the spans of names ("turn>off" in "in 11 seconds turn
    off the desk lamp", "cierra" in "cierra la puerta del garaje en un minuto"), or None: HA's HassStartTimer
    templates say such a command only as the `conversation_command` run when the timer ends, so a timer reply
    without one has dropped it. Cover and valve words that are also particles ("up", "zu") are not read alone."""
    from edge.names_lang import POLARITY_WORDS

    table = ONOFF_WORDS.get(lang)
    if table is None:
        return None
    words = set(table["HassTurnOn"] | table["HassTurnOff"])
    skip = _PARTICLES.get(lang, frozenset()) | _function_words(lang)
    for sides in (POLARITY_WORDS.get(lang) or {}).values():
        words |= {w for side in sides.values() for w in side if w not in skip}
    from edge.home_freetext import VOCAB

    timer = VOCAB.get((lang, "timer"), frozenset())  # "starte einen Timer", "stelle ... ein": the timer's own words
    said = [t for t in tokens(blank(text, found), lang) if t in words and not _timers(t, timer)]
    return said[0] if said else None


def _timers(token: str, timer: frozenset[str]) -> bool:
    """Is the token a word HA's timer templates say ("starte", "stelle ... *ein*")? A particle after another word
    is the other word's ("turn>off": "turn" is no timer word, though "off" is: "take 5 minutes off")."""
    if ">" in token:
        return token.split(">")[0] in timer
    return token.split("<")[0] in timer
