"""Locker onboarding: one-time enrollment tokens traded for the locker's own broker account; rotation and
revocation. The broker account is the locker id with a random password, held hashed in the broker's
password file (provisioning.accounts) and in clear only in the locker's edge.toml."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Gone, NotFound, ServiceUnavailable, Unauthorized
from cloud.keys import KeyRing
from cloud.models import Locker
from cloud.models_provisioning import DeviceCredential, Enrollment
from cloud.schemas import PublicKeyOut
from cloud.schemas_provisioning import BrokerOut, CredentialStatusOut, DeviceCredentialsOut, EnrollmentOut
from cloud.services import audit
from cloud.settings import Settings
from cloud.tokens import sha256_hex
from lockers.errors import ConfigError
from provisioning.accounts import PasswordFileAccounts
from provisioning.passwords import new_device_password

log = logging.getLogger(__name__)

NO_ACCOUNTS = (
    "this cloud does not manage broker accounts: set DK_BROKER_PASSWORD_FILE (and DK_BROKER_PID_FILE) to the "
    "broker's password file, see docs/security.md"
)


class Enrollments:
    """The use cases behind /api/v1/enroll and /api/v1/lockers/{id}/enrollments and …/credentials."""

    def __init__(self, db: Database, settings: Settings, keys: KeyRing, accounts: PasswordFileAccounts | None) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._accounts = accounts

    def _broker(self) -> BrokerOut:
        host, port = self._settings.locker_broker()
        ca_file = self._settings.locker_ca_file
        try:
            ca_pem = ca_file.read_text(encoding="ascii") if ca_file else None
        except (OSError, UnicodeDecodeError) as exc:
            raise ServiceUnavailable(f"the lockers' CA file {ca_file} cannot be read: {exc}") from exc
        return BrokerOut(host=host, port=port, ca_pem=ca_pem)

    def _require_accounts(self) -> PasswordFileAccounts:
        if self._accounts is None:
            raise ServiceUnavailable(NO_ACCOUNTS)
        return self._accounts

    def issue(self, locker_id: str, actor: str) -> EnrollmentOut:
        """A new one-time token for the locker (first enrollment or a rotation); earlier open tokens stay valid
        until they expire or one is used."""
        self._require_accounts()
        token = secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(hours=self._settings.enrollment_ttl_hours)
        with self._db.write() as session:
            if session.get(Locker, locker_id) is None:
                raise NotFound(f"locker {locker_id!r} is not registered")
            session.add(
                Enrollment(locker_id=locker_id, token_hash=sha256_hex(token), created_by=actor, expires_at=expires)
            )
            audit.record(
                session, actor, "enrollment_issued", f"locker:{locker_id}", None, {"expires_at": expires.isoformat()}
            )
        return EnrollmentOut(locker=locker_id, token=token, expires_at=expires, broker=self._broker())

    def enroll(self, token: str) -> DeviceCredentialsOut:
        """Trade a token for fresh credentials, once. The new password replaces any earlier one at the broker."""
        accounts = self._require_accounts()
        now = utcnow()
        password = new_device_password()
        with self._db.write() as session:
            enrollment = session.scalar(
                select(Enrollment).where(Enrollment.token_hash == sha256_hex(token)).with_for_update()
            )
            if enrollment is None:
                raise Unauthorized("this enrollment token is not known here")
            if enrollment.used_at is not None:
                raise Gone(
                    f"this enrollment token was already used ({enrollment.used_at:%Y-%m-%d %H:%M} UTC); "
                    "ask the foundation for a new one"
                )
            if enrollment.cancelled_at is not None:
                raise Gone("this enrollment token was cancelled when the locker's credentials were revoked")
            if enrollment.expires_at <= now:
                raise Gone(
                    f"this enrollment token expired at {enrollment.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one"
                )
            enrollment.used_at = now
            locker = enrollment.locker_id
            credential = session.get(DeviceCredential, locker) or DeviceCredential(locker_id=locker, username=locker)
            credential.generation = (credential.generation or 0) + 1
            credential.issued_at, credential.revoked_at = now, None
            session.add(credential)
            audit.record(
                session,
                f"locker {locker}",
                "credentials_issued",
                f"locker:{locker}",
                None,
                {"generation": credential.generation},
            )
            # Last, inside the transaction: if the broker's file cannot be written nothing is committed and the
            # token still works; if the commit fails after, a retry with the same token overwrites the password.
            try:
                accounts.set(locker, password)
            except (OSError, ConfigError) as exc:
                raise ServiceUnavailable(f"the broker's password file cannot be written: {exc}") from exc
            generation = credential.generation
        log.info("locker %s enrolled: broker credentials generation %d", locker, generation)
        return DeviceCredentialsOut(
            locker=locker,
            broker=self._broker(),
            username=locker,
            password=password,
            generation=generation,
            keys=[PublicKeyOut(**key) for key in self._keys.public_keys()],
        )

    def revoke(self, locker_id: str, actor: str) -> CredentialStatusOut:
        """Delete the locker's broker account (the broker disconnects it at once) and cancel its open tokens."""
        accounts = self._require_accounts()
        now = utcnow()
        with self._db.write() as session:
            locker = session.get(Locker, locker_id)
            if locker is None:
                raise NotFound(f"locker {locker_id!r} is not registered")
            # Mosquitto drops the client at the reload without publishing its Last Will: say offline ourselves.
            locker.online = False
            credential = session.get(DeviceCredential, locker_id)
            if credential is not None:
                credential.revoked_at = now
            session.execute(
                update(Enrollment)
                .where(
                    Enrollment.locker_id == locker_id, Enrollment.used_at.is_(None), Enrollment.cancelled_at.is_(None)
                )
                .values(cancelled_at=now)
            )
            audit.record(
                session, actor, "credentials_revoked", f"locker:{locker_id}", None, {"revoked_at": now.isoformat()}
            )
            try:
                accounts.remove(locker_id)
            except (OSError, ConfigError) as exc:
                raise ServiceUnavailable(f"the broker's password file cannot be written: {exc}") from exc
        with self._db.read() as session:
            return self.status(session, locker_id)

    def status(self, session: Session, locker_id: str) -> CredentialStatusOut:
        if session.get(Locker, locker_id) is None:
            raise NotFound(f"locker {locker_id!r} is not registered")
        credential = session.get(DeviceCredential, locker_id)
        open_tokens = session.scalars(
            select(Enrollment.id).where(
                Enrollment.locker_id == locker_id,
                Enrollment.used_at.is_(None),
                Enrollment.cancelled_at.is_(None),
                Enrollment.expires_at > utcnow(),
            )
        ).all()
        return CredentialStatusOut(
            locker=locker_id,
            username=credential.username if credential else None,
            generation=credential.generation if credential else 0,
            issued_at=credential.issued_at if credential else None,
            revoked_at=credential.revoked_at if credential else None,
            active=credential is not None and credential.revoked_at is None,
            open_enrollments=len(open_tokens),
        )


def build_accounts(settings: Settings) -> PasswordFileAccounts | None:
    """The broker's password file when this cloud manages it; its own account written there first."""
    if settings.broker_password_file is None:
        return None
    accounts = PasswordFileAccounts(settings.broker_password_file, settings.broker_pid_file)
    own = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    if settings.mqtt_username and own and accounts.ensure(settings.mqtt_username, own):
        log.info("wrote the cloud's own broker account %s to %s", settings.mqtt_username, accounts.path)
    return accounts
