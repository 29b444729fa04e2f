"""Run a private MQTT broker: mosquitto with the project's config where the binary exists, else amqtt."""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lockers.errors import TransportError
from provisioning import MOSQUITTO_CONF
from provisioning.accounts import PasswordFileAccounts
from provisioning.acl import CLOUD_USERNAME, render_acl
from provisioning.certs import BrokerCerts, write_broker_certs

# Lines of the project's config that name machine-specific places; a local run supplies its own.
_LOCAL_KEYS = ("listener", "persistence_location", "log_dest", "pid_file", "password_file", "acl_file", "user")
_TLS_KEYS = ("cafile", "certfile", "keyfile")  # of the TLS listener; a local run names its own or has none
_ACCESS_KEYS = ("allow_anonymous", "password_file", "acl_file")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Block until something accepts TCP connections on host:port, or raise TransportError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TransportError(f"process exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TransportError(f"nothing listens on {host}:{port} after {timeout:g}s")


def render_mosquitto_config(
    template: str,
    *,
    host: str,
    port: int,
    data_dir: Path,
    log_file: Path,
    tcp_nodelay: bool = True,
    accounts: tuple[Path, Path] | None = None,
    tls: tuple[int, BrokerCerts] | None = None,
) -> str:
    """The project's mosquitto.conf with listener, persistence folder, log file and pid file made local.

    `accounts` (password file, ACL file) keeps the project's access control: no anonymous clients. Without it
    the broker is open, for tests of everything but access control. `tls` (port, certificates) adds a TLS
    listener. Without `tcp_nodelay`, Mosquitto's default (Nagle on: the baseline of the ingest benchmark)."""
    dropped = (*_LOCAL_KEYS, *_TLS_KEYS) if tcp_nodelay else (*_LOCAL_KEYS, *_TLS_KEYS, "set_tcp_nodelay")
    dropped = dropped if accounts else (*dropped, *_ACCESS_KEYS)
    kept = [line for line in template.splitlines() if line.split(" ", 1)[0] not in dropped]
    local = [
        f"listener {port} {host}",
        f"persistence_location {data_dir}/",
        f"log_dest file {log_file}",
        f"pid_file {data_dir / 'mosquitto.pid'}",
        # Run as whoever started us: started as root, mosquitto would switch to a `mosquitto` user that cannot
        # read our private files.
        f"user {getpass.getuser()}",
    ]
    if accounts:
        local += [f"password_file {accounts[0]}", f"acl_file {accounts[1]}"]
    else:
        local.append("allow_anonymous true")
    if tls:  # listener settings follow their listener line
        port_tls, certs = tls
        local += [f"listener {port_tls} {host}", f"cafile {certs.ca}", f"certfile {certs.cert}", f"keyfile {certs.key}"]
    return "\n".join(kept + ["", "# local run", *local]) + "\n"


def render_amqtt_config(*, host: str, port: int) -> str:
    """amqtt YAML equivalent of the listener part of our mosquitto config (demo fallback only)."""
    return (
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: {host}:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )


def broker_kind() -> str:
    """Which broker to run: DK_BROKER (mosquitto|amqtt) when set, else mosquitto when on PATH."""
    wanted = os.environ.get("DK_BROKER", "").strip().lower()
    if wanted in ("mosquitto", "amqtt"):
        return wanted
    if wanted:
        raise TransportError(f"DK_BROKER must be 'mosquitto' or 'amqtt', not {wanted!r}")
    return "mosquitto" if mosquitto_binary() else "amqtt"


def mosquitto_binary() -> str | None:
    # Debian installs the broker in /usr/sbin, which is not on every user's PATH.
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@dataclass
class RunningBroker:
    """A broker process we started; `kill` and `start` again simulate a crash and a restart."""

    kind: str
    host: str
    port: int
    workdir: Path
    process: subprocess.Popen | None = None
    tcp_nodelay: bool = True  # False: Mosquitto's default, for the benchmarks' baseline
    secured: bool = True  # False: anonymous clients welcome (tests of everything but access control)
    tls: BrokerCerts | None = None  # certificates of a TLS listener on `tls_port`, besides the plain one
    tls_port: int | None = None
    cloud_password: str = field(default_factory=secrets.token_urlsafe, repr=False)

    @property
    def access_controlled(self) -> bool:
        """Whether clients need accounts: mosquitto with the project's ACL (amqtt runs open, demo only)."""
        return self.secured and self.kind == "mosquitto"

    def accounts(self) -> PasswordFileAccounts:
        """The broker's password file; changes made through it reach the running broker at once."""
        return PasswordFileAccounts(self.workdir / "passwd", self.workdir / "data" / "mosquitto.pid")

    @property
    def cloud_username(self) -> str | None:
        """The cloud service's account (its password is `cloud_password`); None on an open broker."""
        return CLOUD_USERNAME if self.access_controlled else None

    def start(self, timeout: float = 15.0) -> RunningBroker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"{self.kind}.out", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            wait_for_port(self.host, self.port, timeout, self.process)
        except TransportError as exc:
            self.kill()
            raise TransportError(f"{self.kind} broker did not start: {exc}; see {self.workdir}") from exc
        return self

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            binary = mosquitto_binary()
            if binary is None:
                raise TransportError("mosquitto is not installed")
            conf = self.workdir / "mosquitto.conf"
            data = self.workdir / "data"
            data.mkdir(exist_ok=True)
            files = None
            if self.secured:
                files = (self.accounts().path, self.workdir / "acl")
                files[1].write_text(render_acl(CLOUD_USERNAME))
                self.accounts().ensure(CLOUD_USERNAME, self.cloud_password, reload=False)
            conf.write_text(
                render_mosquitto_config(
                    MOSQUITTO_CONF.read_text(),
                    host=self.host,
                    port=self.port,
                    data_dir=data,
                    log_file=self.workdir / "mosquitto.log",
                    tcp_nodelay=self.tcp_nodelay,
                    accounts=files,
                    tls=(self.tls_port, self.tls) if self.tls and self.tls_port else None,
                )
            )
            return [binary, "-c", str(conf)]
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(render_amqtt_config(host=self.host, port=self.port))
        return [sys.executable, "-m", "dorpskluis.amqtt_broker", str(conf)]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully (mosquitto saves its persistence file on SIGTERM)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """kill -9: what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_broker(
    workdir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    *,
    secured: bool = True,
    tls: bool = False,
    tcp_nodelay: bool = True,
) -> RunningBroker:
    """Start the preferred broker on `port` (a free one when None) with its files under `workdir`; `secured`
    keeps the project's access control (accounts and ACL) and `tls` adds a TLS listener on another free port
    with certificates of a private CA made for it; only mosquitto does either."""
    kind = broker_kind()
    certs = write_broker_certs(workdir / "certs", [host, "localhost"]) if tls and kind == "mosquitto" else None
    broker = RunningBroker(
        kind=kind,
        host=host,
        port=port or free_port(host),
        workdir=workdir,
        tcp_nodelay=tcp_nodelay,
        secured=secured,
        tls=certs,
        tls_port=free_port(host) if certs else None,
    )
    return broker.start()
