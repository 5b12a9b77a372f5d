"""Redaction of private data: what is found, what is left alone, stable placeholders, state."""
import json
import re

import pytest

from casenotes.model import Bullet, CaseMetadata, CaseView, Message
from casenotes.redact import (Redactor, find_pii, iban_ok, luhn_ok, redact_log_record, redact_view, redacts_engine,
                              redacts_log)

# (text, the same text redacted by a fresh Redactor). Positives in EN/FR/ES formats, and look-alikes
# that must stay: order numbers failing Luhn, dates, amounts, versions, short ids, bad IBANs.
LABELLED = [
    ("Call me at +1 (555) 123-4567 please", "Call me at [PHONE_1] please"),
    ("my cell is 555-123-4567, home (555) 987 6543", "my cell is [PHONE_1], home [PHONE_2]"),
    ("reach me on 415.555.0199 after 5pm", "reach me on [PHONE_1] after 5pm"),
    ("+1 555 123 4567 and 1-555-123-4567 are the same", "[PHONE_1] and [PHONE_1] are the same"),
    ("Mon numéro : 06 12 34 56 78", "Mon numéro : [PHONE_1]"),
    ("appelez le +33 6 12 34 56 78 ou le 06.12.34.56.78", "appelez le [PHONE_1] ou le [PHONE_1]"),
    ("fixe +33 (0)1 42 68 53 00", "fixe [PHONE_1]"),
    ("mi móvil es +34 612 345 678", "mi móvil es [PHONE_1]"),
    ("llámame al 612 34 56 78 o al 612345678", "llámame al [PHONE_1] o al [PHONE_1]"),
    ("UK line +44 20 7946 0958", "UK line [PHONE_1]"),
    ("write to jane.doe@example.com or JANE.DOE@EXAMPLE.COM", "write to [EMAIL_1] or [EMAIL_1]"),
    ("mon mail: marie-claire.dupont+sav@orange.fr.", "mon mail: [EMAIL_1]."),
    ("correo: j_garcia99@correo.es, gracias", "correo: [EMAIL_1], gracias"),
    ("card 4111 1111 1111 1111 exp 12/26", "card [CARD_1] exp 12/26"),
    ("charged on 4111-1111-1111-1111 twice", "charged on [CARD_1] twice"),
    ("Visa 4012888888881881, Mastercard 5555 5555 5555 4444", "Visa [CARD_1], Mastercard [CARD_2]"),
    ("Amex 3782 822463 10005 was declined", "Amex [CARD_1] was declined"),
    ("ma carte 4970 1012 3456 7893 est bloquée", "ma carte [CARD_1] est bloquée"),
    ("IBAN FR76 3000 6000 0112 3456 7890 189", "IBAN [IBAN_1]"),
    ("virement depuis FR7630006000011234567890189 hier", "virement depuis [IBAN_1] hier"),
    ("mi IBAN es ES91 2100 0418 4502 0005 1332", "mi IBAN es [IBAN_1]"),
    ("account GB82 WEST 1234 5698 7654 32 OK", "account [IBAN_1] OK"),
    ("DE89370400440532013000 is my German account", "[IBAN_1] is my German account"),
    # must stay as they are
    ("order 4111111111111112 never arrived", None),  # 16 digits, Luhn fails: an order number
    ("tracking 1234 5678 9012 3456 shows nothing", None),
    ("order #612345678 and ticket 0612345678", None),
    ("commande n° 0612345678 non reçue", None),
    ("pedido 612345678 sin entregar", None),
    ("charged $84.50 on 2024-03-01 at 10:30", None),
    ("I'm on iOS 11.1.2 and app version 4.21.0", None),
    ("ref A-99812, case CS-20240301-7781", None),
    ("le 12 03 2024 à 14h, 1 500 euros", None),
    ("FR76 3000 6000 0112 3456 7890 188 (typo)", None),  # checksum fails
    ("ES00 2100 0418 4502 0005 1332", None),
    ("room 1204, floor 12, 3 nights", None),
    ("call 911 or 112", None),
    ("conf code 48213", None),
    ("@AppleSupport my order 11223344 is late", None),
]




@pytest.mark.parametrize("text,expected", LABELLED, ids=[t[:30] for t, _ in LABELLED])
def test_labelled_examples(text, expected):
    assert Redactor().redact(text) == (text if expected is None else expected)


PLACEHOLDER = r"\[(?:EMAIL|PHONE|CARD|IBAN)_\d+\]"


def expected_spans(text, redacted):
    """Where the placeholders of ``redacted`` stand in ``text`` (literal parts must match)."""
    if redacted is None:
        return set()
    parts = re.split(PLACEHOLDER, redacted)
    m = re.fullmatch("(.+?)".join(map(re.escape, parts)), text)
    assert m, (text, redacted)
    return {m.span(i) for i in range(1, len(parts))}


def test_precision_and_recall_on_the_labelled_set():
    """Span-level, over the whole labelled set: every predicted span exactly right, none missed."""
    tp = fp = fn = 0
    for text, redacted in LABELLED:
        want, got = expected_spans(text, redacted), {(s.start, s.end) for s in find_pii(text)}
        tp, fp, fn = tp + len(want & got), fp + len(got - want), fn + len(want - got)
    assert tp == 29 and (fp, fn) == (0, 0)  # 29 private items, 15 look-alike texts


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("FR7630006000011234567890189") and iban_ok("GB82WEST12345698765432")
    assert not iban_ok("FR763000600001123456789018")  # one digit short for France


def test_placeholders_are_stable_within_a_case_and_survive_the_state_round_trip():
    r = Redactor()
    first = r.redact("mail a@b.com, card 4111 1111 1111 1111")
    state = json.loads(json.dumps(r.to_dict()))
    again = Redactor.from_dict(state)
    assert again.redact("card 4111-1111-1111-1111 and c@d.com, then a@b.com") == \
        "card [CARD_1] and [EMAIL_2], then [EMAIL_1]"
    assert first == "mail [EMAIL_1], card [CARD_1]"
    assert len(json.dumps(again.to_dict())) < 400  # small: it lives in the case state


def test_without_keep_originals_the_state_holds_no_value():
    r = Redactor()
    r.redact("jane.doe@example.com 4111 1111 1111 1111 +33 6 12 34 56 78")
    dumped = json.dumps(r.to_dict())
    assert "jane" not in dumped and "4111" not in dumped and "612" not in dumped
    assert r.restore("[EMAIL_1]") == "[EMAIL_1]"
    # two cases (two salts) do not share digests: a value cannot be linked across cases
    other = Redactor()
    other.redact("jane.doe@example.com")
    assert not set(r.seen) & set(other.seen)


def test_keep_originals_restores_and_can_be_dropped_later():
    r = Redactor(keep_originals=True)
    note = r.redact("Customer's email is Jane.Doe@example.com")
    assert r.restore(note) == "Customer's email is jane.doe@example.com"
    forgetful = Redactor.from_dict(r.to_dict(), keep_originals=False)
    assert "jane" not in json.dumps(forgetful.to_dict())
    assert forgetful.redact("jane.doe@example.com") == "[EMAIL_1]"  # still the same placeholder


def test_redact_view_covers_metadata_history_and_bullets():
    view = CaseView(
        case_id="c1", metadata=CaseMetadata(customer={"email": "jane@example.com", "name": "Jane"}),
        history=(Message("m1", "chat", "customer", "I am jane@example.com, card 4111 1111 1111 1111", "t"),
                 Message("m2", "chat", "agent", "Thanks, noted.", "t")),
        bullets=(Bullet("c1:0001", 1, "Agent noted 06 12 34 56 78", source="agent", edited=True),),
        covered=1)
    r = Redactor()
    out = redact_view(view, r)
    assert out.metadata.customer == {"email": "[EMAIL_1]", "name": "Jane"}
    assert out.history[0].text == "I am [EMAIL_1], card [CARD_1]"
    assert out.history[1] is view.history[1]  # untouched messages are not copied
    assert out.bullets[0].text == "Agent noted [PHONE_1]" and out.covered == 1


def test_redact_log_record():
    r = Redactor()
    rec = {"edit_id": "e1", "before": "card 4111 1111 1111 1111", "after": "card [CARD_1] (refund)",
           "generation_context": {"metadata": {"customer": {"phone": "+34 612 345 678"}, "agent": {}},
                                  "history": [{"message_id": "m1", "text": "ring me at 612 34 56 78"}],
                                  "prefix_bullets": ["Customer e-mail a@b.com"], "engine": "x"}}
    out = redact_log_record(rec, r)
    assert out["before"] == "card [CARD_1]" and out["after"] == "card [CARD_1] (refund)"
    ctx = out["generation_context"]
    assert ctx["metadata"]["customer"]["phone"] == "[PHONE_1]" and ctx["history"][0]["text"] == "ring me at [PHONE_1]"
    assert ctx["prefix_bullets"] == ["Customer e-mail [EMAIL_1]"] and ctx["engine"] == "x"
    assert rec["before"].startswith("card 4111")  # the input is not modified


def test_modes():
    assert not redacts_engine("off") and redacts_engine("engine") and not redacts_log("engine")
    assert redacts_log("engine+log")
    with pytest.raises(ValueError, match="CASENOTES_REDACT"):
        redacts_engine("everything")
