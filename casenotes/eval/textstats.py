"""Reference-free measures of a note: length, numeric grounding, leakage of social-media artefacts.

Pure functions, no model. Languages: ``en``, ``fr``, ``es`` (number words); any other language
still gets digits, amounts, dates, times and codes.

Numeric grounding policy (``ungrounded``)
-----------------------------------------
Every number-like mention in the note must be supported by the conversation. Support is
deliberately generous, because a false "ungrounded" flag is as bad as a missed one:

* values, not spellings: "two orders" ~ "2 orders", "$312.40" ~ "312.40" ~ "312,40 €",
  "1,000" ~ "1000" ~ "mille"; an amount may be rounded ("$312" is supported by "$312.40");
* ambiguous forms count under every reading: "1,000" is 1000 or 1.0, "12/03" is 12 March or
  3 December, "12.03" is also a decimal, "3:30" is 03:30 or 15:30;
* parts of compound forms support plain numbers: "ORD-55812" supports "55812", "12/03" supports
  "12", "iOS 11.1.2" supports "11"; a date written with a month name ("March 12", "12 mars",
  "12 de marzo") supports "12/03"; phone numbers match on their digits whatever the grouping;
* a code in the note ("ORD-55812", "v1.0.64") is supported by the same code (case and
  separators ignored) or when every digit run in it is supported ("order 55812");
* "3pm" is supported by "3 pm", "15:00", "15h" or a bare "3".

Words for one and ordinals are not checked in the note, only used as support: "one", "un",
"une", "uno", "una" are mostly articles or pronouns ("one of my orders", "un problème"), and
"first"/"second"/"premier"/"segundo" mostly order events ("second attempt", "one second").
In the conversation they support 1 and their rank, so "1 order" is grounded by "one order" and
"2nd attempt" by "second attempt". Compounds are checked ("one hundred", "vingt et un",
"un millón"). Month names alone are not numbers: "March 12" is checked as "12".
Digits inside @handles, URLs and e-mail addresses are not mentions (see ``leaks``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterator

# ------------------------------------------------------------------ words


_WORD = re.compile(r"[^\W_]+(?:['’\-./:,][^\W_]+)*")


def words(text: str) -> list[str]:
    """Tokens for lengths and ratios: runs of Unicode letters/digits, kept whole across an inner
    apostrophe, hyphen, dot, slash, colon or comma ("don't", "e-mail", "312.40", "12/03",
    "3:30pm", "ORD-55812" are one token each). Punctuation and emoji are not tokens."""
    return _WORD.findall(text)


def reduction_ratio(note: str, conversation: str) -> float:
    """Note tokens / conversation tokens (0 when the conversation has no tokens)."""
    n = len(words(conversation))
    return len(words(note)) / n if n else 0.0


# ------------------------------------------------------------------ leakage
_URL = re.compile(r"(?:https?://|\bwww\.|\bt\.co/)[^\s<>\"]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_TRAILING = re.compile(r"[.,;:!?)\]}'\"…]+$")
# What may follow a signature at the end of a tweet: thread counters, links, emoji, spaces.
_TAIL_JUNK = re.compile(r"(?:\s|\(?\d{1,2}/\d{1,2}\)?|https?://\S+|[:;]-?[()DP]|[^\w\s.!?,;:()\[\]'\"/^*~-])+$")
_SIGN_OFF = r"\b(?i:thanks|thank you|thx|ty|cheers|regards|rgds)"
_SIGNATURES = [
    # ^LD ^mm ^Julie, *TCC, ~Angel: a marker glued to initials or a first name
    re.compile(r"(?:(?<=\s)|(?<=^)|(?<=[.!?)\]]))(?P<sig>[\^~][a-z]{1,4}|[\^~][A-Z][A-Za-z]{0,11}|\*[A-Z][A-Za-z]{0,11})$"),
    # /JI /AU: only after a space ("and/or", "A/B", "24/7" have no space before the slash)
    re.compile(r"(?:(?<=\s)|(?<=^))(?P<sig>/[A-Z]{2,3})$"),
    # -Sam -MP "- Emily" "- WR" "done- Anwar": a dash then initials or one capitalised name ends the line
    re.compile(r"(?:(?<=\s)|(?<=^)|(?<=[.!?]))(?P<sig>-{1,2}\s?(?:[A-Z]{1,3}|[A-Z][a-z]{1,11}))$"),
    re.compile(_SIGN_OFF + r"\s*(?P<sig>-{1,2}\s?(?:[A-Z]{1,3}|[A-Z][a-z]{1,11}))$"),
    re.compile(r"(?<=[a-z])(?P<sig>-\s(?:[A-Z]{2,3}|[A-Z][a-z]{1,11}))$"),
    # "Thanks, Dani" / "Rgds, Amit" / "Thank you. TT" / "Best, Sam"
    re.compile(r"(?:" + _SIGN_OFF + r"|\b(?i:best),)[,.!]?\s+(?P<sig>[A-Z][a-z]{1,11}|[A-Z]{2,3})$"),
]
# Initials that are ordinary words when they end a sentence.
_NOT_NAMES = {"team", "again", "anyway", "appreciated", "all", "everyone", "guys", "so", "much", "you", "very"}
_NOT_INITIALS = {"OK", "US", "UK", "EU", "DM", "ID", "TV", "PC", "AM", "PM", "IT", "OS", "ATM", "USA", "PIN", "SMS", "APP"}


def _signature(line: str) -> str | None:
    line = _TAIL_JUNK.sub("", line.rstrip()).rstrip().rstrip(".!").rstrip()
    for pat in _SIGNATURES:
        m = re.search(pat, line)
        if m:
            sig = m.group("sig")
            core = sig.lstrip("-^~*/ ")
            if sig[0] not in "^*~/" and core in _NOT_INITIALS:
                continue
            if core.lower() in _NOT_NAMES:
                continue
            return sig
    return None


def leaks(text: str) -> dict[str, list[str]]:
    """Social-media artefacts that should not reach a note: ``handles`` (@SpotifyCares, @160485),
    ``urls`` (http(s)://, www., t.co/) and agent ``signatures`` (^LD, /JI, -Sam, *KM, ~AB,
    "- Emily") at the end of the text or of any line (bullet)."""
    urls = [_TRAILING.sub("", u) for u in _URL.findall(text)]
    masked = _EMAIL.sub(" ", _URL.sub(" ", text))
    handles = _HANDLE.findall(masked)
    sigs = [s for line in text.splitlines() if (s := _signature(_URL.sub(" ", line)))]
    return {"handles": handles, "urls": urls, "signatures": sigs}


def _mask_artefacts(text: str) -> str:
    """Blank out URLs, e-mails and handles (same length, so offsets still point into ``text``)."""
    for pat in (_URL, _EMAIL, _HANDLE):
        text = pat.sub(lambda m: " " * len(m.group()), text)
    return text


# ------------------------------------------------------------------ number words
_UNITS = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen",
    "fr": "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize",
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
          "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco "
          "veintiséis veintisiete veintiocho veintinueve",
}
_TENS = {
    "en": "twenty thirty forty fifty sixty seventy eighty ninety",
    "fr": "vingt trente quarante cinquante soixante",
    "es": "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
}


def _vocab(lang: str) -> dict[str, int]:
    v = {w: i for i, w in enumerate(_UNITS[lang].split())}  # es runs on to veintinueve = 29
    v.update({w: 20 + 10 * i for i, w in enumerate(_TENS[lang].split())})
    extra = {
        "en": {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9},
        "fr": {"une": 1, "vingts": 20, "cent": 100, "cents": 100, "mille": 1000, "mil": 1000, "million": 10**6,
               "millions": 10**6, "milliard": 10**9, "milliards": 10**9},
        "es": {"un": 1, "una": 1, "veintiún": 21, "veintiuna": 21, "cien": 100, "ciento": 100, "mil": 1000,
               "millón": 10**6, "millones": 10**6, "doscientos": 200, "trescientos": 300, "cuatrocientos": 400,
               "quinientos": 500, "seiscientos": 600, "setecientos": 700, "ochocientos": 800, "novecientos": 900},
    }[lang]
    for w, n in list(extra.items()):
        if lang == "es" and w.endswith("ientos"):
            extra[w[:-2] + "as"] = n  # doscientas ...
    v.update(extra)
    return {_fold(w): n for w, n in v.items()}


def _fold(w: str) -> str:
    """Lower case without accents: "dieciséis", "dieciseis" and "DIECISÉIS" are one word."""
    return "".join(c for c in unicodedata.normalize("NFD", w.lower()) if not unicodedata.combining(c))


_VOCAB = {lang: _vocab(lang) for lang in _UNITS}
_JOINERS = {"en": {"and"}, "fr": {"et"}, "es": {"y"}}
_ONE = {"en": {"one"}, "fr": {"un", "une"}, "es": {"un", "uno", "una"}}
_SUPPORT_ONE = {"en": {"a", "an"}, "fr": set(), "es": set()}  # "an hour" supports "1 hour"
_ARTICLE_ONE = {"en": {"a", "an"}, "fr": set(), "es": set()}  # "a hundred", never "a" alone
_ORDINALS = {
    "en": "first second third fourth fifth sixth seventh eighth ninth tenth",
    "fr": "premier deuxième troisième quatrième cinquième sixième septième huitième neuvième dixième",
    "es": "primero segundo tercero cuarto quinto sexto séptimo octavo noveno décimo",
}
_ORDINAL_WORDS = {
    lang: {**{_fold(w): i + 1 for i, w in enumerate(ws.split())},
           **({"premiere": 1, "second": 2, "seconde": 2} if lang == "fr" else {}),
           **({"primer": 1, "primera": 1, "segunda": 2, "tercer": 3, "tercera": 3} if lang == "es" else {})}
    for lang, ws in _ORDINALS.items()
}
_MONTHS = {
    "en": "january february march april may june july august september october november december",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
}
_MONTH_NUM = {_fold(w): i + 1 for ws in _MONTHS.values() for i, w in enumerate(ws.split())}
_MONTH_NUM.update({_fold(w[:3]): i + 1 for i, w in enumerate(_MONTHS["en"].split()) if w != "may"})
_MONTH_NUM["sept"] = 9


def _lang(language: str) -> str:
    return (language or "en").lower()[:2]


@dataclass(frozen=True)
class Mention:
    """A number-like span. ``value`` is a readable normal form ("312.4", "15:30", "12/3",
    "ORD55812"); ``keys`` every reading it may have, used for grounding."""

    text: str
    value: str
    kind: str  # number | amount | percent | ordinal | date | time | code | words
    start: int
    end: int
    keys: frozenset[str] = frozenset()


_TOKEN = re.compile(r"[^\W\d_]+|[0-9]+|[-–]")


def _word_numbers(text: str, lang: str, support: bool) -> Iterator[Mention]:
    """Runs of number words ("twenty-two", "quatre-vingt-dix-sept", "mil quinientos")."""
    vocab = _VOCAB.get(lang)
    if vocab is None:
        return
    toks = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[^\W\d_]+", text)]
    i = 0
    while i < len(toks):
        j, value = _parse_words(toks, i, text, lang, vocab)
        if j == i:  # not a number word
            w = _fold(toks[i][0])
            if support and (w in _ORDINAL_WORDS[lang] or w in _ONE[lang] or w in _SUPPORT_ONE[lang]):
                n = _ORDINAL_WORDS[lang].get(w, 1)
                yield Mention(toks[i][0], str(n), "words", toks[i][1], toks[i][2], frozenset({f"n:{n}"}))
            i += 1
            continue
        start, end = toks[i][1], toks[j - 1][2]
        surface = text[start:end]
        single = j - i == 1
        if single and value == 1 and not support:
            i = j  # "one", "un", "una": an article or a pronoun far more often than a count
            continue
        if single and lang == "fr" and _fold(toks[i][0]) == "neuf" and not _neuf_is_nine(text, end):
            i = j  # "un téléphone neuf" = a new phone
            continue
        yield Mention(surface, str(value), "words", start, end, frozenset({f"n:{value}"}))
        i = j


def _neuf_is_nine(text: str, end: int) -> bool:
    return re.match(r"\s+[^\W\d_]", text[end:]) is not None and not re.search(r"\bà\s+neuf$", text[:end], re.I)


def _parse_words(toks, i: int, text: str, lang: str, vocab: dict[str, int]) -> tuple[int, int]:
    """Longest valid number starting at token ``i``: (index after it, value); (i, 0) if none."""
    total, group, last, last_scale, k, best = 0, 0, None, None, i, (i, 0)
    joiners, article = _JOINERS[lang], _ARTICLE_ONE[lang]
    while k < len(toks):
        w = _fold(toks[k][0])
        if k > i and text[toks[k - 1][2]:toks[k][1]].strip(" -‐") != "":
            break  # only spaces or hyphens between the words of one number
        if w in joiners and k > i and k + 1 < len(toks) and _fold(toks[k + 1][0]) in vocab:
            k += 1
            continue
        if w in article and k == i and k + 1 < len(toks) and vocab.get(_fold(toks[k + 1][0]), 0) >= 100:
            group, last, k = 1, 1, k + 1  # "a hundred", "a thousand"
            continue
        v = vocab.get(w)
        if v is None:
            break
        if v >= 1000:
            if last_scale is not None and v >= last_scale:
                break
            total += (group or 1) * v
            group, last, last_scale = 0, None, v
        elif v == 100:
            if group >= 100 or (group and last != group):
                break  # "two hundred", not "twenty-two hundred"
            group, last = (group or 1) * 100, None
        elif v > 100:  # es "doscientos"
            if group:
                break
            group, last = v, None
        elif not _may_follow(last, v, lang, group):
            break
        elif lang == "fr" and v == 20 and last == 4:
            group, last = group + 76, 80  # quatre-vingt(s)
        else:
            group, last = group + v, v
        k += 1
        best = (k, total + group)
    return best


def _may_follow(last: int | None, v: int, lang: str, group: int) -> bool:
    if last is None:
        return v != 0 or group == 0
    if last >= 20 and last % 10 == 0 and 1 <= v <= 9:
        return True  # twenty-two, vingt-deux, treinta y dos
    if lang == "fr":
        if last in (60, 80) and 10 <= v <= 19:
            return True  # soixante-dix, quatre-vingt-onze
        if last == 10 and 7 <= v <= 9:
            return True  # dix-sept
        if last == 4 and v == 20:
            return True  # quatre-vingt
    return False


# ------------------------------------------------------------------ digit forms
_CHUNK = re.compile(r"[^\W_]+(?:[-./:,_#][^\W_]+)*")
_GROUPED = {"fr": re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d,.]\d)"),
            "es": re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d,.]\d)")}
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:USD|EUR|GBP|CAD|MXN|AUD|INR|Rs\.?|R\$)\s?)$", re.I)
_CURRENCY_AFTER = re.compile(r"^\s?(?:[$€£¥]|(?:USD|EUR|GBP|CAD|MXN|dollars?|euros?|pounds?|pesos?|bucks)\b)", re.I)
_AMPM = re.compile(r"^\s?([ap])\.?\s?m\b\.?", re.I)
_SCALE_AFTER = {
    "en": re.compile(r"^\s(thousand|million|billion)\b", re.I),
    "fr": re.compile(r"^\s(mille|millions?|milliards?)\b", re.I),
    "es": re.compile(r"^\s(mil|millón|millones)\b", re.I),
}
_SCALES = {"thousand": 10**3, "mille": 10**3, "mil": 10**3, "million": 10**6, "millions": 10**6, "millón": 10**6,
           "millones": 10**6, "billion": 10**9, "milliard": 10**9, "milliards": 10**9}
_ORD_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th|er|re|e|ème|eme|è|ère|o|a|º|ª)$", re.I)
_TIME = re.compile(r"(?P<h>\d{1,2})(?:(?P<sep>[:h.])(?P<m>\d{2}))?(?::\d{2})?(?P<hsuf>h)?(?P<ampm>[ap]m)?", re.I)
_DATE = re.compile(r"^(\d{1,4})([/.-])(\d{1,2})(?:\2(\d{2,4}))?$")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")


def _canon(d: Decimal) -> str:
    s = format(d.normalize(), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _number_readings(s: str) -> set[Decimal]:
    """Every value a digit string with separators may mean: "1,000" -> {1000, 1}; "312,40" -> {312.4}."""
    out: set[Decimal] = set()
    seps = re.findall(r"[.,]", s)
    if not seps:
        return {Decimal(s)}
    parts = re.split(r"[.,]", s)
    # all separators are thousands separators ("1,000,000", "1.000")
    if len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:]) and (len(set(seps)) == 1):
        out.add(Decimal("".join(parts)))
    # the last separator is the decimal point, the others group thousands ("1.234,56", "1,234.56")
    if len(set(seps[:-1])) <= 1 and (len(seps) == 1 or seps[-1] != seps[0]):
        head = parts[:-1]
        if len(head) == 1 or all(len(p) == 3 for p in head[1:]):
            out.add(Decimal("".join(head) + "." + parts[-1]))
    return out


def _num_keys(values: set[Decimal]) -> set[str]:
    return {f"n:{_canon(v)}" for v in values}


def _hour_keys(h: int, mnt: int, ampm: str | None) -> set[str]:
    if ampm:
        h = h % 12 + (12 if ampm.lower().startswith("p") else 0)
        return {f"t:{h}:{mnt:02d}"}
    return {f"t:{h}:{mnt:02d}"} | ({f"t:{h + 12}:{mnt:02d}"} if h < 12 else set())


def _date_keys(a: int, b: int, y: int | None) -> set[str]:
    keys = set()
    for d, m in ((a, b), (b, a)):
        if 1 <= d <= 31 and 1 <= m <= 12:
            keys.add(f"d:{d}/{m}" + (f"/{y}" if y else ""))
    return keys


def _code_keys(s: str) -> set[str]:
    return {"c:" + re.sub(r"[-./:,_#\s]", "", s).upper(), "c#" + ".".join(str(int(r)) for r in re.findall(r"\d+", s))}


def _time_keys(s: str, after: str) -> set[str] | None:
    """"3:30pm", "3pm", "3 p.m.", "15:30", "15h30", "15h", "3.30pm" -> {"t:15:30"}; else None."""
    t = _TIME.fullmatch(s)
    if not t:
        return None
    h, mnt, sep = int(t["h"]), t["m"], t["sep"]
    ampm = t["ampm"] or ((a := _AMPM.match(after)) and a.group(1))
    if not (ampm or (mnt and sep != ".") or t["hsuf"] or sep == "h"):
        return None  # a bare number, or "12.30" (a decimal or a date)
    mnt_i = int(mnt or 0)
    if mnt_i >= 60 or h > 24 or (ampm and not 1 <= h <= 12):
        return None
    return _hour_keys(h, mnt_i, ampm)


def _digit_mention(text: str, m: re.Match, lang: str) -> Mention:
    s, start, end = m.group(), m.start(), m.end()
    if (keys := _time_keys(s, text[end:end + 6])):
        return Mention(s, min(keys)[2:], "time", start, end, frozenset(keys))
    if (d := _DATE.match(s)):
        if len(d.group(1)) == 4 and d.group(2) == "-":  # ISO 2024-03-12
            return _iso_date(s, start, end, d)
        y = d.group(4)
        keys = _date_keys(int(d.group(1)), int(d.group(3)), (int(y) + 2000 if int(y) < 100 else int(y)) if y else None)
        if keys:
            if d.group(2) == "." and not y:  # "12.03" may be a decimal, "18.04" a time too
                keys |= _num_keys(_number_readings(s)) | _dot_time_keys(s)
            return Mention(s, f"{int(d.group(1))}/{int(d.group(3))}" + (f"/{y}" if y else ""), "date", start, end,
                           frozenset(keys))
    if _NUMBER.match(s) and (values := _number_readings(s)):
        scale = _SCALE_AFTER.get(lang)
        if scale and (sc := scale.match(text[end:end + 12])):  # "2 million", "3 mil"
            values = {v * _SCALES[sc.group(1).lower()] for v in values}
            end += sc.end()
        kind = ("amount" if _CURRENCY_BEFORE.search(text[max(0, start - 5):start]) or _CURRENCY_AFTER.match(text[end:end + 10])
                else "percent" if text[end:end + 2].lstrip().startswith("%") else "number")
        if start and text[start - 1] in "$€£¥":
            start -= 1  # "$312.40" is the mention, as written
        return Mention(text[start:end], _canon(max(values)), kind, start, end,
                       frozenset(_num_keys(values) | _dot_time_keys(s)))
    if (o := _ORD_SUFFIX.match(s)):
        return Mention(s, o.group(1), "ordinal", start, end, frozenset({f"n:{int(o.group(1))}"}))
    if (k := re.fullmatch(r"(\d+(?:[.,]\d+)?)[kK]", s)):  # "5k"
        keys = _num_keys({v * 1000 for v in _number_readings(k.group(1))})
        return Mention(s, min(keys)[2:], "number", start, end, frozenset(keys))
    if (u := re.fullmatch(r"(\d+(?:[.,]\d+)*)[^\W\d_]{1,12}", s)) and (values := _number_readings(u.group(1))):
        # a number glued to its unit: "4.599GB", "1hour", "139,900idr"
        return Mention(s, _canon(max(values)), "number", start, end, frozenset(_num_keys(values) | _code_keys(s)))
    keys = _code_keys(s)
    return Mention(s, next(k for k in keys if k.startswith("c:"))[2:], "code", start, end, frozenset(keys))


def _dot_time_keys(s: str) -> set[str]:
    """"18.04", "8.25": British times are written with a dot."""
    t = re.fullmatch(r"(\d{1,2})\.(\d{2})", s)
    return _hour_keys(int(t.group(1)), int(t.group(2)), None) if t and int(t.group(1)) <= 24 and int(t.group(2)) < 60 else set()


def _iso_date(s: str, start: int, end: int, d: re.Match) -> Mention | None:
    y, mth, day = int(d.group(1)), int(d.group(3)), int(d.group(4) or 0)
    if day and 1 <= mth <= 12 and 1 <= day <= 31:
        return Mention(s, f"{day}/{mth}/{y}", "date", start, end, frozenset({f"d:{day}/{mth}/{y}"}))
    return Mention(s, s, "code", start, end, frozenset(_code_keys(s)))


def _digit_mentions(text: str, lang: str) -> Iterator[Mention]:
    grouped = _GROUPED.get(lang)
    taken: list[tuple[int, int]] = []
    if grouped:  # fr/es "1 000 €": one number, not two
        for g in grouped.finditer(text):
            v = Decimal(re.sub(r"\D", "", g.group()))
            taken.append((g.start(), g.end()))
            yield Mention(g.group(), _canon(v), "number", g.start(), g.end(), frozenset({f"n:{_canon(v)}"}))
    for m in _CHUNK.finditer(text):
        if not re.search(r"[0-9]", m.group()) or any(a <= m.start() < b for a, b in taken):
            continue
        mention = _digit_mention(text, m, lang)
        if mention:
            yield mention


def _all_mentions(text: str, lang: str, support: bool) -> list[Mention]:
    digits = list(_digit_mentions(text, lang))
    # a scale word already read with its digits ("2 million") is not a number of its own
    word_runs = [w for w in _word_numbers(text, lang, support)
                 if not any(d.start < w.end and w.start < d.end for d in digits)]
    return digits + word_runs


def numbers_in(text: str, language: str = "en") -> list[Mention]:
    """Every number, amount, percentage, date, time, code with digits and number-word run in
    ``text``, in order. Digits inside @handles, URLs and e-mails are skipped. Lone words for
    one ("one", "un", "una") and ordinal words are not mentions (see the module's policy)."""
    lang = _lang(language)
    masked = _mask_artefacts(text)
    found = _all_mentions(masked, lang, support=False)
    return [Mention(text[m.start:m.end], m.value, m.kind, m.start, m.end, m.keys)
            for m in sorted(found, key=lambda m: m.start)]


# ------------------------------------------------------------------ grounding
@dataclass(frozen=True)
class _Support:
    keys: frozenset[str]
    digit_streams: tuple[str, ...]


_STREAM = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
# "12 March", "12th of March", "12 mars 2024", "12 de marzo" | "March 12", "Mar 12th, 2024"
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|er)?(?:\s+(?:of|de|del))?\s+([^\W\d_]{3,10})\.?(?:\s+(?:de\s+)?(\d{4}))?")
_MONTH_DAY = re.compile(r"\b([^\W\d_]{3,10})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?")


def _support(conversation: str, lang: str) -> _Support:
    masked = _mask_artefacts(conversation)
    keys: set[str] = set()
    for m in _all_mentions(masked, lang, support=True):
        keys |= m.keys
        for k in m.keys:
            if k.startswith("n:") and "." in k:  # a rounded amount: "$312" is supported by "$312.40"
                v = Decimal(k[2:])
                keys |= {f"n:{_canon(v.to_integral_value(ROUND_HALF_UP))}", f"n:{int(v)}"}
            if k.startswith("d:"):
                keys.add("d:" + "/".join(k[2:].split("/")[:2]))  # the date without its year
        if m.kind in ("date", "time", "code", "ordinal") or re.search(r"[^\W\d_]", m.text):
            # parts of compound forms ("ORD-55812", "40k", "12/03"), never "40" of "312.40"
            keys |= {f"n:{int(r)}" for r in re.findall(r"\d+", m.text)}
    month_dates = [(m.group(1), m.group(2), m.group(3)) for m in _DAY_MONTH.finditer(masked)]
    month_dates += [(m.group(2), m.group(1), m.group(3)) for m in _MONTH_DAY.finditer(masked)]
    for day, month, year in month_dates:
        mth = _MONTH_NUM.get(_fold(month))
        if mth and 1 <= int(day) <= 31:
            keys.add(f"d:{int(day)}/{mth}")
            if year:
                keys.add(f"d:{int(day)}/{mth}/{year}")
    for k in list(keys):  # a lone integer also stands for a code made of it ("order 55812")
        if re.fullmatch(r"n:\d+", k):
            keys.add(f"c#{k[2:]}")
    streams = tuple(re.sub(r"\D", "", s) for s in _STREAM.findall(masked))
    return _Support(frozenset(keys), streams)


def _is_grounded(m: Mention, sup: _Support) -> bool:
    if m.keys & sup.keys:
        return True
    runs = re.findall(r"\d+", m.text)
    if m.kind == "code" and runs and all(f"n:{int(r)}" in sup.keys for r in runs):
        return True  # "ORD-55812" vs "order 55812"
    if m.kind == "date" and "-" in m.text and all(f"n:{int(r)}" in sup.keys for r in runs):
        return True  # "10-14" is as often a range ("10 to 14 days") as a date
    if m.kind == "time":  # "3pm" vs "at 3": on the hour, the hour alone is support
        hours = {int(k[2:].split(":")[0]) for k in m.keys if k.endswith(":00")}
        if any(f"n:{h}" in sup.keys or f"n:{h - 12}" in sup.keys for h in hours):
            return True
    digits = "".join(runs)
    return len(digits) >= 7 and any(digits in s for s in sup.digit_streams)  # phone numbers, any grouping


def ungrounded(note: str, conversation: str, language: str = "en") -> list[str]:
    """Surface forms of the number mentions in ``note`` that nothing in ``conversation`` supports
    (see the module's policy), in note order."""
    lang = _lang(language)
    sup = _support(conversation, lang)
    return [m.text for m in numbers_in(note, lang) if not _is_grounded(m, sup)]
