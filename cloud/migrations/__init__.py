"""Alembic migrations of the cloud database (`cloud.schema` runs them; docs/operations.md says how by hand)."""
