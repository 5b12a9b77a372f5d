"""Social-media artefacts are removed before any engine reads a message; the words, amounts and
codes stay exactly as written."""
from __future__ import annotations

import re

import pytest

from casenotes.engines.normalize import normalize_message as norm


@pytest.mark.parametrize("text, role, expected", [
    ("@SpotifyCares hey, why doesn't it work? MacBook v1.0.64", "customer", "hey, why doesn't it work? MacBook v1.0.64"),
    ("@160485 Could you DM us your email? We'll take a look /MT https://t.co/ldFdZRiNAt", "agent",
     "Could you DM us your email? We'll take a look"),
    ("@310046 I'll record your feedback. Phil.", "agent", "I'll record your feedback."),
    ("@642699 Can you DM us the full description of the issue you  1 ^XS", "agent", "Can you DM us the full description of the issue you"),
    ("@1 Sorry about that! -Mike", "agent", "Sorry about that!"),
    ("To do so, just follow the steps at https://t.co/EqisDMwZAT.", "agent", "To do so, just follow the steps."),
    ("@115877 @Uber_Support  I was just charged $1 for no reason", "customer", "I was just charged $1 for no reason"),
    ("I called @AmazonHelp twice about order #123-456 :(", "customer", "I called AmazonHelp twice about order #123-456"),
    ("1st class WiFi is slower then dial up.... 😡😡", "customer", "1st class WiFi is slower then dial up..."),
    ("Thanks &amp; see you", "agent", "Thanks & see you"),
])
def test_decoration_goes(text, role, expected):
    assert norm(text, role) == expected


def test_shouting_is_lowered_but_acronyms_and_codes_stay():
    assert norm("WHY IS MY PHONE NOT CHARGING AFTER THE UPDATE??? FIX IT") == "Why is my phone not charging after the update? Fix it"
    assert norm("My phone is NOT charging at the ATM in the UK, PS4 too") == "My phone is not charging at the ATM in the UK, PS4 too"


def test_profanity_is_not_quoted():
    out = norm("This is SHIT, the fucking app crashed AGAIN")
    assert not re.search(r"shit|fuck", out, re.I) and "app crashed again" in out


def test_plain_text_and_other_languages_are_untouched():
    for text in ("Le client a été débité deux fois : 245,00 € (réf. HX-77102).",
                 "Hola, el pedido 7781-2290 no ha llegado. ¿Pueden revisarlo?",
                 "Hi Dana,\n\nThe replacement arrived broken as well.\n\nOmar"):
        assert norm(text) == text


def test_numbers_are_never_created_or_changed():
    text = "@UPSHelp tracking 1Z999AA10123456784 shows $45.20 due on 10/03 at 9:30 https://t.co/x1y2 ^AB"
    assert re.findall(r"\d+", norm(text, "agent")) == re.findall(r"\d+", "tracking 1Z999AA10123456784 shows $45.20 due on 10/03 at 9:30")


def test_only_decoration_leaves_nothing():
    assert norm("@AskTigogh 😔 https://t.co/abc", "customer") == ""


def test_a_thread_counter_opening_a_tweet_goes():
    assert norm("@VirginTrains 2/2 the delay will make me miss my next train") == "the delay will make me miss my next train"


@pytest.mark.parametrize("text, expected", [
    ("Let us know if that helps.-Charlie", "Let us know if that helps."),
    ("Please apply payments through the card.Thanks-Mich", "Please apply payments through the card.Thanks"),
    ("Your router supports Wi-Fi", "Your router supports Wi-Fi"),
])
def test_signatures_glued_to_the_text(text, expected):
    assert norm(text, "agent") == expected


@pytest.mark.parametrize("text, expected", [
    ("mon téléphone est bloqué@iPhoneAddictFr", "mon téléphone est bloqué iPhoneAddictFr"),
    ("can u tell them how..@AmazonHelp", "can u tell them how.. AmazonHelp"),
    ("write to bob@example.com please", "write to bob@example.com please"),  # an e-mail address stays
    ("no service for 6 hours @ woodbridge VA", "no service for 6 hours at woodbridge VA"),
])
def test_glued_handles_and_a_lone_at_sign(text, expected):
    assert norm(text, "customer") == expected
