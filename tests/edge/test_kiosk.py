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
