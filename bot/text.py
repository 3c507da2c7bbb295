"""Text normalization for matching: one place that decides what a "word" is.

Both the index (built from the knowledge base) and every incoming question go through
the same functions, so the two sides always agree.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_EN_STEMMER = snowballstemmer.stemmer("english")
_RU_STEMMER = snowballstemmer.stemmer("russian")

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
# Words are runs of letters and digits; a decimal point or comma between digits stays.
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+|(?<=[?])")

# Function words that carry no topic. Question words are NOT here: they become intent
# tokens (see QUESTION_WORDS), because "why" and "how many" ask for different entries.
EN_STOP = frozenset(
    """
    a an the and or but if then so of to in on at by for from with as into onto
    is are was were be been being am do does did doing have has had having will would shall
    should can could may might must i me my mine we us our ours he him his she her hers it its
    they them their theirs this that these those there here such some any all each every
    very really actually just also too even ever only more most many much
    nor than then well ok okay oh hey hi hello hiya thanks thank please pls plz
    tell know let lets let's like want wanna gonna got get gets getting going go
    something anything thing things stuff kind sort lot lots bit quite rather pretty maybe
    perhaps sure yes yeah yep mean means wondering wonder curious question asking ask
    dear friend guys folks bro morning evening afternoon greetings regards cheers
    anyone someone somebody anybody which whose whom one ones im i'm ive i've id i'd youre
    ur r hm hmm um uh btw lol pls thx ty
    explain explained guy guys ppl people's rn tbh imo lmao omg wow huh exactly basically
    could would there's isnt aren't wasnt don't dont doesnt didnt cant can't won't
    true right correct happen happened happening whats what's
    yo em legit seriously honestly literally anyway anyways whatever kinda sorta dunno
    gotta idk fr ngl everyone everybody someone's
    tho though bruh smh rofl nah nope yup lemme gimme dude deal abt bc cuz coz bcoz
    ballpark roughly approximately approx around far again anymore already yet lately soon
    tf wtf heck hell sudden suddenly whole vs versus feel feels able unable actively mid put
    crazy frm pack packed packing apply applied applying handle handles case general
    heard hear read saw seen gotten bunch main
    """.split()
)
RU_STOP = frozenset(
    """
    и а но или да нет ни же ли бы то это этот эта эти тот та те так также тоже уже
    в во на с со к ко у о об от до по за из изо при про для без над под через между
    я мне меня мой моя мои мы нас нам наш он его ему она ее ей они их им оно свой свои
    был была были было быть будет есть является буду будут бывает
    вот вообще очень просто именно только ведь вон там тут здесь потом
    ваш ваша ваше ваши вас вам тебя тебе твой твоя твои
    ну ой эй привет здравствуйте здравствуй добрый день вечер утро спасибо пожалуйста плиз
    подскажите подскажи скажите скажи расскажите расскажи объясните объясни интересно
    хочу хотел хотела хотелось знать узнать знаю
    вопрос вопросик можно ли как-то какой-то что-то кто-то все всё весь вся всех всего
    который которые которая которых чем чтобы если когда-то ах ох хм ага угу ок окей
    кстати короче типа вроде якобы пжл спс сих пор стоит
    слушай слушайте блин ваще вообще-то реально правда действительно
    так-то значит это-то лол ладно хорошо понятно
    вдруг норм типо капец прям чего-то всё-таки вообщем ето наши наших нашим
    чувак чел благодаря слышь чтоли мужик мужика мужиком около примерно приблизительно успел
    успела успели него нему ним нём нем неё ней них ними мной мною тобой собой себя себе вами
    тех теми того тому тем кажется казалось похоже известно итоге ти делать взял го ого
    изначально понять основные тогда помню напомни напомните вообше опять совсем серьезно
    какой какая какое какие каких какую каким какого какими каком
    слышал слышала слышали говорят читал читала читали видел видела
    которой которую которому котором которым которыми которого которое
    """.split()
)

# Addressing the bot ("thank you", "ты тупой") is small talk unless a question word makes
# it a question about the bot ("what can you do?", "кто ты?").
ADDRESS_WORDS = frozenset({"you", "your", "yours", "u", "ya", "ты", "вы"})

# Asking for personal advice ("should I go back?", "стоит ли мне возвращаться?"): the source
# reports; it never advises, so no entry can answer such a question.
_ADVICE = re.compile(
    r"\b(?:should (?:i|we|my|our)(?! (?:ask|type|write|say|use|start|begin)\b)|"  # ask the bot
    r"shall i|is it (?:worth|safe|a good idea)|worth it|"
    r"(?:would|is) it (?:be )?(?:smart|wise|sensible|better|safe|a good idea) "
    r"(?:for (?:me|us) )?to (?:go|return|move|come|stay|leave)|"
    r"имеет ли смысл (?:мне|нам)|(?:мне|нам)\W+(?:\w+\W+){0,2}имеет смысл|"
    r"(?:do|would|can) you (?:recommend|advise|suggest)|advise me|your advice|"
    r"стоит ли (?:мне|нам|возвращаться|вернуться|уезжать|ехать)|(?:мне|нам) стоит|"
    r"посоветуй|посоветуйте|советуете|"
    r"(?:мне|нам)(?: [а-я]+){0,2} лучше|что (?:мне|нам) делать|безопасно ли|"
    # A personal decision or a personal future: "return or stay?", "will I be drafted if I go
    # back?". The article reports on others; it cannot say what happens to the one asking.
    r"(?:i|we) (?:\w+ )?(?:go back|return|move back|come back) or stay|"
    r"(?:вернуться|возвращаться|ехать обратно) или (?:остаться|оставаться)|"
    r"if i (?:go back|return|come back|move back)|will i (?:be|get)|if you were me|"
    r"would you (?:go back|return|come back|move back)|на моем месте|"
    r"если я (?:вернусь|приеду|поеду)|меня (?:призовут|заберут|мобилизуют))\b"
)


_SMALL_TALK = frozenset(
    """
    hi hello hey hiya yo howdy greetings good morning evening afternoon day night thanks thank
    you thx ty cheers bye goodbye ok okay cool great nice bot dear so much very lot
    helpful useful awesome perfect excellent wonderful amazing helped hope
    привет приветик здравствуйте здравствуй добрый доброе день утро вечер спасибо благодарю
    пока ок окей хорошо понятно ясно бот большое огромное спс пасиб полезно супер круто
    отлично класс помог помогла помогло помогли приветики здрасте здрасьте салют спасибочки
    privet privetik privetiki spasibo spasibki spasibochki bolshoe poka zdravstvuyte
    zdravstvuite zdravstvuj zdrasti zdraste dobriy dobryy dobryj dobroe den utro vecher hallo
    heya
    """.split()
)


# Words that address the bot: with a greeting they are small talk ("hi bot"), alone they are a
# question about it ("are you a bot?").
_ADDRESSEES = ADDRESS_WORDS | {"bot", "бот", "dear"}


# "How are you?" greets; it does not ask about anything the article says.
_HOW_ARE_YOU = re.compile(
    r"\b(?:how are (?:you|u|ya)|how r u|how(?:'s| is) it going|what'?s up|whats up|sup|"
    r"как (?:дела|ты|вы|поживаешь|поживаете|жизнь|настроение|(?:твой|ваш|прошел) день)|"
    r"kak (?:dela|ty|ti|nastroenie)|how(?:'s| is| was) your (?:day|mood)|how do you do|"
    r"как сам|че как|чё как)\b"
)


# A word of folded text that words() keeps as it is: two or more basic Latin or Cyrillic
# letters between spaces. Folding it again changes nothing (no mark, composition or case),
# and no rule of words() (thousands, "4" for ч, markup) touches it.
_PLAIN_WORD = re.compile(r"(?<![^ ])[a-zа-я]{2,}(?![^ ])")


def is_small_talk(text: str) -> bool:
    """Tell whether a message is only a greeting or thanks ("hi there!", "thanks, that helped").

    Function words may surround the greeting; a question word never may.
    """
    folded = fold(text)
    if _HOW_ARE_YOU.search(folded) is None:
        for plain in _PLAIN_WORD.findall(folded):
            if plain not in _SMALL_TALK and not _is_filler(plain):
                return False  # most messages: a plain word that neither greets nor thanks
    found = words(_HOW_ARE_YOU.sub(" hi ", folded))
    return (
        any(word in _SMALL_TALK and word not in _ADDRESSEES for word in found)
        and not any(word in QUESTION_WORDS for word in found)
        and all(word in _SMALL_TALK or _is_filler(word) for word in found)
    )


def _is_filler(word: str) -> bool:
    """A function word of either language (question words are not)."""
    return word in EN_STOP or word in RU_STOP


# A question about what is yet to happen ("will there be a draft this fall?", "объявят ли
# мобилизацию?"): the article reports what happened and forecasts nothing.
_FUTURE = re.compile(
    r"\b(?:will there be|is there going to be|are there going to be|what will happen(?!,? if)|"
    r"(?<!why )will (?:they|people|russians|more|most|the|it|russia|putin|emigrants|relocants|"
    r"returnees|anyone|others)|when will|in the future|"
    r"будет ли|будут ли|объявят ли|вернутся ли|начнется ли|что будет(?!,? если)|когда будет|"
    r"в будущем)\b"
)


# Every alternative of _FUTURE holds one of these: most messages skip the regex.
_FUTURE_WORDS = ("will", "going to", "future", "буд", " ли")


def asks_about_future(text: str) -> bool:
    """Tell whether a message asks what will happen, which a news report cannot say."""
    folded = fold(text)
    return any(word in folded for word in _FUTURE_WORDS) and bool(_FUTURE.search(folded))


def asks_for_advice(text: str) -> bool:
    """Tell whether a message asks the bot for personal advice, which the source never gives."""
    return bool(_ADVICE.search(fold(text)))


# Question words become intent tokens shared by both languages.
QUESTION_WORDS: dict[str, str] = {
    "why": "?why",
    "how": "?how",
    "who": "?who",
    "when": "?when",
    "where": "?where",
    "what": "?what",
    "whats": "?what",
    "what's": "?what",
    "whatd": "?what",  # "what'd", "where'd", "how'd" lose their apostrophe in words()
    "whered": "?where",
    "howd": "?how",
    "whod": "?who",
    "whyd": "?why",
    "почему": "?why",
    "зачем": "?why",
    "отчего": "?why",
    "нафига": "?why",
    "нахрена": "?why",
    "чего": "?why",
    "причина": "?why",
    "причины": "?why",
    "сколько": "?many",
    "скольк": "?many",
    "как": "?how",
    "кто": "?who",
    "когда": "?when",
    "date": "?when",
    "дата": "?when",
    "числа": "?when",
    "где": "?where",
    "куда": "?where",
    "что": "?what",
    "чё": "?what",
    "че": "?what",
    "шо": "?what",
    "wat": "?what",
    "hw": "?how",
    "wut": "?what",
    "каковы": "?what",
    "каков": "?what",
    "какова": "?what",
    "скока": "?many",
    "скоко": "?many",
    "скольки": "?many",
}
# "how many" / "how much" ask for an amount; a lone "many" ("so many people") does not.
_AMOUNT_AFTER_HOW = frozenset({"many", "much"})
_HOW = frozenset({"how", "hw"})  # "hw many" is how many, typed on a phone


class _FoldTable(dict[int, str]):
    """str.translate table computed lazily per character (Unicode category decides)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        category = unicodedata.category(char)
        if category[0] in "LN" or char in "'’.,":
            out = char
        elif category[0] in "ZPS" or char in "\n\t\r":
            out = " "  # spaces, punctuation, symbols (emoji) separate words
        else:
            out = ""  # control (Cc) and format (Cf: zero-width joiners, BOM) vanish
        self[code] = out
        return out


_FOLD_TABLE = _FoldTable()


@lru_cache(maxsize=1024)  # one message is folded by several checks in turn
def fold(text: str) -> str:
    """Unicode-normalize and casefold; drop control, zero-width and emoji characters."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(text.translate(_FOLD_TABLE).split())


_FOUR_AS_CH = re.compile(r"(?<=[A-Za-z])4(?=[A-Za-z])|\b4(?=(?:to|e|ego|em|ei|ej)\b)")
_THOUSANDS_K = re.compile(r"\b(\d{1,3})\s?[kKкК]\b")
_IT_UPPER = re.compile(r"(?<![A-Za-z'’])IT(?![A-Za-z'’])")
_CAPS_WORD = re.compile(r"\b[A-Z]{2,}\b")


def _shouted(text: str) -> bool:
    """Caps lock on ("WHY IS IT SO"): then "IT" is just "it"."""
    return sum(1 for word in _CAPS_WORD.findall(text) if word != "IT") >= 2


_MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")


def words(text: str) -> list[str]:
    """Split folded text into words (letters, or numbers with their separators).

    Markup tags a user pasted ("<b>", "</blockquote>") and lone letters carry no topic.
    """
    if "<" in text:
        text = _MARKUP.sub(" ", text)
    if "IT" in text and not _shouted(text):
        text = _IT_UPPER.sub(" itsector ", text)  # "IT" is the sector, "it" a pronoun
    if "k" in text or "к" in text:  # "300k", "300к": thousands
        text = _THOUSANDS_K.sub(r"\g<1>000", text)
    if "%" in text:  # "what % came back?", "40%": the sign is the word
        text = text.replace("%", " percent ")
    if "4" in text:  # "po4emu", "4to": 4 stands for ч in Latin-script Russian
        text = _FOUR_AS_CH.sub("ch", text)
    return [
        word if word.isalpha() else _tidy_token(word)
        for word in _WORD.findall(fold(text))
        if len(word) > 1 or word.isdigit() or word == "u"  # "what can u do"
    ]


# What makes words() look beyond a space: numbers ("300 k"; the matcher also joins "300 000",
# "300 тысяч" and "forty five", see NUMBER_WORDS), markup tags and "IT" (is the whole text
# shouted?). None is a space.
_BEYOND_SPACES = re.compile(r"[\d<]|IT")


def splits_at_spaces(text: str) -> bool:
    """Tell whether words(text) is the words of its " "-separated pieces, one after another.

    Folding and the word pattern never join across a space, and without the few things
    above nothing else does: the index reads such a text piece by piece, each distinct
    piece once, however many texts repeat it.
    """
    return _BEYOND_SPACES.search(text) is None and _NUMBER_WORD.search(text.casefold()) is None


def _tidy_token(word: str) -> str:
    """One spelling per token: "1,5" → "1.5", "what's" → "what", "don't" → "dont"."""
    word = word.replace("’", "'")
    if word[0].isdigit():
        return word.replace(",", ".")
    return word[:-2] if word.endswith("'s") else word.replace("'", "")


def script_of(text: str) -> str | None:
    """Return "ru" for Cyrillic text, "latin" for Latin-only text, None with no letters."""
    # Most messages use one script: then there is nothing to count.
    if _LATIN.search(text) is None:
        return "ru" if _CYRILLIC.search(text) is not None else None
    if _CYRILLIC.search(text) is None:
        return "latin"
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic == 0 and latin == 0:
        return None
    return "ru" if cyrillic >= latin else "latin"


def sentences(text: str) -> list[str]:
    """Split a message into sentences, so a question buried in a long message is found."""
    body = text[:-1]  # a mark at the very end splits nothing off: "how many came back?"
    if "\n" not in text and not any(mark in body for mark in ".!?…"):
        return [text.strip() or text]  # one sentence, as the split below would find
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return parts or [text]


# Latin transliteration of Russian → Cyrillic, longest patterns first. Covers the common
# habits (GOST, BGN, "phone" transliteration): sch/shch, kh/h, ts/c, ya/ja/ia, yu/ju/iu, j/y.
_TRANSLIT_MULTI = (
    ("tsya", "тся"),
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ts", "ц"),
    ("tz", "ц"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("iu", "ю"),
    ("ya", "я"),
    ("ja", "я"),
    ("ia", "я"),
    ("yo", "е"),
    ("jo", "е"),
    ("ye", "е"),
    ("je", "е"),
    ("ei", "ей"),
    ("ey", "ей"),
    ("ai", "ай"),
    ("ay", "ай"),
    ("oi", "ой"),
    ("oy", "ой"),
    ("ui", "уй"),
    ("uy", "уй"),
    ("iy", "ий"),
    ("ij", "ий"),
    ("yj", "ый"),
    ("y", "ы"),
    ("x", "кс"),
)
_TRANSLIT_SINGLE = str.maketrans(
    {
        "a": "а",
        "b": "б",
        "v": "в",
        "w": "в",
        "g": "г",
        "d": "д",
        "e": "е",
        "z": "з",
        "i": "и",
        "j": "й",
        "k": "к",
        "q": "к",
        "l": "л",
        "m": "м",
        "n": "н",
        "o": "о",
        "p": "п",
        "r": "р",
        "s": "с",
        "t": "т",
        "u": "у",
        "f": "ф",
        "h": "х",
        "c": "ц",
        "'": "ь",
    }
)
# A vowel + y/i/j pair is a diphthong (ай, ей…) only before a consonant or the end:
# in "vozvrashchayutsya" the "y" starts "yu" (ю), it does not close "ay".
_DIPHTHONGS = {"ei", "ey", "ai", "ay", "oi", "oy", "ui", "uy", "iy", "ij", "yj"}
_TRANSLIT_RE = re.compile(
    "|".join(p + "(?![aeiouy])" if p in _DIPHTHONGS else p for p, _ in _TRANSLIT_MULTI)
)
_TRANSLIT_MAP = dict(_TRANSLIT_MULTI)


# Letter groups that English words rarely have but transliterated Russian often does.
_TRANSLIT_HINT = re.compile(r"zh|kh|shch|yu|[a-z]j[aeiou]|yy|aya\b|ogo\b|ykh\b")


def looks_transliterated(text: str) -> bool:
    """Tell whether Latin-script text shows transliterated-Russian letter groups ("ja", "zh")."""
    return bool(_TRANSLIT_HINT.search(fold(text)))


@lru_cache(maxsize=65536)
def latin_to_cyrillic(word: str) -> str:
    """Transliterate a Latin-script Russian word back to Cyrillic, approximately.

    Exactness is not needed: the result is stemmed and typo-corrected against the
    Russian vocabulary, which absorbs the remaining ь/й/ы ambiguity.
    """
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], word).translate(_TRANSLIT_SINGLE)


@lru_cache(maxsize=65536)
def stem(word: str, lang: str) -> str:
    """Stem one folded word in `lang` ("en" or "ru"); numbers are kept as they are."""
    if word[0].isdigit():
        return word
    if lang == "ru":
        if _LATIN.search(word):
            word = latin_to_cyrillic(word)
        return _RU_STEMMER.stemWord(word)
    return _EN_STEMMER.stemWord(word)


def is_stop(word: str, lang: str) -> bool:
    """Tell whether `word` is a function word in `lang` (question words never are)."""
    if word in QUESTION_WORDS:
        return False
    return word in (RU_STOP if lang == "ru" else EN_STOP)


def intent_tokens(raw_words: list[str]) -> list[str]:
    """Map question words to shared intent tokens ("how many" → "?many")."""
    out: list[str] = []
    for position, word in enumerate(raw_words):
        if word not in _INTENT_WORDS:
            continue  # most words: none of the cases below
        previous = raw_words[position - 1] if position else ""
        if word in _AMOUNT_AFTER_HOW and previous in _HOW:
            out[-1] = "?many"
        elif word in _TIME_AFTER_HOW_MANY and out and out[-1] == "?many" and previous not in _HOW:
            out[-1] = "?how"  # "сколько времени" is how long, as "how long" is not "how many"
        elif word == "what" and previous == "or":
            pass  # "are people coming back or what": a tag, not a question about a thing
        elif word == "when" and position > 0 and not _asks_when(raw_words, position):
            pass  # "is it hard when you live abroad": a conjunction, not a question
        elif word in _RELATIVE and previous in _ANTECEDENTS:
            pass  # "those who left", "тех, кто вернулся": who they are, not a "who?" question
        elif (token := QUESTION_WORDS.get(word)) is not None:
            out.append(token)
    return out


_TIME_AFTER_HOW_MANY = frozenset({"времени", "время", "vremeni", "vremya"})
_RELATIVE = frozenset({"who", "кто"})
_ANTECEDENTS = frozenset(
    "those people ones everyone anyone russians emigrants relocants "
    "те тех теми тем тот того всех все люди людей россияне россиян эмигранты релоканты".split()
)
# Every word intent_tokens acts on (the antecedents only matter before one of these).
_INTENT_WORDS = frozenset(QUESTION_WORDS) | _AMOUNT_AFTER_HOW | _TIME_AFTER_HOW_MANY | _RELATIVE


# "When was/did/is …" asks for a date; "when you live abroad", "when Putin ordered" do not.
_AUXILIARIES = frozenset(
    "was were is are did do does will would has have had can could should exactly".split()
)


def _asks_when(raw_words: list[str], position: int) -> bool:
    following = raw_words[position + 1] if position + 1 < len(raw_words) else ""
    return following in _AUXILIARIES or following == ""


_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+$")
_THOUSAND_WORDS = frozenset(
    {"тысяч", "тысячи", "тысяча", "тыс", "тысч", "тыщ", "тыщи", "thousand", "thousands"}
    | {"tysyach", "tysiach", "tys"}
)


def _by_spelling(spellings: dict[int, str]) -> dict[str, int]:
    """Invert {value: "its spellings, space-separated"} into {spelling: value}."""
    return {word: value for value, forms in spellings.items() for word in forms.split()}


# Numbers written as words: tens and hundreds always; units only beside them ("forty five",
# "three hundred"), since "one" is mostly not a number ("the ones who left").
_TENS = _by_spelling(
    {
        20: "twenty двадцать двадцати",
        30: "thirty тридцать тридцати",
        40: "forty fourty сорок сорока",
        50: "fifty пятьдесят пятидесяти",
        60: "sixty шестьдесят шестидесяти",
        70: "seventy семьдесят семидесяти",
        80: "eighty восемьдесят восьмидесяти",
        90: "ninety девяносто девяноста",
        100: "hundred сто ста",
        200: "двести двухсот",
        300: "триста трехсот",
        400: "четыреста четырехсот",
        500: "пятьсот пятисот",
    }
)
_UNITS = _by_spelling(
    {
        1: "one один одна",
        2: "two два две",
        3: "three три",
        4: "four четыре",
        5: "five пять",
        6: "six шесть",
        7: "seven семь",
        8: "eight восемь",
        9: "nine девять",
    }
)
NUMBER_WORDS = frozenset(_TENS) | _THOUSAND_WORDS
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(sorted(NUMBER_WORDS)) + r")\b")


def _numbers_from_words(tokens: list[str]) -> list[str]:
    """Replace "forty five" with "45" and "three hundred" with "300"."""
    out: list[str] = []
    for position, token in enumerate(tokens):
        previous = out[-1] if out else ""
        following = tokens[position + 1] if position + 1 < len(tokens) else ""
        if token in _TENS:
            value = _TENS[token]
            if value == 100 and previous.isdigit() and int(previous) < 10:
                out[-1] = str(int(previous) * 100)  # "three hundred"
            elif previous.isdigit() and int(previous) % 100 == 0 and value < 100:
                out[-1] = str(int(previous) + value)  # "three hundred forty"
            else:
                out.append(str(value))
        elif token in _UNITS and (
            (previous.isdigit() and int(previous) % 10 == 0 and previous != "0")
            or following == "hundred"
        ):
            unit = _UNITS[token]
            if following == "hundred":
                out.append(str(unit))
            else:
                out[-1] = str(int(previous) + unit)  # "forty five"
        else:
            out.append(token)
    return out


def canonical_numbers(tokens: list[str]) -> list[str]:
    """Write every number one way: 300,000 = 300 000 = 300 тысяч → "300000"; 22 → 2022.

    Tens and hundreds written as words count too: "forty percent", "сорок процентов".
    """
    if not NUMBER_WORDS.isdisjoint(tokens):
        tokens = _numbers_from_words(tokens)
    out: list[str] = []
    for token in tokens:
        previous = out[-1] if out else ""
        is_number = previous[:1].isdigit() and "." not in previous
        if token[0].isdigit():
            if _GROUPED.match(token):
                token = token.replace(".", "")
            elif is_number and len(token) == 3 and token.isdigit() and len(previous) <= 3:
                out[-1] = previous + token  # "300 000": a thousands group typed with a space
                continue
            out.append(token)
        elif token in _THOUSAND_WORDS and is_number:
            out[-1] = str(int(previous) * 1000)
        else:
            out.append(token)
    return [expand_year(t) if t.isdigit() else t for t in out]


_SHORT_YEAR = re.compile(r"^(1[4-9]|2\d|30)$")


def expand_year(word: str) -> str:
    """Read a two-digit number like "22" (as in "в 22-м", "in '22") as the year 2022."""
    return f"20{word}" if _SHORT_YEAR.match(word) else word


# Words (or their beginnings) that state an amount or name a month. Testing each as a
# substring finds what one regex alternation of them finds, several times faster over an
# answer text, which the index checks for every entry.
_QUANTITY_WORDS = (
    "half third fifth quarter percent thousand hundred million dozen "
    "половин трет пят четверт процент тысяч сотн сотен миллион десят"
).split()
_MONTHS = (
    "january february march april may june july august september october november december "
    "январ феврал март апрел мая май июн июл август сентябр октябр ноябр декабр"
).split()
_ANY_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def states_quantity(text: str) -> bool:
    """Tell whether a text gives an amount (digits, "half", "тысяч"): can it answer "how many"?"""
    text = text.casefold()
    return _ANY_DIGIT.search(text) is not None or any(word in text for word in _QUANTITY_WORDS)


def states_time(text: str) -> bool:
    """Tell whether a text gives a date, year or month: can it answer "when"?"""
    text = text.casefold()
    if ("19" in text or "20" in text) and _YEAR.search(text) is not None:
        return True
    return any(month in text for month in _MONTHS)


# "According to the article", "does your source mention", "что пишут в статье": the frame of
# a question about the article's content, not a question about the source itself.
_SOURCE_FRAMING = re.compile(
    r"\b(?:according to|does|did|do|is (?:that|it|this) (?:in|true according to)|in|from)\s+"
    r"(?:the|your|this|that)\s+(?:article|source|info|information|text|story|report|piece)"
    r"(?:\s+(?:say|says|said|mention|mentions|talk about|cover|covers|state|states))?\b|"
    r"(?:по|в|из)\s+(?:твоим|вашим|твоей|вашей|этой|твоему|вашему|этому)?\s*"
    r"(?:данным|информации|статье|статьи|источнику|источнике|тексту|тексте)\b|"
    r"(?:что|как)\s+(?:пишут|пишется|говорится|сказано|написано)\s+в\s+статье",
    re.IGNORECASE,
)


# Every alternative of _SOURCE_FRAMING holds one of these words: a message with none of them
# cannot be framed, and most messages have none. A substring test on the casefolded text is
# ten times cheaper than the regex (casefold also maps the long s and the Kelvin sign, as the
# regex's IGNORECASE does).
_FRAMING_WORDS = (
    "article", "source", "info", "text", "story", "report", "piece",
    "данным", "информации", "стать", "источник", "текст",
)  # fmt: skip


def without_source_framing(text: str) -> str:
    """Drop "according to the article" and the like, unless nothing else is asked."""
    folded = text.casefold()
    if not any(word in folded for word in _FRAMING_WORDS):
        return text
    stripped = _SOURCE_FRAMING.sub(" ", text)
    if stripped == text:
        return text
    asked = [
        w for w in words(stripped) if w.isalpha() and not _is_filler(w) and w not in QUESTION_WORDS
    ]
    return stripped if asked else text
