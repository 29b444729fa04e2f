"""cloud/services."""
