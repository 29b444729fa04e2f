"""The `dorpskluis` command: demo, simulated-locker controls, and the long-running services."""

from __future__ import annotations

import json
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lockers.errors import DorpskluisError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Dorpskluis: village pickup lockers.")
sim_app = typer.Typer(
    no_args_is_help=True, help="Simulated lockers: run a fleet, drive one (scanner, keypad, doors, faults, uplink)."
)
edge_app = typer.Typer(no_args_is_help=True, help="The locker's edge agent.")
cloud_app = typer.Typer(no_args_is_help=True, help="The cloud service.")
provision_app = typer.Typer(no_args_is_help=True, help="Onboard lockers: register, bundle, revoke.")
app.add_typer(sim_app, name="sim")
app.add_typer(provision_app, name="provision")
app.add_typer(edge_app, name="edge")
app.add_typer(cloud_app, name="cloud")

console = Console(soft_wrap=True, highlight=False)  # commands and tokens must copy whole
MAX_SPEED = 3600  # an hour of locker life per second: a simulated day in 24 s
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]{message}[/red]")
    return typer.Exit(code)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP port of the cloud service.")] = 8000,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Create demo orders and load some.")] = True,
    vendor_key: Annotated[str | None, typer.Option(help="API key of the demo vendor (random when omitted).")] = None,
    speed: Annotated[
        float, typer.Option(min=0.1, max=MAX_SPEED, help="Simulated time runs this many times faster.")
    ] = 1.0,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and logs (wiped at start).")] = Path(
        "data/demo"
    ),
) -> None:
    """Run broker, cloud and the simulated locker demo-1 locally until Ctrl-C."""
    from dorpskluis.demo import DemoOptions, run_demo

    try:
        run_demo(DemoOptions(port=port, seed=seed, vendor_key=vendor_key, speed=speed, data_dir=data_dir), console)
    except DorpskluisError as exc:
        raise _fail(f"demo stopped: {exc}", 1) from None


CloudUrl = Annotated[str, typer.Option("--cloud", envvar="DK_CLOUD_URL", help="The cloud service's URL.")]
AdminKey = Annotated[
    str, typer.Option("--admin-key", envvar="DK_ADMIN_KEY", help="The foundation's admin key.", show_default=False)
]


# --- sim ------------------------------------------------------------------------------------------------


class DoorAction(StrEnum):
    OPEN = "open"
    CLOSE = "close"


def _control(locker: str, payload: dict) -> dict:
    from edge.control import request

    try:
        return request(locker, payload)
    except DorpskluisError as exc:
        raise _fail(str(exc)) from None


def _say(answer: dict) -> None:
    """Print the locker's answer; a refusal exits 1."""
    console.print(answer.get("message", ""))
    if not answer.get("ok"):
        raise typer.Exit(1)


@sim_app.command("scan")
def sim_scan(
    locker: Annotated[str, typer.Argument(help="Locker id, e.g. demo-1.")],
    code: Annotated[str, typer.Argument(help="A QR token, a vendor code or a 6-digit PIN.")],
) -> None:
    """Type CODE into the locker's scanner/keypad; exit 0 only when something opened."""
    answer = _control(locker, {"cmd": "scan", "code": code.strip()})
    if answer.get("ok"):
        opened = ", ".join(answer.get("opened", []))
        console.print(f"[green]Opened {opened}.[/green] {answer.get('message', '')}".rstrip())
        return
    reason = answer.get("reason")
    console.print(f"[red]Refused:[/red] {answer.get('message', 'nothing opened')}" + (f" ({reason})" if reason else ""))
    raise typer.Exit(1)


@sim_app.command("door")
def sim_door(
    locker: Annotated[str, typer.Argument(help="Locker id, e.g. demo-1.")],
    compartment: Annotated[str, typer.Argument(help="Compartment id, e.g. B3.")],
    action: Annotated[DoorAction, typer.Argument(help="open or close")],
) -> None:
    """Open or close a simulated compartment door."""
    _say(_control(locker, {"cmd": "door", "compartment": compartment.upper(), "action": action.value}))


class ZoneChoice(StrEnum):
    AMBIENT = "ambient"
    CHILLED = "chilled"
    FROZEN = "frozen"


class FaultChoice(StrEnum):  # the faults of sensors.simulator.Fault
    COMPRESSOR_FAILURE = "compressor-failure"
    POWER_CUT = "power-cut"
    SENSOR_UNPLUGGED = "sensor-unplugged"
    SENSOR_FLAKY = "sensor-flaky"
    CLEAR = "clear"


@sim_app.command("fault")
def sim_fault(
    locker: Annotated[str, typer.Argument(help="Locker id, e.g. demo-1.")],
    zone: Annotated[ZoneChoice, typer.Argument(case_sensitive=False, help="Temperature zone.")],
    fault: Annotated[FaultChoice, typer.Argument(case_sensitive=False, help="The fault to start, or clear.")],
) -> None:
    """Inject a fault into a simulated locker's fridge or sensors (clear ends the zone's faults)."""
    _say(_control(locker, {"cmd": "fault", "zone": zone.value, "fault": fault.value}))


class UplinkState(StrEnum):
    DOWN = "down"
    UP = "up"


@sim_app.command("uplink")
def sim_uplink(
    locker: Annotated[str, typer.Argument(help="Locker id, e.g. demo-1.")],
    state: Annotated[UplinkState, typer.Argument(case_sensitive=False, help="down (cut) or up (restore)")],
) -> None:
    """Cut or restore a simulated locker's connection to the broker; it keeps working, its messages wait."""
    _say(_control(locker, {"cmd": "uplink", "state": state.value}))


@sim_app.command("status")
def sim_status(locker: Annotated[str, typer.Argument(help="Locker id, e.g. demo-1.")]) -> None:
    """Show the running locker's doors, connection and desired-state version."""
    console.print_json(json.dumps(_control(locker, {"cmd": "status"})))


@sim_app.command("fleet")
def sim_fleet(
    admin_key: AdminKey,
    cloud: CloudUrl = "http://127.0.0.1:8000",
    count: Annotated[int, typer.Option(min=1, max=50, help="How many lockers.")] = 3,
    folder: Annotated[Path, typer.Option("--dir", help="Where the lockers keep their bundles and state.")] = Path(
        "data/fleet"
    ),
    prefix: Annotated[str, typer.Option(help="Locker ids are PREFIX1, PREFIX2, ...")] = "sim-",
    broker: Annotated[
        str | None, typer.Option(help="Reach the broker at HOST:PORT without TLS (inside a private network).")
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.1, max=MAX_SPEED, help="Simulated time runs this many times faster.")
    ] = 1.0,
) -> None:
    """Provision, enroll and run COUNT simulated lockers against a running cloud until SIGTERM or Ctrl-C."""
    from rich.progress import Progress

    from dorpskluis.fleet import FleetOptions, locker_ids, onboard, parse_broker, run_fleet
    from edge.config import load_edge_config
    from edge.main import configure_logging

    configure_logging()
    try:
        address = parse_broker(broker) if broker else None
        options = FleetOptions(cloud, admin_key, folder, count, prefix, address, speed)
        lockers = locker_ids(options)
        with Progress(console=console) as progress:
            task = progress.add_task("Onboarding simulated lockers", total=len(lockers))
            paths = []
            for number, locker in enumerate(lockers, start=1):
                paths.append(onboard(options, locker, number))
                progress.advance(task)
        console.print(f"[green]running {', '.join(lockers)}[/green] against {cloud}; Ctrl-C stops them")
        run_fleet([load_edge_config(path) for path in paths], speed, threading.Event())
    except DorpskluisError as exc:
        raise _fail(f"fleet stopped: {exc}", 1) from None


# --- services -------------------------------------------------------------------------------------------


@edge_app.command("run")
def edge_run(
    config: Annotated[Path, typer.Option(help="The locker's edge.toml.")],
    simulate: Annotated[bool, typer.Option(help="Simulated pins, doors and fridge instead of the Pi's.")] = False,
    speed: Annotated[
        float, typer.Option(min=0.1, max=MAX_SPEED, help="Simulated time factor (with --simulate).")
    ] = 1.0,
) -> None:
    """Run the edge agent until SIGTERM or Ctrl-C."""
    from edge.config import load_edge_config
    from edge.main import configure_logging

    configure_logging()
    try:
        loaded = load_edge_config(config)
        if simulate:
            from edge.sim import run_simulated

            run_simulated(loaded, speed=speed)
        else:
            from edge.main import run

            run(loaded)
    except DorpskluisError as exc:
        raise _fail(str(exc), 1) from None


@provision_app.command("locker")
def provision_locker(
    locker: Annotated[str, typer.Argument(help="Locker id, also its broker username, e.g. zwartsluis-kerk.")],
    layout: Annotated[Path, typer.Option(help="The cabinet's layout file (TOML or JSON).")],
    out: Annotated[Path, typer.Option(help="Folder to write the bundle into.")],
    admin_key: AdminKey,
    cloud: CloudUrl = "http://127.0.0.1:8000",
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    village: Annotated[str | None, typer.Option(help="The village it stands in.")] = None,
    address: Annotated[
        str | None, typer.Option(help="Where residents find it, e.g. 'Markt 1, by the church door'.")
    ] = None,
    location: Annotated[
        str | None, typer.Option(help="Its point on the map as LAT,LON, e.g. 52.5230,6.0790.", show_default=False)
    ] = None,
    simulated: Annotated[
        bool, typer.Option(help="Bundle for a simulated locker (mock pins, sensor files in w1/).")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing bundle in --out.")] = False,
) -> None:
    """Register LOCKER and its layout in the cloud and write its bundle: edge.toml, layout, one-time enrollment
    token and its printable QR. The bundle holds no password: `dorpskluis edge enroll` gets the locker's own."""
    from lockers.errors import LayoutError
    from lockers.layout import load_layout
    from provisioning.client import ENROLLMENT_QR, provision_locker

    point = _lat_lon(location) if location else None
    try:
        parsed = load_layout(layout)
        with console.status(f"Registering {locker} at {cloud}…"):
            bundle = provision_locker(
                cloud=cloud,
                admin_key=admin_key,
                locker=locker,
                layout=parsed,
                out=out,
                name=name,
                village=village,
                address=address,
                location=point,
                simulated=simulated,
                force=force,
            )
    except (DorpskluisError, LayoutError) as exc:
        raise _fail(f"provisioning {locker} failed: {exc}", 1) from None
    what = "registered" if bundle.registered else "was registered already; issued a new enrollment token"
    console.print(f"[green]{locker} {what}.[/green] Bundle in {bundle.folder}")
    tls = (
        "TLS, trusting the bundle's ca.crt" if bundle.tls else "plain MQTT: set DK_LOCKER_CA_FILE on the cloud for TLS"
    )
    console.print(f"  broker           {bundle.broker}  ({tls})")
    console.print(f"  enrollment QR    {bundle.folder / ENROLLMENT_QR}  (one use, until {bundle.expires_at})")
    console.print(f"  on the locker:   dorpskluis edge enroll {bundle.folder}")


def _lat_lon(text: str) -> tuple[float, float]:
    """'52.5230,6.0790' -> (52.523, 6.079), or a usage error naming the expected form."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not LAT,LON (e.g. 52.5230,6.0790)", param_hint="--location") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise typer.BadParameter(f"{text!r} is off the map (latitude ±90, longitude ±180)", param_hint="--location")
    return lat, lon


@provision_app.command("broker-certs")
def provision_broker_certs(
    host: Annotated[list[str], typer.Option(help="A name or address lockers reach the broker by (repeatable).")],
    out: Annotated[Path, typer.Option(help="Folder for ca.crt, server.crt and server.key.")] = Path("secrets/mqtt"),
) -> None:
    """Make a private CA and the broker's TLS certificate for HOST; every locker's bundle then carries ca.crt."""
    from provisioning.certs import write_broker_certs

    files = write_broker_certs(out, host)
    console.print(f"[green]TLS files for {', '.join(host)}[/green] in {out}:")
    console.print(f"  {files.ca}  (CA: give it to the cloud as DK_LOCKER_CA_FILE; bundles carry it)")
    console.print(f"  {files.cert}, {files.key}  (the broker's certificate and key, mode 0600)")


@provision_app.command("revoke")
def provision_revoke(
    locker: Annotated[str, typer.Argument(help="Locker id.")],
    admin_key: AdminKey,
    cloud: CloudUrl = "http://127.0.0.1:8000",
) -> None:
    """Revoke LOCKER's broker account: the broker disconnects it now and refuses it from then on."""
    import httpx

    try:
        response = httpx.delete(
            f"{cloud.rstrip('/')}/api/v1/lockers/{locker}/credentials", headers={"X-API-Key": admin_key}
        )
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the cloud at {cloud}: {exc}", 1) from None
    if response.is_error:
        raise _fail(f"revoking {locker} failed: {response.status_code} {response.text[:300]}", 1)
    console.print(f"[green]{locker}'s broker account is revoked.[/green] A new enrollment token restores it.")


@edge_app.command("enroll")
def edge_enroll(
    folder: Annotated[Path, typer.Argument(help="The locker's bundle folder (with edge.toml).")],
    qr: Annotated[str | None, typer.Option(help="The scanned enrollment QR text, instead of enrollment.json.")] = None,
) -> None:
    """Trade the bundle's one-time enrollment token for this locker's own broker credentials (in edge.toml)."""
    from provisioning.client import enroll_bundle

    try:
        with console.status("Enrolling…"):
            enrolled = enroll_bundle(folder, qr)
    except DorpskluisError as exc:
        raise _fail(f"enrollment failed: {exc}", 1) from None
    console.print(
        f"[green]{enrolled.locker} enrolled[/green] as {enrolled.username} on {enrolled.broker} "
        f"(credentials #{enrolled.generation}, in {enrolled.edge_toml}; the token is used up)"
    )


@edge_app.command("update")
def edge_update(
    wheel: Annotated[Path, typer.Argument(help="dorpskluis-<version>-py3-none-any.whl, its dependencies beside it.")],
    locker: Annotated[str, typer.Option(help="This Pi's locker id (its agent is asked whether it is healthy).")],
    root: Annotated[Path, typer.Option(help="Where the versions are installed.")] = Path("/opt/dorpskluis"),
    service: Annotated[str, typer.Option(help="The agent's systemd unit.")] = "dorpskluis-edge",
    timeout: Annotated[float, typer.Option(min=5, help="Seconds the new version has to come up healthy.")] = 90.0,
    run_dir: Annotated[Path, typer.Option(help="The agent's runtime folder (DK_RUN_DIR in the unit).")] = Path(
        "/run/dorpskluis"
    ),
) -> None:
    """Install a new agent version beside the running one, switch to it, and go back when it is not healthy."""
    from firmware.updater import Releases, Systemctl, UpdateError, control_probe, pip_install, update

    probe = control_probe(locker, run_dir / "lockers" / f"{locker}.sock")
    try:
        with console.status("Updating…") as status:
            result = update(
                wheel.resolve(),
                Releases(root),
                pip_install,
                Systemctl(service),
                probe,
                timeout_s=timeout,
                step=lambda what: status.update(f"{what[0].upper()}{what[1:]}…"),
            )
    except UpdateError as exc:
        raise _fail(f"update failed: {exc}", 1) from None
    colour = {"updated": "green", "unchanged": "green"}.get(result.outcome, "red")
    console.print(f"[{colour}]{result.outcome}[/{colour}]: {result.detail}")
    if result.outcome not in ("updated", "unchanged"):
        raise typer.Exit(1)


@cloud_app.command("serve")
def cloud_serve() -> None:
    """Run the cloud service with settings from DK_* environment variables."""
    from cloud.__main__ import main

    main()


@app.command("broker")
def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 1883,
    workdir: Annotated[Path, typer.Option(help="Config, persistence and log folder.")] = Path("data/broker"),
    open_access: Annotated[
        bool, typer.Option("--open", help="Admit anonymous clients (local tools only; no accounts, no ACL).")
    ] = False,
    tls: Annotated[bool, typer.Option(help="Add a TLS listener with certificates of a private CA.")] = False,
) -> None:
    """Run a local broker with the project's mosquitto.conf (amqtt when mosquitto is absent)."""
    from dorpskluis.broker import start_broker
    from dorpskluis.procs import wait_for_stop

    try:
        running = start_broker(workdir, port=port, secured=not open_access, tls=tls)
    except DorpskluisError as exc:
        raise _fail(str(exc), 1) from None
    console.print(f"{running.kind} listening on {running.host}:{running.port}; Ctrl-C stops it")
    if running.tls_port:
        console.print(f"TLS for lockers on {running.host}:{running.tls_port}, CA {running.tls.ca}")
    if running.access_controlled:
        accounts = running.accounts()
        console.print("No anonymous clients. Run the cloud against it with:")
        console.print(
            f"  DK_MQTT_HOST={running.host} DK_MQTT_PORT={running.port} DK_MQTT_USERNAME={running.cloud_username} "
            f"DK_MQTT_PASSWORD={running.cloud_password} DK_BROKER_PASSWORD_FILE={accounts.path} "
            f"DK_BROKER_PID_FILE={accounts.pid_file}"
            + (f" DK_MQTT_PUBLIC_PORT={running.tls_port} DK_LOCKER_CA_FILE={running.tls.ca}" if running.tls else "")
        )
    try:
        wait_for_stop(lambda: None if running.process.poll() is None else "the broker exited")
    finally:
        running.stop()


if __name__ == "__main__":
    app()
