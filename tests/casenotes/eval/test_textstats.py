"""Reference-free measures: tokens, numeric grounding (EN/FR/ES, both directions), leakage."""
import json
from pathlib import Path

import pytest

from casenotes.eval.textstats import leaks, numbers_in, reduction_ratio, ungrounded, words

TWEETSUMM = Path(__file__).resolve().parents[4] / "shared" / "data" / "tweetsumm" / "train.jsonl"


# ------------------------------------------------------------------ words
def test_words_keeps_numbers_codes_and_contractions_whole():
    assert words("Customer can't pay $312.40 (ORD-55812) at 3:30pm, 12/03!") == \
        ["Customer", "can't", "pay", "312.40", "ORD-55812", "at", "3:30pm", "12/03"]
    assert words("  ... 👍 ") == []


def test_reduction_ratio():
    assert reduction_ratio("two words", "one two three four") == 0.5
    assert reduction_ratio("x", "") == 0.0


# ------------------------------------------------------------------ extraction
def _found(text, lang="en"):
    return [(m.text, m.value) for m in numbers_in(text, lang)]


@pytest.mark.parametrize("text,expected", [
    ("a double charge of $312.40", [("$312.40", "312.4")]),
    ("on 12/03 at 3:30pm", [("12/03", "12/3"), ("3:30pm", "15:30")]),
    ("order ORD-55812, app v1.0.64", [("ORD-55812", "ORD55812"), ("v1.0.64", "V1064")]),
    ("1,250,000 users and 2 million more", [("1,250,000", "1250000"), ("2 million", "2000000")]),
    ("twenty-two items, one hundred and five, a thousand", [("twenty-two", "22"), ("one hundred and five", "105"),
                                                            ("a thousand", "1000")]),
    ("the 3rd time in 5 days, 50% off", [("3rd", "3"), ("5", "5"), ("50", "50")]),
])
def test_extraction_en(text, expected):
    assert _found(text) == expected


def test_extraction_fr():
    assert _found("quatre-vingt-quatre euros, soixante-dix, vingt et un, quatre-vingt-dix-sept", "fr") == [
        ("quatre-vingt-quatre", "84"), ("soixante-dix", "70"), ("vingt et un", "21"), ("quatre-vingt-dix-sept", "97")]
    assert _found("1 000 € puis 312,40 € à 15h30, deux cents colis", "fr") == [
        ("1 000", "1000"), ("312,40", "312.4"), ("15h30", "15:30"), ("deux cents", "200")]


def test_extraction_es():
    assert _found("doscientos pesos, mil quinientos, treinta y dos, un millón, veintidós", "es") == [
        ("doscientos", "200"), ("mil quinientos", "1500"), ("treinta y dos", "32"), ("un millón", "1000000"),
        ("veintidós", "22")]
    # "dos y tres" is two numbers, not five
    assert _found("dos y tres", "es") == [("dos", "2"), ("tres", "3")]


@pytest.mark.parametrize("text,lang", [
    ("One of my orders is missing, no one answered", "en"),
    ("Il y a un problème avec une commande", "fr"),
    ("Tengo un problema con una factura, uno de ellos", "es"),
    ("My first order, wait a second", "en"),
    ("un téléphone neuf, tout neuf.", "fr"),
    ("Contact @160485 or https://t.co/x9Z2 or jane99@mail.com", "en"),
    ("A couple of hundreds of people", "en"),
])
def test_articles_ordinal_words_and_artefacts_are_not_mentions(text, lang):
    assert numbers_in(text, lang) == []


def test_neuf_as_nine():
    assert _found("neuf jours plus tard", "fr") == [("neuf", "9")]


def test_other_languages_get_digits_only():
    assert _found("zwei Bestellungen, 3 Tage", "de") == [("3", "3")]


# ------------------------------------------------------------------ grounding
@pytest.mark.parametrize("note,conversation,lang", [
    ("Customer has two orders", "I placed 2 orders", "en"),
    ("Customer has 2 orders", "I placed two orders", "en"),
    ("Double charge of $312.40", "you charged me 312.40 twice", "en"),
    ("Double charge of $312.40", "cobro de 312,40 dos veces", "es"),
    ("Charged $312", "you charged me $312.40", "en"),  # rounding is not a hallucination
    ("Order 55812 delayed", "my order ORD-55812 is late", "en"),
    ("Order ORD-55812 delayed", "order number is 55812", "en"),
    ("Order ord55812 delayed", "my order ORD-55812", "en"),
    ("App v1.0.64 crashes", "running version 1.0.64", "en"),
    ("Callback at 3pm", "call me at 3 pm please", "en"),
    ("Callback at 3pm", "call me at 15:00", "en"),
    ("Callback at 15:30", "call me at 3:30pm", "en"),
    ("Callback at 3:30", "call me at 3:30 p.m.", "en"),
    ("Delivery on 12/03", "it should arrive on March 12", "en"),
    ("Delivery on 12/03", "it should arrive on the 12th of March", "en"),
    ("Delivery on 12 March", "delivery date 12/03", "en"),
    ("Delivery on 2024-03-12", "arrives 12/03/2024", "en"),
    ("Refund in 10-14 days", "allow 10 to 14 business days", "en"),
    ("Paid 1,000 dollars", "I paid 1000 dollars", "en"),
    ("Paid 1000 dollars", "I paid $1,000", "en"),
    ("Customer waited 1 hour", "I waited one hour", "en"),
    ("2nd attempt failed", "my second attempt failed", "en"),
    ("Phone 1-800-275-2273", "call 1 (800) 275-2273", "en"),
    ("2FA not working", "two-factor codes never arrive", "en"),
    ("Twenty-two items missing", "22 items are missing", "en"),
    ("A hundred users affected", "100 users", "en"),
    ("Le client a reçu quatre-vingt-quatre euros", "remboursement de 84 €", "fr"),
    ("Remboursement de 84 €", "vous m'avez remboursé quatre-vingt-quatre euros", "fr"),
    ("Remboursement de 70 euros", "soixante-dix euros", "fr"),
    ("Livraison le 12/03", "livraison prévue le 12 mars", "fr"),
    ("Rappel à 15h30", "rappelez-moi à 15:30", "fr"),
    ("Deux colis perdus", "j'ai perdu 2 colis", "fr"),
    ("Facture de 1500 pesos", "una factura de mil quinientos pesos", "es"),
    ("Facture de mil quinientos pesos", "factura de 1.500 pesos", "es"),
    ("Entrega el 12 de marzo", "entrega el 12/03", "es"),
    ("Pagó doscientos euros", "pagué 200 euros", "es"),
    ("1 pedido retrasado", "tengo un pedido retrasado", "es"),
    ("Customer tweeted to @160485", "@160485 hi", "en"),  # handles are leakage, not numbers
])
def test_grounded(note, conversation, lang):
    assert ungrounded(note, conversation, lang) == []


@pytest.mark.parametrize("note,conversation,lang,bad", [
    ("Customer has three orders", "I placed 2 orders", "en", ["three"]),
    ("Customer has 3 orders", "I placed two orders", "en", ["3"]),
    ("Double charge of $312.40", "you charged me 321.40 twice", "en", ["$312.40"]),
    ("Refund of $40", "you charged me $312.40", "en", ["$40"]),  # not a part of 312.40
    ("Order ORD-55821 delayed", "my order ORD-55812 is late", "en", ["ORD-55821"]),
    ("App v1.0.46 crashes", "running version 1.0.64", "en", ["v1.0.46"]),
    ("Callback at 4pm", "call me at 3 pm please", "en", ["4pm"]),
    ("Delivery on 14/03", "it should arrive on March 12", "en", ["14/03"]),
    ("Refund within 30 days", "refund within 14 days", "en", ["30"]),
    ("Paid 1,500 dollars", "I paid 1000 dollars", "en", ["1,500"]),
    ("Waited twenty minutes", "I waited 2 hours", "en", ["twenty"]),
    ("Phone 1-800-275-2274", "call 1 (800) 275-2273", "en", ["1-800-275-2274"]),
    ("Remboursement de quatre-vingts euros", "remboursement de 84 €", "fr", ["quatre-vingts"]),
    ("Remboursement de 97 €", "soixante-dix-sept euros", "fr", ["97"]),
    ("Trois colis perdus", "j'ai perdu 2 colis", "fr", ["Trois"]),
    ("Facture de 1400 pesos", "mil quinientos pesos", "es", ["1400"]),
    ("Pagó trescientos euros", "pagué 200 euros", "es", ["trescientos"]),
    ("2 pedidos retrasados", "tengo un pedido retrasado", "es", ["2"]),
])
def test_ungrounded(note, conversation, lang, bad):
    assert ungrounded(note, conversation, lang) == bad


def test_ungrounded_keeps_note_order_and_grounded_ones_out():
    note = "Customer paid $50 on 12/03, then 7 days later got 2 refunds of $25"
    conv = "I paid 50 bucks on the 12th of March and got two refunds of 25 each"
    assert ungrounded(note, conv) == ["7"]


# ------------------------------------------------------------------ leakage
def test_leaks_in_real_looking_tweets():
    t = "@SpotifyCares @160485 Sorry about that! Try this: https://t.co/m9DPQbkftD or www.spotify.com/help /JI"
    assert leaks(t) == {"handles": ["@SpotifyCares", "@160485"],
                        "urls": ["https://t.co/m9DPQbkftD", "www.spotify.com/help"], "signatures": ["/JI"]}
    assert leaks("We'll look into it. ^LD 2/2 https://t.co/GDrqU22YpT")["signatures"] == ["^LD"]
    assert leaks("Please DM us your order number. -Sam")["signatures"] == ["-Sam"]
    assert leaks("Sorry for the delay *KM")["signatures"] == ["*KM"]
    assert leaks("Happy to help ~AB 👍")["signatures"] == ["~AB"]
    assert leaks("as stated in our terms and conditions. - Emily")["signatures"] == ["- Emily"]
    assert leaks("Kindly deactivate the tune. Thank you. TT")["signatures"] == ["TT"]


def test_signatures_per_bullet():
    note = "- Customer reports a double charge ^LD\n- Agent offers a refund /JI\n- Refund takes 5-7 days"
    assert leaks(note)["signatures"] == ["^LD", "/JI"]


@pytest.mark.parametrize("text", [
    "Support is open 24/7", "Send the receipt and/or the invoice", "We ran an A/B test",
    "Prices fell -5%", "Customer switched to T-Mobile", "Customer satisfied. OK",
    "Email me at jane.doe@example.com", "Agent asks for the order number.", "Refund of $312.40 on 12/03",
    "Customer uses iOS 11.1.2 and watchOS 4.1", "Customer rated 5/5", "Thanks again",
])
def test_no_false_leaks(text):
    assert leaks(text) == {"handles": [], "urls": [], "signatures": []}


@pytest.mark.skipif(not TWEETSUMM.exists(), reason=f"{TWEETSUMM} not present")
def test_tweetsumm_agent_signatures_found_and_summaries_clean():
    agent, summaries = [], []
    with open(TWEETSUMM, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            summaries += d["summaries"]
            agent += [t["text"] for t in d["turns"] if t["role"] == "agent"]
    with_sig = sum(bool(leaks(t)["signatures"]) for t in agent)
    assert with_sig / len(agent) > 0.45  # about half the agent tweets are signed
    # human summaries (no sign-offs) are nearly all clean; one quotes "[URL]^TNT" as it was
    assert sum(bool(leaks(s)["signatures"]) for s in summaries) <= 3
