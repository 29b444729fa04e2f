"""The resident's page behind the capability link: PIN and QR in large type, where and until when, how to open;
the cold-chain record after pickup. Printable on one A4 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cloud.api.deps import ClientDep, RuntimeDep, SessionDep
from cloud.errors import Forbidden, Gone, NotFound, TooManyRequests
from cloud.ratelimit import LINK_FAILURES
from cloud.web.i18n import TEXTS, grouped_pin, local_time, pick_language
from cloud.web.render import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, language: str, status: int, headers=None, **context) -> HTMLResponse:
    return render(request, name, status, headers, lang=language, **context)


@router.get("/r/{order_id}", response_class=HTMLResponse)
def resident_page(
    order_id: str,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    client: ClientDep,
    token: Annotated[str, Query(max_length=200)] = "",
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    language = pick_language(lang, request.headers.get("accept-language"))
    t = TEXTS[language]
    try:
        with runtime.auth_limiter.attempt(client, LINK_FAILURES):
            view = runtime.pickups.resident_view(session, order_id, token)
    except (Forbidden, NotFound):
        return _page(
            request, "link_problem.html", language, 404, title=t["link_invalid_title"], lead=t["link_invalid_lead"]
        )
    except Gone:
        lead = t["link_expired_lead"].format(days=f"{runtime.settings.resident_link_days:g}")
        return _page(request, "link_problem.html", language, 410, title=t["link_expired_title"], lead=lead)
    except TooManyRequests as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        return _page(
            request, "link_problem.html", language, 429, headers, title=t["too_many_title"], lead=t["too_many_lead"]
        )
    titles = {
        "ready": "ready_title",
        "collected": "collected_title",
        "expired": "expired_title",
        "returned": "expired_title",
        "cancelled": "cancelled_title",
    }
    title_key = "blocked_title" if view.blocked else titles.get(view.status, "waiting_title")
    return _page(
        request,
        "resident.html",
        language,
        200,
        title=t[title_key],
        view=_Shown(view, language),
    )


class _Shown:
    """The view with its words and times made readable for `language`."""

    def __init__(self, view, language: str) -> None:
        self._view = view
        self.pin_grouped = grouped_pin(view.pin) if view.pin else ""
        self.deadline = local_time(view.deadline, language) if view.deadline else ""

    def __getattr__(self, name: str):
        return getattr(self._view, name)
