"""Places, nationalities, people and institutions: names that change what is asked.

"How many Ukrainians returned?" shares every word but one with "how many Russians
returned?", and that one word makes it a different question; so does "what did Zelensky
say about returnees?" next to Putin's words. The matcher treats such a name in a question
like a number: an entry that never mentions it cannot answer. The lists are general world
knowledge, not tuned to the knowledge base; Russia and Russians are left out because
every entry is about them, and so is Ukraine, the country: "after Russia invaded Ukraine"
is the article's own subject, while "Ukrainians" are other people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from bot.text import stem

_EN = """
ukrainian ukrainians belarus belarusian belarusians byelorussia kazakhstan kazakh
kazakhs kazakhstani georgia georgian georgians armenia armenian armenians azerbaijan
azerbaijani azerbaijanis uzbekistan uzbek uzbeks kyrgyzstan kyrgyz kirghiz tajikistan
tajik tajiks turkmenistan turkmen moldova moldovan moldovans mongolia mongolian israel
israeli israelis germany german germans france french italy italian italians spain spanish
portugal portuguese netherlands dutch holland belgium belgian switzerland swiss austria
austrian poland polish poles czechia czech czechs slovakia slovak hungary hungarian
romania romanian bulgaria bulgarian serbia serbian serbs croatia croatian montenegro
montenegrin bosnia albania greece greek greeks cyprus cypriot turkey turkish turks latvia
latvian latvians lithuania lithuanian lithuanians estonia estonian estonians finland
finnish finns sweden swedish swedes norway norwegian norwegians denmark danish danes
iceland ireland irish britain british england scotland uk usa america american americans
canada canadian canadians mexico mexican brazil brazilian argentina argentinian
argentine chile peru colombia china chinese japan japanese korea korean koreans india
indian indians vietnam vietnamese thailand thai indonesia bali philippines malaysia
singapore uae emirates dubai iran iranian iraq syria syrian egypt egyptian morocco
australia australian zealand africa african europe european europeans asia asian
tbilisi batumi yerevan baku bishkek tashkent astana almaty belgrade istanbul antalya
ankara riga vilnius tallinn helsinki warsaw prague berlin paris london madrid lisbon
rome vienna budapest minsk kyiv kiev kharkiv odesa chisinau limassol nicosia tel aviv
jerusalem haifa bangkok phuket goa beijing shanghai tokyo seoul york washington toronto
montreal ukrainians chechnya chechen dagestan crimea siberia eu union nato un imf oecd
rosstat
zelensky zelenskyy biden trump obama macron scholz merz sunak starmer erdogan lukashenko
tokayev pashinyan aliyev kobakhidze netanyahu xi jinping medvedev mishustin lavrov peskov
putin shoigu belousov nabiullina sobyanin navalny navalnaya prigozhin kadyrov gorbachev yeltsin
stalin lenin ivan dmitry dmitri sergey sergei andrey andrei mikhail nikolai pavel maxim
olga anna maria elena natalia tatiana irina ekaterina svetlana alexey alexei aleksey aleksei
alexander aleksandr evgeniy evgeny evgenii yevgeny yevgeniy eugene vyacheslav vladimir
"""

_RU = """
украинцы украинцев украинец белоруссия беларусь
белорусы белорусов белорус казахстан казахи казахов казах грузия грузины грузин армения
армяне армян азербайджан азербайджанцы узбекистан узбеки узбеков кыргызстан киргизия
киргизы таджикистан таджики туркменистан туркмены молдова молдавия молдаване монголия
израиль израиля израиле израильтяне германия германии немцы немцев немец франция
французы италия итальянцы испания испанцы португалия нидерланды голландия голландцы
бельгия швейцария австрия польша поляки чехия чехи словакия венгрия венгры румыния
болгария болгары сербия сербы сербов хорватия черногория черногорцы босния албания
греция греки кипр турция турки турков латвия латыши литва литовцы эстония эстонцы
финляндия финны швеция шведы норвегия дания исландия ирландия британия великобритания
англия англичане шотландия сша америка американцы канада канадцы мексика бразилия
аргентина чили перу колумбия китай китайцы япония японцы корея корейцы индия индийцы
вьетнам таиланд тайланд таиланде индонезия бали филиппины малайзия сингапур оаэ
эмираты эмиратах дубай иран ирак сирия египет марокко австралия африка европа европейцы
азия тбилиси батуми ереван баку бишкек ташкент астана алматы белград стамбул анталья
анкара рига вильнюс таллин таллинн хельсинки варшава прага берлин париж лондон мадрид
лиссабон рим вена будапешт минск киев харьков одесса кишинев лимассол тель-авив
иерусалим хайфа бангкок пхукет гоа пекин шанхай токио сеул нью-йорк вашингтон торонто
чечня чеченцы дагестан крым сибирь ес евросоюз нато оон мвф оэср росстат центробанк цб
зеленский зеленского байден трамп обама макрон шольц эрдоган лукашенко токаев пашинян
алиев нетаньяху си цзиньпин медведев мишустин лавров песков шойгу белоусов набиуллина
путин собянин навальный навальная пригожин кадыров горбачев ельцин сталин ленин иван дмитрий
сергей андрей михаил николай павел максим ольга анна мария елена наталья татьяна ирина
екатерина светлана алексей леша евгений женя вячеслав владимир александр
"""


@dataclass(frozen=True)
class Names:
    """The names of one language, as the matcher looks them up."""

    stems: frozenset[str]  # stems of four letters or more: "израил" finds "Израиля"
    words: frozenset[str]  # short names kept whole: "киев" stems to "ки", "eu" to itself

    def found_in(self, words: Sequence[str], stems: Sequence[str | None]) -> frozenset[str]:
        """The names among a text's words (given with their stems)."""
        return frozenset(self.stems.intersection(stems)) | self.words.intersection(words)


@cache
def names(lang: str) -> Names:
    """The names of places, nationalities and people of one language ("en" or "ru")."""
    parts = [part for name in (_EN if lang == "en" else _RU).split() for part in name.split("-")]
    long_stems, short_words = set(), set()
    for part in parts:
        if len(part) < 2:
            continue
        base = stem(part, lang)
        if len(base) >= 4:
            long_stems.add(base)
        else:
            short_words.add(part)
    return Names(frozenset(long_stems), frozenset(short_words))
