"""The technician's side of onboarding, over the cloud's HTTP API: write a locker's config bundle, and trade
its enrollment token for the locker's own broker credentials."""

from __future__ import annotations

import html
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import tomli_w

from lockers.errors import DorpskluisError
from lockers.layout import LockerLayout

EDGE_TOML = "edge.toml"
LAYOUT_FILE = "layout.json"
ENROLLMENT_FILE = "enrollment.json"
PI_STATE_DIR = "/var/lib/dorpskluis"  # firmware/dorpskluis-edge.service: ReadWritePaths
ENROLLMENT_QR = "enrollment-qr.png"
ENROLLMENT_SHEET = "enrollment.html"  # the printable page for the technician
CA_FILE = "ca.crt"
QR_PREFIX = "DKENROLL1"  # what the printed QR holds: prefix, cloud URL, locker, token, separated by spaces


class ProvisioningError(DorpskluisError):
    """The cloud refused, or could not be reached, or the bundle folder is not usable."""


@dataclass(frozen=True)
class Bundle:
    """What `provision_locker` wrote."""

    folder: Path
    locker: str
    registered: bool  # False: the locker existed already and only got a new enrollment token
    expires_at: str
    broker: str
    tls: bool


@dataclass(frozen=True)
class Enrolled:
    locker: str
    username: str
    broker: str
    generation: int
    edge_toml: Path


def enrollment_qr_text(cloud: str, locker: str, token: str) -> str:
    return f"{QR_PREFIX} {cloud} {locker} {token}"


def parse_enrollment_qr(text: str) -> dict[str, str]:
    """The cloud URL, locker and token of a scanned enrollment QR, or ProvisioningError."""
    parts = text.split()
    if len(parts) != 4 or parts[0] != QR_PREFIX:
        raise ProvisioningError(f"this is not a Dorpskluis enrollment code (it should start with {QR_PREFIX})")
    return {"cloud": parts[1], "locker": parts[2], "token": parts[3]}


def _answer(response: httpx.Response, what: str) -> dict:
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ProvisioningError(f"{what}: the cloud answered {response.status_code}: {str(detail)[:300]}")
    return response.json()


def _client(cloud: str, admin_key: str | None = None) -> httpx.Client:
    headers = {"X-API-Key": admin_key} if admin_key else {}
    return httpx.Client(base_url=cloud.rstrip("/"), headers=headers, timeout=15.0)


def _post(client: httpx.Client, path: str, what: str, **kwargs) -> httpx.Response:
    try:
        return client.post(path, **kwargs)
    except httpx.HTTPError as exc:
        raise ProvisioningError(f"{what}: cannot reach the cloud at {client.base_url}: {exc}") from exc


def write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only: the file may hold a secret."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def provision_locker(
    *,
    cloud: str,
    admin_key: str,
    locker: str,
    layout: LockerLayout,
    out: Path,
    name: str | None = None,
    village: str | None = None,
    address: str | None = None,
    location: tuple[float, float] | None = None,
    simulated: bool = False,
    force: bool = False,
) -> Bundle:
    """Register the locker with its layout (or keep the registered one), issue a one-time enrollment token and
    write the bundle into `out`: edge.toml without credentials, the layout, the token and its printable QR."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / EDGE_TOML).exists() and not force:
        raise ProvisioningError(f"{out / EDGE_TOML} exists already; pass --force to replace the bundle")
    with _client(cloud, admin_key) as client:
        body = {"id": locker, "name": name or locker, "village": village, "layout": layout.model_dump(mode="json")}
        if address:
            body["address"] = address
        if location:
            body["location"] = {"lat": location[0], "lon": location[1]}
        response = _post(client, "/api/v1/lockers", "registering the locker", json=body)
        registered = response.status_code != 409
        if registered:
            _answer(response, "registering the locker")
        enrollment = _answer(
            _post(client, f"/api/v1/lockers/{locker}/enrollments", "issuing an enrollment token"),
            "issuing an enrollment token",
        )
        try:
            keys = _answer(client.get("/api/v1/keys"), "reading the code-verification keys")["keys"]
        except httpx.HTTPError as exc:
            raise ProvisioningError(f"cannot reach the cloud at {cloud}: {exc}") from exc
    broker = enrollment["broker"]
    config = {
        "locker": locker,
        # On a Pi the unit makes /etc read-only for the agent (ProtectSystem=strict); its state lives in /var/lib.
        "state_dir": "state" if simulated else PI_STATE_DIR,
        "mqtt": _mqtt_section(out, broker),
        "codes": {"keys": {str(k["kid"]): k["public_key"] for k in keys}},
        "hardware": {"layout": LAYOUT_FILE}
        | ({"w1_base": "w1", "pin_factory": "mock"} if simulated else {"pin_factory": "native"}),
    }
    (out / LAYOUT_FILE).write_text(layout.model_dump_json(indent=2))
    if simulated:
        (out / "w1").mkdir(exist_ok=True)
    write_private(out / EDGE_TOML, tomli_w.dumps(config))
    token = {"cloud": cloud.rstrip("/"), "locker": locker, "token": enrollment["token"]}
    write_private(out / ENROLLMENT_FILE, json.dumps(token | {"expires_at": enrollment["expires_at"]}, indent=2))
    qr_text = enrollment_qr_text(token["cloud"], locker, token["token"])
    _write_qr(out / ENROLLMENT_QR, qr_text)
    where = ", ".join(filter(None, (name or locker, village, address)))
    write_private(out / ENROLLMENT_SHEET, _sheet(locker, where, enrollment["expires_at"], qr_text))
    return Bundle(
        folder=out,
        locker=locker,
        registered=registered,
        expires_at=enrollment["expires_at"],
        broker=f"{broker['host']}:{broker['port']}",
        tls=bool(broker.get("ca_pem")),
    )


def _mqtt_section(folder: Path, broker: dict) -> dict:
    """[mqtt] of edge.toml: host and port, and with TLS the CA the cloud named, written beside it."""
    section = {"host": broker["host"], "port": broker["port"]}
    if broker.get("ca_pem"):
        (folder / CA_FILE).write_text(broker["ca_pem"], encoding="ascii")
        section["ca_file"] = CA_FILE
    return section


def _write_qr(path: Path, text: str) -> None:
    import qrcode  # noqa: PLC0415 - only the provisioning command draws QR codes

    qrcode.make(text, error_correction=qrcode.constants.ERROR_CORRECT_M).save(path)


def _sheet(locker: str, where: str, expires_at: str, qr_text: str) -> str:
    """One printable A4 page: which locker, until when, the QR, and what to do with it."""
    import qrcode  # noqa: PLC0415
    import qrcode.image.svg  # noqa: PLC0415

    svg = qrcode.make(qr_text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12).to_string(encoding="unicode")
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Aanmelden kluis {html.escape(locker)}</title>
<style>body{{font-family:sans-serif;margin:2cm;font-size:14pt}} h1{{font-size:24pt}} svg{{width:9cm;height:9cm}}</style>
</head><body>
<h1>Kluis {html.escape(locker)} aanmelden / enroll locker</h1>
<p>{html.escape(where)}</p>
<p>Eenmalig te gebruiken tot / one use until <strong>{html.escape(expires_at[:16].replace("T", " "))} UTC</strong>.</p>
{svg}
<ol>
<li>Op de kluis / on the locker: <code>dorpskluis edge enroll /etc/dorpskluis --qr "&lt;gescande tekst&gt;"</code>,
 of met de bundel: <code>dorpskluis edge enroll /etc/dorpskluis</code>.</li>
<li>Daarna is deze code ongeldig; vernietig het papier. / The code is then dead; destroy this sheet.</li>
</ol>
</body></html>
"""


def enroll_bundle(folder: Path, qr_text: str | None = None) -> Enrolled:
    """Trade the bundle's one-time token (or that of a scanned QR) for the locker's credentials; write them into
    `folder/edge.toml` under [mqtt], trust the keys the cloud names, and delete the now dead token."""
    path = folder / EDGE_TOML
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError(f"cannot read {path}: {exc}") from exc
    if qr_text is not None:
        token = parse_enrollment_qr(qr_text)
    else:
        try:
            token = json.loads((folder / ENROLLMENT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProvisioningError(
                f"{folder / ENROLLMENT_FILE} is missing: this bundle was enrolled already, or pass the scanned "
                "enrollment QR with --qr"
            ) from None
        except (OSError, ValueError) as exc:
            raise ProvisioningError(f"cannot read {folder / ENROLLMENT_FILE}: {exc}") from exc
    if token.get("locker") != config.get("locker"):
        raise ProvisioningError(
            f"the enrollment token is for {token.get('locker')!r}, this bundle for {config.get('locker')!r}"
        )
    with _client(token["cloud"]) as client:
        answer = _answer(_post(client, "/api/v1/enroll", "enrolling", json={"token": token["token"]}), "enrolling")
    broker = answer["broker"]
    config["mqtt"] = _mqtt_section(folder, broker) | {"username": answer["username"], "password": answer["password"]}
    config["codes"] = {"keys": {str(k["kid"]): k["public_key"] for k in answer["keys"]}}
    write_private(path, tomli_w.dumps(config))
    for used in (ENROLLMENT_FILE, ENROLLMENT_QR, ENROLLMENT_SHEET):
        (folder / used).unlink(missing_ok=True)
    return Enrolled(
        locker=answer["locker"],
        username=answer["username"],
        broker=f"{broker['host']}:{broker['port']}",
        generation=answer["generation"],
        edge_toml=path,
    )
