"""Turn a cleaned, classified sentence into an attributed note in the conversation's language.

First and second person are rewritten to third person where a small rule set is sure of the
result ("I was charged twice" -> "Customer was charged twice", "I'll refund your card" ->
"Agent will refund the customer's card"); when it is not, the sentence is quoted as said.
Amounts, dates and codes are never touched: rules only rewrite pronouns and verb agreement.
The English rules live in :mod:`rewrite_en`; French and Spanish ones here.
"""
from __future__ import annotations

import re

from casenotes.engines.extractive import acts, rewrite_en as en
from casenotes.engines.extractive.lexicon import Lexicon

# --- French -----------------------------------------------------------------------------
_FR_3S = {"ai": "a", "suis": "est", "veux": "veut", "voudrais": "voudrait", "peux": "peut", "dois": "doit", "vais": "va",
          "sais": "sait", "avais": "avait", "étais": "était", "viens": "vient", "fais": "fait", "dis": "dit", "reçois": "reçoit",
          "crois": "croit", "comprends": "comprend", "prends": "prend", "attends": "attend", "vois": "voit", "constate": "constate",
          "pense": "pense", "souhaite": "souhaite", "envoie": "envoie", "appelle": "appelle", "joins": "joint"}
_FR_FEM = re.compile(r"^(commande|réservation|facture|carte|ligne|demande|adresse|option|box|chambre|banque|livraison|"
                     r"prochaine|dernière|nouvelle|première|seconde|ancienne|"  # adjectives before the noun
                     r"\w+tion|\w+ure|\w+ette|\w+ance|\w+ence|\w+ité|\w+ée|\w+ie)$", re.I)


def _fr_3s(verb: str) -> str | None:
    v = verb.lower()
    if v in _FR_3S:
        return _FR_3S[v]
    if v.endswith("ais") and len(v) > 4:  # imperfect: "je voulais" -> "il voulait"
        return v[:-1] + "t"
    if v.endswith("e") and len(v) > 3:  # first-group present: same form
        return v
    return None


def _fr_possessive_second(m: re.Match) -> str:
    noun = m.group(2)
    if m.group(1).lower() == "vos":
        return f"ses {noun}"
    return f"{'sa' if _FR_FEM.match(noun) and noun[0].lower() not in 'aeéèiouh' else 'son'} {noun}"


def _fr_rewrite(s: str, role: str, subject: str) -> tuple[str, bool] | None:
    """(text, subject_initial) or None when unsure (first-person objects left)."""
    if role == "customer":
        s = re.sub(r"\bmon\b", "son", s, flags=re.I)
        s = re.sub(r"\bma\b", "sa", s, flags=re.I)
        s = re.sub(r"\bmes\b", "ses", s, flags=re.I)
        s = re.sub(r"\bm'a (facturé|débité|prélevé|dit|envoyé|demandé|répondu|proposé|promis)", r"lui a \1", s, flags=re.I)
        s = re.sub(r"\bm'a (\w+)", r"l'a \1", s, flags=re.I)
    else:
        if re.search(r"\b(mon|ma|mes)\b", s, re.I) and re.search(r"\b(votre|vos)\b", s, re.I):
            return None  # "mon dossier" and "votre dossier" would both become "son dossier"
        # The agent's own things: "à mon responsable" -> "à son responsable" (the agent is the subject).
        s = re.sub(r"\bmon\b", "son", s, flags=re.I)
        s = re.sub(r"\bma\b", "sa", s, flags=re.I)
        s = re.sub(r"\bmes\b", "ses", s, flags=re.I)
        s = re.sub(r"^veuillez trouver ci-joint", "je joins", s, flags=re.I)
        s = re.sub(r"^je vois", "je constate", s, flags=re.I)
        s = re.sub(r"\b(votre|vos) (\w+)", _fr_possessive_second, s, flags=re.I)
        s = re.sub(r"\bvous (recevrez|allez|avez|êtes|pouvez|devez|devrez|aurez)\b",
                   lambda m: "le client " + {"recevrez": "recevra", "allez": "va", "avez": "a", "êtes": "est", "pouvez": "peut",
                                             "devez": "doit", "devrez": "devra", "aurez": "aura"}[m.group(1).lower()], s, flags=re.I)
        s = re.sub(r"\b(pour|à|avec) vous\b", r"\1 le client", s, flags=re.I)
        s = re.sub(r"\bvous (?=\w)", "", s, flags=re.I)  # object clitic: "je vous envoie" -> "envoie"
    out, initial = s, False
    m = re.match(r"(je|j'|nous)\s*(ne |n')?((?:l'|le |la |les |y |en )*)(\w+)\b(.*)", s, re.I)
    if m:
        verb = m.group(4)
        if m.group(1).lower() == "nous":
            verb3 = {"avons": "a", "allons": "va", "pouvons": "peut", "sommes": "est"}.get(verb.lower())
        else:
            verb3 = _fr_3s(verb)
        if verb3 is None:
            return None
        out, initial = f"{subject} {m.group(2) or ''}{m.group(3)}{verb3}{m.group(5)}", True
    # Later first persons in the same sentence ("... mais j'ai un certificat").
    out = re.sub(r"\bj'(\w+)", lambda m: f"il {_fr_3s(m.group(1)) or m.group(1)}", out, flags=re.I)
    out = re.sub(r"\bje (\w+)", lambda m: f"il {_fr_3s(m.group(1)) or m.group(1)}", out, flags=re.I)
    out = re.sub(r"\bque il\b", "qu'il", out)
    if re.search(r"\b(je|j'|me|m'|moi|nous|notre|nos)\b", out, re.I) or (role == "customer" and re.search(r"\b(vous|votre|vos)\b", out, re.I)):
        return None
    return out, initial


# --- Spanish ----------------------------------------------------------------------------
_ES_3S = {"he": "ha", "tengo": "tiene", "quiero": "quiere", "necesito": "necesita", "puedo": "puede", "estoy": "está",
          "soy": "es", "sé": "sabe", "hice": "hizo", "pedí": "pidió", "voy": "va", "hemos": "ha", "vamos": "va",
          "tienes": "tiene", "puedes": "puede", "has": "ha", "quieres": "quiere", "estás": "está", "eres": "es", "sigo": "sigue",
          "entré": "entró", "veo": "comprueba", "volveré": "volverá", "enviaré": "enviará", "llamaré": "llamará",
          "necesitamos": "necesita", "entiendo": "entiende", "compruebo": "comprueba", "reviso": "revisa",
          "tramito": "tramita", "gestiono": "gestiona"}
_ES_CLITIC_VERBS = {"envío": "envía", "paso": "pasa", "mando": "manda", "llamo": "llama", "transfiero": "transfiere",
                    "escribo": "escribe", "explico": "explica", "aviso": "avisa", "cambio": "cambia", "devuelvo": "devuelve",
                    "reembolso": "reembolsa", "abono": "abona", "activo": "activa", "confirmo": "confirma"}
_ES_NOT_VERB = {"qué", "así", "aquí", "allí", "ahí", "café", "sí", "bebé", "también", "menú", "según", "porqué", "más", "después"}


def _es_3s(word: str) -> str | None:
    w = word.lower()
    if w in _ES_3S:
        return _ES_3S[w]
    if w in _ES_NOT_VERB or len(w) < 4:
        return None
    if w.endswith(("aré", "eré", "iré")):  # future: volveré -> volverá
        return w[:-1] + "á"
    if w.endswith("é"):  # -ar preterite: compré -> compró
        return w[:-1] + "ó"
    if w.endswith("í") and not w.endswith("ní"):  # -er/-ir preterite: recibí -> recibió
        return w[:-1] + "ió"
    return None


def _es_rewrite(s: str, role: str, subject: str) -> tuple[str, bool] | None:
    words = s.split(" ")
    s = re.sub(r"\bmis\b", "sus", s, flags=re.I)
    s = re.sub(r"\b(mi|tu)\b", "su", s, flags=re.I)
    s = re.sub(r"\btus\b", "sus", s, flags=re.I)
    m = re.match(r"((?:ya |no |también |todavía no )*)((?:me |te |le |les |lo |la |los |las |se )*)(\w+)\b(.*)", s, re.I)
    initial = False
    if m and _es_3s(m.group(3)) and not (role == "agent" and m.group(3).lower() in {"tienes", "puedes", "has", "quieres"}):
        clitics = m.group(2)
        clitics = re.sub(r"\bme\b", "le", clitics, flags=re.I) if role == "customer" else re.sub(r"\b(te|le|les) ", "", clitics, flags=re.I)
        s = f"{subject} {m.group(1).lower()}{clitics}{_es_3s(m.group(3))}{m.group(4)}"
        initial = True
    # Other first-person verbs of the sentence ("ya los limpié y probé con otro cable").
    s = " ".join(_es_3s(w) if (_es_3s(w) and w.lower() not in {"has"} | set()) and i > 0 and not w[0].isupper() else w
                 for i, w in enumerate(s.split(" ")))
    s = re.sub(r"\bme\b", "le", s, flags=re.I) if role == "customer" else re.sub(r"\bte\b", "le", s, flags=re.I)
    # "le envío el formulario", "le paso con ...": after a clitic these are verbs, not the nouns
    # "el envío", "el paso"; only there are they safe to put in the third person.
    s = re.sub(rf"\b(le|les|te|lo|la|los|las) ({'|'.join(_ES_CLITIC_VERBS)})\b",
               lambda m: f"{m.group(1)} {_ES_CLITIC_VERBS[m.group(2).lower()]}", s, flags=re.I)
    if re.search(r"\b(yo|conmigo|nosotros|nuestr[oa]s?)\b", s, re.I) or not words:
        return None
    if role == "agent" and re.search(r"\b(me|mí)\b", s, re.I):
        return None  # "si me confirma el correo": the agent as object has no safe third-person form
    return s, initial


# --- Rendering --------------------------------------------------------------------------
_COMMON_STARTS = set("the it it's there there's this that these those both a an some all no one he she they their what how when "
                     "where which new my our le la les un une c'est ce cette son sa ses el los las una su sus".split())


_NAMES: frozenset[str] = frozenset()  # set per call by render(): people named in the case


def _lower_first(s: str) -> str:
    """Lowercase a sentence start put mid-note, but never a name ("Janet said ...") or a code."""
    first = s.split(" ", 1)[0]
    if re.sub(r"'s$", "", first) in _NAMES or any(c.isdigit() for c in first) or first.isupper() and len(first) > 1:
        return s
    return s[0].lower() + s[1:]


def _que(lex: Lexicon, x: str) -> str:
    if lex.code != "fr":
        return ""
    return "qu'" if re.match(r"[aeéèêiîoôuh]", x, re.I) else "que "


def _fill(template: str, lex: Lexicon, x: str) -> str:
    x = x.strip().rstrip(".").strip()
    return template.replace("{que}", _que(lex, x)).replace("{x}", x)


def third_person(s: str, role: str, lex: Lexicon) -> tuple[str, bool] | None:
    """(rewritten sentence, starts with the speaker as subject) or None when unsure."""
    subject = lex.templates["customer" if role == "customer" else "agent"]
    if lex.code == "fr":
        return _fr_rewrite(s, role, subject)
    if lex.code == "es":
        return _es_rewrite(s, role, subject)
    return en.third_person(s, role, subject)


def render(act: str, sentence: str, role: str, lex: Lexicon, asked: tuple[str, ...] = (),
           names: frozenset[str] = frozenset()) -> str | None:
    """The note for one sentence, or None when it should not become a note. ``names``: words of
    the people's names in the case, kept capitalised."""
    global _NAMES
    _NAMES = names
    t = lex.templates
    s = sentence.strip()
    if act in acts.DROPPED:
        return None
    if act == acts.VERIFIED:
        return t["verified"]
    if act == acts.TRANSFER:
        m = acts._patterns(lex)["transfer"].search(s)
        return _fill(t["transfer"], lex, m.group(1)) if m else None
    quote = t["quote_customer" if role == "customer" else "quote_agent"]
    if act == acts.FOLLOW_UP:
        if asked:
            return _fill(t["agent_asked_for"], lex, _join(asked, lex))
        note = _en_follow_up(s, lex) if lex.code == "en" else None
        return note or _quoted_question(t["agent_asked"], lex, s)
    if role == "customer" and act in (acts.QUESTION, acts.REQUEST) and lex.code == "en":
        quote = t["quote_question"] if s.endswith("?") else quote
        m = re.match(r"(?:can|could|would) you (?:please )?(.*?)\??$", s, re.I) or re.match(r"please (.*)$", s, re.I)
        m = m or (act == acts.REQUEST and re.match(r"((?:book|send|cancel|release|refund|check|fix|reset|remove|change|update|close|let) .*)$", s, re.I))
        if m:
            x = en.pronouns(m.group(1), "customer", addressee=True)
            return _fill(t["asks_agent"], lex, _lower_first(x)) if x else _fill(quote, lex, s)
        if act == acts.QUESTION:
            indirect = en.question(s, "customer")
            x = en.pronouns(indirect, "customer") if indirect else None
            return _fill(t["asks"], lex, x) if x else _fill(quote, lex, s)
    if role == "customer" and act in (acts.QUESTION, acts.REQUEST) and s.endswith("?"):
        return _fill(t["quote_question"], lex, ("¿" if lex.code == "es" else "") + s.strip("¿? ") + "?")
    if act == acts.FINDING and lex.code == "en":
        s = re.sub(r"^(?:i (?:can )?see|i'?m seeing|i (?:checked|found|looked)(?: and)?|(?:it )?looks like)(?: that)?\s*", "", s, flags=re.I)
        rewritten = third_person(s, role, lex)
        return _fill(t["agent_found"], lex, _lower_first(rewritten[0])) if rewritten else _fill(quote, lex, s)
    if act == acts.INSTRUCTION and lex.code == "en":
        m = re.match(r"(?:and )?(?:for next time, )?you (?:can|could|should|may|need to|have to|'ll need to|will need to|must) (.*)$", s, re.I) \
            or re.match(r"please (.*)$", s, re.I)
        x = en.pronouns(m.group(1), "agent", named=True) if m else None
        if x:
            return _fill(t["agent_advised"], lex, x)
    if role == "agent" and lex.code == "en":
        s = _AGENT_OPENER.sub("", s)
        s = s[:1].upper() + s[1:]
        if s.endswith("?") or not s:
            return None  # a question left after its opener ("Sorry, can we ...?"): not a statement
        note = _en_agent_imperative(s, lex)
        if note:
            return note
    rewritten = third_person(s, role, lex)
    if rewritten is None:
        return _fill(quote, lex, s)
    text, initial = rewritten
    if initial and lex.code == "en" and en.ELLIPTICAL.fullmatch(text.rstrip(" .!")):
        return None  # "I won't" -> "Agent won't": an answer that says nothing without its question
    if initial:
        return _fill("{x}", lex, text[0].upper() + text[1:])
    # A problem reads as one ("Customer complains that ..."): how support summaries state the issue.
    key = ("complains" if act == acts.ISSUE else "reports") if role == "customer" else (
        "agent_found" if act == acts.FINDING else "agent_notes")
    return _fill(t[key], lex, _lower_first(text))


#: Openers that add nothing to an agent's note: "As checked, ...", "Sorry but ...", "Okay, ...".
_AGENT_OPENER = re.compile(r"^(?:(?:as checked|as per (?:our|my) (?:check|records?)|upon checking|on checking|we'?re sorry|i'?m sorry|sorry"
                           r"|apologies|okay|ok|alright|great|perfect|thanks|thank you|got it|understood|no worries|no problem)\b[,!.]*\s*"
                           r"(?:but |and |that |for (?:that|this|the \w+)[,.]?\s+)?)+", re.I)
#: Imperatives an agent gives the customer: "Kindly visit the shop", "Let's have you clear the cache",
#: "DM us your email", "Try restarting the router".
_EN_REQUEST = re.compile(r"^(?:kindly|pls|plz|please|(?:we|i) (?:would|will|'d) (?:request|ask|advise|suggest|recommend) (?:you|that you)(?: to)?"
                         r"|(?:we|i) (?:request|advise|suggest|recommend) (?:you|that you)(?: to)?)\b,?\s*(.+)$", re.I)
_EN_LETS = re.compile(r"^let'?s (?:(?:next|now|then|first|start by|also) )*(?:have you |get you to |try (?=\w+ing\b))?(.+)$", re.I)
_EN_IMPERATIVE = re.compile(r"^((?:dm|send|try|check|visit|follow|call|contact|reach out|go|restart|reboot|tap|click|select|update|make sure|"
                            r"ensure|use|install|uninstall|delete|remove|turn|power|unplug|plug|open|log|sign|reset|clear|head|give|"
                            r"drop|fill|share|confirm|provide|keep|refer|reply|text|email|chat|download|re-?\w+)\b.+)$", re.I)


def _en_agent_imperative(s: str, lex: Lexicon) -> str | None:
    """"Kindly visit the shop ..." -> "Agent asked the customer to visit the shop ...";
    "Let's have you clear the cache" / "Try restarting" -> "Agent suggested to ..."."""
    t = lex.templates
    m = _EN_REQUEST.match(s)
    if m:
        x = en.pronouns(m.group(1), "agent", named=True)
        return _fill(t["agent_asked_to"], lex, _lower_first(x)) if x and not x.endswith("?") else None
    m = _EN_LETS.match(s)
    if m:
        x = en.pronouns(m.group(1), "agent", named=True)
        return _fill(t["agent_suggested"], lex, _lower_first(x)) if x else None
    m = _EN_IMPERATIVE.match(s)
    if m and not re.match(r"\w+ (?:is|are|was|were|has|have|will|can|would)\b", s, re.I):
        x = en.pronouns(m.group(1), "agent", named=True)
        return _fill(t["agent_suggested"], lex, _lower_first(x)) if x else None
    return None


def _en_follow_up(s: str, lex: Lexicon) -> str | None:
    """An agent question in indirect form ("Agent asked the customer to ..."), or None."""
    t = lex.templates
    m = re.match(r"(?:would you like|do you want) (?:me|us) to (.*?)\??$", s, re.I)
    x = en.pronouns(m.group(1), "agent", named=True) if m else None
    if x:
        return "Agent offered to " + x.rstrip(".")
    m = re.match(r"(?:can|could|would) you (?:please )?(.*?)\??$", s, re.I)
    x = en.pronouns(m.group(1), "agent", named=True) if m else None
    if x:
        return _fill(t["agent_asked_to"], lex, x)
    # "May I ask the reason for the return?" -> "Agent asked for the reason for the return".
    m = re.match(r"(?:may|can|could) (?:i|we) (?:please )?(?:ask|have|get|know)(?: for)? ((?:the|your|a|an) .*?)\??$", s, re.I)
    x = en.pronouns(m.group(1), "agent") if m else None
    if x:
        return _fill(t["agent_asked"], lex, "for " + x)
    indirect = en.question(s, "agent")
    x = en.pronouns(indirect, "agent", named=True) if indirect else None
    return _fill(t["agent_asked"], lex, x) if x else None


def _quoted_question(template: str, lex: Lexicon, s: str) -> str:
    q = s.strip("¿? ") + "?"
    if lex.code == "en":
        return template.replace(" {x}", ': "' + q + '"')
    if lex.code == "fr":
        return template.replace("{x}", ": « " + q + " »")
    return template.replace(" {x}", ": «¿" + q + "»")


def _join(labels: tuple[str, ...], lex: Lexicon) -> str:
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + f" {lex.labels['and']} " + labels[-1]
