"""The foundation's pages: every locker at a glance (updating itself), and one locker's compartments,
temperature charts and open alerts, with acknowledging."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import RuntimeDep, SessionDep
from cloud.db import utcnow
from cloud.errors import CloudError
from cloud.schemas import LockerOut
from cloud.schemas_edge import UnlockRequest
from cloud.services import audit
from cloud.services.access import Admin
from cloud.web.auth import WebAdmin, check_csrf, csrf_token
from cloud.web.charts import temperature_chart
from cloud.web.i18n import TEXTS
from cloud.web.render import language_of, read_form, render
from lockers.layout import Zone

router = APIRouter(include_in_schema=False)
OPEN = "raised", "acknowledged"


def _fleet_rows(runtime, session) -> list[dict]:
    """One row per locker: connection, last heard, open alerts, open doors, free compartments per zone."""
    alerts = runtime.alerts.list(session, locker=None, state=None, kind=None, limit=10_000)
    open_by_locker: dict[str, int] = {}
    for alert in alerts:
        if alert.state in OPEN:
            open_by_locker[alert.locker] = open_by_locker.get(alert.locker, 0) + 1
    rows = []
    for locker in runtime.lockers.list(session, Admin()):
        rows.append(
            {
                "locker": locker,
                "alerts": open_by_locker.get(locker.id, 0),
                "doors_open": sum(1 for c in locker.compartments if c.door == "open"),
                "free": {zone: _free(locker, zone) for zone in Zone},
            }
        )
    return rows


def _free(locker: LockerOut, zone: Zone) -> tuple[int, int]:
    inside = [c for c in locker.compartments if c.zone == zone]
    return sum(1 for c in inside if not c.occupied), len(inside)


@router.get("/dashboard", response_class=HTMLResponse)
def fleet(request: Request, _admin: WebAdmin, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    return render(
        request,
        "fleet.html",
        rows=_fleet_rows(runtime, session),
        zones=list(Zone),
        csrf=csrf_token(request, runtime),
        admin_nav=True,
    )


@router.get("/dashboard/fleet.part", response_class=HTMLResponse)
def fleet_part(request: Request, _admin: WebAdmin, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    """The fleet table alone, for the page to swap in every few seconds."""
    return render(request, "fleet_table.html", rows=_fleet_rows(runtime, session), zones=list(Zone))


@router.get("/dashboard/lockers/{locker_id}", response_class=HTMLResponse)
def locker_page(
    locker_id: str,
    request: Request,
    _admin: WebAdmin,
    runtime: RuntimeDep,
    session: SessionDep,
    done: int | None = None,
    sent: str | None = None,
    missing: int | None = None,
) -> HTMLResponse:
    t = TEXTS[language_of(request)]
    try:
        locker = runtime.lockers.status(session, Admin(), locker_id)
    except CloudError as exc:
        return render(request, "link_problem.html", exc.status_code, title=exc.detail, lead=t["back"])
    now = utcnow()
    zones = {key: t[key] for key in ("zone_ambient", "zone_chilled", "zone_frozen")}
    charts = [
        temperature_chart(
            session, runtime.limits, locker_id, now, span, {"title": t[title], "limit": t["chart_limit"], **zones}
        )
        for span, title in ((timedelta(hours=24), "chart_title"), (timedelta(days=7), "chart_week"))
    ]
    alerts = _open_alerts(runtime, session, locker_id)
    return render(
        request,
        "locker.html",
        locker=locker,
        charts=[c for c in charts if c],
        alerts=alerts,
        done=done,
        sent=sent[:40] if sent else None,
        missing=bool(missing),
        csrf=csrf_token(request, runtime),
        admin_nav=True,
    )


@router.get("/dashboard/lockers/{locker_id}/part", response_class=HTMLResponse)
def locker_part(
    locker_id: str, request: Request, _admin: WebAdmin, runtime: RuntimeDep, session: SessionDep
) -> HTMLResponse:
    """The compartment grid and open alerts alone, for the locker's page to swap in every few seconds."""
    try:
        locker = runtime.lockers.status(session, Admin(), locker_id)
    except CloudError as exc:
        return HTMLResponse(exc.detail, status_code=exc.status_code)
    return render(
        request,
        "locker_part.html",
        locker=locker,
        alerts=_open_alerts(runtime, session, locker_id),
        csrf=csrf_token(request, runtime),
    )


def _open_alerts(runtime, session, locker_id: str) -> list:
    return [
        a for a in runtime.alerts.list(session, locker=locker_id, state=None, kind=None, limit=200) if a.state in OPEN
    ]


@router.get("/dashboard/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, _admin: WebAdmin, runtime: RuntimeDep, session: SessionDep, subject: str | None = None
) -> HTMLResponse:
    entries = audit.entries(session, subject[:80] if subject else None, limit=300)
    return render(request, "audit.html", entries=entries, csrf=csrf_token(request, runtime), admin_nav=True)


@router.post("/dashboard/lockers/{locker_id}/unlock", response_class=HTMLResponse)
async def unlock(locker_id: str, request: Request, admin: WebAdmin, runtime: RuntimeDep) -> HTMLResponse:
    """Two steps: the form posts here and gets a confirmation page; only its `confirm` posts the command."""
    fields = await read_form(request)
    if not check_csrf(request, runtime, (fields.get("csrf") or [""])[0]):
        return RedirectResponse("/dashboard", status_code=303)
    t = TEXTS[language_of(request)]
    compartments = sorted(set(fields.get("compartment", [])))
    reason = (fields.get("reason") or [""])[0].strip()
    by = (fields.get("by") or [""])[0].strip() or None
    back = f"/dashboard/lockers/{locker_id}?lang={language_of(request)}"
    if not compartments or not reason:
        return RedirectResponse(f"{back}&missing=1", status_code=303)
    if (fields.get("confirm") or [""])[0] != "yes":
        return render(
            request, "unlock_confirm.html", locker=locker_id, compartments=compartments, reason=reason, by=by or "",
            csrf=csrf_token(request, runtime), admin_nav=True, back=back, lead=t["unlock_confirm_lead"],
        )  # fmt: skip
    try:
        body = UnlockRequest(compartments=compartments, reason=reason, by=by)
        actor = f"{admin.describe()} (dashboard{', ' + by if by else ''})"
        command = await run_in_threadpool(runtime.commands.unlock, actor, locker_id, body)
    except (CloudError, ValueError):
        return RedirectResponse(f"{back}&missing=1", status_code=303)
    return RedirectResponse(f"{back}&sent={command.id}", status_code=303)


@router.post("/dashboard/alerts/{alert_id}/ack")
async def acknowledge(alert_id: int, request: Request, admin: WebAdmin, runtime: RuntimeDep) -> RedirectResponse:
    fields = await read_form(request)
    if not check_csrf(request, runtime, (fields.get("csrf") or [""])[0]):
        return RedirectResponse("/dashboard", status_code=303)
    locker = (fields.get("locker") or [""])[0]
    await run_in_threadpool(runtime.alerts.acknowledge, f"{admin.describe()} (dashboard)", alert_id, None)
    return RedirectResponse(f"/dashboard/lockers/{locker}?done={alert_id}&lang={language_of(request)}", status_code=303)
