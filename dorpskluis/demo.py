"""`dorpskluis demo`: broker, cloud and the simulated locker demo-1, seeded, until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import tomli_w
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dorpskluis.broker import RunningBroker, free_port, start_broker
from dorpskluis.procs import ChildProcess, wait_for_stop
from dorpskluis.stack import CloudAdmin, CloudConfig, StackError, start_cloud, start_simulated_locker, write_edge_config
from edge.control import request as control_request
from lockers.layout import demo_layout
from provisioning.client import enroll_bundle, provision_locker, write_private

LOCKER = "demo-1"
MARKER = ".dorpskluis-demo"
VENDORS = [
    # id, name, kind; the first is "the demo vendor" whose key --vendor-key sets
    ("boerderij-zwartewater", "Boerderij Het Zwarte Water", "farmer"),
    ("bakkerij-korenbloem", "Bakkerij De Korenbloem", "baker"),
    ("slagerij-vandijk", "Slagerij Van Dijk", "butcher"),
]


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    seed: bool = True
    vendor_key: str | None = None
    speed: float = 1.0
    data_dir: Path = Path("data/demo")


@dataclass
class Seeded:
    ready_order: dict
    pickup: dict
    waiting_order: dict


def _prepare_data_dir(path: Path) -> Path:
    """Start from an empty folder, but never wipe one the demo did not create."""
    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise StackError(f"{path} is not empty and was not made by the demo; pass another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by `dorpskluis demo`; wiped at every start\n")
    return path


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(f"port {port} is already in use; pass --port with a free one")


def _cli_name() -> str:
    """How the user can call our command from this shell."""
    if shutil.which("dorpskluis"):
        return "dorpskluis"
    local = Path(sys.executable).parent / "dorpskluis"
    try:
        return os.path.relpath(local)
    except ValueError:
        return str(local)


def _wait_status(client: httpx.Client, order: str, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/orders/{order}").json()
        if body.get("status") == status:
            return body
        time.sleep(0.1)
    raise StackError(f"order {order} did not become {status} within {timeout:g}s")


def _wait_doors_open(compartments: list[str], timeout: float = 10.0) -> None:
    """Spring-loaded doors pop open a moment after their lock releases; close them only after that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doors = control_request(LOCKER, {"cmd": "status"})["doors"]
        if all(doors.get(c) == "open" for c in compartments):
            return
        time.sleep(0.05)
    raise StackError(f"doors {', '.join(compartments)} did not open within {timeout:g}s")


def _seed(admin: CloudAdmin, vendor_codes: dict[str, str]) -> Seeded:
    """Create three orders, then let the farmer load its parts through the simulated locker."""
    farmer, baker, butcher = (v[0] for v in VENDORS)
    orders = [
        {
            "resident": {"name": "Mevrouw J. de Vries", "email": "j.devries@example.nl"},
            "accessible": True,
            "parts": [
                {"zone": "chilled", "size": "M", "vendor": farmer},
                {"zone": "frozen", "size": "S", "vendor": farmer},
            ],
        },
        {
            "resident": {"name": "Dhr. P. Bakker", "phone": "+31 6 12345678"},
            "parts": [
                {"zone": "chilled", "size": "S", "vendor": farmer},
                {"zone": "ambient", "size": "M", "vendor": baker},
            ],
        },
        {"resident": {"name": "Familie Jansen"}, "parts": [{"zone": "frozen", "size": "M", "vendor": butcher}]},
    ]
    created = []
    for body in orders:
        response = admin.http.post("/api/v1/orders", json={"locker": LOCKER, **body})
        if response.status_code != 201:
            raise StackError(f"seeding an order failed: {response.status_code} {response.text}")
        created.append(response.json())
    # The farmer arrives: scans its vendor code, every pending door pops open, it loads and closes them.
    answer = control_request(LOCKER, {"cmd": "scan", "code": vendor_codes[farmer]})
    if not answer.get("ok"):
        raise StackError(f"the farmer's vendor code opened nothing: {answer.get('message')}")
    _wait_doors_open(answer["opened"])
    for compartment in answer["opened"]:
        control_request(LOCKER, {"cmd": "door", "compartment": compartment, "action": "close"})
    ready = _wait_status(admin.http, created[0]["id"], "ready")
    pickup = admin.http.get(f"/api/v1/orders/{ready['id']}/pickup").json()
    return Seeded(ready_order=ready, pickup=pickup, waiting_order=created[1])


def _access(broker: RunningBroker) -> str:
    if broker.access_controlled:
        tls = f"; lockers use TLS on {broker.host}:{broker.tls_port}" if broker.tls_port else ""
        return f"  (accounts and ACL; {LOCKER} logs in as itself{tls})"
    return "  (amqtt: open to anyone, for this demo only)"


def _summary(
    console: Console,
    speed: float,
    cloud: CloudConfig,
    broker: RunningBroker,
    vendors: list[dict],
    seeded: Seeded | None,
    logs: Path,
    kiosk_port: int,
) -> None:
    """What to try next; commands are printed unwrapped so they can be copied whole."""
    cli = _cli_name()

    def say(text: str = "") -> None:
        console.print(text, soft_wrap=True, highlight=False)

    rows = [
        ("API docs", f"{cloud.url}/docs"),
        ("OpenAPI", f"{cloud.url}/openapi.json"),
        ("Locker demo-1", f"{cloud.url}/api/v1/lockers/{LOCKER}  (send X-API-Key)"),
        ("Health", f"{cloud.url}/api/v1/health"),
        ("Dashboard", f"{cloud.url}/dashboard  (log in with the admin key)"),
        ("Vendor page", f"{cloud.url}/vendor  (log in with a vendor key)"),
        ("Kiosk", f"http://127.0.0.1:{kiosk_port}/  (demo-1's touchscreen, served by its agent)"),
        ("Broker", f"{broker.kind} on {broker.host}:{broker.port}" + _access(broker)),
        ("Admin key", cloud.admin_key),
    ]
    rows += [
        ("Demo vendor key" if index == 0 else "Vendor key", f"{vendor['api_key']}  ({vendor['id']})")
        for index, vendor in enumerate(vendors)
    ]
    rows.append(("Logs", str(logs)))
    console.rule("[bold green]Dorpskluis demo is running — Ctrl-C stops everything")
    for label, value in rows:
        say(f"  {label:<16} {value}")
    if seeded:
        order, pickup = seeded.ready_order, seeded.pickup
        doors = ", ".join(pickup["compartments"])
        who = order["resident"]["name"]
        say(f"\n[bold]Ready to collect:[/bold] order {order['id']} for {who}, compartments {doors}")
        say(f"  PIN [bold cyan]{pickup['pin']}[/bold cyan] — type it:  {cli} sim scan {LOCKER} {pickup['pin']}")
        say(f"  or scan the QR token:  {cli} sim scan {LOCKER} '{pickup['token']}'")
        for compartment in pickup["compartments"]:
            say(f"  then close the door:  {cli} sim door {LOCKER} {compartment} close")
        say(f"  resident's page:  {pickup['resident_url']}")
        waiting = seeded.waiting_order
        say(f"\n[bold]Awaiting the baker:[/bold] order {waiting['id']} (ambient part); the baker's vendor code:")
        say(f"  {cli} sim scan {LOCKER} '{vendors[1]['code']}'")
    say("\n[bold]Cold chain:[/bold] alerts at " + f"{cloud.url}/api/v1/alerts (admin key); try")
    say(f"  {cli} sim door {LOCKER} B1 open        # a fridge door left open: an alert after 20 minutes")
    say(f"  {cli} sim fault {LOCKER} chilled compressor-failure      # then: … chilled clear")
    say(f"  {cli} sim fault {LOCKER} frozen sensor-unplugged         # a sensor fault, not a temperature alarm")
    if speed != 1:
        say(f"  the simulated locker runs {speed:g}x faster than real time (--speed)")
    else:
        say("  (restart with --speed 60 to see an hour of fridge life in a minute)")
    say("\n[bold]Create an order as the demo vendor:[/bold]")
    say(
        f"  curl -s -X POST {cloud.url}/api/v1/orders -H 'X-API-Key: {vendors[0]['api_key']}' "
        f"-H 'Content-Type: application/json' "
        f"""-d '{{"locker": "{LOCKER}", "resident": {{"name": "Anna"}}, """
        f""""parts": [{{"zone": "chilled", "size": "S"}}]}}'"""
    )
    say(f"  then load it with the demo vendor's code:  {cli} sim scan {LOCKER} '{vendors[0]['code']}'")


def _onboard_locker(
    admin: CloudAdmin, cloud: CloudConfig, broker: RunningBroker, folder: Path, kiosk_port: int
) -> Path:
    """Provision and enroll demo-1 as a technician would a real locker (its own broker account); on amqtt,
    which cannot check accounts, register it and write its config directly. Returns its edge.toml, which also
    turns on its touchscreen page at `kiosk_port`."""
    name, village = "Dorpskluis Kerkplein (demo)", "Zwartsluis"
    address, location = "Kerkplein 1, naast de kerkdeur", (52.6376, 6.0712)
    if not broker.access_controlled:
        admin.register_locker(LOCKER, name, village, demo_layout(), address=address, location=location)
        return write_edge_config(
            folder, locker=LOCKER, broker=broker, keys=admin.public_keys(), layout=demo_layout(), kiosk_port=kiosk_port
        )
    provision_locker(
        cloud=cloud.url,
        admin_key=cloud.admin_key,
        locker=LOCKER,
        layout=demo_layout(),
        out=folder,
        name=name,
        village=village,
        address=address,
        location=location,
        simulated=True,
    )
    edge_toml = enroll_bundle(folder).edge_toml
    config = tomllib.loads(edge_toml.read_text())
    write_private(edge_toml, tomli_w.dumps(config | {"kiosk": {"host": "127.0.0.1", "port": kiosk_port}}))
    return edge_toml


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run_demo(options: DemoOptions, console: Console) -> None:
    """Start everything, seed, print what to try, and stop everything cleanly on Ctrl-C."""
    _check_port_free(options.port)
    data = _prepare_data_dir(options.data_dir)
    logs = data / "logs"
    children: list[ChildProcess] = []
    broker: RunningBroker | None = None
    admin: CloudAdmin | None = None
    steps = [
        "broker",
        "cloud service",
        "locker (provision, enroll) and vendors",
        "simulated locker demo-1",
        "demo orders",
    ]
    signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM during start-up must clean up like Ctrl-C
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("Starting", total=len(steps))

            def step(name: str) -> None:
                progress.update(task, description=f"Starting {name}…")

            step(steps[0])
            broker = start_broker(data / "broker", tls=True)
            progress.advance(task)
            step(steps[1])
            cloud = CloudConfig(
                database_url=f"sqlite:///{data / 'dorpskluis.sqlite'}",
                data_dir=data / "cloud",
                broker=broker,
                admin_key=secrets.token_urlsafe(24),
                http_port=options.port,
            )
            children.append(start_cloud(cloud, logs))
            progress.advance(task)
            step(steps[2])
            admin = CloudAdmin(cloud.url, cloud.admin_key)
            kiosk_port = free_port()
            edge_toml = _onboard_locker(admin, cloud, broker, data / LOCKER, kiosk_port)
            vendors = []
            for index, (vendor_id, name, kind) in enumerate(VENDORS):
                key = options.vendor_key if index == 0 else None
                created = admin.create_vendor(vendor_id, name, kind, api_key=key)
                me = httpx.get(f"{cloud.url}/api/v1/vendors/me", headers={"X-API-Key": created["api_key"]}).json()
                vendors.append({"id": vendor_id, "api_key": created["api_key"], "code": me["code"]["token"]})
            progress.advance(task)
            step(steps[3])
            children.append(start_simulated_locker(edge_toml, logs, LOCKER, speed=options.speed))
            admin.wait_online(LOCKER, process=children[-1])
            progress.advance(task)
            seeded = None
            if options.seed:
                step(steps[4])
                seeded = _seed(admin, {v["id"]: v["code"] for v in vendors})
            progress.advance(task)
            progress.update(task, description="Started")
        _summary(console, options.speed, cloud, broker, vendors, seeded, logs, kiosk_port)

        def child_died() -> str | None:
            dead = next((c for c in children if not c.alive), None)
            return f"{dead.name} exited unexpectedly; see {dead.log_path}" if dead else None

        reason = wait_for_stop(child_died)
        console.print(f"\nStopping ({reason})…")
    except KeyboardInterrupt:
        console.print("\nInterrupted; stopping what was started…")
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave orphans; every stop below is bounded.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if admin is not None:
            admin.close()
        for child in reversed(children):
            child.stop()
        if broker is not None:
            broker.stop()
    console.print("All demo processes stopped.")
