"""Filling the outbox: one row per recipient and channel, in the transaction of the change it reports."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.models import Vendor
from cloud.models_monitoring import Contact, Notification
from cloud.services.aftercommit import AfterCommit

EMAIL, WEBHOOK = "email", "webhook"


def enqueue(
    session: Session,
    after: AfterCommit,
    *,
    channel: str,
    target: str,
    event: str,
    subject: str,
    body: dict,
    alert_id: int | None = None,
    order_id: str | None = None,
) -> Notification:
    """Queue one notification; the delivery thread is woken once the caller's transaction commits."""
    row = Notification(
        channel=channel,
        target=target,
        event=event,
        subject=subject[:200],
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        alert_id=alert_id,
        order_id=order_id,
    )
    session.add(row)
    after.notify = True
    return row


def to_contacts(
    session: Session,
    after: AfterCommit,
    contacts: Iterable[Contact],
    *,
    event: str,
    subject: str,
    text: str,
    payload: dict,
    alert_id: int | None = None,
) -> int:
    """An email (`text`) to each contact with an address and a webhook (`payload`) to each with a URL."""
    count = 0
    for contact in contacts:
        if contact.email:
            enqueue(
                session,
                after,
                channel=EMAIL,
                target=contact.email,
                event=event,
                subject=subject,
                body={"text": text},
                alert_id=alert_id,
            )
            count += 1
        if contact.webhook_url:
            enqueue(
                session,
                after,
                channel=WEBHOOK,
                target=contact.webhook_url,
                event=event,
                subject=subject,
                body=payload,
                alert_id=alert_id,
            )
            count += 1
    return count


def to_vendor(
    session: Session,
    after: AfterCommit,
    vendor_id: str,
    *,
    event: str,
    subject: str,
    text: str,
    order_id: str | None = None,
    alert_id: int | None = None,
) -> bool:
    """An email to the vendor, when it has an address on file; whether one was queued."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None or not vendor.email:
        return False
    enqueue(
        session,
        after,
        channel=EMAIL,
        target=vendor.email,
        event=event,
        subject=subject,
        body={"text": text},
        alert_id=alert_id,
        order_id=order_id,
    )
    return True


def contacts_at(session: Session, levels: Iterable[int]) -> list[Contact]:
    """Active contacts on the given escalation levels."""
    wanted = sorted(set(levels))
    if not wanted:
        return []
    query = select(Contact).where(Contact.active.is_(True), Contact.level.in_(wanted)).order_by(Contact.id)
    return list(session.scalars(query))


def next_level(session: Session, current: int) -> int | None:
    """The lowest escalation level above `current` that has an active contact, or None at the top."""
    return session.scalar(
        select(Contact.level).where(Contact.active.is_(True), Contact.level > current).order_by(Contact.level).limit(1)
    )
