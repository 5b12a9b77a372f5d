"""Dialogue acts: split a turn into sentences, strip what carries no case information, and
label what is left (issue, request, information given, agent action, commitment, ...).

Pure functions over the lexicons in :mod:`lexicon`; no state, so results are deterministic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from casenotes.engines.extractive.lexicon import LEXICONS, Lexicon
from casenotes.textcache import per_text

# Dropped acts: they never become notes.
SOCIAL, HOLD, AUTH = "social", "hold", "auth"
# Customer acts.
ISSUE, REQUEST, QUESTION, ACTION, CONTEXT, INFO = "issue", "request", "question", "action", "context", "info"
# Agent acts.
FOLLOW_UP, DONE, COMMIT, INSTRUCTION, FINDING, EXPLAIN, VERIFIED = (
    "follow_up", "done", "commit", "instruction", "finding", "explain", "verified")
TRANSFER = "transfer"
DROPPED = frozenset({SOCIAL, HOLD, AUTH})

_TERMINAL = re.compile(r"[.!?…»\")]\s*$")
_DANGLING = re.compile(r"(,|\.\.\.|…|-|—|\b(and|but|so|because|of|the|a|to|at|et|mais|parce que|que|de|y|pero|porque|todavía|del?))\s*$", re.I)
_NAME_CAP = "(?-i:[A-ZÀ-Ý])"
# Call openings: "Crestline Bank loans servicing, my name is Kevin." / "Onda Móvil, le atiende Marta".
_OPENING = re.compile(r"^[^,.?!]{0,50}, (?:my name is|this is|you'?re speaking with|\w+ à l'appareil|ici|le atiende|te atiende)"
                      r"(?: [A-ZÀ-Ý]\w+)?[,.]?\s*")
_NAME_ALONE = re.compile(r"(?:Mr|Mrs|Ms|Madame|Monsieur|señora?)?\s*[A-ZÀ-Ý][a-zà-ÿ]+(?: [A-ZÀ-Ý][a-zà-ÿ]+){0,2}")  # "Thanks, Tom." : the name left over


@dataclass(frozen=True)
class Context:
    """What the conversation says just before a turn: the agent's last question, if any."""

    asked_items: tuple[str, ...] = ()  # labels of the items the agent asked for
    asked_auth: bool = False  # the agent's last question was an identity check


_COMPILED: dict[str, dict] = {}


def _patterns(lex: Lexicon) -> dict:
    if lex.code not in _COMPILED:
        _COMPILED[lex.code] = _compile(lex)
    return _COMPILED[lex.code]


def _compile(lex: Lexicon) -> dict:
    def alt(parts):
        return "|".join(f"(?:{p.replace('[A-Z]', _NAME_CAP)})" for p in parts)

    flags = re.I
    return {
        "hesitation": re.compile(rf"(?:(?<=\s)|^)(?:{alt(lex.hesitations)})(?=[\s,.?!]|$)[,.]?", flags),
        "marker": re.compile(rf"^(?:{alt(lex.markers)})(?:[,\s]+|$)", flags),
        "social": re.compile(rf"(?:{alt(lex.social + lex.farewells)})[\s.!?]*", flags),  # a farewell is small talk too
        "hold": re.compile(rf"(?:{alt(lex.hold)})[\s.!?]*", flags),
        "auth": re.compile(alt(lex.auth_items), flags),
        "verified": re.compile(alt(lex.verified), flags),
        "question": re.compile(rf"^(?:{alt(lex.question_starts)})", flags),
        "request": re.compile(alt(lex.request_cues), flags),
        "action": re.compile(alt(lex.action_cues), flags),
        "issue": re.compile(alt(lex.issue_cues), flags),
        "commit": re.compile(rf"^(?:{alt(lex.commit_cues)})", flags),
        "commit_any": re.compile(rf"\b(?:{alt(lex.commit_cues)})", flags),
        "commit_clause": re.compile(rf"[,;]\s+(?:{alt(lex.commit_cues)})", flags),
        "done": re.compile(rf"^(?:{alt(lex.done_cues)})", flags),
        "instruction": re.compile(rf"^(?:{alt(lex.instruction_cues)})", flags),
        "finding": re.compile(rf"^(?:{alt(lex.finding_cues)})", flags),
        "transfer": re.compile(lex.transfer, flags),
        "item_request": re.compile(alt(lex.item_requests), flags) if lex.item_requests else None,
        "farewell": re.compile(alt(lex.farewells), flags) if lex.farewells else None,
        "items": [(label, re.compile(rf"\b(?:{p})\b", flags)) for label, p in lex.items],
    }


def is_unterminated(text: str, channel: str) -> bool:
    """A turn cut mid-thought: call segments without final punctuation, or any turn ending on a
    connective ("..., so", "a roaming charge of")."""
    t = text.rstrip()
    if channel == "call" and not _TERMINAL.search(t):
        return True
    return bool(_DANGLING.search(t)) and not t.endswith("...") or t.endswith(("...", "…")) and channel != "email"


_SALUTATION = re.compile(r"^(dear|hi|hello|hey|bonjour|madame|monsieur|hola|estimad[oa])\b[^.!?]{0,40},$", re.I)


def split_sentences(text: str) -> list[str]:
    """Sentences of a turn; email subject lines and sign-offs (with everything after) removed."""
    return list(_split_sentences(text))


@per_text()  # a case's recent turns are re-read on every engine call
def _split_sentences(text: str) -> tuple[str, ...]:
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n")]
    lines = [ln for ln in lines if ln]
    if len(lines) > 2 and _SALUTATION.match(lines[0]) and _NAME_ALONE.fullmatch(lines[-1]):
        lines.pop()  # "Hi Janet, ... Victor": a name alone under a letter is its signature, not a fact
    kept: list[str] = []
    for ln in lines:
        if not ln:
            continue
        if re.match(r"^(subject|objet|asunto)\s*:", ln, re.I):
            continue
        if re.match(r"^(thanks|thank you|regards|kind regards|best( regards)?|sincerely|cheers|cordialement|bien à vous|"
                    r"bonne journée|saludos|un saludo|atentamente)\b[\w ]*,?$", ln, re.I):
            break  # the signature block follows
        kept.append(ln)
    sentences: list[str] = []
    for ln in kept:
        # Split after . ! ? followed by a space; decimals and times ("312.40", "09:12") stay whole.
        sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[^\s])", ln) if s.strip())
    return tuple(sentences)


def _collapse_repeats(s: str) -> str:
    """Speech restarts: "there's, there's a charge" / "from, from Spain" -> one copy."""
    pattern = re.compile(r"\b(\w+(?:'\w+)?(?:\s+\w+(?:'\w+)?){0,2})(?:[,\s]+\1\b(?![-\w]))+")
    return pattern.sub(r"\1", s)


def clean(sentence: str, lex: Lexicon) -> str:
    """Drop hesitations, restarts, and leading/trailing clauses that are greetings, thanks,
    acknowledgements or hold notices. Returns "" when nothing informative is left."""
    # Every engine call re-reads the sentences of recent turns: clean each one once.
    return _clean(sentence, lex.code)


@per_text()
def _clean(sentence: str, code: str) -> str:
    lex = LEXICONS[code]
    p = _patterns(lex)
    s = _OPENING.sub("", sentence)
    s = re.sub(r",\s*(?=(?:um+|uh+|euh+|eh+|em+)\b)", " ", s, flags=re.I)  # "is there, uh, nothing" -> "is there nothing"
    s = p["hesitation"].sub(" ", " " + s + " ")
    s = re.sub(r"\s+([,.?!])", r"\1", re.sub(r"\s{2,}", " ", s)).strip()
    s = re.sub(r",(\s*,)+", ",", s).strip(" ,")
    s = re.sub(r"\b(and|et|y|but|mais|pero|or|ou|o),\s", r"\1 ", s)  # "and, uh, I" -> "and I"
    s = _collapse_repeats(s)
    clauses = [c for c in re.split(r"(?<=[^\d]),\s+|;\s+|(?<=\d),\s+(?=\D)", s) if c.strip()]
    if sum(1 for c in clauses if _is_spelling(c)) >= 3:
        return ""  # a code spelled letter by letter: the full code follows in the next sentence

    several = len(clauses) > 1  # a lone name is dropped only next to a greeting ("Thanks, Tom")

    def droppable(c: str) -> bool:
        c = c.strip(" .!?¡¿")
        for form in (c, _strip_markers(c, p)):
            if not form or p["social"].fullmatch(form) or p["hold"].fullmatch(form) or several and _NAME_ALONE.fullmatch(form):
                return True
        return False

    while clauses and droppable(clauses[0]):
        clauses.pop(0)
    asked_in_dropped = False  # "I need to return an item, can you help me with that?": no longer a question
    while clauses and droppable(clauses[-1]):
        asked_in_dropped = asked_in_dropped or bool(p["question"].match(clauses.pop().strip()))
    if not clauses:
        return ""
    s = _strip_markers(", ".join(c.strip() for c in clauses), p)
    s = re.sub(r"\s+(please|s'il vous plaît|por favor)([?.!]?)$", r"\2", s, flags=re.I)
    s = re.sub(r",?\s+(thanks?( you)?( so much)?|merci( beaucoup)?|gracias)[.!]?$", ".", s, flags=re.I)
    s = re.sub(r",?\s+(so )?thank you( so much)?( for [^,.]*)?(?=[,.]|$)", "", s, flags=re.I)
    s = s.strip(" ,")
    if sentence.rstrip().endswith("?") and not s.endswith("?") and not asked_in_dropped:
        s = s.rstrip(" .!") + "?"  # "Your date of birth, please?" is still a question once "please" goes
    if len(re.findall(r"\w", s)) < 2:
        return ""
    return s[0].upper() + s[1:] if s[0].islower() and not _starts_with_code(s) else s


def _strip_markers(s: str, p: dict) -> str:
    """ "so, yeah, okay so I ..." -> "I ..." (several markers in a row)."""
    for _ in range(5):
        s2 = p["marker"].sub("", s).strip(" ,")
        if s2 == s:
            break
        s = s2
    return s


def _starts_with_code(s: str) -> bool:
    return bool(re.match(r"[\w.+-]+@|\w*\d", s))


def _is_spelling(c: str) -> bool:
    """ "Q as in Quebec, F, 7, Z" : a spelled-out code, repeated in full right after."""
    return bool(re.fullmatch(r"(\w( as in \w+)?|[A-Z](-[A-Z])+)", c.strip(), re.I))


def asked_items(sentence: str, lex: Lexicon) -> tuple[str, ...]:
    """Labels of the things an agent question asks for, in the order they appear."""
    found = []
    for label, rx in _patterns(lex)["items"]:
        m = rx.search(sentence)
        if m:
            found.append((m.start(), m.end(), label))
    found.sort(key=lambda f: (f[0], -f[1]))
    # "user name" also holds "name": an item inside an earlier, longer one is the same item.
    kept = [f for i, f in enumerate(found) if not any(o[0] <= f[0] and f[1] <= o[1] for o in found[:i])]
    return tuple(label for _, _, label in kept)


_CLAUSE_END = re.compile(r"[;.!?]|\s(?:so|because|if|when|to|for|in order|pour|afin|en|para|porque|si|cuando|que)\s", re.I)


def item_request(sentence: str, lex: Lexicon) -> tuple[str, ...]:
    """Items an agent asks for in a statement rather than a question ("I'd just need your phone
    number", "you would give me the order ID and email"): only what follows the request cue."""
    p = _patterns(lex)
    cue = p["item_request"].search(sentence) if p["item_request"] is not None else None
    if not cue:
        return ()
    # The items must be what is asked for, right after the cue ("need your order number"), not
    # mentioned later ("you can send the certificate ... quoting the reference").
    wanted = _CLAUSE_END.split(sentence[cue.end():], 1)[0]
    items = asked_items(wanted, lex)
    first = min((item.search(wanted).start() for label, item in p["items"] if label in items), default=0)
    return items if len(wanted[:first].split()) <= 2 else ()  # "your full name", "the order ID"


def requested_items(sentence: str, lex: Lexicon) -> tuple[str, ...]:
    """What an agent sentence asks the customer for, asked as a question or as a statement."""
    return asked_items(sentence, lex) if is_question(sentence, lex) else item_request(sentence, lex)


def is_farewell(sentence: str, lex: Lexicon) -> bool:
    """A raw sentence holding a sign-off clause ("That's all, have a great day!")."""
    rx = _patterns(lex)["farewell"]
    if rx is None:
        return False
    clauses = re.split(r"[,;]\s*", sentence.strip().rstrip(" .!?…"))
    return any(rx.fullmatch(_strip_markers(c.strip(" .!?¡¿"), _patterns(lex))) for c in clauses)


def is_question(sentence: str, lex: Lexicon) -> bool:
    s = sentence.strip()
    return s.endswith("?") or bool(_patterns(lex)["question"].match(s.lstrip("¿")) and len(s.split()) > 2 and not s.endswith("."))


def classify(sentence: str, role: str, lex: Lexicon, ctx: Context = Context()) -> str:
    """The dialogue act of one cleaned sentence (see the module constants)."""
    return _classify(sentence, role, lex.code, ctx)


@per_text()
def _classify(sentence: str, role: str, code: str, ctx: Context) -> str:
    lex = LEXICONS[code]
    p = _patterns(lex)
    s = sentence.strip()
    if not s:
        return SOCIAL
    if role == "system":
        return TRANSFER if p["transfer"].search(s) else SOCIAL
    if p["hold"].fullmatch(s.strip(" .!?")):
        return HOLD
    if role == "agent":
        if p["verified"].search(s):
            return VERIFIED
        if is_question(s, lex):
            return AUTH if p["auth"].search(s) else FOLLOW_UP
        cue = p["item_request"].search(s) if p["item_request"] is not None else None
        if cue and p["auth"].search(s[cue.end():]):
            return AUTH  # "I'll need your date of birth": an identity check
        if cue and item_request(s, lex):
            return FOLLOW_UP  # "I'd just need your phone number": a question in all but form
        if p["done"].match(s):
            return DONE
        if p["commit"].match(s) or p["commit_clause"].search(s):
            return COMMIT  # "..., le envío el formulario por SMS": the commitment is what matters
        if p["instruction"].match(s):
            return INSTRUCTION
        if p["finding"].match(s):
            return FINDING
        return EXPLAIN
    # Customer.
    if ctx.asked_auth and len(s) < 60 and not p["issue"].search(s):
        return AUTH  # answers to identity checks (birth dates, last digits) stay out of the notes
    if is_question(s, lex):
        return REQUEST if p["request"].match(s.lstrip("¿")) else QUESTION
    if p["request"].search(s) and not p["action"].search(s):
        return REQUEST
    if p["action"].search(s):
        return ACTION
    if p["issue"].search(s):
        return ISSUE
    return CONTEXT
