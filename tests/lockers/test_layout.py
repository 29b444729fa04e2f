"""Locker layouts: the demo cabinet, file loading and readable refusals."""

from __future__ import annotations

import json

import pytest

from lockers.errors import LayoutError
from lockers.layout import Size, Zone, demo_layout, is_locker_id, load_layout, parse_layout


def test_demo_layout_has_three_zones_and_twelve_compartments():
    layout = demo_layout()
    assert len(layout.compartments) == 12
    assert layout.zones() == [Zone.AMBIENT, Zone.CHILLED, Zone.FROZEN]
    assert all(layout.sensors_for(zone) for zone in layout.zones())
    assert layout.compartment("B3").size is Size.M


def test_unknown_compartment():
    with pytest.raises(LayoutError, match="no compartment 'Z9'"):
        demo_layout().compartment("Z9")


def test_layout_files_round_trip(tmp_path):
    path = tmp_path / "layout.json"
    path.write_text(demo_layout().model_dump_json())
    assert load_layout(path) == demo_layout()
    toml = tmp_path / "layout.toml"
    toml.write_text('[[compartments]]\nid = "A1"\nzone = "chilled"\nsize = "M"\nlock_pin = 5\ndoor_pin = 6\n')
    assert load_layout(toml).compartment("A1").zone is Zone.CHILLED


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"compartments": []}, "compartments"),
        ({"compartments": [{"id": "A1", "zone": "warm", "size": "M", "lock_pin": 5, "door_pin": 6}]}, "zone"),
        (
            {
                "compartments": [
                    {"id": "A1", "zone": "chilled", "size": "M", "lock_pin": 5, "door_pin": 6},
                    {"id": "A2", "zone": "chilled", "size": "M", "lock_pin": 5, "door_pin": 7},
                ]
            },
            "own GPIO pin",
        ),
    ],
)
def test_invalid_layouts_are_explained(data, fragment):
    with pytest.raises(LayoutError, match=fragment):
        parse_layout(data)


def test_unreadable_files(tmp_path):
    with pytest.raises(LayoutError, match="cannot read"):
        load_layout(tmp_path / "missing.toml")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"compartments": "x"})[:-3])
    with pytest.raises(LayoutError, match="not valid json"):
        load_layout(bad)


@pytest.mark.parametrize(
    ("value", "ok"), [("demo-1", True), ("a", True), ("Demo", False), ("a/b", False), ("-x", False), ("x" * 33, False)]
)
def test_locker_ids_are_topic_safe(value, ok):
    assert is_locker_id(value) is ok
