"""Unit behaviour of the extractive note-taker: acts, rewriting, merging, redundancy, FR/ES."""
from __future__ import annotations

from casenotes.engines.base import SummarizationEngine
from casenotes.engines.extractive import ExtractiveEngine
from casenotes.engines.extractive import acts
from casenotes.engines.extractive.lexicon import EN, ES, FR, lexicon_for
from casenotes.engines.extractive.rewrite import render
from casenotes.model import Bullet, CaseMetadata, CaseView, Message


def msgs(*turns, channel="chat", language="en"):
    return tuple(Message(f"m{i}", channel, role, text, f"2024-05-01T10:00:{i:02d}Z",
                         "a-1" if role == "agent" else None, language) for i, (role, text) in enumerate(turns))


def progressive(history, bullets=()):
    """Run the engine message by message as the worker does; return every note proposed."""
    engine, accepted = ExtractiveEngine(), list(bullets)
    for i in range(1, len(history) + 1):
        view = CaseView("c1", CaseMetadata(), history[:i], tuple(accepted), covered=i - 1)
        accepted += [Bullet(f"c1:{len(accepted):04d}", len(accepted), t) for t in engine.notes_for(view)]
    return [b.text for b in accepted[len(bullets):]]


def note(text, role="customer", lex=EN):
    s = acts.clean(text, lex)
    return render(acts.classify(s, role, lex), s, role, lex)


def test_implements_the_engine_protocol():
    engine = ExtractiveEngine()
    assert isinstance(engine, SummarizationEngine)
    assert (engine.name, engine.model_version) == ("extractive", "extractive-1")


async def test_propose_is_async_and_returns_only_new_notes():
    engine = ExtractiveEngine()
    await engine.start()
    history = msgs(("customer", "I was charged twice for booking HX-48213"))
    view = CaseView("c1", CaseMetadata(), history, (), covered=0)
    assert await engine.propose(view) == ["Customer was charged twice for booking HX-48213"]
    assert await engine.propose(CaseView("c1", CaseMetadata(), history, (), covered=1)) == []
    await engine.close()


def test_dialogue_acts():
    assert acts.classify(acts.clean("Hi there, thanks so much!", EN), "customer", EN) == acts.SOCIAL
    assert acts.classify("One moment please while I check", "agent", EN) == acts.HOLD
    assert acts.classify("Can you confirm your date of birth?", "agent", EN) == acts.AUTH
    assert acts.classify("Could you give me the order number?", "agent", EN) == acts.FOLLOW_UP
    assert acts.asked_items("can I have your full name, the email and the order number?", EN) == ("name", "email", "order number")
    assert acts.classify("I've issued the refund", "agent", EN) == acts.DONE
    assert acts.classify("I'll send a replacement today", "agent", EN) == acts.COMMIT
    assert acts.classify("You can add the card to the app", "agent", EN) == acts.INSTRUCTION
    assert acts.classify("I already restarted the router twice", "customer", EN) == acts.ACTION
    assert acts.classify("My card keeps getting declined", "customer", EN) == acts.ISSUE
    assert acts.classify("Can you cancel my order?", "customer", EN) == acts.REQUEST
    assert acts.classify("Transferred to billing", "system", EN) == acts.TRANSFER
    assert acts.classify("Je vais annuler la réservation", "agent", FR) == acts.COMMIT
    assert acts.classify("He desbloqueado la cuenta", "agent", ES) == acts.DONE


def test_fillers_greetings_and_restarts_are_removed():
    assert acts.clean("Hi, um, yeah, so I just got my bill and there's, uh, there's a charge", EN) == \
        "I just got my bill and there's a charge"
    assert acts.clean("Oui bonjour, euh, voilà, j'ai reçu ma facture", FR) == "J'ai reçu ma facture"
    assert acts.clean("Bueno, eh, mire, es que pedí la portabilidad", ES) == "Pedí la portabilidad"
    assert acts.clean("Thanks, Tom.", EN) == ""


def test_first_person_is_rewritten_where_safe():
    assert note("I was charged twice") == "Customer was charged twice"
    assert note("my order never arrived") == "Customer's order never arrived"
    assert note("I'll refund your card today", "agent") == "Agent will refund the customer's card today"
    assert note("As a courtesy, I'll credit $86.20 to your account.", "agent") == \
        "Agent will credit $86.20 to the customer's account, as a courtesy"
    assert note("Can you cancel my order?") == "Customer asks the agent to cancel their order"
    assert note("will I get an email confirmation?") == "Customer is asking whether they will get an email confirmation"
    assert note("You can add the travel pass from the app", "agent") == \
        "Agent advised the customer to add the travel pass from the app"
    # Unsure (French first-person object with a second person): quoted, not mangled.
    assert note("Je peux vous l'envoyer si besoin", lex=FR) == "Le client indique : « Je peux vous l'envoyer si besoin »"


def test_french_and_spanish_notes_are_in_the_conversation_language():
    assert note("Je n'ai pas reçu mon remboursement", lex=FR) == "Le client n'a pas reçu son remboursement"
    assert note("Je vais vous faire un avoir de 14,99 €.", "agent", FR) == "L'agent va faire un avoir de 14,99 €"
    assert note("Compré unos auriculares y el izquierdo no carga", lex=ES) == \
        "El cliente compró unos auriculares y el izquierdo no carga"
    assert note("Te voy a enviar unos auriculares nuevos.", "agent", ES) == "El agente va a enviar unos auriculares nuevos"
    assert lexicon_for("fr-CA") is FR and lexicon_for(None) is EN and lexicon_for("de") is EN


def test_identifiers_sent_in_a_row_become_one_note():
    history = msgs(("agent", "Can I have your full name, the email on the order and the order number?"),
                   ("customer", "Crystal Minh"), ("customer", "crystal.minh@example.com"), ("customer", "order 3348917502"),
                   ("agent", "Thanks Crystal, one moment please."))
    notes = progressive(history)
    assert notes == ["Agent asked for the name, email and order number",
                     "Customer provided name Crystal Minh, email crystal.minh@example.com and order number 3348917502"]


def test_a_call_segment_cut_mid_sentence_is_joined_with_its_continuation():
    history = msgs(("customer", "So there's, uh, a roaming charge of"), ("customer", "$86.20 that I don't understand."),
                   channel="call")
    assert progressive(history) == ["Customer is complaining that there's a roaming charge of $86.20 that they don't understand"]


def test_answers_to_identity_checks_stay_out_and_verification_is_noted_once():
    history = msgs(("agent", "Can you confirm your date of birth?"), ("customer", "March 4th, 1988."),
                   ("agent", "Thank you, you're verified."), ("agent", "And your postcode?"), ("customer", "M14 5RT"),
                   ("agent", "Thanks, all verified."))
    assert progressive(history) == ["Customer identity verified"]


def test_repeats_and_what_agents_already_wrote_are_skipped():
    history = msgs(("customer", "I was charged twice for my hotel booking"), ("agent", "Let me check."),
                   ("customer", "yes exactly, I was charged twice"))
    assert progressive(history) == ["Customer was charged twice for their hotel booking"]
    # An agent edited the notes: the engine must not say it again in its own words.
    edited = Bullet("c1:0000", 0, "Double charge on hotel booking (charged twice)", source="agent", edited=True)
    assert progressive(msgs(("customer", "I was charged twice for my hotel booking")), [edited]) == []


def test_forced_notes_language_and_from_settings():
    from casenotes.settings import Settings
    engine = ExtractiveEngine.from_settings(Settings(notes_language="fr"))
    assert engine.language == "fr"
    assert ExtractiveEngine.from_settings(Settings()).language is None
