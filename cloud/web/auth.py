"""Logging in to the pages with an API key (the admin's or a vendor's), once; then a signed session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cloud.api.deps import ClientDep, RuntimeDep
from cloud.errors import TooManyRequests, Unauthorized
from cloud.models import Vendor
from cloud.services.access import Admin, Caller, VendorCaller, resolve_caller
from cloud.web.render import language_of, read_form, render
from cloud.web.session import COOKIE, MAX_AGE_S

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """The page needs a session; the handler sends the browser to /login and back."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _safe_next(target: str | None) -> str:
    """Only our own paths: a login link must not send people elsewhere."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/dashboard"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return render(request, "login.html", next=_safe_next(next), wrong=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, runtime: RuntimeDep, client: ClientDep) -> HTMLResponse:
    fields = await read_form(request)
    key = (fields.get("key") or [""])[0].strip()
    target = _safe_next((fields.get("next") or [""])[0])
    try:
        with runtime.auth_limiter.attempt(client), runtime.db.read() as session:
            caller = resolve_caller(session, runtime.settings.admin_key_value(), key)
    except (Unauthorized, TooManyRequests):
        return render(request, "login.html", 401, next=target, wrong=True)
    if isinstance(caller, VendorCaller) and target == "/dashboard":
        target = "/vendor"
    response = RedirectResponse(target, status_code=303)
    who = "admin" if isinstance(caller, Admin) else f"vendor:{caller.id}" if isinstance(caller, VendorCaller) else ""
    if not who:  # an integration's key is for machines, not for these pages
        return render(request, "login.html", 403, next=target, wrong=True)
    response.set_cookie(
        COOKIE,
        runtime.web.issue(who),
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=runtime.settings.public_url.startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    response = RedirectResponse(f"/login?lang={language_of(request)}", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def web_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """The logged-in admin or vendor (a vendor removed since is logged out), else LoginRequired."""
    who = runtime.web.read(request.cookies.get(COOKIE))
    if who == "admin":
        return Admin()
    if who and who.startswith("vendor:"):
        with runtime.db.read() as session:
            vendor = session.get(Vendor, who.removeprefix("vendor:"))
        if vendor is not None:
            return VendorCaller(id=vendor.id, name=vendor.name)
    raise LoginRequired(request.url.path)


def web_admin(caller: Annotated[Caller, Depends(web_caller)], request: Request) -> Admin:
    if not isinstance(caller, Admin):
        raise LoginRequired(request.url.path)
    return caller


WebAdmin = Annotated[Admin, Depends(web_admin)]


def check_csrf(request: Request, runtime, token: str | None) -> bool:
    return runtime.web.csrf_ok(request.cookies.get(COOKIE), token)


def csrf_token(request: Request, runtime) -> str:
    return runtime.web.csrf(request.cookies.get(COOKIE, ""))
