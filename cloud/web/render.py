"""Rendering a page: the template, the words of its language, and the language switch that keeps the query."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cloud.schemas import GeoPoint
from cloud.web.i18n import LANGUAGES, TEXTS, celsius, local_clock, local_date, local_time, long_date, pick_language

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def map_url(point: GeoPoint | None) -> str | None:
    """A link to a locker's point on OpenStreetMap (the page itself loads nothing from elsewhere)."""
    if point is None:
        return None
    lat, lon = f"{point.lat:.6f}", f"{point.lon:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


templates.env.globals["map_url"] = map_url


def language_of(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.headers.get("accept-language"))


def render(request: Request, name: str, status: int = 200, headers=None, **context) -> HTMLResponse:
    language = context.pop("lang", None) or language_of(request)
    other = next(code for code in LANGUAGES if code != language)
    query = dict(request.query_params) | {"lang": other}
    context |= {
        "lang": language,
        "t": TEXTS[language],
        "other_lang": other,
        "switch_url": f"?{urlencode(query)}",
        "when": lambda moment: local_time(moment, language) if moment else "—",
        "date": lambda moment: local_date(moment, language),
        "long_date": lambda moment: long_date(moment, language),
        "clock": local_clock,
        "celsius": lambda value: celsius(value, language),
    }
    return templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


async def read_form(request: Request) -> dict[str, list[str]]:
    """The posted form's fields (we parse it ourselves: no multipart library is installed for two small forms)."""
    return parse_qs((await request.body()).decode("utf-8", "replace"))
