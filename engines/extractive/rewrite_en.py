"""English person rewriting: first and second person -> third person, from the note reader's view.

"I can escalate to my manager if you'd like" (agent) -> "Agent can escalate to their manager if
the customer would like". Contractions are expanded first so each pronoun is seen with its verb,
and a subject pronoun takes the verb agreement of what replaces it ("you are" -> "the customer
is"). Every function returns None when a rule is unsure; the caller then quotes the sentence.
"""
from __future__ import annotations

import re

PAST_IRREGULAR = set("was were had did got went bought paid sent made took gave saw said told found left lost "
                     "thought tried spent came knew kept put set ran wrote read heard felt brought meant".split())
# Participles after "'d" mean "had" ("I'd already paid"); anything else means "would".
_PARTICIPLES = PAST_IRREGULAR | set("been done gone seen given taken gotten known written forgotten spoken chosen".split())
THIRD_SINGULAR = {
    "have": "has", "do": "does", "go": "goes", "am": "is", "are": "is", "were": "was", "want": "wants", "need": "needs",
    "think": "thinks", "see": "sees", "live": "lives", "use": "uses", "work": "works", "pay": "pays", "know": "knows",
    "like": "likes", "understand": "understands", "own": "owns", "travel": "travels", "keep": "keeps", "get": "gets",
    "expect": "expects", "hope": "hopes", "try": "tries", "wish": "wishes", "plan": "plans", "feel": "feels",
    "can't": "can't", "cannot": "cannot", "can": "can", "could": "could", "couldn't": "couldn't", "should": "should",
    "must": "must", "might": "might", "may": "may", "would": "would", "wouldn't": "wouldn't", "will": "will",
    "don't": "doesn't", "didn't": "didn't", "haven't": "hasn't", "hadn't": "hadn't", "won't": "won't",
    "wasn't": "wasn't", "aren't": "isn't", "weren't": "wasn't", "work's": "works",
    **{v: v + "s" for v in "land show add receive arrive call log sign check click open select visit return send order book "
       "cancel change update contact complete confirm enter find come leave move start stop wait restart reset install "
       "download upload get".split()}}
ADVERBS = set("just already also still only really recently then never accidentally actually now not".split())

# Words after which "you" starts a clause ("if you would like", "so you can"): there it is a
# subject and takes verb agreement even before a verb the tables do not know.
_CLAUSE_OPENERS = set("if when because since so and but that as once before after until unless whether or where "
                      "then while though although why how what who".split())
# Words after which "you" is an object even before a verb: "let you know", "help you find",
# "get you sorted", "for you", "emailed you".
_OBJECT_BEFORE = set("let lets help helps make makes have has had get got keep leave want need put find watch hear "
                     "to for with at from about by of on into than like give send tell show ask thank".split())
# What a customer's "your" can safely mean "the company's": "your app", "your website".
# Anything else ("your pet") is quoted: the rule cannot tell whose it is.
_COMPANY_NOUNS = set("""app application website site system systems store stores shop service services policy policies
    team support staff company end side records database colleague colleagues manager agent agents courier couriers
    driver drivers warehouse portal platform network coverage signal server servers billing department office branch
    technician technicians engineer engineers advert ad ads offer offers promotion promo sale sales price prices terms
    fees fee charges customer call helpline hotline chat chatbot bot email emails newsletter letter message text
    checkout delivery deliveries shipping tracking form page hotel airline bank product products refund""".split())


# A subject and an auxiliary alone: "Agent won't", "Customer did not".
ELLIPTICAL = re.compile(r"\w+ (?:will|would|can|could|do|does|did|has|have|had|is|was|should|must|won't|wouldn't|can't|"
                        r"couldn't|doesn't|didn't|hasn't|haven't|isn't|wasn't|shouldn't)(?: not)?(?: too| either)?", re.I)


def verb_3s(verb: str) -> str | None:
    """Third person singular of a verb ("need" -> "needs"; past tenses unchanged), None if unknown."""
    v = verb.lower()
    if v in THIRD_SINGULAR:
        return THIRD_SINGULAR[v]
    if v.endswith("ed") or v in PAST_IRREGULAR:
        return v
    return None


def expand_contractions(s: str) -> str:
    """ "you'd" -> "you would", "I'm" -> "I am", "I'd already paid" -> "I had already paid"."""
    s = s.replace("’", "'")

    def d(m: re.Match) -> str:
        return f"{m.group(1)} {'had' if m.group(2).lower() in _PARTICIPLES or m.group(2).endswith('ed') else 'would'}"

    s = re.sub(r"\b(I|you|we)'d(?=(?:\s+(?:just|already|never|not|also|ever))*\s+([\w']+))", d, s, flags=re.I)
    s = re.sub(r"\b(I)'m\b", r"\1 am", s, flags=re.I)
    s = re.sub(r"\b(you|we)'re\b", r"\1 are", s, flags=re.I)
    s = re.sub(r"\b(I|you|we)'ve\b", r"\1 have", s, flags=re.I)
    return re.sub(r"\b(I|you|we)'ll\b", r"\1 will", s, flags=re.I)


def pronouns(s: str, role: str, named: bool = False, addressee: bool = False) -> str | None:
    """Remaining first/second person -> third person, or None when unsure (a customer's "your"
    that may not be the company's). ``named``: the note already says "the customer", so the
    agent's "you" becomes "they"/"them"; ``addressee``: the customer's "you" is the agent
    the note names ("Customer asks the agent to check their records")."""
    toks = re.findall(r"[\w'’]+|[^\w'’]+", expand_contractions(s))
    words = [i for i, t in enumerate(toks) if t[0].isalnum() or t[0] == "_"]
    out = list(toks)
    for k, i in enumerate(words):
        low = toks[i].lower()
        if low == "us" and toks[i] != "us":
            continue  # "US" is a country
        before = "".join(out[:i]).lower()
        nxt = [toks[j].lower() for j in words[k + 1:k + 3]]
        if role == "customer":
            rep = _customer_word(low, nxt, addressee)
        else:
            rep = _agent_word(low, nxt, named or "customer" in before, before)
        if rep is None:
            return None
        if not rep:
            continue
        as_subject, as_object, plural = rep
        if low not in ("i", "we", "you"):
            out[i] = as_object  # possessives and object forms: no verb to agree
            continue
        nxt_i = _word_after(toks, words, k)
        known = nxt_i is not None and (verb_3s(toks[nxt_i]) is not None or toks[nxt_i].lower() in ("is", "was", "has"))
        prev = toks[words[k - 1]].lower() if k else ""
        opens_clause = not prev or prev in _CLAUSE_OPENERS or bool(re.search(r"[,;:.!?]", "".join(toks[words[k - 1] + 1:i])))
        governed = prev in _OBJECT_BEFORE or prev.endswith("ed")
        if low in ("i", "we") or not governed and (known or opens_clause and nxt_i is not None):
            out[i] = as_subject
            if nxt_i is not None:
                out[nxt_i] = _agree(toks[nxt_i], plural)
        else:
            out[i] = as_object
    return "".join(out)


def _word_after(toks: list[str], words: list[int], k: int) -> int | None:
    """Token index of the word after word ``k``, adverbs skipped: the verb when ``k`` is a subject."""
    for i in words[k + 1:]:
        w = toks[i].lower()
        if w in ADVERBS or w.endswith("ly"):
            continue
        return i
    return None


def _agree(verb: str, plural: bool) -> str:
    """The verb after a new subject: "they" (plural) or "the customer"/"the agent" (singular).
    Unknown words are left as they are: they may not be verbs at all."""
    v = verb.lower()
    if plural:
        return {"am": "are", "is": "are", "was": "were", "has": "have", "does": "do", "doesn't": "don't",
                "wasn't": "weren't", "isn't": "aren't", "hasn't": "haven't"}.get(v, verb)
    return verb_3s(v) or verb


# A replacement: (as a subject, otherwise, plural verb agreement?). Only "I", "we" and "you"
# can be subjects; the other pronouns use the second form.
Rep = tuple[str, str, bool]


def _same(text: str) -> Rep:
    return (text, text, False)


def _agent_word(low: str, nxt: list[str], mentioned: bool, before: str) -> Rep | None:
    """Replacement for a pronoun of agent speech; () to keep the word."""
    if low in ("i", "me"):
        return _same("the agent")
    if low in ("my", "mine", "myself"):
        # The agent's own things are "their" while nobody else is in the note yet ("Agent can
        # escalate to their manager"); after "the customer" that would be ambiguous.
        own = "customer" not in before and not re.search(r"\b(they|them|their)\b", before)
        if own:
            return _same({"my": "their", "mine": "theirs", "myself": "themselves"}[low])
        return _same("the agent" if low == "myself" else "the agent's")
    if low in ("we", "us", "ourselves"):
        return _same("the company")
    if low in ("our", "ours"):
        # "our fault" is the company's; "our warehouse" is just "the warehouse".
        if low == "ours" or nxt[:1] and nxt[0] in ("responsibility", "fault", "mistake", "error"):
            return _same("the company's")
        return _same("the")
    if low == "you":
        return ("they", "them", True) if mentioned else _same("the customer")
    if low == "your":
        return _same("their" if mentioned else "the customer's")
    if low == "yours":
        return _same("theirs" if mentioned else "the customer's")
    if low in ("yourself", "yourselves"):
        return _same("themselves")
    return ()


def _customer_word(low: str, nxt: list[str], addressee: bool) -> Rep | None:
    """Replacement for a pronoun of customer speech; () to keep the word, None when unsure."""
    first = {"i": ("they", "they", True), "we": ("they", "they", True), "me": _same("them"), "us": _same("them"),
             "my": _same("their"), "our": _same("their"), "mine": _same("theirs"), "ours": _same("theirs"),
             "myself": _same("themselves"), "ourselves": _same("themselves")}
    if low in first:
        return first[low]
    if addressee:  # the note names the agent: "Customer asks the agent to check their records"
        return {"you": ("they", "them", True), "your": _same("their"), "yours": _same("theirs"),
                "yourself": _same("themselves")}.get(low, ())
    if low == "you":
        return _same("the company")
    if low == "your" and any(n in _COMPANY_NOUNS for n in nxt):
        return _same("the company's")
    if low in ("your", "yours", "yourself", "yourselves"):
        return None  # "your pet": whose? quote rather than guess
    return ()


# --- Sentences led by the speaker ----------------------------------------------------------
# "just" before "wanted to" softens the request; in a note it only adds noise.
_SOFTENER = re.compile(r"^((?:I|we) )?just (?=(?:wanted|want|needed|need|was wondering|wondered)\b)", re.I)
# Chat drops the subject: "just wanted to check on my refund", "got the wrong size", "trying
# the install now". Only verbs that cannot open another kind of sentence, and past tenses
# only before an object ("sent the link"), never alone ("charged twice" may be a passive).
_SUBJECTLESS = re.compile(
    r"^(?P<adv>(?:(?:also|really|actually|still|recently|only|already) )*)(?P<verb>"
    r"(?:wanted|needed|tried|hoped|meant|planned|decided|wished|forgot|managed) to|(?:want|need|hope|plan|wish) to"
    r"|(?:was|am) (?:wondering|hoping|trying|calling|writing|looking|reaching out|waiting)|would like"
    r"|(?:bought|ordered|received|got|paid|returned|purchased|booked|placed|sent|called|emailed|contacted|checked|"
    r"noticed|changed|cancell?ed|updated|reset|restarted)(?= (?:a|an|the|my|our|your|it|this|that|these|those|some|"
    r"two|three|them|back|yesterday|last|today|twice|\d|\$|€|£))"
    r"|(?:have|had) (?:been|tried|received|paid|ordered|got|a|an|the|my|no)\b"
    r"|trying|calling|writing|waiting|hoping|contacting)(?P<rest>\b.*)$", re.I)


# What is done to a customer, said without "I was": "charged twice for one order", "told to
# wait"; "told them" is the customer acting, so "told"/"promised" need what follows to say which.
_CUSTOMER_PASSIVE = re.compile(r"^(?P<adv>(?:(?:also|just|already|then) )*)(?P<verb>(?:double[- ])?charged|overcharged|billed|"
                               r"told(?= (?:to|that)\b)|promised(?= (?:a|an|to|that)\b)|denied|disconnected|cut off|"
                               r"locked out|logged out|kept waiting)\b(?P<rest>.*)$", re.I)


def subject_initial(s: str, subject: str, role: str = "customer") -> str | None:
    """ "I was charged twice" -> "<subject> was charged twice", "just wanted to check" ->
    "<subject> wanted to check"; None when the speaker does not lead or the agreement is unknown."""
    s = _SOFTENER.sub(r"\1", expand_contractions(s))
    m = _CUSTOMER_PASSIVE.match(s) if role == "customer" else None
    if m:
        return f"{subject} {m.group('adv').lower()}was {m.group('verb').lower()}{m.group('rest')}"
    m = re.match(r"(I|we) (?:am|are) going to\b(.*)", s, re.I)
    if m:
        return f"{subject} will{m.group(2)}"
    m = re.match(r"(I|we) (was|were)\b(.*)", s, re.I)
    if m:
        return f"{subject} was{m.group(3)}"
    m = re.match(rf"(I|we) ((?:(?:{'|'.join(ADVERBS)}) )*)([\w']+)\b(.*)", s, re.I)
    if m:
        verb = verb_3s(m.group(3))
        return f"{subject} {m.group(2)}{verb}{m.group(4)}" if verb else None
    m = re.match(r"(my|our) (.*)", s, re.I)
    if m:
        return f"{subject}'s {m.group(2)}"
    m = _SUBJECTLESS.match(s)
    if m:
        words = m.group("verb").split(" ", 1)
        first = {"want": "wants", "need": "needs", "hope": "hopes", "plan": "plans", "wish": "wishes", "am": "is",
                 "have": "has"}.get(words[0].lower(), words[0].lower())
        if words[0].lower().endswith("ing"):
            first = f"is {first}"  # "trying the install now" -> "is trying the install now"
        return f"{subject} {m.group('adv').lower()}{' '.join([first] + words[1:])}{m.group('rest')}"
    return None


_SUBORDINATE = re.compile(r"^(?P<sub>(?:in the meantime|as an apology|as discussed)|(?:as|since|because|for next time|when|once|if|after|before|so|and)\b[^,]{0,90}),?\s+"
                          r"(?P<main>(?:I|we)\b.*)$", re.I)


def reorder(s: str) -> str:
    """ "As a courtesy, I'll credit $86.20" -> "I'll credit $86.20, as a courtesy": notes lead with who did what."""
    m = _SUBORDINATE.match(s)
    if not m:
        return s
    main = m.group("main").rstrip(".")
    return f"{main}, {m.group('sub')[0].lower()}{m.group('sub')[1:]}"


def third_person(s: str, role: str, subject: str) -> tuple[str, bool] | None:
    """(rewritten sentence, starts with the speaker as subject) or None when unsure."""
    if role == "agent":
        s = reorder(expand_contractions(s))
    head = subject_initial(s, subject, role)
    if head is not None:
        out = pronouns(head, role)
        return (out, True) if out is not None else None
    if re.match(r"(I|we)\b", s, re.I):
        return None
    out = pronouns(s, role)
    return (out, False) if out is not None else None


def question(s: str, role: str) -> str | None:
    """Indirect form of a yes/no or how-to question, or None."""
    q = expand_contractions(s).rstrip("?").strip()
    who = "they" if role == "customer" else "the customer"
    m = re.match(r"(will|can|could|should|would|may) (I|we|you) (.*)", q, re.I)
    if m and (role == "customer") == (m.group(2).lower() != "you"):
        return f"whether {who} {m.group(1).lower()} {m.group(3)}"
    m = re.match(r"(is|are|was|were) (there|it|this|that) (.*)", q, re.I)
    if m:
        return f"whether {m.group(2).lower()} {m.group(1).lower()} {m.group(3)}"
    if role == "agent":
        m = re.match(r"(have|are|were) you (.*)", q, re.I)
        if m:
            aux = {"have": "has", "are": "is", "were": "was"}[m.group(1).lower()]
            return f"whether the customer {aux} {m.group(2)}"
        return None
    m = re.match(r"(how|where|what|when|why) (do|should|can|could) (I|we) (.*)", q, re.I)
    if m:
        return f"{m.group(1).lower()} to {m.group(4)}"
    m = re.match(r"(how|where|what|when|why) (am|was) I (.*)", q, re.I)
    if m:
        return f"{m.group(1).lower()} they {'are' if m.group(2).lower() == 'am' else 'were'} {m.group(3)}"
    return None
