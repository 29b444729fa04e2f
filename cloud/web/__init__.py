"""Server-rendered pages (Jinja2): Dutch first, English on request; thin routes over the same services as the API."""

from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
