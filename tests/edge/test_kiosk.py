"""The kiosk's words (pure) and its configuration; the page itself runs in tests/e2e/test_kiosk.py."""

from __future__ import annotations

import pytest

from edge.kiosk import answer_for
from edge.kiosk_texts import REFUSALS, TEXTS
from lockers.protocol.messages import RejectReason


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("reason", list(RejectReason))
def test_every_refusal_has_a_plain_sentence(language, reason):
    sentence = answer_for(False, [], reason.value, language)
    assert sentence == REFUSALS[language][reason] and sentence.endswith(".") and "_" not in sentence


@pytest.mark.parametrize(("language", "expected"), [("nl", "Open: vak B3, C2."), ("en", "Open: compartment B3, C2.")])
def test_an_opening_names_the_doors(language, expected):
    assert answer_for(True, ["B3", "C2"], None, language).startswith(expected)


def test_an_unknown_reason_says_to_try_again():
    assert answer_for(False, [], "something new", "nl") == TEXTS["nl"]["busy"]


def test_a_vendor_is_told_to_load_not_to_take():
    assert "Leg alles erin" in answer_for(True, ["A1"], None, "nl", "vendor")
    assert "Neem alles mee" in answer_for(True, ["A1"], None, "nl", "pin")


@pytest.mark.parametrize(
    ("purpose", "words"),
    [
        ("collect", "Neem alles mee"),
        ("load", "Leg alles erin"),
        ("retrieve", "Neem alles terug mee"),
        ("load_and_retrieve", "Breng en haal op"),
        ("deposit", "Zet uw retour erin"),
    ],
)
def test_each_purpose_says_what_to_do_with_the_open_door(purpose, words):
    method = "vendor" if purpose in ("load", "retrieve", "load_and_retrieve") else "qr"
    assert words in answer_for(True, ["A1"], None, "nl", method, purpose)


@pytest.mark.parametrize(
    ("seconds", "nl", "en"),
    [
        (20, "1 minuut", "1 minute"),
        (61, "2 minuten", "2 minutes"),
        (3600, "1 uur", "1 hour"),
        (7500, "2 uur en 5 minuten", "2 hours and 5 minutes"),
        (86400 + 3600 + 60, "1 dag en 1 uur", "1 day and 1 hour"),
        (3 * 86400 + 120, "3 dagen", "3 days"),
    ],
)
def test_too_early_says_how_long_to_wait(seconds, nl, en):
    assert answer_for(False, [], "not_yet_valid", "nl", wait_s=seconds) == f"Te vroeg: deze code werkt over {nl}."
    assert answer_for(False, [], "not_yet_valid", "en", wait_s=seconds) == f"Too early: this code works in {en}."
