"""The kiosk's words in Dutch (default) and English: plain sentences for the person at the locker (pure)."""

from __future__ import annotations

from lockers.protocol.messages import RejectReason

TEXTS = {
    "nl": {
        "title": "Dorpskluis",
        "lead": "Houd uw QR-code voor de scanner, of typ uw pincode.",
        "code_label": "Pincode of code",
        "open": "Openen",
        "other_language": "English",
        "opened": "Open: vak {compartments}. Neem alles mee en doe de deur weer dicht.",
        "opened_vendor": "Open: vak {compartments}. Leg alles erin en doe de deur weer dicht.",
        "opened_retrieve": "Open: vak {compartments}. Neem alles terug mee en doe de deur weer dicht.",
        "opened_both": "Open: vak {compartments}. Breng en haal op wat op uw lijst staat, en doe de deuren dicht.",
        "opened_deposit": "Open: vak {compartments}. Zet uw retour erin en doe de deur weer dicht.",
        "too_early": "Te vroeg: deze code werkt over {wait}.",
        "minutes": "{n} minuten",
        "minute": "1 minuut",
        "hours": "{n} uur",
        "hour": "1 uur",
        "days": "{n} dagen",
        "day": "1 dag",
        "and": "en",
        "offline_note": "Deze kluis werkt ook zonder internet.",
        "empty": "Typ eerst uw pincode.",
        "busy": "De kluis reageert even niet. Probeer het nog eens.",
    },
    "en": {
        "title": "Dorpskluis",
        "lead": "Hold your QR code in front of the scanner, or type your PIN.",
        "code_label": "PIN or code",
        "open": "Open",
        "other_language": "Nederlands",
        "opened": "Open: compartment {compartments}. Take everything and close the door again.",
        "opened_vendor": "Open: compartment {compartments}. Put everything in and close the door again.",
        "opened_retrieve": "Open: compartment {compartments}. Take everything back and close the door again.",
        "opened_both": "Open: compartment {compartments}. Load and take back what your list says; close the doors.",
        "opened_deposit": "Open: compartment {compartments}. Put your return in and close the door again.",
        "too_early": "Too early: this code works in {wait}.",
        "minutes": "{n} minutes",
        "minute": "1 minute",
        "hours": "{n} hours",
        "hour": "1 hour",
        "days": "{n} days",
        "day": "1 day",
        "and": "and",
        "offline_note": "This locker also works without internet.",
        "empty": "Please type your PIN first.",
        "busy": "The locker does not answer right now. Please try again.",
    },
}

REFUSALS = {
    "nl": {
        RejectReason.MALFORMED: "Deze code kennen we niet. Controleer de pincode of scan de QR-code opnieuw.",
        RejectReason.BAD_SIGNATURE: "Deze code is niet echt. Gebruik de code uit uw bericht.",
        RejectReason.UNKNOWN_KEY: "Deze code is te oud voor deze kluis. Vraag de verkoper om een nieuwe.",
        RejectReason.WRONG_LOCKER: "Deze code hoort bij een andere kluis.",
        RejectReason.NOT_YET_VALID: "Deze code werkt nog niet. Probeer het later.",
        RejectReason.EXPIRED: "Deze code is verlopen. Neem contact op met de verkoper.",
        RejectReason.ALREADY_USED: "Deze code is al gebruikt.",
        RejectReason.REVOKED: "Deze code is ingetrokken.",
        RejectReason.WRONG_PIN: "Verkeerde pincode. Probeer het opnieuw.",
        RejectReason.NOTHING_TO_OPEN: "Er ligt nu niets voor deze code.",
        RejectReason.KEYPAD_LOCKED: "Te vaak een verkeerde pincode. Het toetsenbord is even op slot.",
    },
    "en": {
        RejectReason.MALFORMED: "We do not know this code. Check the PIN or scan the QR code again.",
        RejectReason.BAD_SIGNATURE: "This code is not genuine. Use the code from your message.",
        RejectReason.UNKNOWN_KEY: "This code is too old for this locker. Ask the vendor for a new one.",
        RejectReason.WRONG_LOCKER: "This code belongs to another locker.",
        RejectReason.NOT_YET_VALID: "This code does not work yet. Please try later.",
        RejectReason.EXPIRED: "This code has expired. Please contact the vendor.",
        RejectReason.ALREADY_USED: "This code has already been used.",
        RejectReason.REVOKED: "This code has been withdrawn.",
        RejectReason.WRONG_PIN: "Wrong PIN. Please try again.",
        RejectReason.NOTHING_TO_OPEN: "There is nothing here for this code right now.",
        RejectReason.KEYPAD_LOCKED: "Too many wrong PINs. The keypad is locked for a while.",
    },
}
if any(set(texts) != set(RejectReason) for texts in REFUSALS.values()) or set(TEXTS["nl"]) != set(TEXTS["en"]):
    raise RuntimeError("every refusal and text needs words in both languages")


def wait_in_words(seconds: int, language: str) -> str:
    """A wait rounded up to the minute, in the two largest units: "2 uur en 5 minuten", "3 days and 1 hour"."""
    t = TEXTS[language]
    minutes = max(1, -(-seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    first = next(i for i, (n, _) in enumerate(units) if n)
    words = [t[unit] if n == 1 else t[unit + "s"].format(n=n) for n, unit in units[first : first + 2] if n]
    return f" {t['and']} ".join(words)
