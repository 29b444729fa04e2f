"""The order state machine: allowed and refused transitions, and which statuses hold compartments."""

from __future__ import annotations

import pytest

from cloud.lifecycle import (
    FINAL,
    IllegalTransition,
    OrderStatus,
    allowed_next,
    check_transition,
    holds_compartments,
)

S = OrderStatus

ALLOWED = [
    (S.CREATED, S.ASSIGNED),
    (S.ASSIGNED, S.LOADED),
    (S.LOADED, S.READY),
    (S.READY, S.COLLECTED),
    (S.READY, S.EXPIRED),
    (S.EXPIRED, S.RETURNED),
    (S.EXPIRED, S.COLLECTED),  # a pickup made before the deadline, reported after the expiry ran
    (S.CREATED, S.CANCELLED),
    (S.ASSIGNED, S.CANCELLED),
    (S.LOADED, S.CANCELLED),
    (S.READY, S.CANCELLED),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions(current, target):
    assert check_transition("ORDER123", current, target) is target


REFUSED = [(a, b) for a in S for b in S if (a, b) not in ALLOWED]


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_transition_is_refused(current, target):
    with pytest.raises(IllegalTransition) as caught:
        check_transition("ORDER123", current, target)
    assert caught.value.status_code == 409
    assert "ORDER123" in caught.value.detail and str(current) in caught.value.detail


@pytest.mark.parametrize(
    ("current", "target", "detail"),
    [
        (S.COLLECTED, S.CANCELLED, "order X is collected and can no longer become cancelled"),
        (S.ASSIGNED, S.COLLECTED, "order X is assigned: it can become cancelled, loaded, not collected"),
        (S.EXPIRED, S.CANCELLED, "order X is expired: it can become collected, returned, not cancelled"),
    ],
)
def test_refusals_explain_themselves(current, target, detail):
    with pytest.raises(IllegalTransition, match=detail):
        check_transition("X", current, target)


@pytest.mark.parametrize("status", list(S))
def test_final_statuses_have_no_successor(status):
    assert (status in FINAL) == (not allowed_next(status))
    assert (status in FINAL) == (status in {S.COLLECTED, S.RETURNED, S.CANCELLED})


@pytest.mark.parametrize(
    ("status", "holds"),
    [
        (S.CREATED, False),
        (S.ASSIGNED, True),
        (S.LOADED, True),
        (S.READY, True),
        (S.EXPIRED, True),  # the goods are still inside until the vendor takes them back
        (S.COLLECTED, False),
        (S.RETURNED, False),
        (S.CANCELLED, False),
    ],
)
def test_which_statuses_hold_compartments(status, holds):
    assert holds_compartments(status) is holds
