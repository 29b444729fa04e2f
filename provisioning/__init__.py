"""Onboarding lockers: device identity, broker credentials and ACL, enrollment, config bundle."""

from pathlib import Path

MOSQUITTO_CONF = Path(__file__).with_name("mosquitto") / "mosquitto.conf"
