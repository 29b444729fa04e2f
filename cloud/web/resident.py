"""The resident's page behind the capability link: PIN and QR in large type, where and until when, how to open;
the cold-chain record after pickup. Printable on one A4 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from cloud.api.deps import ClientDep, RuntimeDep, SessionDep
from cloud.errors import CloudError, Forbidden, Gone, NotFound, TooManyRequests
from cloud.lifecycle import OrderKind
from cloud.ratelimit import LINK_FAILURES
from cloud.schemas import ReturnCreate
from cloud.services.bookings import LockerFull
from cloud.web.i18n import TEXTS, grouped_pin, local_time, pick_language
from cloud.web.render import read_form, render

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
    title_key = "blocked_title" if view.blocked else _title_key(view.kind, view.status)
    return _page(
        request,
        "resident.html",
        language,
        200,
        title=t[title_key],
        view=_Shown(view, language),
        token=token,
    )


@router.post("/r/{order_id}/return", response_class=HTMLResponse, response_model=None)
async def book_return(
    order_id: str, request: Request, runtime: RuntimeDep, client: ClientDep
) -> HTMLResponse | RedirectResponse:
    """The resident books a compartment for crates, jars or packaging; the return's own page shows its code."""
    fields = await read_form(request)
    language = pick_language((fields.get("lang") or [None])[0], request.headers.get("accept-language"))
    t = TEXTS[language]
    token = (fields.get("token") or [""])[0][:200]
    try:
        wanted = ReturnCreate(vendor=(fields.get("vendor") or [None])[0], size=(fields.get("size") or ["M"])[0])
    except ValidationError:
        return _page(request, "link_problem.html", language, 422, title=t["offer_failed_title"], lead=t["offer_bad"])
    try:
        with runtime.auth_limiter.attempt(client, LINK_FAILURES):
            booked = await run_in_threadpool(runtime.returns.book, order_id, wanted, None, token)
    except (Forbidden, NotFound):
        return _page(
            request, "link_problem.html", language, 404, title=t["link_invalid_title"], lead=t["link_invalid_lead"]
        )
    except LockerFull as full:
        lead = " ".join(
            [t["offer_full"]]
            + [
                t["offer_later"].format(when=local_time(a.window_start, language), locker=a.locker)
                for a in full.alternatives[:2]
            ]
        )
        return _page(request, "link_problem.html", language, 409, title=t["offer_failed_title"], lead=lead)
    except CloudError as refused:
        return _page(
            request,
            "link_problem.html",
            language,
            refused.status_code,
            title=t["offer_failed_title"],
            lead=refused.detail,
        )
    page = f"/r/{booked.id}?token={runtime.pickups.link_token(booked.id)}&lang={language}"
    return RedirectResponse(page, status_code=303)


def _title_key(kind: str, status: str) -> str:
    if kind == OrderKind.RETURN:
        return {"assigned": "return_title", "collected": "return_done_title", "cancelled": "cancelled_title"}.get(
            status, "return_in_title"
        )
    titles = {
        "ready": "ready_title",
        "collected": "collected_title",
        "expired": "expired_title",
        "returned": "expired_title",
        "cancelled": "cancelled_title",
    }
    return titles.get(status, "waiting_title")


class _Shown:
    """The view with its words and times made readable for `language`."""

    def __init__(self, view, language: str) -> None:
        self._view = view
        self.pin_grouped = grouped_pin(view.pin) if view.pin else ""
        self.deadline = local_time(view.deadline, language) if view.deadline else ""
        self.window_text = (
            TEXTS[language]["return_window"].format(
                start=local_time(view.window[0], language), end=local_time(view.window[1], language)
            )
            if view.window
            else ""
        )
        self.vendor_names = ", ".join(name for _, name in view.vendors)

    def __getattr__(self, name: str):
        return getattr(self._view, name)
