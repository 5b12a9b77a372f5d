"""Identifiers in a turn (emails, phone numbers, order/booking/ticket codes, names) and the
"customer just gave an identifier" turns that get merged into one note."""
from __future__ import annotations

import re
from dataclasses import dataclass

from casenotes.engines.extractive.lexicon import Lexicon
from casenotes.textcache import per_text

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w-])(?:\+|\()?\d[\d ()-]{7,}\d(?![\w-])")  # "+1 415 555 0199", "(977) 625-2661"
# A code holds a digit and is 4+ characters: HX-48213, 3348917502, VIR-2024-88311, 48291736K.
CODE = re.compile(r"(?<![\w.,])(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w@])")
AMOUNT = re.compile(r"[$€£]\s?\d[\d,. ]*|\d[\d,. ]*\s?(?:[€$£]|(?:eur|usd|euros?|dollars?)\b)", re.I)  # "245,00 €" too
_LEAD_IN = re.compile(
    r"^(?:(?:sure|yes|yeah|ok|oui|sí|si|so|alors)[,\s]+)*(?:(?:it'?s|it is|that'?s|here it is:?|c'est|es)[,\s]+|"
    r"(?:(?:my|the|our|mon|ma|la|le|mi|el)\s+)?(?P<label>[\w' -]{2,30}?)(?:\s+(?:is|c'est|est|es)\s*:?|\s*:)\s+)?", re.I)
_NAME = re.compile(r"(?-i:[A-ZÀ-Ý][a-zà-ÿ'-]+)(?:\s+(?-i:[A-ZÀ-Ý][a-zà-ÿ'-]+)){1,3}")
_DATE_OR_TIME = re.compile(r"^\d{1,2}[:/.]\d{2}([:/.]\d{2,4})?$")
_NOT_CODES = ("name", "le nom", "el nombre", "le montant")  # asked-for items a code cannot be
# Labels of items that are reference numbers (order, account, booking, ticket...), in EN/FR/ES.
_CODE_ITEM = re.compile(r"\b(number|reference|ref|id|numéro|référence|número|pedido|referencia)\b", re.I)


@dataclass(frozen=True)
class Provided:
    """One identifier the customer gave: ``label`` may be empty when nothing names it."""

    label: str
    value: str

    def render(self, compact: bool = False) -> str:
        """``compact``: without the label when the value says what it is (an email, a code with
        letters); a bare number keeps it, "7916676427" could be a phone or an order."""
        evident = EMAIL.fullmatch(self.value) or re.search(r"[A-Za-z]", self.value) and re.search(r"\d", self.value)
        return self.value if compact and evident else f"{self.label} {self.value}".strip()


def codes(text: str) -> list[str]:
    """Codes worth keeping verbatim (not amounts, dates or times)."""
    out = []
    for m in CODE.finditer(text):
        v = m.group(0)
        if len(v) >= 4 and not _DATE_OR_TIME.match(v) and not v.isalpha():
            out.append(v)
    return out


# Dates, times and time frames (EN/FR/ES): "May 17", "14 March", "by 17h", "3 to 5 business days", "24 horas".
_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
           r"janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|"
           r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre")
WHEN = re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th|er)?(?: de| of)? (?:{_MONTHS})\b|\b(?:{_MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?\b|"
                  r"\b\d{1,2}(?::\d{2})? ?(?:am|pm|h\d{0,2})\b|\b\d{1,2}:\d{2}\b|"
                  r"\b\d+ (?:(?:business|working|ouvrés|ouvrables|laborables|hábiles) )?(?:hours?|days?|weeks?|months?|heures?|jours?|semaines?|mois|"
                  r"horas?|días|dias|semanas?|meses)\b(?: (?:ouvrés|ouvrables|laborables|hábiles))?", re.I)


def facts_in(texts: list[str]) -> set[str]:
    """Distinct identifiers, amounts and emails mentioned in ``texts``."""
    return set().union(*(_facts(t) for t in texts)) if texts else set()


@per_text()
def _facts(text: str) -> frozenset[str]:  # cached: called on the whole history at every call
    return frozenset(codes(text) + [m.group(0).strip() for m in AMOUNT.finditer(text)] + EMAIL.findall(text))


def carries_fact(text: str) -> bool:
    """An identifier, an amount, a date, a time or a time frame: something to act on."""
    return carries_identifier(text) or bool(WHEN.search(text))


def carries_identifier(text: str) -> bool:
    """An email, a code or an amount: a sentence holding one is never dropped as a pleasantry."""
    return bool(EMAIL.search(text) or codes(text) or AMOUNT.search(text))


def provided_identifier(sentence: str, lex: Lexicon, asked: tuple[str, ...]) -> Provided | None:
    """The identifier when ``sentence`` is nothing but an identifier (with an optional label),
    e.g. "crystal.minh@example.com", "order 3348917502", "it's HX-48213", "Crystal Minh"
    (a name only counts when the agent asked for one). None for anything richer."""
    s = sentence.strip().rstrip(".!")
    m = _LEAD_IN.match(s)
    label = (m.group("label") or "").strip() if m else ""
    rest = s[m.end():].strip() if m else s
    if label and not rest:
        rest, label = s, ""
    email = EMAIL.fullmatch(rest)
    if email:
        return Provided(_label(label) or _asked(asked, ("mail", "correo")) or lex.labels["email"], rest)
    if PHONE.fullmatch(rest) and sum(c.isdigit() for c in rest) >= 9:
        if not label and rest.isdigit():
            return Provided(_bare_number_label(asked, lex), rest)
        return Provided(_label(label) or _asked(asked, ("phone", lex.labels["phone"])) or lex.labels["phone"], rest)
    # "order 3348917502": up to three label words then one code.
    cm = re.fullmatch(r"(?:(?P<words>[^\d\s@][\w' -]{0,30}?)\s+)?(?P<code>\S+)", rest)
    if cm and codes(cm.group("code")) == [cm.group("code")] and not AMOUNT.search(rest):
        words = (cm.group("words") or "").strip()
        if len(words.split()) <= 3 and not re.search(r"\b(i|je|yo|we)\b", words, re.I):
            named = _label(label or words)
            return Provided(_asked(asked, (named,)) if named else _code_label(asked, lex), cm.group("code"))
    if asked and any("name" in a or "nom" in a or "nombre" in a for a in asked) and _NAME.fullmatch(rest):
        return Provided(lex.labels["name"], rest)
    return None


def _bare_number_label(asked: tuple[str, ...], lex: Lexicon) -> str:
    """Label of an unformatted run of digits ("7916676427"): a phone number and an order number
    look alike, so the agent's last request decides; a phone when nothing was asked."""
    phone = [a for a in asked if "phone" in a or lex.labels["phone"] in a]
    numbers = [a for a in asked if _CODE_ITEM.search(a) and a not in phone]
    if numbers and not phone:
        return numbers[0] if len(numbers) == 1 else ""
    if numbers:
        return ""  # both asked for: no guess
    return phone[0] if phone else lex.labels["phone"]


def _code_label(asked: tuple[str, ...], lex: Lexicon) -> str:
    """Label of an unlabelled code: the one asked-for item a code can be (not a name or email)."""
    keys = ("mail", "phone", lex.labels["email"], lex.labels["phone"])
    fits = [a for a in asked if not any(k in a for k in keys) and a not in _NOT_CODES]
    return fits[0] if len(fits) == 1 else ""


def _label(label: str) -> str:
    """ "Order" (capitalised as a sentence start) -> "order"; acronyms stay."""
    return label[0].lower() + label[1:] if label[:1].isupper() and label[1:2].islower() else label


def _asked(asked: tuple[str, ...], keys: tuple[str, ...]) -> str:
    """The agent's label for the item (it carries the article in FR/ES), else the customer's."""
    for a in asked:
        if any(k and k.lower() in a for k in keys):
            return a
    return keys[0] if len(keys) == 1 and keys[0] not in ("mail", "phone") else ""


def join_provided(items: list[Provided], lex: Lexicon, compact: bool = False) -> str:
    """ "name Crystal Minh, email x@y.com and order 3348917502" (labels repeated once only)."""
    parts = [p.render(compact) for p in items]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f" {lex.labels['and']} " + parts[-1]
