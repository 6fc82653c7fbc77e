"""Per-language words for name resolution: determiners, place connectors and domain words.

The cover classes follow Home Assistant's `cover_classes` list of each language (home-assistant-intents
2026.12.1): "Beschattung" is an awning, "Schirm" and "estor" a shade, "veneciana" a shutter.

Data only, read by edge/names.py. Every word is written in its normalised form
(lower case, no accents, no apostrophes except the elided French/Italian
articles, which the tokenizer splits off as their own token: "l'entree" ->
"l'", "entree"). A domain word maps to Home Assistant's domain and, where the
word says more than the domain ("blinds", "garage door", "tv"), its device
class; plurals are listed with their singulars because plural rules for
these few words are irregular in every language ("Rollläden", "rideaux",
"luces"), and a generic suffix rule (`plural_suffixes`) catches the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

DomainClass = tuple[str, str | None]  # (domain, device_class or None)


@dataclass(frozen=True)
class Language:
    """What one language needs for resolution. Word sequences are tuples of tokens."""

    code: str
    determiners: tuple[tuple[str, ...], ...]  # stripped from the front of any span, repeatedly
    locatives: tuple[tuple[str, ...], ...]  # stripped from the front of an area/floor span ("in the")
    connectors: tuple[tuple[str, ...], ...]  # between a domain word and a place ("lights in the", "luces de la")
    domain_words: Mapping[str, DomainClass]  # "lights" -> ("light", None); multi-word keys joined by spaces
    plural_suffixes: tuple[str, ...] = ()
    elisions: tuple[str, ...] = ()  # "l'", "d'": split off a token's front by the tokenizer
    compounds: bool = False  # German: "wohnzimmerlampe" = "wohnzimmer" + "lampe"
    compound_links: tuple[str, ...] = field(default=())  # "kuchen|lampe" -> "kuche" (drop the linking n)
    numbers: Mapping[str, str] = field(default_factory=dict)  # "two" -> "2", so "Lamp 2" = "lamp two"
    quantifiers: frozenset[str] = frozenset()  # "all": a bare domain word may then mean every one of them


def _numbers(words: str) -> Mapping[str, str]:
    """"zero one two ..." -> {"zero": "0", "one": "1", ...}; a "|" gives a number several words."""
    return MappingProxyType({w: str(i) for i, ws in enumerate(words.split()) for w in ws.split("|")})


def _words(table: dict[DomainClass, str]) -> Mapping[str, DomainClass]:
    """{(domain, class): "word word2 ..."} written the readable way round -> word -> (domain, class)."""
    out: dict[str, DomainClass] = {}
    for target, words in table.items():
        for w in words.split("|"):
            w = w.strip()
            if w in out and out[w] != target:
                raise ValueError(f"domain word {w!r} listed for {out[w]} and {target}")
            out[w] = target
    return MappingProxyType(out)


def _seq(*phrases: str) -> tuple[tuple[str, ...], ...]:
    # Longest first, so "all the" is stripped whole before "all" could be.
    return tuple(sorted((tuple(p.split()) for p in phrases), key=len, reverse=True))


# Home Assistant's own domain ids and device classes are accepted in every language:
# the model may have learned the slot value in that form, and the cloud answers with it.
_HA_DOMAINS = (
    "light", "fan", "cover", "lock", "switch", "climate", "media_player", "vacuum", "scene", "script",
    "valve", "humidifier", "water_heater", "sensor", "binary_sensor", "button", "input_boolean",
    "automation", "todo", "weather", "alarm_control_panel", "lawn_mower",
)
_COVER_CLASSES = ("awning", "blind", "curtain", "damper", "door", "garage", "gate", "shade", "shutter", "window")
_MEDIA_CLASSES = ("tv", "speaker", "receiver")
# Outlet words ("Steckdosen", "prises", "enchufes") name the switch domain, not its `outlet` class: Home
# Assistant's own templates read "(Schalter|Steckdosen)" as `domain: switch` and nothing more (smart plugs
# rarely carry the class), so "welche Steckdosen sind an" asks about every switch, as in Home Assistant.
_SWITCH_CLASSES = ("outlet",)
COMMON: Mapping[str, DomainClass] = MappingProxyType(
    {**{d: (d, None) for d in _HA_DOMAINS}, **{d.replace("_", " "): (d, None) for d in _HA_DOMAINS}}
)
DEVICE_CLASSES: Mapping[str, str] = MappingProxyType(
    {**{c: "cover" for c in _COVER_CLASSES}, **{c: "media_player" for c in _MEDIA_CLASSES},
     **{c: "switch" for c in _SWITCH_CLASSES}}
)

EN = Language(
    code="en",
    determiners=_seq("the", "a", "an", "my", "our", "your", "all", "all the", "all of the", "all my", "every",
                     "this", "that", "these", "those", "some"),
    locatives=_seq("in", "in the", "on", "on the", "at", "at the", "inside", "inside the", "of", "of the"),
    connectors=_seq("in", "in the", "of", "of the", "on", "on the", "at the"),
    domain_words=_words({
        ("light", None): "light|lights|lamp|lamps|lighting|lightning|bulb|bulbs|light bulb|light bulbs",
        ("fan", None): "fan|fans|ceiling fan|ceiling fans",
        ("cover", None): "cover|covers",
        ("cover", "blind"): "blind|blinds",
        ("cover", "shade"): "shade|shades",
        ("cover", "curtain"): "curtain|curtains|drape|drapes",
        ("cover", "shutter"): "shutter|shutters|roller shutter|roller shutters",
        ("cover", "awning"): "awning|awnings",
        ("cover", "garage"): "garage door|garage doors|garage",
        ("cover", "gate"): "gate|gates",
        ("cover", "door"): "door|doors",
        ("cover", "window"): "window|windows",
        ("lock", None): "lock|locks|door lock|door locks",
        ("switch", None): "switch|switches|outlet|outlets|plug|plugs|socket|sockets|smart plug|smart plugs",
        ("climate", None): "thermostat|thermostats|heating|heater|heaters|ac|air conditioning|air conditioner|hvac",
        ("media_player", None): "media player|media players|player",
        ("media_player", "tv"): "tv|tvs|television|televisions|telly",
        ("media_player", "speaker"): "speaker|speakers",
        ("vacuum", None): "vacuum|vacuums|vacuum cleaner|robot vacuum|hoover",
        ("valve", None): "valve|valves",
        ("humidifier", None): "humidifier|humidifiers|dehumidifier",
        ("water_heater", None): "water heater|boiler",
        ("scene", None): "scene|scenes",
        ("script", None): "script|scripts",
    }),
    plural_suffixes=("es", "s"),
    numbers=_numbers("zero one two three four five six seven eight nine ten eleven twelve"),
    quantifiers=frozenset({"all", "every"}),
)

DE = Language(
    code="de",
    determiners=_seq("der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "mein", "meine",
                     "meinen", "meinem", "unser", "unsere", "unseren", "unserem", "alle", "alle die", "alle der",
                     "all die", "samtliche", "diese", "dieser", "diesen", "dieses"),
    locatives=_seq("im", "in", "in der", "in dem", "in den", "am", "an der", "auf", "auf der", "auf dem", "vom",
                   "von der", "von dem", "beim", "bei der", "ins", "oben im", "unten im"),
    connectors=_seq("im", "in", "in der", "in dem", "am", "auf der", "auf dem", "vom", "von der", "von dem",
                    "der", "des"),
    domain_words=_words({
        ("light", None): "licht|lichter|lampe|lampen|leuchte|leuchten|beleuchtung|birne|birnen|gluhbirne|"
                         "gluhbirnen|deckenlicht|deckenlampe|deckenleuchte",
        ("fan", None): "ventilator|ventilatoren|lufter|deckenventilator",
        ("cover", None): "abdeckung|abdeckungen",
        ("cover", "blind"): "jalousie|jalousien|rollo|rollos",
        ("cover", "shutter"): "rollladen|rolllade|rollladen|rolladen|rollade|rolllaeden|rollaeden|"
                              "fensterladen|fensterlaeden",
        ("cover", "curtain"): "vorhang|vorhange|vorhaenge|gardine|gardinen",
        ("cover", "awning"): "markise|markisen|beschattung|beschattungen",
        ("cover", "shade"): "schirm|schirme",
        ("cover", "garage"): "garagentor|garagentore|garagentur|garagenture|garagenturen|garage",
        ("cover", "gate"): "tor|tore|einfahrtstor",
        ("cover", "door"): "tur|ture|turen|tuer|tueren",
        ("cover", "window"): "fenster",
        ("lock", None): "schloss|schlosser|schloesser|turschloss|tuerschloss",
        ("switch", None): "schalter|steckdose|steckdosen|zwischenstecker",
        ("climate", None): "thermostat|thermostate|heizung|heizungen|klimaanlage|klima|heizkorper|heizkoerper",
        ("media_player", None): "mediaplayer|media player|player",
        ("media_player", "tv"): "fernseher|fernseh|tv|fernsehgerat|glotze",
        ("media_player", "speaker"): "lautsprecher|box|boxen",
        ("vacuum", None): "staubsauger|saugroboter|staubsaugerroboter",
        ("valve", None): "ventil|ventile",
        ("humidifier", None): "luftbefeuchter|befeuchter",
        ("water_heater", None): "boiler|warmwasserbereiter",
        ("scene", None): "szene|szenen",
        ("script", None): "skript|skripte",
    }),
    plural_suffixes=("en", "n", "e", "er", "s"),
    compounds=True,
    compound_links=("en", "n", "s", "es"),
    quantifiers=frozenset({"alle", "samtliche", "all"}),
    numbers=_numbers("null eins|ein|eine zwei|zwo drei vier funf|fuenf sechs sieben acht neun zehn elf zwolf|zwoelf"),
)

FR = Language(
    code="fr",
    determiners=_seq("le", "la", "les", "l'", "un", "une", "des", "du", "de la", "de l'", "mon", "ma", "mes",
                     "notre", "nos", "tous les", "toutes les", "tout le", "toute la", "tous", "toutes", "ce",
                     "cet", "cette", "ces"),
    locatives=_seq("dans", "dans le", "dans la", "dans les", "dans l'", "au", "aux", "a", "a la", "a l'", "en",
                   "sur", "sur le", "sur la", "du", "de la", "de l'", "des", "de"),
    connectors=_seq("du", "de la", "de l'", "des", "de", "d'", "dans le", "dans la", "dans l'", "dans les",
                    "au", "a la", "a l'", "en"),
    domain_words=_words({
        ("light", None): "lumiere|lumieres|lampe|lampes|eclairage|eclairages|ampoule|ampoules|luminaire|"
                         "luminaires|plafonnier|plafonniers|lampadaire|lampadaires",
        ("fan", None): "ventilateur|ventilateurs|ventilo|ventilos|brasseur d' air|brasseurs d' air|brasseur d air|"
                       "brasseurs d air",
        ("cover", None): "couverture|couvertures",
        ("cover", "blind"): "store|stores|store venitien|stores venitiens|persienne|persiennes",
        ("cover", "shutter"): "volet|volets|volet roulant|volets roulants",
        ("cover", "curtain"): "rideau|rideaux",
        ("cover", "awning"): "auvent|auvents|banne|bannes",
        ("cover", "garage"): "porte de garage|portes de garage|porte du garage|garage",
        ("cover", "gate"): "portail|portails",
        ("cover", "door"): "porte|portes",
        ("cover", "window"): "fenetre|fenetres",
        ("lock", None): "serrure|serrures|verrou|verrous",
        ("switch", None): "interrupteur|interrupteurs|prise|prises|prise connectee|prises connectees",
        ("climate", None): "thermostat|thermostats|chauffage|chauffages|climatisation|clim|climatiseur|radiateur|"
                           "radiateurs",
        ("media_player", None): "lecteur|lecteur multimedia|lecteurs",
        ("media_player", "tv"): "tele|television|televisions|tv|teles",
        ("media_player", "speaker"): "enceinte|enceintes|haut parleur|haut parleurs",
        ("vacuum", None): "aspirateur|aspirateurs|aspirateur robot",
        ("valve", None): "vanne|vannes|valve|valves",
        ("humidifier", None): "humidificateur|humidificateurs",
        ("water_heater", None): "chauffe eau|ballon d'eau chaude",
        ("scene", None): "scene|scenes",
        ("script", None): "script|scripts",
    }),
    plural_suffixes=("x", "s"),
    elisions=("l'", "d'"),
    quantifiers=frozenset({"tous", "toutes", "tout", "toute"}),
    numbers=_numbers("zero un|une deux trois quatre cinq six sept huit neuf dix onze douze"),
)

ES = Language(
    code="es",
    determiners=_seq("el", "la", "los", "las", "un", "una", "unos", "unas", "mi", "mis", "nuestro", "nuestra",
                     "nuestros", "nuestras", "todo el", "toda la", "todos los", "todas las", "todos", "todas",
                     "este", "esta", "estos", "estas", "ese", "esa", "esos", "esas"),
    locatives=_seq("en", "en el", "en la", "en los", "en las", "del", "de la", "de los", "de las", "de", "al",
                   "a la", "dentro del", "dentro de la"),
    connectors=_seq("de", "del", "de la", "de los", "de las", "en", "en el", "en la", "en los", "en las"),
    domain_words=_words({
        ("light", None): "luz|luces|lampara|lamparas|foco|focos|bombilla|bombillas|bombillo|bombillos|"
                         "iluminacion|luminaria|luminarias",
        ("fan", None): "ventilador|ventiladores|abanico|abanicos",
        ("cover", None): "cubierta|cubiertas",
        ("cover", "blind"): "persiana|persianas",
        ("cover", "shade"): "estor|estores",
        ("cover", "shutter"): "contraventana|contraventanas|veneciana|venecianas",
        ("cover", "curtain"): "cortina|cortinas",
        ("cover", "awning"): "toldo|toldos",
        ("cover", "garage"): "puerta del garaje|puertas del garaje|puerta de garaje|garaje|cochera|cocheras",
        ("cover", "gate"): "porton|portones|verja|verjas|cancela|cancelas",
        ("cover", "door"): "puerta|puertas",
        ("cover", "window"): "ventana|ventanas",
        ("lock", None): "cerradura|cerraduras|cerrojo|cerrojos|candado|cierre|cierres|pestillo|pestillos|llave|llaves",
        ("switch", None): "interruptor|interruptores|conmutador|conmutadores|enchufe|enchufes|toma|tomas|"
                           "tomacorriente|tomacorrientes",
        ("climate", None): "termostato|termostatos|calefaccion|aire acondicionado|aire|clima|climatizador|"
                           "radiador|radiadores",
        ("media_player", None): "reproductor|reproductores|reproductor multimedia",
        ("media_player", "tv"): "tele|television|televisor|televisores|televisiones|tv",
        ("media_player", "speaker"): "altavoz|altavoces|bocina|bocinas|parlante|parlantes",
        ("vacuum", None): "aspiradora|aspiradoras|robot aspirador|aspirador",
        ("valve", None): "valvula|valvulas",
        ("humidifier", None): "humidificador|humidificadores",
        ("water_heater", None): "calentador|calentador de agua|termo",
        ("scene", None): "escena|escenas",
        ("script", None): "script|scripts",
    }),
    plural_suffixes=("es", "s"),
    numbers=_numbers("cero uno|una|un dos tres cuatro cinco seis siete ocho nueve diez once doce"),
    quantifiers=frozenset({"todos", "todas", "todo", "toda"}),
)

LANGUAGES: Mapping[str, Language] = MappingProxyType({lang.code: lang for lang in (EN, DE, FR, ES)})

# Any other language: exact names and aliases (case, punctuation and accents aside), Home Assistant's own
# domain ids and slips; no determiners, no domain words, no "place + kind". Less found, nothing guessed.
OTHER = Language(code="*", determiners=(), locatives=(), connectors=(), domain_words=MappingProxyType({}))


# The words one side of Home Assistant's on/off templates for covers and valves uses and the other side's never
# do (outside the slots; folded as edge.names_schema.words folds them): "lower the garden valve" is closing it,
# and the model, which learnt polarity mostly from lights, read it as HassTurnOn. The lists are those
# edge/train/home_schema.py's `polarity_words` finds for these domains (home-assistant-intents 2026.12.1, seed
# 13, the words in at least 2% of a side's sampled sentences), less French "faire" ("faire monter" and "faire
# descendre" both say it: sampling noise). The package's own `home_schema` lists, where it has a domain, come
# first (locks); these serve packages whose schema has none for covers and valves.
_COVER_POLARITY = {
    "en": ("lift open raise", "close down lower shut"),
    "de": ("aufmachen herauf hoch oben offne offnen rauf",
           "herunter runter schliess schliesse schliessen unten zu zumachen"),
    "fr": ("monte monter ouvre ouvrir", "baisse baisser descendre descends ferme fermer"),
    "es": ("abra abre abri abrir aumenta aumentar incrementa incremente levanta levantar levante suba sube subi",
           "acorta acortar baja bajar cerra cerrar cierra cierre decrementa decrementar disminui disminuya reduce "
           "reduci reduzca"),
}
_VALVE_POLARITY = {
    "en": ("lift open raise", "close down lower shut"),
    "de": ("aufdrehen aufmachen offne offnen", "ab abdrehen schliess schliesse schliessen zu zudrehen zumachen"),
    "fr": ("monte monter ouvre ouvrir", "baisse baisser descendre descends ferme fermer"),
    "es": ("abra abre abri abrir aumenta aumentar incrementa incremente levantar levante sube subi",
           "acorta bajar cerra cerrar cierra cierre decrementa reduce reduci reducir"),
}
POLARITY_WORDS: Mapping[str, Mapping[str, Mapping[str, frozenset[str]]]] = MappingProxyType({
    lang: MappingProxyType({
        domain: MappingProxyType({"HassTurnOn": frozenset(table[lang][0].split()),
                                  "HassTurnOff": frozenset(table[lang][1].split())})
        for domain, table in (("cover", _COVER_POLARITY), ("valve", _VALVE_POLARITY))})
    for lang in ("en", "de", "fr", "es")})

# The words only Home Assistant's volume-up or only its volume-down templates of HassSetVolumeRelative use
# (outside the slots, folded; the templates with `volume_step_up` / `volume_step_down` or a fixed up/down,
# sampled 60 sentences each with seed 13, words in at least 2% of a side's sentences; home-assistant-intents
# 2026.12.1). "turn the volume down 43 percent": the tagger marks "43", the verb says its sign (-43).
_VOLUME_DIRECTION = {
    "en": ("increase up", "decrease down"),
    "de": ("aufdrehen erhohe erhohen herauf heraufdrehen lauter rauf",
           "absenken herunter herunterdrehen leiser reduziere reduzieren runter runterdrehen senke verringere "
           "verringern"),
    "fr": ("augmente augmenter haut haute monte monter plus", "baisse baisser bas basse descendre descends diminue "
           "diminuer moins"),
    "es": ("aumenta aumentar aumente incrementa incrementar incremente levanta levantar levante mas suba sube subi "
           "subir", "acorta acortar acorte baja bajar baje decrementa decrementar decremente disminui disminuir "
           "disminuya disminuye menos reduce reduci reducir reduzca"),
}
VOLUME_DIRECTION: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType({
    lang: MappingProxyType({"up": frozenset(up.split()), "down": frozenset(down.split())})
    for lang, (up, down) in _VOLUME_DIRECTION.items()})

# The words only HA's HassIncreaseTimer / HassDecreaseTimer templates use among the timer intents'
# (home-assistant-intents 2026.12.1, their sentences and expansion rules, accents folded): a timer change
# says one ("Timer eine halbe Stunde" says none: it starts a timer). Spanish templates write verbs as
# stems with endings ("aument(a|ar)"), so no list is read for Spanish and it is not checked.
_TIMER_CHANGE = {
    "en": ("add by increase to", "by decrease from off remove take"),
    "de": ("langer mehr um verlangere verlangern",
           "kurzer reduziere reduzieren um verkurze verkurzen verringere verringern weniger"),
    "fr": ("ajoute ajouter ajoutez rajoute rajouter rajoutez",
           "enleve enlever retranche retrancher soustraire soustrais soustrait"),
}
TIMER_CHANGE: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType({
    lang: MappingProxyType({"HassIncreaseTimer": frozenset(up.split()), "HassDecreaseTimer": frozenset(down.split())})
    for lang, (up, down) in _TIMER_CHANGE.items()})

# German lock commands whose polarity is in the particle, not the verb (home-assistant-intents 2026.12.1,
# de HassTurnOn/HassTurnOff for locks): "<sperren> {name} [zu|ab]" locks, "(<sperren>|<machen>) {name} auf"
# unlocks, with <sperren> = (sperr|schließ)[e] and <machen> = mach[e]. The package's `polarity_words` miss
# them ("sperre den Gartentor" says no word of either list; a bare "auf" is too common a word for the
# list's sampling), so these supplement its lock lists: (verbs that lock without "auf", verbs that unlock
# with it, the particle).
LOCK_PARTICLE: Mapping[str, tuple[frozenset[str], frozenset[str], str]] = MappingProxyType({
    "de": (frozenset({"sperr", "sperre", "schliess", "schliesse"}),
           frozenset({"sperr", "sperre", "schliess", "schliesse", "mach", "mache"}), "auf"),
})

# Verbs of Home Assistant's on/off command templates that its state questions (HassGetState) never use
# (home-assistant-intents 2026.12.1, en/de/fr, their sentences and expansion rules, accents folded; the verbs
# only: the lists also hold place and kind words). "make sure all lamps are off" is HA's HassTurnOff; read
# as a state question it answers instead of acting, so such a question is refused. Spanish templates write
# verbs as stems with endings, so no list is read for Spanish. Left out: words a state is also said with
# ("are the blinds shut"; French "allumé", "activé" fold to the imperative "allume", "active").
_COMMAND_VERBS = {
    "en": "activate deactivate illuminate sure turn",
    "de": "abdrehen abschalten anmachen aufdrehen ausmachen dreh drehe drehen mach mache machen macht schalt schalte "
          "schalten",  # HA writes "schalt[e]", "dreh[e]", "mach[e]"
    "fr": "activer allumer desactiver eteindre eteins",
}
COMMAND_VERBS: Mapping[str, frozenset[str]] = MappingProxyType(
    {lang: frozenset(ws.split()) for lang, ws in _COMMAND_VERBS.items()})

# The word Home Assistant's on/off templates say "in every place" with ("turn off the lights everywhere",
# "schalte das Licht überall aus", "éteins les lumières partout"; home-assistant-intents 2026.12.1): a kind of
# thing with no place is then every one of that kind, as the user said. Spanish says it in several words
# ("en todas partes", "en todos lados"): not read.
EVERYWHERE: Mapping[str, frozenset[str]] = MappingProxyType({
    "en": frozenset({"everywhere"}), "de": frozenset({"uberall"}), "fr": frozenset({"partout"})})
