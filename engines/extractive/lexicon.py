"""Language data for the extractive note-taker: cue phrases and note templates in EN, FR, ES.

Everything language-specific lives here so the act classifier and the rewriter stay generic.
Phrases are lowercase regex fragments matched on word boundaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lexicon:
    code: str
    # Hesitations, dropped wherever they occur; discourse markers, dropped at clause start only.
    hesitations: tuple[str, ...]
    markers: tuple[str, ...]
    # Whole clauses that carry no case information (greetings, thanks, acks, empathy, self-intros).
    social: tuple[str, ...]
    # "Please hold" and friends: dropped entirely.
    hold: tuple[str, ...]
    # Agent questions that are identity checks, and the agent's "you're verified".
    auth_items: tuple[str, ...]
    verified: tuple[str, ...]
    # Things an agent asks for; the first alternative is the label used in notes.
    items: tuple[tuple[str, ...], ...]
    question_starts: tuple[str, ...]
    request_cues: tuple[str, ...]
    action_cues: tuple[str, ...]
    issue_cues: tuple[str, ...]
    commit_cues: tuple[str, ...]
    done_cues: tuple[str, ...]
    instruction_cues: tuple[str, ...]
    finding_cues: tuple[str, ...]
    transfer: str  # regex with one group: the destination team
    # Agent statements that ask for something without a question ("I'd just need your phone
    # number", "you would give me the order ID"); each ends where the requested item starts.
    item_requests: tuple[str, ...] = ()
    # Sign-offs ("that's all, have a great day"): what follows them in the same turn is a
    # pleasantry ("Don't forget to ..."), not a case fact.
    farewells: tuple[str, ...] = ()
    # Words ignored when comparing notes for redundancy, and near-synonyms folded together.
    stopwords: frozenset[str] = frozenset()
    synonyms: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # email/phone/name/code labels


EN = Lexicon(
    code="en",
    hesitations=(r"um+", r"uh+", r"erm", r"hmm+", r"mm-hmm", r"you know\??", r"i mean", r"like i said"),
    markers=(r"hi there", r"hi", r"hello", r"hey", r"basically", r"actually", r"so yeah", r"yeah so", r"okay so", r"ok so", r"so", r"well", r"anyway", r"and", r"but",
             r"because", r"oh", r"exactly", r"i'?m afraid( that)?", r"fine", r"absolutely", r"indeed", r"right", r"yeah", r"yes", r"okay", r"ok", r"sure", r"alright", r"great", r"also,", r"just to confirm", r"since then"),
    social=(r"h(i|ello|ey)( there)?( \w+)?", r"good (morning|afternoon|evening)", r"thanks?( you)?( so much| very much| a lot)?( (mr|mrs|ms)\.?)?( [A-Z]\w+)?( for .*)?", r"sorry to hear (that|this).*",
            r"it'?s [A-Z]\w+ [A-Z]\w+",
            r"(ok(ay)?|great|perfect|sure|right|cool|alright|awesome|got it|understood|not? problem|excellent|fine|good|yes|yeah|yep|no|nope|done|finally|wow|oh)( \w+)?",
            r"(you'?re|you are) welcome.*", r"(it'?s |it was |was )?(a|my|our) (pleasure|privilege)( to .*)?", r"no worries.*", r"have a (good|great|nice|safe) .*", r"(good)?bye.*", r"take care.*",
            r"(you|same to you) too.*", r"enjoy .*", r"sorry (again|about that|for the .*)?", r"(i'?m|i am) (so |very |really )?sorry( to hear (that|this))?.*",
            r"(i|we) apologi[sz]e.*", r"oh no", r"ugh", r"that happens", r"good timing.*", r"good to know", r"that would be (great|amazing|perfect)",
            r"that'?s (great|fair|perfect|all|it|everything|helpful|really helpful)", r"(that|this) (helps|works)", r"(i )?(completely |totally )?understand",
            r"let'?s (get you sorted|take a look|see)", r"let me (check|look|see)( .*)?", r"(i can|i'?ll|happy to) (definitely |certainly )?(help|look)( .*)?",
            r"(my name is|i'?m|this is|you'?re speaking with) [A-Z]\w+( from [\w ]+| here)?", r"[A-Z]\w+ (here )?from [\w ]+( here)?", r"[\w ]+, (this is|my name is) .*",
            r"(i'?m|this is) \w+ from [\w ]+( here)?", r"((hello|hi|hey) and )?(welcome|thanks for (contacting|calling|reaching out)).*", r"thank you for (waiting|holding|your patience).*",
            r"how (can|may) i help( you)?( today| this evening)?", r"what can i do for you( today)?",
            r"(can|could|would) you (please )?help( me)?( with (that|this|it))?( please)?",
            r"((is|would) there (be )?)?anything else( (that )?(i|we) (can|could) (help (you )?with|do for you|assist (you )?with))?( today| for you)?",
            r"sorry,? (that )?(i|we) (couldn'?t|could not|can'?t|cannot|wasn'?t able to|weren'?t able to) (be of )?(more |further |much |any more )?(help|assistance|use)( .*)?",
            r"(please )?(let me know|keep me (posted|updated|informed))", r"dear( (mr|mrs|ms|miss|dr)\.?)?( [A-Z][\w'-]+){1,3}",
            r"no,? that'?s (all|it|everything)", r"who am i speaking with", r"i'?ve read the notes from my colleague", r"will do",
            r"(i'?ll|i will) do that", r"sorry again.*", r"one sec(ond)?", r"(it )?activated", r"it'?s done"),
    hold=(r"please", r"(one|a) (moment|sec(ond)?|minute)( please)?( while .*)?", r"(please )?(hold|bear with me)\b.*", r"just a (moment|sec(ond)?|minute).*",
          r"let me just .*", r"while i (check|look).*"),
    auth_items=(r"date of birth", r"last (four|4) digits", r"post ?code", r"zip( code)?", r"security (question|answer|word)",
                r"mother'?s maiden name", r"verify your identity", r"last name on the booking", r"confirm your full name"),
    verified=(r"(you'?re|you are|all|you have been) verified", r"verified your identity", r"identity (is )?confirmed"),
    items=(("order number", r"order (number|id|#)"), ("booking reference", r"booking (reference|ref|number)"),
           ("account number", r"account (number|id)"), ("email", r"e-?mail( address)?"), ("phone number", r"phone( number)?"),
           ("username", r"user ?name"), ("name", r"(full )?name"), ("loan number", r"loan number"), ("ticket number", r"ticket( number)?"),
           ("workspace", r"workspace"), ("invoice number", r"invoice( number)?"), ("serial number", r"serial number"),
           ("error message", r"error (message|code)"), ("screenshot", r"screenshot")),
    question_starts=(r"(what|why|how|when|where|which|who|whose)\b", r"(can|could|would|will|do|does|did|is|are|was|were|have|has|should|may) (i|you|we|it|there|this|that|they)\b"),
    request_cues=(r"(can|could|would) you\b", r"please\b", r"let me know\b", r"i('d| would) like", r"i (want|need)", r"is it possible", r"(book|send|cancel|release|refund|check|fix|reset|remove|change|update|close) (me|it|my|the|this|that)\b"),
    action_cues=(r"i (already |also )?(tried|restarted|rebooted|reinstalled|checked|called|emailed|returned|sent|paid|bought|updated|switched|changed|asked|contacted|cleared)\b",
                 r"i'?ve (already )?(tried|restarted|checked|called|emailed|returned|sent|paid|updated)\b", r"already\b"),
    issue_cues=(r"\b(not|never|no longer|can'?t|cannot|won'?t|doesn'?t|didn'?t|don'?t|isn'?t|wasn'?t|haven'?t)\b", r"\b(charged|declined|error|problem|issue|broken|down|fail(ed|s|ing)?|missing|wrong|late|cancell?ed|blocked|stuck|lost|twice|double|crash\w*)\b"),
    commit_cues=(r"(i|we)'?ll\b", r"(i|we) will\b", r"(i'?m|we'?re|i am|we are) going to\b", r"(i|we) can (take|send|refund|credit|waive|offer|book|ship|reset)\b"),
    done_cues=(r"(i|we)'?ve\b", r"(i|we) have (\w+ed|sent|made|put|set|run|done|taken|given|booked|issued|released|opened|cancelled|added|applied|submitted|escalated)\b", r"(i|we) (just )?(issued|released|cancelled|canceled|opened|booked|added|applied|submitted|escalated|sent|refunded|credited|reset|removed|fixed)\b", r"done\b"),
    instruction_cues=(r"you (can|could|should|may|need to|have to|'ll need to|will need to|must)\b", r"please (\w+)", r"make sure\b", r"for next time\b"),
    finding_cues=(r"i (can )?see\b", r"i'?m seeing\b", r"i (checked|found|looked)\b", r"(it )?looks like\b"),
    transfer=r"(?:transferred|transferring) (?:you )?to (?:our |the )?(.+?)(?: team)?\.?$",
    item_requests=(r"\b(?:i|we)(?:'d| would|'ll| will)? (?:just |also |still |first |only )?need (?:to (?:have|get|see|confirm) )?(?=(?:your|the)\b)",
                   r"\byou (?:would|could|can|will|might) (?:please |kindly |also |just )?(?:give|send|provide|share|tell|confirm)(?: me| us)? (?=(?:your|the)\b)",
                   r"\b(?:please|kindly) (?:give|send|provide|share|tell|confirm)(?: me| us)? (?=(?:your|the)\b)",
                   r"\b(?:i|we)(?:'d| would) (?:also )?like (?:to (?:have|get|see|confirm) )?(?=your\b)"),
    farewells=(r"(no,? )?that'?s (all|it|everything)( for (now|today))?", r"have a (good|great|nice|lovely|safe|wonderful) \w+( \w+)?",
               r"(good)?bye( now)?", r"take care", r"talk (to you )?(soon|later)", r"see (you|ya)( later| soon)?", r"cheers"),
    stopwords=frozenset("a an the and or but so to of for on in at by with from as is are was were be been being it its it's this that these those there their them they he she his her customer agent reports notes says asks asked provided found advised confirms also still just really very up out then than about into if whether".split()),
    synonyms={"got": "receiv", "get": "receiv", "received": "receiv", "receive": "receiv", "arrived": "receiv", "arrive": "receiv",
              "billed": "charg", "bill": "charg", "charged": "charg", "charge": "charg", "charges": "charg"},
    templates={"customer": "Customer", "agent": "Agent", "cust_pron": "they", "reports": "Customer reports {x}", "complains": "Customer is complaining that {x}",
               "asks": "Customer is asking {x}", "asks_agent": "Customer asks the agent to {x}", "provided": "Customer provided {x}",
               "agent_asked_for": "Agent asked for the {x}", "agent_asked": "Agent asked {x}", "agent_asked_to": "Agent asked the customer to {x}",
               "agent_notes": "Agent informed that {x}", "agent_found": "Agent found {x}", "agent_advised": "Agent advised the customer to {x}",
               "agent_suggested": "Agent suggested to {x}", "agent_says": "Agent says {x}", "transfer": "Case transferred to {x}", "verified": "Customer identity verified",
               "quote_customer": "Customer says: \"{x}\"", "quote_question": "Customer asks: \"{x}\"", "quote_agent": "Agent says: \"{x}\""},
    labels={"email": "email", "phone": "phone", "name": "name", "and": "and"},
)

FR = Lexicon(
    code="fr",
    hesitations=(r"euh+", r"hum+"),
    markers=(r"bonjour", r"ben", r"bah", r"bon", r"voilà", r"alors", r"en fait", r"effectivement", r"du coup", r"oui", r"d'accord", r"et", r"mais",
             r"parce que", r"donc", r"je sais,? mais", r"oui je sais,? mais", r"super", r"bien reçu", r"dans ce cas", r"ok"),
    social=(r"bonjour( \w+)?( madame| monsieur)?", r"bonsoir( \w+)?", r"salut", r"merci( beaucoup| bien)?( \w+)?( pour .*)?", r"(oui|non|d'accord|ok|très bien|parfait|super|entendu|c'est bon|bien reçu|c'est envoyé|bien sûr)",
            r"je vous en prie.*", r"de rien.*", r"bonne (journée|soirée|fin de journée).*", r"au revoir.*", r"bon rétablissement.*", r"je suis désolée? .*",
            r"(je suis|ici|c'est) [A-Z]\w+( de .*)?", r"[\w ]+, (je suis|ici) .*", r"[\w ]+ bonjour, .*", r"\w+ à l'appareil.*", r"(comment|que) (puis-je|puis je|je peux) (vous aider|faire pour vous).*",
            r"(bonjour et )?bienvenue .*", r"c'est ce que je pensais", r"je sais", r"je comprends( tout à fait| bien)?", r"tenez-moi au courant",
            r"(non,? )?c'est tout( pour (moi|aujourd'hui))?", r"ce sera tout", r"cordialement.*", r"d'accord, je vais regarder ça", r"je vais regarder ça", r"pour commencer"),
    hold=(r"s'il vous plaît", r"[\w ]+ bonjour", r"un (instant|moment)( s'il vous plaît)?.*", r"ne quittez pas.*", r"patientez.*", r"je consulte .*", r"je regarde .*"),
    auth_items=(r"date de naissance", r"(4|quatre) derniers chiffres", r"code postal", r"vérifier votre identité", r"question secrète"),
    verified=(r"identité est confirmée", r"identité (a été )?vérifiée", r"c'est bon, vous êtes identifiée?"),
    items=(("le numéro client", r"numéro (de )?client"), ("la référence", r"référence"), ("l'adresse e-mail", r"(adresse )?e-?mail"),
           ("le numéro de commande", r"numéro de commande"), ("le montant", r"montant"), ("le numéro de téléphone", r"numéro de téléphone")),
    question_starts=(r"(pourquoi|comment|quand|où|quel(le)?s?|combien|qui)\b", r"est-ce que\b", r"(pouvez|pourriez|avez|êtes|puis)-(vous|je)\b"),
    request_cues=(r"(pouvez|pourriez)-vous\b", r"je (voudrais|veux|souhaite|dois)\b", r"est-ce que vous pouvez\b", r"s'il vous plaît"),
    action_cues=(r"j'ai (déjà |aussi )?(essayé|redémarré|vérifié|appelé|envoyé|activé|payé|renvoyé)\b", r"déjà\b"),
    issue_cues=(r"\b(pas|jamais|plus|erreur|problème|bloqué\w*|facturé\w*|débité\w*|annul\w*|deux fois|doublon|panne|toujours pas)\b",),
    commit_cues=(r"je vais\b", r"nous allons\b", r"je vous (envoie|fais|rembourse)\b", r"nous pouvons\b"),
    done_cues=(r"j'ai (\w+é|fait|mis|pris|supprimé)\b", r"je viens de\b", r"nous avons\b"),
    instruction_cues=(r"vous (pouvez|devez|devrez)\b", r"veuillez\b", r"vous recevrez\b"),
    finding_cues=(r"je vois\b", r"je constate\b"),
    transfer=r"transféré(?:e)? (?:à|au|vers) (?:l'équipe |le service )?(.+?)\.?$",
    item_requests=(r"\b(?:il me faut|il nous faut|j'aurais besoin|j'ai besoin|nous avons besoin)(?: de| d')? (?=(?:votre|vos|du|de la|de l'|le|la|l')\b)",
                   r"\b(?:merci de|veuillez|vous pouvez|vous pourriez) (?:me |nous )?(?:donner|communiquer|indiquer|fournir|envoyer|transmettre|confirmer) (?=(?:votre|vos|le|la|l')\b)"),
    farewells=(r"(non,? )?c'est tout( pour (moi|aujourd'hui))?", r"ce sera tout", r"(bonne|excellente) (journée|soirée|fin de journée|semaine)( à vous)?",
               r"au revoir", r"à bientôt", r"à la prochaine"),
    stopwords=frozenset("le la les l un une des du de d et ou mais à au aux en dans pour par sur avec que qu qui ce cet cette ces c est sont était a ont il elle ils son sa ses leur client agent signale indique demande constate fourni aussi déjà bien ne pas".split()),
    synonyms={"facturé": "factur", "facturée": "factur", "facture": "factur", "débité": "factur", "reçu": "recev", "arrivé": "recev"},
    templates={"customer": "Le client", "agent": "L'agent", "cust_pron": "il", "reports": "Le client signale {que}{x}", "complains": "Le client signale {que}{x}",
               "asks": "Le client demande {x}", "asks_agent": "Le client demande à l'agent {x}", "provided": "Le client a fourni {x}",
               "agent_asked_for": "L'agent a demandé {x}", "agent_asked": "L'agent a demandé {x}", "agent_asked_to": "L'agent a demandé au client de {x}",
               "agent_notes": "L'agent indique {que}{x}", "agent_found": "L'agent constate {x}", "agent_advised": "L'agent invite le client à {x}",
               "agent_says": "L'agent indique {que}{x}", "transfer": "Dossier transféré à {x}", "verified": "Identité du client vérifiée",
               "quote_customer": "Le client indique : « {x} »", "quote_question": "Le client demande : « {x} »", "quote_agent": "L'agent indique : « {x} »"},
    labels={"email": "e-mail", "phone": "téléphone", "name": "nom", "and": "et"},
)

ES = Lexicon(
    code="es",
    hesitations=(r"eh+", r"em+"),
    markers=(r"este", r"bueno", r"pues", r"mire", r"mira", r"es que", r"o sea", r"vale", r"claro", r"entonces", r"ah", r"y", r"pero",
             r"porque", r"sí", r"perfecto", r"entendido", r"gracias", r"hola"),
    social=(r"hola( \w+)?( buen[oa]s (días|tardes|noches))?", r"buen[oa]s (días|tardes|noches)", r"(muchas )?gracias( \w+)?( por .*)?", r"(sí|si|no|vale|perfecto|genial|de acuerdo|entendido|claro|ok|nada más)",
            r"de nada.*", r"a usted.*", r"que (tengas?|tenga) (un )?(buen|buena) .*", r"adiós.*", r"lo siento( mucho)?.*", r"(soy|le atiende|te atiende) [A-Z]\w+.*", r"[\w ]+, (soy|le atiende) .*",
            r"¿?en qué (le |te )?puedo ayudar(te|le)?.*", r"bienvenid[oa] .*", r"¿?algo más\??", r"no, nada más.*", r"(lo )?entiendo( perfectamente)?", r"(lo )?comprendo",
            r"(no,? )?(eso es todo|nada más)( por (ahora|hoy))?", r"rechazada", r"gracias, señor \w+"),
    hold=(r"por favor", r"un momento( por favor)?.*", r"no se retire.*", r"espere un momento.*"),
    auth_items=(r"dni", r"fecha de nacimiento", r"últimos (4|cuatro) dígitos", r"verificar su identidad", r"código postal"),
    verified=(r"identidad verificada", r"ha sido verificad[oa]"),
    items=(("el correo electrónico", r"correo( electrónico)?"), ("el número de pedido", r"(número de )?pedido"), ("la referencia", r"referencia"),
           ("el número de teléfono", r"(número de )?teléfono"), ("el nombre", r"nombre")),
    question_starts=(r"¿", r"(qué|por qué|cómo|cuándo|dónde|cuál|quién)\b"),
    request_cues=(r"¿?(puede|podría|puedes|podrías)s?\b", r"(quiero|necesito|quisiera)\b", r"por favor"),
    action_cues=(r"ya (los |las |lo |la )?\w+(é|í)\b", r"(probé|intenté|reinicié|limpié|llamé|envié|cambié|configuré)\b", r"he (probado|intentado|reiniciado)\b"),
    issue_cues=(r"\b(no|nunca|todavía no|error|problema|bloquead\w*|cobr\w*|rechazad\w*|defect\w*|sin cargar)\b",),
    commit_cues=(r"(te|le|les)? ?(voy|vamos) a\b", r"\w+ré\b", r"(te|le|les) (envío|mando|paso|llamo|escribo|aviso|devuelvo|reembolso|abono|activo)\b"),
    done_cues=(r"(le |te )?(he|hemos) \w+(ado|ido|to|cho)\b",),
    instruction_cues=(r"(puede|puedes|debe|debes|tiene que|tienes que)\b", r"por favor,? \w+"),
    finding_cues=(r"veo\b", r"compruebo\b"),
    transfer=r"transferid[oa] a (?:l |el equipo de |la )?(.+?)\.?$",
    item_requests=(r"\bnecesit(?:o|aría|amos|aríamos) (?=(?:su|sus|tu|tus|el|la|los|las)\b)",
                   r"\b(?:me|nos) (?:puede|podría|puedes|podrías) (?:dar|indicar|facilitar|enviar|pasar|confirmar) (?=(?:su|sus|tu|tus|el|la)\b)",
                   r"\b(?:indíqueme|facilíteme|dígame|envíeme|páseme|confírmeme|indícame|dime|pásame|envíame) (?=(?:su|sus|tu|tus|el|la)\b)"),
    farewells=(r"(no,? )?(eso es todo|nada más)( por (ahora|hoy))?", r"que (tengas?|tenga) (un )?(buen|buena|feliz) \w+", r"adiós",
               r"hasta (luego|pronto|la próxima)", r"buen día"),
    stopwords=frozenset("el la los las un una unos unas de del y o pero a al en con por para que se es son era ha su sus le lo cliente agente indica informa pide comprueba facilitó también ya no".split()),
    synonyms={"recibido": "recib", "recibió": "recib", "llegado": "recib", "llegó": "recib", "cobraron": "cobr", "cobrado": "cobr"},
    templates={"customer": "El cliente", "agent": "El agente", "cust_pron": "", "reports": "El cliente indica que {x}", "complains": "El cliente indica que {x}",
               "asks": "El cliente pregunta {x}", "asks_agent": "El cliente pide al agente {x}", "provided": "El cliente facilitó {x}",
               "agent_asked_for": "El agente pidió {x}", "agent_asked": "El agente preguntó {x}", "agent_asked_to": "El agente pidió al cliente {x}",
               "agent_notes": "El agente indica que {x}", "agent_found": "El agente comprueba {x}", "agent_advised": "El agente indica al cliente que {x}",
               "agent_says": "El agente indica que {x}", "transfer": "Caso transferido a {x}", "verified": "Identidad del cliente verificada",
               "quote_customer": "El cliente indica: «{x}»", "quote_question": "El cliente pregunta: «{x}»", "quote_agent": "El agente indica: «{x}»"},
    labels={"email": "correo", "phone": "teléfono", "name": "nombre", "and": "y"},
)

LEXICONS = {"en": EN, "fr": FR, "es": ES}


def lexicon_for(language: str | None) -> Lexicon:
    """The lexicon for a BCP-47-ish code ("fr", "fr-CA", "ES"); English when unknown."""
    return LEXICONS.get((language or "en").split("-")[0].split("_")[0].lower(), EN)
