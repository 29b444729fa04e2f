"""Command line and local orchestration (demo, broker runner) of Dorpskluis."""

__version__ = "0.1.0"
