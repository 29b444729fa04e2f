"""cloud/api."""
