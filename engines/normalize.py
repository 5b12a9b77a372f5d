"""Normalise social-media artefacts out of message text before any engine reads it.

Real support traffic from Twitter, Messenger or SMS carries things no case note should repeat:
@handles, URLs, agent signatures ("^LD", "/JI", "- Phil"), thread counters ("1/2"), emoji and
emoticons, HTML entities, shouting in capitals and profanity. The note-taker applies
:func:`normalize_message` to every message of the view it hands an engine, so every engine
(extractive, Triton, OpenAI) and the classifier after it see clean text; the case history
itself keeps the original text.

Rules are conservative: they only remove decoration. Words, amounts, dates and identifiers stay
as written (a number is never created or changed), so every number in a note is still in the chat.
"""
from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

# A URL is often the object of the sentence: "follow the steps at <URL>." -> "follow the steps."
_URL = re.compile(r"(?:\s+(?:at|here|via|on|from|in|to|ici|aquí|en|sur))?\s*:?\s*"
                  r"(?:(?:https?://|www\.)|\b(?:t\.co|bit\.ly|goo\.gl|amzn\.to|spoti\.fi)/)\S*?(?=[.,!?)]*(?:\s|$))", re.I)
_LEAD_HANDLES = re.compile(r"^(?:\s*[@＠]\w+[:,]?)+\s*")
_HANDLE = re.compile(r"(?<![\w.])[@＠](\w+)")
_GLUED_HANDLE = re.compile(r"(?<=[\w.…])[@＠](\w+)\b(?!\.\w)")
# Agent sign-offs at the end of a tweet: "^LD", "/JI", "*HML", "-Mike", "~ Jo", "^Caroline".
_SIGNATURE = re.compile(r"(?:\s*[\^*~]\s?[A-Z][A-Za-z]{0,11}|\s+/\s?[A-Z]{1,4}|\s+[-–—]\s?(?:[A-Z][a-z]{1,11}|[A-Z]{1,3})"
                        r"|(?<=[.!?])\s+[A-Z]{2,3}|(?<=[.!?,])[-–—]\s?[A-Z][a-z]{1,11}|(?<=(?i:thanks|cheers))[-–—]\s?[A-Z][a-z]{1,11})\.?\s*$")
_COUNTER = re.compile(r"\s*(?:\(?\b\d/\d\)?|\(\d\)|>>)\s*$")  # "1/2", "(2/2)", ">>" thread markers
_LONE_NAME = re.compile(r"(?<=[.!?)])\s+[A-Z][a-z]{1,11}\.?\s*$")  # "... I'll record your feedback. Phil."
_EMOTICON = re.compile(r"(?:(?<=\s)|^)(?:[:;=8xX][-'^]?[()DPpOo3/\\|\]\[*]+|<3+|\^\^|\^_\^|[:;]-?\){2,})(?=\s|$|[.,!?])")
_HASHTAG = re.compile(r"(?<!\w)#([^\W\d]\w*)")
_REPEAT_PUNCT = re.compile(r"([!?])[!?1]+|\.{4,}")
_SPACES = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.])(?!\.)")  # not before ? ! : ; (French typography)

# Profanity carries no case information and must not be quoted in notes (EN/FR/ES).
_PROFANITY = re.compile(
    r"\b(?:f+u+c+k+\w*|motherf\w+|shit+\w*|bullshit|crap+y?|damn(?:ed|it)?|goddamn\w*|wtf|fml|stfu|bitch\w*|bastards?|"
    r"asshole\w*|dickhead\w*|piss(?:ed)?(?= off)|bloody|hell(?= of)|"
    r"putain|merde|bordel|connards?|chiant\w*|mierda|joder|jodid[oa]s?|cabr[oó]n\w*|puta\w*|coño)\b", re.I)
# Capitals that are names, not shouting: acronyms, products and codes.
_ACRONYMS = frozenset("""DM DMs PM UK US USA EU TV HD ID PIN SIM APN GPS ETA USB HDMI WIFI WiFi ISP VPN SMS MMS PC PS UPS DHL
    FAQ CEO OK iOS OS APP API URL PDF NHS BT EE GWR AA UA BA SNCF RENFE DNI NIF IBAN RIB CB TVA IVA""".split())
_SHORT_WORDS = frozenset("""A I IS AM ARE WAS THE AND BUT NOT NO YES YOU YOUR MY ME WE US OUR WHY HOW WHAT CAN FOR ALL
    OF TO IN ON AT IT ITS SO DO DID GET GOT HAS HAD HAVE NOW OUT OFF BY OR IF""".split())


def _is_emoji(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat == "So" or cat == "Sk" and ord(ch) > 0x2000 or ch in "\u200d\ufe0f\ufe0e\u20e3" or 0x1F3FB <= ord(ch) <= 0x1F3FF


def _strip_emoji(text: str) -> str:
    return "".join(" " if _is_emoji(c) else c for c in text)


def _unshout(text: str) -> str:
    """Lower-case shouted words, keeping acronyms, codes and "I". Short capitalised words are
    acronyms unless they are common words or the whole message shouts."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    caps = [w for w in words if w.isupper()]
    shouting = len(words) >= 3 and len(caps) / len(words) > 0.6

    def fix(m: re.Match) -> str:
        w = m.group(0)
        if not w.isupper() or any(c.isdigit() for c in w) or w in _ACRONYMS or w == "I":
            return w
        if len(w) <= 3 and not shouting and w not in _SHORT_WORDS:
            return w  # "UK", "ATM"
        return w.lower()

    text = re.sub(r"\b[^\W_]+(?:'[^\W_]+)?\b", fix, text)
    if shouting:  # sentence starts regain their capital
        text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return re.sub(r"\bi\b", "I", text) if shouting else text


def _strip_tail(text: str, role: str) -> str:
    """Signatures and thread counters at the end of a message, repeatedly ("... 1/2 ^XS")."""
    for _ in range(3):
        before = text
        text = _COUNTER.sub("", text)
        if role == "agent":
            signed = _SIGNATURE.sub("", text)
            if signed != text:  # "... the issue you 1 ^XS": a tweet counter before the signature
                signed = re.sub(r"\s+[1-9]$", "", signed)
            text = _LONE_NAME.sub("", signed)
        if text == before:
            break
    return text


@lru_cache(maxsize=8192)
def normalize_message(text: str, role: str = "customer") -> str:
    """``text`` without social-media decoration; "" when nothing else was there."""
    t = html.unescape(text)
    t = _URL.sub(" ", t)
    t = _LEAD_HANDLES.sub("", t)
    t = re.sub(r"^\(?\d/\d\)?\s+", "", t)  # "2/2 ..." : a thread counter opening a tweet
    # A handle inside a sentence names someone ("I contacted @AmazonHelp"): keep the name, not
    # the "@"; anonymised numeric handles ("@115877") say nothing.
    t = _HANDLE.sub(lambda m: "" if m.group(1).isdigit() else m.group(1), t)
    # Glued to the word before ("bloqué@iPhoneAddictFr", "..@AmazonHelp"), but not an e-mail
    # address (a domain has a dot): a handle all the same. A lone "@" means "at".
    t = _GLUED_HANDLE.sub(lambda m: " " if m.group(1).isdigit() else " " + m.group(1), t)
    t = re.sub(r"(?<!\S)[@＠](?!\S)", "at", t)
    t = _strip_emoji(t)
    t = _EMOTICON.sub(" ", t)
    t = _HASHTAG.sub(r"\1", t)
    t = _PROFANITY.sub(" ", t)
    t = _REPEAT_PUNCT.sub(lambda m: m.group(1) or "...", t)
    lines = [_SPACES.sub(" ", ln).strip() for ln in t.replace("\r", "").split("\n")]
    t = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")  # paragraphs stay (emails)
    t = _strip_tail(t, role)
    t = _SPACE_BEFORE_PUNCT.sub(r"\1", t)
    t = re.sub(r"(^|\n)[ \t,.;:!?-]+", r"\1", t)  # punctuation left at a line start by a removed handle
    t = re.sub(r"\(\s*\)|\[\s*\]", "", t)
    t = _unshout(t)
    return _SPACES.sub(" ", t).strip(" \t-–—")
