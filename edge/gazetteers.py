"""Small built-in gazetteers the slot tagger uses as word features (edge/slots.py).

General knowledge a voice assistant ships with, whatever the user's intents:
countries, US states, nationalities and cuisines, music genres. A word inside
a match gets the feature "k=<list>" ("k=country"), so a tagger trained on a
few examples still tells "in Kenya" (country) from "in Montana" (state) and
"in Oaktown" (neither: a city). Lower case, entries separated by commas;
matching is on whole words (edge.slot_features.gazetteer_tags).
"""

from __future__ import annotations

import re

_COUNTRIES = """
afghanistan, albania, algeria, andorra, angola, antigua and barbuda, argentina, armenia, australia, austria,
azerbaijan, bahamas, the bahamas, bahrain, bangladesh, barbados, belarus, belgium, belize, benin, bhutan, bolivia,
bosnia and herzegovina, bosnia, botswana, brazil, brunei, bulgaria, burkina faso, burundi, cambodia, cameroon, canada,
cape verde, central african republic, chad, chile, china, colombia, comoros, congo, costa rica, croatia, cuba, cyprus,
czech republic, czechia, denmark, djibouti, dominica, dominican republic, east timor, ecuador, egypt, el salvador,
equatorial guinea, eritrea, estonia, eswatini, ethiopia, fiji, finland, france, gabon, gambia, the gambia, georgia,
germany, ghana, greece, grenada, guatemala, guinea, guinea-bissau, guyana, haiti, honduras, hungary, iceland, india,
indonesia, iran, iraq, ireland, israel, italy, ivory coast, jamaica, japan, jordan, kazakhstan, kenya, kiribati, kosovo,
kuwait, kyrgyzstan, laos, latvia, lebanon, lesotho, liberia, libya, liechtenstein, lithuania, luxembourg, madagascar,
malawi, malaysia, maldives, mali, malta, marshall islands, mauritania, mauritius, mexico, micronesia, moldova, monaco,
mongolia, montenegro, morocco, mozambique, myanmar, burma, namibia, nauru, nepal, netherlands, the netherlands, holland,
new zealand, nicaragua, niger, nigeria, north korea, north macedonia, macedonia, norway, oman, pakistan, palau,
palestine, panama, papua new guinea, paraguay, peru, philippines, the philippines, poland, portugal, qatar, romania,
russia, rwanda, saint kitts and nevis, saint lucia, saint vincent and the grenadines, samoa, san marino,
sao tome and principe, saudi arabia, senegal, serbia, seychelles, sierra leone, singapore, slovakia, slovenia,
solomon islands, somalia, south africa, south korea, korea, south sudan, spain, sri lanka, sudan, suriname, sweden,
switzerland, syria, taiwan, tajikistan, tanzania, thailand, togo, tonga, trinidad and tobago, tunisia, turkey,
turkmenistan, tuvalu, uganda, ukraine, united arab emirates, uae, united kingdom, uk, great britain, britain, england,
scotland, wales, northern ireland, united states, usa, america, the united states, uruguay, uzbekistan, vanuatu,
vatican city, venezuela, vietnam, yemen, zambia, zimbabwe, greenland, puerto rico, guam, aruba, bermuda,
cayman islands, french guiana, french polynesia, new caledonia, hong kong, macau, sint maarten, curacao,
faroe islands, gibraltar, martinique, guadeloupe, reunion, american samoa, virgin islands, montserrat, anguilla,
british virgin islands, us virgin islands, saint barthelemy, saint martin, western sahara, somaliland, tokelau,
niue, cook islands, wallis and futuna, saint helena, falkland islands, svalbard, mayotte, northern mariana islands
"""

_US_STATES = """
alabama, alaska, arizona, arkansas, california, colorado, connecticut, delaware, florida, georgia, hawaii, idaho,
illinois, indiana, iowa, kansas, kentucky, louisiana, maine, maryland, massachusetts, michigan, minnesota, mississippi,
missouri, montana, nebraska, nevada, new hampshire, new jersey, new mexico, new york, north carolina, north dakota,
ohio, oklahoma, oregon, pennsylvania, rhode island, south carolina, south dakota, tennessee, texas, utah, vermont,
virginia, washington, west virginia, wisconsin, wyoming, district of columbia, dc, d c,
al, ak, az, ar, ca, co, ct, de, fl, ga, hi, ia, ks, ky, la, md, ma, mi, mn, ms, mo, mt, ne, nv, nh, nj, nm, ny, nc, nd,
oh, ok, pa, ri, sc, sd, tn, tx, ut, vt, va, wa, wv, wi, wy
"""

_CUISINES = """
afghan, african, american, argentinian, argentine, armenian, asian, australian, austrian, bangladeshi, basque,
belgian, brazilian, british, burmese, cajun, californian, cambodian, cantonese, caribbean, chinese, colombian,
creole, cuban, czech, danish, dutch, egyptian, english, ethiopian, european, filipino, french, fusion, georgian,
german, greek, hawaiian, hungarian, indian, indonesian, irish, israeli, italian, jamaican, japanese, jewish, korean,
kosher, latin, lebanese, malaysian, mediterranean, mexican, middle eastern, mongolian, moroccan, nepalese,
pakistani, persian, peruvian, polish, portuguese, russian, scandinavian, scottish, seafood, sichuan, singaporean,
southern, spanish, sri lankan, swedish, swiss, szechuan, taiwanese, tex-mex, thai, tibetan, turkish, ukrainian,
vegan, vegetarian, vietnamese, barbecue, bbq, halal, soul food, sushi, tapas, creperie, pizza, steak, dim sum,
ramen, noodles, curry, kebab, gluten free, gluten-free, raw food, organic, comfort food, southwestern, cajun creole,
north african, south african, west african, east african, latin american, south american, central american,
hungarian, romanian, bulgarian, serbian, croatian, slovak, finnish, norwegian, icelandic, uzbek, kazakh
"""

_GENRES = """
rock, pop, jazz, blues, classical, country, folk, hip hop, hip-hop, rap, metal, heavy metal, punk, punk rock, indie,
electronic, electronica, dance, edm, house, techno, trance, dubstep, reggae, reggaeton, soul, funk, disco, r&b, rnb,
gospel, latin, salsa, bossa nova, samba, opera, ambient, chill, chillout, lounge, grunge, emo, ska, swing, bluegrass,
alternative, alternative rock, new age, world, world music, k-pop, j-pop, trap, drum and bass, garage, indie rock,
soundtrack, instrumental, acoustic, christian, celtic, flamenco, tango, lo-fi, lofi, synthpop, synth pop, hard rock,
progressive rock, psychedelic rock, surf rock, baroque, romantic, motown, big band, dixieland, zydeco, grime, dub,
industrial, post-rock, shoegaze, math rock, noise, experimental, avant-garde, krautrock, britpop, new wave,
post-punk, hardcore, black metal, death metal, thrash metal, doom metal, power metal, glam rock, soft rock,
folk rock, country rock, americana, honky tonk, western swing, cumbia, bachata, merengue, mariachi, ranchera,
afrobeat, highlife, soca, calypso, dancehall, roots reggae, bhangra, qawwali, fado, chanson, schlager, polka,
enka, cantopop, mandopop, c-pop, idol, anime, video game music, chiptune, vaporwave, lounge music, easy listening,
smooth jazz, bebop, free jazz, acid jazz, cool jazz, fusion, neo soul, quiet storm, contemporary r&b, gangsta rap,
trip hop, breakbeat, jungle, uk garage, electro, downtempo, deep house, tech house, progressive house, minimal,
musical, show tunes, children's music, holiday, christmas, oldies, sixties, seventies, eighties, nineties, retro,
adult contemporary, top 40, singer-songwriter, pop rock, dance pop, electropop, teen pop, bubblegum pop, piano
"""


_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")  # edge.slot_features.tokenize's words


def _entries(block: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(_WORD.findall(e)) for e in (x.strip() for x in block.replace("\n", " ").split(",")) if e)


# list name -> entries (lower-case word tuples)
GAZETTEERS: dict[str, frozenset[tuple[str, ...]]] = {
    "country": _entries(_COUNTRIES),
    "state": _entries(_US_STATES),
    "cuisine": _entries(_CUISINES),
    "genre": _entries(_GENRES),
}


_STOP = {"the", "and", "of", "new", "north", "south", "east", "west", "central", "saint", "san", "great", "united",
         "islands", "island", "republic", "music", "food", "free", "city", "big", "world", "soul", "new", "old"}


def word_index() -> dict[str, tuple[str, ...]]:
    """word -> the lists with an entry holding it (common words aside): "punk" -> ("genre",)."""
    out: dict[str, set[str]] = {}
    for name, entries in GAZETTEERS.items():
        for words in entries:
            for w in words:
                if len(w) > 2 and w not in _STOP and w.isalpha():
                    out.setdefault(w, set()).add(name)
    return {w: tuple(sorted(v)) for w, v in out.items()}


def index() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """first word -> [(list name, entry words)], the form edge.slot_features.gazetteer_tags takes."""
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for name, entries in GAZETTEERS.items():
        for words in sorted(entries):
            out.setdefault(words[0], []).append((name, words))
    return out


def tags(words: list[str], low: list[str], idx: dict[str, list[tuple[str, tuple[str, ...]]]],
         widx: dict[str, tuple[str, ...]] | None = None) -> list[list[str]]:
    """"k=<list>:B" / "k=<list>:I" features per word for whole entries, and "kw=<list>" for a word of
    an entry (`widx`). A two-letter entry (a state's postal code) matches only when written in
    capitals ("NY", not "ny" or "ok")."""
    n = len(low)
    out: list[list[str]] = [["kw=" + x for x in widx.get(w, ())] if widx else [] for w in low]
    for i in range(n):
        for name, entry in idx.get(low[i], ()):
            k = len(entry)
            if i + k <= n and tuple(low[i:i + k]) == entry:
                if k == 1 and len(entry[0]) == 2 and not words[i].isupper():
                    continue
                out[i].append("k=" + name + ":B")
                for j in range(i + 1, i + k):
                    out[j].append("k=" + name + ":I")
    return out
