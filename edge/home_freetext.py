"""Free text said whole: a timer's name, a list item, a message, a media search, as far as the words go.

The tagger often marks only part of a free-text span ("add oat *milk* to the list", "pâte à *pain*", "masa de
*pan*") or none of a timer's name ("cancel lasagna timer" -> HassCancelTimer {}, which cancels whichever timer).
Home Assistant's templates say these slots as wildcards between words of their own, so the words of an intent's
templates (`VOCAB`, per language and group of intents: every word its sampled sentences have outside the slots;
home-assistant-intents 2026.12.1, edge/train/home.py's sampler, 60 sentences a template, seed "13/<lang>/vocab",
and the language's skip words, which HA's matcher ignores anywhere: "please", "could you") are the wildcard's edges:

- `extend`: a free-text span grows over the words next to it that no template of its intents says, and over one
  connector or elided article between two such words ("oat milk", "lait d'avoine", "masa de pan"; not over an
  article: "until *the* pasta" is no name), never over punctuation, into another span or a number;
- `extend` also takes a timer's name the tagger left untagged: one word no timer template says, right beside the
  timer's noun or after "called"/"named" ("cancel *lasagna* timer", "temporizador *lasaña*"), and not a name of
  the names file, seeds the `name` span it grows;
- `unnamed_timer`: a timer reply still without a name, when such a word stands there (several of them, a place's
  name), is refused: a name was said and not carried.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping, Sequence

__all__ = ["FREE_SLOT", "VOCAB", "carried_query", "extend", "unnamed_timer"]

_TIMERS = ("HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassPauseTimer", "HassUnpauseTimer",
           "HassTimerStatus", "HassIncreaseTimer", "HassDecreaseTimer")
_LISTS = ("HassShoppingListAddItem", "HassShoppingListCompleteItem", "HassListAddItem", "HassListCompleteItem",
          "HassListRemoveItem")
GROUP: Mapping[str, str] = MappingProxyType({**{i: "timer" for i in _TIMERS}, **{i: "list" for i in _LISTS},
                                             "HassBroadcast": "broadcast", "HassMediaSearchAndPlay": "search"})
# The free-text slot of each group (a timer's `name` is free text: edge.home.FREE_TEXT_NAME_INTENTS).
FREE_SLOT: Mapping[str, str] = MappingProxyType({"timer": "name", "list": "item", "broadcast": "message",
                                                 "search": "search_query"})
# The timer's own nouns and the words that introduce its name, in HA's timer templates (a subset of VOCAB).
_TIMER_WORDS: Mapping[str, frozenset[str]] = MappingProxyType({
    "en": frozenset("timer timers called named".split()),
    "de": frozenset("timer namens genannt".split()),
    "fr": frozenset("minuteur minuteurs minuterie minuteries decompte rebours nomme nommee appele appelee "
                    "surnomme surnommee".split()),
    "es": frozenset("temporizador temporizadores atras llamado llamada denominado denominada nombre".split()),
})
MAX_GROW = 3  # words a span may grow by on each side

_VOCAB: Mapping[tuple[str, str], str] = {
    ("en", "timer"): (
        "a add after all an and by called can cancel continue could create d decrease for from hour hours how i "
        "in increase is left like long me minute minutes much my named of off on our pause please remove resume "
        "second seconds set start status stop take the time timer timers to want would you"),
    ("en", "list"): (
        "add can check complete could d delete for from i in like list me my off on please put remove shopping "
        "the to want would you"),
    ("en", "broadcast"): (
        "announce broadcast can could d everywhere for i like me please that to want would you"),
    ("en", "search"): (
        "can could d for i in like me my on our play please the to want would you"),
    ("de", "timer"): (
        "ab abbrechen ah ahm aktuell alle am an anhalten auf aus ausschalten beende bei benenne bitte brauchen "
        "braucht brech breche danke das dauern dauert deaktivieren dem den der derzeit des die doch du eben ein "
        "einen einstellen ende endet erstell erstelle erstellen fahr fahre fertig fort fortsetzen fur "
        "gefalligst geht gerade gerne gleich haben halt halte hat ich ihn im in ist jetzt kannst konntest "
        "kurzer lang lange langer lass lasse lassen laufen lauft losch losche mach mache macht mag mal mehr "
        "mein meine meinem meinen meiner meines minute minuten mir mochte mochten mogen moment momentan nach "
        "namens nenn nenne nennen noch pausiere pausieren reduziere reduzieren restzeit s samtliche schalt "
        "schalte sekunde sekunden setz setze setzen setzt sind sofort sollst starte starten status stell stelle "
        "stellen stopp stoppe stoppen stunde stunden timer timers um und uns unser unsere unserem unseren "
        "unserer unseres verkurze verkurzen verlangere verlangern verringere verringern vom von wann was weiter "
        "weiterlaufen weniger wie will wir wollen wurde wurden wurdest zu"),
    ("de", "list"): (
        "ab abhaken abschliessen ah ahm aktuell auf aus bitte danke dem der derzeit die doch du eben einkauf "
        "einkaufs einkaufsliste entferne entfernen erganze erganzen fuge gefalligst gerade gerne gleich hake "
        "hinzu hinzufugen ich im in jetzt kannst konntest liste losch losche loschen mag mal meine meinem "
        "meiner mir mochte mochten mogen moment momentan nehm nehme nehmen nimm noch pack packe packen raus "
        "rausnehmen runter runternehmen s schliesse schreib schreibe schreiben schreibt setz setze setzen setzt "
        "sliste sofort sollst streich streiche streichen uns unsere unserem unserer von will wir wollen wurde "
        "wurden wurdest zu zum zur"),
    ("de", "broadcast"): (
        "ah ahm aktuell alle allen bekannt bereichen bescheid bitte danke der derzeit doch du durch durchgeben "
        "durchsagen eben ganzen gebe geben gefalligst gerade gerne gib gleich haus horen ich im in jetzt kannst "
        "konntest lass lassen mag mal mir mochte mochten mogen moment momentan noch raumen sag sage sagen "
        "sofort sollst uberall uns verkunde verkunden will wir wissen wohnung wollen wurde wurden wurdest "
        "zimmern"),
    ("de", "search"): (
        "ab abspielen ah ahm aktuell am an anhoren anschauen auf bei bereich bitte danke das dem den der "
        "derzeit des die diesem diesen dieses doch du eben ein gefalligst gerade gerne gleich hier horen ich im "
        "in jetzt kannst konntest mag mal meine meinen mir mochte mochten mogen moment momentan noch raum s "
        "schauen sofort sollst spiel spiele spielen starten uns unsere unseren vom von wiedergeben will wir "
        "wollen wurde wurden wurdest zimmer"),
    ("fr", "timer"): (
        "a active activer ajoute ajouter ajoutez annule annuler appele appelee arrete arreter au aux avant ce "
        "combien compte comptes coupe couper cree creer d dans de decompte decomptes demarre demarrer des "
        "desactive desactiver du en encore enleve enlever est et etais etait etant etat eteindre eteins eteint "
        "etend etendre etends execute executer ferme fermer h heure heures il joue jouer l la lance lancer le "
        "les m ma mais maitre merci mes mets mettre min minute minuterie minuteries minutes minuteur minuteurs "
        "mon nomme nommee passe passer pause peux plait please pour que rajoute rajouter rajoutez rebours "
        "relance relancer remets remettre reprend reprendre reprends reprise reste retranche retrancher s sec "
        "seconde secondes soustraire soustrais soustrait stoppe stopper stp supprime supprimer sur surnomme "
        "surnommee t tant te teins teint teints temps tous tout toute toutes tu un"),
    ("fr", "list"): (
        "a achat achats ajoute ajouter ajoutez annule annuler au aux ce coche cocher course courses d dans de "
        "des du enleve enlever est il l la le les liste ma mais maitre marque marquer merci met mets mettre "
        "notre passe passer peux plait please que rajoute rajouter rajoutez retranche retrancher s shopping "
        "soustraire soustrais soustrait stp supprime supprimer sur te tu valide valider"),
    ("fr", "broadcast"): (
        "a annonce annoncer appart appartement au aux ce dans de des domicile du est il l la le les logement "
        "maison merci message partout peux pieces plait please qu que s stp suivant sur te tous tout toute "
        "toutes tu"),
    ("fr", "search"): (
        "a active activer actuel actuelle au aux ce cet cette chanson comme courant courante dans de demarre "
        "demarrer des du ecoute ecouter element endroit episode est execute executer film ici il je joue jouer "
        "l la lance lancer le les mais maitre me media meme merci mets mettre morceau musique nous on ou passe "
        "passer peux piece plait please podcast que radio s se situe situons sommes stp suis sur te trouve "
        "trouvons tu video"),
    ("es", "timer"): (
        "a acorta acortar acorte agrega agregar agregue ajusta ajustar ajuste al anada anade anadi anadir "
        "animas apunt apunta apuntar apunte atras aumenta aumentar aumente baja bajar baje borra borrar borre "
        "cambia cambiar cambie cancela cancelacion cancelar cancele comence comenza comenzar comience comienza "
        "comienzar como con configura configurar configure continua continuar continue crea crear cree cual "
        "cuales cuanto cuenta cuentas de decrementa decrementar decremente del denominada denominado dentro "
        "desactiva desactivar desactive deten detene detener detenga disminui disminuir disminuya disminuye el "
        "elimina eliminar elimine empece empeza empezar empiece empieza empiezar en encuentra encuentran es "
        "esta estableca establece establecer establezca establezce establezcer estado estados estan falta favor "
        "gracias hora horas importa importaria incrementa incrementar incremente inicia iniciar inicie la las "
        "le levanta levantar levante llamada llamado los marcha marchan me mi minuto minutos mis nombre para "
        "parar pare pausa pausar pause podes podria podrias pon pone poner ponga por porfa puedes que queda "
        "quita quitar quite reactiva reactivar reactive reanuda reanudar reanude reduce reduci reducir reduzca "
        "resta restante restar reste se segui seguir segundo segundos siga sigue son suba sube subi subir suma "
        "sumar sume te temporizador temporizadores tiempo todos un una va van y"),
    ("es", "list"): (
        "a agrega agregar agregue anada anade anadi anadir animas apunt apunta apuntar apunte borra borrar "
        "borre como completa completada completadas completado completados completar complete compra comprada "
        "compradas comprado comprados compras da dar de del el elimina eliminar elimine en favor finalice "
        "finaliza finalizar gracias hecha hechas hecho hechos importa importaria la las le lista listado los "
        "marca marcar marque me mi podes podria podrias pon pone poner ponga por porfa puedes quita quitar "
        "quite realizada realizadas realizado realizados remove remover remueva remueve retira retirar retire "
        "suma sumar sume suprima suprime suprimi suprimir tacha tachar tache te termina terminar termine"),
    ("es", "broadcast"): "",
    ("es", "search"): (
        "a animas de del el en escuchar favor gracias importa importaria la las le los me oir podes podria "
        "podrias pon pone poner ponga por porfa puedes reproduce reproduci reproducir reproduzca te un una ver "
        "visualizar"),
}
VOCAB: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType({k: frozenset(v.split()) for k, v in _VOCAB.items()})
_WORD = re.compile(r"[^\W_]+")
_GAP = re.compile(r"^[ '\u2019-]{1,3}$")  # what lies between two words of one name: a space, an apostrophe


def _fold(word: str) -> str:
    from edge.names_schema import word_list

    got = word_list(word)
    return got[0] if got else ""


def _plain(word: str, lang: str, vocab: frozenset[str]) -> bool:
    """Is `word` none of the templates' words and no number (so part of what the user named)?"""
    from edge import names_values

    w = _fold(word)
    return bool(w) and w not in vocab and not w.isdigit() and names_values.number(w, lang) is None


def _joiners(lang: str) -> frozenset[str]:
    from edge.names_lang import LANGUAGES

    language = LANGUAGES.get(lang)
    if language is None:
        return frozenset()
    return frozenset({p[0] for p in language.connectors if len(p) == 1 and p[0] not in
                      {d[0] for d in language.determiners if len(d) == 1}} | {e.strip("'") for e in language.elisions})


def extend(text: str, lang: str, intent: str, found: Sequence[Mapping[str, Any]],
           names: Any = None) -> list[Mapping[str, Any]]:
    """`found` with the intent's free-text span grown over the untagged words beside it that no template of
    its intents says (see the module docstring); as it was when there is none or nothing to grow. Never over
    an article ("play *some* taylor swift"), a name of the names file (edge.home_guard.mentions: the guard
    must still see "run our bedtime routine" read as a message), or to the first word ("we need eggs, add
    them": a template's word comes before the wildcard)."""
    group = GROUP.get(intent)
    vocab = VOCAB.get((lang, group or ""))
    if not vocab or not isinstance(text, str):
        return list(found)
    found = _said_name(text, lang, intent, found, names)
    slot = FREE_SLOT[group]
    mine = [s for s in found if s.get("name") == slot and isinstance(s.get("start"), int)
            and isinstance(s.get("end"), int) and 0 <= s["start"] < s["end"] <= len(text)]
    if len(mine) != 1:
        return found
    span = mine[0]
    others = [(s["start"], s["end"]) for s in found if s is not span and isinstance(s.get("start"), int)
              and isinstance(s.get("end"), int)]
    if names is not None:
        from edge.home_guard import mentions

        others += [(m.start, m.end) for m in mentions(text, lang, names)]
    from edge.names_lang import LANGUAGES

    language = LANGUAGES.get(lang)
    articles = {d[0] for d in language.determiners if len(d) == 1} if language is not None else set()
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text[:512])
             if not any(a < m.end() and m.start() < b for a, b in others) or span["start"] <= m.start() < span["end"]]
    joiners = _joiners(lang)
    inside = [i for i, (a, b, _) in enumerate(words) if span["start"] < b and a < span["end"]]
    if not inside:
        return found
    first, last = inside[0], inside[-1]

    def grow(i: int, step: int) -> int:
        """The last word index the span takes going `step` from word i."""
        taken = 0
        while taken < MAX_GROW:
            j = i + step
            if not 0 <= j < len(words) or not _GAP.match(text[words[i][1]:words[j][0]] if step > 0
                                                         else text[words[j][1]:words[i][0]]):
                break  # the end, or another span or punctuation between
            if _plain(words[j][2], lang, vocab) and _fold(words[j][2]) not in articles:
                i, taken = j, taken + 1
                continue
            k = j + step
            if _fold(words[j][2]) in joiners and 0 <= k < len(words) and _plain(words[k][2], lang, vocab) \
                    and _GAP.match(text[words[j][1]:words[k][0]] if step > 0 else text[words[k][1]:words[j][0]]):
                i, taken = k, taken + 2
                continue
            break
        return i

    a, b = grow(first, -1), grow(last, 1)
    if a == 0 and words[0][0] < span["start"]:
        a = first  # nothing of the templates before it: a preamble ("we need eggs, add them ..."), not the name
    if (a, b) == (first, last):
        return found
    start, end = min(words[a][0], span["start"]), max(words[b][1], span["end"])
    said = text[start:end]
    return [{**s, "raw": said, "value": said, "start": start, "end": end} if s is span else s for s in found]


def carried_query(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
                  found: Sequence[Mapping[str, Any]], names: Any = None) -> list[Mapping[str, Any]]:
    """`found` with a media search's query as HassMediaSearchAndPlay's carrier pattern, read whole, captures it,
    once the places are read (edge/home.py's `name_reading`, `place_reading`): "play *a* podcast about history on
    Family Room Speaker" is "play {search_query} on {name}" to Home Assistant, query "a podcast about history",
    where the tagger cut the article and `extend` never grows over one. The carrier's first pass
    (edge/home_wildcards.py's `apply`, before the places) leaves the tagger's reading where it tagged the area
    "Family Room" inside the speaker's name; read again once that name is one span, the carrier decides as
    anywhere else (`apply` keeps the tagger's spans wherever it still reads the words otherwise)."""
    if intent != "HassMediaSearchAndPlay" or not any(s.get("name") == "search_query" for s in found):
        return list(found)
    from edge import home_wildcards

    return home_wildcards.apply(schema, intent, lang, text, found, names)


# Words of quantity said before what to play, not part of it ("play *some* taylor swift", "spiel *etwas* Jazz"): the
# paraphrase sets mark the query without them (tests/data/home_dev2_en.txt, home_dev3*_en.txt), and `extend` never
# grows over them; Home Assistant's carrier "play {search_query}" reads them into the query all the same.
_QUANTITY: Mapping[str, frozenset[str]] = MappingProxyType({"en": frozenset({"some"}), "de": frozenset({"etwas"})})


def trim_quantity(lang: str, intent: str, found: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`found` with a media query's leading word of quantity (`_QUANTITY`) cut off, where words remain after it."""
    words = _QUANTITY.get(lang)
    if intent != "HassMediaSearchAndPlay" or not words:
        return list(found)
    out: list[Mapping[str, Any]] = []
    for s in found:
        raw, start = s.get("raw"), s.get("start")
        m = _WORD.match(raw) if s.get("name") == "search_query" and isinstance(raw, str) else None
        rest = raw[m.end():].lstrip() if m is not None else ""
        if m is not None and _fold(m.group()) in words and _WORD.search(rest) and isinstance(start, int):
            cut = len(raw) - len(rest)
            s = {**s, "raw": rest, "value": rest, "start": start + cut}
        out.append(s)
    return out


def unnamed_timer(text: str, lang: str, intent: str, found: Sequence[Mapping[str, Any]],
                  got: Mapping[str, Any]) -> str | None:
    """Why a timer reply without a name drops one the user said, or None (see the module docstring)."""
    if GROUP.get(intent) != "timer" or "name" in got:
        return None
    said = _timer_names(text, lang, found)
    return f"the timer's name {said[0][2]!r} is not carried" if said else None


def _timer_names(text: str, lang: str, found: Sequence[Mapping[str, Any]],
                 others: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int, str]]:
    """The untagged words no timer template says that stand right beside the timer's noun or after "called" (or
    one template word after it: "timer *for* lasagna"), as (start, end, word), outside `found` and `others`."""
    vocab, marks = VOCAB.get((lang, "timer")), _TIMER_WORDS.get(lang)
    if not vocab or not marks or not isinstance(text, str):
        return []
    spans = [(s["start"], s["end"]) for s in found if isinstance(s.get("start"), int) and isinstance(s.get("end"), int)]
    spans += list(others)
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text[:512])]
    out: list[tuple[int, int, str]] = []
    for i, (a, b, w) in enumerate(words):
        if _fold(w) not in marks:
            continue
        # beside the noun, or after one word of the templates ("timer *for* lasagna", "minuteur *pour* ...")
        near = [i - 1, i + 1] + ([i + 2] if i + 2 < len(words) and _fold(words[i + 1][2]) in vocab else [])
        for j in near:
            if 0 <= j < len(words) and not any(s < words[j][1] and words[j][0] < e for s, e in spans) \
                    and _plain(words[j][2], lang, vocab) and _fold(words[j][2]) not in _joiners(lang) \
                    and words[j] not in out:
                out.append(words[j])
    return out


def _said_name(text: str, lang: str, intent: str, found: Sequence[Mapping[str, Any]],
               names: Any) -> list[Mapping[str, Any]]:
    """`found` with a timer's name said and left untagged as its `name` span, seeded on its one word beside the
    timer's noun or after "called" (`_timer_names`: "cuenta atrás llamada *lasaña*", "minuteur appelé *lasagnes*"),
    for `extend` to grow over the rest of it; HA's templates read it so ("{name} timer", "timer called {name}").
    Not when several words stand there, nor when the word is a name, area or floor of the names file ("Stube
    Timer": a place's timer, which HA reads as the area): those stay refused (`unnamed_timer`)."""
    if GROUP.get(intent) != "timer" or any(s.get("name") == "name" for s in found):
        return list(found)
    others: list[tuple[int, int]] = []
    if names is not None:
        from edge.home_guard import mentions

        others = [(m.start, m.end) for m in mentions(text, lang, names)]
    said = _timer_names(text, lang, found)
    if len(said) != 1 or any(a < said[0][1] and said[0][0] < b for a, b in others):
        return list(found)
    a, b, w = said[0]
    return sorted([*found, {"name": "name", "entity": "name", "raw": w, "value": w, "start": a, "end": b,
                            "confidence": 1.0}],
                  key=lambda s: s.get("start", 0) if isinstance(s.get("start"), int) else 0)
