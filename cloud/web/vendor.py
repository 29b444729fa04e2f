"""The vendor's page: its vendor code as a QR, today's drop-offs per locker (due, late, brought) and later ones,
and its orders with their status and cold-chain verdict."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from cloud.api.deps import RuntimeDep, SessionDep
from cloud.db import utcnow
from cloud.services.access import Caller, VendorCaller
from cloud.services.vendors import day_plan
from cloud.web.auth import LoginRequired, csrf_token, web_caller
from cloud.web.i18n import local_day
from cloud.web.render import render

router = APIRouter(include_in_schema=False)


def web_vendor(caller: Annotated[Caller, Depends(web_caller)], request: Request) -> VendorCaller:
    if not isinstance(caller, VendorCaller):
        raise LoginRequired(request.url.path)
    return caller


@router.get("/vendor", response_class=HTMLResponse)
def vendor_page(
    request: Request, vendor: Annotated[VendorCaller, Depends(web_vendor)], runtime: RuntimeDep, session: SessionDep
) -> HTMLResponse:
    now = utcnow()
    day_start, day_end = local_day(now)
    return render(
        request,
        "vendor.html",
        me=runtime.vendors.me(session, vendor),
        plan=day_plan(session, vendor.id, day_start, day_end),
        now=now,
        orders=runtime.orders.list(session, vendor, limit=50),
        csrf=csrf_token(request, runtime),
    )
