"""Tables of API access beyond vendors: shop-platform integrations acting for a set of vendors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class Integration(Base):
    """A shop platform with its own API key (stored hashed) that creates and follows orders for its vendors."""

    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    vendors: Mapped[list] = mapped_column(JSON)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
