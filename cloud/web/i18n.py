"""The pages' words in Dutch (the default) and English, and picking the language of a request (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("nl", "en")
DEFAULT = "nl"
LOCAL_TIME = ZoneInfo("Europe/Amsterdam")  # residents read times as the village clock shows them

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "site": "Dorpskluis",
        "skip": "Naar de inhoud",
        "other_language": "English",
        "ready_title": "Uw boodschappen liggen klaar",
        "ready_lead": "Haal ze op bij {locker}.",
        "pin_label": "Uw pincode",
        "qr_label": "Of scan deze QR-code bij de kluis",
        "qr_alt": "QR-code om de kluis te openen",
        "deadline": "Ophalen vóór {when}",
        "compartments": "Vakken",
        "how_title": "Zo opent u de kluis",
        "how_1": "Houd de QR-code voor de scanner, of typ uw pincode op het toetsenbord.",
        "how_2": "De deuren van uw vakken gaan vanzelf open.",
        "how_3": "Neem alles mee en duw de deuren weer dicht.",
        "how_help": "Lukt het niet? Bel de stichting: het nummer staat op de kluis.",
        "where": "Waar",
        "order": "Bestelling",
        "print": "Afdrukken",
        "warm_warning": "Let op: tijdens het wachten is het in de kluis te warm geworden. Controleer uw producten.",
        "waiting_title": "Uw bestelling wordt klaargezet",
        "waiting_lead": "U krijgt bericht zodra alles in de kluis ligt. Dan staat hier uw code.",
        "collected_title": "Opgehaald",
        "collected_lead": "U heeft deze bestelling opgehaald. Zo koud bleef het in de kluis:",
        "expired_title": "Niet op tijd opgehaald",
        "expired_lead": "De ophaaltijd is voorbij. De verkoper neemt de producten terug en neemt contact met u op.",
        "cancelled_title": "Geannuleerd",
        "cancelled_lead": "Deze bestelling is geannuleerd; er ligt niets voor u klaar.",
        "blocked_title": "Niet meer op te halen",
        "blocked_lead": "Het is in de kluis te warm geworden voor deze producten. De verkoper neemt contact met u op.",
        "zone_ambient": "kamertemperatuur",
        "zone_chilled": "koel",
        "zone_frozen": "vries",
        "record_zone": "Vak",
        "record_range": "Laagste – hoogste",
        "record_mean": "Gemiddeld",
        "record_above": "Minuten te warm",
        "record_none": "Nog geen metingen.",
        "link_invalid_title": "Deze link werkt niet",
        "link_invalid_lead": "Controleer of u de hele link uit uw bericht heeft gebruikt.",
        "link_expired_title": "Deze link is verlopen",
        "link_expired_lead": "Links werken tot {days} dagen na de ophaaltijd. De verkoper kan u verder helpen.",
        "too_many_title": "Even geduld",
        "too_many_lead": "Er is te vaak een verkeerde link geprobeerd. Probeer het over een paar minuten opnieuw.",
    },
    "en": {
        "site": "Dorpskluis",
        "skip": "Skip to content",
        "other_language": "Nederlands",
        "ready_title": "Your groceries are ready",
        "ready_lead": "Collect them at {locker}.",
        "pin_label": "Your PIN",
        "qr_label": "Or scan this QR code at the locker",
        "qr_alt": "QR code that opens the locker",
        "deadline": "Collect before {when}",
        "compartments": "Compartments",
        "how_title": "How to open the locker",
        "how_1": "Hold the QR code in front of the scanner, or type your PIN on the keypad.",
        "how_2": "The doors of your compartments open by themselves.",
        "how_3": "Take everything and push the doors shut.",
        "how_help": "Not working? Call the foundation: the number is on the locker.",
        "where": "Where",
        "order": "Order",
        "print": "Print",
        "warm_warning": "Note: it got too warm in the locker while your goods waited. Please check them.",
        "waiting_title": "Your order is being prepared",
        "waiting_lead": "You will be told as soon as everything is in the locker. Your code will then be here.",
        "collected_title": "Collected",
        "collected_lead": "You collected this order. This is how cold it stayed in the locker:",
        "expired_title": "Not collected in time",
        "expired_lead": "The pickup time has passed. The vendor takes the goods back and will contact you.",
        "cancelled_title": "Cancelled",
        "cancelled_lead": "This order was cancelled; nothing is waiting for you.",
        "blocked_title": "Can no longer be collected",
        "blocked_lead": "It got too warm in the locker for these goods. The vendor will contact you.",
        "zone_ambient": "room temperature",
        "zone_chilled": "chilled",
        "zone_frozen": "frozen",
        "record_zone": "Compartment",
        "record_range": "Lowest – highest",
        "record_mean": "Average",
        "record_above": "Minutes too warm",
        "record_none": "No readings yet.",
        "link_invalid_title": "This link does not work",
        "link_invalid_lead": "Please check that you used the whole link from your message.",
        "link_expired_title": "This link has expired",
        "link_expired_lead": "Links work until {days} days after the pickup time. The vendor can help you further.",
        "too_many_title": "Please wait",
        "too_many_lead": "A wrong link was tried too often. Please try again in a few minutes.",
    },
}
if set(TEXTS["nl"]) != set(TEXTS["en"]):  # a page must never show a key instead of words
    raise RuntimeError(f"untranslated texts: {sorted(set(TEXTS['nl']) ^ set(TEXTS['en']))}")

_MONTHS = {
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
_DAYS = {
    "nl": ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def pick_language(query: str | None, accept_language: str | None) -> str:
    """`?lang=` when it names one of ours, else the first of ours in Accept-Language, else Dutch."""
    if query in LANGUAGES:
        return query
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT


def local_time(moment: datetime, language: str) -> str:
    """`vrijdag 27 november, 14:05` in the village's time zone, as people say it."""
    local = moment.astimezone(LOCAL_TIME)
    day = _DAYS[language][local.weekday()]
    return f"{day} {local.day} {_MONTHS[language][local.month - 1]}, {local:%H:%M}"


def grouped_pin(pin: str) -> str:
    """`482 913`: two groups of three are easier to read and type."""
    return f"{pin[:3]} {pin[3:]}"
