"""The monitoring API: alerts (list, filter, acknowledge), zone limits (audited, applied at once), contacts,
and the audit trail that the database itself keeps append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from cloud.models_monitoring import AuditEntry
from cloud.services import audit
from lockers.layout import Zone
from tests.cloud.coldchain_support import SimulatedSite, alerts
from tests.cloud.conftest import ADMIN, key

MINUTE = 60.0


@pytest.fixture
def site(edge, tmp_path) -> SimulatedSite:
    simulated = SimulatedSite(edge, tmp_path / "w1")
    simulated.online()
    return simulated


def audit_of(client, subject: str) -> list[dict]:
    response = client.get("/api/v1/audit", headers=ADMIN, params={"subject": subject})
    assert response.status_code == 200, response.text
    return response.json()


def test_alerts_are_listed_filtered_and_acknowledged_once(client, locker, site):
    site.crafted(*[9.0] * 32)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert alerts(client, locker, kind="sensor_fault") == [] and alerts(client, locker, state="cleared") == []
    assert alerts(client, locker, kind="temperature", state="raised") == [alert]
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=ADMIN).json() == alert

    ack = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN, json={"note": "deur dicht", "by": "Anna"})
    assert ack.status_code == 200, ack.text
    done = ack.json()
    assert (done["state"], done["acknowledged_by"], done["ack_note"]) == ("acknowledged", "admin (Anna)", "deur dicht")
    (entry,) = audit_of(client, f"alert:{alert['id']}")
    assert (entry["actor"], entry["action"]) == ("admin (Anna)", "alert.acknowledged")
    assert (entry["old"], entry["new"]) == ({"state": "raised"}, {"state": "acknowledged", "note": "deur dicht"})

    again = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["detail"].startswith(f"alert {alert['id']} was already acknowledged by admin (Anna) at ")
    # the excursion ends: acknowledged alerts clear like any other
    site.crafted(5.0)
    site.sync(client)
    (cleared,) = alerts(client, locker)
    assert cleared["state"] == "cleared" and cleared["acknowledged_by"] == "admin (Anna)"


def test_a_cleared_alert_can_still_be_acknowledged(client, locker, site):
    site.crafted(*[9.0] * 32, 5.0)
    site.sync(client)
    (alert,) = alerts(client, locker, state="cleared")
    ack = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN)
    assert ack.status_code == 200, ack.text
    assert ack.json()["state"] == "cleared" and ack.json()["acknowledged_at"] is not None
    (entry,) = audit_of(client, f"alert:{alert['id']}")
    assert (entry["old"], entry["new"]) == ({"state": "cleared"}, {"state": "cleared", "note": None})


def test_a_frozen_alert_worsens_from_warning_to_critical_and_keeps_its_peak(client, locker, site):
    frozen = {"zone": Zone.FROZEN, "sensor": "28-00000000c001"}
    site.crafted(*[-17.0] * 31, -16.5, **frozen)  # tolerated up to -15 °C: a warning
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert (alert["zone"], alert["severity"], alert["peak_c"]) == ("frozen", "warning", -16.5)
    site.crafted(-16.0, -14.5, -15.5, **frozen)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert (alert["severity"], alert["state"], alert["peak_c"]) == ("critical", "raised", -14.5)
    assert alert["detail"] == "frozen zone reached -14.5 °C, above -15 °C"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("get", "/api/v1/alerts/99999", None, 404, "no alert 99999"),
        ("post", "/api/v1/alerts/99999/ack", None, 404, "no alert 99999"),
        ("get", "/api/v1/alerts?state=gone", None, 422, "query parameter state: Input should be"),
        ("get", "/api/v1/alerts?kind=fire", None, 422, "query parameter kind: Input should be"),
        ("post", "/api/v1/alerts/1/ack", {"notes": "typo"}, 422, "notes: Extra inputs are not permitted"),
    ],
)
def test_alert_requests_that_cannot_be_served(client, method, path, body, status, detail):
    response = client.request(method, path, headers=ADMIN, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)


def test_vendors_may_not_see_alerts_limits_contacts_or_audit(client, locker, farmer):
    for method, path in [
        ("get", "/api/v1/alerts"),
        ("get", "/api/v1/alerts/1"),
        ("post", "/api/v1/alerts/1/ack"),
        ("get", f"/api/v1/lockers/{locker}/limits"),
        ("put", f"/api/v1/lockers/{locker}/limits/chilled"),
        ("get", "/api/v1/contacts"),
        ("get", "/api/v1/audit"),
    ]:
        response = client.request(method, path, headers=key(farmer), json={"delay_s": 1} if method == "put" else None)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
    assert client.get("/api/v1/alerts").status_code == 401


def test_limit_changes_are_audited_and_used_at_once(client, locker, site):
    limits = client.get(f"/api/v1/lockers/{locker}/limits", headers=ADMIN).json()
    by_zone = {z["zone"]: z for z in limits["zones"]}
    assert list(by_zone) == ["ambient", "chilled", "frozen"]
    assert by_zone["chilled"] == {
        "zone": "chilled",
        "limit_c": 7.0,
        "critical_c": 7.0,
        "delay_s": 900.0,
        "hysteresis_c": 0.5,
        "door_grace_s": 300.0,
        "custom": False,
        "updated_at": None,
    }
    assert (by_zone["frozen"]["limit_c"], by_zone["frozen"]["critical_c"]) == (-18.0, -15.0)
    assert by_zone["ambient"]["limit_c"] is None

    change = {"delay_s": 60, "limit_c": 8, "critical_c": 9}
    response = client.put(f"/api/v1/lockers/{locker}/limits/chilled", headers=ADMIN, json=change)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["delay_s"], changed["limit_c"], changed["critical_c"], changed["custom"]) == (60, 8, 9, True)
    assert (changed["hysteresis_c"], changed["door_grace_s"]) == (0.5, 300.0)  # untouched
    (entry,) = audit_of(client, f"limits:{locker}/chilled")
    assert (entry["actor"], entry["action"]) == ("admin", "limits.changed")
    assert (entry["old"]["delay_s"], entry["new"]["delay_s"]) == (900.0, 60)
    assert (entry["old"]["limit_c"], entry["new"]["limit_c"]) == (7.0, 8)

    site.crafted(7.9, 7.9, 7.9, 7.9)  # at or below the new limit: nothing
    site.crafted(8.5, 8.5, 8.5)  # above it for a minute: the new delay
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert alert["detail"] == "chilled zone above 8 °C for 1 min (peak 8.5 °C)"
    assert alert["severity"] == "warning"  # the new critical limit is 9 °C


@pytest.mark.parametrize(
    ("zone", "body", "detail"),
    [
        ("chilled", {"hysteresis_c": -0.5}, "hysteresis_c: Input should be greater than or equal to 0"),
        ("chilled", {"delay_s": -1}, "delay_s: Input should be greater than or equal to 0"),
        ("chilled", {"delay_s": None}, "delay_s cannot be null"),
        ("chilled", {}, "send at least one of"),
        ("chilled", {"critical_c": 5}, "critical_c (5.0 °C) must not be below limit_c (7.0 °C)"),
        ("chilled", {"limit_c": 500}, "limit_c: Input should be less than or equal to 130"),
        ("chilled", {"delay": 5}, "delay: Extra inputs are not permitted"),
        ("tropical", {"delay_s": 5}, "path parameter zone: Input should be"),
    ],
)
def test_bad_limit_changes_are_refused_and_change_nothing(client, locker, zone, body, detail):
    response = client.put(f"/api/v1/lockers/{locker}/limits/{zone}", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert audit_of(client, f"limits:{locker}/chilled") == []


def test_limits_of_unknown_lockers_and_absent_zones(client, locker):
    body = {
        "id": "no-freezer",
        "name": "Klein",
        "layout": {"compartments": [{"id": "A1", "zone": "ambient", "size": "S", "lock_pin": 5, "door_pin": 6}]},
    }
    assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
    absent = client.put("/api/v1/lockers/no-freezer/limits/frozen", headers=ADMIN, json={"delay_s": 5})
    assert absent.status_code == 422 and absent.json()["detail"] == "locker no-freezer has no frozen compartments"
    assert client.get("/api/v1/lockers/nowhere/limits", headers=ADMIN).status_code == 404
    assert client.put("/api/v1/lockers/nowhere/limits/chilled", headers=ADMIN, json={"delay_s": 5}).status_code == 404


def test_contacts_are_added_listed_and_removed_with_an_audit_trail(client):
    added = client.post("/api/v1/contacts", headers=ADMIN, json={"name": "Wachtdienst", "email": "w@dk.example"})
    assert added.status_code == 201, added.text
    contact = added.json()
    assert (contact["level"], contact["active"], contact["webhook_url"]) == (0, True, None)
    second = client.post(
        "/api/v1/contacts", headers=ADMIN, json={"level": 1, "name": "Shop", "webhook_url": "https://shop.example/hook"}
    ).json()
    assert [c["id"] for c in client.get("/api/v1/contacts", headers=ADMIN).json()] == [contact["id"], second["id"]]
    removed = client.delete(f"/api/v1/contacts/{contact['id']}", headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["active"] is False
    assert [c["id"] for c in client.get("/api/v1/contacts", headers=ADMIN).json()] == [second["id"]]
    assert client.delete(f"/api/v1/contacts/{contact['id']}", headers=ADMIN).status_code == 404
    removal, addition = audit_of(client, f"contact:{contact['id']}")
    assert (addition["action"], addition["old"], addition["new"]["email"]) == ("contact.added", None, "w@dk.example")
    assert (removal["action"], removal["old"]["name"], removal["new"]) == ("contact.removed", "Wachtdienst", None)
    assert {e["subject"] for e in audit_of(client, "contact:")} == {
        f"contact:{contact['id']}",
        f"contact:{second['id']}",
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "Niemand"}, "a contact needs an email address, a webhook_url, or both"),
        ({"name": "X", "email": "not-an-address"}, "email: String should match pattern"),
        ({"name": "X", "webhook_url": "ftp://x.example"}, "webhook_url: String should match pattern"),
        ({"name": "X", "email": "x@y.example", "level": -1}, "level: Input should be greater than or equal to 0"),
    ],
)
def test_bad_contacts_are_refused(client, body, detail):
    response = client.post("/api/v1/contacts", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


def test_the_database_refuses_to_change_or_delete_audit_entries(client):
    db = client.app.state.runtime.db
    with db.write() as session:
        entry = audit.record(session, "admin", "limits.changed", "limits:x/chilled", {"delay_s": 900}, {"delay_s": 60})
        session.flush()
        entry_id = entry.id
    for statement in (
        update(AuditEntry).where(AuditEntry.id == entry_id).values(actor="someone else"),
        delete(AuditEntry).where(AuditEntry.id == entry_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
            session.execute(statement)
    (kept,) = audit_of(client, "limits:x/chilled")
    assert (kept["id"], kept["actor"]) == (entry_id, "admin")
