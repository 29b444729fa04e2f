"""Typed configuration of the cloud service, read from `DK_*` environment variables."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lockers.errors import ConfigError
from lockers.layout import Zone

log = logging.getLogger(__name__)

MIN_ADMIN_KEY_CHARS = 24
# Words of placeholder keys in examples and compose files; a production deployment must never run with them.
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replace-me", "example", "default", "password")


class Settings(BaseSettings):
    """Everything the cloud service needs to know about its site; see docs for each `DK_*` variable."""

    model_config = SettingsConfigDict(env_prefix="DK_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_client_id: str = "dk-cloud"
    mqtt_tls: bool = Field(False, description="the cloud's own connection over TLS (system CAs, or mqtt_ca_file)")
    mqtt_ca_file: Path | None = Field(None, description="CA the cloud trusts for its own connection (implies TLS)")
    mqtt_tcp_nodelay: bool = Field(True, description="false: Nagle on (only for the ingest benchmark's baseline)")
    # Scaling ingest past one process: every node in the group gets a share of the telemetry (`$share/...`).
    mqtt_share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$", description="shared telemetry group")
    ingest_telemetry_only: bool = Field(
        False, description="an extra ingest node: telemetry only; events, state and acks stay on the main node"
    )

    # Device accounts: the cloud keeps the broker's password file and signals the broker to reload it.
    broker_password_file: Path | None = Field(None, description="mosquitto password file; None: no enrollment")
    broker_pid_file: Path | None = Field(None, description="mosquitto's pid_file, to send it SIGHUP after changes")
    mqtt_public_host: str | None = Field(None, description="broker host as lockers reach it; default mqtt_host")
    mqtt_public_port: int | None = Field(None, ge=1, le=65535, description="broker port for lockers")
    locker_ca_file: Path | None = Field(
        None, description="CA certificate lockers trust for the broker's TLS listener; it goes into every bundle"
    )
    enrollment_ttl_hours: float = Field(72, gt=0, le=24 * 60, description="an unused enrollment token dies after")

    admin_key: SecretStr | None = None
    metrics_token: SecretStr | None = Field(
        None, description="bearer token Prometheus sends to GET /metrics; unset: /metrics is off"
    )
    auth_failures_allowed: int = Field(20, ge=1, description="failed API keys or enrollment tokens per client…")
    auth_failure_window_s: float = Field(300, gt=0, description="…within this window; then 429 until it passed")
    signing_key_file: Path | None = Field(None, description="Ed25519 private key (PEM); default data_dir")
    key_rollover_days: float = Field(
        7, gt=0, le=365, description="after a key rotation, codes of the old key keep working this long"
    )
    link_secret_file: Path | None = Field(None, description="secret for resident links; default data_dir")

    public_url: str = "http://127.0.0.1:8000"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)

    expiry_hours_chilled: float = Field(24, gt=0, le=24 * 14)
    expiry_hours_frozen: float = Field(24, gt=0, le=24 * 14)
    expiry_hours_ambient: float = Field(48, gt=0, le=24 * 14)
    resident_link_days: float = Field(30, gt=0, le=400, description="resident links work this long after the deadline")
    dropoff_window_hours: float = Field(24, gt=0, le=24 * 14, description="how long a vendor may load")
    return_collect_hours: float = Field(
        72, gt=0, le=24 * 14, description="how long a vendor has to take a resident's return back"
    )

    # Cold chain: what happens to breached goods, how long readings are kept, when people are chased.
    coldchain_policy: Literal["warn", "block"] = Field(
        "warn", description="block: an order whose goods breached the cold chain can no longer be collected"
    )
    raw_retention_days: float = Field(30, gt=0, description="raw readings older than this are deleted")
    # Reg. (EC) 37/2005 asks for temperature records of frozen food to be kept at least a year.
    aggregate_retention_days: float = Field(400, ge=366, description="5-minute aggregates are kept this long")
    escalation_after_minutes: float = Field(30, gt=0, description="an unacknowledged alert goes one level up after")
    offline_after_s: float = Field(
        180, gt=0, description="heartbeat timeout: a locker not heard from this long (wall clock) is offline"
    )
    reporting_role: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role Grafana reads as: granted SELECT on the report_* views (and nothing else)",
    )
    event_gap_alert_s: float = Field(
        600, gt=0, description="events of a locker missing this long (wall clock) raise an event_gap alert"
    )
    resend_after_s: float = Field(
        20, gt=0, description="a locker is asked to send events again once they are missing this long (wall clock)"
    )
    resend_every_s: float = Field(60, gt=0, description="the locker is asked again this often while they stay missing")
    watchdog_interval_s: float = Field(
        5, gt=0, le=300, description="how often offline, gaps and escalation are checked"
    )

    smtp_host: str | None = Field(None, description="mail server for notifications; None: email disabled")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "Dorpskluis <dorpskluis@localhost>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    webhook_secret_file: Path | None = Field(None, description="HMAC secret of webhook signatures; default data_dir")
    notify_max_attempts: int = Field(6, ge=1, le=50, description="deliveries tried before a notification fails")
    notify_retry_s: float = Field(30, gt=0, le=3600, description="first retry delay; doubles with every attempt")

    @model_validator(mode="after")
    def _rollover_outlives_pickup_codes(self) -> Settings:
        longest = max(self.expiry_hours_chilled, self.expiry_hours_frozen, self.expiry_hours_ambient)
        if self.key_rollover_days * 24 < longest:
            raise ValueError(
                f"key_rollover_days ({self.key_rollover_days:g}) must cover the longest pickup time ({longest:g} h): "
                "a pickup code signed just before a key rotation must keep working until its deadline"
            )
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    def expiry_hours(self, zone: Zone) -> float:
        """How long goods of `zone` may wait in the locker after loading."""
        return {
            Zone.CHILLED: self.expiry_hours_chilled,
            Zone.FROZEN: self.expiry_hours_frozen,
            Zone.AMBIENT: self.expiry_hours_ambient,
        }[zone]

    def locker_broker(self) -> tuple[str, int]:
        """The broker's address as the lockers reach it."""
        return self.mqtt_public_host or self.mqtt_host, self.mqtt_public_port or self.mqtt_port

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dorpskluis.sqlite'}"

    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.data_dir / "signing-key.pem"

    def resolved_link_secret_file(self) -> Path:
        return self.link_secret_file or self.data_dir / "link-secret"

    def resolved_webhook_secret_file(self) -> Path:
        return self.webhook_secret_file or self.data_dir / "webhook-secret"

    def admin_key_value(self) -> str:
        if self.admin_key is None:
            raise ConfigError("no admin key configured; call prepare_settings first")
        return self.admin_key.get_secret_value()


def prepare_settings(settings: Settings) -> Settings:
    """Check the settings for the environment and fill in development defaults; raise ConfigError."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_sqlite_folder(settings.resolved_database_url())
    if settings.production:
        _check_production(settings)
        return settings
    if settings.admin_key is None:
        return settings.model_copy(update={"admin_key": SecretStr(_development_admin_key(settings.data_dir))})
    return settings


def _check_production(settings: Settings) -> None:
    key = settings.admin_key.get_secret_value() if settings.admin_key else ""
    if not key:
        raise ConfigError(
            f"DK_ADMIN_KEY is required in production: set it to a random string of at least "
            f"{MIN_ADMIN_KEY_CHARS} characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    if len(key) < MIN_ADMIN_KEY_CHARS:
        raise ConfigError(
            f"DK_ADMIN_KEY is {len(key)} characters long; production needs at least {MIN_ADMIN_KEY_CHARS}"
        )
    if _placeholder(key):
        raise ConfigError("DK_ADMIN_KEY looks like a placeholder; choose a random one for production")
    metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if metrics is not None and (len(metrics) < MIN_ADMIN_KEY_CHARS or _placeholder(metrics)):
        raise ConfigError(
            f"DK_METRICS_TOKEN looks like a placeholder or is shorter than {MIN_ADMIN_KEY_CHARS} characters; "
            "choose a random one, or leave it unset to turn /metrics off"
        )
    # The project's broker admits no anonymous clients: the cloud logs in like every locker does.
    mqtt_password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else ""
    if not settings.mqtt_username or not mqtt_password:
        raise ConfigError("DK_MQTT_USERNAME and DK_MQTT_PASSWORD are required in production (the broker's own account)")
    if len(mqtt_password) < MIN_ADMIN_KEY_CHARS or _placeholder(mqtt_password):
        raise ConfigError(
            f"DK_MQTT_PASSWORD looks like a placeholder or is shorter than {MIN_ADMIN_KEY_CHARS} characters; "
            "choose a random one for production"
        )
    for what, path in (
        ("signing key", settings.resolved_signing_key_file()),
        ("resident link secret", settings.resolved_link_secret_file()),
    ):
        if not path.is_file():
            raise ConfigError(
                f"the {what} file {path} does not exist; production never generates it on the fly "
                f"(create it once with `python -m cloud init`)"
            )


def _placeholder(secret: str) -> bool:
    return any(word in secret.lower() for word in PLACEHOLDER_WORDS) or len(set(secret)) < 8


def _development_admin_key(data_dir: Path) -> str:
    """A generated admin key kept in data_dir, so a development site keeps the same key across restarts."""
    path = data_dir / "admin-key"
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            log.info("development admin key read from %s", path)
            return key
    key = secrets.token_urlsafe(32)
    write_private_file(path, key + "\n")
    log.warning("no DK_ADMIN_KEY set: generated development admin key %s (saved in %s)", key, path)
    return key


def write_private_file(path: Path, text: str) -> None:
    """Create `path` readable only by its owner (secrets must never be world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _ensure_sqlite_folder(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :].split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
