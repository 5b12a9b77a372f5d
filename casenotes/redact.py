"""Opt-in redaction of private data before it reaches an engine, the notes or the edit log.

Found: e-mail addresses, phone numbers (EN/FR/ES formats, with or without country code), card
numbers (13-19 digits, spaces or dashes allowed, Luhn-valid only: an order number is not a card)
and IBANs (ISO 13616 mod-97 checksum). Each is replaced by a placeholder that is stable within a
case: the same value gets the same ``[EMAIL_1]`` every time (``+33 6 12 34 56 78`` and
``06 12 34 56 78`` are the same number), so notes stay readable ("refund to [CARD_1]").

A ``Redactor`` holds one case's numbering. Its state is small and JSON-serialisable
(``to_dict``/``from_dict``) so it can live in the case state. With ``keep_originals`` it keeps
placeholder -> value (``restore`` puts them back, e.g. for the agent's screen); without it keeps
only salted digests: placeholders cannot be reversed from the state. Caveat: a digest of a
low-entropy value (a phone number) can be brute-forced by whoever holds both salt and digest;
the salt only stops precomputed tables and cross-case linking.

Modes (``CASENOTES_REDACT``): ``off``; ``engine`` — what engines see (prompt, LLM server, traces)
and therefore the notes they write; ``engine+log`` — also the edit log records. Pure: no I/O.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from casenotes.model import CaseMetadata, CaseView, Message

MODES = ("off", "engine", "engine+log")
KINDS = ("EMAIL", "IBAN", "CARD", "PHONE")  # search order: an IBAN or card also looks like a phone

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Two letters, two check digits, then 11-30 alphanumerics, optionally in space-separated groups.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Optional +country code, optional (area) or (0), then digit groups separated by space . or -.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,5}(?![\w])")
# An identifier label just before a number: "order 612345678" is an order, not a phone.
_ID_BEFORE = re.compile(r"(?:#|n[°o]\.?|order|ref(?:erence)?|ticket|case|invoice|account|commande|"
                        r"facture|dossier|pedido|factura|referencia|n[uú]mero de (?:pedido|cliente))\W{0,3}$", re.I)
_IBAN_LENGTHS = {"FR": 27, "ES": 24, "GB": 22, "DE": 22, "IT": 27, "BE": 16, "NL": 18, "PT": 25, "CH": 21,
                 "IE": 22, "LU": 20, "AT": 20, "MC": 27, "AD": 24}
#: country code -> trunk prefix that replaces it in the national form (canonical phone key).
_TRUNK = {"33": "0", "34": "", "1": "", "44": "0", "32": "0", "41": "0", "49": "0", "39": ""}


@dataclass(frozen=True)
class Span:
    kind: str  # EMAIL | IBAN | CARD | PHONE
    start: int
    end: int
    key: str  # canonical value: the same item written differently has the same key


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    if not 15 <= len(iban) <= 34 or _IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban_key(text: str) -> str | None:
    """The longest valid IBAN at the start of a greedy match (it may have eaten a trailing word)."""
    groups = text.split(" ")
    while groups:
        candidate = "".join(groups)
        if iban_ok(candidate):
            return candidate
        groups.pop()
    return None


def _card(text: str) -> str | None:
    """The longest Luhn-valid 13-19 digit prefix of a digit run, cut at a separator."""
    cuts = [m.start() for m in re.finditer(r"[ -]", text)] + [len(text)]
    for end in reversed(cuts):
        digits = re.sub(r"\D", "", text[:end])
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return text[:end]
    return None


def _phone_key(raw: str) -> str | None:
    """Canonical national number, or None when the digits do not look like a phone number."""
    intl = raw.startswith("+")
    separated = bool(re.search(r"[ .()-]", raw))
    digits = re.sub(r"\D", "", raw.replace("(0)", ""))
    if intl:
        for cc in (digits[:1], digits[:2], digits[:3]):
            if cc in _TRUNK:
                national = _TRUNK[cc] + digits[len(cc):]
                return national if 9 <= len(national) <= 11 else None
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 11 and digits.startswith("1"):  # NANP written with its country code
        digits = digits[1:]
    if separated:
        return digits if len(digits) in (9, 10) else None
    # Unseparated: only national mobile/landline shapes (FR 0X, ES 6-9, NANP), not any 9-10 digits.
    if re.fullmatch(r"0[1-9]\d{8}|[6-9]\d{8}|[2-9]\d{2}[2-9]\d{6}", digits):
        return digits
    return None


def find_pii(text: str) -> list[Span]:
    """Non-overlapping spans of private data in ``text``, in order."""
    spans: list[Span] = []
    taken = bytearray(len(text))

    def add(kind: str, start: int, end: int, key: str | None) -> None:
        if key and not any(taken[start:end]):
            spans.append(Span(kind, start, end, key))
            taken[start:end] = b"\1" * (end - start)

    for m in _EMAIL.finditer(text):
        add("EMAIL", m.start(), m.end(), m.group().lower())
    for m in _IBAN.finditer(text):
        key = _iban_key(m.group())
        if key:  # the span ends where the valid IBAN ends
            end, n = m.start(), 0
            while n < len(key):
                n += text[end] != " "
                end += 1
            add("IBAN", m.start(), end, key)
    for m in _CARD.finditer(text):
        card = _card(m.group())  # may be shorter than the match ("4111 1111 1111 1111 12 26")
        if card:
            add("CARD", m.start(), m.start() + len(card), re.sub(r"\D", "", card))
    for m in _PHONE.finditer(text):
        if not m.group().startswith("+") and _ID_BEFORE.search(text[max(0, m.start() - 25):m.start()]):
            continue
        add("PHONE", m.start(), m.end(), _phone_key(m.group()))
    return sorted(spans, key=lambda s: s.start)


@dataclass
class Redactor:
    """One case's placeholders. ``seen``: value (or its salted digest) -> placeholder."""

    keep_originals: bool = False
    salt: str = field(default_factory=lambda: secrets.token_hex(8))
    seen: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def _id(self, kind: str, key: str) -> str:
        if self.keep_originals:
            return f"{kind}:{key}"
        return hashlib.blake2b(f"{kind}:{key}".encode(), key=self.salt.encode(), digest_size=12).hexdigest()

    def placeholder(self, span: Span) -> str:
        ident = self._id(span.kind, span.key)
        if ident not in self.seen:
            self.counts[span.kind] = self.counts.get(span.kind, 0) + 1
            self.seen[ident] = f"[{span.kind}_{self.counts[span.kind]}]"
        return self.seen[ident]

    def redact(self, text: str) -> str:
        out, pos = [], 0
        for span in find_pii(text):
            out += [text[pos:span.start], self.placeholder(span)]
            pos = span.end
        return "".join(out) + text[pos:] if out else text

    def restore(self, text: str) -> str:
        """Placeholders back to the values (canonical form); only with ``keep_originals``."""
        if not self.keep_originals:
            return text
        back = {ph: ident.split(":", 1)[1] for ident, ph in self.seen.items()}
        return re.sub(r"\[(?:%s)_\d+\]" % "|".join(KINDS), lambda m: back.get(m.group(), m.group()), text)

    def to_dict(self) -> dict[str, Any]:
        return {"keep_originals": self.keep_originals, "salt": self.salt, "seen": dict(self.seen),
                "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, keep_originals: bool = False) -> "Redactor":
        """The stored state, or a fresh redactor. Switching ``keep_originals`` off forgets the
        originals already kept (digests replace them); switching it on cannot recover them."""
        if not d:
            return cls(keep_originals=keep_originals)
        r = cls(d.get("keep_originals", False), d["salt"], dict(d.get("seen", {})), dict(d.get("counts", {})))
        if r.keep_originals and not keep_originals:
            r.seen = {r._digest(ident): ph for ident, ph in r.seen.items()}
            r.keep_originals = False
        return r

    def _digest(self, ident: str) -> str:
        kind, key = ident.split(":", 1)
        return replace(self, keep_originals=False)._id(kind, key)


# --- applying it to the domain objects ------------------------------------------------------------
def redact_message(message: Message, redactor: Redactor) -> Message:
    text = redactor.redact(message.text)
    return message if text == message.text else replace(message, text=text)


def redact_metadata(metadata: CaseMetadata, redactor: Redactor) -> CaseMetadata:
    r = lambda m: {k: redactor.redact(v) for k, v in m.items()}  # noqa: E731
    return CaseMetadata(r(metadata.customer), r(metadata.agent), r(metadata.attributes))


def redact_view(view: CaseView, redactor: Redactor) -> CaseView:
    """What an engine may see: metadata, every message and the accepted bullets redacted (an
    agent may have typed a number into a bullet). Numbering follows first appearance, in order."""
    metadata = redact_metadata(view.metadata, redactor)
    history = tuple(redact_message(m, redactor) for m in view.history)
    bullets = tuple(b if (t := redactor.redact(b.text)) == b.text else replace(b, text=t) for b in view.bullets)
    return replace(view, metadata=metadata, history=history, bullets=bullets)


def redact_log_record(record: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """An edit log record (``EditLogRecord`` dict) with its texts and generation context redacted."""
    out = dict(record)
    for key in ("before", "after"):
        if out.get(key):
            out[key] = redactor.redact(out[key])
    ctx = out.get("generation_context")
    if isinstance(ctx, dict):
        ctx = dict(ctx)
        ctx["metadata"] = {k: {n: redactor.redact(v) for n, v in (m or {}).items()}
                           for k, m in (ctx.get("metadata") or {}).items()}
        ctx["history"] = [{**m, "text": redactor.redact(m.get("text", ""))} for m in ctx.get("history", [])]
        ctx["prefix_bullets"] = [redactor.redact(t) for t in ctx.get("prefix_bullets", [])]
        out["generation_context"] = ctx
    return out


def redacts_engine(mode: str) -> bool:
    return _check(mode) != "off"


def redacts_log(mode: str) -> bool:
    return _check(mode) == "engine+log"


def _check(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"CASENOTES_REDACT={mode!r}: choose one of {', '.join(MODES)}")
    return mode
