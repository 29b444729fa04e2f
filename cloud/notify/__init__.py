"""Notifications: an outbox table filled inside transactions, and one thread delivering email and webhooks."""
